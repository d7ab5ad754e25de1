/*
 * loop.h - the event-loop skeleton of the two doors that run their own
 * epoll loops, the transfer port (xfer/loop.c) and the master RPC
 * (rpc/server.c): N loop threads, each with its epoll set and its list
 * of connections; one listener watched by the first loop, which deals
 * the connections it accepts round-robin; one stop eventfd every loop
 * watches; a scan every 250 ms that closes connections stalled
 * mid-request; and the out-of-descriptors dance of shed.h.
 *
 * The door keeps its protocol. It embeds a struct mc_net_conn in its
 * connection and says, through struct mc_net_loop_ops, how to take an
 * accepted descriptor, how to run a connection, whether one is
 * mid-request, and how to free one. Nothing here logs: the ops' say
 * hook gets every warning as one line.
 *
 * Ownership: the door opens and closes the listener; the loops own the
 * stop eventfd, the epoll sets, the spare descriptor and every
 * connection once added (mc_net_conn_add), which they close and free
 * through the ops' free hook.
 *
 * Threads and locking: once added, a connection is touched only by its
 * loop's thread (the run hook, mc_net_conn_want, mc_net_conn_close).
 * Each loop's list has a mutex because the accepting loop inserts into
 * other loops' lists, and mc_net_loops_input_pending (any thread) and
 * mc_net_loops_stop walk them; a listed connection's descriptor is
 * closed only after it has left the list. The loop threads are named
 * "mc-NAME-I" (pthread_setname_np) so that profiles tell them apart.
 */
#ifndef MC_NET_LOOP_H
#define MC_NET_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "shed.h"

struct mc_net_loop;

/* What the loops know of a connection; the door's struct embeds it. */
struct mc_net_conn {
	int fd;
	struct mc_net_loop *lp;		 /* the loop that owns it */
	uint32_t events;		 /* the epoll mask in force */
	uint64_t last_ms;		 /* last progress: the door sets it */
	struct mc_net_conn *prev, *next; /* the loop's list, under its mutex */
};

struct mc_net_loop_ops {
	/* Accepts from the listener: see mc_net_accept_fn (shed.h). */
	mc_net_accept_fn *accept;
	/*
	 * A connection @fd was accepted for loop @lp; @here is true when
	 * @lp is the calling thread's own loop (it may run the connection
	 * at once). The hook sets up its connection and calls
	 * mc_net_conn_add, or closes @fd.
	 */
	void (*accepted)(void *ctx, struct mc_net_loop *lp, int fd, bool here);
	/*
	 * Its socket is ready: runs @c until it would block (then waits
	 * with mc_net_conn_want) or closes it (mc_net_conn_close).
	 */
	void (*run)(void *ctx, struct mc_net_conn *c);
	/*
	 * Whether @c is mid-request: the scan closes such a connection
	 * when its last_ms is stall_ms old. An idle one stays open. Called
	 * on @c's loop thread, it may first move last_ms on for progress
	 * the door sees itself (bytes in that it has not read yet).
	 */
	bool (*busy)(const struct mc_net_conn *c);
	/*
	 * Optional: whether @c, busy, is too slow to keep at @now (a
	 * request arriving under its door's minimum rate); the scan closes
	 * it. Called on @c's loop thread.
	 */
	bool (*slow)(void *ctx, const struct mc_net_conn *c, uint64_t now);
	/* Releases the door's connection around @c; its fd is closed. */
	void (*free)(struct mc_net_conn *c);
	/* One line to log as a warning ("WHO: ..."). */
	void (*say)(void *ctx, const char *msg);
};

struct mc_net_loops_opts {
	const struct mc_net_loop_ops *ops;
	void *ctx;	   /* every hook's first argument */
	const char *name;  /* threads: "mc-NAME-I", at most 15 bytes kept */
	const char *who;   /* messages: "WHO: ..." */
	unsigned n;	   /* loops, at least 1 */
	unsigned stall_ms; /* see the busy hook */
	int lfd;	   /* the listener: non-blocking, the door's */
};

/* One home for all the loops of a door; embedded by it. */
struct mc_net_loops {
	struct mc_net_loops_opts o;
	int stopfd;
	unsigned next;		    /* round-robin; the first loop only */
	_Atomic unsigned accepting; /* the first loop is accepting */
	struct mc_net_shed shed;    /* the first loop's thread only */
	uint64_t capped, capped_ms; /* refused at the cap, and when said */
	struct mc_net_loop *loops;  /* NULL: not set up, or stopped */
};

/*
 * Keeps @n descriptors for what does not run these loops (the HTTP
 * door's connections, the FUSE tree, etcd): once the connections of
 * every loop set together reach RLIMIT_NOFILE less @n (a quarter of
 * the limit when that leaves less), a new one is closed as soon as it is
 * accepted (logged once a second at most), so that a flood of idle
 * transfer or RPC connections cannot leave the other doors without a
 * descriptor (mooncaked(8), LIMITS). Call it before the loops start
 * (default 256).
 */
void mc_net_fd_reserve(unsigned n);

/*
 * Sets up @o->n loops over @o->lfd (already listening), without their
 * threads. @ls is zeroed memory, or stopped (mc_net_loops_stop). Returns
 * 0, or -errno (what was set up is undone by mc_net_loops_stop):
 *   -ENOMEM   no memory for the loops
 *   -EMFILE, -ENFILE  no descriptor for the eventfd or an epoll set
 *   other errnos of eventfd(2), epoll_create1(2), epoll_ctl(2)
 */
int mc_net_loops_init(struct mc_net_loops *ls,
		      const struct mc_net_loops_opts *o);

/*
 * Starts the loops' threads: 0, or -errno (pthread_create's: -EAGAIN,
 * ...); threads started before the failure are joined by
 * mc_net_loops_stop.
 */
int mc_net_loops_run(struct mc_net_loops *ls);

/*
 * Stops and joins the threads, closes (and frees) every connection, and
 * releases what the loops own; no hook runs after it returns, and the
 * listener stays open. Idempotent; fine on zeroed memory.
 */
void mc_net_loops_stop(struct mc_net_loops *ls);

/*
 * Takes the listener out of the first loop's epoll set: no connection
 * is accepted from then on (the door shuts the listener down or closes
 * it after mc_net_loops_stop). Any thread. 0, or -errno of epoll_ctl(2).
 */
int mc_net_loops_unlisten(struct mc_net_loops *ls);

/*
 * Whether bytes have reached the port that no loop has read yet: a
 * connection in the listener's queue or being accepted, or unread input
 * on a listed one. Any thread; never blocks.
 */
bool mc_net_loops_input_pending(struct mc_net_loops *ls);

/*
 * Lists @c (its door's part set up) on @lp and watches @fd for input;
 * from then on @lp's thread may run and close it. 0, or -errno of
 * epoll_ctl(2) (-ENOMEM, -ENOSPC) with @fd closed and @c freed (the
 * free hook).
 */
int mc_net_conn_add(struct mc_net_loop *lp, struct mc_net_conn *c, int fd);

/* Waits for @ev (EPOLLIN or EPOLLOUT) on @c; its loop's thread only. */
void mc_net_conn_want(struct mc_net_conn *c, uint32_t ev);

/* Unlists, closes and frees @c (the free hook); its loop's thread only. */
void mc_net_conn_close(struct mc_net_conn *c);

/* CLOCK_MONOTONIC in milliseconds, the clock of last_ms. */
uint64_t mc_net_now_ms(void);

#endif
