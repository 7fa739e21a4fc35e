// TlsSocket's connection info: version, cipher, ALPN, certificates, staples, and null where absent.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import { clientConfig, L, pem, pki, readAll, serverConfig, sha256, waitFor } from '../support/helpers.mjs';
import { cliCfg, connectTo, consume, startServer, stopServer, T } from '../support/sockets.mjs';

describe('connection info', () => {
  test(
    'after the handshake both sides report version, cipher, ALPN, SNI, certificates, OCSP and addresses',
    T,
    async () => {
      const scfg = serverConfig({ alpn: ['h2', 'http/1.1'], ocspStaple: pem('ocsp-good.der') });
      const ccfg = clientConfig({
        alpn: 'http/1.1',
        certFile: pki('client.crt'),
        keyFile: pki('client.key'),
      });
      scfg.setCaFile(pki('ca.crt')).verifyClientOptional();
      let ss;
      const { srv, port } = await startServer({ config: scfg }, (s) => {
        ss = s;
        consume(s);
      });
      try {
        const c = await connectTo(port, { config: ccfg });
        assert.ok(await waitFor(() => ss !== undefined));
        assert.equal(ss.secure, true);
        for (const s of [c, ss]) {
          assert.equal(s.version, 'TLSv1.3');
          assert.match(s.cipher, /^TLS_(AES_256_GCM_SHA384|AES_128_GCM_SHA256|CHACHA20_POLY1305_SHA256)$/);
          assert.ok([128, 256].includes(s.cipherStrength), String(s.cipherStrength));
          assert.equal(s.alpnProtocol, 'http/1.1');
          assert.equal(s.sessionResumed, false);
        }
        assert.equal(c.cipher, ss.cipher);
        assert.equal(c.cipherStrength, ss.cipherStrength);
        assert.equal(ss.servername, 'localhost');

        const x = new X509Certificate(pem('server.crt'));
        const pc = c.peerCertificate;
        assert.equal(pc.subject, '/CN=localhost');
        assert.equal(pc.issuer, `/${new X509Certificate(pem('ca.crt')).subject.replace(/\n/g, '/')}`);
        assert.equal(pc.hash, `SHA256:${sha256(x.raw)}`);
        assert.ok(pc.notBefore instanceof Date && pc.notAfter instanceof Date);
        assert.equal(pc.notBefore.getTime(), new Date(x.validFrom).getTime());
        assert.equal(pc.notAfter.getTime(), new Date(x.validTo).getTime());
        assert.ok(pc.chainPem.includes(x.toString().trim()), pc.chainPem);
        assert.equal(ss.peerCertificate.subject, '/CN=libtls test client');
        assert.equal(ss.peerCertificate.hash, `SHA256:${sha256(new X509Certificate(pem('client.crt')).raw)}`);

        assert.equal(c.ocsp.certStatus, L.OCSP_CERT_GOOD);
        assert.equal(c.ocsp.responseStatus, L.OCSP_RESPONSE_SUCCESSFUL);
        assert.ok(c.ocsp.thisUpdate instanceof Date);
        assert.equal(ss.ocsp, null);

        assert.equal(c.remoteAddress, '127.0.0.1');
        assert.equal(c.remotePort, port);
        assert.equal(c.remoteFamily, 'IPv4');
        assert.equal(c.localAddress, ss.remoteAddress);
        assert.equal(c.localPort, ss.remotePort);
        assert.equal(ss.localAddress, '127.0.0.1');
        assert.equal(ss.localPort, port);
        c.destroy();
      } finally {
        await stopServer(srv);
        scfg.free();
        ccfg.free();
      }
    },
  );

  test('without ALPN, a staple or a client certificate those getters are null', T, async () => {
    let ss;
    const { srv, port } = await startServer({}, (s) => {
      ss = s;
      consume(s);
    });
    try {
      const c = await connectTo(port);
      assert.ok(await waitFor(() => ss !== undefined));
      // false, as node:tls says when no protocol was agreed
      assert.equal(c.alpnProtocol, false);
      assert.equal(ss.alpnProtocol, false);
      assert.equal(c.ocsp, null);
      assert.equal(ss.peerCertificate, null);
      assert.equal(c.peerCertificate.subject, '/CN=localhost');
      c.destroy();
    } finally {
      await stopServer(srv);
    }
  });

  test(
    "IPv6: a server on '::1' and connect({ host: '::1' }) verify the IP SAN and report IPv6 addresses",
    T,
    async () => {
      let ss;
      const { srv, port } = await startServer(
        {},
        (s) => {
          ss = s;
          consume(s);
          s.end('over ipv6');
        },
        '::1',
      );
      try {
        const c = await L.connect({ host: '::1', port, config: cliCfg });
        assert.equal(c.servername, false, 'no SNI is sent for an IP address (false, as node:tls)');
        assert.equal(String(await readAll(c)), 'over ipv6');
        assert.equal(c.remoteAddress, '::1');
        assert.equal(c.remoteFamily, 'IPv6');
        assert.equal(c.remotePort, port);
        assert.equal(ss.remoteAddress, '::1');
        assert.equal(ss.remotePort, c.localPort);
        assert.equal(ss.servername, false, 'no SNI is sent for an IP address (false, as node:tls)');
      } finally {
        await stopServer(srv);
      }
    },
  );
});
