--- A Nautobot adapter on the REST adapter: token auth ("Authorization:
-- Token ..."), the API version header, NetBox-style pagination
-- (count/next/results, fetched concurrently once the count is known),
-- bulk writes on list endpoints, and natural keys mapped to server ids
-- through `refs`.
--
--   local nautobot = require "moonsync.adapters.nautobot"
--   local Nb = nautobot.adapter "nautobot" { models = {...}, resources = {...} }
--   local nb = Nb:new { url = os.getenv "NAUTOBOT_URL", token_env = "NAUTOBOT_TOKEN" }
-- @module nautobot
local rest = require "moonsync.adapters.rest"

local fmt = string.format

local M = { kind = "nautobot", api_version = "2.0", token_env = "NAUTOBOT_TOKEN" }

--- Declares a Nautobot adapter class: the rest.adapter declaration, with
-- `api_version` (default "2.0"). Instances take `url`, `token` or
-- `token_env` (default NAUTOBOT_TOKEN), `concurrency`, `timeout`,
-- `retries`, `insecure`, `ca_file`, `rate`, `token_prefix` (how the token
-- is sent: "Token " by default, "Bearer " for NetBox v2 tokens), or a
-- ready `client`.
function M.adapter(name, defaults)
  defaults = defaults or M
  return function(spec)
    local decl = {}
    for k, v in pairs(spec) do decl[k] = v end
    local version = decl.api_version
    decl.api_version = nil
    decl.pagination = decl.pagination or "netbox"
    decl.page_size = decl.page_size or 200
    if decl.bulk == nil then decl.bulk = true end
    -- a sync is re-read and diffed again (moonsync sync --verify)
    if decl.verify == nil then decl.verify = true end
    local cls = rest.adapter(name, true)(decl)
    local rest_new = cls.new
    function cls.new(c, opts)
      opts = opts or {}
      local o = {}
      for k, v in pairs(opts) do o[k] = v end
      if not o.client then
        if type(o.url) ~= "string" or o.url == "" then
          error(fmt("%s adapter '%s': no url given (url = %s): is the environment variable "
                    .. "that should hold it set?", defaults.kind, name,
                    o.url == nil and "nil" or '""'), 2)
        end
        local headers = {}
        version = version or defaults.api_version
        if version then headers.Accept = "application/json; version=" .. version end
        o.client = {
          base_url = o.url, headers = headers,
          token = o.token, token_env = not o.token and (o.token_env or defaults.token_env) or nil,
          token_prefix = o.token_prefix, token_scheme = defaults.token_scheme,
          concurrency = o.concurrency or 8, timeout = o.timeout, retries = o.retries,
          insecure = o.insecure, ca_file = o.ca_file, rate = o.rate,
        }
      end
      o.url, o.token, o.token_env, o.concurrency, o.timeout, o.retries = nil, nil, nil, nil, nil, nil
      o.token_prefix = nil
      o.insecure, o.ca_file, o.rate = nil, nil, nil
      return rest_new(c, o)
    end
    return cls
  end
end

return M
