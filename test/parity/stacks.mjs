// The two stacks a parity scenario runs on: node:tls and this package, behind the same calls.
// A scenario only ever uses these, so the same program runs on both.
import net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { L, pem, pki } from '../support/helpers.mjs';

/**
 * An in-memory Duplex pair: what one end writes, the other reads. A write completes once the other
 * end has room for it (backpressure, as a socket's buffers give); end() is the other end's end of
 * stream, and so is destroy() (a socket's close).
 */
export function memoryPair() {
  const end = (other) => {
    let blocked = null; // the callback of a write the other end had no room for
    const d = new Duplex({
      read() {
        const cb = other().unblock();
        cb?.();
      },
      write(chunk, _encoding, cb) {
        if (other().push(chunk)) cb();
        else blocked = cb;
      },
      final(cb) {
        other().push(null);
        cb();
      },
      destroy(err, cb) {
        other().push(null);
        const w = blocked;
        blocked = null;
        w?.();
        cb(err);
      },
    });
    d.unblock = () => {
      const cb = blocked;
      blocked = null;
      return cb;
    };
    return d;
  };
  const a = end(() => b);
  const b = end(() => a);
  return [a, b];
}

const listenOn = (srv) =>
  new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve(srv.address().port));
  });

const settleSecure = (socket, event) =>
  new Promise((resolve, reject) => {
    const onError = (err) => reject(err);
    socket.once('error', onError);
    socket.once(event, () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });

export const nodeStack = {
  name: 'node:tls',
  /** A TLS server on 127.0.0.1; resolves { server, port }. */
  async createServer({ allowHalfOpen = false, handshakeTimeout } = {}, onSecure) {
    const server = tls.createServer(
      {
        cert: pem('server.crt'),
        key: pem('server.key'),
        allowHalfOpen,
        ...(handshakeTimeout !== undefined ? { handshakeTimeout } : {}),
      },
      onSecure,
    );
    return { server, port: await listenOn(server) };
  },
  /** A client connection, resolved once secure. */
  connect(port, { allowHalfOpen = false } = {}) {
    const c = tls.connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: pem('ca.crt'),
      allowHalfOpen,
    });
    return settleSecure(c, 'secureConnect');
  },
  /** TLS over an existing Duplex (a net.Socket or one end of a memoryPair). */
  upgrade(stream, { mode, allowHalfOpen = false }) {
    if (mode === 'client') {
      const c = tls.connect({ socket: stream, servername: 'localhost', ca: pem('ca.crt'), allowHalfOpen });
      return settleSecure(c, 'secureConnect');
    }
    const s = new tls.TLSSocket(stream, {
      isServer: true,
      cert: pem('server.crt'),
      key: pem('server.key'),
      allowHalfOpen,
    });
    return settleSecure(s, 'secure');
  },
};

let serverConfig;
let clientConfig;

export const libtlsStack = {
  name: 'libtls',
  async createServer({ allowHalfOpen = false, handshakeTimeout } = {}, onSecure) {
    serverConfig ??= new L.Config({ certFile: pki('server.crt'), keyFile: pki('server.key') });
    const server = L.createServer(
      {
        config: serverConfig,
        allowHalfOpen,
        ...(handshakeTimeout !== undefined ? { handshakeTimeout } : {}),
      },
      onSecure,
    );
    return { server, port: await listenOn(server) };
  },
  connect(port, { allowHalfOpen = false } = {}) {
    clientConfig ??= new L.Config({ caFile: pki('ca.crt') });
    return L.connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      config: clientConfig,
      allowHalfOpen,
    });
  },
  upgrade(stream, { mode, allowHalfOpen = false }) {
    serverConfig ??= new L.Config({ certFile: pki('server.crt'), keyFile: pki('server.key') });
    clientConfig ??= new L.Config({ caFile: pki('ca.crt') });
    return L.upgrade(stream, {
      mode,
      config: mode === 'client' ? clientConfig : serverConfig,
      servername: 'localhost',
      allowHalfOpen,
    });
  },
};

export const stacks = [nodeStack, libtlsStack];

/** A plain TCP connection (a peer that speaks no TLS, or drops the connection abruptly). */
export function rawConnect(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('error', reject);
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
  });
}
