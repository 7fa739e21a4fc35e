// Shared test helpers: fixture paths, real peers (openssl, gnutls) on 127.0.0.1, and drivers for
// the non-blocking 1:1 API. Every wait is bounded in time.
import { spawn } from 'node:child_process';
import { closeSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as L from '../dist/index.js';

export { L };

const here = path.dirname(fileURLToPath(import.meta.url));
/** Absolute path of a file of the test PKI (made by test/fixtures/make-pki.sh). */
export const pki = (name) => path.join(here, 'fixtures', 'pki', name);
export const pem = (name) => readFileSync(pki(name));

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
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Starts a peer process (e.g. openssl s_server) and collects its output. `ready(output)` says when
 * it is up, else `port` is waited for. Returns { proc, output(), kill(), exited }.
 */
export async function startPeer(cmd, args, { port, ready, ms = 8000, stdin = 'pipe' } = {}) {
  const proc = spawn(cmd, args, { stdio: [stdin, 'pipe', 'pipe'] });
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
        await new Promise((r) => setTimeout(r, 20));
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

/** Drives `step()` (a libtls call) until it returns something other than WANT_*, polling `fd`. */
export async function untilDone(step, fd, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = step();
    if (r !== L.WANT_POLLIN && r !== L.WANT_POLLOUT) return r;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error('timed out waiting for libtls');
    await L.poll(fd, r, { timeout: left });
  }
}

/** Handshakes a client and an accepted server context over a socketpair, both non-blocking. */
export async function pairHandshake(serverConfig, clientConfig, servername = 'localhost') {
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
  const settle = (p) =>
    p.then(
      (v) => ({ v }),
      (e) => ({ e }),
    );
  const [c, s] = await Promise.all([
    settle(untilDone(() => cli.handshake(), a)),
    settle(untilDone(() => acc.handshake(), b)),
  ]);
  return { cli, srv, acc, fds: [a, b], clientError: c.e, serverError: s.e };
}

/** Number of open fds of this process. */
export function openFds() {
  return readdirSync('/proc/self/fd').length;
}

/** A server Config with the test server certificate. */
export function serverConfig(extra = {}) {
  return new L.Config({ certFile: pki('server.crt'), keyFile: pki('server.key'), ...extra });
}

/** A client Config trusting the test CA. */
export function clientConfig(extra = {}) {
  return new L.Config({ caFile: pki('ca.crt'), ...extra });
}
