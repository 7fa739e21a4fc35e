// Readiness of file descriptors on the event loop, and the two fd helpers of the API.
import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { WANT_POLLIN, WANT_POLLOUT, type Want } from './constants.js';
import { TlsError } from './errors.js';
import { native, type PollHandle } from './native.js';
import { fd as checkFd, fail, INT32_MAX, int } from './validate.js';

const READABLE = 1;
const WRITABLE = 2;

export interface PollOptions {
  /** Milliseconds before the promise rejects with a TlsError (`op: 'poll'`). */
  timeout?: number;
  /** Rejects the promise with `signal.reason` when aborted. */
  signal?: AbortSignal;
}

interface Waiter {
  events: number;
  settle(err?: unknown): void;
}

/**
 * One uv_poll_t per fd, shared by every pending poll() on it (libuv allows one watcher per fd).
 * It watches the union of what its waiters want and closes when none are left.
 */
class Watcher {
  readonly #fd: number;
  readonly #handle: PollHandle;
  // held here: the poller holds it only while started
  readonly #onPoll = (status: number, events: number): void => this.#onEvent(status, events);
  readonly #waiters = new Set<Waiter>();
  #events = 0;

  constructor(fd: number) {
    this.#fd = fd;
    this.#handle = native.poll_new(fd, this.#onPoll, false);
  }

  add(w: Waiter): void {
    this.#waiters.add(w);
    this.#update();
  }

  remove(w: Waiter): void {
    if (this.#waiters.delete(w)) this.#update();
  }

  #update(): void {
    let events = 0;
    for (const w of this.#waiters) events |= w.events;
    if (events === 0) {
      native.poll_close(this.#handle);
      watchers.delete(this.#fd);
    } else if (events !== this.#events) {
      native.poll_start(this.#handle, events);
    }
    this.#events = events;
  }

  #onEvent(status: number, events: number): void {
    const err =
      status < 0
        ? new TlsError(`poll on fd ${this.#fd} failed: ${getSystemErrorName(status)}`, 'poll', {
            errno: status,
          })
        : undefined;
    for (const w of [...this.#waiters]) {
      if (err || (w.events & events) !== 0) {
        this.#waiters.delete(w);
        w.settle(err);
      }
    }
    this.#update();
  }
}

const watchers = new Map<number, Watcher>();

/**
 * Resolves once `fd` is ready for what `want` names (`WANT_POLLIN`: readable, `WANT_POLLOUT`:
 * writable), without blocking the event loop. This is how libtls's non-blocking loop runs on
 * Node.js: repeat the libtls call that returned `want` after `await poll(fd, want)`.
 */
export function poll(fd: number, want: Want, opts: PollOptions = {}): Promise<void> {
  const f = checkFd(fd);
  let events: number;
  if (want === WANT_POLLIN) events = READABLE;
  else if (want === WANT_POLLOUT) events = WRITABLE;
  else {
    // String(want) would run the value's own code, or throw for a null-prototype object
    const got = typeof want === 'number' ? String(want) : `a value of type ${typeof want}`;
    throw new RangeError(`want must be WANT_POLLIN or WANT_POLLOUT, got ${got}`);
  }
  if (typeof opts !== 'object' || opts === null) fail('opts', 'an object', opts);
  const { timeout, signal } = opts;
  if (timeout !== undefined) int(timeout, 'timeout', 0, INT32_MAX);
  if (signal !== undefined && !(signal instanceof AbortSignal)) fail('signal', 'an AbortSignal', signal);
  if (signal?.aborted) return Promise.reject(signal.reason);

  let watcher = watchers.get(f);
  if (watcher === undefined) {
    watcher = new Watcher(f);
    watchers.set(f, watcher);
  }
  const w = watcher;
  return new Promise<void>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      w.remove(waiter);
      waiter.settle(signal?.reason);
    };
    const waiter: Waiter = {
      events,
      settle(err?: unknown) {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (err === undefined) resolve();
        else reject(err);
      },
    };
    if (timeout !== undefined) {
      timer = setTimeout(() => {
        w.remove(waiter);
        waiter.settle(
          new TlsError(`poll on fd ${f} timed out after ${timeout} ms`, 'poll', { code: 'ETIMEDOUT' }),
        );
      }, timeout);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    w.add(waiter);
  });
}

/**
 * Takes a connected socket over from Node.js: returns a duplicate of its fd that the caller now
 * owns, and destroys the JavaScript socket without a shutdown. The socket must not have read any
 * data (use `pauseOnConnect: true` on servers, or call this right on `'connect'`).
 */
export function takeFd(socket: net.Socket): number {
  if (!(socket instanceof net.Socket)) fail('socket', 'a net.Socket', socket);
  const handle = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle;
  const fd = handle?.fd;
  if (socket.destroyed || socket.connecting || typeof fd !== 'number' || fd < 0) {
    throw new TypeError('takeFd() needs a connected socket backed by a file descriptor');
  }
  if (socket.bytesRead > 0 || socket.readableLength > 0) {
    throw new TlsError(
      'the socket has already read data that would be lost; take it before reading',
      'takeFd',
      { code: 'ERR_TLS_INVALID_STATE' },
    );
  }
  const dup = native.fd_dup(fd);
  socket.destroy();
  return dup;
}

/**
 * Two connected, non-blocking, close-on-exec Unix stream sockets, owned by the caller (close them
 * with `fs.closeSync`).
 */
export function socketpair(): [number, number] {
  return native.socketpair();
}
