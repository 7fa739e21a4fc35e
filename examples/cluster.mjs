// createServer() on every core with node:cluster. The workers share one listening port and the
// same session ticket keys (made once by the primary), so that on a backend whose servers issue
// tickets (LibreSSL's libtls) a session resumes on any worker. libretls 3.7 servers issue no
// usable ticket: there every handshake is a full one, and this example says so.
//
//   node examples/cluster.mjs [--workers N] [--connections N]
import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Config, connect, createServer } from '../dist/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const pki = process.env.LIBTLS_PKI ?? path.join(here, '..', 'test', 'fixtures', 'pki');

if (cluster.isPrimary) {
  const { values } = parseArgs({
    options: { workers: { type: 'string', default: '2' }, connections: { type: 'string', default: '8' } },
  });
  const workers = Number(values.workers);
  const connections = Number(values.connections);
  // one key for every worker: a ticket made by one worker opens on another
  const ticketKey = randomBytes(48).toString('hex');
  const ready = [];
  for (let i = 0; i < workers; i++) {
    const w = cluster.fork({ LIBTLS_TICKET_KEY: ticketKey });
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
  console.log(
    resumed > 0
      ? `resumed ${resumed} of ${connections} handshakes across workers`
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
        ticketKeys: [{ keyrev: 1, key: Buffer.from(process.env.LIBTLS_TICKET_KEY ?? '', 'hex') }],
      },
    },
    (socket) => socket.end(String(cluster.worker?.id)),
  );
  server.listen(0, '127.0.0.1');
}
