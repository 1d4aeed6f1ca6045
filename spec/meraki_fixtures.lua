-- The Meraki organization Nautobot SSoT's Meraki tests mock
-- (nautobot_ssot/tests/meraki/test_adapters_meraki.py, setUp), as the
-- Meraki stand-in serves it (spec/servers/meraki_standin.js): the
-- fixtures the API sends (spec/fixtures/ssot/meraki/), one answer for
-- every device and network where the test's mock answers every call alike.
local h = require "helpers"
local cjson = require "cjson"

local M = {}
M.dir = h.fixtures .. "/ssot/meraki"
M.ORG = "123456"
M.KEY = "meraki-api-key-0123456789abcdef0123456789"

function M.fixture(name)
  local text = assert(h.read(M.dir .. "/" .. name .. ".json"), name)
  return cjson.decode(text)
end

--- The organization of test_data_loading; `over` replaces parts of it.
function M.data(over)
  local d = {
    organization = { id = M.ORG, name = "SSoT test organization" },
    networks = M.fixture "get_org_networks_sent",
    devices = M.fixture "get_org_devices",
    deviceStatuses = M.fixture "get_org_device_statuses_sent",
    uplinkStatuses = M.fixture "get_org_uplink_statuses_sent",
    uplinkAddresses = M.fixture "get_org_uplink_addresses_by_device",
    switchPortsBySwitch = M.fixture "get_org_switchports_sent",
    managementInterface = { ["*"] = M.fixture "get_management_ports_sent" },
    applianceUplinksSettings = { ["*"] = M.fixture "get_uplink_settings_sent" },
    appliancePorts = { ["*"] = M.fixture "get_appliance_switchports" },
  }
  for k, v in pairs(over or {}) do d[k] = v end
  return d
end

--- Starts the stand-in serving `data`; extra stand-in arguments follow.
function M.serve(dir, data, ...)
  local path = dir .. "/meraki-org.json"
  h.write(path, cjson.encode(data))
  return h.server("meraki_standin", "--data", path, "--key", M.KEY, ...)
end

--- A generated organization of the same API shapes as the fixtures, and
-- what SSoT's adapter loads of it, known from how it was made (not from
-- the adapter's code): `seed` picks the sizes and the variations (offline
-- devices, an AP whose uplink lists IPv6 first, a device without a name,
-- one in a network the organization does not list, two with one name).
-- Returns data, expected {model = {uid = true}}.
function M.generate(seed, size)
  local rnd = h.random(seed)
  size = size or 1
  local d = { organization = { id = M.ORG, name = "generated " .. seed }, networks = {}, devices = {},
              deviceStatuses = {}, uplinkStatuses = {}, uplinkAddresses = {}, switchPortsBySwitch = {},
              managementInterface = {}, applianceUplinksSettings = {}, appliancePorts = {} }
  local e = h.autotable()
  local n = 0
  local function device(net, model, name, online)
    n = n + 1
    local serial = string.format("Q%03d-%04d-%04d", seed % 1000, n // 10000, n % 10000)
    local dev = { name = name, serial = serial, networkId = net.id, model = model, notes = "",
                  firmware = model:sub(1, 2) .. "-fw-" .. (rnd(3)), mac = "00:00:00:00:00:00" }
    d.devices[#d.devices + 1] = dev
    d.deviceStatuses[#d.deviceStatuses + 1] = { name = name, serial = serial, status = online and "online" or "offline" }
    return dev
  end
  local nets = 1 + rnd(3 * size)
  for i = 1, nets do
    local net = { id = string.format("L_%d%04d", seed, i), name = string.format("net-%d-%d", seed, i),
                  timeZone = "Europe/Amsterdam", tags = { "gen" }, notes = "" }
    d.networks[i] = net
    e.network[net.name .. "__None"] = true
    local a, b = i // 256, i % 256
    -- a firewall: wan1 static and active, wan2 dynamic; LAN ports
    local mx = device(net, "MX68", "mx-" .. net.name, true)
    d.managementInterface[mx.serial] = { wan1 = { usingStaticIp = false }, wan2 = { usingStaticIp = false } }
    d.applianceUplinksSettings[mx.serial] = { interfaces = {
      wan1 = { enabled = true, vlanTagging = { enabled = false }, pppoe = { enabled = false },
               svis = { ipv4 = { assignmentMode = "static", address = string.format("100.%d.%d.2/30", a, b) } } },
      wan2 = { enabled = true, vlanTagging = { enabled = false }, pppoe = { enabled = false },
               svis = { ipv4 = { assignmentMode = "dynamic" } } } } }
    d.uplinkStatuses[#d.uplinkStatuses + 1] = { serial = mx.serial, networkId = net.id,
      uplinks = { { interface = "wan1", status = "active" }, { interface = "wan2", status = "not connected" } } }
    local lan = {}
    for p = 3, 2 + rnd(6) do
      lan[#lan + 1] = { number = p, enabled = true, type = p % 2 == 0 and "trunk" or "access" }
      e.port[p .. "__" .. mx.name] = true
    end
    d.appliancePorts[net.id] = lan
    e.device[mx.name] = true
    e.port["wan1__" .. mx.name], e.port["wan2__" .. mx.name] = true, true
    e.prefix[string.format("100.%d.%d.0/30__Global", a, b)] = true
    e.ipaddress[string.format("100.%d.%d.2__None", a, b)] = true
    -- switches with a static management address
    for j = 1, rnd(3 * size) do
      local sw = device(net, "MS120-8", string.format("sw-%d-%d-%d", seed, i, j), rnd(4) > 1)
      local ip = string.format("10.%d.%d.%d", a, b, 10 + j)
      d.managementInterface[sw.serial] = { wan1 = { usingStaticIp = true, staticIp = ip,
                                                    staticSubnetMask = "255.255.255.0" } }
      local ports = {}
      for p = 1, 4 + rnd(8 * size) do
        ports[p] = { portId = tostring(p), enabled = rnd(5) > 1, type = "access" }
        e.port[p .. "__" .. sw.name] = true
      end
      d.switchPortsBySwitch[#d.switchPortsBySwitch + 1] = { serial = sw.serial, name = sw.name, ports = ports }
      e.device[sw.name] = true
      e.port["wan1__" .. sw.name] = true
      e.prefix[string.format("10.%d.%d.0/24__Global", a, b)] = true
      e.ipaddress[ip .. "__None"] = true
    end
    -- APs: a static management address, and their uplink (IPv6 first for some)
    for j = 1, rnd(2 * size) do
      local ap = device(net, "MR36", string.format("ap-%d-%d-%d", seed, i, j), true)
      local ip = string.format("10.%d.%d.%d", a, b, 100 + j)
      local v6 = string.format("2001:db8:%x:%x::%x", a, b, j)
      d.managementInterface[ap.serial] = { wan1 = { usingStaticIp = true, staticIp = ip,
                                                    staticSubnetMask = "255.255.255.0" } }
      local addrs = { { protocol = "ipv4", address = ip }, { protocol = "ipv6", address = v6 } }
      if rnd(2) == 1 then addrs[1], addrs[2] = addrs[2], addrs[1] end
      d.uplinkAddresses[#d.uplinkAddresses + 1] = { serial = ap.serial, uplinks = { { interface = "man1", addresses = addrs } } }
      e.device[ap.name] = true
      e.port["wan1__" .. ap.name], e.port["man1__" .. ap.name] = true, true
      e.prefix[string.format("10.%d.%d.0/24__Global", a, b)] = true
      e.prefix[v6 .. "/128__Global"] = true
      e.ipaddress[ip .. "__None"], e.ipaddress[v6 .. "__None"] = true, true
      -- an IPv4 address after the IPv6 one is no longer within the management prefix
      if addrs[1].protocol == "ipv6" then e.prefix[ip .. "/32__Global"] = true end
    end
  end
  -- records SSoT cannot load: skipped
  local net1 = d.networks[1]
  d.devices[#d.devices + 1] = { serial = "QBAD-0000-0001", networkId = net1.id, model = "MR36", firmware = "x" }
  d.devices[#d.devices + 1] = { name = "lost-ap", serial = "QBAD-0000-0002", networkId = "L_404",
                                model = "MR36", firmware = "x" }
  return d, e, 2
end

return M
