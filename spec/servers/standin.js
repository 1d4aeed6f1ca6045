// What the API stand-ins share: their options, and a server on 127.0.0.1
// with a free port that adds the configured latency to every request,
// counts requests in `stats` (by method, in flight, the most at once,
// milliseconds busy), and prints "listening PORT PID" when ready.
'use strict';
const http = require('http');

const args = process.argv.slice(2);

// The value of option `name` on the command line, or `def`.
function opt(name, def) {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
}

// Serves handle(req, res, body) (a promise); `send(res, code, body)`
// answers a handler that failed.
function serve(handle, send, stats, latency) {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (req.url !== '/__stats') stats[req.method] = (stats[req.method] || 0) + 1;
      stats.inflight++;
      stats.maxInflight = Math.max(stats.maxInflight, stats.inflight);
      const go = () => {
        stats.inflight--;
        const t0 = process.hrtime.bigint();
        handle(req, res, Buffer.concat(chunks).toString())
          .catch((e) => send(res, 500, { detail: String(e.stack || e) }))
          .finally(() => { stats.busyMs = (stats.busyMs || 0) + Number(process.hrtime.bigint() - t0) / 1e6; });
      };
      if (latency > 0 && req.url !== '/__stats') setTimeout(go, latency); else go();
    });
  });
  server.keepAliveTimeout = 30000;
  server.listen(0, '127.0.0.1', () => {
    console.log(`listening ${server.address().port} ${process.pid}`);
  });
  process.on('SIGTERM', () => { if (server.closeAllConnections) server.closeAllConnections(); process.exit(0); });
  return server;
}

// The REST verbs on a collection and its members, as NetBox and Nautobot
// answer them: h = {id, obj (the member id names), get(), list(),
// write(data, method, one), destroy(ids), send}.
function dispatch(req, res, data, h) {
  const { id, send } = h;
  if (id !== undefined) {
    if (!h.obj) return send(res, 404, { detail: 'Not found.' });
    if (req.method === 'GET') return h.get();
    if (req.method === 'PATCH' || req.method === 'PUT') return h.write(data, req.method, id);
    if (req.method === 'DELETE') return h.destroy([id]);
    return send(res, 405, { detail: 'Method not allowed.' });
  }
  if (req.method === 'GET') return h.list();
  if (req.method === 'POST') return h.write(data, 'POST', Array.isArray(data) ? undefined : true);
  if (req.method === 'PATCH' || req.method === 'PUT') return h.write(data, req.method);
  if (req.method === 'DELETE') {
    if (!Array.isArray(data)) return send(res, 400, { detail: 'Expected a list of items.' });
    return h.destroy(data.map((x) => x && x.id));
  }
  return send(res, 405, { detail: 'Method not allowed.' });
}

module.exports = { opt, serve, dispatch };
