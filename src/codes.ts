// The one place where a failure's `code` is decided (TlsError's constructor asks it). In order:
// a code the failure was raised with; the system error of a failed socket call; libtls's own
// texts (libtls reports its own failures as text only, so its formats are matched here and
// nowhere else); the OpenSSL error queued by the failure, named as Node.js names it; the libtls
// call that failed.

/** What a failure carries besides its message (set by the native addon or by the raiser). */
export interface FailureFacts {
  op: string;
  message: string;
  code?: string | undefined;
  errno?: number | undefined;
  /** Node.js's code for the OpenSSL error the failure queued, e.g. `ERR_SSL_WRONG_VERSION_NUMBER`. */
  opensslCode?: string | undefined;
}

let systemErrorName: (errno: number) => string = (errno) => `E${-errno}`;
let x509VerifyError: (text: string) => number = () => -1;

/** @internal Installed by native.ts once the addon is loaded (this module must not import it). */
export function installLookups(lookups: {
  systemErrorName: (errno: number) => string;
  x509VerifyError: (text: string) => number;
}): void {
  systemErrorName = lookups.systemErrorName;
  x509VerifyError = lookups.x509VerifyError;
}

/**
 * Node.js's codes for certificate verification results (X509_V_ERR_* of OpenSSL's x509_vfy.h, by
 * number): what node:tls gives as `err.code` and `socket.authorizationError`. Node.js names every
 * other result `UNSPECIFIED`.
 */
const X509_CODES: ReadonlyMap<number, string> = new Map([
  [2, 'UNABLE_TO_GET_ISSUER_CERT'],
  [3, 'UNABLE_TO_GET_CRL'],
  [4, 'UNABLE_TO_DECRYPT_CERT_SIGNATURE'],
  [5, 'UNABLE_TO_DECRYPT_CRL_SIGNATURE'],
  [6, 'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY'],
  [7, 'CERT_SIGNATURE_FAILURE'],
  [8, 'CRL_SIGNATURE_FAILURE'],
  [9, 'CERT_NOT_YET_VALID'],
  [10, 'CERT_HAS_EXPIRED'],
  [11, 'CRL_NOT_YET_VALID'],
  [12, 'CRL_HAS_EXPIRED'],
  [13, 'ERROR_IN_CERT_NOT_BEFORE_FIELD'],
  [14, 'ERROR_IN_CERT_NOT_AFTER_FIELD'],
  [15, 'ERROR_IN_CRL_LAST_UPDATE_FIELD'],
  [16, 'ERROR_IN_CRL_NEXT_UPDATE_FIELD'],
  [17, 'OUT_OF_MEM'],
  [18, 'DEPTH_ZERO_SELF_SIGNED_CERT'],
  [19, 'SELF_SIGNED_CERT_IN_CHAIN'],
  [20, 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'],
  [21, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
  [22, 'CERT_CHAIN_TOO_LONG'],
  [23, 'CERT_REVOKED'],
  [25, 'PATH_LENGTH_EXCEEDED'],
  [26, 'INVALID_PURPOSE'],
  [27, 'CERT_UNTRUSTED'],
  [28, 'CERT_REJECTED'],
  [62, 'HOSTNAME_MISMATCH'],
  [79, 'INVALID_CA'],
]);

/** Node.js's code for an OpenSSL certificate verification text (`X509_verify_cert_error_string`). */
export function x509Code(text: string): string {
  return X509_CODES.get(x509VerifyError(text)) ?? 'UNSPECIFIED';
}

type Rule = readonly [RegExp, string | ((m: RegExpExecArray) => string)];

/**
 * libtls's own failure texts (its tls_set_errorx formats) and their codes: Node.js's where node:tls
 * has one for the same failure, ERR_TLS_* of this package otherwise.
 */
const LIBTLS_TEXTS: readonly Rule[] = [
  [/^certificate verification failed: (.+)$/s, (m) => x509Code(m[1] ?? '')],
  [/^name `.*' not present in server certificate$/s, 'ERR_TLS_CERT_ALTNAME_INVALID'],
  [/^error verifying name '.*': /s, 'ERR_TLS_CERT_ALTNAME_INVALID'],
  [/^ocsp verify failed: revoked cert - /, 'CERT_REVOKED'],
  [/^ocsp verify failed: ocsp response not current$/, 'ERR_TLS_OCSP_NOT_CURRENT'],
  [/^no stapled OCSP response provided$/, 'ERR_TLS_OCSP_STAPLE_REQUIRED'],
  [/^no OCSP URLs in peer certificate$/, 'ERR_TLS_OCSP_NO_URL'],
  // LibreSSL's libtls: the transport ended during the handshake with nothing queued (libretls's
  // OpenSSL queues "unexpected eof while reading", ECONNRESET below): as Node.js says it
  [/^handshake failed: unexpected EOF$/, 'ECONNRESET'],
  // LibreSSL's tls_close (and the addon's tls_read on its own transports) after the peer's
  // transport ended without a close_notify
  [/^EOF without close notify$/, 'ERR_TLS_TRUNCATED'],
  [
    /^(ocsp verify failed|unable to parse (OCSP response|\S+ time in OCSP reply)|cannot load ocsp reply|no peer certificate for OCSP)/,
    'ERR_TLS_OCSP_INVALID',
  ],
];

/** An OpenSSL code that Node.js reports differently for the same failure, by libtls call. */
function fromOpenssl(code: string, op: string): string {
  if (code === 'ERR_SSL_UNEXPECTED_EOF_WHILE_READING') {
    // the peer's socket closed: Node.js says ECONNRESET during the handshake; after it, data may
    // be missing (the peer sent no close_notify)
    return op === 'tls_read' ? 'ERR_TLS_TRUNCATED' : 'ECONNRESET';
  }
  return code;
}

/** What the failed libtls call says when nothing more precise is known. */
function fromOp(op: string): string {
  if (op.startsWith('tls_config') || op === 'tls_configure' || op === 'tls_load_file')
    return 'ERR_TLS_CONFIG';
  if (op === 'tls_handshake') return 'ERR_TLS_HANDSHAKE';
  if (op === 'tls_read' || op === 'tls_write' || op === 'tls_close') return 'ERR_TLS_IO';
  if (op.startsWith('tls_ocsp') || op.startsWith('tls_peer_ocsp')) return 'ERR_TLS_OCSP_INVALID';
  if (op.startsWith('tls_connect') || op.startsWith('tls_accept')) return 'ERR_TLS_CONNECT';
  return 'ERR_TLS';
}

/** The `code` of a failure. */
export function classify(f: FailureFacts): string {
  if (f.code !== undefined) return f.code;
  if (f.errno !== undefined) return systemErrorName(f.errno);
  for (const [re, code] of LIBTLS_TEXTS) {
    const m = re.exec(f.message);
    if (m !== null) return typeof code === 'string' ? code : code(m);
  }
  if (f.opensslCode !== undefined) return fromOpenssl(f.opensslCode, f.op);
  return fromOp(f.op);
}
