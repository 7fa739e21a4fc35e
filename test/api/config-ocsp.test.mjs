// OCSP stapling settings: setOcspStaple*(), the staple of setKeypair*/addKeypair*, and
// ocspRequireStapling(), proven by handshakes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { handshake, serverHash } from '../support/config.mjs';
import { clientConfig, L, pem, pki, serverConfig, serverFor } from '../support/helpers.mjs';

const { Config } = L;

describe('setter effects proven by a handshake', () => {
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
});

describe('the options object', () => {
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

  test('cert + key + ocspStaple options build a stapling server', async () => {
    const r = await handshake(
      new Config({ cert: pem('server.crt'), key: pem('server.key'), ocspStaple: pem('ocsp-good.der') }),
      clientConfig({ ocspRequireStapling: true }),
      { inspect: ({ cli }) => ({ ocsp: cli.peerOcspCertStatus() }) },
    );
    assert.equal(r.ocsp, L.OCSP_CERT_GOOD);
  });
});
