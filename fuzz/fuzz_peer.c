/*
 * libFuzzer harness: bytes from a hostile peer through the callback transport, as upgrade() feeds
 * them to libtls (native/nodeio.c's memory transport). A server context accepts with
 * tls_accept_cbs (or, with bit 7 of byte 0, a client connects with tls_connect_cbs to
 * "localhost"); its read callback hands out the input in chunks and returns WANT_POLLIN once
 * the input is exhausted; the write callback takes everything. The harness drives tls_handshake,
 * then tls_read, until libtls fails or asks for more input than there is.
 *
 * Input: byte 0 = mode (bit 7: client instead of server; bits 0-6: chunk size, 0 = as much as
 * libtls asks for); then the peer's bytes (e.g. a recorded ClientHello).
 */
#include "common.h"

static struct tls_config *scfg, *ccfg;
static struct tls *srv;

typedef struct {
  const uint8_t *p;
  size_t left, chunk;
} feed;

static ssize_t feed_read(struct tls *t, void *buf, size_t len, void *arg) {
  feed *f = arg;
  if (f->left == 0)
    return TLS_WANT_POLLIN;
  size_t n = len < f->left ? len : f->left;
  if (f->chunk && n > f->chunk)
    n = f->chunk;
  memcpy(buf, f->p, n);
  f->p += n;
  f->left -= n;
  return (ssize_t)n;
}

static void setup_once(void) {
  if (srv)
    return;
  size_t cn, kn, an;
  uint8_t *cert = pki_file("server.crt", &cn), *key = pki_file("server.key", &kn);
  uint8_t *ca = pki_file("ca.crt", &an);
  scfg = base_config();
  if (tls_config_set_keypair_mem(scfg, cert, cn, key, kn) != 0)
    die("set_keypair_mem", tls_config_error(scfg));
  /* verify a client certificate if one is sent: the peer's Certificate message gets parsed */
  if (tls_config_set_ca_mem(scfg, ca, an) != 0)
    die("set_ca_mem", tls_config_error(scfg));
  tls_config_verify_client_optional(scfg);
  if (tls_config_set_alpn(scfg, "h2,http/1.1") != 0)
    die("set_alpn", tls_config_error(scfg));
  if ((srv = tls_server()) == NULL || tls_configure(srv, scfg) != 0)
    die("server", tls_error(srv));
  ccfg = base_config();
  if (tls_config_set_ca_mem(ccfg, ca, an) != 0)
    die("set_ca_mem", tls_config_error(ccfg));
  free(cert);
  free(ca);
  tls_unload_file(key, kn);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  setup_once();
  if (size < 1)
    return 0;
  feed f = {data + 1, size - 1, data[0] & 0x7f};
  struct tls *ctx = NULL, *cli = NULL;
  if (data[0] & 0x80) {
    if ((cli = tls_client()) == NULL || tls_configure(cli, ccfg) != 0)
      die("client", tls_error(cli));
    if (tls_connect_cbs(cli, feed_read, sink_write, &f, "localhost") != 0)
      die("tls_connect_cbs", tls_error(cli));
    ctx = cli;
  } else if (tls_accept_cbs(srv, &ctx, feed_read, sink_write, &f) != 0) {
    die("tls_accept_cbs", tls_error(srv));
  }
  int r;
  /* bounded: each step consumes input or ends */
  for (int i = 0; i < 1000; i++) {
    r = tls_handshake(ctx);
    if (r == 0 || r == -1 || (r == TLS_WANT_POLLIN && f.left == 0))
      break;
  }
  if (r == 0) {
    (void)tls_conn_version(ctx);
    (void)tls_conn_cipher(ctx);
    (void)tls_conn_servername(ctx);
    (void)tls_conn_alpn_selected(ctx);
    (void)tls_peer_cert_provided(ctx);
    uint8_t buf[4096];
    for (int i = 0; i < 1000; i++) {
      ssize_t n = tls_read(ctx, buf, sizeof(buf));
      if (n == 0 || n == -1 || (n == TLS_WANT_POLLIN && f.left == 0))
        break;
    }
    (void)tls_close(ctx);
  }
  tls_free(ctx);
  return 0;
}
