import { classify } from './codes.js';

/** What a TlsError is raised with besides its message (`cause` as for any Error). */
export interface TlsErrorOptions extends ErrorOptions {
  /** The code, when the raiser knows it (otherwise it is derived, see `TlsError.code`). */
  code?: string;
  /** A failed system call's error, negative as in Node.js. */
  errno?: number;
  /** @internal Node.js's code for the OpenSSL error the failure queued. */
  opensslCode?: string;
  /** The OpenSSL library of that error, e.g. `'SSL routines'`. */
  library?: string;
  /** OpenSSL's reason text of that error, e.g. `'wrong version number'`. */
  reason?: string;
}

/**
 * A failure reported by libtls (or by this binding when a call is made in a state that would
 * crash libtls). `op` names the libtls function, e.g. `'tls_config_set_ca_file'`; `code` says what
 * failed, as node:tls would say it (docs/node-compat.md lists the codes).
 */
export class TlsError extends Error {
  /** The libtls function that failed, e.g. `'tls_handshake'`. */
  readonly op: string;
  /**
   * What failed: Node.js's code where node:tls has one for the same failure (`CERT_HAS_EXPIRED`,
   * `ERR_TLS_CERT_ALTNAME_INVALID`, `ERR_SSL_WRONG_VERSION_NUMBER`, `ECONNRESET`, ...), else an
   * `ERR_TLS_*` code of this package.
   */
  readonly code: string;
  /**
   * When a system call failed (a socket call under a connection of the Node.js layer, a file
   * read): the system error, negative as in Node.js (`code` names it).
   */
  declare readonly errno?: number;
  /** When OpenSSL reported the failure: its library, e.g. `'SSL routines'` (as node:tls errors). */
  declare readonly library?: string;
  /** When OpenSSL reported the failure: its reason, e.g. `'wrong version number'`. */
  declare readonly reason?: string;

  constructor(message: string, op: string, options?: TlsErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TlsError';
    this.op = op;
    const o = options ?? {};
    this.code = classify({
      op,
      message,
      code: o.code,
      errno: o.errno,
      opensslCode: o.opensslCode,
    });
    if (o.errno !== undefined) (this as { errno?: number }).errno = o.errno;
    if (o.library !== undefined) (this as { library?: string }).library = o.library;
    if (o.reason !== undefined) (this as { reason?: string }).reason = o.reason;
  }
}
