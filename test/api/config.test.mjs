// The `Config` object itself: every setter returns `this`, arguments are checked before C, libtls's
// failures are TlsErrors naming the libtls function, the options object, free()/dispose, and the
// error-text traps of tls_config_error(). Each setter's effect is tested in test/api/config-*.test.mjs.
import assert from 'node:assert/strict';
import { closeSync } from 'node:fs';
import os from 'node:os';
import { describe, test } from 'node:test';
import {
  handshake,
  handshakeContexts,
  serverHash,
  sessionFile,
  throwsArg,
  withConfig,
} from '../support/config.mjs';
import { clientConfig, L, pem, pki, serverConfig, throwsTls } from '../support/helpers.mjs';

const { Config, TlsError } = L;

/** Asserts that `fn(cfg)` returns `cfg` itself (the setter chains). */
function chains(fn) {
  withConfig((c) => assert.equal(fn(c), c));
}

/** A short label for a test name: Uint8Arrays as `Uint8Array(n)`. */
const show = (v) =>
  JSON.stringify(v, (_k, x) => (x instanceof Uint8Array ? `Uint8Array(${x.length})` : x)).replace(
    /"(Uint8Array\(\d+\))"/g,
    '$1',
  );

const AES128 = 'ECDHE-ECDSA-AES128-GCM-SHA256';

describe('every setter returns this (chaining)', () => {
  const ticket = new Uint8Array(L.TICKET_KEY_SIZE).fill(7);

  const cases = {
    setAlpn: (c) => c.setAlpn('h2,http/1.1'),
    'setAlpn(array)': (c) => c.setAlpn(['h2', 'http/1.1']),
    setCaFile: (c) => c.setCaFile(pki('ca.crt')),
    setCaPath: (c) => c.setCaPath(os.tmpdir()),
    setCa: (c) => c.setCa(pem('ca.crt')),
    setCertFile: (c) => c.setCertFile(pki('server.crt')),
    setCert: (c) => c.setCert(pem('server.crt').toString()),
    setCiphers: (c) => c.setCiphers(AES128),
    setCrlFile: (c) => c.setCrlFile(pki('crl.pem')),
    setCrl: (c) => c.setCrl(pem('crl.pem')),
    setKeyFile: (c) => c.setKeyFile(pki('server.key')),
    setKey: (c) => c.setKey(pem('server.key')),
    setKeypairFile: (c) => c.setKeypairFile(pki('server.crt'), pki('server.key')),
    'setKeypairFile(staple)': (c) =>
      c.setKeypairFile(pki('server.crt'), pki('server.key'), pki('ocsp-good.der')),
    setKeypair: (c) => c.setKeypair(pem('server.crt'), pem('server.key')),
    'setKeypair(staple)': (c) => c.setKeypair(pem('server.crt'), pem('server.key'), pem('ocsp-good.der')),
    setOcspStaple: (c) => c.setOcspStaple(pem('ocsp-good.der')),
    setOcspStapleFile: (c) => c.setOcspStapleFile(pki('ocsp-good.der')),
    setProtocols: (c) => c.setProtocols(L.TLS_v12, 'tlsv1.3'),
    insecureNoVerifyCert: (c) => c.insecureNoVerifyCert(),
    insecureNoVerifyName: (c) => c.insecureNoVerifyName(),
    insecureNoVerifyTime: (c) => c.insecureNoVerifyTime(),
    verify: (c) => c.verify(),
    verifyClient: (c) => c.verifyClient(),
    verifyClientOptional: (c) => c.verifyClientOptional(),
    clearKeys: (c) => c.clearKeys(),
    addKeypairFile: (c) => c.addKeypairFile(pki('other.crt'), pki('other.key')),
    'addKeypairFile(staple)': (c) =>
      c.addKeypairFile(pki('other.crt'), pki('other.key'), pki('ocsp-other.der')),
    addKeypair: (c) => c.addKeypair(pem('other.crt'), pem('other.key')),
    'addKeypair(staple)': (c) => c.addKeypair(pem('other.crt'), pem('other.key'), pem('ocsp-other.der')),
    preferCiphersClient: (c) => c.preferCiphersClient(),
    preferCiphersServer: (c) => c.preferCiphersServer(),
    setDheparams: (c) => c.setDheparams('auto'),
    setEcdhecurve: (c) => c.setEcdhecurve('P-256'),
    setEcdhecurves: (c) => c.setEcdhecurves('X25519,P-256'),
    'setEcdhecurves(array)': (c) => c.setEcdhecurves(['X25519', 'P-256']),
    setSessionId: (c) => c.setSessionId(new Uint8Array(L.MAX_SESSION_ID_LENGTH).fill(1)),
    setSessionLifetime: (c) => c.setSessionLifetime(300),
    addTicketKey: (c) => c.addTicketKey(1, ticket),
    ocspRequireStapling: (c) => c.ocspRequireStapling(),
    setVerifyDepth: (c) => c.setVerifyDepth(3),
  };

  for (const [name, fn] of Object.entries(cases)) {
    test(`${name} returns the same Config`, () => chains(fn));
  }

  test('a whole chain of setters builds a server that handshakes', async () => {
    const srv = new Config()
      .setCertFile(pki('server.crt'))
      .setKeyFile(pki('server.key'))
      .setProtocols(L.TLS_v12)
      .setCiphers(AES128)
      .setAlpn('h2');
    const r = await handshake(srv, clientConfig({ alpn: 'h2' }));
    assert.equal(r.clientError, undefined);
    assert.deepEqual([r.version, r.cipher, r.alpn], ['TLSv1.2', AES128, 'h2']);
  });
});

describe('bad arguments are refused before C', () => {
  test('path setters refuse a non-string, an empty string and a NUL byte with TypeError', () => {
    const pathSetters = [
      'setCaFile',
      'setCaPath',
      'setCertFile',
      'setCrlFile',
      'setKeyFile',
      'setOcspStapleFile',
    ];
    withConfig((c) => {
      for (const m of pathSetters) {
        throwsArg(() => c[m](42), TypeError, /path must be a string, got number 42/);
        throwsArg(() => c[m](undefined), TypeError, /path must be a string/);
        throwsArg(() => c[m](''), TypeError, /path must not be empty/);
        throwsArg(() => c[m](`${pki('ca.crt')}\0.evil`), TypeError, /path must not contain NUL/);
      }
    });
  });

  test('memory setters refuse anything but a string or a Uint8Array with TypeError', () => {
    withConfig((c) => {
      throwsArg(() => c.setCa(42), TypeError, /^ca must be a string or a Uint8Array, got number 42/);
      throwsArg(() => c.setCert({}), TypeError, /^cert must be a string or a Uint8Array/);
      throwsArg(() => c.setKey(null), TypeError, /^key must be a string or a Uint8Array, got null/);
      throwsArg(() => c.setCrl([1, 2]), TypeError, /^crl must be a string or a Uint8Array, got an array/);
      throwsArg(() => c.setOcspStaple(1), TypeError, /^staple must be a string or a Uint8Array/);
      throwsArg(() => c.setSessionId(1), TypeError, /^sessionId must be a string or a Uint8Array/);
      for (const m of ['setKeypair', 'addKeypair']) {
        throwsArg(() => c[m](42, pem('server.key')), TypeError, /^cert must be/);
        throwsArg(() => c[m](pem('server.crt'), 42), TypeError, /^key must be/);
        throwsArg(() => c[m](pem('server.crt'), pem('server.key'), 42), TypeError, /^ocspStaple must be/);
      }
    });
  });

  test('string setters refuse empty strings, NUL bytes and non-strings', () => {
    withConfig((c) => {
      throwsArg(() => c.setCiphers(''), TypeError, /ciphers must not be empty/);
      throwsArg(() => c.setCiphers('ECDHE\0'), TypeError, /ciphers must not contain NUL/);
      throwsArg(() => c.setDheparams(''), TypeError, /params must not be empty/);
      throwsArg(() => c.setDheparams(1), TypeError, /params must be a string/);
      throwsArg(() => c.setEcdhecurve(''), TypeError, /curve must not be empty/);
      throwsArg(() => c.setEcdhecurves(''), TypeError, /curves must not be empty/);
      throwsArg(() => c.setEcdhecurves([]), TypeError, /curves must not be empty/);
      throwsArg(() => c.setEcdhecurves(['P-256,P-384']), TypeError, /curves\[0\] must not contain a comma/);
    });
  });

  test('numeric setters refuse negatives, non-integers and non-numbers', () => {
    withConfig((c) => {
      throwsArg(() => c.setVerifyDepth(-1), RangeError, /depth must be between 0 and 2147483647, got -1/);
      throwsArg(() => c.setVerifyDepth(1.5), RangeError, /depth must be an integer, got 1\.5/);
      throwsArg(() => c.setVerifyDepth('1'), TypeError, /depth must be an integer, got a string/);
      throwsArg(() => c.setVerifyDepth(2 ** 31), RangeError, /depth must be between/);
      throwsArg(() => c.setSessionLifetime(-1), RangeError, /seconds must be between 0 and/);
      throwsArg(() => c.setSessionLifetime(60.5), RangeError, /seconds must be an integer/);
      throwsArg(() => c.setSessionLifetime('60'), TypeError, /seconds must be an integer, got a string/);
      throwsArg(() => c.setSessionFd(-1), RangeError, /sessionFd must be between 0 and/);
      throwsArg(() => c.setSessionFd(3.5), RangeError, /sessionFd must be an integer/);
      throwsArg(() => c.setSessionFd('3'), TypeError, /sessionFd must be an integer/);
    });
  });
});

describe('libtls failures throw TlsError naming the libtls function', () => {
  // Each case runs on a fresh Config so the message is the one libtls sets for that call.
  const missing = '/nonexistent/libtls-test-missing';

  const cases = [
    [
      'setCaFile',
      (c) => c.setCaFile(missing),
      'tls_config_set_ca_file',
      /^failed to open CA file '\/nonexistent\/libtls-test-missing': No such file or directory$/,
    ],
    [
      'setCertFile',
      (c) => c.setCertFile(missing),
      'tls_config_set_cert_file',
      /^failed to open certificate file '.*missing': No such file/,
    ],
    ['setCert', (c) => c.setCert('garbage'), 'tls_config_set_cert_mem', /^failed to load certificate/],
    [
      'setCiphers',
      (c) => c.setCiphers('BOGUS-CIPHER'),
      'tls_config_set_ciphers',
      /^no ciphers for 'BOGUS-CIPHER'$/,
    ],
    [
      'setCrlFile',
      (c) => c.setCrlFile(missing),
      'tls_config_set_crl_file',
      /^failed to open CRL file '.*missing': No such file/,
    ],
    [
      'setKeyFile',
      (c) => c.setKeyFile(missing),
      'tls_config_set_key_file',
      /^failed to open key file '.*missing': No such file/,
    ],
    [
      'setKeypairFile (cert)',
      (c) => c.setKeypairFile(missing, pki('server.key')),
      'tls_config_set_keypair_file',
      /^failed to open certificate file/,
    ],
    [
      'setKeypairFile (key)',
      (c) => c.setKeypairFile(pki('server.crt'), missing),
      'tls_config_set_keypair_file',
      /^failed to open key file/,
    ],
    [
      'setKeypairFile (staple)',
      (c) => c.setKeypairFile(pki('server.crt'), pki('server.key'), missing),
      'tls_config_set_keypair_ocsp_file',
      /^failed to open ocsp file '.*missing'/,
    ],
    [
      'setKeypair',
      (c) => c.setKeypair('garbage', 'garbage'),
      'tls_config_set_keypair_mem',
      /^failed to load certificate/,
    ],
    [
      'setKeypair (staple)',
      (c) => c.setKeypair('garbage', 'garbage', pem('ocsp-good.der')),
      'tls_config_set_keypair_ocsp_mem',
      /^failed to load certificate/,
    ],
    [
      'addKeypairFile',
      (c) => c.addKeypairFile(missing, pki('other.key')),
      'tls_config_add_keypair_file',
      /^failed to open certificate file/,
    ],
    [
      'addKeypairFile (staple)',
      (c) => c.addKeypairFile(pki('other.crt'), pki('other.key'), missing),
      'tls_config_add_keypair_ocsp_file',
      /^failed to open ocsp file/,
    ],
    [
      'addKeypair',
      (c) => c.addKeypair('garbage', pem('other.key')),
      'tls_config_add_keypair_mem',
      /^failed to load certificate/,
    ],
    [
      'addKeypair (staple)',
      (c) => c.addKeypair('garbage', pem('other.key'), pem('ocsp-other.der')),
      'tls_config_add_keypair_ocsp_mem',
      /^failed to load certificate/,
    ],
    [
      'setOcspStapleFile',
      (c) => c.setOcspStapleFile(missing),
      'tls_config_set_ocsp_staple_file',
      /^failed to open ocsp file '.*missing': No such file/,
    ],
    [
      'setDheparams',
      (c) => c.setDheparams('bogus'),
      'tls_config_set_dheparams',
      /^invalid dhe param 'bogus'$/,
    ],
    [
      'setEcdhecurve',
      (c) => c.setEcdhecurve('bogus'),
      'tls_config_set_ecdhecurve',
      /^invalid ecdhe curve 'bogus'$/,
    ],
    [
      'setEcdhecurve (a list)',
      (c) => c.setEcdhecurve('P-256,P-384'),
      'tls_config_set_ecdhecurve',
      /^invalid ecdhe curve 'P-256,P-384'$/,
    ],
    [
      'setEcdhecurves',
      (c) => c.setEcdhecurves('P-256,bogus'),
      'tls_config_set_ecdhecurves',
      /^invalid ecdhe curve 'bogus'$/,
    ],
    [
      'setSessionLifetime (too small)',
      (c) => c.setSessionLifetime(1),
      'tls_config_set_session_lifetime',
      /^session lifetime too small$/,
    ],
    [
      'setSessionLifetime (too large)',
      (c) => c.setSessionLifetime(86401),
      'tls_config_set_session_lifetime',
      /^session lifetime too large$/,
    ],
    [
      'addTicketKey (same keyrev, other key)',
      (c) => c.addTicketKey(1, new Uint8Array(48)).addTicketKey(1, new Uint8Array(48).fill(1)),
      'tls_config_add_ticket_key',
      /^ticket key already present$/,
    ],
  ];

  for (const [name, fn, op, re] of cases) {
    test(`${name} failure throws TlsError with op ${op}`, () =>
      withConfig((c) => throwsTls(() => fn(c), op, re)));
  }
});

describe('the options object', () => {
  test('an unknown key is a TypeError naming the key', () => {
    throwsArg(
      () => new Config({ caFile: pki('ca.crt'), cipherz: 'x' }),
      TypeError,
      /unknown Config option: "cipherz"/,
    );
  });

  test('insecure with an unknown subkey is a TypeError naming it', () => {
    throwsArg(
      () => new Config({ insecure: { noVerifyAll: true } }),
      TypeError,
      /unknown insecure option: "noVerifyAll"/,
    );
  });

  test('options that are not a plain object are a TypeError', () => {
    throwsArg(() => new Config(null), TypeError, /options must be an object, got null/);
    throwsArg(() => new Config([]), TypeError, /options must be an object, got an array/);
    throwsArg(() => new Config('caFile'), TypeError, /options must be an object, got a string/);
  });

  test('keys set to undefined are ignored', () => {
    const c = new Config({ caFile: undefined, alpn: undefined });
    assert.equal(c.freed, false);
    c.free();
  });

  // Every key of `ConfigOptions`, with a value its setter refuses: the error proves the mapping.
  const badValues = [
    ['ca', 42, TypeError, /^ca must be a string or a Uint8Array/],
    [
      'caFile',
      '/nonexistent/ca.pem',
      'tls_config_set_ca_file',
      /failed to open CA file '\/nonexistent\/ca\.pem'/,
    ],
    ['caPath', '', TypeError, /^path must not be empty/],
    ['cert', 'garbage', 'tls_config_set_cert_mem', /failed to load certificate/],
    ['certFile', '/nonexistent/c.pem', 'tls_config_set_cert_file', /failed to open certificate file/],
    ['key', 42, TypeError, /^key must be a string or a Uint8Array/],
    ['keyFile', '/nonexistent/k.pem', 'tls_config_set_key_file', /failed to open key file/],
    [
      'keypairs',
      [{ cert: 'garbage', key: 'garbage' }],
      'tls_config_add_keypair_mem',
      /failed to load certificate/,
    ],
    ['keypairs', {}, TypeError, /^keypairs must be an array/],
    ['keypairs', [null], TypeError, /^keypairs\[0\] must be an object/],
    ['keypairs', [{ cert: 'a', key: 'b', staple: 'c' }], TypeError, /unknown keypairs\[0\] option: "staple"/],
    ['alpn', '', TypeError, /^alpn\[0\] must not be empty/],
    ['protocols', 'bogus', 'tls_config_parse_protocols', /invalid protocol string/],
    ['protocols', [], RangeError, /at least one protocol/],
    // a set this libtls cannot enable: a gap where TLS 1.0 and 1.1 exist (backend.protocols), only
    // versions it lacks where they do not
    (L.backend.protocols & (L.TLS_v10 | L.TLS_v11)) !== 0
      ? ['protocols', 'all:!tlsv1.1', RangeError, /has a gap/]
      : ['protocols', 'tlsv1.0,tlsv1.1', RangeError, /names no TLS version this libtls can enable/],
    ['ciphers', 'BOGUS', 'tls_config_set_ciphers', /no ciphers for 'BOGUS'/],
    ['ecdheCurves', 'bogus', 'tls_config_set_ecdhecurves', /invalid ecdhe curve 'bogus'/],
    ['dheParams', 'bogus', 'tls_config_set_dheparams', /invalid dhe param 'bogus'/],
    ['crl', 42, TypeError, /^crl must be a string or a Uint8Array/],
    ['crlFile', '/nonexistent/crl.pem', 'tls_config_set_crl_file', /failed to open CRL file/],
    ['verifyDepth', -1, RangeError, /^depth must be between 0 and/],
    ['verifyClient', 'yes', TypeError, /^verifyClient must be a boolean/],
    ['ocspStaple', 42, TypeError, /^staple must be a string or a Uint8Array/],
    ['ocspRequireStapling', 'yes', TypeError, /^ocspRequireStapling must be a boolean/],
    ['insecure', true, TypeError, /^insecure must be an object/],
    ['insecure', { noVerifyCert: 'yes' }, TypeError, /^insecure\.noVerifyCert must be a boolean/],
    ['insecure', { noVerifyName: 1 }, TypeError, /^insecure\.noVerifyName must be a boolean/],
    ['insecure', { noVerifyTime: null }, TypeError, /^insecure\.noVerifyTime must be a boolean/],
    ['sessionLifetime', 1, 'tls_config_set_session_lifetime', /session lifetime too small/],
    ['sessionId', new Uint8Array(33), RangeError, /sessionId must be at most 32 bytes/],
    ['ticketKeys', [{ keyrev: 1, key: new Uint8Array(47) }], RangeError, /must be 48 bytes, got 47/],
    ['ticketKeys', {}, TypeError, /^ticketKeys must be an array/],
    [
      'ticketKeys',
      [{ keyrev: 1, key: new Uint8Array(48), x: 1 }],
      TypeError,
      /unknown ticketKeys\[0\] option: "x"/,
    ],
    ['sessionFd', -1, RangeError, /^sessionFd must be between 0 and/],
    ['preferCiphers', 'bogus', TypeError, /^preferCiphers must be 'client' or 'server'/],
  ];

  for (const [key, value, kind, re] of badValues) {
    const what = typeof kind === 'string' ? `TlsError ${kind}` : kind.name;
    test(`option ${key} = ${show(value)} throws ${what}`, () => {
      if (typeof kind === 'string') throwsTls(() => new Config({ [key]: value }), kind, re);
      else throwsArg(() => new Config({ [key]: value }), kind, re);
    });
  }

  test('every key of ConfigOptions is accepted with a good value', () => {
    const fd = sessionFile();
    try {
      const c = new Config({
        ca: pem('ca.crt'),
        caFile: pki('ca.crt'),
        caPath: os.tmpdir(),
        cert: pem('server.crt'),
        certFile: pki('server.crt'),
        key: pem('server.key'),
        keyFile: pki('server.key'),
        keypairs: [{ cert: pem('other.crt'), key: pem('other.key'), ocspStaple: pem('ocsp-other.der') }],
        alpn: ['h2'],
        protocols: [L.TLS_v12, 'tlsv1.3'],
        ciphers: 'secure',
        ecdheCurves: ['X25519', 'P-256'],
        dheParams: 'auto',
        crl: pem('crl.pem'),
        crlFile: pki('crl.pem'),
        verifyDepth: 4,
        verifyClient: 'optional',
        ocspStaple: pem('ocsp-good.der'),
        ocspRequireStapling: true,
        insecure: { noVerifyCert: false, noVerifyName: false, noVerifyTime: false },
        sessionLifetime: 300,
        sessionId: 'libtls-test',
        ticketKeys: [
          { keyrev: 1, key: new Uint8Array(48) },
          { keyrev: 2, key: new Uint8Array(48).fill(2) },
        ],
        sessionFd: fd,
        preferCiphers: 'client',
      });
      assert.equal(c.freed, false);
      c.free();
    } finally {
      closeSync(fd);
    }
  });

  test('protocols + ciphers + alpn options negotiate exactly what they name', async () => {
    const r = await handshake(
      serverConfig({ alpn: 'h2,http/1.1' }),
      clientConfig({ protocols: 'tlsv1.2', ciphers: AES128, alpn: ['http/1.1'] }),
    );
    assert.deepEqual([r.version, r.cipher, r.alpn], ['TLSv1.2', AES128, 'http/1.1']);
  });
});

describe('free() and [Symbol.dispose]()', () => {
  const calls = {
    setAlpn: (c) => c.setAlpn('h2'),
    setCaFile: (c) => c.setCaFile(pki('ca.crt')),
    setCaPath: (c) => c.setCaPath(os.tmpdir()),
    setCa: (c) => c.setCa(pem('ca.crt')),
    setCertFile: (c) => c.setCertFile(pki('server.crt')),
    setCert: (c) => c.setCert(pem('server.crt')),
    setCiphers: (c) => c.setCiphers('secure'),
    setCrlFile: (c) => c.setCrlFile(pki('crl.pem')),
    setCrl: (c) => c.setCrl(pem('crl.pem')),
    setKeyFile: (c) => c.setKeyFile(pki('server.key')),
    setKey: (c) => c.setKey(pem('server.key')),
    setKeypairFile: (c) => c.setKeypairFile(pki('server.crt'), pki('server.key')),
    setKeypair: (c) => c.setKeypair(pem('server.crt'), pem('server.key')),
    setOcspStaple: (c) => c.setOcspStaple(pem('ocsp-good.der')),
    setOcspStapleFile: (c) => c.setOcspStapleFile(pki('ocsp-good.der')),
    setProtocols: (c) => c.setProtocols(L.TLS_v12),
    insecureNoVerifyCert: (c) => c.insecureNoVerifyCert(),
    insecureNoVerifyName: (c) => c.insecureNoVerifyName(),
    insecureNoVerifyTime: (c) => c.insecureNoVerifyTime(),
    verify: (c) => c.verify(),
    verifyClient: (c) => c.verifyClient(),
    verifyClientOptional: (c) => c.verifyClientOptional(),
    clearKeys: (c) => c.clearKeys(),
    addKeypairFile: (c) => c.addKeypairFile(pki('other.crt'), pki('other.key')),
    addKeypair: (c) => c.addKeypair(pem('other.crt'), pem('other.key')),
    preferCiphersClient: (c) => c.preferCiphersClient(),
    preferCiphersServer: (c) => c.preferCiphersServer(),
    setDheparams: (c) => c.setDheparams('auto'),
    setEcdhecurve: (c) => c.setEcdhecurve('P-256'),
    setEcdhecurves: (c) => c.setEcdhecurves('P-256'),
    setSessionId: (c) => c.setSessionId('id'),
    setSessionLifetime: (c) => c.setSessionLifetime(300),
    addTicketKey: (c) => c.addTicketKey(1, new Uint8Array(48)),
    setSessionFd: (c) => c.setSessionFd(0),
    ocspRequireStapling: (c) => c.ocspRequireStapling(),
    setVerifyDepth: (c) => c.setVerifyDepth(2),
  };

  test('every method after free() throws TlsError "the Config has been freed"', () => {
    const c = new Config();
    c.free();
    assert.equal(c.freed, true);
    for (const [name, fn] of Object.entries(calls)) {
      assert.throws(
        () => fn(c),
        (e) => e instanceof TlsError && e.op === 'tls_config' && /the Config has been freed/.test(e.message),
        `${name} after free()`,
      );
    }
  });

  test('client(), server() and configure() refuse a freed Config with TlsError', () => {
    const c = serverConfig();
    c.free();
    throwsTls(() => L.server(c), 'tls_config', /freed/);
    throwsTls(() => L.client(c), 'tls_config', /freed/);
    const t = L.client();
    try {
      throwsTls(() => t.configure(c), 'tls_config', /freed/);
    } finally {
      t.free();
    }
  });

  test('free() twice is harmless', () => {
    const c = new Config();
    c.free();
    c.free();
    assert.equal(c.freed, true);
  });

  test('[Symbol.dispose]() frees, and after it every method throws; dispose again is harmless', () => {
    const c = new Config();
    assert.equal(c.freed, false);
    c[Symbol.dispose]();
    assert.equal(c.freed, true);
    throwsTls(() => c.setAlpn('h2'), 'tls_config', /freed/);
    c[Symbol.dispose]();
    c.free();
  });

  test('contexts configured with Configs that are then freed still handshake (libtls refcounts)', async () => {
    const scfg = serverConfig({ alpn: 'h2' });
    const ccfg = clientConfig({ alpn: 'h2', protocols: 'tlsv1.2' });
    const srv = L.server(scfg);
    const cli = L.client(ccfg);
    scfg.free();
    ccfg[Symbol.dispose]();
    assert.equal(scfg.freed && ccfg.freed, true);
    await handshakeContexts(srv, cli, () => {
      assert.equal(cli.connVersion(), 'TLSv1.2', 'the freed client config still applies');
      assert.equal(cli.connAlpnSelected(), 'h2', 'the freed server config still applies');
      assert.equal(cli.peerCertHash(), serverHash());
    });
  });
});

describe('error text is never stale (tls_config_error keeps the previous failure)', () => {
  test('failures after a failed setCaFile report their own text, not the earlier path', () => {
    withConfig((c) => {
      throwsTls(() => c.setCaFile('/nonexistent'), 'tls_config_set_ca_file', /'\/nonexistent'/);
      for (const [fn, op, re] of [
        [
          () => c.setKeypair('garbage', 'garbage'),
          'tls_config_set_keypair_mem',
          /failed to load certificate/,
        ],
        [() => c.setSessionLifetime(1), 'tls_config_set_session_lifetime', /session lifetime too small/],
        [() => c.setCiphers('BOGUS'), 'tls_config_set_ciphers', /BOGUS/],
      ]) {
        assert.throws(fn, (e) => {
          assert.equal(e.op, op);
          assert.doesNotMatch(e.message, /nonexistent/);
          assert.match(e.message, re);
          return true;
        });
      }
    });
  });

  test('a success between two failures does not carry the first failure into the second', () => {
    withConfig((c) => {
      throwsTls(() => c.setCaFile('/nonexistent'), 'tls_config_set_ca_file', /nonexistent/);
      assert.equal(c.setCaFile(pki('ca.crt')), c);
      assert.throws(
        () => c.setDheparams('bogus'),
        (e) => e.op === 'tls_config_set_dheparams' && !/nonexistent/.test(e.message),
      );
    });
  });

  test("each failure reports libtls's own text even right after a failure of the same size", () => {
    // libtls frees the old text and allocates the new one, which malloc often places at the same
    // address: a binding that tells "new text" from "old text" by pointer loses the new one.
    const seen = withConfig((c) => {
      const msg = (fn) => {
        try {
          fn();
        } catch (e) {
          return e.message;
        }
        return 'no error';
      };
      return [
        msg(() => c.setSessionLifetime(1)),
        msg(() => c.setSessionLifetime(1)),
        msg(() => c.setSessionLifetime(86401)),
        msg(() => c.setDheparams('bogus')),
        msg(() => c.setEcdhecurve('bogus')),
        msg(() => c.setCiphers('BOGUS')),
        msg(() => c.setCiphers('BOGUS')),
      ];
    });
    assert.deepEqual(seen, [
      'session lifetime too small',
      'session lifetime too small',
      'session lifetime too large',
      "invalid dhe param 'bogus'",
      "invalid ecdhe curve 'bogus'",
      "no ciphers for 'BOGUS'",
      "no ciphers for 'BOGUS'",
    ]);
  });
});
