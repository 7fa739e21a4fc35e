// Runs before the native build: finds the system libtls with pkg-config and, when it is missing,
// says what to install instead of letting the compiler fail on a missing tls.h.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

function has(cmd, args) {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

if (!has('pkg-config', ['--version'])) {
  console.error(
    'libtls: pkg-config was not found; it is needed to locate the system libtls.\n' +
      '  Debian/Ubuntu: apt-get install -y pkg-config libtls-dev',
  );
  process.exit(1);
}
if (!has('pkg-config', ['--exists', 'libtls'])) {
  console.error(
    'libtls: the system libtls was not found (pkg-config libtls).\n' +
      '  Debian/Ubuntu: apt-get install -y libtls-dev\n' +
      '  Alpine: apk add libretls-dev\n' +
      '  macOS: brew install libressl (then export PKG_CONFIG_PATH=$(brew --prefix libressl)/lib/pkgconfig)\n' +
      '  OpenBSD: libtls is part of the base system',
  );
  process.exit(1);
}

// Which libtls this is, and how the addon will link it. The backend is told by the OpenSSL
// headers next to tls.h (LibreSSL's opensslv.h defines LIBRESSL_VERSION_TEXT, OpenSSL's does not).
function pc(...args) {
  return execFileSync('pkg-config', [...args, 'libtls'], { encoding: 'utf8' }).trim();
}
const wantStatic =
  process.argv.includes('--static') || ['1', 'true'].includes(process.env.npm_config_libtls_static ?? '');
const version = pc('--modversion');
const includedir = pc('--variable=includedir');
const libdir = pc('--variable=libdir');
let libressl = null;
try {
  const h = readFileSync(path.join(includedir, 'openssl', 'opensslv.h'), 'utf8');
  libressl = /#\s*define\s+LIBRESSL_VERSION_TEXT\s+"([^"]+)"/.exec(h)?.[1] ?? null;
} catch {
  // no OpenSSL headers there: the build does not need them
}
const backend = libressl
  ? `LibreSSL's libtls ${version} (${libressl})`
  : `libretls ${version} (libtls on OpenSSL)`;
if (wantStatic) {
  const missing = ['libtls.a', 'libssl.a', 'libcrypto.a'].filter((f) => !existsSync(path.join(libdir, f)));
  if (missing.length > 0) {
    console.error(
      `libtls: --libtls_static=1 needs the static libraries in ${libdir}; missing: ${missing.join(', ')}\n` +
        '  build LibreSSL with position-independent code and static libraries (docs/backends.md)',
    );
    process.exit(1);
  }
  console.log(
    `libtls: found ${backend} in ${libdir}; linking it statically into the addon ` +
      "(libtls.a, libssl.a, libcrypto.a, their symbols hidden: the calls never reach Node.js's OpenSSL)",
  );
} else if (libressl && process.platform === 'linux') {
  console.error(
    `libtls: found ${backend} in ${libdir}. Its shared libraries cannot run inside Node.js on Linux: ` +
      "their OpenSSL calls would bind to Node.js's own OpenSSL 3, another ABI.\n" +
      `  Link it statically instead: PKG_CONFIG_PATH=${path.join(libdir, 'pkgconfig')} npm install --libtls_static=1\n` +
      '  (LibreSSL built with position-independent code and static libraries: see docs/backends.md)',
  );
  process.exit(1);
} else {
  console.log(
    `libtls: found ${backend} in ${libdir}; linking it as a shared library (-ltls)` +
      (libressl ? '' : ', on the same OpenSSL 3 ABI as Node.js'),
  );
}
