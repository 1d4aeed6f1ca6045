--- The policy gate: moonsync's write-path safety, on top of DiffSync's
-- semantics. The engine and the library API (`diff_from`, `sync_from`)
-- do what DiffSync does; a job run (`moonsync sync`, `plan`, `apply`,
-- `apply --refresh`) goes through one gate, made from the job's `policy`
-- table and the command line, that owns four policies, each named where
-- it refuses something:
--
-- - `max_deletes`: the delete budget, a count (`25`) or a percentage of
--   the target's records (`"10%"`); by default at most half of the
--   target, never refusing 10 or fewer. A run over budget changes nothing.
-- - `prevent_delete`: model names, or predicates over target records,
--   whose records are never deleted (flagged SKIP_UNMATCHED_DST).
-- - `scope`: `{ target = {"MODEL:UID", ...}, exclude = {...} }`, the
--   subtrees a run may change (the command line's --target/--exclude add
--   to it); a target that matches nothing is an error.
-- - `protect_children` (default true): a delete whose subtree holds a
--   record the run keeps (flagged, out of scope, or whose own delete
--   failed) is refused as ObjectNotDeleted, instead of taking it along
--   as DiffSync would.
--
-- A Lua script that wants the same gate around its own sync:
--
--     local gate = policy.new { max_deletes = 5 }
--     gate:prepare(target)
--     local diff = gate:narrow(target:diff_from(source))
--     gate:check({ diff }, target)
--     target:sync_from(source, gate:sync_options { diff = diff })
-- @module moonsync.policy
local ms = require "moonsync"

local fmt, concat = string.format, table.concat

local M = {}

--- The policies a job's `policy` table may name.
M.NAMES = { "max_deletes", "prevent_delete", "scope", "protect_children" }
local known = {}
for _, k in ipairs(M.NAMES) do known[k] = true end

--- A delete budget parsed: "count", n or "percent", p. `what` names it
-- in the error.
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

--- "MODEL:UID" strings as {model, uid} pairs; `what` names them in errors.
function M.parse_scope(list, what)
  local out = {}
  for i, s in ipairs(list or {}) do
    local model, uid
    if type(s) == "string" then model, uid = s:match("^([^:]+):(.+)$") end
    if not model then error(fmt("%s expects MODEL:UID, got '%s'", what, tostring(s)), 0) end
    out[i] = { model, uid }
  end
  return out
end

local function strings(v, what)
  if v == nil then return {} end
  if type(v) ~= "table" then error(fmt("%s must be a list", what), 0) end
  return v
end

--- Checks a job's policy table; raises naming what is wrong.
function M.validate(p)
  if type(p) ~= "table" then error("'policy' must be a table", 0) end
  for k in pairs(p) do
    if not known[k] then
      error(fmt("unknown policy '%s' (%s)", tostring(k), concat(M.NAMES, ", ")), 0)
    end
  end
  if p.max_deletes ~= nil then M.parse_budget(p.max_deletes, "policy.max_deletes") end
  local pd = p.prevent_delete
  if pd ~= nil and type(pd) ~= "table" and type(pd) ~= "function" then
    error("policy.prevent_delete: expected model names or predicates", 0)
  end
  if p.protect_children ~= nil and type(p.protect_children) ~= "boolean" then
    error("policy.protect_children: expected true or false", 0)
  end
  if p.scope ~= nil then
    if type(p.scope) ~= "table" then error("policy.scope: expected {target = ..., exclude = ...}", 0) end
    for k in pairs(p.scope) do
      if k ~= "target" and k ~= "exclude" then
        error(fmt("policy.scope: unknown key '%s' (target, exclude)", tostring(k)), 0)
      end
    end
    M.parse_scope(strings(p.scope.target, "policy.scope.target"), "policy.scope.target")
    M.parse_scope(strings(p.scope.exclude, "policy.scope.exclude"), "policy.scope.exclude")
  end
  return p
end

local Gate = {}
Gate.__index = Gate

--- A gate from a policy table (a job's `policy`) and the command line's
-- overrides: `max_deletes` (replaces the policy's), `target` and
-- `exclude` ({model, uid} pairs, added to the policy's scope).
function M.new(p, over)
  p = M.validate(p or {})
  over = over or {}
  local scope = p.scope or {}
  local g = setmetatable({ policy = p, max_deletes = over.max_deletes or p.max_deletes,
                           targets = M.parse_scope(strings(scope.target), "policy.scope.target"),
                           excludes = M.parse_scope(strings(scope.exclude), "policy.scope.exclude"),
                           protect_children = p.protect_children ~= false }, Gate)
  for _, t in ipairs(over.target or {}) do g.targets[#g.targets + 1] = t end
  for _, t in ipairs(over.exclude or {}) do g.excludes[#g.excludes + 1] = t end
  return g
end

--- prevent_delete: what it protects in `target` is flagged
-- SKIP_UNMATCHED_DST, so no diff deletes it.
function Gate:prepare(target)
  local pd = self.policy.prevent_delete
  if type(pd) == "function" then pd = { pd } end
  for _, p in ipairs(pd or {}) do
    if type(p) == "function" then
      for _, m in ipairs(target.models) do
        for _, rec in ipairs(target:get_all(m.name)) do
          if p(rec) then rec:model_flags(rec:model_flags() | ms.model_flags.SKIP_UNMATCHED_DST) end
        end
      end
    else
      target._store:or_flags(p, { "SKIP_UNMATCHED_DST" })
    end
  end
  return target
end

local function scoped(self) return #self.targets > 0 or #self.excludes > 0 end

local function names(list)
  local out = {}
  for i, t in ipairs(list) do out[i] = t[1] .. ":" .. t[2] end
  return concat(out, ", ")
end

--- scope: narrows diff to the scope's subtrees; a target matching no
-- change is an error. Returns the diff.
function Gate:narrow(diff)
  if scoped(self) then
    local hits = diff:scope(self.targets, self.excludes)
    if #self.targets > 0 and hits == 0 then
      error(ms.error("PolicyError", "no change matches --target " .. names(self.targets)
                     .. " (policy scope)"), 0)
    end
  end
  return diff
end

--- The scope as diff:scope() takes it, or nil when there is none.
function Gate:scope()
  if scoped(self) then return self.targets, self.excludes end
  return nil
end

--- max_deletes: why the budget refuses these diffs of `target`, or nil.
function Gate:over_budget(diffs, target)
  local deletes = 0
  for _, d in ipairs(diffs) do deletes = deletes + d:summary().delete end
  local total = target:count()
  local limit, label
  if self.max_deletes == nil then
    -- default: refuse wiping most of a target (more than half, once more
    -- than 10 records would go)
    limit = math.max(10, math.floor(total / 2))
    label = fmt("the default budget of 50%% of %d target records (at least 10)", total)
  else
    local kind, n = M.parse_budget(self.max_deletes)
    if kind == "count" then
      limit, label = n, fmt("the budget of %d", n)
    else
      limit = math.floor(total * n / 100)
      label = fmt("the budget of %s%% of %d target records (%d)", tostring(n), total, limit)
    end
  end
  if deletes > limit then
    return fmt("%d %s exceed %s (policy max_deletes)", deletes,
               deletes == 1 and "delete would" or "deletes would", label)
  end
  return nil
end

M.ALLOW_MORE = "Allow more with --max-deletes or policy.max_deletes"

--- Raises a PolicyError when the diffs' deletes exceed the budget.
function Gate:check(diffs, target)
  local why = self:over_budget(diffs, target)
  if why then
    error(ms.error("PolicyError", fmt("refusing to sync: %s; nothing was changed. %s", why,
                                      M.ALLOW_MORE)), 0)
  end
end

--- sync_from options with the gate's own added (protect_children).
function Gate:sync_options(opts)
  opts = opts or {}
  opts.protect_children = self.protect_children
  return opts
end

--- The gate's policies as {name, value} pairs, as `moonsync inspect`
-- shows them (values as text).
function Gate:describe()
  local pd = {}
  local list = self.policy.prevent_delete
  if type(list) == "function" then list = { list } end
  for i, p in ipairs(list or {}) do pd[i] = type(p) == "function" and "(predicate)" or tostring(p) end
  return {
    { "max_deletes", self.max_deletes ~= nil and tostring(self.max_deletes)
                     or "default (50% of the target, at least 10)" },
    { "prevent_delete", #pd > 0 and concat(pd, ", ") or "(none)" },
    { "scope", scoped(self) and ("target " .. (#self.targets > 0 and names(self.targets) or "(all)")
                                 .. (#self.excludes > 0 and "; exclude " .. names(self.excludes) or ""))
               or "(all)" },
    { "protect_children", tostring(self.protect_children) },
  }
end

return M
