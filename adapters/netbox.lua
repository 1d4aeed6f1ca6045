--- A NetBox adapter on the REST adapter: the same conventions as Nautobot
-- (token auth, count/next/results pagination, bulk list endpoints,
-- natural keys mapped to server ids) without an API version header; the
-- token comes from NETBOX_TOKEN by default.
--
--   local netbox = require "netbox"
--   local Nb = netbox.adapter "netbox" { models = {...}, resources = {...} }
--   local nb = Nb:new { url = os.getenv "NETBOX_URL" }
-- @module netbox
local nautobot = require "nautobot"

local M = { api_version = false, token_env = "NETBOX_TOKEN" }

--- Declares a NetBox adapter class (options as nautobot.adapter).
function M.adapter(name)
  return nautobot.adapter(name, M)
end

return M
