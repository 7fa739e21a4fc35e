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
 * failure's text has been taken. Declared here (libcrypto is loaded with libtls) so the build needs
 * no OpenSSL headers.
 */
extern void ERR_clear_error(void);
extern unsigned long ERR_peek_error(void);
extern const char *ERR_reason_error_string(unsigned long e);
extern const char *ERR_lib_error_string(unsigned long e);
extern const char *X509_verify_cert_error_string(long n);

/*
 * The OpenSSL 3 layout of a packed error code (err.h: ERR_SYSTEM_FLAG, ERR_LIB_OFFSET,
 * ERR_LIB_MASK), the one Node.js 20 and later run on.
 */
#define LT_ERR_SYSTEM_FLAG 0x80000000UL
#define LT_ERR_LIB(e) (((e) >> 23) & 0xFFUL)

/*
 * Node.js's name for an OpenSSL library (its crypto_util.cc builds `ERR_OSSL_<LIB>_<REASON>`, and
 * `ERR_SSL_<REASON>` for libssl): the numbers are err.h's ERR_LIB_*.
 */
static const char *lib_name(unsigned long lib) {
  switch (lib) {
  case 2: return "SYS";
  case 3: return "BN";
  case 4: return "RSA";
  case 5: return "DH";
  case 6: return "EVP";
  case 7: return "BUF";
  case 8: return "OBJ";
  case 9: return "PEM";
  case 10: return "DSA";
  case 11: return "X509";
  case 13: return "ASN1";
  case 14: return "CONF";
  case 15: return "CRYPTO";
  case 16: return "EC";
  case 20: return "SSL";
  case 32: return "BIO";
  case 33: return "PKCS7";
  case 34: return "X509V3";
  case 35: return "PKCS12";
  case 36: return "RAND";
  case 37: return "DSO";
  case 38: return "ENGINE";
  case 39: return "OCSP";
  case 40: return "UI";
  case 41: return "COMP";
  case 42: return "ECDSA";
  case 43: return "ECDH";
  case 44: return "OSSL_STORE";
  case 45: return "FIPS";
  case 46: return "CMS";
  case 47: return "TS";
  case 48: return "HMAC";
  case 50: return "CT";
  case 51: return "ASYNC";
  case 52: return "KDF";
  case 53: return "SM2";
  case 128: return "USER";
  default: return NULL;
  }
}

/*
 * The code Node.js gives the OpenSSL error `e` (e.g. ERR_SSL_WRONG_VERSION_NUMBER for
 * SSL_R_WRONG_VERSION_NUMBER): 0 when `e` is none or has no reason text.
 */
static int openssl_code(unsigned long e, char *buf, size_t size) {
  if (e == 0 || (e & LT_ERR_SYSTEM_FLAG) != 0)
    return 0;
  const char *reason = ERR_reason_error_string(e);
  if (reason == NULL || reason[0] == '\0')
    return 0;
  const char *lib = lib_name(LT_ERR_LIB(e));
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
  return lt_throw_tls_full(env, op, message, sys_errno, ERR_peek_error());
}

napi_value lt_throw_tls_full(napi_env env, const char *op, const char *message, int sys_errno,
                             unsigned long ssl_error) {
  throw_tls(env, op, message, sys_errno, ssl_error, NULL); /* copies the message first */
  ERR_clear_error();
  return NULL;
}

napi_value lt_throw_tls_code(napi_env env, const char *op, const char *message, const char *code) {
  throw_tls(env, op, message, 0, 0, code);
  ERR_clear_error();
  return NULL;
}

unsigned long lt_ssl_error(void) { return ERR_peek_error(); }

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
