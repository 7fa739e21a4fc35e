// Config.setAlpn() and the `alpn` option: argument checks and the protocol a handshake selects.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { againstOpenssl, handshake, throwsArg, withConfig } from '../support/config.mjs';
import { clientConfig, L, serverConfig } from '../support/helpers.mjs';

describe('bad arguments are refused before C', () => {
  test('setAlpn refuses empty names, commas inside array items, long names and non-strings', () => {
    withConfig((c) => {
      throwsArg(() => c.setAlpn(''), TypeError, /alpn\[0\] must not be empty/);
      throwsArg(() => c.setAlpn([]), TypeError, /alpn must not be empty/);
      throwsArg(() => c.setAlpn('h2,,http/1.1'), TypeError, /alpn\[1\] must not be empty/);
      throwsArg(() => c.setAlpn(['h2,http/1.1']), TypeError, /alpn\[0\] must not contain a comma/);
      throwsArg(() => c.setAlpn(['h2', 3]), TypeError, /alpn\[1\] must be a string/);
      throwsArg(() => c.setAlpn(42), TypeError, /alpn must be a string or an array of strings/);
      throwsArg(() => c.setAlpn('a'.repeat(256)), RangeError, /at most 255 bytes/);
      assert.equal(c.setAlpn('a'.repeat(255)), c);
    });
  });
});

describe('setter effects proven by a handshake', () => {
  describe('ALPN', () => {
    test('setAlpn with a string on the server and an array on the client selects the common protocol', async () => {
      const r = await handshake(
        serverConfig().setAlpn('h2,http/1.1'),
        clientConfig().setAlpn(['x-none', 'http/1.1']),
      );
      assert.equal(r.alpn, 'http/1.1');
      assert.equal(r.serverAlpn, 'http/1.1');
    });

    test('setAlpn against openssl s_server -alpn negotiates the one protocol both offer', async () => {
      const r = await againstOpenssl(['-alpn', 'h2,http/1.1'], clientConfig().setAlpn('x-none,h2'));
      assert.equal(r.alpn, 'h2');
    });

    test('without a common protocol no ALPN is selected (null), or the server refuses the client (alpnMismatch)', async () => {
      const r = await handshake(serverConfig().setAlpn('h2'), clientConfig().setAlpn('x-none'));
      if (L.backend.capabilities.alpnMismatch === 'ignore') {
        assert.equal(r.clientError, undefined);
        assert.equal(r.alpn, null);
      } else {
        assert.equal(
          r.clientError?.code,
          'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL',
          String(r.clientError),
        );
        assert.equal(r.serverError?.code, 'ERR_SSL_NO_APPLICATION_PROTOCOL', String(r.serverError));
      }
    });
  });
});
