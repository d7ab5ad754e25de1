/*
 * shed.h - a listener that stays calm when the process runs out of file
 * descriptors, shared by the two doors that run their own epoll loops
 * (the transfer port, xfer/loop.c, and the master RPC, rpc/server.c).
 *
 * accept() failing with EMFILE or ENFILE leaves the connection in the
 * listener's queue, so a level-triggered listener wakes its loop again at
 * once, for ever. A spare descriptor (one open /dev/null) is kept for
 * that moment: it is given up, the connection accepted into its slot,
 * and a new spare opened. If a descriptor can be had again by then
 * (another connection closed, the limit was raised) the connection is
 * served; else it is dropped (its client sees a close, not a wait for a
 * slot that may never come). Without a spare (another thread took the
 * slot between the close and the open) the listener is paused until the
 * caller's next tick, not woken again by the same waiting connection.
 *
 * One thread (the loop that watches the listener) calls everything for
 * one struct mc_net_shed. Nothing here logs: mc_net_shed_report says what to.
 */
#ifndef MC_NET_SHED_H
#define MC_NET_SHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mc_net_shed {
	int spare_fd;  /* -1 when none could be opened */
	bool paused;   /* the listener is out of the epoll set's interest */
	uint64_t shed; /* connections dropped since the last report */
	uint64_t warned_ms;
	int epfd, lfd; /* the loop's epoll set and the listener in it */
	void *tag;     /* the listener's epoll data pointer */
};

/*
 * Accepts a connection from @lfd: a descriptor, or a negative errno
 * (-EAGAIN when none waits, -EMFILE / -ENFILE out of descriptors).
 */
typedef int mc_net_accept_fn(void *arg, int lfd);

/* Opens the spare; the listener is @lfd in @epfd with data @tag. */
void mc_net_shed_init(struct mc_net_shed *s, int epfd, int lfd, void *tag);
void mc_net_shed_release(struct mc_net_shed *s);

/*
 * Called when @accept said EMFILE or ENFILE: the descriptor of a
 * connection to serve after all, or -1 (dropped, or none waiting).
 */
int mc_net_shed_accept(struct mc_net_shed *s, mc_net_accept_fn *accept,
		       void *arg);

/* Each scan of the loop: listens again after a pause. */
void mc_net_shed_tick(struct mc_net_shed *s);

/*
 * What to log, once every @every_ms at most (@now_ms on the caller's
 * monotonic clock): true with a one-line message in @msg, naming @who.
 */
bool mc_net_shed_report(struct mc_net_shed *s, const char *who, uint64_t now_ms,
			uint64_t every_ms, char *msg, size_t size);

#endif
