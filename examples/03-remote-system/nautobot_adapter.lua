--- The Nautobot adapter (DiffSync's nautobot_adapter.py and
-- nautobot_models.py): regions and countries are both Nautobot regions,
-- countries being those with a parent; the population lives in a custom
-- field. Talks to Nautobot's REST API with moonsync.http.
local ms = require "moonsync"
local http = require "moonsync.http"
local models = require "models"

local M = {}

M.NAUTOBOT_URL = os.getenv("NAUTOBOT_URL") or "https://demo.nautobot.com"
M.NAUTOBOT_TOKEN = os.getenv("NAUTOBOT_TOKEN") or string.rep("a", 40)

local REGIONS = "/api/dcim/regions/"

M.CUSTOM_FIELDS = {
  {
    name = "country_population",
    display = "Population (nbr people)",
    content_types = { "dcim.region" },
    type = "integer",
    description = "Number of inhabitant per country",
  },
}

--- A region, with the Nautobot UUID kept to update and delete it; it
-- supports no create, update or delete towards Nautobot.
local NautobotRegion = ms.model "region" (models.declare(models.Region, {
  extra_fields = { "remote_id" },
}))

local NautobotCountry
NautobotCountry = ms.model "country" (models.declare(models.Country, {
  extra_fields = { "remote_id" },
  --- Create a country in Nautobot, attached to its parent region.
  create = function(diffsync, ids, attrs)
    -- the parent region's UUID, from the internal cache
    local region = diffsync:get(NautobotRegion, attrs.region)
    local res = diffsync.nautobot:post(REGIONS, {
      slug = ids.slug,
      name = attrs.name,
      custom_fields = { population = attrs.population },
      parent = region.remote_id,
    }, { raise = false })
    if res.status >= 400 then
      print(("Unable to create country %s | %s | %s"):format(ms.pyrepr(ids),
        ms.pyrepr(attrs, NautobotCountry.attributes), res.body))
      return nil
    end
    local country = res:json()
    print(("Created country : %s | %s | %s"):format(ms.pyrepr(ids),
      ms.pyrepr(attrs, NautobotCountry.attributes), country.id))
    local rec = diffsync:create_base(NautobotCountry, ids, attrs)
    rec.remote_id = country.id
    return rec
  end,
  --- Update a country in Nautobot.
  update = function(diffsync, record, attrs)
    local path = REGIONS .. record.remote_id .. "/"
    local remote = diffsync.nautobot:get(path):json()
    local changes = {}
    if attrs.population ~= nil then
      remote.custom_fields.country_population = attrs.population
      changes.custom_fields = remote.custom_fields
    end
    if attrs.name ~= nil then changes.name = attrs.name end
    if next(changes) then diffsync.nautobot:patch(path, changes) end
    print(("Updated Country %s | %s"):format(record.slug, ms.pyrepr(attrs, NautobotCountry.attributes)))
    return diffsync:update_base(record, attrs)
  end,
  --- Delete a country in Nautobot.
  delete = function(diffsync, record)
    diffsync.nautobot:delete(REGIONS .. record.remote_id .. "/")
    return diffsync:delete_base(record)
  end,
}))

M.NautobotAdapter = ms.adapter "NautobotAdapter" {
  models = { NautobotRegion, NautobotCountry },
  top_level = { "region" },
  type = "Nautobot",
  --- Load all data from Nautobot into the internal cache.
  load = function(self)
    self.nautobot = http.client { base_url = M.NAUTOBOT_URL, token = M.NAUTOBOT_TOKEN }
    -- all regions, which includes all regions and all countries
    local regions = self.nautobot:get_all(REGIONS)
    -- regions first (top level objects without parent)
    for _, region in ipairs(regions) do
      if region.parent == ms.null then
        self:add(NautobotRegion { slug = region.slug, name = region.name, remote_id = region.id })
      end
    end
    -- then countries (a country has a parent)
    for _, country in ipairs(regions) do
      if country.parent ~= ms.null then
        local parent = self:get(NautobotRegion, country.parent.slug)
        local item = self:add(NautobotCountry {
          slug = country.slug,
          name = country.name,
          region = parent.slug,
          population = country.custom_fields.country_population,
          remote_id = country.id,
        })
        parent:add_child(item)
      end
    end
  end,
  methods = {
    --- Sync, having first made sure that Nautobot has the custom fields.
    sync_from = function(self, source, opts)
      for _, custom_field in ipairs(M.CUSTOM_FIELDS) do
        local found = self.nautobot:get("/api/extras/custom-fields/",
                                        { query = { name = custom_field.name } }):json()
        if #found.results == 0 then
          self.nautobot:post("/api/extras/custom-fields/", custom_field)
        end
      end
      return ms.Adapter.sync_from(self, source, opts)
    end,
  },
}

return M
