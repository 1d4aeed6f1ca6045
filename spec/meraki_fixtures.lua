-- The Meraki organization Nautobot SSoT's Meraki tests mock
-- (nautobot_ssot/tests/meraki/test_adapters_meraki.py, setUp), as the
-- Meraki stand-in serves it (spec/servers/meraki_standin.js): the
-- fixtures the API sends (spec/fixtures/ssot/meraki/), one answer for
-- every device and network where the test's mock answers every call alike.
local h = require "helpers"
local cjson = require "cjson"

local M = {}
M.dir = h.fixtures .. "/ssot/meraki"
M.ORG = "123456"
M.KEY = "meraki-api-key-0123456789abcdef0123456789"

function M.fixture(name)
  local text = assert(h.read(M.dir .. "/" .. name .. ".json"), name)
  return cjson.decode(text)
end

--- The organization of test_data_loading; `over` replaces parts of it.
function M.data(over)
  local d = {
    organization = { id = M.ORG, name = "SSoT test organization" },
    networks = M.fixture "get_org_networks_sent",
    devices = M.fixture "get_org_devices",
    deviceStatuses = M.fixture "get_org_device_statuses_sent",
    uplinkStatuses = M.fixture "get_org_uplink_statuses_sent",
    uplinkAddresses = M.fixture "get_org_uplink_addresses_by_device",
    switchPortsBySwitch = M.fixture "get_org_switchports_sent",
    managementInterface = { ["*"] = M.fixture "get_management_ports_sent" },
    applianceUplinksSettings = { ["*"] = M.fixture "get_uplink_settings_sent" },
    appliancePorts = { ["*"] = M.fixture "get_appliance_switchports" },
  }
  for k, v in pairs(over or {}) do d[k] = v end
  return d
end

--- Starts the stand-in serving `data`; extra stand-in arguments follow.
function M.serve(dir, data, ...)
  local path = dir .. "/meraki-org.json"
  h.write(path, cjson.encode(data))
  return h.server("meraki_standin", "--data", path, "--key", M.KEY, ...)
end

return M
