-- SSoT's "Example Data Target" job: push the local Nautobot's data out to a
-- remote Nautobot, never deleting what only the remote has
-- (SKIP_UNMATCHED_DST).
--   NAUTOBOT_URL=... NAUTOBOT_TOKEN=... \
--   NAUTOBOT_REMOTE_URL=... NAUTOBOT_REMOTE_TOKEN=... moonsync sync data_target.lua
local ms = require "moonsync"
local models = require "models"

return ms.job {
  name = "Example Data Target",
  description = "Send data from Nautobot to a remote Nautobot",
  source = function() return models.open("local", "NAUTOBOT_URL", "NAUTOBOT_TOKEN") end,
  target = function() return models.open("remote", "NAUTOBOT_REMOTE_URL", "NAUTOBOT_REMOTE_TOKEN") end,
  flags = { "SKIP_UNMATCHED_DST" },
  data_mappings = models.data_mappings,
  permissions = {
    env = { "NAUTOBOT_REMOTE_URL", "NAUTOBOT_REMOTE_TOKEN", "NAUTOBOT_URL", "NAUTOBOT_TOKEN" },
    net = { "${NAUTOBOT_REMOTE_URL}", "${NAUTOBOT_URL}" },
  },
}
