/*
 * check_meta.c - the TE metadata server of the core (mooncake.h,
 * metadata): stored keys and the rpc_meta rule, the limits, the published
 * keys rendered from the live segment table, the cluster-id prefix, the
 * walk, and many threads against mounts and unmounts.
 */
#include "autoconfig.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "check.h"
#include "mooncake.h"

static struct mc_store *S;
static struct mc_meta *M;

static struct mc_store *store_new(const char *cluster_id, bool off)
{
	struct mc_store_opts so;
	struct mc_store *s;

	mc_store_opts_default(&so);
	so.manual_tick = true;
	so.metadata_cluster_id = cluster_id;
	so.no_metadata = off;
	s = mc_store_new(&so, NULL);
	ck_assert_ptr_nonnull(s);
	return s;
}

static char *mount(struct mc_store *s, uint64_t size)
{
	struct mc_mount_req mr = {.size = size};
	struct mc_mount_result res = {0};
	char *id;

	ck_assert_int_eq(mc_segment_mount(s, &mr, &res, NULL), 0);
	id = strdup(res.ids[0]);
	free(res.ids);
	return id;
}

static void unmount(struct mc_store *s, const char *id)
{
	const char *ids[1] = {id};
	struct mc_unmount_req r = {.ids = ids, .n = 1};

	ck_assert_int_eq(mc_segment_unmount(s, &r, NULL, NULL, NULL), 0);
}

static void setup(void)
{
	S = store_new(NULL, false);
	M = mc_store_meta(S);
	ck_assert_ptr_nonnull(M);
}

static void teardown(void)
{
	mc_store_free(S);
	S = NULL;
	M = NULL;
}

static int put(const char *key, const char *body)
{
	return mc_meta_put(M, key, strlen(key), body, strlen(body), NULL);
}

/* The body of @key, malloc'd, or NULL after -ENOENT. */
static char *get(const char *key)
{
	struct mc_buf b = MC_BUF_INIT;
	int rc = mc_meta_get(M, key, strlen(key), &b, NULL);

	if (rc == -ENOENT) {
		mc_buf_release(&b);
		return NULL;
	}
	ck_assert_int_eq(rc, 0);
	return mc_buf_detach(&b, NULL);
}

static void expect_body(const char *key, const char *want)
{
	char *got = get(key);

	ck_assert_msg(got, "no key %s", key);
	ck_assert_str_eq(got, want);
	free(got);
}

/* ----------------------------------------------------------- stored keys */

START_TEST(test_put_get_delete)
{
	static const char bin[] = {'a', 0, 'b', '\n', (char)0xff};
	struct mc_buf b = MC_BUF_INIT;
	struct mc_err e = {0};

	ck_assert_ptr_null(get("k"));
	ck_assert_int_eq(put("k", "v1"), 0);
	expect_body("k", "v1");
	ck_assert_int_eq(put("k", "v2"), 0); /* not an rpc_meta key */
	expect_body("k", "v2");
	/* bodies are opaque bytes, the empty one included */
	ck_assert_int_eq(mc_meta_put(M, "bin", 3, bin, sizeof(bin), NULL), 0);
	ck_assert_int_eq(mc_meta_get(M, "bin", 3, &b, NULL), 0);
	ck_assert_uint_eq(b.len, sizeof(bin));
	ck_assert_mem_eq(b.data, bin, sizeof(bin));
	ck_assert_int_eq(put("empty", ""), 0);
	expect_body("empty", "");
	/* keys are bytes too: a blank, a '%', any byte but NUL */
	ck_assert_int_eq(put(" a%2F b\x01", "x"), 0);
	expect_body(" a%2F b\x01", "x");
	ck_assert_ptr_null(get(" a/ b\x01"));

	ck_assert_int_eq(mc_meta_delete(M, "k", 1, &e), 0);
	ck_assert_ptr_null(get("k"));
	ck_assert_int_eq(mc_meta_delete(M, "k", 1, &e), -ENOENT);
	ck_assert_msg(strstr(e.msg, "'k'"), "%s", e.msg);
	mc_buf_release(&b);
}
END_TEST

START_TEST(test_rpc_meta_rule)
{
	static const char *const keys[] = {
		"mooncake/rpc_meta/10.0.0.1:12384", "mooncake/c/rpc_meta/h:1",
		"x-rpc_meta-y", /* upstream: any key holding "rpc_meta" */
	};
	struct mc_err e = {0};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *k = keys[i];
		const char *a = "{\"ip_or_host_name\":\"10.0.0.1\","
				"\"rpc_port\":15228}";
		const char *b = "{\"ip_or_host_name\":\"10.0.0.1\","
				"\"rpc_port\":16000}";

		ck_assert_int_eq(put(k, a), 0);
		ck_assert_int_eq(put(k, a), 1); /* unchanged */
		ck_assert_int_eq(mc_meta_put(M, k, strlen(k), b, strlen(b), &e),
				 -EEXIST);
		expect_body(k, a);
		/* deleting it (TE's teardown) allows a new location */
		ck_assert_int_eq(mc_meta_delete(M, k, strlen(k), NULL), 0);
		ck_assert_int_eq(put(k, b), 0);
		expect_body(k, b);
	}
	/* "rpc_met" is not "rpc_meta" */
	ck_assert_int_eq(put("rpc_met", "a"), 0);
	ck_assert_int_eq(put("rpc_met", "b"), 0);
}
END_TEST

START_TEST(test_limits)
{
	char *big = malloc(MC_META_BODY_MAX + 1), key[MC_KEY_MAX + 2];
	struct mc_err e = {0};
	int n = 0, rc;

	memset(big, 'b', MC_META_BODY_MAX + 1);
	memset(key, 'k', sizeof(key));
	ck_assert_int_eq(mc_meta_put(M, "", 0, "x", 1, &e), -EINVAL);
	ck_assert_int_eq(mc_meta_get(M, "", 0, NULL, &e), -EINVAL);
	ck_assert_int_eq(mc_meta_delete(M, "", 0, &e), -EINVAL);
	ck_assert_int_eq(mc_meta_put(M, "a\0b", 3, "x", 1, &e), -EINVAL);
	ck_assert_msg(strstr(e.msg, "NUL"), "%s", e.msg);
	ck_assert_int_eq(mc_meta_put(M, key, MC_KEY_MAX + 1, "x", 1, &e),
			 -EINVAL);
	ck_assert_int_eq(mc_meta_put(M, key, MC_KEY_MAX, "x", 1, &e), 0);
	ck_assert_int_eq(mc_meta_put(M, "b", 1, big, MC_META_BODY_MAX + 1, &e),
			 -EFBIG);
	ck_assert_ptr_null(get("b"));
	/* the store as a whole is bounded, and frees up again */
	do {
		snprintf(key, sizeof(key), "fill%d", n++);
		rc = mc_meta_put(M, key, strlen(key), big, MC_META_BODY_MAX,
				 &e);
	} while (rc == 0 && n < 100);
	ck_assert_int_eq(rc, -ENOSPC);
	ck_assert_msg(strstr(e.msg, "full"), "%s", e.msg);
	ck_assert_int_ge(n, MC_META_BYTES_MAX / MC_META_BODY_MAX - 1);
	ck_assert_int_eq(mc_meta_put(M, "small", 5, "x", 1, &e), 0);
	ck_assert_int_eq(mc_meta_delete(M, "fill0", 5, NULL), 0);
	ck_assert_int_eq(
		mc_meta_put(M, key, strlen(key), big, MC_META_BODY_MAX, &e), 0);
	free(big);
}
END_TEST

START_TEST(test_cluster_id_rule)
{
	static const struct {
		const char *id;
		bool ok;
	} t[] = {
		{"c1", true},	 {"a/b/", true},  {"x-y_z.1", true},
		{NULL, false},	 {"", false},	  {"a b", false},
		{"a\tb", false}, {"\x7f", false}, {"caf\xc3\xa9", false},
	};
	char longid[MC_META_CLUSTER_ID_MAX + 2];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_msg(mc_meta_cluster_id_ok(t[i].id) == t[i].ok,
			      "row %zu", i);
	memset(longid, 'i', sizeof(longid));
	longid[MC_META_CLUSTER_ID_MAX] = '\0';
	ck_assert(mc_meta_cluster_id_ok(longid));
	longid[MC_META_CLUSTER_ID_MAX] = 'i';
	longid[MC_META_CLUSTER_ID_MAX + 1] = '\0';
	ck_assert(!mc_meta_cluster_id_ok(longid));
}
END_TEST

START_TEST(test_off)
{
	struct mc_store *s = store_new(NULL, true);

	ck_assert_ptr_null(mc_store_meta(s));
	mc_store_free(s);
}
END_TEST

/* --------------------------------------------------------- published keys */

static struct json_object *get_json(const char *key)
{
	char *body = get(key);
	struct json_object *o;

	ck_assert_msg(body, "no key %s", key);
	o = json_tokener_parse(body);
	ck_assert_msg(o, "not JSON: %s", body);
	free(body);
	return o;
}

static const char *jstr(struct json_object *o, const char *f)
{
	struct json_object *v;

	ck_assert_msg(json_object_object_get_ex(o, f, &v), "no %s", f);
	return json_object_get_string(v);
}

static uint64_t jnum(struct json_object *o, const char *f)
{
	struct json_object *v;

	ck_assert_msg(json_object_object_get_ex(o, f, &v), "no %s", f);
	ck_assert(json_object_is_type(v, json_type_int));
	return json_object_get_uint64(v);
}

static struct json_object *jbuffers(struct json_object *o)
{
	struct json_object *v;

	ck_assert(json_object_object_get_ex(o, "buffers", &v));
	ck_assert(json_object_is_type(v, json_type_array));
	return v;
}

static void publish(const char *name, const char *host, unsigned port)
{
	struct mc_meta_node n = {name, host, port, NULL, NULL};
	struct mc_err e = {0};

	ck_assert_msg(mc_meta_publish(M, &n, &e) == 0, "%s", e.msg);
}

START_TEST(test_published_live)
{
	struct json_object *o, *bufs, *b;
	struct mc_seg_info si;
	struct mc_err e = {0};
	char *id1 = mount(S, 16 << 20), *id2;
	const char *ts;

	/* a stored key of the name to come is dropped when it is published */
	ck_assert_int_eq(put("mooncake/ram/h:7001", "old"), 0);
	publish("h:7001", "h", 7001);

	o = get_json("mooncake/ram/h:7001");
	ck_assert_str_eq(jstr(o, "name"), "h:7001");
	ck_assert_str_eq(jstr(o, "protocol"), "tcp");
	ck_assert_uint_eq(jnum(o, "tcp_data_port"), 7001);
	ck_assert_uint_eq(jnum(o, "tcp_proto_version"), 2);
	ts = jstr(o, "timestamp");
	/* "YYYY-MM-DD HH:MM:SS.uuuuuu", as TE writes it */
	ck_assert_uint_eq(strlen(ts), 26);
	ck_assert(ts[4] == '-' && ts[10] == ' ' && ts[19] == '.');
	bufs = jbuffers(o);
	ck_assert_uint_eq(json_object_array_length(bufs), 1);
	b = json_object_array_get_idx(bufs, 0);
	ck_assert_int_eq(mc_segment_info(S, id1, &si), 0);
	ck_assert_str_eq(jstr(b, "name"), "h:7001");
	ck_assert_uint_eq(jnum(b, "addr"), si.base);
	ck_assert_uint_eq(jnum(b, "length"), si.size);
	json_object_put(o);

	o = get_json("mooncake/rpc_meta/h:7001");
	ck_assert_str_eq(jstr(o, "ip_or_host_name"), "h");
	ck_assert_uint_eq(jnum(o, "rpc_port"), 7000);
	json_object_put(o);

	/* a mount shows at once, and so does an unmount */
	id2 = mount(S, 32 << 20);
	o = get_json("mooncake/ram/h:7001");
	ck_assert_uint_eq(json_object_array_length(jbuffers(o)), 2);
	json_object_put(o);
	unmount(S, id1);
	o = get_json("mooncake/ram/h:7001");
	bufs = jbuffers(o);
	ck_assert_uint_eq(json_object_array_length(bufs), 1);
	ck_assert_int_eq(mc_segment_info(S, id2, &si), 0);
	ck_assert_uint_eq(jnum(json_object_array_get_idx(bufs, 0), "addr"),
			  si.base);
	json_object_put(o);
	unmount(S, id2);
	o = get_json("mooncake/ram/h:7001");
	ck_assert_uint_eq(json_object_array_length(jbuffers(o)), 0);
	json_object_put(o);

	/* refused to writers from outside */
	ck_assert_int_eq(mc_meta_put(M, "mooncake/ram/h:7001", 19, "x", 1, &e),
			 -EPERM);
	ck_assert_msg(strstr(e.msg, "published"), "%s", e.msg);
	ck_assert_int_eq(mc_meta_delete(M, "mooncake/rpc_meta/h:7001", 24, &e),
			 -EPERM);
	/* other names, kinds and prefixes are anyone's */
	ck_assert_ptr_null(get("mooncake/ram/h:700"));
	ck_assert_ptr_null(get("mooncake/ram/h:70011"));
	ck_assert_ptr_null(get("mooncake/xyz/h:7001"));
	ck_assert_ptr_null(get("mooncake/c/ram/h:7001"));
	ck_assert_int_eq(put("mooncake/c/ram/h:7001", "y"), 0);

	/* re-publishing replaces; unpublishing frees the names */
	publish("h:7001", "10.0.0.9", 7001);
	o = get_json("mooncake/rpc_meta/h:7001");
	ck_assert_str_eq(jstr(o, "ip_or_host_name"), "10.0.0.9");
	json_object_put(o);
	ck_assert_int_eq(mc_meta_unpublish(M, "h:7001"), 0);
	ck_assert_int_eq(mc_meta_unpublish(M, "h:7001"), -ENOENT);
	ck_assert_ptr_null(get("mooncake/ram/h:7001"));
	ck_assert_int_eq(put("mooncake/ram/h:7001", "mine"), 0);
	expect_body("mooncake/ram/h:7001", "mine");
	free(id1);
	free(id2);
}
END_TEST

START_TEST(test_publish_bad)
{
	struct mc_meta_node n[] = {
		{NULL, "h", 1, NULL, NULL}, {"", "h", 1, NULL, NULL},
		{"n", NULL, 1, NULL, NULL}, {"n", "", 1, NULL, NULL},
		{"n", "h", 0, NULL, NULL},  {"n", "h", 65536, NULL, NULL},
	};
	struct mc_err e = {0};

	for (size_t i = 0; i < sizeof(n) / sizeof(n[0]); i++)
		ck_assert_int_eq(mc_meta_publish(M, &n[i], &e), -EINVAL);
}
END_TEST

static int two_buffers(void *arg,
		       int (*emit)(void *ctx, uint64_t addr, uint64_t len),
		       void *ctx)
{
	(*(int *)arg)++;
	emit(ctx, 4096, 100);
	return emit(ctx, 1ull << 40, 1ull << 30);
}

/* Another node's segments, as cluster mode publishes them. */
START_TEST(test_published_callback)
{
	int calls = 0;
	struct mc_meta_node n = {"other:9", "10.9.9.9", 9, two_buffers, &calls};
	struct json_object *o, *bufs;

	free(mount(S, 16 << 20)); /* never shows under another node */
	ck_assert_int_eq(mc_meta_publish(M, &n, NULL), 0);
	o = get_json("mooncake/ram/other:9");
	ck_assert_int_eq(calls, 1);
	bufs = jbuffers(o);
	ck_assert_uint_eq(json_object_array_length(bufs), 2);
	ck_assert_uint_eq(jnum(json_object_array_get_idx(bufs, 1), "addr"),
			  1ull << 40);
	ck_assert_uint_eq(jnum(json_object_array_get_idx(bufs, 1), "length"),
			  1ull << 30);
	json_object_put(o);
	o = get_json("mooncake/rpc_meta/other:9");
	ck_assert_uint_eq(jnum(o, "rpc_port"), 8);
	json_object_put(o);
}
END_TEST

START_TEST(test_cluster_prefix)
{
	static const struct {
		const char *id, *prefix;
	} t[] = {{"c1", "mooncake/c1/"},
		 {"c1/", "mooncake/c1/"},
		 {"a/b", "mooncake/a/b/"}};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char key[64];

		teardown();
		S = store_new(t[i].id, false);
		M = mc_store_meta(S);
		ck_assert_str_eq(mc_meta_prefix(M), t[i].prefix);
		publish("h:1", "h", 1);
		snprintf(key, sizeof(key), "%sram/h:1", t[i].prefix);
		json_object_put(get_json(key));
		ck_assert_int_eq(put(key, "x"), -EPERM);
		snprintf(key, sizeof(key), "%srpc_meta/h:1", t[i].prefix);
		json_object_put(get_json(key));
		/* not under the bare prefix */
		ck_assert_ptr_null(get("mooncake/ram/h:1"));
		ck_assert_int_eq(put("mooncake/ram/h:1", "x"), 0);
	}
}
END_TEST

struct seen {
	int n, stop_at;
	bool ram, rpc, stored;
};

static int walk_cb(const char *key, size_t klen, uint64_t size, void *arg)
{
	struct seen *s = arg;
	char *body = get(key);

	ck_assert_uint_eq(strlen(key), klen); /* NUL-terminated */
	ck_assert_ptr_nonnull(body);
	ck_assert_uint_eq(strlen(body), size);
	s->ram |= !strcmp(key, "mooncake/ram/h:5");
	s->rpc |= !strcmp(key, "mooncake/rpc_meta/h:5");
	s->stored |= !strcmp(key, "s2");
	s->n++;
	free(body);
	return s->n == s->stop_at ? 7 : 0;
}

START_TEST(test_foreach)
{
	struct seen s = {.stop_at = 100};
	char key[16];

	free(mount(S, 16 << 20));
	publish("h:5", "h", 5);
	for (int i = 0; i < 150; i++) {
		snprintf(key, sizeof(key), "s%d", i);
		ck_assert_int_eq(put(key, key), 0);
	}
	ck_assert_int_eq(mc_meta_foreach(M, walk_cb, &s), 7); /* stopped */
	ck_assert_int_eq(s.n, 100);
	s = (struct seen){0};
	for (int i = 100; i < 150; i++) {
		snprintf(key, sizeof(key), "s%d", i);
		ck_assert_int_eq(mc_meta_delete(M, key, strlen(key), NULL), 0);
	}
	ck_assert_int_eq(mc_meta_foreach(M, walk_cb, &s), 0);
	ck_assert_int_eq(s.n, 102);
	ck_assert(s.ram && s.rpc && s.stored);
}
END_TEST

static _Atomic bool stop;

static void *writer(void *arg)
{
	long t = (long)arg;
	char key[32], body[64];

	for (int i = 0; !atomic_load(&stop); i++) {
		snprintf(key, sizeof(key), "t%ld/%d", t, i % 50);
		snprintf(body, sizeof(body), "{\"i\":%d}", i);
		mc_meta_put(M, key, strlen(key), body, strlen(body), NULL);
		free(get(key));
		free(get("mooncake/ram/h:3"));
		if (i % 3 == 0)
			mc_meta_delete(M, key, strlen(key), NULL);
	}
	return NULL;
}

static int count_cb(const char *key, size_t klen, uint64_t size, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

/* Readers and writers racing mounts and unmounts (lock order). */
START_TEST(test_threads)
{
	pthread_t th[4];
	int n = 0;

	publish("h:3", "h", 3);
	atomic_store(&stop, false);
	for (long i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, writer, (void *)i);
	for (int i = 0; i < (mc_test_quick() ? 5 : 50); i++) {
		char *id = mount(S, 16 << 20);

		mc_meta_foreach(M, count_cb, &n);
		unmount(S, id);
		free(id);
	}
	atomic_store(&stop, true);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	ck_assert_int_gt(n, 0);
}
END_TEST

Suite *meta_suite(void)
{
	Suite *s = suite_create("meta");
	TCase *tc = tcase_create("meta");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_put_get_delete);
	tcase_add_test(tc, test_rpc_meta_rule);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_cluster_id_rule);
	tcase_add_test(tc, test_off);
	tcase_add_test(tc, test_published_live);
	tcase_add_test(tc, test_publish_bad);
	tcase_add_test(tc, test_published_callback);
	tcase_add_test(tc, test_cluster_prefix);
	tcase_add_test(tc, test_foreach);
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);
	return s;
}

MC_CHECK_MAIN(meta_suite)
