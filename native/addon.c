/*
 * Module entry: error helpers, argument helpers, and the few libtls calls that need no object
 * (tls_config_parse_protocols, tls_default_ca_cert_file, tls_load_file), plus the two fd helpers
 * of the JavaScript API (socketpair, dupFd).
 */
#include "addon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

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
/* libssl, for cipherStandardName (opaque pointers: no OpenSSL headers needed) */
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
  snprintf(buf, sizeof(buf), "libtls native: %s (%s, status %d)", msg ? msg : "Node-API call failed",
           call, (int)status);
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

unsigned long lt_ssl_error(void) {
  return ERR_peek_error();
}

void lt_clear_ssl_errors(void) {
  ERR_clear_error();
}

/*
 * cipherInfo(name): [IANA name, the first protocol version with it] of the cipher OpenSSL calls
 * `name` (what tls_conn_cipher returns), as node:tls's getCipher() gives them; null if unknown
 */
static napi_value cipher_info(napi_env env, napi_callback_info info) {
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
  ERR_clear_error();
  NAPI_CALL(env, st);
  return v;
}

/* x509VerifyError(text): the X509_V_ERR_* number whose OpenSSL text is `text`, or -1 */
static napi_value x509_verify_error(napi_env env, napi_callback_info info) {
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
  if (inst && inst->error_class && napi_get_reference_value(env, inst->error_class, &ctor) == napi_ok &&
      ctor && napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &argv[0]) == napi_ok &&
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

int lt_get_int64(napi_env env, napi_value v, int64_t *out) {
  napi_valuetype t;
  NAPI_CALL_INT(env, napi_typeof(env, v, &t));
  if (t != napi_number) {
    napi_throw_type_error(env, NULL, "expected a number");
    return -1;
  }
  double d;
  NAPI_CALL_INT(env, napi_get_value_double(env, v, &d));
  if (d != d || d < -9007199254740991.0 || d > 9007199254740991.0 || d != (double)(int64_t)d) {
    napi_throw_range_error(env, NULL, "expected a safe integer");
    return -1;
  }
  *out = (int64_t)d;
  return 0;
}

static int get_ranged(napi_env env, napi_value v, int64_t lo, int64_t hi, int64_t *out) {
  if (lt_get_int64(env, v, out) != 0)
    return -1;
  if (*out < lo || *out > hi) {
    napi_throw_range_error(env, NULL, "integer out of range");
    return -1;
  }
  return 0;
}

int lt_get_int32(napi_env env, napi_value v, int32_t *out) {
  int64_t n;
  if (get_ranged(env, v, INT32_MIN, INT32_MAX, &n) != 0)
    return -1;
  *out = (int32_t)n;
  return 0;
}

int lt_get_uint32(napi_env env, napi_value v, uint32_t *out) {
  int64_t n;
  if (get_ranged(env, v, 0, UINT32_MAX, &n) != 0)
    return -1;
  *out = (uint32_t)n;
  return 0;
}

int lt_get_fd(napi_env env, napi_value v, int *out) {
  int64_t n;
  if (get_ranged(env, v, 0, INT32_MAX, &n) != 0)
    return -1;
  *out = (int)n;
  return 0;
}

static bool is_nullish(napi_env env, napi_value v) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok)
    return false;
  return t == napi_undefined || t == napi_null;
}

int lt_get_string(napi_env env, napi_value v, bool optional, char **out) {
  *out = NULL;
  if (optional && is_nullish(env, v))
    return 0;
  napi_valuetype t;
  NAPI_CALL_INT(env, napi_typeof(env, v, &t));
  if (t != napi_string) {
    napi_throw_type_error(env, NULL, "expected a string");
    return -1;
  }
  size_t len = 0;
  NAPI_CALL_INT(env, napi_get_value_string_utf8(env, v, NULL, 0, &len));
  char *s = malloc(len + 1);
  if (s == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return -1;
  }
  size_t got = 0;
  napi_status st = napi_get_value_string_utf8(env, v, s, len + 1, &got);
  if (st != napi_ok) {
    free(s);
    lt_throw_status(env, st, "napi_get_value_string_utf8");
    return -1;
  }
  if (strlen(s) != got) {
    free(s);
    napi_throw_type_error(env, NULL, "string must not contain NUL characters");
    return -1;
  }
  *out = s;
  return 0;
}

int lt_get_bytes(napi_env env, napi_value v, bool optional, uint8_t **data, size_t *len) {
  *data = NULL;
  *len = 0;
  if (optional && is_nullish(env, v))
    return 0;
  bool is_ta = false;
  NAPI_CALL_INT(env, napi_is_typedarray(env, v, &is_ta));
  if (!is_ta) {
    napi_throw_type_error(env, NULL, "expected a Uint8Array");
    return -1;
  }
  napi_typedarray_type type;
  void *p = NULL;
  NAPI_CALL_INT(env, napi_get_typedarray_info(env, v, &type, len, &p, NULL, NULL));
  if (type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "expected a Uint8Array");
    return -1;
  }
  *data = p;
  return 0;
}

napi_value lt_string_or_null(napi_env env, const char *s) {
  napi_value v;
  if (s == NULL)
    NAPI_CALL(env, napi_get_null(env, &v));
  else
    NAPI_CALL(env, napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v));
  return v;
}

napi_value lt_int(napi_env env, int64_t n) {
  napi_value v;
  NAPI_CALL(env, napi_create_int64(env, n, &v));
  return v;
}

napi_value lt_bool(napi_env env, bool b) {
  napi_value v;
  NAPI_CALL(env, napi_get_boolean(env, b, &v));
  return v;
}

napi_value lt_undefined(napi_env env) {
  napi_value v;
  NAPI_CALL(env, napi_get_undefined(env, &v));
  return v;
}

int lt_wrap(napi_env env, napi_value obj, const napi_type_tag *tag, void *data, napi_finalize fin) {
  NAPI_CALL_INT(env, napi_type_tag_object(env, obj, tag));
  NAPI_CALL_INT(env, napi_wrap(env, obj, data, fin, NULL, NULL));
  return 0;
}

int lt_unwrap(napi_env env, napi_value obj, const napi_type_tag *tag, const char *what, void **out) {
  napi_valuetype t;
  NAPI_CALL_INT(env, napi_typeof(env, obj, &t));
  bool ok = false;
  if (t == napi_object)
    NAPI_CALL_INT(env, napi_check_object_type_tag(env, obj, tag, &ok));
  if (!ok) {
    char buf[96];
    snprintf(buf, sizeof(buf), "expected a native %s handle", what);
    napi_throw_type_error(env, NULL, buf);
    return -1;
  }
  NAPI_CALL_INT(env, napi_unwrap(env, obj, out));
  return 0;
}

/* setErrorClass(TlsError) */
static napi_value set_error_class(napi_env env, napi_callback_info info) {
  ARGS(1);
  lt_instance *inst = instance(env);
  if (inst == NULL)
    return lt_throw_state(env, "setErrorClass", "addon not initialised");
  if (inst->error_class) {
    NAPI_CALL(env, napi_delete_reference(env, inst->error_class));
    inst->error_class = NULL;
  }
  NAPI_CALL(env, napi_create_reference(env, argv[0], 1, &inst->error_class));
  return lt_undefined(env);
}

/* parseProtocols(str): number */
static napi_value parse_protocols(napi_env env, napi_callback_info info) {
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

/* defaultCaCertFile(): string */
static napi_value default_ca_cert_file(napi_env env, napi_callback_info info) {
  return lt_string_or_null(env, tls_default_ca_cert_file());
}

/* loadFile(path, password | null): Buffer */
static napi_value load_file(napi_env env, napi_callback_info info) {
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

/* socketpair(): [fd, fd], non-blocking and close-on-exec */
static napi_value make_socketpair(napi_env env, napi_callback_info info) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
    return lt_throw_tls_errno(env, "socketpair", strerror(errno), errno);
  napi_value arr, a, b;
  napi_status st = napi_create_array_with_length(env, 2, &arr);
  if (st == napi_ok)
    st = napi_create_int32(env, sv[0], &a);
  if (st == napi_ok)
    st = napi_create_int32(env, sv[1], &b);
  if (st == napi_ok)
    st = napi_set_element(env, arr, 0, a);
  if (st == napi_ok)
    st = napi_set_element(env, arr, 1, b);
  if (st != napi_ok) {
    close(sv[0]);
    close(sv[1]);
    NAPI_CALL(env, st);
  }
  return arr;
}

/* dupFd(fd): a close-on-exec duplicate that the caller owns */
static napi_value dup_fd(napi_env env, napi_callback_info info) {
  ARGS(1);
  int fd;
  TRY(lt_get_fd(env, argv[0], &fd));
  int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (nfd < 0)
    return lt_throw_tls_errno(env, "dup", strerror(errno), errno);
  return lt_int(env, nfd);
}

/*
 * fdClose(fd): close(2) of an fd this addon made (dupFd, socketpair). fs.closeSync() would do the
 * same on the main thread, but in a worker Node warns about an fd it did not open itself.
 */
static napi_value fd_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  int fd;
  TRY(lt_get_fd(env, argv[0], &fd));
  if (close(fd) != 0 && errno != EINTR)
    return lt_throw_tls_errno(env, "close", strerror(errno), errno);
  return lt_undefined(env);
}

/* fdShutdown(fd): shutdown(SHUT_WR), after close_notify; ENOTCONN is not an error */
static napi_value fd_shutdown(napi_env env, napi_callback_info info) {
  ARGS(1);
  int fd;
  TRY(lt_get_fd(env, argv[0], &fd));
  if (shutdown(fd, SHUT_WR) != 0 && errno != ENOTCONN)
    return lt_throw_tls_errno(env, "shutdown", strerror(errno), errno);
  return lt_undefined(env);
}

/*
 * setsockopt() for the fd helpers below: 0, or -1 with a TlsError thrown. A socket that does not
 * have the option (a Unix socket under upgrade's tests, say) is not an error.
 */
static int sockopt(napi_env env, int fd, int level, int name, const void *v, socklen_t len) {
  if (setsockopt(fd, level, name, v, len) == 0 || errno == EOPNOTSUPP || errno == ENOPROTOOPT)
    return 0;
  lt_throw_tls_errno(env, "setsockopt", strerror(errno), errno);
  return -1;
}

/* fdSetNoDelay(fd, on) */
static napi_value fd_set_nodelay(napi_env env, napi_callback_info info) {
  ARGS(2);
  int fd;
  bool on;
  TRY(lt_get_fd(env, argv[0], &fd));
  NAPI_CALL(env, napi_get_value_bool(env, argv[1], &on));
  int v = on ? 1 : 0;
  TRY(sockopt(env, fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)));
  return lt_undefined(env);
}

/* fdResetOnClose(fd): SO_LINGER with a zero timeout, so that close() sends a RST (resetAndDestroy) */
static napi_value fd_reset_on_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  int fd;
  TRY(lt_get_fd(env, argv[0], &fd));
  struct linger l = {.l_onoff = 1, .l_linger = 0};
  TRY(sockopt(env, fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)));
  return lt_undefined(env);
}

/* fdSetKeepAlive(fd, on, idleSeconds) */
static napi_value fd_set_keepalive(napi_env env, napi_callback_info info) {
  ARGS(3);
  int fd;
  bool on;
  int32_t idle;
  TRY(lt_get_fd(env, argv[0], &fd));
  NAPI_CALL(env, napi_get_value_bool(env, argv[1], &on));
  TRY(lt_get_int32(env, argv[2], &idle));
  int v = on ? 1 : 0;
  TRY(sockopt(env, fd, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof(v)));
#ifdef TCP_KEEPIDLE
  if (on && idle > 0)
    TRY(sockopt(env, fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)));
#endif
  return lt_undefined(env);
}

static void instance_finalize(napi_env env, void *data, void *hint) {
  lt_instance *inst = data;
  if (inst->error_class)
    napi_delete_reference(env, inst->error_class);
  free(inst);
}

static napi_value init(napi_env env, napi_value exports) {
  /* before any libtls call: a libtls whose calls would reach another ABI is refused here */
  if (lt_backend_check(env) != 0)
    return NULL;
  if (tls_init() != 0)
    return lt_throw_tls_code(env, "tls_init", "libtls failed to initialise", "ERR_TLS_INIT");
  lt_instance *inst = calloc(1, sizeof(*inst));
  if (inst == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  napi_status st = napi_set_instance_data(env, inst, instance_finalize, NULL);
  if (st != napi_ok) {
    free(inst);
    NAPI_CALL(env, st);
  }
  napi_property_descriptor fns[] = {
      EXPORT_FN("setErrorClass", set_error_class),
      EXPORT_FN("parseProtocols", parse_protocols),
      EXPORT_FN("defaultCaCertFile", default_ca_cert_file),
      EXPORT_FN("loadFile", load_file),
      EXPORT_FN("x509VerifyError", x509_verify_error),
      EXPORT_FN("cipherInfo", cipher_info),
      EXPORT_FN("socketpair", make_socketpair),
      EXPORT_FN("dupFd", dup_fd),
      EXPORT_FN("fdClose", fd_close),
      EXPORT_FN("fdShutdown", fd_shutdown),
      EXPORT_FN("fdSetNoDelay", fd_set_nodelay),
      EXPORT_FN("fdSetKeepAlive", fd_set_keepalive),
      EXPORT_FN("fdResetOnClose", fd_reset_on_close),
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
      {"TLS_TICKET_KEY_SIZE", TLS_TICKET_KEY_SIZE},
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
  NAPI_CALL(env, lt_context_init(env, exports));
  NAPI_CALL(env, lt_poll_init(env, exports));
  return exports;
}

NAPI_MODULE_INIT() { return init(env, exports); }
