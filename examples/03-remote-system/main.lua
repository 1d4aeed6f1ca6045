-- Example 3: work with a remote system (DiffSync's examples/03-remote-system):
-- the countries of a local JSON file, synced into the regions of a
-- Nautobot over its REST API.
--   bin/moonsync run examples/03-remote-system/main.lua --diff
--   bin/moonsync run examples/03-remote-system/main.lua --sync
-- NAUTOBOT_URL and NAUTOBOT_TOKEN name the Nautobot. Without NAUTOBOT_URL
-- a local stand-in (examples/standin/server.js, json-server) serves a
-- scratch copy of nautobot-db.json for the run.
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path

local ms = require "moonsync"
local standin = dofile(here .. "/../standin/standin.lua")

local args = {}
for _, a in ipairs(arg) do args[a] = true end
if not args["--sync"] and not args["--diff"] then
  io.stderr:write("please select --diff or --sync\n")
  os.exit(1)
end

local server
if not os.getenv("NAUTOBOT_URL") then
  server = standin.start(here .. "/nautobot-db.json")
  require("nautobot_adapter").NAUTOBOT_URL = server.url
end

local ok, err = pcall(function()
  local LocalAdapter = require("local_adapter").LocalAdapter
  local NautobotAdapter = require("nautobot_adapter").NautobotAdapter
  local AlphabeticalOrderDiff = require "diff"

  print("Initializing and loading Local Data ...")
  local localdata = LocalAdapter:new()
  localdata:load(here .. "/countries.json")

  print("Initializing and loading Nautobot Data ...")
  local nautobot = NautobotAdapter:new()
  nautobot:load()

  -- a region in Nautobot (the destination) but not in the local data is
  -- skipped rather than deleted
  local flags = { "SKIP_UNMATCHED_DST" }

  local diff
  if args["--diff"] then
    print("Calculating the Diff between the local adapter and Nautobot ...")
    diff = nautobot:diff_from(localdata, { flags = flags, diff_class = AlphabeticalOrderDiff })
    print(diff:str())
  end

  if args["--sync"] then
    print("Updating the list of countries in Nautobot ...")
    nautobot:sync_from(localdata, { flags = flags, diff_class = AlphabeticalOrderDiff, diff = diff })
  end
end)
if server then server.stop() end
if not ok then error(err, 0) end
