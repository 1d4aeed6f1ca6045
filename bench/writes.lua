-- Write benchmark, run by scripts/bench through `moonsync run`: creates
-- through the NetBox preset against the NetBox stand-in answering every
-- request after 20 ms: 20,000 sites with bulk writes, and 2,000 sites one
-- by one, both with 8 requests in flight; the baseline is the same writes
-- one request at a time (as moonsync wrote before), measured in the same
-- run (the one-by-one baseline on 200 sites, scaled to 2,000).
-- usage: moonsync run bench/writes.lua ROOT
local ms = require "moonsync"
local core = require "moonsync.core"
local netbox = require "moonsync.adapters.netbox"

local root = ...
local TOKEN = "nbt_bench"

local Site = ms.model "site" { identifiers = { "name" }, attributes = { "slug", "status" } }
local Src = ms.adapter "src" { models = { Site } }

local function run(n, bulk, concurrency)
  local p = assert(io.popen(("node %q --latency 20 --token %s 2>&1"):format(
    root .. "/spec/servers/netbox_standin.js", TOKEN)))
  local port, pid = (p:read("l") or ""):match("^listening (%d+) (%d+)")
  assert(port, "the stand-in did not start")
  local ok, secs, created = pcall(function()
    local Api = netbox.adapter "nb" {
      models = { Site }, bulk = bulk, verify = false,
      resources = { site = { path = "/api/dcim/sites/",
                             fields = { name = "name", slug = "slug", status = "status.value" } } },
    }
    local src = Src:new()
    for i = 1, n do
      local name = ("site%06d"):format(i)
      src:add(Site { name = name, slug = name, status = "active" })
    end
    local t = Api:new { url = "http://127.0.0.1:" .. port, token = TOKEN, concurrency = concurrency }:load()
    local t0 = core.now()
    local _, res = t:sync_from(src)
    return core.now() - t0, res.created
  end)
  os.execute("kill " .. pid)
  p:close()
  if not ok then error(secs, 0) end
  assert(created == n, ("created %d of %d"):format(created, n))
  return secs
end

print(("writes-bulk %.3f 20000"):format(run(20000, true, 8)))
print(("writes-bulk-baseline %.3f 20000"):format(run(20000, true, 1)))
print(("writes-single %.3f 2000"):format(run(2000, false, 8)))
print(("writes-single-baseline %.3f 2000"):format(run(200, false, 1) * 10))
