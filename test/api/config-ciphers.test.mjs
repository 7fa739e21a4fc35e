// Config.setCiphers(), preferCiphersClient()/Server(), setEcdhecurves(), setDheparams() and their
// options: the suite and key exchange a handshake negotiates, and what the defaults refuse.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { againstOpenssl, handshake, throwsArg } from '../support/config.mjs';
import { assertDisjointCurves, clientConfig, L, pki, serverConfig, serverFor } from '../support/helpers.mjs';

const { Config, TlsError } = L;

const AES128 = 'ECDHE-ECDSA-AES128-GCM-SHA256';

const AES256 = 'ECDHE-ECDSA-AES256-GCM-SHA384';

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

    test('libtls peers with disjoint curve lists fail: the server finds no key share (TLS 1.3)', async () => {
      const r = await handshake(
        serverConfig().setEcdhecurves('P-256'),
        clientConfig().setEcdhecurves('P-384'),
        { stopClient: true },
      );
      assertDisjointCurves(r.serverError, r.clientError);
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
});

describe('the options object', () => {
  test("preferCiphers: 'bogus' is a TypeError", () => {
    throwsArg(
      () => new Config({ preferCiphers: 'bogus' }),
      TypeError,
      /preferCiphers must be 'client' or 'server'/,
    );
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
      { stopClient: true },
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
    assertDisjointCurves(curves.serverError, curves.clientError);
    assert.equal(dhe.cipher, 'DHE-RSA-AES128-GCM-SHA256');
  });
});
