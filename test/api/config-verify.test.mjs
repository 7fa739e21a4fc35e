// Verification settings: setCa*/setCrl*, setVerifyDepth(), verify()/insecureNoVerify*(),
// verifyClient()/verifyClientOptional() and their options, proven by handshakes.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, copyFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { handshake, serverHash, withConfig } from '../support/config.mjs';
import {
  assertTlsCode,
  clientConfig,
  L,
  oneIntermediateChain,
  pem,
  pki,
  serverConfig,
  serverFor,
  tempDir,
  throwsTls,
} from '../support/helpers.mjs';

const { Config } = L;

const { systemCaSource } = await import('../../dist/config.js');

const removals = [];

/** A fresh temp dir, removed once this file's tests are done. */
const tmpDir = () => tempDir((remove) => removals.push(remove));

const selfsignedServer = () => serverFor('selfsigned');

const expiredServer = () => serverFor('expired');

const revokedServer = () => serverFor('revoked');

describe('libtls failures throw TlsError naming the libtls function', () => {
  test('setCaFile on a directory fails in libtls', () => {
    withConfig((c) => throwsTls(() => c.setCaFile(os.tmpdir()), 'tls_config_set_ca_file', /CA file/));
  });
});

describe('setter effects proven by a handshake', () => {
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
      assertTlsCode(
        strict.clientError,
        'tls_handshake',
        'DEPTH_ZERO_SELF_SIGNED_CERT',
        /^certificate verification failed: \S/,
      );
      assert.equal(loose.clientError, undefined);
      assertTlsCode(
        back.clientError,
        'tls_handshake',
        'DEPTH_ZERO_SELF_SIGNED_CERT',
        /^certificate verification failed: \S/,
      );
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
        oneIntermediateChain(dir);
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
});

describe('the options object', () => {
  test('insecure.noVerifyCert accepts a self-signed server; false leaves verification on', async () => {
    const on = await handshake(selfsignedServer(), clientConfig({ insecure: { noVerifyCert: true } }));
    const off = await handshake(selfsignedServer(), clientConfig({ insecure: { noVerifyCert: false } }));
    assert.equal(on.clientError, undefined);
    assertTlsCode(
      off.clientError,
      'tls_handshake',
      'DEPTH_ZERO_SELF_SIGNED_CERT',
      /^certificate verification failed: \S/,
    );
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
});

describe('Config.loadFile and Config.defaultCaCertFile', () => {
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
