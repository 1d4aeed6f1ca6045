-- Runs the Meraki example on this machine: a Meraki-shaped API served by
-- json-server (npm) from meraki-api.json, and the job against a copy of
-- nautobot.json. Run: bin/moonsync run examples/meraki/run.lua
local util = require "moonsync.util"

local here = (arg[0]:match("^(.*)/[^/]*$") or ".")
if here:sub(1, 1) ~= "/" then here = (os.getenv("PWD") or ".") .. "/" .. here end
local root = here .. "/../.."

local db, target = os.tmpname(), os.tmpname()
util.write_atomic(db, util.read_file(here .. "/meraki-api.json"))
util.write_atomic(target, util.read_file(here .. "/nautobot.json"))
local p = assert(io.popen(("node %q %q 2>&1"):format(root .. "/spec/servers/json_server.js", db)))
local port, pid = (p:read("l") or ""):match("^listening (%d+) (%d+)")
assert(port, "could not start json-server (run scripts/install-deps)")

local env = ("MERAKI_URL=http://127.0.0.1:%s MERAKI_API_KEY=example-key NAUTOBOT_FILE=%s"):format(port, target)
for _, args in ipairs { "diff job.lua", "sync job.lua --no-progress", "diff job.lua" } do
  print("\n== moonsync " .. args)
  os.execute(("cd %q && env %s %q %s"):format(here, env, root .. "/bin/moonsync", args))
end
os.execute("kill " .. pid)
p:close()
os.remove(db)
os.remove(target)
