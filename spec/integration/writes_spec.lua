-- Writes to APIs (moonsync.writer through the REST adapters) against the
-- NetBox stand-in: dependency order, bulk batches that isolate refused
-- records, exact statuses and counts, interrupts mid-flight.
local h = require "helpers"
local cjson = require "cjson"

local TOKEN = "nbt_writes0123456789"

-- Lua run with moonsync loaded: `URL` the stand-in, `Api(bulk)` a NetBox
-- adapter class over sites and devices.
local PRELUDE = [[
local ms = require "moonsync"
local netbox = require "moonsync.adapters.netbox"
local URL, TOKEN = %q, %q
local Site = ms.model "site" { identifiers = { "name" }, attributes = { "slug", "status" },
                               children = { device = "devices" } }
local Device = ms.model "device" { identifiers = { "site_name", "name" },
                                   attributes = { "role", "device_type" } }
local function Api(bulk, models)
  return netbox.adapter "nb" {
    models = models or { Site, Device }, bulk = bulk,
    lookups = { role = { path = "/api/dcim/device-roles/", key = "slug" },
                device_type = { path = "/api/dcim/device-types/", key = "slug" } },
    resources = {
      site = { path = "/api/dcim/sites/", fields = { name = "name", slug = "slug", status = "status.value" } },
      device = { path = "/api/dcim/devices/",
                 fields = { name = "name", site_name = "site.name",
                            role = { path = "role.slug", lookup = "role" },
                            device_type = { path = "device_type.slug", lookup = "device_type" } },
                 parent = { model = "site", ids = { name = "site_name" } },
                 refs = { site = { model = "site", ids = { name = "site_name" } } } },
    },
  }
end
local Src = ms.adapter "src" { models = { Site, Device } }
local function target(bulk, models) return Api(bulk, models):new { url = URL, token = TOKEN }:load() end
]]

describe("writes to APIs #writes", function()
  local have = h.have_node()
  local srv, dir
  -- starts the stand-in (answering after `latency` ms) with a device
  -- type and a device role
  local function start(latency)
    if srv then srv.stop() end
    srv = h.server("netbox_standin", "--token", TOKEN, "--latency", tostring(latency or 0))
    local function post(path, body)
      local p = io.popen(("env -u LD_PRELOAD curl -s -H %s -H 'Content-Type: application/json' -d %s %s")
        :format(h.quote("Authorization: Bearer " .. TOKEN), h.quote(body), h.quote(srv.url .. path)))
      local r = cjson.decode(p:read("a"))
      p:close()
      return r
    end
    local m = post("/api/dcim/manufacturers/", '{"name": "Acme", "slug": "acme"}')
    post("/api/dcim/device-types/", ('{"manufacturer": %d, "model": "SW", "slug": "sw"}'):format(m.id))
    post("/api/dcim/device-roles/", '{"name": "Leaf", "slug": "leaf"}')
  end

  before_each(function()
    if not have then pending("needs Node.js: run scripts/install-deps") return end
    dir = h.tmpdir()
    start(0)
  end)
  after_each(function()
    if srv then srv.stop() end
    srv = nil
    h.cleanup()
  end)

  local function script(body)
    local s = h.write(dir .. "/s.lua", PRELUDE:format(srv.url, TOKEN) .. body)
    return h.run("run", s)
  end

  local function stats() return cjson.decode(h.fetch(srv.url .. "/__stats")) end

  for _, bulk in ipairs { false, true } do
    it(("creates parents first and deletes children first (%s)"):format(bulk and "bulk" or "one by one"), function()
      local r = script(([[
        local src = Src:new()
        for i = 1, 5 do
          local s = src:add(Site { name = "s" .. i, slug = "s" .. i, status = "active" })
          for j = 1, 3 do
            s:add_child(src:add(Device { site_name = "s" .. i, name = "d" .. i .. j, role = "leaf", device_type = "sw" }))
          end
        end
        local t = target(%s)
        local _, res = t:sync_from(src)
        assert(res.created == 20 and res.errors == 0, ("created %%d, errors %%d"):format(res.created, res.errors))
        -- now the source loses every site: devices must go before their site (PROTECT)
        t = target(%s)
        local _, res2 = t:sync_from(Src:new())
        assert(res2.deleted == 20 and res2.errors == 0, ("deleted %%d, errors %%d"):format(res2.deleted, res2.errors))
        assert(target(%s):count() == 0)
        print("ok")]]):format(tostring(bulk), tostring(bulk), tostring(bulk)))
      assert.equals(0, r.code, r.stderr)
      assert.equals("ok\n", r.stdout)
    end)
  end

  it("sends independent writes concurrently", function()
    start(50)
    local r = script([[
      local src = Src:new()
      for i = 1, 40 do src:add(Site { name = "s" .. i, slug = "s" .. i, status = "active" }) end
      local t = Api(false):new { url = URL, token = TOKEN, concurrency = 8 }:load()
      local t0 = ms.core.now()
      local _, res = t:sync_from(src)
      assert(res.created == 40)
      print(ms.core.now() - t0)]])
    assert.equals(0, r.code, r.stderr)
    -- 40 creates of 50 ms: one at a time 2 s; 8 in flight about 0.25 s
    assert.is_true(tonumber(r.stdout) < 1.0, r.stdout)
    assert.is_true(stats().maxInflight >= 6, "in flight at once: " .. stats().maxInflight)
  end)

  it("isolates the one record a bulk create refuses: 99 commit, one fails with the server's message", function()
    local r = script([[
      local src = Src:new()
      for i = 1, 100 do
        src:add(Site { name = ("s%03d"):format(i), slug = ("s%03d"):format(i),
                       status = i == 42 and "bogus" or "active" })
      end
      local t = target(true, { Site })
      local logs = {}
      local ok, err = pcall(t.sync_from, t, src, { flags = { "CONTINUE_ON_FAILURE" },
                                                   log = function(op) logs[#logs + 1] = op end })
      assert(ok, tostring(err))
      local fresh = target(true, { Site })
      local failed = {}
      for _, op in ipairs(logs) do if op.status ~= "success" then failed[#failed + 1] = op end end
      print(fresh:count(), #logs, #failed, failed[1].uid, failed[1].message)
      print(t:get_or_none("site", "s042"), t:get("site", "s041"):get_status())]])
    assert.equals(0, r.code, r.stderr)
    assert.matches("^99\t100\t1\ts042\tPOST http://127%.0%.0%.1:%d+/api/dcim/sites/: HTTP 400: "
                   .. '{"status":%["\\"bogus\\" is not a valid choice%."%]}\n', r.stdout)
    assert.matches("nil\tsuccess\tCreated successfully\n$", r.stdout)
  end)

  it("isolates a protected record in a bulk delete by splitting the batch", function()
    local r = script([[
      local src = Src:new()
      for i = 1, 100 do src:add(Site { name = ("s%03d"):format(i), slug = ("s%03d"):format(i), status = "active" }) end
      local t = target(true, { Site })
      t:sync_from(src)
      -- a device the job does not model keeps site s077 (PROTECT)
      local d = target(true)
      local dev = Src:new()
      for _, s in ipairs(d:get_all("site")) do
        local rec = dev:add(Site { name = s.name, slug = s.slug, status = s.status })
        if s.name == "s077" then
          rec:add_child(dev:add(Device { site_name = "s077", name = "keeper", role = "leaf", device_type = "sw" }))
        end
      end
      d:sync_from(dev)
      -- now every site goes, seen by an adapter that knows sites only
      t = target(true, { Site })
      local _, res = t:sync_from(Src:new(), { flags = { "CONTINUE_ON_FAILURE" } })
      local left = target(true, { Site })
      print(res.deleted, res.errors, left:count(), left:get_all("site")[1].name,
            t:get("site", "s077"):get_status())]])
    assert.equals(0, r.code, r.stderr)
    assert.matches("^99\t1\t1\ts077\terror\tDELETE http://127%.0%.0%.1:%d+/api/dcim/sites/: HTTP 409: "
                   .. ".*Unable to delete object%. 1 dependent objects were found", r.stdout)
  end)

  it("without CONTINUE_ON_FAILURE stops after the refused batch, reporting what committed", function()
    local r = script([[
      local src = Src:new()
      for i = 1, 10 do
        local s = src:add(Site { name = "s" .. i, slug = "s" .. i, status = i == 3 and "bogus" or "active" })
        s:add_child(src:add(Device { site_name = "s" .. i, name = "d" .. i, role = "leaf", device_type = "sw" }))
      end
      local t = target(true)
      local ok, err = pcall(t.sync_from, t, src)
      assert(not ok)
      print(err.type, err.result.created, err.result.errors, err.result.failed, target(true):count())]])
    assert.equals(0, r.code, r.stderr)
    -- the nine good sites committed; no device was sent
    assert.equals("ObjectNotCreated\t9\t1\t1\t9\n", r.stdout)
    -- three seeded records, the refused batch of ten sites, the nine again
    assert.equals(5, stats().POST)
  end)

  -- Syncs the sites of `sites` (JSON texts) from a file into the stand-in
  -- with a job, sends `signal` once 4 POSTs arrived; returns the exit
  -- code and stderr.
  local function interrupted_sync(schema, sites, signal)
    h.write(dir .. "/schema.json", schema)
    h.write(dir .. "/src.json", '{"site": [' .. table.concat(sites, ", ") .. "]}")
    local j = h.write(dir .. "/job.lua", (PRELUDE:format(srv.url, TOKEN) .. [[
      local json_file = require "moonsync.adapters.json_file"
      local dir = %q
      return ms.job {
        source = function() return json_file.open { schema = dir .. "/schema.json", path = dir .. "/src.json" } end,
        target = function() return target(false) end,
        permissions = { net = { "127.0.0.1" } },
      }]]):format(dir))
    local script_sh = h.write(dir .. "/run.sh", ([[
%s sync %s --no-progress --no-verify >%s/out 2>%s/err &
pid=$!
n=0
while [ $n -lt 400 ]; do
  c=$(env -u LD_PRELOAD curl -s %s/__stats | sed 's/.*"POST":\([0-9]*\).*/\1/')
  [ "$c" -ge 4 ] 2>/dev/null && break
  sleep 0.02; n=$((n+1))
done
kill -%s $pid
wait $pid
echo $? >%s/code
]]):format(h.quote(h.bin), h.quote(j), dir, dir, srv.url, signal, dir))
    os.execute("sh " .. h.quote(script_sh))
    return (h.read(dir .. "/code") or ""):match("%d+"), h.read(dir .. "/err")
  end

  it("on SIGINT lets the writes in flight finish, reports them and sends no new ones", function()
    start(600)
    local sites = {}
    for i = 1, 4 do
      sites[i] = ('{"name": "s%d", "slug": "s%d", "status": "active", "devices": [{"site_name": "s%d", '
        .. '"name": "d%d", "role": "leaf", "device_type": "sw"}]}'):format(i, i, i, i)
    end
    local code, err = interrupted_sync([[{"top_level": ["site"], "models": {
      "site": {"identifiers": ["name"], "attributes": ["slug", "status"], "children": {"device": "devices"}},
      "device": {"identifiers": ["site_name", "name"], "attributes": ["role", "device_type"]}}}]], sites, "INT")
    assert.equals("130", code)
    -- the four sites in flight completed and were reported; no device went
    assert.matches("interrupted: 4 created, 0 updated, 0 deleted, 0 failed; 4 of 8 changes not done", err)
    -- three seeded records and the four sites: nothing after the interrupt
    assert.equals(7, stats().POST)
  end)

  it("on SIGTERM stops within one wave of independent writes: the rest are not sent", function()
    start(300)
    local sites = {}
    for i = 1, 40 do
      sites[i] = ('{"name": "w%d", "slug": "w%d", "status": "active"}'):format(i, i)
    end
    local code, err = interrupted_sync([[{"top_level": ["site"], "models": {
      "site": {"identifiers": ["name"], "attributes": ["slug", "status"]}}}]], sites, "TERM")
    assert.equals("130", code)
    local created, left = err:match("interrupted: (%d+) created, 0 updated, 0 deleted, 0 failed; (%d+) of 40 changes not done")
    assert.is_truthy(created, err)
    created, left = tonumber(created), tonumber(left)
    assert.equals(40, created + left)
    assert.is_true(created < 20, err)
    -- what was reported created is what the server received, nothing more
    assert.equals(3 + created, stats().POST)
    assert.is_nil(err:find("sync complete", 1, true))
  end)

  for _, bulk in ipairs { false, true } do
    it(("names a lookup that finds nothing, in the dry run and the sync (%s)"):format(
        bulk and "bulk" or "one by one"), function()
      h.write(dir .. "/schema.json", [[{"top_level": ["site"], "models": {
        "site": {"identifiers": ["name"], "attributes": ["slug", "status"], "children": {"device": "devices"}},
        "device": {"identifiers": ["site_name", "name"], "attributes": ["role", "device_type"]}}}]])
      h.write(dir .. "/src.json", '{"site": [{"name": "s1", "slug": "s1", "status": "active", "devices": '
        .. '[{"site_name": "s1", "name": "d1", "role": "nope", "device_type": "sw"}]}]}')
      local j = h.write(dir .. "/job.lua", (PRELUDE:format(srv.url, TOKEN) .. [[
        local json_file = require "moonsync.adapters.json_file"
        local dir = %q
        return ms.job {
          source = function() return json_file.open { schema = dir .. "/schema.json", path = dir .. "/src.json" } end,
          target = function() return target(%s) end,
          permissions = { net = { "127.0.0.1" } },
        }]]):format(dir, tostring(bulk)))
      local why = "field role: no role with slug nope %(lookup role, /api/dcim/device%-roles/%)"
      local r = h.run("sync", j, "--dry-run")
      assert.equals(1, r.code, r.stderr)
      assert.matches("1 change would fail validation:\n  create device s1__d1: " .. why, r.stdout)
      assert.matches("MISSING in nb", r.stdout)   -- the class's name, not \"rest\"
      r = h.run("sync", j, "--no-progress", "--no-verify", "--report", dir .. "/r.html")
      assert.equals(1, r.code)
      assert.matches("create device s1__d1: error %(no role with slug nope", r.stderr)
      assert.matches("ObjectNotCreated: no role with slug nope", r.stderr)
      assert.is_nil(r.stderr:find("nil", 1, true))
      assert.matches("no role with slug nope", h.read(dir .. "/r.html"))
    end)
  end

  it("says the URL is missing when the variable that holds it is unset", function()
    local r = script([[
      local ok, err = pcall(function() return Api(false):new { url = os.getenv("NO_SUCH_URL_VAR") } end)
      print(err)
      local http = require "moonsync.http"
      print(select(2, pcall(function() return http.client {}:get("/api/x/") end)))]])
    assert.equals(0, r.code, r.stderr)
    assert.matches("netbox adapter 'nb': no url given %(url = nil%): is the environment variable", r.stdout)
    assert.matches("/api/x/: a path, and the HTTP client has no base_url", r.stdout)
  end)

  it("a nested field needs a write rule: without one the declaration is an error", function()
    local r = script([[
      local rest = require "moonsync.adapters.rest"
      local ok, err = pcall(rest.adapter "x", { models = { Site },
        resources = { site = { path = "/api/dcim/sites/", fields = { name = "name", status = "status.value" } } } })
      print(err)]])
    assert.equals(0, r.code, r.stderr)
    assert.matches("rest adapter 'x': resources%.site%.fields%.status reads the nested path 'status%.value': "
                   .. "say how it is written", r.stdout)
  end)

  it("--verify reports changes that did not converge and exits 1", function()
    h.write(dir .. "/schema.json", [[{"top_level": ["site"], "models": {
      "site": {"identifiers": ["name"], "attributes": ["slug", "status"]}}}]])
    h.write(dir .. "/src.json", '{"site": [{"name": "s1", "slug": "s1", "status": "planned"}]}')
    local function job(write)
      return h.write(dir .. "/job.lua", ([[
        local ms = require "moonsync"
        local netbox = require "moonsync.adapters.netbox"
        local json_file = require "moonsync.adapters.json_file"
        local dir = %q
        local sc = ms.schema(dir .. "/schema.json")
        local Api = netbox.adapter "nb" { models = sc.models,
          resources = { site = { path = "/api/dcim/sites/",
            fields = { name = "name", slug = "slug", status = { path = "status.value", write = %q } } } } }
        return ms.job {
          source = function() return json_file.open { schema = sc, path = dir .. "/src.json" } end,
          target = function() return Api:new { url = %q, token = %q }:load() end,
          permissions = { net = { "127.0.0.1" } },
        }]]):format(dir, write, srv.url, TOKEN))
    end
    -- the status is written where the server ignores it: it never converges
    local r = h.run("sync", job("state"), "--no-progress")
    assert.equals(1, r.code)
    assert.matches("sync complete: 1 created", r.stdout)
    assert.matches("verify: 1 change did not converge", r.stderr)
    assert.matches("status", r.stderr)
    -- written where it belongs, it does
    r = h.run("sync", job("status"), "--no-progress")
    assert.equals(0, r.code, r.stderr)
    assert.matches("verify: the target, read again, matches the source", r.stdout)
  end)
end)
