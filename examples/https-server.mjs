#!/usr/bin/env node
// An HTTPS server: node:http parses the requests, libtls runs the TLS (createHttpsServer).
//
//   node examples/https-server.mjs [--port 8443] [--host 127.0.0.1] [--once] [--seconds N]
//
// --once: exit after serving one request; --seconds N: exit after N seconds; SIGINT/SIGTERM: exit.
// Certificate and key: $LIBTLS_CERT / $LIBTLS_KEY, else server.crt / server.key from $LIBTLS_PKI
// (default: the test PKI, test/fixtures/pki; make it with `sh test/fixtures/make-pki.sh`).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createHttpsServer } from '../dist/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkiDir = process.env.LIBTLS_PKI ?? path.join(here, '..', 'test', 'fixtures', 'pki');
const { values: opt } = parseArgs({
  options: {
    port: { type: 'string', default: '8443' },
    host: { type: 'string', default: '127.0.0.1' },
    once: { type: 'boolean', default: false },
    seconds: { type: 'string' },
  },
});

const server = createHttpsServer(
  {
    config: {
      certFile: process.env.LIBTLS_CERT ?? path.join(pkiDir, 'server.crt'),
      keyFile: process.env.LIBTLS_KEY ?? path.join(pkiDir, 'server.key'),
    },
  },
  (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const tls = req.socket; // a libtls TlsSocket
      console.log(`${req.method} ${req.url} from ${tls.remoteAddress} over ${tls.version}`);
      if (opt.once) res.setHeader('connection', 'close');
      res.setHeader('content-type', 'text/plain; charset=utf-8');
      res.end(
        `hello from libtls: ${req.method} ${req.url} over ${tls.version} (${tls.cipher})` +
          (body.length > 0 ? `, ${body.length} bytes received` : '') +
          '\n',
      );
      if (opt.once) res.on('finish', () => shutdown('served one request'));
    });
  },
);

server.on('tlsClientError', (err, socket) => {
  console.error(`TLS handshake failed with ${socket?.remoteAddress ?? 'a client'}: ${err.message}`);
});

let closing = false;
let deadline;
function shutdown(why) {
  if (closing) return;
  closing = true;
  clearTimeout(deadline);
  console.log(`closing (${why})`);
  server.closeIdleConnections();
  server.close(() => console.log('closed'));
  // connections still busy after 2 s are not waited for
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));
if (opt.seconds !== undefined) {
  deadline = setTimeout(() => shutdown(`${opt.seconds} s elapsed`), Number(opt.seconds) * 1000);
}

server.listen(Number(opt.port), opt.host, () => {
  const { port } = server.address();
  console.log(`listening on https://localhost:${port}/`);
});
