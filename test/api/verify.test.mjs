// Verification of the peer's certificate against real peers: unknown CA, names (SANs, wildcards,
// NUL bytes), validity times, CRLs, and what each insecureNoVerify*() lets pass. Every libtls error
// text asserted below was observed on libretls 3.7.0 + OpenSSL 3.0 (Debian 12).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  assertTlsCode,
  assertTlsError,
  certArgs,
  clientConfig,
  L,
  nulSanMessage,
  pem,
  pki,
  serverConfig,
} from '../support/helpers.mjs';
import { handshakeWith, opensslHash, osslServer, pair, scope } from '../support/peers.mjs';

const T = { timeout: 20_000 };

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
    assertTlsCode(
      strict.err,
      'tls_handshake',
      'DEPTH_ZERO_SELF_SIGNED_CERT',
      /^certificate verification failed: \S/,
    );
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
  'a NUL byte in a subjectAltName fails verification for every name, even the CN; insecureNoVerifyName() lets it pass where only the name check refuses it, and then no name matches',
  T,
  async (t) => {
    const s = scope(t);
    const { port } = await osslServer(s, certArgs('nulsan'), 4);
    const verifierRefuses = L.backend.crypto.library === 'libressl';
    // libretls: libtls's own name check refuses it; LibreSSL: its verifier refuses the certificate
    // first (X509_V_ERR_UNSUPPORTED_NAME_SYNTAX, which node:tls names UNSPECIFIED)
    const nulSan = { openssl: 'ERR_TLS_CERT_ALTNAME_INVALID', libressl: 'UNSPECIFIED' };
    const asLocalhost = handshakeWith(port, clientConfig(), 'localhost');
    assertTlsCode(asLocalhost.err, 'tls_handshake', nulSan, nulSanMessage('localhost'));
    const asCn = handshakeWith(port, clientConfig(), 'nulsan.test');
    assertTlsCode(asCn.err, 'tls_handshake', nulSan, nulSanMessage('nulsan.test'));
    const names = (c) => {
      assert.throws(() => c.peerCertContainsName('localhost\0.evil.test'), TypeError);
      return ['localhost', 'nulsan.test', '.evil.test'].map((n) => c.peerCertContainsName(n));
    };
    const noName = handshakeWith(port, clientConfig().insecureNoVerifyName(), 'localhost', names);
    if (verifierRefuses) {
      // the certificate itself is refused, whatever the name: only noVerifyCert gets past it
      assertTlsCode(noName.err, 'tls_handshake', 'UNSPECIFIED', nulSanMessage('localhost'));
      const noCert = handshakeWith(
        port,
        clientConfig().insecureNoVerifyCert().insecureNoVerifyName(),
        'localhost',
        names,
      );
      assert.deepEqual(noCert, { value: [false, false, false] });
    } else {
      assert.equal(noName.err, undefined);
      assert.deepEqual(noName.value, [false, false, false]);
    }
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
