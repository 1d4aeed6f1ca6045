-- Contract specs: schema-aware models on NetBox's published OpenAPI schema
-- (spec/fixtures/netbox/openapi.json, made by scripts/netbox-openapi),
-- through the NetBox adapter, validated by Prism in proxy mode in front of a
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
  "device": {"identifiers": ["site__name", "name"],
             "attributes": ["role__slug", "device_type__slug", "status", "serial"]},
  "prefix": {"identifiers": ["prefix"], "attributes": ["status", "description"]}}}]]

-- A source document: sites (with statuses), their devices, prefixes.
local function source(sites, prefixes)
  local out = {}
  for _, s in ipairs(sites) do
    local devs = {}
    for _, d in ipairs(s.devices or {}) do
      devs[#devs + 1] = ('{"site__name": "%s", "name": "%s", "role__slug": "%s", "device_type__slug": "%s", '
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

-- The target: the same models declared on NetBox's schema (what the schema
-- says of each field decides how it is read and written).
local JOB = [[
local ms = require "moonsync"
local json_file = require "moonsync.adapters.json_file"
local netbox = require "moonsync.adapters.netbox"
local dir = %q
local api = netbox.schema(assert(io.open(%q)):read("a"))
local Site = api:model "site" { resource = "dcim.sites", identifiers = { "name" },
  attributes = { "slug", "status", "description" }, children = { device = "devices" } }
local Device = api:model "device" { resource = "dcim.devices", identifiers = { "site__name", "name" },
  attributes = { "role__slug", "device_type__slug", "status", "serial" } }
local Prefix = api:model "prefix" { resource = "ipam.prefixes", identifiers = { "prefix" },
  attributes = { "status", "description" } }
local Api = netbox.adapter "api" { models = { Site, Device, Prefix }, top_level = { "site", "prefix" },
                                   bulk = %s }
return ms.job {
  source = function()
    return json_file.open { schema = ms.schema(dir .. "/schema.json"), path = dir .. "/source.json",
                            name = "inventory", side = "source" }
  end,
  target = function() return Api:new { url = os.getenv("MOONSYNC_API_URL") }:load() end,
  policy = { max_deletes = 50 },
  permissions = { env = { "NETBOX_TOKEN" }, net = { "${MOONSYNC_API_URL}" } },
}
]]

describe("NetBox contract #contract", function()
  local have = h.have_node()
  local standin, prism, dir

  local function seed(url, token)
    local auth = token:match("^nbt_") and "Bearer " or "Token "
    local accept = "application/json"
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

  local function scenario(bulk, token)
    standin = h.server("netbox_standin", "--token", token)
    finally(function()
      standin.stop()
      if prism then prism.stop() end
      prism = nil
    end)
    seed(standin.url, token)
    prism = h.prism(h.fixtures .. "/netbox/openapi.json", standin.url, dir .. "/prism.log", probe(token))
    local url = prism.url
    -- the schema beside the job: a job reads its own directory from the start
    local schema = h.write(dir .. "/netbox-openapi.json", h.read(h.fixtures .. "/netbox/openapi.json"))
    local job = h.write(dir .. "/job.lua", JOB:format(dir, schema, tostring(bulk)))
    local env = { MOONSYNC_API_URL = url, NETBOX_TOKEN = token }
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
    -- a dry run reports a reference that resolves to nothing, before anything is sent
    h.write(dir .. "/source.json", source({ changed[1], { name = "BER", status = "planned",
      devices = { { "ber-sw1", "nope", "sw-24", "staged", "B1" } } }, SITES[3] }, PREFIXES))
    local dry = h.run_env(env, "sync", job, "--dry-run", "--no-progress")
    assert.equals(1, dry.code, dry.stdout .. dry.stderr)
    assert.matches("update device BER__ber%-sw1: .-no dcim.device%-roles with slug nope",
                   dry.stdout .. dry.stderr)
    -- delete a site that still has devices: its devices go first
    out = step(job, env, source({ changed[1], SITES[2] }, { PREFIXES[2] }), "delete")
    assert.matches("0 created, 0 updated, 4 deleted", out)
  end

  it("syncs sites, devices and prefixes one by one against NetBox's schema (v2 token)", function()
    scenario(false, TOKEN_V2)
  end)

  it("syncs them with bulk writes against NetBox's schema (v2 token)", function()
    scenario(true, TOKEN_V2)
  end)

  it("sends a v1 token as Token", function()
    scenario(true, "0123456789abcdef0123456789abcdef01234567")
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
