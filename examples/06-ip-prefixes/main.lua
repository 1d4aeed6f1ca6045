-- Example 6: IP prefixes (DiffSync's examples/06-ip-prefixes): two IPAM
-- systems with different shapes of an IP prefix, simulated by two data
-- files that the adapters load and that a sync writes back. DiffSync's
-- example is an interactive session (its README); this script runs the
-- same steps and prints what the session shows. The data files are
-- copied to a scratch directory first (or to DATA_DIR, when set), so
-- that running the example leaves data/ as it is.
-- Run: bin/moonsync run examples/06-ip-prefixes/main.lua
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path

local ms = require "moonsync"
local util = require "moonsync.util"
local IpamA = require "adapter_ipam_a"
local IpamB = require "adapter_ipam_b"

local dir = os.getenv("DATA_DIR")
local scratch = not dir
if scratch then
  dir = os.tmpname()
  os.remove(dir)
end
util.mkdir_p(dir)
for _, f in ipairs { "ipam_a.json", "ipam_b.json" } do
  util.write_atomic(dir .. "/" .. f, util.read_file(here .. "/data/" .. f))
end

-- Initialize and load adapter for IPAM A
local ipam_a = IpamA { dir = dir }
ipam_a:load()
-- the content loaded from IPAM A, transformed into the model
print(ms.pformat(ipam_a:dict()))

-- Initialize and load adapter for IPAM B
local ipam_b = IpamB { dir = dir }
ipam_b:load()
print(ms.pformat(ipam_b:dict()))

-- Check the difference: IPAM A is authoritative
local diff = ipam_a:diff_to(ipam_b)
print(ms.pformat(diff:summary()))
print(ms.pformat(diff:dict()))

-- Enforce synchronization
ipam_a:sync_to(ipam_b)

-- Validate synchronization: reload IPAM B and diff again
local new_ipam_b = IpamB { dir = dir }
new_ipam_b:load()
diff = ipam_a:diff_to(new_ipam_b)
print(ms.pformat(diff:summary()))

if scratch then
  for _, f in ipairs { "ipam_a.json", "ipam_b.json" } do os.remove(dir .. "/" .. f) end
  os.remove(dir)
end
