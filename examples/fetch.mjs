#!/usr/bin/env node
// fetch() over libtls: undici's Agent with libtls's connector() as its `connect` function.
//
//   node examples/fetch.mjs URL [--ca FILE] [--data STRING] [--header 'name: value' ...]
//
// Prints the status line, then the body. With --data the request is a POST of STRING.
// The CA: --ca, else $LIBTLS_CA, else ca.crt of $LIBTLS_PKI (default: the test PKI).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { fetch, Agent as UndiciAgent } from 'undici';
import { connector } from '../dist/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkiDir = process.env.LIBTLS_PKI ?? path.join(here, '..', 'test', 'fixtures', 'pki');
const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    ca: { type: 'string', default: process.env.LIBTLS_CA ?? path.join(pkiDir, 'ca.crt') },
    data: { type: 'string' },
    header: { type: 'string', multiple: true, default: [] },
  },
});
const url = positionals[0];
if (url === undefined) {
  console.error('usage: node examples/fetch.mjs URL [--ca FILE] [--data STRING]');
  process.exit(2);
}

const dispatcher = new UndiciAgent({ connect: connector({ config: { caFile: opt.ca } }) });
try {
  const headers = Object.fromEntries(
    opt.header.map((h) => [h.slice(0, h.indexOf(':')).trim(), h.slice(h.indexOf(':') + 1).trim()]),
  );
  const res = await fetch(url, {
    dispatcher,
    method: opt.data === undefined ? 'GET' : 'POST',
    body: opt.data,
    headers,
  });
  console.log(`status ${res.status} ${res.statusText}`);
  process.stdout.write(await res.text());
} catch (err) {
  // fetch wraps the connection's error: show the whole chain (a TlsError says what libtls saw)
  const chain = [];
  for (let e = err; e instanceof Error; e = e.cause) chain.push(`${e.name}: ${e.message}`);
  console.error(`fetch failed: ${chain.join(' <- ')}`);
  process.exitCode = 1;
} finally {
  await dispatcher.close();
}
