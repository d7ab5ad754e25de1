/*
 * loop.c - the event loops of the transfer port and the master RPC
 * (see loop.h); their protocols live in the doors.
 */
#include "autoconfig.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

#define SCAN_MS		 250 /* how often loops look for stalls */
#define ACCEPTS_PER_WAKE 64
#define SHED_WARN_MS	 1000 /* out of descriptors: one warning at most */

struct mc_net_loop {
	struct mc_net_loops *ls;
	unsigned idx;
	int epfd;
	pthread_t th;
	bool running;
	pthread_mutex_t mu; /* guards conns */
	struct mc_net_conn *conns;
};

/* epoll tags of the two fds that are not connections */
static char tag_stop, tag_listen;

/* The connections of every loop set, and how many may be (fd_reserve). */
static _Atomic long live_conns;
static _Atomic long conn_cap;

void mc_net_fd_reserve(unsigned n)
{
	struct rlimit rl;
	long lim = LONG_MAX;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)LONG_MAX)
		lim = (long)rl.rlim_cur;
	if (lim != LONG_MAX)
		lim = lim - (long)n > lim / 4 ? lim - (long)n : lim / 4;
	atomic_store(&conn_cap, lim);
}

uint64_t mc_net_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static void say(struct mc_net_loops *ls, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(struct mc_net_loops *ls, const char *fmt, ...)
{
	char msg[200];
	int n;
	va_list ap;

	if (!ls->o.ops->say)
		return;
	n = snprintf(msg, sizeof(msg), "%s: ", ls->o.who);
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	ls->o.ops->say(ls->o.ctx, msg);
}

/* ------------------------------------------------------------ connections */

int mc_net_conn_add(struct mc_net_loop *lp, struct mc_net_conn *c, int fd)
{
	struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};

	c->fd = fd;
	c->lp = lp;
	c->events = EPOLLIN;
	c->last_ms = mc_net_now_ms();
	c->prev = NULL;
	atomic_fetch_add(&live_conns, 1);
	pthread_mutex_lock(&lp->mu);
	c->next = lp->conns;
	if (lp->conns)
		lp->conns->prev = c;
	lp->conns = c;
	pthread_mutex_unlock(&lp->mu);
	/* From here on the owning loop may run (and close) it at once. */
	if (epoll_ctl(lp->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
		int rc = -errno;

		mc_net_conn_close(c);
		return rc;
	}
	return 0;
}

void mc_net_conn_close(struct mc_net_conn *c)
{
	struct mc_net_loop *lp = c->lp;

	pthread_mutex_lock(&lp->mu);
	if (c->prev)
		c->prev->next = c->next;
	else
		lp->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&lp->mu);
	/*
	 * Out of the epoll set first: close() takes a socket out only when
	 * no other descriptor refers to it, and a child forked meanwhile
	 * (fusermount3 before its exec, the FUSE tree's guard before it
	 * closes what it inherited) holds one for a moment; an event of the
	 * socket would then name this freed connection.
	 */
	epoll_ctl(lp->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	atomic_fetch_sub(&live_conns, 1);
	lp->ls->o.ops->free(c);
}

void mc_net_conn_want(struct mc_net_conn *c, uint32_t ev)
{
	struct epoll_event e = {.events = ev, .data.ptr = c};

	if (c->events == ev)
		return;
	if (epoll_ctl(c->lp->epfd, EPOLL_CTL_MOD, c->fd, &e) == 0)
		c->events = ev;
}

/* ---------------------------------------------------------------- accepts */

/* Says what was dropped, once a second at most. */
static void shed_report(struct mc_net_loops *ls, uint64_t now)
{
	char msg[160];

	if (ls->o.ops->say &&
	    mc_net_shed_report(&ls->shed, ls->o.who, now, SHED_WARN_MS, msg,
			       sizeof(msg)))
		ls->o.ops->say(ls->o.ctx, msg);
}

/* Only the loop that watches the listener (loops[0]) calls these. */
static void accept_batch(struct mc_net_loops *ls, struct mc_net_loop *self)
{
	const struct mc_net_loop_ops *ops = ls->o.ops;

	for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
		int fd = ops->accept(ls->o.ctx, ls->o.lfd);
		struct mc_net_loop *lp;

		if (fd == -EMFILE || fd == -ENFILE) {
			fd = mc_net_shed_accept(&ls->shed, ops->accept,
						ls->o.ctx);
			shed_report(ls, mc_net_now_ms());
		}
		if (fd < 0)
			return;
		if (atomic_load(&live_conns) >= atomic_load(&conn_cap)) {
			uint64_t now = mc_net_now_ms();

			close(fd);
			ls->capped++;
			if (now - ls->capped_ms >= SHED_WARN_MS) {
				say(ls,
				    "%llu connection(s) refused: %ld are open, "
				    "the most the descriptor limit leaves "
				    "beside the other doors",
				    (unsigned long long)ls->capped,
				    atomic_load(&live_conns));
				ls->capped = 0;
				ls->capped_ms = now;
			}
			continue;
		}
		lp = &ls->loops[ls->next++ % ls->o.n];
		ops->accepted(ls->o.ctx, lp, fd, lp == self);
	}
}

/*
 * A connection is in the listener's queue, or taken from it and not yet
 * listed, or listed: ls->accepting covers the middle, so that
 * mc_net_loops_input_pending never misses one.
 */
static void accept_some(struct mc_net_loops *ls, struct mc_net_loop *self)
{
	atomic_fetch_add(&ls->accepting, 1);
	accept_batch(ls, self);
	atomic_fetch_sub(&ls->accepting, 1);
}

bool mc_net_loops_input_pending(struct mc_net_loops *ls)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if (atomic_load(&ls->accepting))
		return true;
	/* A listener's tcpi_unacked is its accept queue's length. */
	if (ls->loops && ls->o.lfd >= 0 &&
	    !getsockopt(ls->o.lfd, IPPROTO_TCP, TCP_INFO, &ti, &len) &&
	    ti.tcpi_state == TCP_LISTEN && ti.tcpi_unacked)
		return true;
	for (unsigned i = 0; ls->loops && i < ls->o.n; i++) {
		struct mc_net_loop *lp = &ls->loops[i];
		bool unread = false;

		/* A listed connection's descriptor is closed only after it
		 * has left the list. */
		pthread_mutex_lock(&lp->mu);
		for (struct mc_net_conn *c = lp->conns; c && !unread;
		     c = c->next) {
			int n = 0;

			unread = !ioctl(c->fd, FIONREAD, &n) && n > 0;
		}
		pthread_mutex_unlock(&lp->mu);
		if (unread)
			return true;
	}
	return false;
}

/* ------------------------------------------------------------------ loops */

/* Closes connections stuck mid-request, or too slow in one. */
static void loop_scan(struct mc_net_loop *lp, uint64_t now)
{
	struct mc_net_loops *ls = lp->ls;
	const struct mc_net_loop_ops *ops = ls->o.ops;
	unsigned stall = ls->o.stall_ms;
	struct mc_net_conn *c;

	for (;;) {
		bool slow = false;

		pthread_mutex_lock(&lp->mu);
		/* busy may move last_ms past @now: no unsigned wrap */
		for (c = lp->conns; c; c = c->next) {
			if (!ops->busy(c))
				continue;
			if (now >= c->last_ms + stall)
				break;
			if (ops->slow && (slow = ops->slow(ls->o.ctx, c, now)))
				break;
		}
		pthread_mutex_unlock(&lp->mu);
		if (!c)
			return;
		if (slow)
			say(ls, "closing a connection whose request arrives "
				"too slowly");
		else
			say(ls, "closing a connection stalled for %u ms",
			    stall);
		mc_net_conn_close(c);
	}
}

static void *loop_main(void *arg)
{
	struct mc_net_loop *lp = arg;
	struct mc_net_loops *ls = lp->ls;
	struct epoll_event ev[64];
	uint64_t last_scan = mc_net_now_ms();
	char name[16];

	/* Profiles and top -H tell the doors' loops apart by this. */
	snprintf(name, sizeof(name), "mc-%s-%u", ls->o.name, lp->idx);
	pthread_setname_np(pthread_self(), name);
	for (;;) {
		int n = epoll_wait(lp->epfd, ev, 64, SCAN_MS);
		uint64_t now;

		if (n < 0 && errno != EINTR) {
			say(ls, "epoll_wait: %s", strerror(errno));
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			void *p = ev[i].data.ptr;

			if (p == &tag_stop)
				return NULL;
			if (p == &tag_listen)
				accept_some(ls, lp);
			else
				ls->o.ops->run(ls->o.ctx, p);
		}
		now = mc_net_now_ms();
		if (now - last_scan >= SCAN_MS) {
			last_scan = now;
			loop_scan(lp, now);
			if (lp == &ls->loops[0]) {
				mc_net_shed_tick(&ls->shed);
				shed_report(ls, now);
			}
		}
	}
}

static int watch(int epfd, int fd, void *tag)
{
	struct epoll_event e = {.events = EPOLLIN, .data.ptr = tag};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e);
}

int mc_net_loops_init(struct mc_net_loops *ls,
		      const struct mc_net_loops_opts *o)
{
	unsigned i;

	if (!atomic_load(&conn_cap))
		mc_net_fd_reserve(256);
	*ls = (struct mc_net_loops){.o = *o, .stopfd = -1};
	ls->shed.spare_fd = -1;
	ls->loops = calloc(o->n, sizeof(*ls->loops));
	if (!ls->loops)
		return -ENOMEM;
	for (i = 0; i < o->n; i++) {
		ls->loops[i].ls = ls;
		ls->loops[i].idx = i;
		ls->loops[i].epfd = -1;
		pthread_mutex_init(&ls->loops[i].mu, NULL);
	}
	ls->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ls->stopfd < 0)
		return -errno;
	for (i = 0; i < o->n; i++) {
		ls->loops[i].epfd = epoll_create1(EPOLL_CLOEXEC);
		if (ls->loops[i].epfd < 0 ||
		    watch(ls->loops[i].epfd, ls->stopfd, &tag_stop))
			return -errno;
	}
	if (watch(ls->loops[0].epfd, o->lfd, &tag_listen))
		return -errno;
	mc_net_shed_init(&ls->shed, ls->loops[0].epfd, o->lfd, &tag_listen);
	return 0;
}

int mc_net_loops_run(struct mc_net_loops *ls)
{
	for (unsigned i = 0; i < ls->o.n; i++) {
		int rc = pthread_create(&ls->loops[i].th, NULL, loop_main,
					&ls->loops[i]);

		if (rc)
			return -rc;
		ls->loops[i].running = true;
	}
	return 0;
}

int mc_net_loops_unlisten(struct mc_net_loops *ls)
{
	/* epoll_ctl is safe beside the loop's epoll_wait */
	if (!ls->loops ||
	    epoll_ctl(ls->loops[0].epfd, EPOLL_CTL_DEL, ls->o.lfd, NULL))
		return ls->loops ? -errno : -EINVAL;
	return 0;
}

void mc_net_loops_stop(struct mc_net_loops *ls)
{
	uint64_t one = 1;
	unsigned i;

	if (!ls->loops)
		return;
	if (ls->stopfd >= 0 && write(ls->stopfd, &one, sizeof(one)) < 0)
		say(ls, "cannot signal the loops: %s", strerror(errno));
	for (i = 0; i < ls->o.n; i++)
		if (ls->loops[i].running)
			pthread_join(ls->loops[i].th, NULL);
	for (i = 0; i < ls->o.n; i++) {
		struct mc_net_loop *lp = &ls->loops[i];

		while (lp->conns)
			mc_net_conn_close(lp->conns);
		if (lp->epfd >= 0)
			close(lp->epfd);
		pthread_mutex_destroy(&lp->mu);
	}
	free(ls->loops);
	ls->loops = NULL;
	ls->o.lfd = -1; /* the door closes it next */
	if (ls->stopfd >= 0)
		close(ls->stopfd);
	ls->stopfd = -1;
	mc_net_shed_release(&ls->shed);
}
