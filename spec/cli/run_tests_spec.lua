-- scripts/run-tests, the test command's runner: its closing line is what
-- CI reads, so an interrupted run must never print one that passes.
local h = require "helpers"

describe("scripts/run-tests #cli", function()
  after_each(h.cleanup)

  local function runner(dir, busted_body)
    local slow = h.write(dir .. "/slow_test.sh", ('#!/bin/sh\necho "ok 1 - fast"\ntouch %s/started\nsleep 20\n')
                         :format(dir))
    os.execute("chmod +x " .. h.quote(slow))
    local busted = h.write(dir .. "/busted.lua", busted_body)
    return slow, busted
  end

  it("prints no passing line when interrupted", function()
    local dir = h.tmpdir()
    local slow, busted = runner(dir, 'print("ok 1 - a spec") print("1..1")')
    -- SIGTERM only: a command started in the background by a shell
    -- without job control ignores SIGINT, and so cannot trap it
    for _, sig in ipairs { "TERM" } do
      local script = h.write(dir .. "/go.sh", ([[
BUSTED=%s setsid sh %s/scripts/run-tests %s >%s/out 2>%s/err &
pid=$!
n=0
while [ ! -f %s/started ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); done
kill -%s -$pid
wait $pid
echo $? >%s/code
rm -f %s/started
]]):format(h.quote(busted), h.quote(h.root), h.quote(slow), dir, dir, dir, sig, dir, dir))
      os.execute("sh " .. h.quote(script))
      local out = h.read(dir .. "/out")
      assert.is_nil(out:find("passed, ", 1, true), out)
      assert.equals(sig == "TERM" and "143" or "130", h.read(dir .. "/code"):match("%d+"))
      assert.matches("interrupted %(SIG" .. sig .. "%): no result", h.read(dir .. "/err"))
    end
  end)

  it("counts the C tests and the specs when it runs to the end", function()
    local dir = h.tmpdir()
    local fast = h.write(dir .. "/fast_test.sh", '#!/bin/sh\necho "ok 1 - c"\necho "not ok 2 - c2"\n')
    os.execute("chmod +x " .. h.quote(fast))
    local busted = h.write(dir .. "/busted.lua", 'print("ok 1 - a spec") print("1..1")')
    local p = io.popen(("BUSTED=%s sh %s/scripts/run-tests %s 2>&1; echo rc=$?")
                       :format(h.quote(busted), h.quote(h.root), h.quote(fast)))
    local out = p:read("a")
    p:close()
    assert.matches("\n2 passed, 1 failed\nrc=1\n$", out)
  end)

  describe("the test servers' helpers", function()
    it("fail at once, saying why, when the server exits", function()
      if not h.have_node() then pending("needs Node.js: run scripts/install-deps") return end
      local dir = h.tmpdir()
      local ok, err = pcall(h.prism, dir .. "/no-such-openapi.json", "http://127.0.0.1:9",
                            dir .. "/prism.log", "{url}/")
      assert.is_false(ok)
      assert.matches("prism exited before it listened; its log %(.*prism%.log%)", err)
      ok, err = pcall(h.server, "spec/servers/no_such_server.js")
      assert.is_false(ok)
      assert.matches("did not start: .*Cannot find module", err)
    end)
  end)
end)
