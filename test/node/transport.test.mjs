// What TlsSocket stands on, internal to the package: the transports (src/transport.ts: a socket's
// read, write and close paths may wait for the same direction at once, and each must be woken),
// the memory transport's feed/drain and the batched I/O (src/tls.ts), the shared I/O state.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { closeSync, writeSync } from 'node:fs';
import net from 'node:net';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { Io, IoFlag, ioState } from '../../dist/native.js';
import { takeFd } from '../../dist/poll.js';
import {
  acceptMemory,
  connectMemory,
  drain,
  endedWithoutCloseNotify,
  feed,
  feedEnd,
  readBatch,
  writeBatch,
} from '../../dist/tls.js';
import { FdTransport, StreamTransport } from '../../dist/transport.js';
import { clientConfig, L, pairHandshake, serverConfig, within } from '../support/helpers.mjs';

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

test('FdTransport re-arms after an error event: a wait registered after the peer reset the connection is woken too', async () => {
  // libuv stops a poll handle when it reports POLLERR; a transport that thought it was still armed
  // would never wake the next waiter (a read that got half a record, then the RST)
  const server = net.createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const accepted = once(server, 'connection');
  const sock = net.connect({ host: '127.0.0.1', port: server.address().port });
  await once(sock, 'connect');
  const [peer] = await accepted;
  const t = new FdTransport(takeFd(sock));
  try {
    const first = new Promise((r) => t.wait(L.WANT_POLLIN, r));
    peer.resetAndDestroy();
    await within(first, 2000, 'the first waiter');
    const second = new Promise((r) => t.wait(L.WANT_POLLIN, r));
    await within(second, 2000, 'a waiter after the error event');
  } finally {
    t.close();
    server.close();
  }
});

test('StreamTransport wakes every waiter for inbound bytes once data arrives', async () => {
  const stream = new PassThrough();
  const cli = L.client(clientConfig());
  connectMemory(cli, 'localhost');
  const t = new StreamTransport(stream, cli);
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
    // the bytes were fed to libtls, which takes them for a (broken) TLS record
    assert.equal(ioState[Io.in], 0);
    assert.throws(
      () => cli.handshake(),
      (e) => e instanceof L.TlsError && e.op === 'tls_handshake',
    );
  } finally {
    t.close();
    cli.free();
  }
});

test('the memory transport: a client and a server handshake and talk through feed() and drain() alone', () => {
  const srv = L.server(serverConfig());
  const cli = L.client(clientConfig());
  connectMemory(cli, 'localhost');
  const acc = acceptMemory(srv);
  try {
    // what one side drained is fed to the other; no callback, no fd
    const pass = (from, to) => {
      const b = drain(from);
      if (b !== null) feed(to, b);
      return b === null ? 0 : b.length;
    };
    let done = 0;
    for (let i = 0; i < 20 && done !== 2; i++) {
      done = 0;
      for (const [t, peer] of [
        [cli, acc],
        [acc, cli],
      ]) {
        const r = t.handshake();
        assert.ok(r === 0 || r === L.WANT_POLLIN, `handshake: ${r}`);
        if (r === 0) done++;
        if (ioState[Io.out] > 0) assert.ok(pass(t, peer) > 0);
      }
    }
    assert.equal(done, 2, 'both handshakes completed');
    assert.equal(drain(cli), null, 'nothing waits once drained');
    assert.equal(cli.write('over memory'), 11);
    assert.ok(ioState[Io.out] > 11, 'a record waits to be drained');
    const record = drain(cli);
    assert.ok(record !== null && record.length > 11);
    assert.equal(feed(acc, record), record.length, 'feed() says how many bytes wait for libtls');
    assert.equal(acc.read(100)?.toString(), 'over memory');
    assert.equal(ioState[Io.in], 0, 'the read took them all');
    assert.equal(acc.read(100), L.WANT_POLLIN, 'nothing more was fed');
  } finally {
    cli.free();
    acc.free();
    srv.free();
  }
});

test('readBatch returns the records it read and throws a failure that followed them on the next call', async () => {
  const { cli, acc, srv, fds } = await pairHandshake(serverConfig(), clientConfig());
  try {
    assert.equal(acc.write('first record'), 12);
    assert.equal(acc.write('second record'), 13);
    // then a record no key opens: a failure of the protocol on every backend
    writeSync(fds[1], Buffer.concat([Buffer.from([0x17, 0x03, 0x03, 0x00, 0x40]), Buffer.alloc(64)]));
    const buf = Buffer.alloc(64 * 1024);
    let n = L.WANT_POLLIN;
    for (let i = 0; i < 50 && n === L.WANT_POLLIN; i++) {
      n = readBatch(cli, buf, 0, buf.length);
      if (n === L.WANT_POLLIN) await L.poll(fds[0], n, { timeout: 2000 });
    }
    assert.equal(buf.subarray(0, n).toString(), 'first recordsecond record');
    // the shared I/O state says a failure is kept, and nothing to wait for: call again at once
    assert.equal(ioState[Io.flags] & IoFlag.failed, IoFlag.failed);
    assert.equal(ioState[Io.want], 0);
    assert.throws(
      () => readBatch(cli, buf, 0, buf.length),
      (e) => e instanceof L.TlsError && e.op === 'tls_read' && !endedWithoutCloseNotify(cli),
    );
  } finally {
    cli.free();
    acc.free();
    srv.free();
    closeSync(fds[0]);
    closeSync(fds[1]);
  }
});

/** A client and a server of the memory transport, handshaken by passing drain() to feed(). */
function memoryPair() {
  const srv = L.server(serverConfig());
  const cli = L.client(clientConfig());
  connectMemory(cli, 'localhost');
  const acc = acceptMemory(srv);
  const free = () => {
    cli.free();
    acc.free();
    srv.free();
  };
  try {
    let done = 0;
    for (let i = 0; i < 20 && done !== 2; i++) {
      done = 0;
      for (const [t, peer] of [
        [cli, acc],
        [acc, cli],
      ]) {
        if (t.handshake() === 0) done++;
        const b = drain(t);
        if (b !== null) feed(peer, b);
      }
    }
    assert.equal(done, 2, 'both handshakes completed');
  } catch (err) {
    free();
    throw err;
  }
  return { cli, acc, free };
}

test('the memory transport: records, then the end of the stream without close_notify: readBatch returns the records, then throws ERR_TLS_TRUNCATED on every backend', () => {
  const { cli, acc, free } = memoryPair();
  try {
    assert.equal(acc.write('first record'), 12);
    assert.equal(acc.write('second record'), 13);
    feed(cli, drain(acc));
    feedEnd(cli, 0); // the stream ends, no close_notify
    const buf = Buffer.alloc(64 * 1024);
    const n = readBatch(cli, buf, 0, buf.length);
    assert.equal(buf.subarray(0, n).toString(), 'first recordsecond record');
    assert.equal(ioState[Io.flags] & IoFlag.failed, IoFlag.failed);
    assert.equal(ioState[Io.want], 0);
    // LibreSSL's tls_read returns 0 there (backend.capabilities.truncation 'eof'); the addon saw
    // the end of its stream in that call and reports the truncation libretls's failure reports
    const truncated = (e) => e instanceof L.TlsError && e.op === 'tls_read' && e.code === 'ERR_TLS_TRUNCATED';
    assert.throws(() => readBatch(cli, buf, 0, buf.length), truncated);
    assert.ok(endedWithoutCloseNotify(cli));
    assert.throws(() => cli.read(16), truncated, 'the failure is kept');
  } finally {
    free();
  }
});

test('the memory transport: close_notify, then the end of the stream, is a clean end (0) on every backend', () => {
  const { cli, acc, free } = memoryPair();
  try {
    assert.equal(acc.write('last words'), 10);
    assert.equal(acc.close(), 0);
    feed(cli, drain(acc));
    feedEnd(cli, 0);
    const buf = Buffer.alloc(1024);
    const n = readBatch(cli, buf, 0, buf.length);
    assert.equal(buf.subarray(0, n).toString(), 'last words');
    assert.equal(ioState[Io.flags] & IoFlag.failed, 0);
    assert.equal(readBatch(cli, buf, 0, buf.length), 0);
    assert.equal(cli.read(16), null);
    assert.ok(!endedWithoutCloseNotify(cli));
  } finally {
    free();
  }
});

test('writeBatch sends a buffer of many records in one call and offers the same slice again after WANT_POLLOUT', async () => {
  const { cli, acc, srv, fds } = await pairHandshake(serverConfig(), clientConfig());
  try {
    const data = Buffer.alloc(8 * 1024 * 1024, 7);
    let off = 0;
    let wants = 0;
    const received = [];
    const reader = (async () => {
      let got = 0;
      const buf = Buffer.alloc(128 * 1024);
      while (got < data.length) {
        const r = readBatch(acc, buf, 0, buf.length);
        if (r === L.WANT_POLLIN) await L.poll(fds[1], r, { timeout: 5000 });
        else {
          got += r;
          received.push(Buffer.from(buf.subarray(0, r)));
        }
      }
    })();
    for (let i = 0; i < 10_000 && off < data.length; i++) {
      const r = writeBatch(cli, data, off, data.length - off);
      if (r === L.WANT_POLLOUT) {
        wants++;
        await L.poll(fds[0], r, { timeout: 5000 });
      } else off += r;
    }
    await within(reader, 10_000, 'the reader');
    assert.equal(off, data.length);
    assert.ok(wants > 0, 'the socket never filled up');
    assert.ok(Buffer.concat(received).equals(data));
  } finally {
    cli.free();
    acc.free();
    srv.free();
    for (const fd of fds) closeSync(fd);
  }
});

test('feed() and drain() are only for contexts of the memory transport; the 1:1 callbacks keep the sizes libtls asks for', async () => {
  const { cli, acc, srv, fds } = await pairHandshake(serverConfig(), clientConfig());
  try {
    assert.throws(
      () => feed(cli, Buffer.from('x')),
      (e) => e instanceof L.TlsError && e.op === 'feed' && e.code === 'ERR_TLS_INVALID_STATE',
    );
    assert.throws(
      () => drain(cli),
      (e) => e instanceof L.TlsError && e.op === 'drain' && e.code === 'ERR_TLS_INVALID_STATE',
    );
  } finally {
    cli.free();
    acc.free();
    srv.free();
    closeSync(fds[0]);
    closeSync(fds[1]);
  }
  // a 1:1 callback context's read callback is asked for what libtls wants: a record header (5
  // bytes) first
  const asked = [];
  const c = L.client(clientConfig());
  try {
    c.connectCbs(
      (size) => {
        asked.push(size);
        return L.WANT_POLLIN;
      },
      (chunk) => chunk.length,
      'localhost',
    );
    assert.equal(c.handshake(), L.WANT_POLLIN);
    assert.deepEqual(asked, [5]);
  } finally {
    c.free();
  }
});
