// A stand-in for the Meraki Dashboard API v1, serving one organization
// from a data file, for the calls Nautobot SSoT's Meraki integration makes.
// On 127.0.0.1 with a free port; prints "listening PORT PID" when ready.
//
//   node meraki_standin.js --data ORG.json [--key KEY] [--rate N] [--burst N]
//                          [--latency MS] [--fail PATH]
//
// The data file holds what the API answers:
//   { "organization": {"id", "name"}, "networks": [...], "devices": [...],
//     "deviceStatuses": [...], "uplinkStatuses": [...], "uplinkAddresses": [...],
//     "switchPortsBySwitch": [...],
//     "managementInterface": {SERIAL: {...}}, "applianceUplinksSettings": {SERIAL: {...}},
//     "appliancePorts": {NETWORK_ID: [...]}, "applianceVlansSettings": {NETWORK_ID: {...}},
//     "applianceVlans": {NETWORK_ID: [...]}, "applianceSingleLan": {NETWORK_ID: {...}} }
// In the per-device and per-network maps, "*" answers for any serial or
// network the map does not name (as a test's mock answers every call alike);
// a serial or network it does not hold is a 404.
//
// As the API does:
// - "Authorization: Bearer KEY" or "X-Cisco-Meraki-API-Key: KEY" (401
//   otherwise); an organization the key does not reach is a 404
// - list endpoints page with perPage (each endpoint's range; 400 outside
//   it) and startingAfter / endingBefore, the item's key as the token, and
//   an RFC 8288 Link header (rel=first, prev, next, last)
// - devices/uplinks/addresses/byDevice filters by serials[]
// - the rate limit of an organization (10 requests a second, a burst of
//   10 more) answers 429 with Retry-After (whole seconds) and
//   {"errors": ["Too many requests"]}
// - appliance VLAN calls on a network whose VLANs are disabled answer 400
// --fail PATH answers 501 to that path (a server error clients do not retry).
// /__stats gives the requests by method and route, the 429s, and the most in flight.
'use strict';
const fs = require('fs');
const { opt, serve } = require('./standin');

const dataFile = opt('--data', null);
if (!dataFile) { console.error('usage: meraki_standin.js --data ORG.json'); process.exit(2); }
const key = opt('--key', null);
const rate = Number(opt('--rate', '10'));
const burst = Number(opt('--burst', '10'));
const latency = Number(opt('--latency', '0'));
const failing = opt('--fail', null);
const data = JSON.parse(fs.readFileSync(dataFile, 'utf8'));
const org = data.organization;
// the lists are lists (an empty one may come as {} from a Lua table)
for (const k of ['networks', 'devices', 'deviceStatuses', 'uplinkStatuses', 'uplinkAddresses', 'switchPortsBySwitch']) {
  const v = data[k];
  if (v === undefined || (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0)) data[k] = [];
  else if (!Array.isArray(v)) { console.error(`--data: ${k} must be a list`); process.exit(2); }
}

const stats = { GET: 0, throttled: 0, errors: 0, inflight: 0, maxInflight: 0, paths: {} };

function send(res, code, body, headers = {}) {
  const text = body === undefined ? '' : JSON.stringify(body);
  if (code >= 400 && code !== 429) stats.errors++;
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

// {====== the rate limit: a token bucket per organization ======}

let tokens = rate + burst;
let last = Date.now();
function admit() {
  const now = Date.now();
  tokens = Math.min(rate + burst, tokens + ((now - last) / 1000) * rate);
  last = now;
  if (tokens >= 1) { tokens -= 1; return 0; }
  return Math.max(1, Math.ceil((1 - tokens) / rate));
}

// {====== paging ======}

// [path pattern, the data's list, the item's key, perPage max, default]
const LISTS = [
  [/^\/organizations\/([^/]+)\/networks$/, 'networks', 'id', 100000, 1000],
  [/^\/organizations\/([^/]+)\/devices$/, 'devices', 'serial', 5000, 1000],
  [/^\/organizations\/([^/]+)\/devices\/statuses$/, 'deviceStatuses', 'serial', 1000, 1000],
  [/^\/organizations\/([^/]+)\/uplinks\/statuses$/, 'uplinkStatuses', 'serial', 1000, 1000],
  [/^\/organizations\/([^/]+)\/devices\/uplinks\/addresses\/byDevice$/, 'uplinkAddresses', 'serial', 1000, 1000],
  [/^\/organizations\/([^/]+)\/switch\/ports\/bySwitch$/, 'switchPortsBySwitch', 'serial', 50, 50],
];

function page(req, res, u, items, itemKey, max, def) {
  const q = u.searchParams;
  const per = q.has('perPage') ? Number(q.get('perPage')) : def;
  if (!Number.isInteger(per) || per < 3 || per > max) {
    return send(res, 400, { errors: [`'perPage' must be an integer between 3 and ${max}`] });
  }
  const serials = q.getAll('serials[]');
  if (serials.length) items = items.filter((it) => serials.includes(it.serial));
  let start = 0;
  let end;
  if (q.has('startingAfter')) {
    const i = items.findIndex((it) => String(it[itemKey]) === q.get('startingAfter'));
    start = i + 1;
    end = start + per;
  } else if (q.has('endingBefore')) {
    const i = items.findIndex((it) => String(it[itemKey]) === q.get('endingBefore'));
    end = i < 0 ? items.length : i;
    start = Math.max(0, end - per);
  } else {
    end = per;
  }
  const slice = items.slice(start, end);
  const base = `http://${req.headers.host}${u.pathname}`;
  const link = (rel, mod) => {
    const p = new URLSearchParams(q);
    p.delete('startingAfter'); p.delete('endingBefore');
    p.set('perPage', String(per));
    for (const [k, v] of Object.entries(mod)) p.set(k, v);
    return `<${base}?${p}>; rel=${rel}`;
  };
  const links = [link('first', {})];
  if (start > 0 && slice.length) links.push(link('prev', { endingBefore: String(slice[0][itemKey]) }));
  if (end < items.length && slice.length) links.push(link('next', { startingAfter: String(slice[slice.length - 1][itemKey]) }));
  links.push(link('last', items.length > per ? { startingAfter: String(items[items.length - per - 1][itemKey]) } : {}));
  return send(res, 200, slice, { Link: links.join(', ') });
}

// A per-device or per-network answer: the map's entry, or its "*".
function one(res, map, id, what) {
  const m = data[map] || {};
  const v = Object.prototype.hasOwnProperty.call(m, id) ? m[id] : m['*'];
  if (v === undefined) return send(res, 404, { errors: [`${what} not found`] });
  return send(res, 200, v);
}

const known = (list, k, id) => (data[list] || []).some((x) => x[k] === id);
const vlansOn = (net) => {
  const s = (data.applianceVlansSettings || {})[net] || (data.applianceVlansSettings || {})['*'];
  return s ? s.vlansEnabled : undefined;
};

async function handle(req, res) {
  const u = new URL(req.url, `http://${req.headers.host}`);
  if (u.pathname === '/__stats') return send(res, 200, stats);
  const auth = req.headers.authorization || '';
  const given = auth.startsWith('Bearer ') ? auth.slice(7) : req.headers['x-cisco-meraki-api-key'];
  if (key && given !== key) return send(res, 401, { errors: ['Invalid API key'] });
  const wait = admit();
  if (wait) {
    stats.throttled++;
    return send(res, 429, { errors: ['Too many requests'] }, { 'Retry-After': String(wait) });
  }
  if (req.method !== 'GET') return send(res, 405, { errors: ['The stand-in answers GET only'] });
  const p = u.pathname.replace(/^\/api\/v1/, '');
  if (failing && p === failing) return send(res, 501, { errors: ['Not implemented (--fail)'] });
  const route = p.replace(/\/(?:[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}|[A-Z]_\d+|\d+)(?=\/|$)/g, '/{id}');
  stats.paths[route] = (stats.paths[route] || 0) + 1;
  if (p === '/organizations') return send(res, 200, [org]);
  for (const [re, list, itemKey, max, def] of LISTS) {
    const m = p.match(re);
    if (!m) continue;
    if (m[1] !== org.id) return send(res, 404, { errors: ['Organization not found'] });
    return page(req, res, u, data[list] || [], itemKey, max, def);
  }
  let m = p.match(/^\/devices\/([^/]+)\/(managementInterface|appliance\/uplinks\/settings)$/);
  if (m) {
    if (!known('devices', 'serial', m[1])) return send(res, 404, { errors: ['Device not found'] });
    return one(res, m[2] === 'managementInterface' ? 'managementInterface' : 'applianceUplinksSettings', m[1], 'Device');
  }
  m = p.match(/^\/networks\/([^/]+)\/appliance\/(ports|vlans|vlans\/settings|singleLan)$/);
  if (m) {
    const [, net, what] = m;
    if (!known('networks', 'id', net) && !known('devices', 'networkId', net)) {
      return send(res, 404, { errors: ['Network not found'] });
    }
    if (what === 'vlans' && vlansOn(net) === false) {
      return send(res, 400, { errors: ['VLANs are not enabled for this network'] });
    }
    if (what === 'singleLan' && vlansOn(net) === true) {
      return send(res, 400, { errors: ['Single LAN is not available while VLANs are enabled'] });
    }
    const map = { ports: 'appliancePorts', vlans: 'applianceVlans', 'vlans/settings': 'applianceVlansSettings',
                  singleLan: 'applianceSingleLan' }[what];
    return one(res, map, net, 'Network');
  }
  return send(res, 404, { errors: ['Not found'] });
}

serve(handle, send, stats, latency);
