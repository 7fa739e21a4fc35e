// Secure defaults: a createServer() given only a certificate and a key offers TLS 1.2 and
// 1.3 only, and only AEAD cipher suites with forward secrecy, whatever libretls's own default list
// says. Proven from the outside by `sslscan` (parsed: every accepted suite is classified) and by
// `openssl s_client` offering one weak suite at a time. The scanner is first shown to see weak
// suites and old protocols on a server configured to allow them, so the absence of findings means
// something. Everything runs on 127.0.0.1.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { assertTlsCode, L, listen, noop, pki, within } from '../support/helpers.mjs';

const T = { timeout: 30_000 };
/** Runs `cmd args` (async, stdin closed), resolving with { code, signal, out } (stdout + stderr). */
function run(cmd, args, ms = 20_000) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
    });
    p.stderr.on('data', (d) => {
      out += d;
    });
    const timer = setTimeout(() => p.kill('SIGKILL'), ms);
    p.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out });
    });
  });
}

/**
 * `sslscan --no-colour 127.0.0.1:port`, parsed: `protocols` maps SSLv2..TLSv1.3 to true/false,
 * `suites` lists `{ version, bits, name }` for every Accepted/Preferred line, `renegotiation` is
 * the line under "TLS renegotiation:".
 */
async function sslscan(port) {
  const { code, out } = await run('sslscan', ['--no-colour', `127.0.0.1:${port}`]);
  assert.equal(code, 0, out);
  const protocols = {};
  const suites = [];
  const lines = out.split('\n');
  for (const line of lines) {
    let m = /^(SSLv2|SSLv3|TLSv1\.[0-3])\s+(enabled|disabled)\s*$/.exec(line);
    if (m) protocols[m[1]] = m[2] === 'enabled';
    m = /^(?:Preferred|Accepted)\s+(\S+)\s+(\d+) bits\s+(\S+)/.exec(line);
    if (m) suites.push({ version: m[1], bits: Number(m[2]), name: m[3] });
  }
  const r = lines.findIndex((l) => /TLS renegotiation:/.test(l));
  const renegotiation = r >= 0 ? lines[r + 1].trim() : null;
  // the scan really ran: every protocol was tested and at least one suite was found
  assert.deepEqual(Object.keys(protocols).sort(), [
    'SSLv2',
    'SSLv3',
    'TLSv1.0',
    'TLSv1.1',
    'TLSv1.2',
    'TLSv1.3',
  ]);
  assert.ok(suites.length > 0, out);
  return { protocols, suites, renegotiation, out };
}

// How a suite name is classified. TLS 1.3 suites are all AEAD with (EC)DHE key exchange.
const isTls13 = (s) => s.version === 'TLSv1.3';
const isAead = (s) => isTls13(s) || /-GCM-|CHACHA20-POLY1305|-CCM/.test(s.name);
const isCbc = (s) => !isAead(s);
const hasSha1Mac = (s) => !isTls13(s) && /-SHA$/.test(s.name);
const hasForwardSecrecy = (s) => isTls13(s) || /^(ECDHE|DHE|EDH)-/.test(s.name);
const isRsaKeyExchange = (s) => !isTls13(s) && !/^(ECDHE|DHE|EDH|AECDH|ADH)-/.test(s.name);
const key = (s) => `${s.version} ${s.name}`;

/** A createServer() with the test PKI's `name`.crt/.key and `extra` Config options; returns { srv, port, failures }. */
async function startServer(name, extra = {}) {
  const srv = L.createServer(
    { config: { certFile: pki(`${name}.crt`), keyFile: pki(`${name}.key`), ...extra } },
    (s) => {
      s.on('error', noop);
      s.resume();
      s.end();
    },
  );
  const failures = [];
  srv.on('tlsClientError', (e) => failures.push(e));
  return { srv, port: await listen(srv), failures };
}

async function stopServer(srv) {
  await within(new Promise((r) => srv.close(r)), 5000, 'server.close()');
  srv.context.free();
}

/** Scans a server made by `configure()` (a name and Config options), then stops it. */
async function scanServer(name, extra) {
  const { srv, port } = await startServer(name, extra);
  try {
    return await sslscan(port);
  } finally {
    await stopServer(srv);
  }
}

const TLS13_SUITES = ['TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_128_GCM_SHA256'];

// The default scans, shared by the tests below (each is a real sslscan run against a fresh server).
const defaults = {};
before(async () => {
  [defaults.ecdsa, defaults.rsa] = await Promise.all([scanServer('server'), scanServer('server-rsa')]);
});

describe('sslscan against a default createServer()', () => {
  for (const [label, which, auth] of [
    ['the ECDSA certificate (server.crt)', 'ecdsa', 'ECDSA'],
    ['the RSA certificate (server-rsa.crt)', 'rsa', 'RSA'],
  ]) {
    test(`with ${label}: TLS 1.2 and 1.3 only, and only AEAD suites with forward secrecy`, T, () => {
      const scan = defaults[which];
      assert.deepEqual(scan.protocols, {
        SSLv2: false,
        SSLv3: false,
        'TLSv1.0': false,
        'TLSv1.1': false,
        'TLSv1.2': true,
        'TLSv1.3': true,
      });
      const bad = (pred) => scan.suites.filter(pred).map(key);
      assert.deepEqual(bad(isCbc), [], 'CBC suites');
      assert.deepEqual(bad(hasSha1Mac), [], 'SHA-1 MAC suites');
      assert.deepEqual(bad(isRsaKeyExchange), [], 'RSA key exchange suites');
      assert.deepEqual(
        bad((s) => !hasForwardSecrecy(s)),
        [],
        'suites without forward secrecy',
      );
      assert.deepEqual(
        bad((s) => !['TLSv1.2', 'TLSv1.3'].includes(s.version)),
        [],
        'old protocols',
      );
      assert.deepEqual(
        bad((s) => s.bits < 128),
        [],
        'suites under 128 bits',
      );
      // and exactly this list, the TLS 1.2 half signed with the certificate's key type
      assert.deepEqual(
        scan.suites.map(key).sort(),
        [
          ...TLS13_SUITES.map((n) => `TLSv1.3 ${n}`),
          `TLSv1.2 ECDHE-${auth}-AES256-GCM-SHA384`,
          `TLSv1.2 ECDHE-${auth}-AES128-GCM-SHA256`,
          `TLSv1.2 ECDHE-${auth}-CHACHA20-POLY1305`,
        ].sort(),
      );
      assert.equal(scan.renegotiation, 'Session renegotiation not supported');
      console.log(`# default ${auth} server: ${scan.suites.map(key).join(', ')}`);
    });
  }

  test(
    'the same scanner and classifier do see TLS 1.0/1.1, CBC, SHA-1 and RSA key exchange on a server configured to allow them',
    T,
    async () => {
      // the control: proves that the empty lists above are findings, not a parser that sees nothing
      // (TLS 1.0 and 1.1 only where this libtls can enable them: libretls, not LibreSSL 4)
      const legacy = (L.backend.protocols & (L.TLS_v10 | L.TLS_v11)) !== 0;
      const scan = await scanServer('server-rsa', { ciphers: 'ALL:@SECLEVEL=0', protocols: 'all' });
      assert.equal(scan.protocols['TLSv1.0'], legacy);
      assert.equal(scan.protocols['TLSv1.1'], legacy);
      assert.equal(scan.protocols['TLSv1.2'], true);
      const names = scan.suites.map(key);
      for (const k of [
        'TLSv1.2 AES128-SHA',
        'TLSv1.2 ECDHE-RSA-AES128-SHA',
        'TLSv1.2 AES256-SHA256',
        ...(legacy ? ['TLSv1.0 AES128-SHA'] : []),
      ]) {
        assert.ok(names.includes(k), `${k} not in ${names.join(', ')}`);
      }
      assert.ok(scan.suites.some(isCbc));
      assert.ok(scan.suites.some(hasSha1Mac));
      assert.ok(scan.suites.some(isRsaKeyExchange));
      assert.ok(scan.suites.some((s) => !hasForwardSecrecy(s)));
    },
  );

  test(
    "dheParams: 'auto' adds only the DHE suites of the list: AES-GCM and ChaCha20-Poly1305, still nothing else",
    T,
    async () => {
      const scan = await scanServer('server-rsa', { dheParams: 'auto' });
      const added = scan.suites.map(key).filter((k) => !defaults.rsa.suites.map(key).includes(k));
      assert.deepEqual(added.sort(), [
        'TLSv1.2 DHE-RSA-AES128-GCM-SHA256',
        'TLSv1.2 DHE-RSA-AES256-GCM-SHA384',
        'TLSv1.2 DHE-RSA-CHACHA20-POLY1305',
      ]);
      assert.deepEqual(scan.suites.filter((x) => isCbc(x) || !hasForwardSecrecy(x)).map(key), []);
      assert.equal(scan.protocols['TLSv1.1'], false);
    },
  );

  test(
    "setCiphers('secure'), setCiphers('default'), ciphers: 'SECURE' and SECURE_CIPHERS give exactly the default's accepted list",
    T,
    async () => {
      assert.equal(typeof L.SECURE_CIPHERS, 'string');
      const want = defaults.rsa.suites.map(key).sort();
      const configs = [
        ["setCiphers('secure')", new L.Config().setCiphers('secure')],
        ["setCiphers('default')", new L.Config().setCiphers('default')],
        ["{ ciphers: 'SECURE' }", new L.Config({ ciphers: 'SECURE' })],
        ['setCiphers(SECURE_CIPHERS)', new L.Config().setCiphers(L.SECURE_CIPHERS)],
      ];
      try {
        const scans = await Promise.all(
          configs.map(async ([label, cfg]) => {
            cfg.setCertFile(pki('server-rsa.crt')).setKeyFile(pki('server-rsa.key'));
            const srv = L.createServer({ config: cfg }, (s) => {
              s.on('error', noop);
              s.resume();
              s.end();
            });
            srv.on('tlsClientError', noop);
            try {
              const scan = await sslscan(await listen(srv));
              return [label, scan];
            } finally {
              await stopServer(srv);
            }
          }),
        );
        for (const [label, scan] of scans) {
          assert.deepEqual(scan.suites.map(key).sort(), want, label);
          assert.equal(scan.protocols['TLSv1.1'], false, label);
        }
      } finally {
        for (const [, c] of configs) c.free();
      }
    },
  );
});

describe('openssl s_client offering one weak suite at a time', () => {
  let server;
  before(async () => {
    server = await startServer('server-rsa');
  });
  after(() => stopServer(server.srv));

  /** `openssl s_client` against the default RSA server with `args`; resolves with its output and the server's new failures. */
  async function sClient(args) {
    const before = server.failures.length;
    const r = await run('openssl', [
      's_client',
      '-connect',
      `127.0.0.1:${server.port}`,
      '-servername',
      'localhost',
      '-CAfile',
      pki('ca.crt'),
      ...args,
    ]);
    // the server's side of a refused handshake is reported on the next turns of the loop
    await within(
      (async () => {
        while (r.code !== 0 && server.failures.length === before) await new Promise((x) => setTimeout(x, 10));
      })(),
      3000,
      'tlsClientError',
    );
    return { ...r, failures: server.failures.slice(before) };
  }

  // Each offered alone over TLS 1.2; @SECLEVEL=0 so that the client really offers it.
  for (const [suite, why] of [
    ['AES128-SHA', 'RSA key exchange, CBC, SHA-1 MAC'],
    ['AES256-SHA256', 'RSA key exchange, CBC'],
    ['AES128-GCM-SHA256', 'RSA key exchange (no forward secrecy) though AEAD'],
    ['ECDHE-RSA-AES128-SHA', 'CBC, SHA-1 MAC'],
    ['ECDHE-RSA-AES256-SHA384', 'CBC'],
    ['ECDHE-RSA-AES256-SHA', 'CBC, SHA-1 MAC'],
    ['ECDHE-RSA-CAMELLIA128-SHA256', 'Camellia CBC'],
  ]) {
    test(`-tls1_2 -cipher ${suite} (${why}) is refused: "no shared cipher" on the server`, T, async () => {
      const r = await sClient(['-tls1_2', '-cipher', `${suite}:@SECLEVEL=0`]);
      assert.notEqual(r.code, 0, r.out);
      assert.match(r.out, /alert handshake failure/, r.out);
      assert.equal(r.failures.length, 1, r.out);
      const [e] = r.failures;
      assert.ok(e instanceof L.TlsError, String(e));
      assert.equal(e.op, 'tls_handshake');
      assert.match(e.message, /no shared cipher/);
    });
  }

  test(
    '-tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256 (AEAD with forward secrecy) is accepted: the control',
    T,
    async () => {
      const r = await sClient(['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256']);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /Cipher is ECDHE-RSA-AES128-GCM-SHA256/);
      assert.match(r.out, /Verify return code: 0 \(ok\)/);
      assert.deepEqual(r.failures, []);
    },
  );

  for (const flag of ['-tls1', '-tls1_1']) {
    test(`${flag} is refused with a protocol_version alert; the server fails with its code`, T, async () => {
      const r = await sClient([flag, '-cipher', 'DEFAULT:@SECLEVEL=0']);
      assert.notEqual(r.code, 0, r.out);
      assert.match(r.out, /alert protocol version/, r.out);
      assert.equal(r.failures.length, 1, r.out);
      // OpenSSL knows the version and does not allow it; LibreSSL 4 knows no TLS 1.0 or 1.1 and
      // says "wrong version number": the package gives OpenSSL's code from the ClientHello's
      // versions on both (a ClientHello that shares none with the server)
      assertTlsCode(r.failures[0], 'tls_handshake', 'ERR_SSL_UNSUPPORTED_PROTOCOL', /^handshake failed: \S/);
    });
  }
});
