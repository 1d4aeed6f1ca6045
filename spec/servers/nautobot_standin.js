// A stateful stand-in for Nautobot 3.x's REST API, enforcing Nautobot's
// write rules for the resources of the SSoT example job (location types,
// locations, statuses, roles, tags, tenants, namespaces, prefixes, prefix
// location assignments, IP addresses, manufacturers, device types,
// platforms, devices, interfaces) and of the Meraki job (software
// versions, controller managed device groups, IP address to interface
// assignments, a device's primary IPs) and IP Fabric's (VLANs and their
// locations, virtual chassis). On 127.0.0.1 with a free port; prints
// "listening PORT PID" when ready.
//
//   node nautobot_standin.js [--token T] [--latency MS] [--seed FILE.json]
//                            [--max-page-size N]
//
// The seed is {"dcim/locations": [body, ...], ...}: bodies as a POST takes
// them, written in the file's order through the same rules. Like a new
// Nautobot, the stand-in starts with the "Global" namespace.
//
// Rules (Nautobot 3.x):
// - "Authorization: Token T" (403 otherwise); an Accept version, if sent,
//   must be 2.x or 3.x (406 otherwise)
// - ids are UUIDs; a reference is a UUID, {"id": UUID} or a dict of
//   attributes, nested ones too ({"name": "ams", "parent": {"name": "eu"}});
//   400 naming the field when none or several records match
// - required fields; unknown and read-only fields are refused (400)
// - uniqueness: location name within its parent, prefix per namespace, IP
//   address per namespace, device name per location, interface per device,
//   device type model per manufacturer; names of the rest
// - statuses and roles only for the content types they list; a location's
//   type must fit its parent's (the type's parent type, or the same type
//   when nestable; a type with a parent type needs a parent location); a
//   device only at a location whose type allows devices, a prefix location
//   assignment only where the type allows prefixes
// - a prefix is written as "network/length" in its namespace (default
//   Global); an IP address as "host/length", with a parent prefix in its
//   namespace that contains it (the closest, unless `parent` is given)
// - a device's primary_ip4 (primary_ip6) is an IPv4 (IPv6) address
//   assigned to one of its interfaces; a device in a virtual chassis has a
//   position, and a chassis' master is one of its members
// - a VLAN's vid is 1-4094, unique with its name within its group; its
//   locations are written through ipam/vlan-location-assignments, only
//   where the location type allows VLANs
// - PROTECT on delete (409), but interfaces go with their device, IP
//   address assignments with their address or interface, prefix location
//   assignments with their prefix or location, and a device's primary IP
//   is set to null when the address goes
// - ?depth=N nests referenced objects N levels deep; many-to-many fields
//   (tags, content_types, a prefix's locations) only with exclude_m2m=false;
//   filters on fields (a reference by id or by name), on custom fields
//   (cf_NAME), a VLAN's location; an unknown query parameter is a 400
// - bulk POST, PATCH and DELETE on list endpoints, atomic, with per-item
//   errors aligned with the request ({} for the good items)
// /__stats gives the requests by method, the error responses, and the
// largest number of requests in progress at once.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const { opt, serve, dispatch } = require('./standin');

const token = opt('--token', null);
const latency = Number(opt('--latency', '0'));
const seed = opt('--seed', null);
// the most records a page holds, whatever the limit asked (Nautobot's MAX_PAGE_SIZE)
const maxPage = Number(opt('--max-page-size', '1000'));

// Choices and their labels, from Nautobot's schema (the subset bundled
// with the Nautobot adapter): a choice field reads as {value, label}.
const SCHEMA = JSON.parse(fs.readFileSync(`${__dirname}/../../adapters/nautobot_openapi.lua`, 'utf8')
  .replace(/^[\s\S]*?return \[==\[/, '').replace(/\]==\][\s\S]*$/, ''));
function choiceOf(component) {
  const c = SCHEMA.components.schemas[component];
  const enumOf = (p) => SCHEMA.components.schemas[p.$ref.split('/').pop()].enum;
  const values = enumOf(c.properties.value);
  const labels = enumOf(c.properties.label);
  return { values, label: Object.fromEntries(values.map((x, i) => [x, labels[i]])) };
}
// The fields each create request may carry: the stand-in keeps the ones
// it has no rule for as plain values.
function requestFields(kind) {
  const post = SCHEMA.paths[`/api/${kind}/`].post.requestBody.content['application/json'].schema;
  const name = post.oneOf[0].$ref.split('/').pop();
  return Object.keys(SCHEMA.components.schemas[name].properties);
}
const INTERFACE_TYPE = choiceOf('InterfaceType');
const PREFIX_TYPE = choiceOf('PrefixType');

// Field kinds: v (value, with a default), ref (to a kind), m2m (list of
// refs), ct (list of content types), choice, ro (read-only, computed).
const v = (def) => ({ k: 'v', def });
const ref = (to, opts = {}) => ({ k: 'ref', to, ...opts });
const RES = {
  'dcim/location-types': { ct: 'dcim.locationtype', required: ['name'], unique: [['name']], tree: true,
    fields: { name: v(), description: v(''), nestable: v(false), parent: ref('dcim/location-types'),
              content_types: { k: 'ct' } } },
  'dcim/locations': { ct: 'dcim.location', required: ['name', 'location_type', 'status'], tree: true,
    unique: [['parent', 'name']],
    fields: { name: v(), description: v(''), facility: v(''), location_type: ref('dcim/location-types'),
              status: ref('extras/statuses'), parent: ref('dcim/locations'), tenant: ref('tenancy/tenants'),
              tags: { k: 'm2m', to: 'extras/tags' } } },
  'extras/statuses': { ct: 'extras.status', required: ['name', 'content_types'], unique: [['name']],
    fields: { name: v(), color: v('9e9e9e'), description: v(''), content_types: { k: 'ct' } } },
  'extras/roles': { ct: 'extras.role', required: ['name', 'content_types'], unique: [['name']],
    fields: { name: v(), color: v('9e9e9e'), description: v(''), weight: v(null), content_types: { k: 'ct' } } },
  'extras/tags': { ct: 'extras.tag', required: ['name', 'content_types'], unique: [['name']],
    extra: { tagged_items: 0 },
    fields: { name: v(), color: v('9e9e9e'), description: v(''), content_types: { k: 'ct' } } },
  'tenancy/tenants': { ct: 'tenancy.tenant', required: ['name'], unique: [['name']],
    fields: { name: v(), description: v(''), comments: v(''), tags: { k: 'm2m', to: 'extras/tags' } } },
  'ipam/namespaces': { ct: 'ipam.namespace', required: ['name'], unique: [['name']],
    fields: { name: v(), description: v(''), tenant: ref('tenancy/tenants'), location: ref('dcim/locations'),
              tags: { k: 'm2m', to: 'extras/tags' } } },
  'ipam/prefixes': { ct: 'ipam.prefix', required: ['prefix', 'status'],
    unique: [['namespace', 'network', 'prefix_length']],
    fields: { prefix: { k: 'w' }, network: { k: 'ro' }, prefix_length: { k: 'ro' }, ip_version: { k: 'ro' },
              namespace: ref('ipam/namespaces'), status: ref('extras/statuses'), tenant: ref('tenancy/tenants'),
              description: v(''), type: { k: 'choice', ...PREFIX_TYPE, def: 'network' },
              tags: { k: 'm2m', to: 'extras/tags' },
              locations: { k: 'through', via: 'ipam/prefix-location-assignments', self: 'prefix' } } },
  'ipam/prefix-location-assignments': { ct: 'ipam.prefixlocationassignment', required: ['prefix', 'location'],
    unique: [['prefix', 'location']],
    fields: { prefix: ref('ipam/prefixes', { cascade: true }), location: ref('dcim/locations', { cascade: true }) } },
  'ipam/ip-addresses': { ct: 'ipam.ipaddress', required: ['address', 'status'],
    unique: [['parent_ns', 'host']],
    fields: { address: { k: 'w' }, host: { k: 'ro' }, mask_length: { k: 'ro' }, ip_version: { k: 'ro' },
              namespace: { k: 'wo' }, parent: ref('ipam/prefixes'), status: ref('extras/statuses'),
              tenant: ref('tenancy/tenants'), dns_name: v(''), description: v(''),
              type: { k: 'choice', values: ['host', 'dhcp', 'slaac'], def: 'host', plain: true },
              tags: { k: 'm2m', to: 'extras/tags' } } },
  'dcim/manufacturers': { ct: 'dcim.manufacturer', required: ['name'], unique: [['name']],
    fields: { name: v(), description: v('') } },
  'dcim/device-types': { ct: 'dcim.devicetype', required: ['manufacturer', 'model'],
    unique: [['manufacturer', 'model']],
    fields: { manufacturer: ref('dcim/manufacturers'), model: v(), part_number: v(''), u_height: v(1),
              is_full_depth: v(true), comments: v(''), tags: { k: 'm2m', to: 'extras/tags' } } },
  'dcim/platforms': { ct: 'dcim.platform', required: ['name'], unique: [['name']],
    extra: { network_driver_mappings: {} },
    fields: { name: v(), manufacturer: ref('dcim/manufacturers'), description: v(''),
              network_driver: v(''), napalm_driver: v('') } },
  'dcim/devices': { ct: 'dcim.device', required: ['device_type', 'role', 'status', 'location'],
    unique: [['location', 'tenant', 'name'], ['asset_tag']],
    fields: { name: v(null), device_type: ref('dcim/device-types'), role: ref('extras/roles'),
              status: ref('extras/statuses'), location: ref('dcim/locations'), platform: ref('dcim/platforms'),
              tenant: ref('tenancy/tenants'), serial: v(''), asset_tag: v(null), comments: v(''),
              software_version: ref('dcim/software-versions'),
              virtual_chassis: ref('dcim/virtual-chassis', { setNull: true }), vc_position: v(null),
              vc_priority: v(null),
              controller_managed_device_group: ref('dcim/controller-managed-device-groups'),
              primary_ip4: ref('ipam/ip-addresses', { setNull: true }),
              primary_ip6: ref('ipam/ip-addresses', { setNull: true }),
              tags: { k: 'm2m', to: 'extras/tags' } } },
  'dcim/interfaces': { ct: 'dcim.interface', required: ['name', 'type', 'status', 'device'],
    extra: { cable: null, cable_peer: null, cable_peer_type: null, connected_endpoint: null,
             connected_endpoint_type: null, connected_endpoint_reachable: null },
    unique: [['device', 'name']],
    fields: { name: v(), device: ref('dcim/devices', { cascade: true }), status: ref('extras/statuses'),
              role: ref('extras/roles'), type: { k: 'choice', ...INTERFACE_TYPE },
              description: v(''), label: v(''), enabled: v(true), mac_address: v(null), mgmt_only: v(false),
              mtu: v(null), tags: { k: 'm2m', to: 'extras/tags' } } },
  'dcim/software-versions': { ct: 'dcim.softwareversion', required: ['version', 'platform', 'status'],
    unique: [['platform', 'version']],
    fields: { version: v(), platform: ref('dcim/platforms'), status: ref('extras/statuses'), alias: v(''),
              tags: { k: 'm2m', to: 'extras/tags' } } },
  // the controller is kept as given: the stand-in has no controllers
  'dcim/controller-managed-device-groups': { ct: 'dcim.controllermanageddevicegroup',
    required: ['name', 'controller'], unique: [['name']], tree: true,
    fields: { name: v(), controller: v(), parent: ref('dcim/controller-managed-device-groups'),
              tenant: ref('tenancy/tenants'), weight: v(1000), description: v(''),
              tags: { k: 'm2m', to: 'extras/tags' } } },
  'ipam/vlans': { ct: 'ipam.vlan', required: ['vid', 'name', 'status'],
    unique: [['vlan_group', 'vid'], ['vlan_group', 'name']],
    fields: { vid: v(), name: v(), description: v(''), status: ref('extras/statuses'), role: ref('extras/roles'),
              tenant: ref('tenancy/tenants'), vlan_group: v(null), tags: { k: 'm2m', to: 'extras/tags' },
              locations: { k: 'through', via: 'ipam/vlan-location-assignments', self: 'vlan' } } },
  'ipam/vlan-location-assignments': { ct: 'ipam.vlanlocationassignment', required: ['vlan', 'location'],
    unique: [['vlan', 'location']],
    fields: { vlan: ref('ipam/vlans', { cascade: true }), location: ref('dcim/locations', { cascade: true }) } },
  // a virtual chassis' master must be one of its members
  'dcim/virtual-chassis': { ct: 'dcim.virtualchassis', required: ['name'], unique: [['name']],
    fields: { name: v(), domain: v(''), master: ref('dcim/devices', { setNull: true }),
              tags: { k: 'm2m', to: 'extras/tags' } } },
  'ipam/ip-address-to-interface': { ct: 'ipam.ipaddresstointerface', required: ['ip_address', 'interface'],
    unique: [['ip_address', 'interface']],
    fields: { ip_address: ref('ipam/ip-addresses', { cascade: true }),
              interface: ref('dcim/interfaces', { cascade: true }), vm_interface: v(null),
              is_source: v(false), is_destination: v(false), is_default: v(false), is_preferred: v(false),
              is_primary: v(false), is_secondary: v(false), is_standby: v(false) } },
};
// A plain field that reads as {value, label} is a choice, blank ("") when not set.
function itemProps(kind) {
  const list = SCHEMA.paths[`/api/${kind}/`].get.responses[200].content['application/json'].schema;
  const page = SCHEMA.components.schemas[list.$ref.split('/').pop()];
  return SCHEMA.components.schemas[page.properties.results.items.$ref.split('/').pop()].properties;
}
for (const [kind, spec] of Object.entries(RES)) {
  spec.plain = new Set(requestFields(kind).filter((f) => !spec.fields[f] && !['id', 'custom_fields', 'relationships'].includes(f)));
  const props = itemProps(kind);
  for (const f of spec.plain) {
    const r = props[f] && props[f].$ref && props[f].$ref.split('/').pop();
    const c = r && SCHEMA.components.schemas[r];
    if (c && c.properties && c.properties.value && c.properties.label) {
      spec.fields[f] = { k: 'choice', ...choiceOf(r), def: '' };
      spec.plain.delete(f);
    }
  }
}
const CT_OF = Object.fromEntries(Object.entries(RES).map(([k, s]) => [s.ct, k]));
const db = Object.fromEntries(Object.keys(RES).map((k) => [k, new Map()]));

const stats = { GET: 0, POST: 0, PATCH: 0, PUT: 0, DELETE: 0, errors: 0, lastErrors: [],
                inflight: 0, maxInflight: 0 };

function send(res, code, body) {
  const text = body === undefined ? '' : JSON.stringify(body);
  if (code >= 400) {
    stats.errors++;
    stats.lastErrors.push(`${res.req.method} ${res.req.url}: ${code} ${text.slice(0, 300)}`);
    if (stats.lastErrors.length > 10) stats.lastErrors.shift();
  }
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

// {====== IP arithmetic (v4 and v6, as BigInt) ======}

function parseIp(s) {
  if (typeof s !== 'string') return null;
  if (s.includes(':')) {
    let [head, tail] = s.split('::');
    const h = head ? head.split(':') : [];
    const t = tail !== undefined ? (tail ? tail.split(':') : []) : [];
    if (tail === undefined && h.length !== 8) return null;
    const parts = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
    let n = 0n;
    for (const p of parts) {
      if (!/^[0-9a-f]{1,4}$/i.test(p)) return null;
      n = (n << 16n) + BigInt(parseInt(p, 16));
    }
    return { n, bits: 128, version: 6 };
  }
  const p = s.split('.');
  if (p.length !== 4 || p.some((x) => !/^\d{1,3}$/.test(x) || Number(x) > 255)) return null;
  return { n: p.reduce((a, x) => (a << 8n) + BigInt(x), 0n), bits: 32, version: 4 };
}
function fmtIp(n, version) {
  if (version === 4) return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 255n)).join('.');
  const parts = [];
  for (let s = 112n; s >= 0n; s -= 16n) parts.push(((n >> s) & 0xffffn).toString(16));
  return parts.join(':').replace(/(^|:)0(:0)+(:|$)/, '::').replace(/:{3,}/, '::');
}
function parseCidr(s) {
  const m = typeof s === 'string' && s.match(/^([^/]+)\/(\d{1,3})$/);
  const ip = m && parseIp(m[1]);
  if (!ip || Number(m[2]) > ip.bits) return null;
  return { ...ip, len: Number(m[2]) };
}
const mask = (len, bits) => (len === 0 ? 0n : ((1n << BigInt(bits)) - 1n) ^ ((1n << BigInt(bits - len)) - 1n));

// {====== references ======}

const url = (req, kind, id) => `http://${req.headers.host}/api/${kind}/${id}/`;

// Does record o of kind match the attributes a?
function matches(kind, o, a) {
  const spec = RES[kind];
  for (const [k, want] of Object.entries(a)) {
    const f = spec.fields[k];
    const have = o[k];
    if (f && f.k === 'ref') {
      if (want === null) { if (have !== null && have !== undefined) return false; continue; }
      if (typeof want === 'string') { if (have !== want) return false; continue; }
      if (have === null || have === undefined) return false;
      const t = db[f.to].get(have);
      if (!t || typeof want !== 'object' || !matches(f.to, t, want.id !== undefined ? { id: want.id } : want)) return false;
    } else if (k === 'id') {
      if (o.id !== want) return false;
    } else if (f && f.k === 'w') {
      if (o.host === undefined && o.network === undefined) return false;
      if (`${o.network || o.host}/${o.prefix_length || o.mask_length}` !== want) return false;
    } else if (o[k] !== want) {
      return false;
    }
  }
  return true;
}

function resolve(kind, val) {
  if (val === null) return { ok: true, id: null };
  if (typeof val === 'string') {
    if (db[kind].has(val)) return { ok: true, id: val };
    return { ok: false, msg: `Related object not found using the provided ID: ${val}` };
  }
  if (typeof val === 'object' && !Array.isArray(val)) {
    if (val.id !== undefined) return resolve(kind, val.id);
    for (const k of Object.keys(val)) {
      if (!RES[kind].fields[k] && k !== 'id') return { ok: false, msg: `Related object lookup on unknown field: ${k}` };
    }
    const named = typeof val.name === 'string' && index[kind] ? index[kind].names.get(val.name) : null;
    const pool = named ? [...named].map((id) => db[kind].get(id)) : db[kind].values();
    const hits = [...pool].filter((o) => matches(kind, o, val));
    if (hits.length === 1) return { ok: true, id: hits[0].id };
    return { ok: false, msg: hits.length ? `Multiple objects match the provided attributes: ${JSON.stringify(val)}`
                                         : `Related object not found using the provided attributes: ${JSON.stringify(val)}` };
  }
  return { ok: false, msg: `Incorrect type. Expected UUID or dict, got ${JSON.stringify(val)}` };
}

// {====== rendering ======}

function brief(req, kind, id) {
  return { id, object_type: RES[kind].ct, url: url(req, kind, id) };
}
function nested(req, kind, id, depth, m2m) {
  if (id === null || id === undefined) return null;
  const o = db[kind].get(id);
  if (!o || depth <= 0) return brief(req, kind, id);
  return render(req, kind, o, depth - 1, m2m);
}
function render(req, kind, o, depth, m2m) {
  const spec = RES[kind];
  const out = { id: o.id, object_type: spec.ct, display: String(o.name || o.model || o.prefix || o.address || o.id),
                url: url(req, kind, o.id), natural_slug: String(o.name || o.id).toLowerCase() };
  for (const [k, f] of Object.entries(spec.fields)) {
    if (f.k === 'wo') continue;
    if (f.k === 'ref') out[k] = nested(req, f.to, o[k], depth, m2m);
    else if (f.k === 'm2m') { if (m2m) out[k] = (o[k] || []).map((id) => nested(req, f.to, id, depth, m2m)); }
    else if (f.k === 'ct') out[k] = [...(o[k] || [])].sort();
    else if (f.k === 'through') {
      if (m2m) {
        out[k] = [...db[f.via].values()].filter((a) => a[f.self] === o.id)
          .map((a) => nested(req, 'dcim/locations', a.location, depth, m2m));
      }
    } else if (f.k === 'choice') {
      // a blank choice is left out of the answer
      if (o[k] === '' && !f.plain) continue;
      out[k] = o[k] === null || f.plain ? o[k] : { value: o[k], label: f.label[o[k]] };
    } else if (f.k === 'w') {
      out[k] = `${kind === 'ipam/prefixes' ? o.network : o.host}/${o.prefix_length || o.mask_length}`;
    } else out[k] = o[k] === undefined ? null : o[k];
  }
  for (const k of spec.plain) if (o[k] !== undefined) out[k] = o[k];
  if (spec.tree) {
    let d = 0;
    for (let p = o; p && p.parent; p = db[kind].get(p.parent)) d++;
    out.tree_depth = d;
  }
  if (kind === 'ipam/prefixes') {
    const c = parseCidr(out.prefix);
    out.broadcast = fmtIp(c.n | (((1n << BigInt(c.bits)) - 1n) ^ mask(c.len, c.bits)), c.version);
  }
  Object.assign(out, spec.extra || {});
  out.custom_fields = o.custom_fields || {};
  out.created = o.created;
  out.last_updated = o.last_updated;
  out.notes_url = `${out.url}notes/`;
  return out;
}

// {====== validation ======}

function contentTypeOk(statusKind, id, ct) {
  const s = db[statusKind].get(id);
  return s && (s.content_types || []).includes(ct);
}

// The errors of one item, and the record it makes.
function validate(kind, item, existing, partial) {
  const spec = RES[kind];
  const errs = {};
  if (typeof item !== 'object' || item === null || Array.isArray(item)) {
    return [{ non_field_errors: ['Invalid data. Expected a dictionary.'] }, null];
  }
  const rec = existing ? JSON.parse(JSON.stringify(existing)) : {};
  if (!existing) {
    for (const [k, f] of Object.entries(spec.fields)) {
      if (f.k === 'v') rec[k] = f.def === undefined ? null : f.def;
      else if (f.k === 'ref') rec[k] = null;
      else if (f.k === 'm2m' || f.k === 'ct') rec[k] = [];
      else if (f.k === 'choice') rec[k] = f.def === undefined ? null : f.def;
    }
  }
  let nsGiven;
  for (const [k, val] of Object.entries(item)) {
    if (k === 'id') continue;
    const f = spec.fields[k];
    if (k === 'custom_fields') {
      if (typeof val !== 'object' || val === null || Array.isArray(val)) errs[k] = ['Expected a dictionary.'];
      else rec.custom_fields = Object.assign({}, rec.custom_fields || {}, val);
      continue;
    }
    if (!f && spec.plain.has(k)) {
      // in Nautobot's schema, without a rule here: kept as it is, when plain
      if (val !== null && typeof val === 'object') errs[k] = ['The stand-in keeps this field only as a plain value or null.'];
      else rec[k] = val;
      continue;
    }
    if (!f) { errs[k] = ['Unknown field.']; continue; }
    if (f.k === 'ro' || f.k === 'through') { errs[k] = ['This field is read-only.']; continue; }
    if (f.k === 'ref') {
      const r = resolve(f.to, val);
      if (!r.ok) errs[k] = [r.msg]; else rec[k] = r.id;
    } else if (f.k === 'm2m') {
      if (!Array.isArray(val)) { errs[k] = ['Expected a list of items.']; continue; }
      const ids = [];
      for (const x of val) {
        const r = resolve(f.to, x);
        if (!r.ok) { errs[k] = [r.msg]; break; }
        ids.push(r.id);
      }
      rec[k] = [...new Set(ids)];
    } else if (f.k === 'ct') {
      if (!Array.isArray(val) || val.some((x) => typeof x !== 'string' || !/^[a-z_]+\.[a-z_]+$/.test(x))) {
        errs[k] = ['Expected a list of content types ("app_label.model").'];
      } else rec[k] = [...new Set(val)];
    } else if (f.k === 'choice') {
      if (val !== null && !f.values.includes(val) && !(val === '' && f.def === '')) errs[k] = [`"${typeof val === 'string' ? val : JSON.stringify(val)}" is not a valid choice.`];
      else rec[k] = val;
    } else if (f.k === 'wo') {
      nsGiven = val;
    } else if (f.k === 'w') {
      const c = parseCidr(val);
      if (!c) { errs[k] = [`Enter a valid ${k === 'prefix' ? 'prefix' : 'IP address'} in CIDR notation.`]; continue; }
      if (kind === 'ipam/prefixes') {
        if ((c.n & ~mask(c.len, c.bits)) !== 0n) { errs[k] = [`${val} is not a network address; the host bits are set.`]; continue; }
        rec.network = fmtIp(c.n, c.version);
      } else {
        rec.host = fmtIp(c.n, c.version);
      }
      rec[kind === 'ipam/prefixes' ? 'prefix_length' : 'mask_length'] = c.len;
      rec.ip_version = c.version;
      rec._n = String(c.n);
    } else {
      rec[k] = val;
    }
  }
  if (!partial) {
    for (const f of spec.required) {
      const have = spec.fields[f].k !== 'w' ? rec[f] : f === 'prefix' ? rec.network : rec.host;
      if (have === undefined || have === null || have === '' || (Array.isArray(have) && have.length === 0 && f === 'content_types')) {
        if (!errs[f]) errs[f] = ['This field is required.'];
      }
    }
  }
  if (Object.keys(errs).length) return [errs, rec];
  // Nautobot's model rules
  if (rec.status && !contentTypeOk('extras/statuses', rec.status, spec.ct)) {
    errs.status = [`${db['extras/statuses'].get(rec.status).name} is not a valid status for ${spec.ct}.`];
  }
  if (rec.role && !contentTypeOk('extras/roles', rec.role, spec.ct)) {
    errs.role = [`${db['extras/roles'].get(rec.role).name} is not a valid role for ${spec.ct}.`];
  }
  if (kind === 'dcim/locations' && rec.location_type) {
    const lt = db['dcim/location-types'].get(rec.location_type);
    const parent = rec.parent && db['dcim/locations'].get(rec.parent);
    if (parent) {
      const ok = parent.location_type === lt.parent || (lt.nestable && parent.location_type === lt.id);
      if (!ok) errs.parent = [`A Location of type ${lt.name} can only have a Location of the same type or of type ${lt.parent ? db['dcim/location-types'].get(lt.parent).name : '(none)'} as its parent.`];
      for (let p = parent; p; p = p.parent && db['dcim/locations'].get(p.parent)) {
        if (p.id === rec.id) { errs.parent = ['A Location cannot be its own ancestor.']; break; }
      }
    } else if (lt.parent) {
      errs.parent = [`A Location of type ${lt.name} must have a parent Location of type ${db['dcim/location-types'].get(lt.parent).name}.`];
    }
  }
  const allows = (locId, ct) => {
    const loc = db['dcim/locations'].get(locId);
    const lt = loc && db['dcim/location-types'].get(loc.location_type);
    return lt && (lt.content_types || []).includes(ct);
  };
  if (kind === 'dcim/devices' && rec.location && !allows(rec.location, 'dcim.device')) {
    errs.location = ['Devices may not associate to locations of this type.'];
  }
  if (kind === 'dcim/devices') {
    for (const [f, version] of [['primary_ip4', 4], ['primary_ip6', 6]]) {
      if (!rec[f] || (existing && existing[f] === rec[f])) continue;
      const ip = db['ipam/ip-addresses'].get(rec[f]);
      if (ip.ip_version !== version) { errs[f] = [`${ip.host} is not an IPv${version} address.`]; continue; }
      const mine = [...db['ipam/ip-address-to-interface'].values()].some((a) => a.ip_address === ip.id &&
        a.interface && db['dcim/interfaces'].get(a.interface).device === rec.id);
      if (!mine) errs[f] = [`The specified IP address (${ip.host}/${ip.mask_length}) is not assigned to this device.`];
    }
  }
  if (kind === 'ipam/vlans' && !(Number.isInteger(rec.vid) && rec.vid >= 1 && rec.vid <= 4094)) {
    errs.vid = ['Ensure this value is greater than or equal to 1 and less than or equal to 4094.'];
  }
  if (kind === 'ipam/vlan-location-assignments' && rec.location && !allows(rec.location, 'ipam.vlan')) {
    errs.location = ['VLANs may not associate to locations of this type.'];
  }
  if (kind === 'dcim/virtual-chassis' && rec.master) {
    const m = db['dcim/devices'].get(rec.master);
    if (m.virtual_chassis !== rec.id) errs.master = [`The selected master (${m.name}) is not assigned to this virtual chassis.`];
  }
  if (kind === 'dcim/devices' && rec.virtual_chassis && rec.vc_position === null) {
    errs.vc_position = ['A device assigned to a virtual chassis must have its position defined.'];
  }
  if (kind === 'ipam/prefix-location-assignments' && rec.location && !allows(rec.location, 'ipam.prefix')) {
    errs.location = ['Prefixes may not associate to locations of this type.'];
  }
  if (kind === 'ipam/prefixes') {
    if (!rec.namespace) rec.namespace = [...db['ipam/namespaces'].values()].find((n) => n.name === 'Global').id;
  }
  if (kind === 'ipam/ip-addresses' && rec.host) {
    const ip = parseIp(rec.host);
    let parent = rec.parent && db['ipam/prefixes'].get(rec.parent);
    const contains = (p) => {
      const c = parseCidr(`${p.network}/${p.prefix_length}`);
      return c.version === ip.version && (ip.n & mask(c.len, c.bits)) === c.n;
    };
    if (parent && !contains(parent)) errs.parent = [`${parent.network}/${parent.prefix_length} does not contain ${rec.host}.`];
    if (!parent && !errs.parent) {
      let ns = null;
      if (nsGiven !== undefined) {
        const r = resolve('ipam/namespaces', nsGiven);
        if (!r.ok) errs.namespace = [r.msg]; else ns = r.id;
      } else if (existing && existing.parent) {
        ns = db['ipam/prefixes'].get(existing.parent).namespace;
      } else {
        ns = [...db['ipam/namespaces'].values()].find((n) => n.name === 'Global').id;
      }
      const cands = [...db['ipam/prefixes'].values()].filter((p) => p.namespace === ns && contains(p))
        .sort((a, b) => b.prefix_length - a.prefix_length);
      if (!errs.namespace && !cands.length) errs.parent = [`No suitable parent Prefix for ${rec.host} exists in the namespace.`];
      else if (cands.length) parent = cands[0];
    }
    if (parent) { rec.parent = parent.id; rec.parent_ns = parent.namespace; }
  }
  return [Object.keys(errs).length ? errs : null, rec];
}

function ukey(u, rec) {
  return u.map((f) => `${typeof rec[f]}:${rec[f]}`).join('\u0000');
}
// Does a unique constraint apply to rec? (blank single values and unnamed
// devices are not unique)
function constrained(kind, u, rec) {
  if (u.length === 1 && (rec[u[0]] === null || rec[u[0]] === undefined || rec[u[0]] === '')) return false;
  // (a VLAN outside any group is unique by nothing: SQL's NULLs differ)
  if (kind === 'ipam/vlans' && (rec.vlan_group === null || rec.vlan_group === undefined)) return false;
  return !(kind === 'dcim/devices' && rec.name === null);
}
function uniqueErrors(kind, rec, others) {
  const spec = RES[kind];
  for (const [i, u] of (spec.unique || []).entries()) {
    if (!constrained(kind, u, rec)) continue;
    const k = ukey(u, rec);
    const holder = index[kind].unique[i].get(k);
    const clash = (holder !== undefined && holder !== rec.id) ||
      others.some((o) => o !== rec && constrained(kind, u, o) && ukey(u, o) === k);
    if (clash) return { [u[u.length - 1]]: [`${spec.ct.split('.')[1]} with this ${u.filter((x) => x !== 'parent_ns').join(' and ') || 'namespace'} already exists.`] };
  }
  return null;
}

// The table of a kind, with its unique keys and names indexed.
const index = Object.fromEntries(Object.entries(RES).map(([k, spec]) =>
  [k, { unique: (spec.unique || []).map(() => new Map()), names: new Map() }]));
function drop(kind, id) {
  const old = db[kind].get(id);
  if (!old) return;
  const ix = index[kind];
  (RES[kind].unique || []).forEach((u, i) => {
    const k = ukey(u, old);
    if (ix.unique[i].get(k) === id) ix.unique[i].delete(k);
  });
  const set = ix.names.get(old.name);
  if (set) set.delete(id);
  db[kind].delete(id);
}
function put(kind, rec) {
  drop(kind, rec.id);
  const ix = index[kind];
  (RES[kind].unique || []).forEach((u, i) => {
    if (constrained(kind, u, rec)) ix.unique[i].set(ukey(u, rec), rec.id);
  });
  if (rec.name !== undefined) {
    if (!ix.names.has(rec.name)) ix.names.set(rec.name, new Set());
    ix.names.get(rec.name).add(rec.id);
  }
  db[kind].set(rec.id, rec);
}

// {====== requests ======}

const QUERY = new Set(['limit', 'offset', 'depth', 'exclude_m2m', 'format']);

// filters beyond a resource's fields: a VLAN's location (by id or name, through its assignments)
const FILTERS = {
  'ipam/vlans': {
    location: (o, val) => [...db['ipam/vlan-location-assignments'].values()].some((a) => a.vlan === o.id
      && (a.location === val || (db['dcim/locations'].get(a.location) || {}).name === val)),
  },
};

function list(req, res, kind, u) {
  // a page asked for again, unchanged since, is sent as it was
  const again = pages.get(req.headers.host + req.url);
  if (again) {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': again.length });
    return res.end(again);
  }
  const spec = RES[kind];
  for (const k of u.searchParams.keys()) {
    if (!QUERY.has(k) && !spec.fields[k] && k !== 'id' && !/^cf_\w+$/.test(k) && !(FILTERS[kind] || {})[k]) {
      return send(res, 400, { [k]: [`Unknown filter field`] });
    }
  }
  let items = listed.get(kind);
  if (!items) { items = [...db[kind].values()]; listed.set(kind, items); }
  for (const [k, val] of u.searchParams) {
    if (QUERY.has(k)) continue;
    const f = spec.fields[k];
    const extra = (FILTERS[kind] || {})[k];
    if (extra) {
      items = items.filter((o) => extra(o, val));
    } else if (k.startsWith('cf_')) {
      items = items.filter((o) => String((o.custom_fields || {})[k.slice(3)]) === val);
    } else if (f && f.k === 'ref') {
      // a reference filters by id or by the name (model, version) of what it refers to
      items = items.filter((o) => {
        const t = o[k] && db[f.to].get(o[k]);
        return o[k] === val || (t && [t.name, t.model, t.version].includes(val));
      });
    } else {
      items = items.filter((o) => String(o[k]) === val);
    }
  }
  const limit = Math.min(Number(u.searchParams.get('limit') || 50), maxPage);
  const offset = Number(u.searchParams.get('offset') || 0);
  const depth = Number(u.searchParams.get('depth') || 0);
  const m2m = u.searchParams.get('exclude_m2m') === 'false';
  if (!(depth >= 0 && depth <= 10)) return send(res, 400, { depth: ['Ensure this value is less than or equal to 10.'] });
  const page = items.slice(offset, offset + limit);
  const keep = new URLSearchParams(u.searchParams);
  const at = (o) => { keep.set('limit', limit); keep.set('offset', o); return `http://${req.headers.host}${u.pathname}?${keep}`; };
  // records as JSON text, kept until the next write
  const texts = page.map((o) => {
    const key = `${kind}\0${o.id}\0${depth}\0${m2m}\0${req.headers.host}`;
    let t = rendered.get(key);
    if (t === undefined) { t = JSON.stringify(render(req, kind, o, depth, m2m)); rendered.set(key, t); }
    return t;
  });
  const head = JSON.stringify({ count: items.length,
    next: offset + limit < items.length ? at(offset + limit) : null,
    previous: offset > 0 ? at(Math.max(0, offset - limit)) : null });
  const text = Buffer.from(`${head.slice(0, -1)},"results":[${texts.join(',')}]}`);
  pages.set(req.headers.host + req.url, text);
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': text.length });
  return res.end(text);
}
const rendered = new Map();
const listed = new Map();
const pages = new Map();

function write(req, res, kind, data, method, one) {
  const items = one ? [data] : data;
  if (!Array.isArray(items)) return send(res, 400, { detail: 'Expected a list of items.' });
  const errors = [];
  const recs = [];
  let bad = false;
  for (const it of items) {
    let existing = null;
    if (method !== 'POST') {
      const id = one ? one : it && it.id;
      existing = id !== undefined ? db[kind].get(id) : undefined;
      if (!existing) { errors.push({ id: ['This field is required for bulk operations.'] }); bad = true; recs.push(null); continue; }
    }
    let [e, rec] = validate(kind, it, existing, method === 'PATCH');
    if (!e && rec) e = uniqueErrors(kind, rec, recs.filter(Boolean));
    errors.push(e || {});
    if (e) bad = true;
    recs.push(rec);
  }
  if (bad) return send(res, 400, one ? errors[0] : errors);
  rendered.clear();
  listed.clear();
  pages.clear();
  const now = new Date().toISOString();
  const out = recs.map((rec) => {
    if (method === 'POST') { rec.id = crypto.randomUUID(); rec.created = now; }
    rec.last_updated = now;
    put(kind, rec);
    return render(req, kind, rec, 0, true);
  });
  return send(res, method === 'POST' ? 201 : 200, one ? out[0] : out);
}

// The records that reference id of kind: [kind, record, cascade].
function referrers(kind, id) {
  const out = [];
  for (const [k, spec] of Object.entries(RES)) {
    for (const [f, d] of Object.entries(spec.fields)) {
      if (d.to !== kind) continue;
      for (const o of db[k].values()) {
        if (d.k === 'ref' && o[f] === id) out.push([k, o, d.cascade ? 'cascade' : d.setNull ? f : false]);
      }
    }
  }
  return out;
}

function destroy(req, res, kind, ids) {
  for (const id of ids) {
    if (!db[kind].has(id)) return send(res, 404, { detail: `No ${RES[kind].ct} matches the given query.` });
  }
  const doomed = new Set(ids.map((id) => `${kind}:${id}`));
  const cascade = [];
  const nulled = [];
  const visit = (k, id) => {
    for (const [rk, o, c] of referrers(k, id)) {
      if (doomed.has(`${rk}:${o.id}`)) continue;
      if (c && c !== 'cascade') { nulled.push([o, c]); continue; }
      if (!c) return `${RES[rk].ct} ${o.name || o.model || o.network || o.host || o.id}`;
      doomed.add(`${rk}:${o.id}`);
      cascade.push([rk, o.id]);
      const why = visit(rk, o.id);
      if (why) return why;
    }
    return null;
  };
  for (const id of ids) {
    const why = visit(kind, id);
    if (why) {
      return send(res, 409, { detail: `Unable to delete object. The following dependent objects were found: ${why}` });
    }
  }
  rendered.clear();
  listed.clear();
  pages.clear();
  for (const [k, id] of cascade) drop(k, id);
  for (const id of ids) drop(kind, id);
  // what points at them with on_delete=SET_NULL (a device's primary IPs)
  for (const [o, f] of nulled) o[f] = null;
  // many-to-many links to the deleted records go with them
  for (const [k, spec] of Object.entries(RES)) {
    for (const [f, d] of Object.entries(spec.fields)) {
      if (d.k === 'm2m' && d.to === kind) for (const o of db[k].values()) o[f] = o[f].filter((x) => db[kind].has(x));
    }
  }
  res.writeHead(204);
  return res.end();
}

async function handle(req, res, body) {
  const u = new URL(req.url, `http://${req.headers.host}`);
  if (u.pathname === '/__stats') return send(res, 200, stats);
  if (token && req.headers.authorization !== `Token ${token}`) return send(res, 403, { detail: 'Invalid token.' });
  const ver = (req.headers.accept || '').match(/version=([0-9.]+)/);
  if (ver && !/^[23]\.\d+$/.test(ver[1])) return send(res, 406, { detail: `Invalid version in "Accept" header. Supported versions are 2.0 to 3.1.` });
  const m = u.pathname.match(/^\/api\/([a-z]+\/[a-z-]+)\/(?:([0-9a-f-]{36})\/)?$/);
  if (!m || !RES[m[1]]) return send(res, 404, { detail: 'Not found.' });
  const kind = m[1];
  const id = m[2];
  let data = null;
  if (body) {
    try { data = JSON.parse(body); } catch (e) { return send(res, 400, { detail: 'JSON parse error' }); }
  }
  const obj = id !== undefined ? db[kind].get(id) : undefined;
  return dispatch(req, res, data, {
    id, obj, send,
    get: () => send(res, 200, render(req, kind, obj, Number(u.searchParams.get('depth') || 0),
                                     u.searchParams.get('exclude_m2m') === 'false')),
    list: () => list(req, res, kind, u),
    write: (d, method, one) => write(req, res, kind, d, method, one),
    destroy: (ids) => destroy(req, res, kind, ids),
  });
}

// {====== start ======}

const globalNs = { id: crypto.randomUUID(), name: 'Global', description: 'Default Global namespace.',
                   tenant: null, location: null, tags: [], created: new Date().toISOString(),
                   last_updated: new Date().toISOString() };
put('ipam/namespaces', globalNs);
if (seed) {
  const doc = JSON.parse(fs.readFileSync(seed, 'utf8'));
  const fake = (kind) => ({ headers: { host: 'seed' }, method: 'POST', url: `/api/${kind}/` });
  for (const [kind, items] of Object.entries(doc)) {
    if (!RES[kind]) { console.error(`seed: no resource ${kind}`); process.exit(2); }
    for (const it of items) {
      let out;
      const res = { req: fake(kind), writeHead: (c) => { out = c; }, end: (t) => { if (out >= 400) { console.error(`seed: ${kind}: ${t}`); process.exit(2); } } };
      write(fake(kind), res, kind, it, 'POST', true);
    }
  }
  stats.errors = 0;
}

serve(handle, send, stats, latency);
