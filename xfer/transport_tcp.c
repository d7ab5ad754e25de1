/*
 * transport_tcp.c - the TCP transport: a non-blocking listener, accepted
 * sockets tuned for the framing, and the two I/O calls the event loops
 * use. The connection state machine lives in loop.c, the framing in
 * frame.c.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transport.h"

static int tcp_listen(void *ctx, const char *host, unsigned *port, int *lfd,
		      struct mc_err *err)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		/* An address, never a name: no DNS query at start-up. */
		.ai_flags = AI_PASSIVE | AI_NUMERICSERV | AI_NUMERICHOST,
	};
	struct addrinfo *res, *ai;
	char serv[16];
	int fd = -1, rc, one = 1, saved = 0;

	if (*port > 65535) {
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "invalid transfer port '%u'", *port);
	}
	snprintf(serv, sizeof(serv), "%u", *port);
	if (host && !strcmp(host, "localhost"))
		host = "127.0.0.1"; /* as the HTTP door reads it */
	rc = getaddrinfo(host && *host ? host : NULL, serv, &hints, &res);
	if (rc) {
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "cannot resolve transfer host '%s': %s",
				  host ? host : "", gai_strerror(rc));
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family,
			    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, 1024) == 0) {
			/*
			 * A connection is handed over once its first bytes
			 * are in (a client that sends nothing for a second
			 * is handed over anyway), so the header is there to
			 * serve on accept; accepted sockets inherit
			 * TCP_NODELAY from the listener.
			 */
			setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &one,
				   sizeof(one));
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				   sizeof(one));
			break;
		}
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		/* name the option that picks another port */
		return mc_err_set(
			err, -saved, MC_INTERNAL_ERROR,
			"cannot listen on '%s' port %u: %s%s", host ? host : "",
			*port, strerror(saved),
			saved == EADDRINUSE
				? "; choose another with --transfer-port"
				: "");
	}

	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET)
			*port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			*port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	*lfd = fd;
	return 0;
}

static int tcp_accept(void *ctx, int lfd)
{
	/*
	 * Status frames and small READs must not wait for Nagle: the socket
	 * has TCP_NODELAY from the listener (tcp_listen), one call fewer per
	 * connection.
	 */
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

static ssize_t tcp_sendv(void *ctx, int fd, const struct iovec *iov, int n)
{
	struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = n};
	ssize_t r;

	do
		r = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return r;
}

static ssize_t tcp_recv(void *ctx, int fd, void *buf, size_t len)
{
	ssize_t r;

	do
		r = recv(fd, buf, len, MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return r;
}

const struct xfer_transport_ops xfer_tcp_ops = {
	.name = "tcp",
	.listen = tcp_listen,
	.accept = tcp_accept,
	.sendv = tcp_sendv,
	.recv = tcp_recv,
};
