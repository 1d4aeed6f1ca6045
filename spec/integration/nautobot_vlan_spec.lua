-- Contract specs for what IP Fabric's integration writes beyond the SSoT
-- example's resources: VLANs with their locations (written through
-- ipam/vlan-location-assignments) and devices in virtual chassis, declared
-- as schema models and synced through Prism (validating requests and
-- responses against the bundled schema) into the Nautobot stand-in, from
-- empty, after changes and after deletes: every second diff is empty.
local h = require "helpers"
local cjson = require "cjson"

local TOKEN = "0123456789abcdef0123456789abcdef01234567"

local JOB = [[
local ms = require "moonsync"
local nautobot = require "moonsync.adapters.nautobot"
local api = nautobot.schema()
local _, here = ...
local models = {
  api:model "vlan" { resource = "ipam.vlans", identifiers = { "name", "vid" },
                     attributes = { "status__name", "description", "locations" } },
  api:model "chassis" { resource = "dcim.virtual-chassis", identifiers = { "name" }, attributes = { "domain" } },
  api:model "device" { resource = "dcim.devices", identifiers = { "name" },
                       attributes = { "location__name", "device_type__model", "role__name", "status__name",
                                      "virtual_chassis__name", "vc_position", "vc_priority" } },
}
local top = { "vlan", "chassis", "device" }
local Src = ms.adapter "source" { models = models, top_level = top,
                                  load = function(self) self:load_file(here .. "/source.json") end }
return ms.job {
  source = function() return Src:new():load() end,
  target = function()
    return nautobot.adapter "nautobot" { models = models, top_level = top }
      :new { url = os.getenv("NAUTOBOT_URL"), token_env = "NAUTOBOT_TOKEN" }:load()
  end,
  policy = { max_deletes = "100%" },
  permissions = { env = { "NAUTOBOT_URL", "NAUTOBOT_TOKEN" }, net = { "${NAUTOBOT_URL}" } },
}
]]

local SEED = [[{
  "extras/statuses": [{"name": "Active", "content_types": ["ipam.vlan", "dcim.device", "dcim.location"]}],
  "extras/roles": [{"name": "switch", "content_types": ["dcim.device"]}],
  "dcim/location-types": [{"name": "Site", "content_types": ["dcim.device", "ipam.vlan"]}],
  "dcim/locations": [{"name": "ams", "location_type": {"name": "Site"}, "status": {"name": "Active"}},
                     {"name": "fra", "location_type": {"name": "Site"}, "status": {"name": "Active"}}],
  "dcim/manufacturers": [{"name": "Cisco"}],
  "dcim/device-types": [{"model": "WS-C3850", "manufacturer": {"name": "Cisco"}}]
}]]

local function vlan(name, vid, locs, descr)
  local l = {}
  for i, n in ipairs(locs) do l[i] = { name = n } end
  -- (an empty list is written as [] below: cjson makes {} of an empty table)
  return { name = name, vid = vid, status__name = "Active", description = descr or "",
           locations = #l > 0 and l or "<empty list>" }
end
local function member(name, pos)
  return { name = name, location__name = "ams", device_type__model = "WS-C3850", role__name = "switch",
           status__name = "Active", virtual_chassis__name = "stack", vc_position = pos, vc_priority = pos }
end

describe("Nautobot VLANs and virtual chassis #contract", function()
  local have = h.have_node()
  before_each(function()
    if not have then pending("needs Node.js and the npm packages: run scripts/install-deps") end
  end)
  teardown(function() h.cleanup() end)

  it("creates, updates and deletes VLANs with their locations and devices in a virtual chassis", function()
    local dir = h.tmpdir()
    h.write(dir .. "/job.lua", JOB)
    h.write(dir .. "/seed.json", SEED)
    local schema = h.write(dir .. "/nautobot-openapi.json",
                           assert(loadfile(h.root .. "/adapters/nautobot_openapi.lua"))())
    local nb = h.server("nautobot_standin", "--token", TOKEN, "--seed", dir .. "/seed.json")
    local prism
    finally(function()
      if prism then prism.stop() end
      nb.stop()
    end)
    prism = h.prism(schema, nb.url, dir .. "/prism.log", "-H " .. h.quote("Authorization: Token " .. TOKEN)
                    .. " " .. h.quote("{url}/api/extras/statuses/?limit=1"))
    local env = { NAUTOBOT_URL = prism.url, NAUTOBOT_TOKEN = TOKEN, MOONSYNC_HISTORY = "off" }
    local function step(what, data, expect)
      h.write(dir .. "/source.json", (cjson.encode(data):gsub('"<empty list>"', "[]")))
      local r = h.run_env(env, "sync", dir .. "/job.lua", "--no-progress")
      assert.equals(0, r.code, what .. ": " .. r.stdout .. r.stderr)
      assert.matches(expect, r.stdout, 1, true)
      assert.matches("verify: the target, read again, matches the source", r.stdout, 1, true)
      assert.same({}, prism.violations(true), what)
      local st = cjson.decode(h.fetch(nb.url .. "/__stats"))
      assert.equals(0, st.errors, what .. ": " .. cjson.encode(st.lastErrors))
      local d = h.run_env(env, "diff", dir .. "/job.lua")
      assert.equals(0, d.code, what .. ": " .. d.stdout .. d.stderr)
    end
    step("from empty", {
      vlan = { vlan("users", 10, { "ams", "fra" }), vlan("voice", 20, { "ams" }), vlan("mgmt", 99, {}) },
      chassis = { { name = "stack", domain = "" } },
      device = { member("stack", 1), member("stack-member2", 2) },
    }, "sync complete: 6 created, 0 updated, 0 deleted, 0 failed")
    step("changed", {
      vlan = { vlan("users", 10, { "fra" }, "moved"), vlan("voice", 20, { "ams", "fra" }), vlan("mgmt", 99, { "ams" }) },
      chassis = { { name = "stack", domain = "campus" } },
      device = { member("stack", 1), member("stack-member2", 3), member("stack-member4", 4) },
    }, "sync complete: 1 created, 5 updated, 0 deleted, 0 failed")
    step("deleted", {
      vlan = { vlan("users", 10, { "fra" }, "moved") },
      chassis = { { name = "stack", domain = "campus" } },
      device = { member("stack", 1) },
    }, "sync complete: 0 created, 0 updated, 4 deleted, 0 failed")
    -- the assignments went with their VLANs
    local left = h.api(nb.url, TOKEN, "GET", "/api/ipam/vlan-location-assignments/?limit=100")
    assert.equals(1, left.count)
  end)
end)
