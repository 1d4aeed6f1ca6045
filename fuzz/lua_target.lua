-- The Lua side of fuzz_lua.c: plan files and HTTP pagination envelopes.
-- Whatever the input, these must either succeed or raise a moonsync error
-- (a table with a type); a plain Lua runtime error ("attempt to index a
-- nil value") is a bug. Returns a function(data) -> nil or a bug report.
local ms = require "moonsync"
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

return function(data)
  local mode = data:byte(1) or 0
  local rest = data:sub(2)
  if mode % 2 == 0 then return fuzz_plan(rest) end
  return fuzz_pages(rest, STYLES[(mode // 2) % #STYLES + 1])
end
