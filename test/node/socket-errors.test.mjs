// TlsSocket errors: verification failures, truncation, and errors after the handshake.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { L, noop, openFds, pki, serverConfig, sleep, waitFor, within } from '../support/helpers.mjs';
import {
  assertFdsBack,
  connectTo,
  consume,
  nodeTlsOverRaw,
  startServer,
  stopServer,
  T,
} from '../support/sockets.mjs';

/** Resolves on 'close' (events.once would reject on an 'error' event first). */
const closed = (s) => new Promise((resolve) => s.once('close', resolve));

describe('errors: verification, truncation, after the handshake', () => {
  test(
    "connect() with servername 'wrong.test' rejects with TlsError tls_handshake 'not present' and leaves no fd",
    T,
    async () => {
      const { srv, port } = await startServer({}, consume);
      srv.on('tlsClientError', noop);
      try {
        await sleep(20);
        const fds0 = openFds();
        await assert.rejects(
          connectTo(port, { servername: 'wrong.test' }),
          (e) =>
            e instanceof L.TlsError &&
            e.op === 'tls_handshake' &&
            /name `wrong\.test' not present in server certificate/.test(e.message),
        );
        // the server's side of that connection closes too (it sees the TCP close)
        await assertFdsBack(fds0);
      } finally {
        await stopServer(srv);
      }
    },
  );

  for (const strictClose of [false, true]) {
    test(
      strictClose
        ? "strictClose: a peer that drops TCP without close_notify is an 'error' ERR_TLS_TRUNCATED on our server socket, never 'end'"
        : "a peer that drops TCP without close_notify is 'end' with socket.truncated on our server socket (as node:tls), no error",
      T,
      async () => {
        const seen = { data: '', ended: false, error: null, socket: null };
        let done;
        const { srv, port } = await startServer({ strictClose }, (s) => {
          seen.socket = s;
          done = closed(s);
          s.on('data', (d) => {
            seen.data += d;
          });
          s.on('end', () => {
            seen.ended = true;
          });
          s.on('error', (e) => {
            seen.error = e;
          });
        });
        const { raw, c } = nodeTlsOverRaw(port);
        try {
          await within(once(c, 'secureConnect'), 5000, 'secureConnect');
          c.write('partial data');
          assert.ok(await waitFor(() => seen.data === 'partial data'), seen.data);
          assert.equal(seen.socket.truncated, false);
          // TCP goes away, no close_notify: a FIN (end(), not destroy(): a close with the server's
          // session tickets still unread in the client's receive buffer would send a RST instead)
          raw.end();
          await within(done, 5000, 'server socket close');
          assert.equal(seen.socket.truncated, !strictClose);
          if (strictClose) {
            assert.ok(seen.error instanceof L.TlsError, String(seen.error));
            assert.equal(seen.error.op, 'tls_read');
            assert.equal(seen.error.code, 'ERR_TLS_TRUNCATED');
            assert.equal(seen.ended, false);
          } else {
            assert.equal(seen.error, null);
            assert.equal(seen.ended, true);
          }
        } finally {
          c.destroy();
          await stopServer(srv);
        }
      },
    );
  }

  test(
    'a server that destroys its socket: our client socket ends truncated, or errors ERR_TLS_TRUNCATED with strictClose',
    T,
    async () => {
      const { srv, port } = await startServer({}, (s) => s.destroy());
      try {
        for (const strictClose of [false, true]) {
          const c = await connectTo(port, { strictClose });
          const events = [];
          c.on('end', () => events.push('end'));
          c.on('error', (e) => events.push(`error ${e.code}`));
          c.resume();
          // not events.once(): it rejects on 'error'
          await within(new Promise((r) => c.once('close', r)), 5000, "client 'close'");
          assert.deepEqual(events, strictClose ? ['error ERR_TLS_TRUNCATED'] : ['end']);
          assert.equal(c.truncated, !strictClose);
        }
      } finally {
        await stopServer(srv);
      }
    },
  );

  test(
    "TLS 1.3 verifyClient without a client certificate: connect() resolves, then the first read emits 'error' certificate required",
    T,
    async () => {
      const cfg = serverConfig({ caFile: pki('ca.crt'), verifyClient: true, protocols: 'tlsv1.3' });
      const { srv, port } = await startServer({ config: cfg }, () =>
        assert.fail('the server accepted a client without a certificate'),
      );
      const serverFailed = once(srv, 'tlsClientError');
      try {
        const c = await connectTo(port);
        assert.equal(c.version, 'TLSv1.3');
        const failed = once(c, 'error');
        c.resume(); // the first read
        const [err] = await within(failed, 5000, "client 'error'");
        assert.ok(err instanceof L.TlsError, String(err));
        assert.equal(err.op, 'tls_read');
        assert.match(err.message, /certificate required/);
        const [serr] = await within(serverFailed, 5000, 'tlsClientError');
        assert.ok(serr instanceof L.TlsError);
        assert.match(serr.message, /peer did not return a certificate/);
      } finally {
        await stopServer(srv);
        cfg.free();
      }
    },
  );
});
