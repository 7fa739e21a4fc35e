// Tls I/O: read(), readInto(), write() and close() against a real peer, and sendfile() (fd and
// FileHandle, offsets, WANT_POLLOUT retries, past the end of the file).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { L, sha256, tempDir, untilDone } from '../support/helpers.mjs';
import { pair, readBytes } from '../support/interop.mjs';

const T = { timeout: 20_000 };

const isWant = (r) => r === L.WANT_POLLIN || r === L.WANT_POLLOUT;

describe('read(), readInto(), write() and close() semantics against a real peer', () => {
  test("read() returns null at the end of stream after the peer's close()", T, async () => {
    const { cli, acc, a, b, done } = await pair();
    try {
      assert.equal(await untilDone(() => cli.write('last words'), a), 10);
      assert.equal(await untilDone(() => cli.close(), a), 0);
      assert.equal(String(await untilDone(() => acc.read(), b)), 'last words');
      assert.equal(await untilDone(() => acc.read(), b), null);
      assert.equal(
        await untilDone(() => acc.readInto(Buffer.alloc(4)), b),
        0,
        'readInto() gives 0 at the end',
      );
    } finally {
      done();
    }
  });

  test('readInto(buf, offset, length) fills only the given region; write("") returns 0', T, async () => {
    const { cli, acc, a, b, done } = await pair();
    try {
      assert.equal(cli.write(''), 0);
      assert.equal(cli.write(new Uint8Array(0)), 0);
      assert.equal(await untilDone(() => cli.write('hello world'), a), 11);
      const buf = Buffer.alloc(16, 0xaa);
      assert.equal(await untilDone(() => acc.readInto(buf, 3, 5), b), 5);
      assert.deepEqual([...buf.subarray(0, 3)], [0xaa, 0xaa, 0xaa]);
      assert.equal(buf.subarray(3, 8).toString(), 'hello');
      assert.ok(
        buf.subarray(8).every((x) => x === 0xaa),
        buf.toString('hex'),
      );
      // The rest is still there, in order; write('') sent nothing in between.
      const rest = Buffer.alloc(10, 0xbb);
      assert.equal(await untilDone(() => acc.readInto(rest, 0), b), 6);
      assert.equal(rest.subarray(0, 6).toString(), ' world');
      assert.ok(rest.subarray(6).every((x) => x === 0xbb));
    } finally {
      done();
    }
  });
});

describe('sendfile() to an accepted server context over a socketpair', () => {
  const SIZE = 4 << 20;

  const file = `${tempDir(after)}/random.bin`;

  let data;

  /** Sends [offset, offset + bytes) with retries after WANT_* (same file, same offset). */
  async function sendAll(cli, fd, file, bytes, offset) {
    let sent = 0;
    let wants = 0;
    const deadline = Date.now() + 10_000;
    for (let i = 0; i < 100_000 && sent < bytes; i++) {
      const r = cli.sendfile(file, bytes - sent, offset + sent);
      if (isWant(r)) {
        wants++;
        await L.poll(fd, r, { timeout: Math.max(1, deadline - Date.now()) });
        continue;
      }
      assert.ok(r > 0, `sendfile returned ${r} before the end`);
      sent += r;
    }
    return { sent, wants };
  }

  before(() => {
    data = randomBytes(SIZE);
    fs.writeFileSync(file, data);
  });

  test('sendfile(fd, 4 MiB) with retries after WANT_POLLOUT arrives with the same sha256', T, async () => {
    const p = await pair();
    const fd = fs.openSync(file, 'r');
    try {
      const [res, got] = await Promise.all([
        sendAll(p.cli, p.a, fd, SIZE, 0),
        readBytes(p.acc, SIZE, p.b, p.b, 15_000),
      ]);
      assert.equal(res.sent, SIZE);
      assert.ok(res.wants > 0, 'a 4 MiB transfer over a socketpair must hit WANT_POLLOUT at least once');
      assert.equal(sha256(got), sha256(data));
    } finally {
      fs.closeSync(fd);
      p.done();
    }
  });

  test('sendfile(FileHandle, bytes, offset) sends exactly the middle of the file', T, async () => {
    const p = await pair();
    const fh = await fs.promises.open(file, 'r');
    try {
      const off = (SIZE >> 1) + 12345;
      const len = 300_001;
      const [res, got] = await Promise.all([sendAll(p.cli, p.a, fh, len, off), readBytes(p.acc, len, p.b)]);
      assert.equal(res.sent, len);
      assert.ok(got.equals(data.subarray(off, off + len)));
    } finally {
      await fh.close();
      p.done();
    }
  });

  test('sendfile() beyond the end of the file sends what is left, then returns 0', T, async () => {
    const p = await pair();
    const fd = fs.openSync(file, 'r');
    try {
      assert.equal(await untilDone(() => p.cli.sendfile(fd, 100, SIZE - 10), p.a), 10);
      assert.equal(await untilDone(() => p.cli.sendfile(fd, 100, SIZE), p.a), 0);
      assert.equal(await untilDone(() => p.cli.sendfile(fd, 100, SIZE + 1000), p.a), 0);
      assert.ok((await readBytes(p.acc, 10, p.b)).equals(data.subarray(SIZE - 10)));
    } finally {
      fs.closeSync(fd);
      p.done();
    }
  });

  test(
    'after WANT_* sendfile() must be repeated with the same file and offset: anything else is a TlsError',
    T,
    async () => {
      const p = await pair();
      const fd = fs.openSync(file, 'r');
      const fd2 = fs.openSync(file, 'r');
      try {
        // Nobody reads: fill the socketpair until sendfile() reports WANT_POLLOUT with nothing sent.
        let off = 0;
        let r;
        for (let i = 0; i < 1000; i++) {
          r = p.cli.sendfile(fd, SIZE - off, off);
          if (isWant(r)) break;
          assert.ok(r > 0);
          off += r;
        }
        assert.equal(r, L.WANT_POLLOUT);
        const isRetryError = (e) =>
          e instanceof L.TlsError && e.op === 'tls_write' && /same file and offset/.test(e.message);
        assert.throws(() => p.cli.sendfile(fd, SIZE - off, off + 1), isRetryError);
        assert.throws(() => p.cli.sendfile(fd2, SIZE - off, off), isRetryError);
        assert.throws(
          () => p.cli.write('interleaved'),
          (e) =>
            e instanceof L.TlsError &&
            e.op === 'tls_write' &&
            /sendfile\(\) chunk is waiting/.test(e.message),
        );
        // The proper retry still works, and the stream stays intact.
        const [res, got] = await Promise.all([
          sendAll(p.cli, p.a, fd, SIZE - off, off),
          readBytes(p.acc, SIZE, p.b, p.b, 15_000),
        ]);
        assert.equal(off + res.sent, SIZE);
        assert.equal(sha256(got), sha256(data));
      } finally {
        fs.closeSync(fd);
        fs.closeSync(fd2);
        p.done();
      }
    },
  );
});
