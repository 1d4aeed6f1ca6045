--- The environment job files (and the modules they load from their own
-- directory) run in. See docs/security.md for the threat model.
--
-- A job sees:
--
-- - the safe base functions (assert, error, ipairs, pairs, next, pcall,
--   xpcall, select, tonumber, tostring, type, print, rawequal, rawget,
--   rawset, rawlen, setmetatable, getmetatable, _VERSION), `load` for
--   text chunks only, and `collectgarbage` for "collect", "count" and
--   "step";
-- - its own copies of the string (without `dump`), table, math, utf8 and
--   coroutine libraries;
-- - `os.time`, `os.clock`, `os.date`, `os.difftime`, and `os.getenv` for
--   the variables its permissions allow;
-- - `io.open`, `io.lines` (paths its permissions allow), `io.read`,
--   `io.write`, `io.type`, `io.stdout`, `io.stderr`;
-- - `require` of moonsync's modules (not the command line's own: see
--   INTERNAL) and the bundled adapters, as read-only views, found only in
--   moonsync's own directory (M.ROOT), and of Lua files in the job's own
--   directory, which run in this same environment.
--
-- Nothing else: no os.execute, io.popen, os.remove, debug, package,
-- dofile, loadfile, string.dump or binary chunks. Every door that reaches
-- files, hosts or the environment asks the job's permissions in C
-- (core.permit), whoever calls it. The string and file metatables are
-- protected, so no job can change what a string or file method does for
-- trusted code.
-- @module moonsync.sandbox
local core = require "moonsync.core"
local ms = require "moonsync"

local M = {}

-- trusted references, taken before any job runs
local _G, type, pairs, next, error, tostring, select = _G, type, pairs, next, error, tostring, select
local setmetatable, rawget, load, require = setmetatable, rawget, load, require
local io_open, io_lines, fmt = io.open, io.lines, string.format
local smatch, sfind, sgsub = string.match, string.find, string.gsub
local permit, getenv = core.permit, core.getenv
local collectgarbage = collectgarbage
local package, loadfile = package, loadfile
local getinfo = debug.getinfo

--- The directory moonsync's own modules live in (the one holding
-- moonsync/sandbox.lua): `moonsync.*` names a job requires resolve there
-- and nowhere else; in a source tree, also in the build's lib/ beside it,
-- where the bundled adapters are placed (installed, they are in ROOT).
M.ROOT = core.realpath((debug.getinfo(1, "S").source:match("^@(.*)/moonsync/[^/]+$")) or ".")
local OWN_PATH = M.ROOT .. "/?.lua;" .. M.ROOT .. "/?/init.lua"
do
  local built = core.realpath(M.ROOT .. "/../lib")
  if require("lfs").attributes(built .. "/moonsync/adapters", "mode") == "directory" then
    OWN_PATH = OWN_PATH .. ";" .. built .. "/?.lua"
  end
end

--- Modules a job may require besides moonsync.* (short adapter names are
-- the bundled adapters).
M.MODULES = { moonsync = "moonsync", cjson = "cjson", ["cjson.safe"] = "cjson.safe" }
local BUNDLED = { "csv_file", "ipfabric", "json_file", "meraki", "nautobot", "netbox", "openapi", "rest" }
-- the first adapters' short names stay as aliases; later ones have only
-- their full name, so a job's own module of that name is still its own
local ALIASED = { csv_file = true, json_file = true, nautobot = true, netbox = true, openapi = true, rest = true }
for _, a in ipairs(BUNDLED) do
  if ALIASED[a] then M.MODULES[a] = "moonsync.adapters." .. a end
end
M.ADAPTERS = table.concat(BUNDLED, ", ")

--- moonsync's own modules that are the command line's, not a job's: they
-- hold its places (the run history, lock and state directories) and its
-- authority, so a job may not require them.
M.INTERNAL = { ["moonsync.cli"] = true, ["moonsync.history"] = true, ["moonsync.report"] = true,
               ["moonsync.sandbox"] = true, ["moonsync.job"] = true, ["moonsync.plan"] = true }

local BASE = { "assert", "error", "ipairs", "pairs", "next", "pcall", "xpcall",
               "select", "tonumber", "tostring", "type", "print", "rawequal",
               "rawget", "rawset", "rawlen", "setmetatable", "getmetatable",
               "_VERSION" }

local GC_OPTS = { collect = true, count = true, step = true }

-- What the standard library has and a job may not use: calling one raises
-- a PermissionError saying so (not "attempt to call a nil value").
local REFUSED = {
  os = { execute = "a job may not start processes", exit = "a job may not end the process",
         remove = "a job may not remove files", rename = "a job may not rename files",
         tmpname = "a job may not make files outside its permissions",
         setlocale = "a job may not change the process's locale" },
  io = { popen = "a job may not start processes", input = "use io.open and read the file",
         output = "use io.open and write the file", tmpfile = "a job may not make temporary files" },
  _G = { dofile = "use require for a Lua file in the job's directory",
         loadfile = "use require for a Lua file in the job's directory" },
}

local function copy(t, except)
  local c = {}
  for k, v in pairs(t) do
    if k ~= except then c[k] = v end
  end
  return c
end

-- {====== read-only views ======}

local views = setmetatable({}, { __mode = "k" })

--- A read-only view of a trusted table: reads go through (tables as views
-- of their own), writes are errors. The job never holds the table itself,
-- so nothing it does can change what trusted code finds there.
local function readonly(t)
  local v = views[t]
  if v then return v end
  local function wrap(x)
    if type(x) == "table" then return readonly(x) end
    return x
  end
  v = setmetatable({}, {
    __index = function(_, k) return wrap(t[k]) end,
    __newindex = function(_, k)
      error(fmt("cannot set '%s': moonsync's modules are read-only for job files",
                tostring(k)), 2)
    end,
    __pairs = function()
      return function(_, k)
        local nk, nv = next(t, k)
        return nk, wrap(nv)
      end, v, nil
    end,
    __len = function() return #t end,
    __metatable = "moonsync.ReadOnly",
  })
  views[t] = v
  return v
end
M.readonly = readonly

-- {====== shared metatables ======}

local hardened = false

--- Protects the metatables every string and file handle shares, so that
-- getmetatable("") or getmetatable(io.stdout) gives nothing to change.
-- Idempotent; moonsync.job calls it before a job runs.
--
-- Also drops the relative entries ("./?.lua", "./?.so") of package.path
-- and package.cpath: the modules trusted code requires come from
-- moonsync's and Lua's own directories, never from the current one, which
-- a job may be able to write.
function M.harden()
  if hardened then return end
  hardened = true
  for _, key in ipairs { "path", "cpath" } do
    local keep = {}
    for entry in package[key]:gmatch("[^;]+") do
      if entry:sub(1, 1) == "/" then keep[#keep + 1] = entry end
    end
    package[key] = table.concat(keep, ";")
  end
  local dgetmt = _G.debug.getmetatable
  -- string methods without dump: ("").dump must not reach it either
  local methods = {}
  for k, v in pairs(_G.string) do
    if k ~= "dump" then methods[k] = v end
  end
  dgetmt("").__index = methods
  dgetmt("").__metatable = false
  dgetmt(io.stdout).__metatable = false
end

-- {====== trusted modules ======}

--- Requires one of moonsync's own modules, found in M.ROOT only (or
-- already loaded, or preloaded as moonsync.core is). The module runs as
-- trusted code, with the real globals.
local function own(name)
  local v = package.loaded[name]
  if v ~= nil then return v end
  if package.preload[name] then return require(name) end
  local path = package.searchpath(name, OWN_PATH)
  if not path then
    local hint = ""
    if smatch(name, "^moonsync%.adapters%.") then hint = "; the bundled adapters: " .. M.ADAPTERS end
    error(fmt("module '%s' is not one of moonsync's modules (in %s)%s", name, M.ROOT, hint), 3)
  end
  local chunk, err = loadfile(path, "t")
  if not chunk then error(err, 3) end
  v = chunk(name, path)
  if v == nil then v = true end
  if package.loaded[name] == nil then package.loaded[name] = v end
  return package.loaded[name]
end

-- {====== doors ======}

local function open(path, mode)
  if type(path) ~= "string" then
    error(fmt("bad argument #1 to 'open' (string expected, got %s)", type(path)), 2)
  end
  mode = mode or "r"
  if type(mode) ~= "string" then
    error(fmt("bad argument #2 to 'open' (string expected, got %s)", type(mode)), 2)
  end
  permit(sfind(mode, "[wa+]") and "write" or "read", path)
  return io_open(path, mode)
end

local function lines(path, ...)
  if path ~= nil then permit("read", path) end
  return io_lines(path, ...)
end

--- A fresh sandbox environment for code living in directory `dir` (the
-- job's real directory: job-local modules are looked up there).
-- onload(name, path, source), when given, hears of every job-local module
-- loaded (a plan records them).
function M.env(dir, onload)
  local env = {}
  for _, name in ipairs(BASE) do env[name] = _G[name] end
  env.string = copy(_G.string, "dump")
  for _, lib in ipairs { "table", "math", "utf8", "coroutine" } do
    env[lib] = copy(_G[lib])
  end
  env.os = { time = os.time, clock = os.clock, date = os.date,
             difftime = os.difftime, getenv = getenv }
  env.io = { open = open, lines = lines, read = io.read, write = io.write,
             type = io.type, stdout = io.stdout, stderr = io.stderr }
  for lib, names in pairs(REFUSED) do
    local t = lib == "_G" and env or env[lib]
    for fname, why in pairs(names) do
      local what = lib == "_G" and fname or lib .. "." .. fname
      t[fname] = function()
        local at = getinfo(2, "Sl")
        local where = at and at.currentline > 0 and fmt("%s:%d: ", at.short_src, at.currentline) or ""
        error(ms.error("PermissionError", fmt("%s%s: not available to job files (%s)", where,
                                              what, why)), 2)
      end
    end
  end
  env.collectgarbage = function(opt, ...)
    opt = opt or "collect"
    if not GC_OPTS[opt] then
      error(fmt("collectgarbage: option '%s' is not available to job files", tostring(opt)), 2)
    end
    return collectgarbage(opt, ...)
  end
  env.load = function(chunk, name, _, e)
    return load(chunk, name, "t", e or env)
  end
  local loaded = {}
  env.require = function(name)
    if type(name) ~= "string" then error("require: module name expected", 2) end
    if M.INTERNAL[name] then
      error(fmt("module '%s' is the command line's own and not available to job files", name), 2)
    end
    local trusted = M.MODULES[name]
    if trusted and not smatch(trusted, "^moonsync") then return readonly(require(trusted)) end
    trusted = trusted or (smatch(name, "^moonsync%.[%w_.]+$") and name)
    if trusted then return readonly(own(trusted)) end
    if loaded[name] ~= nil then return loaded[name] end
    if not smatch(name, "^[%w_]+[%w_.]*$") then
      error(fmt("module '%s': not a module name", name), 2)
    end
    local path = dir .. "/" .. sgsub(name, "%.", "/") .. ".lua"
    permit("read", path)
    local f = io_open(path, "rb")
    if not f then
      error(fmt("module '%s' is not available to job files (moonsync's modules, the bundled "
                .. "adapters %s, and %s/*.lua only)", name, M.ADAPTERS, dir), 2)
    end
    local src = f:read("a")
    f:close()
    if onload then onload(name, path, src) end
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
