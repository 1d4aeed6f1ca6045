// A stateful stand-in for NetBox's REST API, enforcing NetBox's write rules
// for the endpoints moonsync's contract specs use: dcim sites, devices,
// device roles, device types, manufacturers; ipam prefixes and IP addresses.
// On 127.0.0.1 with a free port; prints "listening PORT PID" when ready.
//
//   node netbox_standin.js [--token T] [--latency MS]
//
// Rules (NetBox 4.x):
// - token auth: "Authorization: Token T", or "Bearer T" for v2 tokens
//   (nbt_...); 403 otherwise
// - required fields on create; uniqueness (site name and slug, device name
//   within its site, ...)
// - references by numeric id or by attributes ({"slug": "leaf"}); an
//   unknown one is a 400 naming the field
// - choice fields read as {value, label} and written as plain strings
// - PROTECT: deleting a record others reference is a 409
// - bulk writes on list endpoints (POST, PATCH, PUT, DELETE with a list)
//   are atomic: one bad item refuses the batch, with a list of per-item
//   errors aligned with the request ({} for the good ones)
// - limit/offset pagination with {count, next, previous, results}
// /__stats gives the requests received by method and the largest number of
// requests that were in progress at once.
'use strict';
const { opt, serve, dispatch } = require('./standin');

const token = opt('--token', null);
const latency = Number(opt('--latency', '0'));

const choices = (...vs) => Object.fromEntries(vs.map((v) => [v, v[0].toUpperCase() + v.slice(1)]));
const SITE_STATUS = choices('planned', 'staging', 'active', 'decommissioning', 'retired');
const DEVICE_STATUS = choices('offline', 'active', 'planned', 'staged', 'failed', 'inventory',
                              'decommissioning');
const PREFIX_STATUS = choices('container', 'active', 'reserved', 'deprecated');
const IP_STATUS = choices('active', 'reserved', 'deprecated', 'dhcp', 'slaac');

const RES = {
  'dcim/manufacturers': { required: ['name', 'slug'], unique: [['name'], ['slug']], display: 'name' },
  'dcim/device-types': { required: ['manufacturer', 'model', 'slug'],
                         refs: { manufacturer: 'dcim/manufacturers' },
                         unique: [['manufacturer', 'model'], ['manufacturer', 'slug']], display: 'model' },
  'dcim/device-roles': { required: ['name', 'slug'], unique: [['name'], ['slug']], display: 'name' },
  'dcim/sites': { required: ['name', 'slug'], choices: { status: SITE_STATUS },
                  defaults: { status: 'active' }, unique: [['name'], ['slug']], display: 'name' },
  'dcim/devices': { required: ['device_type', 'role', 'site'],
                    refs: { device_type: 'dcim/device-types', role: 'dcim/device-roles',
                            site: 'dcim/sites' },
                    choices: { status: DEVICE_STATUS }, defaults: { status: 'active', name: null },
                    unique: [['site', 'name']], display: 'name' },
  'ipam/prefixes': { required: ['prefix'], choices: { status: PREFIX_STATUS },
                     defaults: { status: 'active' }, display: 'prefix' },
  'ipam/ip-addresses': { required: ['address'], choices: { status: IP_STATUS },
                         defaults: { status: 'active' }, display: 'address' },
};
const db = {};
// per kind and unique constraint: the joined values -> id
const uniq = {};
for (const k of Object.keys(RES)) {
  db[k] = new Map();
  uniq[k] = (RES[k].unique || []).map(() => new Map());
}
function ukey(u, rec) {
  let k = '';
  for (const f of u) {
    const v = rec[f];
    if (v === undefined || v === null) return null;
    k += typeof v + ':' + v + '\u0000';
  }
  return k;
}
function store(kind, rec) {
  const old = db[kind].get(rec.id);
  (RES[kind].unique || []).forEach((u, i) => {
    if (old) { const k = ukey(u, old); if (k !== null) uniq[kind][i].delete(k); }
    const k = ukey(u, rec);
    if (k !== null) uniq[kind][i].set(k, rec.id);
  });
  db[kind].set(rec.id, rec);
}
function unstore(kind, id) {
  const old = db[kind].get(id);
  (RES[kind].unique || []).forEach((u, i) => {
    const k = ukey(u, old);
    if (k !== null) uniq[kind][i].delete(k);
  });
  db[kind].delete(id);
}
let serial = 1;
const newId = () => serial++;

const stats = { GET: 0, POST: 0, PATCH: 0, PUT: 0, DELETE: 0, inflight: 0, maxInflight: 0, busyMs: 0 };

function send(res, code, body) {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function baseUrl(req) { return `http://${req.headers.host}/api/`; }

function brief(req, kind, obj) {
  const out = { id: obj.id, url: `${baseUrl(req)}${kind}/${obj.id}/`, display: String(obj[RES[kind].display]) };
  for (const f of ['name', 'slug', 'model']) if (obj[f] !== undefined) out[f] = obj[f];
  return out;
}

function render(req, kind, obj, base) {
  const spec = RES[kind];
  const refs = spec.refs || {};
  const chs = spec.choices || {};
  base = base || baseUrl(req);
  const out = { id: obj.id, url: `${base}${kind}/${obj.id}/`, display: String(obj[spec.display]) };
  for (const k in obj) {
    if (k === 'id') continue;
    const v = obj[k];
    if (refs[k] !== undefined) {
      const t = v === null ? null : db[refs[k]].get(v);
      out[k] = t ? brief(req, refs[k], t) : null;
    } else if (chs[k] !== undefined) {
      out[k] = v === null ? null : { value: v, label: chs[k][v] };
    } else {
      out[k] = v;
    }
  }
  return out;
}

// Resolves a reference: a numeric id (or a UUID for Nautobot) or attributes.
function resolve(kind, v) {
  const table = db[kind];
  if (v === null) return { ok: true, id: null };
  if (typeof v === 'number' || typeof v === 'string') {
    if (table.has(v)) return { ok: true, id: v };
    return { ok: false, msg: `Related object not found using the provided numeric ID: ${v}` };
  }
  if (typeof v === 'object' && !Array.isArray(v)) {
    if (v.id !== undefined) return resolve(kind, v.id);
    const hits = [...table.values()].filter((o) => Object.entries(v).every(([k, x]) => o[k] === x));
    if (hits.length === 1) return { ok: true, id: hits[0].id };
    return { ok: false, msg: `Related object not found using the provided attributes: ${JSON.stringify(v)}` };
  }
  return { ok: false, msg: `Invalid value: ${JSON.stringify(v)}` };
}

// Validates one item (full for create and PUT, partial for PATCH) against
// the current table plus `pending` (the unique keys of earlier items of the
// same batch, one Map per constraint). Returns [errors or null, the record
// to store].
function validate(kind, item, existing, partial, pending) {
  const spec = RES[kind];
  const errs = {};
  if (typeof item !== 'object' || item === null || Array.isArray(item)) {
    return [{ non_field_errors: ['Invalid data. Expected a dictionary.'] }, null];
  }
  const rec = Object.assign({}, existing || spec.defaults || {});
  const refs = spec.refs || {};
  const chs = spec.choices || {};
  for (const k in item) {
    if (k === 'id') continue;
    const v = item[k];
    if (refs[k] !== undefined) {
      const r = resolve(refs[k], v);
      if (!r.ok) errs[k] = [r.msg]; else rec[k] = r.id;
    } else if (chs[k] !== undefined) {
      if (v !== null && (typeof v !== 'string' || !chs[k][v])) {
        errs[k] = [`"${typeof v === 'string' ? v : JSON.stringify(v)}" is not a valid choice.`];
      } else rec[k] = v;
    } else {
      rec[k] = v;
    }
  }
  if (!partial) {
    for (const f of spec.required) {
      if (rec[f] === undefined || rec[f] === null || rec[f] === '') errs[f] = ['This field is required.'];
    }
  }
  (spec.unique || []).forEach((u, i) => {
    const k = ukey(u, rec);
    if (k === null) return;
    const holder = uniq[kind][i].get(k);
    const twin = pending[i].get(k);
    if ((holder !== undefined && holder !== rec.id) || (twin !== undefined && twin !== rec.id)) {
      errs[u[u.length - 1]] = [`${kind.split('/')[1]} with this ${u.join(' and ')} already exists.`];
    }
  });
  for (const k in errs) return [errs, rec];
  return [null, rec];
}

// Who references obj (PROTECT)?
function referrers(kind, id, ignoring) {
  const out = [];
  for (const [k, spec] of Object.entries(RES)) {
    for (const [f, target] of Object.entries(spec.refs || {})) {
      if (target !== kind) continue;
      for (const o of db[k].values()) if (o[f] === id && !ignoring.has(`${k}:${o.id}`)) out.push(`${k}:${o.id}`);
    }
  }
  return out;
}

function list(req, res, kind, url) {
  let items = [...db[kind].values()];
  for (const f of ['name', 'slug', 'prefix', 'address']) {
    const v = url.searchParams.get(f);
    if (v !== null) items = items.filter((o) => String(o[f]) === v);
  }
  const limit = Math.min(Number(url.searchParams.get('limit') || 50), 1000);
  const offset = Number(url.searchParams.get('offset') || 0);
  const page = items.slice(offset, offset + limit);
  const at = (o) => `${baseUrl(req)}${kind}/?limit=${limit}&offset=${o}`;
  return send(res, 200, { count: items.length,
    next: offset + limit < items.length ? at(offset + limit) : null,
    previous: offset > 0 ? at(Math.max(0, offset - limit)) : null,
    results: page.map((o) => render(req, kind, o)) });
}

// A batch (or one item) written atomically.
function write(req, res, kind, data, method, one) {
  const items = one ? [data] : data;
  if (!Array.isArray(items)) return send(res, 400, { detail: 'Expected a list of items.' });
  const errors = [];
  const recs = [];
  const pending = (RES[kind].unique || []).map(() => new Map());
  let bad = false;
  for (const it of items) {
    let existing = null;
    if (method !== 'POST') {
      const id = one ? one : it && it.id;
      existing = id !== undefined ? db[kind].get(id) : undefined;
      if (!existing) { errors.push({ id: ['This field is required for bulk operations.'] }); bad = true; recs.push(null); continue; }
    }
    const [e, rec] = validate(kind, it, existing, method === 'PATCH', pending);
    errors.push(e || {});
    if (e) bad = true;
    recs.push(rec);
    if (rec) {
      (RES[kind].unique || []).forEach((u, i) => {
        const k = ukey(u, rec);
        if (k !== null) pending[i].set(k, rec.id === undefined ? Symbol('new') : rec.id);
      });
    }
  }
  if (bad) return send(res, 400, one ? errors[0] : errors);
  const base = baseUrl(req);
  const out = recs.map((rec) => {
    if (method === 'POST') rec.id = newId();
    store(kind, rec);
    return render(req, kind, rec, base);
  });
  return send(res, method === 'POST' ? 201 : 200, one ? out[0] : out);
}

function destroy(req, res, kind, ids) {
  const doomed = new Set(ids.map((id) => `${kind}:${id}`));
  for (const id of ids) {
    if (!db[kind].has(id)) return send(res, 404, { detail: 'No ' + kind + ' matches the given query.' });
  }
  for (const id of ids) {
    const refs = referrers(kind, id, doomed);
    if (refs.length) {
      return send(res, 409, { detail: `Unable to delete object. ${refs.length} dependent objects were found: ${refs.slice(0, 3).join(', ')}` });
    }
  }
  for (const id of ids) unstore(kind, id);
  res.writeHead(204);
  return res.end();
}

function authorized(req) {
  if (!token) return true;
  const want = token.startsWith('nbt_') ? `Bearer ${token}` : `Token ${token}`;
  return req.headers.authorization === want;
}

async function handle(req, res, body) {
  const url = new URL(req.url, `http://${req.headers.host}`);
  if (url.pathname === '/__stats') return send(res, 200, stats);
  if (!authorized(req)) return send(res, 403, { detail: 'Invalid token.' });
  const m = url.pathname.match(/^\/api\/([a-z]+\/[a-z-]+)\/(?:([0-9a-f-]+)\/)?$/);
  if (!m || !RES[m[1]]) return send(res, 404, { detail: 'Not found.' });
  const kind = m[1];
  const id = m[2] === undefined ? undefined : Number(m[2]);
  let data = null;
  if (body) {
    try { data = JSON.parse(body); } catch (e) { return send(res, 400, { detail: 'JSON parse error' }); }
  }
  const obj = id !== undefined ? db[kind].get(id) : undefined;
  return dispatch(req, res, data, {
    id, obj, send,
    get: () => send(res, 200, render(req, kind, obj)),
    list: () => list(req, res, kind, url),
    write: (d, method, one) => write(req, res, kind, d, method, one),
    destroy: (ids) => destroy(req, res, kind, ids),
  });
}

serve(handle, send, stats, latency);
