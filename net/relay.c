/*
 * relay.c - an IPv6 listener relayed to a local IPv4 port (see relay.h).
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cc.h"
#include "loop.h"
#include "relay.h"

/*
 * Per direction: 64 KiB moves a large body at loopback speed in few
 * system calls (see the man page's figures) and bounds a pair at 128 KiB.
 * A direction holds its buffer only while bytes move through it: an idle
 * pair (a kept-alive connection between requests) holds none. Buffers
 * given back wait in a pool of RELAY_POOL, so that a busy pair whose
 * reads would block at every wake-up does not malloc at each.
 */
#define RELAY_BUF      (64 * 1024)
#define RELAY_POOL     8
#define RELAY_STALL_MS 10000
#define RELAY_BACKLOG  256
#define RELAY_WARN_MS  1000

enum { CLIENT, UPSTREAM };

struct side {
	struct mc_net_conn nc; /* first: the loop's view of it */
	struct pair *p;
	int which; /* CLIENT or UPSTREAM */
	bool open; /* listed on the loop, not yet freed */
	bool eof;  /* read its end of stream */
	bool shut; /* shutdown(SHUT_WR) sent to it */
};

/* buf[i] holds bytes read from side i, for the other side */
struct rbuf {
	size_t off, len;
	char *data; /* RELAY_BUF bytes; NULL while nothing is held */
};

struct pair {
	struct mc_relay *r;
	struct side s[2];
	struct rbuf buf[2];
	bool connecting; /* the upstream connect is under way */
	bool dead;	 /* one side is closed: the other closes next */
	bool flowing;	 /* counted in r->flowing */
};

struct mc_relay {
	struct mc_relay_opts o;
	int lfd;
	struct sockaddr_in up; /* 127.0.0.1:port */
	struct mc_net_loops loops;
	uint64_t refused, warned_ms; /* the loop's thread only */
	char *pool[RELAY_POOL];	     /* free buffers; the loop's thread only */
	unsigned npool;
	_Atomic unsigned flowing; /* pairs whose server's end is not through */
};

static void done_flowing(struct pair *p)
{
	if (p->flowing) {
		p->flowing = false;
		atomic_fetch_sub(&p->r->flowing, 1);
	}
}

static void relay_say(void *ctx, const char *msg)
{
	struct mc_relay *r = ctx;

	if (r->o.say)
		r->o.say(msg);
}

static int relay_accept(void *ctx, int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	(void)ctx;
	return fd < 0 ? -errno : fd;
}

static void nodelay(int fd)
{
	int one = 1;

	/* civetweb sets it on its sockets: the relay must not add delay */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Closes a side; the free hook has the other follow (relay_free). */
static void pair_close(struct pair *p)
{
	int i = p->s[CLIENT].open ? CLIENT : UPSTREAM;

	mc_net_conn_close(&p->s[i].nc);
}

/*
 * The events side @i waits for: input while the buffer it fills is
 * empty, room while the other side's buffer has bytes for it. Nothing
 * to wait for: edge-triggered with no interest, so that a hang-up is
 * reported once rather than at every epoll_wait.
 */
static void side_want(struct pair *p, int i)
{
	struct side *s = &p->s[i];
	uint32_t ev = 0;

	if (p->connecting) {
		/* the client waits: its input has nowhere to go yet */
		if (i == UPSTREAM)
			ev = EPOLLOUT;
	} else {
		if (!s->eof && p->buf[i].len == 0)
			ev |= EPOLLIN;
		if (p->buf[!i].len > p->buf[!i].off)
			ev |= EPOLLOUT;
	}
	mc_net_conn_want(&s->nc, ev ? ev : EPOLLET);
}

static char *buf_take(struct mc_relay *r)
{
	return r->npool ? r->pool[--r->npool] : malloc(RELAY_BUF);
}

/* Gives @b's buffer back: to the pool, or to malloc when it is full. */
static void buf_give(struct mc_relay *r, struct rbuf *b)
{
	if (!b->data)
		return;
	if (r->npool < RELAY_POOL)
		r->pool[r->npool++] = b->data;
	else
		free(b->data);
	b->data = NULL;
	b->off = b->len = 0;
}

/*
 * Moves what can move from side @i to the other. 1 when bytes moved,
 * 0 when it would block, -1 when the pair must close.
 */
static int pump(struct pair *p, int i)
{
	struct side *src = &p->s[i], *dst = &p->s[!i];
	struct rbuf *b = &p->buf[i];
	int moved = 0;

	if (p->connecting)
		return 0;
	for (;;) {
		if (b->off < b->len) {
			ssize_t n = send(dst->nc.fd, b->data + b->off,
					 b->len - b->off,
					 MSG_NOSIGNAL | MSG_DONTWAIT);

			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR)
					return moved;
				return -1;
			}
			b->off += (size_t)n;
			moved = 1;
			if (b->off < b->len)
				continue;
			b->off = b->len = 0;
		}
		if (src->eof) {
			if (!dst->shut) {
				/* the half-close goes through */
				if (shutdown(dst->nc.fd, SHUT_WR) &&
				    errno != ENOTCONN)
					return -1;
				dst->shut = true;
				moved = 1;
				if (dst->which == CLIENT)
					done_flowing(p);
			}
			return moved;
		}
		if (!b->data && !(b->data = buf_take(p->r)))
			return -1;
		ssize_t n = recv(src->nc.fd, b->data, RELAY_BUF, MSG_DONTWAIT);
		int e = errno;

		if (n <= 0)
			buf_give(p->r, b); /* empty: nothing to hold */
		if (n < 0) {
			if (e == EAGAIN || e == EINTR)
				return moved;
			return -1;
		}
		moved = 1;
		if (n == 0)
			src->eof = true;
		else
			b->len = (size_t)n;
	}
}

static void relay_run(void *ctx, struct mc_net_conn *c)
{
	struct side *s = (struct side *)c;
	struct pair *p = s->p;
	int a, b, err = 0;
	socklen_t len = sizeof(err);

	(void)ctx;
	if (!s->open)
		return; /* closed earlier in this batch of events */
	if (p->dead) {
		mc_net_conn_close(c);
		return;
	}
	if (c->events == EPOLLET || (s->which == UPSTREAM && p->connecting)) {
		/* nothing asked for: only an error or a hang-up wakes it;
		 * connecting: the connect's outcome */
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) ||
		    err) {
			pair_close(p);
			return;
		}
		if (s->which == UPSTREAM)
			p->connecting = false;
	}
	a = pump(p, CLIENT);
	b = a < 0 ? -1 : pump(p, UPSTREAM);
	if (a < 0 || b < 0 || (p->s[CLIENT].shut && p->s[UPSTREAM].shut)) {
		/* an error, or both ends of stream passed on: done */
		pair_close(p);
		return;
	}
	if (a || b)
		p->s[CLIENT].nc.last_ms = p->s[UPSTREAM].nc.last_ms =
			mc_net_now_ms();
	side_want(p, CLIENT);
	side_want(p, UPSTREAM);
}

/*
 * Still connecting, or the server has ended and the client has not: the
 * stall scan may close it. A client's own half-close is not: the server
 * may take its time to answer.
 */
static bool relay_busy(const struct mc_net_conn *c)
{
	const struct side *s = (const struct side *)c;
	const struct pair *p = s->p;

	return p->connecting || p->s[UPSTREAM].eof;
}

/*
 * The other side is not closed here: an event of it may wait later in
 * the batch the loop is running, and would name freed memory. It is cut
 * (shutdown) and asked for input, which its socket now has at once, so
 * that the next epoll_wait runs it and relay_run closes it.
 */
static void relay_free(struct mc_net_conn *c)
{
	struct side *s = (struct side *)c;
	struct pair *p = s->p;
	struct side *o = &p->s[!s->which];

	s->open = false;
	done_flowing(p);
	if (!o->open) {
		buf_give(p->r, &p->buf[CLIENT]);
		buf_give(p->r, &p->buf[UPSTREAM]);
		free(p);
		return;
	}
	p->dead = true;
	shutdown(o->nc.fd, SHUT_RDWR);
	o->nc.events = 0; /* a MOD even if it asked for input already */
	mc_net_conn_want(&o->nc, EPOLLIN);
}

/* Out of descriptors for the upstream side: said once a second at most. */
static void refuse(struct mc_relay *r, int fd, int e)
{
	uint64_t now = mc_net_now_ms();
	char msg[160];

	close(fd);
	r->refused++;
	if (now - r->warned_ms < RELAY_WARN_MS)
		return;
	snprintf(msg, sizeof(msg),
		 "%s: cannot connect to 127.0.0.1:%u: %s: %llu connection(s) "
		 "closed",
		 r->o.name, r->o.port, strerror(e),
		 (unsigned long long)r->refused);
	r->refused = 0;
	r->warned_ms = now;
	relay_say(r, msg);
}

static void relay_accepted(void *ctx, struct mc_net_loop *lp, int fd, bool here)
{
	struct mc_relay *r = ctx;
	struct pair *p;
	int ufd;

	(void)here; /* one loop: always here */
	p = malloc(sizeof(*p));
	if (!p) {
		refuse(r, fd, ENOMEM);
		return;
	}
	ufd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ufd < 0) {
		int e = errno;

		free(p);
		refuse(r, fd, e);
		return;
	}
	nodelay(fd);
	nodelay(ufd);
	p->buf[CLIENT] = p->buf[UPSTREAM] = (struct rbuf){0};
	p->connecting = false;
	p->dead = false;
	p->r = r;
	p->flowing = true;
	atomic_fetch_add(&r->flowing, 1);
	for (int i = 0; i < 2; i++)
		p->s[i] = (struct side){.p = p, .which = i, .open = true};
	if (connect(ufd, (struct sockaddr *)&r->up, sizeof(r->up))) {
		if (errno != EINPROGRESS) {
			int e = errno;

			close(ufd);
			done_flowing(p);
			free(p);
			refuse(r, fd, e);
			return;
		}
		p->connecting = true;
	}
	/* upstream first: on failure its free hook frees the pair alone */
	p->s[CLIENT].open = false;
	if (mc_net_conn_add(lp, &p->s[UPSTREAM].nc, ufd)) {
		close(fd);
		return;
	}
	p->s[CLIENT].open = true;
	if (mc_net_conn_add(lp, &p->s[CLIENT].nc, fd))
		return; /* its free hook closed the upstream side */
	side_want(p, UPSTREAM);
}

static const struct mc_net_loop_ops relay_ops = {
	.accept = relay_accept,
	.accepted = relay_accepted,
	.run = relay_run,
	.busy = relay_busy,
	.free = relay_free,
	.say = relay_say,
};

static int listen6(const char *host, unsigned port)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6,
				 .sin6_port = htons((uint16_t)port)};
	int fd, one = 1, e;

	if (inet_pton(AF_INET6, host, &a.sin6_addr) != 1) {
		errno = EINVAL;
		return -1;
	}
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* "::" must leave IPv4 to civetweb's listener on the same port */
	if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(fd, RELAY_BACKLOG)) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

struct mc_relay *mc_relay_start(const struct mc_relay_opts *o)
{
	struct mc_relay *r = calloc(1, sizeof(*r));
	struct mc_net_loops_opts lo;
	int rc;

	if (!r)
		return NULL;
	r->o = *o;
	if (!r->o.stall_ms)
		r->o.stall_ms = RELAY_STALL_MS;
	r->up = (struct sockaddr_in){.sin_family = AF_INET,
				     .sin_port = htons((uint16_t)o->port),
				     .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	r->lfd = listen6(o->host, o->port);
	if (r->lfd < 0) {
		rc = -errno;
		free(r);
		errno = -rc;
		return NULL;
	}
	/* the connections it accepts take it: the answers leave on it */
	mc_net_cc_set(r->lfd, o->congestion);
	/* one loop: both sides of a pair on one thread, no locking */
	lo = (struct mc_net_loops_opts){
		.ops = &relay_ops,
		.ctx = r,
		.name = o->name,
		.who = o->name,
		.n = 1,
		.stall_ms = r->o.stall_ms,
		.lfd = r->lfd,
	};
	rc = mc_net_loops_init(&r->loops, &lo);
	if (!rc)
		rc = mc_net_loops_run(&r->loops);
	if (rc) {
		mc_net_loops_stop(&r->loops);
		close(r->lfd);
		free(r);
		errno = -rc;
		return NULL;
	}
	return r;
}

void mc_relay_unlisten(struct mc_relay *r)
{
	if (!r)
		return;
	mc_net_loops_unlisten(&r->loops);
	/* resets what waits in its queue; an accept under way fails */
	shutdown(r->lfd, SHUT_RDWR);
}

unsigned mc_relay_flush(struct mc_relay *r, unsigned ms)
{
	struct timespec tick = {0, 10 * 1000 * 1000};
	uint64_t end = mc_net_now_ms() + ms;
	while (r && atomic_load(&r->flowing) && mc_net_now_ms() < end)
		nanosleep(&tick, NULL);
	return r ? atomic_load(&r->flowing) : 0;
}

void mc_relay_stop(struct mc_relay *r)
{
	if (!r)
		return;
	mc_net_loops_stop(&r->loops);
	close(r->lfd);
	while (r->npool)
		free(r->pool[--r->npool]);
	free(r);
}
