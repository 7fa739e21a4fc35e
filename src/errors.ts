import { getSystemErrorName } from 'node:util';

/**
 * A failure reported by libtls (or by this binding when a call is made in a state that would
 * crash libtls). `op` names the libtls function, e.g. `'tls_config_set_ca_file'`.
 */
/** `TlsError`'s options: `ErrorOptions` and the error's `code`. */
export interface TlsErrorOptions extends ErrorOptions {
  code?: string;
}

export class TlsError extends Error {
  /** The libtls function that failed, e.g. `'tls_handshake'`. */
  readonly op: string;
  /**
   * When a socket call failed under a connection of the Node.js layer: the system error, negative
   * as in Node.js (`code` names it).
   */
  declare readonly errno?: number;

  readonly #code: string | undefined;

  /** What failed, e.g. `'ERR_TLS_TRUNCATED'`, or the system error's name (`'ECONNRESET'`). */
  get code(): string | undefined {
    if (this.#code !== undefined) return this.#code;
    return this.errno === undefined ? undefined : getSystemErrorName(this.errno);
  }

  constructor(message: string, op: string, options?: TlsErrorOptions) {
    super(message, options);
    this.name = 'TlsError';
    this.op = op;
    this.#code = options?.code;
  }
}
