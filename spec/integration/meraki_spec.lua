-- The Meraki integration held to Nautobot SSoT's own tests: every load
-- assertion of nautobot_ssot/tests/meraki/test_adapters_meraki.py, with
-- the settings each test sets, run as `moonsync diff
-- examples/ssot-meraki/job.lua --format json` against an empty Nautobot
-- stand-in, the Meraki stand-in (spec/servers/meraki_standin.js) serving
-- the test's fixtures over HTTP. What the diff creates is what the adapter
-- loaded. Then what SSoT breaks on, the API's paging and rate limit, and
-- the Nautobot side (test_adapters_nautobot.py).
local h = require "helpers"
local cjson = require "cjson"
local fx = require "meraki_fixtures"

local fmt = string.format
local JOB = h.root .. "/examples/ssot-meraki/job.lua"
local TOKEN = "0123456789abcdef0123456789abcdef01234567"
local SEED = h.root .. "/examples/ssot-meraki/nautobot-seed.json"

local function set(list)
  local t = {}
  for _, v in ipairs(list) do t[v] = true end
  return t
end

local function fixture(name) return fx.fixture(name) end

-- what a test starts is stopped when it ends
local later = h.later(function(fn) finally(fn) end)

describe("Meraki integration #meraki", function()
  local have = h.have_node()
  local dir, nb, nb_parent

  setup(function()
    if not have then return end
    dir = h.tmpdir()
    nb = h.server("nautobot_standin", "--token", TOKEN, "--seed", SEED)
    -- a Nautobot whose Site type has a parent type (test_load_networks_with_parent_loctype_and_location)
    local seed = cjson.decode(h.read(SEED))
    local parts = {}
    -- (in the order the stand-in writes them)
    for _, kind in ipairs { "extras/statuses", "dcim/manufacturers", "dcim/platforms" } do
      parts[#parts + 1] = fmt("%q: %s", kind, cjson.encode(seed[kind]))
    end
    parts[#parts + 1] = '"dcim/location-types": [{"name": "Region", "nestable": true}, {"name": "Site", '
      .. '"parent": {"name": "Region"}, "content_types": ["dcim.device", "ipam.prefix"]}]'
    parts[#parts + 1] = '"dcim/locations": [{"name": "US", "location_type": {"name": "Region"}, '
      .. '"status": {"name": "Active"}}]'
    h.write(dir .. "/parent-seed.json", "{" .. table.concat(parts, ", ") .. "}")
    nb_parent = h.server("nautobot_standin", "--token", TOKEN, "--seed", dir .. "/parent-seed.json")
  end)
  teardown(function()
    if nb then nb.stop() end
    if nb_parent then nb_parent.stop() end
    h.cleanup()
  end)
  before_each(function()
    if not have then pending("needs Node.js: run scripts/install-deps") end
  end)

  local function env(meraki, settings, nautobot)
    return { MERAKI_URL = meraki.url .. "/api/v1", MERAKI_API_KEY = fx.KEY, MERAKI_ORG_ID = fx.ORG,
             NAUTOBOT_URL = (nautobot or nb).url, NAUTOBOT_TOKEN = TOKEN, MOONSYNC_HISTORY = "off",
             MERAKI_SETTINGS = cjson.encode(settings or {}) }
  end

  -- SSoT's test settings (setUp), with `over` on top
  local function settings(over)
    local s = { hostname_mapping = {}, devicetype_mapping = { { "MS", "Switch" }, { "MX", "Firewall" } },
                network_loctype = "Site", location_map = {} }
    for k, v in pairs(over or {}) do s[k] = v end
    return s
  end

  -- What the adapter loads from `data`: the diff's creates against the
  -- empty Nautobot, {model = {uid = attrs}}, with the run and the stand-in.
  local function load(data, over, nautobot, ...)
    local m = fx.serve(dir, data, ...)
    later(m.stop)
    local r = h.run_env(env(m, settings(over), nautobot), "diff", JOB, "--format", "json")
    assert.is_true(r.code == 0 or r.code == 2, r.stderr)
    local out = h.autotable()
    for _, c in ipairs(cjson.decode(r.stdout).changes) do
      assert.equals("create", c.action, c.model .. " " .. c.uid)
      local f = {}
      for k, v in pairs(c.keys) do f[k] = v end
      for k, v in pairs(c.attrs) do f[k] = v end
      out[c.model][c.uid] = f
    end
    out._run, out._stats = r, cjson.decode(h.fetch(m.url .. "/__stats"))
    return out
  end

  local function uids(t)
    local s = {}
    for k in pairs(t) do s[k] = true end
    return s
  end

  -- {====== test_adapters_meraki.py ======}

  it("test_data_loading: the ports, prefixes and IP addresses of the fixtures' organization", function()
    local got = load(fx.data())
    local devices = fixture "get_org_devices"
    local expected = {}
    for _, dev in ipairs(devices) do
      local m = dev.model
      if m:match("^MX") or m:match("^MG") or m:match("^MR") or m:match("^MS") or m:match("^Z") then
        expected["wan1__" .. dev.name], expected["wan2__" .. dev.name] = true, true
      end
      if m:match("^MR") or m:match("^CW") then expected["man1__" .. dev.name] = true end
    end
    for _, p in ipairs(fixture "get_appliance_switchports") do
      for _, dev in ipairs(devices) do
        if dev.model:match("^MX") or dev.model:match("^MG") or dev.model:match("^Z") then
          expected[math.tointeger(p.number) .. "__" .. dev.name] = true
        end
      end
    end
    for _, sw in ipairs(fixture "get_org_switchports_sent") do
      for _, p in ipairs(sw.ports) do expected[p.portId .. "__Lab Switch"] = true end
    end
    assert.same(expected, uids(got.port))
    assert.same(set { "10.1.15.0/24__Global", "10.5.52.3/32__Global",
                      "2001:116:4811:7d51:b7e:a1fa:edbe:4f2c/128__Global" }, uids(got.prefix))
    assert.same(set { "10.1.15.10__None", "10.1.15.34__None", "10.5.52.3__None",
                      "2001:116:4811:7d51:b7e:a1fa:edbe:4f2c__None" }, uids(got.ipaddress))
    -- a firewall address seen on two firewalls is no "already loaded" error
    assert.not_matches("already loaded", got._run.stderr, 1, true)
  end)

  it("test_load_networks: one network per Meraki network, without a parent", function()
    local got = load(fx.data())
    local expected = {}
    for _, net in ipairs(fixture "get_org_networks_sent") do expected[net.name .. "__None"] = true end
    assert.same(expected, uids(got.network))
    assert.same({ name = "Lab", parent = cjson.null, timezone = "US/Eastern", notes = "Lab", tags = { "Lab" },
                  tenant = cjson.null }, got.network["Lab__None"])
  end)

  it("test_load_networks_empty: no networks", function()
    local got = load(fx.data { networks = {}, devices = {} })
    assert.same({}, uids(got.network))
  end)

  it("test_load_networks_with_parent_loctype_and_location: the parent location of every network", function()
    local got = load(fx.data(), { parent_location = "US" }, nb_parent)
    local expected = {}
    for _, net in ipairs(fixture "get_org_networks_sent") do expected[net.name .. "__US"] = true end
    assert.same(expected, uids(got.network))
  end)

  it("test_load_networks_with_location_map: networks renamed and parented by the location map", function()
    local got = load(fx.data(), { parent_location = "US", location_map = {
      Lab = { name = "Chicago", parent = "US" }, HQ = { name = "New York", parent = "US" } } }, nb_parent)
    assert.same(set { "Chicago__US", "New York__US" }, uids(got.network))
  end)

  it("validate_settings: a network type with a parent needs a parent location", function()
    local m = fx.serve(dir, fx.data())
    later(m.stop)
    local r = h.run_env(env(m, settings(), nb_parent), "diff", JOB)
    assert.equals(1, r.code)
    assert.matches("Site requires a parent Location be provided when creating Site Locations", r.stderr, 1, true)
  end)

  it("test_load_devices_success: every device, and the ports of firewalls, switches and APs", function()
    local got = load(fx.data(), { devicetype_mapping = {} })
    local expected = {}
    for _, dev in ipairs(fixture "get_org_devices") do expected[dev.name] = true end
    assert.same(expected, uids(got.device))
    assert.truthy(got.port["3__Lab01"])          -- a firewall's LAN port
    assert.truthy(got.port["1__Lab Switch"])     -- a switch port
    assert.truthy(got.port["man1__HQ AP"])       -- an AP's uplink
    assert.equals("Unknown", got.device["Lab01"].role)
  end)

  it("test_load_devices_missing_hostname: a device without a name is skipped with a warning", function()
    local got = load(fx.data { devices = { { name = "", serial = "ABCD-EF12-3456" } } })
    assert.same({}, uids(got.device))
    assert.matches("Device serial ABCD-EF12-3456 is missing hostname so will be skipped.", got._run.stderr, 1, true)
    assert.matches("1 source record skipped", got._run.stderr, 1, true)
  end)

  it("keeps the warnings and the skipped count in the history and the report", function()
    local m = fx.serve(dir, fx.data { devices = { { name = "", serial = "ABCD-EF12-3456" } } })
    later(m.stop)
    local e = env(m, settings())
    e.MOONSYNC_HISTORY = dir .. "/history.sqlite"
    local r = h.run_env(e, "diff", JOB, "--report", dir .. "/warned.html")
    assert.equals(2, r.code, r.stderr)   -- (its networks are to create)
    local show = h.run_env(e, "history", "show", "1")
    assert.matches("warnings: 1 (1 source records skipped)", show.stdout, 1, true)
    assert.matches("meraki: Device serial ABCD-EF12-3456 is missing hostname so will be skipped.", show.stdout, 1, true)
    local html = h.read(dir .. "/warned.html")
    assert.matches('"skipped":true', html, 1, true)
    assert.matches("Device serial ABCD-EF12-3456 is missing hostname", html, 1, true)
  end)

  it("test_duplicate_device_loading_error: each device listed twice is loaded once, with a warning", function()
    local devices = fixture "get_org_devices"
    local twice = {}
    for _, d in ipairs(devices) do twice[#twice + 1] = d end
    for _, d in ipairs(fixture "get_org_devices") do twice[#twice + 1] = d end
    local got = load(fx.data { devices = twice })
    for _, name in ipairs { "Lab01", "HQ01", "Lab Switch", "HQ AP" } do
      assert.truthy(got.device[name])
      assert.matches("Duplicate device " .. name .. " found", got._run.stderr, 1, true)
    end
  end)

  it("test_load_devices_with_hostname_mapping: the role from the first matching hostname regex", function()
    local got = load(fx.data { devices = { { name = "test.switch.net", serial = "ABCD-EF12-3456",
      networkId = "H_203630551508078460", model = "MS225-24", notes = "Lab switch",
      firmware = "switch-15-21-1" } } }, { debug = true, hostname_mapping = { { ".*switch.*", "Switch" } } })
    assert.equals("Switch", got.device["test.switch.net"].role)
    assert.matches("Parsing hostname for device test.switch.net to determine role.", got._run.stderr, 1, true)
  end)

  it("test_load_devices_with_devicetype_mapping: the role from the device model", function()
    local got = load(fx.data { devices = { { name = "HQ AP", serial = "L6XI-2BIN-EUTI",
      networkId = "L_165471703274884707", model = "MR42", notes = "", firmware = "wireless-29-5-1" } } },
      { debug = true, devicetype_mapping = { { "MR", "AP" } } })
    assert.equals("AP", got.device["HQ AP"].role)
    assert.matches("Parsing device model for device HQ AP to determine role.", got._run.stderr, 1, true)
  end)

  local AP = { name = "HQ AP", serial = "L6XI-2BIN-EUTI", networkId = "L_165471703274884707", model = "MR42",
               notes = "", firmware = "wireless-29-5-1", lanIp = "10.5.52.3" }

  it("test_load_ap_uplink_ports_success_without_prefix: an uplink address outside any prefix is a /32", function()
    local up = fixture "get_org_uplink_addresses_by_device"
    up[1].uplinks[1].addresses = { { protocol = "ipv4", address = "10.5.52.3" } }
    local got = load(fx.data { devices = { AP }, managementInterface = { ["*"] = {} }, uplinkAddresses = up })
    assert.same(set { "man1__HQ AP" }, uids(got.port))
    assert.same(set { "10.5.52.3__None" }, uids(got.ipaddress))
    assert.equals(32, got.ipaddress["10.5.52.3__None"].mask_length)
  end)

  it("test_load_ap_uplink_ports_success_with_prefix: an uplink address in the management prefix", function()
    local got = load(fx.data { devices = { AP }, managementInterface = { ["*"] = { man1 = {
      usingStaticIp = true, staticIp = "10.5.52.3", staticSubnetMask = "255.255.255.0" } } } })
    assert.same(set { "man1__HQ AP" }, uids(got.port))
    assert.same(set { "10.5.52.3__None", "2001:116:4811:7d51:b7e:a1fa:edbe:4f2c__None" }, uids(got.ipaddress))
    assert.equals(24, got.ipaddress["10.5.52.3__None"].mask_length)
    assert.equals("10.5.52.0/24", got.ipaddress["10.5.52.3__None"].prefix)
  end)

  local HQ_MX = { name = "HQ MX", serial = "V4GD-ABDP-YVCK", networkId = "L_165471703274884707", model = "MX400",
                  notes = "", firmware = "wired-16-16-9" }

  it("test_load_firewall_ports_pppoe_address_without_mask: a PPPoE address is a /32", function()
    local got = load(fx.data { devices = { HQ_MX }, managementInterface = { ["*"] = { wan1 = {} } },
      applianceUplinksSettings = { ["*"] = fixture "get_uplink_settings_pppoe_sent" },
      appliancePorts = { ["*"] = {} } })
    assert.same(set { "wan1__HQ MX" }, uids(got.port))
    assert.same(set { "1.6.8.10__None" }, uids(got.ipaddress))
    assert.same(set { "1.6.8.10/32__Global" }, uids(got.prefix))
  end)

  local HQ01 = fixture("get_org_devices")[2]
  local function firewall_alone(over)
    local d = fx.data { devices = { HQ01 }, managementInterface = { ["*"] = {} },
                        applianceUplinksSettings = { ["*"] = {} }, appliancePorts = { ["*"] = {} } }
    for k, v in pairs(over or {}) do d[k] = v end
    return d
  end

  it("test_load_firewall_ports_lan_svis_disabled: no LAN SVIs, and no VLAN calls", function()
    local got = load(firewall_alone(), { sync_firewall_lan_ips = false })
    assert.is_nil(got.port["Vlan1234__HQ01"])
    assert.is_nil(got.port["Vlan1__HQ01"])
    assert.is_nil(got._stats.paths["/networks/{id}/appliance/vlans/settings"])
  end)

  it("test_load_firewall_ports_vlan_svis: each VLAN's SVI, prefix and gateway address, not primary", function()
    local got = load(firewall_alone {
      applianceVlansSettings = { ["*"] = fixture "get_appliance_vlans_settings_true" },
      applianceVlans = { ["*"] = fixture "get_appliance_vlans" } }, { sync_firewall_lan_ips = true })
    assert.is_nil(got._stats.paths["/networks/{id}/appliance/singleLan"])
    assert.truthy(got.port["Vlan1234__HQ01"])
    assert.truthy(got.prefix["192.168.1.0/24__Global"])
    assert.truthy(got.ipaddress["192.168.1.2__None"])
    assert.is_false(got.ipassignment["192.168.1.2__HQ01__Global__Vlan1234"].primary)
  end)

  it("test_load_firewall_ports_single_lan_svi: the single LAN when VLANs are disabled", function()
    local got = load(firewall_alone {
      applianceVlansSettings = { ["*"] = fixture "get_appliance_vlans_settings_false" },
      applianceSingleLan = { ["*"] = fixture "get_appliance_single_lan" } }, { sync_firewall_lan_ips = true })
    assert.is_nil(got._stats.paths["/networks/{id}/appliance/vlans"])
    assert.truthy(got.port["Vlan1__HQ01"])
    assert.truthy(got.prefix["192.168.50.0/24__Global"])
    assert.truthy(got.ipaddress["192.168.50.2__None"])
    assert.is_false(got.ipassignment["192.168.50.2__HQ01__Global__Vlan1"].primary)
  end)

  local function dhcp_switch(over)
    local dev = fixture("get_org_devices_dhcp")
    local d = fx.data { devices = dev, networks = { { id = "L_628815097971621533", name = "HQ-SW-1",
                                                      timeZone = "US/Central", tags = {}, notes = "" } },
      uplinkAddresses = fixture "get_org_uplink_addresses_by_device_sw_dhcp",
      managementInterface = { ["*"] = fixture "get_management_ports_recv_dhcp" }, switchPortsBySwitch = {} }
    for k, v in pairs(over or {}) do d[k] = v end
    return d
  end

  it("test_load_switch_with_dhcp_mgmt_ip: a switch's management address from its uplinks", function()
    local got = load(dhcp_switch(), { allow_dhcp_mgmt_ips = true })
    assert.same(set { "wan1__HQ-SW-1", "man1__HQ-SW-1" }, uids(got.port))
    assert.same(set { "146.171.212.44__None" }, uids(got.ipaddress))
  end)

  it("test_default_location: every device at the default location, and no networks", function()
    local got = load(dhcp_switch(), { allow_dhcp_mgmt_ips = true, location = "default location" })
    local nets = {}
    for _, d in pairs(got.device) do nets[d.network] = true end
    assert.same(set { "default location" }, nets)
    assert.same({}, uids(got.network))
  end)

  it("test_device_status: the job's status for online devices", function()
    local got = load(fx.data { devices = { AP } }, { device_status = "Staged" })
    local st = {}
    for _, d in pairs(got.device) do st[d.status] = true end
    assert.same(set { "Staged" }, st)
  end)

  -- {====== where SSoT's adapter breaks ======}

  describe("sturdier than SSoT", function()
    it("skips a device record with no name key, naming its serial, and loads the rest", function()
      local devices = fixture "get_org_devices"
      devices[#devices + 1] = { serial = "Q2AA-BBBB-CCCC", networkId = "L_165471703274884707", model = "MR42",
                                firmware = "wireless-29-5-1" }
      local got = load(fx.data { devices = devices })
      assert.equals(4, #(function() local t = {} for k in pairs(got.device) do t[#t + 1] = k end return t end)())
      assert.matches("Device serial Q2AA-BBBB-CCCC is missing hostname so will be skipped.", got._run.stderr, 1, true)
    end)

    it("loads an AP whose uplink lists IPv6 before IPv4 (netutils' TypeError in SSoT)", function()
      local up = fixture "get_org_uplink_addresses_by_device"
      local a = up[1].uplinks[1].addresses
      a[1], a[2] = a[2], a[1]
      local got = load(fx.data { devices = { AP }, managementInterface = { ["*"] = {} }, uplinkAddresses = up })
      assert.same(set { "10.5.52.3__None", "2001:116:4811:7d51:b7e:a1fa:edbe:4f2c__None" }, uids(got.ipaddress))
      assert.equals(32, got.ipaddress["10.5.52.3__None"].mask_length)
      assert.same(set { "10.5.52.3/32__Global", "2001:116:4811:7d51:b7e:a1fa:edbe:4f2c/128__Global" }, uids(got.prefix))
    end)

    it("skips a device in a network the organization does not list, naming the serial and network", function()
      local devices = fixture "get_org_devices"
      devices[1].networkId = "L_999"
      local got = load(fx.data { devices = devices })
      assert.is_nil(got.device["Lab01"])
      assert.truthy(got.device["HQ01"])
      assert.matches("Device Lab01 (serial D7JB-OH13-QFAG, network L_999): its network L_999 is not among the "
                     .. "organization's, so it is skipped.", got._run.stderr, 1, true)
      assert.matches("1 source record skipped", got._run.stderr, 1, true)
    end)

    it("keeps the later of two devices with one name, as SSoT does, and names both", function()
      local devices = fixture "get_org_devices"
      local other = cjson.decode(cjson.encode(devices[1]))
      other.serial, other.notes = "Q2ZZ-ZZZZ-ZZZZ", "the later one"
      devices[#devices + 1] = other
      local got = load(fx.data { devices = devices })
      assert.equals("Q2ZZ-ZZZZ-ZZZZ", got.device["Lab01"].serial)
      assert.matches("Duplicate device Lab01 found (serial D7JB-OH13-QFAG, network H_203630551508078460 and "
                     .. "serial Q2ZZ-ZZZZ-ZZZZ, network H_203630551508078460)", got._run.stderr, 1, true)
    end)
  end)

  -- {====== the API: paging, the rate limit, errors ======}

  describe("the Dashboard API", function()
    -- an organization of n switches with `ports` ports each
    local function switches(n, ports)
      local devices, bySwitch, statuses = {}, {}, {}
      for i = 1, n do
        local serial = fmt("Q2SW-%04d-%04d", i // 10000, i % 10000)
        local name = fmt("sw-%04d", i)
        devices[i] = { name = name, serial = serial, networkId = "L_165471703274884707", model = "MS225-24",
                       notes = "", firmware = "switch-15-21-1" }
        statuses[i] = { name = name, serial = serial, status = i % 3 == 0 and "offline" or "online" }
        local list = {}
        for p = 1, ports do list[p] = { portId = tostring(p), enabled = true, type = "access" } end
        bySwitch[i] = { name = name, serial = serial, ports = list }
      end
      return fx.data { devices = devices, deviceStatuses = statuses, switchPortsBySwitch = bySwitch,
                       managementInterface = { ["*"] = {} } }
    end

    it("follows the Link header through every page (50 switches a page for switch ports)", function()
      local got = load(switches(120, 2))
      local n = 0
      for _ in pairs(got.device) do n = n + 1 end
      assert.equals(120, n)
      assert.truthy(got.port["2__sw-0120"])
      assert.equals("Offline", got.device["sw-0003"].status)
      assert.equals("Active", got.device["sw-0004"].status)
      assert.equals(3, got._stats.paths["/organizations/{id}/switch/ports/bySwitch"])
    end)

    it("waits out 429s as Retry-After says, losing no page", function()
      -- the organization allows 4 requests a second: the client's 10 a second are answered 429
      local got = load(switches(120, 1), nil, nil, "--rate", "4", "--burst", "0")
      assert.is_true(got._stats.throttled > 0)
      local n = 0
      for _ in pairs(got.port) do n = n + 1 end
      assert.equals(120, n)
    end)

    it("refuses a wrong API key, and an organization the key does not reach", function()
      local m = fx.serve(dir, fx.data())
      later(m.stop)
      local e = env(m, settings())
      e.MERAKI_API_KEY = "wrong"
      local r = h.run_env(e, "diff", JOB)
      assert.equals(1, r.code)
      assert.matches("HTTP 401", r.stderr, 1, true)
      e.MERAKI_API_KEY, e.MERAKI_ORG_ID = fx.KEY, "999"
      r = h.run_env(e, "diff", JOB)
      assert.equals(1, r.code)
      assert.matches("Meraki organization 999 not found among those the API key can reach", r.stderr, 1, true)
    end)

    it("fails the load, writing nothing, when a device's answer is a server error", function()
      -- (501: a server error the client does not retry)
      local m = fx.serve(dir, fx.data(), "--fail", "/devices/D7JB-OH13-QFAG/managementInterface")
      later(m.stop)
      local r = h.run_env(env(m, settings()), "sync", JOB, "--no-progress")
      assert.equals(1, r.code)
      assert.matches("HTTP 501", r.stderr, 1, true)
      assert.same(0, cjson.decode(h.fetch(nb.url .. "/__stats")).POST or 0)
    end)
  end)

  -- {====== the Nautobot side (test_adapters_nautobot.py) ======}

  it("test_adapters_nautobot test_data_loading: what the Nautobot side reads of SSoT's records", function()
    local seed = {
      { "extras/statuses", cjson.decode(h.read(SEED))["extras/statuses"] },
      { "extras/tags", { { name = "Test", content_types = { "dcim.location" } } } },
      { "dcim/location-types", { { name = "Region", nestable = true },
                                 { name = "Site", content_types = { "dcim.device", "ipam.prefix" } } } },
      { "dcim/locations", {
        { name = "Global Region", location_type = { name = "Region" }, status = { name = "Active" } },
        { name = "Lab", location_type = { name = "Site" }, status = { name = "Active" },
          time_zone = "America/Chicago", tags = { { name = "Test" } } } } },
      { "dcim/manufacturers", { { name = "Cisco Meraki" } } },
      { "dcim/platforms", { { name = "Cisco Meraki", manufacturer = { name = "Cisco Meraki" } } } },
      { "dcim/device-types", { { model = "MX84", manufacturer = { name = "Cisco Meraki" } } } },
      { "extras/roles", { { name = "CORE", content_types = { "dcim.device" } } } },
      { "dcim/devices", { { name = "Lab01", serial = "ABC-123-456", status = { name = "Active" },
        role = { name = "CORE" }, device_type = { model = "MX84" }, platform = { name = "Cisco Meraki" },
        location = { name = "Lab" }, custom_fields = { system_of_record = "Meraki SSoT", os_version = "10.1.1" } } } },
      { "dcim/interfaces", { { name = "wan1", device = { name = "Lab01" }, enabled = true, mode = "access",
        mgmt_only = true, type = "1000base-t", status = { name = "Active" },
        custom_fields = { system_of_record = "Meraki SSoT" } } } },
      { "ipam/namespaces", { { name = "Test" } } },
      { "ipam/prefixes", { { prefix = "10.0.0.0/24", namespace = { name = "Test" }, status = { name = "Active" },
        custom_fields = { system_of_record = "Meraki SSoT" } } } },
      { "ipam/prefix-location-assignments", { { prefix = { prefix = "10.0.0.0/24" }, location = { name = "Lab" } } } },
      { "ipam/ip-addresses", { { address = "10.0.0.1/24", namespace = { name = "Test" }, status = { name = "Active" },
        custom_fields = { system_of_record = "Meraki SSoT" } } } },
      { "ipam/ip-address-to-interface", { { ip_address = { host = "10.0.0.1" },
        interface = { name = "wan1", device = { name = "Lab01" } } } } },
    }
    -- and what is not SSoT's, which the Nautobot side reads past: a prefix
    -- with its location, an address on Lab01's port
    local more = {
      ["ipam/prefixes"] = { prefix = "192.0.2.0/24", status = { name = "Active" } },
      ["ipam/prefix-location-assignments"] = { prefix = { prefix = "192.0.2.0/24" }, location = { name = "Lab" } },
      ["ipam/ip-addresses"] = { address = "192.0.2.1/24", status = { name = "Active" } },
      ["ipam/ip-address-to-interface"] = { ip_address = { host = "192.0.2.1" },
                                           interface = { name = "wan1", device = { name = "Lab01" } } },
    }
    for _, kv in ipairs(seed) do
      if more[kv[1]] then table.insert(kv[2], more[kv[1]]) end
    end
    local parts = {}
    for _, kv in ipairs(seed) do parts[#parts + 1] = fmt("%q: %s", kv[1], cjson.encode(kv[2])) end
    h.write(dir .. "/nautobot-test.json", "{" .. table.concat(parts, ", ") .. "}")
    local n = h.server("nautobot_standin", "--token", TOKEN, "--seed", dir .. "/nautobot-test.json")
    later(n.stop)
    h.write(dir .. "/read.lua", fmt([[
      local meraki = require "moonsync.adapters.meraki"
      local cjson = require "cjson"
      local m = meraki.models { network_loctype = "Site", devicetype_mapping = { { "MS", "Switch" }, { "MX", "Firewall" } } }
      local nb = m.Nautobot:new { url = %q, token = %q }:load()
      local out = {}
      for _, model in ipairs { "network", "device", "port", "prefix", "ipaddress", "ipassignment" } do
        out[model] = {}
        for _, r in ipairs(nb:get_all(model)) do out[model][r:get_unique_id()] = r:get_attrs() end
      end
      print(cjson.encode(out))
    ]], n.url, TOKEN))
    local r = h.run("run", dir .. "/read.lua")
    assert.equals(0, r.code, r.stderr)
    local got = cjson.decode(r.stdout)
    assert.same(set { "Lab__None" }, uids(got.network))
    assert.same(set { "Lab01" }, uids(got.device))
    assert.same(set { "wan1__Lab01" }, uids(got.port))
    assert.same(set { "10.0.0.0/24__Test" }, uids(got.prefix))
    assert.same(set { "10.0.0.1__None" }, uids(got.ipaddress))
    assert.same(set { "10.0.0.1__Lab01__Test__wan1" }, uids(got.ipassignment))
    assert.same({ "Test" }, got.network["Lab__None"].tags)
    assert.equals("America/Chicago", got.network["Lab__None"].timezone)
    assert.is_false(got.port["wan1__Lab01"].tagging)
    assert.is_false(got.ipassignment["10.0.0.1__Lab01__Test__wan1"].primary)
  end)

  -- {====== organizations the fixtures do not hold ======}

  for _, case in ipairs { { 7, 1 }, { 23, 2 }, { 101, 3 } } do
    it(fmt("loads what SSoT's adapter would of generated organization %d", case[1]), function()
      local data, want, skipped = fx.generate(case[1], case[2])
      local got = load(data, { devicetype_mapping = {} })
      for _, model in ipairs { "network", "device", "port", "prefix", "ipaddress" } do
        assert.same(want[model], uids(got[model]), model)
      end
      assert.matches(skipped .. " source records skipped", got._run.stderr, 1, true)
    end)
  end

  -- {====== end to end, under Nautobot's contract ======}

  describe("syncs into Nautobot #contract", function()
    local schema_file
    setup(function()
      if not have then return end
      schema_file = h.write(dir .. "/nautobot-openapi.json",
                            assert(loadfile(h.root .. "/adapters/nautobot_openapi.lua"))())
    end)

    local function probe() return h.nautobot_probe(TOKEN) end

    -- one request to the Nautobot stand-in, as a person would make it
    local function api(url, method, path, body) return h.api(url, TOKEN, method, path, body) end
    local function one(url, kind, query) return h.api_one(url, TOKEN, kind, query) end

    local function converge(e, n, prism, what) return h.converge(e, JOB, n, prism, what) end

    it("the fixtures' organization, into an empty Nautobot and again with drift", function()
      local n = h.server("nautobot_standin", "--token", TOKEN, "--seed", SEED)
      later(n.stop)
      local prism = h.prism(schema_file, n.url, dir .. "/prism-meraki.log", probe())
      later(prism.stop)
      local data = fx.data()
      local m = fx.serve(dir, data)
      later(m.stop)
      local e = env(m, settings { sync_firewall_lan_ips = true }, prism)
      local r = converge(e, n, prism, "into an empty Nautobot")
      assert.matches("sync complete: %d+ created, 0 updated, 0 deleted, 0 failed", r.stdout)
      -- what SSoT writes: its marks, the primary addresses, the tags
      local lab01 = one(n.url, "dcim/devices", "name=Lab01&depth=1")
      assert.equals("Meraki SSoT", lab01.custom_fields.system_of_record)
      assert.equals("10.1.15.34", lab01.primary_ip4 and lab01.primary_ip4.host)
      assert.equals("Firewall", lab01.role.name)
      assert.equals("US/Eastern", one(n.url, "dcim/locations", "name=Lab").time_zone)
      m.stop()

      -- drift in Nautobot, changes in Meraki
      local wan2 = one(n.url, "dcim/interfaces", "name=wan2&device=" .. lab01.id)
      api(n.url, "PATCH", "/api/dcim/interfaces/" .. wan2.id .. "/", { enabled = false, mode = "tagged" })
      api(n.url, "PATCH", "/api/dcim/devices/" .. lab01.id .. "/", { serial = "CHANGED" })
      local port3 = one(n.url, "dcim/interfaces", "name=3&device=" .. lab01.id)
      api(n.url, "DELETE", "/api/dcim/interfaces/" .. port3.id .. "/")
      local lab = one(n.url, "dcim/locations", "name=Lab")
      api(n.url, "PATCH", "/api/dcim/locations/" .. lab.id .. "/", { time_zone = "UTC", tags = {} })
      data.devices[1].firmware = "wired-18-1-1"
      table.remove(data.devices, 3)        -- the switch is gone from Meraki
      data.networks[1].notes = "Lab, moved"
      m = fx.serve(dir, data)
      later(m.stop)
      e.MERAKI_URL = m.url .. "/api/v1"
      r = converge(e, n, prism, "with drift")
      assert.matches("sync complete: %d+ created, %d+ updated, %d+ deleted, 0 failed", r.stdout)
      assert.equals("Lab, moved", one(n.url, "dcim/locations", "name=Lab").comments)
      local none = api(n.url, "GET", "/api/dcim/devices/?name=Lab%20Switch")
      assert.equals(0, none.count)
    end)

    it("a generated organization, into an empty Nautobot and again once it changed", function()
      local n = h.server("nautobot_standin", "--token", TOKEN, "--seed", SEED)
      later(n.stop)
      local prism = h.prism(schema_file, n.url, dir .. "/prism-generated.log", probe())
      later(prism.stop)
      local gen = fx.generate(5, 2)
      local g = fx.serve(dir, gen)
      later(g.stop)
      local e = env(g, settings { devicetype_mapping = {} }, prism)
      converge(e, n, prism, "a generated organization")
      g.stop()
      -- a switch leaves, a firewall gets a LAN port, an AP goes offline
      for i, d in ipairs(gen.devices) do
        if d.model == "MS120-8" then table.remove(gen.devices, i) break end
      end
      for _, ports in pairs(gen.appliancePorts) do
        ports[#ports + 1] = { number = 20, enabled = false, type = "trunk" }
        break
      end
      for _, st in ipairs(gen.deviceStatuses) do
        if st.name and st.name:match("^ap%-") then st.status = "offline" break end
      end
      local g2 = fx.serve(dir, gen)
      later(g2.stop)
      e.MERAKI_URL = g2.url .. "/api/v1"
      local r = converge(e, n, prism, "the generated organization, changed")
      assert.matches("sync complete: %d+ created, %d+ updated, %d+ deleted, 0 failed", r.stdout)
      assert.not_matches("sync complete: 0 created", r.stdout)
    end)
  end)
end)
