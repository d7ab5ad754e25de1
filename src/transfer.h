/*
 * transfer.h - the transfer port (CONTRACT section 6): Mooncake's TCP
 * transfer framing on a listener, and RDMA registration when built with
 * rdma-core. The transports sit behind a small vtable (struct
 * mc_transport); TCP is always there.
 *
 * The TCP port runs a few event loops (epoll, one thread each); every
 * connection belongs to one loop and is a small state machine, so idle
 * connections cost no thread and a request never waits for another
 * connection's request to finish. Bytes move between the socket and the
 * replica buffer with send/recv on the buffer's address (no staging copy),
 * while a pin (mc_pin_read/mc_pin_write) keeps the range valid.
 */
#ifndef MC_TRANSFER_H
#define MC_TRANSFER_H

#include <stdint.h>
#include <stddef.h>
#include <sys/uio.h>

struct mc_store;
struct mc_store_opts;
struct mc_xfer;
struct mc_rdma_dev;

struct mc_xfer_opts {
	const char *host;         /* bind address */
	unsigned port;            /* 0: the kernel picks */
	const char *protocol;     /* "tcp" or "rdma" */
	const char *device;       /* RDMA device name(s), "" = first found */
	/*
	 * The RDMA device layer. NULL: rdma-core's verbs when the build has
	 * it (ENABLE_RDMA), else none (every rdma request is refused). Tests
	 * pass a fake one.
	 */
	const struct mc_rdma_dev *rdma_dev;
	unsigned loops;           /* event loops (at most 8); 0: one per CPU, >= 2 */
	/*
	 * A connection in the middle of a request that makes no progress for
	 * this long is closed (its pin released). 0: 30000.
	 */
	unsigned stall_ms;
};

/*
 * Prepares the transports before the store exists: fills the store
 * options' register_mem/unregister_mem hooks (RDMA registration, or a
 * refusal naming why rdma is unavailable). With protocol "rdma" the
 * device is opened now, and a missing device fails here ("no RDMA device
 * found", or the missing device's name). Returns NULL with @err and
 * errno set on failure: EINVAL (unknown protocol, bad device list),
 * EOPNOTSUPP (no such RDMA device, or no rdma-core in the build), or the
 * device layer's error. The hooks are thread-safe and log one line when
 * they refuse a registration.
 */
struct mc_xfer *mc_xfer_new(const struct mc_xfer_opts *o,
			    struct mc_store_opts *so, char *err, size_t errlen);
/*
 * Starts the listener for @s (and, with rdma, the librdmacm listener on
 * the same port number), registers the transfer metrics in
 * mc_store_metrics(@s) and sets the store's endpoint to
 * "HOSTNAME:PORT" (the store's hostname option). 0 or -errno with @err.
 */
int mc_xfer_start(struct mc_xfer *x, struct mc_store *s, char *err,
		  size_t errlen);
unsigned mc_xfer_port(const struct mc_xfer *x);
/*
 * Stops the listeners and closes every connection (releasing their pins),
 * so that nothing touches the store any more; the registration hooks stay
 * valid, so the store can be freed (and its rdma segments unregistered)
 * after this and before mc_xfer_free. Idempotent.
 */
void mc_xfer_stop(struct mc_xfer *x);
/* Stops (mc_xfer_stop), deregisters what is left, frees @x. */
void mc_xfer_free(struct mc_xfer *x);

/* ------------------------------------------------------------ framing */

#define MC_XFER_HDR_LEN 24
#define MC_XFER_STATUS_LEN 8
#define MC_XFER_OP_READ 0
#define MC_XFER_OP_WRITE 1
#define MC_XFER_V2 0x80                 /* opcode bit: status frames */
#define MC_XFER_MAGIC 0x4D435456ull     /* "MCTV", high half of a status */
#define MC_XFER_OK 0
#define MC_XFER_REJECTED 1

struct mc_xfer_hdr {
	uint64_t size;
	uint64_t addr;
	uint8_t opcode;
};

/* Little-endian wire form: u64 size, u64 addr, u8 opcode, 7 zero bytes. */
void mc_xfer_hdr_encode(const struct mc_xfer_hdr *h,
			unsigned char out[MC_XFER_HDR_LEN]);
void mc_xfer_hdr_decode(const unsigned char in[MC_XFER_HDR_LEN],
			struct mc_xfer_hdr *h);
void mc_xfer_status_encode(unsigned code,
			   unsigned char out[MC_XFER_STATUS_LEN]);
/* The code of a status frame, or -1 when its magic is wrong. */
int mc_xfer_status_decode(const unsigned char in[MC_XFER_STATUS_LEN]);

/* ---------------------------------------------------------- transports */

/*
 * A transport. TCP carries the framing above; RDMA only registers memory
 * (peers post one-sided READ/WRITE with the rkey) and accepts librdmacm
 * connections. Every member may be NULL when the transport has no use
 * for it. @ctx is the transport's own state.
 */
struct mc_transport {
	const char *name;
	/*
	 * Starts listening on host:*port (0 = any; the port taken is stored).
	 * *lfd gets a socket for the caller's event loop to accept from, or
	 * -1 when the transport accepts on its own.
	 */
	int (*listen)(void *ctx, const char *host, unsigned *port, int *lfd,
		      char *err, size_t errlen);
	/* A new connection from a listening socket: fd, or -errno. */
	int (*accept)(void *ctx, int lfd);
	/* Moves bytes; returns bytes moved or -errno (-EAGAIN: not now). */
	ssize_t (*sendv)(void *ctx, int fd, const struct iovec *iov, int n);
	ssize_t (*recv)(void *ctx, int fd, void *buf, size_t len);
	/* Memory registration: 0 and the remote key, or -errno. */
	int (*register_mem)(void *ctx, void *base, uint64_t size,
			    uint32_t *rkey);
	void (*unregister_mem)(void *ctx, void *base, uint64_t size);
};

/* TCP (src/transport_tcp.c). The rdma transport lives in transfer.c, over
 * the device layer below. */
extern const struct mc_transport mc_transport_tcp;

/* ----------------------------------------------------- RDMA device layer */

#define MC_RDMA_NAME_MAX 64
#define MC_RDMA_DEV_MAX 16

/*
 * The few verbs calls the RDMA transport needs, so that tests can stand in
 * for the hardware. All return 0 (or a count) or -errno; @err gets a
 * one-line reason where there is one.
 */
struct mc_rdma_dev {
	/* Names of the devices present, at most @max: count or -errno. */
	int (*list)(char (*names)[MC_RDMA_NAME_MAX], int max, char *err,
		    size_t errlen);
	/* Opens a device and allocates its protection domain. */
	int (*open)(const char *name, void **dev, char *err, size_t errlen);
	void (*close)(void *dev);
	/* Registers memory for local write, remote read and remote write. */
	int (*reg)(void *dev, void *base, uint64_t size, void **mr,
		   uint32_t *rkey);
	void (*dereg)(void *mr);
	/* A librdmacm listener on host:port accepting one-sided peers. */
	int (*listen)(void *dev, const char *host, unsigned port, void **lis,
		      char *err, size_t errlen);
	void (*unlisten)(void *lis);
};

#ifdef ENABLE_RDMA
/* rdma-core's libibverbs and librdmacm (src/transport_rdma.c). */
extern const struct mc_rdma_dev mc_rdma_verbs;
#endif

#endif
