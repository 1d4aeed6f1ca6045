-- The job runner's policy gate (moonsync.policy) on top of DiffSync's
-- semantics, and the runner itself (moonsync.run) without the command line.
local h = require "helpers"
local cjson = require "cjson"

local SCHEMA = [[{
  "top_level": ["site"],
  "models": {
    "site": {"identifiers": ["name"], "attributes": ["status"], "children": {"device": "devices"}},
    "device": {"identifiers": ["site_name", "name"], "attributes": ["role"],
               "children": {"interface": "interfaces"}},
    "interface": {"identifiers": ["device", "name"], "attributes": ["mtu"]}
  }
}]]
-- the source has site ber and its device sw1; the dest also has device
-- sw6 with two interfaces
local SRC = [[{"site": [{"name": "ber", "status": "up", "devices": [
  {"site_name": "ber", "name": "sw1", "role": "leaf"}]}]}]]
local DST = [[{"site": [{"name": "ber", "status": "up", "devices": [
  {"site_name": "ber", "name": "sw1", "role": "leaf"},
  {"site_name": "ber", "name": "sw6", "role": "spine", "interfaces": [
    {"device": "sw6", "name": "eth0", "mtu": 1500}, {"device": "sw6", "name": "eth1", "mtu": 1500}]}]}]}]]

local function sites(n)
  local out = {}
  for i = 1, n do out[i] = ('{"name": "s%02d", "status": "up"}'):format(i) end
  return '{"site": [' .. table.concat(out, ", ") .. "]}"
end

describe("the policy gate #policy", function()
  local dir
  before_each(function() dir = h.sync_dir(SCHEMA, SRC, DST) end)
  after_each(h.cleanup)

  it("protect_children: a job refuses a delete that would take a kept record along, naming the policy", function()
    -- interfaces are kept (prevent_delete): DiffSync would delete sw6 anyway
    local j = h.json_job(dir, { flags = '{ "CONTINUE_ON_FAILURE" }',
                                policy = '{ prevent_delete = { "interface" } }' })
    local r = h.run("sync", j)
    assert.equals(1, r.code)
    assert.matches("delete device ber__sw6: error %(Failed to delete device .* its subtree holds "
                   .. "interface 'sw6__eth0', which this sync keeps .*policy protect_children%)", r.stderr)
    assert.equals(2, #cjson.decode(h.read(dir .. "/dst.json")).site[1].devices)
    -- switched off, the job does what DiffSync does: sw6 goes, its
    -- interfaces stay in the store (which this target does not write)
    j = h.json_job(dir, { policy = '{ prevent_delete = { "interface" }, protect_children = false }',
                          target = "t.commit = function() return {} end" })
    r = h.run("sync", j)
    assert.equals(0, r.code, r.stderr)
    assert.matches("sync complete: 0 created, 0 updated, 1 deleted, 0 failed", r.stdout)
  end)

  it("protect_children: a failed child delete keeps its parent in a job, not in the library", function()
    h.write(dir .. "/src.json", '{"site": [{"name": "ber", "status": "up"}]}')
    local refuse = [[t.spec.delete = function(self, rec)
        if rec:get_type() == "interface" then return nil end
        return self:delete_base(rec)
      end
      t:get("device", "ber__sw6"):model_flags { "NATURAL_DELETION_ORDER" }]]
    local j = h.json_job(dir, { flags = '{ "CONTINUE_ON_FAILURE" }', target = refuse })
    local r = h.run("sync", j)
    assert.equals(1, r.code)
    assert.matches("its subtree holds interface 'sw6__eth0', which this sync keeps", r.stderr)
    -- the library: DiffSync's semantics, the parent goes
    local s = h.write(dir .. "/lib.lua", ([[
      local ms = require "moonsync"
      local sc = ms.schema(%q)
      local src = sc:adapter("src"):new(); src:load_file(%q)
      local dst = sc:adapter("dst", "dest", { delete = function(self, rec)
        if rec:get_type() == "interface" then return nil end
        return self:delete_base(rec)
      end }):new()
      dst:load_file(%q)
      for _, d in ipairs(dst:get_all("device")) do d:model_flags { "NATURAL_DELETION_ORDER" } end
      local _, res = dst:sync_from(src, { flags = { "CONTINUE_ON_FAILURE" } })
      print(res.deleted, res.failed, dst:get_or_none("device", "ber__sw6") == nil,
            dst:get_or_none("device", "ber__sw1") == nil, dst:count("device"))]]):format(
      dir .. "/schema.json", dir .. "/src.json", dir .. "/dst.json"))
    r = h.run("run", s)
    assert.equals(0, r.code, r.stderr)
    -- the job deleted sw1 and kept sw6; here sw6 goes, its interfaces'
    -- deletes having returned nothing
    assert.equals("1\t2\ttrue\ttrue\t0\n", r.stdout)
  end)

  it("max_deletes: the refusal names the policy", function()
    h.write(dir .. "/dst.json", sites(30))
    local r = h.run("sync", h.json_job(dir, { policy = "{ max_deletes = 3 }" }))
    assert.equals(1, r.code)
    assert.matches("refusing to sync: 30 deletes would exceed the budget of 3 %(policy max_deletes%); "
                   .. "nothing was changed", r.stderr)
    assert.equals(sites(30), h.read(dir .. "/dst.json"))
  end)

  it("scope: a job's policy.scope limits the run, and a target matching nothing is an error", function()
    h.write(dir .. "/src.json", '{"site": [{"name": "s01", "status": "down"}, {"name": "s02", "status": "down"}]}')
    h.write(dir .. "/dst.json", sites(2))
    local r = h.run("sync", h.json_job(dir, { policy = '{ scope = { target = { "site:s02" } } }' }))
    assert.equals(0, r.code, r.stderr)
    local after = cjson.decode(h.read(dir .. "/dst.json")).site
    assert.equals("up", after[1].status)
    assert.equals("down", after[2].status)
    r = h.run("sync", h.json_job(dir, { policy = '{ scope = { target = { "site:nowhere" } } }' }))
    assert.equals(1, r.code)
    assert.matches("no change matches %-%-target site:nowhere %(policy scope%)", r.stderr)
    r = h.run("sync", h.json_job(dir, { policy = '{ scope = { target = { "nocolon" } } }' }))
    assert.equals(1, r.code)
    assert.matches("policy%.scope%.target expects MODEL:UID, got 'nocolon'", r.stderr)
    r = h.run("sync", h.json_job(dir, { policy = '{ protect_kids = true }' }))
    assert.equals(1, r.code)
    assert.matches("unknown policy 'protect_kids' %(max_deletes, prevent_delete, scope, protect_children%)",
                   r.stderr)
  end)

  it("inspect shows every policy with its value", function()
    local j = h.json_job(dir, { policy = '{ max_deletes = "10%", prevent_delete = { "interface" } }' })
    local r = h.run("inspect", j)
    assert.equals(0, r.code, r.stderr)
    assert.matches("max_deletes%s+10%%", r.stdout)
    assert.matches("prevent_delete%s+interface", r.stdout)
    assert.matches("scope%s+%(all%)", r.stdout)
    assert.matches("protect_children%s+true", r.stdout)
    r = h.run("inspect", j, "--format", "json")
    local p = cjson.decode(r.stdout).policy
    assert.equals("true", p.protect_children)
    assert.equals("10%", p.max_deletes)
  end)

  it("a null and a \"None\" identifier collide in a job, naming both records", function()
    h.write(dir .. "/src.json", '{"site": [{"name": "None", "status": "up"}, {"name": null, "status": "x"}]}')
    local r = h.run("diff", h.json_job(dir))
    assert.equals(1, r.code)
    assert.matches("src%.json: site%[1%]: Object None already present %(the site at site%[0%] has the same "
                   .. "uid; identifier 'name' is 'None' in the first and None in the second", r.stderr)
    -- a null alone is a value
    h.write(dir .. "/src.json", '{"site": [{"name": null, "status": "up"}]}')
    h.write(dir .. "/dst.json", '{"site": []}')
    r = h.run("sync", h.json_job(dir))
    assert.equals(0, r.code, r.stderr)
    local site = cjson.decode(h.read(dir .. "/dst.json")).site
    assert.equals(1, #site)
    assert.equals(cjson.null, site[1].name)
    -- and a plan carries it: its keys hold null, apply finds None
    h.write(dir .. "/src.json", '{"site": [{"name": null, "status": "down"}]}')
    r = h.run("plan", dir .. "/job.lua", "-o", dir .. "/plan.json")
    assert.equals(2, r.code, r.stderr)
    r = h.run("apply", dir .. "/plan.json")
    assert.equals(0, r.code, r.stderr)
    assert.equals("down", cjson.decode(h.read(dir .. "/dst.json")).site[1].status)
  end)

  it("moonsync.run runs a job without the command line, through the same gate", function()
    h.write(dir .. "/dst.json", sites(30))
    h.json_job(dir, { policy = "{ max_deletes = 40 }" })
    local s = h.write(dir .. "/script.lua", ([[
      local run = require "moonsync.run"
      local r = run.new { job = %q, writer = true, max_deletes = 5 }
      r:load()
      local _, target, diff = r:diff()
      local ok, err = pcall(r.check, r)
      print(ok, err.type, err.message:match("policy max_deletes") ~= nil)
      -- the job's own budget (40), as the command line would run it
      r.gate = require("moonsync.policy").new(r.job.policy)
      r:check()
      local res = r:sync()
      r:commit()
      print(res.created, res.deleted, #r.ops)]]):format(dir .. "/job.lua"))
    local r = h.run("run", s)
    assert.equals(0, r.code, r.stderr)
    assert.equals("false\tPolicyError\ttrue\n2\t30\t32\n", r.stdout)
    assert.equals("ber", cjson.decode(h.read(dir .. "/dst.json")).site[1].name)
  end)
end)
