-- SSoT's "Example Data Source" job: bring the local Nautobot in line with
-- a remote one, over the example job's thirteen models. As in SSoT, the
-- sync never deletes in the local Nautobot (SKIP_UNMATCHED_DST).
--   NAUTOBOT_REMOTE_URL=... NAUTOBOT_REMOTE_TOKEN=... \
--   NAUTOBOT_URL=... NAUTOBOT_TOKEN=... moonsync sync data_source.lua
local ms = require "moonsync"
local models = require "models"

return ms.job {
  name = "Example Data Source",
  description = "Load data into Nautobot from a remote Nautobot",
  source = function() return models.open("remote", "NAUTOBOT_REMOTE_URL", "NAUTOBOT_REMOTE_TOKEN") end,
  target = function() return models.open("local", "NAUTOBOT_URL", "NAUTOBOT_TOKEN") end,
  flags = { "SKIP_UNMATCHED_DST" },
  data_mappings = models.data_mappings,
  permissions = {
    env = { "NAUTOBOT_REMOTE_URL", "NAUTOBOT_REMOTE_TOKEN", "NAUTOBOT_URL", "NAUTOBOT_TOKEN" },
    net = { "${NAUTOBOT_REMOTE_URL}", "${NAUTOBOT_URL}" },
  },
}
