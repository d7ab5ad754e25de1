/*
 * lease.c - read leases: the queue of leased replica buffers, their
 * expiry, and the queries that grant them (mc_query, mc_query_batch).
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>

#include "store_int.h"

/* ---------------------------------------------------------------- leases */

static void lease_push(struct mc_store *s, struct mc_blk *b, uint64_t due)
{
	struct mc_lease_node *n = malloc(sizeof(*n));

	if (!n) { /* without a node the lease cannot be tracked: drop it */
		atomic_fetch_and(&b->u.state, ~BLK_LEASED);
		blk_unref(b);
		return;
	}
	n->blk = b;
	n->due_ms = due;
	n->next = NULL;
	pthread_mutex_lock(&s->lease_lock);
	if (s->lease_tail)
		s->lease_tail->next = n;
	else
		s->lease_head = n;
	s->lease_tail = n;
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

/* Ends the leases that are due (all of segment @g's when @g is set). */
void lease_expire(struct mc_store *s, uint64_t now, struct mc_seg *g)
{
	struct mc_lease_node *due = NULL, **pp;

	pthread_mutex_lock(&s->lease_lock);
	if (!g) {
		/* The queue is in due order: take from the head. */
		while (s->lease_head && s->lease_head->due_ms <= now) {
			struct mc_lease_node *n = s->lease_head;

			s->lease_head = n->next;
			n->next = due;
			due = n;
		}
		if (!s->lease_head)
			s->lease_tail = NULL;
	} else {
		struct mc_lease_node *tail = NULL;

		pp = &s->lease_head;
		while (*pp) {
			struct mc_lease_node *n = *pp;

			if (blk_seg(n->blk) != g) {
				tail = n;
				pp = &n->next;
				continue;
			}
			*pp = n->next;
			n->next = due;
			due = n;
		}
		s->lease_tail = tail;
	}
	pthread_mutex_unlock(&s->lease_lock);
	while (due) {
		struct mc_lease_node *n = due;
		struct mc_blk *b = n->blk;
		uint64_t until;

		due = n->next;
		atomic_fetch_and(&b->u.state, ~BLK_LEASED);
		until = atomic_load(&b->u.lease_until);
		/* Extended meanwhile: queue it again, keeping the reference,
		 * unless a racing grant already re-queued it. */
		if (!g && until > now &&
		    atomic_load(&blk_seg(b)->state) != SEG_GONE &&
		    !(atomic_fetch_or(&b->u.state, BLK_LEASED) & BLK_LEASED)) {
			free(n);
			lease_push(s, b, until);
			continue;
		}
		if (g)
			atomic_store(&b->u.lease_until, 0);
		free(n);
		blk_unref(b);
	}
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
	uint64_t until = now + s->o.lease_ttl_ms;

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
