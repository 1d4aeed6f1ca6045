-- Nautobot benchmark, run by scripts/bench through `moonsync run`: the
-- Nautobot stand-in (spec/servers/nautobot_standin.js) seeded with 100,000
-- devices answers every request after 20 ms; the SSoT example's device
-- model (examples/nautobot-ssot/models.lua: lookups three levels deep,
-- tags) loads them through the Nautobot adapter, 200 a page, 8 requests in
-- flight; then a sync writes 5,000 changes (2,000 creates, 2,000 updates,
-- 1,000 deletes) in bulk. Each is printed with its ideal: requests x
-- latency / concurrency.
-- usage: moonsync run bench/nautobot.lua ROOT DATADIR [DEVICES]
local ms = require "moonsync"
local core = require "moonsync.core"
local cjson = require "cjson"
local nautobot = require "moonsync.adapters.nautobot"

local root, dir, n = ...
n = tonumber(n) or 100000
package.path = root .. "/examples/nautobot-ssot/?.lua;" .. package.path
local models = require "models"
local TOKEN = "bench-token"
local LATENCY, CONCURRENCY, PAGE, BATCH = 0.020, 8, 200, 100

-- the seed: what the devices reference, then the devices
local sites = 50
local seed = { ["extras/statuses"] = { { name = "Active", content_types = { "dcim.location", "dcim.device" } } },
               ["extras/roles"] = { { name = "leaf", content_types = { "dcim.device" } } },
               ["extras/tags"] = { { name = "bench", content_types = { "dcim.device" } } },
               ["dcim/manufacturers"] = { { name = "Acme" } },
               ["dcim/device-types"] = { { manufacturer = { name = "Acme" }, model = "X1" } },
               ["dcim/location-types"] = { { name = "Region", content_types = { "dcim.device" } },
                                           { name = "Site", parent = { name = "Region" },
                                             content_types = { "dcim.device" } } },
               ["dcim/locations"] = { { name = "region", location_type = { name = "Region" },
                                        status = { name = "Active" } } } }
for s = 1, sites do
  table.insert(seed["dcim/locations"], { name = ("site%02d"):format(s), location_type = { name = "Site" },
                                         status = { name = "Active" }, parent = { name = "region" } })
end
local devices = {}
for i = 1, n do
  devices[i] = { name = ("dev%06d"):format(i), location = { name = ("site%02d"):format(i % sites + 1) },
                 device_type = { model = "X1" }, role = { name = "leaf" }, status = { name = "Active" },
                 serial = ("S%06d"):format(i), tags = i % 2 == 0 and { { name = "bench" } } or nil }
end
seed["dcim/devices"] = devices
local order = { "extras/statuses", "extras/roles", "extras/tags", "dcim/manufacturers", "dcim/device-types",
                "dcim/location-types", "dcim/locations", "dcim/devices" }
local parts = {}
for i, k in ipairs(order) do parts[i] = cjson.encode(k) .. ": " .. cjson.encode(seed[k]) end
local seedfile = dir .. "/nautobot-seed.json"
local f = assert(io.open(seedfile, "w"))
f:write("{", table.concat(parts, ",\n"), "}\n")
f:close()

local p = assert(io.popen(("node %q --latency %d --token %s --seed %q 2>&1"):format(
  root .. "/spec/servers/nautobot_standin.js", LATENCY * 1000, TOKEN, seedfile)))
local port, pid = (p:read("l") or ""):match("^listening (%d+) (%d+)")
assert(port, "the stand-in did not start")

local ok, err = pcall(function()
  local Nb = nautobot.adapter "nautobot" { models = { models.Device }, top_level = { "device" },
                                           page_size = PAGE, batch_size = BATCH, verify = false }
  local function open()
    return Nb:new { url = "http://127.0.0.1:" .. port, token = TOKEN, concurrency = CONCURRENCY }
  end
  -- a first read warms the server (it keeps its answers until a write)
  open():load()
  collectgarbage()
  local t0 = core.now()
  local target = open():load()
  local load_s = core.now() - t0
  local count = #target:get_all("device")
  assert(count == n, ("loaded %d of %d devices"):format(count, n))
  -- pages: the first, then the rest concurrently
  local pages = math.ceil(n / PAGE)
  print(("nautobot-load %.3f %d %.3f"):format(load_s, n, pages * LATENCY / CONCURRENCY))

  -- the source: the target's devices with 5,000 changes
  local Src = ms.adapter "src" { models = { models.Device }, top_level = { "device" } }
  local src = Src:new()
  local all = target:get_all("device")
  local updates, deletes, creates = 2000, 1000, 2000
  for i, d in ipairs(all) do
    if i > deletes then
      local fields = d:dict()
      fields.interfaces = nil
      if i <= deletes + updates then fields.serial = "changed" .. i end
      src:add(models.Device(fields))
    end
  end
  for i = 1, creates do
    local d = all[i]:dict()
    d.interfaces = nil
    d.name = ("new%06d"):format(i)
    src:add(models.Device(d))
  end
  local requests = math.ceil(creates / BATCH) + math.ceil(updates / BATCH) + math.ceil(deletes / BATCH)
  local t1 = core.now()
  local _, res = target:sync_from(src, { flags = { "CONTINUE_ON_FAILURE" } })
  local sync_s = core.now() - t1
  assert(res.created == creates and res.updated == updates and res.deleted == deletes,
         ("sync: %d created, %d updated, %d deleted"):format(res.created, res.updated, res.deleted))
  print(("nautobot-sync %.3f %d %.3f"):format(sync_s, creates + updates + deletes,
                                              requests * LATENCY / CONCURRENCY))
end)
os.execute("kill " .. pid)
p:close()
if not ok then error(err, 0) end
