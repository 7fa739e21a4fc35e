// Every failure's `code`, produced on a real failure and compared with the code node:tls gives for
// the same failure: a client of each stack against the same server (certificate verification,
// alerts, a plaintext or vanishing server), a server of each stack against the same client
// (missing client certificate, a plaintext client, no common protocol, cipher or ALPN, a silent
// client), a Config of each stack (key mismatch, bad PEM, bad cipher list). Codes node:tls has no
// counterpart for are this package's ERR_TLS_*, each produced the same way. The differences
// allowed are listed in ALLOWED with their reasons.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { describe, test } from 'node:test';
import tls from 'node:tls';
import { L, listen, openFds, pem, pki, silentTcpServer, waitFor, within } from '../support/helpers.mjs';

const T = { timeout: 30_000 };

/**
 * Failures for which node:tls's code differs, in one place, with the reason. Keyed by the code
 * node:tls gives; the value is the code TlsError gives instead.
 */
const ALLOWED = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: {
    code: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    reason:
      "a leaf whose issuer is not trusted: OpenSSL's chain builder reports X509_V_ERR_UNABLE_TO_GET_" +
      'ISSUER_CERT_LOCALLY (20) under libtls, as under `openssl s_client`; node:tls sets its store ' +
      'up so that the same failure reports X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE (21)',
  },
};

/** The code node:tls's code is allowed to map to (itself unless listed in ALLOWED). */
const expectedFor = (nodeCode) => ALLOWED[nodeCode]?.code ?? nodeCode;

/** Settles with the first error `emitter` emits, or 'no error' once it closes (bounded). */
function firstError(socket, what) {
  return within(
    new Promise((resolve) => {
      socket.once('error', resolve);
      socket.once('close', () => resolve('no error'));
    }),
    8000,
    what,
  );
}

/** The error a node:tls client meets connecting to `port` (during or after the handshake). */
async function nodeClientError(port, options) {
  const c = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...options });
  c.resume();
  const err = await firstError(c, 'node:tls client');
  c.destroy();
  return err;
}

/** The error a libtls client meets connecting to `port` (during or after the handshake). */
async function libtlsClientError(port, config) {
  let s;
  try {
    s = await L.connect({ host: '127.0.0.1', port, servername: 'localhost', config });
  } catch (err) {
    return err;
  }
  s.resume();
  const err = await firstError(s, 'libtls client');
  s.destroy();
  return err;
}

/** A libtls server with Config `options`; returns its port and a closer. */
async function libtlsServer(options) {
  const server = L.createServer({ config: options });
  server.on('tlsClientError', () => {});
  server.on('secureConnection', (s) => {
    s.on('error', () => {});
    s.resume();
  });
  const port = await listen(server);
  return {
    port,
    close: async () => {
      await within(new Promise((r) => server.close(r)), 5000, 'server.close()');
      server.context.config?.free();
      server.context.free();
    },
  };
}

/** A node:tls server failing its clients as `options` make it; returns its port and a closer. */
async function nodeServer(options) {
  const server = tls.createServer({ cert: pem('server.crt'), key: pem('server.key'), ...options });
  server.on('tlsClientError', () => {});
  server.on('secureConnection', (s) => {
    s.on('error', () => {});
    s.resume();
  });
  const port = await listen(server);
  return { port, close: () => within(new Promise((r) => server.close(r)), 5000, 'server.close()') };
}

/** A TCP server that answers with `answer(socket)` (plaintext, or a reset). */
async function tcpServer(answer) {
  const sockets = new Set();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    s.once('data', () => answer(s));
  });
  const port = await listen(server);
  return {
    port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await within(new Promise((r) => server.close(r)), 5000, 'server.close()');
    },
  };
}

/** Runs `fn` and checks that it leaves no fd behind. */
async function noLeak(fn) {
  const fds0 = openFds();
  await fn();
  assert.ok(await waitFor(() => openFds() === fds0, 3000), `fds ${fds0} -> ${openFds()}`);
}

/** Asserts that `err` is a TlsError with `code`, and that node:tls gave `nodeCode` (as ALLOWED says). */
function sameCode(err, nodeErr, code) {
  assert.ok(nodeErr instanceof Error, `node:tls failed: ${String(nodeErr)}`);
  assert.equal(nodeErr.code, code, `node:tls's code (${nodeErr.message})`);
  assert.ok(err instanceof L.TlsError, `a TlsError: ${String(err)}`);
  assert.equal(err.code, expectedFor(code), `TlsError's code (${err.message})`);
}

const trustCa = { node: { ca: pem('ca.crt') }, libtls: { ca: pem('ca.crt') } };

// [node's code, the server (node:tls options, { libtls: Config options } or a TCP answer), the
// clients' options]
const CLIENT_FAILURES = [
  ['CERT_HAS_EXPIRED', { cert: pem('expired.crt'), key: pem('expired.key') }, trustCa],
  ['CERT_NOT_YET_VALID', { cert: pem('notyet.crt'), key: pem('notyet.key') }, trustCa],
  ['DEPTH_ZERO_SELF_SIGNED_CERT', { cert: pem('selfsigned.crt'), key: pem('selfsigned.key') }, trustCa],
  [
    'SELF_SIGNED_CERT_IN_CHAIN',
    { cert: pem('server-chain.pem'), key: pem('server.key') },
    { node: { ca: pem('selfsigned.crt') }, libtls: { ca: pem('selfsigned.crt') } },
  ],
  [
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    { cert: pem('server.crt'), key: pem('server.key') },
    { node: { ca: pem('selfsigned.crt') }, libtls: { ca: pem('selfsigned.crt') } },
  ],
  ['ERR_TLS_CERT_ALTNAME_INVALID', { cert: pem('other.crt'), key: pem('other.key') }, trustCa],
  [
    'CERT_REVOKED',
    { cert: pem('revoked.crt'), key: pem('revoked.key') },
    {
      node: { ca: pem('ca.crt'), crl: pem('crl.pem') },
      libtls: { ca: pem('ca.crt'), crl: pem('crl.pem') },
    },
  ],
  ['ERR_SSL_WRONG_VERSION_NUMBER', (s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'), trustCa],
  ['ECONNRESET', (s) => s.destroy(), trustCa],
  [
    'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION',
    { minVersion: 'TLSv1.3' },
    {
      node: { ca: pem('ca.crt'), maxVersion: 'TLSv1.2' },
      libtls: { ca: pem('ca.crt'), protocols: 'tlsv1.2' },
    },
  ],
  [
    'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE',
    { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' },
    {
      node: { ca: pem('ca.crt'), ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384' },
      libtls: { ca: pem('ca.crt'), ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384' },
    },
  ],
  [
    'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL',
    { ALPNProtocols: ['h2'] },
    { node: { ca: pem('ca.crt'), ALPNProtocols: ['foo'] }, libtls: { ca: pem('ca.crt'), alpn: 'foo' } },
  ],
  ['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', { requestCert: true, ca: pem('ca.crt') }, trustCa],
  [
    // node:tls's server checks a client certificate after the handshake and sends no alert: libtls's does
    'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
    { libtls: { cert: pem('server.crt'), key: pem('server.key'), ca: pem('ca.crt'), verifyClient: true } },
    {
      node: { ca: pem('ca.crt'), cert: pem('selfsigned.crt'), key: pem('selfsigned.key') },
      libtls: { ca: pem('ca.crt'), cert: pem('selfsigned.crt'), key: pem('selfsigned.key') },
    },
  ],
];

describe("a client's failure carries node:tls's code for it", () => {
  for (const [code, server, clients] of CLIENT_FAILURES) {
    test(code, T, () =>
      noLeak(async () => {
        const srv =
          typeof server === 'function'
            ? await tcpServer(server)
            : server.libtls
              ? await libtlsServer(server.libtls)
              : await nodeServer(server);
        try {
          const nodeErr = await nodeClientError(srv.port, clients.node);
          const err = await libtlsClientError(srv.port, clients.libtls);
          sameCode(err, nodeErr, code);
        } finally {
          await srv.close();
        }
      }),
    );
  }
});

/** The first failure a server of either stack reports for one client: 'tlsClientError' or the socket's. */
function serverFailure(server) {
  return within(
    new Promise((resolve) => {
      server.once('tlsClientError', resolve);
      server.once('secureConnection', (s) => {
        s.once('error', resolve);
        s.resume();
      });
    }),
    8000,
    'the server reports the failure',
  );
}

/** Runs the same client (`client(port)`) against a node:tls and a libtls server; returns both errors. */
async function bothServers(nodeOptions, libtlsOptions, client) {
  const ns = tls.createServer({ cert: pem('server.crt'), key: pem('server.key'), ...nodeOptions });
  const ls = L.createServer({
    ...libtlsOptions,
    config: { cert: pem('server.crt'), key: pem('server.key'), ...libtlsOptions.config },
  });
  const out = [];
  for (const s of [ns, ls]) {
    const port = await listen(s);
    const failed = serverFailure(s);
    const c = await client(port);
    out.push(await failed);
    c.destroy();
    await within(new Promise((r) => s.close(r)), 5000, 'server.close()');
  }
  ls.context.config?.free();
  ls.context.free();
  return out;
}

/** A node:tls client that ignores its own failure. */
function tlsClient(options) {
  return async (port) => {
    const c = tls.connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: pem('ca.crt'),
      ...options,
    });
    c.on('error', () => {});
    c.resume();
    return c;
  };
}

/** A TCP client that sends `bytes` (or nothing) and waits. */
function tcpClient(bytes) {
  return async (port) => {
    const c = net.connect({ host: '127.0.0.1', port });
    c.on('error', () => {});
    await once(c, 'connect');
    if (bytes !== undefined) c.write(bytes);
    return c;
  };
}

// [node's code, node:tls server options, createServer() options, the client]
const SERVER_FAILURES = [
  [
    'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE',
    { requestCert: true, rejectUnauthorized: true, ca: pem('ca.crt') },
    { config: { ca: pem('ca.crt'), verifyClient: true } },
    tlsClient({}),
  ],
  ['ERR_SSL_HTTP_REQUEST', {}, {}, tcpClient('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n')],
  [
    'ERR_SSL_UNSUPPORTED_PROTOCOL',
    { minVersion: 'TLSv1.3' },
    { config: { protocols: 'tlsv1.3' } },
    tlsClient({ maxVersion: 'TLSv1.2' }),
  ],
  [
    'ERR_SSL_NO_SHARED_CIPHER',
    { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' },
    { config: { protocols: 'tlsv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' } },
    tlsClient({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384' }),
  ],
  ['ERR_TLS_HANDSHAKE_TIMEOUT', { handshakeTimeout: 300 }, { handshakeTimeout: 300 }, tcpClient()],
  // a ClientHello's record header, then the client goes away
  ['ECONNRESET', {}, {}, async (port) => (await tcpClient(Buffer.from([0x16, 3, 1, 0, 0x50]))(port)).end()],
];

describe("a server's failure carries node:tls's code for it", () => {
  for (const [code, nodeOptions, libtlsOptions, client] of SERVER_FAILURES) {
    test(code, T, () =>
      noLeak(async () => {
        const [nodeErr, err] = await bothServers(nodeOptions, libtlsOptions, client);
        sameCode(err, nodeErr, code);
      }),
    );
  }
});

/** The error `fn` throws. */
function thrown(fn) {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return 'nothing thrown';
}

describe("a Config's failure carries the code node:tls gives for the same certificate or setting", () => {
  const cases = [
    [
      'a key that does not match the certificate',
      { cert: pem('server.crt'), key: pem('other.key') },
      { cert: pem('server.crt'), key: pem('other.key') },
    ],
    ['a cipher list that names no cipher', { ciphers: 'NO-SUCH-CIPHER' }, { ciphers: 'NO-SUCH-CIPHER' }],
  ];
  for (const [what, nodeOptions, configOptions] of cases) {
    test(what, () => {
      const nodeErr = thrown(() => tls.createSecureContext(nodeOptions));
      // libtls checks a keypair when a server context is configured with it
      const err = thrown(() => {
        const c = new L.Config(configOptions);
        try {
          L.server(c).free();
        } finally {
          c.free();
        }
      });
      assert.ok(nodeErr instanceof Error && typeof nodeErr.code === 'string', String(nodeErr));
      sameCode(err, nodeErr, nodeErr.code);
      assert.equal(typeof err.reason, 'string', 'OpenSSL reason as on node:tls errors');
      assert.equal(err.reason, nodeErr.reason);
    });
  }

  test('a file that does not exist: ENOENT, with errno, as node:fs', () => {
    const path = pki('no-such-file.pem');
    const nodeErr = thrown(() => readFileSync(path));
    const err = thrown(() => L.Config.loadFile(path));
    assert.ok(err instanceof L.TlsError);
    assert.equal(err.code, nodeErr.code);
    assert.equal(err.errno, nodeErr.errno);
  });
});

describe("this package's own codes, where node:tls has no counterpart", () => {
  test('ERR_TLS_INVALID_STATE: a call on a freed context', () => {
    const c = L.client();
    c.free();
    const err = thrown(() => c.handshake());
    assert.ok(err instanceof L.TlsError);
    assert.equal(err.code, 'ERR_TLS_INVALID_STATE');
  });

  test('ERR_TLS_INVALID_STATE: a freed Config', () => {
    const c = new L.Config();
    c.free();
    const err = thrown(() => c.setAlpn('h2'));
    assert.ok(err instanceof L.TlsError);
    assert.equal(err.code, 'ERR_TLS_INVALID_STATE');
  });

  test('ERR_TLS_CONFIG: a protocol string libtls does not know', () => {
    const err = thrown(() => L.Config.parseProtocols('tlsv9'));
    assert.ok(err instanceof L.TlsError);
    assert.equal(err.code, 'ERR_TLS_CONFIG');
  });

  test('ERR_TLS_OCSP_STAPLE_REQUIRED: ocspRequireStapling and a server that staples nothing', T, () =>
    noLeak(async () => {
      const srv = await nodeServer({});
      try {
        const err = await libtlsClientError(srv.port, { ca: pem('ca.crt'), ocspRequireStapling: true });
        assert.ok(err instanceof L.TlsError, String(err));
        assert.equal(err.code, 'ERR_TLS_OCSP_STAPLE_REQUIRED');
      } finally {
        await srv.close();
      }
    }),
  );

  test('ERR_TLS_OCSP_INVALID: a stapled response that is not OCSP', T, () =>
    noLeak(async () => {
      const server = L.createServer({
        config: { cert: pem('server.crt'), key: pem('server.key'), ocspStaple: pem('ocsp-garbage.der') },
      });
      server.on('tlsClientError', () => {});
      const port = await listen(server);
      try {
        const err = await libtlsClientError(port, { ca: pem('ca.crt'), ocspRequireStapling: true });
        assert.ok(err instanceof L.TlsError, String(err));
        assert.equal(err.code, 'ERR_TLS_OCSP_INVALID');
      } finally {
        await within(new Promise((r) => server.close(r)), 5000, 'server.close()');
        server.context.config?.free();
        server.context.free();
      }
    }),
  );

  test("ERR_TLS_HANDSHAKE_TIMEOUT: connect()'s timeout on a server that never answers", T, () =>
    noLeak(async () => {
      const silent = await silentTcpServer();
      try {
        const timed = await L.connect({ host: '127.0.0.1', port: silent.port, timeout: 300 }).catch((e) => e);
        assert.ok(timed instanceof L.TlsError, String(timed));
        assert.equal(timed.code, 'ERR_TLS_HANDSHAKE_TIMEOUT');
      } finally {
        await silent.close();
      }
    }),
  );
});
