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

module.exports = { opt, serve };
