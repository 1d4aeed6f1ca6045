-- SSoT's IP Fabric job end to end on this machine: the IP Fabric stand-in
-- (spec/servers/ipfabric_standin.js) serving a snapshot of SSoT's own IP
-- Fabric fixtures (ipfabric-snapshot.json), a Nautobot stand-in with what
-- a Nautobot installation has (nautobot-seed.json), then the job: inspect,
-- diff, plan and apply, a device gone from IP Fabric (safe delete mode
-- marks it), and a diff that finds nothing.
-- Run: bin/moonsync run examples/ssot-ipfabric/run.lua
local cjson = require "cjson"
local here = (arg[0]:match("^(.*)/[^/]*$") or ".")
if here:sub(1, 1) ~= "/" then here = (os.getenv("PWD") or ".") .. "/" .. here end
local root = here .. "/../.."
local key, token = "ipfabric-example-token-0123456789abcdef", "ssot-example-token-0123456789abcdef"
local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir))

local function start(script, ...)
  local p = assert(io.popen(("node %q %s 2>&1"):format(root .. "/spec/servers/" .. script, table.concat({ ... }, " "))))
  local port, pid = (p:read("l") or ""):match("^listening (%d+) (%d+)")
  assert(port, "could not start " .. script .. " (run scripts/install-deps)")
  return { url = "http://127.0.0.1:" .. port, pid = pid, handle = p }
end

local snapshot = io.open(here .. "/ipfabric-snapshot.json"):read("a")
local servers = {}
local function ipfabric(text)
  local f = assert(io.open(dir .. "/snapshot.json", "w"))
  f:write(text)
  f:close()
  local s = start("ipfabric_standin.js", "--token", key, "--data", dir .. "/snapshot.json")
  servers[#servers + 1] = s
  return s
end
local nb = start("nautobot_standin.js", "--token", token, "--seed", ("%q"):format(here .. "/nautobot-seed.json"))
servers[#servers + 1] = nb
local bin = root .. "/bin/moonsync"

local function step(title, ipf, args)
  local env = ("IPFABRIC_URL=%s IPFABRIC_TOKEN=%s NAUTOBOT_URL=%s NAUTOBOT_TOKEN=%s"):format(ipf.url, key, nb.url, token)
  print(("\n== %s: moonsync %s"):format(title, args))
  io.stdout:flush()
  return os.execute(("cd %q && env %s %q %s"):format(dir, env, bin, args))
end

local ok, err = pcall(function()
  local ipf = ipfabric(snapshot)
  local job = ("%q"):format(here .. "/job.lua")
  step("the job, its data mappings and permissions", ipf, "inspect " .. job)
  step("what differs", ipf, "diff " .. job .. " --format summary")
  step("a plan of it", ipf, "plan " .. job .. " -o ipfabric.plan")
  step("the plan applied", ipf, "apply ipfabric.plan --job " .. job)
  step("nothing left to do", ipf, "diff " .. job .. " --format summary")
  -- nyc-spine-02 leaves the network: safe delete mode marks it Offline
  local data = cjson.decode(snapshot)
  local devices = data.tables["inventory/devices"]
  for i = #devices, 1, -1 do
    if devices[i].hostname == "nyc-spine-02" then table.remove(devices, i) end
  end
  local gone = cjson.encode(data)
  local ipf2 = ipfabric(gone)
  step("after a device left", ipf2, "sync " .. job .. " --no-progress")
  step("nothing left to do", ipf2, "diff " .. job)
end)
for _, s in ipairs(servers) do
  os.execute("kill " .. s.pid)
  s.handle:close()
end
os.execute("rm -rf " .. dir)
if not ok then error(err, 0) end
