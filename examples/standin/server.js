// A local stand-in for the parts of Nautobot's and PeeringDB's REST APIs
// that examples 03 and 05 use, served by json-server from a JSON document
// (regions, sites, custom_fields, ix collections), so that the examples
// run without an outside service:
//
//   /api/dcim/regions/, /api/dcim/sites/, /api/extras/custom-fields/
//     Nautobot style: lists as {count, next, previous, results}; a
//     region's parent and a site's region are written as an id, a name or
//     {"name": ...} and read back as {id, name, slug}; a site's status is
//     written as a slug and read back as {value, label}
//   /api/ix/ID   PeeringDB style: {"data": [ix]}
//
// usage: node server.js DB.json   (prints "listening PORT PID" when ready;
// the document is rewritten as the examples write; Nautobot records carry
// UUIDs, as Nautobot's do)
'use strict';
const jsonServer = require('json-server');

const server = jsonServer.create();
const router = jsonServer.router(process.argv[2]);
const db = router.db;

const COLLECTIONS = { 'dcim/regions': 'regions', 'dcim/sites': 'sites',
                      'extras/custom-fields': 'custom_fields' };

// a reference written as an id, a name or {"name"/"slug": ...} -> the id
function resolve(coll, ref) {
  if (ref === null || ref === undefined) return null;
  const all = db.get(coll).value();
  const hit = typeof ref === 'object'
    ? all.find(r => (ref.name !== undefined && r.name === ref.name) ||
                    (ref.slug !== undefined && r.slug === ref.slug))
    : all.find(r => String(r.id) === String(ref)) || all.find(r => r.name === ref);
  return hit ? hit.id : ref;
}

function nested(coll, id) {
  const r = id === null || id === undefined ? null
    : db.get(coll).value().find(x => String(x.id) === String(id));
  return r ? { id: r.id, name: r.name, slug: r.slug } : null;
}

// Nautobot's ids are UUIDs: new records get the next one of a
// deterministic sequence, 00000000-0000-4000-8000-000000000001, ...
function nextId(coll) {
  const n = db.get(coll).value().reduce((max, r) => {
    const m = String(r.id).match(/-(\d{12})$/);
    return m ? Math.max(max, Number(m[1])) : max;
  }, 0) + 1;
  return '00000000-0000-4000-8000-' + String(n).padStart(12, '0');
}

function capitalize(s) { return s.charAt(0).toUpperCase() + s.slice(1); }

function present(coll, r) {
  if (!r || typeof r !== 'object') return r;
  if (coll === 'regions') return { ...r, parent: nested('regions', r.parent) };
  if (coll === 'sites') return { ...r, region: nested('regions', r.region) };
  return r;
}

server.use(jsonServer.defaults({ logger: false }));
server.use(jsonServer.bodyParser);

// PeeringDB: /api/ix/62 -> {"data": [the ix]}
server.get('/api/ix/:id', (req, res) => {
  const ix = db.get('ix').value().find(x => String(x.id) === req.params.id);
  if (!ix) return res.status(404).json({ meta: { error: 'Not found.' }, data: [] });
  return res.json({ meta: {}, data: [ix] });
});

// Nautobot: /api/<app>/<collection>/[id/] -> json-server's /<collection>[/id]
server.use((req, res, next) => {
  const m = req.path.match(/^\/api\/([a-z]+\/[a-z-]+)\/(?:([^/]+)\/)?$/);
  if (!m || !COLLECTIONS[m[1]]) return next();
  const coll = COLLECTIONS[m[1]];
  if (req.body && (req.method === 'POST' || req.method === 'PATCH' || req.method === 'PUT')) {
    if (coll === 'regions' && 'parent' in req.body) req.body.parent = resolve('regions', req.body.parent);
    if (coll === 'sites' && 'region' in req.body) req.body.region = resolve('regions', req.body.region);
    if (coll === 'sites' && typeof req.body.status === 'string') {
      req.body.status = { value: req.body.status, label: capitalize(req.body.status) };
    }
    if (coll === 'regions' && req.method === 'POST' && !('parent' in req.body)) req.body.parent = null;
    if (req.method === 'POST') req.body.id = nextId(coll);
  }
  const query = req.url.includes('?') ? req.url.slice(req.url.indexOf('?')) : '';
  req.url = '/' + coll + (m[2] ? '/' + m[2] : '') + query;
  req.standin = coll;
  return next();
});

router.render = (req, res) => {
  const data = res.locals.data;
  if (!req.standin) return res.jsonp(data);
  if (Array.isArray(data)) {
    return res.jsonp({ count: data.length, next: null, previous: null,
                       results: data.map(r => present(req.standin, r)) });
  }
  return res.jsonp(present(req.standin, data));
};
server.use(router);

const s = server.listen(0, '127.0.0.1', () => {
  console.log(`listening ${s.address().port} ${process.pid}`);
});
process.on('SIGTERM', () => s.close(() => process.exit(0)));
