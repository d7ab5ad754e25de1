/*
 * check_web.c - the HTTP door without a socket: the route table, the
 * status table and error bodies, percent-decoding, query parameters,
 * keys, JSON bodies and the segment request checks.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json-c/json.h>

#include "api.h"
#include "check.h"
#include "guard.h"
#include "page.h"
#include "parse.h"
#include "route.h"
#include "status.h"
#include "web.h"

/* ------------------------------------------------------------- routes */

START_TEST(test_route_table)
{
	static const struct {
		const char *path;
		unsigned method;
		enum web_route_result res;
		const char *label; /* route found, or NULL */
		unsigned allow;
	} t[] = {
		{"/health", WEB_M_GET, WEB_ROUTE_OK, "/health", 0},
		{"/health", WEB_M_HEAD, WEB_ROUTE_OK, "/health", 0},
		{"/health", WEB_M_POST, WEB_ROUTE_BAD_METHOD, "/health",
		 WEB_M_GET | WEB_M_HEAD},
		{"/health/", WEB_M_GET, WEB_ROUTE_NOT_FOUND, NULL, 0},
		{"/healthz", WEB_M_GET, WEB_ROUTE_NOT_FOUND, NULL, 0},
		{"/", WEB_M_GET, WEB_ROUTE_OK, "/", 0},
		{"/", WEB_M_POST, WEB_ROUTE_BAD_METHOD, "/",
		 WEB_M_GET | WEB_M_HEAD},
		{"/status", WEB_M_HEAD, WEB_ROUTE_OK, "/status", 0},
		{"/status/", WEB_M_GET, WEB_ROUTE_NOT_FOUND, NULL, 0},
		{"//", WEB_M_GET, WEB_ROUTE_NOT_FOUND, NULL, 0},
		{"", WEB_M_GET, WEB_ROUTE_NOT_FOUND, NULL, 0},
		{"/metrics", WEB_M_GET, WEB_ROUTE_OK, "/metrics", 0},
		{"/metrics/summary", WEB_M_GET, WEB_ROUTE_OK,
		 "/metrics/summary", 0},
		{"/metrics/summaryx", WEB_M_GET, WEB_ROUTE_NOT_FOUND, NULL, 0},
		{"/query_key", WEB_M_DELETE, WEB_ROUTE_BAD_METHOD, "/query_key",
		 WEB_M_GET | WEB_M_HEAD},
		{"/batch_query_keys", WEB_M_GET, WEB_ROUTE_OK,
		 "/batch_query_keys", 0},
		{"/api/put", WEB_M_PUT, WEB_ROUTE_OK, "/api/put", 0},
		{"/api/put", WEB_M_GET, WEB_ROUTE_BAD_METHOD, "/api/put",
		 WEB_M_PUT},
		{"/api/put/k", WEB_M_PUT, WEB_ROUTE_OK, "/api/put/{key}", 0},
		{"/api/put/", WEB_M_PUT, WEB_ROUTE_OK, "/api/put/{key}", 0},
		{"/api/put/a/b", WEB_M_PUT, WEB_ROUTE_OK, "/api/put/{key}", 0},
		{"/api/get/k", WEB_M_GET, WEB_ROUTE_OK, "/api/get/{key}", 0},
		{"/api/get/k", WEB_M_HEAD, WEB_ROUTE_OK, "/api/get/{key}", 0},
		{"/api/get/k", WEB_M_PUT, WEB_ROUTE_BAD_METHOD,
		 "/api/get/{key}", WEB_M_GET | WEB_M_HEAD},
		{"/api/get", WEB_M_GET, WEB_ROUTE_NOT_FOUND, NULL, 0},
		{"/api/remove/k", WEB_M_DELETE, WEB_ROUTE_OK,
		 "/api/remove/{key}", 0},
		{"/api/remove_all", WEB_M_DELETE, WEB_ROUTE_OK,
		 "/api/remove_all", 0},
		{"/api/remove_all", WEB_M_POST, WEB_ROUTE_BAD_METHOD,
		 "/api/remove_all", WEB_M_DELETE},
		{"/api/mount", WEB_M_POST, WEB_ROUTE_OK, "/api/mount", 0},
		{"/api/mount", WEB_M_GET, WEB_ROUTE_BAD_METHOD, "/api/mount",
		 WEB_M_POST},
		{"/api/mount_shm", WEB_M_POST, WEB_ROUTE_OK, "/api/mount_shm",
		 0},
		{"/api/unmount_shm", WEB_M_POST, WEB_ROUTE_OK,
		 "/api/unmount_shm", 0},
		{"/api/v1/put_start", WEB_M_POST, WEB_ROUTE_OK,
		 "/api/v1/put_start", 0},
		{"/api/v1/put_end", WEB_M_OTHER, WEB_ROUTE_BAD_METHOD,
		 "/api/v1/put_end", WEB_M_POST},
		{"/API/mount", WEB_M_POST, WEB_ROUTE_NOT_FOUND, NULL, 0},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const struct web_route *rt = (void *)1;
		unsigned allow = 0;
		enum web_route_result res = web_route_lookup(
			t[i].path, strlen(t[i].path), t[i].method, &rt, &allow);

		ck_assert_msg(res == t[i].res, "%s: result %d, want %d",
			      t[i].path, res, t[i].res);
		if (t[i].label) {
			ck_assert_ptr_nonnull(rt);
			ck_assert_str_eq(rt->label, t[i].label);
		} else {
			ck_assert_ptr_null(rt);
		}
		if (res != WEB_ROUTE_OK)
			ck_assert_msg(allow == t[i].allow, "%s: allow %#x",
				      t[i].path, allow);
	}
}
END_TEST

/* ---------------------------------------------------------- status page */

START_TEST(test_html_escape)
{
	static const struct {
		const char *in;
		size_t n; /* 0: strlen */
		const char *want;
	} t[] = {
		{"plain", 0, "plain"},
		{"<script>alert(1)</script>", 0,
		 "&lt;script&gt;alert(1)&lt;/script&gt;"},
		{"a&b", 0, "a&amp;b"},
		{"\"><img src=x>", 0, "&quot;&gt;&lt;img src=x&gt;"},
		{"it's", 0, "it&#39;s"},
		{"&amp;", 0, "&amp;amp;"},
		{"tab\tnl\n", 0, "tab\tnl\n"},
		{"cr\rbell\a", 0,
		 "cr\xef\xbf\xbd"
		 "bell\xef\xbf\xbd"},
		{"del\x7f", 0, "del\xef\xbf\xbd"},
		{"nul\0in", 6,
		 "nul\xef\xbf\xbd"
		 "in"},
		{"caf\xc3\xa9", 0, "caf\xc3\xa9"}, /* UTF-8 kept */
		{"bad\xff\xfe", 0, "bad\xef\xbf\xbd\xef\xbf\xbd"},
		{"\xc3", 0, "\xef\xbf\xbd"},		     /* cut sequence */
		{"\xc0\xaf", 0, "\xef\xbf\xbd\xef\xbf\xbd"}, /* overlong / */
		{"\xed\xa0\x80", 0,			     /* surrogate */
		 "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
		{"", 0, ""},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct mc_buf b = {0};
		size_t n = t[i].n ? t[i].n : strlen(t[i].in);

		web_html_escape(&b, t[i].in, n);
		mc_buf_addch(&b, '\0');
		ck_assert_msg(!strcmp(b.data, t[i].want), "row %zu: got '%s'",
			      i, b.data);
		mc_buf_release(&b);
	}
}
END_TEST

/* The page from a store in memory: structure, escaping, no key walk. */
START_TEST(test_page_render)
{
	struct mc_store_opts o;
	struct mc_store *s;
	struct mc_mount_req req = {
		.size = 16u << 20, .name = "<b>x</b>", .location = "\"><i>"};
	struct mc_mount_result res;
	struct web_page_info pi = {.version = "9.9",
				   .hostname = "h&h",
				   .transfer = "h:1",
				   .mountpoint = NULL};
	struct mc_buf b = {0};
	char v[10000];

	mc_store_opts_default(&o);
	o.manual_tick = true;
	s = mc_store_new(&o, NULL);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(mc_segment_mount(s, &req, &res, NULL), 0);
	memset(v, 'v', sizeof(v));
	ck_assert_int_eq(mc_put(s, "a", 1, v, 10, NULL), 0);
	ck_assert_int_eq(mc_put(s, "b", 1, v, sizeof(v), NULL), 0);
	web_page_render(s, &pi, &b);
	mc_buf_addch(&b, '\0');
	ck_assert_ptr_nonnull(strstr(b.data, "<!DOCTYPE html>"));
	ck_assert_ptr_nonnull(strstr(b.data, "</html>\n"));
	ck_assert_ptr_null(strstr(b.data, "<script"));
	ck_assert_ptr_null(strstr(b.data, "<b>x"));
	ck_assert_ptr_null(strstr(b.data, "<i>"));
	ck_assert_ptr_nonnull(strstr(b.data, "&lt;b&gt;x&lt;/b&gt;"));
	ck_assert_ptr_nonnull(strstr(b.data, "<title>mooncaked on h&amp;h"));
	ck_assert_ptr_nonnull(strstr(b.data, res.ids[0]));
	ck_assert_ptr_nonnull(strstr(b.data, "control tree off"));
	ck_assert_ptr_nonnull(
		strstr(b.data, "<g class=\"class\" data-count=\"1\"><rect"));
	ck_assert_ptr_nonnull(strstr(b.data, "<dd>2</dd>")); /* keys */
	/* a NULL info still makes a page */
	mc_buf_reset(&b);
	web_page_render(s, NULL, &b);
	mc_buf_addch(&b, '\0');
	ck_assert_ptr_nonnull(strstr(b.data, "</html>"));
	mc_buf_release(&b);
	free(res.ids);
	mc_store_free(s);
}
END_TEST

START_TEST(test_route_table_sane)
{
	for (size_t i = 0; i < web_nroutes; i++) {
		const struct web_route *rt = &web_routes[i];
		size_t n = strlen(rt->pattern);

		ck_assert_ptr_nonnull(rt->fn);
		ck_assert(rt->pattern[0] == '/');
		ck_assert(rt->methods != 0);
		/* prefixes end in '/', exact paths do not (but "/") */
		ck_assert(rt->prefix == (n > 1 && rt->pattern[n - 1] == '/'));
		/* every route is reachable: no earlier row shadows it */
		for (size_t j = 0; j < i; j++)
			ck_assert_msg(
				strcmp(web_routes[j].pattern, rt->pattern) ||
					!(web_routes[j].methods & rt->methods),
				"%s shadowed", rt->pattern);
	}
}
END_TEST

START_TEST(test_methods)
{
	char buf[64];

	ck_assert_uint_eq(web_method_parse("GET"), WEB_M_GET);
	ck_assert_uint_eq(web_method_parse("DELETE"), WEB_M_DELETE);
	ck_assert_uint_eq(web_method_parse("get"), WEB_M_OTHER);
	ck_assert_uint_eq(web_method_parse("PATCH"), WEB_M_OTHER);
	ck_assert_uint_eq(web_method_parse(""), WEB_M_OTHER);
	web_method_allow(WEB_M_GET | WEB_M_HEAD, buf, sizeof(buf));
	ck_assert_str_eq(buf, "GET, HEAD");
	web_method_allow(WEB_M_POST, buf, sizeof(buf));
	ck_assert_str_eq(buf, "POST");
	web_method_allow(WEB_M_GET | WEB_M_HEAD | WEB_M_POST | WEB_M_PUT |
				 WEB_M_DELETE,
			 buf, 10);
	ck_assert_uint_lt(strlen(buf), 10);
	ck_assert_int_eq(web_route_default_kind("/api/x", 6), WEB_BODY_REST);
	ck_assert_int_eq(web_route_default_kind("/apix", 5), WEB_BODY_TEXT);
}
END_TEST

/* ------------------------------------------------------------- status */

START_TEST(test_status_table)
{
	static const struct {
		int rc, status;
		const char *name;
	} t[] = {
		{-ENOENT, 404, "OBJECT_NOT_FOUND"},
		{-EINVAL, 400, "INVALID_KEY"},
		{-ERANGE, 400, "INVALID_PARAMS"},
		{-EFBIG, 413, "INVALID_PARAMS"},
		{-ENOSPC, 507, "NO_AVAILABLE_HANDLE"},
		{-ENOMEM, 507, "NO_AVAILABLE_HANDLE"},
		{-EBUSY, 409, "OBJECT_HAS_LEASE"},
		{-EOPNOTSUPP, 501, "UNAVAILABLE_IN_CURRENT_STATUS"},
		{-ETIMEDOUT, 408, "INVALID_WRITE"},
		{-EPERM, 403, "ILLEGAL_CLIENT"},
		{-EREMOTEIO, 409, "REMOTE_ONLY"},
		{-EAGAIN, 503, "NO_LEADER"},
		{-ENOTCONN, 500, "INTERNAL_ERROR"},
		{0, 500, "INTERNAL_ERROR"},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_assert_int_eq(web_status_from_errno(t[i].rc), t[i].status);
		ck_assert_str_eq(web_status_code_name(t[i].rc), t[i].name);
	}
	ck_assert_str_eq(web_status_reason(200), "OK");
	ck_assert_str_eq(web_status_reason(405), "Method Not Allowed");
	ck_assert_str_eq(web_status_reason(431),
			 "Request Header Fields Too Large");
	ck_assert_str_eq(web_status_reason(507), "Insufficient Storage");
	ck_assert_str_eq(web_status_reason(299), "Unknown");
}
END_TEST

START_TEST(test_error_bodies)
{
	struct mc_buf b = MC_BUF_INIT;

	web_status_error_body(&b, WEB_BODY_TEXT, "OBJECT_NOT_FOUND", NULL);
	ck_assert_str_eq(b.data, "OBJECT_NOT_FOUND");
	mc_buf_reset(&b);
	web_status_error_body(&b, WEB_BODY_JSON, "No keys \"x\"", NULL);
	ck_assert_str_eq(b.data,
			 "{\"success\":false,\"error\":\"No keys \\\"x\\\"\"}");
	mc_buf_reset(&b);
	web_status_error_body(&b, WEB_BODY_REST, "Key not found", NULL);
	ck_assert_str_eq(b.data, "{\"error\":\"Key not found\"}");
	mc_buf_reset(&b);
	web_status_error_body(&b, WEB_BODY_REST, "bad\n",
			      "\"failed_segment_ids\":[\"a\"]");
	ck_assert_str_eq(
		b.data,
		"{\"error\":\"bad\\u000a\",\"failed_segment_ids\":[\"a\"]}");
	ck_assert_str_eq(web_status_ctype(WEB_BODY_TEXT), WEB_CT_TEXT);
	ck_assert_str_eq(web_status_ctype(WEB_BODY_REST), WEB_CT_JSON);
	mc_buf_release(&b);
}
END_TEST

/* ------------------------------------------------------------ decoding */

START_TEST(test_pct_decode)
{
	static const struct {
		const char *in;
		bool plus;
		ssize_t len; /* -EINVAL for an error */
		const char *out;
	} t[] = {
		{"abc", false, 3, "abc"},      {"", false, 0, ""},
		{"a%2Fb", false, 3, "a/b"},    {"a%2fb", false, 3, "a/b"},
		{"%25", false, 1, "%"},	       {"%00x", false, 2, "\0x"},
		{"%0D%0A", false, 2, "\r\n"},  {"%ff%FE", false, 2, "\xff\xfe"},
		{"a+b", false, 3, "a+b"},      {"a+b", true, 3, "a b"},
		{"%2B", true, 1, "+"},	       {"%", false, -EINVAL, NULL},
		{"%4", false, -EINVAL, NULL},  {"a%", false, -EINVAL, NULL},
		{"%zz", false, -EINVAL, NULL}, {"%g0", false, -EINVAL, NULL},
		{"%0g", false, -EINVAL, NULL}, {"%%41", false, -EINVAL, NULL},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char out[32];
		ssize_t n = web_pct_decode(t[i].in, strlen(t[i].in), out,
					   t[i].plus);

		ck_assert_msg(n == t[i].len, "'%s': %zd, want %zd", t[i].in, n,
			      t[i].len);
		if (n >= 0)
			ck_assert(memcmp(out, t[i].out, (size_t)n) == 0);
	}
}
END_TEST

START_TEST(test_query)
{
	struct mc_buf b = MC_BUF_INIT;
	size_t n;
	const char *v;

	v = web_query_raw("key=a%2Cb&keys=x", "key", &n);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(n, 5);
	ck_assert(memcmp(v, "a%2Cb", 5) == 0);
	v = web_query_raw("keys=x&key=y", "key", &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(*v, 'y');
	ck_assert_ptr_null(web_query_raw("keyx=1", "key", &n));
	ck_assert_ptr_null(web_query_raw(NULL, "key", &n));
	ck_assert_ptr_null(web_query_raw("", "key", &n));
	v = web_query_raw("a&key", "key", &n);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(n, 0);
	v = web_query_raw("key=1&key=2", "key", &n);
	ck_assert_int_eq(*v, '1');

	ck_assert_int_eq(web_query_get("key=a%20b+c", "key", &b), 0);
	ck_assert_str_eq(b.data, "a b c");
	ck_assert_int_eq(web_query_get("key=%zz", "key", &b), -EINVAL);
	ck_assert_int_eq(web_query_get("x=1", "key", &b), -ENOENT);
	ck_assert_int_eq(web_query_get("key=", "key", &b), 0);
	ck_assert_uint_eq(b.len, 0);
	mc_buf_release(&b);
}
END_TEST

START_TEST(test_keys)
{
	static const struct {
		const char *raw;
		int rc;
		const char *key;
	} t[] = {
		{"k", 0, "k"},		{"a/b", 0, "a/b"},
		{"a%2Fb", 0, "a/b"},	{"a%20b", 0, "a b"},
		{"a+b", 0, "a+b"},	{"100%25", 0, "100%"},
		{"%0D%0A", 0, "\r\n"},	{"%C3%A9", 0, "\xc3\xa9"},
		{"%FF", 0, "\xff"},	{"", -EINVAL, NULL},
		{"%00", -EINVAL, NULL}, {"a%00b", -EINVAL, NULL},
		{"%", -EINVAL, NULL},	{"%x1", -EINVAL, NULL},
	};
	struct mc_buf b = MC_BUF_INIT;
	char *big = malloc(3 * MC_KEY_MAX + 4);
	struct mc_err me;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		me.msg[0] = '\0';
		int rc = web_key_decode(t[i].raw, strlen(t[i].raw), &b, &me);

		ck_assert_msg(rc == t[i].rc, "'%s': %d", t[i].raw, rc);
		if (rc == 0)
			ck_assert_str_eq(b.data, t[i].key);
		else
			ck_assert(me.msg[0]);
	}
	/* 4096 bytes is the longest key, also when it arrives encoded */
	memset(big, 'k', MC_KEY_MAX + 1);
	ck_assert_int_eq(web_key_decode(big, MC_KEY_MAX, &b, &me), 0);
	ck_assert_int_eq(web_key_decode(big, MC_KEY_MAX + 1, &b, &me), -EINVAL);
	ck_assert_int_eq(me.code, MC_INVALID_KEY);
	for (size_t i = 0; i < MC_KEY_MAX; i++)
		memcpy(big + 3 * i, "%41", 3);
	ck_assert_int_eq(web_key_decode(big, 3 * MC_KEY_MAX, &b, &me), 0);
	ck_assert_uint_eq(b.len, MC_KEY_MAX);
	free(big);
	mc_buf_release(&b);
}
END_TEST

/* --------------------------------------------------------------- JSON */

START_TEST(test_json_hostile)
{
	static const char *const bad[] = {
		"",
		" ",
		"{",
		"}",
		"[]",
		"[1]",
		"1",
		"\"s\"",
		"null",
		"true",
		"{\"a\":1,}",
		"{\"a\":1} x",
		"{\"a\":1}{}",
		"{a:1}",
		"{\"a\":\"\xff\"}",
		"{\"a\":\"\xc3\"}",
		"{\"a\":01}",
		"{\"a\":1",
		"{\"a\":\"unterminated}",
		"{\"a\":NaN}",
		"{'a':1}",
		"{\"a\":'b'}",
		"{\"a\":Infinity}",
		"{\"a\":-Infinity}",
	};
	struct mc_err me;
	struct json_object *o;
	char *deep;
	size_t n = 100000;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		me.msg[0] = '\0';
		o = web_json_parse_object(bad[i], strlen(bad[i]), &me);
		ck_assert_msg(o == NULL, "accepted '%s'", bad[i]);
		ck_assert(me.msg[0]);
	}
	/* each message says what and where, in one line */
	static const struct {
		const char *body, *msg;
	} said[] = {
		{"", "Invalid JSON body, empty"},
		{"{\"a\":\"x\ty\"}",
		 "Invalid JSON body, unexpected control character at byte 7"},
		{"{\"a\":\"x\ny\"}",
		 "Invalid JSON body, unexpected control character at byte 7"},
		{"{\"a\":1} x",
		 "Invalid JSON body, unexpected character at byte 8"},
		/* json-c makes U+FFFD of half a surrogate pair: two keys
		 * would be one */
		{"{\"a\":\"s\\ud800\"}",
		 "Invalid JSON body, unexpected half of a \\u surrogate pair "
		 "at byte 7"},
		{"{\"a\":\"s\\uDC00\"}",
		 "Invalid JSON body, unexpected half of a \\u surrogate pair "
		 "at byte 7"},
		{"{\"a\":\"\\ud800\\u0041\"}",
		 "Invalid JSON body, unexpected half of a \\u surrogate pair "
		 "at byte 6"},
		{"{\"a\":\"\\ud800\\ud800\"}",
		 "Invalid JSON body, unexpected half of a \\u surrogate pair "
		 "at byte 6"},
		{"{\"a\":\"x\\ud800",
		 "Invalid JSON body, unexpected half of a \\u surrogate pair "
		 "at byte 7"},
		{"{'a':1}",
		 "Invalid JSON body, unexpected character at byte 1"},
		{"{\"a\":NaN}",
		 "Invalid JSON body, unexpected character at byte 5"},
		/* numbers as RFC 8259 writes them, the byte that breaks
		 * one named (json-c takes these, even strict) */
		{"{\"size\":007}",
		 "Invalid JSON body, unexpected character at byte 9"},
		{"{\"a\":00}",
		 "Invalid JSON body, unexpected character at byte 6"},
		{"{\"a\":-01}",
		 "Invalid JSON body, unexpected character at byte 7"},
		{"{\"a\":1.}",
		 "Invalid JSON body, unexpected character at byte 7"},
		{"{\"a\":00.5}",
		 "Invalid JSON body, unexpected character at byte 6"},
		{"{\"a\":1e}",
		 "Invalid JSON body, unexpected character at byte 7"},
		{"{\"a\":1.5e+}",
		 "Invalid JSON body, unexpected character at byte 10"},
		{"{\"a\":-}",
		 "Invalid JSON body, unexpected character at byte 6"},
		{"{\"a\":.5}",
		 "Invalid JSON body, unexpected character at byte 5"},
		{"{\"a\":1.5.5}",
		 "Invalid JSON body, unexpected character at byte 8"},
		{"16777216", "Invalid JSON body, must be an object"},
		{"[1]", "Invalid JSON body, must be an object"},
		{"null", "Invalid JSON body, must be an object"},
		{"null \r\n", "Invalid JSON body, must be an object"},
		{"null 1", "Invalid JSON body, unexpected character at byte 5"},
		{"true", "Invalid JSON body, must be an object"},
		/* json-c keeps the last of two: a first value is not
		 * dropped unsaid */
		{"{\"a\":1,\"a\":2}", "Invalid JSON body, duplicate field 'a'"},
		{"{\"size\":1,\"b\":[],\"size\":1}",
		 "Invalid JSON body, duplicate field 'size'"},
		{"{\"a\":1,\"\\u0061\":2}",
		 "Invalid JSON body, duplicate field '\\u0061'"},
		{"{\"x\":[{\"b\":1},{\"c\":{\"b\":1,\"b\":1}}]}",
		 "Invalid JSON body, duplicate field 'b'"},
	};
	for (size_t i = 0; i < sizeof(said) / sizeof(said[0]); i++) {
		o = web_json_parse_object(said[i].body, strlen(said[i].body),
					  &me);
		ck_assert_ptr_null(o);
		ck_assert_str_eq(me.msg, said[i].msg);
	}
	/* json-c's own findings say where too */
	static const char *const where[] = {"{\"a\":1", "{\"a\":\"\xff\"}",
					    "{\"a\":01}", "{\"a\" 1}"};
	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		o = web_json_parse_object(where[i], strlen(where[i]), &me);
		ck_assert_ptr_null(o);
		ck_assert_msg(!strncmp(me.msg, "Invalid JSON body, ", 19) &&
				      strstr(me.msg, " at byte ") &&
				      !strchr(me.msg, '\n'),
			      "'%s' -> '%s'", where[i], me.msg);
	}
	/* a NUL inside the body */
	ck_assert_ptr_null(web_json_parse_object("{\"a\":1}\0", 8, &me));
	ck_assert_str_eq(me.msg,
			 "Invalid JSON body, unexpected NUL byte at byte 7");
	ck_assert_ptr_null(web_json_parse_object("{\"a\":\0\"1\"}", 10, &me));
	/* 100000 '[' must fail fast, not recurse */
	deep = malloc(n + 8);
	memcpy(deep, "{\"a\":", 5);
	memset(deep + 5, '[', n);
	o = web_json_parse_object(deep, n + 5, &me);
	ck_assert_ptr_null(o);
	ck_assert_str_eq(me.msg, "Invalid JSON body, nested too deep");
	ck_assert_int_eq(me.code, MC_INVALID_PARAMS);
	free(deep);

	o = web_json_parse_object(" {\"a\":\"\\u00e9\"}\r\n", 17, &me);
	ck_assert_ptr_nonnull(o);
	json_object_put(o);
	/* a whole surrogate pair is one character (U+1F600), either case */
	static const char pair[] = "{\"a\":\"\\ud83d\\uDE00\\\\ud800\"}";

	o = web_json_parse_object(pair, strlen(pair), &me);
	ck_assert_msg(o != NULL, "refused: %s", me.msg);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(o, "a")),
			 "\xf0\x9f\x98\x80\\ud800");
	json_object_put(o);
	/* quotes, escapes and odd letters inside strings are fine */
	static const char ok[] =
		"{\"a'\":\"x\\\"'NaN\",\"b\":[true,false,null,-1.5e3,0,-0,"
		"0.5,10,1E+2,2e-3,-0.0e0],\"c\":\"007 1. -01\"}";
	o = web_json_parse_object(ok, strlen(ok), &me);
	ck_assert_ptr_nonnull(o);
	json_object_put(o);
	/* one name in several objects, and names that only look alike */
	static const char *const distinct[] = {
		"{\"a\":{\"a\":1},\"b\":[{\"a\":1},{\"a\":2}]}",
		"{\"a\\\"\":1,\"a\":2,\"A\":3,\"a \":4}",
		"{\"s\":\"a\",\"t\":\"a\",\"u\":{},\"v\":{}}",
	};
	for (size_t i = 0; i < sizeof(distinct) / sizeof(distinct[0]); i++) {
		o = web_json_parse_object(distinct[i], strlen(distinct[i]),
					  &me);
		ck_assert_msg(o != NULL, "'%s' refused: %s", distinct[i],
			      me.msg);
		json_object_put(o);
	}
}
END_TEST

static struct json_object *obj(const char *s)
{
	struct mc_err me;
	struct json_object *o = web_json_parse_object(s, strlen(s), &me);

	ck_assert_msg(o != NULL, "cannot parse '%s'", s);
	return o;
}

START_TEST(test_json_fields)
{
	struct json_object *o = obj("{\"s\":\"a\\u0000b\",\"i\":5,\"b\":true,"
				    "\"f\":1.5,\"n\":null,\"big\":"
				    "9223372036854775808,\"max\":"
				    "9223372036854775807,\"neg\":-3}");
	struct mc_err me = {0};
	const char *s;
	size_t len;
	int64_t v;

	ck_assert_int_eq(web_json_string(o, "s", &s, &len, &me), 0);
	ck_assert_uint_eq(len, 3);
	ck_assert_int_eq(web_json_string(o, "i", &s, &len, &me), -EINVAL);
	ck_assert_str_eq(me.msg, "Invalid i, must be a string");
	ck_assert_int_eq(web_json_string(o, "x", &s, &len, &me), -ENOENT);
	/* null is a wrong type, not an absent field */
	ck_assert_int_eq(web_json_string(o, "n", &s, &len, &me), -EINVAL);
	ck_assert_str_eq(me.msg, "Invalid n, must be a string");
	ck_assert_int_eq(web_json_int(o, "n", 0, 10, &v, &me), -EINVAL);
	ck_assert_int_eq(web_json_int(o, "i", 0, 10, &v, &me), 0);
	ck_assert_int_eq(v, 5);
	ck_assert_int_eq(web_json_int(o, "i", 6, 10, &v, &me), -EINVAL);
	ck_assert_int_eq(web_json_int(o, "b", 0, 10, &v, &me), -EINVAL);
	ck_assert(strstr(me.msg, "Invalid b") != NULL);
	ck_assert_int_eq(web_json_int(o, "f", 0, 10, &v, &me), -EINVAL);
	ck_assert_int_eq(web_json_int(o, "s", 0, 10, &v, &me), -EINVAL);
	ck_assert_int_eq(web_json_int(o, "big", 0, INT64_MAX, &v, &me),
			 -EINVAL);
	ck_assert_int_eq(web_json_int(o, "max", 0, INT64_MAX, &v, &me), 0);
	ck_assert_int_eq(v, INT64_MAX);
	ck_assert_int_eq(web_json_int(o, "neg", 0, 10, &v, &me), -EINVAL);
	ck_assert_int_eq(web_json_int(o, "x", 0, 10, &v, &me), -ENOENT);
	json_object_put(o);
}
END_TEST

/* ---------------------------------------------------- segment requests */

START_TEST(test_mount_size)
{
	static const char *const bad[] = {
		"{}",
		"{\"size\":true}",
		"{\"size\":false}",
		"{\"size\":1.0}",
		"{\"size\":1.5}",
		"{\"size\":\"16\"}",
		"{\"size\":-1}",
		"{\"size\":9223372036854775808}",
		"{\"size\":18446744073709551616}",
		"{\"size\":-9223372036854775809}",
		"{\"size\":null}",
		"{\"size\":[1]}",
		"{\"size\":{}}",
		"{\"size\":1e3}",
	};
	struct mc_mount_req req;
	struct mc_err me = {0};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct json_object *o = obj(bad[i]);

		ck_assert_msg(web_api_parse_mount(o, false, &req, &me) ==
				      -EINVAL,
			      "accepted %s", bad[i]);
		ck_assert_str_eq(me.msg,
				 "Invalid size, must be a positive integer");
		json_object_put(o);
	}
	struct json_object *o = obj("{\"size\":9223372036854775807,"
				    "\"protocol\":\"tcp\",\"location\":\"l\","
				    "\"name\":\"n\"}");
	ck_assert_int_eq(web_api_parse_mount(o, false, &req, &me), 0);
	ck_assert_uint_eq(req.size, INT64_MAX);
	ck_assert_str_eq(req.protocol, "tcp");
	ck_assert_str_eq(req.location, "l");
	ck_assert_str_eq(req.name, "n");
	ck_assert_ptr_null(req.shm_name);
	json_object_put(o);
	/* a size of 0 is the store's to refuse (and count) */
	o = obj("{\"size\":0}");
	ck_assert_int_eq(web_api_parse_mount(o, false, &req, &me), 0);
	ck_assert_uint_eq(req.size, 0);
	json_object_put(o);

	o = obj("{\"size\":1,\"protocol\":5}");
	ck_assert_int_eq(web_api_parse_mount(o, false, &req, &me), -EINVAL);
	ck_assert_str_eq(me.msg, "Invalid protocol, must be a string");
	json_object_put(o);
	o = obj("{\"size\":1,\"location\":\"a\\u0000\"}");
	ck_assert_int_eq(web_api_parse_mount(o, false, &req, &me), -EINVAL);
	ck_assert(strstr(me.msg, "location") != NULL);
	json_object_put(o);
}
END_TEST

START_TEST(test_mount_shm)
{
	static const struct {
		const char *body;
		int rc;
		const char *field; /* named in the message */
		const char *name;  /* as passed to the core */
		uint64_t offset;
	} t[] = {
		{"{\"name\":\"seg\",\"size\":4096}", 0, NULL, "seg", 0},
		{"{\"name\":\"/seg\",\"size\":4096,\"offset\":8192}", 0, NULL,
		 "/seg", 8192},
		/* values the store refuses (and counts) pass as they are */
		{"{\"name\":\"..x\",\"size\":1}", 0, NULL, "..x", 0},
		{"{\"name\":\"\",\"size\":1}", 0, NULL, "", 0},
		{"{\"name\":\"a/b\",\"size\":1}", 0, NULL, "a/b", 0},
		{"{\"name\":\"/..\",\"size\":1}", 0, NULL, "/..", 0},
		{"{\"name\":\"s\",\"size\":1,\"offset\":1}", 0, NULL, "s", 1},
		{"{\"name\":\"s\",\"size\":0}", 0, NULL, "s", 0},
		/* what is not a mount request does not */
		{"{\"size\":4096}", -EINVAL, "name", NULL, 0},
		{"{\"name\":\"a\\u0000\",\"size\":1}", -EINVAL, "name", NULL,
		 0},
		{"{\"name\":7,\"size\":1}", -EINVAL, "name", NULL, 0},
		{"{\"name\":\"s\",\"size\":1,\"offset\":-4096}", -EINVAL,
		 "offset", NULL, 0},
		{"{\"name\":\"s\",\"size\":1,\"offset\":true}", -EINVAL,
		 "offset", NULL, 0},
		{"{\"name\":\"s\",\"size\":1,\"offset\":\"0\"}", -EINVAL,
		 "offset", NULL, 0},
		{"{\"name\":\"s\",\"size\":1,\"offset\":4096.0}", -EINVAL,
		 "offset", NULL, 0},
		{"{\"name\":\"s\",\"size\":-1}", -EINVAL, "size", NULL, 0},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct json_object *o = obj(t[i].body);
		struct mc_mount_req req;
		struct mc_err me = {0};
		int rc = web_api_parse_mount(o, true, &req, &me);

		ck_assert_msg(rc == t[i].rc, "%s: %d", t[i].body, rc);
		if (rc) {
			ck_assert_msg(strstr(me.msg, t[i].field) != NULL,
				      "%s: '%s'", t[i].body, me.msg);
		} else {
			ck_assert_str_eq(req.shm_name, t[i].name);
			ck_assert_uint_eq(req.offset, t[i].offset);
		}
		json_object_put(o);
	}
}
END_TEST

START_TEST(test_unmount)
{
	static const struct {
		const char *body;
		int rc;
		size_t n;
		unsigned grace;
	} t[] = {
		{"{\"segment_ids\":\"a\"}", 0, 1, 0},
		{"{\"segment_ids\":[\"a\",\"b\"],\"grace_period_seconds\":30}",
		 0, 2, 30},
		{"{\"segment_ids\":[\"a\"],\"grace_period_seconds\":3600}", 0,
		 1, 3600},
		{"{\"segment_ids\":[\"a\"],\"grace_period_seconds\":0}", 0, 1,
		 0},
		{"{}", -EINVAL, 0, 0},
		{"{\"segment_ids\":null}", -EINVAL, 0, 0},
		{"{\"segment_ids\":[]}", -EINVAL, 0, 0},
		{"{\"segment_ids\":\"\"}", -EINVAL, 0, 0},
		{"{\"segment_ids\":5}", -EINVAL, 0, 0},
		{"{\"segment_ids\":[\"a\",5]}", -EINVAL, 0, 0},
		{"{\"segment_ids\":[[\"a\"]]}", -EINVAL, 0, 0},
		{"{\"segment_ids\":{\"a\":1}}", -EINVAL, 0, 0},
		{"{\"segment_ids\":\"a\",\"grace_period_seconds\":true}",
		 -EINVAL, 0, 0},
		{"{\"segment_ids\":\"a\",\"grace_period_seconds\":-1}", -EINVAL,
		 0, 0},
		{"{\"segment_ids\":\"a\",\"grace_period_seconds\":3601}",
		 -EINVAL, 0, 0},
		{"{\"segment_ids\":\"a\",\"grace_period_seconds\":1.5}",
		 -EINVAL, 0, 0},
		{"{\"segment_ids\":\"a\",\"grace_period_seconds\":\"1\"}",
		 -EINVAL, 0, 0},
		{"{\"segment_ids\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", -E2BIG, 0,
		 0},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct json_object *o = obj(t[i].body);
		const char *ids[4];
		size_t n = 99;
		unsigned grace = 99;
		struct mc_err me = {0};
		int rc = web_api_parse_unmount(o, ids, 4, &n, &grace, &me);

		ck_assert_msg(rc == t[i].rc, "%s: %d", t[i].body, rc);
		if (rc == 0) {
			ck_assert_uint_eq(n, t[i].n);
			ck_assert_uint_eq(grace, t[i].grace);
			ck_assert_str_eq(ids[0], "a");
		} else {
			ck_assert(me.msg[0] != '\0');
		}
		json_object_put(o);
	}
}
END_TEST

START_TEST(test_force)
{
	static const struct {
		const char *q;
		int rc;
		bool force;
	} t[] = {
		{NULL, 0, false},
		{"", 0, false},
		{"force=true", 0, true},
		{"force=TRUE", 0, true},
		{"force=1", 0, true},
		{"x=1&force=yes", 0, true},
		{"force=false", 0, false},
		{"force=0", 0, false},
		/* a bare or empty force is neither: a remove of a leased
		 * value is not guessed at */
		{"force", -EINVAL, false},
		{"force=", -EINVAL, false},
		{"force=&x=1", -EINVAL, false},
		{"forced=1", 0, false},
		{"force=maybe", -EINVAL, false},
		{"force=%zz", -EINVAL, false},
		{"force=truetruetrue", -EINVAL, false},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		bool f = !t[i].force;

		ck_assert_int_eq(web_api_parse_force(t[i].q, &f), t[i].rc);
		if (t[i].rc == 0)
			ck_assert(f == t[i].force);
	}
}
END_TEST

/* --------------------------------------------------------------- guard */

#define S(x)  ((int64_t)(x)*1000000000LL)
#define MS(x) ((int64_t)(x)*1000000LL)

/*
 * The watchdog's rule (guard.h) as a table, with a header timeout of 5 s:
 * heads are due 5 s after their wait began; a body, 5 s after its head,
 * must have averaged 1 KiB/s (judged where the current read began when
 * it can be poked, crediting the read under way when it cannot).
 */
static const struct judge_case {
	enum guard_state state;
	int64_t now, since;
	uint64_t got, ask;
	bool pokeable;
	unsigned served;
	int64_t seen_at;
	bool draining, stopping;
	enum guard_verdict want;
} judge_cases[] = {
	/* heads */
	{GUARD_HEAD, S(104), S(100), 0, 0, false, 0, S(100), false, false,
	 GUARD_LET},
	{GUARD_HEAD, S(105) - 1, S(100), 0, 0, false, 0, S(100), false, false,
	 GUARD_LET},
	{GUARD_HEAD, S(105), S(100), 0, 0, false, 0, S(100), false, false,
	 GUARD_KILL},
	{GUARD_HEAD, S(101), S(100), 0, 0, false, 3, S(100), false, false,
	 GUARD_LET},
	/* draining: between requests is killed, a first head is not */
	{GUARD_HEAD, S(101), S(100), 0, 0, false, 3, S(100), true, false,
	 GUARD_KILL},
	{GUARD_HEAD, S(101), S(100), 0, 0, false, 0, S(100), true, false,
	 GUARD_LET},
	{GUARD_HEAD, S(101), S(100), 0, 0, false, 0, S(100), false, true,
	 GUARD_KILL},
	/* bodies that can be poked */
	{GUARD_BODY, S(104), S(100), 0, 1000, true, 0, S(100), false, false,
	 GUARD_LET},
	{GUARD_BODY, S(106), S(100), 0, 1000, true, 0, S(100), false, false,
	 GUARD_POKE},
	{GUARD_BODY, S(106), S(100), 0, 1000, true, 0, S(106) - MS(100), false,
	 false, GUARD_KILL},
	{GUARD_BODY, S(107), S(100), 6200, 1000, true, 0, S(106), false, false,
	 GUARD_POKE},
	{GUARD_BODY, S(106) + MS(500), S(100), 6200, 1000, true, 0, S(106),
	 false, false, GUARD_LET},
	{GUARD_BODY, S(107), S(100), 6000, 1000, true, 0, S(106), false, false,
	 GUARD_KILL},
	/* a fast body, a second old: nothing to judge yet */
	{GUARD_BODY, S(100) + MS(999), S(100), 0, 1 << 20, true, 0, S(100),
	 false, false, GUARD_LET},
	/* chunked: the read under way is credited */
	{GUARD_BODY, S(106), S(100), 2100, 4096, false, 0, S(100), false, false,
	 GUARD_LET},
	{GUARD_BODY, S(106), S(100), 2000, 4000, false, 0, S(100), false, false,
	 GUARD_KILL},
	{GUARD_BODY, S(110), S(100), 10240, 0, false, 0, S(100), false, false,
	 GUARD_LET},
	{GUARD_BODY, S(101), S(100), 0, 0, false, 0, S(100), false, true,
	 GUARD_KILL},
	/* a worker running a request is never touched */
	{GUARD_BUSY, S(1000), S(100), 0, 0, false, 0, S(100), true, true,
	 GUARD_LET},
	{GUARD_IDLE, S(1000), S(100), 0, 0, false, 0, S(100), true, true,
	 GUARD_LET},
};

START_TEST(test_guard_judge)
{
	const struct judge_case *c = &judge_cases[_i];

	ck_assert_int_eq(guard_judge(c->state, c->now, c->since, c->got, c->ask,
				     c->pokeable, c->served, false, c->seen_at,
				     S(5), c->draining, c->stopping),
			 c->want);
}
END_TEST

/*
 * Draining, a kept-alive connection whose next head has begun is a
 * request under way: it has its header timeout, as a first head has,
 * and is cut only when the server stops.
 */
START_TEST(test_guard_judge_begun)
{
	/* state, now, since, got, ask, pokeable, served, begun, seen_at */
	ck_assert_int_eq(guard_judge(GUARD_HEAD, S(101), S(100), 0, 0, false, 3,
				     true, S(100), S(5), true, false),
			 GUARD_LET);
	ck_assert_int_eq(guard_judge(GUARD_HEAD, S(105), S(100), 0, 0, false, 3,
				     true, S(100), S(5), true, false),
			 GUARD_KILL);
	ck_assert_int_eq(guard_judge(GUARD_HEAD, S(101), S(100), 0, 0, false, 3,
				     true, S(100), S(5), true, true),
			 GUARD_KILL);
	ck_assert_int_eq(guard_judge(GUARD_HEAD, S(101), S(100), 0, 0, false, 3,
				     false, S(100), S(5), true, false),
			 GUARD_KILL);
}
END_TEST

struct waiter {
	struct guard *g;
	int mode; /* 0 head, 1 pokeable body, 2 head left in time */
	int poll_rc, poll_errno, done;
	int64_t took;
};

/* A worker that waits in poll(2) on a pipe nobody writes. */
static void *waiter_run(void *arg)
{
	struct waiter *wt = arg;
	struct guard_slot *sl = guard_claim(wt->g);
	int p[2];
	struct pollfd pfd;
	int64_t t0;

	ck_assert_ptr_nonnull(sl);
	ck_assert_int_eq(pipe(p), 0);
	pfd = (struct pollfd){.fd = p[0], .events = POLLIN};
	t0 = guard_now();
	if (wt->mode == 1)
		guard_wait_body(sl, t0 - S(10), 20 * 1024, 1 << 20, true);
	else
		guard_wait_head(sl, t0, true);
	wt->poll_rc = poll(&pfd, 1, wt->mode == 2 ? 100 : 5000);
	wt->poll_errno = errno;
	wt->took = guard_now() - t0;
	wt->done = guard_done(sl, true);
	close(p[0]);
	close(p[1]);
	return NULL;
}

/*
 * The watchdog for real: a head due in 300 ms is interrupted about then
 * (poll fails with EINTR, the worker learns it was a kill); a body that
 * keeps up gets a poke; a head that ends in time is left alone.
 */
START_TEST(test_guard_signals)
{
	struct guard *g = guard_new(3, 300);
	struct waiter w[3];
	pthread_t t[3];

	ck_assert_ptr_nonnull(g);
	for (int i = 0; i < 3; i++) {
		w[i] = (struct waiter){.g = g, .mode = i};
		ck_assert_int_eq(pthread_create(&t[i], NULL, waiter_run, &w[i]),
				 0);
	}
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	ck_assert_int_eq(w[0].poll_rc, -1);
	ck_assert_int_eq(w[0].poll_errno, EINTR);
	ck_assert_int_eq(w[0].done, -ETIMEDOUT);
	ck_assert_int_ge(w[0].took, MS(300));
	ck_assert_int_lt(w[0].took, MS(3000));
	ck_assert_int_eq(w[1].poll_rc, -1);
	ck_assert_int_eq(w[1].poll_errno, EINTR);
	ck_assert_int_eq(w[1].done, -EINTR);
	ck_assert_int_eq(w[2].poll_rc, 0);
	ck_assert_int_eq(w[2].done, 0);
	ck_assert_uint_eq(guard_busy(g), 0);
	guard_free(g);
}
END_TEST

/*
 * Workers' slots share no cache line: a worker writes its own at every
 * request, and two on two CPUs would take a shared line from each other.
 */
START_TEST(test_guard_slots_apart)
{
	struct guard *g = guard_new(4, 1000);
	struct guard_slot *sl[3];

	ck_assert_ptr_nonnull(g);
	for (int i = 0; i < 3; i++) {
		sl[i] = guard_claim(g);
		ck_assert_ptr_nonnull(sl[i]);
	}
	for (int i = 0; i < 2; i++) {
		uintptr_t end = (uintptr_t)sl[i] + sizeof(*sl[i]) - 1;

		ck_assert_uint_lt(end / 64, (uintptr_t)sl[i + 1] / 64);
		ck_assert_uint_eq((uintptr_t)sl[i] % 64, 0);
	}
	guard_free(g);
}
END_TEST

/* ------------------------------------------------------------ start-up */

START_TEST(test_start)
{
	static const char *const bad[] = {
		"999.1.1.1",  "1.2.3", "example.com", "127.0.0.1:80",
		" 127.0.0.1", "::g",   "[::1]",	      "",
	};
	struct mc_store_opts so;
	struct mc_store *s;
	struct web_opts o = {.host = "127.0.0.1", .port = 0, .threads = 2};
	struct web *w;
	struct mc_err err = {0};

	mc_store_opts_default(&so);
	so.manual_tick = true;
	s = mc_store_new(&so, NULL);
	ck_assert_ptr_nonnull(s);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o.host = bad[i];
		err.msg[0] = '\0';
		w = web_start(s, &o, &err);
		if (!bad[i][0]) {
			/* empty means the default, 127.0.0.1 */
			ck_assert_ptr_nonnull(w);
			web_stop(w);
			continue;
		}
		ck_assert_msg(w == NULL, "started on '%s'", bad[i]);
		ck_assert_msg(strstr(err.msg, bad[i]) != NULL, "'%s': %s",
			      bad[i], err.msg);
	}
	o.host = "localhost";
	w = web_start(s, &o, &err);
	ck_assert_ptr_nonnull(w);
	ck_assert_uint_gt(web_port(w), 0);
	/* the same port again is taken */
	o.port = web_port(w);
	o.host = "127.0.0.1";
	ck_assert_ptr_null(web_start(s, &o, &err));
	ck_assert(strstr(err.msg, "cannot listen") != NULL);
	web_stop(w);
	/* IPv6: through the relay when civetweb has none (web.c) */
	o.port = 0;
	o.host = "::1";
	w = web_start(s, &o, &err);
	ck_assert_msg(w != NULL, "::1: %s", err.msg);
	{
		struct sockaddr_in6 a6 = {.sin6_family = AF_INET6,
					  .sin6_port = htons(web_port(w)),
					  .sin6_addr = IN6ADDR_LOOPBACK_INIT};
		int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);

		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(
			connect(fd, (struct sockaddr *)&a6, sizeof(a6)), 0);
		close(fd);
	}
	web_stop(w);
	o.port = 0;
	o.auth_token = " \n";
	ck_assert_ptr_null(web_start(s, &o, &err));
	ck_assert_str_eq(err.msg, "the auth token is empty");
	mc_store_free(s);
}
END_TEST

/* The congestion control of this process's listener on @port, "" when
 * none listens there. */
static void listener_cc(unsigned port, char *cc, size_t cap)
{
	cc[0] = '\0';
	for (int fd = 0; fd < 1024; fd++) {
		struct sockaddr_in a;
		socklen_t len = sizeof(a);
		int on = 0;
		socklen_t olen = sizeof(on);

		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &olen) ||
		    !on || getsockname(fd, (struct sockaddr *)&a, &len) ||
		    a.sin_family != AF_INET || ntohs(a.sin_port) != port)
			continue;
		len = (socklen_t)cap;
		ck_assert_int_eq(
			getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, &len),
			0);
		cc[len < cap ? len : cap - 1] = '\0';
		return;
	}
}

/* A line of a /proc/sys file, without its newline ("" when unreadable). */
static void proc_line(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");

	buf[0] = '\0';
	if (f) {
		if (!fgets(buf, (int)cap, f))
			buf[0] = '\0';
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = '\0';
}

/*
 * --http-congestion as web_start takes it: a name handed in is the
 * caller's choice, set on the listeners or the start fails; "system"
 * keeps the system's; NULL the default (cubic when this process may set
 * it).
 */
START_TEST(test_start_congestion)
{
	struct mc_store_opts so;
	struct mc_store *s;
	struct web_opts o = {.host = "127.0.0.1", .threads = 2};
	struct web *w;
	struct mc_err err = {0};
	char cc[32], sys[64], allowed[1024], avail[1024];

	mc_store_opts_default(&so);
	so.manual_tick = true;
	s = mc_store_new(&so, NULL);
	ck_assert_ptr_nonnull(s);
	proc_line("/proc/sys/net/ipv4/tcp_congestion_control", sys,
		  sizeof(sys));
	proc_line("/proc/sys/net/ipv4/tcp_allowed_congestion_control", allowed,
		  sizeof(allowed));
	proc_line("/proc/sys/net/ipv4/tcp_available_congestion_control", avail,
		  sizeof(avail));

	o.congestion = "no-such-cc";
	ck_assert_ptr_null(web_start(s, &o, &err));
	ck_assert_msg(
		strstr(err.msg, "'no-such-cc'") &&
			strstr(err.msg, "the kernel has no such algorithm"),
		"%s", err.msg);
	o.congestion = "aaaaaaaaaaaaaaaaaaaa";
	ck_assert_ptr_null(web_start(s, &o, &err));
	ck_assert_msg(strstr(err.msg, "at most 15 characters"), "%s", err.msg);

	o.congestion = "system";
	w = web_start(s, &o, &err);
	ck_assert_msg(w != NULL, "system: %s", err.msg);
	listener_cc(web_port(w), cc, sizeof(cc));
	ck_assert_str_eq(cc, sys);
	web_stop(w);

	/* a name this process may take: reno is in every kernel */
	if (geteuid() == 0 || strstr(allowed, "reno")) {
		o.congestion = "reno";
		w = web_start(s, &o, &err);
		ck_assert_msg(w != NULL, "reno: %s", err.msg);
		listener_cc(web_port(w), cc, sizeof(cc));
		ck_assert_str_eq(cc, "reno");
		web_stop(w);
	}

	o.congestion = NULL;
	w = web_start(s, &o, &err);
	ck_assert_msg(w != NULL, "default: %s", err.msg);
	listener_cc(web_port(w), cc, sizeof(cc));
	if (strstr(avail, "cubic") &&
	    (geteuid() == 0 || strstr(allowed, "cubic")))
		ck_assert_str_eq(cc, "cubic");
	else
		ck_assert_str_eq(cc, sys);
	web_stop(w);
	mc_store_free(s);
}
END_TEST

static Suite *web_suite(void)
{
	Suite *s = suite_create("web");
	TCase *tc = tcase_create("web");

	tcase_add_test(tc, test_route_table);
	tcase_add_test(tc, test_route_table_sane);
	tcase_add_test(tc, test_html_escape);
	tcase_add_test(tc, test_page_render);
	tcase_add_test(tc, test_methods);
	tcase_add_test(tc, test_status_table);
	tcase_add_test(tc, test_error_bodies);
	tcase_add_test(tc, test_pct_decode);
	tcase_add_test(tc, test_query);
	tcase_add_test(tc, test_keys);
	tcase_add_test(tc, test_json_hostile);
	tcase_add_test(tc, test_json_fields);
	tcase_add_test(tc, test_mount_size);
	tcase_add_test(tc, test_mount_shm);
	tcase_add_test(tc, test_unmount);
	tcase_add_test(tc, test_force);
	tcase_add_test(tc, test_guard_judge_begun);
	tcase_add_loop_test(tc, test_guard_judge, 0,
			    sizeof(judge_cases) / sizeof(judge_cases[0]));
	tcase_add_test(tc, test_guard_signals);
	tcase_add_test(tc, test_guard_slots_apart);
	suite_add_tcase(s, tc);
	/* real servers: each stop waits for civetweb's threads */
	tc = tcase_create("start");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_start);
	tcase_add_test(tc, test_start_congestion);
	suite_add_tcase(s, tc);
	return s;
}

MC_CHECK_MAIN(web_suite)
