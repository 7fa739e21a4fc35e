// examples/https-server.mjs, fetch.mjs and http-agent.mjs run end to end.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { L, pki, root, until } from '../support/helpers.mjs';
import { closeNodeServer, closeServer, get, httpsServer, nodeHttpsServer, run } from '../support/http.mjs';

const { Agent } = L;

const clientOpts = () => ({ caFile: pki('ca.crt') });

const curlArgs = (port) => ['-sS', '--cacert', pki('ca.crt'), '--resolve', `localhost:${port}:127.0.0.1`];

describe('examples/ run end to end', () => {
  test('examples/https-server.mjs --once serves curl one request, then exits by itself', async () => {
    let url;
    let curl;
    const r = await run('node', [path.join(root, 'examples', 'https-server.mjs'), '--port', '0', '--once'], {
      ms: 10_000,
      onStart: async (_proc, output) => {
        await until(
          () => /listening on (https:\/\/localhost:\d+\/)/.test(output()),
          'the example to listen',
          5000,
        );
        url = output().match(/listening on (https:\/\/localhost:(\d+)\/)/);
        curl = await run('curl', [
          ...curlArgs(Number(url[2])),
          '-w',
          '\nstatus=%{http_code}',
          `${url[1]}from-test`,
        ]);
      },
    });
    assert.equal(curl.code, 0, curl.stderr);
    assert.equal(
      curl.stdout.toString(),
      'hello from libtls: GET /from-test over TLSv1.3 (TLS_AES_256_GCM_SHA384)\n\nstatus=200',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.signal, null, 'it exited by itself');
    const out = r.stdout.toString();
    assert.match(out, /GET \/from-test from 127\.0\.0\.1 over TLSv1\.3/);
    assert.match(out, /closing \(served one request\)\nclosed\n$/);
  });

  test('examples/https-server.mjs exits promptly on SIGINT, closing an idle keep-alive connection, and after --seconds', async () => {
    const agent = new Agent({ keepAlive: true, config: clientOpts() });
    let sentAt;
    let first;
    try {
      const r = await run(
        'node',
        [path.join(root, 'examples', 'https-server.mjs'), '--port', '0', '--seconds', '30'],
        {
          onStart: async (proc, output) => {
            await until(
              () => /listening on https:\/\/localhost:\d+\//.test(output()),
              'the example to listen',
              5000,
            );
            const port = Number(output().match(/localhost:(\d+)/)[1]);
            first = await get(`https://localhost:${port}/idle`, agent);
            assert.equal(Object.values(agent.freeSockets).flat().length, 1, 'an idle keep-alive connection');
            sentAt = performance.now();
            proc.kill('SIGINT');
          },
        },
      );
      const ms = performance.now() - sentAt;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.signal, null);
      assert.match(
        r.stdout.toString(),
        /GET \/idle from 127\.0\.0\.1 over TLSv1\.3\nclosing \(SIGINT\)\nclosed\n$/,
      );
      // well before the example's 2 s fallback exit: the idle connection was closed, nothing leaked
      assert.ok(ms < 1500, `exited ${ms.toFixed(0)} ms after SIGINT`);
      assert.equal(first.body, 'hello from libtls: GET /idle over TLSv1.3 (TLS_AES_256_GCM_SHA384)\n');
      await until(() => first.socket.destroyed, 'the client side of the idle connection to close', 2000);

      let closingAt;
      const timed = await run(
        'node',
        [path.join(root, 'examples', 'https-server.mjs'), '--port', '0', '--seconds', '0.2'],
        {
          onStart: async (_proc, output) => {
            await until(() => output().includes('closing'), 'the example to close by itself', 5000);
            closingAt = performance.now();
          },
        },
      );
      const left = performance.now() - closingAt;
      assert.equal(timed.code, 0, timed.stderr);
      assert.match(timed.stdout.toString(), /^listening on .*\nclosing \(0\.2 s elapsed\)\nclosed\n$/);
      assert.ok(left < 1500, `exited ${left.toFixed(0)} ms after it began closing`);
    } finally {
      agent.destroy();
    }
  });

  test("examples/fetch.mjs prints the status and body of Node's https server, and fails cleanly on an unknown CA", async () => {
    const { srv, port } = await nodeHttpsServer();
    try {
      const example = path.join(root, 'examples', 'fetch.mjs');
      const url = `https://localhost:${port}/ex`;
      // three runs at once: each one's start-up (loading undici) dominates
      const [r, post, bad] = await Promise.all([
        run('node', [example, url]),
        run('node', [example, url, '--header', 'content-type: application/json', '--data', '{"a":1}']),
        run('node', [example, url, '--ca', pki('selfsigned.crt')]),
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.toString(), 'status 200 OK\nnode https /ex TLSv1.3');
      assert.equal(post.code, 0, post.stderr);
      assert.equal(
        post.stdout.toString(),
        'status 201 Created\n{"echo":{"a":1},"method":"POST","tls":"TLSv1.3"}',
      );
      assert.equal(bad.code, 1);
      assert.equal(bad.stdout.toString(), '');
      assert.match(
        bad.stderr,
        /^fetch failed: TypeError: fetch failed <- TlsError: certificate verification failed: unable to get local issuer certificate\n$/,
      );
    } finally {
      await closeNodeServer(srv);
    }
  });

  test('examples/http-agent.mjs makes 3 requests to our HttpsServer over one reused connection', async () => {
    const { srv, port, connections } = await httpsServer();
    try {
      const r = await run('node', [
        path.join(root, 'examples', 'http-agent.mjs'),
        `https://localhost:${port}/agent-ex`,
        '--count',
        '3',
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(
        r.stdout.toString(),
        [
          'request 1: status 200, new connection, TLSv1.3',
          'hello /agent-ex over TLSv1.3',
          'request 2: status 200, reused connection, TLSv1.3',
          'hello /agent-ex over TLSv1.3',
          'request 3: status 200, reused connection, TLSv1.3',
          'hello /agent-ex over TLSv1.3',
          '',
        ].join('\n'),
      );
      assert.equal(connections.length, 1);
    } finally {
      await closeServer(srv);
    }
  });
});
