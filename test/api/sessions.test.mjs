// Session resumption against openssl: our client over TLS 1.2 through setSessionFd(), not over
// TLS 1.3, and our server issuing nothing on libretls 3.7.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, openSync, readFileSync, statSync } from 'node:fs';
import { test } from 'node:test';
import { clientConfig, L, serverConfig, tempDir } from '../support/helpers.mjs';
import { handshakeWith, osslServer, ourServer, resumption, sClient, scope } from '../support/peers.mjs';

const T = { timeout: 20_000 };

const GET = 'GET / HTTP/1.0\r\n\r\n';

test('our client resumes a TLS 1.2 session through setSessionFd() against openssl s_server', T, async (t) => {
  const s = scope(t);
  const dir = tempDir(s.defer);
  const fd = s.fd(openSync(`${dir}/session`, 'w+', 0o600));
  const { port } = await osslServer(s, ['-tls1_2'], 2);
  const first = handshakeWith(port, clientConfig().setSessionFd(fd), 'localhost', (c) => [
    c.connVersion(),
    c.connSessionResumed(),
  ]);
  assert.equal(first.err, undefined);
  assert.deepEqual(first.value, ['TLSv1.2', false]);
  assert.ok(statSync(`${dir}/session`).size > 0, 'the session was saved to the file');
  const second = handshakeWith(port, clientConfig().setSessionFd(fd), 'localhost', (c) => [
    c.connVersion(),
    c.connSessionResumed(),
  ]);
  assert.equal(second.err, undefined);
  assert.deepEqual(second.value, ['TLSv1.2', true]);
});

test(
  'our client does NOT resume over TLS 1.3 through setSessionFd() on libretls 3.7 (the session is saved before the ticket arrives), though openssl s_server resumes TLS 1.3',
  T,
  async (t) => {
    const s = scope(t);
    const dir = tempDir(s.defer);
    const file = `${dir}/session`;
    const fd = s.fd(openSync(file, 'w+', 0o600));
    const { port } = await osslServer(s, ['-tls1_3', '-www'], 2);
    const use = (c) => {
      // read the whole response, so the server's TLS 1.3 tickets have certainly been received
      assert.equal(c.write('GET / HTTP/1.0\r\n\r\n'), 18);
      let body = '';
      for (let i = 0; i < 1000; i++) {
        const b = c.read();
        if (b === null) break;
        if (typeof b !== 'number') body += b;
      }
      assert.match(body, /^HTTP\/1\.0 200 ok/);
      return [c.connVersion(), c.connSessionResumed()];
    };
    const first = handshakeWith(port, clientConfig().setSessionFd(fd), 'localhost', use);
    assert.equal(first.err, undefined);
    assert.deepEqual(first.value, ['TLSv1.3', false]);
    const saved = readFileSync(file);
    assert.ok(saved.length > 0, 'a session was saved');
    const second = handshakeWith(port, clientConfig().setSessionFd(fd), 'localhost', use);
    assert.equal(second.err, undefined);
    assert.deepEqual(second.value, ['TLSv1.3', false]);

    // control: the same server software does resume TLS 1.3 for openssl s_client
    const ctl = await osslServer(s, ['-tls1_3', '-www'], 2);
    const sess = `${dir}/ctl`;
    const a = await sClient(s, ctl.port, ['-servername', 'localhost', '-sess_out', sess], GET);
    const b = await sClient(s, ctl.port, ['-servername', 'localhost', '-sess_in', sess], GET);
    assert.match(a.out, /^New, TLSv1\.3/m);
    assert.match(b.out, /^Reused, TLSv1\.3/m, b.out);
  },
);

for (const flag of ['-tls1_2', '-tls1_3']) {
  test(
    `our server with setSessionLifetime(300) + addTicketKey(): openssl s_client (${flag}) resumes exactly where backend.capabilities.serverResumption says; libretls 3.7 issues no session ID and no ticket`,
    T,
    async (t) => {
      const s = scope(t);
      const resumes = L.backend.capabilities.serverResumption[flag === '-tls1_2' ? 'tls12' : 'tls13'];
      const dir = tempDir(s.defer);
      const sess = `${dir}/session`;
      const cfg = serverConfig().setSessionLifetime(300).addTicketKey(1, randomBytes(L.TICKET_KEY_SIZE));
      const srv = await ourServer(s, cfg, resumption);
      const first = await sClient(s, srv.port, ['-servername', 'localhost', flag, '-sess_out', sess]);
      assert.equal(first.code, 0, first.out);
      assert.match(first.out, /^hello$/m);
      assert.match(first.out, flag === '-tls1_2' ? /^New, TLSv1\.2,/m : /^New, TLSv1\.3,/m);
      const version = flag === '-tls1_2' ? 'TLSv1.2' : 'TLSv1.3';
      if (resumes) {
        // LibreSSL's server: a TLS 1.2 ticket, and the session is reused
        assert.match(first.out, /TLS session ticket/);
        const again = await sClient(s, srv.port, ['-servername', 'localhost', flag, '-sess_in', sess]);
        assert.equal(again.code, 0, again.out);
        assert.match(again.out, new RegExp(`^Reused, ${version.replace('.', '\\.')},`, 'm'), again.out);
        await srv.close();
        assert.deepEqual(srv.results, [
          { version, resumed: false },
          { version, resumed: true },
        ]);
        return;
      }
      assert.doesNotMatch(first.out, /TLS session ticket/);
      if (flag === '-tls1_2') assert.match(first.out, /^\s*Session-ID: *$/m);
      assert.equal(existsSync(sess), false, 's_client got no resumable session to write');
      const second = await sClient(s, srv.port, ['-servername', 'localhost', flag, '-sess_in', sess]);
      assert.equal(second.code, 1);
      assert.match(second.out, /Can't open session file/);
      await srv.close();
      assert.deepEqual(srv.results, [{ version, resumed: false }]);

      // control: openssl s_server, with the same s_client sequence, hands out a session that is reused
      const ctl = await osslServer(s, [flag, '-www'], 2);
      const ctlSess = `${dir}/ctl`;
      const a = await sClient(s, ctl.port, ['-servername', 'localhost', flag, '-sess_out', ctlSess], GET);
      assert.equal(a.code, 0, a.out);
      assert.match(a.out, /TLS session ticket/);
      const b = await sClient(s, ctl.port, ['-servername', 'localhost', flag, '-sess_in', ctlSess], GET);
      assert.match(b.out, new RegExp(`^Reused, ${version.replace('.', '\\.')},`, 'm'), b.out);
    },
  );
}
