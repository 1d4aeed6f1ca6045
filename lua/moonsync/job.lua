--- Job files: a Lua script that returns `ms.job { ... }` describing one
-- sync: where the source and target come from, the flags and the safety
-- policy. The command line runs it (`moonsync diff|sync|plan job.lua`).
-- @module moonsync.job
local ms = require "moonsync"

local M = {}

local job_keys = { name = true, description = true, source = true, target = true,
                   flags = true, policy = true }
local policy_keys = { max_deletes = true, prevent_delete = true }

local Job = {}
Job.__index = Job

--- Declares a job; validates its keys.
-- @tparam table spec `source`, `target` (adapters, or functions returning
-- loaded adapters: use functions for plan/apply, which reload the target),
-- `flags` (global flag names), `policy` ({max_deletes = N or "P%",
-- prevent_delete = {model names}}), `name`, `description`
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
  if type(policy) ~= "table" then error("ms.job: 'policy' must be a table", 2) end
  for k in pairs(policy) do
    if not policy_keys[k] then error(("ms.job: unknown policy '%s'"):format(tostring(k)), 2) end
  end
  if policy.max_deletes ~= nil then M.parse_budget(policy.max_deletes, "policy.max_deletes") end
  ms.flag_value(spec.flags or {})
  return setmetatable({ name = spec.name, description = spec.description,
    source = spec.source, target = spec.target, flags = spec.flags or {},
    policy = policy }, Job)
end

local function resolve(v, what)
  if type(v) == "function" then v = v() end
  if type(v) ~= "table" or not v._store then
    error(("job %s: expected an adapter, got %s"):format(what, type(v)), 0)
  end
  return v
end

--- The source adapter (calling the job's function when it is one).
function Job:get_source() return resolve(self.source, "source") end
--- The target adapter (a fresh one each call when the job gives a function).
function Job:get_target() return resolve(self.target, "target") end

--- Parses a delete budget: a count ("25", 25) or a percentage ("10%").
-- Returns kind ("count" or "percent") and the number.
function M.parse_budget(v, what)
  what = what or "max-deletes"
  if type(v) == "number" and v >= 0 and math.type(v) == "integer" then return "count", v end
  if type(v) == "string" then
    local n = v:match("^(%d+)$")
    if n then return "count", tonumber(n) end
    n = v:match("^(%d+%.?%d*)%%$")
    if n and tonumber(n) <= 100 then return "percent", tonumber(n) end
  end
  error(("%s: expected a count (e.g. 25) or a percentage (e.g. 10%%), got %s"):format(
    what, tostring(v)), 0)
end

--- Loads a job file: runs it in the sandbox (moonsync.sandbox) with its
-- own path and directory as `...`, and checks that it returned ms.job{...}.
function M.load(path)
  local dir = path:match("^(.*)/[^/]*$") or "."
  local chunk, err = loadfile(path, "t", require("moonsync.sandbox").env(dir))
  if not chunk then error(ms.error("JobError", err), 0) end
  local ok, job = pcall(chunk, path, dir)
  if not ok then
    if ms.is_error(job) then error(job, 0) end
    error(ms.error("JobError", path .. ": " .. tostring(job)), 0)
  end
  if getmetatable(job) ~= Job then
    error(ms.error("JobError", path .. ": a job file must return ms.job { ... }"), 0)
  end
  job.path = path
  return job
end

return M
