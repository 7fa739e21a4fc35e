// OCSP: staples from and to openssl, ocspRequireStapling(), the status getters, and
// ocspProcessResponse() by hand (good, revoked, stale, garbage, no OCSP URL).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  assertTlsError,
  clientConfig,
  helpersUrl,
  L,
  pem,
  pki,
  runNodeScript,
  serverConfig,
  serverFor,
} from '../support/helpers.mjs';
import {
  handshakeWith,
  opensslDate,
  osslServer,
  ourServer,
  pair,
  sClient,
  scope,
} from '../support/peers.mjs';

const T = { timeout: 20_000 };

/** The fields of `openssl ocsp -resp_text` for a DER response fixture. */
function ocspText(file) {
  const out = execFileSync('openssl', ['ocsp', '-respin', pki(file), '-resp_text', '-noverify'], {
    encoding: 'utf8',
  });
  const field = (name) => {
    const m = out.match(new RegExp(`${name}: (.*)`));
    return m ? opensslDate(m[1]) : null;
  };
  return {
    thisUpdate: field('This Update'),
    nextUpdate: field('Next Update'),
    revocationTime: field('Revocation Time'),
  };
}

const nowSec = () => Math.floor(Date.now() / 1000);

function assertGoodStaple(cli) {
  assert.equal(cli.peerOcspCertStatus(), L.OCSP_CERT_GOOD);
  assert.equal(cli.peerOcspResponseStatus(), L.OCSP_RESPONSE_SUCCESSFUL);
  assert.equal(cli.peerOcspResult(), 'good');
  assert.equal(cli.peerOcspUrl(), 'http://127.0.0.1:8888/ocsp');
  const thisUpdate = cli.peerOcspThisUpdate();
  const nextUpdate = cli.peerOcspNextUpdate();
  const good = ocspText('ocsp-good.der');
  assert.equal(thisUpdate, good.thisUpdate);
  assert.equal(nextUpdate, good.nextUpdate);
  assert.ok(thisUpdate <= nowSec() + 60, 'thisUpdate is not in the future');
  assert.ok(nextUpdate > nowSec(), 'nextUpdate is in the future');
  assert.equal(nextUpdate - thisUpdate, 7 * 86400);
  // a good certificate has no revocation time: libtls has no value, the getter returns null
  assert.equal(cli.peerOcspRevocationTime(), null);
}

for (const [how, make] of [
  [
    'setKeypairFile(cert, key, staple)',
    () => new L.Config().setKeypairFile(pki('server.crt'), pki('server.key'), pki('ocsp-good.der')),
  ],
  ['setOcspStapleFile()', () => serverConfig().setOcspStapleFile(pki('ocsp-good.der'))],
  ['the ocspStaple option', () => serverConfig({ ocspStaple: pem('ocsp-good.der') })],
  [
    'setKeypair(cert, key, staple bytes)',
    () => new L.Config().setKeypair(pem('server.crt'), pem('server.key'), pem('ocsp-good.der')),
  ],
]) {
  test(
    `a good OCSP staple set with ${how} verifies: OCSP_CERT_GOOD, OCSP_RESPONSE_SUCCESSFUL, sane times, the AIA URL`,
    T,
    async (t) => {
      const s = scope(t);
      const r = await pair(s, make(), clientConfig({ ocspRequireStapling: true }));
      assert.equal(r.clientError, undefined);
      assert.equal(r.serverError, undefined);
      assertGoodStaple(r.cli);
    },
  );
}

test(
  'a good OCSP staple from openssl s_server -status_file verifies in our client (TLS 1.2 and 1.3)',
  T,
  async (t) => {
    const s = scope(t);
    for (const flag of ['-tls1_2', '-tls1_3']) {
      const { port } = await osslServer(s, [flag, '-status_file', pki('ocsp-good.der')]);
      const r = handshakeWith(port, clientConfig().ocspRequireStapling(), 'localhost', (c) => {
        assertGoodStaple(c);
        return c.connVersion();
      });
      assert.equal(r.err, undefined, String(r.err));
      assert.equal(r.value, flag === '-tls1_2' ? 'TLSv1.2' : 'TLSv1.3');
    }
  },
);

test("openssl s_client -status sees our server's staple as good", T, async (t) => {
  const s = scope(t);
  const srv = await ourServer(s, serverConfig({ ocspStaple: pem('ocsp-good.der') }));
  const r = await sClient(s, srv.port, ['-servername', 'localhost', '-status', '-verify_return_error']);
  await srv.close();
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /OCSP Response Status: successful \(0x0\)/);
  assert.match(r.out, /Cert Status: good/);
});

for (const [label, server, re] of [
  [
    'a revoked staple (revoked.crt + ocsp-revoked.der)',
    () => serverFor('revoked').setOcspStapleFile(pki('ocsp-revoked.der')),
    /^ocsp verify failed: revoked cert - keyCompromise$/,
  ],
  [
    'a stale staple (nextUpdate in the past)',
    () => serverConfig().setOcspStapleFile(pki('ocsp-stale.der')),
    /^ocsp verify failed: ocsp response not current$/,
  ],
  // libtls appends strerror(errno) when errno is set: "...: Success" was seen over TLS 1.2
  [
    'a garbage staple',
    () => serverConfig().setOcspStapleFile(pki('ocsp-garbage.der')),
    /^unable to parse OCSP response(: .*)?$/,
  ],
  [
    'a staple for another certificate',
    () => serverConfig().setOcspStapleFile(pki('ocsp-other.der')),
    /^ocsp verify failed: no result for cert$/,
  ],
]) {
  test(`${label} fails the handshake over TLS 1.2 and 1.3`, T, async (t) => {
    const s = scope(t);
    for (const protocols of ['tlsv1.2', 'tlsv1.3']) {
      const r = await pair(s, server(), clientConfig({ protocols }));
      assertTlsError(r.clientError, 'tls_handshake', re);
      assertTlsError(r.serverError, 'tls_handshake', /^handshake failed: .*bad certificate status response$/);
    }
  });
}

test(
  'insecureNoVerifyTime() and insecureNoVerifyCert() also skip the stapled OCSP check: a revoked staple is accepted and not processed',
  T,
  async (t) => {
    const s = scope(t);
    for (const insecure of [{ noVerifyTime: true }, { noVerifyCert: true }]) {
      const r = await pair(
        s,
        serverFor('revoked').setOcspStapleFile(pki('ocsp-revoked.der')),
        clientConfig({ insecure }),
      );
      assert.equal(r.clientError, undefined);
      assert.equal(r.serverError, undefined);
      assert.equal(r.cli.peerOcspUrl(), 'http://127.0.0.1:8888/ocsp');
      assert.throws(
        () => r.cli.peerOcspCertStatus(),
        (e) => e instanceof L.TlsError && e.op === 'tls_peer_ocsp_cert_status',
      );
    }
    // while insecureNoVerifyName() keeps it
    const r = await pair(
      s,
      serverFor('revoked').setOcspStapleFile(pki('ocsp-revoked.der')),
      clientConfig().insecureNoVerifyName(),
    );
    assertTlsError(r.clientError, 'tls_handshake', /^ocsp verify failed: revoked cert - keyCompromise$/);
  },
);

test(
  'ocspRequireStapling() without a staple fails the handshake: "no stapled OCSP response provided"',
  T,
  async (t) => {
    const s = scope(t);
    for (const protocols of ['tlsv1.2', 'tlsv1.3']) {
      const r = await pair(s, serverConfig(), clientConfig({ protocols }).ocspRequireStapling());
      assertTlsError(r.clientError, 'tls_handshake', /^no stapled OCSP response provided$/);
      assertTlsError(r.serverError, 'tls_handshake', /^handshake failed: .*bad certificate status response$/);
    }
    // against openssl s_server, which staples nothing by default
    const { port } = await osslServer(s, []);
    const o = handshakeWith(port, clientConfig({ ocspRequireStapling: true }), 'localhost');
    assertTlsError(o.err, 'tls_handshake', /^no stapled OCSP response provided$/);
  },
);

test(
  'without a staple (and not requiring one) the handshake succeeds, peerOcspUrl() is set and the status getters throw TlsError',
  T,
  async (t) => {
    const s = scope(t);
    const r = await pair(s, serverConfig(), clientConfig());
    assert.equal(r.clientError, undefined);
    assert.equal(r.cli.peerOcspUrl(), 'http://127.0.0.1:8888/ocsp');
    assert.equal(r.cli.peerOcspResult(), null);
    for (const m of [
      'peerOcspCertStatus',
      'peerOcspResponseStatus',
      'peerOcspCrlReason',
      'peerOcspThisUpdate',
      'peerOcspNextUpdate',
      'peerOcspRevocationTime',
    ]) {
      const op = `tls_peer_ocsp_${m
        .slice('peerOcsp'.length)
        .replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
        .slice(1)}`;
      assert.throws(
        () => r.cli[m](),
        (e) =>
          e instanceof L.TlsError &&
          e.op === op &&
          /no OCSP response (has been|was) processed/.test(e.message),
        m,
      );
    }
  },
);

test(
  'ocspProcessResponse(ocsp-good.der) by hand after a handshake without a staple gives OCSP_CERT_GOOD',
  T,
  async (t) => {
    const s = scope(t);
    const r = await pair(s, serverConfig(), clientConfig());
    assert.equal(r.clientError, undefined);
    assert.throws(() => r.cli.peerOcspCertStatus(), L.TlsError);
    assert.equal(r.cli.ocspProcessResponse(readFileSync(pki('ocsp-good.der'))), undefined);
    assertGoodStaple(r.cli);
  },
);

test(
  'ocspProcessResponse(ocsp-revoked.der) against revoked.crt throws "revoked cert - keyCompromise" and leaves OCSP_CERT_REVOKED readable',
  T,
  async (t) => {
    const s = scope(t);
    const r = await pair(s, serverFor('revoked'), clientConfig());
    assert.equal(r.clientError, undefined);
    assert.throws(
      () => r.cli.ocspProcessResponse(pem('ocsp-revoked.der')),
      (e) =>
        e instanceof L.TlsError &&
        e.op === 'tls_ocsp_process_response' &&
        /^ocsp verify failed: revoked cert - keyCompromise$/.test(e.message),
    );
    assert.equal(r.cli.peerOcspCertStatus(), L.OCSP_CERT_REVOKED);
    assert.equal(r.cli.peerOcspResponseStatus(), L.OCSP_RESPONSE_SUCCESSFUL);
    assert.equal(r.cli.peerOcspCrlReason(), L.CRL_REASON_KEY_COMPROMISE);
    assert.equal(r.cli.peerOcspResult(), 'keyCompromise');
    const revoked = ocspText('ocsp-revoked.der');
    assert.equal(r.cli.peerOcspRevocationTime(), revoked.revocationTime);
    assert.equal(r.cli.peerOcspThisUpdate(), revoked.thisUpdate);
    assert.equal(r.cli.peerOcspNextUpdate(), revoked.nextUpdate);
  },
);

test(
  'ocspProcessResponse() of a stale response throws "ocsp response not current" and records no status',
  T,
  async (t) => {
    const s = scope(t);
    const r = await pair(s, serverConfig(), clientConfig());
    assert.equal(r.clientError, undefined);
    assert.throws(
      () => r.cli.ocspProcessResponse(pem('ocsp-stale.der')),
      (e) =>
        e instanceof L.TlsError &&
        e.op === 'tls_ocsp_process_response' &&
        /^ocsp verify failed: ocsp response not current$/.test(e.message),
    );
    assert.throws(
      () => r.cli.peerOcspCertStatus(),
      (e) => e instanceof L.TlsError && e.op === 'tls_peer_ocsp_cert_status',
    );
    assert.equal(r.cli.peerOcspResult(), null);
  },
);

test(
  'ocspProcessResponse() of garbage throws "unable to parse OCSP response", drops the OCSP state, and a later call is refused',
  T,
  async (t) => {
    const s = scope(t);
    const r = await pair(s, serverConfig(), clientConfig());
    assert.equal(r.clientError, undefined);
    assert.throws(
      () => r.cli.ocspProcessResponse(pem('ocsp-garbage.der')),
      (e) =>
        e instanceof L.TlsError &&
        e.op === 'tls_ocsp_process_response' &&
        /^unable to parse OCSP response/.test(e.message),
    );
    assert.equal(r.cli.peerOcspUrl(), null); // libtls freed ctx->ocsp
    assert.throws(
      () => r.cli.ocspProcessResponse(pem('ocsp-good.der')),
      (e) => e instanceof L.TlsError && e.op === 'tls_ocsp_process_response',
    );
  },
);

test(
  'peerOcspUrl() is null for a peer certificate without an OCSP responder (other.crt has no AIA)',
  T,
  async (t) => {
    const s = scope(t);
    const r = await pair(s, serverFor('other'), clientConfig(), 'other.test');
    assert.equal(r.clientError, undefined);
    assert.equal(r.cli.peerOcspUrl(), null);
    assert.equal(r.cli.peerOcspResult(), null);
  },
);

test(
  'ocspProcessResponse() on a client whose peer certificate has no OCSP URL throws TlsError instead of crashing',
  T,
  async () => {
    // libtls only sets up its OCSP state (ctx->ocsp) for a certificate with an AIA OCSP URL, and
    // tls_ocsp_process_response() dereferences it unchecked: run the call in a child process.
    const code = `
    import { closeSync } from 'node:fs';
    import { clientConfig, L, pairHandshake, pem, pki } from ${JSON.stringify(helpersUrl)};
    const r = await pairHandshake(new L.Config({ certFile: pki('other.crt'), keyFile: pki('other.key') }), clientConfig(), 'other.test');
    if (r.clientError) throw r.clientError;
    let out;
    try {
      r.cli.ocspProcessResponse(pem('ocsp-good.der'));
      out = { returned: true };
    } catch (e) {
      out = { tlsError: e instanceof L.TlsError, op: e.op, message: e.message };
    }
    r.cli.free(); r.acc.free(); r.srv.free();
    for (const fd of r.fds) closeSync(fd);
    process.stdout.write(JSON.stringify(out));
  `;
    const res = await runNodeScript(code, { timeout: 10_000 });
    assert.equal(res.signal, null, `the child died of ${res.signal} (stderr: ${res.stderr})`);
    assert.equal(res.status, 0, res.stderr);
    const out = JSON.parse(res.stdout);
    assert.equal(out.tlsError, true, res.stdout);
    assert.equal(out.op, 'tls_ocsp_process_response');
    assert.match(out.message, /OCSP/);
  },
);
