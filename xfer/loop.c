/*
 * loop.c - the transfer port's event loops and the per-connection state
 * machine that speaks the framing of frame.h over the framing transport.
 *
 * Each connection belongs to one loop and only that loop's thread touches
 * it after it is added, so a connection needs no lock; the loop's list of
 * connections (for stalls and teardown) has a mutex because the accepting
 * loop inserts into other loops' lists.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "log.h"
#include "metrics.h"
#include "mooncake.h"
#include "xfer_int.h"

#define SCAN_MS 250 /* how often loops look for stalls */
/*
 * Requests served per wake-up before going back to epoll. Clients mostly
 * wait for each answer, so trying to read the next header at once would
 * mostly cost an EAGAIN; epoll reports it when it comes.
 */
#define REQS_PER_WAKE	 1
#define ACCEPTS_PER_WAKE 64
#define SHED_WARN_MS	 1000 /* out of descriptors: one warning at most */

enum phase {
	PH_HDR,	 /* reading a header */
	PH_SEND, /* sending a status frame and/or READ data */
	PH_RECV, /* receiving WRITE data into the buffer */
};

struct conn {
	int fd;
	struct xfer_loop *lp;
	enum phase ph;
	unsigned char hdr[XFER_HDR_LEN];
	size_t hgot;
	int dir; /* XFER_DIR_READ / _WRITE */
	bool v2;
	struct mc_pin *pin;
	unsigned char st[XFER_STATUS_LEN];
	size_t st_off, st_len; /* status bytes still to send */
	unsigned char *data;   /* next byte to move */
	uint64_t left;	       /* data bytes still to move */
	uint64_t size;	       /* the request's data bytes */
	bool close_after;      /* close once the status is out */
	uint32_t events;       /* the epoll mask in force */
	uint64_t last_ms;      /* last progress */
	struct conn *prev, *next;
};

struct xfer_loop {
	struct xfer *x;
	int epfd;
	pthread_t th;
	bool running;
	pthread_mutex_t mu; /* guards the list */
	struct conn *conns;
};

/* epoll tags for the two non-connection fds */
static char tag_stop, tag_listen;

/* --------------------------------------------------------- connections */

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static void conn_close(struct conn *c)
{
	struct xfer_loop *lp = c->lp;

	pthread_mutex_lock(&lp->mu);
	if (c->prev)
		c->prev->next = c->next;
	else
		lp->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&lp->mu);
	/* A WRITE cut short leaves the put open and unpublished. */
	if (c->pin)
		mc_pin_release(c->pin);
	/*
	 * Out of the epoll set first: close() takes a socket out only when
	 * no other descriptor refers to it, and a child forked meanwhile
	 * (fusermount3 before its exec, the FUSE tree's guard before it
	 * closes what it inherited) holds one for a moment; an event of the
	 * socket would then name this freed connection.
	 */
	epoll_ctl(lp->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

static void conn_want(struct conn *c, uint32_t ev)
{
	struct epoll_event e = {.events = ev, .data.ptr = c};

	if (c->events == ev)
		return;
	if (epoll_ctl(c->lp->epfd, EPOLL_CTL_MOD, c->fd, &e) == 0)
		c->events = ev;
}

static void conn_status(struct conn *c, unsigned code)
{
	xfer_status_encode(code, c->st);
	c->st_off = 0;
	c->st_len = XFER_STATUS_LEN;
}

/*
 * A request header has arrived: validate it through the core and set up
 * the transfer. Returns false when the connection must close now.
 */
static bool conn_request(struct conn *c)
{
	struct xfer *x = c->lp->x;
	struct xfer_hdr h;
	int rc;

	xfer_hdr_decode(c->hdr, &h);
	c->v2 = h.opcode & XFER_V2;
	switch (h.opcode & ~XFER_V2) {
	case XFER_OP_READ:
		c->dir = XFER_DIR_READ;
		break;
	case XFER_OP_WRITE:
		c->dir = XFER_DIR_WRITE;
		break;
	default:
		mc_debug("transfer: unknown opcode 0x%02x, closing", h.opcode);
		return false;
	}
	mc_series_add(x->reqs[c->dir], 1);
	if (h.size == 0 || h.addr + h.size < h.addr)
		rc = -EINVAL;
	else if (c->dir == XFER_DIR_READ)
		rc = mc_pin_read(x->s, h.addr, h.size, &c->pin);
	else
		rc = mc_pin_write(x->s, h.addr, h.size, &c->pin);
	if (rc) {
		c->pin = NULL;
		mc_series_add(x->rejects[c->dir], 1);
		mc_debug("transfer: %s of %llu bytes at 0x%llx rejected",
			 c->dir == XFER_DIR_READ ? "read" : "write",
			 (unsigned long long)h.size,
			 (unsigned long long)h.addr);
		if (!c->v2)
			return false;
		conn_status(c, XFER_REJECTED);
		c->close_after = true;
		c->left = 0;
		c->ph = PH_SEND;
		return true;
	}
	c->data = (unsigned char *)(uintptr_t)h.addr;
	c->left = c->size = h.size;
	if (c->dir == XFER_DIR_READ) {
		if (c->v2)
			conn_status(c, XFER_OK);
		c->ph = PH_SEND;
	} else {
		c->ph = PH_RECV;
	}
	return true;
}

/* The transfer of one request is complete (data and status). */
static void conn_done(struct conn *c)
{
	if (c->pin) {
		mc_pin_release(c->pin);
		c->pin = NULL;
	}
	c->st_len = c->st_off = 0;
	c->ph = PH_HDR;
}

/*
 * Receives up to @len bytes into @p: the count, 0 when the socket would
 * block (the connection then waits for input), or -1 when it must close
 * (end of stream or error).
 */
static ssize_t conn_recv(struct conn *c, void *p, uint64_t len)
{
	ssize_t r = c->lp->x->framing->ops->recv(
		c->lp->x->framing->ctx, c->fd, p,
		len > SSIZE_MAX ? SSIZE_MAX : (size_t)len);

	if (r == -EAGAIN) {
		conn_want(c, EPOLLIN);
		return 0;
	}
	if (r <= 0)
		return -1;
	c->last_ms = now_ms();
	return r;
}

/*
 * Runs the connection until the socket would block, the connection
 * closes, or it has had its share of this wake-up. Returns false when
 * the connection was closed (and freed).
 */
static bool conn_run(struct conn *c)
{
	struct xfer *x = c->lp->x;
	int served = 0;
	ssize_t r;

	for (;;) {
		switch (c->ph) {
		case PH_HDR:
			if (served >= REQS_PER_WAKE) {
				conn_want(c, EPOLLIN);
				return true;
			}
			r = conn_recv(c, c->hdr + c->hgot,
				      XFER_HDR_LEN - c->hgot);
			if (r == 0)
				return true;
			if (r < 0)
				goto close;
			c->hgot += (size_t)r;
			if (c->hgot < XFER_HDR_LEN)
				break;
			c->hgot = 0;
			c->close_after = false;
			served++;
			if (!conn_request(c))
				goto close;
			break;
		case PH_SEND: {
			struct iovec iov[2];
			int n = 0;
			size_t st = c->st_len - c->st_off;

			if (st) {
				iov[n].iov_base = c->st + c->st_off;
				iov[n++].iov_len = st;
			}
			if (c->left) {
				iov[n].iov_base = c->data;
				iov[n++].iov_len = c->left > SSIZE_MAX
							   ? SSIZE_MAX
							   : (size_t)c->left;
			}
			if (n == 0) {
				if (c->close_after) {
					shutdown(c->fd, SHUT_WR);
					goto close;
				}
				conn_done(c);
				break;
			}
			r = x->framing->ops->sendv(x->framing->ctx, c->fd, iov,
						   n);
			if (r == -EAGAIN) {
				conn_want(c, EPOLLOUT);
				return true;
			}
			if (r < 0)
				goto close;
			c->last_ms = now_ms();
			if ((size_t)r <= st) {
				c->st_off += (size_t)r;
				break;
			}
			c->st_off = c->st_len;
			r -= (ssize_t)st;
			c->data += r;
			c->left -= (uint64_t)r;
			mc_series_add(x->bytes[c->dir], (uint64_t)r);
			break;
		}
		case PH_RECV:
			r = conn_recv(c, c->data, c->left);
			if (r == 0)
				return true;
			if (r < 0)
				goto close;
			c->data += r;
			c->left -= (uint64_t)r;
			mc_series_add(x->bytes[c->dir], (uint64_t)r);
			if (c->left)
				break;
			/*
			 * Applied: the bytes are in the buffer, unless the put
			 * was revoked (or timed out) meanwhile: then they went
			 * nowhere, and a v2 writer is told.
			 */
			mc_pin_wrote(c->pin, c->size);
			if (mc_pin_release(c->pin) < 0) {
				mc_series_add(x->rejects[c->dir], 1);
				c->pin = NULL;
				if (!c->v2)
					goto close;
				conn_status(c, XFER_REJECTED);
				c->close_after = true;
			} else {
				c->pin = NULL;
				if (c->v2)
					conn_status(c, XFER_OK);
			}
			c->ph = PH_SEND;
			break;
		}
	}
close:
	conn_close(c);
	return false;
}

static struct conn *loop_add(struct xfer_loop *lp, int fd)
{
	struct conn *c = calloc(1, sizeof(*c));
	struct epoll_event e = {.events = EPOLLIN};

	if (!c) {
		close(fd);
		return NULL;
	}
	c->fd = fd;
	c->lp = lp;
	c->ph = PH_HDR;
	c->events = EPOLLIN;
	c->last_ms = now_ms();
	e.data.ptr = c;
	pthread_mutex_lock(&lp->mu);
	c->next = lp->conns;
	if (lp->conns)
		lp->conns->prev = c;
	lp->conns = c;
	pthread_mutex_unlock(&lp->mu);
	/* From here on the owning loop may run (and close) it at once. */
	if (epoll_ctl(lp->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
		mc_warn("transfer: cannot watch a connection: %s",
			strerror(errno));
		conn_close(c);
		return NULL;
	}
	return c;
}

/* Says what was dropped, once a second at most. */
static void shed_report(struct xfer *x, uint64_t now)
{
	char msg[160];

	if (mc_net_shed_report(&x->shed, "transfer", now, SHED_WARN_MS, msg,
			       sizeof(msg)))
		mc_warn("%s", msg);
}

/* Only the loop that watches the listener (loops[0]) calls these. */
static void accept_batch(struct xfer *x, struct xfer_loop *self)
{
	for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
		int fd = x->framing->ops->accept(x->framing->ctx, x->lfd);

		if (fd == -EMFILE || fd == -ENFILE) {
			fd = mc_net_shed_accept(&x->shed,
						x->framing->ops->accept,
						x->framing->ctx);
			shed_report(x, now_ms());
		}
		if (fd < 0)
			return;
		struct xfer_loop *lp = &x->loops[x->next_loop++ % x->nloops];
		struct conn *c = loop_add(lp, fd);

		/*
		 * The listener defers accepts until the first bytes are in
		 * (transport_tcp.c): a connection of this loop has its
		 * first request served now, without a trip through epoll.
		 * TE's default mode opens a connection per request.
		 */
		if (c && lp == self)
			conn_run(c);
	}
}

/*
 * A connection is in the listener's queue, or taken from it and not yet
 * listed, or listed: x->accepting covers the middle, so that
 * xfer_loops_input_pending never misses one.
 */
static void accept_some(struct xfer *x, struct xfer_loop *self)
{
	atomic_fetch_add(&x->accepting, 1);
	accept_batch(x, self);
	atomic_fetch_sub(&x->accepting, 1);
}

bool xfer_loops_input_pending(struct xfer *x)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if (atomic_load(&x->accepting))
		return true;
	/* A listener's tcpi_unacked is its accept queue's length. */
	if (x->lfd >= 0 &&
	    !getsockopt(x->lfd, IPPROTO_TCP, TCP_INFO, &ti, &len) &&
	    ti.tcpi_state == TCP_LISTEN && ti.tcpi_unacked)
		return true;
	for (unsigned i = 0; x->loops && i < x->nloops; i++) {
		struct xfer_loop *lp = &x->loops[i];
		bool unread = false;

		/* A listed connection's descriptor is closed only after it
		 * has left the list. */
		pthread_mutex_lock(&lp->mu);
		for (struct conn *c = lp->conns; c && !unread; c = c->next) {
			int n = 0;

			unread = !ioctl(c->fd, FIONREAD, &n) && n > 0;
		}
		pthread_mutex_unlock(&lp->mu);
		if (unread)
			return true;
	}
	return false;
}

static void loop_scan(struct xfer_loop *lp, uint64_t now)
{
	unsigned stall = lp->x->stall_ms;
	struct conn *c;

	for (;;) {
		pthread_mutex_lock(&lp->mu);
		for (c = lp->conns; c; c = c->next)
			if ((c->ph != PH_HDR || c->hgot) &&
			    now - c->last_ms >= stall)
				break;
		pthread_mutex_unlock(&lp->mu);
		if (!c)
			return;
		mc_warn("transfer: closing a connection stalled for %u ms",
			stall);
		conn_close(c);
	}
}

static void *loop_main(void *arg)
{
	struct xfer_loop *lp = arg;
	struct epoll_event ev[64];
	uint64_t last_scan = now_ms();

	for (;;) {
		int n = epoll_wait(lp->epfd, ev, 64, SCAN_MS);

		if (n < 0 && errno != EINTR) {
			mc_error("transfer: epoll_wait: %s", strerror(errno));
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			void *p = ev[i].data.ptr;

			if (p == &tag_stop)
				return NULL;
			if (p == &tag_listen)
				accept_some(lp->x, lp);
			else
				conn_run(p);
		}
		uint64_t now = now_ms();
		if (now - last_scan >= SCAN_MS) {
			last_scan = now;
			loop_scan(lp, now);
			if (lp == &lp->x->loops[0]) {
				mc_net_shed_tick(&lp->x->shed);
				shed_report(lp->x, now);
			}
		}
	}
}

int xfer_loops_start(struct xfer *x, struct mc_err *err)
{
	struct epoll_event e;
	unsigned i;
	int rc;

	x->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	x->loops = calloc(x->nloops, sizeof(*x->loops));
	if (x->stopfd < 0 || !x->loops) {
		return mc_err_set(err, -errno, MC_INTERNAL_ERROR,
				  "cannot set up the transfer port: %s",
				  strerror(errno));
	}
	for (i = 0; i < x->nloops; i++) {
		x->loops[i].x = x;
		x->loops[i].epfd = -1;
		pthread_mutex_init(&x->loops[i].mu, NULL);
	}
	for (i = 0; i < x->nloops; i++) {
		struct xfer_loop *lp = &x->loops[i];

		lp->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (lp->epfd < 0)
			goto sysfail;
		e = (struct epoll_event){.events = EPOLLIN,
					 .data.ptr = &tag_stop};
		if (epoll_ctl(lp->epfd, EPOLL_CTL_ADD, x->stopfd, &e) < 0)
			goto sysfail;
	}
	e = (struct epoll_event){.events = EPOLLIN, .data.ptr = &tag_listen};
	if (epoll_ctl(x->loops[0].epfd, EPOLL_CTL_ADD, x->lfd, &e) < 0)
		goto sysfail;
	mc_net_shed_init(&x->shed, x->loops[0].epfd, x->lfd, &tag_listen);
	return 0;
sysfail:
	rc = -errno;
	return mc_err_set(err, rc, MC_INTERNAL_ERROR,
			  "cannot set up the transfer port: %s",
			  strerror(errno));
}

int xfer_loops_run(struct xfer *x, struct mc_err *err)
{
	for (unsigned i = 0; i < x->nloops; i++) {
		int rc = pthread_create(&x->loops[i].th, NULL, loop_main,
					&x->loops[i]);
		if (rc) {
			return mc_err_set(err, -rc, MC_INTERNAL_ERROR,
					  "cannot start a transfer loop: %s",
					  strerror(rc));
		}
		x->loops[i].running = true;
	}
	return 0;
}

void xfer_loops_stop(struct xfer *x)
{
	unsigned i;

	if (x->stopfd >= 0 && x->loops) {
		uint64_t one = 1;
		if (write(x->stopfd, &one, sizeof(one)) < 0)
			mc_warn("transfer: cannot signal the loops: %s",
				strerror(errno));
	}
	for (i = 0; x->loops && i < x->nloops; i++)
		if (x->loops[i].running)
			pthread_join(x->loops[i].th, NULL);
	for (i = 0; x->loops && i < x->nloops; i++) {
		struct xfer_loop *lp = &x->loops[i];

		while (lp->conns)
			conn_close(lp->conns);
		if (lp->epfd >= 0)
			close(lp->epfd);
		pthread_mutex_destroy(&lp->mu);
	}
	free(x->loops);
	x->loops = NULL;
}
