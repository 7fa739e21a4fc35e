// Every difference between node:tls and this package that the parity scenarios accept, in one
// place, each with its reason. A rule rewrites the libtls trace of the scenarios it names into what
// node:tls shows; anything it does not rewrite must be equal. The same list, in prose, is in
// docs/parity.md, with the one difference that is not a rewrite: over an in-memory Duplex pair,
// node:tls's sockets never close, so there the reference is node:tls over TCP
// (parity.test.mjs).
export const allowed = [
  {
    scenarios: ['a TCP client that sends nothing meets handshakeTimeout'],
    reason:
      "node:tls emits 'tlsClientError' (ERR_TLS_HANDSHAKE_TIMEOUT) but leaves the TCP connection " +
      'open: the silent client keeps its fd on the server until it leaves. This package closes the ' +
      'connection, so a slow client cannot hold a server fd forever.',
    apply(t) {
      if (t.raw?.join() === 'end,finish,close') t.raw = ['still open', 'close'];
      return t;
    },
  },
  {
    scenarios: ['client destroy()s as soon as the server has its socket'],
    reason:
      "libtls's server sends the TLS 1.3 session tickets inside the handshake call that completes " +
      "the handshake, before 'secureConnection'; node:tls sends them after it. A client that " +
      'destroys its socket at once then still has the tickets unread in its kernel buffer, and its ' +
      "kernel answers the close with a reset: the server sees 'error' ECONNRESET where node:tls " +
      "sees a plain 'end'. Once the tickets were read (any later destroy) the traces are equal.",
    apply(t) {
      const closeAt = t.server?.indexOf('close hadError') ?? -1;
      if (t.server?.[0] === 'error ECONNRESET' && closeAt > 0) {
        t.server = t.server.slice(1);
        t.server.splice(closeAt - 1, 1, 'end', 'finish', 'close');
      }
      return t;
    },
  },
];

/**
 * Scenarios that do not run over a transport, each with the reason: what they prove cannot happen
 * there.
 */
export const notOver = {
  'an in-memory pair': {
    'the client writes 50 x 64 KiB; the server destroy()s at the first chunk':
      'the writer meets a TCP reset, and an in-memory stream cannot be reset',
  },
};

/** The libtls trace with every allowed difference of `scenario` applied. */
export function normalize(scenario, trace) {
  let t = structuredClone(trace);
  for (const rule of allowed) {
    if (rule.scenarios.includes(scenario)) t = rule.apply(t);
  }
  return t;
}
