/*
 * xfer_client.c - a small client of the transfer port, for the tests: the
 * request code that tests/check_transfer.c links and that the scripts'
 * command (xfer_client_main.c) wraps. See xfer_client.h.
 */
#include "autoconfig.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "frame.h"
#include "xfer_client.h"

unsigned xc_timeout_ms;

int xc_connect(const char *host, unsigned port)
{
	struct timeval tv = {.tv_sec = xc_timeout_ms / 1000,
			     .tv_usec = (xc_timeout_ms % 1000) * 1000};
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res, *ai;
	char serv[16];
	int fd = -1, one = 1;

	snprintf(serv, sizeof(serv), "%u", port);
	if (getaddrinfo(host, serv, &hints, &res))
		return -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		/* bounds the connect too (socket(7), SO_SNDTIMEO) */
		if (xc_timeout_ms) {
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
				   sizeof(tv));
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
				   sizeof(tv));
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return -ECONNREFUSED;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int xc_connect_ep(const char *ep)
{
	char host[300];
	const char *colon = ep ? strrchr(ep, ':') : NULL;
	size_t n;

	if (!colon || colon == ep || !colon[1])
		return -EINVAL;
	n = (size_t)(colon - ep);
	if (ep[0] == '[' && colon[-1] == ']') {
		ep++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(host))
		return -EINVAL;
	memcpy(host, ep, n);
	host[n] = '\0';
	return xc_connect(host, (unsigned)atoi(colon + 1));
}

/* Moves all @n bytes: 0, or -EPIPE when the connection ends or fails. */
static int xc_io(int fd, void *p, size_t n, bool out)
{
	char *b = p;

	while (n) {
		ssize_t r =
			out ? send(fd, b, n, MSG_NOSIGNAL) : recv(fd, b, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -EPIPE;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

int xc_send_all(int fd, const void *p, size_t n)
{
	return xc_io(fd, (void *)p, n, true);
}

int xc_recv_all(int fd, void *p, size_t n)
{
	return xc_io(fd, p, n, false);
}

int xc_header(int fd, unsigned op, uint64_t addr, uint64_t size, bool v2)
{
	struct xfer_hdr h = {.size = size,
			     .addr = addr,
			     .opcode = (uint8_t)(op | (v2 ? XFER_V2 : 0))};
	unsigned char w[XFER_HDR_LEN];

	xfer_hdr_encode(&h, w);
	return xc_send_all(fd, w, sizeof(w));
}

/* XC_OK, XC_REJECTED, -EPIPE (closed), -EPROTO (bad frame). */
int xc_status(int fd)
{
	unsigned char st[XFER_STATUS_LEN];
	int code;

	if (xc_recv_all(fd, st, sizeof(st)))
		return -EPIPE;
	code = xfer_status_decode(st);
	if (code == XFER_OK)
		return XC_OK;
	return code == XFER_REJECTED ? XC_REJECTED : -EPROTO;
}

/* A READ into @buf: XC_OK, XC_REJECTED, -EPIPE, -EPROTO. */
int xc_read(int fd, uint64_t addr, uint64_t size, bool v2, void *buf)
{
	int rc = xc_header(fd, XFER_OP_READ, addr, size, v2);

	if (rc)
		return rc;
	if (v2 && (rc = xc_status(fd)) != XC_OK)
		return rc;
	if (size == 0) {
		/* v1 has no status: the answer to size 0 is the close. */
		char c;
		return xc_recv_all(fd, &c, 1) ? -EPIPE : -EPROTO;
	}
	return xc_recv_all(fd, buf, size);
}

int xc_write_end(int fd, uint64_t addr, bool v2)
{
	int rc;

	if (v2)
		return xc_status(fd);
	/*
	 * v1 answers nothing, and a rejection is only a close: a v2 probe on
	 * the same connection tells the two apart (any status means the
	 * WRITE before it was taken; the probe itself may be refused).
	 */
	rc = xc_header(fd, XFER_OP_READ, addr, 1, true);
	if (rc == 0)
		rc = xc_status(fd);
	return rc == XC_OK || rc == XC_REJECTED ? XC_OK : rc;
}

/*
 * A WRITE from @buf. A server that rejects the range closes without
 * reading the payload, so a failed send still looks for the status.
 */
int xc_write(int fd, uint64_t addr, uint64_t size, bool v2, const void *buf)
{
	int rc = xc_header(fd, XFER_OP_WRITE, addr, size, v2);

	if (rc)
		return rc;
	rc = xc_send_all(fd, buf, size);
	if (rc && !v2)
		return rc;
	return xc_write_end(fd, addr, v2);
}

/* 1 when the server has closed the connection (EOF or reset), else 0. */
int xc_closed(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char c;

	if (poll(&p, 1, 5000) <= 0)
		return 0;
	return recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}
