#!/usr/bin/env node
// `npm run bench`: this package against node:tls and against libtls called from C.
//
//   node bench/run.mjs [--quick] [--rounds N] [--only s1,s2] [--contenders a,b] [--out NAME] [--cpu-prof]
//                      [--baseline DIR]
//
// For each scenario, each round runs every contender once, in an order rotated by one per round
// (A B C D, then B C D A, ...), each run in fresh processes: a server process and a client process
// (bench/peers/node.mjs for the Node.js contenders, bench/c/tlsbench.c for C). One number per run
// comes back as a JSON line; the harness prints it as it goes, then a table of medians (min-max),
// the ratios the targets (TARGETS below, bench/README.md) name, and writes bench/results/NAME.json and NAME.svg.
// Loopback only; every run has a time budget (exceeded: killed, recorded as failed, next run).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BENCH = path.join(ROOT, 'bench');
const BUILD = path.join(BENCH, '.build');
const PKI = path.join(BUILD, 'pki');
const CBIN = path.join(BUILD, 'tlsbench');
const RESULTS = path.join(BENCH, 'results');
const NODE_PEER = path.join(BENCH, 'peers', 'node.mjs');

const ALL_CONTENDERS = ['libtls-fd', 'libtls-cb', 'node-tls', 'c-libtls'];
const NODE_CONTENDERS = ['libtls-fd', 'libtls-cb', 'node-tls'];
// With --baseline DIR: the package's contenders again, run from another built checkout (DIR's own
// bench/peers/node.mjs and dist/), interleaved with this one's: a before/after comparison in one run.
const BASE = '@base';
const BASELINE_CONTENDERS = ['libtls-fd', 'libtls-cb'].map((c) => c + BASE);
/** The contender a name runs as (`libtls-fd@base` runs as `libtls-fd`, from the baseline tree). */
const kindOf = (c) => (c.endsWith(BASE) ? c.slice(0, -BASE.length) : c);
const MiB = 1024 * 1024;

// ---- options ----

function usage(code) {
  process.stdout.write(
    `usage: node bench/run.mjs [options]
  --quick              short sizes and durations, 2 rounds (checks the harness: well under 2 minutes)
  --rounds N           rounds per scenario (default 3; --quick: 2)
  --only a,b           scenarios: ${Object.keys(scenarios(false)).join(', ')}
  --contenders a,b     contenders: ${ALL_CONTENDERS.join(', ')}
  --out NAME           write bench/results/NAME.json and NAME.svg (default: results; --quick:
                       results-quick; with --only/--contenders: results-partial)
  --cpu-prof           run the Node.js peers with --cpu-prof (profiles, and this run's JSON and SVG,
                       in bench/.build/prof/; summarise with node bench/prof-top.mjs DIR)
  --baseline DIR       also run ${BASELINE_CONTENDERS.join(', ')}: the package's contenders of
                       another built checkout DIR (before/after in one interleaved run; the table
                       gains a "vs base" column)
`,
  );
  process.exit(code);
}

function parseArgs(argv) {
  const o = {
    quick: false,
    rounds: null,
    only: null,
    contenders: null,
    out: null,
    cpuProf: false,
    baseline: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const eq = a.indexOf('=');
      if (eq >= 0) return a.slice(eq + 1);
      if (i + 1 >= argv.length) {
        process.stderr.write(`${a} needs a value\n`);
        process.exit(2);
      }
      return argv[++i];
    };
    const name = a.split('=')[0];
    if (name === '--quick') o.quick = true;
    else if (name === '--rounds') o.rounds = Number(val());
    else if (name === '--only') o.only = val().split(',').filter(Boolean);
    else if (name === '--contenders') o.contenders = val().split(',').filter(Boolean);
    else if (name === '--out') o.out = val();
    else if (name === '--cpu-prof') o.cpuProf = true;
    else if (name === '--baseline') o.baseline = path.resolve(val());
    else if (name === '--help' || name === '-h') usage(0);
    else {
      process.stderr.write(`unknown option ${a}\n`);
      usage(2);
    }
  }
  if (o.rounds !== null && !(Number.isInteger(o.rounds) && o.rounds >= 1 && o.rounds <= 50)) {
    process.stderr.write('--rounds must be an integer from 1 to 50\n');
    process.exit(2);
  }
  return o;
}

/**
 * The scenarios (bench/README.md). `measure`: which side prints the result ('server', 'client', or
 * 'report': the server, asked once the client is done). `better`: which way is good. `group`:
 * scenarios whose runs interleave within each round (a target compares them with each other).
 */
function scenarios(quick) {
  const bulkBytes = quick ? 64 * MiB : 1024 * MiB;
  const duration = quick ? 1000 : 5000;
  // A node:tls client process spends about twice a worker's CPU per handshake: to keep 2 workers
  // busy, the cluster client spreads its loops over several processes where the cores allow (the
  // same number for 1 and 2 workers: one load generator for both)
  const clusterClients = Math.max(1, Math.min(4, os.cpus().length - 3));
  const clusterScenario = (workers) => ({
    title: `full handshakes/s, node:cluster server, ${workers} worker${workers > 1 ? 's' : ''} sharing one ticket key and session ID (TLS 1.3, 8 concurrent sequential clients in ${clusterClients} process${clusterClients > 1 ? 'es' : ''}, ${duration / 1000} s; then resumption across workers; client: node:tls)`,
    measure: 'client',
    better: 'higher',
    unit: 'handshakes/s',
    params: { duration, conns: 8, clients: clusterClients, workers, resumes: quick ? 20 : 100 },
    clientContender: 'node-tls',
    contenders: ['libtls-fd', 'node-tls'],
    group: 'cluster',
    budget: duration + 30_000,
  });
  // 16 MiB/s is far below any contender: a run slower than that is a hang, not a result
  const bulkBudget = Math.max(30_000, (bulkBytes / (16 * MiB)) * 1000);
  return {
    'bulk-up': {
      title: `bulk client->server (${bulkBytes / MiB} MiB, 16 KiB writes)`,
      measure: 'server',
      better: 'higher',
      unit: 'MiB/s',
      params: { bytes: bulkBytes },
      budget: bulkBudget,
    },
    'bulk-down': {
      title: `bulk server->client (${bulkBytes / MiB} MiB, 16 KiB writes)`,
      measure: 'client',
      better: 'higher',
      unit: 'MiB/s',
      params: { bytes: bulkBytes },
      budget: bulkBudget,
    },
    handshakes: {
      title: `full handshakes/s (TLS 1.3, ECDSA P-256, sequential, new TCP connection each, ${duration / 1000} s)`,
      measure: 'client',
      better: 'higher',
      unit: 'handshakes/s',
      params: { duration },
      budget: duration + 30_000,
    },
    resumed: {
      title: `resumed handshakes/s (TLS 1.2: see notes, ${duration / 1000} s)`,
      measure: 'client',
      better: 'higher',
      unit: 'handshakes/s',
      params: { duration },
      budget: duration + 30_000,
    },
    'resumed-client': {
      title: `resumed handshakes/s, each client against a node:tls server (TLS 1.2, ${duration / 1000} s)`,
      measure: 'client',
      better: 'higher',
      unit: 'handshakes/s',
      params: { duration },
      serverContender: 'node-tls',
      budget: duration + 30_000,
    },
    'rr-1': {
      title: `64-byte request/response, 1 connection (${duration / 1000} s)`,
      measure: 'client',
      better: 'higher',
      unit: 'round trips/s',
      params: { duration, conns: 1 },
      budget: duration + 30_000,
    },
    'rr-100': {
      title: `64-byte request/response, 100 connections (${duration / 1000} s)`,
      measure: 'client',
      better: 'higher',
      unit: 'round trips/s',
      params: { duration, conns: 100 },
      budget: duration + 60_000,
    },
    memory: {
      title: `server memory per idle connection (${quick ? 200 : 1000} open; client: node:tls for every server)`,
      measure: 'server',
      better: 'lower',
      unit: 'B/conn (RSS)',
      params: { conns: quick ? 200 : 1000 },
      clientContender: 'node-tls',
      serverNodeArgs: ['--expose-gc'],
      budget: quick ? 30_000 : 90_000,
    },
    eld: {
      title: `server event-loop delay p99 while 100 clients handshake (${quick ? 2 : 10} waves)`,
      measure: 'report',
      better: 'lower',
      unit: 'ms p99',
      params: { conns: 100, waves: quick ? 2 : 10 },
      contenders: NODE_CONTENDERS,
      budget: quick ? 30_000 : 90_000,
    },
    'cluster-1': clusterScenario(1),
    'cluster-2': clusterScenario(2),
  };
}

// ---- machine, build, certificates ----

function sh(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (e) {
    return `unavailable (${String(e.message).split('\n')[0]})`;
  }
}

function machine() {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryMiB: Math.round(os.totalmem() / MiB),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    libtls: sh('pkg-config', ['--modversion', 'libtls']),
    openssl: sh('openssl', ['version']),
    cc: sh('cc', ['--version']).split('\n')[0],
    commit: sh('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']),
    dirty: sh('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src', 'native']) !== '',
    date: new Date().toISOString(),
    loadavgStart: os.loadavg().map((x) => +x.toFixed(2)),
  };
}

/** A CA and a server certificate (localhost, 127.0.0.1), both ECDSA P-256, fresh for this run. */
function makePki() {
  mkdirSync(PKI, { recursive: true });
  const o = (...args) => execFileSync('openssl', args, { cwd: PKI, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  o('genpkey', ...ec, '-out', 'ca.key');
  o(
    'req',
    '-x509',
    '-new',
    '-key',
    'ca.key',
    '-sha256',
    '-days',
    '3650',
    '-subj',
    '/CN=libtls bench CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-out',
    'ca.crt',
  );
  o('genpkey', ...ec, '-out', 'server.key');
  o('req', '-new', '-key', 'server.key', '-subj', '/CN=localhost', '-out', 'server.csr');
  writeFileSync(
    path.join(PKI, 'ext.cnf'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' +
      'keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n',
  );
  o(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '30',
    '-sha256',
    '-extfile',
    'ext.cnf',
    '-out',
    'server.crt',
  );
}

/** Builds the C contender; returns null or the compiler's complaint. */
function buildC() {
  mkdirSync(BUILD, { recursive: true });
  const flags = sh('pkg-config', ['--cflags', '--libs', 'libtls']);
  if (flags.startsWith('unavailable')) return `pkg-config libtls: ${flags}`;
  const args = [
    '-O2',
    '-Wall',
    '-Wextra',
    '-Werror',
    path.join(BENCH, 'c', 'tlsbench.c'),
    ...flags.split(/\s+/).filter(Boolean),
    '-o',
    CBIN,
  ];
  try {
    execFileSync('cc', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    return null;
  } catch (e) {
    return `cc ${args.join(' ')}: ${e.stderr?.toString() || e.message}`;
  }
}

// ---- one peer process ----

class Peer {
  constructor(label, cmd, args) {
    this.label = label;
    this.cmdline = [cmd, ...args].join(' ');
    this.msgs = [];
    this.stderr = '';
    this.exit = null; // { code, signal } once exited
    this.waiters = new Set();
    this.child = spawn(cmd, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => {
      // 'close', not 'exit': every line the peer printed has been read by then
      this.child.on('close', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
        for (const w of this.waiters) w.check();
      });
    });
    this.child.on('error', (err) => {
      this.stderr += `spawn error: ${err.message}\n`;
    });
    this.child.stdin.on('error', () => {});
    let buf = '';
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (d) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (!line) continue;
        try {
          this.msgs.push(JSON.parse(line));
        } catch {
          this.msgs.push({ text: line });
        }
        for (const w of this.waiters) w.check();
      }
    });
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (d) => {
      if (this.stderr.length < 16384) this.stderr += d;
    });
  }

  /**
   * Resolves with the first message `pred` accepts; rejects when this peer exits first, when a
   * peer in `watch` dies with a failure, or after `ms`.
   */
  wait(pred, ms, what, watch = []) {
    return new Promise((resolve, reject) => {
      const all = [this, ...watch];
      const w = {
        check: () => {
          const m = this.msgs.find(pred);
          if (m) return finish(null, m);
          const err = this.msgs.find((x) => x.error);
          if (err) return finish(new Error(`${this.label}: ${err.error}`));
          if (this.exit)
            return finish(
              new Error(`${this.label} exited (${fmtExit(this.exit)}) before ${what}${tail(this)}`),
            );
          for (const p of watch) {
            if (p.exit && (p.exit.code !== 0 || p.exit.signal)) {
              return finish(new Error(`${p.label} exited (${fmtExit(p.exit)}) before ${what}${tail(p)}`));
            }
          }
        },
      };
      const timer = setTimeout(() => finish(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      const finish = (err, m) => {
        clearTimeout(timer);
        for (const p of all) p.waiters.delete(w);
        if (err) reject(err);
        else resolve(m);
      };
      for (const p of all) p.waiters.add(w);
      w.check();
    });
  }

  /** Node peers exit when their stdin closes; the C peer on SIGTERM; SIGKILL if either lingers. */
  async stop(graceMs) {
    if (this.exit) return;
    this.child.stdin.end();
    if (this.label.includes('c-libtls')) this.child.kill('SIGTERM');
    const t1 = new Promise((r) => setTimeout(r, graceMs));
    await Promise.race([this.exited, t1]);
    if (this.exit) return;
    this.child.kill('SIGTERM');
    await Promise.race([this.exited, new Promise((r) => setTimeout(r, 1000))]);
    if (this.exit) return;
    this.child.kill('SIGKILL');
    await Promise.race([this.exited, new Promise((r) => setTimeout(r, 2000))]);
  }
}

function fmtExit(e) {
  return e.signal ? `signal ${e.signal}` : `code ${e.code}`;
}
function tail(p) {
  const s = p.stderr.trim();
  return s ? `: ${s.split('\n').slice(-3).join(' | ').slice(0, 400)}` : '';
}

function peerCommand(role, contender, scenario, sc, extra, opts, round) {
  const params = { pki: PKI, life: sc.budget + 10_000, ...sc.params, ...extra };
  const flags = Object.entries(params).map(([k, v]) => `--${k}=${v}`);
  if (contender === 'c-libtls') return [CBIN, [role, scenario, ...flags]];
  const peer = contender.endsWith(BASE) ? path.join(opts.baseline, 'bench', 'peers', 'node.mjs') : NODE_PEER;
  const nodeArgs = [...(role === 'server' ? (sc.serverNodeArgs ?? []) : [])];
  if (opts.cpuProf) {
    const dir = path.join(BUILD, 'prof', scenario, `${contender}-${role}-r${round}`);
    mkdirSync(dir, { recursive: true });
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${dir}`);
  }
  return [process.execPath, [...nodeArgs, peer, role, kindOf(contender), scenario, ...flags]];
}

/** One measurement: fresh server and client processes; resolves { ok, value, result } or { ok: false, error }. */
async function runOne(scenario, sc, contender, round, opts) {
  const peers = [];
  const t0 = Date.now();
  try {
    const serverKind = sc.serverContender ?? contender;
    const [scmd, sargs] = peerCommand('server', serverKind, scenario, sc, {}, opts, round);
    const server = new Peer(`server ${serverKind}`, scmd, sargs);
    peers.push(server);
    const ready = await server.wait((m) => m.ready, 15_000, 'the server to listen');
    const clientKind = sc.clientContender ?? contender;
    const [ccmd, cargs] = peerCommand('client', clientKind, scenario, sc, { port: ready.port }, opts, round);
    const client = new Peer(`client ${clientKind}`, ccmd, cargs);
    peers.push(client);
    const left = () => Math.max(1000, sc.budget - (Date.now() - t0));
    let msg;
    if (sc.measure === 'server') {
      msg = await server.wait((m) => m.result, left(), 'the server result', [client]);
    } else if (sc.measure === 'client') {
      msg = await client.wait((m) => m.result, left(), 'the client result', [server]);
    } else {
      await client.wait((m) => m.done, left(), 'the client to finish', [server]);
      server.child.stdin.write('report\n');
      msg = await server.wait((m) => m.result, 10_000, 'the server report', [client]);
    }
    const result = msg.result;
    if (result.error || typeof result.value !== 'number' || !Number.isFinite(result.value)) {
      return {
        ok: false,
        error: result.error ?? `no usable value: ${JSON.stringify(result)}`,
        ms: Date.now() - t0,
      };
    }
    // the client of bulk-up must also have finished cleanly
    return { ok: true, value: result.value, result, ms: Date.now() - t0 };
  } catch (e) {
    return { ok: false, error: e.message, ms: Date.now() - t0 };
  } finally {
    await Promise.all(peers.reverse().map((p) => p.stop(1500)));
  }
}

// ---- statistics and reporting ----

function median(xs) {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function fmt(v, unit) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '-';
  if (unit?.startsWith('B/conn')) return v >= 10240 ? `${(v / 1024).toFixed(1)} KiB` : `${Math.round(v)} B`;
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

function pad(s, n, right = false) {
  s = String(s);
  return right ? s.padStart(n) : s.padEnd(n);
}

const TARGETS = [
  { name: 'Bulk up: fd vs C', scenario: 'bulk-up', a: 'libtls-fd', b: 'c-libtls', op: '>=', target: 0.9 },
  {
    name: 'Bulk up: fd vs node:tls',
    scenario: 'bulk-up',
    a: 'libtls-fd',
    b: 'node-tls',
    op: '>=',
    target: 1.3,
  },
  { name: 'Bulk down: fd vs C', scenario: 'bulk-down', a: 'libtls-fd', b: 'c-libtls', op: '>=', target: 0.9 },
  {
    name: 'Bulk down: fd vs node:tls',
    scenario: 'bulk-down',
    a: 'libtls-fd',
    b: 'node-tls',
    op: '>=',
    target: 1.3,
  },
  {
    name: 'Full handshakes/s: fd vs C',
    scenario: 'handshakes',
    a: 'libtls-fd',
    b: 'c-libtls',
    op: '>=',
    target: 0.9,
  },
  {
    name: 'Full handshakes/s: fd vs node:tls',
    scenario: 'handshakes',
    a: 'libtls-fd',
    b: 'node-tls',
    op: '>=',
    target: 1.3,
  },
  {
    name: '64-byte rr/s, 1 conn: fd vs node:tls',
    scenario: 'rr-1',
    a: 'libtls-fd',
    b: 'node-tls',
    op: '>=',
    target: 1.2,
  },
  {
    name: '64-byte rr/s, 100 conns: fd vs node:tls',
    scenario: 'rr-100',
    a: 'libtls-fd',
    b: 'node-tls',
    op: '>=',
    target: 1.2,
  },
  {
    name: 'Memory/idle conn (RSS): fd vs node:tls',
    scenario: 'memory',
    a: 'libtls-fd',
    b: 'node-tls',
    op: '<=',
    target: 0.5,
  },
  {
    name: 'Memory transport (upgrade) bulk up: cb vs node:tls',
    scenario: 'bulk-up',
    a: 'libtls-cb',
    b: 'node-tls',
    op: '>=',
    target: 1.0,
  },
  {
    name: 'Memory transport (upgrade) bulk down: cb vs node:tls',
    scenario: 'bulk-down',
    a: 'libtls-cb',
    b: 'node-tls',
    op: '>=',
    target: 1.0,
  },
  {
    name: 'Cluster, 2 workers vs 1: fd handshakes/s',
    scenario: 'cluster-2',
    a: 'libtls-fd',
    scenarioB: 'cluster-1',
    b: 'libtls-fd',
    op: '>=',
    target: 1.6,
  },
];

function summarise(runs, scs) {
  const summary = {};
  for (const [scenario, byContender] of Object.entries(runs)) {
    summary[scenario] = {};
    for (const [contender, list] of Object.entries(byContender)) {
      const ok = list.filter((r) => r.ok);
      const values = ok.map((r) => r.value);
      const extra = {};
      const med = (k) => median(ok.map((r) => r.result[k]).filter((x) => typeof x === 'number'));
      if (scenario.startsWith('resumed') || scenario.startsWith('cluster'))
        extra.resumedFraction = med('resumedFraction');
      if (scenario.startsWith('cluster')) extra.crossResumedFraction = med('crossResumedFraction');
      if (scenario === 'memory') {
        extra.heapPerConn = med('heapPerConn');
        extra.externalPerConn = med('externalPerConn');
      }
      if (scenario === 'eld') extra.maxMs = med('maxMs');
      const negotiated = [...new Set(ok.map((r) => `${r.result.version ?? '?'} ${r.result.cipher ?? '?'}`))];
      summary[scenario][contender] = {
        unit: scs[scenario].unit,
        better: scs[scenario].better,
        n: values.length,
        failed: list.length - ok.length,
        median: median(values),
        min: values.length ? Math.min(...values) : null,
        max: values.length ? Math.max(...values) : null,
        negotiated,
        ...extra,
      };
    }
  }
  return summary;
}

function ratiosOf(summary) {
  const ratios = {};
  for (const [scenario, byC] of Object.entries(summary)) {
    ratios[scenario] = {};
    for (const [c, s] of Object.entries(byC)) {
      const r = {};
      for (const ref of ['node-tls', 'c-libtls']) {
        const base = byC[ref]?.median;
        r[`vs ${ref}`] = s.median !== null && base ? s.median / base : null;
      }
      const before = byC[c + BASE]?.median;
      if (before) r['vs base'] = s.median !== null ? s.median / before : null;
      ratios[scenario][c] = r;
    }
  }
  return ratios;
}

function targetsOf(summary) {
  const status = (value, t) => {
    const met = value === null ? null : t.op === '>=' ? value >= t.target : value <= t.target;
    return met === null ? 'no data' : met ? 'met' : 'MISSED';
  };
  const rows = TARGETS.map((t) => {
    const a = summary[t.scenario]?.[t.a]?.median;
    const b = summary[t.scenarioB ?? t.scenario]?.[t.b]?.median;
    const ratio = a && b ? a / b : null;
    const row = { ...t, ratio, status: status(ratio, t) };
    if (t.scenarioB) {
      // the same ratio for node:tls, the control (what the machine allows)
      const ca = summary[t.scenario]?.['node-tls']?.median;
      const cb = summary[t.scenarioB]?.['node-tls']?.median;
      if (ca && cb) row.note = `node-tls: ${(ca / cb).toFixed(2)}x`;
    }
    return row;
  });
  // sessions resumed on another worker than the one that issued the ticket (a fraction, not a ratio)
  const t = {
    name: 'Cluster, 2 workers: fd resumed across workers',
    scenario: 'cluster-2',
    a: 'libtls-fd',
    key: 'crossResumedFraction',
    kind: 'fraction',
    op: '>=',
    target: 0.9,
  };
  const fd = summary[t.scenario]?.[t.a]?.crossResumedFraction ?? null;
  const control = summary[t.scenario]?.['node-tls']?.crossResumedFraction ?? null;
  const row = { ...t, ratio: fd, status: status(fd, t) };
  if (control !== null)
    row.note = `node-tls: ${pct(control)}${control < t.target ? ', so the harness saw no resumption: check it' : ''}`;
  rows.push(row);
  return rows;
}

function pct(x) {
  return `${(x * 100).toFixed(0)}%`;
}

function printReport(summary, ratios, targets, scs, contenders) {
  const w = process.stdout.write.bind(process.stdout);
  w('\n=== Medians (min-max), n runs ===\n');
  for (const [scenario, byC] of Object.entries(summary)) {
    const sc = scs[scenario];
    w(`\n${scenario}: ${sc.title} [${sc.unit}, ${sc.better} is better]\n`);
    w(
      `  ${pad('contender', 14)} ${pad('median', 12, true)}  ${pad('min-max', 24)} ${pad('vs node:tls', 11, true)} ${pad('vs C', 7, true)} ${pad('vs base', 7, true)}  n  notes\n`,
    );
    for (const c of contenders) {
      const s = byC[c];
      if (!s) continue;
      const r = ratios[scenario][c];
      const notes = [];
      if (s.failed) notes.push(`${s.failed} failed`);
      if (s.resumedFraction !== undefined && s.resumedFraction !== null)
        notes.push(`resumed ${(s.resumedFraction * 100).toFixed(0)}%`);
      if (s.crossResumedFraction !== undefined && s.crossResumedFraction !== null)
        notes.push(`across workers ${pct(s.crossResumedFraction)}`);
      if (s.heapPerConn !== undefined && s.heapPerConn !== null)
        notes.push(`heap ${fmt(s.heapPerConn, 'B/conn')}/conn`);
      if (s.maxMs !== undefined && s.maxMs !== null) notes.push(`max ${fmt(s.maxMs)} ms`);
      if (s.negotiated.length) notes.push(s.negotiated.join(', '));
      const mm = s.min === null ? '-' : `${fmt(s.min, s.unit)} - ${fmt(s.max, s.unit)}`;
      const rn = r['vs node-tls'] === null ? '-' : `${r['vs node-tls'].toFixed(2)}x`;
      const rc = r['vs c-libtls'] === null ? '-' : `${r['vs c-libtls'].toFixed(2)}x`;
      const rb = r['vs base'] === undefined || r['vs base'] === null ? '-' : `${r['vs base'].toFixed(2)}x`;
      w(
        `  ${pad(c, 14)} ${pad(fmt(s.median, s.unit), 12, true)}  ${pad(mm, 24)} ${pad(rn, 11, true)} ${pad(rc, 7, true)} ${pad(rb, 7, true)} ${pad(s.n, 2, true)}  ${notes.join('; ')}\n`,
      );
    }
  }
  w('\n=== Targets ===\n');
  for (const t of targets) {
    const frac = t.kind === 'fraction';
    const r = t.ratio === null ? '-' : frac ? pct(t.ratio) : `${t.ratio.toFixed(2)}x`;
    const goal = frac ? pct(t.target) : `${t.target}x`;
    w(
      `  ${pad(t.name, 48)} ${pad(r, 8, true)}  target ${t.op} ${goal}  ${t.status}${t.note ? `  (${t.note})` : ''}\n`,
    );
  }
}

// ---- the chart: medians normalised to node:tls = 1.0, one group per scenario ----

const COLOURS = {
  'libtls-fd': '#1f77b4',
  'libtls-cb': '#2ca02c',
  'node-tls': '#7f7f7f',
  'c-libtls': '#d62728',
  'libtls-fd@base': '#aec7e8',
  'libtls-cb@base': '#98df8a',
};

function esc(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
}

function svgChart(summary, ratios, contenders, meta) {
  const groups = Object.keys(summary).filter((s) => summary[s]['node-tls']?.median);
  const barW = 22;
  const gap = 44;
  const left = 60;
  const top = 70;
  const plotH = 300;
  const groupW = (g) => contenders.filter((c) => summary[g][c]).length * barW;
  const width = Math.max(640, left + groups.reduce((a, g) => a + groupW(g) + gap, gap) + 20);
  const height = top + plotH + 110;
  let maxR = 1.2;
  for (const g of groups)
    for (const c of contenders) maxR = Math.max(maxR, ratios[g][c]?.['vs node-tls'] ?? 0);
  maxR = Math.ceil(maxR * 4) / 4;
  const y = (r) => top + plotH - (r / maxR) * plotH;
  const o = [];
  o.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
  );
  o.push(`<rect width="100%" height="100%" fill="white"/>`);
  o.push(
    `<text x="${left}" y="20" font-size="14" font-weight="bold">libtls for Node.js vs node:tls vs libtls from C (medians; node:tls = 1.0)</text>`,
  );
  o.push(
    `<text x="${left}" y="37" fill="#555">${esc(`${meta.cpuModel}, ${meta.cores} cores, node ${meta.node}, libtls ${meta.libtls}, ${meta.date.slice(0, 10)}; memory and eld: lower is better`)}</text>`,
  );
  // legend
  let lx = left;
  for (const c of contenders) {
    o.push(
      `<rect x="${lx}" y="47" width="10" height="10" fill="${COLOURS[c]}"/><text x="${lx + 14}" y="56">${esc(c)}</text>`,
    );
    lx += 14 + c.length * 7 + 16;
  }
  // axis and grid
  for (let r = 0; r <= maxR + 1e-9; r += maxR > 3 ? 1 : 0.25) {
    const yy = y(r).toFixed(1);
    o.push(
      `<line x1="${left}" x2="${width - 10}" y1="${yy}" y2="${yy}" stroke="${Math.abs(r - 1) < 1e-9 ? '#000' : '#e4e4e4'}"${Math.abs(r - 1) < 1e-9 ? ' stroke-dasharray="4 3"' : ''}/>`,
    );
    o.push(`<text x="${left - 6}" y="${(+yy + 4).toFixed(1)}" text-anchor="end">${r.toFixed(2)}x</text>`);
  }
  let x = left + gap;
  for (const g of groups) {
    const gx = x;
    for (const c of contenders) {
      const s = summary[g][c];
      if (!s) continue;
      const r = ratios[g][c]?.['vs node-tls'];
      if (r !== null && r !== undefined) {
        const yy = y(r);
        o.push(
          `<rect x="${x}" y="${yy.toFixed(1)}" width="${barW - 3}" height="${(top + plotH - yy).toFixed(1)}" fill="${COLOURS[c]}"><title>${esc(`${g} ${c}: ${fmt(s.median, s.unit)} ${s.unit} (${r.toFixed(2)}x node:tls)`)}</title></rect>`,
        );
        o.push(
          `<text x="${x + (barW - 3) / 2}" y="${(yy - 3).toFixed(1)}" text-anchor="middle" font-size="9">${r.toFixed(2)}</text>`,
        );
      } else {
        o.push(
          `<text x="${x + (barW - 3) / 2}" y="${top + plotH - 3}" text-anchor="middle" font-size="9" fill="#c00">x</text>`,
        );
      }
      x += barW;
    }
    const mid = (gx + x) / 2;
    const lower = summary[g]['node-tls'].better === 'lower';
    o.push(
      `<text x="${mid}" y="${top + plotH + 16}" text-anchor="middle" font-weight="bold">${esc(g)}</text>`,
    );
    const ref = summary[g]['node-tls'];
    const refText = ref.unit.startsWith('B/conn')
      ? `${fmt(ref.median, ref.unit)}/conn RSS`
      : `${fmt(ref.median, ref.unit)} ${ref.unit}`;
    o.push(
      `<text x="${mid}" y="${top + plotH + 30}" text-anchor="middle" fill="#555">${esc(refText)}</text>`,
    );
    o.push(
      `<text x="${mid}" y="${top + plotH + 43}" text-anchor="middle" fill="#555">${lower ? '(lower is better)' : '(higher is better)'}</text>`,
    );
    x += gap;
  }
  o.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#000"/>`);
  o.push(
    `<text x="${left}" y="${height - 30}" fill="#555">${esc(`bars: median of ${meta.rounds} interleaved rounds, normalised to node:tls's median per scenario; label under each group: node:tls's median`)}</text>`,
  );
  o.push(`<text x="${left}" y="${height - 14}" fill="#555">${esc(`command: ${meta.command}`)}</text>`);
  o.push('</svg>');
  return `${o.join('\n')}\n`;
}

/** The commit a checkout is at, or null (not a git checkout). */
function gitRev(dir) {
  try {
    return execFileSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

function writeAtomic(file, text) {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

// ---- main ----

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const scs = scenarios(opts.quick);
  const rounds = opts.rounds ?? (opts.quick ? 2 : 3);
  const names = opts.only ?? Object.keys(scs);
  for (const n of names) {
    if (!scs[n]) {
      process.stderr.write(`unknown scenario ${n} (known: ${Object.keys(scs).join(', ')})\n`);
      process.exit(2);
    }
  }
  if (opts.baseline !== null && !existsSync(path.join(opts.baseline, 'dist', 'index.js'))) {
    process.stderr.write(`--baseline: ${opts.baseline} has no dist/index.js: build that checkout first\n`);
    process.exit(2);
  }
  const known = opts.baseline === null ? ALL_CONTENDERS : [...ALL_CONTENDERS, ...BASELINE_CONTENDERS];
  const contenders = opts.contenders ?? known;
  for (const c of contenders) {
    if (!known.includes(c)) {
      process.stderr.write(`unknown contender ${c} (known: ${known.join(', ')})\n`);
      process.exit(2);
    }
  }
  const outName =
    opts.out ?? (opts.quick ? 'results-quick' : opts.only || opts.contenders ? 'results-partial' : 'results');
  if (!/^[\w.-]+$/.test(outName)) {
    process.stderr.write('--out: a plain file name (letters, digits, . _ -)\n');
    process.exit(2);
  }
  if (!existsSync(path.join(ROOT, 'dist', 'index.js'))) {
    process.stderr.write('dist/index.js is missing: run `npm run build` first\n');
    process.exit(2);
  }

  const meta = machine();
  meta.command = `node bench/run.mjs ${process.argv.slice(2).join(' ')}`.trim();
  meta.rounds = rounds;
  meta.quick = opts.quick;
  if (opts.baseline !== null) meta.baseline = { dir: opts.baseline, commit: gitRev(opts.baseline) };
  process.stdout.write(
    `libtls bench: ${meta.cpuModel} x${meta.cores}, node ${meta.node}, libtls ${meta.libtls}, ${meta.openssl}\n`,
  );
  process.stdout.write(
    `load average at start: ${meta.loadavgStart.join(' ')} (other work on this machine makes numbers noisy)\n`,
  );

  makePki();
  let cError = null;
  if (contenders.includes('c-libtls')) {
    cError = buildC();
    if (cError) process.stdout.write(`c-libtls: build failed, its runs are recorded as failed:\n${cError}\n`);
  }

  // the runs of one scenario, or of one group of scenarios (cluster-1 and cluster-2), interleave
  const blocks = [];
  for (const scenario of names) {
    const sc = scs[scenario];
    const units = contenders
      .filter((c) => (sc.contenders ?? ALL_CONTENDERS).includes(kindOf(c)))
      .map((contender) => ({ scenario, contender }));
    const block = sc.group && blocks.find((b) => b.group === sc.group);
    if (block) block.units.push(...units);
    else blocks.push({ group: sc.group, units });
  }
  const plan = [];
  for (const { units } of blocks) {
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < units.length; i++) plan.push({ ...units[(i + r) % units.length], round: r + 1 });
    }
  }
  const estimate = plan.reduce(
    (a, p) =>
      a +
      (p.scenario.startsWith('bulk')
        ? opts.quick
          ? 1.5
          : 6
        : scs[p.scenario].params.duration
          ? scs[p.scenario].params.duration / 1000 + 1
          : 4),
    0,
  );
  process.stdout.write(`${plan.length} runs, ${rounds} rounds, about ${Math.ceil(estimate / 60)} min\n\n`);

  const runs = {};
  const started = Date.now();
  for (let i = 0; i < plan.length; i++) {
    const { scenario, contender, round } = plan[i];
    const sc = scs[scenario];
    let res;
    if (contender === 'c-libtls' && cError) res = { ok: false, error: 'the C program did not build', ms: 0 };
    else res = await runOne(scenario, sc, contender, round, opts);
    runs[scenario] ??= {};
    runs[scenario][contender] ??= [];
    runs[scenario][contender].push({ round, ...res });
    const head = `[${pad(i + 1, String(plan.length).length, true)}/${plan.length}] ${pad(scenario, 10)} ${pad(contender, 10)} round ${round}/${rounds}`;
    if (res.ok) {
      const r = res.result;
      const bits = [`${r.version ?? ''} ${r.cipher ?? ''}`.trim()];
      if (r.resumedFraction !== undefined && r.resumedFraction !== null)
        bits.push(`resumed ${(r.resumedFraction * 100).toFixed(0)}%`);
      if (r.crossResumedFraction !== undefined && r.crossResumedFraction !== null)
        bits.push(`across workers ${pct(r.crossResumedFraction)} of ${r.acrossWorkers}`);
      if (r.heapPerConn !== undefined) bits.push(`heap ${fmt(r.heapPerConn, 'B/conn')}/conn`);
      if (r.maxMs !== undefined) bits.push(`max ${fmt(r.maxMs)} ms`);
      if (r.failed) bits.push(`${r.failed} failed connections`);
      const unit = sc.unit.startsWith('B/conn') ? 'per conn (RSS)' : sc.unit;
      process.stdout.write(
        `${head}  ${pad(fmt(res.value, sc.unit), 10, true)} ${unit}  (${bits.join(', ')}; ${(res.ms / 1000).toFixed(1)} s)\n`,
      );
    } else {
      process.stdout.write(`${head}  FAILED: ${res.error}\n`);
    }
  }

  const summary = summarise(runs, scs);
  const ratios = ratiosOf(summary);
  const targets = targetsOf(summary);
  printReport(summary, ratios, targets, scs, contenders);

  // the same TLS everywhere? (the targets compare like with like)
  const notes = [];
  for (const [scenario, byC] of Object.entries(summary)) {
    const seen = new Set(Object.values(byC).flatMap((s) => s.negotiated));
    if (seen.size > 1)
      notes.push(`${scenario}: the contenders negotiated different parameters: ${[...seen].join(' / ')}`);
  }
  // what resumed, from the medians measured above, and why, from the backend's self-test
  const { backend } = await import(pathToFileURL(path.join(ROOT, 'dist', 'index.js')).href);
  const caps = backend.capabilities.serverResumption;
  meta.backend = {
    name: backend.name,
    version: backend.version,
    crypto: backend.crypto.version,
    serverResumption: caps,
  };
  const resumedBy = (scenario) =>
    Object.entries(summary[scenario] ?? {})
      .filter(([, s]) => typeof s.resumedFraction === 'number')
      .map(([c, s]) => [c, s.resumedFraction]);
  const listed = (pairs) => pairs.map(([c, f]) => `${c} ${pct(f)}`).join(', ');
  const whyNone = (tlsv, can, servers) =>
    servers.length === 0
      ? ''
      : ` ${servers.join(', ')} resumed nothing: ${
          can
            ? `this backend's self-test (${backend.name} ${backend.version}) resumed a ${tlsv} session against a server of this package, so 0% here is a harness problem: check it`
            : `this backend's self-test (${backend.name} ${backend.version}) resumed no ${tlsv} session against a server of this package either, so the rate there is that of full handshakes`
        }.`;
  if (summary.resumed) {
    const r = resumedBy('resumed');
    const none = r.filter(([c, f]) => c !== 'node-tls' && f === 0).map(([c]) => c);
    notes.push(
      `resumed: TLS 1.2 for every contender; resumed ${listed(r)}.${whyNone('TLS 1.2', caps.tls12, none)}`,
    );
  }
  if (summary['resumed-client']) {
    notes.push(
      `resumed-client: the server is node:tls (which issues session tickets) for every contender, so this row measures the client side of resumption; resumed ${listed(resumedBy('resumed-client'))}.`,
    );
  }
  if (summary['cluster-1'] || summary['cluster-2']) {
    const r = ['cluster-1', 'cluster-2']
      .filter((sc) => summary[sc])
      .map((sc) => `${sc}: ${listed(resumedBy(sc))}`)
      .join('; ');
    const none = [
      ...new Set(
        ['cluster-1', 'cluster-2'].flatMap((sc) =>
          resumedBy(sc)
            .filter(([c, f]) => c !== 'node-tls' && f === 0)
            .map(([c]) => c),
        ),
      ),
    ];
    notes.push(
      `cluster-N: a node:cluster primary (round-robin: it accepts and hands each connection to a worker in turn) with N workers, one ticket key and one session ID for all; the client is node:tls for every server. "resumed": of the resumption phase's connections after the first, how many resumed (${r}); "across workers": of those served by another worker than the one that issued the ticket offered; node-tls resuming shows that the harness sees resumption.${whyNone('TLS 1.3', caps.tls13, none)}`,
    );
    // 2 workers, the primary (little), and about 2 workers' worth of node:tls client per worker
    if (meta.cores < 7) {
      const n = scs['cluster-2'].params.clients;
      notes.push(
        `cluster-N: ${meta.cores} cores for 2 workers, the primary and the client (${n} process${n > 1 ? 'es' : ''}; a node:tls client needs about twice a worker's CPU per handshake): 2 workers cannot reach twice the rate of 1 here, so compare libtls-fd's 2-vs-1 ratio with node-tls's (the targets line).`,
      );
    }
  }
  if (summary.memory)
    notes.push(
      "memory: every server is loaded by the same node:tls client process; B/conn is the growth of the server's anonymous resident memory (RssAnon: heaps, malloc, stacks; not the file-backed pages of code) from the moment the first tenth of the connections was up to the last, per connection counted; heap (V8 heapUsed) only for the Node.js servers.",
    );
  meta.loadavgEnd = os.loadavg().map((x) => +x.toFixed(2));
  meta.seconds = Math.round((Date.now() - started) / 1000);
  for (const n of notes) process.stdout.write(`note: ${n}\n`);
  process.stdout.write(`load average at end: ${meta.loadavgEnd.join(' ')}; ${meta.seconds} s\n`);

  // profiled runs are not representative: keep their results next to the profiles
  const outDir = opts.cpuProf ? path.join(BUILD, 'prof') : RESULTS;
  mkdirSync(outDir, { recursive: true });
  const scenarioInfo = Object.fromEntries(
    names.map((n) => [
      n,
      {
        title: scs[n].title,
        unit: scs[n].unit,
        better: scs[n].better,
        measuredBy: scs[n].measure,
        params: scs[n].params,
      },
    ]),
  );
  const json = {
    machine: meta,
    scenarios: scenarioInfo,
    contenders,
    runs,
    medians: summary,
    ratios,
    targets,
    notes,
  };
  const jf = path.join(outDir, `${outName}.json`);
  const sf = path.join(outDir, `${outName}.svg`);
  writeAtomic(jf, `${JSON.stringify(json, null, 2)}\n`);
  writeAtomic(sf, svgChart(summary, ratios, contenders, meta));
  process.stdout.write(`wrote ${path.relative(ROOT, jf)} and ${path.relative(ROOT, sf)}\n`);
  const failed = Object.values(runs)
    .flatMap((byC) => Object.values(byC).flat())
    .filter((r) => !r.ok).length;
  if (failed) process.stdout.write(`${failed} run(s) failed (see above and the JSON)\n`);
}

await main();
