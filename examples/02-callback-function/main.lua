-- Example 2: a callback function reporting progress (DiffSync's
-- examples/02-callback-function). DiffSync's DiffSync2 draws its numbers
-- with Python's random.randint(1, 2); Lua cannot reproduce Python's
-- generator, so the port reads the numbers DiffSync drew from
-- random-numbers.json.
-- Run: bin/moonsync run examples/02-callback-function/main.lua
local here = arg[0]:match("^(.*)/[^/]*$") or "."

local ms = require "moonsync"
local core = require "moonsync.core"
local util = require "moonsync.util"

--- Simple model that consists only of a number.
local Number = ms.model "number" { identifiers = { "number" } }

--- Adapter that contains a number of Numbers constructed in order.
local DiffSync1 = ms.adapter "DiffSync1" {
  models = { Number },
  top_level = { "number" },
  -- Numbers from 1 to count
  load = function(self, count)
    for i = 1, count do self:add(Number { number = i }) end
  end,
}

--- Adapter that contains a number of Numbers spread randomly across a range.
local DiffSync2 = ms.adapter "DiffSync2" {
  models = { Number },
  top_level = { "number" },
  -- count numbers in the range (1 - 2*count), each 1 or 2 above the last
  load = function(self, count, draws)
    local prev = 0
    for i = 1, count do
      local num = prev + draws[i]
      self:add(Number { number = num })
      prev = num
    end
  end,
}

--- Callback: stage is "diff"/"sync", current is records processed to
-- date, total is self-evident.
local function print_callback(stage, current, total)
  print(("%s: Processed %3d/%d records."):format(stage, current, total))
end

-- Create a DiffSync1 instance and load it with records numbered 1-100
local ds1 = DiffSync1:new()
ds1:load(100)

-- Create a DiffSync2 instance and load it with 100 random records in the range 1-200
local ds2 = DiffSync2:new()
ds2:load(100, core.json_decode(util.read_file(here .. "/random-numbers.json"), "random-numbers.json"))

-- Identify and attempt to resolve the differences between the two,
-- periodically invoking print_callback() as the sync proceeds
ds1:sync_to(ds2, { callback = print_callback })
