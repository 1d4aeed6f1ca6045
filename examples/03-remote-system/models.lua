--- The models shared by both adapters (DiffSync's models.py).
local ms = require "moonsync"

local M = {}

--- A Region: a list of countries.
M.Region = {
  identifiers = { "slug" },
  attributes = { "name" },
  -- by listing country as a child of region, the diff and the sync
  -- recursively compare all regions and their countries
  children = { country = "countries" },
}

--- A Country: part of a region, with its population.
M.Country = {
  identifiers = { "slug" },
  attributes = { "name", "region", "population" },
}

--- The model classes from the declarations above, with extra fields
-- and handlers for one adapter (as DiffSync's subclasses add them).
function M.declare(decl, extra)
  local d = {}
  for k, v in pairs(decl) do d[k] = v end
  for k, v in pairs(extra or {}) do d[k] = v end
  return d
end

M.RegionModel = ms.model "region" (M.Region)
M.CountryModel = ms.model "country" (M.Country)

return M
