--- The two example backends (DiffSync's backends.py): Backend A loads its
-- interfaces with update_or_instantiate, Backend B with get_or_instantiate.
local ms = require "moonsync"
local models = require "models"

local Site, Device, Interface = models.Site, models.Device, models.Interface

local M = {}

local function row(name, role, site, interfaces)
  return { name = name, role = role, site = site, interfaces = interfaces }
end

M.BACKEND_DATA_A = {
  row("nyc-spine1", "spine", "nyc", { { "eth0", "Interface 0" }, { "eth1", "Interface 1" } }),
  row("nyc-spine2", "spine", "nyc", { { "eth0", "Interface 0" }, { "eth1", "Interface 1" } }),
  row("sfo-spine1", "spine", "sfo", { { "eth0", "Interface 0" }, { "eth1", "Interface 1" } }),
  row("sfo-spine2", "spine", "sfo", { { "eth0", "TBD" }, { "eth1", "ddd" }, { "eth2", "Interface 2" } }),
}

M.BACKEND_DATA_B = {
  row("atl-spine1", "spine", "atl", { { "eth0", "Interface 0" }, { "eth1", "Interface 1" } }),
  row("atl-spine2", "spine", "atl", { { "eth0", "Interface 0" }, { "eth1", "Interface 1" } }),
  row("nyc-spine1", "spine", "nyc", { { "eth0", "Interface 0/0" }, { "eth1", "Interface 1" } }),
  row("nyc-spine2", "spine", "nyc", { { "eth0", "Interface 0" }, { "eth1", "Interface 1" } }),
  row("sfo-spine1", "leaf", "sfo", { { "eth0", "Interface 0" }, { "eth1", "Interface 1" } }),
  row("sfo-spine2", "spine", "sfo", { { "eth0", "TBD" }, { "eth1", "ddd" } }),
}

--- Backend A: sites, devices and interfaces from BACKEND_DATA_A.
M.BackendA = ms.adapter "BackendA" {
  models = { Site, Device, Interface },
  top_level = { "device" },
  type = "Backend A",
  load = function(self)
    for _, device_data in ipairs(M.BACKEND_DATA_A) do
      local device = self:get_or_instantiate(Device, { name = device_data.name },
                                             { role = device_data.role })
      local site, instantiated = self:get_or_instantiate(Site, { name = device_data.site })
      if instantiated then device:add_child(site) end
      for _, i in ipairs(device_data.interfaces) do
        local intf
        intf, instantiated = self:update_or_instantiate(Interface,
          { name = i[1], device_name = device_data.name }, { description = i[2] })
        if instantiated then device:add_child(intf) end
      end
    end
  end,
}

--- Backend B: sites, devices and interfaces from BACKEND_DATA_B.
M.BackendB = ms.adapter "BackendB" {
  models = { Site, Device, Interface },
  top_level = { "device" },
  type = "Backend B",
  load = function(self)
    for _, device_data in ipairs(M.BACKEND_DATA_B) do
      local device = self:get_or_instantiate(Device, { name = device_data.name },
                                             { role = device_data.role })
      local site, instantiated = self:get_or_instantiate(Site, { name = device_data.site })
      if instantiated then device:add_child(site) end
      for _, i in ipairs(device_data.interfaces) do
        local intf
        intf, instantiated = self:get_or_instantiate(Interface,
          { name = i[1], device_name = device_data.name }, { description = i[2] })
        if instantiated then device:add_child(intf) end
      end
    end
  end,
}

return M
