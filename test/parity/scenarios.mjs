// Connection-lifecycle scenarios, each written once against a stack (see stacks.mjs) and run on
// node:tls and on this package. Each returns its trace: the events of every socket, in order, and
// what the servers' close() callbacks said. Sockets watched with `read: true` also record the
// bytes they received.
import net from 'node:net';
import { keylogClient, nextClientSeq, seal, startProxy } from '../support/mitm.mjs';
import { memoryPair, rawConnect } from './stacks.mjs';
import { bounded, until, watch } from './trace.mjs';

const MiB = 1024 * 1024;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Closes `server`, recording its close() callback (and error code) in `trace.serverClose`. */
async function closeServer(trace, server, ms = 5000) {
  trace.serverClose ??= [];
  try {
    const err = await bounded(new Promise((resolve) => server.close(resolve)), ms, 'server.close()');
    trace.serverClose.push(err ? `callback ${err.code}` : 'callback');
  } catch (e) {
    trace.serverClose.push(e.message);
  }
}

/**
 * The ways a scenario's connection can be made: `connect()` to `createServer()` over TCP, TLS over
 * a net.Socket the client already has (`upgrade()`; node: `tls.connect({ socket })`), and TLS on
 * both ends of an in-memory Duplex pair (node: `tls.connect({ socket })` and `new TLSSocket()`).
 */
export const TRANSPORTS = ['tcp', 'upgrade over a net.Socket', 'an in-memory pair'];

/** The scenarios that run over every transport (the others are about TCP or a server). */
export const OVER_EVERY_TRANSPORT = [
  'server end()s, never reads; the client reads',
  'client end()s, never reads',
  'write-only server (a greeting), the client reads it and destroy()s',
  'write-only server, the client end()s',
  'client destroy()s after the handshake; the server reads',
  'server destroy()s after the handshake; the client reads',
  'both read; the client end()s: close_notify both ways',
  'allowHalfOpen: the client end()s, the server replies after its end',
  'allowHalfOpen on the server only: the client end()s and reads',
  'the client writes 50 x 64 KiB; the server destroy()s at the first chunk',
  'destroy() with a write in flight (the peer does not read)',
  "setTimeout(): 'timeout' after each idle period",
  'write() after end()',
  'end() after destroy()',
  'backpressure: the server writes 8 MiB to a paused client, which resumes',
  'cork(), three writes, uncork()',
  'one 100 MB write',
];

/**
 * A server and a client on `stack`, connected `via` one of TRANSPORTS; `onServer(s, events)` runs
 * on the server's socket. With the in-memory pair there is no server (`srv` is null).
 */
async function pair(
  stack,
  trace,
  via,
  { server = {}, client = {}, serverRead = false, onServer = () => {} } = {},
) {
  trace.server = [];
  trace.client = [];
  let serverClosed;
  const onSecure = (s) => {
    serverClosed = watch(s, trace.server, { read: serverRead });
    onServer(s, trace.server);
  };
  if (via === 'an in-memory pair') {
    const [a, b] = memoryPair();
    const [c, s] = await Promise.all([
      stack.upgrade(a, { mode: 'client', ...client }),
      stack.upgrade(b, { mode: 'server', ...server }),
    ]);
    onSecure(s);
    return { srv: null, c, s, serverClosed: () => serverClosed };
  }
  let gotSocket;
  const socketArrived = new Promise((r) => {
    gotSocket = r;
  });
  const { server: srv, port } = await stack.createServer(server, (s) => {
    onSecure(s);
    gotSocket(s);
  });
  const c =
    via === 'tcp'
      ? await stack.connect(port, client)
      : await stack.upgrade(await rawConnect(port), { mode: 'client', ...client });
  const s = await bounded(socketArrived, 5000, "the server's socket");
  return { srv, port, c, s, serverClosed: () => serverClosed };
}

/** Waits (bounded) for both sockets' 'close', then closes the server. */
async function finish(trace, p, clientClosed, ms = 5000) {
  try {
    await bounded(Promise.all([clientClosed, p.serverClosed()]), ms, 'both sockets closing');
  } catch (e) {
    trace.hang = e.message;
    p.c.destroy();
    p.s.destroy();
  }
  if (p.srv) await closeServer(trace, p.srv);
}

export const scenarios = {
  // -- who ends, and whether anyone reads --
  async 'server end()s, never reads; the client reads'(stack, trace, via) {
    const p = await pair(stack, trace, via, { onServer: (s) => s.end('x') });
    await finish(trace, p, watch(p.c, trace.client, { read: true }));
  },

  async 'client end()s, never reads'(stack, trace, via) {
    const p = await pair(stack, trace, via, { serverRead: true });
    const closed = watch(p.c, trace.client);
    p.c.end('hello');
    await finish(trace, p, closed);
  },

  async 'write-only server (a greeting), the client reads it and destroy()s'(stack, trace, via) {
    const p = await pair(stack, trace, via, { onServer: (s) => s.write('welcome\n') });
    const closed = watch(p.c, trace.client);
    await bounded(new Promise((r) => p.c.once('data', r)), 5000, 'greeting');
    p.c.destroy();
    await finish(trace, p, closed);
  },

  async 'write-only server, the client end()s'(stack, trace, via) {
    const p = await pair(stack, trace, via, { onServer: (s) => s.write('welcome\n') });
    const closed = watch(p.c, trace.client, { read: true });
    p.c.end();
    await finish(trace, p, closed);
  },

  async 'client destroy()s after the handshake; the server reads'(stack, trace, via) {
    const p = await pair(stack, trace, via, { serverRead: true });
    const closed = watch(p.c, trace.client);
    await sleep(50); // the server's TLS 1.3 session tickets have arrived and were read
    p.c.destroy();
    await finish(trace, p, closed);
  },

  async 'client destroy()s as soon as the server has its socket'(stack, trace, via) {
    const p = await pair(stack, trace, via, { serverRead: true });
    const closed = watch(p.c, trace.client);
    p.c.destroy();
    await finish(trace, p, closed);
  },

  async 'server destroy()s after the handshake; the client reads'(stack, trace, via) {
    const p = await pair(stack, trace, via, { onServer: (s) => setTimeout(() => s.destroy(), 20) });
    await finish(trace, p, watch(p.c, trace.client, { read: true }));
  },

  async 'both read; the client end()s: close_notify both ways'(stack, trace, via) {
    const p = await pair(stack, trace, via, { serverRead: true });
    const closed = watch(p.c, trace.client, { read: true });
    p.c.end('bye');
    await finish(trace, p, closed);
  },

  async 'allowHalfOpen: the client end()s, the server replies after its end'(stack, trace, via) {
    const p = await pair(stack, trace, via, {
      server: { allowHalfOpen: true },
      client: { allowHalfOpen: true },
      serverRead: true,
      onServer: (s) => s.on('end', () => s.end('reply after end')),
    });
    const closed = watch(p.c, trace.client, { read: true });
    p.c.end('request');
    await finish(trace, p, closed);
  },

  async 'allowHalfOpen on the server only: the client end()s and reads'(stack, trace, via) {
    const p = await pair(stack, trace, via, {
      server: { allowHalfOpen: true },
      serverRead: true,
      onServer: (s) => s.on('end', () => setTimeout(() => s.end('late'), 20)),
    });
    const closed = watch(p.c, trace.client, { read: true });
    p.c.end('request');
    await finish(trace, p, closed);
  },

  // -- writers whose peer goes away --
  async 'allowHalfOpen on the server: the client end()s and closes TCP; the server writes after its end'(
    stack,
    trace,
    via,
  ) {
    const p = await pair(stack, trace, via, {
      server: { allowHalfOpen: true },
      serverRead: true,
      onServer: (s) =>
        s.on('end', () => {
          // small writes, one at a time, to a peer that is gone: each must fail or be refused,
          // never spin (libtls answers 0 to a write after the peer's close_notify)
          let n = 0;
          const next = () => {
            if (s.destroyed) return;
            if (++n > 50) s.end();
            else s.write('x'.repeat(17), (err) => err || setTimeout(next, 20));
          };
          next();
        }),
    });
    const closed = watch(p.c, trace.client);
    p.c.end();
    setTimeout(() => p.c.destroy(), 10);
    await finish(trace, p, closed);
  },

  async 'the client writes 50 x 64 KiB; the server destroy()s at the first chunk'(stack, trace, via) {
    const p = await pair(stack, trace, via, { onServer: (s) => s.once('data', () => s.destroy()) });
    const closed = watch(p.c, trace.client);
    p.c.write('trigger');
    const chunk = Buffer.alloc(64 * 1024, 1);
    for (let i = 0; i < 50; i++) p.c.write(chunk);
    await finish(trace, p, closed, 10_000);
  },

  async 'destroy() with a write in flight (the peer does not read)'(stack, trace, via) {
    const p = await pair(stack, trace, via, { onServer: (s) => s.pause() });
    const closed = watch(p.c, trace.client);
    p.c.write(Buffer.alloc(8 * MiB, 2));
    await sleep(50);
    p.c.destroy();
    await bounded(closed, 5000, 'client close');
    trace.client.push(`errored ${p.c.errored?.code ?? null}`);
    p.s.destroy();
    await finish(trace, p, closed);
  },

  // -- abrupt ends from a plain-TLS peer over its own TCP socket (node:tls on both runs) --
  async 'a peer drops TCP without close_notify after sending data; the server reads'(stack, trace) {
    const p = await rawPeer(stack, trace, { serverRead: true });
    p.tls.write('partial');
    await until(() => p.received() > 0, 5000);
    p.raw.destroy();
    await finish(trace, { ...p, c: p.tls }, Promise.resolve());
  },

  async 'a peer drops TCP without close_notify; the server never reads'(stack, trace) {
    const p = await rawPeer(stack, trace, { onServer: (s) => s.write('hello') });
    await sleep(50);
    p.raw.destroy();
    await finish(trace, { ...p, c: p.tls }, Promise.resolve());
  },

  async 'a peer resets the connection; the server never reads'(stack, trace) {
    const p = await rawPeer(stack, trace, { onServer: (s) => s.pause() });
    await sleep(50);
    p.raw.resetAndDestroy();
    await finish(trace, { ...p, c: p.tls }, Promise.resolve());
  },

  async 'a peer resets the connection while the server writes 16 MiB'(stack, trace) {
    const p = await rawPeer(stack, trace, {
      onServer: (s) => {
        s.write(Buffer.alloc(16 * MiB, 3));
      },
    });
    await sleep(50);
    p.raw.resetAndDestroy();
    await finish(trace, { ...p, c: p.tls }, Promise.resolve());
  },

  async 'a misbehaving peer sends close_notify, then more data'(stack, trace) {
    trace.server = [];
    let serverClosed;
    const { server, port } = await stack.createServer({}, (s) => {
      serverClosed = watch(s, trace.server, { read: true });
    });
    let keys = null;
    let injected = false;
    const p = await startProxy(port, {
      c2s(rec, p) {
        // the client's close_notify (an encrypted alert): a record of data sealed right after it
        if (rec[0] !== 0x15 || !p.c2s.ccs || keys === null || injected) return rec;
        injected = true;
        return Buffer.concat([
          rec,
          seal(keys.client, 0x17, nextClientSeq(p), Buffer.from('after close_notify')),
        ]);
      },
    });
    const { c, keys: k } = await keylogClient(p);
    try {
      keys = k;
      c.write('before');
      c.end();
      await bounded(
        until(() => serverClosed !== undefined, 5000).then(() => serverClosed),
        5000,
        'server close',
      );
      trace.injected = injected;
    } finally {
      c.destroy();
      p.close();
    }
    await closeServer(trace, server);
  },

  // -- before and during the handshake --
  async 'a TCP client that sends nothing meets handshakeTimeout'(stack, trace) {
    trace.tlsClientError = [];
    const { server, port } = await stack.createServer({ handshakeTimeout: 100 }, () => {
      trace.tlsClientError.push('secureConnection');
    });
    server.on('tlsClientError', (err) => trace.tlsClientError.push(`tlsClientError ${err.code}`));
    const raw = await rawConnect(port);
    trace.raw = [];
    const closed = watch(raw, trace.raw);
    await until(() => trace.tlsClientError.length > 0, 5000);
    await Promise.race([closed, sleep(300)]);
    if (!raw.destroyed) trace.raw.push('still open');
    raw.destroy();
    await closeServer(trace, server);
  },

  async 'a client that sends half a ClientHello and closes'(stack, trace) {
    trace.tlsClientError = [];
    const { server, port } = await stack.createServer({}, () =>
      trace.tlsClientError.push('secureConnection'),
    );
    const failed = new Promise((resolve) =>
      server.on('tlsClientError', (err) => {
        trace.tlsClientError.push(`tlsClientError ${err.code}`);
        resolve();
      }),
    );
    const raw = await rawConnect(port);
    raw.end(Buffer.from('16030100c8010000c40303', 'hex'));
    await bounded(failed, 5000, 'tlsClientError');
    raw.destroy();
    await closeServer(trace, server);
  },

  // -- the server's close() --
  async 'server.close() with an idle client: the callback waits for it'(stack, trace, via) {
    const p = await pair(stack, trace, via, { serverRead: true });
    const closed = watch(p.c, trace.client);
    const order = [];
    trace.order = order;
    const cb = new Promise((resolve) => p.srv.close(() => resolve(order.push('server.close callback'))));
    await sleep(100);
    order.push('client end()');
    p.c.end();
    await bounded(Promise.all([cb, closed]), 5000, 'server.close()');
  },

  async 'server.close() twice while a client is connected'(stack, trace) {
    const p = await pair(stack, trace, 'tcp', { serverRead: true });
    const closed = watch(p.c, trace.client);
    const order = [];
    trace.order = order;
    p.srv.on('close', () => order.push("'close'"));
    const first = new Promise((resolve) => p.srv.close((err) => resolve(order.push(`first ${err?.code}`))));
    const second = new Promise((resolve) => p.srv.close((err) => resolve(order.push(`second ${err?.code}`))));
    await sleep(100);
    order.push('client end()');
    p.c.end();
    await bounded(Promise.all([first, second, closed]), 5000, 'server.close()');
    await sleep(20);
  },

  async 'server.close() before listen() and twice'(stack, trace) {
    trace.serverClose = [];
    const { server } = await stack.createServer({});
    await closeServer(trace, server);
    await closeServer(trace, server);
  },

  // -- timeouts --
  async "setTimeout(): 'timeout' after each idle period"(stack, trace, via) {
    const p = await pair(stack, trace, via, {
      serverRead: true,
      onServer: (s) => {
        let n = 0;
        // setTimeout(ms, cb) adds cb once (as net.Socket): a listener sees every 'timeout'
        s.setTimeout(80);
        s.on('timeout', () => {
          n++;
          if (n === 1) trace.server.push('(client writes)');
          if (n === 2) s.destroy();
        });
      },
    });
    const closed = watch(p.c, trace.client);
    await until(() => trace.server.includes('timeout'), 3000);
    p.c.write('activity');
    await finish(trace, p, closed);
  },

  // -- misuse of a socket --
  async 'write() after end()'(stack, trace, via) {
    const p = await pair(stack, trace, via, { serverRead: true });
    const closed = watch(p.c, trace.client);
    p.c.end();
    p.c.write('late', (err) => trace.client.push(`write callback ${err?.code}`));
    await finish(trace, p, closed);
  },

  async 'end() after destroy()'(stack, trace, via) {
    const p = await pair(stack, trace, via, { serverRead: true });
    const closed = watch(p.c, trace.client);
    await sleep(50);
    p.c.destroy();
    p.c.end();
    await finish(trace, p, closed);
  },

  // -- flow control and volume --
  async 'backpressure: the server writes 8 MiB to a paused client, which resumes'(stack, trace, via) {
    let drains = 0;
    let falses = 0;
    const p = await pair(stack, trace, via, {
      onServer: (s) => {
        const chunk = Buffer.alloc(64 * 1024, 7);
        let left = 128;
        const pump = () => {
          while (left > 0) {
            left--;
            if (!s.write(chunk)) {
              falses++;
              s.once('drain', () => {
                drains++;
                pump();
              });
              return;
            }
          }
          s.end();
        };
        pump();
      },
    });
    p.c.pause();
    const closed = watch(p.c, trace.client, { read: true });
    p.c.pause();
    await sleep(150);
    p.c.resume();
    await finish(trace, p, closed, 10_000);
    trace.flow = `write() false then 'drain': ${falses > 0 && drains === falses}`;
  },

  async 'cork(), three writes, uncork()'(stack, trace, via) {
    const p = await pair(stack, trace, via, {
      onServer: (s) => {
        s.cork();
        s.write('a');
        s.write('bb');
        s.write('ccc');
        s.uncork();
        s.end();
      },
    });
    await finish(trace, p, watch(p.c, trace.client, { read: true }));
  },

  async 'one 100 MB write'(stack, trace, via) {
    const p = await pair(stack, trace, via, { serverRead: true });
    const closed = watch(p.c, trace.client);
    p.c.end(Buffer.alloc(100 * 1000 * 1000, 9));
    await finish(trace, p, closed, 30_000);
  },

  // -- TLS over a stream the caller already has --
  async 'upgrade over a net.Socket: the server end()s, the client reads'(stack, trace) {
    trace.server = [];
    trace.client = [];
    let serverClosed;
    const { server, port } = await stack.createServer({}, (s) => {
      serverClosed = watch(s, trace.server);
      s.end('over a socket');
    });
    const raw = await rawConnect(port);
    const c = await stack.upgrade(raw, { mode: 'client' });
    const closed = watch(c, trace.client, { read: true });
    await bounded(closed, 5000, 'client close');
    await bounded(
      until(() => serverClosed !== undefined, 5000).then(() => serverClosed),
      5000,
      'server close',
    );
    await closeServer(trace, server);
  },

  async 'upgrade over an in-memory pair: the client end()s, both read'(stack, trace) {
    trace.server = [];
    trace.client = [];
    const [a, b] = memoryPair();
    const [c, s] = await Promise.all([
      stack.upgrade(a, { mode: 'client' }),
      stack.upgrade(b, { mode: 'server' }),
    ]);
    const sc = watch(s, trace.server, { read: true });
    const cc = watch(c, trace.client, { read: true });
    s.on('end', () => s.end('pong'));
    c.end('ping');
    await bounded(Promise.all([sc, cc]), 5000, 'both closing');
  },
};

/**
 * A node:tls client over a TCP socket we hold (`raw`), against `stack`'s server: the way to end a
 * connection abruptly (drop TCP, reset) the same way on both runs.
 */
async function rawPeer(stack, trace, { serverRead = false, onServer = () => {} } = {}) {
  const { default: tls } = await import('node:tls');
  const { pem } = await import('../support/helpers.mjs');
  trace.server = [];
  let serverClosed;
  let received = 0;
  let gotSocket;
  const arrived = new Promise((r) => {
    gotSocket = r;
  });
  const { server, port } = await stack.createServer({}, (s) => {
    serverClosed = watch(s, trace.server, { read: serverRead });
    if (serverRead) s.on('data', (d) => (received += d.length));
    onServer(s);
    gotSocket(s);
  });
  const raw = await rawConnect(port);
  raw.on('error', () => {});
  const t = tls.connect({ socket: raw, servername: 'localhost', ca: pem('ca.crt') });
  t.on('error', () => {});
  t.resume();
  await bounded(new Promise((r) => t.once('secureConnect', r)), 5000, 'secureConnect');
  const s = await bounded(arrived, 5000, "the server's socket");
  return { srv: server, raw, tls: t, s, received: () => received, serverClosed: () => serverClosed };
}

export { net };
