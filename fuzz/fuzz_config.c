/*
 * libFuzzer harness: the config loaders with garbage PEM/DER, then tls_configure on a server
 * context, the way native/config.c and native/context.c call them (Config setters -> the
 * tls_config_set_*_mem calls; server(config) -> tls_configure). When the server takes the config,
 * a client handshakes with it over the in-memory callback transport (so a fuzzed OCSP staple
 * reaches the client's stapling check).
 *
 * Input: byte 0 selects the loaders (bit 0 ca, 1 cert, 2 key, 3 crl, 4 ocsp staple, 5 keypair,
 * 6 keypair with staple, 7 add keypair); the rest is up to three parts separated by "\n%%\n"
 * (part 0: a certificate/CA/CRL, part 1: a key, part 2: a CRL or an OCSP staple).
 */
#include "common.h"

static const char SEP[] = "\n%%\n";

static void split(const uint8_t *d, size_t n, const uint8_t *part[3], size_t len[3]) {
  size_t k = 0, start = 0, sl = sizeof(SEP) - 1;
  for (int i = 0; i < 3; i++) {
    part[i] = d;
    len[i] = 0;
  }
  for (size_t i = 0; i + sl <= n && k < 2; i++) {
    if (memcmp(d + i, SEP, sl) == 0) {
      part[k] = d + start;
      len[k] = i - start;
      k++;
      start = i + sl;
      i += sl - 1;
    }
  }
  part[k] = d + start;
  len[k] = n - start;
}

/* A client (no verification, stapling required when a staple was set) handshakes with `srv`. */
static void handshake_with(struct tls *srv, int require_staple) {
  queue c2s = {0}, s2c = {0};
  endpoint ce = {&s2c, &c2s}, se = {&c2s, &s2c};
  struct tls_config *ccfg = base_config();
  tls_config_insecure_noverifycert(ccfg);
  tls_config_insecure_noverifyname(ccfg);
  if (require_staple)
    tls_config_ocsp_require_stapling(ccfg);
  struct tls *cli = tls_client(), *acc = NULL;
  if (cli == NULL || tls_configure(cli, ccfg) != 0)
    die("client", tls_error(cli));
  if (tls_connect_cbs(cli, ep_read, ep_write, &ce, "localhost") != 0)
    die("tls_connect_cbs", tls_error(cli));
  if (tls_accept_cbs(srv, &acc, ep_read, ep_write, &se) == 0) {
    int cdone = 0, sdone = 0;
    for (int i = 0; i < 16 && !(cdone && sdone); i++) {
      if (!cdone) {
        int r = tls_handshake(cli);
        if (r == 0 || r == -1)
          cdone = 1;
      }
      if (!sdone) {
        int r = tls_handshake(acc);
        if (r == 0 || r == -1)
          sdone = 1;
      }
    }
    /* what the binding's getters read after a handshake */
    (void)tls_peer_ocsp_response_status(cli);
    (void)tls_peer_ocsp_result(cli);
    (void)tls_conn_version(cli);
    tls_free(acc);
  }
  tls_free(cli);
  tls_config_free(ccfg);
  q_free(&c2s);
  q_free(&s2c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  uint8_t flags = data[0];
  const uint8_t *p[3];
  size_t n[3];
  split(data + 1, size - 1, p, n);
  const uint8_t *third = n[2] ? p[2] : p[0];
  size_t third_len = n[2] ? n[2] : n[0];

  struct tls_config *cfg = base_config();
  int cert_set = 0, staple_set = 0;
  /* each setter as the binding calls it: a failure is a TlsError with tls_config_error() or a
     fallback text (the binding never reads the error except right after a failure) */
  if (flags & 0x01)
    (void)tls_config_set_ca_mem(cfg, p[0], n[0]);
  if (flags & 0x02)
    cert_set |= tls_config_set_cert_mem(cfg, p[0], n[0]) == 0;
  if (flags & 0x04)
    (void)tls_config_set_key_mem(cfg, p[1], n[1]);
  if (flags & 0x08)
    (void)tls_config_set_crl_mem(cfg, third, third_len);
  if (flags & 0x10)
    staple_set |= tls_config_set_ocsp_staple_mem(cfg, third, third_len) == 0;
  if (flags & 0x20)
    cert_set |= tls_config_set_keypair_mem(cfg, p[0], n[0], p[1], n[1]) == 0;
  if (flags & 0x40) {
    int ok = tls_config_set_keypair_ocsp_mem(cfg, p[0], n[0], p[1], n[1], p[2], n[2]) == 0;
    cert_set |= ok;
    staple_set |= ok && n[2] > 0;
  }
  if (flags & 0x80)
    (void)tls_config_add_keypair_mem(cfg, p[0], n[0], p[1], n[1]);
  /* with a CA: verify client certificates, so the server parses the CA and CRL at tls_configure
     (without one, libtls would load the system bundle on every input) */
  if (flags & 0x01)
    tls_config_verify_client_optional(cfg);

  struct tls *srv = tls_server();
  if (srv == NULL)
    die("tls_server", NULL);
  if (tls_configure(srv, cfg) == 0) {
    if (cert_set)
      handshake_with(srv, staple_set);
  } else {
    const char *e = tls_error(srv); /* may be NULL: the binding then uses its own sentence */
    (void)e;
  }
  tls_free(srv);
  tls_config_free(cfg);
  return 0;
}
