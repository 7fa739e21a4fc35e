/*
 * Readiness of a file descriptor on the Node.js event loop (uv_poll_t), for poll() and for the
 * transports built on it.
 *
 * Rules kept here: the handle is started only for the directions asked for and stopped by the
 * caller after the event (level-triggered handles busy-loop otherwise); the JavaScript object is
 * pinned while the handle is active; the handle is closed (uv_close) before the memory goes, and on
 * environment teardown; an exception thrown by the callback is re-raised as uncaught.
 */
#include "addon.h"

#include <errno.h>

#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

static const napi_type_tag poll_tag = {0x6c6962746c73706fULL, 0x6c6c6572763100a1ULL};

typedef struct {
  uv_poll_t handle;
  napi_env env;
  napi_ref self;     /* weak; counted up while the handle is active */
  napi_ref callback; /* (status, events) => void; as self: weak while stopped (its owner keeps it),
                        so a stopped poller of a socket nobody holds can be collected, closing its
                        fd; dropped on close */
  napi_async_context async;
  napi_async_cleanup_hook_handle hook;
  int owned_fd; /* closed right after uv_close(), which unregisters it from the loop at once: never
                   before, or libuv would unregister whatever fd took the number; -1 when the
                   caller keeps its fd */
  bool active, closing, closed, finalized;
} lt_poll;

static void on_closed(uv_handle_t *h) {
  lt_poll *p = h->data;
  p->closed = true;
  if (p->hook) {
    napi_remove_async_cleanup_hook(p->hook);
    p->hook = NULL;
  }
  if (p->finalized)
    free(p);
}

static void begin_close(lt_poll *p) {
  if (p->closing)
    return;
  p->closing = true;
  uv_poll_stop(&p->handle);
  uv_close((uv_handle_t *)&p->handle, on_closed);
  if (p->owned_fd >= 0) {
    close(p->owned_fd);
    p->owned_fd = -1;
  }
}

/* Environment teardown (process or worker exit): the handle must be closed before the loop goes. */
static void on_teardown(napi_async_cleanup_hook_handle hook, void *arg) {
  lt_poll *p = arg;
  if (p->closing) {
    /* on_closed removes the hook */
    return;
  }
  begin_close(p);
}

static void poll_finalize(napi_env env, void *data, void *hint) {
  lt_poll *p = data;
  p->finalized = true;
  if (p->callback) {
    napi_delete_reference(env, p->callback);
    p->callback = NULL;
  }
  if (p->self) {
    napi_delete_reference(env, p->self);
    p->self = NULL;
  }
  if (p->async) {
    napi_async_destroy(env, p->async);
    p->async = NULL;
  }
  if (p->closed)
    free(p);
  else
    begin_close(p);
}

static void on_event(uv_poll_t *h, int status, int events) {
  lt_poll *p = h->data;
  napi_env env = p->env;
  if (p->callback == NULL)
    return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok)
    return;
  napi_value fn, recv, argv[2], res;
  if (napi_get_reference_value(env, p->callback, &fn) == napi_ok && fn != NULL &&
      napi_get_reference_value(env, p->self, &recv) == napi_ok && recv != NULL &&
      napi_create_int32(env, status, &argv[0]) == napi_ok &&
      napi_create_int32(env, events, &argv[1]) == napi_ok) {
    if (napi_make_callback(env, p->async, recv, fn, 2, argv, &res) != napi_ok) {
      bool pending = false;
      napi_value err;
      if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
          napi_get_and_clear_last_exception(env, &err) == napi_ok)
        napi_fatal_exception(env, err);
    }
  }
  napi_close_handle_scope(env, scope);
}

static int poll_from(napi_env env, napi_value v, lt_poll **out) {
  void *p = NULL;
  if (lt_unwrap(env, v, &poll_tag, "Poller", &p) != 0)
    return -1;
  *out = p;
  if ((*out)->closing) {
    lt_throw_state(env, "poll", "the poller is closed");
    return -1;
  }
  return 0;
}

/*
 * pollNew(fd, callback, ownsFd): a stopped poller for fd. With ownsFd the poller closes fd once it
 * is closed itself: by pollClose(), by garbage collection or at environment teardown (a worker's
 * terminate()), so no path leaves the fd open.
 */
static napi_value js_poll_new(napi_env env, napi_callback_info info) {
  ARGS(3);
  int fd;
  bool owns = false;
  napi_valuetype ot, t;
  TRY(lt_get_fd(env, argv[0], &fd));
  if (napi_typeof(env, argv[2], &ot) == napi_ok && ot == napi_boolean &&
      napi_get_value_bool(env, argv[2], &owns) != napi_ok)
    owns = false;
  /* from here on, a failure closes an owned fd: the caller handed it over */
  uv_loop_t *loop;
  lt_poll *p = NULL;
  napi_status st = napi_typeof(env, argv[1], &t);
  if (st == napi_ok && t != napi_function) {
    napi_throw_type_error(env, NULL, "callback must be a function");
  } else if (st == napi_ok && (st = napi_get_uv_event_loop(env, &loop)) == napi_ok &&
             (p = calloc(1, sizeof(*p))) == NULL) {
    lt_throw_tls_errno(env, "poll", "out of memory", ENOMEM);
  }
  if (p == NULL) {
    if (st != napi_ok)
      lt_throw_status(env, st, "pollNew");
    if (owns)
      close(fd);
    return NULL;
  }
  int rc = uv_poll_init(loop, &p->handle, fd);
  if (rc != 0) {
    free(p);
    if (owns)
      close(fd);
    char msg[160];
    snprintf(msg, sizeof(msg), "cannot watch fd %d: %s%s", fd, uv_strerror(rc),
             rc == UV_EEXIST ? " (another watcher owns this fd)" : "");
    return lt_throw_tls_errno(env, "poll", msg, -rc);
  }
  p->handle.data = p;
  p->env = env;
  p->owned_fd = owns ? fd : -1;
  napi_value obj, name;
  st = napi_create_object(env, &obj);
  if (st == napi_ok)
    st = napi_create_string_utf8(env, "libtls.poll", NAPI_AUTO_LENGTH, &name);
  if (st == napi_ok)
    st = napi_async_init(env, obj, name, &p->async);
  if (st == napi_ok)
    st = napi_create_reference(env, argv[1], 0, &p->callback);
  if (st == napi_ok)
    st = napi_create_reference(env, obj, 0, &p->self);
  if (st == napi_ok)
    st = napi_add_async_cleanup_hook(env, on_teardown, p, &p->hook);
  if (st != napi_ok || lt_wrap(env, obj, &poll_tag, p, poll_finalize) != 0) {
    /* not wrapped: tidy up as the finalizer would */
    poll_finalize(env, p, NULL);
    if (st != napi_ok)
      lt_throw_status(env, st, "pollNew");
    return NULL;
  }
  return obj;
}

/* pollStart(poller, events): 1 readable, 2 writable, 3 both */
static napi_value js_poll_start(napi_env env, napi_callback_info info) {
  ARGS(2);
  lt_poll *p;
  int32_t events;
  TRY(poll_from(env, argv[0], &p));
  TRY(lt_get_int32(env, argv[1], &events));
  if (events < 1 || events > 3) {
    napi_throw_range_error(env, NULL, "events must be 1, 2 or 3");
    return NULL;
  }
  int rc = uv_poll_start(&p->handle, events, on_event);
  if (rc != 0)
    return lt_throw_tls_errno(env, "poll", uv_strerror(rc), -rc);
  if (!p->active) {
    uint32_t n;
    NAPI_CALL(env, napi_reference_ref(env, p->self, &n));
    /* active from here, so that deactivate() undoes the first ref if the second fails */
    p->active = true;
    NAPI_CALL(env, napi_reference_ref(env, p->callback, &n));
  }
  return lt_undefined(env);
}

static int deactivate(napi_env env, lt_poll *p) {
  if (p->active) {
    uint32_t n;
    p->active = false;
    NAPI_CALL_INT(env, napi_reference_unref(env, p->self, &n));
    if (p->callback)
      NAPI_CALL_INT(env, napi_reference_unref(env, p->callback, &n));
  }
  return 0;
}

static napi_value js_poll_stop(napi_env env, napi_callback_info info) {
  ARGS(1);
  lt_poll *p;
  TRY(poll_from(env, argv[0], &p));
  uv_poll_stop(&p->handle);
  TRY(deactivate(env, p));
  return lt_undefined(env);
}

/* pollClose(poller): idempotent; the fd may be closed right after this returns */
static napi_value js_poll_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  void *q = NULL;
  TRY(lt_unwrap(env, argv[0], &poll_tag, "Poller", &q));
  lt_poll *p = q;
  if (p->closing)
    return lt_undefined(env);
  TRY(deactivate(env, p));
  if (p->callback) {
    NAPI_CALL(env, napi_delete_reference(env, p->callback));
    p->callback = NULL;
  }
  begin_close(p);
  return lt_undefined(env);
}

/* pollRef(poller, bool): whether an active poller keeps the process alive */
static napi_value js_poll_ref(napi_env env, napi_callback_info info) {
  ARGS(2);
  lt_poll *p;
  bool on;
  TRY(poll_from(env, argv[0], &p));
  NAPI_CALL(env, napi_get_value_bool(env, argv[1], &on));
  if (on)
    uv_ref((uv_handle_t *)&p->handle);
  else
    uv_unref((uv_handle_t *)&p->handle);
  return lt_undefined(env);
}

napi_status lt_poll_init(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      EXPORT_FN("poll_new", js_poll_new),   EXPORT_FN("poll_start", js_poll_start),
      EXPORT_FN("poll_stop", js_poll_stop), EXPORT_FN("poll_close", js_poll_close),
      EXPORT_FN("poll_ref", js_poll_ref),
  };
  return napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns);
}
