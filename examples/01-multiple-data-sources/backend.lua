--- The three example backends (DiffSync's backend_a.py, backend_b.py and
-- backend_c.py): the same models and load code, different data. Data
-- is written as ordered lists, as Python's dicts keep insertion order.
local ms = require "moonsync"
local models = require "models"

local Site, Device, Interface = models.Site, models.Device, models.Interface

local M = {}

-- {site, {{device, role, {{interface, description}, ...}}, ...}}, ...
M.DATA_A = {
  { "nyc", {
    { "nyc-spine1", "spine", { { "eth0", "Interface 0" }, { "eth1", "Interface 1" } } },
    { "nyc-spine2", "spine", { { "eth0", "Interface 0" }, { "eth1", "Interface 1" } } },
  } },
  { "sfo", {
    { "sfo-spine1", "spine", { { "eth0", "Interface 0" }, { "eth1", "Interface 1" } } },
    { "sfo-spine2", "spine", { { "eth0", "TBD" }, { "eth1", "ddd" }, { "eth2", "Interface 2" } } },
  } },
}

M.DATA_B = {
  { "atl", {
    { "atl-spine1", "spine", { { "eth0", "Interface 0" }, { "eth1", "Interface 1" } } },
    { "atl-spine2", "spine", { { "eth0", "Interface 0" }, { "eth1", "Interface 1" } } },
  } },
  { "nyc", {
    { "nyc-spine1", "spine", { { "eth0", "Interface 0/0" }, { "eth1", "Interface 1" } } },
    { "nyc-spine2", "spine", { { "eth0", "Interface 0" }, { "eth1", "Interface 1" } } },
  } },
  { "sfo", {
    { "sfo-spine1", "leaf", { { "eth0", "Interface 0" }, { "eth1", "Interface 1" } } },
    { "sfo-spine2", "spine", { { "eth0", "TBD" }, { "eth1", "ddd" } } },
  } },
}

M.DATA_C = {
  { "nyc", {
    { "nyc-spine1", "spine", { { "eth0", "Interface 1/1" }, { "eth1", "Interface 1" } } },
    { "nyc-spine2", "spine", { { "eth0", "Interface 0" }, { "eth1", "Interface 1" } } },
  } },
  { "sfo", {
    { "sfo-spine1", "leaf", { { "eth0", "Interface 0" }, { "eth1", "Interface 1" } } },
    { "sfo-spine2", "spine", { { "eth0", "Interface 0/0" }, { "eth1", "Interface 0/1" } } },
  } },
}

--- An adapter class loading some sites, devices and interfaces from data.
local function backend(class, type, data)
  return ms.adapter(class) {
    models = { Site, Device, Interface },
    top_level = { "site" },
    type = type,
    load = function(self)
      for _, s in ipairs(data) do
        local site_name, devices = s[1], s[2]
        local site = self:add(Site { name = site_name })
        for _, d in ipairs(devices) do
          local device_name, role, interfaces = d[1], d[2], d[3]
          local device = self:add(Device { name = device_name, role = role, site_name = site_name })
          site:add_child(device)
          for _, i in ipairs(interfaces) do
            local intf = self:add(Interface { name = i[1], device_name = device_name, description = i[2] })
            device:add_child(intf)
          end
        end
      end
    end,
  }
end

M.BackendA = backend("BackendA", "Backend A", M.DATA_A)
M.BackendB = backend("BackendB", nil, M.DATA_B)
M.BackendC = backend("BackendC", nil, M.DATA_C)

return M
