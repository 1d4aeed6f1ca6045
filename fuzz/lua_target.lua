-- The Lua side of fuzz_lua.c: plan files, HTTP pagination envelopes, and
-- Lua values (nested, shared and self-referencing tables) handed to every
-- C function that walks one.
-- Whatever the input, these must either succeed or raise a moonsync error
-- (a table with a type); a plain Lua runtime error ("attempt to index a
-- nil value") is a bug. Returns a function(data) -> nil or a bug report.
local ms = require "moonsync"
local core = require "moonsync.core"
local plans = require "moonsync.plan"
local http = require "moonsync.http"

local Site = ms.model "site" { identifiers = { "name" }, attributes = { "status" },
                               children = { device = "devices" } }
local Device = ms.model "device" { identifiers = { "site", "name" }, attributes = { "role" } }
local Target = ms.adapter "target" { models = { Site, Device } }

local function clean(ok, err)
  if ok or ms.is_error(err) then return nil end
  return "unclean error: " .. tostring(err)
end

local function fuzz_plan(text)
  -- sealed as moonsync would have saved it, so the fuzzer reaches past
  -- the digest into the plan's content
  local sealed, sok = text, pcall(function() text = plans.seal(text) end)
  if not sok then text = sealed end
  local ok, plan = pcall(plans.decode, text, "fuzz-plan")
  if not ok then return clean(ok, plan) end
  local t = Target:new()
  local s = t:add(Site { name = "ams", status = "active" })
  s:add_child(t:add(Device { site = "ams", name = "sw1", role = "leaf" }))
  local ok1, invalid = pcall(plans.check, plan, t)
  if not ok1 then return clean(ok1, invalid) end
  if #invalid > 0 then return nil end
  local ok2, src = pcall(plans.source, plan, t)
  if not ok2 then return clean(ok2, src) end
  local ok3, err = pcall(function()
    local d = t:diff_from(src, { flags = plan.flags & 7 })
    t:sync_from(src, { diff = d, flags = plan.flags & 7 })
  end)
  return clean(ok3, err)
end

-- A client whose transport replays responses cut from the input:
-- "headers\n\nbody" blocks separated by "\0\0"; after 50 requests every
-- request fails, so any loop ends.
local function fake_client(text)
  local responses = {}
  for block in (text .. "\0\0"):gmatch("(.-)%z%z") do
    local head, body = block:match("^(.-)\n\n(.*)$")
    responses[#responses + 1] = { head = "HTTP/1.1 200 OK\r\n" .. (head or ""), body = body or block }
  end
  local n = 0
  local core = { perform = function(_, reqs)
    local out = {}
    for i = 1, #reqs do
      n = n + 1
      local r = responses[(n - 1) % #responses + 1]
      if n > 50 then
        out[i] = { status = 0, head = "", body = "", attempts = 1, error = "fuzz: no more responses" }
      else
        out[i] = { status = 200, head = r.head, body = r.body, attempts = 1 }
      end
    end
    return out
  end }
  local c = http.client { base_url = "http://fuzz" }
  c.core = core
  return c
end

local STYLES = { "auto", "netbox", "link", "page", "json-server", "offset", "none" }

local function fuzz_pages(text, style)
  local c = fake_client(text)
  local ok, res = pcall(c.get_all, c, "/items", { pagination = style, page_size = 3 })
  if ok and type(res) ~= "table" then return "get_all returned " .. type(res) end
  return clean(ok, res)
end

-- A Lua value built from the input, one byte an operation on a stack of
-- open tables: open a table, put a scalar, close the top table into the
-- one below (as a list item or under a key), or put a table that is
-- already open (a cycle) into the top one.
local function build(text)
  local root = {}
  local open = { root }
  for i = 1, #text do
    local b = text:byte(i)
    local op, arg = b % 8, b // 8
    local top = open[#open]
    if op == 0 then
      open[#open + 1] = {}
    elseif op == 1 then
      top[#top + 1] = arg - 16
    elseif op == 2 then
      top["k" .. arg] = ("s"):rep(arg % 5)
    elseif op == 3 and #open > 1 then
      open[#open] = nil
      local parent = open[#open]
      parent[#parent + 1] = top
    elseif op == 4 and #open > 1 then
      open[#open] = nil
      open[#open]["t" .. arg] = top
    elseif op == 5 then
      top[#top + 1] = open[arg % #open + 1]
    elseif op == 6 then
      top[#top + 1] = arg / 7
    else
      top[#top + 1] = arg % 2 == 0 and core.null or arg % 3 == 0
    end
  end
  for i = #open, 2, -1 do
    local parent = open[i - 1]
    parent[#parent + 1] = open[i]
  end
  return root
end

local Holder = ms.model "holder" { identifiers = { "name" }, attributes = { "value" } }
local Holders = ms.adapter "holders" { models = { Holder } }

-- Any error is fine for a value (a cycle, a key that is not a string, too
-- deep): what must never happen is a crash.
local function fuzz_value(text)
  local v = build(text)
  pcall(core.pyrepr, v)
  pcall(core.pformat, v)
  local a = Holders:new()
  pcall(function() a:add(Holder { name = "n", value = v }) end)
  pcall(function()
    local r = a:add(Holder { name = "m" })
    r:set { value = v }
  end)
  return nil
end

return function(data)
  local mode = data:byte(1) or 0
  local rest = data:sub(2)
  if mode >= 0xf0 then return fuzz_value(rest) end
  if mode % 2 == 0 then return fuzz_plan(rest) end
  return fuzz_pages(rest, STYLES[(mode // 2) % #STYLES + 1])
end
