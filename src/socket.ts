// `TlsSocket`: a libtls connection as a Node.js Duplex stream of plaintext, over either transport.
// It runs libtls's non-blocking protocol: a call that returns WANT_POLLIN / WANT_POLLOUT is
// repeated, with the same data, once the transport says it may progress.
import type { X509Certificate } from 'node:crypto';
import { isIP, type SocketReadyState } from 'node:net';
import { Duplex } from 'node:stream';
import type {
  CipherNameAndProtocol,
  DetailedPeerCertificate,
  PeerCertificate as NodePeerCertificate,
} from 'node:tls';
import type { Config } from './config.js';
import { OCSP_CERT_REVOKED, OCSP_CERT_UNKNOWN, WANT_POLLIN, WANT_POLLOUT } from './constants.js';
import { TlsError } from './errors.js';
import { Io, ioState } from './native.js';
import {
  type Authorization,
  authorizationOf,
  cipherOf,
  legacyCertificate,
  peerChain,
  trustedCertificates,
  unsupported,
} from './peer.js';
import { endedWithoutCloseNotify, readBatch, type Tls, writeBatch } from './tls.js';
import type { Transport } from './transport.js';

/** The peer certificate of a connection (see `TlsSocket.peerCertificate`). */
export interface PeerCertificate {
  subject: string;
  issuer: string;
  /** `"SHA256:<hex>"` of the certificate's DER. */
  hash: string;
  notBefore: Date;
  notAfter: Date;
  /** The peer's chain in PEM. */
  chainPem: string;
}

/** The stapled OCSP response of a server, as a client saw it (see `TlsSocket.ocsp`). */
export interface OcspInfo {
  /** `OCSP_CERT_GOOD`, `OCSP_CERT_REVOKED` or `OCSP_CERT_UNKNOWN`. */
  certStatus: number;
  /** `CRL_REASON_*` when revoked, else null. */
  crlReason: number | null;
  /** `OCSP_RESPONSE_*`. */
  responseStatus: number;
  thisUpdate: Date;
  nextUpdate: Date | null;
  revocationTime: Date | null;
  result: string | null;
  url: string | null;
}

/** Where a connection runs: the addresses of the TCP socket (or of the stream under `upgrade`). */
export interface SocketAddresses {
  remoteAddress?: string | undefined;
  remotePort?: number | undefined;
  remoteFamily?: string | undefined;
  localAddress?: string | undefined;
  localPort?: number | undefined;
  localFamily?: string | undefined;
}

/** @internal How a TlsSocket is assembled by connect(), createServer() and upgrade(). */
export interface TlsSocketInit {
  context: Tls;
  transport: Transport;
  /** Frees these (after the context) when the socket is destroyed. */
  owned?: (Tls | Config)[];
  addresses?: SocketAddresses;
  allowHalfOpen?: boolean;
  /** A TCP close without close_notify is an error (`ERR_TLS_TRUNCATED`), not an end. */
  strictClose?: boolean;
  mode: 'client' | 'server';
}

const RECORD = 16384;
const SLAB = 128 * 1024;

/*
 * Reads land in a shared slab and are pushed as slices of it, without a copy; a new slab is taken
 * when less than a record is left. A slice keeps its slab alive until the reader lets go of it, as
 * with net.Socket's read buffers.
 */
let slab = Buffer.allocUnsafeSlow(SLAB);
let slabUsed = 0;

function readSpace(): void {
  if (SLAB - slabUsed < RECORD) {
    slab = Buffer.allocUnsafeSlow(SLAB);
    slabUsed = 0;
  }
}

function isWant(r: number): r is typeof WANT_POLLIN | typeof WANT_POLLOUT {
  return r === WANT_POLLIN || r === WANT_POLLOUT;
}

/** A failure to send because the peer's socket is closed or reset. */
function peerGone(err: unknown): boolean {
  return err instanceof TlsError && (err.code === 'EPIPE' || err.code === 'ECONNRESET');
}

/**
 * A TLS connection made by libtls, as a `stream.Duplex` of plaintext: `net.Socket`'s behaviour for
 * backpressure, `end()` (sends close_notify), half-close with `allowHalfOpen`, `destroy()` at any
 * moment, `setTimeout`, `ref`/`unref`. Connection details are readable after `'secure'`.
 *
 * Events besides Duplex's: `'secure'` once the handshake completed (`'secureConnect'` too on a
 * client), `'timeout'` after `setTimeout(ms)` of inactivity.
 */
export class TlsSocket extends Duplex {
  readonly #ctx: Tls;
  readonly #t: Transport;
  readonly #owned: (Tls | Config)[];
  readonly #addresses: SocketAddresses;
  readonly #mode: 'client' | 'server';
  readonly #strictClose: boolean;
  #secure = false;
  #handshakeStarted = false;
  #reading = false;
  #readWaiting = false;
  #eof = false;
  #wbuf: Buffer | null = null;
  #woff = 0;
  #wcb: ((err?: Error | null) => void) | null = null;
  #finalCb: ((err?: Error | null) => void) | null = null;
  #timeoutMs = 0;
  #timer: NodeJS.Timeout | null = null;
  #peerCert: PeerCertificate | null | undefined;
  /** What the last call's libtls asked for after its progress (the I/O state's want), or 0. */
  #want = 0;
  #ocsp: OcspInfo | null | undefined;
  /**
   * True once the peer ended the connection by closing TCP without a close_notify alert: the
   * stream then ended as node:tls does (`'end'`), but the data received may be truncated. With
   * `strictClose` that is an error (`ERR_TLS_TRUNCATED`) instead.
   */
  truncated = false;
  /** Plaintext bytes received and sent. */
  bytesRead = 0;
  bytesWritten = 0;
  /** Always true: Node's `https`/`http` check it. */
  readonly encrypted = true;
  readonly connecting = false;

  /** @internal Use `connect()`, `createServer()` or `upgrade()`. */
  constructor(init: TlsSocketInit) {
    super({
      allowHalfOpen: init.allowHalfOpen ?? false,
      // 'close' is emitted by _destroy, with `hadError` as net.Socket's
      emitClose: false,
      decodeStrings: true,
      // a few records per turn of the event loop, as net.Socket on Node 22
      readableHighWaterMark: 64 * 1024,
    });
    this.#ctx = init.context;
    this.#t = init.transport;
    this.#owned = init.owned ?? [];
    this.#addresses = init.addresses ?? {};
    this.#mode = init.mode;
    this.#strictClose = init.strictClose ?? false;
  }

  /**
   * One libtls call on the context: its want is kept from the I/O state, then the transport moves
   * what the call left (the memory transport's ciphertext), before anything else can run a call.
   */
  #io(call: () => number): number {
    try {
      const r = call();
      this.#want = ioState[Io.want] as number;
      return r;
    } finally {
      this.#t.afterCall();
    }
  }

  /** @internal Starts the handshake; `'secure'` or `'error'` follows. */
  startHandshake(): void {
    if (this.#handshakeStarted || this.destroyed) return;
    this.#handshakeStarted = true;
    this.#handshake();
  }

  /** @internal For a context whose handshake completed below JavaScript (a native acceptor). */
  handshaken(): void {
    if (this.#handshakeStarted || this.destroyed) return;
    this.#handshakeStarted = true;
    this.#secured();
  }

  #handshake(): void {
    if (this.destroyed) return;
    let r: number;
    try {
      r = this.#io(() => this.#ctx.handshake());
    } catch (err) {
      this.destroy(
        endedWithoutCloseNotify(this.#ctx)
          ? new TlsError(
              'the peer closed the connection before the TLS handshake completed',
              'tls_handshake',
              { cause: err, code: 'ECONNRESET' },
            )
          : (err as Error),
      );
      return;
    }
    if (isWant(r)) {
      this.#t.wait(r, () => this.#handshake());
      return;
    }
    this.#secured();
  }

  #secured(): void {
    this.#secure = true;
    this.#touch();
    // Read as net.Socket does, up to the high-water mark, whether or not anyone reads: the end of
    // the stream, a reset or an alert is then noticed by a socket that only writes. On a later
    // turn of the event loop, so that connect()'s caller holds the socket first.
    setImmediate(() => {
      if (!this.destroyed) this.read(0);
    });
    this.emit('secure');
    if (this.#mode === 'client') this.emit('secureConnect');
    if (this.#wbuf !== null) this.#pumpWrite();
    if (this.#reading) this.#pumpRead();
    if (this.#finalCb !== null && this.#wbuf === null) this.#pumpClose();
  }

  // ---- reading ----

  override _read(): void {
    this.#reading = true;
    if (this.#secure && !this.#readWaiting) this.#pumpRead();
  }

  #pumpRead(): void {
    try {
      this.#readLoop();
    } catch (err) {
      // A 'data' listener threw (the exception goes on to the caller, maybe uncaughtException):
      // reading goes on at a later turn, as net.Socket's does.
      if (this.#reading && !this.#readWaiting) {
        this.#readWaiting = true;
        setImmediate(() => {
          this.#readWaiting = false;
          if (this.#reading) this.#pumpRead();
        });
      }
      throw err;
    }
  }

  #readLoop(): void {
    while (this.#reading && !this.destroyed) {
      let r: number;
      readSpace();
      try {
        r = this.#io(() => readBatch(this.#ctx, slab, slabUsed, SLAB - slabUsed));
      } catch (err) {
        this.#readFailed(err);
        return;
      }
      if (r > 0) {
        this.bytesRead += r;
        this.#touch();
        const chunk = slab.subarray(slabUsed, slabUsed + r);
        slabUsed += r;
        const want = this.#want; // before push(), which can run user code and other calls
        if (!this.push(chunk)) this.#reading = false;
        // libtls already said the transport is empty: wait instead of asking again (with a
        // failure kept, want is 0 and the next call throws it at once)
        if (this.#reading && isWant(want)) r = want;
        else continue;
      }
      if (r === 0) {
        this.#ended();
      } else if (isWant(r)) {
        this.#readWaiting = true;
        this.#t.wait(r, () => {
          this.#readWaiting = false;
          if (this.#reading) this.#pumpRead();
        });
        return;
      }
    }
  }

  /** The end of the plaintext stream: `'end'` comes even if nobody reads (as net.Socket). */
  #ended(): void {
    this.#reading = false;
    this.#eof = true;
    this.push(null);
    this.read(0);
  }

  #readFailed(err: unknown): void {
    if (this.#secure && endedWithoutCloseNotify(this.#ctx)) {
      if (!this.#strictClose) {
        this.truncated = true;
        this.#ended();
        return;
      }
      this.#eof = true;
      this.destroy(
        new TlsError(
          'the peer closed the connection without close_notify: the data may be truncated',
          'tls_read',
          { cause: err, code: 'ERR_TLS_TRUNCATED' },
        ),
      );
      return;
    }
    this.destroy(err as Error);
  }

  // ---- writing ----

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#startWrite(chunk, cb);
  }

  // Several small writes queued while one was in flight go out together, in as few records as fit.
  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    this.#startWrite(
      chunks.length === 1
        ? (chunks[0] as { chunk: Buffer }).chunk
        : Buffer.concat(chunks.map((c) => c.chunk)),
      cb,
    );
  }

  #startWrite(buf: Buffer, cb: (err?: Error | null) => void): void {
    this.#wbuf = buf;
    this.#woff = 0;
    this.#wcb = cb;
    if (this.#secure) this.#pumpWrite();
  }

  #pumpWrite(): void {
    const buf = this.#wbuf;
    if (buf === null || this.destroyed) return;
    while (this.#woff < buf.length) {
      if (!this.#t.writable()) {
        this.#t.wait(WANT_POLLOUT, () => this.#pumpWrite());
        return;
      }
      // After WANT_*, libtls must see the same bytes again: the slice depends only on #woff.
      let r: number;
      try {
        const n = Math.min(buf.length - this.#woff, this.#t.writeBatchMax);
        r = this.#io(() => writeBatch(this.#ctx, buf, this.#woff, n));
      } catch (err) {
        this.#finishWrite(err as Error);
        return;
      }
      if (isWant(r)) {
        this.#t.wait(r, () => this.#pumpWrite());
        return;
      }
      const want = this.#want;
      if (this.destroyed) return; // the transport's afterCall() can run the peer, and it us
      this.#woff += r;
      this.bytesWritten += r;
      this.#touch();
      if (isWant(want) && this.#woff < buf.length) {
        this.#t.wait(want, () => this.#pumpWrite());
        return;
      }
    }
    this.#finishWrite(null);
  }

  #finishWrite(err: Error | null): void {
    const cb = this.#wcb;
    this.#wbuf = null;
    this.#wcb = null;
    cb?.(err);
  }

  override _final(cb: (err?: Error | null) => void): void {
    // 'finish' never in the same tick as end(), as net.Socket's asynchronous shutdown: a write()
    // right after end() then fails the stream without a 'finish'
    this.#finalCb = (err) => process.nextTick(cb, err);
    if (this.#secure) this.#pumpClose();
  }

  #pumpClose(): void {
    const cb = this.#finalCb;
    if (cb === null || this.destroyed) return;
    let r: number;
    try {
      r = this.#io(() => this.#ctx.close());
    } catch (err) {
      this.#finalCb = null;
      // The peer is gone (after its own close_notify, or its socket closed or reset): nothing is
      // left to tell it, and as net.Socket ignores a failed shutdown, end() is not an error.
      if (this.#eof || peerGone(err)) {
        cb();
      } else {
        cb(err as Error);
      }
      return;
    }
    if (isWant(r)) {
      this.#t.wait(r, () => this.#pumpClose());
      return;
    }
    this.#finalCb = null;
    try {
      this.#t.endWrite();
    } catch {
      // the peer may have closed already
    }
    cb();
  }

  // ---- teardown ----

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    // no JavaScript runs inside a libtls call on the Node.js layer's transports: never in use now
    for (const o of [this.#ctx, ...this.#owned]) o.free();
    this.#t.close();
    // A write in flight ends with the socket, without an error of its own: net.Socket completes
    // it so, and `socket.errored` stays what destroy() was given.
    const wcb = this.#wcb;
    this.#wcb = null;
    this.#wbuf = null;
    this.#finalCb = null;
    wcb?.(null);
    cb(err);
    process.nextTick(() => this.emit('close', err != null));
  }

  /** Ends the writable side, then destroys the socket once it is flushed (as net.Socket). */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  // ---- net.Socket's knobs ----

  #touch(): void {
    this.#timer?.refresh();
  }

  /** Emits `'timeout'` after `ms` without reads or writes; 0 disables. As net.Socket. */
  setTimeout(ms: number, callback?: () => void): this {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
      throw new RangeError(`timeout must be a non-negative number, got ${String(ms)}`);
    }
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#timeoutMs = ms;
    if (ms > 0 && !this.destroyed) {
      // kept after it fires: activity refreshes it, and 'timeout' comes again after the next idle
      // period, as net.Socket's
      this.#timer = setTimeout(() => this.emit('timeout'), ms);
      this.#timer.unref();
    }
    if (callback) {
      if (ms > 0) this.once('timeout', callback);
      else this.off('timeout', callback);
    }
    return this;
  }

  /** The inactivity timeout in ms (0: none). */
  get timeout(): number {
    return this.#timeoutMs;
  }

  setNoDelay(noDelay = true): this {
    if (!this.destroyed) this.#t.setNoDelay(noDelay);
    return this;
  }

  setKeepAlive(enable = false, initialDelay = 0): this {
    if (!this.destroyed) this.#t.setKeepAlive(enable, initialDelay);
    return this;
  }

  ref(): this {
    this.#t.ref();
    return this;
  }

  unref(): this {
    this.#t.unref();
    return this;
  }

  // ---- where ----

  get remoteAddress(): string | undefined {
    return this.#addresses.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.#addresses.remotePort;
  }
  get remoteFamily(): string | undefined {
    return this.#addresses.remoteFamily;
  }
  get localAddress(): string | undefined {
    return this.#addresses.localAddress;
  }
  get localPort(): number | undefined {
    return this.#addresses.localPort;
  }
  get localFamily(): string | undefined {
    return this.#addresses.localFamily;
  }
  address(): { address?: string | undefined; port?: number | undefined; family?: string | undefined } {
    return {
      address: this.#addresses.localAddress,
      port: this.#addresses.localPort,
      family: this.#addresses.localFamily ?? this.#addresses.remoteFamily,
    };
  }

  get readyState(): SocketReadyState {
    if (this.destroyed) return 'closed';
    if (this.readable && this.writable) return 'open';
    if (this.readable) return 'readOnly';
    if (this.writable) return 'writeOnly';
    return 'closed';
  }

  // ---- what was negotiated (null before the handshake or after destroy) ----

  #info<T>(get: (t: Tls) => T): T | null {
    if (!this.#secure || this.#ctx.freed) return null;
    return get(this.#ctx);
  }

  /** Whether the handshake has completed. */
  get secure(): boolean {
    return this.#secure;
  }

  /** `'TLSv1.3'`, `'TLSv1.2'`. */
  get version(): string | null {
    return this.#info((t) => t.connVersion());
  }

  get cipher(): string | null {
    return this.#info((t) => t.connCipher());
  }

  get cipherStrength(): number | null {
    return this.#info((t) => t.connCipherStrength());
  }

  /** The ALPN protocol selected, `false` if none was (as node:tls); null before the handshake. */
  get alpnProtocol(): string | false | null {
    return this.#info((t) => t.connAlpnSelected() ?? false);
  }

  /**
   * The SNI name: the one the client sent (server side) or asked for (client side); `false` when
   * there is none (as node:tls); null before the handshake.
   */
  get servername(): string | false | null {
    // libtls keeps an IP address to verify but sends no SNI for it: node:tls says false then
    return this.#info((t) => {
      const name = t.connServername();
      return name === null || isIP(name) !== 0 ? false : name;
    });
  }

  get sessionResumed(): boolean | null {
    return this.#info((t) => t.connSessionResumed());
  }

  /** The peer's certificate, or null if it sent none. */
  get peerCertificate(): PeerCertificate | null {
    if (this.#peerCert === undefined) {
      const pc = this.#info((t): PeerCertificate | null => {
        if (!t.peerCertProvided()) return null;
        return {
          subject: t.peerCertSubject() ?? '',
          issuer: t.peerCertIssuer() ?? '',
          hash: t.peerCertHash() ?? '',
          notBefore: new Date(t.peerCertNotbefore() * 1000),
          notAfter: new Date(t.peerCertNotafter() * 1000),
          chainPem: t.peerCertChainPem() ?? '',
        };
      });
      if (!this.#secure) return null;
      this.#peerCert = pc;
    }
    return this.#peerCert ?? null;
  }

  /** The server's stapled OCSP response as checked by libtls (client side), or null. */
  get ocsp(): OcspInfo | null {
    if (this.#ocsp === undefined) {
      if (!this.#secure || this.#mode !== 'client' || this.#ctx.freed) return null;
      try {
        const t = this.#ctx;
        const date = (seconds: number | null): Date | null =>
          seconds === null ? null : new Date(seconds * 1000);
        const certStatus = t.peerOcspCertStatus() ?? OCSP_CERT_UNKNOWN;
        this.#ocsp = {
          certStatus,
          // libtls reports 0 (CRL_REASON_UNSPECIFIED) for a certificate that is not revoked
          crlReason: certStatus === OCSP_CERT_REVOKED ? t.peerOcspCrlReason() : null,
          responseStatus: t.peerOcspResponseStatus() ?? -1,
          thisUpdate: date(t.peerOcspThisUpdate()) ?? new Date(0),
          nextUpdate: date(t.peerOcspNextUpdate()),
          revocationTime: date(t.peerOcspRevocationTime()),
          result: t.peerOcspResult(),
          url: t.peerOcspUrl(),
        };
      } catch {
        this.#ocsp = null; // no staple
      }
    }
    return this.#ocsp ?? null;
  }

  // ---- node:tls's TLSSocket surface (values in its shapes; see docs/node-compat.md) ----

  #chain: X509Certificate[] | undefined;
  #auth: Authorization | undefined;

  /** The peer's chain, leaf first ([] without one), null before the handshake or once destroyed. */
  #peerChain(): X509Certificate[] | null {
    if (this.destroyed) return null; // as node:tls, whose handle is gone then
    if (this.#chain === undefined) {
      const chain = this.#info((t) => peerChain(t));
      if (chain === null) return null;
      this.#chain = chain;
    }
    return this.#chain;
  }

  #authorization(): Authorization {
    if (this.#auth === undefined) {
      const chain = this.#peerChain();
      if (chain === null) return { authorized: false, authorizationError: null };
      const servername = this.#mode === 'client' ? this.#ctx.connServername() : null;
      this.#auth = authorizationOf(this.#ctx, this.#mode, chain, servername);
    }
    return this.#auth;
  }

  /**
   * Whether the peer's certificate was verified against the CA certificates (and, on a client, the
   * name), as node:tls's `authorized`. A server that does not ask for client certificates says false.
   */
  get authorized(): boolean {
    return this.#authorization().authorized;
  }

  /** Why `authorized` is false, as node:tls's code (e.g. `'DEPTH_ZERO_SELF_SIGNED_CERT'`), else null. */
  get authorizationError(): string | null {
    return this.#authorization().authorizationError;
  }

  /**
   * The peer's certificate in node:tls's shape (`subject`, `issuer`, `subjectaltname`,
   * `valid_from`, `fingerprint256`, `raw`, ...); with `detailed`, `issuerCertificate` links the
   * chain. `{}` if the peer sent none; null before the handshake or once destroyed.
   */
  getPeerCertificate(detailed: true): DetailedPeerCertificate;
  getPeerCertificate(detailed?: false): NodePeerCertificate;
  getPeerCertificate(detailed?: boolean): NodePeerCertificate | DetailedPeerCertificate;
  getPeerCertificate(detailed = false): NodePeerCertificate | DetailedPeerCertificate {
    const chain = this.#peerChain();
    if (chain === null) return null as unknown as NodePeerCertificate;
    return legacyCertificate(chain, detailed === true, trustedCertificates(this.#ctx));
  }

  /** The peer's certificate as an `X509Certificate`, or undefined. */
  getPeerX509Certificate(): X509Certificate | undefined {
    return this.#peerChain()?.[0];
  }

  /** `'TLSv1.3'` or `'TLSv1.2'`; null before the handshake or once destroyed. */
  getProtocol(): string | null {
    return this.destroyed ? null : this.version;
  }

  /** `{ name, standardName, version }` as node:tls; null before the handshake or once destroyed. */
  getCipher(): CipherNameAndProtocol | null {
    const name = this.destroyed ? null : this.cipher;
    return name === null ? null : cipherOf(name);
  }

  /** Whether the session was resumed (from a ticket or the session file). */
  isSessionReused(): boolean {
    return this.sessionResumed === true;
  }

  /** As net.Socket: false, the connection is established when the socket is made. */
  get pending(): boolean {
    return false;
  }

  /** A no-op: libtls never renegotiates. */
  disableRenegotiation(): void {}

  /** Not available with libtls: throws ERR_TLS_UNSUPPORTED. */
  exportKeyingMaterial(_length: number, _label: string, _context?: Buffer): Buffer {
    return unsupported('exportKeyingMaterial');
  }
  /** Not available with libtls: throws ERR_TLS_UNSUPPORTED. */
  getEphemeralKeyInfo(): object {
    return unsupported('getEphemeralKeyInfo');
  }
  /** Not available with libtls: throws ERR_TLS_UNSUPPORTED. */
  setMaxSendFragment(_size: number): boolean {
    return unsupported('setMaxSendFragment');
  }
  /** Not available with libtls: throws ERR_TLS_UNSUPPORTED. */
  renegotiate(_options: object, _callback: (err: Error | null) => void): boolean {
    return unsupported('renegotiate');
  }
  /** Not available with libtls: throws ERR_TLS_UNSUPPORTED. */
  getSession(): Buffer | undefined {
    return unsupported('getSession');
  }
  /** Not available with libtls: throws ERR_TLS_UNSUPPORTED. */
  setSession(_session: Buffer | string): void {
    unsupported('setSession');
  }
  /** Not available with libtls: throws ERR_TLS_UNSUPPORTED. */
  getTLSTicket(): Buffer | undefined {
    return unsupported('getTLSTicket');
  }
  /** Not available with libtls: throws ERR_TLS_UNSUPPORTED. */
  enableTrace(): void {
    unsupported('enableTrace');
  }
  /** Not available with libtls: throws ERR_TLS_UNSUPPORTED. */
  getFinished(): Buffer | undefined {
    return unsupported('getFinished');
  }
  /** Not available with libtls: throws ERR_TLS_UNSUPPORTED. */
  getPeerFinished(): Buffer | undefined {
    return unsupported('getPeerFinished');
  }
  /** Not available with libtls: throws ERR_TLS_UNSUPPORTED. */
  getSharedSigalgs(): string[] {
    return unsupported('getSharedSigalgs');
  }
  /** Not available with libtls: throws ERR_TLS_UNSUPPORTED. */
  getCertificate(): NodePeerCertificate | object | null {
    return unsupported('getCertificate');
  }
  /** Not available with libtls: throws ERR_TLS_UNSUPPORTED. */
  getX509Certificate(): X509Certificate | undefined {
    return unsupported('getX509Certificate');
  }

  /** Not available with libtls: throws ERR_TLS_UNSUPPORTED. */
  setKeyCert(_context: object): void {
    unsupported('setKeyCert');
  }

  // ---- the rest of net.Socket's surface (so that a TlsSocket goes where a net.Socket does) ----

  /** A TlsSocket is connected when it is made (by `connect()`): throws ERR_TLS_UNSUPPORTED. */
  connect(..._args: unknown[]): this {
    return unsupported('connect');
  }

  /**
   * As net.Socket's: closes the connection with a TCP reset (no close_notify), then destroys the
   * socket. Over `upgrade()`, the stream's own `resetAndDestroy()` where it has one.
   */
  resetAndDestroy(): this {
    if (!this.destroyed) this.#t.resetOnClose();
    return this.destroy();
  }

  /** The address the connection was made to, as `'address:port'` (one: no family racing here). */
  get autoSelectFamilyAttemptedAddresses(): string[] {
    const { remoteAddress, remotePort } = this.#addresses;
    return remoteAddress === undefined ? [] : [`${remoteAddress}:${remotePort}`];
  }

  /** Deprecated in net.Socket: `writableLength`. */
  get bufferSize(): number {
    return this.writableLength;
  }

  /** The underlying libtls context, for everything else (null once destroyed). */
  get context(): Tls | null {
    return this.#ctx.freed ? null : this.#ctx;
  }
}
