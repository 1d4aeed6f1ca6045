-- A diff of more than 100,000 records is made by two threads, each taking
-- half of the top-level list. These specs hold it to the diff made in one
-- thread (MOONSYNC_DIFF_THREADS=1) on the same data.
local h = require "helpers"

-- Builds two adapters of SITES sites with DEVICES devices each, changed in
-- both halves of the site list, and prints what is compared. Arguments:
-- a mode ("ok", "shared", "dangling", "progress", "stop").
local SCRIPT = [[
local ms = require "moonsync"
local mode = ...
local SITES, DEVICES = 420, 125
local Site = ms.model "site" {
  identifiers = { "name" }, attributes = { "status" },
  children = { device = "devices" },
}
local Device = ms.model "device" {
  identifiers = { "site_name", "name" }, shortname = { "name" },
  attributes = { "role" },
}
local A = ms.adapter "side" { models = { Site, Device } }

local function build(name, dest)
  local a = A:new { name = name }
  local shared
  if mode == "shared" or mode == "progress" then
    -- one device record listed under every site of both halves
    shared = a:add(Device { site_name = "all", name = "shared",
                            role = dest and "old" or "new" })
  end
  for s = 1, SITES do
    local sn = "s" .. s
    local changed = s % 97 == 0      -- in both halves of the list
    if not (dest and s == SITES - 1) and not (not dest and s == 3) then
      local site = a:add(Site { name = sn, status = (dest and changed) and "old" or "active" })
      for d = 1, DEVICES do
        if not (dest and changed and d == 7) and not (not dest and d == 11 and s % 50 == 0) then
          local role = (d == 5 and s % 31 == 0 and dest) and "spine" or "leaf"
          site:add_child(a:add(Device { site_name = sn, name = "d" .. d, role = role }))
        end
      end
      if shared then site:add_child(shared) end
      if mode == "dangling" and s == SITES - 10 and not dest then
        site:add_child(Device { site_name = sn, name = "ghost" })
      end
    end
  end
  return a
end

local src, dst = build("source", false), build("dest", true)
if mode == "progress" or mode == "stop" then
  local last, calls, total = 0, 0, 0
  local ok, d = pcall(dst.diff_from, dst, src, { callback = function(_, cur, all)
    assert(cur >= last, "progress went back")
    last, calls, total = cur, calls + 1, all
    if mode == "stop" and cur > all / 4 then error("stop here") end
  end })
  if not ok then print("error: " .. tostring(d):match("stop here")) return end
  print(("progress %d of %d, processed %d"):format(last, total, d:models_processed()))
  return
end
local ok, d = pcall(dst.diff_from, dst, src)
if not ok then print("error: " .. tostring(d.message or d)) return end
local s = d:summary()
print(("create %d update %d delete %d no-change %d skip %d processed %d len %d"):format(
  s.create, s.update, s.delete, s["no-change"], s.skip, d:models_processed(), d:len()))
print(d:str())
print(d:json())
]]

describe("a diff split over two threads", function()
  local script
  before_each(function()
    script = h.write(h.tmpdir() .. "/split.lua", SCRIPT)
  end)
  after_each(h.cleanup)

  local function both(mode)
    local one = h.run_env({ MOONSYNC_DIFF_THREADS = "1" }, "run", script, mode)
    local two = h.run_env({}, "run", script, mode)
    assert.equals(0, one.code, one.stderr)
    assert.equals(0, two.code, two.stderr)
    return one.stdout, two.stdout
  end

  it("equals the diff made in one thread", function()
    local one, two = both("ok")
    -- changes in both halves: 2 sites created/deleted, devices of 4 sites
    assert.matches("^create %d+ update %d+ delete %d+", one)
    local c, u, del = one:match("^create (%d+) update (%d+) delete (%d+)")
    assert.is_true(tonumber(c) > 100 and tonumber(u) > 5 and tonumber(del) > 100)
    assert.equals(one, two)
  end)

  it("equals it when a record is listed under parents in both halves", function()
    local one, two = both("shared")
    assert.matches("device: shared", one)
    assert.equals(one, two)
  end)

  it("reports progress that never goes back and ends at the count, made again or not", function()
    local one, two = both("progress")
    local last, processed = two:match("^progress (%d+) of %d+, processed (%d+)")
    assert.equals(processed, last)
    assert.equals(one, two)
  end)

  it("stops both threads when the progress callback raises", function()
    local one, two = both("stop")
    assert.equals("error: stop here\n", one)
    assert.equals(one, two)
  end)

  it("reports the same error as the diff made in one thread", function()
    local one, two = both("dangling")
    assert.equals("error: device s410__ghost not present in source\n", one)
    assert.equals(one, two)
  end)
end)
