/*
 * hop.c - a trivial TCP relay: the cost of one extra loopback hop, for
 * the bench's cluster section (the reference beside a PUT or GET through
 * a follower, mooncake-cluster(7) Performance).
 *
 *   hop HOST PORT
 *       listens on a kernel-picked loopback port, prints "hop PORT",
 *       and for every connection accepted opens one to HOST:PORT and
 *       moves the bytes both ways until either side closes; runs until
 *       killed
 *
 * One epoll thread; the bytes go through a pipe per direction with
 * splice(2) and never enter this process's memory: the least any
 * program in the middle can do. HTTP is not parsed, so it is the cost of
 * the hop alone, not of a door's work.
 *
 * TCP_CC=NAME sets the congestion control of every socket this program
 * opens or accepts (TCP_CONGESTION in tcp(7)).
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define PIPE_BYTES (1 << 20)

/* one direction: bytes read from @src wait in the pipe until @dst takes them */
struct dir {
	int src, dst;
	int p[2];
	size_t pending;
	int eof;
};

struct pair {
	int fd[2]; /* client, upstream */
	struct dir d[2];
};

static const char *cc;
static char dead; /* an event whose pair this batch already freed */

static void set_cc(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (cc &&
	    setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, strlen(cc)) < 0) {
		fprintf(stderr, "hop: TCP_CONGESTION %s: %s\n", cc,
			strerror(errno));
		exit(1);
	}
}

/*
 * Moves what can move now from d->src to d->dst: 0 while the direction
 * lives (it waits for an edge), 1 when it is done (the source ended and
 * every byte is out), -1 on an error.
 */
static int pump(struct dir *d)
{
	ssize_t r;

	for (;;) {
		if (d->pending) {
			r = splice(d->p[0], NULL, d->dst, NULL, d->pending,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (r > 0) {
				d->pending -= (size_t)r;
				continue;
			}
			return r < 0 && errno == EAGAIN ? 0 : -1;
		}
		if (d->eof)
			return 1;
		r = splice(d->src, NULL, d->p[1], NULL, PIPE_BYTES,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (r > 0) {
			d->pending = (size_t)r;
			continue;
		}
		if (r == 0) {
			d->eof = 1;
			shutdown(d->dst, SHUT_WR);
			return 1;
		}
		return errno == EAGAIN ? 0 : -1;
	}
}

static void pair_free(struct pair *p)
{
	for (int i = 0; i < 2; i++) {
		close(p->fd[i]);
		close(p->d[i].p[0]);
		close(p->d[i].p[1]);
	}
	free(p);
}

static int upstream(const struct addrinfo *ai)
{
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	set_cc(fd);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

static struct pair *pair_new(int cfd, const struct addrinfo *ai)
{
	struct pair *p = calloc(1, sizeof(*p));
	int ufd = upstream(ai);

	if (!p || ufd < 0) {
		perror("hop: upstream");
		free(p);
		if (ufd >= 0)
			close(ufd);
		close(cfd);
		return NULL;
	}
	p->fd[0] = cfd;
	p->fd[1] = ufd;
	for (int i = 0; i < 2; i++) {
		p->d[i].src = p->fd[i];
		p->d[i].dst = p->fd[1 - i];
		if (pipe2(p->d[i].p, O_CLOEXEC | O_NONBLOCK) < 0) {
			perror("hop: pipe");
			exit(1);
		}
		fcntl(p->d[i].p[1], F_SETPIPE_SZ, PIPE_BYTES);
	}
	return p;
}

int main(int argc, char **argv)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	struct epoll_event ev, evs[64];
	int lfd, ep, n;

	if (argc != 3) {
		fprintf(stderr, "usage: hop HOST PORT\n");
		return 2;
	}
	if (getaddrinfo(argv[1], argv[2], &hints, &ai)) {
		fprintf(stderr, "hop: cannot resolve %s:%s\n", argv[1],
			argv[2]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN); /* a peer gone mid-splice: EPIPE, not death */
	cc = getenv("TCP_CC");
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (lfd < 0)
		return perror("hop: socket"), 1;
	set_cc(lfd);
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(lfd, 128) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) < 0)
		return perror("hop: listen"), 1;
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = NULL};
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	printf("hop %u\n", ntohs(a.sin_port));
	fflush(stdout);
	for (;;) {
		n = epoll_wait(ep, evs, 64, -1);
		for (int i = 0; i < n; i++) {
			struct pair *p = evs[i].data.ptr;
			int r0, r1;

			if (p == (void *)&dead)
				continue;
			if (!p) {
				int cfd = accept4(lfd, NULL, NULL,
						  SOCK_CLOEXEC | SOCK_NONBLOCK);

				if (cfd < 0)
					continue;
				setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY,
					   &(int){1}, sizeof(int));
				if (!(p = pair_new(cfd, ai)))
					continue;
				for (int k = 0; k < 2; k++) {
					ev = (struct epoll_event){
						.events = EPOLLIN | EPOLLOUT |
							  EPOLLRDHUP | EPOLLET,
						.data.ptr = p};
					epoll_ctl(ep, EPOLL_CTL_ADD, p->fd[k],
						  &ev);
				}
			}
			/* an edge on either socket may move either direction */
			r0 = pump(&p->d[0]);
			r1 = pump(&p->d[1]);
			if (r0 < 0 || r1 < 0 || (r0 == 1 && r1 == 1)) {
				/* the other events of this batch may name p */
				for (int k = i + 1; k < n; k++)
					if (evs[k].data.ptr == p)
						evs[k].data.ptr = &dead;
				pair_free(p);
			}
		}
	}
}
