/*
 * store_metrics.c - the store's metrics: the upstream master's counter
 * and gauge families, registered once per store, and the collector that
 * sets the gauges before each render.
 */
#include "autoconfig.h"

#include <string.h>

#include "store_int.h"

/* --------------------------------------------------------------- metrics */

struct fam_def {
	const char *name, *help;
	size_t off; /* offsetof the series pointer in struct mc_counters */
};

#define C(f)	 offsetof(struct mc_counters, f)
#define B(op, f) offsetof(struct mc_counters, batch[op].f)
#define K(op, f) offsetof(struct mc_counters, call[op].f)
static const struct fam_def counter_defs[] = {
	{"master_put_start_alloc_failures_total",
	 "Total number of PutStart failures caused by replica allocation "
	 "failure",
	 C(alloc_fail)},
	{"master_remove_all_requests_total",
	 "Total number of Remove all requests received", C(remove_all)},
	{"master_remove_all_failures_total",
	 "Total number of failed Remove all requests", C(remove_all_fail)},
	{"master_exist_key_requests_total",
	 "Total number of ExistKey requests received", C(exist)},
	{"master_exist_key_failures_total",
	 "Total number of failed ExistKey requests", C(exist_fail)},
	{"master_put_start_requests_total",
	 "Total number of PutStart requests received", C(put_start)},
	{"master_put_start_failures_total",
	 "Total number of failed PutStart requests", C(put_start_fail)},
	{"master_put_end_requests_total",
	 "Total number of PutEnd requests received", C(put_end)},
	{"master_put_end_failures_total",
	 "Total number of failed PutEnd requests", C(put_end_fail)},
	{"master_put_revoke_requests_total",
	 "Total number of PutRevoke requests received", C(put_revoke)},
	{"master_put_revoke_failures_total",
	 "Total number of failed PutRevoke requests", C(put_revoke_fail)},
	{"master_get_replica_list_requests_total",
	 "Total number of GetReplicaList requests received", C(get)},
	{"master_get_replica_list_failures_total",
	 "Total number of failed GetReplicaList requests", C(get_fail)},
	{"master_remove_requests_total",
	 "Total number of Remove requests received", C(remove)},
	{"master_remove_failures_total",
	 "Total number of failed Remove requests", C(remove_fail)},
	{"master_mount_segment_requests_total",
	 "Total number of MountSegment requests received", C(mount)},
	{"master_mount_segment_failures_total",
	 "Total number of failed MountSegment requests", C(mount_fail)},
	{"master_unmount_segment_requests_total",
	 "Total number of UnmountSegment requests received", C(unmount)},
	{"master_unmount_segment_failures_total",
	 "Total number of failed UnmountSegment requests", C(unmount_fail)},
	{"master_remount_segment_requests_total",
	 "Total number of RemountSegment requests received",
	 K(MC_CALL_REMOUNT_SEGMENT, req)},
	{"master_remount_segment_failures_total",
	 "Total number of failed RemountSegment requests",
	 K(MC_CALL_REMOUNT_SEGMENT, fail)},
	{"master_ping_requests_total", "Total number of ping requests received",
	 C(ping)},
	{"master_ping_failures_total", "Total number of failed ping requests",
	 C(ping_fail)},
	{"master_fetch_tasks_requests_total",
	 "Total number of FetchTasks requests received",
	 K(MC_CALL_FETCH_TASKS, req)},
	{"master_fetch_tasks_failures_total",
	 "Total number of failed FetchTasks requests",
	 K(MC_CALL_FETCH_TASKS, fail)},
	{"master_batch_exist_key_requests_total",
	 "Total number of BatchExistKey requests received",
	 B(MC_BATCH_EXIST, req)},
	{"master_batch_exist_key_failures_total",
	 "Total number of failed BatchExistKey requests",
	 B(MC_BATCH_EXIST, fail)},
	{"master_batch_exist_key_partial_successes_total",
	 "Total number of partially successful BatchExistKey requests",
	 B(MC_BATCH_EXIST, partial)},
	{"master_batch_exist_key_items_total",
	 "Total number of items processed in BatchExistKey requests",
	 B(MC_BATCH_EXIST, items)},
	{"master_batch_exist_key_failed_items_total",
	 "Total number of failed items in BatchExistKey requests",
	 B(MC_BATCH_EXIST, failed_items)},
	{"master_batch_get_replica_list_requests_total",
	 "Total number of BatchGetReplicaList requests received",
	 B(MC_BATCH_QUERY, req)},
	{"master_batch_get_replica_list_failures_total",
	 "Total number of failed BatchGetReplicaList requests",
	 B(MC_BATCH_QUERY, fail)},
	{"master_batch_get_replica_list_partial_successes_total",
	 "Total number of partially successful BatchGetReplicaList requests",
	 B(MC_BATCH_QUERY, partial)},
	{"master_batch_get_replica_list_items_total",
	 "Total number of items processed in BatchGetReplicaList requests",
	 B(MC_BATCH_QUERY, items)},
	{"master_batch_get_replica_list_failed_items_total",
	 "Total number of failed items in BatchGetReplicaList requests",
	 B(MC_BATCH_QUERY, failed_items)},
	{"master_batch_put_start_requests_total",
	 "Total number of BatchPutStart requests received",
	 B(MC_BATCH_PUT_START, req)},
	{"master_batch_put_start_failures_total",
	 "Total number of failed BatchPutStart requests",
	 B(MC_BATCH_PUT_START, fail)},
	{"master_batch_put_start_partial_successes_total",
	 "Total number of partially successful BatchPutStart requests",
	 B(MC_BATCH_PUT_START, partial)},
	{"master_batch_put_start_items_total",
	 "Total number of items processed in BatchPutStart requests",
	 B(MC_BATCH_PUT_START, items)},
	{"master_batch_put_start_failed_items_total",
	 "Total number of failed items in BatchPutStart requests",
	 B(MC_BATCH_PUT_START, failed_items)},
	{"master_batch_put_end_requests_total",
	 "Total number of BatchPutEnd requests received",
	 B(MC_BATCH_PUT_END, req)},
	{"master_batch_put_end_failures_total",
	 "Total number of failed BatchPutEnd requests",
	 B(MC_BATCH_PUT_END, fail)},
	{"master_batch_put_end_partial_successes_total",
	 "Total number of partially successful BatchPutEnd requests",
	 B(MC_BATCH_PUT_END, partial)},
	{"master_batch_put_end_items_total",
	 "Total number of items processed in BatchPutEnd requests",
	 B(MC_BATCH_PUT_END, items)},
	{"master_batch_put_end_failed_items_total",
	 "Total number of failed items in BatchPutEnd requests",
	 B(MC_BATCH_PUT_END, failed_items)},
	{"master_batch_put_revoke_requests_total",
	 "Total number of BatchPutRevoke requests received",
	 B(MC_BATCH_PUT_REVOKE, req)},
	{"master_batch_put_revoke_failures_total",
	 "Total number of failed BatchPutRevoke requests",
	 B(MC_BATCH_PUT_REVOKE, fail)},
	{"master_batch_put_revoke_partial_successes_total",
	 "Total number of partially successful BatchPutRevoke requests",
	 B(MC_BATCH_PUT_REVOKE, partial)},
	{"master_batch_put_revoke_items_total",
	 "Total number of items processed in BatchPutRevoke requests",
	 B(MC_BATCH_PUT_REVOKE, items)},
	{"master_batch_put_revoke_failed_items_total",
	 "Total number of failed items in BatchPutRevoke requests",
	 B(MC_BATCH_PUT_REVOKE, failed_items)},
	{"mem_cache_hit_nums_",
	 "Total number of GetReplicaList results served from the memory pool",
	 C(hit_nums)},
	{"mem_cache_hit_bytes_total",
	 "Total bytes of GetReplicaList results served from the memory pool",
	 C(hit_bytes)},
	{"valid_get_nums_",
	 "Total number of GetReplicaList operations that returned at least one "
	 "completed replica",
	 C(valid_get)},
	{"total_get_nums_", "Total number of GetReplicaList operations",
	 C(total_get)},
	{"master_successful_evictions_total",
	 "Total number of successful eviction operations", C(evict_ok)},
	{"master_attempted_evictions_total",
	 "Total number of attempted eviction operations", C(evict_attempts)},
	{"master_evicted_key_count", "Total number of keys evicted",
	 C(evict_keys)},
	{"master_evicted_size_bytes", "Total bytes of evicted objects",
	 C(evict_bytes)},
	{"master_successful_evictions_mem",
	 "Total number of successful eviction operations in mem",
	 C(evict_ok_mem)},
	{"master_attempted_evictions_mem",
	 "Total number of attempted eviction operations in mem",
	 C(evict_attempts_mem)},
	{"master_evicted_key_count_mem", "Total number of keys evicted in mem",
	 C(evict_keys_mem)},
	{"master_evicted_size_bytes_mem",
	 "Total bytes of evicted objects in mem", C(evict_bytes_mem)},
	{"master_put_start_partial_allocations_total",
	 "Total number of PutStart requests that succeeded with fewer replicas "
	 "than requested (best-effort degradation)",
	 C(partial_alloc)},
	{"master_put_start_discard_cnt",
	 "Total number of discarded PutStart operations", C(discard_cnt)},
	{"master_put_start_release_cnt",
	 "Total number of released PutStart operations", C(release_cnt)},
};

static const struct fam_def gauge_defs[] = {
	{"master_allocated_bytes",
	 "Total memory bytes currently allocated across all segments",
	 C(g_alloc)},
	{"master_total_capacity_bytes",
	 "Total memory capacity across all mounted segments", C(g_cap)},
	{"master_key_count", "Total number of keys managed by the master",
	 C(g_keys)},
	{"master_soft_pin_key_count",
	 "Total number of soft-pinned keys managed by the master", C(g_soft)},
	{"master_active_clients", "Total number of active clients",
	 C(g_clients)},
	{"mem_cache_nums_",
	 "Current number of cached values in the memory pool", C(g_cache_nums)},
	{"master_put_start_discarded_staging_size",
	 "Total size of memory replicas in discarded but not yet released "
	 "PutStart operations",
	 C(g_discard_staging)},
};
#undef C
#undef B
#undef K

static int collect_segment(const char *name, uint64_t used, uint64_t cap,
			   void *arg)
{
	struct mc_store *s = arg;
	const char *v[] = {name};
	unsigned i = s->c.seg_series_at++;
	struct mc_series *a, *c;

	if (i < SEG_SERIES_CACHED && s->c.seg_series[i].alloc &&
	    !strcmp(s->c.seg_series[i].name, name)) {
		a = s->c.seg_series[i].alloc;
		c = s->c.seg_series[i].cap;
	} else {
		a = mc_family_series(s->c.seg_alloc_fam, v);
		c = mc_family_series(s->c.seg_cap_fam, v);
		if (i < SEG_SERIES_CACHED &&
		    strlen(name) < sizeof(s->c.seg_series[i].name)) {
			strcpy(s->c.seg_series[i].name, name);
			s->c.seg_series[i].alloc = a;
			s->c.seg_series[i].cap = c;
		}
	}
	mc_series_set(a, (double)used);
	mc_series_set(c, (double)cap);
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
	mc_series_set(s->c.g_clients, (double)u.clients);
	mc_series_set(s->c.g_cache_nums, (double)u.keys);
	mc_series_set(s->c.g_pending, (double)u.pending_puts);
	mc_series_set(s->c.g_discard_staging,
		      (double)atomic_load(&s->discard_staging));
	/*
	 * Counters that only ever move with others (index.c obj_count_get):
	 * every get and every batch item is one of total_get_nums_, every
	 * hit one of mem_cache_hit_nums_. Nothing adds to them, so the set
	 * loses no add.
	 */
	mc_series_set(
		s->c.total_get,
		mc_series_value(s->c.get) +
			mc_series_value(s->c.batch[MC_BATCH_QUERY].items));
	mc_series_set(s->c.hit_nums, mc_series_value(s->c.valid_get));
	/*
	 * Series of unmounted names disappear: rebuild them when the segment
	 * table changed since the last scrape, else only set the values.
	 */
	uint64_t gen = atomic_load(&s->seg_gen);

	s->c.seg_series_at = 0;
	if (gen == s->c.seg_gen_seen) {
		mc_segment_name_foreach(s, collect_segment, s);
		return;
	}
	/* the sweep may free any series: every name is looked up (marked) */
	memset(s->c.seg_series, 0, sizeof(s->c.seg_series));
	mc_family_mark(s->c.seg_alloc_fam);
	mc_family_mark(s->c.seg_cap_fam);
	mc_segment_name_foreach(s, collect_segment, s);
	mc_family_sweep(s->c.seg_alloc_fam);
	mc_family_sweep(s->c.seg_cap_fam);
	s->c.seg_gen_seen = gen;
}

void mc_batch_count(struct mc_store *s, enum mc_batch_op op, uint64_t items,
		    uint64_t failed)
{
	struct mc_batch_series *b = &s->c.batch[op];

	if (s->link) {
		fac_batch_count(s, op, items, failed);
		return;
	}
	mc_series_add(b->req, 1);
	mc_series_add(b->items, items);
	mc_series_add(b->failed_items, failed);
	if (items && failed == items)
		mc_series_add(b->fail, 1);
	else if (failed)
		mc_series_add(b->partial, 1);
}

void mc_call_count(struct mc_store *s, enum mc_call_op op, bool failed)
{
	if (s->link) {
		fac_call_count(s, op, failed);
		return;
	}
	mc_series_add(s->c.call[op].req, 1);
	if (failed)
		mc_series_add(s->c.call[op].fail, 1);
}

/* Registers the master's families in @m, their series into @c. */
static void register_families(struct mc_metrics *m, struct mc_counters *c)
{
	static const double vb[] = {4096,    65536,    262144,	1048576,
				    4194304, 16777216, 67108864};
	struct mc_family *f;

	for (size_t i = 0; i < sizeof(gauge_defs) / sizeof(gauge_defs[0]);
	     i++) {
		f = mc_metrics_family(m, gauge_defs[i].name, gauge_defs[i].help,
				      MC_GAUGE, NULL, NULL, 0);
		*(struct mc_series **)((char *)c + gauge_defs[i].off) =
			mc_family_series(f, NULL);
	}
	c->seg_alloc_fam = mc_metrics_family(
		m, "segment_allocated_bytes",
		"Total memory bytes currently allocated of the segment",
		MC_GAUGE, "segment", NULL, 0);
	c->seg_cap_fam = mc_metrics_family(
		m, "segment_total_capacity_bytes",
		"Total memory capacity of the mounted segment", MC_GAUGE,
		"segment", NULL, 0);
	f = mc_metrics_family(m, "master_value_size_bytes",
			      "Distribution of object value sizes",
			      MC_HISTOGRAM, NULL, vb,
			      sizeof(vb) / sizeof(vb[0]));
	c->value_size = mc_family_series(f, NULL);
	for (size_t i = 0; i < sizeof(counter_defs) / sizeof(counter_defs[0]);
	     i++) {
		f = mc_metrics_family(m, counter_defs[i].name,
				      counter_defs[i].help, MC_COUNTER, NULL,
				      NULL, 0);
		*(struct mc_series **)((char *)c + counter_defs[i].off) =
			mc_family_series(f, NULL);
	}
	f = mc_metrics_family(m, "mooncake_evictions_total",
			      "Eviction runs by what started them", MC_COUNTER,
			      "cause", NULL, 0);
	c->evict_cause_watermark =
		mc_family_series(f, (const char *[]){"watermark"});
	c->evict_cause_alloc =
		mc_family_series(f, (const char *[]){"alloc_failure"});
	f = mc_metrics_family(m, "mooncake_pending_puts",
			      "Two-phase puts started and not yet ended",
			      MC_GAUGE, NULL, NULL, 0);
	c->g_pending = mc_family_series(f, NULL);
}

void store_metrics_register(struct mc_store *s)
{
	register_families(s->metrics, &s->c);
	mc_metrics_add_collector(s->metrics, collect, s);
}

void store_metrics_blank(struct mc_buf *out)
{
	struct mc_metrics *m = mc_metrics_new();
	struct mc_counters c;

	if (!m)
		return;
	memset(&c, 0, sizeof(c));
	register_families(m, &c);
	mc_metrics_render(m, out);
	mc_metrics_free(m);
}
