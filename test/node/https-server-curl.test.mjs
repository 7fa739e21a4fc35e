// createHttpsServer() against curl, and node:http's connection management (close(),
// headersTimeout) over TlsSockets.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { L, listen, pki, tempDir, until, within } from '../support/helpers.mjs';
import { closeServer, get, httpsServer, run } from '../support/http.mjs';

const { createHttpsServer, Agent } = L;

const serverOpts = () => ({ certFile: pki('server.crt'), keyFile: pki('server.key') });

const clientOpts = () => ({ caFile: pki('ca.crt') });

const tmp = tempDir(after);

const curlArgs = (port) => ['-sS', '--cacert', pki('ca.crt'), '--resolve', `localhost:${port}:127.0.0.1`];

describe('HTTPS server: createHttpsServer() against curl', () => {
  test('curl --cacert gets the right status and body, and -v shows TLSv1.3', async () => {
    const { srv, port } = await httpsServer();
    try {
      const r = await run('curl', [
        ...curlArgs(port),
        '-v',
        '-w',
        '\nstatus=%{http_code}',
        `https://localhost:${port}/path?q=1`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.toString(), 'hello /path?q=1 over TLSv1.3\n\nstatus=200');
      assert.match(r.stderr, /SSL connection using TLSv1\.3 \/ TLS_AES_256_GCM_SHA384/);
      assert.match(r.stderr, /ALPN: server accepted http\/1\.1/);
      assert.match(r.stderr, /subject: CN=localhost/);
      const missing = await run('curl', [
        ...curlArgs(port),
        '-w',
        '\nstatus=%{http_code}',
        `https://localhost:${port}/missing`,
      ]);
      assert.equal(missing.code, 0, missing.stderr);
      assert.equal(missing.stdout.toString(), 'no such thing\n\nstatus=404');
    } finally {
      await closeServer(srv);
    }
  });

  test('curl with two URLs reuses one keep-alive connection', async () => {
    const { srv, port, connections } = await httpsServer();
    try {
      const r = await run('curl', [
        ...curlArgs(port),
        '-v',
        `https://localhost:${port}/one`,
        `https://localhost:${port}/two`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.toString(), 'hello /one over TLSv1.3\nhello /two over TLSv1.3\n');
      assert.match(r.stderr, /Re-using existing connection/);
      assert.equal(connections.length, 1);
    } finally {
      await closeServer(srv);
    }
  });

  test('a 1 MiB POST body sent with curl --data-binary comes back byte-exact', async () => {
    const { srv, port } = await httpsServer();
    const body = randomBytes(1024 * 1024);
    const file = path.join(tmp, 'post.bin');
    const outFile = path.join(tmp, 'echo.bin');
    fs.writeFileSync(file, body);
    try {
      const r = await run('curl', [
        ...curlArgs(port),
        '-H',
        'content-type: application/octet-stream',
        '--data-binary',
        `@${file}`,
        '-o',
        outFile,
        '-w',
        '%{http_code} %{size_upload} %{size_download}',
        `https://localhost:${port}/echo`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.toString(), `200 ${body.length} ${body.length}`);
      const echoed = fs.readFileSync(outFile);
      assert.ok(echoed.equals(body), 'the echoed body differs');
    } finally {
      await closeServer(srv);
    }
  });
});

describe('HTTPS server: node:http connection management over TlsSockets', () => {
  test('close() drops an idle keep-alive connection at once, as https.Server.close() does', async () => {
    const { srv, port, connections } = await httpsServer();
    const agent = new Agent({ keepAlive: true, config: clientOpts() });
    try {
      const r = await get(`https://localhost:${port}/idle`, agent);
      assert.equal(r.body, 'hello /idle over TLSv1.3\n');
      assert.equal(Object.values(agent.freeSockets).flat().length, 1);
      const t0 = performance.now();
      await within(new Promise((resolve) => srv.close(resolve)), 3000, 'close()');
      const ms = performance.now() - t0;
      // not after the 5 s keepAliveTimeout: close() itself ended the idle connection
      assert.ok(ms < 1000, `close() took ${ms.toFixed(0)} ms`);
      assert.equal(connections[0].destroyed, true);
      await until(() => r.socket.destroyed, 'the client side to close', 2000);
    } finally {
      agent.destroy();
      // when the GET or an assertion failed, the server is still listening
      if (srv.listening) await closeServer(srv);
    }
  });

  test('headersTimeout drops a client that never finishes its request headers, with a 408', async () => {
    const srv = createHttpsServer(
      {
        config: serverOpts(),
        headersTimeout: 300,
        requestTimeout: 600,
        connectionsCheckingInterval: 50,
      },
      (_req, res) => res.end('never\n'),
    );
    srv.on('tlsClientError', () => {});
    const port = await listen(srv);
    let c;
    try {
      c = await L.connect({
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        config: clientOpts(),
        timeout: 3000,
      });
      c.on('error', () => {});
      const t0 = performance.now();
      const chunks = [];
      c.on('data', (d) => chunks.push(d));
      const closed = within(
        new Promise((r) => c.once('close', r)),
        5000,
        'the server to drop the connection',
      );
      c.write('GET / HTTP/1.1\r\nHost: localhost\r\n'); // ... and nothing more
      await closed;
      const ms = performance.now() - t0;
      // node:http writes the 408 and destroys the socket (no close_notify, as it would not FIN
      // gracefully either)
      assert.match(Buffer.concat(chunks).toString(), /^HTTP\/1\.1 408 Request Timeout\r\n/);
      assert.ok(ms >= 250 && ms < 3000, `dropped after ${ms.toFixed(0)} ms`);
    } finally {
      c?.destroy();
      await closeServer(srv);
    }
  });
});
