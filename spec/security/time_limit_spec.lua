-- MOONSYNC_TIME_LIMIT holds: catching the limit error gains nothing, and
-- a long call inside a C library is ended by the hard deadline (the limit
-- plus one second of grace), having written nothing.
local h = require "helpers"

local SCHEMA = [[{"top_level": ["site"], "models": {
  "site": {"identifiers": ["name"], "attributes": ["status"]}}}]]
local SRC = '{"site": [{"name": "a", "status": "x"}, {"name": "b", "status": "y"}]}'
local DST = '{"site": [{"name": "a", "status": "old"}]}'

-- Runs moonsync with a time limit under timeout(1) (so that a limit that
-- does not hold fails the spec instead of hanging it); returns the exit
-- code, stderr and the seconds it took.
local function limited(limit, ...)
  local parts = { "env", "-u", "LD_PRELOAD", "timeout", "20", "env",
                  "MOONSYNC_TIME_LIMIT=" .. limit, h.quote(h.bin) }
  for _, a in ipairs { ... } do parts[#parts + 1] = h.quote(a) end
  local err = os.tmpname()
  local clock = io.popen("date +%s.%N"):read("l")
  local _, how, code = os.execute(table.concat(parts, " ") .. " >/dev/null 2>" .. err)
  local took = tonumber(io.popen("date +%s.%N"):read("l")) - tonumber(clock)
  local text = h.read(err)
  os.remove(err)
  return how == "exit" and code or 128 + code, text, took
end

describe("time limit #security", function()
  local dir
  before_each(function() dir = h.sync_dir(SCHEMA, SRC, DST) end)
  after_each(h.cleanup)

  local function listdir() return h.listdir(dir) end

  it("is not evaded by catching its error in a loop", function()
    local j = h.json_job(dir, { prelude = "while true do pcall(function() while true do end end) end" })
    local code, err, took = limited("0.5", "diff", j)
    assert.equals(1, code)
    assert.matches("time limit of 0%.5 s exceeded", err)
    assert.is_true(took < 1.4, "took " .. took)
  end)

  it("is not evaded inside coroutines", function()
    local j = h.json_job(dir, { prelude = [[
      local co = coroutine.wrap(function()
        while true do pcall(function() while true do end end) coroutine.yield() end
      end)
      while true do pcall(co) end]] })
    local code, err, took = limited("0.5", "diff", j)
    assert.equals(1, code)
    assert.matches("time limit of 0%.5 s exceeded", err)
    assert.is_true(took < 1.4, "took " .. took)
  end)

  it("is not evaded by a trusted script either (moonsync run)", function()
    local s = h.write(dir .. "/loop.lua", "while true do pcall(function() while true do end end) end")
    local code, err, took = limited("0.3", "run", s)
    assert.is_true(code ~= 0 and code ~= 124, "exit " .. code)
    assert.matches("time limit of 0%.3 s exceeded", err)
    assert.is_true(took < 1.2, "took " .. took)
  end)

  it("ends a long call inside a C library at the hard deadline", function()
    local j = h.json_job(dir, { prelude = 'local x = ("a"):rep(3000):find(".-.-.-.-b")' })
    local code, err, took = limited("0.5", "diff", j)
    assert.equals(1, code)
    assert.matches("time limit of 0%.5 s exceeded .* did not stop within 1 s", err)
    assert.is_true(took >= 1.4 and took < 3, "took " .. took)
  end)

  it("stops a runaway sync handler with the target untouched and nothing left behind", function()
    for _, body in ipairs {
      "while true do pcall(function() while true do end end) end",
      'local x = ("a"):rep(3000):find(".-.-.-.-b")',
    } do
      local j = h.json_job(dir, { target = "t.spec.create = function() " .. body .. " end" })
      local code, err = limited("0.5", "sync", j)
      assert.equals(1, code, err)
      assert.matches("time limit of 0%.5 s exceeded", err)
      assert.equals(DST, h.read(dir .. "/dst.json"))
      assert.equals("dst.json job.lua schema.json src.json", listdir())
    end
  end)
end)
