/*
 * I/O on a connected context: tls_handshake, tls_read, tls_write, tls_close, and sendfile (file
 * bytes in record-sized tls_write calls).
 *
 * Guards: handshake/read/write/close need a connection (SSL_* on a NULL connection crashes); a
 * failed handshake, read or write ends the connection, and every later I/O call throws that
 * failure again (OpenSSL's state after a fatal alert would report success, or spin); a read needs
 * room for a byte (tls_read of 0 bytes returns 0, the end of the stream); after WANT_*, sendfile
 * must be retried with the same file and offset before any other write.
 */
#include "context.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SENDFILE_CHUNK 16384

/*
 * ---- the I/O state ----
 *
 * One per thread (each Node.js environment runs on its own): the registered array's bytes, kept
 * alive by a reference until the environment's teardown. Before io_state() is called the state
 * goes to a scratch array nobody reads.
 */
static _Thread_local double io_scratch[LT_IO_FIELDS];
static _Thread_local double *io_state;
static _Thread_local napi_ref io_state_ref;

static void drop_io_state(void *arg) {
  napi_env env = arg;
  if (io_state_ref != NULL)
    napi_delete_reference(env, io_state_ref);
  io_state_ref = NULL;
  io_state = NULL;
}

void lt_io_report(const lt_ctx *c, int64_t bytes, int want) {
  double *s = io_state != NULL ? io_state : io_scratch;
  s[LT_IO_BYTES] = (double)bytes;
  s[LT_IO_WANT] = want;
  s[LT_IO_ERRNO] = c->io_errno > 0 ? c->io_errno : 0;
  s[LT_IO_FLAGS] = c->failure.op != NULL ? LT_IO_FLAG_FAILED : 0;
  size_t in, out;
  lt_nodeio_pending(c, &in, &out);
  s[LT_IO_IN] = (double)in;
  s[LT_IO_OUT] = (double)out;
}

/* io_state(Float64Array of IO_FIELDS): registers the array every I/O call fills */
static napi_value js_io_state(napi_env env, napi_callback_info info) {
  ARGS(1);
  bool is_ta = false;
  NAPI_CALL(env, napi_is_typedarray(env, argv[0], &is_ta));
  napi_typedarray_type type;
  size_t length = 0;
  void *data = NULL;
  if (is_ta)
    NAPI_CALL(env, napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL));
  if (!is_ta || type != napi_float64_array || length < LT_IO_FIELDS) {
    napi_throw_type_error(env, NULL, "io_state needs a Float64Array of IO_FIELDS numbers");
    return NULL;
  }
  napi_ref ref;
  NAPI_CALL(env, napi_create_reference(env, argv[0], 1, &ref));
  if (io_state_ref != NULL)
    napi_delete_reference(env, io_state_ref);
  else
    NAPI_CALL(env, napi_add_env_cleanup_hook(env, drop_io_state, env));
  io_state_ref = ref;
  io_state = data;
  return lt_undefined(env);
}

int lt_need_connection(napi_env env, lt_ctx *c, const char *op) {
  if (!c->life.connected) {
    lt_throw_state(env, op, "not connected: call connect*() or accept*() first");
    return -1;
  }
  return 0;
}

/*
 * libtls's error text for a failed call. A socket error under the fd transport is reported by
 * OpenSSL as "unexpected eof while reading" (libtls's callback BIO answers every BIO_eof() query
 * with true), by LibreSSL as the system error it queued ("error:02FFF068:system
 * library:func(4095):Connection reset by peer"): the errno of the recv()/send() that failed says
 * what really happened, as libtls's own socket BIO would ("read failed: Connection reset by peer").
 */
static const char *io_error_text(lt_ctx *c, const char *op, char *buf, size_t size) {
  const char *e = tls_error(c->tls);
  if (c->io_errno <= 0 || e == NULL ||
      (strstr(e, "unexpected eof") == NULL && !lt_ssl_error_is_system(lt_ssl_error())))
    return e;
  const char *what = strcmp(op, "tls_handshake") == 0 ? "handshake"
                     : strcmp(op, "tls_close") == 0   ? "shutdown"
                     : strcmp(op, "tls_read") == 0    ? "read"
                                                      : "write";
  snprintf(buf, size, "%s failed: %s", what, strerror(c->io_errno));
  return buf;
}

void lt_failure_clear(lt_ctx *c) {
  free(c->failure.text);
  c->failure = (lt_failure){0};
}

/*
 * tls_write returned 0, which tls.h does not list for a write: libtls says so when OpenSSL's write
 * met the peer's close_notify or the end of the stream. Nothing can be written any more: a write
 * failure (EPIPE, as a socket closed by its peer), never a 0 a caller would retry forever.
 */
void lt_record_write_closed(lt_ctx *c, const char *op) {
  if (c->failure.op != NULL)
    return;
  int err = c->io_errno > 0 ? c->io_errno : EPIPE;
  char buf[160];
  snprintf(buf, sizeof(buf), "write failed: %s (the peer has closed the connection)",
           strerror(err));
  c->failure.text = strdup(buf);
  c->failure.op = op;
  c->failure.sys_errno = err;
  c->failure.ssl_error = 0;
  c->failure.eof = false;
}

void lt_record_failure(lt_ctx *c, const char *op) {
  if (c->failure.op != NULL)
    return;
  char buf[256];
  const char *e = io_error_text(c, op, buf, sizeof(buf));
  c->failure.text = strdup(e ? e : "failed");
  c->failure.op = op;
  c->failure.sys_errno = c->io_errno > 0 ? c->io_errno : 0;
  c->failure.ssl_error = lt_ssl_error();
  c->failure.eof = c->io_errno == -1;
  if (c->io_errno == 0 && !c->life.handshaken)
    c->failure.code = lt_nodeio_handshake_code(c, c->failure.ssl_error);
}

/*
 * The end of the stream without a close_notify, after the handshake: libretls's tls_read fails
 * ("unexpected eof while reading"), LibreSSL's returns 0, the value of a clean end, and reports
 * "EOF without close notify" only from tls_close() (its state is private). On the Node.js layer's
 * transports the addon knows more: the transport delivered the end of its stream during this very
 * tls_read (io_errno -1), and libssl reads nothing after a close_notify in the call that meets it,
 * so a 0 with that end seen is a truncation. It is kept as the failure libretls reports, with the
 * same code, so both backends truncate alike. libtls's own transports and the 1:1 callback
 * transport keep libtls's answer (backend.capabilities.truncation says which).
 */
bool lt_read_truncated(lt_ctx *c, ssize_t rc) {
  if (rc != 0 || c->nio == NULL || c->io_errno != -1 || !c->life.handshaken)
    return false;
  if (c->failure.op == NULL) {
    c->failure.text = strdup("EOF without close notify");
    c->failure.op = "tls_read";
    c->failure.eof = true;
    c->failure.code = "ERR_TLS_TRUNCATED";
  }
  return true;
}

static napi_value throw_failure(napi_env env, lt_ctx *c) {
  return lt_throw_tls_full(env, c->failure.op, c->failure.text ? c->failure.text : "out of memory",
                           c->failure.sys_errno, c->failure.ssl_error, c->failure.code);
}

int lt_failed_before(napi_env env, lt_ctx *c) {
  if (c->failure.op == NULL)
    return 0;
  lt_io_report(c, 0, 0);
  throw_failure(env, c);
  return -1;
}

napi_value lt_io_result(napi_env env, lt_ctx *c, ssize_t rc, const char *op) {
  lt_nodeio_release_idle(c);
  bool want = rc == TLS_WANT_POLLIN || rc == TLS_WANT_POLLOUT;
  if (rc == -1 && strcmp(op, "tls_close") != 0)
    lt_record_failure(c, op);
  lt_io_report(c, rc > 0 ? rc : 0, want ? (int)rc : 0);
  if (lt_callbacks_failed(env, c))
    return NULL;
  if (rc == -1) {
    if (strcmp(op, "tls_close") != 0)
      return throw_failure(env, c);
    char buf[256];
    const char *e = io_error_text(c, op, buf, sizeof(buf));
    return lt_throw_tls_errno(env, op, e ? e : "failed", c->io_errno > 0 ? c->io_errno : 0);
  }
  if (rc >= 0)
    c->life.handshaken = true;
  return lt_int(env, rc);
}

static int sendfile_pending_conflict(napi_env env, lt_ctx *c, const char *op) {
  if (c->sf.pending) {
    lt_throw_state(env, op,
                   "a sendfile() chunk is waiting to be retried: call sendfile() again with the "
                   "same file and offset first");
    return -1;
  }
  return 0;
}

/*
 * What every read/write call checks first: a live, connected context, no failure kept, no
 * sendfile() chunk waiting (writes), and (ctx, u8, offset, length) naming bytes inside the buffer.
 * On success *p and *n are the span to read into or write from.
 */
int lt_io_begin(napi_env env, napi_value *argv, const char *op, bool writing, lt_ctx **out,
                uint8_t **p, size_t *n) {
  lt_ctx *c;
  uint8_t *data;
  size_t len;
  int64_t off, count;
  if (lt_ctx_get(env, argv[0], op, &c) != 0 || lt_need_connection(env, c, op) != 0 ||
      lt_failed_before(env, c) != 0 || (writing && sendfile_pending_conflict(env, c, op) != 0) ||
      lt_get_bytes(env, argv[1], false, &data, &len) != 0 ||
      lt_get_int64(env, argv[2], &off) != 0 || lt_get_int64(env, argv[3], &count) != 0)
    return -1;
  if (off < 0 || count < 0 || (uint64_t)off > len || (uint64_t)count > len - (uint64_t)off) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "offset and length must lie inside the buffer");
    return -1;
  }
  if (!writing && count == 0) {
    /* tls_read() of 0 bytes returns 0, the value for the end of the stream */
    napi_throw_range_error(
        env, "ERR_OUT_OF_RANGE",
        "a read needs room for at least 1 byte: 0 would mean the end of the stream");
    return -1;
  }
  *out = c;
  *p = data + off;
  *n = (size_t)count;
  return 0;
}

static napi_value js_tls_handshake(napi_env env, napi_callback_info info) {
  ARGS(1);
  lt_ctx *c;
  TRY(lt_ctx_get(env, argv[0], "tls_handshake", &c));
  TRY(lt_need_connection(env, c, "tls_handshake"));
  TRY(lt_failed_before(env, c));
  int rc = GUARDED(c, tls_handshake(c->tls));
  return lt_io_result(env, c, rc, "tls_handshake");
}

/* tls_read(ctx, u8, offset, length): bytes read, 0 at end of stream, or WANT_* */
static napi_value js_tls_read(napi_env env, napi_callback_info info) {
  ARGS(4);
  lt_ctx *c;
  uint8_t *data;
  size_t n;
  TRY(lt_io_begin(env, argv, "tls_read", false, &c, &data, &n));
  c->life.has_read = true;
  ssize_t rc = GUARDED(c, tls_read(c->tls, data, n));
  if (lt_read_truncated(c, rc))
    rc = -1;
  return lt_io_result(env, c, rc, "tls_read");
}

/* tls_write(ctx, u8, offset, length): bytes taken or WANT_* */
static napi_value js_tls_write(napi_env env, napi_callback_info info) {
  ARGS(4);
  lt_ctx *c;
  uint8_t *data;
  size_t n;
  TRY(lt_io_begin(env, argv, "tls_write", true, &c, &data, &n));
  if (n == 0) {
    lt_io_report(c, 0, 0);
    return lt_int(env, 0);
  }
  ssize_t rc = GUARDED(c, tls_write(c->tls, data, n));
  return lt_io_result(env, c, rc, "tls_write");
}

/*
 * sendfile(ctx, fd, bytes, offset): sends up to `bytes` bytes of the file from `offset`, one
 * record-sized chunk per tls_write. After WANT_*, libtls must be given the same bytes again, so
 * the chunk is kept and reused when the call is repeated with the same file and offset.
 */
static napi_value js_sendfile(napi_env env, napi_callback_info info) {
  ARGS(4);
  lt_ctx *c;
  int fd;
  int64_t bytes, offset;
  TRY(lt_ctx_get(env, argv[0], "tls_write", &c));
  TRY(lt_need_connection(env, c, "tls_write"));
  TRY(lt_failed_before(env, c));
  TRY(lt_get_fd(env, argv[1], &fd));
  TRY(lt_get_int64(env, argv[2], &bytes));
  TRY(lt_get_int64(env, argv[3], &offset));
  if (bytes < 0 || offset < 0) {
    napi_throw_range_error(env, NULL, "bytes and offset must not be negative");
    return NULL;
  }
  if (c->sf.pending && (c->sf.fd != fd || c->sf.off != offset))
    return lt_throw_state(env, "tls_write",
                          "sendfile() must be retried with the same file and offset after WANT_*");
  if (c->sf.buf == NULL && (c->sf.buf = malloc(SENDFILE_CHUNK)) == NULL)
    return lt_throw_tls_errno(env, "tls_write", "out of memory", ENOMEM);
  int64_t sent = 0;
  int want = 0; /* what libtls asked for after some progress */
  while (sent < bytes) {
    if (!c->sf.pending) {
      size_t ask = (size_t)(bytes - sent < SENDFILE_CHUNK ? bytes - sent : SENDFILE_CHUNK);
      ssize_t got = pread(fd, c->sf.buf, ask, (off_t)(offset + sent));
      if (got < 0) {
        if (errno == EINTR)
          continue;
        if (sent > 0)
          break;
        return lt_throw_tls_errno(env, "pread", strerror(errno), errno);
      }
      if (got == 0)
        break;
      c->sf.len = (size_t)got;
      c->sf.fd = fd;
      c->sf.off = offset + sent;
    }
    c->sf.pending = true;
    ssize_t w = GUARDED(c, tls_write(c->tls, c->sf.buf, c->sf.len));
    if (lt_callbacks_failed(env, c))
      return NULL;
    if (w == TLS_WANT_POLLIN || w == TLS_WANT_POLLOUT) {
      if (sent > 0) {
        want = (int)w;
        break;
      }
      lt_io_report(c, 0, (int)w);
      return lt_int(env, w);
    }
    c->sf.pending = false;
    if (w <= 0) {
      if (w < 0 && sent > 0) {
        lt_record_failure(c, "tls_write"); /* thrown by the next call */
        break;
      }
      if (w == 0) /* libtls never takes 0 of a non-empty chunk: never loop on it */
        return lt_throw_tls(env, "tls_write", "tls_write took no bytes");
      return lt_io_result(env, c, w, "tls_write");
    }
    c->life.handshaken = true;
    sent += w;
  }
  lt_io_report(c, sent, want);
  return lt_int(env, sent);
}

static napi_value js_tls_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  lt_ctx *c;
  TRY(lt_ctx_get(env, argv[0], "tls_close", &c));
  TRY(lt_need_connection(env, c, "tls_close"));
  int rc = GUARDED(c, tls_close(c->tls));
  if (rc != TLS_WANT_POLLIN && rc != TLS_WANT_POLLOUT && c->owned_fd >= 0) {
    /* as libtls does for the socket tls_connect() opened; the fd number may be reused at once, so
       no further I/O may reach it */
    lt_ctx_close_owned_fd(c);
    c->life.connected = false;
  }
  return lt_io_result(env, c, rc, "tls_close");
}

napi_status lt_io_init(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      EXPORT_FN("tls_handshake", js_tls_handshake), EXPORT_FN("tls_read", js_tls_read),
      EXPORT_FN("tls_write", js_tls_write),         EXPORT_FN("sendfile", js_sendfile),
      EXPORT_FN("tls_close", js_tls_close),         EXPORT_FN("io_state", js_io_state),
  };
  return napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns);
}
