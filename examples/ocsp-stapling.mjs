#!/usr/bin/env node
// OCSP stapling: the server staples a DER OCSP response for its certificate to the handshake;
// the client requires one (ocspRequireStapling), libtls checks it, and socket.ocsp says what it
// said. Both ends run here, on 127.0.0.1.
//
//   node examples/ocsp-stapling.mjs
//
// Files: $LIBTLS_CA, $LIBTLS_CERT / $LIBTLS_KEY, $LIBTLS_OCSP (the DER response), else ca.crt,
// server.crt / server.key and ocsp-good.der of $LIBTLS_PKI (default: the test PKI). The response
// comes from an OCSP responder (`openssl ocsp -respout`, or the CA's own) and needs refreshing
// before its nextUpdate.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, createServer, OCSP_CERT_GOOD } from '../dist/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkiDir = process.env.LIBTLS_PKI ?? path.join(here, '..', 'test', 'fixtures', 'pki');
const file = (envName, name) => process.env[envName] ?? path.join(pkiDir, name);

const server = createServer(
  {
    config: {
      certFile: file('LIBTLS_CERT', 'server.crt'),
      keyFile: file('LIBTLS_KEY', 'server.key'),
      ocspStapleMem: readFileSync(file('LIBTLS_OCSP', 'ocsp-good.der')),
    },
  },
  (socket) => {
    socket.on('error', () => {});
    socket.end('stapled\n');
  },
);
server.on('tlsClientError', (err) => console.error(`server: ${err.message}`));
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));

try {
  const socket = await connect({
    host: '127.0.0.1',
    port: server.address().port,
    servername: 'localhost',
    // without a valid staple the handshake fails (a revoked one always fails it)
    config: { caFile: file('LIBTLS_CA', 'ca.crt'), ocspRequireStapling: true },
    timeout: 5000,
  });
  const o = socket.ocsp;
  console.log(`connected with ${socket.version} to ${socket.peerCertificate.subject}`);
  console.log(`OCSP status: ${o.result}${o.certStatus === OCSP_CERT_GOOD ? ' (OCSP_CERT_GOOD)' : ''}`);
  console.log(`OCSP this update: ${o.thisUpdate.toISOString()}`);
  console.log(`OCSP next update: ${o.nextUpdate?.toISOString() ?? '(none)'}`);
  console.log(`OCSP responder:   ${o.url ?? '(none in the certificate)'}`);
  socket.resume();
  await new Promise((resolve) => socket.on('end', resolve));
} catch (err) {
  console.error(`failed: ${err.name}: ${err.message}`);
  process.exitCode = 1;
} finally {
  server.close();
}
