/*
 * check_store.c - the store: segments, objects, leases, unmount, eviction,
 * two-phase puts, pins and concurrency, with a controllable clock.
 */
#include "autoconfig.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "check_mount.h"
#include "mooncake.h"
#include "log.h"
#include "metrics.h"
#include "render.h"
#include "store_int.h"
#include "uuid.h"

#define MiB (1ull << 20)

static uint64_t test_now = 1000;

static uint64_t test_clock(void *arg)
{
	(void)arg;
	return __atomic_load_n(&test_now, __ATOMIC_SEQ_CST);
}

static void advance(uint64_t ms)
{
	__atomic_add_fetch(&test_now, ms, __ATOMIC_SEQ_CST);
}

/* A store on the test clock, ticked by hand, with leases of @ttl ms. */
static struct mc_store *new_store_ttl(unsigned replicas, uint64_t ttl)
{
	struct mc_store_opts o;

	mc_store_opts_default(&o);
	o.replica_num = replicas;
	o.now_ms = test_clock;
	o.manual_tick = true;
	o.put_timeout_ms = 500;
	o.lease_ttl_ms = ttl;
	struct mc_store *s = mc_store_new(&o, NULL);
	ck_assert_ptr_nonnull(s);
	return s;
}

static struct mc_store *new_store(unsigned replicas)
{
	return new_store_ttl(replicas, 1000);
}

static int put_str(struct mc_store *s, const char *k, const char *v)
{
	return mc_put(s, k, strlen(k), v, strlen(v), NULL);
}

static char *get_str(struct mc_store *s, const char *k)
{
	struct mc_ref *r;

	if (mc_get(s, k, strlen(k), &r) < 0)
		return NULL;
	char *out = strndup(mc_ref_data(r), mc_ref_size(r));
	mc_ref_release(r);
	return out;
}

/* mc_segment_unmount as HTTP calls it: only segments of @kind count. */
static bool kind_is(const struct mc_seg_info *si, void *kind)
{
	return si->kind == *(const enum mc_seg_kind *)kind;
}

static int unmount(struct mc_store *s, const char *const *ids, size_t n,
		   enum mc_seg_kind kind, unsigned grace,
		   char (**failed)[MC_ID_LEN + 1], size_t *nf, struct mc_err *e)
{
	struct mc_unmount_req req = {.ids = ids,
				     .n = n,
				     .grace_s = grace,
				     .accept = kind_is,
				     .accept_arg = &kind};

	return mc_segment_unmount(s, &req, failed, nf, e);
}

START_TEST(test_mount_basic)
{
	struct mc_store *s = new_store(1);
	struct mc_mount_req r = {.size = 1, .location = "cpu:0"};
	struct mc_mount_result res;
	struct mc_seg_info si;
	struct mc_err e;

	ck_assert_int_eq(mc_segment_mount(s, &r, &res, &e), 0);
	ck_assert_uint_eq(res.n, 1);
	ck_assert_uint_eq(res.allocated_size, 16 * MiB);
	ck_assert(mc_uuid_valid(res.ids[0]));
	ck_assert_int_eq(mc_segment_info(s, res.ids[0], &si), 0);
	ck_assert_str_eq(si.name, "localhost");
	ck_assert_str_eq(si.protocol, "tcp");
	ck_assert_str_eq(si.location, "cpu:0");
	ck_assert_str_eq(si.source, "alloc");
	ck_assert_int_eq(si.state, MC_SEG_OK);
	ck_assert_uint_eq(si.size, 16 * MiB);
	ck_assert_uint_eq(si.used, 0);
	ck_assert_int_eq(mc_segment_info(s, "nope", &si), -ENOENT);
	free(res.ids);

	/* Hostile mount requests. */
	struct mc_mount_req bad[] = {
		{.size = 0},
		{.size = (uint64_t)INT64_MAX + 1},
		{.size = 1, .protocol = "udp"},
		{.size = 1, .protocol = "rdma"}, /* no hook: unavailable */
	};
	int want[] = {-EINVAL, -EINVAL, -EINVAL, -EOPNOTSUPP};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(mc_segment_mount(s, &bad[i], &res, &e),
				 want[i]);
		ck_assert_ptr_null(res.ids);
		ck_assert(e.msg[0]);
	}
	struct mc_usage u;
	mc_store_usage(s, &u);
	ck_assert_uint_eq(u.segments, 1);
	mc_store_free(s);
}
END_TEST

START_TEST(test_mount_split)
{
	struct mc_store_opts o;

	mc_store_opts_default(&o);
	o.manual_tick = true;
	o.max_segment_size = 32 * MiB;
	struct mc_store *s = mc_store_new(&o, NULL);
	struct mc_mount_req r = {.size = 100 * MiB};
	struct mc_mount_result res;
	uint64_t sum = 0;

	ck_assert_int_eq(mc_segment_mount(s, &r, &res, NULL), 0);
	ck_assert_uint_eq(res.allocated_size, 112 * MiB);
	ck_assert_uint_eq(res.n, 4);
	for (size_t i = 0; i < res.n; i++) {
		struct mc_seg_info si;

		ck_assert_int_eq(mc_segment_info(s, res.ids[i], &si), 0);
		ck_assert_uint_le(si.size, 32 * MiB);
		ck_assert_uint_eq(si.size % (16 * MiB), 0);
		for (size_t j = 0; j < i; j++)
			ck_assert_str_ne(res.ids[i], res.ids[j]);
		sum += si.size;
	}
	ck_assert_uint_eq(sum, 112 * MiB);
	free(res.ids);
	mc_store_free(s);
}
END_TEST

START_TEST(test_put_get_replace_remove)
{
	struct mc_store *s = new_store(1);
	struct mc_err e;
	char *v;

	check_mount(s, 16 * MiB, NULL, NULL);
	uint64_t gen = mc_store_keys_gen(s);
	ck_assert_int_eq(put_str(s, "a", "hello"), 0);
	ck_assert_uint_ne(mc_store_keys_gen(s), gen);
	gen = mc_store_keys_gen(s);
	ck_assert_int_eq(mc_exist(s, "a", 1), 1);
	ck_assert_int_eq(mc_exist(s, "b", 1), 0);
	v = get_str(s, "a");
	ck_assert_str_eq(v, "hello");
	free(v);
	ck_assert_int_eq(put_str(s, "a", "world!"), 0);
	v = get_str(s, "a");
	ck_assert_str_eq(v, "world!");
	free(v);
	ck_assert_uint_eq(mc_store_keys_gen(s), gen); /* a replace */

	uint64_t size;
	ck_assert_int_eq(mc_stat(s, "a", 1, &size), 0);
	ck_assert_uint_eq(size, 6);
	char buf[4];
	ck_assert_int_eq(mc_get_copy(s, "a", 1, 2, buf, sizeof(buf)), 4);
	ck_assert(!memcmp(buf, "rld!", 4));
	ck_assert_int_eq(mc_get_copy(s, "a", 1, 6, buf, sizeof(buf)), 0);

	/* Hostile keys and values. */
	char big[MC_KEY_MAX + 1];
	memset(big, 'k', sizeof(big));
	ck_assert_int_eq(mc_put(s, "", 0, "x", 1, &e), -EINVAL);
	ck_assert_int_eq(mc_put(s, big, sizeof(big), "x", 1, &e), -EINVAL);
	ck_assert_int_eq(mc_put(s, big, MC_KEY_MAX, "x", 1, &e), 0);
	ck_assert_int_eq(mc_put(s, "a\0b", 3, "x", 1, &e), -EINVAL);
	ck_assert_int_eq(mc_put(s, "k", 1, "", 0, &e), -EINVAL);
	ck_assert_int_eq(mc_put(s, "k", 1, big, 101 * MiB, &e), -EFBIG);
	/* keys around the longest whose put mc_put keeps on its stack
	 * (PUT_STACK_KEY, 256), and the longest of all: each reads back */
	const size_t klens[] = {255, 256, 257, MC_KEY_MAX};
	for (size_t i = 0; i < sizeof(klens) / sizeof(klens[0]); i++) {
		char val[8], out[8];

		memset(big, 'a' + (int)i, klens[i]);
		snprintf(val, sizeof(val), "v%zu", klens[i]);
		ck_assert_int_eq(mc_put(s, big, klens[i], val, strlen(val), &e),
				 0);
		ck_assert_int_eq(
			mc_get_copy(s, big, klens[i], 0, out, sizeof(out)),
			(int64_t)strlen(val));
		ck_assert(!memcmp(out, val, strlen(val)));
		ck_assert_int_eq(mc_remove(s, big, klens[i], false, &e), 0);
	}

	gen = mc_store_keys_gen(s);
	ck_assert_int_eq(mc_remove(s, "a", 1, false, &e), 0);
	ck_assert_uint_ne(mc_store_keys_gen(s), gen);
	ck_assert_int_eq(mc_remove(s, "a", 1, false, &e), -ENOENT);
	ck_assert_int_eq(e.code, MC_OBJECT_NOT_FOUND);
	ck_assert_ptr_null(get_str(s, "a"));

	for (int i = 0; i < 100; i++) {
		char k[16];
		snprintf(k, sizeof(k), "k%d", i);
		ck_assert_int_eq(put_str(s, k, k), 0);
	}
	ck_assert_int_eq(mc_remove_all(s, false), 101);
	struct mc_usage u;
	mc_store_usage(s, &u);
	ck_assert_uint_eq(u.keys, 0);
	ck_assert_uint_eq(u.used, 0);
	mc_store_free(s);
}
END_TEST

START_TEST(test_no_segment)
{
	struct mc_store *s = new_store(1);
	struct mc_err e;

	ck_assert_int_eq(mc_put(s, "a", 1, "x", 1, &e), -ENOSPC);
	ck_assert_int_eq(e.code, MC_NO_AVAILABLE_HANDLE);
	mc_store_free(s);
}
END_TEST

START_TEST(test_replicas)
{
	struct mc_store *s = new_store(2);
	struct mc_desc d[MC_REPLICA_MAX];

	check_mount(s, 16 * MiB, "n1", NULL);
	ck_assert_int_eq(put_str(s, "one", "v"), 0);
	/* One segment: one replica. */
	ck_assert_int_eq(mc_query(s, "one", 3, d, MC_REPLICA_MAX), 1);
	check_mount(s, 16 * MiB, "n2", NULL);
	ck_assert_int_eq(put_str(s, "two", "value"), 0);
	ck_assert_int_eq(mc_query(s, "two", 3, d, MC_REPLICA_MAX), 2);
	ck_assert_str_ne(d[0].seg_id, d[1].seg_id);
	ck_assert_uint_ne(d[0].addr, d[1].addr);
	for (int i = 0; i < 2; i++) {
		ck_assert_uint_eq(d[i].size, 5);
		ck_assert(!memcmp((void *)(uintptr_t)d[i].addr, "value", 5));
	}
	mc_store_free(s);
}
END_TEST

/*
 * mc_put copies a value of a page or more with non-temporal stores once
 * the store holds mc_store_opts.stream_min bytes (put.c copy_in), the
 * rest with memcpy: streaming from the first put (stream_min 1) and
 * never, every size around the page and line boundaries, from sources
 * at every alignment, reads back whole in each replica.
 */
START_TEST(test_put_copy_sizes)
{
	static const size_t sizes[] = {1,    63,   64,	 4095,	   4096,
				       4097, 4159, 4160, 8192 + 1, 65536 + 17};
	struct mc_store_opts o;
	struct mc_store *s;
	unsigned char *src = malloc(65536 + 64);
	struct mc_desc d[MC_REPLICA_MAX];

	ck_assert_ptr_nonnull(src);
	mc_store_opts_default(&o);
	o.replica_num = 2;
	o.manual_tick = true;
	o.stream_min = _i ? UINT64_MAX : 1;
	s = mc_store_new(&o, NULL);
	ck_assert_ptr_nonnull(s);
	check_mount(s, 16 * MiB, "c1", NULL);
	check_mount(s, 16 * MiB, "c2", NULL);
	for (size_t i = 0; i < 65536 + 64; i++)
		src[i] = (unsigned char)(i * 7 + i / 251);
	for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
		for (size_t a = 0; a < 4; a++) {
			const unsigned char *v = src + a * 3;
			struct mc_ref *r;
			char key[32];

			snprintf(key, sizeof(key), "copy-%zu-%zu", z, a);
			ck_assert_int_eq(
				mc_put(s, key, strlen(key), v, sizes[z], NULL),
				0);
			ck_assert_int_eq(mc_query(s, key, strlen(key), d,
						  MC_REPLICA_MAX),
					 2);
			for (int i = 0; i < 2; i++)
				ck_assert_msg(
					!memcmp((void *)(uintptr_t)d[i].addr, v,
						sizes[z]),
					"replica %d of %zu bytes from offset "
					"%zu differs",
					i, sizes[z], a * 3);
			ck_assert_int_eq(mc_get(s, key, strlen(key), &r), 0);
			ck_assert_uint_eq(mc_ref_size(r), sizes[z]);
			ck_assert(!memcmp(mc_ref_data(r), v, sizes[z]));
			mc_ref_release(r);
		}
	}
	free(src);
	mc_store_free(s);
}
END_TEST

static double fam(struct mc_store *s, const char *name)
{
	struct mc_family *f = mc_metrics_find(mc_store_metrics(s), name);

	ck_assert_msg(f != NULL, "no family %s", name);
	return mc_series_value(mc_family_series(f, NULL));
}

/*
 * Upstream's partial allocations, and its discarded and released
 * PutStarts: a put that times out is discarded, and released when its
 * buffers go back (at once, or when its last holder lets go).
 */
START_TEST(test_upstream_put_families)
{
	struct mc_store *s = new_store(2);
	struct mc_put *p;
	struct mc_err e;
	struct mc_buf b = MC_BUF_INIT;
	struct mc_pin *pin;
	struct mc_usage u;
	uint64_t addr, used;

	check_mount(s, 16 * MiB, NULL, NULL);
	ck_assert_int_eq(put_str(s, "a", "1"), 0);
	ck_assert(fam(s, "master_put_start_partial_allocations_total") == 1);
	check_mount(s, 16 * MiB, NULL, NULL);
	ck_assert_int_eq(put_str(s, "b", "2"), 0);
	ck_assert(fam(s, "master_put_start_partial_allocations_total") == 1);

	/* held by its starter: discarded at the timeout, released later */
	ck_assert_int_eq(mc_put_start(s, "t", 1, 1000, &p, &e), 0);
	advance(501);
	mc_store_tick(s);
	ck_assert(fam(s, "master_put_start_discard_cnt") == 1);
	ck_assert(fam(s, "master_put_start_release_cnt") == 0);
	mc_render_metrics(s, &b); /* the collector sets the staging gauge */
	ck_assert(fam(s, "master_put_start_discarded_staging_size") ==
		  2 * 1024);
	mc_put_release(p);
	ck_assert(fam(s, "master_put_start_release_cnt") == 1);
	mc_buf_reset(&b);
	mc_render_metrics(s, &b);
	ck_assert(fam(s, "master_put_start_discarded_staging_size") == 0);
	/* one nobody holds is released as it is discarded */
	mc_store_usage(s, &u);
	used = u.used;
	ck_assert_int_eq(mc_put_start(s, "u", 1, 100, &p, &e), 0);
	mc_put_release(p);
	advance(501);
	mc_store_tick(s);
	ck_assert(fam(s, "master_put_start_discard_cnt") == 2);
	ck_assert(fam(s, "master_put_start_release_cnt") == 2);
	/* one a WRITE holds: released once the writer lets go (a tick) */
	ck_assert_int_eq(mc_put_start(s, "w", 1, 100, &p, &e), 0);
	addr = mc_put_desc(p, 0)->addr;
	mc_put_release(p);
	ck_assert_int_eq(mc_pin_write(s, addr, 10, &pin), 0);
	advance(501);
	mc_store_tick(s);
	ck_assert(fam(s, "master_put_start_discard_cnt") == 3);
	ck_assert(fam(s, "master_put_start_release_cnt") == 2);
	mc_buf_reset(&b);
	mc_render_metrics(s, &b);
	ck_assert(fam(s, "master_put_start_discarded_staging_size") == 2 * 128);
	mc_store_usage(s, &u);
	ck_assert_uint_eq(u.used, used + 2 * 128);
	ck_assert_int_eq(mc_pin_release(pin), -ESTALE);
	mc_store_tick(s);
	ck_assert(fam(s, "master_put_start_release_cnt") == 3);
	mc_buf_reset(&b);
	mc_render_metrics(s, &b);
	ck_assert(fam(s, "master_put_start_discarded_staging_size") == 0);
	mc_store_usage(s, &u);
	ck_assert_uint_eq(u.used, used);
	/* ended and revoked puts are neither */
	ck_assert_int_eq(mc_put_start(s, "v", 1, 10, &p, &e), 0);
	mc_put_release(p);
	ck_assert_int_eq(mc_put_revoke(s, "v", 1, &e), 0);
	advance(501);
	mc_store_tick(s);
	ck_assert(fam(s, "master_put_start_discard_cnt") == 3);
	/* a put dropped before its bytes had a place: begun and revoked,
	 * nothing placed, nothing discarded */
	{
		double ps = fam(s, "master_put_start_requests_total");
		double pr = fam(s, "master_put_revoke_requests_total");
		double pf = fam(s, "master_put_start_failures_total");
		double rf = fam(s, "master_put_revoke_failures_total");

		mc_store_usage(s, &u);
		used = u.used;
		mc_put_count_dropped(s);
		ck_assert(fam(s, "master_put_start_requests_total") == ps + 1);
		ck_assert(fam(s, "master_put_start_failures_total") == pf);
		ck_assert(fam(s, "master_put_revoke_requests_total") == pr + 1);
		ck_assert(fam(s, "master_put_revoke_failures_total") == rf);
		ck_assert(fam(s, "master_put_start_discard_cnt") == 3);
		mc_store_usage(s, &u);
		ck_assert_uint_eq(u.used, used);
	}
	mc_buf_release(&b);
	mc_store_free(s);
}
END_TEST

/*
 * A local put whose value finds no room when it commits at its size (a
 * FUSE file) fails its PutStart, as a door's start that finds no room
 * does: not a PutStart that succeeded and then a PutRevoke.
 */
START_TEST(test_moved_commit_without_room)
{
	struct mc_store *s = new_store(1);
	static char big[15 << 20];
	struct mc_ref *held;
	struct mc_put *p;
	struct mc_err e = {0};

	check_mount(s, 16 * MiB, NULL, NULL);
	ck_assert_int_eq(mc_put(s, "big", 3, big, sizeof(big), NULL), 0);
	ck_assert_int_eq(mc_get(s, "big", 3, &held), 0); /* not evictable */
	ck_assert_int_eq(mc_put_begin(s, "x", 1, 64, &p, &e), 0);
	ck_assert(fam(s, "master_put_start_requests_total") == 2);
	ck_assert_int_eq(mc_put_commit_copy(p, big, 5 << 20, &e), -ENOSPC);
	ck_assert(fam(s, "master_put_start_requests_total") == 2);
	ck_assert(fam(s, "master_put_start_failures_total") == 1);
	ck_assert(fam(s, "master_put_revoke_requests_total") == 0);
	ck_assert(fam(s, "master_put_end_requests_total") == 1);
	ck_assert_int_eq(mc_exist(s, "x", 1), 0);
	mc_ref_release(held);
	mc_store_free(s);
}
END_TEST

/* Puts 1 KiB values under "PREFIXn", n in [0, @n), into segment @seg. */
static void put_many(struct mc_store *s, const char *prefix, unsigned n,
		     const char *seg)
{
	static char v[1024];
	struct mc_put_opts po = {.prefer = seg};

	for (unsigned i = 0; i < n; i++) {
		struct mc_put *p;
		char k[32];
		int len = snprintf(k, sizeof(k), "%s%u", prefix, i);

		ck_assert_int_eq(mc_put_start_opts(s, k, (size_t)len, sizeof(v),
						   &po, &p, NULL),
				 0);
		memcpy(mc_put_buffer(p, 0), v, sizeof(v));
		mc_put_release(p);
		ck_assert_int_eq(mc_put_end(s, k, (size_t)len, NULL), 0);
	}
}

struct unmounter {
	struct mc_store *s;
	const char *id;
	_Atomic bool done;
};

static void *unmount_main(void *arg)
{
	struct unmounter *u = arg;
	const char *ids[] = {u->id};
	struct mc_unmount_req req = {.ids = ids, .n = 1};

	ck_assert_int_eq(mc_segment_unmount(u->s, &req, NULL, NULL, NULL), 0);
	atomic_store(&u->done, true);
	return NULL;
}

/*
 * While an unmount drops its values, their bytes are still used and
 * their segment no longer capacity: puts meanwhile must not take that
 * for the high watermark and evict the values of the segments that stay.
 */
START_TEST(test_unmount_no_false_eviction)
{
	struct mc_store *s = new_store(1);
	char big[MC_ID_LEN + 1];
	struct unmounter u = {.s = s, .id = big};
	pthread_t th;
	unsigned rounds = 0;

	check_mount(s, 16 * MiB, "stays", NULL);
	check_mount(s, 64 * MiB, "goes", big);
	put_many(s, "g", 40000, "goes");
	put_many(s, "k", 8000, "stays"); /* half of "stays" */
	pthread_create(&th, NULL, unmount_main, &u);
	while (!atomic_load(&u.done) || rounds < 8)
		put_many(s, "k", 64, "stays"), rounds++;
	pthread_join(th, NULL);
	ck_assert(fam(s, "master_attempted_evictions_total") == 0);
	for (unsigned i = 0; i < 8000; i += 97) {
		char k[32];

		snprintf(k, sizeof(k), "k%u", i);
		ck_assert_int_eq(mc_exist(s, k, strlen(k)), 1);
	}
	mc_store_free(s);
}
END_TEST

/* The last minute's figures, from a sample a second (mc_store_tick). */
START_TEST(test_recent)
{
	struct mc_store *s = new_store(1);
	struct mc_recent r;
	struct mc_value_sizes vs;
	struct mc_err e;
	char big[5000];

	memset(big, 'v', sizeof(big));
	check_mount(s, 16 * MiB, NULL, NULL);
	mc_store_tick(s);
	mc_store_recent(s, &r);
	ck_assert(r.span_s == 0);
	ck_assert_uint_eq(r.requests[MC_OP_PUT_START], 0);
	ck_assert_int_eq(put_str(s, "a", "1"), 0);
	ck_assert_int_eq(mc_put(s, "b", 1, big, sizeof(big), NULL), 0);
	ck_assert_int_eq(mc_remove(s, "zz", 2, false, &e), -ENOENT);
	advance(10000);
	mc_store_tick(s);
	mc_store_recent(s, &r);
	ck_assert(r.span_s == 10.0);
	ck_assert_uint_eq(r.requests[MC_OP_PUT_START], 2);
	ck_assert_uint_eq(r.requests[MC_OP_PUT_END], 2);
	ck_assert_uint_eq(r.requests[MC_OP_REMOVE], 1);
	ck_assert_uint_eq(r.failures[MC_OP_REMOVE], 1);
	ck_assert_uint_eq(r.failures[MC_OP_PUT_START], 0);
	ck_assert_str_eq(mc_op_name(MC_OP_GET_REPLICA_LIST), "GetReplicaList");
	ck_assert_str_eq(mc_op_name(MC_NOPS), "?");
	/* a minute on, each second sampled: what happened then has aged out */
	for (int i = 0; i < 61; i++) {
		advance(1000);
		mc_store_tick(s);
	}
	ck_assert_int_eq(put_str(s, "c", "3"), 0);
	mc_store_recent(s, &r);
	ck_assert(r.span_s == 60.0);
	ck_assert_uint_eq(r.requests[MC_OP_PUT_START], 1);
	ck_assert_uint_eq(r.requests[MC_OP_REMOVE], 0);
	/*
	 * ticks closer than a second apart add no sample: the oldest one
	 * of the last minute is then 59.6 s old, not 60.0
	 */
	advance(300);
	mc_store_tick(s);
	advance(300);
	mc_store_tick(s);
	mc_store_recent(s, &r);
	ck_assert_msg(r.span_s == 59.6, "span %g", r.span_s);

	mc_store_value_sizes(s, &vs);
	ck_assert(vs.le[0] == 4096 && vs.le[6] == 67108864);
	ck_assert(isinf(vs.le[7]));
	ck_assert_uint_eq(vs.count[0], 2); /* "1" and "3" */
	ck_assert_uint_eq(vs.count[1], 1); /* 5000 bytes */
	ck_assert_uint_eq(vs.count[7], 0);
	mc_store_free(s);
}
END_TEST

/*
 * The lease queue gives back the memory of a burst: once most leases
 * ended, its array shrinks (to 256 entries at least), and an empty one
 * goes; the leases still running keep their order.
 */
START_TEST(test_lease_queue_shrinks)
{
	struct mc_store *s = new_store(1);
	struct mc_desc d[1];
	char k[32];

	check_mount(s, 64 * MiB, NULL, NULL);
	for (int i = 0; i < 4096; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		ck_assert_int_eq(put_str(s, k, "v"), 0);
		ck_assert_int_eq(mc_query(s, k, strlen(k), d, 1), 1);
	}
	ck_assert_uint_ge(s->lease_cap, 4096);
	advance(500);
	for (int i = 0; i < 10; i++) { /* extended: they outlive the rest */
		snprintf(k, sizeof(k), "k%d", i);
		ck_assert_int_eq(mc_query(s, k, strlen(k), d, 1), 1);
	}
	advance(600);
	mc_store_tick(s);
	ck_assert_uint_eq(s->lease_n, 10);
	ck_assert_uint_eq(s->lease_cap, 256);
	ck_assert_int_eq(mc_remove(s, "k0", 2, false, NULL), -EBUSY);
	ck_assert_int_eq(mc_remove(s, "k10", 3, false, NULL), 0);
	advance(500);
	mc_store_tick(s);
	ck_assert_uint_eq(s->lease_n, 0);
	ck_assert_uint_eq(s->lease_cap, 0);
	ck_assert_int_eq(mc_remove(s, "k0", 2, false, NULL), 0);
	mc_store_free(s);
}
END_TEST

START_TEST(test_lease)
{
	struct mc_store *s = new_store(1);
	struct mc_desc d[1];
	struct mc_err e;

	check_mount(s, 16 * MiB, NULL, NULL);
	ck_assert_int_eq(put_str(s, "k", "old-value"), 0);
	ck_assert_int_eq(mc_query(s, "k", 1, d, 1), 1);
	const char *old = (const char *)(uintptr_t)d[0].addr;

	ck_assert_int_eq(mc_remove(s, "k", 1, false, &e), -EBUSY);
	ck_assert_int_eq(e.code, MC_OBJECT_HAS_LEASE);
	/* the refusal says for how long, rounded up to a tenth */
	ck_assert_str_eq(e.msg, "key 'k' has a read lease for 1.0 s more "
				"(a reader asked for its replicas)");
	advance(1);
	ck_assert_int_eq(mc_remove(s, "k", 1, false, &e), -EBUSY);
	ck_assert_msg(strstr(e.msg, "for 1.0 s more"), "%s", e.msg);
	advance(100);
	ck_assert_int_eq(mc_remove(s, "k", 1, false, &e), -EBUSY);
	ck_assert_msg(strstr(e.msg, "for 0.9 s more"), "%s", e.msg);
	test_now -= 101;
	ck_assert_int_eq(mc_remove_all(s, false), 0);

	/* Replace: the leased bytes stay as they were, not reused. */
	ck_assert_int_eq(put_str(s, "k", "new-value"), 0);
	for (int i = 0; i < 50; i++) {
		char k[8];
		snprintf(k, sizeof(k), "f%d", i);
		ck_assert_int_eq(put_str(s, k, "XXXXXXXXX"), 0);
	}
	ck_assert(!memcmp(old, "old-value", 9));
	struct mc_pin *pin;
	ck_assert_int_eq(mc_pin_read(s, d[0].addr, 9, &pin), 0);
	mc_pin_release(pin);

	/* The new version has no lease yet: removable. */
	advance(999);
	mc_store_tick(s);
	ck_assert_int_eq(mc_pin_read(s, d[0].addr, 9, &pin), 0);
	mc_pin_release(pin);
	advance(2);
	mc_store_tick(s);
	/* Lease over: the old buffer went back to the allocator. */
	ck_assert_int_eq(mc_pin_read(s, d[0].addr, 9, &pin), -EACCES);

	/* A lease extended by a second query lasts from the second. */
	ck_assert_int_eq(mc_query(s, "k", 1, d, 1), 1);
	advance(600);
	ck_assert_int_eq(mc_query(s, "k", 1, d, 1), 1);
	advance(600);
	mc_store_tick(s);
	ck_assert_int_eq(mc_remove(s, "k", 1, false, &e), -EBUSY);
	advance(500);
	mc_store_tick(s);
	ck_assert_int_eq(mc_remove(s, "k", 1, false, &e), 0);

	/* force removes a leased object. */
	ck_assert_int_eq(put_str(s, "z", "zz"), 0);
	ck_assert_int_eq(mc_query(s, "z", 1, d, 1), 1);
	ck_assert_int_eq(mc_remove(s, "z", 1, true, &e), 0);

	/* A peek (HEAD) names the same replica, leases and counts nothing. */
	double gets = fam(s, "master_get_replica_list_requests_total");
	struct mc_desc p[1];

	ck_assert_int_eq(put_str(s, "h", "hv"), 0);
	ck_assert_int_eq(mc_query_ex(s, "h", 1, MC_F_PEEK, p, 1, NULL), 1);
	ck_assert(fam(s, "master_get_replica_list_requests_total") == gets);
	ck_assert_int_eq(mc_remove(s, "h", 1, false, &e), 0);
	ck_assert_int_eq(mc_query_ex(s, "h", 1, MC_F_PEEK, p, 1, NULL),
			 -ENOENT);
	ck_assert(fam(s, "master_get_replica_list_requests_total") == gets);
	mc_store_free(s);
}
END_TEST

START_TEST(test_unmount)
{
	struct mc_store *s = new_store(2);
	char a[MC_ID_LEN + 1], b[MC_ID_LEN + 1];
	char(*failed)[MC_ID_LEN + 1];
	size_t nf;
	struct mc_err e;
	struct mc_desc d[2];
	const char *ids[2];

	check_mount(s, 16 * MiB, "n", a);
	ck_assert_int_eq(put_str(s, "only-a", "1"), 0);
	check_mount(s, 16 * MiB, "n", b);
	ck_assert_int_eq(put_str(s, "both", "2"), 0);

	/* Unknown or wrong-kind ids: nothing happens. */
	ids[0] = a;
	ids[1] = "00000000-0000-0000-0000-000000000000";
	ck_assert_int_eq(unmount(s, ids, 2, MC_SEG_ALLOC, 0, &failed, &nf, &e),
			 -ENOENT);
	ck_assert_uint_eq(nf, 1);
	ck_assert_str_eq(failed[0], ids[1]);
	free(failed);
	ck_assert_int_eq(unmount(s, ids, 1, MC_SEG_SHM, 0, &failed, &nf, &e),
			 -ENOENT);
	free(failed);
	ck_assert_int_eq(unmount(s, ids, 0, MC_SEG_ALLOC, 0, NULL, NULL, &e),
			 -EINVAL);
	ck_assert_int_eq(unmount(s, ids, 1, MC_SEG_ALLOC, 3601, NULL, NULL, &e),
			 -EINVAL);

	/* Unmount a, named in capitals (RFC 4122 reads hex digits in either
	 * case; one a letter longer is no id): "only-a" goes, "both"
	 * survives with one replica. */
	char upper[MC_ID_LEN + 2];
	for (size_t i = 0; i <= MC_ID_LEN; i++)
		upper[i] = (char)toupper((unsigned char)a[i]);
	strcat(upper, "A");
	ids[0] = upper;
	ck_assert_int_eq(unmount(s, ids, 1, MC_SEG_ALLOC, 0, NULL, NULL, &e),
			 -ENOENT);
	upper[MC_ID_LEN] = '\0';
	ck_assert_int_eq(unmount(s, ids, 1, MC_SEG_ALLOC, 0, NULL, NULL, &e),
			 0);
	ck_assert_int_eq(mc_exist(s, "only-a", 6), 0);
	ck_assert_int_eq(mc_query(s, "both", 4, d, 2), 1);
	ck_assert_str_eq(d[0].seg_id, b);
	char *v = get_str(s, "both");
	ck_assert_str_eq(v, "2");
	free(v);
	struct mc_seg_info si;
	ck_assert_int_eq(mc_segment_info(s, a, &si), -ENOENT);

	/* Grace: readable and listed as draining, no new allocations. */
	ids[0] = b;
	ck_assert_int_eq(unmount(s, ids, 1, MC_SEG_ALLOC, 2, NULL, NULL, &e),
			 0);
	ck_assert_int_eq(mc_segment_info(s, b, &si), 0);
	ck_assert_int_eq(si.state, MC_SEG_DRAINING);
	v = get_str(s, "both");
	ck_assert_str_eq(v, "2");
	free(v);
	ck_assert_int_eq(put_str(s, "new", "x"), -ENOSPC);
	advance(1999);
	mc_store_tick(s);
	ck_assert_int_eq(mc_segment_info(s, b, &si), 0);
	advance(1);
	mc_store_tick(s);
	ck_assert_int_eq(mc_segment_info(s, b, &si), -ENOENT);
	ck_assert_int_eq(mc_exist(s, "both", 4), 0);
	struct mc_usage u;
	mc_store_usage(s, &u);
	ck_assert_uint_eq(u.keys, 0);
	ck_assert_uint_eq(u.capacity, 0);
	mc_store_free(s);
}
END_TEST

START_TEST(test_unmount_keeps_reader_bytes)
{
	struct mc_store *s = new_store(1);
	char a[MC_ID_LEN + 1];
	const char *ids[] = {a};
	struct mc_ref *r;

	check_mount(s, 16 * MiB, NULL, a);
	ck_assert_int_eq(put_str(s, "k", "still-here"), 0);
	ck_assert_int_eq(mc_get(s, "k", 1, &r), 0);
	ck_assert_int_eq(unmount(s, ids, 1, MC_SEG_ALLOC, 0, NULL, NULL, NULL),
			 0);
	ck_assert_int_eq(mc_exist(s, "k", 1), 0);
	/* The mapping lives until the last reader lets go. */
	ck_assert(!memcmp(mc_ref_data(r), "still-here", 10));
	mc_ref_release(r);
	mc_store_free(s);
}
END_TEST

/*
 * What a reader still holds of an unmounted segment is no longer used
 * bytes: its capacity went with the segment, and counted against the
 * segments left it would pass the watermark of a half-empty store and
 * evict a value just put (mooncaked(8), --eviction-ratio). Given back
 * later, it is not counted out a second time.
 */
START_TEST(test_unmount_held_not_used)
{
	struct mc_store *s = new_store(1);
	char a[MC_ID_LEN + 1];
	const char *ids[] = {a};
	static char v[4 * MiB];
	struct mc_usage u;
	struct mc_ref *r;

	check_mount(s, 16 * MiB, "stays", NULL);
	check_mount(s, 64 * MiB, "goes", a);
	for (int i = 0; i < 3; i++) {
		struct mc_put_opts po = {.prefer = "goes"};
		char k[8];
		struct mc_put *p;

		snprintf(k, sizeof(k), "g%d", i);
		ck_assert_int_eq(
			mc_put_start_opts(s, k, 2, 16 * MiB, &po, &p, NULL), 0);
		mc_put_release(p);
		ck_assert_int_eq(mc_put_end(s, k, 2, NULL), 0);
	}
	ck_assert_int_eq(mc_get(s, "g0", 2, &r), 0);
	ck_assert_int_eq(unmount(s, ids, 1, MC_SEG_ALLOC, 0, NULL, NULL, NULL),
			 0);
	mc_store_usage(s, &u);
	ck_assert_uint_eq(u.used, 0);
	/* half of "stays", twice over: each put fits below the watermark */
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 2; i++) {
			char k[8];

			snprintf(k, sizeof(k), "s%d", i);
			ck_assert_int_eq(mc_put(s, k, 2, v, sizeof(v), NULL),
					 0);
		}
	ck_assert(fam(s, "master_attempted_evictions_total") == 0);
	ck_assert_int_eq(mc_exist(s, "s0", 2), 1);
	ck_assert_int_eq(mc_exist(s, "s1", 2), 1);
	mc_ref_release(r);
	mc_store_usage(s, &u);
	ck_assert_uint_eq(u.used, 8 * MiB);
	mc_store_free(s);
}
END_TEST

/* Puts and removes key "t" of 64 KiB, on a thread of its own. */
static void *put_remove_main(void *arg)
{
	struct mc_store *s = arg;
	static char v[64 * 1024];

	memset(v, 't', sizeof(v));
	ck_assert_int_eq(mc_put(s, "t", 1, v, sizeof(v), NULL), 0);
	ck_assert_int_eq(mc_remove(s, "t", 1, false, NULL), 0);
	return NULL;
}

/* A buffer a thread frees waits for that thread's next put of its size
 * (segment.c seg_keep): it is free space to everyone else. */
START_TEST(test_kept_buffers)
{
	struct mc_store *s = new_store(1);
	char a[MC_ID_LEN + 1];
	const char *ids[] = {a};
	struct mc_seg_info si;
	struct mc_usage u;
	pthread_t t;
	uint64_t size;
	char *big;

	check_mount(s, MiB, NULL, a);
	ck_assert_int_eq(mc_segment_info(s, a, &si), 0);
	size = si.size; /* mount may round up */
	big = malloc(size);
	ck_assert_ptr_nonnull(big);
	memset(big, 'b', size);
	/* The thread's buffer is kept where the whole segment is needed. */
	pthread_create(&t, NULL, put_remove_main, s);
	pthread_join(t, NULL);
	mc_store_usage(s, &u);
	ck_assert_uint_eq(u.used, 0);
	ck_assert_int_eq(mc_put(s, "big", 3, big, size, NULL), 0);
	mc_store_usage(s, &u);
	ck_assert_uint_eq(u.used, size);
	ck_assert_int_eq(mc_remove(s, "big", 3, false, NULL), 0);
	/* Kept, it is not in the figures. */
	pthread_create(&t, NULL, put_remove_main, s);
	pthread_join(t, NULL);
	mc_store_usage(s, &u);
	ck_assert_uint_eq(u.used, 0);
	ck_assert_int_eq(mc_segment_info(s, a, &si), 0);
	ck_assert_uint_eq(si.used, 0);
	/* A draining segment gives it back when it goes (valgrind and
	 * ASan see a leak otherwise). */
	pthread_create(&t, NULL, put_remove_main, s);
	pthread_join(t, NULL);
	ck_assert_int_eq(unmount(s, ids, 1, MC_SEG_ALLOC, 1, NULL, NULL, NULL),
			 0);
	advance(1000);
	mc_store_tick(s);
	ck_assert_int_eq(mc_segment_info(s, a, &si), -ENOENT);
	mc_store_usage(s, &u);
	ck_assert_uint_eq(u.used, 0);
	free(big);
	mc_store_free(s);
}
END_TEST

/* Key "p"'s buffers (an overwrite takes the one kept from the put
 * before last), as pin_race_writer learns them. */
#define PIN_RACE_SIZE 4096
static _Atomic uint64_t pin_race_addr[2];
static atomic_int pin_race_stop, pin_race_ok, pin_race_mixed;

/* Overwrites key "p", 4 KiB (a kept size), in a loop: each put takes
 * its buffer out of this thread's slot, without the arena's lock. */
static void *pin_race_writer(void *arg)
{
	struct mc_store *s = arg;
	static unsigned char v[PIN_RACE_SIZE];

	for (unsigned n = 0; !atomic_load(&pin_race_stop); n++) {
		struct mc_desc d;

		memset(v, 1 + n % 250, sizeof(v));
		ck_assert_int_eq(mc_put(s, "p", 1, v, sizeof(v), NULL), 0);
		if (mc_query_ex(s, "p", 1, MC_F_PEEK, &d, 1, NULL) == 1)
			atomic_store(&pin_race_addr[n % 2], d.addr);
	}
	return NULL;
}

/* Pins the buffers for reading in turn, 200,000 times or for 3 s (a
 * sanitizer's build): a pin holds bytes of one value, whole, until its
 * release. */
static void *pin_race_reader(void *arg)
{
	struct mc_store *s = arg;
	int n = mc_test_quick() ? 20000 : 200000;
	struct timespec t0, t;

	while (!atomic_load(&pin_race_addr[1]))
		sched_yield();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++) {
		if (i % 1024 == 0) {
			clock_gettime(CLOCK_MONOTONIC, &t);
			if (t.tv_sec - t0.tv_sec > 3)
				break;
		}
		uint64_t addr = atomic_load(&pin_race_addr[i % 2]);
		const unsigned char *p = (const void *)(uintptr_t)addr;
		struct mc_pin *pin;
		int mixed;

		if (!addr || mc_pin_read(s, addr, PIN_RACE_SIZE, &pin))
			continue;
		mixed = p[0] == 0;
		for (int j = 1; j < PIN_RACE_SIZE; j++)
			mixed |= p[j] != p[0];
		mc_pin_release(pin);
		atomic_fetch_add(&pin_race_ok, 1);
		if (mixed)
			atomic_fetch_add(&pin_race_mixed, 1);
	}
	return NULL;
}

/*
 * A READ pin against an overwrite in a loop, the old buffer kept and
 * taken back by the next put without the arena lock: the pin must never
 * hold a buffer that a put is filling (segment.c seg_pin; under TSan the
 * read and the put's copy race otherwise).
 */
START_TEST(test_pin_races_kept)
{
	struct mc_store *s = new_store(1);
	pthread_t w, r[2];

	check_mount(s, 16 * MiB, NULL, NULL);
	ck_assert_int_eq(pthread_create(&w, NULL, pin_race_writer, s), 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(
			pthread_create(&r[i], NULL, pin_race_reader, s), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(r[i], NULL);
	atomic_store(&pin_race_stop, 1);
	pthread_join(w, NULL);
	ck_assert_int_eq(atomic_load(&pin_race_mixed), 0);
	ck_assert_int_gt(atomic_load(&pin_race_ok), 0);
	mc_store_free(s);
}
END_TEST

/* Key "w": its open two-phase put's buffer, as wpin_owner publishes it
 * (0: none yet). Pinners keep using an address after its put went, as a
 * WRITE client with an old descriptor would. */
#define WPIN_SIZE  4096
#define WPIN_PARTS 4 /* pinners, each writing its own part */
#define WPIN_PART  (WPIN_SIZE / WPIN_PARTS)
static _Atomic uint64_t wpin_addr;
static atomic_int wpin_stop, wpin_ok, wpin_torn, wpin_puts;

/* Whether each part of @v (each one pinner's) holds one byte value. */
static bool wpin_whole(const unsigned char *v)
{
	for (int h = 0; h < WPIN_PARTS; h++)
		for (int j = 1; j < WPIN_PART; j++)
			if (v[h * WPIN_PART + j] != v[h * WPIN_PART])
				return false;
	return true;
}

/*
 * Reads key "w" as published: whole parts, and no byte changes while it
 * is held (a WRITE counted out of the seal would still be landing).
 */
static void wpin_check(struct mc_store *s)
{
	static unsigned char first[WPIN_SIZE];
	struct mc_ref *r;
	const unsigned char *v;

	ck_assert_int_eq(mc_get(s, "w", 1, &r), 0);
	ck_assert_uint_eq(mc_ref_size(r), WPIN_SIZE);
	v = mc_ref_data(r);
	memcpy(first, v, WPIN_SIZE);
	for (int i = 0; i < 4; i++)
		sched_yield();
	if (!wpin_whole(first) || memcmp(first, v, WPIN_SIZE))
		atomic_fetch_add(&wpin_torn, 1);
	mc_ref_release(r);
}

/*
 * Two-phase puts of key "w", 4 KiB (a kept size), in a loop, each ended
 * one of three ways: by key (put_end; the next one overwrites it), by a
 * revoke (twice as often: what frees a buffer a WRITE may be entering),
 * or by its handle's commit and then a remove. Each start takes the
 * buffer freed before it back out of this thread's slot, without the
 * arena's lock. The owner never writes a byte: the pinners do.
 */
static void *wpin_owner(void *arg)
{
	struct mc_store *s = arg;

	for (unsigned n = 0; !atomic_load(&wpin_stop); n++) {
		struct mc_err e = {0};
		struct mc_put *p;

		ck_assert_int_eq(mc_put_start(s, "w", 1, WPIN_SIZE, &p, &e), 0);
		atomic_fetch_add(&wpin_puts, 1);
		atomic_store(&wpin_addr, mc_put_desc(p, 0)->addr);
		for (unsigned i = 0; i < n % 8; i++)
			sched_yield(); /* the pinners' turn */
		switch (n % 4) {
		case 0:
			mc_put_release(p);
			/* -EBUSY after a second: a WRITE never counted out */
			ck_assert_int_eq(mc_put_end(s, "w", 1, &e), 0);
			wpin_check(s);
			break;
		case 1:
		case 3:
			mc_put_release(p);
			ck_assert_int_eq(mc_put_revoke(s, "w", 1, &e), 0);
			break;
		default:
			ck_assert_int_eq(mc_put_commit(p, false, &e), 0);
			wpin_check(s);
			ck_assert_int_eq(mc_remove(s, "w", 1, false, NULL), 0);
			break;
		}
	}
	return NULL;
}

struct wpin_arg {
	struct mc_store *s;
	int part;
};

/* Pins its part of the current buffer for writing, fills it with one
 * byte value and lets go: 50,000 times or for 3 s. */
static void *wpin_writer(void *arg)
{
	const struct wpin_arg *a = arg;
	int n = mc_test_quick() ? 5000 : 50000;
	struct timespec t0, t;

	while (!atomic_load(&wpin_addr))
		sched_yield();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0, ok = 0; ok < n; i++) {
		if (i % 256 == 0) {
			clock_gettime(CLOCK_MONOTONIC, &t);
			if (t.tv_sec - t0.tv_sec > 3)
				break;
		}
		uint64_t addr = atomic_load(&wpin_addr) + a->part * WPIN_PART;
		struct mc_pin *pin;
		int rc;

		if (mc_pin_write(a->s, addr, WPIN_PART, &pin)) {
			sched_yield(); /* no put open: the owner's turn */
			continue;
		}
		ok++;
		memset((void *)(uintptr_t)addr, 1 + i % 250, WPIN_PART);
		mc_pin_wrote(pin, WPIN_PART);
		rc = mc_pin_release(pin);
		/* -ESTALE: revoked meanwhile, the bytes went nowhere */
		ck_assert(rc == 0 || rc == -ESTALE);
		atomic_fetch_add(&wpin_ok, 1);
	}
	return NULL;
}

/*
 * WRITE pins (the transfer port's WRITE, mc_pin_write) against two-phase
 * puts of one key ended, revoked, overwritten and removed in a loop,
 * whose buffers are kept and taken back without the arena lock: a pin
 * must count itself into the life of the buffer it holds, so that the
 * seal of that put waits for it and no later life meets it (segment.c
 * seg_pin). Otherwise a put's end waits for a WRITE that is not there
 * and refuses (-EBUSY), or publishes a value still being written (torn,
 * or changing under its reader; under TSan a race with the read).
 */
START_TEST(test_write_pins_race_kept)
{
	struct mc_store *s = new_store(1);
	struct wpin_arg args[WPIN_PARTS];
	pthread_t w, r[WPIN_PARTS];

	check_mount(s, 16 * MiB, NULL, NULL);
	ck_assert_int_eq(pthread_create(&w, NULL, wpin_owner, s), 0);
	for (int i = 0; i < WPIN_PARTS; i++) {
		args[i] = (struct wpin_arg){s, i};
		ck_assert_int_eq(
			pthread_create(&r[i], NULL, wpin_writer, &args[i]), 0);
	}
	for (int i = 0; i < WPIN_PARTS; i++)
		pthread_join(r[i], NULL);
	atomic_store(&wpin_stop, 1);
	pthread_join(w, NULL);
	ck_assert_int_eq(atomic_load(&wpin_torn), 0);
	ck_assert_int_gt(atomic_load(&wpin_ok), 0);
	mc_store_free(s);
}
END_TEST

/* Overwrites 4 KiB keys until told to stop: each overwrite keeps its old
 * buffer in this thread's slot of the segment it came from (seg_keep). */
static atomic_int keep_race_stop, keep_race_puts;

static void *keep_race_writer(void *arg)
{
	struct mc_store *s = arg;
	unsigned char v[4096];
	char key[8];

	for (unsigned n = 0; !atomic_load(&keep_race_stop); n++) {
		snprintf(key, sizeof(key), "w%u", n % 4);
		memset(v, 1 + n % 250, sizeof(v));
		if (mc_put(s, key, strlen(key), v, sizeof(v), NULL) == 0)
			atomic_fetch_add(&keep_race_puts, 1);
	}
	return NULL;
}

/*
 * Overwrites against the unmount of the only segment, over and over: a
 * put that keeps its old buffer (seg_keep) may meet the unmount that
 * drains the slots and frees the segment. The segment must outlive
 * every look the keeping thread takes at it (under ASan a read after
 * the free otherwise), and whatever was kept goes back with it (used
 * is 0 at the end).
 */
START_TEST(test_keep_races_unmount)
{
	struct mc_store *s = new_store(1);
	int rounds = mc_test_quick() ? 300 : 3000;
	char a[MC_ID_LEN + 1];
	const char *ids[] = {a};
	struct mc_usage u;
	struct timespec t0;
	pthread_t w[2];

	mc_log_set_level(MC_LOG_ERROR); /* a mount and an unmount a round */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(
			pthread_create(&w[i], NULL, keep_race_writer, s), 0);
	/* 3,000 rounds take about 17 s under TSan on an idle machine; the case
	 * times out at 60 */
	for (int i = 0; i < rounds && (i < 300 || mc_test_elapsed(&t0) < 25);
	     i++) {
		check_mount(s, MiB, NULL, a);
		sched_yield();
		ck_assert_int_eq(
			unmount(s, ids, 1, MC_SEG_ALLOC, 0, NULL, NULL, NULL),
			0);
	}
	atomic_store(&keep_race_stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(w[i], NULL);
	ck_assert_int_gt(atomic_load(&keep_race_puts), 0);
	mc_store_usage(s, &u);
	ck_assert_uint_eq(u.keys, 0);
	ck_assert_uint_eq(u.used, 0);
	mc_store_free(s);
	mc_log_set_level(MC_LOG_INFO);
}
END_TEST

/*
 * An unmount frees a segment's blocks without merging them back into
 * free space (mc_alloc_drop): what readers, a lease and a pin still hold
 * stays readable until they let go, no longer counted as used (no
 * segment holds it), not counted out again as each goes, and the memory
 * goes with the last one (ASan and valgrind see a read after it, or a
 * leak).
 */
START_TEST(test_unmount_drop_held)
{
	enum { N = 3000, HELD = 40, ALIGN = 64 /* MC_BUF_ALIGN */ };
	struct mc_store *s = new_store(1);
	char a[MC_ID_LEN + 1], key[16], val[300];
	const char *ids[] = {a};
	struct mc_ref *r[HELD];
	struct mc_desc d;
	struct mc_pin *pin, *gone;
	struct mc_usage u;

	check_mount(s, 16 * MiB, NULL, a);
	for (unsigned i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "k%u", i);
		memset(val, 'a' + i % 26, sizeof(val));
		ck_assert_int_eq(mc_put(s, key, strlen(key), val,
					1 + i * 7 % sizeof(val), NULL),
				 0);
	}
	for (unsigned i = 0; i < HELD; i++) {
		unsigned k = i * 61 % N;

		snprintf(key, sizeof(key), "k%u", k);
		ck_assert_int_eq(mc_get(s, key, strlen(key), &r[i]), 0);
	}
	/* k1 (8 bytes): leased by a query and pinned; not among r[] */
	ck_assert_int_eq(mc_query(s, "k1", 2, &d, 1), 1);
	ck_assert_int_eq(mc_pin_read(s, d.addr, 8, &pin), 0);

	ck_assert_int_eq(unmount(s, ids, 1, MC_SEG_ALLOC, 0, NULL, NULL, NULL),
			 0);
	mc_store_usage(s, &u);
	ck_assert_uint_eq(u.keys, 0);
	ck_assert_uint_eq(u.segments, 0);
	ck_assert_uint_eq(u.used, 0);
	ck_assert_int_eq(mc_pin_read(s, d.addr, 8, &gone), -EACCES);
	for (unsigned i = 0; i < HELD; i++) {
		unsigned k = i * 61 % N;
		const char *v = mc_ref_data(r[i]);

		ck_assert_uint_eq(mc_ref_size(r[i]), 1 + k * 7 % sizeof(val));
		for (size_t j = 0; j < mc_ref_size(r[i]); j++)
			ck_assert_int_eq(v[j], 'a' + k % 26);
		mc_ref_release(r[i]);
		mc_store_usage(s, &u);
		ck_assert_uint_eq(u.used, 0);
	}
	/* the pin holds the last block (the lease went with the segment),
	 * still readable */
	ck_assert_uint_eq(u.used, 0);
	ck_assert(!memcmp((const char *)(uintptr_t)d.addr, "bbbbbbbb", 8));
	ck_assert_int_eq(mc_pin_release(pin), 0);
	mc_store_usage(s, &u);
	ck_assert_uint_eq(u.used, 0);
	mc_store_free(s);
}
END_TEST

START_TEST(test_shm)
{
	struct mc_store *s = new_store(1);
	char name[64], path[80];
	long page = sysconf(_SC_PAGESIZE);
	struct mc_mount_result res;
	struct mc_err e;

	snprintf(name, sizeof(name), "mc-check-%d", (int)getpid());
	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 8 * MiB), 0);

	struct mc_mount_req bad[] = {
		{.size = MiB, .shm_name = ""},
		{.size = MiB, .shm_name = "/"},
		{.size = MiB, .shm_name = "a/b"},
		{.size = MiB, .shm_name = "."},
		{.size = MiB, .shm_name = "/.."},
		{.size = MiB, .shm_name = "//x"},
		{.size = MiB, .shm_name = name, .offset = 1},
		{.size = MiB, .shm_name = name, .offset = (uint64_t)page + 1},
		{.size = 8 * MiB + 1, .shm_name = name},
		{.size = 8 * MiB, .shm_name = name, .offset = (uint64_t)page},
		{.size = 1, .shm_name = name, .offset = 16 * MiB},
		{.size = MiB, .shm_name = "mc-check-missing-object"},
		{.size = 63, .shm_name = name}, /* less than one buffer */
	};
	int want[] = {-EINVAL, -EINVAL, -EINVAL, -EINVAL, -EINVAL,
		      -EINVAL, -EINVAL, -EINVAL, -ERANGE, -ERANGE,
		      -ERANGE, -ENOENT, -EINVAL};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(mc_segment_mount(s, &bad[i], &res, &e) == want[i],
			      "case %zu: %s", i, e.msg);

	char slashed[80];
	snprintf(slashed, sizeof(slashed), "/%s", name);
	struct mc_mount_req r = {
		.size = 4 * MiB, .shm_name = slashed, .offset = (uint64_t)page};
	ck_assert_int_eq(mc_segment_mount(s, &r, &res, &e), 0);
	struct mc_seg_info si;
	ck_assert_int_eq(mc_segment_info(s, res.ids[0], &si), 0);
	char src[128];
	snprintf(src, sizeof(src), "shm:%s+%ld", name, page);
	ck_assert_str_eq(si.source, src);
	ck_assert_int_eq(si.kind, MC_SEG_SHM);

	/* Bytes written through the store are in the file. */
	ck_assert_int_eq(put_str(s, "k", "shared-bytes"), 0);
	struct mc_desc d;
	ck_assert_int_eq(mc_query(s, "k", 1, &d, 1), 1);
	char buf[12];
	off_t at = (off_t)(page + (d.addr - si.base));
	ck_assert_int_eq(pread(fd, buf, 12, at), 12);
	ck_assert(!memcmp(buf, "shared-bytes", 12));

	/* Unmounting as alloc is refused; as shm it works, file intact. */
	const char *ids[] = {res.ids[0]};
	ck_assert_int_eq(unmount(s, ids, 1, MC_SEG_ALLOC, 0, NULL, NULL, NULL),
			 -ENOENT);
	ck_assert_int_eq(unmount(s, ids, 1, MC_SEG_SHM, 0, NULL, NULL, NULL),
			 0);
	ck_assert_int_eq(pread(fd, buf, 12, at), 12);
	ck_assert(!memcmp(buf, "shared-bytes", 12));
	free(res.ids);

	/* Without a condition the core takes a mixed set at once, or none. */
	struct mc_mount_result ra = {0};
	struct mc_mount_req a = {.size = 16 * MiB};
	ck_assert_int_eq(mc_segment_mount(s, &r, &res, &e), 0);
	ck_assert_int_eq(mc_segment_mount(s, &a, &ra, &e), 0);
	const char *mixed[] = {res.ids[0], ra.ids[0], "no-such-id"};
	struct mc_unmount_req ur = {.ids = mixed, .n = 3};
	ck_assert_int_eq(mc_segment_unmount(s, &ur, NULL, NULL, &e), -ENOENT);
	ck_assert_int_eq(mc_segment_info(s, res.ids[0], &si), 0);
	ck_assert_int_eq(mc_segment_info(s, ra.ids[0], &si), 0);
	ur.n = 2;
	ck_assert_int_eq(mc_segment_unmount(s, &ur, NULL, NULL, &e), 0);
	ck_assert_int_eq(mc_segment_info(s, res.ids[0], &si), -ENOENT);
	ck_assert_int_eq(mc_segment_info(s, ra.ids[0], &si), -ENOENT);
	free(res.ids);
	free(ra.ids);
	close(fd);
	unlink(path);
	mc_store_free(s);
}
END_TEST

/*
 * master_evicted_size_bytes counts what upstream's does: the value bytes
 * of each evicted object times its replicas, not its buffers' rounded
 * sizes (mooncake-http(7), metrics).
 */
START_TEST(test_evicted_bytes)
{
	struct mc_store *s = new_store(2);
	static char big[MiB];
	uint64_t want = 0;
	unsigned gone = 0;
	char k[16];

	check_mount(s, 16 * MiB, "a", NULL); /* a replica in each */
	check_mount(s, 16 * MiB, "b", NULL);
	for (unsigned i = 0; i < 40; i++) {
		snprintf(k, sizeof(k), "s%u", i);
		ck_assert_int_eq(mc_put(s, k, strlen(k), big, 100 + i, NULL),
				 0);
	}
	for (unsigned i = 0; i < 24; i++) {
		snprintf(k, sizeof(k), "b%u", i);
		ck_assert_int_eq(mc_put(s, k, strlen(k), big, MiB - 1, NULL),
				 0);
	}
	for (unsigned i = 0; i < 40; i++) {
		snprintf(k, sizeof(k), "s%u", i);
		if (!mc_exist(s, k, strlen(k)))
			want += 2 * (100 + i), gone++;
	}
	for (unsigned i = 0; i < 24; i++) {
		snprintf(k, sizeof(k), "b%u", i);
		if (!mc_exist(s, k, strlen(k)))
			want += 2 * (MiB - 1), gone++;
	}
	ck_assert_uint_gt(gone, 40); /* every small one, and a big one */
	ck_assert(fam(s, "master_evicted_key_count") == gone);
	ck_assert_msg(fam(s, "master_evicted_size_bytes") == (double)want,
		      "%g bytes counted, %llu evicted",
		      fam(s, "master_evicted_size_bytes"),
		      (unsigned long long)want);
	mc_store_free(s);
}
END_TEST

/*
 * What the oldest values leave can lie scattered between younger ones:
 * a put that still finds no hole of its size evicts the run of blocks
 * that makes one at the least cost, and only that (mooncaked(8),
 * --eviction-ratio).
 */
START_TEST(test_eviction_makes_hole)
{
	struct mc_store *s = new_store(1);
	static char val[4 * MiB];
	unsigned kept = 0;
	char k[16];

	check_mount(s, 16 * MiB, NULL, NULL);
	memset(val, 'h', sizeof(val));
	/* 240 x 64 KiB: 15 MiB, below the watermark */
	for (unsigned i = 0; i < 240; i++) {
		snprintf(k, sizeof(k), "s%03u", i);
		ck_assert_int_eq(mc_put(s, k, strlen(k), val, 64 << 10, NULL),
				 0);
	}
	/* every other one is used again: the odd ones are the oldest, and
	 * what they leave is 64 KiB holes between the even ones */
	for (unsigned i = 0; i < 240; i += 2) {
		snprintf(k, sizeof(k), "s%03u", i);
		free(get_str(s, k));
	}
	ck_assert_int_eq(mc_put(s, "big", 3, val, 4 * MiB, NULL), 0);
	struct mc_ref *r;
	ck_assert_int_eq(mc_get(s, "big", 3, &r), 0);
	ck_assert_uint_eq(mc_ref_size(r), 4 * MiB);
	ck_assert(!memcmp(mc_ref_data(r), val, 4 * MiB));
	mc_ref_release(r);
	/*
	 * The hole took the even ones of about 4 MiB, not all of them: the
	 * LRU runs take up to 18 of the 120 (a random part of the age bucket
	 * they end in), the hole at most 24 more.
	 */
	for (unsigned i = 0; i < 240; i += 2) {
		snprintf(k, sizeof(k), "s%03u", i);
		kept += mc_exist(s, k, strlen(k)) == 1;
	}
	ck_assert_msg(kept >= 78, "%u of 120 recently used values kept", kept);
	mc_store_free(s);
}
END_TEST

START_TEST(test_eviction)
{
	struct mc_store *s = new_store(1);
	static char val[MiB];
	char k[16];

	check_mount(s, 16 * MiB, NULL, NULL);
	memset(val, 'v', sizeof(val));
	/* 15 x 1 MiB fills the 16 MiB segment to ~94%. */
	for (int i = 0; i < 15; i++) {
		snprintf(k, sizeof(k), "k%02d", i);
		ck_assert_int_eq(mc_put(s, k, strlen(k), val, MiB, NULL), 0);
	}
	/* Touch the two oldest: they become the most recently used. */
	free(get_str(s, "k00"));
	free(get_str(s, "k01"));
	/* Lease k02: leased objects are not evicted. */
	struct mc_desc d;
	ck_assert_int_eq(mc_query(s, "k02", 3, &d, 1), 1);
	/* Each put past the watermark evicts down to 90%: two of them. */
	for (int i = 15; i < 26; i++) {
		snprintf(k, sizeof(k), "k%02d", i);
		ck_assert_int_eq(mc_put(s, k, strlen(k), val, MiB, NULL), 0);
	}
	ck_assert_int_eq(mc_exist(s, "k02", 3), 1);
	ck_assert_int_eq(mc_exist(s, "k25", 3), 1);
	ck_assert_int_eq(mc_exist(s, "k03", 3), 0);
	/* The touched keys outlived untouched ones put after them. */
	int young_gone = 0;
	for (int i = 3; i < 15; i++) {
		snprintf(k, sizeof(k), "k%02d", i);
		young_gone += !mc_exist(s, k, strlen(k));
	}
	ck_assert_int_eq(young_gone, 12);
	ck_assert_int_eq(mc_exist(s, "k00", 3) + mc_exist(s, "k01", 3), 2);

	struct mc_metrics *m = mc_store_metrics(s);
	ck_assert(
		mc_series_value(mc_family_series(
			mc_metrics_find(m, "master_attempted_evictions_total"),
			NULL)) >= 1);
	ck_assert(mc_series_value(mc_family_series(
			  mc_metrics_find(m, "master_evicted_key_count"),
			  NULL)) >= 12);
	/* memory is the only tier: the upstream *_mem families agree */
	static const char *const pairs[][2] = {
		{"master_attempted_evictions_total",
		 "master_attempted_evictions_mem"},
		{"master_successful_evictions_total",
		 "master_successful_evictions_mem"},
		{"master_evicted_key_count", "master_evicted_key_count_mem"},
		{"master_evicted_size_bytes", "master_evicted_size_bytes_mem"},
	};
	for (size_t i = 0; i < 4; i++) {
		double a = mc_series_value(mc_family_series(
			mc_metrics_find(m, pairs[i][0]), NULL));
		double b = mc_series_value(mc_family_series(
			mc_metrics_find(m, pairs[i][1]), NULL));
		ck_assert_msg(a > 0 && a == b, "%s %g, %s %g", pairs[i][0], a,
			      pairs[i][1], b);
	}
	struct mc_usage u;
	mc_store_usage(s, &u);
	ck_assert(u.used <= u.capacity);

	/* A value larger than any segment never fits, and evicts nothing. */
	struct mc_put *p;
	struct mc_err e;
	mc_store_usage(s, &u);
	ck_assert_int_eq(mc_put_begin(s, "huge", 4, 17 * MiB, &p, &e), -ENOSPC);
	ck_assert_int_eq(e.code, MC_NO_AVAILABLE_HANDLE);
	struct mc_usage u2;
	mc_store_usage(s, &u2);
	ck_assert_uint_eq(u2.keys, u.keys);
	mc_store_free(s);
}
END_TEST

/*
 * The reaper ends each lease when it is due, whatever order the leases
 * were granted and extended in: "a" is leased, extended, then "b" is
 * leased; "a"'s lease, extended when first due, ends before "b"'s. Its
 * value was replaced meanwhile, so its bytes are the lease's alone and go
 * back to the allocator the tick after the lease ends.
 */
START_TEST(test_lease_order)
{
	struct mc_store *s = new_store(1);
	struct mc_desc da, db;
	struct mc_pin *pin;

	check_mount(s, 16 * MiB, NULL, NULL);
	mc_store_tick(s);
	ck_assert_int_eq(put_str(s, "a", "a-old"), 0);
	ck_assert_int_eq(put_str(s, "b", "b-value"), 0);
	ck_assert_int_eq(mc_query(s, "a", 1, &da, 1), 1); /* until +1000 */
	advance(100);
	ck_assert_int_eq(mc_query(s, "a", 1, &da, 1), 1); /* until +1100 */
	advance(800);
	ck_assert_int_eq(mc_query(s, "b", 1, &db, 1), 1); /* until +1900 */
	advance(100);
	mc_store_tick(s); /* +1000: a's first due, extended to +1100 */
	ck_assert_int_eq(put_str(s, "a", "a-new"), 0);
	ck_assert_int_eq(mc_pin_read(s, da.addr, 5, &pin), 0);
	mc_pin_release(pin);
	advance(200);
	mc_store_tick(s); /* +1200: a's lease is over, b's runs */
	ck_assert_int_eq(mc_pin_read(s, da.addr, 5, &pin), -EACCES);
	ck_assert_int_eq(mc_pin_read(s, db.addr, 7, &pin), 0);
	mc_pin_release(pin);
	advance(1000);
	mc_store_tick(s);
	mc_store_free(s);
}
END_TEST

/*
 * A model of the lease queue, against random grants, extensions (a query
 * of a leased value), overwrites, removes, ticks and unmounts, with a few
 * lease lengths. A block's lease ends at the first tick at or after the
 * latest end any query gave it (mooncaked(8) --lease-ttl), so after each
 * tick the bytes the store counts used are those of the listed values and
 * of the replaced or removed ones whose lease is not over yet; a remove
 * is refused exactly while a lease runs; an unmount ends its segment's
 * leases at once (hundreds of them: lease.c lease_drop_seg). A lease that
 * ends late or early, or a block left behind, shows in the used bytes.
 */
#define LP_KEYS 4000
#define LP_SEGS 4
#define LP_BLKS 40000

struct lp_blk {
	uint64_t until, bytes, addr;
	unsigned seg;
	bool live, held;
};

struct lp {
	struct mc_store *s;
	struct lp_blk *b;
	unsigned nb;
	unsigned *held, nheld; /* the blocks whose lease runs */
	uint64_t used;	       /* of the blocks listed or leased */
	int cur[LP_KEYS];      /* a key's listed block, or -1 */
	unsigned nkeys;
	unsigned recent[64]; /* keys queried lately: extended, replaced */
	char seg[LP_SEGS][MC_ID_LEN + 1];
	uint64_t ttl, rnd;
};

static uint64_t lp_rand(struct lp *m)
{
	m->rnd ^= m->rnd << 13;
	m->rnd ^= m->rnd >> 7;
	m->rnd ^= m->rnd << 17;
	return m->rnd;
}

static unsigned lp_seg_of(struct lp *m, const char *id)
{
	for (unsigned i = 0; i < LP_SEGS; i++)
		if (!strcmp(m->seg[i], id))
			return i;
	ck_abort_msg("a replica in no mounted segment: %s", id);
	return 0;
}

/* Block @i listed (@live) and leased (@held) or not, its bytes counted. */
static void lp_set(struct lp *m, unsigned i, bool live, bool held)
{
	struct lp_blk *b = &m->b[i];

	if (held && !b->held)
		m->held[m->nheld++] = i;
	if (!(b->live || b->held) && (live || held))
		m->used += b->bytes;
	if ((b->live || b->held) && !(live || held))
		m->used -= b->bytes;
	b->live = live;
	b->held = held; /* off the held list: by its caller */
}

static void lp_check(struct lp *m, unsigned step)
{
	struct mc_usage u;

	mc_store_usage(m->s, &u);
	ck_assert_msg(
		u.used == m->used,
		"ttl %llu step %u: %llu bytes used, the leases leave %llu",
		(unsigned long long)m->ttl, step, (unsigned long long)u.used,
		(unsigned long long)m->used);
}

static void lp_key(char *k, size_t len, unsigned i)
{
	snprintf(k, len, "lp%u", i);
}

static void lp_put(struct lp *m, unsigned key)
{
	static char val[4096];
	uint64_t size = 1 + lp_rand(m) % sizeof(val);
	struct mc_desc d;
	char k[16];

	lp_key(k, sizeof(k), key);
	ck_assert_int_lt(m->nb, LP_BLKS);
	ck_assert_int_eq(mc_put(m->s, k, strlen(k), val, size, NULL), 0);
	ck_assert_int_eq(
		mc_query_ex(m->s, k, strlen(k), MC_F_PEEK, &d, 1, NULL), 1);
	if (m->cur[key] >= 0)
		lp_set(m, m->cur[key], false, m->b[m->cur[key]].held);
	m->cur[key] = (int)m->nb;
	m->b[m->nb] = (struct lp_blk){
		.bytes = (size + 63) / 64 * 64, /* MC_BUF_ALIGN */
		.addr = d.addr,
		.seg = lp_seg_of(m, d.seg_id),
	};
	lp_set(m, m->nb++, true, false);
}

/* A query of listed key @key: grants its lease, or extends it. */
static void lp_query(struct lp *m, unsigned key, uint64_t now)
{
	struct lp_blk *b = &m->b[m->cur[key]];
	struct mc_desc d;
	char k[16];

	lp_key(k, sizeof(k), key);
	ck_assert_int_eq(mc_query(m->s, k, strlen(k), &d, 1), 1);
	ck_assert_uint_eq(d.addr, b->addr);
	m->recent[lp_rand(m) % 64] = key;
	if (b->until < now + m->ttl)
		b->until = now + m->ttl;
	lp_set(m, (unsigned)m->cur[key], true, true);
}

/* The reaper at @now: the leases due end. */
static void lp_tick(struct lp *m, uint64_t now)
{
	mc_store_tick(m->s);
	for (unsigned j = 0; j < m->nheld;) {
		unsigned i = m->held[j];

		if (m->b[i].held && m->b[i].until > now) {
			j++;
			continue;
		}
		if (m->b[i].held)
			lp_set(m, i, m->b[i].live, false);
		m->held[j] = m->held[--m->nheld];
	}
}

/* Segment @g unmounted: its blocks go, leased or not. */
static void lp_unmount(struct lp *m, unsigned g)
{
	const char *ids[] = {m->seg[g]};

	ck_assert_int_eq(
		unmount(m->s, ids, 1, MC_SEG_ALLOC, 0, NULL, NULL, NULL), 0);
	for (unsigned i = 0; i < m->nb; i++)
		if (m->b[i].seg == g) {
			lp_set(m, i, false, false);
			m->b[i].seg = LP_SEGS;
		}
	for (unsigned i = 0; i < m->nkeys; i++)
		if (m->cur[i] >= 0 && m->b[m->cur[i]].seg == LP_SEGS)
			m->cur[i] = -1;
}

static void lp_round(uint64_t ttl, unsigned nkeys, uint64_t seed,
		     unsigned steps)
{
	struct lp m = {.s = new_store_ttl(1, ttl),
		       .ttl = ttl,
		       .nkeys = nkeys,
		       .rnd = seed};

	m.b = calloc(LP_BLKS, sizeof(*m.b));
	m.held = calloc(LP_BLKS, sizeof(*m.held));
	ck_assert(m.b && m.held);
	for (unsigned i = 0; i < LP_SEGS; i++)
		check_mount(m.s, 16 * MiB, NULL, m.seg[i]);
	for (unsigned i = 0; i < nkeys; i++) {
		m.cur[i] = -1;
		lp_put(&m, i);
	}
	for (unsigned step = 0; step < steps; step++) {
		unsigned r = (unsigned)(lp_rand(&m) % 1000);
		unsigned key = (unsigned)(lp_rand(&m) % nkeys);
		uint64_t now = test_clock(NULL);
		char k[16];
		int c;

		/* half the time a key queried lately: its lease runs */
		if (lp_rand(&m) % 2)
			key = m.recent[lp_rand(&m) % 64] % nkeys;
		c = m.cur[key];
		lp_key(k, sizeof(k), key);
		if (r < 650) { /* grant or extend */
			if (c < 0)
				lp_put(&m, key);
			else
				lp_query(&m, key, now);
		} else if (r < 800) { /* put or overwrite */
			lp_put(&m, key);
		} else if (r < 850) { /* remove, forced at times */
			bool force = lp_rand(&m) % 2;
			int rc = mc_remove(m.s, k, strlen(k), force, NULL);

			if (c < 0) {
				ck_assert_int_eq(rc, -ENOENT);
				continue;
			}
			if (!force && m.b[c].until > now) {
				ck_assert_int_eq(rc, -EBUSY);
				continue;
			}
			ck_assert_int_eq(rc, 0);
			lp_set(&m, (unsigned)c, false, m.b[c].held);
			m.cur[key] = -1;
		} else if (r < 865) {
			advance(lp_rand(&m) % (ttl / 5 + 2));
		} else if (r < 990) { /* the reaper */
			lp_tick(&m, now);
			lp_check(&m, step);
		} else if (r < 998) { /* a quarter of the keys at once */
			for (unsigned i = key % 4; i < nkeys; i += 4)
				if (m.cur[i] >= 0)
					lp_query(&m, i, now);
		} else { /* unmount a segment, leases and all; mount another */
			lp_unmount(&m, key % LP_SEGS);
			lp_check(&m, step);
			check_mount(m.s, 16 * MiB, NULL, m.seg[key % LP_SEGS]);
		}
	}
	/* Every lease comes due: only the listed values are left. */
	advance(ttl + 1);
	lp_tick(&m, test_clock(NULL));
	ck_assert_uint_eq(m.nheld, 0);
	lp_check(&m, steps);
	ck_assert_int_ge(mc_remove_all(m.s, false), 0);
	for (unsigned i = 0; i < m.nb; i++)
		lp_set(&m, i, false, false);
	lp_check(&m, steps + 1);
	ck_assert_uint_eq(m.used, 0);
	mc_store_free(m.s);
	free(m.held);
	free(m.b);
}

START_TEST(test_lease_random)
{
	unsigned keys = mc_test_quick() ? LP_KEYS / 4 : LP_KEYS;
	unsigned steps = mc_test_quick() ? 4000 : 30000;

	lp_round(1000, keys, 0x9e3779b97f4a7c15ull, steps);
	lp_round(7, keys, 0x2545f4914f6cdd1dull, steps);
	lp_round(250, keys, 0xd1b54a32d192ed03ull, steps);
	lp_round(100, 16, 0xbf58476d1ce4e5b9ull, steps); /* a small heap */
}
END_TEST

/*
 * A lease as long as the clock allows: --lease-ttl takes any 64-bit
 * number, and the largest leases until the clock's end, not (its end
 * wrapping past zero) to a time already past.
 */
START_TEST(test_lease_ttl_max)
{
	struct mc_store *s = new_store_ttl(1, UINT64_MAX);
	struct mc_desc d;

	check_mount(s, 16 * MiB, NULL, NULL);
	ck_assert_int_eq(put_str(s, "k", "v"), 0);
	ck_assert_int_eq(mc_query(s, "k", 1, &d, 1), 1);
	advance(1000);
	mc_store_tick(s);
	ck_assert_int_eq(mc_remove(s, "k", 1, false, NULL), -EBUSY);
	ck_assert_int_eq(mc_remove(s, "k", 1, true, NULL), 0);
	mc_store_free(s);
}
END_TEST

/*
 * Eviction takes only values whose bytes it can give back at once. The
 * two oldest values are in use: one by a reader still copying it (a get's
 * reference), one by a read lease that has lapsed but that the reaper has
 * not ended yet (its tick had not come: the lease queue still holds the
 * bytes). Taking them would free nothing, so the puts that need room must
 * take younger values instead, and succeed.
 */
START_TEST(test_eviction_skips_busy)
{
	struct mc_store *s = new_store(1);
	static char val[MiB];
	struct mc_ref *reader;
	struct mc_desc d;
	char k[16];

	check_mount(s, 16 * MiB, NULL, NULL);
	memset(val, 'v', sizeof(val));
	ck_assert_int_eq(mc_put(s, "old-read", 8, val, MiB, NULL), 0);
	ck_assert_int_eq(mc_put(s, "old-lease", 9, val, MiB, NULL), 0);
	ck_assert_int_eq(mc_get(s, "old-read", 8, &reader), 0);
	ck_assert_int_eq(mc_query(s, "old-lease", 9, &d, 1), 1);
	/* Puts move the clock (reads only stamp it): make both the oldest. */
	for (int i = 0; i < 4 * 64; i++)
		ck_assert_int_eq(put_str(s, "clock", "c"), 0);
	for (int i = 0; i < 12; i++) {
		snprintf(k, sizeof(k), "young%d", i);
		ck_assert_int_eq(mc_put(s, k, strlen(k), val, MiB, NULL), 0);
	}
	advance(5000); /* the lease (1 s) lapses; no tick ends it */

	/* 14 of 16 MiB used: these go past the watermark, then the end. */
	for (int i = 0; i < 6; i++) {
		snprintf(k, sizeof(k), "new%d", i);
		ck_assert_msg(mc_put(s, k, strlen(k), val, MiB, NULL) == 0,
			      "put %s", k);
	}
	ck_assert_int_eq(mc_exist(s, "old-read", 8), 1);
	ck_assert_int_eq(mc_exist(s, "old-lease", 9), 1);
	ck_assert_int_eq(mc_exist(s, "new5", 4), 1);

	/* What was counted evicted is what went. */
	int gone = !mc_exist(s, "clock", 5);
	for (int i = 0; i < 12; i++) {
		snprintf(k, sizeof(k), "young%d", i);
		gone += !mc_exist(s, k, strlen(k));
	}
	struct mc_metrics *m = mc_store_metrics(s);
	ck_assert_int_eq(
		(int)mc_series_value(mc_family_series(
			mc_metrics_find(m, "master_evicted_key_count"), NULL)),
		gone);
	ck_assert_int_ge(gone, 1);

	/* Once the reader is done, the old value can go like any other. */
	mc_ref_release(reader);
	mc_store_tick(s);
	for (int i = 6; i < 30; i++) {
		snprintf(k, sizeof(k), "new%d", i);
		ck_assert_int_eq(mc_put(s, k, strlen(k), val, MiB, NULL), 0);
	}
	ck_assert_int_eq(mc_exist(s, "old-read", 8), 0);
	ck_assert_int_eq(mc_exist(s, "old-lease", 9), 0);
	mc_store_free(s);
}
END_TEST

START_TEST(test_two_phase)
{
	struct mc_store *s = new_store(1);
	struct mc_put *p, *q;
	struct mc_pin *pin;
	struct mc_err e;

	check_mount(s, 16 * MiB, NULL, NULL);
	ck_assert_int_eq(mc_put_start(s, "k", 1, 5, &p, &e), 0);
	ck_assert_uint_eq(mc_put_ndesc(p), 1);
	const struct mc_desc *d = mc_put_desc(p, 0);
	ck_assert_uint_eq(d->size, 5);
	ck_assert_int_eq(mc_put_start(s, "k", 1, 5, &q, &e), -EBUSY);

	/* Writable, not readable, until the end; only inside the buffer. */
	ck_assert_int_eq(mc_pin_read(s, d->addr, 5, &pin), -EACCES);
	ck_assert_int_eq(mc_pin_write(s, d->addr, 6, &pin), -EACCES);
	ck_assert_int_eq(mc_pin_write(s, d->addr - 1, 2, &pin), -EACCES);
	ck_assert_int_eq(mc_pin_write(s, d->addr, 0, &pin), -EACCES);
	ck_assert_int_eq(mc_pin_write(s, UINT64_MAX - 2, 5, &pin), -EACCES);
	/* from the value's end through its block's padding, any size */
	for (uint64_t off = 5; off < 64; off++) {
		ck_assert_int_eq(mc_pin_write(s, d->addr + off, 1, &pin),
				 -EACCES);
		ck_assert_int_eq(mc_pin_write(s, d->addr + off, MiB, &pin),
				 -EACCES);
	}
	ck_assert_int_eq(mc_pin_write(s, d->addr + 1, 4, &pin), 0);
	memcpy((char *)(uintptr_t)d->addr, "hello", 5);
	mc_pin_release(pin);
	uint64_t addr = d->addr;
	mc_put_release(p);
	ck_assert_int_eq(mc_exist(s, "k", 1), 0);
	ck_assert_int_eq(mc_put_end(s, "k", 1, &e), 0);
	ck_assert_int_eq(mc_put_end(s, "k", 1, &e), -ENOENT);
	char *v = get_str(s, "k");
	ck_assert_str_eq(v, "hello");
	free(v);
	ck_assert_int_eq(mc_pin_read(s, addr, 5, &pin), 0);
	mc_pin_release(pin);
	for (uint64_t off = 5; off < 64; off++) {
		ck_assert_int_eq(mc_pin_read(s, addr + off, 1, &pin), -EACCES);
		ck_assert_int_eq(mc_pin_read(s, addr + off, MiB, &pin),
				 -EACCES);
	}
	ck_assert_int_eq(mc_pin_write(s, addr, 5, &pin), -EACCES);

	/* Revoke frees the space; the timeout revokes an abandoned put. */
	struct mc_usage u0, u1;
	mc_store_usage(s, &u0);
	ck_assert_int_eq(mc_put_start(s, "r", 1, MiB, &p, &e), 0);
	mc_put_release(p);
	ck_assert_int_eq(mc_put_revoke(s, "r", 1, &e), 0);
	ck_assert_int_eq(mc_put_revoke(s, "r", 1, &e), -ENOENT);
	mc_store_usage(s, &u1);
	ck_assert_uint_eq(u1.used, u0.used);

	ck_assert_int_eq(mc_put_start(s, "t", 1, MiB, &p, &e), 0);
	advance(501);
	mc_store_tick(s);
	ck_assert_int_eq(mc_put_commit(p, false, &e), -ETIMEDOUT);
	mc_store_usage(s, &u1);
	ck_assert_uint_eq(u1.used, u0.used);
	ck_assert_uint_eq(u1.pending_puts, 0);
	ck_assert_int_eq(mc_exist(s, "t", 1), 0);

	/* A local put (begin) does not block and is not blocked. */
	ck_assert_int_eq(mc_put_start(s, "b", 1, 3, &p, &e), 0);
	ck_assert_int_eq(mc_put_begin(s, "b", 1, 3, &q, &e), 0);
	memcpy(mc_put_buffer(q, 0), "abc", 3);
	ck_assert_int_eq(mc_put_commit(q, true, &e), 0);
	mc_put_abort(p);
	v = get_str(s, "b");
	ck_assert_str_eq(v, "abc");
	free(v);
	mc_store_free(s);
}
END_TEST

/*
 * Thousands of open puts (an RPC batch): each start still sees its key's
 * open put, ends and revokes find theirs, and the timeout finds the rest.
 */
START_TEST(test_many_open_puts)
{
	struct mc_store *s = new_store(1);
	enum { N = 5000 };
	struct mc_put *p;
	struct mc_usage u;
	struct mc_err e;
	char k[16];

	check_mount(s, 64 * MiB, NULL, NULL);
	for (int i = 0; i < N; i++) {
		int n = snprintf(k, sizeof(k), "o%d", i);

		ck_assert_int_eq(mc_put_start(s, k, n, 8, &p, &e), 0);
		mc_put_release(p);
	}
	mc_store_usage(s, &u);
	ck_assert_uint_eq(u.pending_puts, N);
	for (int i = 0; i < N; i++) {
		int n = snprintf(k, sizeof(k), "o%d", i);

		ck_assert_int_eq(mc_put_start(s, k, n, 8, &p, &e), -EBUSY);
	}
	/* a third ended, a third revoked, a third left to the timeout */
	for (int i = 0; i < N; i += 3) {
		int n = snprintf(k, sizeof(k), "o%d", i);

		ck_assert_int_eq(mc_put_end(s, k, n, &e), 0);
		ck_assert_int_eq(mc_put_end(s, k, n, &e), -ENOENT);
	}
	for (int i = 1; i < N; i += 3) {
		int n = snprintf(k, sizeof(k), "o%d", i);

		ck_assert_int_eq(mc_put_revoke(s, k, n, &e), 0);
	}
	mc_store_usage(s, &u);
	ck_assert_uint_eq(u.pending_puts, N / 3);
	advance(501);
	mc_store_tick(s);
	mc_store_usage(s, &u);
	ck_assert_uint_eq(u.pending_puts, 0);
	for (int i = 0; i < N; i++) {
		int n = snprintf(k, sizeof(k), "o%d", i);

		ck_assert_int_eq(mc_exist(s, k, n), i % 3 == 0);
		ck_assert_int_eq(mc_put_revoke(s, k, n, &e), -ENOENT);
	}
	mc_store_free(s);
}
END_TEST

static int count_key(const void *k, size_t klen, uint64_t size, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

struct walk_state {
	int seen, limit;
	char seenmap[1000];
};

static int walk_key(const void *k, size_t klen, uint64_t size, void *arg)
{
	struct walk_state *w = arg;
	int i;

	if (w->limit-- <= 0)
		return 1;
	ck_assert_int_eq(sscanf(k, "w%d", &i), 1);
	ck_assert_int_eq(w->seenmap[i], 0);
	w->seenmap[i] = 1;
	w->seen++;
	return 0;
}

START_TEST(test_iteration)
{
	struct mc_store *s = new_store(1);
	int n = 0;

	check_mount(s, 16 * MiB, NULL, NULL);
	for (int i = 0; i < 1000; i++) {
		char k[16];
		snprintf(k, sizeof(k), "w%d", i);
		ck_assert_int_eq(put_str(s, k, "v"), 0);
	}
	mc_key_foreach(s, count_key, &n);
	ck_assert_int_eq(n, 1000);

	struct walk_state w = {0};
	uint64_t cursor = 0;
	int more;
	do {
		w.limit = 37;
		more = mc_key_walk(s, &cursor, walk_key, &w);
	} while (more);
	ck_assert_int_eq(w.seen, 1000);
	mc_store_free(s);
}
END_TEST

/*
 * A cursor walk across shard growth (readdir of keys/ while puts come
 * in): every key present throughout is seen exactly once, also when a
 * stop cut a chain and its shard doubled before the walk went on; a key
 * put during the walk is seen at most once. Pages of a few keys, and
 * puts between all of them, so that stops fall inside chains and every
 * shard grows under the walk.
 */
#define GROW_OLD 25000
#define GROW_MAX 70000
struct grow_walk {
	int limit;
	unsigned char seen[400], nseen[GROW_MAX];
};

static int grow_walk_key(const void *k, size_t klen, uint64_t size, void *arg)
{
	struct grow_walk *w = arg;
	int i;

	if (w->limit-- <= 0)
		return 1;
	if (sscanf(k, "o%d", &i) == 1 && i >= 0 && i < 400)
		w->seen[i]++;
	else if (sscanf(k, "n%d", &i) == 1 && i >= 0 && i < GROW_MAX)
		w->nseen[i]++;
	return 0;
}

/* Keys n0.. present throughout seen once, those put later at most once. */
static void check_grown(const unsigned char *nseen)
{
	for (int i = 0; i < GROW_OLD; i++)
		ck_assert_msg(nseen[i] == 1, "key n%d seen %d times", i,
			      nseen[i]);
	for (int i = GROW_OLD; i < GROW_MAX; i++)
		ck_assert_msg(nseen[i] <= 1, "key n%d seen %d times", i,
			      nseen[i]);
}

START_TEST(test_walk_across_growth)
{
	struct mc_store *s = new_store(1);
	static struct grow_walk w;
	uint64_t cursor = 0;
	char k[16];
	int more, pages = 0, added = 0;

	memset(&w, 0, sizeof(w));
	check_mount(s, 64 * MiB, NULL, NULL);
	for (int i = 0; i < 400; i++) {
		snprintf(k, sizeof(k), "o%d", i);
		ck_assert_int_eq(mc_put(s, k, strlen(k), "v", 1, NULL), 0);
	}
	/* ~100 keys a shard: the walk spends many pages in each */
	for (; added < GROW_OLD; added++) {
		snprintf(k, sizeof(k), "n%d", added);
		ck_assert_int_eq(mc_put(s, k, strlen(k), "v", 1, NULL), 0);
	}
	do {
		w.limit = 5;
		more = mc_key_walk(s, &cursor, grow_walk_key, &w);
		pages++;
		/* between the pages, enough new keys that every shard
		 * doubles while the walk is in it or before it gets there */
		for (int j = 0; more && j < 9 && added < GROW_MAX;
		     j++, added++) {
			snprintf(k, sizeof(k), "n%d", added);
			ck_assert_int_eq(mc_put(s, k, strlen(k), "v", 1, NULL),
					 0);
		}
	} while (more);
	ck_assert_int_eq(added, GROW_MAX); /* the puts went on to the end */
	for (int i = 0; i < 400; i++)
		ck_assert_msg(w.seen[i] == 1, "key o%d seen %d times", i,
			      w.seen[i]);
	check_grown(w.nseen);
	ck_assert_int_eq(mc_key_walk(s, &cursor, grow_walk_key, &w), 0);
	mc_store_free(s);
}
END_TEST

/*
 * mc_key_foreach (what /get_all_keys streams) with puts and removes
 * between its callbacks, so that every shard doubles under the walk:
 * every key present throughout is seen exactly once, a key put or
 * removed meanwhile at most once, and every name whole.
 */
struct grow_each {
	struct mc_store *s;
	int added, removed, torn;
	unsigned char seen[400], nseen[GROW_MAX], rseen[400];
};

static int grow_each_key(const void *k, size_t klen, uint64_t size, void *arg)
{
	struct grow_each *w = arg;
	char name[16];
	int i, n = 0;

	if (sscanf(k, "o%d%n", &i, &n) == 1 && i >= 0 && i < 400)
		w->seen[i]++;
	else if (sscanf(k, "n%d%n", &i, &n) == 1 && i >= 0 && i < GROW_MAX)
		w->nseen[i]++;
	else if (sscanf(k, "r%d%n", &i, &n) == 1 && i >= 0 && i < 400)
		w->rseen[i]++;
	if (n == 0 || (size_t)n != klen || strlen(k) != klen)
		w->torn++;
	for (int j = 0; j < 2 && w->added < GROW_MAX; j++, w->added++) {
		snprintf(name, sizeof(name), "n%d", w->added);
		ck_assert_int_eq(mc_put(w->s, name, strlen(name), "v", 1, NULL),
				 0);
	}
	if (w->removed < 400) {
		snprintf(name, sizeof(name), "r%d", w->removed++);
		ck_assert_int_eq(
			mc_remove(w->s, name, strlen(name), false, NULL), 0);
	}
	return 0;
}

START_TEST(test_foreach_across_growth)
{
	struct mc_store *s = new_store(1);
	static struct grow_each w;
	char k[16];

	memset(&w, 0, sizeof(w));
	w.s = s;
	check_mount(s, 64 * MiB, NULL, NULL);
	for (int i = 0; i < 400; i++) {
		snprintf(k, sizeof(k), "o%d", i);
		ck_assert_int_eq(mc_put(s, k, strlen(k), "v", 1, NULL), 0);
		snprintf(k, sizeof(k), "r%d", i);
		ck_assert_int_eq(mc_put(s, k, strlen(k), "v", 1, NULL), 0);
	}
	for (; w.added < GROW_OLD; w.added++) {
		snprintf(k, sizeof(k), "n%d", w.added);
		ck_assert_int_eq(mc_put(s, k, strlen(k), "v", 1, NULL), 0);
	}
	ck_assert_int_eq(mc_key_foreach(s, grow_each_key, &w), 0);
	ck_assert_int_eq(w.added, GROW_MAX); /* the puts went on to the end */
	ck_assert_int_eq(w.removed, 400);
	ck_assert_int_eq(w.torn, 0);
	for (int i = 0; i < 400; i++) {
		ck_assert_msg(w.seen[i] == 1, "key o%d seen %d times", i,
			      w.seen[i]);
		ck_assert_msg(w.rseen[i] <= 1, "key r%d seen %d times", i,
			      w.rseen[i]);
	}
	check_grown(w.nseen);
	mc_store_free(s);
}
END_TEST

/* Concurrency: values carry their own checksum; no reader sees a mix. */
struct worker {
	struct mc_store *s;
	unsigned seed;
	int torn, ops;
};

static void fill(char *v, size_t n, unsigned char tag)
{
	memset(v, tag, n);
	v[0] = (char)tag;
	v[n - 1] = (char)tag;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char val[8192], key[16];

	for (int i = 0; i < w->ops; i++) {
		unsigned r = rand_r(&w->seed);
		snprintf(key, sizeof(key), "c%u", r % 32);
		size_t n = 1 + (r >> 8) % sizeof(val);
		struct mc_ref *ref;

		switch (r % 4) {
		case 0:
		case 1:
			fill(val, n, (unsigned char)(r >> 16));
			mc_put(w->s, key, strlen(key), val, n, NULL);
			break;
		case 2:
			if (mc_get(w->s, key, strlen(key), &ref) == 0) {
				const unsigned char *p = mc_ref_data(ref);
				for (uint64_t j = 1; j < mc_ref_size(ref); j++)
					if (p[j] != p[0])
						w->torn++;
				mc_ref_release(ref);
			}
			break;
		default:
			mc_remove(w->s, key, strlen(key), true, NULL);
		}
	}
	return NULL;
}

START_TEST(test_concurrency)
{
	struct mc_store_opts o;

	mc_store_opts_default(&o);
	o.replica_num = 2;
	struct mc_store *s = mc_store_new(&o, NULL);
	check_mount(s, 16 * MiB, "a", NULL);
	check_mount(s, 16 * MiB, "b", NULL);
	struct worker w[4];
	pthread_t t[4];
	int ops = mc_test_quick() ? 2000 : 50000;

	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){
			.s = s, .seed = (unsigned)i + 1, .ops = ops};
		pthread_create(&t[i], NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(w[i].torn, 0);
	}
	mc_remove_all(s, true);
	struct mc_usage u;
	mc_store_usage(s, &u);
	ck_assert_uint_eq(u.keys, 0);
	ck_assert_uint_eq(u.used, 0); /* every buffer came back */
	mc_store_free(s);
}
END_TEST

/*
 * Lock-free gets while their shards grow: a reader finds the bucket from
 * the shard's mask and array (store_int.h, struct mc_shard), which a
 * growth replaces one after the other. Keys present throughout are found
 * with their own bytes every time while a writer adds enough keys to
 * double every shard's buckets several times.
 */
struct grow_get {
	struct mc_store *s;
	_Atomic bool done;
	_Atomic int gets;
	int missed, wrong;
};

static void *grow_get_main(void *arg)
{
	struct grow_get *g = arg;
	char key[16];

	while (!atomic_load(&g->done)) {
		for (unsigned i = 0; i < 64; i++) {
			struct mc_ref *ref;

			snprintf(key, sizeof(key), "stay%u", i);
			if (mc_get(g->s, key, strlen(key), &ref) < 0) {
				g->missed++;
				continue;
			}
			g->wrong += mc_ref_size(ref) != sizeof(i) ||
				    memcmp(mc_ref_data(ref), &i, sizeof(i));
			mc_ref_release(ref);
			atomic_fetch_add(&g->gets, 1);
		}
		/* let the writer run: under valgrind, threads take turns */
		sched_yield();
	}
	return NULL;
}

START_TEST(test_get_across_growth)
{
	struct mc_store_opts o;
	static struct grow_get g;
	unsigned n = mc_test_quick() ? 20000 : 100000, failed = 0;
	pthread_t t;
	char key[16];

	mc_store_opts_default(&o);
	g = (struct grow_get){.s = mc_store_new(&o, NULL)};
	check_mount(g.s, 64 * MiB, "a", NULL);
	for (unsigned i = 0; i < 64; i++) {
		snprintf(key, sizeof(key), "stay%u", i);
		ck_assert_int_eq(
			mc_put(g.s, key, strlen(key), &i, sizeof(i), NULL), 0);
	}
	pthread_create(&t, NULL, grow_get_main, &g);
	while (!atomic_load(&g.gets)) /* the reader is reading */
		sched_yield();
	/* one assertion after the loop: under valgrind (no fork), each
	 * ck_assert writes to check's log, and the reader spins in between */
	for (unsigned i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "grow%u", i);
		failed +=
			mc_put(g.s, key, strlen(key), &i, sizeof(i), NULL) != 0;
		if (i % 256 == 0)
			sched_yield(); /* the same for the reader */
	}
	atomic_store(&g.done, true);
	pthread_join(t, NULL);
	ck_assert_uint_eq(failed, 0);
	ck_assert_int_eq(g.missed, 0);
	ck_assert_int_eq(g.wrong, 0);
	ck_assert_int_gt(atomic_load(&g.gets), 0);
	mc_store_free(g.s);
}
END_TEST

/* A local writer that learns the size as it goes: grow in place, trim. */
START_TEST(test_put_grow_trim)
{
	struct mc_store *s = new_store(1);
	struct mc_put *p, *q, *t;
	struct mc_err e;
	struct mc_usage u;
	struct mc_ref *r;
	char *buf;

	check_mount(s, 16 * MiB, NULL, NULL);
	ck_assert_int_eq(mc_put_begin(s, "g", 1, 1000, &p, &e), 0);
	memset(mc_put_buffer(p, 0), 'a', 1000);
	/* the space after it is free: it grows where it is */
	buf = mc_put_buffer(p, 0);
	ck_assert_int_eq(mc_put_grow(p, 300000), 0);
	ck_assert_ptr_eq(mc_put_buffer(p, 0), buf);
	memset(buf + 1000, 'b', 299000);
	mc_store_usage(s, &u);
	ck_assert_uint_eq(u.used, 300032);
	/* a put right after it stops the next growth, and nothing moves */
	ck_assert_int_eq(mc_put_begin(s, "h", 1, 64, &q, &e), 0);
	ck_assert_int_eq(mc_put_grow(p, 400000), -ENOSPC);
	ck_assert_ptr_eq(mc_put_buffer(p, 0), buf);
	ck_assert_int_eq(mc_put_grow(p, 300000), -EINVAL); /* not larger */
	ck_assert_int_eq(mc_put_grow(p, 200 * MiB), -EFBIG);
	ck_assert_int_eq(mc_put_trim(p, 0), -EINVAL);
	ck_assert_int_eq(mc_put_trim(p, 300001), -EINVAL);
	ck_assert_int_eq(mc_put_trim(p, 5000), 0);
	mc_store_usage(s, &u);
	ck_assert_uint_eq(u.used, 5056 + 64);
	ck_assert_int_eq(mc_put_commit(p, true, &e), 0);
	mc_put_abort(q);
	ck_assert_int_eq(mc_get(s, "g", 1, &r), 0);
	ck_assert_uint_eq(mc_ref_size(r), 5000);
	ck_assert_int_eq(((const char *)mc_ref_data(r))[999], 'a');
	ck_assert_int_eq(((const char *)mc_ref_data(r))[1000], 'b');
	ck_assert_int_eq(((const char *)mc_ref_data(r))[4999], 'b');
	mc_ref_release(r);
	/* a two-phase put's descriptors are out: neither applies */
	ck_assert_int_eq(mc_put_start(s, "t", 1, 100, &t, &e), 0);
	ck_assert_int_eq(mc_put_grow(t, 200), -EINVAL);
	ck_assert_int_eq(mc_put_trim(t, 50), -EINVAL);
	ck_assert_ptr_nonnull(mc_put_desc(t, 0));
	mc_put_abort(t);
	ck_assert_int_eq(mc_remove(s, "g", 1, true, &e), 0);
	mc_store_usage(s, &u);
	ck_assert_uint_eq(u.used, 0);
	mc_store_free(s);
}
END_TEST

/*
 * A writer that fills a put piece by piece (the FUSE door): the bytes
 * land where asked, in a buffer large enough to stream (unaligned pieces
 * and the tail included) and in a small one, and nothing past the
 * buffer is written.
 */
START_TEST(test_put_write)
{
	static const uint64_t big = 20 * MiB; /* streams (16 MiB or more) */
	struct mc_store *s = new_store(1);
	struct mc_put *p;
	struct mc_err e;
	struct mc_ref *r;
	char *src = malloc(MiB);
	const char *v;

	ck_assert_ptr_nonnull(src);
	for (size_t i = 0; i < MiB; i++)
		src[i] = (char)(i * 7 + 1);
	check_mount(s, 64 * MiB, NULL, NULL);
	ck_assert_int_eq(mc_put_begin(s, "w", 1, big, &p, &e), 0);
	for (uint64_t off = 0; off < big; off += MiB)
		ck_assert_int_eq(mc_put_write(p, off, src, MiB), 0);
	ck_assert_int_eq(mc_put_write(p, MiB + 3, src + 5, 5000), 0);
	ck_assert_int_eq(mc_put_write(p, big - 100, "tail", 4), 0);
	ck_assert_int_eq(mc_put_write(p, big, src, 0), 0);
	ck_assert_int_eq(mc_put_write(p, big - 10, src, 11), -EINVAL);
	ck_assert_int_eq(mc_put_write(p, big + 1, src, 0), -EINVAL);
	ck_assert_int_eq(mc_put_write(p, 1, src, SIZE_MAX), -EINVAL);
	ck_assert_int_eq(mc_put_commit(p, true, &e), 0);
	ck_assert_int_eq(mc_get(s, "w", 1, &r), 0);
	ck_assert_uint_eq(mc_ref_size(r), big);
	v = mc_ref_data(r);
	ck_assert_mem_eq(v, src, MiB);
	ck_assert_mem_eq(v + MiB, src, 3);
	ck_assert_mem_eq(v + MiB + 3, src + 5, 5000);
	ck_assert_mem_eq(v + MiB + 5003, src + 5003, MiB - 5003);
	ck_assert_mem_eq(v + 19 * MiB, src, MiB - 100);
	ck_assert_mem_eq(v + big - 100, "tail", 4);
	ck_assert_mem_eq(v + big - 96, src + MiB - 96, 96);
	mc_ref_release(r);
	ck_assert_int_eq(mc_remove(s, "w", 1, true, &e), 0);

	ck_assert_int_eq(mc_put_begin(s, "x", 1, 4096, &p, &e), 0);
	ck_assert_int_eq(mc_put_write(p, 0, src, 4096), 0);
	ck_assert_int_eq(mc_put_write(p, 4000, src, 97), -EINVAL);
	ck_assert_int_eq(mc_put_commit(p, true, &e), 0);
	ck_assert_int_eq(mc_get(s, "x", 1, &r), 0);
	ck_assert_mem_eq(mc_ref_data(r), src, 4096);
	mc_ref_release(r);
	free(src);
	mc_store_free(s);
}
END_TEST

/*
 * Gets take no lock: they walk the chains while writers insert, grow
 * shards (relinking every object), replace and remove. A key that no
 * writer touches must be found every time, with its own bytes; keys that
 * come and go must never be found holding another key's bytes.
 */
#define LF_STABLE 512u

struct lf_arg {
	struct mc_store *s;
	unsigned id, ops;
	_Atomic bool *stop;
	unsigned missing, wrong;
};

static void lf_value(char *v, size_t n, const char *key)
{
	size_t kl = strlen(key);

	for (size_t i = 0; i < n; i++)
		v[i] = key[i % kl];
}

static void *lf_reader(void *arg)
{
	struct lf_arg *a = arg;
	char key[32], want[256];
	unsigned x = a->id * 7919u + 1;

	while (!atomic_load(a->stop)) {
		struct mc_ref *r;
		bool stable = (x = x * 1103515245u + 12345u) >> 31;
		unsigned k = (x >> 8) % (stable ? LF_STABLE : 20000u);

		snprintf(key, sizeof(key), stable ? "stable-%u" : "churn-%u",
			 k);
		if (mc_get(a->s, key, strlen(key), &r) < 0) {
			a->missing += stable;
			continue;
		}
		lf_value(want, mc_ref_size(r), key);
		if (mc_ref_size(r) > sizeof(want) ||
		    memcmp(mc_ref_data(r), want, mc_ref_size(r)))
			a->wrong++;
		mc_ref_release(r);
	}
	return NULL;
}

static void *lf_writer(void *arg)
{
	struct lf_arg *a = arg;
	char key[32], v[256];

	for (unsigned i = 0; i < a->ops; i++) {
		unsigned k = (i * 2654435761u + a->id) % 20000u;

		snprintf(key, sizeof(key), "churn-%u", k);
		if (i % 3 == 2) {
			mc_remove(a->s, key, strlen(key), true, NULL);
		} else {
			size_t n = 16 + (i + a->id) % 200;

			lf_value(v, n, key);
			mc_put(a->s, key, strlen(key), v, n, NULL);
		}
	}
	return NULL;
}

START_TEST(test_lockfree_lookup)
{
	struct mc_store_opts o;
	struct mc_store *s;
	char key[32], v[256];
	_Atomic bool stop = false;
	struct lf_arg rd[2], wr[2];
	pthread_t rt[2], wt[2];
	unsigned ops = mc_test_quick() ? 6000 : 200000;

	mc_store_opts_default(&o);
	s = mc_store_new(&o, NULL);
	check_mount(s, 64 * MiB, "a", NULL);
	for (unsigned i = 0; i < LF_STABLE; i++) {
		snprintf(key, sizeof(key), "stable-%u", i);
		lf_value(v, 100, key);
		ck_assert_int_eq(mc_put(s, key, strlen(key), v, 100, NULL), 0);
	}
	for (unsigned i = 0; i < 2; i++) {
		rd[i] = (struct lf_arg){.s = s, .id = i + 1, .stop = &stop};
		wr[i] = (struct lf_arg){.s = s, .id = i + 1, .ops = ops};
		pthread_create(&rt[i], NULL, lf_reader, &rd[i]);
		pthread_create(&wt[i], NULL, lf_writer, &wr[i]);
	}
	for (unsigned i = 0; i < 2; i++)
		pthread_join(wt[i], NULL);
	atomic_store(&stop, true);
	for (unsigned i = 0; i < 2; i++) {
		pthread_join(rt[i], NULL);
		ck_assert_uint_eq(rd[i].missing, 0);
		ck_assert_uint_eq(rd[i].wrong, 0);
	}
	mc_remove_all(s, true);
	struct mc_usage u;
	mc_store_usage(s, &u);
	ck_assert_uint_eq(u.keys, 0);
	ck_assert_uint_eq(u.used, 0);
	mc_store_free(s);
}
END_TEST

static void ignore_item(size_t i, int rc, const struct mc_desc *d, size_t nd,
			void *arg)
{
	(void)i, (void)rc, (void)d, (void)nd, (void)arg;
}

START_TEST(test_summary_and_metrics)
{
	struct mc_store *s = new_store(1);
	struct mc_buf b = MC_BUF_INIT;

	mc_render_summary(s, &b);
	ck_assert_str_eq(b.data,
			 "Mem Storage: 0 B / 0 B | Keys: 0 (soft-pinned: 0) | "
			 "Clients: 0 | Requests (Success/Total): PutStart=0/0, "
			 "PutEnd=0/0, PutRevoke=0/0, Get=0/0, Exist=0/0, "
			 "Del=0/0, DelAll=0/0, Ping=0/0 | Eviction: "
			 "Success/Attempts=0/0, keys=0, size=0 B");
	check_mount(s, 16 * MiB, "seg-a", NULL);
	ck_assert_int_eq(put_str(s, "a", "1"), 0);
	free(get_str(s, "a"));
	free(get_str(s, "missing"));
	mc_buf_reset(&b);
	mc_render_summary(s, &b);
	ck_assert_str_eq(
		b.data,
		"Mem Storage: 64 B / 16.00 MB (0.0%) | Keys: 1 "
		"(soft-pinned: 0) | Clients: 1 | Requests "
		"(Success/Total): PutStart=1/1, PutEnd=1/1, "
		"PutRevoke=0/0, Get=1/2, Exist=0/0, Del=0/0, "
		"DelAll=0/0, Ping=0/0 | Eviction: Success/Attempts=0/0, "
		"keys=0, size=0 B");

	mc_buf_reset(&b);
	mc_render_metrics(s, &b);
	ck_assert_ptr_nonnull(strstr(b.data, "\nmaster_key_count 1\n"));
	ck_assert_ptr_nonnull(
		strstr(b.data, "\nmaster_total_capacity_bytes 16777216\n"));
	ck_assert_ptr_nonnull(strstr(
		b.data,
		"segment_total_capacity_bytes{segment=\"seg-a\"} 16777216\n"));
	ck_assert_ptr_nonnull(
		strstr(b.data, "\nmaster_get_replica_list_requests_total 2\n"));
	/* the get counters that move together, one hit and one miss */
	ck_assert_ptr_nonnull(strstr(b.data, "\ntotal_get_nums_ 2\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "\nvalid_get_nums_ 1\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "\nmem_cache_hit_nums_ 1\n"));
	ck_assert_ptr_nonnull(
		strstr(b.data, "\nmem_cache_hit_bytes_total 1\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "\nmaster_active_clients 1\n"));
	ck_assert_ptr_nonnull(strstr(
		b.data, "master_value_size_bytes_bucket{le=\"4096\"} 1\n"));

	/* a batch's items count as gets and hits, not as GetReplicaLists */
	const char *keys[] = {"a", "missing", "a"};
	size_t klens[] = {1, 7, 1};

	mc_query_batch(s, 3, keys, klens, ignore_item, NULL);
	mc_buf_reset(&b);
	mc_render_metrics(s, &b);
	ck_assert_ptr_nonnull(
		strstr(b.data, "\nmaster_get_replica_list_requests_total 2\n"));
	ck_assert_ptr_nonnull(strstr(
		b.data, "\nmaster_batch_get_replica_list_items_total 3\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "\ntotal_get_nums_ 5\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "\nvalid_get_nums_ 3\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "\nmem_cache_hit_nums_ 3\n"));
	ck_assert_ptr_nonnull(
		strstr(b.data, "\nmem_cache_hit_bytes_total 3\n"));

	/* promtool parses it (exit 3 is lint only, for the upstream names). */
	const char *pt = getenv("PROMTOOL");
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "%s check metrics >/dev/null 2>&1",
		 pt && *pt ? pt : "promtool");
	FILE *f = popen(cmd, "w");
	ck_assert_ptr_nonnull(f);
	fwrite(b.data, 1, b.len, f);
	int st = pclose(f);
	ck_assert_msg(WIFEXITED(st) &&
			      (WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 3),
		      "promtool rejected the exposition (status %d)", st);

	/* An unmounted name's series disappear. */
	struct mc_buf q = MC_BUF_INIT;
	ck_assert_int_eq(mc_render_query_segment(s, &q, "seg-a"), 0);
	ck_assert_str_eq(q.data,
			 "seg-a\nUsed(bytes): 64\nCapacity(bytes): 16777216\n");
	ck_assert_int_eq(mc_render_query_segment(s, &q, "nope"), -ENOENT);
	mc_buf_release(&q);
	mc_buf_release(&b);
	mc_store_free(s);
}
END_TEST

/*
 * A segment's description copies its strings whole up to their limits
 * (255-byte name and location) and cuts a longer endpoint at 299 bytes,
 * as snprintf("%s") did.
 */
START_TEST(test_segment_info_strings)
{
	struct mc_store *s = new_store(1);
	char name[256], loc[256], ep[400];
	struct mc_mount_req r = {.size = 1, .name = name, .location = loc};
	struct mc_mount_result res;
	struct mc_seg_info si;
	struct mc_err e;

	memset(name, 'n', 255);
	name[255] = '\0';
	memset(loc, 'l', 255);
	loc[255] = '\0';
	memset(ep, 'e', sizeof(ep) - 1);
	ep[sizeof(ep) - 1] = '\0';
	ck_assert_int_eq(mc_store_set_endpoint(s, ep), 0);
	ck_assert_int_eq(mc_segment_mount(s, &r, &res, &e), 0);
	ck_assert_int_eq(mc_segment_info(s, res.ids[0], &si), 0);
	ck_assert_str_eq(si.name, name);
	ck_assert_str_eq(si.location, loc);
	ck_assert_str_eq(si.protocol, "tcp");
	ck_assert_str_eq(si.source, "alloc");
	ck_assert_str_eq(si.shm_name, "");
	ck_assert_uint_eq(strlen(si.endpoint), sizeof(si.endpoint) - 1);
	ck_assert_int_eq(memcmp(si.endpoint, ep, sizeof(si.endpoint) - 1), 0);
	free(res.ids);
	mc_store_free(s);
}
END_TEST

/*
 * strdup, wrapped (Makefile.am: -Wl,--wrap=strdup): fails the
 * oom_strdup_nth-th copy of oom_strdup_of from the arming on.
 */
char *__real_strdup(const char *s);
char *__wrap_strdup(const char *s);
static const char *oom_strdup_of;
static int oom_strdup_nth;

char *__wrap_strdup(const char *s)
{
	if (oom_strdup_of && !strcmp(s, oom_strdup_of) &&
	    --oom_strdup_nth == 0) {
		oom_strdup_of = NULL;
		errno = ENOMEM;
		return NULL;
	}
	return __real_strdup(s);
}

/*
 * A store whose endpoint cannot be copied at its creation (the second
 * copy of its hostname) is not created: no descriptor or segment
 * description ever reads a NULL endpoint. A later endpoint that cannot be
 * copied leaves the one before.
 */
START_TEST(test_store_endpoint_oom)
{
	struct mc_store_opts o;
	struct mc_store *s;
	struct mc_mount_req r = {.size = 1};
	struct mc_mount_result res;
	struct mc_seg_info si;
	struct mc_err e;

	mc_store_opts_default(&o);
	o.manual_tick = true;
	o.hostname = "oom-host";
	oom_strdup_of = "oom-host";
	oom_strdup_nth = 2;
	s = mc_store_new(&o, NULL);
	if (s) { /* the old store went on without an endpoint */
		ck_assert_int_eq(mc_segment_mount(s, &r, &res, &e), 0);
		ck_assert_int_eq(mc_segment_info(s, res.ids[0], &si), 0);
		ck_assert_msg(0, "store created, endpoint \"%s\"", si.endpoint);
	}
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_ptr_null(oom_strdup_of); /* the failure happened */

	s = mc_store_new(&o, NULL);
	ck_assert_ptr_nonnull(s);
	oom_strdup_of = "oom-host:7000";
	oom_strdup_nth = 1;
	ck_assert_int_eq(mc_store_set_endpoint(s, "oom-host:7000"), -ENOMEM);
	ck_assert_ptr_null(oom_strdup_of);
	ck_assert_int_eq(mc_segment_mount(s, &r, &res, &e), 0);
	ck_assert_int_eq(mc_segment_info(s, res.ids[0], &si), 0);
	ck_assert_str_eq(si.endpoint, "oom-host");
	free(res.ids);
	mc_store_free(s);
}
END_TEST

START_TEST(test_query_key_render)
{
	struct mc_store *s = new_store(1);
	struct mc_buf b = MC_BUF_INIT;
	char id[MC_ID_LEN + 1];

	check_mount(s, 16 * MiB, NULL, id);
	mc_store_set_endpoint(s, "localhost:40123");
	ck_assert_int_eq(put_str(s, "k", "0123456789"), 0);
	ck_assert_int_eq(mc_render_query_key(s, &b, "k", 1), 0);
	struct mc_desc d;
	ck_assert_int_eq(mc_query(s, "k", 1, &d, 1), 1);
	char want[512];
	snprintf(
		want, sizeof(want),
		"{\"transport_endpoint_\":\"localhost:40123\",\"buffer_"
		"descriptors\":"
		"[{\"size_\":10,\"buffer_address_\":%llu,\"protocol_\":\"tcp\","
		"\"transport_endpoint_\":\"localhost:40123\",\"segment_id\":\"%"
		"s\"}]}\n",
		(unsigned long long)d.addr, id);
	ck_assert_str_eq(b.data, want);
	mc_buf_reset(&b);
	ck_assert_int_eq(mc_render_query_key(s, &b, "nope", 4), -ENOENT);
	ck_assert_uint_eq(b.len, 0);
	mc_buf_release(&b);
	mc_store_free(s);
}
END_TEST

/*
 * An endpoint longer than a descriptor holds is cut at 299 bytes, as
 * snprintf cut it, even inside a UTF-8 sequence (whose lead byte then
 * renders as \u00c3), and is escaped the same in both of a line's places
 * and in a lone descriptor.
 */
START_TEST(test_query_key_render_long_endpoint)
{
	struct mc_store *s = new_store(1);
	struct mc_buf b = MC_BUF_INIT;
	char id[MC_ID_LEN + 1], ep[400], esc[400], want[1400], one[700];
	struct mc_desc d;
	size_t n;

	/* 6 bytes, 292 x, "é" across the cut at 299, then a port */
	n = (size_t)snprintf(ep, sizeof(ep), "h\"o\\st");
	memset(ep + n, 'x', 292);
	n += 292;
	snprintf(ep + n, sizeof(ep) - n, "\xc3\xa9:40123");
	ck_assert_uint_gt(strlen(ep), sizeof(d.endpoint) - 1);
	n = (size_t)snprintf(esc, sizeof(esc), "\"h\\\"o\\\\st");
	memset(esc + n, 'x', 292);
	n += 292;
	snprintf(esc + n, sizeof(esc) - n, "\\u00c3\"");

	check_mount(s, 16 * MiB, NULL, id);
	mc_store_set_endpoint(s, ep);
	ck_assert_int_eq(put_str(s, "k", "0123456789"), 0);
	ck_assert_int_eq(mc_query(s, "k", 1, &d, 1), 1);
	ck_assert_uint_eq(strlen(d.endpoint), sizeof(d.endpoint) - 1);
	ck_assert_int_eq(memcmp(d.endpoint, ep, sizeof(d.endpoint) - 1), 0);
	ck_assert_str_eq(d.protocol, "tcp");

	snprintf(one, sizeof(one),
		 "{\"size_\":10,\"buffer_address_\":%llu,\"protocol_\":\"tcp\","
		 "\"transport_endpoint_\":%s,\"segment_id\":\"%s\"}",
		 (unsigned long long)d.addr, esc, id);
	mc_render_desc(&b, &d);
	ck_assert_str_eq(b.data, one);
	mc_buf_reset(&b);

	snprintf(want, sizeof(want),
		 "{\"transport_endpoint_\":%s,\"buffer_descriptors\":[%s]}\n",
		 esc, one);
	ck_assert_int_eq(mc_render_query_key(s, &b, "k", 1), 0);
	ck_assert_str_eq(b.data, want);
	mc_buf_release(&b);
	mc_store_free(s);
}
END_TEST

struct late_writer {
	struct mc_pin *pin;
	unsigned delay_ms;
	struct mc_store *s; /* when set, try a WRITE before the release */
	uint64_t addr;
	int probe;
};

static void *release_later(void *arg)
{
	struct late_writer *w = arg;
	struct mc_pin *pin;

	usleep(w->delay_ms * 1000);
	if (w->s) {
		w->probe = mc_pin_write(w->s, w->addr, 1, &pin);
		if (!w->probe)
			mc_pin_release(pin);
	}
	ck_assert_int_eq(mc_pin_release(w->pin), 0);
	return NULL;
}

/*
 * A write pin is a WRITE in flight: publishing waits for it (a short
 * while), then refuses and leaves the put open; no new write pin is
 * given while a publisher waits; a revoke during the WRITE tells its
 * release (-ESTALE); a local put refused so is dropped.
 */
START_TEST(test_writes_in_flight)
{
	struct mc_store *s = new_store(1);
	struct late_writer w = {.delay_ms = 100};
	struct mc_put *p;
	struct mc_pin *pin, *other;
	struct mc_usage u0, u1;
	struct mc_err e = {0};
	pthread_t th;
	uint64_t addr;

	check_mount(s, 16 * MiB, NULL, NULL);
	mc_store_usage(s, &u0);
	ck_assert_int_eq(mc_put_start(s, "k", 1, 5, &p, &e), 0);
	addr = mc_put_desc(p, 0)->addr;
	mc_put_release(p);

	/* a stalled WRITE: refused after the wait, nothing published */
	ck_assert_int_eq(mc_pin_write(s, addr, 5, &pin), 0);
	ck_assert_int_eq(mc_put_end(s, "k", 1, &e), -EBUSY);
	ck_assert_int_eq(e.code, MC_INVALID_WRITE);
	ck_assert_int_eq(mc_exist(s, "k", 1), 0);
	/* still open, still writable; another start of the key is refused */
	ck_assert_int_eq(mc_pin_write(s, addr, 1, &other), 0);
	ck_assert_int_eq(mc_pin_release(other), 0);
	ck_assert_int_eq(mc_put_start(s, "k", 1, 5, &p, &e), -EBUSY);

	/* a WRITE that ends during the wait: the end goes through */
	memcpy((char *)(uintptr_t)addr, "hello", 5);
	w.pin = pin;
	pthread_create(&th, NULL, release_later, &w);
	ck_assert_int_eq(mc_put_end(s, "k", 1, &e), 0);
	pthread_join(th, NULL);
	char *v = get_str(s, "k");
	ck_assert_str_eq(v, "hello");
	free(v);

	/* while an end waits, no new WRITE starts */
	ck_assert_int_eq(mc_put_start(s, "n", 1, 5, &p, &e), 0);
	addr = mc_put_desc(p, 0)->addr;
	mc_put_release(p);
	ck_assert_int_eq(mc_pin_write(s, addr, 5, &pin), 0);
	w = (struct late_writer){pin, 300, s, addr, 0};
	pthread_create(&th, NULL, release_later, &w);
	ck_assert_int_eq(mc_put_end(s, "n", 1, &e), 0);
	pthread_join(th, NULL);
	ck_assert_int_eq(w.probe, -EACCES);
	ck_assert_int_eq(mc_pin_write(s, addr, 5, &other), -EACCES);

	/* revoked under a WRITE: its release says the bytes went nowhere */
	ck_assert_int_eq(mc_put_start(s, "r", 1, 5, &p, &e), 0);
	addr = mc_put_desc(p, 0)->addr;
	mc_put_release(p);
	ck_assert_int_eq(mc_pin_write(s, addr, 5, &pin), 0);
	advance(501);
	mc_store_tick(s);
	ck_assert_int_eq(mc_put_end(s, "r", 1, &e), -ENOENT);
	ck_assert_int_eq(mc_pin_release(pin), -ESTALE);

	/* a local put refused so is dropped, its space freed */
	mc_remove_all(s, true);
	mc_store_usage(s, &u0);
	ck_assert_int_eq(mc_put_begin(s, "l", 1, 5, &p, &e), 0);
	addr = mc_put_desc(p, 0)->addr;
	ck_assert_int_eq(mc_pin_write(s, addr, 5, &pin), 0);
	ck_assert_int_eq(mc_put_commit(p, false, &e), -EBUSY);
	ck_assert_int_eq(mc_exist(s, "l", 1), 0);
	ck_assert_int_eq(mc_pin_release(pin), -ESTALE);
	mc_store_usage(s, &u1);
	ck_assert_uint_eq(u1.used, u0.used);
	mc_store_free(s);
}
END_TEST

Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_mount_basic);
	tcase_add_test(tc, test_segment_info_strings);
	tcase_add_test(tc, test_store_endpoint_oom);
	tcase_add_test(tc, test_mount_split);
	tcase_add_test(tc, test_put_get_replace_remove);
	tcase_add_test(tc, test_no_segment);
	tcase_add_test(tc, test_replicas);
	tcase_add_loop_test(tc, test_put_copy_sizes, 0, 2);
	tcase_add_test(tc, test_lease);
	tcase_add_test(tc, test_lease_queue_shrinks);
	tcase_add_test(tc, test_recent);
	tcase_add_test(tc, test_upstream_put_families);
	tcase_add_test(tc, test_unmount);
	tcase_add_test(tc, test_unmount_keeps_reader_bytes);
	tcase_add_test(tc, test_kept_buffers);
	tcase_add_test(tc, test_unmount_drop_held);
	tcase_add_test(tc, test_unmount_no_false_eviction);
	tcase_add_test(tc, test_unmount_held_not_used);
	tcase_add_test(tc, test_moved_commit_without_room);
	tcase_add_test(tc, test_shm);
	tcase_add_test(tc, test_eviction);
	tcase_add_test(tc, test_eviction_makes_hole);
	tcase_add_test(tc, test_evicted_bytes);
	tcase_add_test(tc, test_eviction_skips_busy);
	tcase_add_test(tc, test_lease_order);
	tcase_add_test(tc, test_lease_random);
	tcase_add_test(tc, test_lease_ttl_max);
	tcase_add_test(tc, test_two_phase);
	tcase_add_test(tc, test_many_open_puts);
	tcase_add_test(tc, test_writes_in_flight);
	tcase_add_test(tc, test_iteration);
	tcase_add_test(tc, test_walk_across_growth);
	tcase_add_test(tc, test_foreach_across_growth);
	tcase_add_test(tc, test_get_across_growth);
	tcase_add_test(tc, test_concurrency);
	tcase_add_test(tc, test_lockfree_lookup);
	tcase_add_test(tc, test_put_grow_trim);
	tcase_add_test(tc, test_put_write);
	tcase_add_test(tc, test_summary_and_metrics);
	tcase_add_test(tc, test_query_key_render);
	tcase_add_test(tc, test_query_key_render_long_endpoint);
	suite_add_tcase(s, tc);
	/* its own case: CK_RUN_CASE=pin_race runs it alone, in a loop */
	tc = tcase_create("pin_race");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_pin_races_kept);
	tcase_add_test(tc, test_write_pins_race_kept);
	tcase_add_test(tc, test_keep_races_unmount);
	suite_add_tcase(s, tc);
	return s;
}

MC_CHECK_MAIN(store_suite)
