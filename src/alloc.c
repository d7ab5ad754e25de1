/*
 * alloc.c - TLSF-style good fit over segregated free lists, plus an
 * offset-ordered treap of every block for lookups and coalescing.
 *
 * Sizes are classified in units of the alignment so that the classes
 * stay fine-grained for small blocks: below SL_N units each unit count
 * is its own class; above, each power of two is split into SL_N
 * linear sub-classes (worst-case internal waste of the fit: 1/SL_N).
 */
#include "autoconfig.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#define SL_LOG2 5
#define SL_N	(1u << SL_LOG2)
#define FL_N	64
#define SLAB_N	127 /* a slab is then 8 + 127 * 56 bytes, just under 7 KiB */

_Static_assert(sizeof(struct mc_blk) <= 56, "struct mc_blk grew past 56 bytes");

struct slab {
	struct slab *next;
	struct mc_blk blk[SLAB_N];
};

/*
 * Parked blocks: a freed block whose exact size another get is likely to
 * ask for again (KV caches put values of a few fixed sizes, and an
 * overwrite frees the old version's block right after allocating the
 * new one) waits on a short per-size list instead of coalescing. Parking
 * and unparking touch the block and the list head only; coalescing walks
 * the treap, which for a segment of many blocks means a cache miss per
 * level. A parked block stays in the treap as a used block (so nothing
 * coalesces into it) with owner = PARKED(a), but counts as free in used
 * and nused; a get that finds no free block unparks everything first.
 */
#define PARK_SLOTS 16
#define PARK_DEPTH 64
/*
 * Only small blocks park: a parked block keeps its neighbours from
 * coalescing, and large ones left where they were freed would cut the
 * free space that large values need in pieces; a large value's copy
 * dwarfs the treap walk that parking saves anyway.
 */
#define PARK_BLOCK_MAX (64u << 10)
#define PARKED(a)      ((struct mc_alloc *)((uintptr_t)(a) | 1u))

struct park {
	struct mc_blk *head; /* linked by free.next */
	uint64_t size;	     /* every block's size */
	unsigned n;
};

struct mc_alloc {
	uint64_t size, align;
	unsigned shift; /* log2(align) */
	void *user;
	struct mc_blk *root; /* treap of every block by offset */
	uint64_t used, nused, nfree;
	uint64_t fl_map;       /* bit f: sl_map[f] != 0 */
	uint32_t sl_map[FL_N]; /* bit s: head[f][s] != NULL */
	struct mc_blk *head[FL_N][SL_N];
	struct slab *slabs;
	struct mc_blk *spare;	   /* unused structs, linked by ->right */
	uint64_t park_max, parked; /* bytes: at most, now */
	uint64_t nparked;
	struct park park[PARK_SLOTS];
	/*
	 * mc_alloc_drop: blocks freed since are free (owner NULL, still in
	 * the treap, which keeps tiling the range) but on no list and
	 * merged with nothing; nloose counts them.
	 */
	bool dropping;
	uint64_t nloose;
};

/*
 * The treap priority is a bijective mix of the offset: offsets are
 * unique, so priorities are too, and nothing needs to be stored.
 */
static uint64_t prio(const struct mc_blk *b)
{
	uint64_t x = b->off;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static bool is_free(const struct mc_blk *b)
{
	return b->owner == NULL;
}

/* --- size classes ------------------------------------------------------ */

static void mapping(uint64_t units, unsigned *fl, unsigned *sl)
{
	if (units < SL_N) {
		*fl = 0;
		*sl = (unsigned)units;
	} else {
		unsigned m = 63 - (unsigned)__builtin_clzll(units);

		*fl = m - SL_LOG2 + 1;
		*sl = (unsigned)(units >> (m - SL_LOG2)) - SL_N;
	}
}

/* Rounds @units up to the next class boundary: every block of that class
 * or above is then at least @units long. No overflow: units < 2^61. */
static uint64_t round_class(uint64_t units)
{
	if (units >= SL_N) {
		unsigned m = 63 - (unsigned)__builtin_clzll(units);
		uint64_t step = 1ULL << (m - SL_LOG2);

		units = (units + step - 1) & ~(step - 1);
	}
	return units;
}

static void list_add(struct mc_alloc *a, struct mc_blk *b)
{
	unsigned fl, sl;
	struct mc_blk **h;

	mapping(b->size >> a->shift, &fl, &sl);
	h = &a->head[fl][sl];
	b->free.prev = NULL;
	b->free.next = *h;
	if (*h)
		(*h)->free.prev = b;
	*h = b;
	a->sl_map[fl] |= 1u << sl;
	a->fl_map |= 1ULL << fl;
}

static void list_del(struct mc_alloc *a, struct mc_blk *b)
{
	unsigned fl, sl;

	mapping(b->size >> a->shift, &fl, &sl);
	if (b->free.prev)
		b->free.prev->free.next = b->free.next;
	else
		a->head[fl][sl] = b->free.next;
	if (b->free.next)
		b->free.next->free.prev = b->free.prev;
	if (!a->head[fl][sl]) {
		a->sl_map[fl] &= ~(1u << sl);
		if (!a->sl_map[fl])
			a->fl_map &= ~(1ULL << fl);
	}
}

/* The head of the first non-empty class at or above (fl, sl), or NULL. */
static struct mc_blk *list_search(struct mc_alloc *a, unsigned fl, unsigned sl)
{
	uint32_t sm = a->sl_map[fl] & (~0u << sl);

	if (!sm) {
		uint64_t fm =
			fl + 1 < FL_N ? a->fl_map & (~0ULL << (fl + 1)) : 0;

		if (!fm)
			return NULL;
		fl = (unsigned)__builtin_ctzll(fm);
		sm = a->sl_map[fl];
	}
	return a->head[fl][__builtin_ctz(sm)];
}

/* --- the offset treap -------------------------------------------------- */

/* The block (free or not) whose range holds @off, or NULL. */
static struct mc_blk *tree_find(const struct mc_alloc *a, uint64_t off)
{
	struct mc_blk *t = a->root;

	while (t) {
		if (off < t->off)
			t = t->left;
		else if (off - t->off >= t->size)
			t = t->right;
		else
			return t;
	}
	return NULL;
}

static void tree_insert(struct mc_alloc *a, struct mc_blk *n)
{
	struct mc_blk **link = &a->root, *t, **l, **r;
	uint64_t p = prio(n);

	while (*link && prio(*link) > p)
		link = n->off < (*link)->off ? &(*link)->left : &(*link)->right;
	/* split the subtree at n->off into n's children */
	t = *link;
	l = &n->left;
	r = &n->right;
	while (t) {
		if (t->off < n->off) {
			*l = t;
			l = &t->right;
			t = t->right;
		} else {
			*r = t;
			r = &t->left;
			t = t->left;
		}
	}
	*l = *r = NULL;
	*link = n;
}

static void tree_delete(struct mc_alloc *a, struct mc_blk *n)
{
	struct mc_blk **link = &a->root, *l, *r;

	while (*link != n)
		link = n->off < (*link)->off ? &(*link)->left : &(*link)->right;
	/* merge n's children (all of l precede all of r) into its place */
	l = n->left;
	r = n->right;
	while (l && r) {
		if (prio(l) > prio(r)) {
			*link = l;
			link = &l->right;
			l = l->right;
		} else {
			*link = r;
			link = &r->left;
			r = r->left;
		}
	}
	*link = l ? l : r;
}

/* --- block structs ----------------------------------------------------- */

static struct mc_blk *blk_new(struct mc_alloc *a)
{
	struct mc_blk *b = a->spare;

	if (!b) {
		struct slab *s = malloc(sizeof(*s));

		if (!s)
			return NULL;
		s->next = a->slabs;
		a->slabs = s;
		for (unsigned i = 0; i < SLAB_N; i++) {
			s->blk[i].right = a->spare;
			a->spare = &s->blk[i];
		}
		b = a->spare;
	}
	a->spare = b->right;
	memset(b, 0, sizeof(*b));
	return b;
}

static void blk_release(struct mc_alloc *a, struct mc_blk *b)
{
	b->owner = NULL;
	b->left = NULL;
	b->right = a->spare;
	a->spare = b;
}

/* --- the API ----------------------------------------------------------- */

struct mc_alloc *mc_alloc_new(uint64_t size, uint64_t align, void *user)
{
	struct mc_alloc *a;
	struct mc_blk *b;

	if (align < 8 || (align & (align - 1)) || !size ||
	    (size & (align - 1))) {
		errno = EINVAL;
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->size = size;
	a->align = align;
	a->shift = (unsigned)__builtin_ctzll(align);
	a->user = user;
	b = blk_new(a);
	if (!b) {
		free(a);
		return NULL;
	}
	b->size = size;
	tree_insert(a, b);
	list_add(a, b);
	a->nfree = 1;
	return a;
}

void mc_alloc_free(struct mc_alloc *a)
{
	struct slab *s, *next;

	if (!a)
		return;
	for (s = a->slabs; s; s = next) {
		next = s->next;
		free(s);
	}
	free(a);
}

void mc_alloc_drop(struct mc_alloc *a)
{
	a->dropping = true;
}

void *mc_alloc_user(const struct mc_alloc *a)
{
	return a->user;
}

static struct park *park_of(struct mc_alloc *a, uint64_t size)
{
	uint64_t u = size >> a->shift;

	return &a->park[(u ^ (u >> 4) ^ (u >> 8)) % PARK_SLOTS];
}

static void coalesce_put(struct mc_alloc *a, struct mc_blk *b);

/* Returns every parked block to the free lists. */
static void unpark_all(struct mc_alloc *a)
{
	for (unsigned i = 0; i < PARK_SLOTS; i++) {
		struct park *p = &a->park[i];

		while (p->head) {
			struct mc_blk *b = p->head;

			p->head = b->free.next;
			p->n--;
			a->parked -= b->size;
			a->nparked--;
			coalesce_put(a, b);
		}
	}
}

void mc_alloc_set_park(struct mc_alloc *a, uint64_t max_bytes)
{
	a->park_max = max_bytes;
	if (a->parked > max_bytes)
		unpark_all(a);
}

/* A parked block of exactly @size (aligned), off its list; or NULL. */
static struct mc_blk *park_take(struct mc_alloc *a, uint64_t size)
{
	struct park *p = park_of(a, size);
	struct mc_blk *b;

	if (!p->n || p->size != size)
		return NULL;
	b = p->head;
	p->head = b->free.next;
	p->n--;
	a->parked -= size;
	a->nparked--;
	return b;
}

/* Hands out @b (free or parked) as allocated from @a. */
static struct mc_blk *blk_hand_out(struct mc_alloc *a, struct mc_blk *b)
{
	memset(&b->u, 0, sizeof(b->u));
	b->owner = a;
	a->used += b->size;
	a->nused++;
	return b;
}

struct mc_blk *mc_alloc_get_parked(struct mc_alloc *a, uint64_t size)
{
	struct mc_blk *b;

	if (!size || size > PARK_BLOCK_MAX || !a->nparked || a->dropping)
		return NULL;
	size = (size + a->align - 1) & ~(a->align - 1);
	b = park_take(a, size);
	return b ? blk_hand_out(a, b) : NULL;
}

uint64_t mc_alloc_nparked(const struct mc_alloc *a)
{
	return a->nparked;
}

struct mc_blk *mc_alloc_get(struct mc_alloc *a, uint64_t size)
{
	struct mc_blk *b, *rest = NULL;
	unsigned fl, sl;

	/* checked before rounding, so nothing near UINT64_MAX can wrap */
	if (!size || size > a->size || a->dropping)
		return NULL;
	size = (size + a->align - 1) & ~(a->align - 1);

	/* A large value needs the free space whole: no parked block may
	 * cut it (and it would not park anyway). */
	if (size > PARK_BLOCK_MAX && a->nparked)
		unpark_all(a);
	b = park_take(a, size);
	if (b)
		goto got;
	mapping(round_class(size >> a->shift), &fl, &sl);
	b = list_search(a, fl, sl);
	if (!b) {
		/*
		 * The classes above are empty, but a block of the request's
		 * own class may still be long enough: look, so that a size up
		 * to the largest free block never fails.
		 */
		mapping(size >> a->shift, &fl, &sl);
		for (b = a->head[fl][sl]; b && b->size < size; b = b->free.next)
			;
		if (!b && a->nparked) {
			unpark_all(a);
			return mc_alloc_get(a, size);
		}
		if (!b)
			return NULL;
	}
	if (b->size > size) {
		rest = blk_new(a);
		if (!rest)
			return NULL;
	}
	list_del(a, b);
	a->nfree--;
	if (rest) {
		rest->off = b->off + size;
		rest->size = b->size - size;
		b->size = size;
		tree_insert(a, rest);
		list_add(a, rest);
		a->nfree++;
	}
got:
	return blk_hand_out(a, b);
}

void mc_alloc_put(struct mc_alloc *a, struct mc_blk *b)
{
	struct park *p;

	if (!b || b->owner != a)
		return;
	a->used -= b->size;
	a->nused--;
	p = park_of(a, b->size);
	if (!a->dropping && b->size <= PARK_BLOCK_MAX &&
	    a->parked + b->size <= a->park_max && p->n < PARK_DEPTH &&
	    (!p->n || p->size == b->size)) {
		b->owner = PARKED(a);
		b->free.next = p->head;
		p->head = b;
		p->size = b->size;
		p->n++;
		a->parked += b->size;
		a->nparked++;
		return;
	}
	coalesce_put(a, b);
}

/*
 * Frees @b (not counted in used any more), merging free neighbours; or,
 * once the allocator is being dropped, only marks it free (the walk of
 * the treap is what mc_alloc_drop saves).
 */
static void coalesce_put(struct mc_alloc *a, struct mc_blk *b)
{
	struct mc_blk *prev = NULL, *next = NULL;

	b->owner = NULL;
	if (a->dropping) {
		a->nloose++;
		return;
	}
	if (b->off)
		prev = tree_find(a, b->off - 1);
	if (b->size < a->size - b->off)
		next = tree_find(a, b->off + b->size);

	if (next && is_free(next)) {
		list_del(a, next);
		tree_delete(a, next);
		b->size += next->size;
		blk_release(a, next);
		a->nfree--;
	}
	if (prev && is_free(prev)) {
		list_del(a, prev);
		tree_delete(a, b);
		prev->size += b->size;
		blk_release(a, b);
		list_add(a, prev);
	} else {
		list_add(a, b);
		a->nfree++;
	}
}

int mc_alloc_extend(struct mc_alloc *a, struct mc_blk *b, uint64_t size)
{
	struct mc_blk *next;
	uint64_t more;

	if (!b || b->owner != a || size > a->size - b->off)
		return -EINVAL;
	size = (size + a->align - 1) & ~(a->align - 1);
	if (size <= b->size)
		return 0;
	if (a->dropping)
		return -ENOSPC;
	more = size - b->size;
	next = b->off + b->size < a->size ? tree_find(a, b->off + b->size)
					  : NULL;
	if (next && next->owner == PARKED(a)) {
		/* a parked block is free space: take them all back */
		unpark_all(a);
		next = tree_find(a, b->off + b->size);
	}
	if (!next || !is_free(next) || next->size < more)
		return -ENOSPC;
	list_del(a, next);
	tree_delete(a, next);
	if (next->size == more) {
		blk_release(a, next);
		a->nfree--;
	} else {
		/* the offset is the treap's key (and priority): reinsert */
		next->off += more;
		next->size -= more;
		tree_insert(a, next);
		list_add(a, next);
	}
	b->size = size;
	a->used += more;
	return 0;
}

int mc_alloc_shrink(struct mc_alloc *a, struct mc_blk *b, uint64_t size)
{
	struct mc_blk *rest;

	if (!b || b->owner != a || !size || size > b->size)
		return -EINVAL;
	size = (size + a->align - 1) & ~(a->align - 1);
	if (size == b->size)
		return 0;
	rest = blk_new(a);
	if (!rest)
		return -ENOMEM;
	rest->off = b->off + size;
	rest->size = b->size - size;
	b->size = size;
	a->used -= rest->size;
	tree_insert(a, rest);
	coalesce_put(a, rest); /* merges a free block after it */
	return 0;
}

int mc_alloc_reserve(struct mc_alloc *a, uint64_t off, uint64_t size,
		     struct mc_blk **out)
{
	struct mc_blk *f, *b, *mid = NULL, *tail = NULL;
	uint64_t tailsz;

	*out = NULL;
	if (a->dropping)
		return -ENOENT;
	if (!size || size > a->size || (off & (a->align - 1)))
		return -EINVAL;
	size = (size + a->align - 1) & ~(a->align - 1);
	if (off > a->size - size)
		return -EINVAL;
	if (a->nparked)
		unpark_all(a); /* parked blocks are free space */
	f = tree_find(a, off);
	if (!f)
		return -EINVAL; /* the blocks tile the range: cannot happen */
	if (!is_free(f)) {
		*out = f;
		return -EBUSY;
	}
	if (off + size - f->off > f->size) {
		/* a free block is never followed by another free one */
		*out = tree_find(a, f->off + f->size);
		return -EBUSY;
	}
	tailsz = f->off + f->size - (off + size);
	/* every struct first, so a failure changes nothing */
	if (off > f->off && !(mid = blk_new(a)))
		return -ENOMEM;
	if (tailsz && !(tail = blk_new(a))) {
		if (mid)
			blk_release(a, mid);
		return -ENOMEM;
	}
	list_del(a, f);
	if (mid) {
		/* f keeps its offset (the treap's key) and the head */
		f->size = off - f->off;
		list_add(a, f);
		b = mid;
		b->off = off;
		b->size = size;
		tree_insert(a, b);
	} else {
		b = f;
		b->size = size;
		a->nfree--;
	}
	if (tail) {
		tail->off = off + size;
		tail->size = tailsz;
		tree_insert(a, tail);
		list_add(a, tail);
		a->nfree++;
	}
	memset(&b->u, 0, sizeof(b->u));
	b->owner = a;
	a->used += size;
	a->nused++;
	*out = b;
	return 0;
}

struct mc_blk *mc_alloc_find(struct mc_alloc *a, uint64_t off)
{
	struct mc_blk *b = tree_find(a, off);

	return b && b->owner == a ? b : NULL;
}

uint64_t mc_alloc_size(const struct mc_alloc *a)
{
	return a->size;
}

uint64_t mc_alloc_used(const struct mc_alloc *a)
{
	return a->used;
}

uint64_t mc_alloc_largest_free(const struct mc_alloc *a)
{
	uint64_t max = 0;
	unsigned fl, sl;

	if (!a->fl_map)
		return 0;
	fl = 63 - (unsigned)__builtin_clzll(a->fl_map);
	sl = 31 - (unsigned)__builtin_clz(a->sl_map[fl]);
	for (const struct mc_blk *b = a->head[fl][sl]; b; b = b->free.next)
		if (b->size > max)
			max = b->size;
	return max;
}

uint64_t mc_alloc_nblocks(const struct mc_alloc *a)
{
	return a->nused;
}

/* In-order from @t; false once @fn asked to stop. */
static bool walk_blocks(const struct mc_alloc *a, const struct mc_blk *t,
			bool (*fn)(void *, uint64_t, uint64_t,
				   const struct mc_blk *),
			void *ctx)
{
	for (; t; t = t->right) {
		if (!walk_blocks(a, t->left, fn, ctx) ||
		    !fn(ctx, t->off, t->size, t->owner == a ? t : NULL))
			return false;
	}
	return true;
}

void mc_alloc_walk(const struct mc_alloc *a,
		   bool (*fn)(void *ctx, uint64_t off, uint64_t size,
			      const struct mc_blk *b),
		   void *ctx)
{
	walk_blocks(a, a->root, fn, ctx);
}

/* --- invariants -------------------------------------------------------- */

struct walk {
	const struct mc_alloc *a;
	uint64_t end; /* where the next block must start */
	uint64_t used, nused, nfree, depth, parked, nparked;
	int prev_free;
	int bad;
};

static void walk(struct walk *w, const struct mc_blk *t, uint64_t depth)
{
	const struct mc_alloc *a = w->a;
	uint64_t mask = a->align - 1;

	if (!t || w->bad)
		return;
	/* a cycle or a runaway tree: deeper than there can be blocks */
	if (depth > w->nused + w->nfree + a->nused + a->nfree + a->nloose +
			    a->nparked + 1) {
		w->bad = 1;
		return;
	}
	if ((t->left && prio(t->left) > prio(t)) ||
	    (t->right && prio(t->right) > prio(t)))
		w->bad = 1;
	walk(w, t->left, depth + 1);
	if (w->bad)
		return;
	/* in order, blocks must follow each other without gap or overlap */
	if (t->off != w->end || !t->size || (t->off & mask) ||
	    (t->size & mask) || t->size > a->size - t->off) {
		w->bad = 1;
		return;
	}
	w->end = t->off + t->size;
	if (is_free(t)) {
		if (w->prev_free && !a->dropping)
			w->bad = 1;
		w->nfree++;
	} else if (t->owner == PARKED(a)) {
		w->parked += t->size;
		w->nparked++;
	} else {
		if (t->owner != a)
			w->bad = 1;
		w->used += t->size;
		w->nused++;
	}
	w->prev_free = is_free(t);
	walk(w, t->right, depth + 1);
}

int mc_alloc_check(const struct mc_alloc *a)
{
	struct walk w = {.a = a};
	uint64_t nlisted = 0;

	walk(&w, a->root, 0);
	if (w.bad || w.end != a->size || w.used != a->used ||
	    w.nused != a->nused || w.nfree != a->nfree + a->nloose ||
	    (a->nloose && !a->dropping) || w.parked != a->parked ||
	    w.nparked != a->nparked || a->parked > a->park_max)
		return -EFAULT;
	for (unsigned i = 0; i < PARK_SLOTS; i++) {
		uint64_t n = 0;

		for (const struct mc_blk *b = a->park[i].head; b;
		     b = b->free.next)
			if (++n > a->park[i].n || b->owner != PARKED(a) ||
			    b->size != a->park[i].size ||
			    tree_find(a, b->off) != b)
				return -EFAULT;
		if (n != a->park[i].n)
			return -EFAULT;
	}
	for (unsigned fl = 0; fl < FL_N; fl++) {
		if (!!(a->fl_map & (1ULL << fl)) != !!a->sl_map[fl])
			return -EFAULT;
		for (unsigned sl = 0; sl < SL_N; sl++) {
			const struct mc_blk *b, *prev = NULL;

			if (!!(a->sl_map[fl] & (1u << sl)) != !!a->head[fl][sl])
				return -EFAULT;
			for (b = a->head[fl][sl]; b;
			     prev = b, b = b->free.next) {
				unsigned f, s;

				if (++nlisted > a->nfree || !is_free(b) ||
				    b->free.prev != prev ||
				    tree_find(a, b->off) != b)
					return -EFAULT;
				mapping(b->size >> a->shift, &f, &s);
				if (f != fl || s != sl)
					return -EFAULT;
			}
		}
	}
	return nlisted == a->nfree ? 0 : -EFAULT;
}
