// TlsSocket.end() and half-close: close_notify, allowHalfOpen, and what each side sees.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import tls from 'node:tls';
import { pem, readAll, sha256, sleep, waitFor, within } from '../support/helpers.mjs';
import { connectTo, consume, nodeTlsOverRaw, startServer, stopServer, T } from '../support/sockets.mjs';

const MiB = 1024 * 1024;

/** Resolves on 'close' (events.once would reject on an 'error' event first). */
const closed = (s) => new Promise((resolve) => s.once('close', resolve));

describe('half-close and end()', () => {
  test(
    "end() on a paused socket whose read buffer is full, after the peer reset the connection: 'finish', no 'error' (a close_notify nobody can receive; net.Socket ignores a failed shutdown too)",
    T,
    async () => {
      const seen = [];
      let server;
      const secure = new Promise((resolve) => {
        server = startServer({}, (s) => {
          // nothing reads: once its buffer is full it stops reading, and only the close_notify can
          // meet the reset
          s.pause();
          s.on('error', (e) => seen.push(`error ${e.message}`));
          s.on('finish', () => seen.push('finish'));
          resolve(s);
        });
      });
      const { srv, port } = await server;
      const { raw, c } = nodeTlsOverRaw(port);
      try {
        await within(once(c, 'secureConnect'), 5000, 'secureConnect');
        const s = await within(secure, 5000, "the server's socket");
        c.write(Buffer.alloc(1024 * 1024));
        assert.ok(await waitFor(() => s.readableLength >= s.readableHighWaterMark, 3000), 'buffer full');
        raw.resetAndDestroy();
        await sleep(100); // the RST has arrived
        s.end();
        await within(once(s, 'finish'), 5000, "the server socket's 'finish'");
        assert.deepEqual(seen, ['finish']);
        s.destroy();
      } finally {
        c.destroy();
        await stopServer(srv);
      }
    },
  );

  test(
    "allowHalfOpen: the client end()s, the server gets 'end' and still replies before the client's 'end'",
    T,
    async () => {
      const order = [];
      const { srv, port } = await startServer({ allowHalfOpen: true }, (s) => {
        let req = '';
        s.on('error', (e) => order.push(`server error ${e.message}`));
        s.on('data', (d) => {
          req += d;
        });
        s.on('end', () => {
          order.push('server end');
          setTimeout(() => {
            order.push('server writes');
            s.end(`reply to ${req}`);
          }, 50);
        });
      });
      try {
        const c = await connectTo(port);
        c.on('data', (d) => order.push(`client data ${d}`));
        c.on('end', () => order.push('client end'));
        const done = closed(c);
        c.end('request');
        await within(done, 5000, 'client close');
        assert.deepEqual(order, [
          'server end',
          'server writes',
          'client data reply to request',
          'client end',
        ]);
      } finally {
        await stopServer(srv);
      }
    },
  );

  test("without allowHalfOpen the server side ends by itself after the client's end()", T, async () => {
    const seen = [];
    const { srv, port } = await startServer({}, (s) => {
      s.on('error', (e) => seen.push(`error ${e.message}`));
      s.on('end', () => seen.push('end'));
      s.on('finish', () => seen.push('finish'));
      s.on('close', () => seen.push('close'));
      s.resume();
    });
    try {
      const c = await connectTo(port);
      const got = readAll(c, 5000, "client 'end' from the server's automatic end");
      c.end('bye');
      assert.equal(String(await got), '');
      assert.ok(await waitFor(() => seen.includes('close')), seen.join());
      assert.deepEqual(seen, ['end', 'finish', 'close']);
    } finally {
      await stopServer(srv);
    }
  });

  test(
    'destroySoon() flushes what was written, sends close_notify, then destroys the socket',
    T,
    async () => {
      const data = randomBytes(2 * MiB);
      let serverSocket;
      const { srv, port } = await startServer({}, (s) => {
        serverSocket = s;
        consume(s);
        s.write(data);
        s.destroySoon();
      });
      try {
        const c = await connectTo(port);
        const got = await readAll(c, 5000, 'all data, then end');
        assert.equal(sha256(got), sha256(data));
        assert.ok(await waitFor(() => serverSocket.destroyed, 2000));
        assert.equal(serverSocket.writableFinished, true);
      } finally {
        await stopServer(srv);
      }
    },
  );

  test("end() sends close_notify: a node:tls client sees a clean 'end' and no error", T, async () => {
    const { srv, port } = await startServer({}, (s) => {
      consume(s);
      s.end('goodbye');
    });
    const c = tls.connect({ host: '127.0.0.1', port, ca: pem('ca.crt'), servername: 'localhost' });
    let error = null;
    c.on('error', (e) => {
      error = e;
    });
    try {
      const got = readAll(c, 5000, "node:tls 'end'");
      assert.equal(String(await got), 'goodbye');
      const [hadError] = await within(once(c, 'close'), 5000, 'close');
      assert.equal(hadError, false);
      assert.equal(error, null);
    } finally {
      c.destroy();
      await stopServer(srv);
    }
  });
});
