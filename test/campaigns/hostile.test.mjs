// Hostile peers against the Node.js layer: junk, malformed and truncated records, floods
// of empty records and warning alerts, tampering by a man in the middle, renegotiation, dropped
// connections, slowloris, and certificates built to fool name matching or verification. Each case
// is bounded in time and asserts the exact outcome: the TlsError and its libtls/OpenSSL reason, the
// attacker's connection closed by us, and the server still serving the next real client.
//
// Raw attacks speak bytes on a plain TCP socket. Attacks after the handshake go through a proxy in
// this file that cuts both directions into TLS records: a node:tls client completes a real
// handshake through it, and for TLS 1.2 with AES-128-GCM the proxy derives the record keys from the
// client's keylog (the TLS 1.2 PRF over the master secret and both randoms), so it can seal its
// own records into the client's stream and open the server's alerts.
//
// Not repeated here (already proven elsewhere): a peer that drops TCP without close_notify after
// the handshake, on either side (node-socket.test.mjs "errors: verification, truncation"); a silent
// TCP client dropped after handshakeTimeout and 100 silent clients (node-socket.test.mjs
// "createServer(): handshakeTimeout"); the 1:1 API's verification failures, the NUL-SAN and
// *.wild.test name rules against openssl s_server (verify.test.mjs); OCSP calls before the
// handshake, on server and accepted contexts, after a failed parse and without a responder URL
// (traps.test.mjs, verify.test.mjs). The OCSP states below are the ones those files do not reach.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import {
  assertTlsCode,
  assertTlsError,
  clientConfig,
  freePair,
  L,
  listen,
  noop,
  nulSanMessage,
  openFds,
  pairHandshake,
  pem,
  pki,
  serverConfig,
  serverFor,
  sleep,
  tempDir,
  throwsTls,
  tlsCode,
  waitFor,
  within,
} from '../support/helpers.mjs';
import { flipProxy, keylogClient, nextClientSeq, open, seal, startProxy } from '../support/mitm.mjs';

const T = { timeout: 15_000 };
let srvCfg; // server.crt (ECDSA), localhost / 127.0.0.1 / ::1
let cliCfg; // trusts ca.crt
let hello13; // a real ClientHello from node:tls (TLS 1.3 offered)
let hello12; // the same with maxVersion TLSv1.2

/** The first flight a node:tls client sends (its ClientHello), captured on a plain TCP server. */
async function captureClientHello(opts = {}) {
  let done;
  const got = new Promise((r) => {
    done = r;
  });
  const cap = net.createServer((s) => {
    s.on('error', noop);
    s.once('data', (d) => {
      done(d);
      s.destroy();
    });
  });
  const port = await listen(cap);
  const c = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: pem('ca.crt'), ...opts });
  c.on('error', noop);
  try {
    return await within(got, 5000, 'ClientHello');
  } finally {
    c.destroy();
    cap.close();
  }
}

before(async () => {
  srvCfg = serverConfig();
  cliCfg = clientConfig();
  hello13 = await captureClientHello();
  hello12 = await captureClientHello({ maxVersion: 'TLSv1.2' });
  assert.equal(hello13[0], 0x16);
  assert.equal(hello13[5], 1, 'a ClientHello');
  assert.equal(hello13.length, 5 + hello13.readUInt16BE(3), 'one whole record');
});

after(() => {
  srvCfg.free();
  cliCfg.free();
});

// ---- servers, clients and raw sockets ----

/**
 * An echo createServer() on 127.0.0.1; `sockets` collects every secure server socket with what
 * happened to it ({ socket, data, ended, error, closed }).
 */
async function startServer(options = {}, config = srvCfg) {
  const sockets = [];
  const srv = L.createServer({ config, handshakeTimeout: 3000, ...options }, (s) => {
    const rec = { socket: s, data: '', ended: false, error: null };
    rec.closed = new Promise((r) => s.once('close', r));
    sockets.push(rec);
    s.on('data', (d) => {
      rec.data += d;
      if (!rec.error) s.write(d);
    });
    s.on('end', () => {
      rec.ended = true;
    });
    s.on('error', (e) => {
      rec.error = e;
    });
  });
  const failures = [];
  srv.on('tlsClientError', (e) => failures.push(e));
  const port = await listen(srv);
  return { srv, port, sockets, failures };
}

async function stopServer(srv) {
  try {
    await within(new Promise((r) => srv.close(r)), 5000, 'server.close()');
  } catch (err) {
    err.message += ` (${srv.connections} connections still open)`;
    throw err;
  }
  srv.context.free();
}

const connectTo = (port, extra = {}) =>
  L.connect({ host: '127.0.0.1', port, servername: 'localhost', config: cliCfg, ...extra });

/**
 * The server is still healthy: a real client connects, gets its bytes echoed and closes cleanly.
 * Returns the milliseconds from connect() to the handshake's end and to the echo.
 */
async function assertHealthy(port) {
  const t0 = Date.now();
  const c = await within(connectTo(port), 3000, 'a real client after the attack');
  const connected = Date.now() - t0;
  c.write('still alive');
  const [d] = await within(once(c, 'data'), 3000, 'echo');
  const echoed = Date.now() - t0;
  assert.equal(String(d), 'still alive');
  c.end();
  c.resume();
  await within(once(c, 'close'), 3000, 'clean close');
  return { connected, echoed };
}

/** A plain TCP connection: { s, got() (bytes received), closed (resolves on 'close'), error() }. */
async function raw(port) {
  const s = net.connect({ host: '127.0.0.1', port });
  const chunks = [];
  let error = null;
  s.on('data', (d) => chunks.push(d));
  s.on('error', (e) => {
    error = e;
  });
  const closed = new Promise((r) => s.once('close', r));
  await within(once(s, 'connect'), 3000, 'TCP connect');
  return { s, localPort: s.localPort, got: () => Buffer.concat(chunks), closed, error: () => error };
}

const write = (s, b) => new Promise((r) => s.write(b, () => r()));

/** `n` copies of `record` in one buffer. */
const times = (record, n) => Buffer.concat(Array.from({ length: n }, () => record));

/** An unencrypted alert record. Levels: 1 warning, 2 fatal. */
const alert = (level, desc, version = 0x0303) =>
  Buffer.from([0x15, version >> 8, version & 0xff, 0, 2, level, desc]);

/**
 * The alert our server sends before it has read a ClientHello: OpenSSL 3 labels the record TLS 1.2
 * (0x0303), LibreSSL TLS 1.0 (0x0301, the legacy record version before one is negotiated).
 */
const earlyAlert = (level, desc) =>
  alert(level, desc, L.backend.crypto.library === 'libressl' ? 0x0301 : 0x0303);

/**
 * Runs a raw attack against `server`: `send(raw)` writes the hostile bytes. Asserts the server's
 * 'tlsClientError' (a TlsError from tls_handshake, with the attacker's address), that our side
 * closed the attacker's connection, and that a real client is served right after. `expect` is a
 * RegExp for a message of this package's own (the same on every backend), or `{ code }`: the
 * failure's code (a string, or `{ openssl, libressl }` where the libraries give different reasons)
 * with a message that says more than libtls's "handshake failed: ".
 */
async function rawAttack(server, send, expect, ms = 3000) {
  const failed = once(server.srv, 'tlsClientError');
  const secure0 = server.sockets.length;
  const r = await raw(server.port);
  const t0 = Date.now();
  await send(r);
  const [err, socket] = await within(failed, ms, 'tlsClientError');
  const failedAfter = Date.now() - t0;
  if (expect instanceof RegExp) assertTlsError(err, 'tls_handshake', expect);
  else assertTlsCode(err, 'tls_handshake', expect.code, /^handshake failed: \S/);
  assert.equal(socket.remoteAddress, '127.0.0.1');
  assert.equal(socket.remotePort, r.localPort);
  await within(r.closed, ms, 'the attacker sees its connection closed');
  assert.equal(server.sockets.length, secure0, 'no secure connection');
  await assertHealthy(server.port);
  return { ...r, err, failedAfter };
}

/** Runs the openssl CLI (async); rejects with its output on failure. */
function openssl(args) {
  return new Promise((resolve, reject) => {
    const p = spawn('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
    });
    p.stderr.on('data', (d) => {
      out += d;
    });
    p.on('error', reject);
    p.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`openssl ${args.join(' ')}:\n${out}`)),
    );
  });
}

/** A leaf certificate and key signed by the test CA, made with `openssl req -x509 -CA`. */
async function makeLeaf(dir, name, subject, exts) {
  const cnf = path.join(dir, 'req.cnf');
  writeFileSync(cnf, '[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n');
  const crt = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  await openssl([
    'req',
    '-x509',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-config',
    cnf,
    '-subj',
    subject,
    '-days',
    '3650',
    '-CA',
    pki('ca.crt'),
    '-CAkey',
    pki('ca.key'),
    '-keyout',
    key,
    '-out',
    crt,
    '-addext',
    'basicConstraints=critical,CA:FALSE',
    '-addext',
    'keyUsage=critical,digitalSignature',
    '-addext',
    'extendedKeyUsage=serverAuth',
    ...exts.flatMap((e) => ['-addext', e]),
  ]);
  return { crt, key };
}

/**
 * A node:tls client (TLS 1.2, ECDHE-ECDSA-AES128-GCM-SHA256) through a proxy to our server, after
 * its handshake: { c, p, keys } with the record keys from its keylog.
 */
async function tls12ViaProxy(server, hooks) {
  const p = await startProxy(server.port, hooks);
  const { c, keys } = await keylogClient(p);
  await waitFor(() => server.sockets.length === 1, 3000);
  return { c, p, keys, rec: server.sockets[0] };
}

/** The server's last encrypted record, opened with the server's keys. */
function lastServerRecord(p, keys) {
  const last = p.s2c.at(-1);
  assert.notEqual(last.seq, null);
  return { type: last.rec[0], plain: open(keys.server, last.seq, last.rec) };
}

// =================================================================================================

describe('junk instead of a ClientHello', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(() => stopServer(server.srv));

  test(
    'an HTTP request: tlsClientError ERR_SSL_HTTP_REQUEST, no alert, the connection closed (on every backend)',
    T,
    async () => {
      const fds0 = openFds();
      // LibreSSL would answer with a protocol_version alert, which a plaintext client never reads:
      // the package sends none there either, and derives the code from the bytes, as OpenSSL does
      const r = await rawAttack(server, (r) => write(r.s, 'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'), {
        code: 'ERR_SSL_HTTP_REQUEST',
      });
      assert.equal(r.got().length, 0, 'no alert to a plaintext HTTP client');
      assert.ok(await waitFor(() => openFds() === fds0 && server.srv.connections === 0, 2000), 'fds back');
    },
  );

  for (const byte of [0x41, 0x16, 0x00]) {
    test(
      `1 MiB of the byte 0x${byte.toString(16).padStart(2, '0')}: tlsClientError ERR_SSL_WRONG_VERSION_NUMBER at once, the connection closed (on every backend)`,
      T,
      async () => {
        const r = await rawAttack(
          server,
          (r) => {
            r.s.write(Buffer.alloc(1024 * 1024, byte));
          },
          { code: 'ERR_SSL_WRONG_VERSION_NUMBER' },
        );
        // refused on the first record header, long before 1 MiB could have been read
        assert.ok(r.failedAfter < 1000, `${r.failedAfter} ms`);
      },
    );
  }

  test(
    'a record header claiming 2^14+2048+1 bytes: ERR_SSL_PACKET_LENGTH_TOO_LONG on the header alone, a record_overflow alert',
    T,
    async () => {
      const header = Buffer.from([0x16, 3, 1, 0, 0]);
      header.writeUInt16BE(2 ** 14 + 2048 + 1, 3);
      const r = await rawAttack(
        server,
        (r) => write(r.s, Buffer.concat([header, hello13.subarray(5, 100)])),
        // LibreSSL reports the alert it sent
        {
          code: {
            openssl: 'ERR_SSL_PACKET_LENGTH_TOO_LONG',
            libressl: 'ERR_SSL_TLSV1_ALERT_RECORD_OVERFLOW',
          },
        },
      );
      assert.deepEqual(r.got(), earlyAlert(2, 22), 'fatal record_overflow');
    },
  );

  test(
    'a plaintext record of 2^14+1 bytes (legal header, body too long): ERR_SSL_DATA_LENGTH_TOO_LONG, record_overflow',
    T,
    async () => {
      const header = Buffer.from([0x16, 3, 1, 0x40, 0x01]);
      const r = await rawAttack(
        server,
        (r) => write(r.s, Buffer.concat([header, Buffer.alloc(2 ** 14 + 1)])),
        {
          code: { openssl: 'ERR_SSL_DATA_LENGTH_TOO_LONG', libressl: 'ERR_SSL_TLSV1_ALERT_RECORD_OVERFLOW' },
        },
      );
      assert.deepEqual(r.got(), earlyAlert(2, 22), 'fatal record_overflow');
    },
  );

  test(
    '10,000 empty handshake records: ERR_SSL_RECORD_TOO_SMALL and an unexpected_message alert',
    T,
    async () => {
      const r = await rawAttack(server, (r) => write(r.s, times(Buffer.from([0x16, 3, 1, 0, 0]), 10_000)), {
        code: { openssl: 'ERR_SSL_RECORD_TOO_SMALL', libressl: 'ERR_SSL_SSLV3_ALERT_UNEXPECTED_MESSAGE' },
      });
      assert.deepEqual(r.got(), earlyAlert(2, 10));
    },
  );

  test(
    '10,000 empty application-data records before any handshake: ERR_SSL_UNEXPECTED_MESSAGE',
    T,
    async () => {
      const r = await rawAttack(server, (r) => write(r.s, times(Buffer.from([0x17, 3, 3, 0, 0]), 10_000)), {
        code: { openssl: 'ERR_SSL_UNEXPECTED_MESSAGE', libressl: 'ERR_SSL_SSLV3_ALERT_UNEXPECTED_MESSAGE' },
      });
      assert.deepEqual(r.got(), earlyAlert(2, 10));
    },
  );

  test(
    '1,000 warning alerts before the ClientHello: refused (OpenSSL: unexpected message); after it: "too many warn alerts", or ignored where capabilities.warningAlerts is unlimited',
    T,
    async () => {
      const warnings = times(alert(1, 90), 1000); // user_canceled, level warning
      if (L.backend.capabilities.warningAlerts === 'unlimited') {
        // LibreSSL reads and ignores every one before a ClientHello and after a TLS 1.2 one: the
        // handshake goes on and fails only when the attacker closes (each alert costs a record's
        // read); its TLS 1.3 server takes none after its ServerHello (unexpected_message at once)
        const closes = /^the peer closed the connection before the TLS handshake completed$/;
        const serverHello = async (r) => {
          await within(
            (async () => {
              while (r.got().length === 0) await sleep(5);
            })(),
            3000,
            'ServerHello',
          );
          r.s.end();
        };
        const tls13After = await rawAttack(server, (r) => write(r.s, Buffer.concat([hello13, warnings])), {
          code: 'ERR_SSL_SSLV3_ALERT_UNEXPECTED_MESSAGE',
        });
        assert.equal(tls13After.got()[0], 0x16, 'a ServerHello first');
        for (const [hello, bytes] of [
          [hello13, Buffer.concat([warnings, hello13])],
          [hello12, Buffer.concat([warnings, hello12])],
          [hello12, Buffer.concat([hello12, warnings])],
        ]) {
          const r = await rawAttack(
            server,
            async (r) => {
              await write(r.s, bytes);
              await serverHello(r);
            },
            closes,
          );
          assert.equal(
            r.got()[0],
            0x16,
            `a ServerHello to the ${hello === hello13 ? 'TLS 1.3' : 'TLS 1.2'} ClientHello`,
          );
        }
        return;
      }
      const before = await rawAttack(server, (r) => write(r.s, warnings), {
        code: 'ERR_SSL_UNEXPECTED_MESSAGE',
      });
      assert.deepEqual(before.got(), earlyAlert(2, 10));
      for (const hello of [hello13, hello12]) {
        const afterHello = await rawAttack(server, (r) => write(r.s, Buffer.concat([hello, warnings])), {
          code: 'ERR_SSL_TOO_MANY_WARN_ALERTS',
        });
        // the server had answered the ClientHello before it read the alerts
        assert.equal(afterHello.got()[0], 0x16, 'a ServerHello');
      }
    },
  );
});

// =================================================================================================

describe('truncated and dropped handshakes', () => {
  let server;
  before(async () => {
    server = await startServer({ handshakeTimeout: 400 });
  });
  after(() => stopServer(server.srv));

  test(
    'a truncated ClientHello, then FIN: ECONNRESET "closed before the TLS handshake completed", a decode_error alert from OpenSSL (none from LibreSSL)',
    T,
    async () => {
      const r = await rawAttack(
        server,
        async (r) => {
          await write(r.s, hello13.subarray(0, 100));
          r.s.end();
        },
        /^the peer closed the connection before the TLS handshake completed$/,
      );
      assert.equal(r.err.code, 'ECONNRESET');
      // the failure of tls_handshake, in the library's words ("unexpected eof while reading" on
      // OpenSSL 3, "unexpected EOF" on LibreSSL)
      assert.ok(r.err.cause instanceof L.TlsError, String(r.err.cause));
      assert.equal(r.err.cause.op, 'tls_handshake');
      assert.equal(r.err.cause.code, 'ECONNRESET');
      assert.match(r.err.cause.message, /^handshake failed: \S/);
      assert.deepEqual(r.got(), L.backend.crypto.library === 'libressl' ? Buffer.alloc(0) : alert(2, 50));
    },
  );

  test('a truncated ClientHello, then RST: code ECONNRESET with its errno', T, async () => {
    const r = await rawAttack(
      server,
      async (r) => {
        await write(r.s, hello13.subarray(0, 100));
        await sleep(20);
        r.s.resetAndDestroy();
      },
      { code: 'ECONNRESET' },
    );
    assert.match(r.err.message, /Connection reset by peer$/);
    assert.equal(r.err.code, 'ECONNRESET');
    assert.equal(r.err.errno, os.constants.errno.ECONNRESET * -1);
  });

  test(
    'a truncated ClientHello, then silence: dropped after handshakeTimeout (400 ms) with no bytes sent back',
    T,
    async () => {
      const r = await rawAttack(
        server,
        (r) => write(r.s, hello13.subarray(0, 100)),
        /^the client did not complete its handshake within 400 ms$/,
      );
      assert.ok(r.failedAfter >= 380 && r.failedAfter < 1500, `${r.failedAfter} ms`);
      assert.equal(r.got().length, 0);
      console.log(
        `# truncated ClientHello + silence: dropped after ${r.failedAfter} ms (handshakeTimeout 400)`,
      );
    },
  );

  for (const [version, hello] of [
    ['TLS 1.3', () => hello13],
    ['TLS 1.2', () => hello12],
  ]) {
    test(
      `a whole ${version} ClientHello, the server's flight received, then FIN or RST mid-handshake`,
      T,
      async () => {
        for (const [how, re] of [
          ['end', /^the peer closed the connection before the TLS handshake completed$/],
          ['resetAndDestroy', { code: 'ECONNRESET' }],
        ]) {
          const r = await rawAttack(
            server,
            async (r) => {
              await write(r.s, hello());
              await within(
                (async () => {
                  while (r.got().length === 0) await sleep(5);
                })(),
                3000,
                'ServerHello',
              );
              r.s[how]();
            },
            re,
          );
          assert.equal(r.got()[0], 0x16, `${how}: the server answered with a handshake record first`);
        }
      },
    );
  }
});

// =================================================================================================

describe('after the handshake, through a man in the middle', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(() => stopServer(server.srv));

  /** Resets the server's record of secure sockets between tests. */
  const fresh = () => {
    server.sockets.length = 0;
  };

  test(
    'records sealed by the proxy are accepted (the control); 32 empty ones in a row too; 10,000 fail the connection (OpenSSL: "record too small" and an alert; LibreSSL: "peer is doing strange or hostile things", no alert)',
    T,
    async () => {
      fresh();
      const { c, p, keys, rec } = await tls12ViaProxy(server);
      try {
        let seq = nextClientSeq(p);
        p.up.write(seal(keys.client, 0x17, seq++, Buffer.from('sealed by the proxy')));
        assert.ok(await waitFor(() => rec.data === 'sealed by the proxy', 3000), rec.data);
        const empty = (n) =>
          Buffer.concat(Array.from({ length: n }, () => seal(keys.client, 0x17, seq++, Buffer.alloc(0))));
        p.up.write(Buffer.concat([empty(32), seal(keys.client, 0x17, seq++, Buffer.from(' +32 empty'))]));
        assert.ok(await waitFor(() => rec.data.endsWith(' +32 empty'), 3000), rec.data);
        const t0 = Date.now();
        p.up.write(empty(10_000));
        await within(rec.closed, 3000, 'server socket close');
        const ms = Date.now() - t0;
        // LibreSSL: SSL_R_PEER_BEHAVING_BADLY, "peer is doing strange or hostile things"
        assertTlsCode(
          rec.error,
          'tls_read',
          {
            openssl: 'ERR_SSL_RECORD_TOO_SMALL',
            libressl: 'ERR_SSL_PEER_IS_DOING_STRANGE_OR_HOSTILE_THINGS',
          },
          /^read failed: \S/,
        );
        assert.equal(rec.data, 'sealed by the proxy +32 empty');
        assert.equal(rec.ended, false);
        if (L.backend.crypto.library === 'libressl') {
          // what the server sent: nothing more (LibreSSL sends no alert for this), then its FIN
          assert.ok(await waitFor(() => p.up.readableEnded || p.up.destroyed, 2000), 'the server closed');
          assert.notEqual(p.s2c.at(-1).rec[0], 0x15, 'no alert');
        } else {
          // what the server sent: a fatal unexpected_message alert under its record keys
          assert.ok(await waitFor(() => p.s2c.at(-1).rec[0] === 0x15, 2000));
          assert.deepEqual(lastServerRecord(p, keys), { type: 0x15, plain: Buffer.from([2, 10]) });
        }
        console.log(`# 10,000 empty records: refused after ${ms} ms`);
      } finally {
        c.destroy();
        p.close();
      }
      await assertHealthy(server.port);
    },
  );

  test(
    '4 warning alerts are tolerated, 1,000 fail the connection ("too many warn alerts"), or are all ignored where capabilities.warningAlerts is unlimited',
    T,
    async () => {
      fresh();
      const { c, p, keys, rec } = await tls12ViaProxy(server);
      try {
        let seq = nextClientSeq(p);
        const warnings = (n) =>
          Buffer.concat(
            Array.from({ length: n }, () => seal(keys.client, 0x15, seq++, Buffer.from([1, 90]))),
          );
        p.up.write(
          Buffer.concat([warnings(4), seal(keys.client, 0x17, seq++, Buffer.from('after 4 warnings'))]),
        );
        assert.ok(await waitFor(() => rec.data === 'after 4 warnings', 3000), rec.data);
        if (L.backend.capabilities.warningAlerts === 'unlimited') {
          p.up.write(
            Buffer.concat([warnings(1000), seal(keys.client, 0x17, seq++, Buffer.from(' and 1,000'))]),
          );
          assert.ok(await waitFor(() => rec.data === 'after 4 warnings and 1,000', 3000), rec.data);
          assert.equal(rec.error ?? null, null);
          assert.equal(rec.ended, false);
          return;
        }
        p.up.write(warnings(1000));
        await within(rec.closed, 3000, 'server socket close');
        assertTlsCode(rec.error, 'tls_read', 'ERR_SSL_TOO_MANY_WARN_ALERTS', /^read failed: \S/);
        assert.equal(rec.data, 'after 4 warnings');
        assert.equal(rec.ended, false);
        assert.ok(await waitFor(() => p.s2c.at(-1).rec[0] === 0x15, 2000));
        assert.deepEqual(lastServerRecord(p, keys), { type: 0x15, plain: Buffer.from([2, 10]) });
      } finally {
        c.destroy();
        p.close();
      }
      await assertHealthy(server.port);
    },
  );

  test(
    'a byte flipped in a client record (TLS 1.3): "bad record mac", nothing of that record delivered, never end',
    T,
    async () => {
      fresh();
      const p = await flipProxy(server.port, 'c2s', 0x40);
      const c = tls.connect({ port: p.port, host: '127.0.0.1', servername: 'localhost', ca: pem('ca.crt') });
      c.on('error', noop);
      try {
        await within(once(c, 'secureConnect'), 5000, 'secureConnect');
        assert.equal(c.getProtocol(), 'TLSv1.3');
        c.write('first record, delivered');
        await waitFor(() => server.sockets.length === 1);
        const rec = server.sockets[0];
        assert.ok(await waitFor(() => rec.data === 'first record, delivered', 3000), rec.data);
        p.flipNext();
        c.write('second record, tampered with on the way');
        await within(rec.closed, 3000, 'server socket close');
        // LibreSSL reports the first error its AEAD queued
        assertTlsCode(
          rec.error,
          'tls_read',
          { openssl: 'ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC', libressl: 'ERR_OSSL_EVP_BAD_DECRYPT' },
          /^read failed: \S/,
        );
        assert.equal(rec.data, 'first record, delivered');
        assert.equal(rec.ended, false);
      } finally {
        c.destroy();
        p.close();
      }
      await assertHealthy(server.port);
    },
  );

  test(
    'a byte flipped in a record from a node:tls server (TLS 1.2) to our connect(): "cipher operation failed", nothing of it delivered',
    T,
    async () => {
      let peer;
      const ns = tls.createServer(
        { cert: pem('server.crt'), key: pem('server.key'), maxVersion: 'TLSv1.2' },
        (s) => {
          peer = s;
          s.on('error', noop);
          s.write('first record, delivered');
        },
      );
      const nsPort = await listen(ns);
      const p = await flipProxy(nsPort, 's2c', 0x01);
      try {
        const c = await connectTo(p.port);
        assert.equal(c.version, 'TLSv1.2');
        let data = '';
        let ended = false;
        c.on('data', (d) => {
          data += d;
        });
        c.on('end', () => {
          ended = true;
        });
        const failed = once(c, 'error');
        assert.ok(await waitFor(() => data === 'first record, delivered', 3000), data);
        p.flipNext();
        peer.write('second record, tampered with on the way');
        const [err] = await within(failed, 3000, "our client's 'error'");
        // libtls reports the first error the library queued: for a TLS 1.2 AES-GCM record OpenSSL
        // 3's provider's failed decryption (then comes "decryption failed or bad record mac"),
        // LibreSSL's EVP "bad decrypt"
        assertTlsCode(
          err,
          'tls_read',
          { openssl: 'ERR_OSSL_CIPHER_OPERATION_FAILED', libressl: 'ERR_OSSL_EVP_BAD_DECRYPT' },
          /^read failed: \S/,
        );
        assert.equal(data, 'first record, delivered');
        assert.equal(ended, false);
        assert.equal(c.destroyed, true);
      } finally {
        p.close();
        ns.close();
      }
    },
  );

  test(
    "a node:tls client in the same process reports its own alert, not the error our server left in OpenSSL's queue (a backend without badRecordMacAlert sends none: the client sees the close)",
    T,
    async () => {
      // libtls binds to node's own OpenSSL (the symbols node exports), so both share the per-thread
      // OpenSSL error queue. After our server's read fails with "bad record mac" it sends the alert;
      // the node:tls client must report that alert ("sslv3 alert bad record mac"), as it does
      // against a node:tls server, and not a stale "decryption failed" left behind by libtls.
      fresh();
      const p = await flipProxy(server.port, 'c2s', 0x40);
      const c = tls.connect({ port: p.port, host: '127.0.0.1', servername: 'localhost', ca: pem('ca.crt') });
      c.resume(); // the echo is read, so that the end of the stream is seen
      const failed = new Promise((resolve) => {
        c.once('error', resolve);
        c.once('close', () => resolve(null));
      });
      try {
        await within(once(c, 'secureConnect'), 5000, 'secureConnect');
        // flip a record of data, not the client's Finished: the server has the connection first
        c.write('first record, delivered');
        await waitFor(() => server.sockets.length === 1);
        const rec = server.sockets[0];
        assert.ok(await waitFor(() => rec.data === 'first record, delivered', 3000), rec.data);
        p.flipNext();
        c.write('tampered with on the way');
        const err = await within(failed, 3000, "node:tls client 'error' or 'close'");
        await within(rec.closed, 3000, 'server socket close');
        assert.ok(rec.error instanceof L.TlsError, String(rec.error));
        assert.equal(rec.error.op, 'tls_read');
        if (L.backend.capabilities.badRecordMacAlert) {
          assert.ok(err instanceof Error, 'the client reports the alert');
          assert.equal(err.code, 'ERR_SSL_SSLV3_ALERT_BAD_RECORD_MAC', err.message);
          assert.match(err.message, /sslv3 alert bad record mac/);
        } else {
          // LibreSSL's TLS 1.3 record layer fails the read and sends no alert: the client sees
          // the transport close, without an alert of any kind
          assert.ok(err === null || !/alert/.test(err.message), String(err));
        }
      } finally {
        c.destroy();
        p.close();
      }
    },
  );

  test(
    'client-initiated renegotiation over TLS 1.2 is refused with a no_renegotiation alert: a warning (OpenSSL: the client gives up with handshake_failure, our socket errors with it) or fatal (LibreSSL: the client reports the alert, our socket errors)',
    T,
    async () => {
      fresh();
      const { c, p, keys, rec } = await tls12ViaProxy(server);
      try {
        let echoed = '';
        c.on('data', (d) => {
          echoed += d;
        });
        c.write('before');
        assert.ok(await waitFor(() => echoed === 'before', 3000), echoed);
        const s2cBefore = p.s2c.length;
        const clientFailed = once(c, 'error');
        assert.equal(
          c.renegotiate({}, () => {}),
          true,
        );
        const [cerr] = await within(clientFailed, 3000, "node:tls client 'error'");
        await within(rec.closed, 3000, 'server socket close');
        // the client really asked: an encrypted ClientHello after the handshake
        const hs = p.c2s.filter((x) => x.seq !== null && x.rec[0] === 0x16);
        assert.equal(hs.length, 2, 'Finished, then the renegotiation ClientHello');
        assert.equal(open(keys.client, hs[1].seq, hs[1].rec)[0], 1, 'a ClientHello');
        // the server's only answer: one no_renegotiation alert, sealed
        const answers = p.s2c.slice(s2cBefore);
        assert.equal(answers.length, 1);
        const alert = open(keys.server, answers[0].seq, answers[0].rec);
        assert.equal(alert.length, 2);
        assert.equal(alert[1], 100, 'no_renegotiation');
        assert.ok(rec.error instanceof L.TlsError, String(rec.error));
        assert.equal(rec.error.op, 'tls_read');
        if (alert[0] === 1) {
          // a warning (OpenSSL): the client gives up with a fatal handshake_failure alert, which
          // is our socket's error
          assert.equal(cerr.code, 'ERR_SSL_NO_RENEGOTIATION');
          assertTlsError(
            rec.error,
            'tls_read',
            /^read failed: error:0A000410:SSL routines::sslv3 alert handshake failure$/,
          );
        } else {
          // fatal (LibreSSL's server, docs/backends.md): the client reports that alert, and our
          // server's read fails with it (LibreSSL queues no reason)
          assert.equal(alert[0], 2);
          assert.equal(cerr.code, 'ERR_SSL_TLSV1_ALERT_NO_RENEGOTIATION');
        }
        assert.equal(rec.data, 'before');
        assert.equal(rec.ended, false);
      } finally {
        c.destroy();
        p.close();
      }
      await assertHealthy(server.port);
    },
  );

  for (const [how, strictClose, outcome] of [
    ['end', false, "a truncated 'end' (socket.truncated), as node:tls"],
    ['end', true, 'with strictClose an ERR_TLS_TRUNCATED error'],
    ['resetAndDestroy', false, 'an ECONNRESET error'],
  ]) {
    test(
      `the proxy forwards half an application-data record, then ${how === 'end' ? 'FIN' : 'RST'}: ${outcome}, nothing of the record`,
      T,
      async () => {
        fresh();
        const strict = strictClose ? await startServer({ strictClose: true }) : null;
        const target = strict ?? server;
        let cut = false;
        const p = await startProxy(target.port, {
          c2s(rec, p) {
            if (!cut || rec[0] !== 0x17) return rec;
            p.up.write(rec.subarray(0, Math.floor(rec.length / 2)), () => p.up[how]());
            return null;
          },
        });
        const c = tls.connect({
          port: p.port,
          host: '127.0.0.1',
          servername: 'localhost',
          ca: pem('ca.crt'),
        });
        c.on('error', noop);
        try {
          await within(once(c, 'secureConnect'), 5000, 'secureConnect');
          c.write('whole record');
          await waitFor(() => target.sockets.length === 1);
          const rec = target.sockets[0];
          assert.ok(await waitFor(() => rec.data === 'whole record', 3000), rec.data);
          cut = true;
          c.write('half of this record arrives');
          await within(rec.closed, 3000, 'server socket close');
          assert.equal(rec.data, 'whole record');
          if (how === 'end' && !strictClose) {
            assert.equal(rec.error, null);
            assert.equal(rec.ended, true);
            assert.equal(rec.socket.truncated, true);
          } else if (how === 'end') {
            assertTlsError(
              rec.error,
              'tls_read',
              /^the peer closed the connection without close_notify: the data may be truncated$/,
            );
            assert.equal(rec.error.code, 'ERR_TLS_TRUNCATED');
            // the failure of tls_read is its cause (libtls's own words: "unexpected eof while
            // reading" on libretls, "EOF without close notify" on LibreSSL)
            assert.ok(rec.error.cause instanceof L.TlsError);
            assert.equal(rec.error.cause.op, 'tls_read');
            assert.equal(rec.error.cause.code, 'ERR_TLS_TRUNCATED');
            assert.equal(rec.ended, false);
          } else {
            assertTlsCode(rec.error, 'tls_read', 'ECONNRESET', /^read failed: .*Connection reset by peer$/);
            assert.equal(rec.ended, false);
            assert.equal(rec.socket.truncated, false);
          }
          await assertHealthy(target.port);
        } finally {
          c.destroy();
          p.close();
          if (strict) await stopServer(strict.srv);
        }
      },
    );
  }
});

// =================================================================================================

describe('slowloris', () => {
  test('200 idle TCP clients and 50 sending a ClientHello byte per 100 ms are all dropped at handshakeTimeout (500 ms); a fresh client is served meanwhile', {
    timeout: 60_000,
  }, async () => {
    // AddressSanitizer (npm run test:asan) slows everything down: stretch the clock with it
    const k = /libasan/.test(process.env.LD_PRELOAD ?? '') ? 4 : 1;
    const server = await startServer({ handshakeTimeout: 500 * k });
    const fds0 = openFds();
    const drops = [];
    const opened = [];
    try {
      const open = async (dribble) => {
        const r = await raw(server.port);
        const t0 = Date.now();
        let sent = 0;
        const timer = dribble
          ? setInterval(() => {
              if (sent < hello13.length && !r.s.destroyed) r.s.write(hello13.subarray(sent, ++sent));
            }, 100)
          : null;
        r.closed.then(() => {
          clearInterval(timer);
          drops.push({ dribble, ms: Date.now() - t0, sent, got: r.got().length });
        });
        opened.push(r);
      };
      const t0 = Date.now();
      await Promise.all([...Array(200).fill(false), ...Array(50).fill(true)].map(open));
      const openMs = Date.now() - t0;
      await sleep(200);
      // mid-attack: 250 connections handshaking, the slow ones still dribbling
      const during = server.srv.connections;
      const fresh = await assertHealthy(server.port);
      await within(
        (async () => {
          while (drops.length < 250) await sleep(20);
        })(),
        5000 * k,
        `all 250 dropped (${drops.length} so far)`,
      );
      const ms = drops.map((d) => d.ms).sort((a, b) => a - b);
      const pct = (q) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))];
      const afterAttack = await assertHealthy(server.port);
      console.log(
        `# slowloris: 250 opened in ${openMs} ms; ${during} open mid-attack; fresh client mid-attack: handshake ${fresh.connected} ms, echo ${fresh.echoed} ms; after: ${afterAttack.connected} / ${afterAttack.echoed} ms; dropped after min ${ms[0]} / median ${pct(0.5)} / p95 ${pct(0.95)} / max ${ms.at(-1)} ms`,
      );
      assert.ok(during >= 250, `${during} connections mid-attack`);
      assert.ok(fresh.echoed < 1000 * k, `a fresh client took ${fresh.echoed} ms mid-attack`);
      assert.ok(ms[0] >= 480 * k, `a client was dropped after ${ms[0]} ms, before handshakeTimeout`);
      assert.ok(ms.at(-1) < 1500 * k, `a client was dropped only after ${ms.at(-1)} ms`);
      const dribblers = drops.filter((d) => d.dribble);
      assert.equal(dribblers.length, 50);
      assert.ok(
        dribblers.every((d) => d.sent >= 3 && d.sent <= 8 * k),
        `bytes sent: ${dribblers.map((d) => d.sent)}`,
      );
      assert.ok(
        drops.every((d) => d.got === 0),
        'no bytes sent to an incomplete ClientHello',
      );
      const timeouts = server.failures.filter(
        (e) =>
          e instanceof L.TlsError &&
          e.op === 'tls_handshake' &&
          e.message === `the client did not complete its handshake within ${500 * k} ms`,
      );
      assert.equal(timeouts.length, 250);
      assert.equal(server.failures.length, 250);
      assert.ok(
        await waitFor(() => openFds() === fds0 && server.srv.connections === 0, 2000),
        `fds ${fds0} -> ${openFds()}`,
      );
    } finally {
      for (const r of opened) r.s.destroy();
      await stopServer(server.srv);
    }
  });
});

// =================================================================================================

describe('certificates that must not verify, against connect()', () => {
  // [label, certificate, server extra, client extra, the client's code, the server's code (the
  // alert it received)]: codes, the meaning on every backend (OpenSSL's and LibreSSL's texts differ)
  const cases = [
    [
      'an expired certificate',
      'expired',
      {},
      {},
      'CERT_HAS_EXPIRED',
      'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED',
    ],
    [
      'a not-yet-valid certificate',
      'notyet',
      {},
      {},
      'CERT_NOT_YET_VALID',
      'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
    ],
    [
      'a revoked certificate (CRL)',
      'revoked',
      {},
      { crlFile: pki('crl.pem') },
      'CERT_REVOKED',
      'ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED',
    ],
    [
      'a revoked certificate (stapled OCSP)',
      'revoked',
      { ocspStapleFile: 'ocsp-revoked.der' },
      {},
      'CERT_REVOKED',
      'ERR_SSL_TLSV1_BAD_CERTIFICATE_STATUS_RESPONSE',
    ],
    [
      'a self-signed certificate',
      'selfsigned',
      {},
      {},
      'DEPTH_ZERO_SELF_SIGNED_CERT',
      'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
    ],
  ];
  for (const [label, name, serverExtra, clientExtra, clientCode, serverCode] of cases) {
    test(
      `${label}: connect() rejects with its reason (TLS 1.2 and 1.3), the server sees the alert, no fd left`,
      T,
      async () => {
        const cfg = serverFor(name);
        if (serverExtra.ocspStapleFile) cfg.setOcspStapleFile(pki(serverExtra.ocspStapleFile));
        const server = await startServer({}, cfg);
        try {
          await sleep(20);
          const fds0 = openFds();
          for (const protocols of ['tlsv1.3', 'tlsv1.2']) {
            const failed = once(server.srv, 'tlsClientError');
            await assert.rejects(
              connectTo(server.port, { config: { caFile: pki('ca.crt'), protocols, ...clientExtra } }),
              tlsCode('tls_handshake', clientCode, /^(certificate verification|ocsp verify) failed: \S/),
            );
            const [serr] = await within(failed, 3000, 'tlsClientError');
            assertTlsCode(serr, 'tls_handshake', serverCode, /^handshake failed: \S/);
          }
          assert.deepEqual(server.sockets, []);
          assert.ok(
            await waitFor(() => openFds() === fds0 && server.srv.connections === 0, 2000),
            `fds ${fds0} -> ${openFds()}`,
          );
        } finally {
          await stopServer(server.srv);
          cfg.free();
        }
      },
    );
  }

  for (const [label, name, code, re] of [
    [
      'a certificate for another name (other.crt)',
      'other',
      'ERR_TLS_CERT_ALTNAME_INVALID',
      /^name `localhost' not present in server certificate$/,
    ],
    [
      'a NUL byte in the SAN (nulsan.crt: "localhost\\0.evil.test")',
      'nulsan',
      // libretls: libtls's name check; LibreSSL: its verifier refuses the certificate (verify.test)
      { openssl: 'ERR_TLS_CERT_ALTNAME_INVALID', libressl: 'UNSPECIFIED' },
      nulSanMessage('localhost'),
    ],
  ]) {
    test(
      `${label}: connect() rejects; the server completed its handshake and sees a truncated end (libtls checks names afterwards, with no alert), unless the verifier refused the certificate first`,
      T,
      async () => {
        const cfg = serverFor(name);
        const server = await startServer({}, cfg);
        // LibreSSL's verifier refuses nulsan.crt during the handshake, with an alert (verify.test)
        const verifierRefuses = name === 'nulsan' && L.backend.crypto.library === 'libressl';
        try {
          for (const protocols of ['tlsv1.3', 'tlsv1.2']) {
            server.sockets.length = 0;
            const failed = verifierRefuses ? once(server.srv, 'tlsClientError') : null;
            await assert.rejects(
              connectTo(server.port, { config: { caFile: pki('ca.crt'), protocols } }),
              tlsCode('tls_handshake', code, re),
            );
            if (verifierRefuses) {
              const [serr] = await within(failed, 3000, 'tlsClientError');
              assertTlsCode(
                serr,
                'tls_handshake',
                'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN',
                /^handshake failed: \S/,
              );
              assert.deepEqual(server.sockets, []);
              server.failures.length = 0;
              continue;
            }
            assert.ok(await waitFor(() => server.sockets.length === 1), 'the server saw a secure connection');
            const rec = server.sockets[0];
            await within(rec.closed, 3000, 'server socket close');
            assert.equal(rec.error, null);
            assert.equal(rec.ended, true);
            assert.equal(rec.socket.truncated, true);
            assert.equal(rec.data, '');
          }
          assert.deepEqual(server.failures, []);
        } finally {
          await stopServer(server.srv);
          cfg.free();
        }
      },
    );
  }
});

// =================================================================================================

describe('name matching on a table of real certificates', () => {
  let dir;
  const certs = {};

  // name -> [subject, extensions (-addext values; no subjectAltName: a CN-only certificate)]
  const specs = {
    wild: [
      '/CN=cn-is-ignored.test',
      ['subjectAltName=DNS:*.example.test,DNS:Mixed.Case.TEST,IP:10.1.2.3,IP:fd00::1'],
    ],
    badwild: [
      '/CN=badwild.test',
      ['subjectAltName=DNS:*.*.example.test,DNS:a*.example.test,DNS:*.test,DNS:10.9.9.9'],
    ],
    cnonly: ['/CN=CN-Only.test', []],
    cnwild: ['/CN=*.cnwild.test', []],
    cnip: ['/CN=10.7.7.7', []],
    twocn: ['/CN=a.twocn.test/CN=b.twocn.test', []],
    space: ['/CN=space.test', ['subjectAltName=DER:30:03:82:01:20']], // one dNSName: " "
    trail: ['/CN=trail.test', ['subjectAltName=DNS:*.test.']],
  };

  let removeDir;
  after(() => removeDir?.());
  before(async () => {
    dir = tempDir((remove) => {
      removeDir = remove;
    });
    await Promise.all(
      Object.entries(specs).map(async ([name, [subject, exts]]) => {
        certs[name] = await makeLeaf(dir, name, subject, exts);
      }),
    );
  });

  /** Rows grouped by certificate, in table order. */
  const byCert = (rows) => {
    const m = new Map();
    for (const r of rows) m.set(r[0], [...(m.get(r[0]) ?? []), r]);
    return m;
  };

  // [certificate, name, connect, contains]: what connect() with that servername does (true:
  // verified; false: "name `...' not present"; a RegExp: that verification error; null: not a
  // name to connect with) and what peerCertContainsName(name) returns after a handshake.
  // Observed on libretls 3.7.0; each rule is libtls's tls_match_name()/tls_check_name().
  const table = [
    // *.example.test: exactly one label, case-insensitive; a name with no host part never matches
    ['wild', 'a.example.test', true, true],
    ['wild', 'A.EXAMPLE.TEST', true, true],
    ['wild', 'xn--bcher-kva.example.test', true, true],
    ['wild', 'example.test', false, false],
    ['wild', 'a.b.example.test', false, false],
    ['wild', 'aexample.test', false, false],
    ['wild', '.example.test', false, false],
    // connect() strips one trailing dot from the servername before verifying it; the raw check does not
    ['wild', 'a.example.test.', true, false],
    // plain DNS names compare case-insensitively
    ['wild', 'mixed.case.test', true, true],
    ['wild', 'MIXED.CASE.TEST', true, true],
    // the CN is not consulted when the certificate has a SAN
    ['wild', 'cn-is-ignored.test', false, false],
    // IP SANs: the exact address, any IPv6 spelling, no IPv4-mapped or neighbouring address
    ['wild', '10.1.2.3', true, true],
    ['wild', '10.1.2.4', false, false],
    ['wild', 'fd00::1', true, true],
    ['wild', 'FD00:0:0:0:0:0:0:1', true, true],
    ['wild', 'fd00::2', false, false],
    ['wild', '::ffff:10.1.2.3', false, false],
    // *.*.example.test and a*.example.test are no wildcards for libtls (only a leading "*." is;
    // they match only themselves, literally); *.test is refused (a wildcard needs two labels
    // after it); a DNS SAN never matches an IP address
    ['badwild', 'a.b.example.test', false, false],
    ['badwild', 'x.y.example.test', false, false],
    ['badwild', 'abc.example.test', false, false],
    ['badwild', 'a.example.test', false, false],
    ['badwild', 'x.test', false, false],
    ['badwild', '10.9.9.9', false, false],
    ['badwild', 'badwild.test', false, false],
    ['badwild', 'a*.example.test', null, true],
    ['badwild', '*.*.example.test', null, true],
    // no SAN: libtls falls back to the CN (case-insensitive, a wildcard as in a SAN, an IP verbatim)
    ['cnonly', 'cn-only.test', true, true],
    ['cnonly', 'CN-ONLY.TEST', true, true],
    ['cnonly', 'other.test', false, false],
    ['cnwild', 'a.cnwild.test', true, true],
    ['cnwild', 'cnwild.test', false, false],
    ['cnwild', 'a.b.cnwild.test', false, false],
    ['cnip', '10.7.7.7', true, true],
    ['cnip', '10.7.7.8', false, false],
    // two CNs: libretls 3.7 uses the first one (newer OpenBSD libtls refuses such a subject)
    ['twocn', 'a.twocn.test', true, true],
    ['twocn', 'b.twocn.test', false, false],
    // a dNSName of " " is refused for every name, even the CN
    ['space', 'space.test', /^error verifying name 'space\.test': a dNSName of " " must not be used$/, false],
    ['space', 'other.test', /^error verifying name 'other\.test': a dNSName of " " must not be used$/, false],
    // "*.test." (a trailing dot) passes libtls's "two labels after the wildcard" rule: the raw
    // check matches "x.test." (a wildcard over a top-level domain); connect() is not fooled, since
    // it strips the servername's trailing dot first
    ['trail', 'x.test.', false, true],
    ['trail', 'x.test', false, false],
  ];

  /** The error connect() gives for `host` when the name is not in the certificate. */
  const notPresent = (host) =>
    new RegExp(
      `^name \`${host.replace(/\.$/, '').replace(/[.*]/g, '\\$&')}' not present in server certificate$`,
    );

  // servernames of the table that are no host names (an empty label): refused by connect() itself
  // where backend.capabilities.invalidServername is 'refused'
  const notHostnames = ['.example.test'];

  test('connect() verifies each name as the table says (verification on, servername = the name), or refuses one that is no host name where the backend checks the SNI', {
    timeout: 30_000,
  }, async () => {
    let checked = 0;
    for (const [name, rows] of byCert(table.filter((r) => r[2] !== null))) {
      const cfg = new L.Config({ certFile: certs[name].crt, keyFile: certs[name].key });
      const server = await startServer({}, cfg);
      try {
        for (const [, host, expected] of rows) {
          const r = await connectTo(server.port, { servername: host }).then(
            (s) => {
              s.destroy();
              return true;
            },
            (e) => e,
          );
          if (name === 'twocn' && !L.backend.capabilities.multipleCommonNames) {
            // LibreSSL's libtls refuses a subject with several CNs as malformed, whatever the name
            assert.ok(r instanceof L.TlsError, `${name} / ${host}: ${r}`);
            assert.equal(r.op, 'tls_handshake');
          } else if (expected === true) {
            assert.equal(r, true, `${name} / ${host}: ${r?.message}`);
          } else if (
            r instanceof L.TlsError &&
            /^certificate verification failed: unsupported or invalid name syntax$/.test(r.message)
          ) {
            // LibreSSL's chain verifier refuses a malformed name (the dNSName " ", a NUL) as
            // invalid name syntax before libtls's own name check runs: refused one step earlier
            // (docs/backends.md)
            assert.equal(r.op, 'tls_handshake');
          } else if (notHostnames.includes(host) && L.backend.capabilities.invalidServername === 'refused') {
            // LibreSSL checks the SNI: a name that is no host name never leaves the client
            assertTlsCode(r, 'tls_connect_socket', 'ERR_SSL_SSL3_EXT_INVALID_SERVERNAME');
          } else {
            assert.ok(r instanceof L.TlsError, `${name} / ${host}: expected a TlsError, got ${r}`);
            assertTlsError(r, 'tls_handshake', expected === false ? notPresent(host) : expected);
          }
          checked++;
        }
      } finally {
        await stopServer(server.srv);
        cfg.free();
      }
    }
    assert.equal(checked, table.filter((r) => r[2] !== null).length);
  });

  test(
    'peerCertContainsName() after a handshake agrees with the table, literal wildcards and trailing dots included',
    T,
    async () => {
      for (const [name, rows] of byCert(table)) {
        const scfg = new L.Config({ certFile: certs[name].crt, keyFile: certs[name].key });
        // the chain is not verified either: this is about name matching, and LibreSSL's verifier
        // refuses space.crt's dNSName (" ") as invalid name syntax before any name is matched
        const ccfg = clientConfig({ insecure: { noVerifyName: true, noVerifyCert: true } });
        const r = await pairHandshake(scfg, ccfg, 'unrelated.test');
        try {
          if (name === 'twocn' && !L.backend.capabilities.multipleCommonNames) {
            // LibreSSL's libtls refuses a subject with several CNs as malformed, whatever the
            // client verifies: the handshake fails, and there is no peer certificate to ask
            assert.ok(r.clientError instanceof L.TlsError, `${name}: ${r.clientError}`);
            assert.equal(r.clientError.op, 'tls_handshake');
            continue;
          }
          assert.equal(r.clientError, undefined, `${name}: ${r.clientError}`);
          for (const [, host, , expected] of rows) {
            assert.equal(r.cli.peerCertContainsName(host), expected, `${name} / ${host}`);
          }
        } finally {
          freePair(r);
          scfg.free();
          ccfg.free();
        }
      }
    },
  );
});

// =================================================================================================

describe('OCSP in the states the other files do not reach', () => {
  const good = () => pem('ocsp-good.der');

  test(
    'a client whose handshake failed verification: ocspProcessResponse() and the getters throw "handshake has not completed"',
    T,
    async () => {
      const scfg = serverFor('expired');
      const ccfg = clientConfig();
      const r = await pairHandshake(scfg, ccfg);
      try {
        assertTlsError(r.clientError, 'tls_handshake', /certificate has expired/);
        throwsTls(
          () => r.cli.ocspProcessResponse(good()),
          'tls_ocsp_process_response',
          /handshake has not completed/,
        );
        throwsTls(() => r.cli.peerOcspUrl(), 'tls_peer_ocsp_url', /handshake has not completed/);
        // and the failed handshake stays failed: a second call does not pretend to complete it
        assert.throws(() => r.cli.handshake(), L.TlsError);
      } finally {
        freePair(r);
        scfg.free();
        ccfg.free();
      }
    },
  );

  test(
    'a client whose handshake failed on a revoked staple (libtls set up its OCSP state mid-handshake): every OCSP call throws instead of reading it',
    T,
    async () => {
      const scfg = serverFor('revoked').setOcspStapleFile(pki('ocsp-revoked.der'));
      const ccfg = clientConfig();
      const r = await pairHandshake(scfg, ccfg);
      try {
        assertTlsError(r.clientError, 'tls_handshake', /^ocsp verify failed: revoked cert - keyCompromise$/);
        for (const [m, op] of [
          ['ocspProcessResponse', 'tls_ocsp_process_response'],
          ['peerOcspCertStatus', 'tls_peer_ocsp_cert_status'],
          ['peerOcspCrlReason', 'tls_peer_ocsp_crl_reason'],
          ['peerOcspResult', 'tls_peer_ocsp_result'],
          ['peerOcspUrl', 'tls_peer_ocsp_url'],
        ]) {
          throwsTls(() => r.cli[m](pem('ocsp-revoked.der')), op, /handshake has not completed/);
        }
      } finally {
        freePair(r);
        scfg.free();
        ccfg.free();
      }
    },
  );

  test(
    'after reset(), a handshaken client refuses OCSP calls ("handshake has not completed") until it handshakes again',
    T,
    async () => {
      const scfg = serverConfig();
      const ccfg = clientConfig();
      const r = await pairHandshake(scfg, ccfg);
      try {
        assert.equal(r.clientError, undefined);
        assert.equal(r.cli.peerOcspUrl(), 'http://127.0.0.1:8888/ocsp');
        r.cli.reset();
        for (const [m, op] of [
          ['ocspProcessResponse', 'tls_ocsp_process_response'],
          ['peerOcspUrl', 'tls_peer_ocsp_url'],
          ['peerOcspCertStatus', 'tls_peer_ocsp_cert_status'],
        ]) {
          throwsTls(() => r.cli[m](good()), op, /handshake has not completed/);
        }
      } finally {
        freePair(r);
        scfg.free();
        ccfg.free();
      }
    },
  );

  test(
    'TlsSocket.ocsp is null on a server socket and on a client first asked after destroy(); context is then null',
    T,
    async () => {
      const scfg = serverConfig({ ocspStaple: good() });
      const seen = [];
      const server = await startServer({}, scfg);
      server.srv.on('secureConnection', (s) => seen.push(s));
      try {
        const opts = { config: { caFile: pki('ca.crt'), ocspRequireStapling: true } };
        const c = await connectTo(server.port, opts);
        assert.equal(c.ocsp.certStatus, L.OCSP_CERT_GOOD);
        assert.equal(c.ocsp.result, 'good');
        assert.equal(c.ocsp.crlReason, null, 'no CRL reason for a good certificate');
        assert.ok(await waitFor(() => seen.length === 1));
        assert.equal(seen[0].ocsp, null);
        throwsTls(
          () => seen[0].context.ocspProcessResponse(good()),
          'tls_ocsp_process_response',
          /only available on a client/,
        );
        c.destroy();
        const c2 = await connectTo(server.port, opts);
        c2.destroy();
        assert.equal(c2.context, null);
        assert.equal(c2.ocsp, null);
        assert.equal(c2.version, null);
      } finally {
        await stopServer(server.srv);
        scfg.free();
      }
    },
  );
  test(
    'a stapled OCSP response saying "unknown" passes the handshake even with ocspRequireStapling (libtls accepts it): socket.ocsp shows OCSP_CERT_UNKNOWN',
    T,
    async (t) => {
      let remove;
      const dir = tempDir((r) => {
        remove = r;
      });
      t.after(() => remove());
      // a certificate of the test CA that the CA database (index.txt) does not know: the responder
      // answers "unknown" for it
      const leaf = await makeLeaf(dir, 'unknown', '/CN=localhost', [
        'subjectAltName=DNS:localhost',
        'authorityInfoAccess=OCSP;URI:http://127.0.0.1:8888/ocsp',
      ]);
      writeFileSync(path.join(dir, 'index.txt'), pem('index.txt'));
      writeFileSync(path.join(dir, 'index.txt.attr'), 'unique_subject = no\n');
      const der = path.join(dir, 'unknown.der');
      await openssl([
        'ocsp',
        '-index',
        path.join(dir, 'index.txt'),
        '-rsigner',
        pki('ocsp.crt'),
        '-rkey',
        pki('ocsp.key'),
        '-CA',
        pki('ca.crt'),
        '-issuer',
        pki('ca.crt'),
        '-cert',
        leaf.crt,
        '-no_nonce',
        '-ndays',
        '7',
        '-respout',
        der,
      ]);
      assert.match(
        await openssl(['ocsp', '-respin', der, '-resp_text', '-noverify']),
        /Cert Status: unknown/,
      );
      const scfg = new L.Config({ certFile: leaf.crt, keyFile: leaf.key }).setOcspStapleFile(der);
      const server = await startServer({}, scfg);
      try {
        for (const protocols of ['tlsv1.3', 'tlsv1.2']) {
          const c = await connectTo(server.port, {
            config: { caFile: pki('ca.crt'), ocspRequireStapling: true, protocols },
          });
          assert.equal(c.ocsp.certStatus, L.OCSP_CERT_UNKNOWN);
          assert.equal(c.ocsp.result, 'unknown');
          assert.equal(c.ocsp.responseStatus, L.OCSP_RESPONSE_SUCCESSFUL);
          assert.equal(c.ocsp.crlReason, null);
          assert.equal(c.ocsp.revocationTime, null);
          c.destroy();
        }
      } finally {
        await stopServer(server.srv);
        scfg.free();
      }
    },
  );
});
