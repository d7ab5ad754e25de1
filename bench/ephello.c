/*
 * ephello.c - the least an HTTP/1.1 server on epoll does for bench/hload's
 * requests: the reference beside which civetweb's thread per connection
 * (bench/hello) and mooncaked's web door are judged for small values.
 *
 *   ephello NKEYS SIZE [THREADS]
 *
 * GET /api/get/Pnnnnnnn  200 with the SIZE bytes of key nnnnnnn % NKEYS
 * PUT /api/put/Pnnnnnnn  the body (SIZE bytes at most are kept) becomes
 *                        that key's value; 200 {"status":"success"}
 *
 * The key is the seven digits before the blank that ends the target,
 * as hload writes them; the values lie in one array of NKEYS * SIZE bytes,
 * so a request touches a value of its own as the daemon's do. THREADS
 * (default 1) epoll loops share the listener (EPOLLEXCLUSIVE); each
 * connection is non-blocking, its answer one writev. Pipelined requests
 * are answered in turn. A head longer than 16 KiB, or a body that would
 * not fit in its connection's buffer, closes the connection. No other
 * validation: loopback only, for measuring. Prints "ephello PORT" and
 * serves until killed.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define CONN_BUF    (32u << 10)
#define HEAD_MAX    (16u << 10)
#define MAX_THREADS 16

struct conn {
	int fd;
	size_t n;
	char buf[CONN_BUF];
};

static char *vals;
static unsigned long nkeys, size;
static int lfd;

static void conn_close(struct conn *c)
{
	close(c->fd);
	free(c);
}

/* Answers the request of head @hl and body @cl bytes at the start of
 * c->buf: false when the connection must close. */
static bool answer(struct conn *c, size_t hl, size_t cl)
{
	static const char ok[] = "{\"status\":\"success\"}";
	char h[192], *t = memchr(c->buf, ' ', hl), *te;
	unsigned long key = 0;
	struct iovec iov[2];
	int n;

	te = t ? memchr(t + 1, ' ', hl - (size_t)(t + 1 - c->buf)) : NULL;
	if (!te || te - t < 8)
		return false;
	for (const char *d = te - 7; d < te; d++)
		key = key * 10 +
		      (unsigned long)(*d >= '0' && *d <= '9' ? *d - '0' : 0);
	key %= nkeys;
	if (c->buf[0] == 'G') {
		n = snprintf(h, sizeof(h),
			     "HTTP/1.1 200 OK\r\n"
			     "Content-Type: application/octet-stream\r\n"
			     "Content-Length: %lu\r\n\r\n",
			     size);
		iov[1] = (struct iovec){vals + key * size, size};
	} else {
		memcpy(vals + key * size, c->buf + hl, cl < size ? cl : size);
		n = snprintf(h, sizeof(h),
			     "HTTP/1.1 200 OK\r\n"
			     "Content-Type: application/json\r\n"
			     "Content-Length: %zu\r\n\r\n",
			     sizeof(ok) - 1);
		iov[1] = (struct iovec){(void *)ok, sizeof(ok) - 1};
	}
	iov[0] = (struct iovec){h, (size_t)n};
	/* an answer the socket cannot take whole is the end: a benchmark
	 * client reads every answer before it asks again */
	return writev(c->fd, iov, 2) == (ssize_t)n + (ssize_t)iov[1].iov_len;
}

/* Reads what @c's socket has and answers every whole request in it. */
static bool conn_run(struct conn *c)
{
	ssize_t r = recv(c->fd, c->buf + c->n, CONN_BUF - c->n, 0);

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	if (r <= 0)
		return false;
	c->n += (size_t)r;
	for (;;) {
		char *end = memmem(c->buf, c->n, "\r\n\r\n", 4), *cl;
		size_t hl, body = 0;

		if (!end)
			return c->n < HEAD_MAX;
		hl = (size_t)(end + 4 - c->buf);
		*end = '\0';
		cl = strcasestr(c->buf, "\r\nContent-Length:");
		if (cl)
			body = strtoul(cl + 17, NULL, 10);
		*end = '\r';
		if (body > CONN_BUF - hl)
			return false;
		if (c->n < hl + body)
			return true;
		if (!answer(c, hl, body))
			return false;
		c->n -= hl + body;
		memmove(c->buf, c->buf + hl + body, c->n);
	}
}

static void *loop(void *arg)
{
	struct epoll_event e = {.events = EPOLLIN | EPOLLEXCLUSIVE}, ev[64];
	int ep = epoll_create1(0), one = 1;

	(void)arg;
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &e)) {
		perror("ephello: epoll");
		exit(1);
	}
	for (;;) {
		int n = epoll_wait(ep, ev, 64, -1);

		for (int i = 0; i < n; i++) {
			struct conn *c = ev[i].data.ptr;
			int fd;

			if (c) {
				if (!conn_run(c))
					conn_close(c);
				continue;
			}
			fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
			if (fd < 0)
				continue;
			c = malloc(sizeof(*c));
			if (!c) {
				close(fd);
				continue;
			}
			c->fd = fd;
			c->n = 0;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				   sizeof(one));
			e = (struct epoll_event){.events = EPOLLIN,
						 .data.ptr = c};
			if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e))
				conn_close(c);
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	pthread_t t;
	unsigned long nt = 1;
	int one = 1;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: ephello NKEYS SIZE [THREADS]\n");
		return 2;
	}
	nkeys = strtoul(argv[1], NULL, 10);
	size = strtoul(argv[2], NULL, 10);
	if (argc > 3)
		nt = strtoul(argv[3], NULL, 10);
	if (!nkeys || nkeys > 10000000 || !size || size > (1ul << 20) ||
	    size * nkeys > (4ul << 30) || !nt || nt > MAX_THREADS) {
		fprintf(stderr, "ephello: NKEYS 1..10^7, SIZE 1..1 MiB "
				"(4 GiB in all), THREADS 1..16\n");
		return 2;
	}
	vals = malloc(nkeys * size);
	if (!vals)
		return 1;
	for (unsigned long i = 0; i < nkeys * size; i++)
		vals[i] = (char)(i * 131);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (lfd < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 256) ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen)) {
		perror("ephello: listen");
		return 1;
	}
	printf("ephello %u\n", ntohs(a.sin_port));
	fflush(stdout);
	for (unsigned long i = 1; i < nt; i++)
		if (pthread_create(&t, NULL, loop, NULL)) {
			fprintf(stderr, "ephello: cannot start a thread\n");
			return 1;
		}
	loop(NULL);
	return 0;
}
