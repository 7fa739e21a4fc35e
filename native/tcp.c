/*
 * connect()'s TCP connection (src/tcp.ts): a non-blocking connect(2) to one numeric address, and
 * its outcome once the socket polled writable. DNS stays in JavaScript (dns.lookup), so that
 * /etc/hosts, nsswitch and `family` work as they do for net.connect(). Not libtls calls:
 * snake_case names.
 */
#include "addon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A failed socket call: TlsError(op 'connect') with the errno, and no stale OpenSSL error. */
static napi_value throw_errno(napi_env env, int e) {
  return lt_throw_tls_full(env, "connect", strerror(e), e, 0, NULL);
}

/*
 * The socket address of the numeric IP `text` of `family` (4 or 6; an IPv6 one may end in a zone,
 * "fe80::1%eth0" or "fe80::1%2", as dns.lookup gives link-local addresses) and `port`: its
 * length, or 0 when `text` is none. `text` is cut at the zone.
 */
static socklen_t numeric_address(char *text, int family, int port, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof(*ss));
  if (family == 4) {
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, text, &in->sin_addr) == 1 ? sizeof(*in) : 0;
  }
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons((uint16_t)port);
  char *zone = strchr(text, '%');
  if (zone != NULL) {
    *zone++ = '\0';
    char *end = NULL;
    errno = 0;
    unsigned long n = strtoul(zone, &end, 10);
    if (*zone != '\0' && *end == '\0' && errno == 0 && n <= UINT32_MAX)
      in6->sin6_scope_id = (uint32_t)n;
    else
      in6->sin6_scope_id = if_nametoindex(zone);
    if (in6->sin6_scope_id == 0)
      return 0;
  }
  return inet_pton(AF_INET6, text, &in6->sin6_addr) == 1 ? sizeof(*in6) : 0;
}

/*
 * tcp_connect(address, port, family): the fd of a new non-blocking, close-on-exec TCP socket
 * connecting to the numeric `address` of `family` (4 or 6); the caller owns it. The connection is
 * usually still in progress (EINPROGRESS): wait until the fd is writable, then ask
 * tcp_connect_result(). Throws a TlsError (op 'connect') whose code is the errno of socket() or
 * connect() (ECONNREFUSED, ENETUNREACH, EMFILE, ...), with no socket left open.
 */
static napi_value js_tcp_connect(napi_env env, napi_callback_info info) {
  ARGS(3);
  int32_t port, family;
  TRY(lt_get_int32(env, argv[1], &port));
  TRY(lt_get_int32(env, argv[2], &family));
  if (port < 1 || port > 65535 || (family != 4 && family != 6)) {
    napi_throw_range_error(env, NULL, "tcp_connect: port or family out of range");
    return NULL;
  }
  char *text;
  TRY(lt_get_string(env, argv[0], false, &text));
  struct sockaddr_storage ss;
  socklen_t len = numeric_address(text, family, port, &ss);
  free(text);
  if (len == 0)
    return lt_throw_tls_full(env, "connect", "not a numeric IP address of its family", EINVAL, 0,
                             NULL);
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0)
    return throw_errno(env, errno);
  /* EINTR: the connection goes on asynchronously, as after EINPROGRESS */
  if (connect(fd, (struct sockaddr *)&ss, len) != 0 && errno != EINPROGRESS && errno != EINTR) {
    int e = errno;
    close(fd);
    return throw_errno(env, e);
  }
  napi_value v;
  napi_status st = napi_create_int32(env, fd, &v);
  if (st != napi_ok) {
    close(fd);
    NAPI_CALL(env, st);
  }
  return v;
}

/*
 * tcp_connect_result(fd), once a tcp_connect() fd polled writable (or failed to poll): true when
 * it is connected, false when the connection is still in progress (wait again); throws the
 * connection's failure (SO_ERROR: ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH, ...) as tcp_connect()
 * does. The fd stays the caller's either way.
 */
static napi_value js_tcp_connect_result(napi_env env, napi_callback_info info) {
  ARGS(1);
  int fd;
  TRY(lt_get_fd(env, argv[0], &fd));
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
    return throw_errno(env, errno);
  if (err != 0)
    return throw_errno(env, err);
  struct sockaddr_storage peer;
  len = sizeof(peer);
  if (getpeername(fd, (struct sockaddr *)&peer, &len) == 0)
    return lt_bool(env, true);
  if (errno == ENOTCONN)
    return lt_bool(env, false);
  return throw_errno(env, errno);
}

napi_status lt_tcp_init(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      EXPORT_FN("tcp_connect", js_tcp_connect),
      EXPORT_FN("tcp_connect_result", js_tcp_connect_result),
  };
  return napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns);
}
