/*
 * evict.c - eviction: which objects go when memory runs short (above the
 * high watermark, or when a put cannot be placed), and the allocation of
 * replicas that falls back on it.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ebr.h"
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

/* What an eviction run has taken, and what it owes the other nodes. */
struct take {
	struct mc_obj *gone;  /* unlinked, not retired yet */
	uint64_t freed;	      /* replica bytes */
	uint64_t valued;      /* as the metrics count: value bytes x replicas */
	uint64_t keys, bytes; /* bytes: of gone's keys, towards RETIRE_BATCH */
	bool told;	      /* every node was told so far */
};

/* Unlinks @o, at *@pp of @sh (locked for writing), into @t. */
static void take_obj(struct mc_store *s, struct mc_shard *sh, obj_link *pp,
		     struct mc_obj *o, struct take *t)
{
	obj_unlink(s, sh, pp);
	if (s->o.owner_ops) /* order.c */
		order_note_remove(s, sh, key_hash(obj_key(o), o->klen),
				  o->version);
	t->freed += obj_bytes(o);
	t->valued += o->size * o->nrep;
	t->bytes += o->klen + 32;
	t->keys++;
	atomic_store_explicit(&o->next, t->gone, memory_order_relaxed);
	t->gone = o;
}

/* Once a shard's lock is dropped: retires a full batch, or (@all) the rest. */
static void take_flush(struct mc_store *s, struct take *t, bool all)
{
	if (all || t->bytes >= RETIRE_BATCH) {
		t->told = retire_evicted(s, t->gone, t->told);
		t->gone = NULL;
		t->bytes = 0;
	}
}

/*
 * Takes every evictable object that @pick chooses, shard by shard, until
 * @t has freed @until bytes.
 */
static void take_each(struct mc_store *s, struct take *t, uint64_t until,
		      bool (*pick)(void *ctx, const struct mc_obj *o,
				   const struct take *t),
		      void *ctx)
{
	uint64_t now = store_now(s);

	for (unsigned i = 0; i < MC_NSHARDS && t->freed < until; i++) {
		struct mc_shard *sh = &s->shards[i];
		struct mc_obj *o;
		struct mc_tab *tab;

		shard_lock(sh);
		tab = shard_tab(sh);
		for (uint32_t b = 0; b <= tab->mask; b++) {
			obj_link *pp = &tab->b[b];

			while ((o = link_get(pp))) {
				if (obj_evictable(o, now) && pick(ctx, o, t))
					take_obj(s, sh, pp, o, t);
				else
					pp = &o->next;
			}
		}
		shard_unlock(sh);
		take_flush(s, t, false);
	}
}

/* Counts a run of cause @cause that @t describes; evict_lock held. */
static void take_count(struct mc_store *s, const struct take *t, int cause)
{
	mc_series_add(s->c.evict_attempts, 1);
	mc_series_add(s->c.evict_attempts_mem, 1);
	mc_series_add(cause == CAUSE_ALLOC ? s->c.evict_cause_alloc
					   : s->c.evict_cause_watermark,
		      1);
	if (!t->keys)
		return;
	mc_series_add(s->c.evict_ok, 1);
	mc_series_add(s->c.evict_keys, t->keys);
	mc_series_add(s->c.evict_bytes, t->valued);
	mc_series_add(s->c.evict_ok_mem, 1);
	mc_series_add(s->c.evict_keys_mem, t->keys);
	mc_series_add(s->c.evict_bytes_mem, t->valued);
}

/*
 * A run frees watermark - ratio of the capacity at once, so runs are rare
 * enough to log each; one that frees nothing repeats with every put while
 * every value is leased, and the put's failure says so.
 */
static void take_log(const struct take *t, const char *why)
{
	if (t->keys)
		mc_info("evict: %llu keys, %llu bytes evicted (%s)",
			(unsigned long long)t->keys,
			(unsigned long long)t->valued, why);
	else
		mc_debug("evict: nothing to evict (%s): every value is leased, "
			 "in use or being put",
			 why);
}

/* Where evict() cuts the age histogram, and which of its passes runs. */
struct lru {
	uint32_t now_clk, max_age;
	uint64_t span, need;
	unsigned cut, pass;
};

/* Pass 0 takes the buckets older than the cut, pass 1 the cut bucket. */
static bool lru_pick(void *ctx, const struct mc_obj *o, const struct take *t)
{
	const struct lru *l = ctx;
	unsigned k = age_bucket(obj_age(o, l->now_clk), l->max_age, l->span);

	return l->pass == 0 ? k > l->cut : k >= l->cut && t->freed < l->need;
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
	struct lru l = {.now_clk = atomic_load(&s->clock), .need = need};
	uint64_t now = store_now(s), cum = 0;
	struct take t = {.told = true};
	bool any = false;

	pthread_mutex_lock(&s->evict_lock);
	for (unsigned i = 0; i < MC_NSHARDS; i++) {
		struct mc_shard *sh = &s->shards[i];

		struct mc_tab *tab;

		pthread_rwlock_rdlock(&sh->lock);
		tab = shard_tab(sh);
		for (uint32_t b = 0; b <= tab->mask; b++)
			for (struct mc_obj *o = link_get(&tab->b[b]); o;
			     o = obj_next(o)) {
				if (!obj_evictable(o, now))
					continue;
				uint32_t a = obj_age(o, l.now_clk);

				if (a > l.max_age)
					l.max_age = a;
				any = true;
			}
		pthread_rwlock_unlock(&sh->lock);
	}
	if (!any)
		goto out;
	memset(hist, 0, sizeof(hist));
	l.span = (uint64_t)l.max_age + 1;

	for (unsigned i = 0; i < MC_NSHARDS; i++) {
		struct mc_shard *sh = &s->shards[i];

		struct mc_tab *tab;

		pthread_rwlock_rdlock(&sh->lock);
		tab = shard_tab(sh);
		for (uint32_t b = 0; b <= tab->mask; b++)
			for (struct mc_obj *o = link_get(&tab->b[b]); o;
			     o = obj_next(o))
				if (obj_evictable(o, now))
					hist[age_bucket(obj_age(o, l.now_clk),
							l.max_age, l.span)] +=
						obj_bytes(o);
		pthread_rwlock_unlock(&sh->lock);
	}
	/* The youngest bucket that must go, counting from the oldest. */
	for (l.cut = EVICT_BUCKETS; l.cut-- > 0;) {
		cum += hist[l.cut];
		if (cum >= need)
			break;
	}
	if (l.cut >= EVICT_BUCKETS)
		l.cut = 0;
	for (l.pass = 0; l.pass < 2 && t.freed < need; l.pass++)
		take_each(s, &t, need, lru_pick, &l);
	take_flush(s, &t, true);
out:
	take_count(s, &t, cause);
	pthread_mutex_unlock(&s->evict_lock);
	take_log(&t, cause == CAUSE_ALLOC ? "a put found no room"
					  : "above the high watermark");
	return t.freed;
}

/* ------------------------------------------------------ a hole of a size */

/*
 * Least-recently-used order frees bytes, not a place: where values of
 * many sizes share a segment, what the oldest leave can lie scattered
 * between younger ones, and a large put still finds no hole. Then, in
 * each of as many segments as the put wants replicas, the run of
 * adjacent blocks that are free or hold evictable values and that makes
 * a hole of the put's size by evicting the fewest bytes goes
 * (mooncaked(8), --eviction-ratio).
 */

/* Evictable replica blocks, sorted by address. */
struct blkset {
	const struct mc_blk **v;
	size_t n, cap;
};

static int blkset_add(struct blkset *set, const struct mc_blk *b)
{
	if (set->n == set->cap) {
		size_t cap = set->cap ? 2 * set->cap : 4096;
		const struct mc_blk **v = realloc(set->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		set->v = v;
		set->cap = cap;
	}
	set->v[set->n++] = b;
	return 0;
}

static int blk_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (const struct mc_blk *const *)a;
	uintptr_t y = (uintptr_t) * (const struct mc_blk *const *)b;

	return (x > y) - (x < y);
}

static bool blkset_has(const struct blkset *set, const struct mc_blk *b)
{
	return set->n &&
	       bsearch(&b, set->v, set->n, sizeof(*set->v), blk_cmp) != NULL;
}

/* The replicas of every object evictable now, into @set (sorted). */
static int hole_candidates(struct mc_store *s, struct blkset *set)
{
	uint64_t now = store_now(s);
	int rc = 0;

	for (unsigned i = 0; i < MC_NSHARDS && !rc; i++) {
		struct mc_shard *sh = &s->shards[i];
		struct mc_tab *tab;

		pthread_rwlock_rdlock(&sh->lock);
		tab = shard_tab(sh);
		for (uint32_t b = 0; b <= tab->mask && !rc; b++)
			for (struct mc_obj *o = link_get(&tab->b[b]); o && !rc;
			     o = obj_next(o))
				for (unsigned r = 0; r < o->nrep && !rc; r++)
					if (obj_evictable(o, now))
						rc = blkset_add(set, o->rep[r]);
		pthread_rwlock_unlock(&sh->lock);
	}
	if (!rc && set->n) /* qsort takes no NULL array, even empty */
		qsort(set->v, set->n, sizeof(*set->v), blk_cmp);
	return rc;
}

/* A run of blocks of one arena: [start, end), @cost bytes to evict. */
struct hole {
	struct mc_arena *arena;
	uint64_t start, end, cost;
};

/* The walk of one arena for its cheapest hole of @need bytes. */
struct hole_scan {
	const struct blkset *evictable;
	uint64_t need;
	/* the run under way, oldest block first: q[head..tail) */
	struct run_blk {
		uint64_t off, size, cost;
	} * q;
	size_t head, tail, cap;
	uint64_t span, cost;
	bool found, nomem;
	struct hole best;
};

static bool run_push(struct hole_scan *h, uint64_t off, uint64_t size,
		     uint64_t cost)
{
	if (h->tail == h->cap && h->head) {
		memmove(h->q, h->q + h->head,
			(h->tail - h->head) * sizeof(*h->q));
		h->tail -= h->head;
		h->head = 0;
	}
	if (h->tail == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 256;
		struct run_blk *q = realloc(h->q, cap * sizeof(*q));

		if (!q)
			return false;
		h->q = q;
		h->cap = cap;
	}
	h->q[h->tail++] = (struct run_blk){off, size, cost};
	h->span += size;
	h->cost += cost;
	return true;
}

/* mc_alloc_walk's step: a run ends at a block that cannot go. */
static bool hole_step(void *ctx, uint64_t off, uint64_t size,
		      const struct mc_blk *b)
{
	struct hole_scan *h = ctx;

	if (b && !blkset_has(h->evictable, b)) {
		h->head = h->tail = 0;
		h->span = h->cost = 0;
		return true;
	}
	if (!run_push(h, off, size, b ? size : 0)) {
		h->nomem = true;
		return false;
	}
	/* the shortest run ending here that still holds @need */
	while (h->span - h->q[h->head].size >= h->need) {
		h->span -= h->q[h->head].size;
		h->cost -= h->q[h->head].cost;
		h->head++;
	}
	if (h->span >= h->need && (!h->found || h->cost < h->best.cost)) {
		h->found = true;
		h->best.start = h->q[h->head].off;
		h->best.end = off + size;
		h->best.cost = h->cost;
	}
	return h->best.cost || !h->found; /* a free hole: nothing to evict */
}

static int hole_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct hole *)a)->cost;
	uint64_t y = ((const struct hole *)b)->cost;

	return (x > y) - (x < y);
}

/*
 * The cheapest hole of @need bytes in each segment @pl may use, cheapest
 * first, in *@outp (to free): how many, or -ENOMEM. *@eligible: how many
 * segments @pl may use.
 */
static long hole_find(struct mc_store *s, uint64_t need,
		      const struct seg_place *pl, const struct blkset *set,
		      struct hole **outp, size_t *eligible)
{
	struct hole_scan h = {.evictable = set, .need = need};
	struct hole *out = NULL;
	struct seg_snap *t;
	size_t n = 0;

	ebr_enter();
	t = atomic_load_explicit(&s->seg_snap, memory_order_acquire);
	if (t && t->n && !(out = calloc(t->n, sizeof(*out))))
		h.nomem = true;
	for (size_t i = 0; t && i < t->n && !h.nomem; i++) {
		struct mc_seg *g = t->g[i];
		bool found = false;

		if (!seg_eligible(g, pl))
			continue;
		++*eligible;
		seg_keep_drain(g); /* kept buffers are free space too */
		for (unsigned k = 0; k < g->narenas && !h.nomem; k++) {
			struct mc_arena *a = &g->arenas[k];

			if (a->size < need)
				continue;
			h.head = h.tail = 0;
			h.span = h.cost = 0;
			h.found = false;
			pthread_mutex_lock(&a->lock);
			mc_alloc_walk(a->alloc, hole_step, &h);
			pthread_mutex_unlock(&a->lock);
			if (h.found && (!found || h.best.cost < out[n].cost)) {
				out[n] = h.best;
				out[n].arena = a;
				found = true;
			}
		}
		n += found;
	}
	ebr_exit();
	free(h.q);
	if (h.nomem) {
		free(out);
		return -ENOMEM;
	}
	if (n)
		qsort(out, n, sizeof(*out), hole_cmp);
	*outp = out;
	return (long)n;
}

/* The holes evict_hole makes, and the newest version it looked at. */
struct holes {
	const struct hole *v;
	size_t n;
	uint64_t vmax;
};

/*
 * Whether a replica of @o lies in one of the holes; a value put since
 * the holes were found (a small one placed in their free parts) stays.
 */
static bool hole_pick(void *ctx, const struct mc_obj *o, const struct take *t)
{
	const struct holes *h = ctx;

	(void)t;
	if (o->version > h->vmax)
		return false;
	for (unsigned r = 0; r < o->nrep; r++)
		for (size_t i = 0; i < h->n; i++)
			if (blk_arena(o->rep[r]) == h->v[i].arena &&
			    o->rep[r]->off >= h->v[i].start &&
			    o->rep[r]->off < h->v[i].end)
				return true;
	return false;
}

/*
 * Evicts what lies in the cheapest holes of @size in pl->want segments.
 * Whether the put should try again: a hole was made or found.
 */
static bool evict_hole(struct mc_store *s, uint64_t size,
		       const struct seg_place *pl)
{
	struct hole *holes = NULL;
	struct blkset set = {0};
	struct take t = {.told = true};
	size_t eligible = 0;
	long n = -ENOMEM;
	bool free_hole;
	uint64_t vmax;

	pthread_mutex_lock(&s->evict_lock);
	/* versions are (term << 32) | sequence (store_next_version) */
	vmax = atomic_load(&s->term) << 32 | (store_seq_now(s) & 0xffffffffu);
	if (hole_candidates(s, &set) == 0)
		n = set.n ? hole_find(s, buf_round(size), pl, &set, &holes,
				      &eligible)
			  : 0;
	free(set.v);
	/* a hole in each segment the put needs, or none is worth making */
	if (n >= 0 && (size_t)n < (pl->want < eligible ? pl->want : eligible))
		n = 0;
	if (n > (long)pl->want)
		n = (long)pl->want;
	free_hole = n > 0 && holes[0].cost == 0; /* a put freed it meanwhile */
	if (n > 0) {
		struct holes h = {holes, (size_t)n, vmax};

		take_each(s, &t, UINT64_MAX, hole_pick, &h);
	}
	take_flush(s, &t, true);
	if (n > 0) /* an eviction run, counted as the one before it */
		take_count(s, &t, CAUSE_ALLOC);
	pthread_mutex_unlock(&s->evict_lock);
	free(holes);
	if (n == -ENOMEM)
		mc_warn("evict: no memory to look for a hole of %llu bytes",
			(unsigned long long)size);
	take_log(&t, "a put found no hole of its size");
	return t.keys > 0 || free_hole;
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
		if (rc == -ENOSPC && evict_hole(s, size, pl))
			rc = seg_alloc_replicas(s, size, pl, blk);
	}
	budget_refill(s, &tb, gen);
	return rc;
}
