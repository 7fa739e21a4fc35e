/*
 * The context (struct tls) and what the files that implement its calls share. The struct is split
 * by concern: where the context is in its life, its family (an accepted context and its server),
 * the kept failure, the 1:1 callback transport, sendfile's pending chunk, and the Node.js layer's
 * I/O (nodeio.c), a separate allocation attached only to the contexts that layer drives.
 *
 *   context.c    lifetime and guards: creation, free, configure, reset, ctx_state
 *   connect.c    connect and accept, client and server side
 *   io.c         handshake, read, write, sendfile, close; the kept failure
 *   info.c       connection, peer certificate and OCSP information
 *   callbacks.c  the 1:1 callback transport (tls_connect_cbs / tls_accept_cbs)
 *   nodeio.c     the Node.js layer's I/O: fd and memory transports, batches, buffer pool
 *   acceptor.c   the Node.js layer's server side: accept and handshake in C
 */
#ifndef LIBTLS_NODE_CONTEXT_H
#define LIBTLS_NODE_CONTEXT_H

#include "addon.h"

#include <sys/types.h>

typedef enum { LT_KIND_CLIENT, LT_KIND_SERVER, LT_KIND_ACCEPTED } lt_kind;

typedef struct lt_ctx lt_ctx;
typedef struct lt_nodeio lt_nodeio;

/* Where the context is in its life. */
typedef struct {
  bool freed;       /* free() was called (the libtls object may wait for its accepted contexts) */
  bool js_alive;    /* the JavaScript wrapper has not been finalized */
  bool configured;  /* has a config: tls_reset() drops it */
  bool connected;   /* connect_* or accept_* succeeded */
  bool handshaken;  /* the handshake completed */
  bool has_read;    /* tls_read was called (a TLS 1.3 client then processes session tickets) */
  bool ocsp_failed; /* tls_ocsp_process_response failed once: never again on this context */
  int busy;         /* inside a libtls call that can run a transport callback */
} lt_life;

/* An accepted context keeps its server's libtls object alive (SNI and ALPN callbacks). */
typedef struct {
  lt_ctx *parent; /* the server an accepted context came from */
  napi_ref parent_ref;
  int children; /* accepted contexts whose libtls object is alive */
} lt_family;

/*
 * The first failed handshake/read/write: the connection is dead, and every later I/O call throws
 * this again (OpenSSL's state after a fatal alert would report success, or spin).
 */
typedef struct {
  char *text;
  const char *op; /* non-NULL once a failure is kept (text may be NULL: out of memory) */
  int sys_errno;
  unsigned long ssl_error; /* the OpenSSL error the failure queued (its code) */
  const char *code;        /* the code it was raised with (a static string), or NULL */
  bool eof;                /* it came from the end of the transport's stream before a close_notify:
                              a TCP close that may have truncated the data */
} lt_failure;

/* The 1:1 callback transport (callbacks.c). */
typedef struct {
  napi_ref read, write;
  bool failed; /* a callback threw or returned something unusable */
  const char *error;
} lt_callbacks;

/* sendfile: after WANT_*, libtls must be given the same chunk again. */
typedef struct {
  uint8_t *buf;
  size_t len;
  int fd;
  int64_t off;
  bool pending;
} lt_sendfile;

struct lt_ctx {
  struct tls *tls; /* NULL once released */
  napi_env env;
  lt_kind kind;
  int owned_fd; /* a socket opened by tls_connect_servername, owned here, or -1 */
  int io_errno; /* errno of the first transport read/write that failed in this call, -1 if the end
                   of the stream came first, or 0 */
  lt_life life;
  lt_family family;
  lt_failure failure;
  lt_callbacks cbs;
  lt_sendfile sf;
  lt_nodeio *nio; /* the Node.js layer's I/O, or NULL */
};

/* context.c */
napi_value lt_ctx_new(napi_env env, struct tls *t, lt_kind kind, lt_ctx **out);
/* The context of `v`, usable for a call that may free, reconfigure or drive it. */
int lt_ctx_get(napi_env env, napi_value v, const char *op, lt_ctx **out);
/* The context of `v` for a read-only query (allowed from inside a transport callback). */
int lt_ctx_peek(napi_env env, napi_value v, const char *op, lt_ctx **out);
/* Frees the libtls object unless accepted contexts still need it; then lets go of the parent. */
void lt_ctx_release(napi_env env, lt_ctx *c);
/* Throws libtls's error text of `t`, or `fallback`. */
napi_value lt_ctx_fail(napi_env env, struct tls *t, const char *op, const char *fallback);
void lt_ctx_close_owned_fd(lt_ctx *c);
napi_status lt_context_init(napi_env env, napi_value exports);

/* connect.c */
napi_status lt_connect_init(napi_env env, napi_value exports);
/* A context accepted on server `s` (its object `server_obj`) with the fd transport on `fd`: its
 * object, *child set; NULL with an exception pending. */
napi_value lt_accept_fd_transport(napi_env env, napi_value server_obj, lt_ctx *s, int fd,
                                  lt_ctx **child);

/* io.c */
int lt_need_connection(napi_env env, lt_ctx *c, const char *op);
/* Throws the kept failure, if any: 0 when there is none. */
int lt_failed_before(napi_env env, lt_ctx *c);
/* Keeps the failure of the call that just returned -1 (the first one only). */
void lt_record_failure(lt_ctx *c, const char *op);
/*
 * Whether the tls_read that just returned `rc` met the end of the Node.js layer's transport
 * without a close_notify (LibreSSL's libtls returns 0 then); if so, it is kept as a failure.
 */
bool lt_read_truncated(lt_ctx *c, ssize_t rc);
/* Keeps the failure of a write that libtls answered with 0 (the peer has closed the connection). */
void lt_record_write_closed(lt_ctx *c, const char *op);
/* Turns a libtls I/O result into a JavaScript value or an exception. */
napi_value lt_io_result(napi_env env, lt_ctx *c, ssize_t rc, const char *op);
/* io_begin's checks and span for (ctx, u8, offset, length) */
int lt_io_begin(napi_env env, napi_value *argv, const char *op, bool writing, lt_ctx **out,
                uint8_t **p, size_t *n);
void lt_failure_clear(lt_ctx *c);
/* Fills the I/O state after a call on `c`: `bytes` moved, `want` (0 or TLS_WANT_*). */
void lt_io_report(const lt_ctx *c, int64_t bytes, int want);
napi_status lt_io_init(napi_env env, napi_value exports);

/* info.c */
napi_status lt_info_init(napi_env env, napi_value exports);

/* callbacks.c */
int lt_callbacks_set(napi_env env, lt_ctx *c, napi_value rd, napi_value wr);
void lt_callbacks_drop(napi_env env, lt_ctx *c);
/* After a guarded call: a callback's exception or complaint wins over libtls's own error. */
bool lt_callbacks_failed(napi_env env, lt_ctx *c);
ssize_t lt_cb_read(struct tls *t, void *buf, size_t len, void *arg);
ssize_t lt_cb_write(struct tls *t, const void *buf, size_t len, void *arg);

/* nodeio.c */
/* Attaches the Node.js layer's fd transport on `fd` (owned by JavaScript); -1 out of memory. */
int lt_nodeio_attach_fd(lt_ctx *c, int fd);
/* Attaches the memory transport; -1 out of memory. */
int lt_nodeio_attach_memory(lt_ctx *c);
void lt_nodeio_drop(lt_ctx *c);
/* tls_accept_cbs / tls_connect_cbs with this layer's callbacks, its SSL object lean when idle */
int lt_nodeio_accept(struct tls *server, struct tls **cctx, lt_ctx *child);
int lt_nodeio_connect(lt_ctx *c, const char *servername);
/* libtls's read and write callbacks for both of the Node.js layer's transports */
ssize_t lt_nodeio_read_cb(struct tls *t, void *buf, size_t len, void *arg);
ssize_t lt_nodeio_write_cb(struct tls *t, const void *buf, size_t len, void *arg);
/* Bytes handed to libtls from the inbound buffer so far (to see progress) */
size_t lt_nodeio_served(const lt_ctx *c);
/* Whether a WANT_POLLIN must be retried at once: more bytes wait in the buffer, and it moved. */
bool lt_nodeio_buffered_more(const lt_ctx *c, ssize_t rc, size_t served);
/* Before each attempt of a call */
void lt_nodeio_begin_attempt(lt_ctx *c);
/* After a call: lets go of an emptied inbound buffer. */
void lt_nodeio_release_idle(lt_ctx *c);
/* node:tls's code for a failed handshake, from the bytes the peer sent (NULL: the library's). */
const char *lt_nodeio_handshake_code(const lt_ctx *c, unsigned long ssl_error);
/* Bytes waiting in the inbound buffer (for libtls) and the outbound one (for JavaScript). */
void lt_nodeio_pending(const lt_ctx *c, size_t *in, size_t *out);
napi_status lt_nodeio_init(napi_env env, napi_value exports);

/*
 * Runs a libtls call that may call back into JavaScript (the 1:1 callbacks: the context is busy
 * meanwhile) or read the Node.js layer's inbound buffer: the OpenSSL error queue is cleared first,
 * and a WANT_POLLIN with more buffered bytes is retried.
 */
#define GUARDED(c, expr)                                                                           \
  ({                                                                                               \
    if ((c)->life.busy == 0)                                                                       \
      lt_clear_ssl_errors();                                                                       \
    (c)->life.busy++;                                                                              \
    __typeof__(expr) r_;                                                                           \
    size_t served_;                                                                                \
    do {                                                                                           \
      lt_nodeio_begin_attempt(c);                                                                  \
      (c)->cbs.failed = false;                                                                     \
      (c)->cbs.error = NULL;                                                                       \
      served_ = lt_nodeio_served(c);                                                               \
      (c)->io_errno = 0;                                                                           \
      r_ = (expr);                                                                                 \
    } while (lt_nodeio_buffered_more(c, r_, served_));                                             \
    (c)->life.busy--;                                                                              \
    r_;                                                                                            \
  })

#endif
