// poll() and takeFd(): argument checks before C, timeouts, AbortSignal, concurrent polls on one fd,
// an fd another watcher owns, and sockets takeFd() refuses.
import assert from 'node:assert/strict';
import { writeSync } from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';
import { clean, isTlsError } from '../support/children.mjs';
import { L, listen, tlsError, withSocketpair } from '../support/helpers.mjs';

test('poll() rejects a bad want or fd with RangeError before anything reaches C', () =>
  withSocketpair((a) => {
    for (const want of [0, 1, -1, 'x', undefined, L.WANT_POLLIN - 10])
      assert.throws(
        () => L.poll(a, want),
        (e) => e instanceof RangeError && /want must be/.test(e.message),
      );
    assert.throws(
      () => L.poll(-1, L.WANT_POLLIN),
      (e) => e instanceof RangeError && /fd/.test(e.message),
    );
    assert.throws(() => L.poll(1.5, L.WANT_POLLIN), RangeError);
    assert.throws(() => L.poll('3', L.WANT_POLLIN), TypeError);
    assert.throws(() => L.poll(a, L.WANT_POLLIN, { timeout: -1 }), RangeError);
  }));

test('poll() with a timeout and nothing to read rejects with TlsError op "poll" "timed out"', () =>
  withSocketpair(async (a, b) => {
    const t0 = Date.now();
    await assert.rejects(
      L.poll(a, L.WANT_POLLIN, { timeout: 50 }),
      tlsError('poll', /timed out after 50 ms/),
    );
    assert.ok(Date.now() - t0 >= 45);
    // the fd is still pollable afterwards (the watcher was released)
    writeSync(b, 'x');
    await L.poll(a, L.WANT_POLLIN, { timeout: 2000 });
  }));

test('an aborted signal rejects poll() with the signal reason, before and during the wait', () =>
  withSocketpair(async (a, b) => {
    const reason = new Error('stop polling');
    const ac = new AbortController();
    const p = L.poll(a, L.WANT_POLLIN, { signal: ac.signal, timeout: 5000 });
    setTimeout(() => ac.abort(reason), 20);
    await assert.rejects(p, (e) => e === reason);
    await assert.rejects(
      L.poll(a, L.WANT_POLLIN, { signal: AbortSignal.abort('already') }),
      (e) => e === 'already',
    );
    writeSync(b, 'x');
    await L.poll(a, L.WANT_POLLIN, { timeout: 2000 });
  }));

test('two concurrent polls on one fd, POLLIN and POLLOUT, both resolve', () =>
  withSocketpair(async (a, b) => {
    let inDone = false;
    const pin = L.poll(a, L.WANT_POLLIN, { timeout: 3000 }).then(() => {
      inDone = true;
    });
    await L.poll(a, L.WANT_POLLOUT, { timeout: 3000 });
    assert.equal(inDone, false, 'POLLIN waits for data');
    writeSync(b, 'x');
    await pin;
    assert.equal(inDone, true);
  }));

test('poll() on an fd that a reading net.Socket already watches throws TlsError "another watcher" instead of aborting', async () => {
  const [r] = await clean(`
    const net = await import('node:net');
    const server = net.createServer((s) => s.on('data', () => {}));
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const sock = net.connect(server.address().port, '127.0.0.1');
    await new Promise((r) => sock.on('connect', r));
    sock.on('data', () => {});
    const fd = sock._handle.fd;
    const res = {};
    for (const [k, want] of [['in', L.WANT_POLLIN], ['out', L.WANT_POLLOUT]]) {
      try { await L.poll(fd, want, { timeout: 500 }); res[k] = { ok: true }; }
      catch (e) { res[k] = errOf(e); }
    }
    // Node's own socket still works
    sock.write('hello');
    await new Promise((r) => setTimeout(r, 20));
    res.writable = sock.writable && !sock.destroyed;
    sock.destroy(); server.close();
    report(res);
  `);
  isTlsError(r.in, 'poll', /another watcher owns this fd/, 'POLLIN');
  isTlsError(r.out, 'poll', /another watcher owns this fd/, 'POLLOUT');
  assert.equal(r.writable, true);
});

test('takeFd() refuses a socket that already read data (TlsError) and a non-socket (TypeError)', async () => {
  const server = net.createServer((s) => s.end('early bytes'));
  const sock = net.connect(await listen(server), '127.0.0.1');
  try {
    await new Promise((resolve, reject) => {
      sock.once('data', resolve);
      sock.once('error', reject);
    });
    assert.throws(() => L.takeFd(sock), tlsError('takeFd', /already read data/));
    assert.equal(sock.destroyed, false, 'a refused socket is left alone');
    assert.throws(() => L.takeFd({}), TypeError);
    assert.throws(() => L.takeFd(0), TypeError);
    assert.throws(() => L.takeFd(new net.Socket()), TypeError);
  } finally {
    sock.destroy();
    await new Promise((r) => server.close(r));
  }
});
