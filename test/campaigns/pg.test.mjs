// pg (node-postgres) over libtls, against a real PostgreSQL server started here on 127.0.0.1 with
// ssl=on and the test PKI, side by side with pg's own TLS (node:tls). pg's `stream` option takes a
// socket that pg itself connects and then speaks PostgreSQL's SSLRequest on, so libtls comes in
// after that plaintext exchange: libtls/tls connect({ socket }), as with node:tls.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, chownSync, copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Duplex } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { connect } from 'libtls/tls';
import pg from 'pg';
import { freePort, pem, pki, sleep, within } from '../support/helpers.mjs';
import { noLeaks, run } from '../support/servers.mjs';

// Debian's postgresql package (preflight checks it): the newest version's server programs
const versions = (() => {
  try {
    return readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
  } catch {
    return [];
  }
})();
const BIN = `/usr/lib/postgresql/${versions[0] ?? 'missing'}/bin`;
const T = { timeout: 60_000 };
const ca = pem('ca.crt');

// PostgreSQL refuses to run as root: as root the server runs as the `postgres` user.
const asRoot = process.getuid?.() === 0;

let server;
let port;
let dir;

async function startPostgres() {
  dir = mkdtempSync(path.join(os.tmpdir(), 'libtls-pg-'));
  const ids = {};
  if (asRoot) {
    const r = await run('id', ['-u', 'postgres']);
    const g = await run('id', ['-g', 'postgres']);
    assert.equal(r.code, 0, 'as root the test needs the postgres user (Debian package postgresql)');
    ids.uid = Number(r.stdout);
    ids.gid = Number(g.stdout);
    chownSync(dir, ids.uid, ids.gid);
  }
  for (const f of ['server.crt', 'server.key']) {
    copyFileSync(pki(f), path.join(dir, f));
    chmodSync(path.join(dir, f), 0o600);
    if (asRoot) chownSync(path.join(dir, f), ids.uid, ids.gid);
  }
  const data = path.join(dir, 'data');
  // PostgreSQL's programs run without the AddressSanitizer runtime that npm run test:asan
  // preloads into node (it is for the addon, and initdb dies under it); other preloads stay
  const preload = (process.env.LD_PRELOAD ?? '')
    .split(/[ :]/)
    .filter((l) => l !== '' && !l.includes('libasan'))
    .join(':');
  const env = { ...process.env, LD_PRELOAD: preload };
  const init = await new Promise((resolve) => {
    const p = spawn(path.join(BIN, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'test', '--no-sync'], {
      stdio: 'ignore',
      env,
      ...ids,
    });
    const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  assert.equal(init, 0, 'initdb');
  port = await freePort();
  server = spawn(
    path.join(BIN, 'postgres'),
    [
      '-D',
      data,
      '-h',
      '127.0.0.1',
      '-p',
      String(port),
      '-k',
      dir,
      '-c',
      'ssl=on',
      '-c',
      `ssl_cert_file=${path.join(dir, 'server.crt')}`,
      '-c',
      `ssl_key_file=${path.join(dir, 'server.key')}`,
      '-c',
      'fsync=off',
    ],
    { stdio: 'ignore', env, ...ids },
  );
  const exited = once(server, 'exit');
  server.exited = exited;
  // bounded: PostgreSQL accepts connections within a few seconds
  const deadline = Date.now() + 20_000;
  for (;;) {
    const c = new pg.Client({ host: '127.0.0.1', port, user: 'test', database: 'postgres' });
    try {
      await c.connect();
      await c.end();
      return;
    } catch (err) {
      await c.end().catch(() => {});
      if (Date.now() > deadline || server.exitCode !== null) throw err;
      await sleep(100);
    }
  }
}

/** SSLRequest: length 8, code 80877103. */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

/**
 * What pg's `stream` option needs: a Duplex that pg `connect(port, host)`s and that emits
 * 'connect' when it may speak PostgreSQL. It sends the SSLRequest in plaintext and, on 'S', runs
 * libtls on the same TCP socket with connect({ socket }).
 */
class LibtlsPgStream extends Duplex {
  #tls = null;
  #raw = null;
  #options;

  constructor(options) {
    super();
    this.#options = options;
  }

  connect(port, host) {
    const raw = net.connect({ port, host });
    this.#raw = raw;
    raw.on('error', (err) => this.destroy(err));
    raw.once('connect', () => raw.write(SSL_REQUEST));
    raw.once('data', (answer) => {
      if (answer.length !== 1 || answer[0] !== 0x53) {
        this.destroy(new Error(`the server refused TLS (${answer.toString('latin1')})`));
        return;
      }
      raw.pause();
      const tls = connect({ socket: raw, ...this.#options });
      this.#tls = tls;
      tls.on('secureConnect', () => this.emit('connect'));
      tls.on('data', (d) => {
        if (!this.push(d)) tls.pause();
      });
      tls.on('end', () => this.push(null));
      tls.on('error', (err) => this.destroy(err));
      tls.on('close', () => this.destroy());
    });
    return this;
  }

  get libtls() {
    return this.#tls;
  }

  setNoDelay() {
    return this;
  }

  setKeepAlive() {
    return this;
  }

  _read() {
    this.#tls?.resume();
  }

  _write(chunk, _enc, cb) {
    this.#tls.write(chunk, cb);
  }

  _final(cb) {
    if (this.#tls) this.#tls.end(cb);
    else cb();
  }

  _destroy(err, cb) {
    this.#tls?.destroy();
    this.#raw?.destroy();
    cb(err);
  }
}

const SSL_QUERY = 'select ssl, version from pg_stat_ssl where pid = pg_backend_pid()';

describe('pg over libtls against PostgreSQL with ssl=on', () => {
  before(startPostgres, { timeout: 60_000 });
  after(async () => {
    // SIGINT: PostgreSQL's fast shutdown (SIGTERM would wait for every client to leave)
    if (server && server.exitCode === null) {
      server.kill('SIGINT');
      await within(server.exited, 15_000, 'PostgreSQL to stop');
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("pg's `stream` option with libtls: the server sees TLS, as with pg's own ssl option", T, () =>
    noLeaks('pg', async () => {
      const own = new pg.Client({
        host: '127.0.0.1',
        port,
        user: 'test',
        database: 'postgres',
        ssl: { ca, servername: 'localhost' },
      });
      await own.connect();
      const nodeView = (await own.query(SSL_QUERY)).rows[0];
      await own.end();

      let stream;
      const client = new pg.Client({
        host: '127.0.0.1',
        port,
        user: 'test',
        database: 'postgres',
        stream: () => {
          stream = new LibtlsPgStream({ servername: 'localhost', ca });
          return stream;
        },
      });
      await within(client.connect(), 10_000, 'pg connecting over libtls');
      const ours = (await client.query(SSL_QUERY)).rows[0];
      const sum = (await client.query('select $1::int + $2::int as n', [40, 2])).rows[0].n;
      assert.equal(stream.libtls.version, 'TLSv1.3');
      await client.end();
      assert.deepEqual(ours, nodeView);
      assert.deepEqual(ours, { ssl: true, version: 'TLSv1.3' });
      assert.equal(sum, 42);
    }),
  );

  test('a server certificate the CA did not sign: pg over libtls fails to connect', T, () =>
    noLeaks('pg untrusted', async () => {
      const client = new pg.Client({
        host: '127.0.0.1',
        port,
        user: 'test',
        database: 'postgres',
        stream: () => new LibtlsPgStream({ servername: 'localhost', ca: pem('other.crt') }),
      });
      client.on('error', () => {});
      await assert.rejects(within(client.connect(), 10_000, 'pg connecting'));
    }),
  );
});
