-- Nautobot SSoT's "Meraki => Nautobot" job: the Meraki dashboard of one
-- organization is the source, Nautobot the target, over SSoT's Meraki
-- models (moonsync.adapters.meraki; docs/meraki.md).
--   MERAKI_API_KEY=... MERAKI_ORG_ID=... NAUTOBOT_URL=... NAUTOBOT_TOKEN=... \
--   moonsync sync examples/ssot-meraki/job.lua
-- MERAKI_URL is Meraki's public API unless set; MERAKI_SETTINGS may hold
-- the job's settings as JSON (they replace those below, key by key).
local ms = require "moonsync"
local cjson = require "cjson"
local meraki = require "moonsync.adapters.meraki"

-- SSoT's job form
local settings = {
  network_loctype = "Site",          -- the location type of networks
  parent_location = nil,             -- the parent of every network, when the type has a parent
  location = nil,                    -- one location for every device (networks are not loaded)
  location_map = {},                 -- {["Meraki network"] = {name =, parent =}}
  hostname_mapping = {},             -- {{"regex", "role"}, ...}: first rule for roles
  devicetype_mapping = { { "MS", "Switch" }, { "MX", "Firewall" }, { "MR", "AP" } },
  tenant = nil,                      -- the tenant (and namespace) of what the job writes
  device_status = nil,               -- the status of online devices (Active)
  controller_group = nil,            -- the controller managed device group of devices
  sync_firewall_lan_ips = false,     -- the firewalls' LAN SVIs and their addresses
  allow_dhcp_mgmt_ips = false,       -- management addresses from DHCP, through the uplinks
}
-- MERAKI_SETTINGS over them
local function configure()
  local given = os.getenv("MERAKI_SETTINGS")
  if given and given ~= "" then
    local ok, t = pcall(cjson.decode, given)
    if not ok or type(t) ~= "table" then error("MERAKI_SETTINGS: not a JSON object: " .. tostring(t), 0) end
    for k, v in pairs(t) do
      if v == cjson.null then v = nil end
      settings[k] = v
    end
  end
end

-- the models, made once for source and target (apply loads only the target)
local models
local function build()
  if models then return models end
  configure()
  -- the network location type as Nautobot has it: with a parent type,
  -- networks need a parent (SSoT's validate_settings)
  local lt = meraki.location_type(os.getenv("NAUTOBOT_URL"), "NAUTOBOT_TOKEN", settings.network_loctype)
  settings.network_loctype_parent = lt.parent
  meraki.validate_settings(settings, lt.parent)
  models = meraki.models(settings)
  return models
end

return ms.job {
  name = "Meraki => Nautobot",
  description = "Sync information from Meraki to Nautobot",
  source = function()
    return build().Meraki:new { url = os.getenv("MERAKI_URL"), key_env = "MERAKI_API_KEY",
                                org = os.getenv("MERAKI_ORG_ID"), name = "meraki" }:load()
  end,
  target = function()
    return build().Nautobot:new { url = os.getenv("NAUTOBOT_URL"), token_env = "NAUTOBOT_TOKEN",
                                  name = "nautobot" }:load()
  end,
  data_mappings = meraki.data_mappings,
  permissions = {
    env = { "MERAKI_URL", "MERAKI_API_KEY", "MERAKI_ORG_ID", "MERAKI_SETTINGS", "NAUTOBOT_URL",
            "NAUTOBOT_TOKEN" },
    -- Meraki's public API, or the one MERAKI_URL names
    net = { "${MERAKI_URL}", "api.meraki.com:443", "${NAUTOBOT_URL}" },
  },
}
