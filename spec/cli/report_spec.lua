-- HTML reports (--report), rendered in headless Chromium: what the DOM
-- holds after the page ran, what the filters and the search show, and
-- how a 100,000-change report renders.
local h = require "spec.helpers"

local DEMO = h.root .. "/examples/demo"
local it_browser = h.have_chromium() and it or pending

-- The records of the tree shown in a dumped DOM that match the filters
-- (not those shown as context): { "action model uid", ... }, sorted.
local function shown(dom)
  local out = {}
  for class, action, model, uid in dom:gmatch('<li class="node([^"]*)" data%-i="%d+" '
      .. 'data%-action="(%a+)" data%-model="([^"]*)" data%-uid="([^"]*)"') do
    if not class:find("context", 1, true) then out[#out + 1] = action .. " " .. model .. " " .. uid end
  end
  table.sort(out)
  return out
end

-- The parent of each record of the tree, from the nesting of its <li>
-- elements: { ["model uid"] = "model uid" of the enclosing node or "" }.
local function parents(dom)
  local stack, out, pos = {}, {}, 1
  while true do
    local a, b, close = dom:find("<(/?)li[ >]", pos)
    if not a then break end
    if close == "/" then
      stack[#stack] = nil
    else
      local tag = dom:sub(a, dom:find(">", b, true))
      local model, uid = tag:match('data%-model="([^"]*)" data%-uid="([^"]*)"')
      local me = model and (model .. " " .. uid) or ""
      if model then out[me] = stack[#stack] or "" end
      stack[#stack + 1] = me ~= "" and me or stack[#stack]
    end
    pos = b + 1
  end
  return out
end

local function attr(dom, name)
  return dom:match("<body[^>]*" .. name .. '="([^"]*)"')
end

local DEMO_CHANGES = {
  "create device ams01__ams01-sw2", "create site osl01", "delete interface ams01-sw1__port3",
  "delete site lon01", "update device ber01__ber01-fw1", "update interface ams01-sw1__port1",
  "update site ber01",
}

-- A directory holding d.html, the report of the demo documents' diff.
local function demo_diff_report()
  local dir = h.tmpdir()
  local r = h.run("diff", "--schema", DEMO .. "/schema.json", DEMO .. "/inventory.json",
                  DEMO .. "/nautobot.json", "--no-history", "--report", dir .. "/d.html")
  assert.equals(2, r.code, r.stderr)
  return dir
end

local function demo_dir()
  local dir = h.tmpdir()
  h.write(dir .. "/nautobot.json", h.read(DEMO .. "/nautobot.json"))
  return dir, { MOONSYNC_DEMO_TARGET = dir .. "/nautobot.json", MOONSYNC_HISTORY = dir .. "/h.sqlite" }
end

describe("HTML reports #report", function()
  after_each(h.cleanup)

  it_browser("a dry run and a sync of the demo job each leave a report with every changed record", function()
    local dir, env = demo_dir()
    local r = h.run_env(env, "sync", DEMO .. "/job.lua", "--dry-run", "--report", dir .. "/dry.html")
    assert.equals(2, r.code, r.stderr)
    r = h.run_env(env, "sync", DEMO .. "/job.lua", "--report", dir .. "/sync.html")
    assert.equals(0, r.code, r.stderr)
    for _, f in ipairs { "dry.html", "sync.html" } do
      local html = h.read(dir .. "/" .. f)
      -- self-contained: nothing fetched from anywhere
      assert.is_nil(html:find("<link", 1, true))
      assert.is_nil(html:find("src=", 1, true))
      local dom = h.chromium(dir .. "/" .. f)
      assert.equals("1", attr(dom, "data%-ready"))
      assert.same(DEMO_CHANGES, shown(dom))
      assert.equals("7", attr(dom, "data%-shown"))
      -- old and new values side by side
      assert.matches('<td class="old">1500</td><td class="new">9000</td>', dom, 1, true)
      assert.matches("showing 7 of 7 changes", dom, 1, true)
      -- every change in its place in the tree, unchanged parents included
      local p = parents(dom)
      assert.equals("", p["site ams01"])
      assert.equals("site ams01", p["device ams01__ams01-sw1"])
      assert.equals("device ams01__ams01-sw1", p["interface ams01-sw1__port1"])
      assert.equals("site ams01", p["device ams01__ams01-sw2"])
      assert.equals("site ber01", p["device ber01__ber01-fw1"])
      assert.equals("", p["site osl01"])
    end
    local dom = h.chromium(dir .. "/sync.html")
    assert.matches("2 created, 3 updated, 2 deleted, 0 failed", dom, 1, true)
    assert.matches("timings: load", dom, 1, true)
    -- the report of a recorded run is the same page
    r = h.run_env(env, "history", "show", "2", "--report", dir .. "/again.html")
    assert.equals(0, r.code, r.stderr)
    assert.same(DEMO_CHANGES, shown(h.chromium(dir .. "/again.html")))
  end)

  it_browser("filters by action and model and searches uids and values", function()
    local page = demo_diff_report() .. "/d.html"
    assert.same({ "delete interface ams01-sw1__port3", "delete site lon01" },
                shown(h.chromium(page, "#action=delete")))
    assert.same({ "create device ams01__ams01-sw2", "update device ber01__ber01-fw1" },
                shown(h.chromium(page, "#action=create,update,delete&model=device")))
    -- a value, not only a uid: MX105 is ber01-fw1's new model
    local dom = h.chromium(page, "#q=mx105")
    assert.same({ "update device ber01__ber01-fw1" }, shown(dom))
    assert.equals("1", attr(dom, "data%-shown"))
    -- its unchanged parent is there as context
    assert.matches('<li class="node a2 context" data%-i="%d+" data%-action="update" data%-model="site" data%-uid="ber01"', dom)
    assert.same({}, shown(h.chromium(page, "#q=nothing-matches-this")))
  end)

  it_browser("its controls change what is shown: action boxes, model, search, collapse and expand", function()
    local dir = demo_diff_report()
    -- a page of the same directory drives the report's controls as a user
    -- would (clicks, a selection, typing) and writes down what is shown
    h.write(dir .. "/harness.html", [[<!DOCTYPE html><html><body>
<iframe id="f" src="d.html"></iframe><pre id="out"></pre>
<script>
var f = document.getElementById("f");
f.onload = function () {
  var d = f.contentDocument, out = [];
  function shown() {
    return Array.from(d.querySelectorAll("li.node:not(.context)")).map(function (li) {
      return li.dataset.action + " " + li.dataset.model + " " + li.dataset.uid; }).sort().join(",");
  }
  d.querySelector("input[value=create]").click();
  d.querySelector("input[value=update]").click();
  out.push("deletes: " + shown());
  d.querySelector("input[value=create]").click();
  d.querySelector("input[value=update]").click();
  var m = d.getElementById("model");
  m.value = "site";
  m.dispatchEvent(new Event("change"));
  out.push("sites: " + shown());
  m.value = "";
  m.dispatchEvent(new Event("change"));
  var s = d.getElementById("search");
  s.value = "Q2AA";
  s.dispatchEvent(new Event("input"));
  setTimeout(function () {
    out.push("search: " + shown());
    out.push("address: " + f.contentWindow.location.hash);
    d.getElementById("collapse").click();
    out.push("collapsed: " + d.querySelectorAll("li.node").length);
    d.getElementById("expand").click();
    out.push("expanded: " + d.querySelectorAll("li.node").length);
    document.getElementById("out").textContent = out.join("\n");
  }, 500);
};
</script></body></html>]])
    local dom = h.chromium(dir .. "/harness.html", nil,
                           "--allow-file-access-from-files --virtual-time-budget=10000")
    local out = dom:match('<pre id="out">(.-)</pre>')
    assert.is_string(out, dom)
    assert.matches("deletes: delete interface ams01-sw1__port3,delete site lon01\n", out, 1, true)
    assert.matches("sites: create site osl01,delete site lon01,update site ber01\n", out, 1, true)
    assert.matches("search: create device ams01__ams01-sw2\n", out, 1, true)
    assert.matches("address: #action=create,update,delete&amp;q=q2aa\n", out, 1, true)
    assert.matches("collapsed: 1\n", out, 1, true)
    assert.matches("expanded: 2", out, 1, true)
  end)

  it_browser("shows failures first and values as text, never as markup", function()
    local inv = h.read(DEMO .. "/inventory.json"):gsub('"Q2AA%-2222"', '"<img src=x onerror=alert(1)>"')
    local dir = h.sync_dir(h.read(DEMO .. "/schema.json"), inv, h.read(DEMO .. "/nautobot.json"))
    local job = h.json_job(dir, {
      target = [[t.spec.create = function(self, model, ids, attrs)
        if model.name == "site" then error("site creation refused by the server") end
        return self:create_base(model, ids, attrs)
      end]],
      flags = '{ "CONTINUE_ON_FAILURE" }',
    })
    local r = h.run("sync", job, "--no-history", "--report", dir .. "/r.html")
    assert.equals(1, r.code)
    local dom = h.chromium(dir .. "/r.html")
    assert.matches('<li class="failure">create site osl01: raise', dom, 1, true)
    -- the failed subtree is the first of the tree
    local first = dom:match('<ul id="tree" class="tree"><li class="node[^"]*"[^>]*data%-uid="([^"]*)"')
    assert.equals("osl01", first)
    assert.matches("&lt;img src=x onerror=alert(1)&gt;", dom, 1, true)
    assert.is_nil(dom:find("<img", 1, true))
    assert.same({ "create site osl01" }, shown(h.chromium(dir .. "/r.html", "#failed=1")))
  end)

  it_browser("links each written object to its page and shows the data mappings; only web addresses", function()
    local dir = h.tmpdir()
    local report = require "moonsync.report"
    report.write(dir .. "/links.html", {
      command = "sync", job = "ssot",
      diff_json = [[{"format": "moonsync-diff/1", "changes": [
        {"action": "create", "model": "device", "uid": "d1", "attrs": {"serial": "S1"}},
        {"action": "update", "model": "device", "uid": "d2", "attrs": {"serial": "S2"}, "before": {"serial": "S0"}}]}]],
      ops = { { op = "create", model = "device", uid = "d1", status = "success", result = "ok",
                url = "http://nautobot.example/dcim/devices/1f0c/" },
              { op = "update", model = "device", uid = "d2", status = "success", result = "ok",
                url = "javascript:alert(1)" } },
      data_mappings = { { source = "Device (remote)", target = "Device (local)",
                          target_url = "https://nautobot.example/dcim/devices/" } },
    })
    local dom = h.chromium(dir .. "/links.html")
    assert.matches('<a class="link" href="http://nautobot.example/dcim/devices/1f0c/" rel="noopener noreferrer">open</a>',
                   dom, 1, true)
    assert.is_nil(dom:find('href="javascript', 1, true))
    assert.matches("javascript:alert(1)", dom, 1, true)
    assert.matches('<section id="mappings"><h2>Data mappings</h2>', dom, 1, true)
    assert.matches('<td>Device (local) <a class="link" href="https://nautobot.example/dcim/devices/"', dom, 1, true)
  end)

  it_browser("renders 100,000 changes lazily, within its bound", function()
    local dir = h.tmpdir()
    local function doc(path, status, from, to)
      local f = assert(io.open(path, "wb"))
      f:write('{"site": [')
      for i = from, to do
        f:write(i > from and "," or "", ('{"name": "s%06d", "status": "%s"}'):format(i, status))
      end
      f:write("]}")
      f:close()
    end
    -- 99,000 updates, 500 creates, 500 deletes
    doc(dir .. "/src.json", "active", 0, 99499)
    doc(dir .. "/dst.json", "planned", 500, 99999)
    local r = h.run("diff", "--schema", DEMO .. "/schema.json", dir .. "/src.json", dir .. "/dst.json",
                    "--format", "summary", "--no-history", "--report", dir .. "/big.html")
    assert.equals(2, r.code, r.stderr)
    local size = #h.read(dir .. "/big.html")
    assert.is_true(size < 20 * 1024 * 1024, size .. " bytes")
    local dom, seconds = h.chromium(dir .. "/big.html")
    assert.equals("100000", attr(dom, "data%-shown"))
    assert.matches("showing 100000 of 100000 changes", dom, 1, true)
    -- 200 top-level nodes built, the rest behind "show more"
    assert.equals(200, #shown(dom))
    assert.matches("show 200 more of 99800", dom, 1, true)
    local ms = tonumber(attr(dom, "data%-render%-ms"))
    assert.is_true(ms < 5000, ms .. " ms to parse and render")
    assert.is_true(seconds < 60, seconds .. " s in Chromium")
    dom = h.chromium(dir .. "/big.html", "#q=s04242")
    assert.same({ "update site s042420", "update site s042421", "update site s042422",
                  "update site s042423", "update site s042424", "update site s042425",
                  "update site s042426", "update site s042427", "update site s042428",
                  "update site s042429" }, shown(dom))
  end)
end)
