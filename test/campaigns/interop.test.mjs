// Interoperability of the 1:1 `Tls` API with real, independent peers over every transport:
// openssl s_server/s_client and gnutls-serv/gnutls-cli (separate processes, real TCP on
// 127.0.0.1), Node's own `node:tls` in this process (non-blocking on our side), socketpairs,
// connectFds/acceptFds, the callback transport, and sendfile().
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { describe, test } from 'node:test';
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
  untilDone,
  waitFor,
} from '../support/helpers.mjs';
import { ByteQueue, closeFds, readBytes, writeAll } from '../support/interop.mjs';

const T = { timeout: 20_000 };

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
