-- The REST adapter and its Nautobot/NetBox presets against real local
-- servers: json-server (npm) and the NetBox-convention test server.
local h = require "helpers"
local ms = require "moonsync"
local rest = require "moonsync.adapters.rest"
local nautobot = require "moonsync.adapters.nautobot"
local netbox = require "moonsync.adapters.netbox"
local json_file = require "moonsync.adapters.json_file"

local it_node = h.have_node() and it or pending

local SCHEMA = [[{
  "top_level": ["site"],
  "models": {
    "site": {"identifiers": ["name"], "attributes": ["status"], "children": {"device": "devices"}},
    "device": {"identifiers": ["site_name", "name"], "attributes": ["role"]}
  }
}]]

describe("rest adapter #integration", function()
  describe("syncing a JSON file into json-server", function()
    local srv, dir, schema, Rest
    lazy_setup(function()
      if not h.have_node() then return end
      dir = h.tmpdir()
      h.write(dir .. "/schema.json", SCHEMA)
      h.write(dir .. "/db.json", [[{
        "sites": [{"id": 1, "name": "ams", "status": "active"}, {"id": 2, "name": "old", "status": "active"}],
        "devices": [{"id": 1, "site_name": "ams", "name": "sw1", "role": "leaf"},
                    {"id": 2, "site_name": "old", "name": "x1", "role": "leaf"}]
      }]])
      local src = { '{"site": [' }
      for s = 1, 20 do
        local devs = {}
        for d = 1, 10 do
          devs[d] = ('{"site_name": "s%02d", "name": "sw%d", "role": "%s"}'):format(s, d, d % 2 == 0 and "spine" or "leaf")
        end
        src[#src + 1] = ('{"name": "s%02d", "status": "active", "devices": [%s]},'):format(s, table.concat(devs, ","))
      end
      src[#src + 1] = '{"name": "ams", "status": "planned", "devices": [{"site_name": "ams", "name": "sw1", "role": "spine"}]}]}'
      h.write(dir .. "/source.json", table.concat(src))
      srv = h.server("json_server", dir .. "/db.json")
      schema = ms.schema(dir .. "/schema.json")
      Rest = rest.adapter "jsonserver" {
        models = schema.models,
        pagination = "page", page_size = 50,
        resources = {
          site = { path = "/sites", fields = { name = "name", status = "status" } },
          device = { path = "/devices", fields = { site_name = "site_name", name = "name", role = "role" },
                     parent = { model = "site", ids = { name = "site_name" } } },
        },
      }
    end)
    lazy_teardown(function()
      if srv then srv.stop() end
      h.cleanup()
    end)

    local function source()
      return json_file.open { schema = schema, path = dir .. "/source.json", name = "file", side = "source" }
    end

    it_node("loads the server's records with their children", function()
      local t = Rest:new { client = { base_url = srv.url } }:load()
      assert.equals(4, t:count())
      assert.same({ "ams__sw1" }, t:get("site", "ams").devices)
    end)

    it_node("loads a child model declared before its parent, and refuses an orphan it would lose", function()
      local byname = {}
      for _, m in ipairs(schema.models) do byname[m.name] = m end
      local function declare(extra)
        return rest.adapter "jsonserver" {
          models = { byname.device, byname.site }, top_level = { "site" },
          pagination = "page", page_size = 50,
          resources = {
            site = { path = "/sites", fields = { name = "name", status = "status" },
                     query = extra and { name = "ams" } or nil },
            device = { path = "/devices", fields = { site_name = "site_name", name = "name", role = "role" },
                       parent = { model = "site", ids = { name = "site_name" } } },
          },
        }
      end
      local t = declare(false):new { client = { base_url = srv.url } }:load()
      assert.same({ "ams__sw1" }, t:get("site", "ams").devices)
      -- without the site "old", its device has no parent to be diffed under
      local ok, err = pcall(function() return declare(true):new { client = { base_url = srv.url } }:load() end)
      assert.is_false(ok)
      assert.matches("device /devices: record 2 %(old__x1%): its parent site old is not in the data", err.message)
    end)

    it_node("syncs, then a second sync finds nothing to do", function()
      local t = Rest:new { client = { base_url = srv.url, concurrency = 4 } }:load()
      local src = source()
      local diff, res = t:sync_from(src)
      t:commit()
      local s = diff:summary()
      assert.same({ 220, 2, 2 }, { s.create, s.update, s.delete })
      assert.same({ 220, 2, 2 }, { res.created, res.updated, res.deleted })
      -- a fresh look at the server agrees with the source
      local again = Rest:new { client = { base_url = srv.url } }:load()
      assert.equals(21 + 201, again:count())
      local d2 = again:diff_from(source())
      assert.is_false(d2:has_diffs())
    end)
  end)

  describe("models from another API's OpenAPI document", function()
    local srv, dir
    -- json-server's /sites, described as an OpenAPI document would
    local DOC = [[{"openapi": "3.0.3", "info": {"title": "Sites API", "version": "1.0"},
      "paths": {
        "/sites": {
          "get": {"responses": {"200": {"description": "sites", "content": {"application/json":
            {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Site"}}}}}}},
          "post": {"requestBody": {"content": {"application/json":
            {"schema": {"$ref": "#/components/schemas/SiteRequest"}}}},
                   "responses": {"201": {"description": "created"}}}},
        "/sites/{id}": {"patch": {"requestBody": {"content": {"application/json":
            {"schema": {"$ref": "#/components/schemas/SiteRequest"}}}},
                                  "responses": {"200": {"description": "updated"}}},
                        "delete": {"responses": {"200": {"description": "deleted"}}}}},
      "components": {"schemas": {
        "Site": {"type": "object", "required": ["id", "name"], "properties": {
          "id": {"type": "integer"}, "name": {"type": "string"},
          "status": {"type": "string", "enum": ["active", "planned"]},
          "region": {"type": "string", "nullable": true}}},
        "SiteRequest": {"type": "object", "required": ["name"], "properties": {
          "name": {"type": "string"}, "status": {"type": "string", "enum": ["active", "planned"]},
          "region": {"type": "string", "nullable": true}}}}}}]]
    lazy_setup(function()
      if not h.have_node() then return end
      dir = h.tmpdir()
      h.write(dir .. "/db.json", [[{"sites": [{"id": 1, "name": "ams", "status": "planned", "region": "eu"},
                                              {"id": 2, "name": "old", "status": "active", "region": null}]}]])
      srv = h.server("json_server", dir .. "/db.json")
    end)
    lazy_teardown(function()
      if srv then srv.stop() end
      h.cleanup()
    end)

    it_node("moonsync schema prints a module that syncs into it as it is", function()
      local job_dir = h.tmpdir()
      local file = h.write(job_dir .. "/sites-openapi.json", DOC)
      local list = h.run("schema", file)
      assert.equals(0, list.code, list.stderr)
      assert.matches("^sites +/sites +4 fields\n$", list.stdout)
      local gen = h.run("schema", file, "sites")
      assert.equals(0, gen.code, gen.stderr)
      assert.matches('local openapi = require "moonsync.adapters.openapi"', gen.stdout, 1, true)
      assert.matches('identifiers = { "name" },\n  attributes = { "region", "status" },', gen.stdout, 1, true)
      h.write(job_dir .. "/sites.lua", gen.stdout)
      h.write(job_dir .. "/schema.json", [[{"top_level": ["site"], "models": {
        "site": {"identifiers": ["name"], "attributes": ["region", "status"]}}}]])
      h.write(job_dir .. "/wanted.json", [[{"site": [{"name": "ams", "status": "active", "region": "eu"},
                                                   {"name": "ber", "status": "planned", "region": null}]}]])
      local job = h.write(job_dir .. "/job.lua", [[
local ms = require "moonsync"
local json_file = require "moonsync.adapters.json_file"
local sites = require "sites"
local _, here = ...
return ms.job {
  source = function()
    return json_file.open { schema = here .. "/schema.json", path = here .. "/wanted.json", name = "wanted" }
  end,
  target = function() return sites.adapter("api"):new { client = { base_url = os.getenv("API_URL") } }:load() end,
  permissions = { env = { "API_URL" }, net = { "${API_URL}" } },
}
]])
      local env = { API_URL = srv.url }
      local r = h.run_env(env, "sync", job, "--no-progress")
      assert.equals(0, r.code, r.stdout .. r.stderr)
      assert.matches("sync complete: 1 created, 1 updated, 1 deleted, 0 failed", r.stdout, 1, true)
      local d = h.run_env(env, "diff", job)
      assert.equals(0, d.code, d.stdout .. d.stderr)
    end)
  end)

  describe("nautobot and netbox presets", function()
    local srv
    lazy_setup(function()
      if h.have_node() then srv = h.server("test_server", "--token", "tok-12345678", "--records", "250") end
    end)
    lazy_teardown(function() if srv then srv.stop() end end)

    local Device = ms.model "device" { identifiers = { "name" }, attributes = { "serial", "role" } }
    local decl = {
      models = { Device },
      resources = { device = { path = "/api/dcim/devices/",
                               fields = { name = "name", serial = "serial", role = "role.slug" } } },
      page_size = 40,
    }
    local Source = ms.adapter "inventory" { models = { Device } }

    it_node("refuses without the token, naming the request but not the token", function()
      local Nb = nautobot.adapter "nautobot" (decl)
      local nb = Nb:new { url = srv.url, token = "wrong-token-999", retries = 0 }
      local ok, err = pcall(nb.load, nb)
      assert.is_false(ok)
      assert.equals(403, err.status)
      assert.matches("GET http://127%.0%.0%.1:%d+/api/dcim/devices/%?limit=40&offset=0: HTTP 403", err.message)
      assert.is_nil(err.message:find("wrong-token", 1, true))
    end)

    it_node("sends the API version header (Nautobot) and none for NetBox", function()
      local nb = nautobot.adapter "nautobot" (decl):new { url = srv.url, token = "tok-12345678" }
      assert.equals("application/json; version=2.0", nb.client:get("/echo"):json().headers.accept)
      local nx = netbox.adapter "netbox" (decl):new { url = srv.url, token = "tok-12345678" }
      assert.equals("application/json", nx.client:get("/echo"):json().headers.accept)
    end)

    it_node("loads all pages and syncs with bulk writes; a second sync has nothing to do", function()
      local Nb = nautobot.adapter "nautobot" (decl)
      local nb = Nb:new { url = srv.url, token = "tok-12345678" }:load()
      assert.equals(250, nb:count())
      assert.equals("spine", nb:get("device", "dev00000").role)
      -- the source: every device but the last 10, 5 new serials, 10 new devices
      local src = Source:new()
      for _, d in ipairs(nb:get_all("device")) do
        local i = tonumber(d.name:sub(4))
        if i < 240 then
          src:add(Device { name = d.name, role = d.role,
                           serial = i < 5 and ("NEW" .. i) or d.serial })
        end
      end
      for i = 1, 10 do src:add(Device { name = "new" .. i, serial = "N" .. i, role = ms.null }) end
      local diff, res = nb:sync_from(src, { flags = {} })
      assert.same({ create = 10, update = 5, delete = 10, ["no-change"] = 235, skip = 0 }, diff:summary())
      assert.same({ 10, 5, 10 }, { res.created, res.updated, res.deleted })
      nb:commit()
      local fresh = Nb:new { url = srv.url, token = "tok-12345678" }:load()
      assert.equals(250, fresh:count())
      assert.equals("NEW3", fresh:get("device", "dev00003").serial)
      -- roles are read-only (a dotted path), so compare what is written
      for _, d in ipairs(src:get_all("device")) do if d.name:match("^new") then d.role = nil end end
      assert.is_false(fresh:diff_from(src):has_diffs())
    end)
  end)
end)
