-- CSV in C: RFC 4180 rows straight into records through mappings.
local ms = require "moonsync"
local csv_file = require "moonsync.adapters.csv_file"
local h = require "helpers"

local Site = ms.model "site" { identifiers = { "name" }, attributes = { "region" },
                               children = { device = "devices" } }
local Device = ms.model "device" { identifiers = { "name" }, attributes = { "site", "role", "note" } }

describe("csv_file #csv", function()
  local dir
  before_each(function() dir = h.tmpdir() end)
  after_each(h.cleanup)

  local function file(name, text) return h.write(dir .. "/" .. name, text) end

  it("reads RFC 4180: a BOM, CRLF, quotes, quoted commas, quotes and line breaks", function()
    local path = file("d.csv", '\239\187\191name,site,role,note\r\n'
      .. 'sw1,ams,leaf,"a, ""quoted""\r\nnote"\r\n'
      .. 'sw2,ams,spine,plain\n'
      .. 'r1,osl,edge,"x"\r')
    local a = csv_file.open { path = path, model = Device }
    assert.equals('a, "quoted"\r\nnote', a:get("device", "sw1").note)
    assert.equals("plain", a:get("device", "sw2").note)
    assert.equals("x", a:get("device", "r1").note)
    assert.equals(3, a:count())
  end)

  it("reads empty cells as null, or as empty strings with keep_empty; a quoted \"\" is a string", function()
    local path = file("d.csv", 'name,site,role,note\nsw1,,"",x\n')
    local a = csv_file.open { path = path, model = Device }
    assert.equals(ms.null, a:get("device", "sw1"):get_attrs().site)
    assert.equals("", a:get("device", "sw1").role)
    local b = csv_file.open { path = path, model = Device, keep_empty = true }
    assert.equals("", b:get("device", "sw1").site)
  end)

  it("skips blank lines and names the line of an error", function()
    local cases = {
      { 'name,site\n\nsw1,ams\n\nsw2\n', "e%.csv:5: row has 1 field, the header has 2" },
      { 'name,site\nsw1,"ams\nsw2,x\n', "e%.csv:2: unterminated quoted field" },
      { 'name,site\n"sw\n1","a\nb"\nsw2,"x"y\n', "e%.csv:5: unexpected text after a quoted field" },
      { 'name,name\nsw1,x\n', "e%.csv:1: column 'name' comes twice in the header" },
    }
    for _, c in ipairs(cases) do
      local path = file("e.csv", c[1])
      local ok, err = pcall(csv_file.open, { path = path, model = Device,
                                             mapping = { name = "name", site = "site" } })
      assert.is_false(ok, c[1])
      assert.matches(c[2], tostring(err))
    end
  end)

  it("names the line of a row a mapping refuses", function()
    -- an empty identifier cell is null, read as None, as DiffSync reads it
    local path = file("m.csv", "name,site\nsw1,ams\n,osl\n")
    local a = csv_file.open { path = path, model = Device, mapping = { name = "name", site = "site" } }
    assert.equals("osl", a:get("device", "None").site)
    -- which a real "None" then collides with
    path = file("m.csv", "name,site\nNone,ams\n,osl\n")
    local ok, err = pcall(csv_file.open, { path = path, model = Device, mapping = { name = "name", site = "site" } })
    assert.is_false(ok)
    assert.matches("m%.csv:3: Object None already present; identifier 'name' is 'None' in the first "
                   .. "and None in the second", tostring(err))
    -- a column the mapping reads that the header lacks is a missing identifier
    path = file("m.csv", "site\nams\n")
    ok, err = pcall(csv_file.open, { path = path, model = Device })
    assert.is_false(ok)
    assert.matches("m%.csv:2: field 'name': device: identifier 'name' is missing", tostring(err))
  end)

  it("builds several models from one file: sites derived from device rows, with parent links", function()
    local path = file("inv.csv", "name,site,region,role\nsw1,ams,eu,leaf\nsw2,ams,eu,spine\nr1,osl,no,edge\n")
    local a = csv_file.open { path = path, models = { Site, Device }, mappings = {
      ms.mapping { model = Site, fields = { name = "site", region = "region" }, skip_duplicates = true },
      ms.mapping { model = Device, fields = { name = "name", site = "site", role = "role" },
                   parent = { model = Site, ids = { name = "site" } } },
    } }
    assert.same({ "sw1", "sw2" }, a:get("site", "ams").devices)
    assert.same({ "r1" }, a:get("site", "osl").devices)
    assert.equals(2, a:count("site"))
    local ok, err = pcall(a.commit, a)
    assert.is_false(ok)
    assert.matches("cannot be written back", tostring(err))
  end)

  it("refuses a duplicate row, or skips it with skip_duplicates", function()
    local path = file("dup.csv", "name,site\nsw1,ams\nsw1,osl\n")
    local ok, err = pcall(csv_file.open, { path = path, model = Device })
    assert.is_false(ok)
    assert.matches("dup%.csv:3: Object sw1 already present", tostring(err))
    local a = csv_file.open { path = path, model = Device, skip_duplicates = true }
    assert.equals("ams", a:get("device", "sw1").site)
  end)

  it("writes back what it read", function()
    local path = file("w.csv", 'name,site,role,note\nsw1,ams,leaf,"a, b"\nsw2,osl,,"x""y"\n')
    local a = csv_file.open { path = path, model = Device }
    a:get("device", "sw1"):set { role = "spine" }
    a:commit()
    local b = csv_file.open { path = path, model = Device }
    assert.equals("spine", b:get("device", "sw1").role)
    assert.equals('x"y', b:get("device", "sw2").note)
    assert.equals("a, b", b:get("device", "sw1").note)
  end)

  it("keeps what transforms made of the cells, the file gone", function()
    -- in a process of its own: a value left pointing into the file read
    -- would crash it once the file is unmapped
    local path = file("t.csv", "name,site,role,note\n  sw1 ,AMS, leaf ,\"b, a, b\"\n")
    local script = file("t.lua", ([[
      local ms = require "moonsync"
      local csv_file = require "moonsync.adapters.csv_file"
      local Device = ms.model "device" { identifiers = { "name" }, attributes = { "site", "role", "note" } }
      local a = csv_file.open { path = %q, model = Device, mapping = {
        name = { path = "name", transform = "trim" }, site = { path = "site", transform = "lower" },
        role = { path = "role", transform = { "trim", "upper" } },
        note = { path = "note", transform = function(v) return v:reverse() end } } }
      os.remove(%q)
      io.write(a:str())
    ]]):format(path, path))
    local r = h.run("run", script)
    assert.equals(0, r.code, r.stderr)
    assert.equals("device\n  device: sw1: {'site': 'ams', 'role': 'LEAF', 'note': 'b ,a ,b'}", r.stdout)
  end)

  it("parses rows for scripts", function()
    assert.same({ { "a", "b" }, { "x\ny", "" } }, csv_file.parse('a,b\r\n"x\ny",\n'))
  end)

  it("holds as many records as the same rows from JSON", function()
    local rows, recs = { "name,site,role,note" }, {}
    for i = 1, 5000 do
      rows[#rows + 1] = ('sw%d,site%d,%s,"n, %d"'):format(i, i % 50, i % 2 == 0 and "leaf" or "spine", i)
      recs[#recs + 1] = ('{"name": "sw%d", "site": "site%d", "role": "%s", "note": "n, %d"}')
                        :format(i, i % 50, i % 2 == 0 and "leaf" or "spine", i)
    end
    local a = csv_file.open { path = file("big.csv", table.concat(rows, "\r\n")), model = Device }
    local b = ms.adapter "j" { models = { Device } }:new()
    b:load_json('{"device": [' .. table.concat(recs, ",") .. "]}")
    assert.is_false(b:diff_from(a):has_diffs())
    assert.equals(5000, a:count())
  end)

  describe("round trips", function()
    local Vlan = ms.model "vlan" { identifiers = { "vid" }, attributes = { "name", "note" } }

    it("writes an empty string as \"\", so it reads back as one, not as null", function()
      local path = file("v.csv", 'vid,name,note\n10,,x\n')
      local a = csv_file.open { path = path, model = Vlan }
      a:get("vlan", "10"):set { name = "", note = ms.null }
      a:commit()
      assert.equals('vid,name,note\n10,"",\n', h.read(path))
      local b = csv_file.open { path = path, model = Vlan }
      assert.equals("", b:get("vlan", "10").name)
      assert.equals(ms.null, b:get("vlan", "10"):get_attrs().note)
      assert.is_false(b:diff_from(a):has_diffs())
    end)

    it("reads cells as text unless a field's type is declared", function()
      local path = file("v.csv", 'vid,name,note\n10,a,7\n 20 ,b,x\n')
      local text = csv_file.open { path = path, model = Vlan }
      assert.equals("10", text:get_all("vlan")[1].vid)
      local typed = csv_file.open { path = path, model = Vlan, types = { vid = "integer" } }
      assert.equals(10, typed:get("vlan", "10").vid)
      assert.equals(math.tointeger(20), typed:get("vlan", "20").vid)
      -- what a source of integers syncs into it gives no diff after a commit
      local src = ms.adapter "src" { models = { Vlan } }:new()
      src:add(Vlan { vid = 10, name = "a", note = "7" })
      src:add(Vlan { vid = 20, name = "b", note = "x" })
      assert.is_false(typed:diff_from(src):has_diffs())
      typed:commit()
      local again = csv_file.open { path = path, model = Vlan, types = { vid = "integer" } }
      assert.is_false(again:diff_from(src):has_diffs())
      local ok, err = pcall(csv_file.open, { path = file("w.csv", 'vid,name,note\nten,a,b\n'),
                                            model = Vlan, types = { vid = "integer" } })
      assert.is_false(ok)
      assert.matches("integer: 'ten' is not an integer", tostring(err))
      assert.has_error(function() csv_file.open { path = path, model = Vlan, types = { vid = "date" } } end,
                       'csv_file.open: types.vid: expected "integer" or "number", got date')
    end)

    it("guards cells a spreadsheet would run as formulas, when asked", function()
      local path = file("v.csv", 'vid,name,note\n1,a,b\n')
      local a = csv_file.open { path = path, model = Vlan, guard_formulas = true }
      a:get("vlan", "1"):set { name = "=HYPERLINK(\"http://x\")", note = "-2+3" }
      a:add(Vlan { vid = "@2", name = "+x", note = "plain" })
      a:commit()
      assert.equals('vid,name,note\n1,"\'=HYPERLINK(""http://x"")",\'-2+3\n\'@2,\'+x,plain\n',
                    h.read(path))
      local b = csv_file.open { path = path, model = Vlan }
      b:get("vlan", "1"):set { note = "=1+1" }
      b:commit()
      assert.matches("\n1,.*,=1%+1\n", h.read(path))
    end)

    it("refuses a quote inside a field that does not start with one", function()
      local path = file("q.csv", 'vid,name,note\n1,a"b,c\n')
      local ok, err = pcall(csv_file.open, { path = path, model = Vlan })
      assert.is_false(ok)
      assert.matches("q%.csv:2: a quote inside a field that does not start with one", tostring(err))
    end)
  end)
end)
