/*
 * owner.c - a cluster node's owner records (mooncake.h, cluster): for
 * every block the master allocated in this node's memory, the key,
 * version and value size of its put, and whether the put was committed;
 * and the owner's side of the cluster wire (mc_owner_serve).
 *
 * A record holds one reference on its block, which it reserved at the
 * very address the master chose (mc_alloc_reserve), so the transfer
 * port's pins serve it unchanged: a pending record's block is PENDING
 * (WRITEs land), a committed one's LIVE (READs read). Records are found
 * by their block's place (segment, offset) in one hash table under one
 * mutex: owner calls come a few per put, never under a store lock, and
 * the table lock is taken alone (an arena lock is never held with it).
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "store_int.h"
#include "wire.h"

struct orec {
	struct orec *next;     /* hash chain by place */
	struct orec *next_key; /* hash chain by key */
	struct mc_seg *g;      /* kept allocated by the block's arena */
	struct mc_blk *b;      /* the record's reference */
	uint64_t off;	       /* the block's offset in g */
	uint64_t value_size, version, term, stamp, deadline_ms;
	bool committed;
	bool retired; /* mc_owner_retire */
	size_t klen;
	char key[];
};

struct owner_tab {
	pthread_mutex_t lock;
	struct orec **b;  /* by place */
	struct orec **kb; /* by key */
	size_t mask;	  /* buckets - 1, both tables */
	size_t n;
};

/* How long a prepare waits for readers of a stale block in its way. */
#define OWNER_BUSY_MS 200

static size_t bucket(const struct owner_tab *t, const struct mc_seg *g,
		     uint64_t off)
{
	uint64_t h = ((uint64_t)(uintptr_t)g ^ off) * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 17) & t->mask;
}

static size_t kbucket(const struct owner_tab *t, const void *key, size_t klen)
{
	return (size_t)key_hash(key, klen) & t->mask;
}

int owner_init(struct mc_store *s)
{
	struct owner_tab *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->mask = 255;
	t->b = calloc(t->mask + 1, sizeof(*t->b));
	t->kb = calloc(t->mask + 1, sizeof(*t->kb));
	if (!t->b || !t->kb) {
		free(t->b);
		free(t->kb);
		free(t);
		return -ENOMEM;
	}
	pthread_mutex_init(&t->lock, NULL);
	s->owner = t;
	return 0;
}

/* Doubles the table when it is full; under t->lock. */
static void tab_grow(struct owner_tab *t)
{
	size_t nmask = t->mask * 2 + 1;
	struct owner_tab tmp = {.mask = nmask};
	struct orec **nb, **nkb;

	if (t->n < t->mask + 1)
		return;
	nb = calloc(nmask + 1, sizeof(*nb));
	nkb = calloc(nmask + 1, sizeof(*nkb));
	if (!nb || !nkb) {
		free(nb);
		free(nkb);
		return; /* longer chains, still correct */
	}
	for (size_t i = 0; i <= t->mask; i++) {
		while (t->b[i]) {
			struct orec *r = t->b[i];
			size_t k = bucket(&tmp, r->g, r->off);

			t->b[i] = r->next;
			r->next = nb[k];
			nb[k] = r;
		}
		while (t->kb[i]) {
			struct orec *r = t->kb[i];
			size_t k = kbucket(&tmp, r->key, r->klen);

			t->kb[i] = r->next_key;
			r->next_key = nkb[k];
			nkb[k] = r;
		}
	}
	free(t->b);
	free(t->kb);
	t->b = nb;
	t->kb = nkb;
	t->mask = nmask;
}

/* Takes @r out of both tables (*@pp points at it by place); under lock. */
static void tab_unlink(struct owner_tab *t, struct orec **pp)
{
	struct orec *r = *pp, **kp = &t->kb[kbucket(t, r->key, r->klen)];

	*pp = r->next;
	while (*kp != r)
		kp = &(*kp)->next_key;
	*kp = r->next_key;
	t->n--;
}

/* The link that points at the record of (g, off); under t->lock. */
static struct orec **tab_find(struct owner_tab *t, const struct mc_seg *g,
			      uint64_t off)
{
	struct orec **pp = &t->b[bucket(t, g, off)];

	while (*pp && ((*pp)->g != g || (*pp)->off != off))
		pp = &(*pp)->next;
	return pp;
}

/* A record taken out of the table goes: its block is no longer readable. */
static void rec_drop(struct orec *r)
{
	blk_set_state(r->b, BLK_DEAD, r->value_size);
	blk_unref(r->b);
	free(r);
}

/* Raises the owner's term to @term: 0, or -ESTALE when @term is older. */
static int term_check(struct mc_store *s, uint64_t term, struct mc_err *err)
{
	uint64_t cur = atomic_load(&s->owner_term);

	while (term > cur &&
	       !atomic_compare_exchange_weak(&s->owner_term, &cur, term))
		;
	if (term < cur)
		return mc_err_set(err, -ESTALE, MC_STALE_TERM,
				  "term %llu is older than this node's %llu",
				  (unsigned long long)term,
				  (unsigned long long)cur);
	return 0;
}

uint64_t mc_owner_term(struct mc_store *s)
{
	return atomic_load(&s->owner_term);
}

int mc_owner_term_adopt(struct mc_store *s, uint64_t term, struct mc_err *err)
{
	return term_check(s, term, err);
}

/*
 * The local segment of @b with a reference, and the block's offset in
 * it, or NULL with @err (-ENOENT).
 */
static struct mc_seg *rec_seg(struct mc_store *s, const struct mc_owner_blk *b,
			      uint64_t *off, struct mc_err *err)
{
	struct mc_seg *g = b->seg_id ? seg_get(s, b->seg_id) : NULL;
	uint64_t base;

	if (!g) {
		mc_err_set(err, -ENOENT, MC_SEGMENT_NOT_FOUND,
			   "segment '%s' not found",
			   b->seg_id ? b->seg_id : "");
		return NULL;
	}
	base = (uint64_t)(uintptr_t)g->base;
	if (g->kind == MC_SEG_REMOTE || b->addr < base ||
	    b->addr - base >= g->size) {
		mc_err_set(err, -ENOENT, MC_INVALID_PARAMS,
			   "address %llu is not inside segment '%s'",
			   (unsigned long long)b->addr, g->id);
		seg_unref(g);
		return NULL;
	}
	*off = b->addr - base;
	return g;
}

static bool rec_is(const struct orec *r, const struct mc_owner_blk *b)
{
	return r->version == b->version && r->klen == b->klen &&
	       !memcmp(r->key, b->key, b->klen);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {0, (long)ms * 1000000};

	nanosleep(&ts, NULL);
}

/*
 * Reserves the block of @b at @off of @g, dropping the records in the
 * way: 0 and *@out, 1 when the very record exists already, or -errno
 * with @err.
 */
static int rec_reserve(struct mc_store *s, struct mc_seg *g, uint64_t off,
		       const struct mc_owner_blk *b, struct mc_blk **out,
		       struct mc_err *err)
{
	struct owner_tab *t = s->owner;
	uint64_t bsize = buf_round(b->size);

	for (unsigned waited = 0;;) {
		uint64_t in_way = 0;
		struct orec **pp, *r = NULL;
		int rc = seg_reserve(s, g, off, b->size, out, &in_way);

		if (rc == 0)
			return 0;
		if (rc != -EBUSY)
			return mc_err_set(err, rc == -ENOMEM ? rc : -ENOENT,
					  MC_INVALID_PARAMS,
					  "cannot reserve %llu bytes at "
					  "offset %llu of segment '%s'",
					  (unsigned long long)b->size,
					  (unsigned long long)off, g->id);
		pthread_mutex_lock(&t->lock);
		pp = tab_find(t, g, in_way);
		if (*pp && in_way == off && rec_is(*pp, b) &&
		    (*pp)->b->size == bsize) {
			pthread_mutex_unlock(&t->lock);
			return 1;
		}
		if (*pp) {
			r = *pp;
			tab_unlink(t, pp);
		}
		pthread_mutex_unlock(&t->lock);
		if (r) {
			/* its release is on the way: the master freed it */
			mc_debug("owner: '%.*s' v%llu at offset %llu of '%s' "
				 "goes before its release: the range was "
				 "handed out again",
				 KEY_ARG(r->key, r->klen),
				 (unsigned long long)r->version,
				 (unsigned long long)r->off, g->id);
			rec_drop(r);
			continue;
		}
		/* no record: a reader still holds a dropped one's block */
		if (waited >= OWNER_BUSY_MS)
			return mc_err_set(err, -EBUSY, MC_INVALID_WRITE,
					  "the range at offset %llu of "
					  "segment '%s' is still being read",
					  (unsigned long long)in_way, g->id);
		sleep_ms(1);
		waited++;
	}
}

int mc_owner_prepare(struct mc_store *s, const struct mc_owner_blk *b,
		     struct mc_err *err)
{
	struct owner_tab *t = s->owner;
	struct mc_blk *blk;
	struct mc_seg *g;
	struct orec *r, **pp;
	uint64_t off;
	int rc;

	if (!t)
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "not an owner store");
	rc = term_check(s, b->term, err);
	if (rc < 0)
		return rc;
	rc = obj_key_check(b->key, b->klen, err);
	if (rc < 0)
		return rc;
	if (!b->value_size || b->value_size > b->size ||
	    b->size - b->value_size >= MC_BUF_ALIGN)
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "value size %llu does not fit block size "
				  "%llu",
				  (unsigned long long)b->value_size,
				  (unsigned long long)b->size);
	g = rec_seg(s, b, &off, err);
	if (!g)
		return -ENOENT;
	r = malloc(sizeof(*r) + b->klen);
	if (!r) {
		seg_unref(g);
		return mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR,
				  "out of memory");
	}
	rc = rec_reserve(s, g, off, b, &blk, err);
	if (rc) {
		free(r);
		seg_unref(g);
		return rc < 0 ? rc : 0;
	}
	blk_set_state(blk, BLK_PENDING, b->value_size);
	*r = (struct orec){
		.g = g,
		.b = blk,
		.off = off,
		.value_size = b->value_size,
		.version = b->version,
		.term = b->term,
		.stamp = b->stamp,
		.deadline_ms = store_now(s) + s->o.put_timeout_ms,
		.klen = b->klen,
	};
	memcpy(r->key, b->key, b->klen);
	pthread_mutex_lock(&t->lock);
	tab_grow(t);
	pp = tab_find(t, g, off);
	r->next = *pp; /* NULL: the range was free */
	*pp = r;
	pp = &t->kb[kbucket(t, r->key, r->klen)];
	r->next_key = *pp;
	*pp = r;
	t->n++;
	pthread_mutex_unlock(&t->lock);
	seg_unref(g);
	return 0;
}

int mc_owner_commit(struct mc_store *s, const struct mc_owner_blk *b,
		    struct mc_err *err)
{
	struct owner_tab *t = s->owner;
	struct mc_blk *blk = NULL;
	struct mc_seg *g;
	struct orec *r;
	uint64_t off;
	bool done = false;
	int rc;

	if (!t)
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "not an owner store");
	rc = term_check(s, b->term, err);
	if (rc < 0)
		return rc;
	g = rec_seg(s, b, &off, err);
	if (!g)
		return -ENOENT;
	pthread_mutex_lock(&t->lock);
	r = *tab_find(t, g, off);
	if (r && rec_is(r, b) && !r->retired) {
		done = r->committed;
		blk = r->b;
		atomic_fetch_add(&blk->u.ref, 1);
	}
	pthread_mutex_unlock(&t->lock);
	if (!blk) {
		seg_unref(g);
		return mc_err_set(err, -ENOENT, MC_OBJECT_NOT_FOUND,
				  "no pending record of key '%.*s' v%llu at "
				  "offset %llu of segment '%s'",
				  KEY_ARG(b->key, b->klen),
				  (unsigned long long)b->version,
				  (unsigned long long)off, g->id);
	}
	rc = done ? 0
		  : blk_seal(s, &blk, 1, b->key, b->klen, PUT_DRAIN_MS, err);
	if (rc == 0 && !done) {
		pthread_mutex_lock(&t->lock);
		r = *tab_find(t, g, off);
		if (r && r->b == blk && r->retired) {
			rc = mc_err_set(err, -ENOENT, MC_OBJECT_NOT_FOUND,
					"the put of key '%.*s' v%llu was "
					"retired",
					KEY_ARG(b->key, b->klen),
					(unsigned long long)b->version);
		} else if (r && r->b == blk &&
			   b->term < atomic_load(&s->owner_term)) {
			/*
			 * A newer master took this node's report while the
			 * commit waited: the report said pending, so this
			 * commit must not happen (the table lock orders the
			 * two; the report raised the term before it).
			 */
			rc = mc_err_set(err, -ESTALE, MC_STALE_TERM,
					"term %llu ended during the commit",
					(unsigned long long)b->term);
		} else if (r && r->b == blk) {
			blk_set_state(blk, BLK_LIVE, r->value_size);
			r->committed = true;
		} else {
			rc = mc_err_set(err, -ENOENT, MC_OBJECT_NOT_FOUND,
					"the record of key '%.*s' went during "
					"its commit",
					KEY_ARG(b->key, b->klen));
		}
		pthread_mutex_unlock(&t->lock);
	}
	blk_unref(blk);
	seg_unref(g);
	return rc;
}

void mc_owner_release(struct mc_store *s, const struct mc_owner_blk *b)
{
	struct owner_tab *t = s->owner;
	struct mc_seg *g;
	struct orec **pp, *r = NULL;
	uint64_t off;

	if (!t || term_check(s, b->term, NULL) < 0)
		return;
	g = rec_seg(s, b, &off, NULL);
	if (!g)
		return;
	pthread_mutex_lock(&t->lock);
	pp = tab_find(t, g, off);
	/* an older release of this range names an older record: keep */
	if (*pp && ((*pp)->term < b->term ||
		    ((*pp)->term == b->term && (*pp)->stamp <= b->stamp))) {
		r = *pp;
		tab_unlink(t, pp);
	}
	pthread_mutex_unlock(&t->lock);
	if (r)
		rec_drop(r);
	seg_unref(g);
}

/* Takes out every record @pick chooses; under no lock. */
static struct orec *
tab_take(struct owner_tab *t,
	 bool (*pick)(const struct orec *r, const void *arg), const void *arg)
{
	struct orec *gone = NULL;

	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i <= t->mask; i++) {
		for (struct orec **pp = &t->b[i]; *pp;) {
			struct orec *r = *pp;

			if (!pick(r, arg)) {
				pp = &r->next;
				continue;
			}
			tab_unlink(t, pp);
			r->next = gone;
			gone = r;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return gone;
}

static void drop_list(struct orec *r)
{
	while (r) {
		struct orec *next = r->next;

		rec_drop(r);
		r = next;
	}
}

static bool pick_expired(const struct orec *r, const void *arg)
{
	return !r->committed && r->deadline_ms <= *(const uint64_t *)arg;
}

void owner_tick(struct mc_store *s, uint64_t now)
{
	struct orec *gone;

	if (!s->owner)
		return;
	gone = tab_take(s->owner, pick_expired, &now);
	for (struct orec *r = gone; r; r = r->next)
		mc_info("owner: the pending record of '%.*s' v%llu timed out",
			KEY_ARG(r->key, r->klen),
			(unsigned long long)r->version);
	drop_list(gone);
}

static bool pick_seg(const struct orec *r, const void *arg)
{
	return r->g == arg;
}

void owner_drop_seg(struct mc_store *s, struct mc_seg *g)
{
	if (s->owner)
		drop_list(tab_take(s->owner, pick_seg, g));
}

static bool pick_all(const struct orec *r, const void *arg)
{
	return true;
}

void owner_free(struct mc_store *s)
{
	struct owner_tab *t = s->owner;

	if (!t)
		return;
	drop_list(tab_take(t, pick_all, NULL));
	pthread_mutex_destroy(&t->lock);
	free(t->b);
	free(t->kb);
	free(t);
	s->owner = NULL;
}

int mc_owner_retire(struct mc_store *s, uint64_t term,
		    const struct mc_retire *rt, bool exact, struct mc_err *err)
{
	struct owner_tab *t = s->owner;
	int rc;

	if (!t)
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "not an owner store");
	rc = term_check(s, term, err);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&t->lock);
	for (struct orec *r = t->kb[kbucket(t, rt->key, rt->klen)]; r;
	     r = r->next_key)
		/* exact: a failed put's, whose commit may still come in
		 * (pending records too); else a remove's */
		if ((r->committed || exact) && r->klen == rt->klen &&
		    !memcmp(r->key, rt->key, rt->klen) &&
		    (exact ? r->version == rt->version
			   : r->version <= rt->version))
			r->retired = true;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

struct mc_blk *owner_ref(struct mc_store *s, const char *seg_id, uint64_t addr,
			 const void *key, size_t klen, uint64_t version)
{
	struct owner_tab *t = s->owner;
	struct mc_owner_blk b = {.seg_id = seg_id,
				 .addr = addr,
				 .size = 1,
				 .key = key,
				 .klen = klen,
				 .version = version};
	struct mc_blk *blk = NULL;
	struct mc_seg *g;
	struct orec *r;
	uint64_t off;

	if (!t)
		return NULL;
	g = rec_seg(s, &b, &off, NULL);
	if (!g)
		return NULL;
	pthread_mutex_lock(&t->lock);
	r = *tab_find(t, g, off);
	if (r && r->committed && rec_is(r, &b)) {
		blk = r->b;
		atomic_fetch_add(&blk->u.ref, 1);
	}
	pthread_mutex_unlock(&t->lock);
	seg_unref(g);
	return blk;
}

size_t mc_owner_count(struct mc_store *s)
{
	size_t n;

	if (!s->owner)
		return 0;
	pthread_mutex_lock(&s->owner->lock);
	n = s->owner->n;
	pthread_mutex_unlock(&s->owner->lock);
	return n;
}

/* A record as a report tells it, copied out of the table. */
struct rec_copy {
	char seg_id[MC_ID_LEN + 1];
	uint64_t addr, size, value_size, version, term, stamp;
	bool committed, retired;
	size_t klen;
	char *key;
};

int mc_owner_report(struct mc_store *s,
		    int (*seg)(const struct mc_seg_info *si, void *arg),
		    int (*rec)(const struct mc_owner_rec *r, void *arg),
		    void *arg)
{
	struct owner_tab *t = s->owner;
	struct rec_copy *v = NULL;
	size_t n = 0;
	int rc = 0;

	if (seg)
		rc = seg_foreach_local(s, seg, arg);
	if (rc || !t || !rec)
		return rc;
	pthread_mutex_lock(&t->lock);
	v = calloc(t->n ? t->n : 1, sizeof(*v));
	for (size_t i = 0; v && i <= t->mask; i++) {
		for (struct orec *r = t->b[i]; r; r = r->next) {
			struct rec_copy *c = &v[n];

			c->key = malloc(r->klen + 1);
			if (!c->key) {
				rc = -ENOMEM;
				break;
			}
			memcpy(c->key, r->key, r->klen);
			c->key[r->klen] = '\0';
			c->klen = r->klen;
			memcpy(c->seg_id, r->g->id, sizeof(c->seg_id));
			c->addr = (uint64_t)(uintptr_t)r->g->base + r->off;
			c->size = r->b->size;
			c->value_size = r->value_size;
			c->version = r->version;
			c->term = r->term;
			c->stamp = r->stamp;
			c->committed = r->committed;
			c->retired = r->retired;
			n++;
		}
	}
	pthread_mutex_unlock(&t->lock);
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n && !rc; i++) {
		struct mc_owner_rec o = {
			.seg_id = v[i].seg_id,
			.addr = v[i].addr,
			.size = v[i].size,
			.value_size = v[i].value_size,
			.key = v[i].key,
			.klen = v[i].klen,
			.version = v[i].version,
			.term = v[i].term,
			.stamp = v[i].stamp,
			.committed = v[i].committed,
			.retired = v[i].retired,
		};

		rc = rec(&o, arg);
	}
	for (size_t i = 0; i < n; i++)
		free(v[i].key);
	free(v);
	return rc;
}

/* ------------------------------------------------------------- the wire */

static void msg_head(struct mc_buf *out, enum mc_owner_op op, uint64_t term)
{
	wire_u32(out, WIRE_OWNER_REQ);
	wire_u16(out, (uint16_t)op);
	wire_u16(out, 0);
	wire_u64(out, term);
}

void mc_owner_msg_blk(struct mc_buf *out, enum mc_owner_op op,
		      const struct mc_owner_blk *b)
{
	msg_head(out, op, b->term);
	wire_str(out, b->seg_id);
	wire_u64(out, b->addr);
	wire_u64(out, b->size);
	wire_u64(out, b->value_size);
	wire_u64(out, b->version);
	wire_u64(out, b->stamp);
	wire_bytes(out, b->key, b->klen);
}

void mc_owner_msg_release(struct mc_buf *out, uint64_t term,
			  const struct mc_owner_blk *b, size_t n)
{
	msg_head(out, MC_OWNER_RELEASE, term);
	wire_u32(out, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		wire_str(out, b[i].seg_id);
		wire_u64(out, b[i].addr);
		wire_u64(out, b[i].size);
		wire_u64(out, b[i].stamp);
	}
}

void mc_owner_msg_report(struct mc_buf *out, uint64_t term)
{
	msg_head(out, MC_OWNER_REPORT, term);
}

void mc_owner_msg_unmount(struct mc_buf *out, uint64_t term, const char *seg_id,
			  unsigned grace_s)
{
	msg_head(out, MC_OWNER_UNMOUNT, term);
	wire_str(out, seg_id);
	wire_u32(out, grace_s);
}

void mc_owner_msg_retire(struct mc_buf *out, uint64_t term,
			 const struct mc_retire *r, size_t n, bool exact)
{
	msg_head(out, MC_OWNER_RETIRE, term);
	wire_u8(out, exact);
	wire_u32(out, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		wire_bytes(out, r[i].key, r[i].klen);
		wire_u64(out, r[i].version);
	}
}

int mc_owner_msg_result(const void *resp, size_t len, struct mc_err *err)
{
	struct wire_rd r;
	int32_t rc, code;
	char msg[sizeof(err->msg)] = "";

	wire_rd_init(&r, resp, len);
	if (wire_get_u32(&r) != WIRE_OWNER_RSP)
		r.bad = true;
	wire_get_u64(&r); /* the owner's term */
	rc = (int32_t)wire_get_u32(&r);
	code = (int32_t)wire_get_u32(&r);
	if (rc < 0)
		wire_get_str(&r, msg, sizeof(msg));
	if (r.bad || rc > 0 || rc < -4095)
		return mc_err_set(err, -EPROTO, MC_RPC_FAIL,
				  "an owner's answer that is not one");
	if (rc < 0)
		wire_answer_err(err, rc, code, msg, "owner");
	return rc;
}

/* What a report answers: the segments, then the records. */
struct report_out {
	struct mc_buf *b;
	size_t nseg_at, nrec_at;
	uint32_t nseg, nrec;
};

static int report_seg(const struct mc_seg_info *si, void *arg)
{
	struct report_out *o = arg;

	wire_seg_info(o->b, si);
	o->nseg++;
	return 0;
}

static int report_rec(const struct mc_owner_rec *rc, void *arg)
{
	struct report_out *o = arg;

	wire_str(o->b, rc->seg_id);
	wire_u64(o->b, rc->addr);
	wire_u64(o->b, rc->size);
	wire_u64(o->b, rc->value_size);
	wire_u64(o->b, rc->version);
	wire_u64(o->b, rc->term);
	wire_u64(o->b, rc->stamp);
	wire_u8(o->b, (uint8_t)(rc->committed | rc->retired << 1));
	wire_bytes(o->b, rc->key, rc->klen);
	o->nrec++;
	return 0;
}

static void put_u32_at(struct mc_buf *b, size_t at, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b->data[at + i] = (char)(v >> (8 * i));
}

/* Appends the report's body (after the answer's head). */
static int report_body(struct mc_store *s, struct mc_buf *out)
{
	struct report_out o = {.b = out};
	int rc;

	o.nseg_at = out->len;
	wire_u32(out, 0);
	rc = seg_foreach_local(s, report_seg, &o);
	if (rc == 0) {
		put_u32_at(out, o.nseg_at, o.nseg);
		o.nrec_at = out->len;
		wire_u32(out, 0);
		rc = mc_owner_report(s, NULL, report_rec, &o);
		put_u32_at(out, o.nrec_at, o.nrec);
	}
	return rc;
}

#define RSP_HEAD WIRE_OWNER_RSP_HEAD

static void put_u64_at(struct mc_buf *b, size_t at, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		b->data[at + i] = (char)(v >> (8 * i));
}

int mc_owner_serve(struct mc_store *own, const void *req, size_t len,
		   struct mc_buf *resp)
{
	struct mc_owner_blk b = {0};
	struct mc_err err = {0};
	struct wire_rd r;
	char seg_id[MC_ID_LEN + 1];
	size_t head, n;
	uint16_t op;
	int rc = 0;

	wire_rd_init(&r, req, len);
	if (wire_get_u32(&r) != WIRE_OWNER_REQ)
		return -EPROTO;
	op = wire_get_u16(&r);
	wire_get_u16(&r);
	b.term = wire_get_u64(&r);
	if (r.bad)
		return -EPROTO;
	head = resp->len;
	wire_u32(resp, WIRE_OWNER_RSP);
	wire_u64(resp, 0); /* filled in below, with the outcome */
	wire_u32(resp, 0);
	wire_u32(resp, 0);
	switch (op) {
	case MC_OWNER_PREPARE:
	case MC_OWNER_COMMIT:
		wire_get_str(&r, seg_id, sizeof(seg_id));
		b.seg_id = seg_id;
		b.addr = wire_get_u64(&r);
		b.size = wire_get_u64(&r);
		b.value_size = wire_get_u64(&r);
		b.version = wire_get_u64(&r);
		b.stamp = wire_get_u64(&r);
		b.key = wire_get_bytes(&r, &b.klen);
		if (r.bad || r.left)
			goto bad;
		rc = op == MC_OWNER_PREPARE ? mc_owner_prepare(own, &b, &err)
					    : mc_owner_commit(own, &b, &err);
		break;
	case MC_OWNER_RELEASE:
		n = wire_get_count(&r, WIRE_COUNT_MAX, 4 + 24);
		rc = term_check(own, b.term, &err);
		for (size_t i = 0; i < n && !r.bad; i++) {
			wire_get_str(&r, seg_id, sizeof(seg_id));
			b.seg_id = seg_id;
			b.addr = wire_get_u64(&r);
			b.size = wire_get_u64(&r);
			b.stamp = wire_get_u64(&r);
			if (!r.bad && rc == 0)
				mc_owner_release(own, &b);
		}
		if (r.bad || r.left)
			goto bad;
		break;
	case MC_OWNER_REPORT:
		if (r.left)
			goto bad;
		rc = term_check(own, b.term, &err);
		if (rc == 0 && report_body(own, resp) < 0) {
			resp->len = head + RSP_HEAD;
			rc = mc_err_set(&err, -ENOMEM, MC_INTERNAL_ERROR,
					"out of memory");
		}
		break;
	case MC_OWNER_UNMOUNT: {
		const char *ids[1] = {seg_id};
		struct mc_unmount_req ur = {.ids = ids, .n = 1};

		wire_get_str(&r, seg_id, sizeof(seg_id));
		ur.grace_s = wire_get_u32(&r);
		if (r.bad || r.left)
			goto bad;
		rc = term_check(own, b.term, &err);
		if (rc == 0)
			rc = seg_unmount_local(own, &ur, NULL, NULL, &err);
		break;
	}
	case MC_OWNER_RETIRE: {
		bool exact = wire_get_u8(&r);

		n = wire_get_count(&r, WIRE_COUNT_MAX, 4 + 8);
		rc = term_check(own, b.term, &err);
		for (size_t i = 0; i < n && !r.bad; i++) {
			struct mc_retire rt;

			rt.key = wire_get_bytes(&r, &rt.klen);
			rt.version = wire_get_u64(&r);
			if (!r.bad && rc == 0)
				mc_owner_retire(own, b.term, &rt, exact, NULL);
		}
		if (r.bad || r.left)
			goto bad;
		break;
	}
	default:
		goto bad;
	}
	put_u64_at(resp, head + 4, atomic_load(&own->owner_term));
	put_u32_at(resp, head + 12, (uint32_t)rc);
	if (rc < 0) {
		put_u32_at(resp, head + 16, (uint32_t)err.code);
		resp->len = head + RSP_HEAD;
		wire_str(resp, err.msg);
	}
	return 0;
bad:
	resp->len = head;
	if (resp->data)
		resp->data[head] = '\0';
	return -EPROTO;
}
