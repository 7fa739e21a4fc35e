// `Tls`: a libtls context (`struct tls`), client or server, one method per tls_* call, named by
// the rule of docs/api.md ("Names"). I/O returns what tls.h returns; -1 becomes a thrown TlsError.
import { Config, configHandle } from './config.js';
import { WANT_POLLIN, WANT_POLLOUT, type Want } from './constants.js';
import { TlsError } from './errors.js';
import { type AcceptorHandle, type FdAddresses, native, State, type TlsHandle } from './native.js';
import { type BytesLike, fail, fd, fn, int, nonEmptyStr, optStr, toBytes } from './validate.js';

/** The callback transport's read side: return up to `size` bytes, or `WANT_POLLIN` if none yet. */
export type TlsReadCallback = (size: number) => Uint8Array | typeof WANT_POLLIN;
/** The callback transport's write side: return how many bytes were taken, or `WANT_POLLOUT`. */
export type TlsWriteCallback = (chunk: Buffer) => number | typeof WANT_POLLOUT;

const MAX_READ = 1 << 30;

let handleOf: (t: Tls) => TlsHandle;
let accepted: (server: Tls, handle: TlsHandle) => Tls;

/*
 * @internal The Node.js layer's fd transport. `connectFdTransport` is `connectSocket` with libtls
 * reading the socket through C callbacks that take
 * several records per recv(). `readBatch`/`writeBatch` are `readInto`/`write` repeated in C until
 * `length` bytes moved or libtls asks to wait: see `ioState` in src/native.ts. A failure after
 * some progress is thrown by the next call. Not for the 1:1 callback contexts.
 */
export function connectFdTransport(t: Tls, socket: number, servername?: string): void {
  native.connect_fd_transport(handleOf(t), fd(socket, 'fd'), optStr(servername, 'servername'));
}

/**
 * @internal The memory transport, for upgrade() over any Duplex: `connectMemory`/`acceptMemory`
 * make a context whose ciphertext JavaScript moves itself. `feed` hands libtls what the stream
 * received (it returns the bytes now waiting), `feedEnd` says no more comes (`errno` > 0: the
 * stream failed), `drain` takes what libtls wrote (after a call, when `ioState[Io.out]` is not 0).
 * No JavaScript runs inside a libtls call on such a context.
 */
/**
 * @internal A native acceptor on server context `server` (native/acceptor.c): it accepts and runs
 * each handshake in C; `onEvent` hears of each connection once its handshake is over, with the
 * accepted context (see `AcceptorEvent`).
 */
export function acceptorNew(
  server: Tls,
  onEvent: (event: number, ctx: Tls | null, fd: number, errno: number, addresses: FdAddresses | null) => void,
  handshakeTimeoutMs: number,
  noDelay: boolean,
): AcceptorHandle {
  return native.acceptor_new(
    handleOf(server),
    (event, h, fd, errno, addresses) =>
      onEvent(event, h === null ? null : accepted(server, h), fd, errno, addresses),
    handshakeTimeoutMs,
    noDelay,
  );
}

export function connectMemory(t: Tls, servername?: string): void {
  native.connect_memory(handleOf(t), optStr(servername, 'servername'));
}

export function acceptMemory(server: Tls): Tls {
  return accepted(server, native.accept_memory(handleOf(server)));
}

export function feed(t: Tls, bytes: Uint8Array): number {
  return native.feed(handleOf(t), bytes);
}

export function feedEnd(t: Tls, errno: number): void {
  native.feed_end(handleOf(t), errno);
}

export function drain(t: Tls): Buffer | null {
  return native.drain(handleOf(t));
}

/**
 * @internal Whether the call that failed on `t` failed because the transport's stream ended before
 * a close_notify (a TCP close that may have truncated the data), as opposed to a failure of the
 * TLS protocol or of the socket. Decided in C from the transport, not from libtls's message.
 */
export function endedWithoutCloseNotify(t: Tls): boolean {
  return (native.ctx_state(handleOf(t)) & State.eofFailure) !== 0;
}

/**
 * @internal Bytes read, 0 at end of stream, or WANT_*. After some progress, `ioState[Io.want]` says
 * what to wait for before calling again (0: call again now).
 */
export function readBatch(t: Tls, buf: Uint8Array, offset: number, length: number): number | Want {
  return native.read_batch(handleOf(t), buf, offset, length) as number | Want;
}

/** @internal As `readBatch`, for writing; after WANT_* repeat with the same remaining bytes. */
export function writeBatch(t: Tls, buf: Uint8Array, offset: number, length: number): number | Want {
  return native.write_batch(handleOf(t), buf, offset, length) as number | Want;
}

function port(p: unknown): string | null {
  if (p === undefined || p === null) return null;
  if (typeof p === 'number') return String(int(p, 'port', 0, 65535));
  return nonEmptyStr(p, 'port');
}

/**
 * A libtls context. Make one with `client()` or `server()`; a server's `accept*()` methods return
 * a new context per connection.
 */
/** The most plaintext one TLS record carries (2^14 bytes). */
const MAX_RECORD = 16384;

export class Tls {
  #handle: TlsHandle;
  #config: Config | null;
  /** The server an accepted context came from: kept alive while this context lives. */
  readonly #server: Tls | null;
  #scratch: Buffer | null = null;
  /**
   * After a write that returned WANT_*: the bytes libtls holds in its pending record (the first
   * record of that write, at most 2^14), which the retry must offer again. OpenSSL fails a shorter
   * retry with "bad length" and kills the connection; LibreSSL sends the pending record and returns
   * its length, more than the retry gave. Either way the caller is misled, so it never reaches libtls.
   */
  #retryAtLeast = 0;

  static {
    handleOf = (t: Tls): TlsHandle => t.#handle;
    accepted = (server: Tls, handle: TlsHandle): Tls => new Tls(handle, server.#config, server);
  }

  /** @internal Use `client()`, `server()` or `accept*()`. */
  constructor(handle: TlsHandle, config: Config | null, server: Tls | null) {
    this.#handle = handle;
    this.#config = config;
    this.#server = server;
  }

  /** @internal */
  static create(kind: 'client' | 'server', config?: Config): Tls {
    const handle = kind === 'client' ? native.tls_client() : native.tls_server();
    const t = new Tls(handle, null, null);
    if (config !== undefined) {
      try {
        t.configure(config);
      } catch (err) {
        t.free();
        throw err;
      }
    }
    return t;
  }

  /** The config this context was last configured with (null for libtls's default). */
  get config(): Config | null {
    return this.#config;
  }

  /** The server context an accepted context came from, else null. */
  get server(): Tls | null {
    return this.#server;
  }

  /** Whether `free()` has been called. */
  get freed(): boolean {
    return (native.ctx_state(this.#handle) & State.freed) !== 0;
  }

  /** Whether the handshake has completed. */
  get handshaken(): boolean {
    return (native.ctx_state(this.#handle) & State.handshaken) !== 0;
  }

  // ---- lifetime ----

  /** `tls_configure`. */
  configure(config: Config): void {
    native.tls_configure(this.#handle, configHandle(config));
    this.#config = config;
  }

  /** `tls_reset`: back to a fresh context with no config; `configure()` before the next use. */
  reset(): void {
    native.tls_reset(this.#handle);
    this.#config = null;
  }

  /** `tls_free`; also closes a socket opened by `connect()`. Further calls throw. */
  free(): void {
    native.tls_free(this.#handle);
    this.#scratch = null;
  }

  [Symbol.dispose](): void {
    this.free();
  }

  // ---- server side ----

  /** `tls_accept_socket`: a new context for the connected socket `fd` (the caller owns fd). */
  acceptSocket(socket: number): Tls {
    return new Tls(native.tls_accept_socket(this.#handle, fd(socket, 'fd')), this.#config, this);
  }

  /** `tls_accept_fds`: a new context reading from `fdRead` and writing to `fdWrite`. */
  acceptFds(fdRead: number, fdWrite: number): Tls {
    const h = native.tls_accept_fds(this.#handle, fd(fdRead, 'fdRead'), fd(fdWrite, 'fdWrite'));
    return new Tls(h, this.#config, this);
  }

  /** `tls_accept_cbs`: a new context whose ciphertext goes through `read` and `write`. */
  acceptCbs(read: TlsReadCallback, write: TlsWriteCallback): Tls {
    const h = native.tls_accept_cbs(this.#handle, fn(read, 'read'), fn(write, 'write'));
    return new Tls(h, this.#config, this);
  }

  /** `tls_conn_servername`: the SNI name the client asked for, or null. */
  connServername(): string | null {
    return native.tls_conn_servername(this.#handle);
  }

  // ---- client side ----

  /**
   * `tls_connect`: resolves `host` and connects over TCP, then starts TLS. Blocks the thread until
   * connected (the Node.js layer's `connect()` does not). `host` may be `"name:port"`.
   */
  connect(host: string, port_?: string | number): void {
    native.tls_connect_servername(this.#handle, nonEmptyStr(host, 'host'), port(port_), null);
  }

  /** `tls_connect_servername`: as `connect`, verifying and sending `servername` instead of host. */
  connectServername(host: string, port_?: string | number, servername?: string): void {
    native.tls_connect_servername(
      this.#handle,
      nonEmptyStr(host, 'host'),
      port(port_),
      optStr(servername, 'servername'),
    );
  }

  /** `tls_connect_socket`: TLS over a connected socket the caller owns. */
  connectSocket(socket: number, servername?: string): void {
    native.tls_connect_socket(this.#handle, fd(socket, 'fd'), optStr(servername, 'servername'));
  }

  /** `tls_connect_fds`: TLS reading from `fdRead` and writing to `fdWrite`. */
  connectFds(fdRead: number, fdWrite: number, servername?: string): void {
    native.tls_connect_fds(
      this.#handle,
      fd(fdRead, 'fdRead'),
      fd(fdWrite, 'fdWrite'),
      optStr(servername, 'servername'),
    );
  }

  /** `tls_connect_cbs`: TLS whose ciphertext goes through `read` and `write`. */
  connectCbs(read: TlsReadCallback, write: TlsWriteCallback, servername?: string): void {
    native.tls_connect_cbs(
      this.#handle,
      fn(read, 'read'),
      fn(write, 'write'),
      optStr(servername, 'servername'),
    );
  }

  // ---- I/O ----

  /** `tls_handshake`: 0 when done, or WANT_POLLIN / WANT_POLLOUT. */
  handshake(): 0 | Want {
    return native.tls_handshake(this.#handle) as 0 | Want;
  }

  /**
   * `tls_read`: up to `size` bytes, `null` at the end of the stream (the peer's close_notify), or
   * WANT_POLLIN / WANT_POLLOUT.
   */
  read(size = 16384): Buffer | null | Want {
    const n = int(size, 'size', 1, MAX_READ);
    let buf = this.#scratch;
    if (buf === null || buf.length < n) {
      buf = Buffer.allocUnsafeSlow(n);
      if (n <= 65536) this.#scratch = buf;
    }
    const r = native.tls_read(this.#handle, buf, 0, n);
    if (r === WANT_POLLIN || r === WANT_POLLOUT) return r;
    if (r === 0) return null;
    return Buffer.from(buf.subarray(0, r));
  }

  /** `tls_read` into `buf`: bytes read, 0 at the end of the stream, or WANT_*. Allocates nothing. */
  readInto(buf: Uint8Array, offset = 0, length?: number): number | Want {
    if (!(buf instanceof Uint8Array)) fail('buf', 'a Uint8Array', buf);
    const off = int(offset, 'offset', 0, buf.length);
    const len = length === undefined ? buf.length - off : int(length, 'length', 0, buf.length - off);
    return native.tls_read(this.#handle, buf, off, len);
  }

  /**
   * `tls_write`: the number of bytes taken (possibly fewer than given), or WANT_POLLIN /
   * WANT_POLLOUT, after which the same call must be repeated with the same data.
   */
  write(data: BytesLike): number | Want {
    const b = toBytes(data, 'data');
    if (b.length < this.#retryAtLeast) {
      throw new TlsError(
        `a write retried after WANT_POLLIN/WANT_POLLOUT must offer the same bytes again: ` +
          `at least ${this.#retryAtLeast}, got ${b.length}`,
        'tls_write',
        { code: 'ERR_TLS_SHORT_RETRY' },
      );
    }
    const r = native.tls_write(this.#handle, b, 0, b.length);
    this.#retryAtLeast =
      r === WANT_POLLIN || r === WANT_POLLOUT
        ? Math.max(this.#retryAtLeast, Math.min(b.length, MAX_RECORD))
        : 0;
    return r;
  }

  /**
   * Sends up to `bytes` bytes of a file from `offset`, in record-sized chunks. Returns the bytes
   * sent (0 at the end of the file) or WANT_*; after WANT_* repeat the call with the same file and
   * offset. `file` is an fd or a `FileHandle`.
   */
  sendfile(file: number | { fd: number }, bytes: number, offset = 0): number | Want {
    const f = typeof file === 'object' && file !== null ? file.fd : file;
    return native.sendfile(
      this.#handle,
      fd(f, 'file'),
      int(bytes, 'bytes', 0, Number.MAX_SAFE_INTEGER),
      int(offset, 'offset', 0, Number.MAX_SAFE_INTEGER),
    );
  }

  /** `tls_close`: sends close_notify; 0 when done, or WANT_*. */
  close(): 0 | Want {
    return native.tls_close(this.#handle) as 0 | Want;
  }

  // ---- connection ----

  connVersion(): string | null {
    return native.tls_conn_version(this.#handle);
  }

  connCipher(): string | null {
    return native.tls_conn_cipher(this.#handle);
  }

  connCipherStrength(): number {
    return native.tls_conn_cipher_strength(this.#handle);
  }

  /** The ALPN protocol selected, or null if none was. */
  connAlpnSelected(): string | null {
    return native.tls_conn_alpn_selected(this.#handle);
  }

  connSessionResumed(): boolean {
    return native.tls_conn_session_resumed(this.#handle);
  }

  // ---- peer certificate ----

  peerCertProvided(): boolean {
    return native.tls_peer_cert_provided(this.#handle);
  }

  peerCertContainsName(name: string): boolean {
    return native.tls_peer_cert_contains_name(this.#handle, nonEmptyStr(name, 'name'));
  }

  /** `"SHA256:<hex>"` of the peer certificate's DER, or null without a peer certificate. */
  peerCertHash(): string | null {
    return native.tls_peer_cert_hash(this.#handle);
  }

  peerCertIssuer(): string | null {
    return native.tls_peer_cert_issuer(this.#handle);
  }

  peerCertSubject(): string | null {
    return native.tls_peer_cert_subject(this.#handle);
  }

  /** `tls_peer_cert_notbefore`: start of validity, in epoch seconds. */
  peerCertNotbefore(): number {
    return native.tls_peer_cert_notbefore(this.#handle);
  }

  /** Alias of {@link Tls.peerCertNotbefore}, kept because the first README documented it (docs/api.md, "Names"). */
  peerCertNotBefore(): number {
    return this.peerCertNotbefore();
  }

  /** `tls_peer_cert_notafter`: end of validity, in epoch seconds. */
  peerCertNotafter(): number {
    return native.tls_peer_cert_notafter(this.#handle);
  }

  /** Alias of {@link Tls.peerCertNotafter}, kept because the first README documented it (docs/api.md, "Names"). */
  peerCertNotAfter(): number {
    return this.peerCertNotafter();
  }

  /** The peer's certificate chain in PEM, or null without a peer certificate. */
  peerCertChainPem(): string | null {
    return native.tls_peer_cert_chain_pem(this.#handle);
  }

  // ---- OCSP (client, after the handshake) ----

  /** `tls_ocsp_process_response`: checks a DER OCSP response for the peer certificate. */
  ocspProcessResponse(response: BytesLike): void {
    native.tls_ocsp_process_response(this.#handle, toBytes(response, 'response'));
  }

  // The numbers below throw before a response was processed; afterwards a value the response
  // does not carry (a revocation time for a good certificate, an absent nextUpdate) is null.

  /** `OCSP_CERT_GOOD`, `OCSP_CERT_REVOKED` or `OCSP_CERT_UNKNOWN`. */
  peerOcspCertStatus(): number | null {
    return native.tls_peer_ocsp_cert_status(this.#handle);
  }

  /** `CRL_REASON_*` of a revoked certificate. */
  peerOcspCrlReason(): number | null {
    return native.tls_peer_ocsp_crl_reason(this.#handle);
  }

  /** `OCSP_RESPONSE_*`. */
  peerOcspResponseStatus(): number | null {
    return native.tls_peer_ocsp_response_status(this.#handle);
  }

  /** Epoch seconds, or null when the response has no nextUpdate. */
  peerOcspNextUpdate(): number | null {
    return native.tls_peer_ocsp_next_update(this.#handle);
  }

  /** Epoch seconds. */
  peerOcspThisUpdate(): number | null {
    return native.tls_peer_ocsp_this_update(this.#handle);
  }

  /** Epoch seconds, or null when the certificate is not revoked. */
  peerOcspRevocationTime(): number | null {
    return native.tls_peer_ocsp_revocation_time(this.#handle);
  }

  peerOcspResult(): string | null {
    return native.tls_peer_ocsp_result(this.#handle);
  }

  /** The OCSP responder URL of the peer certificate, or null if it has none. */
  peerOcspUrl(): string | null {
    return native.tls_peer_ocsp_url(this.#handle);
  }
}

/** `tls_client`: a client context, configured with `config` or a default `Config`. */
export function client(config?: Config): Tls {
  if (config !== undefined && !(config instanceof Config)) fail('config', 'a Config', config);
  if (config !== undefined) return Tls.create('client', config);
  return Tls.create('client', new Config());
}

/** `tls_server`: a server context configured with `config`. */
export function server(config: Config): Tls {
  if (!(config instanceof Config)) fail('config', 'a Config', config);
  return Tls.create('server', config);
}
