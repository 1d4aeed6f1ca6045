-- The run history (SQLite) and `moonsync history`: where it lives, what
-- a run records, concurrent writers, migrations, retention, redaction.
local h = require "spec.helpers"
local cjson = require "cjson"

local DEMO = h.root .. "/examples/demo"

-- A fresh copy of the demo target and an environment for the demo job
-- whose history goes to the default place under XDG_STATE_HOME.
local function demo_env()
  local dir = h.tmpdir()
  h.write(dir .. "/nautobot.json", h.read(DEMO .. "/nautobot.json"))
  return dir, { MOONSYNC_DEMO_TARGET = dir .. "/nautobot.json", XDG_STATE_HOME = dir .. "/state",
                MOONSYNC_HISTORY = "" }
end

local function history_json(env, ...)
  local r = h.run_env(env, "history", "--format", "json", ...)
  assert.equals(0, r.code, r.stderr)
  return cjson.decode(r.stdout)
end

-- Runs Lua with the moonsync modules (moonsync run, trusted).
local function lua(code, ...)
  local dir = h.tmpdir()
  return h.run("run", h.write(dir .. "/s.lua", code), ...)
end

describe("run history #history", function()
  after_each(h.cleanup)

  it("records a dry run and a sync of the demo job under XDG_STATE_HOME", function()
    local dir, env = demo_env()
    assert.equals(2, h.run_env(env, "sync", DEMO .. "/job.lua", "--dry-run").code)
    local r = h.run_env(env, "sync", DEMO .. "/job.lua")
    assert.equals(0, r.code, r.stderr)
    assert.truthy(h.read(dir .. "/state/moonsync/history.sqlite"))
    local out = history_json(env)
    assert.equals(dir .. "/state/moonsync/history.sqlite", out.history)
    assert.equals(2, #out.runs)
    local sync, dry = out.runs[1], out.runs[2]
    assert.is_true(sync.id > dry.id)
    assert.is_true(dry.dry_run)
    assert.equals(2, dry.exit_status)
    assert.same({ create = 2, update = 3, delete = 2, ["no-change"] = 4, skip = 0 }, dry.summary)
    assert.is_nil(dry.result)
    assert.equals(0, sync.exit_status)
    assert.equals("inventory-to-nautobot", sync.job)
    assert.same({ created = 2, updated = 3, deleted = 2, failed = 0 }, sync.result)
    local counts = {}
    for _, c in ipairs(sync.counts) do counts[c.model .. " " .. c.action] = { c.planned, c.done, c.failed } end
    assert.same({ 1, 1, 0 }, counts["site create"])
    assert.same({ 1, 1, 0 }, counts["interface delete"])
    assert.is_number(sync.timings.load)
    assert.is_number(sync.timings.sync)
    assert.is_true(sync.peak_rss > 0)
    -- one run in full: operations and diff
    local show = h.run_env(env, "history", "show", tostring(sync.id), "--format", "json")
    local run = cjson.decode(show.stdout)
    assert.equals(7, #run.operations)
    assert.equals("moonsync-diff/1", run.diff.format)
    local text = h.run_env(env, "history", "show", tostring(sync.id))
    assert.matches("create site osl01: ok", text.stdout, 1, true)
    assert.matches("site%s+create%s+planned 1, done 1, failed 0", text.stdout)
  end)

  it("records plan and apply, and apply's report shows what it applied", function()
    local dir, env = demo_env()
    local plan = dir .. "/plan.json"
    assert.equals(2, h.run_env(env, "plan", DEMO .. "/job.lua", "-o", plan).code)
    local r = h.run_env(env, "apply", plan, "--job", DEMO .. "/job.lua", "--report", dir .. "/apply.html")
    assert.equals(0, r.code, r.stderr)
    local runs = history_json(env).runs
    assert.equals("apply", runs[1].command)
    assert.equals("plan", runs[2].command)
    assert.same({ created = 2, updated = 3, deleted = 2, failed = 0 }, runs[1].result)
    assert.is_nil(runs[2].result)
    assert.same({ create = 2, update = 3, delete = 2, ["no-change"] = 4, skip = 0 }, runs[2].summary)
    -- the page's data (the browser specs check what it renders)
    local html = h.read(dir .. "/apply.html")
    for _, kv in ipairs { '"created":2', '"updated":3', '"deleted":2', '"command":"apply"' } do
      assert.matches(kv, html, 1, true)
    end
  end)

  it("lists runs as text, filters them by job and limits them", function()
    local dir, env = demo_env()
    h.run_env(env, "diff", DEMO .. "/job.lua")
    h.run_env(env, "diff", "--schema", DEMO .. "/schema.json", DEMO .. "/inventory.json",
              DEMO .. "/nautobot.json")
    local r = h.run_env(env, "history")
    assert.equals(0, r.code)
    assert.matches("inventory%-to%-nautobot", r.stdout)
    assert.equals(2, #history_json(env).runs)
    assert.equals(1, #history_json(env, "--job", "inventory-to-nautobot").runs)
    assert.equals(1, #history_json(env, "--limit", "1").runs)
    assert.equals(1, h.run_env(env, "history", "--limit", "0").code)
    r = h.run_env(env, "history", "show", "999")
    assert.equals(1, r.code)
    assert.matches("no run 999", r.stderr)
    assert.truthy(dir)
  end)

  it("is off with --no-history and MOONSYNC_HISTORY=off, elsewhere with --history", function()
    local dir, env = demo_env()
    h.run_env(env, "diff", DEMO .. "/job.lua", "--no-history")
    env.MOONSYNC_HISTORY = "off"
    h.run_env(env, "diff", DEMO .. "/job.lua")
    assert.is_nil(h.read(dir .. "/state/moonsync/history.sqlite"))
    env.MOONSYNC_HISTORY = dir .. "/elsewhere/h.sqlite"
    h.run_env(env, "diff", DEMO .. "/job.lua")
    assert.truthy(h.read(dir .. "/elsewhere/h.sqlite"))
    local r = h.run_env(env, "diff", DEMO .. "/job.lua", "--history", dir .. "/x.sqlite", "--no-history")
    assert.equals(1, r.code)
    assert.matches("choose one", r.stderr)
  end)

  it("a history that cannot be written is a warning, not a failed run", function()
    local dir, env = demo_env()
    h.write(dir .. "/file", "x")
    local r = h.run_env(env, "diff", DEMO .. "/job.lua", "--history", dir .. "/file/h.sqlite")
    assert.equals(2, r.code)
    assert.matches("run history not recorded", r.stderr)
    assert.matches("MISSING in", r.stdout)
  end)

  it("keeps every run of concurrent writers", function()
    local dir, env = demo_env()
    local db = dir .. "/h.sqlite"
    local script = h.write(dir .. "/many.sh", ([[
      for i in 1 2 3 4 5 6 7 8 9 10; do
        env MOONSYNC_DEMO_TARGET=%s %s diff %s --format summary --history %s >/dev/null 2>>%s/err.$1
      done
    ]]):format(h.quote(env.MOONSYNC_DEMO_TARGET), h.quote(h.bin), h.quote(DEMO .. "/job.lua"),
               h.quote(db), dir))
    os.execute(("env -u LD_PRELOAD sh -c 'sh %s a & sh %s b & sh %s c & wait'")
      :format(script, script, script))
    assert.equals("", h.read(dir .. "/err.a") .. h.read(dir .. "/err.b") .. h.read(dir .. "/err.c"))
    local runs = history_json(env, "--history", db, "--limit", "100").runs
    assert.equals(30, #runs)
    for _, run in ipairs(runs) do
      assert.equals(2, run.exit_status)
      assert.equals(7, #run.counts)
    end
  end)

  it("migrates a version 1 database forward and refuses a newer one", function()
    local dir = h.tmpdir()
    local db = dir .. "/old.sqlite"
    local r = lua([[
      local core = require "moonsync.core"
      local db = core.sqlite_open(arg[1])
      local f = assert(io.open(arg[2])); db:exec(f:read("a")); f:close()
      db:close()
    ]], db, h.fixtures .. "/history/v1.sql")
    assert.equals(0, r.code, r.stderr)
    local out = history_json({}, "--history", db)
    assert.equals(1, #out.runs)
    local run = out.runs[1]
    assert.equals("nightly", run.job)
    local counts = {}
    for _, c in ipairs(run.counts) do counts[c.model .. " " .. c.action] = { c.planned, c.done, c.failed } end
    -- counts of the old run come from its diff and operations
    assert.same({ ["site create"] = { 1, 1, 0 }, ["site delete"] = { 1, 0, 1 } }, counts)
    r = lua([[
      local db = require("moonsync.core").sqlite_open(arg[1])
      print(db:prepare("PRAGMA user_version"):rows()[1].user_version)
      db:exec("PRAGMA user_version = 99")
    ]], db)
    assert.equals("4\n", r.stdout)
    r = h.run("history", "--history", db)
    assert.equals(1, r.code)
    assert.matches("history schema version 99 is newer than this moonsync's %(4%)", r.stderr)
  end)

  it("keeps the newest N runs with --history-keep, their operations with them", function()
    local dir, env = demo_env()
    local db = dir .. "/h.sqlite"
    for _ = 1, 5 do
      h.write(env.MOONSYNC_DEMO_TARGET, h.read(DEMO .. "/nautobot.json"))
      assert.equals(0, h.run_env(env, "sync", DEMO .. "/job.lua", "--history", db).code)
    end
    assert.equals(5, #history_json(env, "--history", db).runs)
    h.run_env(env, "diff", DEMO .. "/job.lua", "--history", db, "--history-keep", "3")
    local runs = history_json(env, "--history", db).runs
    assert.equals(3, #runs)
    assert.equals(6, runs[1].id)
    assert.equals(1, h.run_env(env, "history", "show", "3", "--history", db).code)
    local r = lua([[
      local db = require("moonsync.core").sqlite_open(arg[1])
      print(db:prepare("SELECT count(*) AS n FROM operations WHERE run_id <= 3"):rows()[1].n,
            db:prepare("SELECT count(*) AS n FROM operations"):rows()[1].n)
    ]], db)
    assert.equals("0\t14\n", r.stdout)
    env.MOONSYNC_HISTORY_KEEP = "1"
    h.run_env(env, "diff", DEMO .. "/job.lua", "--history", db)
    assert.equals(1, #history_json(env, "--history", db).runs)
  end)

  it("refuses --history-keep and --limit that are not a number of runs, recording nothing", function()
    local dir, env = demo_env()
    local db = dir .. "/h.sqlite"
    for _, bad in ipairs { "0", "-2", "1.5", "x" } do
      local r = h.run_env(env, "diff", DEMO .. "/job.lua", "--history", db, "--history-keep", bad)
      assert.equals(1, r.code)
      assert.equals("moonsync diff: --history-keep expects a number of runs (1 or more), got '"
                    .. bad .. "'\n", r.stderr)
      r = h.run_env(env, "history", "--history", db, "--limit", bad)
      assert.equals(1, r.code)
      assert.equals("moonsync history: --limit expects a number of runs (1 or more), got '"
                    .. bad .. "'\n", r.stderr)
    end
    assert.is_nil(io.open(db))
  end)

  it("never stores a secret: messages, errors, links and the command line are redacted", function()
    local secret = "tok-9f8e7d6c5b4a39281706"
    local dir = h.sync_dir(h.read(DEMO .. "/schema.json"), h.read(DEMO .. "/inventory.json"),
                           h.read(DEMO .. "/nautobot.json"))
    local job = h.json_job(dir, {
      prelude = ([[require("moonsync.http").client { base_url = "http://127.0.0.1:9", token = %q }]])
        :format(secret),
      target = ([[t.spec.create = function() error("server said: bad token %s") end
        t.object_url = function(_, _, uid) return "http://127.0.0.1:9/o/" .. uid .. "/?key=%s" end]])
        :format(secret, secret),
      flags = '{ "CONTINUE_ON_FAILURE" }',
    })
    local db = dir .. "/h.sqlite"
    local r = h.run("sync", job, "--history", db, "--report", dir .. "/r.html")
    assert.equals(1, r.code)
    assert.is_nil(r.stderr:find(secret, 1, true))
    local show = h.run("history", "show", "1", "--history", db, "--format", "json")
    assert.matches("bad token ***", show.stdout, 1, true)
    -- the links to the objects written are recorded, redacted too
    assert.matches([["url":"http:\/\/127.0.0.1:9\/o\/ams01-sw1__port1\/?key=***"]], show.stdout, 1, true)
    assert.is_nil(show.stdout:find(secret, 1, true))
    for _, f in ipairs { db, db .. "-wal", dir .. "/r.html" } do
      local bytes = h.read(f)
      assert.is_nil(bytes and bytes:find(secret, 1, true), f)
    end
  end)

  it("its database connection reaches no other file, and jobs need write permission", function()
    local dir = h.tmpdir()
    local r = lua([[
      local db = require("moonsync.core").sqlite_open(arg[1] .. "/a.sqlite")
      for _, sql in ipairs { "ATTACH DATABASE '" .. arg[1] .. "/b.sqlite' AS b",
                             "VACUUM INTO '" .. arg[1] .. "/c.sqlite'" } do
        print((pcall(db.exec, db, sql)))
      end
    ]], dir)
    assert.equals("false\nfalse\n", r.stdout)
    assert.is_nil(h.read(dir .. "/b.sqlite"))
    assert.is_nil(h.read(dir .. "/c.sqlite"))
    local sdir = h.sync_dir(h.read(DEMO .. "/schema.json"), h.read(DEMO .. "/inventory.json"),
                            h.read(DEMO .. "/nautobot.json"))
    local job = h.json_job(sdir, { target = ([[require("moonsync.core").sqlite_open(%q)]])
                                     :format(dir .. "/evil.sqlite") })
    r = h.run("diff", job, "--no-history")
    assert.equals(1, r.code)
    assert.matches("PermissionError", r.stderr)
    assert.is_nil(h.read(dir .. "/evil.sqlite"))
  end)
end)
