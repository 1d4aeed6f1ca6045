--- HTTP client for adapters: concurrent requests over one libcurl multi
-- handle (keep-alive), retries with backoff and jitter (429, 5xx,
-- connection errors; Retry-After honoured), pagination of the common REST
-- styles, and secrets kept out of every error message. A hostile server
-- gets nothing: only http and https are spoken, links and redirects that
-- leave the client's origin are refused unless allowed (and never carry
-- its credentials), and every response is bounded (max_body).
--
--   local http = require "moonsync.http"
--   local c = http.client { base_url = "http://127.0.0.1:3000",
--                           token_env = "NAUTOBOT_TOKEN", concurrency = 8 }
--   local devices = c:get_all("/api/dcim/devices/")
-- @module moonsync.http
local core = require "moonsync.core"
local ms = require "moonsync"
local redact = require "moonsync.redact"

local fmt, concat = string.format, table.concat
local type, pairs, ipairs, tostring, tonumber = type, pairs, ipairs, tostring, tonumber
local url_origin, url_join = core.url_origin, core.url_join

local M = {}

local Client = { __metatable = "moonsync.http.Client" }
Client.__index = Client

local Response = { __metatable = "moonsync.http.Response" }
Response.__index = Response

--- The body decoded as JSON (integers stay integers, floats floats; null
-- inside containers is ms.null). Raises a ParseError naming the URL.
-- `shape` ({key = true | shape}, applied to each item of a list) keeps
-- only the members it names: a page of wide records costs what is read
-- of it. The first decoding is kept, with or without a shape.
function Response:json(shape)
  if self._json == nil then
    local ok, v = pcall(core.json_decode, self.body, self.method .. " " .. self.url, shape)
    if not ok then
      error(ms.error("HTTPError", fmt("%s %s: malformed JSON in the response: %s",
        self.method, self.url, ms.is_error(v) and v.message or tostring(v)),
        { status = self.status, url = self.url }), 2)
    end
    self._json = v
  end
  return self._json
end

-- {====== URLs and secrets ======}

local function urlencode(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return fmt("%%%02X", c:byte()) end))
end

local function querystring(q)
  if not q then return "" end
  local keys = {}
  for k in pairs(q) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = q[k]
    if type(v) == "table" then
      for _, item in ipairs(v) do parts[#parts + 1] = urlencode(k) .. "=" .. urlencode(item) end
    else
      parts[#parts + 1] = urlencode(k) .. "=" .. urlencode(v)
    end
  end
  return concat(parts, "&")
end

local function addquery(url, q)
  local qs = querystring(q)
  if qs == "" then return url end
  return url .. (url:find("?", 1, true) and "&" or "?") .. qs
end

--- A URL fit for messages: credentials and secret query values masked
-- (moonsync.redact).
function M.redact_url(url)
  return redact.text(url)
end

-- {====== the client ======}

local client_keys = {
  base_url = true, headers = true, concurrency = true, timeout = true,
  connect_timeout = true, retries = true, backoff = true, backoff_max = true,
  rate = true, insecure = true, ca_file = true, proxy = true,
  retry_unsafe = true, user_agent = true, token = true, token_env = true,
  token_prefix = true, token_header = true, token_scheme = true, max_body = true, max_pages = true,
  allow_origins = true, rebase_links = true, session = true,
}

local HARMLESS = { accept = true, ["content-type"] = true, ["user-agent"] = true }

local DEFAULT_MAX_PAGES = 10000

--- Creates a client.
-- @tparam table opts `base_url`, `headers` (table), `concurrency` (4),
-- `timeout` (seconds, 30), `connect_timeout` (10), `retries` (3),
-- `backoff` (first delay, 0.5 s), `backoff_max` (30 s), `rate`
-- (requests per second cap), `insecure` (skip TLS verification: must be
-- explicit), `ca_file`, `proxy` (default: the environment's), `retry_unsafe`
-- (also retry POST/PATCH), `user_agent`, `token` or `token_env` (name of
-- an environment variable) with `token_header` ("Authorization") and
-- `token_prefix` ("Token "; `token_scheme = "netbox"` picks "Bearer "
-- for v2 tokens, nbt_...), `max_body` (bytes of a response body once
-- decompressed, 256 MiB), `max_pages` (pages one get_all may fetch,
-- 10,000), `allow_origins` (other origins, "https://host[:port]", that
-- links and redirects may lead to: they get no credentials),
-- `rebase_links` (send the path and query of a link to another origin to
-- base_url instead: for APIs behind a proxy), `session` (a login session:
-- `{ login = function(client) -> token, header = "Cookie", prefix =
-- "APIC-cookie=", expired = function(response) -> bool }`: the client logs
-- in before its first request and sends the token in `header`; requests a
-- response says were refused for an expired session (by default a 401 or
-- 403) are sent again after a new login, as long as each round gets some
-- through; the login's own requests pass `nosession = true`)
function M.client(opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("http.client: expected an options table", 2) end
  for k in pairs(opts) do
    if not client_keys[k] then error(fmt("http.client: unknown option '%s'", tostring(k)), 2) end
  end
  if opts.insecure ~= nil and type(opts.insecure) ~= "boolean" then
    error("http.client: 'insecure' must be true or false", 2)
  end
  if opts.insecure then
    -- never silent: say it every time a client is made this way
    io.stderr:write(("moonsync: warning: TLS certificate verification is disabled for %s (insecure = true)\n")
                    :format(M.redact_url(opts.base_url or "all requests")))
  end
  local token = opts.token
  if token == nil and opts.token_env then
    -- the job's permissions decide, whoever asks for the variable
    token = core.getenv(opts.token_env)
    if token == nil or token == "" then
      error(fmt("http.client: environment variable %s (token_env) is not set", opts.token_env), 2)
    end
  end
  local headers, creds = {}, {}
  for k, v in pairs(opts.headers or {}) do
    headers[k] = v
    -- a configured header is a credential unless it is plainly not one
    if not HARMLESS[tostring(k):lower()] then creds[k] = true end
  end
  local token_header = opts.token_header or "Authorization"
  if token then
    local prefix = opts.token_prefix
    if prefix == nil then
      -- NetBox 4.5+ v2 tokens (nbt_...) are bearer tokens
      prefix = (opts.token_scheme == "netbox" and token:match("^nbt_")) and "Bearer " or "Token "
    end
    headers[token_header] = prefix .. token
    creds[token_header] = true
    redact.add(token, true)
  end
  redact.add_headers(opts.headers)
  local base = (opts.base_url or ""):gsub("/+$", "")
  local origin
  if base ~= "" then
    local why
    origin, why = url_origin(base)
    if not origin then error(fmt("http.client: base_url %s: %s", redact.text(base), why), 2) end
  end
  local allow = {}
  for i, o in ipairs(opts.allow_origins or {}) do
    local norm, why = url_origin(o)
    if not norm then error(fmt("http.client: allow_origins[%d] %s: %s", i, tostring(o), why), 2) end
    allow[norm] = true
  end
  if opts.max_pages ~= nil and (math.type(opts.max_pages) ~= "integer" or opts.max_pages < 1) then
    error("http.client: 'max_pages' must be a positive integer", 2)
  end
  local session = opts.session
  if session ~= nil then
    if type(session) ~= "table" or type(session.login) ~= "function" then
      error("http.client: 'session' must be a table with a login function", 2)
    end
    session = { login = session.login, header = session.header or "Authorization", prefix = session.prefix or "",
                expired = session.expired or function(r) return r.status == 401 or r.status == 403 end }
  end
  local self = setmetatable({
    base_url = base,
    origin = origin,
    allow_origins = allow,
    rebase_links = opts.rebase_links and true or false,
    max_pages = opts.max_pages or DEFAULT_MAX_PAGES,
    headers = headers,
    credentials = creds,
    session = session,
    core = core.http_client {
      timeout = opts.timeout, connect_timeout = opts.connect_timeout,
      concurrency = opts.concurrency, retries = opts.retries,
      backoff = opts.backoff, backoff_max = opts.backoff_max, rate = opts.rate,
      insecure = opts.insecure, ca_file = opts.ca_file, proxy = opts.proxy,
      retry_unsafe = opts.retry_unsafe, max_body = opts.max_body,
      user_agent = opts.user_agent or ("moonsync/" .. core.version),
    },
  }, Client)
  return self
end

function Client:_url(path)
  if path:match("^%a[%w+.-]*://") then return path end
  if (self.base_url or "") == "" then
    error(ms.error("HTTPError", fmt("%s: a path, and the HTTP client has no base_url to put it "
      .. "after (give base_url, or a whole URL)", path)), 0)
  end
  if path:sub(1, 1) ~= "/" then path = "/" .. path end
  return self.base_url .. path
end

-- The path and query of an absolute URL.
local function path_of(url)
  return url:match("^%a[%w+.-]*://[^/?#]*(.*)$") or url
end

--- Where a link or redirect found in the response to `from` leads: the
-- absolute URL and whether the client's credentials may go along. Links
-- within the client's origin (base_url's scheme, host and port; without a
-- base_url, that of `from`) are followed with credentials; with
-- rebase_links a link elsewhere keeps its path and query and goes to the
-- client's origin; an origin in allow_origins is followed without
-- credentials; any other raises HTTPError naming both origins.
function Client:_follow_url(from, link)
  local abs, why = url_join(from, link)
  local origin
  if abs then origin, why = url_origin(abs) end
  if not origin then
    error(ms.error("HTTPError", redact.text(fmt("%s: the server links to %s, which is not followed: %s",
      from, tostring(link), why))), 0)
  end
  local home = self.origin or url_origin(from)
  if origin == home then return abs, true end
  if self.rebase_links then return home .. path_of(abs), true end
  if self.allow_origins[origin] then return abs, false end
  error(ms.error("HTTPError", redact.text(fmt("%s: the server links to %s, outside this client's "
    .. "origin %s: not followed (allow it with allow_origins = {%q}, or send links to base_url "
    .. "with rebase_links = true)", from, origin, home, origin)), { url = redact.text(abs) }), 0)
end

local function parse_head(head)
  local h = {}
  for line in head:gmatch("[^\r\n]+") do
    local k, v = line:match("^([^:%s]+):%s*(.-)%s*$")
    if k then
      k = k:lower()
      h[k] = h[k] and (h[k] .. ", " .. v) or v
    end
  end
  return h
end

--- Stands for an empty JSON list in a request body (cjson writes an empty
-- table as {}).
M.EMPTY_LIST = "\0moonsync:[]\0"
local EMPTY_JSON = '"\\u0000moonsync:[]\\u0000"'

local function encode_body(body, headers)
  if body == nil or type(body) == "string" then return body end
  headers["Content-Type"] = headers["Content-Type"] or "application/json"
  local text = require("cjson").encode(body)
  if text:find(EMPTY_JSON, 1, true) then text = text:gsub(EMPTY_JSON:gsub("%p", "%%%0"), "[]") end
  return text
end

-- Builds the core request for (method, path, opts). opts.nocreds: the
-- URL is another origin's, so the credential headers stay home.
function Client:_prepare(method, path, opts)
  opts = opts or {}
  local url = addquery(self:_url(path), opts.query)
  local hdrs = {}
  for k, v in pairs(self.headers) do
    if not (opts.nocreds and self.credentials[k]) then hdrs[k] = v end
  end
  for k, v in pairs(opts.headers or {}) do hdrs[k] = v end
  local body = encode_body(opts.json ~= nil and opts.json or opts.body, hdrs)
  if hdrs.Accept == nil and hdrs.accept == nil then hdrs.Accept = "application/json" end
  local lines = {}
  for k, v in pairs(hdrs) do lines[#lines + 1] = k .. ": " .. tostring(v) end
  return { method = method, url = url, headers = lines, body = body, nocreds = opts.nocreds,
           hdrs = hdrs, nosession = opts.nosession }
end

-- The session's login: a new token, sent from now on.
function Client:_login()
  local s = self.session
  local ok, token = pcall(s.login, self)
  if not ok then
    error(ms.is_error(token) and token or ms.error("HTTPError", redact.text("session login: " .. tostring(token))), 0)
  end
  if type(token) ~= "string" or token == "" then
    error(ms.error("HTTPError", "session login: the login function gave no token"), 0)
  end
  redact.add(token, true)
  self.session_token = token
  self.headers[s.header] = s.prefix .. token
  self.credentials[s.header] = true
end

-- A prepared request with the session's current token.
function Client:_with_session(req)
  if req.nosession or req.nocreds then return req end
  local s = self.session
  req.hdrs[s.header] = s.prefix .. self.session_token
  local lines = {}
  for k, v in pairs(req.hdrs) do lines[#lines + 1] = k .. ": " .. tostring(v) end
  req.headers = lines
  return req
end

function Client:_response(req, raw)
  return setmetatable({ status = raw.status, headers = parse_head(raw.head),
    body = raw.body, attempts = raw.attempts, method = req.method,
    url = redact.text(req.url), _url = req.url }, Response)
end

local REDIRECT = { [301] = true, [302] = true, [303] = true, [307] = true, [308] = true }
local MAX_REDIRECTS = 10

-- Performs prepared requests, following redirects of GET and HEAD
-- requests origin by origin (_follow_url). A refused or endless
-- redirect becomes that request's transport error.
function Client:_run(prepared, each)
  local s = self.session
  local sessioned = false
  for _, req in ipairs(prepared) do sessioned = sessioned or not req.nosession end
  if not (s and sessioned) then return self:_perform(prepared, each) end
  if not self.session_token then self:_login() end
  for _, req in ipairs(prepared) do self:_with_session(req) end
  local raws = self:_perform(prepared, each)
  -- refused for an expired session: logged in again and sent again; a
  -- round in which none gets through (a login the server does not take)
  -- ends it, so a request refused then fails as it was answered
  for _ = 1, #prepared do
    local again, idx = {}, {}
    for i, raw in ipairs(raws) do
      local req = prepared[i]
      if not raw.error and not req.nosession and s.expired(self:_response(req, raw)) then
        again[#again + 1], idx[#idx + 1] = req, i
      end
    end
    if #again == 0 then break end
    self:_login()
    for _, req in ipairs(again) do self:_with_session(req) end
    local next_raws = self:_perform(again, each and function(k, response) return each(idx[k], response) end)
    local progress = false
    for k, i in ipairs(idx) do
      raws[i] = next_raws[k]
      progress = progress or next_raws[k].error ~= nil or not s.expired(self:_response(again[k], next_raws[k]))
    end
    if not progress then break end
  end
  return raws
end

function Client:_perform(prepared, each)
  -- a final success goes to each(i, response) as it arrives
  local function deliver(req, i, raw)
    if not raw.error and raw.status >= 200 and raw.status < 300 then
      raw.response = self:_response(req, raw)
      each(i, raw.response)
    end
  end
  local raws = self.core:perform(prepared, each and function(i, raw)
    return deliver(prepared[i], i, raw)
  end)
  for hop = 1, MAX_REDIRECTS + 1 do
    local again, idx = {}, {}
    for i, raw in ipairs(raws) do
      local req = prepared[i]
      local loc = not raw.error and REDIRECT[raw.status]
                  and (req.method == "GET" or req.method == "HEAD")
                  and parse_head(raw.head).location
      if loc then
        local ok, url, creds = pcall(self._follow_url, self, req.url, loc)
        if not ok then
          raw.error = ms.is_error(url) and url.message or tostring(url)
        elseif hop > MAX_REDIRECTS then
          raw.error = fmt("more than %d redirects", MAX_REDIRECTS)
        else
          local nreq = self:_prepare(req.method, url, { nocreds = not creds or req.nocreds })
          again[#again + 1], idx[#idx + 1] = nreq, i
        end
      end
    end
    if #again == 0 then break end
    local next_raws = self.core:perform(again, each and function(k, raw)
      return deliver(again[k], idx[k], raw)
    end)
    for k, i in ipairs(idx) do
      prepared[i], raws[i] = again[k], next_raws[k]
      raws[i].attempts = raws[i].attempts + hop
    end
  end
  return raws
end

-- The error for a request that finally failed.
function Client:_error(req, raw)
  local url = redact.text(req.url)
  local msg
  if raw.error then
    msg = fmt("%s %s: %s after %d attempt%s", req.method, url, raw.error,
              raw.attempts, raw.attempts == 1 and "" or "s")
  else
    local snippet = (raw.body or ""):sub(1, 200):gsub("%s+", " ")
    msg = fmt("%s %s: HTTP %d after %d attempt%s%s", req.method, url, raw.status,
              raw.attempts, raw.attempts == 1 and "" or "s",
              snippet ~= "" and (": " .. snippet) or "")
  end
  return ms.error("HTTPError", redact.text(msg), { status = raw.status, method = req.method,
    url = url, attempts = raw.attempts })
end

local function good(raw, opts)
  if raw.error then return false end
  if opts and opts.ok then
    for _, s in ipairs(opts.ok) do if s == raw.status then return true end end
    return false
  end
  -- a redirect still standing (not followed: not a GET, or refused)
  -- is no success
  return raw.status >= 200 and raw.status < 300
end

--- Performs one request; returns the response, or raises HTTPError when it
-- finally fails (transport error, or a status outside 2xx/3xx or opts.ok).
-- opts: `query`, `headers`, `json` (a table sent as JSON), `body`, `ok`
-- (acceptable statuses), `raise = false` (return failures as responses).
function Client:request(method, path, opts)
  local req = self:_prepare(method, path, opts)
  local prepared = { req }
  local raw = self:_run(prepared)[1]
  req = prepared[1]
  if not good(raw, opts) and not (opts and opts.raise == false) then
    error(self:_error(req, raw), 2)
  end
  local r = self:_response(req, raw)
  r.error = raw.error and redact.text(raw.error) or nil
  return r
end

function Client:get(path, opts) return self:request("GET", path, opts) end
function Client:delete(path, opts) return self:request("DELETE", path, opts) end
function Client:post(path, tbl, opts)
  opts = opts or {}
  opts.json = tbl
  return self:request("POST", path, opts)
end
function Client:put(path, tbl, opts)
  opts = opts or {}
  opts.json = tbl
  return self:request("PUT", path, opts)
end
function Client:patch(path, tbl, opts)
  opts = opts or {}
  opts.json = tbl
  return self:request("PATCH", path, opts)
end

--- Performs many requests concurrently (at most `concurrency` in flight).
-- reqs: list of {method, path, query=, headers=, json=, body=, ok=}.
-- Returns, in request order, `{ok = true, response = r}` or
-- `{ok = false, error = err, response = r-or-nil}` (with `unsent = true`
-- for a request an interrupt kept from being sent); never raises for a
-- failed request. each(i, response), if given, gets each 2xx response as
-- it arrives (see get_many).
function Client:request_many(reqs, each)
  local prepared = {}
  for i, r in ipairs(reqs) do
    prepared[i] = self:_prepare(r.method or r[1] or "GET", r.path or r[2], r)
  end
  local raws = self:_run(prepared, each)
  local out = {}
  for i, raw in ipairs(raws) do
    if good(raw, reqs[i]) then
      out[i] = { ok = true, response = raw.response or self:_response(prepared[i], raw) }
    else
      out[i] = { ok = false, error = self:_error(prepared[i], raw),
                 response = not raw.error and self:_response(prepared[i], raw) or nil,
                 unsent = raw.unsent or nil }
    end
  end
  return out
end

--- GETs many paths concurrently; returns the responses in order. Raises
-- HTTPError if any request failed (naming how many), so a partial result
-- is never passed off as complete. `opts.each(i, response)` is called with
-- each success as it arrives, while the others are in flight (what it
-- does overlaps the waiting); it may not use this client.
function Client:get_many(paths, opts)
  local reqs = {}
  for i, p in ipairs(paths) do
    local r = { method = "GET", path = type(p) == "table" and p.path or p }
    if type(p) == "table" then r.query, r.nocreds = p.query, p.nocreds end
    if opts then r.headers, r.ok = opts.headers, opts.ok end
    if opts and opts.query then
      r.query = r.query or {}
      for k, v in pairs(opts.query) do r.query[k] = r.query[k] == nil and v or r.query[k] end
    end
    reqs[i] = r
  end
  local res = self:request_many(reqs, opts and opts.each)
  local out, failed, first = {}, 0, nil
  for i, r in ipairs(res) do
    if r.ok then out[i] = r.response else failed = failed + 1; first = first or r.error end
  end
  if failed > 0 then
    error(ms.error("HTTPError", fmt("%d of %d requests failed; first: %s", failed, #paths,
      first.message), { status = first.status, url = first.url }), 2)
  end
  return out
end

-- {====== pagination ======}

local function query_of(url)
  local q = {}
  for k, v in (url:match("%?(.*)$") or ""):gmatch("([^=&]+)=([^&]*)") do q[k] = v end
  return q
end

local function setparam(url, key, value)
  local base, qs = url:match("^([^?]*)%??(.*)$")
  local parts, found = {}, false
  for kv in qs:gmatch("[^&]+") do
    local k = kv:match("^([^=]*)")
    if k == key then
      parts[#parts + 1] = key .. "=" .. urlencode(value)
      found = true
    else
      parts[#parts + 1] = kv
    end
  end
  if not found then parts[#parts + 1] = key .. "=" .. urlencode(value) end
  return base .. "?" .. concat(parts, "&")
end

local function links(header)
  local out = {}
  for part in (header or ""):gmatch("[^,]+") do
    local url, rel = part:match("<([^>]*)>.-rel%s*=%s*\"?([%w%s]+)\"?")
    if url then
      for r in rel:gmatch("%S+") do out[r] = url end
    end
  end
  return out
end

local function append(dst, src)
  for _, v in ipairs(src) do dst[#dst + 1] = v end
end

local function records_of(r, key)
  local j = r:json()
  if type(j) ~= "table" then
    error(ms.error("HTTPError", fmt("%s %s: expected a JSON list or object of records", r.method, r.url)), 0)
  end
  if key then
    local v = j[key]
    if type(v) ~= "table" then
      error(ms.error("HTTPError", fmt("%s %s: the response has no '%s' list", r.method, r.url, key)), 0)
    end
    return v
  end
  if j[1] ~= nil or next(j) == nil then return j end
  if type(j.results) == "table" then return j.results end
  if type(j.data) == "table" then return j.data end
  error(ms.error("HTTPError", fmt("%s %s: cannot find the records in the response", r.method, r.url)), 0)
end

local function pageerror(url, what, ...)
  return ms.error("HTTPError", fmt("GET %s: " .. what, url, ...))
end

-- Follows `next` links one page at a time (when the pages cannot be
-- computed ahead). Every link goes through _follow_url (origins); a URL
-- seen twice is a loop; it stops with an error past max_pages, or past the
-- pages the server's announced count allows (plus one of slack).
function Client:_follow(first, nextof, key, count)
  local out, r, seen, pages = {}, first, { [first._url] = true }, 0
  local limit, slack = self.max_pages, nil
  while true do
    local recs = records_of(r, key)
    append(out, recs)
    pages = pages + 1
    slack = slack or math.max(#recs, 1)
    local nxt = nextof(r)
    if not nxt or nxt == "" or nxt == core.null then break end
    if count and #out > count + slack then
      -- its links lead past the records the server announced
      error(pageerror(first.url, "the pages hold more records (%d) than the server announced (%d): "
                      .. "the pagination does not end", #out, count), 0)
    end
    if pages >= limit then
      error(pageerror(first.url, "more than %d pages (max_pages)", limit), 0)
    end
    local url, creds = self:_follow_url(r._url, nxt)
    if seen[url] then
      error(ms.error("HTTPError", "pagination loops back to " .. redact.text(url)), 0)
    end
    seen[url] = true
    r = self:get(url, { nocreds = not creds })
  end
  return out
end

-- A record count announced by a server, checked before it sizes anything.
local function announced(v, what, url)
  local n = tonumber(v)
  if not n or n ~= n or n < 0 or n > 2^53 or math.floor(n) ~= n then
    error(ms.error("HTTPError", fmt("GET %s: the server announced %s %s", url, what, tostring(v))), 0)
  end
  return math.tointeger(n)
end

function Client:_pagecount(total, size, url)
  local pages = math.ceil(total / size)
  if pages > self.max_pages then
    error(pageerror(url, "%d records in pages of %d is more than %d pages (max_pages)",
                    total, size, self.max_pages), 0)
  end
  return pages
end

-- Fetches the remaining pages concurrently and appends their records.
function Client:_pages(out, urls, key)
  for _, r in ipairs(self:get_many(urls)) do append(out, records_of(r, key)) end
  return out
end

local STYLES = { auto = true, netbox = true, link = true, page = true,
                 ["json-server"] = true, offset = true, none = true }

--- Every record across pages.
-- @tparam string path
-- @tparam[opt] table opts `pagination`: "auto" (default: detected from the
-- first response), "netbox" (count/next/results, offset+limit; also
-- Nautobot), "link" (RFC 8288 Link headers), "page" (json-server 0.17:
-- _page/_limit with X-Total-Count), "json-server" (1.x: _page/_per_page
-- envelopes with data/pages), "offset" (offset/limit over plain arrays),
-- "none"; `page_size` (100); `query`; `results_key` (where the records
-- are in an envelope)
function Client:get_all(path, opts)
  opts = opts or {}
  local style = opts.pagination or "auto"
  if not STYLES[style] then error(fmt("get_all: unknown pagination style '%s'", tostring(style)), 2) end
  local size = opts.page_size or 100
  local key = opts.results_key
  local q = {}
  for k, v in pairs(opts.query or {}) do q[k] = v end
  if style == "netbox" then q.limit, q.offset = size, 0
  elseif style == "page" then q._page, q._limit = 1, size
  elseif style == "json-server" then q._page, q._per_page = 1, size
  elseif style == "offset" then q.offset, q.limit = 0, size end
  local first = self:get(path, { query = q, headers = opts.headers })
  local body = first:json()
  local out = {}
  if style == "none" then return records_of(first, key) end

  -- NetBox / Nautobot: {count, next, previous, results}
  if (style == "netbox" or style == "auto") and type(body) == "table"
      and type(body.results) == "table" and body.count ~= nil then
    local results = body.results
    append(out, results)
    local count = announced(body.count, "a count of", first.url)
    local nxt = body.next ~= core.null and body.next or nil
    if type(nxt) ~= "string" or #out >= count then return out end
    local url, creds = self:_follow_url(first._url, nxt)
    local nq = query_of(url)
    local limit = math.tointeger(tonumber(nq.limit)) or #results
    if limit < 1 or not nq.offset then
      return self:_follow(first, function(r)
        local n = r:json().next
        return type(n) == "string" and n or nil
      end, "results", count)
    end
    self:_pagecount(count, limit, first.url)
    local urls = {}
    for off = #results, count - 1, limit do
      urls[#urls + 1] = { path = setparam(setparam(url, "offset", off), "limit", limit),
                          nocreds = not creds }
    end
    self:_pages(out, urls, "results")
    if #out ~= count then
      error(ms.error("HTTPError", fmt("GET %s: expected %d records, got %d (the data changed while paging?)",
        first.url, count, #out)), 2)
    end
    return out
  end

  -- json-server 1.x: {first, prev, next, last, pages, items, data}
  if (style == "json-server" or style == "auto") and type(body) == "table"
      and type(body.data) == "table" and body.pages ~= nil then
    append(out, body.data)
    local urls = {}
    local pages = announced(body.pages, "a page count of", first.url)
    self:_pagecount(pages, 1, first.url)
    for p = 2, pages do
      local pq = {}
      for k, v in pairs(q) do pq[k] = v end
      pq._page, pq._per_page = p, q._per_page or #body.data
      urls[#urls + 1] = addquery(self:_url(path), pq)
    end
    return self:_pages(out, urls, "data")
  end

  local link = links(first.headers.link)
  local total = first.headers["x-total-count"]
  total = total and announced(total, "X-Total-Count", first.url)
  -- json-server 0.17: _page/_limit with X-Total-Count
  if (style == "page" or (style == "auto" and total and link.next)) and total then
    local recs = records_of(first, key)
    append(out, recs)
    local nurl, creds
    if link.next then nurl, creds = self:_follow_url(first._url, link.next) end
    local limit = math.tointeger(tonumber(q._limit) or tonumber(query_of(nurl or "")._limit))
                  or #recs
    if limit < 1 then return out end
    local urls = {}
    for p = 2, self:_pagecount(total, limit, first.url) do
      if nurl then
        urls[#urls + 1] = { path = setparam(setparam(nurl, "_page", p), "_limit", limit),
                            nocreds = not creds }
      else
        local pq = {}
        for k, v in pairs(q) do pq[k] = v end
        pq._page, pq._limit = p, limit
        urls[#urls + 1] = addquery(self:_url(path), pq)
      end
    end
    self:_pages(out, urls, key)
    if #out ~= total then
      error(ms.error("HTTPError", fmt("GET %s: expected %d records, got %d (the data changed while paging?)",
        first.url, total, #out)), 2)
    end
    return out
  end

  -- RFC 8288 Link headers: follow rel="next"
  if (style == "link" or style == "auto") and link.next then
    return self:_follow(first, function(r) return links(r.headers.link).next end, key, total)
  end

  -- offset/limit over plain arrays: stop at a short page
  if style == "offset" then
    local recs = records_of(first, key)
    append(out, recs)
    local off, pages = #recs, 1
    while #recs >= size do
      pages = pages + 1
      if pages > self.max_pages then
        error(pageerror(first.url, "more than %d pages (max_pages)", self.max_pages), 0)
      end
      local pq = {}
      for k, v in pairs(q) do pq[k] = v end
      pq.offset = off
      recs = records_of(self:get(path, { query = pq, headers = opts.headers }), key)
      append(out, recs)
      off = off + #recs
    end
    return out
  end

  -- not paginated: the response holds everything
  return records_of(first, key)
end

M.Client = Client
return M
