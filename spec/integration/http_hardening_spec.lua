-- HTTP hardening against servers built to misbehave (spec/servers/
-- test_server.js, "hostile" routes): credentials stay home, no local file
-- is read, responses are bounded, loops end, secrets never echo.
local h = require "helpers"
local cjson = require "cjson"

local TOKEN = "tok-3f9a8c71e2d4b6a0"
local ASAN = os.getenv("MOONSYNC_ASAN") == "1"

describe("HTTP hardening #http", function()
  local a, b, dir
  local have = h.have_node()
  setup(function()
    if not have then return end
    a = h.server("test_server")
    b = h.server("test_server")
  end)
  teardown(function()
    if a then a.stop() end
    if b then b.stop() end
  end)
  before_each(function()
    if not have then pending("needs Node.js: run scripts/install-deps") end
    dir = h.tmpdir()
  end)
  after_each(h.cleanup)

  -- Runs Lua (with `http`, `ms`, `A` and `B` the two servers' URLs) as a
  -- trusted script; returns the result and the peak RSS in KiB.
  local function script(body)
    local s = h.write(dir .. "/s.lua", ([[
      local ms = require "moonsync"
      local http = require "moonsync.http"
      local A, B, TOKEN = %q, %q, %q
      %s]]):format(a.url, b.url, TOKEN, body))
    local rss, out, err = dir .. "/rss", dir .. "/out", dir .. "/err"
    -- /usr/bin/time measures; the sanitizer preload (check-asan) is for
    -- moonsync only
    local cmd = table.concat({ "env", "-u", "LD_PRELOAD", "/usr/bin/time", "-f", "%M", "-o",
      h.quote(rss), "env", "LD_PRELOAD=" .. h.quote(os.getenv("LD_PRELOAD") or ""),
      h.quote(h.bin), "run", h.quote(s) }, " ")
    local _, how, code = os.execute(cmd .. " >" .. h.quote(out) .. " 2>" .. h.quote(err))
    local r = { code = how == "exit" and code or 128 + code, stdout = h.read(out) or "",
                stderr = h.read(err) or "" }
    return r, tonumber((h.read(rss) or ""):match("(%d+)%s*$"))
  end

  local function seen(srv)
    return cjson.decode(h.fetch(srv.url .. "/seen"))
  end

  describe("origins", function()
    it("refuses a next link or Link header to another origin, naming both", function()
      for _, route in ipairs { "/other-next", "/other-link", "/redirect" } do
        local r = script(([[
          local c = http.client { base_url = A, token = TOKEN }
          local ok, err = pcall(c.get_all, c, "%s?to=" .. B)
          print(ok, err)]]):format(route))
        assert.equals(0, r.code, r.stderr)
        assert.matches("false", r.stdout)
        assert.matches("outside this client's origin http://127%.0%.0%.1:" .. a.port, r.stdout)
        assert.matches("links to http://127%.0%.0%.1:" .. b.port, r.stdout)
      end
      assert.same({}, seen(b))
    end)

    it("follows an allowed origin without credentials, and rebases links to base_url", function()
      local r = script([[
        local c = http.client { base_url = A, token = TOKEN, headers = { ["X-Api-Key"] = "k9" },
                                allow_origins = { B } }
        assert(#c:get_all("/other-next?to=" .. B) == 2)
        assert(#c:get_all("/other-link?to=" .. B, { pagination = "link" }) == 2)
        assert(c:get("/redirect?to=" .. B):json().results[1].name == "collected")
        local rb = http.client { base_url = A, token = TOKEN, rebase_links = true }
        assert(#rb:get_all("/other-next?to=" .. B) == 2)
        print("ok")]])
      assert.equals(0, r.code, r.stderr)
      local got = seen(b)
      assert.equals(3, #got)
      for _, s in ipairs(got) do
        assert.equals(cjson.null, s.authorization)
        assert.equals(cjson.null, s["x-api-key"])
      end
      -- the rebased link went to A, with the token
      local home = seen(a)
      assert.equals(1, #home)
      assert.equals("Token " .. TOKEN, home[1].authorization)
    end)
  end)

  it("never reads a local file named by a link", function()
    local r = script([[
      local c = http.client { base_url = A }
      local ok, err = pcall(c.get_all, c, "/file-link", { pagination = "link" })
      print(ok, err)]])
    assert.equals(0, r.code, r.stderr)
    assert.matches("false", r.stdout)
    assert.matches("only http and https", r.stdout)
    local f = io.open("/etc/hostname")
    local host = f and f:read("l")
    if f then f:close() end
    if host and #host > 3 then assert.is_nil(r.stdout:find(host, 1, true)) end
  end)

  describe("bounds", function()
    it("stops an endless body at max_body, within max_body of memory", function()
      local r, rss = script([[
        local c = http.client { base_url = A, max_body = 16 * 1024 * 1024, timeout = 60 }
        local t0 = ms.core.now()
        local ok, err = pcall(c.get, c, "/endless")
        print(ok, err, ms.core.now() - t0)]])
      assert.equals(0, r.code, r.stderr)
      assert.matches("false.*HTTPError: GET http://127%.0%.0%.1:%d+/endless: the response body "
                     .. "exceeds max_body %(16777216 bytes%)", r.stdout)
      assert.truthy(rss, "no RSS measured")
      -- the process itself takes about 10 MiB; the body at most 16 (the
      -- sanitizers of check-asan take their own memory: not measured there)
      if not ASAN then assert.is_true(rss < (16 + 24) * 1024, "peak RSS " .. tostring(rss) .. " KiB") end
    end)

    it("stops a gzip bomb at max_body after decompression", function()
      local r, rss = script([[
        local c = http.client { base_url = A, max_body = 8 * 1024 * 1024, timeout = 60 }
        local ok, err = pcall(c.get, c, "/gzip-bomb?mib=1024")
        print(ok, err)]])
      assert.equals(0, r.code, r.stderr)
      assert.matches("exceeds max_body %(8388608 bytes%)", r.stdout)
      if not ASAN then assert.is_true(rss < (8 + 24) * 1024, "peak RSS " .. tostring(rss) .. " KiB") end
    end)

    it("ends paging loops within seconds", function()
      local r = script([[
        local t0 = ms.core.now()
        local c = http.client { base_url = A }
        local ok1, e1 = pcall(c.get_all, c, "/loop-count")
        local lc = http.client { base_url = A, max_pages = 50 }
        local ok2, e2 = pcall(lc.get_all, lc, "/loop-link", { pagination = "link" })
        print(ok1, e1)
        print(ok2, e2)
        print("took", ms.core.now() - t0)]])
      assert.equals(0, r.code, r.stderr)
      assert.matches("the pages hold more records %(5%) than the server announced %(3%)", r.stdout)
      assert.matches("more than 50 pages %(max_pages%)", r.stdout)
      assert.is_true(tonumber(r.stdout:match("took%s+([%d.]+)")) < 5)
    end)
  end)

  describe("secrets", function()
    it("no configured secret appears in any output of a failing REST sync", function()
      local schema = h.write(dir .. "/schema.json", [[{"top_level": ["site"], "models": {
        "site": {"identifiers": ["name"], "attributes": ["status"]}}}]])
      h.write(dir .. "/src.json", '{"site": [{"name": "a", "status": "x"}]}')
      local j = h.write(dir .. "/job.lua", ([[
        local ms = require "moonsync"
        local json_file = require "moonsync.adapters.json_file"
        local rest = require "moonsync.adapters.rest"
        local dir = %q
        local sc = ms.schema(dir .. "/schema.json")
        local Api = rest.adapter "api" { models = { sc.model.site },
          resources = { site = { path = "/echo-error/", fields = { name = "name", status = "status" },
                                 query = { private_token = "qs-0d5c2a71", limit = 5 } } } }
        return ms.job {
          source = function() return json_file.open { schema = sc, path = dir .. "/src.json" } end,
          target = function()
            return Api:new { client = { base_url = %q, token = %q,
              headers = { ["X-Api-Key"] = "ak-77e1", ["X-Tenant"] = "s3c" } } }:load()
          end,
          permissions = { net = { "127.0.0.1" } },
        }]]):format(dir, a.url, TOKEN))
      for _, fmt in ipairs { "text", "json" } do
        local r = h.run("sync", j, "--log-format", fmt)
        assert.equals(1, r.code)
        local all = r.stdout .. r.stderr
        assert.matches("refused", all)
        for _, secret in ipairs { TOKEN, "ak-77e1", "qs-0d5c2a71", "s3c" } do
          assert.is_nil(all:find(secret, 1, true), fmt .. ": " .. secret .. " in " .. all)
        end
      end
    end)

    it("masks credentials in URLs and secret query values wherever they are quoted", function()
      local r = script([[
        local redact = require "moonsync.redact"
        print(redact.text('GET https://bob:pw@h/x?private_token=abc&api_key=k1&page=2: '
                          .. '{"next": "https://h/x?access_token=zz9&offset=3"}'))]])
      assert.equals(0, r.code, r.stderr)
      assert.equals('GET https://***@h/x?private_token=***&api_key=***&page=2: '
                    .. '{"next": "https://h/x?access_token=***&offset=3"}\n', r.stdout)
    end)
  end)

  it("prints a 5,000-byte error intact", function()
    local r = script([[
      local msg = ("0123456789"):rep(500)
      local e = ms.error("HTTPError", msg, { adapter = "a", model = "m", uid = "u" })
      local s = tostring(e)
      assert(s == "HTTPError: " .. msg .. " (adapter 'a', model 'm', uid 'u')", #s)
      print(#s)]])
    assert.equals(0, r.code, r.stderr)
    assert.equals("5045\n", r.stdout)
  end)
end)
