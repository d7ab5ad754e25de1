/*
 * web.c - the HTTP door over civetweb: options, start and stop, request
 * dispatch, and the one-write response helpers of http.h.
 *
 * The only file that includes <civetweb.h>. Every request goes through
 * begin_request(): civetweb parses the request line and headers, we look
 * the raw path up in the route table and the handler answers. URL
 * decoding is off in civetweb (decode_url=no) so that "%2F" and "%00"
 * reach the handlers as written and keys are decoded exactly once.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <civetweb.h>

#include "api.h"
#include "log.h"
#include "metrics.h"
#include "mooncake.h"
#include "route.h"
#include "status.h"
#include "web.h"

#define STREAM_FLUSH (64u << 10)      /* streamed bodies leave in ~64 KiB */
#define COPY_MAX (64u << 10)          /* smaller values join the headers */
#define CHUNK_ROOM 16                 /* room for "%zx\r\n" */
#define DRAIN_MAX (64u << 10)         /* unread bodies drained up to this */
#define KEEP_MAX (8u << 20)           /* per-thread buffers trimmed above */
#define REQUEST_MAX "1064960"         /* 1 MiB request line + 16 KiB */

/* Status codes whose counters are cached per route; others look up. */
static const int codes[] = { 200, 400, 401, 403, 404, 405, 408, 409, 413,
			     431, 500, 501, 503, 507 };
#define NCODES (sizeof(codes) / sizeof(codes[0]))

/*
 * Series pointers cached per route, so the hot path takes no family
 * mutex: the 200 counter is made at start, the others (and the latency
 * histogram, 14 lines each) on first use, which keeps /metrics small.
 */
struct route_stats {
	const char *label;
	_Atomic(struct mc_series *) duration;
	_Atomic(struct mc_series *) code[NCODES];
};

struct web {
	struct mc_store *s;
	struct mg_context *ctx;
	unsigned port;
	_Atomic bool ready;
	char *token;
	size_t token_len;
	uint64_t max_body;
	struct web_api_state *api;
	struct mc_family *requests, *duration;
	struct route_stats *stats;     /* web_nroutes + 1 ("other") */
};

/* Per-thread buffers reused across requests (civetweb workers). */
static __thread struct mc_buf tl_out, tl_scratch;

/* ------------------------------------------------------------ metrics */

static const double duration_buckets[] = { 0.0001, 0.00025, 0.0005, 0.001,
					   0.0025, 0.005, 0.01, 0.05, 0.25,
					   1, 5 };

static void stats_init(struct web *w)
{
	struct mc_metrics *m = mc_store_metrics(w->s);

	w->requests = mc_metrics_family(m, "mooncake_http_requests_total",
					"HTTP requests served, by route and status",
					MC_COUNTER, "route,code", NULL, 0);
	w->duration = mc_metrics_family(m,
		"mooncake_http_request_duration_seconds",
		"HTTP request latency, by route", MC_HISTOGRAM, "route",
		duration_buckets,
		sizeof(duration_buckets) / sizeof(duration_buckets[0]));
	w->stats = calloc(web_nroutes + 1, sizeof(*w->stats));
	for (size_t i = 0; i <= web_nroutes; i++) {
		struct route_stats *st = &w->stats[i];
		const char *v[2];

		st->label = i < web_nroutes ? web_routes[i].label : "other";
		v[0] = st->label;
		v[1] = "200";
		if (i < web_nroutes)
			atomic_store(&st->code[0],
				     mc_family_series(w->requests, v));
	}
	mc_metrics_add_process(m);
}

static void stats_count(struct web *w, const struct web_route *rt,
			int status, double seconds)
{
	struct route_stats *st = &w->stats[rt ? (size_t)(rt - web_routes)
					      : web_nroutes];
	struct mc_series *s = NULL, *d;
	char code[16];
	const char *v[2] = { st->label, code };
	size_t i;

	for (i = 0; i < NCODES && codes[i] != status; i++)
		;
	if (i < NCODES)
		s = atomic_load_explicit(&st->code[i], memory_order_acquire);
	if (!s) {
		snprintf(code, sizeof(code), "%d", status);
		/* The same labels give the same series: a race is harmless. */
		s = mc_family_series(w->requests, v);
		if (i < NCODES)
			atomic_store_explicit(&st->code[i], s,
					      memory_order_release);
	}
	mc_series_add(s, 1);
	d = atomic_load_explicit(&st->duration, memory_order_acquire);
	if (!d) {
		d = mc_family_series(w->duration, v);
		atomic_store_explicit(&st->duration, d, memory_order_release);
	}
	mc_series_observe(d, seconds);
}

/* ---------------------------------------------------------- responses */

static struct mg_connection *conn_of(const struct web_req *r)
{
	return r->conn;
}

static int write_all(struct web_req *r, const char *p, size_t n)
{
	while (n) {
		size_t part = n > (1u << 30) ? (1u << 30) : n;

		if (mg_write(conn_of(r), p, part) != (int)part)
			return -EIO;
		p += part;
		n -= part;
	}
	return 0;
}

static char *put_str(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

static char *put_u64(char *p, uint64_t v)
{
	char tmp[24];
	int i = 0;

	do
		tmp[i++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (i)
		*p++ = tmp[--i];
	return p;
}

/*
 * An unread request body would be parsed as the next request: drain a
 * small one, and close the connection after a large or chunked one.
 */
static void settle_body(struct web_req *r)
{
	char sink[4096];

	if (r->body_done || (r->content_length <= 0 && !r->chunked))
		return;
	if (!r->chunked && (uint64_t)r->content_length - r->consumed <=
				   DRAIN_MAX) {
		while (web_req_read(r, sink, sizeof(sink)) > 0)
			;
		if (r->body_done)
			return;
	}
	r->conn_hdr = "close";
	mg_disable_connection_keep_alive(conn_of(r));
}

/* clen < 0: no Content-Length (-1 chunked, -2 close-delimited). */
static size_t build_header(struct web_req *r, char *h, int status,
			   const char *ctype, int64_t clen)
{
	char *p = h;

	p = put_str(p, "HTTP/1.1 ");
	p = put_u64(p, (uint64_t)status);
	*p++ = ' ';
	p = put_str(p, web_status_reason(status));
	p = put_str(p, "\r\nContent-Type: ");
	p = put_str(p, ctype);
	if (clen >= 0) {
		p = put_str(p, "\r\nContent-Length: ");
		p = put_u64(p, (uint64_t)clen);
	} else if (clen == -1) {
		p = put_str(p, "\r\nTransfer-Encoding: chunked");
	}
	p = put_str(p, "\r\n");
	if (r->conn_hdr) {
		p = put_str(p, "Connection: ");
		p = put_str(p, r->conn_hdr);
		p = put_str(p, "\r\n");
	}
	if (r->extra_hdr)
		p = put_str(p, r->extra_hdr);
	p = put_str(p, "\r\n");
	return (size_t)(p - h);
}

/*
 * Writes the headers into the room in front of @off in r->out and sends
 * headers and the @len body bytes from @off in one write (headers only
 * for HEAD).
 */
static int send_span(struct web_req *r, int status, const char *ctype,
		     size_t off, size_t len, int64_t clen)
{
	char h[WEB_HDR_ROOM];
	size_t hl;

	settle_body(r);
	hl = build_header(r, h, status, ctype, clen);
	if (hl > off)
		abort();        /* WEB_HDR_ROOM too small: a bug */
	memcpy(r->out->data + off - hl, h, hl);
	r->status = status;
	return write_all(r, r->out->data + off - hl, hl + (r->head ? 0 : len));
}

/* Drops what was appended to r->out. */
static void web_resp_clear(struct web_req *r)
{
	r->out->len = WEB_HDR_ROOM;
	r->out->data[WEB_HDR_ROOM] = '\0';
}

void web_resp_send(struct web_req *r, int status, const char *ctype)
{
	size_t n = web_resp_len(r);

	send_span(r, status, ctype, WEB_HDR_ROOM, n, (int64_t)n);
}

void web_resp_send_bytes(struct web_req *r, int status, const char *ctype,
			const void *p, uint64_t n)
{
	char h[WEB_HDR_ROOM];
	size_t hl;

	web_resp_clear(r);
	if (n <= COPY_MAX) {
		if (!r->head)
			mc_buf_add(r->out, p, n);
		send_span(r, status, ctype, WEB_HDR_ROOM, n, (int64_t)n);
		return;
	}
	settle_body(r);
	hl = build_header(r, h, status, ctype, (int64_t)n);
	r->status = status;
	if (write_all(r, h, hl) == 0 && !r->head)
		write_all(r, p, n);
}

void web_resp_success(struct web_req *r)
{
	web_resp_clear(r);
	mc_buf_adds(r->out, "{\"status\":\"success\"}");
	web_resp_send(r, 200, WEB_CT_JSON);
}

static enum web_body_kind req_kind(const struct web_req *r)
{
	return r->route ? r->route->kind
			: web_route_default_kind(r->path, r->path_len);
}

void web_resp_error_extra(struct web_req *r, int status, const char *msg,
			 const char *extra)
{
	enum web_body_kind k = req_kind(r);

	web_resp_clear(r);
	web_status_error_body(r->out, k, msg, extra);
	web_resp_send(r, status, web_status_ctype(k));
}

void web_resp_error(struct web_req *r, int status, const char *msg)
{
	web_resp_error_extra(r, status, msg, NULL);
}

void web_resp_errno(struct web_req *r, int rc, const struct mc_err *e,
		   const char *fallback)
{
	const char *msg = e && e->msg[0] ? e->msg : fallback;

	/* Text bodies are the error's name: the core's code when it gave
	 * one, else the name the errno table pairs with @rc. */
	if (req_kind(r) == WEB_BODY_TEXT)
		msg = e && e->code != MC_OK ? mc_code_name(e->code)
					    : web_status_code_name(rc);
	web_resp_error(r, web_status_from_errno(rc), msg);
}

/* Streamed bodies start CHUNK_ROOM bytes further, for the chunk size. */
#define STREAM_OFF (WEB_HDR_ROOM + CHUNK_ROOM)

void web_resp_stream_begin(struct web_req *r, const char *ctype)
{
	web_resp_clear(r);
	mc_buf_grow(r->out, CHUNK_ROOM + STREAM_FLUSH + 1024);
	r->out->len = STREAM_OFF;
	r->streaming = true;
	r->stream_started = false;
	r->stream_chunked = false;
	r->stream_ctype = ctype;
}

static int stream_write(struct web_req *r, bool last)
{
	size_t len = r->out->len - STREAM_OFF;
	size_t off = STREAM_OFF;
	int rc = 0;

	if (!r->stream_started) {
		const char *v = mg_get_request_info(conn_of(r))->http_version;

		r->stream_started = true;
		r->stream_chunked = v && strcmp(v, "1.1") == 0;
		if (!r->stream_chunked) {
			r->conn_hdr = "close";
			mg_disable_connection_keep_alive(conn_of(r));
		}
		/* HEAD: the headers alone, once; later flushes drop data. */
		if (r->head)
			return send_span(r, 200, r->stream_ctype, off, 0,
					 r->stream_chunked ? -1 : -2);
	} else if (r->head) {
		goto out;
	}
	if (r->stream_chunked) {
		char line[CHUNK_ROOM];
		int n = 0;

		if (len) {
			n = snprintf(line, sizeof(line), "%zx\r\n", len);
			off -= (size_t)n;
			memcpy(r->out->data + off, line, (size_t)n);
			mc_buf_add(r->out, "\r\n", 2);
		}
		if (last)
			mc_buf_add(r->out, "0\r\n\r\n", 5);
	}
	len = r->out->len - off;
	if (r->status == 0) {
		/* the headers, right in front */
		char h[WEB_HDR_ROOM];
		size_t hl;

		settle_body(r);
		hl = build_header(r, h, 200, r->stream_ctype,
				  r->stream_chunked ? -1 : -2);
		off -= hl;
		memcpy(r->out->data + off, h, hl);
		len += hl;
		r->status = 200;
	}
	rc = len ? write_all(r, r->out->data + off, len) : 0;
out:
	r->out->len = STREAM_OFF;
	return rc;
}

int web_resp_stream_flush(struct web_req *r)
{
	if (r->out->len - STREAM_OFF < STREAM_FLUSH)
		return 0;
	return stream_write(r, false);
}

void web_resp_stream_end(struct web_req *r)
{
	r->streaming = false;
	if (!r->stream_started) {
		size_t n = r->out->len - STREAM_OFF;

		send_span(r, 200, r->stream_ctype, STREAM_OFF, n, (int64_t)n);
		return;
	}
	stream_write(r, true);
}

/* ------------------------------------------------------------ requests */

int64_t web_req_read(struct web_req *r, void *buf, size_t n)
{
	int got;

	if (r->body_done)
		return 0;
	if (r->content_length >= 0 &&
	    (uint64_t)r->content_length - r->consumed < n)
		n = (size_t)((uint64_t)r->content_length - r->consumed);
	if (n > INT_MAX)
		n = INT_MAX;
	if (n == 0 && r->content_length >= 0) {
		r->body_done = true;
		return 0;
	}
	got = mg_read(conn_of(r), buf, n);
	if (got < 0)
		return -EIO;
	if (got == 0) {
		/* end of a chunked body, or a client that gave up early */
		if (r->chunked)
			r->body_done = true;
		return r->chunked ? 0 : -EIO;
	}
	r->consumed += (uint64_t)got;
	if (r->content_length >= 0 &&
	    r->consumed == (uint64_t)r->content_length)
		r->body_done = true;
	return got;
}

int web_req_body(struct web_req *r, struct mc_buf *b)
{
	mc_buf_reset(b);
	if (r->content_length > 0 && (uint64_t)r->content_length > r->max_body)
		return -EFBIG;
	if (r->content_length <= 0 && !r->chunked) {
		mc_buf_grow(b, 0);
		return 0;
	}
	for (;;) {
		size_t want = r->chunked ? 65536
					 : (size_t)r->content_length - b->len;
		int64_t got;

		if (!r->chunked && want == 0)
			break;
		mc_buf_grow(b, want);
		got = web_req_read(r, b->data + b->len, want);
		if (got < 0)
			return (int)got;
		if (got == 0)
			break;
		b->len += (size_t)got;
		b->data[b->len] = '\0';
		if (b->len > r->max_body)
			return -EFBIG;
	}
	return 0;
}

void web_resp_body_error(struct web_req *r, int rc)
{
	if (rc == -EFBIG)
		web_resp_error(r, 413, "Request body too large");
	else
		web_resp_error(r, 400, "Incomplete request body");
}

/* ------------------------------------------------------------ dispatch */

static bool token_ok(const struct web *w, const char *h)
{
	const char *got;
	size_t glen;
	unsigned char d;

	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return false;
	got = h + 7;
	while (*got == ' ')
		got++;
	glen = strlen(got);
	while (glen && (got[glen - 1] == ' ' || got[glen - 1] == '\t'))
		glen--;
	/* Constant time in the token's bytes: no early exit on a mismatch. */
	d = glen != w->token_len;
	for (size_t i = 0; i < w->token_len; i++)
		d |= (unsigned char)(w->token[i] ^ (i < glen ? got[i] : 0));
	return d == 0;
}

static const char *generic_msg(const struct web_req *r, const char *text,
			       const char *human)
{
	return req_kind(r) == WEB_BODY_TEXT ? text : human;
}

static void buffers_ready(void)
{
	if (!tl_out.data)
		mc_buf_grow(&tl_out, WEB_HDR_ROOM + 4096);
	tl_out.len = WEB_HDR_ROOM;
	tl_out.data[WEB_HDR_ROOM] = '\0';
	mc_buf_reset(&tl_scratch);
}

static void buffers_trim(void)
{
	if (tl_out.cap > KEEP_MAX)
		mc_buf_release(&tl_out);
	if (tl_scratch.cap > KEEP_MAX)
		mc_buf_release(&tl_scratch);
}

static int begin_request(struct mg_connection *c)
{
	const struct mg_request_info *ri = mg_get_request_info(c);
	struct web *w = ri->user_data;
	struct web_req r = { 0 };
	struct timespec t0, t1;
	const char *h;
	unsigned allow = 0;
	char allow_hdr[80];
	enum web_route_result res;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	buffers_ready();
	r.s = w->s;
	r.api = w->api;
	r.max_body = w->max_body;
	r.conn = c;
	r.out = &tl_out;
	r.scratch = &tl_scratch;
	r.ready = atomic_load_explicit(&w->ready, memory_order_relaxed);
	r.method = web_method_parse(ri->request_method);
	r.head = r.method == WEB_M_HEAD;
	r.path = ri->local_uri_raw ? ri->local_uri_raw : "/";
	r.path_len = strlen(r.path);
	r.query = ri->query_string;
	r.content_length = ri->content_length;
	h = mg_get_header(c, "Transfer-Encoding");
	r.chunked = h && strcasestr(h, "chunked");
	if (r.chunked)
		r.content_length = -1;
	h = mg_get_header(c, "Connection");
	if (ri->http_version && strcmp(ri->http_version, "1.0") == 0) {
		if (h && strcasestr(h, "keep-alive"))
			r.conn_hdr = "keep-alive";
	} else if (h && strcasestr(h, "close")) {
		r.conn_hdr = "close";
	}

	res = web_route_lookup(r.path, r.path_len, r.method, &r.route, &allow);
	if (res == WEB_ROUTE_NOT_FOUND) {
		web_resp_error(&r, 404, generic_msg(&r, "NOT_FOUND",
						   "Not found"));
	} else if (res == WEB_ROUTE_BAD_METHOD) {
		char list[64];

		web_method_allow(allow, list, sizeof(list));
		snprintf(allow_hdr, sizeof(allow_hdr), "Allow: %s\r\n", list);
		r.extra_hdr = allow_hdr;
		web_resp_error(&r, 405, generic_msg(&r, "METHOD_NOT_ALLOWED",
						   "Method not allowed"));
	} else if (w->token && !(r.method & (WEB_M_GET | WEB_M_HEAD)) &&
		   !token_ok(w, mg_get_header(c, "Authorization"))) {
		r.extra_hdr = "WWW-Authenticate: Bearer\r\n";
		web_resp_error(&r, 401, generic_msg(&r, "UNAUTHORIZED",
			"Missing or invalid bearer token"));
	} else {
		if (r.route->prefix) {
			size_t n = strlen(r.route->pattern);

			r.arg = r.path + n;
			r.arg_len = r.path_len - n;
		}
		r.route->fn(&r);
		if (r.status == 0)
			web_resp_error(&r, 500, generic_msg(&r, "INTERNAL_ERROR",
							   "Internal error"));
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	stats_count(w, res == WEB_ROUTE_NOT_FOUND ? NULL : r.route, r.status,
		    (double)(t1.tv_sec - t0.tv_sec) +
			    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	buffers_trim();
	return r.status;
}

/*
 * Errors civetweb finds itself (malformed request line, headers past
 * max_request_size, timeouts) get a short text body and a closed
 * connection; headers too large are 431 rather than civetweb's 413.
 */
static int http_error(struct mg_connection *c, int status, const char *msg)
{
	const struct mg_request_info *ri = mg_get_request_info(c);
	struct web *w = ri ? ri->user_data : NULL;
	struct web_req r = { 0 };

	if (status == 413)
		status = 431;
	buffers_ready();
	r.conn = c;
	r.out = &tl_out;
	r.path = "/";
	r.path_len = 1;
	r.body_done = true;
	r.conn_hdr = "close";
	mg_disable_connection_keep_alive(c);
	mc_buf_adds(r.out, web_status_reason(status));
	web_resp_send(&r, status, WEB_CT_TEXT);
	if (w)
		stats_count(w, NULL, status, 0);
	mc_debug("http: %d %s", status, msg ? msg : "");
	return 0;
}

static int log_message(const struct mg_connection *c, const char *msg)
{
	mc_debug("civetweb: %s", msg);
	return 1;
}

static void exit_thread(const struct mg_context *ctx, int type, void *p)
{
	mc_buf_release(&tl_out);
	mc_buf_release(&tl_scratch);
	web_api_thread_exit();
}

/* ----------------------------------------------------------- lifetime */

struct web *web_start(struct mc_store *s, const struct web_opts *o,
		      struct mc_err *err)
{
	struct web *w = calloc(1, sizeof(*w));
	struct mg_callbacks cb = { 0 };
	struct mg_init_data init = { 0 };
	char ebuf[256] = "";
	struct mg_error_data ed = { .text = ebuf, .text_buffer_size = sizeof(ebuf) };
	char ports[300], threads[16];
	const char *host = o->host && *o->host ? o->host : "127.0.0.1";
	struct mg_server_port sp[4];
	struct in_addr a4;
	struct in6_addr a6;
	int np;

	if (!w) {
		mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR, "out of memory");
		return NULL;
	}
	w->s = s;
	w->max_body = o->max_body ? o->max_body : 100ull << 20;
	if (o->auth_token) {
		const char *t = o->auth_token;
		size_t n;

		while (*t == ' ' || *t == '\t' || *t == '\n' || *t == '\r')
			t++;
		n = strlen(t);
		while (n && strchr(" \t\r\n", t[n - 1]))
			n--;
		if (n == 0) {
			mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				   "the auth token is empty");
			free(w);
			return NULL;
		}
		w->token = strndup(t, n);
		w->token_len = n;
	}
	/*
	 * civetweb takes IP literals only and reads a bad one loosely
	 * ("999.1.1.1" binds 231.1.1.1): check it here.
	 */
	if (strcmp(host, "localhost") == 0)
		host = "127.0.0.1";
	if (inet_pton(AF_INET, host, &a4) != 1) {
		bool v6 = inet_pton(AF_INET6, host, &a6) == 1;

		if (!v6 || !mg_check_feature(8)) {
			mc_err_set(err, -EIO, MC_INTERNAL_ERROR,
				   v6 ? "cannot listen on '%s': this "
					"civetweb was built without IPv6"
				      : "bad bind address '%s': not an IPv4 or "
					"IPv6 "
					"address",
				   host);
			free(w->token);
			free(w);
			return NULL;
		}
	}
	snprintf(ports, sizeof(ports), strchr(host, ':') ? "[%s]:%u" : "%s:%u",
		 host, o->port);
	snprintf(threads, sizeof(threads), "%u", o->threads ? o->threads : 64);
	const char *opts[] = {
		"listening_ports", ports,
		"num_threads", threads,
		"enable_keep_alive", "yes",
		"keep_alive_timeout_ms", "5000",
		"request_timeout_ms", "10000",
		"max_request_size", REQUEST_MAX,
		"decode_url", "no",
		"enable_auth_domain_check", "no",
		"tcp_nodelay", "1",
		"connection_queue", "256",
		NULL,
	};

	w->api = web_api_state_new();
	stats_init(w);
	cb.begin_request = begin_request;
	cb.http_error = http_error;
	cb.log_message = log_message;
	cb.exit_thread = exit_thread;
	init.callbacks = &cb;
	init.user_data = w;
	init.configuration_options = opts;
	mg_init_library(0);
	w->ctx = mg_start2(&init, &ed);
	if (!w->ctx) {
		mc_err_set(err, -EIO, MC_INTERNAL_ERROR,
			   "cannot listen on '%s': %s", ports,
			   ebuf[0] ? ebuf : "civetweb failed to start");
		goto fail;
	}
	np = mg_get_server_ports(w->ctx, 4, sp);
	if (np < 1) {
		mc_err_set(err, -EIO, MC_INTERNAL_ERROR,
			   "cannot find the port bound for '%s'", ports);
		mg_stop(w->ctx);
		goto fail;
	}
	w->port = (unsigned)sp[0].port;
	return w;
fail:
	mg_exit_library();
	web_api_state_free(w->api);
	free(w->stats);
	free(w->token);
	free(w);
	return NULL;
}

unsigned web_port(const struct web *w)
{
	return w->port;
}

void web_set_ready(struct web *w, bool ready)
{
	atomic_store(&w->ready, ready);
}

void web_stop(struct web *w)
{
	if (!w)
		return;
	atomic_store(&w->ready, false);
	mg_stop(w->ctx);
	mg_exit_library();
	web_api_state_free(w->api);
	free(w->stats);
	free(w->token);
	free(w);
}
