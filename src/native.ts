// The compiled addon (native/*.c) and its typed surface. Nothing outside src/ imports this file:
// the classes in config.ts and tls.ts validate arguments first, then call these functions.
import { createRequire } from 'node:module';
import { getSystemErrorName } from 'node:util';
import { installLookups } from './codes.js';
import { TlsError } from './errors.js';

/** An opaque native `struct tls_config` handle. */
export interface ConfigHandle {
  readonly __config: unique symbol;
}
/** An opaque native `struct tls` handle. */
export interface TlsHandle {
  readonly __tls: unique symbol;
}
/** An opaque native `uv_poll_t` handle. */
export interface PollHandle {
  readonly __poll: unique symbol;
}
/** An opaque native acceptor (native/acceptor.c): accept and handshake in C. */
export interface AcceptorHandle {
  readonly __acceptor: unique symbol;
}
/** A connection's addresses (native/fd.c): remote address, port, family, then local ones (undefined where none). */
export type FdAddresses = [
  remoteAddress?: string,
  remotePort?: number,
  remoteFamily?: string,
  localAddress?: string,
  localPort?: number,
  localFamily?: string,
];

type Bytes = Uint8Array;
type ReadCallback = (size: number) => Uint8Array | number;
type WriteCallback = (chunk: Buffer) => number;

export interface Native {
  readonly constants: Readonly<Record<string, number>>;
  backend_info(): object;
  set_error_class(cls: new (message: string, op: string, options?: object) => Error): void;
  x509_verify_error(text: string): number;
  cipher_info(name: string): [standardName: string, version: string] | null;
  tls_config_parse_protocols(s: string): number;
  tls_default_ca_cert_file(): string | null;
  tls_load_file(path: string, password: string | null): Buffer;
  socketpair(): [number, number];
  fd_dup(fd: number): number;
  fd_close(fd: number): void;
  fd_shutdown(fd: number): void;
  fd_set_nodelay(fd: number, on: boolean): void;
  fd_set_keepalive(fd: number, on: boolean, idleSeconds: number): void;
  fd_reset_on_close(fd: number): void;
  fd_addresses(fd: number): FdAddresses;
  /** A non-blocking TCP socket connecting to a numeric address (native/tcp.c); throws the errno. */
  tcp_connect(address: string, port: number, family: 4 | 6): number;
  /** Once writable: connected (true), still in progress (false), or throws the failure's errno. */
  tcp_connect_result(fd: number): boolean;

  tls_config_new(): ConfigHandle;
  tls_config_free(c: ConfigHandle): void;
  tls_config_set_alpn(c: ConfigHandle, s: string): void;
  tls_config_set_ca_file(c: ConfigHandle, s: string): void;
  tls_config_set_ca_path(c: ConfigHandle, s: string): void;
  tls_config_set_cert_file(c: ConfigHandle, s: string): void;
  tls_config_set_ciphers(c: ConfigHandle, s: string): void;
  tls_config_set_crl_file(c: ConfigHandle, s: string): void;
  tls_config_set_dheparams(c: ConfigHandle, s: string): void;
  tls_config_set_ecdhecurve(c: ConfigHandle, s: string): void;
  tls_config_set_ecdhecurves(c: ConfigHandle, s: string): void;
  tls_config_set_key_file(c: ConfigHandle, s: string): void;
  tls_config_set_ocsp_staple_file(c: ConfigHandle, s: string): void;
  tls_config_set_ca_mem(c: ConfigHandle, b: Bytes): void;
  tls_config_set_cert_mem(c: ConfigHandle, b: Bytes): void;
  tls_config_set_crl_mem(c: ConfigHandle, b: Bytes): void;
  tls_config_set_key_mem(c: ConfigHandle, b: Bytes): void;
  tls_config_set_ocsp_staple_mem(c: ConfigHandle, b: Bytes): void;
  tls_config_set_session_id(c: ConfigHandle, b: Bytes): void;
  tls_config_prefer_ciphers_client(c: ConfigHandle): void;
  tls_config_prefer_ciphers_server(c: ConfigHandle): void;
  tls_config_insecure_noverifycert(c: ConfigHandle): void;
  tls_config_insecure_noverifyname(c: ConfigHandle): void;
  tls_config_insecure_noverifytime(c: ConfigHandle): void;
  tls_config_verify(c: ConfigHandle): void;
  tls_config_ocsp_require_stapling(c: ConfigHandle): void;
  tls_config_verify_client(c: ConfigHandle): void;
  tls_config_verify_client_optional(c: ConfigHandle): void;
  tls_config_clear_keys(c: ConfigHandle): void;
  tls_config_set_protocols(c: ConfigHandle, p: number): void;
  tls_config_set_session_fd(c: ConfigHandle, fd: number): void;
  tls_config_set_verify_depth(c: ConfigHandle, n: number): void;
  tls_config_set_session_lifetime(c: ConfigHandle, n: number): void;
  tls_config_add_ticket_key(c: ConfigHandle, keyrev: number, key: Bytes): void;
  tls_config_add_keypair_ocsp_file(c: ConfigHandle, cert: string, key: string, staple: string | null): void;
  tls_config_set_keypair_ocsp_file(c: ConfigHandle, cert: string, key: string, staple: string | null): void;
  tls_config_add_keypair_ocsp_mem(c: ConfigHandle, cert: Bytes, key: Bytes, staple: Bytes | null): void;
  tls_config_set_keypair_ocsp_mem(c: ConfigHandle, cert: Bytes, key: Bytes, staple: Bytes | null): void;

  tls_client(): TlsHandle;
  tls_server(): TlsHandle;
  tls_free(t: TlsHandle): void;
  tls_configure(t: TlsHandle, c: ConfigHandle): void;
  tls_reset(t: TlsHandle): void;
  ctx_state(t: TlsHandle): number;
  tls_accept_socket(t: TlsHandle, fd: number): TlsHandle;
  tls_accept_fds(t: TlsHandle, fdr: number, fdw: number): TlsHandle;
  tls_accept_cbs(t: TlsHandle, read: ReadCallback, write: WriteCallback): TlsHandle;
  tls_connect_servername(t: TlsHandle, host: string, port: string | null, sn: string | null): void;
  tls_connect_socket(t: TlsHandle, fd: number, sn: string | null): void;
  connect_fd_transport(t: TlsHandle, fd: number, sn: string | null): void;
  tls_connect_fds(t: TlsHandle, fdr: number, fdw: number, sn: string | null): void;
  tls_connect_cbs(t: TlsHandle, read: ReadCallback, write: WriteCallback, sn: string | null): void;
  tls_handshake(t: TlsHandle): number;
  tls_read(t: TlsHandle, buf: Bytes, offset: number, length: number): number;
  tls_write(t: TlsHandle, buf: Bytes, offset: number, length: number): number;
  read_batch(t: TlsHandle, buf: Bytes, offset: number, length: number): number;
  write_batch(t: TlsHandle, buf: Bytes, offset: number, length: number): number;
  connect_memory(t: TlsHandle, sn: string | null): void;
  accept_memory(t: TlsHandle): TlsHandle;
  /** Returns the bytes now waiting for libtls. */
  feed(t: TlsHandle, b: Bytes): number;
  feed_end(t: TlsHandle, errno: number): void;
  drain(t: TlsHandle): Buffer | null;
  sendfile(t: TlsHandle, fd: number, bytes: number, offset: number): number;
  tls_close(t: TlsHandle): number;
  tls_conn_version(t: TlsHandle): string | null;
  tls_conn_cipher(t: TlsHandle): string | null;
  tls_conn_cipher_strength(t: TlsHandle): number;
  tls_conn_alpn_selected(t: TlsHandle): string | null;
  tls_conn_servername(t: TlsHandle): string | null;
  tls_conn_session_resumed(t: TlsHandle): boolean;
  tls_peer_cert_provided(t: TlsHandle): boolean;
  tls_peer_cert_contains_name(t: TlsHandle, name: string): boolean;
  tls_peer_cert_hash(t: TlsHandle): string | null;
  tls_peer_cert_issuer(t: TlsHandle): string | null;
  tls_peer_cert_subject(t: TlsHandle): string | null;
  tls_peer_cert_notbefore(t: TlsHandle): number;
  tls_peer_cert_notafter(t: TlsHandle): number;
  tls_peer_cert_chain_pem(t: TlsHandle): string | null;
  tls_ocsp_process_response(t: TlsHandle, b: Bytes): void;
  tls_peer_ocsp_cert_status(t: TlsHandle): number | null;
  tls_peer_ocsp_crl_reason(t: TlsHandle): number | null;
  tls_peer_ocsp_response_status(t: TlsHandle): number | null;
  tls_peer_ocsp_next_update(t: TlsHandle): number | null;
  tls_peer_ocsp_this_update(t: TlsHandle): number | null;
  tls_peer_ocsp_revocation_time(t: TlsHandle): number | null;
  tls_peer_ocsp_result(t: TlsHandle): string | null;
  tls_peer_ocsp_url(t: TlsHandle): string | null;

  /** With `ownsFd`, the poller closes `fd` when it is closed (pollClose, GC, teardown). */
  /** Registers the array every I/O call fills (see `ioState`). */
  io_state(state: Float64Array): void;
  poll_new(fd: number, cb: (status: number, events: number) => void, ownsFd: boolean): PollHandle;
  poll_start(p: PollHandle, events: number): void;
  poll_stop(p: PollHandle): void;
  poll_close(p: PollHandle): void;
  poll_ref(p: PollHandle, on: boolean): void;
  acceptor_new(
    server: TlsHandle,
    cb: (
      event: number,
      ctx: TlsHandle | null,
      fd: number,
      errno: number,
      addresses: FdAddresses | null,
    ) => void,
    handshakeTimeoutMs: number,
    noDelay: boolean,
  ): AcceptorHandle;
  acceptor_listen(a: AcceptorHandle, fd: number): void;
  acceptor_adopt(a: AcceptorHandle, fd: number): void;
  acceptor_close(a: AcceptorHandle): void;
  acceptor_pending(a: AcceptorHandle): number;
  acceptor_released(a: AcceptorHandle): void;
  acceptor_set_max(a: AcceptorHandle, n: number): void;
  acceptor_ref(a: AcceptorHandle, on: boolean): void;
}

const require = createRequire(import.meta.url);

function load(): Native {
  const path = process.env.LIBTLS_NATIVE ?? '../build/Release/node_libtls.node';
  try {
    return require(path) as Native;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'MODULE_NOT_FOUND' || e.code === 'ERR_DLOPEN_FAILED') {
      throw new Error(
        'libtls: the native addon is not built or the system libtls is missing. ' +
          'Install libtls-dev (Debian/Ubuntu) or LibreSSL, then run `npm run build`.',
        { cause: err },
      );
    }
    throw err;
  }
}

export const native: Native = load();

function constant(name: string): number {
  const v = native.constants[name];
  if (typeof v !== 'number') throw new Error(`libtls: the addon lacks constant ${name}`);
  return v;
}

/** Bits of `ctx_state()`, defined in native/addon.h. */
export const State = {
  freed: constant('STATE_FREED'),
  connected: constant('STATE_CONNECTED'),
  handshaken: constant('STATE_HANDSHAKEN'),
  configured: constant('STATE_CONFIGURED'),
  ownsSocket: constant('STATE_OWNS_SOCKET'),
  /** The kept failure came from the end of the transport's stream before close_notify. */
  eofFailure: constant('STATE_EOF_FAILURE'),
  /** A handshake, read or write failed: every later I/O call throws that failure again. */
  failed: constant('STATE_FAILED'),
} as const;

/** The fields of `ioState`, defined in native/addon.h. */
export const Io = {
  /** Plaintext bytes the call moved. */
  bytes: constant('IO_BYTES'),
  /** WANT_POLLIN / WANT_POLLOUT: what to wait for before the next call, or 0. */
  want: constant('IO_WANT'),
  /** errno of the transport's recv()/send() that failed in the call, or 0. */
  errno: constant('IO_ERRNO'),
  /** `IoFlag` bits. */
  flags: constant('IO_FLAGS'),
  /** The memory transport: fed bytes libtls has not taken yet. */
  in: constant('IO_IN'),
  /** The memory transport: bytes libtls wrote, waiting for `drain()`. */
  out: constant('IO_OUT'),
} as const;

/** The events of a native acceptor (its callback's first argument), defined in native/addon.h. */
export const AcceptorEvent = {
  /** The handshake completed: the context and the fd are handed over. */
  secure: constant('ACCEPTOR_SECURE'),
  /** The handshake failed: the context keeps the failure (its next call throws it). */
  failed: constant('ACCEPTOR_FAILED'),
  /** The handshake timer ran out. */
  timeout: constant('ACCEPTOR_TIMEOUT'),
  /** maxConnections was reached: the fd only, to close. */
  dropped: constant('ACCEPTOR_DROPPED'),
  /** accept() failed: the errno. */
  error: constant('ACCEPTOR_ERROR'),
} as const;

/** Bits of `ioState[Io.flags]`. */
export const IoFlag = {
  /** A failure is kept: the next I/O call throws it (after a batch's progress: call again at once). */
  failed: constant('IO_FLAG_FAILED'),
} as const;

/**
 * The I/O state, as Node.js's streamBaseState: every handshake, read, write, close, sendfile and
 * batch call fills it before it returns. Read it right after the call, before anything else can
 * run another one (a `push()` can run user code).
 */
export const ioState = new Float64Array(constant('IO_FIELDS'));
native.io_state(ioState);
native.set_error_class(TlsError);
installLookups({ systemErrorName: getSystemErrorName, x509VerifyError: native.x509_verify_error });
