// Shared by the test/node/ upgrade, HTTP and examples files: running a command bounded in time, closing
// servers bounded, and HTTPS servers on the test PKI.
import http from 'node:http';
import https from 'node:https';
import { L, listen, pem, pki, within } from './helpers.mjs';
import { run as runCommand } from './servers.mjs';

const { createHttpsServer } = L;

const serverOpts = () => ({ certFile: pki('server.crt'), keyFile: pki('server.key') });

/** servers.mjs's run() with stdin piped (for `onStart` to feed), stdout as a Buffer, 10 s by default. */
export const run = (cmd, args, opts = {}) =>
  runCommand(cmd, args, { ms: 10_000, stdin: 'pipe', bytes: true, ...opts });

/** Closes one of our TlsServer/HttpsServer (dropping open HTTP connections first), bounded. */
export async function closeServer(srv) {
  srv.closeAllConnections?.();
  await within(new Promise((r) => srv.close(r)), 5000, 'closing the server');
}

/** Closes a node:http(s) server, bounded. */
export async function closeNodeServer(srv) {
  srv.closeAllConnections();
  await within(new Promise((r) => srv.close(r)), 5000, 'closing the node server');
}

/** Our HTTPS server: GET answers with the path and TLS version, POST echoes the body. */
export async function httpsServer() {
  const connections = [];
  const srv = createHttpsServer({ config: serverOpts() }, (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'POST') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(Buffer.concat(chunks));
      } else if (req.url === '/missing') {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('no such thing\n');
      } else {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`hello ${req.url} over ${req.socket.version}\n`);
      }
    });
  });
  srv.on('secureConnection', (s) => connections.push(s));
  srv.on('tlsClientError', () => {});
  const port = await listen(srv);
  return { srv, port, connections };
}

/**
 * A GET through `agent`; resolves { status, body, socket, reused, tls }, `tls` being what the socket
 * said when the response began (without keep-alive it is destroyed, its getters null, by the end).
 */
export function get(url, agent) {
  return within(
    new Promise((resolve, reject) => {
      const req = http.get(url, { agent }, (res) => {
        const socket = res.socket;
        const tls = {
          version: socket.version,
          alpn: socket.alpnProtocol,
          subject: socket.peerCertificate?.subject,
        };
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode,
            body: Buffer.concat(chunks).toString(),
            socket,
            tls,
            reused: req.reusedSocket,
          }),
        );
        res.on('error', reject);
      });
      req.on('error', reject);
    }),
    5000,
    `GET ${url}`,
  );
}

/** Node's own https server with `cert`/`key` from the test PKI. */
export async function nodeHttpsServer(name = 'server', handler, host = '127.0.0.1') {
  const connections = [];
  const srv = https.createServer(
    { cert: pem(`${name}.crt`), key: pem(`${name}.key`) },
    handler ??
      ((req, res) => {
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => {
          if (req.headers['content-type'] === 'application/json') {
            const got = JSON.parse(Buffer.concat(chunks).toString());
            res.writeHead(201, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ echo: got, method: req.method, tls: req.socket.getProtocol() }));
          } else {
            res.writeHead(200, { 'content-type': 'text/plain' });
            res.end(`node https ${req.url} ${req.socket.getProtocol()}`);
          }
        });
      }),
  );
  srv.on('secureConnection', (s) => connections.push(s));
  srv.on('tlsClientError', () => {});
  const port = await listen(srv, host);
  return { srv, port, connections };
}
