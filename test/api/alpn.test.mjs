// ALPN negotiation: whose preference wins, no overlap, one side without ALPN, and openssl on
// either side (connAlpnSelected()).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertTlsCode, clientConfig, L, serverConfig } from '../support/helpers.mjs';
import { handshakeWith, osslServer, ourServer, pair, sClient, scope } from '../support/peers.mjs';

const T = { timeout: 20_000 };

test("ALPN: the server's preference wins (server h2,http/1.1, client http/1.1,h2 -> h2)", T, async (t) => {
  const s = scope(t);
  const r = await pair(s, serverConfig().setAlpn('h2,http/1.1'), clientConfig().setAlpn('http/1.1,h2'));
  assert.equal(r.clientError, undefined);
  assert.equal(r.serverError, undefined);
  assert.equal(r.cli.connAlpnSelected(), 'h2');
  assert.equal(r.acc.connAlpnSelected(), 'h2');
});

test(
  'ALPN without a common protocol: the handshake succeeds with nothing selected (null), or fails with no_application_protocol, as backend.capabilities.alpnMismatch says',
  T,
  async (t) => {
    const s = scope(t);
    const r = await pair(s, serverConfig({ alpn: ['h2'] }), clientConfig({ alpn: 'foo' }));
    if (L.backend.capabilities.alpnMismatch === 'ignore') {
      assert.equal(r.clientError, undefined);
      assert.equal(r.serverError, undefined);
      assert.equal(r.cli.connAlpnSelected(), null);
      assert.equal(r.acc.connAlpnSelected(), null);
    } else {
      assertTlsCode(
        r.serverError,
        'tls_handshake',
        'ERR_SSL_NO_APPLICATION_PROTOCOL',
        /^handshake failed: \S/,
      );
      assertTlsCode(
        r.clientError,
        'tls_handshake',
        'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL',
        /^handshake failed: \S/,
      );
    }
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
  'ALPN against openssl s_client -alpn: our server selects h2 by its own preference; without overlap nothing, or a no_application_protocol alert (alpnMismatch)',
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
    await srv.close();
    assert.deepEqual(srv.results[0], { alpn: 'h2' });
    assert.equal(srv.results.length, 2);
    if (L.backend.capabilities.alpnMismatch === 'ignore') {
      assert.equal(none.code, 0, none.out);
      assert.match(none.out, /^No ALPN negotiated$/m);
      assert.deepEqual(srv.results[1], { alpn: null });
    } else {
      assert.notEqual(none.code, 0, none.out);
      assert.match(none.out, /alert no application protocol/, none.out);
      assertTlsCode(srv.results[1].err, 'tls_handshake', 'ERR_SSL_NO_APPLICATION_PROTOCOL');
    }
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
