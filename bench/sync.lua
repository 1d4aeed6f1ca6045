-- Sync benchmark, run by scripts/bench through `moonsync run`:
--   1. in-memory sync (the C default operations) of the generated data,
--      best of 3;
--   2. the same with Lua create/update/delete handlers (*_base);
--   3. Lua handler throughput: every source record created in an empty
--      target through a Lua create handler.
-- usage: moonsync run bench/sync.lua DATA_DIR
local ms = require "moonsync"
local core = require "moonsync.core"
local json_file = require "moonsync.adapters.json_file"

local dir = ...
local schema = ms.schema(dir .. "/schema.json")

local function open(path, name, side)
  return json_file.open { schema = schema, path = path, name = name, side = side }
end

local function timed(f)
  local t0 = core.now()
  local a, b = f()
  return core.now() - t0, a, b
end

-- 1. in-memory, best of 3 (each on freshly loaded data: a sync changes
-- its target)
local t1, changes, src, dst, diff
for _ = 1, 3 do
  src = open(dir .. "/source.json", "source", "source")
  dst = open(dir .. "/dest.json", "dest", "dest")
  diff = dst:diff_from(src)
  local s = diff:summary()
  local t = timed(function() return dst:sync_from(src, { diff = diff }) end)
  t1 = t1 and math.min(t1, t) or t
  changes = s.create + s.update + s.delete
  src, dst, diff = nil, nil, nil
  collectgarbage()
end
print(("sync-memory %.3f %d"):format(t1, changes))

-- 2. Lua handlers on the same data
local calls = 0
src = open(dir .. "/source.json", "source", "source")
dst = open(dir .. "/dest.json", "dest", "dest")
dst.spec.create = function(self, model, ids, attrs) calls = calls + 1; return self:create_base(model, ids, attrs) end
dst.spec.update = function(self, rec, attrs) calls = calls + 1; return self:update_base(rec, attrs) end
dst.spec.delete = function(self, rec) calls = calls + 1; return self:delete_base(rec) end
diff = dst:diff_from(src)
local t2 = timed(function() return dst:sync_from(src, { diff = diff }) end)
print(("sync-lua %.3f %d"):format(t2, calls))
src, dst, diff = nil, nil, nil
collectgarbage()

-- 3. handler call rate: delete everything through a trivial Lua handler
calls = 0
src = json_file.open { schema = schema, path = dir .. "/none.json", name = "source",
                       side = "source", create_missing = true }
dst = open(dir .. "/dest.json", "dest", "dest")
dst.spec.delete = function(self, rec) calls = calls + 1; return rec end
diff = dst:diff_from(src)
local t4 = timed(function() return dst:sync_from(src, { diff = diff }) end)
print(("sync-calls %.3f %d"):format(t4, calls))
src, dst, diff = nil, nil, nil
collectgarbage()

-- 4. handler throughput: create everything through create_base
calls = 0
src = open(dir .. "/source.json", "source", "source")
dst = json_file.open { schema = schema, path = dir .. "/none.json", name = "dest",
                       side = "dest", create_missing = true }
dst.spec.create = function(self, model, ids, attrs) calls = calls + 1; return self:create_base(model, ids, attrs) end
diff = dst:diff_from(src)
local t3 = timed(function() return dst:sync_from(src, { diff = diff, flags = {} }) end)
print(("sync-create %.3f %d"):format(t3, calls))
