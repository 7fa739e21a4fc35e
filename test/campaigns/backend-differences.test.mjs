// Differences between backends that the package hides or follows, checked on whichever backend
// the suite runs, each keyed on what the backend measured (backend.protocols, backend.capabilities),
// never on its name: protocol sets follow the versions this libtls can enable; the CLI's throwaway
// certificate is its own trust anchor; the cluster example resumes across workers exactly where the
// backend's servers resume TLS 1.2 sessions (docs/backends.md).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import path from 'node:path';
import { describe, test } from 'node:test';
import { freePair, L, pairHandshake, root, serverConfig } from '../support/helpers.mjs';

const VERSIONS = [
  ['tlsv1.0', L.PROTOCOL_TLSv1_0, 'TLSv1'],
  ['tlsv1.1', L.PROTOCOL_TLSv1_1, 'TLSv1.1'],
  ['tlsv1.2', L.PROTOCOL_TLSv1_2, 'TLSv1.2'],
  ['tlsv1.3', L.PROTOCOL_TLSv1_3, 'TLSv1.3'],
];

function runNode(args, ms = 30_000) {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: root, timeout: ms }, (err, stdout, stderr) =>
      resolve({ code: err ? (err.code ?? null) : 0, signal: err?.signal ?? null, stdout, stderr }),
    );
  });
}

describe('protocol sets follow the versions this libtls can enable', () => {
  test("backend.protocols is what libtls makes of 'all', holds TLS 1.2 and 1.3, and names only TLS versions", () => {
    const p = L.backend.protocols;
    assert.equal(p, L.Config.parseProtocols('all'));
    assert.equal(p, L.Config.parseProtocols('legacy'));
    assert.equal(p & (L.PROTOCOL_TLSv1_2 | L.PROTOCOL_TLSv1_3), L.PROTOCOL_TLSv1_2 | L.PROTOCOL_TLSv1_3);
    assert.equal(p & ~(L.PROTOCOL_TLSv1_0 | L.PROTOCOL_TLSv1_1 | L.PROTOCOL_TLSv1_2 | L.PROTOCOL_TLSv1_3), 0);
    // the versions that exist form one run (TLS 1.0-1.3 on libretls, 1.2-1.3 on LibreSSL 4)
    const have = VERSIONS.map(([, bit]) => (p & bit) !== 0);
    assert.equal(have.slice(have.indexOf(true)).includes(false), false, `0x${p.toString(16)}`);
  });

  test('every set of versions: setProtocols accepts it exactly when the versions of it this libtls has are one non-empty run', () => {
    const have = VERSIONS.filter(([, bit]) => (L.backend.protocols & bit) !== 0);
    const c = new L.Config();
    try {
      for (let subset = 1; subset < 16; subset++) {
        const chosen = VERSIONS.filter((_, i) => subset & (1 << i));
        const mask = chosen.reduce((m, [, bit]) => m | bit, 0);
        const keywords = chosen.map(([k]) => k).join(',');
        // the reference: positions among the versions this libtls has
        const idx = have.map(([k], i) => (chosen.some(([c]) => c === k) ? i : -1)).filter((i) => i >= 0);
        const accepted = idx.length > 0 && idx[idx.length - 1] - idx[0] === idx.length - 1;
        for (const arg of [mask, keywords]) {
          if (accepted) assert.equal(c.setProtocols(arg), c, `${keywords} should be accepted`);
          else {
            assert.throws(
              () => c.setProtocols(arg),
              (e) =>
                e instanceof RangeError &&
                (idx.length === 0 ? /names no TLS version this libtls can enable/ : /has a gap/).test(
                  e.message,
                ),
              `${keywords} should be refused`,
            );
          }
        }
      }
    } finally {
      c.free();
    }
  });

  test("'all:!tlsv1.1' is refused where TLS 1.0 and 1.1 exist; elsewhere it is TLS 1.2 and 1.3, proven by a handshake", async () => {
    const gapless = (L.backend.protocols & (L.PROTOCOL_TLSv1_0 | L.PROTOCOL_TLSv1_1)) === 0;
    if (!gapless) {
      assert.throws(() => new L.Config({ protocols: 'all:!tlsv1.1' }), /has a gap/);
      return;
    }
    const sc = serverConfig({ protocols: 'all:!tlsv1.1' });
    const cc = new L.Config({ protocols: 'tlsv1.2', insecure: { noVerifyCert: true } });
    let r;
    try {
      r = await pairHandshake(sc, cc);
    } finally {
      sc.free();
      cc.free();
    }
    try {
      assert.equal(r.clientError, undefined, String(r.clientError));
      assert.equal(r.serverError, undefined, String(r.serverError));
      assert.equal(r.cli.connVersion(), 'TLSv1.2');
    } finally {
      freePair(r);
    }
  });
});

describe('the CLI and the examples on this backend', () => {
  test('the throwaway certificate is a CA (CA:TRUE, keyCertSign) for its own names, and this libtls verifies it as its own anchor', async () => {
    const { throwawayCertificate } = await import(path.join(root, 'dist', 'cli', 'cert.js'));
    const t = await throwawayCertificate();
    const x = new X509Certificate(t.cert);
    assert.equal(x.ca, true);
    assert.equal(x.subject, x.issuer);
    assert.ok(x.checkIssued(x));
    assert.match(x.subjectAltName ?? '', /DNS:localhost/);
    const sc = new L.Config({ cert: t.cert, key: t.key });
    const cc = new L.Config({ ca: t.cert });
    let r;
    try {
      r = await pairHandshake(sc, cc, 'localhost');
    } finally {
      sc.free();
      cc.free();
    }
    try {
      assert.equal(r.clientError, undefined, String(r.clientError));
      assert.equal(r.serverError, undefined, String(r.serverError));
      assert.equal(r.cli.peerCertHash(), t.hash);
    } finally {
      freePair(r);
    }
  });

  test('examples/cluster.mjs resumes across workers where the self-test resumed TLS 1.2, and says why not elsewhere', async () => {
    const r = await runNode([
      path.join(root, 'examples', 'cluster.mjs'),
      '--workers',
      '2',
      '--connections',
      '8',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const m = /^resumed (\d+) of 8 handshakes/m.exec(r.stdout);
    assert.ok(m, r.stdout);
    if (L.backend.capabilities.serverResumption.tls12) {
      // the first handshake is a full one; each later one offers the newest ticket
      assert.equal(Number(m[1]), 7, r.stdout);
      assert.match(r.stdout, /^resumed 7 of 8 handshakes across workers$/m);
    } else {
      assert.match(r.stdout, /^resumed 0 of 8 handshakes: this libtls's servers issue no session tickets$/m);
    }
  });
});
