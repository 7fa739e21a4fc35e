// node:tls / node:https option objects mapped onto a Config, for the servers and connect functions
// that take Node's own option names (createHttpsServer, createHttp2Server, libtls/tls). Every TLS
// option Node documents is either mapped or refused with a TypeError naming it: none is ignored.
import { createPrivateKey } from 'node:crypto';
import { Config, type ConfigOptions, type TicketKeyOptions } from './config.js';
import {
  PROTOCOL_TLSv1_0,
  PROTOCOL_TLSv1_1,
  PROTOCOL_TLSv1_2,
  PROTOCOL_TLSv1_3,
  TICKET_KEY_SIZE,
} from './constants.js';
import { fail } from './validate.js';

type Pem = string | Buffer;

/** The node:tls options (`tls.createSecureContext`, `tls.createServer`, `tls.connect`) libtls can honour. */
export interface NodeTlsOptions {
  /** Private key(s) in PEM; `{ pem, passphrase }` as node:tls. One key (libtls has one per keypair). */
  key?: Pem | (Pem | { pem: Pem; passphrase?: string })[];
  /** Certificate chain in PEM (leaf first). */
  cert?: Pem | Pem[];
  /** Trusted CA certificates in PEM, in place of the system's. */
  ca?: Pem | Pem[];
  /** Certificate revocation list(s) in PEM. */
  crl?: Pem | Pem[];
  /** Decrypts an encrypted `key` (by node:crypto; libtls gets the decrypted key). */
  passphrase?: string;
  /** OpenSSL cipher list (TLS 1.2 suites; libtls always offers its TLS 1.3 suites). */
  ciphers?: string;
  /** `'TLSv1.2'` (default) ... `'TLSv1.3'`. */
  minVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  /** `'TLSv1.3'` (default). */
  maxVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  /** `'auto'` or a colon-separated curve list, as node:tls. */
  ecdhCurve?: string;
  /** Only `'auto'`: libtls has no custom DH parameters (`TypeError` otherwise). */
  dhparam?: 'auto';
  /** Server: prefer the server's cipher order. */
  honorCipherOrder?: boolean;
  /** Server: session lifetime in seconds. */
  sessionTimeout?: number;
  /** Server: 48 bytes of session ticket key. */
  ticketKeys?: Buffer;
  /** Server: the session ID context. */
  sessionIdContext?: string;
  /** ALPN protocols in order of preference (array, or the wire format as node:tls). */
  ALPNProtocols?: string[] | Uint8Array | Uint8Array[];
  /** Server: ask for a client certificate. */
  requestCert?: boolean;
  /**
   * Client: `false` accepts any server certificate (no chain, name or time check). Server with
   * `requestCert`: `false` accepts a client without a certificate (`authorized` false); one
   * whose certificate does not verify is still refused (node:tls accepts it, unauthorized).
   */
  rejectUnauthorized?: boolean;
}

/** node:tls options libtls has no equivalent for: a `TypeError` with this code names each one. */
export const UNSUPPORTED_OPTION = 'ERR_LIBTLS_UNSUPPORTED_OPTION';

/** Why each unsupported node:tls option cannot be honoured. */
const UNSUPPORTED: Readonly<Record<string, string>> = {
  pfx: 'libtls loads PEM only; convert with `openssl pkcs12 -nodes`',
  sigalgs: 'libtls has no signature algorithm list',
  secureOptions: 'libtls does not expose OpenSSL option flags',
  secureProtocol: 'use minVersion / maxVersion',
  secureContext: 'libtls has no OpenSSL SecureContext; pass the options, or a libtls Config as `config`',
  clientCertEngine: 'libtls has no OpenSSL engines',
  privateKeyEngine: 'libtls has no OpenSSL engines',
  privateKeyIdentifier: 'libtls has no OpenSSL engines',
  SNICallback: 'libtls chooses the certificate by SNI from Config `keypairs`',
  ALPNCallback: 'libtls selects ALPN from its list',
  pskCallback: 'libtls has no TLS-PSK',
  pskIdentityHint: 'libtls has no TLS-PSK',
  checkServerIdentity: 'libtls verifies the name itself; use `servername`',
  session: 'libtls resumes client sessions from a file (Config `sessionFd`)',
  requestOCSP: 'a libtls client always reads a stapled OCSP response (socket.ocsp)',
  minDHSize: 'libtls has no minimum DH size setting',
  enableTrace: 'libtls has no handshake trace',
  NPNProtocols: 'NPN is obsolete; use ALPNProtocols',
  ticketKeysCallback: 'libtls has no ticket key callback',
};

/** The node:tls options mapped here (`config` replaces them all: giving both is refused). */
const TLS_KEYS = new Set([
  'key',
  'cert',
  'ca',
  'crl',
  'passphrase',
  'ciphers',
  'minVersion',
  'maxVersion',
  'ecdhCurve',
  'dhparam',
  'honorCipherOrder',
  'sessionTimeout',
  'ticketKeys',
  'sessionIdContext',
  'ALPNProtocols',
  'requestCert',
  'rejectUnauthorized',
]);

function unsupported(name: string, why: string): never {
  const e = new TypeError(`the node:tls option ${name} is not supported over libtls: ${why}`) as TypeError & {
    code: string;
    option: string;
  };
  e.code = UNSUPPORTED_OPTION;
  e.option = name;
  throw e;
}

/** Throws the TypeError for the first unsupported node:tls option set in `o` (false/null/undefined: unset). */
export function refuseUnsupported(o: Record<string, unknown>): void {
  for (const [name, why] of Object.entries(UNSUPPORTED)) {
    const v = o[name];
    if (v !== undefined && v !== null && v !== false) unsupported(name, why);
  }
}

const VERSIONS: Readonly<Record<string, number>> = {
  TLSv1: PROTOCOL_TLSv1_0,
  'TLSv1.1': PROTOCOL_TLSv1_1,
  'TLSv1.2': PROTOCOL_TLSv1_2,
  'TLSv1.3': PROTOCOL_TLSv1_3,
};
const ORDER = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

function isPem(v: unknown): v is Pem {
  return typeof v === 'string' || v instanceof Uint8Array;
}

function pemText(v: unknown, name: string): string {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('latin1');
  return fail(name, 'a string or a Buffer', v);
}

/** One PEM text from a value or an array of them (concatenated: CA lists, CRL lists). */
function pemList(v: unknown, name: string): string {
  const items = Array.isArray(v) ? v : [v];
  return items.map((x, i) => pemText(x, Array.isArray(v) ? `${name}[${i}]` : name).trim()).join('\n');
}

/** The one item of a value that node:tls allows as an array (key, cert): more is refused. */
function single(v: unknown, name: string): unknown {
  if (!Array.isArray(v)) return v;
  if (v.length !== 1) {
    unsupported(
      `${name} (an array of ${v.length})`,
      'one key and certificate per server; add more, chosen by SNI, with Config `keypairs`',
    );
  }
  return v[0];
}

function keyPem(v: unknown, passphrase: unknown): string {
  let key = single(v, 'key');
  let pass = passphrase;
  if (typeof key === 'object' && key !== null && !isPem(key)) {
    const o = key as { pem?: unknown; passphrase?: unknown };
    key = o.pem;
    if (o.passphrase !== undefined) pass = o.passphrase;
  }
  const text = pemText(key, 'key');
  if (pass === undefined) return text;
  if (typeof pass !== 'string') fail('passphrase', 'a string', pass);
  // decrypted by node:crypto: libtls reads encrypted keys from files only
  return createPrivateKey({ key: text, format: 'pem', passphrase: pass })
    .export({ format: 'pem', type: 'pkcs8' })
    .toString();
}

/** ALPN names from node:tls's forms: an array of strings or buffers, or the wire format. */
function alpnNames(v: unknown): string[] {
  if (Array.isArray(v)) {
    return v.map((p, i) => {
      if (typeof p === 'string') return p;
      if (p instanceof Uint8Array) return Buffer.from(p).toString('latin1');
      return fail(`ALPNProtocols[${i}]`, 'a string or a Buffer', p);
    });
  }
  if (v instanceof Uint8Array) {
    const names: string[] = [];
    for (let i = 0; i < v.length; ) {
      const n = v[i] as number;
      if (n === 0 || i + 1 + n > v.length) throw new RangeError('ALPNProtocols: malformed wire format');
      names.push(Buffer.from(v.subarray(i + 1, i + 1 + n)).toString('latin1'));
      i += 1 + n;
    }
    return names;
  }
  return fail('ALPNProtocols', 'an array of strings or a Buffer', v);
}

function boolOpt(o: Record<string, unknown>, name: string): boolean | undefined {
  const v = o[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') fail(name, 'a boolean', v);
  return v;
}

/**
 * Config options from node:tls options: for a `'server'` (requestCert, honorCipherOrder, session
 * settings) or a `'client'` (rejectUnauthorized). `alpn` is used when ALPNProtocols is absent.
 */
export function configOptionsFromNode(
  o: Record<string, unknown>,
  mode: 'client' | 'server',
  alpn?: string[],
): ConfigOptions {
  refuseUnsupported(o);
  const c: ConfigOptions = {};
  const has = (k: string): boolean => o[k] !== undefined && o[k] !== null;
  if (has('key')) c.keyMem = keyPem(o.key, o.passphrase);
  else if (has('passphrase')) throw new TypeError('passphrase needs a key');
  if (has('cert')) c.certMem = pemText(single(o.cert, 'cert'), 'cert');
  if (has('ca')) c.caMem = pemList(o.ca, 'ca');
  if (has('crl')) c.crlMem = pemList(o.crl, 'crl');
  if (has('ciphers')) {
    if (typeof o.ciphers !== 'string') fail('ciphers', 'a string', o.ciphers);
    c.ciphers = o.ciphers;
  }
  if (has('minVersion') || has('maxVersion')) {
    const lo = has('minVersion') ? o.minVersion : 'TLSv1.2';
    const hi = has('maxVersion') ? o.maxVersion : 'TLSv1.3';
    for (const [name, v] of [
      ['minVersion', lo],
      ['maxVersion', hi],
    ] as const) {
      if (typeof v !== 'string' || VERSIONS[v] === undefined) {
        throw new TypeError(`${name} must be one of ${ORDER.join(', ')}, got ${String(v)}`);
      }
    }
    const from = ORDER.indexOf(lo as string);
    const to = ORDER.indexOf(hi as string);
    if (from > to) throw new RangeError(`minVersion ${String(lo)} is above maxVersion ${String(hi)}`);
    c.protocols = ORDER.slice(from, to + 1).reduce((m, v) => m | (VERSIONS[v] as number), 0);
  }
  if (has('ecdhCurve')) {
    if (typeof o.ecdhCurve !== 'string') fail('ecdhCurve', 'a string', o.ecdhCurve);
    if (o.ecdhCurve.toLowerCase() !== 'auto') c.ecdhecurves = o.ecdhCurve.split(':');
  }
  if (has('dhparam')) {
    if (o.dhparam !== 'auto') {
      unsupported('dhparam', "libtls has DHE parameters 'auto' or 'none', not custom ones");
    }
    c.dheparams = 'auto';
  }
  const alpnList = has('ALPNProtocols') ? alpnNames(o.ALPNProtocols) : alpn;
  if (alpnList !== undefined && alpnList.length > 0) c.alpn = alpnList;
  const reject = boolOpt(o, 'rejectUnauthorized');
  if (mode === 'client') {
    for (const k of ['requestCert', 'honorCipherOrder', 'sessionTimeout', 'ticketKeys', 'sessionIdContext']) {
      if (has(k)) throw new TypeError(`${k} is a server option`);
    }
    if (reject === false) c.insecure = { noverifycert: true, noverifyname: true, noverifytime: true };
    return c;
  }
  const honor = boolOpt(o, 'honorCipherOrder');
  if (honor !== undefined) c.preferCiphers = honor ? 'server' : 'client';
  if (has('sessionTimeout')) c.sessionLifetime = o.sessionTimeout as number;
  if (has('sessionIdContext')) {
    if (typeof o.sessionIdContext !== 'string') fail('sessionIdContext', 'a string', o.sessionIdContext);
    c.sessionId = o.sessionIdContext;
  }
  if (has('ticketKeys')) {
    const k = o.ticketKeys;
    if (!(k instanceof Uint8Array)) fail('ticketKeys', 'a Buffer', k);
    if (k.length !== TICKET_KEY_SIZE) {
      throw new RangeError(`ticketKeys must be ${TICKET_KEY_SIZE} bytes, got ${k.length}`);
    }
    const keys: TicketKeyOptions[] = [{ keyrev: 1, key: Uint8Array.from(k) }];
    c.ticketKeys = keys;
  }
  if (boolOpt(o, 'requestCert') === true) {
    // as node:tls: a server that asks for a certificate refuses a missing or invalid one unless
    // rejectUnauthorized is false. Then node:tls accepts both (socket.authorized tells them apart);
    // libtls accepts a missing one (authorized: false) and still refuses one it cannot verify: an
    // unverified chain could not be told from a good one (authorized needs libtls's verdict)
    if (reject === false) {
      c.verifyClient = 'optional';
    } else {
      c.verifyClient = true;
    }
  }
  return c;
}

/** Whether `o` sets any node:tls option this module maps (then `config` must not be given too). */
export function hasTlsOptions(o: Record<string, unknown>): boolean {
  for (const k of TLS_KEYS) if (o[k] !== undefined) return true;
  return false;
}

/** The error for a server with no certificate (libtls itself says "private/public key mismatch"). */
export function noCertificate(): never {
  const e = new TypeError(
    'a TLS server needs a certificate and its key: pass `cert` and `key` (or `config` with them)',
  ) as TypeError & { code: string };
  e.code = 'ERR_LIBTLS_NO_CERTIFICATE';
  throw e;
}

/**
 * The Config for node:tls-style options `o`, or `o.config` (a Config, or Config options) when given;
 * both at once is a TypeError. A server must have a certificate. `owned` says the Config was made
 * here (the caller frees it with the server or socket).
 */
export function nodeConfig(
  o: Record<string, unknown>,
  mode: 'client' | 'server',
  alpn?: string[],
): { config: Config; owned: boolean } {
  refuseUnsupported(o);
  if (o.config !== undefined) {
    if (hasTlsOptions(o)) {
      const set = [...TLS_KEYS].filter((k) => o[k] !== undefined).join(', ');
      throw new TypeError(`pass either config or node:tls options (${set}), not both`);
    }
    const cfg = o.config;
    if (cfg instanceof Config) return { config: cfg, owned: false };
    if (typeof cfg !== 'object' || cfg === null) fail('config', 'a Config or Config options', cfg);
    const co = cfg as ConfigOptions;
    if (
      mode === 'server' &&
      co.certMem === undefined &&
      co.cert === undefined &&
      co.certFile === undefined &&
      co.keypairs === undefined
    ) {
      noCertificate();
    }
    return { config: new Config(alpn && co.alpn === undefined ? { alpn, ...co } : co), owned: true };
  }
  const co = configOptionsFromNode(o, mode, alpn);
  if (mode === 'server' && (co.certMem === undefined || co.keyMem === undefined)) noCertificate();
  return { config: new Config(co), owned: true };
}
