/*
 * struct tls: one JavaScript function per tls_* call on a context.
 *
 * Guards (each would crash or leak in plain libtls, each has a test in test/traps.test.mjs):
 *  - every call on a freed context throws; a context in use by its own transport callback refuses
 *    calls that would free or reconfigure it;
 *  - handshake/read/write/close need a connection (SSL_* on a NULL connection crashes);
 *  - connect/accept need a config (tls_reset() drops it and tls_connect_socket() dereferences it);
 *  - an accepted context keeps its server's libtls object alive: the server's SNI and ALPN callbacks
 *    run during the accepted context's handshake;
 *  - tls_ocsp_process_response only on a client after its handshake, and never again after a
 *    failed call;
 *  - connect(host, port) opens its socket here, so that free() can close it.
 */
#include "addon.h"

#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const napi_type_tag ctx_tag = {0x6c6962746c737463ULL, 0x6f6e746578747631ULL};

enum { KIND_CLIENT, KIND_SERVER, KIND_ACCEPTED };

#define SENDFILE_CHUNK 16384

typedef struct lt_ctx lt_ctx;
struct lt_ctx {
  struct tls *tls; /* NULL once released */
  napi_env env;
  int kind;
  bool freed;      /* free() was called (the libtls object may wait for its accepted contexts) */
  bool js_alive;   /* the JavaScript wrapper has not been finalized */
  bool configured; /* has a config: tls_reset() drops it */
  bool connected;  /* connect_* or accept_* succeeded */
  bool handshaken; /* the handshake completed */
  bool has_read;   /* tls_read was called (a TLS 1.3 client then processes session tickets) */
  char *failure;       /* the first failed handshake/read/write: the connection is dead, and every
                          later I/O call throws this again (OpenSSL's state after a fatal alert
                          would report success, or spin) */
  const char *failure_op;
  int failure_errno;
  unsigned long failure_ssl_error; /* the OpenSSL error the failure queued (its code) */
  bool eof_failure;    /* the kept failure came from the end of the transport's stream before a
                          close_notify: a TCP close that may have truncated the data */
  bool ocsp_failed;
  int busy;           /* inside a libtls call that can run a transport callback */
  int fd;             /* a socket opened by connect(host), owned here, or -1 */
  lt_ctx *parent;     /* the server an accepted context came from */
  napi_ref parent_ref;
  int children;       /* accepted contexts whose libtls object is alive */
  napi_ref cb_read, cb_write;
  bool cb_failed;     /* a callback threw or returned something unusable */
  const char *cb_error;
  uint8_t *sf_buf;    /* sendfile: the chunk libtls asked to retry */
  size_t sf_len;
  int sf_fd;
  int64_t sf_off;
  bool sf_pending;
  int io_fd;       /* the Node.js layer's fd transport: the socket libtls reads and writes through
                      the C callbacks below (owned by JavaScript), or -1 */
  uint8_t *rbuf;   /* bytes received on io_fd that libtls has not taken yet (NULL when none) */
  size_t rpos, rlen;
  bool rdrained;   /* a recv() in this call got less than asked: the socket is empty for now */
  size_t rserved;  /* bytes handed to libtls from the buffer, ever (to see progress) */
  bool stream_mode; /* see read_cb: the Node.js layer's callback transport */
  uint8_t *wbuf;    /* stream mode: ciphertext collected for one write callback (RBUF_SIZE) */
  size_t wlen;
  int io_errno;    /* errno of the first recv()/send() that failed in this call, -1 if the end of
                      the stream came first, or 0 */
};

static void close_owned_fd(lt_ctx *c) {
  if (c->fd >= 0) {
    shutdown(c->fd, SHUT_RDWR);
    close(c->fd);
    c->fd = -1;
  }
}

/* The size of every I/O buffer (received bytes, collected writes): four full TLS records. */
#define RBUF_SIZE (4 * (16384 + 256))

/*
 * A few spare I/O buffers per thread (each Node.js environment has its own): a connection takes
 * one when bytes arrive (or are to be written together) and gives it back once they are gone, so
 * a busy connection costs no malloc() per call (a read and a write at once: two) and an idle one
 * holds no buffer.
 */
#define SPARE_IOBUFS 2
static _Thread_local uint8_t *spare_iobufs[SPARE_IOBUFS];
static _Thread_local int spare_count;
static _Thread_local bool spare_closed; /* the environment is going away: keep no spare */

static uint8_t *iobuf_get(void) {
  if (spare_count == 0)
    return malloc(RBUF_SIZE);
  return spare_iobufs[--spare_count];
}

static void iobuf_put(uint8_t *b) {
  if (spare_count < SPARE_IOBUFS && !spare_closed)
    spare_iobufs[spare_count++] = b;
  else
    free(b);
}

/* At the environment's teardown (finalizers may still give buffers back after it). */
static void free_spare_iobufs(void *arg) {
  while (spare_count > 0)
    free(spare_iobufs[--spare_count]);
  spare_closed = true;
}

static void drop_callbacks(napi_env env, lt_ctx *c) {
  if (c->wbuf != NULL)
    iobuf_put(c->wbuf);
  c->wbuf = NULL;
  c->wlen = 0;
  c->stream_mode = false;
  if (c->cb_read)
    napi_delete_reference(env, c->cb_read);
  if (c->cb_write)
    napi_delete_reference(env, c->cb_write);
  c->cb_read = c->cb_write = NULL;
}

static void drop_fd_transport(lt_ctx *c) {
  c->io_fd = -1;
  if (c->rbuf != NULL)
    iobuf_put(c->rbuf);
  c->rbuf = NULL;
  c->rpos = c->rlen = 0;
}

static void maybe_free_struct(lt_ctx *c) {
  if (!c->js_alive && c->tls == NULL && c->children == 0) {
    free(c->sf_buf); /* the receive buffer went with the libtls object (drop_fd_transport) */
    free(c);
  }
}

/* Frees the libtls object unless accepted contexts still need it; then lets go of the parent. */
static void release(napi_env env, lt_ctx *c) {
  if (c->tls == NULL || c->children > 0)
    return;
  tls_free(c->tls);
  c->tls = NULL;
  free(c->failure);
  c->failure = NULL;
  c->failure_op = NULL;
  close_owned_fd(c);
  drop_callbacks(env, c);
  drop_fd_transport(c);
  c->sf_pending = false;
  lt_ctx *p = c->parent;
  if (p) {
    c->parent = NULL;
    if (c->parent_ref) {
      napi_delete_reference(env, c->parent_ref);
      c->parent_ref = NULL;
    }
    p->children--;
    if (p->freed)
      release(env, p);
    maybe_free_struct(p);
  }
}

static void ctx_finalize(napi_env env, void *data, void *hint) {
  lt_ctx *c = data;
  c->js_alive = false;
  c->freed = true;
  release(env, c);
  maybe_free_struct(c);
}

static napi_value ctx_new(napi_env env, struct tls *t, int kind, lt_ctx **out) {
  lt_ctx *c = calloc(1, sizeof(*c));
  if (c == NULL) {
    if (t)
      tls_free(t);
    return lt_throw_tls_errno(env, kind == KIND_SERVER ? "tls_server" : "tls_client", "out of memory",
                              ENOMEM);
  }
  c->tls = t;
  c->env = env;
  c->kind = kind;
  c->js_alive = true;
  c->configured = true;
  c->fd = -1;
  c->io_fd = -1;
  napi_value obj;
  napi_status st = napi_create_object(env, &obj);
  if (st == napi_ok && lt_wrap(env, obj, &ctx_tag, c, ctx_finalize) == 0) {
    if (out)
      *out = c;
    return obj;
  }
  c->js_alive = false;
  if (t)
    tls_free(t);
  c->tls = NULL;
  maybe_free_struct(c);
  if (st != napi_ok)
    lt_throw_status(env, st, "napi_create_object");
  return NULL;
}

static const char *const released_msg = "the context has been freed";

/* The context of argv[0], usable for a call that may free, reconfigure or drive it. */
static int ctx_get(napi_env env, napi_value v, const char *op, lt_ctx **out) {
  void *p = NULL;
  if (lt_unwrap(env, v, &ctx_tag, "Tls", &p) != 0)
    return -1;
  lt_ctx *c = p;
  if (c->freed || c->tls == NULL) {
    lt_throw_state(env, op, released_msg);
    return -1;
  }
  if (c->busy) {
    lt_throw_state(env, op, "the context is in use by its own transport callback");
    return -1;
  }
  lt_clear_ssl_errors(); /* what the queue holds after the call is then the call's own */
  *out = c;
  return 0;
}

/* The context of argv[0] for a read-only query (allowed from inside a callback). */
static int ctx_peek(napi_env env, napi_value v, const char *op, lt_ctx **out) {
  void *p = NULL;
  if (lt_unwrap(env, v, &ctx_tag, "Tls", &p) != 0)
    return -1;
  lt_ctx *c = p;
  if (c->freed || c->tls == NULL) {
    lt_throw_state(env, op, released_msg);
    return -1;
  }
  *out = c;
  return 0;
}

static napi_value ctx_fail(napi_env env, struct tls *t, const char *op, const char *fallback) {
  const char *e = t ? tls_error(t) : NULL;
  return lt_throw_tls(env, op, e ? e : fallback);
}

/* ---- creation and lifetime ---- */

static napi_value tls_client_new(napi_env env, napi_callback_info info) {
  struct tls *t = tls_client();
  if (t == NULL)
    return lt_throw_tls_errno(env, "tls_client", "out of memory", ENOMEM);
  return ctx_new(env, t, KIND_CLIENT, NULL);
}

static napi_value tls_server_new(napi_env env, napi_callback_info info) {
  struct tls *t = tls_server();
  if (t == NULL)
    return lt_throw_tls_errno(env, "tls_server", "out of memory", ENOMEM);
  return ctx_new(env, t, KIND_SERVER, NULL);
}

static napi_value js_free(napi_env env, napi_callback_info info) {
  ARGS(1);
  void *p = NULL;
  TRY(lt_unwrap(env, argv[0], &ctx_tag, "Tls", &p));
  lt_ctx *c = p;
  if (c->busy)
    return lt_throw_state(env, "tls_free", "the context is in use by its own transport callback");
  if (!c->freed) {
    c->freed = true;
    release(env, c);
  }
  return lt_undefined(env);
}

static napi_value js_configure(napi_env env, napi_callback_info info) {
  ARGS(2);
  lt_ctx *c;
  lt_config *cfg;
  TRY(ctx_get(env, argv[0], "tls_configure", &c));
  TRY(lt_config_from(env, argv[1], &cfg));
  if (c->kind == KIND_ACCEPTED)
    return lt_throw_state(env, "tls_configure", "an accepted context uses its server's config");
  if (tls_configure(c->tls, cfg->cfg) != 0)
    return ctx_fail(env, c->tls, "tls_configure", "cannot configure the context");
  c->configured = true;
  return lt_undefined(env);
}

static napi_value js_reset(napi_env env, napi_callback_info info) {
  ARGS(1);
  lt_ctx *c;
  TRY(ctx_get(env, argv[0], "tls_reset", &c));
  if (c->kind == KIND_ACCEPTED)
    return lt_throw_state(env, "tls_reset", "an accepted context cannot be reset; free it instead");
  if (c->children > 0)
    return lt_throw_state(env, "tls_reset",
                          "the server still has accepted contexts; free them before reset()");
  tls_reset(c->tls);
  free(c->failure);
  c->failure = NULL;
  c->failure_op = NULL;
  close_owned_fd(c);
  drop_callbacks(env, c);
  drop_fd_transport(c);
  c->configured = c->connected = c->handshaken = c->has_read = c->ocsp_failed = c->sf_pending = false;
  c->eof_failure = false;
  return lt_undefined(env);
}

/* ---- the callback transport ---- */

static ssize_t cb_fail(lt_ctx *c, const char *msg) {
  c->cb_failed = true;
  c->cb_error = msg;
  return -1;
}

static ssize_t call_cb(lt_ctx *c, napi_ref ref, napi_value arg, napi_value *res) {
  napi_value fn, recv;
  if (ref == NULL || napi_get_reference_value(c->env, ref, &fn) != napi_ok || fn == NULL ||
      napi_get_undefined(c->env, &recv) != napi_ok)
    return cb_fail(c, "transport callback is gone");
  if (napi_call_function(c->env, recv, fn, 1, &arg, res) != napi_ok) {
    c->cb_failed = true; /* the exception stays pending and is thrown when libtls returns */
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

/*
 * Stream mode (the Node.js layer's upgrade(), whose read callback takes from a queue and whose
 * write callback takes every chunk whole): the read callback is asked for up to RBUF_SIZE bytes
 * and what libtls did not ask for yet waits in the receive buffer; ciphertext is collected and
 * handed to the write callback once per call (or per RBUF_SIZE bytes). One JavaScript call then
 * moves several records, instead of two calls per record in and one per record out. Not for the
 * 1:1 API: bytes after the TLS stream (close_notify, then plaintext again) must stay in the
 * caller's stream.
 */
static ssize_t serve_buffered(lt_ctx *c, void *buf, size_t len) {
  size_t n = c->rlen - c->rpos;
  if (n > len)
    n = len;
  memcpy(buf, c->rbuf + c->rpos, n);
  c->rpos += n;
  c->rserved += n;
  return (ssize_t)n;
}

static ssize_t read_cb(struct tls *t, void *buf, size_t len, void *arg) {
  lt_ctx *c = arg;
  if (c->cb_failed)
    return -1;
  if (c->rpos < c->rlen)
    return serve_buffered(c, buf, len);
  napi_env env = c->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok)
    return cb_fail(c, "cannot open a handle scope");
  ssize_t rc = -1;
  size_t ask = c->stream_mode ? RBUF_SIZE : len;
  napi_value size, res;
  bool is_ta = false;
  if (napi_create_double(env, (double)ask, &size) != napi_ok) {
    rc = cb_fail(c, "cannot call the read callback");
  } else if (call_cb(c, c->cb_read, size, &res) == 0) {
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
      else if (n > ask)
        rc = cb_fail(c, "the read callback returned more bytes than were asked for");
      else if (n <= len) {
        if (n)
          memcpy(buf, data, n);
        else if (c->io_errno == 0)
          c->io_errno = -1; /* the end of the stream, as for the fd transport */
        rc = (ssize_t)n;
      } else if (c->rbuf == NULL && (c->rbuf = iobuf_get()) == NULL) {
        rc = cb_fail(c, "out of memory");
      } else {
        memcpy(buf, data, len);
        memcpy(c->rbuf, (uint8_t *)data + len, n - len);
        c->rpos = 0;
        c->rlen = n - len;
        rc = (ssize_t)len;
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
  } else if (call_cb(c, c->cb_write, chunk, &res) == 0) {
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

/* Stream mode: the collected ciphertext goes to the write callback, which must take it all. */
static void flush_writes(lt_ctx *c) {
  if (c->wlen == 0 || c->cb_failed)
    return;
  size_t n = c->wlen;
  c->wlen = 0;
  ssize_t rc = call_write(c, c->wbuf, n);
  iobuf_put(c->wbuf);
  c->wbuf = NULL;
  if ((rc < 0 || (size_t)rc != n) && !c->cb_failed)
    cb_fail(c, "the write callback must take every byte");
}

static ssize_t write_cb(struct tls *t, const void *buf, size_t len, void *arg) {
  lt_ctx *c = arg;
  if (c->cb_failed)
    return -1;
  if (!c->stream_mode)
    return call_write(c, buf, len);
  if (c->wlen + len > RBUF_SIZE) {
    flush_writes(c);
    if (c->cb_failed)
      return -1;
    if (len > RBUF_SIZE) /* never a TLS record: passed on as it is */
      return call_write(c, buf, len);
  }
  if (c->wbuf == NULL && (c->wbuf = iobuf_get()) == NULL)
    return cb_fail(c, "out of memory");
  memcpy(c->wbuf + c->wlen, buf, len);
  c->wlen += len;
  return (ssize_t)len;
}

static int set_callbacks(napi_env env, lt_ctx *c, napi_value rd, napi_value wr) {
  napi_valuetype t1, t2;
  NAPI_CALL_INT(env, napi_typeof(env, rd, &t1));
  NAPI_CALL_INT(env, napi_typeof(env, wr, &t2));
  if (t1 != napi_function || t2 != napi_function) {
    napi_throw_type_error(env, NULL, "read and write callbacks must be functions");
    return -1;
  }
  NAPI_CALL_INT(env, napi_create_reference(env, rd, 1, &c->cb_read));
  NAPI_CALL_INT(env, napi_create_reference(env, wr, 1, &c->cb_write));
  return 0;
}

/*
 * ---- the Node.js layer's fd transport ----
 *
 * libtls reads and writes the socket through these C callbacks instead of its own socket BIO. The
 * difference is the read side: OpenSSL reads a record's 5-byte header, then its body, each with a
 * recv(); here one recv() takes whatever the socket holds (several records), and libtls is served
 * from that buffer. A recv() that comes back short means the socket is empty: the rest of the call
 * asks to wait instead of trying again (the poll is level-triggered, so nothing is missed). The
 * buffer exists only while it holds bytes, so an idle connection keeps none.
 */
static ssize_t fd_read_cb(struct tls *t, void *buf, size_t len, void *arg) {
  lt_ctx *c = arg;
  if (c->rpos == c->rlen) {
    if (c->rdrained)
      return TLS_WANT_POLLIN;
    if (c->rbuf == NULL && (c->rbuf = iobuf_get()) == NULL) {
      errno = ENOMEM;
      return -1;
    }
    ssize_t n;
    do
      n = recv(c->io_fd, c->rbuf, RBUF_SIZE, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return TLS_WANT_POLLIN;
      if (c->io_errno == 0)
        c->io_errno = errno;
      return -1;
    }
    if (n == 0) {
      /* the end of the stream came first: an alert that fails to go out after it is not why */
      if (c->io_errno == 0)
        c->io_errno = -1;
      return 0; /* libtls decides whether the end was clean */
    }
    if (n < RBUF_SIZE)
      c->rdrained = true;
    c->rpos = 0;
    c->rlen = (size_t)n;
  }
  return serve_buffered(c, buf, len);
}

static ssize_t fd_write_cb(struct tls *t, const void *buf, size_t len, void *arg) {
  lt_ctx *c = arg;
  ssize_t n;
  do
    n = send(c->io_fd, buf, len, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return TLS_WANT_POLLOUT;
    if (c->io_errno == 0)
      c->io_errno = errno; /* the first failure: an alert sent after it fails too */
    return -1;
  }
  return n;
}

/*
 * libtls's error text for a failed call. A socket error under the fd transport is reported by
 * OpenSSL as "unexpected eof while reading" (libtls's callback BIO answers every BIO_eof() query
 * with true): the errno of the recv()/send() that failed says what really happened, as libtls's
 * own socket BIO would ("read failed: Connection reset by peer").
 */
static const char *io_error_text(lt_ctx *c, const char *op, char *buf, size_t size) {
  const char *e = tls_error(c->tls);
  if (c->io_errno <= 0 || e == NULL || strstr(e, "unexpected eof") == NULL)
    return e;
  const char *what = strcmp(op, "tls_handshake") == 0 ? "handshake"
                     : strcmp(op, "tls_close") == 0   ? "shutdown"
                     : strcmp(op, "tls_read") == 0    ? "read"
                                                      : "write";
  snprintf(buf, size, "%s failed: %s", what, strerror(c->io_errno));
  return buf;
}

/* After a call: an emptied buffer is let go of (idle connections keep no 64 KiB each). */
static void release_idle_buffer(lt_ctx *c) {
  if (c->rbuf != NULL && c->rpos == c->rlen) {
    iobuf_put(c->rbuf);
    c->rbuf = NULL;
    c->rpos = c->rlen = 0;
  }
}

/*
 * libtls answers WANT_POLLIN after a record that carried no data for the caller (a TLS 1.3 session
 * ticket, a key update): with more bytes already in our buffer the socket will not become readable
 * for them, so the call is repeated at once, as long as it makes progress on the buffer.
 */
#define BUFFERED_MORE(c, rc, served)                                                               \
  ((rc) == TLS_WANT_POLLIN && (c)->rpos < (c)->rlen && (c)->rserved != (served))

/*
 * Runs a libtls call that may call back into JavaScript (or read the fd transport's buffer), then
 * turns its outcome into a value.
 */
#define GUARDED(c, expr)                                                                           \
  ({                                                                                               \
    if ((c)->busy == 0)                                                                            \
      lt_clear_ssl_errors();                                                                       \
    (c)->busy++;                                                                                   \
    __typeof__(expr) r_;                                                                           \
    size_t served_;                                                                                \
    do {                                                                                           \
      (c)->rdrained = false;                                                                       \
      (c)->cb_failed = false;                                                                      \
      (c)->cb_error = NULL;                                                                        \
      served_ = (c)->rserved;                                                                      \
      (c)->io_errno = 0;                                                                           \
      r_ = (expr);                                                                                 \
    } while (BUFFERED_MORE(c, r_, served_));                                                       \
    flush_writes(c);                                                                               \
    (c)->busy--;                                                                                   \
    r_;                                                                                            \
  })

/* After a guarded call: a callback's exception or complaint wins over libtls's own error. */
static bool callback_failed(napi_env env, lt_ctx *c) {
  if (!c->cb_failed)
    return false;
  c->cb_failed = false;
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending)
    return true;
  napi_throw_type_error(env, NULL, c->cb_error ? c->cb_error : "transport callback failed");
  c->cb_error = NULL;
  return true;
}

/* ---- server side ---- */

/* A context of `kind` that has a config (tls_reset() drops it; connect/accept dereference it). */
static int need_kind(napi_env env, lt_ctx *c, const char *op, int kind) {
  if (c->kind != kind) {
    lt_throw_state(env, op, kind == KIND_SERVER ? "not a server context" : "not a client context");
    return -1;
  }
  if (!c->configured) {
    lt_throw_state(env, op, "the context has no config: call configure() after reset()");
    return -1;
  }
  return 0;
}

static int need_server(napi_env env, lt_ctx *c, const char *op) {
  return need_kind(env, c, op, KIND_SERVER);
}

/* Wraps a new accepted context that keeps its server alive. */
static napi_value adopt(napi_env env, napi_value server_obj, lt_ctx *child, napi_value child_obj) {
  napi_status st = napi_create_reference(env, server_obj, 1, &child->parent_ref);
  if (st != napi_ok) {
    /* without the reference the server could go first: drop the child now */
    child->freed = true;
    release(env, child);
    NAPI_CALL(env, st);
  }
  return child_obj;
}

static napi_value accept_common(napi_env env, napi_value server_obj, lt_ctx *s, int mode, int fdr,
                                int fdw, napi_value rd, napi_value wr) {
  lt_ctx *child = NULL;
  napi_value child_obj = ctx_new(env, NULL, KIND_ACCEPTED, &child);
  if (child_obj == NULL)
    return NULL;
  child->freed = true; /* until accepted: a failure leaves nothing to free */
  if (mode == 2 && set_callbacks(env, child, rd, wr) != 0) {
    drop_callbacks(env, child);
    return NULL;
  }
  struct tls *cctx = NULL;
  int rc;
  const char *op;
  if (mode == 0) {
    op = "tls_accept_socket";
    rc = tls_accept_socket(s->tls, &cctx, fdr);
  } else if (mode == 1) {
    op = "tls_accept_fds";
    rc = tls_accept_fds(s->tls, &cctx, fdr, fdw);
  } else if (mode == 2) {
    op = "tls_accept_cbs";
    rc = tls_accept_cbs(s->tls, &cctx, read_cb, write_cb, child);
  } else {
    op = "tls_accept_socket";
    child->io_fd = fdr;
    rc = tls_accept_cbs(s->tls, &cctx, fd_read_cb, fd_write_cb, child);
  }
  if (rc != 0) {
    drop_callbacks(env, child);
    child->io_fd = -1;
    return ctx_fail(env, s->tls, op, "cannot accept");
  }
  child->tls = cctx;
  child->freed = false;
  child->connected = true;
  child->parent = s;
  s->children++;
  return adopt(env, server_obj, child, child_obj);
}

/* acceptSocket(server, fd); mode 3: acceptFdTransport, libtls using fd_read_cb/fd_write_cb */
static napi_value accept_on_fd(napi_env env, napi_callback_info info, int mode) {
  ARGS(2);
  lt_ctx *c;
  int fd;
  TRY(ctx_get(env, argv[0], "tls_accept_socket", &c));
  TRY(need_server(env, c, "tls_accept_socket"));
  TRY(lt_get_fd(env, argv[1], &fd));
  return accept_common(env, argv[0], c, mode, fd, fd, NULL, NULL);
}

static napi_value js_accept_socket(napi_env env, napi_callback_info info) {
  return accept_on_fd(env, info, 0);
}

static napi_value js_accept_fd_transport(napi_env env, napi_callback_info info) {
  return accept_on_fd(env, info, 3);
}

static napi_value js_accept_fds(napi_env env, napi_callback_info info) {
  ARGS(3);
  lt_ctx *c;
  int fdr, fdw;
  TRY(ctx_get(env, argv[0], "tls_accept_fds", &c));
  TRY(need_server(env, c, "tls_accept_fds"));
  TRY(lt_get_fd(env, argv[1], &fdr));
  TRY(lt_get_fd(env, argv[2], &fdw));
  return accept_common(env, argv[0], c, 1, fdr, fdw, NULL, NULL);
}

static napi_value js_accept_cbs(napi_env env, napi_callback_info info) {
  ARGS(3);
  lt_ctx *c;
  TRY(ctx_get(env, argv[0], "tls_accept_cbs", &c));
  TRY(need_server(env, c, "tls_accept_cbs"));
  return accept_common(env, argv[0], c, 2, -1, -1, argv[1], argv[2]);
}

/* ---- client side ---- */

static int need_client(napi_env env, lt_ctx *c, const char *op) {
  if (need_kind(env, c, op, KIND_CLIENT) != 0)
    return -1;
  if (c->connected) {
    lt_throw_state(env, op, "the context is already connected: reset() it first");
    return -1;
  }
  return 0;
}

/* Splits "host:port" or "[v6]:port" (as tls_connect does when no port is given). */
static int split_host_port(char *s, char **host, char **port) {
  char *h = s, *p = s;
  if (s[0] == '[') {
    h = s + 1;
    if ((p = strchr(s, ']')) == NULL)
      return -1;
    *p++ = '\0';
  }
  if ((p = strrchr(p, ':')) == NULL)
    return -1;
  *p++ = '\0';
  if (*h == '\0' || *p == '\0')
    return -1;
  *host = h;
  *port = p;
  return 0;
}

/* A blocking TCP connection, as tls_connect() makes; the message says why it failed. */
static int tcp_connect(const char *host, const char *port, char *msg, size_t msglen) {
  struct addrinfo hints, *res0 = NULL, *res;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST;
  int gai = getaddrinfo(host, port, &hints, &res0);
  if (gai != 0) {
    hints.ai_flags = AI_ADDRCONFIG;
    gai = getaddrinfo(host, port, &hints, &res0);
  }
  if (gai != 0) {
    snprintf(msg, msglen, "%s", gai_strerror(gai));
    return -1;
  }
  int s = -1, err = 0;
  for (res = res0; res; res = res->ai_next) {
    s = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
    if (s < 0) {
      err = errno;
      continue;
    }
    if (connect(s, res->ai_addr, res->ai_addrlen) == 0)
      break;
    err = errno;
    close(s);
    s = -1;
  }
  freeaddrinfo(res0);
  if (s < 0)
    snprintf(msg, msglen, "failed to connect: %s", strerror(err ? err : ECONNREFUSED));
  return s;
}

/* connectServername(ctx, host, port | null, servername | null) */
static napi_value js_connect_servername(napi_env env, napi_callback_info info) {
  ARGS(4);
  lt_ctx *c;
  TRY(ctx_get(env, argv[0], "tls_connect", &c));
  TRY(need_client(env, c, "tls_connect"));
  char *host = NULL, *port = NULL, *servername = NULL;
  napi_value ret = NULL;
  if (lt_get_string(env, argv[1], false, &host) != 0 ||
      lt_get_string(env, argv[2], true, &port) != 0 ||
      lt_get_string(env, argv[3], true, &servername) != 0)
    goto out;
  char *h = host, *p = port;
  if (p == NULL && split_host_port(host, &h, &p) != 0) {
    lt_throw_tls_code(env, "tls_connect", "no port provided", "ERR_INVALID_ARG_VALUE");
    goto out;
  }
  char msg[256];
  int s = tcp_connect(h, p, msg, sizeof(msg));
  if (s < 0) {
    lt_throw_tls(env, "tls_connect", msg);
    goto out;
  }
  if (tls_connect_socket(c->tls, s, servername ? servername : h) != 0) {
    close(s);
    ctx_fail(env, c->tls, "tls_connect", "cannot connect");
    goto out;
  }
  c->fd = s;
  c->connected = true;
  ret = lt_undefined(env);
out:
  free(host);
  free(port);
  free(servername);
  return ret;
}

/*
 * connectSocket(ctx, fd, servername), and connectFdTransport (the same, libtls reading and writing
 * the fd through fd_read_cb/fd_write_cb: the Node.js layer's fd transport).
 */
static napi_value connect_on_fd(napi_env env, napi_callback_info info, bool fd_transport) {
  ARGS(3);
  lt_ctx *c;
  int fd;
  char *servername;
  TRY(ctx_get(env, argv[0], "tls_connect_socket", &c));
  TRY(need_client(env, c, "tls_connect_socket"));
  TRY(lt_get_fd(env, argv[1], &fd));
  TRY(lt_get_string(env, argv[2], true, &servername));
  int rc;
  if (fd_transport) {
    c->io_fd = fd;
    rc = tls_connect_cbs(c->tls, fd_read_cb, fd_write_cb, c, servername);
    if (rc != 0)
      c->io_fd = -1;
  } else {
    rc = tls_connect_socket(c->tls, fd, servername);
  }
  free(servername);
  if (rc != 0)
    return ctx_fail(env, c->tls, "tls_connect_socket", "cannot connect");
  c->connected = true;
  return lt_undefined(env);
}

static napi_value js_connect_socket(napi_env env, napi_callback_info info) {
  return connect_on_fd(env, info, false);
}

static napi_value js_connect_fd_transport(napi_env env, napi_callback_info info) {
  return connect_on_fd(env, info, true);
}

static napi_value js_connect_fds(napi_env env, napi_callback_info info) {
  ARGS(4);
  lt_ctx *c;
  int fdr, fdw;
  char *servername;
  TRY(ctx_get(env, argv[0], "tls_connect_fds", &c));
  TRY(need_client(env, c, "tls_connect_fds"));
  TRY(lt_get_fd(env, argv[1], &fdr));
  TRY(lt_get_fd(env, argv[2], &fdw));
  TRY(lt_get_string(env, argv[3], true, &servername));
  int rc = tls_connect_fds(c->tls, fdr, fdw, servername);
  free(servername);
  if (rc != 0)
    return ctx_fail(env, c->tls, "tls_connect_fds", "cannot connect");
  c->connected = true;
  return lt_undefined(env);
}

static napi_value js_connect_cbs(napi_env env, napi_callback_info info) {
  ARGS(4);
  lt_ctx *c;
  char *servername;
  TRY(ctx_get(env, argv[0], "tls_connect_cbs", &c));
  TRY(need_client(env, c, "tls_connect_cbs"));
  TRY(lt_get_string(env, argv[3], true, &servername));
  if (set_callbacks(env, c, argv[1], argv[2]) != 0) {
    drop_callbacks(env, c);
    free(servername);
    return NULL;
  }
  int rc = tls_connect_cbs(c->tls, read_cb, write_cb, c, servername);
  free(servername);
  if (rc != 0) {
    drop_callbacks(env, c);
    return ctx_fail(env, c->tls, "tls_connect_cbs", "cannot connect");
  }
  c->connected = true;
  return lt_undefined(env);
}

/* ---- I/O ---- */

static int need_connection(napi_env env, lt_ctx *c, const char *op) {
  if (!c->connected) {
    lt_throw_state(env, op, "not connected: call connect*() or accept*() first");
    return -1;
  }
  return 0;
}

/*
 * A failed handshake, read or write ends the connection: the failure is kept and thrown again by
 * every later I/O call (tls_close() may still be called to clean up). Batches report a failure
 * after some progress this way too, with libtls's text of the moment.
 */
static void record_failure(lt_ctx *c, const char *op) {
  if (c->failure != NULL)
    return;
  char buf[256];
  const char *e = io_error_text(c, op, buf, sizeof(buf));
  c->failure = strdup(e ? e : "failed");
  c->failure_op = op;
  c->failure_errno = c->io_errno > 0 ? c->io_errno : 0;
  c->failure_ssl_error = lt_ssl_error();
  c->eof_failure = c->io_errno == -1;
}

static napi_value throw_failure(napi_env env, lt_ctx *c) {
  return lt_throw_tls_full(env, c->failure_op, c->failure ? c->failure : "out of memory",
                           c->failure_errno, c->failure_ssl_error);
}

/* Throws the kept failure, if any (see record_failure). */
static int failed_before(napi_env env, lt_ctx *c) {
  if (c->failure == NULL && c->failure_op == NULL)
    return 0;
  throw_failure(env, c);
  return -1;
}

/* Turns a libtls I/O result into a JavaScript value or an exception. */
static napi_value io_result(napi_env env, lt_ctx *c, ssize_t rc, const char *op) {
  release_idle_buffer(c);
  if (callback_failed(env, c))
    return NULL;
  if (rc == -1) {
    if (strcmp(op, "tls_close") != 0) {
      record_failure(c, op);
      return throw_failure(env, c);
    }
    char buf[256];
    const char *e = io_error_text(c, op, buf, sizeof(buf));
    return lt_throw_tls_errno(env, op, e ? e : "failed", c->io_errno > 0 ? c->io_errno : 0);
  }
  if (rc >= 0)
    c->handshaken = true;
  return lt_int(env, rc);
}

static napi_value js_handshake(napi_env env, napi_callback_info info) {
  ARGS(1);
  lt_ctx *c;
  TRY(ctx_get(env, argv[0], "tls_handshake", &c));
  TRY(need_connection(env, c, "tls_handshake"));
  TRY(failed_before(env, c));
  int rc = GUARDED(c, tls_handshake(c->tls));
  return io_result(env, c, rc, "tls_handshake");
}

/* readInto(ctx, u8, offset, length): bytes read, 0 at end of stream, or WANT_* */
/*
 * Batches for the Node.js layer's fd transport: readBatch/writeBatch repeat tls_read/tls_write
 * (one record each) until the buffer is full or sent, or libtls asks to wait, so a stream moves
 * several records per call into C. A failure after some progress returns the progress and is
 * thrown by the next call, with libtls's text of the moment. Contexts with transport callbacks
 * are not batched (their callbacks run JavaScript).
 */
static int sendfile_pending_conflict(napi_env env, lt_ctx *c, const char *op);

/*
 * What every read/write call checks first: a live, connected context, no failure left over from a
 * batch, no sendfile() chunk waiting (writes), and (ctx, u8, offset, length) naming bytes inside
 * the buffer. On success *p and *n are the span to read into or write from.
 */
static int io_begin(napi_env env, napi_value *argv, const char *op, bool writing, lt_ctx **out,
                    uint8_t **p, size_t *n) {
  lt_ctx *c;
  uint8_t *data;
  size_t len;
  int64_t off, count;
  if (ctx_get(env, argv[0], op, &c) != 0 || need_connection(env, c, op) != 0 ||
      failed_before(env, c) != 0 || (writing && sendfile_pending_conflict(env, c, op) != 0) ||
      lt_get_bytes(env, argv[1], false, &data, &len) != 0 ||
      lt_get_int64(env, argv[2], &off) != 0 || lt_get_int64(env, argv[3], &count) != 0)
    return -1;
  if (off < 0 || count < 0 || (uint64_t)off > len || (uint64_t)count > len - (uint64_t)off) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "offset and length must lie inside the buffer");
    return -1;
  }
  if (!writing && count == 0) {
    /* tls_read() of 0 bytes returns 0, the value for the end of the stream */
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
                           "a read needs room for at least 1 byte: 0 would mean the end of the stream");
    return -1;
  }
  *out = c;
  *p = data + off;
  *n = (size_t)count;
  return 0;
}

#define RECORD_SIZE 16384
/* Added to a batch's progress when libtls asked to wait after it: wait before calling again. */
#define BATCH_WANT_POLLIN ((int64_t)1 << 40)
#define BATCH_WANT_POLLOUT ((int64_t)1 << 41)

static napi_value batch(napi_env env, napi_callback_info info, bool reading) {
  ARGS(4);
  const char *op = reading ? "tls_read" : "tls_write";
  lt_ctx *c;
  uint8_t *data;
  size_t n;
  TRY(io_begin(env, argv, op, !reading, &c, &data, &n));
  if (c->cb_read != NULL && !c->stream_mode)
    return lt_throw_state(env, op, "batched I/O is for the Node.js layer's transports");
  if (reading)
    c->has_read = true;
  c->rdrained = false;
  size_t done = 0;
  int64_t want = 0;
  c->busy++; /* stream mode: the transport callbacks run JavaScript */
  c->cb_failed = false;
  c->cb_error = NULL;
  ssize_t rc = 0;
  while (done < n) {
    size_t chunk = n - done;
    if (!reading && chunk > RECORD_SIZE)
      chunk = RECORD_SIZE; /* after WANT_*, the next call offers this same slice again */
    size_t served = c->rserved;
    c->io_errno = 0;
    rc = reading ? tls_read(c->tls, data + done, chunk) : tls_write(c->tls, data + done, chunk);
    if (c->cb_failed)
      break;
    if (BUFFERED_MORE(c, rc, served))
      continue;
    if (rc > 0) {
      c->handshaken = true;
      done += (size_t)rc;
      continue;
    }
    if (done > 0) {
      if (rc == -1)
        record_failure(c, op);
      else if (rc == TLS_WANT_POLLIN)
        want = BATCH_WANT_POLLIN;
      else if (rc == TLS_WANT_POLLOUT)
        want = BATCH_WANT_POLLOUT;
    }
    break; /* report the progress; the next call sees the rest (end of stream, the error) */
  }
  flush_writes(c);
  c->busy--;
  if (done == 0 || c->cb_failed)
    return io_result(env, c, rc, op); /* the value, WANT_*, end of stream, or the failure */
  release_idle_buffer(c);
  return lt_int(env, (int64_t)done + want);
}

/* streamMode(ctx): see read_cb; for a context with transport callbacks, before its handshake */
static napi_value js_stream_mode(napi_env env, napi_callback_info info) {
  ARGS(1);
  lt_ctx *c;
  TRY(ctx_get(env, argv[0], "streamMode", &c));
  if (c->cb_read == NULL || c->handshaken)
    return lt_throw_state(env, "streamMode",
                             "for a context with transport callbacks, before its handshake");
  c->stream_mode = true;
  return lt_undefined(env);
}

static napi_value js_read_batch(napi_env env, napi_callback_info info) {
  return batch(env, info, true);
}

static napi_value js_write_batch(napi_env env, napi_callback_info info) {
  return batch(env, info, false);
}

static napi_value js_read(napi_env env, napi_callback_info info) {
  ARGS(4);
  lt_ctx *c;
  uint8_t *data;
  size_t n;
  TRY(io_begin(env, argv, "tls_read", false, &c, &data, &n));
  c->has_read = true;
  ssize_t rc = GUARDED(c, tls_read(c->tls, data, n));
  return io_result(env, c, rc, "tls_read");
}

static int sendfile_pending_conflict(napi_env env, lt_ctx *c, const char *op) {
  if (c->sf_pending) {
    lt_throw_state(env, op,
                   "a sendfile() chunk is waiting to be retried: call sendfile() again with the "
                   "same file and offset first");
    return -1;
  }
  return 0;
}

/* write(ctx, u8, offset, length): bytes taken or WANT_* */
static napi_value js_write(napi_env env, napi_callback_info info) {
  ARGS(4);
  lt_ctx *c;
  uint8_t *data;
  size_t n;
  TRY(io_begin(env, argv, "tls_write", true, &c, &data, &n));
  if (n == 0)
    return lt_int(env, 0);
  ssize_t rc = GUARDED(c, tls_write(c->tls, data, n));
  return io_result(env, c, rc, "tls_write");
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
  TRY(ctx_get(env, argv[0], "tls_write", &c));
  TRY(need_connection(env, c, "tls_write"));
  TRY(failed_before(env, c));
  TRY(lt_get_fd(env, argv[1], &fd));
  TRY(lt_get_int64(env, argv[2], &bytes));
  TRY(lt_get_int64(env, argv[3], &offset));
  if (bytes < 0 || offset < 0) {
    napi_throw_range_error(env, NULL, "bytes and offset must not be negative");
    return NULL;
  }
  if (c->sf_pending && (c->sf_fd != fd || c->sf_off != offset))
    return lt_throw_state(env, "tls_write",
                          "sendfile() must be retried with the same file and offset after WANT_*");
  if (c->sf_buf == NULL && (c->sf_buf = malloc(SENDFILE_CHUNK)) == NULL)
    return lt_throw_tls_errno(env, "tls_write", "out of memory", ENOMEM);
  int64_t sent = 0;
  while (sent < bytes) {
    if (!c->sf_pending) {
      size_t want = (size_t)(bytes - sent < SENDFILE_CHUNK ? bytes - sent : SENDFILE_CHUNK);
      ssize_t got = pread(fd, c->sf_buf, want, (off_t)(offset + sent));
      if (got < 0) {
        if (errno == EINTR)
          continue;
        if (sent > 0)
          break;
        return lt_throw_tls_errno(env, "pread", strerror(errno), errno);
      }
      if (got == 0)
        break;
      c->sf_len = (size_t)got;
      c->sf_fd = fd;
      c->sf_off = offset + sent;
    }
    c->sf_pending = true;
    ssize_t w = GUARDED(c, tls_write(c->tls, c->sf_buf, c->sf_len));
    if (callback_failed(env, c))
      return NULL;
    if (w == TLS_WANT_POLLIN || w == TLS_WANT_POLLOUT) {
      if (sent > 0)
        break;
      return lt_int(env, w);
    }
    c->sf_pending = false;
    if (w <= 0) {
      if (w < 0 && sent > 0) {
        record_failure(c, "tls_write"); /* thrown by the next call */
        break;
      }
      if (w == 0) /* libtls never takes 0 of a non-empty chunk: never loop on it */
        return lt_throw_tls(env, "tls_write", "tls_write took no bytes");
      return io_result(env, c, w, "tls_write");
    }
    c->handshaken = true;
    sent += w;
  }
  return lt_int(env, sent);
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  lt_ctx *c;
  TRY(ctx_get(env, argv[0], "tls_close", &c));
  TRY(need_connection(env, c, "tls_close"));
  int rc = GUARDED(c, tls_close(c->tls));
  if (rc != TLS_WANT_POLLIN && rc != TLS_WANT_POLLOUT && c->fd >= 0) {
    /* as libtls does for the socket tls_connect() opened; the fd number may be reused at once, so
       no further I/O may reach it */
    close_owned_fd(c);
    c->connected = false;
  }
  return io_result(env, c, rc, "tls_close");
}

/* ---- connection and peer information ---- */

#define STR_GETTER(name, fn)                                                                       \
  static napi_value name(napi_env env, napi_callback_info info) {                                  \
    ARGS(1);                                                                                       \
    lt_ctx *c;                                                                                     \
    TRY(ctx_peek(env, argv[0], #fn, &c));                                                          \
    return lt_string_or_null(env, fn(c->tls));                                                     \
  }

/*
 * Numeric getters: -1 is libtls's failure value and becomes a TlsError. The getters set no error
 * text, so tls_error() would show an earlier call's failure: use our sentence.
 */
#define NUM_GETTER(name, fn, message)                                                              \
  static napi_value name(napi_env env, napi_callback_info info) {                                  \
    ARGS(1);                                                                                       \
    lt_ctx *c;                                                                                     \
    TRY(ctx_peek(env, argv[0], #fn, &c));                                                          \
    int64_t v = (int64_t)fn(c->tls);                                                               \
    if (v == -1)                                                                                   \
      return lt_throw_state(env, #fn, message);                                                    \
    return lt_int(env, v);                                                                         \
  }

STR_GETTER(conn_version, tls_conn_version)
STR_GETTER(conn_cipher, tls_conn_cipher)
STR_GETTER(conn_alpn_selected, tls_conn_alpn_selected)
STR_GETTER(conn_servername, tls_conn_servername)
STR_GETTER(peer_cert_hash, tls_peer_cert_hash)
STR_GETTER(peer_cert_issuer, tls_peer_cert_issuer)
STR_GETTER(peer_cert_subject, tls_peer_cert_subject)
NUM_GETTER(conn_cipher_strength, tls_conn_cipher_strength, "no cipher negotiated")
NUM_GETTER(peer_cert_notbefore, tls_peer_cert_notbefore, "no peer certificate")
NUM_GETTER(peer_cert_notafter, tls_peer_cert_notafter, "no peer certificate")

static napi_value conn_session_resumed(napi_env env, napi_callback_info info) {
  ARGS(1);
  lt_ctx *c;
  TRY(ctx_peek(env, argv[0], "tls_conn_session_resumed", &c));
  return lt_bool(env, tls_conn_session_resumed(c->tls) == 1);
}

static napi_value peer_cert_provided(napi_env env, napi_callback_info info) {
  ARGS(1);
  lt_ctx *c;
  TRY(ctx_peek(env, argv[0], "tls_peer_cert_provided", &c));
  return lt_bool(env, tls_peer_cert_provided(c->tls) == 1);
}

static napi_value peer_cert_contains_name(napi_env env, napi_callback_info info) {
  ARGS(2);
  lt_ctx *c;
  char *name;
  TRY(ctx_peek(env, argv[0], "tls_peer_cert_contains_name", &c));
  TRY(lt_get_string(env, argv[1], false, &name));
  int rc = tls_peer_cert_contains_name(c->tls, name);
  free(name);
  return lt_bool(env, rc == 1);
}

static napi_value peer_cert_chain_pem(napi_env env, napi_callback_info info) {
  ARGS(1);
  lt_ctx *c;
  TRY(ctx_peek(env, argv[0], "tls_peer_cert_chain_pem", &c));
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
  if (c->kind != KIND_CLIENT) {
    lt_throw_state(env, op, "OCSP is only available on a client context");
    return -1;
  }
  if (!c->handshaken) {
    lt_throw_state(env, op, "the handshake has not completed");
    return -1;
  }
  return 0;
}

static napi_value ocsp_process_response(napi_env env, napi_callback_info info) {
  ARGS(2);
  lt_ctx *c;
  uint8_t *data;
  size_t len;
  const char *op = "tls_ocsp_process_response";
  TRY(ctx_get(env, argv[0], op, &c));
  TRY(ocsp_ready(env, c, op));
  TRY(lt_get_bytes(env, argv[1], false, &data, &len));
  if (c->ocsp_failed)
    return lt_throw_state(env, op, "an earlier OCSP response failed to process on this context");
  if (len == 0)
    return lt_throw_tls_code(env, op, "empty OCSP response", "ERR_INVALID_ARG_VALUE");
  /* libretls keeps the peer chain of the handshake's session without a reference; on TLS 1.3 the
     first read processes the server's session tickets, OpenSSL replaces the session and frees that
     chain, and tls_ocsp_process_response would verify against freed memory */
  const char *version = tls_conn_version(c->tls);
  if (c->has_read && version != NULL && strcmp(version, "TLSv1.3") == 0)
    return lt_throw_state(env, op,
                        "on TLS 1.3 an OCSP response must be processed before the first read (libtls "
                        "loses the peer's certificate chain when the session tickets arrive)");
  /* libtls keeps OCSP state only for a peer certificate with a responder URL (and drops it after a
     response fails to parse); without it tls_ocsp_process_response dereferences NULL */
  if (tls_peer_ocsp_url(c->tls) == NULL)
    return lt_throw_state(env, op,
                        "the peer certificate names no OCSP responder: there is nothing to check an "
                        "OCSP response against");
  if (tls_ocsp_process_response(c->tls, data, len) != 0) {
    c->ocsp_failed = true;
    return ctx_fail(env, c->tls, op, "invalid OCSP response");
  }
  return lt_undefined(env);
}

/*
 * OCSP numbers: -1 before any response was processed is a TlsError; after one, -1 means the
 * response does not carry that value (no revocation time for a good certificate, no nextUpdate)
 * and becomes null (API rule 5).
 */
#define OCSP_NUM(name, fn)                                                                         \
  static napi_value name(napi_env env, napi_callback_info info) {                                  \
    ARGS(1);                                                                                       \
    lt_ctx *c;                                                                                     \
    TRY(ctx_peek(env, argv[0], #fn, &c));                                                          \
    TRY(ocsp_ready(env, c, #fn));                                                                  \
    int64_t v = (int64_t)fn(c->tls);                                                               \
    if (v != -1)                                                                                   \
      return lt_int(env, v);                                                                       \
    if (tls_peer_ocsp_result(c->tls) == NULL)                                                      \
      return lt_throw_state(env, #fn, "no OCSP response has been processed");                      \
    return lt_string_or_null(env, NULL);                                                           \
  }

#define OCSP_STR(name, fn)                                                                         \
  static napi_value name(napi_env env, napi_callback_info info) {                                  \
    ARGS(1);                                                                                       \
    lt_ctx *c;                                                                                     \
    TRY(ctx_peek(env, argv[0], #fn, &c));                                                          \
    TRY(ocsp_ready(env, c, #fn));                                                                  \
    return lt_string_or_null(env, fn(c->tls));                                                     \
  }

OCSP_NUM(peer_ocsp_cert_status, tls_peer_ocsp_cert_status)
OCSP_NUM(peer_ocsp_crl_reason, tls_peer_ocsp_crl_reason)
OCSP_NUM(peer_ocsp_response_status, tls_peer_ocsp_response_status)
OCSP_NUM(peer_ocsp_next_update, tls_peer_ocsp_next_update)
OCSP_NUM(peer_ocsp_this_update, tls_peer_ocsp_this_update)
OCSP_NUM(peer_ocsp_revocation_time, tls_peer_ocsp_revocation_time)
OCSP_STR(peer_ocsp_result, tls_peer_ocsp_result)
OCSP_STR(peer_ocsp_url, tls_peer_ocsp_url)

/* state(ctx): what the TypeScript layer needs to know without guessing */
static napi_value js_state(napi_env env, napi_callback_info info) {
  ARGS(1);
  void *p = NULL;
  TRY(lt_unwrap(env, argv[0], &ctx_tag, "Tls", &p));
  lt_ctx *c = p;
  int flags = (c->freed ? 1 : 0) | (c->connected ? 2 : 0) | (c->handshaken ? 4 : 0) |
              (c->configured ? 8 : 0) | (c->fd >= 0 ? 16 : 0) | (c->eof_failure ? 32 : 0) |
              (c->failure_op != NULL ? 64 : 0);
  return lt_int(env, flags);
}

napi_status lt_context_init(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      EXPORT_FN("tlsClient", tls_client_new),
      EXPORT_FN("tlsServer", tls_server_new),
      EXPORT_FN("tlsFree", js_free),
      EXPORT_FN("tlsConfigure", js_configure),
      EXPORT_FN("tlsReset", js_reset),
      EXPORT_FN("tlsState", js_state),
      EXPORT_FN("tlsAcceptSocket", js_accept_socket),
      EXPORT_FN("tlsAcceptFds", js_accept_fds),
      EXPORT_FN("tlsAcceptCbs", js_accept_cbs),
      EXPORT_FN("tlsConnectServername", js_connect_servername),
      EXPORT_FN("tlsConnectSocket", js_connect_socket),
      EXPORT_FN("tlsConnectFds", js_connect_fds),
      EXPORT_FN("tlsConnectCbs", js_connect_cbs),
      EXPORT_FN("tlsConnectFdTransport", js_connect_fd_transport),
      EXPORT_FN("tlsAcceptFdTransport", js_accept_fd_transport),
      EXPORT_FN("tlsHandshake", js_handshake),
      EXPORT_FN("tlsRead", js_read),
      EXPORT_FN("tlsWrite", js_write),
      EXPORT_FN("tlsReadBatch", js_read_batch),
      EXPORT_FN("tlsStreamMode", js_stream_mode),
      EXPORT_FN("tlsWriteBatch", js_write_batch),
      EXPORT_FN("tlsSendfile", js_sendfile),
      EXPORT_FN("tlsClose", js_close),
      EXPORT_FN("tlsConnVersion", conn_version),
      EXPORT_FN("tlsConnCipher", conn_cipher),
      EXPORT_FN("tlsConnCipherStrength", conn_cipher_strength),
      EXPORT_FN("tlsConnAlpnSelected", conn_alpn_selected),
      EXPORT_FN("tlsConnServername", conn_servername),
      EXPORT_FN("tlsConnSessionResumed", conn_session_resumed),
      EXPORT_FN("tlsPeerCertProvided", peer_cert_provided),
      EXPORT_FN("tlsPeerCertContainsName", peer_cert_contains_name),
      EXPORT_FN("tlsPeerCertHash", peer_cert_hash),
      EXPORT_FN("tlsPeerCertIssuer", peer_cert_issuer),
      EXPORT_FN("tlsPeerCertSubject", peer_cert_subject),
      EXPORT_FN("tlsPeerCertNotBefore", peer_cert_notbefore),
      EXPORT_FN("tlsPeerCertNotAfter", peer_cert_notafter),
      EXPORT_FN("tlsPeerCertChainPem", peer_cert_chain_pem),
      EXPORT_FN("tlsOcspProcessResponse", ocsp_process_response),
      EXPORT_FN("tlsPeerOcspCertStatus", peer_ocsp_cert_status),
      EXPORT_FN("tlsPeerOcspCrlReason", peer_ocsp_crl_reason),
      EXPORT_FN("tlsPeerOcspResponseStatus", peer_ocsp_response_status),
      EXPORT_FN("tlsPeerOcspNextUpdate", peer_ocsp_next_update),
      EXPORT_FN("tlsPeerOcspThisUpdate", peer_ocsp_this_update),
      EXPORT_FN("tlsPeerOcspRevocationTime", peer_ocsp_revocation_time),
      EXPORT_FN("tlsPeerOcspResult", peer_ocsp_result),
      EXPORT_FN("tlsPeerOcspUrl", peer_ocsp_url),
  };
  napi_status st = napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns);
  if (st != napi_ok)
    return st;
  return napi_add_env_cleanup_hook(env, free_spare_iobufs, NULL);
}
