/*
 * tlsbench: the "libtls from C" contender of `npm run bench` (bench/run.mjs builds it).
 *
 *   tlsbench server SCENARIO --pki=DIR [--bytes=N] [--conns=N] [--life=MS]
 *   tlsbench client SCENARIO --pki=DIR --port=P [--bytes=N] [--duration=MS] [--conns=N] [--life=MS]
 *
 * SCENARIO: bulk-up, bulk-down, handshakes, resumed, rr-1, rr-N (N connections), memory.
 * stdout carries JSON lines, as bench/peers/node.mjs: {"ready":true,"port":P} once the server
 * listens, {"result":{...}} from the side that measures. Loopback only (127.0.0.1). Blocking
 * sockets where one connection at a time is served; a poll() loop with non-blocking libtls calls
 * where many connections are (rr-N, memory). alarm(--life) ends the process whatever happens.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <tls.h>
#include <unistd.h>

#define CHUNK 16384
#define MSG 64
#define MAX_CONNS 4096

static const char *pki = NULL;
static long long bytes = 64LL * 1024 * 1024;
static long duration_ms = 1000;
static int conns = 1;
static int port = 0;
static int tls12 = 0;
static const char *session_file = NULL;

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "tlsbench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void set_nodelay(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		die("fcntl: %s", strerror(errno));
}

/*
 * Resident memory from /proc/self/status: field "RssAnon" (the process's own pages: heap, malloc,
 * stacks) or "VmRSS" (those plus the file-backed pages of the code, which depend on what was touched
 * and cached, and are shared).
 */
static long rss_bytes(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	size_t flen = strlen(field);
	long kb = -1;
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, flen) == 0 && line[flen] == ':' &&
		    sscanf(line + flen + 1, " %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb < 0 ? -1 : kb * 1024;
}

static void print_info(struct tls *t)
{
	const char *v = tls_conn_version(t), *c = tls_conn_cipher(t);
	printf("\"version\":\"%s\",\"cipher\":\"%s\"", v ? v : "", c ? c : "");
}

/* ---- configuration ---- */

static struct tls_config *make_config(int server)
{
	struct tls_config *cfg = tls_config_new();
	char path[4096];
	if (cfg == NULL)
		die("tls_config_new failed");
	if (tls_config_set_protocols(cfg, tls12 ? TLS_PROTOCOL_TLSv1_2 : TLS_PROTOCOL_TLSv1_3) != 0)
		die("set_protocols: %s", tls_config_error(cfg));
	/* the same suites as the Node.js contenders: AEAD with forward secrecy; TLS 1.2 pinned */
	if (tls_config_set_ciphers(cfg, tls12 ? "ECDHE-ECDSA-AES256-GCM-SHA384"
	    : "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!DSS") != 0)
		die("set_ciphers: %s", tls_config_error(cfg));
	if (server) {
		snprintf(path, sizeof(path), "%s/server.crt", pki);
		if (tls_config_set_cert_file(cfg, path) != 0)
			die("set_cert_file: %s", tls_config_error(cfg));
		snprintf(path, sizeof(path), "%s/server.key", pki);
		if (tls_config_set_key_file(cfg, path) != 0)
			die("set_key_file: %s", tls_config_error(cfg));
		if (tls12) {
			unsigned char key[TLS_TICKET_KEY_SIZE];
			arc4random_buf(key, sizeof(key));
			if (tls_config_set_session_lifetime(cfg, 300) != 0 ||
			    tls_config_add_ticket_key(cfg, 1, key, sizeof(key)) != 0)
				die("session config: %s", tls_config_error(cfg));
		}
	} else {
		snprintf(path, sizeof(path), "%s/ca.crt", pki);
		if (tls_config_set_ca_file(cfg, path) != 0)
			die("set_ca_file: %s", tls_config_error(cfg));
		if (tls12) {
			/* the session to resume lives in a file: --session-file, or an unlinked temp file */
			char tmpl[] = "/tmp/libtls-bench-session-XXXXXX";
			int fd = session_file != NULL ? open(session_file, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)
			    : mkostemp(tmpl, O_CLOEXEC);
			if (fd >= 0 && session_file == NULL)
				unlink(tmpl);
			if (fd < 0 || tls_config_set_session_fd(cfg, fd) != 0)
				die("session fd: %s", fd < 0 ? strerror(errno) : tls_config_error(cfg));
		}
	}
	return cfg;
}

/* ---- blocking helpers ---- */

static int tcp_listen(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = 0;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 1024) != 0)
		die("bind/listen: %s", strerror(errno));
	if (getsockname(fd, (struct sockaddr *)&a, &len) != 0)
		die("getsockname: %s", strerror(errno));
	printf("{\"ready\":true,\"port\":%d}\n", ntohs(a.sin_port));
	fflush(stdout);
	return fd;
}

static int tcp_connect(void)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(port);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		die("connect: %s", strerror(errno));
	set_nodelay(fd);
	return fd;
}

/* Blocking handshake; -1 on failure (message on stderr). */
static int handshake(struct tls *t)
{
	int r;
	for (int i = 0; i < 1000; i++) {
		r = tls_handshake(t);
		if (r == 0)
			return 0;
		if (r != TLS_WANT_POLLIN && r != TLS_WANT_POLLOUT) {
			fprintf(stderr, "tlsbench: handshake: %s\n", tls_error(t));
			return -1;
		}
	}
	return -1;
}

static int write_all(struct tls *t, const unsigned char *buf, size_t len)
{
	while (len > 0) {
		ssize_t r = tls_write(t, buf, len);
		if (r == TLS_WANT_POLLIN || r == TLS_WANT_POLLOUT)
			continue;
		if (r < 0) {
			fprintf(stderr, "tlsbench: write: %s\n", tls_error(t));
			return -1;
		}
		buf += r;
		len -= r;
	}
	return 0;
}

/* Reads until the peer's close_notify (or error); measures first byte to last. */
static void receive_bulk(struct tls *t)
{
	static unsigned char buf[CHUNK];
	long long got = 0;
	double t0 = 0, t1 = 0;
	for (;;) {
		ssize_t r = tls_read(t, buf, sizeof(buf));
		if (r == TLS_WANT_POLLIN || r == TLS_WANT_POLLOUT)
			continue;
		if (r <= 0) {
			if (r < 0)
				fprintf(stderr, "tlsbench: read: %s\n", tls_error(t));
			break;
		}
		if (got == 0)
			t0 = now_ms();
		got += r;
		t1 = now_ms();
	}
	printf("{\"result\":{\"value\":%.3f,\"unit\":\"MiB/s\",\"bytes\":%lld,\"ms\":%.3f,",
	    got / 1048576.0 / ((t1 - t0) / 1000.0), got, t1 - t0);
	print_info(t);
	printf("}}\n");
	fflush(stdout);
}

static void send_bulk(struct tls *t)
{
	static unsigned char buf[CHUNK];
	long long left = bytes;
	arc4random_buf(buf, sizeof(buf));
	while (left > 0) {
		size_t n = left < CHUNK ? (size_t)left : CHUNK;
		if (write_all(t, buf, n) != 0)
			return;
		left -= n;
	}
}

/* close_notify, then our FIN, then wait for the peer to close: a connection's whole life. */
static void close_gracefully(struct tls *t, int fd)
{
	char b[256];
	for (int i = 0; i < 100; i++) {
		int r = tls_close(t);
		if (r != TLS_WANT_POLLIN && r != TLS_WANT_POLLOUT)
			break;
	}
	shutdown(fd, SHUT_WR);
	for (int i = 0; i < 10000 && read(fd, b, sizeof(b)) > 0; i++)
		;
	close(fd);
}

/* ---- the poll() server: many connections, echo (rr-N) or idle (memory) ---- */

struct conn {
	int fd;
	struct tls *t;
	int established;
	unsigned char *out; /* allocated on the first echo: an idle connection holds no buffer */
	size_t outlen;      /* bytes to echo (retried whole after WANT_*) */
	short events;
};

static void poll_server(struct tls *srv, int lfd, int echo, int expect)
{
	static struct conn *cs[MAX_CONNS];
	static struct pollfd pfd[MAX_CONNS + 1];
	static unsigned char buf[CHUNK];
	int n = 0, established = 0;
	/* the baseline is taken once the first tenth of the connections is up (one-time costs of the
	 * first handshakes are not a connection's) */
	int warm = expect / 10 > 0 ? expect / 10 : 1;
	long anon0 = rss_bytes("RssAnon"), vm0 = rss_bytes("VmRSS");

	set_nonblock(lfd);
	for (;;) {
		pfd[0].fd = lfd;
		pfd[0].events = n < MAX_CONNS ? POLLIN : 0;
		for (int i = 0; i < n; i++) {
			pfd[i + 1].fd = cs[i]->fd;
			pfd[i + 1].events = cs[i]->events;
			pfd[i + 1].revents = 0;
		}
		if (poll(pfd, n + 1, 1000) < 0) {
			if (errno == EINTR)
				continue;
			die("poll: %s", strerror(errno));
		}
		if (pfd[0].revents & POLLIN) {
			for (int k = 0; k < 64 && n < MAX_CONNS; k++) {
				int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
				struct conn *c;
				if (fd < 0)
					break;
				set_nodelay(fd);
				c = calloc(1, sizeof(*c));
				if (c == NULL)
					die("out of memory");
				c->fd = fd;
				c->events = POLLIN;
				if (tls_accept_socket(srv, &c->t, fd) != 0) {
					fprintf(stderr, "tlsbench: accept: %s\n", tls_error(srv));
					close(fd);
					free(c);
					continue;
				}
				cs[n++] = c;
				/* make it look ready so the handshake starts below */
				pfd[n].fd = fd;
				pfd[n].revents = POLLIN;
			}
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = cs[i];
			int dead = 0;
			if (pfd[i + 1].revents == 0)
				continue;
			if (!c->established) {
				int r = tls_handshake(c->t);
				if (r == TLS_WANT_POLLIN || r == TLS_WANT_POLLOUT) {
					c->events = r == TLS_WANT_POLLIN ? POLLIN : POLLOUT;
					continue;
				}
				if (r != 0) {
					dead = 1;
				} else {
					c->established = 1;
					c->events = POLLIN;
					if (++established == warm && warm < expect) {
						anon0 = rss_bytes("RssAnon");
						vm0 = rss_bytes("VmRSS");
					}
					if (established == expect) {
						long anon1 = rss_bytes("RssAnon"), vm1 = rss_bytes("VmRSS");
						int counted = warm < expect ? expect - warm : expect;
						printf("{\"result\":{\"value\":%.1f,\"unit\":\"B/conn (RSS)\","
						    "\"rssPerConn\":%.1f,\"vmRssPerConn\":%.1f,\"conns\":%d,"
						    "\"counted\":%d,\"baseline\":{\"rssAnon\":%ld,\"rss\":%ld},"
						    "\"after\":{\"rssAnon\":%ld,\"rss\":%ld},",
						    (double)(anon1 - anon0) / counted, (double)(anon1 - anon0) / counted,
						    (double)(vm1 - vm0) / counted, expect, counted, anon0, vm0, anon1, vm1);
						print_info(c->t);
						printf("}}\n");
						fflush(stdout);
					}
				}
			}
			/* established: flush a pending echo, then read (and echo) until WANT_* */
			for (int k = 0; !dead && c->established && k < 64; k++) {
				ssize_t r;
				if (c->outlen > 0) {
					r = tls_write(c->t, c->out, c->outlen);
					if (r == TLS_WANT_POLLIN || r == TLS_WANT_POLLOUT) {
						c->events = r == TLS_WANT_POLLIN ? POLLIN : POLLOUT;
						break;
					}
					if (r < 0) {
						dead = 1;
						break;
					}
					memmove(c->out, c->out + r, c->outlen - r);
					c->outlen -= r;
					continue;
				}
				r = tls_read(c->t, buf, sizeof(buf));
				if (r == TLS_WANT_POLLIN || r == TLS_WANT_POLLOUT) {
					c->events = r == TLS_WANT_POLLIN ? POLLIN : POLLOUT;
					break;
				}
				if (r <= 0) {
					if (r == 0)
						tls_close(c->t);
					dead = 1;
					break;
				}
				if (echo) {
					if (c->out == NULL && (c->out = malloc(CHUNK)) == NULL)
						die("out of memory");
					memcpy(c->out, buf, r);
					c->outlen = r;
				}
			}
			if (dead) {
				tls_free(c->t);
				close(c->fd);
				free(c->out);
				free(c);
				cs[i] = cs[n - 1];
				pfd[i + 1] = pfd[n];
				n--;
				i--;
			}
		}
	}
}

/* ---- the poll() client of rr-N ---- */

static void rr_client_many(struct tls_config *cfg)
{
	static struct tls *ts[MAX_CONNS];
	static int fds[MAX_CONNS], got[MAX_CONNS], sending[MAX_CONNS];
	static struct pollfd pfd[MAX_CONNS];
	static short events[MAX_CONNS];
	unsigned char req[MSG], buf[CHUNK];
	long long total = 0;
	double t0, deadline, t1;
	int active;

	arc4random_buf(req, sizeof(req));
	for (int i = 0; i < conns; i++) {
		fds[i] = tcp_connect();
		if ((ts[i] = tls_client()) == NULL || tls_configure(ts[i], cfg) != 0 ||
		    tls_connect_socket(ts[i], fds[i], "localhost") != 0 || handshake(ts[i]) != 0)
			die("client %d: %s", i, ts[i] ? tls_error(ts[i]) : "tls_client failed");
		set_nonblock(fds[i]);
		sending[i] = 1;
		got[i] = 0;
		events[i] = POLLOUT;
	}
	active = conns;
	t0 = now_ms();
	deadline = t0 + duration_ms;
	while (active > 0) {
		for (int i = 0; i < conns; i++) {
			pfd[i].fd = events[i] ? fds[i] : -1;
			pfd[i].events = events[i];
			pfd[i].revents = 0;
		}
		if (poll(pfd, conns, 1000) < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		for (int i = 0; i < conns; i++) {
			if (pfd[i].revents == 0)
				continue;
			for (int k = 0; k < 64 && events[i]; k++) {
				ssize_t r;
				if (sending[i]) {
					r = tls_write(ts[i], req, MSG);
					if (r == TLS_WANT_POLLIN || r == TLS_WANT_POLLOUT) {
						events[i] = r == TLS_WANT_POLLIN ? POLLIN : POLLOUT;
						break;
					}
					if (r != MSG)
						die("write: %s", tls_error(ts[i]));
					sending[i] = 0;
					continue;
				}
				r = tls_read(ts[i], buf, sizeof(buf));
				if (r == TLS_WANT_POLLIN || r == TLS_WANT_POLLOUT) {
					events[i] = r == TLS_WANT_POLLIN ? POLLIN : POLLOUT;
					break;
				}
				if (r <= 0)
					die("read: %s", r == 0 ? "eof" : tls_error(ts[i]));
				got[i] += r;
				if (got[i] >= MSG) {
					got[i] -= MSG;
					total++;
					if (now_ms() >= deadline) {
						events[i] = 0;
						active--;
						break;
					}
					sending[i] = 1;
				}
			}
		}
	}
	t1 = now_ms();
	printf("{\"result\":{\"value\":%.1f,\"unit\":\"round trips/s\",\"count\":%lld,\"ms\":%.3f,\"conns\":%d,",
	    total / ((t1 - t0) / 1000.0), total, t1 - t0, conns);
	print_info(ts[0]);
	printf("}}\n");
	fflush(stdout);
	for (int i = 0; i < conns; i++) {
		int fl = fcntl(fds[i], F_GETFL);
		fcntl(fds[i], F_SETFL, fl & ~O_NONBLOCK);
		close_gracefully(ts[i], fds[i]);
		tls_free(ts[i]);
	}
}

/* ---- the scenarios ---- */

static void server(const char *scenario)
{
	struct tls_config *cfg = make_config(1);
	struct tls *srv = tls_server();
	int lfd;
	if (srv == NULL || tls_configure(srv, cfg) != 0)
		die("server: %s", srv ? tls_error(srv) : "tls_server failed");
	lfd = tcp_listen();
	if (strncmp(scenario, "rr-", 3) == 0) {
		poll_server(srv, lfd, 1, -1);
		return;
	}
	if (strcmp(scenario, "memory") == 0) {
		poll_server(srv, lfd, 0, conns);
		return;
	}
	/* one connection at a time: bulk (one), handshakes and resumed (sequential clients) */
	for (long served = 0; served < 100000000; served++) {
		struct tls *t = NULL;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			die("accept: %s", strerror(errno));
		}
		set_nodelay(fd);
		if (tls_accept_socket(srv, &t, fd) != 0) {
			fprintf(stderr, "tlsbench: accept: %s\n", tls_error(srv));
			close(fd);
			continue;
		}
		if (handshake(t) == 0) {
			if (strcmp(scenario, "bulk-up") == 0) {
				receive_bulk(t);
			} else if (strcmp(scenario, "bulk-down") == 0) {
				send_bulk(t);
			} else {
				unsigned char b[CHUNK];
				for (int i = 0; i < 1000 && tls_read(t, b, sizeof(b)) > 0; i++)
					;
			}
		}
		close_gracefully(t, fd);
		tls_free(t);
		if (strncmp(scenario, "bulk-", 5) == 0)
			break;
	}
	tls_free(srv);
	tls_config_free(cfg);
}

static struct tls *client_connect(struct tls_config *cfg, int *fdp)
{
	struct tls *t = tls_client();
	*fdp = tcp_connect();
	if (t == NULL || tls_configure(t, cfg) != 0 || tls_connect_socket(t, *fdp, "localhost") != 0)
		die("client: %s", t ? tls_error(t) : "tls_client failed");
	if (handshake(t) != 0) {
		close(*fdp);
		tls_free(t);
		return NULL;
	}
	return t;
}

static void client(const char *scenario)
{
	struct tls_config *cfg = make_config(0);
	struct tls *t;
	int fd;

	if (strcmp(scenario, "bulk-up") == 0 || strcmp(scenario, "bulk-down") == 0) {
		if ((t = client_connect(cfg, &fd)) == NULL)
			die("handshake failed");
		if (strcmp(scenario, "bulk-up") == 0) {
			send_bulk(t);
			printf("{\"done\":true}\n");
		} else {
			receive_bulk(t);
		}
		close_gracefully(t, fd);
		tls_free(t);
	} else if (strcmp(scenario, "handshakes") == 0 || tls12) {
		long count = 0, resumed = 0, failed = 0;
		char version[32] = "", cipher[64] = "";
		double t0, deadline, t1;
		/* one warm-up connection (and the session to resume) */
		if ((t = client_connect(cfg, &fd)) == NULL)
			die("handshake failed");
		close_gracefully(t, fd);
		tls_free(t);
		t0 = now_ms();
		deadline = t0 + duration_ms;
		for (long i = 0; i < 10000000 && now_ms() < deadline; i++) {
			if ((t = client_connect(cfg, &fd)) == NULL) {
				if (++failed > 100)
					die("too many failed handshakes");
				continue;
			}
			if (tls_conn_session_resumed(t))
				resumed++;
			snprintf(version, sizeof(version), "%s", tls_conn_version(t));
			snprintf(cipher, sizeof(cipher), "%s", tls_conn_cipher(t));
			close_gracefully(t, fd);
			tls_free(t);
			count++;
		}
		t1 = now_ms();
		printf("{\"result\":{\"value\":%.2f,\"unit\":\"handshakes/s\",\"count\":%ld,\"ms\":%.3f,"
		    "\"failed\":%ld,\"resumedFraction\":%.4f,\"version\":\"%s\",\"cipher\":\"%s\"}}\n",
		    count / ((t1 - t0) / 1000.0), count, t1 - t0, failed,
		    count ? (double)resumed / count : 0.0, version, cipher);
	} else if (strncmp(scenario, "rr-", 3) == 0) {
		rr_client_many(cfg);
	} else {
		die("unknown scenario %s", scenario);
	}
	fflush(stdout);
	tls_config_free(cfg);
}

int main(int argc, char **argv)
{
	long life_ms = 120000;
	const char *role, *scenario;
	if (argc < 3)
		die("usage: tlsbench server|client SCENARIO --pki=DIR [--port=P] [--bytes=N] "
		    "[--duration=MS] [--conns=N] [--life=MS]");
	role = argv[1];
	scenario = argv[2];
	for (int i = 3; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--pki=", 6) == 0)
			pki = a + 6;
		else if (strncmp(a, "--port=", 7) == 0)
			port = atoi(a + 7);
		else if (strncmp(a, "--bytes=", 8) == 0)
			bytes = atoll(a + 8);
		else if (strncmp(a, "--duration=", 11) == 0)
			duration_ms = atol(a + 11);
		else if (strncmp(a, "--conns=", 8) == 0)
			conns = atoi(a + 8);
		else if (strncmp(a, "--life=", 7) == 0)
			life_ms = atol(a + 7);
		else if (strncmp(a, "--session-file=", 15) == 0)
			session_file = a + 15;
		else if (strncmp(a, "--waves=", 8) == 0)
			; /* node peers only */
		else
			die("bad argument %s", a);
	}
	if (pki == NULL)
		die("--pki is required");
	if (conns < 1 || conns > MAX_CONNS)
		die("--conns must be 1..%d", MAX_CONNS);
	tls12 = strncmp(scenario, "resumed", 7) == 0;
	signal(SIGPIPE, SIG_IGN);
	alarm((unsigned)(life_ms / 1000 + 1));
	if (strcmp(role, "server") == 0) {
		server(scenario);
	} else if (strcmp(role, "client") == 0) {
		if (port <= 0)
			die("--port is required");
		client(scenario);
	} else {
		die("unknown role %s", role);
	}
	return 0;
}
