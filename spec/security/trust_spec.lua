-- Probes a job file, a plan file or a local user would run: each one found
-- a way past the sandbox before its fix.
local h = require "helpers"
local plans = require "moonsync.plan"

-- A plan's text with its digest made again over what it now says: what a
-- forger who can compute SHA-256 (or knows a key) would write.
local function reseal(text, key)
  return plans.seal((text:gsub(',\n"digest": "[^"]*"\n}\n$', "\n}\n")), key)
end

local SCHEMA = [[{"top_level": ["site"], "models": {
  "site": {"identifiers": ["name"], "attributes": ["status"]}}}]]
local SRC = '{"site": [{"name": "a", "status": "x"}, {"name": "b", "status": "y"}]}'
local DST = '{"site": [{"name": "a", "status": "old"}]}'

-- Runs moonsync with `args` from directory `cwd`.
local function run_in(cwd, ...) return h.run_at(cwd, {}, ...) end

describe("trust #security", function()
  local dir
  before_each(function() dir = h.sync_dir(SCHEMA, SRC, DST) end)
  after_each(h.cleanup)

  describe("moonsync's modules come from moonsync's directory only", function()
    local PWN = 'os.execute("touch %s/pwned"); return {}'

    it("a moonsync.* module shipped beside the job is not loaded", function()
      os.execute("mkdir -p " .. h.quote(dir .. "/moonsync/adapters"))
      h.write(dir .. "/moonsync/pwn.lua", PWN:format(dir))
      h.write(dir .. "/moonsync/adapters/pwn.lua", PWN:format(dir))
      for _, name in ipairs { "moonsync.pwn", "moonsync.adapters.pwn" } do
        local job = h.json_job(dir, { prelude = ("require %q"):format(name) })
        local r = run_in(dir, "diff", job)
        assert.equals(1, r.code, r.stderr)
        assert.matches("module '" .. name:gsub("%.", "%%.") .. "' is not one of moonsync's modules",
                       r.stderr)
        assert.is_nil(h.read(dir .. "/pwned"), name)
      end
    end)

    it("a module a job writes into the current directory is not loaded either", function()
      local job = h.json_job(dir, { prelude = ([[
        os.execute = nil
        local f = io.open(%q, "w")
        if f then f:write(%q) f:close() end
        require "moonsync.pwn2"]]):format(dir .. "/moonsync/pwn2.lua", PWN:format(dir)) })
      os.execute("mkdir -p " .. h.quote(dir .. "/moonsync"))
      local r = run_in(dir, "diff", job)
      assert.equals(1, r.code, r.stderr)
      assert.is_nil(h.read(dir .. "/pwned"))
    end)

    it("moonsync's real modules still load", function()
      local job = h.json_job(dir, { prelude = [[
        assert(require("moonsync.http").client)
        assert(require("moonsync.adapters.rest"))
        assert(require("netbox"))
        assert(require("cjson.safe").decode("[1]")[1] == 1)]] })
      local r = run_in(dir, "diff", job, "--format", "summary")
      assert.equals(2, r.code, r.stderr)
    end)
  end)

  describe("every libcurl option a job reaches is checked", function()
    local a, b
    before_each(function()
      a, b = h.server("test_server"), h.server("test_server")
    end)
    after_each(function() a.stop() b.stop() end)

    local function attempt(opts)
      local job = h.json_job(dir, {
        permissions = ("{ net = { %q } }"):format("127.0.0.1:" .. a.port),
        target = ([[
          local http = require "moonsync.http"
          local c = http.client { base_url = %q, %s }
          c:get("/conns")]]):format(a.url, opts) })
      return h.run("diff", job)
    end

    it("a proxy on a host the job may not reach is refused, and nothing reaches it", function()
      for _, proxy in ipairs { "127.0.0.1:" .. b.port, b.url, "https://127.0.0.1:" .. b.port } do
        local r = attempt(("proxy = %q"):format(proxy))
        assert.equals(1, r.code, r.stderr)
        assert.matches("connecting to 127%.0%.0%.1:" .. b.port .. ": not permitted", r.stderr)
      end
      -- the fetch of /conns is the only connection b ever accepted
      assert.equals("1", h.fetch(b.url .. "/conns"):match("%d+"))
    end)

    it("a proxy other than http(s) is refused", function()
      local r = attempt(("proxy = %q"):format("socks5h://127.0.0.1:" .. a.port))
      assert.equals(1, r.code, r.stderr)
      assert.matches("only http:// and https:// proxies", r.stderr)
    end)

    it("a user agent of more than one line is refused", function()
      local r = attempt('user_agent = "x\\r\\nX-Injected: 1"')
      assert.equals(1, r.code, r.stderr)
      assert.matches("user_agent must be one line", r.stderr)
    end)

    it("a CA file outside the job's permissions is refused", function()
      local r = attempt('ca_file = "/etc/shadow"')
      assert.equals(1, r.code, r.stderr)
      assert.matches("read /etc/shadow: not permitted", r.stderr)
    end)
  end)

  describe("the job's directory grant", function()
    local function writes(path, ...)
      local job = h.json_job(dir, { target = ([[
        local f, err = io.open(%q, "a")
        if not f then error(err) end
        f:write("\n[core]\n\tfsmonitor = touch pwned\n")
        f:close()]]):format(path) })
      return h.run("diff", job, "--format", "summary", ...)
    end

    it("does not cover version control metadata", function()
      os.execute("git init -q " .. h.quote(dir))
      local before = h.read(dir .. "/.git/config")
      for _, p in ipairs { "/.git/config", "/.git/hooks/pre-commit", "/sub/.hg/hgrc", "/.svn/x" } do
        local r = writes(dir .. p)
        assert.equals(1, r.code, p)
        assert.matches("not version control metadata or code", r.stderr)
      end
      assert.equals(before, h.read(dir .. "/.git/config"))
    end)

    it("does not cover the job file, sibling jobs or modules", function()
      h.write(dir .. "/other.lua", "return 1")
      for _, p in ipairs { "/job.lua", "/other.lua", "/helper.lua", "/lib/x.so" } do
        local r = writes(dir .. p)
        assert.equals(1, r.code, p)
        assert.matches("not version control metadata or code", r.stderr)
      end
      assert.equals("return 1", h.read(dir .. "/other.lua"))
      assert.is_nil(h.read(dir .. "/helper.lua"))
    end)

    it("covers the data files in it, and the operator can grant more", function()
      assert.equals(2, writes(dir .. "/out.txt").code)
      os.execute("mkdir -p " .. h.quote(dir .. "/sub.lua.d"))
      assert.equals(2, writes(dir .. "/sub.lua.d/notes.txt").code)
      os.execute("mkdir -p " .. h.quote(dir .. "/.git"))
      local r = writes(dir .. "/.git/config", "--allow-write", dir .. "/.git")
      assert.equals(2, r.code, r.stderr)
      r = h.run("inspect", dir .. "/job.lua")
      assert.matches("less version control metadata and code", r.stdout)
    end)
  end)

  describe("plans", function()
    local job, plan
    before_each(function()
      job = h.json_job(dir)
      plan = dir .. "/plan.json"
    end)

    local function make(env)
      local r = h.run_env(env or {}, "plan", job, "-o", plan)
      assert.equals(2, r.code, r.stderr)
      return h.read(plan)
    end

    local function apply(text, env, ...)
      h.write(dir .. "/edited.json", text)
      return h.run_env(env or {}, "apply", dir .. "/edited.json", ...)
    end

    it("an edited plan is refused before anything is applied", function()
      local text = make()
      for _, edit in ipairs {
        { '"status": "x"', '"status": "pwned"' },                          -- attrs
        { '"create": 1', '"create": 0' },                                  -- the summary
        { '"changes": [', '"changes": [{"action": "create", "model": "site", "uid": "z", '
          .. '"keys": {"name": "z"}, "attrs": {"status": "z"}, "fingerprint": null, "parent": null}, ' },
      } do
        local edited, n = text:gsub(edit[1]:gsub("%p", "%%%0"), (edit[2]:gsub("%%", "%%%%")), 1)
        assert.equals(1, n, edit[1])
        local r = apply(edited)
        assert.equals(1, r.code, edit[2])
        assert.matches("content does not match its digest", r.stderr)
        assert.equals(DST, h.read(dir .. "/dst.json"))
      end
      -- a plan cut short, or with its digest dropped
      assert.matches("has no digest", apply((text:gsub(',\n"digest": "[^"]*"', ""))).stderr)
      assert.equals(0, apply(text).code)
    end)

    it("with a key, only plans signed with it are applied", function()
      local key = { MOONSYNC_PLAN_KEY = "s3cret" }
      local text = make(key)
      assert.matches('"digest": "hmac%-sha256:%x+"\n}\n$', text)
      local forged = reseal((text:gsub('"status": "x"', '"status": "pwned"', 1)))
      assert.matches("not signed", apply(forged, key).stderr)
      local wrong = reseal((text:gsub('"status": "x"', '"status": "pwned"', 1)), "guess")
      assert.matches("content does not match its digest", apply(wrong, key).stderr)
      assert.matches("signed with a key: set MOONSYNC_PLAN_KEY", apply(text).stderr)
      assert.equals(DST, h.read(dir .. "/dst.json"))
      local r = apply(text, key)
      assert.equals(0, r.code, r.stderr)
    end)

    it("no job can read the plan key", function()
      local j = h.json_job(dir, { target = 'print("KEY=" .. tostring(os.getenv("MOONSYNC_PLAN_KEY")))',
                                  permissions = '{ env = { "MOONSYNC_PLAN_KEY", "*" } }' })
      local r = h.run_env({ MOONSYNC_PLAN_KEY = "s3cret" }, "diff", j, "--allow-env", "MOONSYNC_PLAN_KEY")
      assert.equals(1, r.code)
      assert.matches("environment variable MOONSYNC_PLAN_KEY: not permitted", r.stderr)
      assert.is_nil(r.stdout:find("s3cret", 1, true))
    end)

    it("the plan does not choose the job that runs", function()
      local text = make()
      local evil = h.tmpdir()
      h.write(evil .. "/evil.lua", ('local f = io.open(%q, "w") f:write("ran") f:close() '
              .. 'return require("moonsync").job {}'):format(evil .. "/ran"))
      local elsewhere = h.tmpdir()
      local pointed = reseal((text:gsub('"job": "[^"]*"', ('"job": %q'):format(evil .. "/evil.lua"), 1)))
      h.write(elsewhere .. "/p.json", pointed)
      local r = h.run("apply", elsewhere .. "/p.json", "--allow-write", evil)
      assert.equals(1, r.code)
      assert.matches("no evil.lua is beside the plan: name the job to apply it with with %-%-job", r.stderr)
      assert.is_nil(h.read(evil .. "/ran"))
      -- beside the plan, the job's name must hold the job's content
      h.write(elsewhere .. "/job.lua", h.read(job) .. "-- another job\n")
      h.write(elsewhere .. "/p.json", text)
      r = h.run("apply", elsewhere .. "/p.json")
      assert.equals(1, r.code)
      assert.matches("is another job", r.stderr)
      h.write(elsewhere .. "/job.lua", h.read(job))
      r = h.run("apply", elsewhere .. "/p.json", "--allow-write", dir)
      assert.equals(0, r.code, r.stderr)
    end)
  end)

  it("string.dump is out of reach through string methods too", function()
    local job = h.json_job(dir, { prelude = [[
      assert(("").dump == nil, "(''):dump")
      assert(string.dump == nil, "string.dump")
      local ok = pcall(function() return ("x").dump(print) end)
      assert(not ok)]] })
    local r = h.run("diff", job, "--format", "summary")
    assert.equals(2, r.code, r.stderr)
  end)

  describe("what the command line keeps is the operator's only", function()
    local function mode(path)
      local p = io.popen("stat -c %a " .. h.quote(path) .. " 2>/dev/null")
      local m = p:read("l")
      p:close()
      return m
    end

    it("state directories are 0700 and the history's files 0600", function()
      local state = h.tmpdir()
      local env = { XDG_STATE_HOME = state, XDG_RUNTIME_DIR = "", MOONSYNC_HISTORY = "" }
      local r = h.run_env(env, "sync", h.json_job(dir))
      assert.equals(0, r.code, r.stderr)
      assert.equals("700", mode(state .. "/moonsync"))
      assert.equals("700", mode(state .. "/moonsync/locks"))
      assert.equals("600", mode(state .. "/moonsync/history.sqlite"))
      for _, sfx in ipairs { "-wal", "-shm" } do
        local m = mode(state .. "/moonsync/history.sqlite" .. sfx)
        assert.is_true(m == nil or m == "600", sfx .. " " .. tostring(m))
      end
    end)

    it("an older, open state directory and history are closed on the next run", function()
      local state = h.tmpdir()
      os.execute(("mkdir -p %s/moonsync && chmod 755 %s/moonsync && touch %s/moonsync/history.sqlite"
                  .. " && chmod 644 %s/moonsync/history.sqlite"):format(state, state, state, state))
      local env = { XDG_STATE_HOME = state, XDG_RUNTIME_DIR = "", MOONSYNC_HISTORY = "" }
      assert.equals(2, h.run_env(env, "diff", h.json_job(dir)).code)
      assert.equals("700", mode(state .. "/moonsync"))
      assert.equals("600", mode(state .. "/moonsync/history.sqlite"))
    end)

    it("plans and reports follow the operator's umask", function()
      local job = h.json_job(dir)
      for umask, want in pairs { ["077"] = "600", ["027"] = "640" } do
        os.execute(("cd %s && umask %s && %s plan %s -o %s/p%s.json --report %s/r%s.html >/dev/null 2>&1")
                   :format(h.quote(dir), umask, h.quote(h.bin), h.quote(job), dir, umask, dir, umask))
        assert.equals(want, mode(dir .. "/p" .. umask .. ".json"), umask)
        assert.equals(want, mode(dir .. "/r" .. umask .. ".html"), umask)
      end
    end)
  end)

  describe("targets given as adapters", function()
    -- a job whose target is an adapter opened at its top level
    local function adapter_job(name, src, extra)
      return h.write(dir .. "/" .. name, ([[
local ms = require "moonsync"
local json_file = require "moonsync.adapters.json_file"
local core = require "moonsync.core"
local dir = %q
local t = json_file.open { schema = dir .. "/schema.json", path = dir .. "/dst.json",
                           name = "dst", side = "dest" }
%s
return ms.job {
  source = json_file.open { schema = dir .. "/schema.json", path = dir .. "/%s", name = "src" },
  target = t,
}
]]):format(dir, extra or "", src))
    end

    it("are locked: a second run on the same target waits or fails, no records are lost", function()
      h.write(dir .. "/src2.json", '{"site": [{"name": "c", "status": "z"}]}')
      local marker = dir .. "/started"
      local a = adapter_job("a.lua", "src.json", (h.slow_creates(marker):gsub("< 0%.03", "< 1.5")))
      local b = adapter_job("b.lua", "src2.json", "")
      local script = h.write(dir .. "/both.sh", ([[
%s sync %s >%s/a.out 2>&1 &
pid=$!
n=0
while [ ! -f %s ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); done
%s sync %s --flag skip_unmatched_dst >%s/b.out 2>&1
echo $? >%s/b.code
wait $pid
echo $? >%s/a.code
]]):format(h.quote(h.bin), h.quote(a), dir, h.quote(marker), h.quote(h.bin), h.quote(b), dir, dir, dir))
      os.execute("sh " .. h.quote(script))
      assert.equals("0", h.read(dir .. "/a.code"):match("%d+"), h.read(dir .. "/a.out"))
      assert.equals("1", h.read(dir .. "/b.code"):match("%d+"), h.read(dir .. "/b.out"))
      assert.matches("locked by another moonsync run", h.read(dir .. "/b.out"))
      -- b runs once a is done, and keeps what a wrote
      local r = h.run("sync", b, "--flag", "skip_unmatched_dst")
      assert.equals(0, r.code, r.stderr)
      local after = h.read(dir .. "/dst.json")
      for _, name in ipairs { '"a"', '"b"', '"c"' } do assert.matches(name, after, 1, true) end
    end)

    it("are refused when their file changed between the job's load and the lock", function()
      local job = adapter_job("c.lua", "src.json", ([[
local f = io.open(%q, "w")
f:write('{"site": [{"name": "other", "status": "x"}]}')
f:close()]]):format(dir .. "/dst.json"))
      local r = h.run("sync", job)
      assert.equals(1, r.code, r.stderr)
      assert.matches("dst%.json changed after the job opened it and before it was locked", r.stderr)
      assert.matches('"other"', h.read(dir .. "/dst.json"))
    end)
  end)

  it("a target with another hard link is refused, and neither name changes", function()
    os.execute(("ln %s %s"):format(h.quote(dir .. "/dst.json"), h.quote(dir .. "/twin.json")))
    local r = h.run("sync", h.json_job(dir))
    assert.equals(1, r.code, r.stderr)
    assert.matches("dst%.json: it has 2 hard links", r.stderr)
    assert.equals(DST, h.read(dir .. "/dst.json"))
    assert.equals(DST, h.read(dir .. "/twin.json"))
    -- a write through the library is refused the same way
    local s = h.write(dir .. "/w.lua", ('require("moonsync.util").write_atomic(%q, "x")'):format(dir .. "/twin.json"))
    r = h.run("run", s)
    assert.equals(1, r.code)
    assert.matches("twin%.json: it has 2 hard links", r.stderr)
    assert.equals(DST, h.read(dir .. "/dst.json"))
  end)
end)
