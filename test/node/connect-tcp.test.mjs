// connect()'s TCP connection, made natively without a net.Socket (src/tcp.ts, native/tcp.c): the
// addresses a lookup gives tried in turn, as Node.js 20's net.connect with autoSelectFamily;
// ECONNREFUSED; a TCP connect that cannot complete (a listener whose backlog is full, in a process
// that never accepts) running into the timeout or an abort; DNS failures, and an abort or a
// timeout while the lookup runs. Every scenario leaves the fds and active handles it found.
import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import dns from 'node:dns';
import { once } from 'node:events';
import net from 'node:net';
import { constants as os } from 'node:os';
import { describe, test } from 'node:test';
import { freePort, L, noop, readAll, settle, sleep, startPeer, within } from '../support/helpers.mjs';
import { noLeaks } from '../support/servers.mjs';
import { cliCfg, startServer, stopServer, T } from '../support/sockets.mjs';

// The suite needs the IPv6 loopback (socket-info and others listen on ::1 too).

/** A server that sends `hello` to each client and ends, listening on `host` only. */
function helloServer(host = '127.0.0.1') {
  return startServer(
    {},
    (s) => {
      s.on('error', noop);
      s.resume();
      s.end(`hello ${s.remoteAddress} ${s.remotePort}`);
    },
    host,
  );
}

/** A lookup that answers `addresses` (dns.lookup's all: true shape) on a later turn, recording its calls. */
function fixedLookup(addresses) {
  const calls = [];
  const lookup = (host, options, callback) => {
    calls.push({ host, ...options });
    setImmediate(() => callback(null, addresses));
  };
  return { lookup, calls };
}

const v4 = { address: '127.0.0.1', family: 4 };
const v6 = { address: '::1', family: 6 };

/**
 * A child node process listening on 127.0.0.1:`port` (any port if 0) with a backlog of 1 that
 * never accepts (its event loop is blocked), and filler connections from here until the kernel's
 * queue is full: a further connect to it stays in progress. Returns { port, close() }.
 */
async function fullBacklog(port = 0) {
  const code = `import net from 'node:net';
const s = net.createServer();
s.listen({ host: '127.0.0.1', port: ${port}, backlog: 1 }, () => {
  // never accept: block this process's event loop until it is killed (20 s at most)
  process.stdout.write(s.address().port + '\\n', () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20000));
});`;
  const peer = await startPeer(process.execPath, ['--input-type=module', '-e', code], {
    ready: (o) => /^\d+\n/.test(o),
  });
  const bound = Number(peer.output().trim());
  const fillers = [];
  const close = async () => {
    for (const f of fillers) f.destroy();
    await peer.kill();
  };
  try {
    // the queue holds backlog + 1 connections on Linux: the first connect that does not complete
    // within 300 ms shows it is full
    for (let i = 0; ; i++) {
      assert.ok(i < 8, 'the listen queue of the blocked listener never filled');
      const s = net.connect({ host: '127.0.0.1', port: bound });
      s.on('error', noop);
      fillers.push(s);
      const connected = await Promise.race([
        once(s, 'connect').then(() => true),
        sleep(300).then(() => false),
      ]);
      if (!connected) break;
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { port: bound, close };
}

describe('connect(): the TCP connection without a net.Socket', () => {
  test(
    'connect() makes no net.Socket: no TCPWRAP or TCPCONNECTWRAP is created, by IP address or by name (dns.lookup runs)',
    T,
    async () => {
      const { srv, port } = await helloServer();
      try {
        await noLeaks('two connects', async () => {
          const types = [];
          const hook = createHook({
            init(_id, type) {
              types.push(type);
            },
          }).enable();
          const sockets = [];
          try {
            sockets.push(
              await L.connect({ host: '127.0.0.1', port, servername: 'localhost', config: cliCfg }),
            );
            sockets.push(await L.connect({ host: 'localhost', port, config: cliCfg }));
          } finally {
            hook.disable();
          }
          for (const c of sockets) assert.match(String(await readAll(c)), /^hello 127\.0\.0\.1 \d+$/);
          assert.deepEqual(
            types.filter((t) => t.startsWith('TCP')),
            [],
            `async resources created: ${[...new Set(types)]}`,
          );
          assert.ok(types.includes('GETADDRINFOREQWRAP'), `localhost was looked up: ${[...new Set(types)]}`);
        });
      } finally {
        await stopServer(srv);
      }
    },
  );

  test(
    "the socket's addresses are the connection's: local and remote as the server sees them, through the one fd",
    T,
    async () => {
      let seen;
      const { srv, port } = await startServer({}, (s) => {
        seen = { remoteAddress: s.remoteAddress, remotePort: s.remotePort, localPort: s.localPort };
        s.on('error', noop);
        s.resume();
        s.end('x');
      });
      try {
        await noLeaks('connect', async () => {
          const c = await L.connect({ host: 'localhost', port, config: cliCfg });
          assert.equal(String(await readAll(c)), 'x');
          assert.deepEqual(
            {
              remoteAddress: c.remoteAddress,
              remotePort: c.remotePort,
              remoteFamily: c.remoteFamily,
              localAddress: c.localAddress,
              localFamily: c.localFamily,
            },
            {
              remoteAddress: '127.0.0.1',
              remotePort: port,
              remoteFamily: 'IPv4',
              localAddress: '127.0.0.1',
              localFamily: 'IPv4',
            },
          );
          assert.deepEqual(seen, { remoteAddress: '127.0.0.1', remotePort: c.localPort, localPort: port });
        });
      } finally {
        await stopServer(srv);
      }
    },
  );

  test(
    'a lookup giving ::1 first reaches a server listening on 127.0.0.1 only: ::1 fails, the next address connects',
    T,
    async () => {
      const { srv, port } = await helloServer('127.0.0.1');
      try {
        await noLeaks('connect', async () => {
          const { lookup, calls } = fixedLookup([v6, v4]);
          const c = await L.connect({ host: 'localhost', port, config: cliCfg, lookup });
          // as net.connect asks its lookup when no family is given (autoSelectFamily)
          assert.deepEqual(calls, [{ host: 'localhost', family: 0, hints: dns.ADDRCONFIG, all: true }]);
          assert.equal(c.remoteAddress, '127.0.0.1');
          assert.equal(c.remoteFamily, 'IPv4');
          assert.equal(String(await readAll(c)), `hello 127.0.0.1 ${c.localPort}`);
        });
      } finally {
        await stopServer(srv);
      }
    },
  );

  test(`a lookup giving 127.0.0.1 first reaches a server listening on ::1 only`, T, async () => {
    const { srv, port } = await helloServer('::1');
    try {
      await noLeaks('connect', async () => {
        const { lookup } = fixedLookup([v4, v6]);
        const c = await L.connect({ host: 'localhost', port, config: cliCfg, lookup });
        assert.equal(c.remoteAddress, '::1');
        assert.equal(c.remoteFamily, 'IPv6');
        assert.equal(c.localFamily, 'IPv6');
        assert.equal(String(await readAll(c)), `hello ::1 ${c.localPort}`);
      });
    } finally {
      await stopServer(srv);
    }
  });

  test(
    'family: 4 asks the lookup for one address of that family (all: false), as net.connect; the (err, address, family) answer connects',
    T,
    async () => {
      const { srv, port } = await helloServer('127.0.0.1');
      try {
        await noLeaks('connect', async () => {
          const calls = [];
          const lookup = (host, options, callback) => {
            calls.push({ host, ...options });
            setImmediate(() => callback(null, '127.0.0.1', 4));
          };
          const c = await L.connect({ host: 'localhost', port, config: cliCfg, lookup, family: 4 });
          assert.deepEqual(calls, [{ host: 'localhost', family: 4, hints: 0, all: false }]);
          assert.equal(String(await readAll(c)), `hello 127.0.0.1 ${c.localPort}`);
        });
      } finally {
        await stopServer(srv);
      }
    },
  );

  test('an IP address is not looked up', T, async () => {
    const { srv, port } = await helloServer('127.0.0.1');
    try {
      await noLeaks('connect', async () => {
        const { lookup, calls } = fixedLookup([v6]);
        const c = await L.connect({
          host: '127.0.0.1',
          port,
          servername: 'localhost',
          config: cliCfg,
          lookup,
        });
        assert.deepEqual(calls, []);
        assert.equal(String(await readAll(c)), `hello 127.0.0.1 ${c.localPort}`);
      });
    } finally {
      await stopServer(srv);
    }
  });

  test(
    'a closed port rejects with TlsError ECONNREFUSED (op connect, errno, the address in the message); every address refused: the first code, all attempts in the cause',
    T,
    async () => {
      const port = await freePort();
      await noLeaks('refused connects', async () => {
        const one = await settle(L.connect({ host: '127.0.0.1', port, config: cliCfg }));
        assert.ok(one.error instanceof L.TlsError, String(one.error));
        assert.equal(one.error.code, 'ECONNREFUSED');
        assert.equal(one.error.op, 'connect');
        assert.equal(one.error.errno, -os.errno.ECONNREFUSED);
        assert.equal(one.error.message, `connect ECONNREFUSED 127.0.0.1:${port}`);

        const { lookup } = fixedLookup([v4, v6]);
        const both = await settle(L.connect({ host: 'localhost', port, config: cliCfg, lookup }));
        assert.ok(both.error instanceof L.TlsError, String(both.error));
        assert.equal(both.error.code, 'ECONNREFUSED');
        assert.ok(both.error.cause instanceof AggregateError);
        const attempts = both.error.cause.errors;
        assert.equal(attempts.length, 2);
        assert.equal(attempts[0].message, `connect ECONNREFUSED 127.0.0.1:${port}`);
        // ::1 refuses too, or cannot be reached at all on a machine without IPv6
        assert.match(attempts[1].message, new RegExp(`^connect E[A-Z]+ ::1:${port}$`));
        assert.ok(attempts.every((e) => e instanceof L.TlsError && e.op === 'connect'));
      });
    },
  );

  test(
    'a TCP connect that cannot complete (a full listen queue) rejects with ETIMEDOUT (op connect) at the timeout, its fd closed',
    T,
    async () => {
      await noLeaks('the blocked listener and the connect', async () => {
        const blocked = await fullBacklog();
        try {
          const r = await within(
            settle(L.connect({ host: '127.0.0.1', port: blocked.port, config: cliCfg, timeout: 300 })),
            5000,
            'connect timeout',
          );
          assert.ok(r.error instanceof L.TlsError, String(r.error));
          assert.equal(r.error.code, 'ETIMEDOUT');
          assert.equal(r.error.op, 'connect');
          assert.match(r.error.message, /timed out after 300 ms/);
        } finally {
          await blocked.close();
        }
      });
    },
  );

  test(
    "an AbortSignal aborts a TCP connect in progress with the signal's reason, its fd closed",
    T,
    async () => {
      await noLeaks('the blocked listener and the connect', async () => {
        const blocked = await fullBacklog();
        try {
          const ac = new AbortController();
          const p = settle(
            L.connect({ host: '127.0.0.1', port: blocked.port, config: cliCfg, signal: ac.signal }),
          );
          await sleep(100);
          const reason = new Error('gave up connecting');
          ac.abort(reason);
          const r = await within(p, 2000, 'abort');
          assert.equal(r.error, reason);
        } finally {
          await blocked.close();
        }
      });
    },
  );

  test(
    `an address that does not connect within the attempt timeout is left for the next one, as net's autoSelectFamily`,
    T,
    async () => {
      const { srv, port } = await helloServer('::1');
      try {
        await noLeaks('the blocked listener and the connect', async () => {
          const blocked = await fullBacklog(port); // 127.0.0.1, the same port
          try {
            const { lookup } = fixedLookup([v4, v6]);
            const c = await L.connect({ host: 'localhost', port, config: cliCfg, lookup, timeout: 10_000 });
            assert.equal(c.remoteAddress, '::1');
            assert.equal(String(await readAll(c)), `hello ::1 ${c.localPort}`);
          } finally {
            await blocked.close();
          }
        });
      } finally {
        await stopServer(srv);
      }
    },
  );

  test(
    "an abort or a timeout while the lookup runs rejects at once; the lookup's late answer opens nothing",
    T,
    async () => {
      const { srv, port } = await helloServer('127.0.0.1');
      try {
        await noLeaks('connects aborted in DNS', async () => {
          const late = [];
          const lookup = (_host, _options, callback) => {
            late.push(() => callback(null, [v4]));
          };
          const ac = new AbortController();
          const aborted = settle(
            L.connect({ host: 'slow.test', port, config: cliCfg, lookup, signal: ac.signal }),
          );
          const timedOut = settle(
            L.connect({ host: 'slow.test', port, config: cliCfg, lookup, timeout: 100 }),
          );
          await sleep(50);
          const reason = new Error('no more waiting');
          ac.abort(reason);
          assert.equal((await within(aborted, 1000, 'abort')).error, reason);
          const t = (await within(timedOut, 2000, 'timeout')).error;
          assert.ok(t instanceof L.TlsError, String(t));
          assert.equal(t.code, 'ETIMEDOUT');
          assert.equal(t.op, 'connect');
          assert.equal(late.length, 2);
          for (const answer of late) answer();
          await sleep(200);
          assert.equal(srv.connections, 0, 'a late lookup answer connected');
        });
      } finally {
        await stopServer(srv);
      }
    },
  );

  test(
    "a name that does not resolve rejects with dns.lookup's own error (ENOTFOUND or EAI_AGAIN, syscall getaddrinfo); a lookup's error is passed on as it is",
    T,
    async () => {
      await noLeaks('failed lookups', async () => {
        const name = 'no-such-host.invalid';
        const expected = await within(settle(dns.promises.lookup(name, { all: true })), 15_000, 'dns.lookup');
        assert.ok(expected.error, `${name} resolves on this machine`);
        const r = await within(
          settle(L.connect({ host: name, port: 443, config: cliCfg })),
          15_000,
          'connect',
        );
        assert.equal(r.error?.code, expected.error.code);
        assert.equal(r.error.syscall, 'getaddrinfo');
        assert.equal(r.error.hostname, name);

        const mine = Object.assign(new Error('getaddrinfo ENOTFOUND x.test'), { code: 'ENOTFOUND' });
        const lookup = (_h, _o, callback) => setImmediate(() => callback(mine));
        assert.equal(
          (await settle(L.connect({ host: 'x.test', port: 443, config: cliCfg, lookup }))).error,
          mine,
        );
        // no IPv4 or IPv6 address among the answers
        const none = fixedLookup([]);
        const empty = await settle(
          L.connect({ host: 'x.test', port: 443, config: cliCfg, lookup: none.lookup }),
        );
        assert.ok(empty.error instanceof L.TlsError, String(empty.error));
        assert.equal(empty.error.code, 'ENOTFOUND');
      });
    },
  );

  test(
    'bad family or lookup options reject with RangeError or TypeError before anything is opened',
    T,
    async () => {
      await noLeaks('rejected options', async () => {
        for (const [opts, cls] of [
          [{ family: 5 }, RangeError],
          [{ family: 4.5 }, RangeError],
          [{ family: '4' }, TypeError],
          [{ lookup: 'dns' }, TypeError],
        ]) {
          const r = await settle(L.connect({ host: 'localhost', port: 443, config: cliCfg, ...opts }));
          assert.ok(r.error instanceof cls, `${JSON.stringify(opts)}: ${r.error}`);
        }
      });
    },
  );
});
