/*
 * xfer.h - the transfer port, the third door (mooncake-transfer(7)):
 * Mooncake's TCP transfer framing on a listener, and RDMA registration
 * when built with rdma-core. The transports sit behind one vtable
 * (transport.h), picked by protocol.
 *
 * The TCP port runs a few event loops (epoll, one thread each); every
 * connection belongs to one loop and is a small state machine, so idle
 * connections cost no thread and a request never waits for another
 * connection's request to finish. Bytes move between the socket and the
 * replica buffer with send/recv on the buffer's address (no staging copy),
 * while a pin (mc_pin_read/mc_pin_write) keeps the range valid.
 *
 * The port owns the endpoint the store advertises in descriptors
 * ("HOSTNAME:PORT"): xfer_start() sets it, nobody else does.
 */
#ifndef XFER_XFER_H
#define XFER_XFER_H

#include <stddef.h>

#include "err.h"

struct mc_store;
struct mc_store_opts;
struct xfer;
struct xfer_rdma_dev;

struct xfer_opts {
	const char *host; /* bind address */
	unsigned port;	  /* 0: the kernel picks */
	/*
	 * The name peers reach this node by, advertised as HOSTNAME:PORT
	 * (--hostname). NULL or "": "localhost".
	 */
	const char *hostname;
	const char *protocol; /* "tcp" or "rdma" */
	const char *device;   /* RDMA device name(s), "" = first found */
	/*
	 * The RDMA device layer. NULL: rdma-core's verbs when the build has
	 * it (ENABLE_RDMA), else none (every rdma request is refused). Tests
	 * pass a fake one.
	 */
	const struct xfer_rdma_dev *rdma_dev;
	unsigned loops; /* event loops (at most 8); 0: one per two CPUs */
	/*
	 * A connection in the middle of a request that makes no progress for
	 * this long is closed (its pin released). 0: 30000.
	 */
	unsigned stall_ms;
	/*
	 * The TCP congestion control (TCP_CONGESTION) of the port's
	 * connections and of those this node opens to other transfer ports
	 * (--transfer-congestion). NULL: net/cc.h's MC_NET_CC_DEFAULT, or
	 * the system's (with one info line) when this process may not set
	 * that one; "" or "system": the system's.
	 */
	const char *congestion;
};

/*
 * Prepares the transports before the store exists: fills the store
 * options' register_mem/unregister_mem hooks, which hand each segment to
 * the transport of its protocol (tcp needs nothing; rdma registers, or
 * refuses naming why rdma is unavailable), and its data hooks, which read
 * the bytes of replicas held in other processes with TE's TCP framing
 * (a client's segment: at the data port of the descriptor the client
 * published in the store's metadata server, once xfer_start has the
 * store; a node's: at its transfer endpoint; 5 s to answer, then the
 * read fails and the core says REMOTE_ONLY). With protocol "rdma" the
 * device is opened now; a missing one (no such RDMA device, or no
 * rdma-core in the build) does not fail the port: it logs a warning,
 * leaves the reason in @err->msg, and every rdma registration is then
 * refused (-EOPNOTSUPP). Returns NULL with @err and errno set on failure:
 * EINVAL (unknown protocol, bad device list, a named congestion control
 * this kernel does not have or refuses this process), ENOMEM, or the
 * device layer's error (a named device that is there but does not
 * open). The hooks are thread-safe and log one line when they refuse a
 * registration.
 */
struct xfer *xfer_new(const struct xfer_opts *o, struct mc_store_opts *so,
		      struct mc_err *err);
/*
 * Starts the listener for @s (and, with rdma, the librdmacm listener on
 * the same port number), registers the transfer metrics in
 * mc_store_metrics(@s), sets the store's endpoint to HOSTNAME:PORT and,
 * when the store has a metadata server, publishes this node's TE segment
 * under that name (mc_meta_publish: host HOSTNAME, data port PORT; until
 * xfer_stop). 0 or -errno with @err.
 */
int xfer_start(struct xfer *x, struct mc_store *s, struct mc_err *err);
unsigned xfer_port(const struct xfer *x);
/*
 * Checks, after xfer_start, that the advertised endpoint leads to the
 * listener: HOSTNAME must resolve, and a connection to one of its
 * addresses at the port must be accepted (within a second), as a peer's
 * would. 0, or -errno with a one-line reason in @err naming the endpoint
 * and the listener: -EHOSTUNREACH (HOSTNAME does not resolve, or no
 * address of it connects). 1 when it connects but HOSTNAME resolves to
 * loopback addresses only while the port listens on another address
 * (peers on other hosts would reach themselves), with the reason in @err.
 */
int xfer_check_endpoint(struct xfer *x, struct mc_err *err);
/* Whether @host is this machine: one of its addresses can be bound. */
bool xfer_host_is_local(const char *host);
/*
 * Tells @x how to know another transfer port of the same store (in
 * cluster mode, a node's): a client's descriptor that leads to one is
 * never read as the client's memory, since its bytes are the store's
 * own (mooncake-rpc(7), CLIENT SEGMENTS). @fn(@arg, HOST, PORT) is
 * called from any thread. Before xfer_start.
 */
void xfer_set_store_port(struct xfer *x,
			 bool (*fn)(void *arg, const char *host, unsigned port),
			 void *arg);
/* The advertised endpoint, "HOSTNAME:PORT" ("" before xfer_start). */
const char *xfer_endpoint(const struct xfer *x);
/*
 * Stops the listeners and closes every connection (releasing their pins),
 * so that nothing touches the store any more; the registration hooks stay
 * valid, so the store can be freed (and its rdma segments unregistered)
 * after this and before xfer_free. Idempotent.
 */
void xfer_stop(struct xfer *x);
/* Stops (xfer_stop), deregisters what is left, frees @x. */
void xfer_free(struct xfer *x);

#endif
