--- The job runner: one run of a job, from loading it to recording it.
-- `moonsync sync`, `plan` and `apply` are this module driven by the
-- command line, which parses arguments and prints; a test or a script
-- runs a job the same way without it:
--
--     local run = require "moonsync.run"
--     local r = run.new { job = "job.lua", writer = true }
--     r:load()
--     local _, target, diff = r:diff()
--     r:check { diff }
--     local res = r:sync(diff)
--     r:commit()
--
-- The lifecycle: load (the job, sandboxed), lock (a writer holds the
-- job's lock and its target's), diff (the gate's prevent_delete and scope
-- applied), gate (moonsync.policy: the delete budget), sync (through the
-- gate: protect_children), commit (the target's write), verify (the
-- target read again), record (the run history and the report's data:
-- begin_record, Run:record, finish_record).
-- Each step raises what stops the run, with a message naming it; a
-- failed sync raises with its partial result as err.result.
-- @module moonsync.run
local ms = require "moonsync"
local core = require "moonsync.core"
local jobs = require "moonsync.job"
local policy = require "moonsync.policy"
local plans = require "moonsync.plan"
local history = require "moonsync.history"
local lfs = require "lfs"

local fmt = string.format
local rawget, getenv = rawget, os.getenv

local M = {}

-- {====== locks ======}

-- Where lock files live: $XDG_RUNTIME_DIR/moonsync/locks, else the state
-- directory ($XDG_STATE_HOME or ~/.local/state)/moonsync/locks, made 0700
-- before a job is loaded (its permissions would not cover it).
local locks_at, locks_why
local function prepare_lock_dir()
  if locks_at or locks_why then return end
  local base = getenv("XDG_RUNTIME_DIR")
  if not base or base == "" or lfs.attributes(base, "mode") ~= "directory" then
    base = history.state_home()
    if not base then
      locks_why = "cannot place lock files: set XDG_RUNTIME_DIR or HOME"
      return
    end
  end
  local ok, err = pcall(history.mkdirs, base .. "/moonsync/locks")
  if ok then locks_at = err else locks_why = "cannot place lock files: " .. core.error_text(err) end
end

local function lock_dir()
  prepare_lock_dir()
  if not locks_at then error(ms.error("LockError", locks_why), 0) end
  return locks_at
end

local WAIT = "; wait for it with --lock-timeout SECONDS"

-- Locks this process holds until it ends: a lock no longer referenced
-- would be released by the garbage collector.
local held = {}

-- {====== a run ======}

local Run = {}
Run.__index = Run

--- A run of the job at opts.job. opts: `grants` (permissions beyond the
-- job's own: {read, write, net, env} lists), `writer` (the run will
-- write: it locks), `lock_timeout` (seconds), `flags` (global flag names
-- added to the job's), `base_flags` (a flag value they add to, for a run
-- without a job), `policy` (the gate's policy until a job brings its
-- own), `max_deletes`, `target` and `exclude` ({model, uid} pairs: the
-- command line's part of the gate), `progress(stage, cur,
-- total)`, `load_progress` (files loaded in C show their progress),
-- `log(op)` (each operation; the run keeps them too), `ops_log`,
-- `verify` (true, false, or nil: as the target asks), `t0` and `wall0`
-- (when the run began: core.now(), core.wall_time(); now by default).
-- The gate of policy p with the run's own part.
local function gate(p, o)
  return policy.new(p, { max_deletes = o.max_deletes, target = o.target, exclude = o.exclude })
end

function M.new(opts)
  opts = opts or {}
  return setmetatable({ opts = opts, timings = {}, ops = {}, results = {},
                        gate = gate(opts.policy, opts),
                        t0 = opts.t0 or core.now(), wall0 = opts.wall0 or core.wall_time() }, Run)
end

--- Loads the job (sandboxed, see moonsync.job); returns it, the policy
-- handle (the runner's authority for its own outputs and locks) and what
-- identifies its code. A writer's lock directory is made first, while no
-- job permission applies.
function Run:load(path)
  if self.opts.writer then prepare_lock_dir() end
  local job, authority, code = jobs.load(path or self.opts.job, self.opts.grants or {})
  self.job, self.authority, self.code = job, authority, code
  self.job_name, self.job_path = job.name or job.path, job.path
  self.gate = gate(job.policy, self.opts)
  return job, authority, code
end

--- The job's global flags with the run's added (and opts.base_flags), as
-- a number.
function Run:flags()
  local names = {}
  for _, f in ipairs(self.job and self.job.flags or {}) do names[#names + 1] = f end
  for _, f in ipairs(self.opts.flags or {}) do names[#names + 1] = f end
  return (self.opts.base_flags or 0) | ms.flag_value(names)
end

--- One writer per job: a lock named after the job, held until the
-- process ends (file targets are locked on their own as they are opened).
function Run:lock()
  local key = self.job.name or self.job.path
  local name = key:gsub("[^%w%-_.]+", "-"):sub(1, 60) .. "-" .. core.hash(key):sub(1, 12)
  local ok, lock = pcall(self.authority.lock_named, self.authority,
                         lock_dir() .. "/" .. name .. ".lock", self.opts.lock_timeout or 0)
  if not ok then error(ms.error("LockError", core.error_text(lock) .. WAIT), 0) end
  held[#held + 1] = lock
end

--- The target, opened as a writer's: file adapters lock what they open.
function Run:open_target()
  local job, authority, timeout = self.job, self.authority, self.opts.lock_timeout or 0
  authority:targeting(true, timeout)
  local ok, target = pcall(job.get_target, job)
  authority:targeting(false)
  -- a target the job opened at its top level, before locks were asked
  -- for, is locked now (and refused if its file changed meanwhile)
  if ok and type(job.target) == "table" and target.lock_target then
    ok, target = pcall(function() target:lock_target(timeout) return target end)
  end
  if not ok then
    local msg = core.error_text(target)
    if msg:find("locked by another moonsync run", 1, true) then
      error(ms.error("LockError", msg .. WAIT), 0)
    end
    error(target, 0)
  end
  self.target = target
  return target
end

--- Loads source and target (a writer locks the job and its target
-- first), applies the gate (prevent_delete, scope) and diffs. Returns
-- source, target, diff.
function Run:diff()
  local o, t0 = self.opts, core.now()
  if o.writer then self:lock() end
  core.load_progress(o.load_progress or false)
  local ok, err = pcall(function()
    self.source = self.job:get_source()
    self.target = o.writer and self:open_target() or self.job:get_target()
  end)
  core.load_progress(false)
  if not ok then error(err, 0) end
  -- what the adapters noted while loading
  self.warnings, self.debug = {}, {}
  for _, a in ipairs { self.source, self.target } do
    for _, n in ipairs(a.notes and a:notes() or {}) do
      local into = n.level == "warning" and self.warnings or self.debug
      into[#into + 1] = { adapter = a.name, message = n.message, skipped = n.skipped }
    end
  end
  self.gate:prepare(self.target)
  self.timings.load = core.now() - t0
  t0 = core.now()
  self.diffed = self.gate:narrow(self.target:diff_from(self.source, { flags = self:flags(),
                                                                    callback = o.progress }))
  self.timings.diff = core.now() - t0
  return self.source, self.target, self.diffed
end

--- The gate: raises a PolicyError when the diffs' deletes exceed the
-- delete budget (nothing was changed).
function Run:check(diffs)
  self.gate:check(diffs or { self.diffed }, self.target)
end

--- Why the gate would refuse the diffs, or nil.
function Run:over_budget(diffs)
  return self.gate:over_budget(diffs or { self.diffed }, self.target)
end

--- The target's validate hook over every change of the diff: the
-- failures, as "action model uid: why" lines.
function Run:validate(diff)
  local target = self.target
  local hook = target.spec.validate
  if not hook then return {} end
  local failures = {}
  for _, c in ipairs((diff or self.diffed):changes()) do
    local attrs = c.attrs ~= core.null and c.attrs or {}
    -- the model class, as create, update and delete receive it
    local ok, res, msg = pcall(hook, target, c.action, target.model[c.model], c.keys, attrs)
    if not ok then
      failures[#failures + 1] = fmt("%s %s %s: %s", c.action, c.model, c.uid, core.error_text(res))
    elseif res == false then
      failures[#failures + 1] = fmt("%s %s %s: %s", c.action, c.model, c.uid,
                                    core.error_text(msg or "rejected by validate"))
    end
  end
  return failures
end

--- Syncs diff (the run's own by default) from source into the target
-- through the gate, with `flags` (the run's by default), signals trapped
-- (SIGINT/SIGTERM stop it after the current operation). Returns the
-- result; a failure raises with the partial result as err.result (type
-- "Interrupted" for a signal).
function Run:sync(diff, source, flags)
  local o = self.opts
  local ops = self.ops
  local log = o.log
  -- a link to each object written, where the target has one
  local target = self.target
  local url_of = type(target.object_url) == "function" and target.object_url
  core.trap_signals(true)
  local t0 = core.now()
  -- the progress and the log read no record: unchanged subtrees are skipped
  local ok, d, res = pcall(self.target.sync_from, self.target, source or self.source,
    self.gate:sync_options { diff = diff or self.diffed, flags = flags or self:flags(),
      callback = o.progress, ops_log = o.ops_log, skip_unchanged = true,
      log = function(op)
        local url
        if url_of and op.status == "success" and op.op ~= "delete" then
          local ok, u = pcall(url_of, target, op.model, op.uid)
          url = ok and type(u) == "string" and u or nil
        end
        ops[#ops + 1] = { op = op.op, model = op.model, uid = op.uid, status = op.status,
                          result = op.result, message = op.message, duration = op.duration,
                          url = url }
        if log then log(op) end
      end })
  core.trap_signals(false)
  self.timings.sync = (self.timings.sync or 0) + core.now() - t0
  if not ok then
    local r = core.is_error(d) and rawget(d, "result")
    if r then self.results[#self.results + 1] = r end
    error(d, 0)
  end
  self.results[#self.results + 1] = res
  return res
end

--- Writes the target (its commit). Returns the files a killed run had
-- left behind that the write removed (a list, maybe empty).
function Run:commit()
  local target = self.target
  local removed = {}
  if target.commit then
    local t0 = core.now()
    local r = target:commit()
    self.timings.write = core.now() - t0
    if type(r) == "table" then
      for _, f in ipairs(r) do if type(f) == "string" then removed[#removed + 1] = f end end
    end
  end
  return removed
end

--- After a sync: the target read afresh and diffed again (opts.verify;
-- by default for targets that ask for it, as the NetBox and Nautobot
-- presets do). Returns nil when not verified, else the new diff (no
-- diffs: it converged).
function Run:verify()
  local v = self.opts.verify
  if v == false or not (v or self.target.verify) then return nil end
  local again = self.job:get_target()
  local d = again:diff_from(self.source, { flags = self:flags() })
  local targets, excludes = self.gate:scope()
  if targets then d:scope(targets, excludes) end
  return d
end

--- A dry run's findings: why the gate would refuse the diff (or nil) and
-- the validate failures.
function Run:dry_run()
  return self:over_budget(), self:validate()
end

-- {====== apply ======}

--- Applies a decoded plan (moonsync.plan) to the job's target: the plan's
-- job and target are checked, its changes replayed where the target has
-- not drifted, and with `refresh` the drifted records re-planned from the
-- source, all through the one gate. Returns a table: `invalid` (changes
-- that do not fit the target: nothing was applied), or `result`,
-- `refused` (drifted changes left out), `replanned` (their count) and
-- `fresh` (their diff) with refresh.
function Run:apply(plan, where, refresh)
  local job, code = self.job, self.code
  plans.check_job(plan, job, code)
  self:lock()
  local t0 = core.now()
  local target = self:open_target()
  plans.check_target(plan, target, job, code)
  self.gate:prepare(target)
  self.timings.load = core.now() - t0
  local invalid = plans.check(plan, target)
  if #invalid > 0 then return { invalid = invalid } end
  local src, refused = plans.source(plan, target)
  local done = 0
  for _, r in ipairs(refused) do if r.done then done = done + 1 end end
  if done > 0 and done == #plan.diff.changes then
    error(ms.error("PlanError", fmt("%s is stale: the target already holds all %d of its "
      .. "changes (was it applied before?); nothing was applied. Make a new plan", where, done)), 0)
  end
  local flags = plan.flags | ms.flag_value(self.opts.flags or {})
  t0 = core.now()
  local diff = self.gate:narrow(target:diff_from(src, { flags = flags }))
  self.source, self.diffed = src, diff
  -- the drifted records are re-planned (within the gate's scope) before
  -- anything is applied, so that the one gate sees every delete of the
  -- run; and again once the plan is applied, to sync them
  local source, targets
  local _, excludes = self.gate:scope()
  local function replan()
    local d = target:diff_from(source, { flags = flags })
    local hits = d:scope(targets, excludes or {})
    if #self.gate.targets > 0 then d:scope(self.gate.targets, {}) end
    return d, hits
  end
  local fresh, replanned
  if #refused > 0 and refresh then
    targets = {}
    for i, r in ipairs(refused) do targets[i] = { r.change.model, r.change.uid } end
    source = job:get_source()
    fresh = replan()
  end
  self.timings.diff = core.now() - t0
  self:check { diff, fresh }
  local res = { created = 0, updated = 0, deleted = 0, failed = 0, errors = 0 }
  if diff:has_diffs() then res = self:sync(diff, src, flags) end
  if fresh then
    fresh, replanned = replan()
    self:check { diff, fresh }
    if fresh:has_diffs() then
      local r2 = self:sync(fresh, source, flags)
      for _, k in ipairs { "created", "updated", "deleted", "failed", "errors" } do
        res[k] = res[k] + r2[k]
      end
    end
  end
  return { result = res, refused = refused, fresh = fresh, replanned = replanned }
end

-- {====== record ======}

local function wall_iso(t)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t))
end

local function adapter_label(a)
  local ok, id = pcall(a.identity, a)
  return ok and id or tostring(a.name)
end

--- What is known of the run once it ended, in the form moonsync.history
-- stores and moonsync.report shows. `info`: command, exit_status, error,
-- dry_run, labels (the source and target as named), diff_json.
function Run:record(info)
  local r = { command = info.command, exit_status = info.exit_status, error = info.error,
              job = self.job_name, job_path = self.job_path, dry_run = info.dry_run or false,
              timings = self.timings, peak_rss = core.peak_rss(), ops = self.ops,
              data_mappings = self.job and self.job.data_mappings or nil,
              warnings = self.warnings,
              started = wall_iso(self.wall0), ended = wall_iso(core.wall_time()),
              duration = core.now() - self.t0 }
  local labels = info.labels or self.labels or {}
  if self.source then r.source = labels[1] or adapter_label(self.source) end
  if self.target then r.target = labels[2] or adapter_label(self.target) end
  if self.diffed then
    r.diff_json = info.diff_json or self.diffed:json()
    r.summary = self.diffed:summary()
    r.planned = self.diffed:counts()
  end
  if #self.results > 0 then
    local sum = { created = 0, updated = 0, deleted = 0, failed = 0 }
    for _, res in ipairs(self.results) do
      sum.created, sum.updated = sum.created + res.created, sum.updated + res.updated
      sum.deleted, sum.failed = sum.deleted + res.deleted, sum.failed + res.failed + res.errors
    end
    r.result = sum
  end
  r.counts = history.counts(r.planned, r.ops)
  return r
end

--- Opens the run history (moonsync.history: `opts.history`,
-- `opts["no-history"]`, $MOONSYNC_HISTORY) and records the start of a
-- run of `cmd` with `argv`. Returns the recorder, or nil when the history
-- is off or cannot be written, with why (the run goes on).
function M.begin_record(cmd, argv, opts)
  local ok, path = pcall(history.path, opts)
  if not ok then return nil, core.error_text(path) end
  if not path then return nil end
  local h, id
  ok, h = pcall(history.open, path)
  if ok then ok, id = pcall(h.begin, h, { command = cmd, argv = argv, dry_run = opts["dry-run"],
                                          job_path = opts.args and opts.args[1] }) end
  if not ok then return nil, fmt("run history not recorded: %s", core.error_text(h or id)) end
  return { h = h, id = id }
end

--- Writes the record of a run (Run:record) into the history it began in,
-- keeping the newest `keep` runs (or $MOONSYNC_HISTORY_KEEP, or
-- history.DEFAULT_KEEP). Sets record.id; returns the warnings (a list).
function M.finish_record(rec, record, keep)
  local warnings = {}
  local v = keep or getenv("MOONSYNC_HISTORY_KEEP")
  local n = tonumber(v)
  if v and (not n or n < 1) then
    warnings[#warnings + 1] = fmt("MOONSYNC_HISTORY_KEEP expects a number of runs, got '%s'; "
                                  .. "keeping %d", v, history.DEFAULT_KEEP)
    n = nil
  end
  local done, err = pcall(rec.h.finish, rec.h, rec.id, record,
                          n and math.floor(n) or history.DEFAULT_KEEP)
  if not done then
    warnings[#warnings + 1] = fmt("run history not recorded: %s", core.error_text(err))
  end
  record.id = rec.id
  rec.h:close()
  return warnings
end

return M
