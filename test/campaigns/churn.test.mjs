// Churn: 10,000 connection cycles against one createServer() on 127.0.0.1, 8 at a time, in ten
// kinds (clean close_notify, abrupt destroy after data or right after the handshake, a client
// aborting mid-handshake, the server destroying its side, raw TCP peers that send part of a
// ClientHello or nothing). Every 1,000 cycles, once the cycles in flight have finished and the
// server has no connection left, the open fds (/proc/self/fd), the active handles
// (process.getActiveResourcesInfo()) and the RSS after a full gc() are sampled. Nothing may grow:
// fds and handles equal at the first and last sample, RSS within RSS_BOUND from the 2nd to the
// last sample (the first thousand warms up allocator arenas, JIT code and the read slabs).
//
// The loop runs in a child (test/campaigns/churn.child.mjs) started with --expose-gc and a fixed-size V8
// young generation: with the default, V8 grows its semi-spaces under this load from 1 to 16 MiB
// each, which alone adds ~25 MiB of RSS over the first 7,000 cycles and then stays flat (seen with
// 30,000 cycles), and would hide or fake a leak.
//
// Why 20 MiB: the 8,000 cycles between the 2nd and the last sample would turn a leak of one
// libtls context per connection (struct tls + SSL + its buffers, tens of KiB) into hundreds of
// MiB, and any leak of 2.6 KiB or more per cycle (a Buffer, a TlsSocket, a callback closure with
// its context) into more than 20 MiB; with the young generation fixed, the samples of a clean run
// stay within a few MiB of each other on this machine (they are printed).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runNodeScript } from '../support/helpers.mjs';

const CYCLES = Number(process.env.LIBTLS_CHURN_CYCLES ?? 10_000);
// Under AddressSanitizer (npm run test:asan) freed memory waits in a 256 MiB quarantine and RSS
// climbs toward it whatever the code does: there, leaks are left to the normal run.
const RSS_BOUND = (/libasan/.test(process.env.LD_PRELOAD ?? '') ? 300 : 20) * 1024 * 1024;
const KINDS = 10; // test/campaigns/churn.child.mjs: 4 clean, 6 abrupt kinds, in turn
const mib = (n) => (n / 2 ** 20).toFixed(1);

test('10,000 connect/handshake/write/destroy cycles, clean and abrupt, leave fds, handles and RSS flat', async (t) => {
  const childUrl = new URL('./churn.child.mjs', import.meta.url).href;
  const code = `const m = await import(${JSON.stringify(childUrl)}); await m.run(${CYCLES});`;
  const r = await runNodeScript(code, {
    nodeArgs: ['--expose-gc', '--min-semi-space-size=16', '--max-semi-space-size=16'],
    timeout: 150_000,
  });
  const lines = r.stdout.split('\n');
  for (const l of lines.filter((x) => x.startsWith('SAMPLE '))) {
    const s = JSON.parse(l.slice(7));
    t.diagnostic(
      `after ${s.cycles} cycles (${s.seconds.toFixed(1)} s): fds ${s.fds}, handles ${s.handles}, ` +
        `rss ${mib(s.rss)} MiB (V8 heap ${mib(s.heap)} used of ${mib(s.heapTotal)}, external ${mib(s.external)})`,
    );
  }
  assert.equal(r.timedOut, false, `the churn hung:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  assert.equal(r.signal, null, `the churn child died of ${r.signal}:\n${r.stderr.slice(-3000)}`);
  assert.equal(r.status, 0, r.stderr.slice(-3000));
  const line = lines.find((x) => x.startsWith('RESULT '));
  assert.ok(line, 'the child reported its result');
  const { outcomes, serverEvents, failures, samples } = JSON.parse(line.slice(7));
  t.diagnostic(`outcomes: ${JSON.stringify(outcomes)}`);
  t.diagnostic(`server: ${JSON.stringify(serverEvents)}`);

  assert.deepEqual(failures, [], 'no cycle failed');
  assert.equal(samples.length, CYCLES / 1000);
  // every kind ran its share, and each ended as it should
  assert.equal(outcomes['clean: echoed and closed'], (CYCLES * 4) / KINDS);
  assert.equal(outcomes['destroy-after-data: destroyed'], CYCLES / KINDS);
  assert.equal(outcomes['destroy-after-handshake: destroyed'], CYCLES / KINDS);
  assert.equal(outcomes['server-destroys: closed by the server: truncation reported'], CYCLES / KINDS);
  assert.equal(outcomes['raw-partial-hello: dropped'], CYCLES / KINDS);
  assert.equal(outcomes['raw-nothing: dropped'], CYCLES / KINDS);
  assert.equal(
    (outcomes['abort-mid-handshake: aborted'] ?? 0) +
      (outcomes['abort-mid-handshake: completed before the abort'] ?? 0),
    CYCLES / KINDS,
  );
  assert.ok(serverEvents.secure >= (CYCLES * 6) / KINDS, 'handshakes the server completed');
  assert.ok(serverEvents.clientErrors >= (CYCLES * 2) / KINDS, 'raw peers show up as tlsClientError');

  const [first, second] = samples;
  const last = samples.at(-1);
  assert.equal(last.fds, first.fds, `open fds grew: ${samples.map((s) => s.fds).join(' ')}`);
  assert.equal(
    last.handles,
    first.handles,
    `active handles grew: ${samples.map((s) => s.handles).join(' ')}`,
  );
  const growth = last.rss - second.rss;
  t.diagnostic(
    `RSS growth from the 2nd to the last sample: ${mib(growth)} MiB (bound ${mib(RSS_BOUND)} MiB)`,
  );
  assert.ok(
    growth < RSS_BOUND,
    `RSS grew by ${mib(growth)} MiB: ${samples.map((s) => mib(s.rss)).join(' ')}`,
  );
});
