/*
 * struct tls: creation, lifetime and the guards every call on a context goes through.
 *
 * Guards (each would crash or leak in plain libtls, each has a test in test/traps.test.mjs):
 *  - every call on a freed context throws; a context in use by its own transport callback refuses
 *    calls that would free or reconfigure it;
 *  - connect/accept need a config (tls_reset() drops it and tls_connect_socket() dereferences it);
 *  - an accepted context keeps its server's libtls object alive: the server's SNI and ALPN
 * callbacks run during the accepted context's handshake; a server with accepted contexts cannot be
 * reset. The I/O guards are in io.c, the OCSP ones in info.c.
 */
#include "context.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static const napi_type_tag ctx_tag = {0x6c6962746c737463ULL, 0x6f6e746578747631ULL};

static const char *const released_msg = "the context has been freed";
static const char *const busy_msg = "the context is in use by its own transport callback";

void lt_ctx_close_owned_fd(lt_ctx *c) {
  if (c->owned_fd >= 0) {
    shutdown(c->owned_fd, SHUT_RDWR);
    close(c->owned_fd);
    c->owned_fd = -1;
  }
}

static void maybe_free_struct(lt_ctx *c) {
  if (!c->life.js_alive && c->tls == NULL && c->family.children == 0) {
    free(c->sf.buf); /* the Node.js layer's I/O went with the libtls object (lt_nodeio_drop) */
    free(c);
  }
}

/* What tls_reset() and tls_free() both drop: the connection's state, its transport. */
static void drop_connection(napi_env env, lt_ctx *c) {
  lt_failure_clear(c);
  lt_ctx_close_owned_fd(c);
  lt_callbacks_drop(env, c);
  lt_nodeio_drop(c);
  c->sf.pending = false;
}

void lt_ctx_release(napi_env env, lt_ctx *c) {
  if (c->tls == NULL || c->family.children > 0)
    return;
  tls_free(c->tls);
  c->tls = NULL;
  drop_connection(env, c);
  lt_ctx *p = c->family.parent;
  if (p) {
    c->family.parent = NULL;
    if (c->family.parent_ref) {
      napi_delete_reference(env, c->family.parent_ref);
      c->family.parent_ref = NULL;
    }
    p->family.children--;
    if (p->life.freed)
      lt_ctx_release(env, p);
    maybe_free_struct(p);
  }
}

static void ctx_finalize(napi_env env, void *data, void *hint) {
  lt_ctx *c = data;
  c->life.js_alive = false;
  c->life.freed = true;
  lt_ctx_release(env, c);
  maybe_free_struct(c);
}

napi_value lt_ctx_new(napi_env env, struct tls *t, lt_kind kind, lt_ctx **out) {
  lt_ctx *c = calloc(1, sizeof(*c));
  if (c == NULL) {
    if (t)
      tls_free(t);
    return lt_throw_tls_errno(env, kind == LT_KIND_SERVER ? "tls_server" : "tls_client",
                              "out of memory", ENOMEM);
  }
  c->tls = t;
  c->env = env;
  c->kind = kind;
  c->life.js_alive = true;
  c->life.configured = true;
  c->owned_fd = -1;
  napi_value obj;
  napi_status st = napi_create_object(env, &obj);
  if (st == napi_ok && lt_wrap(env, obj, &ctx_tag, c, ctx_finalize) == 0) {
    if (out)
      *out = c;
    return obj;
  }
  c->life.js_alive = false;
  if (t)
    tls_free(t);
  c->tls = NULL;
  maybe_free_struct(c);
  if (st != napi_ok)
    lt_throw_status(env, st, "napi_create_object");
  return NULL;
}

int lt_ctx_peek(napi_env env, napi_value v, const char *op, lt_ctx **out) {
  void *p = NULL;
  if (lt_unwrap(env, v, &ctx_tag, "Tls", &p) != 0)
    return -1;
  lt_ctx *c = p;
  if (c->life.freed || c->tls == NULL) {
    lt_throw_state(env, op, released_msg);
    return -1;
  }
  *out = c;
  return 0;
}

int lt_ctx_get(napi_env env, napi_value v, const char *op, lt_ctx **out) {
  lt_ctx *c;
  if (lt_ctx_peek(env, v, op, &c) != 0)
    return -1;
  if (c->life.busy) {
    lt_throw_state(env, op, busy_msg);
    return -1;
  }
  lt_clear_ssl_errors(); /* what the queue holds after the call is then the call's own */
  *out = c;
  return 0;
}

napi_value lt_ctx_fail(napi_env env, struct tls *t, const char *op, const char *fallback) {
  const char *e = t ? tls_error(t) : NULL;
  return lt_throw_tls(env, op, e ? e : fallback);
}

static napi_value js_tls_client(napi_env env, napi_callback_info info) {
  struct tls *t = tls_client();
  if (t == NULL)
    return lt_throw_tls_errno(env, "tls_client", "out of memory", ENOMEM);
  return lt_ctx_new(env, t, LT_KIND_CLIENT, NULL);
}

static napi_value js_tls_server(napi_env env, napi_callback_info info) {
  struct tls *t = tls_server();
  if (t == NULL)
    return lt_throw_tls_errno(env, "tls_server", "out of memory", ENOMEM);
  return lt_ctx_new(env, t, LT_KIND_SERVER, NULL);
}

static napi_value js_tls_free(napi_env env, napi_callback_info info) {
  ARGS(1);
  void *p = NULL;
  TRY(lt_unwrap(env, argv[0], &ctx_tag, "Tls", &p));
  lt_ctx *c = p;
  if (c->life.busy)
    return lt_throw_state(env, "tls_free", busy_msg);
  if (!c->life.freed) {
    c->life.freed = true;
    lt_ctx_release(env, c);
  }
  return lt_undefined(env);
}

static napi_value js_tls_configure(napi_env env, napi_callback_info info) {
  ARGS(2);
  lt_ctx *c;
  lt_config *cfg;
  TRY(lt_ctx_get(env, argv[0], "tls_configure", &c));
  TRY(lt_config_from(env, argv[1], &cfg));
  if (c->kind == LT_KIND_ACCEPTED)
    return lt_throw_state(env, "tls_configure", "an accepted context uses its server's config");
  if (tls_configure(c->tls, cfg->cfg) != 0)
    return lt_ctx_fail(env, c->tls, "tls_configure", "cannot configure the context");
  c->life.configured = true;
  return lt_undefined(env);
}

static napi_value js_tls_reset(napi_env env, napi_callback_info info) {
  ARGS(1);
  lt_ctx *c;
  TRY(lt_ctx_get(env, argv[0], "tls_reset", &c));
  if (c->kind == LT_KIND_ACCEPTED)
    return lt_throw_state(env, "tls_reset", "an accepted context cannot be reset; free it instead");
  if (c->family.children > 0)
    return lt_throw_state(env, "tls_reset",
                          "the server still has accepted contexts; free them before reset()");
  tls_reset(c->tls);
  drop_connection(env, c);
  int busy = c->life.busy;
  c->life = (lt_life){.js_alive = true, .busy = busy};
  return lt_undefined(env);
}

/* ctx_state(ctx): the LT_STATE_* bits, what the TypeScript layer needs to know without guessing */
static napi_value js_ctx_state(napi_env env, napi_callback_info info) {
  ARGS(1);
  void *p = NULL;
  TRY(lt_unwrap(env, argv[0], &ctx_tag, "Tls", &p));
  lt_ctx *c = p;
  int flags = (c->life.freed ? LT_STATE_FREED : 0) | (c->life.connected ? LT_STATE_CONNECTED : 0) |
              (c->life.handshaken ? LT_STATE_HANDSHAKEN : 0) |
              (c->life.configured ? LT_STATE_CONFIGURED : 0) |
              (c->owned_fd >= 0 ? LT_STATE_OWNS_SOCKET : 0) |
              (c->failure.eof ? LT_STATE_EOF_FAILURE : 0) |
              (c->failure.op != NULL ? LT_STATE_FAILED : 0);
  return lt_int(env, flags);
}

napi_status lt_context_init(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      EXPORT_FN("tls_client", js_tls_client), EXPORT_FN("tls_server", js_tls_server),
      EXPORT_FN("tls_free", js_tls_free),     EXPORT_FN("tls_configure", js_tls_configure),
      EXPORT_FN("tls_reset", js_tls_reset),   EXPORT_FN("ctx_state", js_ctx_state),
  };
  return napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns);
}
