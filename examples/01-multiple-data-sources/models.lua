--- Example models (DiffSync's examples/01-multiple-data-sources/models.py).
local ms = require "moonsync"

local M = {}

--- Example model of a geographic Site.
M.Site = ms.model "site" {
  identifiers = { "name" },
  children = { device = "devices" },
}

--- Example model of a network Device.
M.Device = ms.model "device" {
  identifiers = { "name" },
  -- note that these fields are NOT included in the attributes
  extra_fields = { "site_name", "role" },
  children = { interface = "interfaces" },
}

--- Example model of a network Interface.
M.Interface = ms.model "interface" {
  identifiers = { "device_name", "name" },
  shortname = { "name" },
  attributes = { "description" },
}

return M
