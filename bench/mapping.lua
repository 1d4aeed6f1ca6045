-- Mapping benchmark, run by scripts/bench through `moonsync run`: the same
-- N device records loaded directly (the data document format) and built
-- from an API-shaped document through a mapping with nested paths, a
-- default and a built-in transform (all in C).
-- usage: moonsync run bench/mapping.lua DATA_DIR N
local ms = require "moonsync"
local core = require "moonsync.core"

local dir, n = ...
n = tonumber(n)
local api_path, doc_path = dir .. "/api.json", dir .. "/direct.json"

local function exists(p) local f = io.open(p) if f then f:close() end return f ~= nil end
if not exists(api_path) then
  local a, d = assert(io.open(api_path, "w")), assert(io.open(doc_path, "w"))
  a:write('{"count": ', n, ', "results": [\n')
  d:write('{"device": [\n')
  for i = 1, n do
    local sep = i < n and ",\n" or "\n"
    a:write(('{"id": %d, "name": "dev%07d", "site": {"id": %d, "name": "site%04d"}, '
             .. '"role": {"slug": "leaf"}, "serial": "sn%07d", "status": "active"}%s')
            :format(i, i, i % 1000, i % 1000, i, sep))
    d:write(('{"site_name": "site%04d", "name": "dev%07d", "role": "leaf", "serial": "SN%07d"}%s')
            :format(i % 1000, i, i, sep))
  end
  a:write("]}\n")
  d:write("]}\n")
  a:close()
  d:close()
end

local Device = ms.model "device" { identifiers = { "site_name", "name" }, attributes = { "role", "serial" } }
local A = ms.adapter "bench" { models = { Device } }

local function timed(f)
  collectgarbage()
  local t0 = core.now()
  f()
  return core.now() - t0
end

local direct = timed(function() A:new():load_file(doc_path) end)
local m = ms.mapping { model = Device, from = "results",
  fields = { name = "name", site_name = "site.name", role = { path = "role.slug", default = "unknown" },
             serial = { path = "serial", transform = "upper" } } }
local mapped = timed(function()
  local a = A:new()
  local st = a:load_mapped(m, { file = api_path })
  assert(st.added == n)
end)
print(("mapping-direct %.3f %d"):format(direct, n))
print(("mapping-mapped %.3f %d"):format(mapped, n))
