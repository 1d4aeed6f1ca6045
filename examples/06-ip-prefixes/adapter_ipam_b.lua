--- IPAM B adapter (DiffSync's adapter_ipam_b.py).
local ms = require "moonsync"
local ipam = require "ipam"
local models = require "models"

local function split(prefix)
  local network, length = prefix:match("^(.*)/(%d+)$")
  return network, math.tointeger(tonumber(length))
end

--- Prefix create/update/delete for IPAM B.
local IpamBPrefix = models.Prefix {
  --- Create a Prefix record in IPAM B.
  create = function(diffsync, ids, attrs)
    local network, length = split(ids.prefix)
    local data = diffsync.data
    data[#data + 1] = {
      network = network,
      prefix_length = length,
      vrf = ipam.json(ipam.value(attrs.vrf)),
      vlan_id = ipam.json(ipam.value(attrs.vlan_id)),
      tenant = ipam.value(attrs.tenant) and attrs.tenant or ipam.json(nil),
    }
    return diffsync:create_base("prefix", ids, attrs)
  end,
  --- Update a Prefix record in IPAM B.
  update = function(diffsync, record, attrs)
    local network, length = split(record.prefix)
    for _, elem in ipairs(diffsync.data) do
      if elem.network == network and elem.prefix_length == length then
        if attrs.vrf ~= nil then elem.vrf = ipam.json(ipam.value(attrs.vrf)) end
        if attrs.vlan_id ~= nil then elem.vlan_id = ipam.json(ipam.value(attrs.vlan_id)) end
        if attrs.tenant ~= nil then elem.tenant = ipam.json(ipam.value(attrs.tenant)) end
        break
      end
    end
    return diffsync:update_base(record, attrs)
  end,
  --- Delete a Prefix record in IPAM B.
  delete = function(diffsync, record)
    local network, length = split(record.prefix)
    for index, elem in ipairs(diffsync.data) do
      if elem.network == network and elem.prefix_length == length then
        table.remove(diffsync.data, index)
        break
      end
    end
    return diffsync:delete_base(record)
  end,
}

--- IPAM B DiffSync adapter implementation.
local IpamB = ms.adapter "IpamB" {
  models = { IpamBPrefix },
  top_level = { "prefix" },
  --- Load prefixes from IPAM B.
  load = function(self)
    for _, prefix_data in ipairs(self.data) do
      self:add(IpamBPrefix {
        prefix = ("%s/%d"):format(prefix_data.network, prefix_data.prefix_length),
        vrf = ipam.value(prefix_data.vrf),
        vlan_id = ipam.value(prefix_data.vlan_id),
        tenant = ipam.value(prefix_data.tenant),
      })
    end
  end,
  --- Clean up function for DiffSync sync: write the data back.
  sync_complete = function(self)
    ipam.write(self.options.dir .. "/ipam_b.json", self.data)
  end,
}

--- IpamB:new { dir = DATA_DIR } reads DATA_DIR/ipam_b.json.
return function(options)
  local b = IpamB:new(options)
  b.data = ipam.read(options.dir .. "/ipam_b.json")
  return b
end
