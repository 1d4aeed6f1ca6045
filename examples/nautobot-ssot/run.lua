-- Nautobot SSoT's example jobs, end to end on this machine: two Nautobot
-- stand-ins (spec/servers/nautobot_standin.js) seeded differently
-- (remote.json, local.json), then the data source job (inspect, diff, dry
-- run, sync, and a diff that finds nothing left) and the data target job.
-- Run: bin/moonsync run examples/nautobot-ssot/run.lua
local here = (arg[0]:match("^(.*)/[^/]*$") or ".")
if here:sub(1, 1) ~= "/" then here = (os.getenv("PWD") or ".") .. "/" .. here end
local root = here .. "/../.."
local token = "ssot-example-token-0123456789abcdef"

local function start(seed)
  local p = assert(io.popen(("node %q --token %s --seed %q 2>&1"):format(
    root .. "/spec/servers/nautobot_standin.js", token, here .. "/" .. seed)))
  local port, pid = (p:read("l") or ""):match("^listening (%d+) (%d+)")
  assert(port, "could not start the Nautobot stand-in (run scripts/install-deps)")
  return { url = "http://127.0.0.1:" .. port, pid = pid, handle = p }
end

local remote, localnb = start("remote.json"), start("local.json")
-- the jobs read the addresses and tokens from the environment
local env = ("NAUTOBOT_REMOTE_URL=%s NAUTOBOT_REMOTE_TOKEN=%s NAUTOBOT_URL=%s NAUTOBOT_TOKEN=%s")
  :format(remote.url, token, localnb.url, token)
local bin = root .. "/bin/moonsync"

local function step(title, args)
  print(("\n== %s: moonsync %s"):format(title, args))
  io.stdout:flush()
  return os.execute(("cd %q && env %s %q %s"):format(here, env, bin, args))
end

local ok, err = pcall(function()
  step("the job, its data mappings and permissions", "inspect data_source.lua")
  step("what differs", "diff data_source.lua --format summary")
  step("dry run", "sync data_source.lua --dry-run")
  step("sync remote -> local", "sync data_source.lua --no-progress")
  step("nothing left to do", "diff data_source.lua")
  step("data target job: what only the local one has", "diff data_target.lua --format summary")
  step("sync local -> remote", "sync data_target.lua --no-progress")
  step("nothing left to do", "diff data_target.lua")
end)
for _, s in ipairs { remote, localnb } do
  os.execute("kill " .. s.pid)
  s.handle:close()
end
if not ok then error(err, 0) end
