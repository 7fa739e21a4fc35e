// `backend`: what runs underneath the package. The libtls and crypto library are facts of the
// loaded objects (native/backend.c); the capabilities are measured once, at first use, by a short
// self-test of a server and a client context of this package over an in-memory callback transport.
// No version string decides a capability.

import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmdirSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Config, supportedProtocols } from './config.js';
import {
  PROTOCOL_TLSv1_2,
  PROTOCOL_TLSv1_3,
  TICKET_KEY_SIZE,
  TLS_API,
  WANT_POLLIN,
  WANT_POLLOUT,
} from './constants.js';
import { native } from './native.js';
import { client, server, type Tls } from './tls.js';

/** Which libtls: libretls (libtls on OpenSSL) or LibreSSL's own. */
export type BackendName = 'libretls' | 'libressl';

/** The crypto library libtls's calls really reach. */
export interface BackendCrypto {
  /** `'openssl'` or `'libressl'`, from the library's own `OpenSSL_version()`. */
  readonly library: 'openssl' | 'libressl';
  /** Its `OpenSSL_version()` text, e.g. `"OpenSSL 3.0.19 27 Jan 2026"` or `"LibreSSL 4.3.2"`. */
  readonly version: string;
  /**
   * `'node'`: Node.js's own OpenSSL (exported by the executable; libtls's calls bind to it);
   * `'static'`: linked into the addon with its symbols hidden (`npm install --libtls_static=1`);
   * `'shared'`: a shared library of the system.
   */
  readonly linkage: 'node' | 'static' | 'shared';
  /** The file the calls reach (the Node.js executable, the addon, or a shared library). */
  readonly file: string | null;
}

/** What the self-test measured. */
export interface BackendCapabilities {
  /** A server of this package resumed a session (with `ticketKeys`, `sessionId`, `sessionLifetime`). */
  readonly serverResumption: { readonly tls12: boolean; readonly tls13: boolean };
  /**
   * A client with a `sessionFd` offered its saved session in its next ClientHello (a TLS 1.2
   * ticket or session ID, or a TLS 1.3 pre-shared key) to a server of this package; `null` when
   * that server gave it nothing to offer (no server resumption), so the self-test cannot tell.
   */
  readonly clientResumption: boolean | null;
  /**
   * What `tls_read` does when the peer closes the transport without close_notify: `'error'` (it
   * fails) or `'eof'` (it returns the end of the stream, as after close_notify).
   */
  readonly truncation: 'error' | 'eof';
  /**
   * What `setVerifyDepth(n)` adds to `n` before libtls sees it, so that `n` means what it means in
   * OpenSSL and node:tls on every backend: at most `n` intermediate CAs between the leaf and the
   * trust anchor. `0` where libtls's verifier counts that way (libretls on OpenSSL); `1` where it
   * counts one more (LibreSSL's verifier, where a depth of `n` allows `n - 1` intermediates and `0`
   * is no limit at all). Measured with a chain of one intermediate: does libtls's depth 1 pass it?
   */
  readonly verifyDepthShift: 0 | 1;
  /**
   * What a server with ALPN protocols does with a client that offers only others: `'ignore'` (the
   * handshake goes on, nothing is selected) or `'fail'` (a fatal no_application_protocol alert, as
   * RFC 7301 says and node:tls does).
   */
  readonly alpnMismatch: 'ignore' | 'fail';
  /**
   * Whether a self-signed certificate that is not a CA (`basicConstraints CA:FALSE`) verifies when
   * it is itself given as the CA: `true` where the verifier takes any trusted certificate as an
   * anchor (OpenSSL), `false` where an anchor must be a CA (LibreSSL). A self-signed CA
   * (`CA:TRUE`, `keyCertSign`) verifies as its own anchor on both.
   */
  readonly selfSignedLeafAnchor: boolean;
  /**
   * What a server does with a run of warning alerts in a handshake (after the ClientHello, before
   * the client's next flight): `'limited'` (the handshake fails after a few, OpenSSL's guard against
   * alert floods) or `'unlimited'` (each is read and ignored; the handshake waits, bounded only by
   * the server's handshake timeout).
   */
  readonly warningAlerts: 'limited' | 'unlimited';
  /**
   * What a client's `connect*()` does with a servername that is no valid host name (e.g.
   * `'.example.test'`, an empty label): `'refused'` (a `TlsError` from the connect call, code
   * `ERR_SSL_SSL3_EXT_INVALID_SERVERNAME`, before a byte is sent: LibreSSL checks the SNI) or
   * `'sent'` (it goes out as SNI, and name verification fails in the handshake: OpenSSL).
   */
  readonly invalidServername: 'refused' | 'sent';
  /**
   * Whether a handshake completes when the peer's certificate has several common names in its
   * subject (the client verifying neither the certificate nor the name): LibreSSL's libtls
   * refuses such a certificate as malformed and fails the handshake; libretls accepts it (its name
   * check takes the first CN).
   */
  readonly multipleCommonNames: boolean;
  /**
   * Whether a TLS 1.3 server of this package answers a record that fails to decrypt (a byte of it
   * changed on the way) with a bad_record_mac alert, as RFC 8446 requires: LibreSSL 4.3 sends
   * nothing and fails the read, so its peer sees only the transport close.
   */
  readonly badRecordMacAlert: boolean;
}

export interface Backend {
  readonly name: BackendName;
  /** The libtls version the addon was built against (pkg-config's `--modversion`). */
  readonly version: string;
  /** tls.h's `TLS_API`. */
  readonly tlsApi: number;
  readonly crypto: BackendCrypto;
  /**
   * The TLS versions this libtls can enable, a mask of `PROTOCOL_TLSv1_0` ... `PROTOCOL_TLSv1_3`: what its own
   * `tls_config_parse_protocols` makes of `'all'` (TLS 1.0 to 1.3 on libretls; TLS 1.2 and 1.3 on
   * LibreSSL 4, whose TLS 1.0 and 1.1 bits enable nothing). `Config.setProtocols` checks sets
   * against it.
   */
  readonly protocols: number;
  /** Measured by the self-test on first access (a few milliseconds, synchronous). */
  readonly capabilities: BackendCapabilities;
}

interface NativeBackendInfo {
  libtlsFile: string | null;
  cryptoFile: string | null;
  cryptoVersion: string | null;
  reachFile: string | null;
  reachVersion: string | null;
  linkedStatically: boolean;
  reachesProgram: boolean;
  libtlsVersion: string;
}

// A throwaway EC P-256 certificate and key for the in-memory self-test only: never used on a
// network, never trusted (the self-test's client does not verify).
const SELF_TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBlTCCATugAwIBAgIURfhy584mJu8MEJZOyXfdYHZy9m4wCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwMjA3MDM0MVoYDzIxMjYxMTA4
MDcwMzQxWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAATkbvFi5HtVHUdLg8GJnH9VjQQhhg6aAjicfFg6bGlf9QSu+YIAKG6n
hnLCd1IKlcGACWCdbCgrLYu+Ttcyvg9Fo2kwZzAdBgNVHQ4EFgQU0OqbEklrjPMF
nHHTROKY2Mnwc5IwHwYDVR0jBBgwFoAU0OqbEklrjPMFnHHTROKY2Mnwc5IwDwYD
VR0TAQH/BAUwAwEB/zAUBgNVHREEDTALgglsb2NhbGhvc3QwCgYIKoZIzj0EAwID
SAAwRQIgICZaTAizki1WSVhllIhm03veY0Y6TaCjyxmKbieIKuYCIQDqFx388Pec
7eNxO8IJKqv3RRx/AWkcGUnd81EzcEeJ9Q==
-----END CERTIFICATE-----
`;
const SELF_TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgUA5ZGP1rgvnxw5Wa
UGqu6jFQtCl7aFTrhqEwc7wzNgGhRANCAATkbvFi5HtVHUdLg8GJnH9VjQQhhg6a
AjicfFg6bGlf9QSu+YIAKG6nhnLCd1IKlcGACWCdbCgrLYu+Ttcyvg9F
-----END PRIVATE KEY-----
`;

// For the verification probes: an intermediate CA under SELF_TEST_CERT and a leaf (localhost) under
// it, with the leaf's key; and a self-signed leaf (CA:FALSE, SELF_TEST_KEY's key). Throwaway, as above.
const SELF_TEST_INTERMEDIATE = `-----BEGIN CERTIFICATE-----
MIIBijCCAS+gAwIBAgIBAjAKBggqhkjOPQQDAjAUMRIwEAYDVQQDDAlsb2NhbGhv
c3QwIBcNMjYxMjAyMTcyNDM2WhgPMjEyNjExMDgxNzI0MzZaMCExHzAdBgNVBAMM
FnNlbGYtdGVzdC1pbnRlcm1lZGlhdGUwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC
AARkfPoa+Ftnx7raVEPSQ3DHER38F0AcR5/FWogblrl9uXStSYxuCck2ZeeGIQv6
7T6u1JiTXXCcCrHBlzGpp8jvo2MwYTAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB
/wQEAwICBDAdBgNVHQ4EFgQUkKKWCxMOWIaLye8XE/cf/PkgQoowHwYDVR0jBBgw
FoAU0OqbEklrjPMFnHHTROKY2Mnwc5IwCgYIKoZIzj0EAwIDSQAwRgIhAKjDj/2Y
cnb8K23Z5KRN1OOEvy+Jqk/n0aYxgrjxE30MAiEA9T0gb+oMnaOn4TNEybEyl9AX
QfCz7xD4GsizI1uh+Do=
-----END CERTIFICATE-----
`;
const SELF_TEST_CHAIN_LEAF = `-----BEGIN CERTIFICATE-----
MIIBfTCCASOgAwIBAgIBAzAKBggqhkjOPQQDAjAhMR8wHQYDVQQDDBZzZWxmLXRl
c3QtaW50ZXJtZWRpYXRlMCAXDTI2MTIwMjE3MjQzNloYDzIxMjYxMTA4MTcyNDM2
WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC
AAS1X4su9rByDmFYlfHBFh0P8Ti8e0VQ7un6FPicuL+aytfa+5TfbRsQ5O4L8CWY
DlKxsQ2tRNUsByOxeh6bcTv0o1cwVTAMBgNVHRMBAf8EAjAAMA4GA1UdDwEB/wQE
AwIHgDAUBgNVHREEDTALgglsb2NhbGhvc3QwHwYDVR0jBBgwFoAUkKKWCxMOWIaL
ye8XE/cf/PkgQoowCgYIKoZIzj0EAwIDSAAwRQIhAJk6V2NC1aIyn81eCdlwOXRV
+dkdN/btjJhKvX5zBgKGAiBBPh9rmze7JZsssT/o6tJho4NO1Sc61UpicT20M9tg
nA==
-----END CERTIFICATE-----
`;
const SELF_TEST_CHAIN_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg6Zzpyfjjm8XGP934
0BvCN+KtrsKUbmnzufyGVe4VLnKhRANCAAS1X4su9rByDmFYlfHBFh0P8Ti8e0VQ
7un6FPicuL+aytfa+5TfbRsQ5O4L8CWYDlKxsQ2tRNUsByOxeh6bcTv0
-----END PRIVATE KEY-----
`;
const SELF_TEST_LEAF_SELF_SIGNED = `-----BEGIN CERTIFICATE-----
MIIBTjCB9aADAgECAgEEMAoGCCqGSM49BAMCMBQxEjAQBgNVBAMMCWxvY2FsaG9z
dDAgFw0yNjEyMDIxNzI0MzZaGA8yMTI2MTEwODE3MjQzNlowFDESMBAGA1UEAwwJ
bG9jYWxob3N0MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE5G7xYuR7VR1HS4PB
iZx/VY0EIYYOmgI4nHxYOmxpX/UErvmCAChup4ZywndSCpXBgAlgnWwoKy2Lvk7X
Mr4PRaM2MDQwDAYDVR0TAQH/BAIwADAOBgNVHQ8BAf8EBAMCB4AwFAYDVR0RBA0w
C4IJbG9jYWxob3N0MAoGCCqGSM49BAMCA0gAMEUCIDoZpNQKYH12QNceVC2o3HD7
YbGdr+hr91FtXmei7y9MAiEAgqlna56I3lgNBCvYJEWiiTgcCNWQbNLXY51woVjp
vJ8=
-----END CERTIFICATE-----
`;
// The same key's certificate with two CNs in its subject (/CN=localhost/CN=localhost.localdomain).
const SELF_TEST_TWO_CN_CERT = `-----BEGIN CERTIFICATE-----
MIIBrDCCAVKgAwIBAgIBAjAKBggqhkjOPQQDAjA0MRIwEAYDVQQDDAlsb2NhbGhv
c3QxHjAcBgNVBAMMFWxvY2FsaG9zdC5sb2NhbGRvbWFpbjAgFw0yNjEyMDIxNzUw
NDhaGA8yMTI2MTEwODE3NTA0OFowNDESMBAGA1UEAwwJbG9jYWxob3N0MR4wHAYD
VQQDDBVsb2NhbGhvc3QubG9jYWxkb21haW4wWTATBgcqhkjOPQIBBggqhkjOPQMB
BwNCAATkbvFi5HtVHUdLg8GJnH9VjQQhhg6aAjicfFg6bGlf9QSu+YIAKG6nhnLC
d1IKlcGACWCdbCgrLYu+Ttcyvg9Fo1MwUTAdBgNVHQ4EFgQU0OqbEklrjPMFnHHT
ROKY2Mnwc5IwHwYDVR0jBBgwFoAU0OqbEklrjPMFnHHTROKY2Mnwc5IwDwYDVR0T
AQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiBdvkHhJqIBC/MzgtohprbZtVNA
B9OB4sRtK5SOrl8aaAIhAJr1htjlwW/6TCmQaoSJYw+gnv06paZc/kGOSAEZrT40
-----END CERTIFICATE-----
`;

let measuring = false;
let measured: BackendCapabilities | undefined;

type Pipe = { q: Buffer[]; closed: boolean; log: Buffer[] };

function reader(p: Pipe) {
  return (size: number): Uint8Array | typeof WANT_POLLIN => {
    const b = p.q[0];
    if (b === undefined) return p.closed ? new Uint8Array(0) : WANT_POLLIN;
    if (b.length <= size) {
      p.q.shift();
      return b;
    }
    p.q[0] = b.subarray(size);
    return b.subarray(0, size);
  };
}

function writer(p: Pipe) {
  return (chunk: Buffer): number => {
    const b = Buffer.from(chunk);
    p.q.push(b);
    p.log.push(b);
    return chunk.length;
  };
}

interface Conn {
  cli: Tls;
  acc: Tls;
  c2s: Pipe;
  s2c: Pipe;
  firstHello: Buffer | null;
}

/** Both ends' handshakes, pumped in turn (bounded); throws what either end throws. */
function connect(srv: Tls, clientConfig: Config): Conn {
  const c2s: Pipe = { q: [], closed: false, log: [] };
  const s2c: Pipe = { q: [], closed: false, log: [] };
  const cli = client(clientConfig);
  const acc = srv.acceptCbs(reader(c2s), writer(s2c));
  const conn: Conn = { cli, acc, c2s, s2c, firstHello: null };
  try {
    cli.connectCbs(reader(s2c), writer(c2s), 'localhost');
    let cDone = false;
    let sDone = false;
    for (let i = 0; i < 64 && !(cDone && sDone); i++) {
      if (!cDone) cDone = cli.handshake() === 0;
      if (conn.firstHello === null && c2s.q.length > 0) conn.firstHello = Buffer.concat(c2s.q);
      if (!sDone) sDone = acc.handshake() === 0;
    }
    if (!(cDone && sDone)) throw new Error('the self-test handshake did not finish');
    // one byte server to client: the client takes in what follows the handshake (TLS 1.3 tickets)
    pump(() => acc.write('x'));
    pump(() => {
      const r = cli.read(16);
      return r === WANT_POLLIN || r === WANT_POLLOUT ? r : 0;
    });
  } catch (e) {
    cli.free();
    acc.free();
    throw e;
  }
  return conn;
}

function pump(step: () => number | Buffer | null): void {
  for (let i = 0; i < 16; i++) {
    const r = step();
    if (r !== WANT_POLLIN && r !== WANT_POLLOUT) return;
  }
  throw new Error('the self-test transfer did not finish');
}

/**
 * Whether a ClientHello offers a saved session: a non-empty session_ticket (35), a pre_shared_key
 * (41), or, from a TLS 1.2-only client (which sends an empty one when it has nothing to resume), a
 * legacy session ID.
 */
function offersSession(hello: Buffer | null, tls12Only: boolean): boolean {
  if (hello === null || hello.length < 5 + 4 + 35 || hello[0] !== 22 || hello[5] !== 1) return false;
  let o = 5 + 4 + 2 + 32;
  if (tls12Only && hello[o] !== 0) return true;
  try {
    o += 1 + (hello[o] ?? 0); // legacy session ID
    o += 2 + hello.readUInt16BE(o); // cipher suites
    o += 1 + (hello[o] ?? 0); // compression methods
    const end = o + 2 + hello.readUInt16BE(o);
    o += 2;
    while (o + 4 <= end && o + 4 <= hello.length) {
      const type = hello.readUInt16BE(o);
      const len = hello.readUInt16BE(o + 2);
      if ((type === 35 && len > 0) || type === 41) return true;
      o += 4 + len;
    }
  } catch {
    return false;
  }
  return false;
}

/** Whether a server's plaintext TLS 1.2 flight (up to its ChangeCipherSpec) has a non-empty ticket. */
function issuesTicket(flight: Buffer): boolean {
  let o = 0;
  while (o + 5 <= flight.length) {
    const type = flight[o];
    const len = flight.readUInt16BE(o + 3);
    if (type === 20) return false;
    if (type === 22) {
      let h = o + 5;
      while (h + 4 <= o + 5 + len && h + 4 <= flight.length) {
        // NewSessionTicket: lifetime hint (4 bytes), then the ticket (2-byte length); OpenSSL sends
        // an empty one when its ticket callback declines
        if (flight[h] === 4 && h + 10 <= flight.length) return flight.readUInt16BE(h + 8) > 0;
        h += 4 + flight.readUIntBE(h + 1, 3);
      }
    }
    o += 5 + len;
  }
  return false;
}

function closeQuietly(c: Conn): void {
  c.cli.free();
  c.acc.free();
}

function serverConfig(protocol: number): Config {
  // what a server that wants resumption sets (the self-test's own settings warn about nothing)
  return new Config()
    .setKeypairMem(SELF_TEST_CERT, SELF_TEST_KEY)
    .setProtocols(protocol)
    .setSessionId(randomBytes(16))
    .setSessionLifetime(300)
    .addTicketKey(1, randomBytes(TICKET_KEY_SIZE));
}

interface Resumption {
  server: boolean;
  offered: boolean;
  issued: boolean;
}

function resumption(protocol: number): Resumption {
  const dir = mkdtempSync(join(tmpdir(), 'libtls-selftest-'));
  const file = join(dir, 'session');
  const fd = openSync(file, 'w+', 0o600);
  unlinkSync(file);
  rmdirSync(dir);
  const sc = serverConfig(protocol);
  const cc = new Config()
    .insecureNoverifycert()
    .insecureNoverifyname()
    .insecureNoverifytime()
    .setProtocols(protocol)
    .setSessionFd(fd);
  const srv = server(sc);
  const out: Resumption = { server: false, offered: false, issued: false };
  try {
    const first = connect(srv, cc);
    out.issued = protocol === PROTOCOL_TLSv1_2 && issuesTicket(Buffer.concat(first.s2c.log));
    closeQuietly(first);
    const second = connect(srv, cc);
    out.offered = offersSession(second.firstHello, protocol === PROTOCOL_TLSv1_2);
    out.server = second.acc.connSessionResumed();
    closeQuietly(second);
  } catch {
    // a failed handshake resumes nothing
  } finally {
    srv.free();
    sc.free();
    cc.free();
    closeSync(fd);
  }
  return out;
}

function truncation(): 'error' | 'eof' {
  const sc = new Config().setKeypairMem(SELF_TEST_CERT, SELF_TEST_KEY);
  const cc = new Config().insecureNoverifycert().insecureNoverifyname().insecureNoverifytime();
  const srv = server(sc);
  try {
    const c = connect(srv, cc);
    try {
      c.s2c.closed = true; // the server's transport ends, no close_notify
      for (let i = 0; i < 16; i++) {
        const r = c.cli.read(16);
        if (r === null) return 'eof';
        if (r !== WANT_POLLIN && r !== WANT_POLLOUT) break;
      }
      return 'error';
    } catch {
      return 'error';
    } finally {
      closeQuietly(c);
    }
  } finally {
    srv.free();
    sc.free();
    cc.free();
  }
}

/** Whether a client with `SELF_TEST_CERT` as its CA and libtls's verify depth `depth` accepts the chain. */
function chainVerifies(depth: number): boolean {
  const sc = new Config().setKeypairMem(SELF_TEST_CHAIN_LEAF + SELF_TEST_INTERMEDIATE, SELF_TEST_CHAIN_KEY);
  const cc = new Config().setCaMem(SELF_TEST_CERT).setVerifyDepth(depth); // as given: measuring
  return handshakes(sc, cc);
}

/** Whether the self-test's client completes a handshake with `sc` (both configs freed). */
function handshakes(sc: Config, cc: Config): boolean {
  const srv = server(sc);
  try {
    closeQuietly(connect(srv, cc));
    return true;
  } catch {
    return false;
  } finally {
    srv.free();
    sc.free();
    cc.free();
  }
}

function multipleCommonNames(): boolean {
  const sc = new Config().setKeypairMem(SELF_TEST_TWO_CN_CERT, SELF_TEST_KEY);
  return handshakes(sc, new Config().insecureNoverifycert().insecureNoverifyname().insecureNoverifytime());
}

function verifyDepthShift(): 0 | 1 {
  if (chainVerifies(1)) return 0;
  return chainVerifies(2) ? 1 : 0;
}

function alpnMismatch(): 'ignore' | 'fail' {
  const insecure = () => new Config().insecureNoverifycert().insecureNoverifyname().insecureNoverifytime();
  const sc = () => new Config().setKeypairMem(SELF_TEST_CERT, SELF_TEST_KEY).setAlpn('h2');
  // the control: with a protocol in common the handshake completes
  if (!handshakes(sc(), insecure().setAlpn('h2'))) return 'ignore';
  return handshakes(sc(), insecure().setAlpn('http/1.1')) ? 'ignore' : 'fail';
}

function selfSignedLeafAnchor(): boolean {
  const sc = new Config().setKeypairMem(SELF_TEST_LEAF_SELF_SIGNED, SELF_TEST_KEY);
  return handshakes(sc, new Config().setCaMem(SELF_TEST_LEAF_SELF_SIGNED));
}

function warningAlerts(): 'limited' | 'unlimited' {
  const sc = new Config().setKeypairMem(SELF_TEST_CERT, SELF_TEST_KEY).setProtocols(PROTOCOL_TLSv1_2);
  const cc = new Config()
    .insecureNoverifycert()
    .insecureNoverifyname()
    .insecureNoverifytime()
    .setProtocols(PROTOCOL_TLSv1_2);
  const srv = server(sc);
  const c2s: Pipe = { q: [], closed: false, log: [] };
  const s2c: Pipe = { q: [], closed: false, log: [] };
  const cli = client(cc);
  let acc: Tls | undefined;
  try {
    acc = srv.acceptCbs(reader(c2s), writer(s2c));
    cli.connectCbs(reader(s2c), writer(c2s), 'localhost');
    cli.handshake(); // the ClientHello
    // 1,000 plaintext warning alerts (user_canceled) right after it
    const alert = Buffer.from([21, 3, 3, 0, 2, 1, 90]);
    c2s.q.push(Buffer.concat(Array.from({ length: 1000 }, () => alert)));
    for (let i = 0; i < 64; i++) {
      const r = acc.handshake();
      if (r !== WANT_POLLIN && r !== WANT_POLLOUT) return 'unlimited'; // cannot be: no client flight
      if (c2s.q.length === 0) return 'unlimited';
    }
    return 'unlimited';
  } catch {
    return 'limited';
  } finally {
    cli.free();
    acc?.free();
    srv.free();
    sc.free();
    cc.free();
  }
}

function badRecordMacAlert(): boolean {
  const sc = new Config().setKeypairMem(SELF_TEST_CERT, SELF_TEST_KEY).setProtocols(PROTOCOL_TLSv1_3);
  const cc = new Config().insecureNoverifycert().insecureNoverifyname().insecureNoverifytime();
  const srv = server(sc);
  try {
    const c = connect(srv, cc);
    try {
      pump(() => c.cli.write('x'));
      const rec = c.c2s.q.pop();
      if (rec === undefined || rec.length < 6) return false;
      const bad = Buffer.from(rec);
      bad[bad.length - 1] = (bad[bad.length - 1] ?? 0) ^ 1; // in the AEAD tag
      c.c2s.q.push(bad);
      const before = c.s2c.log.length;
      try {
        for (let i = 0; i < 16; i++) {
          const r = c.acc.read(16);
          if (r !== WANT_POLLIN && r !== WANT_POLLOUT) break;
        }
      } catch {
        // the failed read is the point: what matters is whether an alert went out first
      }
      return c.s2c.log.length > before;
    } finally {
      closeQuietly(c);
    }
  } catch {
    return false;
  } finally {
    srv.free();
    sc.free();
    cc.free();
  }
}

function invalidServername(): 'refused' | 'sent' {
  const cc = new Config().insecureNoverifycert();
  const cli = client(cc);
  const p: Pipe = { q: [], closed: false, log: [] };
  try {
    cli.connectCbs(reader(p), writer(p), '.example.test');
    return 'sent';
  } catch {
    return 'refused';
  } finally {
    cli.free();
    cc.free();
  }
}

function measure(): BackendCapabilities {
  measuring = true;
  try {
    const r12 = resumption(PROTOCOL_TLSv1_2);
    const r13 = resumption(PROTOCOL_TLSv1_3);
    return Object.freeze({
      serverResumption: Object.freeze({ tls12: r12.server, tls13: r13.server }),
      // offering a session proves it; a TLS 1.2 ticket issued and not offered disproves it; else
      // this backend's server gave the client nothing to offer
      clientResumption: r12.offered || r13.offered ? true : r12.issued ? false : null,
      truncation: truncation(),
      verifyDepthShift: verifyDepthShift(),
      alpnMismatch: alpnMismatch(),
      selfSignedLeafAnchor: selfSignedLeafAnchor(),
      warningAlerts: warningAlerts(),
      invalidServername: invalidServername(),
      multipleCommonNames: multipleCommonNames(),
      badRecordMacAlert: badRecordMacAlert(),
    });
  } finally {
    measuring = false;
  }
}

function describe(): Backend {
  const info = native.backend_info() as NativeBackendInfo;
  const text = info.reachVersion ?? info.cryptoVersion ?? '';
  const libressl = /^LibreSSL\b/.test(info.cryptoVersion ?? text);
  const crypto: BackendCrypto = Object.freeze({
    library: /^LibreSSL\b/.test(text) ? 'libressl' : 'openssl',
    version: text,
    linkage: info.linkedStatically ? 'static' : info.reachesProgram ? 'node' : 'shared',
    file: info.reachesProgram ? process.execPath : info.reachFile,
  });
  const b: Backend = {
    name: libressl ? 'libressl' : 'libretls',
    version: info.libtlsVersion,
    tlsApi: TLS_API,
    crypto,
    get protocols(): number {
      return supportedProtocols();
    },
    get capabilities(): BackendCapabilities {
      if (measured === undefined) measured = measure();
      return measured;
    },
  };
  return Object.freeze(b);
}

/** What runs underneath: see `Backend`. */
export const backend: Backend = describe();

/**
 * @internal What `Config.setVerifyDepth` adds to a depth (see `verifyDepthShift`); 0 while the
 * self-test runs, which sets libtls's depths as they are.
 */
export function verifyDepthAdjustment(): number {
  return measuring ? 0 : backend.capabilities.verifyDepthShift;
}

const warned = new Set<string>();

/**
 * @internal `ticketKeys`/`sessionLifetime` were configured: one warning per process when the
 * self-test showed that this backend's server resumes no session.
 */
export function warnIfNoServerResumption(option: 'ticketKeys' | 'sessionLifetime'): void {
  if (measuring || warned.has('LIBTLS_NO_SERVER_RESUMPTION')) return;
  const s = backend.capabilities.serverResumption;
  if (s.tls12 || s.tls13) return;
  warned.add('LIBTLS_NO_SERVER_RESUMPTION');
  process.emitWarning(
    `${option} is set, but this backend's server resumes no session (${backend.name} ${backend.version}; ` +
      'measured by the self-test of libtls.backend): every handshake is a full one',
    { code: 'LIBTLS_NO_SERVER_RESUMPTION', type: 'Warning' },
  );
}
