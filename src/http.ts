// Node's HTTP stack over libtls: an HTTPS server (node:http fed with TlsSockets), an http.Agent
// for http.request/https-style clients, and a connector for undici's `connect` option (fetch).
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { Config, type ConfigOptions } from './config.js';
import { type ConfigLike, connect, type ServerOptions, TlsServer } from './net.js';
import type { TlsSocket } from './socket.js';
import { fail } from './validate.js';

function sharedConfig(c: ConfigLike | undefined, alpn: string[]): Config {
  if (c instanceof Config) return c;
  if (c !== undefined && (typeof c !== 'object' || c === null))
    fail('config', 'a Config or Config options', c);
  const o: ConfigOptions = { alpn, ...(c ?? {}) };
  return new Config(o);
}

export interface HttpsServerOptions extends ServerOptions {
  /** Options for the `http.Server` that parses the requests. */
  http?: http.ServerOptions;
}

/** A TLS server whose connections are served by a `node:http` server (`.http`). */
export class HttpsServer extends TlsServer {
  readonly http: http.Server;

  constructor(options: HttpsServerOptions = {}, requestListener?: http.RequestListener) {
    const { http: httpOptions, ...tlsOptions } = options;
    super({ ...tlsOptions, config: sharedConfig(tlsOptions.config, ['http/1.1']) });
    this.http = http.createServer(httpOptions ?? {}, requestListener);
    this.on('secureConnection', (socket: TlsSocket) => this.http.emit('connection', socket));
    // node:http starts tracking its connections (closeIdleConnections(), closeAllConnections(),
    // the headersTimeout / requestTimeout checks) on its own 'listening', and this one never
    // listens itself: it listens when the TLS server does.
    this.on('listening', () => this.http.emit('listening'));
  }

  /** As `https.Server.close()`: idle keep-alive connections are closed at once, then as TlsServer. */
  override close(callback?: (err?: Error) => void): this {
    // http.Server.close() closes the idle connections and stops the timeout checks; it never
    // listened, so it only emits its own 'close'.
    this.http.close();
    return super.close(callback);
  }
}

/**
 * An HTTPS server: `node:http` parsing requests on libtls connections. `listen()` it like a
 * net.Server; `'request'` events come from `server.http`.
 */
export function createHttpsServer(
  options?: HttpsServerOptions,
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
