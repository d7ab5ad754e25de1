/*
 * unmount.c - unmounting, above segments and objects: picking the set of
 * segments to unmount, draining ones whose grace period ends, and, once
 * a segment is unlisted, dropping the replicas, leases and open puts
 * that live in it. segment.c never calls up into the object layers;
 * this file calls down into both.
 */
#include "autoconfig.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "ebr.h"
#include "log.h"
#include "store_int.h"

/* What an unmount took away, for its log line. */
struct drop_count {
	uint64_t lost, lost_bytes; /* objects whose last replica went */
	uint64_t thinned;	   /* objects left with fewer replicas */
};

/*
 * Drops what lives in @g once it is unlisted: each object loses its
 * replicas there (an object left with none goes), then the leases and
 * open puts that hold its buffers.
 */
static void drop_segment(struct mc_store *s, struct mc_seg *g,
			 struct drop_count *dc)
{
	for (unsigned i = 0; i < MC_NSHARDS; i++) {
		struct mc_shard *sh = &s->shards[i];
		struct mc_obj *gone = NULL, *o;
		struct mc_tab *t;

		shard_lock(sh);
		t = shard_tab(sh);
		for (uint32_t b = 0; b <= t->mask; b++) {
			obj_link *pp = &t->b[b];

			while ((o = link_get(pp))) {
				struct mc_obj *n = NULL;
				unsigned keep = 0;

				for (unsigned r = 0; r < o->nrep; r++)
					keep += blk_seg(o->rep[r]) != g;
				if (keep == o->nrep) {
					pp = &o->next;
					continue;
				}
				if (keep)
					n = obj_new(obj_key(o), o->klen,
						    o->size, keep);
				if (n) {
					keep = 0;
					for (unsigned r = 0; r < o->nrep; r++) {
						struct mc_blk *bk = o->rep[r];

						if (blk_seg(bk) == g)
							continue;
						atomic_fetch_add(&bk->u.ref, 1);
						n->rep[keep++] = bk;
					}
					n->version = o->version;
					obj_order(n);
					atomic_store(&n->atime,
						     atomic_load(&o->atime));
					atomic_store_explicit(
						&n->next, obj_next(o),
						memory_order_relaxed);
					link_set(pp, n);
					pp = &n->next;
					dc->thinned++;
				} else {
					obj_unlink(s, sh, pp);
					dc->lost++;
					dc->lost_bytes += o->size;
				}
				atomic_store_explicit(&o->next, gone,
						      memory_order_relaxed);
				gone = o;
			}
		}
		shard_unlock(sh);
		objs_unref(gone);
	}
	lease_expire(s, store_now(s), g);
	hold_expire(s, store_now(s), g);
	put_expire(s, 0, g);
	owner_drop_seg(s, g);
}

/*
 * Completes the unmount of an unlisted segment: replicas go. Values lost
 * with it are a warning, unless the whole store is going (@stopping).
 */
static void seg_finish(struct mc_store *s, struct mc_seg *g, bool stopping)
{
	struct drop_count dc = {0};

	/* Placement and pins may still hold @g from the table's previous
	 * list (lock-free): let them finish before its memory can go. */
	ebr_synchronize();
	/* Nothing allocates in @g now: its blocks need not merge back into
	 * free space one by one as they go, the allocator goes whole. */
	seg_drop_arenas(g);
	drop_segment(s, g, &dc);
	seg_keep_drain(g); /* after the state went GONE: see seg_keep */
	/* What readers still hold of it is memory no segment counts: the
	 * watermark weighs what is left against the segments that are */
	seg_uncount(g);
	if (dc.lost && !stopping)
		mc_warn("segment: unmounted '%s': %llu values lost with it "
			"(%llu bytes), %llu kept a replica elsewhere",
			g->id, (unsigned long long)dc.lost,
			(unsigned long long)dc.lost_bytes,
			(unsigned long long)dc.thinned);
	else if (dc.thinned)
		mc_info("segment: unmounted '%s': %llu values kept a replica "
			"elsewhere",
			g->id, (unsigned long long)dc.thinned);
	else
		mc_info("segment: unmounted '%s'", g->id);
	seg_unref(g); /* the table's reference */
	atomic_fetch_sub(&s->unlisting, 1);
}

int mc_segment_unmount(struct mc_store *s, const struct mc_unmount_req *req,
		       char (**failed)[MC_ID_LEN + 1], size_t *n_failed,
		       struct mc_err *err)
{
	if (s->link)
		return fac_segment_unmount(s, req, failed, n_failed, err);
	return seg_unmount_local(s, req, failed, n_failed, err);
}

/*
 * The segment @id names, as the table writes ids (lowercase) whatever
 * case @id's hex digits are in: RFC 4122 reads them in either.
 */
static struct mc_seg *seg_find_any_case(struct mc_store *s, const char *id)
{
	char low[MC_ID_LEN + 1];
	size_t i;

	for (i = 0; id[i] && i < MC_ID_LEN; i++)
		low[i] = (char)tolower((unsigned char)id[i]);
	low[i] = '\0';
	return id[i] ? NULL : seg_find_locked(s, low);
}

int seg_unmount_local(struct mc_store *s, const struct mc_unmount_req *req,
		      char (**failed)[MC_ID_LEN + 1], size_t *n_failed,
		      struct mc_err *err)
{
	const char *const *ids = req->ids;
	size_t n = req->n;
	unsigned grace_s = req->grace_s;
	struct mc_seg **gs;
	size_t nf = 0;
	char(*fl)[MC_ID_LEN + 1] = NULL;
	int rc = 0;

	if (failed)
		*failed = NULL;
	if (n_failed)
		*n_failed = 0;
	mc_series_add(s->c.unmount, 1);
	if (n == 0 || grace_s > MC_GRACE_MAX) {
		mc_series_add(s->c.unmount_fail, 1);
		return n ? mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				      "grace period must be 0..%d seconds",
				      MC_GRACE_MAX)
			 : mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				      "no segment ids given");
	}
	gs = calloc(n, sizeof(*gs));
	fl = calloc(n, sizeof(*fl));
	if (!gs || !fl) {
		free(gs);
		free(fl);
		mc_series_add(s->c.unmount_fail, 1);
		return mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR,
				  "out of memory");
	}
	pthread_rwlock_wrlock(&s->seg_lock);
	for (size_t i = 0; i < n; i++) {
		struct mc_seg *g = seg_find_any_case(s, ids[i]);
		bool again = false;

		for (size_t j = 0; g && j < i; j++)
			again |= gs[j] == g;
		if (again)
			continue; /* the same id twice is unmounted once */
		if (!g && req->gone_ok)
			continue; /* not mounted: done already */
		if (g && req->accept) {
			struct mc_seg_info si;

			seg_info_locked(s, g, &si);
			if (!req->accept(&si, req->accept_arg))
				g = NULL;
		}
		if (!g) {
			snprintf(fl[nf++], MC_ID_LEN + 1, "%s", ids[i]);
			continue;
		}
		gs[i] = g;
	}
	if (nf) {
		rc = mc_err_set(err, -ENOENT, MC_SEGMENT_NOT_FOUND,
				"segment '%s' not found", fl[0]);
		pthread_rwlock_unlock(&s->seg_lock);
		goto out;
	}
	uint64_t now = store_now(s);
	for (size_t i = 0; i < n; i++) {
		if (!gs[i])
			continue; /* a repeated id */
		if (grace_s && atomic_load(&gs[i]->state) == SEG_OK) {
			atomic_store(&gs[i]->state, SEG_DRAINING);
			gs[i]->deadline_ms = now + (uint64_t)grace_s * 1000;
			mc_info("segment: draining '%s' for %u s: it takes no "
				"new values and goes at the end",
				gs[i]->id, grace_s);
			gs[i] = NULL;
		} else if (grace_s) {
			gs[i] = NULL; /* already draining: keep its deadline */
		} else {
			seg_unlist_locked(s, gs[i]);
		}
	}
	pthread_rwlock_unlock(&s->seg_lock);
	for (size_t i = 0; i < n; i++)
		if (gs[i])
			seg_finish(s, gs[i], false);
out:
	free(gs);
	if (rc < 0) {
		mc_series_add(s->c.unmount_fail, 1);
		if (failed)
			*failed = fl;
		else
			free(fl);
		if (n_failed)
			*n_failed = nf;
	} else {
		free(fl);
	}
	return rc;
}

/* Completes the unmounts whose grace period has ended. */
void unmount_tick(struct mc_store *s, uint64_t now)
{
	for (;;) {
		struct mc_seg *due = NULL;

		pthread_rwlock_wrlock(&s->seg_lock);
		for (size_t i = 0; i < s->nsegs; i++) {
			struct mc_seg *g = s->segs[i];

			if (atomic_load(&g->state) == SEG_DRAINING &&
			    g->deadline_ms <= now) {
				due = g;
				seg_unlist_locked(s, g);
				break;
			}
		}
		pthread_rwlock_unlock(&s->seg_lock);
		if (!due)
			return;
		seg_finish(s, due, false);
	}
}

void unmount_all_begin(struct mc_store *s)
{
	pthread_rwlock_rdlock(&s->seg_lock);
	for (size_t i = 0; i < s->nsegs; i++)
		seg_drop_arenas(s->segs[i]);
	pthread_rwlock_unlock(&s->seg_lock);
}

void unmount_all(struct mc_store *s)
{
	for (;;) {
		struct mc_seg *g = NULL;

		pthread_rwlock_wrlock(&s->seg_lock);
		if (s->nsegs) {
			g = s->segs[s->nsegs - 1];
			seg_unlist_locked(s, g);
		}
		pthread_rwlock_unlock(&s->seg_lock);
		if (!g)
			return;
		seg_finish(s, g, true);
	}
}
