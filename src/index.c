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

#include "log.h"
#include "store_int.h"

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

/* The link that points at @key's object, or at the chain's end. */
static struct mc_obj **chain_find(struct mc_shard *sh, uint32_t h,
				  const void *key, size_t klen)
{
	struct mc_obj **pp = &sh->tab[h & sh->mask];

	for (; *pp; pp = &(*pp)->next) {
		struct mc_obj *o = *pp;

		if (o->hash == h && o->klen == klen &&
		    !memcmp(obj_key(o), key, klen))
			break;
	}
	return pp;
}

static void shard_grow(struct mc_shard *sh)
{
	uint32_t nb = (sh->mask + 1) * 2;
	struct mc_obj **t = calloc(nb, sizeof(*t));

	if (!t)
		return; /* longer chains, still correct */
	for (uint32_t i = 0; i <= sh->mask; i++) {
		struct mc_obj *o = sh->tab[i], *next;

		for (; o; o = next) {
			next = o->next;
			o->next = t[o->hash & (nb - 1)];
			t[o->hash & (nb - 1)] = o;
		}
	}
	free(sh->tab);
	sh->tab = t;
	sh->mask = nb - 1;
}

/* --------------------------------------------------------------- objects */

void obj_unref(struct mc_obj *o)
{
	if (atomic_fetch_sub(&o->ref, 1) != 1)
		return;
	for (unsigned i = 0; i < o->nrep; i++)
		blk_unref(o->rep[i]);
	free(o);
}

/* Drops a chain (linked by next) of versions unlinked from the index. */
void objs_unref(struct mc_obj *gone)
{
	while (gone) {
		struct mc_obj *next = gone->next;

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
	struct mc_obj *o = malloc(sizeof(*o) + nrep * sizeof(o->rep[0]) + klen);

	if (!o)
		return NULL;
	o->next = NULL;
	o->size = size;
	o->version = 0;
	o->klen = (uint16_t)klen;
	o->nrep = (uint8_t)nrep;
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
	if (near)
		o->flags &= (uint8_t)~OBJ_REMOTE_ONLY;
	else
		o->flags |= OBJ_REMOTE_ONLY;
}

/* Takes a reference on the published version of @key, or NULL. */
struct mc_obj *obj_lookup(struct mc_store *s, const void *key, size_t klen,
			  bool touch)
{
	uint64_t h = key_hash(key, klen);
	struct mc_shard *sh = shard_of(s, h);
	struct mc_obj *o;

	pthread_rwlock_rdlock(&sh->lock);
	o = *chain_find(sh, (uint32_t)h, key, klen);
	if (o) {
		atomic_fetch_add_explicit(&o->ref, 1, memory_order_relaxed);
		/*
		 * Reads stamp the clock without moving it (puts move it), so
		 * a get writes no line that other threads share; a stamp
		 * already current is not written again.
		 */
		uint32_t clk =
			atomic_load_explicit(&s->clock, memory_order_relaxed);

		if (touch && atomic_load_explicit(&o->atime,
						  memory_order_relaxed) != clk)
			atomic_store_explicit(&o->atime, clk,
					      memory_order_relaxed);
	}
	pthread_rwlock_unlock(&sh->lock);
	return o;
}

/* Publishes @o (holding the blocks' references), replacing any version. */
void obj_publish(struct mc_store *s, struct mc_obj *o)
{
	const char *key = obj_key(o);
	uint64_t h = key_hash(key, o->klen);
	struct mc_shard *sh = shard_of(s, h);
	struct mc_obj **pp, *old;
	/* Once the lock drops, a racing replace may free @o. */
	double size = (double)o->size;

	o->hash = (uint32_t)h;
	atomic_store_explicit(
		&o->atime,
		atomic_fetch_add_explicit(&s->clock, 1, memory_order_relaxed),
		memory_order_relaxed);
	for (unsigned i = 0; i < o->nrep; i++)
		blk_set_state(o->rep[i], BLK_LIVE, o->size);
	pthread_rwlock_wrlock(&sh->lock);
	pp = chain_find(sh, o->hash, key, o->klen);
	old = *pp;
	if (old) {
		o->next = old->next;
		*pp = o;
	} else {
		*pp = o;
		if (++sh->count > sh->mask + 1)
			shard_grow(sh);
		atomic_fetch_add(&s->nkeys, 1);
		atomic_fetch_add(&s->keys_gen, 1);
	}
	pthread_rwlock_unlock(&sh->lock);
	mc_series_observe(s->c.value_size, size);
	if (old)
		obj_unref(old);
}

/* Unlinks *pp (shard locked for writing). */
struct mc_obj *obj_unlink(struct mc_store *s, struct mc_shard *sh,
			  struct mc_obj **pp)
{
	struct mc_obj *o = *pp;

	*pp = o->next;
	o->next = NULL;
	sh->count--;
	atomic_fetch_sub(&s->nkeys, 1);
	atomic_fetch_add(&s->keys_gen, 1);
	return o;
}

/* ------------------------------------------------------------------ gets */

void obj_count_get(struct mc_store *s, const struct mc_obj *o)
{
	mc_series_add(s->c.get, 1);
	mc_series_add(s->c.total_get, 1);
	if (!o) {
		mc_series_add(s->c.get_fail, 1);
		return;
	}
	mc_series_add(s->c.valid_get, 1);
	mc_series_add(s->c.hit_nums, 1);
	mc_series_add(s->c.hit_bytes, o->size);
}

/*
 * A value held only in REMOTE segments is read through the data hooks
 * into a private copy. Its reference is the copy, told apart from a
 * plain object reference by bit 0 of the pointer (objects are malloc'd,
 * so their bit 0 is clear): the local path stays a cast.
 */
struct ref_copy {
	struct mc_obj *o; /* keeps the blocks allocated while the copy lives */
	char data[];
};
#define REF_COPY ((uintptr_t)1)

static struct ref_copy *ref_as_copy(const struct mc_ref *r)
{
	uintptr_t v = (uintptr_t)r;

	return v & REF_COPY ? (struct ref_copy *)(v & ~REF_COPY) : NULL;
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

	if (obj_key_check(key, klen, NULL) < 0) {
		obj_count_get(s, NULL);
		return -EINVAL;
	}
	o = obj_lookup(s, key, klen, true);
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

const void *mc_ref_data(const struct mc_ref *r)
{
	const struct ref_copy *c = ref_as_copy(r);
	const struct mc_obj *o = (const struct mc_obj *)r;

	if (c)
		return c->data;
	return blk_ptr(o->rep[0]); /* local: obj_order put it first */
}

uint64_t mc_ref_size(const struct mc_ref *r)
{
	const struct ref_copy *c = ref_as_copy(r);

	return c ? c->o->size : ((const struct mc_obj *)r)->size;
}

void mc_ref_release(struct mc_ref *r)
{
	struct ref_copy *c = ref_as_copy(r);

	if (c) {
		obj_unref(c->o);
		free(c);
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
			memcpy(buf, blk_ptr(o->rep[0]) + off, n);
		else if (n)
			rc = obj_read_remote(s, o, off, buf, n);
	}
	obj_unref(o);
	return rc < 0 ? rc : (int64_t)n;
}

int mc_stat(struct mc_store *s, const void *key, size_t klen, uint64_t *size)
{
	struct mc_obj *o;

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

	return rc < 0 ? 0 : rc;
}

/* --------------------------------------------------------------- removal */

int mc_remove(struct mc_store *s, const void *key, size_t klen, bool force,
	      struct mc_err *err)
{
	uint64_t h;
	struct mc_shard *sh;
	struct mc_obj **pp, *o = NULL;
	uint64_t left;
	int rc;

	mc_series_add(s->c.remove, 1);
	rc = obj_key_check(key, klen, err);
	if (rc < 0)
		goto fail;
	h = key_hash(key, klen);
	sh = shard_of(s, h);
	pthread_rwlock_wrlock(&sh->lock);
	pp = chain_find(sh, (uint32_t)h, key, klen);
	if (!*pp) {
		rc = mc_err_set(err, -ENOENT, MC_OBJECT_NOT_FOUND,
				"key '%.*s' not found", KEY_ARG(key, klen));
	} else if (!force && (left = obj_lease_left(*pp, store_now(s)))) {
		/*
		 * Say for how long, so that a person knows to wait; each
		 * door adds how to force it, if it can.
		 */
		rc = mc_err_set(err, -EBUSY, MC_OBJECT_HAS_LEASE,
				"key '%.*s' has a read lease for %llu.%llu s "
				"more (from /query_key)",
				KEY_ARG(key, klen),
				(unsigned long long)((left + 99) / 100 / 10),
				(unsigned long long)((left + 99) / 100 % 10));
	} else {
		o = obj_unlink(s, sh, pp);
	}
	pthread_rwlock_unlock(&sh->lock);
	if (!o)
		goto fail;
	mc_debug("remove: '%.*s'%s", KEY_ARG(key, klen),
		 force ? " (forced)" : "");
	obj_unref(o);
	return 0;
fail:
	mc_series_add(s->c.remove_fail, 1);
	return rc;
}

int64_t mc_remove_all(struct mc_store *s, bool force)
{
	uint64_t now = store_now(s);
	int64_t n = 0;

	mc_series_add(s->c.remove_all, 1);
	for (unsigned i = 0; i < MC_NSHARDS; i++) {
		struct mc_shard *sh = &s->shards[i];
		struct mc_obj *gone = NULL;

		pthread_rwlock_wrlock(&sh->lock);
		for (uint32_t b = 0; b <= sh->mask; b++) {
			struct mc_obj **pp = &sh->tab[b];

			while (*pp) {
				struct mc_obj *o = *pp;

				if (!force && obj_leased(o, now)) {
					pp = &o->next;
					continue;
				}
				obj_unlink(s, sh, pp);
				o->next = gone;
				gone = o;
				n++;
			}
		}
		pthread_rwlock_unlock(&sh->lock);
		objs_unref(gone);
	}
	return n;
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

static void snap_add(struct key_snap *k, const struct mc_obj *o)
{
	size_t need = (sizeof(struct snap_ent) + o->klen + 8) & ~(size_t)7;

	if (k->len + need > k->cap) {
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

/* Copies one shard's keys out, so callbacks run without the lock. */
static void shard_snapshot(struct mc_shard *sh, struct key_snap *k)
{
	k->len = k->n = 0;
	pthread_rwlock_rdlock(&sh->lock);
	for (uint32_t b = 0; b <= sh->mask; b++)
		for (struct mc_obj *o = sh->tab[b]; o; o = o->next)
			snap_add(k, o);
	pthread_rwlock_unlock(&sh->lock);
}

static int walk(struct mc_store *s, uint64_t *cursor,
		int (*cb)(const void *, size_t, uint64_t, void *), void *arg)
{
	struct key_snap k = {0};
	unsigned shard = (unsigned)(*cursor >> 32);
	size_t skip = (size_t)(*cursor & 0xffffffffu);
	int rc = 0;

	for (; shard < MC_NSHARDS && !rc; shard++, skip = 0) {
		size_t off = 0;

		shard_snapshot(&s->shards[shard], &k);
		for (size_t i = 0; i < k.n; i++) {
			struct snap_ent e;

			memcpy(&e, k.buf + off, sizeof(e));
			if (i >= skip && (rc = cb(k.buf + off + sizeof(e),
						  e.klen, e.size, arg))) {
				*cursor = (uint64_t)shard << 32 | i;
				break;
			}
			off += (sizeof(e) + e.klen + 8) & ~(size_t)7;
		}
	}
	if (!rc)
		*cursor = (uint64_t)MC_NSHARDS << 32;
	free(k.buf);
	return rc;
}

int mc_key_foreach(struct mc_store *s,
		   int (*cb)(const void *key, size_t klen, uint64_t size,
			     void *arg),
		   void *arg)
{
	uint64_t cursor = 0;

	return walk(s, &cursor, cb, arg);
}

int mc_key_walk(struct mc_store *s, uint64_t *cursor,
		int (*cb)(const void *key, size_t klen, uint64_t size,
			  void *arg),
		void *arg)
{
	return walk(s, cursor, cb, arg) ? 1 : 0;
}
