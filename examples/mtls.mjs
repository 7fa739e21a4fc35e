#!/usr/bin/env node
// Mutual TLS: the server requires a client certificate signed by its CA (verifyClient), the
// client presents one (certFile/keyFile). Both ends run here, on 127.0.0.1; then a client
// without a certificate shows how the server turns it away.
//
//   node examples/mtls.mjs
//
// Files: $LIBTLS_CA, $LIBTLS_CERT / $LIBTLS_KEY (server), $LIBTLS_CLIENT_CERT / $LIBTLS_CLIENT_KEY,
// else ca.crt, server.*, client.* of $LIBTLS_PKI (default: the test PKI, test/fixtures/pki).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, createServer } from '../dist/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkiDir = process.env.LIBTLS_PKI ?? path.join(here, '..', 'test', 'fixtures', 'pki');
const file = (envName, name) => process.env[envName] ?? path.join(pkiDir, name);
const caFile = file('LIBTLS_CA', 'ca.crt');

const server = createServer(
  {
    config: {
      certFile: file('LIBTLS_CERT', 'server.crt'),
      keyFile: file('LIBTLS_KEY', 'server.key'),
      caFile, // the CA that signs client certificates
      verifyClient: true, // require one ('optional': verify one if sent)
    },
  },
  (socket) => {
    const who = socket.peerCertificate; // verified by libtls before 'secureConnection'
    console.log(`server: client certificate ${who.subject}, issued by ${who.issuer}`);
    socket.on('error', () => {});
    socket.end(`hello ${who.subject}\n`);
  },
);
server.on('tlsClientError', (err) => console.log(`server: rejected a client: ${err.message}`));
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();

async function client(config) {
  const socket = await connect({ host: '127.0.0.1', port, servername: 'localhost', config, timeout: 5000 });
  socket.setEncoding('utf8');
  let reply = '';
  for await (const chunk of socket) reply += chunk;
  return reply.trim();
}

// 1. with a client certificate
const certFile = file('LIBTLS_CLIENT_CERT', 'client.crt');
const keyFile = file('LIBTLS_CLIENT_KEY', 'client.key');
console.log(`client: server says "${await client({ caFile, certFile, keyFile })}"`);

// 2. without one: with TLS 1.3 the client's handshake completes, and the server's alert
//    arrives with the first read
try {
  await client({ caFile });
  console.log('client: unexpectedly accepted without a certificate');
  process.exitCode = 1;
} catch (err) {
  console.log(`client without a certificate: ${err.name}: ${err.message}`);
}

server.close(() => console.log('done'));
