/*
 * The fd helpers of the JavaScript API and of the Node.js layer's sockets: socketpair, dup, close,
 * shutdown and the socket options net.Socket offers. Not libtls calls: snake_case names.
 */
#include "addon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* socketpair(): [fd, fd], non-blocking and close-on-exec */
static napi_value js_socketpair(napi_env env, napi_callback_info info) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
    return lt_throw_tls_errno(env, "socketpair", strerror(errno), errno);
  napi_value arr, a, b;
  napi_status st = napi_create_array_with_length(env, 2, &arr);
  if (st == napi_ok)
    st = napi_create_int32(env, sv[0], &a);
  if (st == napi_ok)
    st = napi_create_int32(env, sv[1], &b);
  if (st == napi_ok)
    st = napi_set_element(env, arr, 0, a);
  if (st == napi_ok)
    st = napi_set_element(env, arr, 1, b);
  if (st != napi_ok) {
    close(sv[0]);
    close(sv[1]);
    NAPI_CALL(env, st);
  }
  return arr;
}

/* fd_dup(fd): a close-on-exec duplicate that the caller owns */
static napi_value js_fd_dup(napi_env env, napi_callback_info info) {
  ARGS(1);
  int fd;
  TRY(lt_get_fd(env, argv[0], &fd));
  int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (nfd < 0)
    return lt_throw_tls_errno(env, "dup", strerror(errno), errno);
  return lt_int(env, nfd);
}

/*
 * fd_close(fd): close(2) of an fd this addon made (fd_dup, socketpair). fs.closeSync() would do the
 * same on the main thread, but in a worker Node warns about an fd it did not open itself.
 */
static napi_value js_fd_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  int fd;
  TRY(lt_get_fd(env, argv[0], &fd));
  if (close(fd) != 0 && errno != EINTR)
    return lt_throw_tls_errno(env, "close", strerror(errno), errno);
  return lt_undefined(env);
}

/* fd_shutdown(fd): shutdown(SHUT_WR), after close_notify; ENOTCONN is not an error */
static napi_value js_fd_shutdown(napi_env env, napi_callback_info info) {
  ARGS(1);
  int fd;
  TRY(lt_get_fd(env, argv[0], &fd));
  if (shutdown(fd, SHUT_WR) != 0 && errno != ENOTCONN)
    return lt_throw_tls_errno(env, "shutdown", strerror(errno), errno);
  return lt_undefined(env);
}

/*
 * setsockopt() for the fd helpers below: 0, or -1 with a TlsError thrown. A socket that does not
 * have the option (a Unix socket under upgrade's tests, say) is not an error.
 */
static int sockopt(napi_env env, int fd, int level, int name, const void *v, socklen_t len) {
  if (setsockopt(fd, level, name, v, len) == 0 || errno == EOPNOTSUPP || errno == ENOPROTOOPT)
    return 0;
  lt_throw_tls_errno(env, "setsockopt", strerror(errno), errno);
  return -1;
}

/* fd_set_nodelay(fd, on) */
static napi_value js_fd_set_nodelay(napi_env env, napi_callback_info info) {
  ARGS(2);
  int fd;
  bool on;
  TRY(lt_get_fd(env, argv[0], &fd));
  NAPI_CALL(env, napi_get_value_bool(env, argv[1], &on));
  int v = on ? 1 : 0;
  TRY(sockopt(env, fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)));
  return lt_undefined(env);
}

/* fd_reset_on_close(fd): SO_LINGER with a zero timeout, so that close() sends a RST
 * (resetAndDestroy) */
static napi_value js_fd_reset_on_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  int fd;
  TRY(lt_get_fd(env, argv[0], &fd));
  struct linger l = {.l_onoff = 1, .l_linger = 0};
  TRY(sockopt(env, fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)));
  return lt_undefined(env);
}

/* fd_set_keepalive(fd, on, idle_seconds) */
static napi_value js_fd_set_keepalive(napi_env env, napi_callback_info info) {
  ARGS(3);
  int fd;
  bool on;
  int32_t idle;
  TRY(lt_get_fd(env, argv[0], &fd));
  NAPI_CALL(env, napi_get_value_bool(env, argv[1], &on));
  TRY(lt_get_int32(env, argv[2], &idle));
  int v = on ? 1 : 0;
  TRY(sockopt(env, fd, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof(v)));
#ifdef TCP_KEEPIDLE
  if (on && idle > 0)
    TRY(sockopt(env, fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)));
#endif
  return lt_undefined(env);
}

/* An address as net.Socket gives it: [address, port, family], or undefined entries (not IP). */
static napi_status address_of(napi_env env, const struct sockaddr_storage *ss, napi_value arr,
                              uint32_t at) {
  char text[INET6_ADDRSTRLEN] = "";
  int port = -1;
  const char *family = NULL;
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    port = ntohs(in->sin_port);
    family = "IPv4";
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
    port = ntohs(in6->sin6_port);
    family = "IPv6";
  }
  if (family == NULL)
    return napi_ok;
  napi_value a, p, f;
  napi_status st = napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &a);
  if (st == napi_ok)
    st = napi_create_int32(env, port, &p);
  if (st == napi_ok)
    st = napi_create_string_utf8(env, family, NAPI_AUTO_LENGTH, &f);
  if (st == napi_ok)
    st = napi_set_element(env, arr, at, a);
  if (st == napi_ok)
    st = napi_set_element(env, arr, at + 1, p);
  if (st == napi_ok)
    st = napi_set_element(env, arr, at + 2, f);
  return st;
}

/* [remoteAddress, remotePort, remoteFamily, localAddress, localPort, localFamily] of socket fd,
 * as net.Socket gives them; entries stay undefined where there is none (a Unix socket) */
napi_status lt_fd_addresses(napi_env env, int fd, const struct sockaddr_storage *peer,
                            napi_value *out) {
  napi_status st = napi_create_array_with_length(env, 6, out);
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  if (st == napi_ok && peer == NULL && getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
    peer = &ss;
  if (st == napi_ok && peer != NULL)
    st = address_of(env, peer, *out, 0);
  struct sockaddr_storage local;
  len = sizeof(local);
  if (st == napi_ok && getsockname(fd, (struct sockaddr *)&local, &len) == 0)
    st = address_of(env, &local, *out, 3);
  return st;
}

/* fd_addresses(fd): lt_fd_addresses()'s array, for a socket connect() made (native/tcp.c) */
static napi_value js_fd_addresses(napi_env env, napi_callback_info info) {
  ARGS(1);
  int fd;
  TRY(lt_get_fd(env, argv[0], &fd));
  napi_value out;
  NAPI_CALL(env, lt_fd_addresses(env, fd, NULL, &out));
  return out;
}

napi_status lt_fd_init(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      EXPORT_FN("socketpair", js_socketpair),
      EXPORT_FN("fd_dup", js_fd_dup),
      EXPORT_FN("fd_close", js_fd_close),
      EXPORT_FN("fd_shutdown", js_fd_shutdown),
      EXPORT_FN("fd_set_nodelay", js_fd_set_nodelay),
      EXPORT_FN("fd_set_keepalive", js_fd_set_keepalive),
      EXPORT_FN("fd_reset_on_close", js_fd_reset_on_close),
      EXPORT_FN("fd_addresses", js_fd_addresses),
  };
  return napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns);
}
