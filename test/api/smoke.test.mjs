import assert from 'node:assert/strict';
import { closeSync } from 'node:fs';
import { test } from 'node:test';
import { clientConfig, L, pairHandshake, serverConfig } from '../support/helpers.mjs';

test('a client and a server complete a TLS 1.3 handshake over a socketpair and exchange bytes', async () => {
  const { cli, acc, srv, fds, clientError, serverError } = await pairHandshake(
    serverConfig(),
    clientConfig(),
  );
  assert.equal(clientError, undefined);
  assert.equal(serverError, undefined);
  assert.equal(cli.connVersion(), 'TLSv1.3');
  assert.equal(cli.write('ping'), 4);
  let r;
  for (let i = 0; i < 100 && (r = acc.read()) === L.WANT_POLLIN; i++)
    await L.poll(fds[1], r, { timeout: 2000 });
  assert.equal(String(r), 'ping');
  cli.free();
  acc.free();
  srv.free();
  for (const fd of fds) closeSync(fd);
});
