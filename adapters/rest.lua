--- A generic REST adapter configured in Lua: a collection path per model,
-- a mapping between API fields (dotted paths) and model fields, how
-- children attach to parents, and how references become server ids on
-- write. Syncs into it go through moonsync.writer: creates, updates and
-- deletes (POST, PATCH, DELETE) are sent in dependency order (parents and
-- referenced records created first, children and referrers deleted
-- first), the independent ones concurrently up to the client's
-- concurrency; with `bulk = true` they go in batches to the list endpoint
-- (NetBox/Nautobot style), and a refused batch is split until the records
-- the server refuses are isolated: the others commit.
--
--   local rest = require "moonsync.adapters.rest"
--   local Inv = rest.adapter "inventory" {
--     models = { Site, Device },
--     resources = {
--       site = { path = "/sites", fields = { name = "name",
--                                            status = { path = "status.value", write = "status" } } },
--       device = { path = "/devices",
--                  fields = { name = "name", site_name = "site.name", role = "role" },
--                  parent = { model = "site", ids = { name = "site_name" } },
--                  refs = { site = { model = "site", ids = { name = "site_name" } } } },
--     },
--   }
--   local a = Inv:new { client = { base_url = "http://127.0.0.1:3000" } }
--   a:load()
-- @module rest
local ms = require "moonsync"
local http = require "moonsync.http"
local redact = require "moonsync.redact"
local writer = require "moonsync.writer"
local cjson = require "cjson"

local fmt, concat = string.format, table.concat
local pairs, ipairs, type, tostring, error, next = pairs, ipairs, type, tostring, error, next

local M = {}

-- Paths split once: "a.b" -> {"a", "b"}.
local split = setmetatable({}, { __index = function(cache, path)
  local parts = {}
  for p in path:gmatch("[^.]+") do parts[#parts + 1] = p end
  cache[path] = parts
  return parts
end })

local function getpath(t, path)
  local parts = split[path]
  for i = 1, #parts do
    if type(t) ~= "table" then return nil end
    t = t[parts[i]]
  end
  if t == ms.null then return nil end
  return t
end

local function setpath(t, path, v)
  local parts = split[path]
  local n = #parts
  for i = 1, n - 1 do
    t[parts[i]] = t[parts[i]] or {}
    t = t[parts[i]]
  end
  t[parts[n]] = v
end

local resource_keys = { path = true, fields = true, parent = true, refs = true,
                        id = true, pagination = true, page_size = true, query = true,
                        detail = true, bulk = true, results_key = true, to_api = true,
                        from_api = true, m2m_refs = true, after_write = true, fetch = true,
                        annotate = true, retire = true }

local adapter_keys = { models = true, top_level = true, resources = true,
                       pagination = true, page_size = true, bulk = true, type = true,
                       batch_size = true, client = true, validate = true,
                       sync_complete = true, verify = true, lookups = true, after_load = true }

local field_keys = { path = true, write = true, lookup = true }
local lookup_keys = { path = true, key = true, id = true, query = true }

-- {====== declarations ======}

-- The fields of a resource as {field = {path =, write =}}: `write` is the
-- API path a value is written at (nil: written through a ref, or read-only
-- by `to_api`). A nested read path needs a write rule: `preset` (NetBox,
-- Nautobot) derives it (X.value is written as X, other nested paths as
-- themselves: a reference by attributes); the generic adapter refuses a
-- declaration without one instead of dropping the field on write.
local function normalize_fields(name, mname, res, preset, lookups)
  local reffields = {}
  for _, ref in pairs(res.refs or {}) do
    for _, from in pairs(ref.ids or {}) do reffields[from] = true end
  end
  local out = {}
  for field, spec in pairs(res.fields or {}) do
    if type(spec) == "string" then spec = { path = spec } end
    if type(spec) ~= "table" or type(spec.path) ~= "string" then
      error(fmt("rest adapter '%s': resources.%s.fields.%s must be a path or {path =, write =}",
                name, mname, field), 4)
    end
    for k in pairs(spec) do
      if not field_keys[k] then
        error(fmt("rest adapter '%s': resources.%s.fields.%s: unknown key '%s'", name, mname,
                  field, tostring(k)), 4)
      end
    end
    local write = spec.write
    if spec.lookup ~= nil then
      if not (lookups or {})[spec.lookup] then
        error(fmt("rest adapter '%s': resources.%s.fields.%s: no lookup '%s' (declare it in lookups)",
                  name, mname, field, tostring(spec.lookup)), 4)
      end
      -- written as the id the lookup finds, at the path's first part
      write = false
    end
    if write == nil and not reffields[field] then
      if not spec.path:find(".", 1, true) then
        write = spec.path
      elseif preset then
        write = spec.path:match("^(.-)%.value$") or spec.path
      elseif not res.to_api then
        error(fmt("rest adapter '%s': resources.%s.fields.%s reads the nested path '%s': say how "
                  .. "it is written (write = \"%s\", or a path), or write it through refs",
                  name, mname, field, spec.path, spec.path:match("^([^.]+)")), 4)
      end
    end
    if write ~= nil and write ~= false and type(write) ~= "string" then
      error(fmt("rest adapter '%s': resources.%s.fields.%s: write must be an API path",
                name, mname, field), 4)
    end
    out[field] = { path = spec.path, write = write or nil, lookup = spec.lookup,
                   top = spec.path:match("^([^.]+)") }
  end
  return out
end

-- {====== loading ======}

-- Builds the model fields of one API record.
local function fields_of(res, fields, api, adapter)
  if res.from_api then return res.from_api(api, adapter) end
  local f = {}
  for field, spec in pairs(fields) do f[field] = getpath(api, spec.path) end
  return f
end

-- The uid of a referenced record (parent or ref) from a record's fields.
local function ref_uid(adapter, spec, fields)
  local model = adapter.model[spec.model]
  local ids = {}
  for idfield, from in pairs(spec.ids) do ids[idfield] = fields[from] end
  for _, name in ipairs(model.identifiers) do
    if ids[name] == nil or ids[name] == ms.null then return nil end
  end
  return model(ids):get_unique_id()
end

-- The models in load order: a child model after its parent's.
local function load_order(self)
  local res, out, seen = self.rest.resources, {}, {}
  local function visit(model, depth)
    if seen[model.name] or depth > 64 then return end
    local r = res[model.name]
    local parent = r and r.parent and self.model[r.parent.model]
    if parent then visit(parent, depth + 1) end
    seen[model.name] = true
    out[#out + 1] = model
  end
  for _, model in ipairs(self.models) do visit(model, 0) end
  return out
end

local function load(self)
  local opts = self.rest
  self._load_gen = (self._load_gen or 0) + 1
  self._kept = {}
  local top = {}
  for _, name in ipairs(self.top_level or {}) do top[name] = true end
  for _, model in ipairs(load_order(self)) do
    local res = opts.resources[model.name]
    if res then
      local records = res.fetch and res.fetch(self) or self.client:get_all(res.path, {
        pagination = res.pagination or opts.pagination, page_size = res.page_size or opts.page_size,
        query = res.query, results_key = res.results_key })
      local sids = self._sid[model.name]
      for i, api in ipairs(records) do
        local f = fields_of(res, self._fields[model.name], api, self)
        local flags, kept
        if res.annotate then flags, kept = res.annotate(api, self, f) end
        local ok, rec = pcall(self.new_record, self, model, f, flags)
        if not ok then
          error(ms.error(ms.is_error(rec) and rec.type or "InputError",
            fmt("%s %s: record %d: %s", model.name, res.path, i,
                ms.is_error(rec) and rec.message or tostring(rec)), { adapter = self.name }), 0)
        end
        sids[rec:get_unique_id()] = api[res.id or "id"]
        if kept then
          self._kept[model.name] = self._kept[model.name] or {}
          self._kept[model.name][rec:get_unique_id()] = kept
        end
        if res.parent then
          local puid = ref_uid(self, res.parent, f)
          local parent = puid and self:get_or_none(res.parent.model, puid)
          if parent then
            parent:add_child(rec)
          elseif not top[model.name] then
            -- a child model is diffed only below its parent: an orphan would be lost
            error(ms.error("InputError", fmt("%s %s: record %d (%s): its parent %s %s is not in the "
              .. "data, so it would be left out of the diff", model.name, res.path, i,
              rec:get_unique_id(), res.parent.model, puid or "(none)"), { adapter = self.name }), 0)
          end
        end
      end
    end
  end
  -- what the adapter reads beside its records, once they are all in
  if opts.after_load then opts.after_load(self) end
end

-- {====== writing ======}

local function resource(self, model)
  local res = self.rest.resources[model]
  if not res then
    error(fmt("adapter %s has no REST resource for model %s", self.name, model), 0)
  end
  return res
end

-- The server id of the record of lookup `name` whose key is `value`
-- (lookup tables are read once, when first needed).
local function lookup_id(self, name, value)
  local l = self.rest.lookups[name]
  local t = self._lookup[name]
  if not t then
    t = {}
    for _, api in ipairs(self.client:get_all(l.path, { query = l.query,
        pagination = self.rest.pagination, page_size = self.rest.page_size })) do
      local k = getpath(api, l.key)
      if k ~= nil then t[k] = api[l.id or "id"] end
    end
    self._lookup[name] = t
  end
  local id = t[value]
  if id == nil then
    error(fmt("no %s with %s %s (lookup %s, %s)", name, l.key, tostring(value), name, l.path), 0)
  end
  return id
end

-- The API payload for fields of model (all of a create's, or an update's
-- changes).
local function payload(self, model, res, fields, all, op)
  if res.to_api then return res.to_api(fields, self, op) end
  local body = {}
  for apifield, ref in pairs(res.refs or {}) do
    local touched = all
    for _, from in pairs(ref.ids) do if fields[from] ~= nil then touched = true end end
    if touched then
      local uid = ref_uid(self, ref, fields)
      local sid = uid and self._sid[ref.model][uid]
      if uid and sid == nil then error(fmt("no server id for %s %s", ref.model, uid), 0) end
      body[apifield] = sid or ms.null
    end
  end
  for field, spec in pairs(self._fields[model]) do
    local v = fields[field]
    if v ~= nil and spec.write then
      setpath(body, spec.write, v)
    elseif v ~= nil and spec.lookup then
      body[spec.top] = v == ms.null and ms.null or lookup_id(self, spec.lookup, v)
    end
  end
  return body
end

local function detail(res, sid)
  if res.detail then return (res.detail:gsub("{id}", tostring(sid))) end
  if res.path:sub(-1) == "/" then return res.path .. sid .. "/" end
  return res.path .. "/" .. sid
end

local function bulk_for(self, res)
  local b = res.bulk
  if b == nil then b = self.rest.bulk end
  return b and true or false
end

-- The message of a refused write: status and the start of the body, with
-- every secret masked (a server may echo the request).
local function refusal(r)
  return redact.text(fmt("%s %s: HTTP %d%s: %s", r.method, r.url, r.status,
    r.error and (" " .. r.error) or "", (r.body or ""):sub(1, 300)))
end

local function failmsg(result)
  if result.response then return refusal(result.response) end
  return result.error and result.error.message or "failed"
end

-- The records a model's fields reference (refs and parent), for the
-- writer's dependency graph.
local function refs_of(self, model, fields)
  local res = self.rest.resources[model]
  local out = {}
  if not res then return out end
  for _, ref in pairs(res.refs or {}) do
    if ref.partial then
      -- names only some of the model's identifiers: every record they match
      local match, any = {}, false
      for idfield, from in pairs(ref.ids) do
        local v = fields[from]
        if v ~= nil and v ~= ms.null then match[idfield] = v; any = true end
      end
      if any then out[#out + 1] = { model = ref.model, match = match } end
    else
      local uid = ref_uid(self, ref, fields)
      if uid then out[#out + 1] = { model = ref.model, uid = uid } end
    end
  end
  if res.parent then
    local uid = ref_uid(self, res.parent, fields)
    if uid then out[#out + 1] = { model = res.parent.model, uid = uid } end
  end
  -- list fields whose items are records of another model (by its identifiers)
  for _, mr in ipairs(res.m2m_refs or {}) do
    local items = fields[mr.field]
    if type(items) == "table" then
      for _, it in ipairs(items) do
        local uid = ref_uid(self, mr, it)
        if uid then out[#out + 1] = { model = mr.model, uid = uid } end
      end
    end
  end
  return out
end

-- A record's values once `attrs` are applied to it: its stored ones (if
-- uid names one), its keys, the new attributes.
local function values_after(self, model, uid, keys, attrs)
  local rec = uid and self:get_or_none(model, uid)
  local f = {}
  for k, v in pairs(rec and rec:get_attrs() or {}) do f[k] = v end
  for k, v in pairs(keys) do f[k] = v end
  for k, v in pairs(attrs) do f[k] = v end
  return f
end

-- A request for one operation, or nil and why it cannot be made.
local function single(self, op)
  local res = self.rest.resources[op.model]
  local id = res.id or "id"
  if op.action == "create" then
    local f = {}
    for k, v in pairs(op.keys) do f[k] = v end
    for k, v in pairs(op.attrs) do f[k] = v end
    local ok, body = pcall(payload, self, op.model, res, f, true, op)
    if not ok then return nil, body end
    return { method = "POST", path = res.path, json = body }
  end
  local sid = self._sid[op.model][op.uid]
  if sid == nil then return nil, fmt("no server id for %s %s", op.model, op.uid) end
  if op.action == "update" then
    -- to_api sees the record's values after the update, and the op
    local f = res.to_api and values_after(self, op.model, op.uid, op.keys, op.attrs) or op.attrs
    local ok, body = pcall(payload, self, op.model, res, f, false, op)
    if not ok then return nil, body end
    return { method = "PATCH", path = detail(res, sid), json = body }
  end
  -- a delete the resource carries out as a change of the record (a status, a tag)
  if res.retire then
    local f = values_after(self, op.model, op.uid, op.keys, {})
    local ok, body = pcall(res.retire, f, self, op)
    if not ok then return nil, body end
    if body ~= nil then return { method = "PATCH", path = detail(res, sid), json = body, retire = true } end
  end
  return { method = "DELETE", path = detail(res, sid), ok404 = true, id = id }
end

-- The body item of an operation in a bulk request.
local function item(self, op, req)
  local res = self.rest.resources[op.model]
  local id = res.id or "id"
  if op.action == "create" then return req.json end
  local body = req.method == "PATCH" and req.json or {}
  body[id] = self._sid[op.model][op.uid]
  return body
end

-- Records what a successful write of op tells (the server id of a
-- create) and forgets a deleted record's id.
local function settle(self, op, created)
  local res = self.rest.resources[op.model]
  if op.action == "create" then
    self._sid[op.model][op.uid] = type(created) == "table" and created[res.id or "id"] or nil
  elseif op.action == "delete" then
    self._sid[op.model][op.uid] = nil
  end
end

-- Per-item errors of a refused bulk request, when the server gives them
-- (NetBox: a list aligned with the batch, {} for the good items).
local function item_errors(r, n)
  local ok, j = pcall(r.json, r)
  if not ok or type(j) ~= "table" or #j ~= n then return nil end
  local errs = {}
  for i, e in ipairs(j) do
    if type(e) ~= "table" then return nil end
    errs[i] = next(e) ~= nil and e or false
  end
  return errs
end

--- Sends a wave of operations (see moonsync.writer): one request per
-- operation, or batches per (model, action) on bulk resources, all
-- concurrently up to the client's concurrency. A refused batch is split:
-- by the server's per-item errors when it gives them, else in halves,
-- until the refused records are alone. Returns an outcome per operation.
local function write(self, wave)
  local outcome = {}
  local pending = {}   -- requests of this round: {req =, ops =, batch = bool}
  local batches = {}
  local retires = {}   -- i -> the server id of a delete carried out as a change
  for i, op in ipairs(wave) do
    local res = self.rest.resources[op.model]
    local req, why
    if res then req, why = single(self, op) end
    if req and req.retire then retires[i] = self._sid[op.model][op.uid] end
    if not res then
      outcome[i] = { ok = false, message = fmt("adapter %s has no REST resource for model %s",
                                               self.name, op.model) }
    elseif not req then
      outcome[i] = { ok = false, message = tostring(why) }
    elseif bulk_for(self, res) then
      local k = req.method .. "\0" .. op.model
      local b = batches[k]
      if not b then
        b = { res = res, method = req.method, items = {} }
        batches[k] = b
        batches[#batches + 1] = b
      end
      b.items[#b.items + 1] = { i = i, op = op, req = req }
    else
      pending[#pending + 1] = { req = req, items = { { i = i, op = op, req = req } } }
    end
  end
  local size = self.rest.batch_size or 100
  local function batch(b, items)
    local list = {}
    for j, it in ipairs(items) do list[j] = item(self, it.op, it.req) end
    return { req = { method = b.method, path = b.res.path, json = ms.list(list) },
             items = items, bulk = b }
  end
  for _, b in ipairs(batches) do
    for s = 1, #b.items, size do
      local items = {}
      for j = s, math.min(s + size - 1, #b.items) do items[#items + 1] = b.items[j] end
      pending[#pending + 1] = batch(b, items)
    end
  end
  while #pending > 0 do
    local reqs = {}
    for j, p in ipairs(pending) do reqs[j] = p.req end
    local results = self.client:request_many(reqs)
    local again = {}
    for j, p in ipairs(pending) do
      local r = results[j]
      local gone = not r.ok and p.req.method == "DELETE" and r.response and r.response.status == 404
      if r.ok or gone then
        local created = p.req.method == "POST" and r.response and select(2, pcall(r.response.json, r.response))
        for k, it in ipairs(p.items) do
          settle(self, it.op, p.bulk and type(created) == "table" and created[k] or created)
          outcome[it.i] = { ok = true }
        end
      elseif r.unsent then
        -- an interrupt came first: not done, not failed
        for _, it in ipairs(p.items) do outcome[it.i] = { ok = false, unsent = true } end
      elseif #p.items == 1 or not p.bulk then
        local msg = failmsg(r)
        for _, it in ipairs(p.items) do outcome[it.i] = { ok = false, message = msg } end
      else
        -- an atomic batch was refused: isolate the records it refuses
        local errs = r.response and r.response.status >= 400 and r.response.status < 500
                     and item_errors(r.response, #p.items)
        if errs then
          local good = {}
          for k, it in ipairs(p.items) do
            if errs[k] then
              outcome[it.i] = { ok = false, message = redact.text(fmt("%s %s: HTTP %d: %s",
                p.req.method, r.response.url, r.response.status,
                cjson.encode(errs[k]):sub(1, 300))) }
            else
              good[#good + 1] = it
            end
          end
          if #good > 0 then again[#again + 1] = batch(p.bulk, good) end
        else
          local half = #p.items // 2
          local a, b = {}, {}
          for k, it in ipairs(p.items) do
            if k <= half then a[#a + 1] = it else b[#b + 1] = it end
          end
          again[#again + 1] = batch(p.bulk, a)
          again[#again + 1] = batch(p.bulk, b)
        end
      end
    end
    pending = again
  end
  -- what a resource writes beside its records (Nautobot's prefix
  -- locations, through their own assignments)
  local after = {}
  for i, op in ipairs(wave) do
    local res = self.rest.resources[op.model]
    local retired = retires[i]
    if res and res.after_write and outcome[i].ok and (op.action ~= "delete" or retired) then
      after[res] = after[res] or {}
      local list = after[res]
      list[#list + 1] = { i = i, op = op, sid = retired or self._sid[op.model][op.uid], retired = retired and true }
    end
  end
  for res, list in pairs(after) do
    local failed = res.after_write(self, list)
    for k, msg in pairs(failed or {}) do
      outcome[list[k].i] = { ok = false, message = redact.text(msg) }
    end
  end
  return outcome
end

--- Sends bulk writes of `items` ({k =, body =}) to `path` (a list
-- endpoint), 100 a request, all at once; a refused request is sent again
-- item by item, so only the refused items fail. Returns the answered
-- records by item, and {[k] = message} of the failed (`what` says what
-- the write was for). For what a resource writes beside its records.
function M.bulk(adapter, method, path, items, what)
  local reqs, groups = {}, {}
  local function add(group)
    local list = {}
    for j, it in ipairs(group) do list[j] = it.body end
    reqs[#reqs + 1] = { method = method, path = path, json = ms.list(list) }
    groups[#reqs] = group
  end
  for s = 1, #items, 100 do
    local g = {}
    for j = s, math.min(s + 99, #items) do g[#g + 1] = items[j] end
    add(g)
  end
  local made, failed = {}, {}
  local function run()
    local again = {}
    local results = #reqs > 0 and adapter.client:request_many(reqs) or {}
    local gs = groups
    reqs, groups = {}, {}
    for j, r in ipairs(results) do
      local g = gs[j]
      if r.ok then
        local ok, body = pcall(r.response.json, r.response)
        for n, it in ipairs(g) do made[it] = ok and type(body) == "table" and body[n] or nil end
      elseif #g > 1 then
        for _, it in ipairs(g) do again[#again + 1] = it end
      else
        failed[g[1].k] = failed[g[1].k] or fmt("%s: %s", what, failmsg(r))
      end
    end
    for _, it in ipairs(again) do add({ it }) end
  end
  run()
  if #reqs > 0 then run() end
  return made, failed
end

--- Declares a REST adapter class (see the module description).
-- Declaration keys: `models`, `top_level`, `resources` (per model: `path`,
-- `fields` {model_field = "api.path" or {path = "api.path", write =
-- "api.path" or lookup = "name"}}, `parent` {model =, ids = {parent_id_field =
-- "child_field"}}, `refs` {api_field = {model =, ids = {...}, partial =
-- true when ids name only some of the model's identifiers}}, `id`
-- ("id"), `pagination`, `page_size`, `query`, `detail` ("{path}{id}/"-style
-- template), `bulk`, `results_key`, `to_api(fields, adapter, op)` (an
-- update's fields are the record's values after it; op.attrs says which
-- changed), `m2m_refs` ({{field =, model =, ids = {id = id, ...}}}: a
-- list field whose items are records of that model, by its identifiers), `after_write(adapter,
-- done)` (called with the {op =, sid =} a wave wrote, and the {op =, sid
-- =, retired = true} of deletes `retire` made; returns {[k] =
-- message} for those whose extra writes failed),
-- `from_api(api_record, adapter)`, `fetch(adapter)` (the records, when
-- they do not come from one get_all of path), `annotate(api_record,
-- adapter, fields)` (-> the record's own flags, and a table kept beside
-- it in `adapter._kept[model][uid]`), `retire(fields, adapter, op)` (-> the
-- body of a PATCH that carries out a delete instead, or nil for a
-- DELETE)), `after_load(adapter)` (called once the records are read),
-- `pagination`, `page_size`, `bulk`,
-- `batch_size` (100), `client` (default http.client options), `lookups`
-- ({name = {path =, key =, id = "id"}}: tables of server records a field
-- with `lookup = name` is written through, as the id of the record whose
-- key is the field's value: NetBox device roles by slug, say), `verify`
-- (re-read the target after a sync, see docs/http.md), and the adapter
-- hooks `validate` and `sync_complete`.
-- Instances: `Class:new { client = {...} or http.client(...), name = }`.
-- The built-in validate hook (sync --dry-run, and before a sync): every
-- lookup a create or update needs resolves (a role slug the server does
-- not have is reported here, before anything is written); then the
-- adapter's own validate, if any.
local function validator(own)
  return function(self, action, model, keys, attrs)
    local fields = self._fields[model.name]
    if fields and action ~= "delete" then
      for field, spec in pairs(fields) do
        local v = attrs[field]
        if v == nil then v = keys[field] end
        if spec.lookup and v ~= nil and v ~= ms.null then
          local ok, err = pcall(lookup_id, self, spec.lookup, v)
          if not ok then return false, fmt("field %s: %s", field, tostring(err)) end
        end
      end
    end
    if own then return own(self, action, model, keys, attrs) end
    return true
  end
end

function M.adapter(name, preset)
  return function(spec)
    local fieldsets = {}
    for k in pairs(spec) do
      if not adapter_keys[k] then error(fmt("rest adapter '%s': unknown key '%s'", name, tostring(k)), 2) end
    end
    for lname, l in pairs(spec.lookups or {}) do
      for k in pairs(l) do
        if not lookup_keys[k] then
          error(fmt("rest adapter '%s': lookups.%s: unknown key '%s'", name, lname, tostring(k)), 2)
        end
      end
      if type(l.path) ~= "string" or type(l.key) ~= "string" then
        error(fmt("rest adapter '%s': lookups.%s needs a path and a key", name, lname), 2)
      end
    end
    for mname, res in pairs(spec.resources or {}) do
      for k in pairs(res) do
        if not resource_keys[k] then
          error(fmt("rest adapter '%s': resources.%s: unknown key '%s'", name, mname, tostring(k)), 2)
        end
      end
      if type(res.path) ~= "string" then
        error(fmt("rest adapter '%s': resources.%s needs a path", name, mname), 2)
      end
      if not res.fields and not res.from_api then
        error(fmt("rest adapter '%s': resources.%s needs fields", name, mname), 2)
      end
      fieldsets[mname] = normalize_fields(name, mname, res, preset, spec.lookups)
    end
    local cls = ms.adapter(name) {
      models = spec.models, top_level = spec.top_level, type = spec.type or name,
      load = load, validate = validator(spec.validate), sync_complete = spec.sync_complete,
      methods = {
        write = write, refs_of = refs_of,
        commit = function() end,
        identity = function(self) return fmt("rest %s %s", self.name, self.client.base_url) end,
      },
    }
    cls.verify = spec.verify
    local base_new = cls.new
    function cls.new(c, options)
      options = options or {}
      local self = base_new(c, options)
      local copts = options.client or spec.client
      if type(copts) == "table" and copts.core then
        self.client = copts
      else
        self.client = http.client(copts or {})
      end
      self.rest = spec
      self._fields = fieldsets
      self._lookup = {}
      self._sid = {}
      self._kept = {}
      for _, m in ipairs(c.models) do self._sid[m.name] = {} end
      return self
    end
    return cls
  end
end

M.getpath = getpath
M.detail = detail
M.values_after = values_after
M.writer = writer
return M
