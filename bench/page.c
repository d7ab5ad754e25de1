/*
 * page.c - the status page's render time (mooncake-http(7), STATUS
 * PAGE): a store with 1,000 segments, rendered with 10 keys and again
 * with 1,000,000 keys. The page must not walk the keys, so the second
 * figure should match the first; both should stay under 5 ms.
 *
 * Prints, for bench/run.sh:
 *   BENCH|figure|value|unit|reference|refvalue|target-kind|target
 * Each figure is the median of 31 renders after 3 warm-up renders.
 * Usage: page [segments] [keys] (default 1000 1000000).
 */
#include "autoconfig.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "log.h"
#include "mooncake.h"
#include "page.h"

#define RUNS 31

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median render time in ms; *bytes the page's size. */
static double render_ms(struct mc_store *s, const struct web_page_info *pi,
			size_t *bytes)
{
	struct mc_buf b = {0};
	double t[RUNS];

	for (int i = -3; i < RUNS; i++) {
		double t0;

		mc_buf_reset(&b);
		t0 = now_ms();
		web_page_render(s, pi, &b);
		if (i >= 0)
			t[i] = now_ms() - t0;
	}
	*bytes = b.len;
	mc_buf_release(&b);
	qsort(t, RUNS, sizeof(t[0]), cmp);
	return t[RUNS / 2];
}

int main(int argc, char **argv)
{
	unsigned nseg = argc > 1 ? (unsigned)atoi(argv[1]) : 1000;
	unsigned long nkeys = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000000;
	struct web_page_info pi = {.version = MC_VERSION,
				   .hostname = "bench",
				   .transfer = "bench:1",
				   .started = time(NULL)};
	struct mc_store_opts o;
	struct mc_store *s;
	double few, many;
	size_t bytes;
	char key[32], val[16] = "0123456789abcdef";

	mc_log_set_level(MC_LOG_WARN);
	mc_store_opts_default(&o);
	o.manual_tick = true;
	s = mc_store_new(&o, NULL);
	if (!s)
		return 1;
	for (unsigned i = 0; i < nseg; i++) {
		char name[32];
		struct mc_mount_req req = {.size = 16u << 20, .name = name};
		struct mc_mount_result res;
		struct mc_err e;

		snprintf(name, sizeof(name), "node-%u", i % 50);
		if (mc_segment_mount(s, &req, &res, &e)) {
			fprintf(stderr, "page: mount %u: %s\n", i, e.msg);
			return 1;
		}
		free(res.ids);
	}
	for (unsigned i = 0; i < 10; i++) {
		snprintf(key, sizeof(key), "key-%u", i);
		mc_put(s, key, strlen(key), val, sizeof(val), NULL);
	}
	few = render_ms(s, &pi, &bytes);
	for (unsigned long i = 10; i < nkeys; i++) {
		snprintf(key, sizeof(key), "key-%lu", i);
		if (mc_put(s, key, strlen(key), val, sizeof(val), NULL)) {
			fprintf(stderr, "page: put %lu failed\n", i);
			return 1;
		}
	}
	many = render_ms(s, &pi, &bytes);
	printf("BENCH|status page, %u segments, %lu keys (%zu KiB)|%.3f|ms|"
	       "10 keys|%.3f|le|5\n",
	       nseg, nkeys, bytes / 1024, many, few);
	printf("BENCH|status page: %lu keys against 10 keys|%.2f|x|10 keys|1|"
	       "rle|1.5\n",
	       nkeys, many / few);
	mc_store_free(s);
	return 0;
}
