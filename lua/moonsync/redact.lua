--- The one redaction path: every message moonsync builds from HTTP data
-- (client and adapter errors, operation logs, plans, reports) goes through
-- `redact.text` before anyone sees it. It masks:
--
-- - the secrets HTTP clients were given: tokens, and the values of the
--   headers their users configured (whatever their length, where they
--   stand as a word of their own: "1" is masked in "X-Tenant: 1", not in
--   "HTTP 401"), except Accept, Content-Type and User-Agent;
-- - credentials in URLs (`https://user:pass@host` → `https://***@host`);
-- - values of query parameters whose names contain token, key, secret,
--   password, passwd, auth, signature, session or cookie, wherever a URL
--   appears: in a message, or in a server body quoted in one.
--
-- Secrets are registered by moonsync.http as clients are made; nothing can
-- unregister one, and the list is never exposed.
-- @module moonsync.redact
local type, tostring, ipairs, pairs, sort = type, tostring, ipairs, pairs, table.sort
local sfind, ssub, sgsub, slower = string.find, string.sub, string.gsub, string.lower
local concat = table.concat

local M = {}

local known, list, strong = {}, {}, {}

local SENSITIVE = { "token", "key", "secret", "password", "passwd", "auth", "signature",
                    "session", "cookie" }
local HARMLESS = { accept = true, ["content-type"] = true, ["user-agent"] = true,
                   ["accept-encoding"] = true }

--- Is a header or parameter name one whose values are secrets?
function M.sensitive(name)
  name = slower(tostring(name))
  for _, w in ipairs(SENSITIVE) do
    if sfind(name, w, 1, true) then return true end
  end
  return false
end

--- Registers a secret value. `is_strong` marks credentials (tokens, values
-- of headers with sensitive names): a plan holding one is not written.
function M.add(value, is_strong)
  if type(value) ~= "string" or value == "" then return end
  if is_strong then strong[value] = true end
  if known[value] then return end
  known[value] = true
  list[#list + 1] = value
  -- longest first: a secret that contains another is masked whole
  sort(list, function(a, b) return #a > #b end)
end

--- Registers the values of configured headers (name -> value).
function M.add_headers(headers)
  for name, v in pairs(headers or {}) do
    if not HARMLESS[slower(tostring(name))] then M.add(tostring(v), M.sensitive(name)) end
  end
end

local function isword(c) return c ~= "" and sfind(c, "^[%w_]") ~= nil end

-- Replaces each occurrence of secret in s that stands as a word of its
-- own (no letter, digit or _ right before or after) by ***.
local function mask(s, secret)
  local out, pos, n = {}, 1, #secret
  while true do
    local a, b = sfind(s, secret, pos, true)
    if not a then break end
    if not isword(ssub(s, a - 1, a - 1)) and not isword(ssub(s, b + 1, b + 1)) then
      out[#out + 1] = ssub(s, pos, a - 1)
      out[#out + 1] = "***"
    else
      out[#out + 1] = ssub(s, pos, b)
    end
    pos = b + 1
    if n == 0 then break end
  end
  out[#out + 1] = ssub(s, pos)
  return concat(out)
end

--- The text with every secret, URL credential and sensitive query value
-- masked.
function M.text(s)
  s = tostring(s)
  for _, secret in ipairs(list) do
    if sfind(s, secret, 1, true) then s = mask(s, secret) end
  end
  -- each pattern only where the text can hold it (long texts: diffs)
  if sfind(s, "://", 1, true) then
    s = sgsub(s, "://[^/@%s\"'<>]+@", "://***@")
  end
  if sfind(s, "=", 1, true) then
    s = sgsub(s, "([?&;])([%w_.%-%%]+)=([^&#%s\"'<>;,]*)", function(sep, k, v)
      if v ~= "" and v ~= "***" and M.sensitive(k) then return sep .. k .. "=***" end
      return nil
    end)
  end
  return s
end

--- Does the text hold a credential (a token, or the value of a header
-- with a sensitive name)?
function M.has_credential(s)
  for _, secret in ipairs(list) do
    if strong[secret] and sfind(s, secret, 1, true) then return true end
  end
  return false
end

return M
