// The names of the 1:1 API (docs/api.md, "Names"): every TypeScript name is the camelCase of its
// libtls name, and each older spelling the README documented is kept as an alias. Each alias is
// checked against its primary by behaviour, not by identity: the same handshake, run once with
// the primary and once with the alias, must end the same way (and differently from a control
// without the setting, so an alias that did nothing would fail); the same bad input must fail the
// same way.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  assertDisjointCurves,
  assertTlsCode,
  clientConfig,
  freePair,
  L,
  pairHandshake,
  pem,
  pki,
  serverConfig,
  serverFor,
} from '../support/helpers.mjs';

const { Config } = L;

/**
 * Handshakes `srv` and `cli` (Configs, freed here) over a socketpair and returns plain data: whether
 * each side succeeded (with its error's name, op and message), and what the client saw.
 */
async function outcome(srv, cli, servername = 'localhost', options = {}) {
  let r;
  try {
    r = await pairHandshake(srv, cli, servername, options);
  } finally {
    srv.free();
    cli.free();
  }
  try {
    const err = (e) =>
      e === undefined ? null : { name: e.name, op: e.op, code: e.code, message: e.message };
    const out = { client: err(r.clientError), server: err(r.serverError) };
    // the errors themselves, for assertions (not compared between a primary and its alias)
    Object.defineProperty(out, 'clientError', { value: r.clientError, enumerable: false });
    Object.defineProperty(out, 'serverError', { value: r.serverError, enumerable: false });
    if (out.client === null && out.server === null) {
      Object.assign(out, {
        version: r.cli.connVersion(),
        cipher: r.cli.connCipher(),
        peerHash: r.cli.peerCertHash(),
        peerSubject: r.cli.peerCertSubject(),
        ocsp: attempt(() => r.cli.peerOcspCertStatus()).value ?? null,
        notBefore: r.cli.peerCertNotbefore(),
        notAfter: r.cli.peerCertNotafter(),
        notBeforeAlias: r.cli.peerCertNotBefore(),
        notAfterAlias: r.cli.peerCertNotAfter(),
      });
    }
    return out;
  } finally {
    freePair(r);
  }
}

/** What calling `f` does, as plain data: its result's kind, or the error's name, code and message. */
function attempt(f) {
  try {
    const v = f();
    return { ok: true, value: v instanceof Config ? 'the Config' : v };
  } catch (e) {
    return { ok: false, name: e?.name, code: e?.code, op: e?.op, message: e?.message };
  }
}

/** Runs `scenario(name)` for the primary and the alias; asserts equal outcomes and returns one. */
async function same(primary, alias, scenario) {
  const a = await scenario(primary);
  const b = await scenario(alias);
  assert.deepEqual(b, a, `${alias} behaves as ${primary}`);
  return a;
}

const ok = (r) => {
  assert.equal(r.client, null, `client: ${r.client?.message}`);
  assert.equal(r.server, null, `server: ${r.server?.message}`);
};

describe('Config methods: each alias behaves as its primary', () => {
  test('setCaMem / setCa: the CA in memory verifies the server; without it the system CAs refuse it', async () => {
    const r = await same('setCaMem', 'setCa', (m) => outcome(serverConfig(), new Config()[m](pem('ca.crt'))));
    ok(r);
    const control = await outcome(serverConfig(), new Config());
    assert.match(control.client?.message ?? '', /certificate verification failed/);
    const bad = await same('setCaMem', 'setCa', (m) => attempt(() => new Config()[m](42)));
    assert.deepEqual([bad.ok, bad.name], [false, 'TypeError']);
    assert.match(bad.message, /^ca must be a string or a Uint8Array/);
  });

  test('setCertMem + setKeyMem / setCert + setKey: a server from memory; without them tls_configure fails', async () => {
    const r = await same(['setCertMem', 'setKeyMem'], ['setCert', 'setKey'], ([c, k]) =>
      outcome(new Config()[c](pem('server.crt'))[k](pem('server.key')), clientConfig()),
    );
    ok(r);
    assert.match(r.peerSubject, /localhost/);
    assert.throws(
      () => L.server(new Config()),
      (e) => e instanceof L.TlsError && e.op === 'tls_configure',
    );
    for (const [p, a] of [
      ['setCertMem', 'setCert'],
      ['setKeyMem', 'setKey'],
    ]) {
      const bad = await same(p, a, (m) => attempt(() => new Config()[m]([1])));
      assert.deepEqual([bad.ok, bad.name], [false, 'TypeError']);
    }
  });

  test('setCrlMem / setCrl: a revoked server certificate fails; without the CRL it passes', async () => {
    const r = await same('setCrlMem', 'setCrl', (m) =>
      outcome(serverFor('revoked'), clientConfig()[m](pem('crl.pem'))),
    );
    assert.match(r.client?.message ?? '', /certificate revoked/);
    ok(await outcome(serverFor('revoked'), clientConfig()));
  });

  test('setOcspStapleMem / setOcspStaple: the staple satisfies ocspRequireStapling; without it the client fails', async () => {
    const r = await same('setOcspStapleMem', 'setOcspStaple', (m) =>
      outcome(serverConfig()[m](pem('ocsp-good.der')), clientConfig().ocspRequireStapling()),
    );
    ok(r);
    assert.equal(r.ocsp, L.OCSP_CERT_GOOD);
    const control = await outcome(serverConfig(), clientConfig().ocspRequireStapling());
    assert.match(control.client?.message ?? '', /no stapled OCSP response provided/);
  });

  test('setKeypairMem / setKeypair, with and without a staple; setKeypairOcspMem is the stapled form', async () => {
    const plain = await same('setKeypairMem', 'setKeypair', (m) =>
      outcome(new Config()[m](pem('server.crt'), pem('server.key')), clientConfig()),
    );
    ok(plain);
    assert.equal(plain.ocsp, null); // no staple: no OCSP status
    const stapled = await same('setKeypairMem', 'setKeypair', (m) =>
      outcome(
        new Config()[m](pem('server.crt'), pem('server.key'), pem('ocsp-good.der')),
        clientConfig().ocspRequireStapling(),
      ),
    );
    ok(stapled);
    assert.equal(stapled.ocsp, L.OCSP_CERT_GOOD);
    const ocsp = await outcome(
      new Config().setKeypairOcspMem(pem('server.crt'), pem('server.key'), pem('ocsp-good.der')),
      clientConfig().ocspRequireStapling(),
    );
    assert.deepEqual(ocsp, stapled);
    const bad = await same('setKeypairMem', 'setKeypair', (m) =>
      attempt(() => new Config()[m](pem('server.crt'), pem('server.key'), 42)),
    );
    assert.match(bad.message, /^ocspStaple must be/);
    assert.match(
      attempt(() => new Config().setKeypairOcspMem(pem('server.crt'), pem('server.key'))).message,
      /^ocspStaple must be a string or a Uint8Array/,
    );
  });

  test('setKeypairOcspFile is setKeypairFile with its staple file required', async () => {
    const viaFile = await outcome(
      new Config().setKeypairFile(pki('server.crt'), pki('server.key'), pki('ocsp-good.der')),
      clientConfig().ocspRequireStapling(),
    );
    const viaOcsp = await outcome(
      new Config().setKeypairOcspFile(pki('server.crt'), pki('server.key'), pki('ocsp-good.der')),
      clientConfig().ocspRequireStapling(),
    );
    ok(viaOcsp);
    assert.equal(viaOcsp.ocsp, L.OCSP_CERT_GOOD);
    assert.deepEqual(viaOcsp, viaFile);
    const missing = attempt(() => new Config().setKeypairOcspFile(pki('server.crt'), pki('server.key')));
    assert.equal(missing.name, 'TypeError');
    assert.match(missing.message, /^ocspStapleFile must be a string/);
  });

  test('addKeypairMem / addKeypair: the SNI name other.test gets the other certificate; without it, name verification fails', async () => {
    const r = await same('addKeypairMem', 'addKeypair', (m) =>
      outcome(serverConfig()[m](pem('other.crt'), pem('other.key')), clientConfig(), 'other.test'),
    );
    ok(r);
    assert.match(r.peerSubject, /other\.test/);
    const control = await outcome(serverConfig(), clientConfig(), 'other.test');
    assert.match(control.client?.message ?? '', /not present in server certificate|name/);
  });

  test('addKeypairOcspMem and addKeypairOcspFile staple for the certificate chosen by SNI, as addKeypairMem/File with a staple', async () => {
    const otherFirst = () => serverFor('other');
    const run = (cfg) => outcome(cfg, clientConfig().ocspRequireStapling(), 'localhost');
    const mem = await run(
      otherFirst().addKeypairMem(pem('server.crt'), pem('server.key'), pem('ocsp-good.der')),
    );
    const memOcsp = await run(
      otherFirst().addKeypairOcspMem(pem('server.crt'), pem('server.key'), pem('ocsp-good.der')),
    );
    const file = await run(
      otherFirst().addKeypairFile(pki('server.crt'), pki('server.key'), pki('ocsp-good.der')),
    );
    const fileOcsp = await run(
      otherFirst().addKeypairOcspFile(pki('server.crt'), pki('server.key'), pki('ocsp-good.der')),
    );
    ok(memOcsp);
    assert.equal(memOcsp.ocsp, L.OCSP_CERT_GOOD);
    assert.deepEqual(memOcsp, mem);
    assert.deepEqual(fileOcsp, file);
    assert.deepEqual(fileOcsp, mem);
  });

  test('insecureNoverifycert / insecureNoVerifyCert: a self-signed server is accepted; without it, refused', async () => {
    const r = await same('insecureNoverifycert', 'insecureNoVerifyCert', (m) =>
      outcome(serverFor('selfsigned'), clientConfig()[m]()),
    );
    ok(r);
    const control = await outcome(serverFor('selfsigned'), clientConfig());
    assertTlsCode(
      control.clientError,
      'tls_handshake',
      'DEPTH_ZERO_SELF_SIGNED_CERT',
      /^certificate verification failed: \S/,
    );
  });

  test('insecureNoverifyname / insecureNoVerifyName: a certificate for another name is accepted; without it, refused', async () => {
    const r = await same('insecureNoverifyname', 'insecureNoVerifyName', (m) =>
      outcome(serverConfig(), clientConfig()[m](), 'other.test'),
    );
    ok(r);
    const control = await outcome(serverConfig(), clientConfig(), 'other.test');
    assert.notEqual(control.client, null);
  });

  test('insecureNoverifytime / insecureNoVerifyTime: an expired server is accepted; without it, refused', async () => {
    const r = await same('insecureNoverifytime', 'insecureNoVerifyTime', (m) =>
      outcome(serverFor('expired'), clientConfig()[m]()),
    );
    ok(r);
    const control = await outcome(serverFor('expired'), clientConfig());
    assert.match(control.client?.message ?? '', /expired/);
  });

  test('the aliases return the Config they were called on (calls chain)', () => {
    const c = new Config();
    try {
      for (const [m, args] of [
        ['setCa', [pem('ca.crt')]],
        ['setCert', [pem('server.crt')]],
        ['setKey', [pem('server.key')]],
        ['setCrl', [pem('crl.pem')]],
        ['setOcspStaple', [pem('ocsp-good.der')]],
        ['setKeypair', [pem('server.crt'), pem('server.key')]],
        ['addKeypair', [pem('other.crt'), pem('other.key')]],
        ['insecureNoVerifyCert', []],
        ['insecureNoVerifyName', []],
        ['insecureNoVerifyTime', []],
      ]) {
        assert.equal(c[m](...args), c, m);
      }
    } finally {
      c.free();
    }
  });

  test('an alias on a freed Config throws what its primary throws', async () => {
    for (const [p, a, args] of [
      ['setCaMem', 'setCa', [pem('ca.crt')]],
      ['insecureNoverifycert', 'insecureNoVerifyCert', []],
    ]) {
      const r = await same(p, a, (m) => {
        const c = new Config();
        c.free();
        return attempt(() => c[m](...args));
      });
      assert.deepEqual([r.name, r.code], ['TlsError', 'ERR_TLS_INVALID_STATE']);
    }
  });
});

describe('Tls methods: each alias behaves as its primary', () => {
  test("peerCertNotbefore / peerCertNotBefore and peerCertNotafter / peerCertNotAfter give server.crt's validity", async () => {
    const r = await outcome(serverConfig(), clientConfig());
    ok(r);
    const x = new X509Certificate(pem('server.crt'));
    assert.equal(r.notBefore, Date.parse(x.validFrom) / 1000);
    assert.equal(r.notAfter, Date.parse(x.validTo) / 1000);
    assert.equal(r.notBeforeAlias, r.notBefore);
    assert.equal(r.notAfterAlias, r.notAfter);
  });

  test('before a handshake, peerCertNotbefore and its alias fail the same way', async () => {
    const r = await same('peerCertNotbefore', 'peerCertNotBefore', (m) => {
      const t = L.client(clientConfig());
      try {
        return attempt(() => t[m]());
      } finally {
        t.free();
      }
    });
    const s = await same('peerCertNotafter', 'peerCertNotAfter', (m) => {
      const t = L.client(clientConfig());
      try {
        return attempt(() => t[m]());
      } finally {
        t.free();
      }
    });
    assert.deepEqual(
      [r.name, r.code, r.op],
      ['TlsError', 'ERR_TLS_INVALID_STATE', 'tls_peer_cert_notbefore'],
    );
    assert.deepEqual([s.name, s.code, s.op], ['TlsError', 'ERR_TLS_INVALID_STATE', 'tls_peer_cert_notafter']);
  });
});

describe('Config options: each alias key behaves as its primary key', () => {
  test('caMem / ca', async () => {
    const r = await same('caMem', 'ca', (k) => outcome(serverConfig(), new Config({ [k]: pem('ca.crt') })));
    ok(r);
  });

  test('certMem + keyMem / cert + key', async () => {
    const r = await same(['certMem', 'keyMem'], ['cert', 'key'], ([c, k]) =>
      outcome(new Config({ [c]: pem('server.crt'), [k]: pem('server.key') }), clientConfig()),
    );
    ok(r);
  });

  test('crlMem / crl', async () => {
    const r = await same('crlMem', 'crl', (k) =>
      outcome(serverFor('revoked'), clientConfig({ [k]: pem('crl.pem') })),
    );
    assert.match(r.client?.message ?? '', /certificate revoked/);
  });

  test('ocspStapleMem / ocspStaple', async () => {
    const r = await same('ocspStapleMem', 'ocspStaple', (k) =>
      outcome(serverConfig({ [k]: pem('ocsp-good.der') }), clientConfig({ ocspRequireStapling: true })),
    );
    ok(r);
    assert.equal(r.ocsp, L.OCSP_CERT_GOOD);
  });

  test('ecdhecurves / ecdheCurves: disjoint lists fail (no key share), a shared curve works', async () => {
    const disjoint = await same('ecdhecurves', 'ecdheCurves', (k) =>
      outcome(serverConfig({ [k]: 'P-256' }), clientConfig({ [k]: ['P-384'] }), 'localhost', {
        stopClient: true,
      }),
    );
    assertDisjointCurves(disjoint.serverError, disjoint.clientError);
    const shared = await same('ecdhecurves', 'ecdheCurves', (k) =>
      outcome(serverConfig({ [k]: ['P-384', 'P-256'] }), clientConfig({ [k]: 'P-256' })),
    );
    ok(shared);
  });

  test("dheparams / dheParams: 'auto' enables a DHE suite, which fails without it", async () => {
    const rsaDhe = (extra) => serverFor('server-rsa', { ciphers: 'DHE-RSA-AES128-GCM-SHA256', ...extra });
    const dheClient = () => clientConfig({ protocols: 'tlsv1.2', ciphers: 'DHE-RSA-AES128-GCM-SHA256' });
    const r = await same('dheparams', 'dheParams', (k) => outcome(rsaDhe({ [k]: 'auto' }), dheClient()));
    ok(r);
    assert.deepEqual([r.version, r.cipher], ['TLSv1.2', 'DHE-RSA-AES128-GCM-SHA256']);
    const control = await outcome(rsaDhe({}), dheClient());
    assert.match(control.server?.message ?? '', /no shared cipher/);
  });

  test('insecure.noverifycert / noverifyname / noverifytime and their aliases noVerifyCert / noVerifyName / noVerifyTime', async () => {
    const cert = await same('noverifycert', 'noVerifyCert', (k) =>
      outcome(serverFor('selfsigned'), clientConfig({ insecure: { [k]: true } })),
    );
    ok(cert);
    const off = await same('noverifycert', 'noVerifyCert', (k) =>
      outcome(serverFor('selfsigned'), clientConfig({ insecure: { [k]: false } })),
    );
    assertTlsCode(
      off.clientError,
      'tls_handshake',
      'DEPTH_ZERO_SELF_SIGNED_CERT',
      /^certificate verification failed: \S/,
    );
    const name = await same('noverifyname', 'noVerifyName', (k) =>
      outcome(serverConfig(), clientConfig({ insecure: { [k]: true } }), 'other.test'),
    );
    ok(name);
    const time = await same('noverifytime', 'noVerifyTime', (k) =>
      outcome(serverFor('expired'), clientConfig({ insecure: { [k]: true } })),
    );
    ok(time);
  });

  test('a bad value under an alias key is refused as under its primary, naming the key given', () => {
    for (const [p, a] of [
      ['noverifycert', 'noVerifyCert'],
      ['noverifyname', 'noVerifyName'],
      ['noverifytime', 'noVerifyTime'],
    ]) {
      const rp = attempt(() => new Config({ insecure: { [p]: 'yes' } }));
      const ra = attempt(() => new Config({ insecure: { [a]: 'yes' } }));
      assert.deepEqual([rp.name, ra.name], ['TypeError', 'TypeError']);
      assert.match(rp.message, new RegExp(`^insecure\\.${p} must be a boolean`));
      assert.match(ra.message, new RegExp(`^insecure\\.${a} must be a boolean`));
    }
    for (const [p, a, v, re] of [
      ['caMem', 'ca', 42, /^ca must be a string or a Uint8Array/],
      ['ecdhecurves', 'ecdheCurves', [], /^curves must not be empty/],
      ['dheparams', 'dheParams', '', /^params must not be empty/],
    ]) {
      const rp = attempt(() => new Config({ [p]: v }));
      const ra = attempt(() => new Config({ [a]: v }));
      assert.deepEqual(ra, rp, `${a} as ${p}`);
      assert.equal(rp.ok, false);
      assert.match(rp.message, re);
    }
  });

  test('a key given together with its alias is a TypeError naming both (code ERR_INVALID_ARG_VALUE)', () => {
    for (const [o, re] of [
      [{ ca: pem('ca.crt'), caMem: pem('ca.crt') }, /"caMem" and its alias "ca"/],
      [{ caMem: pem('ca.crt'), ca: pem('ca.crt') }, /"caMem" and its alias "ca"/],
      [{ cert: 'x', certMem: 'x' }, /"certMem" and its alias "cert"/],
      [{ key: 'x', keyMem: 'x' }, /"keyMem" and its alias "key"/],
      [{ crl: 'x', crlMem: 'x' }, /"crlMem" and its alias "crl"/],
      [{ ocspStaple: 'x', ocspStapleMem: 'x' }, /"ocspStapleMem" and its alias "ocspStaple"/],
      [{ ecdheCurves: 'P-256', ecdhecurves: 'P-256' }, /"ecdhecurves" and its alias "ecdheCurves"/],
      [{ dheParams: 'auto', dheparams: 'auto' }, /"dheparams" and its alias "dheParams"/],
      [
        { insecure: { noVerifyCert: true, noverifycert: true } },
        /"noverifycert" and its alias "noVerifyCert"/,
      ],
      [
        { insecure: { noverifyname: true, noVerifyName: false } },
        /"noverifyname" and its alias "noVerifyName"/,
      ],
      [
        { insecure: { noVerifyTime: true, noverifytime: true } },
        /"noverifytime" and its alias "noVerifyTime"/,
      ],
    ]) {
      const r = attempt(() => new Config(o));
      assert.deepEqual(
        [r.ok, r.name, r.code],
        [false, 'TypeError', 'ERR_INVALID_ARG_VALUE'],
        JSON.stringify(r),
      );
      assert.match(r.message, re);
    }
    // undefined is unset, as for every other key: no conflict
    const c = new Config({ ca: undefined, caMem: pem('ca.crt') });
    c.free();
  });

  test('connect() and createServer() take the primary keys in `config`', async () => {
    const server = L.createServer(
      { config: { certMem: pem('server.crt'), keyMem: pem('server.key') } },
      (s) => s.end('hi'),
    );
    try {
      await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
      const { port } = server.address();
      const socket = await L.connect({
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        config: { caMem: pem('ca.crt') },
      });
      assert.equal(socket.authorized, true);
      const chunks = [];
      for await (const c of socket) chunks.push(c);
      assert.equal(Buffer.concat(chunks).toString(), 'hi');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test('createHttpsServer() refuses a config without a certificate the same way under the primary and the alias key', async () => {
    for (const config of [{ caMem: pem('ca.crt') }, { ca: pem('ca.crt') }]) {
      const r = attempt(() => L.createHttpsServer({ config }));
      assert.deepEqual([r.name, r.code], ['TypeError', 'ERR_LIBTLS_NO_CERTIFICATE']);
    }
    for (const config of [
      { certMem: pem('server.crt'), keyMem: pem('server.key') },
      { cert: pem('server.crt'), key: pem('server.key') },
    ]) {
      const s = L.createHttpsServer({ config });
      assert.ok(s instanceof L.HttpsServer);
      await new Promise((resolve) => s.close(() => resolve()));
    }
  });
});

describe('constants: each alias is its primary', () => {
  const pairs = [
    ['PROTOCOL_TLSv1_0', 'TLS_v10'],
    ['PROTOCOL_TLSv1_1', 'TLS_v11'],
    ['PROTOCOL_TLSv1_2', 'TLS_v12'],
    ['PROTOCOL_TLSv1_3', 'TLS_v13'],
    ['PROTOCOL_TLSv1', 'TLS_v1x'],
    ['PROTOCOLS_DEFAULT', 'TLS_DEFAULT'],
  ];

  test("the values are tls.h's (as libtls's own keywords parse) and each alias has its primary's value", () => {
    for (const [p, a] of pairs) {
      assert.equal(typeof L[p], 'number', p);
      assert.equal(L[a], L[p], `${a} === ${p}`);
    }
    assert.equal(L.PROTOCOL_TLSv1_2, Config.parseProtocols('tlsv1.2'));
    assert.equal(L.PROTOCOL_TLSv1_3, Config.parseProtocols('tlsv1.3'));
    assert.equal(L.PROTOCOLS_DEFAULT, Config.parseProtocols('secure'));
    assert.equal(L.PROTOCOLS_ALL, Config.parseProtocols('all'));
    // TLS_PROTOCOL_TLSv1 is every version this libtls can enable: TLS 1.0 to 1.3 on libretls, 1.2
    // and 1.3 on LibreSSL 4 (backend.protocols, measured)
    assert.equal(L.PROTOCOL_TLSv1, L.backend.protocols);
    assert.equal(
      L.PROTOCOL_TLSv1,
      (L.backend.protocols & L.PROTOCOL_TLSv1_0) !== 0
        ? L.PROTOCOL_TLSv1_0 | L.PROTOCOL_TLSv1_1 | L.PROTOCOL_TLSv1_2 | L.PROTOCOL_TLSv1_3
        : L.PROTOCOL_TLSv1_2 | L.PROTOCOL_TLSv1_3,
    );
  });

  test('setProtocols with a primary and with its alias negotiates the same version', async () => {
    for (const [p, a, version] of [
      ['PROTOCOL_TLSv1_2', 'TLS_v12', 'TLSv1.2'],
      ['PROTOCOL_TLSv1_3', 'TLS_v13', 'TLSv1.3'],
    ]) {
      const r = await same(p, a, (k) => outcome(serverConfig(), clientConfig().setProtocols(L[k])));
      ok(r);
      assert.equal(r.version, version);
    }
  });
});
