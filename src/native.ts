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

type Bytes = Uint8Array;
type ReadCallback = (size: number) => Uint8Array | number;
type WriteCallback = (chunk: Buffer) => number;

export interface Native {
  readonly constants: Readonly<Record<string, number>>;
  backendInfo(): object;
  setErrorClass(cls: new (message: string, op: string, options?: object) => Error): void;
  x509VerifyError(text: string): number;
  cipherInfo(name: string): [standardName: string, version: string] | null;
  parseProtocols(s: string): number;
  defaultCaCertFile(): string | null;
  loadFile(path: string, password: string | null): Buffer;
  socketpair(): [number, number];
  dupFd(fd: number): number;
  fdClose(fd: number): void;
  fdShutdown(fd: number): void;
  fdSetNoDelay(fd: number, on: boolean): void;
  fdSetKeepAlive(fd: number, on: boolean, idleSeconds: number): void;
  fdResetOnClose(fd: number): void;

  configNew(): ConfigHandle;
  configFree(c: ConfigHandle): void;
  configSetAlpn(c: ConfigHandle, s: string): void;
  configSetCaFile(c: ConfigHandle, s: string): void;
  configSetCaPath(c: ConfigHandle, s: string): void;
  configSetCertFile(c: ConfigHandle, s: string): void;
  configSetCiphers(c: ConfigHandle, s: string): void;
  configSetCrlFile(c: ConfigHandle, s: string): void;
  configSetDheparams(c: ConfigHandle, s: string): void;
  configSetEcdhecurve(c: ConfigHandle, s: string): void;
  configSetEcdhecurves(c: ConfigHandle, s: string): void;
  configSetKeyFile(c: ConfigHandle, s: string): void;
  configSetOcspStapleFile(c: ConfigHandle, s: string): void;
  configSetCaMem(c: ConfigHandle, b: Bytes): void;
  configSetCertMem(c: ConfigHandle, b: Bytes): void;
  configSetCrlMem(c: ConfigHandle, b: Bytes): void;
  configSetKeyMem(c: ConfigHandle, b: Bytes): void;
  configSetOcspStapleMem(c: ConfigHandle, b: Bytes): void;
  configSetSessionId(c: ConfigHandle, b: Bytes): void;
  configPreferCiphersClient(c: ConfigHandle): void;
  configPreferCiphersServer(c: ConfigHandle): void;
  configInsecureNoverifycert(c: ConfigHandle): void;
  configInsecureNoverifyname(c: ConfigHandle): void;
  configInsecureNoverifytime(c: ConfigHandle): void;
  configVerify(c: ConfigHandle): void;
  configOcspRequireStapling(c: ConfigHandle): void;
  configVerifyClient(c: ConfigHandle): void;
  configVerifyClientOptional(c: ConfigHandle): void;
  configClearKeys(c: ConfigHandle): void;
  configSetProtocols(c: ConfigHandle, p: number): void;
  configSetSessionFd(c: ConfigHandle, fd: number): void;
  configSetVerifyDepth(c: ConfigHandle, n: number): void;
  configSetSessionLifetime(c: ConfigHandle, n: number): void;
  configAddTicketKey(c: ConfigHandle, keyrev: number, key: Bytes): void;
  configAddKeypairFile(c: ConfigHandle, cert: string, key: string, staple: string | null): void;
  configSetKeypairFile(c: ConfigHandle, cert: string, key: string, staple: string | null): void;
  configAddKeypairMem(c: ConfigHandle, cert: Bytes, key: Bytes, staple: Bytes | null): void;
  configSetKeypairMem(c: ConfigHandle, cert: Bytes, key: Bytes, staple: Bytes | null): void;

  tlsClient(): TlsHandle;
  tlsServer(): TlsHandle;
  tlsFree(t: TlsHandle): void;
  tlsConfigure(t: TlsHandle, c: ConfigHandle): void;
  tlsReset(t: TlsHandle): void;
  tlsState(t: TlsHandle): number;
  tlsAcceptSocket(t: TlsHandle, fd: number): TlsHandle;
  tlsAcceptFdTransport(t: TlsHandle, fd: number): TlsHandle;
  tlsAcceptFds(t: TlsHandle, fdr: number, fdw: number): TlsHandle;
  tlsAcceptCbs(t: TlsHandle, read: ReadCallback, write: WriteCallback): TlsHandle;
  tlsConnectServername(t: TlsHandle, host: string, port: string | null, sn: string | null): void;
  tlsConnectSocket(t: TlsHandle, fd: number, sn: string | null): void;
  tlsConnectFdTransport(t: TlsHandle, fd: number, sn: string | null): void;
  tlsConnectFds(t: TlsHandle, fdr: number, fdw: number, sn: string | null): void;
  tlsConnectCbs(t: TlsHandle, read: ReadCallback, write: WriteCallback, sn: string | null): void;
  tlsHandshake(t: TlsHandle): number;
  tlsRead(t: TlsHandle, buf: Bytes, offset: number, length: number): number;
  tlsWrite(t: TlsHandle, buf: Bytes, offset: number, length: number): number;
  tlsReadBatch(t: TlsHandle, buf: Bytes, offset: number, length: number): number;
  tlsWriteBatch(t: TlsHandle, buf: Bytes, offset: number, length: number): number;
  tlsStreamMode(t: TlsHandle): void;
  tlsSendfile(t: TlsHandle, fd: number, bytes: number, offset: number): number;
  tlsClose(t: TlsHandle): number;
  tlsConnVersion(t: TlsHandle): string | null;
  tlsConnCipher(t: TlsHandle): string | null;
  tlsConnCipherStrength(t: TlsHandle): number;
  tlsConnAlpnSelected(t: TlsHandle): string | null;
  tlsConnServername(t: TlsHandle): string | null;
  tlsConnSessionResumed(t: TlsHandle): boolean;
  tlsPeerCertProvided(t: TlsHandle): boolean;
  tlsPeerCertContainsName(t: TlsHandle, name: string): boolean;
  tlsPeerCertHash(t: TlsHandle): string | null;
  tlsPeerCertIssuer(t: TlsHandle): string | null;
  tlsPeerCertSubject(t: TlsHandle): string | null;
  tlsPeerCertNotBefore(t: TlsHandle): number;
  tlsPeerCertNotAfter(t: TlsHandle): number;
  tlsPeerCertChainPem(t: TlsHandle): string | null;
  tlsOcspProcessResponse(t: TlsHandle, b: Bytes): void;
  tlsPeerOcspCertStatus(t: TlsHandle): number | null;
  tlsPeerOcspCrlReason(t: TlsHandle): number | null;
  tlsPeerOcspResponseStatus(t: TlsHandle): number | null;
  tlsPeerOcspNextUpdate(t: TlsHandle): number | null;
  tlsPeerOcspThisUpdate(t: TlsHandle): number | null;
  tlsPeerOcspRevocationTime(t: TlsHandle): number | null;
  tlsPeerOcspResult(t: TlsHandle): string | null;
  tlsPeerOcspUrl(t: TlsHandle): string | null;

  /** With `ownsFd`, the poller closes `fd` when it is closed (pollClose, GC, teardown). */
  pollNew(fd: number, cb: (status: number, events: number) => void, ownsFd: boolean): PollHandle;
  pollStart(p: PollHandle, events: number): void;
  pollStop(p: PollHandle): void;
  pollClose(p: PollHandle): void;
  pollRef(p: PollHandle, on: boolean): void;
}

/** Bits of `tlsState()`. */
export const State = {
  freed: 1,
  connected: 2,
  handshaken: 4,
  configured: 8,
  ownsSocket: 16,
  /** The kept failure came from the end of the transport's stream before close_notify. */
  eofFailure: 32,
  /** A handshake, read or write failed: every later I/O call throws that failure again. */
  failed: 64,
} as const;

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
native.setErrorClass(TlsError);
installLookups({ systemErrorName: getSystemErrorName, x509VerifyError: native.x509VerifyError });
