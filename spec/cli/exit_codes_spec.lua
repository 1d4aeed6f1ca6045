-- One command line: every command and form exits 0 (done, no changes),
-- 1 (error) or 2 (changes pending); options are checked before anything
-- loads, and an option a command does not take is an error.
local h = require "helpers"

local SCHEMA = [[{"top_level": ["site"], "models": {
  "site": {"identifiers": ["name"], "attributes": ["status"]}}}]]
local SRC = '{"site": [{"name": "a", "status": "new"}]}'
local DST = '{"site": [{"name": "a", "status": "old"}]}'

describe("exit codes #cli", function()
  local dir
  before_each(function() dir = h.sync_dir(SCHEMA, SRC, DST) end)
  after_each(h.cleanup)

  local function files(src, dst)
    h.write(dir .. "/src.json", src)
    h.write(dir .. "/dst.json", dst)
  end

  local function code(...) return h.run(...).code end

  it("diff: both forms", function()
    local j = h.json_job(dir)
    local sc, s, d = dir .. "/schema.json", dir .. "/src.json", dir .. "/dst.json"
    assert.equals(2, code("diff", j))
    assert.equals(2, code("diff", "--schema", sc, s, d))
    files(SRC, SRC)
    assert.equals(0, code("diff", j))
    assert.equals(0, code("diff", "--schema", sc, s, d))
    assert.equals(1, code("diff", dir .. "/nope.lua"))
    assert.equals(1, code("diff", "--schema", sc, dir .. "/nope.json", d))
    -- the same bad option exits 1 in both forms
    assert.equals(1, code("diff", j, "--format", "yaml"))
    assert.equals(1, code("diff", "--schema", sc, s, d, "--format", "yaml"))
  end)

  it("sync: both forms, with and without --dry-run", function()
    local j = h.json_job(dir)
    local sc, s, d, out = dir .. "/schema.json", dir .. "/src.json", dir .. "/dst.json", dir .. "/out.json"
    assert.equals(2, code("sync", j, "--dry-run"))
    assert.equals(2, code("sync", "--schema", sc, s, d, "--dry-run"))
    assert.equals(0, code("sync", "--schema", sc, s, d, "--out", out))
    assert.equals(0, code("sync", j))
    -- nothing left to do
    assert.equals(0, code("sync", j, "--dry-run"))
    assert.equals(0, code("sync", j))
    assert.equals(0, code("sync", "--schema", sc, s, s, "--dry-run"))
    assert.equals(1, code("sync", j, "--max-deletes", "lots"))
    assert.equals(1, code("sync", "--schema", sc, s, d, "--out", out, "--max-deletes", "lots"))
  end)

  it("plan, apply, inspect and run", function()
    local j = h.json_job(dir)
    local plan = dir .. "/plan.json"
    assert.equals(2, code("plan", j, "-o", plan))
    assert.equals(0, code("apply", plan))
    assert.equals(0, code("plan", j, "-o", plan))
    assert.equals(1, code("apply", dir .. "/nope.json"))
    assert.equals(0, code("inspect", j))
    assert.equals(1, code("inspect", dir .. "/nope.lua"))
    assert.equals(0, code("run", h.write(dir .. "/ok.lua", "print(1)")))
    assert.equals(1, code("run", h.write(dir .. "/bad.lua", "error('x')")))
    assert.equals(1, code("frobnicate"))
  end)

  it("checks options before loading anything", function()
    -- a job whose top level never ends: an option error must come first
    local j = h.json_job(dir, { prelude = "while true do end" })
    for _, args in ipairs {
      { "diff", j, "--format", "yaml" },
      { "sync", j, "--log-format", "xml" },
      { "sync", j, "--max-deletes", "-1" },
      { "sync", j, "--lock-timeout", "soon" },
      { "plan", j, "-o", dir .. "/p.json", "--flag", "FAST" },
      { "diff", j, "--target", "nocolon" },
      { "inspect", j, "--format", "yaml" },
    } do
      local r = h.run_env({ MOONSYNC_TIME_LIMIT = "5" }, table.unpack(args))
      assert.equals(1, r.code, table.concat(args, " "))
      assert.is_nil(r.stderr:find("time limit", 1, true), r.stderr)
    end
  end)

  it("an option a command does not take is an error", function()
    local j = h.json_job(dir)
    for _, args in ipairs {
      { "plan", j, "-o", dir .. "/p.json", "--dry-run" },
      { "plan", j, "-o", dir .. "/p.json", "--ops-log", dir .. "/o.json" },
      { "diff", j, "--dry-run" },
      { "sync", j, "--ops-log", dir .. "/o.json" },
      { "sync", "--schema", dir .. "/schema.json", dir .. "/src.json", dir .. "/dst.json",
        "--out", dir .. "/o.json", "--allow-read", "/" },
      { "diff", "--schema", dir .. "/schema.json", dir .. "/src.json", dir .. "/dst.json",
        "--allow-read", "/" },
      { "inspect", j, "--dry-run" },
    } do
      local r = h.run(table.unpack(args))
      assert.equals(1, r.code, table.concat(args, " "))
      assert.matches("does not apply to", r.stderr)
    end
    assert.is_nil(h.read(dir .. "/p.json"))
    assert.is_nil(h.read(dir .. "/o.json"))
  end)
end)
