-- Conformance runner: loads each case into two adapters through the public
-- Lua API, runs the diff (and the sync, where the case asks for one) and
-- writes DiffSync's output files, then compares them with expected/.
-- Exit status 0 only when every compared file matches.
local ms = require "moonsync"
local util = require "moonsync.util"
local cjson = require "cjson.safe"

local fmt, concat = string.format, table.concat

local args = { ... }
local outdir = (os.getenv("TMPDIR") or "/tmp") .. "/moonsync-conformance"
local cases, verbose = {}, false
local i = 1
while i <= #args do
  local a = args[i]
  if a == "--out" then
    outdir = args[i + 1] or error("--out needs a directory")
    i = i + 1
  elseif a == "-v" or a == "--verbose" then
    verbose = true
  elseif a == "-h" or a == "--help" then
    io.write("usage: scripts/conformance [--out DIR] [-v] CASE_DIR...\n")
    return 0
  else
    cases[#cases + 1] = (a:gsub("/+$", ""))
  end
  i = i + 1
end
if #cases == 0 then
  io.stderr:write("usage: scripts/conformance [--out DIR] [-v] CASE_DIR...\n")
  return 2
end

-- Files compared byte for byte; error.json is compared on type and stage.
local COMPARED = { "diff.json", "summary.json", "diff.txt", "reverse_diff.json",
                   "reverse_summary.json", "reverse_diff.txt",
                   "before_source.json", "before_dest.json", "ops.json",
                   "after.json", "after_store.json", "callbacks.json" }

local CRUD = { create = "ObjectNotCreated", update = "ObjectNotUpdated",
               delete = "ObjectNotDeleted" }

-- Dest adapter handlers that inject the case's failures, matched on
-- (op, model, uid) of the dest model; everything else runs the defaults.
local function injecting(failures)
  local byop = {}
  for _, f in ipairs(failures or {}) do
    byop[f.op .. "\0" .. f.model .. "\0" .. f.uid] = f
  end
  local function run(self, op, model, uid, default)
    local f = byop[op .. "\0" .. model .. "\0" .. uid]
    local mode = f and f.mode or "ok"
    if mode == "none" then return nil end
    if mode == "raise" then error(ms.error(CRUD[op], f.message or "")) end
    if mode == "raise_other" then error(ms.error("RuntimeError", f.message or "")) end
    local rec = default()
    if mode == "status_failure" then rec:set_status("failure", "injected status failure") end
    return rec
  end
  return {
    create = function(self, model, ids, attrs)
      local uid = model(ids):get_unique_id()
      return run(self, "create", model.name, uid,
                 function() return self:create_base(model, ids, attrs) end)
    end,
    update = function(self, rec, attrs)
      return run(self, "update", rec:get_type(), rec:get_unique_id(),
                 function() return self:update_base(rec, attrs) end)
    end,
    delete = function(self, rec)
      return run(self, "delete", rec:get_type(), rec:get_unique_id(),
                 function() return self:delete_base(rec) end)
    end,
  }
end

local function basename(p) return p:match("([^/]+)$") or p end

local function callbacks_json(calls)
  if #calls == 0 then return "[]\n" end
  local lines = {}
  for k, c in ipairs(calls) do
    lines[k] = fmt('  [%s, %d, %d]', cjson.encode(c[1]), c[2], c[3])
  end
  return "[\n" .. concat(lines, ",\n") .. "\n]\n"
end

local function error_json(stage, err)
  local etype = ms.is_error(err) and err.type or "LuaError"
  local msg = ms.is_error(err) and err.message or tostring(err)
  return fmt('{\n  "stage": %s,\n  "type": %s,\n  "message": %s\n}\n',
             cjson.encode(stage), cjson.encode(etype), cjson.encode(msg))
end

local function run_case(dir, out)
  local case = cjson.decode(util.read_file(dir .. "/case.json")) or {}
  local names = case.names or {}
  local sname, dname = names.source or "source", names.dest or "dest"
  local schema = ms.schema(dir .. "/schema.json")
  local skip = case.on_duplicate == "skip"
  local files = {}
  local function put(name, data) files[name] = data end

  local src = schema:adapter(sname, "source"):new { name = sname }
  local dst = schema:adapter(dname, "dest", injecting(case.failures)):new { name = dname }
  local ok, err = pcall(src.load_file, src, dir .. "/source.json", { skip_duplicates = skip })
  if not ok then put("error.json", error_json("load_source", err)); return files end
  ok, err = pcall(dst.load_file, dst, dir .. "/dest.json", { skip_duplicates = skip })
  if not ok then put("error.json", error_json("load_dest", err)); return files end
  put("before_source.json", src:to_json() .. "\n")
  put("before_dest.json", dst:to_json() .. "\n")

  local calls = {}
  local opts = { flags = schema.flags,
                 callback = function(stage, cur, total) calls[#calls + 1] = { stage, cur, total } end }
  local diff
  ok, err = pcall(function()
    if case.method == "sync_to" then diff = src:diff_to(dst, opts)
    else diff = dst:diff_from(src, opts) end
  end)
  if case.reverse then
    local rdiff = src:diff_from(dst, { flags = schema.flags })
    put("reverse_diff.json", rdiff:dict_json() .. "\n")
    put("reverse_summary.json", rdiff:summary_json() .. "\n")
    put("reverse_diff.txt", rdiff:str())
  end
  put("callbacks.json", callbacks_json(calls))
  if not ok then put("error.json", error_json("diff", err)); return files end
  put("diff.json", diff:dict_json() .. "\n")
  put("summary.json", diff:summary_json() .. "\n")
  put("diff.txt", diff:str())
  if case.sync == false then return files end

  local res
  opts.diff, opts.ops_log = diff, true
  ok, err = pcall(function()
    if case.method == "sync_to" then _, res = src:sync_to(dst, opts)
    else _, res = dst:sync_from(src, opts) end
  end)
  if not ok then
    res = ms.is_error(err) and err.result or nil
    put("error.json", error_json("sync", err))
  end
  put("ops.json", (res and res.ops_json or "[]") .. "\n")
  put("after.json", dst:to_json() .. "\n")
  put("after_store.json", dst._store:flat_json() .. "\n")
  put("callbacks.json", callbacks_json(calls))
  return files
end

local total_fail, total_files = 0, 0
for _, dir in ipairs(cases) do
  local name = basename(dir)
  local out = outdir .. "/" .. name
  util.mkdir_p(out)
  local ok, files = pcall(run_case, dir, out)
  local problems = {}
  if not ok then
    problems[#problems + 1] = "runner error: " .. tostring(files)
    files = {}
  end
  for fname, data in pairs(files) do util.write_atomic(out .. "/" .. fname, data) end
  for _, fname in ipairs(COMPARED) do
    local exp = dir .. "/expected/" .. fname
    if util.exists(exp) then
      total_files = total_files + 1
      if files[fname] == nil then
        problems[#problems + 1] = fname .. " not produced"
      elseif files[fname] ~= util.read_file(exp) then
        problems[#problems + 1] = fname .. " differs"
      end
    end
  end
  local exp_err = util.exists(dir .. "/expected/error.json")
                  and cjson.decode(util.read_file(dir .. "/expected/error.json"))
  if exp_err then
    total_files = total_files + 1
    local got = files["error.json"] and cjson.decode(files["error.json"])
    if not got then
      problems[#problems + 1] = "error.json not produced"
    elseif got.type ~= exp_err.type or got.stage ~= exp_err.stage then
      problems[#problems + 1] = fmt("error.json: got %s at %s, expected %s at %s",
        got.type, got.stage, exp_err.type, exp_err.stage)
    end
  elseif files["error.json"] and not exp_err then
    problems[#problems + 1] = "unexpected error: " .. files["error.json"]
  end
  if #problems == 0 then
    print(fmt("ok   %s", name))
  else
    total_fail = total_fail + 1
    print(fmt("FAIL %s: %s", name, concat(problems, "; ")))
  end
end
print(fmt("%d of %d cases match (%d files compared); outputs in %s",
          #cases - total_fail, #cases, total_files, outdir))
return total_fail == 0 and 0 or 1
