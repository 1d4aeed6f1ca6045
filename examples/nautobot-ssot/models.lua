-- Models and adapters shared by the SSoT example jobs: devices as the
-- Nautobot REST API shows them.
local ms = require "moonsync"
local nautobot = require "moonsync.adapters.nautobot"

local M = {}

M.Device = ms.model "device" { identifiers = { "name" }, attributes = { "site", "serial" } }

local resources = {
  device = { path = "/api/dcim/devices/",
             fields = { name = "name", site = "site.name", serial = "serial" },
             -- writes: the site is a nested object in this API
             to_api = function(f)
               local body = { name = f.name, serial = f.serial }
               if f.site ~= nil then body.site = { name = f.site } end
               return body
             end },
}

--- An adapter class for one Nautobot-convention server.
function M.adapter(name)
  return nautobot.adapter(name) { models = { M.Device }, resources = resources, page_size = 50,
    -- a dry run asks this about every change: refuse to touch "ext" devices
    validate = function(self, op, model, ids)
      if ids.name:match("^ext") and op ~= "create" then
        return false, "ext devices are managed by hand"
      end
      return true
    end }
end

return M
