// The Node.js layer's entry points: connect(), createServer() and upgrade(). They build on the 1:1
// API (client/server contexts, takeFd) and TlsSocket; none of them blocks the event loop.
import { EventEmitter } from 'node:events';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { getSystemErrorName } from 'node:util';
import { Config, type ConfigOptions } from './config.js';
import { TlsError } from './errors.js';
import { AcceptorEvent, type AcceptorHandle, type FdAddresses, native } from './native.js';
import { takeFd } from './poll.js';
import { type SocketAddresses, TlsSocket } from './socket.js';
import { connectTcp, type LookupFunction } from './tcp.js';
import {
  acceptMemory,
  acceptorNew,
  client,
  connectFdTransport,
  connectMemory,
  server,
  type Tls,
} from './tls.js';
import { FdTransport, StreamTransport, type Transport } from './transport.js';
import { fail, fn, INT32_MAX, int, nonEmptyStr, optStr } from './validate.js';

/** A Config, or the options to make one (then owned and freed by this package). */
export type ConfigLike = Config | ConfigOptions;

export interface ConnectOptions {
  /** Host name or IP address; default `'localhost'`. */
  host?: string;
  port: number | string;
  /** The name to verify and send as SNI; default: `host`. */
  servername?: string;
  config?: ConfigLike;
  /** Milliseconds for DNS, TCP and the handshake together; 0 or absent: no limit. */
  timeout?: number;
  signal?: AbortSignal;
  /** 4 or 6 to force an address family (as net.connect's `family`); 0 or absent: either. */
  family?: 0 | 4 | 6;
  /**
   * Resolves `host`, as net.connect's `lookup`; default `dns.lookup`. Called with `{ family,
   * hints, all }`: `all` is true (an array of addresses is expected, tried in turn) when no
   * `family` is asked for, as net.connect with autoSelectFamily.
   */
  lookup?: LookupFunction;
  allowHalfOpen?: boolean;
  /** TCP_NODELAY; default true (TLS writes whole records, Nagle only delays them). */
  noDelay?: boolean;
  /**
   * A TCP close without close_notify ends the stream with an error (`ERR_TLS_TRUNCATED`) instead
   * of `'end'` with `socket.truncated` set. Default false, as node:tls.
   */
  strictClose?: boolean;
}

function configOf(c: unknown, name: string): { config: Config; owned: Config | null } {
  if (c instanceof Config) return { config: c, owned: null };
  if (c !== undefined && (typeof c !== 'object' || c === null)) fail(name, 'a Config or Config options', c);
  const config = new Config(c as ConfigOptions | undefined);
  return { config, owned: config };
}

function timeoutOpt(v: unknown, name: string): number | undefined {
  return v === undefined ? undefined : int(v, name, 0, INT32_MAX);
}

/** A connect/upgrade `timeout`: 0 means none, as with node:tls and `setTimeout(0)`. */
function optTimeout(v: unknown): number | undefined {
  return timeoutOpt(v, 'timeout') || undefined;
}

function signalOpt(v: unknown): AbortSignal | undefined {
  if (v !== undefined && !(v instanceof AbortSignal)) fail('signal', 'an AbortSignal', v);
  return v as AbortSignal | undefined;
}

function addressesOf(s: Partial<SocketAddresses>): SocketAddresses {
  return {
    remoteAddress: s.remoteAddress,
    remotePort: s.remotePort,
    remoteFamily: s.remoteFamily,
    localAddress: s.localAddress,
    localPort: s.localPort,
    localFamily: s.localFamily,
  };
}

/**
 * Settles once `socket` completes its handshake (or fails), within `timeout` ms and until
 * `signal` aborts; on failure the socket is destroyed and nothing is left open.
 */
function whenSecure(
  socket: TlsSocket,
  what: string,
  timeout: number | undefined,
  signal: AbortSignal | undefined,
  reported = timeout,
): Promise<TlsSocket> {
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const done = (err?: unknown): void => {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      socket.off('secure', onSecure);
      if (err === undefined) {
        resolve(socket);
      } else {
        socket.destroy();
        reject(err);
      }
    };
    const onError = (err: Error): void => done(err);
    const onSecure = (): void => done();
    const onAbort = (): void => done(signal?.reason);
    socket.once('error', onError);
    socket.once('secure', onSecure);
    if (timeout !== undefined) {
      timer = setTimeout(
        () =>
          done(
            new TlsError(`${what} timed out after ${reported} ms`, 'tls_handshake', {
              code: 'ERR_TLS_HANDSHAKE_TIMEOUT',
            }),
          ),
        timeout,
      );
    }
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.startHandshake();
  });
}

/**
 * Connects to a TLS server: the name resolved by `dns.lookup` (as net.connect), a non-blocking TCP
 * connect made natively to each address in turn, then libtls's handshake on the socket, all
 * without blocking the event loop and without a net.Socket. Rejects with a TlsError when the
 * connection or verification fails, and with a TypeError or RangeError for bad options (it never
 * throws).
 */
export function connect(options: ConnectOptions): Promise<TlsSocket> {
  try {
    return connectValidated(options);
  } catch (err) {
    return Promise.reject(err);
  }
}

function familyOpt(v: unknown): 0 | 4 | 6 {
  if (v === undefined) return 0;
  const f = int(v, 'family', 0, 6);
  if (f !== 0 && f !== 4 && f !== 6) throw new RangeError(`family must be 0, 4 or 6, got ${f}`);
  return f;
}

function connectValidated(options: ConnectOptions): Promise<TlsSocket> {
  if (typeof options !== 'object' || options === null) fail('options', 'an object', options);
  const host = options.host === undefined ? 'localhost' : nonEmptyStr(options.host, 'host');
  const port = typeof options.port === 'string' ? Number(options.port) : options.port;
  int(port, 'port', 1, 65535);
  const servername = optStr(options.servername, 'servername') ?? host;
  const timeout = optTimeout(options.timeout);
  const signal = signalOpt(options.signal);
  const family = familyOpt(options.family);
  const lookup = options.lookup === undefined ? undefined : fn<LookupFunction>(options.lookup, 'lookup');
  const { config, owned } = configOf(options.config, 'config');
  const started = Date.now();

  return new Promise<TlsSocket>((resolve, reject) => {
    if (signal?.aborted) {
      owned?.free();
      reject(signal.reason);
      return;
    }
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const settle = (): void => {
      settled = true;
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    // DNS and TCP: what is open is closed (a lookup still running is left to finish, unheard)
    const failTcp = (err: unknown): void => {
      if (settled) return;
      settle();
      cancel();
      owned?.free();
      reject(err);
    };
    const onAbort = (): void => failTcp(signal?.reason);
    const cancel = connectTcp({ host, port, family, lookup }, (err, transport) => {
      if (transport === undefined) {
        failTcp(err);
        return;
      }
      settle();
      let addresses: SocketAddresses;
      let ctx: Tls | undefined;
      try {
        addresses = addressesFrom(native.fd_addresses(transport.fd));
        ctx = client(config);
        connectFdTransport(ctx, transport.fd, servername);
        if (options.noDelay !== false) transport.setNoDelay(true);
      } catch (err) {
        ctx?.free();
        transport.close();
        owned?.free();
        reject(err);
        return;
      }
      const socket = new TlsSocket({
        context: ctx,
        transport,
        owned: owned ? [owned] : [],
        addresses,
        allowHalfOpen: options.allowHalfOpen ?? false,
        strictClose: options.strictClose === true,
        mode: 'client',
      });
      const left = timeout === undefined ? undefined : Math.max(1, timeout - (Date.now() - started));
      whenSecure(socket, `connecting to ${host}:${port}`, left, signal, timeout).then(resolve, reject);
    });
    signal?.addEventListener('abort', onAbort, { once: true });
    if (timeout !== undefined) {
      timer = setTimeout(
        () =>
          failTcp(
            new TlsError(`connecting to ${host}:${port} timed out after ${timeout} ms`, 'connect', {
              code: 'ETIMEDOUT',
            }),
          ),
        timeout,
      );
    }
  });
}

export interface ServerOptions {
  config?: ConfigLike;
  /** Milliseconds a client has to complete its handshake; default 10,000; 0: no limit. */
  handshakeTimeout?: number;
  allowHalfOpen?: boolean;
  /** TCP_NODELAY on accepted connections; default true (as node:http). */
  noDelay?: boolean;
  /** As `ConnectOptions.strictClose`, for every accepted connection. */
  strictClose?: boolean;
}

/** A socket's addresses from the native array (native/fd.c's lt_fd_addresses). */
function addressesFrom(a: FdAddresses | null): SocketAddresses {
  const [remoteAddress, remotePort, remoteFamily, localAddress, localPort, localFamily] = a ?? [];
  return { remoteAddress, remotePort, remoteFamily, localAddress, localPort, localFamily };
}

/** net.Server's listening handle, where it has one of its own (not a cluster worker's round-robin one). */
interface ListenHandle {
  fd?: unknown;
  close(): void;
}

/**
 * A TLS server in the shape of `net.Server` (`listen`, `close`, `address`, `getConnections`,
 * `maxConnections`, `ref`, `unref`). Events: `'secureConnection'` (socket), `'tlsClientError'`
 * (error, socket: a handshake that failed or timed out, with the peer's address on the socket),
 * `'drop'` (over `maxConnections`), `'listening'`, `'close'`, `'error'`.
 *
 * A net.Server binds and listens (every `listen()` signature, DNS, `node:cluster`'s handles); then
 * the listening socket is handed to a native acceptor (native/acceptor.c), which accepts and runs
 * each handshake in C: JavaScript hears of a connection once, secure or failed. A cluster worker
 * under round-robin scheduling has no listening socket of its own: the connections the primary
 * hands it go to the acceptor one by one.
 */
export class TlsServer extends EventEmitter {
  readonly #net: net.Server;
  readonly #ctx: Tls;
  readonly #config: Config;
  readonly #acceptor: AcceptorHandle;
  readonly #handshakeTimeout: number;
  readonly #allowHalfOpen: boolean;
  readonly #strictClose: boolean;
  readonly #sockets = new Set<TlsSocket>();
  /** The acceptor listens on the net.Server's socket (whose own handle is closed). */
  #native = false;
  #address: net.AddressInfo | string | null = null;
  #maxConnections: number | undefined;
  #closing = false;
  #netClosed = false;

  constructor(options: ServerOptions = {}, onSecureConnection?: (socket: TlsSocket) => void) {
    super();
    if (typeof options !== 'object' || options === null) fail('options', 'an object', options);
    this.#handshakeTimeout = timeoutOpt(options.handshakeTimeout, 'handshakeTimeout') ?? 10_000;
    this.#allowHalfOpen = options.allowHalfOpen ?? false;
    this.#strictClose = options.strictClose === true;
    this.#config = configOf(options.config, 'config').config;
    this.#ctx = server(this.#config);
    if (onSecureConnection !== undefined) {
      if (typeof onSecureConnection !== 'function') fail('listener', 'a function', onSecureConnection);
      this.on('secureConnection', onSecureConnection);
    }
    // 0 means no limit, as node:tls's handshakeTimeout
    this.#acceptor = acceptorNew(
      this.#ctx,
      (event, ctx, fd, errno, addresses) => this.#onAccepted(event, ctx, fd, errno, addresses),
      this.#handshakeTimeout,
      options.noDelay ?? true,
    );
    this.#net = net.createServer({ pauseOnConnect: true }, (s) => this.#onConnection(s));
    this.#net.on('listening', () => {
      this.#takeListener();
      this.emit('listening');
    });
    this.#net.on('error', (err) => this.emit('error', err));
  }

  /** Hands the net.Server's listening socket to the acceptor, where it has one of its own. */
  #takeListener(): void {
    const holder = this.#net as unknown as { _handle: ListenHandle | null };
    const handle = holder._handle;
    if (handle === null || typeof handle.fd !== 'number' || handle.fd < 0) return;
    const address = this.#net.address();
    let fd: number;
    try {
      fd = native.fd_dup(handle.fd);
      native.acceptor_listen(this.#acceptor, fd);
    } catch {
      return; // no fd to spare: net.Server goes on accepting, each connection is adopted
    }
    // The socket stays open through the acceptor's duplicate; net.Server's handle stops watching it.
    handle.close();
    holder._handle = null;
    this.#address = address;
    this.#native = true;
  }

  /** A connection net.Server accepted (a cluster worker's, under round-robin): adopted at once. */
  #onConnection(raw: net.Socket): void {
    try {
      native.acceptor_adopt(this.#acceptor, takeFd(raw));
    } catch (err) {
      raw.destroy();
      this.emit('tlsClientError', err, null);
    }
  }

  #onAccepted(event: number, ctx: Tls | null, fd: number, errno: number, where: FdAddresses | null): void {
    if (event === AcceptorEvent.dropped) {
      native.fd_close(fd);
      const { localAddress, localPort, localFamily, remoteAddress, remotePort, remoteFamily } =
        addressesFrom(where);
      this.emit('drop', { localAddress, localPort, localFamily, remoteAddress, remotePort, remoteFamily });
      return;
    }
    if (event === AcceptorEvent.error || ctx === null) {
      const name = getSystemErrorName(-errno);
      this.emit('error', new TlsError(`accept failed: ${name}`, 'accept', { code: name, errno: -errno }));
      return;
    }
    let transport: FdTransport;
    try {
      transport = new FdTransport(fd);
    } catch (err) {
      ctx.free();
      this.emit('tlsClientError', err, null);
      return;
    }
    const secure = event === AcceptorEvent.secure;
    const socket = new TlsSocket({
      context: ctx,
      transport,
      addresses: addressesFrom(where),
      allowHalfOpen: this.#allowHalfOpen,
      strictClose: this.#strictClose,
      mode: 'server',
    });
    this.#sockets.add(socket);
    socket.once('close', () => {
      this.#sockets.delete(socket);
      if (secure) native.acceptor_released(this.#acceptor);
      this.#maybeClosed();
    });
    if (secure) {
      socket.handshaken();
      this.emit('secureConnection', socket);
      return;
    }
    socket.once('error', (err) => this.emit('tlsClientError', err, socket));
    if (event === AcceptorEvent.timeout) {
      socket.destroy(
        new TlsError(
          `the client did not complete its handshake within ${this.#handshakeTimeout} ms`,
          'tls_handshake',
          { code: 'ERR_TLS_HANDSHAKE_TIMEOUT' },
        ),
      );
    } else {
      socket.startHandshake(); // throws the failure the context kept: the socket is destroyed with it
    }
  }

  #maybeClosed(): void {
    if (
      this.#closing &&
      this.#netClosed &&
      this.#sockets.size === 0 &&
      native.acceptor_pending(this.#acceptor) === 0
    ) {
      this.#closing = false;
      // On the next tick, as net.Server does: after every 'close' listener of the last socket ran.
      process.nextTick(() => this.emit('close'));
    }
  }

  /** As `net.Server.listen`. */
  listen(port?: number, hostname?: string, backlog?: number, listeningListener?: () => void): this;
  listen(port?: number, hostname?: string, listeningListener?: () => void): this;
  listen(port?: number, listeningListener?: () => void): this;
  listen(path: string, listeningListener?: () => void): this;
  listen(options: net.ListenOptions, listeningListener?: () => void): this;
  listen(...args: unknown[]): this {
    if (this.#native) {
      const e = new Error('Listen method has been called more than once without closing.') as Error & {
        code: string;
      };
      e.code = 'ERR_SERVER_ALREADY_LISTEN';
      throw e;
    }
    (this.#net.listen as (...a: unknown[]) => net.Server)(...args);
    return this;
  }

  /**
   * Stops accepting; `'close'` (and `callback`) once every open connection has closed. As
   * net.Server, a server that is not listening (before `listen()`, or closed already) calls
   * `callback` with `ERR_SERVER_NOT_RUNNING`, after `'close'`.
   */
  close(callback?: (err?: Error) => void): this {
    if (!this.listening) {
      // net.Server's own error, from net.Server itself
      this.#net.close((err) => {
        if (this.#closing) {
          // a close() in progress: called back with the error once that one is done, as net.Server
          if (callback) this.once('close', () => callback(err));
          return;
        }
        process.nextTick(() => {
          this.emit('close');
          callback?.(err);
        });
      });
      return this;
    }
    if (callback) this.once('close', callback);
    this.#closing = true;
    this.#netClosed = false;
    if (this.#native) {
      native.acceptor_close(this.#acceptor);
      this.#native = false;
      this.#address = null;
      this.#netClosed = true;
      this.#maybeClosed();
      return this;
    }
    this.#net.close(() => {
      this.#netClosed = true;
      this.#maybeClosed();
    });
    return this;
  }

  address(): net.AddressInfo | string | null {
    return this.#native ? this.#address : this.#net.address();
  }

  get listening(): boolean {
    return this.#native || this.#net.listening;
  }

  /** Open TLS connections (handshaking or established). */
  get connections(): number {
    return this.#sockets.size + native.acceptor_pending(this.#acceptor);
  }

  getConnections(cb: (err: Error | null, count: number) => void): void {
    process.nextTick(cb, null, this.connections);
  }

  /**
   * As net.Server's: once this many connections are open (handshaking or established), new ones are
   * closed at once, with a `'drop'` event. Unset or 0: no limit.
   */
  get maxConnections(): number | undefined {
    return this.#maxConnections;
  }

  set maxConnections(n: number | undefined) {
    const v = n === undefined ? 0 : int(n, 'maxConnections', 0, INT32_MAX);
    native.acceptor_set_max(this.#acceptor, v);
    this.#maxConnections = n;
  }

  ref(): this {
    this.#net.ref();
    native.acceptor_ref(this.#acceptor, true);
    return this;
  }

  unref(): this {
    this.#net.unref();
    native.acceptor_ref(this.#acceptor, false);
    return this;
  }

  /** The server's libtls context. */
  get context(): Tls {
    return this.#ctx;
  }
}

/** Creates a TLS server; `onSecureConnection` is added as a `'secureConnection'` listener. */
export function createServer(
  options?: ServerOptions,
  onSecureConnection?: (socket: TlsSocket) => void,
): TlsServer {
  return new TlsServer(options, onSecureConnection);
}

export interface UpgradeOptions {
  mode: 'client' | 'server';
  config?: ConfigLike;
  /** Client: the name to verify and send as SNI. */
  servername?: string;
  /** Ciphertext already read from the stream (e.g. after a STARTTLS line). */
  head?: Uint8Array;
  timeout?: number;
  signal?: AbortSignal;
  allowHalfOpen?: boolean;
  /** As `ConnectOptions.strictClose`. */
  strictClose?: boolean;
}

// One server context per Config for upgrade(mode: 'server'): a libtls server context holds the
// OpenSSL context with the certificate and key loaded, which is costly to make per connection.
const upgradeServers = new WeakMap<Config, Tls>();

function serverFor(config: Config, owned: boolean, ownedList: (Tls | Config)[]): Tls {
  if (owned) {
    const srv = server(config);
    ownedList.unshift(srv);
    return srv;
  }
  let srv = upgradeServers.get(config);
  if (srv === undefined || srv.freed) {
    srv = server(config);
    upgradeServers.set(config, srv);
  }
  return srv;
}

/**
 * Runs TLS over an existing Duplex (STARTTLS on a socket that already carried plaintext, a pipe,
 * an in-memory pair) with the memory transport. The stream is owned by the returned socket
 * from now on: remove your own 'data' listeners before calling this. In server mode, pass the same
 * Config to every call: its server context is made once and shared.
 */
export function upgrade(stream: Duplex, options: UpgradeOptions): Promise<TlsSocket> {
  try {
    return upgradeValidated(stream, options);
  } catch (err) {
    return Promise.reject(err);
  }
}

function upgradeValidated(stream: Duplex, options: UpgradeOptions): Promise<TlsSocket> {
  if (typeof stream?.write !== 'function' || typeof stream?.on !== 'function') {
    fail('stream', 'a Duplex stream', stream);
  }
  if (typeof options !== 'object' || options === null) fail('options', 'an object', options);
  if (options.mode !== 'client' && options.mode !== 'server') {
    fail('options.mode', "'client' or 'server'", options.mode);
  }
  const servername = optStr(options.servername, 'servername') ?? undefined;
  const timeout = optTimeout(options.timeout);
  const signal = signalOpt(options.signal);
  if (options.head !== undefined && !(options.head instanceof Uint8Array))
    fail('head', 'a Uint8Array', options.head);
  const { config, owned } = configOf(options.config, 'config');
  const ownedList: (Tls | Config)[] = owned ? [owned] : [];
  let transport: Transport | undefined;
  let ctx: Tls | undefined;
  try {
    if (options.mode === 'client') {
      ctx = client(config);
      connectMemory(ctx, servername);
    } else {
      ctx = acceptMemory(serverFor(config, owned !== null, ownedList));
    }
    transport = new StreamTransport(stream, ctx, options.head);
  } catch (err) {
    ctx?.free();
    for (const o of ownedList) o.free();
    transport?.close();
    return Promise.reject(err);
  }
  const s = stream as Partial<SocketAddresses>;
  const socket = new TlsSocket({
    context: ctx,
    transport,
    owned: ownedList,
    addresses: addressesOf(s),
    allowHalfOpen: options.allowHalfOpen ?? false,
    strictClose: options.strictClose === true,
    mode: options.mode,
  });
  return whenSecure(socket, 'the TLS handshake', timeout, signal);
}
