/*
 * tcp_ceiling.c - the loopback TCP ceiling, and a client for the transfer
 * port that reads at buffer addresses the way Mooncake's TCP transport
 * does (mooncake-transfer(7)).
 *
 *   tcp_ceiling stream [SECONDS]
 *       a server and a client thread in this process, one loopback
 *       connection, the client writing 1 MiB at a time; prints
 *       "stream GBPS"
 *   tcp_ceiling read HOST PORT ADDR SIZE CONNS SECONDS [v2] [CHECKFILE]
 *       CONNS connections (one thread, epoll) sending READ requests (24-byte
 *       little-endian header: u64 size, u64 addr, u8 opcode 0, 7 pad;
 *       opcode | 0x80 and an 8-byte status frame first with v2) for SIZE
 *       bytes at ADDR, one at a time, for SECONDS; prints "read OPS GBPS".
 *       With CHECKFILE (the value's bytes), every thread's first answer is
 *       compared whole, and every later one on its first and last 64
 *       bytes: wrong bytes are an error, not a figure.
 *   tcp_ceiling serve
 *       a trivial server of the same framing (v1 or v2 READ of up to 1 MiB,
 *       from a static buffer, one epoll thread) on a kernel-picked
 *       loopback port; prints "serve PORT" and runs until killed
 *
 * GB/s are 1e9 bytes per second. Loopback only: HOST must resolve to a
 * loopback address.
 *
 * TCP_CC=NAME sets the congestion control of every socket this program
 * opens or accepts (TCP_CONGESTION in tcp(7); "reno" is open to every
 * user), so that a figure can be taken with and without the pacing of
 * the machine's default (BBR paces even on loopback).
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define CHUNK	     (1u << 20)
#define STATUS_MAGIC 0x4D435456ull
#define MAX_CONNS    64

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "tcp_ceiling: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int write_full(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t r = send(fd, p, n, MSG_NOSIGNAL);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* TCP_CC, when set, on @fd; a name the kernel refuses is an error. */
static void set_cc(int fd)
{
	const char *cc = getenv("TCP_CC");

	if (cc && *cc &&
	    setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, strlen(cc)))
		die("TCP_CC");
}

/* ------------------------------------------------------------ the stream */

struct sink {
	int lfd;
	uint64_t bytes;
};

static void *sink_main(void *arg)
{
	struct sink *k = arg;
	char *buf = malloc(CHUNK);
	int fd = accept(k->lfd, NULL, NULL);
	ssize_t r;

	if (fd < 0 || !buf)
		die("accept");
	set_cc(fd);
	while ((r = recv(fd, buf, CHUNK, 0)) > 0)
		k->bytes += (uint64_t)r;
	close(fd);
	free(buf);
	return NULL;
}

static int stream(double secs)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	struct sink k = {0};
	pthread_t th;
	char *buf = malloc(CHUNK);
	double t0, t1;
	int fd;

	if (!buf)
		die("malloc");
	memset(buf, 0x5a, CHUNK);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	k.lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (k.lfd < 0 || bind(k.lfd, (void *)&a, sizeof(a)) ||
	    listen(k.lfd, 1) || getsockname(k.lfd, (void *)&a, &alen))
		die("listen");
	if (pthread_create(&th, NULL, sink_main, &k))
		die("pthread_create");
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket");
	set_cc(fd);
	if (connect(fd, (void *)&a, sizeof(a)))
		die("connect");
	t0 = now_s();
	do {
		if (write_full(fd, buf, CHUNK))
			die("send");
		t1 = now_s();
	} while (t1 - t0 < secs);
	shutdown(fd, SHUT_WR);
	pthread_join(th, NULL);
	t1 = now_s();
	close(fd);
	close(k.lfd);
	printf("stream %.3f\n", (double)k.bytes / (t1 - t0) / 1e9);
	free(buf);
	return 0;
}

/* ------------------------------------------------ the transfer-port reader */

/*
 * One thread drives every connection through epoll, one request in flight
 * on each: on a 2-core machine a thread per connection would spend the
 * server's CPU on the client's context switches.
 */
struct conn {
	int fd;
	uint64_t got; /* bytes of the current answer received */
	uint64_t ops;
	unsigned char *buf; /* status frame (v2), then the data */
};

static uint64_t at, size, answer;
static bool v2;
static const unsigned char *want;
static unsigned char hdr[24];

/* The checks of one complete answer: NULL or what is wrong. */
static const char *check(const struct conn *c)
{
	const unsigned char *d = c->buf + (v2 ? 8 : 0);
	uint64_t st, k = size < 64 ? size : 64;

	if (v2) {
		memcpy(&st, c->buf, 8);
		if (st != STATUS_MAGIC << 32)
			return "no ok status frame (v2)";
	}
	if (want &&
	    (c->ops == 0 ? memcmp(d, want, size)
			 : memcmp(d, want, k) ||
				   memcmp(d + size - k, want + size - k, k)))
		return "read bytes differ from the value";
	return NULL;
}

static const unsigned char *load(const char *path, uint64_t n)
{
	FILE *f = fopen(path, "rb");
	unsigned char *p = malloc(n + 1);

	if (!f || !p)
		die(path);
	if (fread(p, 1, n + 1, f) != n) {
		fprintf(stderr, "tcp_ceiling: '%s' is not %lu bytes\n", path,
			(unsigned long)n);
		exit(1);
	}
	fclose(f);
	return p;
}

static bool loopback(const struct addrinfo *ai)
{
	if (ai->ai_family == AF_INET)
		return ntohl(((struct sockaddr_in *)ai->ai_addr)
				     ->sin_addr.s_addr) >>
			       24 ==
		       127;
	return ai->ai_family == AF_INET6 &&
	       IN6_IS_ADDR_LOOPBACK(
		       &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr);
}

static int reads(int argc, char **argv)
{
	struct conn c[MAX_CONNS];
	struct epoll_event ev[MAX_CONNS];
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
	unsigned conns;
	uint64_t ops = 0;
	double secs, t0, t1;
	int rc, ep, one = 1;

	if (argc < 8)
		return -1;
	at = strtoull(argv[4], NULL, 0);
	size = strtoull(argv[5], NULL, 0);
	conns = (unsigned)atoi(argv[6]);
	secs = atof(argv[7]);
	if (argc > 8 && !strcmp(argv[8], "v2"))
		v2 = true;
	if (!size || size > (1ull << 30) || conns < 1 || conns > MAX_CONNS ||
	    !(secs > 0 && secs <= 60))
		return -1;
	if (argc > 8 + v2)
		want = load(argv[8 + v2], size);
	answer = size + (v2 ? 8 : 0);
	/* The header is little-endian; so is every machine this runs on. */
	memcpy(hdr, &size, 8);
	memcpy(hdr + 8, &at, 8);
	hdr[16] = v2 ? 0x80 : 0;
	rc = getaddrinfo(argv[2], argv[3], &hints, &ai);
	if (rc) {
		fprintf(stderr, "tcp_ceiling: '%s': %s\n", argv[2],
			gai_strerror(rc));
		return 1;
	}
	if (!loopback(ai)) {
		fprintf(stderr, "tcp_ceiling: '%s' is not loopback\n", argv[2]);
		return 1;
	}
	ep = epoll_create1(0);
	if (ep < 0)
		die("epoll_create1");
	for (unsigned i = 0; i < conns; i++) {
		struct epoll_event e = {.events = EPOLLIN, .data.u32 = i};

		c[i] = (struct conn){.buf = malloc(answer)};
		c[i].fd = socket(ai->ai_family, SOCK_STREAM, 0);
		if (!c[i].buf || c[i].fd < 0)
			die("socket");
		set_cc(c[i].fd);
		if (connect(c[i].fd, ai->ai_addr, ai->ai_addrlen))
			die("connect");
		setsockopt(c[i].fd, IPPROTO_TCP, TCP_NODELAY, &one,
			   sizeof(one));
		if (epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &e))
			die("epoll_ctl");
	}
	freeaddrinfo(ai);
	/*
	 * XFER_DEPTH=N keeps N requests in flight on each connection (the
	 * answers come back in order), as Mooncake's transfer engine keeps
	 * several slices in flight: then no round trip separates two MiB.
	 */
	const char *dp = getenv("XFER_DEPTH");
	int depth = dp && atoi(dp) > 0 ? atoi(dp) : 1;

	t0 = now_s();
	for (unsigned i = 0; i < conns; i++)
		for (int d = 0; d < depth; d++)
			if (write_full(c[i].fd, hdr, sizeof(hdr)))
				die("send");
	do {
		int n = epoll_wait(ep, ev, MAX_CONNS, 1000);

		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (int j = 0; j < n; j++) {
			struct conn *k = &c[ev[j].data.u32];
			ssize_t r = recv(k->fd, k->buf + k->got,
					 answer - k->got, MSG_DONTWAIT);
			const char *bad;

			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0) {
				fprintf(stderr,
					"tcp_ceiling: connection %u "
					"closed by the server\n",
					ev[j].data.u32);
				return 1;
			}
			k->got += (uint64_t)r;
			if (k->got < answer)
				continue;
			bad = check(k);
			if (bad) {
				fprintf(stderr, "tcp_ceiling: %s\n", bad);
				return 1;
			}
			k->got = 0;
			k->ops++;
			ops++;
			if (write_full(k->fd, hdr, sizeof(hdr)))
				die("send");
		}
		t1 = now_s();
	} while (t1 - t0 < secs);
	for (unsigned i = 0; i < conns; i++) {
		close(c[i].fd);
		free(c[i].buf);
	}
	close(ep);
	printf("read %.1f %.3f\n", (double)ops / (t1 - t0),
	       (double)ops * (double)size / (t1 - t0) / 1e9);
	return 0;
}

/* ---------------------------------------- the framing's trivial server */

/*
 * The least a server speaking the same framing can do: one epoll thread,
 * READs only (v2 ones get their status frame first), answered from one
 * static buffer with no lookup or validation. Beside the transfer port it shows
 * what the framing and the two cores allow for small reads.
 */
static _Noreturn void serve(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	struct epoll_event ev[64], e = {.events = EPOLLIN, .data.fd = -1};
	static unsigned char got[1024][24];
	static unsigned gotn[1024];
	char *data = malloc(CHUNK);
	int lfd, ep, one = 1;

	if (!data)
		die("malloc");
	memset(data, 0x5a, CHUNK);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	ep = epoll_create1(0);
	/*
	 * On the listener too, as mooncaked's transfer listener: accepted
	 * connections are born with it, not switched to it after their
	 * handshake (bench/te_conn opens one per request).
	 */
	if (lfd >= 0)
		set_cc(lfd);
	if (lfd < 0 || ep < 0 || bind(lfd, (void *)&a, sizeof(a)) ||
	    listen(lfd, 64) || getsockname(lfd, (void *)&a, &alen) ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &e))
		die("listen");
	printf("serve %u\n", ntohs(a.sin_port));
	fflush(stdout);
	for (;;) {
		int n = epoll_wait(ep, ev, 64, -1);

		for (int j = 0; j < n; j++) {
			int fd = ev[j].data.fd;
			uint64_t sz;
			ssize_t r;

			if (fd < 0) {
				fd = accept(lfd, NULL, NULL);
				if (fd < 0 || fd >= 1024) {
					close(fd);
					continue;
				}
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
					   sizeof(one));
				set_cc(fd);
				gotn[fd] = 0;
				e.data.fd = fd;
				epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
				continue;
			}
			r = recv(fd, got[fd] + gotn[fd], 24 - gotn[fd],
				 MSG_DONTWAIT);
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0) {
				close(fd);
				continue;
			}
			gotn[fd] += (unsigned)r;
			if (gotn[fd] < 24)
				continue;
			gotn[fd] = 0;
			memcpy(&sz, got[fd], 8);
			if ((got[fd][16] & 0x7f) != 0 || sz > CHUNK) {
				close(fd);
				continue;
			}
			if (got[fd][16] & 0x80) {
				uint64_t st = STATUS_MAGIC << 32;
				struct iovec iov[2] = {{&st, 8}, {data, sz}};

				/* status and data together, as the port does */
				if (writev(fd, iov, 2) == (ssize_t)(8 + sz))
					continue;
				close(fd);
			} else if (write_full(fd, data, sz)) {
				close(fd);
			}
		}
	}
}

int main(int argc, char **argv)
{
	int rc = -1;

	if (argc >= 2 && !strcmp(argv[1], "stream"))
		rc = stream(argc > 2 ? atof(argv[2]) : 2);
	else if (argc >= 2 && !strcmp(argv[1], "read"))
		rc = reads(argc, argv);
	else if (argc == 2 && !strcmp(argv[1], "serve"))
		serve();
	if (rc < 0) {
		fprintf(stderr,
			"usage: tcp_ceiling stream [SECONDS]\n"
			"       tcp_ceiling serve\n"
			"       tcp_ceiling read HOST PORT ADDR SIZE CONNS "
			"SECONDS [v2] [CHECKFILE]\n");
		return 2;
	}
	return rc;
}
