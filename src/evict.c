/*
 * evict.c - eviction: which objects go when memory runs short (above the
 * high watermark, or when a put cannot be placed), and the allocation of
 * replicas that falls back on it.
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>

#include "log.h"
#include "store_int.h"

/* -------------------------------------------------------------- eviction */

enum { CAUSE_WATERMARK, CAUSE_ALLOC };

static uint64_t evict_target(struct mc_store *s)
{
	double t = (s->o.high_watermark - s->o.evict_ratio) *
		   (double)atomic_load(&s->capacity);

	return t > 0 ? (uint64_t)t : 0;
}

static uint32_t obj_age(const struct mc_obj *o, uint32_t now_clk)
{
	int32_t age =
		(int32_t)(now_clk - atomic_load_explicit(&o->atime,
							 memory_order_relaxed));

	return age > 0 ? (uint32_t)age : 0;
}

#define EVICT_BUCKETS 1024u

/*
 * The histogram bucket of age @age, of ages 0..@max_age (@span is
 * max_age + 1). An object the first pass did not count (leased or in
 * use then, or published since with an older tick of its thread's
 * batch) may be older than @max_age: it goes in the oldest bucket.
 */
static unsigned age_bucket(uint32_t age, uint32_t max_age, uint64_t span)
{
	return (unsigned)((uint64_t)(age < max_age ? age : max_age) *
			  EVICT_BUCKETS / span);
}

static uint64_t obj_bytes(const struct mc_obj *o)
{
	uint64_t b = 0;

	for (unsigned i = 0; i < o->nrep; i++)
		b += o->rep[i]->size;
	return b;
}

/*
 * Whether taking @o would give its bytes back now: not while a read lease
 * runs, nor while anything but the index holds the version or a replica
 * (a get copying it, a transfer READ's pin, a hold, a lease that lapsed
 * and that the reaper has not ended yet). Taking such a value frees
 * nothing until that ends, so a put would lose it and still find no room.
 */
static bool obj_evictable(const struct mc_obj *o, uint64_t now)
{
	if (atomic_load_explicit(&o->ref, memory_order_relaxed) != 1)
		return false;
	for (unsigned i = 0; i < o->nrep; i++)
		if (atomic_load_explicit(&o->rep[i]->u.ref,
					 memory_order_relaxed) != 1)
			return false;
	return !obj_leased(o, now);
}

/*
 * Drops versions an eviction unlinked. A cluster master's evictions do
 * not come back at a failover (mooncake-cluster(7), Owner records): they
 * are retired first, in batches of RETIRE_BATCH rather than per shard,
 * and none after a batch some node was not told of (logged), so that a
 * node that does not answer delays an eviction once, by up to 2/3 of a
 * TTL. Returns whether every node was told, as far as @told goes.
 */
static bool retire_evicted(struct mc_store *s, struct mc_obj *gone, bool told)
{
	if (gone && told)
		told = obj_retire(s, gone, true, NULL) == 0;
	objs_unref(gone);
	return told;
}

/*
 * Evicts objects that free their bytes at once (obj_evictable), oldest first,
 * until @need bytes of replicas are released. Three passes over the index
 * (oldest age, an age histogram of bytes, then the eviction itself) give
 * least-recently-used order to within 1/1024 of the age range without sorting
 * or a per-object list. Serialized by evict_lock; returns the bytes released.
 */
static uint64_t evict(struct mc_store *s, uint64_t need, int cause)
{
	uint64_t hist[EVICT_BUCKETS];
	uint32_t now_clk = atomic_load(&s->clock), max_age = 0;
	uint64_t now = store_now(s), freed = 0, keys = 0, cum = 0, bytes = 0;
	/* what the metrics count, as upstream: value bytes times replicas */
	uint64_t valued = 0;
	struct mc_obj *gone = NULL;
	unsigned cut = 0;
	bool any = false, told = true;

	pthread_mutex_lock(&s->evict_lock);
	mc_series_add(s->c.evict_attempts, 1);
	mc_series_add(s->c.evict_attempts_mem, 1);
	mc_series_add(cause == CAUSE_ALLOC ? s->c.evict_cause_alloc
					   : s->c.evict_cause_watermark,
		      1);
	for (unsigned i = 0; i < MC_NSHARDS; i++) {
		struct mc_shard *sh = &s->shards[i];

		struct mc_tab *t;

		pthread_rwlock_rdlock(&sh->lock);
		t = shard_tab(sh);
		for (uint32_t b = 0; b <= t->mask; b++)
			for (struct mc_obj *o = link_get(&t->b[b]); o;
			     o = obj_next(o)) {
				if (!obj_evictable(o, now))
					continue;
				uint32_t a = obj_age(o, now_clk);

				if (a > max_age)
					max_age = a;
				any = true;
			}
		pthread_rwlock_unlock(&sh->lock);
	}
	if (!any)
		goto out;
	memset(hist, 0, sizeof(hist));
	uint64_t span = (uint64_t)max_age + 1;

	for (unsigned i = 0; i < MC_NSHARDS; i++) {
		struct mc_shard *sh = &s->shards[i];

		struct mc_tab *t;

		pthread_rwlock_rdlock(&sh->lock);
		t = shard_tab(sh);
		for (uint32_t b = 0; b <= t->mask; b++)
			for (struct mc_obj *o = link_get(&t->b[b]); o;
			     o = obj_next(o))
				if (obj_evictable(o, now))
					hist[age_bucket(obj_age(o, now_clk),
							max_age, span)] +=
						obj_bytes(o);
		pthread_rwlock_unlock(&sh->lock);
	}
	/* The youngest bucket that must go, counting from the oldest. */
	for (cut = EVICT_BUCKETS; cut-- > 0;) {
		cum += hist[cut];
		if (cum >= need)
			break;
	}
	if (cut >= EVICT_BUCKETS)
		cut = 0;
	for (unsigned pass = 0; pass < 2 && freed < need; pass++) {
		for (unsigned i = 0; i < MC_NSHARDS && freed < need; i++) {
			struct mc_shard *sh = &s->shards[i];
			struct mc_obj *o;
			struct mc_tab *t;

			shard_lock(sh);
			t = shard_tab(sh);
			for (uint32_t b = 0; b <= t->mask; b++) {
				obj_link *pp = &t->b[b];

				while ((o = link_get(pp))) {
					unsigned k =
						age_bucket(obj_age(o, now_clk),
							   max_age, span);

					/* Pass 0 takes the buckets older than
					 * the cut, pass 1 the cut bucket. */
					if (!obj_evictable(o, now) ||
					    (pass == 0
						     ? k <= cut
						     : k < cut ||
							       freed >= need)) {
						pp = &o->next;
						continue;
					}
					obj_unlink(s, sh, pp);
					if (s->o.owner_ops) /* order.c */
						order_note_remove(
							s, sh,
							key_hash(obj_key(o),
								 o->klen),
							o->version);
					freed += obj_bytes(o);
					valued += o->size * o->nrep;
					bytes += o->klen + 32;
					keys++;
					atomic_store_explicit(
						&o->next, gone,
						memory_order_relaxed);
					gone = o;
				}
			}
			shard_unlock(sh);
			if (bytes >= RETIRE_BATCH) {
				told = retire_evicted(s, gone, told);
				gone = NULL;
				bytes = 0;
			}
		}
	}
	retire_evicted(s, gone, told);
out:
	if (keys) {
		mc_series_add(s->c.evict_ok, 1);
		mc_series_add(s->c.evict_keys, keys);
		mc_series_add(s->c.evict_bytes, valued);
		mc_series_add(s->c.evict_ok_mem, 1);
		mc_series_add(s->c.evict_keys_mem, keys);
		mc_series_add(s->c.evict_bytes_mem, valued);
	}
	pthread_mutex_unlock(&s->evict_lock);
	/*
	 * A run frees watermark - ratio of the capacity at once, so runs are
	 * rare enough to log each; one that frees nothing repeats with every
	 * put while every value is leased, and the put's failure says so.
	 */
	if (keys)
		mc_info("evict: %llu keys, %llu bytes evicted (%s)",
			(unsigned long long)keys, (unsigned long long)valued,
			cause == CAUSE_ALLOC ? "a put found no room"
					     : "above the high watermark");
	else
		mc_debug("evict: nothing to evict (%s): every value is leased, "
			 "in use or being put",
			 cause == CAUSE_ALLOC ? "a put found no room"
					      : "above the high watermark");
	return freed;
}

/* Allocates replicas for a put, evicting at the watermark and on failure. */
/*
 * Room a thread may allocate without looking at the used count again.
 * The count is striped per thread (store_used_add), so reading it costs
 * a cache miss on every other thread's stripe; a put instead spends a
 * budget of 1/BUDGET_SHARE of the room below the watermark, read when
 * the budget runs out (or the segment table changed). BUDGET_SHARE
 * threads spending theirs at once reach the watermark and no further;
 * frees do not add to a budget, so it only errs towards looking again.
 */
#define BUDGET_SHARE 16

struct budget {
	uint64_t serial, gen; /* the store and segment table it is for */
	uint64_t bytes;
};

static void budget_refill(struct mc_store *s, struct budget *b, uint64_t gen)
{
	double room = s->o.high_watermark * (double)atomic_load(&s->capacity) -
		      (double)store_used(s);

	b->serial = s->serial;
	b->gen = gen;
	b->bytes = room > 0 ? (uint64_t)(room / BUDGET_SHARE) : 0;
}

int evict_alloc_replicas(struct mc_store *s, uint64_t size,
			 const struct seg_place *pl, struct mc_blk **blk)
{
	static __thread struct budget tb;
	uint64_t gen = atomic_load_explicit(&s->seg_gen, memory_order_relaxed);
	uint64_t want = buf_round(size) * pl->want;
	uint64_t cap, used;
	int rc;

	if (tb.serial == s->serial && tb.gen == gen && tb.bytes >= want) {
		tb.bytes -= want;
		rc = seg_alloc_replicas(s, size, pl, blk);
		if (rc != -ENOSPC)
			return rc;
	}
	cap = atomic_load(&s->capacity);
	used = store_used(s);
	if (!seg_can_fit(s, size, pl))
		return -ENOSPC;
	/* not while an unmount drops its values: their bytes still count
	 * as used, their segment no longer as capacity (store_int.h) */
	if (cap && !atomic_load(&s->unlisting) &&
	    (double)(used + want) > s->o.high_watermark * (double)cap) {
		uint64_t target = evict_target(s);

		evict(s, used + want > target ? used + want - target : want,
		      CAUSE_WATERMARK);
	}
	rc = seg_alloc_replicas(s, size, pl, blk);
	if (rc == -ENOSPC && atomic_load(&s->nkeys)) {
		uint64_t target = evict_target(s);

		used = store_used(s);
		evict(s, used + want > target ? used + want - target : want,
		      CAUSE_ALLOC);
		rc = seg_alloc_replicas(s, size, pl, blk);
	}
	budget_refill(s, &tb, gen);
	return rc;
}
