/*
 * Module entry: the init that registers every file's functions, the constants shared with the
 * TypeScript layer, and the libtls calls that need no object (tls_config_parse_protocols,
 * tls_default_ca_cert_file, tls_load_file), plus cipher_info (node:tls's getCipher() names).
 */
#include "addon.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* libssl, for cipher_info (opaque pointers: the build needs no OpenSSL headers) */
extern const void *TLS_method(void);
extern void *SSL_CTX_new(const void *method);
extern void SSL_CTX_free(void *ctx);
extern int SSL_CTX_set_cipher_list(void *ctx, const char *list);
extern void *SSL_CTX_get_ciphers(const void *ctx);
#ifdef LT_STATIC_LIBRESSL
/* LibreSSL linked in (binding.gyp's libtls_static): its stacks have the older names */
extern int sk_num(const void *stack);
extern void *sk_value(const void *stack, int i);
#define OPENSSL_sk_num sk_num
#define OPENSSL_sk_value sk_value
#else
extern int OPENSSL_sk_num(const void *stack);
extern void *OPENSSL_sk_value(const void *stack, int i);
#endif
extern const char *SSL_CIPHER_get_name(const void *cipher);
#ifndef LT_STATIC_LIBRESSL
extern const char *SSL_CIPHER_standard_name(const void *cipher);
#endif
extern const char *SSL_CIPHER_get_version(const void *cipher);

/*
 * cipher_info(name): [IANA name, the first protocol version with it] of the cipher OpenSSL calls
 * `name` (what tls_conn_cipher returns), as node:tls's getCipher() gives them; null if unknown
 */
static napi_value js_cipher_info(napi_env env, napi_callback_info info) {
  ARGS(1);
  char *name;
  TRY(lt_get_string(env, argv[0], false, &name));
  const char *found = NULL, *version = NULL;
  void *ctx = SSL_CTX_new(TLS_method());
  if (ctx != NULL && SSL_CTX_set_cipher_list(ctx, "ALL:COMPLEMENTOFALL") == 1) {
    void *list = SSL_CTX_get_ciphers(ctx);
    int n = list != NULL ? OPENSSL_sk_num(list) : 0;
    for (int i = 0; i < n; i++) {
      const void *c = OPENSSL_sk_value(list, i);
      const char *cn = c != NULL ? SSL_CIPHER_get_name(c) : NULL;
      if (cn != NULL && strcmp(cn, name) == 0) {
#ifdef LT_STATIC_LIBRESSL
        /* LibreSSL has no SSL_CIPHER_standard_name: its own name (the IANA one for TLS 1.3) */
        found = cn;
#else
        found = SSL_CIPHER_standard_name(c);
#endif
        version = SSL_CIPHER_get_version(c);
        break;
      }
    }
  }
  free(name);
  /* the names are static strings of libssl: valid after SSL_CTX_free */
  napi_value v = NULL, a, b;
  napi_status st = napi_get_null(env, &v);
  if (st == napi_ok && found != NULL && version != NULL) {
    if ((st = napi_create_array_with_length(env, 2, &v)) == napi_ok &&
        (st = napi_create_string_utf8(env, found, NAPI_AUTO_LENGTH, &a)) == napi_ok &&
        (st = napi_create_string_utf8(env, version, NAPI_AUTO_LENGTH, &b)) == napi_ok &&
        (st = napi_set_element(env, v, 0, a)) == napi_ok)
      st = napi_set_element(env, v, 1, b);
  }
  if (ctx != NULL)
    SSL_CTX_free(ctx);
  lt_clear_ssl_errors();
  NAPI_CALL(env, st);
  return v;
}

/* tls_config_parse_protocols(str): number */
static napi_value js_tls_config_parse_protocols(napi_env env, napi_callback_info info) {
  ARGS(1);
  char *s;
  TRY(lt_get_string(env, argv[0], false, &s));
  uint32_t protocols = 0;
  int rc = tls_config_parse_protocols(&protocols, s);
  free(s);
  if (rc != 0)
    return lt_throw_tls_code(env, "tls_config_parse_protocols", "invalid protocol string",
                             "ERR_TLS_CONFIG");
  return lt_int(env, protocols);
}

/* tls_default_ca_cert_file(): string */
static napi_value js_tls_default_ca_cert_file(napi_env env, napi_callback_info info) {
  return lt_string_or_null(env, tls_default_ca_cert_file());
}

/* tls_load_file(path, password | null): Buffer */
static napi_value js_tls_load_file(napi_env env, napi_callback_info info) {
  ARGS(2);
  char *path, *password;
  TRY(lt_get_string(env, argv[0], false, &path));
  if (lt_get_string(env, argv[1], true, &password) != 0) {
    free(path);
    return NULL;
  }
  size_t len = 0;
  errno = 0;
  uint8_t *data = tls_load_file(path, &len, password);
  int err = errno;
  if (password) {
    explicit_bzero(password, strlen(password));
    free(password);
  }
  if (data == NULL) {
    char msg[512];
    if (err != 0)
      snprintf(msg, sizeof(msg), "%s: %s", path, strerror(err));
    else
      snprintf(msg, sizeof(msg), "%s: cannot load (wrong password or not a PEM key?)", path);
    free(path);
    return err != 0 ? lt_throw_tls_errno(env, "tls_load_file", msg, err)
                    : lt_throw_tls_code(env, "tls_load_file", msg, "ERR_TLS_CONFIG");
  }
  free(path);
  napi_value buf;
  void *copy = NULL;
  napi_status st = napi_create_buffer_copy(env, len, data, &copy, &buf);
  tls_unload_file(data, len);
  NAPI_CALL(env, st);
  return buf;
}

static napi_value init(napi_env env, napi_value exports) {
  /* before any libtls call: a libtls whose calls would reach another ABI is refused here */
  if (lt_backend_check(env) != 0)
    return NULL;
  if (tls_init() != 0)
    return lt_throw_tls_code(env, "tls_init", "libtls failed to initialise", "ERR_TLS_INIT");
  NAPI_CALL(env, lt_errors_init(env, exports));
  napi_property_descriptor fns[] = {
      EXPORT_FN("tls_config_parse_protocols", js_tls_config_parse_protocols),
      EXPORT_FN("tls_default_ca_cert_file", js_tls_default_ca_cert_file),
      EXPORT_FN("tls_load_file", js_tls_load_file),
      EXPORT_FN("cipher_info", js_cipher_info),
  };
  NAPI_CALL(env, napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns));

  struct {
    const char *name;
    int64_t value;
  } constants[] = {
      {"TLS_API", TLS_API},
      {"TLS_PROTOCOL_TLSv1_0", TLS_PROTOCOL_TLSv1_0},
      {"TLS_PROTOCOL_TLSv1_1", TLS_PROTOCOL_TLSv1_1},
      {"TLS_PROTOCOL_TLSv1_2", TLS_PROTOCOL_TLSv1_2},
      {"TLS_PROTOCOL_TLSv1_3", TLS_PROTOCOL_TLSv1_3},
      {"TLS_PROTOCOL_TLSv1", TLS_PROTOCOL_TLSv1},
      {"TLS_PROTOCOLS_ALL", TLS_PROTOCOLS_ALL},
      {"TLS_PROTOCOLS_DEFAULT", TLS_PROTOCOLS_DEFAULT},
      {"TLS_WANT_POLLIN", TLS_WANT_POLLIN},
      {"TLS_WANT_POLLOUT", TLS_WANT_POLLOUT},
      {"TLS_OCSP_RESPONSE_SUCCESSFUL", TLS_OCSP_RESPONSE_SUCCESSFUL},
      {"TLS_OCSP_RESPONSE_MALFORMED", TLS_OCSP_RESPONSE_MALFORMED},
      {"TLS_OCSP_RESPONSE_INTERNALERROR", TLS_OCSP_RESPONSE_INTERNALERROR},
      {"TLS_OCSP_RESPONSE_TRYLATER", TLS_OCSP_RESPONSE_TRYLATER},
      {"TLS_OCSP_RESPONSE_SIGREQUIRED", TLS_OCSP_RESPONSE_SIGREQUIRED},
      {"TLS_OCSP_RESPONSE_UNAUTHORIZED", TLS_OCSP_RESPONSE_UNAUTHORIZED},
      {"TLS_OCSP_CERT_GOOD", TLS_OCSP_CERT_GOOD},
      {"TLS_OCSP_CERT_REVOKED", TLS_OCSP_CERT_REVOKED},
      {"TLS_OCSP_CERT_UNKNOWN", TLS_OCSP_CERT_UNKNOWN},
      {"TLS_CRL_REASON_UNSPECIFIED", TLS_CRL_REASON_UNSPECIFIED},
      {"TLS_CRL_REASON_KEY_COMPROMISE", TLS_CRL_REASON_KEY_COMPROMISE},
      {"TLS_CRL_REASON_CA_COMPROMISE", TLS_CRL_REASON_CA_COMPROMISE},
      {"TLS_CRL_REASON_AFFILIATION_CHANGED", TLS_CRL_REASON_AFFILIATION_CHANGED},
      {"TLS_CRL_REASON_SUPERSEDED", TLS_CRL_REASON_SUPERSEDED},
      {"TLS_CRL_REASON_CESSATION_OF_OPERATION", TLS_CRL_REASON_CESSATION_OF_OPERATION},
      {"TLS_CRL_REASON_CERTIFICATE_HOLD", TLS_CRL_REASON_CERTIFICATE_HOLD},
      {"TLS_CRL_REASON_REMOVE_FROM_CRL", TLS_CRL_REASON_REMOVE_FROM_CRL},
      {"TLS_CRL_REASON_PRIVILEGE_WITHDRAWN", TLS_CRL_REASON_PRIVILEGE_WITHDRAWN},
      {"TLS_CRL_REASON_AA_COMPROMISE", TLS_CRL_REASON_AA_COMPROMISE},
      {"TLS_MAX_SESSION_ID_LENGTH", TLS_MAX_SESSION_ID_LENGTH},
      {"IO_BYTES", LT_IO_BYTES},
      {"IO_WANT", LT_IO_WANT},
      {"IO_ERRNO", LT_IO_ERRNO},
      {"IO_FLAGS", LT_IO_FLAGS},
      {"IO_IN", LT_IO_IN},
      {"IO_OUT", LT_IO_OUT},
      {"IO_FIELDS", LT_IO_FIELDS},
      {"IO_FLAG_FAILED", LT_IO_FLAG_FAILED},
      {"STATE_FREED", LT_STATE_FREED},
      {"STATE_CONNECTED", LT_STATE_CONNECTED},
      {"STATE_HANDSHAKEN", LT_STATE_HANDSHAKEN},
      {"STATE_CONFIGURED", LT_STATE_CONFIGURED},
      {"STATE_OWNS_SOCKET", LT_STATE_OWNS_SOCKET},
      {"STATE_EOF_FAILURE", LT_STATE_EOF_FAILURE},
      {"STATE_FAILED", LT_STATE_FAILED},
      {"TLS_TICKET_KEY_SIZE", TLS_TICKET_KEY_SIZE},
      {"ACCEPTOR_SECURE", LT_ACCEPTOR_SECURE},
      {"ACCEPTOR_FAILED", LT_ACCEPTOR_FAILED},
      {"ACCEPTOR_TIMEOUT", LT_ACCEPTOR_TIMEOUT},
      {"ACCEPTOR_DROPPED", LT_ACCEPTOR_DROPPED},
      {"ACCEPTOR_ERROR", LT_ACCEPTOR_ERROR},
  };
  napi_value consts;
  NAPI_CALL(env, napi_create_object(env, &consts));
  for (size_t i = 0; i < sizeof(constants) / sizeof(constants[0]); i++) {
    napi_value v;
    NAPI_CALL(env, napi_create_int64(env, constants[i].value, &v));
    NAPI_CALL(env, napi_set_named_property(env, consts, constants[i].name, v));
  }
  NAPI_CALL(env, napi_set_named_property(env, exports, "constants", consts));

  NAPI_CALL(env, lt_backend_init(env, exports));
  NAPI_CALL(env, lt_config_init(env, exports));
  NAPI_CALL(env, lt_fd_init(env, exports));
  NAPI_CALL(env, lt_tcp_init(env, exports));
  NAPI_CALL(env, lt_context_init(env, exports));
  NAPI_CALL(env, lt_connect_init(env, exports));
  NAPI_CALL(env, lt_io_init(env, exports));
  NAPI_CALL(env, lt_info_init(env, exports));
  NAPI_CALL(env, lt_nodeio_init(env, exports));
  NAPI_CALL(env, lt_poll_init(env, exports));
  NAPI_CALL(env, lt_acceptor_init(env, exports));
  return exports;
}

NAPI_MODULE_INIT() { return init(env, exports); }
