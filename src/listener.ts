// How a node:http or node:http2 server (a net.Server that never listens itself) is served by a
// TlsServer: listen/close/address/ref/unref go to the TlsServer, and each connection, once its
// handshake is done, is handed to the Node server as a 'connection', as node:https and
// http2.createSecureServer() do with their TLS sockets.
import type net from 'node:net';
import type { TlsServer } from './net.js';
import type { TlsSocket } from './socket.js';

/** The error net.Server gives `close(callback)` when it is not listening. */
export function notRunning(): Error {
  const e = new Error('Server is not running.') as Error & { code: string };
  e.code = 'ERR_SERVER_NOT_RUNNING';
  return e;
}

const listeners = new WeakMap<net.Server, TlsListener>();

/**
 * @internal Gives the Node server class `cls` (whose constructor makes a TlsListener for each
 * instance) net.Server's listening surface on its TlsServer: `listen`, `address`,
 * `getConnections`, `ref`, `unref`, `listening`, and `tlsServer` for the TlsServer itself.
 * `close()` stays each class's own (what it closes first differs).
 */
export function serveThrough(cls: { prototype: net.Server }): void {
  const of = (server: net.Server): TlsListener => listeners.get(server) as TlsListener;
  const methods: Record<string, (this: net.Server, ...args: never[]) => unknown> = {
    listen(...args: unknown[]) {
      of(this).listen(args);
      return this;
    },
    address() {
      return of(this).tls.address();
    },
    getConnections(cb: (error: Error | null, count: number) => void) {
      of(this).tls.getConnections(cb);
      return this;
    },
    ref() {
      of(this).tls.ref();
      return this;
    },
    unref() {
      of(this).tls.unref();
      return this;
    },
  };
  for (const [name, value] of Object.entries(methods)) {
    Object.defineProperty(cls.prototype, name, { configurable: true, writable: true, value });
  }
  // net.Server's `listening` is an accessor at run time (a property in @types/node)
  Object.defineProperty(cls.prototype, 'listening', {
    configurable: true,
    get(this: net.Server): boolean {
      return of(this).tls.listening;
    },
  });
  Object.defineProperty(cls.prototype, 'tlsServer', {
    configurable: true,
    get(this: net.Server): TlsServer {
      return of(this).tls;
    },
  });
}

/** @internal The state a Node server keeps about the TlsServer that listens for it. */
export class TlsListener {
  readonly tls: TlsServer;
  readonly #owner: net.Server;
  /** close() was called and the last connection has not closed yet. */
  #closing = false;

  constructor(owner: net.Server, tls: TlsServer) {
    this.#owner = owner;
    this.tls = tls;
    listeners.set(owner, this);
    tls.on('secureConnection', (socket: TlsSocket) => {
      // as net.Server sets it on the sockets it accepts (node:http and node:http2 read it)
      (socket as TlsSocket & { server?: net.Server }).server = owner;
      owner.emit('secureConnection', socket);
      owner.emit('connection', socket);
    });
    tls.on('tlsClientError', (err: Error, socket: TlsSocket | null) =>
      owner.emit('tlsClientError', err, socket),
    );
    tls.on('listening', () => owner.emit('listening'));
    tls.on('error', (err: Error) => owner.emit('error', err));
  }

  listen(args: unknown[]): void {
    (this.tls.listen as (...a: unknown[]) => TlsServer)(...args);
  }

  /**
   * Stops listening; `finish()` (the Node server's own close(), which stops its timers and emits
   * 'close' at once as it never listened) runs once every connection has closed. `callback` gets
   * 'close', or ERR_SERVER_NOT_RUNNING when the server was not listening, as net.Server.
   */
  close(callback: ((err?: Error) => void) | undefined, finish: () => void): void {
    if (!this.tls.listening) {
      if (callback) this.#owner.once('close', () => callback(notRunning()));
      if (!this.#closing) finish();
      return;
    }
    if (callback) this.#owner.once('close', () => callback());
    this.#closing = true;
    this.tls.close(() => {
      this.#closing = false;
      finish();
    });
  }
}
