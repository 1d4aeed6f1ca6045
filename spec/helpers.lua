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

return M
