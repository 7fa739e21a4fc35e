// The two ways ciphertext moves under a TlsSocket (docs/design.md, "Native core"):
//  - FdTransport: libtls reads and writes a non-blocking socket itself (native/nodeio.c); a
//    uv_poll_t wakes us when libtls's WANT_POLLIN / WANT_POLLOUT can make progress. No JavaScript
//    sees ciphertext.
//  - StreamTransport: the memory transport over any Duplex, as Node's TLSWrap over a
//    JSStreamSocket: the stream's 'data' is fed into the context, and what libtls wrote is drained
//    to stream.write() after each call. C never calls JavaScript.
import { constants as os } from 'node:os';
import type { Duplex } from 'node:stream';
import { WANT_POLLIN, type Want } from './constants.js';
import { TlsError } from './errors.js';
import { Io, IoFlag, ioState, native, type PollHandle } from './native.js';
import { drain, feed, feedEnd, type Tls } from './tls.js';

const READABLE = 1;
const WRITABLE = 2;

/** What a TlsSocket needs from the layer below libtls. */
export interface Transport {
  /** Calls `ready` once the call that returned `want` may make progress (once per wait). */
  wait(want: Want, ready: () => void): void;
  /** After close_notify was sent: signal end of the ciphertext stream to the peer. */
  endWrite(): void;
  /** Whether more ciphertext can be written now (else wait for WANT_POLLOUT first). */
  writable(): boolean;
  /** The most plaintext one write call may take (`writable()` is asked again in between). */
  readonly writeBatchMax: number;
  /**
   * Right after every libtls call on the socket's context (before anything else can make one):
   * moves what the call left for the transport. May throw the transport's own failure instead.
   */
  afterCall(): void;
  /** Stops all waiting and releases the fd or the stream. Idempotent. */
  close(): void;
  ref(): void;
  unref(): void;
  setNoDelay(on: boolean): void;
  setKeepAlive(on: boolean, initialDelayMs: number): void;
  /** Makes `close()` abortive: the peer gets a TCP reset (where the transport has one). */
  resetOnClose(): void;
}

/**
 * The callbacks waiting for one direction. The read, write and close paths of a socket can wait
 * for the same direction at once (a read that must send, a write that must receive): each is
 * woken.
 */
class Waiters {
  #list: (() => void)[] = [];

  add(cb: () => void): void {
    this.#list.push(cb);
  }

  get empty(): boolean {
    return this.#list.length === 0;
  }

  clear(): void {
    this.#list = [];
  }

  /**
   * Calls (and forgets) everything that was waiting. A callback that throws (a user's listener
   * inside it) does not keep the others from running: the first exception is rethrown after.
   */
  fire(): void {
    const list = this.#list;
    if (list.length === 0) return;
    this.#list = [];
    let failure: { err: unknown } | null = null;
    for (const cb of list) {
      try {
        cb();
      } catch (err) {
        failure ??= { err };
      }
    }
    if (failure !== null) throw failure.err;
  }
}

/**
 * Readiness of a socket fd that this transport owns. The fd belongs to its poller, which closes
 * it when it is closed itself: by `close()`, by garbage collection of a socket dropped without
 * `destroy()`, or when the environment goes (a worker's `terminate()`).
 */
export class FdTransport implements Transport {
  readonly fd: number;
  // the kernel's socket buffer says when to wait (WANT_POLLOUT)
  readonly writeBatchMax = Number.POSITIVE_INFINITY;
  #poll: PollHandle | null;
  // held here: the poller holds it only while started
  readonly #onPoll = (status: number, events: number): void => this.#onEvent(status, events);
  #events = 0;
  readonly #onReadable = new Waiters();
  readonly #onWritable = new Waiters();
  #closed = false;

  /** Takes `fd` over: it is closed with the transport, even if this constructor throws. */
  constructor(fd: number) {
    this.fd = fd;
    this.#poll = native.poll_new(fd, this.#onPoll, true);
  }

  writable(): boolean {
    return true;
  }

  afterCall(): void {
    // libtls read and wrote the socket itself
  }

  wait(want: Want, ready: () => void): void {
    if (this.#closed || this.#poll === null) return;
    const bit = want === WANT_POLLIN ? READABLE : WRITABLE;
    (bit === READABLE ? this.#onReadable : this.#onWritable).add(ready);
    if ((this.#events & bit) === 0) {
      this.#events |= bit;
      native.poll_start(this.#poll, this.#events);
    }
  }

  /*
   * Readability stays armed after its event: the usual next step (libtls asking to read again)
   * then costs no epoll_ctl. If it fires with nobody waiting it is disarmed, so a paused reader
   * does not spin on a level-triggered readable fd.
   */
  #onEvent(status: number, events: number): void {
    if (this.#closed || this.#poll === null) return;
    // On an error condition (POLLERR) libuv has stopped the handle: wake both sides, and re-arm on
    // the next wait. The next libtls call reports what went wrong, or waits again.
    if (status < 0) {
      const fired = this.#events;
      this.#events = 0;
      this.#fire(fired);
      return;
    }
    const fired = events & this.#events;
    // A socket is nearly always writable: that direction is disarmed as soon as it fires.
    let idle = fired & WRITABLE;
    if (fired & READABLE && this.#onReadable.empty) idle |= READABLE;
    if (idle !== 0) {
      this.#events &= ~idle;
      if (this.#events === 0) native.poll_stop(this.#poll);
      else native.poll_start(this.#poll, this.#events);
    }
    this.#fire(fired);
  }

  /** Wakes the readers, then the writers, even if a reader's callback throws. */
  #fire(fired: number): void {
    try {
      if (fired & READABLE) this.#onReadable.fire();
    } finally {
      if (fired & WRITABLE && !this.#closed) this.#onWritable.fire();
    }
  }

  endWrite(): void {
    if (!this.#closed) native.fd_shutdown(this.fd);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#onReadable.clear();
    this.#onWritable.clear();
    if (this.#poll !== null) native.poll_close(this.#poll); // closes the fd too
    this.#poll = null;
  }

  ref(): void {
    if (this.#poll !== null) native.poll_ref(this.#poll, true);
  }

  unref(): void {
    if (this.#poll !== null) native.poll_ref(this.#poll, false);
  }

  setNoDelay(on: boolean): void {
    if (!this.#closed) native.fd_set_nodelay(this.fd, on);
  }

  setKeepAlive(on: boolean, initialDelayMs: number): void {
    if (!this.#closed) native.fd_set_keepalive(this.fd, on, Math.floor(initialDelayMs / 1000));
  }

  resetOnClose(): void {
    if (!this.#closed) native.fd_reset_on_close(this.fd);
  }
}

/** High-water mark of ciphertext fed to the context and not taken yet, before the stream is paused. */
const INBOUND_HIGH = 64 * 1024;

/**
 * The memory transport over a Duplex. Inbound: each 'data' chunk is fed into the context's inbound
 * buffer at once, and the readers waiting are woken; above INBOUND_HIGH bytes not yet taken by
 * libtls the stream is paused, and resumed once a call took them. Outbound: libtls's writes collect
 * in the context, and `afterCall()` drains them to `stream.write()`; backpressure is on plaintext,
 * through `writable()` (the stream's writableNeedDrain), checked between batches of four records.
 */
export class StreamTransport implements Transport {
  readonly stream: Duplex;
  readonly writeBatchMax = 4 * 16384;
  readonly #ctx: Tls;
  #inboundBytes = 0; // fed and not taken yet, as the context last said
  #ended = false;
  #error: Error | null = null;
  readonly #onReadable = new Waiters();
  readonly #onWritable = new Waiters();
  #closed = false;
  #reset = false; // close() resets the stream (resetAndDestroy) instead of destroying it
  readonly #onData = (chunk: Buffer | string): void => {
    if (this.#closed || this.#ended) return;
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (b.length === 0) return;
    this.#inboundBytes = feed(this.#ctx, b);
    if (this.#inboundBytes >= INBOUND_HIGH) this.stream.pause();
    this.#fire(true, false);
  };
  readonly #onEnd = (): void => this.#end(null);
  readonly #onError = (err: Error): void => this.#end(err);
  readonly #onClose = (): void => this.#end(null);
  readonly #onDrain = (): void => this.#fire(false, true);

  /** `ctx` is a context of the memory transport (connectMemory/acceptMemory) for `stream`. */
  constructor(stream: Duplex, ctx: Tls, head?: Uint8Array) {
    this.stream = stream;
    this.#ctx = ctx;
    if (head !== undefined && head.length > 0) this.#inboundBytes = feed(ctx, head);
    stream.on('data', this.#onData);
    stream.on('end', this.#onEnd);
    stream.on('error', this.#onError);
    stream.on('close', this.#onClose);
    stream.on('drain', this.#onDrain);
    if (stream.readableEnded) this.#end(null);
    // The stream is ours now: a caller may have paused it (a STARTTLS server reading its command
    // lines), and a paused stream would never deliver the peer's handshake.
    if (this.#inboundBytes < INBOUND_HIGH) stream.resume();
  }

  /** The error the stream reported, if any (for the TlsSocket's own error). */
  get error(): Error | null {
    return this.#error;
  }

  /** Whether the stream can take more ciphertext now (else wait for WANT_POLLOUT). */
  writable(): boolean {
    // a stream that is gone fails the next write (afterCall) instead of waiting for a 'drain'
    return !this.stream.writableNeedDrain || this.#ended || this.stream.destroyed;
  }

  /** The end of the inbound stream (`err`: it failed): libtls sees it once it took what was fed. */
  #end(err: Error | null): void {
    if (err !== null && this.#error === null) this.#error = err;
    if (this.#closed) return;
    if (!this.#ended) {
      this.#ended = true;
      let errno = 0;
      if (this.#error !== null) {
        const n = (this.#error as NodeJS.ErrnoException).errno;
        errno = typeof n === 'number' && n !== 0 ? Math.abs(n) : os.errno.EIO;
      }
      feedEnd(this.#ctx, errno);
    }
    this.#fire(true, true);
  }

  afterCall(): void {
    if (this.#closed) return;
    // what the call left, read before anything below can run another call
    const out = ioState[Io.out] as number;
    const failed = ((ioState[Io.flags] as number) & IoFlag.failed) !== 0;
    this.#inboundBytes = ioState[Io.in] as number;
    // a stream that failed is not a clean EOF: say why (ECONNRESET, ...) instead of libtls's text
    if (failed && this.#error !== null) throw this.#streamError('tls_read');
    if (out > 0) {
      const chunk = drain(this.#ctx);
      if (chunk !== null) {
        if (this.stream.destroyed || this.stream.writableEnded) throw this.#streamError('tls_write');
        this.stream.write(chunk);
      }
    }
    if (this.#inboundBytes < INBOUND_HIGH && this.stream.isPaused() && !this.#ended) this.stream.resume();
  }

  /** The error for a read or write on a stream that is gone, with the stream's own error as cause. */
  #streamError(op: string): TlsError {
    const e = this.#error;
    if (e === null)
      return new TlsError('the underlying stream is closed', op, { code: 'ERR_STREAM_DESTROYED' });
    // the stream's own code (ECONNRESET, ...) says what happened
    const code = (e as NodeJS.ErrnoException).code;
    return new TlsError(`the underlying stream failed: ${e.message}`, op, {
      cause: e,
      code: typeof code === 'string' ? code : 'ERR_TLS_STREAM',
    });
  }

  /*
   * A waiter whose condition already holds (bytes were fed after the call that asked to wait, the
   * stream ended, it can take more) is woken on the next tick, as a poll would: never inside the
   * caller's own wait().
   */
  wait(want: Want, ready: () => void): void {
    if (this.#closed) return;
    if (want === WANT_POLLIN) {
      this.#onReadable.add(ready);
      if (this.#inboundBytes > 0 || this.#ended) process.nextTick(() => this.#fire(true, false));
    } else {
      this.#onWritable.add(ready);
      if (this.writable()) process.nextTick(() => this.#fire(false, true));
    }
  }

  /** Wakes the readers, then the writers, even if a reader's callback throws. */
  #fire(reader: boolean, writer: boolean): void {
    if (this.#closed) return;
    try {
      if (reader) this.#onReadable.fire();
    } finally {
      if (writer && !this.#closed) this.#onWritable.fire();
    }
  }

  endWrite(): void {
    if (!this.#closed && !this.stream.writableEnded) this.stream.end();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#onReadable.clear();
    this.#onWritable.clear();
    const s = this.stream;
    s.off('data', this.#onData);
    s.off('end', this.#onEnd);
    s.off('close', this.#onClose);
    s.off('drain', this.#onDrain);
    // keep an error listener: an error after we let go must not become an uncaught exception
    s.off('error', this.#onError);
    s.on('error', () => {});
    const reset = (s as Partial<{ resetAndDestroy(): void }>).resetAndDestroy;
    if (this.#reset && typeof reset === 'function') reset.call(s);
    else s.destroy();
  }

  resetOnClose(): void {
    this.#reset = true;
  }

  ref(): void {
    (this.stream as Partial<{ ref(): void }>).ref?.();
  }

  unref(): void {
    (this.stream as Partial<{ unref(): void }>).unref?.();
  }

  setNoDelay(on: boolean): void {
    (this.stream as Partial<{ setNoDelay(on: boolean): void }>).setNoDelay?.(on);
  }

  setKeepAlive(on: boolean, initialDelayMs: number): void {
    (this.stream as Partial<{ setKeepAlive(on: boolean, d: number): void }>).setKeepAlive?.(
      on,
      initialDelayMs,
    );
  }
}
