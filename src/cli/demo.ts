// `libtls demo`: a server and a client on loopback with a throwaway certificate; prints what was
// negotiated and the speed of a short transfer, then exits 0.
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { connect, createServer, type TlsServer } from '../net.js';
import type { TlsSocket } from '../socket.js';
import { throwawayCertificate } from './cert.js';
import { formatReport, report } from './connect.js';
import { usage } from './util.js';

export const demoHelp = `usage: libtls demo [--mib N]

Starts a TLS server and a client on 127.0.0.1 with a throwaway certificate, prints what they
negotiated, sends N MiB (default 64) from the client to the server and prints the speed.`;

export async function runDemo(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { mib: { type: 'string', default: '64' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(`${demoHelp}\n`);
    return 0;
  }
  const mib = Number(values.mib);
  if (!Number.isInteger(mib) || mib < 1 || mib > 4096) throw usage('--mib must be an integer from 1 to 4096');

  const t = await throwawayCertificate();
  // The server, and every connection it accepted, are closed on every way out: a failed
  // handshake or transfer ends the command instead of leaving a listening server behind.
  const accepted = new Set<TlsSocket>();
  let listening!: (port: number) => void;
  const port = new Promise<number>((resolve) => {
    listening = resolve;
  });
  let server!: TlsServer;
  const received = new Promise<number>((resolve, reject) => {
    server = createServer(
      { config: { cert: t.cert, key: t.key, alpn: ['libtls-demo', 'http/1.1'] } },
      (s) => {
        accepted.add(s);
        s.once('close', () => accepted.delete(s));
        let n = 0;
        s.on('data', (d: Buffer) => {
          n += d.length;
        });
        s.on('end', () => {
          s.end(String(n));
          resolve(n);
        });
        s.on('error', reject);
      },
    );
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => listening((server.address() as AddressInfo).port));
  });
  // a failure on the server side is reported by the client's own failure or by the await below
  received.catch(() => {});

  let s: TlsSocket | undefined;
  try {
    // a server that fails before it listens rejects `received`
    const p = await Promise.race([port, received.then(() => port)]);
    s = await connect({
      host: '127.0.0.1',
      port: p,
      servername: 'localhost',
      config: { ca: t.cert, alpn: ['libtls-demo'] },
      timeout: 10_000,
    });
    process.stdout.write(`${formatReport(report(s, '127.0.0.1', p, 'localhost'))}\n`);
    const chunk = Buffer.alloc(64 * 1024, 0x5a);
    const total = mib * 1024 * 1024;
    const started = process.hrtime.bigint();
    for (let sent = 0; sent < total; sent += chunk.length) {
      if (!s.write(chunk)) await new Promise((r) => s?.once('drain', r));
    }
    s.end();
    let reply = '';
    s.setEncoding('utf8');
    for await (const d of s) reply += d;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (Number(reply) !== total || (await received) !== total) {
      throw new Error(`the server counted ${reply} bytes, expected ${total}`);
    }
    process.stdout.write(
      `  transfer  ${mib} MiB in ${seconds.toFixed(3)} s: ${(mib / seconds).toFixed(1)} MiB/s\n`,
    );
  } finally {
    s?.destroy();
    for (const a of accepted) a.destroy();
    server.close();
  }
  return 0;
}
