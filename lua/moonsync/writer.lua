--- The write executor for adapters whose writes go to a remote system
-- (REST APIs): the diff's changes become operations in a dependency graph,
-- as Terraform plans infrastructure. A create waits for the create of its
-- parent and of the records it references; a delete waits for the deletes
-- of its children and of the records referencing it, and for the updates
-- that move a reference away from it. Operations whose dependencies are
-- met form a wave; the adapter's `write(wave)` sends a wave's writes
-- concurrently (and in bulk where the API has it) and says how each went.
-- Only then is the store changed and the operation counted, logged and
-- reported: the sync reports what really happened. A failed operation
-- fails the operations that depend on it; without CONTINUE_ON_FAILURE no
-- new wave starts after a failure, and an interrupt (SIGINT/SIGTERM) lets
-- the writes in flight finish and sends no new one.
-- @module moonsync.writer
local core = require "moonsync.core"
local ms = require "moonsync"

local fmt, concat = string.format, table.concat
local pairs, ipairs, type, tostring = pairs, ipairs, type, tostring
local null = core.null

local M = {}

local CRUD = { create = "ObjectNotCreated", update = "ObjectNotUpdated", delete = "ObjectNotDeleted" }
local DONE = { create = "Created successfully", update = "Updated successfully",
               delete = "Deleted successfully" }

local function key(model, uid) return model .. "\0" .. uid end

-- A table of values: Lua tables for JSON null inside become nil.
local function fields_of(...)
  local out = {}
  for _, t in ipairs { ... } do
    if type(t) == "table" then
      for k, v in pairs(t) do out[k] = v end
    end
  end
  return out
end

--- The operations of a diff, in diff order, with their dependencies.
-- Returns the list and the index by key.
function M.plan(adapter, diff)
  local changes = diff:changes()
  local ops, byk = {}, {}
  for i, c in ipairs(changes) do
    -- the change's own table becomes the operation (deps and dependents
    -- are made when there are some)
    local p = c.parent
    c.n, c.waiting = i, 0
    c.attrs = c.attrs or {}
    if p then c.parent, c.parent_ref = key(p.model, p.uid), p end
    ops[i] = c
    byk[key(c.model, c.uid)] = c
  end
  local function depend(op, on)
    if on and on ~= op and not (op.deps and op.deps[on]) then
      op.deps = op.deps or {}
      op.deps[on] = true
      op.waiting = op.waiting + 1
      on.dependents = on.dependents or {}
      on.dependents[#on.dependents + 1] = op
    end
  end
  -- the children of a record deleted with SKIP_CHILDREN_ON_DELETE go
  -- with it (the system removes them): they are not operations of their own
  local live = {}
  for _, op in ipairs(ops) do
    local p = op.action == "delete" and op.parent and byk[op.parent]
    local prec = p and p.action == "delete" and adapter:get_or_none(p.model, p.uid)
    if prec and prec:model_flags() & ms.model_flags.SKIP_CHILDREN_ON_DELETE ~= 0 then
      op.absorbed = true
    else
      live[#live + 1] = op
    end
  end
  ops = live
  local refs_of = adapter.refs_of
  -- the operations a reference names: by uid, or (a reference that names
  -- only some of the identifiers: {model =, match = {field = value}}) all
  -- of that model whose keys match
  local bymodel
  local function targets(r)
    if r.uid then
      local t = byk[key(r.model, r.uid)]
      return t and { t } or {}
    end
    if not bymodel then
      bymodel = {}
      for _, o in ipairs(ops) do
        local l = bymodel[o.model] or {}
        bymodel[o.model] = l
        l[#l + 1] = o
      end
    end
    local out = {}
    for _, o in ipairs(bymodel[r.model] or {}) do
      local ok = true
      for f, v in pairs(r.match or {}) do
        if o.keys[f] ~= v then ok = false; break end
      end
      if ok then out[#out + 1] = o end
    end
    return out
  end
  for _, op in ipairs(ops) do
    if op.action == "create" then
      local p = op.parent and byk[op.parent]
      if p and p.action == "create" then depend(op, p) end
    elseif op.action == "delete" then
      -- children first: a parent waits for its children's deletes
      local p = op.parent and byk[op.parent]
      if p and p.action == "delete" and not p.absorbed then depend(p, op) end
    end
    if refs_of then
      local now = fields_of(op.keys, op.action == "delete" and op.before or op.attrs)
      for _, r in ipairs(refs_of(adapter, op.model, now)) do
        for _, t in ipairs(targets(r)) do
          if not t.absorbed then
            if t.action == "create" and op.action ~= "delete" then depend(op, t) end
            -- a record referenced by one that goes must wait for it to go
            if t.action == "delete" and op.action == "delete" then depend(t, op) end
          end
        end
      end
      if op.action == "update" and op.before then
        for _, r in ipairs(refs_of(adapter, op.model, fields_of(op.keys, op.before))) do
          for _, t in ipairs(targets(r)) do
            -- the reference moves away before its old target is deleted
            if t.action == "delete" and not t.absorbed then depend(t, op) end
          end
        end
      end
    end
  end
  return ops, byk
end

-- Is there a dest record below rec that the run keeps (no delete of its
-- own)? Returns it, or nil.
local function kept_below(adapter, rec, byk, depth)
  if depth > 10000 then return nil end
  local model = adapter.model[rec:get_type()]
  for _, ch in ipairs(model and model.children or {}) do
    for _, uid in ipairs(rec[ch[2]] or {}) do
      local child = adapter:get_or_none(ch[1], uid)
      if child then
        local op = byk[key(ch[1], uid)]
        if not op or op.action ~= "delete" then return child end
        local deeper = kept_below(adapter, child, byk, depth + 1)
        if deeper then return deeper end
      end
    end
  end
  return nil
end

--- Syncs diff into adapter (see the module description). opts: `flags`,
-- `progress(stage, cur, total)`, `log(op)`, `protect_children` (see
-- Adapter:sync_from). Returns the result table of
-- core.sync; on a failure without CONTINUE_ON_FAILURE, or an interrupt,
-- raises with the partial result as err.result.
function M.sync(adapter, diff, opts)
  local flags = opts.flags or 0
  local continue = flags & ms.flags.CONTINUE_ON_FAILURE ~= 0
  local ops, byk = M.plan(adapter, diff)
  local res = { created = 0, updated = 0, deleted = 0, failed = 0, errors = 0,
                processed = 0, changed = #ops > 0 }
  local total = #ops
  local first_failure
  local ready = {}

  local function finish(op, ok, message, duration)
    op.done = true
    local rec
    if ok then
      if op.action == "create" then
        rec = adapter:create_base(op.model, op.keys, op.attrs)
        adapter:add(rec)
        local p = op.parent_ref and adapter:get_or_none(op.parent_ref.model, op.parent_ref.uid)
        if p then p:add_child(rec) end
        res.created = res.created + 1
      else
        rec = adapter:get_or_none(op.model, op.uid)
        if op.action == "update" then
          if rec then rec:set(op.attrs) end
          res.updated = res.updated + 1
        else
          if rec then
            local p = op.parent_ref and adapter:get_or_none(op.parent_ref.model, op.parent_ref.uid)
            if p then pcall(p.remove_child, p, rec) end
            local skipch = rec:model_flags() & ms.model_flags.SKIP_CHILDREN_ON_DELETE ~= 0
            adapter:remove(rec, skipch)
          end
          res.deleted = res.deleted + 1
        end
      end
      if rec then rec:set_status("success", DONE[op.action]) end
    else
      op.failed = true
      rec = op.action ~= "create" and adapter:get_or_none(op.model, op.uid) or nil
      if rec then rec:set_status(op.skipped and "failure" or "error", message) end
      if op.skipped then res.failed = res.failed + 1 else res.errors = res.errors + 1 end
      first_failure = first_failure or op
      op.message = message
      -- what waits for it cannot happen
      for _, d in ipairs(op.dependents or {}) do
        if not d.done and not d.skipped then
          d.skipped = true
          finish(d, false, fmt("not attempted: %s %s %s failed", op.action, op.model, op.uid), 0)
        end
      end
    end
    res.processed = res.processed + 1
    if opts.log then
      opts.log { op = op.action, model = op.model, uid = op.uid,
                 result = ok and "ok" or (op.skipped and "none" or "raise"),
                 status = ok and "success" or (op.skipped and "failure" or "error"),
                 message = ok and DONE[op.action] or message, duration = duration or 0 }
    end
    if ok and op.dependents then
      for _, d in ipairs(op.dependents) do
        d.waiting = d.waiting - 1
        if d.waiting == 0 and not d.done then ready[#ready + 1] = d end
      end
    end
  end

  -- protect_children: deletes that would take a kept record along are
  -- refused up front
  for _, op in ipairs(opts.protect_children and ops or {}) do
    if op.action == "delete" then
      local rec = adapter:get_or_none(op.model, op.uid)
      local kept = rec and kept_below(adapter, rec, byk, 0)
      if kept then
        op.refused = fmt("Failed to delete %s %s - its subtree holds %s '%s', which this sync "
                         .. "keeps (policy protect_children)",
                         op.model, op.uid, kept:get_type(), kept:get_unique_id())
      end
    end
  end
  for _, op in ipairs(ops) do
    if op.waiting == 0 then ready[#ready + 1] = op end
  end

  local interrupted = false
  while #ready > 0 do
    if core.interrupted() ~= 0 then interrupted = true break end
    if first_failure and not continue then break end
    local wave = {}
    for _, op in ipairs(ready) do
      if not op.done then
        if op.refused then finish(op, false, op.refused, 0)
        else wave[#wave + 1] = op end
      end
    end
    ready = {}
    if #wave > 0 then
      local t0 = core.now()
      local outcome = adapter:write(wave)
      local took = core.now() - t0
      for i, op in ipairs(wave) do
        local o = outcome[i] or { ok = false, message = "no outcome" }
        -- one an interrupt kept from being sent is not done, and no failure
        if o.unsent then interrupted = true else finish(op, o.ok, o.message, took) end
      end
      if opts.progress then opts.progress("sync", res.processed, total) end
    end
  end

  local function raise(e)
    e.result = res
    error(e, 0)
  end
  if interrupted then
    raise(ms.error("Interrupted", fmt("sync interrupted: %d of %d changes done",
                                      res.processed, total)))
  end
  if first_failure and not continue then
    raise(ms.error(CRUD[first_failure.action], first_failure.message or "failed"))
  end
  return res
end

M.key = key
return M
