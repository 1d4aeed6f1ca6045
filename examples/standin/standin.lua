--- Starts the stand-in server (server.js beside this file) on a scratch
-- copy of a JSON document, for the examples that talk to Nautobot or
-- PeeringDB when no real one is given.
--   local standin = dofile("examples/standin/standin.lua")
--   local server = standin.start("examples/03-remote-system/nautobot-db.json")
--   ... server.url ...
--   server:stop()
local util = require "moonsync.util"

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."

local M = {}

local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

function M.start(db)
  local copy = os.tmpname()
  util.write_atomic(copy, util.read_file(db))
  local proc = io.popen(("node %s %s 2>&1"):format(quote(here .. "/server.js"), quote(copy)))
  local line = proc:read("l") or ""
  local port, pid = line:match("^listening (%d+) (%d+)")
  if not port then
    proc:close()
    os.remove(copy)
    error("could not start the stand-in server (run scripts/install-deps): " .. line, 2)
  end
  local server = { url = "http://127.0.0.1:" .. port }
  function server.stop()
    os.execute("kill " .. pid)
    proc:close()
    os.remove(copy)
  end
  return server
end

return M
