/*
 * server.c - the RPC server's listener, event loops and connections.
 *
 * Only a loop's own thread touches its connections once they are added;
 * the loop's list has a mutex only because the accepting loop inserts
 * into other loops' lists and the stopper walks them after the joins.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server.h"
#include "shed.h"

#define LOOPS_MAX	 8
#define STALL_MS_DEFAULT 30000
#define SCAN_MS		 250
#define ACCEPTS_PER_WAKE 64
#define SHED_WARN_MS	 1000 /* out of descriptors: one warning at most */
/* Reads per wake-up, so one busy pipeline cannot starve its loop's others. */
#define READS_PER_WAKE 16
#define READ_CHUNK     (64 * 1024)

struct loop;

struct conn {
	int fd;
	struct loop *lp;
	struct rpc_session sess;
	struct rpc_buf out; /* replies not yet sent */
	size_t sent;	    /* bytes of out already sent */
	bool closing;	    /* send out, then close */
	uint32_t events;    /* the epoll mask in force */
	uint64_t last_ms;   /* last progress */
	struct conn *prev, *next;
};

struct loop {
	struct rpc_server *srv;
	int epfd;
	pthread_t th;
	bool running;
	pthread_mutex_t mu; /* guards conns */
	struct conn *conns;
	unsigned char in[READ_CHUNK];
};

struct rpc_server {
	const struct rpc_service *svc;
	unsigned port, stall_ms, nloops, next_loop;
	size_t max_body;
	int lfd, stopfd;
	struct mc_net_shed shed; /* out of descriptors; loops[0]'s thread */
	struct loop *loops;
};

/* epoll tags of the two fds that are not connections */
static char tag_stop, tag_listen;

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static void say(struct rpc_server *s, const char *msg)
{
	if (s->svc->log)
		s->svc->log(s->svc->ctx, msg);
}

/* ------------------------------------------------------------ connections */

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
	/* out of the epoll set first, as xfer/loop.c conn_close says why */
	epoll_ctl(lp->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	rpc_session_release(&c->sess);
	rpc_buf_release(&c->out);
	free(c);
}

static void conn_want(struct conn *c, uint32_t ev)
{
	struct epoll_event e = {.events = ev, .data.ptr = c};

	if (c->events != ev &&
	    epoll_ctl(c->lp->epfd, EPOLL_CTL_MOD, c->fd, &e) == 0)
		c->events = ev;
}

/*
 * Sends what is pending: 1 when all of it is out, 0 when the socket is
 * full (the connection then waits for EPOLLOUT), -1 when it must close.
 */
static int conn_flush(struct conn *c)
{
	while (c->sent < c->out.len) {
		ssize_t r =
			send(c->fd, c->out.p + c->sent, c->out.len - c->sent,
			     MSG_NOSIGNAL | MSG_DONTWAIT);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			conn_want(c, EPOLLOUT);
			return 0;
		}
		if (r < 0)
			return -1;
		c->sent += (size_t)r;
		c->last_ms = now_ms();
	}
	c->out.len = c->sent = 0;
	return 1;
}

/*
 * Runs the connection until the socket would block or it has had its
 * share of this wake-up; closes (and frees) it when it is done.
 */
static void conn_run(struct conn *c)
{
	for (int reads = 0;; reads++) {
		int rc = conn_flush(c);
		ssize_t r;

		if (rc == 0)
			return;
		if (rc < 0 || c->closing)
			break;
		if (reads == READS_PER_WAKE) {
			conn_want(c, EPOLLIN);
			return;
		}
		do
			r = recv(c->fd, c->lp->in, sizeof(c->lp->in),
				 MSG_DONTWAIT);
		while (r < 0 && errno == EINTR);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			conn_want(c, EPOLLIN);
			return;
		}
		if (r <= 0)
			break; /* the peer is gone: nobody to answer */
		c->last_ms = now_ms();
		if (rpc_session_feed(&c->sess, c->lp->in, (size_t)r, &c->out) <
		    0)
			c->closing = true;
	}
	conn_close(c);
}

static void loop_add(struct loop *lp, int fd)
{
	struct conn *c = calloc(1, sizeof(*c));
	struct epoll_event e = {.events = EPOLLIN};

	if (!c) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->lp = lp;
	c->events = EPOLLIN;
	c->last_ms = now_ms();
	rpc_session_init(&c->sess, lp->srv->svc, lp->srv->max_body);
	e.data.ptr = c;
	pthread_mutex_lock(&lp->mu);
	c->next = lp->conns;
	if (lp->conns)
		lp->conns->prev = c;
	lp->conns = c;
	pthread_mutex_unlock(&lp->mu);
	/* From here on the owning loop may run (and close) it at once. */
	if (epoll_ctl(lp->epfd, EPOLL_CTL_ADD, fd, &e) < 0)
		conn_close(c);
}

static int accept_fd(void *arg, int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	(void)arg;
	return fd < 0 ? -errno : fd;
}

/* Says what was dropped, once a second at most. */
static void shed_report(struct rpc_server *s, uint64_t now)
{
	char msg[160];

	if (mc_net_shed_report(&s->shed, "rpc", now, SHED_WARN_MS, msg,
			       sizeof(msg)))
		say(s, msg);
}

/* Only the loop that watches the listener (loops[0]) calls this. */
static void accept_some(struct rpc_server *s)
{
	for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
		int one = 1;
		int fd = accept_fd(NULL, s->lfd);

		if (fd == -EMFILE || fd == -ENFILE) {
			fd = mc_net_shed_accept(&s->shed, accept_fd, NULL);
			shed_report(s, now_ms());
		}
		if (fd < 0)
			return;
		/* Replies are small and awaited: no Nagle delay. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		loop_add(&s->loops[s->next_loop++ % s->nloops], fd);
	}
}

/* Closes connections stuck inside a frame or on unsent replies. */
static void loop_scan(struct loop *lp, uint64_t now)
{
	unsigned stall = lp->srv->stall_ms;
	struct conn *c;

	for (;;) {
		pthread_mutex_lock(&lp->mu);
		for (c = lp->conns; c; c = c->next)
			if ((!rpc_session_idle(&c->sess) || c->out.len) &&
			    now - c->last_ms >= stall)
				break;
		pthread_mutex_unlock(&lp->mu);
		if (!c)
			return;
		say(lp->srv, "rpc: closing a connection stalled mid-request");
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
		uint64_t now;

		if (n < 0 && errno != EINTR)
			return NULL;
		for (int i = 0; i < n; i++) {
			if (ev[i].data.ptr == &tag_stop)
				return NULL;
			if (ev[i].data.ptr == &tag_listen)
				accept_some(lp->srv);
			else
				conn_run(ev[i].data.ptr);
		}
		now = now_ms();
		if (now - last_scan >= SCAN_MS) {
			last_scan = now;
			loop_scan(lp, now);
			if (lp == &lp->srv->loops[0]) {
				mc_net_shed_tick(&lp->srv->shed);
				shed_report(lp->srv, now);
			}
		}
	}
}

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

static int watch(int epfd, int fd, void *tag)
{
	struct epoll_event e = {.events = EPOLLIN, .data.ptr = tag};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e);
}

struct rpc_server *rpc_server_start(const struct rpc_server_opts *o,
				    const struct rpc_service *svc, char *err,
				    size_t errlen)
{
	struct rpc_server *s = calloc(1, sizeof(*s));
	unsigned i;
	int rc;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	s->svc = svc;
	s->port = o->port;
	s->stall_ms = o->stall_ms ? o->stall_ms : STALL_MS_DEFAULT;
	s->max_body = o->max_body;
	s->lfd = s->stopfd = s->shed.spare_fd = -1;
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
	s->loops = calloc(s->nloops, sizeof(*s->loops));
	if (!s->loops)
		goto sysfail;
	for (i = 0; i < s->nloops; i++) {
		s->loops[i].srv = s;
		s->loops[i].epfd = -1;
		pthread_mutex_init(&s->loops[i].mu, NULL);
	}
	s->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->stopfd < 0)
		goto sysfail;
	for (i = 0; i < s->nloops; i++) {
		s->loops[i].epfd = epoll_create1(EPOLL_CLOEXEC);
		if (s->loops[i].epfd < 0 ||
		    watch(s->loops[i].epfd, s->stopfd, &tag_stop))
			goto sysfail;
	}
	if (watch(s->loops[0].epfd, s->lfd, &tag_listen))
		goto sysfail;
	mc_net_shed_init(&s->shed, s->loops[0].epfd, s->lfd, &tag_listen);
	for (i = 0; i < s->nloops; i++) {
		rc = pthread_create(&s->loops[i].th, NULL, loop_main,
				    &s->loops[i]);
		if (rc) {
			snprintf(err, errlen, "cannot start an rpc loop: %s",
				 strerror(rc));
			rc = -rc;
			goto fail;
		}
		s->loops[i].running = true;
	}
	return s;
sysfail:
	rc = -errno;
	snprintf(err, errlen, "cannot set up the rpc port: %s",
		 strerror(errno));
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
	uint64_t one = 1;
	unsigned i;

	if (!s || !s->loops)
		return;
	if (s->stopfd >= 0 && write(s->stopfd, &one, sizeof(one)) < 0)
		say(s, "rpc: cannot signal the loops");
	for (i = 0; i < s->nloops; i++)
		if (s->loops[i].running)
			pthread_join(s->loops[i].th, NULL);
	for (i = 0; i < s->nloops; i++) {
		struct loop *lp = &s->loops[i];

		while (lp->conns)
			conn_close(lp->conns);
		if (lp->epfd >= 0)
			close(lp->epfd);
		pthread_mutex_destroy(&lp->mu);
	}
	free(s->loops);
	s->loops = NULL;
	if (s->lfd >= 0)
		close(s->lfd);
	s->lfd = -1;
}

void rpc_server_free(struct rpc_server *s)
{
	if (!s)
		return;
	rpc_server_stop(s);
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->stopfd >= 0)
		close(s->stopfd);
	mc_net_shed_release(&s->shed);
	free(s);
}
