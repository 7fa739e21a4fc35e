// TlsSocket's connection info: version, cipher, ALPN, certificates, staples, and null where absent.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  certArgs,
  clientConfig,
  L,
  pem,
  pki,
  readAll,
  serverConfig,
  sha256,
  startPeer,
  waitFor,
} from '../support/helpers.mjs';
import { cliCfg, connectTo, consume, startServer, stopServer, T } from '../support/sockets.mjs';

describe('connection info', () => {
  test(
    'after the handshake both sides report version, cipher, ALPN, SNI, certificates, OCSP and addresses',
    T,
    async () => {
      // a staple, and (below, on another server) a client certificate: a TLS 1.3 server of
      // LibreSSL's that does both puts its staple where its own client refuses it (next test)
      const scfg = serverConfig({ alpn: ['h2', 'http/1.1'], ocspStaple: pem('ocsp-good.der') });
      const ccfg = clientConfig({
        alpn: 'http/1.1',
        certFile: pki('client.crt'),
        keyFile: pki('client.key'),
      });
      const acfg = serverConfig().setCaFile(pki('ca.crt')).verifyClientOptional();
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
        assert.equal(ss.peerCertificate, null, 'no client certificate was asked for');

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

        let as;
        const asked = await startServer({ config: acfg }, (s) => {
          as = s;
          consume(s);
        });
        try {
          const c2 = await connectTo(asked.port, { config: ccfg });
          assert.ok(await waitFor(() => as !== undefined));
          assert.equal(as.version, 'TLSv1.3');
          assert.equal(as.peerCertificate.subject, '/CN=libtls test client');
          assert.equal(
            as.peerCertificate.hash,
            `SHA256:${sha256(new X509Certificate(pem('client.crt')).raw)}`,
          );
          assert.equal(c2.ocsp, null);
          c2.destroy();
        } finally {
          await stopServer(asked.srv);
        }
      } finally {
        await stopServer(srv);
        scfg.free();
        ccfg.free();
        acfg.free();
      }
    },
  );

  /**
   * The extensions of the TLS 1.3 CertificateRequest our server on `port` sends openssl s_client
   * (which offers a client certificate and asks for a staple), read from its -msg dump.
   */
  async function certificateRequestExtensions(port) {
    const peer = await startPeer('openssl', [
      's_client',
      '-connect',
      `127.0.0.1:${port}`,
      '-servername',
      'localhost',
      '-CAfile',
      pki('ca.crt'),
      ...certArgs('client'),
      '-status',
      '-tls1_3',
      '-msg',
    ]);
    try {
      await waitFor(() => /Verify return code/.test(peer.output()), 5000);
      const out = peer.output();
      const dump =
        /<<< TLS 1\.3, Handshake \[length [0-9a-f]+\], CertificateRequest\n((?:\s+[0-9a-f]{2}(?: [0-9a-f]{2})*\n)+)/.exec(
          out,
        );
      assert.ok(dump !== null, out);
      const bytes = Buffer.from((dump[1] ?? '').replace(/\s+/g, ''), 'hex');
      // type(1) length(3) context length(1) context, extensions length(2), extensions
      let o = 4 + 1 + (bytes[4] ?? 0);
      const end = o + 2 + bytes.readUInt16BE(o);
      o += 2;
      const types = [];
      while (o + 4 <= end) {
        types.push(bytes.readUInt16BE(o));
        o += 4 + bytes.readUInt16BE(o + 2);
      }
      return { types, completed: /New, TLSv1\.3/.test(out) };
    } finally {
      await peer.kill();
    }
  }

  test(
    'TLS 1.3, a staple and a client certificate request: our client handshakes with our server exactly when the CertificateRequest carries no status_request (LibreSSL puts the staple there and its client refuses it); openssl s_client completes either way',
    T,
    async () => {
      const scfg = serverConfig({ ocspStaple: pem('ocsp-good.der') });
      scfg.setCaFile(pki('ca.crt')).verifyClientOptional();
      const ccfg = clientConfig({ certFile: pki('client.crt'), keyFile: pki('client.key') });
      const failures = [];
      const { srv, port } = await startServer({ config: scfg }, consume);
      srv.on('tlsClientError', (e) => failures.push(e));
      try {
        const cr = await certificateRequestExtensions(port);
        assert.ok(cr.completed, 'openssl s_client completed its handshake');
        assert.ok(cr.types.includes(13), `signature_algorithms in ${cr.types}`);
        const stapleInRequest = cr.types.includes(5);
        const result = await connectTo(port, { config: ccfg }).then(
          (c) => {
            c.destroy();
            return 'connected';
          },
          (e) => e,
        );
        if (stapleInRequest) {
          // the client reads status_request in a CertificateRequest as a request, not a response
          assert.ok(result instanceof L.TlsError, String(result));
          assert.equal(result.code, 'ERR_SSL_LENGTH_MISMATCH', result.message);
        } else {
          assert.equal(result, 'connected');
        }
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
