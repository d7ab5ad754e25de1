/*
 * check_http.c - the HTTP door's framing and handlers without a socket:
 * requests go through web_serve() over a fake struct web_io that keeps
 * what the server writes, against a real store. Each test reads the
 * answer as a client would: status line, headers, body.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "check.h"
#include "check_mount.h"
#include "http.h"
#include "mooncake.h"
#include "route.h"

/* ----------------------------------------------------- the fake wire */

struct fake {
	struct mc_buf wire; /* everything the server wrote */
	const char *in;	    /* the request body */
	size_t in_len, in_off;
	const char *version; /* "1.1" unless set */
	const char *auth;    /* Authorization header, or NULL */
	int closed;	     /* no_keep_alive calls */
};

static int f_write(void *conn, const void *p, size_t n)
{
	mc_buf_add(&((struct fake *)conn)->wire, p, n);
	return (int)n;
}

static int f_read(void *conn, void *buf, size_t n)
{
	struct fake *f = conn;
	size_t left = f->in_len - f->in_off;

	if (n > left)
		n = left;
	memcpy(buf, f->in + f->in_off, n);
	f->in_off += n;
	return (int)n;
}

static void f_no_keep_alive(void *conn)
{
	((struct fake *)conn)->closed++;
}

static const char *f_version(void *conn)
{
	const struct fake *f = conn;

	return f->version ? f->version : "1.1";
}

static const char *f_header(void *conn, const char *name)
{
	return strcasecmp(name, "Authorization") ? NULL
						 : ((struct fake *)conn)->auth;
}

static const struct web_io fake_io = {
	.write = f_write,
	.read = f_read,
	.no_keep_alive = f_no_keep_alive,
	.http_version = f_version,
	.header = f_header,
};

/* --------------------------------------------------------- a client */

static struct mc_store *S;
static struct web_api_state *API;
static struct mc_buf OUT, SCRATCH;
static struct fake F;
static const char *TOKEN;
static uint64_t MAX_BODY = 1 << 20;
static bool EXPECT_100; /* the next requests carry Expect: 100-continue */

/* What came back: the status, a header's value, the body. */
struct answer {
	bool continued; /* a "100 Continue" came first */
	int status;
	char head[1024];
	const char *body;
	size_t body_len;
};

static void setup(void)
{
	struct mc_store_opts o;

	mc_store_opts_default(&o);
	o.manual_tick = true;
	S = mc_store_new(&o, NULL);
	ck_assert_ptr_nonnull(S);
	check_mount(S, 32ull << 20, NULL, NULL);
	API = web_api_state_new();
	ck_assert_ptr_nonnull(API);
	memset(&F, 0, sizeof(F));
	TOKEN = NULL;
	MAX_BODY = 1 << 20;
	EXPECT_100 = false;
}

static void teardown(void)
{
	web_api_state_free(API);
	web_api_thread_exit();
	mc_store_free(S);
	mc_buf_release(&OUT);
	mc_buf_release(&SCRATCH);
	mc_buf_release(&F.wire);
}

/* A request to @path on the fake wire, with fresh buffers. */
static void bare_request(struct web_req *r, const char *path)
{
	memset(r, 0, sizeof(*r));
	web_buffers_ready(&OUT, &SCRATCH);
	mc_buf_reset(&F.wire);
	r->io = &fake_io;
	r->conn = &F;
	r->out = &OUT;
	r->scratch = &SCRATCH;
	r->path = path;
	r->path_len = strlen(path);
}

/* Splits what the wire holds into @a: status, headers, body. */
static void parse(struct answer *a)
{
	const char *end;
	size_t hl;

	mc_buf_addch(&F.wire, '\0');
	F.wire.len--;
	ck_assert_msg(sscanf(F.wire.data, "HTTP/1.1 %d ", &a->status) == 1,
		      "no status line in '%s'", F.wire.data);
	end = strstr(F.wire.data, "\r\n\r\n");
	ck_assert_ptr_nonnull(end);
	hl = (size_t)(end - F.wire.data) + 2;
	ck_assert_uint_lt(hl, sizeof(a->head));
	memcpy(a->head, F.wire.data, hl);
	a->head[hl] = '\0';
	a->body = end + 4;
	a->body_len = F.wire.len - hl - 2;
}

/*
 * Serves "METHOD TARGET" with @body (NULL: none) and parses the answer
 * from the wire into @a.
 */
static void request(const char *method, const char *target, const char *body,
		    struct answer *a)
{
	struct web_req r;
	const char *q = strchr(target, '?');
	static char path[512];

	snprintf(path, sizeof(path), "%.*s",
		 (int)(q ? (size_t)(q - target) : strlen(target)), target);
	bare_request(&r, path);
	F.in = body;
	F.in_len = body ? strlen(body) : 0;
	F.in_off = 0;
	r.s = S;
	r.api = API;
	r.max_body = MAX_BODY;
	r.ready = true;
	r.method = web_method_parse(method);
	r.head = r.method == WEB_M_HEAD;
	r.query = q ? q + 1 : NULL;
	r.content_length = body ? (int64_t)F.in_len : -1;
	r.expect_continue = EXPECT_100;
	web_serve(&r, TOKEN, TOKEN ? strlen(TOKEN) : 0);
	if (EXPECT_100 && F.wire.len >= 25 &&
	    !memcmp(F.wire.data, "HTTP/1.1 100 Continue\r\n\r\n", 25)) {
		/* the interim answer, then the final one */
		memmove(F.wire.data, F.wire.data + 25, F.wire.len - 25);
		F.wire.len -= 25;
		a->continued = true;
	} else {
		a->continued = false;
	}
	parse(a);
	ck_assert_int_eq(a->status, r.status);
}

static void expect(const struct answer *a, int status, const char *body)
{
	ck_assert_int_eq(a->status, status);
	if (body)
		ck_assert_str_eq(a->body, body);
}

/* One request of a table and what must come back. */
struct row {
	const char *method, *target, *body;
	int status;
	const char *want; /* the whole body, NULL: not checked */
};

/* Serves the rows in order; with @one_line, no answer holds a newline. */
static void run_rows(const struct row *t, size_t n, bool one_line)
{
	struct answer a;

	for (size_t i = 0; i < n; i++) {
		request(t[i].method, t[i].target, t[i].body, &a);
		ck_assert_msg(a.status == t[i].status, "%s %s: %d, want %d",
			      t[i].method, t[i].target, a.status, t[i].status);
		if (t[i].want)
			ck_assert_msg(!strcmp(a.body, t[i].want), "%s %s: '%s'",
				      t[i].method, t[i].target, a.body);
		if (one_line)
			ck_assert_ptr_null(strchr(a.body, '\n'));
	}
}

/* Publishes a TE node "n:9" (host n, data port 9) in S's metadata. */
static void publish_n9(void)
{
	struct mc_meta_node n = {"n:9", "n", 9, NULL, NULL};

	ck_assert_int_eq(mc_meta_publish(mc_store_meta(S), &n, NULL), 0);
}

/* ----------------------------------------------------------- the tests */

/* The data routes end to end: put, get (and HEAD), exist, remove. */
START_TEST(test_put_get_remove)
{
	struct answer a;

	request("PUT", "/api/put/k%2F1", "hello", &a);
	expect(&a, 200, "{\"status\":\"success\"}");
	ck_assert_ptr_nonnull(strstr(a.head, "Content-Length: 20\r\n"));
	request("GET", "/api/get/k%2F1", NULL, &a);
	expect(&a, 200, "hello");
	ck_assert_ptr_nonnull(
		strstr(a.head, "Content-Type: application/octet-stream"));
	request("HEAD", "/api/get/k%2F1", NULL, &a);
	expect(&a, 200, "");
	ck_assert_ptr_nonnull(strstr(a.head, "Content-Length: 5\r\n"));
	request("GET", "/api/exist/k%2F1", NULL, &a);
	ck_assert_int_eq(a.status, 200);
	ck_assert_ptr_nonnull(strstr(a.body, "true"));
	request("DELETE", "/api/remove/k%2F1", NULL, &a);
	expect(&a, 200, "{\"status\":\"success\"}");
	request("GET", "/api/get/k%2F1", NULL, &a);
	expect(&a, 404, "{\"error\":\"Key not found\"}");
}
END_TEST

/* Hostile requests: each its own status and one-line reason. */
START_TEST(test_hostile)
{
	static const struct row t[] = {
		{"PUT", "/api/put/%zz", "v", 400,
		 "{\"error\":\"Invalid key, bad percent-encoding\"}"},
		{"PUT", "/api/put/a%00b", "v", 400,
		 "{\"error\":\"Invalid key, must not contain NUL\"}"},
		{"PUT", "/api/put", "{\"key\":1}", 400,
		 "{\"error\":\"Invalid key, must be a string\"}"},
		{"PUT", "/api/put", "[1]", 400,
		 "{\"error\":\"Invalid JSON body, must be an object\"}"},
		{"POST", "/api/mount", "{\"size\":-1}", 400,
		 "{\"error\":\"Invalid size, must be a positive integer\"}"},
		{"POST", "/api/mount_shm", "{\"size\":1,\"name\":\"..\"}", 400,
		 NULL},
		{"GET", "/query_key", NULL, 400, "INVALID_PARAMS"},
		{"GET", "/query_key?key=nokey", NULL, 404, "OBJECT_NOT_FOUND"},
		{"GET", "/query_segment?segment=nope", NULL, 404,
		 "SEGMENT_NOT_FOUND"},
		{"GET", "/no/such/path", NULL, 404, "NOT_FOUND"},
		{"GET", "/api/no/such", NULL, 404, "{\"error\":\"Not found\"}"},
		{"DELETE", "/query_key", NULL, 405, "METHOD_NOT_ALLOWED"},
	};
	struct answer a;

	run_rows(t, sizeof(t) / sizeof(t[0]), true);
	/* 405 names what the path takes */
	request("GET", "/api/put", NULL, &a);
	ck_assert_int_eq(a.status, 405);
	ck_assert_ptr_nonnull(strstr(a.head, "Allow: PUT\r\n"));
}
END_TEST

/* A body past --max-body is 413, and the rest of it is not left unread. */
START_TEST(test_body_limit)
{
	struct answer a;

	MAX_BODY = 4;
	request("PUT", "/api/put/k", "12345", &a);
	ck_assert_int_eq(a.status, 413);
	request("PUT", "/api/put/k", "1234", &a);
	expect(&a, 200, "{\"status\":\"success\"}");
	ck_assert_uint_eq(F.in_off, F.in_len);
}
END_TEST

/* The HTTP door's kind rule rides on mc_segment_unmount's condition. */
START_TEST(test_unmount_kinds)
{
	struct answer a;
	char body[160], id[MC_ID_LEN + 1];
	const char *p;

	request("POST", "/api/mount", "{\"size\":16777216}", &a);
	ck_assert_int_eq(a.status, 200);
	p = strstr(a.body, "\"segment_ids\":[\"");
	ck_assert_ptr_nonnull(p);
	memcpy(id, p + 16, MC_ID_LEN);
	id[MC_ID_LEN] = '\0';
	snprintf(body, sizeof(body), "{\"segment_ids\":[\"%s\"]}", id);
	request("POST", "/api/unmount_shm", body, &a);
	ck_assert_int_eq(a.status, 404);
	ck_assert_ptr_nonnull(strstr(a.body, id));
	ck_assert_ptr_nonnull(strstr(a.body, "\"failed_segment_ids\""));
	request("POST", "/api/unmount", body, &a);
	expect(&a, 200, "{\"status\":\"success\"}");
	request("POST", "/api/unmount", body, &a);
	ck_assert_int_eq(a.status, 404);
}
END_TEST

/*
 * /metadata, TE's metadata server: every route and status, in order (a
 * row sees what the rows above it did), as upstream's server answers.
 */
START_TEST(test_metadata_table)
{
	static const char RPC[] = "mooncake%2Frpc_meta%2F10.0.0.1%3A12384";
	static const struct row t[] = {
		{"GET", "/metadata", NULL, 400, "Missing key parameter"},
		{"PUT", "/metadata", "x", 400, "Missing key parameter"},
		{"DELETE", "/metadata", NULL, 400, "Missing key parameter"},
		{"GET", "/metadata?key=", NULL, 400, "Missing key parameter"},
		{"PUT", "/metadata?key=", "x", 400, "Missing key parameter"},
		{"GET", "/metadata?kee=a", NULL, 400, "Missing key parameter"},
		{"GET", "/metadata?key=%zz", NULL, 400,
		 "Invalid key parameter, bad percent-encoding"},
		{"PUT", "/metadata?key=a%00b", "x", 400,
		 "metadata key holds a NUL byte"},
		{"GET", "/metadata?key=nope", NULL, 404, "metadata not found"},
		{"DELETE", "/metadata?key=nope", NULL, 404,
		 "metadata not found"},
		{"POST", "/metadata?key=nope", "x", 405, NULL},
		/* any key: stored, replaced, read, deleted */
		{"PUT", "/metadata?key=mooncake%2Fram%2Fh%3A1", "{\"a\":1}",
		 200, "metadata updated"},
		{"GET", "/metadata?key=mooncake/ram/h:1", NULL, 200,
		 "{\"a\":1}"},
		{"PUT", "/metadata?key=mooncake/ram/h:1", "{\"a\":2}", 200,
		 "metadata updated"},
		{"GET", "/metadata?key=mooncake%2Fram%2Fh%3A1", NULL, 200,
		 "{\"a\":2}"},
		{"DELETE", "/metadata?key=mooncake%2Fram%2Fh%3A1", NULL, 200,
		 "metadata deleted"},
		{"GET", "/metadata?key=mooncake%2Fram%2Fh%3A1", NULL, 404,
		 "metadata not found"},
		{"DELETE", "/metadata?key=mooncake%2Fram%2Fh%3A1", NULL, 404,
		 "metadata not found"},
		/* '+' is a blank in a query value; the body is kept as is */
		{"PUT", "/metadata?key=a+b", "", 200, "metadata updated"},
		{"GET", "/metadata?key=a%20b", NULL, 200, ""},
		/* the published keys: read, never written from outside */
		{"GET", "/metadata?key=mooncake%2Frpc_meta%2Fn%3A9", NULL, 200,
		 "{\"ip_or_host_name\":\"n\",\"rpc_port\":8}"},
		{"PUT", "/metadata?key=mooncake%2Frpc_meta%2Fn%3A9", "{}", 403,
		 "metadata key 'mooncake/rpc_meta/n:9' is published by this "
		 "node"},
		{"DELETE", "/metadata?key=mooncake%2Fram%2Fn%3A9", NULL, 403,
		 NULL},
		{"GET", "/metadata?key=mooncake%2Fram%2Fn%3A9", NULL, 200,
		 NULL},
	};
	struct answer a;
	char target[128];
	const char *loc = "{\"ip_or_host_name\":\"10.0.0.1\","
			  "\"rpc_port\":15228}";

	publish_n9();
	run_rows(t, sizeof(t) / sizeof(t[0]), false);
	request("POST", "/metadata?key=x", "x", &a);
	ck_assert_ptr_nonnull(
		strstr(a.head, "Allow: GET, HEAD, PUT, DELETE\r\n"));
	/* stored bodies are JSON to TE; the answers to writes are text */
	request("GET", "/metadata?key=mooncake%2Fram%2Fn%3A9", NULL, &a);
	ck_assert_ptr_nonnull(
		strstr(a.head, "Content-Type: application/json\r\n"));
	ck_assert_ptr_nonnull(strstr(a.body, "\"tcp_data_port\":9,"));
	request("HEAD", "/metadata?key=mooncake%2Fram%2Fn%3A9", NULL, &a);
	expect(&a, 200, "");
	ck_assert_ptr_null(strstr(a.head, "Content-Length: 0\r\n"));

	/* upstream's rpc_meta rule: the same body again, then another */
	snprintf(target, sizeof(target), "/metadata?key=%s", RPC);
	request("PUT", target, loc, &a);
	expect(&a, 200, "metadata updated");
	request("PUT", target, loc, &a);
	expect(&a, 200, "metadata unchanged");
	request("PUT", target,
		"{\"ip_or_host_name\":\"10.0.0.1\",\"rpc_port\":16000}", &a);
	expect(&a, 400, "Duplicate rpc_meta key not allowed");
	request("GET", target, NULL, &a);
	expect(&a, 200, loc);
	request("DELETE", target, NULL, &a);
	expect(&a, 200, "metadata deleted");
}
END_TEST

/* Bodies up to 1 MiB whatever --max-body says, and no more. */
START_TEST(test_metadata_body_limit)
{
	char *big = malloc(MC_META_BODY_MAX + 2);
	struct answer a;

	memset(big, '7', MC_META_BODY_MAX + 1);
	big[MC_META_BODY_MAX + 1] = '\0';
	MAX_BODY = 16;
	request("PUT", "/metadata?key=big", big, &a);
	ck_assert_int_eq(a.status, 413);
	ck_assert_uint_eq(F.in_off, 0); /* refused before reading */
	big[MC_META_BODY_MAX] = '\0';
	request("PUT", "/metadata?key=big", big, &a);
	expect(&a, 200, "metadata updated");
	request("GET", "/metadata?key=big", NULL, &a);
	ck_assert_int_eq(a.status, 200);
	ck_assert_uint_eq(a.body_len, MC_META_BODY_MAX);
	/* a refused write is answered before its body is read (the framing
	 * then drains a small one) */
	publish_n9();
	request("PUT", "/metadata?key=mooncake%2Fram%2Fn%3A9", "abc", &a);
	ck_assert_int_eq(a.status, 403);
	free(big);
}
END_TEST

/*
 * Expect: 100-continue: the interim answer comes right before the body is
 * read, and never when the final answer needs no body; the connection
 * is then closed rather than left waiting for a body that never comes.
 */
START_TEST(test_expect_continue)
{
	struct answer a;

	EXPECT_100 = true;
	request("PUT", "/metadata?key=k", "v", &a);
	expect(&a, 200, "metadata updated");
	ck_assert(a.continued);
	ck_assert_int_eq(F.closed, 0);
	request("PUT", "/api/put/k", "value", &a);
	expect(&a, 200, "{\"status\":\"success\"}");
	ck_assert(a.continued);
	ck_assert_uint_eq(F.in_off, 5);
	/* refused before the body: no 100, nothing read, connection closed */
	publish_n9();
	request("PUT", "/metadata?key=mooncake%2Fram%2Fn%3A9", "abc", &a);
	ck_assert_int_eq(a.status, 403);
	ck_assert(!a.continued);
	ck_assert_uint_eq(F.in_off, 0);
	ck_assert_int_eq(F.closed, 1);
	ck_assert_ptr_nonnull(strstr(a.head, "Connection: close\r\n"));
	MAX_BODY = 2;
	request("PUT", "/api/put/k", "value", &a);
	ck_assert_int_eq(a.status, 413);
	ck_assert(!a.continued);
	ck_assert_uint_eq(F.in_off, 0);
	TOKEN = "t";
	request("PUT", "/api/put/k", "v", &a);
	ck_assert_int_eq(a.status, 401);
	ck_assert(!a.continued);
	ck_assert_uint_eq(F.in_off, 0);
	/* without a body there is nothing to continue */
	request("GET", "/metadata?key=k", NULL, &a);
	expect(&a, 200, "v");
	ck_assert(!a.continued);
}
END_TEST

/* TE sends no Authorization: /metadata is served without the token. */
START_TEST(test_metadata_no_auth)
{
	struct answer a;

	TOKEN = "s3cret";
	request("PUT", "/metadata?key=k", "v", &a);
	expect(&a, 200, "metadata updated");
	request("DELETE", "/metadata?key=k", NULL, &a);
	expect(&a, 200, "metadata deleted");
	request("PUT", "/api/put/k", "v", &a);
	ck_assert_int_eq(a.status, 401);
}
END_TEST

/* --no-http-metadata: /metadata is a path like any unknown one. */
START_TEST(test_metadata_off)
{
	struct mc_store_opts o;
	struct answer a;

	mc_store_free(S);
	mc_store_opts_default(&o);
	o.manual_tick = true;
	o.no_metadata = true;
	S = mc_store_new(&o, NULL);
	request("GET", "/metadata?key=k", NULL, &a);
	expect(&a, 404, "NOT_FOUND");
	request("PUT", "/metadata?key=k", "v", &a);
	expect(&a, 404, "NOT_FOUND");
	request("POST", "/metadata?key=k", "v", &a);
	expect(&a, 404, "NOT_FOUND");
}
END_TEST

/* Writes need the bearer token when one is set; reads do not. */
START_TEST(test_auth)
{
	struct answer a;

	TOKEN = "s3cret";
	request("PUT", "/api/put/k", "v", &a);
	ck_assert_int_eq(a.status, 401);
	ck_assert_ptr_nonnull(strstr(a.head, "WWW-Authenticate: Bearer\r\n"));
	F.auth = "Bearer wrong";
	request("PUT", "/api/put/k", "v", &a);
	ck_assert_int_eq(a.status, 401);
	F.auth = "Bearer s3cret";
	request("PUT", "/api/put/k", "v", &a);
	ck_assert_int_eq(a.status, 200);
	F.auth = NULL;
	request("GET", "/api/get/k", NULL, &a);
	expect(&a, 200, "v");
}
END_TEST

/*
 * Text routes answer the error's name: the core's code when it gave
 * one, else the errno table's.
 */
START_TEST(test_text_error_names)
{
	const struct web_route *rt = NULL;
	struct web_req r;
	struct mc_err e = {0};
	struct answer a;

	ck_assert_int_eq(
		web_route_lookup("/query_key", 10, WEB_M_GET, &rt, NULL),
		WEB_ROUTE_OK);
	bare_request(&r, "/query_key");
	r.route = rt;
	mc_err_set(&e, -EINVAL, MC_INVALID_PARAMS, "bad thing");
	web_resp_errno(&r, -EINVAL, &e, "fallback");
	parse(&a);
	ck_assert_int_eq(a.status, 400);
	ck_assert_str_eq(a.body, "INVALID_PARAMS");

	/* without a code, the table's name */
	bare_request(&r, "/query_key");
	r.route = rt;
	web_resp_errno(&r, -EINVAL, NULL, "fallback");
	parse(&a);
	ck_assert_str_eq(a.body, "INVALID_KEY");

	/* no leader to act: 503, and a hint to retry in a second */
	bare_request(&r, "/query_key");
	r.route = rt;
	web_resp_errno(&r, -EAGAIN, NULL, "fallback");
	parse(&a);
	ck_assert_int_eq(a.status, 503);
	ck_assert_str_eq(a.body, "NO_LEADER");
	ck_assert_ptr_nonnull(strstr(a.head, "Retry-After: 1\r\n"));
	/* ... and the log line's reason says so, not the route's fallback */
	ck_assert_str_eq(r.why, "NO_LEADER");

	/* a JSON route's failure without a core message: the same name in
	 * the body and the log, not the route's generic reason */
	ck_assert_int_eq(
		web_route_lookup("/api/get/k", 10, WEB_M_GET, &rt, NULL),
		WEB_ROUTE_OK);
	bare_request(&r, "/api/get/k");
	r.route = rt;
	web_resp_errno(&r, -EAGAIN, NULL, "Get failed");
	parse(&a);
	ck_assert_int_eq(a.status, 503);
	ck_assert_str_eq(a.body, "{\"error\":\"NO_LEADER\"}");
	ck_assert_str_eq(r.why, "NO_LEADER");
	/* a core message is the precise reason: the log keeps it */
	bare_request(&r, "/api/get/k");
	r.route = rt;
	mc_err_set(&e, -EAGAIN, MC_NO_LEADER, "no leader for 3 s");
	web_resp_errno(&r, -EAGAIN, &e, "Get failed");
	ck_assert_str_eq(r.why, "no leader for 3 s");
	/* a leader serves, but the node a put was placed on did not
	 * answer: retry soon too, and the body says which */
	bare_request(&r, "/api/get/k");
	r.route = rt;
	mc_err_set(&e, -EAGAIN, MC_WRITE_FAIL, "the owner did not answer");
	web_resp_errno(&r, -EAGAIN, &e, "Put failed");
	parse(&a);
	ck_assert_int_eq(a.status, 503);
	ck_assert_str_eq(a.body, "{\"error\":\"WRITE_FAIL\"}");
	ck_assert_ptr_nonnull(strstr(a.head, "Retry-After: 1\r\n"));
	bare_request(&r, "/api/get/k");
	r.route = rt;
	mc_err_set(&e, -EAGAIN, MC_TRANSFER_FAIL, "could not be written");
	web_resp_errno(&r, -EAGAIN, &e, "Put failed");
	parse(&a);
	ck_assert_str_eq(a.body, "{\"error\":\"TRANSFER_FAIL\"}");
	/* another failure keeps the route's reason */
	bare_request(&r, "/api/get/k");
	r.route = rt;
	web_resp_errno(&r, -ENOMEM, NULL, "Get failed");
	ck_assert_str_eq(r.why, "Get failed");
}
END_TEST

/*
 * A value held only in a client's memory, with no way to read it here:
 * GET answers 409 REMOTE_ONLY (never other bytes), HEAD the size from
 * the index. A client's put is its own: HTTP cannot end it.
 */
START_TEST(test_remote_only)
{
	struct mc_remote_req rr = {
		.id = "a1a2a3a4-a5a6-4a7a-8a8a-a9aaabacadae",
		.name = "client",
		.base = 0x7f0000000000ull,
		.size = 1 << 20,
		.endpoint = "10.1.1.1:1234",
	};
	struct mc_put_opts po = {
		.writer = &rr.owner, .remote_ok = true, .prefer = "client"};
	struct mc_put *p;
	struct answer a;

	ck_assert_int_eq(
		mc_owner_client(&rr.owner,
				"0f0e0d0c-0b0a-4908-8706-050403020100"),
		0);
	ck_assert_int_eq(mc_segment_mount_remote(S, &rr, NULL), 0);
	ck_assert_int_eq(mc_put_start_opts(S, "far", 3, 7, &po, &p, NULL), 0);
	mc_put_release(p);
	request("POST", "/api/v1/put_end", "{\"key\":\"far\"}", &a);
	expect(&a, 403, NULL);
	ck_assert_int_eq(mc_put_end_by(S, "far", 3, &rr.owner, false, NULL), 0);
	request("GET", "/api/get/far", NULL, &a);
	expect(&a, 409, "{\"error\":\"REMOTE_ONLY\"}");
	request("HEAD", "/api/get/far", NULL, &a);
	expect(&a, 200, NULL);
	ck_assert_ptr_nonnull(strstr(a.head, "Content-Length: 7\r\n"));
	request("GET", "/api/exist/far", NULL, &a);
	expect(&a, 200, "{\"exists\": true}");
}
END_TEST

/*
 * Streams @n lines of "line NNNNNN\n" through the framing (as a handler
 * with a body of unknown size does) and parses the answer into @a.
 */
static void stream(size_t n, struct answer *a)
{
	struct web_req r;

	bare_request(&r, "/get_all_keys");
	r.body_done = true;
	web_resp_stream_begin(&r, WEB_CT_TEXT);
	for (size_t i = 0; i < n; i++) {
		mc_buf_addf(r.out, "line %06zu\n", i);
		ck_assert_int_eq(web_resp_stream_flush(&r), 0);
	}
	web_resp_stream_end(&r);
	ck_assert_int_eq(r.status, 200);
	parse(a);
}

/* Counts the "line " records in a body, chunk framing or not. */
static size_t lines(const char *body)
{
	size_t n = 0;

	for (const char *p = body; (p = strstr(p, "line ")); p++)
		n++;
	return n;
}

/*
 * A streamed answer under 64 KiB leaves as one body with a length; past
 * it HTTP/1.1 gets chunks and HTTP/1.0 a close-delimited body.
 */
START_TEST(test_stream)
{
	struct answer a;

	stream(100, &a);
	ck_assert_ptr_nonnull(strstr(a.head, "Content-Length: 1200\r\n"));
	ck_assert_uint_eq(lines(a.body), 100);

	stream(20000, &a);
	ck_assert_ptr_nonnull(strstr(a.head, "Transfer-Encoding: chunked"));
	ck_assert_uint_eq(lines(a.body), 20000);
	ck_assert(a.body_len > 20000 * 12);
	ck_assert_str_eq(a.body + a.body_len - 7, "\r\n0\r\n\r\n");

	F.version = "1.0";
	stream(20000, &a);
	ck_assert_ptr_null(strstr(a.head, "Transfer-Encoding"));
	ck_assert_ptr_nonnull(strstr(a.head, "Connection: close\r\n"));
	ck_assert_int_ge(F.closed, 1);
	ck_assert_uint_eq(a.body_len, 20000 * 12);
}
END_TEST

/*
 * RFC 9112 section 6 framing and the head limits (web_framing), as a
 * table: the fields (name:value, separated by '|'), whether the parser
 * cut the head short, and the answer.
 */
static const struct framing_case {
	const char *fields;
	bool cut, http11;
	int status;   /* 0: accepted */
	int64_t clen; /* when accepted */
	bool chunked;
} framing_cases[] = {
	{"Host:x", false, true, 0, -1, false},
	{"Host:x|Content-Length:5", false, true, 0, 5, false},
	{"Host:x|content-length:0", false, true, 0, 0, false},
	{"Host:x|Content-Length:007", false, true, 0, 7, false},
	{"Host:x|Content-Length:5 ", false, true, 0, 5, false},
	{"Host:x|Content-Length:5|Content-Length:5", false, true, 0, 5, false},
	{"Host:x|Content-Length:5, 5", false, true, 0, 5, false},
	{"Host:x|Content-Length:5,5,5", false, true, 0, 5, false},
	{"Host:x|Content-Length:9223372036854775807", false, true, 0, INT64_MAX,
	 false},
	{"Host:x|Transfer-Encoding:chunked", false, true, 0, -1, true},
	{"Host:x|Transfer-Encoding:Chunked", false, true, 0, -1, true},
	{"", false, false, 0, -1, false}, /* HTTP/1.0 needs no Host */
	/* framing that two parsers could read two ways */
	{"Host:x|Content-Length:5|Content-Length:6", false, true, 400, -1,
	 false},
	{"Host:x|Content-Length:5|CONTENT-LENGTH:50", false, true, 400, -1,
	 false},
	{"Host:x|Content-Length:5, 6", false, true, 400, -1, false},
	{"Host:x|Content-Length:5,", false, true, 400, -1, false},
	{"Host:x|Content-Length:,5", false, true, 400, -1, false},
	{"Host:x|Content-Length:", false, true, 400, -1, false},
	{"Host:x|Content-Length: ", false, true, 400, -1, false},
	{"Host:x|Content-Length:+5", false, true, 400, -1, false},
	{"Host:x|Content-Length:-5", false, true, 400, -1, false},
	{"Host:x|Content-Length:5 5", false, true, 400, -1, false},
	{"Host:x|Content-Length:5\t5", false, true, 400, -1, false},
	{"Host:x|Content-Length:0x10", false, true, 400, -1, false},
	{"Host:x|Content-Length:5e3", false, true, 400, -1, false},
	{"Host:x|Content-Length:5.0", false, true, 400, -1, false},
	{"Host:x|Content-Length:abc", false, true, 400, -1, false},
	{"Host:x|Content-Length:9223372036854775808", false, true, 400, -1,
	 false},
	{"Host:x|Content-Length:99999999999999999999999", false, true, 400, -1,
	 false},
	{"Host:x|Transfer-Encoding:chunked|Content-Length:5", false, true, 400,
	 -1, false},
	{"Host:x|Content-Length:5|Transfer-Encoding:chunked", false, true, 400,
	 -1, false},
	{"Host:x|Transfer-Encoding:identity|Content-Length:5", false, true, 400,
	 -1, false},
	{"Host:x|Transfer-Encoding:gzip, chunked", false, true, 400, -1, false},
	{"Host:x|Transfer-Encoding:chunked, gzip", false, true, 400, -1, false},
	{"Host:x|Transfer-Encoding:chunked|Transfer-Encoding:chunked", false,
	 true, 400, -1, false},
	{"Host:x|Transfer-Encoding:", false, true, 400, -1, false},
	{"", false, true, 400, -1, false}, /* HTTP/1.1 without Host */
	{"Host:a|Host:b", false, true, 400, -1, false}, /* two Hosts */
	{"Host:x", true, true, 400, -1,
	 false}, /* a line the parser did not take */
	{"Host:x|A:1|B:2", true, true, 400, -1, false},
	/* blanks before the colon (RFC 9112 section 5.1), never a length */
	{"Host:x|Content-Length :3", false, true, 400, -1, false},
	{"Host:x|Content-Length  :3", false, true, 400, -1, false},
	{"Host:x|Content-Length\t:3", false, true, 400, -1, false},
	{"Host :x", false, true, 400, -1, false},
	{"Host:x|X-Other :y", false, true, 400, -1, false},
	{"Host:x|X-Empty :", false, true, 400, -1, false},
	{"Host:x|X-Empty:", false, true, 0, -1, false},
	{"Host:x|X-Other: y ", false, true, 0, -1, false},
};

/*
 * Splits "a:1|b:2" into @f (pointing into @buf); the count. Blanks
 * before a colon are dropped and noted, as the parser does.
 */
static size_t fields_of(const char *spec, char *buf, size_t len,
			struct web_field *f)
{
	size_t n = 0;
	char *p, *save = NULL;

	snprintf(buf, len, "%s", spec);
	for (p = strtok_r(buf, "|", &save); p; p = strtok_r(NULL, "|", &save)) {
		char *colon = strchr(p, ':');

		char *e = colon;

		while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		f[n].blank_colon = e != colon;
		*e = '\0';
		f[n].name = p;
		f[n++].value = colon + 1;
	}
	return n;
}

START_TEST(test_framing)
{
	const struct framing_case *c = &framing_cases[_i];
	struct web_field f[WEB_FIELDS_MAX];
	char buf[256];
	size_t n = fields_of(c->fields, buf, sizeof(buf), f);
	const char *why = NULL;
	int64_t clen = 42;
	size_t longest;
	bool chunked = true;
	int st = web_framing(f, n, c->cut, c->http11, &clen, &chunked, &longest,
			     &why);

	ck_assert_msg(st == c->status, "'%s': %d, want %d", c->fields, st,
		      c->status);
	if (st) {
		ck_assert_ptr_nonnull(why);
		return;
	}
	ck_assert_int_eq(clen, c->clen);
	ck_assert_int_eq(chunked, c->chunked);
}
END_TEST

/* Sizes: a field of exactly 64 KiB passes, one byte more is 431, and
 * so are more fields than civetweb keeps. */
START_TEST(test_framing_limits)
{
	struct web_field f[WEB_FIELDS_MAX];
	char *big = malloc(WEB_FIELD_MAX + 2);
	const char *why;
	int64_t clen;
	size_t longest;
	bool chunked;

	memset(big, 'v', WEB_FIELD_MAX + 1);
	big[WEB_FIELD_MAX - 1] = '\0'; /* "X" + 65535 bytes = 64 KiB */
	f[0] = (struct web_field){.name = "Host", .value = "x"};
	f[1] = (struct web_field){.name = "X", .value = big};
	ck_assert_int_eq(
		web_framing(f, 2, false, true, &clen, &chunked, &longest, &why),
		0);
	big[WEB_FIELD_MAX - 1] = 'v';
	big[WEB_FIELD_MAX] = '\0';
	ck_assert_int_eq(
		web_framing(f, 2, false, true, &clen, &chunked, &longest, &why),
		431);
	for (int i = 1; i < WEB_FIELDS_MAX; i++)
		f[i] = (struct web_field){.name = "X", .value = "y"};
	ck_assert_int_eq(web_framing(f, WEB_FIELDS_MAX, false, true, &clen,
				     &chunked, &longest, &why),
			 0);
	ck_assert_int_eq(web_framing(f, WEB_FIELDS_MAX, true, true, &clen,
				     &chunked, &longest, &why),
			 431);
	free(big);
}
END_TEST

static Suite *http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("handlers");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_put_get_remove);
	tcase_add_test(tc, test_hostile);
	tcase_add_test(tc, test_body_limit);
	tcase_add_test(tc, test_unmount_kinds);
	tcase_add_test(tc, test_auth);
	tcase_add_test(tc, test_text_error_names);
	tcase_add_test(tc, test_stream);
	tcase_add_test(tc, test_metadata_table);
	tcase_add_test(tc, test_metadata_body_limit);
	tcase_add_test(tc, test_metadata_no_auth);
	tcase_add_test(tc, test_expect_continue);
	tcase_add_test(tc, test_metadata_off);
	tcase_add_test(tc, test_remote_only);
	tcase_add_loop_test(tc, test_framing, 0,
			    sizeof(framing_cases) / sizeof(framing_cases[0]));
	tcase_add_test(tc, test_framing_limits);
	suite_add_tcase(s, tc);
	return s;
}

MC_CHECK_MAIN(http_suite)
