--- Job files: a Lua script that returns `ms.job { ... }` describing one
-- sync: where the source and target come from, the flags, the safety
-- policy and the permissions it needs. The command line runs it
-- (`moonsync diff|sync|plan|inspect job.lua`) in the sandbox of
-- moonsync.sandbox, with the permissions of docs/security.md.
-- @module moonsync.job
local ms = require "moonsync"
local core = require "moonsync.core"
local sandbox = require "moonsync.sandbox"
local policies = require "moonsync.policy"

local type, pairs, ipairs, tostring, error, pcall = type, pairs, ipairs, tostring, error, pcall
local load, fmt, getenv = load, string.format, os.getenv
local getmetatable = debug.getmetatable

local M = {}

local job_keys = { name = true, description = true, source = true, target = true,
                   flags = true, policy = true, permissions = true, data_mappings = true }
local mapping_keys = { source = true, source_url = true, target = true, target_url = true }

--- The kinds of permission a job can declare (and the command line grant).
M.PERMISSIONS = { "read", "write", "net", "env" }
local permission_keys = { read = true, write = true, net = true, env = true }

local Job = { __metatable = "moonsync.Job" }
Job.__index = Job

-- A permission list: a string or a list of strings.
local function permlist(v, what)
  if type(v) == "string" then return { v } end
  if type(v) ~= "table" then
    error(fmt("ms.job: permissions.%s must be a list of strings", what), 4)
  end
  local out = {}
  for i, e in ipairs(v) do
    if type(e) ~= "string" then
      error(fmt("ms.job: permissions.%s[%d] must be a string, got %s", what, i, type(e)), 4)
    end
    out[i] = e
  end
  return out
end

--- Declares a job; validates its keys.
-- @tparam table spec `source`, `target` (adapters, or functions returning
-- loaded adapters: use functions for plan/apply, which reload the target),
-- `flags` (global flag names), `policy` (moonsync.policy: max_deletes,
-- prevent_delete, scope, protect_children), `permissions` ({read = {paths},
-- write = {paths}, net = {"host[:port]"}, env = {"NAME"}}: what the job
-- needs beyond its own directory), `name`, `description`,
-- `data_mappings` (SSoT's table of what each model is on either side:
-- {{source = "Location (remote)", target = "Location (local)",
-- source_url =, target_url =}}, shown by inspect and the report)
function M.job(spec)
  if type(spec) ~= "table" then error("ms.job: expected a table", 2) end
  for k in pairs(spec) do
    if not job_keys[k] then error(("ms.job: unknown key '%s'"):format(tostring(k)), 2) end
  end
  for _, side in ipairs { "source", "target" } do
    local v = spec[side]
    if type(v) ~= "function" and not (type(v) == "table" and v._store) then
      error(("ms.job: '%s' must be an adapter or a function returning one"):format(side), 2)
    end
  end
  local policy = spec.policy or {}
  local ok, err = pcall(policies.validate, policy)
  if not ok then error("ms.job: " .. tostring(err), 2) end
  local perms = {}
  if spec.permissions ~= nil then
    if type(spec.permissions) ~= "table" then error("ms.job: 'permissions' must be a table", 2) end
    for k, v in pairs(spec.permissions) do
      if not permission_keys[k] then
        error(("ms.job: unknown permission '%s' (read, write, net, env)"):format(tostring(k)), 2)
      end
      perms[k] = permlist(v, k)
    end
  end
  ms.flag_value(spec.flags or {})
  local mappings = {}
  if spec.data_mappings ~= nil then
    if type(spec.data_mappings) ~= "table" then error("ms.job: 'data_mappings' must be a list", 2) end
    for i, m in ipairs(spec.data_mappings) do
      if type(m) ~= "table" then error(fmt("ms.job: data_mappings[%d] must be a table", i), 2) end
      for k, v in pairs(m) do
        if not mapping_keys[k] then
          error(fmt("ms.job: data_mappings[%d]: unknown key '%s' (source, source_url, target, "
                    .. "target_url)", i, tostring(k)), 2)
        end
        if type(v) ~= "string" then error(fmt("ms.job: data_mappings[%d].%s must be a string", i, k), 2) end
      end
      if not m.source or not m.target then
        error(fmt("ms.job: data_mappings[%d] needs a source and a target", i), 2)
      end
      mappings[i] = { source = m.source, source_url = m.source_url, target = m.target,
                      target_url = m.target_url }
    end
  end
  return setmetatable({ name = spec.name, description = spec.description,
    source = spec.source, target = spec.target, flags = spec.flags or {},
    policy = policy, permissions = perms, data_mappings = mappings }, Job)
end

-- The job's own place for an error raised in moonsync's modules: a job
-- function ending in `return json_file.open {...}` is a tail call, so an
-- error aimed at its caller names no place, or moonsync's own file; the
-- job function's line is the place to look.
local function relocate(fn, err)
  if type(err) ~= "string" then return err end
  local file, rest = err:match("^([^:\n]+):%d+: (.*)$")
  if file and not file:find(sandbox.ROOT, 1, true) and not file:find("/moonsync/", 1, true) then
    return err
  end
  rest = rest or err
  local info = debug.getinfo(fn, "S")
  return fmt("%s:%d: %s", info.short_src, info.linedefined, rest)
end

local function resolve(v, what)
  if type(v) == "function" then
    local fn = v
    local ok, got = pcall(fn)
    if not ok then error(relocate(fn, got), 0) end
    v = got
  end
  if type(v) ~= "table" or not v._store then
    error(("job %s: expected an adapter, got %s"):format(what, type(v)), 0)
  end
  return v
end

--- The source adapter (calling the job's function when it is one).
function Job:get_source() return resolve(self.source, "source") end
--- The target adapter (a fresh one each call when the job gives a function).
function Job:get_target() return resolve(self.target, "target") end

local function joberror(msg) return ms.error("JobError", msg) end

-- A declared entry "${NAME}" stands for the value of environment variable
-- NAME (a path; for net, the host and port of a URL), which the job must
-- declare in permissions.env. Unset: the entry grants nothing.
local function expand(kind, entry, declared_env)
  local name = kind ~= "env" and entry:match("^%${([%w_]+)}$")
  if not name then return entry end
  local ok = false
  for _, e in ipairs(declared_env) do ok = ok or e == name end
  if not ok and not name:match("^MOONSYNC_") then
    error(joberror(fmt("permissions.%s '%s': declare %s in permissions.env to use it",
                       kind, entry, name)), 0)
  end
  local v = getenv(name)
  if v == nil or v == "" then return nil end
  if kind == "net" then
    local origin = core.url_origin(v)
    if origin then return (origin:gsub("^%a+://", "")) end
  end
  return v
end

--- Loads a job file in the sandbox and activates its permissions: its own
-- directory tree (read and write), the MOONSYNC_* variables, what
-- `grants` give ({read =, write =, net =, env =} lists, from the command
-- line) and, once the file has returned, what it declares. The file runs
-- with its real path and directory as `...`.
-- Returns the job, the policy handle (the caller's capability to write its
-- own outputs and take its own locks: never hand it to job code) and what
-- identifies the job's code: {hash = of the job file, modules = {name =
-- hash}} (modules grow as the job loads them). One job per process.
function M.load(path, grants)
  if core.sandboxed() then error(joberror("a job is already loaded in this process"), 0) end
  local f, why = io.open(path, "rb")
  if not f then error(joberror(fmt("cannot read job file %s", tostring(why))), 0) end
  local text = f:read("a")
  f:close()
  local real = core.realpath(path)
  local dir = real:match("^(.*)/[^/]*$")
  if dir == "" then dir = "/" end
  sandbox.harden()
  local policy = core.sandbox()
  policy:grant_guarded(dir, "the job's directory, less version control metadata and code (.lua, .so)")
  policy:grant("env", "MOONSYNC_*", nil, "moonsync's own")
  for _, kind in ipairs(M.PERMISSIONS) do
    if grants and grants[kind] and #grants[kind] > 0 then
      policy:grant(kind, grants[kind], nil, "--allow-" .. kind)
    end
  end
  local code = { hash = core.sha256(text), modules = {} }
  local chunk, err = load(text, "@" .. real, "t", sandbox.env(dir, function(name, _, src)
    code.modules[name] = core.sha256(src)
  end))
  if not chunk then error(joberror(err), 0) end
  policy:loading(true)
  local ok, job = pcall(chunk, real, dir)
  policy:loading(false)
  if not ok then
    if ms.is_error(job) then error(job, 0) end
    error(joberror(path .. ": " .. core.error_text(job)), 0)
  end
  if getmetatable(job) ~= Job then
    error(joberror(path .. ": a job file must return ms.job { ... }"), 0)
  end
  local env = job.permissions.env or {}
  for _, kind in ipairs(M.PERMISSIONS) do
    for _, entry in ipairs(job.permissions[kind] or {}) do
      local e = expand(kind, entry, env)
      if e then
        -- a declared path is relative to the job's directory; a path from
        -- the environment, like every path the job opens, to the current one
        local why = e == entry and "declared by the job" or "declared by the job as " .. entry
        local gok, gerr = pcall(policy.grant, policy, kind, e, e == entry and dir or nil, why)
        if not gok then error(joberror(path .. ": " .. core.error_text(gerr)), 0) end
      end
    end
  end
  job.path, job.dir = real, dir
  return job, policy, code
end

return M
