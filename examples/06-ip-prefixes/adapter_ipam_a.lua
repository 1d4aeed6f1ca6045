--- IPAM A adapter (DiffSync's adapter_ipam_a.py).
local ms = require "moonsync"
local ipam = require "ipam"
local models = require "models"

--- Prefix create/update/delete for IPAM A.
local IpamAPrefix = models.Prefix {
  --- Create a Prefix record in IPAM A.
  create = function(diffsync, ids, attrs)
    local data = diffsync.data
    data[#data + 1] = {
      cidr = ids.prefix,
      family = ids.prefix:find(":", 1, true) and 6 or 4,
      vrf = ipam.json(attrs.vrf),
      vlan = ("VLAN%s"):format(ipam.value(attrs.vlan_id) or "None"),
      customer_id = ipam.value(attrs.tenant) and attrs.tenant or ipam.json(nil),
    }
    return diffsync:create_base("prefix", ids, attrs)
  end,
  --- Update a Prefix record in IPAM A.
  update = function(diffsync, record, attrs)
    for _, elem in ipairs(diffsync.data) do
      if elem.cidr == record.prefix then
        if attrs.vrf ~= nil then elem.vrf = ipam.json(ipam.value(attrs.vrf)) end
        -- as DiffSync's example: the VLAN goes to "vlan_id", not "vlan"
        if attrs.vlan_id ~= nil then elem.vlan_id = ("VLAN%s"):format(ipam.value(attrs.vlan_id) or "None") end
        if attrs.tenant ~= nil then elem.customer_id = ipam.json(ipam.value(attrs.tenant)) end
        break
      end
    end
    return diffsync:update_base(record, attrs)
  end,
  --- Delete a Prefix record in IPAM A.
  delete = function(diffsync, record)
    for index, elem in ipairs(diffsync.data) do
      if elem.cidr == record.prefix then
        table.remove(diffsync.data, index)
        break
      end
    end
    return diffsync:delete_base(record)
  end,
}

--- IPAM A DiffSync adapter implementation.
local IpamA = ms.adapter "IpamA" {
  models = { IpamAPrefix },
  top_level = { "prefix" },
  --- Load prefixes from IPAM A.
  load = function(self)
    for _, subnet in ipairs(self.data) do
      self:add(IpamAPrefix {
        prefix = subnet.cidr,
        vrf = ipam.value(subnet.vrf),
        vlan_id = math.tointeger(tonumber((subnet.vlan:gsub("^[VLAN]+", "")))),
        tenant = ipam.value(subnet.customer_id),
      })
    end
  end,
  --- Clean up function for DiffSync sync: write the data back.
  sync_complete = function(self)
    ipam.write(self.options.dir .. "/ipam_a.json", self.data)
  end,
}

--- IpamA:new { dir = DATA_DIR } reads DATA_DIR/ipam_a.json.
return function(options)
  local a = IpamA:new(options)
  a.data = ipam.read(options.dir .. "/ipam_a.json")
  return a
end
