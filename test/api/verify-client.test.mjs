// Client certificates: verifyClient() and verifyClientOptional() on our server, against our client
// and openssl s_client, over TLS 1.2 and 1.3.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  assertTlsCode,
  assertTlsError,
  certArgs,
  clientConfig,
  pki,
  serverConfig,
  untilDone,
} from '../support/helpers.mjs';
import { opensslDate, opensslHash, ourServer, pair, sClient, scope, x509 } from '../support/peers.mjs';

const T = { timeout: 20_000 };

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
  // LibreSSL's TLS 1.2 server reports a client certificate that fails verification as
  // SSL_R_NO_CERTIFICATE_RETURNED; both send unknown_ca
  assertTlsCode(
    r.serverError,
    'tls_handshake',
    { openssl: 'ERR_SSL_CERTIFICATE_VERIFY_FAILED', libressl: 'ERR_SSL_NO_CERTIFICATE_RETURNED' },
    /^handshake failed: \S/,
  );
  assertTlsCode(r.clientError, 'tls_handshake', 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', /^handshake failed: \S/);
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
