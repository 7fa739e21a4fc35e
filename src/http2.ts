// HTTP/2 over libtls: a server in the place of http2.createSecureServer() (node:http2's own
// server, fed each TlsSocket as a 'connection' once ALPN chose h2 or http/1.1), and the
// createConnection function http2.connect() takes for its client.
import http2 from 'node:http2';
import { tlsServerFor } from './http.js';
import { serveThrough, TlsListener } from './listener.js';
import type { ConfigLike, TlsServer } from './net.js';
import type { NodeTlsOptions } from './node-options.js';
import { type ConnectionOptions, connect } from './node-tls.js';
import type { TlsSocket } from './socket.js';
import { fail } from './validate.js';

/**
 * Options of `createHttp2Server()`: `http2.createSecureServer()`'s (node:http2's settings,
 * `allowHTTP1`, ... and the node:tls ones, mapped onto a Config), or `config` in place of the
 * node:tls ones. ALPN offers `h2`, and `http/1.1` after it with `allowHTTP1`.
 */
export interface Http2ServerOptions extends NodeTlsOptions, http2.ServerOptions {
  config?: ConfigLike;
  /** Milliseconds a client has to complete its handshake; default 10,000; 0: no limit. */
  handshakeTimeout?: number;
  allowHTTP1?: boolean;
  /** A TCP close without close_notify is an error (`ERR_TLS_TRUNCATED`): see `ConnectOptions`. */
  strictClose?: boolean;
}

type Http2Base = new (options: http2.ServerOptions) => http2.Http2Server;

// node:http2 exports no server class: its plain (h2c) server's, which takes any Duplex as a
// 'connection' and reads its `alpnProtocol` to choose HTTP/2 or (allowHTTP1) HTTP/1.1.
const Base = Object.getPrototypeOf(http2.createServer()).constructor as Http2Base;

/**
 * node:http2's server over libtls connections, as `http2.createSecureServer()` makes: `'stream'`,
 * `'request'`, `'session'`, `'sessionError'`, `'unknownProtocol'`, `setTimeout`, and with
 * `allowHTTP1` HTTP/1.1 requests as `'request'` too. `listen`/`close`/`address`/`ref`/`unref` are
 * those of an internal TlsServer; `'secureConnection'`, `'connection'` (both with the TlsSocket
 * after its handshake) and `'tlsClientError'` come from it.
 */
export class Http2SecureServer extends Base {
  readonly #listener: TlsListener;

  constructor(
    options: Http2ServerOptions = {},
    onRequest?: (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
  ) {
    if (typeof options !== 'object' || options === null) fail('options', 'an object', options);
    const alpn = options.allowHTTP1 === true ? ['h2', 'http/1.1'] : ['h2'];
    const tls = tlsServerFor(options as Record<string, unknown>, alpn);
    super(options);
    if (onRequest !== undefined) {
      if (typeof onRequest !== 'function') fail('onRequest', 'a function', onRequest);
      this.on('request', onRequest);
    }
    this.#listener = new TlsListener(this, tls);
    // node:http2 runs a session over any Duplex through its JSStreamSocket wrapper, which has no
    // addresses and no `encrypted`: the session reads those from the wrapper as it is made (in the
    // 'connection' listener, just before 'session'), so they are given to it here.
    let incoming: TlsSocket | null = null;
    tls.prependListener('secureConnection', (socket: TlsSocket) => {
      incoming = socket;
    });
    this.on('session', (session: http2.ServerHttp2Session) => {
      const socket = incoming;
      incoming = null;
      if (socket !== null) describeSession(session, socket);
    });
    // as http2.createSecureServer(): a failed handshake is also a 'clientError' (if anyone listens)
    tls.on('tlsClientError', (err: Error, socket: TlsSocket | null) => {
      if (this.listenerCount('clientError') > 0) this.emit('clientError', err, socket);
    });
  }

  /** The TlsServer that listens and makes the TLS connections. */
  declare readonly tlsServer: TlsServer;

  /** Stops listening; `'close'` (and `callback`) once every connection (session) has closed. */
  override close(callback?: (err?: Error) => void): this {
    this.#listener.close(callback, () => Base.prototype.close.call(this));
    return this;
  }
}

// listen(), address(), getConnections(), ref(), unref() and `listening`: the TlsServer's
serveThrough(Http2SecureServer);

/**
 * Gives a server session over `socket` (through node:http2's JSStreamSocket) what it would know of
 * a node:tls socket: `session.socket.encrypted` and `.remoteAddress`/`.remotePort` (net.Socket
 * reads these from `_peername` when its handle has no address), and the session's own
 * `encrypted` and `alpnProtocol`, which it set from the wrapper.
 */
function describeSession(session: http2.ServerHttp2Session, socket: TlsSocket): void {
  const s = session.socket as unknown as Record<string, unknown>;
  s.encrypted = true;
  s._peername = { address: socket.remoteAddress, port: socket.remotePort, family: socket.remoteFamily };
  const own = session as unknown as Record<symbol, unknown>;
  for (const sym of Object.getOwnPropertySymbols(session)) {
    if (sym.description === 'encrypted' && own[sym] === false) own[sym] = true;
    if (sym.description === 'alpnProtocol' && own[sym] === 'h2c') own[sym] = socket.alpnProtocol ?? 'h2';
  }
}

/** `http2.createSecureServer()` over libtls (see `Http2SecureServer`). */
export function createHttp2Server(
  options?: Http2ServerOptions,
  onRequest?: (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
): Http2SecureServer {
  return new Http2SecureServer(options, onRequest);
}

/**
 * A `createConnection` for `http2.connect(authority, { createConnection })`: a libtls connection
 * to the authority's host and port (443 by default) offering ALPN `h2`, with `options` (node:tls
 * options, or `config`) for the rest.
 */
export function http2Connection(
  options: Omit<ConnectionOptions, 'host' | 'port'> = {},
): (authority: URL, sessionOptions?: http2.SessionOptions) => TlsSocket {
  if (typeof options !== 'object' || options === null) fail('options', 'an object', options);
  return (authority: URL): TlsSocket => {
    const url = authority instanceof URL ? authority : new URL(String(authority));
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const o: ConnectionOptions = { ...options, host, port: Number(url.port) || 443 };
    if (o.config === undefined && o.ALPNProtocols === undefined) o.ALPNProtocols = ['h2'];
    return connect(o);
  };
}
