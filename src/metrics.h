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
 * Locking: families are created at start-up. Series lookups take the
 * family's mutex; updates to a series are lock-free atomics, so hot paths
 * keep the struct mc_series pointer and call mc_series_add().
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
 * ("route,code") or NULL/"" for none. Histograms take @buckets (sorted
 * upper bounds, +Inf implied). Families render in registration order.
 * Registering a name twice returns the existing family.
 */
struct mc_family *mc_metrics_family(struct mc_metrics *m, const char *name,
				    const char *help, enum mc_metric_type t,
				    const char *labels, const double *buckets,
				    size_t nbuckets);
struct mc_family *mc_metrics_find(struct mc_metrics *m, const char *name);

/*
 * The series of @f for the given label values (as many as the family has
 * label names; NULL for a family without labels). Created at 0 on first
 * use; the pointer stays valid until mc_family_clear() or the registry
 * is freed.
 */
struct mc_series *mc_family_series(struct mc_family *f,
				   const char *const *values);
/* Drops every series of @f (labelled gauges rebuilt by a collector). */
void mc_family_clear(struct mc_family *f);

void mc_series_add(struct mc_series *s, uint64_t n);     /* counter, gauge */
void mc_series_set(struct mc_series *s, double v);       /* gauge */
void mc_series_observe(struct mc_series *s, double v);   /* histogram */
/* Current value (counter/gauge); for a histogram, its count. */
double mc_series_value(const struct mc_series *s);

/* Collectors run, in registration order, before each render. */
void mc_metrics_add_collector(struct mc_metrics *m,
			      void (*fn)(struct mc_metrics *, void *),
			      void *arg);

/* Appends the whole exposition (ends with "\n") to @out. */
void mc_metrics_render(struct mc_metrics *m, struct mc_buf *out);

/*
 * Registers the process_* families (resident memory, virtual memory,
 * open fds, max fds, start time, CPU seconds) with a collector reading
 * /proc/self.
 */
void mc_metrics_add_process(struct mc_metrics *m);

/* Escapes a label value for the exposition format (\\, \", \n). */
void mc_metrics_escape(struct mc_buf *out, const char *v);

#endif
