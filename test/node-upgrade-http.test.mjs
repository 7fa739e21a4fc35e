// upgrade() (STARTTLS, in-memory Duplex pairs, timeouts, aborts, backpressure) and Node's HTTP
// stack over libtls: createHttpsServer against curl, the http.Agent against our server and Node's
// https server, fetch through undici's connector, and the examples/ scripts end to end.
// Everything runs in this process on 127.0.0.1; external peers (openssl, curl, node examples) are
// spawned asynchronously and killed in `finally`.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { Duplex } from 'node:stream';
import { after, describe, test } from 'node:test';
import { fetch, Agent as UAgent } from 'undici';
import { L, listen, pem, pki, readAll, root, sha256, tempDir, until, waitFor, within } from './helpers.mjs';

const { TlsError, TlsSocket, upgrade, createHttpsServer, Agent, connector } = L;
const serverOpts = () => ({ certFile: pki('server.crt'), keyFile: pki('server.key') });
const clientOpts = () => ({ caFile: pki('ca.crt') });
const tmp = tempDir(after);

/**
 * Runs a command asynchronously, collecting stdout and stderr; SIGKILLed after `ms`. `onStart`
 * gets the process (to feed stdin). Resolves { code, signal, stdout (Buffer), stderr (string) }.
 */
async function run(cmd, args, { ms = 10_000, onStart, env } = {}) {
  const proc = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: env ?? process.env });
  const out = [];
  let err = '';
  proc.stdout.on('data', (d) => out.push(d));
  proc.stderr.on('data', (d) => {
    err += d;
  });
  proc.stdin.on('error', () => {}); // the peer may exit before reading its input
  const exited = new Promise((resolve) => proc.on('close', (code, signal) => resolve({ code, signal })));
  const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
  try {
    if (onStart) await onStart(proc, () => Buffer.concat(out).toString('latin1') + err);
    const { code, signal } = await exited;
    return { code, signal, stdout: Buffer.concat(out), stderr: err };
  } finally {
    clearTimeout(timer);
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
  }
}

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

/** Closes one of our TlsServer/HttpsServer (dropping idle HTTP connections first), bounded. */
async function closeServer(srv) {
  srv.http?.closeAllConnections();
  await within(new Promise((r) => srv.close(r)), 5000, 'closing the server');
}

/** Closes a node:http(s) server, bounded. */
async function closeNodeServer(srv) {
  srv.closeAllConnections();
  await within(new Promise((r) => srv.close(r)), 5000, 'closing the node server');
}

/** The error and its `cause`s, outermost first. */
function causes(err) {
  const chain = [];
  for (let e = err; e instanceof Error && chain.length < 10; e = e.cause) chain.push(e);
  return chain;
}

// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------

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
          assert.match(err.cause.message, /^handshake failed: .*unexpected eof while reading/);
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

// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------

/** Our HTTPS server: GET answers with the path and TLS version, POST echoes the body. */
async function httpsServer() {
  const connections = [];
  const srv = createHttpsServer({ config: serverOpts() }, (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'POST') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(Buffer.concat(chunks));
      } else if (req.url === '/missing') {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('no such thing\n');
      } else {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`hello ${req.url} over ${req.socket.version}\n`);
      }
    });
  });
  srv.on('secureConnection', (s) => connections.push(s));
  srv.on('tlsClientError', () => {});
  const port = await listen(srv);
  return { srv, port, connections };
}

const curlArgs = (port) => ['-sS', '--cacert', pki('ca.crt'), '--resolve', `localhost:${port}:127.0.0.1`];

describe('HTTPS server: createHttpsServer() against curl', () => {
  test('curl --cacert gets the right status and body, and -v shows TLSv1.3', async () => {
    const { srv, port } = await httpsServer();
    try {
      const r = await run('curl', [
        ...curlArgs(port),
        '-v',
        '-w',
        '\nstatus=%{http_code}',
        `https://localhost:${port}/path?q=1`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.toString(), 'hello /path?q=1 over TLSv1.3\n\nstatus=200');
      assert.match(r.stderr, /SSL connection using TLSv1\.3 \/ TLS_AES_256_GCM_SHA384/);
      assert.match(r.stderr, /ALPN: server accepted http\/1\.1/);
      assert.match(r.stderr, /subject: CN=localhost/);
      const missing = await run('curl', [
        ...curlArgs(port),
        '-w',
        '\nstatus=%{http_code}',
        `https://localhost:${port}/missing`,
      ]);
      assert.equal(missing.code, 0, missing.stderr);
      assert.equal(missing.stdout.toString(), 'no such thing\n\nstatus=404');
    } finally {
      await closeServer(srv);
    }
  });

  test('curl with two URLs reuses one keep-alive connection', async () => {
    const { srv, port, connections } = await httpsServer();
    try {
      const r = await run('curl', [
        ...curlArgs(port),
        '-v',
        `https://localhost:${port}/one`,
        `https://localhost:${port}/two`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.toString(), 'hello /one over TLSv1.3\nhello /two over TLSv1.3\n');
      assert.match(r.stderr, /Re-using existing connection/);
      assert.equal(connections.length, 1);
    } finally {
      await closeServer(srv);
    }
  });

  test('a 1 MiB POST body sent with curl --data-binary comes back byte-exact', async () => {
    const { srv, port } = await httpsServer();
    const body = randomBytes(1024 * 1024);
    const file = path.join(tmp, 'post.bin');
    const outFile = path.join(tmp, 'echo.bin');
    fs.writeFileSync(file, body);
    try {
      const r = await run('curl', [
        ...curlArgs(port),
        '-H',
        'content-type: application/octet-stream',
        '--data-binary',
        `@${file}`,
        '-o',
        outFile,
        '-w',
        '%{http_code} %{size_upload} %{size_download}',
        `https://localhost:${port}/echo`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.toString(), `200 ${body.length} ${body.length}`);
      const echoed = fs.readFileSync(outFile);
      assert.ok(echoed.equals(body), 'the echoed body differs');
    } finally {
      await closeServer(srv);
    }
  });
});

describe('HTTPS server: node:http connection management over TlsSockets', () => {
  test('close() drops an idle keep-alive connection at once, as https.Server.close() does', async () => {
    const { srv, port, connections } = await httpsServer();
    const agent = new Agent({ keepAlive: true, config: clientOpts() });
    try {
      const r = await get(`https://localhost:${port}/idle`, agent);
      assert.equal(r.body, 'hello /idle over TLSv1.3\n');
      assert.equal(Object.values(agent.freeSockets).flat().length, 1);
      const t0 = performance.now();
      await within(new Promise((resolve) => srv.close(resolve)), 3000, 'close()');
      const ms = performance.now() - t0;
      // not after the 5 s keepAliveTimeout: close() itself ended the idle connection
      assert.ok(ms < 1000, `close() took ${ms.toFixed(0)} ms`);
      assert.equal(connections[0].destroyed, true);
      await until(() => r.socket.destroyed, 'the client side to close', 2000);
    } finally {
      agent.destroy();
      // when the GET or an assertion failed, the server is still listening
      if (srv.listening) await closeServer(srv);
    }
  });

  test('headersTimeout drops a client that never finishes its request headers, with a 408', async () => {
    const srv = createHttpsServer(
      {
        config: serverOpts(),
        http: { headersTimeout: 300, requestTimeout: 600, connectionsCheckingInterval: 50 },
      },
      (_req, res) => res.end('never\n'),
    );
    srv.on('tlsClientError', () => {});
    const port = await listen(srv);
    let c;
    try {
      c = await L.connect({
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        config: clientOpts(),
        timeout: 3000,
      });
      c.on('error', () => {});
      const t0 = performance.now();
      const chunks = [];
      c.on('data', (d) => chunks.push(d));
      const closed = within(
        new Promise((r) => c.once('close', r)),
        5000,
        'the server to drop the connection',
      );
      c.write('GET / HTTP/1.1\r\nHost: localhost\r\n'); // ... and nothing more
      await closed;
      const ms = performance.now() - t0;
      // node:http writes the 408 and destroys the socket (no close_notify, as it would not FIN
      // gracefully either)
      assert.match(Buffer.concat(chunks).toString(), /^HTTP\/1\.1 408 Request Timeout\r\n/);
      assert.ok(ms >= 250 && ms < 3000, `dropped after ${ms.toFixed(0)} ms`);
    } finally {
      c?.destroy();
      await closeServer(srv);
    }
  });
});

// ---------------------------------------------------------------------------------------------

/**
 * A GET through `agent`; resolves { status, body, socket, reused, tls }, `tls` being what the socket
 * said when the response began (without keep-alive it is destroyed, its getters null, by the end).
 */
function get(url, agent) {
  return within(
    new Promise((resolve, reject) => {
      const req = http.get(url, { agent }, (res) => {
        const socket = res.socket;
        const tls = {
          version: socket.version,
          alpn: socket.alpnProtocol,
          subject: socket.peerCertificate?.subject,
        };
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode,
            body: Buffer.concat(chunks).toString(),
            socket,
            tls,
            reused: req.reusedSocket,
          }),
        );
        res.on('error', reject);
      });
      req.on('error', reject);
    }),
    5000,
    `GET ${url}`,
  );
}

/** Node's own https server with `cert`/`key` from the test PKI. */
async function nodeHttpsServer(name = 'server', handler, host = '127.0.0.1') {
  const connections = [];
  const srv = https.createServer(
    { cert: pem(`${name}.crt`), key: pem(`${name}.key`) },
    handler ??
      ((req, res) => {
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => {
          if (req.headers['content-type'] === 'application/json') {
            const got = JSON.parse(Buffer.concat(chunks).toString());
            res.writeHead(201, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ echo: got, method: req.method, tls: req.socket.getProtocol() }));
          } else {
            res.writeHead(200, { 'content-type': 'text/plain' });
            res.end(`node https ${req.url} ${req.socket.getProtocol()}`);
          }
        });
      }),
  );
  srv.on('secureConnection', (s) => connections.push(s));
  srv.on('tlsClientError', () => {});
  const port = await listen(srv, host);
  return { srv, port, connections };
}

describe('HTTP client: http.get with the libtls Agent', () => {
  test('http.get through the Agent gets the body from our HttpsServer', async () => {
    const { srv, port } = await httpsServer();
    const agent = new Agent({ config: clientOpts() });
    try {
      const r = await get(`https://localhost:${port}/agent`, agent);
      assert.equal(r.status, 200);
      assert.equal(r.body, 'hello /agent over TLSv1.3\n');
      assert.ok(r.socket instanceof TlsSocket);
      assert.deepEqual(r.tls, { version: 'TLSv1.3', alpn: 'http/1.1', subject: r.tls.subject });
      assert.match(r.tls.subject, /CN ?= ?localhost/);
    } finally {
      agent.destroy();
      await closeServer(srv);
    }
  });

  test("http.get through the Agent gets the body from Node's own https.createServer", async () => {
    const { srv, port } = await nodeHttpsServer();
    const agent = new Agent({ config: clientOpts() });
    try {
      const r = await get(`https://localhost:${port}/x?y`, agent);
      assert.equal(r.status, 200);
      assert.equal(r.body, 'node https /x?y TLSv1.3');
      assert.ok(r.socket instanceof TlsSocket);
      assert.equal(r.tls.version, 'TLSv1.3');
      assert.match(r.tls.subject, /CN ?= ?localhost/);
    } finally {
      agent.destroy();
      await closeNodeServer(srv);
    }
  });

  test('a keepAlive Agent reuses one TLS connection for 3 sequential requests', async () => {
    const { srv, port, connections } = await nodeHttpsServer();
    const agent = new Agent({ keepAlive: true, config: clientOpts() });
    try {
      const results = [];
      for (let i = 0; i < 3; i++) results.push(await get(`https://localhost:${port}/k${i}`, agent));
      assert.deepEqual(
        results.map((r) => r.body),
        ['node https /k0 TLSv1.3', 'node https /k1 TLSv1.3', 'node https /k2 TLSv1.3'],
      );
      assert.deepEqual(
        results.map((r) => r.reused),
        [false, true, true],
      );
      assert.equal(results[1].socket, results[0].socket);
      assert.equal(results[2].socket, results[0].socket);
      assert.equal(connections.length, 1, 'the server saw one connection');
    } finally {
      agent.destroy();
      await closeNodeServer(srv);
    }
  });

  test('an idle keep-alive connection the server closes leaves the pool, and the next request opens a new one', async () => {
    const { srv, port, connections } = await httpsServer();
    srv.http.keepAliveTimeout = 100;
    const agent = new Agent({ keepAlive: true, config: clientOpts() });
    try {
      const first = await get(`https://localhost:${port}/a`, agent);
      assert.equal(first.body, 'hello /a over TLSv1.3\n');
      await until(() => first.socket.destroyed, "the server's keep-alive timeout to close the socket", 3000);
      assert.equal(Object.values(agent.freeSockets).flat().length, 0);
      const second = await get(`https://localhost:${port}/b`, agent);
      assert.equal(second.body, 'hello /b over TLSv1.3\n');
      assert.equal(second.reused, false);
      assert.notEqual(second.socket, first.socket);
      assert.equal(connections.length, 2);
    } finally {
      agent.destroy();
      await closeServer(srv);
    }
  });

  test('IP-literal URLs (127.0.0.1, [::1]) are verified against the IP SANs and send no SNI, via the Agent and fetch', async () => {
    const sni = [];
    const handler = (req, res) => {
      sni.push(req.socket.servername);
      res.end(`ip ${req.headers.host}`);
    };
    const v4 = await nodeHttpsServer('server', handler, '127.0.0.1');
    const v6 = await nodeHttpsServer('server', handler, '::1');
    const agent = new Agent({ config: clientOpts() });
    const dispatcher = new UAgent({ connect: connector({ config: clientOpts() }) });
    try {
      for (const host of ['127.0.0.1', '[::1]']) {
        const port = host === '127.0.0.1' ? v4.port : v6.port;
        const url = `https://${host}:${port}/`;
        const r = await get(url, agent);
        assert.equal(r.body, `ip ${host}:${port}`);
        assert.equal(r.tls.version, 'TLSv1.3');
        const res = await within(fetch(url, { dispatcher }), 5000, 'fetch');
        assert.equal(await res.text(), `ip ${host}:${port}`);
      }
      // Node's tls reports `false` when the client sent no server_name extension
      assert.deepEqual(sni, [false, false, false, false]);
    } finally {
      agent.destroy();
      await dispatcher.close();
      await closeNodeServer(v4.srv);
      await closeNodeServer(v6.srv);
    }
  });

  test("a server whose certificate does not name the host makes the request emit 'error' with a TlsError", async () => {
    const { srv, port } = await nodeHttpsServer('other');
    const agent = new Agent({ config: clientOpts() });
    try {
      await assert.rejects(
        get(`https://localhost:${port}/`, agent),
        (e) =>
          e instanceof TlsError &&
          e.op === 'tls_handshake' &&
          /name `localhost' not present in server certificate/.test(e.message),
      );
    } finally {
      agent.destroy();
      await closeNodeServer(srv);
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('fetch through undici with connector()', () => {
  test("fetch gets the body from Node's https.createServer", async () => {
    const { srv, port } = await nodeHttpsServer();
    const dispatcher = new UAgent({ connect: connector({ config: clientOpts() }) });
    try {
      const res = await within(fetch(`https://localhost:${port}/hello`, { dispatcher }), 5000, 'fetch');
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'text/plain');
      assert.equal(await res.text(), 'node https /hello TLSv1.3');
    } finally {
      await dispatcher.close();
      await closeNodeServer(srv);
    }
  });

  test('a POSTed JSON body round-trips through fetch', async () => {
    const { srv, port } = await nodeHttpsServer();
    const dispatcher = new UAgent({ connect: connector({ config: clientOpts() }) });
    const payload = { n: 42, s: 'héllo', list: [1, 2, 3], nested: { ok: true } };
    try {
      const res = await within(
        fetch(`https://localhost:${port}/json`, {
          dispatcher,
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(payload),
        }),
        5000,
        'fetch',
      );
      assert.equal(res.status, 201);
      assert.deepEqual(await res.json(), { echo: payload, method: 'POST', tls: 'TLSv1.3' });
    } finally {
      await dispatcher.close();
      await closeNodeServer(srv);
    }
  });

  test('fetch against a server with an unknown CA (self-signed) rejects with a TlsError in its cause chain', async () => {
    const { srv, port } = await nodeHttpsServer('selfsigned');
    const dispatcher = new UAgent({ connect: connector({ config: clientOpts() }) });
    try {
      const err = await within(
        fetch(`https://localhost:${port}/`, { dispatcher }).then(
          () => null,
          (e) => e,
        ),
        5000,
        'fetch',
      );
      assert.ok(err instanceof TypeError, `fetch rejected with ${err}`);
      assert.match(err.message, /fetch failed/);
      const tlsErr = causes(err).find((e) => e instanceof TlsError);
      assert.ok(tlsErr, `no TlsError in ${causes(err).map(String).join(' <- ')}`);
      assert.equal(tlsErr.op, 'tls_handshake');
      assert.match(tlsErr.message, /certificate verification failed: self-signed certificate/);
    } finally {
      await dispatcher.close();
      await closeNodeServer(srv);
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('examples/ run end to end', () => {
  test('examples/https-server.mjs --once serves curl one request, then exits by itself', async () => {
    let url;
    let curl;
    const r = await run('node', [path.join(root, 'examples', 'https-server.mjs'), '--port', '0', '--once'], {
      ms: 10_000,
      onStart: async (_proc, output) => {
        await until(
          () => /listening on (https:\/\/localhost:\d+\/)/.test(output()),
          'the example to listen',
          5000,
        );
        url = output().match(/listening on (https:\/\/localhost:(\d+)\/)/);
        curl = await run('curl', [
          ...curlArgs(Number(url[2])),
          '-w',
          '\nstatus=%{http_code}',
          `${url[1]}from-test`,
        ]);
      },
    });
    assert.equal(curl.code, 0, curl.stderr);
    assert.equal(
      curl.stdout.toString(),
      'hello from libtls: GET /from-test over TLSv1.3 (TLS_AES_256_GCM_SHA384)\n\nstatus=200',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.signal, null, 'it exited by itself');
    const out = r.stdout.toString();
    assert.match(out, /GET \/from-test from 127\.0\.0\.1 over TLSv1\.3/);
    assert.match(out, /closing \(served one request\)\nclosed\n$/);
  });

  test('examples/https-server.mjs exits promptly on SIGINT, closing an idle keep-alive connection, and after --seconds', async () => {
    const agent = new Agent({ keepAlive: true, config: clientOpts() });
    let sentAt;
    let first;
    try {
      const r = await run(
        'node',
        [path.join(root, 'examples', 'https-server.mjs'), '--port', '0', '--seconds', '30'],
        {
          onStart: async (proc, output) => {
            await until(
              () => /listening on https:\/\/localhost:\d+\//.test(output()),
              'the example to listen',
              5000,
            );
            const port = Number(output().match(/localhost:(\d+)/)[1]);
            first = await get(`https://localhost:${port}/idle`, agent);
            assert.equal(Object.values(agent.freeSockets).flat().length, 1, 'an idle keep-alive connection');
            sentAt = performance.now();
            proc.kill('SIGINT');
          },
        },
      );
      const ms = performance.now() - sentAt;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.signal, null);
      assert.match(
        r.stdout.toString(),
        /GET \/idle from 127\.0\.0\.1 over TLSv1\.3\nclosing \(SIGINT\)\nclosed\n$/,
      );
      // well before the example's 2 s fallback exit: the idle connection was closed, nothing leaked
      assert.ok(ms < 1500, `exited ${ms.toFixed(0)} ms after SIGINT`);
      assert.equal(first.body, 'hello from libtls: GET /idle over TLSv1.3 (TLS_AES_256_GCM_SHA384)\n');
      await until(() => first.socket.destroyed, 'the client side of the idle connection to close', 2000);

      let closingAt;
      const timed = await run(
        'node',
        [path.join(root, 'examples', 'https-server.mjs'), '--port', '0', '--seconds', '0.2'],
        {
          onStart: async (_proc, output) => {
            await until(() => output().includes('closing'), 'the example to close by itself', 5000);
            closingAt = performance.now();
          },
        },
      );
      const left = performance.now() - closingAt;
      assert.equal(timed.code, 0, timed.stderr);
      assert.match(timed.stdout.toString(), /^listening on .*\nclosing \(0\.2 s elapsed\)\nclosed\n$/);
      assert.ok(left < 1500, `exited ${left.toFixed(0)} ms after it began closing`);
    } finally {
      agent.destroy();
    }
  });

  test("examples/fetch.mjs prints the status and body of Node's https server, and fails cleanly on an unknown CA", async () => {
    const { srv, port } = await nodeHttpsServer();
    try {
      const example = path.join(root, 'examples', 'fetch.mjs');
      const url = `https://localhost:${port}/ex`;
      // three runs at once: each one's start-up (loading undici) dominates
      const [r, post, bad] = await Promise.all([
        run('node', [example, url]),
        run('node', [example, url, '--header', 'content-type: application/json', '--data', '{"a":1}']),
        run('node', [example, url, '--ca', pki('selfsigned.crt')]),
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.toString(), 'status 200 OK\nnode https /ex TLSv1.3');
      assert.equal(post.code, 0, post.stderr);
      assert.equal(
        post.stdout.toString(),
        'status 201 Created\n{"echo":{"a":1},"method":"POST","tls":"TLSv1.3"}',
      );
      assert.equal(bad.code, 1);
      assert.equal(bad.stdout.toString(), '');
      assert.match(
        bad.stderr,
        /^fetch failed: TypeError: fetch failed <- TlsError: certificate verification failed: unable to get local issuer certificate\n$/,
      );
    } finally {
      await closeNodeServer(srv);
    }
  });

  test('examples/http-agent.mjs makes 3 requests to our HttpsServer over one reused connection', async () => {
    const { srv, port, connections } = await httpsServer();
    try {
      const r = await run('node', [
        path.join(root, 'examples', 'http-agent.mjs'),
        `https://localhost:${port}/agent-ex`,
        '--count',
        '3',
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(
        r.stdout.toString(),
        [
          'request 1: status 200, new connection, TLSv1.3',
          'hello /agent-ex over TLSv1.3',
          'request 2: status 200, reused connection, TLSv1.3',
          'hello /agent-ex over TLSv1.3',
          'request 3: status 200, reused connection, TLSv1.3',
          'hello /agent-ex over TLSv1.3',
          '',
        ].join('\n'),
      );
      assert.equal(connections.length, 1);
    } finally {
      await closeServer(srv);
    }
  });
});
