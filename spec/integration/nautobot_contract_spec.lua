-- Contract specs: the schema-aware Nautobot models of SSoT's example job
-- (examples/nautobot-ssot/models.lua) against Nautobot 3.1's schema (the
-- subset bundled as moonsync.adapters.nautobot_openapi), validated by Prism
-- in proxy mode in front of two stand-ins enforcing Nautobot's write rules
-- (spec/servers/nautobot_standin.js). A spec fails on any request or
-- response the schema rejects, any error response it did not expect, and
-- any sync whose second diff is not empty.
local h = require "helpers"
local cjson = require "cjson"

local TOKEN = "0123456789abcdef0123456789abcdef01234567"
local EXAMPLE = h.root .. "/examples/nautobot-ssot"

-- A job over some of the example's models, remote -> local.
local JOB = [[
local ms = require "moonsync"
local nautobot = require "moonsync.adapters.nautobot"
local models = require "models"
local skip = { %s }
local list, top = {}, {}
for _, m in ipairs(models.models) do if not skip[m.name] then list[#list + 1] = m end end
for _, t in ipairs(models.top_level) do if not skip[t] then top[#top + 1] = t end end
local function open(name, url, token)
  local A = nautobot.adapter(name) { models = list, top_level = top, bulk = %s }
  return A:new { url = os.getenv(url), token_env = token, name = name }:load()
end
return ms.job {
  source = function() return open("remote", "NAUTOBOT_REMOTE_URL", "NAUTOBOT_REMOTE_TOKEN") end,
  target = function() return open("local", "NAUTOBOT_URL", "NAUTOBOT_TOKEN") end,
  flags = { %s },
  policy = { max_deletes = "100%%" },
  permissions = {
    env = { "NAUTOBOT_REMOTE_URL", "NAUTOBOT_REMOTE_TOKEN", "NAUTOBOT_URL", "NAUTOBOT_TOKEN" },
    net = { "${NAUTOBOT_REMOTE_URL}", "${NAUTOBOT_URL}" },
  },
}
]]

-- One request to a stand-in, around Prism: what a person changing the
-- remote Nautobot by hand would send.
local function api(url, method, path, body) return h.api(url, TOKEN, method, path, body) end

local function id_of(url, kind, query)
  -- (the stand-in's own address: the same records as through Prism)
  local r = api(url, "GET", "/api/" .. kind .. "/?" .. query)
  assert(r and r.count == 1, kind .. "?" .. query .. ": " .. cjson.encode(r))
  return r.results[1].id
end

local function stats(url) return cjson.decode(h.fetch(url .. "/__stats")) end

-- The resources of the thirteen models, referrers and children first.
local KINDS = { "dcim/interfaces", "dcim/devices", "ipam/ip-addresses", "ipam/prefixes", "ipam/namespaces",
                "dcim/locations", "dcim/location-types", "dcim/platforms", "dcim/device-types",
                "dcim/manufacturers", "tenancy/tenants", "extras/roles", "extras/statuses" }

-- Deletes every record of the thirteen models (Nautobot's Global namespace
-- stays, as in a new Nautobot).
local function empty(url)
  for _, kind in ipairs(KINDS) do
    local all = api(url, "GET", "/api/" .. kind .. "/?limit=1000")
    local ids = {}
    for _, r in ipairs(all.results) do
      if not (kind == "ipam/namespaces" and r.name == "Global") then ids[#ids + 1] = { id = r.id } end
    end
    if #ids > 0 then
      local res = api(url, "DELETE", "/api/" .. kind .. "/", ids)
      assert(res == nil, kind .. ": " .. cjson.encode(res))
    end
  end
end

describe("Nautobot contract #contract", function()
  local have = h.have_node()
  local dir, schema_file

  setup(function()
    if not have then return end
    dir = h.tmpdir()
    h.write(dir .. "/models.lua", h.read(EXAMPLE .. "/models.lua"))
    -- the bundled schema, as the file Prism reads
    schema_file = h.write(dir .. "/nautobot-openapi.json",
                          assert(loadfile(h.root .. "/adapters/nautobot_openapi.lua"))())
    -- the local Nautobot starts with the tags the records use
    local seed = cjson.decode(h.read(EXAMPLE .. "/remote.json"))
    h.write(dir .. "/tags.json", cjson.encode { ["extras/tags"] = seed["extras/tags"] })
  end)
  teardown(function() h.cleanup() end)
  before_each(function()
    if not have then pending("needs Node.js and the npm packages: run scripts/install-deps") end
  end)

  local function probe() return "-H " .. h.quote("Authorization: Token " .. TOKEN) .. " "
                                .. h.quote("{url}/api/extras/statuses/?limit=1") end

  -- Both stand-ins with Prism in front; returns the pieces.
  local function servers(local_seed)
    local s = { prisms = {} }
    finally(function()
      for _, p in ipairs(s.prisms) do p.stop() end
      if s.remote then s.remote.stop() end
      if s.localnb then s.localnb.stop() end
    end)
    s.remote = h.server("nautobot_standin", "--token", TOKEN, "--seed", EXAMPLE .. "/remote.json")
    s.localnb = h.server("nautobot_standin", "--token", TOKEN, "--seed", local_seed or dir .. "/tags.json")
    s.prisms[1] = h.prism(schema_file, s.remote.url, dir .. "/prism-remote.log", probe())
    s.prisms[2] = h.prism(schema_file, s.localnb.url, dir .. "/prism-local.log", probe())
    s.env = { NAUTOBOT_REMOTE_URL = s.prisms[1].url, NAUTOBOT_URL = s.prisms[2].url,
              NAUTOBOT_REMOTE_TOKEN = TOKEN, NAUTOBOT_TOKEN = TOKEN }
    return s
  end

  local function clean(s, what)
    for _, p in ipairs(s.prisms) do assert.same({}, p.violations(true), what) end
    assert.same({}, stats(s.remote.url).lastErrors, what)
  end

  -- sync, then a second diff with nothing in it
  local function step(s, job, what, expect)
    local errors = stats(s.localnb.url).errors
    local r = h.run_env(s.env, "sync", job, "--no-progress")
    assert.equals(0, r.code, what .. ": " .. r.stdout .. r.stderr)
    assert.matches("verify: the target, read again, matches the source", r.stdout, 1, true)
    assert.matches(expect, r.stdout, 1, true)
    clean(s, what)
    local after = stats(s.localnb.url)
    assert.equals(errors, after.errors, what .. ": " .. cjson.encode(after.lastErrors))
    local d = h.run_env(s.env, "diff", job)
    assert.equals(0, d.code, what .. ": " .. d.stdout .. d.stderr)
    assert.equals("(no diffs)\n", d.stdout, what)
  end

  local function scenario(bulk)
    local s = servers()
    local job = h.write(dir .. "/job.lua", JOB:format("", tostring(bulk), ""))
    -- every model created, in dependency order
    step(s, job, "create", "sync complete: 42 created, 0 updated, 0 deleted, 0 failed")
    -- updates: references, choices, tags, content types, a prefix's locations
    local R = s.remote.url
    api(R, "PATCH", "/api/dcim/locations/" .. id_of(R, "dcim/locations", "name=West%20EU") .. "/",
        { parent = { name = "US" } })
    api(R, "PATCH", "/api/dcim/locations/" .. id_of(R, "dcim/locations", "name=AMS") .. "/",
        { tenant = { name = "Globex" }, status = { name = "Planned" }, tags = { { name = "ssot" } } })
    api(R, "PATCH", "/api/dcim/interfaces/" .. id_of(R, "dcim/interfaces", "name=Ethernet1/1") .. "/",
        { type = "25gbase-x-sfp28", mtu = 1500 })
    api(R, "PATCH", "/api/extras/statuses/" .. id_of(R, "extras/statuses", "name=Planned") .. "/",
        { color = "111111", content_types = { "dcim.location", "dcim.device", "dcim.interface", "ipam.prefix" } })
    api(R, "PATCH", "/api/extras/roles/" .. id_of(R, "extras/roles", "name=spine") .. "/",
        { content_types = { "dcim.device" } })
    local p24 = id_of(R, "ipam/prefixes", "network=10.0.1.0")
    api(R, "PATCH", "/api/ipam/prefixes/" .. p24 .. "/", { tenant = cjson.null })
    api(R, "DELETE", "/api/ipam/prefix-location-assignments/", { { id = id_of(R,
        "ipam/prefix-location-assignments", "prefix=" .. p24 .. "&location="
        .. id_of(R, "dcim/locations", "name=BER")) } })
    api(R, "PATCH", "/api/dcim/devices/" .. id_of(R, "dcim/devices", "name=ams-spine1") .. "/",
        { platform = cjson.null, status = { name = "Planned" } })
    api(R, "PATCH", "/api/dcim/device-types/" .. id_of(R, "dcim/device-types", "model=DCS-7050SX3") .. "/",
        { u_height = 2 })
    api(R, "PATCH", "/api/dcim/location-types/" .. id_of(R, "dcim/location-types", "name=Region") .. "/",
        { description = "regions", content_types = { "ipam.prefix" } })
    -- (a JSON text: cjson would write the empty list as {})
    api(R, "PATCH", "/api/tenancy/tenants/" .. id_of(R, "tenancy/tenants", "name=Acme") .. "/", '{"tags": []}')
    api(R, "PATCH", "/api/ipam/namespaces/" .. id_of(R, "ipam/namespaces", "name=Lab") .. "/",
        { description = "lab, v2" })
    api(R, "PATCH", "/api/ipam/ip-addresses/" .. id_of(R, "ipam/ip-addresses", "host=10.0.1.10") .. "/",
        { status = { name = "Reserved" }, tenant = { name = "Acme" } })
    api(R, "PATCH", "/api/dcim/manufacturers/" .. id_of(R, "dcim/manufacturers", "name=Arista") .. "/",
        { description = "Arista Networks" })
    api(R, "PATCH", "/api/dcim/platforms/" .. id_of(R, "dcim/platforms", "name=arista_eos") .. "/",
        { napalm_driver = "eos2" })
    step(s, job, "update", "sync complete: 0 created, 14 updated, 0 deleted, 0 failed")
    -- deletes: children and referrers first
    api(R, "DELETE", "/api/dcim/devices/", { { id = id_of(R, "dcim/devices", "name=nyc-leaf1") } })
    api(R, "DELETE", "/api/dcim/locations/", { { id = id_of(R, "dcim/locations", "name=NYC") } })
    api(R, "DELETE", "/api/ipam/ip-addresses/", { { id = id_of(R, "ipam/ip-addresses", "host=2001:db8::1") },
                                                 { id = id_of(R, "ipam/ip-addresses", "host=10.1.0.5") } })
    api(R, "DELETE", "/api/ipam/prefixes/", { { id = id_of(R, "ipam/prefixes", "network=2001:db8::") },
                                             { id = id_of(R, "ipam/prefixes", "network=10.1.0.0") } })
    api(R, "DELETE", "/api/ipam/namespaces/", { { id = id_of(R, "ipam/namespaces", "name=Lab") } })
    api(R, "DELETE", "/api/dcim/platforms/", { { id = id_of(R, "dcim/platforms", "name=linux") } })
    step(s, job, "delete", "sync complete: 0 created, 1 updated, 9 deleted, 0 failed")
    -- PROTECT: without the IP address model, a prefix that still holds
    -- addresses cannot go; the free one beside it does
    local partial = h.write(dir .. "/partial.lua", JOB:format("ipaddress = true", tostring(bulk),
                                                              '"CONTINUE_ON_FAILURE"'))
    api(R, "DELETE", "/api/ipam/ip-addresses/", { { id = id_of(R, "ipam/ip-addresses", "host=10.0.1.10") },
                                                 { id = id_of(R, "ipam/ip-addresses", "host=10.0.1.11") } })
    api(R, "DELETE", "/api/ipam/prefixes/", { { id = p24 },
                                             { id = id_of(R, "ipam/prefixes", "network=10.2.0.0") } })
    local r = h.run_env(s.env, "sync", partial, "--no-progress")
    assert.equals(1, r.code, r.stdout .. r.stderr)
    assert.matches("delete prefix 10.0.1.0__24__Global: error %(DELETE .- HTTP 409: .-dependent objects",
                   r.stdout .. r.stderr)
    assert.matches("ipam.ipaddress 10.0.1.1", r.stdout .. r.stderr, 1, true)
    assert.matches("sync complete: 0 created, 0 updated, 1 deleted, 1 failed", r.stdout, 1, true)
    for _, p in ipairs(s.prisms) do assert.same({}, p.violations(true)) end
    local d = h.run_env(s.env, "diff", partial, "--format", "summary")
    assert.matches('"delete": 1', d.stdout, 1, true)
    -- the remote emptied: every record of every model goes, referrers and
    -- children first
    empty(R)
    local left = 0
    for _, kind in ipairs(KINDS) do
      left = left + api(s.localnb.url, "GET", "/api/" .. kind .. "/?limit=1").count
    end
    step(s, job, "delete all", ("sync complete: 0 created, 0 updated, %d deleted, 0 failed"):format(left - 1))
    for _, kind in ipairs(KINDS) do
      local n = api(s.localnb.url, "GET", "/api/" .. kind .. "/?limit=1").count
      assert.equals(kind == "ipam/namespaces" and 1 or 0, n, kind)
    end
  end

  it("creates, updates and deletes all thirteen models one by one, within Nautobot's schema", function()
    scenario(false)
  end)

  it("does the same with bulk writes", function()
    scenario(true)
  end)

  it("reads every record from a server that caps the page size", function()
    local srv = h.server("nautobot_standin", "--token", TOKEN, "--seed", EXAMPLE .. "/remote.json",
                         "--max-page-size", "2")
    finally(srv.stop)
    local r = h.run_env({ NB = srv.url, TOK = TOKEN }, "run", h.write(dir .. "/capped.lua", ([[
      package.path = %q .. "/?.lua;" .. package.path
      local models = require "models"
      local nb = models.adapter("capped"):new { url = os.getenv("NB"), token = os.getenv("TOK") }:load()
      print(#nb:get_all("location"), #nb:get_all("device"), #nb:get_all("interface"), #nb:get_all("prefix"))
    ]]):format(EXAMPLE)))
    assert.equals(0, r.code, r.stderr)
    assert.equals("6\t4\t5\t5\n", r.stdout)
  end)

  it("moonsync schema prints models that sync devices as they are", function()
    local gen = h.run("schema", "nautobot", "dcim.devices")
    assert.equals(0, gen.code, gen.stderr)
    h.write(dir .. "/devices.lua", gen.stdout)
    -- a local Nautobot with everything the devices reference, and no devices
    local seed = cjson.decode(h.read(EXAMPLE .. "/remote.json"))
    seed["dcim/devices"], seed["dcim/interfaces"] = nil, nil
    local ordered = {}
    for _, k in ipairs { "extras/statuses", "extras/roles", "extras/tags", "tenancy/tenants",
                         "dcim/location-types", "dcim/locations", "dcim/manufacturers",
                         "dcim/device-types", "dcim/platforms" } do
      -- (cjson writes an empty list as {})
      ordered[#ordered + 1] = cjson.encode(k) .. ": " .. cjson.encode(seed[k]):gsub(":{}", ":[]")
    end
    local s = servers(h.write(dir .. "/refs.json", "{" .. table.concat(ordered, ",\n") .. "}"))
    local job = h.write(dir .. "/devices_job.lua", [[
local ms = require "moonsync"
local devices = require "devices"
local function open(url, token)
  return devices.adapter(url):new { url = os.getenv(url), token_env = token }:load()
end
return ms.job {
  source = function() return open("NAUTOBOT_REMOTE_URL", "NAUTOBOT_REMOTE_TOKEN") end,
  target = function() return open("NAUTOBOT_URL", "NAUTOBOT_TOKEN") end,
  permissions = { env = { "NAUTOBOT_REMOTE_URL", "NAUTOBOT_REMOTE_TOKEN", "NAUTOBOT_URL", "NAUTOBOT_TOKEN" },
                  net = { "${NAUTOBOT_REMOTE_URL}", "${NAUTOBOT_URL}" } },
}
]])
    step(s, job, "generated models", "sync complete: 4 created, 0 updated, 0 deleted, 0 failed")
    local got = api(s.localnb.url, "GET", "/api/dcim/devices/?name=ams-leaf1&depth=1&exclude_m2m=false")
    assert.equals("FDO1234", got.results[1].serial)
    assert.equals("cisco_nxos", got.results[1].platform.name)
    assert.equals("core", got.results[1].tags[1].name)
  end)

  it("the example's data source and data target jobs make each side match the other", function()
    -- the local Nautobot seeded differently
    local s = servers(EXAMPLE .. "/local.json")
    local report = dir .. "/report.html"
    local r = h.run_at(EXAMPLE, s.env, "sync", "data_source.lua", "--no-progress", "--report", report)
    assert.equals(0, r.code, r.stdout .. r.stderr)
    assert.matches("sync complete: 24 created, 12 updated, 0 deleted, 0 failed", r.stdout, 1, true)
    clean(s, "data source")
    -- the report links each record written to its page in the local Nautobot, and has
    -- the job's data mappings
    local data = cjson.decode(h.read(report):match('<script type="application/json" id="data">(.-)</script>'))
    assert.equals(12, #data.run.data_mappings)
    assert.same({ source = "Location (remote)", target = "Location (local)", target_url = "/dcim/locations/" },
                data.run.data_mappings[2])
    local links = 0
    for _, n in ipairs(data.nodes) do
      if n[1] ~= 0 and n[9] ~= 0 then
        links = links + 1
        local kind = data.models[n[2] + 1] == "device" and "dcim/devices" or nil
        if kind then assert.matches("^" .. s.prisms[2].url:gsub("%p", "%%%0") .. "/dcim/devices/%x+%-[%x-]+/$", n[9]) end
      end
    end
    assert.equals(36, links)
    local ams = id_of(s.localnb.url, "dcim/locations", "name=AMS")
    local found = false
    for _, n in ipairs(data.nodes) do
      if n[9] == s.prisms[2].url .. "/dcim/locations/" .. ams .. "/" then found = true end
    end
    assert.is_true(found, "the updated location AMS links to its page")
    assert.equals(0, h.run_at(EXAMPLE, s.env, "diff", "data_source.lua").code)
    -- what only the local one has goes to the remote; nothing is deleted there
    r = h.run_at(EXAMPLE, s.env, "sync", "data_target.lua", "--no-progress")
    assert.equals(0, r.code, r.stdout .. r.stderr)
    assert.matches("sync complete: 7 created, 0 updated, 0 deleted, 0 failed", r.stdout, 1, true)
    clean(s, "data target")
    local d = h.run_at(EXAMPLE, s.env, "diff", "data_target.lua")
    assert.equals(0, d.code, d.stdout)
    assert.equals("(no diffs)\n", d.stdout)
  end)
end)
