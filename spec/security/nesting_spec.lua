-- Lua values walked by C (records, pyrepr, pformat) are checked at every
-- level: a deep or self-referencing table is an error naming the field,
-- never a crash.
local h = require "helpers"

describe("nested Lua values #security", function()
  after_each(h.cleanup)

  local function script(body)
    local dir = h.tmpdir()
    return h.write(dir .. "/s.lua", [[
local ms = require "moonsync"
local core = require "moonsync.core"
local function nest(n) local t = {} for _ = 1, n do t = { t } end return t end
local Holder = ms.model "holder" { identifiers = { "name" }, attributes = { "value" } }
local a = ms.adapter "holders" { models = { Holder } }:new()
]] .. body)
  end

  for _, depth in ipairs { 101, 300, 999 } do
    it("a table nested " .. depth .. " deep is an error in record:set, pyrepr and pformat", function()
      local r = h.run("run", script(([[
local v = nest(%d)
for _, f in ipairs {
  function() return core.pyrepr(v) end,
  function() return core.pformat(v) end,
  function() a:add(Holder { name = "x", value = v }) end,
  function() local r = a:add(Holder { name = "y" .. math.random(1e9) }); r:set { value = v } end,
} do
  local ok, err = pcall(f)
  assert(not ok, "accepted")
  assert(tostring(err):find("nested deeper than 100 levels", 1, true), tostring(err))
end
print("refused")]]):format(depth)))
      assert.equals(0, r.code, r.stderr)
      assert.equals("refused\n", r.stdout)
    end)
  end

  it("a table nested 60 deep is stored and read back whole", function()
    local r = h.run("run", script([[
local rec = a:add(Holder { name = "deep", value = nest(60) })
local v, n = rec.value, 0
while type(v) == "table" do v, n = v[1], n + 1 end
print(n, core.pformat(nest(60)):sub(1, 1))]]))
    assert.equals(0, r.code, r.stderr)
    assert.equals("61\t[\n", r.stdout)
  end)

  it("a table holding itself is an error, and the run goes on", function()
    local r = h.run("run", script([[
local t = { 1 }
t[2] = t
local ok, err = pcall(core.pyrepr, t)
assert(not ok and tostring(err):find("holds itself", 1, true), tostring(err))
ok, err = pcall(function() a:add(Holder { name = "c", value = t }) end)
assert(not ok and tostring(err):find("value", 1, true), tostring(err))
print(core.pyrepr(nest(50)):sub(1, 3))]]))
    assert.equals(0, r.code, r.stderr)
    assert.equals("[[[\n", r.stdout)
  end)

  it("a job's deep table is a clean error under diff", function()
    local dir = h.sync_dir([[{"top_level": ["site"], "models": {
      "site": {"identifiers": ["name"], "attributes": ["status"]}}}]],
      '{"site": [{"name": "a", "status": "x"}]}', '{"site": []}')
    local job = h.json_job(dir, { target = [[
      local v = {} for _ = 1, 999 do v = { v } end
      t:new_record("site", { name = "b", status = v })]] })
    local r = h.run("diff", job)
    assert.equals(1, r.code, r.stderr)
    assert.matches("nested deeper than 100 levels", r.stderr)
  end)
end)
