/*
 * The Node.js layer's I/O, attached to a context as its own struct (lt_nodeio), only for the
 * contexts that layer drives. Two transports, neither of which runs JavaScript inside a libtls
 * call:
 *  - the fd transport (connect_fd_transport, and acceptor.c's accepted contexts): libtls reads and
 * writes a non-blocking socket through the C callbacks below instead of its own socket BIO;
 *  - the memory transport (connect_memory, accept_memory), for upgrade() over any Duplex, as
 *    Node.js's TLSWrap over a JSStreamSocket: JavaScript feeds the ciphertext it received into an
 *    inbound buffer (feed, feed_end), libtls's writes collect in an outbound buffer, and
 *    JavaScript drains that (drain) after each call, when the I/O state says bytes wait.
 * Plus read_batch/write_batch (tls_read/tls_write repeated in C) and a small per-thread pool of
 * I/O buffers.
 */
#include "context.h"

#include <errno.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* The size of a pooled I/O buffer: four full TLS records. */
#define IOBUF_SIZE (4 * (16384 + 256))
#define RECORD_SIZE 16384

typedef enum { LT_NODEIO_FD, LT_NODEIO_MEMORY } lt_nodeio_kind;

/* Bytes [pos, len) of data (capacity cap); data is NULL while empty. */
typedef struct {
  uint8_t *data;
  size_t pos, len, cap;
} lt_iobuf;

struct lt_nodeio {
  lt_nodeio_kind kind;
  int fd;          /* the fd transport's socket (owned by JavaScript), or -1 */
  lt_iobuf in;     /* bytes received that libtls has not taken yet */
  lt_iobuf out;    /* memory transport: what libtls wrote, until JavaScript drains it */
  size_t served;   /* bytes handed to libtls from `in`, ever (to see progress) */
  bool drained;    /* fd transport: a recv() in this call got less than asked: the socket is empty
                      for now */
  bool in_ended;   /* memory transport: no more bytes will be fed */
  int in_errno;    /* ... because the stream failed (else it ended): the errno reported */
  uint8_t head[5]; /* the first bytes received (a record header, if the peer speaks TLS) */
  size_t head_len;
  int out_first; /* the first byte libtls wrote (a record's type), or -1 */
};

/*
 * A few spare I/O buffers per thread (each Node.js environment has its own): a connection takes
 * one when bytes arrive (or are to be written) and gives it back once they are gone, so a busy
 * connection costs no malloc() per call and an idle one holds no buffer.
 */
#define SPARE_IOBUFS 4
static _Thread_local uint8_t *spare_iobufs[SPARE_IOBUFS];
static _Thread_local int spare_count;
static _Thread_local bool spare_closed; /* the environment is going away: keep no spare */

static uint8_t *iobuf_get(void) {
  if (spare_count == 0)
    return malloc(IOBUF_SIZE);
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

static void iob_free(lt_iobuf *b) {
  if (b->data != NULL) {
    if (b->cap == IOBUF_SIZE)
      iobuf_put(b->data);
    else
      free(b->data);
  }
  *b = (lt_iobuf){0};
}

static size_t iob_size(const lt_iobuf *b) { return b->len - b->pos; }

/* Room for `extra` more bytes after len: a pooled buffer first, a larger one when it must grow. */
static int iob_reserve(lt_iobuf *b, size_t extra) {
  if (b->data != NULL && b->pos > 0 && b->cap - b->len < extra) {
    memmove(b->data, b->data + b->pos, b->len - b->pos);
    b->len -= b->pos;
    b->pos = 0;
  }
  if (b->data != NULL && b->cap - b->len >= extra)
    return 0;
  size_t need = b->len + extra;
  if (need < b->len)
    return -1;
  size_t cap = IOBUF_SIZE;
  while (cap < need) {
    if (cap > SIZE_MAX / 2)
      return -1;
    cap *= 2;
  }
  uint8_t *data = cap == IOBUF_SIZE ? iobuf_get() : malloc(cap);
  if (data == NULL)
    return -1;
  if (b->data != NULL) {
    memcpy(data, b->data, b->len);
    if (b->cap == IOBUF_SIZE)
      iobuf_put(b->data);
    else
      free(b->data);
  }
  b->data = data;
  b->cap = cap;
  return 0;
}

static int attach(lt_ctx *c, lt_nodeio_kind kind, int fd) {
  lt_nodeio *n = calloc(1, sizeof(*n));
  if (n == NULL)
    return -1;
  n->kind = kind;
  n->fd = fd;
  n->out_first = -1;
  c->nio = n;
  return 0;
}

int lt_nodeio_attach_fd(lt_ctx *c, int fd) { return attach(c, LT_NODEIO_FD, fd); }

int lt_nodeio_attach_memory(lt_ctx *c) { return attach(c, LT_NODEIO_MEMORY, -1); }

void lt_nodeio_drop(lt_ctx *c) {
  lt_nodeio *n = c->nio;
  if (n == NULL)
    return;
  iob_free(&n->in);
  iob_free(&n->out);
  free(n);
  c->nio = NULL;
}

size_t lt_nodeio_served(const lt_ctx *c) { return c->nio != NULL ? c->nio->served : 0; }

/*
 * libtls answers WANT_POLLIN after a record that carried no data for the caller (a TLS 1.3 session
 * ticket, a key update): with more bytes already in our buffer the transport will not become
 * readable for them, so the call is repeated at once, as long as it makes progress on the buffer.
 */
bool lt_nodeio_buffered_more(const lt_ctx *c, ssize_t rc, size_t served) {
  const lt_nodeio *n = c->nio;
  return n != NULL && rc == TLS_WANT_POLLIN && iob_size(&n->in) > 0 && n->served != served;
}

void lt_nodeio_begin_attempt(lt_ctx *c) {
  if (c->nio != NULL)
    c->nio->drained = false;
}

/* After a call: an emptied buffer is let go of (idle connections keep no buffer). */
void lt_nodeio_release_idle(lt_ctx *c) {
  lt_nodeio *n = c->nio;
  if (n != NULL && n->in.data != NULL && iob_size(&n->in) == 0)
    iob_free(&n->in);
}

void lt_nodeio_pending(const lt_ctx *c, size_t *in, size_t *out) {
  const lt_nodeio *n = c->nio;
  *in = n != NULL ? iob_size(&n->in) : 0;
  *out = n != NULL ? iob_size(&n->out) : 0;
}

static ssize_t serve_buffered(lt_nodeio *n, void *buf, size_t len) {
  size_t k = iob_size(&n->in);
  if (k > len)
    k = len;
  for (size_t i = 0; i < k && n->head_len < sizeof(n->head); i++)
    n->head[n->head_len++] = n->in.data[n->in.pos + i];
  memcpy(buf, n->in.data + n->in.pos, k);
  n->in.pos += k;
  n->served += k;
  return (ssize_t)k;
}

/*
 * ---- the fd transport ----
 *
 * The difference from libtls's socket BIO is the read side: OpenSSL reads a record's 5-byte
 * header, then its body, each with a recv(); here one recv() takes whatever the socket holds
 * (several records), and libtls is served from that buffer. A recv() that comes back short means
 * the socket is empty: the rest of the call asks to wait instead of trying again (the poll is
 * level-triggered, so nothing is missed).
 */
static ssize_t fd_read_cb(lt_ctx *c, void *buf, size_t len) {
  lt_nodeio *n = c->nio;
  if (iob_size(&n->in) == 0) {
    if (n->drained)
      return TLS_WANT_POLLIN;
    if (n->in.data == NULL && iob_reserve(&n->in, IOBUF_SIZE) != 0) {
      errno = ENOMEM;
      return -1;
    }
    ssize_t got;
    do
      got = recv(n->fd, n->in.data, n->in.cap, 0);
    while (got < 0 && errno == EINTR);
    if (got < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return TLS_WANT_POLLIN;
      if (c->io_errno == 0)
        c->io_errno = errno;
      return -1;
    }
    if (got == 0) {
      /* the end of the stream came first: an alert that fails to go out after it is not why */
      if (c->io_errno == 0)
        c->io_errno = -1;
      return 0; /* libtls decides whether the end was clean */
    }
    if ((size_t)got < n->in.cap)
      n->drained = true;
    n->in.pos = 0;
    n->in.len = (size_t)got;
  }
  return serve_buffered(n, buf, len);
}

static ssize_t fd_write_cb(lt_ctx *c, const void *buf, size_t len) {
  ssize_t sent;
  do
    sent = send(c->nio->fd, buf, len, MSG_NOSIGNAL);
  while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return TLS_WANT_POLLOUT;
    if (c->io_errno == 0)
      c->io_errno = errno; /* the first failure: an alert sent after it fails too */
    return -1;
  }
  return sent;
}

/*
 * ---- the memory transport ----
 *
 * Reads take what was fed (WANT_POLLIN when nothing is, the end of the stream once feed_end was
 * called, a failure if the stream failed); writes always take everything: backpressure on the
 * outbound side is the Node.js layer's, on plaintext, before it writes.
 */
static ssize_t memory_read_cb(lt_ctx *c, void *buf, size_t len) {
  lt_nodeio *n = c->nio;
  if (iob_size(&n->in) > 0)
    return serve_buffered(n, buf, len);
  if (!n->in_ended)
    return TLS_WANT_POLLIN;
  if (n->in_errno > 0) {
    if (c->io_errno == 0)
      c->io_errno = n->in_errno;
    return -1;
  }
  if (c->io_errno == 0)
    c->io_errno = -1; /* the end of the stream, as for the fd transport */
  return 0;
}

static ssize_t memory_write_cb(lt_ctx *c, const void *buf, size_t len) {
  lt_nodeio *n = c->nio;
  if (iob_reserve(&n->out, len) != 0) {
    if (c->io_errno == 0)
      c->io_errno = ENOMEM;
    return -1;
  }
  memcpy(n->out.data + n->out.len, buf, len);
  n->out.len += len;
  return (ssize_t)len;
}

static void saw_write(lt_nodeio *n, const void *buf, ssize_t rc) {
  if (rc > 0 && n->out_first < 0)
    n->out_first = *(const uint8_t *)buf;
}

/*
 * node:tls's code for a failed handshake where OpenSSL names the failure from what the peer sent
 * and LibreSSL names the same failure otherwise (NULL: the library's own code stands). OpenSSL's
 * record layer (ssl3_get_record) looks at the first record header: a version whose major byte is
 * not 3 is "wrong version number", or "http request" / "https proxy request" when the bytes are
 * an HTTP request, and no alert is sent (an SSLv2-format ClientHello to a server aside). LibreSSL
 * sends a protocol_version alert and reports it as "tlsv1 alert protocol version". A server whose
 * ClientHello offers no version it enables is "unsupported protocol" for OpenSSL, "wrong version
 * number" for LibreSSL, which fails there before any ServerHello (the server wrote nothing but an
 * alert). Both rules are OpenSSL's, so on libretls they give the code OpenSSL gave.
 */
/* Whether the peer's first bytes are no TLS record header (OpenSSL's test; see below). */
static bool peer_not_tls(const lt_ctx *c) {
  const lt_nodeio *n = c->nio;
  if (n->head_len < sizeof(n->head) || n->head[1] == 3)
    return false;
  /* an SSLv2-format ClientHello to a server: OpenSSL's own path, not this one */
  return !(c->kind == LT_KIND_ACCEPTED && (n->head[0] & 0x80) != 0 && n->head[2] == 1);
}

const char *lt_nodeio_handshake_code(const lt_ctx *c, unsigned long ssl_error) {
  const lt_nodeio *n = c->nio;
  if (n == NULL || n->head_len < sizeof(n->head))
    return NULL;
  const uint8_t *p = n->head;
  bool server = c->kind == LT_KIND_ACCEPTED;
  if (p[1] != 3) {
    if (!peer_not_tls(c))
      return NULL;
    if (memcmp(p, "GET ", 4) == 0 || memcmp(p, "POST ", 5) == 0 || memcmp(p, "HEAD ", 5) == 0 ||
        memcmp(p, "PUT ", 4) == 0)
      return "ERR_SSL_HTTP_REQUEST";
    if (memcmp(p, "CONNE", 5) == 0)
      return "ERR_SSL_HTTPS_PROXY_REQUEST";
    return "ERR_SSL_WRONG_VERSION_NUMBER";
  }
  if (server && p[0] == 22 && (n->out_first < 0 || n->out_first == 21) &&
      lt_ssl_error_is_wrong_version(ssl_error))
    return "ERR_SSL_UNSUPPORTED_PROTOCOL";
  return NULL;
}

ssize_t lt_nodeio_read_cb(struct tls *t, void *buf, size_t len, void *arg) {
  lt_ctx *c = arg;
  return c->nio->kind == LT_NODEIO_FD ? fd_read_cb(c, buf, len) : memory_read_cb(c, buf, len);
}

ssize_t lt_nodeio_write_cb(struct tls *t, const void *buf, size_t len, void *arg) {
  lt_ctx *c = arg;
  /*
   * A peer whose first bytes are no TLS record (an HTTP client on the TLS port) gets nothing back,
   * as from OpenSSL, which sends no alert then ("doesn't look like TLS"): LibreSSL sends a
   * protocol_version alert, which such a client never reads, so it never sees the end of the
   * connection either (a net.Socket with unread bytes emits no 'end').
   */
  if (!c->life.handshaken && peer_not_tls(c))
    return (ssize_t)len;
  ssize_t rc =
      c->nio->kind == LT_NODEIO_FD ? fd_write_cb(c, buf, len) : memory_write_cb(c, buf, len);
  saw_write(c->nio, buf, rc);
  return rc;
}

/*
 * ---- lean idle connections ----
 *
 * OpenSSL keeps a connection's record buffers (16 KiB and more each way) for its whole life unless
 * SSL_MODE_RELEASE_BUFFERS is set, which frees them whenever no record is in flight; libtls never
 * sets it and has no call for it. The SSL objects of the Node.js layer's contexts are reached
 * where OpenSSL makes them: SSL_new calls the "new" callback of every ex_data index with the new
 * SSL (after copying its context's mode), and while one of this layer's contexts is being
 * connected or accepted (a flag of this thread: each Node.js environment runs on its own) that
 * callback sets the mode. The 1:1 API's contexts keep libtls's behaviour, as from C. With libretls
 * the index lives in the OpenSSL the process's calls reach (Node.js's own), and only SSL objects
 * made inside the flag's scope are touched. The index is never given back: Node.js does not unload
 * an addon, so the callback stays valid for the life of the process.
 */
static _Thread_local bool lean_scope;
static pthread_once_t lean_once = PTHREAD_ONCE_INIT;

static void on_ssl_new(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                       void *argp) {
  if (lean_scope && parent != NULL)
    SSL_set_mode((SSL *)parent, SSL_MODE_RELEASE_BUFFERS);
}

/* an index that cannot be had (out of memory) leaves the buffers as libtls keeps them */
static void register_lean(void) { (void)SSL_get_ex_new_index(0, NULL, on_ssl_new, NULL, NULL); }

int lt_nodeio_accept(struct tls *server, struct tls **cctx, lt_ctx *child) {
  lean_scope = true;
  int rc = tls_accept_cbs(server, cctx, lt_nodeio_read_cb, lt_nodeio_write_cb, child);
  lean_scope = false;
  return rc;
}

int lt_nodeio_connect(lt_ctx *c, const char *servername) {
  lean_scope = true;
  int rc = tls_connect_cbs(c->tls, lt_nodeio_read_cb, lt_nodeio_write_cb, c, servername);
  lean_scope = false;
  return rc;
}

/* The context of argv[0], which must use the memory transport. */
static int memory_ctx(napi_env env, napi_value v, const char *op, lt_ctx **out) {
  if (lt_ctx_peek(env, v, op, out) != 0)
    return -1;
  if ((*out)->nio == NULL || (*out)->nio->kind != LT_NODEIO_MEMORY) {
    lt_throw_state(env, op, "not a context of the memory transport");
    return -1;
  }
  return 0;
}

/* feed(ctx, u8): appends received ciphertext; returns the bytes now waiting for libtls */
static napi_value js_feed(napi_env env, napi_callback_info info) {
  ARGS(2);
  lt_ctx *c;
  uint8_t *data;
  size_t len;
  TRY(memory_ctx(env, argv[0], "feed", &c));
  TRY(lt_get_bytes(env, argv[1], false, &data, &len));
  lt_nodeio *n = c->nio;
  if (n->in_ended)
    return lt_throw_state(env, "feed", "the inbound stream has ended");
  if (len > 0) {
    if (iob_reserve(&n->in, len) != 0)
      return lt_throw_tls_errno(env, "feed", "out of memory", ENOMEM);
    memcpy(n->in.data + n->in.len, data, len);
    n->in.len += len;
  }
  return lt_int(env, (int64_t)iob_size(&n->in));
}

/* feed_end(ctx, errno): no more ciphertext comes; errno > 0: because the stream failed */
static napi_value js_feed_end(napi_env env, napi_callback_info info) {
  ARGS(2);
  lt_ctx *c;
  int32_t err;
  TRY(memory_ctx(env, argv[0], "feed_end", &c));
  TRY(lt_get_int32(env, argv[1], &err));
  if (!c->nio->in_ended) {
    c->nio->in_ended = true;
    c->nio->in_errno = err > 0 ? err : 0;
  }
  return lt_undefined(env);
}

/* drain(ctx): the ciphertext libtls wrote since the last drain, as a Buffer, or null */
static napi_value js_drain(napi_env env, napi_callback_info info) {
  ARGS(1);
  lt_ctx *c;
  TRY(memory_ctx(env, argv[0], "drain", &c));
  lt_iobuf *b = &c->nio->out;
  napi_value v;
  if (iob_size(b) == 0) {
    NAPI_CALL(env, napi_get_null(env, &v));
    return v;
  }
  void *copy;
  NAPI_CALL(env, napi_create_buffer_copy(env, iob_size(b), b->data + b->pos, &copy, &v));
  iob_free(b);
  return v;
}

/*
 * ---- batches ----
 *
 * read_batch/write_batch repeat tls_read/tls_write (one record each) until the buffer is full or
 * sent, or libtls asks to wait, so a stream moves several records per call into C. They return
 * what tls_read/tls_write would (bytes, 0 at the end of the stream, WANT_*); after some progress,
 * what libtls asked for next is in the I/O state's LT_IO_WANT. A failure after some progress
 * returns the progress with LT_IO_FLAG_FAILED set: the failure is kept and thrown by the next
 * call, which the caller makes at once, with libtls's text of the moment. Contexts with the 1:1
 * transport callbacks are not batched (their callbacks run JavaScript).
 */
static napi_value batch(napi_env env, napi_callback_info info, bool reading) {
  ARGS(4);
  const char *op = reading ? "tls_read" : "tls_write";
  lt_ctx *c;
  uint8_t *data;
  size_t len;
  TRY(lt_io_begin(env, argv, op, !reading, &c, &data, &len));
  if (c->cbs.read != NULL)
    return lt_throw_state(env, op, "batched I/O is for the Node.js layer's transports");
  if (reading)
    c->life.has_read = true;
  lt_nodeio_begin_attempt(c);
  size_t done = 0;
  int want = 0;
  ssize_t rc = 0;
  while (done < len) {
    size_t chunk = len - done;
    if (!reading && chunk > RECORD_SIZE)
      chunk = RECORD_SIZE; /* after WANT_*, the next call offers this same slice again */
    size_t served = lt_nodeio_served(c);
    c->io_errno = 0;
    rc = reading ? tls_read(c->tls, data + done, chunk) : tls_write(c->tls, data + done, chunk);
    if (lt_nodeio_buffered_more(c, rc, served))
      continue;
    if (reading && lt_read_truncated(c, rc))
      rc = -1; /* kept: thrown now, or by the next call after the progress */
    if (!reading && rc == 0) {
      lt_record_write_closed(c, op);
      rc = -1;
    }
    if (rc > 0) {
      c->life.handshaken = true;
      done += (size_t)rc;
      continue;
    }
    if (done > 0) {
      if (rc == -1)
        lt_record_failure(c, op);
      else if (rc == TLS_WANT_POLLIN || rc == TLS_WANT_POLLOUT)
        want = (int)rc;
    }
    break; /* report the progress; the next call sees the rest (end of stream, the error) */
  }
  if (done == 0)
    return lt_io_result(env, c, rc, op); /* the value, WANT_*, end of stream, or the failure */
  lt_nodeio_release_idle(c);
  lt_io_report(c, (int64_t)done, want);
  return lt_int(env, (int64_t)done);
}

static napi_value js_read_batch(napi_env env, napi_callback_info info) {
  return batch(env, info, true);
}

static napi_value js_write_batch(napi_env env, napi_callback_info info) {
  return batch(env, info, false);
}

napi_status lt_nodeio_init(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      EXPORT_FN("read_batch", js_read_batch),
      EXPORT_FN("write_batch", js_write_batch),
      EXPORT_FN("feed", js_feed),
      EXPORT_FN("feed_end", js_feed_end),
      EXPORT_FN("drain", js_drain),
  };
  napi_status st = napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns);
  if (st != napi_ok)
    return st;
  (void)pthread_once(&lean_once, register_lean);
  return napi_add_env_cleanup_hook(env, free_spare_iobufs, NULL);
}
