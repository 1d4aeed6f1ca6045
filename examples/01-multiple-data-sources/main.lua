-- Example 1: three data sources with the same models; diff and sync them
-- in both directions. Run: bin/moonsync run examples/01-multiple-data-sources/main.lua
local ms = require "moonsync"

local Site = ms.model "site" { identifiers = { "name" }, children = { device = "devices" } }
-- site_name and role are stored but not compared (extra fields)
local Device = ms.model "device" {
  identifiers = { "name" }, extra_fields = { "site_name", "role" },
  children = { interface = "interfaces" },
}
local Interface = ms.model "interface" {
  identifiers = { "device_name", "name" }, shortname = { "name" },
  attributes = { "description" },
}

-- One adapter class per backend, each loading its own data table.
local function backend(name, data)
  return ms.adapter(name) {
    models = { Site, Device, Interface },
    load = function(self)
      for _, s in ipairs(data) do
        local site = self:add(Site { name = s.name })
        for _, d in ipairs(s.devices) do
          local dev = self:add(Device { name = d.name, site_name = s.name, role = d.role })
          site:add_child(dev)
          for _, i in ipairs(d.interfaces) do
            dev:add_child(self:add(Interface { device_name = d.name, name = i[1], description = i[2] }))
          end
        end
      end
    end,
  }
end

local function dev(name, role, interfaces) return { name = name, role = role, interfaces = interfaces } end

local BackendA = backend("Backend-A", {
  { name = "nyc", devices = {
    dev("nyc-spine1", "spine", { { "eth0", "Interface 0" }, { "eth1", "Interface 1" } }),
    dev("nyc-spine2", "spine", { { "eth0", "Interface 0" }, { "eth1", "Interface 1" } }) } },
  { name = "sfo", devices = {
    dev("sfo-spine1", "spine", { { "eth0", "Interface 0" }, { "eth1", "Interface 1" } }),
    dev("sfo-spine2", "spine", { { "eth0", "TBD" }, { "eth1", "ddd" }, { "eth2", "Interface 2" } }) } },
})
local BackendB = backend("Backend-B", {
  { name = "atl", devices = {
    dev("atl-spine1", "spine", { { "eth0", "Interface 0" }, { "eth1", "Interface 1" } }),
    dev("atl-spine2", "spine", { { "eth0", "Interface 0" }, { "eth1", "Interface 1" } }) } },
  { name = "nyc", devices = {
    dev("nyc-spine1", "spine", { { "eth0", "Interface 0/0" }, { "eth1", "Interface 1" } }),
    dev("nyc-spine2", "spine", { { "eth0", "Interface 0" }, { "eth1", "Interface 1" } }) } },
  { name = "sfo", devices = {
    dev("sfo-spine1", "spine", { { "eth0", "Interface 0" }, { "eth1", "Interface 1" } }),
    dev("sfo-spine2", "spine", { { "eth0", "Interface 0" }, { "eth1", "Interface 1" }, { "eth2", "Interface 2" } }) } },
})
local BackendC = backend("Backend-C", {
  { name = "nyc", devices = {
    dev("nyc-spine1", "spine", { { "eth0", "Interface 0" }, { "eth1", "Interface 1" } }),
    dev("nyc-spine2", "spine", { { "eth0", "Interface 0" }, { "eth1", "Interface 1" } }) } },
  { name = "sfo", devices = {
    dev("sfo-spine1", "spine", { { "eth0", "Interface 0" }, { "eth1", "Interface 1" } }),
    dev("sfo-spine2", "spine", { { "eth0", "Interface 0" }, { "eth1", "Interface 1" }, { "eth2", "Interface 2" } }) } },
})

local a, b, c = BackendA:new():load(), BackendB:new():load(), BackendC:new():load()
print("Backend A:\n" .. a:str() .. "\n")

print("Diff from Backend A to Backend B:")
local diff = a:diff_to(b)
print(diff:str())
print("\nThe same diff as JSON (DiffSync's dict()):")
print(diff:dict_json())

print("\nSyncing Backend A to Backend B...")
a:sync_to(b, { diff = diff })
print("Diff A to B after the sync: " .. a:diff_to(b):str())

print("\nSyncing Backend C back to Backend B (the other direction)...")
b:sync_from(c)
print("Diff C to B after the sync: " .. c:diff_to(b):str())
