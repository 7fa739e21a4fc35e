// `libtls/tls`: node:tls's own signatures over libtls. connect() returns the TlsSocket at once, as
// tls.connect() does: the socket exists before TCP connects, with the libtls context made up front;
// writes made meanwhile wait in the socket until the handshake is done (as a TLSSocket's do), and
// the fd transport is attached when the TCP connection is up. No proxy stream sits in between.
import net from 'node:net';
import type { Config } from './config.js';
import type { ConfigLike } from './net.js';
import { TlsServer } from './net.js';
import { type NodeTlsOptions, nodeConfig } from './node-options.js';
import { takeFd } from './poll.js';
import { type SocketAddresses, TlsSocket } from './socket.js';
import { client, connectFdTransport, connectMemory, type Tls } from './tls.js';
import { FdTransport, StreamTransport, type Transport } from './transport.js';
import { fail, int } from './validate.js';

export type { NodeTlsOptions };
export { TlsServer as Server, TlsSocket as TLSSocket };

/** As node:tls. */
export const DEFAULT_MIN_VERSION = 'TLSv1.2';
export const DEFAULT_MAX_VERSION = 'TLSv1.3';

/**
 * Options of `connect()`: node:tls's (`host`, `port`, `servername`, `ca`, `cert`, `key`,
 * `rejectUnauthorized`, `ALPNProtocols`, `minVersion`, ...) and net.Socket's connect options, or
 * `config` (a Config or Config options) in place of the TLS ones. Other keys are ignored, as
 * node:tls does (http, ws and others pass their whole request options to a connect function).
 */
export interface ConnectionOptions extends NodeTlsOptions {
  // null as well as undefined: http.request's options (ClientRequestArgs) are passed as they are
  host?: string | null;
  port?: number | string | null;
  /** A Unix socket path; used only when `port` is absent (http and ws put their URL path here). */
  path?: string | null;
  /** The name to verify and send as SNI; default `host`. */
  servername?: string | null;
  config?: ConfigLike;
  /** As net.Socket's `setTimeout()`: `'timeout'` after this long idle (the socket stays open). */
  timeout?: number;
  family?: number;
  localAddress?: string;
  localPort?: number;
  lookup?: net.LookupFunction;
  autoSelectFamily?: boolean;
  /** TCP_NODELAY; default true. */
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  allowHalfOpen?: boolean;
  /** A TCP close without close_notify is an error (`ERR_TLS_TRUNCATED`), not `'end'`. */
  strictClose?: boolean;
  signal?: AbortSignal;
  /**
   * As node:tls: run TLS on this socket (STARTTLS after a plaintext exchange) instead of
   * connecting. Connected and still unread, its fd is taken (libtls reads it directly); once it
   * has read data, libtls's callback transport runs over it. Any other Duplex: use `upgrade()`.
   */
  socket?: net.Socket;
}

/**
 * The transport of a socket whose TCP connection is not up yet: nothing waits on it before the
 * handshake starts, which is after `attach()`; closing it first destroys the connecting socket.
 */
class PendingTransport implements Transport {
  #inner: Transport | null = null;
  #tcp: net.Socket | null;
  #closed = false;
  #reset = false;

  constructor(tcp: net.Socket) {
    this.#tcp = tcp;
  }

  attach(inner: Transport): void {
    this.#inner = inner;
    this.#tcp = null;
    if (this.#reset) inner.resetOnClose();
  }

  get writeBatchMax(): number {
    return this.#inner?.writeBatchMax ?? 0;
  }

  wait(want: Parameters<Transport['wait']>[0], ready: () => void): void {
    this.#inner?.wait(want, ready);
  }

  endWrite(): void {
    this.#inner?.endWrite();
  }

  writable(): boolean {
    return this.#inner?.writable() ?? false;
  }

  afterCall(): void {
    this.#inner?.afterCall();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // still connecting: a reset asked for is net.Socket's own
    if (this.#reset) this.#tcp?.resetAndDestroy();
    else this.#tcp?.destroy();
    this.#tcp = null;
    this.#inner?.close();
  }

  ref(): void {
    this.#inner?.ref();
    this.#tcp?.ref();
  }

  unref(): void {
    this.#inner?.unref();
    this.#tcp?.unref();
  }

  setNoDelay(on: boolean): void {
    this.#inner?.setNoDelay(on);
    this.#tcp?.setNoDelay(on);
  }

  setKeepAlive(on: boolean, initialDelayMs: number): void {
    this.#inner?.setKeepAlive(on, initialDelayMs);
    this.#tcp?.setKeepAlive(on, initialDelayMs);
  }

  resetOnClose(): void {
    if (this.#inner !== null) this.#inner.resetOnClose();
    else this.#reset = true;
  }
}

/**
 * The `'secureConnect'` listener. Typed to take any function: hooks such as http's
 * `createConnection` pass their own callback there, which tls.connect() calls without arguments.
 */
export type SecureConnectListener = (...args: never[]) => void;
type Listener = SecureConnectListener;

/** node:tls's argument forms: (options[, cb]), (port[, host][, options][, cb]). */
function normalize(args: unknown[]): { options: ConnectionOptions; cb: Listener | undefined } {
  const last = args[args.length - 1];
  const cb = typeof last === 'function' ? (last as Listener) : undefined;
  const rest = cb ? args.slice(0, -1) : args;
  const [a, b, c] = rest;
  if (typeof a === 'object' && a !== null) return { options: a as ConnectionOptions, cb };
  if (typeof a !== 'number' && typeof a !== 'string') fail('options', 'an object or a port', a);
  const options: ConnectionOptions = {};
  if (typeof b === 'string') {
    Object.assign(options, c ?? {});
    options.host = b;
  } else {
    Object.assign(options, b ?? {});
  }
  options.port = a;
  return { options, cb };
}

function markConnecting(socket: TlsSocket, connecting: boolean): void {
  Object.defineProperty(socket, 'connecting', { value: connecting, writable: true, configurable: true });
}

/**
 * As `tls.connect()`: returns the TlsSocket at once (`connecting` until TCP is up); `'connect'`
 * when TCP is, then `'secureConnect'` (and `secureConnectListener`) once the handshake is done, or
 * `'error'`. Writes before then are sent after the handshake.
 */
export function connect(options: ConnectionOptions, secureConnectListener?: Listener): TlsSocket;
export function connect(
  port: number,
  host?: string,
  options?: ConnectionOptions,
  secureConnectListener?: Listener,
): TlsSocket;
export function connect(
  port: number,
  options?: ConnectionOptions,
  secureConnectListener?: Listener,
): TlsSocket;
export function connect(...args: unknown[]): TlsSocket {
  const { options: o, cb } = normalize(args);
  const ipc = o.port === undefined || o.port === null ? (o.path ?? undefined) : undefined;
  const host = typeof o.host === 'string' && o.host !== '' ? o.host : 'localhost';
  let port = 0;
  const onSocket = o.socket !== undefined && o.socket !== null;
  if (onSocket) {
    // connects nothing: host and port only name the server (servername defaults to host)
  } else if (ipc === undefined) {
    port = typeof o.port === 'string' ? Number(o.port) : (o.port as number);
    int(port, 'port', 1, 65535);
  } else if (typeof ipc !== 'string' || ipc === '') {
    fail('path', 'a non-empty string', ipc);
  }
  const servername =
    typeof o.servername === 'string' && o.servername !== ''
      ? o.servername
      : ipc === undefined
        ? host
        : 'localhost';
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal))
    fail('signal', 'an AbortSignal', o.signal);
  if (onSocket && !(o.socket instanceof net.Socket)) fail('socket', 'a net.Socket', o.socket);
  const { config, owned } = nodeConfig(o as Record<string, unknown>, 'client');
  let ctx: Tls;
  try {
    ctx = client(config);
  } catch (err) {
    if (owned) config.free();
    throw err;
  }
  // a Config made here lives as long as the socket (its policy decides `authorized`)
  const ownedList = owned ? [config] : [];
  if (o.socket) {
    if (!o.socket.connecting && o.socket.bytesRead > 0) {
      return overStream(o.socket, ctx, ownedList, servername, o, cb);
    }
  }
  const netOptions: net.NetConnectOpts =
    ipc !== undefined
      ? { path: ipc }
      : {
          host,
          port,
          ...(o.family !== undefined ? { family: o.family } : {}),
          ...(o.localAddress !== undefined ? { localAddress: o.localAddress } : {}),
          ...(o.localPort !== undefined ? { localPort: o.localPort } : {}),
          ...(o.lookup !== undefined ? { lookup: o.lookup } : {}),
          ...(o.autoSelectFamily !== undefined ? { autoSelectFamily: o.autoSelectFamily } : {}),
        };
  const given = o.socket ?? null;
  const tcp = given ?? net.connect(netOptions);
  const transport = new PendingTransport(tcp);
  const addresses: SocketAddresses = {};
  const socket = new TlsSocket({
    context: ctx,
    transport,
    owned: ownedList,
    addresses,
    allowHalfOpen: o.allowHalfOpen === true,
    strictClose: o.strictClose === true,
    mode: 'client',
  });
  markConnecting(socket, tcp.connecting);
  if (cb) socket.once('secureConnect', cb as () => void);
  if (ipc === undefined && o.noDelay !== false) tcp.setNoDelay(true);
  if (o.keepAlive === true) tcp.setKeepAlive(true, o.keepAliveInitialDelay ?? 0);
  if (o.timeout !== undefined && o.timeout !== null) socket.setTimeout(o.timeout as number);
  const onAbort = (): void => {
    socket.destroy(o.signal?.reason as Error);
  };
  if (o.signal?.aborted) {
    process.nextTick(onAbort);
  } else if (o.signal) {
    o.signal.addEventListener('abort', onAbort, { once: true });
    socket.once('close', () => o.signal?.removeEventListener('abort', onAbort));
  }
  tcp.once('error', (err) => socket.destroy(err));
  const onTcp = (): void => {
    if (socket.destroyed) return;
    Object.assign(addresses, {
      remoteAddress: tcp.remoteAddress,
      remotePort: tcp.remotePort,
      remoteFamily: tcp.remoteFamily,
      localAddress: tcp.localAddress,
      localPort: tcp.localPort,
    });
    let fdTransport: FdTransport | undefined;
    try {
      // the transport owns the fd from here on, even if what follows throws
      fdTransport = new FdTransport(takeFd(tcp));
      connectFdTransport(ctx, fdTransport.fd, servername);
    } catch (err) {
      tcp.destroy(); // takeFd() fails (EMFILE, ...) before it destroys the TCP socket
      fdTransport?.close();
      socket.destroy(err as Error);
      return;
    }
    transport.attach(fdTransport);
    const wasConnecting = socket.connecting;
    markConnecting(socket, false);
    if (wasConnecting) socket.emit('connect');
    socket.startHandshake();
  };
  // a given socket that is connected already is taken on the next tick, after the caller's listeners
  if (given !== null && !given.connecting) process.nextTick(onTcp);
  else tcp.once('connect', onTcp);
  return socket;
}

/** connect({ socket }) on a socket that has read data: the memory transport over it. */
function overStream(
  raw: net.Socket,
  ctx: Tls,
  owned: Config[],
  servername: string,
  o: ConnectionOptions,
  cb: Listener | undefined,
): TlsSocket {
  let t: StreamTransport;
  try {
    connectMemory(ctx, servername);
    t = new StreamTransport(raw, ctx);
  } catch (err) {
    ctx.free();
    for (const c of owned) c.free();
    throw err;
  }
  const socket = new TlsSocket({
    context: ctx,
    transport: t,
    owned,
    addresses: {
      remoteAddress: raw.remoteAddress,
      remotePort: raw.remotePort,
      remoteFamily: raw.remoteFamily,
      localAddress: raw.localAddress,
      localPort: raw.localPort,
    },
    allowHalfOpen: o.allowHalfOpen === true,
    strictClose: o.strictClose === true,
    mode: 'client',
  });
  if (cb) socket.once('secureConnect', cb as () => void);
  if (o.timeout !== undefined && o.timeout !== null) socket.setTimeout(o.timeout as number);
  process.nextTick(() => socket.startHandshake());
  return socket;
}

/**
 * Options of `createServer()`: node:tls's server options (`key`, `cert`, `ca`, `requestCert`,
 * `rejectUnauthorized`, `ALPNProtocols`, `handshakeTimeout`, ...), or `config` in their place.
 */
export interface TlsOptions extends NodeTlsOptions {
  config?: ConfigLike;
  /** Milliseconds a client has to complete its handshake; default 10,000; 0: no limit. */
  handshakeTimeout?: number;
  allowHalfOpen?: boolean;
  noDelay?: boolean;
  /** A TCP close without close_notify is an error (`ERR_TLS_TRUNCATED`) on every connection. */
  strictClose?: boolean;
}

/** As `tls.createServer()`: a TlsServer; `secureConnectionListener` gets each TlsSocket. */
export function createServer(
  options?: TlsOptions | ((socket: TlsSocket) => void),
  secureConnectionListener?: (socket: TlsSocket) => void,
): TlsServer {
  let o = options;
  let listener = secureConnectionListener;
  if (typeof o === 'function') {
    listener = o;
    o = {};
  }
  if (o !== undefined && (typeof o !== 'object' || o === null)) fail('options', 'an object', o);
  const opts = (o ?? {}) as TlsOptions;
  const { config, owned } = nodeConfig(opts as Record<string, unknown>, 'server');
  try {
    return new TlsServer(
      {
        config,
        ...(opts.handshakeTimeout !== undefined ? { handshakeTimeout: opts.handshakeTimeout } : {}),
        ...(opts.allowHalfOpen !== undefined ? { allowHalfOpen: opts.allowHalfOpen } : {}),
        ...(opts.noDelay !== undefined ? { noDelay: opts.noDelay } : {}),
        ...(opts.strictClose !== undefined ? { strictClose: opts.strictClose } : {}),
      },
      listener,
    );
  } catch (err) {
    if (owned) config.free();
    throw err;
  }
}

/** `import tls from 'libtls/tls'`, as `import tls from 'node:tls'`. */
export default {
  connect,
  createServer,
  Server: TlsServer,
  TLSSocket: TlsSocket,
  DEFAULT_MIN_VERSION,
  DEFAULT_MAX_VERSION,
};
