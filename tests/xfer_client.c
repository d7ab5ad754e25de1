/*
 * xfer_client.c - a small client of the transfer port, for the tests.
 *
 *   xfer_client HOST PORT read  ADDR SIZE [v1|v2] [COUNT]
 *   xfer_client HOST PORT write ADDR SIZE [v1|v2]
 *
 * read writes the bytes to stdout (COUNT requests on one connection, the
 * data of each in turn); write sends SIZE bytes read from stdin (if stdin
 * ends early, the client quits mid-WRITE, as a dying client would). ADDR
 * is decimal or 0x-hex. Exit status: 0 done, 3 rejected (v2 status 1),
 * 4 the server closed the connection (a v1 rejection), 1 other errors,
 * 2 usage.
 *
 * check_transfer.c includes this file with XFER_CLIENT_LIB defined to use
 * the same request code in-process. A v1 WRITE is confirmed with a v2
 * probe on the same connection (see xc_write).
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transfer.h"

enum { XC_OK = 0, XC_REJECTED = 1 };

static int xc_connect(const char *host, unsigned port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
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

/* Moves all @n bytes: 0, or -EPIPE when the connection ends or fails. */
static int xc_io(int fd, void *p, size_t n, bool out)
{
	char *b = p;

	while (n) {
		ssize_t r = out ? send(fd, b, n, MSG_NOSIGNAL) :
				  recv(fd, b, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -EPIPE;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

static int xc_send_all(int fd, const void *p, size_t n)
{
	return xc_io(fd, (void *)p, n, true);
}

static int xc_recv_all(int fd, void *p, size_t n)
{
	return xc_io(fd, p, n, false);
}

static int xc_header(int fd, unsigned op, uint64_t addr, uint64_t size,
		     bool v2)
{
	struct mc_xfer_hdr h = { .size = size, .addr = addr,
				 .opcode = (uint8_t)(op | (v2 ? MC_XFER_V2 : 0)) };
	unsigned char w[MC_XFER_HDR_LEN];

	mc_xfer_hdr_encode(&h, w);
	return xc_send_all(fd, w, sizeof(w));
}

/* XC_OK, XC_REJECTED, -EPIPE (closed), -EPROTO (bad frame). */
static int xc_status(int fd)
{
	unsigned char st[MC_XFER_STATUS_LEN];
	int code;

	if (xc_recv_all(fd, st, sizeof(st)))
		return -EPIPE;
	code = mc_xfer_status_decode(st);
	if (code == MC_XFER_OK)
		return XC_OK;
	return code == MC_XFER_REJECTED ? XC_REJECTED : -EPROTO;
}

/* A READ into @buf: XC_OK, XC_REJECTED, -EPIPE, -EPROTO. */
static int xc_read(int fd, uint64_t addr, uint64_t size, bool v2, void *buf)
{
	int rc = xc_header(fd, MC_XFER_OP_READ, addr, size, v2);

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

/*
 * A WRITE from @buf. A server that rejects the range closes without
 * reading the payload, so a failed send still looks for the status.
 */
static int xc_write(int fd, uint64_t addr, uint64_t size, bool v2,
		    const void *buf)
{
	int rc = xc_header(fd, MC_XFER_OP_WRITE, addr, size, v2);

	if (rc)
		return rc;
	rc = xc_send_all(fd, buf, size);
	if (v2)
		return xc_status(fd);
	if (rc)
		return rc;
	/*
	 * v1 answers nothing, and a rejection is only a close: a v2 probe on
	 * the same connection tells the two apart (any status means the
	 * WRITE before it was taken; the probe itself may be refused).
	 */
	rc = xc_header(fd, MC_XFER_OP_READ, addr, 1, true);
	if (rc == 0)
		rc = xc_status(fd);
	return rc == XC_OK || rc == XC_REJECTED ? XC_OK : rc;
}

#ifdef XFER_CLIENT_LIB
/* 1 when the server has closed the connection (EOF or reset), else 0. */
static int xc_closed(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&p, 1, 5000) <= 0)
		return 0;
	return recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}
#else
static int usage(void)
{
	fprintf(stderr, "usage: xfer_client HOST PORT read ADDR SIZE "
		"[v1|v2] [COUNT]\n"
		"       xfer_client HOST PORT write ADDR SIZE [v1|v2]\n");
	return 2;
}

static int exit_code(int rc)
{
	switch (rc) {
	case XC_OK:
		return 0;
	case XC_REJECTED:
		fprintf(stderr, "xfer_client: rejected\n");
		return 3;
	case -EPIPE:
		fprintf(stderr, "xfer_client: connection closed\n");
		return 4;
	default:
		fprintf(stderr, "xfer_client: %s\n", strerror(-rc));
		return 1;
	}
}

int main(int argc, char **argv)
{
	char *end;
	uint64_t addr, size;
	unsigned long count = 1;
	bool v2 = true;
	unsigned char *buf;
	int fd, rc = 0;

	if (argc < 6 || argc > 8)
		return usage();
	errno = 0;
	addr = strtoull(argv[4], &end, 0);
	if (errno || *end)
		return usage();
	size = strtoull(argv[5], &end, 0);
	if (errno || *end || size > (1ull << 32))
		return usage();
	if (argc > 6) {
		if (!strcmp(argv[6], "v1"))
			v2 = false;
		else if (strcmp(argv[6], "v2"))
			return usage();
	}
	if (argc > 7) {
		count = strtoul(argv[7], &end, 10);
		if (*end || !count || strcmp(argv[3], "read"))
			return usage();
	}
	buf = malloc(size ? size : 1);
	if (!buf)
		return 1;
	fd = xc_connect(argv[1], (unsigned)atoi(argv[2]));
	if (fd < 0) {
		fprintf(stderr, "xfer_client: cannot connect to %s port %s\n",
			argv[1], argv[2]);
		return 1;
	}
	if (!strcmp(argv[3], "read")) {
		for (unsigned long i = 0; i < count && rc == 0; i++) {
			rc = xc_read(fd, addr, size, v2, buf);
			if (rc == 0 && fwrite(buf, 1, size, stdout) != size)
				rc = -EIO;
		}
	} else if (!strcmp(argv[3], "write")) {
		size_t got = fread(buf, 1, size, stdin);

		if (got < size) {
			/* Die mid-WRITE: header and part of the payload. */
			xc_header(fd, MC_XFER_OP_WRITE, addr, size, v2);
			xc_send_all(fd, buf, got);
			fprintf(stderr, "xfer_client: stdin ended after %zu "
				"of %llu bytes\n", got,
				(unsigned long long)size);
			return 1;
		}
		rc = xc_write(fd, addr, size, v2, buf);
	} else {
		return usage();
	}
	close(fd);
	free(buf);
	return exit_code(rc);
}
#endif
