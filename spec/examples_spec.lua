-- Every example runs with one command and does what its comments say.
local h = require "helpers"
local cjson = require "cjson"

local it_node = h.have_node() and it or pending

local function example(path, ...)
  local r = h.run("run", h.root .. "/examples/" .. path, ...)
  assert.equals("", r.stderr)
  assert.equals(0, r.code)
  return r.stdout
end

describe("examples #examples", function()
  after_each(h.cleanup)

  it("demo: the README's first command", function()
    local out = example("demo/demo.lua")
    assert.matches("2 to create, 3 to update, 2 to delete, 4 unchanged", out)
    assert.matches("sync complete: 2 created, 3 updated, 2 deleted", out)
    assert.matches("%$ moonsync diff job%.lua\n%(no diffs%)", out)
  end)

  it("demo job: diff, dry run, plan and apply (the README tour)", function()
    local dir = h.tmpdir()
    local target = dir .. "/nautobot.json"
    h.write(target, h.read(h.root .. "/examples/demo/nautobot.json"))
    local function run(...)
      local parts = { "MOONSYNC_DEMO_TARGET=" .. h.quote(target), h.quote(h.bin) }
      for _, a in ipairs { ... } do parts[#parts + 1] = h.quote(a) end
      local _, _, code = os.execute(table.concat(parts, " ") .. " >/dev/null 2>&1")
      return code
    end
    local job = h.root .. "/examples/demo/job.lua"
    assert.equals(2, run("diff", job))
    assert.equals(2, run("sync", job, "--dry-run"))
    assert.equals(2, run("plan", job, "-o", dir .. "/plan.json"))
    assert.equals(0, run("apply", dir .. "/plan.json", "--job", job))
    assert.equals(0, run("diff", job))
  end)

  -- The ports of DiffSync's examples print what DiffSync's examples print:
  -- each is held to the output scripts/capture-diffsync captured from
  -- DiffSync itself (examples/*/diffsync-output.txt).
  local function capture(dir)
    return h.read(h.root .. "/examples/" .. dir .. "/diffsync-output.txt")
  end

  -- a tracked file an example could write to, unchanged by the run
  local function unchanged(files, run)
    local before = {}
    for _, f in ipairs(files) do before[f] = h.read(h.root .. "/examples/" .. f) end
    run()
    for _, f in ipairs(files) do
      assert.equals(before[f], h.read(h.root .. "/examples/" .. f), f .. " was modified")
    end
  end

  for _, dir in ipairs { "01-multiple-data-sources", "02-callback-function",
                         "04-get-update-instantiate" } do
    it(dir .. ": prints what DiffSync's example prints", function()
      assert.equals(capture(dir), example(dir .. "/main.lua"))
    end)
  end

  it("06-ip-prefixes: prints what DiffSync's README session shows, data/ untouched", function()
    unchanged({ "06-ip-prefixes/data/ipam_a.json", "06-ip-prefixes/data/ipam_b.json" }, function()
      assert.equals(capture("06-ip-prefixes"), example("06-ip-prefixes/main.lua"))
    end)
  end)

  -- 03 and 05 against the stand-in Nautobot (and PeeringDB), started here
  local function standin(db)
    local copy = h.tmpdir() .. "/db.json"
    h.write(copy, h.read(h.root .. "/examples/" .. db))
    return h.server("examples/standin/server.js", copy)
  end

  it_node("03-remote-system: --diff, --sync, --diff print what DiffSync's example prints", function()
    local srv = standin("03-remote-system/nautobot-db.json")
    local out = {}
    for _, a in ipairs { "--diff", "--sync", "--diff" } do
      local r = h.run_env({ NAUTOBOT_URL = srv.url,
                            NAUTOBOT_TOKEN = "0123456789abcdef0123456789abcdef01234567" },
                          "run", h.root .. "/examples/03-remote-system/main.lua", a)
      assert.equals("", r.stderr)
      assert.equals(0, r.code)
      out[#out + 1] = "$ main " .. a .. "\n" .. r.stdout
    end
    srv.stop()
    assert.equals(capture("03-remote-system"), table.concat(out))
  end)

  it_node("05-peeringdb-nautobot: prints what DiffSync's example shows, and syncs the stand-in", function()
    local srv = standin("05-peeringdb-nautobot/standin-db.json")
    local r = h.run_env({ NAUTOBOT_URL = srv.url, PEERINGDB_URL = srv.url },
                        "run", h.root .. "/examples/05-peeringdb-nautobot/main.lua")
    assert.equals("", r.stderr)
    assert.equals(0, r.code)
    assert.equals(capture("05-peeringdb-nautobot"), r.stdout)
    -- the sites were created in the stand-in Nautobot, the one only it has kept
    local sites = {}
    for _, s in ipairs(cjson.decode(h.fetch(srv.url .. "/api/dcim/sites/")).results) do
      sites[#sites + 1] = s.name
    end
    srv.stop()
    table.sort(sites)
    assert.same({ "Head Office", "Sample Campus BCN-1", "Sample Campus BCN-2", "Sample Hall AND-1",
                  "Sample Tower MAD-1" }, sites)
  end)

  -- without a Nautobot named, 03 and 05 start the stand-in themselves
  -- (node runs without the sanitizer runtime check-asan preloads)
  local it_self = (h.have_node() and os.getenv("MOONSYNC_ASAN") ~= "1") and it or pending
  it_self("03 and 05 run with one command, tracked data untouched", function()
    unchanged({ "03-remote-system/nautobot-db.json", "05-peeringdb-nautobot/standin-db.json" }, function()
      local out = example("03-remote-system/main.lua", "--diff", "--sync")
      assert.matches("country: belgium\n        population    Local%(11632326%)    Nautobot%(11000000%)", out)
      assert.matches("Created country : {'slug': 'algeria'}", out)
      assert.equals(capture("05-peeringdb-nautobot"), example("05-peeringdb-nautobot/main.lua"))
    end)
  end)

  it_node("Meraki: the adapter guide's worked example", function()
    local r = h.run("run", h.root .. "/examples/meraki/run.lua")
    assert.equals(0, r.code)
    assert.matches("site: BER Office MISSING in nautobot", r.stdout)
    assert.matches("sync complete: 5 created, 0 updated, 0 deleted", r.stdout)
    assert.matches("== moonsync diff job.lua\n%(no diffs%)", r.stdout)
  end)

  it_node("Nautobot SSoT's Meraki job: plan, apply, a firmware upgrade, nothing left", function()
    local r = h.run("run", h.root .. "/examples/ssot-meraki/run.lua")
    assert.equals(0, r.code, r.stderr)
    assert.matches("Networks +%-> Locations /dcim/locations/", r.stdout)
    assert.matches("plan: 93 to create, 0 to update, 0 to delete", r.stdout)
    assert.matches("the plan applied: [^\n]*\nsync complete: 93 created, 0 updated, 0 deleted, 0 failed", r.stdout)
    assert.matches("after a firmware upgrade: [^\n]*\nsync complete: 1 created, 2 updated, 1 deleted, 0 failed",
                   r.stdout)
    assert.matches("nothing left to do: [^\n]*\n%(no diffs%)", r.stdout)
  end)

  it_node("Nautobot SSoT's IP Fabric job: plan, apply, a device gone, nothing left", function()
    local r = h.run("run", h.root .. "/examples/ssot-ipfabric/run.lua")
    assert.equals(0, r.code, r.stderr)
    assert.matches("Location +%-> Location /dcim/locations/", r.stdout)
    assert.matches("plan: 60 to create, 0 to update, 0 to delete", r.stdout)
    assert.matches("the plan applied: [^\n]*\nsync complete: 60 created, 0 updated, 0 deleted, 0 failed", r.stdout)
    assert.matches("after a device left: [^\n]*\nsync complete: 0 created, 0 updated, 2 deleted, 0 failed",
                   r.stdout)
    assert.matches("nothing left to do: [^\n]*\n%(no diffs%)", r.stdout)
  end)

  it_node("Nautobot SSoT: data source and data target jobs, thirteen models", function()
    local r = h.run("run", h.root .. "/examples/nautobot-ssot/run.lua")
    assert.equals(0, r.code, r.stderr)
    assert.matches("data mappings:\n  LocationType %(remote%) +%-> LocationType %(local%) /dcim/location%-types/", r.stdout)
    assert.matches("dry run: 24 to create, 12 to update, 0 to delete", r.stdout)
    assert.matches("sync remote %-> local: moonsync sync data_source.lua %-%-no%-progress\n"
                   .. "sync complete: 24 created, 12 updated, 0 deleted, 0 failed", r.stdout)
    assert.matches("sync local %-> remote: moonsync sync data_target.lua %-%-no%-progress\n"
                   .. "sync complete: 7 created, 0 updated, 0 deleted, 0 failed", r.stdout)
    local _, empty = r.stdout:gsub("nothing left to do: moonsync diff data_%w+.lua\n%(no diffs%)", "")
    assert.equals(2, empty)
  end)
end)
