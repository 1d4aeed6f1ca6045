--- Helpers shared by the two IPAM adapters: their data is a JSON list
-- in a file (the YAML files of DiffSync's example, as JSON), loaded when
-- the adapter is created and written back when a sync into it completes.
local cjson = require "cjson"
local ms = require "moonsync"
local core = require "moonsync.core"
local util = require "moonsync.util"

local M = {}

--- The value, or nil for JSON null (ms.null, which cjson writes as null).
function M.value(v)
  if v == ms.null then return nil end
  return v
end

--- JSON null for nil.
function M.json(v)
  if v == nil then return ms.null end
  return v
end

-- numbers stay integers or floats as written
function M.read(path) return core.json_decode(util.read_file(path), path) end

function M.write(path, data) util.write_atomic(path, cjson.encode(data) .. "\n") end

return M
