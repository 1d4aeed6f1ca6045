-- The moonsync demo: compare a network inventory (what is really out
-- there) with the records of a source of truth, and show the difference.
-- Run it with `make demo`, or `bin/moonsync run examples/demo/demo.lua`.
local ms = require "moonsync"

local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."

-- Models and the adapter classes come from the schema document; an
-- adapter could just as well declare them in Lua with ms.model.
local schema = ms.schema(here .. "/schema.json")
local Inventory = schema:adapter("inventory")
local Nautobot = schema:adapter("nautobot")

local src = Inventory:new():load_file(here .. "/inventory.json")
local dst = Nautobot:new():load_file(here .. "/nautobot.json")
print(("loaded %d inventory records and %d nautobot records\n"):format(#src, #dst))

local diff = dst:diff_from(src)
print(diff:str())

local s = diff:summary()
print(("\n%d to create, %d to update, %d to delete, %d unchanged"):format(
  s.create, s.update, s.delete, s["no-change"]))

-- The tour: the same comparison as a job (job.lua), on a copy of the
-- target: diff, dry run, plan, apply.
local util = require "moonsync.util"
local dir = here:sub(1, 1) == "/" and here or (os.getenv("PWD") or ".") .. "/" .. here
local copy = os.tmpname()
util.write_atomic(copy, util.read_file(here .. "/nautobot.json"))
local plan = copy .. ".plan.json"
for _, step in ipairs {
  "diff job.lua --format summary",
  "sync job.lua --dry-run",
  "plan job.lua -o " .. plan,
  "apply " .. plan .. " --job job.lua --no-progress",
  "diff job.lua",
} do
  print("\n$ moonsync " .. step:gsub(plan, "plan.json"))
  io.stdout:flush()
  os.execute(("cd %q && MOONSYNC_DEMO_TARGET=%q %q %s"):format(
    dir, copy, dir .. "/../../bin/moonsync", step))
end
os.remove(copy)
os.remove(plan)
