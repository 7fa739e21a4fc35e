// Certificate verification and the peer / OCSP / session getters of the 1:1 API, against real
// peers: `openssl s_server` for our client, `openssl s_client` for our server, and our own client
// and server over a socketpair where both ends are ours. Every libtls error text asserted below was
// observed on libretls 3.7.0 + OpenSSL 3.0 (Debian 12).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';
import {
  assertTlsError,
  certArgs,
  clientConfig,
  helpersUrl,
  L,
  listen,
  opensslServer,
  pairHandshake,
  pem,
  pki,
  raceTimeout,
  runNodeScript,
  serverConfig,
  serverFor,
  sha256,
  startPeer,
  tempDir,
  untilDone,
} from './helpers.mjs';

const T = { timeout: 20_000 };

// ---- helpers local to this file ----

/** Frees/closes/kills everything registered, in reverse order, after the test. */
function scope(t) {
  const items = [];
  t.after(async () => {
    for (const f of items.reverse()) {
      try {
        await f();
      } catch {
        // best effort: the test already reported what matters
      }
    }
  });
  return {
    own(obj) {
      items.push(() => obj.free());
      return obj;
    },
    fd(fd) {
      items.push(() => closeSync(fd));
      return fd;
    },
    peer(p) {
      items.push(() => p.kill());
      return p;
    },
    defer(fn) {
      items.push(fn);
    },
  };
}

/** The error `fn` throws (undefined if it returns). */
function thrown(fn) {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

/** pairHandshake whose contexts, configs and fds are all released after the test. */
async function pair(s, serverCfg, clientCfg, servername = 'localhost') {
  s.own(serverCfg);
  s.own(clientCfg);
  const r = await pairHandshake(serverCfg, clientCfg, servername);
  s.fd(r.fds[0]);
  s.fd(r.fds[1]);
  s.own(r.srv);
  s.own(r.acc);
  s.own(r.cli);
  return r;
}

/** `openssl s_server` with `args` that accepts `naccept` connections; killed after the test. */
async function osslServer(s, args, naccept = 1) {
  return s.peer(await opensslServer(args, { naccept }));
}

/**
 * Our client against a separate process (openssl s_server), with the blocking calls: connect,
 * handshake, `inspect(cli)` on success, then close and free (so s_server moves on to its next
 * connection). Returns { err } or { value: inspect's result }.
 */
function handshakeWith(port, config, servername, inspect = () => undefined) {
  const cli = L.client(config);
  try {
    cli.connectServername('127.0.0.1', port, servername);
    try {
      cli.handshake();
    } catch (err) {
      return { err };
    }
    const value = inspect(cli);
    cli.close();
    return { value };
  } finally {
    cli.free();
    config.free();
  }
}

/** The text `openssl x509 -in FILE ARGS` prints. */
function x509(file, ...args) {
  return execFileSync('openssl', ['x509', '-in', pki(file), ...args], { encoding: 'utf8' });
}

/** A date openssl prints ("Nov 26 17:13:12 2026 GMT") as epoch seconds. */
function opensslDate(text) {
  const ms = Date.parse(text.trim());
  assert.ok(Number.isFinite(ms), `cannot parse date ${JSON.stringify(text)}`);
  return ms / 1000;
}

/** "SHA256:<hex>" of a PEM certificate file's DER, via `openssl x509 -outform der`. */
function opensslHash(file) {
  const der = execFileSync('openssl', ['x509', '-in', pki(file), '-outform', 'der']);
  return `SHA256:${sha256(der)}`;
}

/** The fields of `openssl ocsp -resp_text` for a DER response fixture. */
function ocspText(file) {
  const out = execFileSync('openssl', ['ocsp', '-respin', pki(file), '-resp_text', '-noverify'], {
    encoding: 'utf8',
  });
  const field = (name) => {
    const m = out.match(new RegExp(`${name}: (.*)`));
    return m ? opensslDate(m[1]) : null;
  };
  return {
    thisUpdate: field('This Update'),
    nextUpdate: field('Next Update'),
    revocationTime: field('Revocation Time'),
  };
}

/**
 * Our server on 127.0.0.1 (a net.Server whose sockets are taken over with takeFd): each connection
 * is accepted by `cfg`'s server context, handshaken non-blockingly, recorded, sent "hello\n" and
 * closed. `results` gets { ...info(acc) } or { err }.
 */
async function ourServer(s, cfg, info = () => ({})) {
  const srv = L.server(s.own(cfg));
  const results = [];
  const pending = [];
  const ns = net.createServer({ pauseOnConnect: true });
  ns.on('connection', (sock) => {
    pending.push(
      (async () => {
        const fd = L.takeFd(sock);
        const acc = srv.acceptSocket(fd);
        try {
          await untilDone(() => acc.handshake(), fd);
          results.push({ ...info(acc) });
          await untilDone(() => acc.write('hello\n'), fd);
          await untilDone(() => acc.close(), fd);
        } catch (err) {
          results.push({ err });
        } finally {
          acc.free();
          closeSync(fd);
        }
      })(),
    );
  });
  const port = await listen(ns);
  const close = async () => {
    await Promise.all(pending);
    await new Promise((resolve) => ns.close(resolve));
    srv.free();
  };
  s.defer(close);
  return { port, results, close };
}

/**
 * Runs `openssl s_client` against 127.0.0.1:port until it exits (bounded), with `input` as its
 * stdin (-ign_eof: it then waits for the server to close); returns { code, signal, out }.
 */
async function sClient(s, port, args, input = '') {
  const p = s.peer(
    await startPeer(
      'openssl',
      ['s_client', '-connect', `127.0.0.1:${port}`, '-CAfile', pki('ca.crt'), '-ign_eof', ...args],
      { ready: () => true },
    ),
  );
  p.proc.stdin.on('error', () => {}); // EPIPE when s_client exits before reading its stdin
  p.proc.stdin.end(input);
  const exit = await raceTimeout(p.exited, 8000, 'timeout');
  assert.notEqual(exit, 'timeout', `openssl s_client did not exit:\n${p.output()}`);
  return { ...exit, out: p.output() };
}

const GET = 'GET / HTTP/1.0\r\n\r\n';
const nowSec = () => Math.floor(Date.now() / 1000);

// ---- chain, name and time verification: our client against openssl s_server ----

test(
  'a server certificate from an unknown CA fails the handshake: "unable to get local issuer certificate"',
  T,
  async (t) => {
    const s = scope(t);
    const { port } = await osslServer(s, [], 2);
    // the default CA store (no CA set: Debian's libretls then uses OpenSSL's default verify paths,
    // /etc/ssl/certs; Config.defaultCaCertFile() names /etc/ssl/cert.pem, absent here), and a CA
    // list holding only an unrelated certificate
    const viaDefault = handshakeWith(port, new L.Config(), 'localhost');
    assertTlsError(
      viaDefault.err,
      'tls_handshake',
      /^certificate verification failed: unable to get local issuer certificate$/,
    );
    const viaOther = handshakeWith(port, new L.Config().setCa(pem('selfsigned.crt')), 'localhost');
    assertTlsError(
      viaOther.err,
      'tls_handshake',
      /^certificate verification failed: unable to get local issuer certificate$/,
    );
  },
);

test('insecureNoVerifyCert() accepts a server certificate from an unknown CA', T, async (t) => {
  const s = scope(t);
  const { port } = await osslServer(s, []);
  const r = handshakeWith(port, new L.Config().insecureNoVerifyCert(), 'localhost', (c) =>
    c.peerCertSubject(),
  );
  assert.equal(r.err, undefined);
  assert.equal(r.value, '/CN=localhost');
});

test(
  'a servername the certificate lacks fails the handshake; only insecureNoVerifyName() lets it pass',
  T,
  async (t) => {
    const s = scope(t);
    const { port } = await osslServer(s, [], 3);
    const strict = handshakeWith(port, clientConfig(), 'wrong.test');
    assertTlsError(strict.err, 'tls_handshake', /^name `wrong\.test' not present in server certificate$/);
    const noTime = handshakeWith(port, clientConfig().insecureNoVerifyTime(), 'wrong.test');
    assertTlsError(noTime.err, 'tls_handshake', /name `wrong\.test' not present/);
    const noName = handshakeWith(port, clientConfig().insecureNoVerifyName(), 'wrong.test', (c) => [
      c.peerCertSubject(),
      c.peerCertContainsName('wrong.test'),
    ]);
    assert.equal(noName.err, undefined);
    assert.deepEqual(noName.value, ['/CN=localhost', false]);
  },
);

test(
  'with TLS 1.3 a name mismatch fails only the client: the server has already completed its handshake',
  T,
  async (t) => {
    // libtls checks the name after SSL_do_handshake returned, i.e. after the client's Finished went out
    const s = scope(t);
    const r = await pair(s, serverConfig(), clientConfig(), 'wrong.test');
    assertTlsError(r.clientError, 'tls_handshake', /^name `wrong\.test' not present in server certificate$/);
    assert.equal(r.serverError, undefined);
    assert.equal(r.acc.connServername(), 'wrong.test');
  },
);

test(
  'an expired server certificate fails the handshake ("certificate has expired"); only insecureNoVerifyTime() lets it pass',
  T,
  async (t) => {
    const s = scope(t);
    const { port } = await osslServer(s, certArgs('expired'), 3);
    const strict = handshakeWith(port, clientConfig(), 'localhost');
    assertTlsError(strict.err, 'tls_handshake', /^certificate verification failed: certificate has expired$/);
    const noName = handshakeWith(port, clientConfig().insecureNoVerifyName(), 'localhost');
    assertTlsError(noName.err, 'tls_handshake', /certificate has expired/);
    const noTime = handshakeWith(port, clientConfig().insecureNoVerifyTime(), 'localhost', (c) => [
      c.peerCertNotBefore(),
      c.peerCertNotAfter(),
    ]);
    assert.equal(noTime.err, undefined);
    assert.deepEqual(noTime.value, [Date.UTC(2020, 0, 1) / 1000, Date.UTC(2021, 0, 1) / 1000]);
  },
);

test(
  'a not-yet-valid server certificate fails the handshake ("certificate is not yet valid"); insecureNoVerifyTime() lets it pass',
  T,
  async (t) => {
    const s = scope(t);
    const { port } = await osslServer(s, certArgs('notyet'), 2);
    const strict = handshakeWith(port, clientConfig(), 'localhost');
    assertTlsError(
      strict.err,
      'tls_handshake',
      /^certificate verification failed: certificate is not yet valid$/,
    );
    const noTime = handshakeWith(port, clientConfig().insecureNoVerifyTime(), 'localhost', (c) =>
      c.peerCertNotBefore(),
    );
    assert.equal(noTime.err, undefined);
    assert.equal(noTime.value, Date.UTC(2120, 0, 1) / 1000);
  },
);

test(
  'a self-signed server certificate fails the handshake ("self-signed certificate"); insecureNoVerifyCert() or trusting it with setCa() lets it pass',
  T,
  async (t) => {
    const s = scope(t);
    const { port } = await osslServer(s, certArgs('selfsigned'), 3);
    const strict = handshakeWith(port, clientConfig(), 'localhost');
    assertTlsError(strict.err, 'tls_handshake', /^certificate verification failed: self-signed certificate$/);
    const noCert = handshakeWith(port, clientConfig().insecureNoVerifyCert(), 'localhost', (c) =>
      c.peerCertIssuer(),
    );
    assert.equal(noCert.err, undefined);
    assert.equal(noCert.value, '/CN=localhost');
    const pinned = handshakeWith(port, new L.Config().setCa(pem('selfsigned.crt')), 'localhost', (c) =>
      c.peerCertHash(),
    );
    assert.equal(pinned.err, undefined);
    assert.equal(pinned.value, opensslHash('selfsigned.crt'));
  },
);

test(
  'a revoked server certificate fails the handshake with setCrlFile() and with setCrl(bytes) ("certificate revoked"), and passes without a CRL',
  T,
  async (t) => {
    const s = scope(t);
    const { port } = await osslServer(s, certArgs('revoked'), 3);
    const viaFile = handshakeWith(port, clientConfig().setCrlFile(pki('crl.pem')), 'localhost');
    assertTlsError(viaFile.err, 'tls_handshake', /^certificate verification failed: certificate revoked$/);
    const viaMem = handshakeWith(port, clientConfig().setCrl(pem('crl.pem')), 'localhost');
    assertTlsError(viaMem.err, 'tls_handshake', /^certificate verification failed: certificate revoked$/);
    const noCrl = handshakeWith(port, clientConfig(), 'localhost', (c) => c.peerCertSubject());
    assert.equal(noCrl.err, undefined);
    assert.equal(noCrl.value, '/CN=localhost');
  },
);

test('the CRL (option crlFile) does not reject a certificate it does not list', T, async (t) => {
  const s = scope(t);
  const { port } = await osslServer(s, []);
  const r = handshakeWith(port, clientConfig({ crlFile: pki('crl.pem') }), 'localhost', (c) =>
    c.connVersion(),
  );
  assert.equal(r.err, undefined);
  assert.equal(r.value, 'TLSv1.3');
});

test(
  'a NUL byte in a subjectAltName fails name verification for every name, even the CN; insecureNoVerifyName() lets it pass',
  T,
  async (t) => {
    const s = scope(t);
    const { port } = await osslServer(s, certArgs('nulsan'), 3);
    const asLocalhost = handshakeWith(port, clientConfig(), 'localhost');
    assertTlsError(
      asLocalhost.err,
      'tls_handshake',
      /^error verifying name 'localhost': NUL byte in subjectAltName, probably a malicious certificate$/,
    );
    const asCn = handshakeWith(port, clientConfig(), 'nulsan.test');
    assertTlsError(
      asCn.err,
      'tls_handshake',
      /^error verifying name 'nulsan\.test': NUL byte in subjectAltName/,
    );
    const noName = handshakeWith(port, clientConfig().insecureNoVerifyName(), 'localhost', (c) => {
      assert.throws(() => c.peerCertContainsName('localhost\0.evil.test'), TypeError);
      return ['localhost', 'nulsan.test', '.evil.test'].map((n) => c.peerCertContainsName(n));
    });
    assert.equal(noName.err, undefined);
    assert.deepEqual(noName.value, [false, false, false]);
  },
);

test(
  'peerCertContainsName on server.crt: DNS and IP SANs match (case-insensitively, any IPv6 spelling), other names do not',
  T,
  async (t) => {
    const s = scope(t);
    const { port } = await osslServer(s, []);
    const names = [
      'localhost',
      'LOCALHOST',
      '127.0.0.1',
      '::1',
      '0:0:0:0:0:0:0:1',
      'other.test',
      '127.0.0.2',
      'localhost.',
      'host',
    ];
    const r = handshakeWith(port, clientConfig(), 'localhost', (c) =>
      names.map((n) => [n, c.peerCertContainsName(n)]),
    );
    assert.equal(r.err, undefined);
    assert.deepEqual(Object.fromEntries(r.value), {
      localhost: true,
      LOCALHOST: true,
      '127.0.0.1': true,
      '::1': true,
      '0:0:0:0:0:0:0:1': true,
      'other.test': false,
      '127.0.0.2': false,
      'localhost.': false,
      host: false,
    });
  },
);

test(
  'a wildcard SAN (*.wild.test) matches exactly one label: a.wild.test yes, a.b.wild.test and wild.test no',
  T,
  async (t) => {
    const s = scope(t);
    const { port } = await osslServer(s, certArgs('other'), 2);
    const names = [
      'other.test',
      'a.wild.test',
      'A.WILD.TEST',
      'a.b.wild.test',
      'wild.test',
      '*.wild.test',
      'localhost',
    ];
    const r = handshakeWith(port, clientConfig(), 'a.wild.test', (c) =>
      names.map((n) => [n, c.peerCertContainsName(n)]),
    );
    assert.equal(r.err, undefined);
    assert.deepEqual(Object.fromEntries(r.value), {
      'other.test': true,
      'a.wild.test': true,
      'A.WILD.TEST': true,
      'a.b.wild.test': false,
      'wild.test': false,
      // libtls compares the literal "*.wild.test" label by label too: it matches its own pattern
      '*.wild.test': true,
      localhost: false,
    });
    const deep = handshakeWith(port, clientConfig(), 'a.b.wild.test');
    assertTlsError(deep.err, 'tls_handshake', /^name `a\.b\.wild\.test' not present in server certificate$/);
  },
);

// ---- client certificates ----

const requireClient = (extra = {}) => serverConfig({ verifyClient: true, caFile: pki('ca.crt'), ...extra });
const optionalClient = () => serverConfig({ verifyClient: 'optional', caFile: pki('ca.crt') });
const withClientCert = (extra = {}) =>
  clientConfig({ certFile: pki('client.crt'), keyFile: pki('client.key'), ...extra });

for (const protocols of ['tlsv1.2', 'tlsv1.3']) {
  test(
    `verifyClient() with a client certificate (${protocols}): the server sees it (subject, issuer, hash, dates)`,
    T,
    async (t) => {
      const s = scope(t);
      const r = await pair(s, requireClient(), withClientCert({ protocols }));
      assert.equal(r.clientError, undefined);
      assert.equal(r.serverError, undefined);
      assert.equal(r.acc.connVersion(), protocols === 'tlsv1.2' ? 'TLSv1.2' : 'TLSv1.3');
      assert.equal(r.acc.peerCertProvided(), true);
      assert.match(r.acc.peerCertSubject(), /libtls test client/);
      assert.equal(
        r.acc.peerCertSubject(),
        x509('client.crt', '-noout', '-subject', '-nameopt', 'compat')
          .trim()
          .replace(/^subject=/, ''),
      );
      assert.equal(r.acc.peerCertIssuer(), '/CN=libtls test root CA');
      assert.equal(r.acc.peerCertHash(), opensslHash('client.crt'));
      assert.equal(
        r.acc.peerCertNotAfter(),
        opensslDate(x509('client.crt', '-noout', '-enddate').replace(/^notAfter=/, '')),
      );
      assert.equal(r.acc.peerCertContainsName('libtls test client'), true);
    },
  );
}

test('verifyClient() without a client certificate over TLS 1.2: both handshakes fail', T, async (t) => {
  const s = scope(t);
  const r = await pair(s, requireClient(), clientConfig({ protocols: 'tlsv1.2' }));
  assertTlsError(r.clientError, 'tls_handshake', /^handshake failed: .*sslv3 alert handshake failure$/);
  assertTlsError(r.serverError, 'tls_handshake', /^handshake failed: .*peer did not return a certificate$/);
});

test(
  'verifyClient() without a client certificate over TLS 1.3: the client handshake SUCCEEDS and its first read fails with "certificate required"',
  T,
  async (t) => {
    const s = scope(t);
    const r = await pair(s, requireClient(), clientConfig({ protocols: 'tlsv1.3' }));
    assert.equal(r.clientError, undefined);
    assert.equal(r.cli.connVersion(), 'TLSv1.3');
    assertTlsError(r.serverError, 'tls_handshake', /^handshake failed: .*peer did not return a certificate$/);
    let readErr;
    try {
      await untilDone(() => r.cli.read(), r.fds[0], 3000);
    } catch (err) {
      readErr = err;
    }
    assertTlsError(readErr, 'tls_read', /^read failed: .*tlsv13 alert certificate required$/);
  },
);

test('verifyClient() rejects a client certificate from an unknown CA', T, async (t) => {
  const s = scope(t);
  const r = await pair(
    s,
    requireClient(),
    clientConfig({ certFile: pki('selfsigned.crt'), keyFile: pki('selfsigned.key'), protocols: 'tlsv1.2' }),
  );
  assertTlsError(r.serverError, 'tls_handshake', /^handshake failed: .*certificate verify failed$/);
  assertTlsError(r.clientError, 'tls_handshake', /^handshake failed: .*tlsv1 alert unknown ca$/);
});

test(
  'verifyClientOptional() without a client certificate: the handshake succeeds and peerCertProvided() is false',
  T,
  async (t) => {
    const s = scope(t);
    const r = await pair(s, optionalClient(), clientConfig());
    assert.equal(r.clientError, undefined);
    assert.equal(r.serverError, undefined);
    assert.equal(r.acc.peerCertProvided(), false);
    assert.equal(r.acc.peerCertSubject(), null);
    assert.equal(r.acc.peerCertHash(), null);
    assert.equal(r.acc.peerCertChainPem(), null);
  },
);

test(
  'peerCertNotBefore()/NotAfter() without a peer certificate throw TlsError with a message about the missing certificate, not a stale OCSP error',
  T,
  async (t) => {
    // libtls returns -1 from these getters without setting an error; tls_error() then still holds
    // "no peer certificate for OCSP", left by the OCSP set-up at the end of the handshake
    const s = scope(t);
    const r = await pair(s, optionalClient(), clientConfig());
    assert.equal(r.serverError, undefined);
    assert.equal(r.acc.peerCertProvided(), false);
    for (const [m, op] of [
      ['peerCertNotBefore', 'tls_peer_cert_notbefore'],
      ['peerCertNotAfter', 'tls_peer_cert_notafter'],
    ]) {
      const err = thrown(() => r.acc[m]());
      assertTlsError(err, op, /peer certificate/);
      assert.doesNotMatch(err.message, /OCSP/, `${m}() reports a stale, unrelated libtls error`);
    }
  },
);

test('verifyClientOptional() with a client certificate: peerCertProvided() is true', T, async (t) => {
  const s = scope(t);
  const r = await pair(s, optionalClient(), withClientCert());
  assert.equal(r.clientError, undefined);
  assert.equal(r.serverError, undefined);
  assert.equal(r.acc.peerCertProvided(), true);
  assert.equal(r.acc.peerCertSubject(), '/CN=libtls test client');
});

test(
  'our server with verifyClient() accepts openssl s_client -cert client.crt and sees its subject',
  T,
  async (t) => {
    const s = scope(t);
    const srv = await ourServer(s, requireClient(), (acc) => ({ subject: acc.peerCertSubject() }));
    const r = await sClient(s, srv.port, [
      '-servername',
      'localhost',
      '-verify_return_error',
      ...certArgs('client'),
    ]);
    await srv.close();
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /^hello$/m);
    assert.deepEqual(srv.results, [{ subject: '/CN=libtls test client' }]);
  },
);

for (const [flag, alert] of [
  ['-tls1_2', /alert handshake failure/],
  ['-tls1_3', /alert certificate required/],
]) {
  test(
    `our server with verifyClient() rejects openssl s_client without a certificate (${flag})`,
    T,
    async (t) => {
      const s = scope(t);
      const srv = await ourServer(s, requireClient());
      const r = await sClient(s, srv.port, ['-servername', 'localhost', flag]);
      await srv.close();
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, alert);
      assert.doesNotMatch(r.out, /^hello$/m);
      assert.equal(srv.results.length, 1);
      assertTlsError(
        srv.results[0].err,
        'tls_handshake',
        /^handshake failed: .*peer did not return a certificate$/,
      );
    },
  );
}

// ---- ALPN ----

test("ALPN: the server's preference wins (server h2,http/1.1, client http/1.1,h2 -> h2)", T, async (t) => {
  const s = scope(t);
  const r = await pair(s, serverConfig().setAlpn('h2,http/1.1'), clientConfig().setAlpn('http/1.1,h2'));
  assert.equal(r.clientError, undefined);
  assert.equal(r.serverError, undefined);
  assert.equal(r.cli.connAlpnSelected(), 'h2');
  assert.equal(r.acc.connAlpnSelected(), 'h2');
});

test(
  'ALPN without a common protocol: the handshake succeeds and nothing is selected (null)',
  T,
  async (t) => {
    const s = scope(t);
    const r = await pair(s, serverConfig({ alpn: ['h2'] }), clientConfig({ alpn: 'foo' }));
    assert.equal(r.clientError, undefined);
    assert.equal(r.serverError, undefined);
    assert.equal(r.cli.connAlpnSelected(), null);
    assert.equal(r.acc.connAlpnSelected(), null);
  },
);

test('without ALPN on one side or both, connAlpnSelected() is null', T, async (t) => {
  const s = scope(t);
  for (const [sc, cc] of [
    [serverConfig(), clientConfig()],
    [serverConfig(), clientConfig({ alpn: 'h2' })],
    [serverConfig({ alpn: 'h2' }), clientConfig()],
  ]) {
    const r = await pair(s, sc, cc);
    assert.equal(r.clientError, undefined);
    assert.equal(r.cli.connAlpnSelected(), null);
    assert.equal(r.acc.connAlpnSelected(), null);
  }
});

test(
  'ALPN against openssl s_client -alpn: our server selects h2 by its own preference, and nothing without overlap',
  T,
  async (t) => {
    const s = scope(t);
    const srv = await ourServer(s, serverConfig({ alpn: 'h2,http/1.1' }), (acc) => ({
      alpn: acc.connAlpnSelected(),
    }));
    const both = await sClient(s, srv.port, ['-servername', 'localhost', '-alpn', 'http/1.1,h2']);
    assert.equal(both.code, 0, both.out);
    assert.match(both.out, /^ALPN protocol: h2$/m);
    const none = await sClient(s, srv.port, ['-servername', 'localhost', '-alpn', 'foo']);
    assert.equal(none.code, 0, none.out);
    assert.match(none.out, /^No ALPN negotiated$/m);
    await srv.close();
    assert.deepEqual(srv.results, [{ alpn: 'h2' }, { alpn: null }]);
  },
);

test(
  'ALPN against openssl s_server -alpn h2,http/1.1: our client offering http/1.1,h2 gets h2',
  T,
  async (t) => {
    const s = scope(t);
    const { port } = await osslServer(s, ['-alpn', 'h2,http/1.1']);
    const r = handshakeWith(port, clientConfig({ alpn: ['http/1.1', 'h2'] }), 'localhost', (c) =>
      c.connAlpnSelected(),
    );
    assert.equal(r.err, undefined);
    assert.equal(r.value, 'h2');
  },
);

// ---- SNI ----

const sniServer = () =>
  new L.Config()
    .setKeypair(pem('server.crt'), pem('server.key'))
    .addKeypair(pem('other.crt'), pem('other.key'));

test(
  'SNI: addKeypair() certificates are chosen by servername (other.test, x.wild.test), else the first keypair; connServername() reports the name',
  T,
  async (t) => {
    const s = scope(t);
    for (const [name, subject] of [
      ['other.test', '/CN=other.test'],
      ['x.wild.test', '/CN=other.test'],
      ['localhost', '/CN=localhost'],
    ]) {
      const r = await pair(s, sniServer(), clientConfig(), name);
      assert.equal(r.clientError, undefined, `${name}: ${r.clientError}`);
      assert.equal(r.serverError, undefined);
      assert.equal(r.cli.peerCertSubject(), subject);
      assert.equal(r.acc.connServername(), name);
      assert.equal(r.cli.peerCertContainsName(name), true);
    }
    // an unknown name gets the default certificate (and fails name verification unless disabled)
    const unknown = await pair(s, sniServer(), clientConfig().insecureNoVerifyName(), 'unknown.test');
    assert.equal(unknown.clientError, undefined);
    assert.equal(unknown.cli.peerCertSubject(), '/CN=localhost');
    assert.equal(unknown.acc.connServername(), 'unknown.test');
  },
);

test(
  'SNI: a client connecting to an IP address sends no servername (connServername() is null) and gets the default certificate',
  T,
  async (t) => {
    const s = scope(t);
    const r = await pair(s, sniServer(), clientConfig(), '127.0.0.1');
    assert.equal(r.clientError, undefined);
    assert.equal(r.acc.connServername(), null);
    assert.equal(r.cli.peerCertSubject(), '/CN=localhost');
    assert.equal(r.cli.peerCertContainsName('127.0.0.1'), true);
  },
);

test('SNI against openssl s_client -servername x.wild.test: our server presents other.crt', T, async (t) => {
  const s = scope(t);
  const srv = await ourServer(s, sniServer(), (acc) => ({ sni: acc.connServername() }));
  const r = await sClient(s, srv.port, [
    '-servername',
    'x.wild.test',
    '-verify_return_error',
    '-verify_hostname',
    'x.wild.test',
  ]);
  await srv.close();
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /^subject=CN = other\.test$/m);
  assert.match(r.out, /Verify return code: 0 \(ok\)/);
  assert.deepEqual(srv.results, [{ sni: 'x.wild.test' }]);
});

// ---- certificate information ----

test(
  'peerCertHash/Subject/Issuer/NotBefore/NotAfter/ChainPem equal what openssl and node:crypto compute from server.crt',
  T,
  async (t) => {
    const s = scope(t);
    const { port } = await osslServer(s, []);
    const r = handshakeWith(port, clientConfig(), 'localhost', (c) => ({
      hash: c.peerCertHash(),
      subject: c.peerCertSubject(),
      issuer: c.peerCertIssuer(),
      notBefore: c.peerCertNotBefore(),
      notAfter: c.peerCertNotAfter(),
      chain: c.peerCertChainPem(),
      provided: c.peerCertProvided(),
    }));
    assert.equal(r.err, undefined);
    const v = r.value;
    const raw = new X509Certificate(pem('server.crt')).raw;
    assert.equal(v.hash, `SHA256:${sha256(raw)}`);
    assert.equal(v.hash, opensslHash('server.crt'));
    // libtls prints names with X509_NAME_oneline, which is openssl's "compat" name format
    const names = x509('server.crt', '-noout', '-subject', '-issuer', '-nameopt', 'compat');
    assert.equal(`subject=${v.subject}\nissuer=${v.issuer}\n`, names);
    const dates = x509('server.crt', '-noout', '-startdate', '-enddate');
    const [, start] = dates.match(/^notBefore=(.*)$/m);
    const [, end] = dates.match(/^notAfter=(.*)$/m);
    assert.equal(v.notBefore, opensslDate(start));
    assert.equal(v.notAfter, opensslDate(end));
    assert.ok(v.notBefore <= nowSec() && nowSec() < v.notAfter);
    assert.equal(v.chain, readFileSync(pki('server.crt'), 'utf8'));
    assert.equal(v.provided, true);
  },
);

test(
  'peerCertChainPem() returns the whole chain the server sent (server-chain.pem: server cert then CA)',
  T,
  async (t) => {
    const s = scope(t);
    const { port } = await osslServer(s, [
      '-cert',
      pki('server-chain.pem'),
      '-key',
      pki('server.key'),
      '-cert_chain',
      pki('ca.crt'),
    ]);
    const r = handshakeWith(port, clientConfig(), 'localhost', (c) => c.peerCertChainPem());
    assert.equal(r.err, undefined);
    assert.equal(r.value, readFileSync(pki('server.crt'), 'utf8') + readFileSync(pki('ca.crt'), 'utf8'));
    // and from our own server configured with the chain file
    const p = await pair(
      s,
      new L.Config({ certFile: pki('server-chain.pem'), keyFile: pki('server.key') }),
      clientConfig(),
    );
    assert.equal(p.clientError, undefined);
    assert.equal(p.cli.peerCertChainPem(), readFileSync(pki('server-chain.pem'), 'utf8'));
  },
);

test(
  'connCipherStrength() is the key size of connCipher() as `openssl ciphers -v` states it (128 or 256)',
  T,
  async (t) => {
    const s = scope(t);
    const bits = new Map(
      execFileSync('openssl', ['ciphers', '-v', 'ALL'], { encoding: 'utf8' })
        .split('\n')
        .map((l) => l.match(/^(\S+)\s.*Enc=\S+\((\d+)\)/))
        .filter(Boolean)
        .map((m) => [m[1], Number(m[2])]),
    );
    const cases = [
      [['-tls1_3', '-ciphersuites', 'TLS_AES_128_GCM_SHA256'], 'TLS_AES_128_GCM_SHA256'],
      [['-tls1_3', '-ciphersuites', 'TLS_AES_256_GCM_SHA384'], 'TLS_AES_256_GCM_SHA384'],
      [['-tls1_3', '-ciphersuites', 'TLS_CHACHA20_POLY1305_SHA256'], 'TLS_CHACHA20_POLY1305_SHA256'],
      [['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256'], 'ECDHE-ECDSA-AES128-GCM-SHA256'],
      [['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES256-GCM-SHA384'], 'ECDHE-ECDSA-AES256-GCM-SHA384'],
      [['-tls1_2', '-cipher', 'ECDHE-ECDSA-CHACHA20-POLY1305'], 'ECDHE-ECDSA-CHACHA20-POLY1305'],
    ];
    const seen = new Set();
    for (const [args, cipher] of cases) {
      const { port } = await osslServer(s, args);
      const r = handshakeWith(port, clientConfig(), 'localhost', (c) => [
        c.connCipher(),
        c.connCipherStrength(),
      ]);
      assert.equal(r.err, undefined, String(r.err));
      assert.equal(r.value[0], cipher);
      assert.equal(r.value[1], bits.get(cipher), cipher);
      seen.add(r.value[1]);
    }
    assert.deepEqual([...seen].sort(), [128, 256]);
  },
);

// ---- OCSP stapling ----

function assertGoodStaple(cli) {
  assert.equal(cli.peerOcspCertStatus(), L.OCSP_CERT_GOOD);
  assert.equal(cli.peerOcspResponseStatus(), L.OCSP_RESPONSE_SUCCESSFUL);
  assert.equal(cli.peerOcspResult(), 'good');
  assert.equal(cli.peerOcspUrl(), 'http://127.0.0.1:8888/ocsp');
  const thisUpdate = cli.peerOcspThisUpdate();
  const nextUpdate = cli.peerOcspNextUpdate();
  const good = ocspText('ocsp-good.der');
  assert.equal(thisUpdate, good.thisUpdate);
  assert.equal(nextUpdate, good.nextUpdate);
  assert.ok(thisUpdate <= nowSec() + 60, 'thisUpdate is not in the future');
  assert.ok(nextUpdate > nowSec(), 'nextUpdate is in the future');
  assert.equal(nextUpdate - thisUpdate, 7 * 86400);
  // a good certificate has no revocation time: libtls has no value, the getter returns null
  assert.equal(cli.peerOcspRevocationTime(), null);
}

for (const [how, make] of [
  [
    'setKeypairFile(cert, key, staple)',
    () => new L.Config().setKeypairFile(pki('server.crt'), pki('server.key'), pki('ocsp-good.der')),
  ],
  ['setOcspStapleFile()', () => serverConfig().setOcspStapleFile(pki('ocsp-good.der'))],
  ['the ocspStaple option', () => serverConfig({ ocspStaple: pem('ocsp-good.der') })],
  [
    'setKeypair(cert, key, staple bytes)',
    () => new L.Config().setKeypair(pem('server.crt'), pem('server.key'), pem('ocsp-good.der')),
  ],
]) {
  test(
    `a good OCSP staple set with ${how} verifies: OCSP_CERT_GOOD, OCSP_RESPONSE_SUCCESSFUL, sane times, the AIA URL`,
    T,
    async (t) => {
      const s = scope(t);
      const r = await pair(s, make(), clientConfig({ ocspRequireStapling: true }));
      assert.equal(r.clientError, undefined);
      assert.equal(r.serverError, undefined);
      assertGoodStaple(r.cli);
    },
  );
}

test(
  'a good OCSP staple from openssl s_server -status_file verifies in our client (TLS 1.2 and 1.3)',
  T,
  async (t) => {
    const s = scope(t);
    for (const flag of ['-tls1_2', '-tls1_3']) {
      const { port } = await osslServer(s, [flag, '-status_file', pki('ocsp-good.der')]);
      const r = handshakeWith(port, clientConfig().ocspRequireStapling(), 'localhost', (c) => {
        assertGoodStaple(c);
        return c.connVersion();
      });
      assert.equal(r.err, undefined, String(r.err));
      assert.equal(r.value, flag === '-tls1_2' ? 'TLSv1.2' : 'TLSv1.3');
    }
  },
);

test("openssl s_client -status sees our server's staple as good", T, async (t) => {
  const s = scope(t);
  const srv = await ourServer(s, serverConfig({ ocspStaple: pem('ocsp-good.der') }));
  const r = await sClient(s, srv.port, ['-servername', 'localhost', '-status', '-verify_return_error']);
  await srv.close();
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /OCSP Response Status: successful \(0x0\)/);
  assert.match(r.out, /Cert Status: good/);
});

for (const [label, server, re] of [
  [
    'a revoked staple (revoked.crt + ocsp-revoked.der)',
    () => serverFor('revoked').setOcspStapleFile(pki('ocsp-revoked.der')),
    /^ocsp verify failed: revoked cert - keyCompromise$/,
  ],
  [
    'a stale staple (nextUpdate in the past)',
    () => serverConfig().setOcspStapleFile(pki('ocsp-stale.der')),
    /^ocsp verify failed: ocsp response not current$/,
  ],
  // libtls appends strerror(errno) when errno is set: "...: Success" was seen over TLS 1.2
  [
    'a garbage staple',
    () => serverConfig().setOcspStapleFile(pki('ocsp-garbage.der')),
    /^unable to parse OCSP response(: .*)?$/,
  ],
  [
    'a staple for another certificate',
    () => serverConfig().setOcspStapleFile(pki('ocsp-other.der')),
    /^ocsp verify failed: no result for cert$/,
  ],
]) {
  test(`${label} fails the handshake over TLS 1.2 and 1.3`, T, async (t) => {
    const s = scope(t);
    for (const protocols of ['tlsv1.2', 'tlsv1.3']) {
      const r = await pair(s, server(), clientConfig({ protocols }));
      assertTlsError(r.clientError, 'tls_handshake', re);
      assertTlsError(r.serverError, 'tls_handshake', /^handshake failed: .*bad certificate status response$/);
    }
  });
}

test(
  'insecureNoVerifyTime() and insecureNoVerifyCert() also skip the stapled OCSP check: a revoked staple is accepted and not processed',
  T,
  async (t) => {
    const s = scope(t);
    for (const insecure of [{ noVerifyTime: true }, { noVerifyCert: true }]) {
      const r = await pair(
        s,
        serverFor('revoked').setOcspStapleFile(pki('ocsp-revoked.der')),
        clientConfig({ insecure }),
      );
      assert.equal(r.clientError, undefined);
      assert.equal(r.serverError, undefined);
      assert.equal(r.cli.peerOcspUrl(), 'http://127.0.0.1:8888/ocsp');
      assert.throws(
        () => r.cli.peerOcspCertStatus(),
        (e) => e instanceof L.TlsError && e.op === 'tls_peer_ocsp_cert_status',
      );
    }
    // while insecureNoVerifyName() keeps it
    const r = await pair(
      s,
      serverFor('revoked').setOcspStapleFile(pki('ocsp-revoked.der')),
      clientConfig().insecureNoVerifyName(),
    );
    assertTlsError(r.clientError, 'tls_handshake', /^ocsp verify failed: revoked cert - keyCompromise$/);
  },
);

test(
  'ocspRequireStapling() without a staple fails the handshake: "no stapled OCSP response provided"',
  T,
  async (t) => {
    const s = scope(t);
    for (const protocols of ['tlsv1.2', 'tlsv1.3']) {
      const r = await pair(s, serverConfig(), clientConfig({ protocols }).ocspRequireStapling());
      assertTlsError(r.clientError, 'tls_handshake', /^no stapled OCSP response provided$/);
      assertTlsError(r.serverError, 'tls_handshake', /^handshake failed: .*bad certificate status response$/);
    }
    // against openssl s_server, which staples nothing by default
    const { port } = await osslServer(s, []);
    const o = handshakeWith(port, clientConfig({ ocspRequireStapling: true }), 'localhost');
    assertTlsError(o.err, 'tls_handshake', /^no stapled OCSP response provided$/);
  },
);

test(
  'without a staple (and not requiring one) the handshake succeeds, peerOcspUrl() is set and the status getters throw TlsError',
  T,
  async (t) => {
    const s = scope(t);
    const r = await pair(s, serverConfig(), clientConfig());
    assert.equal(r.clientError, undefined);
    assert.equal(r.cli.peerOcspUrl(), 'http://127.0.0.1:8888/ocsp');
    assert.equal(r.cli.peerOcspResult(), null);
    for (const m of [
      'peerOcspCertStatus',
      'peerOcspResponseStatus',
      'peerOcspCrlReason',
      'peerOcspThisUpdate',
      'peerOcspNextUpdate',
      'peerOcspRevocationTime',
    ]) {
      const op = `tls_peer_ocsp_${m
        .slice('peerOcsp'.length)
        .replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
        .slice(1)}`;
      assert.throws(
        () => r.cli[m](),
        (e) =>
          e instanceof L.TlsError &&
          e.op === op &&
          /no OCSP response (has been|was) processed/.test(e.message),
        m,
      );
    }
  },
);

test(
  'ocspProcessResponse(ocsp-good.der) by hand after a handshake without a staple gives OCSP_CERT_GOOD',
  T,
  async (t) => {
    const s = scope(t);
    const r = await pair(s, serverConfig(), clientConfig());
    assert.equal(r.clientError, undefined);
    assert.throws(() => r.cli.peerOcspCertStatus(), L.TlsError);
    assert.equal(r.cli.ocspProcessResponse(readFileSync(pki('ocsp-good.der'))), undefined);
    assertGoodStaple(r.cli);
  },
);

test(
  'ocspProcessResponse(ocsp-revoked.der) against revoked.crt throws "revoked cert - keyCompromise" and leaves OCSP_CERT_REVOKED readable',
  T,
  async (t) => {
    const s = scope(t);
    const r = await pair(s, serverFor('revoked'), clientConfig());
    assert.equal(r.clientError, undefined);
    assert.throws(
      () => r.cli.ocspProcessResponse(pem('ocsp-revoked.der')),
      (e) =>
        e instanceof L.TlsError &&
        e.op === 'tls_ocsp_process_response' &&
        /^ocsp verify failed: revoked cert - keyCompromise$/.test(e.message),
    );
    assert.equal(r.cli.peerOcspCertStatus(), L.OCSP_CERT_REVOKED);
    assert.equal(r.cli.peerOcspResponseStatus(), L.OCSP_RESPONSE_SUCCESSFUL);
    assert.equal(r.cli.peerOcspCrlReason(), L.CRL_REASON_KEY_COMPROMISE);
    assert.equal(r.cli.peerOcspResult(), 'keyCompromise');
    const revoked = ocspText('ocsp-revoked.der');
    assert.equal(r.cli.peerOcspRevocationTime(), revoked.revocationTime);
    assert.equal(r.cli.peerOcspThisUpdate(), revoked.thisUpdate);
    assert.equal(r.cli.peerOcspNextUpdate(), revoked.nextUpdate);
  },
);

test(
  'ocspProcessResponse() of a stale response throws "ocsp response not current" and records no status',
  T,
  async (t) => {
    const s = scope(t);
    const r = await pair(s, serverConfig(), clientConfig());
    assert.equal(r.clientError, undefined);
    assert.throws(
      () => r.cli.ocspProcessResponse(pem('ocsp-stale.der')),
      (e) =>
        e instanceof L.TlsError &&
        e.op === 'tls_ocsp_process_response' &&
        /^ocsp verify failed: ocsp response not current$/.test(e.message),
    );
    assert.throws(
      () => r.cli.peerOcspCertStatus(),
      (e) => e instanceof L.TlsError && e.op === 'tls_peer_ocsp_cert_status',
    );
    assert.equal(r.cli.peerOcspResult(), null);
  },
);

test(
  'ocspProcessResponse() of garbage throws "unable to parse OCSP response", drops the OCSP state, and a later call is refused',
  T,
  async (t) => {
    const s = scope(t);
    const r = await pair(s, serverConfig(), clientConfig());
    assert.equal(r.clientError, undefined);
    assert.throws(
      () => r.cli.ocspProcessResponse(pem('ocsp-garbage.der')),
      (e) =>
        e instanceof L.TlsError &&
        e.op === 'tls_ocsp_process_response' &&
        /^unable to parse OCSP response/.test(e.message),
    );
    assert.equal(r.cli.peerOcspUrl(), null); // libtls freed ctx->ocsp
    assert.throws(
      () => r.cli.ocspProcessResponse(pem('ocsp-good.der')),
      (e) => e instanceof L.TlsError && e.op === 'tls_ocsp_process_response',
    );
  },
);

test(
  'peerOcspUrl() is null for a peer certificate without an OCSP responder (other.crt has no AIA)',
  T,
  async (t) => {
    const s = scope(t);
    const r = await pair(s, serverFor('other'), clientConfig(), 'other.test');
    assert.equal(r.clientError, undefined);
    assert.equal(r.cli.peerOcspUrl(), null);
    assert.equal(r.cli.peerOcspResult(), null);
  },
);

test(
  'ocspProcessResponse() on a client whose peer certificate has no OCSP URL throws TlsError instead of crashing',
  T,
  async () => {
    // libtls only sets up its OCSP state (ctx->ocsp) for a certificate with an AIA OCSP URL, and
    // tls_ocsp_process_response() dereferences it unchecked: run the call in a child process.
    const code = `
    import { closeSync } from 'node:fs';
    import { clientConfig, L, pairHandshake, pem, pki } from ${JSON.stringify(helpersUrl)};
    const r = await pairHandshake(new L.Config({ certFile: pki('other.crt'), keyFile: pki('other.key') }), clientConfig(), 'other.test');
    if (r.clientError) throw r.clientError;
    let out;
    try {
      r.cli.ocspProcessResponse(pem('ocsp-good.der'));
      out = { returned: true };
    } catch (e) {
      out = { tlsError: e instanceof L.TlsError, op: e.op, message: e.message };
    }
    r.cli.free(); r.acc.free(); r.srv.free();
    for (const fd of r.fds) closeSync(fd);
    process.stdout.write(JSON.stringify(out));
  `;
    const res = await runNodeScript(code, { timeout: 10_000 });
    assert.equal(res.signal, null, `the child died of ${res.signal} (stderr: ${res.stderr})`);
    assert.equal(res.status, 0, res.stderr);
    const out = JSON.parse(res.stdout);
    assert.equal(out.tlsError, true, res.stdout);
    assert.equal(out.op, 'tls_ocsp_process_response');
    assert.match(out.message, /OCSP/);
  },
);

// ---- session resumption ----

test('our client resumes a TLS 1.2 session through setSessionFd() against openssl s_server', T, async (t) => {
  const s = scope(t);
  const dir = tempDir(s.defer);
  const fd = s.fd(openSync(`${dir}/session`, 'w+', 0o600));
  const { port } = await osslServer(s, ['-tls1_2'], 2);
  const first = handshakeWith(port, clientConfig().setSessionFd(fd), 'localhost', (c) => [
    c.connVersion(),
    c.connSessionResumed(),
  ]);
  assert.equal(first.err, undefined);
  assert.deepEqual(first.value, ['TLSv1.2', false]);
  assert.ok(statSync(`${dir}/session`).size > 0, 'the session was saved to the file');
  const second = handshakeWith(port, clientConfig().setSessionFd(fd), 'localhost', (c) => [
    c.connVersion(),
    c.connSessionResumed(),
  ]);
  assert.equal(second.err, undefined);
  assert.deepEqual(second.value, ['TLSv1.2', true]);
});

test(
  'our client does NOT resume over TLS 1.3 through setSessionFd() on libretls 3.7 (the session is saved before the ticket arrives), though openssl s_server resumes TLS 1.3',
  T,
  async (t) => {
    const s = scope(t);
    const dir = tempDir(s.defer);
    const file = `${dir}/session`;
    const fd = s.fd(openSync(file, 'w+', 0o600));
    const { port } = await osslServer(s, ['-tls1_3', '-www'], 2);
    const use = (c) => {
      // read the whole response, so the server's TLS 1.3 tickets have certainly been received
      assert.equal(c.write('GET / HTTP/1.0\r\n\r\n'), 18);
      let body = '';
      for (let i = 0; i < 1000; i++) {
        const b = c.read();
        if (b === null) break;
        if (typeof b !== 'number') body += b;
      }
      assert.match(body, /^HTTP\/1\.0 200 ok/);
      return [c.connVersion(), c.connSessionResumed()];
    };
    const first = handshakeWith(port, clientConfig().setSessionFd(fd), 'localhost', use);
    assert.equal(first.err, undefined);
    assert.deepEqual(first.value, ['TLSv1.3', false]);
    const saved = readFileSync(file);
    assert.ok(saved.length > 0, 'a session was saved');
    const second = handshakeWith(port, clientConfig().setSessionFd(fd), 'localhost', use);
    assert.equal(second.err, undefined);
    assert.deepEqual(second.value, ['TLSv1.3', false]);

    // control: the same server software does resume TLS 1.3 for openssl s_client
    const ctl = await osslServer(s, ['-tls1_3', '-www'], 2);
    const sess = `${dir}/ctl`;
    const a = await sClient(s, ctl.port, ['-servername', 'localhost', '-sess_out', sess], GET);
    const b = await sClient(s, ctl.port, ['-servername', 'localhost', '-sess_in', sess], GET);
    assert.match(a.out, /^New, TLSv1\.3/m);
    assert.match(b.out, /^Reused, TLSv1\.3/m, b.out);
  },
);

for (const flag of ['-tls1_2', '-tls1_3']) {
  test(
    `our server issues no session ID and no ticket on libretls 3.7 even with setSessionLifetime(300) + addTicketKey(): openssl s_client (${flag}) has no session to save or reuse`,
    T,
    async (t) => {
      const s = scope(t);
      const dir = tempDir(s.defer);
      const sess = `${dir}/session`;
      const cfg = serverConfig().setSessionLifetime(300).addTicketKey(1, randomBytes(L.TICKET_KEY_SIZE));
      const srv = await ourServer(s, cfg, (acc) => ({
        version: acc.connVersion(),
        resumed: acc.connSessionResumed(),
      }));
      const first = await sClient(s, srv.port, ['-servername', 'localhost', flag, '-sess_out', sess]);
      assert.equal(first.code, 0, first.out);
      assert.match(first.out, /^hello$/m);
      assert.match(first.out, flag === '-tls1_2' ? /^New, TLSv1\.2,/m : /^New, TLSv1\.3,/m);
      assert.doesNotMatch(first.out, /TLS session ticket/);
      if (flag === '-tls1_2') assert.match(first.out, /^\s*Session-ID: *$/m);
      assert.equal(existsSync(sess), false, 's_client got no resumable session to write');
      const second = await sClient(s, srv.port, ['-servername', 'localhost', flag, '-sess_in', sess]);
      assert.equal(second.code, 1);
      assert.match(second.out, /Can't open session file/);
      await srv.close();
      const version = flag === '-tls1_2' ? 'TLSv1.2' : 'TLSv1.3';
      assert.deepEqual(srv.results, [{ version, resumed: false }]);

      // control: openssl s_server, with the same s_client sequence, hands out a session that is reused
      const ctl = await osslServer(s, [flag, '-www'], 2);
      const ctlSess = `${dir}/ctl`;
      const a = await sClient(s, ctl.port, ['-servername', 'localhost', flag, '-sess_out', ctlSess], GET);
      assert.equal(a.code, 0, a.out);
      assert.match(a.out, /TLS session ticket/);
      const b = await sClient(s, ctl.port, ['-servername', 'localhost', flag, '-sess_in', ctlSess], GET);
      assert.match(b.out, new RegExp(`^Reused, ${version.replace('.', '\\.')},`, 'm'), b.out);
    },
  );
}
