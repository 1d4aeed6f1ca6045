-- DiffSync parity: every case of spec/fixtures/parity/ prints, under
-- moonsync, what its DiffSync twin printed (expected.txt, captured by
-- scripts/capture-diffsync from DiffSync v1.10.0).
local h = require "helpers"

local BASE = h.root .. "/spec/fixtures/parity"

describe("DiffSync parity #conformance", function()
  local p = io.popen("ls " .. h.quote(BASE))
  for name in p:lines() do
    local expected = h.read(BASE .. "/" .. name .. "/expected.txt")
    if expected then
      it(name .. " prints what DiffSync prints", function()
        local r = h.run("run", BASE .. "/" .. name .. "/case.lua")
        assert.equals("", r.stderr)
        assert.equals(0, r.code)
        assert.equals(expected, r.stdout)
      end)
    end
  end
  p:close()

  it("has every case captured", function()
    local n = 0
    local q = io.popen("ls " .. h.quote(BASE) .. "/*/case.lua")
    for f in q:lines() do
      n = n + 1
      assert.is_not_nil(h.read((f:gsub("case%.lua$", "expected.txt"))), f)
    end
    q:close()
    assert.is_true(n >= 3)
  end)
end)
