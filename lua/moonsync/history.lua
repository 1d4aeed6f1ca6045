--- The run history: every diff, sync, plan and apply of the command line
-- recorded in an SQLite database, with the diff and one row per
-- operation. See docs/history.md.
--
-- Where it lives: `--history FILE`, else `$MOONSYNC_HISTORY` (`off`
-- turns it off, as `--no-history` does), else
-- `$XDG_STATE_HOME/moonsync/history.sqlite` (`~/.local/state/...` when
-- unset). Concurrent runs write safely: WAL, a busy timeout, and each
-- run's rows in one transaction. The schema is versioned
-- (`PRAGMA user_version`) and migrated forward when opened. Everything
-- text that comes from a run passes through moonsync.redact first.
-- @module moonsync.history
local core = require "moonsync.core"
local redact = require "moonsync.redact"
local cjson = require "cjson"
local lfs = require "lfs"

local fmt, concat, getenv = string.format, table.concat, os.getenv
local ipairs, pairs, type, tostring, error = ipairs, pairs, type, tostring, error

local M = {}

--- Runs kept when nothing says otherwise (`--history-keep`,
-- `MOONSYNC_HISTORY_KEEP`).
M.DEFAULT_KEEP = 1000

local BUSY_MS = 10000

-- {====== schema and migrations ======}

-- MIGRATIONS[v] takes a database of version v - 1 to version v; each runs
-- in the transaction that also sets user_version.
local MIGRATIONS = {}

MIGRATIONS[1] = function(db)
  db:exec [[
    CREATE TABLE runs (
      id INTEGER PRIMARY KEY,
      command TEXT NOT NULL,         -- diff, sync, plan, apply
      argv TEXT NOT NULL,            -- the command line, as JSON
      job TEXT, job_path TEXT,
      source TEXT, target TEXT,
      dry_run INTEGER NOT NULL DEFAULT 0,
      started TEXT NOT NULL, ended TEXT,
      duration REAL,
      exit_status INTEGER,           -- NULL while running
      error TEXT,
      n_create INTEGER, n_update INTEGER, n_delete INTEGER,
      n_unchanged INTEGER, n_skip INTEGER,
      created INTEGER, updated INTEGER, deleted INTEGER, failed INTEGER,
      load_s REAL, diff_s REAL, sync_s REAL, write_s REAL,
      peak_rss INTEGER,
      diff TEXT                      -- the diff, moonsync-diff/1 JSON
    );
    CREATE TABLE operations (
      run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
      seq INTEGER NOT NULL,
      op TEXT NOT NULL, model TEXT NOT NULL, uid TEXT NOT NULL,
      status TEXT, result TEXT, message TEXT, duration REAL,
      PRIMARY KEY (run_id, seq)
    );
  ]]
end

-- Counts per model and action, and a job index; runs recorded before
-- get their counts from their diff and operations.
MIGRATIONS[2] = function(db)
  db:exec [[
    CREATE TABLE counts (
      run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
      model TEXT NOT NULL, action TEXT NOT NULL,
      planned INTEGER NOT NULL, done INTEGER NOT NULL, failed INTEGER NOT NULL,
      PRIMARY KEY (run_id, model, action)
    );
    CREATE INDEX runs_by_job ON runs(job, id);
  ]]
  local ops = db:prepare("SELECT op, model, result FROM operations WHERE run_id = ?1")
  for _, r in ipairs(db:prepare("SELECT id, diff FROM runs"):rows()) do
    local planned = {}
    if r.diff then
      local ok, d = pcall(core.json_decode, r.diff, "diff")
      if ok and type(d) == "table" then planned = M.planned(d.changes) end
    end
    M.store_counts(db, r.id, M.counts(planned, ops:rows(r.id)))
  end
end

-- A link from each operation to the object it wrote, in the target's own
-- interface, and the job's data mappings (SSoT's table of what each model
-- is on either side).
MIGRATIONS[3] = function(db)
  db:exec [[
    ALTER TABLE operations ADD COLUMN url TEXT;
    ALTER TABLE runs ADD COLUMN data_mappings TEXT;
  ]]
end

-- What the adapters noted while loading (records they left out, and why).
MIGRATIONS[4] = function(db)
  db:exec [[ ALTER TABLE runs ADD COLUMN warnings TEXT; ]]
end

M.VERSION = #MIGRATIONS

-- Runs fn() in one write transaction: committed when it returns, rolled
-- back (and the error raised again) when it raises.
local function transaction(db, fn)
  db:exec("BEGIN IMMEDIATE")
  local ok, err = pcall(fn)
  if not ok then
    db:exec("ROLLBACK")
    error(err, 0)
  end
  db:exec("COMMIT")
end

local function migrate(db, path)
  local v = db:prepare("PRAGMA user_version"):rows()[1].user_version
  if v > M.VERSION then
    error(fmt("%s: history schema version %d is newer than this moonsync's (%d)",
              path, v, M.VERSION), 0)
  end
  if v == M.VERSION then return end
  transaction(db, function()
    -- another run may have migrated it while this one waited
    v = db:prepare("PRAGMA user_version"):rows()[1].user_version
    for n = v + 1, M.VERSION do MIGRATIONS[n](db) end
    db:exec(fmt("PRAGMA user_version = %d", M.VERSION))
  end)
end

-- {====== where ======}

--- The database path for command-line options `o` (`history`,
-- `no-history`), or nil when history is off.
function M.path(o)
  if o["no-history"] then return nil end
  if o.history then return o.history end
  local env = getenv("MOONSYNC_HISTORY")
  if env == "off" then return nil end
  if env and env ~= "" then return env end
  local base = M.state_home()
  if not base then
    error("cannot place the run history: set XDG_STATE_HOME or HOME, or use --no-history", 0)
  end
  return base .. "/moonsync/history.sqlite"
end

--- moonsync's state directory: $XDG_STATE_HOME, else ~/.local/state; nil
-- when neither can be told.
function M.state_home()
  local base = getenv("XDG_STATE_HOME")
  if base and base ~= "" then return base end
  local home = getenv("HOME")
  if not home or home == "" then return nil end
  return home .. "/.local/state"
end

--- Creates a directory of the command line's own and its parents, for
-- its owner only (0700): the history, locks and state hold every run's
-- values.
function M.mkdirs(dir)
  return core.mkdirs(dir, tonumber("700", 8))
end

--- Opens (creating and migrating) the history database at path: its
-- files are the owner's only (0600), and so is the directory it creates.
function M.open(path)
  local dir = path:match("^(.*)/[^/]*$")
  -- moonsync's own state directory is tightened if an older moonsync made
  -- it open; a directory the operator named is only made when missing
  local own = (M.state_home() or "") .. "/moonsync"
  if dir and dir ~= "" and (dir == own or lfs.attributes(dir, "mode") == nil) then
    M.mkdirs(dir)
  end
  local db = core.sqlite_open(path, BUSY_MS, true)
  db:exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON")
  migrate(db, path)
  return setmetatable({ db = db, path = path }, { __index = M })
end

-- {====== recording ======}

local WRITES = { create = true, update = true, delete = true }

--- The changes of a diff's change list (moonsync-diff/1 `changes`) per
-- model and action, in the form of `diff:counts()`: { {model, action, n} }.
function M.planned(changes)
  local by, list = {}, {}
  for _, c in ipairs(changes or {}) do
    local key = tostring(c.model) .. "\0" .. tostring(c.action)
    local p = by[key]
    if not p then
      p = { model = c.model, action = c.action, n = 0 }
      by[key] = p
      list[#list + 1] = p
    end
    p.n = p.n + 1
  end
  return list
end

--- Counts per (model, action) from what was planned (`diff:counts()`) and
-- the operations of the run: planned, done (the operation's result "ok")
-- and failed.
function M.counts(planned, ops)
  local by = {}
  local function slot(model, action)
    local key = model .. "\0" .. action
    local c = by[key]
    if not c then
      c = { model = model, action = action, planned = 0, done = 0, failed = 0 }
      by[key] = c
    end
    return c
  end
  for _, p in ipairs(planned or {}) do
    local s = slot(p.model, p.action)
    s.planned = s.planned + p.n
  end
  for _, op in ipairs(ops or {}) do
    local action = op.op
    if WRITES[action] then
      local s = slot(op.model, action)
      if op.result == "ok" then s.done = s.done + 1 else s.failed = s.failed + 1 end
    end
  end
  local list = {}
  for _, c in pairs(by) do list[#list + 1] = c end
  table.sort(list, function(a, b)
    if a.model ~= b.model then return a.model < b.model end
    return a.action < b.action
  end)
  return list
end

function M.store_counts(db, run_id, counts)
  local st = db:prepare("INSERT INTO counts (run_id, model, action, planned, done, failed) "
                        .. "VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
  for _, c in ipairs(counts) do
    st:run(run_id, c.model, c.action, c.planned, c.done, c.failed)
  end
end

local function now_iso()
  local t = core.wall_time()
  return os.date("!%Y-%m-%dT%H:%M:%S", math.floor(t)) .. fmt(".%03dZ", math.floor(t % 1 * 1000))
end

local function red(s)
  if s == nil then return nil end
  return redact.text(tostring(s))
end

--- Records the start of a run: `info` = {command, argv (list), job,
-- job_path, dry_run}. Returns its id.
function M:begin(info)
  local argv = {}
  for i, a in ipairs(info.argv or {}) do argv[i] = redact.text(a) end
  self.db:prepare("INSERT INTO runs (command, argv, job, job_path, dry_run, started) "
                  .. "VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
    :run(info.command, cjson.encode(argv), info.job, info.job_path,
         info.dry_run and 1 or 0, now_iso())
  return self.db:last_id()
end

--- Records how run `id` ended. `r` = {exit_status, error, duration, job,
-- job_path, source, target, summary, result, timings, peak_rss, diff_json,
-- planned or counts, ops}; `keep` prunes to the newest `keep` runs.
function M:finish(id, r, keep)
  local db = self.db
  local s, res, t = r.summary or {}, r.result or {}, r.timings or {}
  local diff = r.diff_json and red(r.diff_json)
  transaction(db, function()
    db:prepare([[UPDATE runs SET ended = ?2, duration = ?3, exit_status = ?4, error = ?5,
        job = coalesce(?6, job), job_path = coalesce(?7, job_path), source = ?8, target = ?9,
        n_create = ?10, n_update = ?11, n_delete = ?12, n_unchanged = ?13, n_skip = ?14,
        created = ?15, updated = ?16, deleted = ?17, failed = ?18,
        load_s = ?19, diff_s = ?20, sync_s = ?21, write_s = ?22, peak_rss = ?23, diff = ?24,
        data_mappings = ?25, warnings = ?26
        WHERE id = ?1]])
      :run(id, now_iso(), r.duration, r.exit_status,
           red(r.error), r.job, r.job_path, red(r.source), red(r.target),
           s.create, s.update, s.delete, s["no-change"], s.skip,
           res.created, res.updated, res.deleted,
           res.created and (res.failed or 0) + (res.errors or 0) or nil,
           t.load, t.diff, t.sync, t.write, r.peak_rss, diff,
           r.data_mappings and #r.data_mappings > 0 and red(cjson.encode(r.data_mappings)) or nil,
           r.warnings and #r.warnings > 0 and red(cjson.encode(r.warnings)) or nil)
    local st = db:prepare("INSERT INTO operations (run_id, seq, op, model, uid, status, result, "
                          .. "message, duration, url) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")
    for i, op in ipairs(r.ops or {}) do
      st:run(id, i, op.op, op.model, red(op.uid), op.status, op.result,
             op.message and red(op.message) or nil, op.duration, op.url and red(op.url) or nil)
    end
    M.store_counts(db, id, r.counts or M.counts(r.planned, r.ops))
    if keep then M.prune(db, keep) end
  end)
end

--- Keeps the newest `keep` runs (their operations and counts with them).
function M.prune(db, keep)
  db:prepare("DELETE FROM runs WHERE id <= (SELECT id FROM runs ORDER BY id DESC "
             .. "LIMIT 1 OFFSET ?1)"):run(keep)
end

-- {====== reading ======}

local function run_table(row)
  return {
    id = row.id, command = row.command, argv = cjson.decode(row.argv),
    job = row.job, job_path = row.job_path, source = row.source, target = row.target,
    dry_run = row.dry_run == 1, started = row.started, ended = row.ended,
    duration = row.duration, exit_status = row.exit_status, error = row.error,
    summary = row.n_create and { create = row.n_create, update = row.n_update,
                                 delete = row.n_delete, ["no-change"] = row.n_unchanged,
                                 skip = row.n_skip } or nil,
    result = row.created and { created = row.created, updated = row.updated,
                               deleted = row.deleted, failed = row.failed } or nil,
    timings = { load = row.load_s, diff = row.diff_s, sync = row.sync_s, write = row.write_s },
    peak_rss = row.peak_rss,
    data_mappings = row.data_mappings and cjson.decode(row.data_mappings) or nil,
    warnings = row.warnings and cjson.decode(row.warnings) or nil,
  }
end

local function with_counts(db, runs)
  local st = db:prepare("SELECT model, action, planned, done, failed FROM counts "
                        .. "WHERE run_id = ?1 ORDER BY model, action")
  for _, r in ipairs(runs) do r.counts = st:rows(r.id) end
  return runs
end

--- Runs newest first: `opts` = {job = NAME, limit = N}.
function M:list(opts)
  local sql = { "SELECT * FROM runs" }
  local args = {}
  if opts.job then
    sql[#sql + 1] = "WHERE job = ?1 OR job_path = ?1"
    args[1] = opts.job
  end
  sql[#sql + 1] = fmt("ORDER BY id DESC LIMIT %d", opts.limit or 20)
  local rows = self.db:prepare(concat(sql, " ")):rows(table.unpack(args))
  local runs = {}
  for i, row in ipairs(rows) do runs[i] = run_table(row) end
  return with_counts(self.db, runs)
end

--- One run with its diff (JSON text) and operations, or nil.
function M:get(id)
  local row = self.db:prepare("SELECT * FROM runs WHERE id = ?1"):rows(id)[1]
  if not row then return nil end
  local run = with_counts(self.db, { run_table(row) })[1]
  run.diff_json = row.diff
  run.ops = self.db:prepare("SELECT op, model, uid, status, result, message, duration, url "
                            .. "FROM operations WHERE run_id = ?1 ORDER BY seq"):rows(id)
  return run
end

function M:close() self.db:close() end

return M
