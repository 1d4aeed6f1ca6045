--- A generic REST adapter configured in Lua: a collection path per model,
-- a mapping between API fields (dotted paths) and model fields, how
-- children attach to parents, and how references become server ids on
-- write. Creates, updates and deletes become POST, PATCH and DELETE; with
-- `bulk = true` updates, deletes and creates of childless models are sent
-- in batches to the list endpoint (NetBox/Nautobot style) when the sync
-- commits.
--
--   local rest = require "rest"
--   local Inv = rest.adapter "inventory" {
--     models = { Site, Device },
--     resources = {
--       site = { path = "/sites", fields = { name = "name", status = "status" } },
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

local fmt, concat = string.format, table.concat
local pairs, ipairs, type, tostring = pairs, ipairs, type, tostring

local M = {}

local function getpath(t, path)
  for part in path:gmatch("[^.]+") do
    if type(t) ~= "table" then return nil end
    t = t[part]
  end
  if t == ms.null then return nil end
  return t
end

local resource_keys = { path = true, fields = true, parent = true, refs = true,
                        id = true, pagination = true, page_size = true, query = true,
                        detail = true, bulk = true, results_key = true, to_api = true,
                        from_api = true }

local adapter_keys = { models = true, top_level = true, resources = true,
                       pagination = true, page_size = true, bulk = true, type = true,
                       batch_size = true, client = true, validate = true,
                       sync_complete = true }

-- {====== loading ======}

-- Builds the model fields of one API record.
local function fields_of(res, api)
  if res.from_api then return res.from_api(api) end
  local f = {}
  for field, path in pairs(res.fields) do f[field] = getpath(api, path) end
  return f
end

-- The uid of a referenced record (parent or ref) from a record's fields.
local function ref_uid(adapter, spec, fields)
  local model = adapter.model[spec.model]
  local ids = {}
  for idfield, from in pairs(spec.ids) do ids[idfield] = fields[from] end
  for _, name in ipairs(model.identifiers) do
    if ids[name] == nil then return nil end
  end
  return model(ids):get_unique_id()
end

local function load(self)
  local opts = self.rest
  for _, model in ipairs(self.models) do
    local res = opts.resources[model.name]
    if res then
      local records = self.client:get_all(res.path, {
        pagination = res.pagination or opts.pagination, page_size = res.page_size or opts.page_size,
        query = res.query, results_key = res.results_key })
      local sids = self._sid[model.name]
      for i, api in ipairs(records) do
        local f = fields_of(res, api)
        local ok, rec = pcall(self.new_record, self, model, f)
        if not ok then
          error(ms.error(ms.is_error(rec) and rec.type or "InputError",
            fmt("%s %s: record %d: %s", model.name, res.path, i,
                ms.is_error(rec) and rec.message or tostring(rec)), { adapter = self.name }), 0)
        end
        sids[rec:get_unique_id()] = api[res.id or "id"]
        if res.parent then
          local puid = ref_uid(self, res.parent, f)
          local parent = puid and self:get_or_none(res.parent.model, puid)
          if parent then parent:add_child(rec) end
        end
      end
    end
  end
end

-- {====== writing ======}

local function setpath(t, path, v)
  local parts = {}
  for p in path:gmatch("[^.]+") do parts[#parts + 1] = p end
  for i = 1, #parts - 1 do
    t[parts[i]] = t[parts[i]] or {}
    t = t[parts[i]]
  end
  t[parts[#parts]] = v
end

-- The API payload for fields (all of a create's, or an update's changes).
local function payload(self, res, fields, all)
  if res.to_api then return res.to_api(fields, self) end
  local body = {}
  local reffields = {}
  for apifield, ref in pairs(res.refs or {}) do
    for _, from in pairs(ref.ids) do reffields[from] = true end
    local touched = all
    for _, from in pairs(ref.ids) do if fields[from] ~= nil then touched = true end end
    if touched then
      local uid = ref_uid(self, ref, fields)
      local sid = uid and self._sid[ref.model][uid]
      if uid and sid == nil then
        error(ms.error("ObjectCrudException", fmt("no server id for %s %s", ref.model, uid)), 0)
      end
      body[apifield] = sid
    end
  end
  for field, path in pairs(res.fields) do
    local v = fields[field]
    -- dotted paths are read-only views of nested objects (refs write them)
    if v ~= nil and not reffields[field] and not path:find(".", 1, true) then
      setpath(body, path, v == ms.null and ms.null or v)
    end
  end
  return body
end

local function detail(res, sid)
  if res.detail then return (res.detail:gsub("{id}", tostring(sid))) end
  if res.path:sub(-1) == "/" then return res.path .. sid .. "/" end
  return res.path .. "/" .. sid
end

-- The error for a write the server refused: the status and the start of
-- its body, with every secret masked (a server may echo the request).
local function refused(etype, r)
  return ms.error(etype, redact.text(fmt("%s %s: HTTP %d%s: %s", r.method, r.url, r.status,
    r.error and (" " .. r.error) or "", (r.body or ""):sub(1, 200))))
end

local function crud_error(op, err)
  local t = op == "create" and "ObjectNotCreated" or op == "update" and "ObjectNotUpdated"
            or "ObjectNotDeleted"
  return ms.error(t, ms.is_error(err) and err.message or tostring(err))
end

local function resource(self, model)
  local res = self.rest.resources[model]
  if not res then
    error(ms.error("ObjectCrudException", fmt("adapter %s has no REST resource for model %s",
      self.name, model)), 0)
  end
  return res
end

local function bulk_for(self, res, model)
  local b = res.bulk
  if b == nil then b = self.rest.bulk end
  return b and true or false
end

local function queue(self, kind, model, item)
  local key = kind .. "\0" .. model
  local q = self._queue[key]
  if not q then
    q = { kind = kind, model = model, items = {} }
    self._queue[key] = q
    self._qorder[#self._qorder + 1] = key
  end
  q.items[#q.items + 1] = item
  if #q.items >= (self.rest.batch_size or 100) then self:flush() end
end

local function create(self, model, ids, attrs)
  local res = resource(self, model.name)
  local fields = {}
  for k, v in pairs(ids) do fields[k] = v end
  for k, v in pairs(attrs) do fields[k] = v end
  local ok, body = pcall(payload, self, res, fields, true)
  if not ok then error(crud_error("create", body), 0) end
  local rec = self:create_base(model, ids, attrs)
  if bulk_for(self, res) and #model.children == 0 then
    queue(self, "create", model.name, { body = body, uid = rec:get_unique_id() })
    return rec
  end
  local r = self.client:request("POST", res.path, { json = body, raise = false })
  if r.status < 200 or r.status >= 300 then
    error(refused("ObjectNotCreated", r), 0)
  end
  self._sid[model.name][rec:get_unique_id()] = r:json()[res.id or "id"]
  return rec
end

local function update(self, rec, attrs)
  local model = rec:get_type()
  local res = resource(self, model)
  local sid = self._sid[model][rec:get_unique_id()]
  if sid == nil then
    error(ms.error("ObjectNotUpdated", fmt("no server id for %s %s", model, rec:get_unique_id())), 0)
  end
  local ok, body = pcall(payload, self, res, attrs, false)
  if not ok then error(crud_error("update", body), 0) end
  if bulk_for(self, res) then
    body[res.id or "id"] = sid
    queue(self, "update", model, { body = body, uid = rec:get_unique_id() })
  else
    local r = self.client:request("PATCH", detail(res, sid), { json = body, raise = false })
    if r.status < 200 or r.status >= 300 then
      error(refused("ObjectNotUpdated", r), 0)
    end
  end
  return self:update_base(rec, attrs)
end

local function delete(self, rec)
  local model = rec:get_type()
  local res = resource(self, model)
  local sid = self._sid[model][rec:get_unique_id()]
  if sid == nil then
    error(ms.error("ObjectNotDeleted", fmt("no server id for %s %s", model, rec:get_unique_id())), 0)
  end
  if bulk_for(self, res) then
    queue(self, "delete", model, { body = { [res.id or "id"] = sid }, uid = rec:get_unique_id() })
  else
    local r = self.client:request("DELETE", detail(res, sid), { raise = false })
    if r.status ~= 404 and (r.status < 200 or r.status >= 300) then
      error(refused("ObjectNotDeleted", r), 0)
    end
  end
  self._sid[model][rec:get_unique_id()] = nil
  return self:delete_base(rec)
end

--- Sends the queued bulk operations (one request per batch, batches of
-- different kinds concurrently). Raises HTTPError naming the records of
-- any batch the server refused; nothing queued is dropped silently.
local function flush(self)
  local reqs, batches = {}, {}
  for _, key in ipairs(self._qorder) do
    local q = self._queue[key]
    if #q.items > 0 then
      local res = self.rest.resources[q.model]
      local list = {}
      for i, it in ipairs(q.items) do list[i] = it.body end
      local method = q.kind == "create" and "POST" or q.kind == "update" and "PATCH" or "DELETE"
      reqs[#reqs + 1] = { method = method, path = res.path, json = ms.list(list) }
      batches[#batches + 1] = q
    end
  end
  self._queue, self._qorder = {}, {}
  if #reqs == 0 then return end
  local results = self.client:request_many(reqs)
  local failed = {}
  for i, r in ipairs(results) do
    local q = batches[i]
    if not r.ok then
      local uids = {}
      for j, it in ipairs(q.items) do uids[j] = it.uid end
      failed[#failed + 1] = fmt("%s of %d %s (%s): %s", q.kind, #q.items, q.model,
                                concat(uids, ", "), r.error.message)
    elseif q.kind == "create" then
      local res = self.rest.resources[q.model]
      for j, created in ipairs(r.response:json()) do
        self._sid[q.model][q.items[j].uid] = created[res.id or "id"]
      end
    end
  end
  if #failed > 0 then
    error(ms.error("HTTPError", "bulk write failed: " .. concat(failed, "; ")), 0)
  end
end

--- Declares a REST adapter class (see the module description).
-- Declaration keys: `models`, `top_level`, `resources` (per model: `path`,
-- `fields` {model_field = "api.path"}, `parent` {model =, ids =
-- {parent_id_field = "child_field"}}, `refs` {api_field = {model =, ids =
-- {...}}}, `id` ("id"), `pagination`, `page_size`, `query`, `detail`
-- ("{path}{id}/"-style template), `bulk`, `results_key`, `to_api(fields,
-- adapter)`, `from_api(api_record)`), `pagination`, `page_size`, `bulk`,
-- `batch_size` (100), `client` (default http.client options), and the
-- adapter hooks `validate` and `sync_complete`.
-- Instances: `Class:new { client = {...} or http.client(...), name = }`.
function M.adapter(name)
  return function(spec)
    for k in pairs(spec) do
      if not adapter_keys[k] then error(fmt("rest adapter '%s': unknown key '%s'", name, tostring(k)), 2) end
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
    end
    local cls = ms.adapter(name) {
      models = spec.models, top_level = spec.top_level, type = spec.type or "rest",
      load = load, create = create, update = update, delete = delete,
      validate = spec.validate, sync_complete = spec.sync_complete,
      methods = { flush = flush, commit = flush,
                  identity = function(self) return fmt("rest %s %s", self.name, self.client.base_url) end },
    }
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
      self._sid, self._queue, self._qorder = {}, {}, {}
      for _, m in ipairs(c.models) do self._sid[m.name] = {} end
      return self
    end
    return cls
  end
end

M.getpath = getpath
return M
