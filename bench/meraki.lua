-- Meraki benchmark, run by scripts/bench through `moonsync run`: a
-- generated organization of 5,000 devices (250 networks of a firewall, 15
-- switches of 24 ports and 4 APs) and about 100,000 ports, served by the
-- Meraki stand-in (spec/servers/meraki_standin.js) after 20 ms a request,
-- is loaded through SSoT's Meraki models, then synced into an empty
-- Nautobot stand-in. The load is printed with its ideal: the requests it
-- took at the rate limit (a tenth of a second each at Meraki's 10 a
-- second; the bench raises the stand-in's and the client's limit to 100 a
-- second, so that it takes a minute, not ten).
-- usage: moonsync run bench/meraki.lua ROOT DATADIR [NETWORKS]
local core = require "moonsync.core"
local cjson = require "cjson"
local meraki = require "moonsync.adapters.meraki"

local root, dir, nets = ...
nets = tonumber(nets) or 250
local KEY, TOKEN, ORG = "bench-key", "bench-token", "424242"
local LATENCY, RATE = 0.020, 100

-- {====== the organization ======}

local d = { organization = { id = ORG, name = "bench" }, networks = {}, devices = {}, deviceStatuses = {},
            uplinkStatuses = {}, uplinkAddresses = {}, switchPortsBySwitch = {}, managementInterface = {},
            applianceUplinksSettings = {}, appliancePorts = {} }
local serial = 0
local function device(net, model, name)
  serial = serial + 1
  local s = ("Q2%02d-%04d-%04d"):format(serial // 100000000, serial // 10000 % 10000, serial % 10000)
  d.devices[#d.devices + 1] = { name = name, serial = s, networkId = net.id, model = model, notes = "",
                                firmware = model:sub(1, 2):lower() .. "-17-1" }
  d.deviceStatuses[#d.deviceStatuses + 1] = { name = name, serial = s, status = "online" }
  return s
end
local ports = 0
for i = 1, nets do
  local a, b = i // 256, i % 256
  local net = { id = ("L_%06d"):format(i), name = ("site-%03d"):format(i), timeZone = "Europe/Amsterdam",
                tags = {}, notes = "" }
  d.networks[i] = net
  local mx = device(net, "MX85", ("mx-%03d"):format(i))
  d.managementInterface[mx] = { wan1 = { usingStaticIp = false }, wan2 = { usingStaticIp = false } }
  d.applianceUplinksSettings[mx] = { interfaces = {
    wan1 = { enabled = true, vlanTagging = { enabled = false }, pppoe = { enabled = false },
             svis = { ipv4 = { assignmentMode = "static", address = ("100.%d.%d.2/30"):format(a, b) } } },
    wan2 = { enabled = true, vlanTagging = { enabled = false }, pppoe = { enabled = false },
             svis = { ipv4 = { assignmentMode = "dynamic" } } } } }
  d.uplinkStatuses[#d.uplinkStatuses + 1] = { serial = mx, uplinks = { { interface = "wan1", status = "active" } } }
  local lan = {}
  for p = 3, 12 do lan[#lan + 1] = { number = p, enabled = true, type = "access" } end
  d.appliancePorts[net.id] = lan
  ports = ports + 12
  for j = 1, 15 do
    local sw = device(net, "MS225-24", ("sw-%03d-%02d"):format(i, j))
    d.managementInterface[sw] = { wan1 = { usingStaticIp = true, staticIp = ("10.%d.%d.%d"):format(a, b, 10 + j),
                                           staticSubnetMask = "255.255.255.0" } }
    local list = {}
    for p = 1, 24 do list[p] = { portId = tostring(p), enabled = true, type = p == 24 and "trunk" or "access" } end
    d.switchPortsBySwitch[#d.switchPortsBySwitch + 1] = { serial = sw, ports = list }
    ports = ports + 25
  end
  for j = 1, 4 do
    local ap = device(net, "MR46", ("ap-%03d-%d"):format(i, j))
    local ip = ("10.%d.%d.%d"):format(a, b, 100 + j)
    d.managementInterface[ap] = { wan1 = { usingStaticIp = true, staticIp = ip, staticSubnetMask = "255.255.255.0" } }
    d.uplinkAddresses[#d.uplinkAddresses + 1] = { serial = ap, uplinks = { { interface = "man1",
      addresses = { { protocol = "ipv4", address = ip } } } } }
    ports = ports + 2
  end
end
local datafile = dir .. "/meraki-org.json"
local f = assert(io.open(datafile, "w"))
f:write(cjson.encode(d))
f:close()

local function start(script, ...)
  local p = assert(io.popen(("node %q %s 2>&1"):format(root .. "/spec/servers/" .. script,
                                                       table.concat({ ... }, " "))))
  local port, pid = (p:read("l") or ""):match("^listening (%d+) (%d+)")
  assert(port, script .. " did not start")
  return { url = "http://127.0.0.1:" .. port, pid = pid, p = p }
end
local function stats(s)
  local p = io.popen("curl -s " .. s.url .. "/__stats")
  local t = cjson.decode(p:read("a"))
  p:close()
  return t
end

local m = start("meraki_standin.js", "--data", datafile, "--key", KEY, "--rate", RATE, "--burst", 0,
                "--latency", LATENCY * 1000)
local nb = start("nautobot_standin.js", "--token", TOKEN, "--seed", root .. "/examples/ssot-meraki/nautobot-seed.json")
local ok, err = pcall(function()
  local models = meraki.models { network_loctype = "Site", devicetype_mapping = { { "MS", "Switch" },
                                 { "MX", "Firewall" }, { "MR", "AP" } } }
  local t0 = core.now()
  local src = models.Meraki:new { url = m.url .. "/api/v1", key = KEY, org = ORG, rate = RATE }:load()
  local load_s = core.now() - t0
  local got = #src:get_all("port")
  assert(got == ports, ("loaded %d of %d ports"):format(got, ports))
  local st = stats(m)
  assert(st.throttled == 0, "the stand-in answered 429s")
  print(("meraki-load %.3f %d %d %d %.3f"):format(load_s, #src:get_all("device"), got, st.GET, st.GET / RATE))
  local dst = models.Nautobot:new { url = nb.url, token = TOKEN }:load()
  local t1 = core.now()
  local _, res = dst:sync_from(src)
  local sync_s = core.now() - t1
  assert(res.failed == 0 and res.errors == 0, "the sync failed")
  print(("meraki-sync %.3f %d"):format(sync_s, res.created))
end)
for _, s in ipairs { m, nb } do
  os.execute("kill " .. s.pid)
  s.p:close()
end
if not ok then error(err, 0) end
