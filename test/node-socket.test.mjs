// The Node.js layer (connect, createServer, TlsSocket), as the README documents it and node:tls programs
// expect it: interop with independent peers both ways, backpressure, leaks over many cycles,
// concurrency, handshakeTimeout, errors (verification, truncation, after the handshake),
// half-close, destroy() at any moment, setTimeout/ref/unref, connection info, connect()'s
// timeout and AbortSignal, the event loop's delay, and server.close() waiting for connections.
// Everything runs on 127.0.0.1 / ::1; peers in other processes are spawned asynchronously.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { pathToFileURL } from 'node:url';
import {
  clientConfig,
  gnutlsServer,
  L,
  listen,
  openFds,
  opensslServer,
  pem,
  pki,
  readAll,
  root,
  serverConfig,
  settle,
  sha256,
  silentTcpServer,
  sleep,
  startPeer,
  waitFor,
  within,
} from './helpers.mjs';

const T = { timeout: 20_000 };
const noop = () => {};
const MiB = 1024 * 1024;
const distIndex = pathToFileURL(path.join(root, 'dist', 'index.js')).href;

/** Asserts that within 2 s `also()` holds and this process has `fds0` fds open again. */
async function assertFdsBack(fds0, also = () => true) {
  assert.ok(await waitFor(() => also() && openFds() === fds0, 2000), `fds ${fds0} -> ${openFds()}`);
}

/** Active resources of this process (handles, requests, timers), by type, sorted. */
function activeResources() {
  return process.getActiveResourcesInfo().sort().join(',');
}

let srvCfg; // server.crt / server.key
let cliCfg; // trusts ca.crt

before(() => {
  srvCfg = serverConfig();
  cliCfg = clientConfig();
});

after(() => {
  srvCfg.free();
  cliCfg.free();
});

/** A createServer() listening on `host`; returns it with its port. */
async function startServer(options, onSecure, host = '127.0.0.1') {
  const srv = L.createServer({ config: srvCfg, ...options }, onSecure);
  return { srv, port: await listen(srv, host) };
}

/** Closes a server, waiting (bounded) for its connections, then frees its context. */
async function stopServer(srv, ms = 5000) {
  try {
    await within(new Promise((resolve) => srv.close(resolve)), ms, 'server.close()');
  } catch (err) {
    err.message += ` (${srv.connections} connections still open)`;
    throw err;
  }
  srv.context.free();
}

/** Resolves on 'close' (events.once would reject on an 'error' event first). */
const closed = (s) => new Promise((resolve) => s.once('close', resolve));

/** A 'secureConnection' handler that only consumes: it sees the peer's end or truncation. */
const consume = (s) => {
  s.on('error', noop);
  s.resume();
};

/** connect() to our test server on 127.0.0.1 as 'localhost'. */
const connectTo = (port, extra = {}) =>
  L.connect({ host: '127.0.0.1', port, servername: 'localhost', config: cliCfg, ...extra });

/** A server socket handler that echoes each line it gets, then ends with close_notify. */
function lineEchoOnce(seen) {
  return (s) => {
    seen.servername = s.servername;
    seen.version = s.version;
    s.on('error', (e) => {
      seen.error = e;
    });
    let buf = '';
    s.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) {
        seen.line = buf;
        s.end(buf);
      }
    });
  };
}

/** A plain TCP connection to 127.0.0.1:port, resolved once connected. */
async function rawConnect(port) {
  const s = net.connect({ host: '127.0.0.1', port });
  s.on('error', noop);
  await within(once(s, 'connect'), 5000, 'TCP connect');
  return s;
}

/** The first bytes of a TLS ClientHello record announcing 512 bytes it never sends. */
const partialClientHello = Buffer.concat([
  Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]),
  randomBytes(32),
]);

// ---------------------------------------------------------------------------------------------

describe('interop: independent clients against createServer()', () => {
  test('curl --cacert gets the body of a minimal HTTP response from our server', T, async () => {
    const body = 'hello, curl over libtls\n';
    const seen = {};
    const { srv, port } = await startServer({}, (s) => {
      seen.servername = s.servername;
      s.on('error', (e) => {
        seen.error = e;
      });
      let req = '';
      s.on('data', (d) => {
        req += d;
        if (req.includes('\r\n\r\n')) {
          seen.request = req;
          s.end(
            `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
          );
        }
      });
    });
    try {
      const { err, stdout, stderr } = await new Promise((resolve) =>
        execFile(
          'curl',
          [
            '-sS',
            '--cacert',
            pki('ca.crt'),
            '--resolve',
            `localhost:${port}:127.0.0.1`,
            `https://localhost:${port}/`,
          ],
          { timeout: 10_000 },
          (err, stdout, stderr) => resolve({ err, stdout, stderr }),
        ),
      );
      assert.equal(err, null, stderr);
      assert.equal(stdout, body);
      assert.match(seen.request, /^GET \/ HTTP\/1\.1\r\n/);
      assert.equal(seen.servername, 'localhost');
      assert.equal(seen.error, undefined);
    } finally {
      await stopServer(srv);
    }
  });

  /**
   * Runs a client process against an echo server of ours: writes a line to its stdin, waits for
   * the echo on its stdout, then closes its stdin (the client sends close_notify, our server sees
   * a clean 'end' and ends too). Returns what both sides saw.
   */
  async function echoWithClientProcess(cmd, argsFor, line) {
    const seen = { ended: false, error: null, closed: false };
    const { srv, port } = await startServer({}, (s) => {
      seen.servername = s.servername;
      seen.version = s.version;
      s.on('error', (e) => {
        seen.error = e;
      });
      s.on('data', (d) => s.write(d));
      s.on('end', () => {
        seen.ended = true;
      });
      s.on('close', () => {
        seen.closed = true;
      });
    });
    const peer = await startPeer(cmd, argsFor(port), { ready: () => true });
    try {
      let stdout = '';
      peer.proc.stdout.on('data', (d) => {
        stdout += d;
      });
      peer.proc.stdin.write(line);
      assert.ok(await waitFor(() => stdout.includes(line)), `no echo:\n${peer.output()}`);
      peer.proc.stdin.end();
      const exit = await within(peer.exited, 5000, `${cmd} exit after its stdin closed`);
      assert.ok(await waitFor(() => seen.closed), 'our server socket did not close');
      return { ...seen, exit, output: peer.output() };
    } finally {
      await peer.kill();
      await stopServer(srv);
    }
  }

  test(
    "openssl s_client gets a line echoed by our server; its close_notify is our clean 'end'",
    T,
    async () => {
      const r = await echoWithClientProcess(
        'openssl',
        (port) => [
          's_client',
          '-connect',
          `127.0.0.1:${port}`,
          '-servername',
          'localhost',
          '-verify_hostname',
          'localhost',
          '-CAfile',
          pki('ca.crt'),
          '-verify_return_error',
        ],
        'hello from s_client\n',
      );
      assert.deepEqual(r.exit, { code: 0, sig: null }, r.output);
      assert.match(r.output, /Verify return code: 0 \(ok\)/);
      assert.equal(r.servername, 'localhost');
      assert.equal(r.version, 'TLSv1.3');
      assert.equal(r.ended, true);
      assert.equal(r.error, null);
    },
  );

  test(
    "gnutls-cli verifies our certificate and gets a line echoed; its close_notify is our clean 'end'",
    T,
    async () => {
      const r = await echoWithClientProcess(
        'gnutls-cli',
        (port) => [
          '--x509cafile',
          pki('ca.crt'),
          '-p',
          String(port),
          '--sni-hostname',
          'localhost',
          '--verify-hostname',
          'localhost',
          '127.0.0.1',
        ],
        'hello from gnutls-cli\n',
      );
      assert.deepEqual(r.exit, { code: 0, sig: null }, r.output);
      assert.match(r.output, /The certificate is trusted/);
      assert.match(r.output, /Peer has closed the GnuTLS connection/);
      assert.equal(r.servername, 'localhost');
      assert.equal(r.version, 'TLSv1.3');
      assert.equal(r.ended, true);
      assert.equal(r.error, null);
    },
  );

  test("node:tls as a client of our server: authorized, echo both ways, clean 'end'", T, async () => {
    const seen = {};
    const { srv, port } = await startServer({}, lineEchoOnce(seen));
    const c = tls.connect({ host: '127.0.0.1', port, ca: pem('ca.crt'), servername: 'localhost' });
    try {
      const got = readAll(c, 5000, "node:tls client's end");
      await within(once(c, 'secureConnect'), 5000, 'secureConnect');
      assert.equal(c.authorized, true, String(c.authorizationError));
      c.write('hello from node:tls\n');
      assert.equal(String(await got), 'hello from node:tls\n');
      assert.equal(seen.version, c.getProtocol());
      assert.equal(seen.error, undefined);
    } finally {
      c.destroy();
      await stopServer(srv);
    }
  });
});

describe('interop: connect() against independent servers', () => {
  test('connect() to openssl s_server -www: GET / returns its status page', T, async () => {
    const peer = await opensslServer(['-www']);
    try {
      const c = await connectTo(peer.port);
      const done = closed(c);
      assert.equal(c.version, 'TLSv1.3');
      assert.equal(c.peerCertificate.subject, '/CN=localhost');
      const body = readAll(c, 5000, 's_server -www response');
      c.write('GET / HTTP/1.0\r\n\r\n');
      const text = String(await body);
      assert.match(text, /^HTTP\/1\.0 200 ok\r\n/);
      assert.match(text, /Ciphers supported in s_server binary/);
      assert.match(text, /TLSv1\.3/);
      await within(done, 5000, 'close');
    } finally {
      await peer.kill();
    }
  });

  test('connect() to gnutls-serv --echo (on 127.0.0.1) gets a line echoed', T, async () => {
    // gnutls-serv runs with the loopback shim (test/fixtures/loopback-bind.c): it listens on loopback only.
    const peer = await gnutlsServer();
    try {
      const c = await connectTo(peer.port);
      c.on('error', noop);
      assert.equal(c.version, 'TLSv1.3');
      let got = '';
      c.on('data', (d) => {
        got += d;
      });
      c.write('echo through gnutls\n');
      assert.ok(await waitFor(() => got === 'echo through gnutls\n'), `got ${JSON.stringify(got)}`);
      c.end();
      await within(once(c, 'close'), 5000, 'close after end()');
    } finally {
      await peer.kill();
    }
  });

  test("connect() to a node:tls server: data both ways, and our end() is its clean 'end'", T, async () => {
    const seen = { data: '', ended: false, error: null };
    const server = tls.createServer({ key: pem('server.key'), cert: pem('server.crt') }, (s) => {
      seen.servername = s.servername;
      s.on('error', (e) => {
        seen.error = e;
      });
      s.on('data', (d) => {
        seen.data += d;
      });
      s.on('end', () => {
        seen.ended = true;
        s.end('bye from node\n');
      });
      s.write('hello from node\n');
    });
    const port = await listen(server);
    try {
      const c = await connectTo(port);
      const got = readAll(c, 5000, 'node:tls server reply');
      c.end('hello from libtls\n');
      assert.equal(String(await got), 'hello from node\nbye from node\n');
      assert.equal(seen.data, 'hello from libtls\n');
      assert.equal(seen.ended, true);
      assert.equal(seen.servername, 'localhost');
      assert.equal(seen.error, null);
    } finally {
      server.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('flow control and volume', () => {
  test(
    'a TLS 1.3 client reads the records that arrived in one segment with the session tickets, with nothing after them',
    T,
    async () => {
      // libtls answers WANT_POLLIN after a ticket; the fd transport has the next records in its
      // buffer already, so it must go on instead of waiting for a socket that has nothing left
      // (and nothing more comes: no close_notify, no FIN would wake it)
      const { srv, port } = await startServer({}, (s) => {
        consume(s);
        for (let i = 0; i < 5; i++) s.write(`record ${i};`);
      });
      let c;
      try {
        c = await connectTo(port);
        assert.equal(c.version, 'TLSv1.3');
        await sleep(100); // everything the server sent waits in the socket before the first read
        let got = '';
        c.on('data', (d) => {
          got += d;
        });
        const all = 'record 0;record 1;record 2;record 3;record 4;';
        assert.ok(await waitFor(() => got === all, 3000), `got only ${JSON.stringify(got)}`);
      } finally {
        c?.destroy();
        await stopServer(srv);
      }
    },
  );

  test('16 MiB each way at once with the receivers pausing on every chunk: byte-exact, write() false and drain, bounded memory', {
    timeout: 60_000,
  }, async () => {
    const SIZE = 16 * MiB;
    const CHUNK = 64 * 1024;
    const toServer = randomBytes(SIZE);
    const toClient = randomBytes(SIZE);
    const stats = () => ({ falses: 0, drains: 0, maxWritable: 0, received: 0, hash: createHash('sha256') });
    const cs = stats();
    const ss = stats();

    /** Writes `data` respecting backpressure; records write() === false, drains, writableLength. */
    const send = async (s, data, st) => {
      s.on('drain', () => st.drains++);
      for (let off = 0; off < data.length; off += CHUNK) {
        const ok = s.write(data.subarray(off, off + CHUNK));
        st.maxWritable = Math.max(st.maxWritable, s.writableLength);
        if (!ok) {
          st.falses++;
          await within(once(s, 'drain'), 10_000, 'drain');
        }
      }
    };
    /** Hashes everything, pausing and resuming on every chunk; resolves after `n` bytes. */
    const receive = (s, st, n) =>
      new Promise((resolve, reject) => {
        s.on('error', reject);
        s.on('data', (d) => {
          st.hash.update(d);
          st.received += d.length;
          s.pause();
          setImmediate(() => s.resume());
          if (st.received === n) resolve();
        });
      });

    let serverDone;
    const serverSide = new Promise((resolve) => {
      serverDone = resolve;
    });
    const { srv, port } = await startServer({}, (s) => {
      serverDone(Promise.all([receive(s, ss, SIZE), send(s, toClient, ss)]));
    });
    let maxRss = 0;
    const rss0 = process.memoryUsage().rss;
    const sampler = setInterval(() => {
      maxRss = Math.max(maxRss, process.memoryUsage().rss);
    }, 20);
    try {
      const c = await connectTo(port);
      const t0 = Date.now();
      await within(
        Promise.all([receive(c, cs, SIZE), send(c, toServer, cs), serverSide.then((p) => p)]),
        45_000,
        '16 MiB each way',
      );
      const ms = Date.now() - t0;
      clearInterval(sampler);
      maxRss = Math.max(maxRss, process.memoryUsage().rss);
      assert.equal(cs.received, SIZE);
      assert.equal(ss.received, SIZE);
      assert.equal(c.bytesWritten, SIZE);
      assert.equal(c.bytesRead, SIZE);
      assert.equal(ss.hash.digest('hex'), sha256(toServer));
      assert.equal(cs.hash.digest('hex'), sha256(toClient));
      for (const [side, st] of [
        ['client', cs],
        ['server', ss],
      ]) {
        assert.ok(st.falses > 0, `${side}: write() never returned false`);
        assert.ok(st.drains > 0, `${side}: 'drain' never fired`);
        assert.ok(st.maxWritable <= MiB, `${side}: writableLength reached ${st.maxWritable}`);
      }
      const growth = (maxRss - rss0) / MiB;
      // AddressSanitizer's redzones and quarantine inflate RSS several times over (npm run test:asan)
      const bound = /libasan/.test(process.env.LD_PRELOAD ?? '') ? 512 : 64;
      assert.ok(growth < bound, `RSS grew by ${growth.toFixed(1)} MiB`);
      console.log(
        `# 16 MiB each way: ${ms} ms; write() false client ${cs.falses} / server ${ss.falses}, drains ${cs.drains} / ${ss.drains}; max writableLength ${cs.maxWritable} / ${ss.maxWritable} B; RSS growth ${growth.toFixed(1)} MiB`,
      );
      c.end();
      await within(once(c, 'close'), 5000, 'close');
    } finally {
      clearInterval(sampler);
      await stopServer(srv);
    }
  });

  test('200 concurrent connections each exchange 64 KiB both ways at once with exact bytes', {
    timeout: 60_000,
  }, async () => {
    const N = 200;
    const SIZE = 64 * 1024;
    const serverReceived = [];
    const { srv, port } = await startServer({}, (s) => {
      let n = 0;
      s.on('error', noop);
      s.on('data', (d) => {
        n += d.length;
        s.write(d); // echo: both directions carry data at the same time
      });
      s.on('end', () => serverReceived.push(n));
    });
    const fds0 = openFds();
    try {
      const t0 = Date.now();
      const results = await within(
        Promise.all(
          Array.from({ length: N }, async () => {
            const c = await connectTo(port);
            const data = randomBytes(SIZE);
            const parts = [];
            let got = 0;
            const done = new Promise((resolve, reject) => {
              c.on('error', reject);
              c.on('data', (d) => {
                parts.push(d);
                got += d.length;
                if (got >= SIZE) resolve();
              });
            });
            c.write(data);
            await done;
            c.end();
            await once(c, 'close');
            return sha256(Buffer.concat(parts)) === sha256(data) && got === SIZE;
          }),
        ),
        45_000,
        '200 concurrent exchanges',
      );
      const ms = Date.now() - t0;
      assert.equal(results.filter(Boolean).length, N);
      assert.ok(await waitFor(() => srv.connections === 0, 5000), `${srv.connections} server sockets open`);
      assert.deepEqual(serverReceived, new Array(N).fill(SIZE));
      await assertFdsBack(fds0);
      console.log(`# 200 concurrent connections x 64 KiB each way: ${ms} ms`);
    } finally {
      await stopServer(srv);
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('lifecycle: many connect/destroy cycles', () => {
  test('1,000 cycles (destroy after connect, destroy mid-write, a partial ClientHello, abort mid-handshake) leave fds and handles as they were', {
    timeout: 60_000,
  }, async (t) => {
    const big = randomBytes(MiB);
    const counts = {
      secure: 0,
      clientErrors: 0,
      serverSocketErrors: 0,
      serverTruncated: 0,
      aborted: 0,
      clientEvents: [],
    };
    const { srv, port } = await startServer({ handshakeTimeout: 5000 }, (s) => {
      counts.secure++;
      s.on('error', () => counts.serverSocketErrors++);
      s.on('close', () => {
        if (s.truncated) counts.serverTruncated++;
      });
      s.resume();
    });
    t.after(() => stopServer(srv)); // also when an assertion below fails
    srv.on('tlsClientError', () => counts.clientErrors++);
    await sleep(50);
    const fds0 = openFds();
    const res0 = activeResources();
    const t0 = Date.now();
    const deadline = t0 + 30_000;
    const cycle = async (i) => {
      switch (i % 4) {
        case 0: {
          const c = await connectTo(port);
          c.on('error', (e) => counts.clientEvents.push(`error after destroy: ${e.message}`));
          c.destroy();
          break;
        }
        case 1: {
          const c = await connectTo(port);
          c.on('error', (e) => counts.clientEvents.push(`error after destroy mid-write: ${e.message}`));
          c.write(big);
          c.destroy();
          break;
        }
        case 2: {
          const raw = await rawConnect(port);
          raw.write(partialClientHello, () => raw.destroy());
          await once(raw, 'close');
          break;
        }
        case 3: {
          const ac = new AbortController();
          const p = connectTo(port, { signal: ac.signal });
          setTimeout(() => ac.abort(new Error('cycle abort')), i % 3);
          const r = await settle(p);
          if (r.error) {
            assert.equal(r.error.message, 'cycle abort');
            counts.aborted++;
          } else {
            r.value.destroy();
          }
          break;
        }
      }
    };
    const N = 1000;
    const CONCURRENCY = 4;
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < N) {
          assert.ok(Date.now() < deadline, `only ${next} cycles in 30 s`);
          await cycle(next++);
        }
      }),
    );
    const ms = Date.now() - t0;
    const drained = await waitFor(() => srv.connections === 0, 5000);
    assert.ok(drained, `${srv.connections} server sockets still open`);
    const settled = await waitFor(() => openFds() === fds0 && activeResources() === res0, 3000);
    const fds1 = openFds();
    const res1 = activeResources();
    console.log(
      `# 1,000 cycles in ${ms} ms: fds ${fds0} -> ${fds1}; secure ${counts.secure}, tlsClientError ${counts.clientErrors}, server socket errors ${counts.serverSocketErrors}, aborted ${counts.aborted}; resources [${res1}]`,
    );
    assert.ok(settled, `fds ${fds0} -> ${fds1}; resources [${res0}] -> [${res1}]`);
    assert.deepEqual(counts.clientEvents, [], 'destroy() made a client socket emit an error');
    // 500 established connections, each destroyed by the client: a truncated end on the server
    // (destroy() sends no close_notify), never an error
    assert.equal(counts.secure, 500);
    assert.equal(counts.serverTruncated, 500);
    assert.equal(counts.serverSocketErrors, 0);
    // every partial ClientHello (250) was a failed handshake on the server side, and so was
    // every aborted client that got as far as a TCP connection
    assert.ok(counts.clientErrors >= 250, `tlsClientError ${counts.clientErrors}`);
  });
});

// ---------------------------------------------------------------------------------------------

describe('createServer(): handshakeTimeout and close()', () => {
  test(
    "a silent TCP client is dropped after handshakeTimeout with 'tlsClientError' (TlsError, the peer's address)",
    T,
    async () => {
      const { srv, port } = await startServer({ handshakeTimeout: 300 }, noop);
      try {
        const failed = once(srv, 'tlsClientError');
        const t0 = Date.now();
        const raw = await rawConnect(port);
        const closed = once(raw, 'close');
        const [err, socket] = await within(failed, 3000, 'tlsClientError');
        const ms = Date.now() - t0;
        assert.ok(err instanceof L.TlsError, String(err));
        assert.equal(err.op, 'tls_handshake');
        assert.match(err.message, /handshake within 300 ms/);
        assert.equal(socket.remoteAddress, '127.0.0.1');
        assert.equal(socket.remotePort, raw.localPort);
        assert.ok(ms >= 280 && ms < 2000, `dropped after ${ms} ms`);
        await within(closed, 2000, 'the raw client sees its connection closed');
        console.log(`# silent client dropped after ${ms} ms (handshakeTimeout 300)`);
      } finally {
        await stopServer(srv);
      }
    },
  );

  test('with 100 silent TCP clients open, a real client still connects promptly', T, async () => {
    const { srv, port } = await startServer({ handshakeTimeout: 10_000 }, (s) => {
      consume(s);
      s.end('welcome\n');
    });
    srv.on('tlsClientError', noop);
    const raws = [];
    try {
      for (let i = 0; i < 100; i++) raws.push(await rawConnect(port));
      assert.ok(await waitFor(() => srv.connections === 100, 3000), `server has ${srv.connections}`);
      const t0 = Date.now();
      const c = await connectTo(port);
      const ms = Date.now() - t0;
      assert.equal(String(await readAll(c)), 'welcome\n');
      assert.ok(ms < 1000, `connect() took ${ms} ms`);
      console.log(`# connect() with 100 silent clients open: ${ms} ms`);
    } finally {
      for (const r of raws) r.destroy();
      await stopServer(srv);
    }
  });

  test(
    'handshakeTimeout: 0 means no limit: a client that starts its handshake late is still served',
    T,
    async () => {
      let served = 0;
      const { srv, port } = await startServer({ handshakeTimeout: 0 }, (s) => {
        served++;
        consume(s);
        s.end('late but welcome');
      });
      const failures = [];
      srv.on('tlsClientError', (e) => failures.push(e.message));
      const raw = await rawConnect(port);
      try {
        await sleep(300);
        const c = tls.connect({ socket: raw, ca: pem('ca.crt'), servername: 'localhost' });
        c.on('error', noop);
        assert.equal(String(await readAll(c)), 'late but welcome');
        assert.equal(served, 1);
        assert.deepEqual(failures, []);
        c.destroy();
      } finally {
        raw.destroy();
        await stopServer(srv);
      }
    },
  );

  test('server.close(cb) calls back only after the last open TlsSocket has closed', T, async () => {
    let serverSocket;
    const { srv, port } = await startServer({}, (s) => {
      serverSocket = s;
      s.on('error', noop);
      s.resume();
    });
    const c = await connectTo(port);
    assert.ok(await waitFor(() => serverSocket !== undefined));
    let socketClosed = false;
    serverSocket.on('close', () => {
      socketClosed = true;
    });
    let closedAt = null;
    const closed = new Promise((resolve) =>
      srv.close(() => {
        closedAt = { socketClosed };
        resolve();
      }),
    );
    await sleep(300);
    assert.equal(closedAt, null, 'close() called back with a connection open');
    assert.equal(srv.listening, false);
    const refused = await settle(connectTo(port));
    assert.equal(refused.error?.code, 'ECONNREFUSED');
    c.end(); // the server side ends too (no allowHalfOpen), then closes
    await within(closed, 5000, 'close callback');
    assert.deepEqual(closedAt, { socketClosed: true });
    srv.context.free();
  });
});

// ---------------------------------------------------------------------------------------------

describe('errors: verification, truncation, after the handshake', () => {
  test(
    "connect() with servername 'wrong.test' rejects with TlsError tls_handshake 'not present' and leaves no fd",
    T,
    async () => {
      const { srv, port } = await startServer({}, consume);
      srv.on('tlsClientError', noop);
      try {
        await sleep(20);
        const fds0 = openFds();
        await assert.rejects(
          connectTo(port, { servername: 'wrong.test' }),
          (e) =>
            e instanceof L.TlsError &&
            e.op === 'tls_handshake' &&
            /name `wrong\.test' not present in server certificate/.test(e.message),
        );
        // the server's side of that connection closes too (it sees the TCP close)
        await assertFdsBack(fds0);
      } finally {
        await stopServer(srv);
      }
    },
  );

  for (const strictClose of [false, true]) {
    test(
      strictClose
        ? "strictClose: a peer that drops TCP without close_notify is an 'error' ERR_TLS_TRUNCATED on our server socket, never 'end'"
        : "a peer that drops TCP without close_notify is 'end' with socket.truncated on our server socket (as node:tls), no error",
      T,
      async () => {
        const seen = { data: '', ended: false, error: null, socket: null };
        let done;
        const { srv, port } = await startServer({ strictClose }, (s) => {
          seen.socket = s;
          done = closed(s);
          s.on('data', (d) => {
            seen.data += d;
          });
          s.on('end', () => {
            seen.ended = true;
          });
          s.on('error', (e) => {
            seen.error = e;
          });
        });
        const raw = net.connect({ host: '127.0.0.1', port });
        raw.on('error', noop);
        const c = tls.connect({ socket: raw, ca: pem('ca.crt'), servername: 'localhost' });
        c.on('error', noop);
        try {
          await within(once(c, 'secureConnect'), 5000, 'secureConnect');
          c.write('partial data');
          assert.ok(await waitFor(() => seen.data === 'partial data'), seen.data);
          assert.equal(seen.socket.truncated, false);
          raw.destroy(); // TCP goes away, no close_notify
          await within(done, 5000, 'server socket close');
          assert.equal(seen.socket.truncated, !strictClose);
          if (strictClose) {
            assert.ok(seen.error instanceof L.TlsError, String(seen.error));
            assert.equal(seen.error.op, 'tls_read');
            assert.equal(seen.error.code, 'ERR_TLS_TRUNCATED');
            assert.equal(seen.ended, false);
          } else {
            assert.equal(seen.error, null);
            assert.equal(seen.ended, true);
          }
        } finally {
          c.destroy();
          await stopServer(srv);
        }
      },
    );
  }

  test(
    'a server that destroys its socket: our client socket ends truncated, or errors ERR_TLS_TRUNCATED with strictClose',
    T,
    async () => {
      const { srv, port } = await startServer({}, (s) => s.destroy());
      try {
        for (const strictClose of [false, true]) {
          const c = await connectTo(port, { strictClose });
          const events = [];
          c.on('end', () => events.push('end'));
          c.on('error', (e) => events.push(`error ${e.code}`));
          c.resume();
          // not events.once(): it rejects on 'error'
          await within(new Promise((r) => c.once('close', r)), 5000, "client 'close'");
          assert.deepEqual(events, strictClose ? ['error ERR_TLS_TRUNCATED'] : ['end']);
          assert.equal(c.truncated, !strictClose);
        }
      } finally {
        await stopServer(srv);
      }
    },
  );

  test(
    "TLS 1.3 verifyClient without a client certificate: connect() resolves, then the first read emits 'error' certificate required",
    T,
    async () => {
      const cfg = serverConfig({ caFile: pki('ca.crt'), verifyClient: true, protocols: 'tlsv1.3' });
      const { srv, port } = await startServer({ config: cfg }, () =>
        assert.fail('the server accepted a client without a certificate'),
      );
      const serverFailed = once(srv, 'tlsClientError');
      try {
        const c = await connectTo(port);
        assert.equal(c.version, 'TLSv1.3');
        const failed = once(c, 'error');
        c.resume(); // the first read
        const [err] = await within(failed, 5000, "client 'error'");
        assert.ok(err instanceof L.TlsError, String(err));
        assert.equal(err.op, 'tls_read');
        assert.match(err.message, /certificate required/);
        const [serr] = await within(serverFailed, 5000, 'tlsClientError');
        assert.ok(serr instanceof L.TlsError);
        assert.match(serr.message, /peer did not return a certificate/);
      } finally {
        await stopServer(srv);
        cfg.free();
      }
    },
  );
});

// ---------------------------------------------------------------------------------------------

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
      const raw = net.connect({ host: '127.0.0.1', port });
      raw.on('error', noop);
      const c = tls.connect({ socket: raw, ca: pem('ca.crt'), servername: 'localhost' });
      c.on('error', noop);
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

// ---------------------------------------------------------------------------------------------

describe('destroy() at any moment', () => {
  test(
    'aborting connect() while the client is mid-handshake destroys it: rejects with the reason, no fd left',
    T,
    async () => {
      const silent = await silentTcpServer();
      try {
        const fds0 = openFds();
        const ac = new AbortController();
        const reason = new Error('stop the handshake');
        const p = connectTo(silent.port, { signal: ac.signal });
        // the ClientHello has arrived: the client is waiting for the server's answer
        assert.ok(await waitFor(() => silent.got.length > 0, 3000), 'no ClientHello');
        assert.equal(silent.got[0][0], 0x16, 'a TLS handshake record');
        ac.abort(reason);
        const r = await settle(p);
        assert.equal(r.error, reason);
        await assertFdsBack(fds0);
      } finally {
        await silent.close();
      }
    },
  );

  test(
    'a server socket mid-handshake is destroyed when the peer leaves after a partial ClientHello, or by handshakeTimeout',
    T,
    async () => {
      const { srv, port } = await startServer({ handshakeTimeout: 300 }, noop);
      const errors = [];
      srv.on('tlsClientError', (e, s) => errors.push({ e, s }));
      try {
        await sleep(20);
        const fds0 = openFds();
        const leaving = await rawConnect(port);
        leaving.write(partialClientHello, () => leaving.destroy());
        const staying = await rawConnect(port);
        const stayingClosed = closed(staying);
        staying.write(partialClientHello);
        assert.ok(await waitFor(() => errors.length === 2, 3000), `${errors.length} tlsClientError`);
        await within(stayingClosed, 2000, 'server drops the slow client');
        for (const { e, s } of errors) {
          assert.ok(e instanceof L.TlsError, String(e));
          assert.equal(e.op, 'tls_handshake');
          assert.equal(s.destroyed, true);
        }
        assert.match(errors[1].e.message, /within 300 ms/);
        await assertFdsBack(fds0, () => srv.connections === 0);
      } finally {
        await stopServer(srv);
      }
    },
  );

  test(
    "destroy() during a pending write (the peer does not read) closes without an error event; the write's callback gets null and socket.errored stays null, as node:tls",
    T,
    async () => {
      let serverSocket;
      const { srv, port } = await startServer({}, (s) => {
        serverSocket = s;
        s.on('error', noop);
        s.pause();
      });
      try {
        const c = await connectTo(port);
        // no 'error' listener: an error event here would be an uncaught exception
        const data = randomBytes(8 * MiB);
        let cbErr = 'not called';
        const ok = c.write(data, (e) => {
          cbErr = e;
        });
        assert.equal(ok, false);
        await sleep(50);
        assert.ok(c.writableLength > 0, 'the write is still pending');
        const done = closed(c);
        c.destroy();
        await within(done, 2000, 'close');
        assert.equal(c.destroyed, true);
        assert.equal(cbErr, null, `the pending write's callback got ${cbErr}`);
        assert.equal(c.errored, null);
        // the server, reading again, gets what was sent, then the truncation
        serverSocket.resume();
        assert.ok(await waitFor(() => serverSocket.destroyed, 3000), 'the server socket stayed open');
      } finally {
        await stopServer(srv);
      }
    },
  );

  test(
    "destroy() right after end() (before 'finish'), and destroy() twice, never throw and close once",
    T,
    async () => {
      const { srv, port } = await startServer({}, (s) => {
        s.on('error', noop);
        s.resume();
      });
      try {
        const a = await connectTo(port);
        let finished = false;
        a.on('finish', () => {
          finished = true;
        });
        a.end(randomBytes(4 * MiB));
        assert.equal(finished, false);
        const aClosed = closed(a);
        a.destroy();
        await within(aClosed, 2000, 'close after end() + destroy()');
        assert.equal(finished, false);

        const b = await connectTo(port);
        let closes = 0;
        b.on('close', () => closes++);
        b.destroy();
        b.destroy();
        await sleep(50);
        assert.equal(closes, 1);

        const c = await connectTo(port);
        const errors = [];
        c.on('error', (e) => errors.push(e.message));
        const cClosed = closed(c);
        c.destroy(new Error('first'));
        c.destroy(new Error('second'));
        await within(cClosed, 2000, 'close');
        assert.deepEqual(errors, ['first']);
        // the getters are null once destroyed, not a crash on a freed context
        assert.equal(c.context, null);
        assert.equal(c.version, null);
      } finally {
        await stopServer(srv);
      }
    },
  );
});

// ---------------------------------------------------------------------------------------------

describe('setTimeout, ref and unref', () => {
  test(
    "setTimeout(ms) emits 'timeout' after inactivity, not while data flows; setTimeout(0) disables it",
    T,
    async () => {
      let ticker;
      const { srv, port } = await startServer({}, (s) => {
        s.on('error', noop);
        s.once('data', () => {
          // 'go': send a byte every 50 ms for 600 ms
          let n = 0;
          ticker = setInterval(() => {
            if (++n > 12) clearInterval(ticker);
            else s.write('.');
          }, 50);
        });
      });
      try {
        const c = await connectTo(port);
        c.resume();
        // idle
        let t0 = Date.now();
        c.setTimeout(200);
        await within(once(c, 'timeout'), 2000, "'timeout'");
        const idleMs = Date.now() - t0;
        assert.ok(idleMs >= 190 && idleMs < 1000, `'timeout' after ${idleMs} ms`);
        // while data flows (a byte every 50 ms for 600 ms): none until it stops
        let timeouts = 0;
        const onTimeout = () => timeouts++;
        c.on('timeout', onTimeout);
        c.setTimeout(200);
        t0 = Date.now();
        c.write('go');
        await sleep(500);
        assert.equal(timeouts, 0, 'timeout while data flowed');
        assert.ok(c.bytesRead >= 5, `read ${c.bytesRead} bytes`);
        assert.ok(await waitFor(() => timeouts === 1, 2000), "no 'timeout' after the data stopped");
        const flowMs = Date.now() - t0;
        assert.ok(flowMs >= 700, `'timeout' ${flowMs} ms after the flow began`);
        // disabled
        c.setTimeout(100);
        c.setTimeout(0);
        await sleep(400);
        assert.equal(timeouts, 1);
        assert.equal(c.timeout, 0);
        c.destroy();
      } finally {
        clearInterval(ticker);
        await stopServer(srv);
      }
    },
  );

  for (const unref of [true, false]) {
    test(
      unref
        ? 'a child process with an unref()d connected client socket exits by itself'
        : 'a child process with a ref()d connected client socket keeps running',
      T,
      async () => {
        const { srv, port } = await startServer({}, consume);
        const script = `
          import { connect } from ${JSON.stringify(distIndex)};
          const s = await connect({ host: '127.0.0.1', port: ${port}, servername: 'localhost',
            config: { caFile: ${JSON.stringify(pki('ca.crt'))} } });
          s.on('error', (e) => { console.error(e.message); process.exitCode = 3; });
          s.on('data', () => {});
          ${unref ? 's.unref();' : 's.unref(); s.ref();'}
          console.log('secure ' + s.version);
        `;
        const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        child.stdout.on('data', (d) => {
          out += d;
        });
        child.stderr.on('data', (d) => {
          out += d;
        });
        const exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve({ code, sig })));
        try {
          assert.ok(await waitFor(() => out.includes('secure TLSv1.3'), 8000), out);
          const t0 = Date.now();
          if (unref) {
            const exit = await within(exited, 3000, 'the child exiting by itself');
            assert.deepEqual(exit, { code: 0, sig: null }, out);
            console.log(`# child with an unref()d socket exited ${Date.now() - t0} ms after connecting`);
          } else {
            await sleep(1000);
            assert.equal(child.exitCode, null, `the child exited: ${out}`);
            assert.equal(child.signalCode, null);
          }
        } finally {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          await exited;
          await stopServer(srv);
        }
      },
    );
  }
});

// ---------------------------------------------------------------------------------------------

describe('connection info', () => {
  test(
    'after the handshake both sides report version, cipher, ALPN, SNI, certificates, OCSP and addresses',
    T,
    async () => {
      const scfg = serverConfig({ alpn: ['h2', 'http/1.1'], ocspStaple: pem('ocsp-good.der') });
      const ccfg = clientConfig({
        alpn: 'http/1.1',
        certFile: pki('client.crt'),
        keyFile: pki('client.key'),
      });
      scfg.setCaFile(pki('ca.crt')).verifyClientOptional();
      let ss;
      const { srv, port } = await startServer({ config: scfg }, (s) => {
        ss = s;
        consume(s);
      });
      try {
        const c = await connectTo(port, { config: ccfg });
        assert.ok(await waitFor(() => ss !== undefined));
        assert.equal(ss.secure, true);
        for (const s of [c, ss]) {
          assert.equal(s.version, 'TLSv1.3');
          assert.match(s.cipher, /^TLS_(AES_256_GCM_SHA384|AES_128_GCM_SHA256|CHACHA20_POLY1305_SHA256)$/);
          assert.ok([128, 256].includes(s.cipherStrength), String(s.cipherStrength));
          assert.equal(s.alpnProtocol, 'http/1.1');
          assert.equal(s.sessionResumed, false);
        }
        assert.equal(c.cipher, ss.cipher);
        assert.equal(c.cipherStrength, ss.cipherStrength);
        assert.equal(ss.servername, 'localhost');

        const x = new X509Certificate(pem('server.crt'));
        const pc = c.peerCertificate;
        assert.equal(pc.subject, '/CN=localhost');
        assert.equal(pc.issuer, `/${new X509Certificate(pem('ca.crt')).subject.replace(/\n/g, '/')}`);
        assert.equal(pc.hash, `SHA256:${sha256(x.raw)}`);
        assert.ok(pc.notBefore instanceof Date && pc.notAfter instanceof Date);
        assert.equal(pc.notBefore.getTime(), new Date(x.validFrom).getTime());
        assert.equal(pc.notAfter.getTime(), new Date(x.validTo).getTime());
        assert.ok(pc.chainPem.includes(x.toString().trim()), pc.chainPem);
        assert.equal(ss.peerCertificate.subject, '/CN=libtls test client');
        assert.equal(ss.peerCertificate.hash, `SHA256:${sha256(new X509Certificate(pem('client.crt')).raw)}`);

        assert.equal(c.ocsp.certStatus, L.OCSP_CERT_GOOD);
        assert.equal(c.ocsp.responseStatus, L.OCSP_RESPONSE_SUCCESSFUL);
        assert.ok(c.ocsp.thisUpdate instanceof Date);
        assert.equal(ss.ocsp, null);

        assert.equal(c.remoteAddress, '127.0.0.1');
        assert.equal(c.remotePort, port);
        assert.equal(c.remoteFamily, 'IPv4');
        assert.equal(c.localAddress, ss.remoteAddress);
        assert.equal(c.localPort, ss.remotePort);
        assert.equal(ss.localAddress, '127.0.0.1');
        assert.equal(ss.localPort, port);
        c.destroy();
      } finally {
        await stopServer(srv);
        scfg.free();
        ccfg.free();
      }
    },
  );

  test('without ALPN, a staple or a client certificate those getters are null', T, async () => {
    let ss;
    const { srv, port } = await startServer({}, (s) => {
      ss = s;
      consume(s);
    });
    try {
      const c = await connectTo(port);
      assert.ok(await waitFor(() => ss !== undefined));
      // false, as node:tls says when no protocol was agreed
      assert.equal(c.alpnProtocol, false);
      assert.equal(ss.alpnProtocol, false);
      assert.equal(c.ocsp, null);
      assert.equal(ss.peerCertificate, null);
      assert.equal(c.peerCertificate.subject, '/CN=localhost');
      c.destroy();
    } finally {
      await stopServer(srv);
    }
  });

  test(
    "IPv6: a server on '::1' and connect({ host: '::1' }) verify the IP SAN and report IPv6 addresses",
    T,
    async () => {
      let ss;
      const { srv, port } = await startServer(
        {},
        (s) => {
          ss = s;
          consume(s);
          s.end('over ipv6');
        },
        '::1',
      );
      try {
        const c = await L.connect({ host: '::1', port, config: cliCfg });
        assert.equal(c.servername, false, 'no SNI is sent for an IP address (false, as node:tls)');
        assert.equal(String(await readAll(c)), 'over ipv6');
        assert.equal(c.remoteAddress, '::1');
        assert.equal(c.remoteFamily, 'IPv6');
        assert.equal(c.remotePort, port);
        assert.equal(ss.remoteAddress, '::1');
        assert.equal(ss.remotePort, c.localPort);
        assert.equal(ss.servername, false, 'no SNI is sent for an IP address (false, as node:tls)');
      } finally {
        await stopServer(srv);
      }
    },
  );
});

// ---------------------------------------------------------------------------------------------

describe('connect(): DNS, timeout and AbortSignal', () => {
  test(
    "connect({ host: 'localhost' }) resolves the name without blocking and verifies it as the servername",
    T,
    async () => {
      let ss;
      const { srv, port } = await startServer({}, (s) => {
        ss = s;
        consume(s);
        s.end('by name');
      });
      try {
        const c = await L.connect({ host: 'localhost', port, config: cliCfg });
        assert.equal(String(await readAll(c)), 'by name');
        assert.equal(c.remoteAddress, '127.0.0.1');
        assert.equal(ss.servername, 'localhost');
      } finally {
        await stopServer(srv);
      }
    },
  );

  test(
    'a connect() timeout or AbortSignal has no effect once connect() resolved; timeout: 0 means no limit',
    T,
    async () => {
      const { srv, port } = await startServer({}, (s) => {
        s.on('error', noop);
        s.on('data', (d) => s.write(d));
      });
      try {
        const ac = new AbortController();
        const a = await connectTo(port, { timeout: 200, signal: ac.signal });
        const b = await connectTo(port, { timeout: 0 });
        ac.abort(new Error('too late'));
        await sleep(400); // past a's timeout
        for (const c of [a, b]) {
          assert.equal(c.destroyed, false);
          const got = readAll(c);
          c.end('still here');
          assert.equal(String(await got), 'still here');
        }
      } finally {
        await stopServer(srv);
      }
    },
  );

  test(
    'connect({ timeout }) to a server that never answers rejects with TlsError "timed out" and leaves no fd',
    T,
    async () => {
      const silent = await silentTcpServer();
      try {
        const fds0 = openFds();
        const t0 = Date.now();
        await assert.rejects(
          connectTo(silent.port, { timeout: 300 }),
          (e) =>
            e instanceof L.TlsError && e.op === 'tls_handshake' && /timed out after \d+ ms/.test(e.message),
        );
        const ms = Date.now() - t0;
        assert.ok(ms >= 280 && ms < 1500, `rejected after ${ms} ms`);
        // our fd is closed: the silent server sees the end and closes its side too
        await assertFdsBack(fds0, () => silent.sockets.size === 0);
        console.log(`# connect() timeout 300 ms rejected after ${ms} ms`);
      } finally {
        await silent.close();
      }
    },
  );

  test(
    "an AbortSignal aborts a pending connect() with the signal's reason; an aborted one rejects at once",
    T,
    async () => {
      const silent = await silentTcpServer();
      try {
        const fds0 = openFds();
        const ac = new AbortController();
        const p = connectTo(silent.port, { signal: ac.signal });
        await sleep(100);
        const reason = new Error('user gave up');
        ac.abort(reason);
        const r = await within(settle(p), 1000, 'abort');
        assert.equal(r.error, reason);
        const pre = await settle(
          connectTo(silent.port, { signal: AbortSignal.abort(new RangeError('already')) }),
        );
        assert.ok(pre.error instanceof RangeError);
        assert.equal(pre.error.message, 'already');
        await assertFdsBack(fds0, () => silent.sockets.size === 0);
      } finally {
        await silent.close();
      }
    },
  );
});

// ---------------------------------------------------------------------------------------------

describe('the event loop', () => {
  test('50 clients connecting to our server at once never block the event loop for long', T, async () => {
    const { srv, port } = await startServer({}, (s) => {
      s.on('error', noop);
      s.on('data', (d) => s.end(d));
    });
    const h = monitorEventLoopDelay({ resolution: 10 });
    try {
      h.enable();
      const t0 = Date.now();
      const echoes = await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const c = await connectTo(port);
          const got = readAll(c);
          c.write(`client ${i}`);
          return String(await got);
        }),
      );
      const ms = Date.now() - t0;
      h.disable();
      assert.deepEqual(
        echoes,
        Array.from({ length: 50 }, (_, i) => `client ${i}`),
      );
      const max = h.max / 1e6;
      console.log(
        `# 50 concurrent clients in ${ms} ms: event loop delay max ${max.toFixed(1)} ms, p99 ${(h.percentile(99) / 1e6).toFixed(1)} ms, mean ${(h.mean / 1e6).toFixed(1)} ms`,
      );
      assert.ok(max < 200, `event loop blocked for ${max.toFixed(1)} ms`);
    } finally {
      h.disable();
      await stopServer(srv);
    }
  });
});
