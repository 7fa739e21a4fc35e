// Property tests (fast-check) over the public API's argument handling: any value in any argument
// position of every public function and method gives a TypeError, RangeError or TlsError, or
// succeeds (or rethrows what a hostile argument itself threw) - never a crash, a hang, another
// error class, or a V8-internal TypeError from our own code. The loops run in child processes
// (test/campaigns/properties.child.mjs) so that a crash fails one test instead of killing the runner.
//
// Each run uses a fresh seed, printed with the results; replay one with LIBTLS_FC_SEED=<seed>.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { helpersUrl, runNodeScript } from '../support/helpers.mjs';

const childUrl = new URL('./properties.child.mjs', import.meta.url).href;
const seed = process.env.LIBTLS_FC_SEED
  ? Number(process.env.LIBTLS_FC_SEED)
  : (Date.now() ^ (Math.random() * 2 ** 31)) | 0;

/** Runs one group of properties in a child; returns its report after checking it exited cleanly. */
async function runGroup(t, group, numRuns) {
  const code = `const m = await import(${JSON.stringify(childUrl)});
await m.run(${JSON.stringify({ group, seed, numRuns, trace: true })});`;
  const r = await runNodeScript(code, { timeout: 60_000 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('REPORT '));
  const where = `group ${group}, seed ${seed} (replay: LIBTLS_FC_SEED=${seed} node --test test/campaigns/properties.test.mjs)`;
  // the child traces each run's input to stderr before running it: the last one is what crashed
  const stderr = r.stderr.split('\n');
  const lastRun = stderr.filter((l) => l.startsWith('RUN ')).at(-1);
  const other = stderr
    .filter((l) => !l.startsWith('RUN '))
    .join('\n')
    .slice(-3000);
  assert.equal(r.timedOut, false, `${where}: the child hung on this input:\n${lastRun}\n${other}`);
  assert.equal(
    r.signal,
    null,
    `${where}: the child died of ${r.signal} (a crash) on this input:\n${lastRun}\n${other}`,
  );
  assert.ok(line, `${where}: no report (exit ${r.status})\n${r.stdout.slice(-2000)}\n${other}`);
  const report = JSON.parse(line.slice('REPORT '.length));
  t.diagnostic(
    `${group}: seed ${seed}, ${report.numRuns} runs, ${report.calls} calls in ${report.ms} ms: ` +
      JSON.stringify(totals(report.counts)),
  );
  assert.equal(report.failure, null, `${where}: a property failed:\n${report.failure}`);
  assert.equal(r.status, 0, `${where}: exit status ${r.status}\n${other}`);
  // every public entry point of the group was called, and the runs reached both success and each
  // kind of refusal (a generator that only ever produced one outcome would prove little)
  for (const name of report.expected) assert.ok(report.counts[name], `${where}: ${name} was never called`);
  return report;
}

function totals(counts) {
  const t = {};
  for (const c of Object.values(counts)) for (const [k, n] of Object.entries(c)) t[k] = (t[k] ?? 0) + n;
  return t;
}

test('new Config, its options object, every Config setter and client()/server() take any value in any position without crashing', async (t) => {
  const r = await runGroup(t, 'config', 1500);
  const all = totals(r.counts);
  for (const k of ['ok', 'TypeError', 'RangeError', 'TlsError']) assert.ok(all[k] > 0, `no ${k} outcome`);
  assert.ok(r.counts['new Config'].ok > 0 && r.counts['new Config'].TypeError > 0);
  assert.ok(r.calls >= 1500);
});

test('every Tls method, on clients, servers, accepted, freed, reset, callback and handshaken contexts, takes any value without crashing', async (t) => {
  const r = await runGroup(t, 'tls', 1500);
  const all = totals(r.counts);
  for (const k of ['ok', 'TypeError', 'RangeError', 'TlsError']) assert.ok(all[k] > 0, `no ${k} outcome`);
  // calls that need a live connection succeeded sometimes, and were refused sometimes
  for (const m of ['read', 'write', 'close', 'acceptSocket', 'peerCertNotAfter']) {
    assert.ok(r.counts[`Tls#${m}`].ok > 0, `Tls#${m} never succeeded`);
    assert.ok(r.counts[`Tls#${m}`].TlsError > 0, `Tls#${m} never threw a TlsError`);
  }
});

test('poll, takeFd and socketpair take any value without crashing, and every poll settles', async (t) => {
  const r = await runGroup(t, 'fd', 1500);
  for (const m of ['poll', 'takeFd']) {
    for (const k of ['ok', 'TypeError', 'TlsError']) assert.ok(r.counts[m][k] > 0, `${m}: no ${k} outcome`);
  }
  assert.ok(r.counts.poll.RangeError > 0);
  assert.ok(r.counts.socketpair.ok > 0);
});

test('connect, createServer and upgrade take any options without crashing, and every promise settles', async (t) => {
  const r = await runGroup(t, 'node', 1000);
  for (const m of ['connect', 'createServer', 'upgrade']) {
    for (const k of ['ok', 'TypeError', 'TlsError']) assert.ok(r.counts[m][k] > 0, `${m}: no ${k} outcome`);
  }
});

// Found by the Tls property above (a segfault in OCSP_basic_verify <- tls_ocsp_process_response):
// libtls keeps SSL_get_peer_cert_chain()'s pointer in ctx->ocsp->extra_certs without a reference;
// with OpenSSL 3 a TLS 1.3 client replaces its SSL_SESSION when a NewSessionTicket arrives (on the
// first read after the handshake), which frees that chain. The next tls_ocsp_process_response
// walks freed memory.
test('ocspProcessResponse on a TLS 1.3 client that has read after the handshake throws a TlsError instead of verifying against a freed chain', async () => {
  const code = `
import { L, pairHandshake, serverConfig, clientConfig, pem } from ${JSON.stringify(helpersUrl)};
import { closeSync } from 'node:fs';
const p = await pairHandshake(serverConfig({ protocols: 'tlsv1.3' }), clientConfig({ protocols: 'tlsv1.3' }));
if (p.clientError || p.serverError) throw p.clientError ?? p.serverError;
p.acc.write('hello');
let got = null;
for (let i = 0; i < 100 && got === null; i++) {
  const r = p.cli.read();
  if (r instanceof Uint8Array) got = String(r);
  else await L.poll(p.fds[0], r, { timeout: 2000 });
}
console.log('read', got, p.cli.connVersion());
let outcome;
try {
  p.cli.ocspProcessResponse(pem('ocsp-good.der'));
  outcome = 'ok ' + p.cli.peerOcspCertStatus();
} catch (err) {
  outcome = err.name + ' ' + err.op + ': ' + err.message;
}
console.log('outcome', outcome);
p.cli.free(); p.acc.free(); p.srv.free(); p.fds.forEach(closeSync);
`;
  const r = await runNodeScript(code, { timeout: 20_000 });
  assert.match(r.stdout, /^read hello TLSv1\.3$/m);
  assert.equal(r.signal, null, `the process died of ${r.signal}: ${r.stdout}${r.stderr}`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.stdout,
    /^outcome TlsError tls_ocsp_process_response: on TLS 1\.3 an OCSP response must be processed before the first read/m,
  );
});
