-- CSV benchmark, run by scripts/bench through `moonsync run`: N device
-- rows (5 columns, quoted fields with commas, CRLF) through csv_file,
-- against the same records loaded from a JSON data document (best of 3).
-- usage: moonsync run bench/csv.lua DATA_DIR N
local ms = require "moonsync"
local core = require "moonsync.core"
local csv_file = require "moonsync.adapters.csv_file"

local dir, n = ...
n = tonumber(n)
local csv_path, json_path = dir .. "/devices.csv", dir .. "/devices.json"

local function exists(p) local f = io.open(p) if f then f:close() end return f ~= nil end
if not exists(csv_path) then
  local c, j = assert(io.open(csv_path, "w")), assert(io.open(json_path, "w"))
  c:write("name,site,role,serial,note\r\n")
  j:write('{"device": [\n')
  for i = 1, n do
    local role = i % 3 == 0 and "spine" or "leaf"
    c:write(('dev%07d,site%04d,%s,SN%07d,"rack %d, row %d"\r\n'):format(i, i % 1000, role, i, i % 40, i % 7))
    j:write(('{"name": "dev%07d", "site": "site%04d", "role": "%s", "serial": "SN%07d", '
             .. '"note": "rack %d, row %d"}%s'):format(i, i % 1000, role, i, i % 40, i % 7,
                                                     i < n and ",\n" or "\n"))
  end
  j:write("]}\n")
  c:close()
  j:close()
end

local Device = ms.model "device" { identifiers = { "name" }, attributes = { "site", "role", "serial", "note" } }
local A = ms.adapter "bench" { models = { Device } }

local function best(f)
  local b = math.huge
  for _ = 1, 3 do
    collectgarbage()
    local t0 = core.now()
    local a = f()
    b = math.min(b, core.now() - t0)
    assert(a:count() == n, "loaded " .. a:count())
  end
  return b
end

local tj = best(function() return A:new():load_file(json_path) end)
local tc = best(function() return csv_file.open { path = csv_path, model = Device } end)
print(("csv-json %.3f %d"):format(tj, n))
print(("csv-csv %.3f %d"):format(tc, n))
