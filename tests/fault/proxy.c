/*
 * proxy.c - a TCP proxy that misbehaves, for the fault-injection tests
 * (tests/faults.sh): it sits in front of the HTTP or transfer port and
 * mistreats every connection the same way.
 *
 *   proxy MODE TARGET_PORT [ARG]
 *
 * prints the port it listens on (127.0.0.1, kernel-chosen) on stdout and
 * forwards each connection to 127.0.0.1:TARGET_PORT, with MODE:
 *   pass        forward as is (the control)
 *   delay MS    hold every chunk MS milliseconds, both ways
 *   bytewise    forward client-to-server one byte per write, 1 ms apart
 *   drop N      forward the first N client bytes, then swallow the rest
 *               (the connection stays open: the server sees a stall)
 *   reset N     forward the first N client bytes, then reset both sides
 *               (SO_LINGER 0: an RST, not a FIN)
 *   halfclose N forward the first N client bytes, then shut the
 *               server-bound direction (the server sees end of stream
 *               mid-request); answers still flow back
 * Runs until killed.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum mode { M_PASS, M_DELAY, M_BYTEWISE, M_DROP, M_RESET, M_HALFCLOSE };

static enum mode mode;
static long arg;
static unsigned target;

struct pipe_end {
	int from, to;
	int upstream; /* client -> server */
	struct pipe_end *peer;
};

static void sleep_ms(long ms)
{
	struct timespec t = {ms / 1000, (ms % 1000) * 1000000};

	while (nanosleep(&t, &t) && errno == EINTR)
		;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void rst(int fd)
{
	struct linger l = {1, 0};

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

static void *pump(void *a)
{
	struct pipe_end *e = a;
	char buf[65536];
	long moved = 0;

	for (;;) {
		ssize_t r = recv(e->from, buf, sizeof(buf), 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (mode == M_DELAY)
			sleep_ms(arg);
		if (e->upstream && (mode == M_DROP || mode == M_RESET ||
				    mode == M_HALFCLOSE)) {
			long room = arg - moved;

			if (room <= 0 && mode == M_DROP)
				continue;
			if (r > room)
				r = room > 0 ? room : 0;
			if (r && send_all(e->to, buf, (size_t)r))
				break;
			moved += r;
			if (moved < arg)
				continue;
			if (mode == M_RESET) {
				rst(e->from);
				rst(e->to);
				return NULL;
			}
			if (mode == M_HALFCLOSE) {
				shutdown(e->to, SHUT_WR);
				return NULL;
			}
			continue;
		}
		if (e->upstream && mode == M_BYTEWISE) {
			for (ssize_t i = 0; i < r; i++) {
				if (send_all(e->to, buf + i, 1))
					goto out;
				sleep_ms(1);
			}
			continue;
		}
		if (send_all(e->to, buf, (size_t)r))
			break;
	}
out:
	shutdown(e->to, SHUT_WR);
	return NULL;
}

static void *conn_main(void *a)
{
	int c = (int)(intptr_t)a, s, one = 1;
	struct sockaddr_in t = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)target),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct pipe_end up, down;
	pthread_t th;

	s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&t, sizeof(t))) {
		rst(c);
		if (s >= 0)
			close(s);
		return NULL;
	}
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	up = (struct pipe_end){c, s, 1, &down};
	down = (struct pipe_end){s, c, 0, &up};
	pthread_create(&th, NULL, pump, &down);
	pump(&up);
	pthread_join(th, NULL);
	close(c);
	close(s);
	return NULL;
}

int main(int argc, char **argv)
{
	static const char *const names[] = {"pass", "delay", "bytewise",
					    "drop", "reset", "halfclose"};
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int l, one = 1;

	if (argc < 3)
		goto usage;
	for (mode = 0; mode <= M_HALFCLOSE; mode++)
		if (!strcmp(argv[1], names[mode]))
			break;
	if (mode > M_HALFCLOSE)
		goto usage;
	target = (unsigned)atoi(argv[2]);
	arg = argc > 3 ? atol(argv[3]) : 0;
	signal(SIGPIPE, SIG_IGN);
	l = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(l, 128) || getsockname(l, (struct sockaddr *)&a, &al)) {
		perror("proxy");
		return 1;
	}
	printf("%u\n", ntohs(a.sin_port));
	fflush(stdout);
	for (;;) {
		int c = accept(l, NULL, NULL);
		pthread_t th;

		if (c < 0)
			continue;
		pthread_create(&th, NULL, conn_main, (void *)(intptr_t)c);
		pthread_detach(th);
	}
usage:
	fprintf(stderr, "usage: proxy pass|delay|bytewise|drop|reset|halfclose "
			"TARGET_PORT [MS or N]\n");
	return 2;
}
