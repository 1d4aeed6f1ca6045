local ms = require "moonsync"

local Site = ms.model "site" {
  identifiers = { "name" }, attributes = { "status", "region" },
  children = { device = "devices" },
}
local Device = ms.model "device" {
  identifiers = { "site_name", "name" }, shortname = { "name" },
  attributes = { "role" },
}

local DATA_SRC = {
  { "ams", "planned", "eu", devices = { { "sw1", "leaf" }, { "sw2", "spine" } } },
  { "osl", "active", "eu", devices = { { "r1", "edge" } } },
}
local DATA_DST = {
  { "ams", "active", "eu", devices = { { "sw1", "leaf" } } },
  { "nyc", "active", "us", devices = { { "old", "leaf" } } },
}

local function fill(a, data)
  for _, s in ipairs(data) do
    local site = a:add(Site { name = s[1], status = s[2], region = s[3] })
    for _, d in ipairs(s.devices or {}) do
      site:add_child(a:add(Device { site_name = s[1], name = d[1], role = d[2] }))
    end
  end
  return a
end

local function pair(spec)
  local decl = { models = { Site, Device } }
  for k, v in pairs(spec or {}) do decl[k] = v end
  local Src = ms.adapter "source" { models = { Site, Device } }
  local Dst = ms.adapter "dest" (decl)
  return fill(Src:new(), DATA_SRC), fill(Dst:new(), DATA_DST)
end

describe("moonsync sync", function()
  it("makes the target match with the in-memory defaults", function()
    local src, dst = pair()
    local diff, res = dst:sync_from(src)
    assert.equals(3, diff:summary().create)
    assert.same({ 3, 1, 2 }, { res.created, res.updated, res.deleted })
    assert.is_false(dst:diff_from(src):has_diffs())
    assert.equals("planned", dst:get("site", "ams").status)
    assert.same({ "ams__sw1", "ams__sw2" }, dst:get("site", "ams").devices)
    assert.is_nil(dst:get_or_none("site", "nyc"))
    assert.is_nil(dst:get_or_none("device", "nyc__old"))
  end)

  it("sets DiffSync's statuses", function()
    local src, dst = pair()
    dst:sync_from(src)
    assert.same({ "success", "Updated successfully" }, { dst:get("site", "ams"):get_status() })
    assert.same({ "success", "Created successfully" }, { dst:get("site", "osl"):get_status() })
    assert.same({ "unknown", "" }, { dst:get("device", "ams__sw1"):get_status() })
  end)

  it("calls handlers with DiffSync's arguments, in DiffSync's order", function()
    local calls = {}
    local src, dst = pair {
      create = function(self, model, ids, attrs)
        calls[#calls + 1] = { "create", model.name, ids, attrs }
        return self:create_base(model, ids, attrs)
      end,
      update = function(self, rec, attrs)
        calls[#calls + 1] = { "update", rec:get_unique_id(), attrs }
        return self:update_base(rec, attrs)
      end,
      delete = function(self, rec)
        calls[#calls + 1] = { "delete", rec:get_unique_id() }
        return self:delete_base(rec)
      end,
    }
    dst:sync_from(src)
    assert.same({
      { "update", "ams", { status = "planned" } },
      { "create", "device", { site_name = "ams", name = "sw2" }, { role = "spine" } },
      { "create", "site", { name = "osl" }, { status = "active", region = "eu" } },
      { "create", "device", { site_name = "osl", name = "r1" }, { role = "edge" } },
      { "delete", "nyc" },
      { "delete", "nyc__old" },
    }, calls)
  end)

  it("passes unset attributes to create as ms.null", function()
    local got
    local Src = ms.adapter "s" { models = { Site, Device } }
    local Dst = ms.adapter "d" { models = { Site, Device },
      create = function(self, model, ids, attrs) got = attrs; return self:create_base(model, ids, attrs) end }
    local src, dst = Src:new(), Dst:new()
    src:add(Site { name = "x" })
    dst:sync_from(src)
    assert.same({ status = ms.null, region = ms.null }, got)
    assert.is_nil(dst:get("site", "x").status)
  end)

  it("prefers model-level handlers", function()
    local seen = {}
    local S2 = ms.model "site" { identifiers = { "name" }, attributes = { "status", "region" },
      children = { device = "devices" },
      update = function(adapter, rec, attrs) seen[#seen + 1] = "model"; return adapter:update_base(rec, attrs) end }
    local Src = ms.adapter "s" { models = { Site, Device } }
    local Dst = ms.adapter "d" { models = { S2, Device },
      update = function(self, rec, attrs) seen[#seen + 1] = "adapter"; return self:update_base(rec, attrs) end }
    local src, dst = fill(Src:new(), DATA_SRC), fill(Dst:new(), DATA_DST)
    dst:sync_from(src)
    assert.same({ "model" }, seen)
  end)

  it("runs model-level handlers of an adapter that declares none", function()
    local seen = {}
    local S2 = ms.model "site" { identifiers = { "name" }, attributes = { "status", "region" },
      children = { device = "devices" },
      create = function(adapter, ids, attrs) seen[#seen + 1] = "create " .. ids.name
        return adapter:create_base("site", ids, attrs) end,
      update = function(adapter, rec, attrs) seen[#seen + 1] = "update " .. rec.name
        return adapter:update_base(rec, attrs) end,
      delete = function(adapter, rec) seen[#seen + 1] = "delete " .. rec.name
        return adapter:delete_base(rec) end }
    local Src = ms.adapter "s" { models = { Site, Device } }
    local Dst = ms.adapter "d" { models = { S2, Device } }
    local src, dst = fill(Src:new(), DATA_SRC), fill(Dst:new(), DATA_DST)
    dst:sync_from(src)
    table.sort(seen)
    assert.same({ "create osl", "delete nyc", "update ams" }, seen)
    assert.is_false(dst:diff_from(src):has_diffs())
  end)

  it("copies a detached record a create handler returns, with its child list", function()
    local src, dst = pair { create = function(self, model, ids, attrs)
      if model.name ~= "site" then return self:create_base(model, ids, attrs) end
      local site = Site { name = ids.name, status = attrs.status, region = attrs.region }
      site:add_child(Device { site_name = ids.name, name = "r1" })
      return site
    end }
    -- the copy lists osl__r1 already, as the returned record did: the
    -- sync's own create of that device cannot add it again
    local ok, err = pcall(dst.sync_from, dst, src)
    assert.is_false(ok)
    assert.equals("Already storing a device with unique_id osl__r1", err.message)
    assert.same({ "osl__r1" }, dst:get("site", "osl").devices)
  end)

  it("skips the children of an element whose handler returns nil", function()
    local src, dst = pair { create = function(self, model, ids, attrs)
      if model.name == "site" then return nil end
      return self:create_base(model, ids, attrs)
    end }
    local _, res = dst:sync_from(src)
    assert.is_nil(dst:get_or_none("site", "osl"))
    assert.is_nil(dst:get_or_none("device", "osl__r1"))
    assert.equals(1, res.failed)
    assert.is_not_nil(dst:get_or_none("device", "ams__sw2"))
  end)

  it("stops on a CRUD error without CONTINUE_ON_FAILURE, keeping the partial result", function()
    local src, dst = pair { create = function(self, model, ids, attrs)
      if ids.name == "sw2" then error(ms.error("ObjectNotCreated", "no capacity")) end
      return self:create_base(model, ids, attrs)
    end }
    local ok, err = pcall(dst.sync_from, dst, src)
    assert.is_false(ok)
    assert.equals("ObjectNotCreated", err.type)
    assert.equals("no capacity", err.message)
    assert.equals(1, err.result.updated)
    assert.is_nil(dst:get_or_none("site", "osl"))
  end)

  it("continues after CRUD errors with CONTINUE_ON_FAILURE and skips their subtrees", function()
    local src, dst = pair { create = function(self, model, ids, attrs)
      if ids.name == "osl" then error(ms.error("ObjectNotCreated", "no")) end
      return self:create_base(model, ids, attrs)
    end }
    local _, res = dst:sync_from(src, { flags = { "CONTINUE_ON_FAILURE" } })
    assert.equals(1, res.errors)
    assert.is_nil(dst:get_or_none("device", "osl__r1"))
    assert.is_nil(dst:get_or_none("site", "nyc"))  -- later deletes still ran
  end)

  it("propagates other errors even with CONTINUE_ON_FAILURE, naming the record", function()
    local src, dst = pair { update = function() error("backend exploded") end }
    local ok, err = pcall(dst.sync_from, dst, src, { flags = { "CONTINUE_ON_FAILURE" } })
    assert.is_false(ok)
    assert.matches("^update handler failed for site 'ams': .*backend exploded", err)
    assert.matches("stack traceback", err)
  end)

  it("rejects a handler returning something else than a record", function()
    local src, dst = pair { update = function() return 42 end }
    local ok, err = pcall(dst.sync_from, dst, src)
    assert.is_false(ok)
    assert.matches("update handler for site must return a record or nil, got number", err)
  end)

  it("deletes parents before children by default and after with NATURAL_DELETION_ORDER", function()
    for _, natural in ipairs { false, true } do
      local order = {}
      local src, dst = pair { delete = function(self, rec)
        order[#order + 1] = rec:get_unique_id()
        return self:delete_base(rec)
      end }
      if natural then dst:get("site", "nyc"):model_flags { "NATURAL_DELETION_ORDER" } end
      dst:sync_from(src)
      assert.same(natural and { "nyc__old", "nyc" } or { "nyc", "nyc__old" }, order)
    end
  end)

  it("removes children without deleting them with SKIP_CHILDREN_ON_DELETE", function()
    local order = {}
    local src, dst = pair { delete = function(self, rec)
      order[#order + 1] = rec:get_unique_id()
      return self:delete_base(rec)
    end }
    dst:get("site", "nyc"):model_flags { "SKIP_CHILDREN_ON_DELETE" }
    dst:sync_from(src)
    assert.same({ "nyc" }, order)
    assert.is_nil(dst:get_or_none("device", "nyc__old"))
  end)

  it("calls sync_complete only when something was to be done", function()
    local n = 0
    local src, dst = pair { sync_complete = function() n = n + 1 end }
    dst:sync_from(src)
    assert.equals(1, n)
    dst:sync_from(src)
    assert.equals(1, n)
  end)

  it("reports sync progress after diff progress", function()
    local src, dst = pair()
    local stages = {}
    dst:sync_from(src, { callback = function(stage, cur, total)
      stages[#stages + 1] = stage .. cur .. "/" .. total end })
    assert.equals("diff2/9", stages[1])
    local first_sync
    for _, st in ipairs(stages) do
      if st:match("^sync") then first_sync = first_sync or st end
    end
    assert.equals("sync1/7", first_sync)
    assert.equals("sync7/7", stages[#stages])
  end)

  it("uses a diff computed earlier and checks it belongs to the adapters", function()
    local src, dst = pair()
    local other = fill((ms.adapter "o" { models = { Site, Device } }):new(), DATA_SRC)
    local diff = dst:diff_from(other)
    local ok, err = pcall(dst.sync_from, dst, src, { diff = diff })
    assert.is_false(ok)
    assert.matches("opts.diff was computed for other adapters", err)
    diff = dst:diff_from(src)
    local d2 = dst:sync_from(src, { diff = diff })
    assert.equals(diff, d2)
  end)

  it("sync_to is sync_from the other way", function()
    local src, dst = pair()
    src:sync_to(dst)
    assert.is_false(dst:diff_from(src):has_diffs())
  end)

  it("logs every operation through opts.log", function()
    local src, dst = pair()
    local log = {}
    dst:sync_from(src, { log = function(op) log[#log + 1] = op end })
    assert.equals(6, #log)
    assert.equals("update", log[1].op)
    assert.equals("ams", log[1].uid)
    assert.equals("success", log[1].status)
    assert.equals("Updated successfully", log[1].message)
    assert.is_true(log[1].duration >= 0)
  end)

  it("logs unchanged records too with LOG_UNCHANGED_RECORDS", function()
    local src, dst = pair()
    local log = {}
    dst:sync_from(src, { flags = { "LOG_UNCHANGED_RECORDS" },
                         log = function(op) log[#log + 1] = op end })
    assert.equals(7, #log)
    assert.equals("none", log[2].op)
    assert.equals("unchanged", log[2].result)
    assert.equals("ams__sw1", log[2].uid)
  end)

  it("keeps an ops log in the fixture format", function()
    local src, dst = pair()
    local _, res = dst:sync_from(src, { ops_log = true })
    local ops = require("cjson").decode(res.ops_json)
    assert.equals(6, #ops)
    assert.same({ op = "update", model = "site", ids = { name = "ams" },
                  attrs = { status = "planned" }, result = "ok" }, ops[1])
  end)

  describe("statuses of the records an in-memory sync walks", function()
    -- site > device > port; a sync without handlers or callbacks skips the
    -- subtrees without changes and resets their statuses all the same
    local S = ms.model "site" { identifiers = { "name" }, attributes = { "status" },
                                children = { device = "devices" } }
    local D = ms.model "device" { identifiers = { "name" }, attributes = { "role" },
                                  children = { port = "ports" } }
    local P = ms.model "port" { identifiers = { "name" } }
    local R = ms.model "region" { identifiers = { "name" } }  -- top level too

    -- sites: {name, status, {device, role, {ports}}...}; one region "eu"
    local function build(name, sites)
      local a = ms.adapter(name) { models = { S, D, P, R } }:new()
      a:add(R { name = "eu" })
      for _, st in ipairs(sites) do
        local site = a:add(S { name = st[1], status = st[2] })
        for i = 3, #st do
          local d = st[i]
          local dev = a:add(D { name = d[1], role = d[2] })
          for _, p in ipairs(d[3] or {}) do dev:add_child(a:add(P { name = p })) end
          site:add_child(dev)
        end
      end
      return a
    end

    local function status(a, model, uid) return (a:get(model, uid):get_status()) end

    local SRC = { { "a", "up", { "a1", "leaf", { "a1p" } } },
                  { "b", "up", { "b1", "leaf" } },
                  { "c", "up", { "c1", "leaf", { "c1p" } } } }

    it("reads unknown for the records walked, also when their subtree is skipped", function()
      local dst = build("dest", { { "a", "up", { "a1", "leaf", { "a1p" } } },
                                  { "b", "down", { "b1", "leaf" } },
                                  { "c", "up", { "c1", "leaf", { "c1p" } } } })
      local src = build("source", SRC)
      dst:sync_from(src)
      for _, k in ipairs { { "site", "a" }, { "device", "a1" }, { "port", "a1p" },
                           { "device", "b1" }, { "port", "c1p" } } do
        assert.same({ "unknown", "" }, { dst:get(k[1], k[2]):get_status() })
      end
      assert.same({ "success", "Updated successfully" }, { dst:get("site", "b"):get_status() })
      -- a status set afterwards is the one read
      dst:get("port", "a1p"):set_status("failure", "cabled wrong")
      assert.same({ "failure", "cabled wrong" }, { dst:get("port", "a1p"):get_status() })
    end)

    it("keeps the reset when another diff or the orphan check stamps records", function()
      for _, stamp in ipairs {
        function(dst, src) dst:diff_from(src) end,
        function(dst) assert.equals(0, dst._store:orphans()) end,
      } do
        local dst = build("dest", { { "a", "up", { "a1", "leaf", { "a1p" } } },
                                    { "b", "down", { "b1", "leaf" } } })
        local src = build("source", SRC)
        dst:sync_from(src)
        stamp(dst, src)
        assert.equals("unknown", status(dst, "device", "a1"))
        assert.equals("unknown", status(dst, "port", "a1p"))
      end
    end)

    it("leaves the status of what the sync stopped before", function()
      -- deleting device ax would take its port along, which the diff keeps
      -- (SKIP_UNMATCHED_DST): the sync stops there, in site a
      local dst = build("dest", { { "a", "up", { "a1", "leaf", { "a1p" } }, { "ax", "leaf", { "axp" } } },
                                  { "b", "up", { "b1", "leaf" } },
                                  { "c", "up", { "c1", "leaf", { "c1p" } } } })
      dst:get("port", "axp"):model_flags { "SKIP_UNMATCHED_DST" }
      local src = build("source", SRC)
      local ok, err = pcall(dst.sync_from, dst, src, { protect_children = true })
      assert.is_false(ok)
      assert.matches("its subtree holds port 'axp'", err.message)
      -- walked before the failure
      assert.equals("unknown", status(dst, "site", "a"))
      assert.equals("unknown", status(dst, "device", "a1"))
      assert.equals("unknown", status(dst, "port", "a1p"))
      assert.equals("unknown", status(dst, "device", "ax"))
      -- never reached
      for _, k in ipairs { { "port", "axp" }, { "site", "b" }, { "device", "b1" },
                           { "site", "c" }, { "port", "c1p" }, { "region", "eu" } } do
        assert.same({ "success", "" }, { dst:get(k[1], k[2]):get_status() })
      end
      -- the same as a walk of every element (a callback watches this one)
      local dst2 = build("dest", { { "a", "up", { "a1", "leaf", { "a1p" } }, { "ax", "leaf", { "axp" } } },
                                   { "b", "up", { "b1", "leaf" } },
                                   { "c", "up", { "c1", "leaf", { "c1p" } } } })
      dst2:get("port", "axp"):model_flags { "SKIP_UNMATCHED_DST" }
      local ok2, err2 = pcall(dst2.sync_from, dst2, build("source", SRC),
                              { callback = function() end, protect_children = true })
      assert.is_false(ok2)
      assert.equals(3, err.result.processed)  -- a, a1 and a1p
      assert.equals(err2.result.processed, err.result.processed)
      for _, m in ipairs { "site", "device", "port", "region" } do
        for _, r in ipairs(dst:get_all(m)) do
          assert.same({ dst2:get(m, r:get_unique_id()):get_status() }, { r:get_status() })
        end
      end
    end)

    it("walks every element when the target changed after the diff", function()
      local dst = build("dest", { { "a", "up", { "a1", "leaf", { "a1p" } } },
                                  { "b", "down", { "b1", "leaf" } } })
      local src = build("source", SRC)
      local diff = dst:diff_from(src)
      local gone = dst:get("port", "a1p")
      dst:remove(gone)
      local _, res = dst:sync_from(src, { diff = diff })
      -- the removed port was not found: neither reset nor counted
      assert.same({ "success", "" }, { gone:get_status() })
      assert.equals(diff:len() - 1, res.processed)
    end)

    it("leaves the status of records the diff leaves out", function()
      local dst = build("dest", { { "a", "up", { "a1", "leaf", { "a1p" } } },
                                  { "b", "down", { "b1", "leaf" } },
                                  { "c", "up", { "c1", "leaf", { "c1p" } } } })
      dst:get("device", "a1"):model_flags { "IGNORE" }
      local src = build("source", SRC)
      local diff = dst:diff_from(src)
      diff:scope(nil, { { "site", "c" } })
      dst:sync_from(src, { diff = diff })
      assert.equals("unknown", status(dst, "site", "a"))
      assert.equals("success", status(dst, "device", "a1"))   -- ignored
      assert.equals("success", status(dst, "port", "a1p"))
      assert.equals("success", status(dst, "site", "c"))      -- excluded
      assert.equals("success", status(dst, "port", "c1p"))
    end)

    it("skips them with a callback and a log too when asked to, with the same outcome", function()
      local function run(opts)
        local dst = build("dest", { { "a", "up", { "a1", "leaf", { "a1p" } } },
                                    { "b", "down", { "b1", "leaf" } },
                                    { "c", "up", { "c1", "leaf", { "c1p" } } } })
        local told, logged, st = {}, {}, {}
        opts.callback = function(stage, cur, total)
          if stage == "sync" then told[#told + 1] = cur .. "/" .. total end
        end
        opts.log = function(op) logged[#logged + 1] = op.op .. " " .. op.uid .. " " .. op.result end
        local _, res = dst:sync_from(build("source", SRC), opts)
        for _, k in ipairs { { "region", "eu" }, { "site", "a" }, { "device", "a1" },
                             { "port", "a1p" }, { "site", "b" }, { "port", "c1p" } } do
          st[#st + 1] = table.concat({ dst:get(k[1], k[2]):get_status() }, ":")
        end
        return told, logged, res, st
      end
      local told, logged, res, st = run({})
      local stold, slogged, sres, sst = run({ skip_unchanged = true })
      assert.same(logged, slogged)
      assert.same(st, sst)
      assert.same({ res.processed, res.updated }, { sres.processed, sres.updated })
      -- the full walk tells every element; the skipping one the change, then the end
      assert.equals(res.processed, #told)
      assert.equals(2, #stold)
      assert.equals(told[#told], stold[2])
    end)
  end)

  describe("diff:scope()", function()
    it("keeps only the subtree of a target", function()
      local src, dst = pair()
      local diff = dst:diff_from(src)
      assert.equals(1, diff:scope({ { "site", "osl" } }, {}))
      assert.same({ create = 2, update = 0, delete = 0, ["no-change"] = 0, skip = 7 },
                  diff:summary())
      dst:sync_from(src, { diff = diff })
      assert.is_not_nil(dst:get_or_none("device", "osl__r1"))
      assert.equals("active", dst:get("site", "ams").status)
      assert.is_not_nil(dst:get_or_none("site", "nyc"))
    end)

    it("keeps the path to a nested target without applying its changes", function()
      local src, dst = pair()
      local diff = dst:diff_from(src)
      diff:scope({ { "device", "ams__sw2" } })
      assert.equals("site\n  site: ams\n    device\n      device: sw2 MISSING in dest", diff:str())
      dst:sync_from(src, { diff = diff })
      assert.equals("active", dst:get("site", "ams").status)
      assert.is_not_nil(dst:get_or_none("device", "ams__sw2"))
    end)

    it("drops excluded subtrees", function()
      local src, dst = pair()
      local diff = dst:diff_from(src)
      diff:scope(nil, { { "site", "nyc" } })
      dst:sync_from(src, { diff = diff })
      assert.is_not_nil(dst:get_or_none("device", "nyc__old"))
      assert.is_not_nil(dst:get_or_none("site", "osl"))
    end)
  end)
end)
