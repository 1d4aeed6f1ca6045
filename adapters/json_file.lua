--- An adapter over a JSON data document: the nested format that
-- `moonsync diff --schema` reads ({model: [records]}, children nested).
-- Loading happens in C; `commit()` writes the records back atomically
-- (a temporary file beside the real one, fsynced and renamed over it,
-- keeping its mode, owner and symbolic links), so an interrupted or failed
-- write never leaves a half-written file. Opened as a job's target, the
-- file is locked from loading until the process ends: one writer at a
-- time.
--
--   local json_file = require "moonsync.adapters.json_file"
--   local target = json_file.open { schema = "schema.json", path = "sot.json",
--                                   name = "nautobot", side = "dest" }
-- @module json_file
local ms = require "moonsync"
local core = require "moonsync.core"
local util = require "moonsync.util"

local fmt = string.format

local M = {}

local open_keys = { schema = true, path = true, name = true, side = true,
                    create_missing = true, skip_duplicates = true, lock = true }

--- Takes the lock on `path` when it is opened as a job's target (the
-- command line asks for it) or when opts.lock says so (true: fail at once
-- if another run holds it; a number: wait that many seconds).
function M.lock_for(path, lock)
  local timeout = core.target_lock()
  if timeout == nil and lock then timeout = lock == true and 0 or lock end
  if timeout ~= nil then return core.lock(path, timeout) end
  return nil
end

--- Holds adapter's file as its target's: the lock lock_for takes, and the
-- stamp of the version it is about to read (lock_target checks it).
function M.hold(adapter, path, lock)
  adapter._lock = M.lock_for(path, lock)
  adapter._stamp = util.stamp(path)
end

--- Locks the file of an adapter opened before the command line asked for
-- target locks (a job that gives its target as an adapter opened at its
-- top level): takes the lock, then refuses if the file changed since the
-- adapter read it, as another run may have written it in between.
function M.lock_target(adapter, timeout)
  if adapter._lock then return end
  local path = adapter.options.path
  adapter._lock = core.lock(path, timeout)
  if util.stamp(path) ~= adapter._stamp then
    error(ms.error("IOError", fmt("%s changed after the job opened it and before it was "
      .. "locked (another run wrote it?): open the target in a function "
      .. "(target = function() return ... end), so it is read under its lock", path)), 0)
  end
end

--- Raises when records of the adapter are outside the tree: a nested
-- document would leave them out, and they would be lost.
function M.check_tree(adapter, path)
  local n, names = adapter._store:orphans()
  if n > 0 then
    error(ms.error("IOError", fmt("cannot write %s: %d record%s outside the tree would be "
      .. "lost (%s%s): link %s to a parent with add_child, or list the model in top_level",
      path, n, n == 1 and " is" or "s are", names, n > 5 and ", ..." or "",
      n == 1 and "it" or "them")), 0)
  end
end

--- Opens (loads) a JSON data document as an adapter.
-- @tparam table opts `schema` (a path or the result of ms.schema), `path`,
-- `name` (default: the file name), `side` ("source"/"dest": which
-- per-side top_level of the schema applies), `create_missing` (a missing
-- file is an empty dataset instead of an error), `skip_duplicates`,
-- `lock` (true or seconds to wait: lock the file; jobs' targets are
-- locked anyway)
-- @treturn table the loaded adapter; `adapter:commit()` saves it (and
-- returns the leftover temporary files of killed runs it removed)
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
        M.check_tree(self, self.options.path)
        -- the document is written as it is made: no copy of it in memory
        return util.write_atomic(self.options.path, self._store, self._lock)
      end,
      identity = function(self) return "json_file " .. core.realpath(self.options.path) end,
      lock_target = M.lock_target,
    },
  })
  local a = Class:new { name = name, path = opts.path }
  M.hold(a, opts.path, opts.lock)
  if util.exists(opts.path) then
    a:load_file(opts.path, { skip_duplicates = opts.skip_duplicates })
  elseif not opts.create_missing then
    error(ms.error("IOError", opts.path .. ": cannot open: No such file or directory"), 2)
  end
  return a
end

return M
