--- moonsync: the Lua API over the C engine.
-- Models describe records, adapters hold them (in the C store) and diff
-- against each other with DiffSync's semantics.
-- @module moonsync
local core = require "moonsync.core"

local error, ipairs, pairs, next, select = error, ipairs, pairs, next, select
local setmetatable, type, tostring = setmetatable, type, tostring
local rawget, concat, sort, fmt = rawget, table.concat, table.sort, string.format
-- the real metatable, whatever __metatable says: moonsync's own classes
-- are protected, so job files can neither read nor replace them
local getmetatable = debug.getmetatable

local M = { _VERSION = core.version, core = core, null = core.null,
            list = core.list, map = core.map }

--- Global flags (DiffSyncFlags).
M.flags = {
  NONE = 0, CONTINUE_ON_FAILURE = 1, SKIP_UNMATCHED_SRC = 2,
  SKIP_UNMATCHED_DST = 4, SKIP_UNMATCHED_BOTH = 6, LOG_UNCHANGED_RECORDS = 8,
}
--- Model flags (DiffSyncModelFlags).
M.model_flags = {
  NONE = 0, IGNORE = 1, SKIP_CHILDREN_ON_DELETE = 2, SKIP_UNMATCHED_SRC = 4,
  SKIP_UNMATCHED_DST = 8, SKIP_UNMATCHED_BOTH = 12, NATURAL_DELETION_ORDER = 16,
}

--- Builds a moonsync error value {type=, message=} (raise it with error()).
-- @tparam string etype e.g. "ObjectNotFound"
-- @tparam string message
function M.error(etype, message, fields)
  local e = core.error(etype, message)
  for k, v in pairs(fields or {}) do e[k] = v end
  return e
end

--- Is v a moonsync error value (optionally of type etype)?
function M.is_error(v, etype)
  return core.is_error(v) and (etype == nil or rawget(v, "type") == etype)
end

local function argerror(n, fname, expected, got)
  error(fmt("bad argument #%d to '%s' (%s expected, got %s)", n, fname,
            expected, type(got)), 3)
end

-- Checks a declaration table against the keys it may have: a typo is an
-- error naming the key, not a silently ignored option.
local function checkkeys(t, allowed, what)
  for k in pairs(t) do
    if not allowed[k] then
      local names = {}
      for name in pairs(allowed) do names[#names + 1] = name end
      sort(names)
      error(fmt("%s: unknown key '%s' (known keys: %s)", what, tostring(k),
                concat(names, ", ")), 4)
    end
  end
end

local function flagvalue(flags, model, what)
  if flags == nil then return 0 end
  if type(flags) == "number" then return flags end
  if type(flags) == "string" then flags = { flags } end
  if type(flags) ~= "table" then
    error(fmt("%s: flags must be a list of names or a number", what), 3)
  end
  local ok, v = pcall(core.flags, flags, model)
  if not ok then error(fmt("%s: %s", what, tostring(v)), 3) end
  return v
end

--- Flag names to their integer value (global flags; model flags with
-- model = true).
function M.flag_value(flags, model)
  return flagvalue(flags, model, "flags")
end

-- {====== models ======}

local Model = { __metatable = "moonsync.Model" }
Model.__index = Model

--- Creates a detached record of this model (add it to an adapter).
function Model.__call(cls, fields, flags)
  if type(fields) ~= "table" then argerror(1, cls.name, "table", fields) end
  return core.record(cls._c, fields, flags ~= nil and flagvalue(flags, true, cls.name) or nil)
end

function Model.__tostring(cls) return "model " .. cls.name end

local function childlist(name, children)
  if children == nil then return {} end
  if type(children) ~= "table" then
    error(fmt("model '%s': children must be a table", name), 4)
  end
  local out = {}
  if #children == 0 then
    local k = next(children)
    if k ~= nil and next(children, k) ~= nil then
      error(fmt("model '%s': children of more than one type need an order:"
                .. " children = { {device = 'devices'}, {vlan = 'vlans'} }", name), 4)
    end
    if k ~= nil then out[1] = { k, children[k] } end
    return out
  end
  for i, c in ipairs(children) do
    if type(c) ~= "table" then
      error(fmt("model '%s': children[%d] must be {model = field}", name, i), 4)
    end
    if c[1] ~= nil then
      out[i] = { c[1], c[2] }
    else
      local k = next(c)
      if k == nil or next(c, k) ~= nil then
        error(fmt("model '%s': children[%d] must have one entry {model = field}", name, i), 4)
      end
      out[i] = { k, c[k] }
    end
  end
  return out
end

-- A model class around a core model.
local function wrap(c, spec)
  local info = c:info()
  return setmetatable({ name = info.name, _c = c,
    identifiers = info.identifiers, attributes = info.attributes,
    extra_fields = info.extra_fields, shortname = info.shortname,
    children = info.children, flags = info.flags,
    create = spec.create, update = spec.update, delete = spec.delete }, Model)
end

local model_keys = {
  identifiers = true, attributes = true, extra_fields = true, shortname = true,
  children = true, flags = true, create = true, update = true, delete = true,
}

--- Declares a model: `ms.model "site" { identifiers = {...}, ... }`.
-- @tparam string name the model (type) name
-- @treturn function taking the declaration table and returning the model
function M.model(name)
  if type(name) ~= "string" then argerror(1, "model", "string", name) end
  return function(spec)
    if type(spec) ~= "table" then argerror(1, "model " .. name, "table", spec) end
    checkkeys(spec, model_keys, "model '" .. name .. "'")
    local c = core.model {
      name = name,
      identifiers = spec.identifiers,
      attributes = spec.attributes,
      extra_fields = spec.extra_fields,
      shortname = spec.shortname,
      children = childlist(name, spec.children),
      flags = flagvalue(spec.flags, true, "model '" .. name .. "'"),
    }
    return wrap(c, spec)
  end
end

--- Is v a model class?
function M.is_model(v) return getmetatable(v) == Model end

local function modelname(m, fname)
  if type(m) == "string" then return m end
  if getmetatable(m) == Model then return m.name end
  if type(m) == "userdata" and m.get_type then return m:get_type() end
  argerror(1, fname, "model name or model", m)
end

-- {====== adapters ======}

local Adapter = {}   -- methods of every adapter instance

local adapter_keys = {
  models = true, top_level = true, type = true, load = true, create = true,
  update = true, delete = true, validate = true, sync_complete = true,
  methods = true,
}

--- Declares an adapter class: `ms.adapter "nautobot" { models = {...}, ... }`.
-- @treturn function taking the declaration and returning the class; make
-- instances with `Class:new(options)`.
function M.adapter(name)
  if type(name) ~= "string" then argerror(1, "adapter", "string", name) end
  return function(spec)
    if type(spec) ~= "table" then argerror(1, "adapter " .. name, "table", spec) end
    checkkeys(spec, adapter_keys, "adapter '" .. name .. "'")
    local models, byname = {}, {}
    for i, m in ipairs(spec.models or {}) do
      if getmetatable(m) ~= Model then
        error(fmt("adapter '%s': models[%d] is not a model (use ms.model)", name, i), 2)
      end
      if byname[m.name] then
        error(fmt("adapter '%s': model '%s' is listed twice", name, m.name), 2)
      end
      models[#models + 1], byname[m.name] = m, m
    end
    if #models == 0 then error(fmt("adapter '%s': needs at least one model", name), 2) end
    local top = spec.top_level
    if top == nil then
      -- default: the models that are nobody's child, in declaration order
      local child = {}
      for _, m in ipairs(models) do
        for _, c in ipairs(m.children) do child[c[1]] = true end
      end
      top = {}
      for _, m in ipairs(models) do
        if not child[m.name] then top[#top + 1] = m.name end
      end
    end
    for i, t in ipairs(top) do
      local tn = modelname(t, "adapter")
      if not byname[tn] then
        error(fmt("adapter '%s': top_level[%d] '%s' is not one of its models", name, i, tn), 2)
      end
      top[i] = tn
    end
    local cls = { name = name, type = spec.type or name, models = models,
                  model = byname, top_level = top, spec = spec,
                  __len = Adapter.__len, __tostring = Adapter.__tostring }
    cls.__index = function(self, k)
      local v = rawget(cls, k)
      if v ~= nil then return v end
      v = spec.methods and spec.methods[k]
      if v ~= nil then return v end
      return Adapter[k]
    end
    return setmetatable(cls, { __index = Adapter, __metatable = "moonsync.AdapterClass",
                               __tostring = function() return "adapter " .. name end })
  end
end

--- Creates an adapter instance with an empty store.
-- @tparam[opt] table options `name` (as DiffSync: defaults to the
-- adapter's type, itself defaulting to the class name) and any
-- adapter-specific settings, kept as `self.options`
function Adapter.new(cls, options)
  if type(cls) ~= "table" or not cls.models then
    error("call new on an adapter class: Class:new(options)", 2)
  end
  options = options or {}
  local name = options.name
  if name == nil or name == "" then name = cls.type end
  if type(name) ~= "string" then
    error(fmt("adapter '%s': name must be a string, not %s", cls.name, type(name)), 2)
  end
  local store = core.store(name, cls.type)
  for _, m in ipairs(cls.models) do store:add_model(m._c) end
  store:set_top_level(cls.top_level)
  return setmetatable({ _store = store, options = options, name = name }, cls)
end

--- The adapter's name and type.
function Adapter:__tostring()
  local name, atype = self._store:name()
  if name == atype then return atype end
  return fmt('%s "%s"', atype, name)
end

--- Calls the adapter's `load` function (if it has one) to fill the store.
function Adapter:load(...)
  local f = self.spec.load
  if f then f(self, ...) end
  return self
end

--- Adds a record (made with a model, e.g. `Site { name = "ams" }`).
-- Raises ObjectAlreadyExists when another record holds its unique id.
function Adapter:add(record)
  return self._store:add(record)
end

--- Creates and adds a record in one step (faster than model() + add()).
function Adapter:new_record(model, fields, flags)
  return self._store:new(modelname(model, "new_record"), fields,
                         flags ~= nil and flagvalue(flags, true, "new_record") or nil)
end

--- Looks up a record by uid string or identifier table; raises ObjectNotFound.
function Adapter:get(model, id)
  return self._store:get(modelname(model, "get"), id)
end

--- As get, but returns nil when absent.
function Adapter:get_or_none(model, id)
  return self._store:get_or_none(modelname(model, "get_or_none"), id)
end

--- All records of a model, in insertion order.
function Adapter:get_all(model)
  return self._store:get_all(modelname(model, "get_all"))
end

--- Notes something about the data being loaded that a user should know
-- (a record left out, a duplicate, an answer the API refused): the run
-- prints it, and the summary, the report and the history count it.
-- `opts.skipped` says a source record was left out because of it.
local function note(self, level, message, skipped)
  local w = rawget(self, "_notes") or {}
  self._notes = w
  w[#w + 1] = { level = level, message = tostring(message), skipped = skipped }
end

function Adapter:warn(message, opts)
  note(self, "warning", message, opts and opts.skipped and true or false)
end

--- Notes a debug message (a job run prints it).
function Adapter:log(message)
  note(self, "debug", message, false)
end

--- What warn and log noted, in order: {level =, message =, skipped =}.
function Adapter:notes()
  return rawget(self, "_notes") or {}
end

--- Records by uid, in the order given; raises ObjectNotFound for the first missing.
function Adapter:get_by_uids(uids, model)
  return self._store:get_by_uids(uids, modelname(model, "get_by_uids"))
end

--- Removes a record (and, with remove_children, its descendants).
function Adapter:remove(record, remove_children)
  return self._store:remove(record, remove_children)
end

--- Number of records of a model, or of all models.
function Adapter:count(model)
  if model == nil then return self._store:count() end
  return self._store:count(modelname(model, "count"))
end

function Adapter:__len() return self._store:count() end

local function ids_of(cls_or_model, ids, fname)
  if type(ids) ~= "table" then argerror(2, fname, "table of identifiers", ids) end
  return ids
end

--- Returns the record with these identifiers, creating and adding it
-- (with attrs) when absent. Returns record, created.
function Adapter:get_or_instantiate(model, ids, attrs)
  ids_of(model, ids, "get_or_instantiate")
  local name = modelname(model, "get_or_instantiate")
  local rec = self._store:get_or_none(name, ids)
  if rec then return rec, false end
  local fields = {}
  for k, v in pairs(ids) do fields[k] = v end
  for k, v in pairs(attrs or {}) do fields[k] = v end
  return self._store:new(name, fields), true
end

--- Returns the record with these identifiers with attrs applied, creating
-- it when absent. Returns record, created.
function Adapter:update_or_instantiate(model, ids, attrs)
  ids_of(model, ids, "update_or_instantiate")
  local rec, created = self:get_or_instantiate(model, ids, attrs)
  if not created and attrs and next(attrs) ~= nil then rec:set(attrs) end
  return rec, created
end

--- Loads a data document ({model: [records]}, children nested) from a
-- file, in C. opts.skip_duplicates keeps the first of two equal uids.
function Adapter:load_file(path, opts)
  self._store:load_file(path, opts and opts.skip_duplicates)
  return self
end

--- Builds records through a mapping (ms.mapping) from Lua tables, JSON
-- text or {file = path}; returns {seen =, added =, filtered =}.
function Adapter:load_mapped(mapping, source, name)
  return mapping:apply(self, source, name)
end

--- Same as load_file, from JSON text.
function Adapter:load_json(text, opts)
  self._store:load_json(text, opts and opts.name or "<json>", opts and opts.skip_duplicates)
  return self
end

--- DiffSync's `str()` of the adapter.
function Adapter:str() return self._store:str() end

--- {model = {uid = {field = value}}} of every record (nil fields left out).
function Adapter:dict() return self._store:dict() end

--- The records as a nested data document (JSON text).
function Adapter:to_json() return self._store:nested_json() end

--- The top-level model names.
function Adapter:get_top_level() return self._store:top_level() end

--- What system the adapter stands for, to bind a plan to its target:
-- adapters over files or servers give their path or URL (json_file,
-- csv_file, rest); the default is the adapter's type and name.
function Adapter:identity()
  local name, atype = self._store:name()
  return fmt("%s %s", atype, name)
end

-- {====== diffs ======}

local DiffClass = {}
DiffClass.__index = DiffClass
DiffClass.__metatable = false

--- Declares a Diff class (DiffSync's `Diff` subclass) whose ordering hooks
-- choose the order in which a sync takes each group of elements, and in
-- which dict() and changes() list them (str() keeps the diff's order, as
-- DiffSync's does): `order_children_<model>(elements)` for one model,
-- `order_children_default(elements)` for the others. A hook gets the
-- group's elements in diff order, each {type, name, keys, action,
-- source_attrs, dest_attrs}, and returns them reordered (a list, or an
-- iterator yielding each), or nil to keep the order.
function M.diff_class(spec)
  if type(spec) ~= "table" then argerror(1, "diff_class", "table", spec) end
  local cls = setmetatable({ hooks = {} }, DiffClass)
  for k, v in pairs(spec) do
    if type(k) ~= "string" or not k:match("^order_children_[%w_]+$") then
      error(fmt("diff_class: unknown key %s (order_children_<model> or "
                .. "order_children_default)", tostring(k)), 2)
    end
    if type(v) ~= "function" then
      error(fmt("diff_class: %s must be a function, not %s", k, type(v)), 2)
    end
    cls.hooks[k] = v
  end
  return cls
end

local function ordered(diff, cls)
  if cls == nil then return diff end
  local hooks = cls.hooks
  return diff:order(function(model, elements)
    local h = hooks["order_children_" .. model] or hooks.order_children_default
    if h then return h(elements) end
  end)
end

local diff_opt_keys = { flags = true, callback = true, diff = true,
                        dry_run = true, progress = true, diff_class = true }

local function checkclass(cls, fname)
  if cls ~= nil and not (type(cls) == "table" and rawget(cls, "hooks") and
                         getmetatable(cls) == DiffClass) then
    error(fmt("%s: diff_class must come from ms.diff_class, not %s", fname, type(cls)), 3)
  end
end

local function diffopts(opts, fname)
  opts = opts or {}
  if type(opts) ~= "table" then argerror(2, fname, "table", opts) end
  checkkeys(opts, diff_opt_keys, fname .. " options")
  checkclass(opts.diff_class, fname)
  return flagvalue(opts.flags, false, fname), opts.callback, opts.diff_class
end

--- Computes the diff that would make self match source (DiffSync's
-- `diff_from`). opts.flags: list of flag names or a number;
-- opts.callback(stage, current, total) reports progress; opts.diff_class
-- (ms.diff_class) orders the sync.
function Adapter:diff_from(source, opts)
  local flags, cb, cls = diffopts(opts, "diff_from")
  if type(source) ~= "table" or not source._store then argerror(1, "diff_from", "adapter", source) end
  return ordered(core.diff(source._store, self._store, flags, cb), cls)
end

--- The diff that would make target match self (`target:diff_from(self)`).
function Adapter:diff_to(target, opts)
  if type(target) ~= "table" or not target._store then argerror(1, "diff_to", "adapter", target) end
  local flags, cb, cls = diffopts(opts, "diff_to")
  return ordered(core.diff(self._store, target._store, flags, cb), cls)
end

-- {====== sync ======}

--- DiffSync's create_base: a new record of model from ids and attrs, with
-- status success "Created successfully" (fields the model does not
-- declare are left out). The sync adds it to the adapter.
function Adapter:create_base(model, ids, attrs)
  return self._store:create_base(modelname(model, "create_base"), ids, attrs)
end

--- DiffSync's update_base: assigns attrs, status "Updated successfully".
function Adapter:update_base(record, attrs)
  record:set(attrs)
  record:set_status("success", "Updated successfully")
  return record
end

--- DiffSync's delete_base: status "Deleted successfully".
function Adapter:delete_base(record)
  record:set_status("success", "Deleted successfully")
  return record
end

-- The core handlers for a sync into self: per operation, a function that
-- runs the model's handler, else the adapter's, else the *_base default;
-- nil when neither the adapter nor any model defines that operation (the
-- engine then runs it in C).
local function sync_handlers(self)
  local spec, byname = self.spec, self.model
  local wanted = { create = spec.create, update = spec.update, delete = spec.delete }
  for _, m in ipairs(self.models) do
    for _, op in ipairs { "create", "update", "delete" } do
      if m[op] then wanted[op] = wanted[op] or true end
    end
  end
  local h = {}
  if wanted.create then
    h.create = function(mname, ids, attrs)
      local m = byname[mname]
      if m.create then return m.create(self, ids, attrs) end
      if spec.create then return spec.create(self, m, ids, attrs) end
      return self:create_base(m, ids, attrs)
    end
  end
  if wanted.update then
    h.update = function(rec, attrs)
      local m = byname[rec:get_type()]
      if m.update then return m.update(self, rec, attrs) end
      if spec.update then return spec.update(self, rec, attrs) end
      return self:update_base(rec, attrs)
    end
  end
  if wanted.delete then
    h.delete = function(rec)
      local m = byname[rec:get_type()]
      if m.delete then return m.delete(self, rec) end
      if spec.delete then return spec.delete(self, rec) end
      return self:delete_base(rec)
    end
  end
  return h
end

local sync_opt_keys = { flags = true, callback = true, diff = true, ops_log = true,
                        log = true, diff_class = true, skip_unchanged = true,
                        protect_children = true }

--- Makes self match source (DiffSync's `sync_from`): computes the diff
-- (or uses opts.diff) and applies it through the adapter's create,
-- update and delete handlers (model-level first, then adapter-level,
-- then the in-memory defaults). Returns the diff and a result table
-- {created, updated, deleted, failed, errors, processed, changed,
-- ops_json (with opts.ops_log)}. opts.log(op) is called after every
-- create/update/delete with {op, model, uid, result, status, message,
-- duration}. opts.skip_unchanged: with a callback or log, the subtrees
-- without changes are still skipped, as without them (the callback and
-- log must then not read the status of an unchanged record the sync has
-- passed: it reads as reset only once the sync ends).
-- opts.protect_children: moonsync's policy (jobs turn it on, see
-- moonsync.policy), not DiffSync's: a delete whose subtree holds a
-- record this sync keeps (flagged SKIP_UNMATCHED_DST or IGNORE, out of
-- scope, or whose own delete failed) is refused as ObjectNotDeleted.
-- Off by default, as DiffSync, which deletes the parent and leaves such
-- children in the store. A failure raises; the error carries the
-- partial result as err.result. An adapter with a `write(wave)` method (the REST adapters)
-- is synced by moonsync.writer instead: in dependency order, its writes
-- concurrent, each counted once it has happened.
function Adapter:sync_from(source, opts)
  opts = opts or {}
  if type(source) ~= "table" or not source._store then argerror(1, "sync_from", "adapter", source) end
  if type(opts) ~= "table" then argerror(2, "sync_from", "table", opts) end
  checkkeys(opts, sync_opt_keys, "sync_from options")
  checkclass(opts.diff_class, "sync_from")
  local flags = flagvalue(opts.flags, false, "sync_from")
  local diff = opts.diff
  if diff ~= nil then
    local s, d = diff:stores()
    if s ~= source._store or d ~= self._store then
      error("sync_from: opts.diff was computed for other adapters", 2)
    end
  else
    diff = ordered(core.diff(source._store, self._store, flags, opts.callback), opts.diff_class)
  end
  local res
  if self.write then
    -- a remote target: dependency-ordered, concurrent writes
    res = require("moonsync.writer").sync(self, diff, { flags = flags,
      progress = opts.callback, log = opts.log, protect_children = opts.protect_children })
  else
    local h = sync_handlers(self)
    res = core.sync(diff, flags, { create = h.create, update = h.update,
      delete = h.delete, progress = opts.callback, ops_log = opts.ops_log,
      log = opts.log, skip_unchanged = opts.skip_unchanged,
      protect_children = opts.protect_children })
  end
  if res.changed and self.spec.sync_complete then
    self.spec.sync_complete(self, source, diff, flags)
  end
  return diff, res
end

--- Makes target match self: `target:sync_from(self, opts)`.
function Adapter:sync_to(target, opts)
  if type(target) ~= "table" or not target._store then argerror(1, "sync_to", "adapter", target) end
  return target:sync_from(self, opts)
end

M.Adapter = Adapter

--- Declares a mapping (see moonsync.mapping).
function M.mapping(spec)
  return require("moonsync.mapping").mapping(spec)
end

--- Applies a built-in normalizer ("lower", "upper", "trim", "ip",
-- "prefix", "mac", "set", "integer", "number") to a value, as mappings do.
function M.normalize(kind, value, key)
  return core.normalize(kind, value, key)
end

--- A value as JSON text with sorted keys and two-space indentation (as
-- Python's `json.dumps(v, indent=2, sort_keys=True)`): a readable print
-- of `adapter:dict()` or `diff:dict()`, where DiffSync code uses pprint.
M.pformat = core.pformat

--- Python's repr() of a value, as DiffSync prints ids and attrs:
-- `{'name': 'x', 'count': 3}`; `keys` (say `Model.attributes`) orders
-- a map's keys, which are sorted otherwise.
M.pyrepr = core.pyrepr

--- A compiled Perl-compatible regular expression (as Python's re reads
-- patterns): `ms.regex(".*switch.*"):search(s)` gives the start and end
-- of the first match, or nil. A bad pattern raises an error naming it.
M.regex = core.regex

--- Declares a job (see moonsync.job): `return ms.job { source = ..., target = ... }`.
function M.job(spec)
  return require("moonsync.job").job(spec)
end

-- {====== schema documents ======}

local Schema = { __metatable = "moonsync.Schema" }
Schema.__index = Schema

--- Reads a schema document (the `moonsync diff --schema` format: models,
-- top_level, optional source_top_level/dest_top_level, global_flags,
-- model_flags) and returns its models and flags.
-- @treturn table `{models =, model =, flags =, top_level =,
-- source_top_level =, dest_top_level =}`; `schema:adapter(name, side, spec)`
-- declares an adapter class over it (side "source" or "dest")
function M.schema(path)
  if type(path) ~= "string" then argerror(1, "schema", "path", path) end
  local doc = core.schema(path)
  local sc = setmetatable({ models = {}, model = {}, flags = doc.global_flags,
    top_level = doc.top_level, source_top_level = doc.source_top_level,
    dest_top_level = doc.dest_top_level }, Schema)
  for i, c in ipairs(doc.models) do
    local cls = wrap(c, {})
    sc.models[i], sc.model[cls.name] = cls, cls
  end
  return sc
end

--- An adapter class over the schema's models; side picks
-- source_top_level or dest_top_level when the schema has them.
function Schema:adapter(name, side, spec)
  local top = side == "source" and self.source_top_level
           or side == "dest" and self.dest_top_level or self.top_level
  local decl = { models = self.models, top_level = top }
  for k, v in pairs(spec or {}) do decl[k] = v end
  return M.adapter(name)(decl)
end

return M
