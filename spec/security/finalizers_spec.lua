-- Finalizers and __close: no job can free memory that live objects use.
-- Run under `make check-asan`, these specs prove the absence of
-- use-after-free; in a normal build they prove the clean errors.
local h = require "helpers"

local SCHEMA = [[{"top_level": ["site"], "models": {
  "site": {"identifiers": ["name"], "attributes": ["status"]}}}]]

describe("finalizers and __close #security", function()
  local dir
  before_each(function() dir = h.sync_dir(SCHEMA, '{"site": []}', '{"site": []}') end)
  after_each(h.cleanup)

  -- Runs a script as the top level of a job (the sandbox), and as a
  -- trusted script (moonsync run): memory safety holds for both.
  local function both(body)
    local results = {}
    local j = h.json_job(dir, { prelude = body })
    results[1] = h.run("diff", j)
    local s = h.write(dir .. "/script.lua", body:gsub("require%(\"moonsync\"%)", "require 'moonsync'"))
    results[2] = h.run("run", s)
    return results
  end

  local PRELUDE = [[
    local ms = require("moonsync")
    local Site = ms.model "site" { identifiers = { "name" }, attributes = { "status" } }
    local A = ms.adapter "a" { models = { Site } }
  ]]

  it("cannot be called by hand through getmetatable", function()
    for _, r in ipairs(both(PRELUDE .. [[
      local a = A:new()
      local rec = a:add(Site { name = "x", status = "up" })
      local d = a:diff_from(A:new())
      for _, obj in ipairs { rec, a._store, d, Site._c } do
        local ok = pcall(function() getmetatable(obj).__gc(obj) end)
        assert(not ok, "__gc reachable on " .. tostring(obj))
        ok = pcall(function() getmetatable(obj).__close(obj) end)
        assert(not ok, "__close reachable on " .. tostring(obj))
      end
      assert(rec.status == "up")
      assert(d:summary().delete == 1)
    ]])) do
      assert.is_true(r.code == 0 or r.code == 2, r.stderr)
    end
  end)

  it("<close> is refused on stores, records, diffs and models", function()
    for _, r in ipairs(both(PRELUDE .. [[
      local a = A:new()
      local rec = a:add(Site { name = "x", status = "up" })
      local d = a:diff_from(A:new())
      for _, obj in ipairs { a._store, rec, d, Site._c } do
        local ok, err = pcall(function(x) local c <close> = x end, obj)
        assert(not ok and err:match("non%-closable"), tostring(err))
      end
      assert(rec.status == "up" and a:count() == 1 and d:summary().delete == 1)
    ]])) do
      assert.is_true(r.code == 0 or r.code == 2, r.stderr)
    end
  end)

  it("a record resurrected by a finalizer after its store was collected stays usable", function()
    -- finalizers run newest first: the store's before the holder's, and
    -- the record (made before both) is finalized last
    for _, r in ipairs(both(PRELUDE .. [[
      local saved = {}
      do
        local rec = Site { name = "kept", status = "alive" }
        local holder = setmetatable({}, { __gc = function(t)
          saved.status = t.rec.status
          saved.uid = t.rec:get_unique_id()
          saved.str = t.rec:str()
        end })
        local a = A:new()
        for i = 1, 2000 do a:add(Site { name = "s" .. i, status = ("x"):rep(100) }) end
        holder.rec = a:add(rec)
      end
      collectgarbage(); collectgarbage(); collectgarbage()
      assert(saved.status == "alive", tostring(saved.status))
      assert(saved.uid == "kept")
      assert(saved.str == "site: kept: {'status': 'alive'}", saved.str)
    ]])) do
      assert.is_true(r.code == 0 or r.code == 2, r.stderr)
    end
  end)

  it("the scenarios script (also run by make check-valgrind) passes", function()
    local r = h.run("run", h.fixtures .. "/finalizers.lua")
    assert.equals(0, r.code, r.stderr)
    assert.equals("finalizers: ok\n", r.stdout)
  end)
end)
