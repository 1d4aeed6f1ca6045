// Starts json-server (the npm package, used as a library) on 127.0.0.1
// with a free port, and prints "listening PORT PID" once it accepts
// connections. usage: node json_server.js DB.json [--latency MS]
'use strict';
const jsonServer = require('json-server');

const args = process.argv.slice(2);
const db = args[0];
const latency = Number((args[args.indexOf('--latency') + 1]) || 0) || 0;

const server = jsonServer.create();
server.use(jsonServer.defaults({ logger: false }));
if (latency > 0) server.use((req, res, next) => setTimeout(next, latency));
server.use(jsonServer.bodyParser);
server.use(jsonServer.router(db));
const s = server.listen(0, '127.0.0.1', () => {
  console.log(`listening ${s.address().port} ${process.pid}`);
});
process.on('SIGTERM', () => s.close(() => process.exit(0)));
