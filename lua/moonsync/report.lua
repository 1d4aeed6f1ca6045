--- HTML reports of a run (`--report FILE.html`): one self-contained file,
-- inline CSS and JavaScript, no external resource. It shows the summary
-- by model and action, the timings, the failures first (syncs), and the
-- diff as a tree with collapsible nodes and old and new values side by
-- side, with filters by action and model and a search box. Large reports
-- render lazily: nodes are built when they are shown, 200 at a time.
--
-- The data travels as one JSON document inside the page; the page builds
-- its DOM with textContent only, so no value of a record can become
-- markup. See docs/history.md.
-- @module moonsync.report
local cjson = require "cjson.safe"
local core = require "moonsync.core"
local redact = require "moonsync.redact"

local ipairs, type, fmt, concat = ipairs, type, string.format, table.concat

local M = {}

local ACTION = { create = 1, update = 2, delete = 3 }

-- The compact form of a run's diff and operations: nodes in an order where
-- a parent comes before its children,
--   [action (0 none, 1 create, 2 update, 3 delete), model index, uid,
--    parent node index (-1: none), new values, old values, status, message]
-- Parents that did not change appear as nodes of action 0.
local function compact(run)
  local changes, context = {}, {}
  if run.diff_json then
    local d = cjson.decode(redact.text(run.diff_json))
    if type(d) == "table" and type(d.changes) == "table" then changes = d.changes end
    if type(d) == "table" and type(d.context) == "table" then context = d.context end
  end
  local models, midx = {}, {}
  local function model(name)
    local i = midx[name]
    if not i then
      models[#models + 1] = name
      i = #models - 1
      midx[name] = i
    end
    return i
  end
  local ops = {}
  for _, op in ipairs(run.ops or {}) do ops[op.model .. "\0" .. op.uid] = op end
  -- node entries by key, then ordered parents first
  local byk, order = {}, {}
  local function entry(m, uid)
    local k = m .. "\0" .. uid
    local e = byk[k]
    if not e then
      e = { act = 0, m = m, uid = uid, kids = {} }
      byk[k] = e
      order[#order + 1] = e
    end
    return e
  end
  local function link(e, parent)
    if e.parent == nil and type(parent) == "table" and parent.model then
      local p = entry(parent.model, parent.uid)
      e.parent = p
      p.kids[#p.kids + 1] = e
    end
  end
  -- the unchanged records on the way to changes first, with their parents
  for _, c in ipairs(context) do link(entry(c.model, c.uid), c.parent) end
  for _, c in ipairs(changes) do
    local e = entry(c.model, c.uid)
    e.act = ACTION[c.action] or 0
    e.attrs = type(c.attrs) == "table" and c.attrs or nil
    e.before = type(c.before) == "table" and c.before or nil
    link(e, c.parent)
  end
  local nodes = {}
  local function emit(e, pidx)
    local op = ops[e.m .. "\0" .. e.uid]
    nodes[#nodes + 1] = { e.act, model(e.m), e.uid, pidx, e.attrs or 0, e.before or 0,
                          op and op.result or 0,
                          op and op.result ~= "ok" and op.result ~= "unchanged"
                            and redact.text(op.message or op.status or "") or 0,
                          op and op.url and redact.text(op.url) or 0 }
    local me = #nodes - 1
    for _, k in ipairs(e.kids) do emit(k, me) end
  end
  for _, e in ipairs(order) do
    if not e.parent then emit(e, -1) end
  end
  local failures = {}
  for _, op in ipairs(run.ops or {}) do
    if op.result ~= "ok" and op.result ~= "unchanged" then
      failures[#failures + 1] = { op.op, op.model, op.uid, op.result or "",
                                  redact.text(op.message or op.status or "") }
    end
  end
  return models, nodes, failures
end

local function meta(run)
  local t = {}
  for _, k in ipairs { "id", "command", "job", "job_path", "source", "target", "started",
                       "ended", "duration", "exit_status", "error", "peak_rss" } do
    local v = run[k]
    if v ~= nil then t[k] = type(v) == "string" and redact.text(v) or v end
  end
  t.dry_run = run.dry_run and true or false
  t.summary, t.result, t.timings, t.counts = run.summary, run.result, run.timings, run.counts
  t.data_mappings = run.data_mappings
  if run.warnings then
    t.warnings = {}
    for i, w in ipairs(run.warnings) do
      t.warnings[i] = { adapter = w.adapter, message = redact.text(w.message), skipped = w.skipped }
    end
  end
  return t
end

local STYLE = [[
:root{--bg:#fff;--fg:#1d232a;--mute:#66717d;--line:#dde2e7;--c:#1a7f37;--u:#9a6700;--d:#cf222e;--n:#66717d}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,sans-serif;color:var(--fg);background:var(--bg)}
header,section{padding:12px 24px}header{border-bottom:1px solid var(--line)}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:8px 0}
#meta,#timings,#count{color:var(--mute)}table{border-collapse:collapse}
td,th{padding:3px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
#controls{display:flex;flex-wrap:wrap;gap:12px;align-items:center;margin-bottom:8px}
#search{min-width:260px;padding:4px 6px}ul.tree,ul.kids{list-style:none;margin:0;padding-left:18px}
ul.tree{padding-left:0}.row{display:flex;gap:8px;align-items:baseline;padding:2px 0}
.tog{width:22px;border:0;background:none;cursor:pointer;color:var(--mute)}.tog.leaf{visibility:hidden}
.badge{font-size:12px;padding:0 6px;border-radius:8px;color:#fff;background:var(--n)}
.a1 .badge{background:var(--c)}.a2 .badge{background:var(--u)}.a3 .badge{background:var(--d)}
.model{color:var(--mute)}.uid{font-family:ui-monospace,monospace}
.fail{color:var(--d);font-weight:600}.vals{margin:2px 0 6px 30px;font-family:ui-monospace,monospace;font-size:13px}
.vals td.old{background:#ffebe9}.vals td.new{background:#dafbe1}
#failures li{color:var(--d)}button{font:inherit}
]]

local SCRIPT = [==[
(function () {
  "use strict";
  var t0 = performance.now();
  var D = JSON.parse(document.getElementById("data").textContent);
  var R = D.run, NODES = D.nodes, MODELS = D.models, N = NODES.length;
  var ACT = ["none", "create", "update", "delete"], PAGE = 200, AUTO = 500;
  var $ = function (id) { return document.getElementById(id); };
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function show(v) { return typeof v === "string" ? v : JSON.stringify(v); }
  function failed(i) { var r = NODES[i][6]; return r !== 0 && r !== "ok" && r !== "unchanged"; }

  // the tree
  var kids = new Array(N), roots = [], i;
  for (i = 0; i < N; i++) {
    var p = NODES[i][3];
    if (p < 0) roots.push(i); else (kids[p] || (kids[p] = [])).push(i);
  }
  var sync = R.command === "sync" || R.command === "apply";
  var subfail = new Uint8Array(N);
  for (i = N - 1; i >= 0; i--) {
    if (failed(i)) subfail[i] = 1;
    if (subfail[i] && NODES[i][3] >= 0) subfail[NODES[i][3]] = 1;
  }
  if (sync) roots.sort(function (a, b) { return subfail[b] - subfail[a] || a - b; });

  // header, summary, timings, failures
  $("cmd").textContent = R.command + (R.dry_run ? " (dry run)" : "") + (R.job ? " · " + R.job : "");
  var m = [];
  if (R.id) m.push("run " + R.id);
  if (R.started) m.push("started " + R.started);
  if (R.duration !== undefined) m.push(R.duration.toFixed(2) + " s");
  if (R.exit_status !== undefined) m.push("exit " + R.exit_status);
  if (R.source || R.target) m.push((R.source || "?") + " → " + (R.target || "?"));
  $("meta").textContent = m.join(" · ");
  if (R.error) $("error").textContent = R.error;
  var st = $("summary-table"), head = el("tr");
  var cols = sync ? ["model", "action", "planned", "done", "failed"] : ["model", "action", "changes"];
  cols.forEach(function (c) { head.appendChild(el("th", null, c)); });
  st.appendChild(head);
  (R.counts || []).forEach(function (c) {
    var tr = el("tr", "a" + ACT.indexOf(c.action));
    tr.appendChild(el("td", null, c.model));
    tr.appendChild(el("td", null, c.action));
    tr.appendChild(el("td", "n", String(c.planned)));
    if (sync) { tr.appendChild(el("td", "n", String(c.done))); tr.appendChild(el("td", "n" + (c.failed ? " fail" : ""), String(c.failed))); }
    st.appendChild(tr);
  });
  var s = R.summary;
  if (s) $("totals").textContent = s.create + " to create, " + s.update + " to update, " + s.delete +
    " to delete, " + s["no-change"] + " unchanged, " + s.skip + " skipped";
  if (R.result) $("result").textContent = R.result.created + " created, " + R.result.updated +
    " updated, " + R.result.deleted + " deleted, " + R.result.failed + " failed";
  var tm = [], T = R.timings || {};
  ["load", "diff", "sync", "write"].forEach(function (k) { if (T[k] !== undefined) tm.push(k + " " + T[k].toFixed(3) + " s"); });
  if (R.peak_rss) tm.push("peak memory " + (R.peak_rss / 1048576).toFixed(1) + " MiB");
  $("timings").textContent = tm.length ? "timings: " + tm.join(", ") : "";
  // a link only to a web address: nothing in the data can become script
  function link(url, label) {
    if (typeof url !== "string" || !/^https?:\/\//i.test(url)) return el("span", null, url ? url : "");
    var a = el("a", "link", label || url);
    a.href = url;
    a.rel = "noopener noreferrer";
    return a;
  }
  var DM = R.data_mappings || [];
  if (DM.length) {
    $("mappings").hidden = false;
    var mt = $("mapping-table"), mh = el("tr");
    ["source", "target"].forEach(function (c) { mh.appendChild(el("th", null, c)); });
    mt.appendChild(mh);
    DM.forEach(function (d) {
      var tr = el("tr");
      [[d.source, d.source_url], [d.target, d.target_url]].forEach(function (c) {
        var td = el("td", null, c[0] + " ");
        if (c[1]) td.appendChild(link(c[1]));
        tr.appendChild(td);
      });
      mt.appendChild(tr);
    });
  }
  var W = R.warnings || [];
  if (W.length) {
    $("warnings").hidden = false;
    var skipped = W.filter(function (w) { return w.skipped; }).length;
    $("warnings-head").textContent = "Warnings (" + W.length + (skipped ? ", " + skipped +
      " source records skipped" : "") + ")";
    W.slice(0, 1000).forEach(function (w) {
      $("warning-list").appendChild(el("li", w.skipped ? "warning skipped" : "warning",
        w.adapter + ": " + w.message));
    });
    if (W.length > 1000) $("warning-list").appendChild(el("li", null, "and " + (W.length - 1000) + " more"));
  }
  if (D.failures.length) {
    $("failures").hidden = false;
    D.failures.slice(0, 1000).forEach(function (f) {
      $("failure-list").appendChild(el("li", "failure", f[0] + " " + f[1] + " " + f[2] + ": " + f[3] + (f[4] ? " (" + f[4] + ")" : "")));
    });
    if (D.failures.length > 1000)
      $("failure-list").appendChild(el("li", null, "and " + (D.failures.length - 1000) +
        " more: check \u201cfailures only\u201d below"));
  }

  // filters: the controls, mirrored in the address's #fragment
  var models = $("model");
  MODELS.slice().sort().forEach(function (name) { var o = el("option", null, name); o.value = name; models.appendChild(o); });
  if (!sync) $("failed-label").hidden = true;
  function readHash() {
    var h = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (kv) {
      var j = kv.indexOf("=");
      if (j > 0) h[decodeURIComponent(kv.slice(0, j))] = decodeURIComponent(kv.slice(j + 1));
    });
    if (h.action !== undefined) {
      var on = h.action.split(",");
      document.querySelectorAll("input[name=action]").forEach(function (c) { c.checked = on.indexOf(c.value) >= 0; });
    }
    if (h.model !== undefined) models.value = h.model;
    if (h.q !== undefined) $("search").value = h.q;
    if (h.failed !== undefined) $("failed-only").checked = h.failed === "1";
  }
  function state() {
    var a = {};
    document.querySelectorAll("input[name=action]").forEach(function (c) { if (c.checked) a[c.value] = 1; });
    return { actions: a, model: models.value, q: $("search").value.trim().toLowerCase(),
             failed: $("failed-only").checked };
  }
  function writeHash(S) {
    var parts = ["action=" + Object.keys(S.actions).join(",")];
    if (S.model) parts.push("model=" + encodeURIComponent(S.model));
    if (S.q) parts.push("q=" + encodeURIComponent(S.q));
    if (S.failed) parts.push("failed=1");
    history.replaceState(null, "", "#" + parts.join("&"));
  }
  var texts = new Array(N);
  function text(i) {
    if (texts[i] === undefined) {
      var n = NODES[i];
      texts[i] = (MODELS[n[1]] + " " + n[2] + " " + (n[4] ? JSON.stringify(n[4]) : "") + " " +
                  (n[5] ? JSON.stringify(n[5]) : "") + " " + (n[7] || "")).toLowerCase();
    }
    return texts[i];
  }
  var vis = new Uint8Array(N), shown = 0;
  function filter(S) {
    vis.fill(0);
    shown = 0;
    for (var k = N - 1; k >= 0; k--) {
      var n = NODES[k];
      if (n[0] !== 0 && S.actions[ACT[n[0]]] && (!S.model || MODELS[n[1]] === S.model) &&
          (!S.failed || failed(k)) && (!S.q || text(k).indexOf(S.q) >= 0)) { vis[k] |= 1; shown++; }
      if (vis[k] && n[3] >= 0) vis[n[3]] |= 2;
    }
  }

  // rendering: a node's values and children are built when it opens
  var tree = $("tree"), more = $("more"), queue = [], expandAll = false;
  function values(n) {
    var t = el("table", "vals"), a = n[4] || {}, b = n[5] || {}, keys = [], seen = {};
    [b, a].forEach(function (o) { Object.keys(o).forEach(function (k) { if (!seen[k]) { seen[k] = 1; keys.push(k); } }); });
    if (!keys.length) return null;
    keys.sort();
    var h = el("tr");
    ["field", "before", "after"].forEach(function (c) { h.appendChild(el("th", null, c)); });
    t.appendChild(h);
    keys.forEach(function (k) {
      var tr = el("tr");
      tr.appendChild(el("td", null, k));
      tr.appendChild(el("td", k in b ? "old" : "", k in b ? show(b[k]) : ""));
      tr.appendChild(el("td", k in a ? "new" : "", k in a ? show(a[k]) : ""));
      t.appendChild(tr);
    });
    return t;
  }
  function open(li, i) {
    li.dataset.open = "1";
    li.querySelector(".tog").textContent = "▾";
    var n = NODES[i], v = values(n);
    if (v) li.insertBefore(v, li.lastChild);
    var ul = li.lastChild;
    (kids[i] || []).forEach(function (c) { if (vis[c]) ul.appendChild(node(c)); });
  }
  function close(li) {
    li.dataset.open = "";
    li.querySelector(".tog").textContent = "▸";
    var v = li.querySelector(":scope > table.vals");
    if (v) v.remove();
    li.lastChild.textContent = "";
  }
  function node(i) {
    var n = NODES[i], li = el("li", "node a" + n[0]), row = el("div", "row");
    li.dataset.i = i;
    li.dataset.action = ACT[n[0]];
    li.dataset.model = MODELS[n[1]];
    li.dataset.uid = n[2];
    var hasMore = (kids[i] && kids[i].some(function (c) { return vis[c]; })) || n[4] || n[5];
    var tog = el("button", "tog" + (hasMore ? "" : " leaf"), "▸");
    tog.type = "button";
    tog.addEventListener("click", function () { if (li.dataset.open) close(li); else open(li, i); });
    row.appendChild(tog);
    row.appendChild(el("span", "badge", n[0] ? ACT[n[0]] : "unchanged"));
    row.appendChild(el("span", "model", MODELS[n[1]]));
    row.appendChild(el("span", "uid", n[2]));
    if (failed(i)) row.appendChild(el("span", "fail", n[6] + (n[7] ? ": " + n[7] : "")));
    else if (n[6] === "ok") row.appendChild(el("span", "model", "done"));
    if (n[8]) row.appendChild(link(n[8], "open"));
    if (!(vis[i] & 1)) li.classList.add("context");
    li.appendChild(row);
    li.appendChild(el("ul", "kids"));
    if (expandAll && hasMore) open(li, i);
    return li;
  }
  function page() {
    var f = document.createDocumentFragment();
    queue.splice(0, PAGE).forEach(function (r) { f.appendChild(node(r)); });
    tree.appendChild(f);
    more.hidden = queue.length === 0;
    more.textContent = "show " + Math.min(PAGE, queue.length) + " more of " + queue.length;
  }
  function render(fromHash) {
    var t = performance.now(), S = state();
    if (!fromHash) writeHash(S);
    filter(S);
    expandAll = shown <= AUTO;
    tree.textContent = "";
    queue = roots.filter(function (r) { return vis[r]; });
    page();
    $("count").textContent = "showing " + shown + " of " + D.changes + " changes";
    document.body.dataset.shown = shown;
    document.body.dataset.renderMs = Math.round(performance.now() - (fromHash === 1 ? t0 : t));
  }
  more.addEventListener("click", page);
  var timer;
  $("search").addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(render, 150); });
  document.querySelectorAll("#controls input[type=checkbox], #model").forEach(function (c) { c.addEventListener("change", function () { render(); }); });
  $("expand").addEventListener("click", function () { expandAll = true; tree.querySelectorAll("li.node").forEach(function (li) { if (!li.dataset.open) open(li, +li.dataset.i); }); });
  $("collapse").addEventListener("click", function () { tree.querySelectorAll("ul.tree > li.node").forEach(close); });
  window.addEventListener("hashchange", function () { readHash(); render(2); });
  readHash();
  render(1);
  document.body.dataset.ready = "1";
})();
]==]

--- The HTML text of a report for `run` (as moonsync.history returns
-- runs: command, job, timings, summary, result, counts, diff_json, ops...).
function M.html(run)
  local models, nodes, failures = compact(run)
  local changes = 0
  for _, n in ipairs(nodes) do if n[1] ~= 0 then changes = changes + 1 end end
  local data = cjson.encode { run = meta(run), models = models, nodes = nodes,
                              failures = failures, changes = changes }
  -- no "<" in the data, so nothing in it can end the script element
  data = data:gsub("<", "\\u003c")
  local title = fmt("moonsync %s%s", run.command or "run", run.job and (" · " .. run.job) or "")
  title = title:gsub("[<>&\"]", { ["<"] = "&lt;", [">"] = "&gt;", ["&"] = "&amp;", ['"'] = "&quot;" })
  return concat {
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n',
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
    "<title>", redact.text(title), "</title>\n<style>", STYLE, "</style></head>\n<body>\n",
    '<header><h1>moonsync <span id="cmd"></span></h1><div id="meta"></div>',
    '<div id="error" class="fail"></div></header>\n',
    '<section id="summary"><h2>Summary</h2><div id="totals"></div><div id="result"></div>',
    '<table id="summary-table"></table><p id="timings"></p></section>\n',
    '<section id="mappings" hidden><h2>Data mappings</h2><table id="mapping-table"></table></section>\n',
    '<section id="warnings" hidden><h2 id="warnings-head">Warnings</h2><ul id="warning-list"></ul></section>\n',
    '<section id="failures" hidden><h2>Failures</h2><ul id="failure-list"></ul></section>\n',
    '<section id="changes"><h2>Changes</h2><div id="controls">',
    '<label><input type="checkbox" name="action" value="create" checked> create</label>',
    '<label><input type="checkbox" name="action" value="update" checked> update</label>',
    '<label><input type="checkbox" name="action" value="delete" checked> delete</label>',
    '<select id="model"><option value="">all models</option></select>',
    '<input id="search" type="search" placeholder="search uids and values">',
    '<label id="failed-label"><input type="checkbox" id="failed-only"> failures only</label>',
    '<button type="button" id="expand">expand all</button>',
    '<button type="button" id="collapse">collapse all</button></div>',
    '<div id="count"></div><ul id="tree" class="tree"></ul>',
    '<button type="button" id="more" hidden></button></section>\n',
    '<script type="application/json" id="data">', data, "</script>\n",
    "<script>", SCRIPT, "</script>\n</body></html>\n",
  }
end

--- Writes the report of `run` to path (atomically; with `authority`, the
-- operator's own output outside a job's permissions).
function M.write(path, run, authority)
  local text = M.html(run)
  if authority then return authority:write(path, text) end
  return core.write_atomic(path, text)
end

return M
