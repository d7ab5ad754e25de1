/*
 * store.c - objects: the sharded index, puts (one-shot and two-phase),
 * gets, leases, removal, eviction and the timers that drive them.
 */
#include "autoconfig.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "log.h"
#include "store_int.h"

static uint64_t hash_seed;

/* ---------------------------------------------------------------- clock */

uint64_t store_now(const struct mc_store *s)
{
	struct timespec ts;

	if (s->o.now_ms)
		return s->o.now_ms(s->o.clock_arg);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ keys */

/* A multiply-xorshift hash, seeded per process against collision floods. */
static uint64_t key_hash(const void *key, size_t n)
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
#define KEY_ARG(k, n) (int)((n) > 64 ? 64 : (n)), (const char *)(k)

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

static int key_check(const void *key, size_t klen, struct mc_err *err)
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
		return;   /* longer chains, still correct */
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

static void obj_unref(struct mc_obj *o)
{
	if (atomic_fetch_sub(&o->ref, 1) != 1)
		return;
	for (unsigned i = 0; i < o->nrep; i++)
		blk_unref(o->rep[i]);
	free(o);
}

/* Drops a chain (linked by next) of versions unlinked from the index. */
static void objs_unref(struct mc_obj *gone)
{
	while (gone) {
		struct mc_obj *next = gone->next;

		obj_unref(gone);
		gone = next;
	}
}

static bool obj_leased(const struct mc_obj *o, uint64_t now)
{
	for (unsigned i = 0; i < o->nrep; i++)
		if (atomic_load_explicit(&o->rep[i]->u.lease_until,
					 memory_order_relaxed) > now)
			return true;
	return false;
}

static struct mc_obj *obj_new(const void *key, size_t klen, uint64_t size,
			      unsigned nrep)
{
	struct mc_obj *o = malloc(sizeof(*o) + nrep * sizeof(o->rep[0]) + klen);

	if (!o)
		return NULL;
	o->next = NULL;
	o->size = size;
	o->klen = (uint16_t)klen;
	o->nrep = (uint8_t)nrep;
	o->flags = 0;
	atomic_init(&o->ref, 1);
	atomic_init(&o->atime, 0);
	memcpy((char *)&o->rep[nrep], key, klen);
	return o;
}

/* Takes a reference on the published version of @key, or NULL. */
static struct mc_obj *obj_lookup(struct mc_store *s, const void *key,
				 size_t klen, bool touch)
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
		uint32_t clk = atomic_load_explicit(&s->clock,
						    memory_order_relaxed);

		if (touch && atomic_load_explicit(&o->atime,
						  memory_order_relaxed) != clk)
			atomic_store_explicit(&o->atime, clk,
					      memory_order_relaxed);
	}
	pthread_rwlock_unlock(&sh->lock);
	return o;
}

/* Publishes @o (holding the blocks' references), replacing any version. */
static void obj_publish(struct mc_store *s, struct mc_obj *o)
{
	const char *key = obj_key(o);
	uint64_t h = key_hash(key, o->klen);
	struct mc_shard *sh = shard_of(s, h);
	struct mc_obj **pp, *old;

	o->hash = (uint32_t)h;
	atomic_store_explicit(&o->atime,
			      atomic_fetch_add_explicit(&s->clock, 1,
							memory_order_relaxed),
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
	mc_series_observe(s->c.value_size, (double)o->size);
	if (old)
		obj_unref(old);
}

/* Unlinks *pp (shard locked for writing). */
static struct mc_obj *obj_unlink(struct mc_store *s, struct mc_shard *sh,
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
	int32_t age = (int32_t)(now_clk - atomic_load_explicit(
						  &o->atime, memory_order_relaxed));

	return age > 0 ? (uint32_t)age : 0;
}

static uint64_t obj_bytes(const struct mc_obj *o)
{
	uint64_t b = 0;

	for (unsigned i = 0; i < o->nrep; i++)
		b += o->rep[i]->size;
	return b;
}

#define EVICT_BUCKETS 1024u

/*
 * Evicts unleased objects, oldest first, until @need bytes of replicas
 * are released. Three passes over the index (oldest age, an age histogram
 * of bytes, then the eviction itself) give least-recently-used order to
 * within 1/1024 of the age range without sorting or a per-object list.
 * Serialized by evict_lock; returns the bytes released.
 */
static uint64_t evict(struct mc_store *s, uint64_t need, int cause)
{
	uint64_t hist[EVICT_BUCKETS];
	uint32_t now_clk = atomic_load(&s->clock), max_age = 0;
	uint64_t now = store_now(s), freed = 0, keys = 0, cum = 0;
	unsigned cut = 0;
	bool any = false;

	pthread_mutex_lock(&s->evict_lock);
	mc_series_add(s->c.evict_attempts, 1);
	mc_series_add(cause == CAUSE_ALLOC ? s->c.evict_cause_alloc
					   : s->c.evict_cause_watermark, 1);
	for (unsigned i = 0; i < MC_NSHARDS; i++) {
		struct mc_shard *sh = &s->shards[i];

		pthread_rwlock_rdlock(&sh->lock);
		for (uint32_t b = 0; b <= sh->mask; b++)
			for (struct mc_obj *o = sh->tab[b]; o; o = o->next) {
				if (obj_leased(o, now))
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

		pthread_rwlock_rdlock(&sh->lock);
		for (uint32_t b = 0; b <= sh->mask; b++)
			for (struct mc_obj *o = sh->tab[b]; o; o = o->next)
				if (!obj_leased(o, now))
					hist[obj_age(o, now_clk) *
					     EVICT_BUCKETS / span] +=
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
			struct mc_obj *gone = NULL;

			pthread_rwlock_wrlock(&sh->lock);
			for (uint32_t b = 0; b <= sh->mask; b++) {
				struct mc_obj **pp = &sh->tab[b];

				while (*pp) {
					struct mc_obj *o = *pp;
					unsigned k = obj_age(o, now_clk) *
						     EVICT_BUCKETS / span;

					/* Pass 0 takes the buckets older than
					 * the cut, pass 1 the cut bucket. */
					if (obj_leased(o, now) ||
					    (pass == 0 ? k <= cut
						       : k < cut || freed >= need)) {
						pp = &o->next;
						continue;
					}
					obj_unlink(s, sh, pp);
					freed += obj_bytes(o);
					keys++;
					o->next = gone;
					gone = o;
				}
			}
			pthread_rwlock_unlock(&sh->lock);
			objs_unref(gone);
		}
	}
out:
	if (keys) {
		mc_series_add(s->c.evict_ok, 1);
		mc_series_add(s->c.evict_keys, keys);
		mc_series_add(s->c.evict_bytes, freed);
		mc_debug("evicted %llu keys, %llu bytes",
			 (unsigned long long)keys, (unsigned long long)freed);
	}
	pthread_mutex_unlock(&s->evict_lock);
	return freed;
}

/* Allocates replicas for a put, evicting at the watermark and on failure. */
static int alloc_replicas(struct mc_store *s, uint64_t size,
			  struct mc_blk **blk)
{
	uint64_t cap = atomic_load(&s->capacity);
	uint64_t used = atomic_load(&s->used);
	uint64_t want = (size + MC_BUF_ALIGN - 1) / MC_BUF_ALIGN * MC_BUF_ALIGN *
			s->o.replica_num;
	int rc;

	if (!seg_can_fit(s, size, s->o.replica_num))
		return -ENOSPC;
	if (cap && (double)(used + want) > s->o.high_watermark * (double)cap) {
		uint64_t target = evict_target(s);

		evict(s, used + want > target ? used + want - target : want,
		      CAUSE_WATERMARK);
	}
	rc = seg_alloc_replicas(s, size, s->o.replica_num, blk);
	if (rc == -ENOSPC && atomic_load(&s->nkeys)) {
		uint64_t target = evict_target(s);

		used = atomic_load(&s->used);
		evict(s, used + want > target ? used + want - target : want,
		      CAUSE_ALLOC);
		rc = seg_alloc_replicas(s, size, s->o.replica_num, blk);
	}
	return rc;
}

/* ------------------------------------------------------------------ puts */

static int put_check(struct mc_store *s, const void *key, size_t klen,
		     uint64_t size, struct mc_err *err)
{
	int rc = key_check(key, klen, err);

	if (rc < 0)
		return rc;
	if (size == 0)
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "value must not be empty");
	if (size > s->o.max_value)
		return mc_err_set(err, -EFBIG, MC_INVALID_PARAMS,
				  "value of %llu bytes is over the limit of %llu",
				  (unsigned long long)size,
				  (unsigned long long)s->o.max_value);
	return 0;
}

/*
 * Marks the buffers of a put that will not be published: no new pin can
 * reach them. They return to the allocator with the last reference to the
 * put, so a holder still writing into one never writes into a buffer that
 * was handed to somebody else.
 */
static void put_kill_blocks(struct mc_put *p)
{
	for (unsigned i = 0; i < p->nrep; i++)
		blk_set_state(p->blk[i], BLK_DEAD, p->size);
}

static void put_unref(struct mc_put *p)
{
	if (atomic_fetch_sub(&p->ref, 1) != 1)
		return;
	put_kill_blocks(p);
	for (unsigned i = 0; i < p->nrep; i++)
		blk_unref(p->blk[i]);
	free(p);
}

static bool put_close(struct mc_put *p);

static int put_new(struct mc_store *s, const void *key, size_t klen,
		   uint64_t size, bool registered, struct mc_put **out,
		   struct mc_err *err)
{
	struct mc_put *p;
	int rc;

	mc_series_add(s->c.put_start, 1);
	rc = put_check(s, key, klen, size, err);
	if (rc < 0)
		goto fail;
	p = calloc(1, sizeof(*p) + klen);
	if (!p) {
		rc = mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR, "out of memory");
		goto fail;
	}
	p->store = s;
	p->size = size;
	p->klen = klen;
	p->open = true;
	memcpy(p->key, key, klen);
	atomic_init(&p->ref, 1);
	if (registered) {
		pthread_mutex_lock(&s->pending_lock);
		for (struct mc_put *q = s->pending; q; q = q->next) {
			if (q->klen == klen && !memcmp(q->key, key, klen)) {
				pthread_mutex_unlock(&s->pending_lock);
				free(p);
				rc = mc_err_set(err, -EBUSY,
						MC_OBJECT_ALREADY_EXISTS,
						"a put of key '%.*s' is already open",
						KEY_ARG(key, klen));
				goto fail;
			}
		}
		/* Listed before allocating, so a racing start sees it. */
		p->registered = true;
		p->deadline_ms = store_now(s) + s->o.put_timeout_ms;
		atomic_fetch_add(&p->ref, 1);
		p->next = s->pending;
		s->pending = p;
		atomic_fetch_add(&s->npending, 1);
		pthread_mutex_unlock(&s->pending_lock);
	}
	rc = alloc_replicas(s, size, p->blk);
	if (rc < 0) {
		mc_series_add(s->c.alloc_fail, 1);
		rc = mc_err_set(err, rc, MC_NO_AVAILABLE_HANDLE,
				"no space for %llu bytes%s",
				(unsigned long long)size,
				atomic_load(&s->capacity) ? " even after eviction"
							  : ": no segment mounted");
		put_close(p);   /* off the pending list, unless the timeout was first */
		put_unref(p);
		goto fail;
	}
	p->nrep = (uint8_t)rc;
	for (unsigned i = 0; i < p->nrep; i++)
		blk_desc(p->blk[i], size, &p->desc[i]);
	*out = p;
	return 0;
fail:
	mc_series_add(s->c.put_start_fail, 1);
	return rc;
}

int mc_put_start(struct mc_store *s, const void *key, size_t klen,
		 uint64_t size, struct mc_put **out, struct mc_err *err)
{
	return put_new(s, key, klen, size, true, out, err);
}

int mc_put_begin(struct mc_store *s, const void *key, size_t klen,
		 uint64_t size, struct mc_put **out, struct mc_err *err)
{
	return put_new(s, key, klen, size, false, out, err);
}

size_t mc_put_ndesc(const struct mc_put *p)
{
	return p->nrep;
}

const struct mc_desc *mc_put_desc(const struct mc_put *p, size_t i)
{
	return &p->desc[i];
}

void *mc_put_buffer(struct mc_put *p, size_t i)
{
	return blk_ptr(p->blk[i]);
}

/*
 * Closes a put: true when this caller closed it (it was still open).
 * Registered puts leave the pending list under its lock, so exactly one
 * of commit, end, revoke and the timeout wins.
 */
static bool put_close(struct mc_put *p)
{
	struct mc_store *s = p->store;
	bool won = false;

	if (!p->registered) {
		won = p->open;
		p->open = false;
		return won;
	}
	pthread_mutex_lock(&s->pending_lock);
	if (p->open) {
		for (struct mc_put **pp = &s->pending; *pp; pp = &(*pp)->next)
			if (*pp == p) {
				*pp = p->next;
				break;
			}
		atomic_fetch_sub(&s->npending, 1);
		p->open = false;
		won = true;
	}
	pthread_mutex_unlock(&s->pending_lock);
	if (won)
		put_unref(p);   /* the pending list's reference */
	return won;
}

static int put_publish(struct mc_put *p, bool copy, struct mc_err *err)
{
	struct mc_store *s = p->store;
	struct mc_obj *o;

	mc_series_add(s->c.put_end, 1);
	o = obj_new(p->key, p->klen, p->size, p->nrep);
	if (!o) {
		mc_series_add(s->c.put_end_fail, 1);
		put_kill_blocks(p);
		return mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR, "out of memory");
	}
	if (copy)
		for (unsigned i = 1; i < p->nrep; i++)
			memcpy(blk_ptr(p->blk[i]), blk_ptr(p->blk[0]), p->size);
	for (unsigned i = 0; i < p->nrep; i++)
		o->rep[i] = p->blk[i];   /* the object takes the references */
	p->nrep = 0;
	obj_publish(s, o);
	return 0;
}

int mc_put_commit(struct mc_put *p, bool copy_replicas, struct mc_err *err)
{
	int rc;

	if (put_close(p)) {
		rc = put_publish(p, copy_replicas, err);
	} else {
		mc_series_add(p->store->c.put_end, 1);
		mc_series_add(p->store->c.put_end_fail, 1);
		rc = mc_err_set(err, -ETIMEDOUT, MC_INVALID_WRITE,
				"the put of key '%.*s' was revoked",
				KEY_ARG(p->key, p->klen));
	}
	put_unref(p);
	return rc;
}

static void put_revoke_closed(struct mc_put *p)
{
	mc_series_add(p->store->c.put_revoke, 1);
	put_kill_blocks(p);
}

void mc_put_abort(struct mc_put *p)
{
	if (put_close(p))
		put_revoke_closed(p);
	put_unref(p);
}

void mc_put_release(struct mc_put *p)
{
	put_unref(p);
}

/* Takes the open registered put of @key off the pending list. */
static struct mc_put *put_take(struct mc_store *s, const void *key,
			       size_t klen)
{
	struct mc_put *p = NULL;

	pthread_mutex_lock(&s->pending_lock);
	for (struct mc_put **pp = &s->pending; *pp; pp = &(*pp)->next) {
		if ((*pp)->klen == klen && !memcmp((*pp)->key, key, klen)) {
			p = *pp;
			*pp = p->next;
			p->open = false;
			atomic_fetch_sub(&s->npending, 1);
			break;
		}
	}
	pthread_mutex_unlock(&s->pending_lock);
	return p;   /* with the pending list's reference */
}

int mc_put_end(struct mc_store *s, const void *key, size_t klen,
	       struct mc_err *err)
{
	int rc = key_check(key, klen, err);
	struct mc_put *p;

	if (rc < 0)
		goto fail;
	p = put_take(s, key, klen);
	if (!p) {
		rc = mc_err_set(err, -ENOENT, MC_OBJECT_NOT_FOUND,
				"no open put of key '%.*s'",
				KEY_ARG(key, klen));
		goto fail;
	}
	rc = put_publish(p, false, err);
	put_unref(p);
	return rc;
fail:
	mc_series_add(s->c.put_end, 1);
	mc_series_add(s->c.put_end_fail, 1);
	return rc;
}

int mc_put_revoke(struct mc_store *s, const void *key, size_t klen,
		  struct mc_err *err)
{
	int rc = key_check(key, klen, err);
	struct mc_put *p;

	if (rc < 0)
		goto fail;
	p = put_take(s, key, klen);
	if (!p) {
		rc = mc_err_set(err, -ENOENT, MC_OBJECT_NOT_FOUND,
				"no open put of key '%.*s'",
				KEY_ARG(key, klen));
		goto fail;
	}
	put_revoke_closed(p);
	put_unref(p);
	return 0;
fail:
	mc_series_add(s->c.put_revoke, 1);
	mc_series_add(s->c.put_revoke_fail, 1);
	return rc;
}

int mc_put(struct mc_store *s, const void *key, size_t klen, const void *val,
	   size_t len, struct mc_err *err)
{
	struct mc_put *p;
	int rc = mc_put_begin(s, key, klen, len, &p, err);

	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < p->nrep; i++)
		memcpy(blk_ptr(p->blk[i]), val, len);
	return mc_put_commit(p, false, err);
}

/* Revokes the two-phase puts whose time is up, or that hold a buffer in
 * segment @g (when not NULL). */
static void puts_expire(struct mc_store *s, uint64_t now, struct mc_seg *g)
{
	struct mc_put *gone = NULL;

	pthread_mutex_lock(&s->pending_lock);
	for (struct mc_put **pp = &s->pending; *pp;) {
		struct mc_put *p = *pp;
		bool hit = !g && p->deadline_ms <= now;

		for (unsigned i = 0; g && i < p->nrep; i++)
			hit |= blk_seg(p->blk[i]) == g;
		if (!hit) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		p->open = false;
		atomic_fetch_sub(&s->npending, 1);
		p->next = gone;
		gone = p;
	}
	pthread_mutex_unlock(&s->pending_lock);
	while (gone) {
		struct mc_put *next = gone->next;

		mc_info("revoked the unfinished put of key '%.*s'",
			KEY_ARG(gone->key, gone->klen));
		put_revoke_closed(gone);
		put_unref(gone);
		gone = next;
	}
}

/* ------------------------------------------------------------------ gets */

static void count_get(struct mc_store *s, const struct mc_obj *o)
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

int mc_get(struct mc_store *s, const void *key, size_t klen,
	   struct mc_ref **out)
{
	struct mc_obj *o;

	if (key_check(key, klen, NULL) < 0) {
		count_get(s, NULL);
		return -EINVAL;
	}
	o = obj_lookup(s, key, klen, true);
	count_get(s, o);
	if (!o)
		return -ENOENT;
	*out = (struct mc_ref *)o;
	return 0;
}

const void *mc_ref_data(const struct mc_ref *r)
{
	const struct mc_obj *o = (const struct mc_obj *)r;

	return blk_ptr(o->rep[0]);
}

uint64_t mc_ref_size(const struct mc_ref *r)
{
	return ((const struct mc_obj *)r)->size;
}

void mc_ref_release(struct mc_ref *r)
{
	if (r)
		obj_unref((struct mc_obj *)r);
}

int64_t mc_get_copy(struct mc_store *s, const void *key, size_t klen,
		    uint64_t off, void *buf, uint64_t cap)
{
	struct mc_ref *r;
	uint64_t n = 0;
	int rc = mc_get(s, key, klen, &r);

	if (rc < 0)
		return rc;
	if (off < mc_ref_size(r)) {
		n = mc_ref_size(r) - off;
		if (n > cap)
			n = cap;
		memcpy(buf, (const char *)mc_ref_data(r) + off, n);
	}
	mc_ref_release(r);
	return (int64_t)n;
}

int mc_stat(struct mc_store *s, const void *key, size_t klen, uint64_t *size)
{
	struct mc_obj *o;

	if (key_check(key, klen, NULL) < 0)
		return -EINVAL;
	o = obj_lookup(s, key, klen, false);
	if (!o)
		return -ENOENT;
	*size = o->size;
	obj_unref(o);
	return 0;
}

int mc_exist(struct mc_store *s, const void *key, size_t klen)
{
	struct mc_obj *o = NULL;

	mc_series_add(s->c.exist, 1);
	if (key_check(key, klen, NULL) < 0) {
		mc_series_add(s->c.exist_fail, 1);
		return 0;
	}
	o = obj_lookup(s, key, klen, false);
	if (o)
		obj_unref(o);
	return o != NULL;
}

/* ---------------------------------------------------------------- leases */

static void lease_push(struct mc_store *s, struct mc_blk *b, uint64_t due)
{
	struct mc_lease_node *n = malloc(sizeof(*n));

	if (!n) {   /* without a node the lease cannot be tracked: drop it */
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
	uint64_t cur = atomic_load_explicit(&b->u.lease_until,
					    memory_order_relaxed);

	while (cur < until &&
	       !atomic_compare_exchange_weak_explicit(&b->u.lease_until, &cur,
						      until,
						      memory_order_seq_cst,
						      memory_order_relaxed))
		;
	if (atomic_fetch_or(&b->u.state, BLK_LEASED) & BLK_LEASED)
		return;
	atomic_fetch_add(&b->u.ref, 1);
	lease_push(s, b, until);
}

/* Ends the leases that are due (all of segment @g's when @g is set). */
static void leases_expire(struct mc_store *s, uint64_t now, struct mc_seg *g)
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
		if (!g && until > now && atomic_load(&blk_seg(b)->state) != SEG_GONE &&
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

/* mc_query, counting a GetReplicaList only when @count (a batch counts
 * its items instead). */
static int query(struct mc_store *s, const void *key, size_t klen,
		 struct mc_desc *out, size_t max, bool count)
{
	struct mc_obj *o = NULL;
	uint64_t until;
	int n;

	if (key_check(key, klen, NULL) == 0)
		o = obj_lookup(s, key, klen, true);
	if (count)
		count_get(s, o);
	if (!o)
		return key_check(key, klen, NULL) < 0 ? -EINVAL : -ENOENT;
	until = store_now(s) + s->o.lease_ttl_ms;
	for (unsigned i = 0; i < o->nrep; i++) {
		lease_grant(s, o->rep[i], until);
		if (i < max)
			blk_desc(o->rep[i], o->size, &out[i]);
	}
	n = o->nrep;
	obj_unref(o);
	return n;
}

int mc_query(struct mc_store *s, const void *key, size_t klen,
	     struct mc_desc *out, size_t max)
{
	return query(s, key, klen, out, max, true);
}

void mc_query_batch(struct mc_store *s, size_t nkeys,
		    const char *const *keys, const size_t *klens,
		    void (*cb)(size_t i, int rc, const struct mc_desc *d,
			       size_t nd, void *arg),
		    void *arg)
{
	struct mc_desc d[MC_REPLICA_MAX];
	size_t failed = 0;

	mc_series_add(s->c.bq_req, 1);
	mc_series_add(s->c.bq_items, nkeys);
	for (size_t i = 0; i < nkeys; i++) {
		int rc = query(s, keys[i], klens[i], d, MC_REPLICA_MAX, false);

		failed += rc < 0;
		cb(i, rc, d, rc > 0 ? (size_t)rc : 0, arg);
	}
	mc_series_add(s->c.bq_failed_items, failed);
	if (nkeys && failed == nkeys)
		mc_series_add(s->c.bq_fail, 1);
	else if (failed)
		mc_series_add(s->c.bq_partial, 1);
}

/* --------------------------------------------------------------- removal */

int mc_remove(struct mc_store *s, const void *key, size_t klen, bool force,
	      struct mc_err *err)
{
	uint64_t h;
	struct mc_shard *sh;
	struct mc_obj **pp, *o = NULL;
	int rc;

	mc_series_add(s->c.remove, 1);
	rc = key_check(key, klen, err);
	if (rc < 0)
		goto fail;
	h = key_hash(key, klen);
	sh = shard_of(s, h);
	pthread_rwlock_wrlock(&sh->lock);
	pp = chain_find(sh, (uint32_t)h, key, klen);
	if (!*pp) {
		rc = mc_err_set(err, -ENOENT, MC_OBJECT_NOT_FOUND,
				"key '%.*s' not found",
				KEY_ARG(key, klen));
	} else if (!force && obj_leased(*pp, store_now(s))) {
		rc = mc_err_set(err, -EBUSY, MC_OBJECT_HAS_LEASE,
				"key '%.*s' has a read lease",
				KEY_ARG(key, klen));
	} else {
		o = obj_unlink(s, sh, pp);
	}
	pthread_rwlock_unlock(&sh->lock);
	if (!o)
		goto fail;
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
void store_drop_segment(struct mc_store *s, struct mc_seg *g)
{
	for (unsigned i = 0; i < MC_NSHARDS; i++) {
		struct mc_shard *sh = &s->shards[i];
		struct mc_obj *gone = NULL;

		pthread_rwlock_wrlock(&sh->lock);
		for (uint32_t b = 0; b <= sh->mask; b++) {
			struct mc_obj **pp = &sh->tab[b];

			while (*pp) {
				struct mc_obj *o = *pp, *n = NULL;
				unsigned keep = 0;

				for (unsigned r = 0; r < o->nrep; r++)
					keep += blk_seg(o->rep[r]) != g;
				if (keep == o->nrep) {
					pp = &o->next;
					continue;
				}
				if (keep)
					n = obj_new(obj_key(o), o->klen, o->size,
						    keep);
				if (n) {
					keep = 0;
					for (unsigned r = 0; r < o->nrep; r++) {
						struct mc_blk *bk = o->rep[r];

						if (blk_seg(bk) == g)
							continue;
						atomic_fetch_add(&bk->u.ref, 1);
						n->rep[keep++] = bk;
					}
					n->hash = o->hash;
					atomic_store(&n->atime,
						     atomic_load(&o->atime));
					n->next = o->next;
					*pp = n;
					pp = &n->next;
				} else {
					obj_unlink(s, sh, pp);
				}
				o->next = gone;
				gone = o;
			}
		}
		pthread_rwlock_unlock(&sh->lock);
		objs_unref(gone);
	}
	leases_expire(s, store_now(s), g);
	puts_expire(s, 0, g);
}

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
	struct snap_ent e = { .size = o->size, .klen = o->klen };

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
	struct key_snap k = { 0 };
	unsigned shard = (unsigned)(*cursor >> 32);
	size_t skip = (size_t)(*cursor & 0xffffffffu);
	int rc = 0;

	for (; shard < MC_NSHARDS && !rc; shard++, skip = 0) {
		size_t off = 0;

		shard_snapshot(&s->shards[shard], &k);
		for (size_t i = 0; i < k.n; i++) {
			struct snap_ent e;

			memcpy(&e, k.buf + off, sizeof(e));
			if (i >= skip &&
			    (rc = cb(k.buf + off + sizeof(e), e.klen, e.size,
				     arg))) {
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

/* ---------------------------------------------------------------- pins */

int mc_pin_read(struct mc_store *s, uint64_t addr, uint64_t size,
		struct mc_pin **out)
{
	return seg_pin(s, addr, size, BLK_LIVE, (struct mc_blk **)out);
}

int mc_pin_write(struct mc_store *s, uint64_t addr, uint64_t size,
		 struct mc_pin **out)
{
	return seg_pin(s, addr, size, BLK_PENDING, (struct mc_blk **)out);
}

void mc_pin_release(struct mc_pin *p)
{
	if (p)
		blk_unref((struct mc_blk *)p);
}

/* --------------------------------------------------------------- metrics */

struct fam_def {
	const char *name, *help;
	size_t off;   /* offsetof the series pointer in struct mc_counters */
};
#define NONE ((size_t)-1)   /* registered, never counted by this store */

#define C(f) offsetof(struct mc_counters, f)
static const struct fam_def counter_defs[] = {
	{ "master_put_start_alloc_failures_total", "Total number of PutStart failures caused by replica allocation failure", C(alloc_fail) },
	{ "master_remove_all_requests_total", "Total number of Remove all requests received", C(remove_all) },
	{ "master_remove_all_failures_total", "Total number of failed Remove all requests", C(remove_all_fail) },
	{ "master_exist_key_requests_total", "Total number of ExistKey requests received", C(exist) },
	{ "master_exist_key_failures_total", "Total number of failed ExistKey requests", C(exist_fail) },
	{ "master_put_start_requests_total", "Total number of PutStart requests received", C(put_start) },
	{ "master_put_start_failures_total", "Total number of failed PutStart requests", C(put_start_fail) },
	{ "master_put_end_requests_total", "Total number of PutEnd requests received", C(put_end) },
	{ "master_put_end_failures_total", "Total number of failed PutEnd requests", C(put_end_fail) },
	{ "master_put_revoke_requests_total", "Total number of PutRevoke requests received", C(put_revoke) },
	{ "master_put_revoke_failures_total", "Total number of failed PutRevoke requests", C(put_revoke_fail) },
	{ "master_get_replica_list_requests_total", "Total number of GetReplicaList requests received", C(get) },
	{ "master_get_replica_list_failures_total", "Total number of failed GetReplicaList requests", C(get_fail) },
	{ "master_remove_requests_total", "Total number of Remove requests received", C(remove) },
	{ "master_remove_failures_total", "Total number of failed Remove requests", C(remove_fail) },
	{ "master_mount_segment_requests_total", "Total number of MountSegment requests received", C(mount) },
	{ "master_mount_segment_failures_total", "Total number of failed MountSegment requests", C(mount_fail) },
	{ "master_unmount_segment_requests_total", "Total number of UnmountSegment requests received", C(unmount) },
	{ "master_unmount_segment_failures_total", "Total number of failed UnmountSegment requests", C(unmount_fail) },
	{ "master_ping_requests_total", "Total number of ping requests received", C(ping) },
	{ "master_ping_failures_total", "Total number of failed ping requests", C(ping_fail) },
	{ "master_batch_exist_key_requests_total", "Total number of BatchExistKey requests received", NONE },
	{ "master_batch_exist_key_failures_total", "Total number of failed BatchExistKey requests", NONE },
	{ "master_batch_exist_key_partial_successes_total", "Total number of partially successful BatchExistKey requests", NONE },
	{ "master_batch_exist_key_items_total", "Total number of items processed in BatchExistKey requests", NONE },
	{ "master_batch_exist_key_failed_items_total", "Total number of failed items in BatchExistKey requests", NONE },
	{ "master_batch_get_replica_list_requests_total", "Total number of BatchGetReplicaList requests received", C(bq_req) },
	{ "master_batch_get_replica_list_failures_total", "Total number of failed BatchGetReplicaList requests", C(bq_fail) },
	{ "master_batch_get_replica_list_partial_successes_total", "Total number of partially successful BatchGetReplicaList requests", C(bq_partial) },
	{ "master_batch_get_replica_list_items_total", "Total number of items processed in BatchGetReplicaList requests", C(bq_items) },
	{ "master_batch_get_replica_list_failed_items_total", "Total number of failed items in BatchGetReplicaList requests", C(bq_failed_items) },
	{ "master_batch_put_start_requests_total", "Total number of BatchPutStart requests received", NONE },
	{ "master_batch_put_start_failures_total", "Total number of failed BatchPutStart requests", NONE },
	{ "master_batch_put_start_partial_successes_total", "Total number of partially successful BatchPutStart requests", NONE },
	{ "master_batch_put_start_items_total", "Total number of items processed in BatchPutStart requests", NONE },
	{ "master_batch_put_start_failed_items_total", "Total number of failed items in BatchPutStart requests", NONE },
	{ "master_batch_put_end_requests_total", "Total number of BatchPutEnd requests received", NONE },
	{ "master_batch_put_end_failures_total", "Total number of failed BatchPutEnd requests", NONE },
	{ "master_batch_put_end_partial_successes_total", "Total number of partially successful BatchPutEnd requests", NONE },
	{ "master_batch_put_end_items_total", "Total number of items processed in BatchPutEnd requests", NONE },
	{ "master_batch_put_end_failed_items_total", "Total number of failed items in BatchPutEnd requests", NONE },
	{ "mem_cache_hit_nums_", "Total number of GetReplicaList results served from the memory pool", C(hit_nums) },
	{ "mem_cache_hit_bytes_total", "Total bytes of GetReplicaList results served from the memory pool", C(hit_bytes) },
	{ "valid_get_nums_", "Total number of GetReplicaList operations that returned at least one completed replica", C(valid_get) },
	{ "total_get_nums_", "Total number of GetReplicaList operations", C(total_get) },
	{ "master_successful_evictions_total", "Total number of successful eviction operations", C(evict_ok) },
	{ "master_attempted_evictions_total", "Total number of attempted eviction operations", C(evict_attempts) },
	{ "master_evicted_key_count", "Total number of keys evicted", C(evict_keys) },
	{ "master_evicted_size_bytes", "Total bytes of evicted objects", C(evict_bytes) },
};

static const struct fam_def gauge_defs[] = {
	{ "master_allocated_bytes", "Total memory bytes currently allocated across all segments", C(g_alloc) },
	{ "master_total_capacity_bytes", "Total memory capacity across all mounted segments", C(g_cap) },
	{ "master_key_count", "Total number of keys managed by the master", C(g_keys) },
	{ "master_soft_pin_key_count", "Total number of soft-pinned keys managed by the master", C(g_soft) },
	{ "master_active_clients", "Total number of active clients", C(g_clients) },
	{ "mem_cache_nums_", "Current number of cached values in the memory pool", C(g_cache_nums) },
};
#undef C

static int collect_segment(const char *name, uint64_t used, uint64_t cap,
			   void *arg)
{
	struct mc_store *s = arg;
	const char *v[] = { name };

	mc_series_set(mc_family_series(s->c.seg_alloc_fam, v), (double)used);
	mc_series_set(mc_family_series(s->c.seg_cap_fam, v), (double)cap);
	return 0;
}

static void collect(struct mc_metrics *m, void *arg)
{
	struct mc_store *s = arg;
	struct mc_usage u;

	mc_store_usage(s, &u);
	mc_series_set(s->c.g_alloc, (double)u.used);
	mc_series_set(s->c.g_cap, (double)u.capacity);
	mc_series_set(s->c.g_keys, (double)u.keys);
	mc_series_set(s->c.g_soft, 0);
	mc_series_set(s->c.g_clients, u.segments ? 1 : 0);
	mc_series_set(s->c.g_cache_nums, (double)u.keys);
	mc_series_set(s->c.g_pending, (double)u.pending_puts);
	/*
	 * Series of unmounted names disappear: rebuild them when the segment
	 * table changed since the last scrape, else only set the values.
	 */
	uint64_t gen = atomic_load(&s->seg_gen);

	if (gen != s->c.seg_gen_seen) {
		mc_family_clear(s->c.seg_alloc_fam);
		mc_family_clear(s->c.seg_cap_fam);
		s->c.seg_gen_seen = gen;
	}
	mc_segment_name_foreach(s, collect_segment, s);
}

static void metrics_register(struct mc_store *s)
{
	struct mc_metrics *m = s->metrics;
	static const double vb[] = { 4096, 65536, 262144, 1048576, 4194304,
				     16777216, 67108864 };
	struct mc_family *f;

	for (size_t i = 0; i < sizeof(gauge_defs) / sizeof(gauge_defs[0]); i++) {
		f = mc_metrics_family(m, gauge_defs[i].name, gauge_defs[i].help,
				      MC_GAUGE, NULL, NULL, 0);
		*(struct mc_series **)((char *)&s->c + gauge_defs[i].off) =
			mc_family_series(f, NULL);
	}
	s->c.seg_alloc_fam = mc_metrics_family(
		m, "segment_allocated_bytes",
		"Total memory bytes currently allocated of the segment",
		MC_GAUGE, "segment", NULL, 0);
	s->c.seg_cap_fam = mc_metrics_family(
		m, "segment_total_capacity_bytes",
		"Total memory capacity of the mounted segment", MC_GAUGE,
		"segment", NULL, 0);
	f = mc_metrics_family(m, "master_value_size_bytes",
			      "Distribution of object value sizes", MC_HISTOGRAM,
			      NULL, vb, sizeof(vb) / sizeof(vb[0]));
	s->c.value_size = mc_family_series(f, NULL);
	for (size_t i = 0; i < sizeof(counter_defs) / sizeof(counter_defs[0]);
	     i++) {
		f = mc_metrics_family(m, counter_defs[i].name,
				      counter_defs[i].help, MC_COUNTER, NULL,
				      NULL, 0);
		if (counter_defs[i].off != NONE)
			*(struct mc_series **)((char *)&s->c +
					       counter_defs[i].off) =
				mc_family_series(f, NULL);
	}
	f = mc_metrics_family(m, "mooncake_evictions_total",
			      "Eviction runs by what started them", MC_COUNTER,
			      "cause", NULL, 0);
	s->c.evict_cause_watermark =
		mc_family_series(f, (const char *[]){ "watermark" });
	s->c.evict_cause_alloc =
		mc_family_series(f, (const char *[]){ "alloc_failure" });
	f = mc_metrics_family(m, "mooncake_pending_puts",
			      "Two-phase puts started and not yet ended",
			      MC_GAUGE, NULL, NULL, 0);
	s->c.g_pending = mc_family_series(f, NULL);
	mc_metrics_add_collector(m, collect, s);
}

/* ----------------------------------------------------------------- store */

void mc_store_opts_default(struct mc_store_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->replica_num = 1;
	o->lease_ttl_ms = 10000;
	o->high_watermark = 0.95;
	o->evict_ratio = 0.05;
	o->max_value = 100ull << 20;
	o->put_timeout_ms = 30000;
	o->max_segment_size = 1ull << 40;
	o->hostname = "localhost";
	o->protocol = "tcp";
}

void mc_store_tick(struct mc_store *s)
{
	uint64_t now = store_now(s);

	leases_expire(s, now, NULL);
	puts_expire(s, now, NULL);
	seg_tick(s, now);
}

static void *reaper_main(void *arg)
{
	struct mc_store *s = arg;

	pthread_mutex_lock(&s->reaper_lock);
	while (!s->stopping) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += 100 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&s->reaper_cond, &s->reaper_lock, &ts);
		if (s->stopping)
			break;
		pthread_mutex_unlock(&s->reaper_lock);
		mc_store_tick(s);
		pthread_mutex_lock(&s->reaper_lock);
	}
	pthread_mutex_unlock(&s->reaper_lock);
	return NULL;
}

struct mc_store *mc_store_new(const struct mc_store_opts *o,
			      struct mc_metrics *m)
{
	struct mc_store *s = calloc(1, sizeof(*s));
	pthread_condattr_t ca;

	if (!s)
		return NULL;
	if (!hash_seed && getrandom(&hash_seed, sizeof(hash_seed), 0) !=
				  sizeof(hash_seed))
		hash_seed = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull;
	s->o = *o;
	if (s->o.replica_num < 1)
		s->o.replica_num = 1;
	if (s->o.replica_num > MC_REPLICA_MAX)
		s->o.replica_num = MC_REPLICA_MAX;
	s->hostname = strdup(o->hostname ? o->hostname : "localhost");
	s->protocol = strdup(o->protocol ? o->protocol : "tcp");
	s->o.hostname = s->hostname;
	s->o.protocol = s->protocol;
	s->metrics = m ? m : mc_metrics_new();
	s->own_metrics = !m;
	if (!s->hostname || !s->protocol || !s->metrics)
		goto fail;
	atomic_init(&s->endpoint, NULL);
	mc_store_set_endpoint(s, s->hostname);
	pthread_rwlock_init(&s->seg_lock, NULL);
	for (unsigned i = 0; i < MC_NSHARDS; i++) {
		struct mc_shard *sh = &s->shards[i];

		pthread_rwlock_init(&sh->lock, NULL);
		sh->mask = 15;
		sh->tab = calloc(sh->mask + 1, sizeof(*sh->tab));
		if (!sh->tab)
			goto fail;
	}
	pthread_mutex_init(&s->evict_lock, NULL);
	pthread_mutex_init(&s->pending_lock, NULL);
	pthread_mutex_init(&s->lease_lock, NULL);
	pthread_mutex_init(&s->reaper_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->reaper_cond, &ca);
	pthread_condattr_destroy(&ca);
	metrics_register(s);
	s->inited = true;
	if (!o->manual_tick) {
		if (pthread_create(&s->reaper, NULL, reaper_main, s))
			goto fail;
		s->reaper_running = true;
	}
	return s;
fail:
	mc_store_free(s);
	errno = ENOMEM;
	return NULL;
}

void mc_store_free(struct mc_store *s)
{
	if (!s)
		return;
	if (s->reaper_running) {
		pthread_mutex_lock(&s->reaper_lock);
		s->stopping = true;
		pthread_cond_signal(&s->reaper_cond);
		pthread_mutex_unlock(&s->reaper_lock);
		pthread_join(s->reaper, NULL);
	}
	if (s->inited) {
		mc_remove_all(s, true);
		puts_expire(s, UINT64_MAX, NULL);
		seg_unmount_all(s);
		leases_expire(s, UINT64_MAX, NULL);
	}
	for (unsigned i = 0; i < MC_NSHARDS; i++) {
		free(s->shards[i].tab);
		if (s->inited)
			pthread_rwlock_destroy(&s->shards[i].lock);
	}
	free(s->segs);
	free(atomic_load(&s->endpoint));
	while (s->old_endpoints) {
		struct mc_old_ep *n = s->old_endpoints->next;

		free(s->old_endpoints->ep);
		free(s->old_endpoints);
		s->old_endpoints = n;
	}
	if (s->own_metrics)
		mc_metrics_free(s->metrics);
	free(s->hostname);
	free(s->protocol);
	free(s);
}

struct mc_metrics *mc_store_metrics(struct mc_store *s)
{
	return s->metrics;
}

const struct mc_store_opts *mc_store_get_opts(const struct mc_store *s)
{
	return &s->o;
}

void mc_store_set_endpoint(struct mc_store *s, const char *endpoint)
{
	char *ep = strdup(endpoint), *old;
	struct mc_old_ep *n = malloc(sizeof(*n));

	if (!ep || !n) {
		free(ep);
		free(n);
		return;
	}
	/* Readers copy the string without a lock: keep the old one alive. */
	pthread_rwlock_wrlock(&s->seg_lock);
	old = atomic_exchange(&s->endpoint, ep);
	if (old) {
		n->ep = old;
		n->next = s->old_endpoints;
		s->old_endpoints = n;
	} else {
		free(n);
	}
	pthread_rwlock_unlock(&s->seg_lock);
}

uint64_t mc_store_keys_gen(struct mc_store *s)
{
	return atomic_load(&s->keys_gen);
}

void mc_store_usage(struct mc_store *s, struct mc_usage *u)
{
	u->used = atomic_load(&s->used);
	u->capacity = atomic_load(&s->capacity);
	u->keys = atomic_load(&s->nkeys);
	u->pending_puts = atomic_load(&s->npending);
	pthread_rwlock_rdlock(&s->seg_lock);
	u->segments = s->nsegs;
	pthread_rwlock_unlock(&s->seg_lock);
}
