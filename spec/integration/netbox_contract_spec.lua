-- Contract specs: the NetBox and Nautobot presets against NetBox's
-- published OpenAPI schema (spec/fixtures/netbox/openapi.json, made by
-- scripts/netbox-openapi), validated by Prism in proxy mode in front of a
-- stateful stand-in enforcing NetBox's write rules
-- (spec/servers/netbox_standin.js). A spec fails on any request the schema
-- rejects, any error response, and any sync whose second diff is not
-- empty.
local h = require "helpers"
local cjson = require "cjson"

local TOKEN_V2 = "nbt_0f3c9e2a71b84d56"

local SCHEMA = [[{"top_level": ["site", "prefix"], "models": {
  "site": {"identifiers": ["name"], "attributes": ["slug", "status", "description"],
           "children": {"device": "devices"}},
  "device": {"identifiers": ["site_name", "name"],
             "attributes": ["role", "device_type", "status", "serial"]},
  "prefix": {"identifiers": ["prefix"], "attributes": ["status", "description"]}}}]]

-- A source document: sites (with statuses), their devices, prefixes.
local function source(sites, prefixes)
  local out = {}
  for _, s in ipairs(sites) do
    local devs = {}
    for _, d in ipairs(s.devices or {}) do
      devs[#devs + 1] = ('{"site_name": "%s", "name": "%s", "role": "%s", "device_type": "%s", '
        .. '"status": "%s", "serial": "%s"}'):format(s.name, d[1], d[2], d[3], d[4], d[5])
    end
    out[#out + 1] = ('{"name": "%s", "slug": "%s", "status": "%s", "description": "%s", "devices": [%s]}')
      :format(s.name, s.name:lower(), s.status, s.description or "", table.concat(devs, ", "))
  end
  local pf = {}
  for _, p in ipairs(prefixes) do
    pf[#pf + 1] = ('{"prefix": "%s", "status": "%s", "description": "%s"}'):format(p[1], p[2], p[3])
  end
  return ('{"site": [%s], "prefix": [%s]}'):format(table.concat(out, ", "), table.concat(pf, ", "))
end

local JOB = [[
local ms = require "moonsync"
local json_file = require "moonsync.adapters.json_file"
local preset = require(%q)
local dir = %q
local sc = ms.schema(dir .. "/schema.json")
local Api = preset.adapter "api" {
  models = sc.models, top_level = { "site", "prefix" }, bulk = %s,
  lookups = { role = { path = "/api/dcim/device-roles/", key = "slug" },
              device_type = { path = "/api/dcim/device-types/", key = "slug" } },
  resources = {
    site = { path = "/api/dcim/sites/",
             fields = { name = "name", slug = "slug", status = "status.value", description = "description" } },
    device = { path = "/api/dcim/devices/",
               fields = { name = "name", site_name = "site.name",
                          role = { path = "role.slug", lookup = "role" },
                          device_type = { path = "device_type.slug", lookup = "device_type" },
                          status = "status.value", serial = "serial" },
               parent = { model = "site", ids = { name = "site_name" } },
               refs = { site = { model = "site", ids = { name = "site_name" } } } },
    prefix = { path = "/api/ipam/prefixes/",
               fields = { prefix = "prefix", status = "status.value", description = "description" } },
  },
}
return ms.job {
  source = function()
    return json_file.open { schema = sc, path = dir .. "/source.json", name = "inventory", side = "source" }
  end,
  target = function() return Api:new { url = os.getenv("MOONSYNC_API_URL") }:load() end,
  policy = { max_deletes = 50 },
  permissions = { env = { "NETBOX_TOKEN", "NAUTOBOT_TOKEN" }, net = { "${MOONSYNC_API_URL}" } },
}
]]

describe("NetBox contract #contract", function()
  local have = h.have_node()
  local standin, prism, dir

  local function seed(url, token, flavor)
    local auth = token:match("^nbt_") and "Bearer " or "Token "
    local accept = flavor == "nautobot" and "application/json; version=2.0" or "application/json"
    local function post(path, body)
      local p = io.popen(("env -u LD_PRELOAD curl -s -H %s -H %s -H 'Content-Type: application/json' -d %s %s")
        :format(h.quote("Authorization: " .. auth .. token), h.quote("Accept: " .. accept),
                h.quote(body), h.quote(url .. path)))
      local r = cjson.decode(p:read("a"))
      p:close()
      return r
    end
    local m = post("/api/dcim/manufacturers/", '{"name": "Acme", "slug": "acme"}')
    for _, t in ipairs { "sw-24", "sw-48" } do
      post("/api/dcim/device-types/", ('{"manufacturer": %s, "model": "%s", "slug": "%s"}')
        :format(cjson.encode(m.id), t:upper(), t))
    end
    for _, r in ipairs { "leaf", "spine" } do
      post("/api/dcim/device-roles/", ('{"name": "%s", "slug": "%s"}'):format(r:upper(), r))
    end
  end

  setup(function()
    if not have then return end
    dir = h.tmpdir()
    h.write(dir .. "/schema.json", SCHEMA)
  end)
  teardown(function() h.cleanup() end)

  before_each(function()
    if not have then pending("needs Node.js and the npm packages: run scripts/install-deps") end
  end)

  -- One sync step: the job's source set to `src`, then `moonsync sync`;
  -- asserts success, no request the schema rejects, and an empty second
  -- diff. Returns the sync's stdout.
  -- a request NetBox's schema allows, to wait for Prism with
  local function probe(token)
    return h.quote("Authorization: " .. (token:match("^nbt_") and "Bearer " or "Token ") .. token)
      :gsub("^", "-H ") .. " " .. h.quote("{url}/api/dcim/sites/?limit=1")
  end

  local function step(job, env, src, what)
    h.write(dir .. "/source.json", src)
    local r = h.run_env(env, "sync", job, "--no-progress")
    assert.equals(0, r.code, what .. ": " .. r.stderr)
    assert.equals("", r.stderr, what)
    assert.matches("verify: the target, read again, matches the source", r.stdout, 1, true)
    if prism then assert.same({}, prism.violations(), what) end
    local d = h.run_env(env, "diff", job)
    assert.equals(0, d.code, what .. ": " .. d.stdout .. d.stderr)
    assert.equals("(no diffs)\n", d.stdout, what)
    return r.stdout
  end

  local SITES = {
    { name = "AMS", status = "active", devices = { { "ams-sw1", "leaf", "sw-24", "active", "A1" },
                                                   { "ams-sw2", "spine", "sw-48", "planned", "A2" } } },
    { name = "BER", status = "planned", devices = { { "ber-sw1", "leaf", "sw-24", "staged", "B1" } } },
    { name = "CDG", status = "staging", devices = { { "cdg-sw1", "leaf", "sw-24", "active", "C1" },
                                                    { "cdg-sw2", "leaf", "sw-24", "active", "C2" } } },
  }
  local PREFIXES = { { "10.0.0.0/24", "active", "ams" }, { "10.0.1.0/24", "reserved", "ber" } }

  local function scenario(preset, bulk, flavor, token, via_prism)
    standin = h.server("netbox_standin", "--token", token, "--flavor", flavor)
    finally(function()
      standin.stop()
      if prism then prism.stop() end
      prism = nil
    end)
    seed(standin.url, token, flavor)
    local url = standin.url
    if via_prism then
      prism = h.prism(h.fixtures .. "/netbox/openapi.json", standin.url, dir .. "/prism.log", probe(token))
      url = prism.url
    end
    local job = h.write(dir .. "/job.lua", JOB:format(preset, dir, tostring(bulk)))
    local env = { MOONSYNC_API_URL = url, NETBOX_TOKEN = token, NAUTOBOT_TOKEN = token }
    -- create everything
    local out = step(job, env, source(SITES, PREFIXES), "create")
    assert.matches("sync complete: 10 created, 0 updated, 0 deleted", out)
    -- update choice fields and references (lookups)
    local changed = {
      { name = "AMS", status = "decommissioning",
        devices = { { "ams-sw1", "spine", "sw-48", "offline", "A1" },
                    { "ams-sw2", "spine", "sw-48", "active", "A2-new" } } },
      SITES[2], SITES[3],
    }
    out = step(job, env, source(changed, { { "10.0.0.0/24", "deprecated", "ams, old" }, PREFIXES[2] }),
               "update")
    assert.matches("0 created, 4 updated, 0 deleted", out)
    -- delete a site that still has devices: its devices go first
    out = step(job, env, source({ changed[1], SITES[2] }, { PREFIXES[2] }), "delete")
    assert.matches("0 created, 0 updated, 4 deleted", out)
  end

  it("syncs sites, devices and prefixes one by one against NetBox's schema (v2 token)", function()
    scenario("netbox", false, "netbox", TOKEN_V2, true)
  end)

  it("syncs them with bulk writes against NetBox's schema (v2 token)", function()
    scenario("netbox", true, "netbox", TOKEN_V2, true)
  end)

  it("sends a v1 token as Token", function()
    scenario("netbox", true, "netbox", "0123456789abcdef0123456789abcdef01234567", true)
  end)

  it("syncs the Nautobot preset against the stand-in with Nautobot's conventions (no schema)", function()
    scenario("nautobot", true, "nautobot", "nautobot-token-1234", false)
  end)

  it("the schema rejects what NetBox would: a choice written as its read form", function()
    standin = h.server("netbox_standin", "--token", TOKEN_V2)
    finally(function() standin.stop(); if prism then prism.stop() end; prism = nil end)
    prism = h.prism(h.fixtures .. "/netbox/openapi.json", standin.url, dir .. "/prism.log",
                    probe(TOKEN_V2))
    local p = io.popen(("env -u LD_PRELOAD curl -s -o /dev/null -w '%%{http_code}' -H %s "
      .. "-H 'Content-Type: application/json' -d '{\"name\": \"x\", \"slug\": \"x\", "
      .. "\"status\": {\"value\": \"active\"}}' %s"):format(
      h.quote("Authorization: Bearer " .. TOKEN_V2), h.quote(prism.url .. "/api/dcim/sites/")))
    local code = p:read("a")
    p:close()
    assert.equals("400", code)
    local v = prism.violations()
    assert.truthy(#v > 0)
    assert.matches("request.body.status", table.concat(v, "\n"))
  end)
end)
