-- A sync job: make the demo's source of truth (nautobot.json) match the
-- inventory. Try it:
--   bin/moonsync diff examples/demo/job.lua
--   bin/moonsync sync examples/demo/job.lua --dry-run
--   bin/moonsync plan examples/demo/job.lua -o /tmp/plan.json
--   bin/moonsync apply /tmp/plan.json --job examples/demo/job.lua
-- The target file is examples/demo/nautobot.json unless MOONSYNC_DEMO_TARGET
-- names a copy to write to. Without permissions the job may touch only
-- its own directory: it declares the copy it may write.
local ms = require "moonsync"
local json_file = require "moonsync.adapters.json_file"

local _, here = ...
local schema = ms.schema(here .. "/schema.json")

return ms.job {
  name = "inventory-to-nautobot",
  source = function()
    return json_file.open { schema = schema, path = here .. "/inventory.json",
                            name = "inventory", side = "source" }
  end,
  target = function()
    return json_file.open { schema = schema, name = "nautobot", side = "dest",
      path = os.getenv("MOONSYNC_DEMO_TARGET") or here .. "/nautobot.json" }
  end,
  policy = { max_deletes = "25%", prevent_delete = {} },
  permissions = { write = { "${MOONSYNC_DEMO_TARGET}" } },
}
