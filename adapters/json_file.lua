--- An adapter over a JSON data document: the nested format that
-- `moonsync diff --schema` reads ({model: [records]}, children nested).
-- Loading happens in C; `commit()` writes the records back atomically
-- (a temporary file renamed over the document), so an interrupted or
-- failed write never leaves a half-written file.
--
--   local json_file = require "json_file"
--   local target = json_file.open { schema = "schema.json", path = "sot.json",
--                                   name = "nautobot", side = "dest" }
-- @module json_file
local ms = require "moonsync"
local util = require "moonsync.util"

local M = {}

local open_keys = { schema = true, path = true, name = true, side = true,
                    create_missing = true, skip_duplicates = true }

--- Opens (loads) a JSON data document as an adapter.
-- @tparam table opts `schema` (a path or the result of ms.schema), `path`,
-- `name` (default: the file name), `side` ("source"/"dest": which
-- per-side top_level of the schema applies), `create_missing` (a missing
-- file is an empty dataset instead of an error), `skip_duplicates`
-- @treturn table the loaded adapter; `adapter:commit()` saves it
function M.open(opts)
  if type(opts) ~= "table" then error("json_file.open: expected an options table", 2) end
  for k in pairs(opts) do
    if not open_keys[k] then error(("json_file.open: unknown option '%s'"):format(tostring(k)), 2) end
  end
  if type(opts.path) ~= "string" then error("json_file.open: 'path' is required", 2) end
  local schema = opts.schema
  if type(schema) == "string" then schema = ms.schema(schema) end
  if type(schema) ~= "table" or not schema.adapter then
    error("json_file.open: 'schema' must be a schema path or ms.schema(...)", 2)
  end
  local name = opts.name or opts.path:match("([^/]+)%.json$") or opts.path
  local Class = schema:adapter(name, opts.side, {
    type = "json_file",
    methods = {
      commit = function(self)
        util.write_atomic(self.options.path, self:to_json() .. "\n")
      end,
    },
  })
  local a = Class:new { name = name, path = opts.path }
  if util.exists(opts.path) then
    a:load_file(opts.path, { skip_duplicates = opts.skip_duplicates })
  elseif not opts.create_missing then
    error(ms.error("IOError", opts.path .. ": cannot open: No such file or directory"), 2)
  end
  return a
end

return M
