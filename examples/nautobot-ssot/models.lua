-- The models of Nautobot SSoT's example job (nautobot_ssot/jobs/examples.py),
-- declared on Nautobot's schema: each names its API resource, and its
-- identifiers and attributes in Django's lookup syntax, as SSoT's
-- NautobotModel does. The adapter knows from the schema which fields are
-- references, choices and many-to-many lists, and reads and writes them
-- with no per-model code.
local nautobot = require "moonsync.adapters.nautobot"

local api = nautobot.schema()
local M = {}

M.LocationType = api:model "locationtype" {
  resource = "dcim.location-types",
  identifiers = { "name" },
  attributes = { "content_types", "description", "nestable", "parent__name" },
}

M.Location = api:model "location" {
  resource = "dcim.locations",
  identifiers = { "name" },
  attributes = { "location_type__name", "status__name", "parent__name", "parent__location_type__name",
                 "tenant__name", "description", "tags" },
}

M.Role = api:model "role" {
  resource = "extras.roles", identifiers = { "name" }, attributes = { "content_types" },
}

M.Status = api:model "status" {
  resource = "extras.statuses", identifiers = { "name" }, attributes = { "content_types", "color" },
}

M.Namespace = api:model "namespace" {
  resource = "ipam.namespaces", identifiers = { "name" }, attributes = { "description", "tags" },
}

M.Prefix = api:model "prefix" {
  resource = "ipam.prefixes",
  identifiers = { "network", "prefix_length", "namespace__name" },
  attributes = { "description", "tenant__name", "status__name", "locations", "tags" },
  -- a prefix's locations, as SSoT's LocationDict
  m2m = { locations = { "name", "location_type__name" } },
}

M.IPAddress = api:model "ipaddress" {
  resource = "ipam.ip-addresses",
  identifiers = { "host", "mask_length", "parent__network", "parent__prefix_length",
                  "parent__namespace__name" },
  attributes = { "status__name", "ip_version", "tenant__name", "tags" },
}

M.Tenant = api:model "tenant" {
  resource = "tenancy.tenants", identifiers = { "name" }, attributes = { "tags" },
}

M.DeviceType = api:model "device_type" {
  resource = "dcim.device-types",
  identifiers = { "model", "manufacturer__name" },
  attributes = { "part_number", "u_height", "is_full_depth", "tags" },
}

M.Manufacturer = api:model "manufacturer" {
  resource = "dcim.manufacturers",
  identifiers = { "name" }, attributes = { "description" },
  children = { device_type = "device_types" },
}

M.Platform = api:model "platform" {
  resource = "dcim.platforms",
  identifiers = { "name", "manufacturer__name" },
  attributes = { "description", "network_driver", "napalm_driver" },
}

M.Interface = api:model "interface" {
  resource = "dcim.interfaces",
  identifiers = { "name", "device__name" },
  attributes = { "device__location__name", "device__location__parent__name", "description", "enabled",
                 "mac_address", "mgmt_only", "mtu", "type", "status__name", "tags" },
}

M.Device = api:model "device" {
  resource = "dcim.devices",
  identifiers = { "name", "location__name", "location__parent__name" },
  attributes = { "location__location_type__name", "location__parent__location_type__name",
                 "device_type__manufacturer__name", "device_type__model", "platform__name",
                 "role__name", "serial", "status__name", "tenant__name", "asset_tag", "tags" },
  children = { interface = "interfaces" },
}

M.models = { M.LocationType, M.Location, M.Role, M.Status, M.Namespace, M.Prefix, M.IPAddress,
             M.Tenant, M.DeviceType, M.Manufacturer, M.Platform, M.Device, M.Interface }

-- examples.py's top level, in its order
M.top_level = { "tenant", "status", "locationtype", "location", "manufacturer", "platform", "role",
                "device", "namespace", "prefix", "ipaddress" }

-- SSoT's data mappings: what each model is on either side, and where the
-- local objects are listed (inspect and the report show them).
M.data_mappings = {
  { source = "LocationType (remote)", target = "LocationType (local)", target_url = "/dcim/location-types/" },
  { source = "Location (remote)", target = "Location (local)", target_url = "/dcim/locations/" },
  { source = "Role (remote)", target = "Role (local)", target_url = "/extras/roles/" },
  { source = "Namespace (remote)", target = "Namespace (local)", target_url = "/ipam/namespaces/" },
  { source = "Prefix (remote)", target = "Prefix (local)", target_url = "/ipam/prefixes/" },
  { source = "IPAddress (remote)", target = "IPAddress (local)", target_url = "/ipam/ip-addresses/" },
  { source = "Tenant (remote)", target = "Tenant (local)", target_url = "/tenancy/tenants/" },
  { source = "DeviceType (remote)", target = "DeviceType (local)", target_url = "/dcim/device-types/" },
  { source = "Manufacturer (remote)", target = "Manufacturer (local)", target_url = "/dcim/manufacturers/" },
  { source = "Platform (remote)", target = "Platform (local)", target_url = "/dcim/platforms/" },
  { source = "Device (remote)", target = "Device (local)", target_url = "/dcim/devices/" },
  { source = "Interface (remote)", target = "Interface (local)", target_url = "/dcim/interfaces/" },
}

--- An adapter class for one Nautobot.
function M.adapter(name)
  return nautobot.adapter(name) { models = M.models, top_level = M.top_level }
end

--- The adapter for the Nautobot at the URL in env var `url_env`, with the
-- token in `token_env`, loaded.
function M.open(name, url_env, token_env)
  return M.adapter(name):new { url = os.getenv(url_env), token_env = token_env, name = name }:load()
end

return M
