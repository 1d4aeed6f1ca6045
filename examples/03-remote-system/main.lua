-- Example 3: sync a local dataset into a remote system over REST. The
-- remote system is json-server (from npm) serving remote-db.json, started
-- here on a free local port unless REMOTE_URL names one already running.
-- Run: bin/moonsync run examples/03-remote-system/main.lua
local ms = require "moonsync"
local rest = require "moonsync.adapters.rest"
local util = require "moonsync.util"

local here = (arg[0]:match("^(.*)/[^/]*$") or ".")
local root = here .. "/../.."

local Region = ms.model "region" { identifiers = { "name" }, children = { country = "countries" } }
local Country = ms.model "country" { identifiers = { "name" }, attributes = { "region", "population" } }

-- the local side: a JSON list of countries, mapped in C
local Local = ms.adapter "local" { models = { Region, Country },
  load = function(self, path)
    local regions = {}
    for _, c in ipairs(require("moonsync.core").json_decode(util.read_file(path))) do
      if not regions[c.region] then regions[c.region] = self:add(Region { name = c.region }) end
    end
    local m = ms.mapping { model = Country, fields = { name = "name", region = "region",
                                                       population = "population" },
                           parent = { model = Region, ids = { name = "region" } } }
    self:load_mapped(m, { file = path })
  end }

-- the remote side: two REST collections
local Remote = rest.adapter "remote" {
  models = { Region, Country },
  resources = {
    region = { path = "/regions", fields = { name = "name" } },
    country = { path = "/countries", fields = { name = "name", region = "region", population = "population" },
                parent = { model = "region", ids = { name = "region" } } },
  },
}

local url, server = os.getenv("REMOTE_URL"), nil
if not url then
  local db = os.tmpname()
  util.write_atomic(db, util.read_file(here .. "/remote-db.json"))
  server = assert(io.popen(("node %q %q 2>&1"):format(root .. "/spec/servers/json_server.js", db)))
  local port, pid = (server:read("l") or ""):match("^listening (%d+) (%d+)")
  assert(port, "could not start json-server (run scripts/install-deps)")
  url = "http://127.0.0.1:" .. port
  server = { handle = server, pid = pid, db = db }
end

local ok, err = pcall(function()
  local src = Local:new():load(here .. "/countries.json")
  local dst = Remote:new { client = { base_url = url } }:load()
  local diff = dst:diff_from(src)
  print("Differences between the local data and the remote system:")
  print(diff:str())
  local _, res = dst:sync_from(src, { diff = diff })
  dst:commit()
  print(("synced: %d created, %d updated, %d deleted"):format(res.created, res.updated, res.deleted))
  local again = Remote:new { client = { base_url = url } }:load()
  print("Differences after the sync: " .. again:diff_from(src):str())
end)
if server then
  os.execute("kill " .. server.pid)
  server.handle:close()
  os.remove(server.db)
end
if not ok then error(err, 0) end
