/*
 * struct tls_config, one JavaScript function per tls_config_* call.
 *
 * libtls keeps a reference count on a config: a context that was configured with it keeps it alive
 * after tls_config_free(), so freeing here never pulls a config from under a live context.
 */
#include "addon.h"

#include <errno.h>

#include <stdlib.h>
#include <string.h>

static const napi_type_tag config_tag = {0x6c6962746c73636fULL, 0x6e6669672d763101ULL};

static void config_finalize(napi_env env, void *data, void *hint) {
  lt_config *c = data;
  if (c->cfg)
    tls_config_free(c->cfg);
  free(c->last_error_copy);
  free(c);
}

int lt_config_from(napi_env env, napi_value v, lt_config **out) {
  void *p = NULL;
  if (lt_unwrap(env, v, &config_tag, "Config", &p) != 0)
    return -1;
  lt_config *c = p;
  if (c->cfg == NULL) {
    lt_throw_state(env, "tls_config", "the Config has been freed");
    return -1;
  }
  lt_clear_ssl_errors(); /* what the queue holds after the call is then the call's own */
  *out = c;
  return 0;
}

/*
 * Throws the error of a failed tls_config_* call. tls_config_error() is never cleared: after a
 * failure that sets no text of its own, it still holds an earlier failure's text. libtls frees the
 * old text before allocating the new one, so a new text often comes back at the same address:
 * the text is taken as stale only when the pointer, the content and the call all repeat from a
 * *different* earlier failure; a repeat of the same call failing the same way keeps its text.
 */
static napi_value config_fail(napi_env env, lt_config *c, const char *op, const char *fallback) {
  const char *e = tls_config_error(c->cfg);
  if (e == NULL)
    return lt_throw_tls(env, op, fallback);
  if (e == c->last_error && c->last_error_copy && strcmp(e, c->last_error_copy) == 0 &&
      (c->last_error_op == NULL || strcmp(c->last_error_op, op) != 0))
    return lt_throw_tls(env, op, fallback);
  if (e != c->last_error || !c->last_error_copy || strcmp(e, c->last_error_copy) != 0) {
    free(c->last_error_copy);
    c->last_error_copy = strdup(e);
  }
  c->last_error = e;
  c->last_error_op = op;
  return lt_throw_tls(env, op, e);
}

static napi_value js_tls_config_new(napi_env env, napi_callback_info info) {
  lt_config *c = calloc(1, sizeof(*c));
  if (c == NULL || (c->cfg = tls_config_new()) == NULL) {
    free(c);
    return lt_throw_tls_errno(env, "tls_config_new", "out of memory", ENOMEM);
  }
  napi_value obj;
  napi_status st = napi_create_object(env, &obj);
  if (st != napi_ok) {
    config_finalize(env, c, NULL);
    NAPI_CALL(env, st);
  }
  if (lt_wrap(env, obj, &config_tag, c, config_finalize) != 0) {
    config_finalize(env, c, NULL);
    return NULL;
  }
  return obj;
}

static napi_value js_tls_config_free(napi_env env, napi_callback_info info) {
  ARGS(1);
  void *p = NULL;
  TRY(lt_unwrap(env, argv[0], &config_tag, "Config", &p));
  lt_config *c = p;
  if (c->cfg) {
    tls_config_free(c->cfg);
    c->cfg = NULL;
  }
  return lt_undefined(env);
}

typedef int (*str_fn)(struct tls_config *, const char *);
typedef int (*mem_fn)(struct tls_config *, const uint8_t *, size_t);
typedef void (*void_fn)(struct tls_config *);

static napi_value call_str(napi_env env, napi_callback_info info, str_fn fn, const char *op,
                           const char *fallback) {
  ARGS(2);
  lt_config *c;
  char *s;
  TRY(lt_config_from(env, argv[0], &c));
  TRY(lt_get_string(env, argv[1], false, &s));
  int rc = fn(c->cfg, s);
  free(s);
  if (rc != 0)
    return config_fail(env, c, op, fallback);
  return lt_undefined(env);
}

static napi_value call_mem(napi_env env, napi_callback_info info, mem_fn fn, const char *op,
                           const char *fallback) {
  ARGS(2);
  lt_config *c;
  uint8_t *data;
  size_t len;
  TRY(lt_config_from(env, argv[0], &c));
  TRY(lt_get_bytes(env, argv[1], false, &data, &len));
  if (fn(c->cfg, data, len) != 0)
    return config_fail(env, c, op, fallback);
  return lt_undefined(env);
}

static napi_value call_void(napi_env env, napi_callback_info info, void_fn fn) {
  ARGS(1);
  lt_config *c;
  TRY(lt_config_from(env, argv[0], &c));
  fn(c->cfg);
  return lt_undefined(env);
}

#define STR_SETTER(fn, fallback)                                                                   \
  static napi_value js_##fn(napi_env env, napi_callback_info info) {                               \
    return call_str(env, info, fn, #fn, fallback);                                                 \
  }
#define MEM_SETTER(fn, fallback)                                                                   \
  static napi_value js_##fn(napi_env env, napi_callback_info info) {                               \
    return call_mem(env, info, fn, #fn, fallback);                                                 \
  }
#define VOID_CALL(fn)                                                                              \
  static napi_value js_##fn(napi_env env, napi_callback_info info) {                               \
    return call_void(env, info, fn);                                                               \
  }

STR_SETTER(tls_config_set_alpn, "invalid ALPN protocol list")
STR_SETTER(tls_config_set_ca_file, "cannot load the CA file")
STR_SETTER(tls_config_set_ca_path, "cannot use the CA path")
STR_SETTER(tls_config_set_cert_file, "cannot load the certificate file")
STR_SETTER(tls_config_set_ciphers, "invalid cipher list")
STR_SETTER(tls_config_set_crl_file, "cannot load the CRL file")
STR_SETTER(tls_config_set_dheparams, "invalid DHE parameters")
STR_SETTER(tls_config_set_ecdhecurve, "invalid ECDHE curve")
STR_SETTER(tls_config_set_ecdhecurves, "invalid ECDHE curve list")
STR_SETTER(tls_config_set_key_file, "cannot load the key file")
STR_SETTER(tls_config_set_ocsp_staple_file, "cannot load the OCSP staple file")
MEM_SETTER(tls_config_set_ca_mem, "invalid CA certificates")
MEM_SETTER(tls_config_set_cert_mem, "invalid certificate")
MEM_SETTER(tls_config_set_crl_mem, "invalid CRL")
MEM_SETTER(tls_config_set_key_mem, "invalid private key")
MEM_SETTER(tls_config_set_ocsp_staple_mem, "invalid OCSP staple")
MEM_SETTER(tls_config_set_session_id, "invalid session id")
VOID_CALL(tls_config_prefer_ciphers_client)
VOID_CALL(tls_config_prefer_ciphers_server)
VOID_CALL(tls_config_insecure_noverifycert)
VOID_CALL(tls_config_insecure_noverifyname)
VOID_CALL(tls_config_insecure_noverifytime)
VOID_CALL(tls_config_verify)
VOID_CALL(tls_config_ocsp_require_stapling)
VOID_CALL(tls_config_verify_client)
VOID_CALL(tls_config_verify_client_optional)
VOID_CALL(tls_config_clear_keys)

/* tls_config_set_protocols(cfg, mask) */
static napi_value js_tls_config_set_protocols(napi_env env, napi_callback_info info) {
  ARGS(2);
  lt_config *c;
  uint32_t protocols;
  TRY(lt_config_from(env, argv[0], &c));
  TRY(lt_get_uint32(env, argv[1], &protocols));
  if (tls_config_set_protocols(c->cfg, protocols) != 0)
    return config_fail(env, c, "tls_config_set_protocols", "invalid protocols");
  return lt_undefined(env);
}

typedef int (*int_fn)(struct tls_config *, int);

static napi_value call_int(napi_env env, napi_callback_info info, int_fn fn, const char *op,
                           const char *fallback) {
  ARGS(2);
  lt_config *c;
  int32_t n;
  TRY(lt_config_from(env, argv[0], &c));
  TRY(lt_get_int32(env, argv[1], &n));
  if (fn(c->cfg, n) != 0)
    return config_fail(env, c, op, fallback);
  return lt_undefined(env);
}

static napi_value js_tls_config_set_session_fd(napi_env env, napi_callback_info info) {
  return call_int(env, info, tls_config_set_session_fd, "tls_config_set_session_fd",
                  "the session fd must be a regular file open for reading and writing");
}
static napi_value js_tls_config_set_verify_depth(napi_env env, napi_callback_info info) {
  return call_int(env, info, tls_config_set_verify_depth, "tls_config_set_verify_depth",
                  "invalid verify depth");
}
static napi_value js_tls_config_set_session_lifetime(napi_env env, napi_callback_info info) {
  return call_int(env, info, tls_config_set_session_lifetime, "tls_config_set_session_lifetime",
                  "invalid session lifetime");
}

/* tls_config_add_ticket_key(cfg, keyrev, key) */
static napi_value js_tls_config_add_ticket_key(napi_env env, napi_callback_info info) {
  ARGS(3);
  lt_config *c;
  uint32_t keyrev;
  uint8_t *key;
  size_t len;
  TRY(lt_config_from(env, argv[0], &c));
  TRY(lt_get_uint32(env, argv[1], &keyrev));
  TRY(lt_get_bytes(env, argv[2], false, &key, &len));
  if (tls_config_add_ticket_key(c->cfg, keyrev, key, len) != 0)
    return config_fail(env, c, "tls_config_add_ticket_key", "invalid ticket key");
  return lt_undefined(env);
}

/* tls_config_{add,set}_keypair_ocsp_{file,mem}(cfg, cert, key, staple | null): without a staple,
   the call without _ocsp_ */
static napi_value keypair_file(napi_env env, napi_callback_info info, bool add) {
  ARGS(4);
  lt_config *c;
  char *cert = NULL, *key = NULL, *staple = NULL;
  TRY(lt_config_from(env, argv[0], &c));
  napi_value ret = NULL;
  if (lt_get_string(env, argv[1], false, &cert) == 0 &&
      lt_get_string(env, argv[2], false, &key) == 0 &&
      lt_get_string(env, argv[3], true, &staple) == 0) {
    int rc;
    const char *op;
    if (staple) {
      op = add ? "tls_config_add_keypair_ocsp_file" : "tls_config_set_keypair_ocsp_file";
      rc = add ? tls_config_add_keypair_ocsp_file(c->cfg, cert, key, staple)
               : tls_config_set_keypair_ocsp_file(c->cfg, cert, key, staple);
    } else {
      op = add ? "tls_config_add_keypair_file" : "tls_config_set_keypair_file";
      rc = add ? tls_config_add_keypair_file(c->cfg, cert, key)
               : tls_config_set_keypair_file(c->cfg, cert, key);
    }
    ret = rc != 0 ? config_fail(env, c, op, "cannot load the certificate or key file")
                  : lt_undefined(env);
  }
  free(cert);
  free(key);
  free(staple);
  return ret;
}

static napi_value keypair_mem(napi_env env, napi_callback_info info, bool add) {
  ARGS(4);
  lt_config *c;
  uint8_t *cert, *key, *staple;
  size_t cert_len, key_len, staple_len;
  TRY(lt_config_from(env, argv[0], &c));
  TRY(lt_get_bytes(env, argv[1], false, &cert, &cert_len));
  TRY(lt_get_bytes(env, argv[2], false, &key, &key_len));
  TRY(lt_get_bytes(env, argv[3], true, &staple, &staple_len));
  int rc;
  const char *op;
  if (staple) {
    op = add ? "tls_config_add_keypair_ocsp_mem" : "tls_config_set_keypair_ocsp_mem";
    rc = add ? tls_config_add_keypair_ocsp_mem(c->cfg, cert, cert_len, key, key_len, staple,
                                               staple_len)
             : tls_config_set_keypair_ocsp_mem(c->cfg, cert, cert_len, key, key_len, staple,
                                               staple_len);
  } else {
    op = add ? "tls_config_add_keypair_mem" : "tls_config_set_keypair_mem";
    rc = add ? tls_config_add_keypair_mem(c->cfg, cert, cert_len, key, key_len)
             : tls_config_set_keypair_mem(c->cfg, cert, cert_len, key, key_len);
  }
  if (rc != 0)
    return config_fail(env, c, op, "invalid certificate or private key");
  return lt_undefined(env);
}

static napi_value js_tls_config_add_keypair_ocsp_file(napi_env env, napi_callback_info info) {
  return keypair_file(env, info, true);
}
static napi_value js_tls_config_set_keypair_ocsp_file(napi_env env, napi_callback_info info) {
  return keypair_file(env, info, false);
}
static napi_value js_tls_config_add_keypair_ocsp_mem(napi_env env, napi_callback_info info) {
  return keypair_mem(env, info, true);
}
static napi_value js_tls_config_set_keypair_ocsp_mem(napi_env env, napi_callback_info info) {
  return keypair_mem(env, info, false);
}

napi_status lt_config_init(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      EXPORT_FN("tls_config_new", js_tls_config_new),
      EXPORT_FN("tls_config_free", js_tls_config_free),
      EXPORT_FN("tls_config_set_alpn", js_tls_config_set_alpn),
      EXPORT_FN("tls_config_set_ca_file", js_tls_config_set_ca_file),
      EXPORT_FN("tls_config_set_ca_path", js_tls_config_set_ca_path),
      EXPORT_FN("tls_config_set_cert_file", js_tls_config_set_cert_file),
      EXPORT_FN("tls_config_set_ciphers", js_tls_config_set_ciphers),
      EXPORT_FN("tls_config_set_crl_file", js_tls_config_set_crl_file),
      EXPORT_FN("tls_config_set_dheparams", js_tls_config_set_dheparams),
      EXPORT_FN("tls_config_set_ecdhecurve", js_tls_config_set_ecdhecurve),
      EXPORT_FN("tls_config_set_ecdhecurves", js_tls_config_set_ecdhecurves),
      EXPORT_FN("tls_config_set_key_file", js_tls_config_set_key_file),
      EXPORT_FN("tls_config_set_ocsp_staple_file", js_tls_config_set_ocsp_staple_file),
      EXPORT_FN("tls_config_set_ca_mem", js_tls_config_set_ca_mem),
      EXPORT_FN("tls_config_set_cert_mem", js_tls_config_set_cert_mem),
      EXPORT_FN("tls_config_set_crl_mem", js_tls_config_set_crl_mem),
      EXPORT_FN("tls_config_set_key_mem", js_tls_config_set_key_mem),
      EXPORT_FN("tls_config_set_ocsp_staple_mem", js_tls_config_set_ocsp_staple_mem),
      EXPORT_FN("tls_config_set_session_id", js_tls_config_set_session_id),
      EXPORT_FN("tls_config_prefer_ciphers_client", js_tls_config_prefer_ciphers_client),
      EXPORT_FN("tls_config_prefer_ciphers_server", js_tls_config_prefer_ciphers_server),
      EXPORT_FN("tls_config_insecure_noverifycert", js_tls_config_insecure_noverifycert),
      EXPORT_FN("tls_config_insecure_noverifyname", js_tls_config_insecure_noverifyname),
      EXPORT_FN("tls_config_insecure_noverifytime", js_tls_config_insecure_noverifytime),
      EXPORT_FN("tls_config_verify", js_tls_config_verify),
      EXPORT_FN("tls_config_ocsp_require_stapling", js_tls_config_ocsp_require_stapling),
      EXPORT_FN("tls_config_verify_client", js_tls_config_verify_client),
      EXPORT_FN("tls_config_verify_client_optional", js_tls_config_verify_client_optional),
      EXPORT_FN("tls_config_clear_keys", js_tls_config_clear_keys),
      EXPORT_FN("tls_config_set_protocols", js_tls_config_set_protocols),
      EXPORT_FN("tls_config_set_session_fd", js_tls_config_set_session_fd),
      EXPORT_FN("tls_config_set_verify_depth", js_tls_config_set_verify_depth),
      EXPORT_FN("tls_config_set_session_lifetime", js_tls_config_set_session_lifetime),
      EXPORT_FN("tls_config_add_ticket_key", js_tls_config_add_ticket_key),
      EXPORT_FN("tls_config_add_keypair_ocsp_file", js_tls_config_add_keypair_ocsp_file),
      EXPORT_FN("tls_config_set_keypair_ocsp_file", js_tls_config_set_keypair_ocsp_file),
      EXPORT_FN("tls_config_add_keypair_ocsp_mem", js_tls_config_add_keypair_ocsp_mem),
      EXPORT_FN("tls_config_set_keypair_ocsp_mem", js_tls_config_set_keypair_ocsp_mem),
  };
  return napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns);
}
