// What the subcommands share: one-line errors with exit codes, file checks, and the words that
// explain a failed verification.
import { accessSync, constants } from 'node:fs';
import { TlsError } from '../errors.js';

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

const REASONS: [RegExp, string][] = [
  [/has expired/i, 'the certificate has expired'],
  [/not yet valid/i, 'the certificate is not yet valid'],
  [/revoked/i, 'the certificate has been revoked'],
  [
    /not present in (server|peer) certificate|name .* not present/i,
    'wrong name: the certificate does not name this host',
  ],
  [
    /self.signed|unable to get (local )?issuer|unknown ca|unable to verify the first/i,
    'unknown CA: the certificate is not signed by a trusted CA',
  ],
  [/no stapled OCSP|ocsp/i, 'OCSP: no valid stapled response'],
];

/** The values of the flags that become a Config, to name the one libtls rejected. */
export interface ConfigFlags {
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  alpn?: string | undefined;
  protocols?: string | undefined;
  ciphers?: string | undefined;
}

/**
 * Turns an error from making a Config or a context into a CliError naming the flag behind it
 * (a bad --protocols string, a --cert file that is not PEM, ...); other errors pass unchanged.
 */
export function configError(err: unknown, f: ConfigFlags): unknown {
  const message = (err as Error)?.message ?? String(err);
  if (
    (err instanceof TypeError || err instanceof RangeError) &&
    /alpn/i.test(message) &&
    f.alpn !== undefined
  ) {
    return usage(`bad --alpn '${f.alpn}': ${message}`);
  }
  if (!(err instanceof TlsError)) return err;
  if (/protocols/.test(err.op) && f.protocols !== undefined) {
    return usage(`bad --protocols '${f.protocols}': ${message}`);
  }
  if (err.op === 'tls_config_set_ciphers' && f.ciphers !== undefined) {
    return usage(`bad --ciphers '${f.ciphers}': ${message}`);
  }
  if (/failed to (load|read) certificate/i.test(message) && f.cert !== undefined) {
    return new CliError(`bad --cert file '${f.cert}': ${message}`);
  }
  if (/failed to read private key/i.test(message) && f.key !== undefined) {
    return new CliError(`bad --key file '${f.key}': ${message} (not a PEM key, or encrypted)`);
  }
  if (/failed to load private key/i.test(message) && f.key !== undefined) {
    return new CliError(`bad --key file '${f.key}': ${message} (does it match --cert?)`);
  }
  if (/verify memory setup|ca (file|certificates)/i.test(message) && f.ca !== undefined) {
    return new CliError(`bad --ca file '${f.ca}': ${message} (no PEM CA certificates in it?)`);
  }
  return err;
}

/** One line for an error: why verification failed in plain words, else libtls's own text. */
export function describeError(err: unknown): string {
  if (err instanceof CliError) return err.message;
  if (err instanceof TlsError) {
    if (/certificate required|peer did not return a certificate/i.test(err.message)) {
      return `the server requires a client certificate (--cert and --key): ${err.message}`;
    }
    const reason = REASONS.find(([re]) => re.test(err.message));
    if (reason && (err.op === 'tls_handshake' || err.op === 'tls_read')) {
      return `certificate verification failed: ${reason[1]} (${err.message})`;
    }
    if (/failed to (load|read) (certificate|private key)|PEM|DECODER/i.test(err.message)) {
      return `bad certificate or key: ${err.message}`;
    }
    return /timed out/.test(err.message) ? err.message : `${err.op}: ${err.message}`;
  }
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ECONNREFUSED')
    return `connection refused (${e.message.replace(/^connect ECONNREFUSED /, '')})`;
  if (e?.code === 'ENOTFOUND' || e?.code === 'EAI_AGAIN') {
    const host = (e as { hostname?: string }).hostname;
    return host ? `cannot resolve host '${host}' (${e.code})` : `cannot resolve host: ${e.message}`;
  }
  if (e?.code === 'EADDRINUSE')
    return `address already in use (${e.message.replace(/^.*address already in use /, '')})`;
  return e?.message ?? String(err);
}
