// The constants of tls.h, each under its tls.h name without the `TLS_` prefix (`TLS_API` keeps it;
// docs/api.md, "Names"). Values come from the compiled addon, so they are the system libtls's own;
// the literal types document them for TypeScript users.
import { native } from './native.js';

const c = native.constants;
function k<T extends number>(name: string): T {
  const v = c[name];
  if (typeof v !== 'number') throw new Error(`libtls: the addon lacks constant ${name}`);
  return v as T;
}

/** The fd must become readable before the same call is repeated. */
export const WANT_POLLIN = k<-2>('TLS_WANT_POLLIN');
/** The fd must become writable before the same call is repeated. */
export const WANT_POLLOUT = k<-3>('TLS_WANT_POLLOUT');
/** `WANT_POLLIN | WANT_POLLOUT`: what a non-blocking libtls call may ask for. */
export type Want = typeof WANT_POLLIN | typeof WANT_POLLOUT;

/** `TLS_PROTOCOL_TLSv1_0`: TLS 1.0. */
export const PROTOCOL_TLSv1_0 = k('TLS_PROTOCOL_TLSv1_0');
/** `TLS_PROTOCOL_TLSv1_1`: TLS 1.1. */
export const PROTOCOL_TLSv1_1 = k('TLS_PROTOCOL_TLSv1_1');
/** `TLS_PROTOCOL_TLSv1_2`: TLS 1.2. */
export const PROTOCOL_TLSv1_2 = k('TLS_PROTOCOL_TLSv1_2');
/** `TLS_PROTOCOL_TLSv1_3`: TLS 1.3. */
export const PROTOCOL_TLSv1_3 = k('TLS_PROTOCOL_TLSv1_3');
/** `TLS_PROTOCOL_TLSv1`: TLS 1.0 to 1.3. */
export const PROTOCOL_TLSv1 = k('TLS_PROTOCOL_TLSv1');
/** `TLS_PROTOCOLS_ALL`: every version libtls knows (what the keyword `'all'` parses to). */
export const PROTOCOLS_ALL = k('TLS_PROTOCOLS_ALL');
/** `TLS_PROTOCOLS_DEFAULT`: TLS 1.2 and 1.3. */
export const PROTOCOLS_DEFAULT = k('TLS_PROTOCOLS_DEFAULT');

/** Alias of {@link PROTOCOL_TLSv1_0}, kept because the first README documented it (docs/api.md, "Names"). */
export const TLS_v10 = PROTOCOL_TLSv1_0;
/** Alias of {@link PROTOCOL_TLSv1_1}, kept because the first README documented it (docs/api.md, "Names"). */
export const TLS_v11 = PROTOCOL_TLSv1_1;
/** Alias of {@link PROTOCOL_TLSv1_2}, kept because the first README documented it (docs/api.md, "Names"). */
export const TLS_v12 = PROTOCOL_TLSv1_2;
/** Alias of {@link PROTOCOL_TLSv1_3}, kept because the first README documented it (docs/api.md, "Names"). */
export const TLS_v13 = PROTOCOL_TLSv1_3;
/** Alias of {@link PROTOCOL_TLSv1} (TLS 1.0 to 1.3), kept because the first README documented it (docs/api.md, "Names"). */
export const TLS_v1x = PROTOCOL_TLSv1;
/** Alias of {@link PROTOCOLS_DEFAULT} (TLS 1.2 and 1.3), kept because the first README documented it (docs/api.md, "Names"). */
export const TLS_DEFAULT = PROTOCOLS_DEFAULT;

export const OCSP_CERT_GOOD = k('TLS_OCSP_CERT_GOOD');
export const OCSP_CERT_REVOKED = k('TLS_OCSP_CERT_REVOKED');
export const OCSP_CERT_UNKNOWN = k('TLS_OCSP_CERT_UNKNOWN');

export const OCSP_RESPONSE_SUCCESSFUL = k('TLS_OCSP_RESPONSE_SUCCESSFUL');
export const OCSP_RESPONSE_MALFORMED = k('TLS_OCSP_RESPONSE_MALFORMED');
export const OCSP_RESPONSE_INTERNALERROR = k('TLS_OCSP_RESPONSE_INTERNALERROR');
export const OCSP_RESPONSE_TRYLATER = k('TLS_OCSP_RESPONSE_TRYLATER');
export const OCSP_RESPONSE_SIGREQUIRED = k('TLS_OCSP_RESPONSE_SIGREQUIRED');
export const OCSP_RESPONSE_UNAUTHORIZED = k('TLS_OCSP_RESPONSE_UNAUTHORIZED');

export const CRL_REASON_UNSPECIFIED = k('TLS_CRL_REASON_UNSPECIFIED');
export const CRL_REASON_KEY_COMPROMISE = k('TLS_CRL_REASON_KEY_COMPROMISE');
export const CRL_REASON_CA_COMPROMISE = k('TLS_CRL_REASON_CA_COMPROMISE');
export const CRL_REASON_AFFILIATION_CHANGED = k('TLS_CRL_REASON_AFFILIATION_CHANGED');
export const CRL_REASON_SUPERSEDED = k('TLS_CRL_REASON_SUPERSEDED');
export const CRL_REASON_CESSATION_OF_OPERATION = k('TLS_CRL_REASON_CESSATION_OF_OPERATION');
export const CRL_REASON_CERTIFICATE_HOLD = k('TLS_CRL_REASON_CERTIFICATE_HOLD');
export const CRL_REASON_REMOVE_FROM_CRL = k('TLS_CRL_REASON_REMOVE_FROM_CRL');
export const CRL_REASON_PRIVILEGE_WITHDRAWN = k('TLS_CRL_REASON_PRIVILEGE_WITHDRAWN');
export const CRL_REASON_AA_COMPROMISE = k('TLS_CRL_REASON_AA_COMPROMISE');

/** The tls.h API version (`TLS_API`), e.g. 20200120. */
export const TLS_API = k('TLS_API');
export const MAX_SESSION_ID_LENGTH = k('TLS_MAX_SESSION_ID_LENGTH');
export const TICKET_KEY_SIZE = k('TLS_TICKET_KEY_SIZE');
