/*
 * node.c - a cluster node's runtime (node.h): the link of the owner
 * store, the internal API's both ends, and the master while this node
 * leads (a "reign": one master store of one term).
 */
#include "autoconfig.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "hclient.h"
#include "log.h"
#include "member.h"
#include "node.h"
#include "uuid.h"

#define MASTER_PATH "/internal/v1/master"
#define OWNER_PATH  "/internal/v1/owner"
#define META_PATH   "/internal/v1/meta"
/* How often a node that did not retire keys is asked again. */
#define RETIRE_STEP_MS 100
/*
 * Every master allocates in the same arenas of a segment, so that a new
 * one can take over the blocks an old one placed (mc_master_adopt): a
 * fixed count, not one per CPU of whichever node leads (a ceiling: a
 * segment under 8 x 400 MiB gets fewer, mc_store_opts.alloc_arenas).
 */
#define MASTER_ARENAS 8
/*
 * A get's replicas stay allocated this long: the reader pins them at
 * their owner well within it (once pinned, the owner keeps the bytes
 * whatever the master does), while replaced values are not kept from
 * new puts for long.
 */
#define HOLD_MS 2000
/* Releases wait this long for company before they go. */
#define RELEASE_BATCH_MS 5
#define RELEASE_BATCH	 512

enum { R_REBUILD, R_SERVE, R_GONE };

/* One reign: the master of one term, while this node leads. */
struct reign {
	_Atomic int refs;
	_Atomic int state;
	struct mc_node *n;
	struct mc_store *m;
	uint64_t term;
	pthread_mutex_t mu; /* reports and node losses, one at a time */
	/* nodes whose report this master took (their incarnation) */
	struct done {
		char id[MC_MEMBER_ID_MAX + 1];
		int64_t rev;
	} * done;
	size_t ndone;
};

/* Where another node's internal API is. */
struct peer {
	char id[MC_MEMBER_ID_MAX + 1];
	char http[256];
	int64_t rev;
};

struct rel {
	char node[MC_MEMBER_ID_MAX + 1];
	char seg_id[MC_ID_LEN + 1];
	struct mc_owner_blk b;
};

struct old_token {
	struct old_token *next;
	char *tok;
};

struct mc_node {
	struct mc_store *own;
	char id[MC_ID_LEN + 1];
	char *etcd, *cluster, *hostname;
	unsigned ttl_ms;
	struct mc_store_opts mo;
	char *mo_hostname, *mo_protocol;
	struct mc_member *m;
	struct hclient *hc;
	char *_Atomic token;
	struct old_token *old_tokens;

	pthread_mutex_t mu; /* reign, peers, token list */
	struct reign *reign;
	struct peer *peers;
	size_t npeers;

	pthread_t worker;
	bool worker_started, stopping;
	/* mc_node_stop began: no new reign, rebuilds end before the member */
	_Atomic bool leaving;
	pthread_mutex_t qmu;
	pthread_cond_t qcond;
	bool kick; /* the worker's wait ends now (worker_main) */
	struct rel *rel;
	size_t nrel, relcap;
	struct joined {
		char id[MC_MEMBER_ID_MAX + 1];
		int64_t rev;
	} * joins;
	size_t njoins, joincap;

	struct mc_series *g_leader, *g_nodes, *g_term, *c_elections;
	_Atomic uint64_t elections, last_term;
	_Atomic int rebuilds; /* rebuild threads running */
};

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- reign */

static struct reign *reign_get(struct mc_node *n)
{
	struct reign *r;

	pthread_mutex_lock(&n->mu);
	r = n->reign;
	if (r)
		atomic_fetch_add(&r->refs, 1);
	pthread_mutex_unlock(&n->mu);
	return r;
}

static void reign_put(struct reign *r)
{
	if (!r || atomic_fetch_sub(&r->refs, 1) != 1)
		return;
	/* no owner hook runs from here on (mc_store_free) */
	mc_store_free(r->m);
	pthread_mutex_destroy(&r->mu);
	free(r->done);
	free(r);
}

/* Whether @r may act: it serves or rebuilds, and the fence holds. */
static bool reign_may_act(void *arg)
{
	struct reign *r = arg;
	int64_t t = 0;

	return atomic_load(&r->state) != R_GONE &&
	       mc_member_is_leader_now(r->n->m, &t) && (uint64_t)t == r->term;
}

/*
 * The master has given nearly every version of its term (mooncake.h
 * versions_low): the lead goes to a new term, of this node or another,
 * before the count could wrap.
 */
static void reign_versions_low(void *arg)
{
	struct reign *r = arg;

	mc_warn("cluster: term %llu has given %llu versions of 2^32; "
		"handing the lead over to a new term",
		(unsigned long long)r->term,
		(unsigned long long)((1ull << 32) - MC_VERSIONS_LOW));
	mc_member_hand_over(r->n->m, (int64_t)r->term);
}

static bool reign_serves(struct reign *r)
{
	return atomic_load(&r->state) == R_SERVE && reign_may_act(r);
}

/* ---------------------------------------------------------------- peers */

static const char *token_get(struct mc_node *n)
{
	return atomic_load(&n->token);
}

/* The internal API of node @id, into @http: 0 or -EHOSTUNREACH. */
static int peer_http(struct mc_node *n, const char *id, char *http, size_t len)
{
	int rc = -EHOSTUNREACH;

	pthread_mutex_lock(&n->mu);
	for (size_t i = 0; i < n->npeers && rc; i++) {
		if (!strcmp(n->peers[i].id, id)) {
			snprintf(http, len, "%s", n->peers[i].http);
			rc = 0;
		}
	}
	pthread_mutex_unlock(&n->mu);
	return rc;
}

/*
 * Sends owner request @msg to node @id (this node: straight to its own
 * store) and its answer into @resp: 0, or -errno with @err;
 * -ECONNABORTED when it was sent and no answer came (it may have run).
 */
static int owner_call(struct mc_node *n, const char *id,
		      const struct mc_buf *msg, struct mc_buf *resp,
		      struct mc_err *err)
{
	char http[256];
	bool sent;
	int status = 0, rc;

	if (!strcmp(id, n->id)) {
		rc = mc_owner_serve(n->own, msg->data, msg->len, resp);
		return rc ? mc_err_set(err, rc, MC_RPC_FAIL,
				       "an owner request that is not one")
			  : 0;
	}
	if (peer_http(n, id, http, sizeof(http)))
		return mc_err_set(err, -EHOSTUNREACH, MC_RPC_FAIL,
				  "node '%s' is not registered", id);
	rc = hclient_post(n->hc, http, OWNER_PATH, token_get(n), msg->data,
			  msg->len, &status, resp, &sent, err);
	if (rc < 0)
		return sent ? -ECONNABORTED : rc;
	if (status == 401) /* -EIO as any other refusal; the report says it */
		return mc_err_set(err, -EIO, MC_RPC_FAIL,
				  "node '%s' answered HTTP 401 to an owner "
				  "request: its --auth-token-file is not this "
				  "node's",
				  id);
	if (status != 200)
		return mc_err_set(err, -EIO, MC_RPC_FAIL,
				  "node '%s' answered HTTP %d to an owner "
				  "request",
				  id, status);
	return 0;
}

/* An owner request and its result: 0 or -errno with @err. */
static int owner_rpc(struct mc_node *n, const char *id,
		     const struct mc_buf *msg, struct mc_buf *resp,
		     struct mc_err *err)
{
	int rc = owner_call(n, id, msg, resp, err);

	return rc < 0 ? rc : mc_owner_msg_result(resp->data, resp->len, err);
}

/* ---------------------------------------------------------- owner hooks */

static int hook_blk(struct reign *r, enum mc_owner_op op,
		    const struct mc_owner_blk *b)
{
	struct mc_buf msg = {0}, resp = {0};
	struct mc_err e = {0};
	int rc;

	if (atomic_load(&r->state) == R_GONE)
		return -EAGAIN;
	mc_owner_msg_blk(&msg, op, b);
	rc = owner_rpc(r->n, b->owner->id, &msg, &resp, &e);
	mc_buf_release(&msg);
	mc_buf_release(&resp);
	if (rc < 0) {
		mc_info("cluster: node '%s' did not %s a block of '%.*s': %s",
			b->owner->id,
			op == MC_OWNER_PREPARE ? "prepare" : "commit",
			(int)(b->klen > 64 ? 64 : b->klen),
			(const char *)b->key, e.msg);
		/* the put fails; the client may try again (503); a commit
		 * whose answer was lost may have happened (put.c retires) */
		return rc == -ECONNABORTED && op == MC_OWNER_COMMIT
			       ? -ECONNABORTED
			       : -EAGAIN;
	}
	return 0;
}

static int h_prepare(void *arg, const struct mc_owner_blk *b)
{
	return hook_blk(arg, MC_OWNER_PREPARE, b);
}

static int h_commit(void *arg, const struct mc_owner_blk *b)
{
	return hook_blk(arg, MC_OWNER_COMMIT, b);
}

static void h_release(void *arg, const struct mc_owner_blk *b)
{
	struct reign *r = arg;
	struct mc_node *n = r->n;
	struct rel *q;

	if (atomic_load(&r->state) == R_GONE)
		return;
	pthread_mutex_lock(&n->qmu);
	if (n->nrel == n->relcap) {
		size_t cap = n->relcap ? n->relcap * 2 : 256;
		struct rel *nr = realloc(n->rel, cap * sizeof(*nr));

		if (!nr) {
			/* the record stays until a report releases it */
			pthread_mutex_unlock(&n->qmu);
			return;
		}
		n->rel = nr;
		n->relcap = cap;
	}
	q = &n->rel[n->nrel++];
	snprintf(q->node, sizeof(q->node), "%s", b->owner->id);
	snprintf(q->seg_id, sizeof(q->seg_id), "%s", b->seg_id);
	q->b = *b;
	q->b.seg_id = NULL; /* set when sent: the array may move */
	q->b.owner = NULL;
	/*
	 * Only the first release of a batch wakes the worker (which then
	 * gathers for RELEASE_BATCH_MS), and a full one: a wake-up per
	 * release cost the leader a futex wake, and the worker a switch,
	 * for every put that replaced a value.
	 */
	if (n->nrel == 1 || n->nrel >= RELEASE_BATCH) {
		n->kick = true;
		pthread_cond_signal(&n->qcond);
	}
	pthread_mutex_unlock(&n->qmu);
}

static void h_unmount(void *arg, const char *seg_id,
		      const struct mc_owner *owner, unsigned grace_s)
{
	struct reign *r = arg;
	struct mc_buf msg = {0}, resp = {0};
	struct mc_err e = {0};

	if (atomic_load(&r->state) == R_GONE)
		return;
	mc_owner_msg_unmount(&msg, r->term, seg_id, grace_s);
	if (owner_rpc(r->n, owner->id, &msg, &resp, &e) < 0)
		mc_warn("cluster: node '%s' did not unmount segment '%s': %s",
			owner->id, seg_id, e.msg);
	mc_buf_release(&msg);
	mc_buf_release(&resp);
}

/* Whether node @id is still a peer in its incarnation @rev. */
static bool peer_is(struct mc_node *n, const char *id, int64_t rev)
{
	bool yes = false;

	pthread_mutex_lock(&n->mu);
	for (size_t i = 0; i < n->npeers && !yes; i++)
		yes = !strcmp(n->peers[i].id, id) && n->peers[i].rev == rev;
	pthread_mutex_unlock(&n->mu);
	return yes;
}

/*
 * Retires @rt at every node (@node NULL) or at @node. A node that does
 * not answer is asked again every RETIRE_STEP_MS for 2/3 of a node TTL:
 * until it does, or its lease ends (it rejoins empty, and this master
 * unmounted its segments: no rebuild finds the records), or this
 * master may no longer act. 0, or -EIO when some node still holds its
 * lease and was not told (mc_owner_ops.retire: the outcome is unknown).
 */
static int h_retire(void *arg, const struct mc_owner *node,
		    const struct mc_retire *rt, size_t k, bool exact)
{
	struct reign *r = arg;
	struct mc_node *n = r->n;
	struct mc_buf msg = {0}, resp = {0};
	struct target {
		char id[MC_MEMBER_ID_MAX + 1];
		int64_t rev;
		bool done;
	} *t = NULL;
	size_t nt = 0, left = 0;
	/* within the TTL its caller's request to this master waits */
	uint64_t until = now_ms() + n->ttl_ms * 2 / 3;
	int rc;

	if (atomic_load(&r->state) == R_GONE)
		return -EAGAIN;
	mc_owner_msg_retire(&msg, r->term, rt, k, exact);
	pthread_mutex_lock(&n->mu);
	t = calloc(n->npeers + 1, sizeof(*t));
	if (t) {
		snprintf(t[nt++].id, sizeof(t[0].id), "%s", n->id);
		for (size_t i = 0; i < n->npeers; i++) {
			if (!strcmp(n->peers[i].id, n->id))
				continue;
			snprintf(t[nt].id, sizeof(t[0].id), "%s",
				 n->peers[i].id);
			t[nt++].rev = n->peers[i].rev;
		}
	}
	pthread_mutex_unlock(&n->mu);
	for (size_t i = 0; i < nt; i++)
		t[i].done = node && strcmp(node->id, t[i].id);
	for (unsigned round = 0;; round++) {
		left = 0;
		for (size_t i = 0; i < nt; i++) {
			struct mc_err e = {0};

			if (t[i].done)
				continue;
			if (i && round && !peer_is(n, t[i].id, t[i].rev)) {
				t[i].done = true; /* gone with its lease */
				continue;
			}
			mc_buf_reset(&resp);
			if (owner_rpc(n, t[i].id, &msg, &resp, &e) == 0) {
				t[i].done = true;
				continue;
			}
			if (!round)
				mc_info("cluster: node '%s' did not retire %zu "
					"keys: %s (asking again)",
					t[i].id, k, e.msg);
			left++;
		}
		if (!left || now_ms() >= until || !reign_may_act(r))
			break;
		sleep_ms(RETIRE_STEP_MS);
	}
	for (size_t i = 0; i < nt; i++)
		if (!t[i].done)
			mc_warn("cluster: node '%s' could not be told to "
				"retire %zu keys (removed, replaced or "
				"evicted)",
				t[i].id, k);
	rc = !t ? -ENOMEM : left ? -EIO : 0;
	free(t);
	mc_buf_release(&msg);
	mc_buf_release(&resp);
	return rc;
}

static const struct mc_owner_ops hooks = {
	.prepare = h_prepare,
	.commit = h_commit,
	.release = h_release,
	.unmount = h_unmount,
	.retire = h_retire,
};

/* ----------------------------------------------------------- the worker */

/* Sends the releases of @v[0..k) (one node, one term) in one message. */
static void send_releases(struct mc_node *n, struct rel *v, size_t k)
{
	struct mc_owner_blk *b = calloc(k, sizeof(*b));
	struct mc_buf msg = {0}, resp = {0};
	struct mc_err e = {0};

	if (!b)
		return;
	for (size_t i = 0; i < k; i++) {
		b[i] = v[i].b;
		b[i].seg_id = v[i].seg_id;
	}
	mc_owner_msg_release(&msg, v[0].b.term, b, k);
	if (owner_rpc(n, v[0].node, &msg, &resp, &e) < 0)
		mc_debug("cluster: %zu releases to node '%s' lost: %s", k,
			 v[0].node, e.msg);
	mc_buf_release(&msg);
	mc_buf_release(&resp);
	free(b);
}

static int rel_cmp(const void *a, const void *b)
{
	const struct rel *x = a, *y = b;
	int c = strcmp(x->node, y->node);

	if (c)
		return c;
	return x->b.term < y->b.term ? -1 : x->b.term > y->b.term;
}

static void flush_releases(struct mc_node *n, struct rel *v, size_t k)
{
	qsort(v, k, sizeof(*v), rel_cmp);
	for (size_t i = 0; i < k;) {
		size_t j = i;

		while (j < k && j - i < RELEASE_BATCH &&
		       !strcmp(v[j].node, v[i].node) &&
		       v[j].b.term == v[i].b.term)
			j++;
		send_releases(n, &v[i], j - i);
		i = j;
	}
}

static bool reign_has(struct reign *r, const char *id, int64_t rev)
{
	for (size_t i = 0; i < r->ndone; i++)
		if (!strcmp(r->done[i].id, id) && r->done[i].rev == rev)
			return true;
	return false;
}

static void reign_mark(struct reign *r, const char *id, int64_t rev)
{
	struct done *d = realloc(r->done, (r->ndone + 1) * sizeof(*d));

	if (!d)
		return;
	r->done = d;
	snprintf(d[r->ndone].id, sizeof(d[0].id), "%s", id);
	d[r->ndone].rev = rev;
	r->ndone++;
}

/*
 * Takes node @id's report into @r's master: its segments are mounted;
 * its records kept for the settle (@adopt) or released. 0 or -errno.
 */
static int report_node(struct reign *r, const char *id, int64_t rev, bool adopt)
{
	struct mc_owner o = {.kind = MC_OWNER_NODE};
	struct mc_buf msg = {0}, resp = {0};
	struct mc_err e = {0};
	int rc;

	snprintf(o.id, sizeof(o.id), "%s", id);
	mc_owner_msg_report(&msg, r->term);
	rc = owner_call(r->n, id, &msg, &resp, &e);
	mc_buf_release(&msg);
	if (rc == 0) {
		pthread_mutex_lock(&r->mu);
		if (reign_has(r, id, rev)) {
			rc = 0; /* taken already: never twice */
		} else if (atomic_load(&r->state) != R_GONE) {
			rc = mc_master_ingest(r->m, &o, resp.data, resp.len,
					      adopt, &e);
			if (rc == 0)
				reign_mark(r, id, rev);
		}
		pthread_mutex_unlock(&r->mu);
	}
	/* a node with another token answers, and never will: say it loud */
	if (rc < 0)
		mc_log(strstr(e.msg, "HTTP 401") ? MC_LOG_WARN : MC_LOG_INFO,
		       "cluster: no report from node '%s' yet: %s", id, e.msg);
	mc_buf_release(&resp);
	return rc;
}

/* Whether node @id is still registered in the incarnation @rev. */
static bool still_member(struct mc_node *n, const char *id, int64_t rev)
{
	struct mc_member_node *v = NULL;
	size_t k = 0;
	bool yes = false;

	if (mc_member_nodes(n->m, &v, &k) < 0)
		return true; /* cannot tell: keep asking it */
	for (size_t i = 0; i < k && !yes; i++)
		yes = !strcmp(v[i].id, id) && v[i].revision == rev;
	free(v);
	return yes;
}

/* Queues node @id (incarnation @rev) for the worker to take its report. */
static void join_push(struct mc_node *n, const char *id, int64_t rev)
{
	pthread_mutex_lock(&n->qmu);
	if (n->njoins == n->joincap) {
		size_t cap = n->joincap * 2 + 8;
		struct joined *nj = realloc(n->joins, cap * sizeof(*nj));

		if (nj) {
			n->joins = nj;
			n->joincap = cap;
		}
	}
	if (n->njoins < n->joincap) {
		snprintf(n->joins[n->njoins].id, sizeof(n->joins[0].id), "%s",
			 id);
		n->joins[n->njoins].rev = rev;
		n->njoins++;
		n->kick = true;
		pthread_cond_signal(&n->qcond);
	}
	pthread_mutex_unlock(&n->qmu);
}

static void *worker_main(void *arg)
{
	struct mc_node *n = arg;

	pthread_mutex_lock(&n->qmu);
	while (!n->stopping) {
		struct rel *v = NULL;
		struct joined *j = NULL;
		size_t k = 0, nj = 0;
		struct timespec ts;

		if (!n->nrel && !n->njoins) {
			pthread_cond_wait(&n->qcond, &n->qmu);
			continue;
		}
		/*
		 * Releases wait RELEASE_BATCH_MS for company (until the
		 * batch is full), a node's report is asked again in 100 ms
		 * (sooner when new work kicks).
		 */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += (n->nrel ? RELEASE_BATCH_MS : 100) * 1000000L;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		n->kick = false;
		while (!n->stopping && !n->kick &&
		       pthread_cond_timedwait(&n->qcond, &n->qmu, &ts) !=
			       ETIMEDOUT)
			;
		if (n->nrel) {
			v = n->rel;
			k = n->nrel;
			n->rel = NULL;
			n->nrel = n->relcap = 0;
		}
		if (n->njoins) {
			j = n->joins;
			nj = n->njoins;
			n->joins = NULL;
			n->njoins = n->joincap = 0;
		}
		pthread_mutex_unlock(&n->qmu);
		if (k)
			flush_releases(n, v, k);
		free(v);
		for (size_t i = 0; i < nj; i++) {
			struct reign *r = reign_get(n);
			int st = r ? atomic_load(&r->state) : R_GONE;

			/*
			 * Asked again (every 100 ms) until its report is in
			 * or its lease ends: a node back from a partition
			 * may miss the first connect, and a master without
			 * its report never lists its memory. During the
			 * rebuild, after it (which may take it).
			 */
			if ((st == R_SERVE &&
			     report_node(r, j[i].id, j[i].rev, false) < 0 &&
			     still_member(n, j[i].id, j[i].rev)) ||
			    st == R_REBUILD)
				join_push(n, j[i].id, j[i].rev);
			reign_put(r);
		}
		free(j);
		pthread_mutex_lock(&n->qmu);
	}
	pthread_mutex_unlock(&n->qmu);
	return NULL;
}

/* ------------------------------------------------------------ elections */

/* Whether @r's rebuild goes on: its reign lives, its node stays. */
static bool rebuilding(struct reign *r)
{
	return atomic_load(&r->state) != R_GONE && !atomic_load(&r->n->leaving);
}

static void *rebuild_main(void *arg)
{
	struct reign *r = arg;
	struct mc_node *n = r->n;
	struct mc_member_node *v = NULL;
	size_t k = 0, made;
	uint64_t t0 = now_ms(), said = t0;
	bool self = false;

	mc_info("cluster: leader of term %llu: rebuilding the index from "
		"every node's report",
		(unsigned long long)r->term);
	/* the nodes registered now: every one of them is asked */
	while (mc_member_nodes(n->m, &v, &k) < 0 && rebuilding(r))
		sleep_ms(100);
	for (size_t i = 0; i < k; i++)
		self |= !strcmp(v[i].id, n->id);
	/* every live node, this one first (its memory needs no network) */
	if (!self)
		report_node(r, n->id, 0, true);
	for (size_t i = 0; i < k && rebuilding(r); i++) {
		if (!strcmp(v[i].id, n->id)) {
			report_node(r, n->id, v[i].revision, true);
			break;
		}
	}
	for (size_t i = 0; i < k && rebuilding(r); i++) {
		if (!strcmp(v[i].id, n->id))
			continue;
		/*
		 * A node that does not answer is asked again until it does
		 * or its lease ends (the old leader, killed or cut off,
		 * often still is in the node set read when this node won:
		 * the watch tells it a moment later). Never served without
		 * a live node's report: its committed records may be the
		 * only replicas of acknowledged puts, and a put whose
		 * answer was lost asks this master whether it happened
		 * (mooncake-cluster(7), Failover).
		 */
		while (still_member(n, v[i].id, v[i].revision) &&
		       report_node(r, v[i].id, v[i].revision, true) < 0 &&
		       rebuilding(r)) {
			if (now_ms() - said >= n->ttl_ms) {
				said = now_ms();
				mc_warn("cluster: the rebuild of term %llu "
					"waits for node '%s' (%llu ms)",
					(unsigned long long)r->term, v[i].id,
					(unsigned long long)(said - t0));
			}
			sleep_ms(100);
		}
	}
	free(v);
	pthread_mutex_lock(&r->mu);
	made = atomic_load(&r->state) != R_GONE ? mc_master_settle(r->m) : 0;
	pthread_mutex_unlock(&r->mu);
	if (atomic_load(&r->state) != R_GONE) {
		int exp = R_REBUILD;

		atomic_compare_exchange_strong(&r->state, &exp, R_SERVE);
		mc_info("cluster: serving as the leader of term %llu (%zu "
			"values rebuilt in %llu ms)",
			(unsigned long long)r->term, made,
			(unsigned long long)(now_ms() - t0));
	}
	reign_put(r);
	atomic_fetch_sub(&n->rebuilds, 1);
	return NULL;
}

static struct reign *reign_new(struct mc_node *n, uint64_t term)
{
	struct reign *r = calloc(1, sizeof(*r));
	struct mc_store_opts o = n->mo;

	if (!r)
		return NULL;
	atomic_init(&r->refs, 1);
	atomic_init(&r->state, R_REBUILD);
	r->n = n;
	r->term = term;
	pthread_mutex_init(&r->mu, NULL);
	o.owner_ops = &hooks;
	o.owner_arg = r;
	o.may_act = reign_may_act;
	o.may_act_arg = r;
	o.versions_low = reign_versions_low;
	o.versions_low_arg = r;
	o.alloc_arenas = MASTER_ARENAS;
	o.hold_ms = HOLD_MS;
	o.no_metadata = true; /* each node serves its own */
	o.owner_only = false;
	o.manual_tick = false;
	o.data_ops = NULL;
	o.register_mem = NULL;
	o.unregister_mem = NULL;
	r->m = mc_store_new(&o, NULL);
	if (!r->m) {
		pthread_mutex_destroy(&r->mu);
		free(r);
		return NULL;
	}
	mc_store_set_term(r->m, term);
	return r;
}

static void on_role(void *arg, bool leader, int64_t term)
{
	struct mc_node *n = arg;
	struct reign *r;
	pthread_t th;

	if (!leader) {
		pthread_mutex_lock(&n->mu);
		r = n->reign;
		n->reign = NULL;
		pthread_mutex_unlock(&n->mu);
		if (r) {
			atomic_store(&r->state, R_GONE);
			mc_warn("cluster: no longer the leader (term %lld): "
				"metadata operations go to the next one",
				(long long)term);
			reign_put(r);
		}
		return;
	}
	/*
	 * Counted before leaving is read, as mc_node_stop sets leaving
	 * before it waits for the count: either it waits for this
	 * rebuild, or this sees it leave (and the loss follows at once).
	 */
	atomic_fetch_add(&n->rebuilds, 1);
	if (atomic_load(&n->leaving)) {
		atomic_fetch_sub(&n->rebuilds, 1);
		return;
	}
	if ((uint64_t)term >> 32)
		mc_warn("cluster: term %lld (etcd's revision) is past 2^32: "
			"versions keep its low 32 bits, and a failover may "
			"bring an old value back (mooncake-cluster(7), NOT "
			"PROMISED); a dedicated etcd avoids it",
			(long long)term);
	r = reign_new(n, (uint64_t)term);
	if (!r) {
		atomic_fetch_sub(&n->rebuilds, 1);
		mc_error("cluster: elected for term %lld but out of memory",
			 (long long)term);
		return;
	}
	pthread_mutex_lock(&n->mu);
	n->reign = r;
	pthread_mutex_unlock(&n->mu);
	atomic_fetch_add(&r->refs, 1); /* the rebuild thread's */
	if (pthread_create(&th, NULL, rebuild_main, r)) {
		atomic_fetch_sub(&n->rebuilds, 1);
		reign_put(r);
		mc_error("cluster: cannot start the rebuild of term %lld",
			 (long long)term);
		return;
	}
	pthread_detach(th);
}

static void on_leader(void *arg, const char *id, int64_t term)
{
	struct mc_node *n = arg;

	if (!id)
		return;
	/* member.c logs the leader; this counts the elections seen */
	if ((uint64_t)term != atomic_exchange(&n->last_term, (uint64_t)term))
		atomic_fetch_add(&n->elections, 1);
}

/* The ids of one owner's segments, gathered by mc_segment_foreach. */
struct owned {
	struct mc_owner o;
	char (*ids)[MC_ID_LEN + 1];
	size_t n, cap;
};

static int collect_owned(const struct mc_seg_info *si, void *arg)
{
	struct owned *w = arg;

	if (!mc_owner_eq(&si->owner, &w->o))
		return 0;
	if (w->n == w->cap) {
		size_t nc = w->cap * 2 + 4;
		char(*ni)[MC_ID_LEN + 1] = realloc(w->ids, nc * sizeof(*ni));

		if (!ni)
			return -ENOMEM;
		w->ids = ni;
		w->cap = nc;
	}
	memcpy(w->ids[w->n++], si->id, sizeof(w->ids[0]));
	return 0;
}

/* A node's segments go with it: unmounted at once, its puts revoked. */
static void node_lost(struct reign *r, const char *id)
{
	struct owned w = {.o = {.kind = MC_OWNER_NODE}};
	struct mc_unmount_req ur = {0};
	const char **idp;

	snprintf(w.o.id, sizeof(w.o.id), "%s", id);
	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < r->ndone;) {
		if (!strcmp(r->done[i].id, id))
			r->done[i] = r->done[--r->ndone];
		else
			i++;
	}
	mc_segment_foreach(r->m, collect_owned, &w);
	idp = calloc(w.n ? w.n : 1, sizeof(*idp));
	for (size_t i = 0; idp && i < w.n; i++)
		idp[i] = w.ids[i];
	ur.ids = idp;
	ur.n = w.n;
	if (idp && w.n)
		mc_segment_unmount(r->m, &ur, NULL, NULL, NULL);
	mc_put_revoke_writer(r->m, &w.o);
	pthread_mutex_unlock(&r->mu);
	mc_warn("cluster: node '%s' is gone: its %zu segments unmounted", id,
		w.n);
	free(idp);
	free(w.ids);
}

/* Whether @pick holds for some node of the member view (@arg its own). */
static bool any_node(struct mc_node *n,
		     bool (*pick)(const struct mc_member_node *mn,
				  const void *arg),
		     const void *arg)
{
	struct mc_member_node *v = NULL;
	size_t k = 0;
	bool yes = false;

	if (!n->m || mc_member_nodes(n->m, &v, &k) < 0)
		return false;
	for (size_t i = 0; i < k && !yes; i++)
		yes = pick(&v[i], arg);
	free(v);
	return yes;
}

struct port_q {
	const char *host;
	unsigned port;
	bool (*same)(const char *a, const char *b);
};

static bool has_port(const struct mc_member_node *mn, const void *arg)
{
	const struct port_q *q = arg;
	const char *colon = strrchr(mn->transfer, ':');
	char h[256];
	size_t hl;

	if (!colon || strtoul(colon + 1, NULL, 10) != q->port)
		return false;
	hl = (size_t)(colon - mn->transfer);
	if (hl && mn->transfer[0] == '[' && colon[-1] == ']')
		memcpy(h, mn->transfer + 1, hl - 2), h[hl - 2] = '\0';
	else
		memcpy(h, mn->transfer, hl), h[hl] = '\0';
	return q->same(h, q->host);
}

bool mc_node_has_transfer(struct mc_node *n, const char *host, unsigned port,
			  bool (*same)(const char *a, const char *b))
{
	struct port_q q = {host, port, same};

	return any_node(n, has_port, &q);
}

struct name_q {
	const char *name;
	size_t len;
};

/* Its advertised transfer endpoint (the name a node publishes), or its
 * host name with that port. */
static bool publishes(const struct mc_member_node *mn, const void *arg)
{
	const struct name_q *q = arg;
	const char *colon = strrchr(mn->transfer, ':');
	char te[300];
	int tl;

	if (mn->self || !colon)
		return false;
	tl = snprintf(te, sizeof(te), "%s%s", mn->hostname, colon);
	return (strlen(mn->transfer) == q->len &&
		!memcmp(mn->transfer, q->name, q->len)) ||
	       (tl > 0 && (size_t)tl == q->len && !memcmp(te, q->name, q->len));
}

bool mc_node_publishes(struct mc_node *n, const char *name, size_t len)
{
	struct name_q q = {name, len};

	return any_node(n, publishes, &q);
}

static void on_node(void *arg, const struct mc_member_node *mn, bool joined)
{
	struct mc_node *n = arg;
	struct reign *r;

	pthread_mutex_lock(&n->mu);
	for (size_t i = 0; i < n->npeers; i++) {
		if (strcmp(n->peers[i].id, mn->id))
			continue;
		n->peers[i] = n->peers[--n->npeers];
		break;
	}
	if (joined) {
		struct peer *np =
			realloc(n->peers, (n->npeers + 1) * sizeof(*np));

		if (np) {
			n->peers = np;
			snprintf(np[n->npeers].id, sizeof(np[0].id), "%s",
				 mn->id);
			snprintf(np[n->npeers].http, sizeof(np[0].http), "%s",
				 mn->http);
			np[n->npeers].rev = mn->revision;
			n->npeers++;
		}
	}
	pthread_mutex_unlock(&n->mu);
	/* member.c logs joins and leaves */
	if (mn->self || !strcmp(mn->id, n->id))
		return;
	r = reign_get(n);
	if (!r)
		return;
	if (!joined) {
		node_lost(r, mn->id);
	} else {
		join_push(n, mn->id, mn->revision);
	}
	reign_put(r);
}

/* -------------------------------------------------------------- the link */

static int l_call(void *arg, const struct mc_buf *req, struct mc_buf *resp,
		  struct mc_err *err)
{
	struct mc_node *n = arg;
	struct reign *r = reign_get(n);
	struct mc_member_node ld;
	int64_t term;
	int status = 0, rc;
	bool sent;

	if (r) {
		if (!reign_serves(r)) {
			reign_put(r);
			return mc_err_set(err, -EAGAIN, MC_NO_LEADER,
					  "this node leads, and does not serve "
					  "yet: it rebuilds the index");
		}
		rc = mc_master_serve(r->m, r->term, req->data, req->len, resp);
		reign_put(r);
		return rc ? mc_err_set(err, -EAGAIN, MC_NO_LEADER,
				       "a request the master cannot read")
			  : 0;
	}
	if (!n->m || mc_member_leader(n->m, &ld, &term) < 0)
		return mc_err_set(err, -EAGAIN, MC_NO_LEADER,
				  "no cluster leader");
	if (!strcmp(ld.id, n->id))
		return mc_err_set(err, -EAGAIN, MC_NO_LEADER,
				  "this node is being elected");
	rc = hclient_post(n->hc, ld.http, MASTER_PATH, token_get(n), req->data,
			  req->len, &status, resp, &sent, err);
	if (rc < 0) {
		if (err)
			err->code = MC_NO_LEADER;
		return sent ? -ECONNABORTED : -EAGAIN;
	}
	if (status == 200)
		return 0;
	if (status == 401)
		mc_warn("cluster: the leader refused this node's bearer token");
	return mc_err_set(err, -EAGAIN, MC_NO_LEADER,
			  status == 503 ? "the leader does not serve yet"
					: "the leader answered HTTP %d",
			  status);
}

static int l_serve(void *arg, enum mc_wire_kind which, const void *req,
		   size_t len, struct mc_buf *resp)
{
	struct mc_node *n = arg;
	struct reign *r;
	int rc;

	if (which == MC_WIRE_OWNER)
		return mc_owner_serve(n->own, req, len, resp);
	if (which == MC_WIRE_META) {
		/* this node's own: a node that asks has looked at its own */
		struct mc_meta *m = mc_store_meta(n->own);
		struct mc_err e = {0};

		return m ? mc_meta_get(m, req, len, resp, &e) : -ENOENT;
	}
	r = reign_get(n);
	if (!r)
		return -EAGAIN;
	rc = reign_serves(r) ? mc_master_serve(r->m, r->term, req, len, resp)
			     : -EAGAIN;
	reign_put(r);
	return rc;
}

static int seg_count(const struct mc_seg_info *si, void *arg)
{
	struct mc_cluster_info *ci = arg;

	for (size_t i = 0; i < ci->n; i++)
		if (si->owner.kind == MC_OWNER_NODE &&
		    !strcmp(si->owner.id, ci->nodes[i].id))
			ci->nodes[i].segments++;
	return 0;
}

static int l_cluster(void *arg, struct mc_cluster_info *ci)
{
	struct mc_node *n = arg;
	struct mc_member_node *v = NULL, ld;
	struct reign *r = reign_get(n);
	int64_t term = 0;
	size_t k = 0;

	snprintf(ci->name, sizeof(ci->name), "%s", n->cluster);
	snprintf(ci->self, sizeof(ci->self), "%s", n->id);
	ci->elections = atomic_load(&n->elections);
	if (n->m && mc_member_leader(n->m, &ld, &term) >= 0) {
		snprintf(ci->leader, sizeof(ci->leader), "%s", ld.id);
		ci->term = (uint64_t)term;
		ci->serving = strcmp(ld.id, n->id) || (r && reign_serves(r));
	}
	reign_put(r);
	if (n->m && mc_member_nodes(n->m, &v, &k) < 0)
		return -ENOMEM;
	ci->nodes = calloc(k ? k : 1, sizeof(*ci->nodes));
	if (!ci->nodes) {
		free(v);
		return -ENOMEM;
	}
	for (size_t i = 0; i < k; i++) {
		struct mc_cluster_node *c = &ci->nodes[i];

		snprintf(c->id, sizeof(c->id), "%s", v[i].id);
		snprintf(c->http, sizeof(c->http), "%s", v[i].http);
		snprintf(c->transfer, sizeof(c->transfer), "%s", v[i].transfer);
		snprintf(c->hostname, sizeof(c->hostname), "%s", v[i].hostname);
		c->leader = !strcmp(v[i].id, ci->leader);
	}
	ci->n = k;
	free(v);
	if (ci->serving)
		mc_segment_foreach(n->own, seg_count, ci);
	return 0;
}

static int l_meta(void *arg, const char *key, size_t klen, struct mc_buf *out,
		  struct mc_err *err);

static const struct mc_link_ops link_ops = {
	.call = l_call,
	.serve = l_serve,
	.cluster = l_cluster,
	.meta = l_meta,
};

/* The link once the node has left: no leader, ever. */
static int stopped_call(void *arg, const struct mc_buf *req,
			struct mc_buf *resp, struct mc_err *err)
{
	(void)arg;
	(void)req;
	(void)resp;
	return mc_err_set(err, -EAGAIN, MC_NO_LEADER,
			  "this node has left the cluster");
}

static int stopped_serve(void *arg, enum mc_wire_kind which, const void *req,
			 size_t len, struct mc_buf *resp)
{
	(void)arg;
	(void)which;
	(void)req;
	(void)len;
	(void)resp;
	return -EAGAIN;
}

static const struct mc_link_ops stopped_ops = {
	.call = stopped_call,
	.serve = stopped_serve,
};

/* ------------------------------------------------------------- metrics */

static void collect(struct mc_metrics *mm, void *arg)
{
	struct mc_node *n = arg;
	struct reign *r = reign_get(n);
	struct mc_member_node *v = NULL;
	int64_t term = 0;
	size_t k = 0;

	(void)mm;
	mc_series_set(n->g_leader, r && reign_serves(r) ? 1 : 0);
	reign_put(r);
	if (n->m && mc_member_nodes(n->m, &v, &k) == 0)
		free(v);
	mc_series_set(n->g_nodes, (double)k);
	if (!n->m || mc_member_leader(n->m, NULL, &term) < 0)
		term = 0;
	mc_series_set(n->g_term, (double)term);
	mc_series_set(n->c_elections, (double)atomic_load(&n->elections));
}

static void metrics_register(struct mc_node *n, struct mc_metrics *m)
{
	struct mc_family *f;

	f = mc_metrics_family(m, "mooncake_cluster_is_leader",
			      "1 while this node is the cluster's leader and "
			      "serves metadata operations, else 0",
			      MC_GAUGE, NULL, NULL, 0);
	n->g_leader = mc_family_series(f, NULL);
	f = mc_metrics_family(m, "mooncake_cluster_nodes",
			      "Nodes registered in the cluster, as this node "
			      "sees them",
			      MC_GAUGE, NULL, NULL, 0);
	n->g_nodes = mc_family_series(f, NULL);
	f = mc_metrics_family(m, "mooncake_cluster_term",
			      "Term of the current leader (0 when none)",
			      MC_GAUGE, NULL, NULL, 0);
	n->g_term = mc_family_series(f, NULL);
	f = mc_metrics_family(m, "mooncake_cluster_elections_total",
			      "Leaders this node has seen elected", MC_COUNTER,
			      NULL, NULL, 0);
	n->c_elections = mc_family_series(f, NULL);
	mc_metrics_add_collector(m, collect, n);
}

/* ------------------------------------------------------------ lifetime */

struct mc_node *mc_node_new(const struct mc_node_opts *o, struct mc_store *own,
			    struct mc_err *err)
{
	struct mc_node *n = calloc(1, sizeof(*n));
	pthread_condattr_t ca;

	if (!n) {
		mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR, "out of memory");
		return NULL;
	}
	n->own = own;
	mc_uuid_new(n->id);
	n->etcd = strdup(o->etcd ? o->etcd : "");
	n->cluster =
		strdup(o->cluster && *o->cluster ? o->cluster : "mooncake");
	n->hostname = o->hostname ? strdup(o->hostname) : NULL;
	n->ttl_ms = o->ttl_ms ? o->ttl_ms : 3000;
	n->mo = *o->master;
	n->mo_hostname =
		strdup(o->master->hostname ? o->master->hostname : "localhost");
	n->mo_protocol =
		strdup(o->master->protocol ? o->master->protocol : "tcp");
	n->mo.hostname = n->mo_hostname;
	n->mo.protocol = n->mo_protocol;
	n->mo.metadata_cluster_id = NULL;
	atomic_init(&n->token, o->token ? strdup(o->token) : NULL);
	/* an owner answers within a second; a rebuild's report may be big */
	n->hc = hclient_new(n->ttl_ms, 0);
	if (!n->etcd || !n->cluster || !n->mo_hostname || !n->mo_protocol ||
	    !n->hc || (o->token && !atomic_load(&n->token))) {
		mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR, "out of memory");
		goto fail;
	}
	pthread_mutex_init(&n->mu, NULL);
	pthread_mutex_init(&n->qmu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&n->qcond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&n->worker, NULL, worker_main, n)) {
		mc_err_set(err, -EAGAIN, MC_INTERNAL_ERROR,
			   "cannot start a thread");
		pthread_mutex_destroy(&n->mu);
		pthread_mutex_destroy(&n->qmu);
		pthread_cond_destroy(&n->qcond);
		goto fail;
	}
	n->worker_started = true;
	if (o->metrics)
		metrics_register(n, o->metrics);
	mc_store_set_link(own, &link_ops, n, n->id);
	return n;
fail:
	hclient_free(n->hc);
	free(atomic_load(&n->token));
	free(n->etcd);
	free(n->cluster);
	free(n->hostname);
	free(n->mo_hostname);
	free(n->mo_protocol);
	free(n);
	return NULL;
}

/*
 * The link's meta: @key in the other nodes' own metadata (their
 * MC_WIRE_META, which never asks further), the first that has it.
 */
static int l_meta(void *arg, const char *key, size_t klen, struct mc_buf *out,
		  struct mc_err *err)
{
	struct mc_node *n = arg;
	struct mc_buf body = MC_BUF_INIT;
	struct peer *v;
	size_t k = 0;
	int rc = -ENOENT;

	pthread_mutex_lock(&n->mu);
	v = malloc((n->npeers ? n->npeers : 1) * sizeof(*v));
	if (v) {
		k = n->npeers;
		memcpy(v, n->peers, k * sizeof(*v));
	}
	pthread_mutex_unlock(&n->mu);
	if (!v)
		return mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR,
				  "out of memory");
	for (size_t i = 0; i < k && rc; i++) {
		bool sent;
		int st = 0;

		if (!strcmp(v[i].id, n->id))
			continue;
		if (hclient_post(n->hc, v[i].http, META_PATH, token_get(n), key,
				 klen, &st, &body, &sent, NULL) == 0 &&
		    st == 200) {
			mc_buf_add(out, body.data, body.len);
			rc = 0;
		}
	}
	mc_buf_release(&body);
	free(v);
	return rc ? mc_err_set(err, -ENOENT, MC_OBJECT_NOT_FOUND,
			       "no node has metadata key '%.*s'",
			       (int)(klen > 64 ? 64 : klen), key)
		  : 0;
}

const char *mc_node_id(const struct mc_node *n)
{
	return n->id;
}

int mc_node_start(struct mc_node *n, const char *http, const char *transfer,
		  struct mc_err *err)
{
	struct mc_member_opts mo;

	mc_member_opts_default(&mo);
	mo.endpoints = n->etcd;
	mo.cluster = n->cluster;
	mo.id = n->id;
	mo.http = http;
	mo.transfer = transfer;
	mo.hostname = n->hostname;
	mo.ttl_ms = n->ttl_ms;
	mo.cb = (struct mc_member_callbacks){
		.on_node = on_node,
		.on_leader = on_leader,
		.on_role = on_role,
		.arg = n,
	};
	n->m = mc_member_start(&mo, err);
	if (!n->m)
		return err && err->msg[0] ? -EINVAL : -ENOMEM;
	return 0;
}

int mc_node_set_token(struct mc_node *n, const char *token)
{
	char *t = token ? strdup(token) : NULL, *old;
	struct old_token *ot = malloc(sizeof(*ot));

	if ((token && !t) || !ot) {
		free(t);
		free(ot);
		return -ENOMEM;
	}
	/* a request under way may still read the old one: keep it */
	pthread_mutex_lock(&n->mu);
	old = atomic_exchange(&n->token, t);
	ot->tok = old;
	ot->next = n->old_tokens;
	n->old_tokens = ot;
	pthread_mutex_unlock(&n->mu);
	return 0;
}

void mc_node_stop(struct mc_node *n)
{
	if (!n)
		return;
	/*
	 * The worker and the rebuilds ask the member: they end first (no
	 * new rebuild starts once leaving is set), then the member goes.
	 */
	atomic_store(&n->leaving, true);
	pthread_mutex_lock(&n->qmu);
	n->stopping = true;
	n->kick = true;
	pthread_cond_signal(&n->qcond);
	pthread_mutex_unlock(&n->qmu);
	if (n->worker_started)
		pthread_join(n->worker, NULL);
	while (atomic_load(&n->rebuilds))
		sleep_ms(10);
	mc_member_stop(n->m); /* steps down: the reign goes (on_role) */
	mc_store_set_link(n->own, &stopped_ops, NULL, n->id);
	n->m = NULL;
	reign_put(n->reign);
	n->reign = NULL;
	hclient_free(n->hc);
	while (n->old_tokens) {
		struct old_token *ot = n->old_tokens;

		n->old_tokens = ot->next;
		if (ot->tok) {
			explicit_bzero(ot->tok, strlen(ot->tok));
			free(ot->tok);
		}
		free(ot);
	}
	if (atomic_load(&n->token)) {
		explicit_bzero(atomic_load(&n->token),
			       strlen(atomic_load(&n->token)));
		free(atomic_load(&n->token));
	}
	pthread_mutex_destroy(&n->mu);
	pthread_mutex_destroy(&n->qmu);
	pthread_cond_destroy(&n->qcond);
	free(n->rel);
	free(n->joins);
	free(n->peers);
	free(n->etcd);
	free(n->cluster);
	free(n->hostname);
	free(n->mo_hostname);
	free(n->mo_protocol);
	free(n);
}
