/*
 * transfer.c - the transfer port: event loops, the per-connection state
 * machine that speaks Mooncake's TCP framing, the transfer metrics, and
 * the device-independent half of the RDMA transport (device selection,
 * memory registration bookkeeping, rkeys).
 *
 * Each connection belongs to one loop and only that loop's thread touches
 * it after it is added, so a connection needs no lock; the loop's list of
 * connections (for stalls and teardown) has a mutex because the accepting
 * loop inserts into other loops' lists.
 */
#include "autoconfig.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "mooncake.h"
#include "transfer.h"

#define LOOPS_MIN 1
#define LOOPS_MAX 8
#define STALL_MS_DEFAULT 30000
#define SCAN_MS 250             /* how often loops look for stalls */
/*
 * Requests served per wake-up before going back to epoll. Clients mostly
 * wait for each answer, so trying to read the next header at once would
 * mostly cost an EAGAIN; epoll reports it when it comes.
 */
#define REQS_PER_WAKE 1
#define ACCEPTS_PER_WAKE 64

enum phase {
	PH_HDR,         /* reading a header */
	PH_SEND,        /* sending a status frame and/or READ data */
	PH_RECV,        /* receiving WRITE data into the buffer */
};

struct loop;

struct conn {
	int fd;
	struct loop *lp;
	enum phase ph;
	unsigned char hdr[MC_XFER_HDR_LEN];
	size_t hgot;
	int dir;                        /* MC_XFER_OP_READ / _WRITE */
	bool v2;
	struct mc_pin *pin;
	unsigned char st[MC_XFER_STATUS_LEN];
	size_t st_off, st_len;          /* status bytes still to send */
	unsigned char *data;            /* next byte to move */
	uint64_t left;                  /* data bytes still to move */
	bool close_after;               /* close once the status is out */
	uint32_t events;                /* the epoll mask in force */
	uint64_t last_ms;               /* last progress */
	struct conn *prev, *next;
};

struct loop {
	struct mc_xfer *x;
	int epfd;
	pthread_t th;
	bool running;
	pthread_mutex_t mu;             /* guards the list */
	struct conn *conns;
};

struct rdma_reg {
	void *base;
	uint64_t size;
	void *mr[MC_RDMA_DEV_MAX];
	struct rdma_reg *next;
};

struct rdma {
	const struct mc_rdma_dev *dev;  /* NULL: no RDMA in this build */
	pthread_mutex_t mu;
	int ndev;                       /* > 0 once opened */
	void *devs[MC_RDMA_DEV_MAX];
	char names[MC_RDMA_DEV_MAX][MC_RDMA_NAME_MAX];
	struct rdma_reg *regs;
	void *lis;
};

enum { DIR_READ, DIR_WRITE, NDIR };

struct mc_xfer {
	char *host, *protocol, *device;
	unsigned port;
	unsigned stall_ms;
	const struct mc_transport *tp;
	struct mc_store *s;
	int lfd;
	int stopfd;
	int spare_fd;                   /* given up to shed a connection at EMFILE */
	unsigned nloops;
	struct loop *loops;
	unsigned next_loop;
	struct mc_series *bytes[NDIR], *reqs[NDIR], *rejects[NDIR];
	struct rdma rd;
};

/* epoll tags for the two non-connection fds */
static char tag_stop, tag_listen;

/* ------------------------------------------------------------ framing */

static void put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

void mc_xfer_hdr_encode(const struct mc_xfer_hdr *h,
			unsigned char out[MC_XFER_HDR_LEN])
{
	memset(out, 0, MC_XFER_HDR_LEN);
	put_le64(out, h->size);
	put_le64(out + 8, h->addr);
	out[16] = h->opcode;
}

void mc_xfer_hdr_decode(const unsigned char in[MC_XFER_HDR_LEN],
			struct mc_xfer_hdr *h)
{
	h->size = get_le64(in);
	h->addr = get_le64(in + 8);
	h->opcode = in[16];
}

void mc_xfer_status_encode(unsigned code, unsigned char out[MC_XFER_STATUS_LEN])
{
	put_le64(out, MC_XFER_MAGIC << 32 | code);
}

int mc_xfer_status_decode(const unsigned char in[MC_XFER_STATUS_LEN])
{
	uint64_t v = get_le64(in);

	if (v >> 32 != MC_XFER_MAGIC)
		return -1;
	return (int)(v & 0x7fffffff);
}

/* --------------------------------------------------------- connections */

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static void conn_close(struct conn *c)
{
	struct loop *lp = c->lp;

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
	close(c->fd);
	free(c);
}

static void conn_want(struct conn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = c };

	if (c->events == ev)
		return;
	if (epoll_ctl(c->lp->epfd, EPOLL_CTL_MOD, c->fd, &e) == 0)
		c->events = ev;
}

static void conn_status(struct conn *c, unsigned code)
{
	mc_xfer_status_encode(code, c->st);
	c->st_off = 0;
	c->st_len = MC_XFER_STATUS_LEN;
}

/*
 * A request header has arrived: validate it through the core and set up
 * the transfer. Returns false when the connection must close now.
 */
static bool conn_request(struct conn *c)
{
	struct mc_xfer *x = c->lp->x;
	struct mc_xfer_hdr h;
	int rc;

	mc_xfer_hdr_decode(c->hdr, &h);
	c->v2 = h.opcode & MC_XFER_V2;
	switch (h.opcode & ~MC_XFER_V2) {
	case MC_XFER_OP_READ:
		c->dir = DIR_READ;
		break;
	case MC_XFER_OP_WRITE:
		c->dir = DIR_WRITE;
		break;
	default:
		mc_debug("transfer: unknown opcode 0x%02x, closing", h.opcode);
		return false;
	}
	mc_series_add(x->reqs[c->dir], 1);
	if (h.size == 0 || h.addr + h.size < h.addr)
		rc = -EINVAL;
	else if (c->dir == DIR_READ)
		rc = mc_pin_read(x->s, h.addr, h.size, &c->pin);
	else
		rc = mc_pin_write(x->s, h.addr, h.size, &c->pin);
	if (rc) {
		c->pin = NULL;
		mc_series_add(x->rejects[c->dir], 1);
		mc_debug("transfer: %s of %llu bytes at 0x%llx rejected",
			 c->dir == DIR_READ ? "read" : "write",
			 (unsigned long long)h.size,
			 (unsigned long long)h.addr);
		if (!c->v2)
			return false;
		conn_status(c, MC_XFER_REJECTED);
		c->close_after = true;
		c->left = 0;
		c->ph = PH_SEND;
		return true;
	}
	c->data = (unsigned char *)(uintptr_t)h.addr;
	c->left = h.size;
	if (c->dir == DIR_READ) {
		if (c->v2)
			conn_status(c, MC_XFER_OK);
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
	ssize_t r = c->lp->x->tp->recv(NULL, c->fd, p,
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
	struct mc_xfer *x = c->lp->x;
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
				      MC_XFER_HDR_LEN - c->hgot);
			if (r == 0)
				return true;
			if (r < 0)
				goto close;
			c->hgot += (size_t)r;
			if (c->hgot < MC_XFER_HDR_LEN)
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
				iov[n++].iov_len = c->left > SSIZE_MAX ?
					SSIZE_MAX : (size_t)c->left;
			}
			if (n == 0) {
				if (c->close_after) {
					shutdown(c->fd, SHUT_WR);
					goto close;
				}
				conn_done(c);
				break;
			}
			r = x->tp->sendv(NULL, c->fd, iov, n);
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
			/* Applied: the bytes are in the buffer. */
			mc_pin_release(c->pin);
			c->pin = NULL;
			if (c->v2)
				conn_status(c, MC_XFER_OK);
			c->ph = PH_SEND;
			break;
		}
	}
close:
	conn_close(c);
	return false;
}

static void loop_add(struct loop *lp, int fd)
{
	struct conn *c = calloc(1, sizeof(*c));
	struct epoll_event e = { .events = EPOLLIN };

	if (!c) {
		close(fd);
		return;
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
	}
}

static void accept_some(struct mc_xfer *x)
{
	for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
		int fd = x->tp->accept(NULL, x->lfd);

		if (fd == -EMFILE || fd == -ENFILE) {
			/*
			 * Out of descriptors: accept and drop one with the
			 * spare so the listener does not spin on it.
			 */
			mc_warn("transfer: out of file descriptors, "
				"dropping a connection");
			if (x->spare_fd >= 0) {
				close(x->spare_fd);
				fd = x->tp->accept(NULL, x->lfd);
				if (fd >= 0)
					close(fd);
				x->spare_fd = open("/dev/null",
						   O_RDONLY | O_CLOEXEC);
			}
			return;
		}
		if (fd < 0)
			return;
		struct loop *lp = &x->loops[x->next_loop++ % x->nloops];
		loop_add(lp, fd);
	}
}

static void loop_scan(struct loop *lp, uint64_t now)
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
	struct loop *lp = arg;
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
				accept_some(lp->x);
			else
				conn_run(p);
		}
		uint64_t now = now_ms();
		if (now - last_scan >= SCAN_MS) {
			last_scan = now;
			loop_scan(lp, now);
		}
	}
}

/* ----------------------------------------------------------------- RDMA */

/* Opens the devices named in x->device; caller holds rd.mu. */
static int rdma_open(struct mc_xfer *x, char *err, size_t errlen)
{
	struct rdma *rd = &x->rd;
	char present[MC_RDMA_DEV_MAX][MC_RDMA_NAME_MAX];
	int n, rc;

	if (rd->ndev > 0)
		return 0;
	if (!rd->dev) {
		snprintf(err, errlen, "rdma is not available: mooncaked was "
			 "built without rdma-core");
		return -EOPNOTSUPP;
	}
	n = rd->dev->list(present, MC_RDMA_DEV_MAX, err, errlen);
	if (n < 0)
		return n == -ENOSYS ? -EOPNOTSUPP : n;
	if (n == 0) {
		snprintf(err, errlen, "no RDMA device found");
		return -EOPNOTSUPP;
	}

	if (!x->device[0]) {
		/* Any device will do: take the first one that opens. */
		char first[256] = "";

		for (int i = 0; i < n; i++) {
			rc = rd->dev->open(present[i], &rd->devs[0], err,
					   errlen);
			if (rc == 0) {
				snprintf(rd->names[0], MC_RDMA_NAME_MAX, "%s",
					 present[i]);
				rd->ndev = 1;
				return 0;
			}
			mc_warn("rdma: %s", err);
			if (!first[0])
				snprintf(first, sizeof(first), "%s", err);
		}
		snprintf(err, errlen, "%s", first);
		return -EOPNOTSUPP;
	}

	/* Every named device must exist and open. */
	char *list = strdup(x->device), *save = NULL, *tok;
	int opened = 0;

	if (!list) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = 0;
	for (tok = strtok_r(list, ", \t", &save); tok && rc == 0;
	     tok = strtok_r(NULL, ", \t", &save)) {
		int i, dup = 0;

		for (i = 0; i < opened; i++)
			dup |= !strcmp(rd->names[i], tok);
		if (dup)
			continue;
		for (i = 0; i < n && strcmp(present[i], tok); i++)
			;
		if (i == n) {
			snprintf(err, errlen, "RDMA device '%s' not found", tok);
			rc = -EOPNOTSUPP;
		} else if (opened == MC_RDMA_DEV_MAX) {
			snprintf(err, errlen, "too many RDMA devices (at most %d)",
				 MC_RDMA_DEV_MAX);
			rc = -EINVAL;
		} else if ((rc = rd->dev->open(tok, &rd->devs[opened], err,
					       errlen)) == 0) {
			snprintf(rd->names[opened++], MC_RDMA_NAME_MAX, "%s",
				 tok);
		}
	}
	free(list);
	if (rc == 0 && opened == 0) {
		snprintf(err, errlen, "no RDMA device named in '%s'", x->device);
		rc = -EINVAL;
	}
	if (rc) {
		while (opened > 0)
			rd->dev->close(rd->devs[--opened]);
		return rc;
	}
	rd->ndev = opened;
	return 0;
}

static int rdma_register(void *arg, void *base, uint64_t size, uint32_t *rkey)
{
	struct mc_xfer *x = arg;
	struct rdma *rd = &x->rd;
	struct rdma_reg *r;
	char err[256] = "";
	int rc, i;

	pthread_mutex_lock(&rd->mu);
	rc = rdma_open(x, err, sizeof(err));
	if (rc) {
		mc_error("rdma registration refused: %s", err);
		goto out;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < rd->ndev; i++) {
		uint32_t k = 0;

		rc = rd->dev->reg(rd->devs[i], base, size, &r->mr[i], &k);
		if (rc) {
			mc_error("rdma: cannot register %llu bytes with '%s': %s",
				 (unsigned long long)size, rd->names[i],
				 strerror(-rc));
			while (i > 0)
				rd->dev->dereg(r->mr[--i]);
			free(r);
			goto out;
		}
		/* Descriptors carry one rkey: the first device's. */
		if (i == 0)
			*rkey = k;
	}
	r->base = base;
	r->size = size;
	r->next = rd->regs;
	rd->regs = r;
out:
	pthread_mutex_unlock(&rd->mu);
	return rc;
}

static void rdma_unregister(void *arg, void *base, uint64_t size)
{
	struct mc_xfer *x = arg;
	struct rdma *rd = &x->rd;
	struct rdma_reg **pp, *r;

	pthread_mutex_lock(&rd->mu);
	for (pp = &rd->regs; (r = *pp); pp = &r->next)
		if (r->base == base && r->size == size)
			break;
	if (r) {
		*pp = r->next;
		for (int i = 0; i < rd->ndev; i++)
			rd->dev->dereg(r->mr[i]);
		free(r);
	}
	pthread_mutex_unlock(&rd->mu);
}

/*
 * Peers connect through librdmacm on the TCP port's number (the RDMA port
 * space is separate) and post one-sided operations; no fd to poll here.
 */
static int rdma_listen(void *ctx, const char *host, unsigned *port, int *lfd,
		       char *err, size_t errlen)
{
	struct mc_xfer *x = ctx;

	*lfd = -1;
	if (!x->rd.dev->listen)
		return 0;
	return x->rd.dev->listen(x->rd.devs[0], host, *port, &x->rd.lis, err,
				 errlen);
}

/* RDMA moves no bytes through the daemon: it registers and listens. */
static const struct mc_transport rdma_transport = {
	.name = "rdma",
	.listen = rdma_listen,
	.register_mem = rdma_register,
	.unregister_mem = rdma_unregister,
};

static void rdma_release(struct rdma *rd)
{
	if (rd->lis)
		rd->dev->unlisten(rd->lis);
	while (rd->regs) {
		struct rdma_reg *r = rd->regs;

		rd->regs = r->next;
		for (int i = 0; i < rd->ndev; i++)
			rd->dev->dereg(r->mr[i]);
		free(r);
	}
	while (rd->ndev > 0)
		rd->dev->close(rd->devs[--rd->ndev]);
	pthread_mutex_destroy(&rd->mu);
}

/* ------------------------------------------------------------- the port */

struct mc_xfer *mc_xfer_new(const struct mc_xfer_opts *o,
			    struct mc_store_opts *so, char *err, size_t errlen)
{
	struct mc_xfer *x = calloc(1, sizeof(*x));
	const char *proto = o->protocol && *o->protocol ? o->protocol : "tcp";

	if (!x) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (strcmp(proto, "tcp") && strcmp(proto, "rdma")) {
		snprintf(err, errlen, "unknown transfer protocol '%s'", proto);
		free(x);
		errno = EINVAL;
		return NULL;
	}
	x->host = strdup(o->host ? o->host : "127.0.0.1");
	x->protocol = strdup(proto);
	x->device = strdup(o->device ? o->device : "");
	x->port = o->port;
	x->stall_ms = o->stall_ms ? o->stall_ms : STALL_MS_DEFAULT;
	x->tp = &mc_transport_tcp;
	x->lfd = x->stopfd = x->spare_fd = -1;
	x->rd.dev = o->rdma_dev;
#ifdef ENABLE_RDMA
	if (!x->rd.dev)
		x->rd.dev = &mc_rdma_verbs;
#endif
	pthread_mutex_init(&x->rd.mu, NULL);
	if (o->loops) {
		x->nloops = o->loops;
	} else {
		/*
		 * One loop per two CPUs: a loop moving bytes keeps a core busy,
		 * and the HTTP workers and local clients need the others (two
		 * loops on two CPUs served 4 KiB READs 1.5x slower than one).
		 */
		long n = sysconf(_SC_NPROCESSORS_ONLN) / 2;
		x->nloops = n < LOOPS_MIN ? LOOPS_MIN : (unsigned)n;
	}
	if (x->nloops > LOOPS_MAX)
		x->nloops = LOOPS_MAX;
	if (!x->host || !x->protocol || !x->device) {
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		goto fail;
	}
	if (!strcmp(proto, "rdma")) {
		int rc = rdma_open(x, err, errlen);
		if (rc) {
			errno = -rc;
			goto fail;
		}
	}
	if (so) {
		so->register_mem = rdma_transport.register_mem;
		so->unregister_mem = rdma_transport.unregister_mem;
		so->register_arg = x;
	}
	return x;
fail:
	rdma_release(&x->rd);
	free(x->host);
	free(x->protocol);
	free(x->device);
	free(x);
	return NULL;
}

static void metrics_register(struct mc_xfer *x)
{
	struct mc_metrics *m = mc_store_metrics(x->s);
	static const char *const dirs[NDIR][1] = { { "read" }, { "write" } };
	struct mc_family *fb, *fr, *fj;

	fb = mc_metrics_family(m, "mooncake_transfer_bytes_total",
			       "Bytes moved through the transfer port",
			       MC_COUNTER, "direction", NULL, 0);
	fr = mc_metrics_family(m, "mooncake_transfer_requests_total",
			       "Transfer-port requests received",
			       MC_COUNTER, "direction", NULL, 0);
	fj = mc_metrics_family(m, "mooncake_transfer_rejections_total",
			       "Transfer-port requests rejected (range not "
			       "inside a live replica or an open put)",
			       MC_COUNTER, "direction", NULL, 0);
	for (int d = 0; d < NDIR; d++) {
		x->bytes[d] = mc_family_series(fb, dirs[d]);
		x->reqs[d] = mc_family_series(fr, dirs[d]);
		x->rejects[d] = mc_family_series(fj, dirs[d]);
	}
}

int mc_xfer_start(struct mc_xfer *x, struct mc_store *s, char *err,
		  size_t errlen)
{
	struct epoll_event e;
	unsigned i;
	int rc;

	x->s = s;
	metrics_register(x);
	rc = x->tp->listen(NULL, x->host, &x->port, &x->lfd, err, errlen);
	if (rc)
		return rc;
	x->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	x->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	x->loops = calloc(x->nloops, sizeof(*x->loops));
	if (x->stopfd < 0 || !x->loops) {
		snprintf(err, errlen, "cannot set up the transfer port: %s",
			 strerror(errno));
		return -errno;
	}
	for (i = 0; i < x->nloops; i++) {
		x->loops[i].x = x;
		x->loops[i].epfd = -1;
		pthread_mutex_init(&x->loops[i].mu, NULL);
	}
	for (i = 0; i < x->nloops; i++) {
		struct loop *lp = &x->loops[i];

		lp->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (lp->epfd < 0)
			goto sysfail;
		e = (struct epoll_event){ .events = EPOLLIN,
					  .data.ptr = &tag_stop };
		if (epoll_ctl(lp->epfd, EPOLL_CTL_ADD, x->stopfd, &e) < 0)
			goto sysfail;
	}
	e = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &tag_listen };
	if (epoll_ctl(x->loops[0].epfd, EPOLL_CTL_ADD, x->lfd, &e) < 0)
		goto sysfail;

	if (!strcmp(x->protocol, "rdma")) {
		unsigned port = x->port;
		int fd;

		rc = rdma_transport.listen(x, x->host, &port, &fd, err, errlen);
		if (rc)
			return rc;
	}

	for (i = 0; i < x->nloops; i++) {
		rc = pthread_create(&x->loops[i].th, NULL, loop_main,
				    &x->loops[i]);
		if (rc) {
			snprintf(err, errlen, "cannot start a transfer loop: %s",
				 strerror(rc));
			return -rc;
		}
		x->loops[i].running = true;
	}

	const char *hn = mc_store_get_opts(s)->hostname;
	char ep[300];
	snprintf(ep, sizeof(ep), "%s:%u", hn && *hn ? hn : "localhost",
		 x->port);
	mc_store_set_endpoint(s, ep);
	mc_info("transfer: listening on %s port %u (%s)", x->host, x->port,
		x->protocol);
	return 0;
sysfail:
	rc = -errno;
	snprintf(err, errlen, "cannot set up the transfer port: %s",
		 strerror(errno));
	return rc;
}

unsigned mc_xfer_port(const struct mc_xfer *x)
{
	return x->port;
}

void mc_xfer_stop(struct mc_xfer *x)
{
	unsigned i;

	if (!x)
		return;
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
		struct loop *lp = &x->loops[i];

		while (lp->conns)
			conn_close(lp->conns);
		if (lp->epfd >= 0)
			close(lp->epfd);
		pthread_mutex_destroy(&lp->mu);
	}
	free(x->loops);
	x->loops = NULL;
	if (x->lfd >= 0)
		close(x->lfd);
	x->lfd = -1;
	if (x->rd.lis) {
		x->rd.dev->unlisten(x->rd.lis);
		x->rd.lis = NULL;
	}
}

void mc_xfer_free(struct mc_xfer *x)
{
	if (!x)
		return;
	mc_xfer_stop(x);
	if (x->stopfd >= 0)
		close(x->stopfd);
	if (x->spare_fd >= 0)
		close(x->spare_fd);
	rdma_release(&x->rd);
	free(x->host);
	free(x->protocol);
	free(x->device);
	free(x);
}
