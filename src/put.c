/*
 * put.c - puts: one-shot (mc_put), local streamed (mc_put_begin) and
 * two-phase for remote writers (mc_put_start .. end/revoke), with the
 * timeout that revokes unfinished ones.
 */
#include "autoconfig.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "ebr.h"
#include "log.h"
#include "store_int.h"

/* ------------------------------------------------------------------ puts */

/* mc_put's read section covers the copy of values up to this (bytes) */
#define PUT_SECTION_MAX (256u << 10)

/*
 * Copies a value into a replica buffer (64-byte aligned, store_int.h).
 * When @stream (store_streams: the store holds far more than the caches,
 * so a buffer being filled was freed by an overwrite long ago and none
 * of its lines is cached), values of a page or more go with
 * non-temporal stores: ordinary ones would first read every line of the
 * buffer from memory, and the put's first atomic after the copy (its
 * seal) would wait for those reads. A value is read later, by gets, not
 * by the thread that put it. Over a set that fits the caches, ordinary
 * stores stay: there they hit, and streaming would be several times
 * slower. The fence makes the bytes visible before the seal and the
 * publish.
 */
static void copy_in(char *dst, const char *src, size_t len, bool stream)
{
#if defined(__SSE2__)
	if (stream && len >= 4096 && !((uintptr_t)dst & 63)) {
		size_t n = len & ~(size_t)63;

		for (size_t i = 0; i < n; i += 64) {
			__m128i a = _mm_loadu_si128((const __m128i *)(src + i));
			__m128i b = _mm_loadu_si128(
				(const __m128i *)(src + i + 16));
			__m128i c = _mm_loadu_si128(
				(const __m128i *)(src + i + 32));
			__m128i d = _mm_loadu_si128(
				(const __m128i *)(src + i + 48));

			_mm_stream_si128((__m128i *)(dst + i), a);
			_mm_stream_si128((__m128i *)(dst + i + 16), b);
			_mm_stream_si128((__m128i *)(dst + i + 32), c);
			_mm_stream_si128((__m128i *)(dst + i + 48), d);
		}
		_mm_sfence();
		memcpy(dst + n, src + n, len - n);
		return;
	}
#else
	(void)stream;
#endif
	memcpy(dst, src, len);
}

int put_check(struct mc_store *s, const void *key, size_t klen, uint64_t size,
	      struct mc_err *err)
{
	int rc = obj_key_check(key, klen, err);

	if (rc < 0)
		return rc;
	if (size == 0)
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "value must not be empty");
	if (size > s->o.max_value)
		return mc_err_set(
			err, -EFBIG, MC_INVALID_PARAMS,
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

/* The bytes of @p's replica buffers. */
static uint64_t put_bytes(const struct mc_put *p)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < p->nrep; i++)
		n += p->blk[i]->size;
	return n;
}

/* Whether anyone but @p itself still holds one of its buffers. */
static bool put_held(const struct mc_put *p)
{
	for (unsigned i = 0; i < p->nrep; i++)
		if (atomic_load(&p->blk[i]->u.ref) > 1)
			return true;
	return false;
}

static void put_free(struct mc_put *p)
{
	if (p->discarded) {
		/* upstream's release of a discarded PutStart: buffers back */
		mc_series_add(p->store->c.release_cnt, 1);
		atomic_fetch_sub(&p->store->discard_staging, put_bytes(p));
	}
	for (unsigned i = 0; i < p->nrep; i++)
		blk_unref(p->blk[i]);
	free(p->desc);
	if (!p->on_stack)
		free(p);
}

static void put_unref(struct mc_put *p)
{
	struct mc_store *s = p->store;

	if (atomic_fetch_sub(&p->ref, 1) != 1)
		return;
	put_kill_blocks(p);
	if (p->discarded && put_held(p)) {
		/*
		 * A WRITE still pins a buffer of this timed-out put: its
		 * bytes stay discarded, not released, until the writer lets
		 * go (mooncake-http(7), METRICS); the tick looks again.
		 */
		pthread_mutex_lock(&s->pending_lock);
		p->next = s->discarded;
		s->discarded = p;
		atomic_fetch_add(&s->ndiscarded, 1);
		pthread_mutex_unlock(&s->pending_lock);
		return;
	}
	put_free(p);
}

void put_release_discarded(struct mc_store *s, bool all)
{
	struct mc_put *done = NULL;

	if (!atomic_load(&s->ndiscarded))
		return;
	pthread_mutex_lock(&s->pending_lock);
	for (struct mc_put **pp = &s->discarded; *pp;) {
		struct mc_put *p = *pp;

		if (!all && put_held(p)) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		p->next = done;
		done = p;
		atomic_fetch_sub(&s->ndiscarded, 1);
	}
	pthread_mutex_unlock(&s->pending_lock);
	while (done) {
		struct mc_put *next = done->next;

		put_free(done);
		done = next;
	}
}

static bool put_close(struct mc_put *p);
static void put_revoke_closed(struct mc_put *p);
static void put_drop_closed(struct mc_put *p);
static void outcome_note(struct mc_store *s, uint64_t version, int rc);

/* The owner hooks' view of replica @i of @p. */
static void put_owner_view(const struct mc_put *p, unsigned i,
			   struct mc_owner_blk *v)
{
	blk_owner_view(p->blk[i], v);
	v->value_size = p->size;
	v->key = p->key;
	v->klen = p->klen;
	v->version = p->version;
}

/*
 * After a failed commit of @p: retires, exactly, the version at the
 * owners of replicas [0, @sent) (those committed, and the one whose
 * answer was lost), so no rebuild adopts it. 0, or -1 when an owner
 * could not be told: the put may then come back after a failover.
 */
static int put_retire_sent(struct mc_put *p, unsigned sent)
{
	struct mc_store *s = p->store;
	const struct mc_owner_ops *ops = s->o.owner_ops;
	struct mc_retire rt = {p->key, p->klen, p->version};
	int bad = 0;

	for (unsigned j = 0; j < sent; j++) {
		if (!blk_seg(p->blk[j])->hooked)
			continue;
		if (!ops->retire ||
		    ops->retire(s->o.owner_arg, &blk_seg(p->blk[j])->owner, &rt,
				1, true) < 0)
			bad = -1;
	}
	return bad;
}

/*
 * Runs the owner's prepare (@commit false) or commit for each replica of
 * @p in a NODE-owned segment: 0, or the first failure's errno. A commit
 * that fails after an owner may have committed (an earlier replica, or
 * one whose answer was lost: -ECONNABORTED from the hook) retires the
 * version at those owners; when one of them cannot be told, the put's
 * outcome is unknown: -ECONNABORTED (a failover may still adopt it, so
 * a definite refusal would be untrue).
 */
static int put_owner_hooks(struct mc_put *p, bool commit, unsigned *failed,
			   struct mc_err *err)
{
	struct mc_store *s = p->store;
	const struct mc_owner_ops *ops = s->o.owner_ops;
	unsigned sent = 0;
	int rc = 0;

	if (!ops)
		return 0;
	for (unsigned i = 0; i < p->nrep; i++) {
		struct mc_owner_blk v;

		if (!blk_seg(p->blk[i])->hooked)
			continue;
		if (s->o.may_act && !s->o.may_act(s->o.may_act_arg)) {
			rc = mc_err_set(err, -EAGAIN, MC_NO_LEADER,
					"this master may not act now: no "
					"leader");
			break;
		}
		put_owner_view(p, i, &v);
		if (!commit)
			v.stamp = atomic_fetch_add(&s->blk_stamp, 1) + 1;
		rc = commit ? (ops->commit ? ops->commit(s->o.owner_arg, &v)
					   : 0)
			    : (ops->prepare ? ops->prepare(s->o.owner_arg, &v)
					    : 0);
		if (rc) {
			bool lost = rc == -ECONNABORTED;

			if (failed)
				*failed = i;
			sent = i + lost; /* [0, i) committed; i maybe */
			rc = mc_err_set(err,
					lost	 ? -EAGAIN
					: rc < 0 ? rc
						 : -EIO,
					MC_WRITE_FAIL,
					"the owner of segment '%s' %s the "
					"put of key '%.*s'",
					v.seg_id,
					lost ? "did not answer the commit of"
					: commit ? "refused to commit"
						 : "refused to prepare",
					KEY_ARG(p->key, p->klen));
			break;
		}
		sent = i + 1;
	}
	if (!rc || !commit || !sent)
		return rc;
	/* the replicas committed already must never come back in a
	 * rebuild: this put fails, or its outcome is unknown */
	if (put_retire_sent(p, sent) < 0)
		return mc_err_set(err, -ECONNABORTED, MC_NO_LEADER,
				  "the put of key '%.*s' may have been "
				  "committed at an owner that could not be "
				  "told otherwise: its outcome is unknown",
				  KEY_ARG(p->key, p->klen));
	return rc;
}

/*
 * Gives @p blocks @blk[0, @n) (or none): a registered put is listed
 * before its blocks are placed, and an unmount looks at the listed puts'
 * blocks (expire_chain), so they change under the pending list's lock.
 */
static void put_set_blocks(struct mc_put *p, struct mc_blk *const *blk,
			   unsigned n)
{
	if (p->registered)
		pthread_mutex_lock(&p->store->pending_lock);
	if (n)
		memcpy(p->blk, blk, n * sizeof(*blk));
	p->nrep = (uint8_t)n;
	if (p->registered)
		pthread_mutex_unlock(&p->store->pending_lock);
}

/* The chain of open registered puts that a put of @key is listed on. */
static struct mc_put **put_chain(struct mc_store *s, const void *key,
				 size_t klen)
{
	return &s->pending[key_hash(key, klen) & (MC_PENDING_BUCKETS - 1)];
}

/*
 * Opens a put of @key. @mem, when not NULL, is where the put lives
 * (PUT_STACK_KEY bytes of key at most, unregistered): its caller's
 * frame, which outlives it; else it is allocated.
 */
static int put_new(struct mc_store *s, const void *key, size_t klen,
		   uint64_t size, bool registered, const struct mc_put_opts *po,
		   struct mc_put *mem, struct mc_put **out, struct mc_err *err)
{
	static const struct mc_put_opts none;
	struct mc_obj *old = NULL;
	struct seg_place pl;
	struct mc_put *p;
	uint64_t version, seq;
	int rc;

	if (!po)
		po = &none;
	if (!po->batch)
		mc_series_add(s->c.put_start, 1);
	rc = put_check(s, key, klen, size, err);
	if (rc < 0)
		goto fail;
	/*
	 * A cluster master notes the key's version before this put's own
	 * (order.c compares what is published after it), and places an
	 * overwrite on the old version's nodes when it can.
	 */
	if (po->no_replace || s->o.owner_ops)
		old = obj_lookup(s, key, klen, false);
	if (po->no_replace && old) {
		rc = mc_err_set(err, -EEXIST, MC_OBJECT_ALREADY_EXISTS,
				"key '%.*s' exists already",
				KEY_ARG(key, klen));
		goto fail;
	}
	if (store_next_version(s, &version, &seq) < 0) {
		rc = mc_err_set(err, -EAGAIN, MC_NO_LEADER,
				"this leader has given every version of its "
				"term and hands over: put again");
		goto fail;
	}
	if (mem) {
		p = mem;
		memset(p, 0, sizeof(*p));
		p->on_stack = true;
	} else {
		p = calloc(1, sizeof(*p) + klen);
	}
	if (!p) {
		rc = mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR,
				"out of memory");
		goto fail;
	}
	p->store = s;
	p->size = size;
	p->klen = klen;
	p->open = true;
	p->batch = po->batch;
	if (po->writer)
		p->writer = *po->writer;
	p->ord.base = old ? old->version : 0;
	p->version = version;
	p->ord.seq = seq;
	memcpy(p->key, key, klen);
	atomic_init(&p->ref, 1);
	p->shared = po->shared;
	if (registered) {
		struct mc_put **chain = put_chain(s, key, klen);

		pthread_mutex_lock(&s->pending_lock);
		for (struct mc_put *q = *chain; q && !p->shared; q = q->next) {
			if (!q->shared && q->klen == klen &&
			    !memcmp(q->key, key, klen)) {
				pthread_mutex_unlock(&s->pending_lock);
				free(p);
				rc = mc_err_set(
					err, -EBUSY, MC_OBJECT_ALREADY_EXISTS,
					"a put of key '%.*s' is already open",
					KEY_ARG(key, klen));
				goto fail;
			}
		}
		/* Listed before allocating, so a racing start sees it. */
		p->registered = true;
		p->deadline_ms = store_now(s) + s->o.put_timeout_ms;
		atomic_fetch_add(&p->ref, 1);
		p->next = *chain;
		*chain = p;
		atomic_fetch_add(&s->npending, 1);
		pthread_mutex_unlock(&s->pending_lock);
	}
	pl = (struct seg_place){
		.want = po->replicas ? po->replicas : s->o.replica_num,
		.prefer = po->prefer,
		.near = po->near,
		.remote_ok = po->remote_ok,
	};
	if (pl.want > MC_REPLICA_MAX)
		pl.want = MC_REPLICA_MAX;
	pl.again = old;
	for (unsigned tries = 1;; tries++) {
		struct mc_blk *blk[MC_REPLICA_MAX];
		unsigned failed = UINT_MAX;

		rc = evict_alloc_replicas(s, size, &pl, blk);
		if (rc < 0) {
			mc_series_add(s->c.alloc_fail, 1);
			rc = mc_err_set(err, rc, MC_NO_AVAILABLE_HANDLE,
					"no space for %llu bytes%s",
					(unsigned long long)size,
					atomic_load(&s->capacity)
						? " even after eviction"
						: ": no segment mounted");
			put_close(p); /* off the pending list, unless the
					 timeout was first */
			put_unref(p);
			goto fail;
		}
		put_set_blocks(p, blk, (unsigned)rc);
		rc = put_owner_hooks(p, false, &failed, err);
		if (rc == 0)
			break;
		if (rc != -EAGAIN || failed >= p->nrep ||
		    tries == PUT_PLACE_TRIES) {
			put_close(p);
			put_kill_blocks(p);
			put_unref(p);
			goto fail;
		}
		/*
		 * Its owner did not answer (a node cut off from the leader,
		 * or going): placed again while others can take it
		 * (mooncake-cluster(7), Placement). The buffers prepared
		 * so far go, and their owners hear it.
		 */
		mc_info("put: '%.*s' placed again: %s", KEY_ARG(key, klen),
			err ? err->msg : "an owner failed");
		seg_shun(p->blk[failed]);
		put_kill_blocks(p);
		memcpy(blk, p->blk, p->nrep * sizeof(*blk));
		rc = p->nrep;
		put_set_blocks(p, NULL, 0);
		while (rc)
			blk_unref(blk[--rc]);
	}
	if (old)
		obj_unref(old);
	old = NULL;
	if (p->nrep < pl.want) {
		/* fewer segments can take it than --replicas asks */
		mc_series_add(s->c.partial_alloc, 1);
		mc_debug("put: '%.*s' got %u of %u replicas",
			 KEY_ARG(key, klen), p->nrep, pl.want);
	}
	if (registered) {
		p->desc = calloc(p->nrep, sizeof(*p->desc));
		if (!p->desc) {
			rc = mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR,
					"out of memory");
			put_close(p);
			put_revoke_closed(p);
			put_unref(p);
			goto fail;
		}
		for (unsigned i = 0; i < p->nrep; i++)
			blk_desc(p->blk[i], size, &p->desc[i]);
	}
	*out = p;
	return 0;
fail:
	if (old)
		obj_unref(old);
	if (!po->batch)
		mc_series_add(s->c.put_start_fail, 1);
	return rc;
}

int mc_put_start(struct mc_store *s, const void *key, size_t klen,
		 uint64_t size, struct mc_put **out, struct mc_err *err)
{
	return mc_put_start_opts(s, key, klen, size, NULL, out, err);
}

int mc_put_start_opts(struct mc_store *s, const void *key, size_t klen,
		      uint64_t size, const struct mc_put_opts *o,
		      struct mc_put **out, struct mc_err *err)
{
	if (s->link)
		return fac_put_start(s, key, klen, size, o, out, err);
	return put_new(s, key, klen, size, true, o, NULL, out, err);
}

int mc_put_begin(struct mc_store *s, const void *key, size_t klen,
		 uint64_t size, struct mc_put **out, struct mc_err *err)
{
	if (s->link)
		return fac_put_begin(s, key, klen, size, out, err);
	return put_new(s, key, klen, size, false, NULL, NULL, out, err);
}

uint64_t mc_put_version(const struct mc_put *p)
{
	return p->version;
}

size_t mc_put_ndesc(const struct mc_put *p)
{
	return p->nrep;
}

const struct mc_desc *mc_put_desc(const struct mc_put *p, size_t i)
{
	/* A local put makes its descriptors on the first ask: its one
	 * holder is the only caller, so nothing races with the fill. */
	struct mc_put *w = (struct mc_put *)p;

	if (w->linked)
		return w->desc ? &w->desc[i] : NULL;
	if (!w->desc) {
		w->desc = calloc(w->nrep ? w->nrep : 1, sizeof(*w->desc));
		if (!w->desc)
			return NULL;
		for (unsigned k = 0; k < w->nrep; k++)
			blk_desc(w->blk[k], w->size, &w->desc[k]);
	}
	return &w->desc[i];
}

void *mc_put_buffer(struct mc_put *p, size_t i)
{
	if (p->linked)
		return p->stage;
	return blk_ptr(p->blk[i]);
}

/*
 * A buffer this large is filled piece by piece over many calls: its
 * first lines leave the caches before its last are written, and the
 * lines it overwrites were freed long ago, so its copies stream whatever
 * the store holds.
 */
#define PUT_WRITE_STREAM_MIN (16u << 20)

int mc_put_write(struct mc_put *p, uint64_t off, const void *src, size_t len)
{
	if (off > p->size || len > p->size - off)
		return -EINVAL;
	copy_in((char *)mc_put_buffer(p, 0) + off, src, len,
		p->size >= PUT_WRITE_STREAM_MIN || store_streams(p->store));
	return 0;
}

/* Extends every buffer of @p in place to @size, or none: 0 or -ENOSPC. */
static int put_extend(struct mc_put *p, uint64_t size)
{
	uint64_t before[MC_REPLICA_MAX];
	unsigned i;
	int rc = 0;

	for (i = 0; i < p->nrep && !rc; i++) {
		struct mc_arena *a = blk_arena(p->blk[i]);

		before[i] = p->blk[i]->size;
		pthread_mutex_lock(&a->lock);
		rc = mc_alloc_extend(a->alloc, p->blk[i], size);
		pthread_mutex_unlock(&a->lock);
	}
	if (rc) {
		/* give back what the others took */
		for (unsigned j = 0; j + 1 < i; j++) {
			struct mc_arena *a = blk_arena(p->blk[j]);

			pthread_mutex_lock(&a->lock);
			mc_alloc_shrink(a->alloc, p->blk[j], before[j]);
			pthread_mutex_unlock(&a->lock);
		}
		return -ENOSPC;
	}
	for (i = 0; i < p->nrep; i++) {
		store_used_add(p->store,
			       (int64_t)(p->blk[i]->size - before[i]));
		blk_set_state(p->blk[i], BLK_PENDING, size);
	}
	p->size = size;
	free(p->desc); /* made again on the next ask, with the new size */
	p->desc = NULL;
	return 0;
}

/* Whether grow and trim may change @p's buffers: local memory whose
 * owner was told no size (a NODE-owned segment's owner was, at prepare). */
static bool put_resizable(const struct mc_put *p)
{
	for (unsigned i = 0; i < p->nrep; i++)
		if (!blk_local(p->blk[i]) || blk_seg(p->blk[i])->hooked)
			return false;
	return !p->registered && p->open;
}

int mc_put_grow(struct mc_put *p, uint64_t size)
{
	if (p->linked)
		return fac_put_grow(p, size);
	if (p->registered || !p->open || size <= p->size)
		return -EINVAL;
	if (size > p->store->o.max_value)
		return -EFBIG;
	return put_resizable(p) ? put_extend(p, size) : -ENOSPC;
}

int mc_put_trim(struct mc_put *p, uint64_t size)
{
	struct mc_store *s = p->store;

	if (p->linked && !p->registered && size && size <= p->size) {
		p->size = size; /* the stage: nothing was allocated yet */
		return 0;
	}
	if (!put_resizable(p) || size == 0 || size > p->size)
		return -EINVAL;
	for (unsigned i = 0; i < p->nrep; i++) {
		struct mc_blk *b = p->blk[i];
		struct mc_arena *a = blk_arena(b);
		uint64_t before = b->size;
		int rc;

		pthread_mutex_lock(&a->lock);
		rc = mc_alloc_shrink(a->alloc, b, size);
		pthread_mutex_unlock(&a->lock);
		if (rc < 0)
			return rc; /* the blocks stay larger: still correct */
		store_used_add(s, -(int64_t)(before - b->size));
	}
	p->size = size;
	for (unsigned i = 0; i < p->nrep; i++)
		blk_set_state(p->blk[i], BLK_PENDING, size);
	free(p->desc);
	p->desc = NULL;
	return 0;
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
		for (struct mc_put **pp = put_chain(s, p->key, p->klen); *pp;
		     pp = &(*pp)->next)
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
		put_unref(p); /* the pending list's reference */
	return won;
}

/* ----------------------------------------------------- writes in flight */

int put_writer_done(struct mc_blk *b)
{
	uint32_t old = atomic_fetch_sub(&b->u.state, BLK_WRITER_ONE);

	/* The last WRITE out of a sealed put wakes its publisher. */
	if ((old & BLK_STATE_MASK) == BLK_SEALED && BLK_WRITERS(old) == 1) {
		struct mc_store *s = blk_seg(b)->store;

		pthread_mutex_lock(&s->drain_lock);
		pthread_cond_broadcast(&s->drain_cond);
		pthread_mutex_unlock(&s->drain_lock);
	}
	return (old & BLK_STATE_MASK) == BLK_DEAD ? -ESTALE : 0;
}

/* Moves the blocks in state @from to @to, keeping the other bits. */
static void blocks_move(struct mc_blk *const *b, unsigned n, uint32_t from,
			uint32_t to)
{
	for (unsigned i = 0; i < n; i++) {
		_Atomic uint32_t *st = &b[i]->u.state;
		uint32_t old = atomic_load(st);

		while ((old & BLK_STATE_MASK) == from &&
		       !atomic_compare_exchange_weak(
			       st, &old, (old & ~BLK_STATE_MASK) | to))
			;
	}
}

static bool blocks_writers(struct mc_blk *const *b, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (BLK_WRITERS(atomic_load(&b[i]->u.state)))
			return true;
	return false;
}

/* The blocks' byte counts go back to being read leases (store_int.h). */
static void blocks_sealed(struct mc_blk *const *b, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		atomic_store(&b[i]->u.written, 0);
}

static void deadline_in(struct timespec *dl, unsigned ms)
{
	clock_gettime(CLOCK_MONOTONIC, dl);
	dl->tv_sec += ms / 1000;
	dl->tv_nsec += (long)(ms % 1000) * 1000000;
	if (dl->tv_nsec >= 1000000000) {
		dl->tv_sec++;
		dl->tv_nsec -= 1000000000;
	}
}

/*
 * A v1 writer is done when it has sent its bytes, which may still be on
 * their way into the buffer; a stalled one may never finish: hence the
 * bounded wait (store_int.h).
 */
int blk_seal(struct mc_store *s, struct mc_blk *const *b, unsigned n,
	     const void *key, size_t klen, unsigned wait_ms, struct mc_err *err)
{
	struct timespec dl;
	bool busy;

	blocks_move(b, n, BLK_PENDING, BLK_SEALED);
	if (!blocks_writers(b, n)) {
		blocks_sealed(b, n);
		return 0;
	}
	deadline_in(&dl, wait_ms);
	pthread_mutex_lock(&s->drain_lock);
	while ((busy = blocks_writers(b, n)) &&
	       pthread_cond_timedwait(&s->drain_cond, &s->drain_lock, &dl) !=
		       ETIMEDOUT)
		;
	busy = blocks_writers(b, n);
	pthread_mutex_unlock(&s->drain_lock);
	if (!busy) {
		blocks_sealed(b, n);
		return 0;
	}
	blocks_move(b, n, BLK_SEALED, BLK_PENDING);
	mc_info("put: the end of key '%.*s' refused: a WRITE into it is "
		"still in flight",
		KEY_ARG(key, klen));
	return mc_err_set(err, -EBUSY, MC_INVALID_WRITE,
			  "a WRITE into the put of key '%.*s' is still in "
			  "flight",
			  KEY_ARG(key, klen));
}

/*
 * Whether every buffer of @p that WRITEs reach through this process's
 * transfer port (local, tcp) has had its bytes delivered; or the put was
 * revoked meanwhile (nothing more to wait for).
 */
static bool put_bytes_in(const struct mc_put *p)
{
	for (unsigned i = 0; i < p->nrep; i++) {
		const struct mc_blk *b = p->blk[i];
		uint32_t st = atomic_load(&b->u.state);

		if ((st & BLK_STATE_MASK) != BLK_PENDING)
			return true;
		if (blk_local(b) && !strcmp(blk_seg(b)->protocol, "tcp") &&
		    atomic_load(&b->u.written) < blk_value_size(b))
			return false;
	}
	return true;
}

/*
 * A v1 WRITE (no status frame) is done for its client once sent, so the
 * client's put_end, on another connection, may come in while the WRITE
 * still waits unread at the transfer port: in its accept queue or in a
 * connection's socket. Sealing then would refuse the WRITE and publish a
 * buffer without its bytes. So a registered put that lacks bytes waits,
 * while the port holds input it has not read (mc_data_ops.input_pending),
 * for that input to be read; a WRITE read meanwhile holds a write pin,
 * which the seal then waits for. Both waits share PUT_DRAIN_MS. A put
 * whose bytes never come is published as it is, as before. Returns the
 * milliseconds left.
 */
static unsigned put_wait_bytes(struct mc_put *p)
{
	const struct mc_store_opts *o = &p->store->o;
	struct timespec t0, t;
	unsigned spent = 0;

	if (!p->registered || !o->data_ops || !o->data_ops->input_pending)
		return PUT_DRAIN_MS;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!put_bytes_in(p) && o->data_ops->input_pending(o->data_arg)) {
		struct timespec nap = {0, 1000000};

		nanosleep(&nap, NULL);
		clock_gettime(CLOCK_MONOTONIC, &t);
		spent = (unsigned)((t.tv_sec - t0.tv_sec) * 1000 +
				   (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (spent >= PUT_DRAIN_MS)
			return 0;
	}
	return PUT_DRAIN_MS - spent;
}

static int put_seal(struct mc_put *p, struct mc_err *err)
{
	unsigned left = put_wait_bytes(p);

	return blk_seal(p->store, p->blk, p->nrep, p->key, p->klen, left, err);
}

/* The owners of @o's replicas in NODE-owned segments, into @own. */
static unsigned obj_owners(const struct mc_obj *o, struct mc_owner *own)
{
	unsigned n = 0;

	for (unsigned i = 0; i < o->nrep && i < MC_REPLICA_MAX; i++)
		if (blk_seg(o->rep[i])->hooked)
			own[n++] = blk_seg(o->rep[i])->owner;
	return n;
}

/*
 * An overwrite (cluster mode): every node that holds a replica of @old
 * and none of the new version (@nown owners in @own) retires @old's
 * records before the put is acknowledged. Else a failover that loses the
 * new version's nodes would find @old committed there, its release
 * still held back by a read lease or queued, and serve it again
 * (mooncake-cluster(7), Owner records). A node that holds the new
 * version needs nothing: a rebuild takes its newer record. With @exact
 * only @old's version goes, at every node that holds it (@nown 0): a put
 * a cluster master did not publish (put_unordered). 0, or -1 when a node
 * could not be told (logged).
 */
static int put_retire_old(struct mc_store *s, const struct mc_owner *own,
			  unsigned nown, const struct mc_obj *old, bool exact)
{
	const struct mc_owner_ops *ops = s->o.owner_ops;
	struct mc_retire r = {obj_key(old), old->klen, old->version};
	int bad = 0;

	for (unsigned i = 0; ops && ops->retire && i < old->nrep; i++) {
		const struct mc_seg *g = blk_seg(old->rep[i]);
		bool skip = !g->hooked;

		for (unsigned j = 0; j < nown && !skip; j++)
			skip = mc_owner_eq(&own[j], &g->owner);
		for (unsigned j = 0; j < i && !skip; j++)
			skip = blk_seg(old->rep[j])->hooked &&
			       mc_owner_eq(&blk_seg(old->rep[j])->owner,
					   &g->owner);
		if (!skip &&
		    ops->retire(s->o.owner_arg, &g->owner, &r, 1, exact) < 0) {
			mc_warn("cluster: node '%s' could not retire the "
				"replaced value of '%.*s' (v%llu): a failover "
				"may bring it back",
				g->owner.id, KEY_ARG(obj_key(old), old->klen),
				(unsigned long long)old->version);
			bad = -1;
		}
	}
	return bad;
}

/* prefetch_reuse fetches at most this much of a freed buffer (bytes) */
#define PUT_REUSE_MAX 4096u
/* lines it fetches at once, then at each of mc_put's two steps (reuse_more) */
#define PUT_REUSE_FIRST 12u
#define PUT_REUSE_STEP	16u

/*
 * The buffer prefetch_reuse named: its address as a number (it may be
 * gone by the time the rest is fetched, and a prefetch never faults),
 * the bytes fetched so far and those to fetch.
 */
static __thread struct {
	uintptr_t p;
	uint32_t done, len;
} reuse;

/* Fetches up to @lines more lines of the buffer prefetch_reuse named. */
static void reuse_more(unsigned lines)
{
	for (; lines && reuse.done < reuse.len; lines--, reuse.done += 64)
		__builtin_prefetch((const void *)(reuse.p + reuse.done), 1);
}

/*
 * Fetches for writing the first PUT_REUSE_MAX bytes of @data, the
 * buffer of the @len-byte value an overwrite just dropped. When that
 * was its last reference, a buffer of up to 64 KiB went back to its
 * arena's park, which hands out the buffer parked last first (alloc.c):
 * the next put of that size, most often this thread's, gets this very
 * one. Its lines were last written by the put before the old version,
 * long out of the caches, so that put's copy would first read each of
 * them (ordinary stores: store_streams false), and its seal, its first
 * locked operation after the copy, would wait for all of them. Fetched
 * ahead, they arrive while the next put hashes, looks up and allocates,
 * as a plain table's copy overlaps its next lookup (bench/RESULTS.md,
 * issue 11's put). Not all at once: each fetch holds one of the core's
 * few line fill buffers until its line comes, so 64 in a row kept this
 * put waiting for most of them. PUT_REUSE_FIRST lines go now, and
 * mc_put fetches the rest in steps (reuse_more) between its own misses,
 * the bucket's and the version's, while those are waited for. A buffer a
 * reader still holds, one over 64 KiB (not parked) or one another put
 * takes costs a wasted fetch.
 */
static void prefetch_reuse(struct mc_store *s, const char *data, uint64_t len)
{
	reuse.len = 0;
	if (!data || store_streams(s))
		return;
	reuse.p = (uintptr_t)data;
	reuse.done = 0;
	reuse.len = (uint32_t)(len > PUT_REUSE_MAX ? PUT_REUSE_MAX : len);
	reuse_more(PUT_REUSE_FIRST);
}

/*
 * Ends put @p whose version @o a cluster master did not publish
 * (obj_publish: @why PUB_SUPERSEDED or PUB_UNSURE): its records go
 * first, at every node (exactly its version: no rebuild serves it,
 * whatever it compares it with), and @o goes. Superseded, it is
 * acknowledged (it is over as if it had ended just before the put or
 * remove that won, order.c); unsure, refused. A node that cannot be
 * told makes its outcome unknown: a failover may bring it back.
 */
static int put_unordered(struct mc_put *p, struct mc_obj *o, int why,
			 bool batch, struct mc_err *err)
{
	int rc = 0;

	mc_debug("put: '%.*s' v%llu %s", KEY_ARG(p->key, p->klen),
		 (unsigned long long)o->version,
		 why == PUB_SUPERSEDED ? "superseded" : "not ordered");
	if (put_retire_old(p->store, NULL, 0, o, true) < 0)
		rc = mc_err_set(
			err, -ECONNABORTED, MC_NO_LEADER,
			"the put of key '%.*s' was overtaken, and a "
			"node could not be told: its outcome is unknown",
			KEY_ARG(p->key, p->klen));
	else if (why == PUB_UNSURE)
		rc = mc_err_set(err, -EAGAIN, MC_WRITE_FAIL,
				"the put of key '%.*s' overlapped more removes "
				"than can be ordered: put it again",
				KEY_ARG(p->key, p->klen));
	obj_unref(o);
	if (rc < 0 && !batch)
		mc_series_add(p->store->c.put_end_fail, 1);
	return rc;
}

/* Publishes a closed put; counts a PutEnd unless @batch. */
static int put_publish(struct mc_put *p, bool copy, bool batch,
		       struct mc_err *err)
{
	struct mc_owner own[MC_REPLICA_MAX];
	struct mc_obj *old;
	unsigned nown = 0;
	struct mc_store *s = p->store;
	struct mc_obj *o;
	int rc;

	if (!batch)
		mc_series_add(s->c.put_end, 1);
	rc = put_owner_hooks(p, true, NULL, err);
	o = rc < 0 ? NULL : obj_new(p->key, p->klen, p->size, p->nrep);
	if (!o) {
		if (!batch)
			mc_series_add(s->c.put_end_fail, 1);
		put_kill_blocks(p);
		return rc < 0 ? rc
			      : mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR,
					   "out of memory");
	}
	if (copy)
		for (unsigned i = 1; i < p->nrep; i++)
			copy_in(blk_ptr(p->blk[i]), blk_ptr(p->blk[0]), p->size,
				store_streams(s));
	for (unsigned i = 0; i < p->nrep; i++)
		o->rep[i] = p->blk[i]; /* the object takes the references */
	o->version = p->version;
	obj_order(o);
	p->nrep = 0;
	mc_debug("put: '%.*s' (%llu bytes, %u replicas)",
		 KEY_ARG(p->key, p->klen), (unsigned long long)p->size,
		 o->nrep);
	/* @o may be gone once published: its owners are noted first */
	nown = obj_owners(o, own);
	rc = obj_publish(s, o, s->o.owner_ops ? &p->ord : NULL, &old);
	if (rc != PUB_DONE) {
		for (unsigned i = 0; i < o->nrep; i++)
			blk_set_state(o->rep[i], BLK_DEAD, o->size);
	}
	if (rc > 0)
		return put_unordered(p, o, rc, batch, err);
	if (rc < 0) {
		if (!batch)
			mc_series_add(s->c.put_end_fail, 1);
		rc = mc_err_set(err, -ETIMEDOUT, MC_INVALID_WRITE,
				"the put of key '%.*s' was revoked: a segment "
				"it wrote to was unmounted",
				KEY_ARG(p->key, p->klen));
		obj_unref(o);
		return rc;
	}
	if (old) {
		char *freed = old->data;
		uint64_t len = old->size;

		(void)put_retire_old(s, own, nown, old, false); /* logged */
		obj_unref(old);
		prefetch_reuse(s, freed, len);
	}
	return 0;
}

static void put_revoke_closed(struct mc_put *p);

int mc_put_commit(struct mc_put *p, bool copy_replicas, struct mc_err *err)
{
	int rc;

	if (p->linked)
		return fac_put_commit(p, err);
	rc = put_seal(p, err);

	if (rc < 0) {
		mc_series_add(p->store->c.put_end, 1);
		mc_series_add(p->store->c.put_end_fail, 1);
		/* Nobody could end a local put later: it goes. */
		if (!p->registered && put_close(p))
			put_revoke_closed(p);
		put_unref(p);
		return rc;
	}
	if (put_close(p)) {
		rc = put_publish(p, copy_replicas, false, err);
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

bool mc_store_pipes(const struct mc_store *s)
{
	return s->link && s->o.data_ops && s->o.data_ops->write_pipe &&
	       s->o.data_ops->read_pipe;
}

int mc_put_commit_pipe(struct mc_put *p, uint64_t hlen, int pfd,
		       struct mc_err *err)
{
	if (!p->linked) {
		int rc = mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				    "this store's puts take no pipe");

		mc_put_abort(p);
		return rc;
	}
	return fac_put_commit_pipe(p, hlen, pfd, err);
}

int mc_put_stream(struct mc_put *p, struct mc_err *err)
{
	if (!p->linked || !mc_store_pipes(p->store))
		return 0;
	return fac_put_stream(p, err);
}

int mc_put_stream_feed(struct mc_put *p, const void *buf, uint64_t n, int pfd,
		       struct mc_err *err)
{
	if (!p->linked)
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "this put does not stream");
	return fac_put_stream_feed(p, buf, n, pfd, err);
}

/*
 * Publishes @size bytes from @src as open local put @p's value, at a new
 * place of exactly @size bytes: the start was counted by mc_put_begin, so
 * the new place counts none and the commit is @p's one PutEnd; when no
 * place can be had, @p is dropped as its PutRevoke. @src may be @p's own
 * buffer, which stays until the copy is done.
 */
static int put_commit_moved(struct mc_put *p, const void *src, uint64_t size,
			    struct mc_err *err)
{
	static const struct mc_put_opts quiet = {.batch = true};
	struct mc_put *q;
	int rc;

	rc = put_new(p->store, p->key, p->klen, size, false, &quiet, NULL, &q,
		     err);
	if (rc < 0) {
		/* no place for the value: its start failed, as a door's
		 * start that finds no room does (counted once, no revoke) */
		mc_series_add(p->store->c.put_start_fail, 1);
		if (put_close(p))
			put_drop_closed(p);
		put_unref(p);
		return rc;
	}
	for (unsigned i = 0; i < q->nrep; i++)
		copy_in(blk_ptr(q->blk[i]), src, size, store_streams(p->store));
	put_close(p); /* not published, not revoked: it moved to q */
	put_unref(p);
	return mc_put_commit(q, false, err);
}

int mc_put_commit_exact(struct mc_put *p, uint64_t size, struct mc_err *err)
{
	if (p->registered || !size || size > p->size) {
		mc_put_abort(p);
		return mc_err_set(
			err, -EINVAL, MC_INVALID_PARAMS,
			"an exact commit of %llu bytes of a %llu-byte "
			"local put",
			(unsigned long long)size, (unsigned long long)p->size);
	}
	if (p->linked && !p->via.started) {
		p->size = size; /* the stage goes as one put of its bytes */
		return fac_put_commit(p, err);
	}
	if (p->linked && size == p->size)
		return fac_put_commit(p, err);
	if (p->linked) {
		mc_put_abort(p);
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "a started put commits its whole size");
	}
	return put_commit_moved(p, blk_ptr(p->blk[0]), size, err);
}

int mc_put_commit_copy(struct mc_put *p, const void *val, uint64_t len,
		       struct mc_err *err)
{
	int rc;

	if (p->registered || !len) {
		mc_put_abort(p);
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "a copied commit of %llu bytes of a %s put",
				  (unsigned long long)len,
				  p->registered ? "two-phase" : "local");
	}
	if (p->linked && p->via.started) {
		mc_put_abort(p);
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "a started put commits its own bytes");
	}
	if (p->linked) {
		/* the stage was never sent: the value goes as one put */
		rc = fac_put(p->store, p->key, p->klen, val, len, err);
		fac_put_free(p);
		return rc;
	}
	return put_commit_moved(p, val, len, err);
}

/* Drops closed put @p: its blocks go; a shared put did not happen. */
static void put_drop_closed(struct mc_put *p)
{
	if (p->shared)
		outcome_note(p->store, p->version, -ECANCELED);
	put_kill_blocks(p);
}

static void put_revoke_closed(struct mc_put *p)
{
	mc_series_add(p->store->c.put_revoke, 1);
	put_drop_closed(p);
}

void mc_put_abort(struct mc_put *p)
{
	if (p->linked) {
		fac_put_free(p);
		return;
	}
	if (put_close(p))
		put_revoke_closed(p);
	put_unref(p);
}

void mc_put_count_dropped(struct mc_store *s)
{
	if (s->link)
		return;
	mc_series_add(s->c.put_start, 1);
	mc_series_add(s->c.put_revoke, 1);
}

void mc_put_release(struct mc_put *p)
{
	if (p->linked) {
		fac_put_free(p);
		return;
	}
	put_unref(p);
}

/*
 * Takes the open registered put of @key off the pending list, when
 * @writer started it: the put (with the pending list's reference), or
 * NULL with *@rc -ENOENT (none open) or -EPERM (another writer's).
 */
static bool put_is(const struct mc_put *p, const void *key, size_t klen,
		   const uint64_t *version)
{
	return p->klen == klen && !memcmp(p->key, key, klen) &&
	       (version ? p->shared && p->version == *version : !p->shared);
}

static struct mc_put *put_take(struct mc_store *s, const void *key, size_t klen,
			       const uint64_t *version,
			       const struct mc_owner *writer, int *rc)
{
	struct mc_put *p = NULL;

	*rc = -ENOENT;
	pthread_mutex_lock(&s->pending_lock);
	for (struct mc_put **pp = put_chain(s, key, klen); *pp;
	     pp = &(*pp)->next) {
		if (put_is(*pp, key, klen, version)) {
			if (!mc_owner_eq(&(*pp)->writer, writer)) {
				*rc = -EPERM;
				break;
			}
			p = *pp;
			*pp = p->next;
			p->open = false;
			atomic_fetch_sub(&s->npending, 1);
			break;
		}
	}
	pthread_mutex_unlock(&s->pending_lock);
	return p;
}

/* The error of a failed put_take, in @err. */
static int put_take_error(int rc, const void *key, size_t klen,
			  struct mc_err *err)
{
	if (rc == -EPERM)
		return mc_err_set(err, rc, MC_ILLEGAL_CLIENT,
				  "the put of key '%.*s' was started by "
				  "another writer",
				  KEY_ARG(key, klen));
	return mc_err_set(err, -ENOENT, MC_OBJECT_NOT_FOUND,
			  "no open put of key '%.*s'", KEY_ARG(key, klen));
}

/*
 * The open registered put of @key, when @writer started it, marked as
 * being ended and with a reference for the caller: it stays listed, so
 * no second start of the key succeeds while its writers drain. NULL with
 * *@rc -ENOENT, -EPERM, or -EBUSY (another end of it is waiting).
 */
static struct mc_put *put_hold_for_end(struct mc_store *s, const void *key,
				       size_t klen, const uint64_t *version,
				       const struct mc_owner *writer, int *rc)
{
	struct mc_put *p = NULL;

	*rc = -ENOENT;
	pthread_mutex_lock(&s->pending_lock);
	for (struct mc_put *q = *put_chain(s, key, klen); q; q = q->next) {
		if (!put_is(q, key, klen, version))
			continue;
		if (!mc_owner_eq(&q->writer, writer))
			*rc = -EPERM;
		else if (q->ending)
			*rc = -EBUSY;
		else
			p = q;
		break;
	}
	if (p) {
		p->ending = true;
		atomic_fetch_add(&p->ref, 1);
	}
	pthread_mutex_unlock(&s->pending_lock);
	return p;
}

/* Remembers how shared put @version ended (under pending_lock). */
static void outcome_note_locked(struct mc_store *s, uint64_t version, int rc)
{
	if (!s->outcomes)
		s->outcomes = calloc(MC_OUTCOME_KEEP, sizeof(*s->outcomes));
	if (!s->outcomes)
		return; /* forgotten: a writer asking learns "unknown" */
	s->outcomes[s->outcome_at++ % MC_OUTCOME_KEEP] =
		(struct put_outcome){version, rc};
}

static void outcome_note(struct mc_store *s, uint64_t version, int rc)
{
	pthread_mutex_lock(&s->pending_lock);
	outcome_note_locked(s, version, rc);
	pthread_mutex_unlock(&s->pending_lock);
}

/* The outcome remembered for @version, or 1 (under pending_lock). */
static int outcome_find_locked(struct mc_store *s, uint64_t version)
{
	for (unsigned i = 0; s->outcomes && i < MC_OUTCOME_KEEP; i++)
		if (s->outcomes[i].version == version)
			return s->outcomes[i].rc;
	return 1;
}

int put_outcome(struct mc_store *s, uint64_t version)
{
	int rc = 1;

	pthread_mutex_lock(&s->pending_lock);
	for (size_t b = 0; b < MC_PENDING_BUCKETS && rc == 1; b++)
		for (struct mc_put *q = s->pending[b]; q && rc == 1;
		     q = q->next)
			if (q->shared && q->version == version)
				rc = -EBUSY;
	if (rc == 1)
		rc = outcome_find_locked(s, version);
	pthread_mutex_unlock(&s->pending_lock);
	return rc == 1 ? -ECONNABORTED : rc;
}

void put_outcome_free(struct mc_store *s)
{
	free(s->outcomes);
	s->outcomes = NULL;
}

static int put_end(struct mc_store *s, const void *key, size_t klen,
		   const uint64_t *version, const struct mc_owner *writer,
		   bool batch, struct mc_err *err)
{
	int rc = obj_key_check(key, klen, err);
	struct mc_put *p;

	if (rc < 0)
		goto fail;
	p = put_hold_for_end(s, key, klen, version, writer, &rc);
	if (!p && rc == -ENOENT && version && *version) {
		/* its writer asks again (its answer was lost): as it went */
		pthread_mutex_lock(&s->pending_lock);
		rc = outcome_find_locked(s, *version);
		pthread_mutex_unlock(&s->pending_lock);
		if (rc == 0)
			return 0;
		if (rc == -ECONNABORTED)
			rc = mc_err_set(err, rc, MC_NO_LEADER,
					"whether the put of key '%.*s' "
					"happened is unknown",
					KEY_ARG(key, klen));
		else if (rc == -ECANCELED)
			rc = mc_err_set(err, rc, MC_NO_LEADER,
					"the put of key '%.*s' did not happen",
					KEY_ARG(key, klen));
		else
			rc = -ENOENT;
		if (rc != -ENOENT)
			goto fail;
	}
	if (!p) {
		if (rc == -EBUSY)
			rc = mc_err_set(err, rc, MC_INVALID_WRITE,
					"the put of key '%.*s' is being ended",
					KEY_ARG(key, klen));
		else
			rc = put_take_error(rc, key, klen, err);
		goto fail;
	}
	rc = put_seal(p, err);
	if (rc == 0 && put_close(p)) {
		rc = put_publish(p, false, batch, err); /* counts itself */
		if (p->shared)
			outcome_note(s, p->version,
				     rc == 0		   ? 0
				     : rc == -ECONNABORTED ? rc
							   : -ECANCELED);
		put_unref(p);
		return rc;
	}
	if (rc == 0)
		rc = mc_err_set(err, -ETIMEDOUT, MC_INVALID_WRITE,
				"the put of key '%.*s' was revoked",
				KEY_ARG(key, klen));
	pthread_mutex_lock(&s->pending_lock);
	p->ending = false; /* it stays open: another end may try again */
	pthread_mutex_unlock(&s->pending_lock);
	put_unref(p);
fail:
	if (!batch) {
		mc_series_add(s->c.put_end, 1);
		mc_series_add(s->c.put_end_fail, 1);
	}
	return rc;
}

int mc_put_end_by(struct mc_store *s, const void *key, size_t klen,
		  const struct mc_owner *writer, bool batch, struct mc_err *err)
{
	if (s->link)
		return fac_put_end(s, key, klen, writer, batch, err);
	return put_end(s, key, klen, NULL, writer, batch, err);
}

int put_end_version(struct mc_store *s, const void *key, size_t klen,
		    uint64_t version, const struct mc_owner *writer, bool batch,
		    struct mc_err *err)
{
	return put_end(s, key, klen, &version, writer, batch, err);
}

/* Counts a PutRevoke unless @batch (mc_batch_count counts the item). */
static int put_revoke(struct mc_store *s, const void *key, size_t klen,
		      const uint64_t *version, const struct mc_owner *writer,
		      bool batch, struct mc_err *err)
{
	int rc = obj_key_check(key, klen, err);
	struct mc_put *p;

	if (rc < 0)
		goto fail;
	p = put_take(s, key, klen, version, writer, &rc);
	if (!p) {
		rc = put_take_error(rc, key, klen, err);
		goto fail;
	}
	if (batch)
		put_drop_closed(p);
	else
		put_revoke_closed(p);
	put_unref(p);
	return 0;
fail:
	if (!batch) {
		mc_series_add(s->c.put_revoke, 1);
		mc_series_add(s->c.put_revoke_fail, 1);
	}
	return rc;
}

int mc_put_revoke_by(struct mc_store *s, const void *key, size_t klen,
		     const struct mc_owner *writer, bool batch,
		     struct mc_err *err)
{
	if (s->link)
		return fac_put_revoke(s, key, klen, writer, batch, err);
	return put_revoke(s, key, klen, NULL, writer, batch, err);
}

int put_revoke_version(struct mc_store *s, const void *key, size_t klen,
		       uint64_t version, const struct mc_owner *writer,
		       bool batch, struct mc_err *err)
{
	return put_revoke(s, key, klen, &version, writer, batch, err);
}

int mc_put_end(struct mc_store *s, const void *key, size_t klen,
	       struct mc_err *err)
{
	return mc_put_end_by(s, key, klen, NULL, false, err);
}

int mc_put_revoke(struct mc_store *s, const void *key, size_t klen,
		  struct mc_err *err)
{
	return mc_put_revoke_by(s, key, klen, NULL, false, err);
}

int mc_put(struct mc_store *s, const void *key, size_t klen, const void *val,
	   size_t len, struct mc_err *err)
{
	/* the put itself lives here: no calloc and free for each one */
	_Alignas(struct mc_put) char mem[sizeof(struct mc_put) + PUT_STACK_KEY];
	struct mc_put *p;
	uint64_t h;
	bool stream, section;
	int rc;

	if (s->link)
		return fac_put(s, key, klen, val, len, err);
	h = key_hash(key, klen);
	/*
	 * One read section around the hints, the allocation and the copy
	 * of a value up to PUT_SECTION_MAX: the sections inside (each hint,
	 * the placement) nest in it, so the put pays one entry's fence, not
	 * four. It ends before the publish, whose retirement of the old
	 * version frees memory only outside a section; and a larger value's
	 * copy would hold every thread's frees back for too long.
	 */
	section = len <= PUT_SECTION_MAX;
	if (section)
		ebr_enter();
	obj_prefetch(s, h, 0, key, klen);
	/* the buffer this put most likely gets: prefetch_reuse */
	reuse_more(PUT_REUSE_STEP);
	rc = put_new(s, key, klen, len, false, NULL,
		     klen <= PUT_STACK_KEY ? (struct mc_put *)mem : NULL, &p,
		     err);
	if (rc < 0) {
		if (section)
			ebr_exit();
		return rc;
	}
	reuse_more(PUT_REUSE_STEP);
	obj_prefetch(s, h, 1, key, klen);
	reuse_more(PUT_REUSE_MAX / 64);
	stream = store_streams(s);
	for (unsigned i = 0; i < p->nrep; i++)
		copy_in(blk_ptr(p->blk[i]), val, len, stream);
	obj_prefetch(s, h, 2, key, klen);
	if (section)
		ebr_exit();
	return mc_put_commit(p, false, err);
}

/*
 * Takes off @chain the puts that put_expire_some's arguments hit, onto
 * *@gone. Called with the pending lock held.
 */
static void expire_chain(struct mc_store *s, struct mc_put **chain,
			 uint64_t now, struct mc_seg *g,
			 const struct mc_owner *writer, struct mc_put **gone)
{
	for (struct mc_put **pp = chain; *pp;) {
		struct mc_put *p = *pp;
		bool hit = writer ? mc_owner_eq(&p->writer, writer)
				  : !g && p->deadline_ms <= now;

		for (unsigned i = 0; g && i < p->nrep; i++)
			hit |= blk_seg(p->blk[i]) == g;
		if (!hit) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		p->open = false;
		atomic_fetch_sub(&s->npending, 1);
		if (!writer && !g) {
			/* timed out: upstream's discarded PutStart */
			p->discarded = true;
			mc_series_add(s->c.discard_cnt, 1);
			atomic_fetch_add(&s->discard_staging, put_bytes(p));
		}
		p->next = *gone;
		*gone = p;
	}
}

/*
 * Revokes the two-phase puts whose time is up, or that hold a buffer in
 * segment @g (when not NULL), or that @writer started (when not NULL);
 * returns how many.
 */
static size_t put_expire_some(struct mc_store *s, uint64_t now,
			      struct mc_seg *g, const struct mc_owner *writer)
{
	struct mc_put *gone = NULL;
	size_t n = 0;

	if (!atomic_load(&s->npending))
		return 0; /* the sweep of an idle store takes no lock */
	pthread_mutex_lock(&s->pending_lock);
	for (size_t b = 0; b < MC_PENDING_BUCKETS; b++)
		expire_chain(s, &s->pending[b], now, g, writer, &gone);
	pthread_mutex_unlock(&s->pending_lock);
	while (gone) {
		struct mc_put *next = gone->next;

		mc_info("put: revoked the unfinished put of key '%.*s'",
			KEY_ARG(gone->key, gone->klen));
		put_revoke_closed(gone);
		put_unref(gone);
		gone = next;
		n++;
	}
	return n;
}

void put_expire(struct mc_store *s, uint64_t now, struct mc_seg *g)
{
	put_expire_some(s, now, g, NULL);
}

size_t put_revoke_writer(struct mc_store *s, const struct mc_owner *writer)
{
	return put_expire_some(s, 0, NULL, writer);
}

size_t mc_put_revoke_writer(struct mc_store *s, const struct mc_owner *writer)
{
	return put_revoke_writer(s, writer);
}
