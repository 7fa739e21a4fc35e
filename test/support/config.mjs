// Drivers shared by the test/api/config-*.test.mjs files: handshakes between Configs (in process
// and against openssl s_server), argument-error checks, and session files.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, fchmodSync, openSync } from 'node:fs';
import path from 'node:path';
import { after } from 'node:test';
import { freePair, L, opensslServer, pairHandshake, pki, tempDir, untilDone } from './helpers.mjs';

const { Config, TlsError } = L;

const removals = [];

/** A fresh temp dir, removed once this file's tests are done. */
const tmpDir = () => tempDir((remove) => removals.push(remove));

let serverHashCache;

/** Asserts that `fn` throws exactly `cls` (TypeError / RangeError) with a message matching `re`. */
export function throwsArg(fn, cls, re) {
  assert.throws(fn, (e) => {
    assert.equal(e?.constructor, cls, `expected ${cls.name}, got ${e?.name}: ${e?.message}`);
    assert.ok(!(e instanceof TlsError));
    assert.match(e.message, re);
    return true;
  });
}

/** Runs `fn(cfg)` on a fresh Config and frees it. */
export function withConfig(fn) {
  const c = new Config();
  try {
    return fn(c);
  } finally {
    c.free();
  }
}

/**
 * Handshakes `cli` against `srv` over a socketpair (helpers' pairHandshake), collects what was
 * negotiated, and frees everything: contexts, fds and both configs.
 */
export async function handshake(srv, cli, { servername = 'localhost', inspect, stopClient } = {}) {
  let r;
  try {
    r = await pairHandshake(srv, cli, servername, { stopClient });
  } finally {
    srv.free();
    cli.free();
  }
  try {
    const ok = r.clientError === undefined && r.serverError === undefined;
    const out = { ok, clientError: r.clientError, serverError: r.serverError };
    if (ok) {
      Object.assign(out, {
        version: r.cli.connVersion(),
        cipher: r.cli.connCipher(),
        alpn: r.cli.connAlpnSelected(),
        serverAlpn: r.acc.connAlpnSelected(),
        peerHash: r.cli.peerCertHash(),
        peerSubject: r.cli.peerCertSubject(),
        clientCertProvided: r.acc.peerCertProvided(),
        clientSubject: r.acc.peerCertProvided() ? r.acc.peerCertSubject() : null,
      });
      if (inspect) Object.assign(out, inspect(r));
    }
    return out;
  } finally {
    freePair(r);
  }
}

/**
 * Connects a libtls client with `cli` to an `openssl s_server` started with `args` (a separate
 * process, so the blocking connect()/handshake() are fine), collects the outcome, frees and kills.
 */
export async function againstOpenssl(args, cli) {
  let peer;
  try {
    peer = await opensslServer(args);
    const t = L.client(cli);
    try {
      t.connect('127.0.0.1', peer.port);
      try {
        assert.equal(t.handshake(), 0);
      } catch (error) {
        return { ok: false, error };
      }
      return { ok: true, version: t.connVersion(), cipher: t.connCipher(), alpn: t.connAlpnSelected() };
    } finally {
      t.free();
    }
  } finally {
    cli.free();
    if (peer) await peer.kill();
  }
}

/** An fd of a new file `session` (mode 0600 unless `mode` says otherwise) in a fresh temp dir. */
export function sessionFile(mode = 0o600) {
  const fd = openSync(path.join(tmpDir(), 'session'), 'w+', 0o600);
  fchmodSync(fd, mode); // whatever the umask
  return fd;
}

/**
 * Handshakes the contexts `cli` and `srv` over a socketpair (both non-blocking), asserts that both
 * handshakes succeeded, and runs `fn(cli)`; then frees the accepted context, `cli` and `srv`, and
 * closes the fds.
 */
export async function handshakeContexts(srv, cli, fn) {
  const [a, b] = L.socketpair();
  let acc;
  try {
    cli.connectSocket(a, 'localhost');
    acc = srv.acceptSocket(b);
    const res = await Promise.allSettled([
      untilDone(() => cli.handshake(), a),
      untilDone(() => acc.handshake(), b),
    ]);
    assert.deepEqual(
      res.map((x) => x.status),
      ['fulfilled', 'fulfilled'],
    );
    fn(cli);
  } finally {
    acc?.free();
    cli.free();
    srv.free();
    closeSync(a);
    closeSync(b);
  }
}

/** The SHA-256 of server.crt's DER, computed by the openssl command, as libtls formats it. */
export const serverHash = () => {
  if (serverHashCache === undefined) {
    const d = execFileSync('openssl', ['x509', '-in', pki('server.crt'), '-outform', 'DER']);
    serverHashCache = `SHA256:${execFileSync('openssl', ['dgst', '-sha256', '-r'], { input: d }).toString().split(' ')[0]}`;
  }
  return serverHashCache;
};

after(() => {
  for (const remove of removals) remove();
});
