// createHttpsServer() as https.createServer(): an http.Server with node:http's knobs and events,
// run side by side with node:https where both apply (the same scenario, the same client, the
// events compared), and under ws, Fastify and Express with real clients (Node's https, ws, curl).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { describe, test } from 'node:test';
import express from 'express';
import Fastify from 'fastify';
import WebSocket, { WebSocketServer } from 'ws';
import { L, listen, pem, pki, until, within } from '../support/helpers.mjs';
import { closeServer, curlTo, noLeaks, run } from '../support/servers.mjs';

const { createHttpsServer, Config, HttpsServer } = L;
const T = { timeout: 30_000 };
const tlsOpts = (extra = {}) => ({ key: pem('server.key'), cert: pem('server.crt'), ...extra });
const ca = pem('ca.crt');

/** Both stacks, made from the same https-style options. */
const stacks = {
  node: (o, h) => https.createServer(o, h),
  libtls: (o, h) => createHttpsServer(o, h),
};

/** A GET with Node's https client; resolves { res, body, socket } once the body ended. */
function get(port, path, options = {}) {
  return within(
    new Promise((resolve, reject) => {
      const req = https.get(
        { host: '127.0.0.1', servername: 'localhost', port, path, ca, ...options },
        (res) => {
          const socket = res.socket;
          const parts = [];
          res.on('data', (d) => parts.push(d));
          res.on('end', () => resolve({ res, body: Buffer.concat(parts).toString(), socket }));
        },
      );
      req.on('error', reject);
    }),
    10_000,
    `GET ${path}`,
  );
}

describe('createHttpsServer() is an http.Server', () => {
  test('it is instanceof http.Server, takes https-style { key, cert } and serves Node https clients', T, () =>
    noLeaks('serving one request', async () => {
      const srv = createHttpsServer(tlsOpts(), (req, res) =>
        res.end(`hello ${req.url} ${req.socket.encrypted}`),
      );
      assert.ok(srv instanceof http.Server);
      assert.ok(srv instanceof HttpsServer);
      assert.equal(srv.listening, false);
      const port = await listen(srv);
      assert.equal(srv.listening, true);
      assert.deepEqual(srv.address(), { address: '127.0.0.1', family: 'IPv4', port });
      try {
        const { res, body } = await get(port, '/x', { agent: false });
        assert.equal(res.statusCode, 200);
        assert.equal(body, 'hello /x true');
      } finally {
        await closeServer(srv);
      }
      assert.equal(srv.listening, false);
    }),
  );

  test('https.createServer(listener) form: the listener alone, with `config` options', T, () =>
    noLeaks('the listener-only form', async () => {
      // the listener-only form needs a certificate from somewhere: it is a TypeError without one
      assert.throws(
        () => createHttpsServer(() => {}),
        (e) => e instanceof TypeError && e.code === 'ERR_LIBTLS_NO_CERTIFICATE',
      );
      const srv = createHttpsServer({ config: { certFile: pki('server.crt'), keyFile: pki('server.key') } });
      srv.on('request', (_req, res) => res.end('via request event'));
      const port = await listen(srv);
      assert.equal((await get(port, '/', { agent: false })).body, 'via request event');
      await closeServer(srv);
    }),
  );

  test('a server without a certificate is a TypeError ERR_LIBTLS_NO_CERTIFICATE, not "key mismatch"', () => {
    for (const o of [{}, { key: pem('server.key') }, { cert: pem('server.crt') }, { config: {} }]) {
      assert.throws(
        () => createHttpsServer(o),
        (e) => e instanceof TypeError && e.code === 'ERR_LIBTLS_NO_CERTIFICATE',
        JSON.stringify(Object.keys(o)),
      );
    }
  });

  test('every node:tls option libtls cannot honour is a TypeError naming it', () => {
    const cases = {
      pfx: Buffer.from('x'),
      SNICallback: () => {},
      secureContext: {},
      sigalgs: 'RSA+SHA256',
      secureOptions: 4,
      secureProtocol: 'TLSv1_2_method',
      enableTrace: true,
      pskCallback: () => {},
      ALPNCallback: () => {},
      dhparam: '-----BEGIN DH PARAMETERS-----',
      clientCertEngine: 'x',
      privateKeyEngine: 'x',
    };
    for (const [name, value] of Object.entries(cases)) {
      assert.throws(
        () => createHttpsServer(tlsOpts({ [name]: value })),
        (e) => e instanceof TypeError && e.code === L.UNSUPPORTED_OPTION && e.option === name,
        name,
      );
    }
    assert.throws(
      () => createHttpsServer(tlsOpts({ key: [pem('server.key'), pem('other.key')] })),
      (e) => e instanceof TypeError && e.code === L.UNSUPPORTED_OPTION,
    );
    // `config` and node:tls options together: which would win is not guessed
    assert.throws(() => createHttpsServer({ ...tlsOpts(), config: new Config() }), TypeError);
    // false/undefined for an unsupported boolean option is no request for it
    const srv = createHttpsServer(tlsOpts({ enableTrace: false, SNICallback: undefined }));
    srv.tlsServer.close();
  });

  test(
    'https-style options are honoured: minVersion, maxVersion, ALPNProtocols, ciphers, passphrase',
    T,
    () =>
      noLeaks('the option mapping', async () => {
        const { createPrivateKey } = await import('node:crypto');
        const encrypted = createPrivateKey(pem('server.key')).export({
          type: 'pkcs8',
          format: 'pem',
          cipher: 'aes-256-cbc',
          passphrase: 'sekrit',
        });
        const srv = createHttpsServer(
          {
            key: encrypted,
            passphrase: 'sekrit',
            cert: pem('server.crt'),
            minVersion: 'TLSv1.2',
            maxVersion: 'TLSv1.2',
            ALPNProtocols: ['http/1.1'],
            ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256',
          },
          (req, res) => res.end(`${req.socket.version} ${req.socket.cipher} ${req.socket.alpnProtocol}`),
        );
        const port = await listen(srv);
        const { body, socket } = await get(port, '/', { agent: false, ALPNProtocols: ['http/1.1'] });
        assert.match(body, /^TLSv1\.2 ECDHE-(ECDSA|RSA)-AES128-GCM-SHA256 http\/1\.1$/);
        assert.equal(socket.getProtocol(), 'TLSv1.2');
        // a TLS 1.3-only client finds no common version
        await assert.rejects(get(port, '/', { agent: false, minVersion: 'TLSv1.3' }));
        await closeServer(srv);
      }),
  );
});

describe('createHttpsServer() and node:https side by side', () => {
  /**
   * keepAliveTimeout = 500: the server closes the idle keep-alive connection. The client is a raw
   * node:tls socket (an http.Agent would close first, on the server's `Keep-Alive: timeout=0` hint).
   */
  async function keepAlive(make) {
    const client = [];
    const server = [];
    const srv = make(tlsOpts(), (_req, res) => res.end('ok'));
    srv.keepAliveTimeout = 500;
    srv.on('secureConnection', (s) => {
      server.push('secureConnection');
      s.on('timeout', () => server.push('socket timeout'));
      s.on('close', () => server.push('socket close'));
    });
    const port = await listen(srv);
    try {
      const tls = await import('node:tls');
      const s = tls.connect({ host: '127.0.0.1', servername: 'localhost', port, ca });
      await within(once(s, 'secureConnect'), 5000, 'secureConnect');
      let got = '';
      s.on('data', (d) => {
        got += d;
      });
      s.on('end', () => client.push('end'));
      s.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n');
      await until(() => got.endsWith('\r\n\r\nok'), 'the response', 5000);
      client.push(got.split('\r\n')[0]);
      const t0 = performance.now();
      await within(once(s, 'close'), 4000, 'the server closing the idle connection');
      client.push('close');
      // not before the timeout (a timer never fires early), and well before the 5 s default
      const ms = performance.now() - t0;
      assert.ok(ms >= 400, `closed ${ms.toFixed(0)} ms after the response, before keepAliveTimeout`);
      await until(() => server.includes('socket close'), 'the server socket to close', 3000);
    } finally {
      await closeServer(srv);
    }
    return { client, server };
  }

  test('keepAliveTimeout closes an idle connection on both, with the same events', T, () =>
    noLeaks('keepAliveTimeout', async () => {
      const node = await keepAlive(stacks.node);
      const ours = await keepAlive(stacks.libtls);
      assert.deepEqual(ours, node);
      assert.deepEqual(ours.client, ['HTTP/1.1 200 OK', 'end', 'close']);
      assert.deepEqual(ours.server, ['secureConnection', 'socket timeout', 'socket close']);
    }),
  );

  /** server.setTimeout(ms, cb): a request that gets no answer times out; cb gets the socket. */
  async function serverTimeout(make) {
    const seen = [];
    const srv = make(tlsOpts(), () => {});
    srv.setTimeout(200, (socket) => {
      seen.push(`timeout ${typeof socket.destroy}`);
      socket.destroy();
    });
    assert.equal(srv.timeout, 200);
    const port = await listen(srv);
    const err = await get(port, '/', { agent: false }).catch((e) => e);
    seen.push(`client ${err.code}`);
    await closeServer(srv);
    return seen;
  }

  test('setTimeout(ms, cb) times out a silent request on both, the same way', T, () =>
    noLeaks('setTimeout', async () => {
      const node = await serverTimeout(stacks.node);
      const ours = await serverTimeout(stacks.libtls);
      assert.deepEqual(ours, node);
      assert.deepEqual(ours, ['timeout function', 'client ECONNRESET']);
    }),
  );

  /** 'checkContinue', 'clientError', 'upgrade', 'secureConnection' and 'tlsClientError', in order. */
  async function events(make) {
    const seen = [];
    const srv = make(tlsOpts(), (req, res) => res.end(`plain ${req.url}`));
    srv.on('secureConnection', () => seen.push('secureConnection'));
    srv.on('tlsClientError', (err) => seen.push(`tlsClientError ${err instanceof Error}`));
    srv.on('checkContinue', (req, res) => {
      seen.push(`checkContinue ${req.headers.expect}`);
      res.writeContinue();
      req.resume();
      req.on('end', () => res.end('continued'));
    });
    srv.on('clientError', (err, socket) => {
      // node:https sometimes also reports the plaintext client's failed handshake here
      // (ERR_SSL_HTTP_REQUEST), sometimes not: only node:http's parser errors are compared
      if (err.code?.startsWith('HPE_')) seen.push(`clientError ${err.code}`);
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    });
    srv.on('upgrade', (req, socket, head) => {
      seen.push(`upgrade ${req.headers.upgrade} ${head.length}`);
      socket.end('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
    });
    const port = await listen(srv);
    try {
      // Expect: 100-continue
      const cont = await within(
        new Promise((resolve, reject) => {
          const req = https.request(
            {
              host: '127.0.0.1',
              servername: 'localhost',
              port,
              ca,
              agent: false,
              method: 'POST',
              headers: { expect: '100-continue' },
            },
            (res) => {
              let b = '';
              res.on('data', (d) => {
                b += d;
              });
              res.on('end', () => resolve(b));
            },
          );
          req.on('continue', () => {
            seen.push('client continue');
            req.end('body');
          });
          req.on('error', reject);
        }),
        5000,
        'the 100-continue request',
      );
      seen.push(`client ${cont}`);
      // a request node:http cannot parse
      const bad = await rawTls(port, 'NOT HTTP\r\n\r\n');
      seen.push(`client ${bad.split('\r\n')[0]}`);
      // an upgrade
      const up = await rawTls(
        port,
        'GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n',
      );
      seen.push(`client ${up.split('\r\n')[0]}`);
      // plaintext on the TLS port
      const plain = net.connect({ host: '127.0.0.1', port });
      plain.on('error', () => {});
      plain.end('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await within(once(plain, 'close'), 5000, 'the plaintext client to be dropped');
      await until(() => seen.some((e) => e.startsWith('tlsClientError')), "'tlsClientError'", 3000);
    } finally {
      await closeServer(srv);
    }
    return seen;
  }

  /** Sends `text` over a fresh node:tls connection; resolves with all it got back. */
  async function rawTls(port, text) {
    const tls = await import('node:tls');
    const s = tls.connect({ host: '127.0.0.1', servername: 'localhost', port, ca });
    s.on('error', () => {});
    await within(once(s, 'secureConnect'), 5000, 'secureConnect');
    s.write(text);
    let got = '';
    s.on('data', (d) => {
      got += d;
    });
    await within(once(s, 'close'), 5000, 'the server to close');
    return got;
  }

  test(
    "'checkContinue', 'clientError', 'upgrade', 'secureConnection', 'tlsClientError' fire on both alike",
    T,
    () =>
      noLeaks('the events', async () => {
        const node = await events(stacks.node);
        const ours = await events(stacks.libtls);
        assert.deepEqual(ours, node);
        assert.deepEqual(ours, [
          'secureConnection',
          'checkContinue 100-continue',
          'client continue',
          'client continued',
          'secureConnection',
          'clientError HPE_INVALID_METHOD',
          'client HTTP/1.1 400 Bad Request',
          'secureConnection',
          'upgrade echo 0',
          'client HTTP/1.1 101 Switching Protocols',
          'tlsClientError true',
        ]);
      }),
  );

  /** closeIdleConnections() drops only the idle keep-alive connection; closeAllConnections() the busy one too. */
  async function closing(make) {
    const seen = [];
    let hold;
    const srv = make(tlsOpts(), (req, res) => {
      if (req.url === '/hold') hold = res;
      else res.end('quick');
    });
    const port = await listen(srv);
    const agent = new https.Agent({ keepAlive: true, ca, servername: 'localhost', maxSockets: 4 });
    try {
      const idle = await get(port, '/quick', { agent });
      const busy = new Promise((resolve) => {
        const req = https.get({
          host: '127.0.0.1',
          servername: 'localhost',
          port,
          path: '/hold',
          ca,
          agent: false,
        });
        req.on('error', (e) => resolve(`busy ${e.code}`));
        req.on('response', () => resolve('busy answered'));
      });
      await until(() => hold !== undefined, 'the held request to arrive', 5000);
      srv.closeIdleConnections();
      await within(once(idle.socket, 'close'), 3000, 'the idle connection to close');
      seen.push('idle closed');
      srv.closeAllConnections();
      seen.push(await within(busy, 3000, 'the busy connection to be dropped'));
      // close() of a server that is still listening calls back without an error
      const err = await within(new Promise((r) => srv.close(r)), 5000, 'close()');
      seen.push(`close ${err}`);
      // and a second close() of a server that no longer listens: ERR_SERVER_NOT_RUNNING
      const again = await within(new Promise((r) => srv.close(r)), 5000, 'close() again');
      seen.push(`close again ${again?.code}`);
    } finally {
      agent.destroy();
    }
    return seen;
  }

  test('closeIdleConnections(), closeAllConnections() and close() behave alike', T, () =>
    noLeaks('closing', async () => {
      const node = await closing(stacks.node);
      const ours = await closing(stacks.libtls);
      assert.deepEqual(ours, node);
      assert.deepEqual(ours, [
        'idle closed',
        'busy ECONNRESET',
        'close undefined',
        'close again ERR_SERVER_NOT_RUNNING',
      ]);
    }),
  );

  test('close() of a server that never listened: ERR_SERVER_NOT_RUNNING on both', T, async () => {
    for (const make of Object.values(stacks)) {
      const srv = make(tlsOpts());
      const err = await within(new Promise((r) => srv.close(r)), 2000, 'close()');
      assert.equal(err?.code, 'ERR_SERVER_NOT_RUNNING');
    }
  });
});

describe('createHttpsServer() under ws, Fastify and Express', () => {
  test('ws: new WebSocketServer({ server }) echoes to a ws client over wss://', T, () =>
    noLeaks('ws', async () => {
      const srv = createHttpsServer(tlsOpts());
      const wss = new WebSocketServer({ server: srv });
      wss.on('connection', (ws, req) => {
        ws.on('message', (m) =>
          ws.send(`echo ${m} from ${req.socket.remoteAddress} ${req.socket.encrypted}`),
        );
      });
      const port = await listen(srv);
      const ws = new WebSocket(`wss://localhost:${port}/chat`, { ca });
      await within(once(ws, 'open'), 5000, 'the WebSocket to open');
      ws.send('hi');
      const [msg] = await within(once(ws, 'message'), 5000, 'the echo');
      assert.equal(String(msg), 'echo hi from 127.0.0.1 true');
      ws.close();
      await within(once(ws, 'close'), 5000, 'the WebSocket to close');
      await new Promise((r) => wss.close(r));
      await closeServer(srv);
    }),
  );

  test('Fastify: serverFactory returning createHttpsServer() serves curl', T, () =>
    noLeaks('fastify', async () => {
      const app = Fastify({
        serverFactory: (handler) => createHttpsServer(tlsOpts(), handler),
      });
      app.get('/hello', async (req) => ({ hello: 'world', encrypted: req.raw.socket.encrypted }));
      await app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = app.server.address();
      try {
        assert.ok(app.server instanceof HttpsServer);
        const r = await run('curl', [...curlTo(port), `https://localhost:${port}/hello`]);
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(JSON.parse(r.stdout), { hello: 'world', encrypted: true });
      } finally {
        await within(app.close(), 5000, 'fastify.close()');
      }
      assert.equal(app.server.listening, false);
    }),
  );

  test('Express: createHttpsServer(options, app).listen() serves curl', T, () =>
    noLeaks('express', async () => {
      const app = express();
      app.get('/user/:id', (req, res) =>
        res.json({ id: req.params.id, secure: req.secure, protocol: req.protocol }),
      );
      const srv = createHttpsServer(tlsOpts(), app);
      await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
      const { port } = srv.address();
      try {
        const r = await run('curl', [...curlTo(port), `https://localhost:${port}/user/42`]);
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(JSON.parse(r.stdout), { id: '42', secure: true, protocol: 'https' });
      } finally {
        await closeServer(srv);
      }
    }),
  );

  test(
    "Express's mTLS check: req.client.authorized admits the CA's client certificate, 401 without one",
    T,
    () =>
      noLeaks('express mTLS', async () => {
        const app = express();
        app.get('/', (req, res) => {
          if (!req.client.authorized) {
            res.status(401).send('client certificate required');
            return;
          }
          res.send(`hello ${req.socket.getPeerCertificate().subject.CN}`);
        });
        const srv = createHttpsServer(tlsOpts({ ca, requestCert: true, rejectUnauthorized: false }), app);
        await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
        const { port } = srv.address();
        const url = `https://localhost:${port}/`;
        try {
          const withCert = await run('curl', [
            ...curlTo(port),
            '--cert',
            pki('client.crt'),
            '--key',
            pki('client.key'),
            '-w',
            ' %{http_code}',
            url,
          ]);
          assert.equal(withCert.stdout, 'hello libtls test client 200', withCert.stderr);
          const without = await run('curl', [...curlTo(port), '-w', ' %{http_code}', url]);
          assert.equal(without.stdout, 'client certificate required 401', without.stderr);
          // a certificate from another CA: refused in the handshake, where node:tls would let the
          // app answer 401 (docs/servers.md says why)
          const other = await run('curl', [
            ...curlTo(port),
            '--cert',
            pki('selfsigned.crt'),
            '--key',
            pki('selfsigned.key'),
            '-w',
            ' %{http_code}',
            url,
          ]);
          assert.notEqual(other.code, 0);
          assert.equal(other.stdout, ' 000');
        } finally {
          await closeServer(srv);
        }
      }),
  );
});
