/*
 * loop.c - the transfer port's event loops and the per-connection state
 * machine that speaks the framing of frame.h over the framing transport.
 *
 * The loops, their threads, the listener and the connections' list are
 * net/loop.h's; each connection belongs to one loop and only that loop's
 * thread touches it after it is added, so a connection needs no lock.
 */
#include "autoconfig.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "mooncake.h"
#include "xfer_int.h"

/*
 * Requests served per wake-up before going back to epoll. Clients mostly
 * wait for each answer, so trying to read the next header at once would
 * mostly cost an EAGAIN; epoll reports it when it comes.
 */
#define REQS_PER_WAKE 1

/*
 * A WRITE payload at least this large wakes its loop once it is in, not
 * at every segment (conn_mark); the mark is at most RECV_MARK_MAX, so a
 * connection's progress (the stall timer) is still seen per MiB.
 */
#define RECV_MARK_MIN (64u << 10)
#define RECV_MARK_MAX (1u << 20)

enum phase {
	PH_HDR,	 /* reading a header */
	PH_SEND, /* sending a status frame and/or READ data */
	PH_RECV, /* receiving WRITE data into the buffer */
};

struct conn {
	struct mc_net_conn nc; /* first: the loops' part */
	struct xfer *x;
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
	int mark;	       /* SO_RCVLOWAT set, 0: the default (1) */
	int unread;	       /* payload bytes in, unread, at the last scan */
};

/* --------------------------------------------------------- connections */

static void conn_free(struct mc_net_conn *nc)
{
	struct conn *c = (struct conn *)nc;

	/* A WRITE cut short leaves the put open and unpublished. */
	if (c->pin)
		mc_pin_release(c->pin);
	free(c);
}

static void conn_close(struct conn *c)
{
	mc_net_conn_close(&c->nc);
}

static void conn_want(struct conn *c, uint32_t ev)
{
	mc_net_conn_want(&c->nc, ev);
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
	struct xfer *x = c->x;
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
 * The loop waits for @left more payload bytes: epoll reports the socket
 * once they are all in (or once the receive window lets the writer send
 * no more), so a large WRITE costs one wake-up and one recv, not one per
 * segment (SO_RCVLOWAT at @left, at most RECV_MARK_MAX; the writer sends
 * every byte of it). @left 0: every byte wakes the loop again, as the
 * next header must. Only a change costs a call.
 */
static void conn_mark(struct conn *c, uint64_t left)
{
	int mark = left < RECV_MARK_MIN	  ? 1
		   : left > RECV_MARK_MAX ? (int)RECV_MARK_MAX
					  : (int)left;

	c->unread = 0;
	if (mark == (c->mark ? c->mark : 1))
		return;
	c->mark = mark;
	setsockopt(c->nc.fd, SOL_SOCKET, SO_RCVLOWAT, &mark, sizeof(mark));
}

/*
 * Receives up to @len bytes into @p: the count, 0 when the socket would
 * block (the connection then waits for input), or -1 when it must close
 * (end of stream or error).
 */
static ssize_t conn_recv(struct conn *c, void *p, uint64_t len)
{
	ssize_t r = c->x->framing->ops->recv(c->x->framing->ctx, c->nc.fd, p,
					     len > SSIZE_MAX ? SSIZE_MAX
							     : (size_t)len);

	if (r == -EAGAIN) {
		conn_want(c, EPOLLIN);
		return 0;
	}
	if (r <= 0)
		return -1;
	c->nc.last_ms = mc_net_now_ms();
	return r;
}

/*
 * Runs the connection until the socket would block, the connection
 * closes, or it has had its share of this wake-up. Returns false when
 * the connection was closed (and freed).
 */
static bool conn_run(struct conn *c)
{
	struct xfer *x = c->x;
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
					shutdown(c->nc.fd, SHUT_WR);
					goto close;
				}
				conn_done(c);
				break;
			}
			r = x->framing->ops->sendv(x->framing->ctx, c->nc.fd,
						   iov, n);
			if (r == -EAGAIN) {
				conn_want(c, EPOLLOUT);
				return true;
			}
			if (r < 0)
				goto close;
			c->nc.last_ms = mc_net_now_ms();
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
			if (r == 0) {
				conn_mark(c, c->left);
				return true;
			}
			if (r < 0)
				goto close;
			c->data += r;
			c->left -= (uint64_t)r;
			mc_series_add(x->bytes[c->dir], (uint64_t)r);
			if (c->left)
				break;
			conn_mark(c, 0);
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

static void loop_run(void *ctx, struct mc_net_conn *nc)
{
	(void)ctx;
	conn_run((struct conn *)nc);
}

static void loop_accepted(void *ctx, struct mc_net_loop *lp, int fd, bool here)
{
	struct conn *c = calloc(1, sizeof(*c));
	int rc;

	if (!c) {
		close(fd);
		return;
	}
	c->x = ctx;
	c->ph = PH_HDR;
	rc = mc_net_conn_add(lp, &c->nc, fd);
	if (rc) {
		mc_warn("transfer: cannot watch a connection: %s",
			strerror(-rc));
		return;
	}
	/*
	 * The listener defers accepts until the first bytes are in
	 * (transport_tcp.c): a connection of this loop has its first
	 * request served now, without a trip through epoll. TE's default
	 * mode opens a connection per request.
	 */
	if (here)
		conn_run(c);
}

/*
 * Mid-request: inside a header, or moving a request's bytes. Payload
 * bytes that came in under the mark (conn_mark), unread, are progress
 * too: while their count grows, the stall timer starts again. (The scan
 * runs on the connection's own loop thread.)
 */
static bool loop_busy(const struct mc_net_conn *nc)
{
	struct conn *c = (struct conn *)nc;
	int n = 0;

	if (c->ph == PH_RECV && c->mark > 1 && !ioctl(nc->fd, FIONREAD, &n) &&
	    n > c->unread) {
		c->unread = n;
		c->nc.last_ms = mc_net_now_ms();
	}
	return c->ph != PH_HDR || c->hgot;
}

/* Clients cause these (a stall) as often as they like. */
static void loop_say(void *ctx, const char *msg)
{
	static struct mc_log_budget budget = {.who = "transfer"};

	(void)ctx;
	mc_log_budgeted(&budget, MC_LOG_WARN, "%s", msg);
}

static int loop_accept(void *ctx, int lfd)
{
	struct xfer *x = ctx;

	return x->framing->ops->accept(x->framing->ctx, lfd);
}

static const struct mc_net_loop_ops loop_ops = {
	.accept = loop_accept,
	.accepted = loop_accepted,
	.run = loop_run,
	.busy = loop_busy,
	.free = conn_free,
	.say = loop_say,
};

bool xfer_loops_input_pending(struct xfer *x)
{
	return mc_net_loops_input_pending(&x->loops);
}

int xfer_loops_start(struct xfer *x, struct mc_err *err)
{
	struct mc_net_loops_opts o = {
		.ops = &loop_ops,
		.ctx = x,
		.name = "xfer",
		.who = "transfer",
		.n = x->nloops,
		.stall_ms = x->stall_ms,
		.lfd = x->lfd,
	};
	int rc = mc_net_loops_init(&x->loops, &o);

	if (rc)
		return mc_err_set(err, rc, MC_INTERNAL_ERROR,
				  "cannot set up the transfer port: %s",
				  strerror(-rc));
	return 0;
}

int xfer_loops_run(struct xfer *x, struct mc_err *err)
{
	int rc = mc_net_loops_run(&x->loops);

	if (rc)
		return mc_err_set(err, rc, MC_INTERNAL_ERROR,
				  "cannot start a transfer loop: %s",
				  strerror(-rc));
	return 0;
}

void xfer_loops_stop(struct xfer *x)
{
	mc_net_loops_stop(&x->loops);
}
