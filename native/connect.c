/*
 * connect and accept: the client side (tls_connect_servername, tls_connect_socket, _fds, _cbs) and
 * the server side (tls_accept_socket, _fds, _cbs), plus the Node.js layer's transports (nodeio.c):
 * connect_fd_transport and, for acceptor.c, lt_accept_fd_transport (the socket calls with libtls
 * reading and writing the fd through nodeio.c's callbacks), and connect_memory, accept_memory (the
 * memory transport).
 *
 * Guards: a connect or accept needs a config (tls_reset() drops it, and libtls dereferences it); a
 * client connects once until reset(); tls_connect_servername opens its socket here, so that free()
 * can close it; an accepted context holds a reference to its server.
 */
#include "context.h"

#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* How an accepted context's ciphertext moves. */
typedef enum {
  LT_ACCEPT_SOCKET,
  LT_ACCEPT_FDS,
  LT_ACCEPT_CBS,
  LT_ACCEPT_FD_TRANSPORT,
  LT_ACCEPT_MEMORY,
} lt_accept_mode;

/* A context of `kind` that has a config (tls_reset() drops it; connect/accept dereference it). */
static int need_kind(napi_env env, lt_ctx *c, const char *op, lt_kind kind) {
  if (c->kind != kind) {
    lt_throw_state(env, op,
                   kind == LT_KIND_SERVER ? "not a server context" : "not a client context");
    return -1;
  }
  if (!c->life.configured) {
    lt_throw_state(env, op, "the context has no config: call configure() after reset()");
    return -1;
  }
  return 0;
}

/* ---- server side ---- */

/* Wraps a new accepted context that keeps its server alive. */
static napi_value adopt(napi_env env, napi_value server_obj, lt_ctx *child, napi_value child_obj) {
  napi_status st = napi_create_reference(env, server_obj, 1, &child->family.parent_ref);
  if (st != napi_ok) {
    /* without the reference the server could go first: drop the child now */
    child->life.freed = true;
    lt_ctx_release(env, child);
    NAPI_CALL(env, st);
  }
  return child_obj;
}

static napi_value accept_common(napi_env env, napi_value server_obj, lt_ctx *s, lt_accept_mode mode,
                                int fdr, int fdw, napi_value rd, napi_value wr) {
  lt_ctx *child = NULL;
  napi_value child_obj = lt_ctx_new(env, NULL, LT_KIND_ACCEPTED, &child);
  if (child_obj == NULL)
    return NULL;
  child->life.freed = true; /* until accepted: a failure leaves nothing to free */
  if (mode == LT_ACCEPT_CBS && lt_callbacks_set(env, child, rd, wr) != 0) {
    lt_callbacks_drop(env, child);
    return NULL;
  }
  if ((mode == LT_ACCEPT_FD_TRANSPORT && lt_nodeio_attach_fd(child, fdr) != 0) ||
      (mode == LT_ACCEPT_MEMORY && lt_nodeio_attach_memory(child) != 0))
    return lt_throw_tls_errno(env, "tls_accept_cbs", "out of memory", ENOMEM);
  struct tls *cctx = NULL;
  int rc;
  const char *op;
  switch (mode) {
  case LT_ACCEPT_SOCKET:
    op = "tls_accept_socket";
    rc = tls_accept_socket(s->tls, &cctx, fdr);
    break;
  case LT_ACCEPT_FDS:
    op = "tls_accept_fds";
    rc = tls_accept_fds(s->tls, &cctx, fdr, fdw);
    break;
  case LT_ACCEPT_CBS:
    op = "tls_accept_cbs";
    rc = tls_accept_cbs(s->tls, &cctx, lt_cb_read, lt_cb_write, child);
    break;
  default: /* the Node.js layer's transports, on libtls's callback transport */
    op = mode == LT_ACCEPT_MEMORY ? "tls_accept_cbs" : "tls_accept_socket";
    rc = lt_nodeio_accept(s->tls, &cctx, child);
    break;
  }
  if (rc != 0) {
    lt_callbacks_drop(env, child);
    lt_nodeio_drop(child);
    return lt_ctx_fail(env, s->tls, op, "cannot accept");
  }
  child->tls = cctx;
  child->life.freed = false;
  child->life.connected = true;
  child->family.parent = s;
  s->family.children++;
  return adopt(env, server_obj, child, child_obj);
}

napi_value lt_accept_fd_transport(napi_env env, napi_value server_obj, lt_ctx *s, int fd,
                                  lt_ctx **child) {
  napi_value obj = accept_common(env, server_obj, s, LT_ACCEPT_FD_TRANSPORT, fd, fd, NULL, NULL);
  if (obj != NULL && lt_ctx_peek(env, obj, "tls_accept_socket", child) != 0)
    return NULL;
  return obj;
}

/* tls_accept_socket(server, fd) */
static napi_value accept_on_fd(napi_env env, napi_callback_info info, lt_accept_mode mode) {
  ARGS(2);
  lt_ctx *c;
  int fd;
  TRY(lt_ctx_get(env, argv[0], "tls_accept_socket", &c));
  TRY(need_kind(env, c, "tls_accept_socket", LT_KIND_SERVER));
  TRY(lt_get_fd(env, argv[1], &fd));
  return accept_common(env, argv[0], c, mode, fd, fd, NULL, NULL);
}

static napi_value js_tls_accept_socket(napi_env env, napi_callback_info info) {
  return accept_on_fd(env, info, LT_ACCEPT_SOCKET);
}

static napi_value js_tls_accept_fds(napi_env env, napi_callback_info info) {
  ARGS(3);
  lt_ctx *c;
  int fdr, fdw;
  TRY(lt_ctx_get(env, argv[0], "tls_accept_fds", &c));
  TRY(need_kind(env, c, "tls_accept_fds", LT_KIND_SERVER));
  TRY(lt_get_fd(env, argv[1], &fdr));
  TRY(lt_get_fd(env, argv[2], &fdw));
  return accept_common(env, argv[0], c, LT_ACCEPT_FDS, fdr, fdw, NULL, NULL);
}

/* accept_memory(server): a context of the memory transport (nodeio.c) */
static napi_value js_accept_memory(napi_env env, napi_callback_info info) {
  ARGS(1);
  lt_ctx *c;
  TRY(lt_ctx_get(env, argv[0], "tls_accept_cbs", &c));
  TRY(need_kind(env, c, "tls_accept_cbs", LT_KIND_SERVER));
  return accept_common(env, argv[0], c, LT_ACCEPT_MEMORY, -1, -1, NULL, NULL);
}

static napi_value js_tls_accept_cbs(napi_env env, napi_callback_info info) {
  ARGS(3);
  lt_ctx *c;
  TRY(lt_ctx_get(env, argv[0], "tls_accept_cbs", &c));
  TRY(need_kind(env, c, "tls_accept_cbs", LT_KIND_SERVER));
  return accept_common(env, argv[0], c, LT_ACCEPT_CBS, -1, -1, argv[1], argv[2]);
}

/* ---- client side ---- */

static int need_client(napi_env env, lt_ctx *c, const char *op) {
  if (need_kind(env, c, op, LT_KIND_CLIENT) != 0)
    return -1;
  if (c->life.connected) {
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

/* tls_connect_servername(ctx, host, port | null, servername | null): tls_connect is the same
   without a servername */
static napi_value js_tls_connect_servername(napi_env env, napi_callback_info info) {
  ARGS(4);
  lt_ctx *c;
  TRY(lt_ctx_get(env, argv[0], "tls_connect", &c));
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
    lt_ctx_fail(env, c->tls, "tls_connect", "cannot connect");
    goto out;
  }
  c->owned_fd = s;
  c->life.connected = true;
  ret = lt_undefined(env);
out:
  free(host);
  free(port);
  free(servername);
  return ret;
}

/* tls_connect_socket(ctx, fd, servername), and connect_fd_transport (the same, libtls reading and
   writing the fd through nodeio.c's callbacks) */
static napi_value connect_on_fd(napi_env env, napi_callback_info info, bool fd_transport) {
  ARGS(3);
  lt_ctx *c;
  int fd;
  char *servername;
  TRY(lt_ctx_get(env, argv[0], "tls_connect_socket", &c));
  TRY(need_client(env, c, "tls_connect_socket"));
  TRY(lt_get_fd(env, argv[1], &fd));
  TRY(lt_get_string(env, argv[2], true, &servername));
  int rc;
  if (fd_transport) {
    if (lt_nodeio_attach_fd(c, fd) != 0) {
      free(servername);
      return lt_throw_tls_errno(env, "tls_connect_socket", "out of memory", ENOMEM);
    }
    rc = lt_nodeio_connect(c, servername);
    if (rc != 0)
      lt_nodeio_drop(c);
  } else {
    rc = tls_connect_socket(c->tls, fd, servername);
  }
  free(servername);
  if (rc != 0)
    return lt_ctx_fail(env, c->tls, "tls_connect_socket", "cannot connect");
  c->life.connected = true;
  return lt_undefined(env);
}

static napi_value js_tls_connect_socket(napi_env env, napi_callback_info info) {
  return connect_on_fd(env, info, false);
}

static napi_value js_connect_fd_transport(napi_env env, napi_callback_info info) {
  return connect_on_fd(env, info, true);
}

static napi_value js_tls_connect_fds(napi_env env, napi_callback_info info) {
  ARGS(4);
  lt_ctx *c;
  int fdr, fdw;
  char *servername;
  TRY(lt_ctx_get(env, argv[0], "tls_connect_fds", &c));
  TRY(need_client(env, c, "tls_connect_fds"));
  TRY(lt_get_fd(env, argv[1], &fdr));
  TRY(lt_get_fd(env, argv[2], &fdw));
  TRY(lt_get_string(env, argv[3], true, &servername));
  int rc = tls_connect_fds(c->tls, fdr, fdw, servername);
  free(servername);
  if (rc != 0)
    return lt_ctx_fail(env, c->tls, "tls_connect_fds", "cannot connect");
  c->life.connected = true;
  return lt_undefined(env);
}

/* connect_memory(ctx, servername): a client of the memory transport (nodeio.c) */
static napi_value js_connect_memory(napi_env env, napi_callback_info info) {
  ARGS(2);
  lt_ctx *c;
  char *servername;
  TRY(lt_ctx_get(env, argv[0], "tls_connect_cbs", &c));
  TRY(need_client(env, c, "tls_connect_cbs"));
  TRY(lt_get_string(env, argv[1], true, &servername));
  if (lt_nodeio_attach_memory(c) != 0) {
    free(servername);
    return lt_throw_tls_errno(env, "tls_connect_cbs", "out of memory", ENOMEM);
  }
  int rc = lt_nodeio_connect(c, servername);
  free(servername);
  if (rc != 0) {
    lt_nodeio_drop(c);
    return lt_ctx_fail(env, c->tls, "tls_connect_cbs", "cannot connect");
  }
  c->life.connected = true;
  return lt_undefined(env);
}

static napi_value js_tls_connect_cbs(napi_env env, napi_callback_info info) {
  ARGS(4);
  lt_ctx *c;
  char *servername;
  TRY(lt_ctx_get(env, argv[0], "tls_connect_cbs", &c));
  TRY(need_client(env, c, "tls_connect_cbs"));
  TRY(lt_get_string(env, argv[3], true, &servername));
  if (lt_callbacks_set(env, c, argv[1], argv[2]) != 0) {
    lt_callbacks_drop(env, c);
    free(servername);
    return NULL;
  }
  int rc = tls_connect_cbs(c->tls, lt_cb_read, lt_cb_write, c, servername);
  free(servername);
  if (rc != 0) {
    lt_callbacks_drop(env, c);
    return lt_ctx_fail(env, c->tls, "tls_connect_cbs", "cannot connect");
  }
  c->life.connected = true;
  return lt_undefined(env);
}

napi_status lt_connect_init(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      EXPORT_FN("tls_accept_socket", js_tls_accept_socket),
      EXPORT_FN("tls_accept_fds", js_tls_accept_fds),
      EXPORT_FN("tls_accept_cbs", js_tls_accept_cbs),
      EXPORT_FN("accept_memory", js_accept_memory),
      EXPORT_FN("tls_connect_servername", js_tls_connect_servername),
      EXPORT_FN("tls_connect_socket", js_tls_connect_socket),
      EXPORT_FN("tls_connect_fds", js_tls_connect_fds),
      EXPORT_FN("tls_connect_cbs", js_tls_connect_cbs),
      EXPORT_FN("connect_fd_transport", js_connect_fd_transport),
      EXPORT_FN("connect_memory", js_connect_memory),
  };
  return napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns);
}
