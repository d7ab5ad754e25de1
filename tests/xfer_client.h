/*
 * xfer_client.h - a client of the transfer port (mooncake-transfer(7))
 * for the tests, linked by tests/check_transfer.c and wrapped by the
 * scripts' command tests/xfer_client (xfer_client_main.c). Blocking
 * sockets; every call moves all its bytes or fails.
 */
#ifndef MC_TESTS_XFER_CLIENT_H
#define MC_TESTS_XFER_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { XC_OK = 0, XC_REJECTED = 1 };

/*
 * Every wait of the sockets xc_connect makes from then on (the connect,
 * each send and receive) ends after this many ms with a failure; 0, the
 * default, waits for ever. A test whose peers may vanish without a
 * reset (a cut network) sets it.
 */
extern unsigned xc_timeout_ms;
/* A connected socket with TCP_NODELAY: fd, -EHOSTUNREACH or -ECONNREFUSED. */
int xc_connect(const char *host, unsigned port);
/*
 * The same for an endpoint "HOST:PORT" as descriptors name it (a
 * leading "[...]" holds an IPv6 address): -EINVAL when it is none.
 */
int xc_connect_ep(const char *ep);
/* Moves all @n bytes: 0, or -EPIPE when the connection ends or fails. */
int xc_send_all(int fd, const void *p, size_t n);
int xc_recv_all(int fd, void *p, size_t n);
/* Sends one request header (@op XFER_OP_READ or _WRITE). */
int xc_header(int fd, unsigned op, uint64_t addr, uint64_t size, bool v2);
/* Reads a status frame: XC_OK, XC_REJECTED, -EPIPE (closed), -EPROTO. */
int xc_status(int fd);
/* A READ into @buf: XC_OK, XC_REJECTED, -EPIPE, -EPROTO. */
int xc_read(int fd, uint64_t addr, uint64_t size, bool v2, void *buf);
/*
 * A WRITE from @buf: XC_OK, XC_REJECTED, -EPIPE, -EPROTO. A v1 WRITE is
 * confirmed with a v2 probe on the same connection.
 */
int xc_write(int fd, uint64_t addr, uint64_t size, bool v2, const void *buf);
/*
 * The end of a WRITE whose header and bytes were sent: the status (v2),
 * or the v1 probe's verdict as in xc_write.
 */
int xc_write_end(int fd, uint64_t addr, bool v2);
/* 1 when the server has closed the connection (EOF or reset), else 0. */
int xc_closed(int fd);

#endif
