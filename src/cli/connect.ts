// `libtls connect HOST:PORT`: handshake, report what was negotiated and the peer certificate, then
// pipe stdin/stdout over the connection like `nc -c`.
import { parseArgs } from 'node:util';
import type { ConfigOptions } from '../config.js';
import { connect } from '../net.js';
import type { TlsSocket } from '../socket.js';
import { CliError, configError, hostPort, readable, usage } from './util.js';

export const connectHelp = `usage: libtls connect HOST:PORT [options]

Connects with TLS, prints what was negotiated and the peer certificate on stderr, then copies
stdin to the connection and the connection to stdout (like nc -c).

options:
  --ca FILE          trust the CA certificates in FILE (default: the system bundle)
  --cert FILE        client certificate (with --key)
  --key FILE         client private key (with --cert)
  --servername NAME  name to verify and send as SNI (default: HOST)
  --alpn LIST        ALPN protocols, comma-separated (e.g. h2,http/1.1)
  --protocols STR    libtls protocol string (e.g. tlsv1.3, secure, all)
  --ciphers STR      cipher list (libtls/OpenSSL syntax)
  --noverify         do not verify the certificate chain (insecure)
  --noname           do not verify the server name (insecure)
  --notime           do not verify certificate validity times (insecure)
  --muststaple       require a valid stapled OCSP response
  --hash SHA256:HEX  also require this peer certificate hash (pinning, on top of the
                     verification, as nc -H); a self-signed certificate needs --ca FILE
                     (libtls serve prints the line) or --noverify
  --timeout MS       give up if not connected within MS (default 10000)
  --json             print what was negotiated as one JSON object on stdout, then close
  -h, --help         this text

Exit status: 0 once the connection has closed, 1 on a failure (connection, verification, a
--hash mismatch; one line on stderr says why), 2 on bad usage.`;

export interface ConnectionReport {
  host: string;
  port: number;
  servername: string;
  version: string | null;
  cipher: string | null;
  cipherStrength: number | null;
  alpn: string | null;
  sessionResumed: boolean | null;
  peerCertificate: {
    subject: string;
    issuer: string;
    hash: string;
    notBefore: string;
    notAfter: string;
  } | null;
  ocsp: {
    /** libtls's words for the certificate status: 'good', 'revoked', 'unknown'. */
    result: string | null;
    certStatus: number;
    responseStatus: number;
    thisUpdate: string;
    nextUpdate: string | null;
  } | null;
}

export function report(s: TlsSocket, host: string, port: number, servername: string): ConnectionReport {
  const pc = s.peerCertificate;
  const o = s.ocsp;
  return {
    host,
    port,
    servername,
    version: s.version,
    cipher: s.cipher,
    cipherStrength: s.cipherStrength,
    alpn: s.alpnProtocol || null,
    sessionResumed: s.sessionResumed,
    peerCertificate: pc && {
      subject: pc.subject,
      issuer: pc.issuer,
      hash: pc.hash,
      notBefore: pc.notBefore.toISOString(),
      notAfter: pc.notAfter.toISOString(),
    },
    ocsp: o && {
      result: o.result,
      certStatus: o.certStatus,
      responseStatus: o.responseStatus,
      thisUpdate: o.thisUpdate.toISOString(),
      nextUpdate: o.nextUpdate?.toISOString() ?? null,
    },
  };
}

export function formatReport(r: ConnectionReport): string {
  const lines = [
    `connected to ${r.host}:${r.port} (${r.servername})`,
    `  protocol  ${r.version}`,
    `  cipher    ${r.cipher} (${r.cipherStrength} bits)`,
    `  alpn      ${r.alpn ?? '(none)'}`,
    `  resumed   ${r.sessionResumed ? 'yes' : 'no'}`,
  ];
  if (r.peerCertificate) {
    const c = r.peerCertificate;
    lines.push(`  subject   ${c.subject}`, `  issuer    ${c.issuer}`);
    lines.push(`  valid     ${c.notBefore} to ${c.notAfter}`, `  hash      ${c.hash}`);
  }
  if (r.ocsp) {
    const o = r.ocsp;
    const next = o.nextUpdate ? `, next update ${o.nextUpdate}` : '';
    lines.push(`  ocsp      ${o.result ?? `status ${o.certStatus}`} (this update ${o.thisUpdate}${next})`);
  }
  return lines.join('\n');
}

export async function runConnect(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ca: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      servername: { type: 'string' },
      alpn: { type: 'string' },
      protocols: { type: 'string' },
      ciphers: { type: 'string' },
      noverify: { type: 'boolean' },
      noname: { type: 'boolean' },
      notime: { type: 'boolean' },
      muststaple: { type: 'boolean' },
      hash: { type: 'string' },
      timeout: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${connectHelp}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw usage('connect needs exactly one HOST:PORT');
  const { host, port } = hostPort(positionals[0] as string);
  if ((values.cert === undefined) !== (values.key === undefined)) throw usage('--cert and --key go together');
  if (values.hash !== undefined && !/^SHA256:[0-9a-f]{64}$/i.test(values.hash)) {
    throw usage('--hash must be SHA256: followed by 64 hex digits');
  }
  const timeout = values.timeout === undefined ? 10_000 : Number(values.timeout);
  if (!Number.isInteger(timeout) || timeout <= 0) throw usage('--timeout must be a positive integer (ms)');

  const config: ConfigOptions = {};
  if (values.ca !== undefined) config.caFile = readable(values.ca, '--ca');
  if (values.cert !== undefined) config.certFile = readable(values.cert, '--cert');
  if (values.key !== undefined) config.keyFile = readable(values.key, '--key');
  if (values.alpn !== undefined) config.alpn = values.alpn;
  if (values.protocols !== undefined) config.protocols = values.protocols;
  if (values.ciphers !== undefined) config.ciphers = values.ciphers;
  if (values.muststaple) config.ocspRequireStapling = true;
  if (values.noverify || values.noname || values.notime) {
    config.insecure = {
      noverifycert: values.noverify ?? false,
      noverifyname: values.noname ?? false,
      noverifytime: values.notime ?? false,
    };
  }
  const servername = values.servername ?? host;
  let socket: TlsSocket;
  try {
    socket = await connect({ host, port, servername, config, timeout });
  } catch (err) {
    // a bad value fails when the Config is made; a bad key or CA file only when the client
    // context is set up, after the TCP connect: either way, name the flag
    throw configError(err, values);
  }
  const r = report(socket, host, port, servername);
  const hash = r.peerCertificate?.hash;
  if (values.hash !== undefined && hash?.toLowerCase() !== values.hash.toLowerCase()) {
    socket.destroy();
    throw new CliError(`peer certificate hash ${hash ?? '(none)'} does not match --hash ${values.hash}`);
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    await new Promise<void>((resolve) => socket.end(resolve));
    socket.destroy();
    return 0;
  }
  process.stderr.write(`${formatReport(r)}\n`);
  return pipe(socket);
}

/** Copies stdin to the socket (then sends close_notify) and the socket to stdout. */
function pipe(socket: TlsSocket): Promise<number> {
  return new Promise((resolve, reject) => {
    socket.on('error', reject);
    socket.pipe(process.stdout);
    process.stdin.pipe(socket);
    socket.on('end', () => {
      process.stdin.unpipe(socket);
      process.stdin.pause();
    });
    socket.on('close', () => resolve(0));
  });
}
