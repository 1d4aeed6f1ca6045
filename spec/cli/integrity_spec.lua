-- Write-path integrity: one writer per target, writes that keep the
-- file's identity, nothing loaded is dropped, one policy gate, and plans
-- bound to their job.
local h = require "helpers"
local cjson = require "cjson"
local plans = require "moonsync.plan"

-- A plan edited as a test needs it, sealed again (as a forger who can
-- compute SHA-256 would: only a key stops that).
local function reseal(text)
  return plans.seal((text:gsub(',\n"digest": "[^"]*"\n}\n$', "\n}\n")))
end

local SCHEMA = [[{"top_level": ["site"], "models": {
  "site": {"identifiers": ["name"], "attributes": ["status"], "children": {"device": "devices"}},
  "device": {"identifiers": ["site_name", "name"], "attributes": ["role"]}}}]]

local function sites(prefix, n, status)
  local out = {}
  for i = 1, n do out[i] = ('{"name": "%s%02d", "status": "%s"}'):format(prefix, i, status or "active") end
  return '{"site": [' .. table.concat(out, ", ") .. ']}'
end

local function names(path)
  local doc = cjson.decode(h.read(path))
  local out = {}
  for _, s in ipairs(doc.site or {}) do out[#out + 1] = s.name end
  table.sort(out)
  return table.concat(out, " ")
end

local listdir = h.listdir

-- A job file (named `file`, its job named so too unless opts.name) syncing
-- `src` into dst.json of dir; extra Lua in the target function
-- (`target`), flags, policy.
local function job(dir, file, src, opts)
  opts = opts or {}
  return h.json_job(dir, { file = file, src = src, name = opts.name or file,
                           target = opts.target, flags = opts.flags, policy = opts.policy })
end

describe("write-path integrity #integrity", function()
  local dir
  before_each(function()
    dir = h.tmpdir()
    h.write(dir .. "/schema.json", SCHEMA)
  end)
  after_each(h.cleanup)

  describe("one writer per target", function()
    -- starts `moonsync sync JOB ARGS` in the background, waits for
    -- `marker` (the run is syncing), and returns a function that waits
    -- for the run to end and returns its exit code and stderr
    local function background(jobfile, marker, ...)
      local args = { ... }
      local parts = {}
      for i, a in ipairs(args) do parts[i] = h.quote(a) end
      local tag = tostring(math.random(1 << 30))
      local script = h.write(dir .. "/bg" .. tag .. ".sh", ([[
%s sync %s %s >%s/out%s 2>%s/err%s
echo $? >%s/code%s
]]):format(h.quote(h.bin), h.quote(jobfile), table.concat(parts, " "), dir, tag, dir, tag, dir, tag))
      os.execute("sh " .. h.quote(script) .. " &")
      if marker then
        local n = 0
        while not h.read(marker) and n < 400 do os.execute("sleep 0.02"); n = n + 1 end
      end
      return function()
        local n = 0
        while not h.read(dir .. "/code" .. tag) and n < 1500 do os.execute("sleep 0.02"); n = n + 1 end
        return tonumber(h.read(dir .. "/code" .. tag)), h.read(dir .. "/err" .. tag)
      end
    end

    it("a second sync of the same target fails at once while the first writes", function()
      h.write(dir .. "/dst.json", '{"site": []}')
      h.write(dir .. "/a.json", sites("a", 20))
      local marker = dir .. "/started"
      -- a full collection while the first run writes: the lock is still held
      local a = job(dir, "a.lua", "a.json", { target = "collectgarbage('collect') "
        .. h.slow_creates(marker):gsub("\n", " ") })
      local wait = background(a, marker)
      local r = h.run("sync", a)
      assert.equals(1, r.code)
      assert.matches("another moonsync run %(pid %d+%) holds the lock", r.stderr)
      assert.matches("%-%-lock%-timeout", r.stderr)
      assert.equals(0, (wait()))
      assert.equals(20, #cjson.decode(h.read(dir .. "/dst.json")).site)
    end)

    it("two jobs writing one file take turns, and no update is lost", function()
      h.write(dir .. "/dst.json", '{"site": []}')
      h.write(dir .. "/a.json", sites("a", 20))
      h.write(dir .. "/b.json", sites("b", 5))
      local marker = dir .. "/started"
      local a = job(dir, "a.lua", "a.json", { target = h.slow_creates(marker):gsub("\n", " "),
                                              flags = '{ "SKIP_UNMATCHED_DST" }' })
      local b = job(dir, "b.lua", "b.json", { flags = '{ "SKIP_UNMATCHED_DST" }' })
      local wait = background(a, marker)
      -- b's job lock is its own: the file lock stops it
      local r = h.run("sync", b)
      assert.equals(1, r.code)
      assert.matches("dst%.json is locked by another moonsync run", r.stderr)
      -- waiting, it loads the target only once the first run committed
      r = h.run("sync", b, "--lock-timeout", "30")
      assert.equals(0, r.code, r.stderr)
      assert.equals(0, (wait()))
      local all = {}
      for i = 1, 20 do all[#all + 1] = ("a%02d"):format(i) end
      for i = 1, 5 do all[#all + 1] = ("b%02d"):format(i) end
      table.sort(all)
      assert.equals(table.concat(all, " "), names(dir .. "/dst.json"))
    end)
  end)

  describe("writes keep the file's identity", function()
    it("keeps the mode, follows symbolic links and fsyncs before and after the rename", function()
      h.write(dir .. "/src.json", sites("s", 3))
      os.execute("mkdir -p " .. h.quote(dir .. "/real"))
      h.write(dir .. "/real/store.json", '{"site": []}')
      os.execute(("chmod 600 %s && ln -s real/store.json %s"):format(
        h.quote(dir .. "/real/store.json"), h.quote(dir .. "/dst.json")))
      local j = job(dir, "job.lua", "src.json")
      local log = dir .. "/strace.log"
      if os.execute("command -v strace >/dev/null 2>&1") == true then
        os.execute(("env -u LD_PRELOAD strace -f -qq -e trace=fsync,fdatasync,rename,renameat,renameat2 -o %s %s sync %s >/dev/null 2>&1")
                   :format(h.quote(log), h.quote(h.bin), h.quote(j)))
        local trace = h.read(log)
        local fsync1 = trace:find("fsync%(")
        local rename = trace:find("rename[at2]*%([^\n]*store%.json")
        assert.truthy(fsync1 and rename and fsync1 < rename, trace)
        assert.truthy(trace:find("fsync%(", rename), "no fsync of the directory after the rename")
      else
        assert.equals(0, h.run("sync", j).code)
      end
      local p = io.popen("stat -c '%a %F' " .. h.quote(dir .. "/dst.json") .. " "
                         .. h.quote(dir .. "/real/store.json"))
      local link, real = p:read("l"), p:read("l")
      p:close()
      assert.equals("777 symbolic link", link)
      assert.equals("600 regular file", real)
      assert.equals(3, #cjson.decode(h.read(dir .. "/real/store.json")).site)
      assert.equals("dst.json job.lua real schema.json src.json strace.log",
                    (listdir(dir):gsub(" strace%.log", "") .. " strace.log"))
    end)

    it("removes the temporary file a killed run left behind, and says so", function()
      h.write(dir .. "/src.json", sites("s", 2))
      h.write(dir .. "/dst.json", '{"site": []}')
      -- a writer that died (kill -9) between creating and renaming its file
      local p = io.popen("sh -c 'echo $$'")
      local dead = p:read("l")
      p:close()
      local leftover = dir .. "/.dst.json.moonsync-tmp-" .. dead .. "-0"
      h.write(leftover, '{"site": [{"name": "half')
      local r = h.run("sync", job(dir, "job.lua", "src.json"))
      assert.equals(0, r.code, r.stderr)
      assert.matches("removed .*%.dst%.json%.moonsync%-tmp%-" .. dead .. "%-0, left behind by a run that was killed",
                     r.stderr)
      assert.is_nil(h.read(leftover))
    end)

    it("a run killed by a signal during the write leaves no temporary file", function()
      if os.execute("command -v strace >/dev/null 2>&1") ~= true then
        pending("needs strace: run scripts/install-deps") return
      end
      h.write(dir .. "/src.json", sites("s", 2))
      h.write(dir .. "/dst.json", '{"site": []}')
      local j = job(dir, "job.lua", "src.json")
      -- every fsync takes 3 s: the temporary file is there meanwhile
      os.execute(("env -u LD_PRELOAD strace -f -qq -o /dev/null -e trace=fsync "
                  .. "-e inject=fsync:delay_enter=3000000 %s sync %s >/dev/null 2>&1 &")
                 :format(h.quote(h.bin), h.quote(j)))
      local pid, n = nil, 0
      while not pid and n < 500 do
        pid = listdir(dir):match("%.dst%.json%.moonsync%-tmp%-(%d+)%-")
        if not pid then os.execute("sleep 0.01") end
        n = n + 1
      end
      assert.truthy(pid, "the write never started")
      os.execute("kill -TERM " .. pid)
      n = 0
      while os.execute("kill -0 " .. pid .. " 2>/dev/null") == true and n < 500 do
        os.execute("sleep 0.01")
        n = n + 1
      end
      assert.equals("dst.json job.lua schema.json src.json", listdir(dir))
      assert.equals('{"site": []}', h.read(dir .. "/dst.json"))
    end)
  end)

  describe("load what you write, write what you load", function()
    it("every loader reads a null identifier as None and refuses a missing one alike", function()
      local msg = "ValidationError: .*site: identifier 'name' is missing %(a required field"
      -- a data document: null is None, and a real "None" beside it collides
      h.write(dir .. "/null.json", '{"site": [{"name": null, "status": "x"}]}')
      local r = h.run("diff", "--schema", dir .. "/schema.json", dir .. "/null.json", dir .. "/null.json")
      assert.equals(0, r.code, r.stderr)
      h.write(dir .. "/both.json", '{"site": [{"name": "None", "status": "x"}, {"name": null}]}')
      r = h.run("diff", "--schema", dir .. "/schema.json", dir .. "/both.json", dir .. "/null.json")
      assert.equals(1, r.code)
      assert.matches("both%.json: site%[1%]: Object None already present %(the site at site%[0%] has the "
                     .. "same uid; identifier 'name' is 'None' in the first and None in the second", r.stderr)
      h.write(dir .. "/bad.json", '{"site": [{"status": "x"}]}')
      r = h.run("diff", "--schema", dir .. "/schema.json", dir .. "/bad.json", dir .. "/bad.json")
      assert.equals(1, r.code)
      assert.matches("bad%.json: site%[0%]: site: identifier 'name' is missing", r.stderr)
      -- a mapping, a CSV file and the Lua API: null loads, missing fails
      local s = h.write(dir .. "/loaders.lua", ([[
        local ms = require "moonsync"
        local sc = ms.schema(%q)
        local A = sc:adapter("a")
        local msgs = {}
        local function try(f)
          local ok, e = pcall(f)
          msgs[#msgs + 1] = ok and "loaded " .. tostring(e) or tostring(e)
        end
        local function uid(a) return a:get_all("site")[1]:get_unique_id() end
        try(function() local a = A:new()
          a:load_mapped(ms.mapping { model = "site", fields = { name = "name" } }, { { name = ms.null } })
          return uid(a) end)
        try(function() A:new():load_mapped(ms.mapping { model = "site", fields = { name = "name" } },
                                            { { status = "x" } }) end)
        local f = io.open(%q, "w"); f:write("status\nactive\n"); f:close()
        try(function() require("moonsync.adapters.csv_file").open { model = sc.model.site, path = %q } end)
        try(function() local a = A:new(); a:add(sc.model.site { name = ms.null }); return uid(a) end)
        try(function() A:new():add(sc.model.site { status = "x" }) end)
        try(function() return A:new():new_record("site", { name = ms.null }):get_unique_id() end)
        try(function() A:new():new_record("site", { status = "x" }) end)
        print(table.concat(msgs, "\n"))]]):format(dir .. "/schema.json", dir .. "/s.csv", dir .. "/s.csv"))
      r = h.run("run", s)
      assert.equals(0, r.code, r.stderr)
      local lines = {}
      for line in r.stdout:gmatch("[^\n]+") do lines[#lines + 1] = line end
      assert.equals(7, #lines)
      for i, loaded in ipairs { true, false, false, true, false, true, false } do
        if loaded then assert.equals("loaded None", lines[i])
        else assert.matches(msg, lines[i]) end
      end
    end)

    it("a record outside the tree is an error naming it, never dropped on the next write", function()
      h.write(dir .. "/src.json", sites("s", 1))
      h.write(dir .. "/dst.json", '{"site": [], "device": [{"site_name": "x", "name": "d1"}]}')
      local r = h.run("sync", job(dir, "job.lua", "src.json"))
      assert.equals(1, r.code)
      assert.matches("dst%.json: device%[0%]: device is not a top%-level model of this adapter", r.stderr)
      -- a record added through the API without a parent
      h.write(dir .. "/dst.json", '{"site": []}')
      r = h.run("sync", job(dir, "job.lua", "src.json", {
        target = 't:add(t.model.device { site_name = "x", name = "stray" })' }))
      assert.equals(1, r.code)
      assert.matches("cannot write .*dst%.json: 1 record is outside the tree would be lost %(device 'x__stray'%)",
                     r.stderr)
      assert.equals('{"site": []}', h.read(dir .. "/dst.json"))
    end)
  end)

  describe("one policy gate", function()
    local function tree(n)
      local devs = {}
      for i = 1, n do devs[i] = ('{"site_name": "big", "name": "d%02d", "role": "leaf"}'):format(i) end
      return '{"site": [{"name": "big", "status": "%s", "devices": [' .. table.concat(devs, ", ") .. ']}]}'
    end

    it("apply --refresh is held to the delete budget", function()
      h.write(dir .. "/src.json", tree(20):format("planned"))
      h.write(dir .. "/dst.json", tree(20):format("active"))
      local j = job(dir, "job.lua", "src.json", { policy = "{ max_deletes = 5 }" })
      assert.equals(2, h.run("plan", j, "-o", dir .. "/plan.json").code)
      -- the target drifts and the source goes empty
      h.write(dir .. "/dst.json", tree(20):format("maintenance"))
      h.write(dir .. "/src.json", '{"site": []}')
      local r = h.run("apply", dir .. "/plan.json", "--refresh")
      assert.equals(1, r.code)
      assert.matches("refusing to sync: 21 deletes would exceed the budget of 5", r.stderr)
      assert.equals(20, #cjson.decode(h.read(dir .. "/dst.json")).site[1].devices)
    end)

    it("a protected record protects its ancestors", function()
      h.write(dir .. "/src.json", '{"site": [{"name": "keep", "status": "x"}]}')
      h.write(dir .. "/dst.json", [[{"site": [
        {"name": "keep", "status": "x"},
        {"name": "gone", "status": "x", "devices": [
          {"site_name": "gone", "name": "pinned", "role": "core", "_flags": ["SKIP_UNMATCHED_DST"]},
          {"site_name": "gone", "name": "free", "role": "leaf"}]},
        {"name": "other", "status": "x"}]}]])
      local j = job(dir, "job.lua", "src.json", { flags = '{ "CONTINUE_ON_FAILURE" }',
                                                  policy = "{ max_deletes = 10 }" })
      local r = h.run("sync", j)
      assert.equals(1, r.code)
      assert.matches("delete site gone: error %(Failed to delete site {'name': 'gone'} %- its subtree "
                     .. "holds device 'gone__pinned'", r.stderr)
      -- the rest proceeded: "other" is deleted, "gone" and its device stay
      local after = cjson.decode(h.read(dir .. "/dst.json"))
      assert.equals(2, #after.site)
      assert.equals("gone", after.site[2].name)
      assert.equals("pinned", after.site[2].devices[1].name)
    end)

    it("a delete handler refusing a child keeps its parent (natural deletion order)", function()
      h.write(dir .. "/src.json", '{"site": []}')
      h.write(dir .. "/dst.json", [[{"site": [{"name": "p", "status": "x", "_flags": ["NATURAL_DELETION_ORDER"],
        "devices": [{"site_name": "p", "name": "d", "role": "leaf"}]}]}]])
      local j = job(dir, "job.lua", "src.json", { flags = '{ "CONTINUE_ON_FAILURE" }',
        policy = "{ max_deletes = 10 }", target = [[
        t.spec.delete = function(self, rec)
          if rec:get_type() == "device" then return nil end
          return self:delete_base(rec)
        end]] })
      local r = h.run("sync", j)
      assert.equals(1, r.code)
      assert.matches("its subtree holds device 'p__d'", r.stderr)
      assert.equals("p", cjson.decode(h.read(dir .. "/dst.json")).site[1].name)
    end)

    it("prevent_delete takes a predicate over target records", function()
      h.write(dir .. "/src.json", '{"site": []}')
      h.write(dir .. "/dst.json", sites("s", 4))
      local j = job(dir, "job.lua", "src.json", {
        policy = '{ max_deletes = 10, prevent_delete = function(rec) return rec.name == "s02" end }' })
      local r = h.run("sync", j)
      assert.equals(0, r.code, r.stderr)
      assert.equals("s02", names(dir .. "/dst.json"))
    end)
  end)

  describe("plans bound to their job", function()
    local SRC = '{"site": [{"name": "a", "status": "new"}, {"name": "b", "status": "x"}]}'
    local DST = '{"site": [{"name": "a", "status": "old"}]}'
    before_each(function()
      h.write(dir .. "/src.json", SRC)
      h.write(dir .. "/dst.json", DST)
    end)

    it("records the job's real path and refuses another job", function()
      local j = job(dir, "job.lua", "src.json")
      -- a relative path and a $PWD that lies
      local r = h.run_env({ PWD = "/nonexistent" }, "plan", j, "-o", dir .. "/plan.json")
      assert.equals(2, r.code, r.stderr)
      local plan = cjson.decode(h.read(dir .. "/plan.json"))
      assert.equals(j, plan.job)
      assert.truthy(plan.job_hash and plan.target:match("^json_file .*/dst%.json$"))
      local other = job(dir, "other.lua", "src.json", { name = "other" })
      r = h.run("apply", dir .. "/plan.json", "--job", other)
      assert.equals(1, r.code)
      assert.matches("the plan was made for the job .*job%.lua, and .*other%.lua is another job", r.stderr)
      assert.equals(DST, h.read(dir .. "/dst.json"))
    end)

    it("refuses a job that changed since the plan, or whose module did", function()
      h.write(dir .. "/helper.lua", "return { status = 'new' }")
      local j = job(dir, "job.lua", "src.json", { target = 'local hp = require "helper"' })
      assert.equals(2, h.run("plan", j, "-o", dir .. "/plan.json").code)
      h.write(dir .. "/helper.lua", "return { status = 'changed' }")
      local r = h.run("apply", dir .. "/plan.json")
      assert.equals(1, r.code)
      assert.matches("the job's module helper .* changed since the plan was made", r.stderr)
      h.write(dir .. "/helper.lua", "return { status = 'new' }")
      h.write(j, h.read(j) .. "\n-- edited\n")
      r = h.run("apply", dir .. "/plan.json")
      assert.equals(1, r.code)
      assert.matches("the job .*job%.lua changed since the plan was made", r.stderr)
      assert.equals(DST, h.read(dir .. "/dst.json"))
    end)

    it("refuses a plan made for another target", function()
      local j = h.write(dir .. "/job.lua", ([[
        local ms = require "moonsync"
        local json_file = require "moonsync.adapters.json_file"
        local dir = %q
        return ms.job {
          source = function() return json_file.open { schema = dir .. "/schema.json", path = dir .. "/src.json" } end,
          target = function() return json_file.open { schema = dir .. "/schema.json", side = "dest",
                     path = dir .. "/" .. os.getenv("MOONSYNC_SPEC_TARGET") } end,
        }]]):format(dir))
      h.write(dir .. "/other.json", DST)
      assert.equals(2, h.run_env({ MOONSYNC_SPEC_TARGET = "dst.json" }, "plan", j, "-o", dir .. "/plan.json").code)
      local r = h.run_env({ MOONSYNC_SPEC_TARGET = "other.json" }, "apply", dir .. "/plan.json")
      assert.equals(1, r.code)
      assert.matches("the plan was made for the target json_file .*dst%.json; the job's target is now "
                     .. "json_file .*other%.json", r.stderr)
      assert.equals(DST, h.read(dir .. "/other.json"))
    end)

    it("validates every entry before applying any", function()
      local j = job(dir, "job.lua", "src.json")
      assert.equals(2, h.run("plan", j, "-o", dir .. "/plan.json").code)
      local text = h.read(dir .. "/plan.json")
      for _, case in ipairs {
        { '"flags": 0', '"flags": -1', "flags must be an integer made of the global flags" },
        { '"flags": 0', '"flags": 4611686018427387904', "flags must be an integer made of the global flags" },
        { '"uid": "b"', '"uid": "zzz"', "changes%[2%] create site zzz: its keys give the uid 'b', not 'zzz'" },
      } do
        local bad = text:gsub(case[1]:gsub("%p", "%%%0"), case[2], 1)
        h.write(dir .. "/bad.json", reseal(bad))
        local r = h.run("apply", dir .. "/bad.json")
        assert.equals(1, r.code, case[2])
        assert.matches(case[3], r.stderr)
        assert.is_nil(r.stderr:find("drifted", 1, true))
        assert.equals(DST, h.read(dir .. "/dst.json"))
      end
    end)

    it("refuses a child create whose parent is missing", function()
      h.write(dir .. "/src.json", '{"site": [{"name": "a", "status": "old", "devices": '
              .. '[{"site_name": "a", "name": "d", "role": "leaf"}]}]}')
      local j = job(dir, "job.lua", "src.json")
      assert.equals(2, h.run("plan", j, "-o", dir .. "/plan.json").code)
      -- the plan's device now names a parent that is not there
      local text = h.read(dir .. "/plan.json"):gsub('"parent": {"model": "site", "uid": "a"}',
                                                    '"parent": {"model": "site", "uid": "nope"}')
      h.write(dir .. "/bad.json", reseal(text))
      local r = h.run("apply", dir .. "/bad.json")
      assert.equals(1, r.code)
      assert.matches("its parent site nope is neither in the target nor created by the plan", r.stderr)
      assert.matches("1 invalid change; nothing was applied", r.stderr)
      assert.equals(DST, h.read(dir .. "/dst.json"))
    end)
  end)
end)
