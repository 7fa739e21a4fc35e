// Sessions: setSessionFd(), setSessionId(), setSessionLifetime(), addTicketKey() and their options.
import assert from 'node:assert/strict';
import { closeSync, fstatSync } from 'node:fs';
import { describe, test } from 'node:test';
import { sessionFile, throwsArg, withConfig } from '../support/config.mjs';
import { clientConfig, L, opensslServer, throwsTls, withSocketpair } from '../support/helpers.mjs';

const { Config } = L;

/** Asserts that `fn(cfg)` returns `cfg` itself (the setter chains). */
function chains(fn) {
  withConfig((c) => assert.equal(fn(c), c));
}

describe('every setter returns this (chaining)', () => {
  test('setSessionFd returns the same Config for a 0600 regular file', () => {
    const fd = sessionFile();
    try {
      chains((c) => c.setSessionFd(fd));
    } finally {
      closeSync(fd);
    }
  });
});

describe('bad arguments are refused before C', () => {
  test('setSessionId refuses 33 bytes with RangeError and accepts 32', () => {
    withConfig((c) => {
      assert.equal(L.MAX_SESSION_ID_LENGTH, 32);
      throwsArg(() => c.setSessionId(new Uint8Array(33)), RangeError, /sessionId must be at most 32 bytes/);
      throwsArg(() => c.setSessionId('x'.repeat(33)), RangeError, /at most 32 bytes/);
      assert.equal(c.setSessionId('x'.repeat(32)), c);
    });
  });

  test('addTicketKey refuses a 47-byte key, a string key and a bad keyrev', () => {
    withConfig((c) => {
      assert.equal(L.TICKET_KEY_SIZE, 48);
      throwsArg(() => c.addTicketKey(1, new Uint8Array(47)), RangeError, /must be 48 bytes, got 47/);
      throwsArg(() => c.addTicketKey(1, new Uint8Array(49)), RangeError, /must be 48 bytes, got 49/);
      throwsArg(() => c.addTicketKey(1, 'x'.repeat(48)), TypeError, /key must be a Uint8Array, got a string/);
      throwsArg(
        () => c.addTicketKey(-1, new Uint8Array(48)),
        RangeError,
        /keyrev must be between 0 and 4294967295/,
      );
      throwsArg(() => c.addTicketKey(2 ** 32, new Uint8Array(48)), RangeError, /keyrev must be between/);
      throwsArg(() => c.addTicketKey(1.5, new Uint8Array(48)), RangeError, /keyrev must be an integer/);
    });
  });
});

describe('libtls failures throw TlsError naming the libtls function', () => {
  test('setSessionLifetime accepts 0 (off) and the 60..86400 range libtls allows', () => {
    withConfig((c) => {
      for (const s of [0, 60, 3600, 86400]) assert.equal(c.setSessionLifetime(s), c);
    });
  });

  test('addTicketKey accepts the same key again under the newest keyrev', () => {
    withConfig((c) => {
      const k = new Uint8Array(48).fill(9);
      assert.equal(c.addTicketKey(5, k).addTicketKey(5, k).addTicketKey(6, new Uint8Array(48)), c);
    });
  });
});

describe('setter effects proven by a handshake', () => {
  describe('sessions', () => {
    test('setSessionFd lets a TLS 1.2 client resume its session with openssl s_server', async () => {
      const fd = sessionFile();
      let peer;
      try {
        peer = await opensslServer(['-tls1_2'], { naccept: 2 });
        const resumed = [];
        for (let i = 0; i < 2; i++) {
          const cfg = clientConfig().setProtocols(L.TLS_v12).setSessionFd(fd);
          const t = L.client(cfg);
          try {
            t.connect('127.0.0.1', peer.port);
            assert.equal(t.handshake(), 0);
            resumed.push(t.connSessionResumed());
            t.close();
          } finally {
            t.free();
            cfg.free();
          }
        }
        assert.deepEqual(resumed, [false, true]);
        assert.ok(fstatSync(fd).size > 0, 'the session was written to the file');
      } finally {
        closeSync(fd);
        if (peer) await peer.kill();
      }
    });
  });
});

describe('setSessionFd', () => {
  test('a socketpair fd is refused: "session file is not a regular file"', () =>
    withSocketpair((a) =>
      withConfig((c) =>
        throwsTls(
          () => c.setSessionFd(a),
          'tls_config_set_session_fd',
          /^session file is not a regular file$/,
        ),
      ),
    ));

  test("a tmp file opened 'w+' with mode 0600 is accepted", () => {
    const fd = sessionFile();
    try {
      chains((c) => c.setSessionFd(fd));
    } finally {
      closeSync(fd);
    }
  });

  test('a regular file readable by others (0644) is refused by libtls', () => {
    const fd = sessionFile(0o644);
    try {
      withConfig((c) =>
        throwsTls(
          () => c.setSessionFd(fd),
          'tls_config_set_session_fd',
          /^session file has incorrect permissions \(644 != 600\)$/,
        ),
      );
    } finally {
      closeSync(fd);
    }
  });

  test('a closed fd is refused: "failed to stat session file"', () => {
    const fd = sessionFile();
    closeSync(fd);
    withConfig((c) =>
      throwsTls(
        () => c.setSessionFd(fd),
        'tls_config_set_session_fd',
        /failed to stat session file: Bad file descriptor/,
      ),
    );
  });
});

describe('the options object', () => {
  test('option sessionFd with a socketpair fd throws TlsError tls_config_set_session_fd', () =>
    withSocketpair((a) =>
      throwsTls(() => new Config({ sessionFd: a }), 'tls_config_set_session_fd', /not a regular file/),
    ));

  test('ticketKeys with two keys is accepted; a repeated keyrev with another key is refused by libtls', () => {
    const c = new Config({
      ticketKeys: [
        { keyrev: 1, key: new Uint8Array(48) },
        { keyrev: 2, key: new Uint8Array(48).fill(1) },
      ],
    });
    c.free();
    throwsTls(
      () =>
        new Config({
          ticketKeys: [
            { keyrev: 1, key: new Uint8Array(48) },
            { keyrev: 1, key: new Uint8Array(48).fill(1) },
          ],
        }),
      'tls_config_add_ticket_key',
      /ticket key already present/,
    );
  });
});
