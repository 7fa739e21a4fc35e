// The HTTP client side: http.get through the libtls Agent, and fetch through undici with connector().
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fetch, Agent as UAgent } from 'undici';
import { L, pki, until, within } from '../support/helpers.mjs';
import { closeNodeServer, closeServer, get, httpsServer, nodeHttpsServer } from '../support/http.mjs';

const { TlsError, TlsSocket, Agent, connector } = L;

const clientOpts = () => ({ caFile: pki('ca.crt') });

/** The error and its `cause`s, outermost first. */
function causes(err) {
  const chain = [];
  for (let e = err; e instanceof Error && chain.length < 10; e = e.cause) chain.push(e);
  return chain;
}

describe('HTTP client: http.get with the libtls Agent', () => {
  test('http.get through the Agent gets the body from our HttpsServer', async () => {
    const { srv, port } = await httpsServer();
    const agent = new Agent({ config: clientOpts() });
    try {
      const r = await get(`https://localhost:${port}/agent`, agent);
      assert.equal(r.status, 200);
      assert.equal(r.body, 'hello /agent over TLSv1.3\n');
      assert.ok(r.socket instanceof TlsSocket);
      assert.deepEqual(r.tls, { version: 'TLSv1.3', alpn: 'http/1.1', subject: r.tls.subject });
      assert.match(r.tls.subject, /CN ?= ?localhost/);
    } finally {
      agent.destroy();
      await closeServer(srv);
    }
  });

  test("http.get through the Agent gets the body from Node's own https.createServer", async () => {
    const { srv, port } = await nodeHttpsServer();
    const agent = new Agent({ config: clientOpts() });
    try {
      const r = await get(`https://localhost:${port}/x?y`, agent);
      assert.equal(r.status, 200);
      assert.equal(r.body, 'node https /x?y TLSv1.3');
      assert.ok(r.socket instanceof TlsSocket);
      assert.equal(r.tls.version, 'TLSv1.3');
      assert.match(r.tls.subject, /CN ?= ?localhost/);
    } finally {
      agent.destroy();
      await closeNodeServer(srv);
    }
  });

  test('a keepAlive Agent reuses one TLS connection for 3 sequential requests', async () => {
    const { srv, port, connections } = await nodeHttpsServer();
    const agent = new Agent({ keepAlive: true, config: clientOpts() });
    try {
      const results = [];
      for (let i = 0; i < 3; i++) results.push(await get(`https://localhost:${port}/k${i}`, agent));
      assert.deepEqual(
        results.map((r) => r.body),
        ['node https /k0 TLSv1.3', 'node https /k1 TLSv1.3', 'node https /k2 TLSv1.3'],
      );
      assert.deepEqual(
        results.map((r) => r.reused),
        [false, true, true],
      );
      assert.equal(results[1].socket, results[0].socket);
      assert.equal(results[2].socket, results[0].socket);
      assert.equal(connections.length, 1, 'the server saw one connection');
    } finally {
      agent.destroy();
      await closeNodeServer(srv);
    }
  });

  test('an idle keep-alive connection the server closes leaves the pool, and the next request opens a new one', async () => {
    const { srv, port, connections } = await httpsServer();
    srv.keepAliveTimeout = 100;
    const agent = new Agent({ keepAlive: true, config: clientOpts() });
    try {
      const first = await get(`https://localhost:${port}/a`, agent);
      assert.equal(first.body, 'hello /a over TLSv1.3\n');
      await until(() => first.socket.destroyed, "the server's keep-alive timeout to close the socket", 3000);
      assert.equal(Object.values(agent.freeSockets).flat().length, 0);
      const second = await get(`https://localhost:${port}/b`, agent);
      assert.equal(second.body, 'hello /b over TLSv1.3\n');
      assert.equal(second.reused, false);
      assert.notEqual(second.socket, first.socket);
      assert.equal(connections.length, 2);
    } finally {
      agent.destroy();
      await closeServer(srv);
    }
  });

  test('IP-literal URLs (127.0.0.1, [::1]) are verified against the IP SANs and send no SNI, via the Agent and fetch', async () => {
    const sni = [];
    const handler = (req, res) => {
      sni.push(req.socket.servername);
      res.end(`ip ${req.headers.host}`);
    };
    const v4 = await nodeHttpsServer('server', handler, '127.0.0.1');
    const v6 = await nodeHttpsServer('server', handler, '::1');
    const agent = new Agent({ config: clientOpts() });
    const dispatcher = new UAgent({ connect: connector({ config: clientOpts() }) });
    try {
      for (const host of ['127.0.0.1', '[::1]']) {
        const port = host === '127.0.0.1' ? v4.port : v6.port;
        const url = `https://${host}:${port}/`;
        const r = await get(url, agent);
        assert.equal(r.body, `ip ${host}:${port}`);
        assert.equal(r.tls.version, 'TLSv1.3');
        const res = await within(fetch(url, { dispatcher }), 5000, 'fetch');
        assert.equal(await res.text(), `ip ${host}:${port}`);
      }
      // Node's tls reports `false` when the client sent no server_name extension
      assert.deepEqual(sni, [false, false, false, false]);
    } finally {
      agent.destroy();
      await dispatcher.close();
      await closeNodeServer(v4.srv);
      await closeNodeServer(v6.srv);
    }
  });

  test("a server whose certificate does not name the host makes the request emit 'error' with a TlsError", async () => {
    const { srv, port } = await nodeHttpsServer('other');
    const agent = new Agent({ config: clientOpts() });
    try {
      await assert.rejects(
        get(`https://localhost:${port}/`, agent),
        (e) =>
          e instanceof TlsError &&
          e.op === 'tls_handshake' &&
          /name `localhost' not present in server certificate/.test(e.message),
      );
    } finally {
      agent.destroy();
      await closeNodeServer(srv);
    }
  });
});

describe('fetch through undici with connector()', () => {
  test("fetch gets the body from Node's https.createServer", async () => {
    const { srv, port } = await nodeHttpsServer();
    const dispatcher = new UAgent({ connect: connector({ config: clientOpts() }) });
    try {
      const res = await within(fetch(`https://localhost:${port}/hello`, { dispatcher }), 5000, 'fetch');
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'text/plain');
      assert.equal(await res.text(), 'node https /hello TLSv1.3');
    } finally {
      await dispatcher.close();
      await closeNodeServer(srv);
    }
  });

  test('a POSTed JSON body round-trips through fetch', async () => {
    const { srv, port } = await nodeHttpsServer();
    const dispatcher = new UAgent({ connect: connector({ config: clientOpts() }) });
    const payload = { n: 42, s: 'héllo', list: [1, 2, 3], nested: { ok: true } };
    try {
      const res = await within(
        fetch(`https://localhost:${port}/json`, {
          dispatcher,
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(payload),
        }),
        5000,
        'fetch',
      );
      assert.equal(res.status, 201);
      assert.deepEqual(await res.json(), { echo: payload, method: 'POST', tls: 'TLSv1.3' });
    } finally {
      await dispatcher.close();
      await closeNodeServer(srv);
    }
  });

  test('fetch against a server with an unknown CA (self-signed) rejects with a TlsError in its cause chain', async () => {
    const { srv, port } = await nodeHttpsServer('selfsigned');
    const dispatcher = new UAgent({ connect: connector({ config: clientOpts() }) });
    try {
      const err = await within(
        fetch(`https://localhost:${port}/`, { dispatcher }).then(
          () => null,
          (e) => e,
        ),
        5000,
        'fetch',
      );
      assert.ok(err instanceof TypeError, `fetch rejected with ${err}`);
      assert.match(err.message, /fetch failed/);
      const tlsErr = causes(err).find((e) => e instanceof TlsError);
      assert.ok(tlsErr, `no TlsError in ${causes(err).map(String).join(' <- ')}`);
      assert.equal(tlsErr.op, 'tls_handshake');
      assert.equal(tlsErr.code, 'DEPTH_ZERO_SELF_SIGNED_CERT', tlsErr.message);
      assert.match(tlsErr.message, /^certificate verification failed: \S/);
    } finally {
      await dispatcher.close();
      await closeNodeServer(srv);
    }
  });
});
