// `Config`: libtls's `struct tls_config`, one method per tls_config_* call (named by the rule of
// docs/api.md, "Names"), each returning `this`, plus the same surface as a declarative options object.

import { existsSync, readdirSync } from 'node:fs';
import { verifyDepthAdjustment, warnIfNoServerResumption } from './backend.js';
import {
  MAX_SESSION_ID_LENGTH,
  PROTOCOL_TLSv1_0,
  PROTOCOL_TLSv1_1,
  PROTOCOL_TLSv1_2,
  PROTOCOL_TLSv1_3,
  TICKET_KEY_SIZE,
} from './constants.js';
import { TlsError } from './errors.js';
import { type ConfigHandle, native } from './native.js';
import {
  type BytesLike,
  bool,
  fail,
  fd,
  INT32_MAX,
  int,
  nonEmptyStr,
  str,
  toBytes,
  UINT32_MAX,
} from './validate.js';

/**
 * The cipher list this package uses by default and for the keywords `'secure'` and `'default'`:
 * AEAD suites with forward secrecy only (TLS 1.2: ECDHE/DHE with AES-GCM or ChaCha20-Poly1305;
 * TLS 1.3 suites are all AEAD). libretls's own default still offers CBC and SHA-1 suites; this makes
 * every backend behave like LibreSSL's libtls.
 */
export const SECURE_CIPHERS = 'ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!DSS';

let supported: number | undefined;

/**
 * The bits of every TLS version tls.h names (TLS 1.0 to 1.3): not `PROTOCOL_TLSv1`, which is TLS
 * 1.2 and 1.3 only on LibreSSL 4, whose tls.h keeps the TLS 1.0 and 1.1 bits as names of versions
 * it cannot enable.
 */
const ALL_VERSION_BITS = PROTOCOL_TLSv1_0 | PROTOCOL_TLSv1_1 | PROTOCOL_TLSv1_2 | PROTOCOL_TLSv1_3;

/**
 * The TLS versions this libtls can enable, as a mask of `PROTOCOL_TLSv1_0` ... `PROTOCOL_TLSv1_3`: what its own
 * `tls_config_parse_protocols` makes of `'all'`, measured at first use (TLS 1.0 to 1.3 on
 * libretls; TLS 1.2 and 1.3 on LibreSSL 4).
 */
export function supportedProtocols(): number {
  supported ??= Config.parseProtocols('all');
  return supported;
}

/** One certificate and key (and an optional DER OCSP staple) for `keypairs`. */
export interface KeypairOptions {
  cert: BytesLike;
  key: BytesLike;
  ocspStaple?: BytesLike;
}

/** A session ticket key for `ticketKeys`: `key` is `TICKET_KEY_SIZE` (48) bytes. */
export interface TicketKeyOptions {
  keyrev: number;
  key: Uint8Array;
}

/**
 * `insecure` of {@link ConfigOptions}: each key is the tail of a `tls_config_insecure_*` call.
 * Giving a key and its alias at once is a `TypeError`.
 */
export interface InsecureOptions {
  /** `tls_config_insecure_noverifycert`: no certificate chain verification. */
  noverifycert?: boolean;
  /** `tls_config_insecure_noverifyname`: no server name verification. */
  noverifyname?: boolean;
  /** `tls_config_insecure_noverifytime`: no validity time check. */
  noverifytime?: boolean;
  /** Alias of `noverifycert`, kept because the first README documented it (docs/api.md, "Names"). */
  noVerifyCert?: boolean;
  /** Alias of `noverifyname`, kept because the first README documented it (docs/api.md, "Names"). */
  noVerifyName?: boolean;
  /** Alias of `noverifytime`, kept because the first README documented it (docs/api.md, "Names"). */
  noVerifyTime?: boolean;
}

/**
 * The methods of `Config`, declaratively: a key is the setter's libtls name without
 * `tls_config_set_`, camelCased (`tls_config_set_ca_mem`: `caMem`). An unknown key is a
 * `TypeError`, and so is a key given together with its alias.
 */
export interface ConfigOptions {
  /** CA certificates (PEM), as `setCaMem`. */
  caMem?: BytesLike;
  caFile?: string;
  caPath?: string;
  /** Certificate chain (PEM), as `setCertMem`. */
  certMem?: BytesLike;
  certFile?: string;
  /** Private key (PEM), as `setKeyMem`. */
  keyMem?: BytesLike;
  keyFile?: string;
  /** Additional certificates, chosen by SNI (`addKeypairOcspMem`). */
  keypairs?: KeypairOptions[];
  alpn?: string | string[];
  /** Protocol mask (`PROTOCOL_TLSv1_2 | PROTOCOL_TLSv1_3`) or libtls keywords (`'tlsv1.2,tlsv1.3'`, `'secure'`). */
  protocols?: number | string | (number | string)[];
  ciphers?: string;
  /** ECDHE curves, as `setEcdhecurves`. */
  ecdhecurves?: string | string[];
  /** DHE parameters, as `setDheparams`. */
  dheparams?: string;
  /** A CRL (PEM), as `setCrlMem`. */
  crlMem?: BytesLike;
  crlFile?: string;
  verifyDepth?: number;
  /** `true`: require a client certificate; `'optional'`: verify one if sent. */
  verifyClient?: boolean | 'optional';
  /** DER OCSP response stapled to the certificate, as `setOcspStapleMem`. */
  ocspStapleMem?: BytesLike;
  ocspRequireStapling?: boolean;
  insecure?: InsecureOptions;
  /** Alias of `caMem`, kept because the first README documented it (docs/api.md, "Names"). */
  ca?: BytesLike;
  /** Alias of `certMem`, kept because the first README documented it (docs/api.md, "Names"). */
  cert?: BytesLike;
  /** Alias of `keyMem`, kept because the first README documented it (docs/api.md, "Names"). */
  key?: BytesLike;
  /** Alias of `crlMem`, kept because the first README documented it (docs/api.md, "Names"). */
  crl?: BytesLike;
  /** Alias of `ocspStapleMem`, kept because the first README documented it (docs/api.md, "Names"). */
  ocspStaple?: BytesLike;
  /** Alias of `ecdhecurves`, kept because the first README documented it (docs/api.md, "Names"). */
  ecdheCurves?: string | string[];
  /** Alias of `dheparams`, kept because the first README documented it (docs/api.md, "Names"). */
  dheParams?: string;
  sessionLifetime?: number;
  sessionId?: BytesLike;
  ticketKeys?: TicketKeyOptions[];
  sessionFd?: number;
  preferCiphers?: 'client' | 'server';
}

const OPTION_KEYS: ReadonlySet<string> = new Set([
  'caMem',
  'caFile',
  'caPath',
  'certMem',
  'certFile',
  'keyMem',
  'keyFile',
  'keypairs',
  'alpn',
  'protocols',
  'ciphers',
  'ecdhecurves',
  'dheparams',
  'crlMem',
  'crlFile',
  'verifyDepth',
  'verifyClient',
  'ocspStapleMem',
  'ocspRequireStapling',
  'insecure',
  'sessionLifetime',
  'sessionId',
  'ticketKeys',
  'sessionFd',
  'preferCiphers',
]);

const INSECURE_KEYS: ReadonlySet<string> = new Set(['noverifycert', 'noverifyname', 'noverifytime']);

/** The option keys kept as aliases (docs/api.md, "Names"), each with its primary key. */
const OPTION_ALIASES: Readonly<Record<string, string>> = {
  ca: 'caMem',
  cert: 'certMem',
  key: 'keyMem',
  crl: 'crlMem',
  ocspStaple: 'ocspStapleMem',
  ecdheCurves: 'ecdhecurves',
  dheParams: 'dheparams',
};
const INSECURE_ALIASES: Readonly<Record<string, string>> = {
  noVerifyCert: 'noverifycert',
  noVerifyName: 'noverifyname',
  noVerifyTime: 'noverifytime',
};

function checkKeys(
  o: object,
  allowed: ReadonlySet<string>,
  where: string,
  aliases: Readonly<Record<string, string>> = {},
): void {
  for (const k of Object.keys(o)) {
    if (!allowed.has(k) && !Object.hasOwn(aliases, k)) {
      throw new TypeError(`unknown ${where} option: ${JSON.stringify(k)}`);
    }
  }
}

/**
 * `o` with every alias key renamed to its primary key (undefined values dropped, as unset), and
 * under each primary key the key as given (for messages); a key given together with its alias is
 * a TypeError (code `ERR_INVALID_ARG_VALUE`).
 */
function unalias<T extends object>(
  o: T,
  aliases: Readonly<Record<string, string>>,
  where: string,
): { values: T; given: Record<string, string> } {
  const out: Record<string, unknown> = {};
  const given: Record<string, string> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined) continue;
    const primary = Object.hasOwn(aliases, k) ? (aliases[k] as string) : k;
    if (Object.hasOwn(out, primary)) {
      const alias = primary === k ? Object.keys(aliases).find((a) => aliases[a] === k) : k;
      const e = new TypeError(
        `${where} options ${JSON.stringify(primary)} and its alias ${JSON.stringify(alias)} are both given`,
      ) as TypeError & { code: string };
      e.code = 'ERR_INVALID_ARG_VALUE';
      throw e;
    }
    out[primary] = v;
    given[primary] = k;
  }
  return { values: out as T, given };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function list(v: unknown, name: string): string {
  const items = Array.isArray(v) ? v : [v];
  if (items.length === 0) throw new TypeError(`${name} must not be empty`);
  return items
    .map((s, i) => {
      const item = nonEmptyStr(s, `${name}[${i}]`);
      if (item.includes(',')) throw new TypeError(`${name}[${i}] must not contain a comma`);
      return item;
    })
    .join(',');
}

function alpnList(v: unknown): string {
  if (typeof v !== 'string' && !Array.isArray(v)) fail('alpn', 'a string or an array of strings', v);
  const names = Array.isArray(v) ? v : str(v, 'alpn').split(',');
  const joined = list(names, 'alpn');
  for (const n of joined.split(',')) {
    if (Buffer.byteLength(n) > 255) throw new RangeError('an ALPN protocol name is at most 255 bytes');
  }
  return joined;
}

// Where distributions keep the system's CA certificates as a hashed directory (`openssl rehash`)
// and as one bundle. The directory comes first: libtls makes a new OpenSSL context for every client
// connection and parses a bundle whole each time (about 35 ms for Debian's 150 certificates),
// where OpenSSL reads from a directory only the certificate a verification needs.
const CA_DIRS = ['/etc/ssl/certs', '/etc/pki/ca-trust/extracted/pem/directory-hash'];
const CA_BUNDLES = [
  '/etc/ssl/certs/ca-certificates.crt',
  '/etc/pki/tls/certs/ca-bundle.crt',
  '/etc/ssl/ca-bundle.pem',
  '/etc/ssl/cert.pem',
];

/** @internal Where a new Config finds the system's CA certificates (null: libtls's own default). */
export type SystemCa = { path: string } | { file: string } | null;
let systemCa: SystemCa | undefined;

function isHashedDir(dir: string): boolean {
  try {
    return readdirSync(dir).some((f) => /^[0-9a-f]{8}\.\d+$/.test(f));
  } catch {
    return false;
  }
}

/** @internal The system CA certificates a new Config uses. */
export function systemCaSource(): SystemCa {
  if (systemCa === undefined) {
    const dir = CA_DIRS.find(isHashedDir);
    const builtin = native.tls_default_ca_cert_file();
    const file = CA_BUNDLES.find((f) => existsSync(f));
    if (dir !== undefined) systemCa = { path: dir };
    else if (builtin && existsSync(builtin)) systemCa = null;
    else systemCa = file === undefined ? null : { file };
  }
  return systemCa;
}

let handleOf: (c: Config) => ConfigHandle;
let policyOf: (c: Config) => VerifyPolicy;

/**
 * @internal What a Config verifies, for the TlsSocket properties node:tls derives from its own
 * verification (`authorized`, `authorizationError`, the issuer chain of `getPeerCertificate`).
 */
export interface VerifyPolicy {
  cert: boolean;
  name: boolean;
  time: boolean;
  /** Server side: whether client certificates are requested, and required. */
  client: 'none' | 'required' | 'optional';
  /** The CA certificates set in memory or by file, else null (the system's, or a directory). */
  ca: { pem: Uint8Array } | { file: string } | null;
}

/** @internal */
export function verifyPolicy(c: Config): VerifyPolicy {
  return policyOf(c);
}

/** Returns the native handle of a live Config (for the Tls class); throws on a freed one. */
export function configHandle(c: unknown, name = 'config'): ConfigHandle {
  if (!(c instanceof Config)) fail(name, 'a Config', c);
  return handleOf(c);
}

/**
 * A libtls configuration (`struct tls_config`). Every setter returns `this`. A new Config uses
 * this package's secure defaults: TLS 1.2 and 1.3, AEAD ciphers with forward secrecy, full
 * certificate and name verification against the system's CA certificates (its hashed directory,
 * such as /etc/ssl/certs; else libtls's default CA file, or the distribution's bundle when that
 * file does not exist, as on Debian with libretls).
 */
export class Config {
  #handle: ConfigHandle | null;
  /** The system CA certificates were set by the constructor, not by the user. */
  #defaultCa = false;
  readonly #policy: VerifyPolicy = { cert: true, name: true, time: true, client: 'none', ca: null };

  static {
    policyOf = (c: Config): VerifyPolicy => c.#policy;
    handleOf = (c: Config): ConfigHandle => {
      if (c.#handle === null)
        throw new TlsError('the Config has been freed', 'tls_config', { code: 'ERR_TLS_INVALID_STATE' });
      return c.#handle;
    };
  }

  constructor(options?: ConfigOptions) {
    if (options !== undefined && !isObject(options)) fail('options', 'an object', options);
    this.#handle = native.tls_config_new();
    try {
      native.tls_config_set_ciphers(this.#handle, SECURE_CIPHERS);
      const ca = systemCaSource();
      if (ca !== null && 'path' in ca) native.tls_config_set_ca_path(this.#handle, ca.path);
      else if (ca !== null) native.tls_config_set_ca_file(this.#handle, ca.file);
      this.#defaultCa = ca !== null;
      if (options) this.#apply(options);
    } catch (err) {
      this.free();
      throw err;
    }
  }

  /** `tls_config_parse_protocols`: a protocol mask from libtls keywords; throws if invalid. */
  static parseProtocols(protocols: string): number {
    return native.tls_config_parse_protocols(str(protocols, 'protocols'));
  }

  /** `tls_default_ca_cert_file`: the CA file libtls uses when none is set. */
  static defaultCaCertFile(): string {
    return native.tls_default_ca_cert_file() ?? '';
  }

  /** `tls_load_file`: reads a file, decrypting a PEM private key with `password` if given. */
  static loadFile(path: string, password?: string): Buffer {
    const pw = password === undefined ? null : str(password, 'password');
    return native.tls_load_file(nonEmptyStr(path, 'path'), pw);
  }

  get #h(): ConfigHandle {
    return handleOf(this);
  }

  /** Whether `free()` has been called. */
  get freed(): boolean {
    return this.#handle === null;
  }

  /** Frees the libtls config. Contexts already configured with it keep working. */
  free(): void {
    if (this.#handle !== null) {
      native.tls_config_free(this.#handle);
      this.#handle = null;
    }
  }

  [Symbol.dispose](): void {
    this.free();
  }

  /** ALPN protocols in order of preference: `'h2,http/1.1'` or `['h2', 'http/1.1']`. */
  setAlpn(alpn: string | string[]): this {
    native.tls_config_set_alpn(this.#h, alpnList(alpn));
    return this;
  }

  /**
   * CA certificates from a PEM file, in place of the system's (libtls uses CA certificates in
   * memory and ignores a directory then).
   */
  setCaFile(path: string): this {
    const p = nonEmptyStr(path, 'path');
    native.tls_config_set_ca_file(this.#h, p);
    this.#defaultCa = false;
    this.#policy.ca = { file: p };
    return this;
  }

  /** A directory of hashed CA certificates (`openssl rehash`), in place of the system's. */
  setCaPath(path: string): this {
    const p = nonEmptyStr(path, 'path');
    // libtls prefers CA certificates in memory over a path: drop a bundle the constructor set
    if (this.#defaultCa) native.tls_config_set_ca_mem(this.#h, new Uint8Array(0));
    native.tls_config_set_ca_path(this.#h, p);
    this.#defaultCa = false;
    this.#policy.ca = null;
    return this;
  }

  /** `tls_config_set_ca_mem`: CA certificates in PEM, in place of the system's (as `setCaFile`). */
  setCaMem(ca: BytesLike): this {
    const pem = toBytes(ca, 'ca');
    native.tls_config_set_ca_mem(this.#h, pem);
    this.#defaultCa = false;
    this.#policy.ca = { pem: Uint8Array.from(pem) };
    return this;
  }

  /** Alias of {@link Config.setCaMem}, kept because the first README documented it (docs/api.md, "Names"). */
  setCa(ca: BytesLike): this {
    return this.setCaMem(ca);
  }

  setCertFile(path: string): this {
    native.tls_config_set_cert_file(this.#h, nonEmptyStr(path, 'path'));
    return this;
  }

  /** `tls_config_set_cert_mem`: the certificate chain in PEM. */
  setCertMem(cert: BytesLike): this {
    native.tls_config_set_cert_mem(this.#h, toBytes(cert, 'cert'));
    return this;
  }

  /** Alias of {@link Config.setCertMem}, kept because the first README documented it (docs/api.md, "Names"). */
  setCert(cert: BytesLike): this {
    return this.setCertMem(cert);
  }

  /** A cipher list in OpenSSL syntax; `'secure'` and `'default'` mean `SECURE_CIPHERS`. */
  setCiphers(ciphers: string): this {
    const c = nonEmptyStr(ciphers, 'ciphers');
    const lc = c.toLowerCase();
    native.tls_config_set_ciphers(this.#h, lc === 'secure' || lc === 'default' ? SECURE_CIPHERS : c);
    return this;
  }

  setCrlFile(path: string): this {
    native.tls_config_set_crl_file(this.#h, nonEmptyStr(path, 'path'));
    return this;
  }

  /** `tls_config_set_crl_mem`: a CRL in PEM. */
  setCrlMem(crl: BytesLike): this {
    native.tls_config_set_crl_mem(this.#h, toBytes(crl, 'crl'));
    return this;
  }

  /** Alias of {@link Config.setCrlMem}, kept because the first README documented it (docs/api.md, "Names"). */
  setCrl(crl: BytesLike): this {
    return this.setCrlMem(crl);
  }

  setKeyFile(path: string): this {
    native.tls_config_set_key_file(this.#h, nonEmptyStr(path, 'path'));
    return this;
  }

  /** `tls_config_set_key_mem`: a private key in PEM. */
  setKeyMem(key: BytesLike): this {
    native.tls_config_set_key_mem(this.#h, toBytes(key, 'key'));
    return this;
  }

  /** Alias of {@link Config.setKeyMem}, kept because the first README documented it (docs/api.md, "Names"). */
  setKey(key: BytesLike): this {
    return this.setKeyMem(key);
  }

  /**
   * `tls_config_set_keypair_file`, or with `ocspStapleFile` `tls_config_set_keypair_ocsp_file`:
   * the certificate chain and key (and a DER OCSP staple) from files.
   */
  setKeypairFile(certFile: string, keyFile: string, ocspStapleFile?: string): this {
    native.tls_config_set_keypair_ocsp_file(
      this.#h,
      nonEmptyStr(certFile, 'certFile'),
      nonEmptyStr(keyFile, 'keyFile'),
      ocspStapleFile === undefined ? null : nonEmptyStr(ocspStapleFile, 'ocspStapleFile'),
    );
    return this;
  }

  /** `tls_config_set_keypair_ocsp_file`: as `setKeypairFile` with its staple file required. */
  setKeypairOcspFile(certFile: string, keyFile: string, ocspStapleFile: string): this {
    return this.setKeypairFile(certFile, keyFile, nonEmptyStr(ocspStapleFile, 'ocspStapleFile'));
  }

  /**
   * `tls_config_set_keypair_mem`, or with `ocspStaple` `tls_config_set_keypair_ocsp_mem`: the
   * certificate chain and key in PEM (and a DER OCSP staple).
   */
  setKeypairMem(cert: BytesLike, key: BytesLike, ocspStaple?: BytesLike): this {
    native.tls_config_set_keypair_ocsp_mem(
      this.#h,
      toBytes(cert, 'cert'),
      toBytes(key, 'key'),
      ocspStaple === undefined ? null : toBytes(ocspStaple, 'ocspStaple'),
    );
    return this;
  }

  /** `tls_config_set_keypair_ocsp_mem`: as `setKeypairMem` with its staple required. */
  setKeypairOcspMem(cert: BytesLike, key: BytesLike, ocspStaple: BytesLike): this {
    return this.setKeypairMem(cert, key, toBytes(ocspStaple, 'ocspStaple'));
  }

  /** Alias of {@link Config.setKeypairMem}, kept because the first README documented it (docs/api.md, "Names"). */
  setKeypair(cert: BytesLike, key: BytesLike, ocspStaple?: BytesLike): this {
    return this.setKeypairMem(cert, key, ocspStaple);
  }

  /**
   * `tls_config_add_keypair_file`, or with `ocspStapleFile` `tls_config_add_keypair_ocsp_file`:
   * one more certificate and key (chosen by SNI) from files.
   */
  addKeypairFile(certFile: string, keyFile: string, ocspStapleFile?: string): this {
    native.tls_config_add_keypair_ocsp_file(
      this.#h,
      nonEmptyStr(certFile, 'certFile'),
      nonEmptyStr(keyFile, 'keyFile'),
      ocspStapleFile === undefined ? null : nonEmptyStr(ocspStapleFile, 'ocspStapleFile'),
    );
    return this;
  }

  /** `tls_config_add_keypair_ocsp_file`: as `addKeypairFile` with its staple file required. */
  addKeypairOcspFile(certFile: string, keyFile: string, ocspStapleFile: string): this {
    return this.addKeypairFile(certFile, keyFile, nonEmptyStr(ocspStapleFile, 'ocspStapleFile'));
  }

  /**
   * `tls_config_add_keypair_mem`, or with `ocspStaple` `tls_config_add_keypair_ocsp_mem`: one more
   * certificate and key in PEM (chosen by SNI), and a DER OCSP staple.
   */
  addKeypairMem(cert: BytesLike, key: BytesLike, ocspStaple?: BytesLike): this {
    native.tls_config_add_keypair_ocsp_mem(
      this.#h,
      toBytes(cert, 'cert'),
      toBytes(key, 'key'),
      ocspStaple === undefined ? null : toBytes(ocspStaple, 'ocspStaple'),
    );
    return this;
  }

  /** `tls_config_add_keypair_ocsp_mem`: as `addKeypairMem` with its staple required. */
  addKeypairOcspMem(cert: BytesLike, key: BytesLike, ocspStaple: BytesLike): this {
    return this.addKeypairMem(cert, key, toBytes(ocspStaple, 'ocspStaple'));
  }

  /** Alias of {@link Config.addKeypairMem}, kept because the first README documented it (docs/api.md, "Names"). */
  addKeypair(cert: BytesLike, key: BytesLike, ocspStaple?: BytesLike): this {
    return this.addKeypairMem(cert, key, ocspStaple);
  }

  /** `tls_config_set_ocsp_staple_mem`: a DER OCSP response to staple to the (first) certificate. */
  setOcspStapleMem(staple: BytesLike): this {
    native.tls_config_set_ocsp_staple_mem(this.#h, toBytes(staple, 'staple'));
    return this;
  }

  /** Alias of {@link Config.setOcspStapleMem}, kept because the first README documented it (docs/api.md, "Names"). */
  setOcspStaple(staple: BytesLike): this {
    return this.setOcspStapleMem(staple);
  }

  setOcspStapleFile(path: string): this {
    native.tls_config_set_ocsp_staple_file(this.#h, nonEmptyStr(path, 'path'));
    return this;
  }

  /**
   * The protocol versions to allow: masks (`PROTOCOL_TLSv1_2`, `PROTOCOL_TLSv1_3`, ...) and/or libtls keyword strings
   * (`'tlsv1.2,tlsv1.3'`, `'secure'`, `'all:!tlsv1.0'`), or-ed together. The set is checked against
   * the versions this libtls can enable (`backend.protocols`): a version it cannot enable
   * (TLS 1.0 and 1.1 on LibreSSL 4, whose tls.h keeps their bits but enables neither) is ignored, as
   * libtls ignores it; a set left with none is refused, and so is a set with a gap (TLS 1.1 and 1.3
   * without 1.2 where all three exist): OpenSSL can only use a contiguous range and the handshake
   * would fail with "unsupported protocol".
   */
  setProtocols(...protocols: (number | string)[]): this {
    if (protocols.length === 0) throw new RangeError('setProtocols() needs at least one protocol');
    let mask = 0;
    protocols.forEach((p, i) => {
      if (typeof p === 'string') mask |= Config.parseProtocols(p);
      else mask |= int(p, `protocols[${i}]`, 0, UINT32_MAX);
    });
    mask >>>= 0;
    if (mask === 0) throw new RangeError('setProtocols(): the protocol set is empty');
    if ((mask & ~ALL_VERSION_BITS) !== 0) {
      throw new RangeError(`setProtocols(): 0x${mask.toString(16)} has bits that name no TLS version`);
    }
    const supported = supportedProtocols();
    const enabled = mask & supported;
    if (enabled === 0) {
      throw new RangeError(
        `setProtocols(): 0x${mask.toString(16)} names no TLS version this libtls can enable ` +
          `(it can enable 0x${supported.toString(16)})`,
      );
    }
    // a gap counts only between versions this libtls has: on LibreSSL 4, 'all:!tlsv1.1' is TLS 1.2
    // and 1.3, no gap
    const lowest = enabled & -enabled;
    const highest = 2 ** Math.floor(Math.log2(enabled));
    const range = (highest * 2 - lowest) & supported;
    if (enabled !== range) {
      throw new RangeError(
        `setProtocols(): the protocol set 0x${mask.toString(16)} has a gap; ` +
          'OpenSSL can only enable a contiguous range of versions',
      );
    }
    native.tls_config_set_protocols(this.#h, mask);
    return this;
  }

  /** `tls_config_insecure_noverifycert`: disables certificate chain verification. Insecure: for tests only. */
  insecureNoverifycert(): this {
    native.tls_config_insecure_noverifycert(this.#h);
    this.#policy.cert = false;
    return this;
  }

  /** Alias of {@link Config.insecureNoverifycert}, kept because the first README documented it (docs/api.md, "Names"). */
  insecureNoVerifyCert(): this {
    return this.insecureNoverifycert();
  }

  /** `tls_config_insecure_noverifyname`: disables server name verification. Insecure: for tests only. */
  insecureNoverifyname(): this {
    native.tls_config_insecure_noverifyname(this.#h);
    this.#policy.name = false;
    return this;
  }

  /** Alias of {@link Config.insecureNoverifyname}, kept because the first README documented it (docs/api.md, "Names"). */
  insecureNoVerifyName(): this {
    return this.insecureNoverifyname();
  }

  /** `tls_config_insecure_noverifytime`: disables certificate validity time checks. Insecure: for tests only. */
  insecureNoverifytime(): this {
    native.tls_config_insecure_noverifytime(this.#h);
    this.#policy.time = false;
    return this;
  }

  /** Alias of {@link Config.insecureNoverifytime}, kept because the first README documented it (docs/api.md, "Names"). */
  insecureNoVerifyTime(): this {
    return this.insecureNoverifytime();
  }

  /** Re-enables all verification (the default). */
  verify(): this {
    native.tls_config_verify(this.#h);
    Object.assign(this.#policy, { cert: true, name: true, time: true });
    return this;
  }

  /** Server: require and verify a client certificate. */
  verifyClient(): this {
    native.tls_config_verify_client(this.#h);
    this.#policy.client = 'required';
    return this;
  }

  /** Server: verify a client certificate if the client sends one. */
  verifyClientOptional(): this {
    native.tls_config_verify_client_optional(this.#h);
    this.#policy.client = 'optional';
    return this;
  }

  /** Wipes private keys from memory (after the contexts that need them are configured). */
  clearKeys(): this {
    native.tls_config_clear_keys(this.#h);
    return this;
  }

  preferCiphersClient(): this {
    native.tls_config_prefer_ciphers_client(this.#h);
    return this;
  }

  preferCiphersServer(): this {
    native.tls_config_prefer_ciphers_server(this.#h);
    return this;
  }

  /** DHE parameters: `'none'`, `'auto'` or `'legacy'`. */
  setDheparams(params: string): this {
    native.tls_config_set_dheparams(this.#h, nonEmptyStr(params, 'params'));
    return this;
  }

  /** One ECDHE curve (deprecated in libtls in favour of `setEcdhecurves`). */
  setEcdhecurve(curve: string): this {
    native.tls_config_set_ecdhecurve(this.#h, nonEmptyStr(curve, 'curve'));
    return this;
  }

  /** ECDHE curves in order of preference: `'X25519,P-256'` or `['X25519', 'P-256']`. */
  setEcdhecurves(curves: string | string[]): this {
    const v = Array.isArray(curves) ? list(curves, 'curves') : nonEmptyStr(curves, 'curves');
    native.tls_config_set_ecdhecurves(this.#h, v);
    return this;
  }

  /** Server: the session ID context (at most `MAX_SESSION_ID_LENGTH` bytes). */
  setSessionId(sessionId: BytesLike): this {
    const b = toBytes(sessionId, 'sessionId');
    if (b.length > MAX_SESSION_ID_LENGTH) {
      throw new RangeError(`sessionId must be at most ${MAX_SESSION_ID_LENGTH} bytes`);
    }
    native.tls_config_set_session_id(this.#h, b);
    return this;
  }

  /** Server: session lifetime in seconds (0 disables session resumption). */
  setSessionLifetime(seconds: number): this {
    const n = int(seconds, 'seconds', 0, INT32_MAX);
    native.tls_config_set_session_lifetime(this.#h, n);
    if (n > 0) warnIfNoServerResumption('sessionLifetime');
    return this;
  }

  /** Server: adds a session ticket key of `TICKET_KEY_SIZE` bytes under revision `keyrev`. */
  addTicketKey(keyrev: number, key: Uint8Array): this {
    const rev = int(keyrev, 'keyrev', 0, UINT32_MAX);
    if (!(key instanceof Uint8Array)) fail('key', 'a Uint8Array', key);
    if (key.length !== TICKET_KEY_SIZE) {
      throw new RangeError(`a ticket key must be ${TICKET_KEY_SIZE} bytes, got ${key.length}`);
    }
    native.tls_config_add_ticket_key(this.#h, rev, key);
    warnIfNoServerResumption('ticketKeys');
    return this;
  }

  /** Client: a regular file (open read/write) where the session is saved and resumed from. */
  setSessionFd(sessionFd: number): this {
    native.tls_config_set_session_fd(this.#h, fd(sessionFd, 'sessionFd'));
    return this;
  }

  /** Client: fail the handshake unless the server staples a valid OCSP response. */
  ocspRequireStapling(): this {
    native.tls_config_ocsp_require_stapling(this.#h);
    return this;
  }

  /**
   * The maximum number of intermediate CA certificates between the peer's certificate and the
   * trust anchor, as OpenSSL and node:tls count (`0`: the peer's certificate is issued by a trusted
   * CA directly). LibreSSL's verifier counts one more (and takes 0 as no limit): there the package
   * hands libtls `depth + 1`, as `backend.capabilities.verifyDepthShift` measured.
   */
  setVerifyDepth(depth: number): this {
    const d = int(depth, 'depth', 0, INT32_MAX);
    native.tls_config_set_verify_depth(this.#h, Math.min(INT32_MAX, d + verifyDepthAdjustment()));
    return this;
  }

  #apply(options: ConfigOptions): void {
    checkKeys(options, OPTION_KEYS, 'Config', OPTION_ALIASES);
    const o = unalias(options, OPTION_ALIASES, 'Config').values;
    const has = (k: keyof ConfigOptions): boolean => o[k] !== undefined;
    if (has('caMem')) this.setCaMem(o.caMem as BytesLike);
    if (has('caFile')) this.setCaFile(o.caFile as string);
    if (has('caPath')) this.setCaPath(o.caPath as string);
    if (has('crlMem')) this.setCrlMem(o.crlMem as BytesLike);
    if (has('crlFile')) this.setCrlFile(o.crlFile as string);
    if (has('certMem')) this.setCertMem(o.certMem as BytesLike);
    if (has('certFile')) this.setCertFile(o.certFile as string);
    if (has('keyMem')) this.setKeyMem(o.keyMem as BytesLike);
    if (has('keyFile')) this.setKeyFile(o.keyFile as string);
    if (has('ocspStapleMem')) this.setOcspStapleMem(o.ocspStapleMem as BytesLike);
    if (has('keypairs')) {
      if (!Array.isArray(o.keypairs)) fail('keypairs', 'an array', o.keypairs);
      o.keypairs.forEach((kp, i) => {
        if (!isObject(kp)) fail(`keypairs[${i}]`, 'an object', kp);
        checkKeys(kp, new Set(['cert', 'key', 'ocspStaple']), `keypairs[${i}]`);
        this.addKeypairMem(kp.cert, kp.key, kp.ocspStaple);
      });
    }
    if (has('alpn')) this.setAlpn(o.alpn as string | string[]);
    if (has('protocols')) {
      const p = o.protocols as number | string | (number | string)[];
      this.setProtocols(...(Array.isArray(p) ? p : [p]));
    }
    if (has('ciphers')) this.setCiphers(o.ciphers as string);
    if (has('ecdhecurves')) this.setEcdhecurves(o.ecdhecurves as string | string[]);
    if (has('dheparams')) this.setDheparams(o.dheparams as string);
    if (has('verifyDepth')) this.setVerifyDepth(o.verifyDepth as number);
    if (has('verifyClient')) {
      const v = o.verifyClient;
      if (v === 'optional') this.verifyClientOptional();
      else if (bool(v, 'verifyClient')) this.verifyClient();
    }
    if (has('ocspRequireStapling') && bool(o.ocspRequireStapling, 'ocspRequireStapling')) {
      this.ocspRequireStapling();
    }
    if (has('insecure')) {
      if (!isObject(o.insecure)) fail('insecure', 'an object', o.insecure);
      checkKeys(o.insecure, INSECURE_KEYS, 'insecure', INSECURE_ALIASES);
      const { values: ins, given } = unalias(o.insecure as InsecureOptions, INSECURE_ALIASES, 'insecure');
      if (ins.noverifycert !== undefined && bool(ins.noverifycert, `insecure.${given.noverifycert}`)) {
        this.insecureNoverifycert();
      }
      if (ins.noverifyname !== undefined && bool(ins.noverifyname, `insecure.${given.noverifyname}`)) {
        this.insecureNoverifyname();
      }
      if (ins.noverifytime !== undefined && bool(ins.noverifytime, `insecure.${given.noverifytime}`)) {
        this.insecureNoverifytime();
      }
    }
    if (has('sessionLifetime')) this.setSessionLifetime(o.sessionLifetime as number);
    if (has('sessionId')) this.setSessionId(o.sessionId as BytesLike);
    if (has('ticketKeys')) {
      if (!Array.isArray(o.ticketKeys)) fail('ticketKeys', 'an array', o.ticketKeys);
      o.ticketKeys.forEach((tk, i) => {
        if (!isObject(tk)) fail(`ticketKeys[${i}]`, 'an object', tk);
        checkKeys(tk, new Set(['keyrev', 'key']), `ticketKeys[${i}]`);
        this.addTicketKey(tk.keyrev, tk.key);
      });
    }
    if (has('sessionFd')) this.setSessionFd(o.sessionFd as number);
    if (has('preferCiphers')) {
      if (o.preferCiphers === 'client') this.preferCiphersClient();
      else if (o.preferCiphers === 'server') this.preferCiphersServer();
      else fail('preferCiphers', "'client' or 'server'", o.preferCiphers);
    }
  }
}
