/*
 * server.c - the RPC server's listener and connections; the event loops,
 * their threads and the connections' lists are net/loop.h's.
 *
 * Only a loop's own thread touches its connections once they are added.
 */
#include "autoconfig.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop.h"
#include "server.h"

#define LOOPS_MAX	 8
#define STALL_MS_DEFAULT 30000
#define GRACE_MS_DEFAULT 5000
/* Reads per wake-up, so one busy pipeline cannot starve its loop's others. */
#define READS_PER_WAKE 16
#define READ_CHUNK     (64 * 1024)

struct conn {
	struct mc_net_conn nc; /* first: the loops' part */
	struct rpc_session sess;
	struct rpc_buf out; /* replies not yet sent */
	size_t sent;	    /* bytes of out already sent */
	bool closing;	    /* send out, then close */
	uint64_t frame_ms;  /* when the frame under way began; 0: none */
};

struct rpc_server {
	const struct rpc_service *svc;
	unsigned port, stall_ms, grace_ms, nloops;
	size_t max_body;
	int lfd;
	struct mc_net_loops loops; /* the event loops (net/loop.h) */
};

/* ------------------------------------------------------------ connections */

static void conn_free(struct mc_net_conn *nc)
{
	struct conn *c = (struct conn *)nc;

	rpc_session_release(&c->sess);
	rpc_buf_release(&c->out);
	free(c);
}

/*
 * Sends what is pending: 1 when all of it is out, 0 when the socket is
 * full (the connection then waits for EPOLLOUT), -1 when it must close.
 */
static int conn_flush(struct conn *c)
{
	while (c->sent < c->out.len) {
		ssize_t r =
			send(c->nc.fd, c->out.p + c->sent, c->out.len - c->sent,
			     MSG_NOSIGNAL | MSG_DONTWAIT);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			mc_net_conn_want(&c->nc, EPOLLOUT);
			return 0;
		}
		if (r < 0)
			return -1;
		c->sent += (size_t)r;
		c->nc.last_ms = mc_net_now_ms();
	}
	c->out.len = c->sent = 0;
	return 1;
}

/*
 * Runs the connection until the socket would block or it has had its
 * share of this wake-up; closes (and frees) it when it is done.
 *
 * A read shorter than the buffer took all there was: a client waits for
 * its answer before it asks again, so one more read would only say
 * EAGAIN. The loop's epoll (level-triggered) wakes the connection when
 * there is more, without that read: one system call a request fewer.
 */
static void conn_run(void *ctx, struct mc_net_conn *nc)
{
	struct conn *c = (struct conn *)nc;
	unsigned char in[READ_CHUNK];
	bool drained = false;

	(void)ctx;
	for (int reads = 0;; reads++) {
		int rc = conn_flush(c);
		ssize_t r;

		if (rc == 0)
			return;
		if (rc < 0 || c->closing)
			break;
		if (reads == READS_PER_WAKE || drained) {
			mc_net_conn_want(nc, EPOLLIN);
			return;
		}
		do
			r = recv(nc->fd, in, sizeof(in), MSG_DONTWAIT);
		while (r < 0 && errno == EINTR);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			mc_net_conn_want(nc, EPOLLIN);
			return;
		}
		if (r <= 0)
			break; /* the peer is gone: nobody to answer */
		nc->last_ms = mc_net_now_ms();
		drained = (size_t)r < sizeof(in);
		rc = rpc_session_feed(&c->sess, in, (size_t)r, &c->out);
		if (rc < 0)
			c->closing = true;
		else if (rpc_session_idle(&c->sess))
			c->frame_ms = 0;
		else if (rc > 0 || !c->frame_ms) /* a frame began here */
			c->frame_ms = nc->last_ms;
	}
	mc_net_conn_close(nc);
}

static void conn_accepted(void *ctx, struct mc_net_loop *lp, int fd, bool here)
{
	struct rpc_server *s = ctx;
	struct conn *c = calloc(1, sizeof(*c));
	int one = 1;

	(void)here;
	if (!c) {
		close(fd);
		return;
	}
	/* Replies are small and awaited: no Nagle delay. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	rpc_session_init(&c->sess, s->svc, s->max_body);
	mc_net_conn_add(lp, &c->nc, fd);
}

/* Stuck inside a frame or on unsent replies. */
static bool conn_busy(const struct mc_net_conn *nc)
{
	const struct conn *c = (const struct conn *)nc;

	return !rpc_session_idle(&c->sess) || c->out.len;
}

/*
 * A frame that, grace_ms after it began, has arrived slower than
 * RPC_MIN_RATE on average (server.h). Replies the peer has not taken
 * keep the server from reading: the stall limit judges those.
 */
static bool conn_slow(void *ctx, const struct mc_net_conn *nc, uint64_t now)
{
	const struct rpc_server *s = ctx;
	const struct conn *c = (const struct conn *)nc;

	if (!c->frame_ms || c->out.len || now <= c->frame_ms + s->grace_ms)
		return false;
	return rpc_session_partial(&c->sess) <
	       (now - c->frame_ms) * RPC_MIN_RATE / 1000;
}

static void conn_say(void *ctx, const char *msg)
{
	struct rpc_server *s = ctx;

	if (s->svc->log)
		s->svc->log(s->svc->ctx, msg);
}

static int accept_fd(void *arg, int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	(void)arg;
	return fd < 0 ? -errno : fd;
}

static const struct mc_net_loop_ops loop_ops = {
	.accept = accept_fd,
	.accepted = conn_accepted,
	.run = conn_run,
	.busy = conn_busy,
	.slow = conn_slow,
	.free = conn_free,
	.say = conn_say,
};

/* ------------------------------------------------------------- the server */

static int listen_on(struct rpc_server *s, const char *host, char *err,
		     size_t errlen)
{
	struct addrinfo hints = {
		.ai_socktype = SOCK_STREAM,
		/* An address, never a name: no DNS query at start-up. */
		.ai_flags = AI_PASSIVE | AI_NUMERICSERV | AI_NUMERICHOST,
	};
	struct addrinfo *res, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char serv[16];
	int one = 1, rc, saved = EINVAL;

	if (s->port > 65535) {
		snprintf(err, errlen, "invalid rpc port '%u'", s->port);
		return -EINVAL;
	}
	if (host && !strcmp(host, "localhost"))
		host = "127.0.0.1";
	snprintf(serv, sizeof(serv), "%u", s->port);
	rc = getaddrinfo(host && *host ? host : NULL, serv, &hints, &res);
	if (rc) {
		snprintf(err, errlen, "cannot use rpc host '%s': %s",
			 host ? host : "", gai_strerror(rc));
		return -EINVAL;
	}
	for (ai = res; ai && s->lfd < 0; ai = ai->ai_next) {
		int fd = socket(ai->ai_family,
				ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
				ai->ai_protocol);

		if (fd < 0) {
			saved = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 1024)) {
			saved = errno;
			close(fd);
			continue;
		}
		s->lfd = fd;
	}
	freeaddrinfo(res);
	if (s->lfd < 0) {
		snprintf(err, errlen, "cannot listen on '%s' port %u: %s",
			 host ? host : "", s->port, strerror(saved));
		return -saved;
	}
	if (getsockname(s->lfd, (struct sockaddr *)&ss, &sl) == 0) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;

		s->port = ntohs(ss.ss_family == AF_INET6 ? in6->sin6_port
							 : in4->sin_port);
	}
	return 0;
}

struct rpc_server *rpc_server_start(const struct rpc_server_opts *o,
				    const struct rpc_service *svc, char *err,
				    size_t errlen)
{
	struct rpc_server *s = calloc(1, sizeof(*s));
	struct mc_net_loops_opts lo = {
		.ops = &loop_ops,
		.ctx = s,
		.name = "rpc",
		.who = "rpc",
	};
	int rc;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	s->svc = svc;
	s->port = o->port;
	s->stall_ms = o->stall_ms ? o->stall_ms : STALL_MS_DEFAULT;
	s->grace_ms = o->grace_ms ? o->grace_ms : GRACE_MS_DEFAULT;
	s->max_body = o->max_body;
	s->lfd = -1;
	s->nloops = o->loops;
	if (!s->nloops) {
		long n = sysconf(_SC_NPROCESSORS_ONLN) / 2;

		s->nloops = n < 1 ? 1 : (unsigned)n;
	}
	if (s->nloops > LOOPS_MAX)
		s->nloops = LOOPS_MAX;
	rc = listen_on(s, o->host, err, errlen);
	if (rc)
		goto fail;
	lo.n = s->nloops;
	lo.stall_ms = s->stall_ms;
	lo.lfd = s->lfd;
	rc = mc_net_loops_init(&s->loops, &lo);
	if (rc) {
		snprintf(err, errlen, "cannot set up the rpc port: %s",
			 strerror(-rc));
		goto fail;
	}
	rc = mc_net_loops_run(&s->loops);
	if (rc) {
		snprintf(err, errlen, "cannot start an rpc loop: %s",
			 strerror(-rc));
		goto fail;
	}
	return s;
fail:
	rpc_server_free(s);
	errno = -rc;
	return NULL;
}

unsigned rpc_server_port(const struct rpc_server *s)
{
	return s->port;
}

void rpc_server_stop(struct rpc_server *s)
{
	if (!s)
		return;
	mc_net_loops_stop(&s->loops);
	if (s->lfd >= 0)
		close(s->lfd);
	s->lfd = -1;
}

void rpc_server_free(struct rpc_server *s)
{
	if (!s)
		return;
	rpc_server_stop(s);
	free(s);
}
