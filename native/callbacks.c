/*
 * The 1:1 callback transport (tls_connect_cbs / tls_accept_cbs): libtls calls these from inside
 * tls_handshake/read/write/close, and they call the JavaScript read and write callbacks. What a
 * callback throws stays pending and is thrown when libtls returns; a callback that returns
 * something unusable fails the call with a TypeError. While a callback runs the context is busy
 * (context.c): calls that would free, reconfigure or drive it throw.
 *
 * The read callback is asked for exactly what libtls asked for, and the write callback gets each
 * of libtls's writes: bytes after the TLS stream (close_notify, then plaintext again) stay in the
 * caller's stream.
 */
#include "context.h"

#include <string.h>

static ssize_t cb_fail(lt_ctx *c, const char *msg) {
  c->cbs.failed = true;
  c->cbs.error = msg;
  return -1;
}

static ssize_t call_cb(lt_ctx *c, napi_ref ref, napi_value arg, napi_value *res) {
  napi_value fn, recv;
  if (ref == NULL || napi_get_reference_value(c->env, ref, &fn) != napi_ok || fn == NULL ||
      napi_get_undefined(c->env, &recv) != napi_ok)
    return cb_fail(c, "transport callback is gone");
  if (napi_call_function(c->env, recv, fn, 1, &arg, res) != napi_ok) {
    c->cbs.failed = true; /* the exception stays pending and is thrown when libtls returns */
    return -1;
  }
  return 0;
}

static ssize_t want_or_fail(lt_ctx *c, napi_value res, const char *msg) {
  napi_valuetype t;
  int32_t n;
  if (napi_typeof(c->env, res, &t) == napi_ok && t == napi_number &&
      napi_get_value_int32(c->env, res, &n) == napi_ok &&
      (n == TLS_WANT_POLLIN || n == TLS_WANT_POLLOUT))
    return n;
  return cb_fail(c, msg);
}

/* Asks the read callback for `len` bytes: bytes given, 0 at the end of the stream, WANT_*, -1. */
static ssize_t call_read(lt_ctx *c, void *buf, size_t len) {
  napi_env env = c->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok)
    return cb_fail(c, "cannot open a handle scope");
  ssize_t rc = -1;
  napi_value size, res;
  bool is_ta = false;
  if (napi_create_double(env, (double)len, &size) != napi_ok) {
    rc = cb_fail(c, "cannot call the read callback");
  } else if (call_cb(c, c->cbs.read, size, &res) == 0) {
    if (napi_is_typedarray(env, res, &is_ta) == napi_ok && is_ta) {
      napi_typedarray_type type;
      size_t n = 0;
      void *data = NULL;
      napi_value ab;
      bool detached = false;
      if (napi_get_typedarray_info(env, res, &type, &n, &data, &ab, NULL) != napi_ok ||
          type != napi_uint8_array)
        rc = cb_fail(c, "the read callback must return a Uint8Array or WANT_POLLIN");
      else if (napi_is_detached_arraybuffer(env, ab, &detached) != napi_ok || detached)
        /* its length reads as 0: that would be taken for the end of the stream */
        rc = cb_fail(c, "the read callback returned a view of a detached ArrayBuffer");
      else if (n > len)
        rc = cb_fail(c, "the read callback returned more bytes than were asked for");
      else {
        if (n)
          memcpy(buf, data, n);
        else if (c->io_errno == 0)
          c->io_errno = -1; /* the end of the stream, as for the Node.js layer's transports */
        rc = (ssize_t)n;
      }
    } else {
      rc = want_or_fail(c, res, "the read callback must return a Uint8Array or WANT_POLLIN");
    }
  }
  napi_close_handle_scope(env, scope);
  return rc;
}

/* Hands `len` bytes to the JavaScript write callback: bytes taken, WANT_POLLOUT, or -1. */
static ssize_t call_write(lt_ctx *c, const void *buf, size_t len) {
  napi_env env = c->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok)
    return cb_fail(c, "cannot open a handle scope");
  ssize_t rc = -1;
  napi_value chunk, res;
  void *copy;
  if (napi_create_buffer_copy(env, len, buf, &copy, &chunk) != napi_ok) {
    rc = cb_fail(c, "cannot call the write callback");
  } else if (call_cb(c, c->cbs.write, chunk, &res) == 0) {
    napi_valuetype t;
    int64_t n;
    if (napi_typeof(env, res, &t) == napi_ok && t == napi_number &&
        napi_get_value_int64(env, res, &n) == napi_ok && n >= 0) {
      rc = n <= (int64_t)len ? (ssize_t)n
                             : cb_fail(c, "the write callback returned more bytes than given");
    } else {
      rc = want_or_fail(c, res,
                        "the write callback must return the number of bytes taken or WANT_POLLOUT");
    }
  }
  napi_close_handle_scope(env, scope);
  return rc;
}

ssize_t lt_cb_read(struct tls *t, void *buf, size_t len, void *arg) {
  lt_ctx *c = arg;
  if (c->cbs.failed)
    return -1;
  return call_read(c, buf, len);
}

ssize_t lt_cb_write(struct tls *t, const void *buf, size_t len, void *arg) {
  lt_ctx *c = arg;
  if (c->cbs.failed)
    return -1;
  return call_write(c, buf, len);
}

int lt_callbacks_set(napi_env env, lt_ctx *c, napi_value rd, napi_value wr) {
  napi_valuetype t1, t2;
  NAPI_CALL_INT(env, napi_typeof(env, rd, &t1));
  NAPI_CALL_INT(env, napi_typeof(env, wr, &t2));
  if (t1 != napi_function || t2 != napi_function) {
    napi_throw_type_error(env, NULL, "read and write callbacks must be functions");
    return -1;
  }
  NAPI_CALL_INT(env, napi_create_reference(env, rd, 1, &c->cbs.read));
  NAPI_CALL_INT(env, napi_create_reference(env, wr, 1, &c->cbs.write));
  return 0;
}

void lt_callbacks_drop(napi_env env, lt_ctx *c) {
  if (c->cbs.read)
    napi_delete_reference(env, c->cbs.read);
  if (c->cbs.write)
    napi_delete_reference(env, c->cbs.write);
  c->cbs.read = c->cbs.write = NULL;
}

bool lt_callbacks_failed(napi_env env, lt_ctx *c) {
  if (!c->cbs.failed)
    return false;
  c->cbs.failed = false;
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending)
    return true;
  napi_throw_type_error(env, NULL, c->cbs.error ? c->cbs.error : "transport callback failed");
  c->cbs.error = NULL;
  return true;
}
