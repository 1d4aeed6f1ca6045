-- Declared permissions: a job touches files, hosts and environment
-- variables only as its declaration and the command line allow, through
-- every door moonsync has.
local h = require "helpers"
local cjson = require "cjson"

local SCHEMA = [[{"top_level": ["site"], "models": {
  "site": {"identifiers": ["name"], "attributes": ["status"]}}}]]
local SRC = '{"site": [{"name": "a", "status": "x"}]}'
local DST = '{"site": []}'

describe("job permissions #security", function()
  local dir, outside
  before_each(function()
    dir = h.sync_dir(SCHEMA, SRC, DST)
    outside = h.tmpdir()
    h.write(outside .. "/secret.json", SRC)
    h.write(outside .. "/schema.json", SCHEMA)
  end)
  after_each(h.cleanup)

  -- A job whose source function runs `body` (with `dir` and `outside`
  -- set) before returning the usual source.
  local function job(body, permissions, top)
    return h.json_job(dir, { prelude = ("local outside = %q\n%s\nlocal function probe(t)\n%s\nend")
                                         :format(outside, top or "", body),
                             target = "probe(t)", permissions = permissions })
  end

  describe("a job that declares nothing", function()
    it("reads and writes its own directory", function()
      local r = h.run("sync", job([[
        local f = assert(io.open(dir .. "/note.txt", "w")); f:write("hi"); f:close()
        for l in io.lines(dir .. "/note.txt") do assert(l == "hi") end
        require("moonsync.util").write_atomic(dir .. "/other.txt", "x")]]))
      assert.equals(0, r.code, r.stderr)
      assert.equals("hi", h.read(dir .. "/note.txt"))
    end)

    it("cannot read, write or probe outside it, by any door", function()
      for _, door in ipairs {
        'io.open(outside .. "/secret.json")',
        'io.lines(outside .. "/secret.json")',
        'io.open(outside .. "/new.txt", "w")',
        'io.open(dir .. "/../" .. outside:match("[^/]+$") .. "/secret.json")',
        'require("moonsync").schema(outside .. "/schema.json")',
        'require("moonsync.util").read_file(outside .. "/secret.json")',
        'require("moonsync.util").write_atomic(outside .. "/new.txt", "x")',
        'require("moonsync.util").exists(outside .. "/secret.json")',
        'require("moonsync.util").mkdir_p(outside .. "/sub")',
        'require("moonsync.adapters.json_file").open { schema = dir .. "/schema.json", path = outside .. "/secret.json" }',
        'require("moonsync.adapters.csv_file").open { model = require("moonsync").schema(dir .. "/schema.json").model.site, path = outside .. "/x.csv" }',
        'require("moonsync.core").check_json(outside .. "/secret.json")',
        'require("moonsync.core").realpath(outside .. "/secret.json")',
        'require("moonsync.core").lock(outside .. "/secret.json")',
        't:load_file(outside .. "/secret.json")',
        't:load_mapped(require("moonsync").mapping { model = "site", fields = { name = "name" } }, { file = outside .. "/secret.json" })',
      } do
        local r = h.run("diff", job(door))
        assert.equals(1, r.code, door)
        assert.matches("PermissionError: %a+ .*: not permitted", r.stderr, 1, false, door)
      end
      assert.is_nil(h.read(outside .. "/new.txt"))
    end)

    it("cannot follow a symbolic link out of its directory", function()
      assert(os.execute(("ln -s %s %s"):format(h.quote(outside), h.quote(dir .. "/link"))))
      local r = h.run("diff", job('io.open(dir .. "/link/secret.json")'))
      assert.equals(1, r.code)
      assert.matches("PermissionError: read .*link/secret%.json: not permitted", r.stderr)
      -- nor write through a link that points out
      assert(os.execute(("ln -s %s %s"):format(h.quote(outside .. "/planted.json"),
                                                h.quote(dir .. "/planted.json"))))
      r = h.run("diff", job('require("moonsync.util").write_atomic(dir .. "/planted.json", "x")'))
      assert.equals(1, r.code)
      assert.matches("PermissionError: write", r.stderr)
      assert.is_nil(h.read(outside .. "/planted.json"))
    end)

    it("reads no environment variable but moonsync's own", function()
      local r = h.run_env({ MOONSYNC_SPEC = "ok", SPEC_SECRET = "hunter2" }, "diff",
                          job('assert(os.getenv("MOONSYNC_SPEC") == "ok"); os.getenv("SPEC_SECRET")'))
      assert.equals(1, r.code)
      assert.matches("PermissionError: environment variable SPEC_SECRET: not permitted", r.stderr)
      assert.is_nil(r.stderr:find("hunter2", 1, true))
      r = h.run_env({ SPEC_SECRET = "hunter2" }, "diff", job(
        'require("moonsync.http").client { base_url = "http://127.0.0.1:9", token_env = "SPEC_SECRET" }'))
      assert.equals(1, r.code)
      assert.matches("environment variable SPEC_SECRET: not permitted", r.stderr)
    end)

    it("connects to no host", function()
      if not h.have_node() then pending("needs Node.js: run scripts/install-deps") return end
      local srv = h.server("test_server")
      finally(srv.stop)
      local r = h.run("diff", job(('require("moonsync.http").client { base_url = %q }:get("/echo")')
                                  :format(srv.url)))
      assert.equals(1, r.code)
      assert.matches("PermissionError: connecting to 127%.0%.0%.1:%d+: not permitted", r.stderr)
      local conns = cjson.decode(h.fetch(srv.url .. "/conns")).connections
      assert.equals(1, conns)  -- only the curl above
    end)

    it("names the permission that would allow a refused access", function()
      local r = h.run("diff", job('io.open(outside .. "/secret.json")'))
      assert.matches("permissions%.read", r.stderr)
      assert.matches("%-%-allow%-read", r.stderr)
      -- at the top level the declared permissions do not apply yet: say so
      r = h.run("diff", job("", '{ read = { outside } }', 'io.open(outside .. "/secret.json")'))
      assert.equals(1, r.code)
      assert.matches("the top level of a job file runs before its declared permissions apply", r.stderr)
    end)
  end)

  describe("declared permissions", function()
    it("grant files, variables and hosts inside source and target", function()
      if not h.have_node() then pending("needs Node.js: run scripts/install-deps") return end
      local srv = h.server("test_server")
      finally(srv.stop)
      local body = ([[
        assert(io.open(outside .. "/secret.json")):close()
        require("moonsync.util").write_atomic(outside .. "/out.txt", "ok")
        assert(os.getenv("SPEC_VAR") == "v")
        require("moonsync.http").client { base_url = %q }:get("/echo")]]):format(srv.url)
      local j = job(body, '{ read = { outside .. "/secret.json" }, write = { outside .. "/out.txt" },'
                          .. ' env = { "SPEC_VAR" }, net = { "127.0.0.1:' .. srv.port .. '" } }')
      local r = h.run_env({ SPEC_VAR = "v" }, "sync", j)
      assert.equals(0, r.code, r.stderr)
      assert.equals("ok", h.read(outside .. "/out.txt"))
      -- a grant is exactly what it says: not the directory, not another port
      j = job('io.open(outside .. "/schema.json")', '{ read = { outside .. "/secret.json" } }')
      assert.equals(1, h.run("diff", j).code)
      j = job(('require("moonsync.http").client { base_url = %q }:get("/echo")'):format(srv.url),
              '{ net = { "127.0.0.1:1" } }')
      r = h.run("diff", j)
      assert.equals(1, r.code)
      assert.matches("connecting to 127%.0%.0%.1:%d+: not permitted", r.stderr)
    end)

    it("can name what environment variables hold: ${NAME}", function()
      local j = job('local f = assert(io.open(os.getenv("SPEC_FILE"), "w")); f:write("ok"); f:close()',
                    '{ env = { "SPEC_FILE" }, write = { "${SPEC_FILE}" } }')
      local r = h.run_env({ SPEC_FILE = outside .. "/named.txt" }, "sync", j)
      assert.equals(0, r.code, r.stderr)
      assert.equals("ok", h.read(outside .. "/named.txt"))
      -- the variable must be declared too
      j = job("", '{ write = { "${SPEC_FILE}" } }')
      r = h.run_env({ SPEC_FILE = outside .. "/named.txt" }, "diff", j)
      assert.equals(1, r.code)
      assert.matches("declare SPEC_FILE in permissions.env", r.stderr)
    end)

    it("are checked: unknown kinds and malformed entries are errors", function()
      local r = h.run("diff", job("", '{ exec = { "ls" } }'))
      assert.equals(1, r.code)
      assert.matches("unknown permission 'exec'", r.stderr)
      r = h.run("diff", job("", '{ net = { "http://x:y:z" } }'))
      assert.equals(1, r.code)
      assert.matches("permissions.net 'http://x:y:z': expected HOST", r.stderr)
    end)
  end)

  describe("the command line", function()
    it("grants more with --allow-read, --allow-write, --allow-env and --allow-net", function()
      local j = job([[
        assert(io.open(outside .. "/secret.json")):close()
        local f = assert(io.open(outside .. "/cli.txt", "w")); f:write("ok"); f:close()
        assert(os.getenv("SPEC_VAR") == "v")]])
      local r = h.run_env({ SPEC_VAR = "v" }, "sync", j, "--allow-read", outside .. "/secret.json",
                          "--allow-write", outside .. "/cli.txt", "--allow-env", "SPEC_VAR")
      assert.equals(0, r.code, r.stderr)
      assert.equals("ok", h.read(outside .. "/cli.txt"))
    end)

    it("shows what a job declares and may touch with inspect", function()
      local j = job("", '{ read = { "data" }, env = { "NETBOX_TOKEN" }, net = { "netbox.example.com:443" } }')
      local r = h.run("inspect", j, "--allow-net", "*.example.org")
      assert.equals(0, r.code, r.stderr)
      assert.matches("declared permissions:", r.stdout)
      assert.matches("read   data", r.stdout)
      assert.matches("net    netbox%.example%.com:443", r.stdout)
      assert.matches("write  " .. dir:gsub("%p", "%%%0") .. " %(the job's directory, less version control metadata and code", r.stdout)
      assert.matches("net    %*%.example%.org %(%-%-allow%-net%)", r.stdout)
      r = h.run("inspect", j, "--format", "json")
      assert.equals(0, r.code, r.stderr)
      local doc = cjson.decode(r.stdout)
      assert.same({ "NETBOX_TOKEN" }, doc.permissions.env)
      assert.same({ "data" }, doc.permissions.read)
    end)
  end)

  describe("every door", function()
    it("no module function a job can reach opens, writes or connects outside its permissions", function()
      if os.execute("command -v strace >/dev/null 2>&1") ~= true then
        pending("needs strace: run scripts/install-deps") return
      end
      local secret = outside .. "/secret.json"
      -- calls every function of every module a job can require, with the
      -- secret path and a URL in every argument position and shape
      local sweep = ([[
        local secret, url = %q, "http://127.0.0.1:1/x"
        local mods = {}
        -- (the command line's own modules cannot be required at all)
        for _, m in ipairs { "moonsync", "moonsync.core", "moonsync.http", "moonsync.util",
                             "moonsync.mapping", "moonsync.redact", "moonsync.writer",
                             "json_file", "csv_file", "rest", "nautobot",
                             "netbox", "cjson", "cjson.safe" } do
          mods[#mods + 1] = { m, require(m) }
        end
        local ms = require "moonsync"
        local Site = ms.model "site" { identifiers = { "name" }, attributes = { "status" } }
        local a = ms.adapter "a" { models = { Site } }:new()
        mods[#mods + 1] = { "adapter", a }
        mods[#mods + 1] = { "store", getmetatable(a._store) and a._store }
        mods[#mods + 1] = { "client", require("moonsync.http").client { base_url = url } }
        local shapes = {
          function() return secret end, function() return url end,
          function() return { file = secret, path = secret, schema = secret, url = url,
                              base_url = url, model = Site } end,
          function() return { secret } end,
        }
        local seen, calls = {}, 0
        local function sweep(name, t, depth)
          if seen[t] or depth > 2 then return end
          seen[t] = true
          for k, v in pairs(t) do
            if type(v) == "function" and k ~= "main" then
              for _, s1 in ipairs(shapes) do
                for _, s2 in ipairs(shapes) do
                  calls = calls + 1
                  pcall(v, s1(), s2())
                  pcall(v, t, s1(), s2())
                end
              end
            elseif type(v) == "table" then
              sweep(name .. "." .. tostring(k), v, depth + 1)
            end
          end
        end
        for _, m in ipairs(mods) do
          if type(m[2]) == "table" then sweep(m[1], m[2], 0) end
        end
        -- userdata methods: the store's
        for _, k in ipairs { "load_file", "load_json", "map" } do
          for _, s1 in ipairs(shapes) do pcall(a._store[k], a._store, s1()) end
        end
        -- the command line itself is out of reach
        assert(not pcall(require, "moonsync.cli"), "moonsync.cli")
        assert(calls > 500, "swept only " .. calls)
        local f = assert(io.open(dir .. "/swept", "w")); f:write(calls); f:close()]]):format(secret)
      local j = job(sweep)
      local log = dir .. "/strace.log"
      local cmd = ("env -u LD_PRELOAD strace -f -qq -e trace=open,openat,creat,truncate,rename,renameat,renameat2,"
                   .. "unlink,unlinkat,mkdir,mkdirat,link,linkat,symlink,symlinkat,chmod,fchmodat,"
                   .. "connect,execve -o %s %s sync %s >/dev/null 2>&1"):format(
                   h.quote(log), h.quote(h.bin), h.quote(j))
      os.execute(cmd)
      local trace = h.read(log) or ""
      assert.truthy(tonumber(h.read(dir .. "/swept")) > 500)
      local lines = {}
      for l in trace:gmatch("[^\n]+") do
        if l:find(outside, 1, true) or l:find("htons(1)", 1, true)
           or (l:find("execve", 1, true) and not l:find(h.bin, 1, true)) then
          lines[#lines + 1] = l
        end
      end
      assert.same({}, lines)
      assert.equals(SRC, h.read(secret))
    end)
  end)
end)
