#!/usr/bin/env node
// A TLS echo server with createServer(): each connection gets back what it sends.
//
//   node examples/echo-server.mjs [--port 8443] [--once] [--seconds 60]
//
// --once: stop after the first connection closes; --seconds N: stop after N seconds (default 60).
// Certificate and key: $LIBTLS_CERT / $LIBTLS_KEY, else server.crt / server.key of $LIBTLS_PKI
// (default: the test PKI, test/fixtures/pki; make it with `sh test/fixtures/make-pki.sh`).
// Try it with examples/echo-client.mjs, or `openssl s_client -connect 127.0.0.1:8443`.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createServer } from '../dist/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkiDir = process.env.LIBTLS_PKI ?? path.join(here, '..', 'test', 'fixtures', 'pki');
const { values: opt } = parseArgs({
  options: {
    port: { type: 'string', default: '8443' },
    once: { type: 'boolean', default: false },
    seconds: { type: 'string', default: '60' },
  },
});

const config = {
  certFile: process.env.LIBTLS_CERT ?? path.join(pkiDir, 'server.crt'),
  keyFile: process.env.LIBTLS_KEY ?? path.join(pkiDir, 'server.key'),
};

const server = createServer({ config }, (socket) => {
  // 'secureConnection': the handshake is done, the socket is a Duplex of plaintext
  const peer = `${socket.remoteAddress}:${socket.remotePort}`;
  console.log(`${peer}: connected with ${socket.version}, ${socket.cipher}`);
  let bytes = 0;
  socket.on('data', (d) => {
    bytes += d.length;
  });
  socket.on('error', (err) => console.error(`${peer}: ${err.message}`));
  socket.on('close', () => {
    console.log(`${peer}: closed after echoing ${bytes} bytes`);
    if (opt.once) stop('served one connection');
  });
  socket.pipe(socket); // echo; ends (close_notify) when the client ends
});

// a client that fails its handshake (bad certificate, not TLS at all, too slow) lands here
server.on('tlsClientError', (err, socket) => {
  console.error(`handshake with ${socket?.remoteAddress ?? 'a client'} failed: ${err.message}`);
});

function stop(why) {
  console.log(`stopping (${why})`);
  server.close(() => console.log('server closed'));
}
const timer = setTimeout(() => stop(`${opt.seconds} s elapsed`), Number(opt.seconds) * 1000);
server.on('close', () => clearTimeout(timer));
process.once('SIGINT', () => stop('SIGINT'));
process.once('SIGTERM', () => stop('SIGTERM'));

server.listen(Number(opt.port), '127.0.0.1', () => {
  console.log(`echo server listening on 127.0.0.1:${server.address().port}`);
});
