-- Benchmark baseline: the same diff written the straightforward way in
-- plain Lua (lua-cjson decode, a Lua table per record, a uid hash join),
-- i.e. what a Lua port of DiffSync's data model costs on this machine.
-- usage: lua5.4 bench/baseline.lua SCHEMA SOURCE DEST
local cjson = require "cjson"
local schema_path, src_path, dst_path = ...

local function now() return os.clock() end
local function read(p) local f = assert(io.open(p, "rb")); local s = f:read("a"); f:close(); return s end

local schema = cjson.decode(read(schema_path))
local models = schema.models

local function load(doc)
  local store = {}   -- model -> uid -> record
  local tops = {}
  local function add(mname, rec)
    local m = models[mname]
    local ids = {}
    for i, k in ipairs(m.identifiers) do ids[i] = tostring(rec[k]) end
    local uid = table.concat(ids, "__")
    local attrs = {}
    for _, k in ipairs(m.attributes or {}) do attrs[k] = rec[k] end
    local r = { uid = uid, attrs = attrs, children = {} }
    store[mname] = store[mname] or {}
    store[mname][uid] = r
    for cm, field in pairs(m.children or {}) do
      local list = {}
      for i, c in ipairs(rec[field] or {}) do list[i] = add(cm, c).uid end
      r.children[cm] = list
    end
    return r
  end
  for mname, list in pairs(doc) do
    tops[mname] = {}
    for i, rec in ipairs(list) do tops[mname][i] = add(mname, rec) end
  end
  return store, tops
end

local counts = { create = 0, update = 0, delete = 0, same = 0 }
local ops = {}   -- the changes, applied to the dest tables afterwards
local function diff_list(mname, s_recs, d_recs, sstore, dstore)
  local dmap = {}
  for _, d in ipairs(d_recs) do dmap[d.uid] = d end
  local m = models[mname]
  local seen = {}
  local function pair(s, d)
    if s and d then
      local changed = false
      for _, k in ipairs(m.attributes or {}) do
        if s.attrs[k] ~= d.attrs[k] then changed = true break end
      end
      counts[changed and "update" or "same"] = counts[changed and "update" or "same"] + 1
      if changed then ops[#ops + 1] = { "update", mname, s, d } end
    elseif s then
      counts.create = counts.create + 1
      ops[#ops + 1] = { "create", mname, s }
    else
      counts.delete = counts.delete + 1
      ops[#ops + 1] = { "delete", mname, nil, d }
    end
    for cm in pairs(m.children or {}) do
      local sl, dl = {}, {}
      for i, u in ipairs(s and s.children[cm] or {}) do sl[i] = sstore[cm][u] end
      for i, u in ipairs(d and d.children[cm] or {}) do dl[i] = dstore[cm][u] end
      diff_list(cm, sl, dl, sstore, dstore)
    end
  end
  for _, s in ipairs(s_recs) do
    local d = dmap[s.uid]
    if d then seen[s.uid] = true end
    pair(s, d)
  end
  for _, d in ipairs(d_recs) do
    if not seen[d.uid] then pair(nil, d) end
  end
end

local t0 = now()
local sstore, stops = load(cjson.decode(read(src_path)))
local dstore, dtops = load(cjson.decode(read(dst_path)))
local t1 = now()
for _, t in ipairs(schema.top_level) do
  diff_list(t, stops[t] or {}, dtops[t] or {}, sstore, dstore)
end
local t2 = now()
-- sync: apply the changes to the dest tables
for _, op in ipairs(ops) do
  local kind, mname, s, d = op[1], op[2], op[3], op[4]
  if kind == "create" then
    dstore[mname] = dstore[mname] or {}
    dstore[mname][s.uid] = { uid = s.uid, attrs = s.attrs, children = {} }
  elseif kind == "update" then
    for k, v in pairs(s.attrs) do d.attrs[k] = v end
  else
    dstore[mname][d.uid] = nil
  end
end
local t3 = now()
local kb = collectgarbage("count")
io.stderr:write(("timings: load %.3f s, diff %.3f s, sync %.3f s, lua heap %.1f MiB\n"):format(
  t1 - t0, t2 - t1, t3 - t2, kb / 1024))
print(("create %d update %d delete %d no-change %d"):format(
  counts.create, counts.update, counts.delete, counts.same))
