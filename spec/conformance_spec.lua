-- Every DiffSync conformance case, run through scripts/conformance.
local h = require "helpers"
local lfs = require "lfs"

describe("DiffSync conformance", function()
  local cases = {}
  for name in lfs.dir(h.conformance) do
    if lfs.attributes(h.conformance .. "/" .. name .. "/case.json") then
      cases[#cases + 1] = name
    end
  end
  table.sort(cases)
  local out = h.tmpdir()
  teardown(h.cleanup)

  it("has cases to run", function()
    assert.is_true(#cases >= 18)
  end)

  for _, name in ipairs(cases) do
    it("matches DiffSync on " .. name, function()
      local res = h.run("run", h.root .. "/scripts/conformance.lua", "--out", out,
                        h.conformance .. "/" .. name)
      assert.equals("", res.stderr)
      assert.matches("^ok   " .. name, res.stdout)
      assert.equals(0, res.code)
    end)
  end
end)
