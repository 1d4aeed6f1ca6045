-- The IP Fabric integration held to Nautobot SSoT's own tests: every load
-- assertion of nautobot_ssot/tests/ipfabric/test_ipfabric_adapter.py, with
-- the setting its setUp patches (canonical interface names), run as
-- `moonsync diff examples/ssot-ipfabric/job.lua --format json` against an
-- empty Nautobot stand-in, the IP Fabric stand-in
-- (spec/servers/ipfabric_standin.js) serving the test's fixtures over
-- HTTP: what the diff creates is what the adapter loaded. Then the
-- Nautobot side (test_nautobot_adapter.py), what SSoT breaks on or drops
-- silently, the API's paging, snapshots and token, safe delete mode, and
-- the job end to end through Prism.
local h = require "helpers"
local cjson = require "cjson"
local fx = require "ipfabric_fixtures"

local fmt = string.format
local JOB = h.root .. "/examples/ssot-ipfabric/job.lua"
local TOKEN = "0123456789abcdef0123456789abcdef01234567"
local SEED = h.root .. "/examples/ssot-ipfabric/nautobot-seed.json"

-- what a test starts is stopped when it ends
local later = h.later(function(fn) finally(fn) end)

local function keys(t)
  local s = {}
  for k in pairs(t) do s[k] = true end
  return s
end

describe("IP Fabric integration #ipfabric", function()
  local have = h.have_node()
  local dir, nb

  setup(function()
    if not have then return end
    dir = h.tmpdir()
    nb = h.server("nautobot_standin", "--token", TOKEN, "--seed", SEED)
  end)
  teardown(function()
    if nb then nb.stop() end
    h.cleanup()
  end)
  before_each(function()
    if not have then pending("needs Node.js: run scripts/install-deps") end
  end)

  local function env(ipf, settings, nautobot)
    return { IPFABRIC_URL = ipf.url, IPFABRIC_TOKEN = fx.TOKEN, NAUTOBOT_URL = (nautobot or nb).url,
             NAUTOBOT_TOKEN = TOKEN, MOONSYNC_HISTORY = "off", IPFABRIC_SETTINGS = cjson.encode(settings or {}) }
  end

  -- What the adapter loads from `data`: the diff's creates against the
  -- empty Nautobot, {model = {uid = fields}}, with the run and the stand-in.
  local function load(data, settings, ...)
    local s = fx.serve(dir, data, ...)
    later(s.stop)
    local r = h.run_env(env(s, settings), "diff", JOB, "--format", "json")
    assert.is_true(r.code == 0 or r.code == 2, r.stderr)
    local out = h.autotable()
    for _, c in ipairs(cjson.decode(r.stdout).changes) do
      assert.equals("create", c.action, c.model .. " " .. c.uid)
      local f = { _parent = type(c.parent) == "table" and c.parent.uid or nil }
      for k, v in pairs(c.keys) do f[k] = v end
      for k, v in pairs(c.attrs) do f[k] = v end
      out[c.model][c.uid] = f
    end
    out._run, out._stats = r, cjson.decode(h.fetch(s.url .. "/__stats"))
    return out
  end

  -- {====== test_ipfabric_adapter.py ======}

  describe("test_ipfabric_adapter.py (canonical interface names, as its setUp patches)", function()
    local got
    local CANONICAL = { canonical_interface_names = true }
    local function loaded()
      got = got or load(fx.data(), CANONICAL)
      return got
    end
    local SITES, DEVICES, VLANS = fx.fixture "get_sites", fx.fixture "get_device_inventory", fx.fixture "get_vlans"

    it("test_data_loading: the locations, devices and VLANs of the fixtures", function()
      local g = loaded()
      local sites = {}
      for _, s in ipairs(SITES) do sites[s.siteName] = true end
      assert.same(sites, keys(g.location))
      local devices, loaded_devices = {}, {}
      for _, d in ipairs(DEVICES) do if d.siteName ~= "stack" then devices[d.hostname] = true end end
      for uid, d in pairs(g.device) do if d.location_name ~= "stack" then loaded_devices[uid] = true end end
      assert.same(devices, loaded_devices)
      local vlans = {}
      for _, v in ipairs(VLANS) do vlans[v.vlanName .. "__" .. v.siteName] = true end
      assert.same(vlans, keys(g.vlan))
      -- each site but the stack's has its one device, below it
      local per = {}
      for _, d in pairs(g.device) do per[d._parent] = (per[d._parent] or 0) + 1 end
      for site in pairs(sites) do
        if site ~= "stack" then assert.equals(1, per[site], site .. " does not have its single device") end
      end
      -- each record has the model's attributes
      local ATTRS = {
        device = { "location_name", "model", "vendor", "serial_number", "role", "status", "platform" },
        vlan = { "name", "vid", "status", "location", "description" },
        interface = { "name", "device_name", "mac_address", "mtu", "ip_address", "subnet_mask", "type" },
      }
      for model, attrs in pairs(ATTRS) do
        for uid, r in pairs(g[model]) do
          for _, a in ipairs(attrs) do assert.is_not_nil(r[a], fmt("%s %s has no %s", model, uid, a)) end
        end
      end
    end)

    it("test_data_loading: a mask from the managed networks, else a host mask", function()
      local g = loaded()
      local names = {}
      for _, i in pairs(g.interface) do
        names[i.name] = true
        if i.name == "pseudo_mgmt" or i.name == "Ethernet1" then
          assert.equals("255.255.255.255", i.subnet_mask, i.name .. " of " .. i.device_name)
        elseif i.name == "GigabitEthernet4" then
          assert.equals("255.255.255.0", i.subnet_mask)
        end
      end
      assert.is_true(names.pseudo_mgmt)
      assert.is_true(names.GigabitEthernet4)
    end)

    it("the interfaces SSoT's adapter loads of the fixtures (the test asserts some): exactly these", function()
      -- read off adapter_ipfabric.py for the fixtures: each device's interfaces by serial
      -- number, and a pseudo interface for every login address no interface has
      local want = { ["ipip__nyc-rtr-01"] = true, ["Ethernet1__nyc-rtr-01"] = true,
                     ["Ethernet15__nyc-leaf-01"] = true, ["GigabitEthernet4__jcy-rtr-02"] = true }
      for _, d in ipairs(DEVICES) do want["pseudo_mgmt__" .. d.hostname] = true end
      local g = loaded()
      assert.same(want, keys(g.interface))
      assert.equals("10.10.0.10", g.interface["GigabitEthernet4__jcy-rtr-02"].ip_address)
      assert.is_false(g.interface["GigabitEthernet4__jcy-rtr-02"].ip_is_primary)
      assert.equals("virtual", g.interface["GigabitEthernet4__jcy-rtr-02"].type)
    end)

    it("test_data_loading_elongate_interface_names: long interface names", function()
      local g = loaded()
      for _, uid in ipairs { "ipip__nyc-rtr-01", "Ethernet15__nyc-leaf-01", "GigabitEthernet4__jcy-rtr-02",
                             "Ethernet1__nyc-rtr-01" } do
        assert.is_not_nil(g.interface[uid], uid)
      end
    end)

    it("test_data_loading_stacks: a stack as one device per member", function()
      local g = loaded()
      local n = 0
      for _, d in pairs(g.device) do if d.location_name == "stack" then n = n + 1 end end
      assert.equals(3, n)
      local function member(uid, pos, serial, model, master)
        local d = g.device[uid]
        assert.is_not_nil(d, uid)
        assert.equals("stack", d.vc_name)
        assert.equals(pos, d.vc_position)
        assert.equals(pos, d.vc_priority)
        assert.equals(serial, d.serial_number)
        assert.equals(model, d.model)
        assert.equals(master, d.vc_master)
      end
      member("stack", 1, "stack1", "ws-3850-a", true)
      member("stack-member2", 2, "stack2", "ws-3850-a", false)
      member("stack-member4", 4, "stack4", "ws-3850-b", false)
    end)

    it("reads every table with the columns the adapter uses, of the latest loaded snapshot", function()
      local g = loaded()
      -- one request a table: the fixtures fit in a page
      assert.same({ ["inventory/sites"] = 1, ["inventory/devices"] = 1, ["inventory/interfaces"] = 1,
                    ["addressing/managed-devs"] = 1, ["platforms/stack/members"] = 1, ["vlan/site-summary"] = 1 },
                  g._stats.tables)
      assert.equals(0, g._stats.errors)
    end)

    it("with SSoT's default settings, short interface names as IP Fabric gives them", function()
      local g = load(fx.data())
      assert.is_not_nil(g.interface["Et15__nyc-leaf-01"])
      assert.is_not_nil(g.interface["Gi4__jcy-rtr-02"])
      assert.is_nil(g.interface["Ethernet15__nyc-leaf-01"])
      -- the device type to role rule: the IP Fabric type, else the default role
      assert.equals("router", g.device["jcy-rtr-01"].role)
      assert.equals("Network Device", g.device["jcy-rtr-02"].role)
      assert.equals("Default-juniper", g.device["nyc-rtr-01"].model)
      assert.equals("Juniper", g.device["nyc-rtr-01"].vendor)
      assert.equals("52:54:00:9D:F8:16", g.interface["Et15__nyc-leaf-01"].mac_address)
      assert.equals(9214, g.interface["Et15__nyc-leaf-01"].mtu)
      assert.equals("00:00:00:00:00:01", g.interface["ipip__nyc-rtr-01"].mac_address)
      assert.equals(1500, g.interface["ipip__nyc-rtr-01"].mtu)
      -- the login address on no interface: a pseudo management interface, primary
      local pseudo = g.interface["pseudo_mgmt__jcy-rtr-01"]
      assert.equals("172.18.0.3", pseudo.ip_address)
      assert.is_true(pseudo.ip_is_primary)
      assert.is_true(pseudo.mgmt_only)
      assert.equals("55468036", g.location["NYC-RTR-01"].site_id)
    end)
  end)

  -- {====== test_nautobot_adapter.py ======}

  describe("test_nautobot_adapter.py", function()
    -- the Nautobot of the test's setUp
    local NB_SEED = [[{
      "extras/statuses": [{"name": "Active", "content_types": ["dcim.device", "dcim.location", "dcim.interface"]}],
      "extras/roles": [{"name": "test", "content_types": ["dcim.device"]}],
      "dcim/location-types": [{"name": "site", "content_types": ["dcim.device", "ipam.vlan"]}],
      "dcim/locations": [
        {"name": "site1", "location_type": {"name": "site"}, "status": {"name": "Active"}},
        {"name": "site2", "location_type": {"name": "site"}, "status": {"name": "Active"}},
        {"name": "stack", "location_type": {"name": "site"}, "status": {"name": "Active"}}],
      "dcim/manufacturers": [{"name": "man1"}, {"name": "man2"}],
      "dcim/device-types": [{"model": "dev_type1", "manufacturer": {"name": "man1"}},
                            {"model": "dev_type2", "manufacturer": {"name": "man2"}}],
      "dcim/platforms": [{"name": "platform1", "manufacturer": {"name": "man1"}}],
      "dcim/virtual-chassis": [{"name": "stack1"}],
      "dcim/devices": [
        {"name": "dev1", "serial": "abc", "status": {"name": "Active"}, "role": {"name": "test"},
         "location": {"name": "site1"}, "device_type": {"model": "dev_type1"}, "platform": {"name": "platform1"}},
        {"name": "dev2", "serial": "def", "status": {"name": "Active"}, "role": {"name": "test"},
         "location": {"name": "site1"}, "device_type": {"model": "dev_type1"}, "platform": {"name": "platform1"}},
        {"name": "dev3", "serial": "xyz", "status": {"name": "Active"}, "role": {"name": "test"},
         "location": {"name": "site2"}, "device_type": {"model": "dev_type2"}},
        {"name": "stack1", "serial": "st123", "status": {"name": "Active"}, "role": {"name": "test"},
         "location": {"name": "stack"}, "device_type": {"model": "dev_type2"},
         "virtual_chassis": {"name": "stack1"}, "vc_position": 1, "vc_priority": 1},
        {"name": "stack2", "serial": "st456", "status": {"name": "Active"}, "role": {"name": "test"},
         "location": {"name": "stack"}, "device_type": {"model": "dev_type2"},
         "virtual_chassis": {"name": "stack1"}, "vc_position": 2, "vc_priority": 2},
        {"name": "stack3", "serial": "st789", "status": {"name": "Active"}, "role": {"name": "test"},
         "location": {"name": "stack"}, "device_type": {"model": "dev_type2"},
         "virtual_chassis": {"name": "stack1"}, "vc_position": 3, "vc_priority": 3}]
    }]]
    local loaded
    -- what the Nautobot side loads: the diff against an empty snapshot
    -- deletes every record, with its fields (sync_ipfabric_tagged_only off, as the test)
    local function nautobot_side()
      if loaded then return loaded end
      h.write(dir .. "/nb-adapter-seed.json", NB_SEED)
      local n = h.server("nautobot_standin", "--token", TOKEN, "--seed", dir .. "/nb-adapter-seed.json")
      later(n.stop)
      local vc = h.api(n.url, TOKEN, "GET", "/api/dcim/virtual-chassis/?name=stack1").results[1]
      local master = h.api(n.url, TOKEN, "GET", "/api/dcim/devices/?name=stack1").results[1]
      h.api(n.url, TOKEN, "PATCH", "/api/dcim/virtual-chassis/" .. vc.id .. "/", { master = { id = master.id } })
      local s = fx.serve(dir, fx.data { ["inventory/sites"] = {}, ["inventory/devices"] = {},
                                        ["inventory/interfaces"] = {}, ["addressing/managed-devs"] = {},
                                        ["platforms/stack/members"] = {}, ["vlan/site-summary"] = {} })
      later(s.stop)
      local r = h.run_env(env(s, { sync_ipfabric_tagged_only = false, location_type = "site" }, n),
                          "diff", JOB, "--format", "json")
      assert.equals(2, r.code, r.stderr)
      loaded = h.autotable()
      for _, c in ipairs(cjson.decode(r.stdout).changes) do
        assert.equals("delete", c.action, c.model .. " " .. c.uid)
        local f = {}
        for k, v in pairs(c.keys) do f[k] = v end
        for k, v in pairs(c.before or {}) do f[k] = v end
        loaded[c.model][c.uid] = f
      end
      return loaded
    end

    it("test_load_device: the devices of a location with their fields", function()
      local d = nautobot_side().device
      local at_site1 = {}
      for uid, dev in pairs(d) do if dev.location_name == "site1" then at_site1[uid] = true end end
      assert.same({ dev1 = true, dev2 = true }, at_site1)
      assert.equals("abc", d.dev1.serial_number)
      assert.equals("def", d.dev2.serial_number)
      for _, name in ipairs { "dev1", "dev2" } do
        local dev = d[name]
        assert.equals("dev_type1", dev.model)
        assert.equals("test", dev.role)
        assert.equals("site1", dev.location_name)
        assert.equals("man1", dev.vendor)
        assert.equals("Active", dev.status)
        assert.equals("platform1", dev.platform)
      end
      assert.equals(cjson.null, d.dev3.platform)
    end)

    it("test_load_device_stacks: the members of a virtual chassis, its master first", function()
      local d = nautobot_side().device
      for i, name in ipairs { "stack1", "stack2", "stack3" } do
        local dev = d[name]
        assert.is_not_nil(dev, name)
        assert.equals(i == 1, dev.vc_master, name)
        assert.equals("dev_type2", dev.model)
        assert.equals("test", dev.role)
        assert.equals("stack", dev.location_name)
        assert.equals("man2", dev.vendor)
        assert.equals("Active", dev.status)
        assert.equals(i, dev.vc_priority)
        assert.equals(i, dev.vc_position)
        assert.equals("stack1", dev.vc_name)
      end
    end)
  end)

  -- {====== beyond the fixtures ======}

  describe("snapshots SSoT's adapter has not seen", function()
    -- the diff's creates compared with what the generator says SSoT loads
    local function same_load(g, expected, what)
      for _, model in ipairs { "location", "device", "interface", "vlan" } do
        assert.same(keys(expected[model]), keys(g[model]), what .. ": " .. model)
        for uid, want in pairs(expected[model]) do
          for k, v in pairs(want) do
            assert.same(v, g[model][uid][k], fmt("%s: %s %s: %s", what, model, uid, k))
          end
        end
      end
    end

    for _, case in ipairs { { 1, 1 }, { 7, 2 }, { 23, 3 } } do
      it(fmt("a generated snapshot (seed %d, size %d): the records SSoT loads, the bad ones skipped and named",
             case[1], case[2]), function()
        local data, expected, skipped = fx.generate(case[1], case[2])
        local g = load(data)
        same_load(g, expected, "seed " .. case[1])
        local err = g._run.stderr
        assert.matches(fmt("%d source records skipped", skipped), g._run.stdout .. err, 1, true)
        -- the duplicate hostname: both devices named, the first kept
        local first = data.tables["inventory/devices"][1]
        assert.matches(fmt("Duplicate Device discovered: %s (serial %s, site %s) and %s (serial SNDUP", first.hostname,
                           first.sn, first.siteName, first.hostname), err, 1, true)
        assert.matches("Device lost-1 (serial SNLOST, site NOWHERE): its site NOWHERE is not among the snapshot's sites",
                       err, 1, true)
        assert.matches("Device nil (serial SNNONAME", err, 1, true)
        assert.matches("Not syncing VLAN, NAME: bad5000 due to invalid VLAN ID: 5000.", err, 1, true)
        assert.matches("its MAC address not-a-mac is not one, so it is skipped", err, 1, true)
        assert.matches("Duplicate Interface discovered: Gi0/1 of", err, 1, true)
        assert.matches(fmt("Interface Gi8/8 of device %s: its address 10.300.1.1 is not an IPv4 address",
                           data.tables["inventory/devices"][2].hostname), err, 1, true)
      end)
    end
  end)

  -- {====== the API: paging, snapshots, the token ======}

  describe("IP Fabric's API", function()
    local PAGED = [[
local ms = require "moonsync"
local ipfabric = require "moonsync.adapters.ipfabric"
local m = ipfabric.models {}
return ms.job {
  source = function()
    return m.IPFabric:new { url = os.getenv("IPFABRIC_URL"), token_env = "IPFABRIC_TOKEN",
                            page_size = tonumber(os.getenv("PAGE")) }:load()
  end,
  target = function() return m.Nautobot:new { url = os.getenv("NAUTOBOT_URL"), token_env = "NAUTOBOT_TOKEN" }:load() end,
  permissions = { env = { "IPFABRIC_URL", "IPFABRIC_TOKEN", "NAUTOBOT_URL", "NAUTOBOT_TOKEN", "PAGE" },
                  net = { "${IPFABRIC_URL}", "${NAUTOBOT_URL}" } },
}
]]

    it("reads a table page by page (pagination limit and start) and gets every row", function()
      local job = h.write(dir .. "/paged.lua", PAGED)
      local data = fx.generate(11, 3)
      local s = fx.serve(dir, data)
      later(s.stop)
      local function run(page)
        local e = env(s)
        e.PAGE = tostring(page)
        local before = cjson.decode(h.fetch(s.url .. "/__stats")).tables
        local r = h.run_env(e, "diff", job, "--format", "json")
        assert.equals(2, r.code, r.stderr)
        local after = cjson.decode(h.fetch(s.url .. "/__stats")).tables
        local reads = {}
        for t, n in pairs(after) do reads[t] = n - (before[t] or 0) end
        local uids = {}
        for _, c in ipairs(cjson.decode(r.stdout).changes) do uids[c.model .. " " .. c.uid] = true end
        return uids, reads
      end
      local whole, one_each = run(1000)
      local paged, reads = run(5)
      assert.same(whole, paged)
      for t, rows in pairs(data.tables) do
        assert.equals(1, one_each[t], t)
        assert.equals(math.max(1, math.ceil(#rows / 5)), reads[t], t)
      end
      assert.is_true(reads["inventory/interfaces"] > 5)
    end)

    it("reads the latest loaded snapshot unless told another, by id, name, $prev or $lastLocked", function()
      local data = fx.data()
      local old = "11111111-1111-4111-8111-111111111111"
      local newer = "22222222-2222-4222-8222-222222222222"
      data.snapshots = {
        { id = old, name = "monday", state = "loaded", tsEnd = 1000, locked = true },
        data.snapshots[1],   -- the fixtures', loaded, tsEnd 1733300000000
        { id = newer, name = "running", state = "unloaded", tsEnd = 1733400000000 },
      }
      local monday = {}
      for k, v in pairs(data.tables) do monday[k] = v end
      monday["inventory/sites"] = { { id = "1", siteName = "MONDAY-ONLY" } }
      data.snapshotTables = { [old] = monday }
      local s = fx.serve(dir, data)
      later(s.stop)
      local function sites(snapshot)
        local r = h.run_env(env(s, { snapshot = snapshot }), "diff", JOB, "--format", "json")
        if r.code ~= 2 then return nil, r.stderr end
        local out = {}
        for _, c in ipairs(cjson.decode(r.stdout).changes) do if c.model == "location" then out[c.uid] = true end end
        return out
      end
      assert.is_true(sites("$last")["NYC-LEAF-01"])
      assert.same({ ["MONDAY-ONLY"] = true }, sites("$prev"))
      assert.same({ ["MONDAY-ONLY"] = true }, sites("$lastLocked"))
      assert.same({ ["MONDAY-ONLY"] = true }, sites(old))
      assert.same({ ["MONDAY-ONLY"] = true }, sites("monday"))
      local none, err = sites("running")
      assert.is_nil(none)
      assert.matches("IP Fabric snapshot running is not loaded (state unloaded)", err, 1, true)
      none, err = sites("no-such-snapshot")
      assert.is_nil(none)
      assert.matches("IP Fabric has no snapshot no-such-snapshot", err, 1, true)
    end)

    it("from API 7.3 on, an interface's address may come as loginIpv4", function()
      local data = fx.data()
      data.version = { apiVersion = "v7.3", releaseVersion = "7.3.1" }
      for _, i in ipairs(data.tables["inventory/interfaces"]) do
        if i.intName == "Gi4" then i.primaryIp, i.loginIpv4 = cjson.null, "10.10.0.10" end
      end
      local g = load(data)
      assert.equals("10.10.0.10", g.interface["Gi4__jcy-rtr-02"].ip_address)
      assert.equals("255.255.255.0", g.interface["Gi4__jcy-rtr-02"].subnet_mask)
      -- (an older API has no such column: the stand-in refuses it, so it is asked for only from 7.3)
      local old = load(fx.data())
      assert.equals(0, old._stats.errors)
    end)

    it("sends the token as X-API-Token; a wrong one is an error that never shows it", function()
      local s = fx.serve(dir, fx.data())
      later(s.stop)
      local e = env(s)
      e.IPFABRIC_TOKEN = "wrong-token-do-not-print-0123456789"
      local r = h.run_env(e, "diff", JOB)
      assert.equals(1, r.code, r.stdout .. r.stderr)
      assert.matches("HTTP 401", r.stderr, 1, true)
      assert.not_matches("wrong%-token%-do%-not%-print", r.stdout .. r.stderr)
    end)

    it("a table the API fails to answer stops the load, naming it, and nothing is written", function()
      local s = fx.serve(dir, fx.data(), "--fail", "inventory/interfaces")
      later(s.stop)
      local before = cjson.decode(h.fetch(nb.url .. "/__stats"))
      local r = h.run_env(env(s), "sync", JOB, "--no-progress")
      assert.equals(1, r.code, r.stdout .. r.stderr)
      assert.matches("IP Fabric: reading inventory/interfaces: HTTP 500", r.stderr, 1, true)
      local after = cjson.decode(h.fetch(nb.url .. "/__stats"))
      assert.equals(before.POST or 0, after.POST or 0)
    end)
  end)

  -- {====== writing: safe delete mode, tagged only, one location, end to end ======}

  describe("the job, end to end", function()
    local schema_file
    setup(function()
      if not have then return end
      schema_file = h.write(dir .. "/nautobot-openapi.json",
                            assert(loadfile(h.root .. "/adapters/nautobot_openapi.lua"))())
    end)
    local function probe() return h.nautobot_probe(TOKEN) end
    local function api(url, method, path, body) return h.api(url, TOKEN, method, path, body) end
    local function one(url, kind, query) return h.api_one(url, TOKEN, kind, query) end
    local function tags(rec)
      local out = {}
      for _, t in ipairs(rec.tags or {}) do out[t.name] = true end
      return out
    end

    -- a sync, then a diff that finds nothing; no request the schema refuses
    local function converge(e, n, prism, what) return h.converge(e, JOB, n, prism, what) end

    local function without(list, pred)
      local out = {}
      for _, v in ipairs(list) do if not pred(v) then out[#out + 1] = v end end
      return out
    end

    it("the fixtures' snapshot, into an empty Nautobot and again with drift", function()
      local n = h.server("nautobot_standin", "--token", TOKEN, "--seed", SEED)
      later(n.stop)
      local prism = h.prism(schema_file, n.url, dir .. "/prism-ipfabric.log", probe())
      later(prism.stop)
      local data = fx.data()
      local s = fx.serve(dir, data)
      later(s.stop)
      local e = env(s, {}, prism)
      local r = converge(e, n, prism, "into an empty Nautobot")
      assert.matches("sync complete: 60 created, 0 updated, 0 deleted, 0 failed", r.stdout, 1, true)
      -- what SSoT writes: its tag and custom fields, the addresses, the stack
      local rtr = one(n.url, "dcim/devices", "name=jcy-rtr-02&depth=2&exclude_m2m=false")
      assert.is_true(tags(rtr)["SSoT Synced from IPFabric"])
      assert.equals("172.18.0.5", rtr.primary_ip4 and rtr.primary_ip4.host)
      assert.equals("Network Device", rtr.role.name)
      assert.equals("CSR1000V", rtr.device_type.model)
      assert.equals("cisco_ios", one(n.url, "dcim/platforms", "name=ios-xe").network_driver)
      local gi4 = one(n.url, "ipam/ip-addresses", "host=10.10.0.10")
      assert.equals(24, gi4.mask_length)
      local nets = {}
      for _, p in ipairs(api(n.url, "GET", "/api/ipam/prefixes/?limit=100").results) do nets[p.prefix] = true end
      assert.is_true(nets["10.10.0.0/24"])
      assert.equals("55468036", one(n.url, "dcim/locations", "name=NYC-RTR-01").custom_fields.ipfabric_site_id)
      local vc = one(n.url, "dcim/virtual-chassis", "name=stack&depth=1")
      assert.equals("stack", vc.master and vc.master.name)
      assert.equals(4, one(n.url, "dcim/devices", "name=stack-member4").vc_position)
      s.stop()

      -- drift in Nautobot, changes in IP Fabric
      local leaf = one(n.url, "dcim/devices", "name=nyc-leaf-01")
      local et15 = one(n.url, "dcim/interfaces", "name=Et15&device=" .. leaf.id)
      api(n.url, "PATCH", "/api/dcim/interfaces/" .. et15.id .. "/", { mtu = 1400, description = "by hand" })
      api(n.url, "PATCH", "/api/dcim/devices/" .. leaf.id .. "/", { serial = "CHANGED" })
      local ipip = one(n.url, "dcim/interfaces", "name=ipip")
      api(n.url, "DELETE", "/api/dcim/interfaces/" .. ipip.id .. "/")
      local tables = data.tables
      -- jcy-rtr-01 has a new login address; a VLAN is new; the juniper router's eth1 lost its address
      for _, d in ipairs(tables["inventory/devices"]) do
        if d.hostname == "jcy-rtr-01" then d.loginIp = "172.18.1.3" end
      end
      tables["vlan/site-summary"][#tables["vlan/site-summary"] + 1] =
        { siteName = "NYC-LEAF-01", vlanName = "voice", vlanId = 30, dscr = "phones" }
      for _, i in ipairs(tables["inventory/interfaces"]) do
        if i.intName == "eth1" then i.primaryIp = cjson.null end
      end
      s = fx.serve(dir, data)
      later(s.stop)
      e.IPFABRIC_URL = s.url
      r = converge(e, n, prism, "with drift")
      assert.matches("sync complete: %d+ created, %d+ updated, 0 deleted, 0 failed", r.stdout)
      local rtr1 = one(n.url, "dcim/devices", "name=jcy-rtr-01&depth=1")
      assert.equals("172.18.1.3", rtr1.primary_ip4 and rtr1.primary_ip4.host)
      local back = one(n.url, "dcim/interfaces", "name=Et15&device=" .. leaf.id)
      assert.equals(9214, back.mtu)
      assert.equals("", back.description)
      assert.equals("5254.0029.fbf2", one(n.url, "dcim/devices", "name=nyc-leaf-01").serial)
      -- eth1's address is no longer assigned to it, and still in IPAM
      local eth1 = one(n.url, "dcim/interfaces", "name=eth1")
      assert.equals(0, api(n.url, "GET", "/api/ipam/ip-address-to-interface/?interface=" .. eth1.id).count)
      assert.equals(1, api(n.url, "GET", "/api/ipam/ip-addresses/?host=10.10.0.11").count)
    end)

    it("safe delete mode: what left IP Fabric is marked, not deleted, and comes back when it returns", function()
      local n = h.server("nautobot_standin", "--token", TOKEN, "--seed", SEED)
      later(n.stop)
      local data = fx.data()
      local s = fx.serve(dir, data)
      later(s.stop)
      local e = env(s, {}, n)
      converge(e, n, nil, "into an empty Nautobot")
      s.stop()
      -- nyc-spine-02 and a VLAN leave IP Fabric
      local gone = fx.data()
      gone.tables["inventory/devices"] = without(gone.tables["inventory/devices"],
                                                function(d) return d.hostname == "nyc-spine-02" end)
      gone.tables["vlan/site-summary"] = without(gone.tables["vlan/site-summary"],
                                                function(v) return v.vlanName == "vlan109" end)
      s = fx.serve(dir, gone)
      later(s.stop)
      e.IPFABRIC_URL = s.url
      local r = converge(e, n, nil, "after they left")
      assert.matches("sync complete: 0 created, 0 updated, 3 deleted, 0 failed", r.stdout, 1, true)
      local spine = one(n.url, "dcim/devices", "name=nyc-spine-02&depth=1&exclude_m2m=false")
      assert.equals("Offline", spine.status.name)
      assert.is_true(tags(spine)["SSoT Safe Delete"])
      local addr = one(n.url, "ipam/ip-addresses", "host=172.18.0.22&depth=1&exclude_m2m=false")
      assert.equals("Deprecated", addr.status.name)
      assert.is_true(tags(addr)["SSoT Safe Delete"])
      local vlan = one(n.url, "ipam/vlans", "name=vlan109&depth=1&exclude_m2m=false")
      assert.equals("Deprecated", vlan.status.name)
      s.stop()
      -- back in IP Fabric
      s = fx.serve(dir, data)
      later(s.stop)
      e.IPFABRIC_URL = s.url
      converge(e, n, nil, "once they are back")
      spine = one(n.url, "dcim/devices", "name=nyc-spine-02&depth=1&exclude_m2m=false")
      assert.equals("Active", spine.status.name)
      assert.is_nil(tags(spine)["SSoT Safe Delete"])
      assert.is_true(tags(spine)["SSoT Synced from IPFabric"])
      addr = one(n.url, "ipam/ip-addresses", "host=172.18.0.22&depth=1&exclude_m2m=false")
      assert.equals("Active", addr.status.name)
      assert.is_nil(tags(addr)["SSoT Safe Delete"])
      assert.equals("Active", one(n.url, "ipam/vlans", "name=vlan109&depth=1").status.name)
      local pseudo = one(n.url, "dcim/interfaces", "name=pseudo_mgmt&device=" .. spine.id .. "&exclude_m2m=false&depth=1")
      assert.is_nil(tags(pseudo)["SSoT Safe Delete"])
      s.stop()
      -- with safe delete mode off, a device that leaves is deleted
      s = fx.serve(dir, gone)
      later(s.stop)
      e = env(s, { safe_delete_mode = false }, n)
      r = converge(e, n, nil, "safe delete mode off")
      assert.matches("3 deleted, 0 failed", r.stdout, 1, true)
      assert.equals(0, api(n.url, "GET", "/api/dcim/devices/?name=nyc-spine-02").count)
    end)

    it("Sync Tagged Only: what the job did not write is never deleted; tagged_only off deletes it", function()
      local n = h.server("nautobot_standin", "--token", TOKEN, "--seed", SEED)
      later(n.stop)
      local s = fx.serve(dir, fx.data())
      later(s.stop)
      -- another system's location and device, and a location of one of IP Fabric's sites, all untagged
      api(n.url, "POST", "/api/dcim/locations/", { name = "other", location_type = { name = "Site" },
                                                   status = { name = "Active" } })
      api(n.url, "POST", "/api/dcim/locations/", { name = "NYC-RTR-01", location_type = { name = "Site" },
                                                   status = { name = "Active" } })
      api(n.url, "POST", "/api/dcim/manufacturers/", { name = "Other" })
      api(n.url, "POST", "/api/dcim/device-types/", { model = "box", manufacturer = { name = "Other" } })
      api(n.url, "POST", "/api/extras/roles/", { name = "other", content_types = { "dcim.device" } })
      api(n.url, "POST", "/api/dcim/devices/", { name = "not-ipfabric", location = { name = "NYC-LEAF-01" },
        device_type = { model = "box" }, role = { name = "other" }, status = { name = "Active" } })
      local e = env(s, {}, n)
      -- (the device sits at a location the job creates: make it first)
      api(n.url, "POST", "/api/dcim/locations/", { name = "NYC-LEAF-01", location_type = { name = "Site" },
                                                   status = { name = "Active" } })
      api(n.url, "POST", "/api/dcim/devices/", { name = "not-ipfabric", location = { name = "NYC-LEAF-01" },
        device_type = { model = "box" }, role = { name = "other" }, status = { name = "Active" } })
      local r = converge(e, n, nil, "tagged only")
      assert.matches("0 deleted, 0 failed", r.stdout, 1, true)
      assert.equals("Active", one(n.url, "dcim/devices", "name=not-ipfabric&depth=1").status.name)
      assert.equals(1, api(n.url, "GET", "/api/dcim/locations/?name=other").count)
      -- the site's location is the existing one, not a second
      assert.equals(1, api(n.url, "GET", "/api/dcim/locations/?name=NYC-RTR-01").count)
      -- tagged only off: the job owns every location and device it reads
      e = env(s, { sync_ipfabric_tagged_only = false }, n)
      r = converge(e, n, nil, "tagged only off")
      assert.matches("sync complete: 0 created, %d+ updated, 2 deleted, 0 failed", r.stdout)
      local other = one(n.url, "dcim/devices", "name=not-ipfabric&depth=1&exclude_m2m=false")
      assert.equals("Offline", other.status.name)
      assert.is_true(tags(other)["SSoT Safe Delete"])
    end)

    it("one location: a location filter reads and writes that location alone", function()
      local n = h.server("nautobot_standin", "--token", TOKEN, "--seed", SEED)
      later(n.stop)
      local s = fx.serve(dir, fx.data())
      later(s.stop)
      converge(env(s, {}, n), n, nil, "everything")
      -- IP Fabric loses every site; a run for NYC-LEAF-01 alone touches nothing else
      local empty = fx.data()
      empty.tables["vlan/site-summary"] = without(empty.tables["vlan/site-summary"],
        function(v) return v.siteName == "NYC-LEAF-01" end)
      local s2 = fx.serve(dir, empty)
      later(s2.stop)
      local e = env(s2, { location_filter = "NYC-LEAF-01" }, n)
      local d = h.run_env(e, "diff", JOB, "--format", "json")
      assert.equals(2, d.code, d.stderr)
      local changes = cjson.decode(d.stdout).changes
      assert.equals(1, #changes)
      assert.equals("vlan", changes[1].model)
      assert.equals("default__NYC-LEAF-01", changes[1].uid)
      assert.equals("delete", changes[1].action)
      -- the IP Fabric reads were filtered to the site
      local st = cjson.decode(h.fetch(s2.url .. "/__stats"))
      assert.is_true(st.rows < 30, cjson.encode(st))
    end)

    it("an address Nautobot cannot take fails its interface alone; the rest is written", function()
      local n = h.server("nautobot_standin", "--token", TOKEN, "--seed", SEED)
      later(n.stop)
      -- a source that is not IP Fabric's loader: an interface address no loader would let through
      local job = h.write(dir .. "/bad-address.lua", [[
local ms = require "moonsync"
local ipfabric = require "moonsync.adapters.ipfabric"
local m = ipfabric.models {}
local Src = ms.adapter "src" { models = m.list, top_level = m.top_level, load = function(self)
  local loc = self:new_record("location", { name = "ams", site_id = "1", status = "Active" })
  for _, t in ipairs { "SSoT Synced from IPFabric", "SSoT Safe Delete" } do self:new_record("tag", { name = t }) end
  self:new_record("manufacturer", { name = "Cisco" })
  self:new_record("devicetype", { model = "X1", manufacturer = "Cisco" })
  self:new_record("role", { name = "router" })
  local dev = self:new_record("device", { name = "r1", location_name = "ams", model = "X1", vendor = "Cisco",
    serial_number = "S1", role = "router", status = "Active", platform = ms.null, vc_name = ms.null,
    vc_priority = ms.null, vc_position = ms.null, vc_master = ms.null })
  loc:add_child(dev)
  for i, ip in ipairs { "10.9.9.1", "10.999.9.2" } do
    dev:add_child(self:new_record("interface", { name = "Gi" .. i, device_name = "r1", description = ms.null,
      enabled = true, mac_address = "00:00:00:00:00:01", mtu = 1500, type = "1000base-t", mgmt_only = false,
      ip_address = ip, subnet_mask = "255.255.255.0", ip_is_primary = false, status = "Active" }))
  end
end }
return ms.job {
  source = function() return Src:new():load() end,
  target = function() return m.Nautobot:new { url = os.getenv("NAUTOBOT_URL"), token_env = "NAUTOBOT_TOKEN" }:load() end,
  permissions = { env = { "NAUTOBOT_URL", "NAUTOBOT_TOKEN" }, net = { "${NAUTOBOT_URL}" } },
}
]])
      local r = h.run_env({ NAUTOBOT_URL = n.url, NAUTOBOT_TOKEN = TOKEN, MOONSYNC_HISTORY = "off" }, "sync", job,
                          "--no-progress")
      assert.equals(1, r.code, r.stdout .. r.stderr)
      assert.matches("interface Gi2__r1: its address 10.999.9.2 is not an IPv4 address", r.stdout .. r.stderr, 1, true)
      assert.matches("1 failed", r.stdout .. r.stderr, 1, true)
      -- the other interface has its address
      assert.equals(1, api(n.url, "GET", "/api/ipam/ip-addresses/?host=10.9.9.1").count)
      assert.equals(2, api(n.url, "GET", "/api/dcim/interfaces/?limit=10").count)
    end)

    it("a generated snapshot, into an empty Nautobot and again once it changed", function()
      local n = h.server("nautobot_standin", "--token", TOKEN, "--seed", SEED)
      later(n.stop)
      local prism = h.prism(schema_file, n.url, dir .. "/prism-generated.log", probe())
      later(prism.stop)
      local data = fx.generate(5, 2)
      local s = fx.serve(dir, data)
      later(s.stop)
      local e = env(s, {}, prism)
      converge(e, n, prism, "a generated snapshot")
      s.stop()
      -- a device leaves, an interface gets a managed network, a stack loses a member
      local t = data.tables
      table.remove(t["inventory/devices"], 3)
      for _, i in ipairs(t["inventory/interfaces"]) do
        if i.primaryIp and i.primaryIp ~= cjson.null then
          t["addressing/managed-devs"][#t["addressing/managed-devs"] + 1] =
            { sn = i.sn, intName = i.intName, ip = i.primaryIp, net = i.primaryIp:gsub("%.%d+$", ".0") .. "/25",
              type = "primary" }
          break
        end
      end
      if #t["platforms/stack/members"] > 2 then table.remove(t["platforms/stack/members"]) end
      s = fx.serve(dir, data)
      later(s.stop)
      e.IPFABRIC_URL = s.url
      local r = converge(e, n, prism, "the generated snapshot, changed")
      assert.matches("sync complete: %d+ created, %d+ updated, %d+ deleted, 0 failed", r.stdout)
    end)
  end)
end)
