/*
 * libFuzzer harness: tls_ocsp_process_response on a client after a real handshake (test PKI,
 * in-memory callback transport), guarded exactly as native/info.c guards it:
 *  - ocsp_ready(): a client context whose handshake completed;
 *  - an empty response is refused before libtls sees it;
 *  - tls_peer_ocsp_url() must be non-NULL (libtls keeps OCSP state only for a peer certificate
 *    with a responder URL, and dereferences NULL without it);
 *  - after a call that failed, never again on that context (libtls has freed its OCSP state and
 *    would crash): the harness then makes a fresh handshake, as a binding user would need a new
 *    connection.
 * After a success, every tls_peer_ocsp_* getter the binding exposes is read.
 * The client never calls tls_read: on TLS 1.3 a read after the handshake processes the server's
 * NewSessionTicket, OpenSSL 3 then frees the peer chain that libtls still points to, and the
 * next tls_ocsp_process_response reads freed memory (found by test/campaigns/properties.test.mjs).
 */
#include "common.h"

static struct tls_config *ccfg, *scfg;
static struct tls *srv;

static struct {
  struct tls *cli, *acc;
  queue c2s, s2c;
  endpoint ce, se;
  int ocsp_failed;
} conn;

static void teardown(void) {
  tls_free(conn.cli);
  tls_free(conn.acc);
  q_free(&conn.c2s);
  q_free(&conn.s2c);
  memset(&conn, 0, sizeof(conn));
}

static void setup_once(void) {
  if (srv)
    return;
  size_t n;
  uint8_t *ca = pki_file("ca.crt", &n);
  ccfg = base_config();
  if (tls_config_set_ca_mem(ccfg, ca, n) != 0)
    die("set_ca_mem", tls_config_error(ccfg));
  free(ca);
  size_t cn, kn;
  uint8_t *cert = pki_file("server.crt", &cn), *key = pki_file("server.key", &kn);
  scfg = base_config();
  if (tls_config_set_keypair_mem(scfg, cert, cn, key, kn) != 0)
    die("set_keypair_mem", tls_config_error(scfg));
  free(cert);
  tls_unload_file(key, kn);
  if ((srv = tls_server()) == NULL || tls_configure(srv, scfg) != 0)
    die("server", tls_error(srv));
}

/* A client and an accepted server context, handshaken over memory queues. */
static void handshake(void) {
  conn.ce = (endpoint){&conn.s2c, &conn.c2s};
  conn.se = (endpoint){&conn.c2s, &conn.s2c};
  if ((conn.cli = tls_client()) == NULL || tls_configure(conn.cli, ccfg) != 0)
    die("client", tls_error(conn.cli));
  if (tls_connect_cbs(conn.cli, ep_read, ep_write, &conn.ce, "localhost") != 0)
    die("tls_connect_cbs", tls_error(conn.cli));
  if (tls_accept_cbs(srv, &conn.acc, ep_read, ep_write, &conn.se) != 0)
    die("tls_accept_cbs", tls_error(srv));
  int cdone = 0, sdone = 0;
  for (int i = 0; i < 16 && !(cdone && sdone); i++) {
    if (!cdone) {
      int r = tls_handshake(conn.cli);
      if (r == -1)
        die("client handshake", tls_error(conn.cli));
      cdone = r == 0;
    }
    if (!sdone) {
      int r = tls_handshake(conn.acc);
      if (r == -1)
        die("server handshake", tls_error(conn.acc));
      sdone = r == 0;
    }
  }
  if (!cdone || !sdone)
    die("handshake", "did not complete");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  setup_once();
  if (size == 0) /* the binding: "empty OCSP response", before libtls */
    return 0;
  if (conn.cli == NULL || conn.ocsp_failed) {
    teardown();
    handshake();
  }
  if (tls_peer_ocsp_url(conn.cli) == NULL)
    die("tls_peer_ocsp_url", "the test server certificate names no OCSP responder");
  if (tls_ocsp_process_response(conn.cli, data, size) != 0) {
    conn.ocsp_failed = 1;
    return 0;
  }
  (void)tls_peer_ocsp_cert_status(conn.cli);
  (void)tls_peer_ocsp_crl_reason(conn.cli);
  (void)tls_peer_ocsp_response_status(conn.cli);
  (void)tls_peer_ocsp_next_update(conn.cli);
  (void)tls_peer_ocsp_this_update(conn.cli);
  (void)tls_peer_ocsp_revocation_time(conn.cli);
  (void)tls_peer_ocsp_result(conn.cli);
  return 0;
}
