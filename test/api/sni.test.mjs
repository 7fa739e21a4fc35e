// SNI: the keypair chosen by servername, an IP address sending none, and openssl s_client
// (connServername()).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clientConfig, L, pem } from '../support/helpers.mjs';
import { ourServer, pair, sClient, scope } from '../support/peers.mjs';

const T = { timeout: 20_000 };

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
