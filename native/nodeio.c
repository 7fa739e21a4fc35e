/*
 * The Node.js layer's I/O, attached to a context as its own struct (lt_nodeio), only for the
 * contexts that layer drives:
 *  - the fd transport: libtls reads and writes a non-blocking socket through the C callbacks
 *    below instead of its own socket BIO;
 *  - the stream mode of the callback transport (upgrade() over a Duplex): one JavaScript call
 *    moves several records each way;
 *  - read_batch/write_batch: tls_read/tls_write repeated in C until the buffer is full or sent, or
 *    libtls asks to wait;
 *  - a small per-thread pool of I/O buffers.
 */
#include "context.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* The size of every I/O buffer (received bytes, collected writes): four full TLS records. */
#define IOBUF_SIZE (4 * (16384 + 256))
#define RECORD_SIZE 16384

typedef enum { LT_NODEIO_FD, LT_NODEIO_STREAM } lt_nodeio_kind;

struct lt_nodeio {
  lt_nodeio_kind kind;
  int fd;        /* the fd transport's socket (owned by JavaScript), or -1 */
  uint8_t *rbuf; /* bytes received that libtls has not taken yet (NULL when none) */
  size_t rpos, rlen;
  size_t rserved; /* bytes handed to libtls from the buffer, ever (to see progress) */
  bool rdrained;  /* a recv() in this call got less than asked: the socket is empty for now */
  uint8_t *wbuf;  /* stream mode: ciphertext collected for one write callback (IOBUF_SIZE) */
  size_t wlen;
};

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

static int attach(lt_ctx *c, lt_nodeio_kind kind, int fd) {
  lt_nodeio *n = calloc(1, sizeof(*n));
  if (n == NULL)
    return -1;
  n->kind = kind;
  n->fd = fd;
  c->nio = n;
  return 0;
}

int lt_nodeio_attach_fd(lt_ctx *c, int fd) { return attach(c, LT_NODEIO_FD, fd); }

void lt_nodeio_drop(lt_ctx *c) {
  lt_nodeio *n = c->nio;
  if (n == NULL)
    return;
  if (n->rbuf != NULL)
    iobuf_put(n->rbuf);
  if (n->wbuf != NULL)
    iobuf_put(n->wbuf);
  free(n);
  c->nio = NULL;
}

size_t lt_nodeio_served(const lt_ctx *c) { return c->nio != NULL ? c->nio->rserved : 0; }

/*
 * libtls answers WANT_POLLIN after a record that carried no data for the caller (a TLS 1.3 session
 * ticket, a key update): with more bytes already in our buffer the socket will not become readable
 * for them, so the call is repeated at once, as long as it makes progress on the buffer.
 */
bool lt_nodeio_buffered_more(const lt_ctx *c, ssize_t rc, size_t served) {
  const lt_nodeio *n = c->nio;
  return n != NULL && rc == TLS_WANT_POLLIN && n->rpos < n->rlen && n->rserved != served;
}

void lt_nodeio_begin_attempt(lt_ctx *c) {
  if (c->nio != NULL)
    c->nio->rdrained = false;
}

/* After a call: an emptied buffer is let go of (idle connections keep no 64 KiB each). */
void lt_nodeio_release_idle(lt_ctx *c) {
  lt_nodeio *n = c->nio;
  if (n != NULL && n->rbuf != NULL && n->rpos == n->rlen) {
    iobuf_put(n->rbuf);
    n->rbuf = NULL;
    n->rpos = n->rlen = 0;
  }
}

static ssize_t serve_buffered(lt_nodeio *n, void *buf, size_t len) {
  size_t k = n->rlen - n->rpos;
  if (k > len)
    k = len;
  memcpy(buf, n->rbuf + n->rpos, k);
  n->rpos += k;
  n->rserved += k;
  return (ssize_t)k;
}

/*
 * ---- the fd transport ----
 *
 * The difference from libtls's socket BIO is the read side: OpenSSL reads a record's 5-byte
 * header, then its body, each with a recv(); here one recv() takes whatever the socket holds
 * (several records), and libtls is served from that buffer. A recv() that comes back short means
 * the socket is empty: the rest of the call asks to wait instead of trying again (the poll is
 * level-triggered, so nothing is missed). The buffer exists only while it holds bytes.
 */
ssize_t lt_nodeio_read_cb(struct tls *t, void *buf, size_t len, void *arg) {
  lt_ctx *c = arg;
  lt_nodeio *n = c->nio;
  if (n->rpos == n->rlen) {
    if (n->rdrained)
      return TLS_WANT_POLLIN;
    if (n->rbuf == NULL && (n->rbuf = iobuf_get()) == NULL) {
      errno = ENOMEM;
      return -1;
    }
    ssize_t got;
    do
      got = recv(n->fd, n->rbuf, IOBUF_SIZE, 0);
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
    if (got < IOBUF_SIZE)
      n->rdrained = true;
    n->rpos = 0;
    n->rlen = (size_t)got;
  }
  return serve_buffered(n, buf, len);
}

ssize_t lt_nodeio_write_cb(struct tls *t, const void *buf, size_t len, void *arg) {
  lt_ctx *c = arg;
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
 * ---- stream mode ----
 *
 * For upgrade(), whose read callback takes from a queue and whose write callback takes every chunk
 * whole: the read callback is asked for up to IOBUF_SIZE bytes and what libtls did not ask for yet
 * waits in the receive buffer; ciphertext is collected and handed to the write callback once per
 * call (or per IOBUF_SIZE bytes).
 */
bool lt_nodeio_stream_mode(const lt_ctx *c) {
  return c->nio != NULL && c->nio->kind == LT_NODEIO_STREAM;
}

ssize_t lt_nodeio_stream_read(lt_ctx *c, void *buf, size_t len) {
  lt_nodeio *n = c->nio;
  if (n->rpos < n->rlen)
    return serve_buffered(n, buf, len);
  if (n->rbuf == NULL && (n->rbuf = iobuf_get()) == NULL)
    return lt_cb_fail(c, "out of memory");
  size_t extra = 0;
  ssize_t rc = lt_cb_call_read(c, buf, len, IOBUF_SIZE, n->rbuf, &extra);
  n->rpos = 0;
  n->rlen = extra;
  return rc;
}

/* The collected ciphertext goes to the write callback, which must take it all. */
static void flush_writes(lt_ctx *c) {
  lt_nodeio *n = c->nio;
  if (n == NULL || n->wlen == 0 || c->cbs.failed)
    return;
  size_t len = n->wlen;
  n->wlen = 0;
  ssize_t rc = lt_cb_call_write(c, n->wbuf, len);
  iobuf_put(n->wbuf);
  n->wbuf = NULL;
  if ((rc < 0 || (size_t)rc != len) && !c->cbs.failed)
    lt_cb_fail(c, "the write callback must take every byte");
}

ssize_t lt_nodeio_stream_write(lt_ctx *c, const void *buf, size_t len) {
  lt_nodeio *n = c->nio;
  if (n->wlen + len > IOBUF_SIZE) {
    flush_writes(c);
    if (c->cbs.failed)
      return -1;
    if (len > IOBUF_SIZE) /* never a TLS record: passed on as it is */
      return lt_cb_call_write(c, buf, len);
  }
  if (n->wbuf == NULL && (n->wbuf = iobuf_get()) == NULL)
    return lt_cb_fail(c, "out of memory");
  memcpy(n->wbuf + n->wlen, buf, len);
  n->wlen += len;
  return (ssize_t)len;
}

void lt_nodeio_end_call(lt_ctx *c) { flush_writes(c); }

/* stream_mode(ctx): for a context with transport callbacks, before its handshake */
static napi_value js_stream_mode(napi_env env, napi_callback_info info) {
  ARGS(1);
  lt_ctx *c;
  TRY(lt_ctx_get(env, argv[0], "streamMode", &c));
  if (c->cbs.read == NULL || c->life.handshaken || c->nio != NULL)
    return lt_throw_state(env, "streamMode",
                          "for a context with transport callbacks, before its handshake");
  if (attach(c, LT_NODEIO_STREAM, -1) != 0)
    return lt_throw_tls_errno(env, "streamMode", "out of memory", ENOMEM);
  return lt_undefined(env);
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
 * transport callbacks are not batched (their callbacks run JavaScript); the other contexts are (the
 * socket transports of libtls itself too).
 */

static napi_value batch(napi_env env, napi_callback_info info, bool reading) {
  ARGS(4);
  const char *op = reading ? "tls_read" : "tls_write";
  lt_ctx *c;
  uint8_t *data;
  size_t len;
  TRY(lt_io_begin(env, argv, op, !reading, &c, &data, &len));
  if (c->cbs.read != NULL && !lt_nodeio_stream_mode(c))
    return lt_throw_state(env, op, "batched I/O is for the Node.js layer's transports");
  if (reading)
    c->life.has_read = true;
  lt_nodeio_begin_attempt(c);
  size_t done = 0;
  int want = 0;
  c->life.busy++; /* stream mode: the transport callbacks run JavaScript */
  c->cbs.failed = false;
  c->cbs.error = NULL;
  ssize_t rc = 0;
  while (done < len) {
    size_t chunk = len - done;
    if (!reading && chunk > RECORD_SIZE)
      chunk = RECORD_SIZE; /* after WANT_*, the next call offers this same slice again */
    size_t served = lt_nodeio_served(c);
    c->io_errno = 0;
    rc = reading ? tls_read(c->tls, data + done, chunk) : tls_write(c->tls, data + done, chunk);
    if (c->cbs.failed)
      break;
    if (lt_nodeio_buffered_more(c, rc, served))
      continue;
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
  flush_writes(c);
  c->life.busy--;
  if (done == 0 || c->cbs.failed)
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
      EXPORT_FN("stream_mode", js_stream_mode),
  };
  napi_status st = napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns);
  if (st != napi_ok)
    return st;
  return napi_add_env_cleanup_hook(env, free_spare_iobufs, NULL);
}
