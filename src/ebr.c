/*
 * ebr.c - epoch-based reclamation (Fraser's scheme, with the limbo kept
 * per thread so that retiring writes no shared line either).
 *
 * Why an item tagged with epoch t may be freed once the global epoch
 * reaches t + 2: the retirer unlinked it, took a seq_cst fence and then
 * read t, so the unlink comes before the move to t + 1. A reader that
 * loaded t + 1 or later therefore cannot reach it; a reader that loaded
 * t or earlier and is still inside its section keeps the epoch from
 * reaching t + 2, because the move from t + 1 needs every active record
 * to show t + 1. The reader's seq_cst fence after announcing its epoch
 * and the scanner's fence before scanning make sure that a scan which
 * misses an announcement belongs to a reader whose loads see the unlink.
 */
#include "autoconfig.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ebr.h"
#include "log.h"

#define LIMBO_BATCH 128 /* retirements between attempts to free */

struct limbo {
	void *p;
	void (*release)(void *); /* NULL: free */
	uint64_t epoch;
};

struct ebr_rec {
	_Atomic uint64_t epoch; /* 0: outside a read section */
	_Atomic bool used;	/* owned by a live thread */
	struct ebr_rec *next;	/* set before the record is listed */
	/* the owner's alone: */
	unsigned depth;
	struct limbo *items; /* oldest first */
	size_t n, cap, since_collect;
} __attribute__((aligned(64)));

static _Atomic uint64_t global_epoch = 1;
static _Atomic(struct ebr_rec *) records;
static pthread_key_t rec_key;
static pthread_once_t rec_once = PTHREAD_ONCE_INIT;
static __thread struct ebr_rec *me;

/* A thread's end: its record (and what it retired) passes to the next
 * thread that needs one; the limbo is freed as epochs move on. */
static void rec_release(void *arg)
{
	struct ebr_rec *r = arg;

	r->depth = 0;
	atomic_store_explicit(&r->epoch, 0, memory_order_release);
	atomic_store_explicit(&r->used, false, memory_order_release);
}

static void key_init(void)
{
	if (pthread_key_create(&rec_key, rec_release))
		mc_oom();
}

static struct ebr_rec *rec_get(void)
{
	struct ebr_rec *r;

	if (me)
		return me;
	pthread_once(&rec_once, key_init);
	for (r = atomic_load_explicit(&records, memory_order_acquire); r;
	     r = r->next) {
		bool f = false;

		if (!atomic_load_explicit(&r->used, memory_order_relaxed) &&
		    atomic_compare_exchange_strong_explicit(
			    &r->used, &f, true, memory_order_acquire,
			    memory_order_relaxed))
			break;
	}
	if (!r) {
		r = aligned_alloc(64, sizeof(*r));
		if (!r)
			mc_oom();
		memset(r, 0, sizeof(*r));
		atomic_init(&r->epoch, 0);
		atomic_init(&r->used, true);
		r->next = atomic_load_explicit(&records, memory_order_relaxed);
		while (!atomic_compare_exchange_weak_explicit(
			&records, &r->next, r, memory_order_release,
			memory_order_relaxed))
			;
	}
	pthread_setspecific(rec_key, r);
	me = r;
	return r;
}

void ebr_enter(void)
{
	struct ebr_rec *r = rec_get();

	if (r->depth++)
		return;
	atomic_store_explicit(
		&r->epoch,
		atomic_load_explicit(&global_epoch, memory_order_relaxed),
		memory_order_release);
	atomic_thread_fence(memory_order_seq_cst);
}

void ebr_exit(void)
{
	struct ebr_rec *r = me;

	if (--r->depth)
		return;
	atomic_store_explicit(&r->epoch, 0, memory_order_release);
}

/* Moves the global epoch on when every reader inside a section has
 * seen it; the new (or unchanged) epoch. */
static uint64_t try_advance(void)
{
	uint64_t e = atomic_load_explicit(&global_epoch, memory_order_acquire);

	atomic_thread_fence(memory_order_seq_cst);
	for (struct ebr_rec *r =
		     atomic_load_explicit(&records, memory_order_acquire);
	     r; r = r->next) {
		uint64_t v =
			atomic_load_explicit(&r->epoch, memory_order_acquire);

		if (v && v != e)
			return e;
	}
	if (atomic_compare_exchange_strong_explicit(&global_epoch, &e, e + 1,
						    memory_order_acq_rel,
						    memory_order_acquire))
		return e + 1;
	return e; /* somebody else moved it: e holds the new value */
}

/* Frees the items at least two epochs old; how many are left. */
static size_t collect(struct ebr_rec *r)
{
	uint64_t e = try_advance();
	size_t i = 0;

	r->since_collect = 0;
	for (; i < r->n && r->items[i].epoch + 2 <= e; i++) {
		if (r->items[i].release)
			r->items[i].release(r->items[i].p);
		else
			free(r->items[i].p);
	}
	if (i) {
		memmove(r->items, r->items + i,
			(r->n - i) * sizeof(r->items[0]));
		r->n -= i;
	}
	return r->n;
}

void ebr_retire(void *p)
{
	ebr_retire_fn(p, NULL);
}

void ebr_retire_fn(void *p, void (*release)(void *))
{
	struct ebr_rec *r = rec_get();

	if (!p)
		return;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : LIMBO_BATCH;
		struct limbo *n = realloc(r->items, cap * sizeof(*n));

		if (!n)
			mc_oom();
		r->items = n;
		r->cap = cap;
	}
	/* The unlink before the tag: see the top of this file. */
	atomic_thread_fence(memory_order_seq_cst);
	r->items[r->n].p = p;
	r->items[r->n].release = release;
	r->items[r->n++].epoch =
		atomic_load_explicit(&global_epoch, memory_order_acquire);
	if (++r->since_collect >= LIMBO_BATCH && r->depth == 0)
		collect(r);
}

void ebr_flush(void)
{
	struct ebr_rec *r = rec_get();

	if (r->depth)
		return;
	for (unsigned spins = 0; r->n && spins < 100000; spins++)
		if (collect(r))
			sched_yield();
	if (r->n == 0 && r->cap > LIMBO_BATCH) {
		free(r->items);
		r->items = NULL;
		r->cap = 0;
	}
}

void ebr_synchronize(void)
{
	uint64_t target =
		atomic_load_explicit(&global_epoch, memory_order_acquire) + 2;

	while (try_advance() < target)
		sched_yield();
}
