/*
 * check_alloc.c - the offset allocator against a model: edge cases,
 * coalescing in every order, random churn, and a fragmentation report;
 * and the versions' memory (vmem.h).
 */
#include "autoconfig.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "check.h"
#include "vmem.h"

/* xorshift64*: deterministic, so every run sees the same operations */
static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

/* log-uniform in [1, max]: many tiny requests, some huge ones */
static uint64_t rnd_size(uint64_t max)
{
	unsigned bits = 64 - (unsigned)__builtin_clzll(max);
	uint64_t lim = 1ULL << (rnd() % bits);
	uint64_t s = 1 + rnd() % (lim < max ? lim : max);

	return s;
}

static uint64_t round_up(uint64_t n, uint64_t align)
{
	return (n + align - 1) & ~(align - 1);
}

/* --- mc_alloc_new argument table ---------------------------------------- */

static const struct {
	uint64_t size, align;
	int ok;
} new_cases[] = {
	{4096, 64, 1},
	{64, 64, 1},
	{8, 8, 1},
	{1ULL << 40, 4096, 1},
	{UINT64_MAX & ~7ULL, 8, 1},
	{0, 64, 0},    /* empty segment */
	{4096, 0, 0},  /* no alignment */
	{4096, 4, 0},  /* below 8 */
	{4096, 48, 0}, /* not a power of two */
	{4097, 64, 0}, /* size not a multiple */
	{100, 64, 0},
	{UINT64_MAX, 8, 0},
	{1ULL << 40, 1ULL << 63, 0},
};

START_TEST(test_new_args)
{
	struct mc_alloc *a;

	errno = 0;
	a = mc_alloc_new(new_cases[_i].size, new_cases[_i].align, &rng_state);
	if (!new_cases[_i].ok) {
		ck_assert_ptr_null(a);
		ck_assert_int_eq(errno, EINVAL);
		return;
	}
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_eq(mc_alloc_user(a), &rng_state);
	ck_assert_uint_eq(mc_alloc_size(a), new_cases[_i].size);
	ck_assert_uint_eq(mc_alloc_used(a), 0);
	ck_assert_uint_eq(mc_alloc_nblocks(a), 0);
	ck_assert_uint_eq(mc_alloc_largest_free(a), new_cases[_i].size);
	ck_assert_int_eq(mc_alloc_check(a), 0);
	mc_alloc_free(a);
}
END_TEST

/* --- single requests on a fresh allocator ------------------------------- */

static const struct {
	const char *name;
	uint64_t size, align, req;
	uint64_t want; /* block size, 0: must fail */
} get_cases[] = {
	{"size 0", 4096, 64, 0, 0},
	{"one byte rounds to align", 4096, 64, 1, 64},
	{"align - 1", 4096, 64, 63, 64},
	{"exactly align", 4096, 64, 64, 64},
	{"align + 1", 4096, 64, 65, 128},
	{"align 8", 4096, 8, 9, 16},
	{"exact fit of the whole", 4096, 64, 4096, 4096},
	{"whole minus one rounds to whole", 4096, 64, 4095, 4096},
	/* 65 units lies inside a class: the fit must still find it */
	{"exact fit, size inside a class", 65 * 8, 8, 65 * 8, 65 * 8},
	{"one unit less, inside a class", 65 * 8, 8, 64 * 8 + 1, 65 * 8},
	{"one over capacity", 4096, 64, 4097, 0},
	{"far over capacity", 4096, 64, 1ULL << 40, 0},
	{"UINT64_MAX", 4096, 64, UINT64_MAX, 0},
	{"UINT64_MAX - align", 4096, 64, UINT64_MAX - 64, 0},
	{"1 TiB whole", 1ULL << 40, 4096, 1ULL << 40, 1ULL << 40},
	{"1 TiB, one byte", 1ULL << 40, 4096, 1, 4096},
	{"1 TiB, over", 1ULL << 40, 4096, (1ULL << 40) + 1, 0},
	{"huge segment, UINT64_MAX", UINT64_MAX & ~7ULL, 8, UINT64_MAX, 0},
	{"huge segment, UINT64_MAX - 3", UINT64_MAX & ~7ULL, 8, UINT64_MAX - 3,
	 0},
	{"huge segment, whole - 1", UINT64_MAX & ~7ULL, 8,
	 (UINT64_MAX & ~7ULL) - 1, UINT64_MAX & ~7ULL},
	{"huge segment, 2^62 + 1", UINT64_MAX & ~7ULL, 8, (1ULL << 62) + 1,
	 (1ULL << 62) + 8},
};

START_TEST(test_get_edges)
{
	struct mc_alloc *a;
	struct mc_blk *b;
	uint64_t size = get_cases[_i].size, want = get_cases[_i].want;

	a = mc_alloc_new(size, get_cases[_i].align, NULL);
	ck_assert_ptr_nonnull(a);
	b = mc_alloc_get(a, get_cases[_i].req);
	if (!want) {
		ck_assert_msg(b == NULL, "%s: got a block", get_cases[_i].name);
		ck_assert_uint_eq(mc_alloc_used(a), 0);
		ck_assert_uint_eq(mc_alloc_largest_free(a), size);
	} else {
		ck_assert_msg(b != NULL, "%s: failed", get_cases[_i].name);
		ck_assert_uint_eq(b->off, 0);
		ck_assert_uint_eq(b->size, want);
		ck_assert_ptr_eq(b->owner, a);
		ck_assert_uint_eq(mc_alloc_used(a), want);
		ck_assert_uint_eq(mc_alloc_nblocks(a), 1);
		ck_assert_uint_eq(mc_alloc_largest_free(a), size - want);
		ck_assert_ptr_eq(mc_alloc_find(a, 0), b);
		ck_assert_ptr_eq(mc_alloc_find(a, want - 1), b);
		ck_assert_ptr_null(mc_alloc_find(a, want));
		if (want == size) /* nothing is left for anybody */
			ck_assert_ptr_null(mc_alloc_get(a, 1));
	}
	ck_assert_ptr_null(mc_alloc_find(a, size));
	ck_assert_ptr_null(mc_alloc_find(a, UINT64_MAX));
	ck_assert_int_eq(mc_alloc_check(a), 0);
	mc_alloc_put(a, b);
	ck_assert_uint_eq(mc_alloc_used(a), 0);
	ck_assert_uint_eq(mc_alloc_largest_free(a), size);
	ck_assert_int_eq(mc_alloc_check(a), 0);
	mc_alloc_free(a);
}
END_TEST

/* u.* is the caller's; a reused block must come back zeroed */
START_TEST(test_u_zeroed_and_bad_put)
{
	struct mc_alloc *a = mc_alloc_new(4096, 64, NULL);
	struct mc_alloc *other = mc_alloc_new(4096, 64, NULL);
	struct mc_blk *b, *c, *o;

	b = mc_alloc_get(a, 100);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(b->u.lease_until, 0);
	ck_assert_uint_eq(b->u.ref, 0);
	ck_assert_uint_eq(b->u.state, 0);
	b->u.lease_until = UINT64_MAX;
	b->u.ref = 7;
	b->u.state = 3;
	c = mc_alloc_get(a, 64); /* keeps b from coalescing away */
	ck_assert_ptr_nonnull(c);
	mc_alloc_put(a, b);
	mc_alloc_put(a, b); /* a second put is ignored */
	mc_alloc_put(a, NULL);
	o = mc_alloc_get(other, 64);
	mc_alloc_put(a, o); /* another allocator's block too */
	ck_assert_ptr_eq(o->owner, other);
	ck_assert_uint_eq(mc_alloc_used(a), 64);
	ck_assert_uint_eq(mc_alloc_nblocks(a), 1);
	ck_assert_int_eq(mc_alloc_check(a), 0);
	ck_assert_int_eq(mc_alloc_check(other), 0);
	b = mc_alloc_get(a, 128);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(b->off, 0);
	ck_assert_uint_eq(b->u.lease_until, 0);
	ck_assert_uint_eq(b->u.ref, 0);
	ck_assert_uint_eq(b->u.state, 0);
	mc_alloc_free(a);
	mc_alloc_free(other);
	mc_alloc_free(NULL);
}
END_TEST

/*
 * Four neighbours that tile the segment, freed in all 24 orders: each
 * free must merge with whatever is free on its left, its right, or both.
 * After each step the largest free block is the longest run of freed
 * neighbours.
 */
START_TEST(test_coalesce_orders)
{
	static const uint64_t sz[4] = {64, 128, 256, 4096 - 448};
	unsigned perm[4] = {0, 1, 2, 3};
	unsigned n = (unsigned)_i;

	/* the _i-th permutation, by the factorial number system */
	for (unsigned k = 0; k < 4; k++) {
		unsigned f = 1, j, t;

		for (j = 1; j < 4 - k; j++)
			f *= j;
		j = k + n / f;
		n %= f;
		t = perm[j];
		memmove(&perm[k + 1], &perm[k], (j - k) * sizeof(perm[0]));
		perm[k] = t;
	}

	struct mc_alloc *a = mc_alloc_new(4096, 64, NULL);
	struct mc_blk *b[4];
	int freed[4] = {0};
	uint64_t off = 0;

	for (unsigned k = 0; k < 4; k++) {
		b[k] = mc_alloc_get(a, sz[k]);
		ck_assert_ptr_nonnull(b[k]);
		ck_assert_uint_eq(b[k]->off, off);
		off += sz[k];
	}
	ck_assert_uint_eq(mc_alloc_largest_free(a), 0);
	for (unsigned k = 0; k < 4; k++) {
		uint64_t run = 0, best = 0, start = 0, best_start = 0;

		mc_alloc_put(a, b[perm[k]]);
		freed[perm[k]] = 1;
		for (unsigned j = 0; j < 4; j++) {
			if (!freed[j]) {
				run = 0;
				continue;
			}
			if (!run)
				start = b[j]->off;
			run += sz[j];
			if (run > best) {
				best = run;
				best_start = start;
			}
		}
		ck_assert_int_eq(mc_alloc_check(a), 0);
		ck_assert_uint_eq(mc_alloc_largest_free(a), best);
		for (unsigned j = 0; j < 4; j++) {
			struct mc_blk *f = mc_alloc_find(a, b[j]->off);

			if (!freed[j])
				ck_assert_ptr_eq(f, b[j]);
			else
				ck_assert_ptr_null(f);
		}
		/* the freed run is usable as one block, then again free */
		struct mc_blk *big = mc_alloc_get(a, best);

		ck_assert_ptr_nonnull(big);
		ck_assert_uint_eq(big->off, best_start);
		mc_alloc_put(a, big);
		ck_assert_uint_eq(mc_alloc_largest_free(a), best);
	}
	ck_assert_uint_eq(mc_alloc_used(a), 0);
	ck_assert_uint_eq(mc_alloc_nblocks(a), 0);
	mc_alloc_free(a);
}
END_TEST

/* --- random churn against a model --------------------------------------- */

struct live {
	struct mc_blk *b;
	uint64_t off, size;
};

struct model {
	struct live *v;
	size_t n;
	uint64_t used;
};

static struct live *model_holding(struct model *m, uint64_t off)
{
	for (size_t i = 0; i < m->n; i++)
		if (off >= m->v[i].off && off - m->v[i].off < m->v[i].size)
			return &m->v[i];
	return NULL;
}

/*
 * Check's ck_assert records every passing assertion (a write(2) each),
 * which would dominate a loop of 100,000 operations: the hot paths only
 * call into Check when something fails.
 */
#define require(c)                                                             \
	do {                                                                   \
		if (!(c))                                                      \
			ck_abort_msg("assertion '%s' failed", #c);             \
	} while (0)

/* Requests one block and checks it against the model. */
static int model_get(struct mc_alloc *a, struct model *m, uint64_t want,
		     uint64_t align)
{
	uint64_t largest = mc_alloc_largest_free(a);
	struct mc_blk *b = mc_alloc_get(a, want);
	uint64_t rs = round_up(want, align);

	if (!b) {
		/* a request that fits the largest free block must succeed */
		if (rs <= largest)
			ck_abort_msg("get %llu failed with %llu free",
				     (unsigned long long)rs,
				     (unsigned long long)largest);
		return 0;
	}
	require(b->size == rs);
	require(b->off % align == 0);
	require(b->size <= mc_alloc_size(a) - b->off);
	require(b->owner == a);
	require(b->u.ref == 0 && b->u.lease_until == 0 && b->u.state == 0);
	for (size_t i = 0; i < m->n; i++)
		if (b->off + b->size > m->v[i].off &&
		    m->v[i].off + m->v[i].size > b->off)
			ck_abort_msg("block %llu+%llu overlaps %llu+%llu",
				     (unsigned long long)b->off,
				     (unsigned long long)b->size,
				     (unsigned long long)m->v[i].off,
				     (unsigned long long)m->v[i].size);
	b->u.ref = 1; /* scribble on the caller's part */
	b->u.lease_until = b->off;
	b->u.state = ~0u;
	m->v[m->n++] = (struct live){b, b->off, b->size};
	m->used += b->size;
	return 1;
}

static void model_put(struct mc_alloc *a, struct model *m, size_t i)
{
	struct live *l = &m->v[i];

	/* the allocator must not have moved or touched an allocated block */
	require(l->b->off == l->off && l->b->size == l->size);
	require(l->b->u.lease_until == l->off && l->b->u.state == ~0u);
	mc_alloc_put(a, l->b);
	m->used -= l->size;
	*l = m->v[--m->n];
}

static void model_probe(struct mc_alloc *a, struct model *m)
{
	uint64_t size = mc_alloc_size(a), off;
	struct live *l;

	if (m->n) {
		l = &m->v[rnd() % m->n];
		require(mc_alloc_find(a, l->off + rnd() % l->size) == l->b);
		require(mc_alloc_find(a, l->off) == l->b);
		require(mc_alloc_find(a, l->off + l->size - 1) == l->b);
	}
	off = rnd() % size;
	l = model_holding(m, off);
	require(mc_alloc_find(a, off) == (l ? l->b : NULL));
	require(mc_alloc_find(a, size + rnd() % size) == NULL);
	require(mc_alloc_used(a) == m->used);
	require(mc_alloc_nblocks(a) == m->n);
}

static void drain(struct mc_alloc *a, struct model *m)
{
	while (m->n)
		model_put(a, m, rnd() % m->n);
	ck_assert_int_eq(mc_alloc_check(a), 0);
	ck_assert_uint_eq(mc_alloc_used(a), 0);
	ck_assert_uint_eq(mc_alloc_nblocks(a), 0);
	ck_assert_uint_eq(mc_alloc_largest_free(a), mc_alloc_size(a));
	ck_assert_ptr_null(mc_alloc_find(a, 0));
}

static const struct {
	uint64_t size, align, maxreq;
} churn_cases[] = {
	{256ULL << 20, 64, 16ULL << 20}, /* tiny to large */
	{1ULL << 20, 8, 4096},		 /* many small blocks */
	{1ULL << 40, 4096, 1ULL << 36},	 /* a 1 TiB segment */
};

START_TEST(test_random_churn)
{
	uint64_t size = churn_cases[_i].size, align = churn_cases[_i].align;
	unsigned ops = mc_test_quick() ? 5000 : 100000;
	struct mc_alloc *a = mc_alloc_new(size, align, NULL);
	struct model m = {.v = calloc(ops, sizeof(*m.v))};

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(m.v);
	rng_state = 0x9e3779b97f4a7c15ULL + (uint64_t)_i;
	for (unsigned op = 0; op < ops; op++) {
		/* a slight bias to allocation keeps the segment busy */
		if (!m.n || rnd() % 100 < 55)
			model_get(a, &m, rnd_size(churn_cases[_i].maxreq),
				  align);
		else
			model_put(a, &m, rnd() % m.n);
		model_probe(a, &m);
		if (op % 512 == 0)
			ck_assert_int_eq(mc_alloc_check(a), 0);
	}
	ck_assert_int_eq(mc_alloc_check(a), 0);
	drain(a, &m);
	free(m.v);
	mc_alloc_free(a);
}
END_TEST

/* Growing in place and giving a tail back keep every invariant. */
START_TEST(test_extend_shrink)
{
	struct mc_alloc *a = mc_alloc_new(4096, 64, NULL);
	struct mc_blk *x, *y;

	ck_assert_ptr_nonnull(a);
	x = mc_alloc_get(a, 100);
	y = mc_alloc_get(a, 100);
	ck_assert_uint_eq(y->off, 128);
	ck_assert_int_eq(mc_alloc_extend(a, x, 129), -ENOSPC);	/* y is there */
	ck_assert_int_eq(mc_alloc_extend(a, x, 128), 0);	/* already */
	ck_assert_int_eq(mc_alloc_extend(a, y, 4096), -EINVAL); /* past end */
	ck_assert_int_eq(mc_alloc_extend(a, y, 3968), 0);	/* to the end */
	ck_assert_uint_eq(mc_alloc_used(a), 4096);
	ck_assert_int_eq(mc_alloc_check(a), 0);
	ck_assert_int_eq(mc_alloc_shrink(a, y, 0), -EINVAL);
	ck_assert_int_eq(mc_alloc_shrink(a, y, 3969), -EINVAL);
	ck_assert_int_eq(mc_alloc_shrink(a, y, 65), 0);
	ck_assert_uint_eq(y->size, 128);
	ck_assert_uint_eq(mc_alloc_used(a), 256);
	ck_assert_uint_eq(mc_alloc_largest_free(a), 4096 - 256);
	ck_assert_int_eq(mc_alloc_check(a), 0);
	mc_alloc_put(a, x);
	/* the freed head and the tail do not merge through y */
	ck_assert_int_eq(mc_alloc_extend(a, y, 200), 0);
	ck_assert_int_eq(mc_alloc_check(a), 0);
	mc_alloc_put(a, y);
	ck_assert_int_eq(mc_alloc_check(a), 0);
	ck_assert_uint_eq(mc_alloc_largest_free(a), 4096);
	ck_assert_int_eq(mc_alloc_shrink(a, y, 64), -EINVAL); /* freed */
	mc_alloc_free(a);
}
END_TEST

/*
 * mc_alloc_get_parked hands out a parked block of the exact (aligned)
 * size and nothing else: never a free block, never another size, never
 * a split; what it hands out is allocated like any block.
 */
START_TEST(test_get_parked)
{
	struct mc_alloc *a = mc_alloc_new(1 << 20, 64, NULL);
	struct mc_blk *x, *y, *z;
	uint64_t off;

	ck_assert_ptr_nonnull(a);
	mc_alloc_set_park(a, 1 << 16);
	/* nothing parked: NULL, and the free space is untouched */
	ck_assert_ptr_null(mc_alloc_get_parked(a, 4096));
	ck_assert_uint_eq(mc_alloc_used(a), 0);
	x = mc_alloc_get(a, 4096);
	y = mc_alloc_get(a, 4096);
	ck_assert_ptr_nonnull(x);
	ck_assert_ptr_nonnull(y);
	off = x->off;
	mc_alloc_put(a, x);
	ck_assert_uint_eq(mc_alloc_nparked(a), 1);
	ck_assert_int_eq(mc_alloc_check(a), 0);
	/* another size, or too large to park: NULL, the block stays parked */
	ck_assert_ptr_null(mc_alloc_get_parked(a, 8192));
	ck_assert_ptr_null(mc_alloc_get_parked(a, 0));
	ck_assert_ptr_null(mc_alloc_get_parked(a, 1 << 20));
	ck_assert_uint_eq(mc_alloc_nparked(a), 1);
	/* 4090 rounds up to the parked 4096 */
	z = mc_alloc_get_parked(a, 4090);
	ck_assert_ptr_nonnull(z);
	ck_assert_uint_eq(z->off, off);
	ck_assert_uint_eq(z->size, 4096);
	ck_assert_ptr_eq(z->owner, a);
	ck_assert_uint_eq(mc_alloc_nparked(a), 0);
	ck_assert_uint_eq(mc_alloc_used(a), 8192);
	ck_assert_uint_eq(mc_alloc_nblocks(a), 2);
	ck_assert_ptr_eq(mc_alloc_find(a, off + 100), z);
	ck_assert_int_eq(mc_alloc_check(a), 0);
	ck_assert_ptr_null(mc_alloc_get_parked(a, 4096));
	mc_alloc_put(a, z);
	mc_alloc_put(a, y);
	mc_alloc_set_park(a, 0);
	ck_assert_int_eq(mc_alloc_check(a), 0);
	ck_assert_uint_eq(mc_alloc_largest_free(a), 1 << 20);
	mc_alloc_free(a);
}
END_TEST

/* What test_walk's walk saw. */
struct seen {
	uint64_t end, n, used, nfree, stop_after;
	const struct mc_blk *blk[8];
	int bad;
};

static bool see(void *ctx, uint64_t off, uint64_t size, const struct mc_blk *b)
{
	struct seen *w = ctx;

	if (off != w->end || !size || (b && (b->off != off || b->size != size)))
		w->bad = 1;
	w->end = off + size;
	if (w->n < 8)
		w->blk[w->n] = b;
	w->n++;
	if (b)
		w->used += size;
	else
		w->nfree++;
	return w->n != w->stop_after;
}

/*
 * mc_alloc_walk: every block in offset order, tiling the range; free and
 * parked blocks as NULL; it stops when asked.
 */
START_TEST(test_walk)
{
	struct mc_alloc *a = mc_alloc_new(1 << 20, 64, NULL);
	struct mc_blk *x[6];
	struct seen w = {0};

	ck_assert_ptr_nonnull(a);
	mc_alloc_walk(a, see, &w);
	ck_assert(!w.bad && w.n == 1 && w.nfree == 1 && w.end == 1 << 20);
	mc_alloc_set_park(a, 1 << 16);
	for (unsigned i = 0; i < 6; i++) {
		x[i] = mc_alloc_get(a, 4096);
		ck_assert_ptr_nonnull(x[i]);
	}
	mc_alloc_put(a, x[1]); /* parked */
	mc_alloc_set_park(a, 0);
	mc_alloc_set_park(a, 1 << 16);
	mc_alloc_put(a, x[3]); /* parked */
	mc_alloc_put(a, x[4]); /* parked */
	memset(&w, 0, sizeof(w));
	mc_alloc_walk(a, see, &w);
	/* x0, free x1, x2, parked x3, parked x4, x5, the free rest */
	ck_assert(!w.bad && w.end == 1 << 20);
	ck_assert_uint_eq(w.n, 7);
	ck_assert_ptr_eq(w.blk[0], x[0]);
	ck_assert_ptr_null(w.blk[1]);
	ck_assert_ptr_eq(w.blk[2], x[2]);
	ck_assert_ptr_null(w.blk[3]);
	ck_assert_ptr_null(w.blk[4]);
	ck_assert_ptr_eq(w.blk[5], x[5]);
	ck_assert_ptr_null(w.blk[6]);
	ck_assert_uint_eq(w.used, mc_alloc_used(a));
	memset(&w, 0, sizeof(w));
	w.stop_after = 3;
	mc_alloc_walk(a, see, &w);
	ck_assert_uint_eq(w.n, 3);
	mc_alloc_free(a);
}
END_TEST

/*
 * Parking (mc_alloc_set_park): churn over a few fixed sizes, as KV
 * caches put, so freed blocks park and are taken again; every promise of
 * the model holds (a parked block is free to every call), the invariants
 * hold at every step, and a request the size of the whole segment still
 * succeeds once everything is freed while blocks are parked.
 */
START_TEST(test_parked_churn)
{
	const uint64_t size = 64ULL << 20, align = 64;
	static const uint64_t sizes[] = {4096, 4096, 65536, 100, 1 << 20};
	unsigned ops = mc_test_quick() ? 5000 : 100000;
	struct mc_alloc *a = mc_alloc_new(size, align, NULL);
	struct model m = {.v = calloc(ops, sizeof(*m.v))};
	struct mc_blk *all;

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(m.v);
	mc_alloc_set_park(a, size / 32);
	rng_state = 0x7f4a7c159e3779b9ULL;
	for (unsigned op = 0; op < ops; op++) {
		if (!m.n || rnd() % 100 < 52)
			model_get(a, &m, sizes[rnd() % 5], align);
		else
			model_put(a, &m, rnd() % m.n);
		model_probe(a, &m);
		if (op % 256 == 0)
			ck_assert_int_eq(mc_alloc_check(a), 0);
	}
	while (m.n)
		model_put(a, &m, rnd() % m.n);
	ck_assert_int_eq(mc_alloc_check(a), 0);
	ck_assert_uint_eq(mc_alloc_used(a), 0);
	/* parked blocks are given back to a get that needs them */
	all = mc_alloc_get(a, size);
	ck_assert_ptr_nonnull(all);
	ck_assert_int_eq(mc_alloc_check(a), 0);
	mc_alloc_put(a, all);
	mc_alloc_set_park(a, 0);
	drain(a, &m);
	free(m.v);
	mc_alloc_free(a);
}
END_TEST

/*
 * Fragmentation under churn at ~90% fill. Reported, and bounded by what
 * the allocator promises: every failure is for a request larger than the
 * largest free block, and all of it comes back once everything is freed.
 */
START_TEST(test_fragmentation)
{
	const uint64_t size = 64ULL << 20, align = 64, target = size / 10 * 9;
	unsigned ops = mc_test_quick() ? 5000 : 100000;
	unsigned gets = 0, failed = 0, failed_small = 0;
	struct mc_alloc *a = mc_alloc_new(size, align, NULL);
	struct model m = {.v = calloc(ops, sizeof(*m.v))};

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(m.v);
	rng_state = 0x51ed270b27aeULL;
	for (unsigned op = 0; op < ops; op++) {
		if (m.used < target) {
			uint64_t want = rnd_size(256 << 10);

			gets++;
			if (!model_get(a, &m, want, align)) {
				failed++;
				if (round_up(want, align) <= size - m.used)
					failed_small++;
			}
		} else {
			model_put(a, &m, rnd() % m.n);
		}
		if (op % 4096 == 0)
			ck_assert_int_eq(mc_alloc_check(a), 0);
	}
	ck_assert_int_eq(mc_alloc_check(a), 0);

	uint64_t free_bytes = size - m.used;
	uint64_t largest = mc_alloc_largest_free(a);

	ck_assert_uint_eq(mc_alloc_used(a), m.used);
	ck_assert_uint_le(largest, free_bytes);
	printf("alloc fragmentation at 90%% fill: %u ops, %zu live blocks, "
	       "used %.1f%%, largest free block %.1f%% of free space, "
	       "%u of %u gets failed (%u smaller than total free)\n",
	       ops, m.n, 100.0 * (double)m.used / (double)size,
	       free_bytes ? 100.0 * (double)largest / (double)free_bytes
			  : 100.0,
	       failed, gets, failed_small);

	drain(a, &m);
	printf("alloc fragmentation after freeing all: largest free block "
	       "%.1f%% of free space\n",
	       100.0 * (double)mc_alloc_largest_free(a) / (double)size);
	free(m.v);
	mc_alloc_free(a);
}
END_TEST

/*
 * mc_alloc_reserve: exact ranges at the start, middle and end of free
 * space, the bad arguments, and the overlaps it must refuse (naming the
 * block in the way).
 */
START_TEST(test_reserve_edges)
{
	struct mc_alloc *a = mc_alloc_new(4096, 64, NULL);
	struct mc_blk *b, *c, *d, *x;

	ck_assert_int_eq(mc_alloc_reserve(a, 0, 0, &x), -EINVAL);
	ck_assert_int_eq(mc_alloc_reserve(a, 32, 64, &x), -EINVAL);
	ck_assert_int_eq(mc_alloc_reserve(a, 4096, 64, &x), -EINVAL);
	ck_assert_int_eq(mc_alloc_reserve(a, 4032, 65, &x), -EINVAL);
	ck_assert_int_eq(mc_alloc_reserve(a, 0, 8192, &x), -EINVAL);
	ck_assert_int_eq(mc_alloc_reserve(a, 0, UINT64_MAX, &x), -EINVAL);
	ck_assert_ptr_null(x);
	/* the middle of the whole free block: three pieces */
	ck_assert_int_eq(mc_alloc_reserve(a, 1024, 100, &b), 0);
	ck_assert_uint_eq(b->off, 1024);
	ck_assert_uint_eq(b->size, 128);
	ck_assert_uint_eq(b->u.ref, 0);
	ck_assert_ptr_eq(mc_alloc_find(a, 1100), b);
	ck_assert_int_eq(mc_alloc_check(a), 0);
	/* the start of a free block, and the end of the segment */
	ck_assert_int_eq(mc_alloc_reserve(a, 0, 64, &c), 0);
	ck_assert_int_eq(mc_alloc_reserve(a, 4032, 64, &d), 0);
	ck_assert_uint_eq(mc_alloc_used(a), 256);
	ck_assert_int_eq(mc_alloc_check(a), 0);
	/* overlaps: inside, across the start, across the end */
	ck_assert_int_eq(mc_alloc_reserve(a, 1024, 64, &x), -EBUSY);
	ck_assert_ptr_eq(x, b);
	ck_assert_int_eq(mc_alloc_reserve(a, 960, 128, &x), -EBUSY);
	ck_assert_ptr_eq(x, b);
	ck_assert_int_eq(mc_alloc_reserve(a, 1088, 64, &x), -EBUSY);
	ck_assert_ptr_eq(x, b);
	ck_assert_int_eq(mc_alloc_reserve(a, 3968, 128, &x), -EBUSY);
	ck_assert_ptr_eq(x, d);
	/* exactly the free gap between two blocks */
	ck_assert_int_eq(mc_alloc_reserve(a, 64, 960, &x), 0);
	ck_assert_uint_eq(mc_alloc_largest_free(a), 4032 - 1152);
	ck_assert_int_eq(mc_alloc_check(a), 0);
	/* freed, the range coalesces and can be reserved again */
	mc_alloc_put(a, b);
	mc_alloc_put(a, x);
	ck_assert_int_eq(mc_alloc_reserve(a, 64, 1088, &x), 0);
	ck_assert_int_eq(mc_alloc_check(a), 0);
	mc_alloc_put(a, x);
	mc_alloc_put(a, c);
	mc_alloc_put(a, d);
	ck_assert_uint_eq(mc_alloc_largest_free(a), 4096);
	ck_assert_int_eq(mc_alloc_check(a), 0);
	mc_alloc_free(a);
}
END_TEST

/*
 * A second allocator rebuilt from the blocks of a first one by
 * mc_alloc_reserve (a new master takes over the owners' records) holds
 * the same blocks, refuses every overlap, and keeps allocating around
 * them; parked blocks count as free space.
 */
START_TEST(test_reserve_rebuild)
{
	const uint64_t size = 16ULL << 20, align = 64;
	struct mc_alloc *a = mc_alloc_new(size, align, NULL);
	struct mc_alloc *r = mc_alloc_new(size, align, NULL);
	struct mc_blk *v[2000], *x;
	unsigned n = 0;

	mc_alloc_set_park(r, size / 8);
	rng_state = 0x9e3779b97f4a7c15ULL;
	for (unsigned i = 0; i < 4000 && n < 2000; i++) {
		struct mc_blk *b = mc_alloc_get(a, rnd_size(65536));

		if (!b)
			break;
		if (rnd() % 3 == 0) {
			mc_alloc_put(a, b);
			continue;
		}
		v[n++] = b;
	}
	/* park some of r's own blocks first: they are free space too */
	for (unsigned i = 0; i < 50; i++)
		mc_alloc_put(r, mc_alloc_get(r, 4096));
	for (unsigned i = 0; i < n; i++) {
		ck_assert_int_eq(mc_alloc_reserve(r, v[i]->off, v[i]->size, &x),
				 0);
		ck_assert_uint_eq(x->size, v[i]->size);
	}
	ck_assert_uint_eq(mc_alloc_used(r), mc_alloc_used(a));
	ck_assert_uint_eq(mc_alloc_nblocks(r), mc_alloc_nblocks(a));
	ck_assert_int_eq(mc_alloc_check(r), 0);
	for (unsigned i = 0; i < n; i++) {
		ck_assert_int_eq(mc_alloc_reserve(r, v[i]->off, align, &x),
				 -EBUSY);
		ck_assert_uint_eq(x->off, v[i]->off);
	}
	for (unsigned i = 0; i < 500; i++) {
		x = mc_alloc_get(r, rnd_size(4096));
		if (!x)
			break;
		for (unsigned j = 0; j < n; j++)
			ck_assert(x->off + x->size <= v[j]->off ||
				  v[j]->off + v[j]->size <= x->off);
	}
	ck_assert_int_eq(mc_alloc_check(r), 0);
	mc_alloc_free(a);
	mc_alloc_free(r);
}
END_TEST

/* --- vmem: versions' memory -------------------------------------------- */

#define VM_N 3000

struct vm_obj {
	unsigned char *p;
	size_t n;
	unsigned char tag;
};

static void vm_fill(struct vm_obj *o, size_t n, unsigned char tag)
{
	o->p = vmem_get(n);
	ck_assert_ptr_nonnull(o->p);
	ck_assert_uint_eq((uintptr_t)o->p & 7, 0);
	o->n = n;
	o->tag = tag;
	memset(o->p, tag, n);
}

/* Every live object still holds its own bytes: none overlaps another. */
static void vm_verify(const struct vm_obj *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; v[i].p && j < v[i].n; j++)
			ck_assert_msg(v[i].p[j] == v[i].tag,
				      "object %zu (%zu bytes) byte %zu is %u, "
				      "not %u: overlapped",
				      i, v[i].n, j, v[i].p[j], v[i].tag);
}

struct vm_half {
	struct vm_obj *v;
	size_t from, n;
};

/* Frees its share of another thread's objects, then exits. */
static void *vm_free_thread(void *arg)
{
	struct vm_half *h = arg;

	for (size_t i = h->from; i < h->from + h->n; i += 2) {
		vmem_put(h->v[i].p, h->v[i].n);
		h->v[i].p = NULL;
	}
	return NULL;
}

/*
 * A dropped allocator (mc_alloc_drop, a segment being unmounted) only
 * counts what comes back: blocks still allocated stay valid and found,
 * the figures follow every put and shrink, nothing new is handed out,
 * and mc_alloc_free then frees every block struct (ASan, valgrind).
 */
START_TEST(test_drop)
{
	enum { N = 2000 };
	struct mc_alloc *a = mc_alloc_new(1 << 20, 64, NULL);
	struct mc_blk *b[N], *got;
	uint64_t used = 0, n = 0;

	ck_assert_ptr_nonnull(a);
	mc_alloc_set_park(a, 64 << 10);
	rng_state = 0x5eed;
	for (unsigned i = 0; i < N; i++) {
		b[i] = mc_alloc_get(a, 1 + rnd() % 300);
		ck_assert_ptr_nonnull(b[i]);
	}
	/* some free space and some parked blocks before the drop */
	for (unsigned i = 0; i < N; i += 7) {
		mc_alloc_put(a, b[i]);
		b[i] = NULL;
	}
	ck_assert_uint_gt(mc_alloc_nparked(a), 0);
	for (unsigned i = 0; i < N; i++)
		if (b[i]) {
			used += b[i]->size;
			n++;
		}
	ck_assert_uint_eq(mc_alloc_used(a), used);
	mc_alloc_drop(a);
	mc_alloc_drop(a); /* again: nothing more */
	ck_assert_int_eq(mc_alloc_check(a), 0);

	/* nothing is handed out any more, in any way */
	ck_assert_ptr_null(mc_alloc_get(a, 64));
	ck_assert_ptr_null(mc_alloc_get_parked(a, b[1]->size));
	ck_assert_int_eq(mc_alloc_reserve(a, (1 << 20) - 64, 64, &got),
			 -ENOENT);
	ck_assert_ptr_null(got);
	ck_assert_int_eq(mc_alloc_extend(a, b[1], b[1]->size + 64), -ENOSPC);
	ck_assert_int_eq(mc_alloc_extend(a, b[1], b[1]->size), 0);

	/* frees and shrinks only count, in any order; the rest is found */
	for (unsigned i = 0; i < N; i += 3) {
		if (!b[i])
			continue;
		used -= b[i]->size;
		n--;
		mc_alloc_put(a, b[i]);
		mc_alloc_put(a, b[i]); /* twice: ignored */
		b[i] = NULL;
	}
	for (unsigned i = 1; i < N; i += 5) {
		if (!b[i] || b[i]->size == 64)
			continue;
		used -= b[i]->size - 64;
		ck_assert_int_eq(mc_alloc_shrink(a, b[i], 1), 0);
		ck_assert_uint_eq(b[i]->size, 64);
	}
	ck_assert_uint_eq(mc_alloc_used(a), used);
	ck_assert_uint_eq(mc_alloc_nblocks(a), n);
	ck_assert_int_eq(mc_alloc_check(a), 0);
	for (unsigned i = 0; i < N; i++) {
		if (!b[i])
			continue;
		ck_assert_ptr_eq(mc_alloc_find(a, b[i]->off), b[i]);
		ck_assert_ptr_eq(mc_alloc_find(a, b[i]->off + b[i]->size - 1),
				 b[i]);
	}
	/* a lower park limit returns the parked blocks as dropped ones */
	mc_alloc_set_park(a, 0);
	ck_assert_uint_eq(mc_alloc_nparked(a), 0);
	ck_assert_int_eq(mc_alloc_check(a), 0);
	/* half the rest back; mc_alloc_free takes the others with it */
	for (unsigned i = 0; i < N; i += 2) {
		if (!b[i])
			continue;
		used -= b[i]->size;
		n--;
		ck_assert_ptr_eq(mc_alloc_find(a, b[i]->off), b[i]);
		mc_alloc_put(a, b[i]);
		ck_assert_ptr_null(mc_alloc_find(a, b[i]->off));
	}
	ck_assert_uint_eq(mc_alloc_used(a), used);
	ck_assert_uint_eq(mc_alloc_nblocks(a), n);
	ck_assert_int_eq(mc_alloc_check(a), 0);
	mc_alloc_free(a);
}
END_TEST

START_TEST(test_vmem)
{
	static struct vm_obj v[VM_N];
	struct vm_half h = {v, 0, VM_N};
	pthread_t th;

	/* every class and past VMEM_MAX (malloc's), interleaved */
	for (size_t i = 0; i < VM_N; i++)
		vm_fill(&v[i], 1 + (i * 37) % (VMEM_MAX + 64),
			(unsigned char)(i * 7 + 1));
	vm_verify(v, VM_N);
	/* a third back, and taken again in other sizes */
	for (size_t i = 0; i < VM_N; i += 3)
		vmem_put(v[i].p, v[i].n);
	for (size_t i = 0; i < VM_N; i += 3)
		vm_fill(&v[i], 1 + (i * 53) % VMEM_MAX,
			(unsigned char)(i * 11 + 3));
	vm_verify(v, VM_N);
	/* freed by a thread that then exits: its lists go to the depot,
	 * and this thread's next objects come from there too */
	ck_assert_int_eq(pthread_create(&th, NULL, vm_free_thread, &h), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	for (size_t i = 0; i < VM_N; i += 2)
		vm_fill(&v[i], 1 + (i * 37) % (VMEM_MAX + 64),
			(unsigned char)(i * 13 + 5));
	vm_verify(v, VM_N);
	for (size_t i = 0; i < VM_N; i++)
		vmem_put(v[i].p, v[i].n);
	vmem_put(NULL, 64);
}
END_TEST

static Suite *alloc_suite(void)
{
	Suite *s = suite_create("alloc");
	TCase *tc = tcase_create("edges");

	/*
	 * test_reserve_rebuild needs under a second of CPU, but on a
	 * machine shared by several test suites (a load of 50-120 on two
	 * cores) it ran past check's default 4 s of wall clock in three
	 * runs of four, under ThreadSanitizer and without it.
	 */
	tcase_set_timeout(tc, 60);

	tcase_add_loop_test(tc, test_new_args, 0,
			    sizeof(new_cases) / sizeof(new_cases[0]));
	tcase_add_loop_test(tc, test_get_edges, 0,
			    sizeof(get_cases) / sizeof(get_cases[0]));
	tcase_add_test(tc, test_u_zeroed_and_bad_put);
	tcase_add_test(tc, test_extend_shrink);
	tcase_add_loop_test(tc, test_coalesce_orders, 0, 24);
	tcase_add_test(tc, test_reserve_edges);
	tcase_add_test(tc, test_reserve_rebuild);
	tcase_add_test(tc, test_drop);
	suite_add_tcase(s, tc);

	tc = tcase_create("random");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_random_churn, 0,
			    sizeof(churn_cases) / sizeof(churn_cases[0]));
	tcase_add_test(tc, test_fragmentation);
	tcase_add_test(tc, test_parked_churn);
	tcase_add_test(tc, test_get_parked);
	tcase_add_test(tc, test_walk);
	tcase_add_test(tc, test_vmem);
	suite_add_tcase(s, tc);
	return s;
}

MC_CHECK_MAIN(alloc_suite)
