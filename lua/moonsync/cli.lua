--- The moonsync command line for jobs, file syncs and plans: `diff
-- job.lua`, `diff --schema ...`, `sync job.lua`, `sync --schema ...`,
-- `plan`, `apply`, `inspect` and `history`. (`run` is handled in C.)
-- Every diff, sync, plan and apply is recorded in the run history
-- (moonsync.history) and can leave an HTML report (moonsync.report).
-- Exit codes follow Terraform's -detailed-exitcode: 0 nothing to do or
-- done, 1 error, 2 changes pending (diff, --dry-run); 130 interrupted.
-- @module moonsync.cli
local ms = require "moonsync"
local core = require "moonsync.core"
local jobs = require "moonsync.job"
local policy = require "moonsync.policy"
local runs = require "moonsync.run"
local util = require "moonsync.util"
local plans = require "moonsync.plan"
local redact = require "moonsync.redact"
local cjson = require "cjson"
local history = require "moonsync.history"

local lfs = require "lfs"

local fmt, concat = string.format, table.concat
local stderr = io.stderr

-- Standard output, with the first error writing it kept (a full disk, a
-- reader that went away): the command ends knowing it (see M.main).
local out_error
local stdout = {}
function stdout.write(self, ...)
  if not out_error then
    local ok, err = io.stdout:write(...)
    if not ok then out_error = err end
  end
  return self
end
function stdout.flush()
  if not out_error then
    local ok, err = io.stdout:flush()
    if not ok then out_error = err end
  end
end
local rawget = rawget
local getmetatable = debug.getmetatable

local M = {}

local EXIT_OK, EXIT_ERROR, EXIT_PENDING, EXIT_INTERRUPTED = 0, 1, 2, 130

local JOB_OPTIONS = "  job options: [--allow-read PATH]... [--allow-write PATH]...\n"
  .. "    [--allow-net HOST[:PORT]]... [--allow-env NAME]... [--timings] [--no-progress]\n"
local RUN_OPTIONS = "  run options: [--report FILE.html] [--history FILE | --no-history]\n"
  .. "    [--history-keep N]\n"
local EXITS = "exit: 0 done or nothing to do, 1 error, 2 changes pending, 130 interrupted\n"

--- The usage text of each command (`moonsync CMD --help`, `moonsync help CMD`).
local USAGE = {
  diff = "usage: moonsync diff JOB.lua [--format str|dict|summary|json] [--flag NAME]...\n"
      .. "         [--target MODEL:UID]... [--exclude MODEL:UID]...\n"
      .. JOB_OPTIONS
      .. "       moonsync diff --schema SCHEMA.json SOURCE.json DEST.json\n"
      .. "         [--format str|dict|summary|json] [--flag NAME]... [--target MODEL:UID]...\n"
      .. "         [--exclude MODEL:UID]... [--source-name NAME] [--dest-name NAME]\n"
      .. "         [--skip-duplicates] [--timings] [--no-progress]\n"
      .. RUN_OPTIONS .. EXITS,
  sync = "usage: moonsync sync JOB.lua [--dry-run] [--max-deletes N|P%] [--flag NAME]...\n"
      .. "         [--target MODEL:UID]... [--exclude MODEL:UID]... [--log-format text|json]\n"
      .. "         [--lock-timeout SECONDS] [--verify | --no-verify] [--show]\n"
      .. JOB_OPTIONS
      .. "       moonsync sync --schema SCHEMA.json SOURCE.json DEST.json --out AFTER.json\n"
      .. "         [--ops-log OPS.json] [--dry-run] [--max-deletes N|P%] [--flag NAME]...\n"
      .. "         [--target MODEL:UID]... [--exclude MODEL:UID]... [--source-name NAME]\n"
      .. "         [--dest-name NAME] [--skip-duplicates] [--log-format text|json]\n"
      .. "         [--timings] [--no-progress]\n"
      .. RUN_OPTIONS .. EXITS,
  plan = "usage: moonsync plan JOB.lua -o PLAN.json [--flag NAME]... [--target MODEL:UID]...\n"
      .. "         [--exclude MODEL:UID]... [--max-deletes N|P%]\n"
      .. JOB_OPTIONS .. RUN_OPTIONS .. EXITS,
  apply = "usage: moonsync apply PLAN.json [--job JOB.lua] [--refresh] [--max-deletes N|P%]\n"
      .. "         [--flag NAME]... [--target MODEL:UID]... [--exclude MODEL:UID]...\n"
      .. "         [--log-format text|json] [--lock-timeout SECONDS]\n"
      .. JOB_OPTIONS .. RUN_OPTIONS .. EXITS,
  inspect = "usage: moonsync inspect JOB.lua [--format text|json]\n"
      .. "         [--allow-read PATH]... [--allow-write PATH]... [--allow-net HOST[:PORT]]...\n"
      .. "         [--allow-env NAME]...\n"
      .. "prints what the job declares: name, flags, policy, permissions and data mappings\n"
      .. "exit: 0 done, 1 error\n",
  schema = "usage: moonsync schema OPENAPI.json|nautobot [RESOURCE...]\n"
      .. "lists the resources of an OpenAPI document (`nautobot`: Nautobot 3.1's, bundled);\n"
      .. "with RESOURCE names (dcim.devices), prints a Lua module of models for them\n"
      .. "exit: 0 done, 1 error\n",
  history = "usage: moonsync history [--job NAME] [--limit N] [--format text|json]\n"
      .. "         [--history FILE]\n"
      .. "       moonsync history show ID [--format text|json] [--report FILE.html]\n"
      .. "         [--history FILE]\n"
      .. "lists recorded runs newest first, or shows one with its operations\n"
      .. "exit: 0 done, 1 error\n",
}
M.USAGE = USAGE

-- The command line's own control flow: a usage or input problem (one
-- line, exit 1) or an exit code to return. Their metatable is private to
-- this file, so no value a job raises can pass for one.
local Control = {}
local function fail(msg) error(setmetatable({ cli = msg }, Control), 0) end
local function quit(code) error(setmetatable({ exit = code }, Control), 0) end

-- {====== arguments ======}

local OPTS = {
  format = "value", flag = "list", target = "list", exclude = "list",
  ["dry-run"] = "bool", ["max-deletes"] = "value", ["log-format"] = "value",
  ["no-progress"] = "bool", schema = "value", out = "value", ["ops-log"] = "value",
  ["source-name"] = "value", ["dest-name"] = "value", o = "value", job = "value",
  refresh = "bool", ["skip-duplicates"] = "bool",
  ["allow-read"] = "list", ["allow-write"] = "list", ["allow-net"] = "list",
  ["allow-env"] = "list", ["lock-timeout"] = "value", verify = "bool", ["no-verify"] = "bool",
  timings = "bool", report = "value", history = "value", ["no-history"] = "bool",
  ["history-keep"] = "value", limit = "value", show = "bool",
}

-- The options of each form of each command: any other is an error.
local JOB = { "allow-read", "allow-write", "allow-net", "allow-env", "timings", "no-progress" }
local RUN = { "report", "history", "no-history", "history-keep" }
local function form(...)
  local set = {}
  for _, list in ipairs { ... } do
    for _, k in ipairs(list) do set[k] = true end
  end
  return set
end
local FORMS = {
  diff = form(JOB, RUN, { "format", "flag", "target", "exclude" }),
  diff_files = form(RUN, { "schema", "format", "flag", "target", "exclude", "source-name",
                           "dest-name", "skip-duplicates", "timings", "no-progress" }),
  sync = form(JOB, RUN, { "dry-run", "max-deletes", "flag", "target", "exclude", "log-format",
                          "lock-timeout", "verify", "no-verify", "show" }),
  sync_files = form(RUN, { "schema", "out", "ops-log", "dry-run", "max-deletes", "flag",
                           "target", "exclude", "source-name", "dest-name", "skip-duplicates",
                           "log-format", "timings", "no-progress" }),
  plan = form(JOB, RUN, { "o", "flag", "target", "exclude", "max-deletes" }),
  apply = form(JOB, RUN, { "job", "refresh", "max-deletes", "flag", "target", "exclude",
                           "log-format", "lock-timeout" }),
  inspect = form({ "allow-read", "allow-write", "allow-net", "allow-env", "format" }),
  history = form({ "job", "limit", "format", "history", "report" }),
  schema = form({}),
}
local FORMATS = { diff = { str = true, dict = true, summary = true, json = true },
                  inspect = { text = true, json = true }, history = { text = true, json = true } }

local function parse(cmd, argv)
  local o = { flag = {}, target = {}, exclude = {}, args = {}, ["allow-read"] = {},
              ["allow-write"] = {}, ["allow-net"] = {}, ["allow-env"] = {} }
  local i = 1
  while i <= #argv do
    local a = argv[i]
    local name = a:match("^%-%-([%w-]+)$") or a:match("^%-(o)$")
    if name == "exit-code" and cmd == "diff" then
      fail("--exit-code is no longer needed: diff exits 2 when there are differences, "
           .. "0 when there are none, 1 on an error")
    end
    if name then
      local kind = OPTS[name]
      if not kind then fail(fmt("unknown option '%s'\n%s", a, USAGE[cmd])) end
      if kind == "bool" then
        o[name] = true
      else
        local v = argv[i + 1]
        if v == nil then fail(fmt("option '%s' needs a value", a)) end
        if kind == "list" then o[name][#o[name] + 1] = v else o[name] = v end
        i = i + 1
      end
    else
      o.args[#o.args + 1] = a
    end
    i = i + 1
  end
  return o
end

local function scopes(list, what)
  local out = {}
  for i, s in ipairs(list) do
    local model, uid = s:match("^([^:]+):(.+)$")
    if not model then fail(fmt("--%s expects MODEL:UID, got '%s'", what, s)) end
    out[i] = { model, uid }
  end
  return out
end

local function lock_timeout(o)
  local v = o["lock-timeout"]
  if v == nil then return 0 end
  local n = tonumber(v)
  if not n or n < 0 or n ~= n then fail(fmt("--lock-timeout expects seconds, got '%s'", v)) end
  return n
end

-- Checks every option of the command line before anything is loaded: an
-- option the command's form does not take, a value out of its range, a
-- flag or a scope that does not parse, all fail at once.
local function check(cmd, o)
  local key = o.schema and (cmd == "sync" or cmd == "diff") and cmd .. "_files" or cmd
  local allowed = FORMS[key]
  for name in pairs(OPTS) do
    local given = o[name]
    if type(given) == "table" then given = #given > 0 end
    if given and not allowed[name] then
      fail(fmt("option --%s does not apply to moonsync %s%s\n%s", name, cmd,
               key ~= cmd and " --schema" or "", USAGE[cmd]))
    end
  end
  if o.history and o["no-history"] then fail("--history and --no-history: choose one") end
  for _, name in ipairs { "history-keep", "limit" } do  -- numbers of runs
    local n = o[name] and tonumber(o[name])
    if o[name] and (not n or n < 1 or n ~= math.floor(n)) then
      fail(fmt("--%s expects a number of runs (1 or more), got '%s'", name, o[name]))
    end
  end
  if o.report and not o.report:match("%.html?$") then
    fail(fmt("--report names an HTML file (FILE.html), got '%s'", o.report))
  end
  if o.format and not FORMATS[cmd][o.format] then
    local names = {}
    for k in pairs(FORMATS[cmd]) do names[#names + 1] = k end
    table.sort(names)
    fail(fmt("unknown format '%s' (%s)", o.format, concat(names, ", ")))
  end
  if o["log-format"] and o["log-format"] ~= "text" and o["log-format"] ~= "json" then
    fail(fmt("unknown log format '%s' (text, json)", o["log-format"]))
  end
  if o["max-deletes"] then
    local ok, err = pcall(policy.parse_budget, o["max-deletes"], "--max-deletes")
    if not ok then fail(core.error_text(err)) end
  end
  local ok, err = pcall(core.flags, o.flag, false)
  if not ok then fail("--flag: " .. core.error_text(err)) end
  if o.verify and o["no-verify"] then fail("--verify and --no-verify: choose one") end
  lock_timeout(o)
  scopes(o.target, "target")
  scopes(o.exclude, "exclude")
end

-- {====== reporting ======}

-- Records whose change did not happen, whatever the reason: a handler
-- returning nothing or a failure status, an error, a refused delete, a
-- change not attempted because its parent's failed.
local function failures(res) return res.failed + res.errors end

-- "N failed", and when some did, how: DiffSync's failures (a handler
-- returned no record, or a change not attempted) and raised errors.
local function failed_text(res)
  local n = failures(res)
  if n == 0 then return "0 failed" end
  return fmt("%d failed (%d not done, %d raised)", n, res.failed, res.errors)
end

local function mib(bytes) return bytes / (1024 * 1024) end

-- "load 0.120 s, diff 0.030 s; peak memory 41.2 MiB"
local function timings_line(timings)
  local parts = {}
  for _, k in ipairs { "load", "diff", "sync", "write", "output" } do
    if timings[k] then parts[#parts + 1] = fmt("%s %.3f s", k, timings[k]) end
  end
  return fmt("%s; peak memory %.1f MiB", concat(parts, ", "), mib(core.peak_rss()))
end

local function progress_bar(enabled)
  if not enabled then return nil end
  local last, t0, phase = 0, core.now(), nil
  return function(stage, cur, total)
    local t = core.now()
    if stage ~= phase then phase, t0 = stage, t end
    if cur < total and t - last < 0.1 then return end
    last = t
    local rate = cur / math.max(t - t0, 1e-6)
    local eta = rate > 0 and (total - cur) / rate or 0
    stderr:write(fmt("\r%-5s %d/%d %3d%%  %.0f/s  ETA %.0fs   ", stage, cur, total,
                     total > 0 and math.floor(cur * 100 / total) or 100, rate, eta))
    if cur >= total then stderr:write("\n") end
  end
end

local function json_str(s)
  return '"' .. tostring(s):gsub('[%c"\\]', function(c)
    local map = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
    return map[c] or fmt("\\u%04x", c:byte())
  end) .. '"'
end

-- Operation logs: every message goes through the one redaction path.
local function log_writer(format)
  if format == "json" then
    return function(op)
      stderr:write(fmt('{"op": %s, "model": %s, "uid": %s, "status": %s, "result": %s, "message": %s, "duration": %.6f}\n',
        json_str(op.op), json_str(op.model), json_str(op.uid), json_str(op.status),
        json_str(op.result), json_str(redact.text(op.message or "")), op.duration))
    end
  end
  -- text: failures only
  return function(op)
    if op.result ~= "ok" and op.result ~= "unchanged" then
      stderr:write(fmt("%s %s %s: %s (%s)\n", op.op, op.model, op.uid, op.status,
                       redact.text(op.message or op.result)))
    end
  end
end

local function summary_line(s)
  return fmt("%d to create, %d to update, %d to delete, %d unchanged, %d skipped",
             s.create, s.update, s.delete, s["no-change"], s.skip)
end

-- {====== shared steps ======}

-- The permissions the command line grants (--allow-*).
local function grants(o)
  return { read = o["allow-read"], write = o["allow-write"], net = o["allow-net"],
           env = o["allow-env"] }
end

local function show_progress(o) return not o["no-progress"] and core.isatty(2) end

-- The run of a job command: moonsync.run with the command line's options.
-- A writer (sync, apply) will take locks.
local function job_run(o, writer)
  local r = runs.new { grants = grants(o), writer = writer, lock_timeout = lock_timeout(o),
                       flags = o.flag, max_deletes = o["max-deletes"],
                       target = scopes(o.target, "target"), exclude = scopes(o.exclude, "exclude"),
                       load_progress = show_progress(o), progress = progress_bar(show_progress(o)),
                       t0 = o.t0, wall0 = o.wall0,
                       log = log_writer(o["log-format"] or "text"),
                       verify = o.verify or (o["no-verify"] and false) or nil }
  o.run = r
  return r
end

-- Loads the job's adapters and computes the (scoped) diff, showing
-- progress on a terminal.
local function job_diff(r, o)
  local show = show_progress(o)
  local t0 = core.now()
  if show then stderr:write("load  source and target...") end
  local source, target, diff = r:diff()
  if show then
    stderr:write(fmt("\rload  %d + %d records in %.2f s        \n", source:count(), target:count(),
                     core.now() - t0))
  end
  for _, d in ipairs(r.debug or {}) do
    stderr:write(fmt("moonsync: debug: %s: %s\n", d.adapter, redact.text(d.message)))
  end
  local skipped = 0
  for _, w in ipairs(r.warnings or {}) do
    stderr:write(fmt("moonsync: warning: %s: %s\n", w.adapter, redact.text(w.message)))
    if w.skipped then skipped = skipped + 1 end
  end
  if skipped > 0 then
    stderr:write(fmt("moonsync: %d source record%s skipped (see the warnings above)\n", skipped,
                     skipped == 1 and "" or "s"))
  end
  return source, target, diff
end

-- Says what a sync that raised err had done (diff: what it was to do),
-- then ends the command: 130 when interrupted, else err raised again.
local function stopped(err, diff)
  local p = core.is_error(err) and rawget(err, "result")
  if p and rawget(err, "type") == "Interrupted" then
    local s = diff:summary()
    local done = p.created + p.updated + p.deleted
    stderr:write(fmt("\ninterrupted: %d created, %d updated, %d deleted, %s; "
      .. "%d of %d changes not done\n", p.created, p.updated, p.deleted, failed_text(p),
      math.max(0, s.create + s.update + s.delete - done - failures(p)),
      s.create + s.update + s.delete))
    quit(EXIT_INTERRUPTED)
  end
  if p then
    stderr:write(fmt("sync stopped after %d created, %d updated, %d deleted, %s\n",
                     p.created, p.updated, p.deleted, failed_text(p)))
  end
  error(err, 0)
end

-- Syncs through run r (see stopped); returns the result.
local function run_sync(r)
  local ok, res = pcall(r.sync, r)
  if not ok then stopped(res, r.diffed) end
  return res
end

local function report(res, timings)
  stdout:write(fmt("sync complete: %d created, %d updated, %d deleted, %s\n",
    res.created, res.updated, res.deleted, failed_text(res)))
  stdout:write("timings: ", timings_line(timings), "\n")
end

-- Prints the diff; its JSON text, once made, is kept for the run's record.
local function print_diff(diff, format, o)
  format = format or "str"
  if format == "str" then stdout:write(diff:str(), "\n")
  elseif format == "dict" then stdout:write(diff:dict_json(), "\n")
  elseif format == "summary" then stdout:write(diff:summary_json(), "\n")
  else
    o.diff_json = diff:json()
    stdout:write(o.diff_json, "\n")
  end
end

local function pending(diff)
  return diff:has_diffs() and EXIT_PENDING or EXIT_OK
end

local function commit(r)
  for _, f in ipairs(r:commit()) do
    stderr:write(fmt("moonsync: removed %s, left behind by a run that was killed\n", f))
  end
end

-- budget: why the delete budget would refuse the real sync, or nil;
-- failures: what validate hooks reject
local function dry_run(diff, budget, failures_)
  local s = diff:summary()
  stdout:write(diff:str(), "\n", "dry run: ", summary_line(s), "\n")
  local status = pending(diff)
  if budget then
    stdout:write(fmt("the delete budget would refuse this sync: %s; it would change nothing. %s\n",
                     budget, policy.ALLOW_MORE))
    status = EXIT_ERROR
  end
  if failures_ and #failures_ > 0 then
    stdout:write(fmt("%d %s would fail validation:\n", #failures_,
                     #failures_ == 1 and "change" or "changes"))
    for _, f in ipairs(failures_) do stdout:write("  ", redact.text(f), "\n") end
    status = EXIT_ERROR
  end
  return status
end

-- After a sync: says whether the target, read again, matches the source.
-- Returns how many changes did not converge.
local function verify(r)
  local d = r:verify()
  if d == nil then return 0 end
  if not d:has_diffs() then
    stdout:write("verify: the target, read again, matches the source\n")
    return 0
  end
  local s = d:summary()
  local n = s.create + s.update + s.delete
  stderr:write(fmt("verify: %d %s did not converge (the target, read again, still differs):\n%s\n",
                   n, n == 1 and "change" or "changes", redact.text(d:str())))
  return n
end

-- {====== commands ======}

-- The --schema forms: both documents loaded at once (in two threads),
-- then diffed, with no job and so no job policy: DiffSync's semantics.
-- Returns the run, source, target, diff.
local function files_diff(o)
  local t0 = core.now()
  local schema = ms.schema(o.schema)
  -- no job: DiffSync's sync, so no protect_children
  local r = runs.new { policy = { protect_children = false }, base_flags = schema.flags,
                       flags = o.flag, max_deletes = o["max-deletes"],
                       target = scopes(o.target, "target"), exclude = scopes(o.exclude, "exclude"),
                       log = log_writer(o["log-format"] or "text"), ops_log = o["ops-log"] ~= nil,
                       progress = progress_bar(show_progress(o)), t0 = o.t0, wall0 = o.wall0 }
  o.run = r
  local sname, dname = o["source-name"] or "source", o["dest-name"] or "dest"
  local source = schema:adapter(sname, "source"):new { name = sname }
  local target = schema:adapter(dname, "dest"):new { name = dname }
  core.load_progress(show_progress(o))
  local ok, err = pcall(core.load_files, source._store, o.args[1], target._store, o.args[2],
                        o["skip-duplicates"])
  core.load_progress(false)
  if not ok then error(err, 0) end
  r.timings.load = core.now() - t0
  r.source, r.target, r.job_path = source, target, o.schema
  r.labels = { o.args[1], o.args[2] }  -- the documents, as named on the command line
  t0 = core.now()
  r.diffed = r.gate:narrow(target:diff_from(source, { flags = r:flags() }))
  r.timings.diff = core.now() - t0
  return r, source, target, r.diffed
end

local function cmd_diff_files(o)
  if #o.args ~= 2 then fail(USAGE.diff) end
  local r, _, _, diff = files_diff(o)
  local t0 = core.now()
  print_diff(diff, o.format, o)
  r.timings.output = core.now() - t0
  if o.timings then stderr:write("timings: ", timings_line(r.timings), "\n") end
  return pending(diff)
end

local function cmd_diff(o)
  if o.schema then return cmd_diff_files(o) end
  if #o.args ~= 1 then fail(USAGE.diff) end
  local r = job_run(o, false)
  r:load(o.args[1])
  local _, _, diff = job_diff(r, o)
  print_diff(diff, o.format, o)
  if o.timings then stderr:write("timings: ", timings_line(r.timings), "\n") end
  return pending(diff)
end

local function cmd_sync_job(o)
  local r = job_run(o, not o["dry-run"])
  r:load(o.args[1])
  local _, _, diff = job_diff(r, o)
  if o["dry-run"] then return dry_run(diff, r:dry_run()) end
  r:check()
  if not diff:has_diffs() then
    stdout:write("nothing to do\n")
    return EXIT_OK
  end
  -- what is about to change, as terraform apply shows it
  if o.show then stdout:write(diff:str(), "\n") end
  local res = run_sync(r)
  commit(r)
  report(res, r.timings)
  local unconverged = verify(r)
  return (failures(res) + unconverged > 0) and EXIT_ERROR or EXIT_OK
end

-- Whether the --schema sync writes over its dest document: only then does
-- the default delete budget guard it (--max-deletes always does).
local function same_file(a, b)
  local x, y = lfs.attributes(a), lfs.attributes(b)
  return x and y and x.dev == y.dev and x.ino == y.ino
end

local function cmd_sync_files(o)
  if #o.args ~= 2 then fail(USAGE.sync) end
  if not o.out and not o["dry-run"] then fail("sync --schema needs --out AFTER.json (or --dry-run)") end
  local r, _, target, diff = files_diff(o)
  local guarded = o["max-deletes"] ~= nil or (o.out and same_file(o.out, o.args[2]))
  if o["dry-run"] then return dry_run(diff, guarded and r:over_budget() or nil) end
  if guarded then r:check() end
  local ok, res = pcall(run_sync, r)
  -- the ops log says what was attempted, also when the sync stopped
  local result = ok and res or (core.is_error(res) and rawget(res, "result"))
  if o["ops-log"] and result and result.ops_json then
    util.write_atomic(o["ops-log"], result.ops_json .. "\n")
  end
  if not ok then error(res, 0) end
  local t0 = core.now()
  util.write_atomic(o.out, target._store)  -- written as it is made
  r.timings.write = core.now() - t0
  report(res, r.timings)
  return (failures(res) > 0) and EXIT_ERROR or EXIT_OK
end

local function cmd_sync(o)
  if o.schema then return cmd_sync_files(o) end
  if #o.args ~= 1 then fail(USAGE.sync) end
  return cmd_sync_job(o)
end

-- The operator's plan key (MOONSYNC_PLAN_KEY), or nil.
local function plan_key()
  local key = os.getenv(plans.KEY_ENV)
  if key == "" then return nil end
  return key
end

-- The job an apply runs: the one the operator names, else the one beside
-- the plan with the name of the plan's job (never a path the plan gives:
-- the plan is data and does not choose the code that runs).
local function apply_job(o, plan)
  if o.job then return o.job end
  local base = plan.job:match("([^/]*)$")
  local dir = o.args[1]:match("^(.*)/[^/]*$") or "."
  local path = dir .. "/" .. base
  if base == "" or base == "." or base == ".." or not util.exists(path) then
    fail(fmt("apply: the plan was made from %s and no %s is beside the plan: name the job "
             .. "to apply it with with --job JOB.lua", plan.job, base))
  end
  return path
end

local function cmd_plan(o)
  if #o.args == 1 and not o.o then
    fail("plan: -o PLAN.json is required (the file the plan is saved to)\n" .. USAGE.plan)
  end
  if #o.args ~= 1 then fail(USAGE.plan) end
  local r = job_run(o, false)
  local job, authority, code = r:load(o.args[1])
  local _, target, diff = job_diff(r, o)
  local over = r:over_budget()
  if over then
    fail(fmt("refusing to save the plan: %s, so apply would refuse it; no plan was written. %s",
             over, policy.ALLOW_MORE))
  end
  local modules = {}
  for name, hash in pairs(code.modules) do modules[#modules + 1] = fmt("%s: %s", json_str(name), json_str(hash)) end
  table.sort(modules)
  o.diff_json = diff:json()
  local text = fmt('{\n"format": "%s",\n"created": %s,\n"job": %s,\n"job_hash": %s,\n'
                   .. '"modules": {%s},\n"target": %s,\n"flags": %d,\n'
                   .. '"target_records": %d,\n"diff": %s\n}\n', plans.FORMAT,
                   json_str(os.date("!%Y-%m-%dT%H:%M:%SZ")), json_str(job.path),
                   json_str(code.hash), concat(modules, ", "), json_str(target:identity()),
                   r:flags(), target:count(), o.diff_json)
  if redact.has_credential(text) then
    fail("the plan would hold a credential given to an HTTP client (a token or a secret "
         .. "header value) in its changes: not written")
  end
  text = plans.seal(text, plan_key())
  util.write_atomic(o.o, text, nil, authority)
  stdout:write(diff:str(), "\n", "plan: ", summary_line(diff:summary()), "\n",
               "saved to ", o.o, "\n")
  if o.timings then stderr:write("timings: ", timings_line(r.timings), "\n") end
  return pending(diff)
end

local function cmd_apply(o)
  if #o.args ~= 1 then fail(USAGE.apply) end
  local plan = plans.decode(util.read_file(o.args[1]), o.args[1], plan_key())
  local r = job_run(o, true)
  r:load(apply_job(o, plan))
  local ok, out = pcall(r.apply, r, plan, o.args[1], o.refresh)
  if not ok then stopped(out, r.diffed) end
  if out.invalid then
    stderr:write(fmt("%s: %d invalid %s; nothing was applied:\n", o.args[1], #out.invalid,
                     #out.invalid == 1 and "change" or "changes"))
    for _, v in ipairs(out.invalid) do stderr:write(fmt("  %s: %s\n", v.where, v.why)) end
    return EXIT_ERROR
  end
  local res, refused = out.result, out.refused
  local status = (failures(res) > 0) and EXIT_ERROR or EXIT_OK
  if out.fresh then
    stdout:write(fmt("re-planned %d drifted %s:\n%s\n", out.replanned,
                     out.replanned == 1 and "record" or "records", out.fresh:str()))
  elseif #refused > 0 then
    stderr:write(fmt("refused %d %s whose target records drifted since the plan "
                     .. "(use --refresh to re-plan them):\n", #refused,
                     #refused == 1 and "change" or "changes"))
    for _, v in ipairs(refused) do
      stderr:write(fmt("  %s %s %s: %s\n", v.change.action, v.change.model, v.change.uid, v.why))
    end
    status = EXIT_ERROR
  end
  commit(r)
  report(res, r.timings)
  return status
end

-- A JSON array of values encoded by cjson (which writes {} for an empty list).
local function json_list(list)
  local parts = {}
  for i, v in ipairs(list or {}) do parts[i] = cjson.encode(v) end
  return "[" .. concat(parts, ", ") .. "]"
end

-- What a job declares and what it may touch, without running a sync.
local function cmd_inspect(o)
  if #o.args ~= 1 then fail(USAGE.inspect) end
  local format = o.format or "text"
  local r = job_run(o, false)
  local job, authority = r:load(o.args[1])
  local effective = authority:describe()
  local policies = r.gate:describe()
  if format == "json" then
    local function list(t)
      local parts = {}
      for i, v in ipairs(t or {}) do parts[i] = json_str(v) end
      return "[" .. concat(parts, ", ") .. "]"
    end
    local declared, granted = {}, {}
    for _, kind in ipairs(jobs.PERMISSIONS) do
      declared[#declared + 1] = fmt("%s: %s", json_str(kind), list(job.permissions[kind]))
    end
    for i, e in ipairs(effective) do
      granted[i] = fmt('{"kind": %s, "entry": %s, "why": %s}', json_str(e.kind),
                       json_str(e.entry), json_str(e.why))
    end
    local policy_parts = {}
    for i, p in ipairs(policies) do policy_parts[i] = fmt("%s: %s", json_str(p[1]), json_str(p[2])) end
    stdout:write(fmt('{"job": %s, "name": %s, "description": %s, "flags": %s, "policy": {%s},\n'
      .. ' "permissions": {%s},\n "effective": [%s],\n "data_mappings": %s}\n', json_str(job.path),
      job.name and json_str(job.name) or "null",
      job.description and json_str(job.description) or "null", list(job.flags),
      concat(policy_parts, ", "), concat(declared, ", "), concat(granted, ",\n  "),
      json_list(job.data_mappings)))
    return EXIT_OK
  end
  local out = { fmt("job:         %s", job.path) }
  if job.name then out[#out + 1] = fmt("name:        %s", job.name) end
  if job.description then out[#out + 1] = fmt("description: %s", job.description) end
  out[#out + 1] = fmt("flags:       %s", #job.flags > 0 and concat(job.flags, ", ") or "(none)")
  out[#out + 1] = "policy:"
  for _, p in ipairs(policies) do out[#out + 1] = fmt("  %-16s %s", p[1], p[2]) end
  out[#out + 1] = "declared permissions:"
  for _, kind in ipairs(jobs.PERMISSIONS) do
    local l = job.permissions[kind]
    out[#out + 1] = fmt("  %-6s %s", kind, l and #l > 0 and concat(l, ", ") or "(none)")
  end
  out[#out + 1] = "effective permissions:"
  for _, e in ipairs(effective) do
    out[#out + 1] = fmt("  %-6s %s (%s)", e.kind, e.entry, e.why)
  end
  if #job.data_mappings > 0 then
    out[#out + 1] = "data mappings:"
    for _, m in ipairs(job.data_mappings) do
      out[#out + 1] = fmt("  %-26s -> %s%s", m.source .. (m.source_url and (" " .. m.source_url) or ""),
                          m.target, m.target_url and (" " .. m.target_url) or "")
    end
  end
  stdout:write(concat(out, "\n"), "\n")
  return EXIT_OK
end

-- {====== run history and reports ======}

-- One run as JSON: its fields, counts and, with `full`, its operations
-- and diff.
local function run_json(r, full)
  local fields = {}
  for k, v in pairs(r) do
    if k ~= "counts" and k ~= "ops" and k ~= "diff_json" then fields[k] = v end
  end
  local text = cjson.encode(fields):sub(1, -2) .. ', "counts": ' .. json_list(r.counts)
  if full then
    text = text .. ', "operations": ' .. json_list(r.ops) .. ', "diff": ' .. (r.diff_json or "null")
  end
  return text .. "}"
end

-- What the command line knows of a run once it ended, in the form
-- moonsync.history stores and moonsync.report shows.
local function run_record(cmd, o, status, msg)
  local r = o.run or runs.new { t0 = o.t0, wall0 = o.wall0 }
  return r:record { command = cmd, exit_status = status, error = msg,
                    dry_run = o["dry-run"], diff_json = o.diff_json }
end

-- Writes the HTML report of run r (moonsync.report, loaded only when a
-- report is asked for).
local function report_write(path, r, authority)
  return require("moonsync.report").write(path, r, authority)
end

local function warn(msg)
  stderr:write("moonsync: ", redact.text(msg), "\n")
end

-- Opens the history and records the start of a run; nil when it is off
-- or cannot be written (a warning then: the run goes on).
local function history_begin(cmd, argv, o)
  local rec, why = runs.begin_record(cmd, argv, o)
  if why then warn(why) end
  return rec
end

-- After a recorded command: its run into the history, its report into
-- --report. Returns the exit status (a report that cannot be written is
-- an error).
local function finish_run(cmd, o, status, msg)
  if not o.recorder and not o.report then return status end
  local ok, r = pcall(run_record, cmd, o, status, msg)
  if not ok then
    warn(fmt("run not recorded: %s", core.error_text(r)))
    return status
  end
  if o.recorder then
    for _, why in ipairs(runs.finish_record(o.recorder, r, o["history-keep"])) do warn(why) end
  end
  if o.report then
    local done, err = pcall(report_write, o.report, r, o.run and o.run.authority)
    if not done then
      stderr:write(fmt("moonsync %s: cannot write the report: %s\n", cmd,
                       redact.text(core.error_text(err))))
      return EXIT_ERROR
    end
  end
  return status
end

local function run_line(r)
  local s, res = r.summary, r.result
  local changes = s and fmt("%d/%d/%d", s.create, s.update, s.delete) or "-"
  local done = res and fmt("%d/%d/%d/%d", res.created, res.updated, res.deleted, res.failed) or "-"
  return fmt("%-5d %-20s %-6s%s %-24s %4s  %-17s %-21s %7.2f s", r.id, r.started:sub(1, 19) .. "Z",
             r.command, r.dry_run and "*" or " ",
             (r.job or (r.job_path or "-"):match("[^/]*$")):sub(1, 24),
             r.exit_status and tostring(r.exit_status) or "-", changes, done, r.duration or 0)
end

local function show_run(r)
  local out = {}
  local function add(...) out[#out + 1] = fmt(...) end
  add("run %d: %s%s of %s", r.id, r.command, r.dry_run and " (dry run)" or "",
      r.job_path or r.job or "?")
  add("started %s, ended %s, %.2f s, exit %s", r.started, r.ended or "-", r.duration or 0,
      r.exit_status and tostring(r.exit_status) or "- (running or killed)")
  add("command: moonsync %s %s", r.command, concat(r.argv, " "))
  if r.source or r.target then add("source: %s; target: %s", r.source or "-", r.target or "-") end
  if r.error then add("error: %s", r.error) end
  if r.summary then add("changes: %s", summary_line(r.summary)) end
  if r.result then
    add("result: %d created, %d updated, %d deleted, %d failed", r.result.created,
        r.result.updated, r.result.deleted, r.result.failed)
  end
  if r.warnings and #r.warnings > 0 then
    local skipped = 0
    for _, w in ipairs(r.warnings) do if w.skipped then skipped = skipped + 1 end end
    add("warnings: %d%s", #r.warnings, skipped > 0 and fmt(" (%d source records skipped)", skipped) or "")
    for _, w in ipairs(r.warnings) do add("  %s: %s", w.adapter, w.message) end
  end
  local t = {}
  for _, k in ipairs { "load", "diff", "sync", "write" } do
    if r.timings[k] then t[#t + 1] = fmt("%s %.3f s", k, r.timings[k]) end
  end
  if r.peak_rss then t[#t + 1] = fmt("peak memory %.1f MiB", mib(r.peak_rss)) end
  if #t > 0 then add("timings: %s", concat(t, ", ")) end
  if #r.counts > 0 then
    add("by model:")
    for _, c in ipairs(r.counts) do
      add("  %-20s %-7s planned %d, done %d, failed %d", c.model, c.action, c.planned, c.done,
          c.failed)
    end
  end
  if r.ops and #r.ops > 0 then
    add("operations:")
    for _, op in ipairs(r.ops) do
      add("  %s %s %s: %s%s", op.op, op.model, op.uid, op.result or "",
          op.message and op.message ~= "" and " (" .. op.message .. ")" or "")
    end
  end
  return concat(out, "\n")
end

-- moonsync history [show ID]
local function cmd_history(o)
  local sub, path = o.args[1], history.path(o)
  if not path then fail("the run history is off (MOONSYNC_HISTORY=off); name it with --history FILE") end
  local listing = sub == nil
  if not listing and (sub ~= "show" or #o.args ~= 2) then fail(USAGE.history) end
  if listing and o.report then fail("--report applies to moonsync history show ID") end
  if not listing and (o.job or o.limit) then fail("--job and --limit apply to the list of runs") end
  local format = o.format or "text"
  if lfs.attributes(path, "mode") == nil then
    if not listing then fail(fmt("no run %s: no history at %s", o.args[2], path)) end
    stdout:write(format == "json" and fmt('{"history": %s, "runs": []}\n', json_str(path))
                 or fmt("no runs recorded in %s\n", path))
    return EXIT_OK
  end
  local h = history.open(path)
  if listing then
    local runs = h:list { job = o.job, limit = o.limit and math.floor(tonumber(o.limit)) }
    h:close()
    if format == "json" then
      local parts = {}
      for i, r in ipairs(runs) do parts[i] = run_json(r) end
      stdout:write(fmt('{"history": %s, "runs": [%s]}\n', json_str(path), concat(parts, ",\n ")))
      return EXIT_OK
    end
    if #runs == 0 then
      stdout:write(fmt("no runs recorded%s in %s\n", o.job and " for job " .. o.job or "", path))
      return EXIT_OK
    end
    stdout:write(fmt("%-5s %-20s %-7s %-24s %4s  %-17s %-21s %9s\n", "ID", "STARTED (UTC)",
                     "COMMAND", "JOB", "EXIT", "CHANGES", "DONE", "TIME"))
    for _, r in ipairs(runs) do stdout:write(run_line(r), "\n") end
    stdout:write("CHANGES: to create/update/delete; DONE: created/updated/deleted/failed; ",
                 "* dry run\n")
    return EXIT_OK
  end
  local id = tonumber(o.args[2])
  local r = id and h:get(math.floor(id))
  h:close()
  if not r then fail(fmt("no run %s in %s", o.args[2], path)) end
  if o.report then
    local ok, err = pcall(report_write, o.report, r)
    if not ok then fail(fmt("cannot write the report: %s", core.error_text(err))) end
  end
  if format == "json" then stdout:write(run_json(r, true), "\n")
  else stdout:write(show_run(r), "\n") end
  return EXIT_OK
end

-- {====== schema ======}

-- The resources of an OpenAPI document, or a module of models for some.
local function cmd_schema(o)
  if #o.args < 1 then fail(USAGE.schema) end
  local openapi = require "moonsync.adapters.openapi"
  local file = o.args[1]
  local bundled = file == "nautobot"
  local text
  if bundled then
    text = require "moonsync.adapters.nautobot_openapi"
  else
    local f, err = io.open(file, "rb")
    if not f then fail(fmt("cannot read %s", err)) end
    text = f:read("a")
    f:close()
  end
  local ok, doc = pcall(cjson.decode, text)
  if not ok then fail(fmt("%s: not JSON: %s", file, tostring(doc))) end
  local title = type(doc) == "table" and type(doc.info) == "table" and tostring(doc.info.title) or ""
  local kind = (bundled or title:find("Nautobot") or text:find('"x-nautobot-resource"', 1, true))
               and "nautobot" or title:find("NetBox") and "netbox" or "openapi"
  local cat
  ok, cat = pcall(openapi.schema, doc, { preset = kind ~= "openapi" and kind or nil })
  if not ok then fail(fmt("%s: %s", file, core.error_text(cat))) end
  if #o.args == 1 then
    local out = {}
    for _, r in ipairs(cat:list()) do
      out[#out + 1] = fmt("%-40s %-44s %3d fields%s", r.name, r.path, r.fields,
                          r.writable and "" or " (read-only)")
    end
    stdout:write(concat(out, "\n"), "\n")
    return EXIT_OK
  end
  local names = {}
  for i = 2, #o.args do names[#names + 1] = o.args[i] end
  local path = bundled and nil or (core.realpath(file) or file)
  local gen
  ok, gen = pcall(cat.generate, cat, names, { bundled = bundled, file = path, adapter = kind })
  if not ok then fail(core.error_text(gen)) end
  stdout:write(gen)
  return EXIT_OK
end

local COMMANDS = { diff = cmd_diff, sync = cmd_sync, plan = cmd_plan, apply = cmd_apply,
                   inspect = cmd_inspect, history = cmd_history, schema = cmd_schema }
local RECORDED = { diff = true, sync = true, plan = true, apply = true }

--- Runs a command; returns the exit code. Errors are printed as one line.
function M.main(cmd, ...)
  local fn = COMMANDS[cmd]
  if not fn then
    stderr:write(fmt("moonsync: unknown command '%s'\n", tostring(cmd)))
    return EXIT_ERROR
  end
  local argv, o = { ... }, nil
  local ok, res = pcall(function()
    -- --help wins wherever it stands, even where an option's value would be
    for _, a in ipairs(argv) do
      if a == "--help" or a == "-h" then stdout:write(USAGE[cmd]); return EXIT_OK end
    end
    local opts = parse(cmd, argv)
    check(cmd, opts)
    opts.t0, opts.wall0 = core.now(), core.wall_time()
    o = opts
    if RECORDED[cmd] then opts.recorder = history_begin(cmd, argv, opts) end
    return fn(opts)
  end)
  local status, msg = res, nil
  if not ok then
    status = EXIT_ERROR
    if getmetatable(res) == Control then
      status = rawget(res, "exit") or EXIT_ERROR
      msg = rawget(res, "cli")
    else
      -- whatever a job raised: its text, never its metamethods
      msg = core.error_text(res)
    end
  end
  stdout.flush()
  if out_error then
    -- a reader that closed the pipe (| head) ends the output, not the run;
    -- any other failure to write it is an error
    if not out_error:find("Broken pipe", 1, true) then
      local why = "cannot write the output: " .. out_error
      msg = msg and (msg .. "; " .. why) or why
      status = EXIT_ERROR
    end
  end
  if msg then
    msg = redact.text(msg)
    stderr:write("moonsync ", cmd, ": ", msg, msg:sub(-1) == "\n" and "" or "\n")
  end
  if o and RECORDED[cmd] then status = finish_run(cmd, o, status, msg) end
  return status
end

return M
