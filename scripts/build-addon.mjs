// Builds the native addon (build/Release/node_libtls.node) for `npm install` and `npm run build`.
//
//   node scripts/build-addon.mjs [--force] [-- NODE-GYP-ARGS...]
//
// `npm install --libtls_static=1` (npm passes it as npm_config_libtls_static) links libtls.a,
// libssl.a and libcrypto.a from pkg-config's libdir into the addon with their symbols hidden:
// the way to run LibreSSL inside Node.js (docs/backends.md).
//
// - Builds only what is missing or stale: the addon is up to date when the stamp next to it
//   records the same inputs (binding.gyp, native/*, what pkg-config says about libtls, the
//   node-gyp arguments, Node's ABI) and the addon still loads. --force builds anyway.
// - A failed build keeps what worked: node-gyp runs in a temporary copy of the sources, and the
//   new addon replaces the old one (one rename) only once it is built. `node-gyp rebuild` in the
//   checkout itself would delete build/ first.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const addon = path.join(root, 'build', 'Release', 'node_libtls.node');
const stampFile = `${addon}.stamp`;

const argv = process.argv.slice(2);
const dash = argv.indexOf('--');
const own = dash === -1 ? argv : argv.slice(0, dash);
const gypArgs = dash === -1 ? [] : argv.slice(dash + 1);
if (
  ['1', 'true'].includes(process.env.npm_config_libtls_static ?? '') &&
  !gypArgs.some((a) => a.startsWith('--libtls_static'))
)
  gypArgs.push('--libtls_static=1');
const staticTls = gypArgs.includes('--libtls_static=1');
const force = own.includes('--force');
for (const a of own) {
  if (a !== '--force') {
    console.error(
      `build-addon: unknown option '${a}' (usage: build-addon.mjs [--force] [-- NODE-GYP-ARGS...])`,
    );
    process.exit(2);
  }
}

// pkg-config and libtls first: a missing library is a sentence, not a compiler error
const check = spawnSync(
  process.execPath,
  [path.join(root, 'scripts', 'check-libtls.mjs'), ...(staticTls ? ['--static'] : [])],
  {
    stdio: 'inherit',
  },
);
if (check.status !== 0) {
  if (existsSync(addon)) console.error(`libtls: the addon built before is kept: ${addon}`);
  process.exit(check.status ?? 1);
}

/** What the build depends on, as one hash. */
function inputsHash() {
  const h = createHash('sha256');
  h.update(readFileSync(path.join(root, 'binding.gyp')));
  for (const f of readdirSync(path.join(root, 'native')).sort()) {
    h.update(`\0${f}\0`).update(readFileSync(path.join(root, 'native', f)));
  }
  for (const q of ['--cflags', '--libs', '--modversion']) {
    h.update(`\0${execFileSync('pkg-config', [q, 'libtls'], { encoding: 'utf8' })}`);
  }
  h.update(`\0${JSON.stringify(gypArgs)}\0${process.versions.modules}\0${process.platform}\0${process.arch}`);
  return h.digest('hex');
}

/**
 * Whether Node can load the addon at `file` (it links against this libtls and this Node). The ASan
 * build is not tried: it may need a preloaded runtime.
 */
function loads(file) {
  if (gypArgs.some((a) => a !== '--libtls_static=1')) return true;
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(file)})`], { stdio: 'ignore' });
  return r.status === 0;
}

const want = inputsHash();
if (
  !force &&
  existsSync(addon) &&
  existsSync(stampFile) &&
  readFileSync(stampFile, 'utf8').trim() === want &&
  loads(addon)
) {
  console.log('libtls: the native addon is up to date (build/Release/node_libtls.node)');
  process.exit(0);
}

// node-gyp: the one npm runs its scripts with, else the one on PATH
const nodeGyp = process.env.npm_config_node_gyp;
const [cmd, pre] =
  nodeGyp && existsSync(nodeGyp) && nodeGyp.endsWith('.js')
    ? [process.execPath, [nodeGyp]]
    : ['node-gyp', []];

const tmp = mkdtempSync(path.join(os.tmpdir(), 'libtls-build-'));
let status = 1;
try {
  cpSync(path.join(root, 'binding.gyp'), path.join(tmp, 'binding.gyp'));
  cpSync(path.join(root, 'native'), path.join(tmp, 'native'), { recursive: true });
  const r = spawnSync(cmd, [...pre, 'rebuild', ...gypArgs], { cwd: tmp, stdio: 'inherit' });
  if (r.error)
    console.error(`libtls: cannot run node-gyp: ${r.error.message} (run this through npm: npm run build)`);
  const built = path.join(tmp, 'build', 'Release', 'node_libtls.node');
  if (r.status === 0 && !loads(built)) console.error('libtls: the new addon does not load');
  else if (r.status === 0) {
    mkdirSync(path.dirname(addon), { recursive: true });
    const next = `${addon}.${process.pid}.tmp`;
    cpSync(built, next);
    renameSync(next, addon);
    writeFileSync(stampFile, `${want}\n`);
    status = 0;
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
if (status !== 0) {
  console.error(
    existsSync(addon)
      ? `libtls: the native build failed; the addon built before is kept: ${addon}`
      : "libtls: the native build failed (see node-gyp's output above)",
  );
  process.exit(1);
}
console.log('libtls: built build/Release/node_libtls.node');
