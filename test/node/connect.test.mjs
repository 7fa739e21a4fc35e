// connect(): DNS names, the timeout option and an AbortSignal.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { L, noop, openFds, readAll, settle, silentTcpServer, sleep, within } from '../support/helpers.mjs';
import {
  assertFdsBack,
  cliCfg,
  connectTo,
  consume,
  startServer,
  stopServer,
  T,
} from '../support/sockets.mjs';

describe('connect(): DNS, timeout and AbortSignal', () => {
  test(
    "connect({ host: 'localhost' }) resolves the name without blocking and verifies it as the servername",
    T,
    async () => {
      let ss;
      const { srv, port } = await startServer({}, (s) => {
        ss = s;
        consume(s);
        s.end('by name');
      });
      try {
        const c = await L.connect({ host: 'localhost', port, config: cliCfg });
        assert.equal(String(await readAll(c)), 'by name');
        assert.equal(c.remoteAddress, '127.0.0.1');
        assert.equal(ss.servername, 'localhost');
      } finally {
        await stopServer(srv);
      }
    },
  );

  test(
    'a connect() timeout or AbortSignal has no effect once connect() resolved; timeout: 0 means no limit',
    T,
    async () => {
      const { srv, port } = await startServer({}, (s) => {
        s.on('error', noop);
        s.on('data', (d) => s.write(d));
      });
      try {
        const ac = new AbortController();
        const a = await connectTo(port, { timeout: 200, signal: ac.signal });
        const b = await connectTo(port, { timeout: 0 });
        ac.abort(new Error('too late'));
        await sleep(400); // past a's timeout
        for (const c of [a, b]) {
          assert.equal(c.destroyed, false);
          const got = readAll(c);
          c.end('still here');
          assert.equal(String(await got), 'still here');
        }
      } finally {
        await stopServer(srv);
      }
    },
  );

  test(
    'connect({ timeout }) to a server that never answers rejects with TlsError "timed out" and leaves no fd',
    T,
    async () => {
      const silent = await silentTcpServer();
      try {
        const fds0 = openFds();
        const t0 = Date.now();
        await assert.rejects(
          connectTo(silent.port, { timeout: 300 }),
          (e) =>
            e instanceof L.TlsError && e.op === 'tls_handshake' && /timed out after \d+ ms/.test(e.message),
        );
        const ms = Date.now() - t0;
        assert.ok(ms >= 280 && ms < 1500, `rejected after ${ms} ms`);
        // our fd is closed: the silent server sees the end and closes its side too
        await assertFdsBack(fds0, () => silent.sockets.size === 0);
        console.log(`# connect() timeout 300 ms rejected after ${ms} ms`);
      } finally {
        await silent.close();
      }
    },
  );

  test(
    "an AbortSignal aborts a pending connect() with the signal's reason; an aborted one rejects at once",
    T,
    async () => {
      const silent = await silentTcpServer();
      try {
        const fds0 = openFds();
        const ac = new AbortController();
        const p = connectTo(silent.port, { signal: ac.signal });
        await sleep(100);
        const reason = new Error('user gave up');
        ac.abort(reason);
        const r = await within(settle(p), 1000, 'abort');
        assert.equal(r.error, reason);
        const pre = await settle(
          connectTo(silent.port, { signal: AbortSignal.abort(new RangeError('already')) }),
        );
        assert.ok(pre.error instanceof RangeError);
        assert.equal(pre.error.message, 'already');
        await assertFdsBack(fds0, () => silent.sockets.size === 0);
      } finally {
        await silent.close();
      }
    },
  );
});
