local ms = require "moonsync"

local Site = ms.model "site" {
  identifiers = { "name" }, attributes = { "status", "region" },
  children = { device = "devices" },
}
local Device = ms.model "device" {
  identifiers = { "site_name", "name" }, shortname = { "name" },
  attributes = { "role" },
}

local function adapter(name, data)
  local A = ms.adapter(name) { models = { Site, Device } }
  local a = A:new()
  for _, s in ipairs(data) do
    local site = a:add(Site { name = s[1], status = s[2], region = s[3] })
    for _, d in ipairs(s.devices or {}) do
      site:add_child(a:add(Device { site_name = s[1], name = d[1], role = d[2] }))
    end
  end
  return a
end

describe("moonsync diff", function()
  local src, dst
  before_each(function()
    src = adapter("source", {
      { "ams", "planned", "eu", devices = { { "sw1", "leaf" }, { "sw2", "spine" } } },
      { "osl", "active", "eu" },
    })
    dst = adapter("dest", {
      { "ams", "active", "eu", devices = { { "sw1", "leaf" } } },
      { "nyc", "active", "us", devices = { { "old", "leaf" } } },
    })
  end)

  it("prints str() as DiffSync does", function()
    local d = dst:diff_from(src)
    assert.equals(table.concat({
      "site",
      "  site: ams",
      "    status    source(planned)    dest(active)",
      "    device",
      "      device: sw2 MISSING in dest",
      "  site: osl MISSING in dest",
      "  site: nyc MISSING in source",
      "    device",
      "      device: old MISSING in source" }, "\n"), d:str())
  end)

  it("summarises like DiffSync", function()
    local s = dst:diff_from(src):summary()
    assert.same({ create = 2, update = 1, delete = 2, ["no-change"] = 1, skip = 0 }, s)
  end)

  it("gives dict() with - and + attrs", function()
    local d = dst:diff_from(src):dict()
    assert.same({ status = "active" }, d.site.ams["-"])
    assert.same({ status = "planned" }, d.site.ams["+"])
    assert.same({ role = "spine" }, d.site.ams.device.sw2["+"])
    assert.same({ status = "active", region = "us" }, d.site.nyc["-"])
  end)

  it("keeps DiffSync's key order in dict_json()", function()
    local j = dst:diff_from(src):dict_json(-1)
    assert.equals('{"site": {"ams": {"-": {"status": "active"}, "+": {"status": "planned"}, '
      .. '"device": {"sw2": {"+": {"role": "spine"}}}}, "osl": {"+": {"status": "active", '
      .. '"region": "eu"}}, "nyc": {"-": {"status": "active", "region": "us"}, '
      .. '"device": {"old": {"-": {"role": "leaf"}}}}}}', j)
  end)

  it("diff_to is diff_from the other way", function()
    assert.equals(dst:diff_from(src):str(), src:diff_to(dst):str())
  end)

  it("honours skip_unmatched_dst and skip_unmatched_src", function()
    local s = dst:diff_from(src, { flags = { "skip_unmatched_dst" } }):summary()
    assert.equals(0, s.delete)
    assert.equals(1, s.skip)
    s = dst:diff_from(src, { flags = ms.flags.SKIP_UNMATCHED_SRC }):summary()
    assert.equals(0, s.create)
    assert.equals(2, s.skip)
  end)

  it("prunes IGNOREd records and their subtree", function()
    src:get("site", "ams"):model_flags { "IGNORE" }
    local s = dst:diff_from(src):summary()
    assert.same({ create = 1, update = 0, delete = 2, ["no-change"] = 0, skip = 1 }, s)
  end)

  it("rejects unknown flags", function()
    local ok, err = pcall(dst.diff_from, dst, src, { flags = { "skip_everything" } })
    assert.is_false(ok)
    assert.matches("unknown global flag 'skip_everything'", err)
  end)

  it("reports progress through the callback", function()
    local calls = {}
    dst:diff_from(src, { callback = function(stage, cur, total)
      calls[#calls + 1] = { stage, cur, total } end })
    assert.same({ "diff", 2, 8 }, calls[1])
    assert.same({ "diff", 8, 8 }, calls[#calls])
  end)

  it("propagates an error raised by the callback", function()
    local ok, err = pcall(dst.diff_from, dst, src, { callback = function() error("stop here") end })
    assert.is_false(ok)
    assert.matches("stop here", err)
  end)

  it("reports a keys mismatch as DiffSync's ValueError", function()
    local Item = ms.model "item" { identifiers = { "id" } }
    local A = ms.adapter "a" { models = { Item } }
    local a, b = A:new(), A:new { name = "b" }
    a:add(Item { id = 20 })
    b:add(Item { id = "20" })
    local ok, err = pcall(b.diff_from, b, a)
    assert.is_false(ok)
    assert.equals("ValueError", err.type)
    assert.equals("Keys mismatch: {'id': 20} vs {'id': '20'}", err.message)
  end)

  it("reports a repeated shortname as ObjectAlreadyExists", function()
    local Dev = ms.model "dev" { identifiers = { "site", "name" }, shortname = { "name" } }
    local A = ms.adapter "a" { models = { Dev } }
    local a, b = A:new(), A:new { name = "b" }
    a:add(Dev { site = "x", name = "sw" })
    a:add(Dev { site = "y", name = "sw" })
    local ok, err = pcall(b.diff_from, b, a)
    assert.is_false(ok)
    assert.equals("Already storing a dev named sw", err.message)
  end)

  it("reports a dangling child uid as ObjectNotFound", function()
    local s = src:get("site", "osl")
    s:add_child(Device { site_name = "osl", name = "ghost" })
    local ok, err = pcall(dst.diff_from, dst, src)
    assert.is_false(ok)
    assert.equals("ObjectNotFound", err.type)
    assert.equals("device osl__ghost not present in source", err.message)
  end)

  it("keeps the attribute values of diff time after records change", function()
    local d = dst:diff_from(src)
    src:get("site", "ams").status = "changed later"
    assert.matches("source%(planned%)", d:str())
  end)

  it("has a machine-readable change list", function()
    local cjson = require "cjson"
    local j = cjson.decode(dst:diff_from(src):json())
    assert.equals("moonsync-diff/1", j.format)
    assert.equals(5, #j.changes)
    assert.matches("^%x+$", j.changes[1].fingerprint)
    assert.equals(dst:get("site", "ams"):fingerprint(), j.changes[1].fingerprint)
    assert.equals(cjson.null, j.changes[2].fingerprint)  -- a create: no target record
    j.changes[1].fingerprint = nil
    assert.same({ action = "update", model = "site", uid = "ams", parent = cjson.null,
                  keys = { name = "ams" }, attrs = { status = "planned" },
                  before = { status = "active" } }, j.changes[1])
    assert.same({ model = "site", uid = "ams" }, j.changes[2].parent)
  end)

  it("counts elements and reports has_diffs", function()
    local d = dst:diff_from(src)
    assert.equals(6, #d)
    assert.is_true(d:has_diffs())
    assert.is_false(src:diff_from(src):has_diffs())
    assert.equals("(no diffs)", src:diff_from(src):str())
  end)
end)
