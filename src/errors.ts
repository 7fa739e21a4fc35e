import { getSystemErrorName } from 'node:util';

/**
 * A failure reported by libtls (or by this binding when a call is made in a state that would
 * crash libtls). `op` names the libtls function, e.g. `'tls_config_set_ca_file'`.
 */
export class TlsError extends Error {
  /** The libtls function that failed, e.g. `'tls_handshake'`. */
  readonly op: string;
  /**
   * When a socket call failed under a connection of the Node.js layer: the system error, negative
   * as in Node.js (`code` names it).
   */
  declare readonly errno?: number;

  /** The system error's name, e.g. `'ECONNRESET'`, when there is one (see `errno`). */
  get code(): string | undefined {
    return this.errno === undefined ? undefined : getSystemErrorName(this.errno);
  }

  constructor(message: string, op: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TlsError';
    this.op = op;
  }
}
