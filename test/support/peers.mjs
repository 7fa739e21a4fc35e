// Drivers for handshakes of the 1:1 API against real peers (openssl s_server / s_client) and between
// our own contexts, each released after its test; openssl helpers for certificates and dates.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync } from 'node:fs';
import net from 'node:net';
import {
  L,
  listen,
  opensslServer,
  pairHandshake,
  pki,
  raceTimeout,
  sha256,
  startPeer,
  untilDone,
  waitFor,
} from './helpers.mjs';
import { snapshot } from './servers.mjs';

/**
 * Frees/closes/kills everything registered, in reverse order, after the test; with `back`, then
 * asserts that the process holds the fds and active handles it held when the scope began.
 */
export function scope(t, { back = false } = {}) {
  const items = [];
  const before = back ? snapshot() : null;
  t.after(async () => {
    for (const f of items.reverse()) {
      try {
        await f();
      } catch {
        // best effort: the test already reported what matters, and the counts below decide
      }
    }
    if (before) {
      const same = () => {
        const now = snapshot();
        return now.fds === before.fds && now.resources === before.resources;
      };
      const ok = await waitFor(same, 3000);
      const now = snapshot();
      assert.ok(ok, `fds ${before.fds} -> ${now.fds}, handles [${before.resources}] -> [${now.resources}]`);
    }
  });
  return {
    own(obj) {
      items.push(() => obj.free());
      return obj;
    },
    fd(fd) {
      items.push(() => closeSync(fd));
      return fd;
    },
    peer(p) {
      items.push(() => p.kill());
      return p;
    },
    defer(fn) {
      items.push(fn);
    },
  };
}

/** pairHandshake whose contexts, configs and fds are all released after the test. */
export async function pair(s, serverCfg, clientCfg, servername = 'localhost') {
  s.own(serverCfg);
  s.own(clientCfg);
  const r = await pairHandshake(serverCfg, clientCfg, servername);
  s.fd(r.fds[0]);
  s.fd(r.fds[1]);
  s.own(r.srv);
  s.own(r.acc);
  s.own(r.cli);
  return r;
}

/** `openssl s_server` with `args` that accepts `naccept` connections; killed after the test. */
export async function osslServer(s, args, naccept = 1) {
  return s.peer(await opensslServer(args, { naccept }));
}

/**
 * Our client against a separate process (openssl s_server), with the blocking calls: connect,
 * handshake, `inspect(cli)` on success, then close and free (so s_server moves on to its next
 * connection). Returns { err } or { value: inspect's result }.
 */
export function handshakeWith(port, config, servername, inspect = () => undefined) {
  const cli = L.client(config);
  try {
    cli.connectServername('127.0.0.1', port, servername);
    try {
      cli.handshake();
    } catch (err) {
      return { err };
    }
    const value = inspect(cli);
    cli.close();
    return { value };
  } finally {
    cli.free();
    config.free();
  }
}

/** The text `openssl x509 -in FILE ARGS` prints. */
export function x509(file, ...args) {
  return execFileSync('openssl', ['x509', '-in', pki(file), ...args], { encoding: 'utf8' });
}

/** A date openssl prints ("Nov 26 17:13:12 2026 GMT") as epoch seconds. */
export function opensslDate(text) {
  const ms = Date.parse(text.trim());
  assert.ok(Number.isFinite(ms), `cannot parse date ${JSON.stringify(text)}`);
  return ms / 1000;
}

/** "SHA256:<hex>" of a PEM certificate file's DER, via `openssl x509 -outform der`. */
export function opensslHash(file) {
  const der = execFileSync('openssl', ['x509', '-in', pki(file), '-outform', 'der']);
  return `SHA256:${sha256(der)}`;
}

/**
 * Our server on 127.0.0.1 (a net.Server whose sockets are taken over with takeFd): each connection
 * is accepted by `cfg`'s server context, handshaken non-blockingly, recorded, sent "hello\n" and
 * closed. `results` gets { ...info(acc) } or { err }.
 */
export async function ourServer(s, cfg, info = () => ({})) {
  const srv = L.server(s.own(cfg));
  const results = [];
  const pending = [];
  const ns = net.createServer({ pauseOnConnect: true });
  ns.on('connection', (sock) => {
    pending.push(
      (async () => {
        const fd = L.takeFd(sock);
        const acc = srv.acceptSocket(fd);
        try {
          await untilDone(() => acc.handshake(), fd);
          results.push({ ...info(acc) });
          await untilDone(() => acc.write('hello\n'), fd);
          await untilDone(() => acc.close(), fd);
        } catch (err) {
          results.push({ err });
        } finally {
          acc.free();
          closeSync(fd);
        }
      })(),
    );
  });
  const port = await listen(ns);
  const close = async () => {
    await Promise.all(pending);
    await new Promise((resolve) => ns.close(resolve));
    srv.free();
  };
  s.defer(close);
  return { port, results, close };
}

/** An `info` for ourServer(): the version and whether the session was resumed. */
export const resumption = (acc) => ({ version: acc.connVersion(), resumed: acc.connSessionResumed() });

/**
 * Runs `openssl s_client` against 127.0.0.1:port until it exits (bounded), with `input` as its
 * stdin (-ign_eof: it then waits for the server to close); returns { code, signal, out }.
 */
export async function sClient(s, port, args, input = '') {
  const p = s.peer(
    await startPeer(
      'openssl',
      ['s_client', '-connect', `127.0.0.1:${port}`, '-CAfile', pki('ca.crt'), '-ign_eof', ...args],
      { ready: () => true },
    ),
  );
  p.proc.stdin.on('error', () => {}); // EPIPE when s_client exits before reading its stdin
  p.proc.stdin.end(input);
  const exit = await raceTimeout(p.exited, 8000, 'timeout');
  assert.notEqual(exit, 'timeout', `openssl s_client did not exit:\n${p.output()}`);
  return { ...exit, out: p.output() };
}
