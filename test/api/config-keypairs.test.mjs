// Certificates and keys: setCert/setKey (file and memory), setKeypair*, addKeypair* (SNI),
// clearKeys(), the `keypairs` option and Config.loadFile() for encrypted keys.
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { describe, test } from 'node:test';
import { handshake, handshakeContexts, serverHash, throwsArg, withConfig } from '../support/config.mjs';
import { clientConfig, L, pem, pki, serverConfig, throwsTls } from '../support/helpers.mjs';

const { Config } = L;

/** Asserts that server() refuses `cfg` with a TlsError from tls_configure matching `re`; frees `cfg`. */
function serverFails(cfg, re) {
  try {
    throwsTls(() => L.server(cfg), 'tls_configure', re);
  } finally {
    cfg.free();
  }
}

describe('bad arguments are refused before C', () => {
  test('keypair file setters check each of cert, key and staple path', () => {
    withConfig((c) => {
      for (const m of ['setKeypairFile', 'addKeypairFile']) {
        throwsArg(() => c[m]('', pki('server.key')), TypeError, /certFile must not be empty/);
        throwsArg(() => c[m](pki('server.crt'), 7), TypeError, /keyFile must be a string/);
        throwsArg(
          () => c[m](pki('server.crt'), `${pki('server.key')}\0`),
          TypeError,
          /keyFile must not contain NUL/,
        );
        throwsArg(
          () => c[m](pki('server.crt'), pki('server.key'), ''),
          TypeError,
          /ocspStapleFile must not be empty/,
        );
      }
    });
  });
});

describe('setter effects proven by a handshake', () => {
  describe('certificates and keys', () => {
    test('setCert + setKey from memory present the same certificate as setCertFile + setKeyFile', async () => {
      const fromMem = await handshake(
        new Config().setCert(pem('server.crt')).setKey(pem('server.key').toString()),
        clientConfig(),
      );
      const fromFile = await handshake(
        new Config().setCertFile(pki('server.crt')).setKeyFile(pki('server.key')),
        clientConfig(),
      );
      assert.equal(fromMem.clientError, undefined);
      assert.equal(fromMem.peerHash, fromFile.peerHash);
      assert.equal(fromMem.peerHash, serverHash());
    });

    test('setKeypairFile and setKeypair are equivalent to separate cert and key', async () => {
      const a = await handshake(
        new Config().setKeypairFile(pki('server.crt'), pki('server.key')),
        clientConfig(),
      );
      const b = await handshake(
        new Config().setKeypair(pem('server.crt'), pem('server.key')),
        clientConfig(),
      );
      assert.equal(a.peerHash, serverHash());
      assert.equal(b.peerHash, serverHash());
    });

    test('setKey with a garbage key makes server() fail in tls_configure', () => {
      serverFails(new Config().setCert(pem('server.crt')).setKey('garbage'), /failed to read private key/);
    });

    test('setKey with the key of another certificate makes server() fail in tls_configure', () => {
      serverFails(new Config().setCert(pem('server.crt')).setKey(pem('other.key')), /private key/);
    });

    test('addKeypairFile serves the other certificate by SNI', async () => {
      const r = await handshake(
        serverConfig().addKeypairFile(pki('other.crt'), pki('other.key')),
        clientConfig(),
        { servername: 'other.test' },
      );
      assert.equal(r.clientError, undefined);
      assert.match(r.peerSubject, /CN\s*=\s*other\.test/);
    });

    test('addKeypair (memory) serves the other certificate for a wildcard name', async () => {
      const r = await handshake(
        serverConfig().addKeypair(pem('other.crt'), pem('other.key')),
        clientConfig(),
        { servername: 'x.wild.test' },
      );
      assert.equal(r.clientError, undefined);
      assert.match(r.peerSubject, /other\.test/);
    });

    test('without addKeypair the SNI name other.test fails name verification', async () => {
      const r = await handshake(serverConfig(), clientConfig(), { servername: 'other.test' });
      assert.match(r.clientError?.message ?? '', /name `other\.test' not present in server certificate/);
    });

    test('clearKeys() after server() was created leaves the server able to handshake', async () => {
      const scfg = serverConfig();
      const srv = L.server(scfg);
      scfg.clearKeys();
      const ccfg = clientConfig();
      try {
        await handshakeContexts(srv, L.client(ccfg), (cli) => assert.equal(cli.peerCertHash(), serverHash()));
      } finally {
        scfg.free();
        ccfg.free();
      }
    });

    test('clearKeys() before server() is created leaves no key: server() fails in tls_configure', () => {
      serverFails(serverConfig().clearKeys(), /key/);
    });
  });
});

describe('the options object', () => {
  test('keypairs serve extra certificates by SNI', async () => {
    const r = await handshake(
      serverConfig({ keypairs: [{ cert: pem('other.crt'), key: pem('other.key') }] }),
      clientConfig(),
      { servername: 'other.test' },
    );
    assert.equal(r.clientError, undefined);
    assert.match(r.peerSubject, /other\.test/);
  });
});

describe('Config.loadFile and Config.defaultCaCertFile', () => {
  test('loadFile returns the bytes of a file', () => {
    const b = Config.loadFile(pki('server.crt'));
    assert.ok(Buffer.isBuffer(b));
    assert.ok(b.equals(readFileSync(pki('server.crt'))));
  });

  test("loadFile(encrypted.key, 'test-password') decrypts the key, and setKey with it handshakes", async () => {
    const password = readFileSync(pki('password.txt'), 'utf8');
    assert.equal(password, 'test-password');
    const key = Config.loadFile(pki('encrypted.key'), password);
    assert.match(key.toString(), /^-----BEGIN PRIVATE KEY-----\n/);
    // Node's own crypto agrees it is server.key.
    const mine = createPrivateKey(key).export({ type: 'pkcs8', format: 'der' });
    const ref = createPrivateKey(pem('server.key')).export({ type: 'pkcs8', format: 'der' });
    assert.ok(mine.equals(ref));
    const r = await handshake(new Config().setCert(pem('server.crt')).setKey(key), clientConfig());
    assert.equal(r.clientError, undefined);
    assert.equal(r.peerHash, serverHash());
  });

  test('the encrypted key without decryption cannot configure a server', () => {
    serverFails(
      new Config().setCert(pem('server.crt')).setKey(pem('encrypted.key')),
      /failed to read private key/,
    );
  });

  test('a wrong password throws TlsError tls_load_file', () => {
    throwsTls(
      () => Config.loadFile(pki('encrypted.key'), 'wrong-password'),
      'tls_load_file',
      /encrypted\.key: cannot load/,
    );
  });

  test('a password on a file that is not a key throws TlsError tls_load_file', () => {
    throwsTls(
      () => Config.loadFile(pki('server.crt'), 'test-password'),
      'tls_load_file',
      /server\.crt: cannot load/,
    );
  });

  test('a missing file throws TlsError tls_load_file with the system error', () => {
    throwsTls(
      () => Config.loadFile('/nonexistent/libtls.pem'),
      'tls_load_file',
      /^\/nonexistent\/libtls\.pem: No such file or directory$/,
    );
  });

  test('a directory throws TlsError tls_load_file', () => {
    throwsTls(() => Config.loadFile(os.tmpdir()), 'tls_load_file', /Is a directory/);
  });

  test('bad arguments to loadFile are TypeErrors', () => {
    throwsArg(() => Config.loadFile(''), TypeError, /path must not be empty/);
    throwsArg(() => Config.loadFile(1), TypeError, /path must be a string/);
    throwsArg(() => Config.loadFile(`${pki('server.crt')}\0`), TypeError, /NUL/);
    throwsArg(() => Config.loadFile(pki('encrypted.key'), 1), TypeError, /password must be a string/);
  });
});
