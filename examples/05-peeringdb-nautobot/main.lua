-- Example 5: PeeringDB facilities into Nautobot-style regions and sites.
-- The PeeringDB API response (a local copy here) is mapped in C; sites
-- that exist only in Nautobot (our own offices) must stay, so the sync
-- runs with SKIP_UNMATCHED_DST. The result goes to a copy of nautobot.json.
-- Run: bin/moonsync run examples/05-peeringdb-nautobot/main.lua [OUT.json]
local ms = require "moonsync"
local json_file = require "moonsync.adapters.json_file"
local util = require "moonsync.util"

local here = (arg[0]:match("^(.*)/[^/]*$") or ".")
local out = (...) or os.tmpname()
local schema = ms.schema(here .. "/schema.json")
local Region, Site = schema.model.region, schema.model.site

-- a site name as Nautobot slugs it: "Equinix AM3" -> "equinix-am3"
local function slug(name) return (name:lower():gsub("[^%w]+", "-"):gsub("^-+", ""):gsub("-+$", "")) end

local PeeringDB = schema:adapter("peeringdb", "source", {
  load = function(self, path)
    local doc = require("moonsync.core").json_decode(util.read_file(path))
    for _, fac in ipairs(doc.data) do
      if fac.status == "ok" then self:get_or_instantiate(Region, { name = fac.region_continent }) end
    end
    self:load_mapped(ms.mapping { model = Site, from = "data",
      fields = {
        name = { path = "name", transform = slug },
        region_name = "region_continent",
        facility = "name",
        latitude = "latitude", longitude = "longitude",
        description = { compute = function(r) return r.city .. ", " .. r.country end },
      },
      where = { status = "ok" },
      parent = { model = Region, ids = { name = "region_name" } } }, { file = path })
  end,
})

util.write_atomic(out, util.read_file(here .. "/nautobot.json"))
local src = PeeringDB:new():load(here .. "/peeringdb-facilities.json")
local dst = json_file.open { schema = schema, path = out, name = "nautobot", side = "dest" }

local diff = dst:diff_from(src, { flags = { "SKIP_UNMATCHED_DST" } })
print(diff:str())
print(diff:summary_json())
local _, res = dst:sync_from(src, { diff = diff, flags = { "SKIP_UNMATCHED_DST" } })
dst:commit()
print(("synced into %s: %d created, %d updated; office-lon kept: %s"):format(
  out, res.created, res.updated, tostring(dst:get_or_none("site", "office-lon") ~= nil)))
