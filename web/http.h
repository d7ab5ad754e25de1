/*
 * http.h - a request and its response as the handlers see them.
 *
 * web.c is the only file that knows civetweb; it fills a struct mc_req,
 * looks the route up (route.h) and calls the route's handler, which
 * answers through the mc_resp_* functions below. Every response leaves
 * in one write: the handler appends its body to r->out, whose first
 * MC_HDR_ROOM bytes are kept free, and the status line and headers are
 * written into that room right before the body. Bodies too large to copy
 * (values) go as one header write and one body write.
 *
 * r->out and r->scratch are per-thread buffers reused across requests,
 * so a handler allocates nothing on the common path.
 */
#ifndef MC_WEB_HTTP_H
#define MC_WEB_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

struct mc_store;
struct mc_route;
struct mc_api_state;

/* Request methods, as bits so a route can take several. */
enum mc_method {
	MC_M_GET = 1,
	MC_M_HEAD = 2,
	MC_M_POST = 4,
	MC_M_PUT = 8,
	MC_M_DELETE = 16,
	MC_M_OTHER = 32,
};

/* Bytes kept free at the front of r->out for the status line and headers. */
#define MC_HDR_ROOM 384

/* Content types of CONTRACT section 3. */
#define MC_CT_TEXT "text/plain; version=0.0.4"
#define MC_CT_JSON "application/json; charset=utf-8"
#define MC_CT_BYTES "application/octet-stream"

struct mc_req {
	struct mc_store *s;
	struct mc_api_state *api;   /* shared handler state (api.h) */
	uint64_t max_body;          /* --max-body */
	unsigned method;            /* enum mc_method */
	bool head;                  /* HEAD: headers only */
	const char *path;           /* raw (not decoded), without the query */
	size_t path_len;
	const char *arg;            /* prefix routes: raw rest of the path */
	size_t arg_len;
	const char *query;          /* raw query string, NULL when none */
	int64_t content_length;     /* -1: none given (or chunked) */
	bool chunked;               /* Transfer-Encoding: chunked body */
	uint64_t consumed;          /* body bytes read so far */
	bool body_done;             /* the whole body has been read */
	const struct mc_route *route;
	int status;                 /* status sent, 0 until then */
	const char *conn_hdr;       /* "close", "keep-alive" or NULL */
	const char *extra_hdr;      /* more header lines ("Allow: GET\r\n") */
	bool ready;                 /* mc_web_set_ready() state */
	struct mc_buf *out;         /* response body after MC_HDR_ROOM */
	struct mc_buf *scratch;     /* free for the handler */
	void *conn;                 /* the civetweb connection */
	/* streaming state (mc_resp_stream_*) */
	bool streaming, stream_started, stream_chunked;
	const char *stream_ctype;
};

typedef void mc_handler_fn(struct mc_req *r);

/* ---------------------------------------------------------- responses */

/* The body appended so far (r->out after MC_HDR_ROOM). */
static inline size_t mc_resp_len(const struct mc_req *r)
{
	return r->out->len - MC_HDR_ROOM;
}
/* Drops what was appended to r->out. */
void mc_resp_clear(struct mc_req *r);
/* Sends r->out's body with @status and @ctype in one write. */
void mc_resp_send(struct mc_req *r, int status, const char *ctype);
/*
 * Sends @n bytes at @p as the body: copied behind the headers (one write)
 * when small, else headers and body in two writes without a copy.
 */
void mc_resp_send_bytes(struct mc_req *r, int status, const char *ctype,
			const void *p, uint64_t n);
/* Sends a `{"status":"success"}` REST answer. */
void mc_resp_success(struct mc_req *r);
/*
 * The one place error bodies come from: @msg shaped for the route's kind
 * (status.h), sent with @status. Drops whatever r->out held.
 */
void mc_resp_error(struct mc_req *r, int status, const char *msg);
/*
 * An error body with an extra JSON member (`"name":value`, value already
 * JSON) after "error"; REST routes only.
 */
void mc_resp_error_extra(struct mc_req *r, int status, const char *msg,
			 const char *extra);
/*
 * A core failure: the status from the errno table; the message from @e
 * when it has one, else @fallback.
 */
void mc_resp_errno(struct mc_req *r, int rc, const struct mc_err *e,
		   const char *fallback);

/*
 * Streamed answers (200, @ctype) for bodies of unbounded size: append to
 * r->out, call mc_resp_stream_flush() now and then (it writes once r->out
 * holds about 64 KiB) and mc_resp_stream_end() at the end. A body that
 * never reached 64 KiB leaves as one plain write with Content-Length;
 * otherwise HTTP/1.1 gets chunked encoding, HTTP/1.0 a close-delimited
 * body. Returns -EIO once the client is gone.
 */
void mc_resp_stream_begin(struct mc_req *r, const char *ctype);
int mc_resp_stream_flush(struct mc_req *r);
void mc_resp_stream_end(struct mc_req *r);

/* ------------------------------------------------------------ requests */

/* A request header's value, or NULL. */
const char *mc_req_header(const struct mc_req *r, const char *name);
/*
 * Reads up to @n body bytes: the count, 0 at the end, -EIO when the
 * client stopped sending (no byte for request_timeout_ms) or broke the
 * framing.
 */
int64_t mc_req_read(struct mc_req *r, void *buf, size_t n);
/*
 * Reads the whole body into @b (replacing its content): 0, -EFBIG past
 * max_body (Content-Length checked first, nothing read), or the errors
 * of mc_req_read().
 */
int mc_req_body(struct mc_req *r, struct mc_buf *b);
/* Answers a failed body read: 413 past --max-body, else 400. */
void mc_resp_body_error(struct mc_req *r, int rc);

#endif
