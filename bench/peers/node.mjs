// One side (server or client) of one benchmark run, for the three Node.js contenders:
//   libtls-fd  this package's connect() / createServer() (libtls drives the socket fd itself)
//   libtls-cb  this package's upgrade() over plain net sockets (libtls's callback transport)
//   node-tls   node:tls
//
//   node bench/peers/node.mjs server|client <contender> <scenario> --pki=DIR [--port=P] [...]
//
// stdout carries JSON lines only: {"ready":true,"port":P} once a server listens, {"result":{...}}
// from the side that measures. A server exits when its stdin closes (the harness's way to stop
// it); it prints its result on a "report" line for the scenarios it measures at the end (eld).
// Everything binds/connects 127.0.0.1; every loop is bounded by a count or a deadline, and a hard
// timer (--life) ends the process whatever happens.
//
// cluster-N: the server process is a node:cluster primary that makes one ticket key, forks
// --workers=N workers (this script again, with the same arguments) and prints "ready" once all of
// them listen; it exits, killing them, when its stdin closes. The client is node:tls whatever the
// server: --conns loops of full handshakes, spread over --clients processes (node:cluster workers
// of the client) if more than 1; then it asks each connection of its resumption phase which worker
// served it.
import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import tls from 'node:tls';
import * as L from '../../dist/index.js';

const [role, contender, scenario, ...rest] = process.argv.slice(2);
const opt = {};
for (const a of rest) {
  const m = /^--([^=]+)=(.*)$/.exec(a);
  if (!m) die(`bad argument ${a}`);
  opt[m[1]] = m[2];
}
const num = (k, d) => (opt[k] === undefined ? d : Number(opt[k]));
const CONTENDERS = ['libtls-fd', 'libtls-cb', 'node-tls'];
if (!['server', 'client'].includes(role) || !CONTENDERS.includes(contender) || !scenario) {
  die('usage: node.mjs server|client libtls-fd|libtls-cb|node-tls <scenario> --pki=DIR [--port=P]');
}

const HOST = '127.0.0.1';
const SNI = 'localhost';
const CHUNK = 16 * 1024;
const MSG = 64;
const pki = opt.pki ?? die('--pki is required');
const bytes = num('bytes', 64 * 1024 * 1024);
const durationMs = num('duration', 1000);
const conns = num('conns', 1);
const waves = num('waves', 3);
const life = num('life', 120_000);
// resumed: TLS 1.2 everywhere (libretls resumes as a client over TLS 1.2 only); else TLS 1.3
const tls12 = scenario.startsWith('resumed');
const proto = tls12 ? 'TLSv1.2' : 'TLSv1.3';
// Pinned only where the defaults differ (TLS 1.2: node prefers AES-128-GCM, libtls AES-256-GCM)
const CIPHER12 = 'ECDHE-ECDSA-AES256-GCM-SHA384';
// cluster-N (TLS 1.3): a worker's ticket key and session ID, made once by the primary and the same
// in every worker (a libtls server refuses a ticket made under another session ID)
const clustered = scenario.startsWith('cluster');
const inWorker = clustered && role === 'server' && cluster.isWorker;
const ticketKey = inWorker ? Buffer.from(process.env.LIBTLS_BENCH_TICKET_KEY ?? '', 'hex') : null;
const sessionId = inWorker ? Buffer.from(process.env.LIBTLS_BENCH_SESSION_ID ?? '', 'hex') : null;
if (ticketKey && ticketKey.length !== 48)
  die('cluster worker: LIBTLS_BENCH_TICKET_KEY must be 48 bytes in hex');
if (sessionId && sessionId.length !== 32)
  die('cluster worker: LIBTLS_BENCH_SESSION_ID must be 32 bytes in hex');
const SESSION_LIFETIME = 300;

// The hard limit: whatever hangs, this process ends.
setTimeout(() => {
  out({ error: `${role} ${contender} ${scenario}: life time ${life} ms exceeded` });
  process.exit(3);
}, life).unref();
process.on('SIGTERM', () => process.exit(0)); // exit normally so --cpu-prof writes its profile

function out(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}
function die(msg) {
  process.stderr.write(`${msg}\n`);
  process.exit(2);
}
const now = () => performance.now();

// ---- configuration, made once per process (as a real server or client would) ----

const certPem = () => readFileSync(`${pki}/server.crt`);
const keyPem = () => readFileSync(`${pki}/server.key`);
const caPem = () => readFileSync(`${pki}/ca.crt`);

let sessionDir = null;
function libtlsServerConfig() {
  return new L.Config({
    certFile: `${pki}/server.crt`,
    keyFile: `${pki}/server.key`,
    protocols: tls12 ? 'tlsv1.2' : 'tlsv1.3',
    ...(tls12
      ? {
          ciphers: CIPHER12,
          sessionLifetime: 300,
          ticketKeys: [{ keyrev: 1, key: randomBytes(L.TICKET_KEY_SIZE) }],
        }
      : {}),
    ...(ticketKey
      ? { sessionLifetime: SESSION_LIFETIME, sessionId, ticketKeys: [{ keyrev: 1, key: ticketKey }] }
      : {}),
  });
}
function libtlsClientConfig() {
  const o = { caFile: `${pki}/ca.crt`, protocols: tls12 ? 'tlsv1.2' : 'tlsv1.3' };
  if (tls12) {
    o.ciphers = CIPHER12;
    sessionDir = mkdtempSync(`${os.tmpdir()}/libtls-bench-`);
    o.sessionFd = openSync(`${sessionDir}/session`, 'w+', 0o600);
  }
  return new L.Config(o);
}
process.on('exit', () => {
  if (sessionDir) rmSync(sessionDir, { recursive: true, force: true });
});
const nodeVersions = { minVersion: proto, maxVersion: proto, ...(tls12 ? { ciphers: CIPHER12 } : {}) };

// ---- what was negotiated, the same way for every contender ----

/**
 * Memory now: RssAnon (the process's own resident pages: heaps, malloc, stacks; what a connection
 * adds) and VmRSS (those plus the file-backed pages of code, which vary with what was touched and
 * cached), and V8's heap and external bytes.
 */
function memorySample() {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (field) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024;
  const m = process.memoryUsage();
  return { rssAnon: kb('RssAnon'), rss: kb('VmRSS'), heapUsed: m.heapUsed, external: m.external };
}

function info(s) {
  if (contender === 'node-tls') {
    return { version: s.getProtocol(), cipher: s.getCipher()?.name ?? null, resumed: s.isSessionReused() };
  }
  return { version: s.version, cipher: s.cipher, resumed: s.sessionResumed };
}

// ---- servers ----

/** cluster-N: the primary. Forks the workers, says "ready" once every one listens, stops them when stdin closes. */
async function runPrimary() {
  const workers = num('workers', 1);
  if (!(Number.isInteger(workers) && workers >= 1 && workers <= 64))
    die('--workers: an integer from 1 to 64');
  // the primary accepts and hands connections out in turn (Node's default on Linux; explicit here)
  cluster.schedulingPolicy = cluster.SCHED_RR;
  const key = randomBytes(48).toString('hex'); // L.TICKET_KEY_SIZE, and node:tls's ticketKeys size
  const sessionId = randomBytes(32).toString('hex'); // L.MAX_SESSION_ID_LENGTH
  let stopping = false;
  cluster.on('exit', (w, code, signal) => {
    if (stopping) return;
    out({ error: `cluster worker ${w.id} exited (${signal ? `signal ${signal}` : `code ${code}`})` });
    process.exit(1);
  });
  const ports = await Promise.all(
    Array.from({ length: workers }, () => {
      const w = cluster.fork({ LIBTLS_BENCH_TICKET_KEY: key, LIBTLS_BENCH_SESSION_ID: sessionId });
      return new Promise((resolve) => w.once('listening', (a) => resolve(a.port)));
    }),
  );
  if (new Set(ports).size !== 1) die(`cluster workers listen on different ports: ${ports.join(', ')}`);
  out({ ready: true, port: ports[0], workers, schedulingPolicy: 'rr' });
  process.stdin.on('data', () => {});
  process.stdin.on('end', async () => {
    stopping = true;
    const all = Object.values(cluster.workers ?? {}).filter(Boolean);
    const exited = all.map(
      (w) => new Promise((resolve) => (w.isDead() ? resolve() : w.once('exit', resolve))),
    );
    for (const w of all) w.process.kill('SIGTERM');
    await Promise.race([Promise.all(exited), new Promise((r) => setTimeout(r, 2000))]);
    process.exit(0);
  });
}

function listen(onSecure) {
  let clientErrors = 0;
  const onClientError = () => {
    clientErrors++;
  };
  let server;
  if (contender === 'libtls-fd') {
    const config = libtlsServerConfig();
    server = L.createServer({ config, handshakeTimeout: 30_000 }, onSecure);
    server.on('tlsClientError', onClientError);
  } else if (contender === 'libtls-cb') {
    const config = libtlsServerConfig();
    server = net.createServer({ noDelay: true }, (raw) => {
      raw.on('error', () => {});
      L.upgrade(raw, { mode: 'server', config, timeout: 30_000 }).then(onSecure, onClientError);
    });
  } else {
    server = tls.createServer(
      {
        key: keyPem(),
        cert: certPem(),
        ...nodeVersions,
        handshakeTimeout: 30_000,
        ...(ticketKey ? { ticketKeys: ticketKey, sessionTimeout: SESSION_LIFETIME } : {}),
      },
      onSecure,
    );
    server.on('tlsClientError', onClientError);
  }
  server.on('error', (e) => die(`server error: ${e.message}`));
  return new Promise((resolve) => {
    server.listen(0, HOST, 511, () => resolve({ server, clientErrors: () => clientErrors }));
  });
}

async function runServer() {
  const gc = globalThis.gc;
  let report = null; // for scenarios measured at the end ("report" on stdin)
  let first = null;
  const handlers = {
    'bulk-up': (s) => {
      let got = 0;
      let t0 = 0;
      let t1 = 0;
      const i = info(s);
      s.on('data', (d) => {
        if (got === 0) t0 = now();
        got += d.length;
        t1 = now();
      });
      s.on('end', () => {
        const ms = t1 - t0;
        out({ result: { value: got / 1048576 / (ms / 1000), unit: 'MiB/s', bytes: got, ms, ...i } });
      });
    },
    'bulk-down': (s) => {
      s.resume();
      sendBulk(s).catch(() => {});
    },
    handshakes: (s) => s.resume(),
    resumed: (s) => s.resume(),
    'resumed-client': (s) => s.resume(),
    eld: (s) => s.resume(),
    // full handshakes send nothing; the resumption phase asks "?" and is told the worker's id
    cluster: (s) => s.on('data', () => s.write(`${cluster.worker?.id}\n`)),
    rr: (s) => {
      s.setNoDelay(true);
      s.on('data', (d) => s.write(d));
    },
    memory: null,
  };
  const h = scenario.startsWith('rr-') ? handlers.rr : clustered ? handlers.cluster : handlers[scenario];
  if (h === undefined) die(`unknown scenario ${scenario}`);

  let established = 0;
  const keep = [];
  let baseline = null;
  let eld = null;
  const memTarget = conns;
  const warm = Math.max(1, Math.floor(conns / 10));
  const onSecure = (s) => {
    s.on('error', () => {});
    if (first === null) first = info(s);
    if (scenario === 'memory') {
      keep.push(s);
      s.resume();
      ++established;
      // the baseline is taken once the first tenth is up: one-time costs of the first handshakes
      // (lazily made tables, compiled code) are not a connection's
      if (established === warm && warm < memTarget) {
        gc?.();
        baseline = memorySample();
      }
      if (established === memTarget) {
        // let the last handshakes' garbage go, then measure
        setTimeout(() => {
          gc?.();
          gc?.();
          const m = memorySample();
          const counted = warm < memTarget ? memTarget - warm : memTarget;
          out({
            result: {
              value: (m.rssAnon - baseline.rssAnon) / counted,
              unit: 'B/conn (RSS)',
              heapPerConn: (m.heapUsed - baseline.heapUsed) / counted,
              externalPerConn: (m.external - baseline.external) / counted,
              rssPerConn: (m.rssAnon - baseline.rssAnon) / counted,
              vmRssPerConn: (m.rss - baseline.rss) / counted,
              conns: memTarget,
              counted,
              baseline,
              after: m,
              gc: typeof gc === 'function',
              ...first,
            },
          });
        }, 200);
      }
      return;
    }
    if (scenario === 'eld' && eld === null) {
      eld = monitorEventLoopDelay({ resolution: 1 });
      eld.enable();
    }
    established++;
    h(s);
  };
  const { server, clientErrors } = await listen(onSecure);
  // a cluster worker: the primary hears of 'listening', speaks for the workers and stops them
  if (clustered) return;
  if (scenario === 'memory') {
    gc?.();
    gc?.();
    baseline = memorySample();
  }
  report = () => {
    if (scenario === 'eld') {
      eld?.disable();
      out({
        result: eld
          ? {
              value: eld.percentile(99) / 1e6,
              unit: 'ms p99',
              maxMs: eld.max / 1e6,
              meanMs: eld.mean / 1e6,
              handshakes: established,
              clientErrors: clientErrors(),
              ...first,
            }
          : { error: 'no connection arrived' },
      });
    } else {
      out({ stats: { established, clientErrors: clientErrors(), ...first } });
    }
  };
  out({ ready: true, port: server.address().port });
  process.stdin.setEncoding('utf8');
  let line = '';
  process.stdin.on('data', (d) => {
    line += d;
    for (let i = line.indexOf('\n'); i >= 0; i = line.indexOf('\n')) {
      if (line.slice(0, i).trim() === 'report') report();
      line = line.slice(i + 1);
    }
  });
  process.stdin.on('end', () => process.exit(0));
}

// ---- clients ----

let clientCfg = null;
let nodeCtx = null;
let nodeSession; // node-tls: the session to resume

function connectOnce(port) {
  if (contender === 'libtls-fd') {
    clientCfg ??= libtlsClientConfig();
    return L.connect({ host: HOST, port, servername: SNI, config: clientCfg, timeout: 10_000 });
  }
  if (contender === 'libtls-cb') {
    clientCfg ??= libtlsClientConfig();
    return new Promise((resolve, reject) => {
      const raw = net.connect({ host: HOST, port, noDelay: true });
      raw.once('error', reject);
      raw.once('connect', () => {
        raw.off('error', reject);
        L.upgrade(raw, { mode: 'client', servername: SNI, config: clientCfg, timeout: 10_000 }).then(
          resolve,
          reject,
        );
      });
    });
  }
  nodeCtx ??= tls.createSecureContext({ ca: caPem(), ...nodeVersions });
  return new Promise((resolve, reject) => {
    const s = tls.connect({
      host: HOST,
      port,
      servername: SNI,
      secureContext: nodeCtx,
      ...nodeVersions,
      ...(tls12 && nodeSession ? { session: nodeSession } : {}),
    });
    const timer = setTimeout(() => s.destroy(new Error('handshake timed out')), 10_000);
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.once('secureConnect', () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      if (tls12) nodeSession = s.getSession() ?? nodeSession;
      resolve(s);
    });
    s.on('session', (sess) => {
      nodeSession = sess;
    });
  });
}

/** end() and wait for the peer's close too: one full connection's life, for every contender. */
function closeGracefully(s) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, 10_000);
    s.on('error', () => {});
    s.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
    s.resume();
    s.end();
  });
}

/**
 * cluster-N, node:tls client: one connection offering `session` (if any) that asks "?" and reads the
 * serving worker's id; resolves { worker, resumed, session: the newest ticket it received or null }.
 */
function askWorker(port, session) {
  nodeCtx ??= tls.createSecureContext({ ca: caPem(), ...nodeVersions });
  return new Promise((resolve, reject) => {
    const s = tls.connect({
      host: HOST,
      port,
      servername: SNI,
      secureContext: nodeCtx,
      ...nodeVersions,
      ...(session ? { session } : {}),
    });
    let got = '';
    let resumed = false;
    let ticket = null;
    const timer = setTimeout(() => s.destroy(new Error('no answer in 10 s')), 10_000);
    s.on('session', (t) => {
      ticket = t;
    });
    s.once('error', reject);
    s.once('secureConnect', () => {
      resumed = s.isSessionReused();
      s.write('?');
    });
    s.setEncoding('utf8');
    s.on('data', (d) => {
      got += d;
      if (got.includes('\n')) s.end();
      if (got.length > 64) s.destroy(new Error(`unexpected answer ${JSON.stringify(got)}`));
    });
    // after close, every record the server sent before its close_notify (tickets too) has been read
    s.once('close', () => {
      clearTimeout(timer);
      if (got.includes('\n')) resolve({ worker: got.trim(), resumed, session: ticket });
      else reject(new Error(`closed without an answer (${JSON.stringify(got)})`));
    });
  });
}

/**
 * cluster-N: `resumes` sequential connections (at most 10 s), each offering the newest session ticket
 * received so far. "Across workers": served by another worker than the one that issued the ticket
 * offered (or, with no ticket to offer, than the one that served the previous connection).
 */
async function resumeAcrossWorkers(port, resumes) {
  const deadline = now() + 10_000;
  let session = null;
  let sessionWorker = null;
  let prevWorker = null;
  let made = 0;
  let offered = 0;
  let resumed = 0;
  let across = 0;
  let resumedAcross = 0;
  let tickets = 0;
  let failed = 0;
  const perWorker = {};
  for (let i = 0; i < resumes && now() < deadline; i++) {
    let r;
    try {
      r = await askWorker(port, session);
    } catch (e) {
      if (++failed > 10) throw e;
      continue;
    }
    perWorker[r.worker] = (perWorker[r.worker] ?? 0) + 1;
    if (made++ > 0) {
      if (session) offered++;
      if (r.resumed) resumed++;
      if (r.worker !== (session ? sessionWorker : prevWorker)) {
        across++;
        if (r.resumed) resumedAcross++;
      }
    }
    if (r.session) {
      tickets++;
      session = r.session;
      sessionWorker = r.worker;
    }
    prevWorker = r.worker;
  }
  const tries = Math.max(0, made - 1); // the first connection has nothing to offer
  return {
    resumeConns: made,
    resumeFailed: failed,
    sessionsOffered: offered, // connections that had a ticket to offer
    connsWithTicket: tickets, // connections on which the server sent a ticket

    resumedFraction: tries ? resumed / tries : null,
    acrossWorkers: across,
    crossResumedFraction: across ? resumedAcross / across : null,
    perWorker,
  };
}

/**
 * cluster-N: `loops` concurrent loops of sequential full handshakes (TLS 1.3, no session offered) for
 * --duration, after a warm-up of one connection per loop at once (JIT here and in every worker);
 * `beforeStart`, if given, is awaited between the two.
 */
async function handshakeLoops(port, loops, beforeStart) {
  let failed = 0;
  const handshake = async () => {
    const s = await connectOnce(port);
    const i = info(s);
    return (await closeGracefully(s)) ? i : null;
  };
  const warm = await Promise.all(Array.from({ length: loops }, handshake));
  const first = warm.find(Boolean) ?? {};
  if (beforeStart) await beforeStart();
  let count = 0;
  const t0 = now();
  const deadline = t0 + durationMs;
  const loop = async () => {
    for (let i = 0; i < 10_000_000 && now() < deadline; i++) {
      let ok;
      try {
        ok = await handshake();
      } catch (e) {
        if (++failed > 100) throw e;
        continue;
      }
      if (ok) count++;
      else failed++;
    }
  };
  await Promise.all(Array.from({ length: loops }, loop));
  return { count, ms: now() - t0, failed, version: first.version ?? null, cipher: first.cipher ?? null };
}

/**
 * cluster-N with --clients=C > 1: the loops spread over C client processes (node:cluster workers of
 * this one), since one node:tls client process needs more CPU per handshake than a server worker.
 * They warm up, start together on "go", and the total count is taken over the longest window.
 */
async function handshakesFromProcesses(clients) {
  const procs = Array.from({ length: clients }, (_, i) =>
    cluster.fork({ LIBTLS_BENCH_LOOPS: String(Math.floor(conns / clients) + (i < conns % clients ? 1 : 0)) }),
  );
  const message = (w, key) =>
    new Promise((resolve, reject) => {
      const onMessage = (m) => {
        if (!m?.[key]) return;
        w.off('exit', onExit);
        w.off('message', onMessage);
        resolve(m[key]);
      };
      const onExit = (code, signal) =>
        reject(new Error(`client process ${w.id} exited (${signal ?? `code ${code}`}) before "${key}"`));
      w.on('message', onMessage);
      w.once('exit', onExit);
    });
  await Promise.all(procs.map((w) => message(w, 'warm')));
  const done = Promise.all(procs.map((w) => message(w, 'done')));
  for (const w of procs) w.send('go');
  const rs = await done;
  return {
    count: rs.reduce((a, r) => a + r.count, 0),
    ms: Math.max(...rs.map((r) => r.ms)),
    failed: rs.reduce((a, r) => a + r.failed, 0),
    version: rs[0].version,
    cipher: rs[0].cipher,
  };
}

/** A client process of handshakesFromProcesses(): its share of the loops, then its counts to the primary. */
async function runClientProcess() {
  const loops = Number(process.env.LIBTLS_BENCH_LOOPS);
  if (!(loops >= 1)) die('client process: LIBTLS_BENCH_LOOPS is missing');
  const go = new Promise((resolve) => process.once('message', resolve));
  const r = await handshakeLoops(num('port', 0), loops, () => {
    process.send({ warm: true });
    return go;
  });
  process.send({ done: r }, () => process.exit(0));
}

const payload = randomBytes(CHUNK);

/** Writes `bytes` in 16 KiB writes, honouring backpressure, then ends. */
function sendBulk(s) {
  return new Promise((resolve, reject) => {
    let left = bytes;
    s.once('error', reject);
    const pump = () => {
      while (left > 0) {
        const n = Math.min(CHUNK, left);
        left -= n;
        if (!s.write(n === CHUNK ? payload : payload.subarray(0, n))) {
          s.once('drain', pump);
          return;
        }
      }
      s.end(resolve);
    };
    pump();
  });
}

async function runClient() {
  const port = num('port', 0);
  if (!(port > 0)) die('--port is required');
  if (scenario === 'bulk-up') {
    const s = await connectOnce(port);
    const i = info(s);
    s.resume();
    await sendBulk(s);
    await closeGracefully(s);
    out({ done: true, ...i });
  } else if (scenario === 'bulk-down') {
    const s = await connectOnce(port);
    const i = info(s);
    let got = 0;
    let t0 = 0;
    let t1 = 0;
    s.on('data', (d) => {
      if (got === 0) t0 = now();
      got += d.length;
      t1 = now();
    });
    await new Promise((resolve, reject) => {
      s.once('end', resolve);
      s.once('error', reject);
    });
    const ms = t1 - t0;
    out({ result: { value: got / 1048576 / (ms / 1000), unit: 'MiB/s', bytes: got, ms, ...i } });
    await closeGracefully(s);
  } else if (clustered) {
    if (contender !== 'node-tls') die('cluster-N: the client is node:tls for every server');
    const clients = Math.min(conns, num('clients', 1));
    const r = clients > 1 ? await handshakesFromProcesses(clients) : await handshakeLoops(port, conns);
    const resumption = await resumeAcrossWorkers(port, num('resumes', 100));
    out({
      result: {
        value: r.count / (r.ms / 1000),
        unit: 'handshakes/s',
        count: r.count,
        ms: r.ms,
        conns,
        clients,
        failed: r.failed,
        ...resumption,
        version: r.version,
        cipher: r.cipher,
      },
    });
  } else if (scenario === 'handshakes' || tls12) {
    // one warm-up connection (JIT, and the session to resume), then sequential until the deadline
    const w = await connectOnce(port);
    const first = info(w);
    await closeGracefully(w);
    let count = 0;
    let resumed = 0;
    let failed = 0;
    let last = null;
    const t0 = now();
    const deadline = t0 + durationMs;
    for (let i = 0; i < 10_000_000 && now() < deadline; i++) {
      let s;
      try {
        s = await connectOnce(port);
      } catch (e) {
        if (++failed > 100) throw e;
        continue;
      }
      last = info(s);
      if (last.resumed) resumed++;
      if (await closeGracefully(s)) count++;
      else failed++;
    }
    const ms = now() - t0;
    out({
      result: {
        value: count / (ms / 1000),
        unit: 'handshakes/s',
        count,
        ms,
        failed,
        resumedFraction: count ? resumed / count : 0,
        version: last?.version ?? first.version,
        cipher: last?.cipher ?? first.cipher,
      },
    });
  } else if (scenario.startsWith('rr-')) {
    const sockets = [];
    for (let i = 0; i < conns; i++) {
      const s = await connectOnce(port);
      s.on('error', () => {});
      s.setNoDelay(true);
      sockets.push(s);
    }
    const i0 = info(sockets[0]);
    const req = randomBytes(MSG);
    let total = 0;
    const t0 = now();
    const deadline = t0 + durationMs;
    await Promise.all(
      sockets.map(
        (s) =>
          new Promise((resolve) => {
            let got = 0;
            const stop = () => {
              s.off('data', onData);
              resolve();
            };
            const onData = (d) => {
              got += d.length;
              if (got < MSG) return;
              got -= MSG;
              total++;
              if (now() >= deadline) stop();
              else s.write(req);
            };
            s.on('data', onData);
            s.once('close', stop);
            s.write(req);
          }),
      ),
    );
    const ms = now() - t0;
    out({ result: { value: total / (ms / 1000), unit: 'round trips/s', count: total, ms, conns, ...i0 } });
    await Promise.all(sockets.map(closeGracefully));
  } else if (scenario === 'memory') {
    // open `conns` connections, at most 50 handshakes at a time, and keep them until stopped
    const sockets = [];
    let next = 0;
    let failed = 0;
    const worker = async () => {
      for (; next < conns; ) {
        next++;
        try {
          const s = await connectOnce(port);
          s.on('error', () => {});
          s.resume();
          sockets.push(s);
        } catch {
          failed++;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(50, conns) }, worker));
    out({ established: sockets.length, failed });
    await new Promise((resolve) => {
      process.stdin.on('end', resolve);
      process.stdin.resume();
    });
  } else if (scenario === 'eld') {
    let ok = 0;
    let failed = 0;
    for (let w = 0; w < waves; w++) {
      await Promise.all(
        Array.from({ length: conns }, async () => {
          try {
            const s = await connectOnce(port);
            if (await closeGracefully(s)) ok++;
          } catch {
            failed++;
          }
        }),
      );
    }
    out({ done: true, handshakes: ok, failed });
  } else {
    die(`unknown scenario ${scenario}`);
  }
  process.exit(0);
}

if (role === 'server' && clustered && cluster.isPrimary) await runPrimary();
else if (role === 'server') await runServer();
else if (clustered && cluster.isWorker) await runClientProcess();
else await runClient();
