/*
 * check_scrape.c - /metrics of a live store under concurrency: scrapes
 * side by side while puts run and segments come and go each give a
 * well-formed exposition, whose counters never go back from one scrape
 * to the next and are at least what they were when the scrape was asked
 * (mooncake-http(7), /metrics; metrics.h, mc_metrics_render).
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

#include "check.h"
#include "check_mount.h"
#include "metrics.h"
#include "mooncake.h"
#include "render.h"

#define MiB (1ull << 20)

/* ------------------------------------------- the exposition's grammar */

static bool name_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       c == ':' || (!first && c >= '0' && c <= '9');
}

/* A metric or label name at *p: moves past it; false when none. */
static bool skip_name(const char **p)
{
	const char *q = *p;

	if (!name_char(*q, true))
		return false;
	while (name_char(*q, false))
		q++;
	*p = q;
	return true;
}

/* {a="x",b="y\"z"} at *p (may be absent): moves past it. */
static bool skip_labels(const char **p)
{
	const char *q = *p;

	if (*q != '{')
		return true;
	q++;
	while (*q != '}') {
		if (!skip_name(&q) || *q++ != '=' || *q++ != '"')
			return false;
		while (*q != '"') {
			if (*q == '\n' || !*q)
				return false;
			if (*q == '\\' && q[1] != '\\' && q[1] != '"' &&
			    q[1] != 'n')
				return false;
			q += *q == '\\' ? 2 : 1;
		}
		q++;
		if (*q == ',')
			q++;
		else if (*q != '}')
			return false;
	}
	*p = q + 1;
	return true;
}

struct sample {
	char key[192]; /* name{labels} */
	double v;
	bool counted; /* a counter, or a histogram's buckets and count */
};

struct parsed {
	struct sample *s;
	size_t n, cap;
};

static int by_key(const void *a, const void *b)
{
	return strcmp(((const struct sample *)a)->key,
		      ((const struct sample *)b)->key);
}

/*
 * Checks @t line by line (HELP, TYPE, then samples of that family, each
 * "name{labels} value") and keeps its samples, sorted by key. Returns
 * NULL, or what is wrong (static text) with *line the offending line.
 */
static const char *parse(const char *t, struct parsed *out, const char **line)
{
	char family[128] = "", type[16] = "";

	out->n = 0;
	if (!*t || t[strlen(t) - 1] != '\n')
		return "does not end with a newline";
	for (const char *p = t; *p; p = strchr(p, '\n') + 1) {
		const char *q = p, *name;
		char *end;
		size_t len;

		*line = p;
		if (!strncmp(p, "# HELP ", 7)) {
			q = p + 7;
			name = q;
			if (!skip_name(&q) || *q != ' ')
				return "a HELP line without a name";
			len = (size_t)(q - name);
			if (len >= sizeof(family))
				return "a family name too long";
			memcpy(family, name, len);
			family[len] = '\0';
			type[0] = '\0';
			continue;
		}
		if (!strncmp(p, "# TYPE ", 7)) {
			q = p + 7;
			name = q;
			if (!skip_name(&q) || *q++ != ' ' ||
			    strncmp(name, family, strlen(family)) ||
			    name + strlen(family) != q - 1)
				return "a TYPE line not after its HELP";
			if (sscanf(q, "%15[a-z]", type) != 1 ||
			    (strcmp(type, "counter") && strcmp(type, "gauge") &&
			     strcmp(type, "histogram")) ||
			    q[strlen(type)] != '\n')
				return "a TYPE line of no known type";
			continue;
		}
		if (*p == '#' || !type[0])
			return "a sample before its family's HELP and TYPE";
		name = q;
		if (!skip_name(&q) || strncmp(name, family, strlen(family)))
			return "a sample outside its family";
		const char *suffix = name + strlen(family);
		bool hist = !strcmp(type, "histogram");
		if (hist ? strncmp(suffix, "_bucket", 7) &&
				    strncmp(suffix, "_sum", 4) &&
				    strncmp(suffix, "_count", 6)
			 : suffix != q)
			return "a sample name that is not its family's";
		if (!skip_labels(&q) || *q != ' ')
			return "a sample with bad labels";
		if (out->n == out->cap) {
			out->cap = out->cap ? 2 * out->cap : 256;
			out->s = realloc(out->s, out->cap * sizeof(*out->s));
			ck_assert_ptr_nonnull(out->s);
		}
		struct sample *s = &out->s[out->n];
		len = (size_t)(q - name);
		if (len >= sizeof(s->key))
			return "a sample name and labels too long";
		memcpy(s->key, name, len);
		s->key[len] = '\0';
		s->v = strtod(q + 1, &end);
		if (end == q + 1 || *end != '\n')
			return "a sample whose value does not parse";
		s->counted = !strcmp(type, "counter") ||
			     (hist && strncmp(suffix, "_sum", 4));
		out->n++;
	}
	qsort(out->s, out->n, sizeof(*out->s), by_key);
	for (size_t i = 1; i < out->n; i++)
		if (!strcmp(out->s[i - 1].key, out->s[i].key)) {
			*line = out->s[i].key;
			return "a sample twice";
		}
	return NULL;
}

static const struct sample *find(const struct parsed *p, const char *key)
{
	struct sample k;

	snprintf(k.key, sizeof(k.key), "%s", key);
	return bsearch(&k, p->s, p->n, sizeof(k), by_key);
}

/* --------------------------------------------------- the store's side */

struct run {
	struct mc_store *s;
	struct mc_series *puts;	   /* master_put_start_requests_total */
	_Atomic bool stop, failed; /* failed: a mount or unmount */
	_Atomic int mounts;
};

struct putter {
	struct run *r;
	int id, n;
};

static void *put_main(void *arg)
{
	struct putter *p = arg;
	char key[32], val[256];

	memset(val, 'v', sizeof(val));
	for (int i = 0; i < p->n; i++) {
		snprintf(key, sizeof(key), "p%d-%d", p->id, i % 500);
		mc_put(p->r->s, key, strlen(key), val, 1 + (size_t)i % 256,
		       NULL);
	}
	return NULL;
}

/* A segment mounted and unmounted over and over: its series come and
 * go, so collections rebuild the segment families while scrapes run. */
static void *churn_main(void *arg)
{
	struct run *r = arg;
	char id[MC_ID_LEN + 1];
	const char *ids[] = {id};
	struct mc_unmount_req u = {.ids = ids, .n = 1};
	struct mc_err e;

	while (!atomic_load(&r->stop)) {
		struct mc_mount_req m = {.size = 16 * MiB, .name = "churn"};
		struct mc_mount_result res;

		if (mc_segment_mount(r->s, &m, &res, &e) || res.n != 1) {
			atomic_store(&r->failed, true);
			return NULL;
		}
		memcpy(id, res.ids[0], MC_ID_LEN + 1);
		free(res.ids);
		sched_yield();
		if (mc_segment_unmount(r->s, &u, NULL, NULL, &e)) {
			atomic_store(&r->failed, true);
			return NULL;
		}
		atomic_fetch_add(&r->mounts, 1);
		sched_yield();
	}
	return NULL;
}

struct scraper {
	struct run *r;
	int n;
	int bad, back, stale, churn_seen;
	char why[512];
};

static void *scrape_main(void *arg)
{
	struct scraper *sc = arg;
	struct parsed prev = {0}, cur = {0}, tmp;
	struct mc_buf b = MC_BUF_INIT;
	const char *line, *err;
	char puts_key[] = "master_put_start_requests_total";

	for (int i = 0; i < sc->n; i++) {
		double before = mc_series_value(sc->r->puts);

		mc_buf_reset(&b);
		mc_render_metrics(sc->r->s, &b);
		err = parse(b.data, &cur, &line);
		if (err) {
			if (!sc->bad++)
				snprintf(sc->why, sizeof(sc->why), "%s: %.200s",
					 err, line);
			continue;
		}
		/* asked after `before` was read: at least that */
		const struct sample *p = find(&cur, puts_key);
		if (!p || p->v < before)
			sc->stale++;
		sc->churn_seen += strstr(b.data, "segment=\"churn\"") != NULL;
		/* no counter goes back from one scrape to the next */
		for (size_t j = 0; j < cur.n && prev.n; j++) {
			const struct sample *q = find(&prev, cur.s[j].key);

			if (cur.s[j].counted && q && cur.s[j].v < q->v) {
				if (!sc->back++)
					snprintf(sc->why, sizeof(sc->why),
						 "%s went from %g to %g",
						 cur.s[j].key, q->v,
						 cur.s[j].v);
			}
		}
		tmp = prev;
		prev = cur;
		cur = tmp;
	}
	free(prev.s);
	free(cur.s);
	mc_buf_release(&b);
	return NULL;
}

START_TEST(test_scrapes_during_puts)
{
	enum { PUTTERS = 2, SCRAPERS = 4 };
	struct mc_store_opts o;
	struct run r = {0};
	struct putter pt[PUTTERS];
	struct scraper sc[SCRAPERS];
	pthread_t tp[PUTTERS], ts[SCRAPERS], tc;
	int total_seen = 0;

	mc_store_opts_default(&o);
	r.s = mc_store_new(&o, NULL);
	ck_assert_ptr_nonnull(r.s);
	check_mount(r.s, 16 * MiB, "a", NULL);
	check_mount(r.s, 16 * MiB, "b", NULL);
	r.puts = mc_family_series(mc_metrics_find(mc_store_metrics(r.s),
						  "master_put_start_requests_"
						  "total"),
				  NULL);
	ck_assert_ptr_nonnull(r.puts);
	ck_assert_int_eq(pthread_create(&tc, NULL, churn_main, &r), 0);
	for (int i = 0; i < PUTTERS; i++) {
		pt[i] = (struct putter){&r, i, mc_test_quick() ? 2000 : 100000};
		ck_assert_int_eq(pthread_create(&tp[i], NULL, put_main, &pt[i]),
				 0);
	}
	for (int i = 0; i < SCRAPERS; i++) {
		sc[i] = (struct scraper){.r = &r,
					 .n = mc_test_quick() ? 100 : 3000};
		ck_assert_int_eq(
			pthread_create(&ts[i], NULL, scrape_main, &sc[i]), 0);
	}
	for (int i = 0; i < SCRAPERS; i++)
		pthread_join(ts[i], NULL);
	for (int i = 0; i < PUTTERS; i++)
		pthread_join(tp[i], NULL);
	atomic_store(&r.stop, true);
	pthread_join(tc, NULL);
	for (int i = 0; i < SCRAPERS; i++) {
		ck_assert_msg(sc[i].bad == 0, "%d scrapes malformed, first: %s",
			      sc[i].bad, sc[i].why);
		ck_assert_msg(sc[i].back == 0,
			      "%d scrapes with a counter gone back, first: %s",
			      sc[i].back, sc[i].why);
		ck_assert_int_eq(sc[i].stale, 0);
		total_seen += sc[i].churn_seen;
	}
	/* the churn ran, and scrapes saw its segment come and go */
	ck_assert(!atomic_load(&r.failed));
	ck_assert_int_gt(atomic_load(&r.mounts), 0);
	ck_assert_int_gt(total_seen, 0);
	mc_store_free(r.s);
}
END_TEST

/* The checks above can fail: they refuse what they must refuse. */
START_TEST(test_grammar_refuses)
{
	static const char *const bad[] = {
		"",
		"# HELP a a\n# TYPE a counter\na 1",
		"a 1\n",
		"# HELP a a\n# TYPE a counter\nb 1\n",
		"# HELP a a\n# TYPE a counter\na{x=\"1} 1\n",
		"# HELP a a\n# TYPE a counter\na{x=\"\\q\"} 1\n",
		"# HELP a a\n# TYPE a counter\na 1x\n",
		"# HELP a a\n# TYPE a counter\na 1\na 2\n",
		"# HELP a a\n# TYPE a summary\na 1\n",
		"# HELP h h\n# TYPE h histogram\nh_total 1\n",
	};
	struct parsed p = {0};
	const char *line;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(parse(bad[i], &p, &line) != NULL, "accepted: %s",
			      bad[i]);
	ck_assert_ptr_null(parse("# HELP h h\n# TYPE h histogram\n"
				 "h_bucket{a=\"\\\"\",le=\"+Inf\"} 2\n"
				 "h_sum 1.5\nh_count 2\n"
				 "# HELP c c\n# TYPE c counter\nc 3\n",
				 &p, &line));
	ck_assert_uint_eq(p.n, 4);
	ck_assert(find(&p, "c")->counted);
	ck_assert(!find(&p, "h_sum")->counted);
	free(p.s);
}
END_TEST

static Suite *scrape_suite(void)
{
	Suite *s = suite_create("scrape");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_grammar_refuses);
	tcase_add_test(tc, test_scrapes_during_puts);
	suite_add_tcase(s, tc);
	return s;
}

MC_CHECK_MAIN(scrape_suite)
