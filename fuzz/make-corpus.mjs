// Writes the seed corpora of the libFuzzer harnesses into fuzz/corpus/ from the test PKI
// (sh test/fixtures/make-pki.sh) and the built package (npm run build): a few valid PEM inputs for
// the config loaders, OCSP responses, and a ClientHello and a TLS 1.2 server flight recorded over
// libtls's callback transport. Run once after changing a harness's input format:
//   node fuzz/make-corpus.mjs
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as L from '../dist/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const pki = (n) => readFileSync(path.join(here, '..', 'test', 'fixtures', 'pki', n));
const SEP = Buffer.from('\n%%\n');
const put = (dir, name, ...parts) => {
  mkdirSync(path.join(here, 'corpus', dir), { recursive: true });
  writeFileSync(path.join(here, 'corpus', dir, name), Buffer.concat(parts.map((p) => Buffer.from(p))));
};
for (const d of ['config', 'ocsp', 'peer'])
  rmSync(path.join(here, 'corpus', d), { recursive: true, force: true });

// config: byte 0 = loaders (see fuzz_config.c), then parts separated by "\n%%\n"
const b = (n) => Buffer.from([n]);
put('config', 'ca', b(0x01), pki('ca.crt'));
put('config', 'cert-key', b(0x06), pki('server.crt'), SEP, pki('server.key'));
put('config', 'keypair', b(0x20), pki('server.crt'), SEP, pki('server.key'));
put(
  'config',
  'keypair-staple',
  b(0x50),
  pki('server.crt'),
  SEP,
  pki('server.key'),
  SEP,
  pki('ocsp-good.der'),
);
put('config', 'ca-crl', b(0x09), pki('ca.crt'), SEP, SEP, pki('crl.pem'));
put('config', 'rsa-add-keypair', b(0xa0), pki('server-rsa.crt'), SEP, pki('server-rsa.key'));

// ocsp: DER responses for (and not for) the server certificate
for (const n of ['ocsp-good.der', 'ocsp-revoked.der', 'ocsp-stale.der', 'ocsp-garbage.der'])
  put('ocsp', n, pki(n));

// peer: byte 0 = mode (bit 7 client, bits 0-6 chunk size), then the peer's bytes
function clientHello(config) {
  const writes = [];
  const cli = L.client(config);
  cli.connectCbs(
    () => L.WANT_POLLIN,
    (chunk) => {
      writes.push(Buffer.from(chunk));
      return chunk.length;
    },
    'localhost',
  );
  const r = cli.handshake();
  if (r !== L.WANT_POLLIN || writes.length === 0) throw new Error('no ClientHello recorded');
  cli.free();
  return writes[0];
}
const ca = { caFile: path.join(here, '..', 'test', 'fixtures', 'pki', 'ca.crt') };
const hello = clientHello(new L.Config({ ...ca, alpn: ['h2', 'http/1.1'] }));
put('peer', 'clienthello', b(0x00), hello);
put('peer', 'clienthello-bytewise', b(0x01), hello);
const hello12 = clientHello(new L.Config({ ...ca, protocols: 'tlsv1.2' }));
put('peer', 'clienthello-tls12', b(0x00), hello12);

// the server's first flight for a TLS 1.2 ClientHello (certificate in the clear), for client mode
const flight = [];
const srv = L.server(
  new L.Config({
    certFile: path.join(here, '..', 'test', 'fixtures', 'pki', 'server.crt'),
    keyFile: path.join(here, '..', 'test', 'fixtures', 'pki', 'server.key'),
  }),
);
let fed = 0;
const acc = srv.acceptCbs(
  (size) => {
    if (fed === hello12.length) return L.WANT_POLLIN;
    const part = hello12.subarray(fed, fed + size);
    fed += part.length;
    return part;
  },
  (chunk) => {
    flight.push(Buffer.from(chunk));
    return chunk.length;
  },
);
if (acc.handshake() !== L.WANT_POLLIN || flight.length === 0) throw new Error('no server flight recorded');
put('peer', 'server-flight-tls12', b(0x80), Buffer.concat(flight));
acc.free();
srv.free();
console.log('fuzz/corpus written');
