-- SSoT's Meraki job end to end on this machine: the Meraki stand-in
-- (spec/servers/meraki_standin.js) serving the organization of SSoT's own
-- Meraki fixtures (meraki-org.json), a Nautobot stand-in with what SSoT's
-- installation creates (nautobot-seed.json), then the job: inspect, diff,
-- plan and apply, a change in Meraki synced, and a diff that finds nothing.
-- Run: bin/moonsync run examples/ssot-meraki/run.lua
local here = (arg[0]:match("^(.*)/[^/]*$") or ".")
if here:sub(1, 1) ~= "/" then here = (os.getenv("PWD") or ".") .. "/" .. here end
local root = here .. "/../.."
local key, token = "meraki-example-key-0123456789abcdef", "ssot-example-token-0123456789abcdef"
local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir))

local function start(script, ...)
  local p = assert(io.popen(("node %q %s 2>&1"):format(root .. "/spec/servers/" .. script, table.concat({ ... }, " "))))
  local port, pid = (p:read("l") or ""):match("^listening (%d+) (%d+)")
  assert(port, "could not start " .. script .. " (run scripts/install-deps)")
  return { url = "http://127.0.0.1:" .. port, pid = pid, handle = p }
end

local org = io.open(here .. "/meraki-org.json"):read("a")
local servers = {}
local function meraki(text)
  local f = assert(io.open(dir .. "/org.json", "w"))
  f:write(text)
  f:close()
  local s = start("meraki_standin.js", "--key", key, "--data", dir .. "/org.json")
  servers[#servers + 1] = s
  return s
end
local nb = start("nautobot_standin.js", "--token", token, "--seed", ("%q"):format(here .. "/nautobot-seed.json"))
servers[#servers + 1] = nb
local bin = root .. "/bin/moonsync"

local function step(title, m, args)
  local env = ("MERAKI_URL=%s/api/v1 MERAKI_API_KEY=%s MERAKI_ORG_ID=123456 NAUTOBOT_URL=%s NAUTOBOT_TOKEN=%s")
    :format(m.url, key, nb.url, token)
  print(("\n== %s: moonsync %s"):format(title, args))
  io.stdout:flush()
  return os.execute(("cd %q && env %s %q %s"):format(dir, env, bin, args))
end

local ok, err = pcall(function()
  local m = meraki(org)
  local job = ("%q"):format(here .. "/job.lua")
  step("the job, its data mappings and permissions", m, "inspect " .. job)
  step("what differs", m, "diff " .. job .. " --format summary")
  step("a plan of it", m, "plan " .. job .. " -o meraki.plan")
  step("the plan applied", m, "apply meraki.plan --job " .. job)
  step("nothing left to do", m, "diff " .. job .. " --format summary")
  -- a firmware upgrade in Meraki
  local m2 = meraki((org:gsub('"wired%-16%-16%-9"', '"wired-18-1-1"')))
  step("after a firmware upgrade", m2, "sync " .. job .. " --no-progress")
  step("nothing left to do", m2, "diff " .. job)
end)
for _, s in ipairs(servers) do
  os.execute("kill " .. s.pid)
  s.handle:close()
end
os.execute("rm -rf " .. dir)
if not ok then error(err, 0) end
