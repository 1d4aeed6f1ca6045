// Test server for moonsync's HTTP specs and benchmarks, on 127.0.0.1 with
// a free port; prints "listening PORT PID" when ready.
//
//   node test_server.js [--latency MS] [--token TOKEN] [--records N] [--variant 0|1]
//
// Routes:
//   NetBox/Nautobot conventions under /api/dcim/devices/ (limit/offset
//   pagination with count/next/previous/results, token auth, bulk POST,
//   PATCH and DELETE on the list endpoint, /ID/ detail routes)
//   /link/items?page=&per_page=   RFC 8288 Link header pagination
//   /v1/items?_page=&_per_page=   json-server 1.x envelopes
//   /offset/items?offset=&limit=  plain arrays
//   faults: /retry-after/:id, /retry-after-date/:id, /flaky/:id?fails=N&code=C,
//   /cut/:id, /stall, /malformed, /always/:code, /echo, /hits/:id,
//   /conns (TCP connections accepted so far)
//   hostile: /other-next?to=URL and /other-link?to=URL (a NetBox next or a
//   Link header leading to URL/collect/page2), /redirect?to=URL (302),
//   /file-link (a Link to file:///etc/hostname), /endless (a chunked body
//   that never ends), /gzip-bomb?mib=N (gzip of N MiB of zeros),
//   /loop-count (count 3, a new next URL on every page), /loop-link (Link
//   headers forever), /echo-error/ (a REST collection whose writes fail
//   with a body quoting the request's URL and headers), /collect/* (a
//   NetBox page that records the headers it got), /seen (those headers)
//   sessions: POST /session/login {"user": "u", "password": "p"} answers
//   {"token"} (and the cookie sess=TOKEN), good for --session-requests N
//   requests (5); /session/items needs "Cookie: sess=TOKEN" (401 without,
//   403 "Token timeout" once the token is spent): GET lists the items, POST
//   {"name"} adds one (a name twice is a 400: a write repeated);
//   /session/stats gives the logins, the items and the refused requests
'use strict';
const http = require('http');
const zlib = require('zlib');
const { Readable } = require('stream');

const args = process.argv.slice(2);
function opt(name, def) {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
}
const latency = Number(opt('--latency', '0'));
const token = opt('--token', null);
const nrecords = Number(opt('--records', '250'));
const variant = Number(opt('--variant', '0'));
const sessionRequests = Number(opt('--session-requests', '5'));

let devices = [];
let nextId = 1;
for (let i = 0; i < nrecords; i++) {
  // variant 1 is another system's view: some devices missing, some
  // serials different, a few devices of its own
  if (variant === 1 && i % 20 === 19) continue;
  devices.push({ id: nextId++, name: `dev${String(i).padStart(5, '0')}`,
                 site: { id: 1 + (i % 7), name: `site${1 + (i % 7)}` },
                 role: { slug: i % 3 ? 'leaf' : 'spine' },
                 serial: variant === 1 && i % 10 === 0 ? `SN${i}-v2` : `SN${i}` });
}
if (variant === 1) {
  for (let i = 0; i < 5; i++) {
    devices.push({ id: nextId++, name: `ext${i}`, site: { id: 1, name: 'site1' },
                   role: { slug: 'leaf' }, serial: `EXT${i}` });
  }
}

const hits = {};
function hit(key) { hits[key] = (hits[key] || 0) + 1; return hits[key]; }

function send(res, code, body, headers) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(code, Object.assign({ 'Content-Type': 'application/json',
                                      'Content-Length': Buffer.byteLength(text) }, headers || {}));
  res.end(text);
}

function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString()));
  });
}

function netbox(req, res, url, body) {
  if (token && req.headers.authorization !== `Token ${token}`) {
    return send(res, 403, { detail: 'Authentication credentials were not provided.' });
  }
  const base = `http://${req.headers.host}/api/dcim/devices/`;
  const m = url.pathname.match(/^\/api\/dcim\/devices\/(?:(\d+)\/)?$/);
  if (!m) return send(res, 404, { detail: 'Not found.' });
  const id = m[1] ? Number(m[1]) : null;
  let data = null;
  if (body) {
    try { data = JSON.parse(body); } catch (e) { return send(res, 400, { detail: 'JSON parse error' }); }
  }
  if (id !== null) {
    const i = devices.findIndex((d) => d.id === id);
    if (i < 0) return send(res, 404, { detail: 'Not found.' });
    if (req.method === 'GET') return send(res, 200, devices[i]);
    if (req.method === 'PATCH' || req.method === 'PUT') {
      Object.assign(devices[i], data);
      return send(res, 200, devices[i]);
    }
    if (req.method === 'DELETE') {
      devices.splice(i, 1);
      res.writeHead(204); return res.end();
    }
    return send(res, 405, { detail: 'Method not allowed.' });
  }
  if (req.method === 'GET') {
    const limit = Math.min(Number(url.searchParams.get('limit') || 50), 1000);
    const offset = Number(url.searchParams.get('offset') || 0);
    let list = devices;
    const name = url.searchParams.get('name');
    if (name) list = list.filter((d) => d.name === name);
    const page = list.slice(offset, offset + limit);
    const next = offset + limit < list.length ? `${base}?limit=${limit}&offset=${offset + limit}` : null;
    const prev = offset > 0 ? `${base}?limit=${limit}&offset=${Math.max(0, offset - limit)}` : null;
    return send(res, 200, { count: list.length, next, previous: prev, results: page });
  }
  if (req.method === 'POST') {
    const items = Array.isArray(data) ? data : [data];
    for (const it of items) {
      if (!it || !it.name) return send(res, 400, { name: ['This field is required.'] });
      if (devices.some((d) => d.name === it.name)) {
        return send(res, 400, { name: ['device with this name already exists.'] });
      }
    }
    const created = items.map((it) => Object.assign({ id: nextId++ }, it));
    devices.push(...created);
    return send(res, 201, Array.isArray(data) ? created : created[0]);
  }
  if (req.method === 'PATCH' && Array.isArray(data)) {
    const out = [];
    for (const it of data) {
      const d = devices.find((x) => x.id === it.id);
      if (!d) return send(res, 400, { detail: `Object with id ${it.id} does not exist.` });
      Object.assign(d, it);
      out.push(d);
    }
    return send(res, 200, out);
  }
  if (req.method === 'DELETE' && Array.isArray(data)) {
    const ids = new Set(data.map((x) => x.id));
    devices = devices.filter((d) => !ids.has(d.id));
    res.writeHead(204); return res.end();
  }
  return send(res, 405, { detail: 'Method not allowed.' });
}

const seen = [];

function netboxPage(res, url, next) {
  return send(res, 200, { count: 3, next, previous: null,
    results: [{ id: 1, name: `r${url.searchParams.get('n') || 0}` }] });
}

function hostile(req, res, url, body) {
  const p = url.pathname;
  const here = `http://${req.headers.host}`;
  const to = url.searchParams.get('to');
  if (p === '/other-next') return netboxPage(res, url, `${to}/collect/page2`);
  if (p === '/other-link') {
    return send(res, 200, [{ id: 1 }], { Link: `<${to}/collect/page2>; rel="next"` });
  }
  if (p === '/redirect') { res.writeHead(302, { Location: `${to}/collect/page2` }); return res.end(); }
  if (p === '/file-link') {
    return send(res, 200, [{ id: 1 }], { Link: '<file:///etc/hostname>; rel="next"' });
  }
  if (p === '/endless') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    const chunk = Buffer.alloc(1 << 16, 0x20);
    const pump = () => { while (res.write(chunk)) {} };
    res.on('drain', pump);
    res.on('close', () => res.removeListener('drain', pump));
    res.write('[');
    return pump();
  }
  if (p === '/gzip-bomb') {
    const mib = Number(url.searchParams.get('mib') || 1024);
    let sent = 0;
    const zeros = Buffer.alloc(1 << 20, 0x20);
    const src = new Readable({ read() { this.push(sent++ < mib ? zeros : null); } });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' });
    const gz = zlib.createGzip({ level: 1 });
    res.on('close', () => { src.destroy(); gz.destroy(); });
    return src.pipe(gz).pipe(res);
  }
  if (p === '/loop-count') {
    const n = Number(url.searchParams.get('n') || 0);
    return netboxPage(res, url, `${here}/loop-count?n=${n + 1}`);
  }
  if (p === '/loop-link') {
    const n = Number(url.searchParams.get('n') || 0);
    return send(res, 200, [{ id: n }], { Link: `<${here}/loop-link?n=${n + 1}>; rel="next"` });
  }
  if (p === '/echo-error/') {
    if (req.method === 'GET') return send(res, 200, { count: 0, next: null, previous: null, results: [] });
    return send(res, 400, { detail: 'refused', url: req.url, headers: req.headers, body });
  }
  if (p.startsWith('/collect/')) {
    seen.push({ path: p, authorization: req.headers.authorization || null,
                'x-api-key': req.headers['x-api-key'] || null });
    return send(res, 200, { count: 1, next: null, previous: null, results: [{ id: 9, name: 'collected' }] });
  }
  if (p === '/seen') return send(res, 200, seen);
  return null;
}

// {====== sessions ======}

const sess = { logins: 0, tokens: {}, items: [], refused: 0 };

function session(req, res, p, body) {
  if (p === '/session/stats') return send(res, 200, { logins: sess.logins, items: sess.items, refused: sess.refused });
  if (p === '/session/login' && req.method === 'POST') {
    let b = {};
    try { b = JSON.parse(body || '{}'); } catch (e) { /* refused below */ }
    if (b.user !== 'u' || b.password !== 'p') return send(res, 401, { error: 'Username or password is incorrect' });
    sess.logins++;
    const t = `session-token-${sess.logins}-${Math.random().toString(16).slice(2)}`;
    sess.tokens[t] = sessionRequests;
    return send(res, 200, { token: t }, { 'Set-Cookie': `sess=${t}; path=/; HttpOnly` });
  }
  if (p !== '/session/items') return send(res, 404, { detail: 'Not found.' });
  const m = (req.headers.cookie || '').match(/(?:^|;\s*)sess=([^;]+)/);
  if (!m || sess.tokens[m[1]] === undefined) { sess.refused++; return send(res, 401, { error: 'Not logged in' }); }
  if (sess.tokens[m[1]] <= 0) { sess.refused++; return send(res, 403, { error: 'Token was invalid (Error: Token timeout)' }); }
  sess.tokens[m[1]]--;
  if (req.method === 'GET') return send(res, 200, sess.items);
  if (req.method === 'POST') {
    const it = JSON.parse(body || '{}');
    if (sess.items.includes(it.name)) return send(res, 400, { error: `${it.name} already exists` });
    sess.items.push(it.name);
    return send(res, 201, { name: it.name });
  }
  return send(res, 405, { detail: 'Method not allowed.' });
}

const HOSTILE = ['/other-next', '/other-link', '/redirect', '/file-link', '/endless', '/gzip-bomb',
                 '/loop-count', '/loop-link', '/echo-error/', '/seen'];

async function handle(req, res) {
  const url = new URL(req.url, `http://${req.headers.host}`);
  const body = await readBody(req);
  const p = url.pathname;
  let m;
  if (HOSTILE.includes(p) || p.startsWith('/collect/')) return hostile(req, res, url, body);
  if (p.startsWith('/api/')) return netbox(req, res, url, body);
  if (p.startsWith('/session/')) return session(req, res, p, body);
  if (p === '/link/items') {
    const page = Number(url.searchParams.get('page') || 1);
    const per = Number(url.searchParams.get('per_page') || 30);
    const last = Math.max(1, Math.ceil(devices.length / per));
    const base = `http://${req.headers.host}/link/items?per_page=${per}`;
    const links = [];
    if (page < last) links.push(`<${base}&page=${page + 1}>; rel="next"`);
    links.push(`<${base}&page=${last}>; rel="last"`);
    return send(res, 200, devices.slice((page - 1) * per, page * per), { Link: links.join(', ') });
  }
  if (p === '/v1/items') {
    // json-server 1.x envelope
    const page = Number(url.searchParams.get('_page') || 1);
    const per = Number(url.searchParams.get('_per_page') || 10);
    const pages = Math.max(1, Math.ceil(devices.length / per));
    return send(res, 200, { first: 1, prev: page > 1 ? page - 1 : null,
      next: page < pages ? page + 1 : null, last: pages, pages, items: devices.length,
      data: devices.slice((page - 1) * per, page * per) });
  }
  if (p === '/offset/items') {
    const offset = Number(url.searchParams.get('offset') || 0);
    const limit = Number(url.searchParams.get('limit') || 20);
    return send(res, 200, devices.slice(offset, offset + limit));
  }
  if ((m = p.match(/^\/retry-after\/(\w+)$/))) {
    if (hit(p) === 1) return send(res, 429, { detail: 'slow down' }, { 'Retry-After': '1' });
    return send(res, 200, { ok: true, attempts: hits[p] });
  }
  if ((m = p.match(/^\/retry-after-date\/(\w+)$/))) {
    if (hit(p) === 1) {
      const when = new Date(Date.now() + 1500).toUTCString();
      return send(res, 429, { detail: 'slow down' }, { 'Retry-After': when });
    }
    return send(res, 200, { ok: true, attempts: hits[p] });
  }
  if ((m = p.match(/^\/flaky\/(\w+)$/))) {
    const fails = Number(url.searchParams.get('fails') || 2);
    const code = Number(url.searchParams.get('code') || 503);
    if (hit(p) <= fails) return send(res, code, { detail: 'try again' });
    return send(res, 200, { ok: true, attempts: hits[p] });
  }
  if ((m = p.match(/^\/cut\/(\w+)$/))) {
    if (hit(p) === 1) {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '100' });
      res.write('{"partial": ');
      return setTimeout(() => req.socket.destroy(), 20);
    }
    return send(res, 200, { ok: true, attempts: hits[p] });
  }
  if (p === '/stall') { hit(p); return setTimeout(() => send(res, 200, { late: true }), 5000); }
  if (p === '/malformed') return send(res, 200, '{"a": [1, 2');
  if ((m = p.match(/^\/always\/(\d+)$/))) { hit(p); return send(res, Number(m[1]), { detail: 'no' }); }
  if (p === '/echo') {
    return send(res, 200, { method: req.method, headers: req.headers, body, query: url.search });
  }
  if ((m = p.match(/^\/hits(\/.*)$/))) return send(res, 200, { hits: hits[m[1]] || 0 });
  if (p === '/conns') return send(res, 200, { connections });
  return send(res, 404, { detail: 'Not found.' });
}

const server = http.createServer((req, res) => {
  const go = () => handle(req, res).catch((e) => send(res, 500, { detail: String(e) }));
  if (latency > 0 && !req.url.startsWith('/hits')) setTimeout(go, latency); else go();
});
let connections = 0;
server.on('connection', () => { connections++; });
server.keepAliveTimeout = 30000;
server.listen(0, '127.0.0.1', () => {
  console.log(`listening ${server.address().port} ${process.pid}`);
});
process.on('SIGTERM', () => { server.closeAllConnections && server.closeAllConnections(); process.exit(0); });
