--- An adapter over a CSV file (RFC 4180: comma-separated, double quotes
-- around fields with commas, quotes or line breaks, "" for a quote) for
-- one model. Rows become records through a mapping (by default each
-- column is the model field of the same name); `commit()` writes the
-- records back atomically with a header row.
--
--   local csv_file = require "moonsync.adapters.csv_file"
--   local devices = csv_file.open { model = Device, path = "devices.csv",
--                                   mapping = { name = "hostname", site_name = "site" } }
-- @module csv_file
local ms = require "moonsync"
local core = require "moonsync.core"
local util = require "moonsync.util"
local json_file = require "moonsync.adapters.json_file"

local fmt, concat = string.format, table.concat

local M = {}

--- Parses CSV text into a list of rows (lists of strings), the header
-- included; blank lines are no rows. Raises an InputError naming the file
-- and line of an unterminated quoted field.
function M.parse(text, name)
  return core.csv_rows(text, name)
end

-- A cell: empty for null, `""` for the empty string (so it reads back as
-- "", not null), quoted when it holds a comma, quote or line break. With
-- `guard`, text a spreadsheet would run as a formula (starting with =, +,
-- -, @, a tab or a carriage return) is written with a leading '.
local function quote(v, guard)
  if v == nil or v == ms.null then return "" end
  local s = tostring(v)
  if s == "" then return '""' end
  if guard and type(v) == "string" and s:find("^[=+%-@\t\r]") then s = "'" .. s end
  if s:find('[,"\r\n]') then return '"' .. s:gsub('"', '""') .. '"' end
  return s
end

local TYPES = { integer = true, number = true }

local open_keys = { model = true, models = true, path = true, name = true, mapping = true,
                    mappings = true, create_missing = true, lock = true, keep_empty = true,
                    skip_duplicates = true, types = true, guard_formulas = true }

--- Opens a CSV file as an adapter. The rows (the first row naming the
-- columns) are read in C, and mappings turn them into records.
-- @tparam table opts `path`, `name`, and either `model` (one model class)
-- with an optional `mapping` (model field -> column name, or a full
-- ms.mapping field spec; default: every model field from the column of
-- the same name), or `models` (the model classes) with `mappings` (a list
-- of ms.mapping, run in order over every row: several models from one
-- file, e.g. sites derived from device rows with `skip_duplicates = true`
-- and devices linked to them with `parent`). `keep_empty`: empty cells
-- are "" (default: null; a cell written `""` is "" either way).
-- `skip_duplicates`: a row naming a record already loaded is skipped
-- (default: an error). `types` (with `model`): field -> "integer" or
-- "number", read from the cell's text (cells are text otherwise: 12 is
-- written as 12 and read back as "12"). `guard_formulas`: commit writes
-- text starting with =, +, -, @, a tab or a carriage return with a
-- leading ' so spreadsheets show it instead of running it (it then reads
-- back with the '). `create_missing`, `lock` as json_file.open.
-- @treturn table the loaded adapter; `adapter:commit()` saves an adapter
-- of one model
function M.open(opts)
  if type(opts) ~= "table" then error("csv_file.open: expected a table of options", 2) end
  for k in pairs(opts) do
    if not open_keys[k] then error(fmt("csv_file.open: unknown option '%s'", tostring(k)), 2) end
  end
  if type(opts.path) ~= "string" then error("csv_file.open: 'path' is required", 2) end
  local models, mappings, columns
  if opts.models ~= nil or opts.mappings ~= nil then
    if opts.model ~= nil or opts.mapping ~= nil then
      error("csv_file.open: give model (and mapping), or models and mappings", 2)
    end
    if type(opts.models) ~= "table" or #opts.models == 0 then
      error("csv_file.open: 'models' must list model classes", 2)
    end
    if type(opts.mappings) ~= "table" or #opts.mappings == 0 then
      error("csv_file.open: 'mappings' must list mappings (ms.mapping)", 2)
    end
    models, mappings = opts.models, opts.mappings
  else
    local model = opts.model
    if type(model) ~= "table" or not model._c then error("csv_file.open: 'model' must be a model", 2) end
    local fields, types = {}, opts.types or {}
    if type(types) ~= "table" then error("csv_file.open: 'types' must map fields to types", 2) end
    for f, t in pairs(types) do
      if not TYPES[t] then
        error(fmt("csv_file.open: types.%s: expected \"integer\" or \"number\", got %s",
                  tostring(f), tostring(t)), 2)
      end
    end
    local typed_fields = {}
    columns = {}
    for _, list in ipairs { model.identifiers, model.attributes, model.extra_fields } do
      for _, f in ipairs(list) do
        local spec = opts.mapping and opts.mapping[f]
        if opts.mapping == nil then spec = f end
        if spec ~= nil then
          local column = type(spec) == "string" and spec
                         or type(spec) == "table" and type(spec.path) == "string" and spec.path or f
          if types[f] then
            if type(spec) == "table" and spec.transform ~= nil then
              error(fmt("csv_file.open: types.%s: the mapping of %s has a transform already",
                        f, f), 2)
            end
            local typed = { path = column, transform = types[f] }
            if type(spec) == "table" then for k, v in pairs(spec) do typed[k] = typed[k] or v end end
            spec = typed
            typed_fields[f] = true
          end
          fields[f] = spec
          columns[#columns + 1] = { field = f, column = column }
        end
      end
    end
    for f in pairs(types) do
      if not typed_fields[f] then
        error(fmt("csv_file.open: types.%s: %s has no field %s", tostring(f), model.name,
                  tostring(f)), 2)
      end
    end
    models = { model }
    mappings = { ms.mapping { name = opts.path, model = model, fields = fields } }
  end
  local name = opts.name or opts.path:match("([^/]+)%.csv$") or opts.path
  local Class = ms.adapter(name) {
    models = models, type = "csv_file",
    methods = {
      commit = function(self)
        if not columns then
          error(ms.error("InputError", fmt("%s: an adapter loaded through several mappings "
            .. "cannot be written back as CSV", self.options.path)), 2)
        end
        local model = models[1]
        local out = {}
        local header = {}
        for i, c in ipairs(columns) do header[i] = quote(c.column) end
        out[1] = concat(header, ",")
        for _, rec in ipairs(self:get_all(model.name)) do
          local row = {}
          for i, c in ipairs(columns) do row[i] = quote(rec[c.field], opts.guard_formulas) end
          out[#out + 1] = concat(row, ",")
        end
        return util.write_atomic(self.options.path, concat(out, "\n") .. "\n", self._lock)
      end,
      identity = function(self) return "csv_file " .. core.realpath(self.options.path) end,
      lock_target = json_file.lock_target,
    },
  }
  local a = Class:new { name = name, path = opts.path }
  json_file.hold(a, opts.path, opts.lock)
  if not util.exists(opts.path) then
    if opts.create_missing then return a end
    error(ms.error("IOError", opts.path .. ": cannot open: No such file or directory"), 2)
  end
  local compiled = {}
  for i, m in ipairs(mappings) do
    if getmetatable(m) ~= "moonsync.Mapping" then
      error(fmt("csv_file.open: mappings[%d] is not a mapping (ms.mapping)", i), 2)
    end
    compiled[i] = m:_compiled(a)
  end
  a._store:map_csv(compiled, { file = opts.path }, { name = opts.path, keep_empty = opts.keep_empty,
                                                    skip_duplicates = opts.skip_duplicates })
  return a
end

return M
