// createServer()'s listening surface now that accept and handshake run in C (native/acceptor.c):
// maxConnections and 'drop', listen() twice, unref(), and a worker terminated while handshakes
// are in progress. Where node:tls does the same, the same program runs on both stacks.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import path from 'node:path';
import { describe, test } from 'node:test';
import tls from 'node:tls';
import { pathToFileURL } from 'node:url';
import { L, noop, openFds, pem, root, runNodeScript, waitFor, within } from '../support/helpers.mjs';
import { connectTo, rawConnect, T } from '../support/sockets.mjs';

const dist = pathToFileURL(path.join(root, 'dist', 'index.js')).href;

const stacks = {
  'node:tls': (onSecure) => tls.createServer({ cert: pem('server.crt'), key: pem('server.key') }, onSecure),
  libtls: (onSecure) =>
    L.createServer({ config: { certMem: pem('server.crt'), keyMem: pem('server.key') } }, onSecure),
};

const closeServer = (srv) => within(new Promise((r) => srv.close(r)), 5000, 'server.close()');

describe('createServer(): the listening surface with accept in C', () => {
  test(
    "maxConnections: a connection over the limit is closed at once with 'drop' (its addresses), on node:tls and ours alike",
    T,
    async () => {
      const traces = {};
      for (const [name, make] of Object.entries(stacks)) {
        const fds0 = openFds();
        const held = [];
        const srv = make((s) => {
          s.on('error', noop);
          held.push(s);
        });
        srv.maxConnections = 1;
        await new Promise((r) => srv.listen(0, '127.0.0.1', r));
        const port = srv.address().port;
        const drops = [];
        srv.on('drop', (d) => drops.push(d));
        const first = await connectTo(port);
        first.on('error', noop);
        await waitFor(() => held.length === 1, 3000);
        const over = await rawConnect(port);
        const overPort = over.localPort;
        const overClosed = once(over, 'close');
        await within(overClosed, 3000, 'the connection over the limit closes');
        await waitFor(() => drops.length === 1, 3000);
        const count = await new Promise((r) => srv.getConnections((err, n) => r(err ?? n)));
        first.destroy();
        await closeServer(srv);
        if (srv.context) srv.context.free();
        const d = drops[0] ?? {};
        traces[name] = {
          maxConnections: srv.maxConnections,
          drops: drops.length,
          drop: {
            localAddress: d.localAddress,
            localPortIsServer: d.localPort === port,
            localFamily: d.localFamily,
            remoteAddress: d.remoteAddress,
            remotePortIsClient: d.remotePort === overPort,
            remoteFamily: d.remoteFamily,
          },
          connectionsWhileFull: count,
          fdsBack: await waitFor(() => openFds() === fds0, 2000),
        };
      }
      assert.deepEqual(traces.libtls, traces['node:tls']);
      assert.deepEqual(traces.libtls.drop, {
        localAddress: '127.0.0.1',
        localPortIsServer: true,
        localFamily: 'IPv4',
        remoteAddress: '127.0.0.1',
        remotePortIsClient: true,
        remoteFamily: 'IPv4',
      });
      assert.equal(traces.libtls.connectionsWhileFull, 1);
      assert.equal(traces.libtls.fdsBack, true);
    },
  );

  test(
    'listen() on a listening server throws ERR_SERVER_ALREADY_LISTEN, on node:tls and ours alike',
    T,
    async () => {
      const codes = {};
      for (const [name, make] of Object.entries(stacks)) {
        const srv = make(noop);
        await new Promise((r) => srv.listen(0, '127.0.0.1', r));
        try {
          srv.listen(0, '127.0.0.1');
          codes[name] = 'no error';
        } catch (err) {
          codes[name] = err.code;
        }
        assert.equal(srv.listening, true, `${name}: still listening`);
        await closeServer(srv);
        if (srv.context) srv.context.free();
      }
      assert.deepEqual(codes, {
        'node:tls': 'ERR_SERVER_ALREADY_LISTEN',
        libtls: 'ERR_SERVER_ALREADY_LISTEN',
      });
    },
  );

  test(
    'unref(): a listening server alone does not keep the process alive, on node:tls and ours alike',
    T,
    async () => {
      const exits = {};
      for (const name of Object.keys(stacks)) {
        const make =
          name === 'node:tls'
            ? "tls.createServer({ cert: pem('server.crt'), key: pem('server.key') })"
            : "L.createServer({ config: { certMem: pem('server.crt'), keyMem: pem('server.key') } })";
        const code = `
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
const L = await import(${JSON.stringify(dist)});
const pem = (n) => readFileSync(${JSON.stringify(path.join(root, 'test', 'fixtures', 'pki'))} + '/' + n);
const srv = ${make};
srv.listen(0, '127.0.0.1', () => { srv.unref(); console.log('listening'); });
process.on('exit', () => console.log('exited'));
`;
        const r = await runNodeScript(code, { timeout: 10_000 });
        exits[name] = { status: r.status, out: r.stdout.trim().split('\n') };
      }
      assert.deepEqual(exits.libtls, exits['node:tls']);
      assert.deepEqual(exits.libtls, { status: 0, out: ['listening', 'exited'] });
    },
  );

  test(
    'worker.terminate() while handshakes run in C closes every socket, and the clients see their connections close',
    T,
    async () => {
      const code = `
import net from 'node:net';
import { readdirSync, readlinkSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
// sockets only: a worker leaves a /dev/null fd of its own behind (node:tls's too)
const fds = () =>
  readdirSync('/proc/self/fd').filter((f) => {
    try {
      return readlinkSync('/proc/self/fd/' + f).startsWith('socket:');
    } catch {
      return false;
    }
  }).length;
const base = fds();
const worker = new Worker(\`
  import { parentPort, workerData } from 'node:worker_threads';
  import { readFileSync } from 'node:fs';
  const L = await import(workerData.dist);
  const pem = (n) => readFileSync(workerData.pki + '/' + n);
  const srv = L.createServer({ handshakeTimeout: 0, config: { certMem: pem('server.crt'), keyMem: pem('server.key') } });
  srv.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: srv.address().port }));
  const timer = setInterval(() => parentPort.postMessage({ connections: srv.connections }), 20);
  timer.unref();
\`, { eval: true, workerData: { dist: ${JSON.stringify(dist)}, pki: ${JSON.stringify(path.join(root, 'test', 'fixtures', 'pki'))} } });
let port;
let connections = 0;
worker.on('message', (m) => {
  if (m.port) port = m.port;
  if (m.connections !== undefined) connections = m.connections;
});
const until = async (pred, ms = 5000) => {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (pred()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return pred();
};
await until(() => port !== undefined);
const clients = [];
for (let i = 0; i < 3; i++) {
  const c = net.connect({ host: '127.0.0.1', port });
  c.on('error', () => {});
  await new Promise((r) => c.once('connect', r));
  c.write(Buffer.from([0x16, 0x03, 0x01])); // the start of a ClientHello, never the rest
  clients.push(c);
}
const during = await until(() => connections === 3);
const closed = Promise.all(clients.map((c) => new Promise((r) => c.once('close', r))));
await worker.terminate();
const clientsSawClose = await Promise.race([closed.then(() => true), new Promise((r) => setTimeout(() => r(false), 3000))]);
const back = await until(() => fds() === base);
console.log(JSON.stringify({ during, clientsSawClose, back, base, now: fds() }));
`;
      const r = await runNodeScript(code, { timeout: 20_000 });
      const line = r.stdout.trim().split('\n').pop();
      assert.ok(line?.startsWith('{'), `child: ${r.stdout} ${r.stderr}`);
      const out = JSON.parse(line);
      assert.equal(out.during, true, 'the worker had 3 handshakes in progress');
      assert.equal(out.clientsSawClose, true, 'each client saw its connection close');
      assert.equal(out.back, true, `fds ${out.base} -> ${out.now}`);
      assert.doesNotMatch(r.stderr, /Warning|Assertion|Aborted/);
    },
  );
});
