// Runs before the native build: finds the system libtls with pkg-config and, when it is missing,
// says what to install instead of letting the compiler fail on a missing tls.h.
import { execFileSync } from 'node:child_process';

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
