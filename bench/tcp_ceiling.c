/*
 * tcp_ceiling.c - the loopback TCP ceiling, and a client for the transfer
 * port that reads at buffer addresses the way Mooncake's TCP transport
 * does (CONTRACT section 6).
 *
 *   tcp_ceiling stream [SECONDS]
 *       a server and a client thread in this process, one loopback
 *       connection, the client writing 1 MiB at a time; prints
 *       "stream GBPS"
 *   tcp_ceiling read HOST PORT ADDR SIZE CONNS SECONDS [v2] [CHECKFILE]
 *       CONNS connections, each a thread sending READ requests (24-byte
 *       little-endian header: u64 size, u64 addr, u8 opcode 0, 7 pad;
 *       opcode | 0x80 and an 8-byte status frame first with v2) for SIZE
 *       bytes at ADDR, one at a time, for SECONDS; prints "read OPS GBPS".
 *       With CHECKFILE (the value's bytes), every thread's first answer is
 *       compared whole, and every later one on its first and last 64
 *       bytes: wrong bytes are an error, not a figure.
 *
 * GB/s are 1e9 bytes per second. Loopback only: HOST must resolve to a
 * loopback address.
 */
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
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1u << 20)
#define STATUS_MAGIC 0x4D435456ull
#define MAX_CONNS 64

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

static int read_full(int fd, void *buf, size_t n)
{
	char *p = buf;

	while (n) {
		ssize_t r = recv(fd, p, n, MSG_WAITALL);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
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
	while ((r = recv(fd, buf, CHUNK, 0)) > 0)
		k->bytes += (uint64_t)r;
	close(fd);
	free(buf);
	return NULL;
}

static int stream(double secs)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	struct sink k = { 0 };
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
	if (fd < 0 || connect(fd, (void *)&a, sizeof(a)))
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

struct reader {
	pthread_t th;
	struct sockaddr_storage addr;
	socklen_t alen;
	uint64_t at, size;
	bool v2;
	const unsigned char *want;   /* the value's bytes, or NULL */
	double secs;
	pthread_barrier_t *go;
	uint64_t ops;
	double elapsed;
	const char *err;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	unsigned char hdr[24] = { 0 }, *buf = malloc(r->size);
	uint64_t st, ok = STATUS_MAGIC << 32;
	int fd = socket(r->addr.ss_family, SOCK_STREAM, 0), one = 1;
	double t0, t1, end;

	if (fd < 0 || !buf || connect(fd, (void *)&r->addr, r->alen)) {
		r->err = "cannot connect";
		pthread_barrier_wait(r->go);
		return NULL;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* The header is little-endian; so is every machine this runs on. */
	memcpy(hdr, &r->size, 8);
	memcpy(hdr + 8, &r->at, 8);
	hdr[16] = r->v2 ? 0x80 : 0;
	pthread_barrier_wait(r->go);
	t0 = now_s();
	end = t0 + r->secs;
	do {
		if (write_full(fd, hdr, sizeof(hdr))) {
			r->err = "connection closed sending a request";
			break;
		}
		if (r->v2 && (read_full(fd, &st, 8) || st != ok)) {
			r->err = "no ok status frame (v2)";
			break;
		}
		if (read_full(fd, buf, r->size)) {
			r->err = "connection closed before the data";
			break;
		}
		if (r->want &&
		    (r->ops == 0 ? memcmp(buf, r->want, r->size) :
		     memcmp(buf, r->want, r->size < 64 ? r->size : 64) ||
		     memcmp(buf + r->size - (r->size < 64 ? r->size : 64),
			    r->want + r->size - (r->size < 64 ? r->size : 64),
			    r->size < 64 ? r->size : 64))) {
			r->err = "read bytes differ from the value";
			break;
		}
		r->ops++;
		t1 = now_s();
	} while (t1 < end);
	r->elapsed = now_s() - t0;
	close(fd);
	free(buf);
	return NULL;
}

static const unsigned char *load(const char *path, uint64_t size)
{
	FILE *f = fopen(path, "rb");
	unsigned char *p = malloc(size + 1);

	if (!f || !p)
		die(path);
	if (fread(p, 1, size + 1, f) != size) {
		fprintf(stderr, "tcp_ceiling: '%s' is not %lu bytes\n", path,
			(unsigned long)size);
		exit(1);
	}
	fclose(f);
	return p;
}

static int reads(int argc, char **argv)
{
	struct reader r[MAX_CONNS];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	pthread_barrier_t go;
	const unsigned char *want = NULL;
	unsigned conns;
	uint64_t at, size;
	double secs, rate = 0;
	bool v2 = false;
	int rc;

	if (argc < 8)
		return -1;
	at = strtoull(argv[4], NULL, 0);
	size = strtoull(argv[5], NULL, 0);
	conns = (unsigned)atoi(argv[6]);
	secs = atof(argv[7]);
	if (argc > 8 && !strcmp(argv[8], "v2"))
		v2 = true;
	if (argc > 8 + v2)
		want = load(argv[8 + v2], size);
	if (!size || size > (1ull << 30) || conns < 1 || conns > MAX_CONNS ||
	    !(secs > 0 && secs <= 60))
		return -1;
	rc = getaddrinfo(argv[2], argv[3], &hints, &ai);
	if (rc) {
		fprintf(stderr, "tcp_ceiling: '%s': %s\n", argv[2],
			gai_strerror(rc));
		return 1;
	}
	if (!(ai->ai_family == AF_INET &&
	      (ntohl(((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr) >>
	       24) == 127) &&
	    !(ai->ai_family == AF_INET6 &&
	      IN6_IS_ADDR_LOOPBACK(
		      &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr))) {
		fprintf(stderr, "tcp_ceiling: '%s' is not loopback\n", argv[2]);
		return 1;
	}
	pthread_barrier_init(&go, NULL, conns);
	for (unsigned i = 0; i < conns; i++) {
		r[i] = (struct reader){ .at = at, .size = size, .v2 = v2,
					.want = want, .secs = secs, .go = &go,
					.alen = ai->ai_addrlen };
		memcpy(&r[i].addr, ai->ai_addr, ai->ai_addrlen);
		if (pthread_create(&r[i].th, NULL, reader_main, &r[i]))
			die("pthread_create");
	}
	for (unsigned i = 0; i < conns; i++) {
		pthread_join(r[i].th, NULL);
		if (r[i].err) {
			fprintf(stderr, "tcp_ceiling: connection %u: %s\n", i,
				r[i].err);
			return 1;
		}
		rate += (double)r[i].ops / r[i].elapsed;
	}
	freeaddrinfo(ai);
	printf("read %.1f %.3f\n", rate, rate * (double)size / 1e9);
	return 0;
}

int main(int argc, char **argv)
{
	int rc = -1;

	if (argc >= 2 && !strcmp(argv[1], "stream"))
		rc = stream(argc > 2 ? atof(argv[2]) : 2);
	else if (argc >= 2 && !strcmp(argv[1], "read"))
		rc = reads(argc, argv);
	if (rc < 0) {
		fprintf(stderr, "usage: tcp_ceiling stream [SECONDS]\n"
			"       tcp_ceiling read HOST PORT ADDR SIZE CONNS "
			"SECONDS [v2] [CHECKFILE]\n");
		return 2;
	}
	return rc;
}
