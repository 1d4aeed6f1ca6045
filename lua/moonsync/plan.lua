--- Saved plans (`moonsync-plan/1`): reading and checking them, and
-- building the source an apply syncs from.
-- @module moonsync.plan
local ms = require "moonsync"
local core = require "moonsync.core"

local fmt, type, pairs, ipairs = string.format, type, pairs, ipairs
local null = core.null

local M = {}

local function bad(name, what, ...)
  error(ms.error("PlanError", name .. ": " .. fmt(what, ...)), 0)
end

local ACTIONS = { create = true, update = true, delete = true }

--- Decodes and checks a plan; raises PlanError naming the file and the
-- offending change.
function M.decode(text, name)
  name = name or "plan"
  local ok, plan = pcall(core.json_decode, text, name)
  if not ok then
    bad(name, "not valid JSON (%s)", ms.is_error(plan) and plan.message or tostring(plan))
  end
  if type(plan) ~= "table" or plan.format ~= "moonsync-plan/1" then
    bad(name, "not a moonsync plan (format moonsync-plan/1)")
  end
  local d = plan.diff
  if type(d) ~= "table" or type(d.changes) ~= "table" or type(d.source) ~= "string" then
    bad(name, "the plan has no diff with source and changes")
  end
  if plan.flags ~= nil and math.type(plan.flags) ~= "integer" then
    bad(name, "flags must be an integer")
  end
  if type(plan.job) ~= "string" then bad(name, "the plan names no job") end
  for i, c in ipairs(d.changes) do
    local where = fmt("changes[%d]", i)
    if type(c) ~= "table" then bad(name, "%s is not an object", where) end
    if not ACTIONS[c.action] then bad(name, "%s: unknown action %s", where, tostring(c.action)) end
    if type(c.model) ~= "string" or type(c.uid) ~= "string" then
      bad(name, "%s: model and uid must be strings", where)
    end
    if type(c.keys) ~= "table" then bad(name, "%s: keys must be an object", where) end
    if c.action ~= "delete" and type(c.attrs) ~= "table" then
      bad(name, "%s: attrs must be an object", where)
    end
    if c.fingerprint ~= null and type(c.fingerprint) ~= "string" then
      bad(name, "%s: fingerprint must be a string or null", where)
    end
    if c.parent ~= null and (type(c.parent) ~= "table" or type(c.parent.model) ~= "string"
                             or type(c.parent.uid) ~= "string") then
      bad(name, "%s: parent must be null or {model, uid}", where)
    end
  end
  plan.flags = plan.flags or 0
  return plan
end

--- The source an apply syncs from: a copy of the current target with the
-- planned changes whose target records have not drifted. Returns the
-- source adapter and the list of refused changes ({change =, why =}).
function M.source(plan, target)
  local d = plan.diff
  local Copy = ms.adapter(d.source) { models = target.models, top_level = target:get_top_level() }
  local src = Copy:new { name = d.source }
  src:load_json(target:to_json(), { name = "target copy" })
  local refused = {}
  local function refuse(c, why)
    refused[#refused + 1] = { change = c, why = why }
  end
  for _, c in ipairs(d.changes) do
    if not target.model[c.model] then
      refuse(c, "the target has no model " .. c.model)
    else
      local cur = target:get_or_none(c.model, c.uid)
      local fp = cur and cur:fingerprint() or null
      if fp ~= c.fingerprint then
        refuse(c, cur and "the target record changed since the plan"
                   or c.fingerprint ~= null and "the target record is gone"
                   or "the target record exists now")
      elseif c.action == "create" then
        local parent = c.parent ~= null and target.model[c.parent.model]
                       and src:get_or_none(c.parent.model, c.parent.uid)
        if c.parent ~= null and not parent then
          refuse(c, "its parent is not there")
        else
          local fields = {}
          for k, v in pairs(c.keys) do fields[k] = v end
          for k, v in pairs(c.attrs) do fields[k] = v end
          local ok, rec = pcall(src.new_record, src, c.model, fields)
          if not ok then
            refuse(c, ms.is_error(rec) and rec.message or tostring(rec))
          elseif parent then
            local lok, err = pcall(parent.add_child, parent, rec)
            if not lok then refuse(c, ms.is_error(err) and err.message or tostring(err)) end
          end
        end
      elseif c.action == "update" then
        local rec = src:get_or_none(c.model, c.uid)
        if rec then
          local ok, err = pcall(rec.set, rec, c.attrs)
          if not ok then refuse(c, ms.is_error(err) and err.message or tostring(err)) end
        end
      else
        local rec = src:get_or_none(c.model, c.uid)
        if rec then
          local parent = c.parent ~= null and target.model[c.parent.model]
                         and src:get_or_none(c.parent.model, c.parent.uid)
          if parent then pcall(parent.remove_child, parent, rec) end
          src:remove(rec, true)
        end
      end
    end
  end
  return src, refused
end

return M
