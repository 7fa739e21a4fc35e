// Config.setProtocols(), Config.parseProtocols() and the `protocols` option: argument checks and the
// version a handshake negotiates.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { againstOpenssl, handshake, throwsArg, withConfig } from '../support/config.mjs';
import { assertTlsCode, clientConfig, L, serverConfig, throwsTls } from '../support/helpers.mjs';

const { Config } = L;

// whether this libtls can enable TLS 1.0 and 1.1 (libretls) or not (LibreSSL 4), as measured
const legacy = (L.backend.protocols & (L.TLS_v10 | L.TLS_v11)) !== 0;

describe('bad arguments are refused before C', () => {
  test('setProtocols() with no argument is a RangeError', () => {
    withConfig((c) => throwsArg(() => c.setProtocols(), RangeError, /at least one protocol/));
  });

  test('setProtocols refuses a set with a gap, an empty set and bad numbers', () => {
    withConfig((c) => {
      if (legacy) {
        throwsArg(() => c.setProtocols('all:!tlsv1.1'), RangeError, /0x1a has a gap/);
        throwsArg(() => c.setProtocols(L.TLS_v11, L.TLS_v13), RangeError, /0x14 has a gap/);
        throwsArg(() => c.setProtocols(L.TLS_v10 | L.TLS_v13), RangeError, /has a gap/);
      } else {
        // no TLS 1.0 or 1.1 here (backend.protocols): their bits are ignored, no gap is left
        assert.equal(c.setProtocols('all:!tlsv1.1'), c);
        assert.equal(c.setProtocols(L.TLS_v11, L.TLS_v13), c);
        assert.equal(c.setProtocols(L.TLS_v10 | L.TLS_v13), c);
        throwsArg(() => c.setProtocols(L.TLS_v10 | L.TLS_v11), RangeError, /0x6 names no TLS version/);
      }
      throwsArg(() => c.setProtocols(L.TLS_v12 | 0x40), RangeError, /0x48 has bits that name no TLS version/);
      throwsArg(() => c.setProtocols(0), RangeError, /the protocol set is empty/);
      throwsArg(() => c.setProtocols(-1), RangeError, /protocols\[0\] must be between 0 and 4294967295/);
      throwsArg(
        () => c.setProtocols(L.TLS_v12, 1.5),
        RangeError,
        /protocols\[1\] must be an integer, got 1\.5/,
      );
      throwsArg(() => c.setProtocols({}), TypeError, /protocols\[0\] must be an integer/);
      throwsArg(() => c.setProtocols('tlsv1.2\0'), TypeError, /must not contain NUL/);
      throwsTls(() => c.setProtocols('tlsv1.4'), 'tls_config_parse_protocols', /invalid protocol string/);
    });
  });
});

describe('setter effects proven by a handshake', () => {
  describe('protocols', () => {
    test("setProtocols(TLS_v12) negotiates 'TLSv1.2' with openssl s_server", async () => {
      const r = await againstOpenssl([], clientConfig().setProtocols(L.TLS_v12));
      assert.equal(r.error, undefined);
      assert.equal(r.version, 'TLSv1.2');
    });

    test("the default Config negotiates 'TLSv1.3' with openssl s_server", async () => {
      const r = await againstOpenssl([], clientConfig());
      assert.equal(r.version, 'TLSv1.3');
    });

    test("setProtocols('tlsv1.3') cannot reach a TLS 1.2-only server", async () => {
      const r = await handshake(
        serverConfig({ protocols: L.TLS_v12 }),
        clientConfig().setProtocols('tlsv1.3'),
      );
      // OpenSSL's server finds no version in common; LibreSSL's fails parsing the client's
      // supported_versions (it offers none the server has). Both send protocol_version.
      assertTlsCode(
        r.serverError,
        'tls_handshake',
        { openssl: 'ERR_SSL_UNSUPPORTED_PROTOCOL', libressl: 'ERR_SSL_PARSE_TLSEXT' },
        /^handshake failed: \S/,
      );
      assertTlsCode(
        r.clientError,
        'tls_handshake',
        'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION',
        /^handshake failed: \S/,
      );
    });

    test('setProtocols mixes masks and keyword strings', async () => {
      const r = await handshake(
        serverConfig({ protocols: 'tlsv1.2' }),
        clientConfig().setProtocols('tlsv1.2', L.TLS_v13),
      );
      assert.equal(r.version, 'TLSv1.2');
    });
  });
});

describe('the options object', () => {
  test('protocols option as a mask negotiates TLS 1.2', async () => {
    const r = await handshake(serverConfig(), clientConfig({ protocols: L.TLS_v12 }));
    assert.equal(r.version, 'TLSv1.2');
  });
});

describe('Config.parseProtocols', () => {
  // What tls_config_parse_protocols returns (determined by calling it): libretls 3.7.0's where TLS
  // 1.0 and 1.1 exist, LibreSSL 4.3's where they do not ('all' is TLS 1.2 and 1.3 there; the
  // single-version keywords keep their deprecated bits)
  const table = [
    ['all', 30, 24],
    ['ALL', 30, 24],
    ['default', 24, 24],
    ['secure', 24, 24],
    ['legacy', 30, 24],
    ['tlsv1', 30, 24],
    ['tlsv1.0', 2, 2],
    ['tlsv1.1', 4, 4],
    ['tlsv1.2', 8, 8],
    ['tlsv1.3', 16, 16],
    ['TLSv1.2', 8, 8],
    ['tlsv1.2,tlsv1.3', 24, 24],
    ['tlsv1.2:tlsv1.3', 24, 24],
    ['all:!tlsv1.0', 28, 24],
    ['all:!tlsv1.1', 26, 24],
    ['!tlsv1.3', 14, 8],
  ];

  for (const [s, withLegacy, without] of table) {
    const mask = legacy ? withLegacy : without;
    test(`parseProtocols(${JSON.stringify(s)}) is ${mask}`, () =>
      assert.equal(Config.parseProtocols(s), mask));
  }

  for (const s of ['', '-tlsv1.3', 'bogus', 'tlsv1.4', 'tlsv1.2 tlsv1.3', 'all,-tlsv1.0']) {
    test(`parseProtocols(${JSON.stringify(s)}) throws TlsError tls_config_parse_protocols`, () => {
      throwsTls(() => Config.parseProtocols(s), 'tls_config_parse_protocols', /^invalid protocol string$/);
    });
  }

  test('the keywords agree with the TLS_* constants', () => {
    assert.deepEqual(
      [L.TLS_v10, L.TLS_v11, L.TLS_v12, L.TLS_v13],
      ['tlsv1.0', 'tlsv1.1', 'tlsv1.2', 'tlsv1.3'].map((s) => Config.parseProtocols(s)),
    );
    assert.equal(Config.parseProtocols('all'), L.TLS_v1x);
    assert.equal(Config.parseProtocols('tlsv1'), L.TLS_v1x);
    assert.equal(Config.parseProtocols('legacy'), L.TLS_v1x);
    assert.equal(Config.parseProtocols('default'), L.TLS_DEFAULT);
    assert.equal(Config.parseProtocols('secure'), L.TLS_DEFAULT);
    assert.equal(Config.parseProtocols('tlsv1.2,tlsv1.3'), L.TLS_v12 | L.TLS_v13);
    assert.equal(Config.parseProtocols('all:!tlsv1.0'), L.TLS_v1x & ~L.TLS_v10);
    assert.equal(Config.parseProtocols('all:!tlsv1.1'), L.TLS_v1x & ~L.TLS_v11);
    assert.equal(Config.parseProtocols('!tlsv1.3'), L.TLS_v1x & ~L.TLS_v13);
    // tls.h's TLS_PROTOCOL_TLSv1 is every version this libtls can enable
    assert.equal(L.TLS_v1x, L.backend.protocols);
    assert.equal(L.TLS_v1x, legacy ? L.TLS_v10 | L.TLS_v11 | L.TLS_v12 | L.TLS_v13 : L.TLS_v12 | L.TLS_v13);
    assert.equal(L.TLS_DEFAULT, L.TLS_v12 | L.TLS_v13);
  });

  test('a non-string is a TypeError, a NUL byte too', () => {
    throwsArg(() => Config.parseProtocols(24), TypeError, /protocols must be a string, got number 24/);
    throwsArg(() => Config.parseProtocols(undefined), TypeError, /protocols must be a string/);
    throwsArg(() => Config.parseProtocols(['all']), TypeError, /protocols must be a string, got an array/);
    throwsArg(() => Config.parseProtocols('all\0'), TypeError, /must not contain NUL/);
  });

  test('a parsed mask given to setProtocols negotiates that version', async () => {
    const r = await handshake(serverConfig(), clientConfig().setProtocols(Config.parseProtocols('!tlsv1.3')));
    assert.equal(r.version, 'TLSv1.2');
  });
});
