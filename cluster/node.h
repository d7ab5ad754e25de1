/*
 * node.h - a cluster node's runtime (mooncake-cluster(7)): it joins the
 * cluster through etcd (member.h), installs the link that makes the
 * node's owner store a façade of the cluster's master (mooncake.h,
 * mc_store_set_link), carries the messages of the internal API between
 * nodes (hclient.h), and, while this node leads, runs the master store:
 * its rebuild after the election, the owner hooks to every node, the
 * loss of nodes.
 *
 * Lifetime: mc_node_new() before the doors start (the owner store then
 * answers NO_LEADER until a leader serves), mc_node_start() once the
 * HTTP and transfer ports are known (registration and the campaign
 * begin), mc_node_stop() after the doors stopped.
 *
 * The master, while this node leads: a store of the leader's term whose
 * segments are every node's (REMOTE, owner node:ID), rebuilt from every
 * live node's report before it serves (503 NO_LEADER meanwhile). It
 * acts only while the member's fence holds (mc_member_is_leader_now):
 * past it, the master answers NO_LEADER and is dropped when the loss
 * of leadership is told, without telling any owner anything (their
 * records are the next leader's to take).
 *
 * Threads: the member's; one worker (releases to owners, batched, and
 * the reports of nodes that join a serving master); one rebuild thread
 * per won election. Every call is thread-safe.
 */
#ifndef MC_NODE_H
#define MC_NODE_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "metrics.h"
#include "mooncake.h"

struct mc_node_opts {
	const char *etcd;     /* etcd client URLs, comma-separated */
	const char *cluster;  /* NAME: keys under /mooncake/NAME/ */
	const char *hostname; /* registered, for people */
	unsigned ttl_ms;      /* node TTL (0: 3000) */
	const char *token;    /* bearer token of the internal API, or NULL */
	/*
	 * The options of every master store this node runs (copied; the
	 * runtime adds the owner hooks, fencing and the arenas): the
	 * leader's --replicas, leases, watermarks, put timeout, max value.
	 */
	const struct mc_store_opts *master;
	/* the node's registry: the mooncake_cluster_* families go there */
	struct mc_metrics *metrics;
};

struct mc_node;

/*
 * Creates the runtime for owner store @own and installs its link (the
 * node id is drawn now). Nothing is started. NULL with @err: -EINVAL
 * (a bad cluster name, TTL or etcd URL), -ENOMEM.
 */
struct mc_node *mc_node_new(const struct mc_node_opts *o, struct mc_store *own,
			    struct mc_err *err);
/* This node's id. */
const char *mc_node_id(const struct mc_node *n);
/*
 * Registers under the advertised endpoints ("host:port") and starts to
 * campaign: 0 or -errno with @err. Returns at once, etcd reached or not.
 */
int mc_node_start(struct mc_node *n, const char *http, const char *transfer,
		  struct mc_err *err);
/*
 * Whether some node of the cluster advertises the transfer endpoint
 * HOST:@port, @host compared by @same (the caller's notion of two names
 * of one machine). Any thread.
 */
bool mc_node_has_transfer(struct mc_node *n, const char *host, unsigned port,
			  bool (*same)(const char *a, const char *b));
/*
 * Whether another node of the cluster publishes the Transfer Engine
 * segment @name (@len bytes): its advertised transfer endpoint, which
 * it publishes under, or HOSTNAME:PORT. Any thread.
 */
bool mc_node_publishes(struct mc_node *n, const char *name, size_t len);
/* Replaces the bearer token (SIGHUP): 0, -ENOMEM. */
int mc_node_set_token(struct mc_node *n, const char *token);
/*
 * Leaves the cluster (steps down, resigns, revokes the lease), stops
 * the threads and frees @n. The owner store's link answers NO_LEADER
 * from then on; the store outlives @n.
 */
void mc_node_stop(struct mc_node *n);

#endif
