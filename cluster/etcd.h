/*
 * etcd.h - an etcd v3 client over etcd's JSON gateway (the /v3/ HTTP
 * paths that etcd 3.4, Debian 12's etcd-server, serves next to gRPC).
 *
 * What it covers: KV put, range (one key, a range, a prefix), delete,
 * compare-and-put and compare-and-delete on a key's mod revision; lease
 * grant, keep-alive, revoke, time-to-live; watch (the streamed
 * /v3/watch); the election API (/v3/election/campaign, proclaim,
 * resign, leader, observe).
 *
 * Bytes: keys and values are arbitrary bytes (NUL included); the
 * gateway carries them in base64, which this module encodes and
 * decodes. Every key and value handed back is also NUL-terminated (one
 * byte past its length) so text can be used as a C string.
 *
 * Endpoints, timeouts, retries: a client has one or more endpoint URLs
 * ("http://127.0.0.1:2379,http://10.0.0.2:2379"). A unary call has a
 * total budget of mc_etcd_opts.timeout_ms: it tries the current
 * endpoint; when the endpoint cannot be reached, times out or answers
 * "unavailable" (no etcd leader, server stopping), the client moves to
 * the next endpoint for this and later calls and tries again, sleeping
 * an exponential backoff (backoff_ms doubling up to 1 s, with jitter)
 * after each full round of endpoints, until the budget is spent. A call
 * whose request may have reached etcd before the failure (a timeout or
 * a reset after sending) is retried only when repeating it is harmless
 * (range, put, delete, keep-alive, revoke, time-to-live, leader,
 * proclaim, resign); lease grant and the compare-and-* calls are not,
 * and fail with -ETIMEDOUT or -EIO ("outcome unknown"). An answer from
 * etcd that is an error (bad argument, lease not found, request too
 * large) is returned at once, never retried.
 *
 * Errors: every function returns 0 or a negative errno and, when @err is
 * not NULL, fills it with code MC_RPC_FAIL and a one-line message (the
 * failure first, then the endpoint or the etcd reason):
 *   -EINVAL     a bad argument, or etcd refused the request as invalid
 *   -ENOENT     the key, the lease or the leader does not exist
 *   -EPERM      proclaim/resign by a candidate that is not the leader
 *   -EMSGSIZE   the request is larger than etcd accepts (1.5 MiB by
 *               default), or the answer is larger than max_response
 *   -ERANGE     a watch or range revision is compacted or in the future
 *   -ETIMEDOUT  the budget ran out (the last failure is in the message)
 *   -ECONNREFUSED  no endpoint could be reached
 *   -EPROTO     an endpoint answered something that is not etcd's JSON
 *               (not JSON, a field of the wrong type, bad base64)
 *   -EIO        any other failure reported by etcd or libcurl
 *   -ECANCELED  the call's cancel token fired
 *   -ENOMEM     out of memory
 *
 * Threads: a client is safe to use from any number of threads at once;
 * each unary call borrows an idle connection (a libcurl easy handle)
 * from the client's pool or opens one. Blocking calls (campaign) and
 * streams (watch, observe) use a connection of their own. The client
 * must outlive every stream started on it and every call in flight.
 *
 * Revisions and ids are etcd's int64 values (the gateway sends them as
 * JSON strings; both forms are accepted).
 */
#ifndef MC_ETCD_H
#define MC_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct mc_etcd;

struct mc_etcd_opts {
	/* comma-separated http:// or https:// URLs; at most 16 */
	const char *endpoints;
	/* total budget of one unary call, retries included (default 2000) */
	unsigned timeout_ms;
	/* budget of one TCP connect (default min(500, timeout_ms)) */
	unsigned connect_timeout_ms;
	/* first retry pause, doubled up to 1000 ms (default 50) */
	unsigned backoff_ms;
	/* largest answer accepted, in bytes (default 64 MiB) */
	size_t max_response;
};

/* Fills @o with the defaults above and endpoints NULL. */
void mc_etcd_opts_default(struct mc_etcd_opts *o);

/*
 * Returns a client, or NULL with @err set (-EINVAL: no endpoint, more
 * than 16, a URL that is not http:// or https://, an empty host;
 * -ENOMEM). Nothing is sent: an unreachable etcd shows in the first
 * call. The options are copied.
 */
struct mc_etcd *mc_etcd_new(const struct mc_etcd_opts *o, struct mc_err *err);
/* Frees the client and its idle connections. NULL is a no-op. */
void mc_etcd_free(struct mc_etcd *e);
/* The endpoint the next call will try first (for messages). */
const char *mc_etcd_endpoint(struct mc_etcd *e);

/* --- cancel tokens ------------------------------------------------------- */

/*
 * A token that wakes a blocked campaign at once. mc_etcd_cancel_fire()
 * may be called from any thread (and from a signal handler); a fired
 * token stays fired until mc_etcd_cancel_reset(). Freeing a token with a
 * call still using it is a bug.
 */
struct mc_etcd_cancel;
struct mc_etcd_cancel *mc_etcd_cancel_new(void);
void mc_etcd_cancel_fire(struct mc_etcd_cancel *c);
bool mc_etcd_cancel_fired(struct mc_etcd_cancel *c);
void mc_etcd_cancel_reset(struct mc_etcd_cancel *c);
void mc_etcd_cancel_free(struct mc_etcd_cancel *c);

/* --- keys and values ----------------------------------------------------- */

/* One key-value as etcd stores it. key and value are malloc'd. */
struct mc_etcd_kv {
	char *key;
	size_t key_len;
	char *value;
	size_t value_len;
	int64_t create_revision; /* 0 for a deleted key in a watch event */
	int64_t mod_revision;
	int64_t version;
	int64_t lease; /* 0: none */
};

/* Frees key and value and zeroes @kv. */
void mc_etcd_kv_release(struct mc_etcd_kv *kv);

/* A list of kvs with the store revision it was read at. */
struct mc_etcd_kvs {
	int64_t revision; /* header revision of the answer */
	int64_t count;	  /* keys in the range (can exceed n with a limit) */
	bool more;	  /* a limit cut the answer */
	struct mc_etcd_kv *kvs;
	size_t n;
};

void mc_etcd_kvs_release(struct mc_etcd_kvs *r);

/* Range and delete flags. */
enum {
	/* @key is a prefix: every key starting with it (end ignored) */
	MC_ETCD_PREFIX = 1u << 0,
	/* range: keys and revisions only, value NULL */
	MC_ETCD_KEYS_ONLY = 1u << 1,
	/* range: sort ascending by create revision (default: by key) */
	MC_ETCD_SORT_CREATE = 1u << 2,
	/* delete: return the deleted kvs */
	MC_ETCD_PREV_KV = 1u << 3,
	/* watch: ask for progress notifications (etcd sends them at its
	 * --experimental-watch-progress-notify-interval) */
	MC_ETCD_PROGRESS = 1u << 4,
};

/*
 * Writes @key = @val, attached to @lease (0: none). @rev (may be NULL)
 * receives the revision of the write. -EINVAL for an empty key; -ENOENT
 * when the lease does not exist.
 */
int mc_etcd_put(struct mc_etcd *e, const void *key, size_t klen,
		const void *val, size_t vlen, int64_t lease, int64_t *rev,
		struct mc_err *err);

/* Reads one key into @out (released by the caller). -ENOENT when absent. */
int mc_etcd_get(struct mc_etcd *e, const void *key, size_t klen,
		struct mc_etcd_kv *out, struct mc_err *err);

/*
 * Reads the keys in [@key, @end) (@end NULL or elen 0: @key alone;
 * flags MC_ETCD_PREFIX: every key starting with @key; an @end of one
 * NUL byte: every key from @key on), at most @limit (0: all), at
 * revision @rev (0: the newest; -ERANGE when compacted or in the
 * future). Flags: MC_ETCD_PREFIX, MC_ETCD_KEYS_ONLY,
 * MC_ETCD_SORT_CREATE. @out is filled even when nothing matched.
 */
int mc_etcd_range(struct mc_etcd *e, const void *key, size_t klen,
		  const void *end, size_t elen, unsigned flags, int64_t limit,
		  int64_t rev, struct mc_etcd_kvs *out, struct mc_err *err);

/*
 * Deletes @key, the range [@key, @end), or with MC_ETCD_PREFIX every key
 * under the prefix. @deleted (may be NULL) receives how many went; with
 * MC_ETCD_PREV_KV and @prev not NULL, @prev receives them. Deleting
 * nothing is not an error.
 */
int mc_etcd_delete(struct mc_etcd *e, const void *key, size_t klen,
		   const void *end, size_t elen, unsigned flags,
		   int64_t *deleted, struct mc_etcd_kvs *prev,
		   struct mc_err *err);

/*
 * Compare-and-put in one transaction: writes @key = @val (with @lease)
 * only when the key's mod revision is @mod_rev (0: only when the key
 * does not exist). Returns 0 and sets *@done (true: written, @rev
 * receives its revision; false: not written, and @cur, when not NULL,
 * receives the key as it is, key NULL when absent). Never retried
 * once sent.
 */
int mc_etcd_cas(struct mc_etcd *e, const void *key, size_t klen,
		const void *val, size_t vlen, int64_t lease, int64_t mod_rev,
		bool *done, int64_t *rev, struct mc_etcd_kv *cur,
		struct mc_err *err);

/*
 * Compare-and-delete: deletes @key only when its mod revision is
 * @mod_rev. *@done tells whether it was deleted.
 */
int mc_etcd_cad(struct mc_etcd *e, const void *key, size_t klen,
		int64_t mod_rev, bool *done, struct mc_err *err);

/*
 * Compacts the store's history up to @rev: older revisions can no longer
 * be read or watched (-ERANGE afterwards). -ERANGE when @rev is already
 * compacted or in the future.
 */
int mc_etcd_compact(struct mc_etcd *e, int64_t rev, struct mc_err *err);

/* --- leases -------------------------------------------------------------- */

/*
 * Grants a lease of @ttl_s seconds (etcd raises a TTL below its minimum,
 * about 1.5 election timeouts, to that minimum: read *@ttl_out). @id 0
 * lets etcd choose; *@id_out receives the lease id. Never retried once
 * sent (a lost answer leaves a lease that expires by itself).
 */
int mc_etcd_lease_grant(struct mc_etcd *e, int64_t ttl_s, int64_t id,
			int64_t *id_out, int64_t *ttl_out, struct mc_err *err);

/*
 * Renews @id once (one request of the keep-alive stream). *@ttl_out
 * (may be NULL) receives the TTL it now has, counted from the moment
 * etcd handled the request, which is after this call began: a caller
 * that takes the time before the call may count the lease as alive
 * until that time + TTL. -ENOENT when the lease has expired or was
 * revoked.
 */
int mc_etcd_lease_keepalive(struct mc_etcd *e, int64_t id, int64_t *ttl_out,
			    struct mc_err *err);
/*
 * mc_etcd_lease_keepalive within @budget_ms rather than the client's
 * timeout_ms: a renewal may wait as long as its success could still help
 * (until the holder's fence), so a slow etcd is not taken for a dead one.
 */
int mc_etcd_lease_keepalive_within(struct mc_etcd *e, int64_t id,
				   unsigned budget_ms, int64_t *ttl_out,
				   struct mc_err *err);

/* Revokes @id and deletes its keys. -ENOENT when it does not exist. */
int mc_etcd_lease_revoke(struct mc_etcd *e, int64_t id, struct mc_err *err);

/*
 * Reads @id's remaining TTL (*@ttl), granted TTL (*@granted) and, when
 * @keys is not NULL, the keys attached (values NULL). -ENOENT when the
 * lease has expired or was revoked.
 */
int mc_etcd_lease_ttl(struct mc_etcd *e, int64_t id, int64_t *ttl,
		      int64_t *granted, struct mc_etcd_kvs *keys,
		      struct mc_err *err);

/* --- election ------------------------------------------------------------ */

/*
 * A candidate's key in the election @name: etcd creates it as
 * "@name/<lease in hex>" with the candidate's lease. rev is the key's
 * create revision, which grows with each key ever created, so it orders
 * the candidates and numbers the reigns.
 */
struct mc_etcd_leader_key {
	char *name;
	size_t name_len;
	char *key;
	size_t key_len;
	int64_t rev;
	int64_t lease;
};

void mc_etcd_leader_key_release(struct mc_etcd_leader_key *lk);

/*
 * Campaigns in the election @name with @lease and the value @val, and
 * blocks until this candidate leads: its key is the oldest of the
 * election. No time budget (waiting is the point): it returns 0 when
 * elected (@out filled), -ECANCELED when @cancel (may be NULL) fires,
 * or another error when the connection or etcd fails (the candidacy
 * key is then withdrawn by etcd; campaign again). etcd keeps waiting
 * even if @lease expires meanwhile, so a caller that can lose its lease
 * while waiting must check, after a success, that the lease is alive
 * and the key is still the oldest (mc_etcd_leader()). A candidate that
 * campaigns again with the same lease keeps its key and its place.
 */
int mc_etcd_campaign(struct mc_etcd *e, const void *name, size_t nlen,
		     int64_t lease, const void *val, size_t vlen,
		     struct mc_etcd_cancel *cancel,
		     struct mc_etcd_leader_key *out, struct mc_err *err);

/* Sets the leader's value without a new election. -EPERM if @lk does not
 * lead (any more). */
int mc_etcd_proclaim(struct mc_etcd *e, const struct mc_etcd_leader_key *lk,
		     const void *val, size_t vlen, struct mc_err *err);

/* Gives up @lk's leadership or candidacy (deletes its key). Resigning a
 * key that is gone is not an error. */
int mc_etcd_resign(struct mc_etcd *e, const struct mc_etcd_leader_key *lk,
		   struct mc_err *err);

/* Reads the leader's key of election @name. -ENOENT when none leads. */
int mc_etcd_leader(struct mc_etcd *e, const void *name, size_t nlen,
		   struct mc_etcd_kv *out, struct mc_err *err);

/* --- streams: watch and observe ------------------------------------------ */

enum mc_etcd_event_type {
	MC_ETCD_EV_PUT,
	MC_ETCD_EV_DELETE,
	/* the stream is (re)established; revision: the store's revision */
	MC_ETCD_EV_CREATED,
	/* no events until revision (a progress notification) */
	MC_ETCD_EV_PROGRESS,
	/* the next revision to watch was compacted: events up to revision
	 * (the compaction point) are lost; see mc_etcd_watch_fn */
	MC_ETCD_EV_COMPACTED,
	/* observe: kv is the leader's key as it is now */
	MC_ETCD_EV_LEADER,
	/* the stream broke (msg says why); it reconnects after a backoff */
	MC_ETCD_EV_DISCONNECTED,
};

struct mc_etcd_event {
	enum mc_etcd_event_type type;
	/* PUT: the new kv; DELETE: key and mod_revision of the delete;
	 * LEADER: the leader's kv */
	struct mc_etcd_kv kv;
	/* PUT, DELETE with MC_ETCD_PREV_KV: the kv before (key NULL when
	 * there was none) */
	struct mc_etcd_kv prev_kv;
	/* CREATED, PROGRESS: header revision; COMPACTED: compact revision;
	 * PUT, DELETE, LEADER: the kv's mod revision */
	int64_t revision;
	/* DISCONNECTED: why, one line */
	const char *msg;
};

/*
 * Called on the stream's own thread, one event at a time, in revision
 * order; the event and its bytes live until the callback returns. The
 * callback may call any function of this client (a range, a put) but
 * must not stop its own stream. Return 0 to go on; a positive revision
 * to restart the watch from that revision (reconnects; used after
 * COMPACTED, once the caller has re-read what it lost); a negative
 * value to end the stream (the thread ends, no more callbacks;
 * mc_etcd_watch_stop() is still needed to free it). After COMPACTED a
 * return of 0 resumes from the compaction point.
 */
typedef int64_t (*mc_etcd_watch_fn)(void *arg, const struct mc_etcd_event *ev);

struct mc_etcd_watch;

/*
 * Watches @key (alone, up to @end, or with MC_ETCD_PREFIX the prefix)
 * from revision @start_rev (0: from now) on a thread of its own. Flags:
 * MC_ETCD_PREFIX, MC_ETCD_PREV_KV, MC_ETCD_PROGRESS. Every event is
 * delivered once: when the stream breaks (etcd restarted, the endpoint
 * died, etcd cancelled the watch, the answer was not etcd's JSON), the
 * callback gets DISCONNECTED and the watch resumes on the next endpoint,
 * after a backoff, from the revision after the last one delivered. The
 * stream asks etcd to cancel it when the etcd member loses its own
 * leader (so a partitioned member cannot feed a stale view).
 * Returns NULL with @err set (-EINVAL, -ENOMEM); connection failures
 * never fail the start, they show as DISCONNECTED events.
 */
struct mc_etcd_watch *mc_etcd_watch_start(struct mc_etcd *e, const void *key,
					  size_t klen, const void *end,
					  size_t elen, unsigned flags,
					  int64_t start_rev,
					  mc_etcd_watch_fn fn, void *arg,
					  struct mc_err *err);

/*
 * Observes election @name: LEADER each time the leader's key is
 * created or changes (a new leader, a proclaim), DISCONNECTED when the
 * stream breaks; it reconnects by itself. etcd sends nothing when the
 * election is left without a leader: a caller that must know "no
 * leader" watches the election's prefix instead (the leader is the
 * live key with the smallest create revision). Stop with
 * mc_etcd_watch_stop().
 */
struct mc_etcd_watch *mc_etcd_observe_start(struct mc_etcd *e, const void *name,
					    size_t nlen, mc_etcd_watch_fn fn,
					    void *arg, struct mc_err *err);

/*
 * Stops the stream, waits for its thread and frees it: no callback runs
 * after it returns. Must not be called from the stream's own callback.
 * NULL is a no-op.
 */
void mc_etcd_watch_stop(struct mc_etcd_watch *w);

/*
 * The first key after every key that starts with @prefix, for range
 * ends: @prefix with its last byte below 0xff incremented and the rest
 * cut; one NUL byte (every key) when @prefix is all 0xff or empty.
 * Writes into @end (room for plen bytes, at least 1) and returns its
 * length.
 */
size_t mc_etcd_prefix_end(const void *prefix, size_t plen, char *end);

#endif
