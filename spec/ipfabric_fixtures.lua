-- The IP Fabric snapshot Nautobot SSoT's IP Fabric tests mock
-- (nautobot_ssot/tests/ipfabric/test_ipfabric_adapter.py, setUp), as the
-- IP Fabric stand-in serves it (spec/servers/ipfabric_standin.js): the
-- test's fixtures (spec/fixtures/ssot/ipfabric/) as the snapshot's tables,
-- and snapshots generated with what SSoT's adapter loads of them.
local h = require "helpers"
local cjson = require "cjson"

local fmt = string.format

local M = {}
M.dir = h.fixtures .. "/ssot/ipfabric"
M.TOKEN = "ipfabric-api-token-0123456789abcdef"
M.SNAPSHOT = "5d3ed0b3-1d2c-4c39-9c2e-2b8f2d8f0001"

function M.fixture(name)
  local text = assert(h.read(M.dir .. "/" .. name .. ".json"), name)
  return cjson.decode(text)
end

-- the test's NETWORKS_FIXTURE: the managed IPv4 addresses (type primary)
M.NETWORKS = { { net = "10.10.0.0/24", sn = "a000a02", ip = "10.10.0.10", intName = "Gi4", type = "primary" } }

--- The snapshot of the test's setUp; `over` replaces tables of it.
function M.data(over)
  local t = {
    ["inventory/sites"] = M.fixture "get_sites",
    ["inventory/devices"] = M.fixture "get_device_inventory",
    ["inventory/interfaces"] = M.fixture "get_interface_inventory",
    ["addressing/managed-devs"] = M.NETWORKS,
    ["platforms/stack/members"] = M.fixture "get_stack_members",
    ["vlan/site-summary"] = M.fixture "get_vlans",
  }
  for k, v in pairs(over or {}) do t[k] = v end
  return { version = { apiVersion = "v7.0", releaseVersion = "7.0.3" },
           snapshots = { { id = M.SNAPSHOT, name = "weekly", state = "loaded", tsEnd = 1733300000000 } },
           tables = t }
end

-- cjson writes an empty table as {}: the stand-in's tables are lists
local function encode(data)
  return (cjson.encode(data):gsub(':{}', ':[]'))
end

--- Starts the stand-in serving `data`; extra stand-in arguments follow.
function M.serve(dir, data, ...)
  local path = os.tmpname()
  os.remove(path)
  path = dir .. "/" .. path:match("[^/]+$") .. "-ipfabric.json"
  h.write(path, encode(data))
  return h.server("ipfabric_standin", "--data", path, "--token", M.TOKEN, ...)
end

--- A generated snapshot of the same table shapes as the fixtures, and
-- what SSoT's adapter loads of it, known from how it was made (not from
-- the adapter's code): `seed` picks the sizes and the variations (stacks,
-- devices without a management address on any interface, managed
-- networks, VLANs without a name or with an invalid id, two devices with
-- one hostname, a device in a site the snapshot does not list, one without
-- a hostname, an interface with a malformed MAC address, one whose address
-- is not one, an interface listed twice). Returns data, expected {model = {uid = attrs}}, and the
-- number of source records left out.
function M.generate(seed, size)
  local rnd = h.random(seed)
  size = size or 1
  local t = { sites = {}, devices = {}, interfaces = {}, managed = {}, stacks = {}, vlans = {} }
  local e = h.autotable()
  local skipped = 0
  local vendors = { { "cisco", "Cisco", "ios-xe" }, { "arista", "Arista", "eos" }, { "juniper", "Juniper", "junos" } }
  local roles = { "router", "switch", "l3switch", "" }
  local media = { { "1000BaseT", "1000base-t" }, { "10GBase SFP", "10gbase-x-sfpp" }, { "Virtual", "virtual" },
                  { nil, nil } }
  local serial = 0
  local function interface(dev, host, sn, name, o)
    o = o or {}
    local m = media[rnd(#media)]
    local mac = rnd(3) > 1 and fmt("%04x.%04x.%04x", rnd(65535), rnd(65535), rnd(65535)) or nil
    local row = { hostname = host, sn = sn, intName = name, dscr = rnd(2) == 1 and ("uplink " .. name) or nil,
                  mac = mac, media = m[1], mtu = rnd(3) == 1 and 9000 or nil, primaryIp = o.ip }
    t.interfaces[#t.interfaces + 1] = row
    if o.skip then return end
    local mac_attr = "00:00:00:00:00:01"
    if mac then
      mac_attr = (mac:gsub("%.", "")):gsub("(%x%x)", "%1:"):sub(1, 17):upper()
    end
    local kind = m[2]
    if not kind then
      kind = name:match("^Lo") and "virtual" or name:match("^Po") and "lag" or name:match("^Gi") and "1000base-t"
             or "1000base-t"
    end
    e.interface[name .. "__" .. host] = {
      description = row.dscr or cjson.null, mac_address = mac_attr, mtu = row.mtu or 1500, type = kind,
      mgmt_only = false, ip_address = o.ip or cjson.null, subnet_mask = o.ip and (o.mask or "255.255.255.255") or cjson.null,
      ip_is_primary = o.ip ~= nil and o.ip == dev.loginIp, status = "Active", enabled = true,
    }
  end
  local n_sites = 3 * size + rnd(3)
  for s = 1, n_sites do
    local site = fmt("SITE-%03d", s)
    t.sites[#t.sites + 1] = { id = tostring(1000 + s), siteName = site, siteKey = tostring(1000 + s) }
    e.location[site] = { site_id = tostring(1000 + s), status = "Active" }
    -- VLANs: named, unnamed, one without a description
    for v = 1, rnd(4) do
      local vid = (s % 400) * 10 + v
      local named = rnd(4) > 1
      local descr = rnd(3) > 1 and ("vlan " .. vid) or nil
      t.vlans[#t.vlans + 1] = { siteName = site, vlanName = named and ("v" .. vid) or nil, vlanId = vid, dscr = descr }
      e.vlan[(named and ("v" .. vid) or (site .. ":" .. vid)) .. "__" .. site] = {
        vid = vid, status = "Active", description = descr or ("VLAN ID: " .. vid) }
    end
    for d = 1, rnd(3) do
      serial = serial + 1
      local vendor = vendors[rnd(#vendors)]
      local host = fmt("dev-%03d-%d", s, d)
      local sn = fmt("SN%05d", serial)
      local login = rnd(4) > 1 and fmt("10.%d.%d.%d", s // 250, s % 250, d) or nil
      local role = roles[rnd(#roles)]
      local model = rnd(5) > 1 and ("M-" .. vendor[1] .. "-" .. rnd(3)) or ""
      local dev = { hostname = host, siteName = site, vendor = vendor[1], platform = "p", model = model, sn = sn,
                    loginIp = login, family = vendor[3], devType = role ~= "" and role or nil }
      t.devices[#t.devices + 1] = dev
      local base = { location_name = site, model = model ~= "" and model or ("Default-" .. vendor[1]),
                     vendor = vendor[2], role = role ~= "" and role or "Network Device", status = "Active",
                     platform = vendor[3], serial_number = sn, vc_name = cjson.null, vc_priority = cjson.null,
                     vc_position = cjson.null, vc_master = cjson.null }
      local stack = rnd(5) == 1
      if stack then
        local members = {}
        for mem = 1, 1 + rnd(3) do members[#members + 1] = mem end
        for i, mem in ipairs(members) do
          local msn = fmt("%s-M%d", sn, mem)
          t.stacks[#t.stacks + 1] = { master = host, member = mem, memberSn = msn, sn = sn,
                                      pn = i == 2 and "PN-STACK" or nil }
          local a = {}
          for k, v in pairs(base) do a[k] = v end
          a.serial_number, a.vc_name, a.vc_priority, a.vc_position = msn, host, mem, mem
          a.vc_master = i == 1
          if i == 2 then a.model = "PN-STACK" end
          e.device[i == 1 and host or fmt("%s-member%d", host, mem)] = a
        end
      else
        e.device[host] = base
      end
      -- interfaces: the management address on one, or on none (a pseudo interface)
      local on_port = login and rnd(3) > 1
      local names = { "Gi0/1", "Gi0/2", "Lo0", "Po1" }
      for i = 1, 1 + rnd(3) do
        local name = names[i]
        local ip = (on_port and i == 1) and login or nil
        local mask
        if ip and rnd(2) == 1 then
          t.managed[#t.managed + 1] = { sn = sn, intName = name, net = fmt("10.%d.%d.0/24", s // 250, s % 250), ip = ip,
                                        type = "primary" }
          mask = "255.255.255.0"
        end
        interface(dev, host, sn, name, { ip = ip, mask = mask })
      end
      if login and not on_port then
        -- a management address on no interface (behind NAT): a pseudo interface holds it
        e.interface["pseudo_mgmt__" .. host] = {
          description = "pseudo interface for NAT IP address", mac_address = "00:00:00:00:00:01", mtu = 1500,
          type = "1000base-t", mgmt_only = true, ip_address = login, subnet_mask = "255.255.255.255",
          ip_is_primary = true, status = "Active", enabled = true }
      end
    end
  end
  -- what SSoT's adapter drops or breaks on
  local first = t.devices[1]
  -- a second device with the first one's hostname, in another site: the first is kept
  t.devices[#t.devices + 1] = { hostname = first.hostname, siteName = t.sites[#t.sites].siteName, vendor = "cisco",
                                model = "DUP", sn = "SNDUP", family = "ios", devType = "router" }
  t.interfaces[#t.interfaces + 1] = { hostname = first.hostname, sn = "SNDUP", intName = "Gi9/9" }
  skipped = skipped + 1
  -- a device in a site the snapshot does not list, one without a hostname
  t.devices[#t.devices + 1] = { hostname = "lost-1", siteName = "NOWHERE", vendor = "cisco", model = "X", sn = "SNLOST" }
  t.devices[#t.devices + 1] = { siteName = t.sites[1].siteName, vendor = "cisco", model = "X", sn = "SNNONAME" }
  skipped = skipped + 2
  -- VLANs with an invalid id
  t.vlans[#t.vlans + 1] = { siteName = t.sites[1].siteName, vlanName = "bad0", vlanId = 0 }
  t.vlans[#t.vlans + 1] = { siteName = t.sites[1].siteName, vlanName = "bad5000", vlanId = 5000 }
  skipped = skipped + 2
  -- an interface with a malformed MAC address, and one listed twice
  local dev2 = t.devices[2]
  t.interfaces[#t.interfaces + 1] = { hostname = dev2.hostname, sn = dev2.sn, intName = "Gi7/7", mac = "not-a-mac" }
  t.interfaces[#t.interfaces + 1] = { hostname = dev2.hostname, sn = dev2.sn, intName = "Gi0/1", mtu = 1234 }
  -- an interface whose address is not one: loaded without it
  t.interfaces[#t.interfaces + 1] = { hostname = dev2.hostname, sn = dev2.sn, intName = "Gi8/8", primaryIp = "10.300.1.1" }
  e.interface["Gi8/8__" .. dev2.hostname] = {
    description = cjson.null, mac_address = "00:00:00:00:00:01", mtu = 1500, type = "1000base-t", mgmt_only = false,
    ip_address = cjson.null, subnet_mask = cjson.null, ip_is_primary = false, status = "Active", enabled = true }
  skipped = skipped + 3
  local data = M.data {
    ["inventory/sites"] = t.sites, ["inventory/devices"] = t.devices, ["inventory/interfaces"] = t.interfaces,
    ["addressing/managed-devs"] = t.managed, ["platforms/stack/members"] = t.stacks,
    ["vlan/site-summary"] = t.vlans,
  }
  return data, e, skipped
end

return M
