-- HTTP benchmark, run by scripts/bench through `moonsync run`: fetch
-- 20,000 records in pages of 100 from the local test server, which adds
-- 20 ms of latency to every response, sequentially and with 8 requests in
-- flight; the records must be the same.
-- usage: moonsync run bench/http.lua ROOT
local http = require "moonsync.http"
local core = require "moonsync.core"

local root = ...
local p = assert(io.popen(("node %q --latency 20 --records 20000 2>&1"):format(
  root .. "/spec/servers/test_server.js")))
local port, pid = (p:read("l") or ""):match("^listening (%d+) (%d+)")
assert(port, "the test server did not start")

local function fetch(concurrency)
  local c = http.client { base_url = "http://127.0.0.1:" .. port, concurrency = concurrency }
  local t0 = core.now()
  local all = c:get_all("/api/dcim/devices/", { pagination = "netbox", page_size = 100 })
  return core.now() - t0, all
end

local ok, err = pcall(function()
  local ts, seq = fetch(1)
  local tc, con = fetch(8)
  local same = #seq == #con and #seq == 20000
  for i = 1, #seq do
    if seq[i].id ~= con[i].id or seq[i].name ~= con[i].name then same = false break end
  end
  print(("http-sequential %.3f %d"):format(ts, #seq))
  print(("http-concurrent %.3f %d %s"):format(tc, #con, same and "same" or "DIFFERENT"))
end)
os.execute("kill " .. pid)
p:close()
if not ok then error(err, 0) end
