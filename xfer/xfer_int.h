/*
 * xfer_int.h - the transfer port's state, shared by xfer.c (lifetime,
 * transports, metrics, endpoint) and loop.c (event loops, connections).
 * Nothing outside xfer/ includes this.
 */
#ifndef XFER_INT_H
#define XFER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cc.h"
#include "client.h"
#include "err.h"

struct mc_buf;

#include "loop.h"
#include "transport.h"

enum { XFER_DIR_READ, XFER_DIR_WRITE, XFER_NDIR };
/* Index of each transport in struct xfer's table. */
enum { XFER_TP_TCP, XFER_TP_RDMA, XFER_NTP };

struct mc_series;

struct xfer {
	char *host, *protocol, *hostname;
	char endpoint[300]; /* set once by xfer_start */
	bool published;	    /* the endpoint's TE segment is (mc_meta) */
	unsigned port;
	unsigned stall_ms;
	char cc[MC_NET_CC_MAX]; /* --transfer-congestion, "": the system's */
	/* Written by xfer_new only; the hooks read it from any thread. */
	struct xfer_transport tp[XFER_NTP];
	struct xfer_transport *framing; /* the one the loops accept from */
	struct mc_store *s;
	int lfd;
	unsigned nloops;
	struct mc_net_loops loops; /* the event loops (net/loop.h) */
	struct mc_series *bytes[XFER_NDIR], *reqs[XFER_NDIR],
		*rejects[XFER_NDIR];
	/* reaches other processes' replicas (remote.c); thread-safe */
	struct xfer_client *client;
	/* another transfer port of the store's (a cluster node's): set
	 * before xfer_start, read by every thread (xfer_set_store_port) */
	bool (*store_port)(void *arg, const char *host, unsigned port);
	void *store_port_arg;
};

/*
 * remote.c: the store's data hooks, with the struct xfer as their arg
 * (its client, and its store's metadata server once started), and the
 * client they use.
 */
struct mc_data_ops;
extern const struct mc_data_ops xfer_data_ops;
struct xfer_client *xfer_remote_client_new(const char *congestion);

/*
 * Sets up x->nloops event loops over x->lfd (already listening), without
 * their threads. 0, or -errno with @err; what was set up is undone by
 * xfer_loops_stop.
 */
int xfer_loops_start(struct xfer *x, struct mc_err *err);
/* Starts the loops' threads: 0, or -errno with @err. */
int xfer_loops_run(struct xfer *x, struct mc_err *err);
/*
 * Whether bytes have reached the port that no loop has read yet: a
 * connection in the listener's queue or being accepted, or unread input
 * on one (mc_data_ops.input_pending). Any thread; never blocks.
 */
bool xfer_loops_input_pending(struct xfer *x);
/* Stops the loops and closes every connection. Idempotent. */
void xfer_loops_stop(struct xfer *x);

#endif
