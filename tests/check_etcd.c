/*
 * check_etcd.c - the etcd client (cluster/etcd.h) against a real etcd:
 * every call, prefix ranges over keys of any bytes, compare-and-put,
 * huge values, leases that expire and leases kept alive, watch events
 * across puts and deletes (replay, progress, compaction, reconnection
 * across an etcd restart with every event once), the election (two
 * candidates, resign, lease end, cancel, observe), a paused etcd, a
 * dead and a lying endpoint; and tables of hostile gateway answers.
 */
#include "autoconfig.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "check.h"
#include "etcd.h"
#include "etcd_int.h"
#include "etcd_lib.h"

static struct etcd_proc E; /* the suite's etcd, shared by most tests */

static void suite_etcd_up(void)
{
	etcd_proc_start_or_exit(&E, "check_etcd");
}

static void suite_etcd_down(void)
{
	etcd_proc_destroy(&E);
}

static struct mc_etcd *client_to(const char *endpoints, unsigned timeout_ms)
{
	struct mc_etcd_opts o;
	struct mc_err err = {0, ""};
	struct mc_etcd *e;

	mc_etcd_opts_default(&o);
	o.endpoints = endpoints;
	o.timeout_ms = timeout_ms;
	e = mc_etcd_new(&o, &err);
	ck_assert_msg(e, "mc_etcd_new(%s): %s", endpoints, err.msg);
	return e;
}

static struct mc_etcd *client(void)
{
	return client_to(E.url, 2000);
}

/* A key of the test's own, so tests sharing the etcd never collide. */
static size_t tkey(char *buf, const char *test, const char *rest)
{
	return (size_t)sprintf(buf, "/t/%s/%s", test, rest);
}

/* --- recording streams --------------------------------------------------- */

#define MAX_EV 256

struct rec_ev {
	enum mc_etcd_event_type type;
	char key[64];
	char value[64];
	char prev[64];
	bool has_prev;
	int64_t revision;
	int64_t create_revision;
};

struct rec {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct rec_ev ev[MAX_EV];
	int n;
	int64_t on_compact; /* what to answer to COMPACTED */
};

static void rec_init(struct rec *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
}

static void rec_release(struct rec *r)
{
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
}

static void copy_text(char *dst, const char *src, size_t n)
{
	size_t len = n < 63 ? n : 63;

	if (src)
		memcpy(dst, src, len);
	dst[src ? len : 0] = '\0';
}

static int64_t rec_fn(void *arg, const struct mc_etcd_event *ev)
{
	struct rec *r = arg;
	int64_t ret = 0;

	pthread_mutex_lock(&r->lock);
	if (r->n < MAX_EV) {
		struct rec_ev *x = &r->ev[r->n++];

		x->type = ev->type;
		copy_text(x->key, ev->kv.key, ev->kv.key_len);
		copy_text(x->value, ev->kv.value, ev->kv.value_len);
		x->has_prev = ev->prev_kv.key != NULL;
		copy_text(x->prev, ev->prev_kv.value, ev->prev_kv.value_len);
		x->revision = ev->revision;
		x->create_revision = ev->kv.create_revision;
	}
	if (ev->type == MC_ETCD_EV_COMPACTED)
		ret = r->on_compact;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	return ret;
}

/* Waits until @n events of @type (-1: any) were recorded; their count. */
static int rec_wait(struct rec *r, int type, int n, unsigned timeout_ms)
{
	uint64_t end = etcd_ms_now() + timeout_ms;
	int got;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		got = 0;
		for (int i = 0; i < r->n; i++)
			if (type < 0 || (int)r->ev[i].type == type)
				got++;
		if (got >= n || etcd_ms_now() >= end)
			break;
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&r->cond, &r->lock, &ts);
	}
	pthread_mutex_unlock(&r->lock);
	return got;
}

/* The PUT and DELETE events recorded, as "P:key=value" "D:key" lines. */
static void rec_kv_events(struct rec *r, char *out, size_t len)
{
	size_t o = 0;

	out[0] = '\0';
	pthread_mutex_lock(&r->lock);
	for (int i = 0; i < r->n && o < len; i++) {
		struct rec_ev *x = &r->ev[i];

		if (x->type == MC_ETCD_EV_PUT)
			o += (size_t)snprintf(out + o, len - o, "P:%s=%s ",
					      x->key, x->value);
		else if (x->type == MC_ETCD_EV_DELETE)
			o += (size_t)snprintf(out + o, len - o, "D:%s ",
					      x->key);
	}
	pthread_mutex_unlock(&r->lock);
}

/* --- tables: options, base64, answers, stream lines ---------------------- */

START_TEST(test_opts_hostile)
{
	static const char *bad[] = {
		"",
		"ftp://127.0.0.1:2379",
		"http://",
		"http:///x",
		"127.0.0.1:2379",
		"http://:2379",
		"http://a b:1",
		"http://127.0.0.1:1,,",
		",",
		"https://",
	};
	char many[2048] = "";
	struct mc_etcd_opts o;
	struct mc_err err;

	mc_etcd_opts_default(&o);
	o.endpoints = NULL;
	err.msg[0] = '\0';
	ck_assert_ptr_null(mc_etcd_new(&o, &err));
	ck_assert_int_eq(err.code, MC_RPC_FAIL);
	ck_assert_msg(strstr(err.msg, "no etcd endpoint"), "%s", err.msg);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o.endpoints = bad[i];
		err.msg[0] = '\0';
		struct mc_etcd *e = mc_etcd_new(&o, &err);

		/* "http://127.0.0.1:1,," has one good URL then empties,
		 * which are skipped: that one is accepted */
		if (e) {
			ck_assert_str_eq(bad[i], "http://127.0.0.1:1,,");
			ck_assert_str_eq(mc_etcd_endpoint(e),
					 "http://127.0.0.1:1");
			mc_etcd_free(e);
			continue;
		}
		ck_assert_msg(err.msg[0], "no message for '%s'", bad[i]);
	}
	for (int i = 0; i < 17; i++)
		strcat(many, "http://127.0.0.1:1,");
	o.endpoints = many;
	ck_assert_ptr_null(mc_etcd_new(&o, &err));
	ck_assert_msg(strstr(err.msg, "more than 16"), "%s", err.msg);
	o.endpoints = "http://127.0.0.1:1/, https://x:2";
	ck_assert_ptr_null(mc_etcd_new(&o, &err)); /* a space is not a URL */
	o.endpoints = "http://127.0.0.1:1/,https://x:2";
	struct mc_etcd *e = mc_etcd_new(&o, &err);

	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(mc_etcd_endpoint(e), "http://127.0.0.1:1");
	mc_etcd_free(e);
	mc_etcd_free(NULL);
}
END_TEST

START_TEST(test_b64)
{
	static const struct {
		const char *in;
	} bad[] = {{"A"},
		   {"AB"},
		   {"ABC"},
		   {"AB=C"},
		   {"A==="},
		   {"===="},
		   {"AB\n="},
		   {"AB C"},
		   {"AB-_"},
		   {"QQ==QQ=="},
		   {"\xff\xfe\xfd\xfc"}};
	unsigned char all[256];
	char *enc, *dec;
	size_t n;

	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	for (size_t len = 0; len <= 256; len++) {
		enc = mc_b64_encode(all, len);
		ck_assert_ptr_nonnull(enc);
		ck_assert_uint_eq(strlen(enc), (len + 2) / 3 * 4);
		ck_assert_int_eq(mc_b64_decode(enc, strlen(enc), &dec, &n), 0);
		ck_assert_uint_eq(n, len);
		ck_assert(memcmp(dec, all, len) == 0);
		ck_assert_int_eq(dec[n], '\0');
		free(enc);
		free(dec);
	}
	enc = mc_b64_encode("foobar", 6);
	ck_assert_str_eq(enc, "Zm9vYmFy");
	free(enc);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(mc_b64_decode(bad[i].in, strlen(bad[i].in), &dec,
					    &n) == -EPROTO,
			      "'%s' decoded", bad[i].in);
}
END_TEST

START_TEST(test_answer_hostile)
{
	static const struct {
		long status;
		const char *body;
		int rc;
		const char *msg; /* a part of the message, or NULL */
	} t[] = {
		{200, "", -EPROTO, "not etcd's JSON"},
		{200, "{", -EPROTO, NULL},
		{200, "[]", -EPROTO, NULL},
		{200, "null", -EPROTO, NULL},
		{200, "\"str\"", -EPROTO, NULL},
		{200, "{} {}", -EPROTO, NULL},
		{200, "{}x", -EPROTO, NULL},
		{200, "{\"a\":1}\n", 0, NULL},
		{200, "<html>404</html>", -EPROTO, NULL},
		{404, "404 page not found", -EPROTO, "HTTP 404"},
		{503, "{}", -EPROTO, "HTTP 503"},
		{400,
		 "{\"error\":\"etcdserver: requested lease not "
		 "found\",\"code\":5}",
		 -ENOENT, "lease not found"},
		{400,
		 "{\"error\":\"x\",\"message\":\"etcdserver: request is too "
		 "large\",\"code\":3}",
		 -EMSGSIZE, "too large"},
		{400, "{\"error\":\"bad\",\"code\":3}", -EINVAL, NULL},
		{503, "{\"error\":\"etcdserver: no leader\",\"code\":14}",
		 -EAGAIN, NULL},
		{500, "{\"error\":\"election: not leader\",\"code\":2}", -EPERM,
		 NULL},
		{500, "{\"error\":\"election: no leader\",\"code\":2}", -ENOENT,
		 NULL},
		{400,
		 "{\"error\":\"mvcc: required revision has been "
		 "compacted\",\"code\":11}",
		 -ERANGE, "compacted"},
		{400, "{\"error\":\"x\",\"code\":\"not a number\"}", -EIO,
		 NULL},
		{400, "{\"error\":{\"grpc_code\":5,\"message\":\"gone\"}}",
		 -ENOENT, "gone"},
		{400, "{\"error\":{\"grpc_code\":[],\"message\":7}}", -EIO,
		 NULL},
		{400, "{\"error\":7}", -EIO, NULL},
	};
	char deep[4000];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct json_object *o = (struct json_object *)1;
		struct mc_err err = {0, ""};
		int rc = mc_etcd_answer("/v3/kv/range", t[i].status, t[i].body,
					strlen(t[i].body), &o, &err);

		ck_assert_msg(rc == t[i].rc, "'%s': %d, want %d (%s)",
			      t[i].body, rc, t[i].rc, err.msg);
		if (rc) {
			ck_assert_ptr_null(o);
			ck_assert_msg(err.msg[0], "no message for '%s'",
				      t[i].body);
			ck_assert_int_eq(err.code, MC_RPC_FAIL);
		} else {
			json_object_put(o);
		}
		if (t[i].msg)
			ck_assert_msg(strstr(err.msg, t[i].msg), "'%s' -> '%s'",
				      t[i].body, err.msg);
	}
	/* nesting past json-c's depth limit, and a NUL inside the body */
	memset(deep, '[', sizeof(deep));
	struct json_object *o;
	struct mc_err err;

	ck_assert_int_eq(
		mc_etcd_answer("/p", 200, deep, sizeof(deep), &o, &err),
		-EPROTO);
	ck_assert_int_eq(mc_etcd_answer("/p", 200, "{}\0{}", 5, &o, &err),
			 -EPROTO);
}
END_TEST

START_TEST(test_kv_parse_hostile)
{
	static const struct {
		const char *json;
		int rc;
	} t[] = {
		{"{\"key\":\"YQ==\",\"value\":\"Yg==\",\"mod_revision\":\"5\"}",
		 0},
		{"{\"key\":\"YQ==\",\"mod_revision\":5}", 0},
		{"{\"key\":\"YQ==\"}", 0},
		{"{\"value\":\"Yg==\"}", -EPROTO}, /* no key */
		{"{\"key\":\"\"}", -EPROTO},	   /* empty key */
		{"{\"key\":5}", -EPROTO},
		{"{\"key\":\"YQ\"}", -EPROTO}, /* bad base64 */
		{"{\"key\":\"YQ==\",\"value\":[]}", -EPROTO},
		{"{\"key\":\"YQ==\",\"mod_revision\":\"5x\"}", -EPROTO},
		{"{\"key\":\"YQ==\",\"mod_revision\":\"\"}", -EPROTO},
		{"{\"key\":\"YQ==\",\"mod_revision\":\"99999999999999999999\"}",
		 -EPROTO},
		{"{\"key\":\"YQ==\",\"lease\":{}}", -EPROTO},
		{"{\"key\":\"YQ==\",\"lease\":1.5}", -EPROTO},
		{"[]", -EPROTO},
		{"\"x\"", -EPROTO},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct json_object *o = json_tokener_parse(t[i].json);
		struct mc_etcd_kv kv;
		struct mc_err err = {0, ""};
		int rc;

		ck_assert_ptr_nonnull(o);
		rc = mc_etcd_parse_kv(o, &kv, &err);
		ck_assert_msg(rc == t[i].rc, "'%s': %d (%s)", t[i].json, rc,
			      err.msg);
		if (!rc) {
			ck_assert_str_eq(kv.key, "a");
			mc_etcd_kv_release(&kv);
		} else {
			ck_assert_ptr_null(kv.key);
			ck_assert_msg(err.msg[0], "no message for '%s'",
				      t[i].json);
		}
		json_object_put(o);
	}
}
END_TEST

START_TEST(test_stream_hostile)
{
	/* each row: lines fed in order to a fresh watch stream, and what
	 * the last line returns; events delivered are counted */
	static const struct {
		const char *lines[4];
		int rc;	    /* of the last line */
		int events; /* delivered in total */
		bool observe;
	} t[] = {
		{{""}, 0, 0, false},
		{{"   "}, 0, 0, false},
		{{"nonsense"}, -EPROTO, 0, false},
		{{"{}"}, -EPROTO, 0, false},
		{{"{\"result\":[]}"}, -EPROTO, 0, false},
		{{"{\"result\":{\"events\":[{\"kv\":{\"key\":\"YQ==\",\"mod_"
		  "revision\":\"3\"}}]}}"},
		 -EPROTO,
		 0,
		 false}, /* events before created */
		{{"{\"result\":{\"header\":{\"revision\":\"2\"},\"created\":"
		  "true}}",
		  "{\"result\":{\"events\":[{\"kv\":{\"key\":\"YQ==\",\"mod_"
		  "revision\":\"3\"}}]}}"},
		 0,
		 2,
		 false},
		{{"{\"result\":{\"header\":{\"revision\":\"2\"},\"created\":"
		  "true}}",
		  "{\"result\":{\"events\":[{\"type\":\"EXPLODE\",\"kv\":{"
		  "\"key\":\"YQ==\",\"mod_revision\":\"3\"}}]}}"},
		 -EPROTO,
		 1,
		 false},
		{{"{\"result\":{\"header\":{\"revision\":\"2\"},\"created\":"
		  "true}}",
		  "{\"result\":{\"events\":[{\"type\":7,\"kv\":{\"key\":\"YQ=="
		  "\",\"mod_revision\":\"3\"}}]}}"},
		 -EPROTO,
		 1,
		 false},
		{{"{\"result\":{\"header\":{\"revision\":\"2\"},\"created\":"
		  "true}}",
		  "{\"result\":{\"events\":[{\"kv\":{\"key\":\"YQ==\"}}]}}"},
		 -EPROTO,
		 1,
		 false}, /* no mod revision */
		{{"{\"result\":{\"header\":{\"revision\":\"2\"},\"created\":"
		  "true}}",
		  "{\"result\":{\"events\":[{\"kv\":{\"key\":\"!!!!\",\"mod_"
		  "revision\":\"3\"}}]}}"},
		 -EPROTO,
		 1,
		 false},
		{{"{\"result\":{\"header\":{\"revision\":\"2\"},\"created\":"
		  "true}}",
		  "{\"result\":{\"events\":{}}}"},
		 -EPROTO,
		 1,
		 false},
		{{"{\"result\":{\"header\":{\"revision\":\"2\"},\"created\":"
		  "true}}",
		  "{\"result\":{\"events\":[5]}}"},
		 -EPROTO,
		 1,
		 false},
		{{"{\"result\":{\"header\":{\"revision\":\"2\"},\"created\":"
		  "true}}",
		  "{\"result\":{\"header\":{\"revision\":\"9\"}}}"},
		 0,
		 2,
		 false}, /* a progress notification */
		{{"{\"result\":{\"header\":{\"revision\":\"x\"},\"created\":"
		  "true}}"},
		 -EPROTO,
		 0,
		 false},
		{{"{\"result\":{\"canceled\":true,\"compact_revision\":\"6\"}"
		  "}"},
		 1,
		 1,
		 false},
		{{"{\"result\":{\"canceled\":true,\"cancel_reason\":\"no "
		  "leader\"}}"},
		 1,
		 0,
		 false},
		{{"{\"error\":{\"grpc_code\":14,\"message\":\"etcdserver: no "
		  "leader\"}}"},
		 1,
		 0,
		 false},
		{{"{\"result\":{\"kv\":{\"key\":\"ZWwvMQ==\",\"value\":\"YQ=="
		  "\",\"mod_revision\":\"4\"}}}"},
		 0,
		 2,
		 true},
		{{"{\"result\":{}}"}, -EPROTO, 0, true},
		{{"{\"result\":{\"kv\":{\"value\":\"YQ==\"}}}"},
		 -EPROTO,
		 0,
		 true},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct rec r;
		struct mc_etcd_stream st = {.observe = t[i].observe};
		int rc = 0;

		rec_init(&r);
		st.fn = rec_fn;
		st.arg = &r;
		for (int j = 0; j < 4 && t[i].lines[j]; j++)
			rc = mc_etcd_stream_line(&st, t[i].lines[j],
						 strlen(t[i].lines[j]));
		ck_assert_msg(rc == t[i].rc, "row %zu: %d, want %d (%s)", i, rc,
			      t[i].rc, st.why);
		ck_assert_msg(r.n == t[i].events, "row %zu: %d events, want %d",
			      i, r.n, t[i].events);
		if (rc)
			ck_assert_msg(st.why[0], "row %zu: no reason", i);
		rec_release(&r);
	}
	/* where a reconnect resumes: after created (rev 2 -> 3), after an
	 * event (mod 7 -> 8), after progress (rev 12 -> 13) */
	struct rec r;
	struct mc_etcd_stream st = {.fn = rec_fn};
	static const char *seq[] = {
		"{\"result\":{\"header\":{\"revision\":\"2\"},\"created\":true}"
		"}",
		"{\"result\":{\"header\":{\"revision\":\"7\"},\"events\":[{"
		"\"kv\":{\"key\":\"YQ==\",\"mod_revision\":\"7\"}}]}}",
		"{\"result\":{\"header\":{\"revision\":\"12\"}}}",
		"{\"result\":{\"header\":{\"revision\":\"10\"}}}",
	};
	static const int64_t want[] = {3, 8, 13, 13};

	rec_init(&r);
	st.arg = &r;
	for (int j = 0; j < 4; j++) {
		ck_assert_int_eq(
			mc_etcd_stream_line(&st, seq[j], strlen(seq[j])), 0);
		ck_assert_int_eq(st.next_rev, want[j]);
	}
	/* compaction: the callback's 0 means "resume at the compaction" */
	ck_assert_int_eq(mc_etcd_stream_line(&st,
					     "{\"result\":{\"canceled\":true,"
					     "\"compact_revision\":\"20\"}}",
					     52),
			 1);
	ck_assert_int_eq(st.action, 20);
	rec_release(&r);
}
END_TEST

START_TEST(test_prefix_end)
{
	static const struct {
		const char *in;
		size_t len;
		const char *want;
		size_t wlen;
	} t[] = {
		{"a", 1, "b", 1},     {"/mooncake/x/", 12, "/mooncake/x0", 12},
		{"a\xff", 2, "b", 1}, {"a\xff\xff", 3, "b", 1},
		{"\xff", 1, "", 1},   {"\xff\xff", 2, "", 1},
		{"", 0, "", 1},	      {"a\0", 2, "a\1", 2},
	};
	char out[16];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t n = mc_etcd_prefix_end(t[i].in, t[i].len, out);

		ck_assert_uint_eq(n, t[i].wlen);
		ck_assert(memcmp(out, t[i].want, n) == 0);
	}
}
END_TEST

/* --- KV against etcd ----------------------------------------------------- */

START_TEST(test_kv)
{
	struct mc_etcd *e = client();
	struct mc_err err = {0, ""};
	struct mc_etcd_kvs r;
	struct mc_etcd_kv kv;
	char k[64], p[64];
	int64_t rev1 = 0, rev2 = 0, n = 0;
	/* keys of any bytes: NUL, 0xff, newline, quotes, non-UTF-8 */
	static const char odd[][6] = {"a\0b", "\xff\xfe", "\n\"\\", "\x80",
				      "z"};

	ck_assert_int_eq(mc_etcd_put(e, "/t/kv/a", 7, "1", 1, 0, &rev1, &err),
			 0);
	ck_assert_int_gt(rev1, 0);
	ck_assert_int_eq(mc_etcd_put(e, "/t/kv/a", 7, "22", 2, 0, &rev2, &err),
			 0);
	ck_assert_int_gt(rev2, rev1);
	ck_assert_int_eq(mc_etcd_get(e, "/t/kv/a", 7, &kv, &err), 0);
	ck_assert_str_eq(kv.value, "22");
	ck_assert_int_eq(kv.create_revision, rev1);
	ck_assert_int_eq(kv.mod_revision, rev2);
	ck_assert_int_eq(kv.version, 2);
	mc_etcd_kv_release(&kv);
	/* the old value is still there at its revision */
	ck_assert_int_eq(
		mc_etcd_range(e, "/t/kv/a", 7, NULL, 0, 0, 0, rev1, &r, &err),
		0);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_str_eq(r.kvs[0].value, "1");
	mc_etcd_kvs_release(&r);
	/* an empty value, and a missing key */
	ck_assert_int_eq(
		mc_etcd_put(e, "/t/kv/empty", 11, NULL, 0, 0, NULL, &err), 0);
	ck_assert_int_eq(mc_etcd_get(e, "/t/kv/empty", 11, &kv, &err), 0);
	ck_assert_uint_eq(kv.value_len, 0);
	ck_assert_str_eq(kv.value, "");
	mc_etcd_kv_release(&kv);
	ck_assert_int_eq(mc_etcd_get(e, "/t/kv/none", 10, &kv, &err), -ENOENT);
	ck_assert_ptr_null(kv.key);
	ck_assert_int_eq(mc_etcd_put(e, "", 0, "x", 1, 0, NULL, &err), -EINVAL);
	ck_assert_msg(strstr(err.msg, "empty"), "%s", err.msg);

	/* a prefix of odd keys, sorted by key and by creation */
	size_t plen = tkey(p, "odd", "");

	for (int i = 4; i >= 0; i--) {
		size_t kl = plen + (i == 0 ? 3 : strlen(odd[i]));

		memcpy(k, p, plen);
		memcpy(k + plen, odd[i], kl - plen);
		ck_assert_int_eq(
			mc_etcd_put(e, k, kl, odd[i], kl - plen, 0, NULL, &err),
			0);
		ck_assert_int_eq(mc_etcd_get(e, k, kl, &kv, &err), 0);
		ck_assert_uint_eq(kv.key_len, kl);
		ck_assert(memcmp(kv.key, k, kl) == 0);
		ck_assert(memcmp(kv.value, odd[i], kl - plen) == 0);
		mc_etcd_kv_release(&kv);
	}
	ck_assert_int_eq(mc_etcd_put(e, "/t/odd0", 7, "out", 3, 0, NULL, &err),
			 0);
	ck_assert_int_eq(mc_etcd_range(e, p, plen, NULL, 0, MC_ETCD_PREFIX, 0,
				       0, &r, &err),
			 0);
	ck_assert_uint_eq(r.n, 5);
	ck_assert_int_eq(r.count, 5);
	ck_assert(!r.more);
	ck_assert(memcmp(r.kvs[0].key + plen, "\n", 1) == 0); /* byte order */
	ck_assert(memcmp(r.kvs[4].key + plen, "\xff\xfe", 2) == 0);
	mc_etcd_kvs_release(&r);
	ck_assert_int_eq(mc_etcd_range(e, p, plen, NULL, 0,
				       MC_ETCD_PREFIX | MC_ETCD_SORT_CREATE |
					       MC_ETCD_KEYS_ONLY,
				       2, 0, &r, &err),
			 0);
	ck_assert_uint_eq(r.n, 2);
	ck_assert_int_eq(r.count, 5);
	ck_assert(r.more);
	ck_assert(memcmp(r.kvs[0].key + plen, "z", 1) == 0); /* made first */
	ck_assert_uint_eq(r.kvs[0].value_len, 0);
	mc_etcd_kvs_release(&r);
	/* an explicit range [p"\n", p"\x80") */
	char lo[64], hi[64];

	memcpy(lo, p, plen);
	lo[plen] = '\n';
	memcpy(hi, p, plen);
	hi[plen] = '\x80';
	ck_assert_int_eq(
		mc_etcd_range(e, lo, plen + 1, hi, plen + 1, 0, 0, 0, &r, &err),
		0);
	ck_assert_uint_eq(r.n, 3); /* "\n..", "a\0b", "z" */
	mc_etcd_kvs_release(&r);

	/* delete by prefix, with the deleted kvs */
	ck_assert_int_eq(mc_etcd_delete(e, p, plen, NULL, 0,
					MC_ETCD_PREFIX | MC_ETCD_PREV_KV, &n,
					&r, &err),
			 0);
	ck_assert_int_eq(n, 5);
	ck_assert_uint_eq(r.n, 5);
	mc_etcd_kvs_release(&r);
	ck_assert_int_eq(mc_etcd_range(e, p, plen, NULL, 0, MC_ETCD_PREFIX, 0,
				       0, &r, &err),
			 0);
	ck_assert_uint_eq(r.n, 0);
	ck_assert_int_eq(r.count, 0);
	mc_etcd_kvs_release(&r);
	ck_assert_int_eq(mc_etcd_get(e, "/t/odd0", 7, &kv, &err), 0);
	mc_etcd_kv_release(&kv);
	ck_assert_int_eq(
		mc_etcd_delete(e, "/t/kv/none", 10, NULL, 0, 0, &n, NULL, &err),
		0);
	ck_assert_int_eq(n, 0);

	/* compaction makes old revisions unreadable, with a clean error */
	ck_assert_int_eq(mc_etcd_compact(e, rev2, &err), 0);
	ck_assert_int_eq(
		mc_etcd_range(e, "/t/kv/a", 7, NULL, 0, 0, 0, rev1, &r, &err),
		-ERANGE);
	ck_assert_msg(strstr(err.msg, "compacted"), "%s", err.msg);
	ck_assert_int_eq(mc_etcd_compact(e, rev1, &err), -ERANGE);
	ck_assert_int_eq(mc_etcd_range(e, "/t/kv/a", 7, NULL, 0, 0, 0,
				       INT64_MAX / 2, &r, &err),
			 -ERANGE);
	ck_assert_int_eq(
		mc_etcd_range(e, "/t/kv/a", 7, NULL, 0, 0, -1, 0, &r, &err),
		-EINVAL);
	mc_etcd_free(e);
}
END_TEST

START_TEST(test_cas)
{
	struct mc_etcd *e = client();
	struct mc_err err = {0, ""};
	struct mc_etcd_kv cur;
	int64_t rev = 0, rev2 = 0;
	bool done;

	ck_assert_int_eq(mc_etcd_cas(e, "/t/cas", 6, "v1", 2, 0, 0, &done, &rev,
				     &cur, &err),
			 0);
	ck_assert(done);
	ck_assert_int_gt(rev, 0);
	ck_assert_ptr_null(cur.key);
	/* absent-only again: refused, and the current value comes back */
	ck_assert_int_eq(mc_etcd_cas(e, "/t/cas", 6, "v2", 2, 0, 0, &done, NULL,
				     &cur, &err),
			 0);
	ck_assert(!done);
	ck_assert_str_eq(cur.value, "v1");
	ck_assert_int_eq(cur.mod_revision, rev);
	mc_etcd_kv_release(&cur);
	/* on the right revision */
	ck_assert_int_eq(mc_etcd_cas(e, "/t/cas", 6, "v2", 2, 0, rev, &done,
				     &rev2, NULL, &err),
			 0);
	ck_assert(done);
	ck_assert_int_gt(rev2, rev);
	/* delete on a stale revision fails, on the current one works */
	ck_assert_int_eq(mc_etcd_cad(e, "/t/cas", 6, rev, &done, &err), 0);
	ck_assert(!done);
	ck_assert_int_eq(mc_etcd_cad(e, "/t/cas", 6, rev2, &done, &err), 0);
	ck_assert(done);
	ck_assert_int_eq(mc_etcd_get(e, "/t/cas", 6, &cur, &err), -ENOENT);
	ck_assert_int_eq(mc_etcd_cad(e, "/t/cas", 6, 0, &done, &err), -EINVAL);
	ck_assert_int_eq(mc_etcd_cas(e, "/t/cas", 6, "x", 1, 0, -1, &done, NULL,
				     NULL, &err),
			 -EINVAL);
	mc_etcd_free(e);
}
END_TEST

START_TEST(test_huge)
{
	struct mc_etcd *e = client();
	struct mc_err err = {0, ""};
	size_t big = 1u << 20, huge = 3u << 20;
	char *v = malloc(huge);
	struct mc_etcd_kv kv;
	struct mc_etcd_kvs r;

	for (size_t i = 0; i < huge; i++)
		v[i] = (char)(i * 7 + i / 251);
	/* 1 MiB of every byte value round-trips exactly */
	ck_assert_int_eq(mc_etcd_put(e, "/t/huge", 7, v, big, 0, NULL, &err),
			 0);
	ck_assert_int_eq(mc_etcd_get(e, "/t/huge", 7, &kv, &err), 0);
	ck_assert_uint_eq(kv.value_len, big);
	ck_assert(memcmp(kv.value, v, big) == 0);
	mc_etcd_kv_release(&kv);
	/*
	 * 3 MiB is over etcd's request limit: a clean error, not a retry
	 * loop. With a budget of 8 s, a loop would retry (and back off)
	 * until the budget is spent; one try takes well under half of it
	 * even on a loaded machine (a 1.5 s bound for both puts failed so).
	 */
	struct mc_etcd *slow = client_to(E.url, 8000);
	uint64_t t0 = etcd_ms_now();

	ck_assert_int_eq(
		mc_etcd_put(slow, "/t/huge", 7, v, huge, 0, NULL, &err),
		-EMSGSIZE);
	ck_assert_msg(strstr(err.msg, "larger than max"), "%s", err.msg);
	ck_assert_uint_lt(etcd_ms_now() - t0, 4000);
	/* 1.6 MiB passes gRPC's limit but not etcd's own */
	t0 = etcd_ms_now();
	ck_assert_int_eq(
		mc_etcd_put(slow, "/t/huge", 7, v, 1600u << 10, 0, NULL, &err),
		-EMSGSIZE);
	ck_assert_msg(strstr(err.msg, "too large"), "%s", err.msg);
	ck_assert_uint_lt(etcd_ms_now() - t0, 4000);
	/* a huge key too (under valgrind its encoding alone may take 2 s) */
	ck_assert_int_eq(mc_etcd_put(slow, v, huge, "x", 1, 0, NULL, &err),
			 -EMSGSIZE);
	mc_etcd_free(slow);
	/* the client is fine after it */
	ck_assert_int_eq(mc_etcd_get(e, "/t/huge", 7, &kv, &err), 0);
	mc_etcd_kv_release(&kv);
	mc_etcd_free(e);

	/* an answer over max_response is refused */
	struct mc_etcd_opts o;

	mc_etcd_opts_default(&o);
	o.endpoints = E.url;
	o.max_response = 4096;
	e = mc_etcd_new(&o, &err);
	ck_assert_int_eq(
		mc_etcd_range(e, "/t/huge", 7, NULL, 0, 0, 0, 0, &r, &err),
		-EMSGSIZE);
	ck_assert_msg(strstr(err.msg, "larger than 4096"), "%s", err.msg);
	ck_assert_int_eq(mc_etcd_put(e, "/t/small", 8, "x", 1, 0, NULL, &err),
			 0);
	mc_etcd_free(e);
	free(v);
}
END_TEST

/* --- leases -------------------------------------------------------------- */

START_TEST(test_lease_calls)
{
	struct mc_etcd *e = client();
	struct mc_err err = {0, ""};
	struct mc_etcd_kvs keys;
	struct mc_etcd_kv kv;
	int64_t id = 0, ttl = 0, granted = 0;

	ck_assert_int_eq(mc_etcd_lease_grant(e, 30, 0, &id, &ttl, &err), 0);
	ck_assert_int_gt(id, 0);
	ck_assert_int_eq(ttl, 30);
	ck_assert_int_eq(
		mc_etcd_put(e, "/t/lease/a", 10, "x", 1, id, NULL, &err), 0);
	ck_assert_int_eq(
		mc_etcd_put(e, "/t/lease/b", 10, "y", 1, id, NULL, &err), 0);
	ck_assert_int_eq(mc_etcd_get(e, "/t/lease/a", 10, &kv, &err), 0);
	ck_assert_int_eq(kv.lease, id);
	mc_etcd_kv_release(&kv);
	ck_assert_int_eq(mc_etcd_lease_ttl(e, id, &ttl, &granted, &keys, &err),
			 0);
	ck_assert_int_le(ttl, 30);
	ck_assert_int_gt(ttl, 25);
	ck_assert_int_eq(granted, 30);
	ck_assert_uint_eq(keys.n, 2);
	/* in no promised order */
	ck_assert(!strcmp(keys.kvs[0].key, "/t/lease/a") ||
		  !strcmp(keys.kvs[1].key, "/t/lease/a"));
	ck_assert(!strcmp(keys.kvs[0].key, "/t/lease/b") ||
		  !strcmp(keys.kvs[1].key, "/t/lease/b"));
	mc_etcd_kvs_release(&keys);
	ck_assert_int_eq(mc_etcd_lease_keepalive(e, id, &ttl, &err), 0);
	ck_assert_int_eq(ttl, 30);
	/* revoke deletes its keys; the lease is then gone everywhere */
	ck_assert_int_eq(mc_etcd_lease_revoke(e, id, &err), 0);
	ck_assert_int_eq(mc_etcd_get(e, "/t/lease/a", 10, &kv, &err), -ENOENT);
	ck_assert_int_eq(mc_etcd_lease_keepalive(e, id, &ttl, &err), -ENOENT);
	ck_assert_msg(strstr(err.msg, "expired"), "%s", err.msg);
	ck_assert_int_eq(mc_etcd_lease_ttl(e, id, &ttl, NULL, NULL, &err),
			 -ENOENT);
	ck_assert_int_eq(mc_etcd_lease_revoke(e, id, &err), -ENOENT);
	ck_assert_int_eq(
		mc_etcd_put(e, "/t/lease/a", 10, "x", 1, id, NULL, &err),
		-ENOENT);
	ck_assert_msg(strstr(err.msg, "lease not found"), "%s", err.msg);
	/* a chosen id; the same id twice is refused */
	ck_assert_int_eq(mc_etcd_lease_grant(e, 5, 0x7e57, &id, NULL, &err), 0);
	ck_assert_int_eq(id, 0x7e57);
	ck_assert_int_lt(mc_etcd_lease_grant(e, 5, 0x7e57, &id, NULL, &err), 0);
	ck_assert_msg(strstr(err.msg, "lease"), "%s", err.msg);
	ck_assert_int_eq(mc_etcd_lease_revoke(e, 0x7e57, &err), 0);
	/* a TTL below etcd's minimum comes back raised */
	ck_assert_int_eq(mc_etcd_lease_grant(e, 1, 0, &id, &ttl, &err), 0);
	ck_assert_int_ge(ttl, 1);
	ck_assert_int_eq(mc_etcd_lease_revoke(e, id, &err), 0);
	ck_assert_int_eq(mc_etcd_lease_grant(e, 0, 0, &id, NULL, &err),
			 -EINVAL);
	ck_assert_int_eq(mc_etcd_lease_keepalive(e, 0, NULL, &err), -EINVAL);
	ck_assert_int_eq(mc_etcd_lease_revoke(e, -3, &err), -EINVAL);
	mc_etcd_free(e);
}
END_TEST

START_TEST(test_lease_expiry)
{
	struct mc_etcd *e = client();
	struct mc_err err = {0, ""};
	struct mc_etcd_kv kv;
	int64_t dying = 0, kept = 0, ttl = 0;
	uint64_t t0;

	/* two 1 s leases: one left alone, one kept alive */
	ck_assert_int_eq(mc_etcd_lease_grant(e, 1, 0, &dying, &ttl, &err), 0);
	ck_assert_int_eq(ttl, 1);
	ck_assert_int_eq(mc_etcd_lease_grant(e, 1, 0, &kept, NULL, &err), 0);
	ck_assert_int_eq(
		mc_etcd_put(e, "/t/exp/dying", 12, "x", 1, dying, NULL, &err),
		0);
	ck_assert_int_eq(
		mc_etcd_put(e, "/t/exp/kept", 11, "x", 1, kept, NULL, &err), 0);
	t0 = etcd_ms_now();
	bool gone = false;

	while (etcd_ms_now() - t0 < 4000) {
		ck_assert_int_eq(mc_etcd_lease_keepalive(e, kept, &ttl, &err),
				 0);
		if (mc_etcd_get(e, "/t/exp/dying", 12, &kv, &err) == -ENOENT) {
			gone = true;
			break;
		}
		mc_etcd_kv_release(&kv);
		etcd_sleep_ms(200);
	}
	ck_assert_msg(gone, "a 1 s lease's key still there after 4 s");
	ck_assert_uint_ge(etcd_ms_now() - t0, 700);
	ck_assert_int_eq(mc_etcd_lease_keepalive(e, dying, NULL, &err),
			 -ENOENT);
	/* keep the other one going past several of its TTLs */
	while (etcd_ms_now() - t0 < 3000) {
		ck_assert_int_eq(mc_etcd_lease_keepalive(e, kept, NULL, &err),
				 0);
		etcd_sleep_ms(200);
	}
	ck_assert_int_eq(mc_etcd_get(e, "/t/exp/kept", 11, &kv, &err), 0);
	mc_etcd_kv_release(&kv);
	ck_assert_int_eq(mc_etcd_lease_revoke(e, kept, &err), 0);
	mc_etcd_free(e);
}
END_TEST

/* --- watch --------------------------------------------------------------- */

START_TEST(test_watch)
{
	struct mc_etcd *e = client();
	struct mc_err err = {0, ""};
	struct mc_etcd_watch *w, *w2;
	struct rec r, r2;
	int64_t rev0 = 0, rev = 0;
	char got[1024];

	rec_init(&r);
	rec_init(&r2);
	ck_assert_int_eq(
		mc_etcd_put(e, "/t/w/before", 11, "0", 1, 0, &rev0, &err), 0);
	w = mc_etcd_watch_start(e, "/t/w/", 5, NULL, 0,
				MC_ETCD_PREFIX | MC_ETCD_PREV_KV |
					MC_ETCD_PROGRESS,
				0, rec_fn, &r, &err);
	ck_assert_msg(w, "%s", err.msg);
	ck_assert_int_eq(rec_wait(&r, MC_ETCD_EV_CREATED, 1, 5000), 1);
	ck_assert_int_ge(r.ev[0].revision, rev0);
	ck_assert_int_eq(mc_etcd_put(e, "/t/w/a", 6, "1", 1, 0, NULL, &err), 0);
	ck_assert_int_eq(mc_etcd_put(e, "/t/w/a", 6, "2", 1, 0, NULL, &err), 0);
	ck_assert_int_eq(mc_etcd_put(e, "/t/wx", 5, "no", 2, 0, NULL, &err), 0);
	ck_assert_int_eq(
		mc_etcd_delete(e, "/t/w/a", 6, NULL, 0, 0, NULL, NULL, &err),
		0);
	ck_assert_int_eq(mc_etcd_put(e, "/t/w/b", 6, "3", 1, 0, &rev, &err), 0);
	ck_assert_int_eq(rec_wait(&r, MC_ETCD_EV_PUT, 3, 5000), 3);
	rec_kv_events(&r, got, sizeof(got));
	ck_assert_str_eq(got, "P:/t/w/a=1 P:/t/w/a=2 D:/t/w/a P:/t/w/b=3 ");
	/* prev_kv on the second put and the delete, none on the first */
	int puts = 0;

	for (int i = 0; i < r.n; i++) {
		if (r.ev[i].type == MC_ETCD_EV_PUT && puts++ == 1) {
			ck_assert(r.ev[i].has_prev);
			ck_assert_str_eq(r.ev[i].prev, "1");
		}
		if (r.ev[i].type == MC_ETCD_EV_PUT &&
		    !strcmp(r.ev[i].value, "1"))
			ck_assert(!r.ev[i].has_prev);
		if (r.ev[i].type == MC_ETCD_EV_DELETE) {
			ck_assert(r.ev[i].has_prev);
			ck_assert_str_eq(r.ev[i].prev, "2");
		}
	}
	/* etcd here notifies progress every 300 ms */
	ck_assert_int_ge(rec_wait(&r, MC_ETCD_EV_PROGRESS, 1, 3000), 1);

	/* a second watch from an old revision replays history in order */
	w2 = mc_etcd_watch_start(e, "/t/w/a", 6, NULL, 0, 0, rev0, rec_fn, &r2,
				 &err);
	ck_assert_ptr_nonnull(w2);
	ck_assert_int_eq(rec_wait(&r2, MC_ETCD_EV_DELETE, 1, 5000), 1);
	rec_kv_events(&r2, got, sizeof(got));
	ck_assert_str_eq(got, "P:/t/w/a=1 P:/t/w/a=2 D:/t/w/a ");
	mc_etcd_watch_stop(w2);
	mc_etcd_watch_stop(w);
	mc_etcd_watch_stop(NULL);
	/* stopped: no more callbacks */
	int n = r.n;

	ck_assert_int_eq(mc_etcd_put(e, "/t/w/c", 6, "4", 1, 0, NULL, &err), 0);
	etcd_sleep_ms(200);
	ck_assert_int_eq(r.n, n);
	ck_assert_ptr_null(
		mc_etcd_watch_start(e, "", 0, NULL, 0, 0, 0, rec_fn, &r, &err));
	ck_assert_ptr_null(
		mc_etcd_watch_start(e, "/x", 2, NULL, 0, 0, 0, NULL, &r, &err));
	rec_release(&r);
	rec_release(&r2);
	mc_etcd_free(e);
}
END_TEST

/* Ends its stream on the first PUT. */
static int64_t stop_fn(void *arg, const struct mc_etcd_event *ev)
{
	rec_fn(arg, ev);
	return ev->type == MC_ETCD_EV_PUT ? -1 : 0;
}

START_TEST(test_watch_compacted)
{
	struct mc_etcd *e = client();
	struct mc_err err = {0, ""};
	struct mc_etcd_watch *w;
	struct rec r;
	int64_t r1 = 0, r2 = 0, r3 = 0;
	char got[1024];

	rec_init(&r);
	ck_assert_int_eq(mc_etcd_put(e, "/t/c/k", 6, "1", 1, 0, &r1, &err), 0);
	ck_assert_int_eq(mc_etcd_put(e, "/t/c/k", 6, "2", 1, 0, &r2, &err), 0);
	ck_assert_int_eq(mc_etcd_put(e, "/t/c/k", 6, "3", 1, 0, &r3, &err), 0);
	ck_assert_int_eq(mc_etcd_compact(e, r2, &err), 0);
	/* watching from r1 (lost): COMPACTED, then the callback's 0
	 * resumes at the compaction point, so "2" and "3" come */
	w = mc_etcd_watch_start(e, "/t/c/k", 6, NULL, 0, 0, r1, rec_fn, &r,
				&err);
	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(rec_wait(&r, MC_ETCD_EV_COMPACTED, 1, 5000), 1);
	ck_assert_int_eq(rec_wait(&r, MC_ETCD_EV_PUT, 2, 5000), 2);
	rec_kv_events(&r, got, sizeof(got));
	ck_assert_str_eq(got, "P:/t/c/k=2 P:/t/c/k=3 ");
	for (int i = 0; i < r.n; i++)
		if (r.ev[i].type == MC_ETCD_EV_COMPACTED)
			ck_assert_int_ge(r.ev[i].revision, r2);
	mc_etcd_watch_stop(w);
	rec_release(&r);

	/* the callback may instead restart further on: r3 only */
	rec_init(&r);
	r.on_compact = r3;
	w = mc_etcd_watch_start(e, "/t/c/k", 6, NULL, 0, 0, r1, rec_fn, &r,
				&err);
	ck_assert_int_eq(rec_wait(&r, MC_ETCD_EV_PUT, 1, 5000), 1);
	etcd_sleep_ms(100);
	rec_kv_events(&r, got, sizeof(got));
	ck_assert_str_eq(got, "P:/t/c/k=3 ");
	mc_etcd_watch_stop(w);
	rec_release(&r);

	/* or end the stream: no callback after its -1 */
	rec_init(&r);
	w = mc_etcd_watch_start(e, "/t/c/k", 6, NULL, 0, 0, r2, stop_fn, &r,
				&err);
	ck_assert_int_eq(rec_wait(&r, MC_ETCD_EV_PUT, 1, 5000), 1);
	ck_assert_int_eq(mc_etcd_put(e, "/t/c/k", 6, "4", 1, 0, NULL, &err), 0);
	etcd_sleep_ms(200);
	rec_kv_events(&r, got, sizeof(got));
	ck_assert_str_eq(got, "P:/t/c/k=2 ");
	mc_etcd_watch_stop(w);
	rec_release(&r);
	mc_etcd_free(e);
}
END_TEST

/* --- election ------------------------------------------------------------ */

struct campaigner {
	struct mc_etcd *e;
	const char *name;
	int64_t lease;
	const char *value;
	struct mc_etcd_cancel *cancel;
	struct mc_etcd_leader_key lk;
	struct mc_err err;
	_Atomic int rc;
	_Atomic bool done;
	uint64_t at; /* when it returned */
	pthread_t th;
};

static void *campaign_main(void *arg)
{
	struct campaigner *c = arg;
	int rc = mc_etcd_campaign(c->e, c->name, strlen(c->name), c->lease,
				  c->value, strlen(c->value), c->cancel, &c->lk,
				  &c->err);

	c->at = etcd_ms_now();
	atomic_store(&c->rc, rc);
	atomic_store(&c->done, true);
	return NULL;
}

static void campaign_bg(struct campaigner *c)
{
	atomic_store(&c->done, false);
	ck_assert_int_eq(pthread_create(&c->th, NULL, campaign_main, c), 0);
}

static bool wait_done(struct campaigner *c, unsigned ms)
{
	uint64_t end = etcd_ms_now() + ms;

	while (!atomic_load(&c->done) && etcd_ms_now() < end)
		etcd_sleep_ms(10);
	return atomic_load(&c->done);
}

START_TEST(test_election)
{
	struct mc_etcd *e = client();
	struct mc_err err = {0, ""};
	struct mc_etcd_watch *ob;
	struct mc_etcd_kv kv;
	struct rec r;
	int64_t la = 0, lb = 0;
	struct campaigner a = {.e = e, .name = "/t/elect", .value = "A"};
	struct campaigner b = {.e = e, .name = "/t/elect", .value = "B"};

	rec_init(&r);
	ck_assert_int_eq(mc_etcd_leader(e, "/t/elect", 8, &kv, &err), -ENOENT);
	ck_assert_msg(strstr(err.msg, "no leader"), "%s", err.msg);
	ob = mc_etcd_observe_start(e, "/t/elect", 8, rec_fn, &r, &err);
	ck_assert_ptr_nonnull(ob);
	ck_assert_int_eq(mc_etcd_lease_grant(e, 30, 0, &la, NULL, &err), 0);
	ck_assert_int_eq(mc_etcd_lease_grant(e, 30, 0, &lb, NULL, &err), 0);
	a.lease = la;
	b.lease = lb;

	/* A wins at once; B waits */
	campaign_bg(&a);
	ck_assert(wait_done(&a, 3000));
	ck_assert_msg(a.rc == 0, "%s", a.err.msg);
	pthread_join(a.th, NULL);
	ck_assert_int_eq(a.lk.lease, la);
	ck_assert_int_gt(a.lk.rev, 0);
	ck_assert_int_eq(a.lk.name_len, 8);
	campaign_bg(&b);
	etcd_sleep_ms(300);
	ck_assert(!atomic_load(&b.done));
	ck_assert_int_eq(mc_etcd_leader(e, "/t/elect", 8, &kv, &err), 0);
	ck_assert_str_eq(kv.value, "A");
	ck_assert_int_eq(kv.create_revision, a.lk.rev);
	mc_etcd_kv_release(&kv);
	ck_assert_int_ge(rec_wait(&r, MC_ETCD_EV_LEADER, 1, 3000), 1);

	/* A proclaims a new value; observe sees it */
	ck_assert_int_eq(mc_etcd_proclaim(e, &a.lk, "A2", 2, &err), 0);
	ck_assert_int_eq(mc_etcd_leader(e, "/t/elect", 8, &kv, &err), 0);
	ck_assert_str_eq(kv.value, "A2");
	ck_assert_int_eq(kv.create_revision, a.lk.rev); /* same reign */
	mc_etcd_kv_release(&kv);
	ck_assert_int_ge(rec_wait(&r, MC_ETCD_EV_LEADER, 2, 3000), 2);

	/* A resigns: B leads, with a larger revision (the term grows) */
	ck_assert_int_eq(mc_etcd_resign(e, &a.lk, &err), 0);
	ck_assert(wait_done(&b, 3000));
	ck_assert_msg(b.rc == 0, "%s", b.err.msg);
	pthread_join(b.th, NULL);
	ck_assert_int_gt(b.lk.rev, a.lk.rev);
	ck_assert_int_ge(rec_wait(&r, MC_ETCD_EV_LEADER, 3, 3000), 3);
	pthread_mutex_lock(&r.lock);
	ck_assert_str_eq(r.ev[r.n - 1].value, "B");
	ck_assert_int_eq(r.ev[r.n - 1].create_revision, b.lk.rev);
	pthread_mutex_unlock(&r.lock);
	/* the resigned A may not proclaim; resigning twice is fine */
	ck_assert_int_eq(mc_etcd_proclaim(e, &a.lk, "A3", 2, &err), -EPERM);
	ck_assert_msg(strstr(err.msg, "not leader"), "%s", err.msg);
	ck_assert_int_eq(mc_etcd_resign(e, &a.lk, &err), 0);

	/* campaigning again with the same lease keeps the key and place */
	struct campaigner b2 = {
		.e = e, .name = "/t/elect", .value = "B", .lease = lb};

	campaign_bg(&b2);
	ck_assert(wait_done(&b2, 3000));
	pthread_join(b2.th, NULL);
	ck_assert_int_eq(b2.rc, 0);
	ck_assert_int_eq(b2.lk.rev, b.lk.rev);
	mc_etcd_leader_key_release(&b2.lk);

	ck_assert_int_eq(mc_etcd_lease_revoke(e, lb, &err), 0);
	ck_assert_int_eq(mc_etcd_lease_revoke(e, la, &err), 0);
	ck_assert_int_eq(mc_etcd_leader(e, "/t/elect", 8, &kv, &err), -ENOENT);
	mc_etcd_watch_stop(ob);
	mc_etcd_leader_key_release(&a.lk);
	mc_etcd_leader_key_release(&b.lk);
	ck_assert_int_eq(mc_etcd_campaign(e, "/t/elect", 8, 0, "x", 1, NULL,
					  &a.lk, &err),
			 -EINVAL);
	rec_release(&r);
	mc_etcd_free(e);
}
END_TEST

START_TEST(test_election_lease_end)
{
	struct mc_etcd *e = client();
	struct mc_err err = {0, ""};
	struct mc_etcd_kvs ks;
	int64_t la = 0, lb = 0, lc = 0;
	struct campaigner a = {.e = e, .name = "/t/el2", .value = "A"};
	struct campaigner b = {.e = e, .name = "/t/el2", .value = "B"};
	struct campaigner c = {.e = e, .name = "/t/el2", .value = "C"};
	uint64_t t0;

	/* A leads on a 1 s lease nobody renews; B waits on a kept one */
	ck_assert_int_eq(mc_etcd_lease_grant(e, 1, 0, &la, NULL, &err), 0);
	ck_assert_int_eq(mc_etcd_lease_grant(e, 30, 0, &lb, NULL, &err), 0);
	ck_assert_int_eq(mc_etcd_lease_grant(e, 30, 0, &lc, NULL, &err), 0);
	a.lease = la;
	b.lease = lb;
	c.lease = lc;
	campaign_bg(&a);
	ck_assert(wait_done(&a, 3000));
	pthread_join(a.th, NULL);
	ck_assert_int_eq(a.rc, 0);
	t0 = etcd_ms_now();
	campaign_bg(&b);
	ck_assert(wait_done(&b, 5000));
	pthread_join(b.th, NULL);
	ck_assert_msg(b.rc == 0, "%s", b.err.msg);
	ck_assert_int_gt(b.lk.rev, a.lk.rev);
	ck_assert_uint_ge(b.at - t0, 300); /* not before A's lease could end */

	/* C waits, then cancels: it returns at once and its key is gone */
	c.cancel = mc_etcd_cancel_new();
	campaign_bg(&c);
	etcd_sleep_ms(300);
	ck_assert(!atomic_load(&c.done));
	ck_assert_int_eq(mc_etcd_range(e, "/t/el2/", 7, NULL, 0, MC_ETCD_PREFIX,
				       0, 0, &ks, &err),
			 0);
	ck_assert_uint_eq(ks.n, 2); /* B's and C's */
	mc_etcd_kvs_release(&ks);
	t0 = etcd_ms_now();
	mc_etcd_cancel_fire(c.cancel);
	ck_assert(mc_etcd_cancel_fired(c.cancel));
	ck_assert(wait_done(&c, 2000));
	pthread_join(c.th, NULL);
	ck_assert_int_eq(c.rc, -ECANCELED);
	ck_assert_uint_lt(c.at - t0, 500);
	bool gone = false;

	for (int i = 0; i < 50 && !gone; i++) {
		ck_assert_int_eq(mc_etcd_range(e, "/t/el2/", 7, NULL, 0,
					       MC_ETCD_PREFIX, 0, 0, &ks, &err),
				 0);
		gone = ks.n == 1;
		mc_etcd_kvs_release(&ks);
		if (!gone)
			etcd_sleep_ms(20);
	}
	ck_assert_msg(gone, "a cancelled candidate's key stayed");
	/* a fired token cancels before anything is sent; reset clears it */
	ck_assert_int_eq(mc_etcd_campaign(e, "/t/el2", 6, lc, "C", 1, c.cancel,
					  &c.lk, &err),
			 -ECANCELED);
	mc_etcd_cancel_reset(c.cancel);
	ck_assert(!mc_etcd_cancel_fired(c.cancel));
	mc_etcd_cancel_free(c.cancel);
	mc_etcd_cancel_free(NULL);

	mc_etcd_lease_revoke(e, lb, &err);
	mc_etcd_lease_revoke(e, lc, &err);
	mc_etcd_leader_key_release(&a.lk);
	mc_etcd_leader_key_release(&b.lk);
	mc_etcd_free(e);
}
END_TEST

/* --- failures: a stopped, a paused, a dead and a lying etcd --------------- */

START_TEST(test_restart)
{
	struct etcd_proc p;
	struct mc_etcd *e;
	struct mc_err err = {0, ""};
	struct mc_etcd_watch *w;
	struct mc_etcd_kv kv;
	struct rec r;
	char got[2048], want[2048] = "";
	uint64_t t0;
	int rc;

	ck_assert_int_eq(etcd_proc_start(&p), 0);
	e = client_to(p.url, 1000);
	rec_init(&r);
	w = mc_etcd_watch_start(e, "/t/r/", 5, NULL, 0, MC_ETCD_PREFIX, 0,
				rec_fn, &r, &err);
	ck_assert_int_eq(rec_wait(&r, MC_ETCD_EV_CREATED, 1, 5000), 1);
	ck_assert_int_eq(mc_etcd_put(e, "/t/r/0", 6, "0", 1, 0, NULL, &err), 0);
	strcat(want, "P:/t/r/0=0 ");

	etcd_proc_stop(&p);
	/* calls fail cleanly within their budget, naming the endpoint */
	t0 = etcd_ms_now();
	rc = mc_etcd_put(e, "/t/r/x", 6, "x", 1, 0, NULL, &err);
	ck_assert_int_eq(rc, -ECONNREFUSED);
	ck_assert_uint_lt(etcd_ms_now() - t0, 1500);
	ck_assert_msg(strstr(err.msg, p.url), "%s", err.msg);
	ck_assert_int_eq(err.code, MC_RPC_FAIL);
	ck_assert_int_ge(rec_wait(&r, MC_ETCD_EV_DISCONNECTED, 1, 3000), 1);

	/* back: calls work, the watch resumes where it was and every
	 * event made after the restart comes exactly once, in order */
	ck_assert_int_eq(etcd_proc_restart(&p), 0);
	for (int i = 1; i <= 20; i++) {
		char k[16], v[8];

		snprintf(k, sizeof(k), "/t/r/%d", i);
		snprintf(v, sizeof(v), "%d", i);
		ck_assert_int_eq(mc_etcd_put(e, k, strlen(k), v, strlen(v), 0,
					     NULL, &err),
				 0);
		snprintf(want + strlen(want), sizeof(want) - strlen(want),
			 "P:%s=%s ", k, v);
		if (i % 5 == 0)
			etcd_sleep_ms(30);
	}
	ck_assert_int_eq(rec_wait(&r, MC_ETCD_EV_PUT, 21, 5000), 21);
	etcd_sleep_ms(100);
	rec_kv_events(&r, got, sizeof(got));
	ck_assert_str_eq(got, want);
	ck_assert_int_eq(mc_etcd_get(e, "/t/r/0", 6, &kv, &err), 0);
	mc_etcd_kv_release(&kv);
	mc_etcd_watch_stop(w);
	rec_release(&r);
	mc_etcd_free(e);
	etcd_proc_destroy(&p);
}
END_TEST

START_TEST(test_paused)
{
	struct etcd_proc p;
	struct mc_etcd *e;
	struct mc_err err = {0, ""};
	int64_t id = 0;
	uint64_t t0;

	ck_assert_int_eq(etcd_proc_start(&p), 0);
	e = client_to(p.url, 800);
	ck_assert_int_eq(mc_etcd_lease_grant(e, 5, 0, &id, NULL, &err), 0);
	etcd_proc_pause(&p);
	/* connections open, nobody answers: a timeout inside the budget */
	t0 = etcd_ms_now();
	ck_assert_int_eq(mc_etcd_lease_keepalive(e, id, NULL, &err),
			 -ETIMEDOUT);
	ck_assert_uint_ge(etcd_ms_now() - t0, 700);
	ck_assert_uint_lt(etcd_ms_now() - t0, 1500);
	ck_assert_msg(strstr(err.msg, "/v3/lease/keepalive"), "%s", err.msg);
	/* a grant is not repeated once it may have been sent */
	ck_assert_int_eq(mc_etcd_lease_grant(e, 5, 0, &id, NULL, &err),
			 -ETIMEDOUT);
	ck_assert_msg(strstr(err.msg, "outcome unknown"), "%s", err.msg);
	etcd_proc_resume(&p);
	ck_assert_int_eq(mc_etcd_lease_keepalive(e, id, NULL, &err), 0);
	mc_etcd_free(e);
	etcd_proc_destroy(&p);
}
END_TEST

START_TEST(test_dead_endpoint)
{
	char eps[256];
	struct mc_etcd *e;
	struct mc_err err = {0, ""};
	struct mc_etcd_watch *w;
	struct rec r;
	uint64_t t0;

	/* a dead endpoint first: every call still works, and after the
	 * first failure the client stays on the live one */
	snprintf(eps, sizeof(eps), "http://127.0.0.1:%u,%s", etcd_free_port(),
		 E.url);
	e = client_to(eps, 2000);
	t0 = etcd_ms_now();
	ck_assert_int_eq(mc_etcd_put(e, "/t/d/a", 6, "1", 1, 0, NULL, &err), 0);
	ck_assert_str_eq(mc_etcd_endpoint(e), E.url);
	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(
			mc_etcd_put(e, "/t/d/a", 6, "1", 1, 0, NULL, &err), 0);
	ck_assert_uint_lt(etcd_ms_now() - t0, 1500);
	mc_etcd_free(e);

	/* a watch starting on the dead one moves on by itself */
	rec_init(&r);
	e = client_to(eps, 2000);
	w = mc_etcd_watch_start(e, "/t/d/", 5, NULL, 0, MC_ETCD_PREFIX, 0,
				rec_fn, &r, &err);
	ck_assert_int_eq(rec_wait(&r, MC_ETCD_EV_CREATED, 1, 5000), 1);
	ck_assert_int_ge(rec_wait(&r, MC_ETCD_EV_DISCONNECTED, 1, 0), 1);
	ck_assert_msg(r.ev[0].type == MC_ETCD_EV_DISCONNECTED, "first event %d",
		      r.ev[0].type);
	ck_assert_int_eq(mc_etcd_put(e, "/t/d/b", 6, "2", 1, 0, NULL, &err), 0);
	ck_assert_int_eq(rec_wait(&r, MC_ETCD_EV_PUT, 1, 5000), 1);
	mc_etcd_watch_stop(w);
	rec_release(&r);
	mc_etcd_free(e);

	/* only dead endpoints: a clean -ECONNREFUSED within the budget */
	snprintf(eps, sizeof(eps), "http://127.0.0.1:%u,http://127.0.0.1:%u",
		 etcd_free_port(), etcd_free_port());
	e = client_to(eps, 600);
	t0 = etcd_ms_now();
	ck_assert_int_eq(mc_etcd_put(e, "/t/d/a", 6, "1", 1, 0, NULL, &err),
			 -ECONNREFUSED);
	ck_assert_uint_lt(etcd_ms_now() - t0, 1200);
	ck_assert_msg(strstr(err.msg, "failed after"), "%s", err.msg);
	mc_etcd_free(e);
}
END_TEST

/* A liar: a loopback HTTP server that answers something that is not
 * etcd, one connection at a time, until told to stop. */
enum liar_mode {
	LIAR_GARBAGE,
	LIAR_HTML,
	LIAR_ENDLESS,
	LIAR_SILENT,
	LIAR_STREAM_GARBAGE
};

struct liar {
	enum liar_mode mode;
	int fd;
	unsigned port;
	_Atomic bool stop;
	_Atomic int conns;
	pthread_t th;
};

static void liar_serve(struct liar *l, int c)
{
	static const char garbage[] =
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
	static const char html[] =
		"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\n"
		"Content-Length: 20\r\n\r\n<html>nothing</html>";
	static const char endless[] =
		"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n";
	static const char stream[] =
		"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n"
		"{\"result\":{\"header\":{\"revision\":\"1\"},\"created\":true}"
		"}\n"
		"{\"result\":{\"events\":[{\"kv\":{\"key\":\"!!\"}}]}}\n";
	char buf[4096], chunk[8192];
	uint64_t end = etcd_ms_now() + 3000;
	struct pollfd p = {.fd = c, .events = POLLIN};

	/* read the request (headers and a small body) */
	if (poll(&p, 1, 1000) == 1 && read(c, buf, sizeof(buf)) <= 0)
		return;
	switch (l->mode) {
	case LIAR_GARBAGE:
		(void)!write(c, garbage, sizeof(garbage) - 1);
		break;
	case LIAR_HTML:
		(void)!write(c, html, sizeof(html) - 1);
		break;
	case LIAR_STREAM_GARBAGE:
		(void)!write(c, stream, sizeof(stream) - 1);
		break;
	case LIAR_ENDLESS:
		memset(chunk, '[', sizeof(chunk));
		(void)!write(c, endless, sizeof(endless) - 1);
		while (!l->stop && etcd_ms_now() < end &&
		       write(c, chunk, sizeof(chunk)) > 0)
			;
		break;
	case LIAR_SILENT:
		while (!l->stop && etcd_ms_now() < end)
			etcd_sleep_ms(20);
		break;
	}
}

static void *liar_main(void *arg)
{
	struct liar *l = arg;

	while (!atomic_load(&l->stop)) {
		struct pollfd p = {.fd = l->fd, .events = POLLIN};

		if (poll(&p, 1, 50) != 1)
			continue;
		int c = accept(l->fd, NULL, NULL);

		if (c < 0)
			continue;
		atomic_fetch_add(&l->conns, 1);
		liar_serve(l, c);
		close(c);
	}
	return NULL;
}

static void liar_start(struct liar *l, enum liar_mode mode)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);

	memset(l, 0, sizeof(*l));
	l->mode = mode;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l->fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(l->fd, 0);
	ck_assert_int_eq(bind(l->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(l->fd, 16), 0);
	getsockname(l->fd, (struct sockaddr *)&a, &len);
	l->port = ntohs(a.sin_port);
	ck_assert_int_eq(pthread_create(&l->th, NULL, liar_main, l), 0);
}

static void liar_stop(struct liar *l)
{
	atomic_store(&l->stop, true);
	pthread_join(l->th, NULL);
	close(l->fd);
}

START_TEST(test_lying_endpoint)
{
	static const struct {
		enum liar_mode mode;
		int rc; /* of a put against the liar alone */
	} t[] = {
		{LIAR_GARBAGE, -EPROTO},
		{LIAR_HTML, -EPROTO},
		{LIAR_ENDLESS, -EMSGSIZE},
		{LIAR_SILENT, -ETIMEDOUT},
	};

	/* static: a failed assertion leaves the test with the liar's thread
	 * still running, and it must not then read a dead stack frame */
	static struct liar l;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct mc_err err = {0, ""};
		struct mc_etcd_opts o;
		char eps[256];
		uint64_t t0;

		liar_start(&l, t[i].mode);
		/* alone: a clean error, within the budget */
		snprintf(eps, sizeof(eps), "http://127.0.0.1:%u", l.port);
		mc_etcd_opts_default(&o);
		o.endpoints = eps;
		o.timeout_ms = 700;
		o.max_response = 1u << 20;
		struct mc_etcd *e = mc_etcd_new(&o, &err);

		t0 = etcd_ms_now();
		int rc = mc_etcd_put(e, "/t/liar", 7, "x", 1, 0, NULL, &err);

		ck_assert_msg(rc == t[i].rc, "mode %d: %d (%s)", t[i].mode, rc,
			      err.msg);
		ck_assert_msg(err.msg[0], "mode %d: no message", t[i].mode);
		ck_assert_uint_lt(etcd_ms_now() - t0, 3500);
		mc_etcd_free(e);
		/* first in a list with the real etcd: calls go through */
		if (t[i].mode != LIAR_ENDLESS) {
			snprintf(eps, sizeof(eps), "http://127.0.0.1:%u,%s",
				 l.port, E.url);
			o.endpoints = eps;
			/* the budget is the liar's; the real etcd may be
			 * slow on a loaded machine */
			o.timeout_ms = 5000;
			e = mc_etcd_new(&o, &err);
			ck_assert_msg(mc_etcd_put(e, "/t/liar", 7, "x", 1, 0,
						  NULL, &err) == 0,
				      "mode %d: %s", t[i].mode, err.msg);
			ck_assert_str_eq(mc_etcd_endpoint(e), E.url);
			mc_etcd_free(e);
		}
		liar_stop(&l);
	}

	/* a watch fed garbage: DISCONNECTED with the reason, no event,
	 * then it moves on to the real etcd */
	struct rec r;
	struct mc_err err;
	char eps[256];

	liar_start(&l, LIAR_STREAM_GARBAGE);
	snprintf(eps, sizeof(eps), "http://127.0.0.1:%u,%s", l.port, E.url);
	struct mc_etcd *e = client_to(eps, 2000);

	rec_init(&r);
	struct mc_etcd_watch *w = mc_etcd_watch_start(e, "/t/liar", 7, NULL, 0,
						      0, 0, rec_fn, &r, &err);

	ck_assert_int_ge(rec_wait(&r, MC_ETCD_EV_DISCONNECTED, 1, 5000), 1);
	ck_assert_int_ge(rec_wait(&r, MC_ETCD_EV_CREATED, 2, 5000), 2);
	ck_assert_int_eq(mc_etcd_put(e, "/t/liar", 7, "y", 1, 0, NULL, &err),
			 0);
	/* the liar said "revision 1", so the real etcd replays the key's
	 * history from there: the earlier "x" puts, then "y" */
	char got[512];

	for (int i = 0; i < 100; i++) {
		rec_kv_events(&r, got, sizeof(got));
		if (strstr(got, "=y "))
			break;
		etcd_sleep_ms(50);
	}
	ck_assert_msg(strstr(got, "P:/t/liar=x P:/t/liar=y "), "%s", got);
	mc_etcd_watch_stop(w);
	rec_release(&r);
	mc_etcd_free(e);
	liar_stop(&l);
	ck_assert_int_ge(atomic_load(&l.conns), 1);
}
END_TEST

static Suite *etcd_suite(void)
{
	Suite *s = suite_create("etcd");
	TCase *t = tcase_create("codec");
	TCase *k = tcase_create("etcd");
	TCase *f = tcase_create("failures");

	tcase_add_test(t, test_opts_hostile);
	tcase_add_test(t, test_b64);
	tcase_add_test(t, test_answer_hostile);
	tcase_add_test(t, test_kv_parse_hostile);
	tcase_add_test(t, test_stream_hostile);
	tcase_add_test(t, test_prefix_end);
	suite_add_tcase(s, t);

	tcase_add_unchecked_fixture(k, suite_etcd_up, suite_etcd_down);
	tcase_set_timeout(k, 30);
	tcase_add_test(k, test_kv);
	tcase_add_test(k, test_cas);
	tcase_add_test(k, test_huge);
	tcase_add_test(k, test_lease_calls);
	tcase_add_test(k, test_lease_expiry);
	tcase_add_test(k, test_watch);
	tcase_add_test(k, test_watch_compacted);
	tcase_add_test(k, test_election);
	tcase_add_test(k, test_election_lease_end);
	suite_add_tcase(s, k);

	tcase_add_unchecked_fixture(f, suite_etcd_up, suite_etcd_down);
	tcase_set_timeout(f, 30);
	tcase_add_test(f, test_restart);
	tcase_add_test(f, test_paused);
	tcase_add_test(f, test_dead_endpoint);
	tcase_add_test(f, test_lying_endpoint);
	suite_add_tcase(s, f);
	return s;
}

MC_CHECK_MAIN(etcd_suite)
