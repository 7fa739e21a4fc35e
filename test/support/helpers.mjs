// Shared test helpers: fixture paths, real peers (openssl, gnutls) on 127.0.0.1, and drivers for
// the non-blocking 1:1 API. Every wait is bounded in time.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as L from '../../dist/index.js';

export { L };

const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository's root directory (dist/, examples/ and test/ are below it). */
export const root = path.join(here, '..', '..');
/** The file: URL of this module, for child processes' code to import the helpers from. */
export const helpersUrl = import.meta.url;
/** Absolute path of a file of the test PKI (made by test/fixtures/make-pki.sh). */
export const pki = (name) => path.join(root, 'test', 'fixtures', 'pki', name);
/** The bytes of a file of the test PKI (PEM or DER). */
export const pem = (name) => readFileSync(pki(name));
/** `openssl s_server`/`s_client` arguments for the test PKI's `name`.crt and `name`.key. */
export const certArgs = (name) => ['-cert', pki(`${name}.crt`), '-key', pki(`${name}.key`)];

// ---- time, promises and hashes ----

/** Does nothing: the 'error' listener of a socket whose errors a test does not look at, and the like. */
export const noop = () => {};

/** Resolves after `ms` milliseconds. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The SHA-256 of `data` as lowercase hex. */
export const sha256 = (data) => createHash('sha256').update(data).digest('hex');

/** The outcome of a promise as `{ value }` or `{ error }`; never rejects. */
export const settle = (p) =>
  p.then(
    (value) => ({ value }),
    (error) => ({ error }),
  );

/**
 * `promise`'s value, or a rejection naming `what` if it has not settled within `ms` (the timer does
 * not outlive the race).
 */
export async function within(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, t]);
  } finally {
    clearTimeout(timer);
  }
}

/** `promise`'s value, or `fallback` if it has not settled within `ms` (the timer does not outlive the race). */
export async function raceTimeout(promise, ms, fallback) {
  let timer;
  const t = new Promise((resolve) => {
    timer = setTimeout(resolve, ms, fallback);
  });
  try {
    return await Promise.race([promise, t]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits (bounded by `ms`, checking every 10 ms) until `pred()` is true; returns whether it became true. */
export async function waitFor(pred, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) return false;
    await sleep(10);
  }
  return true;
}

/** As waitFor, but throws an Error naming `what` if `pred()` is still false after `ms`. */
export async function until(pred, what, ms = 10_000) {
  if (!(await waitFor(pred, ms))) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

// ---- files and fds ----

/**
 * A fresh directory `libtls-XXXXXX` under the system temp dir; `cleanup(remove)` registers its
 * removal: pass node:test's `after` (at file or describe level) or any function that keeps `remove`
 * for later.
 */
export function tempDir(cleanup) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'libtls-'));
  cleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Frees what `pairHandshake()` made (contexts, then the socketpair's fds). */
export function freePair(r) {
  r.cli.free();
  r.acc.free();
  r.srv.free();
  for (const fd of r.fds) closeSync(fd);
}

/** Number of open fds of this process. */
export function openFds() {
  return readdirSync('/proc/self/fd').length;
}

/** Calls `fn(a, b)` (sync or async) with both ends of a fresh socketpair, then closes them. */
export async function withSocketpair(fn) {
  const [a, b] = L.socketpair();
  try {
    return await fn(a, b);
  } finally {
    closeSync(a);
    closeSync(b);
  }
}

// ---- TCP ----

/** Starts `server` (a net, tls, http(s) or libtls server) on `host`, any port; resolves (bounded) with the port. */
export async function listen(server, host = '127.0.0.1') {
  server.listen(0, host);
  await within(once(server, 'listening'), 5000, 'listen');
  return server.address().port;
}

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port (bounded by `ms`). */
export async function waitForPort(port, ms = 5000, host = '127.0.0.1') {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect({ port, host }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port} after ${ms} ms`);
    await sleep(25);
  }
}

/** A connected client fd to 127.0.0.1:port, taken over (L.takeFd) from a Node socket right on 'connect'. */
export async function tcpFd(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('error', reject);
    s.once('connect', () => {
      try {
        resolve(L.takeFd(s));
      } catch (err) {
        reject(err);
      }
    });
  });
}

/**
 * A TCP listener on 127.0.0.1 that accepts and never answers. Returns { server, sockets (open now),
 * got (the chunks received), port, close() (destroys the sockets, closes the server) }.
 */
export async function silentTcpServer() {
  const sockets = new Set();
  const got = [];
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('data', (d) => got.push(d));
    s.on('error', () => {});
    s.on('end', () => s.destroy());
    s.on('close', () => sockets.delete(s));
  });
  const port = await listen(server);
  return {
    server,
    sockets,
    got,
    port,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** Reads `stream` until 'end' (bounded by `ms`), resolving with the bytes; rejects on 'error'. */
export function readAll(stream, ms = 5000, what = 'end of stream') {
  const parts = [];
  stream.on('data', (d) => parts.push(d));
  return within(
    new Promise((resolve, reject) => {
      stream.once('end', () => resolve(Buffer.concat(parts)));
      stream.once('error', reject);
    }),
    ms,
    what,
  );
}

// ---- peer processes ----

/**
 * Starts a peer process (e.g. openssl s_server) and collects its output. `ready(output)` says when
 * it is up, else `port` is waited for. Returns { proc, output(), kill(), exited }.
 */
export async function startPeer(cmd, args, { port, ready, ms = 8000, stdin = 'pipe', env } = {}) {
  const proc = spawn(cmd, args, { stdio: [stdin, 'pipe', 'pipe'], ...(env ? { env } : {}) });
  let out = '';
  proc.stdout.on('data', (d) => {
    out += d;
  });
  proc.stderr.on('data', (d) => {
    out += d;
  });
  const exited = new Promise((resolve) => proc.on('exit', (code, sig) => resolve({ code, sig })));
  const kill = () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    return exited;
  };
  const timer = setTimeout(kill, 60_000); // never outlive a test
  timer.unref();
  try {
    if (ready) {
      const deadline = Date.now() + ms;
      while (!ready(out)) {
        if (proc.exitCode !== null) throw new Error(`${cmd} exited early:\n${out}`);
        if (Date.now() > deadline) throw new Error(`${cmd} not ready after ${ms} ms:\n${out}`);
        await sleep(20);
      }
    } else if (port) {
      await waitForPort(port, ms);
    }
  } catch (err) {
    await kill();
    throw err;
  }
  return { proc, output: () => out, kill, exited };
}

/** `openssl s_server` on 127.0.0.1 with our server certificate unless `args` says otherwise. */
export async function opensslServer(extra = [], opts = {}) {
  const port = await freePort();
  const args = ['s_server', '-accept', `127.0.0.1:${port}`, '-naccept', String(opts.naccept ?? 1)];
  if (!extra.includes('-cert')) args.push('-cert', pki('server.crt'), '-key', pki('server.key'));
  args.push(...extra);
  const peer = await startPeer('openssl', args, { ready: (o) => o.includes('ACCEPT') });
  return { ...peer, port };
}

/** `gnutls-serv --echo` with our server certificate. Note: it listens on 0.0.0.0 and :: (only ever connect to 127.0.0.1). */
export async function gnutlsServer(extra = []) {
  const port = await freePort();
  const args = [
    '--echo',
    '-q',
    '-p',
    String(port),
    '--x509certfile',
    pki('server.crt'),
    '--x509keyfile',
    pki('server.key'),
    ...extra,
  ];
  // gnutls-serv cannot be told where to listen: the shim narrows its bind() to loopback
  const env = { ...process.env, LD_PRELOAD: loopbackShim() };
  // it writes "Echo Server listening on IPv4 0.0.0.0 port N..." before socket()/bind()/listen()
  // and "done" on the same line after listen(): only "done" means it accepts connections
  const peer = await startPeer('gnutls-serv', args, {
    ready: (o) => /listening on IPv4 [^\n]*\.\.\.done/.test(o),
    env,
  });
  return { ...peer, port };
}

let shimPath;
/** Builds (once per content) test/fixtures/loopback-bind.c into an LD_PRELOAD shim; its path. */
export function loopbackShim() {
  if (shimPath) return shimPath;
  const src = path.join(root, 'test', 'fixtures', 'loopback-bind.c');
  const out = path.join(os.tmpdir(), `libtls-loopback-bind-${sha256(readFileSync(src)).slice(0, 16)}.so`);
  if (!existsSync(out)) {
    const tmp = `${out}.${process.pid}.tmp`;
    execFileSync('cc', ['-shared', '-fPIC', '-O2', '-Wall', '-Werror', '-o', tmp, src, '-ldl']);
    renameSync(tmp, out);
  }
  shimPath = out;
  return out;
}

/** The local addresses (as `ip:port`) of the TCP sockets listening on `port`, from /proc/net. */
export function listeningAddresses(port) {
  const found = [];
  for (const [file, v6] of [
    ['/proc/net/tcp', false],
    ['/proc/net/tcp6', true],
  ]) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 4 || f[3] !== '0A') continue; // 0A: LISTEN
      const [hex, p] = f[1].split(':');
      if (Number.parseInt(p, 16) !== port) continue;
      const bytes = Buffer.from(hex, 'hex');
      // /proc/net prints each 32-bit word in host (little-endian) order
      for (let i = 0; i < bytes.length; i += 4) bytes.subarray(i, i + 4).reverse();
      const ip = v6 ? bytes.toString('hex').replace(/(.{4})(?!$)/g, '$1:') : [...bytes].join('.');
      found.push(`${ip}:${port}`);
    }
  }
  return found;
}

/**
 * Runs `code` (an ES module) in a fresh node process, after the node options `nodeArgs`, collecting
 * its output, with `env` added to its environment; SIGKILLed after `timeout` ms (a hang is then
 * `timedOut`). Resolves once its stdio closed with { status, signal, stdout, stderr, timedOut };
 * rejects if it cannot be spawned.
 */
export function runNodeScript(code, { nodeArgs = [], timeout = 20_000, env = {} } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [...nodeArgs, '--input-type=module', '-e', code], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    proc.stdout.on('data', (d) => {
      stdout += d;
    });
    proc.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      proc.kill('SIGKILL');
    }, timeout);
    proc.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    proc.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr, timedOut });
    });
  });
}

/**
 * Drives `step()` (a libtls call) until it returns something other than WANT_*, polling `fd`.
 * With `stop`, it gives up once `stop()` is true and a step still wants more (polling in short
 * slices to see it): an Error "stopped: ...", the same every time.
 */
export async function untilDone(step, fd, ms = 5000, stop = undefined) {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = step();
    if (r !== L.WANT_POLLIN && r !== L.WANT_POLLOUT) return r;
    if (stop?.()) throw new Error('stopped: the peer failed and sent nothing more');
    const left = deadline - Date.now();
    if (left <= 0) throw new Error('timed out waiting for libtls');
    if (stop === undefined) await L.poll(fd, r, { timeout: left });
    else {
      await L.poll(fd, r, { timeout: Math.min(left, 50) }).catch((e) => {
        if (e?.code !== 'ETIMEDOUT') throw e;
      });
    }
  }
}

/**
 * Handshakes a client and an accepted server context over a socketpair, both non-blocking. With
 * `stopClient`, the client gives up (untilDone's "stopped" Error) when the server has failed and
 * sent nothing more: where a server fails without an alert, a real one closes the connection, and
 * the socketpair stays open.
 */
export async function pairHandshake(
  serverConfig,
  clientConfig,
  servername = 'localhost',
  { stopClient = false } = {},
) {
  const [a, b] = L.socketpair();
  let srv;
  let cli;
  let acc;
  try {
    srv = L.server(serverConfig);
    cli = L.client(clientConfig);
    cli.connectSocket(a, servername);
    acc = srv.acceptSocket(b);
  } catch (err) {
    cli?.free();
    srv?.free();
    closeSync(a);
    closeSync(b);
    throw err;
  }
  let serverFailed = false;
  const [c, s] = await Promise.all([
    settle(untilDone(() => cli.handshake(), a, 5000, stopClient ? () => serverFailed : undefined)),
    settle(
      untilDone(() => acc.handshake(), b).catch((e) => {
        serverFailed = true;
        throw e;
      }),
    ),
  ]);
  return { cli, srv, acc, fds: [a, b], clientError: c.error, serverError: s.error };
}

/** A server Config with the test server certificate. */
export function serverConfig(extra = {}) {
  return new L.Config({ certFile: pki('server.crt'), keyFile: pki('server.key'), ...extra });
}

/** A Config with the test PKI's `name`.crt and `name`.key (e.g. 'expired', 'revoked', 'other'). */
export function serverFor(name, extra = {}) {
  return new L.Config({ certFile: pki(`${name}.crt`), keyFile: pki(`${name}.key`), ...extra });
}

/** A client Config trusting the test CA. */
export function clientConfig(extra = {}) {
  return new L.Config({ caFile: pki('ca.crt'), ...extra });
}

// ---- assertions ----

/** Asserts that `err` is a TlsError from libtls function `op` whose message matches `re`. */
export function assertTlsError(err, op, re) {
  assert.ok(err instanceof L.TlsError, `expected a TlsError, got ${err?.stack ?? err}`);
  assert.equal(err.name, 'TlsError');
  assert.equal(err.op, op);
  assert.match(err.message, re);
}

/**
 * Asserts that `err` is a TlsError from libtls function `op` with the code `code` and a message
 * matching `re` (libtls's own words, the same on every backend, e.g. /^handshake failed: \S/). The
 * failure's meaning is its code, never OpenSSL's wording: OpenSSL 3 and LibreSSL word their
 * reasons differently. Where the two libraries report one failure with different reasons, `code`
 * is `{ openssl, libressl }`, chosen by the crypto library the calls reach (docs/backends.md).
 */
export function assertTlsCode(err, op, code, re = /\S/) {
  assert.ok(err instanceof L.TlsError, `expected a TlsError, got ${err?.stack ?? err}`);
  assert.equal(err.op, op, err.message);
  assert.equal(err.code, expectedCode(code), err.message);
  assert.match(err.message, re);
}

/** `code`, or its entry for the crypto library the calls reach (`{ openssl, libressl }`). */
export function expectedCode(code) {
  if (typeof code === 'string') return code;
  const c = code[L.backend.crypto.library];
  assert.ok(typeof c === 'string', `no expected code for ${L.backend.crypto.library}`);
  return c;
}

/** A validator for assert.throws/assert.rejects: a TlsError from `op` with `code` (assertTlsCode). */
export const tlsCode = (op, code, re) => (err) => {
  assertTlsCode(err, op, code, re);
  return true;
};

/** A validator for assert.throws/assert.rejects: a TlsError from `op` whose message matches `re`. */
export const tlsError = (op, re) => (err) => {
  assertTlsError(err, op, re);
  return true;
};

/** Asserts that `fn` throws a TlsError from libtls function `op` whose message matches `re`. */
export function throwsTls(fn, op, re) {
  assert.throws(fn, tlsError(op, re));
}

/**
 * A TLS 1.3 handshake between libtls peers with disjoint curve lists (pairHandshake with
 * `stopClient`): OpenSSL's server fails with "no suitable key share" and sends a handshake_failure
 * alert; LibreSSL 4.3's fails with "unknown failure occurred" and sends no alert, so its client
 * waits for the connection to close (docs/backends.md).
 */
export function assertDisjointCurves(serverError, clientError) {
  const re = /^handshake failed: \S/;
  assertTlsCode(
    serverError,
    'tls_handshake',
    { openssl: 'ERR_SSL_NO_SUITABLE_KEY_SHARE', libressl: 'ERR_SSL_UNKNOWN_FAILURE_OCCURRED' },
    re,
  );
  if (L.backend.crypto.library === 'libressl') {
    assert.match(String(clientError?.message), /^stopped: the peer failed and sent nothing more$/);
  } else assertTlsCode(clientError, 'tls_handshake', 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE', re);
}

/**
 * The message connect() gives for nulsan.crt (a NUL byte in its dNSName) verified as `host`: libtls's
 * own name check on libretls names the host and the NUL byte; LibreSSL's verifier refuses the
 * certificate before any name is checked, with its reason.
 */
export function nulSanMessage(host) {
  if (L.backend.crypto.library === 'libressl') return /^certificate verification failed: \S/;
  const h = host.replace(/[.*]/g, '\\$&');
  return new RegExp(
    `^error verifying name '${h}': NUL byte in subjectAltName, probably a malicious certificate$`,
  );
}

/**
 * A chain of one intermediate, made in `dir` with openssl: root.crt, inter.crt (a CA under it),
 * leaf.crt/leaf.key (localhost, under inter) and chain.pem (leaf then inter). Returns `name` =>
 * its path.
 */
export function oneIntermediateChain(dir) {
  const o = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const ca = 'basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign\n';
  writeFileSync(path.join(dir, 'ca.ext'), ca);
  writeFileSync(
    path.join(dir, 'leaf.ext'),
    'basicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature\nsubjectAltName=DNS:localhost\n',
  );
  o(
    'req',
    '-x509',
    '-new',
    ...ec,
    '-keyout',
    'root.key',
    '-subj',
    '/CN=depth root',
    '-days',
    '3650',
    '-addext',
    'basicConstraints=critical,CA:true',
    '-addext',
    'keyUsage=critical,keyCertSign',
    '-out',
    'root.crt',
  );
  o('req', '-new', ...ec, '-keyout', 'inter.key', '-subj', '/CN=depth intermediate', '-out', 'inter.csr');
  o(
    'x509',
    '-req',
    '-in',
    'inter.csr',
    '-CA',
    'root.crt',
    '-CAkey',
    'root.key',
    '-set_serial',
    '2',
    '-days',
    '3650',
    '-extfile',
    'ca.ext',
    '-out',
    'inter.crt',
  );
  o('req', '-new', ...ec, '-keyout', 'leaf.key', '-subj', '/CN=localhost', '-out', 'leaf.csr');
  o(
    'x509',
    '-req',
    '-in',
    'leaf.csr',
    '-CA',
    'inter.crt',
    '-CAkey',
    'inter.key',
    '-set_serial',
    '3',
    '-days',
    '3650',
    '-extfile',
    'leaf.ext',
    '-out',
    'leaf.crt',
  );
  writeFileSync(
    path.join(dir, 'chain.pem'),
    Buffer.concat([readFileSync(path.join(dir, 'leaf.crt')), readFileSync(path.join(dir, 'inter.crt'))]),
  );
  return (name) => path.join(dir, name);
}
