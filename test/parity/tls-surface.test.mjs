// TlsSocket's node:tls surface, side by side with node:tls: the same scenario (certificates of
// test/fixtures/pki, client certificates or none, ALPN or none, TLS 1.2 or 1.3, verification
// relaxed) runs once between a node:tls client and server and once between a libtls client and
// server, and every property and method both have must give equal values on both sides of the
// connection. The differences allowed are listed in ALLOWED, each with its reason. The methods
// libtls has nothing for throw ERR_TLS_UNSUPPORTED.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import tls from 'node:tls';
import { L, listen, openFds, pem, waitFor, within } from '../support/helpers.mjs';

const T = { timeout: 30_000 };

/**
 * The differences allowed between node:tls and TlsSocket for the same connection, in one place.
 * Each entry names the values it excludes from the comparison, and why.
 */
const ALLOWED = {
  ports: 'ephemeral ports differ between two connections: address().port, localPort, remotePort',
};

/** What a scenario gives each stack: node:tls options, and the matching libtls Config options. */
const SCENARIOS = [
  {
    name: 'no SNI: the client connects to an IP address and verifies it',
    servername: null,
    node: { server: { cert: pem('server.crt'), key: pem('server.key') }, client: { ca: pem('ca.crt') } },
    libtls: { server: { cert: pem('server.crt'), key: pem('server.key') }, client: { ca: pem('ca.crt') } },
  },
  {
    name: 'over IPv6 (::1)',
    host: '::1',
    node: { server: { cert: pem('server.crt'), key: pem('server.key') }, client: { ca: pem('ca.crt') } },
    libtls: { server: { cert: pem('server.crt'), key: pem('server.key') }, client: { ca: pem('ca.crt') } },
  },
  {
    name: 'server certificate, no client certificate, no ALPN',
    node: { server: { cert: pem('server.crt'), key: pem('server.key') }, client: { ca: pem('ca.crt') } },
    libtls: { server: { cert: pem('server.crt'), key: pem('server.key') }, client: { ca: pem('ca.crt') } },
  },
  {
    name: 'client certificate required and sent',
    node: {
      server: { cert: pem('server.crt'), key: pem('server.key'), ca: pem('ca.crt'), requestCert: true },
      client: { ca: pem('ca.crt'), cert: pem('client.crt'), key: pem('client.key') },
    },
    libtls: {
      server: { cert: pem('server.crt'), key: pem('server.key'), ca: pem('ca.crt'), verifyClient: true },
      client: { ca: pem('ca.crt'), cert: pem('client.crt'), key: pem('client.key') },
    },
  },
  {
    name: 'client certificate asked for, none sent (optional)',
    node: {
      server: {
        cert: pem('server.crt'),
        key: pem('server.key'),
        ca: pem('ca.crt'),
        requestCert: true,
        rejectUnauthorized: false,
      },
      client: { ca: pem('ca.crt') },
    },
    libtls: {
      server: {
        cert: pem('server.crt'),
        key: pem('server.key'),
        ca: pem('ca.crt'),
        verifyClient: 'optional',
      },
      client: { ca: pem('ca.crt') },
    },
  },
  {
    name: 'ALPN agreed (h2, http/1.1 offered; the server prefers http/1.1)',
    node: {
      server: { cert: pem('server.crt'), key: pem('server.key'), ALPNProtocols: ['http/1.1', 'h2'] },
      client: { ca: pem('ca.crt'), ALPNProtocols: ['h2', 'http/1.1'] },
    },
    libtls: {
      server: { cert: pem('server.crt'), key: pem('server.key'), alpn: ['http/1.1', 'h2'] },
      client: { ca: pem('ca.crt'), alpn: ['h2', 'http/1.1'] },
    },
  },
  {
    name: 'client offers ALPN, the server has none',
    node: {
      server: { cert: pem('server.crt'), key: pem('server.key') },
      client: { ca: pem('ca.crt'), ALPNProtocols: ['h2'] },
    },
    libtls: {
      server: { cert: pem('server.crt'), key: pem('server.key') },
      client: { ca: pem('ca.crt'), alpn: ['h2'] },
    },
  },
  {
    name: 'TLS 1.2 with an RSA certificate (the cipher named the same on both)',
    node: {
      server: { cert: pem('server-rsa.crt'), key: pem('server-rsa.key'), maxVersion: 'TLSv1.2' },
      client: { ca: pem('ca.crt'), ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' },
    },
    libtls: {
      server: { cert: pem('server-rsa.crt'), key: pem('server-rsa.key'), protocols: 'tlsv1.2' },
      client: { ca: pem('ca.crt'), ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' },
    },
  },
  {
    name: 'the server sends its whole chain (leaf and root)',
    node: {
      server: { cert: pem('server-chain.pem'), key: pem('server.key') },
      client: { ca: pem('ca.crt') },
    },
    libtls: {
      server: { cert: pem('server-chain.pem'), key: pem('server.key') },
      client: { ca: pem('ca.crt') },
    },
  },
  {
    name: 'self-signed server certificate, verification off',
    node: {
      server: { cert: pem('selfsigned.crt'), key: pem('selfsigned.key') },
      client: { rejectUnauthorized: false },
    },
    libtls: {
      server: { cert: pem('selfsigned.crt'), key: pem('selfsigned.key') },
      client: { insecure: { noVerifyCert: true } },
    },
  },
  {
    name: 'certificate for another name, name verification off',
    node: {
      server: { cert: pem('other.crt'), key: pem('other.key') },
      client: { ca: pem('ca.crt'), rejectUnauthorized: false },
    },
    libtls: {
      server: { cert: pem('other.crt'), key: pem('other.key') },
      client: { ca: pem('ca.crt'), insecure: { noVerifyName: true } },
    },
  },
  {
    name: 'expired server certificate, time verification off',
    node: {
      server: { cert: pem('expired.crt'), key: pem('expired.key') },
      client: { ca: pem('ca.crt'), rejectUnauthorized: false },
    },
    libtls: {
      server: { cert: pem('expired.crt'), key: pem('expired.key') },
      client: { ca: pem('ca.crt'), insecure: { noVerifyTime: true } },
    },
  },
];

const PING = Buffer.from('ping from the client');
const PONG = Buffer.from('pong from the server, a little longer');

/** Everything node:tls and TlsSocket both report, read from `s` (the ALLOWED values left out). */
function surface(s) {
  const a = s.address();
  return {
    authorized: s.authorized,
    authorizationError: s.authorizationError,
    encrypted: s.encrypted,
    alpnProtocol: s.alpnProtocol,
    servername: s.servername,
    protocol: s.getProtocol(),
    cipher: s.getCipher(),
    sessionReused: s.isSessionReused(),
    peerCertificate: s.getPeerCertificate(),
    peerCertificateDetailed: s.getPeerCertificate(true),
    x509: s.getPeerX509Certificate()?.raw.toString('base64'),
    address: { address: a.address, family: a.family },
    localAddress: s.localAddress,
    remoteAddress: s.remoteAddress,
    remoteFamily: s.remoteFamily,
    pending: s.pending,
    readyState: s.readyState,
    connecting: s.connecting,
    bytesRead: s.bytesRead,
    bytesWritten: s.bytesWritten,
  };
}

/** Reads exactly `n` bytes from `s` (bounded). */
async function readBytes(s, n, what) {
  const chunks = [];
  let got = 0;
  const done = new Promise((resolve, reject) => {
    const onData = (c) => {
      chunks.push(c);
      got += c.length;
      if (got >= n) {
        s.off('data', onData);
        resolve();
      }
    };
    s.on('data', onData);
    s.once('error', reject);
  });
  await within(done, 5000, what);
  return Buffer.concat(chunks);
}

/** Connects a client to `server` (node:tls or libtls), exchanges PING/PONG, reads both surfaces. */
async function exchange(server, port, connectClient) {
  const accepted = once(server, 'secureConnection');
  const client = await connectClient(port);
  const [srvSocket] = await within(accepted, 5000, 'secureConnection');
  client.write(PING);
  const ping = await readBytes(srvSocket, PING.length, 'ping');
  srvSocket.write(PONG);
  const pong = await readBytes(client, PONG.length, 'pong');
  assert.deepEqual([ping, pong], [PING, PONG]);
  const result = { client: surface(client), server: surface(srvSocket) };
  const closed = Promise.all([once(client, 'close'), once(srvSocket, 'close')]);
  client.destroy();
  srvSocket.destroy();
  await within(closed, 5000, 'sockets closed');
  result.afterDestroy = {
    peerCertificate: client.getPeerCertificate(),
    protocol: client.getProtocol(),
    cipher: client.getCipher(),
    x509: client.getPeerX509Certificate(),
  };
  return result;
}

async function runNode(sc) {
  const server = tls.createServer(sc.node.server);
  const host = sc.host ?? '127.0.0.1';
  const port = await listen(server, host);
  try {
    return await exchange(server, port, async (p) => {
      const name = sc.servername === null ? {} : { servername: 'localhost' };
      const c = tls.connect({ host, port: p, ...name, ...sc.node.client });
      await within(once(c, 'secureConnect'), 5000, 'node secureConnect');
      return c;
    });
  } finally {
    await within(new Promise((r) => server.close(r)), 5000, 'node server.close()');
  }
}

async function runLibtls(sc) {
  const server = L.createServer({ config: sc.libtls.server });
  const host = sc.host ?? '127.0.0.1';
  const port = await listen(server, host);
  try {
    return await exchange(server, port, (p) =>
      L.connect({
        host,
        port: p,
        ...(sc.servername === null ? {} : { servername: 'localhost' }),
        config: sc.libtls.client,
      }),
    );
  } finally {
    await within(new Promise((r) => server.close(r)), 5000, 'libtls server.close()');
    server.context.config?.free();
    server.context.free();
  }
}

describe('TlsSocket reports what node:tls reports for the same connection', () => {
  assert.ok(Object.keys(ALLOWED).length > 0);
  for (const sc of SCENARIOS) {
    test(sc.name, T, async () => {
      const fds0 = openFds();
      const res0 = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').length;
      const n = await runNode(sc);
      const l = await runLibtls(sc);
      assert.deepStrictEqual(l.client, n.client, 'client socket');
      assert.deepStrictEqual(l.server, n.server, 'server socket');
      assert.deepStrictEqual(l.afterDestroy, n.afterDestroy, 'client socket once destroyed');
      assert.deepStrictEqual(
        [l.client.bytesWritten, l.client.bytesRead, l.server.bytesWritten, l.server.bytesRead],
        [PING.length, PONG.length, PONG.length, PING.length],
        'bytes moved: the plaintext of the exchange',
      );
      assert.ok(await waitFor(() => openFds() === fds0, 2000), `fds ${fds0} -> ${openFds()}`);
      assert.ok(
        await waitFor(
          () => process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').length <= res0,
          2000,
        ),
        `active resources: ${process.getActiveResourcesInfo()}`,
      );
    });
  }
});

describe('what libtls cannot give', () => {
  const methods = [
    ['exportKeyingMaterial', [32, 'EXPORTER-test', undefined]],
    ['getEphemeralKeyInfo', []],
    ['setMaxSendFragment', [4096]],
    ['renegotiate', [{}, () => {}]],
    ['getSession', []],
    ['setSession', [Buffer.alloc(0)]],
    ['getTLSTicket', []],
    ['enableTrace', []],
    ['getFinished', []],
    ['getPeerFinished', []],
    ['getSharedSigalgs', []],
    ['getCertificate', []],
    ['getX509Certificate', []],
    ['setKeyCert', [{}]],
  ];

  test(
    'each absent method throws a TlsError with code ERR_TLS_UNSUPPORTED naming the reason; the socket keeps working',
    T,
    async () => {
      const fds0 = openFds();
      const server = L.createServer({ config: { cert: pem('server.crt'), key: pem('server.key') } });
      const port = await listen(server);
      const accepted = once(server, 'secureConnection');
      const c = await L.connect({
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        config: { ca: pem('ca.crt') },
      });
      const [s] = await accepted;
      for (const [m, args] of methods) {
        // node:tls has each of them
        assert.equal(typeof tls.TLSSocket.prototype[m], 'function', `node:tls has ${m}`);
        assert.throws(
          () => c[m](...args),
          (err) =>
            err instanceof L.TlsError &&
            err.code === 'ERR_TLS_UNSUPPORTED' &&
            err.op === m &&
            err.message.startsWith(`TlsSocket.${m}() is not available: libtls `),
          m,
        );
      }
      // a TlsSocket is connected when made: net.Socket's connect() is refused the same way
      assert.throws(
        () => c.connect(port, '127.0.0.1'),
        (err) => err instanceof L.TlsError && err.code === 'ERR_TLS_UNSUPPORTED' && err.op === 'connect',
      );
      // libtls never renegotiates: disabling it is a no-op, as on a node:tls socket that did not
      assert.equal(c.disableRenegotiation(), undefined);
      c.write('still works');
      assert.equal(String(await readBytes(s, 11, 'after the refusals')), 'still works');
      const closed = Promise.all([once(c, 'close'), once(s, 'close')]);
      c.destroy();
      s.destroy();
      await within(closed, 5000, 'closed');
      await within(new Promise((r) => server.close(r)), 5000, 'server.close()');
      server.context.config?.free();
      server.context.free();
      assert.ok(await waitFor(() => openFds() === fds0, 2000), `fds ${fds0} -> ${openFds()}`);
    },
  );
});
