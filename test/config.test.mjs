// The `Config` class: every setter on its success path (returns `this`, and where the
// effect shows in a handshake, the handshake proves it) and on its failure path (TlsError with the
// libtls function as `.op`, or TypeError/RangeError before anything reaches C); the options object;
// the statics; free()/dispose; and the error-text traps of tls_config_error().
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  fchmodSync,
  fstatSync,
  openSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  clientConfig,
  freePair,
  L,
  opensslServer,
  pairHandshake,
  pem,
  pki,
  serverConfig,
  serverFor,
  tempDir,
  throwsTls,
  untilDone,
  withSocketpair,
} from './helpers.mjs';

const { Config, TlsError } = L;
const { systemCaSource } = await import('../dist/config.js');

// ---------------------------------------------------------------------------------------------
// Helpers local to this file
// ---------------------------------------------------------------------------------------------

/** Asserts that `fn` throws exactly `cls` (TypeError / RangeError) with a message matching `re`. */
function throwsArg(fn, cls, re) {
  assert.throws(fn, (e) => {
    assert.equal(e?.constructor, cls, `expected ${cls.name}, got ${e?.name}: ${e?.message}`);
    assert.ok(!(e instanceof TlsError));
    assert.match(e.message, re);
    return true;
  });
}

/** Runs `fn(cfg)` on a fresh Config and frees it. */
function withConfig(fn) {
  const c = new Config();
  try {
    return fn(c);
  } finally {
    c.free();
  }
}

/** Asserts that `fn(cfg)` returns `cfg` itself (the setter chains). */
function chains(fn) {
  withConfig((c) => assert.equal(fn(c), c));
}

/**
 * Handshakes `cli` against `srv` over a socketpair (helpers' pairHandshake), collects what was
 * negotiated, and frees everything: contexts, fds and both configs.
 */
async function handshake(srv, cli, { servername = 'localhost', inspect } = {}) {
  let r;
  try {
    r = await pairHandshake(srv, cli, servername);
  } finally {
    srv.free();
    cli.free();
  }
  try {
    const ok = r.clientError === undefined && r.serverError === undefined;
    const out = { ok, clientError: r.clientError, serverError: r.serverError };
    if (ok) {
      Object.assign(out, {
        version: r.cli.connVersion(),
        cipher: r.cli.connCipher(),
        alpn: r.cli.connAlpnSelected(),
        serverAlpn: r.acc.connAlpnSelected(),
        peerHash: r.cli.peerCertHash(),
        peerSubject: r.cli.peerCertSubject(),
        clientCertProvided: r.acc.peerCertProvided(),
        clientSubject: r.acc.peerCertProvided() ? r.acc.peerCertSubject() : null,
      });
      if (inspect) Object.assign(out, inspect(r));
    }
    return out;
  } finally {
    freePair(r);
  }
}

/**
 * Connects a libtls client with `cli` to an `openssl s_server` started with `args` (a separate
 * process, so the blocking connect()/handshake() are fine), collects the outcome, frees and kills.
 */
async function againstOpenssl(args, cli) {
  let peer;
  try {
    peer = await opensslServer(args);
    const t = L.client(cli);
    try {
      t.connect('127.0.0.1', peer.port);
      try {
        assert.equal(t.handshake(), 0);
      } catch (error) {
        return { ok: false, error };
      }
      return { ok: true, version: t.connVersion(), cipher: t.connCipher(), alpn: t.connAlpnSelected() };
    } finally {
      t.free();
    }
  } finally {
    cli.free();
    if (peer) await peer.kill();
  }
}

/** A short label for a test name: Uint8Arrays as `Uint8Array(n)`. */
const show = (v) =>
  JSON.stringify(v, (_k, x) => (x instanceof Uint8Array ? `Uint8Array(${x.length})` : x)).replace(
    /"(Uint8Array\(\d+\))"/g,
    '$1',
  );

const removals = [];
after(() => {
  for (const remove of removals) remove();
});
/** A fresh temp dir, removed once this file's tests are done. */
const tmpDir = () => tempDir((remove) => removals.push(remove));

/** An fd of a new file `session` (mode 0600 unless `mode` says otherwise) in a fresh temp dir. */
function sessionFile(mode = 0o600) {
  const fd = openSync(path.join(tmpDir(), 'session'), 'w+', 0o600);
  fchmodSync(fd, mode); // whatever the umask
  return fd;
}

/**
 * Handshakes the contexts `cli` and `srv` over a socketpair (both non-blocking), asserts that both
 * handshakes succeeded, and runs `fn(cli)`; then frees the accepted context, `cli` and `srv`, and
 * closes the fds.
 */
async function handshakeContexts(srv, cli, fn) {
  const [a, b] = L.socketpair();
  let acc;
  try {
    cli.connectSocket(a, 'localhost');
    acc = srv.acceptSocket(b);
    const res = await Promise.allSettled([
      untilDone(() => cli.handshake(), a),
      untilDone(() => acc.handshake(), b),
    ]);
    assert.deepEqual(
      res.map((x) => x.status),
      ['fulfilled', 'fulfilled'],
    );
    fn(cli);
  } finally {
    acc?.free();
    cli.free();
    srv.free();
    closeSync(a);
    closeSync(b);
  }
}

/** Asserts that server() refuses `cfg` with a TlsError from tls_configure matching `re`; frees `cfg`. */
function serverFails(cfg, re) {
  try {
    throwsTls(() => L.server(cfg), 'tls_configure', re);
  } finally {
    cfg.free();
  }
}

const selfsignedServer = () => serverFor('selfsigned');
const expiredServer = () => serverFor('expired');
const revokedServer = () => serverFor('revoked');
let serverHashCache;
/** The SHA-256 of server.crt's DER, computed by the openssl command, as libtls formats it. */
const serverHash = () => {
  if (serverHashCache === undefined) {
    const d = execFileSync('openssl', ['x509', '-in', pki('server.crt'), '-outform', 'DER']);
    serverHashCache = `SHA256:${execFileSync('openssl', ['dgst', '-sha256', '-r'], { input: d }).toString().split(' ')[0]}`;
  }
  return serverHashCache;
};

const AES128 = 'ECDHE-ECDSA-AES128-GCM-SHA256';
const AES256 = 'ECDHE-ECDSA-AES256-GCM-SHA384';

// ---------------------------------------------------------------------------------------------

describe('every setter returns this (chaining)', () => {
  const ticket = new Uint8Array(L.TICKET_KEY_SIZE).fill(7);
  const cases = {
    setAlpn: (c) => c.setAlpn('h2,http/1.1'),
    'setAlpn(array)': (c) => c.setAlpn(['h2', 'http/1.1']),
    setCaFile: (c) => c.setCaFile(pki('ca.crt')),
    setCaPath: (c) => c.setCaPath(os.tmpdir()),
    setCa: (c) => c.setCa(pem('ca.crt')),
    setCertFile: (c) => c.setCertFile(pki('server.crt')),
    setCert: (c) => c.setCert(pem('server.crt').toString()),
    setCiphers: (c) => c.setCiphers(AES128),
    setCrlFile: (c) => c.setCrlFile(pki('crl.pem')),
    setCrl: (c) => c.setCrl(pem('crl.pem')),
    setKeyFile: (c) => c.setKeyFile(pki('server.key')),
    setKey: (c) => c.setKey(pem('server.key')),
    setKeypairFile: (c) => c.setKeypairFile(pki('server.crt'), pki('server.key')),
    'setKeypairFile(staple)': (c) =>
      c.setKeypairFile(pki('server.crt'), pki('server.key'), pki('ocsp-good.der')),
    setKeypair: (c) => c.setKeypair(pem('server.crt'), pem('server.key')),
    'setKeypair(staple)': (c) => c.setKeypair(pem('server.crt'), pem('server.key'), pem('ocsp-good.der')),
    setOcspStaple: (c) => c.setOcspStaple(pem('ocsp-good.der')),
    setOcspStapleFile: (c) => c.setOcspStapleFile(pki('ocsp-good.der')),
    setProtocols: (c) => c.setProtocols(L.TLS_v12, 'tlsv1.3'),
    insecureNoVerifyCert: (c) => c.insecureNoVerifyCert(),
    insecureNoVerifyName: (c) => c.insecureNoVerifyName(),
    insecureNoVerifyTime: (c) => c.insecureNoVerifyTime(),
    verify: (c) => c.verify(),
    verifyClient: (c) => c.verifyClient(),
    verifyClientOptional: (c) => c.verifyClientOptional(),
    clearKeys: (c) => c.clearKeys(),
    addKeypairFile: (c) => c.addKeypairFile(pki('other.crt'), pki('other.key')),
    'addKeypairFile(staple)': (c) =>
      c.addKeypairFile(pki('other.crt'), pki('other.key'), pki('ocsp-other.der')),
    addKeypair: (c) => c.addKeypair(pem('other.crt'), pem('other.key')),
    'addKeypair(staple)': (c) => c.addKeypair(pem('other.crt'), pem('other.key'), pem('ocsp-other.der')),
    preferCiphersClient: (c) => c.preferCiphersClient(),
    preferCiphersServer: (c) => c.preferCiphersServer(),
    setDheparams: (c) => c.setDheparams('auto'),
    setEcdhecurve: (c) => c.setEcdhecurve('P-256'),
    setEcdhecurves: (c) => c.setEcdhecurves('X25519,P-256'),
    'setEcdhecurves(array)': (c) => c.setEcdhecurves(['X25519', 'P-256']),
    setSessionId: (c) => c.setSessionId(new Uint8Array(L.MAX_SESSION_ID_LENGTH).fill(1)),
    setSessionLifetime: (c) => c.setSessionLifetime(300),
    addTicketKey: (c) => c.addTicketKey(1, ticket),
    ocspRequireStapling: (c) => c.ocspRequireStapling(),
    setVerifyDepth: (c) => c.setVerifyDepth(3),
  };
  for (const [name, fn] of Object.entries(cases)) {
    test(`${name} returns the same Config`, () => chains(fn));
  }

  test('setSessionFd returns the same Config for a 0600 regular file', () => {
    const fd = sessionFile();
    try {
      chains((c) => c.setSessionFd(fd));
    } finally {
      closeSync(fd);
    }
  });

  test('a whole chain of setters builds a server that handshakes', async () => {
    const srv = new Config()
      .setCertFile(pki('server.crt'))
      .setKeyFile(pki('server.key'))
      .setProtocols(L.TLS_v12)
      .setCiphers(AES128)
      .setAlpn('h2');
    const r = await handshake(srv, clientConfig({ alpn: 'h2' }));
    assert.equal(r.clientError, undefined);
    assert.deepEqual([r.version, r.cipher, r.alpn], ['TLSv1.2', AES128, 'h2']);
  });
});

// ---------------------------------------------------------------------------------------------

describe('bad arguments are refused before C', () => {
  test('path setters refuse a non-string, an empty string and a NUL byte with TypeError', () => {
    const pathSetters = [
      'setCaFile',
      'setCaPath',
      'setCertFile',
      'setCrlFile',
      'setKeyFile',
      'setOcspStapleFile',
    ];
    withConfig((c) => {
      for (const m of pathSetters) {
        throwsArg(() => c[m](42), TypeError, /path must be a string, got number 42/);
        throwsArg(() => c[m](undefined), TypeError, /path must be a string/);
        throwsArg(() => c[m](''), TypeError, /path must not be empty/);
        throwsArg(() => c[m](`${pki('ca.crt')}\0.evil`), TypeError, /path must not contain NUL/);
      }
    });
  });

  test('keypair file setters check each of cert, key and staple path', () => {
    withConfig((c) => {
      for (const m of ['setKeypairFile', 'addKeypairFile']) {
        throwsArg(() => c[m]('', pki('server.key')), TypeError, /certFile must not be empty/);
        throwsArg(() => c[m](pki('server.crt'), 7), TypeError, /keyFile must be a string/);
        throwsArg(
          () => c[m](pki('server.crt'), `${pki('server.key')}\0`),
          TypeError,
          /keyFile must not contain NUL/,
        );
        throwsArg(
          () => c[m](pki('server.crt'), pki('server.key'), ''),
          TypeError,
          /ocspStapleFile must not be empty/,
        );
      }
    });
  });

  test('memory setters refuse anything but a string or a Uint8Array with TypeError', () => {
    withConfig((c) => {
      throwsArg(() => c.setCa(42), TypeError, /^ca must be a string or a Uint8Array, got number 42/);
      throwsArg(() => c.setCert({}), TypeError, /^cert must be a string or a Uint8Array/);
      throwsArg(() => c.setKey(null), TypeError, /^key must be a string or a Uint8Array, got null/);
      throwsArg(() => c.setCrl([1, 2]), TypeError, /^crl must be a string or a Uint8Array, got an array/);
      throwsArg(() => c.setOcspStaple(1), TypeError, /^staple must be a string or a Uint8Array/);
      throwsArg(() => c.setSessionId(1), TypeError, /^sessionId must be a string or a Uint8Array/);
      for (const m of ['setKeypair', 'addKeypair']) {
        throwsArg(() => c[m](42, pem('server.key')), TypeError, /^cert must be/);
        throwsArg(() => c[m](pem('server.crt'), 42), TypeError, /^key must be/);
        throwsArg(() => c[m](pem('server.crt'), pem('server.key'), 42), TypeError, /^ocspStaple must be/);
      }
    });
  });

  test('setAlpn refuses empty names, commas inside array items, long names and non-strings', () => {
    withConfig((c) => {
      throwsArg(() => c.setAlpn(''), TypeError, /alpn\[0\] must not be empty/);
      throwsArg(() => c.setAlpn([]), TypeError, /alpn must not be empty/);
      throwsArg(() => c.setAlpn('h2,,http/1.1'), TypeError, /alpn\[1\] must not be empty/);
      throwsArg(() => c.setAlpn(['h2,http/1.1']), TypeError, /alpn\[0\] must not contain a comma/);
      throwsArg(() => c.setAlpn(['h2', 3]), TypeError, /alpn\[1\] must be a string/);
      throwsArg(() => c.setAlpn(42), TypeError, /alpn must be a string or an array of strings/);
      throwsArg(() => c.setAlpn('a'.repeat(256)), RangeError, /at most 255 bytes/);
      assert.equal(c.setAlpn('a'.repeat(255)), c);
    });
  });

  test('string setters refuse empty strings, NUL bytes and non-strings', () => {
    withConfig((c) => {
      throwsArg(() => c.setCiphers(''), TypeError, /ciphers must not be empty/);
      throwsArg(() => c.setCiphers('ECDHE\0'), TypeError, /ciphers must not contain NUL/);
      throwsArg(() => c.setDheparams(''), TypeError, /params must not be empty/);
      throwsArg(() => c.setDheparams(1), TypeError, /params must be a string/);
      throwsArg(() => c.setEcdhecurve(''), TypeError, /curve must not be empty/);
      throwsArg(() => c.setEcdhecurves(''), TypeError, /curves must not be empty/);
      throwsArg(() => c.setEcdhecurves([]), TypeError, /curves must not be empty/);
      throwsArg(() => c.setEcdhecurves(['P-256,P-384']), TypeError, /curves\[0\] must not contain a comma/);
    });
  });

  test('setProtocols() with no argument is a RangeError', () => {
    withConfig((c) => throwsArg(() => c.setProtocols(), RangeError, /at least one protocol/));
  });

  test('setProtocols refuses a set with a gap, an empty set and bad numbers', () => {
    withConfig((c) => {
      throwsArg(() => c.setProtocols('all:!tlsv1.1'), RangeError, /0x1a has a gap/);
      throwsArg(() => c.setProtocols(L.TLS_v11, L.TLS_v13), RangeError, /0x14 has a gap/);
      throwsArg(() => c.setProtocols(L.TLS_v10 | L.TLS_v13), RangeError, /has a gap/);
      throwsArg(() => c.setProtocols(0), RangeError, /the protocol set is empty/);
      throwsArg(() => c.setProtocols(-1), RangeError, /protocols\[0\] must be between 0 and 4294967295/);
      throwsArg(
        () => c.setProtocols(L.TLS_v12, 1.5),
        RangeError,
        /protocols\[1\] must be an integer, got 1\.5/,
      );
      throwsArg(() => c.setProtocols({}), TypeError, /protocols\[0\] must be an integer/);
      throwsArg(() => c.setProtocols('tlsv1.2\0'), TypeError, /must not contain NUL/);
      throwsTls(() => c.setProtocols('tlsv1.4'), 'tls_config_parse_protocols', /invalid protocol string/);
    });
  });

  test('numeric setters refuse negatives, non-integers and non-numbers', () => {
    withConfig((c) => {
      throwsArg(() => c.setVerifyDepth(-1), RangeError, /depth must be between 0 and 2147483647, got -1/);
      throwsArg(() => c.setVerifyDepth(1.5), RangeError, /depth must be an integer, got 1\.5/);
      throwsArg(() => c.setVerifyDepth('1'), TypeError, /depth must be an integer, got a string/);
      throwsArg(() => c.setVerifyDepth(2 ** 31), RangeError, /depth must be between/);
      throwsArg(() => c.setSessionLifetime(-1), RangeError, /seconds must be between 0 and/);
      throwsArg(() => c.setSessionLifetime(60.5), RangeError, /seconds must be an integer/);
      throwsArg(() => c.setSessionLifetime('60'), TypeError, /seconds must be an integer, got a string/);
      throwsArg(() => c.setSessionFd(-1), RangeError, /sessionFd must be between 0 and/);
      throwsArg(() => c.setSessionFd(3.5), RangeError, /sessionFd must be an integer/);
      throwsArg(() => c.setSessionFd('3'), TypeError, /sessionFd must be an integer/);
    });
  });

  test('setSessionId refuses 33 bytes with RangeError and accepts 32', () => {
    withConfig((c) => {
      assert.equal(L.MAX_SESSION_ID_LENGTH, 32);
      throwsArg(() => c.setSessionId(new Uint8Array(33)), RangeError, /sessionId must be at most 32 bytes/);
      throwsArg(() => c.setSessionId('x'.repeat(33)), RangeError, /at most 32 bytes/);
      assert.equal(c.setSessionId('x'.repeat(32)), c);
    });
  });

  test('addTicketKey refuses a 47-byte key, a string key and a bad keyrev', () => {
    withConfig((c) => {
      assert.equal(L.TICKET_KEY_SIZE, 48);
      throwsArg(() => c.addTicketKey(1, new Uint8Array(47)), RangeError, /must be 48 bytes, got 47/);
      throwsArg(() => c.addTicketKey(1, new Uint8Array(49)), RangeError, /must be 48 bytes, got 49/);
      throwsArg(() => c.addTicketKey(1, 'x'.repeat(48)), TypeError, /key must be a Uint8Array, got a string/);
      throwsArg(
        () => c.addTicketKey(-1, new Uint8Array(48)),
        RangeError,
        /keyrev must be between 0 and 4294967295/,
      );
      throwsArg(() => c.addTicketKey(2 ** 32, new Uint8Array(48)), RangeError, /keyrev must be between/);
      throwsArg(() => c.addTicketKey(1.5, new Uint8Array(48)), RangeError, /keyrev must be an integer/);
    });
  });
});

// ---------------------------------------------------------------------------------------------

describe('libtls failures throw TlsError naming the libtls function', () => {
  // Each case runs on a fresh Config so the message is the one libtls sets for that call.
  const missing = '/nonexistent/libtls-test-missing';
  const cases = [
    [
      'setCaFile',
      (c) => c.setCaFile(missing),
      'tls_config_set_ca_file',
      /^failed to open CA file '\/nonexistent\/libtls-test-missing': No such file or directory$/,
    ],
    [
      'setCertFile',
      (c) => c.setCertFile(missing),
      'tls_config_set_cert_file',
      /^failed to open certificate file '.*missing': No such file/,
    ],
    ['setCert', (c) => c.setCert('garbage'), 'tls_config_set_cert_mem', /^failed to load certificate/],
    [
      'setCiphers',
      (c) => c.setCiphers('BOGUS-CIPHER'),
      'tls_config_set_ciphers',
      /^no ciphers for 'BOGUS-CIPHER'$/,
    ],
    [
      'setCrlFile',
      (c) => c.setCrlFile(missing),
      'tls_config_set_crl_file',
      /^failed to open CRL file '.*missing': No such file/,
    ],
    [
      'setKeyFile',
      (c) => c.setKeyFile(missing),
      'tls_config_set_key_file',
      /^failed to open key file '.*missing': No such file/,
    ],
    [
      'setKeypairFile (cert)',
      (c) => c.setKeypairFile(missing, pki('server.key')),
      'tls_config_set_keypair_file',
      /^failed to open certificate file/,
    ],
    [
      'setKeypairFile (key)',
      (c) => c.setKeypairFile(pki('server.crt'), missing),
      'tls_config_set_keypair_file',
      /^failed to open key file/,
    ],
    [
      'setKeypairFile (staple)',
      (c) => c.setKeypairFile(pki('server.crt'), pki('server.key'), missing),
      'tls_config_set_keypair_ocsp_file',
      /^failed to open ocsp file '.*missing'/,
    ],
    [
      'setKeypair',
      (c) => c.setKeypair('garbage', 'garbage'),
      'tls_config_set_keypair_mem',
      /^failed to load certificate/,
    ],
    [
      'setKeypair (staple)',
      (c) => c.setKeypair('garbage', 'garbage', pem('ocsp-good.der')),
      'tls_config_set_keypair_ocsp_mem',
      /^failed to load certificate/,
    ],
    [
      'addKeypairFile',
      (c) => c.addKeypairFile(missing, pki('other.key')),
      'tls_config_add_keypair_file',
      /^failed to open certificate file/,
    ],
    [
      'addKeypairFile (staple)',
      (c) => c.addKeypairFile(pki('other.crt'), pki('other.key'), missing),
      'tls_config_add_keypair_ocsp_file',
      /^failed to open ocsp file/,
    ],
    [
      'addKeypair',
      (c) => c.addKeypair('garbage', pem('other.key')),
      'tls_config_add_keypair_mem',
      /^failed to load certificate/,
    ],
    [
      'addKeypair (staple)',
      (c) => c.addKeypair('garbage', pem('other.key'), pem('ocsp-other.der')),
      'tls_config_add_keypair_ocsp_mem',
      /^failed to load certificate/,
    ],
    [
      'setOcspStapleFile',
      (c) => c.setOcspStapleFile(missing),
      'tls_config_set_ocsp_staple_file',
      /^failed to open ocsp file '.*missing': No such file/,
    ],
    [
      'setDheparams',
      (c) => c.setDheparams('bogus'),
      'tls_config_set_dheparams',
      /^invalid dhe param 'bogus'$/,
    ],
    [
      'setEcdhecurve',
      (c) => c.setEcdhecurve('bogus'),
      'tls_config_set_ecdhecurve',
      /^invalid ecdhe curve 'bogus'$/,
    ],
    [
      'setEcdhecurve (a list)',
      (c) => c.setEcdhecurve('P-256,P-384'),
      'tls_config_set_ecdhecurve',
      /^invalid ecdhe curve 'P-256,P-384'$/,
    ],
    [
      'setEcdhecurves',
      (c) => c.setEcdhecurves('P-256,bogus'),
      'tls_config_set_ecdhecurves',
      /^invalid ecdhe curve 'bogus'$/,
    ],
    [
      'setSessionLifetime (too small)',
      (c) => c.setSessionLifetime(1),
      'tls_config_set_session_lifetime',
      /^session lifetime too small$/,
    ],
    [
      'setSessionLifetime (too large)',
      (c) => c.setSessionLifetime(86401),
      'tls_config_set_session_lifetime',
      /^session lifetime too large$/,
    ],
    [
      'addTicketKey (same keyrev, other key)',
      (c) => c.addTicketKey(1, new Uint8Array(48)).addTicketKey(1, new Uint8Array(48).fill(1)),
      'tls_config_add_ticket_key',
      /^ticket key already present$/,
    ],
  ];
  for (const [name, fn, op, re] of cases) {
    test(`${name} failure throws TlsError with op ${op}`, () =>
      withConfig((c) => throwsTls(() => fn(c), op, re)));
  }

  test('setSessionLifetime accepts 0 (off) and the 60..86400 range libtls allows', () => {
    withConfig((c) => {
      for (const s of [0, 60, 3600, 86400]) assert.equal(c.setSessionLifetime(s), c);
    });
  });

  test('addTicketKey accepts the same key again under the newest keyrev', () => {
    withConfig((c) => {
      const k = new Uint8Array(48).fill(9);
      assert.equal(c.addTicketKey(5, k).addTicketKey(5, k).addTicketKey(6, new Uint8Array(48)), c);
    });
  });

  test('setCaFile on a directory fails in libtls', () => {
    withConfig((c) => throwsTls(() => c.setCaFile(os.tmpdir()), 'tls_config_set_ca_file', /CA file/));
  });
});

// ---------------------------------------------------------------------------------------------

describe('setter effects proven by a handshake', () => {
  describe('ciphers', () => {
    test("setCiphers('ECDHE-ECDSA-AES128-GCM-SHA256') over TLS 1.2 negotiates exactly that cipher", async () => {
      const r = await handshake(serverConfig(), clientConfig().setProtocols('tlsv1.2').setCiphers(AES128));
      assert.equal(r.clientError, undefined);
      assert.equal(r.version, 'TLSv1.2');
      assert.equal(r.cipher, AES128);
    });

    test('the default Config refuses an openssl s_server that offers only a CBC suite', async () => {
      const r = await againstOpenssl(['-cipher', 'ECDHE-ECDSA-AES128-SHA', '-tls1_2'], clientConfig());
      assert.equal(r.ok, false);
      assert.ok(r.error instanceof TlsError);
      assert.equal(r.error.op, 'tls_handshake');
      assert.match(r.error.message, /handshake failure/);
    });

    for (const kw of ['secure', 'default', 'SECURE']) {
      test(`setCiphers('${kw}') refuses an openssl s_server that offers only a CBC suite`, async () => {
        const r = await againstOpenssl(
          ['-cipher', 'ECDHE-ECDSA-AES128-SHA', '-tls1_2'],
          clientConfig().setCiphers(kw),
        );
        assert.equal(r.ok, false);
        assert.equal(r.error.op, 'tls_handshake');
        assert.match(r.error.message, /handshake failure/);
      });
    }

    test('setCiphers naming the CBC suite reaches the same CBC-only openssl s_server', async () => {
      const r = await againstOpenssl(
        ['-cipher', 'ECDHE-ECDSA-AES128-SHA', '-tls1_2'],
        clientConfig().setCiphers('ECDHE-ECDSA-AES128-SHA'),
      );
      assert.equal(r.error, undefined);
      assert.deepEqual([r.version, r.cipher], ['TLSv1.2', 'ECDHE-ECDSA-AES128-SHA']);
    });

    test('a server with the default Config refuses a TLS 1.2 client that offers only a CBC suite', async () => {
      const r = await handshake(
        serverConfig(),
        clientConfig({ protocols: 'tlsv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA' }),
      );
      assert.match(r.serverError?.message ?? '', /no shared cipher/);
      assert.ok(r.clientError instanceof TlsError);
    });

    test('preferCiphersServer (the default) picks the server order, preferCiphersClient the client order', async () => {
      const srvOrder = `${AES128}:${AES256}`;
      const cliOrder = `${AES256}:${AES128}`;
      const cli = () => clientConfig({ protocols: 'tlsv1.2', ciphers: cliOrder });
      const byDefault = await handshake(serverConfig({ ciphers: srvOrder }), cli());
      const byClient = await handshake(serverConfig({ ciphers: srvOrder }).preferCiphersClient(), cli());
      const byServer = await handshake(
        serverConfig({ ciphers: srvOrder }).preferCiphersClient().preferCiphersServer(),
        cli(),
      );
      assert.deepEqual([byDefault.cipher, byClient.cipher, byServer.cipher], [AES128, AES256, AES128]);
    });
  });

  describe('protocols', () => {
    test("setProtocols(TLS_v12) negotiates 'TLSv1.2' with openssl s_server", async () => {
      const r = await againstOpenssl([], clientConfig().setProtocols(L.TLS_v12));
      assert.equal(r.error, undefined);
      assert.equal(r.version, 'TLSv1.2');
    });

    test("the default Config negotiates 'TLSv1.3' with openssl s_server", async () => {
      const r = await againstOpenssl([], clientConfig());
      assert.equal(r.version, 'TLSv1.3');
    });

    test("setProtocols('tlsv1.3') cannot reach a TLS 1.2-only server", async () => {
      const r = await handshake(
        serverConfig({ protocols: L.TLS_v12 }),
        clientConfig().setProtocols('tlsv1.3'),
      );
      assert.match(r.serverError?.message ?? '', /unsupported protocol/);
      assert.match(r.clientError?.message ?? '', /protocol version/);
    });

    test('setProtocols mixes masks and keyword strings', async () => {
      const r = await handshake(
        serverConfig({ protocols: 'tlsv1.2' }),
        clientConfig().setProtocols('tlsv1.2', L.TLS_v13),
      );
      assert.equal(r.version, 'TLSv1.2');
    });
  });

  describe('ALPN', () => {
    test('setAlpn with a string on the server and an array on the client selects the common protocol', async () => {
      const r = await handshake(
        serverConfig().setAlpn('h2,http/1.1'),
        clientConfig().setAlpn(['x-none', 'http/1.1']),
      );
      assert.equal(r.alpn, 'http/1.1');
      assert.equal(r.serverAlpn, 'http/1.1');
    });

    test('setAlpn against openssl s_server -alpn negotiates the one protocol both offer', async () => {
      const r = await againstOpenssl(['-alpn', 'h2,http/1.1'], clientConfig().setAlpn('x-none,h2'));
      assert.equal(r.alpn, 'h2');
    });

    test('without a common protocol no ALPN is selected (null)', async () => {
      const r = await handshake(serverConfig().setAlpn('h2'), clientConfig().setAlpn('x-none'));
      assert.equal(r.clientError, undefined);
      assert.equal(r.alpn, null);
    });
  });

  describe('certificates and keys', () => {
    test('setCert + setKey from memory present the same certificate as setCertFile + setKeyFile', async () => {
      const fromMem = await handshake(
        new Config().setCert(pem('server.crt')).setKey(pem('server.key').toString()),
        clientConfig(),
      );
      const fromFile = await handshake(
        new Config().setCertFile(pki('server.crt')).setKeyFile(pki('server.key')),
        clientConfig(),
      );
      assert.equal(fromMem.clientError, undefined);
      assert.equal(fromMem.peerHash, fromFile.peerHash);
      assert.equal(fromMem.peerHash, serverHash());
    });

    test('setKeypairFile and setKeypair are equivalent to separate cert and key', async () => {
      const a = await handshake(
        new Config().setKeypairFile(pki('server.crt'), pki('server.key')),
        clientConfig(),
      );
      const b = await handshake(
        new Config().setKeypair(pem('server.crt'), pem('server.key')),
        clientConfig(),
      );
      assert.equal(a.peerHash, serverHash());
      assert.equal(b.peerHash, serverHash());
    });

    test('setKey with a garbage key makes server() fail in tls_configure', () => {
      serverFails(new Config().setCert(pem('server.crt')).setKey('garbage'), /failed to read private key/);
    });

    test('setKey with the key of another certificate makes server() fail in tls_configure', () => {
      serverFails(new Config().setCert(pem('server.crt')).setKey(pem('other.key')), /private key/);
    });

    test('addKeypairFile serves the other certificate by SNI', async () => {
      const r = await handshake(
        serverConfig().addKeypairFile(pki('other.crt'), pki('other.key')),
        clientConfig(),
        { servername: 'other.test' },
      );
      assert.equal(r.clientError, undefined);
      assert.match(r.peerSubject, /CN\s*=\s*other\.test/);
    });

    test('addKeypair (memory) serves the other certificate for a wildcard name', async () => {
      const r = await handshake(
        serverConfig().addKeypair(pem('other.crt'), pem('other.key')),
        clientConfig(),
        { servername: 'x.wild.test' },
      );
      assert.equal(r.clientError, undefined);
      assert.match(r.peerSubject, /other\.test/);
    });

    test('without addKeypair the SNI name other.test fails name verification', async () => {
      const r = await handshake(serverConfig(), clientConfig(), { servername: 'other.test' });
      assert.match(r.clientError?.message ?? '', /name `other\.test' not present in server certificate/);
    });

    test('clearKeys() after server() was created leaves the server able to handshake', async () => {
      const scfg = serverConfig();
      const srv = L.server(scfg);
      scfg.clearKeys();
      const ccfg = clientConfig();
      try {
        await handshakeContexts(srv, L.client(ccfg), (cli) => assert.equal(cli.peerCertHash(), serverHash()));
      } finally {
        scfg.free();
        ccfg.free();
      }
    });

    test('clearKeys() before server() is created leaves no key: server() fails in tls_configure', () => {
      serverFails(serverConfig().clearKeys(), /key/);
    });
  });

  describe('verification', () => {
    test('setCa from memory trusts the test CA', async () => {
      const r = await handshake(serverConfig(), new Config().setCa(pem('ca.crt')));
      assert.equal(r.clientError, undefined);
      assert.equal(r.peerHash, serverHash());
    });

    test('setCa with garbage makes connectSocket fail in libtls', () => {
      const cfg = new Config().setCa('garbage');
      const cli = L.client(cfg);
      const [a, b] = L.socketpair();
      try {
        throwsTls(
          () => cli.connectSocket(a, 'localhost'),
          'tls_connect_socket',
          /ssl verify memory setup failure/,
        );
      } finally {
        cli.free();
        cfg.free();
        closeSync(a);
        closeSync(b);
      }
    });

    test('setCaFile with the test CA verifies, the default CA bundle does not know it', async () => {
      const ok = await handshake(serverConfig(), new Config().setCaFile(pki('ca.crt')));
      const ko = await handshake(serverConfig(), new Config());
      assert.equal(ok.clientError, undefined);
      assert.match(
        ko.clientError?.message ?? '',
        /certificate verification failed: unable to get local issuer certificate/,
      );
    });

    test('setCaPath with a hashed directory holding the test CA lets the client verify the server', async () => {
      const dir = tmpDir();
      const hash = execFileSync('openssl', ['x509', '-hash', '-noout', '-in', pki('ca.crt')])
        .toString()
        .trim();
      copyFileSync(pki('ca.crt'), path.join(dir, `${hash}.0`));
      const r = await handshake(serverConfig(), new Config().setCaPath(dir));
      assert.equal(r.clientError, undefined, `setCaPath(${dir}) was not used: ${r.clientError?.message}`);
      assert.equal(r.peerHash, serverHash());
    });

    test('setCaPath with a directory that lacks the CA fails verification', async () => {
      const r = await handshake(serverConfig(), new Config().setCaPath(tmpDir()));
      assert.match(r.clientError?.message ?? '', /certificate verification failed/);
    });

    test('insecureNoVerifyCert accepts a self-signed server; verify() restores the check', async () => {
      const strict = await handshake(selfsignedServer(), clientConfig());
      const loose = await handshake(selfsignedServer(), clientConfig().insecureNoVerifyCert());
      const back = await handshake(selfsignedServer(), clientConfig().insecureNoVerifyCert().verify());
      assert.match(strict.clientError?.message ?? '', /self-signed certificate/);
      assert.equal(loose.clientError, undefined);
      assert.match(back.clientError?.message ?? '', /self-signed certificate/);
    });

    test('insecureNoVerifyName accepts a certificate for another name; verify() restores the check', async () => {
      const loose = await handshake(serverConfig(), clientConfig().insecureNoVerifyName(), {
        servername: 'other.test',
      });
      const back = await handshake(serverConfig(), clientConfig().insecureNoVerifyName().verify(), {
        servername: 'other.test',
      });
      assert.equal(loose.clientError, undefined);
      assert.match(back.clientError?.message ?? '', /name `other\.test' not present/);
    });

    test('insecureNoVerifyTime accepts an expired certificate; verify() restores the check', async () => {
      const strict = await handshake(expiredServer(), clientConfig());
      const loose = await handshake(expiredServer(), clientConfig().insecureNoVerifyTime());
      const back = await handshake(expiredServer(), clientConfig().insecureNoVerifyTime().verify());
      assert.match(strict.clientError?.message ?? '', /certificate has expired/);
      assert.equal(loose.clientError, undefined);
      assert.match(back.clientError?.message ?? '', /certificate has expired/);
    });

    test('setCrlFile and setCrl make a revoked server certificate fail; without a CRL it passes', async () => {
      const none = await handshake(revokedServer(), clientConfig());
      const file = await handshake(revokedServer(), clientConfig().setCrlFile(pki('crl.pem')));
      const mem = await handshake(revokedServer(), clientConfig().setCrl(pem('crl.pem')));
      const good = await handshake(serverConfig(), clientConfig().setCrl(pem('crl.pem')));
      assert.equal(none.clientError, undefined);
      assert.match(file.clientError?.message ?? '', /certificate verification failed: certificate revoked/);
      assert.match(mem.clientError?.message ?? '', /certificate revoked/);
      assert.equal(good.clientError, undefined);
    });

    test('setCrl with garbage is accepted, then every verification fails for lack of a CRL', async () => {
      const r = await handshake(serverConfig(), clientConfig().setCrl('garbage'));
      assert.match(r.clientError?.message ?? '', /unable to get certificate CRL/);
    });

    test('setVerifyDepth(0) accepts a leaf signed directly by the root (OpenSSL counts intermediates)', async () => {
      const r = await handshake(serverConfig(), clientConfig().setVerifyDepth(0));
      assert.equal(r.clientError, undefined);
    });

    describe('with an intermediate CA', () => {
      let dir;
      before(() => {
        dir = tmpDir();
        const o = (...a) => execFileSync('openssl', a, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
        const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
        o(
          'req',
          '-x509',
          '-new',
          ...ec,
          '-keyout',
          'root.key',
          '-subj',
          '/CN=depth root',
          '-days',
          '3650',
          '-addext',
          'basicConstraints=critical,CA:true',
          '-addext',
          'keyUsage=critical,keyCertSign,cRLSign',
          '-out',
          'root.crt',
        );
        o(
          'req',
          '-new',
          ...ec,
          '-keyout',
          'inter.key',
          '-subj',
          '/CN=depth intermediate',
          '-out',
          'inter.csr',
        );
        writeFileSync(
          path.join(dir, 'inter.ext'),
          'basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\n',
        );
        o(
          'x509',
          '-req',
          '-in',
          'inter.csr',
          '-CA',
          'root.crt',
          '-CAkey',
          'root.key',
          '-set_serial',
          '2',
          '-days',
          '3650',
          '-extfile',
          'inter.ext',
          '-out',
          'inter.crt',
        );
        o('req', '-new', ...ec, '-keyout', 'leaf.key', '-subj', '/CN=localhost', '-out', 'leaf.csr');
        writeFileSync(
          path.join(dir, 'leaf.ext'),
          'basicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost\n',
        );
        o(
          'x509',
          '-req',
          '-in',
          'leaf.csr',
          '-CA',
          'inter.crt',
          '-CAkey',
          'inter.key',
          '-set_serial',
          '3',
          '-days',
          '3650',
          '-extfile',
          'leaf.ext',
          '-out',
          'leaf.crt',
        );
        writeFileSync(
          path.join(dir, 'chain.pem'),
          Buffer.concat([
            readFileSync(path.join(dir, 'leaf.crt')),
            readFileSync(path.join(dir, 'inter.crt')),
          ]),
        );
      });
      const chainServer = () =>
        new Config({ certFile: path.join(dir, 'chain.pem'), keyFile: path.join(dir, 'leaf.key') });
      const rootClient = (extra = {}) => new Config({ caFile: path.join(dir, 'root.crt'), ...extra });

      test('setVerifyDepth(0) makes a chain with one intermediate fail: "certificate chain too long"', async () => {
        const r = await handshake(chainServer(), rootClient().setVerifyDepth(0));
        assert.match(
          r.clientError?.message ?? '',
          /certificate verification failed: certificate chain too long/,
        );
      });

      test('setVerifyDepth(1) accepts the chain with one intermediate', async () => {
        const r = await handshake(chainServer(), rootClient().setVerifyDepth(1));
        assert.equal(r.clientError, undefined);
        assert.match(r.peerSubject, /localhost/);
      });

      test('the verifyDepth option maps to setVerifyDepth', async () => {
        const r0 = await handshake(chainServer(), rootClient({ verifyDepth: 0 }));
        const r1 = await handshake(chainServer(), rootClient({ verifyDepth: 1 }));
        assert.match(r0.clientError?.message ?? '', /certificate chain too long/);
        assert.equal(r1.clientError, undefined);
      });
    });

    test('verifyClient requires a client certificate: none fails on the server, one is verified', async () => {
      const srv = () => serverConfig({ caFile: pki('ca.crt') }).verifyClient();
      const none = await handshake(srv(), clientConfig());
      const some = await handshake(
        srv(),
        clientConfig({ certFile: pki('client.crt'), keyFile: pki('client.key') }),
      );
      assert.match(none.serverError?.message ?? '', /peer did not return a certificate/);
      assert.equal(some.ok, true);
      assert.equal(some.clientCertProvided, true);
      assert.match(some.clientSubject, /libtls test client/);
    });

    test('verifyClient refuses a client certificate from an unknown CA', async () => {
      const r = await handshake(
        serverConfig({ caFile: pki('ca.crt') }).verifyClient(),
        clientConfig({ certFile: pki('selfsigned.crt'), keyFile: pki('selfsigned.key') }),
      );
      assert.match(r.serverError?.message ?? '', /certificate verify failed/);
    });

    test('verifyClientOptional accepts a client without a certificate and verifies one that is sent', async () => {
      const srv = () => serverConfig({ caFile: pki('ca.crt') }).verifyClientOptional();
      const none = await handshake(srv(), clientConfig());
      const some = await handshake(
        srv(),
        clientConfig({ certFile: pki('client.crt'), keyFile: pki('client.key') }),
      );
      assert.equal(none.ok, true);
      assert.equal(none.clientCertProvided, false);
      assert.equal(some.ok, true);
      assert.equal(some.clientCertProvided, true);
    });
  });

  describe('OCSP stapling', () => {
    const status = ({ cli }) => ({ ocsp: cli.peerOcspCertStatus() });

    test('setOcspStapleFile staples a good response that ocspRequireStapling accepts', async () => {
      const r = await handshake(
        serverConfig().setOcspStapleFile(pki('ocsp-good.der')),
        clientConfig().ocspRequireStapling(),
        { inspect: status },
      );
      assert.equal(r.clientError, undefined);
      assert.equal(r.ocsp, L.OCSP_CERT_GOOD);
    });

    test('setOcspStaple from memory staples the same good response', async () => {
      const r = await handshake(
        serverConfig().setOcspStaple(pem('ocsp-good.der')),
        clientConfig().ocspRequireStapling(),
        { inspect: status },
      );
      assert.equal(r.ocsp, L.OCSP_CERT_GOOD);
    });

    test('ocspRequireStapling fails the handshake when the server staples nothing', async () => {
      const r = await handshake(serverConfig(), clientConfig().ocspRequireStapling());
      assert.match(r.clientError?.message ?? '', /no stapled OCSP response provided/);
    });

    test('without ocspRequireStapling a server that staples nothing is accepted', async () => {
      const r = await handshake(serverConfig(), clientConfig());
      assert.equal(r.ok, true);
    });

    test('setOcspStaple accepts garbage; a client requiring stapling then fails to parse it', async () => {
      const r = await handshake(
        serverConfig().setOcspStaple(pem('ocsp-garbage.der')),
        clientConfig().ocspRequireStapling(),
      );
      assert.match(r.clientError?.message ?? '', /unable to parse OCSP response/);
    });

    test('setKeypairFile and setKeypair with a staple staple it', async () => {
      const a = await handshake(
        new Config().setKeypairFile(pki('server.crt'), pki('server.key'), pki('ocsp-good.der')),
        clientConfig().ocspRequireStapling(),
        { inspect: status },
      );
      const b = await handshake(
        new Config().setKeypair(pem('server.crt'), pem('server.key'), pem('ocsp-good.der')),
        clientConfig().ocspRequireStapling(),
        { inspect: status },
      );
      assert.equal(a.ocsp, L.OCSP_CERT_GOOD);
      assert.equal(b.ocsp, L.OCSP_CERT_GOOD);
    });

    // other.crt has no OCSP URL, and libtls's client refuses to check a staple without one
    // ("no OCSP URLs in peer certificate"): so the SNI keypair that carries the staple is server.crt.
    const otherFirst = () => serverFor('other');

    test('addKeypair with a staple staples it for the certificate chosen by SNI', async () => {
      const r = await handshake(
        otherFirst().addKeypair(pem('server.crt'), pem('server.key'), pem('ocsp-good.der')),
        clientConfig().ocspRequireStapling(),
        { servername: 'localhost', inspect: status },
      );
      assert.equal(r.clientError, undefined);
      assert.equal(r.peerHash, serverHash());
      assert.equal(r.ocsp, L.OCSP_CERT_GOOD);
    });

    test('addKeypairFile with a staple staples it for the certificate chosen by SNI', async () => {
      const r = await handshake(
        otherFirst().addKeypairFile(pki('server.crt'), pki('server.key'), pki('ocsp-good.der')),
        clientConfig().ocspRequireStapling(),
        { servername: 'localhost', inspect: status },
      );
      assert.equal(r.peerHash, serverHash());
      assert.equal(r.ocsp, L.OCSP_CERT_GOOD);
    });

    test('a staple for a certificate without an OCSP URL is refused by a client requiring stapling', async () => {
      const r = await handshake(
        serverConfig().addKeypair(pem('other.crt'), pem('other.key'), pem('ocsp-other.der')),
        clientConfig().ocspRequireStapling(),
        { servername: 'other.test' },
      );
      assert.match(r.clientError?.message ?? '', /no OCSP URLs in peer certificate/);
    });
  });

  describe('key exchange', () => {
    test("setEcdhecurves('P-384') cannot reach an openssl s_server restricted to -groups P-256", async () => {
      const r = await againstOpenssl(['-groups', 'P-256'], clientConfig().setEcdhecurves('P-384'));
      assert.equal(r.ok, false);
      assert.equal(r.error.op, 'tls_handshake');
      assert.match(r.error.message, /handshake failure/);
    });

    test("setEcdhecurves('P-256') reaches the same -groups P-256 s_server", async () => {
      const r = await againstOpenssl(
        ['-groups', 'P-256'],
        clientConfig().setEcdhecurves(['X25519', 'P-256']),
      );
      assert.equal(r.error, undefined);
      assert.equal(r.version, 'TLSv1.3');
    });

    test("setEcdhecurve('P-384') (single curve) also fails against -groups P-256", async () => {
      const r = await againstOpenssl(['-groups', 'P-256', '-tls1_2'], clientConfig().setEcdhecurve('P-384'));
      assert.equal(r.ok, false);
      assert.match(r.error.message, /handshake failure/);
    });

    test('libtls peers with disjoint curve lists fail: "no suitable key share"', async () => {
      const r = await handshake(
        serverConfig().setEcdhecurves('P-256'),
        clientConfig().setEcdhecurves('P-384'),
      );
      assert.match(r.serverError?.message ?? '', /no suitable key share/);
    });

    const rsaDhe = () => serverFor('server-rsa', { ciphers: 'DHE-RSA-AES128-GCM-SHA256' });
    const dheClient = () => clientConfig({ protocols: 'tlsv1.2', ciphers: 'DHE-RSA-AES128-GCM-SHA256' });

    test("setDheparams('auto') enables a DHE suite; 'none' (libtls's default) leaves no shared cipher", async () => {
      const auto = await handshake(rsaDhe().setDheparams('auto'), dheClient());
      const legacy = await handshake(rsaDhe().setDheparams('legacy'), dheClient());
      const none = await handshake(rsaDhe().setDheparams('none'), dheClient());
      const dflt = await handshake(rsaDhe(), dheClient());
      assert.deepEqual([auto.version, auto.cipher], ['TLSv1.2', 'DHE-RSA-AES128-GCM-SHA256']);
      assert.equal(legacy.cipher, 'DHE-RSA-AES128-GCM-SHA256');
      assert.match(none.serverError?.message ?? '', /no shared cipher/);
      assert.match(dflt.serverError?.message ?? '', /no shared cipher/);
    });
  });

  describe('sessions', () => {
    test('setSessionFd lets a TLS 1.2 client resume its session with openssl s_server', async () => {
      const fd = sessionFile();
      let peer;
      try {
        peer = await opensslServer(['-tls1_2'], { naccept: 2 });
        const resumed = [];
        for (let i = 0; i < 2; i++) {
          const cfg = clientConfig().setProtocols(L.TLS_v12).setSessionFd(fd);
          const t = L.client(cfg);
          try {
            t.connect('127.0.0.1', peer.port);
            assert.equal(t.handshake(), 0);
            resumed.push(t.connSessionResumed());
            t.close();
          } finally {
            t.free();
            cfg.free();
          }
        }
        assert.deepEqual(resumed, [false, true]);
        assert.ok(fstatSync(fd).size > 0, 'the session was written to the file');
      } finally {
        closeSync(fd);
        if (peer) await peer.kill();
      }
    });
  });
});

// ---------------------------------------------------------------------------------------------

describe('setSessionFd', () => {
  test('a socketpair fd is refused: "session file is not a regular file"', () =>
    withSocketpair((a) =>
      withConfig((c) =>
        throwsTls(
          () => c.setSessionFd(a),
          'tls_config_set_session_fd',
          /^session file is not a regular file$/,
        ),
      ),
    ));

  test("a tmp file opened 'w+' with mode 0600 is accepted", () => {
    const fd = sessionFile();
    try {
      chains((c) => c.setSessionFd(fd));
    } finally {
      closeSync(fd);
    }
  });

  test('a regular file readable by others (0644) is refused by libtls', () => {
    const fd = sessionFile(0o644);
    try {
      withConfig((c) =>
        throwsTls(
          () => c.setSessionFd(fd),
          'tls_config_set_session_fd',
          /^session file has incorrect permissions \(644 != 600\)$/,
        ),
      );
    } finally {
      closeSync(fd);
    }
  });

  test('a closed fd is refused: "failed to stat session file"', () => {
    const fd = sessionFile();
    closeSync(fd);
    withConfig((c) =>
      throwsTls(
        () => c.setSessionFd(fd),
        'tls_config_set_session_fd',
        /failed to stat session file: Bad file descriptor/,
      ),
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe('the options object', () => {
  test('an unknown key is a TypeError naming the key', () => {
    throwsArg(
      () => new Config({ caFile: pki('ca.crt'), cipherz: 'x' }),
      TypeError,
      /unknown Config option: "cipherz"/,
    );
  });

  test('insecure with an unknown subkey is a TypeError naming it', () => {
    throwsArg(
      () => new Config({ insecure: { noVerifyAll: true } }),
      TypeError,
      /unknown insecure option: "noVerifyAll"/,
    );
  });

  test('options that are not a plain object are a TypeError', () => {
    throwsArg(() => new Config(null), TypeError, /options must be an object, got null/);
    throwsArg(() => new Config([]), TypeError, /options must be an object, got an array/);
    throwsArg(() => new Config('caFile'), TypeError, /options must be an object, got a string/);
  });

  test("preferCiphers: 'bogus' is a TypeError", () => {
    throwsArg(
      () => new Config({ preferCiphers: 'bogus' }),
      TypeError,
      /preferCiphers must be 'client' or 'server'/,
    );
  });

  test('keys set to undefined are ignored', () => {
    const c = new Config({ caFile: undefined, alpn: undefined });
    assert.equal(c.freed, false);
    c.free();
  });

  // Every key of `ConfigOptions`, with a value its setter refuses: the error proves the mapping.
  const badValues = [
    ['ca', 42, TypeError, /^ca must be a string or a Uint8Array/],
    [
      'caFile',
      '/nonexistent/ca.pem',
      'tls_config_set_ca_file',
      /failed to open CA file '\/nonexistent\/ca\.pem'/,
    ],
    ['caPath', '', TypeError, /^path must not be empty/],
    ['cert', 'garbage', 'tls_config_set_cert_mem', /failed to load certificate/],
    ['certFile', '/nonexistent/c.pem', 'tls_config_set_cert_file', /failed to open certificate file/],
    ['key', 42, TypeError, /^key must be a string or a Uint8Array/],
    ['keyFile', '/nonexistent/k.pem', 'tls_config_set_key_file', /failed to open key file/],
    [
      'keypairs',
      [{ cert: 'garbage', key: 'garbage' }],
      'tls_config_add_keypair_mem',
      /failed to load certificate/,
    ],
    ['keypairs', {}, TypeError, /^keypairs must be an array/],
    ['keypairs', [null], TypeError, /^keypairs\[0\] must be an object/],
    ['keypairs', [{ cert: 'a', key: 'b', staple: 'c' }], TypeError, /unknown keypairs\[0\] option: "staple"/],
    ['alpn', '', TypeError, /^alpn\[0\] must not be empty/],
    ['protocols', 'bogus', 'tls_config_parse_protocols', /invalid protocol string/],
    ['protocols', [], RangeError, /at least one protocol/],
    ['protocols', 'all:!tlsv1.1', RangeError, /has a gap/],
    ['ciphers', 'BOGUS', 'tls_config_set_ciphers', /no ciphers for 'BOGUS'/],
    ['ecdheCurves', 'bogus', 'tls_config_set_ecdhecurves', /invalid ecdhe curve 'bogus'/],
    ['dheParams', 'bogus', 'tls_config_set_dheparams', /invalid dhe param 'bogus'/],
    ['crl', 42, TypeError, /^crl must be a string or a Uint8Array/],
    ['crlFile', '/nonexistent/crl.pem', 'tls_config_set_crl_file', /failed to open CRL file/],
    ['verifyDepth', -1, RangeError, /^depth must be between 0 and/],
    ['verifyClient', 'yes', TypeError, /^verifyClient must be a boolean/],
    ['ocspStaple', 42, TypeError, /^staple must be a string or a Uint8Array/],
    ['ocspRequireStapling', 'yes', TypeError, /^ocspRequireStapling must be a boolean/],
    ['insecure', true, TypeError, /^insecure must be an object/],
    ['insecure', { noVerifyCert: 'yes' }, TypeError, /^insecure\.noVerifyCert must be a boolean/],
    ['insecure', { noVerifyName: 1 }, TypeError, /^insecure\.noVerifyName must be a boolean/],
    ['insecure', { noVerifyTime: null }, TypeError, /^insecure\.noVerifyTime must be a boolean/],
    ['sessionLifetime', 1, 'tls_config_set_session_lifetime', /session lifetime too small/],
    ['sessionId', new Uint8Array(33), RangeError, /sessionId must be at most 32 bytes/],
    ['ticketKeys', [{ keyrev: 1, key: new Uint8Array(47) }], RangeError, /must be 48 bytes, got 47/],
    ['ticketKeys', {}, TypeError, /^ticketKeys must be an array/],
    [
      'ticketKeys',
      [{ keyrev: 1, key: new Uint8Array(48), x: 1 }],
      TypeError,
      /unknown ticketKeys\[0\] option: "x"/,
    ],
    ['sessionFd', -1, RangeError, /^sessionFd must be between 0 and/],
    ['preferCiphers', 'bogus', TypeError, /^preferCiphers must be 'client' or 'server'/],
  ];
  for (const [key, value, kind, re] of badValues) {
    const what = typeof kind === 'string' ? `TlsError ${kind}` : kind.name;
    test(`option ${key} = ${show(value)} throws ${what}`, () => {
      if (typeof kind === 'string') throwsTls(() => new Config({ [key]: value }), kind, re);
      else throwsArg(() => new Config({ [key]: value }), kind, re);
    });
  }

  test('option sessionFd with a socketpair fd throws TlsError tls_config_set_session_fd', () =>
    withSocketpair((a) =>
      throwsTls(() => new Config({ sessionFd: a }), 'tls_config_set_session_fd', /not a regular file/),
    ));

  test('every key of ConfigOptions is accepted with a good value', () => {
    const fd = sessionFile();
    try {
      const c = new Config({
        ca: pem('ca.crt'),
        caFile: pki('ca.crt'),
        caPath: os.tmpdir(),
        cert: pem('server.crt'),
        certFile: pki('server.crt'),
        key: pem('server.key'),
        keyFile: pki('server.key'),
        keypairs: [{ cert: pem('other.crt'), key: pem('other.key'), ocspStaple: pem('ocsp-other.der') }],
        alpn: ['h2'],
        protocols: [L.TLS_v12, 'tlsv1.3'],
        ciphers: 'secure',
        ecdheCurves: ['X25519', 'P-256'],
        dheParams: 'auto',
        crl: pem('crl.pem'),
        crlFile: pki('crl.pem'),
        verifyDepth: 4,
        verifyClient: 'optional',
        ocspStaple: pem('ocsp-good.der'),
        ocspRequireStapling: true,
        insecure: { noVerifyCert: false, noVerifyName: false, noVerifyTime: false },
        sessionLifetime: 300,
        sessionId: 'libtls-test',
        ticketKeys: [
          { keyrev: 1, key: new Uint8Array(48) },
          { keyrev: 2, key: new Uint8Array(48).fill(2) },
        ],
        sessionFd: fd,
        preferCiphers: 'client',
      });
      assert.equal(c.freed, false);
      c.free();
    } finally {
      closeSync(fd);
    }
  });

  test('protocols + ciphers + alpn options negotiate exactly what they name', async () => {
    const r = await handshake(
      serverConfig({ alpn: 'h2,http/1.1' }),
      clientConfig({ protocols: 'tlsv1.2', ciphers: AES128, alpn: ['http/1.1'] }),
    );
    assert.deepEqual([r.version, r.cipher, r.alpn], ['TLSv1.2', AES128, 'http/1.1']);
  });

  test('protocols option as a mask negotiates TLS 1.2', async () => {
    const r = await handshake(serverConfig(), clientConfig({ protocols: L.TLS_v12 }));
    assert.equal(r.version, 'TLSv1.2');
  });

  test('insecure.noVerifyCert accepts a self-signed server; false leaves verification on', async () => {
    const on = await handshake(selfsignedServer(), clientConfig({ insecure: { noVerifyCert: true } }));
    const off = await handshake(selfsignedServer(), clientConfig({ insecure: { noVerifyCert: false } }));
    assert.equal(on.clientError, undefined);
    assert.match(off.clientError?.message ?? '', /self-signed certificate/);
  });

  test('insecure.noVerifyName and insecure.noVerifyTime map to their setters', async () => {
    const name = await handshake(serverConfig(), clientConfig({ insecure: { noVerifyName: true } }), {
      servername: 'other.test',
    });
    const time = await handshake(expiredServer(), clientConfig({ insecure: { noVerifyTime: true } }));
    assert.equal(name.clientError, undefined);
    assert.equal(time.clientError, undefined);
  });

  test("verifyClient: 'optional' accepts a client without a certificate, true refuses it, false does not ask", async () => {
    const opt = await handshake(
      serverConfig({ caFile: pki('ca.crt'), verifyClient: 'optional' }),
      clientConfig(),
    );
    const req = await handshake(serverConfig({ caFile: pki('ca.crt'), verifyClient: true }), clientConfig());
    const off = await handshake(
      serverConfig({ caFile: pki('ca.crt'), verifyClient: false }),
      clientConfig({ certFile: pki('client.crt'), keyFile: pki('client.key') }),
    );
    assert.equal(opt.ok, true);
    assert.equal(opt.clientCertProvided, false);
    assert.match(req.serverError?.message ?? '', /peer did not return a certificate/);
    assert.equal(off.ok, true);
    assert.equal(off.clientCertProvided, false, 'a server that did not ask got no client certificate');
  });

  test("verifyClient: 'optional' verifies a certificate that is sent", async () => {
    const r = await handshake(
      serverConfig({ caFile: pki('ca.crt'), verifyClient: 'optional' }),
      clientConfig({ cert: pem('client.crt'), key: pem('client.key') }),
    );
    assert.equal(r.clientCertProvided, true);
    assert.match(r.clientSubject, /libtls test client/);
  });

  test('keypairs serve extra certificates by SNI', async () => {
    const r = await handshake(
      serverConfig({ keypairs: [{ cert: pem('other.crt'), key: pem('other.key') }] }),
      clientConfig(),
      { servername: 'other.test' },
    );
    assert.equal(r.clientError, undefined);
    assert.match(r.peerSubject, /other\.test/);
  });

  test('keypairs carry their OCSP staple', async () => {
    const r = await handshake(
      new Config({
        certFile: pki('other.crt'),
        keyFile: pki('other.key'),
        keypairs: [{ cert: pem('server.crt'), key: pem('server.key'), ocspStaple: pem('ocsp-good.der') }],
      }),
      clientConfig({ ocspRequireStapling: true }),
      { servername: 'localhost', inspect: ({ cli }) => ({ ocsp: cli.peerOcspCertStatus() }) },
    );
    assert.equal(r.clientError, undefined);
    assert.equal(r.peerHash, serverHash());
    assert.equal(r.ocsp, L.OCSP_CERT_GOOD);
  });

  test('ca + crl options make a revoked server fail; ocspRequireStapling: false does not require a staple', async () => {
    const r = await handshake(
      revokedServer(),
      new Config({ ca: pem('ca.crt'), crl: pem('crl.pem'), ocspRequireStapling: false }),
    );
    const ok = await handshake(
      serverConfig(),
      new Config({ ca: pem('ca.crt'), crl: pem('crl.pem'), ocspRequireStapling: false }),
    );
    assert.match(r.clientError?.message ?? '', /certificate revoked/);
    assert.equal(ok.ok, true);
  });

  test('cert + key + ocspStaple options build a stapling server', async () => {
    const r = await handshake(
      new Config({ cert: pem('server.crt'), key: pem('server.key'), ocspStaple: pem('ocsp-good.der') }),
      clientConfig({ ocspRequireStapling: true }),
      { inspect: ({ cli }) => ({ ocsp: cli.peerOcspCertStatus() }) },
    );
    assert.equal(r.ocsp, L.OCSP_CERT_GOOD);
  });

  test("preferCiphers: 'client' and 'server' map to preferCiphersClient/Server", async () => {
    const srvOrder = `${AES128}:${AES256}`;
    const cli = () => clientConfig({ protocols: 'tlsv1.2', ciphers: `${AES256}:${AES128}` });
    const c = await handshake(serverConfig({ ciphers: srvOrder, preferCiphers: 'client' }), cli());
    const s = await handshake(serverConfig({ ciphers: srvOrder, preferCiphers: 'server' }), cli());
    assert.deepEqual([c.cipher, s.cipher], [AES256, AES128]);
  });

  test('ecdheCurves and dheParams options map to their setters', async () => {
    const curves = await handshake(
      serverConfig({ ecdheCurves: 'P-256' }),
      clientConfig({ ecdheCurves: ['P-384'] }),
    );
    const dhe = await handshake(
      new Config({
        certFile: pki('server-rsa.crt'),
        keyFile: pki('server-rsa.key'),
        ciphers: 'DHE-RSA-AES128-GCM-SHA256',
        dheParams: 'auto',
      }),
      clientConfig({ protocols: 'tlsv1.2', ciphers: 'DHE-RSA-AES128-GCM-SHA256' }),
    );
    assert.match(curves.serverError?.message ?? '', /no suitable key share/);
    assert.equal(dhe.cipher, 'DHE-RSA-AES128-GCM-SHA256');
  });

  test('ticketKeys with two keys is accepted; a repeated keyrev with another key is refused by libtls', () => {
    const c = new Config({
      ticketKeys: [
        { keyrev: 1, key: new Uint8Array(48) },
        { keyrev: 2, key: new Uint8Array(48).fill(1) },
      ],
    });
    c.free();
    throwsTls(
      () =>
        new Config({
          ticketKeys: [
            { keyrev: 1, key: new Uint8Array(48) },
            { keyrev: 1, key: new Uint8Array(48).fill(1) },
          ],
        }),
      'tls_config_add_ticket_key',
      /ticket key already present/,
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe('Config.parseProtocols', () => {
  // What libretls 3.7.0's tls_config_parse_protocols returns (determined by calling it).
  const table = [
    ['all', 30],
    ['ALL', 30],
    ['default', 24],
    ['secure', 24],
    ['legacy', 30],
    ['tlsv1', 30],
    ['tlsv1.0', 2],
    ['tlsv1.1', 4],
    ['tlsv1.2', 8],
    ['tlsv1.3', 16],
    ['TLSv1.2', 8],
    ['tlsv1.2,tlsv1.3', 24],
    ['tlsv1.2:tlsv1.3', 24],
    ['all:!tlsv1.0', 28],
    ['all:!tlsv1.1', 26],
    ['!tlsv1.3', 14],
  ];
  for (const [s, mask] of table) {
    test(`parseProtocols(${JSON.stringify(s)}) is ${mask}`, () =>
      assert.equal(Config.parseProtocols(s), mask));
  }

  for (const s of ['', '-tlsv1.3', 'bogus', 'tlsv1.4', 'tlsv1.2 tlsv1.3', 'all,-tlsv1.0']) {
    test(`parseProtocols(${JSON.stringify(s)}) throws TlsError tls_config_parse_protocols`, () => {
      throwsTls(() => Config.parseProtocols(s), 'tls_config_parse_protocols', /^invalid protocol string$/);
    });
  }

  test('the keywords agree with the TLS_* constants', () => {
    assert.deepEqual(
      [L.TLS_v10, L.TLS_v11, L.TLS_v12, L.TLS_v13],
      ['tlsv1.0', 'tlsv1.1', 'tlsv1.2', 'tlsv1.3'].map((s) => Config.parseProtocols(s)),
    );
    assert.equal(Config.parseProtocols('all'), L.TLS_v1x);
    assert.equal(Config.parseProtocols('tlsv1'), L.TLS_v1x);
    assert.equal(Config.parseProtocols('legacy'), L.TLS_v1x);
    assert.equal(Config.parseProtocols('default'), L.TLS_DEFAULT);
    assert.equal(Config.parseProtocols('secure'), L.TLS_DEFAULT);
    assert.equal(Config.parseProtocols('tlsv1.2,tlsv1.3'), L.TLS_v12 | L.TLS_v13);
    assert.equal(Config.parseProtocols('all:!tlsv1.0'), L.TLS_v1x & ~L.TLS_v10);
    assert.equal(Config.parseProtocols('all:!tlsv1.1'), L.TLS_v1x & ~L.TLS_v11);
    assert.equal(Config.parseProtocols('!tlsv1.3'), L.TLS_v1x & ~L.TLS_v13);
    assert.equal(L.TLS_v1x, L.TLS_v10 | L.TLS_v11 | L.TLS_v12 | L.TLS_v13);
    assert.equal(L.TLS_DEFAULT, L.TLS_v12 | L.TLS_v13);
  });

  test('a non-string is a TypeError, a NUL byte too', () => {
    throwsArg(() => Config.parseProtocols(24), TypeError, /protocols must be a string, got number 24/);
    throwsArg(() => Config.parseProtocols(undefined), TypeError, /protocols must be a string/);
    throwsArg(() => Config.parseProtocols(['all']), TypeError, /protocols must be a string, got an array/);
    throwsArg(() => Config.parseProtocols('all\0'), TypeError, /must not contain NUL/);
  });

  test('a parsed mask given to setProtocols negotiates that version', async () => {
    const r = await handshake(serverConfig(), clientConfig().setProtocols(Config.parseProtocols('!tlsv1.3')));
    assert.equal(r.version, 'TLSv1.2');
  });
});

// ---------------------------------------------------------------------------------------------

describe('Config.loadFile and Config.defaultCaCertFile', () => {
  test('loadFile returns the bytes of a file', () => {
    const b = Config.loadFile(pki('server.crt'));
    assert.ok(Buffer.isBuffer(b));
    assert.ok(b.equals(readFileSync(pki('server.crt'))));
  });

  test("loadFile(encrypted.key, 'test-password') decrypts the key, and setKey with it handshakes", async () => {
    const password = readFileSync(pki('password.txt'), 'utf8');
    assert.equal(password, 'test-password');
    const key = Config.loadFile(pki('encrypted.key'), password);
    assert.match(key.toString(), /^-----BEGIN PRIVATE KEY-----\n/);
    // Node's own crypto agrees it is server.key.
    const mine = createPrivateKey(key).export({ type: 'pkcs8', format: 'der' });
    const ref = createPrivateKey(pem('server.key')).export({ type: 'pkcs8', format: 'der' });
    assert.ok(mine.equals(ref));
    const r = await handshake(new Config().setCert(pem('server.crt')).setKey(key), clientConfig());
    assert.equal(r.clientError, undefined);
    assert.equal(r.peerHash, serverHash());
  });

  test('the encrypted key without decryption cannot configure a server', () => {
    serverFails(
      new Config().setCert(pem('server.crt')).setKey(pem('encrypted.key')),
      /failed to read private key/,
    );
  });

  test('a wrong password throws TlsError tls_load_file', () => {
    throwsTls(
      () => Config.loadFile(pki('encrypted.key'), 'wrong-password'),
      'tls_load_file',
      /encrypted\.key: cannot load/,
    );
  });

  test('a password on a file that is not a key throws TlsError tls_load_file', () => {
    throwsTls(
      () => Config.loadFile(pki('server.crt'), 'test-password'),
      'tls_load_file',
      /server\.crt: cannot load/,
    );
  });

  test('a missing file throws TlsError tls_load_file with the system error', () => {
    throwsTls(
      () => Config.loadFile('/nonexistent/libtls.pem'),
      'tls_load_file',
      /^\/nonexistent\/libtls\.pem: No such file or directory$/,
    );
  });

  test('a directory throws TlsError tls_load_file', () => {
    throwsTls(() => Config.loadFile(os.tmpdir()), 'tls_load_file', /Is a directory/);
  });

  test('bad arguments to loadFile are TypeErrors', () => {
    throwsArg(() => Config.loadFile(''), TypeError, /path must not be empty/);
    throwsArg(() => Config.loadFile(1), TypeError, /path must be a string/);
    throwsArg(() => Config.loadFile(`${pki('server.crt')}\0`), TypeError, /NUL/);
    throwsArg(() => Config.loadFile(pki('encrypted.key'), 1), TypeError, /password must be a string/);
  });

  test('defaultCaCertFile returns a non-empty absolute path', () => {
    const f = Config.defaultCaCertFile();
    assert.equal(typeof f, 'string');
    assert.ok(f.length > 1);
    assert.ok(path.isAbsolute(f), f);
  });

  test("a new Config trusts the system's hashed CA directory (/etc/ssl/certs), not a bundle parsed whole on every connection", async (t) => {
    // this machine (Debian with ca-certificates) has the directory: the default must use it
    const hashed = readdirSync('/etc/ssl/certs').filter((f) => /^[0-9a-f]{8}\.\d+$/.test(f));
    assert.ok(hashed.length > 0, 'no hashed CA directory here');
    assert.deepEqual(systemCaSource(), { path: '/etc/ssl/certs' });
    // and it verifies: a server certificate from a CA in a hashed directory passes through
    // setCaPath (the same libtls path the default takes), one from an unknown CA fails by default
    const dir = tempDir((fn) => t.after(fn));
    copyFileSync(pki('ca.crt'), path.join(dir, 'ca.pem'));
    execFileSync('openssl', ['rehash', dir]);
    const viaDir = await handshake(serverConfig(), new Config().setCaPath(dir));
    assert.equal(viaDir.ok, true, String(viaDir.clientError));
    const viaDefault = await handshake(serverConfig(), new Config());
    assert.match(String(viaDefault.clientError), /unable to get local issuer certificate/);
  });
});

// ---------------------------------------------------------------------------------------------

describe('free() and [Symbol.dispose]()', () => {
  const calls = {
    setAlpn: (c) => c.setAlpn('h2'),
    setCaFile: (c) => c.setCaFile(pki('ca.crt')),
    setCaPath: (c) => c.setCaPath(os.tmpdir()),
    setCa: (c) => c.setCa(pem('ca.crt')),
    setCertFile: (c) => c.setCertFile(pki('server.crt')),
    setCert: (c) => c.setCert(pem('server.crt')),
    setCiphers: (c) => c.setCiphers('secure'),
    setCrlFile: (c) => c.setCrlFile(pki('crl.pem')),
    setCrl: (c) => c.setCrl(pem('crl.pem')),
    setKeyFile: (c) => c.setKeyFile(pki('server.key')),
    setKey: (c) => c.setKey(pem('server.key')),
    setKeypairFile: (c) => c.setKeypairFile(pki('server.crt'), pki('server.key')),
    setKeypair: (c) => c.setKeypair(pem('server.crt'), pem('server.key')),
    setOcspStaple: (c) => c.setOcspStaple(pem('ocsp-good.der')),
    setOcspStapleFile: (c) => c.setOcspStapleFile(pki('ocsp-good.der')),
    setProtocols: (c) => c.setProtocols(L.TLS_v12),
    insecureNoVerifyCert: (c) => c.insecureNoVerifyCert(),
    insecureNoVerifyName: (c) => c.insecureNoVerifyName(),
    insecureNoVerifyTime: (c) => c.insecureNoVerifyTime(),
    verify: (c) => c.verify(),
    verifyClient: (c) => c.verifyClient(),
    verifyClientOptional: (c) => c.verifyClientOptional(),
    clearKeys: (c) => c.clearKeys(),
    addKeypairFile: (c) => c.addKeypairFile(pki('other.crt'), pki('other.key')),
    addKeypair: (c) => c.addKeypair(pem('other.crt'), pem('other.key')),
    preferCiphersClient: (c) => c.preferCiphersClient(),
    preferCiphersServer: (c) => c.preferCiphersServer(),
    setDheparams: (c) => c.setDheparams('auto'),
    setEcdhecurve: (c) => c.setEcdhecurve('P-256'),
    setEcdhecurves: (c) => c.setEcdhecurves('P-256'),
    setSessionId: (c) => c.setSessionId('id'),
    setSessionLifetime: (c) => c.setSessionLifetime(300),
    addTicketKey: (c) => c.addTicketKey(1, new Uint8Array(48)),
    setSessionFd: (c) => c.setSessionFd(0),
    ocspRequireStapling: (c) => c.ocspRequireStapling(),
    setVerifyDepth: (c) => c.setVerifyDepth(2),
  };

  test('every method after free() throws TlsError "the Config has been freed"', () => {
    const c = new Config();
    c.free();
    assert.equal(c.freed, true);
    for (const [name, fn] of Object.entries(calls)) {
      assert.throws(
        () => fn(c),
        (e) => e instanceof TlsError && e.op === 'tls_config' && /the Config has been freed/.test(e.message),
        `${name} after free()`,
      );
    }
  });

  test('client(), server() and configure() refuse a freed Config with TlsError', () => {
    const c = serverConfig();
    c.free();
    throwsTls(() => L.server(c), 'tls_config', /freed/);
    throwsTls(() => L.client(c), 'tls_config', /freed/);
    const t = L.client();
    try {
      throwsTls(() => t.configure(c), 'tls_config', /freed/);
    } finally {
      t.free();
    }
  });

  test('free() twice is harmless', () => {
    const c = new Config();
    c.free();
    c.free();
    assert.equal(c.freed, true);
  });

  test('[Symbol.dispose]() frees, and after it every method throws; dispose again is harmless', () => {
    const c = new Config();
    assert.equal(c.freed, false);
    c[Symbol.dispose]();
    assert.equal(c.freed, true);
    throwsTls(() => c.setAlpn('h2'), 'tls_config', /freed/);
    c[Symbol.dispose]();
    c.free();
  });

  test('contexts configured with Configs that are then freed still handshake (libtls refcounts)', async () => {
    const scfg = serverConfig({ alpn: 'h2' });
    const ccfg = clientConfig({ alpn: 'h2', protocols: 'tlsv1.2' });
    const srv = L.server(scfg);
    const cli = L.client(ccfg);
    scfg.free();
    ccfg[Symbol.dispose]();
    assert.equal(scfg.freed && ccfg.freed, true);
    await handshakeContexts(srv, cli, () => {
      assert.equal(cli.connVersion(), 'TLSv1.2', 'the freed client config still applies');
      assert.equal(cli.connAlpnSelected(), 'h2', 'the freed server config still applies');
      assert.equal(cli.peerCertHash(), serverHash());
    });
  });
});

// ---------------------------------------------------------------------------------------------

describe('error text is never stale (tls_config_error keeps the previous failure)', () => {
  test('failures after a failed setCaFile report their own text, not the earlier path', () => {
    withConfig((c) => {
      throwsTls(() => c.setCaFile('/nonexistent'), 'tls_config_set_ca_file', /'\/nonexistent'/);
      for (const [fn, op, re] of [
        [
          () => c.setKeypair('garbage', 'garbage'),
          'tls_config_set_keypair_mem',
          /failed to load certificate/,
        ],
        [() => c.setSessionLifetime(1), 'tls_config_set_session_lifetime', /session lifetime too small/],
        [() => c.setCiphers('BOGUS'), 'tls_config_set_ciphers', /BOGUS/],
      ]) {
        assert.throws(fn, (e) => {
          assert.equal(e.op, op);
          assert.doesNotMatch(e.message, /nonexistent/);
          assert.match(e.message, re);
          return true;
        });
      }
    });
  });

  test('a success between two failures does not carry the first failure into the second', () => {
    withConfig((c) => {
      throwsTls(() => c.setCaFile('/nonexistent'), 'tls_config_set_ca_file', /nonexistent/);
      assert.equal(c.setCaFile(pki('ca.crt')), c);
      assert.throws(
        () => c.setDheparams('bogus'),
        (e) => e.op === 'tls_config_set_dheparams' && !/nonexistent/.test(e.message),
      );
    });
  });

  test("each failure reports libtls's own text even right after a failure of the same size", () => {
    // libtls frees the old text and allocates the new one, which malloc often places at the same
    // address: a binding that tells "new text" from "old text" by pointer loses the new one.
    const seen = withConfig((c) => {
      const msg = (fn) => {
        try {
          fn();
        } catch (e) {
          return e.message;
        }
        return 'no error';
      };
      return [
        msg(() => c.setSessionLifetime(1)),
        msg(() => c.setSessionLifetime(1)),
        msg(() => c.setSessionLifetime(86401)),
        msg(() => c.setDheparams('bogus')),
        msg(() => c.setEcdhecurve('bogus')),
        msg(() => c.setCiphers('BOGUS')),
        msg(() => c.setCiphers('BOGUS')),
      ];
    });
    assert.deepEqual(seen, [
      'session lifetime too small',
      'session lifetime too small',
      'session lifetime too large',
      "invalid dhe param 'bogus'",
      "invalid ecdhe curve 'bogus'",
      "no ciphers for 'BOGUS'",
      "no ciphers for 'BOGUS'",
    ]);
  });
});
