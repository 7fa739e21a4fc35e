#!/usr/bin/env node
// node:http's client over libtls: an http.Agent whose connections are libtls TlsSockets.
//
//   node examples/http-agent.mjs URL [--ca FILE] [--count N]
//
// Sends N (default 2) GET requests one after the other on a keep-alive Agent and prints, for each,
// the status, whether the connection was reused, the TLS version, then the body.
// The CA: --ca, else $LIBTLS_CA, else ca.crt of $LIBTLS_PKI (default: the test PKI).
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Agent } from '../dist/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkiDir = process.env.LIBTLS_PKI ?? path.join(here, '..', 'test', 'fixtures', 'pki');
const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    ca: { type: 'string', default: process.env.LIBTLS_CA ?? path.join(pkiDir, 'ca.crt') },
    count: { type: 'string', default: '2' },
  },
});
const url = positionals[0];
if (url === undefined) {
  console.error('usage: node examples/http-agent.mjs URL [--ca FILE] [--count N]');
  process.exit(2);
}

const agent = new Agent({ keepAlive: true, config: { caFile: opt.ca } });

function get(n) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent }, (res) => {
      const socket = res.socket; // detached from the response once it went back to the pool
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const how = req.reusedSocket ? 'reused connection' : 'new connection';
        console.log(`request ${n}: status ${res.statusCode}, ${how}, ${socket.version}`);
        process.stdout.write(Buffer.concat(chunks));
        resolve();
      });
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

try {
  for (let i = 1; i <= Number(opt.count); i++) await get(i);
} catch (err) {
  console.error(`request failed: ${err.name}: ${err.message}`);
  process.exitCode = 1;
} finally {
  agent.destroy();
}
