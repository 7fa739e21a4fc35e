// createServer() on every core with node:cluster. The workers share one listening port, the same
// session ticket key and the same session ID (both made once by the primary), so that on a
// backend whose servers issue tickets (LibreSSL's libtls) a session resumes on any worker. Every
// worker needs both: libtls gives each Config a random session ID (the OpenSSL session ID
// context), and a server refuses a ticket whose session was made under another one, so with the
// key alone a ticket opens only on the worker that issued it. libretls 3.7 servers issue no usable
// ticket: there every handshake is a full one, and this example says so (from `backend`).
//
//   node examples/cluster.mjs [--workers N] [--connections N]
import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { backend, Config, connect, createServer } from '../dist/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const pki = process.env.LIBTLS_PKI ?? path.join(here, '..', 'test', 'fixtures', 'pki');

if (cluster.isPrimary) {
  const { values } = parseArgs({
    options: { workers: { type: 'string', default: '2' }, connections: { type: 'string', default: '8' } },
  });
  const workers = Number(values.workers);
  const connections = Number(values.connections);
  // one key and one session ID for every worker: a ticket made by one worker opens on another
  const ticketKey = randomBytes(48).toString('hex');
  const sessionId = randomBytes(32).toString('hex');
  const ready = [];
  for (let i = 0; i < workers; i++) {
    const w = cluster.fork({ LIBTLS_TICKET_KEY: ticketKey, LIBTLS_SESSION_ID: sessionId });
    ready.push(new Promise((resolve) => w.once('listening', (a) => resolve(a.port))));
  }
  const [port] = await Promise.all(ready);
  console.log(`${workers} workers listening on 127.0.0.1:${port}`);

  // TLS 1.2: the libtls client saves its session in a file, then offers it on every connection
  const dir = mkdtempSync(path.join(os.tmpdir(), 'libtls-cluster-'));
  const sessionFd = openSync(path.join(dir, 'session'), 'w+', 0o600);
  const config = new Config({ caFile: path.join(pki, 'ca.crt'), protocols: 'tlsv1.2', sessionFd });
  const served = new Map();
  let resumed = 0;
  for (let i = 0; i < connections; i++) {
    const s = await connect({ host: '127.0.0.1', port, servername: 'localhost', config, timeout: 5000 });
    if (s.sessionResumed) resumed++;
    let reply = '';
    for await (const d of s) reply += d;
    served.set(reply, (served.get(reply) ?? 0) + 1);
  }
  for (const [worker, n] of served) console.log(`worker ${worker} served ${n} connections`);
  // what happened, and why, from what the self-test of `backend` measured
  const { tls12 } = backend.capabilities.serverResumption;
  console.log(
    resumed > 0
      ? `resumed ${resumed} of ${connections} handshakes across workers`
      : tls12
        ? `resumed 0 of ${connections} handshakes, although this libtls's servers resume TLS 1.2 sessions`
        : `resumed 0 of ${connections} handshakes: this libtls's servers issue no session tickets`,
  );
  rmSync(dir, { recursive: true, force: true });
  for (const w of Object.values(cluster.workers ?? {})) w?.kill();
} else {
  const server = createServer(
    {
      config: {
        certFile: path.join(pki, 'server.crt'),
        keyFile: path.join(pki, 'server.key'),
        sessionLifetime: 300,
        sessionId: Buffer.from(process.env.LIBTLS_SESSION_ID ?? '', 'hex'),
        ticketKeys: [{ keyrev: 1, key: Buffer.from(process.env.LIBTLS_TICKET_KEY ?? '', 'hex') }],
      },
    },
    (socket) => socket.end(String(cluster.worker?.id)),
  );
  server.listen(0, '127.0.0.1');
}
