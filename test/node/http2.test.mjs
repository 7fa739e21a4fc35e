// HTTP/2 over libtls: createHttp2Server() beside http2.createSecureServer() with Node's own http2
// client, curl --http2 and nghttp2's h2load; the allowHTTP1 fallback; and http2.connect() with
// http2Connection() as its createConnection, against both servers.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import { describe, test } from 'node:test';
import { L, listen, pem, within } from '../support/helpers.mjs';
import { closeServer, curlTo, noLeaks, run } from '../support/servers.mjs';

const { createHttp2Server, http2Connection } = L;
const T = { timeout: 30_000 };
const tlsOpts = (extra = {}) => ({ key: pem('server.key'), cert: pem('server.crt'), ...extra });
const ca = pem('ca.crt');

const stacks = {
  node: (o, h) => http2.createSecureServer(o, h),
  libtls: (o, h) => createHttp2Server(o, h),
};

/** What a request handler sees, as the response body. */
const describeRequest = (req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(
    JSON.stringify({
      httpVersion: req.httpVersion,
      method: req.method,
      path: req.url,
      remoteAddress: req.socket.remoteAddress,
      encrypted: req.socket.encrypted,
      alpn: req.httpVersion === '2.0' ? req.stream.session.alpnProtocol : null,
    }),
  );
};

/** One GET over an http2 session; resolves { status, body }. */
async function h2get(session, path) {
  const req = session.request({ ':path': path });
  const [headers] = await within(once(req, 'response'), 5000, `the response to ${path}`);
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (d) => {
    body += d;
  });
  await within(once(req, 'end'), 5000, `the body of ${path}`);
  return { status: headers[':status'], body };
}

/** A session of Node's http2 client (node:tls underneath unless `options` says otherwise). */
async function session(port, options = {}) {
  const s = http2.connect(`https://localhost:${port}`, { ca, ...options });
  s.on('error', () => {});
  await within(once(s, 'connect'), 5000, 'the http2 session to connect');
  return s;
}

async function closeSession(s) {
  s.close();
  if (!s.destroyed) await within(once(s, 'close'), 5000, 'the http2 session to close');
}

describe('createHttp2Server() as http2.createSecureServer()', () => {
  /** A request from Node's http2 client: what the handler saw. */
  async function nodeClient(make) {
    const srv = make(tlsOpts(), describeRequest);
    const port = await listen(srv);
    const s = await session(port);
    try {
      const r = await h2get(s, '/a?b=1');
      return { status: r.status, seen: JSON.parse(r.body), alpn: s.alpnProtocol, encrypted: s.encrypted };
    } finally {
      await closeSession(s);
      await closeServer(srv);
    }
  }

  test("Node's http2 client: same request, same handler view (h2, remoteAddress, encrypted) on both", T, () =>
    noLeaks('http2 side by side', async () => {
      const node = await nodeClient(stacks.node);
      const ours = await nodeClient(stacks.libtls);
      assert.deepEqual(ours, node);
      assert.deepEqual(ours, {
        status: 200,
        seen: {
          httpVersion: '2.0',
          method: 'GET',
          path: '/a?b=1',
          remoteAddress: '127.0.0.1',
          encrypted: true,
          alpn: 'h2',
        },
        alpn: 'h2',
        encrypted: true,
      });
    }),
  );

  test("'stream' and 'session' events; the session says encrypted, h2, and the peer's address", T, () =>
    noLeaks('stream events', async () => {
      const srv = createHttp2Server(tlsOpts());
      const sessions = [];
      srv.on('session', (sess) => sessions.push(sess));
      srv.on('stream', (stream, headers) => {
        stream.respond({ ':status': 201, 'x-path': headers[':path'] });
        stream.end(`stream ${headers[':method']}`);
      });
      const port = await listen(srv);
      const s = await session(port);
      try {
        assert.deepEqual(await h2get(s, '/s'), { status: 201, body: 'stream GET' });
        assert.equal(sessions.length, 1);
        assert.equal(sessions[0].socket.encrypted, true);
        assert.equal(sessions[0].socket.remoteAddress, '127.0.0.1');
        assert.equal(sessions[0].encrypted, true);
        assert.equal(sessions[0].alpnProtocol, 'h2');
      } finally {
        await closeSession(s);
        await closeServer(srv);
      }
    }),
  );

  test('curl --http2 gets HTTP/2 from it', T, () =>
    noLeaks('curl --http2', async () => {
      const srv = createHttp2Server(tlsOpts(), describeRequest);
      const port = await listen(srv);
      try {
        const r = await run('curl', [
          ...curlTo(port),
          '--http2',
          '-w',
          '\n%{http_version}',
          `https://localhost:${port}/curl`,
        ]);
        assert.equal(r.code, 0, r.stderr);
        const [body, version] = r.stdout.split('\n');
        assert.equal(version, '2');
        assert.deepEqual(JSON.parse(body), {
          httpVersion: '2.0',
          method: 'GET',
          path: '/curl',
          remoteAddress: '127.0.0.1',
          encrypted: true,
          alpn: 'h2',
        });
      } finally {
        await closeServer(srv);
      }
    }),
  );

  test('h2load: 200 requests over 4 connections, 10 streams each, all succeed', T, () =>
    noLeaks('h2load', async () => {
      const srv = createHttp2Server(tlsOpts(), (_req, res) => res.end('x'.repeat(1000)));
      const port = await listen(srv);
      try {
        // h2load does not verify the certificate; it still negotiates h2 by ALPN
        const r = await run('h2load', ['-n', '200', '-c', '4', '-m', '10', `https://127.0.0.1:${port}/`], {
          ms: 25_000,
        });
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.match(r.stdout, /Application protocol: h2/);
        assert.match(
          r.stdout,
          /requests: 200 total, 200 started, 200 done, 200 succeeded, 0 failed, 0 errored/,
        );
        assert.match(r.stdout, /status codes: 200 2xx/);
      } finally {
        await closeServer(srv);
      }
    }),
  );

  test('allowHTTP1: an HTTP/1.1 client (curl --http1.1) is served by the same handler', T, () =>
    noLeaks('allowHTTP1', async () => {
      const srv = createHttp2Server(tlsOpts({ allowHTTP1: true }), describeRequest);
      const port = await listen(srv);
      try {
        for (const [flag, version] of [
          ['--http1.1', '1.1'],
          ['--http2', '2.0'],
        ]) {
          const r = await run('curl', [...curlTo(port), flag, `https://localhost:${port}/v`]);
          assert.equal(r.code, 0, r.stderr);
          const seen = JSON.parse(r.stdout);
          assert.equal(seen.httpVersion, version);
          assert.equal(seen.remoteAddress, '127.0.0.1');
          assert.equal(seen.encrypted, true);
        }
      } finally {
        await closeServer(srv);
      }
    }),
  );

  // node:tls refuses the handshake (no_application_protocol) when the client's ALPN list has
  // nothing in common, and so does LibreSSL's libtls; libretls completes it without ALPN, and
  // node:http2 then treats the socket as an unknown protocol: a 403, and the socket destroyed
  // after unknownProtocolTimeout (backend.capabilities.alpnMismatch says which).
  test(
    'without allowHTTP1 only h2 is offered: an http/1.1-only client gets a 403 or a refused handshake, never HTTP/1.1',
    T,
    () =>
      noLeaks('h2 only', async () => {
        const srv = createHttp2Server(tlsOpts({ unknownProtocolTimeout: 300 }), describeRequest);
        const unknown = [];
        const refused = [];
        srv.on('secureConnection', (s) => unknown.push(s.alpnProtocol));
        srv.on('tlsClientError', (e) => refused.push(e.code));
        const port = await listen(srv);
        try {
          const r = await run('curl', [
            ...curlTo(port),
            '--http1.1',
            '-w',
            '%{http_code}',
            `https://localhost:${port}/`,
          ]);
          if (L.backend.capabilities.alpnMismatch === 'ignore') {
            assert.match(r.stdout, /^Missing ALPN Protocol, expected `h2` to be available\.[\s\S]*403$/);
            assert.deepEqual(unknown, [false]);
          } else {
            assert.equal(r.stdout, '000', 'no HTTP response at all');
            assert.equal(r.code, 35, r.stderr); // curl: the TLS handshake failed
            assert.match(r.stderr, /no application protocol/);
            assert.deepEqual(unknown, []);
            assert.deepEqual(refused, ['ERR_SSL_NO_APPLICATION_PROTOCOL']);
          }
        } finally {
          await closeServer(srv);
        }
      }),
  );
});

describe('http2.connect() over libtls: http2Connection() as createConnection', () => {
  async function libtlsClient(make) {
    const srv = make(tlsOpts(), describeRequest);
    const port = await listen(srv);
    const made = [];
    const connectLibtls = http2Connection({ ca });
    const createConnection = (url, options) => {
      const socket = connectLibtls(url, options);
      made.push(socket);
      return socket;
    };
    const s = await session(port, { createConnection });
    try {
      const r = await h2get(s, '/over-libtls');
      return {
        status: r.status,
        seen: JSON.parse(r.body),
        libtls: made.length === 1 && made[0] instanceof L.TlsSocket && made[0].alpnProtocol === 'h2',
      };
    } finally {
      await closeSession(s);
      await closeServer(srv);
    }
  }

  test("Node's http2 client over a libtls connection, against http2.createSecureServer() and ours", T, () =>
    noLeaks('http2 client over libtls', async () => {
      const node = await libtlsClient(stacks.node);
      const ours = await libtlsClient(stacks.libtls);
      assert.deepEqual(ours, node);
      assert.equal(ours.status, 200);
      assert.equal(ours.seen.alpn, 'h2');
      assert.equal(ours.libtls, true);
    }),
  );

  test('a server certificate the CA did not sign fails the session with an error', T, () =>
    noLeaks('http2 client verification', async () => {
      const srv = createHttp2Server({ key: pem('selfsigned.key'), cert: pem('selfsigned.crt') });
      srv.on('tlsClientError', () => {});
      const port = await listen(srv);
      try {
        const s = http2.connect(`https://localhost:${port}`, { createConnection: http2Connection({ ca }) });
        const [err] = await within(once(s, 'error'), 5000, 'the session error');
        assert.ok(err instanceof Error);
        if (!s.destroyed) await within(once(s, 'close'), 5000, 'the session to close');
      } finally {
        await closeServer(srv);
      }
    }),
  );
});
