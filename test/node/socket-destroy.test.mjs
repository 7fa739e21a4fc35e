// TlsSocket.destroy() at any moment, and many connect/destroy cycles leaving fds and handles as
// they were.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { L, noop, openFds, settle, silentTcpServer, sleep, waitFor, within } from '../support/helpers.mjs';
import { assertFdsBack, connectTo, rawConnect, startServer, stopServer, T } from '../support/sockets.mjs';

const MiB = 1024 * 1024;

/** Active resources of this process (handles, requests, timers), by type, sorted. */
function activeResources() {
  return process.getActiveResourcesInfo().sort().join(',');
}

/** Resolves on 'close' (events.once would reject on an 'error' event first). */
const closed = (s) => new Promise((resolve) => s.once('close', resolve));

/** The first bytes of a TLS ClientHello record announcing 512 bytes it never sends. */
const partialClientHello = Buffer.concat([
  Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]),
  randomBytes(32),
]);

describe('lifecycle: many connect/destroy cycles', () => {
  test('1,000 cycles (destroy after connect, destroy mid-write, a partial ClientHello, abort mid-handshake) leave fds and handles as they were', {
    timeout: 60_000,
  }, async (t) => {
    const big = randomBytes(MiB);
    const counts = {
      secure: 0,
      clientErrors: 0,
      serverSocketErrors: 0,
      serverTruncated: 0,
      aborted: 0,
      clientEvents: [],
    };
    const { srv, port } = await startServer({ handshakeTimeout: 5000 }, (s) => {
      counts.secure++;
      s.on('error', () => counts.serverSocketErrors++);
      s.on('close', () => {
        if (s.truncated) counts.serverTruncated++;
      });
      s.resume();
    });
    t.after(() => stopServer(srv)); // also when an assertion below fails
    srv.on('tlsClientError', () => counts.clientErrors++);
    await sleep(50);
    const fds0 = openFds();
    const res0 = activeResources();
    const t0 = Date.now();
    const deadline = t0 + 30_000;
    const cycle = async (i) => {
      switch (i % 4) {
        case 0: {
          const c = await connectTo(port);
          c.on('error', (e) => counts.clientEvents.push(`error after destroy: ${e.message}`));
          c.destroy();
          break;
        }
        case 1: {
          const c = await connectTo(port);
          c.on('error', (e) => counts.clientEvents.push(`error after destroy mid-write: ${e.message}`));
          c.write(big);
          c.destroy();
          break;
        }
        case 2: {
          const raw = await rawConnect(port);
          raw.write(partialClientHello, () => raw.destroy());
          await once(raw, 'close');
          break;
        }
        case 3: {
          const ac = new AbortController();
          const p = connectTo(port, { signal: ac.signal });
          setTimeout(() => ac.abort(new Error('cycle abort')), i % 3);
          const r = await settle(p);
          if (r.error) {
            assert.equal(r.error.message, 'cycle abort');
            counts.aborted++;
          } else {
            r.value.destroy();
          }
          break;
        }
      }
    };
    const N = 1000;
    const CONCURRENCY = 4;
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < N) {
          assert.ok(Date.now() < deadline, `only ${next} cycles in 30 s`);
          await cycle(next++);
        }
      }),
    );
    const ms = Date.now() - t0;
    const drained = await waitFor(() => srv.connections === 0, 5000);
    assert.ok(drained, `${srv.connections} server sockets still open`);
    const settled = await waitFor(() => openFds() === fds0 && activeResources() === res0, 3000);
    const fds1 = openFds();
    const res1 = activeResources();
    console.log(
      `# 1,000 cycles in ${ms} ms: fds ${fds0} -> ${fds1}; secure ${counts.secure}, tlsClientError ${counts.clientErrors}, server socket errors ${counts.serverSocketErrors}, aborted ${counts.aborted}; resources [${res1}]`,
    );
    assert.ok(settled, `fds ${fds0} -> ${fds1}; resources [${res0}] -> [${res1}]`);
    assert.deepEqual(counts.clientEvents, [], 'destroy() made a client socket emit an error');
    // 500 established connections, each destroyed by the client: a truncated end on the server
    // (destroy() sends no close_notify), never an error
    assert.equal(counts.secure, 500);
    assert.equal(counts.serverTruncated, 500);
    assert.equal(counts.serverSocketErrors, 0);
    // every partial ClientHello (250) was a failed handshake on the server side, and so was
    // every aborted client that got as far as a TCP connection
    assert.ok(counts.clientErrors >= 250, `tlsClientError ${counts.clientErrors}`);
  });
});

describe('destroy() at any moment', () => {
  test(
    'aborting connect() while the client is mid-handshake destroys it: rejects with the reason, no fd left',
    T,
    async () => {
      const silent = await silentTcpServer();
      try {
        const fds0 = openFds();
        const ac = new AbortController();
        const reason = new Error('stop the handshake');
        const p = connectTo(silent.port, { signal: ac.signal });
        // the ClientHello has arrived: the client is waiting for the server's answer
        assert.ok(await waitFor(() => silent.got.length > 0, 3000), 'no ClientHello');
        assert.equal(silent.got[0][0], 0x16, 'a TLS handshake record');
        ac.abort(reason);
        const r = await settle(p);
        assert.equal(r.error, reason);
        await assertFdsBack(fds0);
      } finally {
        await silent.close();
      }
    },
  );

  test(
    'a server socket mid-handshake is destroyed when the peer leaves after a partial ClientHello, or by handshakeTimeout',
    T,
    async () => {
      const { srv, port } = await startServer({ handshakeTimeout: 300 }, noop);
      const errors = [];
      srv.on('tlsClientError', (e, s) => errors.push({ e, s }));
      try {
        await sleep(20);
        const fds0 = openFds();
        const leaving = await rawConnect(port);
        leaving.write(partialClientHello, () => leaving.destroy());
        const staying = await rawConnect(port);
        const stayingClosed = closed(staying);
        staying.write(partialClientHello);
        assert.ok(await waitFor(() => errors.length === 2, 3000), `${errors.length} tlsClientError`);
        await within(stayingClosed, 2000, 'server drops the slow client');
        for (const { e, s } of errors) {
          assert.ok(e instanceof L.TlsError, String(e));
          assert.equal(e.op, 'tls_handshake');
          assert.equal(s.destroyed, true);
        }
        assert.match(errors[1].e.message, /within 300 ms/);
        await assertFdsBack(fds0, () => srv.connections === 0);
      } finally {
        await stopServer(srv);
      }
    },
  );

  test(
    "destroy() during a pending write (the peer does not read) closes without an error event; the write's callback gets null and socket.errored stays null, as node:tls",
    T,
    async () => {
      let serverSocket;
      const { srv, port } = await startServer({}, (s) => {
        serverSocket = s;
        s.on('error', noop);
        s.pause();
      });
      try {
        const c = await connectTo(port);
        // no 'error' listener: an error event here would be an uncaught exception
        const data = randomBytes(8 * MiB);
        let cbErr = 'not called';
        const ok = c.write(data, (e) => {
          cbErr = e;
        });
        assert.equal(ok, false);
        await sleep(50);
        assert.ok(c.writableLength > 0, 'the write is still pending');
        const done = closed(c);
        c.destroy();
        await within(done, 2000, 'close');
        assert.equal(c.destroyed, true);
        assert.equal(cbErr, null, `the pending write's callback got ${cbErr}`);
        assert.equal(c.errored, null);
        // the server, reading again, gets what was sent, then the truncation
        serverSocket.resume();
        assert.ok(await waitFor(() => serverSocket.destroyed, 3000), 'the server socket stayed open');
      } finally {
        await stopServer(srv);
      }
    },
  );

  test(
    "destroy() right after end() (before 'finish'), and destroy() twice, never throw and close once",
    T,
    async () => {
      const { srv, port } = await startServer({}, (s) => {
        s.on('error', noop);
        s.resume();
      });
      try {
        const a = await connectTo(port);
        let finished = false;
        a.on('finish', () => {
          finished = true;
        });
        a.end(randomBytes(4 * MiB));
        assert.equal(finished, false);
        const aClosed = closed(a);
        a.destroy();
        await within(aClosed, 2000, 'close after end() + destroy()');
        assert.equal(finished, false);

        const b = await connectTo(port);
        let closes = 0;
        b.on('close', () => closes++);
        b.destroy();
        b.destroy();
        await sleep(50);
        assert.equal(closes, 1);

        const c = await connectTo(port);
        const errors = [];
        c.on('error', (e) => errors.push(e.message));
        const cClosed = closed(c);
        c.destroy(new Error('first'));
        c.destroy(new Error('second'));
        await within(cClosed, 2000, 'close');
        assert.deepEqual(errors, ['first']);
        // the getters are null once destroyed, not a crash on a freed context
        assert.equal(c.context, null);
        assert.equal(c.version, null);
      } finally {
        await stopServer(srv);
      }
    },
  );
});
