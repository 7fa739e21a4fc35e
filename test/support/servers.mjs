// Shared by the server, HTTP and libtls/tls tests: running external commands (curl, h2load) bounded in
// time, the fd and active-handle accounting every scenario does, and closing servers bounded.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { openFds, pki, sleep, waitFor, within } from './helpers.mjs';

/**
 * Runs a command asynchronously, collecting its output; SIGKILLed after `ms`, and when `onStart`
 * (called with the process, to feed its stdin, and a function returning the output so far)
 * throws. Resolves with { code, signal, stdout (a string; a Buffer with `bytes`), stderr (string) }.
 */
export async function run(cmd, args, { ms = 15_000, onStart, env, stdin = 'ignore', bytes = false } = {}) {
  const proc = spawn(cmd, args, { stdio: [stdin, 'pipe', 'pipe'], env: env ?? process.env });
  const out = [];
  let err = '';
  proc.stdout.on('data', (d) => out.push(d));
  proc.stderr.on('data', (d) => {
    err += d;
  });
  proc.stdin?.on('error', () => {}); // the peer may exit before reading its input
  const exited = new Promise((resolve) => proc.on('close', (code, signal) => resolve({ code, signal })));
  const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
  try {
    if (onStart) await onStart(proc, () => Buffer.concat(out).toString('latin1') + err);
    const { code, signal } = await exited;
    const stdout = Buffer.concat(out);
    return { code, signal, stdout: bytes ? stdout : stdout.toString(), stderr: err };
  } finally {
    clearTimeout(timer);
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
  }
}

export const curlTo = (port) => [
  '-sS',
  '--cacert',
  pki('ca.crt'),
  '--resolve',
  `localhost:${port}:127.0.0.1`,
];

/**
 * What this process holds open: fds, and the active handles and requests by type (not an
 * immediate: it runs within the turn, and a snapshot taken while one is queued would never match;
 * nor a close request still pending from an earlier test).
 */
export function snapshot() {
  const resources = process
    .getActiveResourcesInfo()
    .filter((r) => r !== 'Immediate' && r !== 'CloseReq')
    .sort()
    .join(',');
  return { fds: openFds(), resources };
}

/** Waits (bounded) until the process holds what `before` recorded again; asserts it. */
export async function assertBack(before, what = 'the scenario') {
  const same = () => {
    const now = snapshot();
    return now.fds === before.fds && now.resources === before.resources;
  };
  await waitFor(same, 3000);
  const now = snapshot();
  assert.equal(now.fds, before.fds, `${what}: open fds ${before.fds} -> ${now.fds}`);
  assert.equal(now.resources, before.resources, `${what}: active resources`);
}

/**
 * Runs `fn` and asserts that afterwards the process has the fds and active handles it had before
 * (the server `fn` opens must have closed, through its close() callback).
 */
export async function noLeaks(what, fn) {
  // what an earlier scenario left closing (a CloseReq, a socket on its way out) is not counted
  let before = snapshot();
  for (let i = 0; i < 40; i++) {
    await sleep(25);
    const now = snapshot();
    if (now.fds === before.fds && now.resources === before.resources && !now.resources.includes('CloseReq'))
      break;
    before = now;
  }
  const r = await fn();
  await assertBack(before, what);
  return r;
}

/** Closes a server (ours or Node's), dropping open HTTP connections first; asserts the callback ran without error. */
export async function closeServer(srv) {
  srv.closeAllConnections?.();
  const err = await within(new Promise((r) => srv.close(r)), 5000, 'server.close() calling back');
  assert.equal(err, undefined, `server.close() called back with ${err}`);
}
