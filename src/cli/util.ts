// What the subcommands share: one-line errors with exit codes, file checks, and the words that
// explain a failed verification.
import { createPrivateKey, type KeyObject, type X509Certificate } from 'node:crypto';
import { accessSync, constants, readFileSync } from 'node:fs';
import { Config, type ConfigOptions } from '../config.js';
import { TlsError } from '../errors.js';
import { certificatesOf } from '../peer.js';

/** A failure to report as one line on stderr, with an exit code (2: usage, 1: everything else). */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

export function usage(message: string): CliError {
  return new CliError(`${message} (see --help)`, 2);
}

/** Throws a CliError unless `path` (named by `flag`) is a readable file. */
export function readable(path: string, flag: string): string {
  try {
    accessSync(path, constants.R_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(code);
    throw new CliError(`cannot read ${flag} file '${path}': ${why}`);
  }
  return path;
}

/** Splits `host:port` or `[v6]:port`. */
export function hostPort(s: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || !(port >= 1 && port <= 65535)) {
    throw usage(`expected HOST:PORT (e.g. example.org:443 or [::1]:8443), got '${s}'`);
  }
  return { host: m[1] as string, port };
}

/** Plain words for why a certificate was refused, by the failure's code. */
const REASONS: ReadonlyMap<string, string> = new Map([
  ['CERT_HAS_EXPIRED', 'the certificate has expired'],
  ['CERT_NOT_YET_VALID', 'the certificate is not yet valid'],
  ['CERT_REVOKED', 'the certificate has been revoked'],
  ['ERR_TLS_CERT_ALTNAME_INVALID', 'wrong name: the certificate does not name this host'],
  ...[
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'SELF_SIGNED_CERT_IN_CHAIN',
    'UNABLE_TO_GET_ISSUER_CERT',
    'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  ].map((c): [string, string] => [c, 'unknown CA: the certificate is not signed by a trusted CA']),
  ...[
    'ERR_TLS_OCSP_STAPLE_REQUIRED',
    'ERR_TLS_OCSP_INVALID',
    'ERR_TLS_OCSP_NOT_CURRENT',
    'ERR_TLS_OCSP_NO_URL',
  ].map((c): [string, string] => [c, 'OCSP: no valid stapled response']),
]);

/** The failures that mean the server wants a client certificate. */
const CERT_REQUIRED: ReadonlySet<string> = new Set([
  'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
  'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE',
]);

/** The values of the flags that become a Config, to name the one libtls rejected. */
export interface ConfigFlags {
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  alpn?: string | undefined;
  protocols?: string | undefined;
  ciphers?: string | undefined;
}

/** Whether a Config with only `options` fails to be made. */
function rejected(options: ConfigOptions): boolean {
  try {
    new Config(options).free();
    return false;
  } catch {
    return true;
  }
}

/** What node:crypto makes of a file: its certificates and whether it holds a private key. */
function certificatesIn(path: string): X509Certificate[] {
  try {
    return certificatesOf(readFileSync(path, 'latin1'));
  } catch {
    return [];
  }
}

function keyIn(path: string): KeyObject | null {
  try {
    return createPrivateKey(readFileSync(path));
  } catch {
    return null;
  }
}

/**
 * Turns an error from making a Config or a context into a CliError naming the flag behind it
 * (a bad --protocols string, a --cert file that is not PEM, ...); other errors pass unchanged.
 * Which flag is decided by trying each value alone (libtls for the settings, node:crypto for the
 * files); the message stays libtls's.
 */
export function configError(err: unknown, f: ConfigFlags): unknown {
  const message = (err as Error)?.message ?? String(err);
  if (f.alpn !== undefined && rejected({ alpn: f.alpn })) return usage(`bad --alpn '${f.alpn}': ${message}`);
  if (f.protocols !== undefined && rejected({ protocols: f.protocols })) {
    return usage(`bad --protocols '${f.protocols}': ${message}`);
  }
  if (f.ciphers !== undefined && rejected({ ciphers: f.ciphers })) {
    return usage(`bad --ciphers '${f.ciphers}': ${message}`);
  }
  if (!(err instanceof TlsError)) return err;
  const certs = f.cert === undefined ? [] : certificatesIn(f.cert);
  if (f.cert !== undefined && certs.length === 0)
    return new CliError(`bad --cert file '${f.cert}': ${message}`);
  const key = f.key === undefined ? null : keyIn(f.key);
  if (f.key !== undefined && key === null) {
    return new CliError(`bad --key file '${f.key}': ${message} (not a PEM key, or encrypted)`);
  }
  if (key !== null && certs[0] !== undefined && !certs[0].checkPrivateKey(key)) {
    return new CliError(`bad --key file '${f.key}': ${message} (does it match --cert?)`);
  }
  if (f.ca !== undefined && certificatesIn(f.ca).length === 0) {
    return new CliError(`bad --ca file '${f.ca}': ${message} (no PEM CA certificates in it?)`);
  }
  return err;
}

/** One line for an error: why verification failed in plain words, else libtls's own text. */
export function describeError(err: unknown): string {
  if (err instanceof CliError) return err.message;
  if (err instanceof TlsError) {
    if (CERT_REQUIRED.has(err.code)) {
      return `the server requires a client certificate (--cert and --key): ${err.message}`;
    }
    const reason = REASONS.get(err.code);
    if (reason && (err.op === 'tls_handshake' || err.op === 'tls_read')) {
      return `certificate verification failed: ${reason} (${err.message})`;
    }
    if (err.code.startsWith('ERR_OSSL_PEM_') || err.code.startsWith('ERR_OSSL_OSSL_DECODER_')) {
      return `bad certificate or key: ${err.message}`;
    }
    if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT' || err.code === 'ETIMEDOUT') return err.message;
    // connect()'s own TCP connect: the message names the address (connect ECONNREFUSED a:p)
    if (err.op === 'connect' && err.code === 'ECONNREFUSED') return `connection refused (${err.message})`;
    return `${err.op}: ${err.message}`;
  }
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number; hostname?: string };
  const where = e?.address === undefined ? '' : e.port === undefined ? e.address : `${e.address}:${e.port}`;
  if (e?.code === 'ECONNREFUSED') return `connection refused (${where})`;
  if (e?.code === 'ENOTFOUND' || e?.code === 'EAI_AGAIN') {
    return e.hostname
      ? `cannot resolve host '${e.hostname}' (${e.code})`
      : `cannot resolve host: ${e.message}`;
  }
  if (e?.code === 'EADDRINUSE') return `address already in use (${where})`;
  return e?.message ?? String(err);
}
