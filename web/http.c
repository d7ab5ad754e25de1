/*
 * http.c - HTTP framing for the handlers (http.h): one-write responses,
 * streamed bodies, request bodies, and the dispatch of a request to its
 * route. It reaches the connection only through struct web_io, so the
 * handlers run the same over civetweb (web.c) and over a fake connection
 * in the unit tests.
 */
#include "autoconfig.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "log.h"
#include "mooncake.h"
#include "route.h"
#include "status.h"

#define STREAM_FLUSH (64u << 10) /* streamed bodies leave in ~64 KiB */
#define COPY_MAX     (64u << 10) /* smaller values join the headers */
#define CHUNK_ROOM   16		 /* room for "%zx\r\n" */
#define DRAIN_MAX    (64u << 10) /* unread bodies drained up to this */

/* ---------------------------------------------------------- responses */

static int write_all(struct web_req *r, const char *p, size_t n)
{
	while (n) {
		size_t part = n > (1u << 30) ? (1u << 30) : n;

		if (r->io->write(r->conn, p, part) != (int)part) {
			/* The answer is cut: end the connection now, or the
			 * client waits the keep-alive timeout for the rest. */
			r->io->no_keep_alive(r->conn);
			return -EIO;
		}
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
	if (!r->chunked && !r->body_failed &&
	    !(r->expect_continue && !r->continued) &&
	    (uint64_t)r->content_length - r->consumed <= DRAIN_MAX) {
		while (web_req_read(r, sink, sizeof(sink)) > 0)
			;
		if (r->body_done)
			return;
	}
	r->conn_hdr = "close";
	r->io->no_keep_alive(r->conn);
}

/* clen < 0: no Content-Length (-1 chunked, -2 close-delimited). */
static size_t build_header(struct web_req *r, char *h, int status,
			   const char *ctype, int64_t clen)
{
	char *p = h;

	/* a request under way when the drain began: its answer says so too
	 * (mooncaked(8), SIGNALS) */
	if (r->io->draining && r->io->draining(r->conn) &&
	    !(r->conn_hdr && !strcmp(r->conn_hdr, "close"))) {
		r->conn_hdr = "close";
		r->io->no_keep_alive(r->conn);
	}
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
		abort(); /* WEB_HDR_ROOM too small: a bug */
	memcpy(r->out->data + off - hl, h, hl);
	r->status = status;
	if (write_all(r, r->out->data + off - hl, hl + (r->head ? 0 : len))) {
		r->cut = true;
		return -EIO;
	}
	return 0;
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
	if (r->head) {
		write_all(r, h, hl);
	} else if (r->io->write2) {
		if (r->io->write2(r->conn, h, hl, p, n))
			r->io->no_keep_alive(r->conn);
	} else if (write_all(r, h, hl) == 0) {
		write_all(r, p, n);
	}
}

int web_resp_send_pipe(struct web_req *r, int status, const char *ctype,
		       int pfd, uint64_t n)
{
	char h[WEB_HDR_ROOM];
	size_t hl;

	web_resp_clear(r);
	settle_body(r);
	hl = build_header(r, h, status, ctype, (int64_t)n);
	r->status = status;
	if (r->head)
		abort(); /* its one caller answers a HEAD first: a bug */
	if (r->io->write_pipe(r->conn, h, hl, pfd, n) == 0)
		return 0;
	r->io->no_keep_alive(r->conn);
	return -EIO;
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

	/* the first reason given is the most precise (web_resp_errno's) */
	if (!r->why[0] && msg)
		snprintf(r->why, sizeof(r->why), "%s", msg);
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

	/*
	 * No leader and no precise message: the log names NO_LEADER, as
	 * the body does, not the route's generic failure.
	 */
	if (rc == -EAGAIN && !(e && e->msg[0]))
		msg = web_status_code_name(rc);
	snprintf(r->why, sizeof(r->why), "%s", msg ? msg : "");
	/*
	 * The cluster's master was asked and its answer lost: whether the
	 * request took effect is unknown, and no status would be true.
	 * The connection closes unanswered, as if it had broken
	 * (mooncake-http(7), ERRORS).
	 */
	if (rc == -ECONNABORTED) {
		r->io->no_keep_alive(r->conn);
		r->status = WEB_STATUS_CUT;
		return;
	}
	/* Text bodies are the error's name: the core's code when it gave
	 * one, else the name the errno table pairs with @rc. */
	if (req_kind(r) == WEB_BODY_TEXT)
		msg = e && e->code != MC_OK ? mc_code_name(e->code)
					    : web_status_code_name(rc);
	/*
	 * Worth retrying soon, and every body says why by name, whatever
	 * the route would say of a failure (mooncake-http(7), ERRORS):
	 * NO_LEADER, or the node a put was placed on could not be reached
	 * (WRITE_FAIL, TRANSFER_FAIL) while a leader serves; the log line
	 * keeps the precise reason (r->why).
	 */
	if (rc == -EAGAIN) {
		r->extra_hdr = "Retry-After: 1\r\n";
		msg = e && (e->code == MC_WRITE_FAIL ||
			    e->code == MC_TRANSFER_FAIL)
			      ? mc_code_name(e->code)
			      : web_status_code_name(rc);
	}
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
		const char *v = r->io->http_version(r->conn);

		r->stream_started = true;
		r->stream_chunked = v && strcmp(v, "1.1") == 0;
		if (!r->stream_chunked) {
			r->conn_hdr = "close";
			r->io->no_keep_alive(r->conn);
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
	if (r->expect_continue && !r->continued) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

		r->continued = true;
		if (r->io->write(r->conn, cont, sizeof(cont) - 1) !=
		    (int)sizeof(cont) - 1)
			return -EIO;
	}
	got = r->io->read(r->conn, buf, n);
	if (got < 0) {
		r->body_failed = true;
		/* too slow (mooncake-http(7), LIMITS), or gone */
		return got == -ETIMEDOUT ? -ETIMEDOUT : -EIO;
	}
	if (got == 0) {
		/* end of a chunked body, or a client that gave up early */
		if (r->chunked)
			r->body_done = true;
		else
			r->body_failed = true;
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
		/*
		 * The buffer grows with what came, not with what the head
		 * announced: a Content-Length near --max-body that no body
		 * follows costs no memory (mooncake-http(7), LIMITS).
		 */
		size_t want = b->len > 65536 ? b->len : 65536;
		int64_t got;

		if (!r->chunked &&
		    (uint64_t)r->content_length - b->len < (uint64_t)want)
			want = (size_t)r->content_length - b->len;
		if (!r->chunked && want == 0)
			break;
		if (mc_buf_try_grow(b, want))
			return -ENOMEM;
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
	else if (rc == -ENOMEM)
		web_resp_error(r, 507, "No memory for the request body");
	else if (rc == -ETIMEDOUT)
		web_resp_error(r, 408, "Request body too slow");
	else
		web_resp_error(r, 400, "Incomplete request body");
}

/* ------------------------------------------------------------- framing */

static bool ows(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * One Content-Length field value: 1*DIGIT, or a comma-separated list of
 * those (with optional blanks around each) that are all the same number
 * (RFC 9112 section 6.3, item 5). -1 when it is not.
 */
static int64_t clen_parse(const char *v)
{
	int64_t val = -1;

	for (;;) {
		uint64_t x = 0;
		const char *d;

		while (ows(*v))
			v++;
		for (d = v; *v >= '0' && *v <= '9'; v++) {
			if (x >
			    ((uint64_t)INT64_MAX - (uint64_t)(*v - '0')) / 10)
				return -1; /* too large to be a length */
			x = x * 10 + (uint64_t)(*v - '0');
		}
		if (v == d || (val >= 0 && (int64_t)x != val))
			return -1;
		val = (int64_t)x;
		while (ows(*v))
			v++;
		if (*v == '\0')
			return val;
		if (*v++ != ',')
			return -1;
	}
}

int web_framing(const struct web_field *f, size_t n, bool cut, bool http11,
		int64_t *clen, bool *chunked, size_t *longest, const char **why)
{
	int64_t len = -1;
	unsigned te = 0, host = 0;

	*clen = -1;
	*chunked = false;
	*longest = 0;
	if (cut && n >= WEB_FIELDS_MAX) {
		*why = "more than 64 header fields";
		return 431;
	}
	if (cut) {
		*why = "a header line that is not a field";
		return 400;
	}
	for (size_t i = 0; i < n; i++) {
		const char *name = f[i].name, *v = f[i].value;
		size_t vl = strlen(v);

		if (vl > *longest)
			*longest = vl;
		if (strlen(name) + vl > WEB_FIELD_MAX) {
			*why = "a header field over 64 KiB";
			return 431;
		}
		/* "Content-Length : 3" is a length to some readers and no
		 * field to others (RFC 9112 section 5.1 says reject it) */
		if (f[i].blank_colon) {
			*why = "blanks between a header field name and its "
			       "colon";
			return 400;
		}
		if (!strcasecmp(name, "Content-Length")) {
			int64_t x = clen_parse(v);

			if (x < 0) {
				*why = "Content-Length is not a decimal number";
				return 400;
			}
			if (len >= 0 && x != len) {
				*why = "Content-Length fields differ";
				return 400;
			}
			len = x;
		} else if (!strcasecmp(name, "Host")) {
			host++;
		} else if (!strcasecmp(name, "Transfer-Encoding")) {
			while (vl && ows(v[vl - 1]))
				vl--;
			if (te++ || vl != 7 || strncasecmp(v, "chunked", 7)) {
				*why = "Transfer-Encoding other than one "
				       "'chunked'";
				return 400;
			}
		}
	}
	if (te && len >= 0) {
		*why = "Transfer-Encoding with Content-Length";
		return 400;
	}
	if (host > 1 || (http11 && !host)) {
		*why = host ? "more than one Host" : "no Host";
		return 400;
	}
	*chunked = te != 0;
	*clen = te ? -1 : len;
	return 0;
}

/* ------------------------------------------------------------ dispatch */

void web_buffers_ready(struct mc_buf *out, struct mc_buf *scratch)
{
	if (!out->data)
		mc_buf_grow(out, WEB_HDR_ROOM + 4096);
	out->len = WEB_HDR_ROOM;
	out->data[WEB_HDR_ROOM] = '\0';
	mc_buf_reset(scratch);
}

static bool token_ok(const char *token, size_t token_len, const char *h)
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
	d = glen != token_len;
	for (size_t i = 0; i < token_len; i++)
		d |= (unsigned char)(token[i] ^ (i < glen ? got[i] : 0));
	return d == 0;
}

static const char *generic_msg(const struct web_req *r, const char *text,
			       const char *human)
{
	return req_kind(r) == WEB_BODY_TEXT ? text : human;
}

void web_serve(struct web_req *r, const char *token, size_t token_len)
{
	unsigned allow = 0;
	char allow_hdr[80];
	enum web_route_result res;

	res = web_route_lookup(r->path, r->path_len, r->method, &r->route,
			       &allow);
	/* A route of a feature that is off is a path like any unknown one. */
	if (r->route && (r->route->flags & WEB_ROUTE_META) &&
	    !mc_store_meta(r->s)) {
		res = WEB_ROUTE_NOT_FOUND;
		r->route = NULL;
	}
	if (res == WEB_ROUTE_NOT_FOUND) {
		web_resp_error(r, 404,
			       generic_msg(r, "NOT_FOUND", "Not found"));
	} else if (res == WEB_ROUTE_BAD_METHOD) {
		char list[64];

		web_method_allow(allow, list, sizeof(list));
		snprintf(allow_hdr, sizeof(allow_hdr), "Allow: %s\r\n", list);
		r->extra_hdr = allow_hdr;
		web_resp_error(r, 405,
			       generic_msg(r, "METHOD_NOT_ALLOWED",
					   "Method not allowed"));
		r->extra_hdr = NULL;
	} else if (token && !(r->method & (WEB_M_GET | WEB_M_HEAD)) &&
		   !(r->route->flags & WEB_ROUTE_NO_AUTH) &&
		   !token_ok(token, token_len,
			     r->io->header(r->conn, "Authorization"))) {
		r->extra_hdr = "WWW-Authenticate: Bearer\r\n";
		web_resp_error(r, 401,
			       generic_msg(r, "UNAUTHORIZED",
					   "Missing or invalid bearer token"));
	} else {
		if (r->route->prefix) {
			size_t n = strlen(r->route->pattern);

			r->arg = r->path + n;
			r->arg_len = r->path_len - n;
		}
		r->route->fn(r);
		if (r->status == 0)
			web_resp_error(r, 500,
				       generic_msg(r, "INTERNAL_ERROR",
						   "Internal error"));
	}
	web_log_failure(r);
}

/*
 * One line per failed request: 5xx are the daemon's trouble (507 no
 * memory, 503 not ready), 401 may be someone probing, other 4xx are a
 * client's mistake; a 404 is as often a plain cache miss, so only debug.
 */
void web_log_failure(const struct web_req *r)
{
	enum mc_log_level l;
	const char *m;
	int plen;

	if (r->status < 400)
		return;
	if (r->status == 500)
		l = MC_LOG_ERROR;
	else if (r->status >= 500 || r->status == 401)
		l = MC_LOG_WARN;
	else if (r->status == 404)
		l = MC_LOG_DEBUG;
	else
		l = MC_LOG_INFO;
	switch (r->method) {
	case WEB_M_GET:
		m = "GET";
		break;
	case WEB_M_HEAD:
		m = "HEAD";
		break;
	case WEB_M_POST:
		m = "POST";
		break;
	case WEB_M_PUT:
		m = "PUT";
		break;
	case WEB_M_DELETE:
		m = "DELETE";
		break;
	default:
		m = "request";
		break;
	}
	/* a path may be 1 MiB long: the log keeps its start */
	plen = r->path_len > 200 ? 200 : (int)r->path_len;
	mc_log(l, "http: %d %s %.*s%s%s%s: %s%s", r->status, m, plen,
	       r->path ? r->path : "", r->path_len > 200 ? "..." : "",
	       r->peer ? " from " : "", r->peer ? r->peer : "",
	       r->why[0] ? r->why : web_status_reason(r->status),
	       r->cut ? " (not sent: the connection was closed)" : "");
}
