--- Small file helpers shared by the command line and scripts.
-- @module moonsync.util
local lfs = require "lfs"

local io, os, error, tostring, fmt = io, os, error, tostring, string.format

local M = {}

--- Reads a whole file; returns its text or raises naming the path.
function M.read_file(path)
  local f, err = io.open(path, "rb")
  if not f then error(fmt("cannot read %s", tostring(err)), 0) end
  local data = f:read("a")
  f:close()
  return data
end

--- Writes data to path atomically: a temporary file in the same directory
-- renamed over path, so readers never see a half-written file.
function M.write_atomic(path, data)
  local tmp = fmt("%s.tmp-%d-%d", path, os.time(), math.random(1 << 30))
  local f, err = io.open(tmp, "wb")
  if not f then error(fmt("cannot write %s: %s", path, tostring(err)), 0) end
  local ok, werr = f:write(data)
  local cok, cerr = f:close()
  if not ok or not cok then
    os.remove(tmp)
    error(fmt("cannot write %s: %s", path, tostring(werr or cerr)), 0)
  end
  local rok, rerr = os.rename(tmp, path)
  if not rok then
    os.remove(tmp)
    error(fmt("cannot write %s: %s", path, tostring(rerr)), 0)
  end
end

--- Creates a directory and its parents (like mkdir -p).
function M.mkdir_p(path)
  local so_far = path:sub(1, 1) == "/" and "/" or ""
  for part in path:gmatch("[^/]+") do
    so_far = so_far .. part
    local mode = lfs.attributes(so_far, "mode")
    if mode == nil then
      local ok, err = lfs.mkdir(so_far)
      if not ok and lfs.attributes(so_far, "mode") ~= "directory" then
        error(fmt("cannot create directory %s: %s", so_far, tostring(err)), 0)
      end
    elseif mode ~= "directory" then
      error(fmt("cannot create directory %s: a file is in the way", so_far), 0)
    end
    so_far = so_far .. "/"
  end
end

--- Is path an existing file?
function M.exists(path)
  return lfs.attributes(path, "mode") ~= nil
end

return M
