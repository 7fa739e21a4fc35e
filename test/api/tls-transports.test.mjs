// The transports of the 1:1 API between our own contexts: socketpair(), connectFds/acceptFds, and
// the callback transport (connectCbs/acceptCbs) with callbacks that misbehave.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import { clientConfig, L, untilDone } from '../support/helpers.mjs';
import {
  ByteQueue,
  bothHandshake,
  closeFds,
  contexts,
  drive,
  pair,
  readBytes,
  writeAll,
} from '../support/interop.mjs';

const T = { timeout: 20_000 };

/** Callbacks over two in-memory queues (one per direction). */
function memoryTransport() {
  const toServer = new ByteQueue();
  const toClient = new ByteQueue();
  const reader = (q) => (size) => q.take(size) ?? L.WANT_POLLIN;
  const writer = (q) => (chunk) => {
    q.push(Buffer.from(chunk));
    return chunk.length;
  };
  return {
    toServer,
    toClient,
    client: [reader(toClient), writer(toServer)],
    server: [reader(toServer), writer(toClient)],
  };
}

/** Alternates handshake() on both callback contexts until both returned 0 (bounded). */
function handshakeInMemory(cli, acc) {
  let c = null;
  let s = null;
  for (let i = 0; i < 50 && (c !== 0 || s !== 0); i++) {
    if (c !== 0) c = cli.handshake();
    if (s !== 0) s = acc.handshake();
  }
  assert.equal(c, 0, 'client handshake');
  assert.equal(s, 0, 'server handshake');
}

describe('socketpair and fd transports', () => {
  test('connectSocket/acceptSocket over socketpair() exchange data both ways', T, async () => {
    const { cli, acc, a, b, done } = await pair();
    try {
      assert.equal(acc.connServername(), 'localhost');
      const up = randomBytes(200_000);
      const down = randomBytes(150_000);
      const [, , gotUp, gotDown] = await Promise.all([
        writeAll(cli, up, a),
        writeAll(acc, down, b),
        readBytes(acc, up.length, b),
        readBytes(cli, down.length, a),
      ]);
      assert.ok(gotUp.equals(up));
      assert.ok(gotDown.equals(down));
    } finally {
      done();
    }
  });

  test('connectFds/acceptFds with one socketpair per direction exchange data both ways', T, async () => {
    // c2s: client writes c2s[0], server reads c2s[1]; s2c: server writes s2c[1], client reads s2c[0].
    const c2s = L.socketpair();
    const s2c = L.socketpair();
    const { srv, cli, free } = contexts();
    let acc = null;
    try {
      cli.connectFds(s2c[0], c2s[0], 'localhost');
      acc = srv.acceptFds(c2s[1], s2c[1]);
      const cfds = [s2c[0], c2s[0]];
      const sfds = [c2s[1], s2c[1]];
      await bothHandshake(cli, cfds, acc, sfds);
      assert.equal(acc.connServername(), 'localhost');
      const up = randomBytes(300_000);
      const down = randomBytes(300_000);
      const [, , gotUp, gotDown] = await Promise.all([
        writeAll(cli, up, ...cfds),
        writeAll(acc, down, ...sfds),
        readBytes(acc, up.length, ...sfds),
        readBytes(cli, down.length, ...cfds),
      ]);
      assert.ok(gotUp.equals(up));
      assert.ok(gotDown.equals(down));
      // Ciphertext really went one way per pair: nothing ever came back on the write-only ends.
      for (const writeOnly of [c2s[0], s2c[1]]) {
        assert.throws(() => fs.readSync(writeOnly, Buffer.alloc(1)), { code: 'EAGAIN' });
      }
      assert.equal(await untilDone(() => cli.close(), s2c[0]), 0);
      assert.equal(await drive(() => acc.read(), ...sfds), null, 'server sees the end of stream');
    } finally {
      free(acc);
      closeFds(...c2s, ...s2c);
    }
  });

  test(
    'connectFds/acceptFds with the same fd for reading and writing work like connectSocket/acceptSocket',
    T,
    async () => {
      const [a, b] = L.socketpair();
      const { srv, cli, free } = contexts();
      let acc = null;
      try {
        cli.connectFds(a, a, 'localhost');
        acc = srv.acceptFds(b, b);
        await bothHandshake(cli, [a], acc, [b]);
        assert.equal(cli.connVersion(), 'TLSv1.3');
        const [, gotUp] = await Promise.all([writeAll(cli, 'same fd both ways', a), readBytes(acc, 17, b)]);
        assert.equal(String(gotUp), 'same fd both ways');
        const [, gotDown] = await Promise.all([writeAll(acc, 'and back', b), readBytes(cli, 8, a)]);
        assert.equal(String(gotDown), 'and back');
      } finally {
        free(acc);
        closeFds(a, b);
      }
    },
  );
});

describe('the callback transport (connectCbs / acceptCbs)', () => {
  test('a client and a server over in-memory queues handshake and move 1 MiB each way byte-exact', T, () => {
    const t = memoryTransport();
    const { srv, cli, free } = contexts();
    let acc = null;
    try {
      cli.connectCbs(...t.client, 'localhost');
      acc = srv.acceptCbs(...t.server);
      handshakeInMemory(cli, acc);
      assert.equal(cli.connVersion(), 'TLSv1.3');
      assert.equal(acc.connServername(), 'localhost');
      const up = randomBytes(1 << 20);
      const down = randomBytes(1 << 20);
      const gotUp = Buffer.alloc(up.length);
      const gotDown = Buffer.alloc(down.length);
      let wUp = 0;
      let wDown = 0;
      let rUp = 0;
      let rDown = 0;
      for (let i = 0; i < 10_000 && (rUp < up.length || rDown < down.length); i++) {
        if (wUp < up.length) {
          const n = cli.write(up.subarray(wUp, wUp + 65536));
          assert.ok(n > 0, `client write returned ${n}`);
          wUp += n;
        }
        if (wDown < down.length) {
          const n = acc.write(down.subarray(wDown, wDown + 65536));
          assert.ok(n > 0, `server write returned ${n}`);
          wDown += n;
        }
        if (rUp < up.length) {
          const n = acc.readInto(gotUp, rUp);
          if (n !== L.WANT_POLLIN) {
            assert.ok(n > 0, `server read returned ${n}`);
            rUp += n;
          }
        }
        if (rDown < down.length) {
          const n = cli.readInto(gotDown, rDown);
          if (n !== L.WANT_POLLIN) {
            assert.ok(n > 0, `client read returned ${n}`);
            rDown += n;
          }
        }
      }
      assert.equal(rUp, up.length);
      assert.equal(rDown, down.length);
      assert.ok(gotUp.equals(up), 'client -> server bytes differ');
      assert.ok(gotDown.equals(down), 'server -> client bytes differ');
      assert.equal(cli.close(), 0);
      assert.equal(acc.read(), null, 'close_notify through the queues ends the stream');
    } finally {
      free(acc);
    }
  });

  /** Runs `fn(c)` with a client over callbacks (the write side accepts all unless `write` is given). */
  function withCbClient(read, write, fn) {
    const cfg = clientConfig();
    const c = L.client(cfg);
    try {
      c.connectCbs(read, write ?? ((chunk) => chunk.length), 'localhost');
      fn(c);
    } finally {
      c.free();
      cfg.free();
    }
  }

  test('a read callback that throws makes handshake() throw that same error', () => {
    const boom = new Error('read callback exploded');
    const read = () => {
      throw boom;
    };
    withCbClient(read, null, (c) => {
      assert.throws(
        () => c.handshake(),
        (e) => e === boom,
      );
    });
  });

  test('a read callback returning a string makes handshake() throw a TypeError', () => {
    withCbClient(
      () => 'x',
      null,
      (c) => {
        assert.throws(() => c.handshake(), {
          name: 'TypeError',
          message: /read callback must return a Uint8Array or WANT_POLLIN/,
        });
      },
    );
  });

  test('a read callback returning more bytes than asked for makes handshake() throw a TypeError', () => {
    let asked = 0;
    const read = (size) => {
      asked = size;
      return new Uint8Array(size + 1);
    };
    withCbClient(read, null, (c) => {
      assert.throws(() => c.handshake(), {
        name: 'TypeError',
        message: /read callback returned more bytes than were asked for/,
      });
    });
    assert.ok(asked > 0);
  });

  test('a write callback claiming more bytes than given makes handshake() throw a TypeError', () => {
    withCbClient(
      () => L.WANT_POLLIN,
      (chunk) => chunk.length + 1,
      (c) => {
        assert.throws(() => c.handshake(), {
          name: 'TypeError',
          message: /write callback returned more bytes than given/,
        });
      },
    );
  });

  test('a write callback returning WANT_POLLOUT makes handshake() return WANT_POLLOUT; repeating it later completes the handshake', () => {
    const t = memoryTransport();
    let blocked = true;
    let calls = 0;
    const [cread, cwrite] = t.client;
    const { srv, cli, free } = contexts();
    let acc = null;
    try {
      cli.connectCbs(
        cread,
        (chunk) => {
          calls++;
          return blocked ? L.WANT_POLLOUT : cwrite(chunk);
        },
        'localhost',
      );
      acc = srv.acceptCbs(...t.server);
      assert.equal(cli.handshake(), L.WANT_POLLOUT);
      assert.equal(cli.handshake(), L.WANT_POLLOUT);
      assert.equal(calls, 2);
      assert.equal(t.toServer.length, 0, 'nothing was sent while blocked');
      blocked = false;
      handshakeInMemory(cli, acc);
      assert.equal(acc.connServername(), 'localhost');
      assert.equal(cli.write('after'), 5);
      assert.equal(String(acc.read()), 'after');
    } finally {
      free(acc);
    }
  });
});
