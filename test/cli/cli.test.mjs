// The `libtls` command (dist/cli/main.js) and the examples, run as child processes against real
// peers: openssl s_server / s_client and curl. Every process is spawned asynchronously, bounded
// by a timeout, and killed in a finally (or by the after hook if a test dies first).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import {
  certArgs,
  freePort,
  opensslServer,
  pem,
  pki,
  root,
  sha256,
  silentTcpServer,
  tempDir,
  until,
} from '../support/helpers.mjs';

const MAIN = path.join(root, 'dist', 'cli', 'main.js');
const EXAMPLES = path.join(root, 'examples');
const missing = path.join(tempDir(after), 'missing.pem');
const serverHash = `SHA256:${sha256(new X509Certificate(pem('server.crt')).raw)}`;
const WRONG_PIN = `SHA256:${'0'.repeat(64)}`;

const live = new Set();
after(() => {
  for (const p of live) p.kill('SIGKILL');
});

/** Spawns a process, collects its output; `stop()` kills it (if still running) and waits. */
function start(cmd, args, { timeout = 20_000, env } = {}) {
  const proc = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  live.add(proc);
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (d) => {
    stdout += d;
  });
  proc.stderr.setEncoding('utf8').on('data', (d) => {
    stderr += d;
  });
  proc.stdin.on('error', () => {}); // the process may exit before reading its stdin
  const exited = new Promise((resolve) => {
    proc.on('error', (err) => resolve({ code: null, signal: null, error: err }));
    proc.on('close', (code, signal) => resolve({ code, signal }));
  }).then((r) => {
    live.delete(proc);
    clearTimeout(timer);
    return r;
  });
  const timer = setTimeout(() => proc.kill('SIGKILL'), timeout);
  const stop = () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    return exited;
  };
  return { proc, stdout: () => stdout, stderr: () => stderr, exited, stop };
}

/** Runs a command to completion with `input` on its stdin; resolves { code, signal, stdout, stderr }. */
async function run(cmd, args, { input = '', timeout = 15_000, env } = {}) {
  const p = start(cmd, args, { timeout, env });
  try {
    p.proc.stdin.end(input);
    const r = await p.exited;
    if (r.error) throw r.error;
    return { code: r.code, signal: r.signal, stdout: p.stdout(), stderr: p.stderr() };
  } finally {
    await p.stop();
  }
}

const libtls = (args, opts) => run(process.execPath, [MAIN, ...args], opts);

/** Runs `fn(peer)` against a fresh `opensslServer(args, options)` (`options` may be left out), then kills it. */
async function withOpenssl(args, options, fn) {
  if (typeof options === 'function') [options, fn] = [{}, options];
  const peer = await opensslServer(args, options);
  try {
    return await fn(peer);
  } finally {
    await peer.kill();
  }
}

/** `libtls connect 127.0.0.1:PORT --ca ca.crt ARGS`: a client that trusts the test CA. */
const connectTo = (port, args = [], opts) =>
  libtls(['connect', `127.0.0.1:${port}`, '--ca', pki('ca.crt'), ...args], opts);

/** Asserts a failure: the exit code, and exactly one stderr line matching `re`, no stack trace. */
function assertFails(r, code, re) {
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.ok(!lines.some((l) => l.startsWith('    at ')), `stack trace on stderr:\n${r.stderr}`);
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0], /^libtls: /);
  assert.match(lines[0], re);
  assert.equal(r.code, code, `exit code (stderr: ${r.stderr})`);
  assert.equal(r.signal, null);
}

/** `libtls serve ARGS --port 0`, resolved once it prints where it listens (port and hash). */
async function serve(args) {
  const p = start(process.execPath, [MAIN, 'serve', '--port', '0', ...args], { timeout: 30_000 });
  try {
    await until(() => /server on /.test(p.stderr()) || p.proc.exitCode !== null, 'libtls serve', 15_000);
    const m = /^libtls: (echo|https) server on 127\.0\.0\.1:(\d+), (.*)$/m.exec(p.stderr());
    assert.ok(m, `unexpected serve output: ${p.stderr()}`);
    const hash = /SHA256:[0-9a-f]{64}/.exec(m[3])?.[0];
    return { ...p, port: Number(m[2]), hash };
  } catch (err) {
    await p.stop();
    throw err;
  }
}

/** `libtls serve --port 0 --cert CERT --key KEY`, for input it refuses (else it keeps serving). */
const serveWith = (cert, key) => libtls(['serve', '--port', '0', '--cert', cert, '--key', key]);

/** Sends SIGTERM to a `serve()` process and asserts that it exits 0 by itself. */
async function assertExitsOnSigterm(s) {
  s.proc.kill('SIGTERM');
  const e = await s.exited;
  assert.deepEqual([e.code, e.signal], [0, null], s.stderr());
}

/** `curl` with a bounded time; stdout is the body, then a last line `HTTP <code> <content-type>`. */
function curl(args) {
  return run('curl', ['-sS', '--max-time', '10', ...args, '-w', '\nHTTP %{http_code} %{content_type}']);
}

describe('libtls connect against openssl s_server', () => {
  test('reports version, cipher and peer subject on stderr and pipes stdin to the server and back', () =>
    withOpenssl(['-rev'], async (peer) => {
      // s_server -rev sends every line back reversed
      const r = await connectTo(peer.port, [], { input: 'hello libtls\n' });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /^connected to 127\.0\.0\.1:\d+ \(127\.0\.0\.1\)$/m);
      assert.match(r.stderr, /^ {2}protocol {2}TLSv1\.3$/m);
      assert.match(r.stderr, /^ {2}cipher {4}TLS_[A-Z0-9_]+ \((128|256) bits\)$/m);
      assert.match(r.stderr, /^ {2}subject {3}\/CN=localhost$/m);
      assert.match(r.stderr, /^ {2}issuer {4}\/CN=libtls test root CA$/m);
      assert.ok(r.stderr.includes(`  hash      ${serverHash}`), r.stderr);
      assert.equal(r.stdout, 'sltbil olleh\n');
    }));

  test('--json prints one parseable object with the version, cipher and the hash of the server DER', () =>
    withOpenssl([], async (peer) => {
      const r = await libtls(['connect', `localhost:${peer.port}`, '--ca', pki('ca.crt'), '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.equal(r.stdout.trimEnd().split('\n').length, 1);
      const j = JSON.parse(r.stdout);
      assert.equal(j.host, 'localhost');
      assert.equal(j.port, peer.port);
      assert.equal(j.servername, 'localhost');
      assert.equal(j.version, 'TLSv1.3');
      assert.match(j.cipher, /^TLS_(AES_256_GCM_SHA384|AES_128_GCM_SHA256|CHACHA20_POLY1305_SHA256)$/);
      assert.equal(j.alpn, null);
      assert.equal(j.peerCertificate.subject, '/CN=localhost');
      assert.equal(j.peerCertificate.hash, serverHash);
      assert.equal(j.ocsp, null);
    }));

  test('--hash with the right pin connects, with a wrong pin exits 1 naming both hashes', () =>
    withOpenssl([], { naccept: 2 }, async (peer) => {
      const ok = await connectTo(peer.port, [
        '--hash',
        serverHash.replace(/[0-9a-f]{64}$/, (hex) => hex.toUpperCase()), // hex in any case
        '--json',
      ]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(JSON.parse(ok.stdout).peerCertificate.hash, serverHash);

      const bad = await connectTo(peer.port, ['--hash', WRONG_PIN]);
      assertFails(bad, 1, /does not match/);
      assert.ok(bad.stderr.includes(serverHash) && bad.stderr.includes(WRONG_PIN), bad.stderr);
      assert.equal(bad.stdout, '');
    }));

  test('--alpn offers protocols and reports the one the server selected', () =>
    withOpenssl(['-alpn', 'zz,h2'], async (peer) => {
      const r = await connectTo(peer.port, ['--alpn', 'h2,http/1.1', '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).alpn, 'h2');
    }));

  test('--protocols tlsv1.2 negotiates TLS 1.2', () =>
    withOpenssl([], async (peer) => {
      const r = await connectTo(peer.port, ['--protocols', 'tlsv1.2', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const j = JSON.parse(r.stdout);
      assert.equal(j.version, 'TLSv1.2');
      assert.match(j.cipher, /^ECDHE-/);
    }));

  test('--servername is sent as SNI and verified (the server picks its certificate by it)', () =>
    // default certificate: server.crt (localhost); for SNI other.test: other.crt
    withOpenssl(
      ['-servername', 'other.test', '-cert2', pki('other.crt'), '-key2', pki('other.key')],
      { naccept: 2 },
      async (peer) => {
        const a = await connectTo(peer.port, ['--servername', 'other.test', '--json']);
        assert.equal(a.code, 0, a.stderr);
        const j = JSON.parse(a.stdout);
        assert.equal(j.servername, 'other.test');
        assert.equal(j.peerCertificate.subject, '/CN=other.test');
        const b = await connectTo(peer.port, ['--json']);
        assert.equal(b.code, 0, b.stderr);
        assert.equal(JSON.parse(b.stdout).peerCertificate.subject, '/CN=localhost');
      },
    ));

  test('exits 0 when the server closes the connection, with stdin still open', async () => {
    const peer = await opensslServer(['-www']); // answers one GET, then close_notify
    const c = start(process.execPath, [MAIN, 'connect', `127.0.0.1:${peer.port}`, '--ca', pki('ca.crt')]);
    try {
      c.proc.stdin.write('GET / HTTP/1.0\r\n\r\n'); // and no end()
      const e = await c.exited;
      assert.deepEqual([e.code, e.signal], [0, null], c.stderr());
      assert.match(c.stdout(), /^HTTP\/1\.0 200 ok\r\n/);
      assert.match(c.stderr(), /^ {2}protocol {2}TLSv1\.3$/m);
    } finally {
      await c.stop();
      await peer.kill();
    }
  });

  test('--timeout gives up on a server that never answers the handshake', async () => {
    const silent = await silentTcpServer(); // accepts TCP, says nothing
    try {
      const started = Date.now();
      const r = await libtls(['connect', `127.0.0.1:${silent.port}`, '--timeout', '300']);
      assertFails(r, 1, /^libtls: connecting to 127\.0\.0\.1:\d+ timed out after 300 ms$/m);
      assert.ok(Date.now() - started < 5000);
    } finally {
      await silent.close();
    }
  });

  test('--muststaple connects to a server stapling a good OCSP response and reports it', () =>
    withOpenssl(['-status_file', pki('ocsp-good.der')], { naccept: 2 }, async (peer) => {
      const r = await connectTo(peer.port, ['--muststaple', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const o = JSON.parse(r.stdout).ocsp;
      assert.equal(o.result, 'good');
      assert.equal(o.certStatus, 0); // OCSP_CERT_GOOD
      assert.match(o.thisUpdate, /^\d{4}-\d\d-\d\dT/);
      const text = await connectTo(peer.port, ['--muststaple']);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stderr, /^ {2}ocsp {6}good \(this update \d{4}-.*, next update \d{4}-.*\)$/m);
    }));
});

describe('libtls connect explains a failed verification in one line', () => {
  // [what, s_server arguments, connect arguments, the line's regex]
  const verify = (reason, libtls) =>
    new RegExp(`certificate verification failed: ${reason} \\(${libtls}\\)$`);
  const cases = [
    [
      'an expired certificate',
      certArgs('expired'),
      [],
      verify('the certificate has expired', 'certificate verification failed: certificate has expired'),
    ],
    [
      'a certificate not yet valid',
      certArgs('notyet'),
      [],
      verify('the certificate is not yet valid', '.*certificate is not yet valid'),
    ],
    [
      'a wrong name',
      [],
      ['--servername', 'wrong.test'],
      verify('wrong name: the certificate does not name this host', "name `wrong\\.test' not present .*"),
    ],
    [
      'a self-signed certificate (unknown CA)',
      certArgs('selfsigned'),
      [],
      verify('unknown CA: the certificate is not signed by a trusted CA', '.*self-signed certificate'),
    ],
    [
      'a revoked certificate (stapled OCSP response)',
      [...certArgs('revoked'), '-status_file', pki('ocsp-revoked.der')],
      [],
      verify('the certificate has been revoked', 'ocsp verify failed: revoked cert - keyCompromise'),
    ],
    [
      'a missing staple with --muststaple',
      [],
      ['--muststaple'],
      verify('OCSP: no valid stapled response', 'no stapled OCSP response provided'),
    ],
  ];
  for (const [what, serverArgs, clientArgs, re] of cases) {
    test(`${what} fails with exit 1 and says why`, () =>
      withOpenssl(serverArgs, async (peer) => {
        const r = await connectTo(peer.port, clientArgs);
        assertFails(r, 1, re);
        assert.equal(r.stdout, '');
      }));
  }

  test('a server from a CA that is not trusted (no --ca: the system bundle) is an unknown CA', () =>
    withOpenssl([], async (peer) => {
      const r = await libtls(['connect', `localhost:${peer.port}`], { timeout: 10_000 });
      assertFails(
        r,
        1,
        /certificate verification failed: unknown CA: .*\(certificate verification failed: unable to get local issuer certificate\)$/,
      );
    }));

  test('a server that requires a client certificate is reported as such', () =>
    withOpenssl(['-Verify', '1', '-CAfile', pki('ca.crt')], async (peer) => {
      const r = await connectTo(peer.port);
      // TLS 1.3: the client's handshake completes (the report is printed), the server's alert
      // comes with the first read: then one error line, last
      assert.equal(r.code, 1, r.stderr);
      const lines = r.stderr.trimEnd().split('\n');
      assert.ok(!lines.some((l) => l.startsWith('    at ')), r.stderr);
      assert.match(lines[0], /^connected to 127\.0\.0\.1:/);
      assert.deepEqual(
        lines.filter((l) => l.startsWith('libtls: ')),
        [lines.at(-1)],
      );
      assert.match(
        lines.at(-1),
        /^libtls: the server requires a client certificate \(--cert and --key\): .*certificate required$/,
      );
    }));

  test('--cert and --key authenticate the client to a server that requires it', () =>
    withOpenssl(['-Verify', '1', '-CAfile', pki('ca.crt'), '-rev'], async (peer) => {
      const r = await connectTo(peer.port, ['--cert', pki('client.crt'), '--key', pki('client.key')], {
        input: 'abc\n',
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'cba\n');
      assert.match(peer.output(), /^Peer certificate: CN ?= ?libtls test client$/m);
    }));
});

describe('bad input: one clear line on stderr and the right exit code', () => {
  test('an unknown flag exits 2', async () => {
    assertFails(
      await libtls(['connect', '--bogus', '127.0.0.1:1']),
      2,
      /unknown option '--bogus' \(see --help\)/,
    );
    assertFails(await libtls(['serve', '-x']), 2, /unknown option '-x'/);
  });

  test('a flag without its value exits 2', async () => {
    assertFails(await libtls(['connect', '127.0.0.1:1', '--ca']), 2, /option '--ca' needs a value/);
    assertFails(await libtls(['serve', '--port']), 2, /option '--port' needs a value/);
    assertFails(
      await libtls(['connect', '127.0.0.1:1', '--ca', '--json']),
      2,
      /option '--ca' needs a value \(write --ca=-VALUE/,
    );
  });

  test('a missing --ca, --cert or --key file exits 1 and names the file', async () => {
    const port = String(await freePort());
    const at = `127.0.0.1:${port}`;
    const quoted = missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    assertFails(
      await libtls(['connect', at, '--ca', missing]),
      1,
      new RegExp(`cannot read --ca file '${quoted}': no such file`),
    );
    assertFails(
      await libtls(['connect', at, '--cert', missing, '--key', pki('client.key')]),
      1,
      new RegExp(`cannot read --cert file '${quoted}': no such file`),
    );
    assertFails(
      await libtls(['connect', at, '--cert', pki('client.crt'), '--key', missing]),
      1,
      new RegExp(`cannot read --key file '${quoted}': no such file`),
    );
    assertFails(
      await serveWith(missing, pki('server.key')),
      1,
      new RegExp(`cannot read --cert file '${quoted}': no such file`),
    );
  });

  test('a --cert file that is not a PEM certificate exits 1 and names it', async () => {
    const r = await serveWith(pki('server.key'), pki('server.key'));
    assertFails(r, 1, /bad --cert file '.*server\.key': failed to load certificate/);
  });

  test('a --key file that is not a key, or not the key of --cert, exits 1 and names it', async () => {
    const notKey = await serveWith(pki('server.crt'), pki('server.crt'));
    assertFails(notKey, 1, /bad --key file '.*server\.crt': failed to read private key/);
    const other = await serveWith(pki('server.crt'), pki('other.key'));
    assertFails(
      other,
      1,
      /bad --key file '.*other\.key': failed to load private key \(does it match --cert\?\)/,
    );
  });

  test('connect names a --cert, --key or --ca file that libtls cannot use', () =>
    withOpenssl([], { naccept: 3 }, async (peer) => {
      const cert = await connectTo(peer.port, ['--cert', pki('client.key'), '--key', pki('client.key')]);
      assertFails(cert, 1, /bad --cert file '.*client\.key': failed to load certificate/);
      const key = await connectTo(peer.port, ['--cert', pki('client.crt'), '--key', pki('client.crt')]);
      assertFails(key, 1, /bad --key file '.*client\.crt': failed to read private key/);
      const badCa = await libtls(['connect', `127.0.0.1:${peer.port}`, '--ca', pki('server.key')]);
      assertFails(badCa, 1, /bad --ca file '.*server\.key': .*\(no PEM CA certificates in it\?\)$/);
    }));

  test('bad --protocols, --ciphers and --alpn values exit 2 and name the flag', async () => {
    const at = `127.0.0.1:${await freePort()}`;
    assertFails(await libtls(['connect', at, '--protocols', 'tlsv9']), 2, /bad --protocols 'tlsv9'/);
    assertFails(await libtls(['connect', at, '--ciphers', 'NOPE']), 2, /bad --ciphers 'NOPE'/);
    assertFails(await libtls(['connect', at, '--alpn', 'h2,,x']), 2, /bad --alpn 'h2,,x'/);
  });

  test('a refused connection exits 1', async () => {
    const port = await freePort();
    assertFails(
      await libtls(['connect', `127.0.0.1:${port}`]),
      1,
      new RegExp(`refused.*127\\.0\\.0\\.1:${port}`),
    );
  });

  test('--cert without --key (and the reverse) exits 2', async () => {
    assertFails(
      await libtls(['connect', '127.0.0.1:1', '--cert', pki('client.crt')]),
      2,
      /--cert and --key go together/,
    );
    assertFails(await libtls(['serve', '--key', pki('server.key')]), 2, /--cert and --key go together/);
  });

  test('an unknown command exits 2', async () => {
    assertFails(await libtls(['frobnicate']), 2, /unknown command 'frobnicate'/);
  });

  test('a bad HOST:PORT exits 2', async () => {
    for (const bad of [
      'localhost',
      'localhost:0',
      'localhost:65536',
      'localhost:http',
      '[::1]8443',
      ':443',
    ]) {
      assertFails(await libtls(['connect', bad]), 2, /expected HOST:PORT/);
    }
    assertFails(await libtls(['connect']), 2, /connect needs exactly one HOST:PORT/);
    assertFails(await libtls(['connect', 'a:1', 'b:2']), 2, /connect needs exactly one HOST:PORT/);
  });

  test('other malformed values exit 2', async () => {
    assertFails(await libtls(['connect', 'a:1', '--hash', 'abc']), 2, /--hash must be SHA256:/);
    assertFails(
      await libtls(['connect', 'a:1', '--timeout', '0']),
      2,
      /--timeout must be a positive integer/,
    );
    assertFails(await libtls(['serve', '--port', '70000']), 2, /bad --port '70000'/);
    assertFails(await libtls(['serve', '--echo', '--http']), 2, /choose one of --echo and --http/);
    assertFails(await libtls(['serve', 'extra']), 2, /unexpected argument 'extra'/);
    assertFails(await libtls(['demo', '--mib', '0']), 2, /--mib must be an integer/);
  });
});

describe('--help', () => {
  test('the top level and each command print their usage on stdout and exit 0', async () => {
    const expect = {
      '': /^usage: libtls <command> \[options\]\n[\s\S]*connect HOST:PORT[\s\S]*serve[\s\S]*demo/,
      connect:
        /^usage: libtls connect HOST:PORT \[options\]\n[\s\S]*--ca FILE[\s\S]*--hash SHA256:HEX[\s\S]*--json/,
      serve: /^usage: libtls serve \[options\]\n[\s\S]*--port N[\s\S]*--http/,
      demo: /^usage: libtls demo \[--mib N\]\n/,
    };
    for (const [cmd, re] of Object.entries(expect)) {
      for (const flag of ['--help', '-h']) {
        const r = await libtls(cmd ? [cmd, flag] : [flag]);
        assert.equal(r.code, 0, `${cmd} ${flag}: ${r.stderr}`);
        assert.equal(r.stderr, '');
        assert.match(r.stdout, re);
      }
    }
  });

  test('no command at all prints the usage on stderr and exits 2', async () => {
    const r = await libtls([]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^usage: libtls <command>/);
  });
});

describe('libtls serve', () => {
  test('the default echo server with a throwaway certificate answers openssl s_client and a pinned libtls connect', async () => {
    const s = await serve([]);
    let client;
    try {
      assert.match(s.stderr(), /echo server on 127\.0\.0\.1:\d+, throwaway self-signed certificate SHA256:/);
      assert.ok(s.hash);

      // openssl s_client: a line comes back; its view of the certificate has the printed hash
      client = start('openssl', ['s_client', '-connect', `127.0.0.1:${s.port}`, '-servername', 'localhost']);
      client.proc.stdin.write('echo-me-9f3\n');
      await until(() => client.stdout().includes('echo-me-9f3'), 'the echo to s_client');
      assert.match(client.stdout(), /subject=CN ?= ?localhost/);
      client.proc.stdin.end();
      const c = await client.exited;
      assert.equal(c.code, 0, client.stderr());

      // pinning the throwaway certificate: --noverify (it is self-signed) + --hash
      const pinned = await libtls(['connect', `127.0.0.1:${s.port}`, '--noverify', '--hash', s.hash], {
        input: 'pinned line\n',
      });
      assert.equal(pinned.code, 0, pinned.stderr);
      assert.equal(pinned.stdout, 'pinned line\n');
      assert.ok(pinned.stderr.includes(`  hash      ${s.hash}`), pinned.stderr);

      // without --noverify, the self-signed certificate is an unknown CA
      const unverified = await connectTo(s.port);
      assertFails(unverified, 1, /unknown CA/);
      const wrongPin = await libtls(['connect', `127.0.0.1:${s.port}`, '--noverify', '--hash', WRONG_PIN]);
      assertFails(wrongPin, 1, /does not match/);

      await assertExitsOnSigterm(s);
    } finally {
      await client?.stop();
      await s.stop();
    }
  });

  test('the throwaway certificate: the printed `libtls connect HOST:PORT --ca FILE` line connects verified, the same as `connect --hash` alone does not, and FILE goes with the server', async () => {
    for (const host of ['127.0.0.1', '::1']) {
      const p = start(process.execPath, [MAIN, 'serve', '--port', '0', '--host', host], { timeout: 30_000 });
      try {
        await until(
          () => /to connect: /.test(p.stderr()) || p.proc.exitCode !== null,
          'libtls serve',
          15_000,
        );
        const line = /^libtls: to connect: libtls connect (\S+) --ca (\S+)$/m.exec(p.stderr());
        assert.ok(line, `no connect line from serve --host ${host}:\n${p.stderr()}`);
        const [, target, caFile] = line;
        assert.match(target, host === '::1' ? /^\[::1\]:\d+$/ : /^127\.0\.0\.1:\d+$/);
        const hash = /throwaway self-signed certificate (SHA256:[0-9a-f]{64})/.exec(p.stderr())?.[1];
        // the file holds the served certificate (its hash is the one printed), and no key
        const written = readFileSync(caFile, 'utf8');
        assert.equal(`SHA256:${sha256(new X509Certificate(written).raw)}`, hash);
        assert.doesNotMatch(written, /PRIVATE KEY/);

        // the line as printed: verified (chain and name), echoes, exits 0
        const r = await libtls(['connect', target, '--ca', caFile], { input: 'verified line\n' });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, 'verified line\n');
        assert.ok(r.stderr.includes(`  hash      ${hash}`), r.stderr);
        // --hash is a pin on top of the verification (as nc -H), not a trust anchor
        assertFails(await libtls(['connect', target, '--hash', hash]), 1, /unknown CA/);
        const both = await libtls(['connect', target, '--ca', caFile, '--hash', hash], { input: 'x\n' });
        assert.equal(both.code, 0, both.stderr);
        // openssl trusts the same file, for the same address
        const o = await run(
          'openssl',
          ['s_client', '-connect', target, '-CAfile', caFile, '-verify_ip', host, '-verify_return_error'],
          { input: '' },
        );
        assert.equal(o.code, 0, o.stderr);
        assert.match(o.stdout, /Verify return code: 0 \(ok\)/);

        await assertExitsOnSigterm(p);
        assert.equal(existsSync(path.dirname(caFile)), false, `${caFile} outlived the server`);
      } finally {
        await p.stop();
      }
    }
  });

  test('--http prints a curl --cacert line that curl verifies', async () => {
    const s = await serve(['--http']);
    try {
      await until(() => /^libtls: or: /m.test(s.stderr()), 'the curl line');
      const line = /^libtls: or: curl --cacert (\S+) (https:\/\/\S+)$/m.exec(s.stderr());
      assert.ok(line, s.stderr());
      const r = await curl(['--cacert', line[1], line[2]]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /\nHTTP 200 text\/html; charset=utf-8$/);
      await assertExitsOnSigterm(s);
      assert.equal(existsSync(line[1]), false);
    } finally {
      await s.stop();
    }
  });

  test('--http answers curl -k with 200 and an HTML page naming TLSv1.3, and exits 0 on SIGTERM', async () => {
    const s = await serve(['--http']);
    try {
      assert.match(s.stderr(), /https server on 127\.0\.0\.1:\d+, throwaway self-signed certificate SHA256:/);
      const r = await curl(['-k', `https://127.0.0.1:${s.port}/`]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /\nHTTP 200 text\/html; charset=utf-8$/);
      assert.match(r.stdout, /<!doctype html>/i);
      assert.match(r.stdout, /TLSv1\.3 with TLS_[A-Z0-9_]+, ALPN http\/1\.1, from 127\.0\.0\.1/);
      assert.match(r.stdout, /<p>GET \/<\/p>/);

      await assertExitsOnSigterm(s);
    } finally {
      await s.stop();
    }
  });

  test('--cert/--key --http is verified by curl --cacert and serves a browser-style GET', async () => {
    const s = await serve(['--http', '--cert', pki('server.crt'), '--key', pki('server.key')]);
    try {
      assert.match(s.stderr(), /https server on 127\.0\.0\.1:\d+, certificate .*server\.crt/);
      const url = `https://localhost:${s.port}/`;
      const resolve = ['--resolve', `localhost:${s.port}:127.0.0.1`];
      const r = await curl([...resolve, '--cacert', pki('ca.crt'), url]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /\nHTTP 200 text\/html/);
      assert.match(r.stdout, /TLSv1\.3/);

      const browser = await curl([
        ...resolve,
        '--cacert',
        pki('ca.crt'),
        '--http1.1',
        '-H',
        'User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
        '-H',
        'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
        '-H',
        'Accept-Language: en-US,en;q=0.5',
        '-H',
        'Accept-Encoding: gzip, deflate, br',
        '-H',
        'Connection: keep-alive',
        '-H',
        'Upgrade-Insecure-Requests: 1',
        `${url}index.html?q=<b>`,
      ]);
      assert.equal(browser.code, 0, browser.stderr);
      assert.match(browser.stdout, /\nHTTP 200 text\/html; charset=utf-8$/);
      assert.match(browser.stdout, /<p>GET \/index\.html\?q=b<\/p>/); // the URL is echoed escaped

      // a client that does not trust the certificate fails its handshake; serve logs it and stays up
      const untrusted = await curl([...resolve, url]);
      assert.equal(untrusted.code, 60, untrusted.stderr); // curl: peer certificate cannot be authenticated
      await until(() => /libtls: client 127\.0\.0\.1: /.test(s.stderr()), 'the tlsClientError line');
      const again = await curl([...resolve, '--cacert', pki('ca.crt'), url]);
      assert.match(again.stdout, /\nHTTP 200 /);

      await assertExitsOnSigterm(s);
    } finally {
      await s.stop();
    }
  });

  test('SIGTERM stops serve within seconds even with an idle client and a silent TCP connection open', async () => {
    const s = await serve([]);
    const raw = net.connect(s.port, '127.0.0.1'); // never sends a ClientHello
    raw.on('error', () => {});
    const idle = start(process.execPath, [MAIN, 'connect', `127.0.0.1:${s.port}`, '--noverify']);
    try {
      await until(() => idle.stderr().includes('  protocol  TLSv1.3'), 'the idle client');
      const t0 = Date.now();
      await assertExitsOnSigterm(s);
      assert.ok(Date.now() - t0 < 5000, `serve took ${Date.now() - t0} ms to stop`);
      const c = await idle.exited; // its connection is gone with the server
      assert.equal(c.signal, null);
    } finally {
      raw.destroy();
      await idle.stop();
      await s.stop();
    }
  });

  test('a port already in use exits 1 with one line', async () => {
    const s = await serve([]);
    try {
      const r = await libtls([
        'serve',
        '--port',
        String(s.port),
        '--cert',
        pki('server.crt'),
        '--key',
        pki('server.key'),
      ]);
      assertFails(r, 1, new RegExp(`address already in use \\(127\\.0\\.0\\.1:${s.port}\\)`));
    } finally {
      await s.stop();
    }
  });
});

test('libtls demo exits 0 and prints protocol, cipher, ALPN, subject and a MiB/s line', async () => {
  const started = Date.now();
  const r = await libtls(['demo'], { timeout: 20_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(Date.now() - started < 20_000);
  assert.match(r.stdout, /^ {2}protocol {2}TLSv1\.3$/m);
  assert.match(r.stdout, /^ {2}cipher {4}TLS_[A-Z0-9_]+ \(\d+ bits\)$/m);
  assert.match(r.stdout, /^ {2}alpn {6}libtls-demo$/m);
  assert.match(r.stdout, /^ {2}subject {3}\/CN=localhost$/m);
  assert.match(r.stdout, /^ {2}transfer {2}64 MiB in \d+\.\d{3} s: \d+(\.\d)? MiB\/s$/m);
  assert.equal(r.stderr, '');
});

describe('examples', () => {
  const example = (name, args = [], opts) =>
    run(process.execPath, [path.join(EXAMPLES, name), ...args], opts);

  test('echo-server.mjs --once serves echo-client.mjs, then both exit 0', async () => {
    const server = start(process.execPath, [path.join(EXAMPLES, 'echo-server.mjs'), '--port', '0', '--once']);
    try {
      await until(() => /listening on 127\.0\.0\.1:\d+/.test(server.stdout()), 'the echo server');
      const port = /127\.0\.0\.1:(\d+)/.exec(server.stdout())[1];
      const c = await example('echo-client.mjs', ['--port', port, 'first line', 'second line']);
      assert.equal(c.code, 0, c.stderr);
      assert.match(c.stdout, /^connected with TLSv1\.3, TLS_/m);
      assert.match(c.stdout, /^server certificate: \/CN=localhost, issued by \/CN=libtls test root CA$/m);
      assert.match(c.stdout, /^echoed: first line\nechoed: second line\n$/m);
      const e = await server.exited;
      assert.equal(e.code, 0, server.stderr());
      assert.match(server.stdout(), /connected with TLSv1\.3/);
      assert.match(server.stdout(), /closed after echoing 23 bytes/);
      assert.match(server.stdout(), /stopping \(served one connection\)\nserver closed/);
    } finally {
      await server.stop();
    }
  });

  test('echo-client.mjs exits 1 with the reason when the server name does not verify', async () => {
    const server = start(process.execPath, [path.join(EXAMPLES, 'echo-server.mjs'), '--port', '0', '--once']);
    try {
      await until(() => /listening on 127\.0\.0\.1:\d+/.test(server.stdout()), 'the echo server');
      const port = /127\.0\.0\.1:(\d+)/.exec(server.stdout())[1];
      const c = await example('echo-client.mjs', ['--port', port, '--servername', 'wrong.test']);
      assert.equal(c.code, 1);
      assert.match(c.stderr, /echo failed: TlsError \(tls_handshake\): name `wrong\.test' not present/);
    } finally {
      await server.stop();
    }
  });

  test('mtls.mjs: the server sees the client certificate and rejects a client without one', async () => {
    const r = await example('mtls.mjs');
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^server: client certificate \/CN=libtls test client, issued by \/CN=libtls test root CA$/m,
    );
    assert.match(r.stdout, /^client: server says "hello \/CN=libtls test client"$/m);
    assert.match(r.stdout, /^server: rejected a client: .*peer did not return a certificate/m);
    assert.match(r.stdout, /^client without a certificate: TlsError: .*certificate required/m);
  });

  test('ocsp-stapling.mjs: the client requires and sees a good stapled response', async () => {
    const r = await example('ocsp-stapling.mjs');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^connected with TLSv1\.3 to \/CN=localhost$/m);
    assert.match(r.stdout, /^OCSP status: good \(OCSP_CERT_GOOD\)$/m);
    assert.match(r.stdout, /^OCSP next update: \d{4}-/m);
    assert.match(r.stdout, /^OCSP responder: {3}http:\/\/127\.0\.0\.1:8888\/ocsp$/m);
  });

  test('ocsp-stapling.mjs exits 1 when the staple is not for the certificate', async () => {
    // ocsp-revoked.der answers for revoked.crt, not for server.crt
    const r = await example('ocsp-stapling.mjs', [], { env: { LIBTLS_OCSP: pki('ocsp-revoked.der') } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^failed: TlsError: ocsp verify failed: no result for cert$/m);
  });

  test('starttls.mjs: plaintext greeting, STARTTLS, then TLS on the same connection', async () => {
    const r = await example('starttls.mjs');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout.replace(/TLS_[A-Z0-9_]+/, 'CIPHER'),
      [
        'S: 220 localhost ready',
        'C: STARTTLS',
        'S: 220 go ahead',
        '-- TLSv1.3 with CIPHER, server /CN=localhost --',
        'C: hello, encrypted',
        'S: 250 you said: hello, encrypted',
        '',
      ].join('\n'),
    );
  });

  test("poll-loop.mjs: the 1:1 API's non-blocking loop handshakes, exchanges and closes", async () => {
    const r = await example('poll-loop.mjs');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^handshake done: TLSv1\.3, TLS_/m);
    assert.ok(r.stdout.includes(`client sees /CN=localhost (${serverHash})`), r.stdout);
    assert.match(r.stdout, /^server sees SNI localhost$/m);
    assert.match(r.stdout, /^server read "ping"\nclient read "pong \(ping\)"$/m);
    assert.match(r.stdout, /^server read after the client's close: null$/m);
  });

  test('cluster.mjs: two workers share the port and serve the connections; resumption is reported as it happened', async () => {
    const r = await example('cluster.mjs', ['--workers', '2', '--connections', '8']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^2 workers listening on 127\.0\.0\.1:\d+$/m);
    const served = [...r.stdout.matchAll(/^worker (\d+) served (\d+) connections$/gm)];
    assert.equal(served.length, 2, r.stdout);
    assert.equal(
      served.reduce((n, m) => n + Number(m[2]), 0),
      8,
    );
    // what it says of resumption depends on the backend: asserted per backend.capabilities in
    // test/campaigns/backend-differences.test.mjs
    assert.match(r.stdout, /^resumed \d+ of 8 handshakes/m);
  });
});
