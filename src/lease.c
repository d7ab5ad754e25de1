/*
 * lease.c - read leases: the queue of leased replica buffers, their
 * expiry, and the queries that grant them (mc_query, mc_query_batch).
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>

#include "store_int.h"

/* ---------------------------------------------------------------- leases */

/* The heap's order: the lease due first at the root. */
static void heap_up(struct mc_lease_ent *h, size_t i)
{
	struct mc_lease_ent e = h[i];

	while (i && h[(i - 1) / 2].due_ms > e.due_ms) {
		h[i] = h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h[i] = e;
}

static void heap_down(struct mc_lease_ent *h, size_t n, size_t i)
{
	struct mc_lease_ent e = h[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && h[c + 1].due_ms < h[c].due_ms)
			c++;
		if (h[c].due_ms >= e.due_ms)
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = e;
}

/*
 * Queues @b's lease, due at @due, with the reference the caller took;
 * without room for it the lease cannot be tracked, and is dropped.
 * Most leases are due last (now + TTL): their sift stops at once.
 */
static void lease_push(struct mc_store *s, struct mc_blk *b, uint64_t due)
{
	pthread_mutex_lock(&s->lease_lock);
	if (s->lease_n == s->lease_cap) {
		size_t cap = s->lease_cap ? 2 * s->lease_cap : 256;
		struct mc_lease_ent *h =
			realloc(s->lease_heap, cap * sizeof(*h));

		if (!h) {
			pthread_mutex_unlock(&s->lease_lock);
			atomic_fetch_and(&b->u.state, ~BLK_LEASED);
			blk_unref(b);
			return;
		}
		s->lease_heap = h;
		s->lease_cap = cap;
	}
	s->lease_heap[s->lease_n] = (struct mc_lease_ent){due, b};
	heap_up(s->lease_heap, s->lease_n++);
	pthread_mutex_unlock(&s->lease_lock);
}

/*
 * Grants (or extends) a lease on @b. The lease queue holds a reference on
 * the block while the lease runs, so the bytes outlive a replace or a
 * remove until it ends.
 */
static void lease_grant(struct mc_store *s, struct mc_blk *b, uint64_t until)
{
	uint64_t cur =
		atomic_load_explicit(&b->u.lease_until, memory_order_relaxed);

	while (cur < until &&
	       !atomic_compare_exchange_weak_explicit(
		       &b->u.lease_until, &cur, until, memory_order_seq_cst,
		       memory_order_relaxed))
		;
	if (atomic_fetch_or(&b->u.state, BLK_LEASED) & BLK_LEASED)
		return;
	atomic_fetch_add(&b->u.ref, 1);
	lease_push(s, b, until);
}

/* Ends the lease of @e: its block's reference goes, unless extended. */
static void lease_end(struct mc_store *s, struct mc_lease_ent e, uint64_t now,
		      bool seg_gone)
{
	struct mc_blk *b = e.blk;
	uint64_t until;

	atomic_fetch_and(&b->u.state, ~BLK_LEASED);
	until = atomic_load(&b->u.lease_until);
	/* Extended meanwhile: queue it again at its new end, keeping the
	 * reference, unless a racing grant already queued it. */
	if (!seg_gone && until > now &&
	    atomic_load(&blk_seg(b)->state) != SEG_GONE &&
	    !(atomic_fetch_or(&b->u.state, BLK_LEASED) & BLK_LEASED)) {
		lease_push(s, b, until);
		return;
	}
	if (seg_gone)
		atomic_store(&b->u.lease_until, 0);
	blk_unref(b);
}

#define LEASE_BATCH 256

/*
 * Under lease_lock, after leases left the queue: an empty queue frees
 * its array, and one below a quarter of it gets a smaller one, down to
 * LEASE_BATCH entries, so that a burst of leases (a million queries)
 * does not keep its array while a few leases stay.
 */
static void lease_fit(struct mc_store *s)
{
	size_t cap = s->lease_cap;
	struct mc_lease_ent *h;

	if (!s->lease_n) {
		free(s->lease_heap);
		s->lease_heap = NULL;
		s->lease_cap = 0;
		return;
	}
	while (cap > LEASE_BATCH && s->lease_n < cap / 4)
		cap /= 2;
	if (cap == s->lease_cap)
		return;
	h = realloc(s->lease_heap, cap * sizeof(*h));
	if (h) { /* else the larger one stays */
		s->lease_heap = h;
		s->lease_cap = cap;
	}
}

/*
 * Ends the leases of segment @g, which is being unmounted: one pass over
 * the heap takes them all (a segment of millions of leased values), in
 * batches of LEASE_BATCH only when there is no memory for the list.
 */
static void lease_drop_seg(struct mc_store *s, struct mc_seg *g, uint64_t now)
{
	struct mc_lease_ent stack[LEASE_BATCH], *out;
	size_t n, max;

	do {
		size_t keep = 0, mine = 0;

		pthread_mutex_lock(&s->lease_lock);
		for (size_t i = 0; i < s->lease_n; i++)
			mine += blk_seg(s->lease_heap[i].blk) == g;
		out = mine > LEASE_BATCH ? malloc(mine * sizeof(*out)) : NULL;
		max = out ? mine : LEASE_BATCH;
		if (!out)
			out = stack;
		n = 0;
		for (size_t i = 0; i < s->lease_n; i++) {
			struct mc_lease_ent e = s->lease_heap[i];

			if (n < max && blk_seg(e.blk) == g)
				out[n++] = e;
			else
				s->lease_heap[keep++] = e;
		}
		s->lease_n = keep;
		for (size_t i = keep / 2; i-- > 0;)
			heap_down(s->lease_heap, keep, i);
		lease_fit(s);
		pthread_mutex_unlock(&s->lease_lock);
		for (size_t i = 0; i < n; i++)
			lease_end(s, out[i], now, true);
		if (out != stack)
			free(out);
	} while (n == max && max == LEASE_BATCH);
}

/* Ends the leases that are due (all of segment @g's when @g is set). */
void lease_expire(struct mc_store *s, uint64_t now, struct mc_seg *g)
{
	struct mc_lease_ent batch[LEASE_BATCH];
	size_t n;

	if (g) {
		lease_drop_seg(s, g, now);
		return;
	}
	do {
		n = 0;
		pthread_mutex_lock(&s->lease_lock);
		while (n < LEASE_BATCH && s->lease_n &&
		       s->lease_heap[0].due_ms <= now) {
			batch[n++] = s->lease_heap[0];
			s->lease_heap[0] = s->lease_heap[--s->lease_n];
			heap_down(s->lease_heap, s->lease_n, 0);
		}
		lease_fit(s);
		pthread_mutex_unlock(&s->lease_lock);
		/* an extension is due after @now: not taken again below */
		for (size_t i = 0; i < n; i++)
			lease_end(s, batch[i], now, false);
	} while (n == LEASE_BATCH);
}

/*
 * Holds: a get in another process copies the replicas a query named
 * (MC_F_HOLD). Each hold keeps one reference on a block until its time
 * is up, so a replace or remove meanwhile cannot hand the range to
 * another put; unlike a lease it does not keep a remove from taking
 * the value (eviction passes over it: evict.c obj_evictable). One
 * duration for all: the queue is in due order.
 */
static void hold_obj(struct mc_store *s, const struct mc_obj *o, uint64_t now)
{
	uint64_t due = now + (s->o.hold_ms ? s->o.hold_ms : 5000);
	struct mc_lease_node *first = NULL, *last = NULL;

	for (unsigned i = 0; i < o->nrep; i++) {
		struct mc_lease_node *n = malloc(sizeof(*n));

		if (!n)
			break; /* the reader may then be refused: no harm */
		atomic_fetch_add(&o->rep[i]->u.ref, 1);
		n->blk = o->rep[i];
		n->due_ms = due;
		n->next = NULL;
		if (last)
			last->next = n;
		else
			first = n;
		last = n;
	}
	if (!first)
		return;
	pthread_mutex_lock(&s->lease_lock);
	if (s->hold_tail)
		s->hold_tail->next = first;
	else
		s->hold_head = first;
	s->hold_tail = last;
	pthread_mutex_unlock(&s->lease_lock);
}

void hold_expire(struct mc_store *s, uint64_t now, struct mc_seg *g)
{
	struct mc_lease_node *due = NULL, **pp, *tail = NULL;

	pthread_mutex_lock(&s->lease_lock);
	pp = &s->hold_head;
	while (*pp) {
		struct mc_lease_node *n = *pp;

		if (g ? blk_seg(n->blk) != g : n->due_ms > now) {
			if (!g)
				break; /* in due order */
			tail = n;
			pp = &n->next;
			continue;
		}
		*pp = n->next;
		n->next = due;
		due = n;
	}
	if (!s->hold_head)
		s->hold_tail = NULL;
	else if (g)
		s->hold_tail = tail;
	pthread_mutex_unlock(&s->lease_lock);
	while (due) {
		struct mc_lease_node *n = due;

		due = n->next;
		blk_unref(n->blk);
		free(n);
	}
}

void lease_obj(struct mc_store *s, const struct mc_obj *o, uint64_t now)
{
	/* --lease-ttl takes any 64-bit number (mooncaked(8)): one past the
	 * clock's end leases until that end, not to an end already past */
	uint64_t ttl = s->o.lease_ttl_ms;
	uint64_t until = ttl > UINT64_MAX - now ? UINT64_MAX : now + ttl;

	for (unsigned i = 0; i < o->nrep; i++)
		lease_grant(s, o->rep[i], until);
}

int mc_query_ex(struct mc_store *s, const void *key, size_t klen,
		unsigned flags, struct mc_desc *out, size_t max,
		struct mc_obj_info *info)
{
	struct mc_obj *o = NULL;
	bool bad;
	int n;

	if (s->link)
		return fac_query(s, key, klen, flags, out, max, info);
	bad = obj_key_check(key, klen, NULL) < 0;
	if (!bad)
		o = obj_lookup(s, key, klen, true);
	if (!(flags & (MC_F_BATCH | MC_F_PEEK)))
		obj_count_get(s, o);
	else if (o && !(flags & MC_F_PEEK))
		obj_count_hit(s, o);
	if (!o)
		return bad ? -EINVAL : -ENOENT;
	/* MC_F_PEEK (a HEAD) names what a GET would, with no side effect */
	if (flags & MC_F_HOLD)
		hold_obj(s, o, store_now(s));
	else if (!(flags & MC_F_PEEK))
		lease_obj(s, o, store_now(s));
	for (unsigned i = 0; i < o->nrep && i < max; i++)
		blk_desc(o->rep[i], o->size, &out[i]);
	if (info) {
		info->size = o->size;
		info->version = o->version;
		info->nrep = o->nrep;
	}
	n = o->nrep;
	obj_unref(o);
	return n;
}

int mc_query(struct mc_store *s, const void *key, size_t klen,
	     struct mc_desc *out, size_t max)
{
	return mc_query_ex(s, key, klen, 0, out, max, NULL);
}

void mc_query_batch(struct mc_store *s, size_t nkeys, const char *const *keys,
		    const size_t *klens,
		    void (*cb)(size_t i, int rc, const struct mc_desc *d,
			       size_t nd, void *arg),
		    void *arg)
{
	struct mc_desc d[MC_REPLICA_MAX];
	size_t failed = 0;

	if (s->link) {
		fac_query_batch(s, nkeys, keys, klens, cb, arg);
		return;
	}
	for (size_t i = 0; i < nkeys; i++) {
		int rc = mc_query_ex(s, keys[i], klens[i], MC_F_BATCH, d,
				     MC_REPLICA_MAX, NULL);

		failed += rc < 0;
		cb(i, rc, d, rc > 0 ? (size_t)rc : 0, arg);
	}
	mc_batch_count(s, MC_BATCH_QUERY, nkeys, failed);
}
