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
