// Runs before the test suite (npm's pretest): checks what the tests need from the machine and says
// what is missing, in one message, instead of a run with dozens of ENOENT and ENOTFOUND failures.
//
//   node test/preflight.mjs [--json]     (--json: print the checks as JSON, run nothing else)
import { execFileSync } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { existsSync } from 'node:fs';

/** The programs the tests run, and the Debian package of each (the README's install line). */
export const programs = {
  openssl: 'openssl',
  'gnutls-serv': 'gnutls-bin',
  'gnutls-cli': 'gnutls-bin',
  curl: 'curl',
  faketime: 'faketime',
  sslscan: 'sslscan',
  cc: 'gcc (from g++)',
};

function onPath(cmd) {
  try {
    execFileSync('sh', ['-c', 'command -v "$1"', 'sh', cmd], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

if (process.argv.includes('--json')) {
  process.stdout.write(`${JSON.stringify({ programs })}\n`);
} else {
  const problems = [];
  const missing = Object.entries(programs).filter(([cmd]) => !onPath(cmd));
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map(([, p]) => p.split(' ')[0]))];
    problems.push(
      `not on PATH: ${missing.map(([c]) => c).join(', ')} (Debian/Ubuntu: apt-get install -y ${pkgs.join(' ')})`,
    );
  }
  if (!existsSync('/etc/ssl/certs/ca-certificates.crt')) {
    problems.push(
      'no system CA certificates in /etc/ssl/certs (the default-CA tests need them; Debian/Ubuntu: apt-get install -y ca-certificates)',
    );
  }
  // tests connect to 'localhost' and verify the name: it must resolve, to loopback
  let addresses = [];
  let why = '';
  try {
    addresses = (await lookup('localhost', { all: true })).map((a) => a.address);
  } catch (err) {
    why = ` (${err.code ?? err.message})`;
  }
  if (!addresses.includes('127.0.0.1') || addresses.some((a) => a !== '127.0.0.1' && a !== '::1')) {
    problems.push(
      `'localhost' resolves to [${addresses.join(', ')}]${why}, not to 127.0.0.1: the tests connect to it; ` +
        "add the line '127.0.0.1 localhost' to /etc/hosts",
    );
  }
  if (problems.length > 0) {
    process.stderr.write(
      `The test suite cannot run on this machine:\n${problems.map((p) => `  - ${p}\n`).join('')}`,
    );
    process.exit(1);
  }
}
