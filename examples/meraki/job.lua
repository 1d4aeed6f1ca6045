-- The Meraki -> Nautobot job: the Meraki API (MERAKI_URL, token from
-- MERAKI_API_KEY) is the source, a Nautobot export file the target
-- (NAUTOBOT_FILE). Sites only Nautobot knows stay (prevent_delete).
local ms = require "moonsync"
local json_file = require "moonsync.adapters.json_file"
local meraki = require "meraki"

local _, here = ...
local schema = ms.schema(here .. "/schema.json")

return ms.job {
  name = "meraki -> nautobot",
  source = function()
    return meraki.adapter(schema):new { url = os.getenv("MERAKI_URL"), token_env = "MERAKI_API_KEY",
                                        organization = "549236",
                                        page_query = { _page = 1, _limit = 2 } }:load()
  end,
  target = function()
    return json_file.open { schema = schema, path = os.getenv("NAUTOBOT_FILE"), name = "nautobot",
                            side = "dest" }
  end,
  policy = { prevent_delete = { "site" } },
  -- what the job may touch beyond its own directory: the API named by
  -- MERAKI_URL, the export named by NAUTOBOT_FILE, and those variables
  permissions = {
    env = { "MERAKI_URL", "MERAKI_API_KEY", "NAUTOBOT_FILE" },
    net = { "${MERAKI_URL}" },
    write = { "${NAUTOBOT_FILE}" },
  },
}
