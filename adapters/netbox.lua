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
local openapi = require "moonsync.adapters.openapi"

-- NetBox 4.5+ v2 tokens (nbt_...) go as "Bearer", v1 tokens as "Token"
local M = { kind = "netbox", api_version = false, token_env = "NETBOX_TOKEN",
            token_scheme = "netbox",
            -- NetBox nests references as brief objects, always, and takes
            -- a reference as an id (a brief object only whole)
            preset = { name = "netbox", refs = "id" } }

--- The catalogue of a NetBox OpenAPI document (/api/schema/?format=json),
-- for models declared on it (see moonsync.adapters.openapi).
function M.schema(doc)
  return openapi.schema(doc, { preset = "netbox" })
end

--- Declares a NetBox adapter class (options as nautobot.adapter).
function M.adapter(name)
  return nautobot.adapter(name, M)
end

return M
