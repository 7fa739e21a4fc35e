// What a TlsSocket reports about its connection in node:tls's shapes: the peer certificate as
// `getPeerCertificate()` gives it (built by node:crypto's X509Certificate from the chain libtls
// received), `authorized`/`authorizationError`, `getCipher()`, and the TLSSocket methods libtls
// has nothing for.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { CipherNameAndProtocol, DetailedPeerCertificate, PeerCertificate } from 'node:tls';
import { verifyPolicy } from './config.js';
import { TlsError } from './errors.js';
import { native } from './native.js';
import type { Tls } from './tls.js';

const BEGIN = '-----BEGIN CERTIFICATE-----';
const END = '-----END CERTIFICATE-----';

/** The certificates of a PEM text, in order (anything between them is skipped). */
export function certificatesOf(pem: string): X509Certificate[] {
  const out: X509Certificate[] = [];
  let at = pem.indexOf(BEGIN);
  while (at >= 0) {
    const end = pem.indexOf(END, at);
    if (end < 0) break;
    out.push(new X509Certificate(pem.slice(at, end + END.length)));
    at = pem.indexOf(BEGIN, end);
  }
  return out;
}

/** Whether `issuer` issued `cert`: names and key identifiers match, and its key verifies the signature. */
function issued(cert: X509Certificate, issuer: X509Certificate): boolean {
  return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
}

/** Whether `cert` issued itself, as node:tls's chain walk decides it (OpenSSL's X509_check_issued). */
function selfIssued(cert: X509Certificate): boolean {
  return issued(cert, cert);
}

/** The CA certificates a Config names in memory or by file (a directory is not searched). */
function trustedOf(ctx: Tls): X509Certificate[] {
  const config = ctx.config;
  const ca = config === null || config.freed ? null : verifyPolicy(config).ca;
  if (ca === null) return [];
  try {
    const pem = 'pem' in ca ? Buffer.from(ca.pem).toString('latin1') : readFileSync(ca.file, 'latin1');
    return certificatesOf(pem);
  } catch {
    return []; // the file went away since: no issuer to add
  }
}

type Legacy = PeerCertificate & { issuerCertificate?: Legacy };

/**
 * `getPeerCertificate(detailed)` of node:tls for a chain (leaf first): `{}` without one. With
 * `detailed`, each certificate's `issuerCertificate` is its issuer among the certificates the peer
 * sent, then the trusted ones; a self-issued certificate is its own issuer, as in node:tls.
 */
export function legacyCertificate(
  chain: X509Certificate[],
  detailed: boolean,
  trusted: () => X509Certificate[],
): PeerCertificate | DetailedPeerCertificate {
  const leaf = chain[0];
  if (leaf === undefined) return {} as PeerCertificate;
  const top = leaf.toLegacyObject() as Legacy;
  if (!detailed) return top;
  const pool = chain.slice(1);
  let pooledTrusted = false;
  let cert = leaf;
  let obj = top;
  for (let i = 0; i < chain.length + 16; i++) {
    if (selfIssued(cert)) {
      obj.issuerCertificate = obj;
      break;
    }
    let k = pool.findIndex((c) => issued(cert, c));
    if (k < 0 && !pooledTrusted) {
      pooledTrusted = true;
      pool.push(...trusted());
      k = pool.findIndex((c) => issued(cert, c));
    }
    const issuer = k < 0 ? undefined : pool.splice(k, 1)[0];
    if (issuer === undefined) break;
    const next = issuer.toLegacyObject() as Legacy;
    obj.issuerCertificate = next;
    obj = next;
    cert = issuer;
  }
  return top as DetailedPeerCertificate;
}

/** The chain libtls received from the peer, leaf first. */
export function peerChain(ctx: Tls): X509Certificate[] {
  if (!ctx.peerCertProvided()) return [];
  const pem = ctx.peerCertChainPem();
  return pem === null ? [] : certificatesOf(pem);
}

/** The certificates `getPeerCertificate(true)` may look an issuer up in. */
export function trustedCertificates(ctx: Tls): () => X509Certificate[] {
  return () => trustedOf(ctx);
}

export interface Authorization {
  authorized: boolean;
  authorizationError: string | null;
}

function timeError(chain: X509Certificate[]): string | null {
  const now = Date.now();
  for (const c of chain) {
    if (Date.parse(c.validFrom) > now) return 'CERT_NOT_YET_VALID';
    if (Date.parse(c.validTo) < now) return 'CERT_HAS_EXPIRED';
  }
  return null;
}

/**
 * node:tls's `authorized` and `authorizationError` for a completed handshake. libtls completes a
 * handshake only when everything its Config verifies passed, so a Config verifying everything
 * means `authorized`. What an `insecure` Config skipped is checked here where node:crypto can:
 * validity times, the name (by libtls), a self-signed leaf; a chain left unverified otherwise
 * gives `ERR_TLS_CERT_UNVERIFIED`.
 */
export function authorizationOf(
  ctx: Tls,
  mode: 'client' | 'server',
  chain: X509Certificate[],
  servername: string | null,
): Authorization {
  const config = ctx.config;
  const policy =
    config === null || config.freed
      ? { cert: true, name: true, time: true, client: 'none' as const }
      : verifyPolicy(config);
  const no = (authorizationError: string | null): Authorization => ({
    authorized: false,
    authorizationError,
  });
  const leaf = chain[0];
  if (mode === 'server') {
    // node:tls: no certificate requested, no verdict; requested and none sent, no issuer found
    if (policy.client === 'none') return no(null);
    if (leaf === undefined) return no('UNABLE_TO_GET_ISSUER_CERT');
  } else if (leaf === undefined) {
    return no('UNABLE_TO_GET_ISSUER_CERT');
  }
  if (!policy.cert) {
    // OpenSSL's test for a self-signed certificate: its own name as issuer, signed by its own key
    if (chain.length === 1 && leaf.subject === leaf.issuer && leaf.verify(leaf.publicKey)) {
      return no('DEPTH_ZERO_SELF_SIGNED_CERT');
    }
    return no('ERR_TLS_CERT_UNVERIFIED');
  }
  if (!policy.time) {
    const t = timeError(chain);
    if (t !== null) return no(t);
  }
  if (mode === 'client' && !policy.name && servername !== null && !ctx.peerCertContainsName(servername)) {
    return no('ERR_TLS_CERT_ALTNAME_INVALID');
  }
  return { authorized: true, authorizationError: null };
}

const cipherCache = new Map<string, [string, string] | null>();

// OpenSSL's names of the TLS 1.2 AEAD suites: {ECDHE,DHE}-{ECDSA,RSA}-AES{128,256}-GCM-SHA{256,384},
// the same with CHACHA20-POLY1305, and the RSA key exchange ones (AES128-GCM-SHA256)
const AEAD12 = /^(?:(ECDHE|DHE)-(ECDSA|RSA)-)?(?:AES(128|256)-GCM-(SHA256|SHA384)|(CHACHA20-POLY1305))$/;

/**
 * The IANA name (RFC 5288, 5289, 7905) and the lowest protocol version of a cipher from its OpenSSL
 * name alone, for a crypto library that reports neither (LibreSSL: no `SSL_CIPHER_standard_name`,
 * and `SSL_CIPHER_get_version` says `TLSv1/SSLv3` for every suite): TLS 1.3 suites are named
 * alike everywhere; the TLS 1.2 AEAD suites exist from TLS 1.2 on. null for any other suite.
 */
function derivedCipherInfo(name: string): [string, string] | null {
  if (/^TLS_(AES|CHACHA20)_/.test(name)) return [name, 'TLSv1.3'];
  const m = AEAD12.exec(name);
  if (m === null) return null;
  const [, kx, auth, bits, mac, chacha] = m;
  if (chacha !== undefined && kx === undefined) return null;
  const prefix = kx === undefined ? 'TLS_RSA' : `TLS_${kx}_${auth}`;
  const bulk = chacha !== undefined ? 'CHACHA20_POLY1305_SHA256' : `AES_${bits}_GCM_${mac}`;
  return [`${prefix}_WITH_${bulk}`, 'TLSv1.2'];
}

/** node:tls's `getCipher()` for the cipher OpenSSL calls `name`. */
export function cipherOf(name: string): CipherNameAndProtocol {
  let info = cipherCache.get(name);
  if (info === undefined) {
    info = native.cipher_info(name);
    // a version that names no single protocol, or no IANA name: derived from the name where the
    // suite is one of the known ones
    const derived = info === null ? null : derivedCipherInfo(name);
    if (info !== null && derived !== null) {
      const oneVersion = /^(TLSv1(\.[0-3])?|SSLv3)$/.test(info[1]);
      info = [info[0] === name ? derived[0] : info[0], oneVersion ? info[1] : derived[1]];
    }
    cipherCache.set(name, info);
  }
  return { name, standardName: info?.[0] ?? name, version: info?.[1] ?? 'unknown' };
}

/**
 * The TLSSocket methods libtls gives nothing for, and why (docs/node-compat.md lists them).
 * Each throws a TlsError with code `ERR_TLS_UNSUPPORTED`.
 */
export const UNSUPPORTED = {
  exportKeyingMaterial: 'libtls has no keying material exporter (RFC 5705)',
  getEphemeralKeyInfo: 'libtls does not report the key exchange parameters',
  setMaxSendFragment: 'libtls has no setting for the record size',
  renegotiate: 'libtls never renegotiates (TLS 1.3 has no renegotiation; TLS 1.2 renegotiation is refused)',
  getSession: 'libtls keeps sessions in its session file or ticket keys and exports none',
  setSession: 'libtls resumes sessions from its session file (Config sessionFd), not from a buffer',
  getTLSTicket: 'libtls does not export session tickets',
  enableTrace: 'libtls has no message trace',
  getFinished: 'libtls does not expose the Finished messages',
  getPeerFinished: 'libtls does not expose the Finished messages',
  getSharedSigalgs: 'libtls does not report the signature algorithms',
  getCertificate: 'libtls does not report which local certificate a connection uses',
  getX509Certificate: 'libtls does not report which local certificate a connection uses',
  setKeyCert: "libtls picks a connection's certificate from its Config (by SNI), not per socket",
  connect: 'a TlsSocket is connected when it is made: use connect() of this package for another',
} as const;

export type UnsupportedMethod = keyof typeof UNSUPPORTED;

export function unsupported(method: UnsupportedMethod): never {
  throw new TlsError(`TlsSocket.${method}() is not available: ${UNSUPPORTED[method]}`, method, {
    code: 'ERR_TLS_UNSUPPORTED',
  });
}
