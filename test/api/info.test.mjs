// Connection and peer info of the 1:1 API: the peerCert* getters against what openssl and
// node:crypto compute, the chain, connCipherStrength(), and the getters without a peer certificate.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { assertTlsError, clientConfig, L, pem, pki, serverConfig, sha256 } from '../support/helpers.mjs';
import { handshakeWith, opensslDate, opensslHash, osslServer, pair, scope, x509 } from '../support/peers.mjs';

const T = { timeout: 20_000 };

/** The error `fn` throws (undefined if it returns). */
function thrown(fn) {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

const nowSec = () => Math.floor(Date.now() / 1000);

const optionalClient = () => serverConfig({ verifyClient: 'optional', caFile: pki('ca.crt') });

test(
  'peerCertNotBefore()/NotAfter() without a peer certificate throw TlsError with a message about the missing certificate, not a stale OCSP error',
  T,
  async (t) => {
    // libtls returns -1 from these getters without setting an error; tls_error() then still holds
    // "no peer certificate for OCSP", left by the OCSP set-up at the end of the handshake
    const s = scope(t);
    const r = await pair(s, optionalClient(), clientConfig());
    assert.equal(r.serverError, undefined);
    assert.equal(r.acc.peerCertProvided(), false);
    for (const [m, op] of [
      ['peerCertNotBefore', 'tls_peer_cert_notbefore'],
      ['peerCertNotAfter', 'tls_peer_cert_notafter'],
    ]) {
      const err = thrown(() => r.acc[m]());
      assertTlsError(err, op, /peer certificate/);
      assert.doesNotMatch(err.message, /OCSP/, `${m}() reports a stale, unrelated libtls error`);
    }
  },
);

test(
  'peerCertHash/Subject/Issuer/NotBefore/NotAfter/ChainPem equal what openssl and node:crypto compute from server.crt',
  T,
  async (t) => {
    const s = scope(t);
    const { port } = await osslServer(s, []);
    const r = handshakeWith(port, clientConfig(), 'localhost', (c) => ({
      hash: c.peerCertHash(),
      subject: c.peerCertSubject(),
      issuer: c.peerCertIssuer(),
      notBefore: c.peerCertNotBefore(),
      notAfter: c.peerCertNotAfter(),
      chain: c.peerCertChainPem(),
      provided: c.peerCertProvided(),
    }));
    assert.equal(r.err, undefined);
    const v = r.value;
    const raw = new X509Certificate(pem('server.crt')).raw;
    assert.equal(v.hash, `SHA256:${sha256(raw)}`);
    assert.equal(v.hash, opensslHash('server.crt'));
    // libtls prints names with X509_NAME_oneline, which is openssl's "compat" name format
    const names = x509('server.crt', '-noout', '-subject', '-issuer', '-nameopt', 'compat');
    assert.equal(`subject=${v.subject}\nissuer=${v.issuer}\n`, names);
    const dates = x509('server.crt', '-noout', '-startdate', '-enddate');
    const [, start] = dates.match(/^notBefore=(.*)$/m);
    const [, end] = dates.match(/^notAfter=(.*)$/m);
    assert.equal(v.notBefore, opensslDate(start));
    assert.equal(v.notAfter, opensslDate(end));
    assert.ok(v.notBefore <= nowSec() && nowSec() < v.notAfter);
    assert.equal(v.chain, readFileSync(pki('server.crt'), 'utf8'));
    assert.equal(v.provided, true);
  },
);

test(
  'peerCertChainPem() returns the whole chain the server sent (server-chain.pem: server cert then CA)',
  T,
  async (t) => {
    const s = scope(t);
    const { port } = await osslServer(s, [
      '-cert',
      pki('server-chain.pem'),
      '-key',
      pki('server.key'),
      '-cert_chain',
      pki('ca.crt'),
    ]);
    const r = handshakeWith(port, clientConfig(), 'localhost', (c) => c.peerCertChainPem());
    assert.equal(r.err, undefined);
    assert.equal(r.value, readFileSync(pki('server.crt'), 'utf8') + readFileSync(pki('ca.crt'), 'utf8'));
    // and from our own server configured with the chain file
    const p = await pair(
      s,
      new L.Config({ certFile: pki('server-chain.pem'), keyFile: pki('server.key') }),
      clientConfig(),
    );
    assert.equal(p.clientError, undefined);
    assert.equal(p.cli.peerCertChainPem(), readFileSync(pki('server-chain.pem'), 'utf8'));
  },
);

test(
  'connCipherStrength() is the key size of connCipher() as `openssl ciphers -v` states it (128 or 256)',
  T,
  async (t) => {
    const s = scope(t);
    const bits = new Map(
      execFileSync('openssl', ['ciphers', '-v', 'ALL'], { encoding: 'utf8' })
        .split('\n')
        .map((l) => l.match(/^(\S+)\s.*Enc=\S+\((\d+)\)/))
        .filter(Boolean)
        .map((m) => [m[1], Number(m[2])]),
    );
    const cases = [
      [['-tls1_3', '-ciphersuites', 'TLS_AES_128_GCM_SHA256'], 'TLS_AES_128_GCM_SHA256'],
      [['-tls1_3', '-ciphersuites', 'TLS_AES_256_GCM_SHA384'], 'TLS_AES_256_GCM_SHA384'],
      [['-tls1_3', '-ciphersuites', 'TLS_CHACHA20_POLY1305_SHA256'], 'TLS_CHACHA20_POLY1305_SHA256'],
      [['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256'], 'ECDHE-ECDSA-AES128-GCM-SHA256'],
      [['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES256-GCM-SHA384'], 'ECDHE-ECDSA-AES256-GCM-SHA384'],
      [['-tls1_2', '-cipher', 'ECDHE-ECDSA-CHACHA20-POLY1305'], 'ECDHE-ECDSA-CHACHA20-POLY1305'],
    ];
    const seen = new Set();
    for (const [args, cipher] of cases) {
      const { port } = await osslServer(s, args);
      const r = handshakeWith(port, clientConfig(), 'localhost', (c) => [
        c.connCipher(),
        c.connCipherStrength(),
      ]);
      assert.equal(r.err, undefined, String(r.err));
      assert.equal(r.value[0], cipher);
      assert.equal(r.value[1], bits.get(cipher), cipher);
      seen.add(r.value[1]);
    }
    assert.deepEqual([...seen].sort(), [128, 256]);
  },
);
