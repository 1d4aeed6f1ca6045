-- SSoT "data source" job: bring Nautobot in line with an external system
-- (here another Nautobot-convention API, the "inventory").
--   SSOT_SOURCE_URL=... SSOT_TARGET_URL=... SSOT_TOKEN=... moonsync sync data_source.lua
local ms = require "moonsync"
local models = require "models"

return ms.job {
  name = "inventory -> nautobot",
  source = function()
    return models.adapter("inventory"):new { url = os.getenv("SSOT_SOURCE_URL"), token_env = "SSOT_TOKEN" }:load()
  end,
  target = function()
    return models.adapter("nautobot"):new { url = os.getenv("SSOT_TARGET_URL"), token_env = "SSOT_TOKEN" }:load()
  end,
  policy = { max_deletes = "10%" },
  permissions = {
    env = { "SSOT_SOURCE_URL", "SSOT_TARGET_URL", "SSOT_TOKEN" },
    net = { "${SSOT_SOURCE_URL}", "${SSOT_TARGET_URL}" },
  },
}
