/*
 * metrics.c - the metrics registry and its Prometheus text exposition.
 */
#include "autoconfig.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"

struct mc_series {
	struct mc_family *f;
	struct mc_series *next;	 /* creation order */
	struct mc_series *hnext; /* hash chain */
	uint64_t hash;
	char *key; /* the label values, each ending in NUL */
	size_t keylen;
	char *labels; /* rendered: a="x",b="y" ("" without labels) */
	struct mc_buf
		prefix; /* counter, gauge: "name{labels} ", rendered once */
	/*
	 * Counter and gauge: value = bits (a double, last set) + n (sum of
	 * adds since), so adds are one fetch_add. Histogram: bits is the
	 * sum, buckets[] the per-bucket counts, the last one +Inf.
	 */
	_Atomic uint64_t n;
	_Atomic uint64_t bits;
	/*
	 * Counter and gauge adds go to one of MC_STRIPES cache lines, picked
	 * per thread, so threads counting the same series do not bounce one
	 * line between cores; a read sums them (and n).
	 */
	struct stripe *stripes;
	/*
	 * Histogram: per stripe, the bucket counts (the last one +Inf) and
	 * the sum's bits, hist_stride() words from a 64-byte boundary, so
	 * threads observing one series (a put's value size, a route's
	 * latency) do not share a line either; a read sums the stripes.
	 */
	_Atomic uint64_t *hist;
};

#define MC_STRIPES 8

struct stripe {
	_Atomic uint64_t v;
	char pad[64 - sizeof(uint64_t)];
};

/* Each thread's stripe, handed out round-robin on its first add. */
static _Thread_local unsigned my_stripe = MC_STRIPES;
static _Atomic unsigned next_stripe;

static unsigned stripe_index(void)
{
	if (my_stripe >= MC_STRIPES)
		my_stripe = atomic_fetch_add(&next_stripe, 1) % MC_STRIPES;
	return my_stripe;
}

static inline struct stripe *stripe_of(struct mc_series *s)
{
	return &s->stripes[stripe_index()];
}

static uint64_t stripes_sum(const struct mc_series *s)
{
	uint64_t n = atomic_load(&s->n);

	if (s->stripes)
		for (unsigned i = 0; i < MC_STRIPES; i++)
			n += atomic_load_explicit(&s->stripes[i].v,
						  memory_order_relaxed);
	return n;
}

static void stripes_zero(struct mc_series *s)
{
	atomic_store(&s->n, 0);
	if (s->stripes)
		for (unsigned i = 0; i < MC_STRIPES; i++)
			atomic_store(&s->stripes[i].v, 0);
}

struct mc_family {
	struct mc_family *next;
	char *name, *help;
	enum mc_metric_type type;
	char **label_names;
	size_t nlabels;
	double *bounds;
	char **le; /* bounds rendered once, for the le label */
	size_t nbounds;
	pthread_mutex_t lock; /* the series list and hash */
	struct mc_series *head, **tail;
	struct mc_series **tab;
	size_t tabsize, nseries;
	struct mc_series *only; /* the series of a family without labels */
	struct mc_buf preamble; /* the HELP and TYPE lines, rendered once */
};

struct collector {
	struct collector *next;
	void (*fn)(struct mc_metrics *, void *);
	void *arg;
	bool own_arg; /* free(arg) with the registry */
};

struct mc_metrics {
	pthread_mutex_t lock; /* the family and collector lists */
	pthread_mutex_t
		render_lock; /* one render (and its collectors) at a time */
	struct mc_family *head, **tail;
	struct collector *collectors, **ctail;
	size_t ncollectors;
	/*
	 * Scrapes that queue behind a render share the next one: renders
	 * are numbered as they start (started, read without the lock), and
	 * the text of the last one (last, numbered last_seq) is kept under
	 * render_lock. A scrape that finds, once it holds the lock, a render
	 * numbered after every render started before it arrived sends that
	 * text: it was made after the scrape arrived, as fresh as its own.
	 */
	_Atomic uint64_t started;
	uint64_t last_seq;
	struct mc_buf last;
};

/* Words per stripe of a histogram series: buckets, the sum, padding to
 * a whole number of cache lines. */
static size_t hist_stride(const struct mc_family *f)
{
	return (f->nbounds + 2 + 7) & ~(size_t)7;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (!p) {
		mc_oom();
	}
	return p;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(xcalloc(1, n), s, n);
}

static double from_bits(uint64_t u)
{
	double d;

	memcpy(&d, &u, sizeof(d));
	return d;
}

static uint64_t to_bits(double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof(u));
	return u;
}

/*
 * Integers print as integers (3355443200, never 3.3554432e+09); other
 * values with the fewest digits that read back to the same double.
 */
static void add_num(struct mc_buf *b, double v)
{
	char tmp[40];

	if (isnan(v)) {
		mc_buf_adds(b, "NaN");
		return;
	}
	if (isinf(v)) {
		mc_buf_adds(b, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v == trunc(v) && fabs(v) < 9.2e18) {
		if (v < 0) {
			mc_buf_addch_fast(b, '-');
			v = -v;
		}
		mc_buf_addu(b, (unsigned long long)v);
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	mc_buf_adds(b, tmp);
}

static bool valid_name(const char *s, bool colon)
{
	if (!*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' ||
		      (colon && *s == ':')))
			return false;
	return true;
}

void mc_metrics_escape(struct mc_buf *out, const char *v)
{
	size_t n = strlen(v);

	while (n) {
		size_t u = mc_utf8_len(v, n);

		if (u == 0) {
			/* The format is UTF-8: a stray byte becomes U+FFFD. */
			mc_buf_adds(out, "\xef\xbf\xbd");
			u = 1;
		} else if (*v == '\\') {
			mc_buf_adds(out, "\\\\");
		} else if (*v == '"') {
			mc_buf_adds(out, "\\\"");
		} else if (*v == '\n') {
			mc_buf_adds(out, "\\n");
		} else {
			mc_buf_add_fast(out, v, u);
		}
		v += u;
		n -= u;
	}
}

/* HELP text escapes only \ and newline. */
static void add_help(struct mc_buf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			mc_buf_adds(out, "\\\\");
		else if (*s == '\n')
			mc_buf_adds(out, "\\n");
		else
			mc_buf_addch_fast(out, *s);
	}
}

struct mc_metrics *mc_metrics_new(void)
{
	struct mc_metrics *m = xcalloc(1, sizeof(*m));

	pthread_mutexattr_t ma;

	pthread_mutex_init(&m->lock, NULL);
	/*
	 * Scrapes queued behind a render take its successor's text: spin a
	 * little before sleeping, as a render is short and a sleep and a
	 * wake-up cost more than it.
	 */
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
	pthread_mutex_init(&m->render_lock, &ma);
	pthread_mutexattr_destroy(&ma);
	m->tail = &m->head;
	m->ctail = &m->collectors;
	return m;
}

static void series_free(struct mc_series *s)
{
	free(s->key);
	free(s->labels);
	mc_buf_release(&s->prefix);
	free(s->stripes);
	free(s->hist);
	free(s);
}

static void family_free(struct mc_family *f)
{
	struct mc_series *s, *next;

	for (s = f->head; s; s = next) {
		next = s->next;
		series_free(s);
	}
	for (size_t i = 0; i < f->nlabels; i++)
		free(f->label_names[i]);
	for (size_t i = 0; i < f->nbounds; i++)
		free(f->le[i]);
	free(f->label_names);
	free(f->le);
	free(f->bounds);
	free(f->tab);
	free(f->name);
	free(f->help);
	mc_buf_release(&f->preamble);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

void mc_metrics_free(struct mc_metrics *m)
{
	struct mc_family *f, *fnext;
	struct collector *c, *cnext;

	if (!m)
		return;
	for (f = m->head; f; f = fnext) {
		fnext = f->next;
		family_free(f);
	}
	for (c = m->collectors; c; c = cnext) {
		cnext = c->next;
		if (c->own_arg)
			free(c->arg);
		free(c);
	}
	pthread_mutex_destroy(&m->lock);
	pthread_mutex_destroy(&m->render_lock);
	mc_buf_release(&m->last);
	free(m);
}

static struct mc_family *find_locked(struct mc_metrics *m, const char *name)
{
	for (struct mc_family *f = m->head; f; f = f->next)
		if (!strcmp(f->name, name))
			return f;
	return NULL;
}

struct mc_family *mc_metrics_find(struct mc_metrics *m, const char *name)
{
	struct mc_family *f;

	pthread_mutex_lock(&m->lock);
	f = find_locked(m, name);
	pthread_mutex_unlock(&m->lock);
	return f;
}

/* Splits "a,b" into @f's label names; false when one is not a name. */
static bool parse_labels(struct mc_family *f, const char *labels)
{
	char *copy, *tok;
	size_t n = 1;

	if (!labels || !*labels)
		return true;
	for (const char *p = labels; *p; p++)
		n += *p == ',';
	f->label_names = xcalloc(n, sizeof(char *));
	copy = xstrdup(labels);
	/* Not strtok: it would skip the empty name in "a,,b". */
	tok = copy;
	for (size_t i = 0; i < n; i++) {
		char *comma = strchr(tok, ',');
		if (comma)
			*comma = '\0';
		f->label_names[f->nlabels++] = xstrdup(tok);
		if (!valid_name(tok, false) || !strncmp(tok, "__", 2) ||
		    (f->type == MC_HISTOGRAM && !strcmp(tok, "le"))) {
			free(copy);
			return false;
		}
		for (size_t j = 0; j + 1 < f->nlabels; j++)
			if (!strcmp(f->label_names[j], tok)) {
				free(copy);
				return false;
			}
		tok = comma ? comma + 1 : tok + strlen(tok);
	}
	free(copy);
	return true;
}

static bool set_bounds(struct mc_family *f, const double *b, size_t n)
{
	struct mc_buf tmp = MC_BUF_INIT;

	f->bounds = xcalloc(n ? n : 1, sizeof(double));
	f->le = xcalloc(n ? n : 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(b[i]) || (i && b[i] <= b[i - 1])) {
			mc_buf_release(&tmp);
			return false;
		}
		f->bounds[i] = b[i];
		mc_buf_reset(&tmp);
		add_num(&tmp, b[i]);
		f->le[i] = xstrdup(tmp.data);
		f->nbounds++;
	}
	mc_buf_release(&tmp);
	return true;
}

static void add_sample_name(struct mc_buf *out, const struct mc_family *f,
			    const char *suffix, const char *labels,
			    const char *le);

static struct mc_series *series_new(struct mc_family *f, const char *key,
				    size_t keylen, const char *labels)
{
	struct mc_series *s = xcalloc(1, sizeof(*s));

	s->f = f;
	s->key = xcalloc(1, keylen + 1);
	memcpy(s->key, key, keylen);
	s->keylen = keylen;
	s->labels = xstrdup(labels);
	/* A scrape then copies the sample's name instead of building it. */
	if (f->type != MC_HISTOGRAM) {
		add_sample_name(&s->prefix, f, "", s->labels, NULL);
		s->stripes =
			aligned_alloc(64, MC_STRIPES * sizeof(*s->stripes));
		if (!s->stripes) {
			mc_oom();
		}
		memset(s->stripes, 0, MC_STRIPES * sizeof(*s->stripes));
	} else {
		size_t n = MC_STRIPES * hist_stride(f) * sizeof(*s->hist);

		s->hist = aligned_alloc(64, n);
		if (!s->hist)
			mc_oom();
		memset(s->hist, 0, n);
	}
	*f->tail = s;
	f->tail = &s->next;
	f->nseries++;
	return s;
}

struct mc_family *mc_metrics_family(struct mc_metrics *m, const char *name,
				    const char *help, enum mc_metric_type t,
				    const char *labels, const double *buckets,
				    size_t nbuckets)
{
	struct mc_family *f;

	if (!m || !name || !help)
		return NULL;
	pthread_mutex_lock(&m->lock);
	f = find_locked(m, name);
	if (f) {
		pthread_mutex_unlock(&m->lock);
		if (f->type != t) {
			mc_error(
				"metrics: '%s' registered twice with two types",
				name);
			return NULL;
		}
		return f;
	}
	f = xcalloc(1, sizeof(*f));
	f->name = xstrdup(name);
	f->help = xstrdup(help);
	f->type = t;
	f->tail = &f->head;
	pthread_mutex_init(&f->lock, NULL);
	if (!valid_name(name, true) ||
	    (t != MC_COUNTER && t != MC_GAUGE && t != MC_HISTOGRAM) ||
	    !parse_labels(f, labels) ||
	    (t == MC_HISTOGRAM && !set_bounds(f, buckets, nbuckets))) {
		pthread_mutex_unlock(&m->lock);
		mc_error("metrics: invalid family '%s' (name, labels or "
			 "buckets)",
			 name);
		family_free(f);
		return NULL;
	}
	static const char *const types[] = {"counter", "gauge", "histogram"};

	mc_buf_adds(&f->preamble, "# HELP ");
	mc_buf_adds(&f->preamble, f->name);
	mc_buf_addch_fast(&f->preamble, ' ');
	add_help(&f->preamble, f->help);
	mc_buf_adds(&f->preamble, "\n# TYPE ");
	mc_buf_adds(&f->preamble, f->name);
	mc_buf_addch_fast(&f->preamble, ' ');
	mc_buf_adds(&f->preamble, types[f->type]);
	mc_buf_addch_fast(&f->preamble, '\n');
	/* Without labels the one series exists, at 0, from the first scrape. */
	if (!f->nlabels)
		f->only = series_new(f, "", 0, "");
	*m->tail = f;
	m->tail = &f->next;
	pthread_mutex_unlock(&m->lock);
	return f;
}

static uint64_t fnv1a(const char *p, size_t n)
{
	uint64_t h = 14695981039346656037ull;

	while (n--) {
		h ^= (unsigned char)*p++;
		h *= 1099511628211ull;
	}
	return h;
}

static void rehash(struct mc_family *f)
{
	size_t size = f->tabsize ? f->tabsize * 2 : 16;
	struct mc_series **tab = xcalloc(size, sizeof(*tab));

	for (struct mc_series *s = f->head; s; s = s->next) {
		struct mc_series **slot = &tab[s->hash & (size - 1)];
		s->hnext = *slot;
		*slot = s;
	}
	free(f->tab);
	f->tab = tab;
	f->tabsize = size;
}

struct mc_series *mc_family_series(struct mc_family *f,
				   const char *const *values)
{
	struct mc_buf key = MC_BUF_INIT, labels = MC_BUF_INIT;
	struct mc_series *s;
	uint64_t h;

	if (!f)
		return NULL;
	if (!f->nlabels)
		return f->only;
	for (size_t i = 0; i < f->nlabels; i++) {
		const char *v = values && values[i] ? values[i] : "";
		mc_buf_add_fast(&key, v, strlen(v) + 1);
	}
	h = fnv1a(key.data, key.len);
	pthread_mutex_lock(&f->lock);
	if (f->tab) {
		for (s = f->tab[h & (f->tabsize - 1)]; s; s = s->hnext)
			if (s->hash == h && s->keylen == key.len &&
			    !memcmp(s->key, key.data, key.len))
				goto out;
	}
	for (size_t i = 0, off = 0; i < f->nlabels; i++) {
		const char *v = key.data + off;
		mc_buf_addf(&labels, "%s%s=\"", i ? "," : "",
			    f->label_names[i]);
		mc_metrics_escape(&labels, v);
		mc_buf_addch_fast(&labels, '"');
		off += strlen(v) + 1;
	}
	s = series_new(f, key.data, key.len, labels.data);
	s->hash = h;
	if (f->nseries > f->tabsize) {
		rehash(f);
	} else {
		struct mc_series **slot = &f->tab[h & (f->tabsize - 1)];
		s->hnext = *slot;
		*slot = s;
	}
out:
	pthread_mutex_unlock(&f->lock);
	mc_buf_release(&key);
	mc_buf_release(&labels);
	return s;
}

static void series_zero(struct mc_series *s)
{
	stripes_zero(s);
	atomic_store(&s->bits, 0);
	if (s->hist)
		for (size_t i = 0; i < MC_STRIPES * hist_stride(s->f); i++)
			atomic_store(&s->hist[i], 0);
}

void mc_family_clear(struct mc_family *f)
{
	struct mc_series *s, *next;

	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	if (f->only) {
		series_zero(f->only);
	} else {
		for (s = f->head; s; s = next) {
			next = s->next;
			series_free(s);
		}
		f->head = NULL;
		f->tail = &f->head;
		f->nseries = 0;
		if (f->tab)
			memset(f->tab, 0, f->tabsize * sizeof(*f->tab));
	}
	pthread_mutex_unlock(&f->lock);
}

void mc_series_add(struct mc_series *s, uint64_t n)
{
	if (!s)
		return;
	if (s->stripes)
		atomic_fetch_add_explicit(&stripe_of(s)->v, n,
					  memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&s->n, n, memory_order_relaxed);
}

void mc_series_set(struct mc_series *s, double v)
{
	if (!s || s->f->type == MC_HISTOGRAM)
		return;
	stripes_zero(s);
	atomic_store(&s->bits, to_bits(v));
}

void mc_series_observe(struct mc_series *s, double v)
{
	struct mc_family *f;
	size_t lo = 0, hi;
	uint64_t old, new;

	if (!s || s->f->type != MC_HISTOGRAM)
		return;
	f = s->f;
	/* First bound >= v (le is inclusive); NaN lands in +Inf. */
	hi = f->nbounds;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (v <= f->bounds[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	if (isnan(v))
		lo = f->nbounds;
	_Atomic uint64_t *h = s->hist + stripe_index() * hist_stride(f);

	atomic_fetch_add_explicit(&h[lo], 1, memory_order_relaxed);
	old = atomic_load_explicit(&h[f->nbounds + 1], memory_order_relaxed);
	do
		new = to_bits(from_bits(old) + v);
	while (!atomic_compare_exchange_weak_explicit(&h[f->nbounds + 1], &old,
						      new, memory_order_relaxed,
						      memory_order_relaxed));
}

/* Bucket @i of a histogram series, the stripes summed. */
static uint64_t hist_bucket(const struct mc_series *s, size_t i)
{
	uint64_t n = 0;

	for (unsigned k = 0; k < MC_STRIPES; k++)
		n += atomic_load_explicit(&s->hist[k * hist_stride(s->f) + i],
					  memory_order_relaxed);
	return n;
}

static double hist_sum(const struct mc_series *s)
{
	double d = 0;

	for (unsigned k = 0; k < MC_STRIPES; k++)
		d += from_bits(atomic_load_explicit(
			&s->hist[k * hist_stride(s->f) + s->f->nbounds + 1],
			memory_order_relaxed));
	return d;
}

static uint64_t hist_count(const struct mc_series *s)
{
	uint64_t n = 0;

	for (size_t i = 0; i <= s->f->nbounds; i++)
		n += hist_bucket(s, i);
	return n;
}

double mc_series_value(const struct mc_series *s)
{
	if (!s)
		return 0;
	if (s->f->type == MC_HISTOGRAM)
		return (double)hist_count(s);
	return from_bits(atomic_load(&s->bits)) + (double)stripes_sum(s);
}

size_t mc_series_buckets(const struct mc_series *s, double *le, uint64_t *count,
			 size_t max)
{
	size_t n;

	if (!s || s->f->type != MC_HISTOGRAM)
		return 0;
	n = s->f->nbounds + 1;
	for (size_t i = 0; i < n && i < max; i++) {
		le[i] = i < s->f->nbounds ? s->f->bounds[i] : INFINITY;
		count[i] = hist_bucket(s, i);
	}
	return n;
}

static void add_collector(struct mc_metrics *m,
			  void (*fn)(struct mc_metrics *, void *), void *arg,
			  bool own_arg)
{
	struct collector *c = xcalloc(1, sizeof(*c));

	c->fn = fn;
	c->arg = arg;
	c->own_arg = own_arg;
	pthread_mutex_lock(&m->lock);
	*m->ctail = c;
	m->ctail = &c->next;
	m->ncollectors++;
	pthread_mutex_unlock(&m->lock);
}

void mc_metrics_add_collector(struct mc_metrics *m,
			      void (*fn)(struct mc_metrics *, void *),
			      void *arg)
{
	add_collector(m, fn, arg, false);
}

void mc_metrics_add_collector_owned(struct mc_metrics *m,
				    void (*fn)(struct mc_metrics *, void *),
				    void *arg)
{
	add_collector(m, fn, arg, true);
}

/* name{labels} or name{labels,le="x"}: the opening of one sample line. */
static void add_sample_name(struct mc_buf *out, const struct mc_family *f,
			    const char *suffix, const char *labels,
			    const char *le)
{
	mc_buf_adds(out, f->name);
	mc_buf_adds(out, suffix);
	if (*labels || le) {
		mc_buf_addch_fast(out, '{');
		mc_buf_adds(out, labels);
		if (le) {
			mc_buf_adds(out, *labels ? ",le=\"" : "le=\"");
			mc_buf_adds(out, le);
			mc_buf_addch_fast(out, '"');
		}
		mc_buf_addch_fast(out, '}');
	}
	mc_buf_addch_fast(out, ' ');
}

static void render_series(struct mc_buf *out, const struct mc_series *s)
{
	const struct mc_family *f = s->f;

	if (f->type != MC_HISTOGRAM) {
		double d = from_bits(atomic_load(&s->bits));
		uint64_t n = stripes_sum(s);

		mc_buf_add_fast(out, s->prefix.data, s->prefix.len);
		/* Pure counters stay exact past 2^53. */
		if (d == 0)
			mc_buf_addu(out, n);
		else
			add_num(out, d + (double)n);
		mc_buf_addch_fast(out, '\n');
		return;
	}
	uint64_t cum = 0;
	for (size_t i = 0; i <= f->nbounds; i++) {
		cum += hist_bucket(s, i);
		add_sample_name(out, f, "_bucket", s->labels,
				i < f->nbounds ? f->le[i] : "+Inf");
		mc_buf_addu(out, cum);
		mc_buf_addch_fast(out, '\n');
	}
	add_sample_name(out, f, "_sum", s->labels, NULL);
	add_num(out, hist_sum(s));
	mc_buf_addch_fast(out, '\n');
	/* The count is the +Inf bucket read above, so the two always agree. */
	add_sample_name(out, f, "_count", s->labels, NULL);
	mc_buf_addu(out, cum);
	mc_buf_addch_fast(out, '\n');
}

void mc_metrics_render(struct mc_metrics *m, struct mc_buf *out)
{
	struct collector *c;
	size_t n, from = out->len;
	uint64_t before = atomic_load(&m->started);

	pthread_mutex_lock(&m->render_lock);
	if (m->last_seq > before) {
		/* a render that started after this scrape arrived */
		mc_buf_add(out, m->last.data, m->last.len);
		pthread_mutex_unlock(&m->render_lock);
		return;
	}
	m->last_seq = atomic_fetch_add(&m->started, 1) + 1;
	/* Nodes are only appended, so the first n stay valid unlocked. */
	pthread_mutex_lock(&m->lock);
	c = m->collectors;
	n = m->ncollectors;
	pthread_mutex_unlock(&m->lock);
	for (; n--; c = c->next)
		c->fn(m, c->arg);

	pthread_mutex_lock(&m->lock);
	for (struct mc_family *f = m->head; f; f = f->next) {
		mc_buf_add_fast(out, f->preamble.data, f->preamble.len);
		pthread_mutex_lock(&f->lock);
		for (struct mc_series *s = f->head; s; s = s->next)
			render_series(out, s);
		pthread_mutex_unlock(&f->lock);
	}
	pthread_mutex_unlock(&m->lock);
	/* An empty registry still ends with a newline. */
	if (out->len == from || out->data[out->len - 1] != '\n')
		mc_buf_addch(out, '\n');
	mc_buf_reset(&m->last);
	mc_buf_add(&m->last, out->data + from, out->len - from);
	pthread_mutex_unlock(&m->render_lock);
}
