/*
 * Shared pieces of the libFuzzer harnesses: the test PKI, the binding's default cipher list, and
 * an in-memory callback transport (tls_connect_cbs / tls_accept_cbs over two byte queues), used the
 * way native/ uses libtls. Each harness is one .c file including this header.
 */
#ifndef LIBTLS_FUZZ_COMMON_H
#define LIBTLS_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <tls.h>

/* src/config.ts SECURE_CIPHERS: what every Config the binding makes starts with. */
#define SECURE_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!DSS"

static void die(const char *what, const char *err) {
  fprintf(stderr, "fuzz setup: %s: %s\n", what, err ? err : "failed");
  abort();
}

/* A file of the test PKI (LIBTLS_FUZZ_PKI, default test/fixtures/pki), loaded once. */
static uint8_t *pki_file(const char *name, size_t *len) {
  const char *dir = getenv("LIBTLS_FUZZ_PKI");
  char path[1024];
  snprintf(path, sizeof(path), "%s/%s", dir ? dir : "test/fixtures/pki", name);
  uint8_t *p = tls_load_file(path, len, NULL);
  if (p == NULL)
    die(path, "cannot load (run sh test/fixtures/make-pki.sh first)");
  return p;
}

/* ---- an in-memory byte queue and the callbacks that move ciphertext through it ---- */

typedef struct {
  uint8_t *buf;
  size_t len, off, cap;
} queue;

static void q_push(queue *q, const void *p, size_t n) {
  if (q->len + n > q->cap) {
    size_t cap = q->cap ? q->cap : 4096;
    while (cap < q->len + n)
      cap *= 2;
    q->buf = realloc(q->buf, cap);
    if (q->buf == NULL)
      die("realloc", NULL);
    q->cap = cap;
  }
  memcpy(q->buf + q->len, p, n);
  q->len += n;
}

static size_t q_pop(queue *q, void *p, size_t n) {
  size_t avail = q->len - q->off;
  if (n > avail)
    n = avail;
  memcpy(p, q->buf + q->off, n);
  q->off += n;
  if (q->off == q->len)
    q->off = q->len = 0;
  return n;
}

static void q_free(queue *q) {
  free(q->buf);
  memset(q, 0, sizeof(*q));
}

/* One end of a connection: reads from `in`, writes to `out`. */
typedef struct {
  queue *in, *out;
} endpoint;

/* As the binding's read callback: the queued bytes, or WANT_POLLIN when there are none. */
static ssize_t ep_read(struct tls *t, void *buf, size_t len, void *arg) {
  endpoint *e = arg;
  size_t n = q_pop(e->in, buf, len);
  return n ? (ssize_t)n : TLS_WANT_POLLIN;
}

/* As the binding's write callback: always takes every byte (never WANT_POLLOUT after taking). */
static ssize_t ep_write(struct tls *t, const void *buf, size_t len, void *arg) {
  endpoint *e = arg;
  q_push(e->out, buf, len);
  return (ssize_t)len;
}

/* A write callback that discards. */
static ssize_t sink_write(struct tls *t, const void *buf, size_t len, void *arg) {
  return (ssize_t)len;
}

/* A Config as `new Config()` makes one (secure ciphers), plus the caller's settings. */
static struct tls_config *base_config(void) {
  struct tls_config *cfg = tls_config_new();
  if (cfg == NULL)
    die("tls_config_new", NULL);
  if (tls_config_set_ciphers(cfg, SECURE_CIPHERS) != 0)
    die("tls_config_set_ciphers", tls_config_error(cfg));
  return cfg;
}

#endif
