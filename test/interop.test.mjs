// Interoperability of the 1:1 `Tls` API with real, independent peers over every transport:
// openssl s_server/s_client and gnutls-serv/gnutls-cli (separate processes, real TCP on
// 127.0.0.1), Node's own `node:tls` in this process (non-blocking on our side), socketpairs,
// connectFds/acceptFds, the callback transport, and sendfile().
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import {
  clientConfig,
  freePort,
  gnutlsServer,
  L,
  listen,
  listeningAddresses,
  openFds,
  opensslServer,
  pem,
  pki,
  raceTimeout,
  serverConfig,
  sha256,
  startPeer,
  tcpFd,
  tempDir,
  untilDone,
  waitFor,
} from './helpers.mjs';

const T = { timeout: 20_000 };
const isWant = (r) => r === L.WANT_POLLIN || r === L.WANT_POLLOUT;

/** As helpers' untilDone, but polls `fdr` for WANT_POLLIN and `fdw` for WANT_POLLOUT. */
async function drive(step, fdr, fdw = fdr, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = step();
    if (!isWant(r)) return r;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error('timed out waiting for libtls');
    await L.poll(r === L.WANT_POLLIN ? fdr : fdw, r, { timeout: left });
  }
}

/** Handshakes two non-blocking contexts of this process concurrently; both must return 0. */
async function bothHandshake(a, afds, b, bfds) {
  const [ra, rb] = await Promise.all([
    drive(() => a.handshake(), ...afds),
    drive(() => b.handshake(), ...bfds),
  ]);
  assert.equal(ra, 0);
  assert.equal(rb, 0);
}

/** Non-blocking: reads until `n` bytes arrived (or the end of stream); returns them. */
async function readBytes(ctx, n, fdr, fdw = fdr, ms = 5000) {
  const parts = [];
  let got = 0;
  const deadline = Date.now() + ms;
  while (got < n) {
    const r = await drive(
      () => ctx.read(Math.min(65536, n - got)),
      fdr,
      fdw,
      Math.max(1, deadline - Date.now()),
    );
    if (r === null) break;
    parts.push(r);
    got += r.length;
  }
  return Buffer.concat(parts);
}

/** Non-blocking: writes all of `data`, repeating the same call after WANT_*. */
async function writeAll(ctx, data, fdr, fdw = fdr, ms = 5000) {
  const buf = Buffer.from(data);
  let off = 0;
  const deadline = Date.now() + ms;
  while (off < buf.length) {
    const chunk = buf.subarray(off, off + 16384);
    const n = await drive(() => ctx.write(chunk), fdr, fdw, Math.max(1, deadline - Date.now()));
    assert.ok(n > 0 && n <= chunk.length, `write returned ${n}`);
    off += n;
  }
  return off;
}

/**
 * Blocking (separate-process peer only): reads until a newline. A blocking tls_read still returns
 * WANT_POLLIN after it consumed post-handshake messages (TLS 1.3 session tickets): read again.
 */
function readLineBlocking(ctx, max = 50) {
  let got = '';
  for (let i = 0; i < max && !got.includes('\n'); i++) {
    const r = ctx.read();
    if (r === null) break;
    if (r === L.WANT_POLLIN) continue;
    assert.ok(Buffer.isBuffer(r), `unexpected read result ${r}`);
    got += r.toString();
  }
  return got;
}

/**
 * Runs `fn(c, fd)` with a client context on clientConfig(), then frees both and kills `peer`. With
 * `{ socket: true }` the context is first connected (connectSocket, SNI 'localhost') over a TCP
 * socket to `peer` taken with tcpFd(), which is closed once the context is freed; else `fd` is -1.
 */
async function withClient(peer, options, fn) {
  if (typeof options === 'function') [options, fn] = [{}, options];
  const cfg = clientConfig();
  const c = L.client(cfg);
  let fd = -1;
  try {
    if (options.socket) {
      fd = await tcpFd(peer.port);
      c.connectSocket(fd, 'localhost');
    }
    await fn(c, fd);
  } finally {
    c.free();
    cfg.free();
    if (fd >= 0) closeFds(fd);
    await peer.kill();
  }
}

/** A listener on 127.0.0.1 whose accepted sockets stay paused, for takeFd(). */
async function pausedListener() {
  const listener = net.createServer({ pauseOnConnect: true });
  return { listener, port: await listen(listener) };
}

/** An in-memory byte queue: the ciphertext one side's write callback hands to the other. */
class ByteQueue {
  chunks = [];
  length = 0;
  push(b) {
    if (b.length === 0) return;
    this.chunks.push(b);
    this.length += b.length;
  }
  /** Up to `n` bytes, or null when empty. */
  take(n) {
    if (this.length === 0) return null;
    const out = [];
    let want = n;
    while (want > 0 && this.chunks.length > 0) {
      const c = this.chunks[0];
      if (c.length <= want) {
        out.push(c);
        this.chunks.shift();
        want -= c.length;
      } else {
        out.push(c.subarray(0, want));
        this.chunks[0] = c.subarray(want);
        want = 0;
      }
    }
    const b = Buffer.concat(out);
    this.length -= b.length;
    return b;
  }
}

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

const closeFds = (...fds) => {
  for (const fd of fds) {
    try {
      fs.closeSync(fd);
    } catch {}
  }
};

/**
 * A client and an accepted server context (serverConfig/clientConfig), handshaken non-blocking over
 * a socketpair (client on `a`, server on `b`); `done()` frees the contexts and configs, closes the fds.
 */
async function pair() {
  const [a, b] = L.socketpair();
  const scfg = serverConfig();
  const ccfg = clientConfig();
  const srv = L.server(scfg);
  const cli = L.client(ccfg);
  cli.connectSocket(a, 'localhost');
  const acc = srv.acceptSocket(b);
  const done = () => {
    cli.free();
    acc.free();
    srv.free();
    scfg.free();
    ccfg.free();
    closeFds(a, b);
  };
  try {
    await bothHandshake(cli, [a], acc, [b]);
  } catch (err) {
    done();
    throw err;
  }
  return { cli, acc, a, b, done };
}

// ---------------------------------------------------------------------------------------------

describe('our client against openssl s_server over TCP (blocking connect)', () => {
  for (const [flag, version] of [
    ['-tls1_3', 'TLSv1.3'],
    ['-tls1_2', 'TLSv1.2'],
  ]) {
    test(
      `connect(host, port) completes a ${version} handshake with s_server and gets its -rev echo`,
      T,
      async () => {
        const peer = await opensslServer(['-rev', flag]);
        await withClient(peer, async (c) => {
          c.connect('127.0.0.1', peer.port);
          assert.equal(c.handshake(), 0, peer.output());
          assert.equal(c.connVersion(), version);
          assert.ok(c.peerCertContainsName('127.0.0.1'));
          assert.equal(c.peerCertSubject(), '/CN=localhost');
          assert.equal(c.write('hello libtls\n'), 13);
          assert.equal(readLineBlocking(c), 'sltbil olleh\n', peer.output());
          assert.equal(c.close(), 0);
          const exit = await raceTimeout(peer.exited, 5000, 'still running');
          assert.deepEqual(exit, { code: 0, sig: null }, `s_server after our close():\n${peer.output()}`);
          assert.match(peer.output(), new RegExp(`Protocol version: ${version.replace('.', '\\.')}`));
          assert.match(peer.output(), /CONNECTION CLOSED/);
        });
      },
    );
  }

  test('connect("127.0.0.1:port") splits host and port and exchanges data with s_server', T, async () => {
    const peer = await opensslServer(['-rev']);
    await withClient(peer, async (c) => {
      c.connect(`127.0.0.1:${peer.port}`);
      assert.equal(c.handshake(), 0, peer.output());
      assert.equal(c.connVersion(), 'TLSv1.3');
      assert.equal(c.write('abc\n'), 4);
      assert.equal(readLineBlocking(c), 'cba\n', peer.output());
      assert.equal(c.close(), 0);
    });
  });

  test(
    'connectServername(host, port, name) sends the name as SNI: s_server answers with its second certificate',
    T,
    async () => {
      // s_server uses -cert2 only when the client's SNI equals -servername.
      const peer = await opensslServer([
        '-rev',
        '-servername',
        'other.test',
        '-cert2',
        pki('other.crt'),
        '-key2',
        pki('other.key'),
      ]);
      await withClient(peer, async (c) => {
        c.connectServername('127.0.0.1', peer.port, 'other.test');
        assert.equal(c.handshake(), 0, peer.output());
        assert.equal(c.peerCertSubject(), '/CN=other.test');
        assert.ok(c.peerCertContainsName('other.test'));
        assert.equal(c.write('sni\n'), 4);
        assert.equal(readLineBlocking(c), 'ins\n', peer.output());
        assert.equal(c.close(), 0);
        assert.ok(
          await waitFor(() => /Hostname in TLS extension: "other\.test"/.test(peer.output())),
          peer.output(),
        );
      });
    },
  );

  test(
    'connectServername(host, port, "localhost") verifies the server certificate against localhost',
    T,
    async () => {
      const peer = await opensslServer(['-rev', '-tls1_2']);
      await withClient(peer, async (c) => {
        c.connectServername('127.0.0.1', String(peer.port), 'localhost');
        assert.equal(c.handshake(), 0, peer.output());
        assert.equal(c.connVersion(), 'TLSv1.2');
        assert.ok(c.peerCertContainsName('localhost'));
        assert.equal(c.write('localhost\n'), 10);
        assert.equal(readLineBlocking(c), 'tsohlacol\n', peer.output());
        assert.equal(c.close(), 0);
      });
    },
  );

  test('free() of a context made by connect(host, port) closes the socket it opened', T, async () => {
    const peer = await opensslServer(['-rev']);
    const cfg = clientConfig();
    try {
      const before = openFds();
      const c = L.client(cfg);
      c.connect('127.0.0.1', peer.port);
      assert.equal(openFds(), before + 1, 'connect() opened one socket');
      assert.equal(c.handshake(), 0, peer.output());
      c.free();
      assert.equal(openFds(), before, 'free() closed it');
      // s_server sees the connection go away and, with -naccept 1, exits.
      const exit = await raceTimeout(peer.exited, 5000, 'still running');
      assert.notEqual(exit, 'still running', peer.output());
    } finally {
      cfg.free();
      await peer.kill();
    }
  });

  test('connect("127.0.0.1") without a port throws TlsError tls_connect "no port"', () => {
    const c = L.client(clientConfig());
    try {
      assert.throws(
        () => c.connect('127.0.0.1'),
        (e) => e instanceof L.TlsError && e.op === 'tls_connect' && /no port/.test(e.message),
      );
    } finally {
      c.free();
    }
  });

  test('connect() to a port where nothing listens throws TlsError tls_connect "Connection refused"', async () => {
    const port = await freePort();
    const c = L.client(clientConfig());
    const before = openFds();
    try {
      assert.throws(
        () => c.connect('127.0.0.1', port),
        (e) =>
          e instanceof L.TlsError &&
          e.op === 'tls_connect' &&
          /failed to connect: Connection refused/.test(e.message),
      );
      assert.equal(openFds(), before, 'the failed socket is closed');
    } finally {
      c.free();
    }
  });
});

describe('our client against openssl s_server (non-blocking, takeFd + connectSocket + poll)', () => {
  for (const [flag, version] of [
    ['-tls1_3', 'TLSv1.3'],
    ['-tls1_2', 'TLSv1.2'],
  ]) {
    test(
      `a socket taken from net.connect carries a non-blocking ${version} session with s_server`,
      T,
      async () => {
        const peer = await opensslServer(['-rev', flag]);
        await withClient(peer, { socket: true }, async (c, fd) => {
          assert.equal(await untilDone(() => c.handshake(), fd), 0, peer.output());
          assert.equal(c.connVersion(), version);
          assert.equal(await untilDone(() => c.write('non-blocking\n'), fd), 13);
          let got = '';
          for (let i = 0; i < 20 && !got.includes('\n'); i++) {
            const r = await untilDone(() => c.read(), fd);
            assert.notEqual(r, null, peer.output());
            got += r;
          }
          assert.equal(got, 'gnikcolb-non\n', peer.output());
          assert.equal(await untilDone(() => c.close(), fd), 0);
          const exit = await raceTimeout(peer.exited, 5000, 'still running');
          assert.deepEqual(exit, { code: 0, sig: null }, peer.output());
        });
      },
    );
  }
});

describe('our client against gnutls-serv (a different TLS implementation)', () => {
  test('gnutls-serv, started through the loopback shim, listens on 127.0.0.1 and ::1 only', T, async () => {
    const peer = await gnutlsServer();
    try {
      const addrs = listeningAddresses(peer.port);
      assert.ok(addrs.includes(`127.0.0.1:${peer.port}`), addrs.join(' '));
      for (const a of addrs) {
        assert.match(a, /^(127\.0\.0\.1|0000:0000:0000:0000:0000:0000:0000:0001):\d+$/, addrs.join(' '));
      }
    } finally {
      await peer.kill();
    }
  });

  for (const [prio, version] of [
    [[], 'TLSv1.3'],
    [['--priority', 'NORMAL:-VERS-TLS1.3'], 'TLSv1.2'],
  ]) {
    test(
      `connect(host, port) completes a ${version} handshake with gnutls-serv --echo and gets the echo`,
      T,
      async () => {
        const peer = await gnutlsServer(prio);
        await withClient(peer, async (c) => {
          c.connect('127.0.0.1', peer.port);
          assert.equal(c.handshake(), 0, peer.output());
          assert.equal(c.connVersion(), version);
          assert.equal(c.peerCertSubject(), '/CN=localhost');
          assert.equal(c.write('echo via gnutls\n'), 16);
          assert.equal(readLineBlocking(c), 'echo via gnutls\n', peer.output());
          assert.equal(c.close(), 0);
        });
      },
    );
  }

  test(
    'a non-blocking session (takeFd + connectSocket) echoes 64 KiB byte-exact through gnutls-serv',
    T,
    async () => {
      const peer = await gnutlsServer();
      await withClient(peer, { socket: true }, async (c, fd) => {
        assert.equal(await untilDone(() => c.handshake(), fd), 0, peer.output());
        // Printable lines without CR: the echo server returns exactly what it got.
        const lines = [];
        for (let i = 0; i < 1024; i++) lines.push(`${String(i).padStart(4, '0')} ${'x'.repeat(58)}\n`);
        const data = Buffer.from(lines.join(''));
        assert.equal(data.length, 64 * 1024);
        const [written, echoed] = await Promise.all([writeAll(c, data, fd), readBytes(c, data.length, fd)]);
        assert.equal(written, data.length);
        assert.equal(sha256(echoed), sha256(data), peer.output());
        assert.equal(await untilDone(() => c.close(), fd), 0);
      });
    },
  );

  test(
    'gnutls-serv with --sni-hostname-fatal accepts our SNI "localhost" and rejects "other.test"',
    T,
    async () => {
      const peer = await gnutlsServer(['--sni-hostname', 'localhost', '--sni-hostname-fatal']);
      const cfg = clientConfig({ insecure: { noVerifyName: true } });
      const good = L.client(cfg);
      const bad = L.client(cfg);
      try {
        good.connectServername('127.0.0.1', peer.port, 'localhost');
        assert.equal(good.handshake(), 0, peer.output());
        assert.equal(good.close(), 0);
        bad.connectServername('127.0.0.1', peer.port, 'other.test');
        assert.throws(
          () => bad.handshake(),
          (e) =>
            e instanceof L.TlsError &&
            e.op === 'tls_handshake' &&
            /handshake failed: .*tlsv1 unrecognized name/.test(e.message),
        );
      } finally {
        good.free();
        bad.free();
        cfg.free();
        await peer.kill();
      }
    },
  );
});

// ---------------------------------------------------------------------------------------------

/**
 * Starts a client process connecting to a paused listener we own, accepts its socket with
 * acceptSocket(takeFd()), handshakes non-blocking, reads the line the peer sends from stdin,
 * replies, and closes. Returns what was observed.
 */
async function serveOnePeer(cmd, argsFor, line, reply) {
  const { listener, port } = await pausedListener();
  const cfg = serverConfig();
  const srv = L.server(cfg);
  let peer = null;
  let acc = null;
  let fd = -1;
  let stdout = '';
  try {
    const accepted = once(listener, 'connection');
    peer = await startPeer(cmd, argsFor(port), { ready: () => true });
    peer.proc.stdout.on('data', (d) => {
      stdout += d;
    });
    peer.proc.stdin.write(line);
    const conn = await raceTimeout(accepted, 5000, null);
    assert.ok(conn, `${cmd} did not connect:\n${peer.output()}`);
    const [sock] = conn;
    fd = L.takeFd(sock);
    acc = srv.acceptSocket(fd);
    assert.equal(await untilDone(() => acc.handshake(), fd), 0, peer.output());
    const servername = acc.connServername();
    const version = acc.connVersion();
    let got = '';
    for (let i = 0; i < 20 && !got.includes('\n'); i++) {
      const r = await untilDone(() => acc.read(), fd);
      assert.notEqual(r, null, `end of stream before the line:\n${peer.output()}`);
      got += r;
    }
    assert.equal(await untilDone(() => acc.write(reply), fd), Buffer.byteLength(reply));
    const replied = await waitFor(() => stdout.includes(reply));
    assert.equal(await untilDone(() => acc.close(), fd), 0);
    peer.proc.stdin.end();
    const exit = await raceTimeout(peer.exited, 5000, 'still running');
    return { servername, version, got, replied, exit, stdout, output: peer.output() };
  } finally {
    acc?.free();
    srv.free();
    cfg.free();
    if (fd >= 0) closeFds(fd);
    listener.close();
    await peer?.kill();
  }
}

describe('our server (acceptSocket on a socket taken from net.Server) against client processes', () => {
  for (const [flag, version] of [
    ['-tls1_3', 'TLSv1.3'],
    ['-tls1_2', 'TLSv1.2'],
  ]) {
    test(`openssl s_client (${version}) sends SNI, a line, and receives our reply`, T, async () => {
      const r = await serveOnePeer(
        'openssl',
        (port) => [
          's_client',
          '-connect',
          `127.0.0.1:${port}`,
          '-servername',
          'sni.localhost',
          '-verify_hostname',
          'localhost',
          '-CAfile',
          pki('ca.crt'),
          '-verify_return_error',
          flag,
          '-quiet',
        ],
        'hello from s_client\n',
        'reply from libtls server\n',
      );
      assert.equal(r.servername, 'sni.localhost', r.output);
      assert.equal(r.version, version);
      assert.equal(r.got, 'hello from s_client\n', r.output);
      assert.ok(r.replied, `s_client stdout lacks our reply:\n${r.output}`);
      assert.deepEqual(r.exit, { code: 0, sig: null }, `s_client after our close():\n${r.output}`);
    });
  }

  test('gnutls-cli sends SNI, a line, verifies our certificate, and receives our reply', T, async () => {
    const r = await serveOnePeer(
      'gnutls-cli',
      (port) => [
        '--x509cafile',
        pki('ca.crt'),
        '-p',
        String(port),
        '--sni-hostname',
        'gnutls.localhost',
        '--verify-hostname',
        'localhost',
        '127.0.0.1',
      ],
      'hello from gnutls-cli\n',
      'reply from libtls server\n',
    );
    assert.equal(r.servername, 'gnutls.localhost', r.output);
    assert.equal(r.version, 'TLSv1.3');
    assert.equal(r.got, 'hello from gnutls-cli\n', r.output);
    assert.ok(r.replied, `gnutls-cli stdout lacks our reply:\n${r.output}`);
    assert.match(r.output, /The certificate is trusted/);
    assert.match(r.output, /Peer has closed the GnuTLS connection/);
    assert.deepEqual(r.exit, { code: 0, sig: null }, r.output);
  });

  test('gnutls-cli over TLS 1.2 without SNI: connServername() is null', T, async () => {
    const r = await serveOnePeer(
      'gnutls-cli',
      (port) => [
        '--x509cafile',
        pki('ca.crt'),
        '-p',
        String(port),
        '--disable-sni',
        '--priority',
        'NORMAL:-VERS-TLS1.3',
        '127.0.0.1',
      ],
      'no sni\n',
      'ok\n',
    );
    assert.equal(r.servername, null, r.output);
    assert.equal(r.version, 'TLSv1.2');
    assert.equal(r.got, 'no sni\n', r.output);
    assert.ok(r.replied, r.output);
  });
});

// ---------------------------------------------------------------------------------------------

describe("Node's own node:tls as a peer in the same process (non-blocking on our side)", () => {
  test(
    'a node:tls client handshakes with our accepted context; data flows both ways; our close() ends its stream',
    T,
    async () => {
      const { listener, port } = await pausedListener();
      const cfg = serverConfig();
      const srv = L.server(cfg);
      let acc = null;
      let fd = -1;
      const node = tls.connect({ host: '127.0.0.1', port, ca: pem('ca.crt'), servername: 'localhost' });
      let received = '';
      let ended = false;
      let nodeError = null;
      node.on('data', (d) => {
        received += d;
      });
      node.on('end', () => {
        ended = true;
      });
      node.on('error', (e) => {
        nodeError = e;
      });
      const secure = once(node, 'secureConnect');
      try {
        const [sock] = await once(listener, 'connection');
        fd = L.takeFd(sock);
        acc = srv.acceptSocket(fd);
        assert.equal(await untilDone(() => acc.handshake(), fd), 0);
        await secure;
        assert.equal(node.authorized, true, String(node.authorizationError));
        assert.equal(acc.connServername(), 'localhost');
        assert.equal(acc.connVersion(), node.getProtocol());
        assert.equal(acc.peerCertProvided(), false);
        node.write('from node\n');
        assert.equal(String(await readBytes(acc, 10, fd)), 'from node\n');
        assert.equal(await untilDone(() => acc.write('from libtls\n'), fd), 12);
        assert.ok(await waitFor(() => received === 'from libtls\n'), `node got ${JSON.stringify(received)}`);
        assert.equal(await untilDone(() => acc.close(), fd), 0);
        assert.ok(await waitFor(() => ended), 'node:tls client saw no end of stream after our close()');
        assert.equal(nodeError, null);
      } finally {
        node.destroy();
        acc?.free();
        srv.free();
        cfg.free();
        if (fd >= 0) closeFds(fd);
        listener.close();
      }
    },
  );

  test(
    'our client (with a client certificate) handshakes with a node:tls server that requires one; data flows both ways',
    T,
    async () => {
      const seen = { authorized: null, cn: null, data: '', ended: false, servername: null };
      const nodeServer = tls.createServer(
        {
          key: pem('server.key'),
          cert: pem('server.crt'),
          ca: pem('ca.crt'),
          requestCert: true,
          rejectUnauthorized: true,
        },
        (s) => {
          seen.authorized = s.authorized;
          seen.cn = s.getPeerCertificate().subject?.CN ?? null;
          seen.servername = s.servername;
          s.on('data', (d) => {
            seen.data += d;
          });
          s.on('end', () => {
            seen.ended = true;
          });
          s.on('error', () => {});
          s.write('hello from node\n');
        },
      );
      const nodePort = await listen(nodeServer);
      const cfg = clientConfig({ certFile: pki('client.crt'), keyFile: pki('client.key') });
      const c = L.client(cfg);
      let fd = -1;
      try {
        fd = await tcpFd(nodePort);
        c.connectSocket(fd, 'localhost');
        assert.equal(await untilDone(() => c.handshake(), fd), 0);
        assert.equal(c.connVersion(), 'TLSv1.3');
        assert.equal(String(await readBytes(c, 16, fd)), 'hello from node\n');
        assert.equal(await untilDone(() => c.write('hello from libtls\n'), fd), 18);
        assert.ok(await waitFor(() => seen.data === 'hello from libtls\n'), JSON.stringify(seen));
        assert.equal(seen.authorized, true);
        assert.equal(seen.cn, 'libtls test client');
        assert.equal(seen.servername, 'localhost');
        assert.equal(await untilDone(() => c.close(), fd), 0);
        assert.ok(await waitFor(() => seen.ended), 'node:tls server saw no end of stream after our close()');
      } finally {
        c.free();
        cfg.free();
        if (fd >= 0) closeFds(fd);
        nodeServer.close();
      }
    },
  );

  test(
    'callbacks over a net.Socket (queue filled from "data") carry TLS to a node:tls server',
    T,
    async () => {
      const nodeServer = tls.createServer({ key: pem('server.key'), cert: pem('server.crt') }, (s) => {
        s.on('error', () => {});
        s.pipe(s); // echo
      });
      const sock = net.connect({ host: '127.0.0.1', port: await listen(nodeServer) });
      const inbound = new ByteQueue();
      let wake = null;
      let sockEnded = false;
      sock.on('data', (d) => {
        inbound.push(d);
        wake?.();
      });
      sock.on('end', () => {
        sockEnded = true;
        wake?.();
      });
      sock.on('error', () => {});
      await once(sock, 'connect');
      const nextData = (ms) =>
        new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error('no data from the node:tls server')), ms);
          wake = () => {
            clearTimeout(t);
            wake = null;
            resolve();
          };
        });
      /** Repeats `step` until it returns something other than WANT_POLLIN, waiting for 'data'. */
      const pump = async (step, ms = 5000) => {
        const deadline = Date.now() + ms;
        for (;;) {
          const r = step();
          if (r !== L.WANT_POLLIN) return r;
          if (inbound.length > 0) continue;
          await nextData(Math.max(1, deadline - Date.now()));
        }
      };
      const cfg = clientConfig();
      const c = L.client(cfg);
      let writes = 0;
      try {
        c.connectCbs(
          (size) => inbound.take(size) ?? L.WANT_POLLIN,
          (chunk) => {
            writes++;
            sock.write(chunk);
            return chunk.length;
          },
          'localhost',
        );
        assert.equal(await pump(() => c.handshake()), 0);
        assert.ok(writes >= 2, `write callback ran ${writes} times`);
        assert.equal(c.connVersion(), 'TLSv1.3');
        assert.ok(c.peerCertContainsName('localhost'));
        const data = randomBytes(100_000);
        let off = 0;
        for (let i = 0; i < 100 && off < data.length; i++) {
          const n = c.write(data.subarray(off, off + 16384));
          assert.ok(n > 0, `write returned ${n}`);
          off += n;
        }
        assert.equal(off, data.length);
        const parts = [];
        let got = 0;
        for (let i = 0; i < 1000 && got < data.length; i++) {
          const r = await pump(() => c.read());
          assert.ok(Buffer.isBuffer(r), `read returned ${r}`);
          parts.push(r);
          got += r.length;
        }
        assert.equal(sha256(Buffer.concat(parts)), sha256(data));
        assert.equal(c.close(), 0);
        assert.ok(await waitFor(() => sockEnded), 'the node:tls server did not end after our close_notify');
      } finally {
        c.free();
        cfg.free();
        sock.destroy();
        nodeServer.close();
      }
    },
  );
});

// ---------------------------------------------------------------------------------------------

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
    const scfg = serverConfig();
    const ccfg = clientConfig();
    const srv = L.server(scfg);
    const cli = L.client(ccfg);
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
      cli.free();
      acc?.free();
      srv.free();
      scfg.free();
      ccfg.free();
      closeFds(...c2s, ...s2c);
    }
  });

  test(
    'connectFds/acceptFds with the same fd for reading and writing work like connectSocket/acceptSocket',
    T,
    async () => {
      const [a, b] = L.socketpair();
      const scfg = serverConfig();
      const ccfg = clientConfig();
      const srv = L.server(scfg);
      const cli = L.client(ccfg);
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
        cli.free();
        acc?.free();
        srv.free();
        scfg.free();
        ccfg.free();
        closeFds(a, b);
      }
    },
  );
});

// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------

describe('the callback transport (connectCbs / acceptCbs)', () => {
  test('a client and a server over in-memory queues handshake and move 1 MiB each way byte-exact', T, () => {
    const t = memoryTransport();
    const scfg = serverConfig();
    const ccfg = clientConfig();
    const srv = L.server(scfg);
    const cli = L.client(ccfg);
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
      cli.free();
      acc?.free();
      srv.free();
      scfg.free();
      ccfg.free();
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
    const scfg = serverConfig();
    const ccfg = clientConfig();
    const srv = L.server(scfg);
    const cli = L.client(ccfg);
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
      cli.free();
      acc?.free();
      srv.free();
      scfg.free();
      ccfg.free();
    }
  });
});

// ---------------------------------------------------------------------------------------------

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
