/*
 * rdma.h - the RDMA transport's device layer and bookkeeping.
 *
 * rdma.c keeps what does not depend on the hardware: which devices a
 * --device value opens, the registrations of segment memory on every open
 * device (one rkey in descriptors: the first device's), and the librdmacm
 * listener's lifetime. It reaches the hardware only through struct
 * xfer_rdma_dev, so tests stand in for it (tests/check_rdma.c);
 * transport_rdma.c is the real one over rdma-core.
 */
#ifndef XFER_RDMA_H
#define XFER_RDMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define XFER_RDMA_NAME_MAX 64
#define XFER_RDMA_DEV_MAX  16

/*
 * The few verbs calls the RDMA transport needs. All return 0 (or a count)
 * or -errno; @err gets a one-line reason where there is one.
 */
struct xfer_rdma_dev {
	/* Names of the devices present, at most @max: count or -errno. */
	int (*list)(char (*names)[XFER_RDMA_NAME_MAX], int max,
		    struct mc_err *err);
	/* Opens a device and allocates its protection domain. */
	int (*open)(const char *name, void **dev, struct mc_err *err);
	void (*close)(void *dev);
	/* Registers memory for local write, remote read and remote write. */
	int (*reg)(void *dev, void *base, uint64_t size, void **mr,
		   uint32_t *rkey);
	void (*dereg)(void *mr);
	/* A librdmacm listener on host:port accepting one-sided peers. */
	int (*listen)(void *dev, const char *host, unsigned port, void **lis,
		      struct mc_err *err);
	void (*unlisten)(void *lis);
};

#ifdef ENABLE_RDMA
/* rdma-core's libibverbs and librdmacm (transport_rdma.c). */
extern const struct xfer_rdma_dev xfer_rdma_verbs;
#endif

struct xfer_rdma;

/*
 * A context for xfer_rdma_ops in *@out, over @dev (NULL: no RDMA in this
 * build, every registration is refused) and the device list @device
 * ("" = the first device that opens; else names separated by commas or
 * blanks, each of which must exist). With @open_now the devices are
 * opened here and a failure is returned (nothing is kept): -EINVAL (bad
 * device list), -EOPNOTSUPP (no such device, no rdma-core) or the device
 * layer's error, with @err. Otherwise they are opened by the first
 * registration, which logs and returns the same errors. -ENOMEM. Free
 * with xfer_rdma_ops.free.
 */
int xfer_rdma_new(const struct xfer_rdma_dev *dev, const char *device,
		  bool open_now, struct xfer_rdma **out, struct mc_err *err);

#endif
