// A stand-in for IP Fabric's REST API, serving snapshots' tables from a
// data file, for the calls Nautobot SSoT's IP Fabric integration makes.
// On 127.0.0.1 with a free port; prints "listening PORT PID" when ready.
//
//   node ipfabric_standin.js --data DATA.json [--token T] [--latency MS]
//                            [--max-limit N] [--fail TABLE]
//
// The data file holds:
//   { "version": {"apiVersion": "v7.0", "releaseVersion": "7.0.3"},
//     "snapshots": [{"id", "name", "state": "loaded"|"unloaded", "tsEnd", "locked"}],
//     "tables": {"inventory/sites": [...], "inventory/devices": [...],
//                "inventory/interfaces": [...], "addressing/managed-devs": [...],
//                "platforms/stack/members": [...], "vlan/site-summary": [...]},
//     "snapshotTables": {SNAPSHOT_ID: {TABLE: [...]}} }
// A snapshot's tables are its snapshotTables entry, else "tables".
//
// As the API does:
// - GET /api/version answers the API and release versions (no token);
//   everything else is under /api/vMAJOR[.MINOR]/ (a version newer than
//   the server's is a 400) and needs "X-API-Token: T" (401 otherwise)
// - GET /snapshots lists the snapshots with their state
// - POST /tables/NAME reads a table of a snapshot: {"columns": [...]
//   (required; a column the table does not have, among IP Fabric's columns
//   of it and those its rows have, is a 422), "snapshot": an
//   id or $last / $prev / $lastLocked (a snapshot that is not loaded is a
//   422), "filters": {COLUMN: [OP, VALUE]} with "and" / "or" lists (OP eq,
//   neq, ieq, like, ilike, reg, empty), "attributeFilters": {"siteName":
//   [names] or [OP, VALUE]} (a row is kept when its site, or its device's,
//   matches), "pagination": {"limit", "start"} (limit 1..--max-limit)} and
//   answers {"data": rows with those columns, "_meta": {"limit", "start",
//   "count"}}
// --fail TABLE answers 500 to reads of that table.
// /__stats gives the requests by method and table, and the rows answered.
'use strict';
const fs = require('fs');
const { opt, serve } = require('./standin');

const dataFile = opt('--data', null);
if (!dataFile) { console.error('usage: ipfabric_standin.js --data DATA.json'); process.exit(2); }
const token = opt('--token', null);
const latency = Number(opt('--latency', '0'));
const maxLimit = Number(opt('--max-limit', '10000'));
const failing = opt('--fail', null);
const data = JSON.parse(fs.readFileSync(dataFile, 'utf8'));
const version = data.version || { apiVersion: 'v7.0', releaseVersion: '7.0.3' };
const snapshots = Array.isArray(data.snapshots) && data.snapshots.length ? data.snapshots
  : [{ id: '00000000-0000-4000-8000-000000000001', name: 'snapshot', state: 'loaded', tsEnd: 1, locked: false }];

const stats = { GET: 0, POST: 0, errors: 0, inflight: 0, maxInflight: 0, tables: {}, rows: 0 };

// The columns of the tables (beyond those their rows have), as IP Fabric has them
const COLUMNS = {
  'inventory/sites': ['id', 'siteName', 'siteKey', 'devicesCount', 'usersCount', 'stpDCount', 'switchesCount',
    'vlanCount', 'rDCount', 'routersCount', 'networksCount'],
  'inventory/devices': ['id', 'sn', 'hostname', 'siteName', 'siteKey', 'loginIp', 'loginType', 'uptime',
    'memoryUtilization', 'vendor', 'family', 'platform', 'model', 'version', 'devType', 'snHw', 'image', 'mac',
    'domain', 'fqdn'],
  'inventory/interfaces': ['id', 'sn', 'hostname', 'intName', 'nameOriginal', 'siteName', 'dscr', 'mac', 'duplex',
    'speed', 'media', 'errDisabled', 'mtu', 'primaryIp', 'l1', 'l2', 'reason'],
  'addressing/managed-devs': ['id', 'sn', 'hostname', 'siteName', 'intName', 'stateL1', 'stateL2', 'dnsName',
    'vlanId', 'mac', 'ip', 'net', 'type', 'vrf'],
  'platforms/stack/members': ['id', 'sn', 'master', 'siteName', 'member', 'memberSn', 'role', 'state', 'mac',
    'ver', 'image', 'hwVer', 'pn', 'uptime'],
  'vlan/site-summary': ['id', 'siteName', 'vlanId', 'vlanName', 'dscr', 'devCount'],
};
{
  // an interface's login addresses are there from 7.3 on
  const [maj, min] = version.apiVersion.replace(/^v/, '').split('.').map(Number);
  if (maj > 7 || (maj === 7 && (min || 0) >= 3)) COLUMNS['inventory/interfaces'].push('loginIpv4', 'loginIpv6');
}

function send(res, code, body) {
  const text = body === undefined ? '' : JSON.stringify(body);
  if (code >= 400) stats.errors++;
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function fail(res, code, message, extra = {}) {
  return send(res, code, { code: code === 422 ? 'API_SCHEMA_VALIDATION_ERROR' : 'API_ERROR', message, ...extra });
}

// {====== snapshots ======}

const loaded = snapshots.filter((s) => s.state === 'loaded').sort((a, b) => (b.tsEnd || 0) - (a.tsEnd || 0));

function snapshotOf(ref) {
  if (ref === '$last') return loaded[0];
  if (ref === '$prev') return loaded[1];
  if (ref === '$lastLocked') return loaded.find((s) => s.locked);
  return snapshots.find((s) => s.id === ref);
}

function tablesOf(snap) {
  return (data.snapshotTables && data.snapshotTables[snap.id]) || data.tables || {};
}

// {====== filters ======}

function likeRe(v, flags) {
  return new RegExp(String(v).replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), flags);
}

function test(op, have, want) {
  const s = have === null || have === undefined ? '' : String(have);
  switch (op) {
    case 'eq': return have === want || (have !== null && have !== undefined && s === String(want));
    case 'neq': return !test('eq', have, want);
    case 'ieq': return s.toLowerCase() === String(want).toLowerCase();
    case 'like': return likeRe(want, '').test(s);
    case 'ilike': return likeRe(want, 'i').test(s);
    case 'reg': return new RegExp(String(want)).test(s);
    case 'empty': return (s === '') === Boolean(want);
    default: throw new Error(`unknown filter operator '${op}'`);
  }
}

// Does row pass filter f (checked against the table's columns)?
function passes(f, row, columns) {
  for (const [k, v] of Object.entries(f)) {
    if (k === 'and' || k === 'or') {
      if (!Array.isArray(v)) throw new Error(`filter '${k}' must be a list`);
      const r = v.map((g) => passes(g, row, columns));
      if (k === 'and' ? r.includes(false) : !r.includes(true)) return false;
      continue;
    }
    if (!columns.has(k)) throw new Error(`filter on unknown column '${k}'`);
    if (!Array.isArray(v) || v.length !== 2) throw new Error(`filter '${k}' must be [operator, value]`);
    if (!test(v[0], row[k], v[1])) return false;
  }
  return true;
}

const OPS = new Set(['eq', 'neq', 'ieq', 'like', 'ilike', 'reg']);

// attributeFilters {siteName: [names] or [op, value]}: the row's site, or
// that of its device (by serial number)
function attributeTest(af, tables) {
  const siteOfSn = {};
  for (const d of tables['inventory/devices'] || []) siteOfSn[d.sn] = d.siteName;
  const tests = Object.entries(af).map(([attr, v]) => {
    if (attr !== 'siteName') throw new Error(`unknown attribute '${attr}'`);
    if (!Array.isArray(v)) throw new Error(`attribute filter '${attr}' must be a list`);
    return OPS.has(v[0]) && v.length === 2 ? (s) => test(v[0], s, v[1]) : (s) => v.includes(s);
  });
  return (row) => {
    const site = row.siteName !== undefined ? row.siteName : siteOfSn[row.sn];
    return tests.every((t) => t(site));
  };
}

// {====== the API ======}

async function handle(req, res, body) {
  const url = new URL(req.url, 'http://localhost');
  const path = url.pathname;
  if (path === '/__stats') return send(res, 200, stats);
  if (path === '/api/version' && req.method === 'GET') return send(res, 200, version);
  const m = path.match(/^\/api\/v(\d+)(?:\.(\d+))?\/(.*)$/);
  if (!m) return fail(res, 404, `Not found: ${path}`);
  const [smaj, smin] = version.apiVersion.replace(/^v/, '').split('.').map(Number);
  const maj = Number(m[1]); const min = m[2] === undefined ? 0 : Number(m[2]);
  if (maj > smaj || (maj === smaj && min > (smin || 0))) {
    return fail(res, 400, `API version v${m[1]}${m[2] !== undefined ? '.' + m[2] : ''} is newer than the server's ${version.apiVersion}`);
  }
  if (token !== null && req.headers['x-api-token'] !== token) {
    return send(res, 401, { code: 'API_INVALID_TOKEN', message: 'Invalid or missing API token' });
  }
  const rest = m[3].replace(/\/+$/, '');
  if (rest === 'snapshots' && req.method === 'GET') {
    return send(res, 200, snapshots.map((s) => ({ id: s.id, name: s.name || null, state: s.state, tsEnd: s.tsEnd || null, locked: Boolean(s.locked) })));
  }
  const t = rest.match(/^tables\/(.+)$/);
  if (!t) return fail(res, 404, `Not found: ${path}`);
  if (req.method !== 'POST') return fail(res, 405, 'Tables are read with POST');
  const table = t[1];
  stats.tables[table] = (stats.tables[table] || 0) + 1;
  if (failing && table === failing) return fail(res, 500, 'Internal server error');
  let q;
  try { q = JSON.parse(body || '{}'); } catch (e) { return fail(res, 400, `Invalid JSON: ${e.message}`); }
  if (!q.snapshot) return fail(res, 422, 'snapshot is required', { field: 'snapshot' });
  const snap = snapshotOf(q.snapshot);
  if (!snap) return fail(res, 422, `Snapshot ${q.snapshot} not found`, { field: 'snapshot' });
  if (snap.state !== 'loaded') return fail(res, 422, `Snapshot ${snap.id} is not loaded`, { field: 'snapshot' });
  const tables = tablesOf(snap);
  const rows = tables[table];
  if (!Array.isArray(rows)) return fail(res, 404, `No table ${table}`);
  const known = new Set([...(COLUMNS[table] || []), ...((data.columns && data.columns[table]) || [])]);
  for (const r of rows) for (const k of Object.keys(r)) known.add(k);
  if (!Array.isArray(q.columns) || q.columns.length === 0) return fail(res, 422, 'columns: a non-empty list is required', { field: 'columns' });
  const bad = q.columns.filter((c) => !known.has(c));
  if (bad.length) return fail(res, 422, `Unknown columns: ${bad.join(', ')}`, { field: 'columns' });
  const p = q.pagination || {};
  const limit = p.limit === undefined ? rows.length : p.limit;
  const start = p.start === undefined ? 0 : p.start;
  if (!Number.isInteger(limit) || limit < 1 || limit > maxLimit) return fail(res, 422, `pagination.limit must be 1..${maxLimit}`, { field: 'pagination' });
  if (!Number.isInteger(start) || start < 0) return fail(res, 422, 'pagination.start must be 0 or more', { field: 'pagination' });
  let kept;
  try {
    const at = q.attributeFilters ? attributeTest(q.attributeFilters, tables) : () => true;
    kept = rows.filter((r) => at(r) && (!q.filters || passes(q.filters, r, known)));
  } catch (e) {
    return fail(res, 422, e.message, { field: 'filters' });
  }
  const page = kept.slice(start, start + limit).map((r) => {
    const o = {};
    for (const c of q.columns) o[c] = r[c] === undefined ? null : r[c];
    return o;
  });
  stats.rows += page.length;
  return send(res, 200, { data: page, _meta: { limit, start, count: kept.length, size: page.length } });
}

serve(handle, send, stats, latency);
