local ms = require "moonsync"

local Site = ms.model "site" { identifiers = { "name" }, attributes = { "asn", "region" },
                               children = { device = "devices" } }
local Device = ms.model "device" {
  identifiers = { "site_name", "name" },
  attributes = { "role", "serial", "mac", "ip", "net", "tags", "kind", "label" },
}
local Api = ms.adapter "api" { models = { Site, Device } }

local SITES = '[{"id": 7, "name": " AMS ", "asn": 65000}, {"id": 8, "name": "ber", "asn": 1.0}]'

local function sites_mapping()
  return ms.mapping { model = Site, id = "id",
    fields = { name = { path = "name", transform = { "trim", "lower" } }, asn = "asn",
               region = { default = "eu" } } }
end

describe("moonsync.mapping", function()
  local a
  before_each(function()
    a = Api:new()
    a:load_mapped(sites_mapping(), SITES, "sites.json")
  end)

  it("maps dotted paths, defaults and built-in transforms in C", function()
    assert.equals("eu", a:get("site", "ams").region)
    assert.equals(65000, a:get("site", "ams").asn)
    assert.equals("float", math.type(a:get("site", "ber").asn))
  end)

  it("finds a path's keys whatever order each object lists them in, and list indices", function()
    local m = ms.mapping { model = Device, fields = { name = "n", site_name = "s.name",
      role = "roles.1", serial = "x.1" } }
    local b = Api:new()
    b:load_mapped(m, '[{"n": "a", "s": {"id": 1, "name": "ams"}, "roles": ["r0", "r1"], "x": {"1": "k"}},'
                     .. ' {"s": {"name": "ber", "id": 2}, "roles": ["q0"], "n": "b"},'
                     .. ' {"x": [], "roles": [], "n": "c", "s": {"name": "osl"}}]')
    assert.same({ "r1", "k" }, { b:get("device", "ams__a").role, b:get("device", "ams__a").serial })
    assert.is_nil(b:get("device", "ber__b").role)
    assert.is_not_nil(b:get("device", "osl__c"))
  end)

  it("resolves references, links parents and filters", function()
    local m = ms.mapping { model = Device, from = "results",
      fields = { name = "name", site_name = { ref = Site, path = "site_id", field = "name" },
                 role = { path = "role.slug", default = "unknown" } },
      where = { status = "active" },
      parent = { model = Site, ids = { name = "site_name" } } }
    local st = a:load_mapped(m, { results = {
      { name = "sw1", site_id = 7, role = { slug = "leaf" }, status = "active" },
      { name = "sw2", site_id = 8, status = "active" },
      { name = "old", site_id = 8, status = "retired" } } })
    assert.same({ seen = 3, added = 2, filtered = 1, skipped = 0 }, st)
    assert.equals("leaf", a:get("device", "ams__sw1").role)
    assert.equals("unknown", a:get("device", "ber__sw2").role)
    assert.same({ "ams__sw1" }, a:get("site", "ams").devices)
  end)

  it("normalizes IP addresses, prefixes, MAC addresses and sets", function()
    assert.equals("2001:db8::1", ms.normalize("ip", "2001:DB8:0::1"))
    assert.equals("10.0.0.1", ms.normalize("ip", "10.0.0.1"))
    assert.equals("10.1.2.0/24", ms.normalize("prefix", "10.1.2.3/24"))
    assert.equals("2001:db8::/32", ms.normalize("prefix", "2001:db8:ff::1/32"))
    assert.equals("aa:bb:cc:00:11:22", ms.normalize("mac", "AA-BB-CC-00-11-22"))
    assert.equals("aa:bb:cc:00:11:22", ms.normalize("mac", "aabb.cc00.1122"))
    assert.same({ 1, 2, 3 }, ms.normalize("set", { 3, 1, 2, 1 }))
    assert.same({ { n = "a" }, { n = "b" } }, ms.normalize("set", { { n = "b" }, { n = "a" }, { n = "b" } }, "n"))
    assert.equals("abc", ms.normalize("lower", "AbC"))
    assert.equals("x y", ms.normalize("trim", "  x y \t"))
  end)

  it("names the mapping, record, field and value in errors", function()
    local m = ms.mapping { name = "devices", model = Device, from = "results",
      fields = { name = "name", site_name = { const = "ams" }, ip = { path = "ip", transform = "ip" } } }
    local ok, err = pcall(a.load_mapped, a, m, { results = { { name = "a", ip = "10.0.0.1" },
                                                            { name = "b", ip = "10.0.0.300" } } })
    assert.is_false(ok)
    assert.equals("InputError", err.type)
    assert.equals("mapping 'devices': record 1 (results[1]): field 'ip': ip: '10.0.0.300' is not an IP address",
                  err.message)
    ok, err = pcall(a.load_mapped, a, m, { results = { { ip = "10.0.0.1" } } })
    assert.equals("ValidationError", err.type)
    assert.equals("mapping 'devices': record 0 (results[0]): field 'name': device: identifier 'name' "
                  .. "is missing (a required field; null is a value, read as None)", err.message)
    ok, err = pcall(a.load_mapped, a, m, { items = {} })
    assert.matches("'from' path 'results' is not a list of records", err.message)
    local r = ms.mapping { model = Device, fields = { name = "n", site_name = { ref = Site, path = "s", field = "name" } } }
    ok, err = pcall(a.load_mapped, a, r, { { n = "x", s = 99 } })
    assert.matches("field 'site_name': no site with source id 99 %(path 's'%)", err.message)
  end)

  it("skips records built before with skip_duplicates, and refuses them otherwise", function()
    local rows = { { site = "osl" }, { site = "osl" }, { site = "rom" } }
    local derived = ms.mapping { model = Site, fields = { name = "site" }, skip_duplicates = true }
    assert.same({ seen = 3, added = 2, filtered = 0, skipped = 1 }, a:load_mapped(derived, rows))
    local strict = ms.mapping { model = Site, fields = { name = "site" } }
    local ok, err = pcall(a.load_mapped, a, strict, { { site = "new" }, { site = "new" } })
    assert.is_false(ok)
    assert.matches("record 1 %(%[1%]%): Object new already present", tostring(err))
  end)

  it("stores every record before a failing one, and none after it", function()
    local m = ms.mapping { name = "devices", model = Device, from = "results",
      fields = { name = "name", site_name = { const = "ams" }, ip = { path = "ip", transform = "ip" } } }
    local results = {}
    for i = 0, 39 do results[#results + 1] = { name = "d" .. i, ip = "10.0.0." .. (i == 21 and 300 or i) } end
    local ok, err = pcall(a.load_mapped, a, m, { results = results })
    assert.is_false(ok)
    assert.matches("record 21 %(results%[21%]%)", err.message)
    assert.equals(21, a:count("device"))
    assert.is_not_nil(a:get("device", "ams__d20"))
    -- a repeat is refused where it stands, the records before it stored
    local b = Api:new()
    for i = 1, 40 do results[i] = { name = "e" .. math.min(i, 30), ip = "10.0.0.1" } end
    ok, err = pcall(b.load_mapped, b, m, { results = results })
    assert.is_false(ok)
    assert.matches("record 30 %(results%[30%]%): Object ams__e30 already present", err.message)
    assert.equals(30, b:count("device"))
  end)

  it("resolves a reference to a record built before it by the same mapping", function()
    local m = ms.mapping { model = Device, id = "id",
      fields = { name = "name", site_name = { const = "ams" },
                 label = { ref = Device, path = "peer", field = "name" } } }
    local items = {}
    for i = 1, 40 do items[i] = { id = i, name = "p" .. i, peer = i > 1 and i - 1 or nil } end
    assert.same({ seen = 40, added = 40, filtered = 0, skipped = 0 }, a:load_mapped(m, items))
    assert.equals("p1", a:get("device", "ams__p2").label)
    assert.equals("p39", a:get("device", "ams__p40").label)
  end)

  it("runs Lua transforms and filters where asked", function()
    local m = ms.mapping { model = Device,
      fields = { name = "name", site_name = { const = "ams" },
                 label = { path = "name", transform = function(v) return v:upper() .. "!" end },
                 serial = { path = "serial", transform = { "trim", function(v) return v and #v end } } },
      filter = function(r) return r.name ~= "skip" end }
    local st = a:load_mapped(m, { { name = "sw9", serial = " abc " }, { name = "skip" } })
    assert.same({ seen = 2, added = 1, filtered = 1, skipped = 0 }, st)
    assert.equals("SW9!", a:get("device", "ams__sw9").label)
    assert.equals(3, a:get("device", "ams__sw9").serial)
    local bad = ms.mapping { model = Device, fields = { name = "name", site_name = { const = "ams" },
      label = { path = "name", transform = function() error("nope") end } } }
    local ok, err = pcall(a.load_mapped, a, bad, { { name = "z" } })
    assert.is_false(ok)
    assert.matches("field 'label': transform: transform failed: .*nope", err.message)
  end)

  it("keeps constants' types, including containers", function()
    local m = ms.mapping { model = Device, fields = { name = "name", site_name = { const = "ams" },
      kind = { const = { a = 1, b = { 1.0, 2 } } } } }
    a:load_mapped(m, { { name = "k" } })
    local kind = a:get("device", "ams__k").kind
    assert.equals("float", math.type(kind.b[1]))
    assert.equals("integer", math.type(kind.a))
  end)

  it("rejects declaration mistakes with the mapping's name", function()
    local ok, err = pcall(ms.mapping, { model = Device, fields = { name = { pth = "x" } } })
    assert.is_false(ok)
    assert.matches("mapping 'device': field 'name': unknown key 'pth'", err)
    ok, err = pcall(ms.mapping, { model = Device, fields = { name = { path = "x", transform = "rot13" } } })
    assert.matches("transform 1 must be a function or one of lower", err)
    local m = ms.mapping { model = Device, fields = { name = "n" } }
    ok, err = pcall(a.load_mapped, a, m, {})
    assert.matches("identifier 'site_name' of model 'device' is not mapped", err.message)
    m = ms.mapping { model = Device, fields = { name = "n", site_name = "s", colour = "c" } }
    ok, err = pcall(a.load_mapped, a, m, {})
    assert.matches("model 'device' has no field 'colour'", err.message)
  end)

  it("reads JSON text a chunk of records at a time, and the rest of the document too", function()
    local m = ms.mapping { name = "devs", model = Device, from = "data.1.results",
      fields = { name = "name", site_name = { const = "ams" }, ip = { path = "ip", transform = "ip" } } }
    local rows = {}
    for i = 0, 9999 do rows[#rows + 1] = ('{"name": "d%d", "ip": "10.0.%d.%d"}'):format(i, i // 256, i % 256) end
    local function doc(list, tail)
      return '{"meta": {"x": [1, 2]}, "data": [{"results": []}, {"count": 3, "results": ['
             .. table.concat(list, ",\n") .. ']' .. (tail or ', "next": null}], "more": "x"}')
    end
    local b = Api:new()
    assert.same({ seen = 10000, added = 10000, filtered = 0, skipped = 0 }, b:load_mapped(m, doc(rows)))
    assert.equals("10.0.39.15", b:get("device", "ams__d9999").ip)
    -- an item past the first chunk is named by its place in the whole list
    rows[5001] = '{"name": "bad", "ip": "10.0.0.300"}'
    b = Api:new()
    local ok, err = pcall(b.load_mapped, b, m, doc(rows))
    assert.is_false(ok)
    assert.matches("mapping 'devs': record 5000 %(data.1.results%[5000%]%): field 'ip'", err.message)
    assert.equals(5000, b:count("device"))
    -- the text after the list is read: an error there is an error
    rows[5001] = '{"name": "ok", "ip": "10.0.0.1"}'
    ok, err = pcall(Api:new().load_mapped, Api:new(), m, doc(rows, ', "next": nul}]}'))
    assert.is_false(ok)
    assert.matches("<source>:%d+:%d+: ", err.message)
    ok, err = pcall(a.load_mapped, a, m, '{"data": [{}, {"results": {"a": 1}}]}')
    assert.matches("'from' path 'data.1.results' is not a list of records %(got an object%)", err.message)
    for _, text in ipairs { '{"data": [{}]}', '{"data": "x", "y": 1}', '{"data": {"1": 5}}',
                            '{"data": [{}, {"results": 1}, 2]}' } do
      ok, err = pcall(a.load_mapped, a, m, text)
      assert.matches(text:find("results") and "%(got an integer%)" or "%(got nothing%)", err.message)
    end
    -- a syntax error anywhere goes before a path that names nothing
    ok, err = pcall(a.load_mapped, a, m, '{"data": [{}], "x": tru}')
    assert.matches("<source>:1:", err.message)
  end)

  it("maps a JSON file without building Lua tables", function()
    local f = os.tmpname()
    local h = io.open(f, "w")
    h:write('{"results": [{"name": "f1", "site": {"name": "ams"}}]}')
    h:close()
    local m = ms.mapping { model = Device, from = "results",
      fields = { name = "name", site_name = "site.name" },
      parent = { model = Site, ids = { name = "site_name" } } }
    assert.same({ seen = 1, added = 1, filtered = 0, skipped = 0 }, a:load_mapped(m, { file = f }))
    os.remove(f)
    assert.same({ "ams__f1" }, a:get("site", "ams").devices)
  end)
end)
