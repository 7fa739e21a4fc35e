#!/usr/bin/env node
// A TLS client with connect(): sends a few lines to an echo server and prints what comes back.
//
//   node examples/echo-client.mjs [--host 127.0.0.1] [--port 8443] [--servername localhost] [LINE ...]
//
// The CA: $LIBTLS_CA, else ca.crt of $LIBTLS_PKI (default: the test PKI). Start the server
// first: node examples/echo-server.mjs
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connect } from '../dist/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkiDir = process.env.LIBTLS_PKI ?? path.join(here, '..', 'test', 'fixtures', 'pki');
const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '8443' },
    servername: { type: 'string', default: 'localhost' },
  },
});
const lines = positionals.length > 0 ? positionals : ['hello over libtls', 'and goodbye'];

try {
  // DNS, TCP and the handshake, without blocking the event loop; rejects if verification fails
  const socket = await connect({
    host: opt.host,
    port: Number(opt.port),
    servername: opt.servername, // verified against the certificate, and sent as SNI
    config: { caFile: process.env.LIBTLS_CA ?? path.join(pkiDir, 'ca.crt') },
    timeout: 10_000,
  });
  console.log(`connected with ${socket.version}, ${socket.cipher}`);
  console.log(
    `server certificate: ${socket.peerCertificate.subject}, issued by ${socket.peerCertificate.issuer}`,
  );

  socket.setEncoding('utf8');
  socket.end(`${lines.join('\n')}\n`); // write, then close_notify: the server echoes and closes
  let echoed = '';
  for await (const chunk of socket) echoed += chunk;
  for (const line of echoed.split('\n').filter(Boolean)) console.log(`echoed: ${line}`);
} catch (err) {
  console.error(`echo failed: ${err.name} (${err.op ?? err.code}): ${err.message}`);
  process.exitCode = 1;
}
