-- Docs that run: every Lua block of README.md and docs/*.md runs (as Rust
-- and Python projects run their doc tests), the shell blocks run without
-- touching a tracked file, and docs/cli.md's usage texts are the
-- commands' --help.
--
-- A block may be preceded by HTML comments saying how it runs:
--   <!-- doctest: job DIR [inspect] -->  a job file, run as DIR/job.lua in
--                                  a scratch copy of DIR: inspect, then diff
--                                  (with "inspect": inspect only, for a job
--                                  naming files of another machine)
--   <!-- doctest: server SCRIPT DB VAR -->  the server SCRIPT (json-server
--                                  based, in the tree) serves a scratch
--                                  copy of DB; the variable VAR names it
--   <!-- doctest: env NAME=VALUE -->  environment of the run (VALUE may
--                                  use $DIR, the scratch directory)
--   <!-- doctest: file PATH -->    the block is the file PATH of the tree,
--                                  verbatim (the file runs in its own spec)
--   <!-- doctest: output -->       (before a text block following a Lua
--                                  block) what the Lua block prints
-- Without one, a Lua block is a script run with `moonsync run` from the
-- top of the tree, as a reader would.
local h = require "helpers"

local DOCS = { "README.md" }
do
  local p = io.popen("env -u LD_PRELOAD ls " .. h.quote(h.root .. "/docs") .. "/*.md")
  for f in p:lines() do DOCS[#DOCS + 1] = f:sub(#h.root + 2) end
  p:close()
end

-- {lang, text, line, directives} for every fenced block of a file
local function blocks(file)
  local out, cur, pending = {}, nil, {}
  local n = 0
  for line in (h.read(h.root .. "/" .. file) .. "\n"):gmatch("(.-)\n") do
    n = n + 1
    if cur then
      if line:match("^```%s*$") then
        out[#out + 1] = cur
        cur = nil
      else
        cur.text[#cur.text + 1] = line
      end
    else
      local lang = line:match("^```(%w*)")
      local d = line:match("^<!%-%- doctest: (.-) %-%->$")
      if lang then
        cur = { lang = lang, text = {}, line = n, directives = pending }
        pending = {}
      elseif d then
        pending[#pending + 1] = d
      elseif line ~= "" then
        pending = {}
      end
    end
  end
  for i, b in ipairs(out) do
    b.text = table.concat(b.text, "\n") .. "\n"
    if b.directives[1] == "output" then out[i - 1].output = b end
  end
  return out
end

-- other programs run without the sanitizer runtime check-asan preloads
local function sh(cmd) return "env -u LD_PRELOAD sh -c " .. h.quote(cmd) end

local function git_status()
  local p = io.popen(sh("cd " .. h.quote(h.root) .. " && git status --porcelain 2>/dev/null"))
  local s = p:read("a")
  p:close()
  return s
end
local have_git = os.execute(sh("cd " .. h.quote(h.root) .. " && git rev-parse --git-dir >/dev/null 2>&1")) == true

local function copydir(from, to)
  assert(os.execute(sh(("cp -r %s/. %s"):format(h.quote(h.root .. "/" .. from), h.quote(to)))))
end

-- runs a Lua block as its directives say; returns the results of the runs
local function run_lua(b)
  local dir = h.tmpdir()
  local env, job, servers = {}, nil, {}
  for _, d in ipairs(b.directives) do
    local kind, arg = d:match("^(%S+)%s*(.*)$")
    if kind == "job" then
      job = arg
    elseif kind == "server" then
      local script, db, var = arg:match("^(%S+) (%S+) (%S+)$")
      local copy = dir .. "/" .. var .. "-db.json"
      h.write(copy, h.read(h.root .. "/" .. db))
      servers[#servers + 1] = h.server(script, copy)
      env[var] = servers[#servers].url
    elseif kind == "env" then
      for k, v in arg:gmatch("([%w_]+)=(%S+)") do env[k] = (v:gsub("%$DIR", dir)) end
    elseif kind == "file" then
      assert.equals(h.read(h.root .. "/" .. arg), b.text, "the block is not " .. arg)
      return {}
    else
      error("unknown doctest directive: " .. d)
    end
  end
  local results = {}
  if job then
    local from, only = job:match("^(%S+)%s*(%S*)$")
    copydir(from, dir)
    local file = h.write(dir .. "/job.lua", b.text)
    results[1] = h.run_env(env, "inspect", file)
    if only ~= "inspect" then results[2] = h.run_env(env, "diff", file, "--no-progress") end
  else
    results[1] = h.run_env(env, "run", h.write(dir .. "/block.lua", b.text))
  end
  for _, srv in ipairs(servers) do srv.stop() end
  return results
end

describe("docs #docs", function()
  after_each(h.cleanup)

  for _, file in ipairs(DOCS) do
    for _, b in ipairs(blocks(file)) do
      if b.lang == "lua" then
        local needs_node = false
        for _, d in ipairs(b.directives) do needs_node = needs_node or d:match("^server") ~= nil end
        local test = (needs_node and not h.have_node()) and pending or it
        test(("%s:%d: the Lua block runs"):format(file, b.line), function()
          local before = have_git and git_status()
          local results = run_lua(b)
          for _, r in ipairs(results) do
            assert.is_true(r.code == 0 or r.code == 2, r.stderr)
            assert.equals("", r.stderr)
          end
          if b.output then assert.equals(b.output.text, results[1].stdout) end
          if have_git then assert.equals(before, git_status(), "the block changed the tree") end
        end)
      end
    end
  end

  -- shell blocks: every command but installing, building and testing
  -- (which the suite itself is) runs, in order, from the top of a copy of
  -- the tree (its tracked files, the built bin/ and lib/), and leaves
  -- every tracked file as it was
  local it_git = have_git and it or pending
  for _, file in ipairs(DOCS) do
    for _, b in ipairs(blocks(file)) do
      if b.lang == "sh" then
        it_git(("%s:%d: the shell block runs and leaves the tree as it was"):format(file, b.line), function()
          local lines = {}
          for line in b.text:gmatch("(.-)\n") do
            local cmd = line:gsub("%s+#.*$", "")
            if cmd ~= "" and not cmd:match("^scripts/install%-deps") and not cmd:match("^make")
               and not cmd:match("^sudo ") then
              lines[#lines + 1] = cmd
            end
          end
          local tree, tmp = h.tmpdir(), h.tmpdir()
          assert(os.execute(sh(("cd %s && git ls-files -z | xargs -0 cp --parents -t %s && cp -r bin lib %s")
                               :format(h.quote(h.root), h.quote(tree), h.quote(tree)))))
          -- a command exits 0, or 2 for changes pending (diff, plan, dry run)
          local body = { "set -u", "export TMPDIR=" .. h.quote(tmp) }
          for i, l in ipairs(lines) do
            body[#body + 1] = l .. ' >/dev/null 2>>"$TMPDIR/err"; rc=$?; [ $rc -eq 0 ] || [ $rc -eq 2 ] '
                              .. '|| { echo "line ' .. i .. ': exit $rc" >>"$TMPDIR/err"; exit 1; }'
          end
          local script = h.write(tmp .. "/block.sh", table.concat(body, "\n") .. "\n")
          local ok = os.execute(sh("cd " .. h.quote(tree) .. " && sh " .. h.quote(script)))
          assert.is_true(ok == true, h.read(tmp .. "/err"))
          local p = io.popen(sh("cd " .. h.quote(tree) .. " && git -C " .. h.quote(h.root)
                                .. " ls-files | while read -r f; do cmp -s \"$f\" " .. h.quote(h.root)
                                .. "/\"$f\" || echo \"$f\"; done"))
          local changed = p:read("a")
          p:close()
          assert.equals("", changed, "the block changed tracked files")
        end)
      end
    end
  end

  it("docs/cli.md's usage texts are the commands' --help", function()
    local n = 0
    for _, b in ipairs(blocks("docs/cli.md")) do
      local usage = b.lang == "text" and b.text:match("^usage: moonsync ([^\n]*)")
      if usage then
        local args = {}
        for w in usage:gmatch("%S+") do
          if w:match("^[%u%[]") then break end
          args[#args + 1] = w
        end
        args[#args + 1] = "--help"
        local r = h.run(table.unpack(args))
        assert.equals(0, r.code, table.concat(args, " "))
        assert.equals(r.stdout, b.text, table.concat(args, " "))
        n = n + 1
      end
    end
    -- run, diff, diff --schema, sync, plan, apply, inspect, version
    assert.is_true(n >= 8, n .. " usage texts")
  end)
end)
