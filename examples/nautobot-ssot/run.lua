-- The Nautobot SSoT example, end to end on this machine: two local
-- Nautobot-convention servers (spec/servers/test_server.js), then the
-- data source job (diff report, dry run with validation, sync with a JSON
-- sync log) and the data target job (dry run).
-- Run: bin/moonsync run examples/nautobot-ssot/run.lua
local here = (arg[0]:match("^(.*)/[^/]*$") or ".")
if here:sub(1, 1) ~= "/" then here = (os.getenv("PWD") or ".") .. "/" .. here end
local root = here .. "/../.."
local token = "ssot-example-token"

local function start(variant)
  local p = assert(io.popen(("node %q --token %s --records 60 --variant %d 2>&1"):format(
    root .. "/spec/servers/test_server.js", token, variant)))
  local port, pid = (p:read("l") or ""):match("^listening (%d+) (%d+)")
  assert(port, "could not start the test server (run scripts/install-deps)")
  return { url = "http://127.0.0.1:" .. port, pid = pid, handle = p }
end

local inventory, nautobot = start(1), start(0)
-- the jobs read the servers' addresses and the token from the environment
local env = ("SSOT_SOURCE_URL=%s SSOT_TARGET_URL=%s SSOT_TOKEN=%s"):format(inventory.url, nautobot.url, token)
local bin = root .. "/bin/moonsync"

local function step(title, args)
  print(("\n== %s: moonsync %s"):format(title, args))
  local code = os.execute(("cd %q && env %s %q %s"):format(here, env, bin, args))
  return code
end

local ok, err = pcall(function()
  step("diff report", "diff data_source.lua --format summary")
  step("dry run with validation", "sync data_source.lua --dry-run")
  step("sync, with a JSON sync log on stderr", "sync data_source.lua --log-format json --no-progress --target device:dev00000 --target device:dev00019")
  step("the rest of the sync", "sync data_source.lua --no-progress --exclude device:ext0")
  step("data target job, dry run", "sync data_target.lua --dry-run")
end)
for _, s in ipairs { inventory, nautobot } do
  os.execute("kill " .. s.pid)
  s.handle:close()
end
if not ok then error(err, 0) end
