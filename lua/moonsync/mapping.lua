--- Declarative field mappings: source records (decoded JSON, CSV rows,
-- API results) to model records. Mappings without Lua transforms or
-- filters run entirely in C.
--
--   local devices = ms.mapping {
--     model = "device", from = "results", id = "id",
--     fields = {
--       name = "name", site_name = "site.name",            -- dotted paths
--       role = { path = "role.slug", default = "unknown" },
--       serial = { path = "serial", transform = "upper" },  -- built-in, in C
--       mac = { path = "mac_address", transform = "mac" },
--       tags = { path = "tags", set = "name" },             -- list as a set
--       kind = { const = "switch" },
--       site_name = { ref = "site", path = "site_id", field = "name" },
--       label = { path = "label", transform = function(v) return v and v:sub(1, 8) end },
--       cidr = { compute = function(r) return r.network .. "/" .. r.len end },
--     },
--     where = { status = "active" },                        -- equality, in C
--     filter = function(r) return r.status ~= "decommissioned" end,  -- Lua
--     parent = { model = "site", ids = { name = "site_name" } },
--     skip_duplicates = false,  -- true: a record built before is kept, rows repeating it skipped
--   }
--   adapter:load_mapped(devices, api_results)
-- @module moonsync.mapping
local core = require "moonsync.core"

local fmt, type, pairs, ipairs, tostring = string.format, type, pairs, ipairs, tostring
local concat, sort = table.concat, table.sort

local M = {}

local Mapping = { __metatable = "moonsync.Mapping" }
Mapping.__index = Mapping

local BUILTIN = { lower = true, upper = true, trim = true, ip = true, prefix = true,
                  mac = true, set = true, integer = true, number = true }

local field_keys = { path = true, default = true, const = true, transform = true,
                     set = true, ref = true, field = true, compute = true }
local mapping_keys = { name = true, model = true, from = true, id = true, fields = true,
                       skip_duplicates = true,
                       where = true, filter = true, parent = true }

-- JSON text of a Lua constant, keeping integers and floats apart.
local function encode(v)
  local t = type(v)
  if v == nil or v == core.null then return "null" end
  if t == "boolean" then return tostring(v) end
  if t == "number" then
    if math.type(v) == "integer" then return fmt("%d", v) end
    local s = fmt("%.17g", v)
    if not s:find("[.eEn]") then s = s .. ".0" end
    return s
  end
  if t == "string" then
    return '"' .. v:gsub('[%c"\\]', function(c)
      return fmt("\\u%04x", c:byte())
    end) .. '"'
  end
  if t == "table" then
    -- core.map() marks a table with the protected "moonsync.map" metatable
    if getmetatable(v) ~= "moonsync.map" and (#v > 0 or next(v) == nil) then
      local parts = {}
      for i, x in ipairs(v) do parts[i] = encode(x) end
      return "[" .. concat(parts, ",") .. "]"
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    sort(keys)
    local parts = {}
    for i, k in ipairs(keys) do parts[i] = encode(k) .. ":" .. encode(v[k]) end
    return "{" .. concat(parts, ",") .. "}"
  end
  error(fmt("cannot use a %s as a constant", t), 0)
end

local function constant(v)
  if type(v) == "table" then return { json = encode(v) } end
  return v
end

local function steps_of(name, spec)
  local steps = {}
  local t = spec.transform
  if t ~= nil then
    if type(t) ~= "table" then t = { t } end
    for i, s in ipairs(t) do
      if type(s) == "function" then
        steps[#steps + 1] = { fn = s }
      elseif type(s) == "string" and BUILTIN[s] and s ~= "set" then
        steps[#steps + 1] = { kind = s }
      else
        error(fmt("mapping field '%s': transform %d must be a function or one of lower, "
                  .. "upper, trim, ip, prefix, mac, integer, number", name, i), 0)
      end
    end
  end
  if spec.set ~= nil and spec.set ~= false then
    steps[#steps + 1] = { kind = "set", key = type(spec.set) == "string" and spec.set or nil }
  end
  if #steps > 8 then error(fmt("mapping field '%s': at most 8 transforms", name), 0) end
  return steps
end

local function modelname(m)
  if type(m) == "string" then return m end
  if type(m) == "table" and m.name and m._c then return m.name end
  return nil
end

--- Declares a mapping (see the module description). Unknown keys are
-- errors naming the mapping and field.
function M.mapping(spec)
  if type(spec) ~= "table" then error("ms.mapping: expected a table", 2) end
  local mname = modelname(spec.model)
  if not mname then error("ms.mapping: 'model' must be a model or a model name", 2) end
  local name = spec.name or mname
  for k in pairs(spec) do
    if not mapping_keys[k] then
      error(fmt("mapping '%s': unknown key '%s'", name, tostring(k)), 2)
    end
  end
  if type(spec.fields) ~= "table" then error(fmt("mapping '%s': 'fields' is required", name), 2) end
  local fields = {}
  local names = {}
  for f in pairs(spec.fields) do names[#names + 1] = f end
  sort(names)
  for _, f in ipairs(names) do
    local s = spec.fields[f]
    if type(s) == "string" then s = { path = s } end
    if type(s) ~= "table" then
      error(fmt("mapping '%s': field '%s' must be a path or a table", name, f), 2)
    end
    for k in pairs(s) do
      if not field_keys[k] then
        error(fmt("mapping '%s': field '%s': unknown key '%s'", name, f, tostring(k)), 2)
      end
    end
    local ok, steps = pcall(steps_of, f, s)
    if not ok then error(fmt("mapping '%s': %s", name, steps), 2) end
    local path = s.path
    if s.compute ~= nil then
      -- compute(record): a Lua function of the whole source record
      if type(s.compute) ~= "function" then
        error(fmt("mapping '%s': field '%s': compute must be a function", name, f), 2)
      end
      table.insert(steps, 1, { fn = s.compute })
      path = ""
    end
    local entry = { field = f, path = path, steps = steps }
    if s.const ~= nil then entry.has_const, entry.const = true, constant(s.const) end
    if s.default ~= nil then entry.has_default, entry.default = true, constant(s.default) end
    if s.ref ~= nil then
      entry.ref_model = modelname(s.ref)
      entry.ref_field = s.field
      if not entry.ref_model or type(s.field) ~= "string" or type(s.path) ~= "string" then
        error(fmt("mapping '%s': field '%s': a ref needs ref (model), path and field", name, f), 2)
      end
    end
    if entry.path == nil and not entry.has_const and not entry.has_default then
      error(fmt("mapping '%s': field '%s' needs a path, const or default", name, f), 2)
    end
    fields[#fields + 1] = entry
  end
  local where = {}
  if spec.where ~= nil then
    local keys = {}
    for k in pairs(spec.where) do keys[#keys + 1] = k end
    sort(keys)
    for _, k in ipairs(keys) do where[#where + 1] = { path = k, value = constant(spec.where[k]) } end
  end
  if spec.filter ~= nil and type(spec.filter) ~= "function" then
    error(fmt("mapping '%s': 'filter' must be a function", name), 2)
  end
  if spec.skip_duplicates ~= nil and type(spec.skip_duplicates) ~= "boolean" then
    error(fmt("mapping '%s': 'skip_duplicates' must be a boolean", name), 2)
  end
  return setmetatable({ name = name, model = mname, from = spec.from, id = spec.id,
    fields = fields, where = where, filter = spec.filter, parent = spec.parent,
    skip_duplicates = spec.skip_duplicates, compiled = {} }, Mapping)
end

-- The compiled mapping for an adapter (parent identifiers need the
-- parent model's identifier order).
function Mapping:_compiled(adapter)
  local key = adapter.model
  local c = self.compiled[key]
  if c then return c end
  local parent
  if self.parent then
    local pname = modelname(self.parent.model)
    local pm = pname and adapter.model[pname]
    if not pm then
      error(fmt("mapping '%s': parent model %s is not a model of adapter '%s'",
                self.name, tostring(pname), adapter.name), 3)
    end
    local ids = {}
    for i, idf in ipairs(pm.identifiers) do
      ids[i] = self.parent.ids and self.parent.ids[idf]
      if not ids[i] then
        error(fmt("mapping '%s': parent.ids must give %s's identifier '%s'", self.name, pname, idf), 3)
      end
    end
    parent = { model = pname, ids = ids }
  end
  c = core.mapping { name = self.name, model = self.model, from = self.from, id = self.id,
                     fields = self.fields, where = self.where, filter = self.filter,
                     parent = parent, skip_duplicates = self.skip_duplicates }
  self.compiled[key] = c
  return c
end

--- Builds records from source and adds them to adapter. source: Lua
-- tables (decoded JSON, CSV rows), JSON text, or {file = path}. Returns
-- {seen =, added =, filtered =}. Errors name the mapping, the field, the
-- source record's position and the offending value.
function Mapping:apply(adapter, source, name)
  return adapter._store:map(self:_compiled(adapter), source, name)
end

M.Mapping = Mapping
M.encode = encode
return M
