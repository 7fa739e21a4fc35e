// Differential tests: every connection-lifecycle scenario runs on node:tls and on this package,
// and their traces (events per socket, bytes received, server.close() callbacks, fds and handles
// left behind) must be equal, up to the differences listed in parity/allowed.mjs.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { normalize, notOver } from './allowed.mjs';
import { OVER_EVERY_TRANSPORT, scenarios, TRANSPORTS } from './scenarios.mjs';
import { libtlsStack, nodeStack } from './stacks.mjs';
import { handles, openFds, until } from './trace.mjs';

/** Runs one scenario on one stack; its trace, with what it left open. */
async function run(name, stack, via) {
  // the baseline once the previous run's handles are gone (a CloseReq lingers for a turn)
  let handles0 = handles();
  await until(() => {
    const h = handles();
    const same = h === handles0;
    handles0 = h;
    return same && !h.includes('CloseReq');
  }, 1000);
  const fds0 = openFds();
  const trace = {};
  await scenarios[name](stack, trace, via);
  const settled = await until(() => openFds() === fds0 && handles() === handles0, 3000);
  trace.leftOpen = settled
    ? 'nothing'
    : `fds ${fds0} -> ${openFds()}; handles [${handles0}] -> [${handles()}]`;
  return trace;
}

describe('parity with node:tls: the same program, the same trace', () => {
  const cases = Object.keys(scenarios).map((name) => [name, 'tcp']);
  for (const via of TRANSPORTS.slice(1)) {
    for (const name of OVER_EVERY_TRANSPORT) {
      if (notOver[via]?.[name] === undefined) cases.push([name, via]);
    }
  }
  for (const [name, via] of cases) {
    test(via === 'tcp' ? name : `${name} (${via})`, { timeout: 60_000 }, async (t) => {
      // node:tls over an in-memory Duplex never closes its sockets (see parity/allowed.mjs): the
      // reference there is node:tls over TCP
      const expected = await run(name, nodeStack, via === 'an in-memory pair' ? 'tcp' : via);
      const actual = await run(name, libtlsStack, via);
      if (via === 'an in-memory pair') delete expected.serverClose; // no server there
      t.diagnostic(`node:tls ${JSON.stringify(expected)}`);
      if (process.env.PARITY_VERBOSE) t.diagnostic(`libtls   ${JSON.stringify(actual)}`);
      assert.equal(expected.leftOpen, 'nothing', 'node:tls itself left something open');
      assert.equal(expected.hang, undefined, 'the scenario hangs on node:tls itself');
      assert.deepEqual(normalize(name, actual), expected);
    });
  }
});
