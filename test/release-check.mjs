// Loaded into the process of every test file (`node --test --import ./test/release-check.mjs`, as
// `npm test` does): a test file must release what it started, and no test can hang the run.
//
// - It tracks every server that listens (net.Server and everything built on it: http, https,
//   tls, and the libtls servers, which listen through a net.Server), every child process and
//   every client TCP socket, with the stack of the code that started it.
// - After the file's last test, the process should end by itself. If it is still alive
//   `GRACE_MS` later, something keeps it alive: the check prints what (each tracked object still
//   open, with its stack, and the process's active resources), releases it (closes the servers,
//   destroys the sockets, SIGKILLs the children) and exits 1, so `node --test` reports the file as
//   failed instead of waiting for it forever.
// - At exit, a tracked object that was never released fails the file the same way (an unref'd
//   server or child does not keep the process alive, but it is still a leak).
// - On SIGTERM (how `node --test` stops a file that ran over --test-timeout), it SIGKILLs the
//   child processes still running first: no peer outlives the run.
// - Every test() / it() gets a default timeout of `TEST_TIMEOUT_MS` (unless it sets its own): on
//   Node.js 20, `node --test --test-timeout` bounds each file's process, not each test.
//
// docs/testing.md describes the rules this enforces.
import { ChildProcess } from 'node:child_process';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import net from 'node:net';
import { compileFunction } from 'node:vm';

const GRACE_MS = Number(process.env.LIBTLS_RELEASE_GRACE_MS) || 10_000;
const TEST_TIMEOUT_MS = Number(process.env.LIBTLS_TEST_TIMEOUT_MS) || 120_000;

// the process of one test file (node --test sets this); the parent runner is left alone
if (process.env.NODE_TEST_CONTEXT) install();

function install() {
  // node:test through require: an import of it here would fix its exports before they are rebound
  const nt = createRequire(import.meta.url)('node:test');
  /** @type {Map<object, { kind: string, what: () => string, open: () => boolean, release: () => void, stack: string }>} */
  const tracked = new Map();
  const here = () =>
    (new Error().stack ?? '')
      .split('\n')
      .slice(1)
      .filter((l) => !l.includes('(node:') && !l.includes('release-check.mjs'))
      .slice(0, 4)
      .join('\n');

  const listen = net.Server.prototype.listen;
  net.Server.prototype.listen = function (...args) {
    if (!tracked.has(this)) {
      tracked.set(this, {
        kind: 'server',
        what: () => {
          const a = this.address();
          return `a server${a && typeof a === 'object' ? ` listening on ${a.address}:${a.port}` : ''}`;
        },
        open: () => this.listening,
        release: () => {
          this.closeAllConnections?.();
          this.close();
        },
        stack: here(),
      });
    }
    return listen.apply(this, args);
  };

  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function (...args) {
    if (!tracked.has(this)) {
      tracked.set(this, {
        kind: 'socket',
        what: () => `a client socket to ${this.remoteAddress ?? '?'}:${this.remotePort ?? '?'}`,
        open: () => !this.destroyed,
        release: () => this.destroy(),
        stack: here(),
      });
    }
    return connect.apply(this, args);
  };

  const spawn = ChildProcess.prototype.spawn;
  ChildProcess.prototype.spawn = function (options) {
    const r = spawn.call(this, options);
    tracked.set(this, {
      kind: 'child',
      what: () => `child process ${this.pid ?? '?'} (${this.spawnargs.join(' ').slice(0, 200)})`,
      open: () => this.pid !== undefined && this.exitCode === null && this.signalCode === null,
      release: () => this.kill('SIGKILL'),
      stack: here(),
    });
    return r;
  };

  const unreleased = () => [...tracked.values()].filter((t) => t.open());
  let reported = false;
  const report = (why, list) => {
    reported = true;
    const lines = [`release-check: ${process.argv[1] ?? 'this test file'}: ${why}`];
    for (const t of list) lines.push(`  ${t.what()}, started at\n${t.stack.replace(/^/gm, '      ')}`);
    lines.push(`  active resources: ${process.getActiveResourcesInfo().join(', ') || '(none)'}`);
    process.stderr.write(`${lines.join('\n')}\n`);
    for (const t of list) {
      try {
        t.release();
      } catch {}
    }
  };

  // runs after the file's last test (and before the file's own root-level after hooks: the
  // grace period covers those)
  nt.after(() => {
    setTimeout(() => {
      report(
        `the process is still alive ${GRACE_MS / 1000} s after its last test: a server, socket, child process or timer was not released`,
        unreleased(),
      );
      process.exit(1);
    }, GRACE_MS).unref();
  });

  process.on('exit', (code) => {
    const list = unreleased();
    if (reported || list.length === 0) return;
    report('not released by the end of the file', list);
    if (code === 0) process.exitCode = 1;
  });

  process.once('SIGTERM', () => {
    const children = [...tracked.values()].filter((t) => t.kind === 'child' && t.open());
    report('stopped (SIGTERM: the file ran over --test-timeout?)', children);
    process.exit(1);
  });

  // a default timeout for every test(): the exports of node:test are rebound for the test file.
  // node:test records where test() was called from its caller's stack frame; so that it still
  // names the test file's line, not this one, the call is made from a function compiled at that
  // file, line and column (one per call site).
  const callers = new Map();
  const callFrom = (where) => {
    let f = callers.get(where);
    if (!f) {
      const m = /^(.*):(\d+):(\d+)$/.exec(where);
      f = m
        ? // the call `fn(...)` starts the second line of the body, indented to the caller's column
          compileFunction(`return [\n${' '.repeat(Number(m[3]) - 1)}fn(...args)][0]`, ['fn', 'args'], {
            filename: m[1],
            lineOffset: Number(m[2]) - 2,
          })
        : (fn, args) => fn(...args);
      callers.set(where, f);
    }
    return f;
  };
  const withTimeout = (fn) =>
    function test(...args) {
      const i = args.findIndex((a) => typeof a === 'object' && a !== null);
      if (i === -1) {
        const f = args.findIndex((a) => typeof a === 'function');
        args.splice(f === -1 ? args.length : f, 0, { timeout: TEST_TIMEOUT_MS });
      } else if (args[i].timeout === undefined) {
        args[i] = { ...args[i], timeout: TEST_TIMEOUT_MS };
      }
      // the frame that called this function: "    at ... (file:line:col)" or "    at file:line:col"
      const frame = (new Error().stack ?? '').split('\n')[2] ?? '';
      const where = /\(([^()]+:\d+:\d+)\)$/.exec(frame)?.[1] ?? /at (\S+:\d+:\d+)$/.exec(frame)?.[1] ?? '';
      return callFrom(where)(fn.bind(this), args);
    };
  const test = withTimeout(nt.test);
  for (const k of ['skip', 'todo', 'only']) test[k] = withTimeout(nt.test[k]);
  const it = withTimeout(nt.it);
  for (const k of ['skip', 'todo', 'only']) it[k] = withTimeout(nt.it[k]);
  nt.test = test;
  nt.it = it;
  syncBuiltinESMExports();
}
