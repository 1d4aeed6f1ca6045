-- Every DiffSync conformance case, run through scripts/conformance (the
-- Lua API) and through `moonsync diff --schema` / `sync --schema`: the
-- shared cases (spec/fixtures/conformance) and moonsync's own
-- (spec/fixtures/diffsync-cases), both captured from DiffSync itself.
local h = require "helpers"
local lfs = require "lfs"

local DIRS = { h.conformance, h.fixtures .. "/diffsync-cases" }

local function cases_in(dir)
  local out = {}
  for name in lfs.dir(dir) do
    if lfs.attributes(dir .. "/" .. name .. "/case.json") then out[#out + 1] = name end
  end
  table.sort(out)
  return out
end

describe("DiffSync conformance", function()
  local out = h.tmpdir()
  teardown(h.cleanup)

  it("has cases to run", function()
    assert.is_true(#cases_in(DIRS[1]) >= 18)
    assert.is_true(#cases_in(DIRS[2]) >= 13)
  end)

  for _, dir in ipairs(DIRS) do
    for _, name in ipairs(cases_in(dir)) do
      local case = dir .. "/" .. name
      it("matches DiffSync on " .. name, function()
        local res = h.run("run", h.root .. "/scripts/conformance.lua", "--out", out, case)
        assert.equals("", res.stderr)
        assert.matches("^ok   " .. name, res.stdout)
        assert.equals(0, res.code)
      end)

      -- the command line: no failures to inject, the adapters named as
      -- the command line names them
      local spec = require("cjson").decode(h.read(case .. "/case.json"))
      local exp = case .. "/expected"
      if not spec.failures and not spec.names and spec.method ~= "sync_to" and
         h.read(exp .. "/diff.json") then
        it("matches DiffSync on " .. name .. " through diff --schema and sync --schema", function()
          local function run(cmd, ...)
            return h.run(cmd, "--schema", case .. "/schema.json", case .. "/source.json",
                         case .. "/dest.json", "--no-history", ...)
          end
          local r = run("diff", "--format", "dict")
          assert.equals("", r.stderr)
          assert.equals(h.read(exp .. "/diff.json"), r.stdout)
          r = run("diff")
          assert.equals(h.read(exp .. "/diff.txt") .. "\n", r.stdout)
          r = run("diff", "--format", "summary")
          assert.same(require("cjson").decode(h.read(exp .. "/summary.json")),
                      require("cjson").decode(r.stdout))
          if spec.sync == false then return end
          local after, ops = out .. "/" .. name .. ".after.json", out .. "/" .. name .. ".ops.json"
          r = run("sync", "--out", after, "--ops-log", ops)
          assert.equals("", r.stderr)
          assert.equals(h.read(exp .. "/after.json"), h.read(after))
          assert.equals(h.read(exp .. "/ops.json"), h.read(ops))
        end)
      end
    end
  end
end)
