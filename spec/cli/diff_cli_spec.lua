local h = require "helpers"

local SCHEMA = [[{
  "top_level": ["site"],
  "models": {
    "site": {"identifiers": ["name"], "attributes": ["status"],
             "children": {"device": "devices"}},
    "device": {"identifiers": ["site_name", "name"], "attributes": ["role"]}
  }
}]]

describe("moonsync diff --schema", function()
  local dir, schema
  before_each(function()
    dir = h.tmpdir()
    schema = h.write(dir .. "/schema.json", SCHEMA)
  end)
  after_each(h.cleanup)

  local function doc(name, text) return h.write(dir .. "/" .. name, text) end

  local SRC = '{"site": [{"name": "ams", "status": "planned", "devices": '
           .. '[{"site_name": "ams", "name": "sw1", "role": "leaf"}]}]}'
  local DST = '{"site": [{"name": "ams", "status": "active"}]}'

  it("prints DiffSync's str() by default, exiting 2 (changes pending)", function()
    local r = h.run("diff", "--schema", schema, doc("s.json", SRC), doc("d.json", DST))
    assert.equals(2, r.code)
    assert.equals(table.concat({ "site", "  site: ams",
      "    status    source(planned)    dest(active)", "    device",
      "      device: ams__sw1 MISSING in dest" }, "\n") .. "\n", r.stdout)
  end)

  it("prints dict, summary and json formats", function()
    local s, d = doc("s.json", SRC), doc("d.json", DST)
    local r = h.run("diff", "--schema", schema, s, d, "--format", "summary")
    assert.equals('{\n  "create": 1,\n  "update": 1,\n  "delete": 0,\n  "no-change": 0,\n  "skip": 0\n}\n',
                  r.stdout)
    r = h.run("diff", "--schema", schema, s, d, "--format", "dict")
    assert.matches('"%+": {\n        "status": "planned"', r.stdout)
    r = h.run("diff", "--schema", schema, s, d, "--format", "json")
    local j = require("cjson").decode(r.stdout)
    assert.equals(2, #j.changes)
  end)

  it("uses the adapter names given", function()
    local r = h.run("diff", "--schema", schema, doc("s.json", SRC), doc("d.json", DST),
                    "--source-name", "netbox", "--dest-name", "nautobot")
    assert.matches("netbox%(planned%)    nautobot%(active%)", r.stdout)
  end)

  it("exits 0 without differences, 2 with them; --exit-code is gone", function()
    local s, d = doc("s.json", SRC), doc("d.json", DST)
    assert.equals(2, h.run("diff", "--schema", schema, s, d).code)
    local r = h.run("diff", "--schema", schema, s, s)
    assert.equals(0, r.code)
    assert.equals("(no diffs)\n", r.stdout)
    r = h.run("diff", "--schema", schema, s, d, "--exit-code")
    assert.equals(1, r.code)
    assert.matches("diff exits 2 when there are differences", r.stderr)
  end)

  it("scopes the diff with --target and --exclude, as the job form does", function()
    local s, d = doc("s.json", SRC), doc("d.json", DST)
    local r = h.run("diff", "--schema", schema, s, d, "--exclude", "device:ams__sw1", "--format", "summary")
    assert.matches('"create": 0', r.stdout)
    r = h.run("diff", "--schema", schema, s, d, "--target", "site:nope")
    assert.equals(1, r.code)
    assert.matches("no change matches %-%-target", r.stderr)
  end)

  it("applies --flag", function()
    local r = h.run("diff", "--schema", schema, doc("s.json", DST), doc("d.json", SRC),
                    "--flag", "SKIP_UNMATCHED_DST", "--format", "summary")
    assert.matches('"delete": 0', r.stdout)
    assert.matches('"skip": 1', r.stdout)
  end)

  local function fails(args, pattern)
    local r = h.run(table.unpack(args))
    assert.equals(1, r.code)
    assert.equals("", r.stdout)
    assert.matches(pattern, r.stderr)
    assert.equals(1, select(2, r.stderr:gsub("\n", "")))  -- one line
  end

  -- on a terminal (script(1) gives one), loading shows bytes and records
  local it_tty = os.execute("command -v script >/dev/null 2>&1") and it or pending
  it_tty("shows load progress on a terminal, none with --no-progress", function()
    local sites = {}
    for i = 1, 60000 do sites[i] = ('{"name": "s%05d", "status": "active"}'):format(i) end
    local big = doc("big.json", '{"site": [' .. table.concat(sites, ",\n") .. "]}")
    local function tty(...)
      local out = dir .. "/tty.out"
      local parts = {}
      for i, a in ipairs { h.bin, ... } do parts[i] = h.quote(a) end
      os.execute(("env -u LD_PRELOAD script -qec %s %s >/dev/null 2>&1"):format(
        h.quote(table.concat(parts, " ")), h.quote(out)))
      return h.read(out) or ""
    end
    local shown = tty("diff", "--schema", schema, big, big, "--format", "summary")
    assert.matches("\rload  big%.json +%d+%%", shown)
    assert.matches("%d+ records", shown)
    local quiet = tty("diff", "--schema", schema, big, big, "--format", "summary", "--no-progress")
    assert.is_nil(quiet:find("\rload", 1, true))
    -- not on a terminal: nothing
    local r = h.run("diff", "--schema", schema, big, big, "--format", "summary")
    assert.is_nil(r.stderr:find("load", 1, true))
    -- a job's files too
    local text = h.read(big)
    local jobdir = h.sync_dir(SCHEMA, text, text)
    assert.matches("\rload  src%.json +%d+%%", tty("diff", h.json_job(jobdir)))
  end)

  it("reports malformed JSON with file, line and column", function()
    local bad = doc("bad.json", '{"site": [\n  {"name": "x",}\n]}')
    fails({ "diff", "--schema", schema, bad, doc("d.json", DST) },
          "bad%.json:2:16: expected a string key")
  end)

  it("reports an unknown model", function()
    fails({ "diff", "--schema", schema, doc("s.json", '{"vlan": []}'), doc("d.json", DST) },
          "s%.json: unknown model 'vlan' %(models: site, device%)")
  end)

  it("reports a missing identifier with the record's path", function()
    fails({ "diff", "--schema", schema,
            doc("s.json", '{"site": [{"name": "a", "devices": [{"name": "x"}]}]}'),
            doc("d.json", DST) },
          "s%.json: site%[0%]%.devices%[0%]: device: identifier 'site_name' is missing %(a required field; null is a value, read as None%)")
  end)

  it("reports a record that is not an object", function()
    fails({ "diff", "--schema", schema, doc("s.json", '{"site": ["ams"]}'), doc("d.json", DST) },
          "s%.json: site%[0%]: expected a site record %(an object%), got a string")
  end)

  it("reports duplicate unique ids as ObjectAlreadyExists", function()
    fails({ "diff", "--schema", schema,
            doc("s.json", '{"site": [{"name": "ams"}, {"name": "ams"}]}'), doc("d.json", DST) },
          "ObjectAlreadyExists: .*s%.json: site%[1%]: Object ams already present")
  end)

  it("keeps the first of duplicate ids with --skip-duplicates", function()
    local r = h.run("diff", "--schema", schema, "--skip-duplicates",
      doc("s.json", '{"site": [{"name": "ams", "status": "active"}, {"name": "ams"}]}'),
      doc("d.json", DST))
    assert.equals("(no diffs)\n", r.stdout)
  end)

  it("reports wrong schema shapes", function()
    fails({ "diff", "--schema", doc("x.json", '{"models": []}'), doc("s.json", SRC), doc("d.json", DST) },
          "\"models\" must be a non%-empty object")
    fails({ "diff", "--schema", doc("x.json", '{"top_level": ["site"], "models": {"site": {"identifiers": "name"}}}'),
            doc("s.json", SRC), doc("d.json", DST) },
          "models%.site%.identifiers: expected a list of strings, got a string")
    fails({ "diff", "--schema", doc("x.json", '{"top_level": ["zone"], "models": {"site": {"identifiers": ["name"]}}}'),
            doc("s.json", SRC), doc("d.json", DST) },
          "top_level names model 'zone', which is not declared")
    fails({ "diff", "--schema", doc("x.json", '{"top_level": ["site"], "models": {"site": {"identifiers": ["name"]}}, "global_flags": ["FAST"]}'),
            doc("s.json", SRC), doc("d.json", DST) },
          "unknown global flag 'FAST'")
  end)

  it("reports a missing file", function()
    fails({ "diff", "--schema", schema, dir .. "/nope.json", doc("d.json", DST) },
          "nope%.json: cannot open: No such file or directory")
  end)

  it("rejects bad options", function()
    fails({ "diff", "--schema", schema, doc("s.json", SRC), doc("d.json", DST), "--format", "xml" },
          "unknown format 'xml'")
    fails({ "diff", "--schema", schema, doc("s.json", SRC), doc("d.json", DST), "--flag", "NOPE" },
          "unknown global flag 'NOPE'")
  end)
end)

describe("moonsync run", function()
  after_each(h.cleanup)

  it("runs a script with moonsync loaded and passes arguments", function()
    local dir = h.tmpdir()
    local script = h.write(dir .. "/s.lua", [[
      local ms = require "moonsync"
      local a = ...
      print(ms._VERSION, a, arg[0] ~= nil)
      return 3
    ]])
    local r = h.run("run", script, "hello")
    assert.equals("0.1.0\thello\ttrue\n", r.stdout)
    assert.equals(3, r.code)
  end)

  it("reports a script error with a traceback and exit 1", function()
    local dir = h.tmpdir()
    local script = h.write(dir .. "/s.lua", "local x = nil\nx.y = 1\n")
    local r = h.run("run", script)
    assert.equals(1, r.code)
    assert.matches("s%.lua:2: attempt to index a nil value", r.stderr)
    assert.matches("stack traceback", r.stderr)
  end)

  it("renders moonsync errors without a traceback", function()
    local dir = h.tmpdir()
    local script = h.write(dir .. "/s.lua", [[
      local ms = require "moonsync"
      local M = ms.model "m" { identifiers = { "id" } }
      local A = ms.adapter "a" { models = { M } }
      A:new():get("m", "x")
    ]])
    local r = h.run("run", script)
    assert.equals(1, r.code)
    assert.equals("moonsync: ObjectNotFound: m x not present in a (adapter 'a', model 'm', uid 'x')\n",
                  r.stderr)
  end)
end)
