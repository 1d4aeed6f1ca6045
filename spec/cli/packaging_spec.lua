-- Packaging: make install, the man page, the LuaRocks rockspec, --help.
local h = require "helpers"

-- other programs (make, man, luarocks) run without the sanitizer runtime
-- that check-asan preloads for the Lua interpreter
local function sh(cmd, keep_preload)
  local out = os.tmpname()
  local run = keep_preload and cmd or ("env -u LD_PRELOAD sh -c " .. h.quote(cmd))
  local _, how, code = os.execute(run .. " >" .. out .. " 2>&1")
  local text = h.read(out)
  os.remove(out)
  return how == "exit" and code or 128 + code, text
end

local function have(cmd) return os.execute("command -v " .. cmd .. " >/dev/null 2>&1") == true end

describe("packaging #packaging", function()
  after_each(h.cleanup)

  -- under check-asan, `make install` would rebuild the in-tree binaries
  -- without the sanitizers in the middle of the suite
  local it_noasan = os.getenv("MOONSYNC_ASAN") == "1" and pending or it

  it_noasan("make install puts the command, modules, adapters, core module and man page in place", function()
    local dest = h.tmpdir()
    local code, text = sh(("make -s -C %s install DESTDIR=%s PREFIX=/usr/local"):format(h.quote(h.root), h.quote(dest)))
    assert.equals(0, code, text)
    local root = dest .. "/usr/local"
    for _, f in ipairs { "/bin/moonsync", "/share/lua/5.4/moonsync/adapters/rest.lua",
                         "/share/lua/5.4/moonsync/init.lua",
                         "/lib/lua/5.4/moonsync/core.so", "/share/man/man1/moonsync.1" } do
      assert.is_not_nil(h.read(root .. f), f)
    end
    -- the installed command finds its modules without the source tree
    code, text = sh(("cd / && %s run %s"):format(h.quote(root .. "/bin/moonsync"),
      h.quote(h.write(dest .. "/t.lua", 'print(require("moonsync")._VERSION, require("moonsync.adapters.rest") ~= nil)'))))
    assert.equals(0, code, text)
    assert.equals("0.1.0\ttrue\n", text)
    -- stock lua5.4 loads the installed module (with the sanitizer runtime
    -- preloaded when the module was built with it)
    code, text = sh(("LUA_PATH=%s LUA_CPATH=%s lua5.4 -e %s"):format(
      h.quote(root .. "/share/lua/5.4/?.lua;" .. root .. "/share/lua/5.4/?/init.lua;;"),
      h.quote(root .. "/lib/lua/5.4/?.so;;"),
      h.quote('print(require("moonsync").model "m" { identifiers = { "id" } } { id = 7 }:get_unique_id(), '
              .. 'require("moonsync.adapters.json_file") ~= nil, require("moonsync.adapters.rest") ~= nil)')), true)
    assert.equals("7\ttrue\ttrue\n", text)
  end)

  it("the bundled adapters live in adapters/, once", function()
    local p = io.popen("cd " .. h.quote(h.root) .. " && git ls-files adapters lua 2>/dev/null")
    local files = p:read("a")
    p:close()
    if files == "" then pending("not a git checkout") return end
    for _, a in ipairs { "csv_file", "json_file", "nautobot", "netbox", "rest" } do
      assert.matches("adapters/" .. a .. "%.lua\n", files)
    end
    assert.is_nil(files:find("lua/moonsync/adapters/", 1, true))
  end)

  local it_man = have("man") and it or pending
  it_man("the man page renders", function()
    local code, text = sh("man -l " .. h.quote(h.root .. "/docs/moonsync.1"))
    assert.equals(0, code)
    assert.matches("moonsync %- Lua%-scriptable data synchronization engine", text)
  end)

  local it_rocks = have("luarocks") and it or pending
  it_rocks("the rockspec builds the Lua module", function()
    local tree, src = h.tmpdir(), h.tmpdir()
    -- build from a copy: luarocks compiles next to the sources
    local code, text = sh(("cp -r %s/engine %s/lua %s/adapters %s/docs %s/examples %s/moonsync-0.1.0-1.rockspec %s/"
      .. " && cd %s && luarocks --lua-version 5.4 make --deps-mode none --tree %s "
      .. "moonsync-0.1.0-1.rockspec CURL_INCDIR=/usr/include/x86_64-linux-gnu "
      .. "CURL_LIBDIR=/usr/lib/x86_64-linux-gnu"):format(h.root, h.root, h.root, h.root, h.root, h.root,
      h.quote(src), h.quote(src), h.quote(tree)))
    assert.equals(0, code, text)
    code, text = sh(("LUA_PATH=%s LUA_CPATH=%s lua5.4 -e %s"):format(
      h.quote(tree .. "/share/lua/5.4/?.lua;" .. tree .. "/share/lua/5.4/?/init.lua;;"),
      h.quote(tree .. "/lib/lua/5.4/?.so;;"),
      h.quote('local ms = require "moonsync"; print(ms._VERSION, require("moonsync.http") ~= nil, '
              .. 'require("moonsync.adapters.csv_file") ~= nil)')))
    assert.equals("0.1.0\ttrue\ttrue\n", text)
  end)

  it("every command has --help, and --version answers", function()
    for _, cmd in ipairs { "run", "diff", "sync", "plan", "apply", "inspect", "version" } do
      local r = h.run(cmd, "--help")
      assert.equals(0, r.code, cmd)
      assert.matches("^usage: moonsync " .. cmd, r.stdout)
      -- moonsync help CMD says the same
      local hr = h.run("help", cmd)
      assert.equals(0, hr.code, cmd)
      assert.equals(r.stdout, hr.stdout, cmd)
    end
    assert.equals("moonsync 0.1.0\n", h.run("--version").stdout)
    local r = h.run("--help")
    assert.matches("commands:", r.stdout)
    r = h.run("frobnicate")
    assert.equals(1, r.code)
    assert.matches("unknown command 'frobnicate'", r.stderr)
  end)
end)
