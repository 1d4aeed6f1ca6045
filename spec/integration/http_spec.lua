-- moonsync.http against real local servers: json-server (npm) and the
-- fault/NetBox-convention test server (spec/servers/test_server.js).
local h = require "helpers"
local http = require "moonsync.http"
local cjson = require "cjson"
local ms = require "moonsync"
local core = require "moonsync.core"

local it_node = h.have_node() and it or pending

describe("moonsync.http #integration", function()
  describe("against json-server", function()
    local srv, dir
    lazy_setup(function()
      if not h.have_node() then return end
      dir = h.tmpdir()
      local items = {}
      for i = 1, 3000 do
        items[i] = ('{"id": %d, "name": "item%04d", "size": %d}'):format(i, i, i % 17)
      end
      h.write(dir .. "/db.json", '{"items": [' .. table.concat(items, ",") .. '], "notes": []}')
      srv = h.server("json_server", dir .. "/db.json")
    end)
    lazy_teardown(function()
      if srv then srv.stop() end
      h.cleanup()
    end)

    it_node("pages through thousands of records concurrently, in order", function()
      local c = http.client { base_url = srv.url, concurrency = 8 }
      local all = c:get_all("/items", { pagination = "page", page_size = 100 })
      assert.equals(3000, #all)
      for i = 1, 3000 do assert.equals(i, all[i].id) end
    end)

    it_node("detects json-server paging from X-Total-Count and Link", function()
      local c = http.client { base_url = srv.url }
      local all = c:get_all("/items", { query = { _page = 1, _limit = 250 } })
      assert.equals(3000, #all)
      assert.equals("item3000", all[3000].name)
    end)

    it_node("gets many paths concurrently, results in request order", function()
      local c = http.client { base_url = srv.url, concurrency = 8 }
      local paths = {}
      for i = 1, 60 do paths[i] = "/items/" .. (61 - i) end
      local rs = c:get_many(paths)
      for i = 1, 60 do assert.equals(61 - i, rs[i]:json().id) end
      assert.equals("application/json; charset=utf-8", rs[1].headers["content-type"])
    end)

    it_node("hands each answer of get_many over as it arrives, while the rest are in flight", function()
      local c = http.client { base_url = srv.url, concurrency = 4 }
      local paths = {}
      for i = 1, 40 do paths[i] = "/items/" .. i end
      local seen, order = {}, {}
      local rs = c:get_many(paths, { each = function(i, r)
        -- a response delivered early is the one returned, decoded once
        seen[i] = r:json({ name = true })
        order[#order + 1] = i
      end })
      assert.equals(40, #order)
      for i = 1, 40 do
        assert.equals(rs[i]:json(), seen[i])
        assert.same({ name = ("item%04d"):format(i) }, seen[i])
      end
      -- what each raises comes out of get_many, once all requests are done
      local ok, err = pcall(c.get_many, c, paths, { each = function(i) if i == 7 then error("boom at 7") end end })
      assert.is_false(ok)
      assert.matches("boom at 7", tostring(err))
      -- and it may not start requests of its own on the same client
      ok, err = pcall(c.get_many, c, { "/items/1" }, { each = function() c:get("/items/2") end })
      assert.is_false(ok)
      assert.matches("perform called from its own callback", tostring(err))
      assert.equals(2, c:get("/items/2"):json().id)
    end)

    it_node("fails get_many as a whole when a request fails", function()
      local c = http.client { base_url = srv.url, retries = 0 }
      local ok, err = pcall(c.get_many, c, { "/items/1", "/items/999999", "/items/2" })
      assert.is_false(ok)
      assert.equals("HTTPError", err.type)
      assert.matches("1 of 3 requests failed; first: GET .*/items/999999: HTTP 404", err.message)
    end)

    it_node("writes with post, put, patch and delete", function()
      local c = http.client { base_url = srv.url }
      local r = c:post("/notes", { text = "hello", tags = { "a" } })
      assert.equals(201, r.status)
      local id = r:json().id
      assert.equals("world", c:patch("/notes/" .. id, { text = "world" }):json().text)
      assert.equals("x", c:put("/notes/" .. id, { text = "x" }):json().text)
      assert.equals(200, c:delete("/notes/" .. id).status)
      local ok, err = pcall(c.get, c, "/notes/" .. id)
      assert.is_false(ok)
      assert.equals(404, err.status)
    end)

    it_node("runs concurrent writes with request_many", function()
      local c = http.client { base_url = srv.url, concurrency = 4 }
      local reqs = {}
      for i = 1, 20 do reqs[i] = { method = "POST", path = "/notes", json = { n = i } } end
      local res = c:request_many(reqs)
      for i = 1, 20 do
        assert.is_true(res[i].ok)
        assert.equals(i, res[i].response:json().n)
      end
    end)
  end)

  describe("against the fault server", function()
    local srv
    lazy_setup(function()
      if h.have_node() then srv = h.server("test_server", "--token", "s3cret-token-value") end
    end)
    lazy_teardown(function() if srv then srv.stop() end end)

    local function client(opts)
      local o = { base_url = srv.url, backoff = 0.05, backoff_max = 0.2 }
      for k, v in pairs(opts or {}) do o[k] = v end
      return http.client(o)
    end

    it_node("honours Retry-After in seconds", function()
      local t0 = core.now()
      local r = client():get("/retry-after/a")
      assert.equals(2, r:json().attempts)
      assert.is_true(core.now() - t0 >= 0.9)
    end)

    it_node("honours Retry-After as an HTTP date", function()
      local r = client { backoff_max = 1 }:get("/retry-after-date/a")
      assert.equals(2, r:json().attempts)
    end)

    it_node("retries 500 and 503 and then succeeds", function()
      assert.equals(3, client():get("/flaky/a", { query = { fails = 2, code = 503 } }):json().attempts)
      assert.equals(2, client():get("/flaky/b", { query = { fails = 1, code = 500 } }):json().attempts)
    end)

    it_node("reports the final failure with method, URL, status and attempts", function()
      local ok, err = pcall(client { retries = 2 }.get, client { retries = 2 }, "/always/503")
      assert.is_false(ok)
      assert.equals("HTTPError", err.type)
      assert.equals(503, err.status)
      assert.matches("^GET http://127%.0%.0%.1:%d+/always/503: HTTP 503 after 3 attempts", err.message)
    end)

    it_node("recovers from a connection closed mid-body", function()
      assert.equals(2, client():get("/cut/a"):json().attempts)
    end)

    it_node("times out a stalled response and says so", function()
      local t0 = core.now()
      local ok, err = pcall(function() return client { timeout = 0.3, retries = 1 }:get("/stall") end)
      assert.is_false(ok)
      assert.matches("GET .*/stall: .*timed out.* after 2 attempts", err.message)
      assert.is_true(core.now() - t0 < 3)
    end)

    it_node("reports malformed JSON naming the URL", function()
      local r = client():get("/malformed")
      local ok, err = pcall(r.json, r)
      assert.is_false(ok)
      assert.matches("GET .*/malformed: malformed JSON in the response: .*:1:12:", err.message)
    end)

    it_node("does not retry POST unless asked", function()
      local c = client()
      local r = c:request("POST", "/flaky/post1", { query = { fails = 1 }, raise = false })
      assert.equals(503, r.status)
      assert.equals(1, c:get("/hits/flaky/post1"):json().hits)
      c = client { retry_unsafe = true }
      r = c:request("POST", "/flaky/post2", { query = { fails = 1 } })
      assert.equals(200, r.status)
    end)

    it_node("keeps connections alive across requests", function()
      local c = client { concurrency = 2 }
      local before = c:get("/conns"):json().connections
      for _ = 1, 20 do c:get("/echo") end
      c:get_many({ "/echo", "/echo", "/echo", "/echo" })
      local after = c:get("/conns"):json().connections
      assert.is_true(after - before <= 2, "new connections: " .. (after - before))
    end)

    it_node("caps the request rate", function()
      local c = client { rate = 20, concurrency = 8 }
      local t0 = core.now()
      c:get_many({ "/echo", "/echo", "/echo", "/echo", "/echo", "/echo", "/echo", "/echo", "/echo", "/echo" })
      assert.is_true(core.now() - t0 >= 0.4)
    end)

    it_node("sends the token from the environment and never shows it", function()
      local c = client { token = "s3cret-token-value" }
      assert.equals("Token s3cret-token-value", c:get("/echo"):json().headers.authorization)
      local ok, err = pcall(c.get, c, "/always/500", { query = { token = "abc", q = "x" } })
      assert.is_false(ok)
      assert.matches("/always/500%?q=x&token=%*%*%*", err.message)
      assert.is_nil(err.message:find("s3cret", 1, true))
      local ok2, err2 = pcall(http.client, { token_env = "MOONSYNC_SPEC_NO_SUCH_VAR" })
      assert.is_false(ok2)
      assert.matches("environment variable MOONSYNC_SPEC_NO_SUCH_VAR %(token_env%) is not set", err2)
    end)

    it_node("masks credentials in URLs", function()
      assert.equals("http://***@h/x?token=***&a=1",
                    http.redact_url("http://user:pw@h/x?token=t0k&a=1"))
    end)

    it("requires insecure to be an explicit boolean", function()
      local ok, err = pcall(http.client, { insecure = "yes" })
      assert.is_false(ok)
      assert.matches("'insecure' must be true or false", err)
      ok, err = pcall(http.client, { insecur = true })
      assert.is_false(ok)
      assert.matches("unknown option 'insecur'", err)
    end)

    it_node("pages Link headers, offset/limit, json-server 1.x and NetBox envelopes", function()
      local c = client { token = "s3cret-token-value", concurrency = 8 }
      assert.equals(250, #c:get_all("/link/items", { query = { per_page = 40 } }))
      assert.equals(250, #c:get_all("/offset/items", { pagination = "offset", page_size = 30 }))
      local v1 = c:get_all("/v1/items", { pagination = "json-server", page_size = 33 })
      assert.equals(250, #v1)
      assert.equals("dev00249", v1[250].name)
      local all = c:get_all("/api/dcim/devices/", { page_size = 25 })
      assert.equals(250, #all)
      assert.equals("dev00249", all[250].name)
    end)
  end)

  describe("with a login session", function()
    -- a session that expires after 5 requests (the server's default)
    local function session_client(srv, opts)
      opts = opts or {}
      local logins = 0
      return http.client { base_url = srv.url, concurrency = opts.concurrency or 4, session = {
        header = "Cookie", prefix = "sess=",
        login = function(c)
          logins = logins + 1
          local r = c:post("/session/login", { user = "u", password = opts.password or "p" }, { nosession = true })
          return r:json().token
        end,
      } }, function() return logins end
    end

    it_node("logs in before its first request, and renews a session that expires mid-run without "
            .. "losing or repeating a write", function()
      local srv = h.server("test_server")
      finally(srv.stop)
      local c, logins = session_client(srv)
      assert.equals(0, #c:get("/session/items"):json())
      assert.equals(1, logins())
      -- 8 writes at once with 4 requests left of the session: 4 refused, renewed, sent again
      local reqs = {}
      for i = 1, 8 do reqs[i] = { method = "POST", path = "/session/items", json = { name = "item" .. i } } end
      for i, r in ipairs(c:request_many(reqs)) do assert.is_true(r.ok, "item" .. i) end
      assert.equals(2, logins())
      -- one by one, through more expiries: each renewed in turn
      for i = 9, 20 do c:post("/session/items", { name = "item" .. i }) end
      local st = cjson.decode(h.fetch(srv.url .. "/session/stats"))
      assert.equals(20, #st.items)
      local seen = {}
      for _, name in ipairs(st.items) do
        assert.is_nil(seen[name], name .. " written twice")
        seen[name] = true
      end
      assert.equals(st.logins, logins())
      assert.equals(st.logins, 1 + math.ceil((20 + 1 - 5) / 5))
    end)

    it_node("a login the server refuses is an error naming it, and shows neither password nor token", function()
      local srv = h.server("test_server")
      finally(srv.stop)
      local c = session_client(srv, { password = "wrong-password-not-shown" })
      local ok, err = pcall(c.get, c, "/session/items")
      assert.is_false(ok)
      assert.matches("POST " .. srv.url .. "/session/login: HTTP 401", tostring(err.message or err), 1, true)
      assert.not_matches("wrong%-password", tostring(err.message or err))
    end)

    it_node("a session the server keeps refusing is answered as refused, not retried without end", function()
      local srv = h.server("test_server", "--session-requests", "0")
      finally(srv.stop)
      local c, logins = session_client(srv)
      local r = c:request_many { { method = "GET", path = "/session/items" } }
      assert.is_false(r[1].ok)
      assert.equals(403, r[1].response.status)
      assert.equals(2, logins())
    end)
  end)
end)

-- keep ms referenced for luacheck-style hygiene of helpers
assert(ms)
