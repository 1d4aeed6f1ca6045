-- Data documents straight into records: the order DiffSync's loading
-- gives whatever the order of keys in the text, values kept exactly,
-- duplicates, and errors naming the record.
local ms = require "moonsync"
local h = require "helpers"

local Site = ms.model "site" { identifiers = { "name" }, attributes = { "status", "tags" },
                               children = { { device = "devices" }, { vlan = "vlans" } } }
local Device = ms.model "device" { identifiers = { "site", "name" }, attributes = { "role" } }
local Vlan = ms.model "vlan" { identifiers = { "site", "vid" } }
local Inv = ms.adapter "inv" { models = { Site, Device, Vlan }, top_level = { "site" } }

local function load(text, opts)
  local a = Inv:new()
  a:load_json(text, opts)
  return a
end

local function uids(a, model)
  local out = {}
  for i, r in ipairs(a:get_all(model)) do out[i] = r:get_unique_id() end
  return out
end

describe("loading data documents", function()
  after_each(h.cleanup)

  it("loads children in the model's order of fields, wherever they stand in the text", function()
    local a = load([[{"site": [
      {"vlans": [{"site": "ams", "vid": 10}], "devices": [{"site": "ams", "name": "sw1"}],
       "status": "active", "name": "ams"},
      {"name": "osl", "vlans": [{"site": "osl", "vid": 20}], "devices": [{"site": "osl", "name": "r1"}]}
    ]}]])
    assert.same({ "ams", "osl" }, uids(a, "site"))
    assert.same({ "ams__sw1", "osl__r1" }, uids(a, "device"))
    assert.same({ "ams__10", "osl__20" }, uids(a, "vlan"))
    local ams = a:get("site", "ams")
    assert.equals("active", ams.status)
    assert.same({ "ams__sw1" }, ams.devices)
    assert.same({ "ams__10" }, ams.vlans)
    -- the same records as a document in the usual order
    local b = load([[{"site": [
      {"name": "ams", "status": "active", "devices": [{"site": "ams", "name": "sw1"}],
       "vlans": [{"site": "ams", "vid": 10}]},
      {"name": "osl", "devices": [{"site": "osl", "name": "r1"}], "vlans": [{"site": "osl", "vid": 20}]}
    ]}]])
    assert.equals(b:str(), a:str())
    assert.is_false(a:diff_from(b):has_diffs())
  end)

  it("keeps values exactly: integers, floats, nested lists and maps, escapes", function()
    local a = load([[{"site": [{"name": "a\u00e9\n", "status": 1.0,
      "tags": [1, 2.5, "x", null, true, {"k": ["v", {"deep": "\"q\""}]}]}]}]])
    local s = a:get_all("site")[1]
    assert.equals("a\u{e9}\n", s.name)
    assert.equals(math.type(1.0), math.type(s.status))
    assert.equals("float", math.type(s.status))
    assert.equals(1, s.tags[1])
    assert.equals("integer", math.type(s.tags[1]))
    assert.equals(2.5, s.tags[2])
    assert.equals(ms.null, s.tags[4])
    assert.equals('"q"', s.tags[6].k[2].deep)
  end)

  it("reads -0 as the integer 0, as Python's json does, and keeps -0.0", function()
    local a = load('{"site": [{"name": "a", "status": -0, "tags": -0.0}]}')
    local r = a:get("site", "a")
    assert.equals("integer", math.type(r.status))
    assert.equals(0, r.status)
    assert.equals(-math.huge, 1 / r.tags)
    local text = require("moonsync.core").pformat { status = r.status, tags = r.tags }
    assert.matches('"status": 0,', text)
    assert.matches('"tags": %-0%.0', text)
  end)

  it("shares repeated strings without mixing up different ones", function()
    local parts = {}
    for i = 1, 3000 do
      parts[i] = ('{"name": "s%d", "status": "%s"}'):format(i, i % 3 == 0 and "active" or "planned")
    end
    local a = load('{"site": [' .. table.concat(parts, ",") .. "]}")
    assert.equals(3000, a:count("site"))
    for i = 1, 3000, 97 do
      local r = a:get("site", "s" .. i)
      assert.equals(i % 3 == 0 and "active" or "planned", r.status)
    end
  end)

  it("ignores unknown keys, with any value", function()
    local a = load([[{"site": [{"extra": {"a": [1, {"b": null}]}, "name": "ams", "more": "x"}]}]])
    assert.same({ "ams" }, uids(a, "site"))
  end)

  it("drops a duplicate with its subtree when asked, and refuses it otherwise", function()
    local doc = [[{"site": [
      {"name": "ams", "devices": [{"site": "ams", "name": "sw1"}]},
      {"devices": [{"site": "ams", "name": "sw2"}], "name": "ams"},
      {"name": "ams", "devices": [{"site": "ams", "name": "sw3"}]}
    ]}]]
    local a = load(doc, { skip_duplicates = true })
    assert.same({ "ams__sw1" }, uids(a, "device"))
    assert.same({ "ams__sw1" }, a:get("site", "ams").devices)
    local ok, err = pcall(load, doc, { name = "dup.json" })
    assert.is_false(ok)
    assert.matches("dup%.json: site%[1%]: Object ams already present", tostring(err))
  end)

  it("names the record of an error", function()
    local cases = {
      { '{"site": [{"name": "ams", "devices": [{"name": "sw1"}]}]}',
        "d%.json: site%[0%]%.devices%[0%]: device: identifier 'site' is missing %(a required field; null is a value, read as None%)" },
      { '{"site": [{"name": "ams", "devices": [], "name": "osl"}]}',
        "d%.json: site%[0%]: key 'name' comes twice in the record" },
      { '{"site": [{"name": "ams", "status": "a", "status": "b"}]}',
        "d%.json: site%[0%]: key 'status' comes twice in the record" },
      { '{"site": [{"name": "a"}],\n "site": [{"name": "b"}]}',
        "d%.json:2:2: the document lists model 'site' twice" },
      { '{"site": [{"name": "ams", "status": {"x": 1, "x": 2}}]}',
        "d%.json:1:37: the object that starts here has the key \"x\" twice" },
      { '{"site": [{"name": "ams", "devices": [], "devices": []}]}',
        "d%.json: site%[0%]: children field 'devices' comes twice" },
      { '{"site": [{"name": "ams", "devices": {}}]}',
        "d%.json: site%[0%]: children field 'devices' must be a list of records, got an object" },
      { '{"site": [{"name": "ams", "_flags": ["NOPE"]}]}',
        "d%.json: site%[0%]: _flags: unknown model flag 'NOPE'" },
      { '{"site": [5]}', "d%.json: site%[0%]: expected a site record %(an object%), got a number" },
      { '{"device": [{"site": "a", "name": "b"}]}', "device is not a top%-level model" },
      { '{"rack": []}', "d%.json: unknown model 'rack' %(models: site, device, vlan%)" },
      { '{"site": [{"name": "ams",\n "status": tru}]}', "d%.json:2:12: invalid literal" },
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(load, c[1], { name = "d.json" })
      assert.is_false(ok, c[1])
      assert.matches(c[2], tostring(err), 1)
    end
  end)

  it("reads _flags", function()
    local a = load('{"site": [{"name": "ams", "_flags": ["IGNORE"]}]}')
    assert.equals(ms.model_flags.IGNORE, a:get("site", "ams"):model_flags())
  end)

  it("loads a file of any size, the last byte at a page boundary included", function()
    local dir = h.tmpdir()
    for _, size in ipairs { 4096, 8192, 12288 } do
      local head = '{"site": [{"name": "ams", "status": "'
      local tail = '"}]}'
      local text = head .. ("x"):rep(size - #head - #tail) .. tail
      assert.equals(size, #text)
      local path = h.write(dir .. "/p" .. size .. ".json", text)
      local a = Inv:new()
      a:load_file(path)
      assert.equals(size - #head - #tail, #a:get("site", "ams").status)
    end
    local empty = h.write(dir .. "/empty.json", "")
    local ok, err = pcall(Inv.load_file, Inv:new(), empty)
    assert.is_false(ok)
    assert.matches("empty%.json:1:1: unexpected end of input", tostring(err))
  end)
end)

describe("core.json_decode with a shape", function()
  local core = require "moonsync.core"
  local ms = require "moonsync"

  it("keeps only the members the shape names, through lists and nested maps", function()
    local text = [[{"count": 2, "next": null, "results": [
      {"id": "a", "name": "x", "wide": {"deep": [1, 2]}, "ref": {"id": 7, "url": "u"}, "tags": [{"id": 1, "url": "t"}]},
      {"id": "b", "name": null, "ref": null, "tags": []}]}]]
    local v = core.json_decode(text, "page", { count = true, results = { id = true, name = true,
                                                                            ref = { id = true },
                                                                            tags = { id = true } } })
    assert.equals(2, v.count)
    assert.is_nil(v.next)
    assert.same({ id = "a", name = "x", ref = { id = 7 }, tags = { { id = 1 } } }, v.results[1])
    assert.equals(ms.null, v.results[2].name)
    assert.equals(ms.null, v.results[2].ref)
    assert.same({}, v.results[2].tags)
    -- the whole value without a shape, and bad input still named
    assert.same({ deep = { 1, 2 } }, core.json_decode(text).results[1].wide)
    local ok, err = pcall(core.json_decode, '{"a": [1,', "page", { a = true })
    assert.is_false(ok)
    assert.matches("page", tostring(err.message or err))
    -- what the shape leaves out is stepped over, its syntax still checked
    for text, why in pairs {
      ['{"a": 1, "b": "bad\\q"}'] = "page:1:20: invalid escape",
      ['{"a": 1, "b": [1, 2}'] = "page:1:20: expected ',' or ']' in array",
      ['{"a": 1, "b": "open'] = "page:1:20: unterminated string",
      ['{"a": 1, "a": 2}'] = "page:1:1: the object that starts here has a key twice",
    } do
      ok, err = pcall(core.json_decode, text, "page", { a = true })
      assert.is_false(ok, text)
      assert.equals(why, err.message, text)
    end
  end)
end)
