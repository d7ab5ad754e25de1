/*
 * alloc_bench.c - in-process micro benchmark of the offset allocator:
 * nanoseconds per get, put and find at a steady ~90% fill, and the
 * metadata it costs per live block.
 *
 *	cc -O2 -I. -Isrc bench/alloc_bench.c src/alloc.c -o bench/alloc_bench
 *	./bench/alloc_bench [ops]
 */
#include "autoconfig.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "alloc.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	const uint64_t size = 16ULL << 30, align = 64;
	uint64_t ops = argc > 1 ? strtoull(argv[1], NULL, 10) : 2000000;
	struct mc_alloc *a = mc_alloc_new(size, align, NULL);
	struct mc_blk **live;
	uint64_t n = 0, cap = 1 << 22, gets = 0, puts = 0, finds = 0, fails = 0;
	double t_get = 0, t_put = 0, t_find = 0, t;

	live = calloc(cap, sizeof(*live));
	if (!a || !live) {
		perror("alloc_bench");
		return 1;
	}
	for (uint64_t i = 0; i < ops; i++) {
		/* KV-cache-like sizes: 4 KiB to 4 MiB, log-uniform */
		uint64_t want = 4096ULL << (rnd() % 11);

		want += rnd() % want;
		if (n < cap && mc_alloc_used(a) < size / 10 * 9) {
			struct mc_blk *b;

			t = now_ns();
			b = mc_alloc_get(a, want);
			t_get += now_ns() - t;
			gets++;
			if (b)
				live[n++] = b;
			else
				fails++;
		} else {
			uint64_t j = rnd() % n;

			t = now_ns();
			mc_alloc_put(a, live[j]);
			t_put += now_ns() - t;
			puts++;
			live[j] = live[--n];
		}
		if (n) {
			struct mc_blk *b = live[rnd() % n];
			uint64_t off = b->off + rnd() % b->size;

			t = now_ns();
			if (mc_alloc_find(a, off) != b) {
				fprintf(stderr, "alloc_bench: find is wrong\n");
				return 1;
			}
			t_find += now_ns() - t;
			finds++;
		}
	}
	if (mc_alloc_check(a)) {
		fprintf(stderr, "alloc_bench: invariants broken\n");
		return 1;
	}
	printf("alloc_bench: %" PRIu64 " ops, %" PRIu64 " live blocks, "
	       "used %.1f%%\n",
	       ops, n, 100.0 * (double)mc_alloc_used(a) / (double)size);
	printf("get  %.0f ns/op (%" PRIu64 " calls, %" PRIu64 " failed)\n",
	       gets ? t_get / (double)gets : 0, gets, fails);
	printf("put  %.0f ns/op (%" PRIu64 " calls)\n",
	       puts ? t_put / (double)puts : 0, puts);
	printf("find %.0f ns/op (%" PRIu64 " calls)\n",
	       finds ? t_find / (double)finds : 0, finds);
	printf("struct mc_blk: %zu bytes\n", sizeof(struct mc_blk));
	free(live);
	mc_alloc_free(a);
	return 0;
}
