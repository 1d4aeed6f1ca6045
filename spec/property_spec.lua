-- Property tests over seeded random datasets: sync then diff finds
-- nothing; diff_from and diff_to agree; with CONTINUE_ON_FAILURE and
-- random injected failures exactly the failed records (and their
-- subtrees) stay unsynced.
local ms = require "moonsync"

local Site = ms.model "site" { identifiers = { "name" }, attributes = { "status", "asn" },
                               children = { device = "devices" } }
local Device = ms.model "device" { identifiers = { "site", "name" }, shortname = { "name" },
                                   attributes = { "role", "tags" },
                                   children = { port = "ports" } }
local Port = ms.model "port" { identifiers = { "device", "name" }, attributes = { "mtu", "up" } }

local VALUES = { "a", "b", 1, 1.0, 2, true, false, ms.null, "", { 1, 2 }, { 2, 1 }, ms.map {} }

local function value(rnd) return VALUES[rnd(#VALUES)] end

-- A random dataset: `seed` fixes it, `variant` perturbs a copy.
local function dataset(A, rnd)
  local a = A:new()
  for s = 1, rnd(6) do
    local site = a:add(Site { name = "s" .. s, status = value(rnd), asn = value(rnd) })
    for d = 1, rnd(5) - 1 do
      if rnd(4) > 1 then
        local dev = a:add(Device { site = "s" .. s, name = "d" .. d, role = value(rnd), tags = value(rnd) })
        site:add_child(dev)
        for p = 1, rnd(4) - 1 do
          if rnd(3) > 1 then
            dev:add_child(a:add(Port { device = "s" .. s .. "/d" .. d, name = "p" .. p,
                                       mtu = value(rnd), up = value(rnd) }))
          end
        end
      end
    end
  end
  return a
end

local function gen(seed)
  local state = seed
  return function(n)
    state = (state * 1103515245 + 12345) % 2147483648
    return 1 + (state // 65536) % n
  end
end

local function change_set(diff)
  local set, list = {}, require("moonsync.core").json_decode(diff:json()).changes
  for _, c in ipairs(list) do set[c.model .. " " .. c.uid .. " " .. c.action] = c end
  return set, list
end

describe("properties #property", function()
  local Src = ms.adapter "source" { models = { Site, Device, Port } }
  local Dst = ms.adapter "dest" { models = { Site, Device, Port } }

  for seed = 1, 40 do
    it("sync then diff finds nothing (seed " .. seed .. ")", function()
      local src, dst = dataset(Src, gen(seed)), dataset(Dst, gen(seed * 7919))
      local flags = ({ {}, { "SKIP_UNMATCHED_DST" }, { "SKIP_UNMATCHED_SRC" } })[seed % 3 + 1]
      assert.equals(dst:diff_from(src, { flags = flags }):str(), src:diff_to(dst, { flags = flags }):str())
      dst:sync_from(src, { flags = flags })
      local again = dst:diff_from(src, { flags = flags })
      assert.is_false(again:has_diffs(), again:str())
      if #flags == 0 then
        -- a full sync makes the stores equal: the other direction agrees
        assert.is_false(src:diff_from(dst):has_diffs())
      end
    end)
  end

  -- every record's status and the counts, after a sync that skips the
  -- subtrees without changes and after one that walks them (a callback
  -- watches it)
  local function outcome(a, res)
    local st = {}
    for _, m in ipairs { "site", "device", "port" } do
      for _, r in ipairs(a:get_all(m)) do
        st[#st + 1] = m .. " " .. r:get_unique_id() .. " " .. table.concat({ r:get_status() }, " ")
      end
    end
    return { st, res.processed, res.created, res.updated, res.deleted, res.failed }
  end

  for seed = 1, 40 do
    it("a sync that skips unchanged subtrees equals one that walks them (seed " .. seed .. ")", function()
      local flags = ({ {}, {}, { "CONTINUE_ON_FAILURE" } })[seed % 3 + 1]
      local got = {}
      for run, opts in ipairs { { flags = flags }, { flags = flags, callback = function() end } } do
        -- the same data on both sides, then a few changes to the target:
        -- updates, and dest-only devices whose port may be protected
        -- (deleting such a device is refused, which stops the sync)
        local src, dst = dataset(Src, gen(seed + 300)), dataset(Dst, gen(seed + 300))
        local rnd = gen(seed)
        for _, r in ipairs(dst:get_all("port")) do
          if rnd(6) == 1 then r.mtu = "changed" end
        end
        for _, site in ipairs(dst:get_all("site")) do
          if rnd(3) == 1 then
            local dev = dst:add(Device { site = site.name, name = "x", role = "x", tags = "x" })
            site:add_child(dev)
            local port = dst:add(Port { device = site.name .. "/x", name = "p", mtu = 1, up = true })
            dev:add_child(port)
            if rnd(2) == 1 then port:model_flags { "SKIP_UNMATCHED_DST" } end
          end
        end
        local ok, res = pcall(function() return select(2, dst:sync_from(src, opts)) end)
        if not ok then res = res.result end
        got[run] = outcome(dst, res)
      end
      assert.same(got[2], got[1])
    end)
  end

  for seed = 1, 30 do
    it("CONTINUE_ON_FAILURE leaves exactly the failed subtrees unsynced (seed " .. seed .. ")", function()
      local rnd = gen(seed * 31)
      local fail = {}
      local D = ms.adapter "dest" {
        models = { Site, Device, Port },
        create = function(self, model, ids, attrs)
          local uid = model(ids):get_unique_id()
          if fail[model.name .. " " .. uid .. " create"] then error(ms.error("ObjectNotCreated", "injected")) end
          return self:create_base(model, ids, attrs)
        end,
        update = function(self, rec, attrs)
          if fail[rec:get_type() .. " " .. rec:get_unique_id() .. " update"] then
            error(ms.error("ObjectNotUpdated", "injected"))
          end
          return self:update_base(rec, attrs)
        end,
        delete = function(self, rec)
          if fail[rec:get_type() .. " " .. rec:get_unique_id() .. " delete"] then
            error(ms.error("ObjectNotDeleted", "injected"))
          end
          return self:delete_base(rec)
        end,
      }
      local src, dst = dataset(Src, gen(seed + 1000)), dataset(D, gen(seed + 5000))
      local diff = dst:diff_from(src)
      local _, changes = change_set(diff)
      -- pick random changes to fail
      for _, c in ipairs(changes) do
        if rnd(4) == 1 then fail[c.model .. " " .. c.uid .. " " .. c.action] = true end
      end
      -- expected leftovers, walking the tree top-down as the sync does:
      -- a failed element and everything below it stay, unless an
      -- ancestor's delete succeeded (its subtree is then unreachable,
      -- orphaned in the store as in DiffSync)
      local action = {}
      for _, c in ipairs(changes) do action[c.model .. " " .. c.uid] = c.action end
      local function parent_of(model, uid)
        if model == "port" then
          local s, d = uid:match("^(s%d+)/(d%d+)__")
          return "device", s .. "__" .. d
        elseif model == "device" then
          return "site", uid:match("^(s%d+)__")
        end
      end
      local memo = {}
      -- state of a (model, uid): blocked (not attempted), reachable
      local function state(model, uid)
        local key = model .. " " .. uid
        if memo[key] then return table.unpack(memo[key]) end
        local pm, pu = parent_of(model, uid)
        local blocked, reachable = false, true
        if pm then
          local pb, pr, pf, pdel = state(pm, pu)
          blocked = pb or pf
          reachable = pr and not pdel
        end
        local act = action[key]
        local failed = not blocked and act ~= nil and fail[key .. " " .. act] or false
        local deleted = act == "delete" and not blocked and not failed
        memo[key] = { blocked, reachable, failed, deleted }
        return blocked, reachable, failed, deleted
      end
      local expected, attempted_failures = {}, 0
      for _, c in ipairs(changes) do
        local blocked, reachable, failed = state(c.model, c.uid)
        if failed then attempted_failures = attempted_failures + 1 end
        if reachable and (blocked or failed) then
          expected[c.model .. " " .. c.uid .. " " .. c.action] = true
        end
      end
      local _, res = dst:sync_from(src, { diff = diff, flags = { "CONTINUE_ON_FAILURE" } })
      local left = change_set(dst:diff_from(src))
      local got = {}
      for k in pairs(left) do got[k] = true end
      assert.same(expected, got)
      assert.equals(attempted_failures, res.errors)
    end)
  end
end)

-- A mapping over JSON text reads it a chunk of items at a time; the same
-- text decoded into Lua tables first must map to the same records, counts
-- and errors, whatever surrounds the list and wherever a chunk ends.
describe("properties #property: mappings read from text", function()
  local core = require "moonsync.core"
  local A = ms.adapter "mapped" { models = { Site, Device, Port } }
  local SCALARS = { '"x"', '"y"', "1", "1.5", "true", "null", "[1, 2]", '{"k": 1}', '"a\\"b"' }

  for seed = 1, 20 do
    it("text read in chunks maps as the decoded document does (seed " .. seed .. ")", function()
      local rnd = gen(seed)
      local n = rnd(3) == 1 and 4000 + rnd(5000) or rnd(60) - 1
      local dup = rnd(4) == 1 and n > 1 and 1 + rnd(n - 1) or nil  -- repeats the first
      local items = {}
      for i = 1, n do
        local parts = { ('"n": "i%d"'):format(i),
                        rnd(5) > 1 and ('"s": {"id": %d, "name": "s%d"}'):format(i, rnd(4)) or '"s": null',
                        '"v": ' .. SCALARS[rnd(#SCALARS)],
                        rnd(2) == 1 and '"t": ["a", "b"]' or '"t": []',
                        '"z": ' .. SCALARS[rnd(#SCALARS)] }
        for j = #parts, 2, -1 do  -- each object lists its keys in its own order
          local k = rnd(j)
          parts[j], parts[k] = parts[k], parts[j]
        end
        items[i] = dup == i and items[1] or "{" .. table.concat(parts, ", ") .. "}"
      end
      local list = "[" .. table.concat(items, ",\n ") .. "]"
      local from, text
      local shape = rnd(3)
      if shape == 1 then
        from, text = nil, list
      elseif shape == 2 then
        from, text = "results", '{"count": ' .. n .. ', "results": ' .. list .. ', "next": null}'
      else
        from, text = "a.1.items", '{"x": [1, {"y": 2}], "a": [{"items": []}, {"items": ' .. list
                                   .. ', "w": "after"}, 3], "z": {}}'
      end
      local m = ms.mapping { model = Device, from = from,
        fields = { name = "n", site = { path = "s.name", default = "none" }, role = "v",
                   tags = "t.1" } }
      local function run(source)
        local a = A:new()
        local ok, res = pcall(a.load_mapped, a, m, source)
        return ok, ok and res or res.message, a:dict()
      end
      local ok1, res1, dict1 = run(text)
      local ok2, res2, dict2 = run(core.json_decode(text))
      assert.equals(ok2, ok1)
      assert.same(res2, res1)
      assert.same(dict2, dict1)
      if dup then assert.matches(("record %d "):format(dup - 1), res1) end
    end)
  end
end)
