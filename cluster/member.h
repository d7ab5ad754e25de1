/*
 * member.h - what one node of a cluster needs from etcd, and nothing of
 * the store: its registration, the node set, the leader election, the
 * term and fencing. The store (leader, owners, forwarding) builds on
 * these callbacks and queries; this module never calls it.
 *
 * Keys, all under /mooncake/NAME/ (NAME: --cluster, default "mooncake"):
 *
 *   nodes/ID        {"id":"ID","http":"HOST:PORT","transfer":"HOST:PORT",
 *                    "hostname":"..."}, attached to the node's lease
 *   leader/LEASE    the election (etcd's /v3/election API, name
 *                   "/mooncake/NAME/leader"): one key per candidate,
 *                   "<lease in hex>" -> ID, attached to the same lease
 *
 * Node ids. A node is named by an RFC 4122 version 4 id drawn at random
 * when mc_member_start() runs (so once per process start), unless the
 * caller gives one (mc_member_opts.id: 1-64 characters of [A-Za-z0-9._-]).
 * Registration is create-only: a key nodes/ID held by another live
 * lease is never overwritten (the start keeps retrying and logs why).
 *
 * The lease. Registration and candidacy share one etcd lease of
 * ttl_ms, rounded up to whole seconds (etcd's unit; etcd may raise it
 * to its own minimum). It is renewed every ttl_ms/6. When the lease is
 * found gone (etcd says so: it expired while this node could not renew
 * it, or someone revoked it), the node takes a new lease and registers
 * again under the SAME id: every node sees it leave and join again (a
 * new incarnation, told apart by mc_member_node.revision), and it must
 * behave as a new member (whatever the cluster held for the old
 * incarnation, its segments for instance, was dropped by the leader when
 * the old lease ended).
 *
 * The term. The leader is the live candidate key with the smallest
 * create revision (etcd's election rule); its create revision is the
 * term. Every node reads the same number from etcd, with no message
 * between nodes, and it grows with each new reign: a later candidate's
 * key is always created after the keys of the candidates before it.
 *
 * Fencing. A leader is a leader only while it is sure its lease is
 * alive: mc_member_is_leader_now() is true from the moment the node won
 * the election until the FENCE, (start of the last successful
 * keep-alive) + ttl_ms - ttl_ms/3. etcd counts the lease from when it
 * handled that keep-alive, which was after it started, so the lease
 * cannot end before the fence + ttl_ms/3 (the margin, 1 s for 3 s), and
 * no other node can be elected before the lease ends. A caller that
 * checks is_leader_now() at the start of a metadata operation and
 * finishes it within the margin never acts beside another leader. Once
 * fenced, a node never resumes the same term: it withdraws its
 * candidacy and campaigns again, so each reign it wins has a new term.
 *
 * etcd down. Every thread keeps retrying with a backoff; nothing is
 * given up. While this node cannot reach etcd (its own fence has
 * passed, or its watch is broken), it reports no leader
 * (mc_member_leader() -ENOENT, on_leader with NULL) and is not leader
 * itself. The node set keeps its last known members (only etcd says who
 * left). When etcd answers again: the same lease if it lived, else a new
 * one and a new registration; a new campaign; the watch resumes from the
 * last revision seen (or re-reads everything after a compaction, and
 * reports the difference as joins and leaves).
 *
 * Threads. mc_member_start() starts four threads: the keeper (lease,
 * keep-alives, registration), the campaigner (election, fencing, the
 * role callbacks), the viewer (reads the node set and the candidates)
 * and the viewer's etcd watch. Queries are safe from any thread at any
 * time. Callbacks run on the member's threads, ONE AT A TIME (they are
 * serialized by a lock of their own), never with the member's state lock
 * held: a callback may call every query (is_leader_now, leader, nodes,
 * id) but must not call mc_member_stop() (it waits for the callback),
 * and should return quickly (a blocked callback delays the others, not
 * the keep-alives nor the fence: is_leader_now() turns false on time
 * whatever the callbacks do).
 *
 * Errors: 0 or a negative errno, with struct mc_err filled (code
 * MC_RPC_FAIL or MC_INVALID_PARAMS, a one-line message).
 */
#ifndef MC_MEMBER_H
#define MC_MEMBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define MC_MEMBER_ID_MAX 64

/* One registered node, as read from etcd. */
struct mc_member_node {
	char id[MC_MEMBER_ID_MAX + 1];
	char http[256];	    /* advertised HTTP endpoint, "host:port" */
	char transfer[256]; /* advertised transfer endpoint, "host:port" */
	char hostname[256];
	int64_t lease;	  /* the etcd lease of this registration */
	int64_t revision; /* create revision of its key: one per incarnation */
	bool self;	  /* this process's own registration */
};

struct mc_member_callbacks {
	/*
	 * A node joined (@joined true) or left. On start (and after a
	 * re-read) every node already registered comes as a join. A
	 * node that re-registers under the same id shows as a leave then
	 * a join with a new revision; a join for a known id with the same
	 * revision is an update of its value. Runs on the viewer's
	 * threads.
	 */
	void (*on_node)(void *arg, const struct mc_member_node *n, bool joined);
	/*
	 * The leader as this node sees it changed: its id and term, or
	 * @id NULL (term 0) when there is none or this node cannot tell
	 * (cut off from etcd). Runs on the viewer's threads (the viewer
	 * and its watch).
	 */
	void (*on_leader)(void *arg, const char *id, int64_t term);
	/*
	 * This node gained (@leader true) or lost leadership of @term.
	 * "Lost" comes at the fence at the latest, possibly after
	 * is_leader_now() already turned false (the check never waits for
	 * the callback). Every gain is followed by exactly one loss, at
	 * the latest in mc_member_stop(). Runs on the campaigner thread.
	 */
	void (*on_role)(void *arg, bool leader, int64_t term);
	void *arg;
};

struct mc_member_opts {
	const char *endpoints; /* etcd client URLs, comma-separated */
	const char *cluster;   /* NAME; NULL: "mooncake" */
	const char *id;	       /* NULL: a random RFC 4122 v4 id */
	const char *http;      /* advertised "host:port" (required) */
	const char *transfer;  /* advertised "host:port" (may be "") */
	const char *hostname;  /* NULL: gethostname() */
	unsigned ttl_ms;       /* node TTL; 0: 3000; at least 1000 */
	bool observer;	       /* register and watch, never campaign */
	struct mc_member_callbacks cb;
};

/* Fills @o with the defaults (all NULL, ttl_ms 3000, candidate). */
void mc_member_opts_default(struct mc_member_opts *o);

struct mc_member;

/*
 * Checks the options, starts the threads and returns at once: it does
 * not wait for etcd (an unreachable etcd is retried, not an error).
 * NULL with @err set on -EINVAL (a cluster name or id with characters
 * outside [A-Za-z0-9._-] or too long, no http endpoint, a TTL below
 * 1000 ms or above one hour, a bad etcd URL), -ENOMEM or a thread that
 * could not start.
 */
struct mc_member *mc_member_start(const struct mc_member_opts *o,
				  struct mc_err *err);

/*
 * Leaves cleanly and frees @m: steps down (on_role false, if leading)
 * and resigns, revokes the lease (so the node's key and its candidacy
 * go at once, not after the TTL), stops every thread. Bounded by the
 * etcd timeout when etcd is down. No callback runs after it returns.
 * NULL is a no-op. Must not be called from a callback.
 */
void mc_member_stop(struct mc_member *m);

/* This node's id (lives as long as @m). */
const char *mc_member_id(struct mc_member *m);

/*
 * True when this node leads right now and its fence has not passed;
 * @term (may be NULL) receives the term (0 when false). Cheap (a few
 * atomic reads and a clock read, no lock the member's threads wait on):
 * call it at the start of every leader-only operation.
 */
bool mc_member_is_leader_now(struct mc_member *m, int64_t *term);

/*
 * Ends this node's reign of @term, if it still leads it: it steps down
 * at once (is_leader_now() false, then on_role false), withdraws its
 * candidacy and campaigns again, so that whoever leads next (this node
 * too) does so in a new term. Does not wait; a no-op for any other term.
 * Safe from any thread, callbacks included.
 */
void mc_member_hand_over(struct mc_member *m, int64_t term);

/*
 * The leader as this node sees it: copies it into @out (may be NULL)
 * and its term into @term. -ENOENT when there is no leader or this node
 * cannot reach etcd; -EAGAIN when the leader's id is known but its
 * registration is not (its node key is gone or not read yet: @out then
 * holds the id alone).
 */
int mc_member_leader(struct mc_member *m, struct mc_member_node *out,
		     int64_t *term);

/*
 * A copy of the node set as last read (sorted by id): *@nodes is
 * malloc'd (the caller frees it), *@n its length. -ENOMEM.
 */
int mc_member_nodes(struct mc_member *m, struct mc_member_node **nodes,
		    size_t *n);

/* --- for the cluster's own tests ------------------------------------------ */

/* Parses a node key's value (the JSON above) into @n (id from the key).
 * -EINVAL with @err naming the bad field. */
int mc_member_node_parse(const char *id, const char *json, size_t len,
			 struct mc_member_node *n, struct mc_err *err);

#endif
