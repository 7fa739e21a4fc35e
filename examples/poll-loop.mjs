#!/usr/bin/env node
// libtls's non-blocking loop with the 1:1 API: libtls contexts on a socketpair, every call
// repeated after `await poll(fd, want)` when it returns WANT_POLLIN or WANT_POLLOUT. This is the
// C/Lua way of using libtls, on Node's event loop (poll() never blocks it).
//
//   node examples/poll-loop.mjs
//
// Files: $LIBTLS_CA, $LIBTLS_CERT / $LIBTLS_KEY, else ca.crt, server.crt / server.key of
// $LIBTLS_PKI (default: the test PKI, test/fixtures/pki).
import { closeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Config, client, poll, server, socketpair, WANT_POLLIN, WANT_POLLOUT } from '../dist/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkiDir = process.env.LIBTLS_PKI ?? path.join(here, '..', 'test', 'fixtures', 'pki');
const file = (envName, name) => process.env[envName] ?? path.join(pkiDir, name);

/**
 * Calls `call()` until it returns something other than WANT_POLLIN / WANT_POLLOUT, waiting for
 * `fd` to be ready in the direction libtls asked for. libtls's rule: the retry is the *same* call
 * with the *same* arguments.
 */
async function drive(fd, call) {
  for (;;) {
    const r = call();
    if (r !== WANT_POLLIN && r !== WANT_POLLOUT) return r;
    await poll(fd, r, { timeout: 5000 });
  }
}

/** tls_write may take fewer bytes than given: write the rest, each retry with the same bytes. */
async function writeAll(fd, ctx, text) {
  const data = Buffer.from(text);
  for (let off = 0; off < data.length; ) off += await drive(fd, () => ctx.write(data.subarray(off)));
}

const serverConfig = new Config()
  .setCertFile(file('LIBTLS_CERT', 'server.crt'))
  .setKeyFile(file('LIBTLS_KEY', 'server.key'));
const clientConfig = new Config().setCaFile(file('LIBTLS_CA', 'ca.crt'));
const srv = server(serverConfig);
const cli = client(clientConfig);
const [a, b] = socketpair(); // a: the client's end, b: the server's
let conn;
try {
  cli.connectSocket(a, 'localhost'); // the name to verify, and SNI
  conn = srv.acceptSocket(b); // a new context for this connection

  // both handshakes progress together, each waiting on its own fd
  await Promise.all([drive(a, () => cli.handshake()), drive(b, () => conn.handshake())]);
  console.log(`handshake done: ${cli.connVersion()}, ${cli.connCipher()}`);
  console.log(`client sees ${cli.peerCertSubject()} (${cli.peerCertHash()})`);
  console.log(`server sees SNI ${conn.connServername()}`);

  await writeAll(a, cli, 'ping');
  const got = await drive(b, () => conn.read()); // a Buffer, or null at close_notify
  console.log(`server read "${got}"`);
  await writeAll(b, conn, `pong (${got})`);
  console.log(`client read "${await drive(a, () => cli.read())}"`);

  // close_notify both ways; after it the peer's read returns null (end of stream)
  await drive(a, () => cli.close());
  console.log(`server read after the client's close: ${await drive(b, () => conn.read())}`);
  await drive(b, () => conn.close());
} finally {
  conn?.free();
  cli.free();
  srv.free();
  serverConfig.free();
  clientConfig.free();
  closeSync(a);
  closeSync(b);
}
