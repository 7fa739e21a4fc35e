// TlsSocket.setTimeout(), ref() and unref().
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { noop, pki, root, sleep, waitFor, within } from '../support/helpers.mjs';
import { connectTo, consume, startServer, stopServer, T } from '../support/sockets.mjs';

const distIndex = pathToFileURL(path.join(root, 'dist', 'index.js')).href;

describe('setTimeout, ref and unref', () => {
  test(
    "setTimeout(ms) emits 'timeout' after inactivity, not while data flows; setTimeout(0) disables it",
    T,
    async () => {
      let ticker;
      const { srv, port } = await startServer({}, (s) => {
        s.on('error', noop);
        s.once('data', () => {
          // 'go': send a byte every 50 ms for 600 ms
          let n = 0;
          ticker = setInterval(() => {
            if (++n > 12) clearInterval(ticker);
            else s.write('.');
          }, 50);
        });
      });
      try {
        const c = await connectTo(port);
        c.resume();
        // idle
        let t0 = Date.now();
        c.setTimeout(200);
        await within(once(c, 'timeout'), 2000, "'timeout'");
        const idleMs = Date.now() - t0;
        assert.ok(idleMs >= 190 && idleMs < 1000, `'timeout' after ${idleMs} ms`);
        // while data flows (a byte every 50 ms for 600 ms): none until it stops
        let timeouts = 0;
        const onTimeout = () => timeouts++;
        c.on('timeout', onTimeout);
        c.setTimeout(200);
        t0 = Date.now();
        c.write('go');
        await sleep(500);
        assert.equal(timeouts, 0, 'timeout while data flowed');
        assert.ok(c.bytesRead >= 5, `read ${c.bytesRead} bytes`);
        assert.ok(await waitFor(() => timeouts === 1, 2000), "no 'timeout' after the data stopped");
        const flowMs = Date.now() - t0;
        assert.ok(flowMs >= 700, `'timeout' ${flowMs} ms after the flow began`);
        // disabled
        c.setTimeout(100);
        c.setTimeout(0);
        await sleep(400);
        assert.equal(timeouts, 1);
        assert.equal(c.timeout, 0);
        c.destroy();
      } finally {
        clearInterval(ticker);
        await stopServer(srv);
      }
    },
  );

  for (const unref of [true, false]) {
    test(
      unref
        ? 'a child process with an unref()d connected client socket exits by itself'
        : 'a child process with a ref()d connected client socket keeps running',
      T,
      async () => {
        const { srv, port } = await startServer({}, consume);
        const script = `
          import { connect } from ${JSON.stringify(distIndex)};
          const s = await connect({ host: '127.0.0.1', port: ${port}, servername: 'localhost',
            config: { caFile: ${JSON.stringify(pki('ca.crt'))} } });
          s.on('error', (e) => { console.error(e.message); process.exitCode = 3; });
          s.on('data', () => {});
          ${unref ? 's.unref();' : 's.unref(); s.ref();'}
          console.log('secure ' + s.version);
        `;
        const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        child.stdout.on('data', (d) => {
          out += d;
        });
        child.stderr.on('data', (d) => {
          out += d;
        });
        const exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve({ code, sig })));
        try {
          assert.ok(await waitFor(() => out.includes('secure TLSv1.3'), 8000), out);
          const t0 = Date.now();
          if (unref) {
            const exit = await within(exited, 3000, 'the child exiting by itself');
            assert.deepEqual(exit, { code: 0, sig: null }, out);
            console.log(`# child with an unref()d socket exited ${Date.now() - t0} ms after connecting`);
          } else {
            await sleep(1000);
            assert.equal(child.exitCode, null, `the child exited: ${out}`);
            assert.equal(child.signalCode, null);
          }
        } finally {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          await exited;
          await stopServer(srv);
        }
      },
    );
  }
});
