--- The Nautobot adapter (DiffSync's adapter_nautobot.py): regions and
-- sites of a remote Nautobot, created and updated over its REST API.
local ms = require "moonsync"
local http = require "moonsync.http"
local models = require "models"

local M = {}

local REGIONS, SITES = "/api/dcim/regions/", "/api/dcim/sites/"

-- the record named `name` in a Nautobot list, or nil
local function named(api, path, name)
  return api:get(path, { query = { name = name } }):json().results[1]
end

local Region
--- Region create/update/delete towards the remote Nautobot.
Region = models.RegionModel {
  create = function(diffsync, ids, attrs)
    local data = { name = ids.name, slug = attrs.slug }
    if attrs.description ~= ms.null and attrs.description ~= "" then
      data.description = attrs.description
    end
    if attrs.parent_name ~= ms.null and attrs.parent_name ~= "" then
      -- as in DiffSync's example: the parent's pk, which a region created
      -- in this same sync does not know yet ("None")
      local pk = diffsync:get(Region, attrs.parent_name).pk
      data.parent = pk ~= nil and pk ~= ms.null and tostring(pk) or "None"
    end
    diffsync.nautobot_api:post(REGIONS, data)
    return diffsync:create_base(Region, ids, attrs)
  end,
  update = function(diffsync, record, attrs)
    local region = named(diffsync.nautobot_api, REGIONS, record.name)
    local data = {}
    if attrs.slug ~= nil then data.slug = attrs.slug end
    if attrs.description ~= nil then data.description = attrs.description end
    if attrs.parent_name ~= nil then
      if attrs.parent_name ~= ms.null and attrs.parent_name ~= "" then
        data.parent = diffsync:get(Region, attrs.parent_name).name
      else
        data.parent = ms.null
      end
    end
    diffsync.nautobot_api:patch(REGIONS .. region.id .. "/", data)
    return diffsync:update_base(record, attrs)
  end,
  delete = function(diffsync, record)
    return diffsync:delete_base(record)
  end,
}

--- Site create/update/delete towards the remote Nautobot.
local Site = models.SiteModel {
  create = function(diffsync, ids, attrs)
    diffsync.nautobot_api:post(SITES, {
      name = ids.name,
      slug = attrs.slug,
      description = attrs.description,
      status = attrs.status_slug,
      region = attrs.region_name ~= ms.null and { name = attrs.region_name } or ms.null,
      latitude = attrs.latitude,
      longitude = attrs.longitude,
    })
    return diffsync:create_base("site", ids, attrs)
  end,
  update = function(diffsync, record, attrs)
    local site = named(diffsync.nautobot_api, SITES, record.name)
    local data = {}
    for _, k in ipairs { "slug", "description", "latitude", "longitude" } do
      if attrs[k] ~= nil then data[k] = attrs[k] end
    end
    if attrs.status_slug ~= nil then data.status = attrs.status_slug end
    if attrs.region_name ~= nil then
      data.region = attrs.region_name ~= ms.null and { name = attrs.region_name } or ms.null
    end
    diffsync.nautobot_api:patch(SITES .. site.id .. "/", data)
    return diffsync:update_base(record, attrs)
  end,
  delete = function(diffsync, record)
    return diffsync:delete_base(record)
  end,
}

--- NautobotRemote:new { url = ..., token = ... }
M.NautobotRemote = ms.adapter "NautobotRemote" {
  models = { Region, Site },
  top_level = { "region" },
  --- Load Region and Site data from the remote Nautobot instance.
  load = function(self)
    local o = self.options
    if not o.url or not o.token then error("Both url and token must be specified!", 2) end
    self.nautobot_api = http.client { base_url = o.url, token = o.token }
    for _, region_entry in ipairs(self.nautobot_api:get_all(REGIONS)) do
      self:add(Region {
        name = region_entry.name,
        slug = region_entry.slug,
        description = region_entry.description ~= "" and region_entry.description or nil,
        parent_name = region_entry.parent ~= ms.null and region_entry.parent.name or nil,
        pk = region_entry.id,
      })
    end
    for _, site_entry in ipairs(self.nautobot_api:get_all(SITES)) do
      local site = self:add(Site {
        name = site_entry.name,
        slug = site_entry.slug,
        status_slug = site_entry.status ~= ms.null and site_entry.status.value or "active",
        region_name = site_entry.region ~= ms.null and site_entry.region.name or nil,
        description = site_entry.description,
        longitude = site_entry.longitude,
        latitude = site_entry.latitude,
        pk = site_entry.id,
      })
      if site_entry.region ~= ms.null then
        self:get(Region, site_entry.region.name):add_child(site)
      end
    end
  end,
}

return M
