// `backend`: the description of what runs underneath is checked against the loaded objects, and
// each measured capability against real peers (openssl s_client / s_server, node:tls), so the
// self-test can be wrong only where these tests fail.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  realpathSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import tls from 'node:tls';
import {
  assertTlsCode,
  certArgs,
  L,
  listen,
  oneIntermediateChain,
  opensslServer,
  pem,
  pki,
  root,
  runNodeScript,
  serverConfig,
  tcpFd,
  tempDir,
  untilDone,
  waitFor,
  within,
} from '../support/helpers.mjs';
import { flipProxy } from '../support/mitm.mjs';
import {
  handshakeWith,
  opensslHash,
  osslServer,
  ourServer,
  resumption,
  sClient,
  scope,
} from '../support/peers.mjs';

const T = { timeout: 30_000 };
const caps = L.backend.capabilities;

test(
  'backend names the libtls and the crypto library that are loaded, from the objects themselves',
  T,
  (t) => {
    scope(t, { back: true });
    const b = L.backend;
    assert.ok(Object.isFrozen(b) && Object.isFrozen(b.crypto));
    assert.equal(
      b.version,
      execFileSync('pkg-config', ['--modversion', 'libtls'], { encoding: 'utf8' }).trim(),
    );
    assert.equal(b.tlsApi, L.TLS_API);
    assert.equal(b.name, b.crypto.library === 'libressl' ? 'libressl' : 'libretls');
    assert.match(b.crypto.version, b.crypto.library === 'libressl' ? /^LibreSSL \d/ : /^OpenSSL \d/);
    const maps = readFileSync('/proc/self/maps', 'utf8');
    const addon = realpathSync(path.join(root, 'build', 'Release', 'node_libtls.node'));
    if (b.crypto.linkage === 'static') {
      assert.equal(b.crypto.file, addon);
      assert.doesNotMatch(maps, /\/libtls\.so/, 'a static build maps no shared libtls');
    } else {
      assert.match(maps, /\/libtls\.so/);
      assert.doesNotMatch(
        maps,
        /\/libcrypto\.so\.(?!3\b)/,
        'no shared crypto library of another ABI is loaded',
      );
    }
    if (b.crypto.linkage === 'node') {
      // the calls reach the executable: its OpenSSL is the one node:crypto reports
      assert.equal(b.crypto.file, process.execPath);
      assert.ok(b.crypto.version.startsWith(`OpenSSL ${process.versions.openssl} `), b.crypto.version);
    }
  },
);

test('the capabilities are measured once, frozen, and have the documented shape', T, (t) => {
  scope(t, { back: true });
  assert.equal(L.backend.capabilities, caps);
  assert.ok(Object.isFrozen(caps) && Object.isFrozen(caps.serverResumption));
  assert.deepEqual(Object.keys(caps).sort(), [
    'alpnMismatch',
    'badRecordMacAlert',
    'clientResumption',
    'invalidServername',
    'multipleCommonNames',
    'selfSignedLeafAnchor',
    'serverResumption',
    'truncation',
    'verifyDepthShift',
    'warningAlerts',
  ]);
  assert.equal(typeof caps.multipleCommonNames, 'boolean');
  assert.equal(typeof caps.badRecordMacAlert, 'boolean');
  assert.equal(typeof caps.serverResumption.tls12, 'boolean');
  assert.equal(typeof caps.serverResumption.tls13, 'boolean');
  assert.ok([true, false, null].includes(caps.clientResumption));
  assert.ok(['error', 'eof'].includes(caps.truncation));
  assert.ok([0, 1].includes(caps.verifyDepthShift));
  assert.ok(['ignore', 'fail'].includes(caps.alpnMismatch));
  assert.equal(typeof caps.selfSignedLeafAnchor, 'boolean');
  assert.ok(['limited', 'unlimited'].includes(caps.warningAlerts));
  assert.ok(['refused', 'sent'].includes(caps.invalidServername));
});

for (const [flag, key, version] of [
  ['-tls1_2', 'tls12', 'TLSv1.2'],
  ['-tls1_3', 'tls13', 'TLSv1.3'],
]) {
  test(
    `serverResumption.${key} is what openssl s_client gets from a server of this package with ticketKeys, sessionId and sessionLifetime`,
    T,
    async (t) => {
      const s = scope(t, { back: true });
      const dir = tempDir(s.defer);
      const sess = `${dir}/session`;
      const cfg = serverConfig({
        sessionId: randomBytes(16),
        sessionLifetime: 300,
        ticketKeys: [{ keyrev: 1, key: randomBytes(L.TICKET_KEY_SIZE) }],
      });
      s.own(cfg);
      const srv = await ourServer(s, cfg, resumption);
      const first = await sClient(s, srv.port, ['-servername', 'localhost', flag, '-sess_out', sess]);
      assert.equal(first.code, 0, first.out);
      assert.match(first.out, /^hello$/m);
      let resumed = false;
      if (existsSync(sess)) {
        const second = await sClient(s, srv.port, ['-servername', 'localhost', flag, '-sess_in', sess]);
        assert.equal(second.code, 0, second.out);
        resumed = new RegExp(`^Reused, ${version.replace('.', '\\.')},`, 'm').test(second.out);
      }
      await srv.close();
      assert.equal(resumed, caps.serverResumption[key], `s_client resumed: ${resumed}`);
      assert.equal(srv.results.at(-1).resumed, caps.serverResumption[key]);
      assert.ok(srv.results.every((r) => r.version === version));
    },
  );
}

test(
  'clientResumption agrees with openssl s_server (TLS 1.2 tickets): true means our client resumes there; null only when our server resumed nothing',
  T,
  async (t) => {
    const s = scope(t, { back: true });
    const dir = tempDir(s.defer);
    const file = `${dir}/session`;
    const fd = openSync(file, 'w+', 0o600);
    s.defer(() => closeSync(fd));
    unlinkSync(file);
    const ossl = s.peer(await opensslServer(['-tls1_2', '-www'], { naccept: 2 }));
    const cfg = s.own(new L.Config({ caFile: pki('ca.crt'), protocols: 'tlsv1.2', sessionFd: fd }));
    const resumed = [];
    for (let i = 0; i < 2; i++) {
      const sock = await tcpFd(ossl.port);
      const cli = L.client(cfg);
      try {
        cli.connectSocket(sock, 'localhost');
        await untilDone(() => cli.handshake(), sock);
        resumed.push(cli.connSessionResumed());
        await untilDone(() => cli.write('GET / HTTP/1.0\r\n\r\n'), sock);
        for (let n = 0; n < 64; n++) {
          const r = await untilDone(() => cli.read(), sock).catch(() => null);
          if (r === null) break;
        }
      } finally {
        cli.free();
        closeSync(sock);
      }
    }
    assert.equal(resumed[0], false);
    if (caps.clientResumption === null) {
      assert.deepEqual(caps.serverResumption, { tls12: false, tls13: false });
    } else {
      assert.equal(resumed[1], caps.clientResumption, `resumed with s_server: ${resumed}`);
    }
  },
);

test(
  'truncation is what tls_read does when a node:tls server drops TCP without close_notify',
  T,
  async (t) => {
    const s = scope(t, { back: true });
    const ctx = tls.createSecureContext({ cert: pem('server.crt'), key: pem('server.key') });
    const raws = new Set();
    const ns = net.createServer((raw) => {
      raws.add(raw);
      raw.on('close', () => raws.delete(raw));
      raw.on('error', () => {});
      const ts = new tls.TLSSocket(raw, { isServer: true, secureContext: ctx });
      ts.on('error', () => {});
      ts.on('secure', () => ts.write('x', () => raw.destroy()));
    });
    const port = await listen(ns);
    s.defer(
      () =>
        new Promise((resolve) => {
          for (const r of raws) r.destroy();
          ns.close(resolve);
        }),
    );
    const cfg = s.own(new L.Config({ caFile: pki('ca.crt') }));
    const sock = await tcpFd(port);
    const cli = L.client(cfg);
    let seen;
    try {
      cli.connectSocket(sock, 'localhost');
      await untilDone(() => cli.handshake(), sock);
      const first = await untilDone(() => cli.read(), sock);
      assert.equal(String(first), 'x');
      try {
        seen = (await untilDone(() => cli.read(), sock)) === null ? 'eof' : 'data';
      } catch (err) {
        assert.ok(err instanceof L.TlsError, String(err));
        seen = 'error';
      }
    } finally {
      cli.free();
      closeSync(sock);
    }
    assert.equal(seen, caps.truncation);
  },
);

test(
  'verifyDepthShift makes setVerifyDepth(n) mean n intermediate CAs, as in OpenSSL, against openssl s_server sending a chain of one',
  T,
  async (t) => {
    const s = scope(t, { back: true });
    const f = oneIntermediateChain(tempDir(s.defer));
    const ossl = await osslServer(
      s,
      ['-cert', f('leaf.crt'), '-key', f('leaf.key'), '-cert_chain', f('inter.crt')],
      3,
    );
    const depth = (n) =>
      handshakeWith(ossl.port, new L.Config({ caFile: f('root.crt'), verifyDepth: n }), 'localhost', (c) =>
        c.peerCertSubject(),
      );
    const none = depth(0);
    assertTlsCode(none.err, 'tls_handshake', 'CERT_CHAIN_TOO_LONG', /^certificate verification failed: \S/);
    assert.deepEqual(depth(1), { value: '/CN=localhost' });
    assert.deepEqual(depth(2), { value: '/CN=localhost' });
  },
);

test(
  "alpnMismatch is what a node:tls client offering only another protocol meets at a server of this package with ALPN 'h2'",
  T,
  async (t) => {
    const s = scope(t, { back: true });
    const srv = await ourServer(s, serverConfig({ alpn: 'h2' }), (acc) => ({ alpn: acc.connAlpnSelected() }));
    const outcome = await new Promise((resolve) => {
      const c = tls.connect({
        port: srv.port,
        host: '127.0.0.1',
        servername: 'localhost',
        ca: pem('ca.crt'),
        ALPNProtocols: ['http/1.1'],
      });
      // after the server's "hello": its handshake has completed too
      c.once('data', () => {
        const alpn = c.alpnProtocol;
        c.destroy();
        resolve({ alpn });
      });
      c.on('error', (err) => {
        c.destroy();
        resolve({ code: err.code });
      });
    });
    await srv.close();
    if (caps.alpnMismatch === 'ignore') {
      assert.deepEqual(outcome, { alpn: false });
      assert.deepEqual(srv.results, [{ alpn: null }]);
    } else {
      // the alert RFC 7301 names, as a node:tls server sends it
      assert.deepEqual(outcome, { code: 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL' });
      assert.equal(srv.results.length, 1);
      assert.ok(srv.results[0].err instanceof L.TlsError, String(srv.results[0].err));
    }
  },
);

test(
  'selfSignedLeafAnchor is whether our client trusts a self-signed CA:FALSE certificate given as its CA, against openssl s_server; a self-signed CA verifies on every backend',
  T,
  async (t) => {
    const s = scope(t, { back: true });
    const leaf = await osslServer(s, certArgs('selfsigned-leaf'), 2);
    const pinnedLeaf = handshakeWith(
      leaf.port,
      new L.Config({ caFile: pki('selfsigned-leaf.crt') }),
      'localhost',
      (c) => c.peerCertHash(),
    );
    const untrustedLeaf = handshakeWith(leaf.port, new L.Config({ caFile: pki('ca.crt') }), 'localhost');
    const ca = await osslServer(s, certArgs('selfsigned'), 1);
    const pinnedCa = handshakeWith(
      ca.port,
      new L.Config({ caFile: pki('selfsigned.crt') }),
      'localhost',
      (c) => c.peerCertHash(),
    );
    assert.deepEqual(pinnedCa, { value: opensslHash('selfsigned.crt') });
    if (caps.selfSignedLeafAnchor) {
      assert.deepEqual(pinnedLeaf, { value: opensslHash('selfsigned-leaf.crt') });
      // OpenSSL's verifier: the leaf is recognised as self-signed
      assertTlsCode(untrustedLeaf.err, 'tls_handshake', 'DEPTH_ZERO_SELF_SIGNED_CERT');
    } else {
      // LibreSSL's verifier: an anchor must be a CA, so the leaf has no issuer it can use
      assertTlsCode(pinnedLeaf.err, 'tls_handshake', 'UNSPECIFIED', /^certificate verification failed: \S/);
      assertTlsCode(untrustedLeaf.err, 'tls_handshake', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY');
    }
  },
);

test(
  'multipleCommonNames is whether our client completes a handshake with openssl s_server serving a certificate with two CNs (no verification)',
  T,
  async (t) => {
    const s = scope(t, { back: true });
    const dir = tempDir(s.defer);
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-subj',
        '/CN=a.twocn.test/CN=b.twocn.test',
        '-days',
        '2',
        '-keyout',
        `${dir}/twocn.key`,
        '-out',
        `${dir}/twocn.crt`,
      ],
      { stdio: 'ignore' },
    );
    const peer = await opensslServer(['-cert', `${dir}/twocn.crt`, '-key', `${dir}/twocn.key`]);
    s.defer(() => peer.kill());
    const cfg = s.own(new L.Config({ insecure: { noVerifyCert: true, noVerifyName: true } }));
    const sock = await tcpFd(peer.port);
    const cli = L.client(cfg);
    let completed;
    try {
      cli.connectSocket(sock, 'a.twocn.test');
      completed = await untilDone(() => cli.handshake(), sock).then(
        () => true,
        (err) => {
          assert.ok(err instanceof L.TlsError, String(err));
          return false;
        },
      );
    } finally {
      cli.free();
      closeSync(sock);
    }
    assert.equal(completed, caps.multipleCommonNames);
  },
);

test(
  'badRecordMacAlert is whether a node:tls client gets a bad_record_mac alert from a TLS 1.3 server of this package when a man in the middle changes a byte of its record',
  T,
  async (t) => {
    const s = scope(t, { back: true });
    const cfg = s.own(
      new L.Config({ certFile: pki('server.crt'), keyFile: pki('server.key'), protocols: 'tlsv1.3' }),
    );
    const sockets = [];
    const srv = L.createServer({ config: cfg }, (sock) => {
      sockets.push(sock);
      sock.on('error', () => {});
      sock.on('data', () => {});
    });
    const port = await listen(srv);
    s.defer(() => new Promise((resolve) => srv.close(resolve)));
    const p = await flipProxy(port, 'c2s', 0x01);
    s.defer(() => p.close());
    const c = tls.connect({ port: p.port, host: '127.0.0.1', servername: 'localhost', ca: pem('ca.crt') });
    s.defer(() => c.destroy());
    const outcome = new Promise((resolve) => {
      c.once('error', resolve);
      c.once('close', () => resolve(null));
    });
    await within(once(c, 'secureConnect'), 5000, 'secureConnect');
    assert.ok(await waitFor(() => sockets.length === 1), 'the server has the connection');
    p.flipNext();
    c.write('tampered with on the way');
    const err = await within(outcome, 5000, "the client's 'error' or 'close'");
    const alerted = err instanceof Error && err.code === 'ERR_SSL_SSLV3_ALERT_BAD_RECORD_MAC';
    assert.equal(alerted, caps.badRecordMacAlert, String(err));
  },
);

test(
  'ticketKeys or sessionLifetime on a backend whose server resumes nothing: one LIBTLS_NO_SERVER_RESUMPTION warning per process',
  T,
  async (t) => {
    scope(t, { back: true });
    const url = new URL('../../dist/index.js', import.meta.url).href;
    const r = await runNodeScript(`
      const L = await import(${JSON.stringify(url)});
      const seen = [];
      process.on('warning', (w) => seen.push(w.code));
      const step = async (f) => { f(); await new Promise((r) => setImmediate(r)); return seen.length; };
      const out = {};
      out.none = await step(() => new L.Config({ sessionLifetime: 0 }).free());
      out.lifetime = await step(() => new L.Config({ sessionLifetime: 300 }).free());
      out.keys = await step(() =>
        new L.Config({ ticketKeys: [{ keyrev: 1, key: new Uint8Array(L.TICKET_KEY_SIZE) }] }).free());
      out.method = await step(() => new L.Config().addTicketKey(2, new Uint8Array(L.TICKET_KEY_SIZE)).free());
      out.codes = seen;
      out.resumes = L.backend.capabilities.serverResumption;
      console.log(JSON.stringify(out));
    `);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(out.resumes, caps.serverResumption);
    const resumes = caps.serverResumption.tls12 || caps.serverResumption.tls13;
    assert.equal(out.none, 0, 'sessionLifetime 0 asks for no resumption');
    assert.deepEqual(
      [out.lifetime, out.keys, out.method],
      resumes ? [0, 0, 0] : [1, 1, 1],
      'the first configuration warns, later ones do not',
    );
    assert.deepEqual(out.codes, resumes ? [] : ['LIBTLS_NO_SERVER_RESUMPTION']);
  },
);

/** A pkg-config directory describing a libtls whose OpenSSL headers are LibreSSL's (or not). */
function fakePrefix(dir, { libressl, staticLibs }) {
  const inc = path.join(dir, 'include', 'openssl');
  const lib = path.join(dir, 'lib');
  mkdirSync(inc, { recursive: true });
  mkdirSync(path.join(lib, 'pkgconfig'), { recursive: true });
  writeFileSync(
    path.join(inc, 'opensslv.h'),
    libressl
      ? '#define LIBRESSL_VERSION_TEXT "LibreSSL 9.8.7"\n'
      : '#define OPENSSL_VERSION_TEXT "OpenSSL 3.0.0"\n',
  );
  if (staticLibs)
    for (const f of ['libtls.a', 'libssl.a', 'libcrypto.a']) writeFileSync(path.join(lib, f), '');
  writeFileSync(
    path.join(lib, 'pkgconfig', 'libtls.pc'),
    `libdir=${lib}\nincludedir=${path.join(dir, 'include')}\n` +
      `Name: libtls\nDescription: test\nVersion: 9.8.7\nLibs: -L${lib} -ltls\nCflags: -I${path.join(dir, 'include')}\n`,
  );
  return path.join(lib, 'pkgconfig');
}

function checkLibtls(pcDir, args = []) {
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'check-libtls.mjs'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, PKG_CONFIG_PATH: pcDir, PKG_CONFIG_LIBDIR: pcDir, npm_config_libtls_static: '' },
    timeout: 10_000,
  });
  return { status: r.status, out: r.stdout + r.stderr };
}

test(
  'check-libtls says which backend it found and how it will link, and refuses a shared LibreSSL on Linux',
  T,
  (t) => {
    const s = scope(t, { back: true });
    const dir = tempDir(s.defer);
    const shared = fakePrefix(path.join(dir, 'a'), { libressl: true, staticLibs: false });
    const refused = checkLibtls(shared);
    assert.equal(refused.status, process.platform === 'linux' ? 1 : 0, refused.out);
    assert.match(refused.out, /LibreSSL's libtls 9\.8\.7 \(LibreSSL 9\.8\.7\)/);
    if (process.platform === 'linux') assert.match(refused.out, /npm install --libtls_static=1/);
    const noArchives = checkLibtls(shared, ['--static']);
    assert.equal(noArchives.status, 1, noArchives.out);
    assert.match(noArchives.out, /missing: libtls\.a, libssl\.a, libcrypto\.a/);
    const withArchives = checkLibtls(fakePrefix(path.join(dir, 'b'), { libressl: true, staticLibs: true }), [
      '--static',
    ]);
    assert.equal(withArchives.status, 0, withArchives.out);
    assert.match(withArchives.out, /linking it statically into the addon/);
    const retls = checkLibtls(fakePrefix(path.join(dir, 'c'), { libressl: false, staticLibs: false }));
    assert.equal(retls.status, 0, retls.out);
    assert.match(retls.out, /found libretls 9\.8\.7 \(libtls on OpenSSL\).*shared library/);
    // the machine's own libtls, as the build sees it
    const ownArgs = L.backend.crypto.linkage === 'static' ? ['--static'] : [];
    const own = spawnSync(process.execPath, [path.join(root, 'scripts', 'check-libtls.mjs'), ...ownArgs], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    assert.equal(own.status, 0, own.stderr);
    assert.match(own.stdout, L.backend.name === 'libressl' ? /found LibreSSL's libtls/ : /found libretls/);
  },
);

test('npm install --libtls_static=1 links libtls and its TLS library into the addon, symbols hidden: libc only, no OpenSSL symbol imported or exported, the same capabilities, a verified handshake with openssl s_server', {
  timeout: 600_000,
}, async (t) => {
  const s = scope(t, { back: true });
  const dir = tempDir(s.defer);
  for (const f of ['package.json', 'binding.gyp', 'native', 'scripts']) {
    cpSync(path.join(root, f), path.join(dir, f), { recursive: true });
  }
  const env = { ...process.env, npm_config_libtls_static: '1' };
  delete env.NODE_TEST_CONTEXT;
  const build = spawnSync('npm', ['run', 'install'], { cwd: dir, env, encoding: 'utf8', timeout: 480_000 });
  const out = `${build.stdout}${build.stderr}`;
  const libdir = execFileSync('pkg-config', ['--variable=libdir', 'libtls'], { encoding: 'utf8' }).trim();
  const archives = ['libtls.a', 'libssl.a', 'libcrypto.a'].every((f) => existsSync(path.join(libdir, f)));
  if (!archives) {
    // what the option promises without the archives: a sentence naming them, no build
    assert.notEqual(build.status, 0, out);
    assert.match(out, /--libtls_static=1 needs the static libraries/);
    return;
  }
  assert.equal(build.status, 0, out);
  assert.match(out, /linking it statically into the addon/);
  const addon = path.join(dir, 'build', 'Release', 'node_libtls.node');
  const ldd = execFileSync('ldd', [addon], { encoding: 'utf8' });
  assert.doesNotMatch(ldd, /libtls|libssl|libcrypto/, ldd);
  const openssl = /^(SSL_|EVP_|ERR_|X509_|OPENSSL_|OpenSSL_|tls_|sk_|BIO_|CRYPTO_)/;
  const dyn = (flag) =>
    execFileSync('nm', ['-D', flag, addon], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.trim().split(/\s+/).at(-1))
      .filter((n) => n && openssl.test(n));
  assert.deepEqual(dyn('--undefined-only'), [], 'no OpenSSL or libtls call left to the dynamic linker');
  assert.deepEqual(dyn('--defined-only'), [], 'no OpenSSL or libtls symbol exported');

  const ossl = s.peer(await opensslServer(['-www'], { naccept: 1 }));
  const url = new URL('../../dist/index.js', import.meta.url).href;
  const r = await runNodeScript(
    `
      const L = await import(${JSON.stringify(url)});
      const cli = L.client(new L.Config({ caFile: ${JSON.stringify(pki('ca.crt'))} }));
      cli.connectServername('127.0.0.1', ${ossl.port}, 'localhost');
      cli.handshake();
      const version = cli.connVersion();
      cli.close();
      cli.free();
      const { name, version: v, crypto } = L.backend;
      console.log(JSON.stringify({ name, v, crypto, caps: L.backend.capabilities, version }));
    `,
    { env: { LIBTLS_NATIVE: addon } },
  );
  assert.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout);
  assert.equal(got.crypto.linkage, 'static');
  assert.equal(got.crypto.file, realpathSync(addon));
  assert.equal(got.name, L.backend.name);
  assert.equal(got.v, L.backend.version);
  assert.match(got.version, /^TLSv1\.[23]$/);
  if (got.crypto.library === L.backend.crypto.library) {
    // the same library, linked in: the self-test measures the same
    assert.deepEqual(got.caps, caps);
  }
});
