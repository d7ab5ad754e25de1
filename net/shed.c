/*
 * shed.c - the out-of-descriptors dance of a listener (see shed.h).
 */
#include "autoconfig.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "shed.h"

static int spare_open(void)
{
	return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void mc_net_shed_init(struct mc_net_shed *s, int epfd, int lfd, void *tag)
{
	*s = (struct mc_net_shed){
		.spare_fd = spare_open(),
		.epfd = epfd,
		.lfd = lfd,
		.tag = tag,
	};
}

void mc_net_shed_release(struct mc_net_shed *s)
{
	if (s->spare_fd >= 0)
		close(s->spare_fd);
	s->spare_fd = -1;
}

static void listen_as(struct mc_net_shed *s, uint32_t events)
{
	struct epoll_event e = {.events = events, .data.ptr = s->tag};

	if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->lfd, &e) == 0)
		s->paused = !events;
}

int mc_net_shed_accept(struct mc_net_shed *s, mc_net_accept_fn *accept,
		       void *arg)
{
	int fd = -1;

	if (s->spare_fd < 0)
		s->spare_fd = spare_open();
	if (s->spare_fd >= 0) {
		close(s->spare_fd);
		fd = accept(arg, s->lfd);
		s->spare_fd = spare_open();
		if (fd >= 0 && s->spare_fd >= 0)
			return fd; /* descriptors are back: serve it */
		if (fd >= 0) {
			close(fd);
			s->shed++;
			s->spare_fd = spare_open();
		}
	}
	if (s->spare_fd < 0 && !s->paused)
		listen_as(s, 0);
	return -1;
}

void mc_net_shed_tick(struct mc_net_shed *s)
{
	if (!s->paused)
		return;
	if (s->spare_fd < 0)
		s->spare_fd = spare_open();
	listen_as(s, EPOLLIN);
}

bool mc_net_shed_report(struct mc_net_shed *s, const char *who, uint64_t now_ms,
			uint64_t every_ms, char *msg, size_t size)
{
	if ((!s->shed && !s->paused) || now_ms - s->warned_ms < every_ms)
		return false;
	snprintf(msg, size,
		 "%s: out of file descriptors: %llu connection(s) dropped%s",
		 who, (unsigned long long)s->shed,
		 s->paused ? ", accepting paused" : "");
	s->shed = 0;
	s->warned_ms = now_ms;
	return true;
}
