/*
 * put.c - puts: one-shot (mc_put), local streamed (mc_put_begin) and
 * two-phase for remote writers (mc_put_start .. end/revoke), with the
 * timeout that revokes unfinished ones.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "store_int.h"

/* ------------------------------------------------------------------ puts */

static int put_check(struct mc_store *s, const void *key, size_t klen,
		     uint64_t size, struct mc_err *err)
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

static void put_unref(struct mc_put *p)
{
	if (atomic_fetch_sub(&p->ref, 1) != 1)
		return;
	put_kill_blocks(p);
	for (unsigned i = 0; i < p->nrep; i++)
		blk_unref(p->blk[i]);
	free(p->desc);
	free(p);
}

static bool put_close(struct mc_put *p);
static void put_revoke_closed(struct mc_put *p);

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
		rc = mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR,
				"out of memory");
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
		p->next = s->pending;
		s->pending = p;
		atomic_fetch_add(&s->npending, 1);
		pthread_mutex_unlock(&s->pending_lock);
	}
	rc = evict_alloc_replicas(s, size, p->blk);
	if (rc < 0) {
		mc_series_add(s->c.alloc_fail, 1);
		rc = mc_err_set(
			err, rc, MC_NO_AVAILABLE_HANDLE,
			"no space for %llu bytes%s", (unsigned long long)size,
			atomic_load(&s->capacity) ? " even after eviction"
						  : ": no segment mounted");
		put_close(p); /* off the pending list, unless the timeout was
				 first */
		put_unref(p);
		goto fail;
	}
	p->nrep = (uint8_t)rc;
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
	return p->desc ? &p->desc[i] : NULL;
}

void *mc_put_buffer(struct mc_put *p, size_t i)
{
	return blk_ptr(p->blk[i]);
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
	return 0;
}

int mc_put_grow(struct mc_put *p, uint64_t size)
{
	if (p->registered || !p->open || size <= p->size)
		return -EINVAL;
	if (size > p->store->o.max_value)
		return -EFBIG;
	return put_extend(p, size);
}

int mc_put_trim(struct mc_put *p, uint64_t size)
{
	struct mc_store *s = p->store;

	if (p->registered || !p->open || size == 0 || size > p->size)
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
		put_unref(p); /* the pending list's reference */
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
		return mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR,
				  "out of memory");
	}
	if (copy)
		for (unsigned i = 1; i < p->nrep; i++)
			memcpy(blk_ptr(p->blk[i]), blk_ptr(p->blk[0]), p->size);
	for (unsigned i = 0; i < p->nrep; i++)
		o->rep[i] = p->blk[i]; /* the object takes the references */
	p->nrep = 0;
	mc_debug("put: '%.*s' (%llu bytes, %u replicas)",
		 KEY_ARG(p->key, p->klen), (unsigned long long)p->size,
		 o->nrep);
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
static struct mc_put *put_take(struct mc_store *s, const void *key, size_t klen)
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
	return p; /* with the pending list's reference */
}

int mc_put_end(struct mc_store *s, const void *key, size_t klen,
	       struct mc_err *err)
{
	int rc = obj_key_check(key, klen, err);
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
	int rc = obj_key_check(key, klen, err);
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
void put_expire(struct mc_store *s, uint64_t now, struct mc_seg *g)
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

		mc_info("put: revoked the unfinished put of key '%.*s'",
			KEY_ARG(gone->key, gone->klen));
		put_revoke_closed(gone);
		put_unref(gone);
		gone = next;
	}
}
