/*
 * The Node.js layer's server side without JavaScript per step (createServer()): the listening
 * socket's readiness wakes C, which accepts (accept4), sets the connection up and drives
 * tls_handshake through its WANT_POLLIN / WANT_POLLOUT steps on the connection's own uv_poll_t,
 * under a handshake timer. JavaScript hears of a connection once, when its handshake is over, with
 * its addresses (the peer's from accept4(): a reset connection still has one):
 *
 *   SECURE   the handshake completed: the context and the fd are JavaScript's from now on;
 *   FAILED   tls_handshake failed: the failure is kept on the context (the next call on it throws
 *            it, with libtls's text), the fd is JavaScript's to report and close;
 *   TIMEOUT  the handshake timer ran out first: the same hand-over;
 *   DROPPED  maxConnections was reached: the fd only, for 'drop', to close;
 *   ERROR    accept4() failed for another reason than an empty queue (EMFILE sheds the queue
 *            instead, as libuv does): its errno.
 * (LT_ACCEPTOR_* in addon.h, exported as constants.)
 *
 * JavaScript may also hand over a connection accepted elsewhere (acceptor_adopt: node:cluster's
 * round-robin primary gives a worker connections, not a listening socket).
 *
 * Lifetime: the acceptor's JavaScript object is held (a strong reference to itself) while it
 * listens or has handshakes in progress; each handshake holds its context's object until the
 * hand-over. Every handle is closed on environment teardown (a worker's terminate()), and the fds
 * that were never handed over are closed with them.
 */
#include "context.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

static const napi_type_tag acceptor_tag = {0x6c6962746c736163ULL, 0x636570746f7231b2ULL};

/* At most this many connections are accepted per readiness event (the rest wait for the next turn
 * of the event loop, so that a burst of clients does not hold timers up). */
#define ACCEPT_BURST 16

typedef struct lt_acceptor lt_acceptor;

/* A connection whose handshake runs in C. */
typedef struct lt_pending {
  uv_poll_t poll;
  uv_timer_t timer;
  lt_acceptor *a;
  lt_ctx *c;
  napi_ref ctx;                 /* the accepted context's JavaScript object, until the hand-over */
  int fd;                       /* owned until the hand-over, then JavaScript's */
  struct sockaddr_storage peer; /* from accept4(): readable after a reset, unlike getpeername() */
  bool has_peer;
  int open; /* of poll and timer, not yet closed */
  struct lt_pending *prev, *next;
} lt_pending;

struct lt_acceptor {
  uv_poll_t *listen; /* on listen_fd while listening (its own allocation: a closing one may still
                        wait for its close callback when listen() is called again) */
  napi_env env;
  uv_loop_t *loop;
  napi_ref self;     /* strong while listening or handshaking */
  napi_ref server;   /* the server context's JavaScript object */
  napi_ref callback; /* (event, ctx, fd, errno) */
  napi_async_context async;
  napi_async_cleanup_hook_handle hook;
  lt_ctx *srv;
  int listen_fd;    /* owned, or -1 */
  int reserve_fd;   /* kept open while listening, to make room under EMFILE as libuv does, or -1 */
  uint32_t timeout; /* ms; 0: none */
  int32_t max_connections; /* 0: none */
  int32_t handed;          /* secure connections handed over and not yet released */
  int pending;
  lt_pending *head;
  int open; /* handles not yet closed: the listening poll and every pending one's */
  bool nodelay, listening, unref, held, tearing_down, finalized;
};

/* After a handle closed: the teardown is over once none is open; the memory goes once the
 * JavaScript object went too. */
static void maybe_free(lt_acceptor *a) {
  if (a->open > 0)
    return;
  if (a->hook && (a->tearing_down || a->finalized)) {
    napi_remove_async_cleanup_hook(a->hook);
    a->hook = NULL;
  }
  if (a->finalized)
    free(a);
}

/* Holds the JavaScript object while there is something to wait for. */
static void update_hold(lt_acceptor *a) {
  bool want = !a->tearing_down && (a->listening || a->pending > 0);
  uint32_t n;
  if (want && !a->held && napi_reference_ref(a->env, a->self, &n) == napi_ok)
    a->held = true;
  else if (!want && a->held && napi_reference_unref(a->env, a->self, &n) == napi_ok)
    a->held = false;
}

/* ---- calls into JavaScript ---- */

/*
 * Calls the callback (event, ctx, fd, errno, addresses); false if it could not be called (the fd
 * was not taken). `peer`: the peer's address from accept4(), or NULL.
 */
static bool emit(lt_acceptor *a, int event, napi_value ctx, int fd, int err,
                 const struct sockaddr_storage *peer) {
  napi_env env = a->env;
  if (a->callback == NULL || a->tearing_down)
    return false;
  napi_value fn, recv, argv[5], res;
  if (napi_get_reference_value(env, a->callback, &fn) != napi_ok || fn == NULL ||
      napi_get_reference_value(env, a->self, &recv) != napi_ok || recv == NULL)
    return false;
  if (ctx == NULL && napi_get_null(env, &ctx) != napi_ok)
    return false;
  if (napi_create_int32(env, event, &argv[0]) != napi_ok ||
      napi_create_int32(env, fd, &argv[2]) != napi_ok ||
      napi_create_int32(env, err, &argv[3]) != napi_ok)
    return false;
  if (fd < 0 ? napi_get_null(env, &argv[4]) != napi_ok
             : lt_fd_addresses(env, fd, peer, &argv[4]) != napi_ok)
    return false;
  argv[1] = ctx;
  if (napi_make_callback(env, a->async, recv, fn, 5, argv, &res) != napi_ok) {
    bool pending = false;
    napi_value e;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
        napi_get_and_clear_last_exception(env, &e) == napi_ok)
      napi_fatal_exception(env, e);
  }
  return true;
}

/* ---- one handshake ---- */

static void pending_closed(uv_handle_t *h) {
  lt_pending *p = h->data;
  lt_acceptor *a = p->a;
  if (--p->open == 0) {
    free(p);
    a->open--;
    maybe_free(a);
  }
}

/* Unlinks p and closes its handles; the fd and the context go to JavaScript (or are dropped). */
static void pending_end(lt_pending *p) {
  lt_acceptor *a = p->a;
  if (p->prev)
    p->prev->next = p->next;
  else
    a->head = p->next;
  if (p->next)
    p->next->prev = p->prev;
  p->prev = p->next = NULL;
  a->pending--;
  uv_close((uv_handle_t *)&p->poll, pending_closed);
  uv_close((uv_handle_t *)&p->timer, pending_closed);
}

/* The hand-over: JavaScript gets the context and the fd (the uv_poll_t is closed first, so the fd
 * can be watched again at once). */
static void hand_over(lt_pending *p, int event) {
  lt_acceptor *a = p->a;
  napi_env env = a->env;
  napi_ref ref = p->ctx;
  int fd = p->fd;
  struct sockaddr_storage peer = p->peer;
  bool has_peer = p->has_peer;
  p->ctx = NULL;
  pending_end(p);
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) {
    close(fd);
    napi_delete_reference(env, ref);
    update_hold(a);
    return;
  }
  napi_value ctx = NULL;
  if (napi_get_reference_value(env, ref, &ctx) != napi_ok)
    ctx = NULL;
  napi_delete_reference(env, ref);
  if (event == LT_ACCEPTOR_SECURE)
    a->handed++;
  if (ctx == NULL || !emit(a, event, ctx, fd, 0, has_peer ? &peer : NULL)) {
    if (event == LT_ACCEPTOR_SECURE)
      a->handed--;
    close(fd);
  }
  update_hold(a);
  napi_close_handle_scope(env, scope);
}

static void on_conn_event(uv_poll_t *h, int status, int events);

/* One step of the handshake: waits for what libtls asked, or hands the connection over. */
static void drive(lt_pending *p) {
  lt_ctx *c = p->c;
  int rc = GUARDED(c, tls_handshake(c->tls));
  lt_nodeio_release_idle(c);
  if (rc == TLS_WANT_POLLIN || rc == TLS_WANT_POLLOUT) {
    int err =
        uv_poll_start(&p->poll, rc == TLS_WANT_POLLIN ? UV_READABLE : UV_WRITABLE, on_conn_event);
    if (err == 0)
      return;
    /* cannot watch it: the connection fails as if the socket had */
    c->io_errno = -err;
    rc = -1;
  }
  if (rc == 0) {
    c->life.handshaken = true;
    hand_over(p, LT_ACCEPTOR_SECURE);
  } else {
    lt_record_failure(c, "tls_handshake");
    hand_over(p, LT_ACCEPTOR_FAILED);
  }
}

static void on_conn_event(uv_poll_t *h, int status, int events) {
  lt_pending *p = h->data;
  uv_poll_stop(h);
  /* on POLLERR the handshake call itself reports what went wrong */
  drive(p);
}

static void on_timeout(uv_timer_t *h) {
  lt_pending *p = h->data;
  uv_poll_stop(&p->poll);
  hand_over(p, LT_ACCEPTOR_TIMEOUT);
}

/* Starts the handshake of connection fd (owned from here on); peer: from accept4(), or NULL. */
static void start(lt_acceptor *a, int fd, const struct sockaddr_storage *peer) {
  napi_env env = a->env;
  if (a->max_connections > 0 && a->pending + a->handed >= a->max_connections) {
    if (!emit(a, LT_ACCEPTOR_DROPPED, NULL, fd, 0, peer))
      close(fd);
    return;
  }
  if (a->nodelay) {
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* not TCP: ignored */
  }
  napi_value server;
  lt_ctx *child = NULL;
  napi_value obj = NULL;
  if (napi_get_reference_value(env, a->server, &server) == napi_ok && server != NULL &&
      a->srv->tls != NULL && !a->srv->life.freed && a->srv->life.configured)
    obj = lt_accept_fd_transport(env, server, a->srv, fd, &child);
  int err = obj == NULL ? EINVAL : 0;
  lt_pending *p = obj != NULL ? calloc(1, sizeof(*p)) : NULL;
  if (obj != NULL && p == NULL)
    err = ENOMEM;
  napi_ref ref = NULL;
  if (p == NULL || napi_create_reference(env, obj, 1, &ref) != napi_ok ||
      uv_poll_init(a->loop, &p->poll, fd) != 0) {
    /* out of memory, or the server context was freed or reset: the connection is refused (a
     * context made already goes with its object) */
    bool pending = false;
    napi_value e;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending)
      napi_get_and_clear_last_exception(env, &e);
    if (ref)
      napi_delete_reference(env, ref);
    free(p);
    close(fd);
    emit(a, LT_ACCEPTOR_ERROR, NULL, -1, err != 0 ? err : ENOMEM, NULL);
    return;
  }
  if (peer != NULL) {
    p->peer = *peer;
    p->has_peer = true;
  }
  uv_timer_init(a->loop, &p->timer);
  p->poll.data = p;
  p->timer.data = p;
  p->open = 2;
  p->a = a;
  p->c = child;
  p->ctx = ref;
  p->fd = fd;
  p->next = a->head;
  if (a->head)
    a->head->prev = p;
  a->head = p;
  a->pending++;
  a->open++;
  update_hold(a);
  if (a->timeout > 0)
    uv_timer_start(&p->timer, on_timeout, a->timeout, 0);
  drive(p);
}

/* ---- the listening socket ---- */

/* EMFILE/ENFILE: accept and close what waits, with the fd kept in reserve, as libuv does. */
static void shed(lt_acceptor *a) {
  if (a->reserve_fd < 0)
    return;
  close(a->reserve_fd);
  a->reserve_fd = -1;
  for (int i = 0; i < ACCEPT_BURST; i++) {
    int fd = accept4(a->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0 && errno == EINTR)
      continue;
    if (fd < 0)
      break;
    close(fd);
  }
  a->reserve_fd = open("/", O_RDONLY | O_CLOEXEC);
}

static void on_listen_event(uv_poll_t *h, int status, int events) {
  lt_acceptor *a = h->data;
  napi_handle_scope scope;
  if (napi_open_handle_scope(a->env, &scope) != napi_ok)
    return;
  for (int i = 0; i < ACCEPT_BURST && a->listening && a->listen == (uv_poll_t *)h; i++) {
    struct sockaddr_storage peer;
    socklen_t len = sizeof(peer);
    int fd = accept4(a->listen_fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      start(a, fd, &peer);
      continue;
    }
    if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      break;
    if (errno == EMFILE || errno == ENFILE) {
      shed(a);
      break;
    }
    emit(a, LT_ACCEPTOR_ERROR, NULL, -1, errno, NULL);
    break;
  }
  napi_close_handle_scope(a->env, scope);
}

static void listen_closed(uv_handle_t *h) {
  lt_acceptor *a = h->data;
  free(h);
  a->open--;
  maybe_free(a);
}

static void stop_listening(lt_acceptor *a) {
  if (!a->listening)
    return;
  a->listening = false;
  uv_close((uv_handle_t *)a->listen, listen_closed);
  a->listen = NULL;
  /* after uv_close(), which has unregistered it: the number may be reused at once */
  close(a->listen_fd);
  a->listen_fd = -1;
  if (a->reserve_fd >= 0) {
    close(a->reserve_fd);
    a->reserve_fd = -1;
  }
}

/* Environment teardown: every handle closed, every fd not handed over closed, no more calls. */
static void on_teardown(napi_async_cleanup_hook_handle hook, void *arg) {
  lt_acceptor *a = arg;
  a->tearing_down = true;
  stop_listening(a);
  while (a->head != NULL) {
    lt_pending *p = a->head;
    int fd = p->fd;
    if (p->ctx) {
      napi_delete_reference(a->env, p->ctx);
      p->ctx = NULL;
    }
    pending_end(p);
    close(fd);
  }
  update_hold(a);
  maybe_free(a);
}

static void acceptor_finalize(napi_env env, void *data, void *hint) {
  lt_acceptor *a = data;
  if (a->callback) {
    napi_delete_reference(env, a->callback);
    a->callback = NULL;
  }
  if (a->server) {
    napi_delete_reference(env, a->server);
    a->server = NULL;
  }
  if (a->self) {
    napi_delete_reference(env, a->self);
    a->self = NULL;
  }
  if (a->async) {
    napi_async_destroy(env, a->async);
    a->async = NULL;
  }
  /* not held: neither listening nor handshaking, so every handle is closed or closing */
  a->finalized = true;
  maybe_free(a);
}

static int acceptor_from(napi_env env, napi_value v, lt_acceptor **out) {
  void *p = NULL;
  if (lt_unwrap(env, v, &acceptor_tag, "Acceptor", &p) != 0)
    return -1;
  *out = p;
  if ((*out)->tearing_down) {
    lt_throw_state(env, "acceptor", "the environment is going away");
    return -1;
  }
  return 0;
}

/* acceptor_new(server, callback, handshakeTimeoutMs, noDelay) */
static napi_value js_acceptor_new(napi_env env, napi_callback_info info) {
  ARGS(4);
  lt_ctx *s;
  uint32_t timeout;
  bool nodelay;
  napi_valuetype t;
  TRY(lt_ctx_get(env, argv[0], "acceptor", &s));
  if (s->kind != LT_KIND_SERVER || !s->life.configured)
    return lt_throw_state(env, "acceptor", "not a configured server context");
  NAPI_CALL(env, napi_typeof(env, argv[1], &t));
  if (t != napi_function) {
    napi_throw_type_error(env, NULL, "callback must be a function");
    return NULL;
  }
  TRY(lt_get_uint32(env, argv[2], &timeout));
  NAPI_CALL(env, napi_get_value_bool(env, argv[3], &nodelay));
  uv_loop_t *loop;
  NAPI_CALL(env, napi_get_uv_event_loop(env, &loop));
  lt_acceptor *a = calloc(1, sizeof(*a));
  if (a == NULL)
    return lt_throw_tls_errno(env, "acceptor", "out of memory", ENOMEM);
  a->env = env;
  a->loop = loop;
  a->srv = s;
  a->listen_fd = -1;
  a->reserve_fd = -1;
  a->timeout = timeout;
  a->nodelay = nodelay;
  napi_value obj, name;
  napi_status st = napi_create_object(env, &obj);
  if (st == napi_ok)
    st = napi_create_string_utf8(env, "libtls.acceptor", NAPI_AUTO_LENGTH, &name);
  if (st == napi_ok)
    st = napi_async_init(env, obj, name, &a->async);
  if (st == napi_ok)
    st = napi_create_reference(env, argv[1], 1, &a->callback);
  if (st == napi_ok)
    st = napi_create_reference(env, argv[0], 1, &a->server);
  if (st == napi_ok)
    st = napi_create_reference(env, obj, 0, &a->self);
  if (st == napi_ok)
    st = napi_add_async_cleanup_hook(env, on_teardown, a, &a->hook);
  if (st != napi_ok || lt_wrap(env, obj, &acceptor_tag, a, acceptor_finalize) != 0) {
    acceptor_finalize(env, a, NULL);
    if (st != napi_ok)
      lt_throw_status(env, st, "acceptor_new");
    return NULL;
  }
  return obj;
}

/* acceptor_listen(acceptor, fd): accepts on listening socket fd, which it owns from now on */
static napi_value js_acceptor_listen(napi_env env, napi_callback_info info) {
  ARGS(2);
  lt_acceptor *a;
  int fd;
  TRY(acceptor_from(env, argv[0], &a));
  TRY(lt_get_fd(env, argv[1], &fd));
  if (a->listening) {
    close(fd);
    return lt_throw_state(env, "acceptor_listen", "already listening");
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
    int e = errno;
    close(fd);
    return lt_throw_tls_errno(env, "acceptor_listen", strerror(e), e);
  }
  uv_poll_t *h = malloc(sizeof(*h));
  int rc = h == NULL ? UV_ENOMEM : uv_poll_init(a->loop, h, fd);
  if (rc == 0) {
    h->data = a;
    a->open++;
    rc = uv_poll_start(h, UV_READABLE, on_listen_event);
    if (rc != 0)
      uv_close((uv_handle_t *)h, listen_closed);
  } else {
    free(h);
  }
  if (rc != 0) {
    close(fd);
    return lt_throw_tls_errno(env, "acceptor_listen", uv_strerror(rc), -rc);
  }
  if (a->unref)
    uv_unref((uv_handle_t *)h);
  a->listen = h;
  a->listen_fd = fd;
  a->listening = true;
  a->reserve_fd = open("/", O_RDONLY | O_CLOEXEC);
  update_hold(a);
  return lt_undefined(env);
}

/* acceptor_adopt(acceptor, fd): runs the handshake of a connection accepted elsewhere (fd owned) */
static napi_value js_acceptor_adopt(napi_env env, napi_callback_info info) {
  ARGS(2);
  lt_acceptor *a;
  int fd;
  TRY(acceptor_from(env, argv[0], &a));
  TRY(lt_get_fd(env, argv[1], &fd));
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
    int e = errno;
    close(fd);
    return lt_throw_tls_errno(env, "acceptor_adopt", strerror(e), e);
  }
  /* its peer's address now, while the connection is surely there */
  struct sockaddr_storage peer;
  socklen_t len = sizeof(peer);
  bool known = getpeername(fd, (struct sockaddr *)&peer, &len) == 0;
  start(a, fd, known ? &peer : NULL);
  return lt_undefined(env);
}

/* acceptor_close(acceptor): stops accepting; the handshakes in progress go on */
static napi_value js_acceptor_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  lt_acceptor *a;
  TRY(acceptor_from(env, argv[0], &a));
  stop_listening(a);
  update_hold(a);
  return lt_undefined(env);
}

/* acceptor_pending(acceptor): handshakes in progress */
static napi_value js_acceptor_pending(napi_env env, napi_callback_info info) {
  ARGS(1);
  lt_acceptor *a;
  TRY(acceptor_from(env, argv[0], &a));
  return lt_int(env, a->pending);
}

/* acceptor_released(acceptor): a connection handed over as secure has closed (maxConnections) */
static napi_value js_acceptor_released(napi_env env, napi_callback_info info) {
  ARGS(1);
  lt_acceptor *a;
  TRY(acceptor_from(env, argv[0], &a));
  if (a->handed > 0)
    a->handed--;
  return lt_undefined(env);
}

/* acceptor_set_max(acceptor, n): maxConnections (0: no limit) */
static napi_value js_acceptor_set_max(napi_env env, napi_callback_info info) {
  ARGS(2);
  lt_acceptor *a;
  int32_t n;
  TRY(acceptor_from(env, argv[0], &a));
  TRY(lt_get_int32(env, argv[1], &n));
  a->max_connections = n > 0 ? n : 0;
  return lt_undefined(env);
}

/* acceptor_ref(acceptor, bool): whether the listening socket keeps the process alive */
static napi_value js_acceptor_ref(napi_env env, napi_callback_info info) {
  ARGS(2);
  lt_acceptor *a;
  bool on;
  TRY(acceptor_from(env, argv[0], &a));
  NAPI_CALL(env, napi_get_value_bool(env, argv[1], &on));
  a->unref = !on;
  if (a->listening) {
    if (on)
      uv_ref((uv_handle_t *)a->listen);
    else
      uv_unref((uv_handle_t *)a->listen);
  }
  return lt_undefined(env);
}

napi_status lt_acceptor_init(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      EXPORT_FN("acceptor_new", js_acceptor_new),
      EXPORT_FN("acceptor_listen", js_acceptor_listen),
      EXPORT_FN("acceptor_adopt", js_acceptor_adopt),
      EXPORT_FN("acceptor_close", js_acceptor_close),
      EXPORT_FN("acceptor_pending", js_acceptor_pending),
      EXPORT_FN("acceptor_released", js_acceptor_released),
      EXPORT_FN("acceptor_set_max", js_acceptor_set_max),
      EXPORT_FN("acceptor_ref", js_acceptor_ref),
  };
  return napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns);
}
