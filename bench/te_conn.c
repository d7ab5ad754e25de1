/*
 * te_conn.c - the transfer port as Mooncake's Transfer Engine uses it in
 * its default mode (mooncake-transfer(7), TRANSFER ENGINE CLIENTS): one
 * new TCP connection per request, closed after it.
 *
 *   te_conn HOST PORT ADDR SIZE THREADS SECONDS [v1|v2]
 *       THREADS threads, each in a loop: connect (TCP_NODELAY), send one
 *       READ header for SIZE bytes at ADDR (opcode | 0x80 with v2, the
 *       default), receive the status frame (v2) and the SIZE bytes,
 *       close; for SECONDS. Prints "conn OPS" (requests per second).
 *       A rejected or short answer is an error, not a figure.
 *
 * Against mooncaked's port and against `tcp_ceiling serve` (a trivial
 * server of the same framing) it shows what accepting, serving one
 * request and closing costs beside the least any server can do.
 */
#include "autoconfig.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define STATUS_MAGIC 0x4D435456ull
#define MAX_THREADS  64

static struct addrinfo *target;
static uint64_t addr, size;
static bool v2 = true;
static double stop_at;
static _Atomic uint64_t done;
static _Atomic int failed;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int recv_full(int fd, void *p, size_t n)
{
	char *d = p;

	while (n) {
		ssize_t r = recv(fd, d, n, MSG_WAITALL);

		if (r <= 0)
			return -1;
		d += r;
		n -= (size_t)r;
	}
	return 0;
}

/* One request on a connection of its own: 0, or -1 after saying why. */
static int one(unsigned char *buf)
{
	unsigned char hdr[24] = {0}, st[8];
	int fd, one = 1, rc = -1;
	uint64_t v;

	fd = socket(target->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, target->ai_addr, target->ai_addrlen)) {
		fprintf(stderr, "te_conn: connect: %s\n", strerror(errno));
		goto out;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (int i = 0; i < 8; i++) {
		hdr[i] = (unsigned char)(size >> (8 * i));
		hdr[8 + i] = (unsigned char)(addr >> (8 * i));
	}
	hdr[16] = v2 ? 0x80 : 0;
	if (send(fd, hdr, sizeof(hdr), MSG_NOSIGNAL) != sizeof(hdr)) {
		fprintf(stderr, "te_conn: send: %s\n", strerror(errno));
		goto out;
	}
	if (v2) {
		if (recv_full(fd, st, sizeof(st))) {
			fprintf(stderr, "te_conn: no status frame\n");
			goto out;
		}
		v = 0;
		for (int i = 7; i >= 0; i--)
			v = v << 8 | st[i];
		if (v != STATUS_MAGIC << 32) {
			fprintf(stderr, "te_conn: status 0x%016llx\n",
				(unsigned long long)v);
			goto out;
		}
	}
	if (recv_full(fd, buf, size)) {
		fprintf(stderr, "te_conn: short answer\n");
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

static void *client(void *arg)
{
	unsigned char *buf = malloc(size);
	uint64_t n = 0;

	(void)arg;
	while (buf && !atomic_load(&failed) && now_s() < stop_at) {
		if (one(buf)) {
			atomic_store(&failed, 1);
			break;
		}
		n++;
	}
	atomic_fetch_add(&done, n);
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM};
	pthread_t th[MAX_THREADS];
	unsigned threads;
	double secs, t0;

	if (argc < 7 || argc > 8 ||
	    (argc == 8 && strcmp(argv[7], "v1") && strcmp(argv[7], "v2"))) {
		fprintf(stderr, "usage: te_conn HOST PORT ADDR SIZE THREADS "
				"SECONDS [v1|v2]\n");
		return 2;
	}
	addr = strtoull(argv[3], NULL, 0);
	size = strtoull(argv[4], NULL, 0);
	threads = (unsigned)atoi(argv[5]);
	secs = atof(argv[6]);
	v2 = argc < 8 || !strcmp(argv[7], "v2");
	if (!size || size > (64u << 20) || !threads || threads > MAX_THREADS ||
	    secs <= 0) {
		fprintf(stderr, "te_conn: bad size, threads or seconds\n");
		return 2;
	}
	if (getaddrinfo(argv[1], argv[2], &hints, &target)) {
		fprintf(stderr, "te_conn: cannot resolve %s\n", argv[1]);
		return 1;
	}
	t0 = now_s();
	stop_at = t0 + secs;
	for (unsigned i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, client, NULL);
	for (unsigned i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	if (atomic_load(&failed))
		return 1;
	printf("conn %.0f\n", (double)atomic_load(&done) / (now_s() - t0));
	freeaddrinfo(target);
	return 0;
}
