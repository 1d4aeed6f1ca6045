--- The local adapter (DiffSync's local_adapter.py): regions and countries
-- from countries.json.
local ms = require "moonsync"
local core = require "moonsync.core"
local util = require "moonsync.util"
local models = require "models"

local Region, Country = models.RegionModel, models.CountryModel

local M = {}

--- python-slugify's slugify for the plain ASCII names of countries.json:
-- lower case, runs of other characters as one "-".
function M.slugify(text)
  if text:find("[\128-\255]") then
    error(("slugify: '%s' needs a transliteration table"):format(text), 2)
  end
  return (text:lower():gsub("[^%w]+", "-"):gsub("^%-+", ""):gsub("%-+$", ""))
end

M.LocalAdapter = ms.adapter "LocalAdapter" {
  models = { Region, Country },
  -- countries are children of regions: only region is listed here
  top_level = { "region" },
  -- human readable name of the adapter, shown in diffs
  type = "Local",
  --- Load all regions and countries from a local JSON file.
  load = function(self, filename)
    local countries = core.json_decode(util.read_file(filename), filename)
    -- all regions first. DiffSync's example takes them from a Python set,
    -- whose order changes from run to run; here they come in order of
    -- first appearance (see README.md)
    local seen = {}
    for _, country in ipairs(countries) do
      if not seen[country.region] then
        seen[country.region] = true
        self:add(Region { slug = M.slugify(country.region), name = country.region })
      end
    end
    -- then every country, linked to its parent region
    for _, country in ipairs(countries) do
      local region = self:get(Region, M.slugify(country.region))
      local name = country.country
      -- the population is stored in thousands in the local file
      local population = math.tointeger(math.floor(tonumber(country.pop2021) * 1000))
      local item = self:add(Country { slug = M.slugify(name), name = name,
                                      population = population, region = region.slug })
      region:add_child(item)
    end
  end,
}

return M
