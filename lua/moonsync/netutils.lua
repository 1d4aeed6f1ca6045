--- What the integrations need of networktocode's netutils, as SSoT calls
-- it: address arithmetic, interface names in their long form, and MAC
-- address formats.
-- @module moonsync.netutils
local ms = require "moonsync"

local fmt = string.format

local M = {}

-- {====== addresses ======}

--- Is `ip` (an address, with or without a length) IPv6?
function M.is_v6(ip) return ip:find(":", 1, true) ~= nil end

--- ipaddress_interface(ip, "network.with_prefixlen"): the network of an
-- address with or without a length ("10.1.15.34/24" -> "10.1.15.0/24",
-- "10.5.52.3" -> "10.5.52.3/32").
function M.network_of(ip)
  if not ip:find("/", 1, true) then ip = ip .. (M.is_v6(ip) and "/128" or "/32") end
  return ms.normalize("prefix", ip)
end

--- netmask_to_cidr("255.255.255.0") -> 24; raises on what is not a netmask.
function M.mask_length(netmask)
  local bits, seen_zero, n = 0, false, 0
  for octet in tostring(netmask):gmatch("[^.]+") do
    local o = math.tointeger(tonumber(octet))
    if not o or o < 0 or o > 255 then error(fmt("'%s' is not a netmask", tostring(netmask)), 0) end
    n = n + 1
    for b = 7, 0, -1 do
      if o & (1 << b) ~= 0 then
        if seen_zero then error(fmt("'%s' is not a netmask", tostring(netmask)), 0) end
        bits = bits + 1
      else
        seen_zero = true
      end
    end
  end
  if n ~= 4 then error(fmt("'%s' is not a netmask", tostring(netmask)), 0) end
  return bits
end

--- cidr_to_netmask(24) -> "255.255.255.0"
function M.netmask(length)
  length = math.tointeger(tonumber(length))
  if not length or length < 0 or length > 32 then error(fmt("'%s' is not an IPv4 prefix length", tostring(length)), 0) end
  local v = length == 0 and 0 or (0xffffffff << (32 - length)) & 0xffffffff
  return fmt("%d.%d.%d.%d", v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255)
end

--- is_ip_within(ip, prefix); false across address families (where
-- netutils raises a TypeError).
function M.within(ip, prefix)
  local len = prefix:match("/(%d+)$")
  if not len or M.is_v6(ip) ~= M.is_v6(prefix) then return false end
  return ms.normalize("prefix", ip .. "/" .. len) == prefix
end

-- {====== interface names ======}

-- netutils' BASE_INTERFACES: a short interface type to its long form
M.BASE_INTERFACES = {
  ["AT"]="ATM", ["ATM"]="ATM", ["Ap"]="AppGigabitEthernet", ["B"]="Bdi", ["Bd"]="Bdi", ["Bdi"]="Bdi",
  ["Bridge-Aggregation"]="Port-channel", ["Bv"]="BVI", ["Bvi"]="BVI", ["Di"]="Dialer", ["Dialer"]="Dialer",
  ["EO"]="EOBC", ["EOBC"]="EOBC", ["Et"]="Ethernet", ["Eth"]="Ethernet", ["Ethernet"]="Ethernet",
  ["F"]="FourHundredGigabitEthernet", ["FD"]="Fddi", ["FE"]="FastEthernet", ["FGE"]="FortyGigabitEthernet",
  ["FI"]="FiftyGigabitEthernet", ["FO"]="FortyGigabitEthernet", ["Fa"]="FastEthernet",
  ["Fas"]="FastEthernet", ["Fast"]="FastEthernet", ["FastE"]="FastEthernet", ["FastEth"]="FastEthernet",
  ["FastEthernet"]="FastEthernet", ["Fddi"]="Fddi", ["Fi"]="FiftyGigabitEthernet",
  ["FiftyGigE"]="FiftyGigabitEthernet", ["FiftyGigEth"]="FiftyGigabitEthernet",
  ["FiftyGigEthernet"]="FiftyGigabitEthernet", ["FiftyGigabitEthernet"]="FiftyGigabitEthernet",
  ["Fo"]="FortyGigabitEthernet", ["FortyGig"]="FortyGigabitEthernet", ["FortyGigE"]="FortyGigabitEthernet",
  ["FortyGigEth"]="FortyGigabitEthernet", ["FortyGigEthernet"]="FortyGigabitEthernet",
  ["FortyGigabitEthernet"]="FortyGigabitEthernet", ["FourHundredGig"]="FourHundredGigabitEthernet",
  ["FourHundredGigE"]="FourHundredGigabitEthernet", ["FourHundredGigEth"]="FourHundredGigabitEthernet",
  ["FourHundredGigEthernet"]="FourHundredGigabitEthernet",
  ["FourHundredGigabitEthernet"]="FourHundredGigabitEthernet", ["GE"]="GigabitEthernet",
  ["Ge"]="GigabitEthernet", ["Gi"]="GigabitEthernet", ["Gig"]="GigabitEthernet", ["GigE"]="GigabitEthernet",
  ["GigEth"]="GigabitEthernet", ["GigEthernet"]="GigabitEthernet", ["GigabitEthernet"]="GigabitEthernet",
  ["Hu"]="HundredGigabitEthernet", ["HundredGig"]="HundredGigabitEthernet",
  ["HundredGigE"]="HundredGigabitEthernet", ["HundredGigEth"]="HundredGigabitEthernet",
  ["HundredGigEthernet"]="HundredGigabitEthernet", ["HundredGigabitEthernet"]="HundredGigabitEthernet",
  ["Lo"]="Loopback", ["Loopback"]="Loopback", ["MFR"]="MFR", ["Ma"]="Management",
  ["Management"]="Management", ["Management_short"]="Ma", ["Mgmt"]="Management", ["Mu"]="Multilink",
  ["Multilink"]="Multilink", ["PO"]="POS", ["POS"]="POS", ["Po"]="Port-channel",
  ["Port-Channel"]="Port-channel", ["Port-channel"]="Port-channel", ["PortChannel"]="Port-channel",
  ["S"]="Serial", ["Se"]="Serial", ["Serial"]="Serial", ["Sy"]="Sync", ["Sync"]="Sync",
  ["T"]="TenGigabitEthernet", ["TF"]="TwentyFiveGigE", ["TH"]="TwoHundredGigabitEthernet",
  ["Te"]="TenGigabitEthernet", ["TeGig"]="TenGigabitEthernet", ["Ten"]="TenGigabitEthernet",
  ["Ten-GigabitEthernet"]="TenGigabitEthernet", ["TenGig"]="TenGigabitEthernet",
  ["TenGigEth"]="TenGigabitEthernet", ["TenGigEthernet"]="TenGigabitEthernet",
  ["TenGigabitEthernet"]="TenGigabitEthernet", ["Tf"]="TwentyFiveGigE", ["Th"]="TwoHundredGigabitEthernet",
  ["Tu"]="Tunnel", ["Tun"]="Tunnel", ["Tunnel"]="Tunnel", ["Tw"]="TwoGigabitEthernet",
  ["Twe"]="TwentyFiveGigE", ["TwentyFiveGig"]="TwentyFiveGigE", ["TwentyFiveGigE"]="TwentyFiveGigE",
  ["TwentyFiveGigEth"]="TwentyFiveGigE", ["TwentyFiveGigEthernet"]="TwentyFiveGigE",
  ["TwentyFiveGigabitEthernet"]="TwentyFiveGigE", ["Two"]="TwoGigabitEthernet",
  ["TwoHundredGig"]="TwoHundredGigabitEthernet", ["TwoHundredGigE"]="TwoHundredGigabitEthernet",
  ["TwoHundredGigEth"]="TwoHundredGigabitEthernet", ["TwoHundredGigEthernet"]="TwoHundredGigabitEthernet",
  ["TwoHundredGigabitEthernet"]="TwoHundredGigabitEthernet", ["V"]="VLAN", ["VLAN"]="VLAN",
  ["Vi"]="Virtual-Access", ["Virtual-Access"]="Virtual-Access", ["Virtual-Template"]="Virtual-Template",
  ["Vl"]="VLAN", ["Vlan-interface"]="VLAN", ["Vt"]="Virtual-Template",
  ["Wlan-GigabitEthernet"]="Wlan-GigabitEthernet", ["XGE"]="TenGigabitEthernet", ["ap"]="AppGigabitEthernet",
  ["et"]="Ethernet", ["eth"]="Ethernet", ["f"]="FourHundredGigabitEthernet", ["fa"]="FastEthernet",
  ["fi"]="FiftyGigabitEthernet", ["ge"]="GigabitEthernet", ["gi"]="GigabitEthernet", ["lo"]="Loopback",
  ["loopback"]="Loopback", ["mgmt"]="Management", ["n"]="nve", ["nv"]="nve", ["nve"]="nve",
  ["po"]="Port-channel", ["port-channel"]="Port-channel", ["te"]="TenGigabitEthernet",
  ["tf"]="TwentyFiveGigE", ["th"]="TwoHundredGigabitEthernet", ["vlan"]="VLAN",
}

--- split_interface("GigabitEthernet1/0/1") -> "GigabitEthernet", "1/0/1"
function M.split_interface(name)
  local head = name:gsub("[/\\0-9.: ]+$", "")
  return head, (name:sub(#head + 1):gsub("^%s+", ""))
end

--- canonical_interface_name("Gi1/0/1") -> "GigabitEthernet1/0/1"; a name
-- of no known type is returned as it is.
function M.canonical_interface_name(name)
  local kind, number = M.split_interface(name)
  local long = M.BASE_INTERFACES[kind]
  if long then return long .. number end
  return name
end

-- {====== MAC addresses ======}

local MAC_SHAPES = {
  "^%x%x:%x%x:%x%x:%x%x:%x%x:%x%x$", "^%x%x%x%x:%x%x%x%x:%x%x%x%x$",
  "^%x%x%-%x%x%-%x%x%-%x%x%-%x%x%-%x%x$", "^%x%x%x%x%-%x%x%x%x%-%x%x%x%x$",
  "^%x%x%.%x%x%.%x%x%.%x%x%.%x%x%.%x%x$", "^%x%x%x%x%.%x%x%x%x%.%x%x%x%x$", "^%x+$",
}

--- mac_to_format(mac, "MAC_COLON_TWO") -> "52:54:00:9d:f8:16": `frmt` is
-- MAC_{COLON,DASH,DOT}_{TWO,FOUR} or MAC_NO_SPECIAL. Raises on what is not
-- a MAC address.
function M.mac_to_format(mac, frmt)
  local ok = false
  for i, p in ipairs(MAC_SHAPES) do ok = ok or (mac:find(p) ~= nil and (i < 7 or #mac == 12)) end
  if not ok then error(fmt("There was not a valid mac address in: `%s`", tostring(mac)), 0) end
  local char, count = (frmt or "MAC_NO_SPECIAL"):match("^MAC_(%u+)_(%u+)$")
  local sep = ({ COLON = ":", DASH = "-", DOT = "." })[char or ""]
  local n = ({ TWO = 2, FOUR = 4 })[count or ""]
  local plain = mac:gsub("[:%-%.]", ""):lower()
  if frmt == "MAC_NO_SPECIAL" or frmt == nil then return plain end
  if not sep or not n then error(fmt("An invalid mac format was provided in: `%s`", tostring(frmt)), 0) end
  local parts = {}
  for i = 1, #plain, n do parts[#parts + 1] = plain:sub(i, i + n - 1) end
  return table.concat(parts, sep)
end

return M
