-- Example 5: PeeringDB into Nautobot (DiffSync's examples/05-nautobot-peeringdb):
-- the facilities of an internet exchange in PeeringDB become regions and
-- sites in Nautobot. DiffSync's example is a script to run step by step
-- against the live PeeringDB and the Nautobot demo instance; this port
-- runs the same steps and prints what they show.
--   bin/moonsync run examples/05-peeringdb-nautobot/main.lua
-- Offline by default: a local stand-in (examples/standin/server.js,
-- json-server) serves sample PeeringDB and Nautobot data from a scratch
-- copy of standin-db.json. Live: set NAUTOBOT_URL, NAUTOBOT_TOKEN and
-- PEERINGDB_URL (https://peeringdb.com/), optionally PEERINGDB_API_KEY.
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path

local ms = require "moonsync"
local standin = dofile(here .. "/../standin/standin.lua")
local peeringdb_adapter = require "adapter_peeringdb"

local PEERING_DB_IX_ID = 62  -- CATNIX
local NAUTOBOT_URL = os.getenv("NAUTOBOT_URL")
local NAUTOBOT_TOKEN = os.getenv("NAUTOBOT_TOKEN") or string.rep("a", 40)

local server
if not NAUTOBOT_URL then
  server = standin.start(here .. "/standin-db.json")
  NAUTOBOT_URL = server.url
  peeringdb_adapter.PEERINGDB_URL = server.url
end

local ok, err = pcall(function()
  local NautobotRemote = require("adapter_nautobot").NautobotRemote

  -- Initialize the PeeringDB adapter
  local peeringdb = peeringdb_adapter.PeeringDB:new { ix_id = PEERING_DB_IX_ID }
  -- Initialize the Nautobot adapter
  local nautobot = NautobotRemote:new { url = NAUTOBOT_URL, token = NAUTOBOT_TOKEN }

  -- Load PeeringDB info into the adapter
  peeringdb:load()
  -- the data imported, some as site and some as region (with the parent relationships)
  print(ms.pformat(peeringdb:dict()))

  -- Load Nautobot info into the Nautobot adapter
  nautobot:load()

  -- the diff; regions and sites only in Nautobot are kept
  local diff = nautobot:diff_from(peeringdb, { flags = { "SKIP_UNMATCHED_DST" } })
  -- quick summary of the expected changes
  print(ms.pformat(diff:summary()))

  -- Execute the synchronization
  nautobot:sync_from(peeringdb, { flags = { "SKIP_UNMATCHED_DST" } })
end)
if server then server.stop() end
if not ok then error(err, 0) end
