// connect() and createServer() against independent peers both ways: curl, openssl, gnutls and
// node:tls as clients of our server, and as servers for our client.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import tls from 'node:tls';
import {
  gnutlsServer,
  listen,
  noop,
  opensslServer,
  pem,
  pki,
  readAll,
  startPeer,
  waitFor,
  within,
} from '../support/helpers.mjs';
import { connectTo, startServer, stopServer, T } from '../support/sockets.mjs';

/** Resolves on 'close' (events.once would reject on an 'error' event first). */
const closed = (s) => new Promise((resolve) => s.once('close', resolve));

/** A server socket handler that echoes each line it gets, then ends with close_notify. */
function lineEchoOnce(seen) {
  return (s) => {
    seen.servername = s.servername;
    seen.version = s.version;
    s.on('error', (e) => {
      seen.error = e;
    });
    let buf = '';
    s.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) {
        seen.line = buf;
        s.end(buf);
      }
    });
  };
}

describe('interop: independent clients against createServer()', () => {
  test('curl --cacert gets the body of a minimal HTTP response from our server', T, async () => {
    const body = 'hello, curl over libtls\n';
    const seen = {};
    const { srv, port } = await startServer({}, (s) => {
      seen.servername = s.servername;
      s.on('error', (e) => {
        seen.error = e;
      });
      let req = '';
      s.on('data', (d) => {
        req += d;
        if (req.includes('\r\n\r\n')) {
          seen.request = req;
          s.end(
            `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
          );
        }
      });
    });
    try {
      const { err, stdout, stderr } = await new Promise((resolve) =>
        execFile(
          'curl',
          [
            '-sS',
            '--cacert',
            pki('ca.crt'),
            '--resolve',
            `localhost:${port}:127.0.0.1`,
            `https://localhost:${port}/`,
          ],
          { timeout: 10_000 },
          (err, stdout, stderr) => resolve({ err, stdout, stderr }),
        ),
      );
      assert.equal(err, null, stderr);
      assert.equal(stdout, body);
      assert.match(seen.request, /^GET \/ HTTP\/1\.1\r\n/);
      assert.equal(seen.servername, 'localhost');
      assert.equal(seen.error, undefined);
    } finally {
      await stopServer(srv);
    }
  });

  /**
   * Runs a client process against an echo server of ours: writes a line to its stdin, waits for
   * the echo on its stdout, then closes its stdin (the client sends close_notify, our server sees
   * a clean 'end' and ends too). Returns what both sides saw.
   */
  async function echoWithClientProcess(cmd, argsFor, line) {
    const seen = { ended: false, error: null, closed: false };
    const { srv, port } = await startServer({}, (s) => {
      seen.servername = s.servername;
      seen.version = s.version;
      s.on('error', (e) => {
        seen.error = e;
      });
      s.on('data', (d) => s.write(d));
      s.on('end', () => {
        seen.ended = true;
      });
      s.on('close', () => {
        seen.closed = true;
      });
    });
    const peer = await startPeer(cmd, argsFor(port), { ready: () => true });
    try {
      let stdout = '';
      peer.proc.stdout.on('data', (d) => {
        stdout += d;
      });
      peer.proc.stdin.write(line);
      assert.ok(await waitFor(() => stdout.includes(line)), `no echo:\n${peer.output()}`);
      peer.proc.stdin.end();
      const exit = await within(peer.exited, 5000, `${cmd} exit after its stdin closed`);
      assert.ok(await waitFor(() => seen.closed), 'our server socket did not close');
      return { ...seen, exit, output: peer.output() };
    } finally {
      await peer.kill();
      await stopServer(srv);
    }
  }

  test(
    "openssl s_client gets a line echoed by our server; its close_notify is our clean 'end'",
    T,
    async () => {
      const r = await echoWithClientProcess(
        'openssl',
        (port) => [
          's_client',
          '-connect',
          `127.0.0.1:${port}`,
          '-servername',
          'localhost',
          '-verify_hostname',
          'localhost',
          '-CAfile',
          pki('ca.crt'),
          '-verify_return_error',
        ],
        'hello from s_client\n',
      );
      assert.deepEqual(r.exit, { code: 0, sig: null }, r.output);
      assert.match(r.output, /Verify return code: 0 \(ok\)/);
      assert.equal(r.servername, 'localhost');
      assert.equal(r.version, 'TLSv1.3');
      assert.equal(r.ended, true);
      assert.equal(r.error, null);
    },
  );

  test(
    "gnutls-cli verifies our certificate and gets a line echoed; its close_notify is our clean 'end'",
    T,
    async () => {
      const r = await echoWithClientProcess(
        'gnutls-cli',
        (port) => [
          '--x509cafile',
          pki('ca.crt'),
          '-p',
          String(port),
          '--sni-hostname',
          'localhost',
          '--verify-hostname',
          'localhost',
          '127.0.0.1',
        ],
        'hello from gnutls-cli\n',
      );
      assert.deepEqual(r.exit, { code: 0, sig: null }, r.output);
      assert.match(r.output, /The certificate is trusted/);
      assert.match(r.output, /Peer has closed the GnuTLS connection/);
      assert.equal(r.servername, 'localhost');
      assert.equal(r.version, 'TLSv1.3');
      assert.equal(r.ended, true);
      assert.equal(r.error, null);
    },
  );

  test("node:tls as a client of our server: authorized, echo both ways, clean 'end'", T, async () => {
    const seen = {};
    const { srv, port } = await startServer({}, lineEchoOnce(seen));
    const c = tls.connect({ host: '127.0.0.1', port, ca: pem('ca.crt'), servername: 'localhost' });
    try {
      const got = readAll(c, 5000, "node:tls client's end");
      await within(once(c, 'secureConnect'), 5000, 'secureConnect');
      assert.equal(c.authorized, true, String(c.authorizationError));
      c.write('hello from node:tls\n');
      assert.equal(String(await got), 'hello from node:tls\n');
      assert.equal(seen.version, c.getProtocol());
      assert.equal(seen.error, undefined);
    } finally {
      c.destroy();
      await stopServer(srv);
    }
  });
});

describe('interop: connect() against independent servers', () => {
  test('connect() to openssl s_server -www: GET / returns its status page', T, async () => {
    const peer = await opensslServer(['-www']);
    try {
      const c = await connectTo(peer.port);
      const done = closed(c);
      assert.equal(c.version, 'TLSv1.3');
      assert.equal(c.peerCertificate.subject, '/CN=localhost');
      const body = readAll(c, 5000, 's_server -www response');
      c.write('GET / HTTP/1.0\r\n\r\n');
      const text = String(await body);
      assert.match(text, /^HTTP\/1\.0 200 ok\r\n/);
      assert.match(text, /Ciphers supported in s_server binary/);
      assert.match(text, /TLSv1\.3/);
      await within(done, 5000, 'close');
    } finally {
      await peer.kill();
    }
  });

  test('connect() to gnutls-serv --echo (on 127.0.0.1) gets a line echoed', T, async () => {
    // gnutls-serv runs with the loopback shim (test/fixtures/loopback-bind.c): it listens on loopback only.
    const peer = await gnutlsServer();
    try {
      const c = await connectTo(peer.port);
      c.on('error', noop);
      assert.equal(c.version, 'TLSv1.3');
      let got = '';
      c.on('data', (d) => {
        got += d;
      });
      c.write('echo through gnutls\n');
      assert.ok(await waitFor(() => got === 'echo through gnutls\n'), `got ${JSON.stringify(got)}`);
      c.end();
      await within(once(c, 'close'), 5000, 'close after end()');
    } finally {
      await peer.kill();
    }
  });

  test("connect() to a node:tls server: data both ways, and our end() is its clean 'end'", T, async () => {
    const seen = { data: '', ended: false, error: null };
    const server = tls.createServer({ key: pem('server.key'), cert: pem('server.crt') }, (s) => {
      seen.servername = s.servername;
      s.on('error', (e) => {
        seen.error = e;
      });
      s.on('data', (d) => {
        seen.data += d;
      });
      s.on('end', () => {
        seen.ended = true;
        s.end('bye from node\n');
      });
      s.write('hello from node\n');
    });
    const port = await listen(server);
    try {
      const c = await connectTo(port);
      const got = readAll(c, 5000, 'node:tls server reply');
      c.end('hello from libtls\n');
      assert.equal(String(await got), 'hello from node\nbye from node\n');
      assert.equal(seen.data, 'hello from libtls\n');
      assert.equal(seen.ended, true);
      assert.equal(seen.servername, 'localhost');
      assert.equal(seen.error, null);
    } finally {
      server.close();
    }
  });
});
