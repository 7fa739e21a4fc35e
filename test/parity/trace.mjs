// Records what a socket does, as a list of events comparable between the two stacks.
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';

/** fds of this process. */
export const openFds = () => readdirSync('/proc/self/fd').length;

/** Active resources that are not timers (timers come and go with the test runner's own). */
export const handles = () =>
  process
    .getActiveResourcesInfo()
    .filter((r) => r !== 'Timeout' && r !== 'Immediate')
    .sort()
    .join(',');

/**
 * Follows `socket`, appending to `events`: 'end', 'finish', 'close' (with hadError), 'error' (its
 * code), 'timeout'. With `read`, it also reads and records what arrived (length and sha256) at
 * 'end' or 'close'. Returns a promise settled at 'close'.
 */
export function watch(socket, events, { read = false } = {}) {
  let bytes = 0;
  const hash = createHash('sha256');
  let reported = false;
  const report = () => {
    if (!read || reported) return;
    reported = true;
    events.push(`received ${bytes} ${hash.copy().digest('hex').slice(0, 16)}`);
  };
  if (read) {
    socket.on('data', (d) => {
      bytes += d.length;
      hash.update(d);
    });
  }
  socket.on('end', () => {
    report();
    events.push('end');
  });
  socket.on('finish', () => events.push('finish'));
  socket.on('timeout', () => events.push('timeout'));
  socket.on('error', (err) => events.push(`error ${err.code ?? err.name}`));
  return new Promise((resolve) => {
    socket.on('close', (hadError) => {
      report();
      events.push(`close${hadError ? ' hadError' : ''}`);
      resolve();
    });
  });
}

/** Resolves once `pred()` holds, polling, or with false after `ms`. */
export async function until(pred, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (pred()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return pred();
}

/** Rejects after `ms` with `what` in the message, else settles as `p`. */
export function bounded(p, ms, what) {
  let timer;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
    }),
  ]);
}
