--- A NetBox adapter on the REST adapter: the same conventions as Nautobot
-- (token auth, count/next/results pagination, bulk list endpoints,
-- natural keys mapped to server ids, choice fields read from X.value and
-- written as X) without an API version header; the token comes from
-- NETBOX_TOKEN by default, sent as "Bearer" when it is a v2 token (nbt_)
-- and as "Token" otherwise.
--
--   local netbox = require "moonsync.adapters.netbox"
--   local Nb = netbox.adapter "netbox" { models = {...}, resources = {...} }
--   local nb = Nb:new { url = os.getenv "NETBOX_URL" }
-- @module netbox
local nautobot = require "moonsync.adapters.nautobot"

-- NetBox 4.5+ v2 tokens (nbt_...) go as "Bearer", v1 tokens as "Token"
local M = { kind = "netbox", api_version = false, token_env = "NETBOX_TOKEN",
            token_scheme = "netbox" }

--- Declares a NetBox adapter class (options as nautobot.adapter).
function M.adapter(name)
  return nautobot.adapter(name, M)
end

return M
