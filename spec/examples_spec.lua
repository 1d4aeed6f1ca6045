-- Every example runs with one command and does what its comments say.
local h = require "helpers"

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
    assert.equals(0, run("apply", dir .. "/plan.json"))
    assert.equals(0, run("diff", job))
  end)

  it("01: multiple data sources, synced both ways", function()
    local out = example("01-multiple-data-sources/main.lua")
    assert.matches("site: atl MISSING in Backend%-A", out)
    assert.matches("Diff A to B after the sync: %(no diffs%)", out)
    assert.matches("Diff C to B after the sync: %(no diffs%)", out)
  end)

  it("02: progress callbacks", function()
    local out = example("02-callback-function/main.lua", "1000")
    assert.matches("diff: 1500 of 1500 %(100%%%)", out)
    assert.matches("sync: 1000 of 1000 %(100%%%)", out)
  end)

  it_node("03: a remote system over REST (json-server)", function()
    local out = example("03-remote-system/main.lua")
    assert.matches("country: Kenya MISSING in remote", out)
    assert.matches("synced: 6 created, 2 updated, 2 deleted", out)
    assert.matches("Differences after the sync: %(no diffs%)", out)
  end)

  it("04: get_or_instantiate and update_or_instantiate", function()
    assert.matches("role    last%-wins%(leaf%-v2%)    first%-wins%(leaf%)",
                   example("04-get-update-instantiate/main.lua"))
  end)

  it("05: PeeringDB facilities into Nautobot regions and sites", function()
    local out = example("05-peeringdb-nautobot/main.lua", h.tmpdir() .. "/nb.json")
    assert.matches("region: Asia Pacific MISSING in nautobot", out)
    assert.matches("6 created, 0 updated; office%-lon kept: true", out)
  end)

  it("06: IP prefixes across two IPAM shapes", function()
    local out = example("06-ip-prefixes/main.lua")
    assert.matches("tenant    ipam%-a%(Globex%)    ipam%-b%(Initech%)", out)
    assert.matches("After the sync: %(no diffs%)", out)
  end)

  it_node("Meraki: the adapter guide's worked example", function()
    local r = h.run("run", h.root .. "/examples/meraki/run.lua")
    assert.equals(0, r.code)
    assert.matches("site: BER Office MISSING in nautobot", r.stdout)
    assert.matches("sync complete: 5 created, 0 updated, 0 deleted", r.stdout)
    assert.matches("== moonsync diff job.lua\n%(no diffs%)", r.stdout)
  end)

  it_node("Nautobot SSoT: data source and data target jobs", function()
    local r = h.run("run", h.root .. "/examples/nautobot-ssot/run.lua")
    assert.equals(0, r.code)
    assert.matches("dry run: 5 to create, 6 to update, 3 to delete", r.stdout)
    -- the sync log of the jobs goes to stderr
    assert.matches('{"op": "update", "model": "device", "uid": "dev00000"', r.stderr)
    assert.matches("sync complete: 4 created, 5 updated, 2 deleted", r.stdout)
    assert.matches("data target job, dry run: .-%(no diffs%)", r.stdout)
  end)
end)
