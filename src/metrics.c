/*
 * metrics.c - the metrics registry and its Prometheus text exposition.
 */
#include "autoconfig.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
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
	uint64_t mark; /* the family's mark when last looked up */
	char *key;     /* the label values, each ending in NUL */
	size_t keylen;
	char *labels; /* rendered: a="x",b="y" ("" without labels) */
	/*
	 * The openings of the sample lines, rendered once, so a scrape
	 * copies them: counter, gauge: "name{labels} "; histogram: the
	 * bucket lines' (one per bound and +Inf), then _sum's and _count's,
	 * each ending at its entry of @cut.
	 */
	struct mc_buf prefix;
	uint32_t *cut;
	/*
	 * The last value that was not an integer, and its text (a scrape
	 * prints the same value again without formatting it), held by the
	 * render that set text_busy; one that finds it set formats alone.
	 */
	_Atomic bool text_busy; /* a render reads or writes text */
	uint64_t text_bits;
	char text[40];
	uint8_t text_len;
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
	 * line between cores; a read sums them (and n). Made once the
	 * series was counted STRIPES_FROM times (the counts before go to
	 * n): a series only set (a collector's gauge), or seldom counted,
	 * has none, and a scrape reads one word of it.
	 */
	struct stripe *_Atomic stripes;
	/*
	 * Histogram: per stripe, the bucket counts (the last one +Inf) and
	 * the sum's bits, hist_stride() words from a 64-byte boundary, so
	 * threads observing one series (a put's value size, a route's
	 * latency) do not share a line either; a read sums the stripes.
	 */
	_Atomic uint64_t *hist;
};

#define MC_STRIPES 8
/* A series gets its stripes once it was counted this many times. */
#define STRIPES_FROM 64

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

/* @s's stripes, made now if it has none (two first adds: one wins). */
static struct stripe *stripes_of(struct mc_series *s)
{
	struct stripe *st =
		atomic_load_explicit(&s->stripes, memory_order_acquire);
	struct stripe *none = NULL;

	if (st)
		return st;
	st = aligned_alloc(64, MC_STRIPES * sizeof(*st));
	if (!st)
		mc_oom();
	memset(st, 0, MC_STRIPES * sizeof(*st));
	if (!atomic_compare_exchange_strong_explicit(&s->stripes, &none, st,
						     memory_order_acq_rel,
						     memory_order_acquire)) {
		free(st);
		st = none;
	}
	return st;
}

static uint64_t stripes_sum(const struct mc_series *s)
{
	uint64_t n = atomic_load(&s->n);
	struct stripe *st =
		atomic_load_explicit(&s->stripes, memory_order_acquire);

	if (st)
		for (unsigned i = 0; i < MC_STRIPES; i++)
			n += atomic_load_explicit(&st[i].v,
						  memory_order_relaxed);
	return n;
}

static void stripes_zero(struct mc_series *s)
{
	struct stripe *st =
		atomic_load_explicit(&s->stripes, memory_order_acquire);

	/* (a word already 0 is only read: a collector sets its gauges at
	 * every scrape) */
	if (atomic_load_explicit(&s->n, memory_order_relaxed))
		atomic_store(&s->n, 0);
	if (st)
		for (unsigned i = 0; i < MC_STRIPES; i++)
			if (atomic_load_explicit(&st[i].v,
						 memory_order_relaxed))
				atomic_store(&st[i].v, 0);
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
	uint64_t mark;		/* mc_family_mark() */
	/* the HELP and TYPE lines, rendered once; without labels, a
	 * counter's or gauge's sample name follows */
	struct mc_buf preamble;
};

struct collector {
	struct collector *next;
	void (*fn)(struct mc_metrics *, void *);
	void *arg;
	bool own_arg; /* free(arg) with the registry */
};

struct mc_metrics {
	pthread_mutex_t lock; /* the family and collector lists */
	struct mc_family *head, **tail;
	size_t nfamilies;
	struct collector *collectors, **ctail;
	size_t ncollectors;
	/*
	 * Renders run side by side; the collectors, one collection at a
	 * time (collect_lock). A scrape that finds a collection under way
	 * takes its figures rather than making its own: it waits until
	 * collected, the count of finished collections, passes the count it
	 * read on arriving, so the one it takes was under way or begun when
	 * it arrived.
	 */
	pthread_mutex_t collect_lock;
	_Atomic uint64_t collected;
	_Atomic size_t last_len; /* the last render's length */
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

/* Powers of ten a double holds exactly, for fmt_fixed(). */
static const double tens[] = {1e0,  1e1,  1e2,	1e3,  1e4,  1e5,  1e6,	1e7,
			      1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
			      1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/*
 * y, the integer nearest a * 10^d (the product's rounding error is
 * recovered exactly with an fma), when it is below 2^53, else -1.
 */
static const double small[] = {1e-3, 1e-2, 1e-1};

static double scaled(double a, int d)
{
	double x = a * tens[d], r = fma(a, tens[d], -x);
	double y = nearbyint(x), f = (x - y) + r;

	if (f > 0.5)
		y += 1;
	else if (f < -0.5)
		y -= 1;
	return y < 9007199254740992.0 ? y : -1;
}

/*
 * @v (finite, not integral, 1e-4 <= |v| < 1e15) with the fewest digits
 * that read back to @v, as "%.{15,16,17}g" and strtod find them, without
 * either. y, v rounded to d decimals, is exact in a double below 2^53,
 * and reads back to v when y / 10^d (one correctly rounded division, as
 * strtod's result is) gives v. Rounded to 15 significant digits, v reads
 * back whenever any form of 15 digits or fewer does (v is within a
 * tenth of that grid's step of it), and y then ends in the zeros that
 * are dropped; else 16 digits are tried, then 17. Returns the length, 0
 * when the caller must use printf, -1 when v needs 17 digits and y
 * would pass 2^53 (printf "%.17g").
 */
static int put_decimal(char *out, bool neg, uint64_t u, int d);

static int fmt_fixed(char *out, double v)
{
	double a = fabs(v), y = -1;
	int e = -4, d;

	if (!(a >= 1e-4 && a < 1e15))
		return 0;
	/* 10^e <= a < 10^(e+1), or e one off at a power of ten (the
	 * constants below 1 are not exact): then 14 or 17 digits are tried
	 * too */
	while (e < 14 && a >= (e < -1 ? small[e + 4] : tens[e + 1]))
		e++;
	for (d = 14 - e; d <= 16 - e; d++) {
		if (d < 1)
			continue;
		y = scaled(a, d);
		if (y < 0)
			return d == 16 - e ? -1 : 0;
		if (y / tens[d] == a)
			break;
	}
	if (d > 16 - e)
		return 0;
	return put_decimal(out, v < 0, (uint64_t)y, d);
}

/*
 * @u / 10^@d, with a minus sign when @neg, in fixed notation without
 * trailing zeros, as "%g" writes it; returns the length.
 */
static int put_decimal(char *out, bool neg, uint64_t u, int d)
{
	char digits[24];
	int n, i, o = 0;

	while (d > 0 && u % 10 == 0) {
		u /= 10;
		d--;
	}
	n = 0;
	do
		digits[n++] = (char)('0' + u % 10);
	while ((u /= 10));
	if (neg)
		out[o++] = '-';
	if (n <= d) {
		/* 0.000ddd */
		out[o++] = '0';
		out[o++] = '.';
		for (i = d; i > n; i--)
			out[o++] = '0';
		for (i = n; i--;)
			out[o++] = digits[i];
	} else {
		for (i = n; i--;) {
			out[o++] = digits[i];
			if (i == d && i)
				out[o++] = '.';
		}
	}
	return o;
}

/*
 * @v (finite, not integral, 1e-4 <= |v| < 1e15) with 17 significant
 * digits, as "%.17g" writes it (fmt_fixed found fewer do not read back,
 * as for most sums of fractions), without printf: v is m / 2^sh exactly
 * (m < 2^53), so v * 10^d rounded to an integer (ties to even, as printf
 * rounds) is exact in 128 bits, d at most 22. Returns the length, 0 when
 * the caller must use printf.
 */
static int fmt_17(char *out, double v)
{
#ifdef __SIZEOF_INT128__
	double a = fabs(v);
	int k, e = -4, d;
	uint64_t m = (uint64_t)ldexp(frexp(a, &k), 53);
	int sh = 53 - k;
	unsigned __int128 one = 1, q = 0;

	if (!(a >= 1e-4 && a < 1e15) || sh <= 0 || sh > 100)
		return 0;
	while (e < 14 && a >= (e < -1 ? small[e + 4] : tens[e + 1]))
		e++;
	d = 16 - e;
	/* e may be one off at a power of ten: then d moves once */
	for (int tries = 0; tries < 3; tries++) {
		unsigned __int128 p, r, half;

		if (d < 0 || d > 22)
			return 0;
		p = (unsigned __int128)m * (unsigned __int128)tens[d];
		q = p >> sh;
		r = p & ((one << sh) - 1);
		half = one << (sh - 1);
		if (r > half || (r == half && (q & 1)))
			q++;
		if (q >= (unsigned __int128)1e17)
			d--;
		else if (q < (unsigned __int128)1e16)
			d++;
		else
			return put_decimal(out, v < 0, (uint64_t)q, d);
	}
#endif
	return 0;
}

/*
 * @v (not an integer) without printf: fmt_fixed, then fmt_17 when it
 * needs 17 digits. Returns the length, or what fmt_slow is to be told:
 * 0 or -1 (fmt_fixed's answer).
 */
static int fmt_fast(char *out, double v)
{
	int n = fmt_fixed(out, v), k;

	if (n < 0 && (k = fmt_17(out, v)) > 0)
		return k;
	return n;
}

/*
 * What fmt_fast leaves to printf (NaN and the infinities included):
 * @v's text in @out (at most 39 bytes, no NUL), its length returned.
 * @hint is fmt_fast's answer: -1 (17 digits at once) or 0 (the fewest
 * of 15 to 17 that read back).
 */
static int fmt_slow(char *out, double v, int hint)
{
	char tmp[40];
	int n = 0;

	if (isnan(v)) {
		memcpy(out, "NaN", 3);
		return 3;
	}
	if (isinf(v)) {
		memcpy(out, v > 0 ? "+Inf" : "-Inf", 4);
		return 4;
	}
	for (int prec = hint < 0 ? 17 : 15; prec <= 17; prec++) {
		n = snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	memcpy(out, tmp, (size_t)n);
	return n;
}

/*
 * The text of @v (at most 39 bytes, no NUL) in @out, its length
 * returned: integers print as integers (3355443200, never
 * 3.3554432e+09); other values with the fewest digits that read back to
 * the same double.
 */
static int fmt_num(char *out, double v)
{
	char tmp[40];
	int n;

	if (v == trunc(v) && fabs(v) < 9.2e18) {
		unsigned long long u;

		n = 0;
		if (v < 0) {
			out[n++] = '-';
			v = -v;
		}
		u = (unsigned long long)v;
		int k = 0;

		do
			tmp[k++] = (char)('0' + u % 10);
		while ((u /= 10));
		while (k)
			out[n++] = tmp[--k];
		return n;
	}
	n = fmt_fast(out, v);
	return n > 0 ? n : fmt_slow(out, v, n);
}

static void add_num(struct mc_buf *b, double v)
{
	char tmp[40];

	mc_buf_add_fast(b, tmp, (size_t)fmt_num(tmp, v));
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

	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->collect_lock, NULL);
	m->tail = &m->head;
	m->ctail = &m->collectors;
	return m;
}

static void series_free(struct mc_series *s)
{
	free(s->key);
	free(s->labels);
	mc_buf_release(&s->prefix);
	free(atomic_load(&s->stripes));
	free(s->hist);
	free(s->cut);
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
	pthread_mutex_destroy(&m->collect_lock);
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
	/* A scrape then copies the samples' names instead of building them. */
	if (f->type != MC_HISTOGRAM) {
		add_sample_name(&s->prefix, f, "", s->labels, NULL);
	} else {
		s->cut = xcalloc(f->nbounds + 3, sizeof(*s->cut));
		for (size_t i = 0; i <= f->nbounds; i++) {
			add_sample_name(&s->prefix, f, "_bucket", s->labels,
					i < f->nbounds ? f->le[i] : "+Inf");
			s->cut[i] = (uint32_t)s->prefix.len;
		}
		add_sample_name(&s->prefix, f, "_sum", s->labels, NULL);
		s->cut[f->nbounds + 1] = (uint32_t)s->prefix.len;
		add_sample_name(&s->prefix, f, "_count", s->labels, NULL);
		s->cut[f->nbounds + 2] = (uint32_t)s->prefix.len;
	}
	if (f->type == MC_HISTOGRAM) {
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
	/* Without labels the one series exists, at 0, from the first scrape;
	 * a counter's or gauge's sample opens right after the preamble. */
	if (!f->nlabels) {
		f->only = series_new(f, "", 0, "");
		if (t != MC_HISTOGRAM)
			mc_buf_add(&f->preamble, f->only->prefix.data,
				   f->only->prefix.len);
	}
	*m->tail = f;
	m->tail = &f->next;
	m->nfamilies++;
	pthread_mutex_unlock(&m->lock);
	return f;
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
	h = mc_fnv1a(key.data, key.len);
	pthread_mutex_lock(&f->lock);
	if (f->tab) {
		for (s = f->tab[h & (f->tabsize - 1)]; s; s = s->hnext)
			if (s->hash == h && s->keylen == key.len &&
			    !memcmp(s->key, key.data, key.len)) {
				s->mark = f->mark;
				goto out;
			}
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
	s->mark = f->mark;
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

void mc_family_mark(struct mc_family *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->mark++;
	pthread_mutex_unlock(&f->lock);
}

void mc_family_sweep(struct mc_family *f)
{
	struct mc_series *s, *next, **link;

	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	if (f->only) {
		pthread_mutex_unlock(&f->lock);
		return;
	}
	f->tail = &f->head;
	for (link = &f->head, s = f->head; s; s = next) {
		next = s->next;
		if (s->mark == f->mark) {
			*link = s;
			link = &s->next;
			f->tail = &s->next;
			continue;
		}
		/* out of its hash chain too */
		for (struct mc_series **h = &f->tab[s->hash & (f->tabsize - 1)];
		     *h; h = &(*h)->hnext)
			if (*h == s) {
				*h = s->hnext;
				break;
			}
		series_free(s);
		f->nseries--;
	}
	*link = NULL;
	pthread_mutex_unlock(&f->lock);
}

void mc_series_add(struct mc_series *s, uint64_t n)
{
	struct stripe *st;

	if (!s || s->hist)
		return;
	st = atomic_load_explicit(&s->stripes, memory_order_acquire);
	if (!st) {
		/* the first STRIPES_FROM counts share one word */
		if (atomic_load_explicit(&s->n, memory_order_relaxed) <
		    STRIPES_FROM) {
			atomic_fetch_add_explicit(&s->n, n,
						  memory_order_relaxed);
			return;
		}
		st = stripes_of(s);
	}
	atomic_fetch_add_explicit(&st[stripe_index()].v, n,
				  memory_order_relaxed);
}

void mc_series_set(struct mc_series *s, double v)
{
	uint64_t bits = to_bits(v);

	if (!s || s->f->type == MC_HISTOGRAM)
		return;
	stripes_zero(s);
	/* a collector sets its gauges at every scrape, mostly to the value
	 * they hold: a line only read stays shared among the renders */
	if (atomic_load_explicit(&s->bits, memory_order_relaxed) != bits)
		atomic_store(&s->bits, bits);
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

/*
 * A value that is not an integer, at @p; returns its length. What needs
 * printf (values outside 1e-4 .. 1e15, NaN, the infinities) is kept: the
 * text of the last one this series printed when it is the same (the
 * process's start time), else formatted once and kept.
 */
static int put_text(char *p, struct mc_series *s, double v)
{
	uint64_t bits = to_bits(v);
	int n = fmt_fast(p, v);

	/* formatted without printf: cheaper than the cache's shared line */
	if (n > 0)
		return n;
	if (atomic_exchange_explicit(&s->text_busy, true, memory_order_acquire))
		return fmt_slow(p, v, n);
	if (!s->text_len || s->text_bits != bits) {
		s->text_len = (uint8_t)fmt_slow(s->text, v, n);
		s->text_bits = bits;
	}
	n = s->text_len;
	memcpy(p, s->text, (size_t)n);
	atomic_store_explicit(&s->text_busy, false, memory_order_release);
	return n;
}

/*
 * The opening of sample line @i of @s, then @n and a newline, at @p;
 * returns the end.
 */
static char *put_line_u(char *p, const struct mc_series *s, size_t i,
			uint64_t n)
{
	uint32_t from = i ? s->cut[i - 1] : 0;

	memcpy(p, s->prefix.data + from, s->cut[i] - from);
	p = mc_put_u64(p + (s->cut[i] - from), n);
	*p++ = '\n';
	return p;
}

/*
 * A value that is not a pure count, at @p (room for 40 bytes); returns
 * the end.
 */
static char *put_value(char *p, struct mc_series *s, double d)
{
	if (d == trunc(d) && fabs(d) < 9.2e18)
		return p + fmt_num(p, d);
	return p + put_text(p, s, d);
}

/*
 * @pre (@pre_len bytes: the family's preamble, or none), then the lines
 * of @s; without its opening (the preamble ended with it) when @bare.
 */
static void render_series(struct mc_buf *out, struct mc_series *s,
			  const char *pre, size_t pre_len, bool bare)
{
	const struct mc_family *f = s->f;
	/* a line is at most its opening and 40 bytes of value */
	size_t need = pre_len + s->prefix.len + (f->nbounds + 3) * 48;
	char *p;

	if (!out->data || out->cap - out->len <= need)
		mc_buf_grow(out, need);
	p = out->data + out->len;
	if (pre_len) { /* none: @pre may be NULL, which memcpy must not see */
		memcpy(p, pre, pre_len);
		p += pre_len;
	}
	if (f->type != MC_HISTOGRAM) {
		double d = from_bits(atomic_load(&s->bits));
		uint64_t n = stripes_sum(s);

		if (!bare) {
			memcpy(p, s->prefix.data, s->prefix.len);
			p += s->prefix.len;
		}
		/* Pure counters stay exact past 2^53. */
		p = d == 0 ? mc_put_u64(p, n) : put_value(p, s, d + (double)n);
		*p++ = '\n';
		*p = '\0';
		out->len = (size_t)(p - out->data);
		return;
	}
	/* the stripes summed, each one's buckets and sum together */
	size_t nb = f->nbounds + 1, stride = hist_stride(f);
	uint64_t cnt[nb], cum = 0;
	double sum = 0;

	memset(cnt, 0, sizeof(cnt));
	for (unsigned k = 0; k < MC_STRIPES; k++) {
		const _Atomic uint64_t *h = s->hist + k * stride;

		for (size_t i = 0; i < nb; i++)
			cnt[i] += atomic_load_explicit(&h[i],
						       memory_order_relaxed);
		sum += from_bits(
			atomic_load_explicit(&h[nb], memory_order_relaxed));
	}
	for (size_t i = 0; i < nb; i++) {
		cum += cnt[i];
		p = put_line_u(p, s, i, cum);
	}
	memcpy(p, s->prefix.data + s->cut[nb - 1], s->cut[nb] - s->cut[nb - 1]);
	p = put_value(p + (s->cut[nb] - s->cut[nb - 1]), s, sum);
	*p++ = '\n';
	/* The count is the +Inf bucket read above, so the two always agree. */
	p = put_line_u(p, s, nb + 1, cum);
	*p = '\0';
	out->len = (size_t)(p - out->data);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/*
 * Runs the collectors, or waits for a collection under way (struct
 * mc_metrics). A collection takes about a microsecond: the wait spins,
 * then yields the processor (to the collecting thread, when it was
 * preempted), as a sleep and a wake-up of every scrape behind it would
 * cost more than the collection. Then it takes the lock: behind a
 * collection that lasts (a collector that blocks) that is a sleep; and
 * when no collection finished meanwhile (the trylock had failed against
 * a waiter that held the lock only to check, or the holder was slow), it
 * collects itself, so no scrape waits for a collection nobody runs.
 */
static void collect(struct mc_metrics *m)
{
	uint64_t seen = atomic_load(&m->collected);
	struct collector *c;
	size_t n;

	if (pthread_mutex_trylock(&m->collect_lock) != 0) {
		/* its holder counts it after the trylock, so after seen */
		for (unsigned i = 0; i < 400; i++) {
			if (atomic_load(&m->collected) != seen)
				return;
			if (i < 200)
				cpu_relax();
			else
				sched_yield();
		}
		pthread_mutex_lock(&m->collect_lock);
		if (atomic_load(&m->collected) != seen) {
			pthread_mutex_unlock(&m->collect_lock);
			return;
		}
	}
	/* Nodes are only appended, so the first n stay valid unlocked. */
	pthread_mutex_lock(&m->lock);
	c = m->collectors;
	n = m->ncollectors;
	pthread_mutex_unlock(&m->lock);
	for (; n--; c = c->next)
		c->fn(m, c->arg);
	/* counted before the unlock: whoever takes the lock next sees it */
	atomic_fetch_add(&m->collected, 1);
	pthread_mutex_unlock(&m->collect_lock);
}

void mc_metrics_collect_hold(struct mc_metrics *m, int hold)
{
	if (hold)
		pthread_mutex_lock(&m->collect_lock);
	else
		pthread_mutex_unlock(&m->collect_lock);
}

void mc_metrics_render(struct mc_metrics *m, struct mc_buf *out)
{
	struct mc_family *f;
	size_t n, from = out->len;

	collect(m);
	pthread_mutex_lock(&m->lock);
	f = m->head;
	n = m->nfamilies;
	pthread_mutex_unlock(&m->lock);
	/* room for what the last render wrote, in one growth */
	mc_buf_grow(out,
		    atomic_load_explicit(&m->last_len, memory_order_relaxed));
	for (; n--; f = f->next) {
		/* a family without labels never changes its one series */
		if (!f->nlabels) {
			render_series(out, f->only, f->preamble.data,
				      f->preamble.len, f->type != MC_HISTOGRAM);
			continue;
		}
		mc_buf_add_fast(out, f->preamble.data, f->preamble.len);
		pthread_mutex_lock(&f->lock);
		for (struct mc_series *s = f->head; s; s = s->next)
			render_series(out, s, NULL, 0, false);
		pthread_mutex_unlock(&f->lock);
	}
	/* An empty registry still ends with a newline. */
	if (out->len == from || out->data[out->len - 1] != '\n')
		mc_buf_addch(out, '\n');
	atomic_store_explicit(&m->last_len, out->len - from,
			      memory_order_relaxed);
}
