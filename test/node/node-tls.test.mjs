// libtls/tls: node:tls's signatures. connect() in its argument forms beside node:tls's (the same
// events in the same order, writes before the handshake delivered), createServer() with node:tls
// options against node:tls clients, and the hooks that take a connect function used as they are:
// http's createConnection, ws's createConnection, undici's connect, http2's createConnection.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { describe, test } from 'node:test';
import nodeTls from 'node:tls';
import tls, { connect, createServer, TLSSocket } from 'libtls/tls';
import { fetch, Agent as UAgent } from 'undici';
import WebSocket, { WebSocketServer } from 'ws';
import { L, listen, pem, readAll, within } from '../support/helpers.mjs';
import { closeServer, noLeaks } from '../support/servers.mjs';

const T = { timeout: 30_000 };
const serverTls = () => ({ key: pem('server.key'), cert: pem('server.crt') });
const ca = pem('ca.crt');

/** A node:tls echo server that says which ALPN protocol it chose first. */
async function nodeEchoServer(extra = {}) {
  const srv = nodeTls.createServer({ ...serverTls(), ...extra }, (s) => {
    s.on('error', () => {});
    s.write(`alpn=${s.alpnProtocol};`);
    s.pipe(s);
  });
  const port = await listen(srv);
  return { srv, port };
}

/** Runs `make(port)` (a connect call), records its events, writes before the handshake; returns what happened. */
async function scenario(make, port) {
  const events = [];
  const socket = make(port, () => events.push('callback'));
  events.push(`returned connecting=${socket.connecting}`);
  socket.on('connect', () => events.push('connect'));
  socket.on('secureConnect', () => events.push(`secureConnect ${socket.remoteAddress}`));
  socket.on('error', (e) => events.push(`error ${e.message}`));
  socket.write('early;');
  socket.end('bye');
  const got = (await readAll(socket, 5000, 'the echo')).toString();
  if (!socket.destroyed) await within(once(socket, 'close'), 5000, "'close'");
  events.push('close');
  return { events, got };
}

describe('libtls/tls connect() as tls.connect()', () => {
  const forms = {
    '(options, cb)': (c) => (port, cb) => c({ host: '127.0.0.1', port, servername: 'localhost', ca }, cb),
    '(port, host, options, cb)': (c) => (port, cb) =>
      c(port, '127.0.0.1', { servername: 'localhost', ca }, cb),
    '(port, options, cb)': (c) => (port, cb) =>
      c(port, { host: '127.0.0.1', servername: 'localhost', ca }, cb),
  };

  for (const [form, build] of Object.entries(forms)) {
    test(
      `connect${form}: returns the socket at once; connect, secureConnect, callback, echo as node:tls`,
      T,
      () =>
        noLeaks(form, async () => {
          const { srv, port } = await nodeEchoServer();
          try {
            const node = await scenario(build(nodeTls.connect), port);
            const ours = await scenario(build(connect), port);
            assert.deepEqual(ours, node);
            assert.deepEqual(ours.events, [
              'returned connecting=true',
              'connect',
              'callback',
              'secureConnect 127.0.0.1',
              'close',
            ]);
            assert.equal(ours.got, 'alpn=false;early;bye');
          } finally {
            await closeServer(srv);
          }
        }),
    );
  }

  test('the socket is a libtls TlsSocket (TLSSocket), and ALPNProtocols is offered', T, () =>
    noLeaks('ALPN', async () => {
      const { srv, port } = await nodeEchoServer({ ALPNProtocols: ['x-b', 'x-a'] });
      try {
        const s = connect({ host: '127.0.0.1', port, servername: 'localhost', ca, ALPNProtocols: ['x-a'] });
        assert.ok(s instanceof TLSSocket);
        assert.ok(s instanceof L.TlsSocket);
        await within(once(s, 'secureConnect'), 5000, 'secureConnect');
        assert.equal(s.alpnProtocol, 'x-a');
        s.end('x');
        assert.equal((await readAll(s)).toString(), 'alpn=x-a;x');
      } finally {
        await closeServer(srv);
      }
    }),
  );

  test('connect({ socket }): TLS on a connected net.Socket, before and after it read plaintext', T, () =>
    noLeaks('socket option', async () => {
      const { srv, port } = await nodeEchoServer();
      try {
        // unread: its fd is taken
        const raw = net.connect({ host: '127.0.0.1', port });
        await within(once(raw, 'connect'), 5000, 'TCP');
        const a = connect({ socket: raw, servername: 'localhost', ca });
        assert.equal(a.connecting, false);
        await within(once(a, 'secureConnect'), 5000, 'secureConnect');
        a.end('fd');
        assert.equal((await readAll(a)).toString(), 'alpn=false;fd');
        // STARTTLS: a plaintext line first (read by the caller), then TLS on the same socket
        const plain = net.createServer((s) => {
          s.write('ready\n');
          s.once('data', () => {
            s.write('ok\n');
            const t = new nodeTls.TLSSocket(s, { isServer: true, ...serverTls() });
            t.on('error', () => {});
            t.pipe(t);
          });
        });
        const pport = await listen(plain);
        const raw2 = net.connect({ host: '127.0.0.1', port: pport });
        const [line] = await within(once(raw2, 'data'), 5000, 'the plaintext greeting');
        assert.equal(String(line), 'ready\n');
        raw2.write('go\n');
        // TLS starts only once the server said so: nothing of the ClientHello reaches its plaintext reader
        const [ok] = await within(once(raw2, 'data'), 5000, 'the go-ahead');
        assert.equal(String(ok), 'ok\n');
        const b = connect({ socket: raw2, servername: 'localhost', ca });
        await within(once(b, 'secureConnect'), 5000, 'secureConnect after STARTTLS');
        b.end('starttls');
        assert.equal((await readAll(b)).toString(), 'starttls');
        await closeServer(plain);
      } finally {
        await closeServer(srv);
      }
    }),
  );

  test('failures are errors on the socket, as with node:tls: refused, untrusted, a bad option', T, () =>
    noLeaks('failures', async () => {
      const { srv, port } = await nodeEchoServer();
      const closed = await new Promise((resolve) => {
        const s = nodeTls.connect({ host: '127.0.0.1', port: 1 });
        s.on('error', (e) => resolve(e.code));
      });
      try {
        const refused = connect({ host: '127.0.0.1', port: 1 });
        const [e1] = await within(once(refused, 'error'), 5000, 'ECONNREFUSED');
        assert.equal(e1.code, closed);
        assert.equal(e1.code, 'ECONNREFUSED');
        // no `ca`: the test CA is not among the system's
        const untrusted = connect({ host: '127.0.0.1', port, servername: 'localhost' });
        const secure = [];
        untrusted.on('secureConnect', () => secure.push('secureConnect'));
        const [e2] = await within(once(untrusted, 'error'), 5000, 'the verification error');
        assert.ok(e2 instanceof L.TlsError);
        assert.deepEqual(secure, []);
        // rejectUnauthorized: false accepts it
        const lax = connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
        await within(once(lax, 'secureConnect'), 5000, 'secureConnect without verification');
        lax.end('x');
        assert.equal((await readAll(lax)).toString(), 'alpn=false;x');
        assert.throws(
          () => connect({ port, checkServerIdentity: () => undefined }),
          (e) =>
            e instanceof TypeError && e.code === L.UNSUPPORTED_OPTION && e.option === 'checkServerIdentity',
        );
        assert.throws(() => connect({ port: 0 }), RangeError);
      } finally {
        await closeServer(srv);
      }
    }),
  );
});

describe('libtls/tls createServer() as tls.createServer()', () => {
  test(
    'node:tls options and a secureConnection listener; node:tls clients with and without a client certificate',
    T,
    () =>
      noLeaks('createServer', async () => {
        const seen = [];
        const srv = createServer(
          { ...serverTls(), ca, requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['x-echo'] },
          (s) => {
            seen.push(`${s.alpnProtocol} ${s.peerCertificate?.subject}`);
            s.pipe(s);
          },
        );
        srv.on('tlsClientError', () => seen.push('tlsClientError'));
        const port = await listen(srv);
        try {
          const c = nodeTls.connect({
            host: '127.0.0.1',
            port,
            servername: 'localhost',
            ca,
            cert: pem('client.crt'),
            key: pem('client.key'),
            ALPNProtocols: ['x-echo'],
          });
          await within(once(c, 'secureConnect'), 5000, 'secureConnect');
          c.end('ping');
          assert.equal((await readAll(c)).toString(), 'ping');
          // requestCert + rejectUnauthorized: a client without a certificate is refused
          const anon = nodeTls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca });
          const refused = new Promise((resolve) => anon.on('error', (e) => resolve(e.code)));
          anon.on('data', () => {});
          // (events.once() would reject on the 'error' that comes first)
          await within(new Promise((r) => anon.on('close', r)), 5000, 'the anonymous client to be refused');
          assert.equal(await refused, 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
          assert.deepEqual(seen, ['x-echo /CN=libtls test client', 'tlsClientError']);
        } finally {
          await closeServer(srv);
        }
      }),
  );

  test('default import: tls.createServer / tls.connect work as node:tls', T, () =>
    noLeaks('default import', async () => {
      const srv = tls.createServer(serverTls(), (s) => s.end('hi'));
      const port = await listen(srv);
      try {
        const s = tls.connect(port, 'localhost', { ca });
        assert.equal((await readAll(s)).toString(), 'hi');
      } finally {
        await closeServer(srv);
      }
    }),
  );
});

describe('hooks that take a connect function, given libtls/tls connect as it is', () => {
  test("http.request({ createConnection: connect }) against node:https's peer (our server)", T, () =>
    noLeaks('http createConnection', async () => {
      const srv = L.createHttpsServer(serverTls(), (req, res) =>
        res.end(`got ${req.url} ${req.socket.version}`),
      );
      const port = await listen(srv);
      try {
        const body = await within(
          new Promise((resolve, reject) => {
            const req = http.request(
              { host: 'localhost', port, path: '/x?y', ca, createConnection: connect },
              (res) => {
                let b = '';
                res.on('data', (d) => {
                  b += d;
                });
                res.on('end', () => resolve(`${res.statusCode} ${b} ${res.socket instanceof TLSSocket}`));
              },
            );
            req.on('error', reject);
            req.end();
          }),
          5000,
          'the request',
        );
        assert.equal(body, '200 got /x?y TLSv1.3 true');
      } finally {
        await closeServer(srv);
      }
    }),
  );

  test('ws: new WebSocket(url, { createConnection: connect }) to a WebSocketServer', T, () =>
    noLeaks('ws createConnection', async () => {
      const srv = L.createHttpsServer(serverTls());
      const wss = new WebSocketServer({ server: srv });
      wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`echo ${m}`)));
      const port = await listen(srv);
      try {
        const ws = new WebSocket(`wss://localhost:${port}/`, { ca, createConnection: connect });
        await within(once(ws, 'open'), 5000, 'open');
        assert.ok(ws._socket instanceof TLSSocket);
        ws.send('over libtls');
        const [m] = await within(once(ws, 'message'), 5000, 'the echo');
        assert.equal(String(m), 'echo over libtls');
        ws.close();
        await within(once(ws, 'close'), 5000, 'close');
        await new Promise((r) => wss.close(r));
      } finally {
        await closeServer(srv);
      }
    }),
  );

  test('undici: new Agent({ connect: connector() }) fetches over libtls from a node:https server', T, () =>
    noLeaks('undici connect', async () => {
      const https = await import('node:https');
      const srv = https.createServer(serverTls(), (req, res) => res.end(`undici ${req.url}`));
      const port = await listen(srv);
      const dispatcher = new UAgent({ connect: L.connector({ config: { ca } }) });
      try {
        const r = await fetch(`https://localhost:${port}/u`, { dispatcher });
        assert.equal(await r.text(), 'undici /u');
      } finally {
        await dispatcher.close();
        await closeServer(srv);
      }
    }),
  );

  test('http2.connect(url, { createConnection }) with connect() against http2.createSecureServer()', T, () =>
    noLeaks('http2 createConnection', async () => {
      const srv = http2.createSecureServer(serverTls(), (req, res) => res.end(`h2 ${req.url}`));
      const port = await listen(srv);
      try {
        const s = http2.connect(`https://localhost:${port}`, {
          createConnection: (url) =>
            connect({ host: url.hostname, port: Number(url.port), ca, ALPNProtocols: ['h2'] }),
        });
        s.on('error', () => {});
        const req = s.request({ ':path': '/p' });
        req.setEncoding('utf8');
        let b = '';
        req.on('data', (d) => {
          b += d;
        });
        await within(once(req, 'end'), 5000, 'the response');
        assert.equal(b, 'h2 /p');
        s.close();
        await within(once(s, 'close'), 5000, 'the session to close');
      } finally {
        await closeServer(srv);
      }
    }),
  );
});
