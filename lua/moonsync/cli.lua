--- The moonsync command line for jobs, file syncs and plans: `diff
-- job.lua`, `sync job.lua`, `sync --schema ...`, `plan`, `apply`.
-- (`run` and `diff --schema` are handled in C.)
-- Exit codes follow Terraform's -detailed-exitcode: 0 nothing to do or
-- done, 1 error, 2 changes pending (diff, --dry-run); 130 interrupted.
-- @module moonsync.cli
local ms = require "moonsync"
local core = require "moonsync.core"
local jobs = require "moonsync.job"
local util = require "moonsync.util"
local plans = require "moonsync.plan"

local fmt, concat = string.format, table.concat
local stdout, stderr = io.stdout, io.stderr

local M = {}

local EXIT_OK, EXIT_ERROR, EXIT_PENDING, EXIT_INTERRUPTED = 0, 1, 2, 130

local USAGE = {
  diff = "usage: moonsync diff JOB.lua [--format str|dict|summary|json] [--flag NAME]...\n"
      .. "         [--target MODEL:UID]... [--exclude MODEL:UID]... [--no-progress]\n"
      .. "       exit: 0 no changes, 1 error, 2 changes pending\n"
      .. "       moonsync diff --schema SCHEMA.json SOURCE.json DEST.json\n"
      .. "         [--format str|dict|summary|json] [--flag NAME]... [--source-name NAME]\n"
      .. "         [--dest-name NAME] [--skip-duplicates] [--exit-code] [--timings]\n"
      .. "       exit: 0 done, 1 differences with --exit-code, 2 error\n",
  sync = "usage: moonsync sync JOB.lua [--dry-run] [--max-deletes N|P%] [--flag NAME]...\n"
      .. "         [--target MODEL:UID]... [--exclude MODEL:UID]... [--log-format text|json]\n"
      .. "         [--no-progress]\n"
      .. "       moonsync sync --schema SCHEMA.json SOURCE.json DEST.json --out AFTER.json\n"
      .. "         [--ops-log OPS.json] [--dry-run] [--max-deletes N|P%] [--flag NAME]...\n"
      .. "         [--source-name NAME] [--dest-name NAME] [--log-format text|json]\n"
      .. "exit: 0 done or nothing to do, 1 error or refused, 2 changes pending (--dry-run),\n"
      .. "130 interrupted\n",
  plan = "usage: moonsync plan JOB.lua -o PLAN.json [--flag NAME]... [--target MODEL:UID]...\n"
      .. "         [--exclude MODEL:UID]... [--max-deletes N|P%]\n",
  apply = "usage: moonsync apply PLAN.json [--job JOB.lua] [--refresh] [--max-deletes N|P%]\n"
      .. "         [--log-format text|json] [--no-progress]\n",
}

-- A usage or input problem: reported as one line, exit 1.
local function fail(msg) error({ cli = msg }, 0) end

-- {====== arguments ======}

local OPTS = {
  format = "value", flag = "list", target = "list", exclude = "list",
  ["dry-run"] = "bool", ["max-deletes"] = "value", ["log-format"] = "value",
  ["no-progress"] = "bool", schema = "value", out = "value", ["ops-log"] = "value",
  ["source-name"] = "value", ["dest-name"] = "value", o = "value", job = "value",
  refresh = "bool", help = "bool", ["skip-duplicates"] = "bool",
}

local function parse(cmd, argv)
  local o = { flag = {}, target = {}, exclude = {}, args = {} }
  local i = 1
  while i <= #argv do
    local a = argv[i]
    local name = a:match("^%-%-([%w-]+)$") or a:match("^%-(o)$") or (a == "-h" and "help")
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

-- {====== reporting ======}

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

local function op_logger(format)
  if format == "json" then
    return function(op)
      stderr:write(fmt('{"op": %s, "model": %s, "uid": %s, "status": %s, "result": %s, "message": %s, "duration": %.6f}\n',
        json_str(op.op), json_str(op.model), json_str(op.uid), json_str(op.status),
        json_str(op.result), json_str(op.message or ""), op.duration))
    end
  end
  -- text: failures only
  return function(op)
    if op.result ~= "ok" and op.result ~= "unchanged" then
      stderr:write(fmt("%s %s %s: %s (%s)\n", op.op, op.model, op.uid, op.status,
                       op.message or op.result))
    end
  end
end

local function summary_line(s)
  return fmt("%d to create, %d to update, %d to delete, %d unchanged, %d skipped",
             s.create, s.update, s.delete, s["no-change"], s.skip)
end

local function mib(bytes) return bytes / (1024 * 1024) end

-- {====== shared steps ======}

local function budget_check(diff, target, opt, policy)
  local spec = opt or (policy and policy.max_deletes)
  local deletes = diff:summary().delete
  local total = target:count()
  local limit, label
  if spec == nil then
    -- default: refuse wiping most of a target (more than half, once more
    -- than 10 records would go)
    limit = math.max(10, math.floor(total / 2))
    label = fmt("the default budget of 50%% of %d target records (at least 10)", total)
  else
    local kind, n = jobs.parse_budget(spec)
    if kind == "count" then
      limit, label = n, fmt("the budget of %d", n)
    else
      limit = math.floor(total * n / 100)
      label = fmt("the budget of %s%% of %d target records (%d)", tostring(n), total, limit)
    end
  end
  if deletes > limit then
    fail(fmt("refusing to sync: %d deletes exceed %s; nothing was changed. "
             .. "Allow more with --max-deletes or policy.max_deletes", deletes, label))
  end
end

local function apply_policy(job, target)
  for _, model in ipairs(job.policy.prevent_delete or {}) do
    target._store:or_flags(model, { "SKIP_UNMATCHED_DST" })
  end
end

local function job_flags(job, o)
  local names = {}
  for _, f in ipairs(job and job.flags or {}) do names[#names + 1] = f end
  for _, f in ipairs(o.flag) do names[#names + 1] = f end
  return ms.flag_value(names)
end

-- Runs validate hooks of the target for every change of the diff.
local function validate(target, diff)
  local hook = target.spec.validate
  if not hook then return {} end
  local changes = core.json_decode(diff:json(), "diff").changes
  local failures = {}
  for _, c in ipairs(changes) do
    local attrs = c.attrs ~= core.null and c.attrs or {}
    local ok, res, msg = pcall(hook, target, c.action, c.model, c.keys, attrs)
    if not ok then
      failures[#failures + 1] = fmt("%s %s %s: %s", c.action, c.model, c.uid, tostring(res))
    elseif res == false then
      failures[#failures + 1] = fmt("%s %s %s: %s", c.action, c.model, c.uid,
                                    tostring(msg or "rejected by validate"))
    end
  end
  return failures
end

-- Syncs diff into target with progress, logs, signals; returns the result.
local function run_sync(target, source, diff, flags, o, timings)
  local show = not o["no-progress"] and core.isatty(2)
  local bar = progress_bar(show)
  core.trap_signals(true)
  local t0 = core.now()
  local ok, d, res = pcall(target.sync_from, target, source, {
    diff = diff, flags = flags, callback = bar, ops_log = o.ops_log,
    log = op_logger(o["log-format"] or "text") })
  core.trap_signals(false)
  timings.sync = core.now() - t0
  if not ok then
    local err = d
    local r = type(err) == "table" and err.result
    if r and err.type == "Interrupted" then
      local s = diff:summary()
      local done = r.created + r.updated + r.deleted
      stderr:write(fmt("\ninterrupted: %d created, %d updated, %d deleted, %d failed; "
        .. "%d of %d changes not done\n", r.created, r.updated, r.deleted, r.failed + r.errors,
        math.max(0, s.create + s.update + s.delete - done - r.failed - r.errors),
        s.create + s.update + s.delete))
      error({ exit = EXIT_INTERRUPTED }, 0)
    end
    if r then
      stderr:write(fmt("sync stopped after %d created, %d updated, %d deleted, %d failed\n",
                       r.created, r.updated, r.deleted, r.failed + r.errors))
    end
    error(err, 0)
  end
  return res
end

local function report(res, timings)
  stdout:write(fmt("sync complete: %d created, %d updated, %d deleted, %d failed, %d errors\n",
    res.created, res.updated, res.deleted, res.failed, res.errors))
  local parts = {}
  for _, k in ipairs { "load", "diff", "sync", "write" } do
    if timings[k] then parts[#parts + 1] = fmt("%s %.3f s", k, timings[k]) end
  end
  stdout:write(fmt("timings: %s; peak memory %.1f MiB\n", concat(parts, ", "),
                   mib(core.peak_rss())))
end

local function print_diff(diff, format)
  format = format or "str"
  if format == "str" then stdout:write(diff:str(), "\n")
  elseif format == "dict" then stdout:write(diff:dict_json(), "\n")
  elseif format == "summary" then stdout:write(diff:summary_json(), "\n")
  elseif format == "json" then stdout:write(diff:json(), "\n")
  else fail(fmt("unknown format '%s' (str, dict, summary, json)", format)) end
end

local function pending(diff)
  return diff:has_diffs() and EXIT_PENDING or EXIT_OK
end

-- Applies --target/--exclude to a diff; a --target that matches nothing
-- is an error rather than a silent empty sync. Returns the diff.
local function narrow(diff, o)
  if #o.target > 0 or #o.exclude > 0 then
    local hits = diff:scope(scopes(o.target, "target"), scopes(o.exclude, "exclude"))
    if #o.target > 0 and hits == 0 then
      fail("no change matches --target " .. concat(o.target, ", "))
    end
  end
  return diff
end

-- Loads the job's adapters and computes the (scoped) diff.
local function job_diff(job, o, show)
  local timings = {}
  local t0 = core.now()
  if show then stderr:write("load  source and target...") end
  local source, target = job:get_source(), job:get_target()
  if show then
    stderr:write(fmt("\rload  %d + %d records in %.2f s        \n", source:count(), target:count(),
                     core.now() - t0))
  end
  apply_policy(job, target)
  timings.load = core.now() - t0
  local flags = job_flags(job, o)
  t0 = core.now()
  local diff = narrow(target:diff_from(source, { flags = flags, callback = progress_bar(show) }), o)
  timings.diff = core.now() - t0
  return source, target, diff, flags, timings
end

-- {====== commands ======}

local function cmd_diff(o)
  if #o.args ~= 1 then fail(USAGE.diff) end
  local job = jobs.load(o.args[1])
  local _, _, diff = job_diff(job, o, not o["no-progress"] and core.isatty(2))
  print_diff(diff, o.format)
  return pending(diff)
end

local function commit(target, timings)
  if target.commit then
    local t0 = core.now()
    target:commit()
    timings.write = core.now() - t0
  end
end

local function dry_run(target, diff)
  local s = diff:summary()
  stdout:write(diff:str(), "\n", "dry run: ", summary_line(s), "\n")
  local failures = validate(target, diff)
  if #failures > 0 then
    stdout:write(fmt("%d changes would fail validation:\n", #failures))
    for _, f in ipairs(failures) do stdout:write("  ", f, "\n") end
    return EXIT_ERROR
  end
  return pending(diff)
end

local function cmd_sync_job(o)
  local job = jobs.load(o.args[1])
  local show = not o["no-progress"] and core.isatty(2)
  local source, target, diff, flags, timings = job_diff(job, o, show)
  if o["dry-run"] then return dry_run(target, diff) end
  budget_check(diff, target, o["max-deletes"], job.policy)
  if not diff:has_diffs() then
    stdout:write("nothing to do\n")
    return EXIT_OK
  end
  local res = run_sync(target, source, diff, flags, o, timings)
  commit(target, timings)
  report(res, timings)
  return (res.failed + res.errors > 0) and EXIT_ERROR or EXIT_OK
end

local function cmd_sync_files(o)
  if #o.args ~= 2 then fail(USAGE.sync) end
  if not o.out and not o["dry-run"] then fail("sync --schema needs --out AFTER.json (or --dry-run)") end
  local timings = {}
  local t0 = core.now()
  local schema = ms.schema(o.schema)
  local sname, dname = o["source-name"] or "source", o["dest-name"] or "dest"
  local source = schema:adapter(sname, "source"):new { name = sname }
  local target = schema:adapter(dname, "dest"):new { name = dname }
  source:load_file(o.args[1], { skip_duplicates = o["skip-duplicates"] })
  target:load_file(o.args[2], { skip_duplicates = o["skip-duplicates"] })
  timings.load = core.now() - t0
  local flags = schema.flags | ms.flag_value(o.flag)
  t0 = core.now()
  local diff = narrow(target:diff_from(source, { flags = flags }), o)
  timings.diff = core.now() - t0
  if o["dry-run"] then return dry_run(target, diff) end
  budget_check(diff, target, o["max-deletes"], nil)
  local ok, res = pcall(run_sync, target, source, diff, flags,
                        { ["no-progress"] = o["no-progress"], ["log-format"] = o["log-format"],
                          ops_log = o["ops-log"] ~= nil }, timings)
  -- the ops log says what was attempted, also when the sync stopped
  local result = ok and res or (type(res) == "table" and res.result)
  if o["ops-log"] and result and result.ops_json then
    util.write_atomic(o["ops-log"], result.ops_json .. "\n")
  end
  if not ok then error(res, 0) end
  t0 = core.now()
  util.write_atomic(o.out, target:to_json() .. "\n")
  timings.write = core.now() - t0
  report(res, timings)
  return (res.failed + res.errors > 0) and EXIT_ERROR or EXIT_OK
end

local function cmd_sync(o)
  if o.schema then return cmd_sync_files(o) end
  if #o.args ~= 1 then fail(USAGE.sync) end
  return cmd_sync_job(o)
end

local function cmd_plan(o)
  if #o.args ~= 1 or not o.o then fail(USAGE.plan) end
  local job = jobs.load(o.args[1])
  local _, target, diff, flags = job_diff(job, o, false)
  budget_check(diff, target, o["max-deletes"], job.policy)
  local path = o.args[1]
  if path:sub(1, 1) ~= "/" then path = (os.getenv("PWD") or ".") .. "/" .. path end
  local text = fmt('{\n"format": "moonsync-plan/1",\n"created": %s,\n"job": %s,\n"flags": %d,\n'
                   .. '"target_records": %d,\n"diff": %s\n}\n',
                   json_str(os.date("!%Y-%m-%dT%H:%M:%SZ")), json_str(path), flags,
                   target:count(), diff:json())
  util.write_atomic(o.o, text)
  stdout:write(diff:str(), "\n", "plan: ", summary_line(diff:summary()), "\n",
               "saved to ", o.o, "\n")
  return pending(diff)
end

local function cmd_apply(o)
  if #o.args ~= 1 then fail(USAGE.apply) end
  local plan = plans.decode(util.read_file(o.args[1]), o.args[1])
  local job = jobs.load(o.job or plan.job)
  local timings = {}
  local t0 = core.now()
  local target = job:get_target()
  apply_policy(job, target)
  timings.load = core.now() - t0
  local src, refused = plans.source(plan, target)
  t0 = core.now()
  local diff = target:diff_from(src, { flags = plan.flags })
  timings.diff = core.now() - t0
  budget_check(diff, target, o["max-deletes"], job.policy)
  local res = { created = 0, updated = 0, deleted = 0, failed = 0, errors = 0 }
  if diff:has_diffs() then res = run_sync(target, src, diff, plan.flags, o, timings) end
  local code = (res.failed + res.errors > 0) and EXIT_ERROR or EXIT_OK
  if #refused > 0 then
    if o.refresh then
      local targets = {}
      for i, r in ipairs(refused) do targets[i] = { r.change.model, r.change.uid } end
      local source = job:get_source()
      local fresh = target:diff_from(source, { flags = plan.flags })
      fresh:scope(targets, {})
      stdout:write(fmt("re-planned %d drifted records:\n%s\n", #refused, fresh:str()))
      if fresh:has_diffs() then
        local r2 = run_sync(target, source, fresh, plan.flags, o, timings)
        for _, k in ipairs { "created", "updated", "deleted", "failed", "errors" } do
          res[k] = res[k] + r2[k]
        end
      end
    else
      stderr:write(fmt("refused %d changes whose target records drifted since the plan "
                       .. "(use --refresh to re-plan them):\n", #refused))
      for _, r in ipairs(refused) do
        stderr:write(fmt("  %s %s %s: %s\n", r.change.action, r.change.model, r.change.uid, r.why))
      end
      code = EXIT_ERROR
    end
  end
  commit(target, timings)
  report(res, timings)
  return code
end

local COMMANDS = { diff = cmd_diff, sync = cmd_sync, plan = cmd_plan, apply = cmd_apply }

--- Runs a command; returns the exit code. Errors are printed as one line.
function M.main(cmd, ...)
  local fn = COMMANDS[cmd]
  if not fn then
    stderr:write(fmt("moonsync: unknown command '%s'\n", tostring(cmd)))
    return EXIT_ERROR
  end
  local ok, res = pcall(function(...)
    local o = parse(cmd, { ... })
    if o.help then stdout:write(USAGE[cmd]); return EXIT_OK end
    return fn(o)
  end, ...)
  if ok then return res end
  if type(res) == "table" and res.exit then return res.exit end
  local msg = type(res) == "table" and res.cli or tostring(res)
  stderr:write("moonsync ", cmd, ": ", msg, msg:sub(-1) == "\n" and "" or "\n")
  return EXIT_ERROR
end

return M
