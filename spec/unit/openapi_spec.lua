-- Schema-aware models (moonsync.adapters.openapi): declarations checked
-- against the schema, values read from API records, write bodies.
local nautobot = require "moonsync.adapters.nautobot"
local openapi = require "moonsync.adapters.openapi"
local ms = require "moonsync"
local cjson = require "cjson"

describe("schema-aware models #unit", function()
  local api = nautobot.schema()

  it("knows the bundled resources and what each field is", function()
    local loc = api:resource("dcim.locations")
    assert.equals("/api/dcim/locations/", loc.path)
    assert.equals("/api/dcim/locations/{id}/", loc.detail)
    assert.equals("ref", loc.fields.parent.kind)
    assert.equals("dcim.locations", loc.fields.parent.target)
    assert.equals("extras.statuses", loc.fields.status.target)
    assert.is_true(loc.fields.status.required)
    assert.equals("m2m", loc.fields.tags.kind)
    assert.equals("extras.tags", loc.fields.tags.target)
    assert.equals("list", api:resource("extras.statuses").fields.content_types.kind)
    local itype = api:resource("dcim.interfaces").fields.type
    assert.equals("choice", itype.kind)
    assert.is_true(itype.choice_value)
    assert.truthy(#itype.enum > 100)
    assert.is_true(api:resource("ipam.prefixes").fields.network.readonly)
    assert.equals("ipam.prefixes", api:resource("ipam.ip-addresses").fields.parent.target)
  end)

  it("refuses at declaration a field the schema lacks, or a lookup through a non-reference", function()
    local function declare(attrs, resource)
      return select(2, pcall(api.model(api, "thing"), { resource = resource or "dcim.devices",
                                                        identifiers = { "name" }, attributes = attrs }))
    end
    assert.matches("model 'thing' %(dcim.devices%): field 'colour': dcim.devices has no field 'colour'",
                   declare { "colour" })
    assert.matches("field 'serial__name': 'serial' of dcim.devices is not a reference",
                   declare { "serial__name" })
    assert.matches("field 'location__parent__nme': dcim.locations has no field 'nme'",
                   declare { "location__parent__nme" })
    assert.matches("the schema has no resource 'dcim.device' %(did you mean dcim.controller%-managed%-device%-groups, dcim.device%-types, dcim.devices%?%)",
                   declare({}, "dcim.device"))
    assert.matches("'tags' of dcim.devices is a many%-to%-many list", declare { "tags__name" })
  end)

  it("names fields as the model does, checked at declaration, and refuses two queries on one resource", function()
    local function declare(name, spec)
      spec.resource = spec.resource or "dcim.locations"
      spec.identifiers = spec.identifiers or { "name" }
      return pcall(api.model(api, name), spec)
    end
    local ok, m = declare("site", { attributes = { "zone" }, fields = { zone = "time_zone" } })
    assert.is_true(ok, m)
    assert.equals("time_zone", m.api.fields.zone.lookup)
    assert.matches("fields.colour: not an identifier or attribute of the model",
                   select(2, declare("site", { fields = { colour = "time_zone" } })))
    assert.matches("dcim.locations has no field 'zone'", select(2, declare("site", { attributes = { "zone" } })))
    assert.matches("fields.zone: expected { \"lookup\", read =, write = }",
                   select(2, declare("site", { attributes = { "zone" }, fields = { zone = { read = print } } })))
    local _, a = declare("a", { query = { location_type = "Site" } })
    local _, b = declare("b", { query = { location_type = "Region" } })
    local ok2, err = pcall(nautobot.adapter "nb", { models = { a, b } })
    assert.is_false(ok2)
    assert.matches("models 'a' and 'b' read dcim.locations with different queries %(location_type%)", err)
  end)

  local Device = api:model "device" {
    resource = "dcim.devices",
    identifiers = { "name", "location__name", "location__parent__name" },
    attributes = { "location__parent__location_type__name", "status__name", "serial", "tags",
                   "custom_fields__owner" },
  }

  it("reads lookups through nested objects, and many-to-many lists sorted", function()
    assert.equals(3, Device.api.fields.location__parent__location_type__name.depth)
    local rec = { name = "d1", serial = "S", status = { name = "Active" },
                  location = { name = "ams", parent = { name = "eu", location_type = { name = "Region" } } },
                  tags = { { name = "z" }, { name = "a" } }, custom_fields = { owner = "ops" } }
    local f = Device.api.fields
    assert.equals("eu", openapi.read_field(f.location__parent__name, rec))
    assert.equals("Region", openapi.read_field(f.location__parent__location_type__name, rec))
    assert.equals("ops", openapi.read_field(f.custom_fields__owner, rec))
    -- the API's order never makes a false update
    assert.equals('[{"name":"a"},{"name":"z"}]', cjson.encode(openapi.read_field(f.tags, rec)))
    rec.location.parent = ms.null
    assert.is_nil(openapi.read_field(f.location__parent__name, rec))
  end)

  it("writes references as nested attributes, null when none has a value", function()
    local all = { "name", "location__name", "location__parent__name",
                  "location__parent__location_type__name", "status__name", "serial", "tags",
                  "custom_fields__owner" }
    local body = openapi.body(Device, { name = "d1", location__name = "ams", location__parent__name = "eu",
      location__parent__location_type__name = "Region", status__name = "Active", serial = "S",
      tags = { { name = "a" } }, custom_fields__owner = "ops" }, all)
    assert.same({ name = "d1", serial = "S", status = { name = "Active" },
                  location = { name = "ams", parent = { name = "eu", location_type = { name = "Region" } } },
                  tags = { { name = "a" } }, custom_fields = { owner = "ops" } }, body)
    body = openapi.body(Device, { name = "d1", location__name = "ams", location__parent__name = ms.null,
      location__parent__location_type__name = ms.null, status__name = "Active", serial = "",
      tags = {} }, all)
    assert.equals(ms.null, body.location.parent)
    -- an empty list goes as [] (not cjson's {})
    assert.equals(require("moonsync.http").EMPTY_LIST, body.tags)
  end)

  it("keeps lookups beside a record, gives it its own flags, and turns its delete into a PATCH", function()
    local Vlan = api:model "vlan" {
      resource = "ipam.vlans", identifiers = { "name" }, attributes = { "vid" },
      keep = { "tags", "status__name" },
      flag = function(kept) if kept.status__name == "Deprecated" then return { "SKIP_UNMATCHED_DST" } end end,
      retire = function(_, _, kept) return { status = { name = "Deprecated" }, tags = kept.tags } end,
    }
    local res = openapi.resources("nautobot", { Vlan }, nautobot.preset).vlan
    local flags, kept = res.annotate({ name = "v1", vid = 1, status = { name = "Deprecated" },
                                       tags = { { name = "z" }, { name = "a" } } }, nil, {})
    assert.same({ "SKIP_UNMATCHED_DST" }, flags)
    assert.same({ tags = { "a", "z" }, status__name = "Deprecated" }, kept)
    assert.is_nil((res.annotate({ name = "v2", vid = 2, status = { name = "Active" }, tags = {} }, nil, {})))
    assert.same({ status = { name = "Deprecated" } }, res.retire({ name = "v1" }, nil, { uid = "v1" }))
    assert.has_error(function()
      api:model "x" { resource = "ipam.vlans", identifiers = { "name" }, flag = "SKIP_UNMATCHED_DST" }
    end, "model 'x' (ipam.vlans): flag must be a function")
    assert.has_error(function()
      api:model "x" { resource = "ipam.vlans", identifiers = { "name" }, keep = { "nope" } }
    end)
  end)

  it("writes a prefix as one string of its network and length", function()
    local Prefix = api:model "prefix" { resource = "ipam.prefixes",
      identifiers = { "network", "prefix_length", "namespace__name" }, attributes = { "status__name" } }
    local body = openapi.body(Prefix, { network = "10.0.0.0", prefix_length = 24, namespace__name = "Global",
      status__name = "Active" }, { "network", "prefix_length", "namespace__name", "status__name" },
      nautobot.preset.composites["ipam.prefixes"])
    assert.same({ prefix = "10.0.0.0/24", namespace = { name = "Global" }, status = { name = "Active" } }, body)
  end)

  it("on NetBox, a lookup past the brief object is refused", function()
    local h = require "helpers"
    local nb = require("moonsync.adapters.netbox").schema(h.read(h.fixtures .. "/netbox/openapi.json"))
    assert.equals("dcim.sites", nb:resource("dcim.devices").fields.site.target)
    assert.has_no.errors(function()
      nb:model "d" { resource = "dcim.devices", identifiers = { "name", "site__name" } }
    end)
    local ok, err = pcall(nb.model(nb, "d"), { resource = "dcim.devices", identifiers = { "name", "site__region" } })
    assert.is_false(ok)
    assert.matches("NetBox answers 'site' of dcim.devices as a brief object, which has no 'region'", err)
  end)
end)
