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

--- Parses CSV text into a list of rows (lists of strings). Raises an
-- InputError naming the file and line for an unterminated quote.
function M.parse(text, name)
  local rows, row, field = {}, {}, {}
  local i, n, line, quoted = 1, #text, 1, false
  local qline
  while i <= n do
    local c = text:sub(i, i)
    if quoted then
      if c == '"' then
        if text:sub(i + 1, i + 1) == '"' then
          field[#field + 1] = '"'
          i = i + 1
        else
          quoted = false
        end
      else
        if c == "\n" then line = line + 1 end
        field[#field + 1] = c
      end
    elseif c == '"' and #field == 0 then
      quoted, qline = true, line
    elseif c == "," then
      row[#row + 1] = concat(field)
      field = {}
    elseif c == "\n" or c == "\r" then
      if c == "\r" and text:sub(i + 1, i + 1) == "\n" then i = i + 1 end
      row[#row + 1] = concat(field)
      rows[#rows + 1] = row
      row, field = {}, {}
      line = line + 1
    else
      field[#field + 1] = c
    end
    i = i + 1
  end
  if quoted then
    error(ms.error("InputError", fmt("%s:%d: unterminated quoted field", name or "csv", qline)), 0)
  end
  if #field > 0 or #row > 0 then
    row[#row + 1] = concat(field)
    rows[#rows + 1] = row
  end
  return rows
end

local function quote(v)
  if v == nil or v == ms.null then return "" end
  local s = tostring(v)
  if s:find('[,"\r\n]') then return '"' .. s:gsub('"', '""') .. '"' end
  return s
end

--- Opens a CSV file as an adapter of one model.
-- @tparam table opts `model` (a model class), `path`, `name`, `mapping`
-- (model field -> column name, or a full ms.mapping field spec; default:
-- every model field from the column of the same name), `create_missing`,
-- `lock` (as json_file.open)
-- @treturn table the loaded adapter; `adapter:commit()` saves it
function M.open(opts)
  local model = opts.model
  if type(model) ~= "table" or not model._c then error("csv_file.open: 'model' must be a model", 2) end
  if type(opts.path) ~= "string" then error("csv_file.open: 'path' is required", 2) end
  local fields = {}
  local columns = {}
  for _, list in ipairs { model.identifiers, model.attributes, model.extra_fields } do
    for _, f in ipairs(list) do
      local spec = opts.mapping and opts.mapping[f]
      if opts.mapping == nil then spec = f end
      if spec ~= nil then
        fields[f] = spec
        columns[#columns + 1] = { field = f, column = type(spec) == "string" and spec or f }
      end
    end
  end
  local name = opts.name or opts.path:match("([^/]+)%.csv$") or opts.path
  local Class = ms.adapter(name) {
    models = { model }, type = "csv_file",
    methods = {
      commit = function(self)
        local out = {}
        local header = {}
        for i, c in ipairs(columns) do header[i] = quote(c.column) end
        out[1] = concat(header, ",")
        for _, rec in ipairs(self:get_all(model.name)) do
          local row = {}
          for i, c in ipairs(columns) do row[i] = quote(rec[c.field]) end
          out[#out + 1] = concat(row, ",")
        end
        return util.write_atomic(self.options.path, concat(out, "\n") .. "\n", self._lock)
      end,
      identity = function(self) return "csv_file " .. core.realpath(self.options.path) end,
    },
  }
  local a = Class:new { name = name, path = opts.path }
  a._lock = json_file.lock_for(opts.path, opts.lock)
  if not util.exists(opts.path) then
    if opts.create_missing then return a end
    error(ms.error("IOError", opts.path .. ": cannot open: No such file or directory"), 2)
  end
  local rows = M.parse(util.read_file(opts.path), opts.path)
  local header = rows[1] or {}
  local records = {}
  for r = 2, #rows do
    local row = rows[r]
    if not (#row == 1 and row[1] == "") then
      if #row ~= #header then
        error(ms.error("InputError", fmt("%s: row %d has %d fields, the header has %d",
          opts.path, r, #row, #header)), 2)
      end
      local rec = {}
      for i, col in ipairs(header) do rec[col] = row[i] end
      records[#records + 1] = rec
    end
  end
  a:load_mapped(ms.mapping { name = opts.path, model = model, fields = fields }, records, opts.path)
  return a
end

return M
