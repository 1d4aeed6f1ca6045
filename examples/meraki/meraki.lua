-- A Meraki Dashboard adapter written from scratch (docs/adapters.md walks
-- through it): the HTTP client fetches networks and devices of one
-- organization, and mappings turn Meraki's shapes into the models in C.
-- It is read-only: a source for syncing Meraki into a source of truth.
local ms = require "moonsync"
local http = require "moonsync.http"

local M = {}

--- The adapter class, for the models of a schema (site and device).
function M.adapter(schema)
  local Site, Device = schema.model.site, schema.model.device

  -- networks become sites; their Meraki id is remembered for the devices
  local sites = ms.mapping { name = "meraki networks", model = Site, id = "id",
    fields = {
      name = "name",
      time_zone = "timeZone",
      tags = { path = "tags", set = true },      -- order does not matter
    } }

  -- devices refer to their network by id: `ref` finds the site built above
  local devices = ms.mapping { name = "meraki devices", model = Device,
    fields = {
      serial = "serial",
      name = { path = "name", transform = "trim" },
      site_name = { ref = Site, path = "networkId", field = "name" },
      model = "model",
      mac = { path = "mac", transform = "mac" },  -- any notation -> aa:bb:cc:dd:ee:ff
      primary_ip = { path = "lanIp", transform = "ip" },
    },
    -- devices not yet in a network are not in the source of truth
    filter = function(d) return d.networkId ~= nil and d.networkId ~= ms.null end,
    parent = { model = Site, ids = { name = "site_name" } } }

  return schema:adapter("meraki", "source", {
    load = function(self)
      local o = self.options
      local api = http.client { base_url = o.url, token_env = o.token_env, token_header = "X-Cisco-Meraki-API-Key",
                                token_prefix = "", concurrency = 4, rate = o.rate }
      local base = "/organizations/" .. o.organization
      -- Meraki pages with Link headers; get_all follows them
      self:load_mapped(sites, api:get_all(base .. "/networks", { query = o.page_query }))
      self:load_mapped(devices, api:get_all(base .. "/devices", { query = o.page_query }))
    end,
  })
end

return M
