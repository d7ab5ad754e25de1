/*
 * check_metrics.c - the registry and its Prometheus text exposition.
 */
#include "autoconfig.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <time.h>

#include "check.h"
#include "metrics.h"

/* Renders @m into a fresh string the caller frees. */
static char *render(struct mc_metrics *m)
{
	struct mc_buf b = MC_BUF_INIT;

	mc_metrics_render(m, &b);
	return mc_buf_detach(&b, NULL);
}

static void assert_render(struct mc_metrics *m, const char *want)
{
	char *got = render(m);

	ck_assert_msg(!strcmp(got, want), "rendered:\n%s\nwanted:\n%s", got,
		      want);
	free(got);
}

/* The sample line that starts with @prefix ("name{...} "), or NULL. */
static const char *find_line(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);

	for (const char *p = text; p && *p;
	     p = strchr(p, '\n'), p = p ? p + 1 : p)
		if (!strncmp(p, prefix, n))
			return p;
	return NULL;
}

START_TEST(test_render_exact)
{
	static const double b[] = {4096, 65536, 1048576};
	struct mc_metrics *m = mc_metrics_new();
	struct mc_family *c, *g, *h;

	c = mc_metrics_family(m, "req_total", "Requests received", MC_COUNTER,
			      NULL, NULL, 0);
	g = mc_metrics_family(m, "seg_bytes", "Bytes of a segment", MC_GAUGE,
			      "segment,kind", NULL, 0);
	h = mc_metrics_family(m, "size_bytes", "Value sizes", MC_HISTOGRAM,
			      "route", b, 3);
	ck_assert_ptr_nonnull(mc_metrics_family(
		m, "idle_seconds", "Never touched", MC_GAUGE, "", NULL, 0));
	ck_assert_ptr_nonnull(mc_metrics_family(m, "empty_total",
						"Labelled, untouched",
						MC_COUNTER, "code", NULL, 0));
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(g);
	ck_assert_ptr_nonnull(h);

	mc_series_add(mc_family_series(c, NULL), 1);
	mc_series_add(mc_family_series(c, NULL), 2);
	mc_series_set(mc_family_series(g, (const char *[]){"b", "x"}),
		      3355443200.0);
	mc_series_set(mc_family_series(g, (const char *[]){"a", "y"}), 0.5);
	struct mc_series *put = mc_family_series(h, (const char *[]){"put"});
	mc_series_observe(put, 100);
	mc_series_observe(put, 4096);
	mc_series_observe(put, 5000);
	mc_series_observe(put, 2e6);
	/* the same values find the same series */
	ck_assert_ptr_eq(put, mc_family_series(h, (const char *[]){"put"}));
	ck_assert_ptr_eq(mc_family_series(c, NULL), mc_family_series(c, NULL));

	assert_render(m, "# HELP req_total Requests received\n"
			 "# TYPE req_total counter\n"
			 "req_total 3\n"
			 "# HELP seg_bytes Bytes of a segment\n"
			 "# TYPE seg_bytes gauge\n"
			 "seg_bytes{segment=\"b\",kind=\"x\"} 3355443200\n"
			 "seg_bytes{segment=\"a\",kind=\"y\"} 0.5\n"
			 "# HELP size_bytes Value sizes\n"
			 "# TYPE size_bytes histogram\n"
			 "size_bytes_bucket{route=\"put\",le=\"4096\"} 2\n"
			 "size_bytes_bucket{route=\"put\",le=\"65536\"} 3\n"
			 "size_bytes_bucket{route=\"put\",le=\"1048576\"} 3\n"
			 "size_bytes_bucket{route=\"put\",le=\"+Inf\"} 4\n"
			 "size_bytes_sum{route=\"put\"} 2009196\n"
			 "size_bytes_count{route=\"put\"} 4\n"
			 "# HELP idle_seconds Never touched\n"
			 "# TYPE idle_seconds gauge\n"
			 "idle_seconds 0\n"
			 "# HELP empty_total Labelled, untouched\n"
			 "# TYPE empty_total counter\n");
	ck_assert(mc_series_value(put) == 4);
	ck_assert(mc_series_value(mc_family_series(c, NULL)) == 3);
	mc_metrics_free(m);
}
END_TEST

START_TEST(test_render_histogram_unlabelled)
{
	static const double b[] = {0.005, 0.5, 1048576};
	struct mc_metrics *m = mc_metrics_new();
	struct mc_family *h = mc_metrics_family(m, "lat_seconds", "Latency",
						MC_HISTOGRAM, NULL, b, 3);
	struct mc_family *none = mc_metrics_family(m, "n_seconds", "No bounds",
						   MC_HISTOGRAM, NULL, NULL, 0);

	ck_assert_ptr_nonnull(h);
	ck_assert_ptr_nonnull(none);
	assert_render(m, "# HELP lat_seconds Latency\n"
			 "# TYPE lat_seconds histogram\n"
			 "lat_seconds_bucket{le=\"0.005\"} 0\n"
			 "lat_seconds_bucket{le=\"0.5\"} 0\n"
			 "lat_seconds_bucket{le=\"1048576\"} 0\n"
			 "lat_seconds_bucket{le=\"+Inf\"} 0\n"
			 "lat_seconds_sum 0\n"
			 "lat_seconds_count 0\n"
			 "# HELP n_seconds No bounds\n"
			 "# TYPE n_seconds histogram\n"
			 "n_seconds_bucket{le=\"+Inf\"} 0\n"
			 "n_seconds_sum 0\n"
			 "n_seconds_count 0\n");
	/* bounds are inclusive; NaN counts in +Inf */
	mc_series_observe(mc_family_series(h, NULL), 0.005);
	mc_series_observe(mc_family_series(h, NULL), 0.25);
	mc_series_observe(mc_family_series(h, NULL), 0.75);
	mc_series_observe(mc_family_series(none, NULL), NAN);
	assert_render(m, "# HELP lat_seconds Latency\n"
			 "# TYPE lat_seconds histogram\n"
			 "lat_seconds_bucket{le=\"0.005\"} 1\n"
			 "lat_seconds_bucket{le=\"0.5\"} 2\n"
			 "lat_seconds_bucket{le=\"1048576\"} 3\n"
			 "lat_seconds_bucket{le=\"+Inf\"} 3\n"
			 "lat_seconds_sum 1.005\n"
			 "lat_seconds_count 3\n"
			 "# HELP n_seconds No bounds\n"
			 "# TYPE n_seconds histogram\n"
			 "n_seconds_bucket{le=\"+Inf\"} 1\n"
			 "n_seconds_sum NaN\n"
			 "n_seconds_count 1\n");
	mc_metrics_free(m);
}
END_TEST

static const struct {
	double v;
	const char *want;
} numbers[] = {
	{0, "0"},
	{-0.0, "0"},
	{1, "1"},
	{-7, "-7"},
	{4096, "4096"},
	{1048576, "1048576"},
	{3355443200.0, "3355443200"},
	{9007199254740993.0, "9007199254740992"},
	{1e18, "1000000000000000000"},
	{1e20, "1e+20"},
	{0.5, "0.5"},
	{0.1, "0.1"},
	{0.005, "0.005"},
	{-2.25, "-2.25"},
	{1.0 / 3, "0.3333333333333333"},
	{0.1 + 0.2, "0.30000000000000004"},
	{1e-300, "1e-300"},
	{123456.789, "123456.789"},
	/* the printf-free path (fmt_fixed): 15, 16 and 17 digits, its
	 * bounds, and what it leaves to printf */
	{12.207446, "12.207446"},
	{12.207446000000001, "12.207446000000001"},
	{21.71897108899997, "21.71897108899997"},
	{-0.02205309999999995, "-0.02205309999999995"},
	{0.0001, "0.0001"},
	{0.00012345, "0.00012345"},
	{0.000099, "9.9e-05"},
	{99999999999999.9, "99999999999999.9"},
	{999999999999999.9, "999999999999999.9"},
	{1796042114.05, "1796042114.05"},
	{0.9999999999999999, "0.9999999999999999"},
	{9.999999999999998, "9.999999999999998"},
	{INFINITY, "+Inf"},
	{-INFINITY, "-Inf"},
	{NAN, "NaN"},
};

START_TEST(test_render_numbers)
{
	struct mc_metrics *m = mc_metrics_new();
	struct mc_family *g =
		mc_metrics_family(m, "v", "v", MC_GAUGE, NULL, NULL, 0);
	char want[128];

	mc_series_set(mc_family_series(g, NULL), numbers[_i].v);
	snprintf(want, sizeof(want), "# HELP v v\n# TYPE v gauge\nv %s\n",
		 numbers[_i].want);
	assert_render(m, want);
	mc_metrics_free(m);
}
END_TEST

/* The fewest of 15, 16 and 17 significant digits that read back. */
static void shortest_g(char *out, size_t n, double v)
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(out, n, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			return;
	}
}

/*
 * Values of every size the renderer formats without printf (1e-4 to
 * 1e15, most needing 17 digits, as sums of fractions do, some just off a
 * power of ten) print as the shortest printf form that reads back.
 */
START_TEST(test_render_numbers_swept)
{
	struct mc_metrics *m = mc_metrics_new();
	struct mc_series *s = mc_family_series(
		mc_metrics_family(m, "v", "v", MC_GAUGE, NULL, NULL, 0), NULL);
	struct mc_buf out = MC_BUF_INIT;
	uint64_t x = 88172645463325252ull;
	char want[160], num[48];
	double sum = 0;

	for (int i = 0; i < 60000; i++) {
		double v;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (i % 3 == 0) {
			v = pow(10, -4 + 19.0 * (double)(x % 1000000) / 1e6);
		} else if (i % 3 == 1) {
			sum += (double)(x % 100000) * 1e-7;
			v = sum;
		} else {
			uint64_t b;

			v = pow(10, (double)(x % 19) - 4);
			memcpy(&b, &v, sizeof(b));
			b += x % 5 - 2;
			memcpy(&v, &b, sizeof(v));
		}
		if (x & (1ull << 40))
			v = -v;
		if (v == trunc(v))
			continue;
		shortest_g(num, sizeof(num), v);
		snprintf(want, sizeof(want),
			 "# HELP v v\n# TYPE v gauge\nv %s\n", num);
		mc_series_set(s, v);
		mc_buf_reset(&out);
		mc_metrics_render(m, &out);
		ck_assert_str_eq(out.data, want);
	}
	mc_buf_release(&out);
	mc_metrics_free(m);
}
END_TEST

START_TEST(test_set_then_add)
{
	struct mc_metrics *m = mc_metrics_new();
	struct mc_family *g =
		mc_metrics_family(m, "g", "g", MC_GAUGE, NULL, NULL, 0);
	struct mc_family *c =
		mc_metrics_family(m, "c_total", "c", MC_COUNTER, NULL, NULL, 0);
	struct mc_series *s = mc_family_series(g, NULL);
	struct mc_series *big = mc_family_series(c, NULL);

	mc_series_add(s, 5);
	mc_series_set(s, 2.5);
	mc_series_add(s, 1);
	ck_assert(mc_series_value(s) == 3.5);
	mc_series_set(s, 10);
	ck_assert(mc_series_value(s) == 10);
	/* a pure counter stays exact past 2^53 */
	mc_series_add(big, (1ull << 62) + 1);
	mc_series_add(big, 2);
	char *text = render(m);
	ck_assert_ptr_nonnull(strstr(text, "\ng 10\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nc_total 4611686018427387907\n"));
	free(text);
	mc_metrics_free(m);
}
END_TEST

START_TEST(test_escaping)
{
	struct mc_metrics *m = mc_metrics_new();
	struct mc_family *g = mc_metrics_family(
		m, "esc", "Help with \\ backslash\nand \"newline\"", MC_GAUGE,
		"v", NULL, 0);
	static const char *const hostile[] = {
		"a\"b",
		"c\\d",
		"e\nf",
		"\\\"\n",
		"caf\xc3\xa9 \xe2\x82\xac",
		"bad\xff",
		"\xc0\x80",
		"",
		"} 1\nesc{v=\"x",
		"tab\there",
	};

	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++)
		mc_series_set(mc_family_series(g, &hostile[i]), (double)i);
	assert_render(m,
		      "# HELP esc Help with \\\\ backslash\\nand \"newline\"\n"
		      "# TYPE esc gauge\n"
		      "esc{v=\"a\\\"b\"} 0\n"
		      "esc{v=\"c\\\\d\"} 1\n"
		      "esc{v=\"e\\nf\"} 2\n"
		      "esc{v=\"\\\\\\\"\\n\"} 3\n"
		      "esc{v=\"caf\xc3\xa9 \xe2\x82\xac\"} 4\n"
		      "esc{v=\"bad\xef\xbf\xbd\"} 5\n"
		      "esc{v=\"\xef\xbf\xbd\xef\xbf\xbd\"} 6\n"
		      "esc{v=\"\"} 7\n"
		      "esc{v=\"} 1\\nesc{v=\\\"x\"} 8\n"
		      "esc{v=\"tab\there\"} 9\n");

	struct mc_buf b = MC_BUF_INIT;
	mc_metrics_escape(&b, "x\\y\"z\n");
	ck_assert_str_eq(b.data, "x\\\\y\\\"z\\n");
	mc_buf_release(&b);
	mc_metrics_free(m);
}
END_TEST

/* A rebuild drops what it did not look up, keeps the rest and its order. */
START_TEST(test_mark_sweep)
{
	struct mc_metrics *m = mc_metrics_new();
	struct mc_family *g =
		mc_metrics_family(m, "seg", "s", MC_GAUGE, "segment", NULL, 0);
	struct mc_family *u =
		mc_metrics_family(m, "u", "u", MC_GAUGE, NULL, NULL, 0);

	mc_series_set(mc_family_series(u, NULL), 3);
	for (int i = 0; i < 40; i++) {
		char name[8];

		snprintf(name, sizeof(name), "s%d", i);
		mc_series_set(mc_family_series(g, (const char *[]){name}), i);
	}
	mc_family_mark(g);
	mc_family_mark(u);
	mc_series_set(mc_family_series(g, (const char *[]){"s3"}), 30);
	mc_series_set(mc_family_series(g, (const char *[]){"new"}), 7);
	mc_series_set(mc_family_series(g, (const char *[]){"s1"}), 10);
	mc_family_sweep(g);
	mc_family_sweep(u);
	mc_family_sweep(NULL);
	mc_family_mark(NULL);
	assert_render(m, "# HELP seg s\n# TYPE seg gauge\n"
			 "seg{segment=\"s1\"} 10\n"
			 "seg{segment=\"s3\"} 30\n"
			 "seg{segment=\"new\"} 7\n"
			 "# HELP u u\n# TYPE u gauge\nu 3\n");
	/* the hash chains lost the dropped series too: they come back new */
	mc_series_add(mc_family_series(g, (const char *[]){"s2"}), 2);
	mc_series_add(mc_family_series(g, (const char *[]){"s3"}), 1);
	assert_render(m, "# HELP seg s\n# TYPE seg gauge\n"
			 "seg{segment=\"s1\"} 10\n"
			 "seg{segment=\"s3\"} 31\n"
			 "seg{segment=\"new\"} 7\n"
			 "seg{segment=\"s2\"} 2\n"
			 "# HELP u u\n# TYPE u gauge\nu 3\n");
	mc_metrics_free(m);
}
END_TEST

/*
 * Renders run while a collector rebuilds a family (mark, look up, sweep):
 * none shows a live series missing. "a" and "b" are always live; the
 * third name changes at every collection.
 */
struct rebuild {
	struct mc_family *f;
	int n;
};

static void rebuild_collect(struct mc_metrics *m, void *arg)
{
	struct rebuild *r = arg;
	char name[16];

	(void)m;
	snprintf(name, sizeof(name), "x%d", r->n++);
	mc_family_mark(r->f);
	mc_series_set(mc_family_series(r->f, (const char *[]){"a"}), 1);
	mc_series_set(mc_family_series(r->f, (const char *[]){name}), 1);
	mc_series_set(mc_family_series(r->f, (const char *[]){"b"}), 1);
	mc_family_sweep(r->f);
}

struct scraper {
	struct mc_metrics *m;
	int n, missing;
};

static void *scrape_work(void *arg)
{
	struct scraper *sc = arg;

	for (int i = 0; i < sc->n; i++) {
		char *text = render(sc->m);

		if (!strstr(text, "r{s=\"a\"} 1\n") ||
		    !strstr(text, "r{s=\"b\"} 1\n"))
			sc->missing++;
		free(text);
	}
	return NULL;
}

START_TEST(test_render_during_rebuild)
{
	enum { THREADS = 4 };
	struct mc_metrics *m = mc_metrics_new();
	struct rebuild r = {
		mc_metrics_family(m, "r", "r", MC_GAUGE, "s", NULL, 0), 0};
	struct scraper sc[THREADS];
	pthread_t t[THREADS];

	mc_metrics_add_collector(m, rebuild_collect, &r);
	for (int i = 0; i < THREADS; i++) {
		sc[i] = (struct scraper){m, mc_test_quick() ? 200 : 5000, 0};
		ck_assert_int_eq(
			pthread_create(&t[i], NULL, scrape_work, &sc[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(sc[i].missing, 0);
	}
	/* one collection per render at most, and the last one's name alone */
	ck_assert_int_le(r.n, THREADS * sc[0].n);
	char *text = render(m), want[32];

	snprintf(want, sizeof(want), "r{s=\"x%d\"} 1\n", r.n - 1);
	ck_assert_ptr_nonnull(strstr(text, want));
	snprintf(want, sizeof(want), "r{s=\"x%d\"}", r.n - 2);
	ck_assert_ptr_null(strstr(text, want));
	free(text);
	mc_metrics_free(m);
}
END_TEST

/*
 * Scrapes behind a collector that blocks (20 ms here) wait for it
 * asleep: each one's CPU time stays far below the time it waited.
 */
static void slow_collect(struct mc_metrics *m, void *arg)
{
	(void)m;
	(void)arg;
	usleep(20000);
}

static double thread_cpu(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double wall_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct slow {
	struct mc_metrics *m;
	double cpu, wall;
};

static void *slow_scrape(void *arg)
{
	struct slow *sl = arg;
	double c0 = thread_cpu(), w0 = wall_now();

	for (int i = 0; i < 5; i++)
		free(render(sl->m));
	sl->cpu = thread_cpu() - c0;
	sl->wall = wall_now() - w0;
	return NULL;
}

START_TEST(test_slow_collector)
{
	enum { THREADS = 4 };
	struct mc_metrics *m = mc_metrics_new();
	struct slow sl[THREADS];
	pthread_t t[THREADS];

	mc_metrics_family(m, "g", "g", MC_GAUGE, NULL, NULL, 0);
	mc_metrics_add_collector(m, slow_collect, NULL);
	for (int i = 0; i < THREADS; i++) {
		sl[i] = (struct slow){m, 0, 0};
		ck_assert_int_eq(
			pthread_create(&t[i], NULL, slow_scrape, &sl[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		ck_assert_msg(sl[i].cpu < sl[i].wall / 2,
			      "a scrape spent %.3f s of CPU in %.3f s",
			      sl[i].cpu, sl[i].wall);
	}
	mc_metrics_free(m);
}
END_TEST

/*
 * A scrape whose trylock fails against a holder that does not collect
 * (a scrape that held the lock only to check, as before f58f655) and
 * that sees no collection finish must collect itself, not wait for a
 * collection nobody runs (the old code looped there until another
 * scrape came).
 */
static void count_collect(struct mc_metrics *m, void *arg)
{
	(void)m;
	atomic_fetch_add((_Atomic int *)arg, 1);
}

struct lone {
	struct mc_metrics *m;
	_Atomic bool done;
};

static void *lone_scrape(void *arg)
{
	struct lone *l = arg;

	free(render(l->m));
	atomic_store(&l->done, true);
	return NULL;
}

START_TEST(test_collect_behind_checker)
{
	struct mc_metrics *m = mc_metrics_new();
	_Atomic int runs = 0;
	struct lone l = {.m = m};
	pthread_t t;

	mc_metrics_family(m, "g", "g", MC_GAUGE, NULL, NULL, 0);
	mc_metrics_add_collector(m, count_collect, (void *)&runs);
	mc_metrics_collect_hold(m, 1);
	ck_assert_int_eq(pthread_create(&t, NULL, lone_scrape, &l), 0);
	usleep(100000); /* it failed its trylock and waits */
	ck_assert(!atomic_load(&l.done));
	ck_assert_int_eq(atomic_load(&runs), 0);
	mc_metrics_collect_hold(m, 0); /* let go, nothing collected */
	for (int i = 0; i < 500 && !atomic_load(&l.done); i++)
		usleep(10000);
	ck_assert_msg(atomic_load(&l.done),
		      "a scrape still waits 5 s after the lock was free");
	pthread_join(t, NULL);
	ck_assert_int_eq(atomic_load(&runs), 1); /* it collected itself */
	mc_metrics_free(m);
}
END_TEST

START_TEST(test_clear)
{
	struct mc_metrics *m = mc_metrics_new();
	struct mc_family *g =
		mc_metrics_family(m, "seg", "s", MC_GAUGE, "segment", NULL, 0);
	struct mc_family *u =
		mc_metrics_family(m, "u", "u", MC_GAUGE, NULL, NULL, 0);
	struct mc_series *us = mc_family_series(u, NULL);

	mc_series_set(mc_family_series(g, (const char *[]){"a"}), 1);
	mc_series_set(mc_family_series(g, (const char *[]){"b"}), 2);
	mc_series_set(us, 7);
	mc_family_clear(g);
	mc_family_clear(u);
	assert_render(m, "# HELP seg s\n# TYPE seg gauge\n"
			 "# HELP u u\n# TYPE u gauge\nu 0\n");
	/* series come back after a clear, new and at 0 */
	mc_series_add(mc_family_series(g, (const char *[]){"b"}), 4);
	mc_series_add(us, 1);
	assert_render(m,
		      "# HELP seg s\n# TYPE seg gauge\nseg{segment=\"b\"} 4\n"
		      "# HELP u u\n# TYPE u gauge\nu 1\n");
	mc_metrics_free(m);
}
END_TEST

START_TEST(test_many_series)
{
	struct mc_metrics *m = mc_metrics_new();
	struct mc_family *c = mc_metrics_family(m, "many_total", "m",
						MC_COUNTER, "a,b", NULL, 0);
	struct mc_series *s[600];
	char a[16], b[16];

	/* past several rehashes; ("1","23") and ("12","3") differ */
	for (int i = 0; i < 600; i++) {
		snprintf(a, sizeof(a), "%d", i / 10);
		snprintf(b, sizeof(b), "%d", i % 10);
		s[i] = mc_family_series(c, (const char *[]){a, b});
		mc_series_add(s[i], i);
	}
	ck_assert_ptr_ne(mc_family_series(c, (const char *[]){"1", "23"}),
			 mc_family_series(c, (const char *[]){"12", "3"}));
	for (int i = 0; i < 600; i++) {
		snprintf(a, sizeof(a), "%d", i / 10);
		snprintf(b, sizeof(b), "%d", i % 10);
		ck_assert_ptr_eq(s[i],
				 mc_family_series(c, (const char *[]){a, b}));
		ck_assert(mc_series_value(s[i]) == i);
	}
	/* a NULL value is "" */
	ck_assert_ptr_eq(mc_family_series(c, (const char *[]){"", NULL}),
			 mc_family_series(c, (const char *[]){NULL, ""}));
	char *text = render(m);
	const char *p0 = find_line(text, "many_total{a=\"0\",b=\"0\"} 0");
	const char *p1 = find_line(text, "many_total{a=\"0\",b=\"1\"} 1");
	const char *p2 = find_line(text, "many_total{a=\"59\",b=\"9\"} 599");
	ck_assert_ptr_nonnull(p0);
	ck_assert_ptr_nonnull(p1);
	ck_assert_ptr_nonnull(p2);
	/* creation order */
	ck_assert(p0 < p1);
	ck_assert(p1 < p2);
	free(text);
	mc_metrics_free(m);
}
END_TEST

START_TEST(test_register)
{
	static const double good[] = {1, 2}, unsorted[] = {2, 1},
			    dup[] = {1, 1}, inf[] = {1, INFINITY};
	struct mc_metrics *m = mc_metrics_new();
	struct mc_family *f = mc_metrics_family(m, "a:b_c", "x", MC_COUNTER,
						"l1,_l2", NULL, 0);

	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_eq(f, mc_metrics_family(m, "a:b_c", "other", MC_COUNTER,
					      "l1,_l2", NULL, 0));
	ck_assert_ptr_eq(f, mc_metrics_find(m, "a:b_c"));
	ck_assert_ptr_null(mc_metrics_find(m, "nope"));
	ck_assert_ptr_null(
		mc_metrics_family(m, "a:b_c", "x", MC_GAUGE, NULL, NULL, 0));
	/* hostile names, labels, buckets */
	static const char *const bad_names[] = {"",    "1abc", "a-b", "a b",
						"a\n", "é",    "a{b}"};
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
		ck_assert_msg(!mc_metrics_family(m, bad_names[i], "x", MC_GAUGE,
						 NULL, NULL, 0),
			      "name '%s' accepted", bad_names[i]);
	static const char *const bad_labels[] = {
		",", "a,", ",a", "a,,b", "a,a", "a:b", "__x", "1a", "a b"};
	for (size_t i = 0; i < sizeof(bad_labels) / sizeof(bad_labels[0]); i++)
		ck_assert_msg(!mc_metrics_family(m, "g", "x", MC_GAUGE,
						 bad_labels[i], NULL, 0),
			      "labels '%s' accepted", bad_labels[i]);
	ck_assert_ptr_null(
		mc_metrics_family(m, "h", "x", MC_HISTOGRAM, "le", good, 2));
	ck_assert_ptr_null(mc_metrics_family(m, "h", "x", MC_HISTOGRAM, NULL,
					     unsorted, 2));
	ck_assert_ptr_null(
		mc_metrics_family(m, "h", "x", MC_HISTOGRAM, NULL, dup, 2));
	ck_assert_ptr_null(
		mc_metrics_family(m, "h", "x", MC_HISTOGRAM, NULL, inf, 2));
	ck_assert_ptr_null(mc_metrics_family(
		m, "h", "x", (enum mc_metric_type)7, NULL, NULL, 0));
	ck_assert_ptr_null(mc_metrics_find(m, "h"));
	ck_assert_ptr_null(mc_metrics_find(m, "g"));
	ck_assert_ptr_nonnull(
		mc_metrics_family(m, "h", "x", MC_GAUGE, "le", NULL, 0));
	/* NULL everywhere is a no-op, not a crash */
	ck_assert_ptr_null(mc_family_series(NULL, NULL));
	mc_family_clear(NULL);
	mc_series_add(NULL, 1);
	mc_series_set(NULL, 1);
	mc_series_observe(NULL, 1);
	ck_assert(mc_series_value(NULL) == 0);
	/* wrong-kind updates are ignored */
	struct mc_family *h =
		mc_metrics_family(m, "hh", "x", MC_HISTOGRAM, NULL, good, 2);
	struct mc_family *c = mc_metrics_family(m, "cc_total", "x", MC_COUNTER,
						NULL, NULL, 0);
	mc_series_set(mc_family_series(h, NULL), 5);
	mc_series_add(mc_family_series(h, NULL), 5);
	mc_series_observe(mc_family_series(c, NULL), 5);
	ck_assert(mc_series_value(mc_family_series(h, NULL)) == 0);
	ck_assert(mc_series_value(mc_family_series(c, NULL)) == 0);
	mc_metrics_free(m);
	mc_metrics_free(NULL);
}
END_TEST

START_TEST(test_empty_registry)
{
	struct mc_metrics *m = mc_metrics_new();

	assert_render(m, "\n");
	mc_metrics_free(m);
}
END_TEST

struct order {
	char log[16];
	int n;
};

static void collect_a(struct mc_metrics *m, void *arg)
{
	struct order *o = arg;
	struct mc_family *f = mc_metrics_find(m, "seg");

	o->log[o->n++] = 'a';
	/* rebuild a labelled family from "live state" */
	mc_family_clear(f);
	mc_series_set(mc_family_series(f, (const char *[]){"s1"}), o->n);
}

static void collect_b(struct mc_metrics *m, void *arg)
{
	struct order *o = arg;

	o->log[o->n++] = 'b';
	mc_series_set(mc_family_series(mc_metrics_find(m, "runs"), NULL), o->n);
}

START_TEST(test_collectors)
{
	struct mc_metrics *m = mc_metrics_new();
	struct order o = {.n = 0};

	mc_metrics_family(m, "seg", "s", MC_GAUGE, "segment", NULL, 0);
	mc_metrics_family(m, "runs", "r", MC_GAUGE, NULL, NULL, 0);
	mc_metrics_add_collector(m, collect_a, &o);
	mc_metrics_add_collector(m, collect_b, &o);
	ck_assert_int_eq(o.n, 0);
	assert_render(m,
		      "# HELP seg s\n# TYPE seg gauge\nseg{segment=\"s1\"} 1\n"
		      "# HELP runs r\n# TYPE runs gauge\nruns 2\n");
	assert_render(m,
		      "# HELP seg s\n# TYPE seg gauge\nseg{segment=\"s1\"} 3\n"
		      "# HELP runs r\n# TYPE runs gauge\nruns 4\n");
	ck_assert_str_eq(o.log, "abab");
	mc_metrics_free(m);
}
END_TEST

/* The value on the line that starts with "@name ". */
static double sample(const char *text, const char *name)
{
	char prefix[128];
	const char *p;

	snprintf(prefix, sizeof(prefix), "%s ", name);
	p = find_line(text, prefix);
	ck_assert_msg(p != NULL, "no sample '%s' in:\n%s", name, text);
	return strtod(p + strlen(prefix), NULL);
}

START_TEST(test_process)
{
	static const char *const families[] = {
		"process_cpu_seconds_total counter",
		"process_open_fds gauge",
		"process_max_fds gauge",
		"process_virtual_memory_bytes gauge",
		"process_resident_memory_bytes gauge",
		"process_start_time_seconds gauge",
	};
	struct mc_metrics *m = mc_metrics_new();
	double now = (double)time(NULL);
	char line[128];

	mc_metrics_add_process(m);
	char *text = render(m);
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		snprintf(line, sizeof(line), "# TYPE %s\n", families[i]);
		ck_assert_msg(strstr(text, line), "no '%s' in:\n%s",
			      families[i], text);
	}
	ck_assert_ptr_nonnull(strstr(text, "# HELP process_cpu_seconds_total "
					   "Total user and system CPU time "
					   "spent in seconds.\n"));
	ck_assert(sample(text, "process_cpu_seconds_total") >= 0);
	ck_assert(sample(text, "process_open_fds") >= 3);
	ck_assert(sample(text, "process_max_fds") >=
		  sample(text, "process_open_fds"));
	ck_assert(sample(text, "process_resident_memory_bytes") > 4096);
	ck_assert(sample(text, "process_virtual_memory_bytes") >=
		  sample(text, "process_resident_memory_bytes"));
	double start = sample(text, "process_start_time_seconds");
	ck_assert_msg(start > now - 3600 && start <= now + 1,
		      "start time %f, now %f", start, now);
	free(text);

	/*
	 * The collector follows a new descriptor, on the first render a
	 * second after the last read (/proc is read at most once a second).
	 */
	FILE *extra = fopen("/dev/null", "r");
	ck_assert_ptr_nonnull(extra);
	usleep(1100 * 1000);
	text = render(m);
	double before = sample(text, "process_open_fds");
	free(text);
	fclose(extra);
	text = render(m);
	ck_assert(sample(text, "process_open_fds") == before); /* cached */
	free(text);
	usleep(1100 * 1000);
	text = render(m);
	ck_assert(sample(text, "process_open_fds") == before - 1);
	free(text);
	mc_metrics_free(m);
}
END_TEST

/* Feeds @text to promtool; returns its exit status, 127 when missing. */
static int promtool(const char *text)
{
	const char *tool = getenv("PROMTOOL");
	char cmd[512];
	FILE *p;
	int st;

	if (!tool || !*tool)
		tool = "promtool";
	snprintf(cmd, sizeof(cmd), "'%s' check metrics 2>&1", tool);
	p = popen(cmd, "w");
	ck_assert_msg(p != NULL, "cannot run '%s'", cmd);
	fputs(text, p);
	st = pclose(p);
	ck_assert_msg(st != -1 && WIFEXITED(st), "'%s' did not exit", cmd);
	ck_assert_msg(WEXITSTATUS(st) != 127,
		      "'%s' not found: install promtool (bootstrap does)",
		      tool);
	return WEXITSTATUS(st);
}

START_TEST(test_promtool)
{
	static const double b[] = {4096,    65536,    262144,  1048576,
				   4194304, 16777216, 67108864};
	static const double secs[] = {0.005, 0.25, 1};
	struct mc_metrics *m = mc_metrics_new();
	struct mc_family *c, *g, *h, *l;

	c = mc_metrics_family(m, "master_put_start_requests_total",
			      "Total number of PutStart requests received",
			      MC_COUNTER, NULL, NULL, 0);
	g = mc_metrics_family(m, "segment_allocated_bytes",
			      "Total memory bytes currently allocated of the "
			      "segment",
			      MC_GAUGE, "segment", NULL, 0);
	h = mc_metrics_family(m, "master_value_size_bytes",
			      "Distribution of object value sizes",
			      MC_HISTOGRAM, NULL, b, 7);
	l = mc_metrics_family(m, "http_request_duration_seconds",
			      "Time to answer a request, \\ and\nnewline",
			      MC_HISTOGRAM, "route,code", secs, 3);
	mc_metrics_family(m, "http_requests_total", "Requests by route",
			  MC_COUNTER, "route", NULL, 0);
	mc_metrics_add_process(m);
	mc_series_add(mc_family_series(c, NULL), 12);
	mc_series_set(mc_family_series(g, (const char *[]){"node\"1\\\n\xff"}),
		      16777216);
	mc_series_set(mc_family_series(g, (const char *[]){"caf\xc3\xa9"}),
		      0.25);
	mc_series_observe(mc_family_series(h, NULL), 5000);
	mc_series_observe(mc_family_series(h, NULL), 1e9);
	mc_series_observe(mc_family_series(l, (const char *[]){"/put", "200"}),
			  0.01);
	mc_series_observe(mc_family_series(l, (const char *[]){"/get", "404"}),
			  2);

	char *text = render(m);
	int st = promtool(text);
	ck_assert_msg(st == 0, "promtool check metrics exited %d on:\n%s", st,
		      text);
	free(text);

	/* and the check can fail: a broken exposition is refused */
	ck_assert_int_ne(promtool("# TYPE x counter\nx{a=\"1} 1\n"), 0);
	mc_metrics_free(m);
}
END_TEST

struct worker {
	struct mc_series *c, *h;
	int n;
};

static void *work(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < w->n; i++) {
		mc_series_add(w->c, 1);
		mc_series_observe(w->h, i % 3); /* 0, 1, 2: sums stay exact */
	}
	return NULL;
}

START_TEST(test_concurrent)
{
	static const double b[] = {0, 1};
	enum { THREADS = 4 };
	struct mc_metrics *m = mc_metrics_new();
	struct mc_family *c = mc_metrics_family(m, "hits_total", "h",
						MC_COUNTER, NULL, NULL, 0);
	struct mc_family *h =
		mc_metrics_family(m, "obs", "o", MC_HISTOGRAM, NULL, b, 2);
	struct worker w = {mc_family_series(c, NULL), mc_family_series(h, NULL),
			   mc_test_quick() ? 3000 : 300000};
	pthread_t t[THREADS];
	char want[512];

	for (int i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, work, &w), 0);
	/* render while they run: must not crash or tear */
	for (int i = 0; i < 20; i++) {
		char *text = render(m);
		free(text);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);

	long long total = (long long)THREADS * w.n;
	long long per = total / 3; /* n is a multiple of 3 */
	snprintf(want, sizeof(want),
		 "# HELP hits_total h\n# TYPE hits_total counter\n"
		 "hits_total %lld\n"
		 "# HELP obs o\n# TYPE obs histogram\n"
		 "obs_bucket{le=\"0\"} %lld\n"
		 "obs_bucket{le=\"1\"} %lld\n"
		 "obs_bucket{le=\"+Inf\"} %lld\n"
		 "obs_sum %lld\n"
		 "obs_count %lld\n",
		 total, per, 2 * per, total, 3 * per, total);
	assert_render(m, want);
	mc_metrics_free(m);
}
END_TEST

/*
 * Renders run side by side and share collections, and each must still
 * read the counters after it was called: every scrape shows a count at
 * least the one its thread read just before asking.
 */
struct fresh {
	struct mc_metrics *m;
	struct mc_series *c;
	int n, stale;
};

static void *fresh_work(void *arg)
{
	struct fresh *f = arg;

	for (int i = 0; i < f->n; i++) {
		mc_series_add(f->c, 1);
		long long before = (long long)mc_series_value(f->c);
		char *text = render(f->m);
		const char *p = strstr(text, "\nticks_total ");

		if (!p || atoll(p + 13) < before)
			f->stale++;
		free(text);
	}
	return NULL;
}

START_TEST(test_shared_render_fresh)
{
	enum { THREADS = 4 };
	struct mc_metrics *m = mc_metrics_new();
	struct mc_family *c = mc_metrics_family(m, "ticks_total", "t",
						MC_COUNTER, NULL, NULL, 0);
	struct fresh f[THREADS];
	pthread_t t[THREADS];

	for (int i = 0; i < THREADS; i++) {
		f[i] = (struct fresh){m, mc_family_series(c, NULL),
				      mc_test_quick() ? 50 : 2000, 0};
		ck_assert_int_eq(pthread_create(&t[i], NULL, fresh_work, &f[i]),
				 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(f[i].stale, 0);
	}
	/* one caller at a time renders anew: a change shows at once */
	mc_series_add(f[0].c, 5);
	char *text = render(m);
	char want[64];
	snprintf(want, sizeof(want), "\nticks_total %d\n",
		 THREADS * f[0].n + 5);
	ck_assert_ptr_nonnull(strstr(text, want));
	free(text);
	mc_metrics_free(m);
}
END_TEST

#define N(a) (int)(sizeof(a) / sizeof((a)[0]))

static Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_render_exact);
	tcase_add_test(tc, test_render_histogram_unlabelled);
	tcase_add_loop_test(tc, test_render_numbers, 0, N(numbers));
	tcase_add_test(tc, test_render_numbers_swept);
	tcase_add_test(tc, test_set_then_add);
	tcase_add_test(tc, test_escaping);
	tcase_add_test(tc, test_clear);
	tcase_add_test(tc, test_mark_sweep);
	tcase_add_test(tc, test_render_during_rebuild);
	tcase_add_test(tc, test_slow_collector);
	tcase_add_test(tc, test_collect_behind_checker);
	tcase_add_test(tc, test_many_series);
	tcase_add_test(tc, test_register);
	tcase_add_test(tc, test_empty_registry);
	tcase_add_test(tc, test_collectors);
	tcase_add_test(tc, test_process);
	tcase_add_test(tc, test_promtool);
	tcase_add_test(tc, test_concurrent);
	tcase_add_test(tc, test_shared_render_fresh);
	suite_add_tcase(s, tc);
	return s;
}

MC_CHECK_MAIN(metrics_suite)
