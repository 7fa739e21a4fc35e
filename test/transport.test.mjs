// The transports under TlsSocket (src/transport.ts, internal): a socket's read, write and close
// paths may wait for the same direction at once, and each must be woken.
import assert from 'node:assert/strict';
import { closeSync, writeSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { FdTransport, StreamTransport } from '../dist/transport.js';
import { L, within } from './helpers.mjs';

test('FdTransport wakes every waiter of a direction when the fd becomes ready', async () => {
  const [a, b] = L.socketpair();
  const t = new FdTransport(a);
  try {
    const woken = [];
    const both = new Promise((resolve) => {
      const done = (name) => () => {
        woken.push(name);
        if (woken.length === 3) resolve();
      };
      t.wait(L.WANT_POLLIN, done('reader'));
      t.wait(L.WANT_POLLIN, done('writer needing to read'));
      t.wait(L.WANT_POLLOUT, done('writer'));
    });
    writeSync(b, 'x');
    await within(both, 2000, 'all three waiters');
    assert.deepEqual(woken.sort(), ['reader', 'writer', 'writer needing to read']);
  } finally {
    t.close(); // closes a
    closeSync(b);
  }
});

test('StreamTransport wakes every waiter for inbound bytes once data arrives', async () => {
  const stream = new PassThrough();
  const t = new StreamTransport(stream);
  try {
    let n = 0;
    const both = new Promise((resolve) => {
      const done = () => ++n === 2 && resolve();
      t.wait(L.WANT_POLLIN, done);
      t.wait(L.WANT_POLLIN, done);
    });
    stream.write('ciphertext');
    await within(both, 2000, 'both waiters');
    assert.equal(n, 2);
    assert.equal(Buffer.from(t.read(100)).toString(), 'ciphertext');
  } finally {
    t.close();
  }
});
