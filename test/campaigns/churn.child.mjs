// The churn loop of test/campaigns/churn.test.mjs, run in a child process started with a fixed-size V8
// young generation (--min-semi-space-size = --max-semi-space-size), so that the RSS samples show
// native and heap growth, not V8 growing its semi-spaces under load (which alone adds ~25 MiB in
// the first thousands of cycles and then stays). `run(cycles)` prints one `SAMPLE {json}` line per
// 1,000 cycles and a final `RESULT {json}`.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { clientConfig, L, openFds, serverConfig, sleep, waitFor } from '../support/helpers.mjs';

if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc');
const gc = globalThis.gc;

const CONCURRENCY = 8;
const SAMPLE_EVERY = 1000;
const KINDS = [
  'clean',
  'clean',
  'clean',
  'clean',
  'destroy-after-data',
  'destroy-after-handshake',
  'abort-mid-handshake',
  'server-destroys',
  'raw-partial-hello',
  'raw-nothing',
];

/** The first flight of a libtls client (a ClientHello), recorded over the callback transport. */
function recordClientHello(config) {
  const cli = L.client(config);
  let hello = null;
  cli.connectCbs(
    () => L.WANT_POLLIN,
    (chunk) => {
      hello ??= Buffer.from(chunk);
      return chunk.length;
    },
    'localhost',
  );
  assert.equal(cli.handshake(), L.WANT_POLLIN);
  cli.free();
  assert.ok(hello && hello.length > 100 && hello[0] === 0x16, 'a TLS handshake record');
  return hello;
}

/** After a full gc() and the Node-API finalizers it queued (they run from setImmediate). */
async function sample() {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise(setImmediate);
  }
  const m = process.memoryUsage();
  return {
    fds: openFds(),
    handles: process.getActiveResourcesInfo().length,
    resources: process.getActiveResourcesInfo().sort().join(','),
    rss: m.rss,
    heap: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
  };
}

export async function run(CYCLES) {
  // stdout's pipe handle exists from here on (it is made on first use): not a handle the churn adds
  process.stdout.write(`START ${CYCLES} cycles, ${CONCURRENCY} at a time\n`);
  const scfg = serverConfig();
  const ccfg = clientConfig();
  const hello = recordClientHello(ccfg);
  const serverEvents = { secure: 0, clientErrors: 0, socketErrors: 0 };
  const server = L.createServer({ config: scfg, handshakeTimeout: 5000 }, (s) => {
    serverEvents.secure++;
    s.on('error', () => serverEvents.socketErrors++);
    s.on('data', (d) => {
      if (String(d) === 'kill') s.destroy();
      else s.write(d);
    });
    s.on('end', () => s.end());
  });
  server.on('tlsClientError', () => serverEvents.clientErrors++);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();

  const outcomes = {};
  const failures = [];
  const note = (kind, what) => {
    const k = `${kind}: ${what}`;
    outcomes[k] = (outcomes[k] ?? 0) + 1;
  };

  async function connect(opts = {}) {
    const s = await L.connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      config: ccfg,
      timeout: 5000,
      ...opts,
    });
    s.on('error', () => {});
    return s;
  }

  /** Resolves with the error the socket was destroyed with (or undefined) once it has closed. */
  const closed = (s) =>
    new Promise((resolve) => {
      let error;
      s.on('error', (err) => {
        error = err;
      });
      if (s.closed) resolve(s.errored ?? undefined);
      else s.once('close', () => resolve(error));
    });

  async function cycle(i) {
    const kind = KINDS[i % KINDS.length];
    switch (kind) {
      case 'clean': {
        const s = await connect();
        const msg = `ping ${i}`;
        s.write(msg);
        const [echo] = await once(s, 'data');
        assert.equal(String(echo), msg);
        s.end();
        s.resume();
        await closed(s);
        return 'echoed and closed';
      }
      case 'destroy-after-data': {
        const s = await connect();
        s.write(`bye ${i}`);
        s.destroy();
        await closed(s);
        return 'destroyed';
      }
      case 'destroy-after-handshake': {
        const s = await connect();
        s.destroy();
        await closed(s);
        return 'destroyed';
      }
      case 'abort-mid-handshake': {
        const ac = new AbortController();
        // abort after 0-2 ms: during TCP connect, during the handshake, or (rarely) after it
        setTimeout(() => ac.abort(), i % 3);
        try {
          const s = await connect({ signal: ac.signal });
          s.destroy();
          await closed(s);
          return 'completed before the abort';
        } catch (err) {
          if (err?.name !== 'AbortError') throw err;
          return 'aborted';
        }
      }
      case 'server-destroys': {
        // the server destroys its side without close_notify: the client's stream ends, as on
        // node:tls, and the socket says it may be truncated
        const s = await connect();
        s.write('kill');
        s.resume();
        const err = await closed(s);
        if (err !== undefined) throw err;
        assert.equal(s.truncated, true, 'truncated');
        return 'closed by the server: truncation reported';
      }
      case 'raw-partial-hello':
      case 'raw-nothing': {
        const s = net.connect({ host: '127.0.0.1', port });
        s.on('error', () => {});
        await once(s, 'connect');
        if (kind === 'raw-partial-hello') s.write(hello.subarray(0, 20 + (i % 100)));
        await sleep(0);
        s.destroy();
        await once(s, 'close');
        return 'dropped';
      }
    }
    throw new Error(`unknown kind ${kind}`);
  }

  const samples = [];
  const started = Date.now();
  for (let block = 0; block < CYCLES / SAMPLE_EVERY; block++) {
    let next = block * SAMPLE_EVERY;
    const end = next + SAMPLE_EVERY;
    const worker = async () => {
      while (next < end) {
        const i = next++;
        const kind = KINDS[i % KINDS.length];
        try {
          note(kind, await cycle(i));
        } catch (err) {
          note(kind, `failed: ${err?.name}`);
          if (failures.length < 10) failures.push(`cycle ${i} (${kind}): ${err?.stack ?? err}`);
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    // settle: the server's side of every connection has closed
    assert.ok(
      await waitFor(() => server.connections === 0, 10_000),
      `server still has ${server.connections} connections`,
    );
    await sleep(20);
    const s = await sample();
    samples.push({ cycles: end, seconds: (Date.now() - started) / 1000, ...s });
    process.stdout.write(`SAMPLE ${JSON.stringify(samples.at(-1))}\n`);
  }
  await new Promise((resolve) => server.close(resolve));
  server.context.free();
  scfg.free();
  ccfg.free();

  process.stdout.write(`RESULT ${JSON.stringify({ outcomes, serverEvents, failures, samples })}\n`);
}
