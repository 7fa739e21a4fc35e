#!/usr/bin/env node
// STARTTLS: a connection starts in plaintext (a greeting, a STARTTLS command, a go-ahead), then
// both ends switch to TLS on the same TCP socket with upgrade(). Server and client run here, on
// 127.0.0.1, with a line protocol in the style of SMTP.
//
//   node examples/starttls.mjs
//
// Files: $LIBTLS_CA, $LIBTLS_CERT / $LIBTLS_KEY, else ca.crt, server.crt / server.key of
// $LIBTLS_PKI (default: the test PKI, test/fixtures/pki).
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { upgrade } from '../dist/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkiDir = process.env.LIBTLS_PKI ?? path.join(here, '..', 'test', 'fixtures', 'pki');
const file = (envName, name) => process.env[envName] ?? path.join(pkiDir, name);

/**
 * Reads one plaintext line. Whatever came after it is already TLS: it is returned as `rest`,
 * for upgrade()'s `head`. The stream is left paused, with no 'data' listener of ours.
 */
function readLine(stream) {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      stream.off('data', onData).off('error', reject).pause();
      resolve({ line: buf.subarray(0, nl).toString().trimEnd(), rest: buf.subarray(nl + 1) });
    };
    stream.on('data', onData).once('error', reject).resume();
  });
}

const server = net.createServer(async (raw) => {
  try {
    raw.write('220 localhost ready\r\n');
    const { line, rest } = await readLine(raw);
    if (line !== 'STARTTLS') {
      raw.end('500 say STARTTLS first\r\n');
      return;
    }
    raw.write('220 go ahead\r\n');
    const tls = await upgrade(raw, {
      mode: 'server',
      config: { certFile: file('LIBTLS_CERT', 'server.crt'), keyFile: file('LIBTLS_KEY', 'server.key') },
      head: rest,
      timeout: 5000,
    });
    tls.setEncoding('utf8');
    for await (const text of tls) tls.write(`250 you said: ${text.trimEnd()}\r\n`);
    tls.end();
  } catch (err) {
    console.error(`server: ${err.message}`);
    raw.destroy();
  }
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));

const raw = net.connect(server.address().port, '127.0.0.1');
try {
  console.log(`S: ${(await readLine(raw)).line}`);
  console.log('C: STARTTLS');
  raw.write('STARTTLS\r\n');
  const goAhead = await readLine(raw);
  console.log(`S: ${goAhead.line}`);
  if (!goAhead.line.startsWith('220')) throw new Error('the server refused STARTTLS');

  // from here on the same TCP connection carries TLS
  const tls = await upgrade(raw, {
    mode: 'client',
    servername: 'localhost',
    config: { caFile: file('LIBTLS_CA', 'ca.crt') },
    head: goAhead.rest,
    timeout: 5000,
  });
  console.log(`-- ${tls.version} with ${tls.cipher}, server ${tls.peerCertificate.subject} --`);
  tls.setEncoding('utf8');
  console.log('C: hello, encrypted');
  tls.end('hello, encrypted\r\n');
  for await (const text of tls) process.stdout.write(`S: ${text}`.replace(/\r\n/g, '\n'));
} catch (err) {
  console.error(`client: ${err.message}`);
  process.exitCode = 1;
} finally {
  raw.destroy();
  server.close();
}
