-- SSoT "data target" job: push Nautobot's view out to the external system,
-- never deleting what only the external system knows about.
local ms = require "moonsync"
local models = require "models"

return ms.job {
  name = "nautobot -> inventory",
  source = function()
    return models.adapter("nautobot"):new { url = os.getenv("SSOT_TARGET_URL"), token_env = "SSOT_TOKEN" }:load()
  end,
  target = function()
    return models.adapter("inventory"):new { url = os.getenv("SSOT_SOURCE_URL"), token_env = "SSOT_TOKEN" }:load()
  end,
  flags = { "SKIP_UNMATCHED_DST" },
  permissions = {
    env = { "SSOT_SOURCE_URL", "SSOT_TARGET_URL", "SSOT_TOKEN" },
    net = { "${SSOT_SOURCE_URL}", "${SSOT_TARGET_URL}" },
  },
}
