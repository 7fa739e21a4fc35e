// connect()'s TCP connection, without a net.Socket: the name is resolved by dns.lookup (or the
// caller's `lookup`), as net.connect() resolves it, so /etc/hosts, nsswitch and `family` behave
// the same; each address is then tried with a non-blocking connect(2) made in C (native/tcp.c), on
// the FdTransport that goes on to carry the TLS connection: the poller that waits for the TCP
// connection is the one that runs the handshake and the data after it.
import dns from 'node:dns';
import type { LookupFunction } from 'node:net';
import net from 'node:net';
import { constants as os } from 'node:os';
import { WANT_POLLOUT } from './constants.js';
import { TlsError } from './errors.js';
import { native } from './native.js';
import { FdTransport } from './transport.js';

export type { LookupFunction };

export interface TcpTarget {
  host: string;
  port: number;
  /** 0: either family; 4 or 6: that one only (as net.connect's `family`). */
  family: 0 | 4 | 6;
  /** As net.connect's `lookup`; default dns.lookup. */
  lookup: LookupFunction | undefined;
}

/** Called once: with the connected transport (now the caller's), or with why none could be made. */
export type TcpDone = (err: unknown, transport?: FdTransport) => void;

interface Address {
  address: string;
  family: 4 | 6;
}

/**
 * The addresses to try, as Node.js 20's net.connect() orders them with autoSelectFamily: valid IP
 * addresses only, each once, the two families alternating, starting with the first one's family.
 */
function toAttempt(found: readonly { address: string; family: number }[]): Address[] {
  const groups: [Address[], Address[]] = [[], []];
  const seen = new Set<string>();
  let firstFamily = 0;
  for (const { address, family } of found) {
    if (typeof address !== 'string' || (family !== 4 && family !== 6) || net.isIP(address) !== family)
      continue;
    if (seen.has(address)) continue;
    seen.add(address);
    if (firstFamily === 0) firstFamily = family;
    groups[family === firstFamily ? 0 : 1].push({ address, family });
  }
  const out: Address[] = [];
  const [first, second] = groups;
  for (let i = 0; i < Math.max(first.length, second.length); i++) {
    const a = first[i];
    const b = second[i];
    if (a !== undefined) out.push(a);
    if (b !== undefined) out.push(b);
  }
  return out;
}

/** `connect ECONNREFUSED 127.0.0.1:443`, as net.Socket says it, with the code and errno. */
function attemptError(err: unknown, a: Address, port: number): TlsError {
  const e = err as Partial<TlsError>;
  if (!(err instanceof TlsError) || typeof e.code !== 'string') return err as TlsError;
  return new TlsError(`connect ${e.code} ${a.address}:${port}`, 'connect', {
    code: e.code,
    ...(e.errno !== undefined ? { errno: e.errno } : {}),
  });
}

/** What connect() rejects with once every address failed: as net.connect, the first one's code. */
function connectFailure(errors: readonly TlsError[]): TlsError {
  const [first] = errors;
  if (errors.length === 1 && first !== undefined) return first;
  return new TlsError(`connect failed: ${errors.map((e) => e.message).join(', ')}`, 'connect', {
    code: first?.code ?? 'ECONNREFUSED',
    ...(first?.errno !== undefined ? { errno: first.errno } : {}),
    cause: new AggregateError(errors),
  });
}

/**
 * Connects to `target`: looks the host up (an IP address is not looked up), then tries its
 * addresses in turn, moving on when one fails (ECONNREFUSED, ENETUNREACH, ...) or, while others
 * are left, when it has not connected within net's autoSelectFamilyAttemptTimeout (250 ms by
 * default), as Node.js 20's net.connect() does. `done` is never called synchronously, and never
 * once the returned function (cancel) ran: that one closes what is open. A lookup still running
 * then completes in the background, and its result is dropped.
 */
export function connectTcp(target: TcpTarget, done: TcpDone): () => void {
  const { host, port } = target;
  let over = false;
  let current: FdTransport | null = null;
  let attemptTimer: NodeJS.Timeout | undefined;
  let addresses: Address[] = [];
  const errors: TlsError[] = [];

  /** Ends the current attempt's wait (its timer): the attempt's transport, now the caller's. */
  const release = (): FdTransport | null => {
    if (attemptTimer !== undefined) clearTimeout(attemptTimer);
    attemptTimer = undefined;
    const t = current;
    current = null;
    return t;
  };

  const finish = (err: unknown, transport?: FdTransport): void => {
    if (over) {
      transport?.close();
      return;
    }
    over = true;
    done(err, transport);
  };

  const attempt = (i: number): void => {
    const a = addresses[i];
    if (over || a === undefined) return;
    const last = i === addresses.length - 1;
    const next = (err: TlsError): void => {
      errors.push(err);
      if (last) finish(connectFailure(errors));
      else attempt(i + 1);
    };
    let fd: number;
    try {
      fd = native.tcp_connect(a.address, port, a.family);
    } catch (err) {
      next(attemptError(err, a, port));
      return;
    }
    let t: FdTransport;
    try {
      t = new FdTransport(fd); // closes fd if it throws
    } catch (err) {
      finish(err);
      return;
    }
    current = t;
    const drop = (): void => release()?.close();
    if (!last) {
      attemptTimer = setTimeout(() => {
        if (current !== t) return;
        drop();
        next(
          new TlsError(`connect ETIMEDOUT ${a.address}:${port}`, 'connect', {
            code: 'ETIMEDOUT',
            errno: -os.errno.ETIMEDOUT,
          }),
        );
      }, net.getDefaultAutoSelectFamilyAttemptTimeout());
    }
    const onWritable = (): void => {
      if (over || current !== t) return;
      let connected: boolean;
      try {
        connected = native.tcp_connect_result(t.fd);
      } catch (err) {
        drop();
        next(attemptError(err, a, port));
        return;
      }
      if (!connected) {
        t.wait(WANT_POLLOUT, onWritable);
        return;
      }
      release();
      finish(null, t);
    };
    t.wait(WANT_POLLOUT, onWritable);
  };

  const start = (found: readonly { address: string; family: number }[]): void => {
    addresses = toAttempt(found);
    if (addresses.length === 0) {
      finish(new TlsError(`no IPv4 or IPv6 address found for ${host}`, 'connect', { code: 'ENOTFOUND' }));
      return;
    }
    attempt(0);
  };

  process.nextTick(() => {
    if (over) return;
    const literal = net.isIP(host);
    if (literal !== 0) {
      start([{ address: host, family: literal }]);
      return;
    }
    // As net.connect: every address with autoSelectFamily, which applies when no family is asked
    // for; AI_ADDRCONFIG then, to skip a family the machine has no address of.
    const all = target.family === 0 && net.getDefaultAutoSelectFamily();
    const options: dns.LookupOptions = {
      family: target.family,
      hints: target.family === 0 ? dns.ADDRCONFIG : 0,
      all,
    };
    const onLookup = (
      err: NodeJS.ErrnoException | null,
      address: string | dns.LookupAddress[],
      family?: number,
    ): void => {
      if (over) return;
      if (err) {
        finish(err);
        return;
      }
      const found = typeof address === 'string' ? [{ address, family: family ?? 0 }] : address;
      start(Array.isArray(found) ? (all ? found : found.slice(0, 1)) : []);
    };
    try {
      (target.lookup ?? dns.lookup)(host, options, onLookup);
    } catch (err) {
      finish(err);
    }
  });

  return () => {
    if (over) return;
    over = true;
    release()?.close();
  };
}
