-- Job files cannot change what trusted code does: shared tables and
-- metatables are out of reach, bytecode cannot be loaded, and values a job
-- raises or receives give it nothing of moonsync's own.
local h = require "helpers"

local SCHEMA = [[{"top_level": ["site"], "models": {
  "site": {"identifiers": ["name"], "attributes": ["status"], "children": {"device": "devices"}},
  "device": {"identifiers": ["site_name", "name"], "attributes": ["role"]}}}]]
local SRC = '{"site": [{"name": "a", "status": "x"}, {"name": "b", "status": "y"}]}'
local DST = '{"site": [{"name": "a", "status": "old"}]}'

describe("sandbox isolation #security", function()
  local dir
  before_each(function() dir = h.sync_dir(SCHEMA, SRC, DST) end)
  after_each(h.cleanup)

  -- Runs `moonsync diff` on a job whose top level is `prelude`.
  local function diff(prelude, opts)
    opts = opts or {}
    opts.prelude = prelude
    return h.run("diff", h.json_job(dir, opts), "--format", "summary")
  end

  describe("shared tables and metatables", function()
    it("the string metatable is protected: the known escape to os.execute fails", function()
      local r = diff([[
        getmetatable("").__index.match = function() return true end
        require("os").execute("touch ]] .. dir .. [[/pwned")]])
      assert.equals(1, r.code)
      assert.matches("attempt to index a boolean value", r.stderr)
      assert.is_nil(h.read(dir .. "/pwned"))
    end)

    it("getmetatable of strings and files gives nothing to change", function()
      local r = diff([[
        assert(getmetatable("") == false, "string metatable")
        assert(getmetatable(io.stdout) == false, "file metatable")
        assert(not pcall(setmetatable, "", {}))]])
      assert.equals(2, r.code, r.stderr)
    end)

    it("the job's string, table, math, utf8 and coroutine are its own copies", function()
      local r = diff([[
        string.format = function() return "hijacked" end
        table.concat = function() return "hijacked" end
        string.rep = nil
        assert(("%d"):format(1) == "1")      -- string methods stay the real ones
        assert(string.dump == nil, "string.dump")]])
      assert.equals(2, r.code, r.stderr)
      -- trusted code still formats its summary with the real functions
      assert.matches('"create": 1', r.stdout)
    end)

    it("moonsync's modules are read-only views", function()
      for _, attack in ipairs {
        'local ms = require "moonsync"; ms.flag_value = function() return 0 end',
        'require("moonsync").Adapter.diff_from = function() error("hijacked") end',
        'require("moonsync.core").diff = nil',
        'require("moonsync.util").read_file = function() return "{}" end',
        'require("moonsync.adapters.json_file").open = nil',
        'require("cjson").encode = nil',
        'require("moonsync.http").client = nil',
      } do
        local r = diff(attack)
        assert.equals(1, r.code, attack)
        assert.matches("read%-only for job files", r.stderr, 1, false, attack)
      end
    end)

    it("the command line's own modules (run history, reports, sandbox) cannot be required", function()
      for _, name in ipairs { "moonsync.history", "moonsync.report", "moonsync.cli",
                              "moonsync.sandbox", "moonsync.job", "moonsync.plan" } do
        local r = diff(("require(%q).mkdirs(%q)"):format(name, dir .. "/made/here"))
        assert.equals(1, r.code, name)
        assert.matches("module '" .. name:gsub("%.", "%%.") .. "' is the command line's own", r.stderr)
      end
      assert.is_nil(h.read(dir .. "/made"))
    end)

    it("a write that bypasses the view changes only the job's view", function()
      local r = diff([[
        local ms = require "moonsync"
        rawset(ms, "schema", function() error("hijacked") end)
        rawset(require("moonsync").Adapter, "diff_from", function() error("hijacked") end)]])
      -- the job's diff runs moonsync's own functions
      assert.equals(2, r.code, r.stderr)
      assert.matches('"create": 1', r.stdout)
    end)

    it("moonsync's classes keep their metatables to themselves", function()
      local r = diff([[
        local ms = require "moonsync"
        local Site = ms.model "site" { identifiers = { "name" } }
        assert(getmetatable(Site) == "moonsync.Model")
        local A = ms.adapter "a" { models = { Site } }
        assert(getmetatable(A) == "moonsync.AdapterClass")
        local a = A:new()
        local rec = a:add(Site { name = "x" })
        assert(getmetatable(rec) == "moonsync.Record")
        assert(getmetatable(a._store) == "moonsync.Store")
        assert(getmetatable(ms.error("X", "y")) == "moonsync.Error")
        assert(getmetatable(ms.map()) == "moonsync.map")
        assert(not pcall(setmetatable, ms.map(), nil))
        assert(getmetatable(require("moonsync.http").client {}) == "moonsync.http.Client")]])
      assert.equals(2, r.code, r.stderr)
    end)
  end)

  describe("bytecode", function()
    it("cannot be loaded, made or smuggled through a module", function()
      local r = diff([[
        local f = function() return 1 end
        assert(string.dump == nil)
        local chunk = "\27Lua\84\0\25\147\13\10\26\10"
        local fn, err = load(chunk, "x", "b")
        assert(fn == nil and err:match("binary"), err)
        fn, err = load(chunk)
        assert(fn == nil and err:match("binary"), err)]])
      assert.equals(2, r.code, r.stderr)
      h.write(dir .. "/bin.lua", "\27Lua\84\0\25\147\13\10\26\10")
      r = diff('require "bin"')
      assert.equals(1, r.code)
      assert.matches("attempt to load a binary chunk", r.stderr)
    end)
  end)

  describe("error objects raised into trusted code", function()
    it("cannot set the exit status or run their metamethods there", function()
      local marker = dir .. "/ran"
      local r = diff(([[
        local touch = function() local f = io.open(%q, "w"); f:write("x"); f:close() end
        error(setmetatable({ exit = 0, cli = "all good" }, {
          __index = function() touch(); return 0 end,
          __tostring = function() touch(); return "all good" end,
        }))]]):format(marker))
      assert.equals(1, r.code)
      assert.matches("%(error object is a table value%)", r.stderr)
      assert.is_nil(h.read(marker))
    end)

    it("raised from a handler become a HandlerError without running their code", function()
      local marker = dir .. "/ran"
      local j = h.json_job(dir, { target = ([[
        t.spec.create = function()
          local touch = function() local f = io.open(%q, "w"); f:write("x"); f:close() end
          error(setmetatable({ result = { created = 99 } }, {
            __index = function() touch(); return "Interrupted" end,
            __tostring = function() touch(); return "fine" end }))
        end]]):format(marker) })
      local r = h.run("sync", j)
      assert.equals(1, r.code)
      assert.matches("HandlerError: create handler failed for site 'b': %(error object is a table value%)",
                     r.stderr)
      assert.is_nil(h.read(marker))
      assert.equals(DST, h.read(dir .. "/dst.json"))
    end)
  end)

  describe("objects passed to job callbacks", function()
    it("give handlers no shared table or finalizer to reach", function()
      local j = h.json_job(dir, { target = [[
        t.spec.create = function(self, model, ids, attrs)
          assert(getmetatable(model) == "moonsync.Model")
          assert(getmetatable(getmetatable(self)) == "moonsync.AdapterClass")
          assert(not pcall(function() getmetatable(self._store).__gc(self._store) end))
          local rec = self:create_base(model, ids, attrs)
          assert(getmetatable(rec) == "moonsync.Record")
          local ok = pcall(function(x) local s <close> = x end, self._store)
          assert(not ok, "<close> on the store")
          return rec
        end]] })
      local r = h.run("sync", j)
      assert.equals(0, r.code, r.stderr)
      assert.matches("1 created, 1 updated", r.stdout)
    end)
  end)
end)
