// Node's HTTP stack over libtls: an HTTPS server (node:http fed with TlsSockets), an http.Agent
// for http.request/https-style clients, and a connector for undici's `connect` option (fetch).
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { Config, type ConfigOptions } from './config.js';
import { serveThrough, TlsListener } from './listener.js';
import { type ConfigLike, connect, type ServerOptions, TlsServer } from './net.js';
import { type NodeTlsOptions, nodeConfig } from './node-options.js';
import { fail } from './validate.js';

function sharedConfig(c: ConfigLike | undefined, alpn: string[]): Config {
  if (c instanceof Config) return c;
  if (c !== undefined && (typeof c !== 'object' || c === null))
    fail('config', 'a Config or Config options', c);
  const o: ConfigOptions = { alpn, ...(c ?? {}) };
  return new Config(o);
}

/**
 * Options of `createHttpsServer()`: those of `https.createServer()`, the node:tls ones mapped onto
 * a Config (an unsupported one is a TypeError with code `ERR_LIBTLS_UNSUPPORTED_OPTION`), and
 * node:http's (`keepAliveTimeout`, `requestTimeout`, `maxHeaderSize`, ...). Or `config`: a Config
 * (or Config options) in place of the node:tls options.
 */
export interface HttpsServerOptions extends NodeTlsOptions, http.ServerOptions {
  config?: ConfigLike;
  /** Milliseconds a client has to complete its handshake; default 10,000; 0: no limit. */
  handshakeTimeout?: number;
  allowHalfOpen?: boolean;
  /** A TCP close without close_notify is an error (`ERR_TLS_TRUNCATED`): see `ConnectOptions`. */
  strictClose?: boolean;
}

/** What a Node server passes on to its TlsServer besides the Config. */
type ListenerOptions = Pick<ServerOptions, 'handshakeTimeout' | 'allowHalfOpen' | 'noDelay' | 'strictClose'>;

/** The TlsServer options in `o` besides the Config. */
function listenerOptions(o: ListenerOptions): ListenerOptions {
  const r: ListenerOptions = {};
  if (o.handshakeTimeout !== undefined) r.handshakeTimeout = o.handshakeTimeout;
  if (o.allowHalfOpen !== undefined) r.allowHalfOpen = o.allowHalfOpen;
  if (o.noDelay !== undefined) r.noDelay = o.noDelay;
  if (o.strictClose !== undefined) r.strictClose = o.strictClose;
  return r;
}

/** @internal A TlsServer for a Node server's options. */
export function tlsServerFor(options: Record<string, unknown> & ListenerOptions, alpn: string[]): TlsServer {
  // the Config lives as long as the server: its accepted sockets read their verification policy
  // (for `authorized`) from it, as with a TlsServer made from Config options
  const { config, owned } = nodeConfig(options, 'server', alpn);
  try {
    return new TlsServer({ config, ...listenerOptions(options) });
  } catch (err) {
    if (owned) config.free();
    throw err;
  }
}

/**
 * An `http.Server` whose connections are libtls TlsSockets: what `https.createServer()` returns,
 * over libtls. `listen`, `close`, `address`, `ref`, `unref` and `getConnections` are those of an
 * internal TlsServer; everything else (`'request'`, `'upgrade'`, `'checkContinue'`, `'clientError'`,
 * `keepAliveTimeout`, `headersTimeout`, `requestTimeout`, `setTimeout`, `closeIdleConnections()`,
 * `closeAllConnections()`) is node:http's own. `'secureConnection'` and then `'connection'` come
 * with each TlsSocket once its handshake is done; `'tlsClientError'` with each failed handshake.
 */
export class HttpsServer extends http.Server {
  readonly #listener: TlsListener;

  constructor(options?: HttpsServerOptions | http.RequestListener, requestListener?: http.RequestListener) {
    let o = options;
    let listener = requestListener;
    if (typeof o === 'function') {
      listener = o;
      o = {};
    }
    if (o !== undefined && (typeof o !== 'object' || o === null)) fail('options', 'an object', o);
    const opts = (o ?? {}) as HttpsServerOptions;
    const tls = tlsServerFor(opts as Record<string, unknown>, ['http/1.1']);
    if (listener === undefined) super(opts);
    else super(opts, listener);
    this.#listener = new TlsListener(this, tls);
  }

  /** The TlsServer that listens and makes the TLS connections. */
  declare readonly tlsServer: TlsServer;

  /**
   * As `https.Server.close()`: stops listening and closes idle keep-alive connections now;
   * `'close'` (and `callback`) once every connection has closed.
   */
  override close(callback?: (err?: Error) => void): this {
    this.closeIdleConnections();
    this.#listener.close(callback, () => http.Server.prototype.close.call(this));
    return this;
  }
}

// listen(), address(), getConnections(), ref(), unref() and `listening`: the TlsServer's
serveThrough(HttpsServer);

/**
 * `https.createServer()` over libtls: an `http.Server` (see `HttpsServer`) taking https-style
 * options (`key`, `cert`, `ca`, `requestCert`, ...) or a `config`.
 */
export function createHttpsServer(
  options?: HttpsServerOptions | http.RequestListener,
  requestListener?: http.RequestListener,
): HttpsServer {
  return new HttpsServer(options, requestListener);
}

export interface AgentOptions extends http.AgentOptions {
  config?: ConfigLike;
}

/** How http.Agent receives a connection made asynchronously. */
export type CreateConnectionCallback = (err: Error | null, socket: Duplex) => void;

/**
 * An `http.Agent` whose connections are libtls TlsSockets: pass it as `agent` to `http.request`
 * / `http.get` with `https:` URLs. Keep-alive and pooling are http.Agent's own.
 */
export class Agent extends http.Agent {
  readonly #config: Config;

  constructor(options: AgentOptions = {}) {
    const { config, ...agentOptions } = options;
    super(agentOptions);
    this.#config = sharedConfig(config, ['http/1.1']);
    (this as unknown as { protocol: string }).protocol = 'https:';
    (this as unknown as { defaultPort: number }).defaultPort = 443;
  }

  override createConnection(options: net.NetConnectOpts, callback?: CreateConnectionCallback): Duplex {
    const o = options as net.TcpNetConnectOpts & { servername?: string; hostname?: string };
    const host = o.host ?? o.hostname ?? 'localhost';
    connect({
      host,
      port: o.port ?? 443,
      servername: o.servername || host,
      config: this.#config,
      ...(o.timeout !== undefined ? { timeout: o.timeout } : {}),
    }).then(
      (socket) => callback?.(null, socket),
      (err: Error) => callback?.(err, undefined as unknown as Duplex),
    );
    // http.Agent accepts an asynchronous connection through the callback
    return undefined as unknown as Duplex;
  }
}

/** What undici passes to a `connect` function. */
export interface ConnectorOptions {
  hostname: string;
  host?: string;
  protocol: string;
  port: string | number;
  servername?: string | null;
}

/**
 * How a connect function reports its socket: `(null, socket)` or `(err, null)`, as undici's
 * `connect` option expects (a TlsSocket is a `net.Socket` as far as the types go).
 */
export type ConnectorCallback = (...args: [null, net.Socket] | [Error, null]) => void;

export type Connector = (options: ConnectorOptions, callback: ConnectorCallback) => void;

/**
 * A `connect` function for undici (`new undici.Agent({ connect: connector() })`), so `fetch`
 * runs over libtls. `http:` URLs get a plain TCP socket.
 */
export function connector(options: { config?: ConfigLike; timeout?: number } = {}): Connector {
  const config = sharedConfig(options.config, ['http/1.1']);
  return (o, callback) => {
    const port = Number(o.port) || (o.protocol === 'http:' ? 80 : 443);
    if (o.protocol === 'http:') {
      const s = net.connect({ host: o.hostname, port });
      s.once('connect', () => callback(null, s));
      s.once('error', (err) => callback(err, null));
      return;
    }
    connect({
      host: o.hostname,
      port,
      servername: o.servername || o.hostname,
      config,
      ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
    }).then(
      (socket) => callback(null, socket),
      (err: Error) => callback(err, null),
    );
  };
}
