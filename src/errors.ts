/**
 * A failure reported by libtls (or by this binding when a call is made in a state that would
 * crash libtls). `op` names the libtls function, e.g. `'tls_config_set_ca_file'`.
 */
export class TlsError extends Error {
  /** The libtls function that failed, e.g. `'tls_handshake'`. */
  readonly op: string;

  constructor(message: string, op: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TlsError';
    this.op = op;
  }
}
