--- The PeeringDB adapter (DiffSync's adapter_peeringdb.py): the
-- facilities of an internet exchange become sites, their cities regions
-- under a region per country.
local ms = require "moonsync"
local http = require "moonsync.http"
local models = require "models"

local M = {}

M.PEERINGDB_URL = os.getenv("PEERINGDB_URL") or "https://peeringdb.com/"
M.PEERINGDB_API_KEY = os.getenv("PEERINGDB_API_KEY") or ""

--- Country names by ISO 3166 alpha-2 code, as pycountry names them (the
-- countries of the bundled data and their neighbours).
M.COUNTRIES = {
  AD = "Andorra", AT = "Austria", BE = "Belgium", CH = "Switzerland", DE = "Germany",
  DK = "Denmark", ES = "Spain", FR = "France", GB = "United Kingdom", IE = "Ireland",
  IT = "Italy", LU = "Luxembourg", NL = "Netherlands", PT = "Portugal", US = "United States",
}

local Region, Site = models.RegionModel(), models.SiteModel()

M.PeeringDB = ms.adapter "PeeringDB" {
  models = { Region, Site },
  top_level = { "region" },
  --- Load the exchange's facilities from PeeringDB.
  load = function(self)
    local headers = {}
    if M.PEERINGDB_API_KEY ~= "" then headers.Authorization = "Api-Key " .. M.PEERINGDB_API_KEY end
    local api = http.client { base_url = M.PEERINGDB_URL, headers = headers }
    local ix_data = api:get("/api/ix/" .. self.options.ix_id):json()
    for _, fac in ipairs(ix_data.data[1].fac_set) do
      -- PeeringDB has no region entity: avoid duplicates
      local region = self:get_or_none(Region, fac.city)
      if not region then
        local parent_name = M.COUNTRIES[fac.country]
        if not parent_name then
          error(("country code %s: add its name to COUNTRIES"):format(fac.country))
        end
        -- the country as a parent region, if not added yet
        if not self:get_or_none(Region, parent_name) then
          self:add(Region { name = parent_name, slug = models.slugify(parent_name) })
        end
        region = self:add(Region { name = fac.city, slug = models.slugify(fac.city),
                                   parent_name = parent_name })
      end
      local site = self:add(Site {
        name = fac.name,
        slug = models.slugify(fac.name),
        status_slug = "active",
        region_name = fac.city,
        description = fac.notes,
        longitude = fac.longitude,
        latitude = fac.latitude,
        pk = fac.id,
      })
      region:add_child(site)
    end
  end,
}

return M
