// `libtls serve`: an echo or tiny HTTPS server; without --cert/--key a throwaway self-signed
// certificate is made in memory.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ConfigOptions } from '../config.js';
import { createHttpsServer } from '../http.js';
import { createServer, type TlsServer } from '../net.js';
import type { TlsSocket } from '../socket.js';
import { throwawayCertificate } from './cert.js';
import { configError, hostPort, readable, usage } from './util.js';

export const serveHelp = `usage: libtls serve [options]

A TLS server on HOST:PORT: echoes what it receives (--echo, the default) or answers HTTPS GETs
with a small page describing the connection (--http). Without --cert/--key it makes a throwaway
self-signed certificate for localhost, 127.0.0.1, ::1 (and HOST), prints its hash, writes the
certificate (not the key) to a file in a fresh temporary directory and prints the command that
trusts it, e.g. 'libtls connect 127.0.0.1:8443 --ca /tmp/libtls-serve-Ab12Cd/cert.pem'. The
directory is removed when the server stops.

options:
  --host HOST      address to listen on (default 127.0.0.1)
  --port N         port (default 8443; 0 picks a free one)
  --cert FILE      certificate chain (with --key)
  --key FILE       private key (with --cert)
  --echo           echo server (default)
  --http           HTTPS server (HTTP/1.1)
  --alpn LIST      ALPN protocols, comma-separated
  -h, --help       this text`;

function page(req: IncomingMessage, res: ServerResponse): void {
  const s = req.socket as unknown as TlsSocket;
  const body = [
    '<!doctype html><title>libtls</title>',
    '<h1>Hello over libtls</h1>',
    `<p>${s.version} with ${s.cipher}, ALPN ${s.alpnProtocol || 'none'}, from ${s.remoteAddress}</p>`,
    `<p>${req.method} ${req.url?.replace(/[<>&"]/g, '')}</p>`,
  ].join('\n');
  res.writeHead(200, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

export async function runServe(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '8443' },
      cert: { type: 'string' },
      key: { type: 'string' },
      echo: { type: 'boolean' },
      http: { type: 'boolean' },
      alpn: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${serveHelp}\n`);
    return 0;
  }
  if (values.echo && values.http) throw usage('choose one of --echo and --http');
  if ((values.cert === undefined) !== (values.key === undefined)) throw usage('--cert and --key go together');
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw usage(`bad --port '${values.port}'`);
  const host = values.host.startsWith('[') ? hostPort(`${values.host}:1`).host : values.host;

  const config: ConfigOptions = {};
  let note: string;
  /** Where the throwaway certificate is written for clients to trust (`--ca FILE`). */
  let caFile: string | undefined;
  if (values.cert !== undefined && values.key !== undefined) {
    config.certFile = readable(values.cert, '--cert');
    config.keyFile = readable(values.key, '--key');
    note = `certificate ${values.cert}`;
  } else {
    const t = await throwawayCertificate('localhost', [host]);
    config.cert = t.cert;
    config.key = t.key;
    note = `throwaway self-signed certificate ${t.hash}`;
    const dir = mkdtempSync(join(tmpdir(), 'libtls-serve-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    caFile = join(dir, 'cert.pem');
    writeFileSync(caFile, t.cert, { mode: 0o644 });
  }
  if (values.alpn !== undefined) config.alpn = values.alpn;

  let server: TlsServer;
  try {
    server = values.http
      ? createHttpsServer({ config }, page).tlsServer
      : createServer({ config }, (socket) => {
          socket.on('error', () => socket.destroy());
          socket.pipe(socket);
        });
  } catch (err) {
    throw configError(err, values);
  }
  const open = new Set<TlsSocket>();
  server.on('secureConnection', (socket: TlsSocket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  server.on('tlsClientError', (err: Error, socket: TlsSocket | null) => {
    process.stderr.write(`libtls: client ${socket?.remoteAddress ?? '?'}: ${err.message}\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  const where = a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  // one write: a reader that has the first line has the others
  const lines = [`libtls: ${values.http ? 'https' : 'echo'} server on ${where}, ${note}`];
  if (caFile !== undefined) {
    // a wildcard address is reached through loopback; the certificate names both loopbacks
    const target =
      a.address === '0.0.0.0' ? `127.0.0.1:${a.port}` : a.address === '::' ? `[::1]:${a.port}` : where;
    lines.push(`libtls: to connect: libtls connect ${target} --ca ${caFile}`);
    if (values.http) lines.push(`libtls: or: curl --cacert ${caFile} https://${target}/`);
  }
  process.stderr.write(`${lines.join('\n')}\n`);
  return new Promise((resolve) => {
    const stop = (): void => {
      server.close(() => resolve(0));
      // connections that linger (an idle client, a slow handshake) do not keep a stopped server
      // alive: after 2 s they are dropped, and the process exits even if something still waits
      setTimeout(() => {
        for (const socket of open) socket.destroy();
        resolve(0);
        setTimeout(() => process.exit(), 200).unref();
      }, 2000).unref();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
