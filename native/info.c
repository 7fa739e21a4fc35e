/*
 * Connection, peer certificate and OCSP information: the tls_conn_*, tls_peer_* and tls_ocsp_*
 * calls. The getters only read (they are allowed from inside a transport callback).
 *
 * Guards: OCSP only on a client after its handshake; tls_ocsp_process_response never again after
 * a failed call, never without a responder URL in the peer certificate (libtls dereferences NULL),
 * and on TLS 1.3 never after the first read (libtls then holds a freed peer chain).
 */
#include "context.h"

#include <stdlib.h>
#include <string.h>

/* ---- connection and peer information ---- */

#define STR_GETTER(fn)                                                                             \
  static napi_value js_##fn(napi_env env, napi_callback_info info) {                               \
    ARGS(1);                                                                                       \
    lt_ctx *c;                                                                                     \
    TRY(lt_ctx_peek(env, argv[0], #fn, &c));                                                       \
    return lt_string_or_null(env, fn(c->tls));                                                     \
  }

/*
 * Numeric getters: -1 is libtls's failure value and becomes a TlsError. The getters set no error
 * text, so tls_error() would show an earlier call's failure: use our sentence.
 */
#define NUM_GETTER(fn, message)                                                                    \
  static napi_value js_##fn(napi_env env, napi_callback_info info) {                               \
    ARGS(1);                                                                                       \
    lt_ctx *c;                                                                                     \
    TRY(lt_ctx_peek(env, argv[0], #fn, &c));                                                       \
    int64_t v = (int64_t)fn(c->tls);                                                               \
    if (v == -1)                                                                                   \
      return lt_throw_state(env, #fn, message);                                                    \
    return lt_int(env, v);                                                                         \
  }

STR_GETTER(tls_conn_version)
STR_GETTER(tls_conn_cipher)
STR_GETTER(tls_conn_alpn_selected)
STR_GETTER(tls_conn_servername)
STR_GETTER(tls_peer_cert_hash)
STR_GETTER(tls_peer_cert_issuer)
STR_GETTER(tls_peer_cert_subject)
NUM_GETTER(tls_conn_cipher_strength, "no cipher negotiated")
NUM_GETTER(tls_peer_cert_notbefore, "no peer certificate")
NUM_GETTER(tls_peer_cert_notafter, "no peer certificate")

static napi_value js_tls_conn_session_resumed(napi_env env, napi_callback_info info) {
  ARGS(1);
  lt_ctx *c;
  TRY(lt_ctx_peek(env, argv[0], "tls_conn_session_resumed", &c));
  return lt_bool(env, tls_conn_session_resumed(c->tls) == 1);
}

static napi_value js_tls_peer_cert_provided(napi_env env, napi_callback_info info) {
  ARGS(1);
  lt_ctx *c;
  TRY(lt_ctx_peek(env, argv[0], "tls_peer_cert_provided", &c));
  return lt_bool(env, tls_peer_cert_provided(c->tls) == 1);
}

static napi_value js_tls_peer_cert_contains_name(napi_env env, napi_callback_info info) {
  ARGS(2);
  lt_ctx *c;
  char *name;
  TRY(lt_ctx_peek(env, argv[0], "tls_peer_cert_contains_name", &c));
  TRY(lt_get_string(env, argv[1], false, &name));
  int rc = tls_peer_cert_contains_name(c->tls, name);
  free(name);
  return lt_bool(env, rc == 1);
}

static napi_value js_tls_peer_cert_chain_pem(napi_env env, napi_callback_info info) {
  ARGS(1);
  lt_ctx *c;
  TRY(lt_ctx_peek(env, argv[0], "tls_peer_cert_chain_pem", &c));
  size_t len = 0;
  const uint8_t *pem = tls_peer_cert_chain_pem(c->tls, &len);
  napi_value v;
  if (pem == NULL)
    NAPI_CALL(env, napi_get_null(env, &v));
  else
    NAPI_CALL(env, napi_create_string_utf8(env, (const char *)pem, len, &v));
  return v;
}

/* ---- OCSP: only on a client whose handshake completed ---- */

static int ocsp_ready(napi_env env, lt_ctx *c, const char *op) {
  if (c->kind != LT_KIND_CLIENT) {
    lt_throw_state(env, op, "OCSP is only available on a client context");
    return -1;
  }
  if (!c->life.handshaken) {
    lt_throw_state(env, op, "the handshake has not completed");
    return -1;
  }
  return 0;
}

static napi_value js_tls_ocsp_process_response(napi_env env, napi_callback_info info) {
  ARGS(2);
  lt_ctx *c;
  uint8_t *data;
  size_t len;
  const char *op = "tls_ocsp_process_response";
  TRY(lt_ctx_get(env, argv[0], op, &c));
  TRY(ocsp_ready(env, c, op));
  TRY(lt_get_bytes(env, argv[1], false, &data, &len));
  if (c->life.ocsp_failed)
    return lt_throw_state(env, op, "an earlier OCSP response failed to process on this context");
  if (len == 0)
    return lt_throw_tls_code(env, op, "empty OCSP response", "ERR_INVALID_ARG_VALUE");
  /* libretls keeps the peer chain of the handshake's session without a reference; on TLS 1.3 the
     first read processes the server's session tickets, OpenSSL replaces the session and frees that
     chain, and tls_ocsp_process_response would verify against freed memory */
  const char *version = tls_conn_version(c->tls);
  if (c->life.has_read && version != NULL && strcmp(version, "TLSv1.3") == 0)
    return lt_throw_state(
        env, op,
        "on TLS 1.3 an OCSP response must be processed before the first read (libtls "
        "loses the peer's certificate chain when the session tickets arrive)");
  /* libtls keeps OCSP state only for a peer certificate with a responder URL (and drops it after a
     response fails to parse); without it tls_ocsp_process_response dereferences NULL */
  if (tls_peer_ocsp_url(c->tls) == NULL)
    return lt_throw_state(
        env, op,
        "the peer certificate names no OCSP responder: there is nothing to check an "
        "OCSP response against");
  if (tls_ocsp_process_response(c->tls, data, len) != 0) {
    c->life.ocsp_failed = true;
    return lt_ctx_fail(env, c->tls, op, "invalid OCSP response");
  }
  return lt_undefined(env);
}

/*
 * OCSP numbers: -1 before any response was processed is a TlsError; after one, -1 means the
 * response does not carry that value (no revocation time for a good certificate, no nextUpdate)
 * and becomes null.
 */
#define OCSP_NUM(fn)                                                                               \
  static napi_value js_##fn(napi_env env, napi_callback_info info) {                               \
    ARGS(1);                                                                                       \
    lt_ctx *c;                                                                                     \
    TRY(lt_ctx_peek(env, argv[0], #fn, &c));                                                       \
    TRY(ocsp_ready(env, c, #fn));                                                                  \
    int64_t v = (int64_t)fn(c->tls);                                                               \
    if (v != -1)                                                                                   \
      return lt_int(env, v);                                                                       \
    if (tls_peer_ocsp_result(c->tls) == NULL)                                                      \
      return lt_throw_state(env, #fn, "no OCSP response has been processed");                      \
    return lt_string_or_null(env, NULL);                                                           \
  }

#define OCSP_STR(fn)                                                                               \
  static napi_value js_##fn(napi_env env, napi_callback_info info) {                               \
    ARGS(1);                                                                                       \
    lt_ctx *c;                                                                                     \
    TRY(lt_ctx_peek(env, argv[0], #fn, &c));                                                       \
    TRY(ocsp_ready(env, c, #fn));                                                                  \
    return lt_string_or_null(env, fn(c->tls));                                                     \
  }

OCSP_NUM(tls_peer_ocsp_cert_status)
OCSP_NUM(tls_peer_ocsp_crl_reason)
OCSP_NUM(tls_peer_ocsp_response_status)
OCSP_NUM(tls_peer_ocsp_next_update)
OCSP_NUM(tls_peer_ocsp_this_update)
OCSP_NUM(tls_peer_ocsp_revocation_time)
OCSP_STR(tls_peer_ocsp_result)
OCSP_STR(tls_peer_ocsp_url)

napi_status lt_info_init(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      EXPORT_FN("tls_conn_version", js_tls_conn_version),
      EXPORT_FN("tls_conn_cipher", js_tls_conn_cipher),
      EXPORT_FN("tls_conn_alpn_selected", js_tls_conn_alpn_selected),
      EXPORT_FN("tls_conn_servername", js_tls_conn_servername),
      EXPORT_FN("tls_peer_cert_hash", js_tls_peer_cert_hash),
      EXPORT_FN("tls_peer_cert_issuer", js_tls_peer_cert_issuer),
      EXPORT_FN("tls_peer_cert_subject", js_tls_peer_cert_subject),
      EXPORT_FN("tls_conn_cipher_strength", js_tls_conn_cipher_strength),
      EXPORT_FN("tls_peer_cert_notbefore", js_tls_peer_cert_notbefore),
      EXPORT_FN("tls_peer_cert_notafter", js_tls_peer_cert_notafter),
      EXPORT_FN("tls_peer_ocsp_cert_status", js_tls_peer_ocsp_cert_status),
      EXPORT_FN("tls_peer_ocsp_crl_reason", js_tls_peer_ocsp_crl_reason),
      EXPORT_FN("tls_peer_ocsp_response_status", js_tls_peer_ocsp_response_status),
      EXPORT_FN("tls_peer_ocsp_next_update", js_tls_peer_ocsp_next_update),
      EXPORT_FN("tls_peer_ocsp_this_update", js_tls_peer_ocsp_this_update),
      EXPORT_FN("tls_peer_ocsp_revocation_time", js_tls_peer_ocsp_revocation_time),
      EXPORT_FN("tls_peer_ocsp_result", js_tls_peer_ocsp_result),
      EXPORT_FN("tls_peer_ocsp_url", js_tls_peer_ocsp_url),
      EXPORT_FN("tls_conn_session_resumed", js_tls_conn_session_resumed),
      EXPORT_FN("tls_peer_cert_provided", js_tls_peer_cert_provided),
      EXPORT_FN("tls_peer_cert_contains_name", js_tls_peer_cert_contains_name),
      EXPORT_FN("tls_peer_cert_chain_pem", js_tls_peer_cert_chain_pem),
      EXPORT_FN("tls_ocsp_process_response", js_tls_ocsp_process_response),
  };
  return napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns);
}
