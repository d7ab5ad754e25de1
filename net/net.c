/*
 * net.c - the TCP helpers the doors share (net.h).
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"

int mc_net_split(const char *ep, char *host, size_t hlen, unsigned *port)
{
	const char *colon = ep ? strrchr(ep, ':') : NULL;
	unsigned long p;
	size_t n;

	if (!colon || colon == ep || !colon[1] || strlen(colon + 1) > 5 ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return -EINVAL;
	p = strtoul(colon + 1, NULL, 10);
	if (p == 0 || p > 65535)
		return -EINVAL;
	n = (size_t)(colon - ep);
	if (ep[0] == '[' && colon[-1] == ']') {
		ep++;
		n = n >= 2 ? n - 2 : 0;
	}
	if (n == 0 || n >= hlen)
		return -EINVAL;
	memcpy(host, ep, n);
	host[n] = '\0';
	*port = (unsigned)p;
	return 0;
}

static int connect_one(const struct addrinfo *ai, unsigned connect_ms,
		       unsigned io_ms)
{
	struct timeval tv = {.tv_sec = io_ms / 1000,
			     .tv_usec = (io_ms % 1000) * 1000};
	int fd, rc, soerr = 0, one = 1;
	socklen_t sl = sizeof(soerr);
	struct pollfd pf;

	fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			rc = -errno;
			goto fail;
		}
		pf = (struct pollfd){.fd = fd, .events = POLLOUT};
		do
			rc = poll(&pf, 1, (int)connect_ms);
		while (rc < 0 && errno == EINTR);
		if (rc == 0) {
			rc = -ETIMEDOUT;
			goto fail;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			soerr = errno;
		if (soerr) {
			rc = -soerr;
			goto fail;
		}
	}
	/* blocking from here on, each wait bounded by the timeouts */
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		rc = -errno;
		goto fail;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
fail:
	close(fd);
	return rc;
}

int mc_net_dial(const char *host, unsigned port, unsigned connect_ms,
		unsigned io_ms, int *gai)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV},
			*res, *ai;
	char serv[8];
	int rc, fd = -ECONNREFUSED;

	if (gai)
		*gai = 0;
	snprintf(serv, sizeof(serv), "%u", port);
	rc = getaddrinfo(host, serv, &hints, &res);
	if (rc) {
		if (gai)
			*gai = rc;
		return -EHOSTDOWN;
	}
	for (ai = res; ai && fd < 0; ai = ai->ai_next)
		fd = connect_one(ai, connect_ms, io_ms);
	freeaddrinfo(res);
	return fd;
}
