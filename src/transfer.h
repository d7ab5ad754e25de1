/*
 * transfer.h - the transfer port (CONTRACT section 6): Mooncake's TCP
 * transfer framing on a listener, and RDMA registration when built with
 * rdma-core. The transports sit behind a small vtable (struct
 * mc_transport); TCP is always there.
 */
#ifndef MC_TRANSFER_H
#define MC_TRANSFER_H

#include <stdint.h>
#include <stddef.h>

struct mc_store;
struct mc_store_opts;
struct mc_xfer;

struct mc_xfer_opts {
	const char *host;         /* bind address */
	unsigned port;            /* 0: the kernel picks */
	const char *protocol;     /* "tcp" or "rdma" */
	const char *device;       /* RDMA device name(s), "" = first found */
};

/*
 * Prepares the transports before the store exists: fills the store
 * options' register_mem/unregister_mem hooks (RDMA registration, or a
 * refusal naming why rdma is unavailable). Returns NULL and @err on
 * failure.
 */
struct mc_xfer *mc_xfer_new(const struct mc_xfer_opts *o,
			    struct mc_store_opts *so, char *err, size_t errlen);
/* Starts the listener for @s. 0 or -errno with @err. */
int mc_xfer_start(struct mc_xfer *x, struct mc_store *s, char *err,
		  size_t errlen);
unsigned mc_xfer_port(const struct mc_xfer *x);
/* Stops the listener, closes connections, frees @x. */
void mc_xfer_free(struct mc_xfer *x);

#endif
