--- The models shared by both adapters (DiffSync's models.py), each
-- adapter declaring them with its own handlers.
local ms = require "moonsync"

local M = {}

--- A Region; pk (the remote id) is not compared.
function M.RegionModel(handlers)
  return ms.model "region" {
    identifiers = { "name" },
    attributes = { "slug", "description", "parent_name" },
    extra_fields = { "pk" },
    children = { site = "sites" },
    create = handlers and handlers.create,
    update = handlers and handlers.update,
    delete = handlers and handlers.delete,
  }
end

--- A Site (to keep the example simple, not every attribute of a site).
function M.SiteModel(handlers)
  return ms.model "site" {
    identifiers = { "name" },
    attributes = { "slug", "status_slug", "region_name", "description", "latitude", "longitude" },
    extra_fields = { "pk" },
    create = handlers and handlers.create,
    update = handlers and handlers.update,
    delete = handlers and handlers.delete,
  }
end

--- python-slugify's slugify for plain ASCII names: lower case, runs of
-- other characters as one "-".
function M.slugify(text)
  if text:find("[\128-\255]") then
    error(("slugify: '%s' needs a transliteration table"):format(text), 2)
  end
  return (text:lower():gsub("[^%w]+", "-"):gsub("^%-+", ""):gsub("%-+$", ""))
end

return M
