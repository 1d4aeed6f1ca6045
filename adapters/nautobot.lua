--- A Nautobot adapter on the REST adapter: token auth ("Authorization:
-- Token ..."), the API version header, NetBox-style pagination
-- (count/next/results, fetched concurrently once the count is known),
-- bulk writes on list endpoints, and natural keys mapped to server ids
-- through `refs`.
--
-- Models declared on the API's schema need no resources (see
-- moonsync.adapters.openapi): `nautobot.schema()` is Nautobot 3.1's,
-- bundled.
--
--   local nautobot = require "moonsync.adapters.nautobot"
--   local api = nautobot.schema()
--   local Location = api:model "location" { resource = "dcim.locations",
--     identifiers = { "name" }, attributes = { "status__name", "parent__name" } }
--   local Nb = nautobot.adapter "nautobot" { models = { Location } }
--   local nb = Nb:new { url = os.getenv "NAUTOBOT_URL", token_env = "NAUTOBOT_TOKEN" }
-- @module nautobot
local ms = require "moonsync"
local http = require "moonsync.http"
local rest = require "moonsync.adapters.rest"
local openapi = require "moonsync.adapters.openapi"

local fmt = string.format

local M = { kind = "nautobot", api_version = "2.0", token_env = "NAUTOBOT_TOKEN" }

-- What Nautobot's API needs beyond its schema: nested objects are asked
-- for with ?depth=N, many-to-many fields with exclude_m2m=false, and a
-- prefix or IP address is written as one string of its network (host)
-- and length.
M.preset = {
  name = "nautobot",
  query = function(depth) return { depth = tostring(depth), exclude_m2m = "false" } end,
  -- references are read once per resource and followed in memory
  join = true,
  composites = {
    ["ipam.prefixes"] = { prefix = { fields = { "network", "prefix_length" }, sep = "/" } },
    ["ipam.ip-addresses"] = { address = { fields = { "host", "mask_length" }, sep = "/" } },
  },
}

local bundled

--- The catalogue of a Nautobot OpenAPI document (its JSON text or the
-- decoded table, e.g. a Nautobot's /api/swagger.json); without one, the
-- bundled subset of Nautobot 3.1's (the resources of the SSoT example
-- job: see docs/nautobot.md).
function M.schema(doc)
  if doc == nil then
    bundled = bundled or openapi.schema(require "moonsync.adapters.nautobot_openapi",
                                        { preset = "nautobot" })
    return bundled
  end
  return openapi.schema(doc, { preset = "nautobot" })
end

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
    -- models declared on a schema bring their own resources
    local schema_models = false
    for _, m in ipairs(decl.models or {}) do
      if type(m) == "table" and m.api then schema_models = m.api.schema end
    end
    if schema_models then
      local generated = openapi.resources(name, decl.models, defaults.preset or {})
      local res = {}
      for k, v in pairs(decl.resources or {}) do res[k] = v end
      for k, v in pairs(generated) do
        if res[k] then
          error(fmt("%s adapter '%s': model '%s' is declared on the schema and also has a "
                    .. "resource: drop one", defaults.kind, name, k), 2)
        end
        res[k] = v
      end
      decl.resources = res
      -- a dry run (and the check before a sync) builds each write's body:
      -- a reference that resolves to nothing is reported before anything is sent
      local own = decl.validate
      decl.validate = function(self, action, model, keys, attrs)
        local r = generated[model.name]
        if r and action ~= "delete" then
          local ok, uid = pcall(function() return model(keys):get_unique_id() end)
          local f = rest.values_after(self, model.name, action == "update" and ok and uid or nil,
                                      keys, attrs)
          local err
          ok, err = pcall(r.to_api, f, self, { action = action, keys = keys, attrs = attrs })
          if not ok then return false, tostring(err) end
        end
        if own then return own(self, action, model, keys, attrs) end
        return true
      end
      if version == nil and defaults.api_version and schema_models.version then
        version = schema_models.version:match("^(%d+%.%d+)")
      end
    end
    decl.pagination = decl.pagination or "netbox"
    decl.page_size = decl.page_size or 200
    if decl.bulk == nil then decl.bulk = true end
    -- a sync is re-read and diffed again (moonsync sync --verify)
    if decl.verify == nil then decl.verify = true end
    local cls = rest.adapter(name, true)(decl)
    --- The target object's page in Nautobot's web interface (SSoT's
    -- lookup_object): its API detail path without /api, or nil.
    function cls.object_url(self, model, uid)
      local res = self.rest.resources[model]
      local sid = res and self._sid[model] and self._sid[model][uid]
      if sid == nil then return nil end
      local base = self.client.base_url:gsub("/+$", "")
      return base .. (rest.detail(res, sid):gsub("^/api/", "/"))
    end
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

--- The location type `name` as the Nautobot at `url` has it (token in
-- env var `token_env`): {name =, parent = its parent type's name or nil,
-- content_types = {"dcim.device", ...}}. An unknown type is an error
-- naming it (and `setting`, the job setting that names it).
function M.location_type(url, token_env, name, setting)
  if type(url) ~= "string" or url == "" then error("nautobot: no Nautobot URL given (NAUTOBOT_URL)", 2) end
  local c = http.client { base_url = url, token_env = token_env, token_prefix = "Token ",
                          headers = { Accept = "application/json; version=" .. M.api_version } }
  local page = c:get("/api/dcim/location-types/", { query = { name = name, depth = "1" } }):json()
  local lt = type(page) == "table" and type(page.results) == "table" and page.results[1]
  if not lt then
    error(ms.error("ValueError", fmt("Nautobot at %s has no location type '%s'%s", url, tostring(name),
                                     setting and " (" .. setting .. ")" or "")), 0)
  end
  local parent = lt.parent ~= ms.null and type(lt.parent) == "table" and lt.parent.name or nil
  local cts = {}
  for i, ct in ipairs(type(lt.content_types) == "table" and lt.content_types or {}) do cts[i] = ct end
  return { name = lt.name, parent = parent, content_types = cts }
end

return M
