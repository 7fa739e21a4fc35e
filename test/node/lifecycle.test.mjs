// The edges of a connection's life that node:tls programs rely on and that the parity scenarios
// cannot express as one program on two stacks: fds under EMFILE, worker.terminate(), garbage
// collection, an exception thrown by a 'data' listener, and the 1:1 API after a failure. Each runs
// where it needs to (a child process for rlimits, workers and --expose-gc) and counts fds.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import {
  clientConfig,
  freePair,
  L,
  openFds,
  pairHandshake,
  pem,
  pki,
  root,
  runNodeScript,
  serverConfig,
  untilDone,
  waitFor,
} from '../support/helpers.mjs';

const T = { timeout: 30_000 };
const dist = pathToFileURL(path.join(root, 'dist', 'index.js')).href;
const pkiDir = path.dirname(pki('ca.crt'));

/** The last line of a child's stdout, parsed as JSON (its report). */
function report(r) {
  assert.equal(r.timedOut, false, `the child hung:\n${r.stdout}\n${r.stderr}`);
  assert.equal(r.status, 0, `the child failed:\n${r.stdout}\n${r.stderr}`);
  const last = r.stdout.trim().split('\n').at(-1);
  return JSON.parse(last);
}

// Common to the child scripts: a node:tls server (an independent peer) that greets, and fd counts.
const childPrelude = `
import tls from 'node:tls';
import { readFileSync, readdirSync } from 'node:fs';
import * as L from ${JSON.stringify(dist)};
const pem = (n) => readFileSync(${JSON.stringify(pkiDir)} + '/' + n);
const fds = () => readdirSync('/proc/self/fd').length;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(pred, ms = 5000) {
  const end = Date.now() + ms;
  while (!pred() && Date.now() < end) await sleep(10);
  return pred();
}
`;

describe('fds are released on every path', () => {
  test(
    'connect() failing with EMFILE rejects with code EMFILE and leaves no TCP socket open',
    T,
    async () => {
      const code = `${childPrelude}
import { openSync, closeSync } from 'node:fs';
const srv = tls.createServer({ cert: pem('server.crt'), key: pem('server.key') }, (s) => s.resume());
await new Promise((r) => srv.listen(0, '127.0.0.1', r));
const config = new L.Config({ ca: pem('ca.crt') });
const base = fds();
const filler = [];
try {
  for (;;) filler.push(openSync('/dev/null', 'r'));
} catch (e) {
  if (e.code !== 'EMFILE') throw e;
}
// no fd free: connect()'s socket() fails (the server above holds its listening socket already)
let err;
try {
  await L.connect({ host: '127.0.0.1', port: srv.address().port, servername: 'localhost', config });
} catch (e) {
  err = e;
}
for (const f of filler) closeSync(f);
await sleep(50);
const after = fds();
config.free();
await new Promise((r) => srv.close(r));
console.log(JSON.stringify({ code: err?.code, name: err?.name, base, after }));
`;
      const r = await new Promise((resolve, reject) => {
        const p = spawn(
          'sh',
          ['-c', 'ulimit -n 64 && exec "$0" --input-type=module -e "$1"', process.execPath, code],
          {
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        );
        let stdout = '';
        let stderr = '';
        p.stdout.on('data', (d) => (stdout += d));
        p.stderr.on('data', (d) => (stderr += d));
        const timer = setTimeout(() => p.kill('SIGKILL'), 20_000);
        p.on('error', reject);
        p.on('close', (status) => {
          clearTimeout(timer);
          resolve({ status, stdout, stderr, timedOut: false });
        });
      });
      const out = report(r);
      assert.equal(out.code, 'EMFILE');
      assert.equal(out.name, 'TlsError');
      assert.equal(out.after, out.base, 'the TCP socket was closed');
    },
  );

  test(
    "worker.terminate() with open connections closes every fd, and closing one inside a worker prints no 'unmanaged mode' warning",
    T,
    async () => {
      const code = `${childPrelude}
import { Worker } from 'node:worker_threads';
const open = new Set();
const srv = tls.createServer({ cert: pem('server.crt'), key: pem('server.key') }, (s) => {
  open.add(s);
  s.on('error', () => {});
  s.on('close', () => open.delete(s));
  s.resume();
});
await new Promise((r) => srv.listen(0, '127.0.0.1', r));
const base = fds();
const worker = new Worker(\`
  import { parentPort, workerData } from 'node:worker_threads';
  const L = await import(workerData.dist);
  const config = new L.Config({ caFile: workerData.ca });
  const sockets = [];
  for (let i = 0; i < 5; i++) {
    sockets.push(await L.connect({ host: '127.0.0.1', port: workerData.port, servername: 'localhost', config }));
  }
  // one connection closed inside the worker: its fd is closed there
  sockets.pop().destroy();
  parentPort.postMessage('ready');
\`, { eval: true, workerData: { dist: ${JSON.stringify(dist)}, ca: ${JSON.stringify(pki('ca.crt'))}, port: srv.address().port } });
await new Promise((resolve, reject) => {
  worker.once('message', resolve);
  worker.once('error', reject);
});
await until(() => open.size === 4);
const during = open.size;
await worker.terminate();
const serverSawThemLeave = await until(() => open.size === 0);
const back = await until(() => fds() === base);
await new Promise((r) => srv.close(r));
console.log(JSON.stringify({ during, serverSawThemLeave, back, base, now: fds() }));
`;
      const r = await runNodeScript(code, { timeout: 20_000 });
      const out = report(r);
      assert.equal(out.during, 4);
      assert.equal(out.serverSawThemLeave, true, 'the server saw every connection close');
      assert.equal(out.back, true, `fds ${out.base} -> ${out.now}`);
      assert.doesNotMatch(r.stderr, /unmanaged mode/);
      assert.doesNotMatch(r.stderr, /Warning/);
    },
  );

  test('a paused socket dropped without destroy() is garbage-collected and its fd closed', T, async () => {
    const code = `${childPrelude}
let serverClosed = false;
const srv = tls.createServer({ cert: pem('server.crt'), key: pem('server.key') }, (s) => {
  s.on('error', () => {});
  s.on('close', () => (serverClosed = true));
  s.write(Buffer.alloc(1024 * 1024)); // more than the client buffers: its reading stops
});
await new Promise((r) => srv.listen(0, '127.0.0.1', r));
const config = new L.Config({ ca: pem('ca.crt') });
const base = fds();
const registry = new FinalizationRegistry(() => (collected = true));
let collected = false;
await (async () => {
  const c = await L.connect({ host: '127.0.0.1', port: srv.address().port, servername: 'localhost', config });
  c.pause();
  registry.register(c, 'socket');
  await until(() => c.readableLength >= c.readableHighWaterMark);
})();
for (let i = 0; i < 50 && !(collected && serverClosed); i++) {
  globalThis.gc();
  await sleep(20);
}
const back = await until(() => fds() === base, 2000);
config.free();
await new Promise((r) => srv.close(r));
console.log(JSON.stringify({ collected, serverClosed, back, base, now: fds() }));
`;
    const out = report(await runNodeScript(code, { nodeArgs: ['--expose-gc'], timeout: 20_000 }));
    assert.equal(out.collected, true, 'the socket was collected');
    assert.equal(out.serverClosed, true, "the server saw the client's fd close");
    assert.equal(out.back, true, `fds ${out.base} -> ${out.now}`);
  });
});

describe('resetAndDestroy()', () => {
  // node:tls's own TLSSocket throws ERR_INVALID_HANDLE_TYPE here (its handle is not a TCP one):
  // the reference is a net.Socket's resetAndDestroy()
  test(
    'sends a TCP reset: a node:tls server sees ECONNRESET, over connect() and over upgrade() on a net.Socket',
    T,
    async () => {
      const { default: tls } = await import('node:tls');
      const { default: net } = await import('node:net');
      const seen = [];
      const srv = tls.createServer({ cert: pem('server.crt'), key: pem('server.key') }, (s) => {
        s.on('error', (e) => seen.push(e.code));
        s.resume();
      });
      await new Promise((r) => srv.listen(0, '127.0.0.1', r));
      const port = srv.address().port;
      const fds0 = openFds();
      try {
        const config = clientConfig();
        const a = await L.connect({ host: '127.0.0.1', port, servername: 'localhost', config });
        const raw = net.connect({ host: '127.0.0.1', port });
        await new Promise((r) => raw.once('connect', r));
        const b = await L.upgrade(raw, { mode: 'client', servername: 'localhost', config });
        for (const c of [a, b]) {
          await new Promise((r) => setTimeout(r, 30)); // the session tickets were read
          const closed = new Promise((r) => c.once('close', r));
          assert.equal(c.resetAndDestroy(), c);
          await closed;
        }
        assert.ok(await waitFor(() => seen.length === 2, 3000), `server errors: ${seen}`);
        assert.deepEqual(seen, ['ECONNRESET', 'ECONNRESET']);
        config.free();
        assert.ok(await waitFor(() => openFds() === fds0, 2000), `fds ${fds0} -> ${openFds()}`);
      } finally {
        await new Promise((r) => srv.close(r));
      }
    },
  );
});

describe("an exception in a 'data' listener", () => {
  test("is the process's uncaughtException, and the socket goes on reading", T, async () => {
    const code = `${childPrelude}
const srv = tls.createServer({ cert: pem('server.crt'), key: pem('server.key') }, (s) => {
  s.write('first');
  setTimeout(() => s.end('second'), 100);
});
await new Promise((r) => srv.listen(0, '127.0.0.1', r));
const caught = [];
process.on('uncaughtException', (e) => caught.push(e.message));
const c = await L.connect({ host: '127.0.0.1', port: srv.address().port, servername: 'localhost', config: { ca: pem('ca.crt') } });
const got = [];
c.on('data', (d) => {
  got.push(String(d));
  if (got.length === 1) throw new Error('listener bug');
});
const ended = await until(() => c.closed, 5000);
await new Promise((r) => srv.close(r));
console.log(JSON.stringify({ caught, got: got.join(''), ended }));
`;
    const out = report(await runNodeScript(code));
    assert.deepEqual(out.caught, ['listener bug']);
    assert.equal(out.got, 'firstsecond');
    assert.equal(out.ended, true);
  });
});

describe('the 1:1 API after a failure or with odd arguments', () => {
  test(
    'readInto(buf, off, 0) is a RangeError (0 bytes would read as the end of the stream), and the context still reads',
    T,
    async () => {
      const sc = serverConfig();
      const cc = clientConfig();
      const r = await pairHandshake(sc, cc);
      try {
        assert.equal(r.clientError, undefined);
        assert.equal(await untilDone(() => r.acc.write(Buffer.from('hi')), r.fds[1]), 2);
        const buf = Buffer.alloc(16);
        assert.throws(
          () => r.cli.readInto(buf, 0, 0),
          (e) => e instanceof RangeError && e.code === 'ERR_OUT_OF_RANGE',
        );
        assert.equal(await untilDone(() => r.cli.readInto(buf, 0, 16), r.fds[0]), 2);
        assert.equal(buf.subarray(0, 2).toString(), 'hi');
      } finally {
        freePair(r);
        sc.free();
        cc.free();
      }
    },
  );

  test(
    "after a handshake failed on the peer's fatal alert, handshake(), read(), write() and sendfile() throw that failure again",
    T,
    async () => {
      const sc = serverConfig();
      // trusts another CA: the client refuses the server's certificate and sends a fatal alert
      const cc = new L.Config({ caFile: pki('selfsigned.crt') });
      const r = await pairHandshake(sc, cc);
      try {
        assert.ok(r.clientError instanceof L.TlsError, String(r.clientError));
        assert.ok(r.serverError instanceof L.TlsError, String(r.serverError));
        const first = r.serverError.message;
        for (const call of [
          () => r.acc.handshake(),
          () => r.acc.read(16),
          () => r.acc.write(Buffer.from('x')),
          () => r.acc.sendfile(r.fds[1], 1),
        ]) {
          assert.throws(call, (e) => e instanceof L.TlsError && e.message === first);
        }
        assert.throws(
          () => r.cli.handshake(),
          (e) => e instanceof L.TlsError && e.message === r.clientError.message,
        );
      } finally {
        freePair(r);
        sc.free();
        cc.free();
      }
    },
  );

  test(
    'a read callback returning a view of a detached ArrayBuffer is a TypeError, not the end of the stream',
    T,
    async () => {
      const cc = clientConfig();
      const cli = L.client(cc);
      try {
        const ab = new ArrayBuffer(16);
        const view = new Uint8Array(ab);
        structuredClone(ab, { transfer: [ab] }); // detaches it
        cli.connectCbs(
          () => view,
          (chunk) => chunk.length,
          'localhost',
        );
        assert.throws(
          () => cli.handshake(),
          (e) => e instanceof TypeError && /detached/.test(e.message),
        );
      } finally {
        cli.free();
        cc.free();
      }
    },
  );
});

describe('the Node layer rejects instead of throwing', () => {
  test(
    'connect() and upgrade() with bad Config options reject with the TypeError, and leave no fd',
    T,
    async () => {
      const fds0 = openFds();
      const bad = { config: { caFile: 42 } };
      const p1 = L.connect({ host: '127.0.0.1', port: 1, ...bad });
      assert.ok(p1 instanceof Promise);
      await assert.rejects(p1, TypeError);
      const [a, b] = L.socketpair();
      try {
        const { Socket } = await import('node:net');
        const s = new Socket();
        await assert.rejects(L.upgrade(s, { mode: 'client', ...bad }), TypeError);
        s.destroy();
      } finally {
        closeSync(a);
        closeSync(b);
      }
      assert.ok(await waitFor(() => openFds() === fds0, 2000), `fds ${fds0} -> ${openFds()}`);
    },
  );
});
