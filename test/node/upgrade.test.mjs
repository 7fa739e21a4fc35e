// upgrade(): STARTTLS on a net.Socket that already carried plaintext, an in-memory Duplex pair
// (head, timeout, AbortSignal, errors of the stream) and backpressure.
import assert from 'node:assert/strict';
import { randomBytes, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { describe, test } from 'node:test';
import { L, listen, pem, pki, readAll, sha256, until, waitFor, within } from '../support/helpers.mjs';
import { run } from '../support/http.mjs';

const { TlsError, TlsSocket, upgrade } = L;

const serverOpts = () => ({ certFile: pki('server.crt'), keyFile: pki('server.key') });

const clientOpts = () => ({ caFile: pki('ca.crt') });

/**
 * Two Duplex ends cross-wired in memory: what one writes, the other reads. A write that fills the
 * reader's buffer completes only once the reader asks for more, so backpressure crosses the pair.
 */
function duplexPair() {
  const make = () =>
    new Duplex({
      read() {
        const writer = this.peer;
        if (writer.waiting) {
          const cb = writer.waiting;
          writer.waiting = null;
          cb();
        }
      },
      write(chunk, _enc, cb) {
        if (this.peer.destroyed) {
          cb(new Error('the other end is destroyed'));
          return;
        }
        if (this.peer.push(chunk)) cb();
        else this.waiting = cb;
      },
      final(cb) {
        if (!this.peer.destroyed) this.peer.push(null);
        cb();
      },
    });
  const a = make();
  const b = make();
  a.peer = b;
  b.peer = a;
  a.waiting = b.waiting = null;
  return [a, b];
}

/** upgrade()s both ends of a duplexPair() (bounded): `a` as a client of 'localhost', `b` as the server. */
async function upgradedPair(options = {}) {
  const [a, b] = duplexPair();
  const [c, s] = await within(
    Promise.all([
      upgrade(a, { mode: 'client', servername: 'localhost', config: clientOpts(), ...options }),
      upgrade(b, { mode: 'server', config: serverOpts(), ...options }),
    ]),
    5000,
    'the handshake',
  );
  return { a, b, c, s };
}

/** Writes `data` in `size` chunks honouring backpressure, then ends; counts false returns and drains. */
async function writeAll(sock, data, size) {
  let falses = 0;
  let drains = 0;
  for (let off = 0; off < data.length; off += size) {
    if (!sock.write(data.subarray(off, off + size))) {
      falses++;
      await within(once(sock, 'drain'), 10_000, "'drain'");
      drains++;
    }
  }
  sock.end();
  return { falses, drains };
}

/**
 * A small SMTP-like server: plaintext greeting, EHLO, STARTTLS -> upgrade() the same net.Socket in
 * server mode (passing what followed the STARTTLS line as `head`), then EHLO/QUIT over TLS.
 */
async function smtpServer() {
  const sessions = [];
  const raws = new Set();
  const server = net.createServer((raw) => {
    const session = { plain: [], tls: [], version: null, servername: null, headLength: -1, error: null };
    sessions.push(session);
    raws.add(raw);
    raw.once('close', () => raws.delete(raw));
    raw.on('error', (e) => {
      session.error ??= e;
    });
    let buf = '';
    raw.write('220 test ESMTP\r\n');
    const onData = (d) => {
      buf += d.toString('latin1');
      for (let i = buf.indexOf('\r\n'); i >= 0; i = buf.indexOf('\r\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        session.plain.push(line);
        if (/^EHLO /i.test(line)) {
          raw.write('250-test\r\n250 STARTTLS\r\n');
        } else if (/^STARTTLS$/i.test(line)) {
          raw.off('data', onData);
          raw.write('220 Ready to start TLS\r\n');
          const head = Buffer.from(buf, 'latin1');
          session.headLength = head.length;
          upgrade(raw, { mode: 'server', config: serverOpts(), head, timeout: 5000 }).then(
            (s) => serveTls(s, session),
            (e) => {
              session.error = e;
            },
          );
          return;
        } else {
          raw.write('502 unknown command\r\n');
        }
      }
    };
    raw.on('data', onData);
  });
  const port = await listen(server);
  return {
    port,
    sessions,
    close: () => {
      // whatever a failed test left open goes now (TlsSockets destroy the socket under them)
      for (const session of sessions) session.socket?.destroy();
      for (const raw of raws) raw.destroy();
      return within(new Promise((r) => server.close(r)), 5000, 'closing the SMTP server');
    },
  };
}

function serveTls(s, session) {
  session.version = s.version;
  session.servername = s.servername;
  session.socket = s;
  s.on('error', (e) => {
    session.error ??= e;
  });
  let buf = '';
  s.on('data', (d) => {
    buf += d.toString('latin1');
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i).replace(/\r$/, '');
      buf = buf.slice(i + 1);
      session.tls.push(line);
      if (/^EHLO /i.test(line)) s.write('250 test\r\n');
      else if (/^QUIT$/i.test(line)) s.end('221 bye\r\n');
      else s.write('502 unknown command\r\n');
    }
  });
}

/** Collects from `stream` until a final SMTP reply line (`NNN text\r\n`) arrives. */
function readReply(stream, ms = 3000) {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(
      () => done(new Error(`no SMTP reply in ${ms} ms, got ${JSON.stringify(buf)}`)),
      ms,
    );
    const onData = (d) => {
      buf += d.toString('latin1');
      if (/(^|\n)\d{3} [^\r\n]*\r\n$/.test(buf)) done();
    };
    const onEnd = () => done(new Error(`the stream ended before a reply, got ${JSON.stringify(buf)}`));
    function done(err) {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', done);
      if (err) reject(err);
      else resolve(buf);
    }
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', done);
  });
}

describe('STARTTLS: upgrade() on a net.Socket that already carried plaintext', () => {
  test('a client over a net.Socket reads the records that came in one chunk with the session tickets, with nothing after them', async () => {
    // the read callback takes a whole chunk; libtls answers WANT_POLLIN after a ticket while the
    // records after it wait in the context's buffer: they must be read without more input
    const srv = L.createServer({ config: serverOpts() }, (s) => {
      s.on('error', () => {});
      s.resume();
      for (let i = 0; i < 5; i++) s.write(`record ${i};`);
    });
    const port = await listen(srv);
    let c;
    try {
      const raw = net.connect({ host: '127.0.0.1', port });
      await once(raw, 'connect');
      c = await within(
        L.upgrade(raw, { mode: 'client', servername: 'localhost', config: clientOpts() }),
        5000,
        'upgrade()',
      );
      await new Promise((r) => setTimeout(r, 100)); // the tickets and the records arrive meanwhile
      let got = '';
      c.on('data', (d) => {
        got += d;
      });
      const all = 'record 0;record 1;record 2;record 3;record 4;';
      assert.ok(await waitFor(() => got === all, 3000), `got only ${JSON.stringify(got)}`);
    } finally {
      c?.destroy();
      await new Promise((r) => srv.close(r));
    }
  });

  test('openssl s_client -starttls smtp gets the TLS replies of an SMTP-like server that upgrades its socket', async () => {
    const smtp = await smtpServer();
    try {
      const r = await run(
        'openssl',
        [
          's_client',
          '-starttls',
          'smtp',
          '-connect',
          `127.0.0.1:${smtp.port}`,
          '-CAfile',
          pki('ca.crt'),
          '-servername',
          'localhost',
          '-verify_return_error',
          '-quiet',
        ],
        {
          ms: 10_000,
          onStart: async (proc, output) => {
            // up once it verified the server's certificate (printed when the handshake is done)
            await until(
              () => /depth=0 CN = localhost\s+verify return:1/.test(output()),
              's_client handshake',
              5000,
            );
            proc.stdin.write('EHLO y\r\nQUIT\r\n');
          },
        },
      );
      const out = r.stdout.toString('latin1');
      assert.equal(r.code, 0, `s_client failed:\n${out}\n${r.stderr}`);
      assert.match(out, /250 test\r\n221 bye\r\n$/);
      const [session] = smtp.sessions;
      assert.equal(smtp.sessions.length, 1);
      assert.deepEqual(session.plain.slice(-1), ['STARTTLS']);
      assert.match(session.plain[0], /^EHLO /);
      assert.deepEqual(session.tls, ['EHLO y', 'QUIT']);
      assert.equal(session.version, 'TLSv1.3');
      assert.equal(session.servername, 'localhost');
      assert.equal(session.headLength, 0);
      assert.ok(session.socket instanceof TlsSocket);
      await until(() => session.socket.destroyed, 'the server socket to close', 3000);
    } finally {
      await smtp.close();
    }
  });

  test('our client speaks SMTP in plaintext on a net.Socket, then upgrade() in client mode completes STARTTLS', async () => {
    const smtp = await smtpServer();
    const raw = net.connect(smtp.port, '127.0.0.1');
    raw.on('error', () => {});
    let tls;
    try {
      await within(once(raw, 'connect'), 3000, 'TCP connect');
      assert.equal(await readReply(raw), '220 test ESMTP\r\n');
      raw.write('EHLO client.test\r\n');
      assert.equal(await readReply(raw), '250-test\r\n250 STARTTLS\r\n');
      raw.write('STARTTLS\r\n');
      assert.equal(await readReply(raw), '220 Ready to start TLS\r\n');
      tls = await upgrade(raw, {
        mode: 'client',
        servername: 'localhost',
        config: clientOpts(),
        timeout: 5000,
      });
      assert.ok(tls instanceof TlsSocket);
      assert.equal(tls.version, 'TLSv1.3');
      assert.match(tls.peerCertificate.subject, /CN ?= ?localhost/);
      assert.equal(tls.remoteAddress, '127.0.0.1');
      assert.equal(tls.remotePort, smtp.port);
      const all = readAll(tls, 10_000);
      tls.write('EHLO client.test\r\n');
      tls.write('QUIT\r\n');
      assert.equal((await all).toString('latin1'), '250 test\r\n221 bye\r\n');
      const [session] = smtp.sessions;
      assert.deepEqual(session.plain, ['EHLO client.test', 'STARTTLS']);
      assert.deepEqual(session.tls, ['EHLO client.test', 'QUIT']);
      assert.equal(session.version, 'TLSv1.3');
      assert.equal(session.error, null);
    } finally {
      tls?.destroy();
      raw.destroy();
      await smtp.close();
    }
  });

  test('upgrade() resumes a net.Socket its caller paused before handing it over', async () => {
    let serverSide;
    const server = net.createServer((raw) => {
      raw.pause(); // as a STARTTLS server does while it decides what to do with the connection
      serverSide = upgrade(raw, { mode: 'server', config: serverOpts(), timeout: 3000 });
      serverSide.catch(() => {});
    });
    const port = await listen(server);
    const raw = net.connect(port, '127.0.0.1');
    raw.on('error', () => {});
    const sockets = [];
    try {
      await within(once(raw, 'connect'), 3000, 'TCP connect');
      const c = await upgrade(raw, {
        mode: 'client',
        servername: 'localhost',
        config: clientOpts(),
        timeout: 3000,
      });
      sockets.push(c);
      const s = await serverSide;
      sockets.push(s);
      assert.equal(s.version, 'TLSv1.3');
      c.end('over a socket that was paused');
      assert.equal(String(await readAll(s, 10_000)), 'over a socket that was paused');
    } finally {
      for (const s of sockets) s.destroy();
      raw.destroy();
      await within(new Promise((r) => server.close(r)), 3000, 'server close');
    }
  });
});

describe('upgrade() over an in-memory Duplex pair', () => {
  test('the ciphertext of one call reaches the stream in one write(): a 64 KiB write is four records in one chunk', async () => {
    const { a, c, s } = await upgradedPair();
    try {
      const chunks = [];
      const write = a.write;
      a.write = function (chunk, ...rest) {
        chunks.push(chunk.length);
        return write.call(this, chunk, ...rest);
      };
      let got = 0;
      s.on('data', (d) => {
        got += d.length;
      });
      c.write(Buffer.alloc(64 * 1024, 1));
      assert.ok(await waitFor(() => got === 64 * 1024, 3000), `the server got ${got} bytes`);
      // TLS 1.3: 16 KiB of plaintext per record, 22 bytes of header, type and tag each
      assert.deepEqual(chunks, [4 * (16384 + 22)]);
    } finally {
      c.destroy();
      s.destroy();
    }
  });

  test('a client and a server handshake over a cross-wired pair and move 4 MiB each way byte-exact', async (t) => {
    const { c, s } = await upgradedPair({ allowHalfOpen: true });
    try {
      assert.equal(c.version, 'TLSv1.3');
      assert.equal(s.version, 'TLSv1.3');
      assert.equal(s.servername, 'localhost');
      const fp = new X509Certificate(pem('server.crt')).fingerprint256.replaceAll(':', '').toLowerCase();
      assert.equal(c.peerCertificate.hash, `SHA256:${fp}`);
      const up = randomBytes(4 * 1024 * 1024);
      const down = randomBytes(4 * 1024 * 1024);
      const atServer = readAll(s, 10_000);
      const atClient = readAll(c, 10_000);
      const t0 = performance.now();
      await Promise.all([writeAll(c, up, 64 * 1024), writeAll(s, down, 64 * 1024)]);
      const [gotUp, gotDown] = await Promise.all([atServer, atClient]);
      const ms = performance.now() - t0;
      assert.equal(gotUp.length, up.length);
      assert.ok(gotUp.equals(up), 'client -> server bytes differ');
      assert.equal(gotDown.length, down.length);
      assert.ok(gotDown.equals(down), 'server -> client bytes differ');
      assert.equal(c.bytesWritten, up.length);
      assert.equal(s.bytesRead, up.length);
      assert.equal(s.bytesWritten, down.length);
      assert.equal(c.bytesRead, down.length);
      t.diagnostic(`8 MiB over an in-memory pair in ${ms.toFixed(0)} ms`);
    } finally {
      c.destroy();
      s.destroy();
    }
  });

  test('the head option hands ciphertext already read from the stream to the server handshake', async () => {
    const [a, b] = duplexPair();
    // The server's application reads the first bytes itself (the ClientHello), then upgrades
    // with them as `head`: without it the handshake could never complete.
    const serverSide = new Promise((resolve, reject) => {
      b.once('data', (first) => {
        assert.equal(first[0], 0x16, 'the first byte is a TLS handshake record');
        upgrade(b, { mode: 'server', config: serverOpts(), head: first, timeout: 3000 }).then(
          (s) => resolve({ s, headLength: first.length }),
          reject,
        );
      });
    });
    const sockets = [];
    try {
      const c = await upgrade(a, {
        mode: 'client',
        servername: 'localhost',
        config: clientOpts(),
        timeout: 3000,
      });
      sockets.push(c);
      const { s, headLength } = await serverSide;
      sockets.push(s);
      assert.ok(headLength > 100, `the ClientHello went in head (${headLength} bytes)`);
      assert.equal(s.version, 'TLSv1.3');
      const got = readAll(c, 10_000);
      s.end('after a handshake begun in head');
      assert.equal(String(await got), 'after a handshake begun in head');
    } finally {
      for (const s of sockets) s.destroy();
      a.destroy();
      b.destroy();
    }
  });

  test("mode 'bogus', a missing options object and a non-byte head reject with TypeErrors (never a synchronous throw), and nothing is written", async () => {
    const [a, b] = duplexPair();
    const seen = [];
    b.on('data', (d) => seen.push(d));
    try {
      await assert.rejects(
        upgrade(a, { mode: 'bogus', config: clientOpts() }),
        (e) =>
          e instanceof TypeError &&
          /options\.mode must be 'client' or 'server', got a string/.test(e.message),
      );
      await assert.rejects(
        upgrade(a),
        (e) => e instanceof TypeError && /options must be an object/.test(e.message),
      );
      await assert.rejects(
        upgrade(a, { mode: 'server', config: serverOpts(), head: 'hello' }),
        (e) => e instanceof TypeError && /head must be a Uint8Array, got a string/.test(e.message),
      );
      await assert.rejects(
        upgrade({}, { mode: 'client' }),
        (e) => e instanceof TypeError && /stream must be a Duplex stream/.test(e.message),
      );
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(seen, []);
      assert.equal(a.destroyed, false);
    } finally {
      a.destroy();
      b.destroy();
    }
  });

  test('a peer that never answers makes upgrade() reject with TlsError "timed out" after `timeout` ms and destroys the stream', async () => {
    const [a, b] = duplexPair();
    let hello = 0;
    b.on('data', (d) => {
      hello += d.length; // read, never answered
    });
    try {
      const t0 = performance.now();
      await assert.rejects(
        upgrade(a, { mode: 'client', servername: 'localhost', config: clientOpts(), timeout: 200 }),
        (e) =>
          e instanceof TlsError &&
          e.op === 'tls_handshake' &&
          /the TLS handshake timed out after 200 ms/.test(e.message),
      );
      const ms = performance.now() - t0;
      assert.ok(ms >= 190 && ms < 1500, `rejected after ${ms.toFixed(0)} ms`);
      assert.ok(hello > 0, 'the ClientHello was sent');
      assert.equal(a.destroyed, true);
    } finally {
      a.destroy();
      b.destroy();
    }
  });

  test('an AbortSignal aborts a pending upgrade() with its reason and destroys the stream', async () => {
    const [a, b] = duplexPair();
    b.resume();
    const ac = new AbortController();
    const p = upgrade(a, {
      mode: 'client',
      servername: 'localhost',
      config: clientOpts(),
      signal: ac.signal,
    });
    setTimeout(() => ac.abort(), 50);
    try {
      await assert.rejects(within(p, 3000, 'the aborted upgrade'), (e) => e.name === 'AbortError');
      assert.equal(a.destroyed, true);
      // already aborted, with a reason of our own: rejected with it, stream destroyed
      const [c, d] = duplexPair();
      const reason = new Error('changed my mind');
      await assert.rejects(
        upgrade(c, { mode: 'server', config: serverOpts(), signal: AbortSignal.abort(reason) }),
        (e) => e === reason,
      );
      assert.equal(c.destroyed, true);
      d.destroy();
    } finally {
      a.destroy();
      b.destroy();
    }
  });

  test('a peer that closes or resets the stream mid-handshake makes upgrade() reject at once, a reset naming its cause', async () => {
    const behaviours = {
      end: (raw) => raw.end(),
      reset: (raw) => raw.resetAndDestroy(),
    };
    for (const [what, act] of Object.entries(behaviours)) {
      const server = net.createServer((raw) => {
        raw.on('error', () => {});
        raw.once('data', () => act(raw)); // the ClientHello arrived: hang up
      });
      const port = await listen(server);
      const raw = net.connect(port, '127.0.0.1');
      raw.on('error', () => {});
      try {
        await within(once(raw, 'connect'), 3000, 'TCP connect');
        const t0 = performance.now();
        const err = await upgrade(raw, {
          mode: 'client',
          servername: 'localhost',
          config: clientOpts(),
          timeout: 3000,
        }).then(
          () => null,
          (e) => e,
        );
        const ms = performance.now() - t0;
        assert.ok(err instanceof TlsError, `${what}: rejected with ${err}`);
        assert.ok(ms < 1000, `${what}: rejected after ${ms.toFixed(0)} ms, not at the timeout`);
        if (what === 'end') {
          assert.equal(err.op, 'tls_handshake');
          assert.equal(err.code, 'ECONNRESET');
          assert.match(err.message, /before the TLS handshake completed/);
          // the failure of tls_handshake: OpenSSL 3's "unexpected eof while reading", LibreSSL's
          // libtls's "unexpected EOF", one code
          assert.equal(err.cause?.op, 'tls_handshake');
          assert.equal(err.cause?.code, 'ECONNRESET', err.cause?.message);
          assert.match(err.cause.message, /^handshake failed: \S/);
        } else {
          assert.equal(err.op, 'tls_read');
          assert.match(err.message, /^the underlying stream failed: read ECONNRESET$/);
          assert.equal(err.cause?.code, 'ECONNRESET');
        }
        assert.equal(raw.destroyed, true);
      } finally {
        raw.destroy();
        await within(new Promise((r) => server.close(r)), 3000, 'server close');
      }
    }
  });

  test("an error of the underlying stream after the handshake is the TlsSocket's 'error', with it as cause", async () => {
    const { a, b, c, s } = await upgradedPair();
    s.on('error', () => {});
    try {
      c.resume();
      const failed = within(once(c, 'error'), 3000, "the client's 'error'");
      const linkDown = new Error('link down');
      a.destroy(linkDown);
      const [err] = await failed;
      assert.ok(err instanceof TlsError);
      assert.equal(err.op, 'tls_read');
      assert.equal(err.message, 'the underlying stream failed: link down');
      assert.equal(err.cause, linkDown);
      await until(() => c.destroyed, 'the TlsSocket to be destroyed', 1000);
    } finally {
      c.destroy();
      s.destroy();
      b.destroy();
    }
  });

  test('a wrong servername rejects the client upgrade() with TlsError and destroys the underlying stream', async () => {
    const [a, b] = duplexPair();
    const serverSide = upgrade(b, { mode: 'server', config: serverOpts(), timeout: 3000 });
    let s;
    try {
      await assert.rejects(
        upgrade(a, { mode: 'client', servername: 'other.test', config: clientOpts(), timeout: 3000 }),
        (e) =>
          e instanceof TlsError &&
          e.op === 'tls_handshake' &&
          /name `other\.test' not present in server certificate/.test(e.message),
      );
      assert.equal(a.destroyed, true);
      // libtls checks the name after OpenSSL's handshake completed: the server side succeeded,
      // then sees the connection end without close_notify.
      s = await serverSide;
      s.on('error', () => {});
      assert.equal(s.version, 'TLSv1.3');
    } finally {
      s?.destroy();
      a.destroy();
      b.destroy();
    }
  });
});

describe('upgrade() backpressure', () => {
  test('a server reading slowly (pause/resume per chunk) gets 8 MiB byte-exact while the client sees write() false and drain', async (t) => {
    const { a, b, c, s } = await upgradedPair();
    try {
      const data = randomBytes(8 * 1024 * 1024);
      const chunks = [];
      let maxBuffered = 0; // bytes held anywhere between the client's plaintext and the server
      let pauses = 0;
      const done = within(
        new Promise((resolve, reject) => {
          s.on('data', (chunk) => {
            chunks.push(chunk);
            const buffered = c.writableLength + a.writableLength + b.readableLength + s.readableLength;
            maxBuffered = Math.max(maxBuffered, buffered);
            s.pause();
            pauses++;
            setImmediate(() => s.resume());
          });
          s.once('end', resolve);
          s.once('error', reject);
        }),
        20_000,
        'the slow reader',
      );
      const { falses, drains } = await writeAll(c, data, 64 * 1024);
      await done;
      const got = Buffer.concat(chunks);
      assert.equal(got.length, data.length);
      assert.equal(sha256(got), sha256(data));
      assert.ok(falses > 10, `write() returned false ${falses} times`);
      assert.equal(drains, falses);
      // a chunk is at most what one read call moves: the rest of a 128 KiB read slab
      assert.ok(pauses >= (8 * 1024 * 1024) / (128 * 1024), `${pauses} pauses`);
      assert.equal(pauses, chunks.length);
      // the sender never got far ahead of the reader: bounded, not 8 MiB
      assert.ok(maxBuffered < 1024 * 1024, `at most ${maxBuffered} bytes were buffered`);
      t.diagnostic(`${falses} false writes, max ${maxBuffered} bytes buffered`);
    } finally {
      c.destroy();
      s.destroy();
    }
  });
});
