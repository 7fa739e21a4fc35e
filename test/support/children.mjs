// Scenarios that would crash plain libtls run in a child process: the prelude every child starts
// with, running it bounded in time, and reading what it reported.
import assert from 'node:assert/strict';
import { helpersUrl, runNodeScript } from './helpers.mjs';

// Code every child starts with: the helpers, and `outcome(f)`, which turns a call into plain data
// ({ ok: true, v } or { ok: false, name, op, message }) that `report()` sends to the parent; and
// two ways to get a connected pair of contexts, `handshakenPair()` and `cbPair()`.
export const PRELUDE = `
import { closeSync, readFileSync, writeSync } from 'node:fs';
import { L, pki, pem, clientConfig, serverConfig, untilDone, openFds } from ${JSON.stringify(helpersUrl)};
const report = (v) => console.log('RESULT ' + JSON.stringify(v));
const outcome = (f) => {
  try {
    const v = f();
    return { ok: true, v: v === undefined ? null : v };
  } catch (e) {
    return { ok: false, name: e?.name, op: e?.op, message: String(e?.message) };
  }
};
const errOf = (e) => ({ ok: false, name: e?.name, op: e?.op, message: String(e?.message) });
// A client and an accepted server context (the test configs) handshaken over a socketpair.
async function handshakenPair() {
  const [a, b] = L.socketpair();
  const srv = L.server(serverConfig());
  const cli = L.client(clientConfig());
  cli.connectSocket(a, 'localhost');
  const acc = srv.acceptSocket(b);
  await Promise.all([untilDone(() => cli.handshake(), a), untilDone(() => acc.handshake(), b)]);
  return { a, b, srv, cli, acc };
}
// Two contexts talking through tls.h's callback transport over in-memory queues.
function cbPair(hook = () => {}) {
  const toSrv = [];
  const toCli = [];
  const take = (q, n) => {
    if (q.length === 0) return L.WANT_POLLIN;
    const all = Buffer.concat(q.splice(0));
    if (all.length > n) q.push(all.subarray(n));
    return new Uint8Array(all.subarray(0, n));
  };
  const p = { srv: L.server(serverConfig()), cli: L.client(clientConfig()) };
  p.cli.connectCbs(
    (n) => { hook('cli', 'read', p); return take(toCli, n); },
    (c) => { hook('cli', 'write', p); toSrv.push(Buffer.from(c)); return c.length; },
    'localhost',
  );
  p.acc = p.srv.acceptCbs(
    (n) => { hook('acc', 'read', p); return take(toSrv, n); },
    (c) => { hook('acc', 'write', p); toCli.push(Buffer.from(c)); return c.length; },
  );
  return p;
}
`;

/**
 * Runs `body` (ESM, after PRELUDE) in a fresh node process. Resolves with its exit status, signal,
 * output and the values it report()ed. Killed after `timeout` ms (a hang is a failure too).
 */
export async function runChild(body, { gc = false, timeout = 20_000 } = {}) {
  const r = await runNodeScript(PRELUDE + body, { nodeArgs: gc ? ['--expose-gc'] : [], timeout });
  const results = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('RESULT '))
    .map((l) => JSON.parse(l.slice(7)));
  return { ...r, results };
}

/** Asserts the child exited 0 by itself (no crash, no abort, no hang) and returns its reports. */
export async function clean(body, opts) {
  const r = await runChild(body, opts);
  const why = `child status=${r.status} signal=${r.signal} timedOut=${r.timedOut}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
  assert.equal(r.timedOut, false, why);
  assert.equal(r.signal, null, why);
  assert.equal(r.status, 0, why);
  return r.results;
}

/** `o` (an outcome from a child) is a TlsError from `op` whose message matches `re`. */
export function isTlsError(o, op, re, what = '') {
  assert.equal(o?.ok, false, `${what}: expected a TlsError, got ${JSON.stringify(o)}`);
  assert.equal(o.name, 'TlsError', `${what}: ${JSON.stringify(o)}`);
  assert.equal(o.op, op, `${what}: ${JSON.stringify(o)}`);
  assert.match(o.message, re, what);
}
