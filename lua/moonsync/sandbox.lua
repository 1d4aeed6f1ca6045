--- The environment job files (and the modules they load from their own
-- directory) run in. What they may touch is this explicit list:
--
-- - the safe base functions (assert, error, ipairs, pairs, next, pcall,
--   xpcall, select, tonumber, tostring, type, print, rawequal, rawget,
--   rawset, rawlen, setmetatable, getmetatable, collectgarbage, _VERSION)
--   and `load` for text chunks only;
-- - the string, table, math, utf8 and coroutine libraries;
-- - `os.time`, `os.clock`, `os.date`, `os.difftime`, `os.getenv`;
-- - `io.open`, `io.lines`, `io.read`, `io.write`, `io.type`, `io.stdout`,
--   `io.stderr` (adapters read and write their data files);
-- - `require` of moonsync's own modules and bundled adapters (moonsync,
--   moonsync.*, json_file, rest, nautobot, netbox, cjson, cjson.safe,
--   lfs), and of Lua files in the job's directory, which get this same
--   environment.
--
-- Not there: os.execute, os.exit, os.remove, os.rename, os.tmpname,
-- io.popen, dofile, loadfile, debug, package and binary chunks. No shell
-- can be started from a job file.
-- @module moonsync.sandbox
local M = {}

local BUILTIN = { moonsync = true, json_file = true, rest = true, nautobot = true,
                  netbox = true, cjson = true, ["cjson.safe"] = true, lfs = true }

local BASE = { "assert", "error", "ipairs", "pairs", "next", "pcall", "xpcall",
               "select", "tonumber", "tostring", "type", "print", "rawequal",
               "rawget", "rawset", "rawlen", "setmetatable", "getmetatable",
               "collectgarbage", "_VERSION" }

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

--- A fresh sandbox environment for code living in directory `dir`.
function M.env(dir)
  local env = {}
  for _, name in ipairs(BASE) do env[name] = _G[name] end
  for _, lib in ipairs { "string", "table", "math", "utf8", "coroutine" } do
    env[lib] = copy(_G[lib])
  end
  env.os = { time = os.time, clock = os.clock, date = os.date,
             difftime = os.difftime, getenv = os.getenv }
  env.io = { open = io.open, lines = io.lines, read = io.read, write = io.write,
             type = io.type, stdout = io.stdout, stderr = io.stderr }
  env.load = function(chunk, name, _, e)
    return load(chunk, name, "t", e or env)
  end
  local loaded = {}
  env.require = function(name)
    if type(name) ~= "string" then error("require: module name expected", 2) end
    if BUILTIN[name] or name:match("^moonsync%.[%w_.]+$") then return require(name) end
    if loaded[name] ~= nil then return loaded[name] end
    if not name:match("^[%w_]+[%w_.]*$") then
      error(("module '%s': not a module name"):format(name), 2)
    end
    local path = dir .. "/" .. name:gsub("%.", "/") .. ".lua"
    local f = io.open(path, "rb")
    if not f then
      error(("module '%s' is not available to job files (moonsync modules, bundled "
             .. "adapters and %s/*.lua only)"):format(name, dir), 2)
    end
    local src = f:read("a")
    f:close()
    local chunk, err = load(src, "@" .. path, "t", env)
    if not chunk then error(err, 2) end
    local v = chunk(name)
    if v == nil then v = true end
    loaded[name] = v
    return v
  end
  env._G = env
  return env
end

return M
