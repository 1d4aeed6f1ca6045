-- Errors a new user meets first: each says what is wrong and what to do,
-- naming the user's own file and line.
local h = require "helpers"

local SCHEMA = '{"top_level": ["site"], "models": {"site": {"identifiers": ["name"]}}}'

describe("messages #cli", function()
  local dir
  before_each(function() dir = h.sync_dir(SCHEMA, '{"site": []}', '{"site": []}') end)
  after_each(h.cleanup)

  it("an unknown option of a bundled adapter names the job's line, not moonsync's", function()
    local job = h.write(dir .. "/job.lua", ([[
local ms = require "moonsync"
local json_file = require "moonsync.adapters.json_file"
local dir = %q
return ms.job {
  source = function() return json_file.open { schema = dir .. "/schema.json", path = dir .. "/src.json", bogus = 1 } end,
  target = function() return json_file.open { schema = dir .. "/schema.json", path = dir .. "/dst.json" } end,
}]]):format(dir))
    local r = h.run("diff", job)
    assert.equals(1, r.code)
    assert.matches("job%.lua:5: json_file%.open: unknown option 'bogus'", r.stderr)
    assert.is_nil(r.stderr:find("moonsync/job.lua", 1, true))
  end)

  it("an unknown adapter module lists the bundled ones", function()
    local r = h.run("diff", h.json_job(dir, { prelude = 'require "moonsync.adapters.meraki_nope"' }))
    assert.equals(1, r.code)
    assert.matches("the bundled adapters: csv_file, ipfabric, json_file, meraki, nautobot, netbox, openapi, rest", r.stderr)
    assert.is_true(select(2, r.stderr:gsub("\n", "")) <= 2, r.stderr)
  end)

  it("plan without -o says it needs one", function()
    local r = h.run("plan", h.json_job(dir))
    assert.equals(1, r.code)
    assert.matches("^moonsync plan: plan: %-o PLAN%.json is required", r.stderr)
  end)

  it("run on a job file says to use diff, sync or plan, without a traceback", function()
    local job = h.json_job(dir)
    local r = h.run("run", job)
    assert.equals(1, r.code)
    assert.matches("is a job file %(it returns ms%.job%): run it with 'moonsync diff", r.stderr)
    -- one that fails as a script before it returns
    h.write(dir .. "/early.lua", 'local ms = require "moonsync"\nlocal _, here = ...\n'
            .. 'local p = here .. "/x"\nreturn ms.job {}')
    r = h.run("run", dir .. "/early.lua")
    assert.equals(1, r.code)
    assert.matches("early%.lua is a job file", r.stderr)
    assert.matches("it stopped at: .*early%.lua:3: attempt to concatenate", r.stderr)
    assert.is_nil(r.stderr:find("stack traceback", 1, true))
  end)

  describe("output that cannot be written", function()
    local job, env
    before_each(function()
      local sites = {}
      for i = 1, 3000 do sites[i] = ('{"name": "s%d"}'):format(i) end
      h.write(dir .. "/src.json", '{"site": [' .. table.concat(sites, ",") .. "]}")
      job = h.json_job(dir)
      env = "XDG_STATE_HOME=" .. h.quote(dir .. "/state") .. " MOONSYNC_HISTORY= "
    end)

    local function last_run()
      local p = io.popen(env .. h.quote(h.bin) .. " history --format json")
      local text = p:read("a")
      p:close()
      return require("cjson").decode(text).runs[1]
    end

    it("a full disk is an error that says so, and the run is recorded", function()
      local p = io.popen(env .. h.quote(h.bin) .. " diff " .. h.quote(job) .. " >/dev/full 2>"
                         .. h.quote(dir .. "/err") .. "; echo rc=$?")
      local text = p:read("a")
      p:close()
      assert.matches("cannot write the output: No space left on device", h.read(dir .. "/err"))
      assert.equals("rc=1\n", text)
      assert.equals(1, last_run().exit_status)
    end)

    it("a reader that goes away ends the output, not the run", function()
      local p = io.popen("bash -c " .. h.quote(env .. h.quote(h.bin) .. " diff " .. h.quote(job)
        .. " 2>" .. h.quote(dir .. "/err") .. " | head -2 >/dev/null; echo ${PIPESTATUS[0]}"))
      local code = p:read("a")
      p:close()
      assert.equals("2\n", code)
      assert.equals("", h.read(dir .. "/err"))
      assert.equals(2, last_run().exit_status)
    end)
  end)

  it("counts a handler's nil and a raised error apart, and says both are failures", function()
    h.write(dir .. "/src.json", '{"site": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}')
    local job = h.json_job(dir, { flags = '{ "continue_on_failure" }', target = [[
      t.spec.create = function(self, model, ids, attrs)
        if ids.name == "a" then return nil end
        if ids.name == "b" then error(ms.error("ObjectNotCreated", "b is refused")) end
        return self:create_base(model, ids, attrs)
      end]] })
    local r = h.run("sync", job, "--no-progress")
    assert.equals(1, r.code, r.stderr)
    assert.matches("sync complete: 1 created, 0 updated, 0 deleted, 2 failed %(1 not done, 1 raised%)", r.stdout)
  end)

  describe("what a careful operator sees", function()
    local job
    before_each(function()
      local many = {}
      for i = 1, 30 do many[i] = ('{"name": "s%d"}'):format(i) end
      h.write(dir .. "/dst.json", '{"site": [' .. table.concat(many, ",") .. "]}")
      h.write(dir .. "/src.json", '{"site": [{"name": "s1"}, {"name": "new"}]}')
      job = h.json_job(dir)
    end)

    it("the dry run and plan say the delete budget would refuse the sync", function()
      local r = h.run("sync", job, "--dry-run")
      assert.equals(1, r.code)
      assert.matches("the delete budget would refuse this sync: 29 deletes would exceed the default "
                     .. "budget of 50%% of 30 target records", r.stdout)
      r = h.run("plan", job, "-o", dir .. "/p.json")
      assert.equals(1, r.code)
      assert.matches("refusing to save the plan: 29 deletes would exceed", r.stderr)
      assert.is_nil(r.stderr:find("refusing to sync", 1, true))
      assert.is_nil(h.read(dir .. "/p.json"))
      -- within the budget the dry run says nothing of it
      r = h.run("sync", job, "--dry-run", "--max-deletes", "29")
      assert.equals(2, r.code)
      assert.is_nil(r.stdout:find("budget", 1, true))
    end)

    it("sync --show prints what it changes before the counts", function()
      local r = h.run("sync", job, "--max-deletes", "29", "--show", "--no-progress")
      assert.equals(0, r.code, r.stderr)
      assert.matches("^site\n  site: new MISSING in dst\n.*site: s30 MISSING in src\n.*"
                     .. "sync complete: 1 created, 0 updated, 29 deleted, 0 failed\n", r.stdout)
    end)

    it("a plan applied twice is stale, and nothing is applied the second time", function()
      h.write(dir .. "/dst.json", '{"site": [{"name": "s1"}, {"name": "gone"}]}')
      assert.equals(2, h.run("plan", job, "-o", dir .. "/p.json").code)
      assert.equals(0, h.run("apply", dir .. "/p.json").code)
      local after = h.read(dir .. "/dst.json")
      local r = h.run("apply", dir .. "/p.json")
      assert.equals(1, r.code)
      assert.matches("p%.json is stale: the target already holds all 2 of its changes %(was it "
                     .. "applied before%?%); nothing was applied", r.stderr)
      assert.is_nil(r.stdout:find("0 created", 1, true))
      assert.equals(after, h.read(dir .. "/dst.json"))
    end)
  end)
end)
