/*
 * transport.h - the transports of the transfer port behind one vtable
 * (after redis's ConnectionType): the port picks a transport by its
 * protocol name and passes the transport's own context to every call.
 *
 *   tcp   carries the framing (frame.h) on a socket the port's event
 *         loops accept from; needs no memory registration.
 *   rdma  moves no bytes through the daemon: it registers segment memory
 *         (peers post one-sided READ/WRITE with the rkey) and accepts
 *         librdmacm peers on its own thread. Always present: in a build
 *         without rdma-core, or without a device, it refuses with a
 *         one-line reason.
 *
 * Every operation may be NULL when the transport has no use for it.
 * Unless said otherwise the calls are made from one thread at a time;
 * register_mem/unregister_mem must be thread-safe (mounts and unmounts
 * come from any door's thread).
 */
#ifndef XFER_TRANSPORT_H
#define XFER_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "err.h"

struct xfer_transport_ops {
	const char *name; /* the protocol: "tcp", "rdma" */
	/*
	 * Starts listening on host:*port (0 = any; the port taken is
	 * stored). *lfd gets a socket for the port's event loops to accept
	 * from, or -1 when the transport accepts on its own. 0 or -errno
	 * with @err.
	 */
	int (*listen)(void *ctx, const char *host, unsigned *port, int *lfd,
		      struct mc_err *err);
	/* Stops what listen started on the transport's own (idempotent). */
	void (*unlisten)(void *ctx);
	/* A new connection from a listening socket: fd, or -errno. */
	int (*accept)(void *ctx, int lfd);
	/* Moves bytes; returns bytes moved or -errno (-EAGAIN: not now). */
	ssize_t (*sendv)(void *ctx, int fd, const struct iovec *iov, int n);
	ssize_t (*recv)(void *ctx, int fd, void *buf, size_t len);
	/* Memory registration: 0 and the remote key, or -errno. */
	int (*register_mem)(void *ctx, void *base, uint64_t size,
			    uint32_t *rkey);
	void (*unregister_mem)(void *ctx, void *base, uint64_t size);
	/* Releases the context (and what is still registered). */
	void (*free)(void *ctx);
};

struct xfer_transport {
	const struct xfer_transport_ops *ops;
	void *ctx;
};

/* TCP (transport_tcp.c): no context. */
extern const struct xfer_transport_ops xfer_tcp_ops;

/* RDMA (rdma.c): its context comes from xfer_rdma_new() in rdma.h. */
extern const struct xfer_transport_ops xfer_rdma_ops;

#endif
