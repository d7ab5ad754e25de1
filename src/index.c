/*
 * index.c - the object index: keys and the key rule, the sharded hash
 * table of published versions, gets, removal and iteration.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "ebr.h"
#include "log.h"
#include "store_int.h"
#include "vmem.h"

static uint64_t hash_seed;

void obj_hash_seed_init(void)
{
	/* Seeded once per process: keys chosen to collide cannot be. */
	if (!hash_seed &&
	    getrandom(&hash_seed, sizeof(hash_seed), 0) != sizeof(hash_seed))
		hash_seed = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull;
}

/* ------------------------------------------------------------------ keys */

uint64_t key_hash(const void *key, size_t n)
{
	const unsigned char *p = key;
	uint64_t h = hash_seed ^ (n * 0x9e3779b97f4a7c15ull), v;

	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&v, p, 8);
		h = (h ^ v) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	v = 0;
	memcpy(&v, p, n);
	h = (h ^ v) * 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 29;
	h *= 0xff51afd7ed558ccdull;
	return h ^ (h >> 32);
}

/* A key in a message: at most its first 64 bytes, "'%.*s'" style. */

enum mc_key_fault mc_key_check(const void *key, size_t klen)
{
	if (!key || klen == 0)
		return MC_KEY_EMPTY;
	if (klen > MC_KEY_MAX)
		return MC_KEY_TOO_LONG;
	if (memchr(key, 0, klen))
		return MC_KEY_HAS_NUL;
	return MC_KEY_OK;
}

int obj_key_check(const void *key, size_t klen, struct mc_err *err)
{
	switch (mc_key_check(key, klen)) {
	case MC_KEY_OK:
		return 0;
	case MC_KEY_HAS_NUL:
		return mc_err_set(err, -EINVAL, MC_INVALID_KEY,
				  "key holds a NUL byte");
	default:
		return mc_err_set(err, -EINVAL, MC_INVALID_KEY,
				  "key must be 1 to %d bytes", MC_KEY_MAX);
	}
}

static inline struct mc_shard *shard_of(struct mc_store *s, uint64_t h)
{
	return &s->shards[h >> 56];
}

/* The link that points at @key's object in the chain that starts at
 * bucket @pp, or at the chain's end. */
static obj_link *chain_walk(obj_link *pp, const void *key, size_t klen)
{
	struct mc_obj *o;

	for (; (o = link_get(pp)); pp = &o->next)
		if (o->klen == klen && !memcmp(obj_key(o), key, klen))
			break;
	return pp;
}

/* chain_walk from @h's bucket of @t; under the shard's lock, or inside a
 * read section (then checked by seq). */
static obj_link *chain_find(struct mc_tab *t, uint64_t h, const void *key,
			    size_t klen)
{
	return chain_walk(&t->b[h & t->mask], key, klen);
}

/*
 * @h's bucket as a lock-free reader finds it (inside a read section):
 * the mask and the array from the shard's first line (store_int.h), not
 * the mask from the array's header, a dependent miss of its own.
 */
static obj_link *bucket_of(struct mc_shard *sh, uint64_t h)
{
	uint32_t mask = atomic_load_explicit(&sh->mask, memory_order_acquire);
	struct mc_tab *t = atomic_load_explicit(&sh->tab, memory_order_acquire);

	return &t->b[h & mask];
}

struct mc_tab *tab_new(uint32_t n)
{
	struct mc_tab *t = malloc(sizeof(*t) + n * sizeof(t->b[0]));

	if (!t)
		return NULL;
	t->mask = n - 1;
	for (uint32_t i = 0; i < n; i++)
		atomic_init(&t->b[i], NULL);
	return t;
}

void shard_lock(struct mc_shard *sh)
{
	pthread_rwlock_wrlock(&sh->lock);
	atomic_store_explicit(
		&sh->seq,
		atomic_load_explicit(&sh->seq, memory_order_relaxed) + 1,
		memory_order_relaxed);
	/* The odd count before any link changes (a seqlock's write side). */
	atomic_thread_fence(memory_order_release);
}

void shard_unlock(struct mc_shard *sh)
{
	atomic_store_explicit(
		&sh->seq,
		atomic_load_explicit(&sh->seq, memory_order_relaxed) + 1,
		memory_order_release);
	pthread_rwlock_unlock(&sh->lock);
}

/* Doubles the buckets (write-locked). Relinking moves objects between
 * chains under a reader's feet: the odd count sends those readers round
 * again, and the old array is retired, not freed. */
static void shard_grow(struct mc_shard *sh)
{
	struct mc_tab *old = shard_tab(sh);
	uint32_t nb = (old->mask + 1) * 2;
	struct mc_tab *t = tab_new(nb);

	if (!t)
		return; /* longer chains, still correct */
	for (uint32_t i = 0; i <= old->mask; i++) {
		struct mc_obj *o = link_get(&old->b[i]), *next;

		for (; o; o = next) {
			/* the hash again: objects do not keep it (store_int.h)
			 */
			obj_link *b =
				&t->b[key_hash(obj_key(o), o->klen) & t->mask];

			next = obj_next(o);
			atomic_store_explicit(&o->next, link_get(b),
					      memory_order_relaxed);
			link_set(b, o);
		}
	}
	atomic_store_explicit(&sh->tab, t, memory_order_release);
	/* after the array: see struct mc_shard */
	atomic_store_explicit(&sh->mask, t->mask, memory_order_release);
	ebr_retire(old);
}

/* --------------------------------------------------------------- objects */

static size_t obj_bytes(unsigned nrep, size_t klen)
{
	return sizeof(struct mc_obj) + nrep * sizeof(struct mc_blk *) + klen;
}

static void obj_free(void *p)
{
	struct mc_obj *o = p;

	vmem_put(o, obj_bytes(o->nrep, o->klen));
}

void obj_unref(struct mc_obj *o)
{
	if (atomic_fetch_sub(&o->ref, 1) != 1)
		return;
	for (unsigned i = 0; i < o->nrep; i++)
		blk_unref(o->rep[i]);
	/* A reader that found it before its unlink may still read it. */
	ebr_retire_fn(o, obj_free);
}

/* A reference on @o unless it is already on its way out (ref 0). */
static bool obj_ref_get(struct mc_obj *o)
{
	uint32_t r = atomic_load_explicit(&o->ref, memory_order_relaxed);

	while (r && !atomic_compare_exchange_weak_explicit(
			    &o->ref, &r, r + 1, memory_order_relaxed,
			    memory_order_relaxed))
		;
	return r != 0;
}

/* Drops a chain (linked by next) of versions unlinked from the index. */
void objs_unref(struct mc_obj *gone)
{
	while (gone) {
		struct mc_obj *next = obj_next(gone);

		obj_unref(gone);
		gone = next;
	}
}

bool obj_leased(const struct mc_obj *o, uint64_t now)
{
	return obj_lease_left(o, now) > 0;
}

uint64_t obj_lease_left(const struct mc_obj *o, uint64_t now)
{
	uint64_t left = 0;

	for (unsigned i = 0; i < o->nrep; i++) {
		uint64_t until = atomic_load_explicit(&o->rep[i]->u.lease_until,
						      memory_order_relaxed);

		if (until > now && until - now > left)
			left = until - now;
	}
	return left;
}

struct mc_obj *obj_new(const void *key, size_t klen, uint64_t size,
		       unsigned nrep)
{
	struct mc_obj *o = vmem_get(obj_bytes(nrep, klen));

	if (!o)
		return NULL;
	atomic_init(&o->next, NULL);
	o->size = size;
	o->version = 0;
	o->data = NULL;
	o->klen = klen & 0x1fff;
	o->nrep = nrep & 0xf;
	o->flags = 0;
	atomic_init(&o->ref, 1);
	atomic_init(&o->atime, 0);
	memcpy((char *)&o->rep[nrep], key, klen);
	return o;
}

void obj_order(struct mc_obj *o)
{
	struct mc_blk *far[MC_REPLICA_MAX];
	unsigned near = 0, nfar = 0;

	for (unsigned i = 0; i < o->nrep; i++) {
		if (blk_local(o->rep[i]))
			o->rep[near++] = o->rep[i];
		else
			far[nfar++] = o->rep[i];
	}
	memcpy(&o->rep[near], far, nfar * sizeof(far[0]));
	if (near) {
		o->flags &= (uint8_t)~OBJ_REMOTE_ONLY;
		o->data = blk_ptr(o->rep[0]);
	} else {
		o->flags |= OBJ_REMOTE_ONLY;
		o->data = NULL;
	}
}

#define OPTIMISTIC_TRIES 2

/*
 * Takes a reference on the published version of @key, or NULL. No lock
 * and no shared line written: the walk runs in a read section (ebr.h) and
 * counts only when the shard's sequence count was even and unchanged
 * around it; a version found in a walk that raced with a writer is let go
 * and the walk done again. After OPTIMISTIC_TRIES such races (a writer
 * preempted mid-change, or a shard under a stream of puts) the walk takes
 * the shard's lock for reading rather than spin.
 */
struct mc_obj *obj_lookup(struct mc_store *s, const void *key, size_t klen,
			  bool touch)
{
	uint64_t h = key_hash(key, klen);
	struct mc_shard *sh = shard_of(s, h);
	struct mc_obj *o = NULL;
	bool got = false;

	ebr_enter();
	for (unsigned try = 0; try < OPTIMISTIC_TRIES; try++) {
		uint32_t seq =
			atomic_load_explicit(&sh->seq, memory_order_acquire);

		if (seq & 1)
			continue;
		o = link_get(chain_walk(bucket_of(sh, h), key, klen));
		got = o && obj_ref_get(o);
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&sh->seq, memory_order_relaxed) == seq)
			goto found;
		if (got)
			obj_unref(o);
		got = false;
	}
	pthread_rwlock_rdlock(&sh->lock);
	o = link_get(chain_find(shard_tab(sh), h, key, klen));
	got = o && obj_ref_get(o);
	pthread_rwlock_unlock(&sh->lock);
found:
	/* Listed with an unchanged count means the index's reference was
	 * there: a version at ref 0 was already unlinked. */
	if (!got)
		o = NULL;
	if (o && touch) {
		/*
		 * Reads stamp the clock without moving it (puts move it), so
		 * a get writes no line that other threads share; a stamp
		 * already current is not written again.
		 */
		uint32_t clk =
			atomic_load_explicit(&s->clock, memory_order_relaxed);

		if (atomic_load_explicit(&o->atime, memory_order_relaxed) !=
		    clk)
			atomic_store_explicit(&o->atime, clk,
					      memory_order_relaxed);
	}
	ebr_exit();
	return o;
}

/*
 * A put's hints (put.c mc_put): where its publish will look, fetched
 * while the put allocates and copies its value, so that the publish's
 * two cache misses (the bucket, then the version in it) overlap that
 * work instead of following it. Stage 0 fetches the bucket, stage 1
 * the version the bucket points to. No lock: the bucket array is read
 * inside a read section (it may be retired by a growth), and a version
 * is only prefetched, never read.
 */
void obj_prefetch(struct mc_store *s, uint64_t h, int stage, const void *key,
		  size_t klen)
{
	struct mc_shard *sh = shard_of(s, h);
	obj_link *b;
	struct mc_obj *o;

	ebr_enter();
	b = bucket_of(sh, h);
	if (stage == 0) {
		__builtin_prefetch(b, 1);
	} else if (stage == 1) {
		__builtin_prefetch(
			atomic_load_explicit(b, memory_order_relaxed), 1);
	} else {
		/*
		 * The blocks the publish will free: by now the version is
		 * in cache (stage 1 came before the copy), so this walk
		 * costs no miss, and the blocks' arrive while the put is
		 * sealed. A racing writer may change the chain under the
		 * walk: the read section keeps every version readable, and
		 * a wrong block fetched is only a wasted fetch.
		 */
		o = link_get(chain_walk(b, key, klen));
		for (unsigned i = 0; o && i < o->nrep; i++)
			__builtin_prefetch(o->rep[i], 1);
	}
	ebr_exit();
}

/* Publishes @o (holding the blocks' references), replacing any version. */
int obj_publish(struct mc_store *s, struct mc_obj *o,
		const struct put_order *ord, struct mc_obj **oldp)
{
	const char *key = obj_key(o);
	uint64_t h = key_hash(key, o->klen);
	struct mc_shard *sh = shard_of(s, h);
	obj_link *pp;
	struct mc_obj *old;
	/* Once the lock drops, a racing replace may free @o. */
	double size = (double)o->size;

	*oldp = NULL;
	atomic_store_explicit(&o->atime, store_clock_tick(s),
			      memory_order_relaxed);
	for (unsigned i = 0; i < o->nrep; i++)
		blk_set_state(o->rep[i], BLK_LIVE, o->size);
	shard_lock(sh);
	/*
	 * An unmount marks the segment gone, then takes every shard's lock
	 * in turn to drop what lives there (unmount.c drop_segment): a
	 * version linked before it comes to this shard is dropped with the
	 * rest, and one that comes after sees the mark here.
	 */
	for (unsigned i = 0; i < o->nrep; i++)
		if (atomic_load(&blk_seg(o->rep[i])->state) == SEG_GONE) {
			shard_unlock(sh);
			return -ENOENT;
		}
	pp = chain_find(shard_tab(sh), h, key, o->klen);
	old = link_get(pp);
	if (ord) {
		int rc = order_publish(s, sh, h, old, o, ord);

		if (rc != PUB_DONE) {
			shard_unlock(sh);
			return rc;
		}
	}
	if (old)
		/* obj_unref(old) below frees them: start the fetch now */
		for (unsigned i = 0; i < old->nrep; i++)
			__builtin_prefetch(old->rep[i], 1);
	atomic_store_explicit(&o->next, old ? obj_next(old) : NULL,
			      memory_order_relaxed);
	link_set(pp, o); /* @o complete: readers may follow it from here */
	if (!old) {
		/*
		 * Up to 1.5 versions a bucket before doubling: 5-11 bytes of
		 * buckets a key (7 at 10^7 keys) for a chain of 1.4-1.75
		 * versions walked by a hit, where a limit of one per bucket
		 * costs up to 16 bytes a key, the most of a version's memory
		 * after itself and its block.
		 */
		uint32_t nb = shard_tab(sh)->mask + 1;

		if (++sh->count > nb + nb / 2)
			shard_grow(sh);
		atomic_fetch_add(&s->nkeys, 1);
		atomic_fetch_add(&s->keys_gen, 1);
	}
	shard_unlock(sh);
	mc_series_observe(s->c.value_size, size);
	*oldp = old;
	return 0;
}

/* Unlinks *pp (shard locked for writing). */
struct mc_obj *obj_unlink(struct mc_store *s, struct mc_shard *sh, obj_link *pp)
{
	struct mc_obj *o = link_get(pp);

	link_set(pp, obj_next(o));
	atomic_store_explicit(&o->next, NULL, memory_order_relaxed);
	sh->count--;
	atomic_fetch_sub(&s->nkeys, 1);
	atomic_fetch_add(&s->keys_gen, 1);
	return o;
}

/* ------------------------------------------------------------------ gets */

/*
 * Three adds a hit, two a miss: total_get_nums_ always moves with the
 * requests (and a batch's items) and mem_cache_hit_nums_ with
 * valid_get_nums_, so the collector sets those two at render time
 * (store_metrics.c) instead of every get paying two more locked adds.
 */
void obj_count_get(struct mc_store *s, const struct mc_obj *o)
{
	mc_series_add(s->c.get, 1);
	if (!o) {
		mc_series_add(s->c.get_fail, 1);
		return;
	}
	obj_count_hit(s, o);
}

/*
 * A value found; a batch's item (MC_F_BATCH) counts only this, as its
 * batch counts the item (mc_batch_count), as upstream's
 * BatchGetReplicaList counts each key's get and hit.
 */
void obj_count_hit(struct mc_store *s, const struct mc_obj *o)
{
	mc_series_add(s->c.valid_get, 1);
	mc_series_add(s->c.hit_bytes, o->size);
}

/*
 * A value held only in REMOTE segments is read through the data hooks
 * into a private copy. Its reference is the copy, told apart from a
 * plain object reference by bit 0 of the pointer (objects are 8-byte
 * aligned, so their bit 0 is clear): the local path stays a cast.
 */
struct ref_copy {
	struct mc_obj *o; /* keeps the blocks allocated while the copy lives */
	uint64_t size;	  /* the value's */
	char data[];
};
#define REF_COPY ((uintptr_t)1)
/*
 * An owner store's get of a replica in its own memory (link.c): the
 * reference is the record's block, bit 1 set (blocks are 8-aligned).
 */
#define REF_BLK ((uintptr_t)2)

static struct ref_copy *ref_as_copy(const struct mc_ref *r)
{
	uintptr_t v = (uintptr_t)r;

	return v & REF_COPY ? (struct ref_copy *)(v & ~REF_COPY) : NULL;
}

static struct mc_blk *ref_as_blk(const struct mc_ref *r)
{
	uintptr_t v = (uintptr_t)r;

	return v & REF_BLK ? (struct mc_blk *)(v & ~REF_BLK) : NULL;
}

struct mc_ref *ref_of_blk(struct mc_blk *b)
{
	return (struct mc_ref *)((uintptr_t)b | REF_BLK);
}

struct mc_ref *ref_of_copy(void *data)
{
	struct ref_copy *c =
		(struct ref_copy *)((char *)data -
				    offsetof(struct ref_copy, data));

	return (struct mc_ref *)((uintptr_t)c | REF_COPY);
}

void *ref_copy_new(uint64_t size)
{
	struct ref_copy *c = malloc(sizeof(*c) + (size ? size : 1));

	if (!c)
		return NULL;
	c->o = NULL;
	c->size = size;
	return c->data;
}

void ref_copy_free(void *data)
{
	if (data)
		free((char *)data - offsetof(struct ref_copy, data));
}

/*
 * Reads @len bytes at @off of @o's value from one of its replicas, each
 * tried in turn: 0, or -EREMOTEIO when none could be read. Our reference
 * on @o keeps its blocks allocated, so the ranges are not handed to
 * another put meanwhile; a segment unmounted during the read may have
 * been reused by its owner, so such a read does not count.
 */
static int obj_read_remote(struct mc_store *s, struct mc_obj *o, uint64_t off,
			   void *buf, uint64_t len)
{
	const struct mc_data_ops *ops = s->o.data_ops;

	for (unsigned i = 0; ops && ops->read && i < o->nrep; i++) {
		struct mc_seg *g = blk_seg(o->rep[i]);
		struct mc_desc d;
		int rc;

		if (atomic_load(&g->state) == SEG_GONE)
			continue;
		blk_desc(o->rep[i], o->size, &d);
		rc = ops->read(s->o.data_arg, &d, off, buf, len);
		if (rc == 0 && atomic_load(&g->state) != SEG_GONE)
			return 0;
		mc_debug("get: replica of '%.*s' in segment '%s' at %s not "
			 "read: %s",
			 KEY_ARG(obj_key(o), o->klen), d.seg_id, d.endpoint,
			 rc ? strerror(-rc) : "the segment went meanwhile");
	}
	return -EREMOTEIO;
}

/* mc_get of a REMOTE-only value: takes over the reference on @o. */
static int get_remote(struct mc_store *s, struct mc_obj *o, struct mc_ref **out)
{
	struct ref_copy *c = malloc(sizeof(*c) + o->size);
	int rc;

	if (!c) {
		obj_unref(o);
		return -ENOMEM;
	}
	c->o = o;
	c->size = o->size;
	rc = obj_read_remote(s, o, 0, c->data, o->size);
	if (rc < 0) {
		mc_info("get: '%.*s' is held only in other processes' "
			"memory, and no replica could be read",
			KEY_ARG(obj_key(o), o->klen));
		obj_unref(o);
		free(c);
		return rc;
	}
	*out = (struct mc_ref *)((uintptr_t)c | REF_COPY);
	return 0;
}

int mc_get(struct mc_store *s, const void *key, size_t klen,
	   struct mc_ref **out)
{
	struct mc_obj *o;

	if (s->link)
		return fac_get(s, key, klen, out);
	if (obj_key_check(key, klen, NULL) < 0) {
		obj_count_get(s, NULL);
		return -EINVAL;
	}
	o = obj_lookup(s, key, klen, true);
	/* the caller reads the value next: its first line comes meanwhile */
	if (o && o->data)
		__builtin_prefetch(o->data);
	obj_count_get(s, o);
	if (!o) {
		mc_debug("get: '%.*s' not found", KEY_ARG(key, klen));
		return -ENOENT;
	}
	mc_debug("get: '%.*s' (%llu bytes)", KEY_ARG(key, klen),
		 (unsigned long long)o->size);
	if (o->flags & OBJ_REMOTE_ONLY)
		return get_remote(s, o, out);
	*out = (struct mc_ref *)o;
	return 0;
}

int mc_get_pipe(struct mc_store *s, const void *key, size_t klen,
		const int pfd[2], uint64_t room, struct mc_ref **out,
		uint64_t *size)
{
	*size = 0;
	if (!mc_store_pipes(s))
		return mc_get(s, key, klen, out);
	return fac_get_pipe(s, key, klen, pfd, room, out, size);
}

const void *mc_ref_data(const struct mc_ref *r)
{
	const struct ref_copy *c = ref_as_copy(r);
	const struct mc_blk *b = ref_as_blk(r);
	const struct mc_obj *o = (const struct mc_obj *)r;

	if (c)
		return c->data;
	if (b)
		return blk_ptr(b);
	return o->data; /* local: rep[0]'s, set by obj_order */
}

uint64_t mc_ref_size(const struct mc_ref *r)
{
	const struct ref_copy *c = ref_as_copy(r);
	const struct mc_blk *b = ref_as_blk(r);

	if (b)
		return blk_value_size(b);
	return c ? c->size : ((const struct mc_obj *)r)->size;
}

void mc_ref_release(struct mc_ref *r)
{
	struct ref_copy *c = ref_as_copy(r);
	struct mc_blk *b = ref_as_blk(r);

	if (c) {
		if (c->o)
			obj_unref(c->o);
		free(c);
	} else if (b) {
		blk_unref(b);
	} else if (r) {
		obj_unref((struct mc_obj *)r);
	}
}

int64_t mc_get_copy(struct mc_store *s, const void *key, size_t klen,
		    uint64_t off, void *buf, uint64_t cap)
{
	struct mc_obj *o;
	uint64_t n = 0;
	int rc = 0;

	if (s->link)
		return fac_get_copy(s, key, klen, off, buf, cap);
	if (obj_key_check(key, klen, NULL) < 0) {
		obj_count_get(s, NULL);
		return -EINVAL;
	}
	o = obj_lookup(s, key, klen, true);
	obj_count_get(s, o);
	if (!o)
		return -ENOENT;
	if (off < o->size) {
		n = o->size - off;
		if (n > cap)
			n = cap;
		if (!(o->flags & OBJ_REMOTE_ONLY))
			memcpy(buf, o->data + off, n);
		else if (n)
			rc = obj_read_remote(s, o, off, buf, n);
	}
	obj_unref(o);
	return rc < 0 ? rc : (int64_t)n;
}

int mc_stat(struct mc_store *s, const void *key, size_t klen, uint64_t *size)
{
	struct mc_obj *o;

	if (s->link)
		return fac_stat(s, key, klen, size);
	if (obj_key_check(key, klen, NULL) < 0)
		return -EINVAL;
	o = obj_lookup(s, key, klen, false);
	if (!o)
		return -ENOENT;
	*size = o->size;
	obj_unref(o);
	return 0;
}

int mc_exist_ex(struct mc_store *s, const void *key, size_t klen,
		unsigned flags)
{
	bool count = !(flags & MC_F_BATCH);
	struct mc_obj *o;

	if (s->link)
		return fac_exist(s, key, klen, flags);
	if (count)
		mc_series_add(s->c.exist, 1);
	if (obj_key_check(key, klen, NULL) < 0) {
		if (count)
			mc_series_add(s->c.exist_fail, 1);
		return -EINVAL;
	}
	o = obj_lookup(s, key, klen, false);
	if (!o)
		return 0;
	if (flags & MC_F_LEASE)
		lease_obj(s, o, store_now(s));
	obj_unref(o);
	return 1;
}

int mc_exist(struct mc_store *s, const void *key, size_t klen)
{
	int rc = mc_exist_ex(s, key, klen, 0);

	/* a bad key does not exist; no leader is no answer at all */
	return rc == -EAGAIN ? rc : rc < 0 ? 0 : rc;
}

/* --------------------------------------------------------------- removal */

int mc_remove(struct mc_store *s, const void *key, size_t klen, bool force,
	      struct mc_err *err)
{
	uint64_t h;
	struct mc_shard *sh;
	obj_link *pp;
	struct mc_obj *o = NULL;
	uint64_t left;
	int rc;

	if (s->link)
		return fac_remove(s, key, klen, force, err);
	mc_series_add(s->c.remove, 1);
	rc = obj_key_check(key, klen, err);
	if (rc < 0)
		goto fail;
	h = key_hash(key, klen);
	sh = shard_of(s, h);
	shard_lock(sh);
	pp = chain_find(shard_tab(sh), h, key, klen);
	if (!link_get(pp)) {
		rc = mc_err_set(err, -ENOENT, MC_OBJECT_NOT_FOUND,
				"key '%.*s' not found", KEY_ARG(key, klen));
	} else if (!force &&
		   (left = obj_lease_left(link_get(pp), store_now(s)))) {
		/*
		 * Say for how long, so that a person knows to wait; each
		 * door adds how to force it, if it can.
		 */
		rc = mc_err_set(err, -EBUSY, MC_OBJECT_HAS_LEASE,
				"key '%.*s' has a read lease for %llu.%llu s "
				"more (a reader asked for its replicas)",
				KEY_ARG(key, klen),
				(unsigned long long)((left + 99) / 100 / 10),
				(unsigned long long)((left + 99) / 100 % 10));
	} else {
		o = obj_unlink(s, sh, pp);
		order_note_remove(s, sh, h, o->version);
	}
	shard_unlock(sh);
	if (!o)
		goto fail;
	mc_debug("remove: '%.*s'%s", KEY_ARG(key, klen),
		 force ? " (forced)" : "");
	rc = obj_retire(s, o, false, err);
	obj_unref(o);
	return rc;
fail:
	mc_series_add(s->c.remove_fail, 1);
	return rc;
}

int64_t mc_remove_all(struct mc_store *s, bool force)
{
	uint64_t now = store_now(s);
	int64_t n = 0;
	/* retired in batches (RETIRE_BATCH), not once per shard */
	struct mc_obj *gone = NULL;
	size_t bytes = 0;
	int rc = 0;

	if (s->link)
		return fac_remove_all(s, force);
	mc_series_add(s->c.remove_all, 1);
	for (unsigned i = 0; i < MC_NSHARDS; i++) {
		struct mc_shard *sh = &s->shards[i];
		struct mc_tab *t;

		shard_lock(sh);
		order_note_remove_all(s, sh);
		t = shard_tab(sh);
		for (uint32_t b = 0; b <= t->mask; b++) {
			obj_link *pp = &t->b[b];
			struct mc_obj *o;

			while ((o = link_get(pp))) {
				if (!force && obj_leased(o, now)) {
					pp = &o->next;
					continue;
				}
				obj_unlink(s, sh, pp);
				atomic_store_explicit(&o->next, gone,
						      memory_order_relaxed);
				gone = o;
				bytes += o->klen + 32;
				n++;
			}
		}
		shard_unlock(sh);
		if (gone && (bytes >= RETIRE_BATCH || i + 1 == MC_NSHARDS)) {
			if (obj_retire(s, gone, true, NULL) < 0)
				rc = -ECONNABORTED;
			objs_unref(gone);
			gone = NULL;
			bytes = 0;
		}
	}
	return rc < 0 ? rc : n;
}

/*
 * A segment's unmount completed: objects lose their replicas in it (a
 * new version without them replaces the old one, so readers of the old
 * version keep valid bytes); objects left with none are removed; leases
 * and open puts on its buffers end.
 */
/* ------------------------------------------------------------- iteration */

struct key_snap {
	char *buf;
	size_t len, cap;
	size_t n;
};

struct snap_ent {
	uint64_t size;
	uint32_t klen;
};

static inline void snap_add(struct key_snap *k, const struct mc_obj *o)
{
	size_t need = (sizeof(struct snap_ent) + o->klen + 8) & ~(size_t)7;

	if (__builtin_expect(k->len + need > k->cap, 0)) {
		size_t cap = k->cap ? k->cap * 2 : 65536;
		char *nb;

		while (cap < k->len + need)
			cap *= 2;
		nb = realloc(k->buf, cap);
		if (!nb)
			mc_oom();
		k->buf = nb;
		k->cap = cap;
	}
	struct snap_ent e = {.size = o->size, .klen = o->klen};

	memcpy(k->buf + k->len, &e, sizeof(e));
	memcpy(k->buf + k->len + sizeof(e), obj_key(o), o->klen);
	/* Keys hold no NUL: terminate them for callers that want strings. */
	k->buf[k->len + sizeof(e) + o->klen] = '\0';
	k->len += need;
	k->n++;
}

/*
 * Walks copy keys out a few buckets at a time (WALK_BATCH keys or more,
 * ending at a bucket's end), so the callbacks run without the shard's
 * lock, memory stays bounded, and a walk that stops after a few keys
 * copies only those: a readdir of a store of 10^7 keys must not copy a
 * whole shard for every page of names.
 *
 * A shard's keys are walked in the order of their hash read backwards
 * (bit 0 first). A bucket holds the keys whose hash ends in its index,
 * so that order goes through the buckets in reverse-binary order of
 * their index (the order of redis's SCAN), and through a bucket's chain
 * sorted by the reversed hash. The order does not depend on how many
 * buckets the shard has: when it doubles, bucket i splits into i and i +
 * the old count, and the keys of both halves keep their places. So the
 * cursor, the reversed hash of the next key, means the same before and
 * after any growth: a walk misses no key present throughout and sees
 * none twice, also when it stopped in the middle of a chain, and a key
 * removed meanwhile moves no other (a position in a chain would: the
 * cursor counted chain positions before, and repeated a cut chain's keys
 * once its shard doubled). Only two keys of one shard with equal 64-bit
 * hashes, and a stop between them, would show the first again.
 *
 * The cursor: the shard (8 bits), then the top 56 bits of the next key's
 * reversed hash (its low 8 are the shard's bits read backwards). 0 is
 * the start, UINT64_MAX the end.
 */
#define WALK_BATCH    256u
#define WALK_AHEAD    6u /* buckets: see batch_copy */
#define WALK_POS_BITS 56

struct walk_pos {
	unsigned shard;
	uint64_t p; /* the next key's reversed hash >> 8 */
};

static uint64_t cur_pack(const struct walk_pos *w)
{
	return (uint64_t)w->shard << WALK_POS_BITS | w->p;
}

static void cur_unpack(uint64_t c, struct walk_pos *w)
{
	w->shard = (unsigned)(c >> WALK_POS_BITS);
	w->p = c & ((1ull << WALK_POS_BITS) - 1);
}

static uint64_t rev64(uint64_t v)
{
	v = (v >> 1 & 0x5555555555555555ull) | (v & 0x5555555555555555ull) << 1;
	v = (v >> 2 & 0x3333333333333333ull) | (v & 0x3333333333333333ull) << 2;
	v = (v >> 4 & 0x0f0f0f0f0f0f0f0full) | (v & 0x0f0f0f0f0f0f0f0full) << 4;
	return __builtin_bswap64(v);
}

/* A key's place in its shard's walk order. */
static inline uint64_t walk_place(const struct mc_obj *o)
{
	return rev64(key_hash(obj_key(o), o->klen)) >> (64 - WALK_POS_BITS);
}

struct walk_ent {
	uint64_t p;
	const struct mc_obj *o;
};

static int walk_ent_cmp(const void *a, const void *b)
{
	const struct walk_ent *x = a, *y = b;

	return x->p < y->p ? -1 : x->p > y->p;
}

/* Scratch of a walk: one chain's keys with their places, sorted. */
struct walk_chain {
	struct walk_ent *e;
	size_t n, cap;
};

static void chain_push(struct walk_chain *c, uint64_t p, const struct mc_obj *o)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct walk_ent *n = realloc(c->e, cap * sizeof(*n));

		if (!n)
			mc_oom();
		c->e = n;
		c->cap = cap;
	}
	c->e[c->n++] = (struct walk_ent){.p = p, .o = o};
}

/* Collects the keys of chain @o placed at @from or after, sorted. */
static void chain_sorted(struct mc_obj *o, uint64_t from, struct walk_chain *c)
{
	c->n = 0;
	for (; o; o = obj_next(o)) {
		uint64_t p = walk_place(o);

		if (p >= from)
			chain_push(c, p, o);
	}
	if (c->n <= 8) {
		for (size_t i = 1; i < c->n; i++) {
			struct walk_ent x = c->e[i];
			size_t j = i;

			for (; j && c->e[j - 1].p > x.p; j--)
				c->e[j] = c->e[j - 1];
			c->e[j] = x;
		}
	} else {
		qsort(c->e, c->n, sizeof(*c->e), walk_ent_cmp);
	}
}

/*
 * Copies keys of @w's shard from its place on into @k (entries carry
 * their places in ent_pos), whole buckets until WALK_BATCH. Sets *end
 * when the shard has no more buckets. Moves @w to the bucket after the
 * batch.
 */
static void batch_copy(struct mc_shard *sh, struct walk_pos *w,
		       struct key_snap *k, uint64_t **ent_pos, size_t *ent_cap,
		       struct walk_chain *c, bool *end)
{
	struct mc_tab *t;
	unsigned lg, shift;

	k->len = k->n = 0;
	pthread_rwlock_rdlock(&sh->lock);
	t = shard_tab(sh);
	lg = (unsigned)__builtin_ctzll((uint64_t)t->mask + 1);
	shift = WALK_POS_BITS - lg; /* the bucket's bits of a place */
	*end = false;
	while (k->n < WALK_BATCH) {
		/* the bucket whose hashes end in the place's first lg bits */
		uint32_t b = (uint32_t)(rev64(w->p << (64 - WALK_POS_BITS)) &
					t->mask);
		struct mc_obj *o;
		uint64_t q;

		if (lg) {
			/*
			 * A walk is a cache miss a key (versions lie where
			 * vmem put them), and a bucket's slot another (the
			 * order strides through the table): the slots three
			 * steps of WALK_AHEAD ahead are fetched, the
			 * versions they point to two steps ahead, and the
			 * second version of a chain one step ahead, so that
			 * the misses overlap.
			 */
			uint64_t a = (w->p >> shift) + WALK_AHEAD;

			if (!(a >> lg)) {
				struct mc_obj *h = atomic_load_explicit(
					&t->b[rev64(a << (64 - lg))],
					memory_order_relaxed);

				if (h)
					__builtin_prefetch(obj_next(h));
			}
			a += WALK_AHEAD;
			if (!(a >> lg))
				__builtin_prefetch(atomic_load_explicit(
					&t->b[rev64(a << (64 - lg))],
					memory_order_relaxed));
			a += WALK_AHEAD;
			if (!(a >> lg))
				__builtin_prefetch(
					&t->b[rev64(a << (64 - lg))]);
		}
		o = link_get(&t->b[b]);
		if (o && !obj_next(o) && !(w->p & ((1ull << shift) - 1))) {
			/*
			 * A bucket of one key, from its start: that key's
			 * place is the bucket's first one, as far as a
			 * cursor goes (no other key of the bucket is before
			 * it), and needs no hash.
			 */
			c->n = 0;
			chain_push(c, w->p, o);
		} else {
			chain_sorted(o, w->p, c);
		}
		if (*ent_cap < k->n + c->n) {
			size_t cap = *ent_cap ? *ent_cap : 512;
			uint64_t *n;

			while (cap < k->n + c->n)
				cap *= 2;
			n = realloc(*ent_pos, cap * sizeof(*n));
			if (!n)
				mc_oom();
			*ent_pos = n;
			*ent_cap = cap;
		}
		for (size_t i = 0; i < c->n; i++) {
			(*ent_pos)[k->n] = c->e[i].p;
			snap_add(k, c->e[i].o);
		}
		/* the first place of the next bucket */
		q = lg ? (w->p >> shift) + 1 : 1;
		if (q >> lg) {
			*end = true;
			break;
		}
		w->p = q << shift;
	}
	pthread_rwlock_unlock(&sh->lock);
}

static int walk(struct mc_store *s, uint64_t *cursor,
		int (*cb)(const void *, size_t, uint64_t, void *),
		int (*cbc)(const void *, size_t, uint64_t, uint64_t, void *),
		void *arg)
{
	struct key_snap k = {0};
	struct walk_chain c = {0};
	struct walk_pos w;
	uint64_t *ent_pos = NULL;
	size_t ent_cap = 0;
	int rc = 0;

	if (*cursor == UINT64_MAX)
		return 0; /* the end, from an earlier call */
	cur_unpack(*cursor, &w);
	for (; w.shard < MC_NSHARDS && !rc;) {
		bool end;
		size_t off = 0;

		batch_copy(&s->shards[w.shard], &w, &k, &ent_pos, &ent_cap, &c,
			   &end);
		for (size_t i = 0; i < k.n; i++) {
			struct snap_ent e;
			struct walk_pos at = {.shard = w.shard,
					      .p = ent_pos[i]};

			memcpy(&e, k.buf + off, sizeof(e));
			if (cbc)
				rc = cbc(k.buf + off + sizeof(e), e.klen,
					 e.size, cur_pack(&at), arg);
			else
				rc = cb(k.buf + off + sizeof(e), e.klen, e.size,
					arg);
			if (rc) {
				/* resume with this key */
				*cursor = cur_pack(&at);
				break;
			}
			off += (sizeof(e) + e.klen + 8) & ~(size_t)7;
		}
		if (!rc && end) {
			w.shard++;
			w.p = 0;
		}
	}
	if (!rc)
		*cursor = UINT64_MAX;
	free(k.buf);
	free(ent_pos);
	free(c.e);
	return rc;
}

int mc_key_foreach(struct mc_store *s,
		   int (*cb)(const void *key, size_t klen, uint64_t size,
			     void *arg),
		   void *arg)
{
	uint64_t cursor = 0;

	if (s->link)
		return fac_key_walk(s, &cursor, cb, arg);
	return walk(s, &cursor, cb, NULL, arg);
}

int key_walk_cur(struct mc_store *s, uint64_t *cursor,
		 int (*cb)(const void *key, size_t klen, uint64_t size,
			   uint64_t at, void *arg),
		 void *arg)
{
	return walk(s, cursor, NULL, cb, arg) ? 1 : 0;
}

int mc_key_walk(struct mc_store *s, uint64_t *cursor,
		int (*cb)(const void *key, size_t klen, uint64_t size,
			  void *arg),
		void *arg)
{
	if (s->link) {
		int rc = fac_key_walk(s, cursor, cb, arg);

		return rc < 0 ? rc : rc ? 1 : 0;
	}
	return walk(s, cursor, cb, NULL, arg) ? 1 : 0;
}
