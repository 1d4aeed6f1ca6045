--- Schema-aware models on the REST adapter: an API's OpenAPI document
-- says which resources it has and, for each field, whether it is a plain
-- value, a choice, a reference to another resource (and which), a
-- many-to-many list, required or read-only. A model then only names its
-- resource, identifiers and attributes, in Django's lookup syntax as
-- Nautobot's SSoT does (`location__parent__name`: the name of the parent
-- of the record's location), and the adapter loads, creates, updates and
-- deletes with no per-model code.
--
--   local openapi = require "moonsync.adapters.openapi"
--   local api = openapi.schema(require("cjson").decode(text))
--   local Device = api:model "device" {
--     resource = "dcim.devices",
--     identifiers = { "name", "location__name" },
--     attributes = { "status__name", "role__name", "serial", "tags" },
--   }
--
-- Models declared this way go to nautobot.adapter or netbox.adapter (or
-- `openapi.adapter(name)` for other APIs) without `resources`; a model declared
-- with plain ms.model still needs its hand-written resource.
-- @module openapi
local ms = require "moonsync"
local http = require "moonsync.http"
local cjson = require "cjson"

local fmt, concat, sort = string.format, table.concat, table.sort
local pairs, ipairs, type, tostring, error = pairs, ipairs, type, tostring, error

local M = {}

-- {====== the catalogue: resources and their fields ======}

local function resolve(doc, s)
  local seen = 0
  while type(s) == "table" and s["$ref"] do
    local name = s["$ref"]:match("^#/components/schemas/(.+)$")
    local t = name and doc.components and doc.components.schemas and doc.components.schemas[name]
    if not t then error(fmt("openapi: unresolved $ref %s", tostring(s["$ref"])), 0) end
    s, seen = t, seen + 1
    if seen > 64 then error("openapi: $ref loop at " .. name, 0) end
  end
  return s
end

local function refname(s)
  return type(s) == "table" and type(s["$ref"]) == "string" and s["$ref"]:match("([^/]+)$") or nil
end

-- A property schema without its wrappings: {schema =, ref = component
-- name, nullable =}. anyOf/oneOf with null are nullable; NetBox's
-- {oneOf: [integer id, Brief object]} is the brief object.
local function unwrap(doc, p)
  local nullable, ref = false, nil
  for _ = 1, 16 do
    if type(p) ~= "table" then break end
    if p.nullable then nullable = true end
    if p["$ref"] then
      ref = refname(p) or ref
      p = resolve(doc, p)
    elseif p.allOf and #p.allOf == 1 then
      p = p.allOf[1]
    elseif p.anyOf or p.oneOf then
      local alts, keep = p.anyOf or p.oneOf, {}
      for _, a in ipairs(alts) do
        if type(a) == "table" and a.type == "null" then nullable = true else keep[#keep + 1] = a end
      end
      if #keep == 1 then
        p = keep[1]
      else
        local obj
        for _, a in ipairs(keep) do if a["$ref"] then obj = a end end
        if not obj then break end
        p = obj
      end
    else
      break
    end
  end
  return { schema = p, ref = ref, nullable = nullable }
end

local function list_item(doc, op)
  local r = op and op.responses and (op.responses["200"] or op.responses[200])
  local c = r and r.content and r.content["application/json"]
  local s = c and c.schema and resolve(doc, c.schema)
  if type(s) ~= "table" then return nil end
  if s.properties and s.properties.results then
    local items = resolve(doc, s.properties.results).items
    return items and refname(items), items and resolve(doc, items)
  end
  if s.type == "array" and s.items then return refname(s.items), resolve(doc, s.items) end
  return nil
end

local function body_schema(doc, op)
  local c = op and op.requestBody and op.requestBody.content
  c = c and c["application/json"]
  if not c or not c.schema then return nil end
  local s = c.schema
  local alts = s.oneOf or s.anyOf
  if alts then
    for _, a in ipairs(alts) do
      if a["$ref"] then return refname(a), resolve(doc, a) end
    end
  end
  s = resolve(doc, s)
  if s.type == "array" and s.items then return refname(s.items), resolve(doc, s.items) end
  return refname(c.schema), s
end

local function resource_name(path)
  local p = path:gsub("^/api/", "/"):gsub("^/", ""):gsub("/$", "")
  return (p:gsub("/", "."))
end

-- The kind of one field: {kind = "value"|"choice"|"ref"|"m2m"|"list"|
-- "object", type =, target = resource, choice_value = bool, enum =,
-- nullable =}.
local function classify(doc, cat, p)
  local u = unwrap(doc, p)
  local s = u.schema or {}
  local target = type(p) == "table" and p["x-nautobot-resource"]
  local f = { nullable = u.nullable, through = type(p) == "table" and p["x-nautobot-through"] or nil }
  local function brief(ref)
    local base = ref and (ref:match("^Brief(%w-)Request$") or ref:match("^Brief(%w+)$")
                          or ref:match("^Nested(%w-)Request$") or ref:match("^Nested(%w+)$"))
    return base and (cat.by_component[base] or false)
  end
  if s.type == "array" then
    local iu = unwrap(doc, s.items)
    local t = target or brief(iu.ref)
    if target or t ~= nil or (iu.schema and iu.schema.properties and iu.schema.properties.id) then
      f.kind, f.target = "m2m", t or nil
    else
      f.kind, f.type = "list", iu.schema and iu.schema.type
    end
    return f
  end
  local t = target or brief(u.ref)
  if target or t ~= nil then
    f.kind, f.target = "ref", t or nil
    f.fields = s.properties
    return f
  end
  if s.properties and s.properties.value and s.properties.label then
    local v = unwrap(doc, s.properties.value).schema or {}
    f.kind, f.choice_value, f.enum, f.type = "choice", true, v.enum, v.type
    return f
  end
  if s.enum then
    f.kind, f.enum, f.type = "choice", s.enum, s.type
    return f
  end
  if s.type == "object" then f.kind = "object"; return f end
  f.kind, f.type = "value", s.type
  return f
end

local Schema = {}
Schema.__index = Schema

--- A catalogue of an OpenAPI document's resources: every collection path
-- whose GET answers a list (or a page of one), named by its path without
-- "/api/" ("/api/dcim/locations/" is "dcim.locations"). `doc` is the
-- decoded document or its JSON text; `opts.preset` tunes it for an API
-- ("nautobot": nested objects by `?depth=N`, m2m fields only with
-- exclude_m2m=false).
function M.schema(doc, opts)
  if type(doc) == "string" then doc = cjson.decode(doc) end
  if type(doc) ~= "table" or type(doc.paths) ~= "table" then
    error("openapi.schema: not an OpenAPI document (no paths)", 2)
  end
  local cat = setmetatable({ doc = doc, resources = {}, by_component = {}, opts = opts or {},
                             version = doc.info and doc.info.version }, Schema)
  local pending = {}
  for path, item in pairs(doc.paths) do
    if not path:find("{", 1, true) and type(item) == "table" and item.get then
      local comp, schema = list_item(doc, item.get)
      if schema then
        local name = resource_name(path)
        local res = { name = name, path = path, item = schema, component = comp,
                      content_type = item["x-nautobot-content-type"], methods = {} }
        for _, m in ipairs { "post", "patch", "put", "delete" } do res.methods[m] = item[m] ~= nil end
        for dpath, ditem in pairs(doc.paths) do
          if dpath:sub(1, #path) == path and dpath:sub(#path + 1):match("^/?{[^}/]+}/?$") then
            res.detail = dpath:gsub("{[^}/]+}", "{id}")
            res.detail_patch = ditem.patch
          end
        end
        local _, req = body_schema(doc, item.post)
        if not req and res.detail_patch then _, req = body_schema(doc, res.detail_patch) end
        res.request = req
        cat.resources[name] = res
        if comp then cat.by_component[comp] = name end
        pending[#pending + 1] = res
      end
    end
  end
  for _, res in ipairs(pending) do
    res.fields = {}
    local writable = res.request and res.request.properties or {}
    local required = {}
    for _, r in ipairs(res.request and res.request.required or {}) do required[r] = true end
    for fname, p in pairs(res.item.properties or {}) do
      local f = classify(cat.doc, cat, p)
      f.name = fname
      f.readonly = writable[fname] == nil
      f.required = required[fname] or false
      -- how the request takes it (a blank choice may be "" there, never null)
      if writable[fname] then f.write = classify(cat.doc, cat, writable[fname]) end
      res.fields[fname] = f
    end
    -- write-only fields (NetBox's ...Request-only fields) are writable too
    for fname, p in pairs(writable) do
      if not res.fields[fname] then
        local f = classify(cat.doc, cat, p)
        f.name, f.writeonly, f.required = fname, true, required[fname] or false
        res.fields[fname] = f
      end
    end
    res.required = required
  end
  return cat
end

--- The resource `name`, or an error naming what the document has.
function Schema:resource(name, who)
  local res = self.resources[name]
  if not res then
    local names = {}
    for n in pairs(self.resources) do names[#names + 1] = n end
    sort(names)
    local near = {}
    for _, n in ipairs(names) do
      if n:find(name:match("[^.]+$") or name, 1, true) then near[#near + 1] = n end
    end
    error(fmt("%s: the schema has no resource '%s'%s", who or "openapi", tostring(name),
              #near > 0 and (" (did you mean " .. concat(near, ", ") .. "?)") or ""), 0)
  end
  return res
end

--- Resolves a lookup (`location__parent__name`) from a resource: a list
-- of steps {resource =, field =}, the final field, and how many
-- references it crosses. Errors name `who` and the field.
function Schema:lookup(resource, lookup, who)
  local res = self:resource(resource, who)
  local steps, depth = {}, 0
  local parts = {}
  for part in (lookup .. "__"):gmatch("(.-)__") do parts[#parts + 1] = part end
  for i, part in ipairs(parts) do
    if part == "" then error(fmt("%s: field '%s': an empty part in the lookup", who, lookup), 0) end
    local f = res.fields[part]
    if not f then
      local prev = steps[#steps]
      error(fmt("%s: field '%s': %s has no field '%s' in the schema%s", who, lookup, res.name, part,
                prev and fmt(" (reached through %s)", prev.field.name) or ""), 0)
    end
    steps[#steps + 1] = { resource = res, field = f, name = part }
    if i < #parts then
      if f.kind == "object" and f.name == "custom_fields" and i == #parts - 1 then
        steps[#steps + 1] = { custom = parts[i + 1], name = parts[i + 1] }
        return { steps = steps, field = { kind = "value", name = parts[i + 1], custom = true,
                                          readonly = f.readonly, nullable = true },
                 depth = depth, lookup = lookup }
      end
      if f.kind ~= "ref" and f.kind ~= "m2m" then
        error(fmt("%s: field '%s': '%s' of %s is not a reference, so the lookup cannot go on to '%s'",
                  who, lookup, part, res.name, concat(parts, "__", i + 1)), 0)
      end
      if f.kind == "m2m" then
        error(fmt("%s: field '%s': '%s' of %s is a many-to-many list: declare it as '%s' (its items' "
                  .. "keys come from m2m = { %s = {...} })", who, lookup, part, res.name, part, part), 0)
      end
      if not f.target then
        error(fmt("%s: field '%s': the schema does not say which resource '%s' of %s references",
                  who, lookup, part, res.name), 0)
      end
      if self.opts.preset == "netbox" and not (f.fields or {})[parts[i + 1]] then
        error(fmt("%s: field '%s': NetBox answers '%s' of %s as a brief object, which has no '%s'",
                  who, lookup, part, res.name, parts[i + 1]), 0)
      end
      res = self:resource(f.target, who .. ": field '" .. lookup .. "'")
      depth = depth + 1
    end
  end
  return { steps = steps, field = steps[#steps].field, depth = depth, lookup = lookup }
end

-- {====== models ======}

-- What a schema model declares beyond ms.model's keys.
local SCHEMA_KEYS = { "resource", "m2m", "fields", "query", "where", "write", "after_write", "keep", "flag",
                      "retire", "parent" }

-- The natural key of a resource's records in m2m lists: its name, when it
-- has one.
local function default_key(self, target)
  local res = target and self.resources[target]
  if res and res.fields.name then return { "name" } end
  return nil
end

--- Declares a model on a resource: `api:model "location" { resource =
-- "dcim.locations", identifiers = {...}, attributes = {...}, children =,
-- flags =, m2m = { locations = { "name", "location_type__name" } } }`.
-- Every identifier and attribute is checked against the schema here: a
-- field it does not have, or a lookup through a field that is not a
-- reference, is an error naming the model and field. A many-to-many
-- field (`tags`, `content_types`) is a list, compared sorted; its items
-- are the referenced records' keys (`m2m`, default { "name" }).
-- Beyond those, a model may say:
-- - `fields = { model_field = "lookup" }`: the field reads another
--   lookup (`parent = "parent__name"`), or `{ "lookup", read =
--   function(v, record, at) ..., write = function(v, fields) ..., also =
--   { "lookup", ... }, send = false }`: its value made from the lookup's
--   (`at(lookup)` reads one of `also`), and back; `send = false` never
--   writes it;
-- - `query = { filter = "value" }`: sent with every read of the resource;
-- - `where = { lookup = value or function(v) -> bool }`: the records kept;
-- - `write = function(body, fields, op, kept)`: adjusts each write's body;
-- - `after_write(adapter, done)`: as a REST resource's (`done` holds the
--   deletes made by `retire` too, with `retired = true`);
-- - `keep = { "lookup", ... }`: read with each record and kept beside it,
--   not compared: `kept[lookup]` (a many-to-many list as its items' names,
--   `tags` -> {"a", "b"}) is given to `write`, `flag` and `retire`;
-- - `flag = function(kept, fields) -> flags`: the record's own model flags
--   (`{ "SKIP_UNMATCHED_DST" }`: never deleted), or nil;
-- - `retire = function(fields, op, kept) -> body`: a delete is this PATCH
--   of the record instead (a status, a tag), or nil for a DELETE;
-- - `parent = { parent_identifier = "field" }`: which of its fields name
--   its parent, where no reference does (a VLAN's first location).
function Schema:model(name)
  return function(spec)
    if type(spec) ~= "table" then error(fmt("model '%s': expected a declaration table", name), 2) end
    local resource = spec.resource
    if type(resource) ~= "string" then
      error(fmt("model '%s': resource must name the API resource (e.g. \"dcim.locations\")", name), 2)
    end
    local who = fmt("model '%s' (%s)", name, resource)
    local decl = {}
    for k, v in pairs(spec) do decl[k] = v end
    for _, k in ipairs(SCHEMA_KEYS) do decl[k] = nil end
    local ok, cls = pcall(ms.model(name), decl)
    if not ok then error(cls, 2) end
    local aliases = spec.fields or {}
    for k in pairs(aliases) do
      local known = false
      for _, f in ipairs(cls.identifiers) do known = known or f == k end
      for _, f in ipairs(cls.attributes) do known = known or f == k end
      if not known then
        error(fmt("%s: fields.%s: not an identifier or attribute of the model", who, tostring(k)), 2)
      end
    end
    local function resolve_lookup(lookup, what)
      local ok2, l = pcall(self.lookup, self, resource, lookup, who)
      if not ok2 then error(what and fmt("%s (%s)", l, what) or l, 4) end
      return l
    end
    local fields = {}
    local function add(field)
      local a = aliases[field]
      local lookup, codec = field, nil
      if type(a) == "string" then
        lookup = a
      elseif type(a) == "table" then
        lookup, codec = a[1], a
        if type(lookup) ~= "string" then
          error(fmt("%s: fields.%s: expected { \"lookup\", read =, write = }", who, field), 3)
        end
      elseif a ~= nil then
        error(fmt("%s: fields.%s: expected a lookup string or a table", who, field), 3)
      end
      local l = resolve_lookup(lookup)
      l.name = field
      if codec then
        l.codec = codec
        l.also = {}
        for _, extra in ipairs(codec.also or {}) do
          l.also[extra] = resolve_lookup(extra, "fields." .. field .. ".also")
        end
      end
      local f = l.field
      if f.kind == "m2m" then
        local keys = (spec.m2m or {})[field] or default_key(self, f.target)
        if not keys then
          error(fmt("%s: field '%s' is a many-to-many list of %s: say which fields identify its "
                    .. "items (m2m = { %s = { ... } })", who, field, tostring(f.target), field), 3)
        end
        local kl = {}
        for i, k in ipairs(keys) do
          local ok3, kk = pcall(self.lookup, self, f.target, k, who .. ": m2m " .. field)
          if not ok3 then error(kk, 3) end
          kl[i] = { name = k, lookup = kk }
          l.depth = math.max(l.depth, kk.depth + 1)
        end
        l.keys = kl
      elseif f.kind == "list" then
        l.sorted = true
      end
      fields[field] = l
      fields[#fields + 1] = field
    end
    for _, f in ipairs(cls.identifiers) do add(f) end
    for _, f in ipairs(cls.attributes) do add(f) end
    local by_lookup = {}
    for _, f in ipairs(fields) do by_lookup[fields[f].lookup] = f end
    local keep = {}
    for i, lookup in ipairs(spec.keep or {}) do
      local l = resolve_lookup(lookup, "keep")
      if l.field.kind == "m2m" then
        local key = default_key(self, l.field.target)
        if not key then error(fmt("%s: keep.%s: its items have no name to keep", who, lookup), 2) end
        local kk = self:lookup(l.field.target, key[1], who)
        l.keys = { { name = key[1], lookup = kk } }
        l.depth = math.max(l.depth, kk.depth + 1)
      end
      keep[i] = l
    end
    for _, k in ipairs { "flag", "retire" } do
      if spec[k] ~= nil and type(spec[k]) ~= "function" then error(fmt("%s: %s must be a function", who, k), 2) end
    end
    local where = {}
    for lookup, want in pairs(spec.where or {}) do
      where[#where + 1] = { lookup = resolve_lookup(lookup, "where"), want = want }
    end
    cls.api = { schema = self, resource = resource, fields = fields, who = who, query = spec.query,
                by_lookup = by_lookup,
                where = where, write = spec.write, after_write = spec.after_write,
                keep = keep, flag = spec.flag, retire = spec.retire, parent = spec.parent }
    return cls
  end
end

-- {====== reading ======}

local null = ms.null

local function get(t, k)
  if type(t) ~= "table" then return nil end
  local v = t[k]
  if v == null then return nil end
  return v
end

-- A referenced record: the stub the API answered ({id, object_type,
-- url}), replaced by the record itself when its resource was read
-- (`tables`: resource -> id -> record).
local PARTIAL = "\0partial"
local function deref(tables, target, v)
  if not tables or type(v) ~= "table" then return v end
  local t = tables[target]
  if not t then return v end
  local id = v.id
  local r = id ~= nil and t[id]
  if r then return r end
  -- a resource read through a filter holds only some records
  if tables[PARTIAL] and tables[PARTIAL][target] then return v end
  error(fmt("%s %s is referenced but was not among the records read (did it change while loading?)",
            tostring(target), tostring(id)), 0)
end

-- A lookup's reader, function(api_record, tables) -> value (nil for
-- null): each step's record, followed from the tables when they hold it.
-- Made once per lookup.
local function compile(l)
  local n = #l.steps
  local names, targets = {}, {}
  for i, st in ipairs(l.steps) do
    names[i] = st.name
    targets[i] = i < n and st.field and st.field.kind == "ref" and st.field.target or false
  end
  local choice = l.field.choice_value
  l.get = function(api, tables)
    local v = api
    for i = 1, n do
      if type(v) ~= "table" then return nil end
      v = v[names[i]]
      if v == nil or v == null then return nil end
      local t = tables and targets[i] and tables[targets[i]]
      if t then
        local r = t[v.id]
        if r == nil then v = deref(tables, targets[i], v) else v = r end
      end
    end
    if choice and type(v) == "table" then v = v.value end
    if v == null then return nil end
    return v
  end
  return l.get
end

-- The value of a lookup in one API record.
local function read_lookup(l, api, tables)
  return (l.get or compile(l))(api, tables)
end

local function item_key(keys, item, tables)
  local parts = {}
  for i, k in ipairs(keys) do
    local v = read_lookup(k.lookup, item, tables)
    parts[i] = v == nil and "\0" or tostring(v)
  end
  return concat(parts, "\1")
end

-- A model field's value from an API record (m2m lists sorted by key).
local function read_field(l, api, tables)
  if l.keys then
    local list = get(api, l.steps[1].name)
    if type(list) ~= "table" then return ms.list {} end
    local items = {}
    for _, it in ipairs(list) do
      it = deref(tables, l.field.target, it)
      local o = {}
      for _, k in ipairs(l.keys) do
        local v = read_lookup(k.lookup, it, tables)
        o[k.name] = v == nil and null or v
      end
      items[#items + 1] = { key = item_key(l.keys, it, tables), value = o }
    end
    sort(items, function(a, b) return a.key < b.key end)
    local out = {}
    for i, it in ipairs(items) do out[i] = it.value end
    return ms.list(out)
  end
  local v = read_lookup(l, api, tables)
  if l.sorted and type(v) == "table" then
    local c = {}
    for i, x in ipairs(v) do c[i] = x end
    sort(c, function(a, b) return tostring(a) < tostring(b) end)
    return ms.list(c)
  end
  return v
end

-- A field's reader, function(api_record, tables) -> value: plain fields
-- read straight, the rest through read_field; a codec's read on top.
local plain_reader
local function reader(l)
  local base = plain_reader(l)
  local codec = l.codec
  if not (codec and codec.read) then return base end
  local read = codec.read
  return function(api, tables)
    local v = base(api, tables)
    local r = read(v, api, function(lookup)
      local al = l.also[lookup]
      if not al then error(fmt("fields.%s: %s is not among its `also` lookups", l.name, tostring(lookup)), 0) end
      return read_lookup(al, api, tables)
    end)
    if r == null then return nil end
    return r
  end
end

function plain_reader(l)
  if l.keys or l.sorted then
    return function(api, tables) return read_field(l, api, tables) end
  end
  if #l.steps > 1 then return l.get or compile(l) end
  local name = l.steps[1].name
  if l.field.choice_value then
    return function(api)
      local v = api[name]
      if type(v) == "table" then v = v.value end
      if v == null then return nil end
      return v
    end
  end
  return function(api) return api[name] end
end

-- {====== writing ======}

-- Sets value at the nested path parts[i..] of t.
local function put(t, parts, i, v)
  local k = parts[i]
  if i == #parts then t[k] = v; return end
  local sub = t[k]
  if type(sub) ~= "table" or sub == null then sub = {}; t[k] = sub end
  put(sub, parts, i + 1, v)
end

-- A reference written by attributes collapses to null when none of its
-- attributes has a value (a location without a parent: "parent": null).
local function collapse(t)
  if type(t) ~= "table" or t == null then return t end
  local any = false
  for k, v in pairs(t) do
    if type(v) == "table" and v ~= null and getmetatable(v) == nil then
      t[k] = collapse(v)
      v = t[k]
    end
    if v ~= null then any = true end
  end
  return any and t or null
end

-- A reference's attributes from the lookup parts after its field.
local function ref_object(pairs_list)
  local o = {}
  for _, pv in ipairs(pairs_list) do put(o, pv.parts, 1, pv.value == nil and null or pv.value) end
  return collapse(o)
end

-- An m2m item as the API takes it: {name = ...} or nested attributes.
local function m2m_item(keys, item)
  local pl = {}
  for _, k in ipairs(keys) do
    local parts = {}
    for _, st in ipairs(k.lookup.steps) do parts[#parts + 1] = st.name end
    pl[#pl + 1] = { parts = parts, value = item[k.name] }
  end
  return ref_object(pl)
end

-- The body of a write of `send` (field names) from the full values `f`.
-- Fields the API computes (read-only, no composite) are not sent. A
-- reference goes as a dict of its attributes, or as what
-- write_ref(field, {{parts =, value =}}) makes of them (an id).
function M.body(model, f, send, composites, write_ref)
  local api = model.api
  local groups, order = {}, {}
  local body = {}
  for _, field in ipairs(send) do
    local l = api.fields[field]
    local first = l.steps[1]
    local top = first.name
    local v = f[field]
    local codec = l.codec
    if codec and codec.write and v ~= nil then v = codec.write(v, f) end
    if codec and codec.send == false then
      -- written by the model's own hooks, if at all
    elseif l.field.readonly and not first.field.writeonly and #l.steps == 1 then
      -- computed by the server (or composed, below)
    elseif l.steps[1].field.readonly and l.steps[1].field.through then
      -- written through its own resource
    elseif l.field.custom then
      if body.custom_fields == nil then body.custom_fields = {} end
      body.custom_fields[l.steps[2].name] = v == nil and null or v
    elseif #l.steps == 1 then
      if l.keys then
        local out = {}
        for i, it in ipairs(v == null and {} or v or {}) do out[i] = m2m_item(l.keys, it) end
        body[top] = #out > 0 and ms.list(out) or http.EMPTY_LIST
      elseif l.field.kind == "list" and type(v) == "table" and v ~= null and #v == 0 then
        body[top] = http.EMPTY_LIST
      elseif (v == nil or v == null) and l.field.write and not l.field.write.nullable then
        -- the request does not take null: a blank choice is "", anything else is left out
        local blank = false
        for _, e in ipairs(l.field.write.enum or {}) do if e == "" then blank = true end end
        if blank then body[top] = "" end
      else
        body[top] = v == nil and null or v
      end
    else
      local g = groups[top]
      if not g then g = {}; groups[top] = g; order[#order + 1] = top end
      local parts = {}
      for i = 2, #l.steps do parts[#parts + 1] = l.steps[i].name end
      g[#g + 1] = { parts = parts, value = v }
    end
  end
  for _, top in ipairs(order) do
    body[top] = write_ref and write_ref(top, groups[top]) or ref_object(groups[top])
  end
  for target, parts in pairs(composites or {}) do
    local vals, complete, touched = {}, true, false
    for i, lookup in ipairs(parts.fields) do
      local p = api.by_lookup[lookup] or lookup
      vals[i] = f[p]
      if vals[i] == nil or vals[i] == null then complete = false end
      for _, s in ipairs(send) do if s == p then touched = true end end
    end
    if touched and complete then
      for i, v in ipairs(vals) do vals[i] = tostring(math.type(v) == "float" and math.tointeger(v) or v) end
      body[target] = concat(vals, parts.sep)
    end
  end
  return body
end

-- The server id of a reference written by id (NetBox, whose requests take
-- a brief object only whole): the id of the adapter's own record when the
-- reference names one (created earlier in this sync, perhaps), else of
-- the one record of the target resource whose fields match, read once.
function M.ref_id(adapter, model, ref, target, pl, f)
  local any = false
  for _, pv in ipairs(pl) do if pv.value ~= nil and pv.value ~= null then any = true end end
  if not any then return null end
  if ref and not ref.partial then
    local m = adapter.model[ref.model]
    local ids = {}
    for idfield, from in pairs(ref.ids) do ids[idfield] = f[from] end
    local ok, uid = pcall(function() return m(ids):get_unique_id() end)
    local sid = ok and adapter._sid[ref.model][uid]
    if sid ~= nil then return sid end
  end
  local schema = model.api.schema
  local res = schema:resource(target, model.api.who)
  local paths = {}
  for i, pv in ipairs(pl) do paths[i] = concat(pv.parts, ".") end
  local sig = target .. "\0" .. concat(paths, "\0")
  adapter._ref_index = adapter._ref_index or {}
  local index = adapter._ref_index[sig]
  if not index then
    index = {}
    local rows = adapter.client:get_all(res.path, { pagination = adapter.rest.pagination,
                                                    page_size = adapter.rest.page_size })
    for _, row in ipairs(rows) do
      local key = {}
      for i, pv in ipairs(pl) do
        local v = row
        for _, part in ipairs(pv.parts) do v = type(v) == "table" and v[part] or nil end
        key[i] = (v == nil or v == null) and "\0" or tostring(v)
      end
      local k = concat(key, "\1")
      index[k] = index[k] == nil and row.id or false
    end
    adapter._ref_index[sig] = index
  end
  local key, shown = {}, {}
  for i, pv in ipairs(pl) do
    key[i] = (pv.value == nil or pv.value == null) and "\0" or tostring(pv.value)
    shown[i] = fmt("%s %s", paths[i], tostring(pv.value))
  end
  local id = index[concat(key, "\1")]
  if id == nil then error(fmt("no %s with %s", target, concat(shown, ", ")), 0) end
  if id == false then error(fmt("more than one %s with %s", target, concat(shown, ", ")), 0) end
  return id
end

-- {====== the adapter: schema models as REST resources ======}

-- model -> function(api_record, tables) -> its fields
local reader_of = setmetatable({}, { __mode = "k" })

-- The reference groups of a model: field name of the reference (first
-- part) -> the model fields that read through it.
local function ref_groups(model)
  local g = {}
  for _, field in ipairs(model.api.fields) do
    local l = model.api.fields[field]
    if #l.steps > 1 and l.steps[1].field.kind == "ref" then
      local top = l.steps[1].name
      g[top] = g[top] or { target = l.steps[1].field.target, fields = {} }
      local rest = {}
      for i = 2, #l.steps do rest[#rest + 1] = l.steps[i].name end
      g[top].fields[concat(rest, "__")] = field
    end
  end
  return g
end

-- For a reference group pointing at a model of the adapter: how that
-- model's identifiers are read from this model's fields, or nil; with
-- `partial`, the ones it has (and whether that is all).
local function ids_through(group, target_model, partial)
  local ids, all, any = {}, true, false
  for _, id in ipairs(target_model.identifiers) do
    local tl = target_model.api and target_model.api.fields[id]
    local from = group.fields[tl and tl.lookup or id]
    if from then ids[id], any = from, true else all = false end
  end
  if all then return ids, true end
  if partial and any then return ids, false end
  return nil
end

--- The REST resources of schema-aware models (see rest.adapter):
-- read paths, depth, the parent of each child model, the references the
-- writer orders writes by, and the write bodies. `preset` says what the
-- API needs: `query(depth)` for a list request's parameters, and
-- `composites` per resource.
function M.resources(adapter_name, models, preset)
  local by_resource, resources = {}, {}
  for _, m in ipairs(models) do
    if m.api then
      by_resource[m.api.resource] = by_resource[m.api.resource] or {}
      local list = by_resource[m.api.resource]
      list[#list + 1] = m
    end
  end
  local parent_of = {}
  for _, m in ipairs(models) do
    for _, ch in ipairs(m.children or {}) do parent_of[ch[1]] = m end
  end
  local mods = {}
  for _, m in ipairs(models) do mods[m.name] = m end
  -- a resource is read once: the models on it must narrow it alike
  local narrowed = {}
  for _, m in ipairs(models) do
    local q = m.api and m.api.query
    if q then
      local other = narrowed[m.api.resource]
      local oq = other and other.api.query
      for _, pair in ipairs(oq and { { oq, q }, { q, oq } } or {}) do
        for k, v in pairs(pair[1]) do
          if pair[2][k] ~= v then
            error(fmt("adapter '%s': models '%s' and '%s' read %s with different queries (%s)", adapter_name,
                      other.name, m.name, m.api.resource, k), 0)
          end
        end
      end
      narrowed[m.api.resource] = m
    end
  end
  for _, m in ipairs(models) do
    if m.api then
      local api = m.api
      local res = api.schema:resource(api.resource, api.who)
      local depth = 0
      for _, field in ipairs(api.fields) do depth = math.max(depth, api.fields[field].depth) end
      local groups = ref_groups(m)
      local refs = {}
      for top, g in pairs(groups) do
        for _, tm in ipairs(by_resource[g.target] or {}) do
          local ids, all = ids_through(g, tm, true)
          if ids then refs[top] = { model = tm.name, ids = ids, partial = not all or nil } end
        end
      end
      local parent
      local pm = parent_of[m.name]
      if pm then
        if not pm.api then
          error(fmt("adapter '%s': model '%s' is a child of '%s', which is not a schema model",
                    adapter_name, m.name, pm.name), 0)
        end
        for _, g in pairs(groups) do
          if g.target == pm.api.resource then
            local ids = ids_through(g, pm)
            if ids then parent = { model = pm.name, ids = ids } end
          end
        end
        if not parent and api.parent then parent = { model = pm.name, ids = api.parent } end
        if not parent then
          local want = {}
          for _, id in ipairs(pm.identifiers) do want[#want + 1] = "<ref>__" .. id end
          error(fmt("adapter '%s': model '%s' is a child of '%s' but has no fields that name its "
                    .. "parent (a reference to %s with %s)", adapter_name, m.name, pm.name,
                    pm.api.resource, concat(want, ", ")), 0)
        end
      end
      -- m2m items that are records of the adapter's models (a prefix's locations)
      local m2m_refs = {}
      for _, field in ipairs(api.fields) do
        local l = api.fields[field]
        if l.keys then
          for _, tm in ipairs(by_resource[l.field.target] or {}) do
            local ok = true
            local function key_of(id) return tm.api.fields[id].lookup end
            for _, id in ipairs(tm.identifiers) do
              local found = false
              for _, k in ipairs(l.keys) do if k.name == key_of(id) then found = true end end
              ok = ok and found
            end
            if ok then
              local ids = {}
              for _, id in ipairs(tm.identifiers) do ids[id] = key_of(id) end
              m2m_refs[#m2m_refs + 1] = { field = field, model = tm.name, ids = ids }
            end
          end
        end
      end
      local composites = preset.composites and preset.composites[api.resource]
      local through = {}
      for _, field in ipairs(api.fields) do
        local l = api.fields[field]
        if l.keys and l.field.through then through[#through + 1] = field end
      end
      local readers = {}
      for i, field in ipairs(api.fields) do readers[i] = { field, reader(api.fields[field]) } end
      -- the model's fields of one API record (references through `tables`)
      local function read(apirec, tables)
        local out = {}
        for i = 1, #readers do
          local r = readers[i]
          local v = r[2](apirec, tables)
          if v == nil then v = null end
          out[r[1]] = v
        end
        return out
      end
      reader_of[m] = read
      local query = preset.query and preset.query(preset.join and 0 or depth, res) or nil
      for k, v in pairs(api.query or {}) do
        query = query or {}
        query[k] = v
      end
      local keep = #api.where > 0 and function(apirec, tables)
        for _, w in ipairs(api.where) do
          local v = read_lookup(w.lookup, apirec, tables)
          local want = w.want
          if type(want) == "function" then
            if not want(v) then return false end
          elseif v ~= want then
            return false
          end
        end
        return true
      end
      local fetch
      if preset.join then
        fetch = function(adapter)
          local pf = M.prefetch(adapter, preset)
          local list = pf[api.resource].list
          if not keep then return list end
          local out = {}
          for _, rec in ipairs(list) do if keep(rec, pf.byid) then out[#out + 1] = rec end end
          return out
        end
      end
      local through_write = #through > 0 and M.through_writer(m, through) or nil
      local own_after = api.after_write
      local after_write = through_write
      if own_after then
        after_write = function(adapter, done)
          local failed = through_write and through_write(adapter, done) or {}
          for k, msg in pairs(own_after(adapter, done) or {}) do failed[k] = failed[k] or msg end
          return failed
        end
      end
      -- what a record keeps beside its fields, and its own flags
      local annotate
      if #api.keep > 0 or api.flag then
        annotate = function(apirec, adapter, f)
          local tables = preset.join and adapter and M.prefetch(adapter, preset).byid or nil
          local kept = {}
          for _, l in ipairs(api.keep) do
            local v = read_field(l, apirec, tables)
            if l.keys and type(v) == "table" then
              local names = {}
              for i, it in ipairs(v) do names[i] = it[l.keys[1].name] end
              v = names
            end
            kept[l.lookup] = v
          end
          return api.flag and api.flag(kept, f) or nil, kept
        end
      end
      local function kept_of(adapter, op)
        local k = adapter and adapter._kept and adapter._kept[m.name]
        return k and op and op.uid and k[op.uid] or {}
      end
      resources[m.name] = {
        path = res.path, detail = res.detail,
        annotate = annotate,
        retire = api.retire and function(f, adapter, op) return api.retire(f, op, kept_of(adapter, op)) end,
        query = query,
        parent = parent, refs = refs, fields = nil,
        fetch = fetch,
        from_api = function(apirec, adapter)
          if not (preset.join and adapter) then return read(apirec) end
          local pf = M.prefetch(adapter, preset)
          -- read already, while the pages were arriving
          local done = pf.computed[m.name]
          local hit = done and done[apirec]
          if hit then
            done[apirec] = nil
            return hit
          end
          return read(apirec, pf.byid)
        end,
        to_api = function(f, adapter, op)
          local send = {}
          if op and op.action == "update" then
            -- a reference goes whole: every field read through it
            local touched = {}
            for k in pairs(op.attrs) do
              local l = api.fields[k]
              if l then touched[l.steps[1].name] = true end
            end
            for _, field in ipairs(api.fields) do
              if touched[api.fields[field].steps[1].name] then send[#send + 1] = field end
            end
          else
            for _, field in ipairs(api.fields) do send[#send + 1] = field end
          end
          local body = M.body(m, f, send, composites,
                        preset.refs == "id" and adapter and function(top, pl)
                          return M.ref_id(adapter, m, refs[top], groups[top].target, pl, f)
                        end or nil)
          if api.write then api.write(body, f, op or { action = "create" }, kept_of(adapter, op)) end
          return body
        end,
        m2m_refs = m2m_refs,
        after_write = after_write,
      }
    end
  end
  return resources
end

-- The resources a model's lookups read, each with the fields read of it
-- (resource -> {field = true}): its own and every one a lookup or a
-- many-to-many key crosses into.
local REF = { id = true }   -- a reference followed in memory: its id is all that is read

local function needed(model, into)
  local function field(res, name, shape)
    into[res] = into[res] or { id = true }
    local t = into[res]
    if t[name] ~= true then t[name] = shape end
  end
  into[model.api.resource] = into[model.api.resource] or { id = true }
  local function walk(l)
    local n = #l.steps
    for i, st in ipairs(l.steps) do
      if st.resource then
        local f = st.field
        -- a reference followed further, or a list of them: ids only
        local through = f and ((f.kind == "ref" and i < n) or (f.kind == "m2m" and l.keys))
        field(st.resource.name, st.name, through and REF or true)
      end
    end
  end
  for _, f in ipairs(model.api.fields) do
    local l = model.api.fields[f]
    walk(l)
    if l.keys then
      for _, k in ipairs(l.keys) do walk(k.lookup) end
    end
    for _, al in pairs(l.also or {}) do walk(al) end
  end
  for _, w in ipairs(model.api.where) do walk(w.lookup) end
  for _, l in ipairs(model.api.keep) do
    walk(l)
    for _, k in ipairs(l.keys or {}) do walk(k.lookup) end
  end
end

--- Reads, once per load of `adapter`, every resource its schema models
-- need, without nesting (depth 0): the first page of each at once, then
-- all the remaining pages at once, `preset.query(0)` on each request.
-- References are then followed in memory, record by record, instead of
-- asking the API to nest them (?depth=N repeats a location in every
-- device that is there). Returns {[resource] = {list =, byid =}}.
function M.prefetch(adapter, preset)
  local gen = adapter._load_gen
  local cache = adapter._prefetch
  if cache and cache.gen == gen then return cache.data end
  local want = {}
  for _, m in ipairs(adapter.models) do if m.api then needed(m, want) end end
  local schema
  for _, m in ipairs(adapter.models) do schema = schema or (m.api and m.api.schema) end
  local names, shapes = {}, {}
  for name, fields in pairs(want) do
    names[#names + 1] = name
    shapes[name] = { count = true, results = fields }
  end
  sort(names)
  -- what a model's `query` narrows its resource to (for every model
  -- reading it; M.resources refused two that differ)
  local narrow = {}
  for _, m in ipairs(adapter.models) do
    if m.api and m.api.query then narrow[m.api.resource] = m.api.query end
  end
  local size = adapter.rest.page_size or 100
  local function query(name, offset)
    local q = preset.query and preset.query(0) or {}
    for k, v in pairs(narrow[name] or {}) do q[k] = v end
    q.limit, q.offset = tostring(size), tostring(offset)
    return q
  end
  local client = adapter.client
  local firsts = {}
  for i, name in ipairs(names) do
    firsts[i] = { path = schema:resource(name).path, query = query(name, 0) }
  end
  local out, byid, rest, owners = {}, { [PARTIAL] = narrow }, {}, {}
  for i, r in ipairs(client:get_many(firsts)) do
    local name = names[i]
    local body = r:json(shapes[name])
    if type(body) ~= "table" or type(body.results) ~= "table" or tonumber(body.count) == nil then
      error(ms.error("HTTPError", fmt("GET %s: expected a page of records (count, results)", r.url)), 0)
    end
    out[name] = { list = {}, count = math.tointeger(tonumber(body.count)) }
    for _, rec in ipairs(body.results) do out[name].list[#out[name].list + 1] = rec end
    -- a server that caps the page size (Nautobot's MAX_PAGE_SIZE) answers
    -- fewer: the rest are asked for in pages of what it gave
    local step = #body.results
    if step == 0 and out[name].count > 0 then
      error(ms.error("HTTPError", fmt("GET %s: an empty first page of %d records", r.url, out[name].count)), 0)
    end
    for off = step, out[name].count - 1, math.max(step, 1) do
      local q = query(name, off)
      q.limit = tostring(step)
      rest[#rest + 1] = { path = firsts[i].path, query = q }
      owners[#rest] = name
    end
  end
  local function index(name, t)
    local ids = {}
    for _, rec in ipairs(t.list) do if rec.id ~= nil then ids[rec.id] = rec end end
    byid[name] = ids
  end
  -- what the first pages completed is indexed now
  for name, t in pairs(out) do
    if #t.list >= t.count then index(name, t) end
  end
  -- the models whose references all lead to complete resources are read
  -- page by page, as the pages arrive
  local readers, computed = {}, {}
  for _, m in ipairs(adapter.models) do
    local read = m.api and adapter.rest.resources[m.name] and reader_of[m]
    if read then
      local deps, ready = {}, true
      needed(m, deps)
      for dep in pairs(deps) do
        if dep ~= m.api.resource and not byid[dep] then ready = false end
      end
      if ready and deps[m.api.resource] and not byid[m.api.resource] then
        -- its own resource is still coming: fine unless it refers to itself
        for _, f in ipairs(m.api.fields) do
          for i = 2, #m.api.fields[f].steps do
            local st = m.api.fields[f].steps[i]
            if st.resource and st.resource.name == m.api.resource then ready = false end
          end
        end
      end
      if ready then
        local list = readers[m.api.resource] or {}
        readers[m.api.resource] = list
        list[#list + 1] = { name = m.name, read = read }
        computed[m.name] = setmetatable({}, { __mode = "k" })
      end
    end
  end
  -- the pages are decoded as they arrive, while the others are on the way
  local pages = {}
  if #rest > 0 then
    client:get_many(rest, { each = function(i, r)
      local body = r:json(shapes[owners[i]])
      pages[i] = body
      local rs = readers[owners[i]]
      if rs and type(body) == "table" and type(body.results) == "table" then
        for _, rd in ipairs(rs) do
          local c = computed[rd.name]
          for _, rec in ipairs(body.results) do c[rec] = rd.read(rec, byid) end
        end
      end
    end })
  end
  for i = 1, #rest do
    local list = out[owners[i]].list
    local body = pages[i]
    for _, rec in ipairs(type(body) == "table" and type(body.results) == "table" and body.results or {}) do
      list[#list + 1] = rec
    end
  end
  for name, t in pairs(out) do
    if #t.list ~= t.count then
      error(ms.error("HTTPError", fmt("GET %s: expected %d records, got %d (the data changed while paging?)",
        schema:resource(name).path, t.count, #t.list)), 0)
    end
    if not byid[name] then index(name, t) end
  end
  local data = setmetatable({ byid = byid, computed = computed }, { __index = out })
  adapter._prefetch = { gen = gen, data = data }
  return data
end

-- A list field written through its own resource (x-nautobot-through:
-- {resource, self, other}): after the record's write, its assignments are
-- made to match the list: created for new items, deleted for gone ones.
function M.through_writer(model, fields)
  local api = model.api
  return function(adapter, done)
    local failed = {}
    -- the assignments to make and to drop, of every record at once, by resource
    local writes, order = {}, {}
    local function queue(tres, field, method, k, body)
      local key = method .. " " .. tres.path .. " " .. field
      local w = writes[key]
      if not w then
        w = { method = method, path = tres.path, items = {},
              what = fmt("writing its %s through %s", field, tres.name) }
        writes[key] = w
        order[#order + 1] = key
      end
      w.items[#w.items + 1] = { k = k, body = body }
    end
    for k, d in ipairs(done) do
      for _, field in ipairs(fields) do
        local l = api.fields[field]
        local th = l.field.through
        local tres = api.schema:resource(th.resource, api.who)
        local op = d.op
        if d.sid ~= nil and not d.retired and (op.action == "create" or op.attrs[field] ~= nil) then
          local want = {}
          local rec = adapter:get_or_none(op.model, op.uid)
          local list = op.attrs[field]
          if list == nil then list = (op.keys or {})[field] end
          if list == nil and rec then list = rec:get_attrs()[field] or rec:get_identifiers()[field] end
          -- a field made from the list (a VLAN's first location) writes it back as one
          if l.codec and l.codec.write and list ~= nil and list ~= null then list = l.codec.write(list, {}) end
          for _, it in ipairs(type(list) == "table" and list or {}) do
            local pl = {}
            for _, key in ipairs(l.keys) do pl[#pl + 1] = { lookup = key.lookup, v = it[key.name] } end
            local parts = {}
            for i, p in ipairs(pl) do parts[i] = (p.v == nil or p.v == null) and "\0" or tostring(p.v) end
            want[concat(parts, "\1")] = it
          end
          local have = {}
          if op.action == "update" then
            local depth = 1
            for _, key in ipairs(l.keys) do depth = math.max(depth, key.lookup.depth + 1) end
            local ok, rows = pcall(adapter.client.get_all, adapter.client, tres.path,
              { query = { [th.self] = tostring(d.sid), depth = tostring(depth) },
                pagination = adapter.rest.pagination, page_size = adapter.rest.page_size })
            if not ok then
              failed[k] = fmt("%s %s: reading its %s: %s", op.model, op.uid, field, tostring(rows))
              goto next_field
            end
            for _, row in ipairs(rows) do
              local other = row[th.other]
              have[item_key(l.keys, other)] = row.id
            end
          end
          for key, it in pairs(want) do
            if have[key] == nil then
              queue(tres, field, "POST", k, { [th.self] = { id = d.sid }, [th.other] = m2m_item(l.keys, it) })
            end
          end
          for key, id in pairs(have) do
            if want[key] == nil then queue(tres, field, "DELETE", k, { id = id }) end
          end
        end
        ::next_field::
      end
    end
    local bulk = require("moonsync.adapters.rest").bulk
    for _, key in ipairs(order) do
      local w = writes[key]
      for k, msg in pairs(select(2, bulk(adapter, w.method, w.path, w.items, w.what))) do
        failed[k] = failed[k] or fmt("%s %s: %s", done[k].op.model, done[k].op.uid, msg)
      end
    end
    return failed
  end
end

-- {====== generating models from a schema ======}

-- Fields every record has that are the server's, not data.
local SYSTEM = { id = true, url = true, display = true, object_type = true, natural_slug = true,
                 created = true, last_updated = true, notes_url = true, custom_fields = true,
                 relationships = true, tree_depth = true, computed_fields = true,
                 config_context = true }
local KEYS = { "name", "model", "slug", "host", "address", "prefix" }

-- The field a record of a resource is best known by.
local function natural(res)
  for _, k in ipairs(KEYS) do
    if res.fields[k] and res.fields[k].kind ~= "ref" then return k end
  end
  return nil
end

--- A model name for a resource: "dcim.ip-addresses" is "ip_address".
function M.model_name(resource)
  local n = resource:match("([^.]+)$"):gsub("-", "_")
  if n:match("ies$") then return (n:gsub("ies$", "y")) end
  if n:match("[sxz]es$") or n:match("[cs]hes$") or n:match("uses$") then return (n:gsub("es$", "")) end
  return (n:gsub("s$", ""))
end

-- Identifiers and attributes guessed for a resource: its natural key (the
-- name, scoped by its parent or the required reference it lives in), and
-- every writable field the schema can say how to compare; the fields
-- left out, with why.
local function guess(self, res)
  local ids, attrs, left = {}, {}, {}
  local composite = self.opts.preset == "nautobot" and ({
    ["ipam.prefixes"] = { "network", "prefix_length", "namespace__name" },
    ["ipam.ip-addresses"] = { "host", "mask_length", "parent__namespace__name" } })[res.name]
  if composite then
    for _, f in ipairs(composite) do ids[#ids + 1] = f end
  else
    local key = natural(res)
    if key then ids[1] = key end
    for _, scope in ipairs { "parent", "device", "virtual_machine", "location", "site", "manufacturer" } do
      local f = res.fields[scope]
      local target = f and f.kind == "ref" and f.target and self.resources[f.target]
      if target and (f.required or scope == "parent") and natural(target) then
        ids[#ids + 1] = scope .. "__" .. natural(target)
        break
      end
    end
  end
  local taken = {}
  for _, f in ipairs(ids) do taken[f:match("^[^_]+") or f] = true; taken[f] = true end
  local names = {}
  for n in pairs(res.fields) do names[#names + 1] = n end
  sort(names)
  for _, n in ipairs(names) do
    local f = res.fields[n]
    if SYSTEM[n] or taken[n] or f.writeonly then
      -- the server's, or an identifier
    elseif f.readonly and not f.through then
      -- computed by the server
    elseif f.kind == "object" then
      left[#left + 1] = n .. " (an object: compare it by its fields, e.g. custom_fields__NAME)"
    elseif f.kind == "ref" or f.kind == "m2m" then
      local target = f.target and self.resources[f.target]
      local key = target and natural(target)
      if not target then
        left[#left + 1] = fmt("%s (%s is not in the schema)", n, f.target or "its resource")
      elseif not key then
        left[#left + 1] = fmt("%s (%s has no name to know its records by)", n, f.target)
      elseif f.kind == "ref" then
        if not taken[n .. "__" .. key] then attrs[#attrs + 1] = n .. "__" .. key end
      elseif key == "name" then
        attrs[#attrs + 1] = n
      else
        left[#left + 1] = fmt("%s (declare its items' keys with m2m = { %s = { \"%s\" } })", n, n, key)
      end
    else
      attrs[#attrs + 1] = n
    end
  end
  return ids, attrs, left
end

local function lua_list(t)
  local parts = {}
  for i, v in ipairs(t) do parts[i] = fmt("%q", v) end
  return "{ " .. concat(parts, ", ") .. " }"
end

--- The resources of the document, for listing: {name, path, fields}.
function Schema:list()
  local out = {}
  for name, res in pairs(self.resources) do
    local n = 0
    for _ in pairs(res.fields) do n = n + 1 end
    out[#out + 1] = { name = name, path = res.path, fields = n, writable = res.methods.post }
  end
  sort(out, function(a, b) return a.name < b.name end)
  return out
end

--- A Lua module of models for the named resources, ready to run: for the
-- bundled Nautobot schema (`source.bundled`), or a document read from
-- `source.file` at run time; `source.adapter` is the module that makes
-- the adapter ("nautobot", "netbox" or "openapi").
function Schema:generate(names, source)
  local out = {}
  local function w(...) out[#out + 1] = fmt(...) end
  local kind = source.adapter
  w("-- Models for %s, generated by `moonsync schema %s %s`", concat(names, ", "),
    source.bundled and "nautobot" or source.file, concat(names, " "))
  w("-- from %s%s.", (self.doc.info and self.doc.info.title) or "an OpenAPI document",
    self.version and (" " .. self.version) or "")
  w("-- Edit freely: the identifiers are guesses at each natural key.")
  w("local %s = require \"moonsync.adapters.%s\"", kind, kind)
  if source.bundled then
    w("local api = %s.schema()", kind)
  else
    w("-- the schema is read when this module loads: keep it in the job's directory, which a")
    w("-- job may read from the start")
    w("local api = %s.schema(assert(io.open(%q)):read(\"a\"))", kind, source.file)
  end
  w("")
  w("local M = {}")
  local mnames = {}
  for _, name in ipairs(names) do
    local res = self:resource(name, "moonsync schema")
    local ids, attrs, left = guess(self, res)
    if #ids == 0 then
      error(fmt("moonsync schema: %s has no field to identify its records by (name, model, ...)", name), 0)
    end
    local mname = M.model_name(name)
    mnames[#mnames + 1] = mname
    w("")
    w("M.%s = api:model %q {", mname, mname)
    w("  resource = %q,", name)
    w("  identifiers = %s,", lua_list(ids))
    local lines, line = {}, "  attributes = {"
    for i, a in ipairs(attrs) do
      local item = fmt(" %q%s", a, i < #attrs and "," or "")
      if #line + #item > 96 then lines[#lines + 1] = line; line = "   " end
      line = line .. item
    end
    lines[#lines + 1] = line .. " },"
    for _, l in ipairs(lines) do w("%s", l) end
    for _, l in ipairs(left) do w("  -- not generated: %s", l) end
    w("}")
  end
  w("")
  local refs = {}
  for i, m in ipairs(mnames) do refs[i] = "M." .. m end
  w("M.models = { %s }", concat(refs, ", "))
  w("M.top_level = %s", lua_list(mnames))
  w("")
  w("--- An adapter class over these models.")
  w("function M.adapter(name)")
  w("  return %s.adapter(name) { models = M.models, top_level = M.top_level }", kind)
  w("end")
  w("")
  w("return M")
  return concat(out, "\n") .. "\n"
end

--- A REST adapter class over schema models, for an API that is neither
-- Nautobot nor NetBox: rest.adapter's declaration (pagination, page_size,
-- bulk, ...) with `models` declared on the schema and no `resources`.
function M.adapter(name)
  return function(spec)
    local decl = {}
    for k, v in pairs(spec) do decl[k] = v end
    decl.resources = M.resources(name, spec.models, {})
    return require("moonsync.adapters.rest").adapter(name)(decl)
  end
end

M.read_field = read_field
return M
