// TlsSocket flow control and volume: backpressure (write() false, 'drain', pause/resume), large
// transfers both ways and many concurrent connections, byte-exact.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { noop, openFds, sha256, sleep, waitFor, within } from '../support/helpers.mjs';
import { assertFdsBack, connectTo, consume, startServer, stopServer, T } from '../support/sockets.mjs';

const MiB = 1024 * 1024;

describe('flow control and volume', () => {
  test(
    'a TLS 1.3 client reads the records that arrived in one segment with the session tickets, with nothing after them',
    T,
    async () => {
      // libtls answers WANT_POLLIN after a ticket; the fd transport has the next records in its
      // buffer already, so it must go on instead of waiting for a socket that has nothing left
      // (and nothing more comes: no close_notify, no FIN would wake it)
      const { srv, port } = await startServer({}, (s) => {
        consume(s);
        for (let i = 0; i < 5; i++) s.write(`record ${i};`);
      });
      let c;
      try {
        c = await connectTo(port);
        assert.equal(c.version, 'TLSv1.3');
        await sleep(100); // everything the server sent waits in the socket before the first read
        let got = '';
        c.on('data', (d) => {
          got += d;
        });
        const all = 'record 0;record 1;record 2;record 3;record 4;';
        assert.ok(await waitFor(() => got === all, 3000), `got only ${JSON.stringify(got)}`);
      } finally {
        c?.destroy();
        await stopServer(srv);
      }
    },
  );

  test('16 MiB each way at once with the receivers pausing on every chunk: byte-exact, write() false and drain, bounded memory', {
    timeout: 60_000,
  }, async () => {
    const SIZE = 16 * MiB;
    const CHUNK = 64 * 1024;
    const toServer = randomBytes(SIZE);
    const toClient = randomBytes(SIZE);
    const stats = () => ({ falses: 0, drains: 0, maxWritable: 0, received: 0, hash: createHash('sha256') });
    const cs = stats();
    const ss = stats();

    /** Writes `data` respecting backpressure; records write() === false, drains, writableLength. */
    const send = async (s, data, st) => {
      s.on('drain', () => st.drains++);
      for (let off = 0; off < data.length; off += CHUNK) {
        const ok = s.write(data.subarray(off, off + CHUNK));
        st.maxWritable = Math.max(st.maxWritable, s.writableLength);
        if (!ok) {
          st.falses++;
          await within(once(s, 'drain'), 10_000, 'drain');
        }
      }
    };
    /** Hashes everything, pausing and resuming on every chunk; resolves after `n` bytes. */
    const receive = (s, st, n) =>
      new Promise((resolve, reject) => {
        s.on('error', reject);
        s.on('data', (d) => {
          st.hash.update(d);
          st.received += d.length;
          s.pause();
          setImmediate(() => s.resume());
          if (st.received === n) resolve();
        });
      });

    let serverDone;
    const serverSide = new Promise((resolve) => {
      serverDone = resolve;
    });
    const { srv, port } = await startServer({}, (s) => {
      serverDone(Promise.all([receive(s, ss, SIZE), send(s, toClient, ss)]));
    });
    let maxRss = 0;
    const rss0 = process.memoryUsage().rss;
    const sampler = setInterval(() => {
      maxRss = Math.max(maxRss, process.memoryUsage().rss);
    }, 20);
    try {
      const c = await connectTo(port);
      const t0 = Date.now();
      await within(
        Promise.all([receive(c, cs, SIZE), send(c, toServer, cs), serverSide.then((p) => p)]),
        45_000,
        '16 MiB each way',
      );
      const ms = Date.now() - t0;
      clearInterval(sampler);
      maxRss = Math.max(maxRss, process.memoryUsage().rss);
      assert.equal(cs.received, SIZE);
      assert.equal(ss.received, SIZE);
      assert.equal(c.bytesWritten, SIZE);
      assert.equal(c.bytesRead, SIZE);
      assert.equal(ss.hash.digest('hex'), sha256(toServer));
      assert.equal(cs.hash.digest('hex'), sha256(toClient));
      for (const [side, st] of [
        ['client', cs],
        ['server', ss],
      ]) {
        assert.ok(st.falses > 0, `${side}: write() never returned false`);
        assert.ok(st.drains > 0, `${side}: 'drain' never fired`);
        assert.ok(st.maxWritable <= MiB, `${side}: writableLength reached ${st.maxWritable}`);
      }
      const growth = (maxRss - rss0) / MiB;
      // AddressSanitizer's redzones and quarantine inflate RSS several times over (npm run test:asan)
      const bound = /libasan/.test(process.env.LD_PRELOAD ?? '') ? 512 : 64;
      assert.ok(growth < bound, `RSS grew by ${growth.toFixed(1)} MiB`);
      console.log(
        `# 16 MiB each way: ${ms} ms; write() false client ${cs.falses} / server ${ss.falses}, drains ${cs.drains} / ${ss.drains}; max writableLength ${cs.maxWritable} / ${ss.maxWritable} B; RSS growth ${growth.toFixed(1)} MiB`,
      );
      c.end();
      await within(once(c, 'close'), 5000, 'close');
    } finally {
      clearInterval(sampler);
      await stopServer(srv);
    }
  });

  test('200 concurrent connections each exchange 64 KiB both ways at once with exact bytes', {
    timeout: 60_000,
  }, async () => {
    const N = 200;
    const SIZE = 64 * 1024;
    const serverReceived = [];
    const { srv, port } = await startServer({}, (s) => {
      let n = 0;
      s.on('error', noop);
      s.on('data', (d) => {
        n += d.length;
        s.write(d); // echo: both directions carry data at the same time
      });
      s.on('end', () => serverReceived.push(n));
    });
    const fds0 = openFds();
    try {
      const t0 = Date.now();
      const results = await within(
        Promise.all(
          Array.from({ length: N }, async () => {
            const c = await connectTo(port);
            const data = randomBytes(SIZE);
            const parts = [];
            let got = 0;
            const done = new Promise((resolve, reject) => {
              c.on('error', reject);
              c.on('data', (d) => {
                parts.push(d);
                got += d.length;
                if (got >= SIZE) resolve();
              });
            });
            c.write(data);
            await done;
            c.end();
            await once(c, 'close');
            return sha256(Buffer.concat(parts)) === sha256(data) && got === SIZE;
          }),
        ),
        45_000,
        '200 concurrent exchanges',
      );
      const ms = Date.now() - t0;
      assert.equal(results.filter(Boolean).length, N);
      assert.ok(await waitFor(() => srv.connections === 0, 5000), `${srv.connections} server sockets open`);
      assert.deepEqual(serverReceived, new Array(N).fill(SIZE));
      await assertFdsBack(fds0);
      console.log(`# 200 concurrent connections x 64 KiB each way: ${ms} ms`);
    } finally {
      await stopServer(srv);
    }
  });
});
