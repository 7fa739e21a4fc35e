/*
 * Shared declarations of the native glue: argument macros, error helpers, the wrapped types.
 * The glue is deliberately thin: it owns libtls objects, calls libtls, and guards the calls that
 * would crash the process. Validation of shapes and ranges happens in TypeScript first; the checks
 * here only keep the C side safe if it is ever reached with something unexpected.
 */
#ifndef LIBTLS_NODE_ADDON_H
#define LIBTLS_NODE_ADDON_H

#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <tls.h>

/* Every Node-API call is checked; on failure the pending exception (or a new one) propagates. */
#define NAPI_CALL(env, call)                                                                       \
  do {                                                                                             \
    napi_status status_ = (call);                                                                  \
    if (status_ != napi_ok) {                                                                      \
      lt_throw_status((env), status_, #call);                                                      \
      return NULL;                                                                                 \
    }                                                                                              \
  } while (0)

/* Same, for helpers that return an int (0 ok, -1 failed with a pending exception). */
#define NAPI_CALL_INT(env, call)                                                                   \
  do {                                                                                             \
    napi_status status_ = (call);                                                                  \
    if (status_ != napi_ok) {                                                                      \
      lt_throw_status((env), status_, #call);                                                      \
      return -1;                                                                                   \
    }                                                                                              \
  } while (0)

#define ARGS(n)                                                                                    \
  size_t argc = (n);                                                                               \
  napi_value argv[(n) > 0 ? (n) : 1];                                                              \
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));                            \
  if (argc < (n)) {                                                                                \
    napi_throw_type_error(env, NULL, "missing arguments");                                         \
    return NULL;                                                                                   \
  }

#define TRY(expr)                                                                                  \
  do {                                                                                             \
    if ((expr) != 0)                                                                               \
      return NULL;                                                                                 \
  } while (0)

#define EXPORT_FN(name, fn)                                                                        \
  { name, NULL, fn, NULL, NULL, NULL, napi_default, NULL }

/*
 * Constants shared with the TypeScript layer, exported in `constants` (addon.c): src/ reads them
 * from there. ctx_state()'s bits:
 */
enum {
  LT_STATE_FREED = 1,
  LT_STATE_CONNECTED = 2,
  LT_STATE_HANDSHAKEN = 4,
  LT_STATE_CONFIGURED = 8,
  LT_STATE_OWNS_SOCKET = 16,
  LT_STATE_EOF_FAILURE =
      32,               /* the kept failure came from the end of the stream before close_notify */
  LT_STATE_FAILED = 64, /* a handshake, read or write failed: later I/O calls throw it again */
};

/*
 * The I/O state (io.c): a Float64Array the TypeScript layer registers once with io_state(), which
 * every handshake, read, write, close, sendfile and batch call fills before it returns (or
 * throws), as Node.js's streamBaseState. The fields:
 */
enum {
  LT_IO_BYTES, /* plaintext bytes the call moved (0 at the end of the stream, or on WANT_*) */
  LT_IO_WANT,  /* TLS_WANT_POLLIN/POLLOUT: what to wait for before the next call, or 0 */
  LT_IO_ERRNO, /* errno of the transport's recv()/send() that failed in the call, or 0 */
  LT_IO_FLAGS, /* LT_IO_FLAG_* */
  LT_IO_IN,    /* memory transport: fed bytes libtls has not taken yet */
  LT_IO_OUT,   /* memory transport: bytes libtls wrote, waiting to be drained */
  LT_IO_FIELDS
};
/* LT_IO_FLAGS bits */
enum {
  LT_IO_FLAG_FAILED = 1, /* a failure is kept: every later I/O call throws it (see io.c) */
};

/* The events of a native acceptor (acceptor.c), as its callback's first argument. */
enum {
  LT_ACCEPTOR_SECURE = 0,
  LT_ACCEPTOR_FAILED = 1,
  LT_ACCEPTOR_TIMEOUT = 2,
  LT_ACCEPTOR_DROPPED = 3,
  LT_ACCEPTOR_ERROR = 4,
};

/* errors.c. Throws TlsError or another error; each returns NULL (or nothing). */
void lt_throw_status(napi_env env, napi_status status, const char *call);
/* Throws TlsError(message, op); message NULL means "<op> failed". Always returns NULL. */
napi_value lt_throw_tls(napi_env env, const char *op, const char *message);
/* The same, for a failed socket call: the error carries `errno` (negative, as in Node.js). */
napi_value lt_throw_tls_errno(napi_env env, const char *op, const char *message, int sys_errno);
/*
 * The same with the OpenSSL error taken at the failure (`lt_ssl_error()`), for a deferred throw,
 * and the `code` it was raised with (NULL: derived from the rest).
 */
napi_value lt_throw_tls_full(napi_env env, const char *op, const char *message, int sys_errno,
                             unsigned long ssl_error, const char *code);
/* A failure of this binding's own (a call in a wrong state, ...) with its `code`. */
napi_value lt_throw_tls_code(napi_env env, const char *op, const char *message, const char *code);
/* A call in a state where libtls would crash or misbehave: code ERR_TLS_INVALID_STATE. */
#define lt_throw_state(env, op, message)                                                           \
  lt_throw_tls_code((env), (op), (message), "ERR_TLS_INVALID_STATE")
/* The OpenSSL error the failure just queued (0: none). */
unsigned long lt_ssl_error(void);
/* Whether `e` is an error of the system library (a failed call's errno), not of TLS. */
bool lt_ssl_error_is_system(unsigned long e);
/* Whether `e` is libssl's "wrong version number". */
bool lt_ssl_error_is_wrong_version(unsigned long e);
/* Empties the OpenSSL error queue before a libtls call: what it holds after is that call's. */
void lt_clear_ssl_errors(void);
napi_status lt_errors_init(napi_env env, napi_value exports);

/* values.c: argument helpers (each returns 0, or -1 with an exception pending) and values. */
int lt_get_int32(napi_env env, napi_value v, int32_t *out);
int lt_get_int64(napi_env env, napi_value v, int64_t *out);
int lt_get_uint32(napi_env env, napi_value v, uint32_t *out);
int lt_get_fd(napi_env env, napi_value v, int *out);
/* A NUL-free UTF-8 copy of a JS string (free() it); undefined/null gives NULL when optional. */
int lt_get_string(napi_env env, napi_value v, bool optional, char **out);
/* Pointer and length of a Uint8Array's bytes; undefined/null gives NULL/0 when optional. */
int lt_get_bytes(napi_env env, napi_value v, bool optional, uint8_t **data, size_t *len);
napi_value lt_string_or_null(napi_env env, const char *s);
napi_value lt_int(napi_env env, int64_t n);
napi_value lt_bool(napi_env env, bool b);
napi_value lt_undefined(napi_env env);
int lt_wrap(napi_env env, napi_value obj, const napi_type_tag *tag, void *data, napi_finalize fin);
int lt_unwrap(napi_env env, napi_value obj, const napi_type_tag *tag, const char *what, void **out);

/* config.c */
typedef struct lt_config {
  struct tls_config *cfg; /* NULL once freed */
  /* the last error text reported (pointer, copy, and the call that set it), to spot a stale one */
  const char *last_error;
  char *last_error_copy;
  const char *last_error_op;
} lt_config;

int lt_config_from(napi_env env, napi_value v, lt_config **out);
napi_status lt_config_init(napi_env env, napi_value exports);
/* backend.c: refuses (an exception pending, -1) a libtls whose OpenSSL calls reach another ABI */
int lt_backend_check(napi_env env);
napi_status lt_backend_init(napi_env env, napi_value exports);

/* fd.c */
napi_status lt_fd_init(napi_env env, napi_value exports);
struct sockaddr_storage;
/* fd_addresses()'s array for socket fd; `peer`: its peer's address if known already (accept4),
 * else NULL (getpeername) */
napi_status lt_fd_addresses(napi_env env, int fd, const struct sockaddr_storage *peer,
                            napi_value *out);

/* tcp.c: connect()'s non-blocking TCP connect */
napi_status lt_tcp_init(napi_env env, napi_value exports);

/* context.h: the context's files (context.c, connect.c, io.c, info.c, callbacks.c, nodeio.c) */
napi_status lt_context_init(napi_env env, napi_value exports);
napi_status lt_connect_init(napi_env env, napi_value exports);
napi_status lt_io_init(napi_env env, napi_value exports);
napi_status lt_info_init(napi_env env, napi_value exports);
napi_status lt_nodeio_init(napi_env env, napi_value exports);

/* poll.c */
napi_status lt_poll_init(napi_env env, napi_value exports);
/* acceptor.c */
napi_status lt_acceptor_init(napi_env env, napi_value exports);

#endif
