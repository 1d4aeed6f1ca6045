-- Example 4: get_or_instantiate and update_or_instantiate. Loading data
-- that mentions the same object several times (a device in every
-- interface row) needs "get it, or create it the first time".
-- Run: bin/moonsync run examples/04-get-update-instantiate/main.lua
local ms = require "moonsync"

local Device = ms.model "device" { identifiers = { "name" }, attributes = { "role" },
                                   children = { interface = "interfaces" } }
local Interface = ms.model "interface" { identifiers = { "device_name", "name" },
                                         shortname = { "name" }, attributes = { "description" } }

-- rows as a CMDB export would give them: one per interface
local ROWS = {
  { device = "nyc-spine1", role = "spine", interface = "eth0", description = "uplink" },
  { device = "nyc-spine1", role = "spine", interface = "eth1", description = "peer" },
  { device = "nyc-leaf1", role = "leaf", interface = "eth0", description = "to spine1" },
  { device = "nyc-leaf1", role = "leaf-v2", interface = "eth1", description = "to spine2" },
}

local Cmdb = ms.adapter "cmdb" { models = { Device, Interface },
  load = function(self, rows, how)
    for _, r in ipairs(rows) do
      local dev, created
      if how == "update" then
        -- the last row wins: attributes are applied every time
        dev, created = self:update_or_instantiate(Device, { name = r.device }, { role = r.role })
      else
        -- the first row wins: an existing record is returned unchanged
        dev, created = self:get_or_instantiate(Device, { name = r.device }, { role = r.role })
      end
      if created then print(("  created device %s"):format(r.device)) end
      local intf = self:update_or_instantiate(Interface, { device_name = r.device, name = r.interface },
                                              { description = r.description })
      dev:add_child(intf)
    end
  end }

print("get_or_instantiate:")
local first = Cmdb:new { name = "first-wins" }:load(ROWS, "get")
print(first:str())
print("\nupdate_or_instantiate:")
local last = Cmdb:new { name = "last-wins" }:load(ROWS, "update")
print(last:str())
print("\nwhat differs:")
print(first:diff_from(last):str())
