-- Example 2: progress callbacks. The callback sees every step of the diff
-- and of the sync, with the current count and the total.
-- Run: bin/moonsync run examples/02-callback-function/main.lua [COUNT]
local ms = require "moonsync"

local count = tonumber((...)) or 5000

local Number = ms.model "number" { identifiers = { "number" } }
local Numbers = ms.adapter "numbers" { models = { Number },
  load = function(self, n)
    for i = 1, n do self:new_record(Number, { number = i }) end
  end }

local src = Numbers:new { name = "source" }:load(count)
local dst = Numbers:new { name = "dest" }:load(count // 2)

local last = {}
local function progress(stage, current, total)
  -- report every 10%
  local step = math.max(1, total // 10)
  if current % step == 0 or current == total then
    print(("%s: %d of %d (%d%%)"):format(stage, current, total, current * 100 // total))
  end
  last[stage] = current
end

local diff = dst:diff_from(src, { callback = progress })
print(("diff: %d to create"):format(diff:summary().create))
dst:sync_from(src, { diff = diff, callback = progress })
print(("after the sync the stores hold %d and %d records"):format(#src, #dst))
return (last.sync == #diff and #src == #dst) and 0 or 1
