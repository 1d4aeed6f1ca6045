local ms = require "moonsync"

local Site = ms.model "site" {
  identifiers = { "name" }, attributes = { "status" },
  children = { device = "devices" },
}
local Device = ms.model "device" {
  identifiers = { "site_name", "name" }, attributes = { "role" },
}

local Inventory = ms.adapter "inventory" {
  models = { Site, Device },
  load = function(self, sites)
    for _, s in ipairs(sites) do
      local site = self:add(Site { name = s.name, status = s.status })
      for _, d in ipairs(s.devices or {}) do
        local dev = self:add(Device { site_name = s.name, name = d.name, role = d.role })
        site:add_child(dev)
      end
    end
  end,
}

describe("moonsync.adapter", function()
  local inv
  before_each(function()
    inv = Inventory:new { name = "src" }
    inv:load {
      { name = "ams", status = "active", devices = { { name = "sw1", role = "leaf" } } },
      { name = "ber", status = "planned" },
    }
  end)

  it("defaults top_level to models that are nobody's child", function()
    assert.same({ "site" }, inv:get_top_level())
  end)

  it("stores records in C and hands out handles", function()
    local s = inv:get("site", "ams")
    assert.equals("active", s.status)
    s.status = "retired"
    assert.equals("retired", inv:get(Site, "ams").status)
    assert.equals(inv:get("site", "ams"), s)
  end)

  it("looks records up by identifier table", function()
    local d = inv:get(Device, { site_name = "ams", name = "sw1" })
    assert.equals("leaf", d.role)
    assert.is_nil(inv:get_or_none(Device, { site_name = "ams", name = "nope" }))
  end)

  it("raises ObjectNotFound naming adapter, model and uid", function()
    local ok, err = pcall(inv.get, inv, "site", "zzz")
    assert.is_false(ok)
    assert.equals("ObjectNotFound", err.type)
    assert.equals("site zzz not present in src", err.message)
    assert.equals("src", err.adapter)
    assert.equals("site", err.model)
    assert.equals("zzz", err.uid)
    assert.equals("ObjectNotFound: site zzz not present in src (adapter 'src', model 'site', uid 'zzz')",
                  tostring(err))
  end)

  it("raises ObjectAlreadyExists on a duplicate uid", function()
    local ok, err = pcall(inv.add, inv, Site { name = "ams" })
    assert.is_false(ok)
    assert.equals("ObjectAlreadyExists", err.type)
    assert.equals("Object ams already present", err.message)
    assert.equals("src", err.adapter)
  end)

  it("raises a clear error for an unknown model", function()
    local ok, err = pcall(inv.get_all, inv, "vlan")
    assert.is_false(ok)
    assert.equals("adapter 'src' has no model 'vlan'", err.message)
  end)

  it("returns get_all in insertion order and counts", function()
    local names = {}
    for _, s in ipairs(inv:get_all("site")) do names[#names + 1] = s.name end
    assert.same({ "ams", "ber" }, names)
    assert.equals(2, inv:count("site"))
    assert.equals(3, inv:count())
    assert.equals(3, #inv)
  end)

  it("gets by uids in the order given", function()
    local recs = inv:get_by_uids({ "ber", "ams" }, "site")
    assert.equals("ber", recs[1].name)
    assert.equals("ams", recs[2].name)
    local ok, err = pcall(inv.get_by_uids, inv, { "ams", "x" }, "site")
    assert.is_false(ok)
    assert.equals("site x not present in src", err.message)
  end)

  it("removes records, with or without their children", function()
    inv:remove(inv:get("site", "ams"))
    assert.equals(1, inv:count("device"))
    local again = Inventory:new()
    again:load { { name = "ams", devices = { { name = "sw1" } } } }
    again:remove(again:get("site", "ams"), true)
    assert.equals(0, again:count())
    local ok, err = pcall(inv.remove, inv, Site { name = "nope" })
    assert.is_false(ok)
    assert.equals("ObjectNotFound", err.type)
  end)

  it("re-adds a removed uid at the end of the order", function()
    inv:remove(inv:get("site", "ams"))
    inv:add(Site { name = "ams" })
    local names = {}
    for _, s in ipairs(inv:get_all("site")) do names[#names + 1] = s.name end
    assert.same({ "ber", "ams" }, names)
  end)

  it("get_or_instantiate returns existing records unchanged", function()
    local s, created = inv:get_or_instantiate(Site, { name = "ams" }, { status = "x" })
    assert.is_false(created)
    assert.equals("active", s.status)
    s, created = inv:get_or_instantiate(Site, { name = "cdg" }, { status = "x" })
    assert.is_true(created)
    assert.equals("x", inv:get("site", "cdg").status)
  end)

  it("update_or_instantiate applies attributes", function()
    local s, created = inv:update_or_instantiate(Site, { name = "ams" }, { status = "x" })
    assert.is_false(created)
    assert.equals("x", s.status)
    s, created = inv:update_or_instantiate(Site, { name = "osl" }, { status = "y" })
    assert.is_true(created)
    assert.equals("y", s.status)
  end)

  it("refuses to change an identifier of a stored record", function()
    local s = inv:get("site", "ams")
    local ok, err = pcall(function() s.name = "zzz" end)
    assert.is_false(ok)
    assert.matches("identifier 'name' of a stored record cannot change", err.message)
  end)

  it("prints like DiffSync's str() and dict()", function()
    assert.equals(table.concat({
      "site",
      "  site: ams: {'status': 'active'}",
      "    devices",
      "      device: ams__sw1: {'role': 'leaf'}",
      "  site: ber: {'status': 'planned'}",
      "    devices: []" }, "\n"), inv:str())
    local d = inv:dict()
    assert.same({ name = "ams", status = "active", devices = { "ams__sw1" } }, d.site.ams)
  end)

  it("loads a nested data document in C", function()
    local a = Inventory:new()
    a:load_json('{"site": [{"name": "x", "status": 1.0, "devices": [{"site_name": "x", "name": "d"}]}]}')
    assert.equals(2, a:count())
    assert.equals("float", math.type(a:get("site", "x").status))
    assert.same({ "x__d" }, a:get("site", "x").devices)
  end)

  it("reports malformed documents with position", function()
    local a = Inventory:new()
    local ok, err = pcall(a.load_json, a, '{"site": [\n  {"name": }]}', { name = "doc.json" })
    assert.is_false(ok)
    assert.equals("ParseError", err.type)
    assert.equals("doc.json:2:12: unexpected character", err.message)
    ok, err = pcall(a.load_json, a, '{"site": [{"status": "x"}]}', { name = "doc.json" })
    assert.is_false(ok)
    assert.equals("ValidationError", err.type)
    assert.equals("doc.json: site[0]: site: identifier 'name' is missing (a required field; null is a "
                  .. "value, read as None)", err.message)
  end)

  it("rejects unknown declaration keys", function()
    local ok, err = pcall(ms.adapter "x", { models = { Site }, top_levle = { "site" } })
    assert.is_false(ok)
    assert.matches("unknown key 'top_levle'", err)
  end)
end)
