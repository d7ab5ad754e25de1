/*
 * hload.c - an HTTP load of PUTs or GETs over many distinct keys, built
 * the way redis-benchmark builds its load, so the two compare fairly.
 *
 *   hload HOST PORT put|get|fill PREFIX NKEYS SIZE CONNS SECONDS
 *
 * put   PUT /api/put/PREFIXnnnnnnn with a SIZE-byte body
 * get   GET /api/get/PREFIXnnnnnnn, the answer must be 200 with SIZE bytes
 * fill  PUTs every key PREFIX0000000 .. PREFIX(NKEYS-1) once, then stops
 * redis-fill  the same over redis's protocol (PORT a redis-server), keys
 *       PREFIX000000000000 .. as redis-benchmark -r names them
 *       ("key:" and twelve digits), so its GETs all hit as ours do
 *
 * Keys are drawn at random from [0, NKEYS) for every request, as
 * redis-benchmark -r NKEYS draws them. Each request is the same prebuilt
 * bytes with the key's seven digits written in place (redis-benchmark's
 * way too): the client copies nothing per request and sends the body from
 * one static buffer, so the client's cost does not decide the figure.
 * CONNS keep-alive connections, one thread, epoll, one request in flight
 * per connection. Prints "hload OK BAD RPS"; exits 1 when any answer was
 * not the expected one (a figure with wrong answers is no figure).
 * Loopback only.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

#define MAX_CONNS 256
#define RBUF	  (256u << 10)
enum mode { PUT, GET, FILL, RFILL };

struct conn {
	int fd;
	char req[256]; /* the head of the request, key digits in place */
	size_t req_len, digit_off;
	uint64_t sent;	   /* bytes of head + body sent */
	uint64_t body_len; /* bytes of the request body */
	bool reading, idle;
	/* the answer */
	char hdr[4096];
	size_t hdr_len;
	int status;
	int64_t clen, got;
};

static enum mode mode;
static const char *prefix;
static uint64_t nkeys, size, next_fill, ok, bad;
static char *body, *sink;
static int digits = 7;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "hload: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Sets up the next request on @c: false when a fill has put every key. */
static bool next_request(struct conn *c)
{
	uint64_t k;

	if (mode == FILL || mode == RFILL) {
		if (next_fill >= nkeys)
			return false;
		k = next_fill++;
	} else {
		k = rnd() % nkeys;
	}
	for (int i = digits - 1; i >= 0; i--, k /= 10)
		c->req[c->digit_off + (size_t)i] = (char)('0' + k % 10);
	c->sent = 0;
	c->reading = false;
	c->hdr_len = 0;
	c->status = 0;
	c->clen = -1;
	c->got = 0;
	return true;
}

static void build(struct conn *c)
{
	int n;

	if (mode == RFILL) {
		n = snprintf(c->req, sizeof(c->req),
			     "*3\r\n$3\r\nSET\r\n$%zu\r\n%s",
			     strlen(prefix) + (size_t)digits, prefix);
		c->digit_off = (size_t)n;
		n += snprintf(c->req + n, sizeof(c->req) - (size_t)n,
			      "%0*d\r\n$%llu\r\n", digits, 0,
			      (unsigned long long)size);
		c->req_len = (size_t)n;
		c->body_len = size + 2; /* the value, then CRLF */
		return;
	}
	n = snprintf(c->req, sizeof(c->req), "%s /api/%s/%s",
		     mode == GET ? "GET" : "PUT", mode == GET ? "get" : "put",
		     prefix);

	c->digit_off = (size_t)n;
	n += snprintf(c->req + n, sizeof(c->req) - (size_t)n, "%0*d", digits,
		      0);
	if (mode == GET)
		n += snprintf(c->req + n, sizeof(c->req) - (size_t)n,
			      " HTTP/1.1\r\nHost: bench\r\n\r\n");
	else
		n += snprintf(c->req + n, sizeof(c->req) - (size_t)n,
			      " HTTP/1.1\r\nHost: bench\r\nContent-Type: "
			      "application/octet-stream\r\nContent-Length: "
			      "%llu\r\n\r\n",
			      (unsigned long long)size);
	c->req_len = (size_t)n;
	c->body_len = mode == GET ? 0 : size;
}

/* Sends what it can; true when the whole request is out. */
static bool send_some(struct conn *c)
{
	uint64_t total = c->req_len + c->body_len;

	while (c->sent < total) {
		struct iovec iov[2];
		int n = 0;
		ssize_t w;

		if (c->sent < c->req_len) {
			iov[n].iov_base = c->req + c->sent;
			iov[n++].iov_len = c->req_len - c->sent;
		}
		if (c->body_len) {
			uint64_t bo =
				c->sent > c->req_len ? c->sent - c->req_len : 0;

			iov[n].iov_base = body + bo;
			iov[n++].iov_len = c->body_len - bo;
		}
		w = writev(c->fd, iov, n);
		if (w < 0) {
			if (errno == EAGAIN)
				return false;
			die("writev");
		}
		c->sent += (uint64_t)w;
	}
	return true;
}

/* Parses the head in c->hdr once complete: -1 more needed, else the
 * offset of the body. */
static ssize_t parse_head(struct conn *c)
{
	char *e;
	const char *cl;

	c->hdr[c->hdr_len] = '\0';
	if (mode == RFILL) {
		e = strstr(c->hdr, "\r\n");
		if (!e)
			return -1;
		c->status = !strncmp(c->hdr, "+OK", 3) ? 200 : 500;
		c->clen = 0;
		return e + 2 - c->hdr;
	}
	e = strstr(c->hdr, "\r\n\r\n");
	if (!e)
		return -1;
	if (sscanf(c->hdr, "HTTP/1.%*d %d", &c->status) != 1) {
		fprintf(stderr, "hload: bad status line\n");
		exit(1);
	}
	cl = strcasestr(c->hdr, "\r\nContent-Length:");
	c->clen = cl ? strtoll(cl + 17, NULL, 10) : -1;
	if (c->clen < 0) {
		fprintf(stderr, "hload: an answer without Content-Length\n");
		exit(1);
	}
	return e + 4 - c->hdr;
}

/* read(2) that ends the run on a close or an error: -1 for EAGAIN. */
static ssize_t read_some(int fd, void *buf, size_t n)
{
	ssize_t r = read(fd, buf, n);

	if (r == 0) {
		fprintf(stderr, "hload: the server closed\n");
		exit(1);
	}
	if (r < 0 && errno != EAGAIN)
		die("read");
	return r;
}

/* Reads what it can; true when the whole answer is in. */
static bool recv_some(struct conn *c)
{
	for (;;) {
		ssize_t r;

		if (c->clen < 0) {
			ssize_t off;

			if (c->hdr_len >= sizeof(c->hdr) - 1) {
				fprintf(stderr,
					"hload: answer head too long\n");
				exit(1);
			}
			r = read_some(c->fd, c->hdr + c->hdr_len,
				      sizeof(c->hdr) - 1 - c->hdr_len);
			if (r < 0)
				return false;
			c->hdr_len += (size_t)r;
			off = parse_head(c);
			if (off < 0)
				continue;
			c->got = (int64_t)c->hdr_len - off;
		} else if (c->got < c->clen) {
			size_t want = (size_t)(c->clen - c->got);

			r = read_some(c->fd, sink, want < RBUF ? want : RBUF);
			if (r < 0)
				return false;
			c->got += r;
		}
		if (c->clen >= 0 && c->got >= c->clen)
			break;
	}
	if (c->got != c->clen) {
		fprintf(stderr, "hload: pipelined bytes after an answer\n");
		exit(1);
	}
	if (c->status == 200 && (mode != GET || (uint64_t)c->clen == size))
		ok++;
	else
		bad++;
	return true;
}

int main(int argc, char **argv)
{
	struct conn *conns;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	unsigned nconns;
	double secs, t0, end;
	int ep, active = 0;

	if (argc != 9) {
		fprintf(stderr,
			"usage: hload HOST PORT put|get|fill|redis-fill PREFIX "
			"NKEYS SIZE CONNS SECONDS\n");
		return 2;
	}
	if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1 ||
	    (ntohl(sa.sin_addr.s_addr) >> 24) != 127) {
		fprintf(stderr,
			"hload: HOST must be a loopback IPv4 address\n");
		return 2;
	}
	sa.sin_port = htons((uint16_t)atoi(argv[2]));
	if (!strcmp(argv[3], "put")) {
		mode = PUT;
	} else if (!strcmp(argv[3], "get")) {
		mode = GET;
	} else if (!strcmp(argv[3], "fill")) {
		mode = FILL;
	} else if (!strcmp(argv[3], "redis-fill")) {
		mode = RFILL;
		digits = 12;
	} else {
		fprintf(stderr, "hload: bad mode '%s'\n", argv[3]);
		return 2;
	}
	prefix = argv[4];
	nkeys = strtoull(argv[5], NULL, 10);
	size = strtoull(argv[6], NULL, 10);
	nconns = (unsigned)atoi(argv[7]);
	secs = atof(argv[8]);
	if (strlen(prefix) > 64 || nkeys == 0 || nkeys > 10000000 ||
	    size == 0 || nconns == 0 || nconns > MAX_CONNS || !(secs > 0)) {
		fprintf(stderr, "hload: bad arguments\n");
		return 2;
	}
	body = malloc(size);
	sink = malloc(RBUF);
	conns = calloc(nconns, sizeof(*conns));
	if (!body || !sink || !conns)
		die("malloc");
	for (uint64_t i = 0; i < size; i++)
		body[i] = (char)('a' + i % 26);
	if (mode == RFILL) {
		char *b = realloc(body, size + 2);

		if (!b)
			die("malloc");
		body = b;
		memcpy(body + size, "\r\n", 2);
	}
	ep = epoll_create1(0);
	if (ep < 0)
		die("epoll_create1");
	for (unsigned i = 0; i < nconns; i++) {
		struct conn *c = &conns[i];
		struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET,
					 .data.ptr = c};
		int one = 1;

		c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (c->fd < 0)
			die("socket");
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
		    errno != EINPROGRESS)
			die("connect");
		build(c);
		if (next_request(c))
			active++;
		else
			c->idle = true;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
			die("epoll_ctl");
	}
	t0 = now_s();
	end = t0 + secs;
	while (active > 0) {
		struct epoll_event evs[64];
		int n = epoll_wait(ep, evs, 64, 100);
		double t = now_s();

		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		if (mode != FILL && mode != RFILL && t >= end)
			break;
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			while (!c->idle) {
				if (!c->reading) {
					if (!send_some(c))
						break;
					c->reading = true;
				}
				if (!recv_some(c))
					break;
				if (!next_request(c)) {
					c->idle = true;
					active--;
					break;
				}
			}
		}
	}
	t0 = now_s() - t0;
	printf("hload %llu %llu %.2f\n", (unsigned long long)ok,
	       (unsigned long long)bad, (double)ok / t0);
	for (unsigned i = 0; i < nconns; i++)
		close(conns[i].fd);
	return bad ? 1 : 0;
}
