// Drivers shared by test/campaigns/interop.test.mjs and the test/api/tls-*.test.mjs files: pairs of
// contexts over socketpairs, driving both handshakes, byte queues and exact reads and writes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { clientConfig, L, serverConfig } from './helpers.mjs';

const isWant = (r) => r === L.WANT_POLLIN || r === L.WANT_POLLOUT;

/** As helpers' untilDone, but polls `fdr` for WANT_POLLIN and `fdw` for WANT_POLLOUT. */
export async function drive(step, fdr, fdw = fdr, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = step();
    if (!isWant(r)) return r;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error('timed out waiting for libtls');
    await L.poll(r === L.WANT_POLLIN ? fdr : fdw, r, { timeout: left });
  }
}

/** Handshakes two non-blocking contexts of this process concurrently; both must return 0. */
export async function bothHandshake(a, afds, b, bfds) {
  const [ra, rb] = await Promise.all([
    drive(() => a.handshake(), ...afds),
    drive(() => b.handshake(), ...bfds),
  ]);
  assert.equal(ra, 0);
  assert.equal(rb, 0);
}

/** Non-blocking: reads until `n` bytes arrived (or the end of stream); returns them. */
export async function readBytes(ctx, n, fdr, fdw = fdr, ms = 5000) {
  const parts = [];
  let got = 0;
  const deadline = Date.now() + ms;
  while (got < n) {
    const r = await drive(
      () => ctx.read(Math.min(65536, n - got)),
      fdr,
      fdw,
      Math.max(1, deadline - Date.now()),
    );
    if (r === null) break;
    parts.push(r);
    got += r.length;
  }
  return Buffer.concat(parts);
}

/** Non-blocking: writes all of `data`, repeating the same call after WANT_*. */
export async function writeAll(ctx, data, fdr, fdw = fdr, ms = 5000) {
  const buf = Buffer.from(data);
  let off = 0;
  const deadline = Date.now() + ms;
  while (off < buf.length) {
    const chunk = buf.subarray(off, off + 16384);
    const n = await drive(() => ctx.write(chunk), fdr, fdw, Math.max(1, deadline - Date.now()));
    assert.ok(n > 0 && n <= chunk.length, `write returned ${n}`);
    off += n;
  }
  return off;
}

/** An in-memory byte queue: the ciphertext one side's write callback hands to the other. */
export class ByteQueue {
  chunks = [];
  length = 0;
  push(b) {
    if (b.length === 0) return;
    this.chunks.push(b);
    this.length += b.length;
  }
  /** Up to `n` bytes, or null when empty. */
  take(n) {
    if (this.length === 0) return null;
    const out = [];
    let want = n;
    while (want > 0 && this.chunks.length > 0) {
      const c = this.chunks[0];
      if (c.length <= want) {
        out.push(c);
        this.chunks.shift();
        want -= c.length;
      } else {
        out.push(c.subarray(0, want));
        this.chunks[0] = c.subarray(want);
        want = 0;
      }
    }
    const b = Buffer.concat(out);
    this.length -= b.length;
    return b;
  }
}

export const closeFds = (...fds) => {
  for (const fd of fds) {
    try {
      fs.closeSync(fd);
    } catch {}
  }
};

/**
 * A client and an accepted server context (serverConfig/clientConfig), handshaken non-blocking over
 * a socketpair (client on `a`, server on `b`); `done()` frees the contexts and configs, closes the fds.
 */
export async function pair() {
  const [a, b] = L.socketpair();
  const scfg = serverConfig();
  const ccfg = clientConfig();
  const srv = L.server(scfg);
  const cli = L.client(ccfg);
  cli.connectSocket(a, 'localhost');
  const acc = srv.acceptSocket(b);
  const done = () => {
    cli.free();
    acc.free();
    srv.free();
    scfg.free();
    ccfg.free();
    closeFds(a, b);
  };
  try {
    await bothHandshake(cli, [a], acc, [b]);
  } catch (err) {
    done();
    throw err;
  }
  return { cli, acc, a, b, done };
}

/**
 * A server and a client context on the test configs (serverConfig(), clientConfig()). `free(acc)`
 * frees the client, `acc` (the accepted context, if any), the server and both configs.
 */
export function contexts() {
  const scfg = serverConfig();
  const ccfg = clientConfig();
  const srv = L.server(scfg);
  const cli = L.client(ccfg);
  const free = (acc) => {
    cli.free();
    acc?.free();
    srv.free();
    scfg.free();
    ccfg.free();
  };
  return { srv, cli, free };
}
