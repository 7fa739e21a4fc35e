// Shared by the test/node/socket-*.test.mjs files: a createServer() on the test PKI, connect() to
// it, stopping it bounded, and the small handlers and probes the scenarios use.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, before } from 'node:test';
import tls from 'node:tls';
import { clientConfig, L, listen, noop, openFds, pem, serverConfig, waitFor, within } from './helpers.mjs';

/** The timeout of each test of the socket files. */
export const T = { timeout: 20_000 };

let srvCfg; // server.crt / server.key

/** Asserts that within 2 s `also()` holds and this process has `fds0` fds open again. */
export async function assertFdsBack(fds0, also = () => true) {
  assert.ok(await waitFor(() => also() && openFds() === fds0, 2000), `fds ${fds0} -> ${openFds()}`);
}

export let cliCfg; // trusts ca.crt

/** A createServer() listening on `host`; returns it with its port. */
export async function startServer(options, onSecure, host = '127.0.0.1') {
  const srv = L.createServer({ config: srvCfg, ...options }, onSecure);
  return { srv, port: await listen(srv, host) };
}

/** Closes a server, waiting (bounded) for its connections, then frees its context. */
export async function stopServer(srv, ms = 5000) {
  try {
    await within(new Promise((resolve) => srv.close(resolve)), ms, 'server.close()');
  } catch (err) {
    err.message += ` (${srv.connections} connections still open)`;
    throw err;
  }
  srv.context.free();
}

/** A 'secureConnection' handler that only consumes: it sees the peer's end or truncation. */
export const consume = (s) => {
  s.on('error', noop);
  s.resume();
};

/** connect() to our test server on 127.0.0.1 as 'localhost'. */
export const connectTo = (port, extra = {}) =>
  L.connect({ host: '127.0.0.1', port, servername: 'localhost', config: cliCfg, ...extra });

/** A plain TCP connection to 127.0.0.1:port, resolved once connected. */
export async function rawConnect(port) {
  const s = net.connect({ host: '127.0.0.1', port });
  s.on('error', noop);
  await within(once(s, 'connect'), 5000, 'TCP connect');
  return s;
}

before(() => {
  srvCfg = serverConfig();
  cliCfg = clientConfig();
});

after(() => {
  srvCfg.free();
  cliCfg.free();
});

/** A node:tls client of our test server on `port`, over a plain net.Socket `raw` a test can reset. */
export function nodeTlsOverRaw(port) {
  const raw = net.connect({ host: '127.0.0.1', port });
  raw.on('error', noop);
  const c = tls.connect({ socket: raw, ca: pem('ca.crt'), servername: 'localhost' });
  c.on('error', noop);
  return { raw, c };
}
