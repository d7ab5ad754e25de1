/*
 * client.c - the transfer framing's client side (client.h): connections,
 * the per-peer pool, and one request's exchange.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "cc.h"
#include "client.h"
#include "frame.h"
#include "net.h"

#define POOL_DEFAULT 4

struct peer {
	char *host; /* NULL: a free slot */
	unsigned port;
	unsigned nidle;
	int idle[XFER_CLIENT_POOL_MAX];
	uint64_t last; /* the client's tick at the last give-back */
};

struct xfer_client {
	unsigned timeout_ms, pool;
	bool one_shot;
	char cc[MC_NET_CC_MAX]; /* new connections' TCP_CONGESTION, "": none */
	pthread_mutex_t mu;	/* guards peers and tick */
	uint64_t tick;
	struct peer peers[XFER_CLIENT_PEERS_MAX];
};

struct xfer_client *xfer_client_new(const struct xfer_client_opts *o)
{
	struct xfer_client *c = calloc(1, sizeof(*c));

	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	c->timeout_ms =
		o && o->timeout_ms ? o->timeout_ms : XFER_CLIENT_TIMEOUT_MS;
	c->pool = o && o->pool_per_peer ? o->pool_per_peer : POOL_DEFAULT;
	if (c->pool > XFER_CLIENT_POOL_MAX)
		c->pool = XFER_CLIENT_POOL_MAX;
	c->one_shot = o && o->one_shot;
	if (o && o->congestion)
		snprintf(c->cc, sizeof(c->cc), "%s", o->congestion);
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

static void peer_drop(struct peer *p)
{
	while (p->nidle)
		close(p->idle[--p->nidle]);
	free(p->host);
	p->host = NULL;
}

void xfer_client_free(struct xfer_client *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < XFER_CLIENT_PEERS_MAX; i++)
		peer_drop(&c->peers[i]);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

unsigned xfer_client_idle(struct xfer_client *c)
{
	unsigned n = 0;

	pthread_mutex_lock(&c->mu);
	for (unsigned i = 0; i < XFER_CLIENT_PEERS_MAX; i++)
		n += c->peers[i].nidle;
	pthread_mutex_unlock(&c->mu);
	return n;
}

/* ----------------------------------------------------------------- pool */

/* The slot of @t's peer, NULL when none; c->mu held. */
static struct peer *peer_find(struct xfer_client *c,
			      const struct xfer_target *t)
{
	for (unsigned i = 0; i < XFER_CLIENT_PEERS_MAX; i++) {
		struct peer *p = &c->peers[i];

		if (p->host && p->port == t->port && !strcmp(p->host, t->host))
			return p;
	}
	return NULL;
}

/*
 * Whether an idle connection is still usable: a peer that closed it (or
 * sent something unasked) has made it readable.
 */
static bool idle_alive(int fd)
{
	struct pollfd pf = {.fd = fd, .events = POLLIN | POLLRDHUP};

	return poll(&pf, 1, 0) == 0;
}

/* An idle pooled connection to @t, or -1. */
static int pool_take(struct xfer_client *c, const struct xfer_target *t)
{
	for (;;) {
		struct peer *p;
		int fd = -1;

		pthread_mutex_lock(&c->mu);
		p = peer_find(c, t);
		if (p && p->nidle)
			fd = p->idle[--p->nidle];
		pthread_mutex_unlock(&c->mu);
		if (fd < 0 || idle_alive(fd))
			return fd;
		close(fd);
	}
}

/* Keeps @fd for the next request to @t, or closes it when the pool is full. */
static void pool_give(struct xfer_client *c, const struct xfer_target *t,
		      int fd)
{
	struct peer *p, *lru = NULL;

	pthread_mutex_lock(&c->mu);
	p = peer_find(c, t);
	if (!p) {
		/* A free slot, else the peer given back to longest ago. */
		for (unsigned i = 0; i < XFER_CLIENT_PEERS_MAX && !p; i++) {
			struct peer *q = &c->peers[i];

			if (!q->host)
				p = q;
			else if (!lru || q->last < lru->last)
				lru = q;
		}
		if (!p) {
			p = lru;
			peer_drop(p);
		}
		p->host = strdup(t->host);
		p->port = t->port;
		if (!p->host) {
			pthread_mutex_unlock(&c->mu);
			close(fd);
			return;
		}
	}
	p->last = ++c->tick;
	if (p->nidle < c->pool) {
		p->idle[p->nidle++] = fd;
		fd = -1;
	}
	pthread_mutex_unlock(&c->mu);
	if (fd >= 0)
		close(fd);
}

/* ---------------------------------------------------------- connections */

static int dial(struct xfer_client *c, const struct xfer_target *t,
		struct mc_err *err)
{
	int gai, fd = mc_net_dial(t->host, t->port, c->timeout_ms,
				  c->timeout_ms, &gai);

	if (fd == -EHOSTDOWN && gai) {
		return mc_err_set(err, -EHOSTDOWN, MC_TRANSFER_FAIL,
				  "cannot resolve transfer host '%s': %s",
				  t->host, gai_strerror(gai));
	}
	if (fd < 0) {
		return mc_err_set(err, fd, MC_TRANSFER_FAIL,
				  "cannot connect to '%s' port %u: %s", t->host,
				  t->port, strerror(-fd));
	}
	/* checked at start (xfer_new): a refusal now keeps the default */
	mc_net_cc_set(fd, c->cc);
	return fd;
}

/* ------------------------------------------------------------------ I/O */

static int io_errno(int e)
{
	if (e == EAGAIN || e == EWOULDBLOCK)
		return -ETIMEDOUT;
	if (e == EPIPE)
		return -ECONNRESET;
	return -e;
}

/*
 * Sends every byte of @iov[0..n) (consumed as it goes) with @flags (and
 * MSG_NOSIGNAL): 0 or -errno.
 */
static int send_iov(int fd, struct iovec *iov, int n, int flags)
{
	while (n) {
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
		ssize_t r = sendmsg(fd, &mh, MSG_NOSIGNAL | flags);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return io_errno(errno);
		}
		while (n && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n) {
			iov->iov_base = (char *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

/*
 * Receives exactly @n bytes into @p: 0, or -ECONNRESET at the end of the
 * stream, -ETIMEDOUT, -errno. *@got counts what arrived.
 */
static int recv_all(int fd, void *p, uint64_t n, uint64_t *got)
{
	char *d = p;

	while (n) {
		size_t want = n > SSIZE_MAX ? SSIZE_MAX : (size_t)n;
		ssize_t r = recv(fd, d, want, MSG_WAITALL);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return io_errno(errno);
		}
		if (r == 0)
			return -ECONNRESET;
		d += r;
		n -= (uint64_t)r;
		*got += (uint64_t)r;
	}
	return 0;
}

/*
 * An answer this large is received by recv_bulk; its wake-up mark is at
 * most BULK_LOWAT_MAX (the kernel caps it at half of tcp_rmem's largest
 * buffer anyway).
 */
#define BULK_MIN       (64u << 10)
#define BULK_LOWAT_MAX (4u << 20)

/*
 * One wait of recv_bulk or recv_pipe for the @left bytes still to come:
 * SO_RCVLOWAT at them (BULK_LOWAT_MAX at most), then poll(2) for
 * @timeout_ms. 1 when it woke, 0 when it timed out, or -errno.
 */
static int bulk_wait(int fd, uint64_t left, unsigned timeout_ms)
{
	int mark = left > BULK_LOWAT_MAX ? (int)BULK_LOWAT_MAX : (int)left;
	struct pollfd pf = {.fd = fd, .events = POLLIN};
	int r;

	setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &mark, sizeof(mark));
	do
		r = poll(&pf, 1, (int)timeout_ms);
	while (r < 0 && errno == EINTR);
	return r < 0 ? io_errno(errno) : r > 0;
}

/*
 * recv_all for a large answer, woken once when it is all in (or when the
 * receive window has let in all the peer may send), not once for every
 * segment that arrives: SO_RCVLOWAT at the bytes still to come, poll(2)
 * until they are there, then one recv of what is. Each wait asks only
 * for bytes the peer has yet to send, so none waits for more than will
 * come; a blocking recv could not do this (its mark would count bytes it
 * had already taken). @timeout_ms bounds each wait without progress, as
 * the socket's own timeout bounds recv_all's: any byte that arrived
 * during a wait is progress, however far below the mark. The mark is 1
 * again after.
 */
static int recv_bulk(int fd, void *p, uint64_t n, unsigned timeout_ms,
		     uint64_t *got)
{
	char *d = p;
	int rc = 0, one = 1;

	while (n) {
		int woke = bulk_wait(fd, n, timeout_ms);
		ssize_t r;

		if (woke < 0) {
			rc = woke;
			break;
		}
		/*
		 * A wait that ends below the mark is a stall only if nothing
		 * came: bytes that trickled in are taken (a non-blocking recv
		 * returns them under the mark) and the next wait starts anew.
		 */
		r = recv(fd, d, n > SSIZE_MAX ? SSIZE_MAX : (size_t)n,
			 MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EINTR ||
			    (woke && (errno == EAGAIN || errno == EWOULDBLOCK)))
				continue;
			rc = io_errno(errno); /* EAGAIN after a timeout */
			break;
		}
		if (r == 0) {
			rc = -ECONNRESET;
			break;
		}
		d += r;
		n -= (uint64_t)r;
		*got += (uint64_t)r;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
	return rc;
}

/* Whether pipe @wfd (its write end) has no room for another piece. */
static bool pipe_full(int wfd)
{
	struct pollfd pf = {.fd = wfd, .events = POLLOUT};

	return poll(&pf, 1, 0) == 0;
}

/* Reads the @n bytes pipe @fd (its read end) holds into @p: 0 or -EIO. */
static int pipe_drain(int fd, void *p, uint64_t n)
{
	char *d = p;

	while (n) {
		ssize_t r = read(fd, d, n > SSIZE_MAX ? SSIZE_MAX : (size_t)n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -EIO;
		d += r;
		n -= (uint64_t)r;
	}
	return 0;
}

/*
 * recv_bulk into pipe @p (read end, write end) rather than memory: the
 * bytes are spliced (splice(2)) from the socket as they arrive, woken as
 * recv_bulk is. 1 once all @n are in the pipe. The pipe takes one buffer
 * per piece the socket received, so one that came in small pieces (a
 * network's packets) may fill it before the end: only then is memory
 * asked for (@room(@ctx, @n)), what the pipe holds read back into it, the
 * rest received there, and 0. Or -errno as recv_bulk (-ENOMEM when no
 * memory came), the pipe holding any part of the bytes.
 */
static int recv_pipe(int fd, const int p[2], void *(*room)(void *, uint64_t),
		     void *ctx, uint64_t n, unsigned timeout_ms, uint64_t *got)
{
	uint64_t in = 0;
	int rc = 1, one = 1;
	void *buf;

	while (in < n) {
		uint64_t left = n - in;
		int woke = bulk_wait(fd, left, timeout_ms);
		ssize_t r;

		if (woke < 0) {
			rc = woke;
			break;
		}
		r = splice(fd, NULL, p[1], NULL,
			   left > (1u << 30) ? (1u << 30) : (size_t)left,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (r > 0) {
			in += (uint64_t)r;
			*got += (uint64_t)r;
			continue;
		}
		if (r == 0) {
			rc = -ECONNRESET;
			break;
		}
		if (errno == EINTR)
			continue;
		/* (the socket waits while the pipe is full: a window that
		 * closes wakes the poll, as the mark's end does) */
		if (errno == EAGAIN && pipe_full(p[1])) {
			rc = 0;
			break;
		}
		if (woke && errno == EAGAIN)
			continue;
		rc = io_errno(errno); /* EAGAIN after a timeout */
		break;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
	if (rc != 0)
		return rc;
	buf = room(ctx, n);
	if (!buf)
		return -ENOMEM;
	rc = pipe_drain(p[0], buf, in);
	if (!rc && in < n)
		rc = n - in >= BULK_MIN
			     ? recv_bulk(fd, (char *)buf + in, n - in,
					 timeout_ms, got)
			     : recv_all(fd, (char *)buf + in, n - in, got);
	return rc;
}

static int recv_status(int fd, uint64_t *got)
{
	unsigned char st[XFER_STATUS_LEN];
	int rc = recv_all(fd, st, sizeof(st), got);

	if (rc)
		return rc;
	switch (xfer_status_decode(st)) {
	case XFER_OK:
		return 0;
	case XFER_REJECTED:
		return -EACCES;
	default:
		return -EPROTO;
	}
}

/*
 * Moves @n bytes from pipe @in to socket @out with splice(2): 0, or
 * -ECONNRESET when the pipe runs dry, -ETIMEDOUT (the socket's own
 * timeout), -errno. *@moved counts what went.
 */
static int splice_all(int in, int out, uint64_t n, uint64_t *moved)
{
	while (n) {
		size_t want = n > (1u << 30) ? (1u << 30) : (size_t)n;
		ssize_t r = splice(in, NULL, out, NULL, want, SPLICE_F_MOVE);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return io_errno(errno);
		}
		if (r == 0)
			return -ECONNRESET;
		n -= (uint64_t)r;
		*moved += (uint64_t)r;
	}
	return 0;
}

/*
 * A WRITE's payload besides a plain buffer (xfer_client_write_pipe):
 * the first @head bytes from the buffer, the rest from pipe @fd; a
 * READ's answer into pipe @rp, or into memory from @room when it fills
 * (xfer_client_read_pipe).
 */
struct pipe_io {
	int fd;		/* the pipe's read end */
	uint64_t head;	/* the first bytes, from the buffer */
	uint64_t taken; /* bytes taken from the pipe */
	const int *rp;	/* a READ's pipe: read end, write end */
	void *(*room)(void *ctx, uint64_t len);
	void *ctx;
};

/*
 * One request on @fd. *@answered turns true once a byte of the answer has
 * arrived (a request that failed before cannot have been served).
 */
static int exchange(int fd, bool v2, bool write, uint64_t addr, void *rbuf,
		    const void *wbuf, uint64_t len, struct pipe_io *pio,
		    unsigned timeout_ms, bool *answered)
{
	struct xfer_hdr h = {
		.size = len,
		.addr = addr,
		.opcode = (uint8_t)((write ? XFER_OP_WRITE : XFER_OP_READ) |
				    (v2 ? XFER_V2 : 0))};
	unsigned char hdr[XFER_HDR_LEN];
	struct iovec iov[2] = {{hdr, sizeof(hdr)}};
	uint64_t got = 0;
	int rc;

	xfer_hdr_encode(&h, hdr);
	if (write && pio) {
		/*
		 * The header and the first bytes leave corked (MSG_MORE),
		 * the rest straight from the pipe: no byte of the pipe
		 * crosses user memory.
		 */
		iov[1].iov_base = (void *)wbuf;
		iov[1].iov_len = (size_t)pio->head;
		rc = send_iov(fd, iov, 2, MSG_MORE);
		if (!rc)
			rc = splice_all(pio->fd, fd, len - pio->head,
					&pio->taken);
		if (!rc && v2)
			rc = recv_status(fd, &got);
		*answered = got > 0;
		return rc;
	}
	if (write) {
		/* The header joins the payload's first (or only) piece. */
		const char *p = wbuf;
		uint64_t left = len;
		int n = 1;

		do {
			size_t part =
				left > SSIZE_MAX ? SSIZE_MAX : (size_t)left;

			iov[n].iov_base = (void *)p;
			iov[n].iov_len = part;
			rc = send_iov(fd, iov, n + 1, 0);
			p += part;
			left -= part;
			n = 0;
		} while (!rc && left);
		if (rc) {
			/*
			 * A v2 peer rejects a WRITE without reading its
			 * payload: its status may wait behind the failed send.
			 */
			if (v2 && rc == -ECONNRESET &&
			    recv_status(fd, &got) == -EACCES)
				rc = -EACCES;
			*answered = got > 0;
			return rc;
		}
		rc = v2 ? recv_status(fd, &got) : 0;
		*answered = got > 0;
		return rc;
	}
	rc = send_iov(fd, iov, 1, 0);
	if (!rc && v2)
		rc = recv_status(fd, &got);
	if (!rc && pio)
		rc = recv_pipe(fd, pio->rp, pio->room, pio->ctx, len,
			       timeout_ms, &got);
	else if (!rc)
		rc = len >= BULK_MIN
			     ? recv_bulk(fd, rbuf, len, timeout_ms, &got)
			     : recv_all(fd, rbuf, len, &got);
	*answered = got > 0;
	return rc;
}

/* Whether @t and the range are a request's: 0, or -EINVAL said in @err. */
static int request_check(const struct xfer_target *t, const char *op,
			 uint64_t addr, uint64_t len, struct mc_err *err)
{
	if (!t->host || !*t->host || t->port == 0 || t->port > 65535)
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "bad transfer target '%s' port %u",
				  t->host ? t->host : "", t->port);
	if (len == 0 || addr + len < addr)
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "bad %s range of %llu bytes at 0x%llx", op,
				  (unsigned long long)len,
				  (unsigned long long)addr);
	return 0;
}

/* The one-line message of request's failure @rc (a negative errno). */
static int request_error(int rc, const char *op, uint64_t len, uint64_t addr,
			 const struct xfer_target *t, struct mc_err *err)
{
	bool v2 = t->version >= 2;

	switch (rc) {
	case -EACCES:
		return mc_err_set(err, rc, MC_TRANSFER_FAIL,
				  "%s of %llu bytes at 0x%llx rejected by "
				  "'%s' port %u",
				  op, (unsigned long long)len,
				  (unsigned long long)addr, t->host, t->port);
	case -ECONNRESET:
		return mc_err_set(err, rc, MC_TRANSFER_FAIL,
				  "%s of %llu bytes at 0x%llx: '%s' port %u "
				  "closed the connection%s",
				  op, (unsigned long long)len,
				  (unsigned long long)addr, t->host, t->port,
				  v2 ? "" : " (a v1 peer's rejection)");
	case -EPROTO:
		return mc_err_set(err, rc, MC_TRANSFER_FAIL,
				  "%s at 0x%llx: '%s' port %u sent a bad "
				  "status frame",
				  op, (unsigned long long)addr, t->host,
				  t->port);
	default:
		return mc_err_set(err, rc, MC_TRANSFER_FAIL,
				  "%s of %llu bytes at 0x%llx from '%s' port "
				  "%u failed: %s",
				  op, (unsigned long long)len,
				  (unsigned long long)addr, t->host, t->port,
				  strerror(-rc));
	}
}

static int request(struct xfer_client *c, const struct xfer_target *t,
		   bool write, uint64_t addr, void *rbuf, const void *wbuf,
		   uint64_t len, struct pipe_io *pio, struct mc_err *err)
{
	const char *op = write ? "write" : "read";
	bool v2 = t->version >= 2;
	int rc = request_check(t, op, addr, len, err);

	if (rc)
		return rc;
	for (int attempt = 0; attempt < 2; attempt++) {
		bool answered = false;
		int fd = c->one_shot ? -1 : pool_take(c, t);
		bool reused = fd >= 0;

		if (!reused) {
			fd = dial(c, t, err);
			if (fd < 0)
				return fd;
		}
		rc = exchange(fd, v2, write, addr, rbuf, wbuf, len, pio,
			      c->timeout_ms, &answered);
		if (rc >= 0 && !c->one_shot) {
			pool_give(c, t, fd);
			return rc;
		}
		close(fd);
		if (rc >= 0)
			return rc;
		/*
		 * A pooled connection the peer closed meanwhile: once more.
		 * (A timeout is a slow peer, not a stale connection; a
		 * WRITE that took bytes from its pipe cannot be sent again.)
		 */
		if (!(reused && !answered && rc == -ECONNRESET) ||
		    (pio && pio->taken))
			break;
	}
	return request_error(rc, op, len, addr, t, err);
}

int xfer_client_read(struct xfer_client *c, const struct xfer_target *t,
		     uint64_t addr, void *buf, uint64_t len, struct mc_err *err)
{
	return request(c, t, false, addr, buf, NULL, len, NULL, err);
}

int xfer_client_read_pipe(struct xfer_client *c, const struct xfer_target *t,
			  uint64_t addr, const int pfd[2],
			  void *(*room)(void *ctx, uint64_t len), void *ctx,
			  uint64_t len, struct mc_err *err)
{
	struct pipe_io pio = {.fd = -1, .rp = pfd, .room = room, .ctx = ctx};

	return request(c, t, false, addr, NULL, NULL, len, &pio, err);
}

int xfer_client_write(struct xfer_client *c, const struct xfer_target *t,
		      uint64_t addr, const void *buf, uint64_t len,
		      struct mc_err *err)
{
	return request(c, t, true, addr, NULL, buf, len, NULL, err);
}

int xfer_client_write_pipe(struct xfer_client *c, const struct xfer_target *t,
			   uint64_t addr, const void *head, uint64_t hlen,
			   int pfd, uint64_t len, struct mc_err *err)
{
	struct pipe_io pio = {.fd = pfd, .head = hlen};

	if (hlen > len)
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "a write's head is longer than the write");
	return request(c, t, true, addr, NULL, head, len, &pio, err);
}

/* ------------------------------------------------------ streamed WRITEs */

struct xfer_wstream {
	struct xfer_client *c;
	struct xfer_target t; /* t.host points at host */
	int fd;
	uint64_t addr, len, left;
	char host[];
};

int xfer_client_wstream_open(struct xfer_client *c, const struct xfer_target *t,
			     uint64_t addr, uint64_t len,
			     struct xfer_wstream **out, struct mc_err *err)
{
	struct xfer_hdr h = {
		.size = len,
		.addr = addr,
		.opcode = (uint8_t)(XFER_OP_WRITE |
				    (t->version >= 2 ? XFER_V2 : 0))};
	unsigned char hdr[XFER_HDR_LEN];
	struct xfer_wstream *w;
	int rc = request_check(t, "write", addr, len, err);

	if (rc)
		return rc;
	w = malloc(sizeof(*w) + strlen(t->host) + 1);
	if (!w)
		return mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR,
				  "out of memory");
	*w = (struct xfer_wstream){
		.c = c, .t = *t, .addr = addr, .len = len, .left = len};
	strcpy(w->host, t->host);
	w->t.host = w->host;
	xfer_hdr_encode(&h, hdr);
	/*
	 * The header waits corked (MSG_MORE) for the first bytes. A pooled
	 * connection that fails it is retried once on a fresh one: no byte
	 * of the value has gone yet.
	 */
	for (int attempt = 0; attempt < 2; attempt++) {
		struct iovec iov = {hdr, sizeof(hdr)};
		bool reused;

		w->fd = c->one_shot ? -1 : pool_take(c, t);
		reused = w->fd >= 0;
		if (!reused && (w->fd = dial(c, t, err)) < 0) {
			rc = w->fd;
			free(w);
			return rc;
		}
		rc = send_iov(w->fd, &iov, 1, MSG_MORE);
		if (!rc) {
			*out = w;
			return 0;
		}
		close(w->fd);
		if (!reused)
			break;
	}
	free(w);
	return request_error(rc, "write", len, addr, t, err);
}

int xfer_client_wstream_feed(struct xfer_wstream *w, const void *buf,
			     uint64_t n, int pfd, struct mc_err *err)
{
	uint64_t moved = 0;
	int rc;

	if (n > w->left)
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "%llu bytes more than the write's %llu",
				  (unsigned long long)(n - w->left),
				  (unsigned long long)w->len);
	if (buf) {
		struct iovec iov = {(void *)buf, (size_t)n};

		rc = send_iov(w->fd, &iov, 1, w->left > n ? MSG_MORE : 0);
	} else {
		rc = splice_all(pfd, w->fd, n, &moved);
	}
	if (rc)
		return request_error(rc, "write", w->len, w->addr, &w->t, err);
	w->left -= n;
	return 0;
}

int xfer_client_wstream_close(struct xfer_wstream *w, bool ok,
			      struct mc_err *err)
{
	uint64_t got = 0;
	int rc = 0;

	if (!w)
		return 0;
	if (ok && w->left)
		rc = mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				"a write ended %llu bytes short",
				(unsigned long long)w->left);
	else if (ok && w->t.version >= 2 && (rc = recv_status(w->fd, &got)))
		request_error(rc, "write", w->len, w->addr, &w->t, err);
	if (ok && !rc && !w->c->one_shot)
		pool_give(w->c, &w->t, w->fd);
	else
		close(w->fd);
	free(w);
	return rc;
}
