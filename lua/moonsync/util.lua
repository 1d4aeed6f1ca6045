--- Small file helpers shared by the command line, scripts and adapters.
-- Every one of them asks the job's permissions first (core.permit), so a
-- job reaching them gains nothing its permissions do not give.
-- @module moonsync.util
local lfs = require "lfs"
local core = require "moonsync.core"

local io_open, error, tostring, fmt = io.open, error, tostring, string.format
local permit, write_atomic = core.permit, core.write_atomic

local M = {}

--- Reads a whole file; returns its text or raises naming the path.
function M.read_file(path)
  permit("read", path)
  local f, err = io_open(path, "rb")
  if not f then error(fmt("cannot read %s", tostring(err)), 0) end
  local data = f:read("a")
  f:close()
  return data
end

--- Writes data to path atomically: a temporary file beside the real file
-- (symbolic links followed) with its mode and owner, fsynced and renamed
-- over it, so readers never see a half-written file and a crash leaves
-- the old one. `data` is a string, or an adapter's store (`a._store`),
-- whose nested data document is written as it is made. `lock` (from core.lock) keeps holding the file's lock
-- across the replacement. `authority` (the policy handle of
-- moonsync.job) writes the operator's own outputs outside the job's
-- permissions. Returns the leftover temporary files of killed runs it
-- removed.
function M.write_atomic(path, data, lock, authority)
  if authority then return authority:write(path, data, lock) end
  return write_atomic(path, data, lock)
end

--- Creates a directory and its parents (like mkdir -p), asking write
-- permission for it (core.mkdirs).
function M.mkdir_p(path)
  core.mkdirs(path)
end

--- What tells one version of a file from the next: its device, inode,
-- size and modification time as text ("" when it does not exist). Every
-- write moonsync makes replaces the file, so its inode changes.
function M.stamp(path)
  local a = lfs.attributes(permit("read", path))
  if not a then return "" end
  return fmt("%d:%d:%d:%d", a.dev, a.ino, a.size, a.modification)
end

--- Is path an existing file?
function M.exists(path)
  return lfs.attributes(permit("read", path), "mode") ~= nil
end

return M
