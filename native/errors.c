/*
 * Errors: every failure reaches JavaScript as a TlsError (the class the TypeScript layer registers
 * with set_error_class) carrying what its `code` is derived from: an explicit code, the system
 * errno, or the OpenSSL error the failure queued. Also x509_verify_error, the reverse lookup of an
 * OpenSSL verification message.
 */
#include "addon.h"

#include <stdlib.h>
#include <string.h>

/*
 * libtls runs on the OpenSSL of the process: inside Node.js that is Node's own, shared with
 * node:tls, error queue included. A libtls failure leaves its OpenSSL errors queued, and the next
 * node:tls failure on this thread would report them as its own: the queue is cleared once the
 * failure's text has been taken.
 *
 * The headers are those of the library the calls reach: LibreSSL's, next to its tls.h, for the
 * static LibreSSL build (binding.gyp puts pkg-config's include directory first), else OpenSSL's
 * (Node's own, which node-gyp provides, for libretls on Node's OpenSSL). A packed error's layout
 * differs between them (OpenSSL 3: a system flag, the library in bits 23-30, the reason in 0-22;
 * LibreSSL: the library in bits 24-31, a function in 12-23, the reason in 0-11), so it is read with
 * the library's own ERR_GET_LIB.
 */
#ifdef LT_STATIC_LIBRESSL
/* node-gyp defines it on the command line for Node's OpenSSL; LibreSSL's headers define it too */
#undef OPENSSL_THREADS
#endif
#include <openssl/err.h>
#include <openssl/ssl.h>

extern const char *X509_verify_cert_error_string(long n);

/* Whether `e` is a system error (the errno of a failed call, not a TLS failure). */
static bool is_system_error(unsigned long e) {
#ifdef ERR_SYSTEM_ERROR
  if (ERR_SYSTEM_ERROR(e))
    return true;
#endif
  return ERR_GET_LIB(e) == ERR_LIB_SYS;
}

/*
 * Node.js's name for an OpenSSL library (its crypto_util.cc builds `ERR_OSSL_<LIB>_<REASON>`, and
 * `ERR_SSL_<REASON>` for libssl), by the library's own ERR_LIB_* numbers.
 */
static const char *lib_name(int lib) {
  static const struct {
    int lib;
    const char *name;
  } names[] = {
      {ERR_LIB_SYS, "SYS"},
      {ERR_LIB_BN, "BN"},
      {ERR_LIB_RSA, "RSA"},
      {ERR_LIB_DH, "DH"},
      {ERR_LIB_EVP, "EVP"},
      {ERR_LIB_BUF, "BUF"},
      {ERR_LIB_OBJ, "OBJ"},
      {ERR_LIB_PEM, "PEM"},
      {ERR_LIB_DSA, "DSA"},
      {ERR_LIB_X509, "X509"},
      {ERR_LIB_ASN1, "ASN1"},
      {ERR_LIB_CONF, "CONF"},
      {ERR_LIB_CRYPTO, "CRYPTO"},
      {ERR_LIB_EC, "EC"},
      {ERR_LIB_SSL, "SSL"},
      {ERR_LIB_BIO, "BIO"},
      {ERR_LIB_PKCS7, "PKCS7"},
      {ERR_LIB_X509V3, "X509V3"},
      {ERR_LIB_PKCS12, "PKCS12"},
      {ERR_LIB_RAND, "RAND"},
      {ERR_LIB_DSO, "DSO"},
      {ERR_LIB_ENGINE, "ENGINE"},
      {ERR_LIB_OCSP, "OCSP"},
      {ERR_LIB_UI, "UI"},
      {ERR_LIB_COMP, "COMP"},
      {ERR_LIB_ECDSA, "ECDSA"},
      {ERR_LIB_ECDH, "ECDH"},
      {ERR_LIB_FIPS, "FIPS"},
      {ERR_LIB_CMS, "CMS"},
      {ERR_LIB_TS, "TS"},
      {ERR_LIB_HMAC, "HMAC"},
      {ERR_LIB_CT, "CT"},
      {ERR_LIB_KDF, "KDF"},
      {ERR_LIB_USER, "USER"},
#ifdef ERR_LIB_OSSL_STORE
      {ERR_LIB_OSSL_STORE, "OSSL_STORE"},
#endif
#ifdef ERR_LIB_ASYNC
      {ERR_LIB_ASYNC, "ASYNC"},
#endif
#ifdef ERR_LIB_SM2
      {ERR_LIB_SM2, "SM2"},
#endif
  };
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if (names[i].lib == lib)
      return names[i].name;
  return NULL;
}

/*
 * The code Node.js gives the OpenSSL error `e` (e.g. ERR_SSL_WRONG_VERSION_NUMBER for
 * SSL_R_WRONG_VERSION_NUMBER): 0 when `e` is none or has no reason text.
 */
static int openssl_code(unsigned long e, char *buf, size_t size) {
  if (e == 0 || is_system_error(e))
    return 0;
  const char *reason = ERR_reason_error_string(e);
  if (reason == NULL || reason[0] == '\0')
    return 0;
  const char *lib = lib_name(ERR_GET_LIB(e));
  bool ssl = lib != NULL && strcmp(lib, "SSL") == 0;
  int n = snprintf(buf, size, "ERR_%s%s%s%s", ssl ? "" : "OSSL_", lib ? lib : "", lib ? "_" : "",
                   reason);
  if (n < 0 || (size_t)n >= size)
    return 0;
  for (char *p = buf; *p; p++) {
    if (*p >= 'a' && *p <= 'z')
      *p = (char)(*p - 'a' + 'A');
    else if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
      *p = '_';
  }
  return 1;
}

typedef struct {
  napi_ref error_class; /* TlsError, registered by the TypeScript layer */
} lt_instance;

static lt_instance *instance(napi_env env) {
  void *data = NULL;
  if (napi_get_instance_data(env, &data) != napi_ok)
    return NULL;
  return data;
}

void lt_throw_status(napi_env env, napi_status status, const char *call) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending)
    return;
  const napi_extended_error_info *info = NULL;
  const char *msg = NULL;
  if (napi_get_last_error_info(env, &info) == napi_ok && info && info->error_message)
    msg = info->error_message;
  char buf[256];
  snprintf(buf, sizeof(buf), "libtls native: %s (%s, status %d)",
           msg ? msg : "Node-API call failed", call, (int)status);
  napi_throw_error(env, NULL, buf);
}

static napi_value throw_tls(napi_env env, const char *op, const char *message, int sys_errno,
                            unsigned long ssl_error, const char *code);

napi_value lt_throw_tls(napi_env env, const char *op, const char *message) {
  return lt_throw_tls_errno(env, op, message, 0);
}

napi_value lt_throw_tls_errno(napi_env env, const char *op, const char *message, int sys_errno) {
  return lt_throw_tls_full(env, op, message, sys_errno, ERR_peek_error(), NULL);
}

napi_value lt_throw_tls_full(napi_env env, const char *op, const char *message, int sys_errno,
                             unsigned long ssl_error, const char *code) {
  throw_tls(env, op, message, sys_errno, ssl_error, code); /* copies the message first */
  ERR_clear_error();
  return NULL;
}

napi_value lt_throw_tls_code(napi_env env, const char *op, const char *message, const char *code) {
  throw_tls(env, op, message, 0, 0, code);
  ERR_clear_error();
  return NULL;
}

unsigned long lt_ssl_error(void) { return ERR_peek_error(); }

bool lt_ssl_error_is_system(unsigned long e) { return e != 0 && is_system_error(e); }

bool lt_ssl_error_is_wrong_version(unsigned long e) {
  return e != 0 && !is_system_error(e) && ERR_GET_LIB(e) == ERR_LIB_SSL &&
         ERR_GET_REASON(e) == SSL_R_WRONG_VERSION_NUMBER;
}

void lt_clear_ssl_errors(void) { ERR_clear_error(); }

/* x509_verify_error(text): the X509_V_ERR_* number whose OpenSSL text is `text`, or -1 */
static napi_value js_x509_verify_error(napi_env env, napi_callback_info info) {
  ARGS(1);
  char *text;
  TRY(lt_get_string(env, argv[0], false, &text));
  int found = -1;
  /* X509_V_ERR_* run from 1 to under 100 in OpenSSL 3; unknown numbers say "unknown" */
  for (long n = 1; n < 256 && found < 0; n++) {
    const char *s = X509_verify_cert_error_string(n);
    if (s != NULL && strcmp(s, text) == 0)
      found = (int)n;
  }
  free(text);
  return lt_int(env, found);
}

/* Sets options[name] to a string; a failure leaves the option out (the error still stands). */
static void set_str(napi_env env, napi_value obj, const char *name, const char *value) {
  napi_value v;
  if (value != NULL && napi_create_string_utf8(env, value, NAPI_AUTO_LENGTH, &v) == napi_ok)
    (void)napi_set_named_property(env, obj, name, v);
}

static napi_value throw_tls(napi_env env, const char *op, const char *message, int sys_errno,
                            unsigned long ssl_error, const char *code) {
  char buf[1024];
  if (message == NULL || message[0] == '\0') {
    snprintf(buf, sizeof(buf), "%s failed", op);
    message = buf;
  } else {
    /*
     * libtls appends strerror(errno) to some messages whatever errno holds: ": Success" when it is
     * 0, and a stale errno after an OpenSSL error ("...PEM routines::no start line: No such file or
     * directory"). Drop the suffix in those two cases; keep it where it is the real cause.
     */
    size_t n = strlen(message);
    bool openssl = strstr(message, "error:") != NULL;
    for (int e = 0; e < 134; e++) {
      if (e != 0 && !openssl)
        break;
      const char *text = strerror(e);
      size_t tn = strlen(text);
      if (n > tn + 2 && n - tn - 2 < sizeof(buf) && message[n - tn - 2] == ':' &&
          message[n - tn - 1] == ' ' && strcmp(message + n - tn, text) == 0) {
        memcpy(buf, message, n - tn - 2);
        buf[n - tn - 2] = '\0';
        message = buf;
        break;
      }
    }
  }
  lt_instance *inst = instance(env);
  napi_value ctor = NULL, argv[3], err;
  if (inst && inst->error_class &&
      napi_get_reference_value(env, inst->error_class, &ctor) == napi_ok && ctor &&
      napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &argv[0]) == napi_ok &&
      napi_create_string_utf8(env, op, NAPI_AUTO_LENGTH, &argv[1]) == napi_ok &&
      napi_create_object(env, &argv[2]) == napi_ok) {
    /*
     * What TlsError derives its `code` from: an explicit code, the system error (negative, as in
     * Node.js), the OpenSSL error queued by the failure (`library`, `reason` and Node.js's code
     * for it, as node:tls errors carry).
     */
    set_str(env, argv[2], "code", code);
    napi_value no;
    if (sys_errno > 0 && napi_create_int32(env, -sys_errno, &no) == napi_ok)
      (void)napi_set_named_property(env, argv[2], "errno", no);
    char ossl[192];
    if (openssl_code(ssl_error, ossl, sizeof(ossl))) {
      set_str(env, argv[2], "opensslCode", ossl);
      set_str(env, argv[2], "library", ERR_lib_error_string(ssl_error));
      set_str(env, argv[2], "reason", ERR_reason_error_string(ssl_error));
    }
    if (napi_new_instance(env, ctor, 3, argv, &err) == napi_ok) {
      napi_throw(env, err);
      return NULL;
    }
  }
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending)
    return NULL;
  napi_throw_error(env, "ERR_TLS", message);
  return NULL;
}

/* set_error_class(TlsError) */
static napi_value js_set_error_class(napi_env env, napi_callback_info info) {
  ARGS(1);
  lt_instance *inst = instance(env);
  if (inst == NULL)
    return lt_throw_state(env, "set_error_class", "addon not initialised");
  if (inst->error_class) {
    NAPI_CALL(env, napi_delete_reference(env, inst->error_class));
    inst->error_class = NULL;
  }
  NAPI_CALL(env, napi_create_reference(env, argv[0], 1, &inst->error_class));
  return lt_undefined(env);
}

static void instance_finalize(napi_env env, void *data, void *hint) {
  lt_instance *inst = data;
  if (inst->error_class)
    napi_delete_reference(env, inst->error_class);
  free(inst);
}

napi_status lt_errors_init(napi_env env, napi_value exports) {
  lt_instance *inst = calloc(1, sizeof(*inst));
  if (inst == NULL)
    return napi_generic_failure;
  napi_status st = napi_set_instance_data(env, inst, instance_finalize, NULL);
  if (st != napi_ok) {
    free(inst);
    return st;
  }
  napi_property_descriptor fns[] = {
      EXPORT_FN("set_error_class", js_set_error_class),
      EXPORT_FN("x509_verify_error", js_x509_verify_error),
  };
  return napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns);
}
