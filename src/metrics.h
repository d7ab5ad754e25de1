/*
 * metrics.h - the metrics registry: counters, gauges, histograms, with
 * label sets, rendered in the Prometheus text format 0.0.4.
 *
 * One producer: /metrics over HTTP and `metrics` in the FUSE tree both
 * call mc_metrics_render(), so the two views cannot drift. Collectors
 * registered with mc_metrics_add_collector() run at the start of every
 * render and set gauges from live state (store usage, process figures);
 * nothing in a render walks the objects, so its cost does not depend on
 * the number of keys.
 *
 * Locking: families are created at start-up (the family list has a
 * registry mutex). Series lookups in a labelled family take the family's
 * mutex (a family without labels returns its one series without locking);
 * updates to a series are lock-free atomics, so hot paths keep the struct
 * mc_series pointer and call mc_series_add(). Renders run side by side,
 * without a registry lock; collections (the collectors' runs) one at a
 * time. A render holds a labelled family's mutex while it prints that
 * family; a collector rebuilds one with mc_family_mark() and
 * mc_family_sweep(), which no render sees half done.
 */
#ifndef MC_METRICS_H
#define MC_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum mc_metric_type { MC_COUNTER, MC_GAUGE, MC_HISTOGRAM };

struct mc_metrics;
struct mc_family;
struct mc_series;

struct mc_metrics *mc_metrics_new(void);
void mc_metrics_free(struct mc_metrics *m);

/*
 * Registers a family. @labels is a comma-separated list of label names
 * ("route,code") or NULL/"" for none. Histograms take @buckets (strictly
 * increasing finite upper bounds, +Inf implied; @nbuckets may be 0).
 * Families render in registration order. A family without labels has its
 * one series, at 0, from registration on; a labelled family renders only
 * the series created so far, in creation order.
 * Registering a name twice returns the existing family (NULL when the
 * types differ). Returns NULL (and logs) for an invalid metric name,
 * label name (bad, repeated, "__" reserved, "le" in a histogram) or
 * bucket list: programmer errors, and every mc_family_* / mc_series_*
 * function takes NULL as a no-op so a bad registration cannot crash.
 */
struct mc_family *mc_metrics_family(struct mc_metrics *m, const char *name,
				    const char *help, enum mc_metric_type t,
				    const char *labels, const double *buckets,
				    size_t nbuckets);
struct mc_family *mc_metrics_find(struct mc_metrics *m, const char *name);

/*
 * The series of @f for the given label values (as many as the family has
 * label names, a NULL value counting as ""; NULL for a family without
 * labels). Created at 0 on first use; the pointer stays valid until
 * mc_family_clear(), mc_family_sweep() or the registry is freed. Values
 * should be UTF-8: stray bytes render as U+FFFD (see
 * mc_metrics_escape()).
 */
struct mc_series *mc_family_series(struct mc_family *f,
				   const char *const *values);
/*
 * Drops every series of a labelled family (labelled gauges rebuilt by a
 * collector, e.g. the series of an unmounted segment), under the family's
 * mutex. The dropped series are freed: a pointer to one must not be used
 * afterwards, so only a collector that looks its series up again after
 * the clear may clear a family. A family without labels keeps its series
 * (the pointer stays valid) and is reset to 0. A render at the same time
 * may show the family empty: a collector rebuilds with mc_family_mark()
 * and mc_family_sweep() instead.
 */
void mc_family_clear(struct mc_family *f);

/*
 * A rebuild that no render sees half done: mc_family_mark() starts it,
 * the collector then looks up (mc_family_series) every series that is
 * still live and sets it, and mc_family_sweep() drops, and frees, the
 * series not looked up since the mark (a segment unmounted meanwhile).
 * A render in between shows the old series with the new ones. Only one
 * rebuild of a family at a time (a collector's, which are serialized).
 * No-ops on a family without labels, and on NULL.
 */
void mc_family_mark(struct mc_family *f);
void mc_family_sweep(struct mc_family *f);

/*
 * Counter and gauge: adds @n (one relaxed atomic fetch_add, exact to
 * 2^64); no-op on a histogram.
 */
void mc_series_add(struct mc_series *s, uint64_t n);
/*
 * Gauge, or a counter mirrored by a collector (process_cpu_seconds_total):
 * sets the value; adds made after it add to @v. Atomic, but a set racing
 * with an add on the same series may lose the add: do not mix the two on
 * one series from several threads. No-op on a histogram.
 */
void mc_series_set(struct mc_series *s, double v);
/*
 * Histogram: counts @v in the first bucket whose bound is >= @v (NaN in
 * +Inf) and adds it to the sum; lock-free (atomic bucket counter, sum by
 * compare-and-swap). No-op on counters and gauges.
 */
void mc_series_observe(struct mc_series *s, double v);
/* Current value (counter/gauge); for a histogram, its count; 0 for NULL. */
double mc_series_value(const struct mc_series *s);
/*
 * Histogram: copies at most @max bucket upper bounds (the last one
 * INFINITY) and per-bucket counts (not cumulative) into @le and @count,
 * and returns how many buckets the family has; 0 for another type or
 * NULL. Each count is read atomically, the set of them is not a snapshot.
 */
size_t mc_series_buckets(const struct mc_series *s, double *le, uint64_t *count,
			 size_t max);

/*
 * Collectors run, in registration order, at the start of a render (or
 * of one of the renders that share a collection: mc_metrics_render),
 * outside every registry lock (they may look up, set and rebuild
 * series). Collections are serialized, so collectors never run
 * concurrently with each other, but renders print while they run: a
 * gauge shows either its old value or its new one. @arg is the
 * collector's; the registry never frees it.
 */
void mc_metrics_add_collector(struct mc_metrics *m,
			      void (*fn)(struct mc_metrics *, void *),
			      void *arg);
/* The same, with @arg owned by the registry (free()d with it). */
void mc_metrics_add_collector_owned(struct mc_metrics *m,
				    void (*fn)(struct mc_metrics *, void *),
				    void *arg);

/*
 * For tests: takes (@hold non-zero) or lets go of the collection lock without
 * collecting, as a scrape waiting behind a collection may hold it a
 * moment (mc_metrics_render must then collect itself, not wait for a
 * collection nobody runs). Only the thread that took it lets it go.
 */
void mc_metrics_collect_hold(struct mc_metrics *m, int hold);

/*
 * Appends the whole exposition to @out: for each family "# HELP" and
 * "# TYPE", then its samples; integral values print as integers
 * (3355443200), others with the fewest digits that read back exactly;
 * histograms print cumulative name_bucket{...,le="B"} lines up to "+Inf",
 * then name_sum and name_count. Ends with "\n". Costs O(families +
 * series), whatever the store holds, and no lock while it prints but a
 * labelled family's (a few microseconds). First the collectors run; a
 * render that finds a collection under way waits for it and takes its
 * figures instead, so the gauges shown are set by a collection that was
 * under way or begun when the render was called, and a scrape storm
 * costs one collection per collection time.
 */
void mc_metrics_render(struct mc_metrics *m, struct mc_buf *out);

/*
 * Registers the process_* families with the Prometheus client libraries'
 * names and help texts (process_cpu_seconds_total, process_open_fds,
 * process_max_fds, process_virtual_memory_bytes,
 * process_resident_memory_bytes, process_start_time_seconds) with a
 * collector reading /proc/self (stat, statm, fd/) and RLIMIT_NOFILE
 * (process.c).
 */
void mc_metrics_add_process(struct mc_metrics *m);

/*
 * Appends label value @v escaped for the exposition format (\\, \", \n);
 * bytes that are not well-formed UTF-8 become U+FFFD, since the format
 * is UTF-8.
 */
void mc_metrics_escape(struct mc_buf *out, const char *v);

#endif
