/*
 * store.c - the store itself: its clock, its lifetime (options, the
 * reaper thread that drives the timers, creation and teardown), the
 * advertised endpoint, usage figures, and the transfer port's pins.
 * The object index, puts, leases, eviction, unmounting and the store's
 * metrics each have a file of their own (store_int.h lists them).
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ebr.h"
#include "store_int.h"

/* ---------------------------------------------------------------- clock */

uint64_t store_now(const struct mc_store *s)
{
	struct timespec ts;

	if (s->o.now_ms)
		return s->o.now_ms(s->o.clock_arg);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- pins */

int mc_pin_read(struct mc_store *s, uint64_t addr, uint64_t size,
		struct mc_pin **out)
{
	return seg_pin(s, addr, size, BLK_LIVE, (struct mc_blk **)out);
}

/*
 * A write pin is its block's address with the low bit set (blocks are
 * aligned), so that its release knows to count the WRITE out.
 */
#define PIN_WRITE ((uintptr_t)1)

int mc_pin_write(struct mc_store *s, uint64_t addr, uint64_t size,
		 struct mc_pin **out)
{
	struct mc_blk *b;
	int rc = seg_pin(s, addr, size, BLK_PENDING, &b);

	if (!rc)
		*out = (struct mc_pin *)((uintptr_t)b | PIN_WRITE);
	return rc;
}

void mc_pin_wrote(struct mc_pin *p, uint64_t n)
{
	uintptr_t v = (uintptr_t)p;

	if (v & PIN_WRITE)
		atomic_fetch_add(
			&((struct mc_blk *)(v & ~PIN_WRITE))->u.written, n);
}

int mc_pin_release(struct mc_pin *p)
{
	uintptr_t v = (uintptr_t)p;
	struct mc_blk *b = (struct mc_blk *)(v & ~PIN_WRITE);
	int rc = 0;

	if (!p)
		return 0;
	if (v & PIN_WRITE)
		rc = put_writer_done(b);
	blk_unref(b);
	return rc;
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

	lease_expire(s, now, NULL);
	hold_expire(s, now, NULL);
	put_expire(s, now, NULL);
	put_release_discarded(s, false);
	owner_tick(s, now);
	unmount_tick(s, now);
	recent_tick(s, now);
	client_expire(s, now);
}

void mc_store_set_term(struct mc_store *s, uint64_t term)
{
	atomic_store(&s->term, term);
}

int store_next_version(struct mc_store *s, uint64_t *version, uint64_t *seqp)
{
	uint64_t seq = atomic_fetch_add_explicit(&s->ver_seq, 1,
						 memory_order_relaxed) +
		       1;
	uint64_t term = atomic_load_explicit(&s->term, memory_order_relaxed);

	if (seqp)
		*seqp = seq;
	*version = term << 32 | (seq & 0xffffffffu);
	if (!term) /* a single node: versions order nothing */
		return 0;
	if (seq == (1ull << 32) - MC_VERSIONS_LOW && s->o.versions_low)
		s->o.versions_low(s->o.versions_low_arg);
	/* the count never wraps within a term (mooncake.h versions_low) */
	return seq >> 32 ? -EAGAIN : 0;
}

uint64_t store_seq_now(struct mc_store *s)
{
	return atomic_load(&s->ver_seq);
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

/*
 * Eight times the last-level cache one CPU uses (sysfs names its size;
 * sysconf's figure may be a whole package's, several times more), or
 * 32 MiB when the system does not say: a store holding more than that
 * seldom has the buffer a put overwrites in cache.
 */
static uint64_t stream_min_bytes(void)
{
	uint64_t best = 0;
	unsigned top = 0;

	for (unsigned i = 0; i < 8; i++) {
		char path[96];
		unsigned level = 0;
		unsigned long long kib = 0;
		FILE *f;

		snprintf(path, sizeof(path),
			 "/sys/devices/system/cpu/cpu0/cache/index%u/level", i);
		f = fopen(path, "r");
		if (!f)
			break;
		if (fscanf(f, "%u", &level) != 1)
			level = 0;
		fclose(f);
		snprintf(path, sizeof(path),
			 "/sys/devices/system/cpu/cpu0/cache/index%u/size", i);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fscanf(f, "%lluK", &kib) == 1 && level >= top) {
			top = level;
			best = kib << 10;
		}
		fclose(f);
	}
	return 8 * (best ? best : 32ull << 20);
}

struct mc_store *mc_store_new(const struct mc_store_opts *o,
			      struct mc_metrics *m)
{
	struct mc_store *s = calloc(1, sizeof(*s));
	pthread_condattr_t ca;

	if (!s)
		return NULL;
	static _Atomic uint64_t serials;

	obj_hash_seed_init();
	s->serial = atomic_fetch_add(&serials, 1) + 1;
	s->stream_min = o->stream_min ? o->stream_min : stream_min_bytes();
	s->o = *o;
	if (s->o.replica_num < 1)
		s->o.replica_num = 1;
	if (s->o.replica_num > MC_REPLICA_MAX)
		s->o.replica_num = MC_REPLICA_MAX;
	/* a version's size field holds 40 bits (store_int.h) */
	if (s->o.max_value >= 1ull << 40)
		s->o.max_value = (1ull << 40) - 1;
	s->hostname = strdup(o->hostname ? o->hostname : "localhost");
	s->protocol = strdup(o->protocol ? o->protocol : "tcp");
	s->cluster_id =
		strdup(o->metadata_cluster_id ? o->metadata_cluster_id : "");
	s->o.hostname = s->hostname;
	s->o.protocol = s->protocol;
	/* the published keys' prefix, and where a client's are looked up */
	s->o.metadata_cluster_id = s->cluster_id;
	/* an owner store counts into a registry of its own (mooncake.h) */
	s->metrics = m && !o->owner_only ? m : mc_metrics_new();
	s->own_metrics = !m || o->owner_only;
	s->door_metrics = o->owner_only ? m : NULL;
	if (!s->hostname || !s->protocol || !s->cluster_id || !s->metrics)
		goto fail;
	/* Never NULL from here on: descriptors copy it without a check. */
	atomic_init(&s->endpoint, strdup(s->hostname));
	if (!atomic_load(&s->endpoint))
		goto fail;
	pthread_rwlock_init(&s->seg_lock, NULL);
	for (unsigned i = 0; i < MC_NSHARDS; i++) {
		struct mc_shard *sh = &s->shards[i];

		struct mc_tab *t = tab_new(16);

		pthread_rwlock_init(&sh->lock, NULL);
		atomic_init(&sh->seq, 0);
		atomic_init(&sh->tab, t);
		atomic_init(&sh->mask, t ? t->mask : 0);
		if (!t)
			goto fail;
	}
	pthread_mutex_init(&s->evict_lock, NULL);
	pthread_mutex_init(&s->pending_lock, NULL);
	pthread_mutex_init(&s->drain_lock, NULL);
	pthread_mutex_init(&s->lease_lock, NULL);
	pthread_mutex_init(&s->client_lock, NULL);
	pthread_mutex_init(&s->master_text_lock, NULL);
	pthread_mutex_init(&s->reaper_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->reaper_cond, &ca);
	pthread_cond_init(&s->drain_cond, &ca);
	pthread_condattr_destroy(&ca);
	store_metrics_register(s);
	recent_init(s);
	if (o->owner_only && owner_init(s) < 0)
		goto fail;
	if (!o->no_metadata) {
		s->meta = meta_new(s, o->metadata_cluster_id);
		if (!s->meta)
			goto fail;
	}
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
	/*
	 * From here on every call is this store's own, never the master's,
	 * and the owners hear nothing: a master that goes (a leader that
	 * stepped down) leaves their records to the next one.
	 */
	s->link = NULL;
	s->o.owner_ops = NULL;
	if (s->inited) {
		owner_free(s);
		rebuild_free(s);
		unmount_all_begin(s);
		mc_remove_all(s, true);
		put_expire(s, UINT64_MAX, NULL);
		put_release_discarded(s, true);
		hold_expire(s, UINT64_MAX, NULL);
		unmount_all(s);
		lease_expire(s, UINT64_MAX, NULL);
		client_free_all(s);
		put_outcome_free(s);
		free(s->ledger);
		free(s->ledger_lost);
	}
	/* No reader is left: the current arrays go now, and what this
	 * thread retired goes as soon as other stores' readers allow. */
	ebr_flush();
	for (unsigned i = 0; i < MC_NSHARDS; i++) {
		free(atomic_load(&s->shards[i].tab));
		if (s->inited)
			pthread_rwlock_destroy(&s->shards[i].lock);
	}
	if (s->inited) {
		recent_release(s);
		pthread_mutex_destroy(&s->master_text_lock);
	}
	mc_buf_release(&s->master_text);
	mc_buf_release(&s->master_summary);
	meta_free(s->meta);
	free(s->segs);
	free(atomic_load(&s->seg_snap));
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
	free(s->cluster_id);
	free(s);
}

struct mc_metrics *mc_store_metrics(struct mc_store *s)
{
	return s->door_metrics ? s->door_metrics : s->metrics;
}

const struct mc_store_opts *mc_store_get_opts(const struct mc_store *s)
{
	return &s->o;
}

int mc_store_set_endpoint(struct mc_store *s, const char *endpoint)
{
	char *ep = strdup(endpoint), *old;
	struct mc_old_ep *n = malloc(sizeof(*n));

	if (!ep || !n) {
		free(ep);
		free(n);
		return -ENOMEM;
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
	return 0;
}

/* Each thread's stripe of the used count, dealt out in turn. */
static unsigned used_stripe(void)
{
	static _Atomic unsigned next;
	static __thread unsigned mine;

	if (!mine)
		mine = atomic_fetch_add_explicit(&next, 1,
						 memory_order_relaxed) %
			       USED_STRIPES +
		       1;
	return mine - 1;
}

void store_used_add(struct mc_store *s, int64_t delta)
{
	atomic_fetch_add_explicit(&s->used[used_stripe()].v, delta,
				  memory_order_relaxed);
}

uint64_t store_used(struct mc_store *s)
{
	int64_t sum = 0;

	for (unsigned i = 0; i < USED_STRIPES; i++)
		sum += atomic_load_explicit(&s->used[i].v,
					    memory_order_relaxed);
	return sum > 0 ? (uint64_t)sum : 0;
}

bool store_streams(struct mc_store *s)
{
	/* By the store's serial, as store_clock_tick; summing the stripes
	 * reads lines other threads write, so it is redone every 64 asks. */
	static __thread struct {
		uint64_t serial;
		unsigned left;
		bool on;
	} tl;

	if (tl.serial != s->serial || !tl.left--) {
		tl.serial = s->serial;
		tl.left = 63;
		tl.on = store_used(s) >= s->stream_min;
	}
	return tl.on;
}

uint32_t store_clock_tick(struct mc_store *s)
{
	/* By the store's serial: a new store may reuse a freed one's address.
	 */
	static __thread struct {
		uint64_t serial;
		uint32_t next, end;
	} tl;

	if (tl.serial != s->serial || tl.next == tl.end) {
		tl.serial = s->serial;
		tl.next = atomic_fetch_add_explicit(&s->clock, CLOCK_BATCH,
						    memory_order_relaxed);
		tl.end = tl.next + CLOCK_BATCH;
	}
	return tl.next++;
}

uint64_t mc_store_keys_gen(struct mc_store *s)
{
	if (s->link)
		return fac_keys_gen(s);
	return atomic_load(&s->keys_gen);
}

void mc_store_usage(struct mc_store *s, struct mc_usage *u)
{
	if (s->link) {
		fac_usage(s, u);
		return;
	}
	u->used = store_used(s);
	u->capacity = atomic_load(&s->capacity);
	u->keys = atomic_load(&s->nkeys);
	u->pending_puts = atomic_load(&s->npending);
	u->clients = 0;
	pthread_rwlock_rdlock(&s->seg_lock);
	u->segments = s->nsegs;
	/* Distinct owners: quadratic in segments, which are few. */
	for (size_t i = 0; i < s->nsegs; i++) {
		size_t j = 0;

		while (j < i &&
		       !mc_owner_eq(&s->segs[j]->owner, &s->segs[i]->owner))
			j++;
		u->clients += j == i;
	}
	pthread_rwlock_unlock(&s->seg_lock);
}

/* --------------------------------------------------------------- cluster */

void mc_store_set_link(struct mc_store *s, const struct mc_link_ops *ops,
		       void *arg, const char *node_id)
{
	s->link_arg = arg;
	s->self.kind = MC_OWNER_NODE;
	snprintf(s->self.id, sizeof(s->self.id), "%s", node_id);
	atomic_thread_fence(memory_order_release);
	s->link = ops;
}

bool mc_store_linked(const struct mc_store *s)
{
	return s->link != NULL;
}

int mc_internal_serve(struct mc_store *s, enum mc_wire_kind which,
		      const void *req, size_t len, struct mc_buf *resp)
{
	if (!s->link || !s->link->serve)
		return -ENOENT;
	return s->link->serve(s->link_arg, which, req, len, resp);
}

int mc_meta_find(struct mc_store *s, const char *key, size_t klen,
		 struct mc_buf *out, struct mc_err *err)
{
	int rc = s->meta ? mc_meta_get(s->meta, key, klen, out, err)
			 : mc_err_set(err, -ENOENT, MC_OBJECT_NOT_FOUND,
				      "metadata not served here");

	if (rc != -ENOENT || !s->link || !s->link->meta)
		return rc;
	return s->link->meta(s->link_arg, key, klen, out, err);
}

int mc_cluster_info(struct mc_store *s, struct mc_cluster_info *out)
{
	memset(out, 0, sizeof(*out));
	if (!s->link || !s->link->cluster)
		return -ENOENT;
	return s->link->cluster(s->link_arg, out);
}

void mc_cluster_info_release(struct mc_cluster_info *ci)
{
	free(ci->nodes);
	ci->nodes = NULL;
	ci->n = 0;
}
