// The repository's set-up and the test suite's own guarantees: the README and .ci/run install the
// same packages; `npm install` builds only a missing or stale addon and keeps the old one when a
// build fails; test/release-check.mjs fails a test file that leaves a server, socket or child
// process behind, in bounded time, and bounds every test.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  appendFileSync,
  cpSync,
  existsSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { L, root, sha256, tempDir } from '../support/helpers.mjs';

const read = (f) => readFileSync(path.join(root, f), 'utf8');

/**
 * Runs `cmd args` in `cwd` to completion, SIGKILLed after `ms`; resolves { code, signal, out
 * (stdout and stderr), ms, timedOut }.
 */
function run(cmd, args, { cwd = root, env = {}, ms = 120_000 } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const e = { ...process.env, ...env };
    // a nested node --test would take itself for a test file's process of this run
    delete e.NODE_TEST_CONTEXT;
    const proc = spawn(cmd, args, { cwd, env: e, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
    });
    proc.stderr.on('data', (d) => {
      out += d;
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      proc.kill('SIGKILL');
    }, ms);
    proc.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, ms: Date.now() - t0, timedOut });
    });
  });
}

/** Whether process `pid` runs (a zombie waiting for a parent to reap it does not). */
function alive(pid) {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('set-up', () => {
  test("the README's install line and .ci/run install the same packages, and they cover what preflight checks", async () => {
    const readme = read('README.md');
    const quick = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('## A short tour'));
    const lines = quick.split('\n').filter((l) => l.startsWith('apt-get install '));
    assert.equal(lines.length, 1, `one apt-get install line in the Quick start, got:\n${lines.join('\n')}`);
    const fromReadme = lines[0]
      .split(/\s+/)
      .slice(2)
      .filter((w) => !w.startsWith('-'));
    assert.ok(quick.indexOf('apt-get update') < quick.indexOf(lines[0]), 'apt-get update comes first');

    const ci = read('.ci/run');
    const installs = ci.split('\n').filter((l) => /^\s*apt-get install /.test(l));
    assert.equal(installs.length, 1, `one apt-get install line in .ci/run, got:\n${installs.join('\n')}`);
    // its packages, literally: no variable a reader of the README cannot see
    const fromCi = installs[0]
      .replace(/>.*$/, '')
      .trim()
      .split(/\s+/)
      .slice(2)
      .filter((w) => !w.startsWith('-'));
    assert.ok(!fromCi.some((w) => w.includes('$')), `.ci/run installs a variable: ${fromCi.join(' ')}`);
    assert.deepEqual([...fromReadme].sort(), [...fromCi].sort());
    assert.equal(new Set(fromCi).size, fromCi.length, 'no package twice');

    const r = await run(process.execPath, ['test/preflight.mjs', '--json']);
    assert.equal(r.code, 0, r.out);
    for (const [cmd, pkg] of Object.entries(JSON.parse(r.out).programs)) {
      const name = /\(from (\S+)\)/.exec(pkg)?.[1] ?? pkg;
      assert.ok(fromCi.includes(name), `${cmd}: package ${name} is not installed by the README/.ci/run`);
    }
  });

  test('npm test bounds every test file, loads the release check, and .ci/run bounds the whole run to 15 minutes', () => {
    const scripts = JSON.parse(read('package.json')).scripts;
    assert.match(
      scripts.test,
      /node --test .*--test-timeout=\d+ .*--import \.\/test\/release-check\.mjs test\/\*\/\*\.test\.mjs$/,
    );
    // the glob (expanded by sh: Node 20's node --test takes no globs of its own) reaches every test
    // file: each lies one directory below test/, and test/ itself holds none
    const testFiles = readdirSync(path.join(root, 'test'), { recursive: true })
      .filter((f) => f.endsWith('.test.mjs'))
      .sort();
    assert.ok(testFiles.length > 0);
    for (const f of testFiles)
      assert.equal(f.split(path.sep).length, 2, `${f} is not matched by test/*/*.test.mjs`);
    assert.match(
      read('scripts/test-asan.sh'),
      / test\/\*\/\*\.test\.mjs /,
      'the ASan run takes the same files',
    );
    assert.match(scripts.pretest, /node test\/preflight\.mjs/);
    const bound = /exec timeout (?:--kill-after=\d+ )?(\d+) "\$0"/.exec(read('.ci/run'));
    assert.ok(bound, '.ci/run runs itself under timeout(1)');
    assert.ok(Number(bound[1]) <= 900, `.ci/run is bounded by ${bound[1]} s`);
    const readme = read('README.md');
    assert.match(readme, /^npm test {2,}/m);
  });

  test('npm install builds a missing addon, builds nothing when it is up to date, keeps the old addon when a build fails, and replaces it when a rebuild succeeds', async () => {
    // a copy of what the install script needs, so the checkout's own addon is never touched
    const dir = tempDir(after);
    for (const f of ['package.json', 'binding.gyp', 'native', 'scripts']) {
      cpSync(path.join(root, f), path.join(dir, f), { recursive: true });
    }
    const addon = path.join(dir, 'build', 'Release', 'node_libtls.node');
    // linked as this checkout's addon is: a LibreSSL can only be linked statically (docs/backends.md)
    const flags = L.backend.crypto.linkage === 'static' ? ['--libtls_static=1'] : [];
    const install = () => run('npm', ['run', 'install', ...flags], { cwd: dir, ms: 300_000 });
    const loads = async () =>
      (
        await run(process.execPath, [
          '-e',
          `require(${JSON.stringify(addon)}).constants.TLS_API > 0 || process.exit(3)`,
        ])
      ).code === 0;

    const first = await install();
    assert.equal(first.code, 0, first.out);
    assert.match(first.out, /libtls: built build\/Release\/node_libtls\.node/);
    assert.ok(await loads(), 'the built addon loads');
    const built = { hash: sha256(readFileSync(addon)), mtime: statSync(addon).mtimeMs };

    const again = await install();
    assert.equal(again.code, 0, again.out);
    assert.match(again.out, /the native addon is up to date/);
    assert.doesNotMatch(again.out, /gyp info/, 'node-gyp ran for an up-to-date addon');
    assert.equal(statSync(addon).mtimeMs, built.mtime);

    const poll = path.join(dir, 'native', 'poll.c');
    const source = readFileSync(poll, 'utf8');
    appendFileSync(poll, '\nthis is not C;\n');
    const broken = await install();
    assert.notEqual(broken.code, 0, broken.out);
    assert.match(broken.out, /poll\.c:\d+:\d+: error/, 'the compiler ran and named the error');
    assert.match(broken.out, /the native build failed; the addon built before is kept/);
    assert.equal(sha256(readFileSync(addon)), built.hash);
    assert.ok(await loads(), 'the kept addon still loads');

    writeFileSync(poll, `${source}\n/* changed */\n`);
    const rebuilt = await install();
    assert.equal(rebuilt.code, 0, rebuilt.out);
    assert.match(rebuilt.out, /libtls: built /);
    assert.notEqual(statSync(addon).mtimeMs, built.mtime);
    assert.ok(await loads());
  });
});

describe('test/release-check.mjs', () => {
  const dir = tempDir(after);
  const check = path.join(root, 'test', 'release-check.mjs');
  /** `node --test` (with the release check, and a 1 s grace) on `source` written as a test file. */
  const runFile = (name, source, env = {}) => {
    const file = path.join(dir, name);
    writeFileSync(file, source);
    return run(process.execPath, ['--test', '--test-reporter=tap', '--import', check, file], {
      cwd: dir,
      env: { LIBTLS_RELEASE_GRACE_MS: '1000', ...env },
      ms: 60_000,
    });
  };
  const header = `import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';
`;

  test('a failing test that closes its server only on success fails the file in bounded time, naming the server and where it was started', async () => {
    const r = await runFile(
      'server-leak.test.mjs',
      `${header}
test('GET then close', async () => {
  const server = net.createServer((s) => s.end());
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  assert.equal('what the GET returned', 'what was expected'); // fails: close() below never runs
  await new Promise((resolve) => server.close(resolve));
});
`,
    );
    assert.equal(r.timedOut, false, r.out);
    assert.equal(r.code, 1, r.out);
    assert.match(
      r.out,
      /release-check: .*server-leak\.test\.mjs: the process is still alive 1 s after its last test/,
    );
    assert.match(r.out, /a server listening on 127\.0\.0\.1:\d+, started at\n.*server-leak\.test\.mjs:9:/);
    assert.match(r.out, /TCPServerWrap/);
  });

  test('a passing test that leaves a child process running fails the file, and the child is killed', async () => {
    const pidFile = path.join(dir, 'child.pid');
    const r = await runFile(
      'child-leak.test.mjs',
      `${header}
test('starts a peer and forgets it', () => {
  const child = spawn('sleep', ['300']);
  writeFileSync(${JSON.stringify(pidFile)}, String(child.pid));
});
`,
    );
    assert.equal(r.timedOut, false, r.out);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /^ok 1 - starts a peer and forgets it$/m);
    assert.match(r.out, /child process \d+ \(sleep 300\), started at\n.*child-leak\.test\.mjs:8:/);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(alive(pid), false, `sleep ${pid} outlived its test file`);
  });

  test('a test that never finishes is stopped by the default per-test timeout', async () => {
    const r = await runFile(
      'hang.test.mjs',
      `${header}
test('waits for nothing', () => new Promise(() => setInterval(() => {}, 1000)));
test('runs after it', () => {});
`,
      { LIBTLS_TEST_TIMEOUT_MS: '1000' },
    );
    assert.equal(r.timedOut, false, r.out);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /^not ok 1 - waits for nothing$/m);
    assert.match(r.out, /test timed out after 1000ms/);
    assert.match(r.out, /^ok 2 - runs after it$/m);
  });

  test('a test file that releases everything, in finally and t.after(), passes', async () => {
    const r = await runFile(
      'clean.test.mjs',
      `${header}
test('server, socket and child, released', async (t) => {
  const server = net.createServer((s) => s.end());
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  const child = spawn('sleep', ['300']);
  try {
    const socket = net.connect(server.address().port, '127.0.0.1');
    await new Promise((resolve) => socket.on('close', resolve).resume());
  } finally {
    child.kill();
  }
});
`,
    );
    assert.equal(r.code, 0, r.out);
    assert.doesNotMatch(r.out, /release-check:/);
    assert.equal(existsSync(path.join(dir, 'clean.test.mjs')), true);
  });
});
