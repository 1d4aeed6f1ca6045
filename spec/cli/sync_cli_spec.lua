local h = require "helpers"
local cjson = require "cjson"

local SCHEMA = [[{
  "top_level": ["site"],
  "models": {
    "site": {"identifiers": ["name"], "attributes": ["status"],
             "children": {"device": "devices"}},
    "device": {"identifiers": ["site_name", "name"], "attributes": ["role"]}
  }
}]]

local SRC = [[{"site": [
  {"name": "ams", "status": "planned", "devices": [{"site_name": "ams", "name": "sw1", "role": "leaf"}]},
  {"name": "ber", "status": "active"}
]}]]
local DST = [[{"site": [
  {"name": "ams", "status": "active", "devices": []},
  {"name": "old", "status": "active"}
]}]]

local function files(dir)
  local out = {}
  local p = io.popen("ls -A " .. h.quote(dir))
  for f in p:lines() do out[#out + 1] = f end
  p:close()
  table.sort(out)
  return out
end

local job = h.json_job

describe("moonsync sync --schema", function()
  local dir
  before_each(function() dir = h.sync_dir(SCHEMA, SRC, DST) end)
  after_each(h.cleanup)

  it("writes the synced target and the ops log", function()
    local r = h.run("sync", "--schema", dir .. "/schema.json", dir .. "/src.json", dir .. "/dst.json",
                    "--out", dir .. "/after.json", "--ops-log", dir .. "/ops.json", "--max-deletes", "1")
    assert.equals(0, r.code)
    assert.matches("sync complete: 2 created, 1 updated, 1 deleted, 0 failed\n", r.stdout)
    local after = cjson.decode(h.read(dir .. "/after.json"))
    assert.equals("planned", after.site[1].status)
    assert.equals("sw1", after.site[1].devices[1].name)
    assert.equals("ber", after.site[2].name)
    local ops = cjson.decode(h.read(dir .. "/ops.json"))
    assert.equals(4, #ops)
    assert.same({ "after.json", "dst.json", "ops.json", "schema.json", "src.json" }, files(dir))
    -- the result diffs clean against the source
    r = h.run("diff", "--schema", dir .. "/schema.json", dir .. "/src.json", dir .. "/after.json")
    assert.equals("(no diffs)\n", r.stdout)
  end)

  it("writes nothing on --dry-run and exits 2 when changes are pending", function()
    local r = h.run("sync", "--schema", dir .. "/schema.json", dir .. "/src.json", dir .. "/dst.json",
                    "--out", dir .. "/after.json", "--dry-run")
    assert.equals(2, r.code)
    assert.matches("dry run: 2 to create, 1 to update, 1 to delete", r.stdout)
    assert.is_nil(h.read(dir .. "/after.json"))
    r = h.run("sync", "--schema", dir .. "/schema.json", dir .. "/src.json", dir .. "/src.json", "--dry-run")
    assert.equals(0, r.code)
  end)

  it("refuses the whole sync when deletes exceed the budget", function()
    local r = h.run("sync", "--schema", dir .. "/schema.json", dir .. "/src.json", dir .. "/dst.json",
                    "--out", dir .. "/after.json", "--max-deletes", "0")
    assert.equals(1, r.code)
    assert.matches("refusing to sync: 1 delete would exceed the budget of 0 %(policy max_deletes%); "
                   .. "nothing was changed", r.stderr)
    assert.is_nil(h.read(dir .. "/after.json"))
    r = h.run("sync", "--schema", dir .. "/schema.json", dir .. "/src.json", dir .. "/dst.json",
              "--out", dir .. "/after.json", "--max-deletes", "49%")
    assert.equals(1, r.code)
    assert.matches("exceed the budget of 49%% of 2 target records %(0%)", r.stderr)
    r = h.run("sync", "--schema", dir .. "/schema.json", dir .. "/src.json", dir .. "/dst.json",
              "--out", dir .. "/after.json", "--max-deletes", "50%")
    assert.equals(0, r.code)
  end)

  it("refuses to wipe most of a dest it writes over by default, and is DiffSync's sync otherwise", function()
    local many = { '{"site": [' }
    for i = 1, 30 do many[#many + 1] = ('{"name": "s%d"}%s'):format(i, i < 30 and "," or "") end
    many[#many + 1] = "]}"
    local big = table.concat(many)
    h.write(dir .. "/big.json", big)
    local r = h.run("sync", "--schema", dir .. "/schema.json", dir .. "/src.json", dir .. "/big.json",
                    "--out", dir .. "/big.json")
    assert.equals(1, r.code)
    assert.matches("30 deletes would exceed the default budget of 50%% of 30 target records", r.stderr)
    assert.equals(big, h.read(dir .. "/big.json"))
    -- into a new file the dest stays as it was: no job, no policy
    r = h.run("sync", "--schema", dir .. "/schema.json", dir .. "/src.json", dir .. "/big.json",
              "--out", dir .. "/after.json")
    assert.equals(0, r.code, r.stderr)
    assert.matches("3 created, 0 updated, 30 deleted", r.stdout)  -- ams, its device, ber
    assert.equals(big, h.read(dir .. "/big.json"))
  end)

  it("syncs one subtree with --target and leaves one out with --exclude", function()
    local r = h.run("sync", "--schema", dir .. "/schema.json", dir .. "/src.json", dir .. "/dst.json",
                    "--out", dir .. "/after.json", "--target", "site:ber")
    assert.equals(0, r.code)
    local after = cjson.decode(h.read(dir .. "/after.json"))
    assert.equals("active", after.site[1].status)  -- ams untouched
    assert.equals("old", after.site[2].name)       -- not deleted
    assert.equals("ber", after.site[3].name)
    r = h.run("sync", "--schema", dir .. "/schema.json", dir .. "/src.json", dir .. "/dst.json",
              "--out", dir .. "/after2.json", "--exclude", "site:old")
    after = cjson.decode(h.read(dir .. "/after2.json"))
    assert.equals(3, #after.site)
    r = h.run("sync", "--schema", dir .. "/schema.json", dir .. "/src.json", dir .. "/dst.json",
              "--out", dir .. "/after3.json", "--target", "site:nowhere")
    assert.equals(1, r.code)
    assert.matches("no change matches %-%-target site:nowhere", r.stderr)
    assert.is_nil(h.read(dir .. "/after3.json"))
  end)

  it("logs each operation as JSON with --log-format json", function()
    local r = h.run("sync", "--schema", dir .. "/schema.json", dir .. "/src.json", dir .. "/dst.json",
                    "--out", dir .. "/after.json", "--log-format", "json", "--max-deletes", "1")
    local lines = {}
    for l in r.stderr:gmatch("[^\n]+") do lines[#lines + 1] = cjson.decode(l) end
    assert.equals(4, #lines)
    assert.equals("update", lines[1].op)
    assert.equals("site", lines[1].model)
    assert.equals("ams", lines[1].uid)
    assert.equals("success", lines[1].status)
    assert.is_number(lines[1].duration)
  end)
end)

describe("moonsync jobs", function()
  local dir
  before_each(function() dir = h.sync_dir(SCHEMA, SRC, DST) end)
  after_each(h.cleanup)

  it("diff exits 2 with pending changes and 0 without", function()
    local j = job(dir)
    local r = h.run("diff", j, "--format", "summary")
    assert.equals(2, r.code)
    assert.matches('"create": 2', r.stdout)
    h.write(dir .. "/dst.json", SRC)
    r = h.run("diff", j)
    assert.equals(0, r.code)
    assert.equals("(no diffs)\n", r.stdout)
  end)

  it("sync writes the target atomically and a second sync has nothing to do", function()
    local j = job(dir, { policy = "{ max_deletes = 1 }" })
    local r = h.run("sync", j)
    assert.equals(0, r.code)
    assert.matches("sync complete: 2 created, 1 updated, 1 deleted", r.stdout)
    assert.matches("peak memory", r.stdout)
    assert.same({ "dst.json", "job.lua", "schema.json", "src.json" }, files(dir))
    r = h.run("sync", j)
    assert.equals(0, r.code)
    assert.equals("nothing to do\n", r.stdout)
  end)

  it("shows progress (phase, count, rate, ETA) on a terminal and nothing on a pipe", function()
    local j = job(dir, { policy = "{ max_deletes = 1 }" })
    local out = os.tmpname()
    os.execute(("script -qc %s /dev/null </dev/null >%s 2>&1"):format(
      h.quote(h.quote(h.bin) .. " sync " .. h.quote(j)), out))
    local tty = h.read(out)
    os.remove(out)
    assert.matches("load  3 %+ 2 records", tty)
    assert.matches("sync  %d+/%d+ +%d+%%  %d+/s  ETA %d+s", tty)
    h.write(dir .. "/dst.json", DST)
    local r = h.run("sync", j)
    assert.equals("", r.stderr)
  end)

  it("prevent_delete keeps target records of a model", function()
    local j = job(dir, { policy = '{ prevent_delete = { "site" } }' })
    local r = h.run("sync", j)
    assert.equals(0, r.code)
    assert.matches("0 deleted", r.stdout)
    assert.matches('"name": "old"', h.read(dir .. "/dst.json"))
  end)

  it("a dry run reports what validate hooks reject, without writing", function()
    local before = h.read(dir .. "/dst.json")
    -- validate gets the model class, the same object create receives
    local j = job(dir, { target = [[
      t.spec.validate = function(self, op, model, ids, attrs)
        assert(model == self.model[model.name], "not the model class")
        if op == "create" and model.name == "device" then return false, "devices are read-only" end
        return true
      end]] })
    local r = h.run("sync", j, "--dry-run")
    assert.equals(1, r.code)
    assert.matches("1 change would fail validation", r.stdout)
    assert.matches("create device ams__sw1: devices are read%-only", r.stdout)
    assert.equals(before, h.read(dir .. "/dst.json"))
  end)

  it("a failed sync leaves the target file untouched", function()
    local before = h.read(dir .. "/dst.json")
    local j = job(dir, { policy = "{ max_deletes = 5 }", target = [[
      t.spec.create = function(self, model, ids, attrs)
        if model.name == "device" then error("backend down") end
        return self:create_base(model, ids, attrs)
      end]] })
    local r = h.run("sync", j)
    assert.equals(1, r.code)
    assert.matches("create handler failed for device 'ams__sw1'", r.stderr)
    assert.matches("backend down", r.stderr)
    assert.equals(before, h.read(dir .. "/dst.json"))
    assert.same({ "dst.json", "job.lua", "schema.json", "src.json" }, files(dir))
  end)

  it("reports a job file that does not return ms.job", function()
    local j = h.write(dir .. "/bad.lua", "return 42")
    local r = h.run("sync", j)
    assert.equals(1, r.code)
    assert.matches("a job file must return ms.job", r.stderr)
    j = h.write(dir .. "/bad2.lua", "return require('moonsync').job { source = 1 }")
    r = h.run("diff", j)
    assert.equals(1, r.code)
    assert.matches("'source' must be an adapter or a function returning one", r.stderr)
  end)

  describe("plan and apply", function()
    it("applies a plan when the target has not drifted", function()
      local j = job(dir, { policy = "{ max_deletes = 1 }" })
      local r = h.run("plan", j, "-o", dir .. "/plan.json")
      assert.equals(2, r.code)
      local plan = cjson.decode(h.read(dir .. "/plan.json"))
      assert.equals("moonsync-plan/3", plan.format)
      assert.equals(4, #plan.diff.changes)
      -- the source changes after the plan: apply still applies the plan
      h.write(dir .. "/src.json", '{"site": []}')
      r = h.run("apply", dir .. "/plan.json")
      assert.equals(0, r.code)
      assert.matches("2 created, 1 updated, 1 deleted", r.stdout)
      h.write(dir .. "/src.json", SRC)
      assert.equals("(no diffs)\n", h.run("diff", j).stdout)
    end)

    it("refuses drifted records and applies the rest", function()
      local j = job(dir, { policy = "{ max_deletes = 1 }" })
      h.run("plan", j, "-o", dir .. "/plan.json")
      -- someone edits the target between plan and apply
      h.write(dir .. "/dst.json", (DST:gsub('"name": "ams", "status": "active"',
                                            '"name": "ams", "status": "maintenance"')))
      local r = h.run("apply", dir .. "/plan.json")
      assert.equals(1, r.code)
      assert.matches("refused 1 change whose target records drifted", r.stderr)
      assert.matches("update site ams: the target record changed since the plan", r.stderr)
      assert.matches("2 created, 0 updated, 1 deleted", r.stdout)
      local after = cjson.decode(h.read(dir .. "/dst.json"))
      assert.equals("maintenance", after.site[1].status)
    end)

    it("re-plans drifted records with --refresh", function()
      local j = job(dir, { policy = "{ max_deletes = 1 }" })
      h.run("plan", j, "-o", dir .. "/plan.json")
      h.write(dir .. "/dst.json", (DST:gsub('"name": "ams", "status": "active"',
                                            '"name": "ams", "status": "maintenance"')))
      local r = h.run("apply", dir .. "/plan.json", "--refresh")
      assert.equals(0, r.code, r.stderr)
      assert.matches("re%-planned 1 drifted record:", r.stdout)
      assert.equals("(no diffs)\n", h.run("diff", j).stdout)
    end)

    it("rejects a file that is not a plan", function()
      local r = h.run("apply", h.write(dir .. "/x.json", '{"format": "other"}'))
      assert.equals(1, r.code)
      assert.matches("not a moonsync plan", r.stderr)
    end)
  end)

  it("stops after the current operation on SIGINT and exits 130", function()
    -- a slow target: each create takes ~30 ms; 40 sites to create
    local many = { '{"site": [' }
    for i = 1, 40 do many[#many + 1] = ('{"name": "s%02d"}%s'):format(i, i < 40 and "," or "") end
    many[#many + 1] = "]}"
    h.write(dir .. "/src.json", table.concat(many))
    h.write(dir .. "/dst.json", '{"site": []}')
    local marker = dir .. "/started"
    local j = job(dir, { target = h.slow_creates(marker) })
    local code = h.interrupt_sync(dir, j, marker, "INT")
    assert.equals(130, code)
    local err = h.read(dir .. "/err")
    assert.matches("interrupted: %d+ created, 0 updated, 0 deleted, 0 failed; %d+ of 40 changes not done", err)
    -- the target file was not written
    assert.equals('{"site": []}', h.read(dir .. "/dst.json"))
  end)

  it("says what a first and a second interrupt do", function()
    h.write(dir .. "/src.json", '{"site": [{"name": "a"}, {"name": "b"}]}')
    h.write(dir .. "/dst.json", '{"site": []}')
    local marker = dir .. "/started"
    -- a create that takes 3 s and ignores the first interrupt
    local j = job(dir, { target = (h.slow_creates(marker):gsub("< 0%.03", "< 3")) })
    local script = h.write(dir .. "/twice.sh", ([[
%s sync %s >%s/out 2>%s/err &
pid=$!
n=0
while [ ! -f %s ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); done
kill -INT $pid; sleep 0.3; kill -INT $pid
wait $pid
echo $? >%s/code
]]):format(h.quote(h.bin), h.quote(j), dir, dir, h.quote(marker), dir))
    os.execute("sh " .. h.quote(script))
    assert.equals("130", h.read(dir .. "/code"):match("%d+"))
    local err = h.read(dir .. "/err")
    assert.matches("interrupted: finishing the writes in flight, sending no new ones", err)
    assert.matches("interrupted again: stopping at once", err)
    assert.equals('{"site": []}', h.read(dir .. "/dst.json"))
  end)
end)
