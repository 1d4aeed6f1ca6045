-- Shared helpers for the specs: paths, temporary files and running the
-- moonsync command.
local M = {}

M.root = (os.getenv("PWD") or ".")
M.bin = M.root .. "/bin/moonsync"
M.fixtures = M.root .. "/spec/fixtures"
M.conformance = M.fixtures .. "/conformance"

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.quote = quote

--- A fresh temporary directory (removed by M.cleanup()).
local made = {}
function M.tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir -p " .. quote(p)))
  made[#made + 1] = p
  return p
end

function M.cleanup()
  for _, p in ipairs(made) do os.execute("rm -rf " .. quote(p)) end
  made = {}
end

function M.write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path
end

function M.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

--- Runs bin/moonsync with the given arguments; returns
-- {code =, stdout =, stderr =}.
function M.run(...)
  local args = { ... }
  local parts = { quote(M.bin) }
  for i, a in ipairs(args) do parts[i + 1] = quote(a) end
  local out, err = os.tmpname(), os.tmpname()
  local ok, how, code = os.execute(table.concat(parts, " ") .. " >" .. out .. " 2>" .. err)
  local res = { stdout = M.read(out), stderr = M.read(err),
                code = how == "exit" and code or 128 + (code or 0) }
  os.remove(out)
  os.remove(err)
  return res
end

--- Starts one of the test servers (spec/servers/NAME.js) on a free
-- 127.0.0.1 port and waits for its "listening PORT PID" line (no sleeps).
-- Returns {port =, pid =, url =, stop = function}.
function M.server(name, ...)
  -- the sanitizer runtime preloaded under check-asan is not for node
  local parts = { "env", "-u", "LD_PRELOAD", "node",
                  quote(M.root .. "/spec/servers/" .. name .. ".js") }
  for _, a in ipairs { ... } do parts[#parts + 1] = quote(a) end
  local p = assert(io.popen(table.concat(parts, " ") .. " 2>&1", "r"))
  local line = p:read("l")
  local port, pid = (line or ""):match("^listening (%d+) (%d+)")
  if not port then
    p:close()
    error("test server " .. name .. " did not start: " .. tostring(line))
  end
  local srv = { port = tonumber(port), pid = tonumber(pid),
                url = "http://127.0.0.1:" .. port }
  function srv.stop()
    if srv.stopped then return end
    srv.stopped = true
    os.execute("kill " .. srv.pid .. " 2>/dev/null")
    p:close()
  end
  return srv
end

--- Is Node.js with the npm test packages there? (install-deps installs them)
function M.have_node()
  local f = io.open(M.root .. "/node_modules/json-server/package.json")
  if f then f:close() end
  return f ~= nil and os.execute("command -v node >/dev/null 2>&1") == true
end

return M
