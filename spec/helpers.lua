-- Shared helpers for the specs: paths, temporary files and running the
-- moonsync command.
local M = {}

M.root = (os.getenv("PWD") or ".")
M.bin = M.root .. "/bin/moonsync"
M.fixtures = M.root .. "/spec/fixtures"
M.conformance = M.fixtures .. "/conformance"

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.quote = quote

--- A fresh temporary directory (removed by M.cleanup()).
local made = {}
function M.tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir -p " .. quote(p)))
  made[#made + 1] = p
  return p
end

function M.cleanup()
  for _, p in ipairs(made) do os.execute("rm -rf " .. quote(p)) end
  made = {}
end

function M.write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path
end

function M.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

--- Runs bin/moonsync with the given arguments and environment variables
-- (a table, may be empty); returns {code =, stdout =, stderr =}.
function M.run_env(env, ...)
  return M.run_at(nil, env, ...)
end

--- M.run_env from directory `cwd` (nil: this one).
function M.run_at(cwd, env, ...)
  local parts = { cwd and "cd " .. quote(cwd) .. " && env" or "env" }
  for k, v in pairs(env) do parts[#parts + 1] = k .. "=" .. quote(v) end
  parts[#parts + 1] = quote(M.bin)
  for _, a in ipairs { ... } do parts[#parts + 1] = quote(a) end
  local out, err = os.tmpname(), os.tmpname()
  local _, how, code = os.execute(table.concat(parts, " ") .. " >" .. out .. " 2>" .. err)
  local res = { stdout = M.read(out), stderr = M.read(err),
                code = how == "exit" and code or 128 + (code or 0) }
  os.remove(out)
  os.remove(err)
  return res
end

--- Runs bin/moonsync with the given arguments; returns
-- {code =, stdout =, stderr =}.
function M.run(...)
  return M.run_env({}, ...)
end

--- A fresh directory holding schema.json, src.json and dst.json: the
-- layout M.json_job expects.
function M.sync_dir(schema, src, dst)
  local dir = M.tmpdir()
  M.write(dir .. "/schema.json", schema)
  M.write(dir .. "/src.json", src)
  M.write(dir .. "/dst.json", dst)
  return dir
end

--- Writes dir/job.lua: a job syncing dir/src.json into dir/dst.json
-- (json_file adapters over dir/schema.json). opts: `prelude` (Lua before
-- the job), `target` (Lua run on the target adapter `t` before it is
-- returned), `flags`, `policy`, `permissions` (Lua expressions), `file`
-- and `src` (other names for job.lua and src.json), `name` (the job's).
function M.json_job(dir, opts)
  opts = opts or {}
  return M.write(dir .. "/" .. (opts.file or "job.lua"), ([[
local ms = require "moonsync"
local json_file = require "moonsync.adapters.json_file"
local core = require "moonsync.core"
local dir = %q
%s
return ms.job {%s
  source = function()
    return json_file.open { schema = dir .. "/schema.json", path = dir .. "/%s", name = "src" }
  end,
  target = function()
    local t = json_file.open { schema = dir .. "/schema.json", path = dir .. "/dst.json",
                               name = "dst", side = "dest" }
    %s
    return t
  end,
  flags = %s,
  policy = %s,%s
}
]]):format(dir, opts.prelude or "", opts.name and ("\n  name = %q,"):format(opts.name) or "",
           opts.src or "src.json", opts.target or "", opts.flags or "{}", opts.policy or "{}",
           opts.permissions and "\n  permissions = " .. opts.permissions .. "," or ""))
end

--- The names in a directory, sorted, separated by spaces.
function M.listdir(dir)
  local out = {}
  local p = io.popen("ls -A " .. quote(dir))
  for f in p:lines() do out[#out + 1] = f end
  p:close()
  table.sort(out)
  return table.concat(out, " ")
end

--- Lua for a target whose creates each take ~30 ms and touch `marker`
-- first (so a test knows the sync is under way).
function M.slow_creates(marker)
  return ([[
    t.spec.create = function(self, model, ids, attrs)
      local f = io.open(%q, "w"); f:write("x"); f:close()
      local t0 = core.now()
      while core.now() - t0 < 0.03 do end
      return self:create_base(model, ids, attrs)
    end]]):format(marker)
end

--- Runs `moonsync sync job` in the background, sends `signal` once
-- `marker` exists, and returns the exit code and stderr.
function M.interrupt_sync(dir, job, marker, signal)
  local script = M.write(dir .. "/run.sh", ([[
%s sync %s >%s/out 2>%s/err &
pid=$!
n=0
while [ ! -f %s ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); done
kill -%s $pid
wait $pid
echo $? >%s/code
]]):format(quote(M.bin), quote(job), dir, dir, quote(marker), signal, dir))
  os.execute("sh " .. quote(script))
  return tonumber((M.read(dir .. "/code") or ""):match("%d+")), M.read(dir .. "/err")
end

--- Starts one of the test servers (spec/servers/NAME.js, or a script given
-- by its path in the tree, such as examples/standin/server.js) on a free
-- 127.0.0.1 port and waits for its "listening PORT PID" line (no sleeps).
-- Returns {port =, pid =, url =, stop = function}.
function M.server(name, ...)
  -- the sanitizer runtime preloaded under check-asan is not for node
  local script = name:find("/", 1, true) and M.root .. "/" .. name
                 or M.root .. "/spec/servers/" .. name .. ".js"
  local parts = { "env", "-u", "LD_PRELOAD", "node", quote(script) }
  for _, a in ipairs { ... } do parts[#parts + 1] = quote(a) end
  local p = assert(io.popen(table.concat(parts, " ") .. " 2>&1", "r"))
  local line = p:read("l")
  local port, pid = (line or ""):match("^listening (%d+) (%d+)")
  if not port then
    -- it exited (or said something else first): all it said is why
    local rest = p:read("a") or ""
    p:close()
    error("test server " .. name .. " did not start: " .. tostring(line) .. "\n" .. rest, 2)
  end
  local srv = { port = tonumber(port), pid = tonumber(pid),
                url = "http://127.0.0.1:" .. port }
  function srv.stop()
    if srv.stopped then return end
    srv.stopped = true
    os.execute("kill " .. srv.pid .. " 2>/dev/null")
    p:close()
  end
  return srv
end

--- Starts Prism (npm @stoplight/prism-cli) validating requests against the
-- OpenAPI document `spec_file` in front of `upstream`, on a free port,
-- and waits until it answers `probe` (a request the document allows,
-- "curl arguments", so that waiting logs no violation). Its log goes to
-- `log`; returns {url =, port =, stop =, violations = function() -> the
-- request violations Prism logged since it was ready}.
function M.prism(spec_file, upstream, log, probe)
  local bin = M.root .. "/node_modules/.bin/prism"
  for _ = 1, 20 do
    local port = 20000 + math.random(0, 30000)
    local pidfile = log .. ".pid"
    os.execute(("env -u LD_PRELOAD %s proxy %s %s --host 127.0.0.1 --port %d >%s 2>&1 & echo $! >%s")
               :format(quote(bin), quote(spec_file), quote(upstream), port, quote(log), quote(pidfile)))
    local pid = tonumber((M.read(pidfile) or ""):match("%d+"))
    -- the readiness line, or the error that the port is taken
    for _ = 1, 600 do
      local text = M.read(log) or ""
      -- a Prism that exited says why in its log: no use waiting
      if not text:find("Prism is listening on", 1, true) and not text:find("EADDRINUSE", 1, true)
         and (not pid or not os.execute("kill -0 " .. pid .. " 2>/dev/null")) then
        error("prism exited before it listened; its log (" .. log .. "):\n" .. text, 2)
      end
      if text:find("Prism is listening on", 1, true) then
        local srv = { port = port, pid = pid, url = "http://127.0.0.1:" .. port }
        -- and answering
        for _ = 1, 200 do
          local p = io.popen("env -u LD_PRELOAD curl -s -o /dev/null -w '%{http_code}' "
                             .. probe:gsub("{url}", srv.url))
          local code = p:read("a")
          p:close()
          if code ~= "000" then break end
          os.execute("sleep 0.05")
        end
        function srv.stop() os.execute("kill " .. pid .. " 2>/dev/null") end
        -- what the readiness probe made Prism log is not the specs' doing
        srv.mark = #(M.read(log) or "")
        -- with `all`, the violations of the server's responses too
        function srv.violations(all)
          local out = {}
          for line in (M.read(log) or ""):sub(srv.mark + 1):gmatch("[^\n]+") do
            if line:find(all and "Violation: " or "Violation: request", 1, true) then
              out[#out + 1] = line
            end
          end
          return out
        end
        return srv
      end
      if text:find("EADDRINUSE", 1, true) then break end
      os.execute("sleep 0.05")
    end
    if pid then os.execute("kill " .. pid .. " 2>/dev/null") end
  end
  error("prism did not start: " .. tostring(M.read(log)))
end

--- One request to a Nautobot stand-in (token sent as "Token T"), as a
-- person changing it by hand would make it, with curl: the decoded
-- answer, or nil for an empty one. `body` is a table or JSON text.
function M.api(url, token, method, path, body)
  local cjson = require "cjson"
  local p = io.popen(("env -u LD_PRELOAD curl -s -X %s -H %s -H 'Content-Type: application/json' %s %s")
    :format(method, quote("Authorization: Token " .. token),
            body and ("-d " .. quote(type(body) == "string" and body or cjson.encode(body))) or "",
            quote(url .. path)))
  local text = p:read("a")
  p:close()
  return text ~= "" and cjson.decode(text) or nil
end

--- The one record of a Nautobot stand-in's `kind` the query finds (an
-- assertion error naming them otherwise).
function M.api_one(url, token, kind, query)
  local r = M.api(url, token, "GET", "/api/" .. kind .. "/?" .. query)
  assert(r and r.count == 1, kind .. "?" .. query .. ": " .. require("cjson").encode(r))
  return r.results[1]
end

--- Prism's probe of a Nautobot stand-in with `token`: what M.prism waits for.
function M.nautobot_probe(token)
  return "-H " .. quote("Authorization: Token " .. token) .. " " .. quote("{url}/api/extras/statuses/?limit=1")
end

--- Syncs `job` with environment `env` into the Nautobot stand-in `n`
-- (through `prism`, if given), then diffs: the sync verified, no request
-- the schema or the stand-in refused, an empty second diff. `what` names
-- the step in failures. Returns the sync's run.
function M.converge(env, job, n, prism, what)
  local cjson = require "cjson"
  local assert = require "luassert"
  local before = cjson.decode(M.fetch(n.url .. "/__stats")).errors
  local r = M.run_env(env, "sync", job, "--no-progress")
  assert.equals(0, r.code, what .. ": " .. r.stdout .. r.stderr)
  assert.matches("verify: the target, read again, matches the source", r.stdout, 1, true)
  if prism then assert.same({}, prism.violations(true), what) end
  local st = cjson.decode(M.fetch(n.url .. "/__stats"))
  assert.equals(before, st.errors, what .. ": " .. cjson.encode(st.lastErrors))
  local d = M.run_env(env, "diff", job)
  assert.equals(0, d.code, what .. ": " .. d.stdout .. d.stderr)
  assert.equals("(no diffs)\n", d.stdout, what)
  return r
end

--- A seeded pseudo-random source for generated data: rnd(n) is 1..n,
-- the same sequence for the same seed on every machine.
function M.random(seed)
  local x = seed
  return function(n)
    x = (x * 1103515245 + 12345) % 2147483648
    return x % n + 1
  end
end

--- A table whose missing keys are new empty tables (expected[model][uid]).
function M.autotable()
  return setmetatable({}, { __index = function(t, k) local v = {}; rawset(t, k, v); return v end })
end

--- What a test starts, stopped when it ends, in the reverse order: in a
-- spec file `local later = h.later(function(fn) finally(fn) end)` (busted's
-- finally is there only while a test runs, and keeps one per test), then
-- `later(server.stop)` in a test.
function M.later(finally)
  local cleanups
  return function(fn)
    if not cleanups then
      cleanups = {}
      finally(function()
        local c = cleanups
        cleanups = nil
        for i = #c, 1, -1 do pcall(c[i]) end
      end)
    end
    cleanups[#cleanups + 1] = fn
  end
end

--- GETs url with curl (without the sanitizer preload of check-asan, under
-- which curl deadlocks) and returns the body.
function M.fetch(url)
  local p = assert(io.popen("env -u LD_PRELOAD curl -s " .. quote(url)))
  local body = p:read("a")
  p:close()
  return body
end

--- Is Node.js with the npm test packages there? (install-deps installs them)
function M.have_node()
  local f = io.open(M.root .. "/node_modules/json-server/package.json")
  if f then f:close() end
  return f ~= nil and os.execute("command -v node >/dev/null 2>&1") == true
end

--- Opens a page (a file path, with an optional #fragment) in headless
-- Chromium (scripts/install-deps installs it) and returns the DOM once
-- the page has loaded, and how long Chromium took in seconds. `flags`:
-- more command-line flags for Chromium.
function M.chromium(path, fragment, flags)
  local profile = M.tmpdir()
  local t0 = os.time()
  local p = assert(io.popen(("env -u LD_PRELOAD timeout 120 chromium --headless --no-sandbox "
    .. "--disable-gpu --disable-dev-shm-usage --no-first-run --user-data-dir=%s %s --dump-dom %s "
    .. "2>/dev/null")
    :format(quote(profile), flags or "", quote("file://" .. path .. (fragment or "")))))
  local dom = p:read("a")
  p:close()
  return dom, os.time() - t0
end

--- Is headless Chromium there?
function M.have_chromium()
  return os.execute("command -v chromium >/dev/null 2>&1") == true
end

return M
