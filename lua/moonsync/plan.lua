--- Saved plans (`moonsync-plan/3`): sealing, reading and checking them,
-- and building the source an apply syncs from. A plan is bound to its own
-- content (a SHA-256 digest of everything it says, or an HMAC-SHA-256
-- with the operator's MOONSYNC_PLAN_KEY), to the job it was made from (the
-- SHA-256 of the job file and of the job-local modules it loaded, the
-- identity of its target), and every entry is validated before any is
-- applied.
-- @module moonsync.plan
local ms = require "moonsync"
local core = require "moonsync.core"

local fmt, type, pairs, ipairs, tostring = string.format, type, pairs, ipairs, tostring
local io_open = io.open
local null = core.null

local M = { FORMAT = "moonsync-plan/3" }

--- The environment variable holding the operator's plan key. Jobs can
-- never read it (the permission check refuses it by name).
M.KEY_ENV = "MOONSYNC_PLAN_KEY"

local function bad(name, what, ...)
  error(ms.error("PlanError", name .. ": " .. fmt(what, ...)), 0)
end

local ACTIONS = { create = true, update = true, delete = true }

local SEAL = '^(.*),\n"digest": "([%w-]+):(%x+)"\n}\n$'

--- Seals the text of a plan (a JSON object) with its digest: the last
-- member, "digest", is "sha256:HEX" of every byte before it, or
-- "hmac-sha256:HEX" with `key`. Returns the text to save.
function M.seal(body, key)
  local head = body:match("^(.-)%s*}%s*$")
  if not head then error("plan: the text to seal is not a JSON object", 2) end
  local kind = key and "hmac-sha256" or "sha256"
  return fmt('%s,\n"digest": "%s:%s"\n}\n', head, kind, core.sha256(head, key))
end

-- Checks the seal of a plan's text against its content and the key.
local function unseal(text, name, key)
  local head, kind, digest = text:match(SEAL)
  if not head then
    if text:find('"format": "moonsync-plan/2"', 1, true) then
      bad(name, "made by an older moonsync (moonsync-plan/2, not sealed): make a new plan")
    end
    if text:find('"format"', 1, true) and text:find('"moonsync-plan/', 1, true) then
      bad(name, "the plan has no digest as its last member: it was changed after it was "
          .. "made, or is not a whole plan; make a new plan")
    end
    return
  end
  if kind == "hmac-sha256" and not key then
    bad(name, "the plan is signed with a key: set %s to the key it was made with to apply it",
        M.KEY_ENV)
  elseif kind == "sha256" and key then
    bad(name, "the plan is not signed, and %s is set: only plans made with the key are "
        .. "applied (make the plan again with %s set)", M.KEY_ENV, M.KEY_ENV)
  elseif kind ~= "sha256" and kind ~= "hmac-sha256" then
    bad(name, "unknown digest kind %s", kind)
  end
  if core.sha256(head, key) ~= digest then
    bad(name, "the plan's content does not match its digest (%s): it was changed after it "
        .. "was made%s; nothing was applied", kind,
        key and ", or made with another key" or "")
  end
end

--- Decodes and checks a plan: its seal (see M.seal; `key` is the
-- operator's plan key or nil), then its shape. Raises PlanError naming
-- the file and the offending change.
function M.decode(text, name, key)
  name = name or "plan"
  unseal(text, name, key)
  local ok, plan = pcall(core.json_decode, text, name)
  if not ok then
    bad(name, "not valid JSON (%s)", ms.is_error(plan) and plan.message or tostring(plan))
  end
  if type(plan) ~= "table" or plan.format ~= M.FORMAT then
    if type(plan) == "table" and (plan.format == "moonsync-plan/1" or plan.format == "moonsync-plan/2") then
      bad(name, "made by an older moonsync (%s, not sealed): make a new plan", plan.format)
    end
    bad(name, "not a moonsync plan (format %s)", M.FORMAT)
  end
  local d = plan.diff
  if type(d) ~= "table" or type(d.changes) ~= "table" or type(d.source) ~= "string" then
    bad(name, "the plan has no diff with source and changes")
  end
  if math.type(plan.flags) ~= "integer" or plan.flags < 0 or plan.flags & ~15 ~= 0 then
    bad(name, "flags must be an integer made of the global flags (0 to 15), got %s",
        tostring(plan.flags))
  end
  if type(plan.digest) ~= "string" then bad(name, "the plan has no digest") end
  if type(plan.job) ~= "string" then bad(name, "the plan names no job") end
  if type(plan.job_hash) ~= "string" then bad(name, "the plan has no job_hash") end
  if type(plan.target) ~= "string" then bad(name, "the plan names no target") end
  if type(plan.modules) ~= "table" then bad(name, "the plan has no modules") end
  for k, v in pairs(plan.modules) do
    if type(k) ~= "string" or type(v) ~= "string" then bad(name, "modules must map names to hashes") end
  end
  for i, c in ipairs(d.changes) do
    local where = fmt("changes[%d]", i)
    if type(c) ~= "table" then bad(name, "%s is not an object", where) end
    if not ACTIONS[c.action] then bad(name, "%s: unknown action %s", where, tostring(c.action)) end
    if type(c.model) ~= "string" or type(c.uid) ~= "string" then
      bad(name, "%s: model and uid must be strings", where)
    end
    if type(c.keys) ~= "table" then bad(name, "%s: keys must be an object", where) end
    if c.action ~= "delete" and type(c.attrs) ~= "table" then
      bad(name, "%s: attrs must be an object", where)
    end
    if c.fingerprint ~= null and type(c.fingerprint) ~= "string" then
      bad(name, "%s: fingerprint must be a string or null", where)
    end
    if c.parent ~= null and (type(c.parent) ~= "table" or type(c.parent.model) ~= "string"
                             or type(c.parent.uid) ~= "string") then
      bad(name, "%s: parent must be null or {model, uid}", where)
    end
  end
  plan.name = name
  return plan
end

--- Refuses (PlanError) to apply a plan to another job than the one it was
-- made from, or to that job once its file or its modules changed. The job
-- may live elsewhere (a plan made in CI, applied on a server): its
-- content decides.
function M.check_job(plan, job, code)
  if code.hash ~= plan.job_hash then
    if job.path == plan.job then
      bad(plan.name, "the job %s changed since the plan was made: make a new plan", job.path)
    end
    bad(plan.name, "the plan was made for the job %s, and %s is another job", plan.job, job.path)
  end
  for name, hash in pairs(plan.modules) do
    local path = job.dir .. "/" .. name:gsub("%.", "/") .. ".lua"
    local f = io_open(path, "rb")
    local now = f and core.sha256(f:read("a"))
    if f then f:close() end
    if now ~= hash then
      bad(plan.name, "the job's module %s (%s) changed since the plan was made: make a new plan",
          name, path)
    end
  end
end

--- Refuses a plan made for another target, or whose job now loads
-- modules it did not load when the plan was made.
function M.check_target(plan, target, job, code)
  local id = target:identity()
  if id ~= plan.target then
    bad(plan.name, "the plan was made for the target %s; the job's target is now %s",
        plan.target, id)
  end
  for name in pairs(code.modules) do
    if plan.modules[name] == nil then
      bad(plan.name, "the job now loads the module %s, which it did not when the plan was "
          .. "made: make a new plan", name)
    end
  end
end

-- The uid the keys of a change give, or nil and why not.
local function uid_of(model, keys)
  for k in pairs(keys) do
    local known = false
    for _, id in ipairs(model.identifiers) do known = known or id == k end
    if not known then return nil, fmt("keys: '%s' is not an identifier of %s", tostring(k), model.name) end
  end
  for _, id in ipairs(model.identifiers) do
    if keys[id] == nil then
      return nil, fmt("keys: identifier '%s' is missing (null is a value, read as None)", id)
    end
  end
  local ok, rec = pcall(model, keys)
  if not ok then return nil, core.error_text(rec) end
  return rec:get_unique_id()
end

--- Validates every change against the target before anything is applied:
-- the model exists, keys are the model's identifiers and give the uid,
-- attrs are its attributes, no record is named twice, and a created
-- child's parent exists in the target or is created earlier by the plan.
-- Returns the list of invalid changes ({where =, why =}).
function M.check(plan, target)
  local invalid, seen, made = {}, {}, {}
  local tops = {}
  for _, t in ipairs(target:get_top_level()) do tops[t] = true end
  for i, c in ipairs(plan.diff.changes) do
    local where = fmt("changes[%d] %s %s %s", i, c.action, c.model, c.uid)
    local function no(why) invalid[#invalid + 1] = { where = where, why = why, change = c } end
    local model = target.model[c.model]
    local key = c.model .. "\0" .. c.uid
    if not model then
      no("the target has no model " .. c.model)
    elseif seen[key] then
      no("the record is named by another change too")
    else
      seen[key] = true
      local uid, why = uid_of(model, c.keys)
      if not uid then
        no(why)
      elseif uid ~= c.uid then
        no(fmt("its keys give the uid '%s', not '%s'", uid, c.uid))
      else
        local bad_attr
        for k in pairs(c.action ~= "delete" and c.attrs or {}) do
          local known = false
          for _, a in ipairs(model.attributes) do known = known or a == k end
          if not known then bad_attr = bad_attr or k end
        end
        if bad_attr then
          no(fmt("attrs: '%s' is not an attribute of %s", tostring(bad_attr), c.model))
        elseif c.action == "create" then
          if c.parent == null then
            if not tops[c.model] then
              no(fmt("%s is not a top-level model: a created %s needs its parent", c.model, c.model))
            end
          else
            local pm = target.model[c.parent.model]
            local listed = false
            for _, ch in ipairs(pm and pm.children or {}) do listed = listed or ch[1] == c.model end
            if not listed then
              no(fmt("%s has no %s children", c.parent.model, c.model))
            elseif not made[c.parent.model .. "\0" .. c.parent.uid]
                   and not target:get_or_none(c.parent.model, c.parent.uid) then
              no(fmt("its parent %s %s is neither in the target nor created by the plan",
                     c.parent.model, c.parent.uid))
            end
          end
          made[key] = true
        end
      end
    end
  end
  return invalid
end

-- Does the target already hold what change c makes (cur: its record)?
-- A plan applied twice finds every change so.
local function already(c, cur)
  if c.action == "delete" then return cur == nil end
  if cur == nil then return false end
  local attrs = cur:get_attrs()
  for k, v in pairs(c.attrs) do
    if core.pformat(attrs[k] == nil and null or attrs[k]) ~= core.pformat(v) then return false end
  end
  return true
end

--- The source an apply syncs from: a copy of the current target with the
-- planned changes whose target records have not drifted. Returns the
-- source adapter and the list of refused changes ({change =, why =}).
-- Call M.check first: this assumes valid changes.
function M.source(plan, target)
  local d = plan.diff
  local Copy = ms.adapter(d.source) { models = target.models, top_level = target:get_top_level() }
  local src = Copy:new { name = d.source }
  src:load_json(target:to_json(), { name = "target copy" })
  local refused = {}
  local function refuse(c, why, done)
    refused[#refused + 1] = { change = c, why = why, done = done }
  end
  for _, c in ipairs(d.changes) do
    local cur = target:get_or_none(c.model, c.uid)
    local fp = cur and cur:fingerprint() or null
    if fp ~= c.fingerprint then
      if already(c, cur) then
        refuse(c, "already done: the target holds what this change makes", true)
      else
        refuse(c, cur and "the target record changed since the plan"
                   or c.fingerprint ~= null and "the target record is gone"
                   or "the target record exists now")
      end
    elseif c.action == "create" then
      local parent = c.parent ~= null and src:get_or_none(c.parent.model, c.parent.uid)
      if c.parent ~= null and not parent then
        refuse(c, "its parent is not there (its own change was refused)")
      else
        local fields = {}
        for k, v in pairs(c.keys) do fields[k] = v end
        for k, v in pairs(c.attrs) do fields[k] = v end
        local rec = src:new_record(c.model, fields)
        if parent then parent:add_child(rec) end
      end
    elseif c.action == "update" then
      local rec = src:get_or_none(c.model, c.uid)
      if rec then rec:set(c.attrs) end
    else
      local rec = src:get_or_none(c.model, c.uid)
      if rec then
        local parent = c.parent ~= null and src:get_or_none(c.parent.model, c.parent.uid)
        if parent then pcall(parent.remove_child, parent, rec) end
        src:remove(rec, true)
      end
    end
  end
  return src, refused
end

return M
