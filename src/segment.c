/*
 * segment.c - segments: mounting memory (anonymous or /dev/shm), splitting
 * large mounts, unmounting at once or after a grace period, and the
 * replica buffers carved out of them.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ebr.h"
#include "log.h"
#include "store_int.h"
#include "uuid.h"

static void seg_free(struct mc_seg *g)
{
	struct mc_store *s = g->store;

	if (g->registered && s->o.unregister_mem)
		s->o.unregister_mem(s->o.register_arg, g->protocol, g->base,
				    g->size);
	if (g->map)
		munmap(g->map, g->map_len);
	for (unsigned i = 0; g->arenas && i < g->narenas; i++) {
		mc_alloc_free(g->arenas[i].alloc);
		pthread_mutex_destroy(&g->arenas[i].lock);
	}
	free(g->arenas);
	free(g->endpoint);
	free(g->name);
	free(g->location);
	free(g->shm_name);
	free(g);
}

void seg_unref(struct mc_seg *g)
{
	if (atomic_fetch_sub(&g->refs, 1) == 1)
		seg_free(g);
}

void seg_uncount(struct mc_seg *g)
{
	uint64_t left = 0;

	for (unsigned i = 0; i < g->narenas; i++) {
		pthread_mutex_lock(&g->arenas[i].lock);
		g->arenas[i].uncounted = true;
		left += mc_alloc_used(g->arenas[i].alloc);
		pthread_mutex_unlock(&g->arenas[i].lock);
	}
	store_used_add(g->store, -(int64_t)left);
}

void seg_drop_arenas(struct mc_seg *g)
{
	for (unsigned i = 0; i < g->narenas; i++) {
		pthread_mutex_lock(&g->arenas[i].lock);
		mc_alloc_drop(g->arenas[i].alloc);
		pthread_mutex_unlock(&g->arenas[i].lock);
	}
}

void blk_set_state(struct mc_blk *b, uint32_t state, uint64_t value_size)
{
	_Atomic uint32_t *st = &b->u.state;
	uint32_t old = atomic_load(st), nv;

	do {
		nv = (old & ~(BLK_STATE_MASK | (0xffu << BLK_PAD_SHIFT))) |
		     state | (uint32_t)(b->size - value_size) << BLK_PAD_SHIFT;
	} while (!atomic_compare_exchange_weak(st, &old, nv));
}

/*
 * Starts @b's life for a put of @size bytes, at ref 0: allocated under
 * its arena lock or taken back from a keep slot without it. A pin may
 * be looking at @b meanwhile (seg_pin): the state goes first, then the
 * count with release, so a pin that counts itself in sees this life.
 */
static void blk_begin(struct mc_blk *b, uint64_t size)
{
	atomic_store_explicit(&b->u.lease_until, 0, memory_order_relaxed);
	atomic_store_explicit(&b->u.state, BLK_PENDING, memory_order_relaxed);
	blk_set_state(b, BLK_PENDING, size);
	atomic_store_explicit(&b->u.ref, 1, memory_order_release);
}

/*
 * The owner is told, after the block went back to the allocator, with
 * the stamp read before it went (mooncake.h, mc_owner_blk.stamp).
 */
static void blk_release_hook(struct mc_seg *g, uint64_t off, uint64_t size,
			     uint64_t stamp)
{
	struct mc_store *s = g->store;
	struct mc_owner_blk v = {
		.seg_id = g->id,
		.owner = &g->owner,
		.addr = (uint64_t)(uintptr_t)g->base + off,
		.size = size,
		.term = atomic_load(&s->term),
		.stamp = stamp,
	};

	if (s->o.owner_ops && s->o.owner_ops->release)
		s->o.owner_ops->release(s->o.owner_arg, &v);
}

/* Refreshes @a's parked_hint; @a's lock held. */
static void arena_hint_parked(struct mc_arena *a)
{
	uint64_t n = mc_alloc_nparked(a->alloc);

	if (atomic_load_explicit(&a->parked_hint, memory_order_relaxed) != n)
		atomic_store_explicit(&a->parked_hint, n, memory_order_relaxed);
}

/*
 * Returns @b, at ref 0, to its arena; @counted: still in the store's
 * used bytes (a kept buffer is not).
 */
static void blk_give_back(struct mc_blk *b, bool counted)
{
	struct mc_arena *a = blk_arena(b);
	struct mc_seg *g = a->seg;
	struct mc_store *s = g->store;
	uint64_t size = b->size, off = blk_off(b);
	/* Read while @b still holds the arena's reference on @g: once the
	 * lock is dropped, another block's free can drop that reference. */
	bool hooked = g->hooked;
	uint64_t stamp = hooked ? atomic_load(&s->blk_stamp) : 0;
	bool last;

	pthread_mutex_lock(&a->lock);
	mc_alloc_put(a->alloc, b);
	counted = counted && !a->uncounted;
	last = --a->nblk == 0;
	if (hooked && !last)
		atomic_fetch_add(&g->refs, 1); /* the hook's, below */
	arena_hint_parked(a);
	pthread_mutex_unlock(&a->lock);
	if (counted)
		store_used_add(s, -(int64_t)size);
	if (hooked) {
		blk_release_hook(g, off, size, stamp);
		if (!last)
			seg_unref(g);
	}
	if (last)
		seg_unref(g); /* the arena's reference (store_int.h) */
}

static unsigned arena_hint(void);

/*
 * Keeps @b, at ref 0, in this thread's slot of its segment for the
 * thread's next put of its size (seg_alloc_one). An overwrite then takes
 * no arena lock, neither to free its old buffer (into the arena that came
 * from, often another thread's, so that two threads putting at once met
 * on its lock) nor to take the new one. false when @b is not kept: too
 * large, an owner's segment (its hooks hear of every buffer freed), a
 * segment going away, or the slot in use.
 *
 * Once @b is in the slot, an unmount's drain may give it back and free
 * the segment with it: the read section keeps @g until this returns. An
 * unmount marks @g gone, waits for the sections open then
 * (ebr_synchronize in seg_finish), and only then drains; a section begun
 * after the mark sees it and keeps nothing.
 */
static bool seg_keep(struct mc_blk *b)
{
	struct mc_seg *g = blk_seg(b);
	uint64_t size = b->size;
	struct seg_keep_slot *k;
	struct mc_blk *none = NULL;
	bool kept = false;

	if (size > SEG_KEEP_MAX || g->hooked)
		return false;
	ebr_enter();
	k = &g->keep[arena_hint() % SEG_KEEP];
	if (atomic_load(&g->state) == SEG_OK &&
	    !atomic_load_explicit(&k->b, memory_order_relaxed) &&
	    atomic_compare_exchange_strong(&k->b, &none, b)) {
		store_used_add(g->store, -(int64_t)size);
		kept = true;
	}
	ebr_exit();
	return kept;
}

unsigned seg_keep_drain(struct mc_seg *g)
{
	unsigned n = 0;

	for (unsigned i = 0; i < SEG_KEEP; i++) {
		struct mc_blk *b;

		if (!atomic_load(&g->keep[i].b))
			continue;
		b = atomic_exchange(&g->keep[i].b, NULL);
		if (b) {
			blk_give_back(b, false);
			n++;
		}
	}
	return n;
}

/* The buffer kept in slot @me of @g if it has @size's size, or NULL (one
 * of another size goes back to its arena). */
static struct mc_blk *seg_keep_take(struct mc_seg *g, unsigned me,
				    uint64_t size)
{
	struct seg_keep_slot *k = &g->keep[me % SEG_KEEP];
	struct mc_blk *b;

	if (!atomic_load_explicit(&k->b, memory_order_relaxed))
		return NULL;
	b = atomic_exchange(&k->b, NULL);
	if (b && b->size != buf_round(size)) {
		blk_give_back(b, false);
		b = NULL;
	}
	return b;
}

void blk_unref(struct mc_blk *b)
{
	_Atomic uint32_t *ref = &b->u.ref;

	if (atomic_fetch_sub(ref, 1) != 1)
		return;
	if (!seg_keep(b))
		blk_give_back(b, true);
}

void blk_owner_view(const struct mc_blk *b, struct mc_owner_blk *v)
{
	struct mc_seg *g = blk_seg(b);

	memset(v, 0, sizeof(*v));
	v->seg_id = g->id;
	v->owner = &g->owner;
	v->addr = (uint64_t)(uintptr_t)g->base + blk_off(b);
	v->size = b->size;
	v->term = atomic_load(&g->store->term);
}

/*
 * What snprintf(dst, size, "%s", src) writes (at most size - 1 bytes of
 * src, then a NUL), without printf's machinery: a query copies two
 * strings per replica (blk_desc), a segment's description five
 * (seg_info_locked).
 */
static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

void blk_desc(const struct mc_blk *b, uint64_t value_size, struct mc_desc *d)
{
	struct mc_seg *g = blk_seg(b);

	/* A number, not a pointer: a REMOTE base is another process's. */
	d->addr = (uint64_t)(uintptr_t)g->base + blk_off(b);
	d->size = value_size;
	d->rkey = g->rkey;
	memcpy(d->seg_id, g->id, sizeof(d->seg_id));
	copy_str(d->protocol, sizeof(d->protocol), g->protocol);
	copy_str(d->endpoint, sizeof(d->endpoint),
		 g->endpoint ? g->endpoint : atomic_load(&g->store->endpoint));
	d->owner = g->owner;
}

/* The arena this thread starts from: threads are dealt out in turn. */
static unsigned arena_hint(void)
{
	static _Atomic unsigned next;
	static __thread unsigned hint;

	if (!hint)
		hint = atomic_fetch_add_explicit(&next, 1,
						 memory_order_relaxed) +
		       1;
	return hint - 1;
}

/* @b allocated from @a (its lock held): the arena's counts follow. */
static struct mc_blk *arena_got(struct mc_seg *g, struct mc_arena *a,
				struct mc_blk *b)
{
	if (b && a->nblk++ == 0)
		atomic_fetch_add(&g->refs, 1);
	arena_hint_parked(a);
	return b;
}

/*
 * A parked block of exactly @size from any arena of @g whose lock is
 * free, this thread's first; or NULL. An overwrite frees the old block
 * into the arena it came from, which is seldom this thread's: taken
 * back from there, the arenas' parks stay level, where allocating from
 * this thread's arena alone would split free space here (a treap
 * insert) while the other arena's park filled and every further free
 * there coalesced (two treap walks), a cache miss per level each.
 */
static struct mc_blk *seg_alloc_parked(struct mc_seg *g, uint64_t size,
				       unsigned start)
{
	for (unsigned k = 0; k < g->narenas; k++) {
		struct mc_arena *a = &g->arenas[(start + k) % g->narenas];
		struct mc_blk *b;

		if (!atomic_load_explicit(&a->parked_hint,
					  memory_order_relaxed) ||
		    pthread_mutex_trylock(&a->lock))
			continue;
		b = arena_got(g, a, mc_alloc_get_parked(a->alloc, size));
		pthread_mutex_unlock(&a->lock);
		if (b)
			return b;
	}
	return NULL;
}

/*
 * A block of @size from @g's arenas: this thread's first, then the
 * others. The first round takes only arenas whose lock is free, so two
 * threads putting at once spread over the arenas instead of queueing on
 * one; the second waits for each lock in turn before @g counts as full.
 */
static struct mc_blk *seg_alloc_arenas(struct mc_seg *g, uint64_t size,
				       unsigned start)
{
	unsigned n = g->narenas;
	uint32_t tried = 0; /* arenas already asked (at most 32 counted) */

	for (unsigned round = 0; round < 2; round++) {
		for (unsigned k = 0; k < n; k++) {
			unsigned i = (start + k) % n;
			struct mc_arena *a = &g->arenas[i];
			struct mc_blk *b;

			if (i < 32 && (tried & (1u << i)))
				continue;
			if (round == 0) {
				if (pthread_mutex_trylock(&a->lock))
					continue;
			} else {
				pthread_mutex_lock(&a->lock);
			}
			b = arena_got(g, a, mc_alloc_get(a->alloc, size));
			pthread_mutex_unlock(&a->lock);
			if (b)
				return b;
			if (i < 32)
				tried |= 1u << i;
		}
	}
	return NULL;
}

/*
 * A block of @size in @g: the one this thread kept, if of that size; a
 * parked one of that size in any arena; then free space (when there is
 * none, the buffers other threads keep go back first).
 */
static struct mc_blk *seg_alloc_one(struct mc_seg *g, uint64_t size)
{
	unsigned me = arena_hint(), start = me % g->narenas;
	struct mc_blk *b = seg_keep_take(g, me, size);

	if (!b)
		b = seg_alloc_parked(g, size, start);
	if (!b)
		b = seg_alloc_arenas(g, size, start);
	if (!b && seg_keep_drain(g))
		b = seg_alloc_arenas(g, size, start);
	return b;
}

bool seg_eligible(const struct mc_seg *g, const struct seg_place *pl)
{
	/* a node's memory is mooncaked's own: any put may use it */
	return atomic_load(&g->state) == SEG_OK &&
	       (pl->remote_ok || g->kind != MC_SEG_REMOTE || g->hooked);
}

/*
 * Placement passes: the preferred name, the near owner's segments, the
 * nodes that hold the version a put replaces, one per owner, then any.
 * An overwrite placed on the old version's nodes needs no retire there
 * before it is acknowledged: its newer record wins a rebuild
 * (mooncake-cluster(7), Placement).
 */
enum { PASS_PREFER, PASS_NEAR, PASS_AGAIN, PASS_OWNERS, PASS_ANY };

/* Whether a node's segment of @o's replicas is owned by @g's owner. */
static bool seg_held_by(const struct mc_seg *g, const struct mc_obj *o)
{
	for (unsigned i = 0; g->hooked && i < o->nrep; i++) {
		const struct mc_seg *h = blk_seg(o->rep[i]);

		if (h->hooked && mc_owner_eq(&h->owner, &g->owner))
			return true;
	}
	return false;
}

/* Whether pass @pass may take @g, given the @got blocks taken so far. */
static bool seg_pass_takes(const struct mc_seg *g, int pass,
			   const struct seg_place *pl, struct mc_blk **out,
			   unsigned got)
{
	if (pass == PASS_PREFER && strcmp(g->name, pl->prefer))
		return false;
	if (pass == PASS_NEAR && !mc_owner_eq(&g->owner, pl->near))
		return false;
	if (pass == PASS_AGAIN && !seg_held_by(g, pl->again))
		return false;
	for (unsigned i = 0; i < got; i++) {
		const struct mc_seg *h = blk_seg(out[i]);

		if (h == g || (pass != PASS_PREFER && pass != PASS_ANY &&
			       mc_owner_eq(&h->owner, &g->owner)))
			return false;
	}
	return true;
}

/* Whether @g's owner failed a prepare lately (now read once, lazily). */
static bool seg_shunned(struct mc_store *s, const struct mc_seg *g,
			uint64_t *now)
{
	uint64_t until =
		atomic_load_explicit(&g->shun_until, memory_order_relaxed);

	if (!until)
		return false;
	if (!*now)
		*now = store_now(s);
	return until > *now;
}

void seg_shun(struct mc_blk *b)
{
	struct mc_seg *g = blk_seg(b);

	atomic_store(&g->shun_until, store_now(g->store) + SEG_SHUN_MS);
}

/* The placement passes over snapshot @t: how many blocks it took. */
static unsigned alloc_passes(struct mc_store *s, const struct seg_snap *t,
			     size_t start, uint64_t size,
			     const struct seg_place *pl, unsigned want,
			     bool shun, struct mc_blk **out)
{
	size_t n = t ? t->n : 0;
	uint64_t now = 0;
	unsigned got = 0;

	for (int pass = pl->prefer && *pl->prefer ? PASS_PREFER : PASS_NEAR;
	     pass <= PASS_ANY && got < want; pass++) {
		if ((pass == PASS_NEAR && !pl->near) ||
		    (pass == PASS_AGAIN && !pl->again))
			continue;
		for (size_t k = 0; k < n && got < want; k++) {
			struct mc_seg *g = t->g[(start + k) % n];

			if (!seg_eligible(g, pl) ||
			    (shun && seg_shunned(s, g, &now)) ||
			    !seg_pass_takes(g, pass, pl, out, got))
				continue;
			struct mc_blk *b = seg_alloc_one(g, size);

			if (!b)
				continue;
			store_used_add(s, (int64_t)b->size);
			blk_begin(b, size);
			out[got++] = b;
		}
	}
	return got;
}

int seg_alloc_replicas(struct mc_store *s, uint64_t size,
		       const struct seg_place *pl, struct mc_blk **out)
{
	/* A rotation per thread: spreads the load without a shared line. */
	static __thread uint64_t rr;
	unsigned got, want = pl->want;
	size_t n, start, ok = 0, fresh = 0;
	uint64_t now = 0;
	struct seg_snap *t;

	ebr_enter();
	t = atomic_load_explicit(&s->seg_snap, memory_order_acquire);
	n = t ? t->n : 0;
	for (size_t i = 0; i < n; i++) {
		if (!seg_eligible(t->g[i], pl))
			continue;
		ok++;
		fresh += !seg_shunned(s, t->g[i], &now);
	}
	if (ok < want)
		want = (unsigned)ok;
	start = n ? rr++ % n : 0;
	/* an owner that failed lately only when the others cannot do */
	got = alloc_passes(s, t, start, size, pl, want, fresh >= want, out);
	ebr_exit();
	if (got < want && fresh < ok && fresh >= want) {
		/* the others had no room: every eligible segment, then */
		while (got)
			blk_unref(out[--got]); /* outside the read section */
		ebr_enter();
		t = atomic_load_explicit(&s->seg_snap, memory_order_acquire);
		if (t && t->n == n)
			got = alloc_passes(s, t, start, size, pl, want, false,
					   out);
		ebr_exit();
	}
	if (got && got == want)
		return (int)got;
	for (unsigned i = 0; i < got; i++)
		blk_unref(out[i]);
	return -ENOSPC;
}

bool seg_can_fit(struct mc_store *s, uint64_t size, const struct seg_place *pl)
{
	unsigned ok = 0, big = 0;
	struct seg_snap *t;

	size = buf_round(size);
	ebr_enter();
	t = atomic_load_explicit(&s->seg_snap, memory_order_acquire);
	for (size_t i = 0; t && i < t->n; i++) {
		struct mc_seg *g = t->g[i];

		if (!seg_eligible(g, pl))
			continue;
		ok++;
		/* the last arena is the largest */
		big += g->arenas[g->narenas - 1].size >= size;
	}
	ebr_exit();
	return ok && big >= (pl->want < ok ? pl->want : ok);
}

/*
 * The listed segment of this process holding @addr, or NULL; inside a
 * read section. REMOTE segments hold addresses of other processes,
 * which may equal ours: they never match.
 */
static struct mc_seg *seg_by_addr(struct mc_store *s, uint64_t addr)
{
	struct seg_snap *t =
		atomic_load_explicit(&s->seg_snap, memory_order_acquire);

	for (size_t i = 0; t && i < t->n; i++) {
		struct mc_seg *g = t->g[i];
		uint64_t base = (uint64_t)(uintptr_t)g->base;

		if (addr >= base && addr - base < g->size &&
		    g->kind != MC_SEG_REMOTE)
			return g;
	}
	return NULL;
}

/*
 * Counts a WRITE into @b while @b is PENDING: false when it is not (or
 * when too many are in flight already).
 */
static bool writer_enter(struct mc_blk *b)
{
	uint32_t st = atomic_load(&b->u.state);

	do {
		if ((st & BLK_STATE_MASK) != BLK_PENDING ||
		    BLK_WRITERS(st) == BLK_WRITERS_MAX)
			return false;
	} while (!atomic_compare_exchange_weak(&b->u.state, &st,
					       st + BLK_WRITER_ONE));
	return true;
}

/*
 * Takes a reference on @b unless its count is 0; @b's arena lock held, so
 * that @b stays allocated (its fields readable) while this looks.
 */
static bool blk_ref_live(struct mc_blk *b)
{
	_Atomic uint32_t *ref = &b->u.ref;
	uint32_t r = atomic_load(ref);

	while (r > 0 && !atomic_compare_exchange_weak(ref, &r, r + 1))
		;
	return r > 0;
}

/*
 * The one rule for pinning a block found by its address: count a
 * reference first, then check the block's state and range, and drop
 * the reference when they do not fit.
 *
 * The arena lock only keeps the block allocated while it is looked at;
 * it does not keep the block in one life. A buffer freed by a put waits
 * at ref 0, still allocated, in a slot of its segment (seg_keep), and
 * the freeing thread's next put takes it back without that lock: its
 * count goes 0 -> 1 and its state becomes PENDING (blk_begin). Checked
 * before the count, the state could be the old life's (LIVE) and the
 * count the new one's (ABA): a READ would pin a buffer a put is
 * filling, a WRITE count itself into a state the new life overwrites.
 * Counted first, the block cannot change life (it reaches ref 0 first),
 * so what is checked after is the life the reference holds; and the
 * count is read from blk_begin's release store (or a later change of
 * it), so the new life's state is seen, not the old one's. A count at 0
 * is refused: a block being freed or kept.
 */
int seg_pin(struct mc_store *s, uint64_t addr, uint64_t size, uint32_t state,
	    struct mc_blk **out)
{
	struct mc_seg *g;
	struct mc_arena *a;
	struct mc_blk *b;
	uint64_t off, start, end;
	uint32_t st;

	if (size == 0 || addr + size < addr)
		return -EACCES;
	/* The read section keeps the segment allocated: no reference. */
	ebr_enter();
	g = seg_by_addr(s, addr);
	if (!g) {
		ebr_exit();
		return -EACCES;
	}
	off = addr - (uint64_t)(uintptr_t)g->base;
	a = &g->arenas[off / g->arena_size < g->narenas ? off / g->arena_size
							: g->narenas - 1];
	pthread_mutex_lock(&a->lock);
	b = off >= a->off ? mc_alloc_find(a->alloc, off - a->off) : NULL;
	if (b && !blk_ref_live(b))
		b = NULL;
	pthread_mutex_unlock(&a->lock);
	ebr_exit();
	if (!b)
		return -EACCES;
	/* Held: @b and its segment stay, in this life. */
	st = atomic_load(&b->u.state);
	start = (uint64_t)(uintptr_t)g->base + blk_off(b);
	end = start + b->size - ((st >> BLK_PAD_SHIFT) & 0xffu);
	/* addr < end first: past the value's end (in its block's padding)
	 * end - addr would wrap */
	if ((st & BLK_STATE_MASK) == state && addr >= start && addr < end &&
	    size <= end - addr && (state != BLK_PENDING || writer_enter(b))) {
		*out = b;
		return 0;
	}
	blk_unref(b); /* may free @b: after the arena lock */
	return -EACCES;
}

/* ------------------------------------------------------------- mounting */

/*
 * Bytes a name, location or endpoint may not hold: the tree shows each
 * as one line, /get_all_segments lists names one a line, logs quote them.
 */
static bool has_ctl(const char *p)
{
	for (; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return true;
	return false;
}

/*
 * Whether @p is UTF-8. A name is a metric label, and the exposition
 * format is UTF-8: two names that differed only in stray bytes would
 * render as one label (mooncake-http(7), POST /api/mount).
 */
static bool is_utf8(const char *p)
{
	size_t n = strlen(p), u;

	for (size_t i = 0; i < n; i += u)
		if (!(u = mc_utf8_len(p + i, n - i)))
			return false;
	return true;
}

/* What is wrong with a local mount's name or location, or NULL. */
static const char *line_fault(const char *v)
{
	if (v && strlen(v) > 255)
		return "too long";
	if (v && has_ctl(v))
		return "must not hold control bytes";
	return NULL;
}

enum mc_shm_fault mc_shm_name_check(const char *name)
{
	if (!name)
		return MC_SHM_EMPTY;
	if (*name == '/')
		name++;
	if (!*name)
		return MC_SHM_EMPTY;
	if (strchr(name, '/'))
		return MC_SHM_SLASH;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return MC_SHM_DOTS;
	if (strlen(name) > 255)
		return MC_SHM_TOO_LONG;
	return MC_SHM_OK;
}

#define ARENA_MIN (256ull << 20)
#define ARENA_MAX 16u
/*
 * The smallest slice under a fixed count: four values of the default
 * largest (100 MiB). A size alone decides it, so every master cuts a
 * node's segment alike (cluster/node.c), whatever its own max_value.
 */
#define ARENA_MIN_FIXED (400ull << 20)

/*
 * How many arenas a segment of @size gets (mc_store_opts.alloc_arenas).
 * A value never spans two, so slices stay several values large: a
 * segment cut finer could hold a value only in an empty slice, and a
 * put would evict what the others hold to find one.
 */
static unsigned arena_count(struct mc_store *s, uint64_t size)
{
	uint64_t min = ARENA_MIN_FIXED;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned n = s->o.owner_only ? 1 : s->o.alloc_arenas;

	if (n == 0) {
		n = cpus > 0 ? (unsigned)cpus : 1;
		min = 4 * s->o.max_value > ARENA_MIN ? 4 * s->o.max_value
						     : ARENA_MIN;
	}
	if (n > ARENA_MAX)
		n = ARENA_MAX;
	while (n > 1 && size / n < min)
		n--;
	return n ? n : 1;
}

/* Cuts @g into its arenas: 0, or -ENOMEM. */
static int seg_arenas(struct mc_store *s, struct mc_seg *g)
{
	uint64_t usable = g->size - g->size % MC_BUF_ALIGN;
	unsigned n = arena_count(s, usable);
	pthread_mutexattr_t ma;

	g->arenas = calloc(n, sizeof(*g->arenas));
	if (!g->arenas)
		return -ENOMEM;
	g->arena_size = usable / n - usable / n % MC_BUF_ALIGN;
	/*
	 * Allocator critical sections are short and every put takes two:
	 * spin a little before sleeping rather than pay a context switch.
	 */
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
	for (unsigned i = 0; i < n; i++) {
		struct mc_arena *a = &g->arenas[i];

		a->seg = g;
		a->off = (uint64_t)i * g->arena_size;
		a->size = i + 1 < n ? g->arena_size : usable - a->off;
		pthread_mutex_init(&a->lock, &ma);
		g->narenas = i + 1;
		a->alloc = mc_alloc_new(a->size, MC_BUF_ALIGN, a);
		if (!a->alloc)
			break;
		/* freed buffers wait for a put of their size: 1/32 of it */
		mc_alloc_set_park(a->alloc, a->size / 32);
	}
	pthread_mutexattr_destroy(&ma);
	return g->arenas[g->narenas - 1].alloc ? 0 : -ENOMEM;
}

uint64_t seg_used(struct mc_seg *g)
{
	uint64_t used = 0;

	seg_keep_drain(g);

	for (unsigned i = 0; i < g->narenas; i++) {
		pthread_mutex_lock(&g->arenas[i].lock);
		used += mc_alloc_used(g->arenas[i].alloc);
		pthread_mutex_unlock(&g->arenas[i].lock);
	}
	return used;
}

static int seg_new(struct mc_store *s, const struct mc_mount_req *req,
		   const char *protocol, uint64_t size, struct mc_seg **out,
		   struct mc_err *err)
{
	struct mc_seg *g = calloc(1, sizeof(*g));

	if (!g)
		return mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR,
				  "out of memory");
	mc_uuid_new(g->id);
	g->name = strdup(req->name && *req->name ? req->name : s->hostname);
	g->location = strdup(req->location ? req->location : "");
	snprintf(g->protocol, sizeof(g->protocol), "%s", protocol);
	g->size = size;
	g->store = s;
	atomic_init(&g->refs, 1);
	atomic_init(&g->state, SEG_OK);
	if (!g->name || !g->location || seg_arenas(s, g) < 0) {
		seg_free(g);
		return mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR,
				  "out of memory");
	}
	*out = g;
	return 0;
}

/*
 * Advice for a new anonymous segment. Huge pages where the kernel offers
 * them on request (transparent_hugepage=madvise): a first touch then
 * faults in 2 MiB at once, and gets and puts over a large segment miss
 * the TLB far less. With @populate every page is made resident now (after
 * the advice, so in huge pages), else on its first write. No child gets
 * the segment: the daemon's children (the FUSE tree's unmount guards live
 * as long as it does) would share its resident pages, each then copied
 * at the daemon's next write into it.
 */
static void seg_advise(void *m, size_t len, bool populate)
{
	madvise(m, len, MADV_DONTFORK);
	madvise(m, len, MADV_HUGEPAGE);
	if (!populate)
		return;
#ifdef MADV_POPULATE_WRITE
	if (madvise(m, len, MADV_POPULATE_WRITE) == 0)
		return;
#endif
	/* an older kernel: one write per page */
	for (size_t off = 0; off < len; off += 4096)
		((volatile char *)m)[off] = 0;
}

static int seg_register(struct mc_store *s, struct mc_seg *g,
			struct mc_err *err)
{
	int rc;

	/* Without a transport layer, only tcp (which registers nothing) works.
	 */
	if (!s->o.register_mem) {
		if (strcmp(g->protocol, "rdma"))
			return 0;
		return mc_err_set(err, -EOPNOTSUPP, MC_INVALID_PARAMS,
				  "protocol 'rdma' is not available: built "
				  "without rdma-core");
	}
	rc = s->o.register_mem(s->o.register_arg, g->protocol, g->base, g->size,
			       &g->rkey);
	if (rc < 0)
		return mc_err_set(err, rc, MC_INVALID_PARAMS,
				  "cannot register segment '%s' for %s: %s",
				  g->id, g->protocol,
				  rc == -EOPNOTSUPP ? "no RDMA device found"
						    : strerror(-rc));
	g->registered = rc == 0;
	return 0;
}

/*
 * Chunk sizes for a mount of @total bytes: near-equal, each a multiple of
 * @align but the last, none over @max (like upstream's GetNextSegmentSize).
 */
static size_t split_sizes(uint64_t total, uint64_t max, uint64_t align,
			  uint64_t **out)
{
	uint64_t n, chunk, left = total;
	size_t i = 0;

	if (max < align)
		max = align;
	max -= max % align;
	n = (total + max - 1) / max;
	chunk = (total + n - 1) / n;
	chunk = (chunk + align - 1) / align * align;
	if (chunk > max)
		chunk = max;
	*out = calloc(n + 1, sizeof(**out));
	if (!*out)
		return 0;
	while (left) {
		uint64_t c = left < chunk ? left : chunk;

		(*out)[i++] = c;
		left -= c;
	}
	return i;
}

static void list_add(struct mc_store *s, struct mc_seg *g)
{
	if (s->nsegs == s->segs_cap) {
		size_t cap = s->segs_cap ? s->segs_cap * 2 : 16;
		struct mc_seg **n = realloc(s->segs, cap * sizeof(*n));

		if (!n)
			mc_oom();
		s->segs = n;
		s->segs_cap = cap;
	}
	g->seq = ++s->seg_seq;
	s->segs[s->nsegs++] = g;
	atomic_fetch_add(&s->capacity, g->size);
	atomic_fetch_add(&s->seg_gen, 1);
	seg_snap_publish(s);
}

void seg_snap_publish(struct mc_store *s)
{
	struct seg_snap *t = malloc(sizeof(*t) + s->nsegs * sizeof(t->g[0]));

	if (!t)
		mc_oom();
	t->n = s->nsegs;
	memcpy(t->g, s->segs, s->nsegs * sizeof(t->g[0]));
	ebr_retire(atomic_exchange_explicit(&s->seg_snap, t,
					    memory_order_acq_rel));
}

int mc_segment_mount(struct mc_store *s, const struct mc_mount_req *req,
		     struct mc_mount_result *out, struct mc_err *err)
{
	if (s->link)
		return fac_segment_mount(s, req, out, err);
	return seg_mount_local(s, req, out, err);
}

/*
 * Whether bytes [@off, @off + @len) of shm object @st (named @name) are
 * mounted already, in whole or in part: two segments over the same bytes
 * would put two values in one place. -EEXIST with @err, or 0; seg_lock
 * held.
 */
static int shm_overlap(struct mc_store *s, const char *name,
		       const struct stat *st, uint64_t off, uint64_t len,
		       struct mc_err *err)
{
	for (size_t i = 0; i < s->nsegs; i++) {
		const struct mc_seg *g = s->segs[i];

		if (g->kind != MC_SEG_SHM || g->shm_dev != st->st_dev ||
		    g->shm_ino != st->st_ino ||
		    off >= g->shm_offset + g->size ||
		    g->shm_offset >= off + len)
			continue;
		return mc_err_set(err, -EEXIST, MC_INVALID_PARAMS,
				  "bytes %llu to %llu of shm object '%s' are "
				  "mounted already, as segment '%s'",
				  (unsigned long long)g->shm_offset,
				  (unsigned long long)(g->shm_offset + g->size),
				  name, g->id);
	}
	return 0;
}

int seg_mount_local(struct mc_store *s, const struct mc_mount_req *req,
		    struct mc_mount_result *out, struct mc_err *err)
{
	const char *protocol =
		req->protocol && *req->protocol ? req->protocol : s->protocol;
	const char *bare = NULL, *why;
	uint64_t total, align, *sizes = NULL;
	size_t n, made = 0;
	struct mc_seg **segs = NULL;
	long page = sysconf(_SC_PAGESIZE);
	struct stat shm_st = {0};
	/* No page is touched at mount unless asked (mc_store_opts.populate). */
	int populate = s->o.populate ? MAP_POPULATE : 0; /* shm */
	int fd = -1, rc;

	memset(out, 0, sizeof(*out));
	mc_series_add(s->c.mount, 1);
	if (req->size == 0 || req->size > INT64_MAX) {
		rc = mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				"Invalid size, must be a positive integer");
		goto fail;
	}
	if (strcmp(protocol, "tcp") && strcmp(protocol, "rdma")) {
		rc = mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				"unknown protocol '%s'", protocol);
		goto fail;
	}
	why = line_fault(req->name);
	if (!why && req->name && !is_utf8(req->name))
		why = "must be UTF-8";
	if (why) {
		rc = mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				"segment name %s", why);
		goto fail;
	}
	if ((why = line_fault(req->location))) {
		rc = mc_err_set(err, -EINVAL, MC_INVALID_PARAMS, "location %s",
				why);
		goto fail;
	}
	if (req->shm_name) {
		char path[300];

		switch (mc_shm_name_check(req->shm_name)) {
		case MC_SHM_OK:
			break;
		case MC_SHM_TOO_LONG:
			rc = mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
					"Invalid name, longer than 255 bytes");
			goto fail;
		default:
			rc = mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
					"Invalid name, must be a shared memory "
					"object name without '/', '.' or '..'");
			goto fail;
		}
		bare = req->shm_name + (*req->shm_name == '/');
		if (req->offset % (uint64_t)page || req->offset > INT64_MAX) {
			rc = mc_err_set(
				err, -EINVAL, MC_INVALID_PARAMS,
				"Invalid offset, must be a non-negative "
				"multiple of the page size (%ld)",
				page);
			goto fail;
		}
		snprintf(path, sizeof(path), "/dev/shm/%s", bare);
		fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 || fstat(fd, &shm_st) < 0 ||
		    !S_ISREG(shm_st.st_mode)) {
			rc = mc_err_set(err, -ENOENT, MC_INVALID_PARAMS,
					"no shm object '%s'", bare);
			goto fail;
		}
		/*
		 * Whoever may write the object may ftruncate(2) it, and a
		 * mapping read past a shrunk object's end is SIGBUS: only
		 * one that no other user can write is mounted.
		 */
		if (shm_st.st_uid != geteuid() ||
		    (shm_st.st_mode & (S_IWGRP | S_IWOTH))) {
			rc = mc_err_set(
				err, -EPERM, MC_INVALID_PARAMS,
				"shm object '%s' can be written by "
				"another user (owner uid %u, mode %03o), "
				"who could shrink it under the store",
				bare, (unsigned)shm_st.st_uid,
				(unsigned)(shm_st.st_mode & 0777));
			goto fail;
		}
		if (req->offset > (uint64_t)shm_st.st_size ||
		    req->size > (uint64_t)shm_st.st_size - req->offset) {
			rc = mc_err_set(err, -ERANGE, MC_INVALID_PARAMS,
					"offset + size passes the end of shm "
					"object '%s'",
					bare);
			goto fail;
		}
		/*
		 * An alloc mount is rounded up to MC_ALLOC_ALIGN; a shm mount
		 * is taken as given, and one below a buffer could hold no
		 * value: a bad size (mooncake-http(7), /api/mount_shm).
		 */
		if (req->size < MC_BUF_ALIGN) {
			rc = mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
					"Invalid size, must be at least %u "
					"bytes (one buffer) for a shm mount",
					MC_BUF_ALIGN);
			goto fail;
		}
		total = req->size;
		align = (uint64_t)page;
	} else {
		total = (req->size + MC_ALLOC_ALIGN - 1) / MC_ALLOC_ALIGN *
			MC_ALLOC_ALIGN;
		align = MC_ALLOC_ALIGN;
	}
	/*
	 * A mount split into more segments than this is refused before any
	 * work: each segment is a mapping, the kernel allows about 65,000
	 * (vm.max_map_count), and making and undoing millions of them (160
	 * TiB with --max-segment-size 16M) held a worker for minutes.
	 */
	if ((total - 1) / s->o.max_segment_size + 1 > MC_MOUNT_SEGS) {
		/* As for any mount the machine cannot hold: no memory. */
		rc = mc_err_set(err, -ENOMEM, MC_NO_AVAILABLE_HANDLE,
				"cannot map %llu bytes: more than %d "
				"segments of at most %llu bytes",
				(unsigned long long)req->size, MC_MOUNT_SEGS,
				(unsigned long long)s->o.max_segment_size);
		goto fail;
	}
	n = split_sizes(total, s->o.max_segment_size, align, &sizes);
	segs = calloc(n ? n : 1, sizeof(*segs));
	out->ids = calloc(n ? n : 1, sizeof(*out->ids));
	if (!n || !segs || !out->ids) {
		rc = mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR,
				"out of memory");
		goto fail;
	}
	for (uint64_t off = 0; made < n; off += sizes[made++]) {
		struct mc_seg *g = NULL;
		void *m;

		rc = seg_new(s, req, protocol, sizes[made], &g, err);
		if (rc < 0)
			goto fail;
		segs[made] = g;
		if (bare) {
			g->kind = MC_SEG_SHM;
			g->shm_name = strdup(bare);
			g->shm_offset = req->offset + off;
			g->shm_dev = shm_st.st_dev;
			g->shm_ino = shm_st.st_ino;
			m = mmap(NULL, sizes[made], PROT_READ | PROT_WRITE,
				 MAP_SHARED | populate, fd,
				 (off_t)g->shm_offset);
		} else {
			g->kind = MC_SEG_ALLOC;
			m = mmap(NULL, sizes[made], PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (m != MAP_FAILED)
				seg_advise(m, sizes[made], s->o.populate);
		}
		if (m == MAP_FAILED || (bare && !g->shm_name)) {
			if (m != MAP_FAILED)
				munmap(m, sizes[made]);
			rc = mc_err_set(err, -ENOMEM, MC_NO_AVAILABLE_HANDLE,
					"cannot map %llu bytes: %s",
					(unsigned long long)sizes[made],
					strerror(errno));
			made++;
			goto fail;
		}
		g->map = g->base = m;
		g->map_len = sizes[made];
		rc = seg_register(s, g, err);
		if (rc < 0) {
			made++;
			goto fail;
		}
	}
	pthread_rwlock_wrlock(&s->seg_lock);
	/* under the lock that lists them: two mounts at once see each other */
	if (bare &&
	    (rc = shm_overlap(s, bare, &shm_st, req->offset, total, err)) < 0) {
		pthread_rwlock_unlock(&s->seg_lock);
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		list_add(s, segs[i]);
		memcpy(out->ids[i], segs[i]->id, sizeof(out->ids[i]));
		out->allocated_size += segs[i]->size;
	}
	pthread_rwlock_unlock(&s->seg_lock);
	out->n = n;
	for (size_t i = 0; i < n; i++)
		mc_info("segment: mounted '%s' (%s, %llu bytes, %s)",
			segs[i]->id, segs[i]->name,
			(unsigned long long)segs[i]->size,
			bare ? "shm" : "alloc");
	free(segs);
	free(sizes);
	if (fd >= 0)
		close(fd);
	return 0;
fail:
	for (size_t i = 0; i < made; i++)
		if (segs[i])
			seg_free(segs[i]);
	free(segs);
	free(sizes);
	free(out->ids);
	out->ids = NULL;
	if (fd >= 0)
		close(fd);
	mc_series_add(s->c.mount_fail, 1);
	return rc;
}

/* --------------------------------------------------- remote segments */

/* What is wrong with a remote mount, or NULL; protocol resolved. */
static const char *remote_check(struct mc_store *s,
				const struct mc_remote_req *req,
				const char **protocol)
{
	const struct mc_owner *o = &req->owner;
	const char *p =
		req->protocol && *req->protocol ? req->protocol : s->protocol;
	size_t idlen = strlen(o->id);

	*protocol = p;
	if (!req->id || !mc_uuid_valid(req->id))
		return "segment id must be a lowercase RFC 4122 id";
	if (o->kind == MC_OWNER_CLIENT ? !mc_uuid_valid(o->id)
	    : o->kind == MC_OWNER_NODE
		    ? idlen == 0 || idlen > MC_OWNER_ID_MAX ||
			      strspn(o->id, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					    "abcdefghijklmnopqrstuvwxyz"
					    "0123456789._-") != idlen
		    : true)
		return "bad owner of a remote segment";
	if (req->base == 0 || req->size < MC_BUF_ALIGN)
		return "base and size must be non-zero (size at least 64)";
	/* 2^57: the widest user address space of any 64-bit machine (x86
	 * with 5-level paging); a claim past it would only wrap sums */
	if (req->base + req->size < req->base ||
	    req->base + req->size > MC_REMOTE_END)
		return "base + size passes the end of a 57-bit address space";
	if (!req->endpoint || !*req->endpoint ||
	    strlen(req->endpoint) >=
		    sizeof(((struct mc_seg_info *)0)->endpoint) ||
	    has_ctl(req->endpoint))
		return "endpoint must be 1 to 299 printable bytes";
	if (req->name && (strlen(req->name) > 255 || has_ctl(req->name) ||
			  !is_utf8(req->name) || strchr(req->name, '/') ||
			  !strcmp(req->name, ".") || !strcmp(req->name, "..")))
		return "segment name must be at most 255 bytes of UTF-8, no "
		       "'/' or control bytes, not '.' or '..'";
	if (o->kind == MC_OWNER_NODE &&
	    ((req->location &&
	      (strlen(req->location) > 255 || has_ctl(req->location))) ||
	     (req->origin == MC_SEG_SHM &&
	      mc_shm_name_check(req->shm_name) != MC_SHM_OK) ||
	     (req->origin != MC_SEG_SHM && req->origin != MC_SEG_ALLOC)))
		return "a node's location, shm name or kind is not one";
	if (strlen(p) >= sizeof(((struct mc_seg *)0)->protocol) ||
	    strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(p))
		return "protocol must be 1 to 7 of [a-z0-9_]";
	return NULL;
}

/*
 * What a new remote segment may not do to the others (seg_lock held):
 * make the capacity pass MC_CAPACITY_MAX (sums would wrap, and eviction
 * would think the store full), or, for a client's, name this store's
 * own transfer endpoint or a node's: reads of "client memory" would then
 * be served from the store's own buffers, another key's bytes
 * (mooncake-rpc(7), CLIENT SEGMENTS). 0, or -EINVAL with @err.
 */
static int remote_fits(struct mc_store *s, const struct mc_remote_req *req,
		       struct mc_err *err)
{
	const char *own = atomic_load(&s->endpoint);
	bool ours;

	if (req->size > MC_CAPACITY_MAX - atomic_load(&s->capacity))
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "%llu bytes more would make the store's "
				  "capacity pass 2^60 bytes",
				  (unsigned long long)req->size);
	if (req->owner.kind != MC_OWNER_CLIENT)
		return 0;
	ours = own && !strcmp(own, req->endpoint);
	for (size_t i = 0; i < s->nsegs && !ours; i++)
		ours = s->segs[i]->hooked &&
		       !strcmp(s->segs[i]->endpoint, req->endpoint);
	if (ours)
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "endpoint '%s' is a transfer port of this "
				  "store, not the client's",
				  req->endpoint);
	return 0;
}

int mc_segment_mount_remote(struct mc_store *s, const struct mc_remote_req *req,
			    struct mc_err *err)
{
	bool node = req->owner.kind == MC_OWNER_NODE;
	struct mc_mount_req mr = {.size = req->size,
				  .name = req->name,
				  .location = node ? req->location : NULL};
	struct mc_seg *g = NULL, *old;
	const char *protocol, *why;
	char own[MC_OWNER_ID_MAX + 16];
	int rc;

	if (s->link)
		return fac_mount_remote(s, req, err);
	if (!req->remount)
		mc_series_add(s->c.mount, 1);
	why = remote_check(s, req, &protocol);
	if (why) {
		rc = mc_err_set(err, -EINVAL, MC_INVALID_PARAMS, "%s", why);
		goto fail;
	}
	rc = seg_new(s, &mr, protocol, req->size, &g, err);
	if (rc < 0)
		goto fail;
	memcpy(g->id, req->id, sizeof(g->id));
	g->kind = MC_SEG_REMOTE;
	g->owner = req->owner;
	g->hooked = node;
	g->origin =
		node && req->origin == MC_SEG_SHM ? MC_SEG_SHM : MC_SEG_ALLOC;
	g->shm_offset = g->origin == MC_SEG_SHM ? req->shm_offset : 0;
	if (g->origin == MC_SEG_SHM)
		g->shm_name = strdup(req->shm_name ? req->shm_name : "");
	g->base = (char *)(uintptr_t)req->base;
	g->endpoint = strdup(req->endpoint);
	if (!g->endpoint || (g->origin == MC_SEG_SHM && !g->shm_name)) {
		rc = mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR,
				"out of memory");
		goto fail;
	}
	/*
	 * Known (and its clock restarted) before the segment is listed, so
	 * an expiry running meanwhile cannot take the new segment at once.
	 */
	if (req->owner.kind == MC_OWNER_CLIENT &&
	    (rc = client_touch(s, &req->owner)) < 0) {
		rc = mc_err_set(err, rc, MC_INTERNAL_ERROR, "out of memory");
		goto fail;
	}
	pthread_rwlock_wrlock(&s->seg_lock);
	old = seg_find_locked(s, req->id);
	if (!old && (rc = remote_fits(s, req, err)) < 0) {
		pthread_rwlock_unlock(&s->seg_lock);
		goto fail;
	}
	if (old) {
		bool same = old->kind == MC_SEG_REMOTE &&
			    mc_owner_eq(&old->owner, &req->owner) &&
			    (uint64_t)(uintptr_t)old->base == req->base &&
			    old->size == req->size &&
			    !strcmp(old->name, g->name) &&
			    !strcmp(old->endpoint, g->endpoint) &&
			    !strcmp(old->protocol, g->protocol) &&
			    old->origin == g->origin;

		pthread_rwlock_unlock(&s->seg_lock);
		seg_free(g);
		if (same)
			return 0;
		rc = mc_err_set(err, -EEXIST, MC_SEGMENT_ALREADY_EXISTS,
				"segment '%s' is mounted already as another "
				"range",
				req->id);
		g = NULL;
		goto fail;
	}
	list_add(s, g);
	pthread_rwlock_unlock(&s->seg_lock);
	mc_info("segment: mounted '%s' (%s, %llu bytes, %s at %s)", g->id,
		g->name, (unsigned long long)g->size,
		owner_text(&g->owner, own, sizeof(own)), g->endpoint);
	return 0;
fail:
	if (g)
		seg_free(g);
	if (!req->remount)
		mc_series_add(s->c.mount_fail, 1);
	return rc;
}

int seg_reserve(struct mc_store *s, struct mc_seg *g, uint64_t off,
		uint64_t size, struct mc_blk **out, uint64_t *in_way)
{
	struct mc_arena *a;
	struct mc_blk *b;
	int rc;

	if (!size || off >= g->size || size > g->size - off)
		return -ENOENT;
	a = &g->arenas[off / g->arena_size < g->narenas ? off / g->arena_size
							: g->narenas - 1];
	if (off < a->off || size > a->off + a->size - off)
		return -ENOENT;
	for (bool again = true;; again = false) {
		pthread_mutex_lock(&a->lock);
		rc = mc_alloc_reserve(a->alloc, off - a->off, size, &b);
		if (rc == 0 && a->nblk++ == 0)
			atomic_fetch_add(&g->refs, 1); /* the arena's */
		if (rc == -EBUSY)
			*in_way = a->off + b->off;
		pthread_mutex_unlock(&a->lock);
		/* a kept buffer in the way is free space */
		if (rc != -EBUSY || !again || !seg_keep_drain(g))
			break;
	}
	if (rc)
		return rc;
	store_used_add(s, (int64_t)b->size);
	blk_begin(b, size);
	*out = b;
	return 0;
}

/* ------------------------------------------------------- the table */

struct mc_seg *seg_find_locked(struct mc_store *s, const char *id)
{
	for (size_t i = 0; i < s->nsegs; i++)
		if (!strcmp(s->segs[i]->id, id))
			return s->segs[i];
	return NULL;
}

/* Takes @g out of the table; the caller holds seg_lock for writing. */
void seg_unlist_locked(struct mc_store *s, struct mc_seg *g)
{
	for (size_t i = 0; i < s->nsegs; i++) {
		if (s->segs[i] == g) {
			memmove(&s->segs[i], &s->segs[i + 1],
				(s->nsegs - i - 1) * sizeof(*s->segs));
			s->nsegs--;
			break;
		}
	}
	atomic_store(&g->state, SEG_GONE);
	atomic_fetch_add(&s->unlisting, 1); /* until seg_finish's end */
	atomic_fetch_sub(&s->capacity, g->size);
	atomic_fetch_add(&s->seg_gen, 1);
	seg_snap_publish(s);
}

/* ------------------------------------------------------------ inspection */

void seg_info_locked(struct mc_store *s, struct mc_seg *g,
		     struct mc_seg_info *i)
{
	memset(i, 0, sizeof(*i));
	memcpy(i->id, g->id, sizeof(i->id));
	copy_str(i->name, sizeof(i->name), g->name);
	copy_str(i->protocol, sizeof(i->protocol), g->protocol);
	copy_str(i->location, sizeof(i->location), g->location);
	if (g->kind == MC_SEG_SHM) {
		snprintf(i->source, sizeof(i->source), "shm:%s+%llu",
			 g->shm_name, (unsigned long long)g->shm_offset);
		copy_str(i->shm_name, sizeof(i->shm_name), g->shm_name);
		i->shm_offset = g->shm_offset;
	} else if (g->kind == MC_SEG_REMOTE && g->hooked &&
		   g->origin == MC_SEG_SHM) {
		/* a node's memory shows as its owner shows it */
		snprintf(i->source, sizeof(i->source), "shm:%s+%llu",
			 g->shm_name, (unsigned long long)g->shm_offset);
		copy_str(i->shm_name, sizeof(i->shm_name), g->shm_name);
		i->shm_offset = g->shm_offset;
	} else if (g->kind == MC_SEG_REMOTE && !g->hooked) {
		owner_text(&g->owner, i->source, sizeof(i->source));
	} else {
		snprintf(i->source, sizeof(i->source), "alloc");
	}
	i->owner = g->owner;
	copy_str(i->endpoint, sizeof(i->endpoint),
		 g->endpoint ? g->endpoint : atomic_load(&s->endpoint));
	i->kind = g->kind == MC_SEG_REMOTE && g->hooked ? g->origin : g->kind;
	i->state = atomic_load(&g->state) == SEG_DRAINING ? MC_SEG_DRAINING
							  : MC_SEG_OK;
	if (i->state == MC_SEG_DRAINING) {
		uint64_t now = store_now(s);

		i->drain_ms = g->deadline_ms > now ? g->deadline_ms - now : 0;
	}
	i->base = (uint64_t)(uintptr_t)g->base;
	i->size = g->size;
	i->used = seg_used(g);
	i->rkey = g->rkey;
}

int mc_segment_info(struct mc_store *s, const char *id, struct mc_seg_info *out)
{
	if (s->link)
		return fac_segment_info(s, id, out);
	return seg_info_local(s, id, out);
}

struct mc_seg *seg_get(struct mc_store *s, const char *id)
{
	struct mc_seg *g;

	pthread_rwlock_rdlock(&s->seg_lock);
	g = seg_find_locked(s, id);
	if (g)
		atomic_fetch_add(&g->refs, 1);
	pthread_rwlock_unlock(&s->seg_lock);
	return g;
}

int seg_info_local(struct mc_store *s, const char *id, struct mc_seg_info *out)
{
	struct mc_seg *g;

	pthread_rwlock_rdlock(&s->seg_lock);
	g = seg_find_locked(s, id);
	if (g)
		seg_info_locked(s, g, out);
	pthread_rwlock_unlock(&s->seg_lock);
	return g ? 0 : -ENOENT;
}

void seg_remote_req(const struct mc_seg_info *si, const struct mc_owner *owner,
		    struct mc_remote_req *q)
{
	*q = (struct mc_remote_req){
		.id = si->id,
		.name = si->name,
		.base = si->base,
		.size = si->size,
		.endpoint = si->endpoint,
		.protocol = si->protocol,
		.owner = *owner,
		.origin = si->kind == MC_SEG_SHM ? MC_SEG_SHM : MC_SEG_ALLOC,
		.location = si->location,
		.shm_name = si->shm_name,
		.shm_offset = si->shm_offset,
	};
}

/* A snapshot of every listed segment (the callbacks run without locks). */
static size_t seg_snapshot(struct mc_store *s, struct mc_seg_info **out)
{
	size_t n;

	pthread_rwlock_rdlock(&s->seg_lock);
	n = s->nsegs;
	*out = calloc(n ? n : 1, sizeof(**out));
	if (!*out)
		n = 0;
	for (size_t i = 0; i < n; i++)
		seg_info_locked(s, s->segs[i], &(*out)[i]);
	pthread_rwlock_unlock(&s->seg_lock);
	return n;
}

int mc_segment_foreach(struct mc_store *s,
		       int (*cb)(const struct mc_seg_info *, void *), void *arg)
{
	if (s->link)
		return fac_segment_foreach(s, cb, arg);
	return seg_foreach_local(s, cb, arg);
}

int seg_foreach_local(struct mc_store *s,
		      int (*cb)(const struct mc_seg_info *, void *), void *arg)
{
	struct mc_seg_info *v;
	size_t n = seg_snapshot(s, &v);
	int rc = 0;

	for (size_t i = 0; i < n && !rc; i++)
		rc = cb(&v[i], arg);
	free(v);
	return rc;
}

/* A segment's name and figures, as mc_segment_name_foreach sums them. */
struct name_use {
	const char *name;
	uint64_t used, size;
};

static int name_use_cmp(const void *a, const void *b)
{
	const struct name_use *x = a, *y = b;

	return strcmp(x->name, y->name);
}

/*
 * The names and figures of every listed segment, in one allocation (the
 * names copied behind the array), for a caller that needs no more: every
 * /metrics scrape collects them, and a whole struct mc_seg_info per
 * segment (seg_snapshot) is mostly text formatted for nothing. NULL when
 * there is none, or no memory.
 */
static struct name_use *name_snapshot(struct mc_store *s, size_t *out_n)
{
	struct name_use *v = NULL;
	size_t n, bytes = 0;
	char *p;

	pthread_rwlock_rdlock(&s->seg_lock);
	n = s->nsegs;
	for (size_t i = 0; i < n; i++)
		bytes += strlen(s->segs[i]->name) + 1;
	if (n)
		v = malloc(n * sizeof(*v) + bytes);
	if (!v) {
		pthread_rwlock_unlock(&s->seg_lock);
		*out_n = 0;
		return NULL;
	}
	p = (char *)(v + n);
	for (size_t i = 0; i < n; i++) {
		struct mc_seg *g = s->segs[i];
		size_t len = strlen(g->name) + 1;

		v[i].name = memcpy(p, g->name, len);
		p += len;
		v[i].used = seg_used(g);
		v[i].size = g->size;
	}
	pthread_rwlock_unlock(&s->seg_lock);
	*out_n = n;
	return v;
}

int mc_segment_name_foreach(struct mc_store *s,
			    int (*cb)(const char *name, uint64_t used,
				      uint64_t capacity, void *),
			    void *arg)
{
	struct mc_seg_info *info = NULL;
	struct name_use *v;
	size_t n;
	int rc = 0;

	if (s->link) {
		rc = fac_segments(s, &info, &n);
		if (rc < 0)
			return rc;
		if (!info)
			return 0;
		v = malloc((n ? n : 1) * sizeof(*v));
		if (!v) {
			free(info);
			return 0;
		}
		for (size_t i = 0; i < n; i++)
			v[i] = (struct name_use){info[i].name, info[i].used,
						 info[i].size};
	} else {
		v = name_snapshot(s, &n);
	}
	if (!v)
		return 0;
	if (n > 1)
		qsort(v, n, sizeof(*v), name_use_cmp);
	for (size_t i = 0; i < n && !rc;) {
		uint64_t used = 0, cap = 0;
		size_t j = i;

		for (; j < n && !strcmp(v[j].name, v[i].name); j++) {
			used += v[j].used;
			cap += v[j].size;
		}
		rc = cb(v[i].name, used, cap, arg);
		i = j;
	}
	free(v);
	free(info);
	return rc;
}

int mc_segment_name_usage(struct mc_store *s, const char *name, uint64_t *used,
			  uint64_t *capacity)
{
	bool found = false;

	*used = *capacity = 0;
	if (s->link) {
		struct mc_seg_info *v;
		size_t n;
		int rc = fac_segments(s, &v, &n);

		for (size_t i = 0; rc == 0 && i < n; i++) {
			if (strcmp(v[i].name, name))
				continue;
			found = true;
			*capacity += v[i].size;
			*used += v[i].used;
		}
		if (rc == 0)
			free(v);
		return rc < 0 ? rc : found ? 0 : -ENOENT;
	}
	pthread_rwlock_rdlock(&s->seg_lock);
	for (size_t i = 0; i < s->nsegs; i++) {
		struct mc_seg *g = s->segs[i];

		if (strcmp(g->name, name))
			continue;
		found = true;
		*capacity += g->size;
		*used += seg_used(g);
	}
	pthread_rwlock_unlock(&s->seg_lock);
	return found ? 0 : -ENOENT;
}
