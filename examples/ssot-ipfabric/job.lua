-- Nautobot SSoT's "IPFabric => Nautobot" job: an IP Fabric snapshot is
-- the source, Nautobot the target, over SSoT's IP Fabric models
-- (moonsync.adapters.ipfabric; docs/ipfabric.md).
--   IPFABRIC_URL=https://ipfabric.example.com IPFABRIC_TOKEN=... \
--   NAUTOBOT_URL=... NAUTOBOT_TOKEN=... moonsync sync examples/ssot-ipfabric/job.lua
-- IPFABRIC_SETTINGS may hold the job's settings as JSON (they replace
-- SSoT's defaults, key by key), e.g. {"snapshot": "$prev", "safe_delete_mode": false}.
local ms = require "moonsync"
local cjson = require "cjson"
local ipfabric = require "moonsync.adapters.ipfabric"

-- SSoT's job form and app settings, as ipfabric.DEFAULTS has them, with IPFABRIC_SETTINGS over them
local function configure()
  local settings = {}
  local given = os.getenv("IPFABRIC_SETTINGS")
  if given and given ~= "" then
    local ok, t = pcall(cjson.decode, given)
    if not ok or type(t) ~= "table" then error("IPFABRIC_SETTINGS: not a JSON object: " .. tostring(t), 0) end
    for k, v in pairs(t) do
      if v == cjson.null then v = nil end
      settings[k] = v
    end
  end
  return settings
end

-- the models, made once for source and target (apply loads only the target)
local models
local function build()
  if models then return models end
  local settings = configure()
  ipfabric.check_nautobot(os.getenv("NAUTOBOT_URL"), "NAUTOBOT_TOKEN", settings)
  models = ipfabric.models(settings)
  return models
end

return ms.job {
  name = "IPFabric => Nautobot",
  description = "Sync data from IP Fabric into Nautobot.",
  source = function()
    return build().IPFabric:new { url = os.getenv("IPFABRIC_URL"), token_env = "IPFABRIC_TOKEN",
                                  name = "ipfabric" }:load()
  end,
  target = function()
    return build().Nautobot:new { url = os.getenv("NAUTOBOT_URL"), token_env = "NAUTOBOT_TOKEN",
                                  name = "nautobot" }:load()
  end,
  data_mappings = ipfabric.data_mappings,
  permissions = {
    env = { "IPFABRIC_URL", "IPFABRIC_TOKEN", "IPFABRIC_SETTINGS", "NAUTOBOT_URL", "NAUTOBOT_TOKEN" },
    net = { "${IPFABRIC_URL}", "${NAUTOBOT_URL}" },
  },
}
