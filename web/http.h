/*
 * http.h - a request and its response as the handlers see them.
 *
 * web.c is the only file that knows civetweb; it fills a struct web_req
 * (its connection reached through struct web_io) and calls web_serve(),
 * which looks the route up (route.h) and calls the route's handler, which
 * answers through the web_resp_* functions below (http.c). The unit tests
 * put a fake struct web_io under the same code. Every response leaves
 * in one write: the handler appends its body to r->out, whose first
 * WEB_HDR_ROOM bytes are kept free, and the status line and headers are
 * written into that room right before the body. Bodies too large to copy
 * (values) go with the headers in one gathering write (web_io.write2),
 * or as one header write and one body write.
 *
 * r->out and r->scratch are per-thread buffers reused across requests,
 * so a handler allocates nothing on the common path.
 */
#ifndef WEB_HTTP_H
#define WEB_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

struct mc_store;
struct web_route;
struct web_api_state;

/* Request methods, as bits so a route can take several. */
enum web_method {
	WEB_M_GET = 1,
	WEB_M_HEAD = 2,
	WEB_M_POST = 4,
	WEB_M_PUT = 8,
	WEB_M_DELETE = 16,
	WEB_M_OTHER = 32,
};

/* Bytes kept free at the front of r->out for the status line and headers. */
#define WEB_HDR_ROOM 384

/* Content types (mooncake-http(7), Content types). */
#define WEB_CT_TEXT  "text/plain; version=0.0.4"
#define WEB_CT_JSON  "application/json; charset=utf-8"
#define WEB_CT_BYTES "application/octet-stream"
/* The status page (page.h). */
#define WEB_CT_HTML "text/html; charset=utf-8"

/*
 * The connection, as the framing sees it (civetweb's calls in web.c, a
 * buffer in the tests). write and read move bytes (count, or < 0 on
 * error; read 0 at the end of the body); header is a request header's
 * value or NULL; http_version "1.0" or "1.1".
 */
struct web_io {
	int (*write)(void *conn, const void *p, size_t n);
	/*
	 * Optional: @hl bytes at @h then @n at @p as one write if it can (a
	 * head and a large body): 0, or -EIO when the answer was cut.
	 */
	int (*write2)(void *conn, const void *h, size_t hl, const void *p,
		      size_t n);
	/*
	 * Optional, bytes that need not cross user memory (splice(2)):
	 * pipe_take lends the request a pipe (@fds: read end, write end)
	 * when the connection can take part: 0, or -1 (none: do without);
	 * pipe_give takes it back, reused when @empty, else closed.
	 * read_pipe_begin: body
	 * reads into @base and on may leave their bytes in pipe @wfd
	 * instead (their place in the buffer skipped), until
	 * read_pipe_end, which says how many (*@n), from which offset of
	 * @base (*@at); the bytes read after them, if any, are in the
	 * buffer at their place.
	 */
	int (*pipe_take)(void *conn, int fds[2]);
	void (*pipe_give)(void *conn, int fds[2], bool empty);
	void (*read_pipe_begin)(void *conn, int wfd, void *base);
	void (*read_pipe_end)(void *conn, uint64_t *at, uint64_t *n);
	/*
	 * Optional, with pipe_take: @hl bytes at @h, then @n bytes taken
	 * from pipe @pfd (its read end) spliced behind them: 0, or -EIO
	 * when the answer was cut.
	 */
	int (*write_pipe)(void *conn, const void *h, size_t hl, int pfd,
			  size_t n);
	int (*read)(void *conn, void *buf, size_t n);
	void (*no_keep_alive)(void *conn);
	/*
	 * Optional: true once the daemon stops taking requests (SIGTERM):
	 * the answer being built is the connection's last.
	 */
	bool (*draining)(void *conn);
	const char *(*http_version)(void *conn);
	const char *(*header)(void *conn, const char *name);
};

struct web_req {
	struct mc_store *s;
	struct web_api_state *api; /* shared handler state (api.h) */
	uint64_t max_body;	   /* --max-body */
	unsigned method;	   /* enum web_method */
	bool head;		   /* HEAD: headers only */
	const char *path;	   /* raw (not decoded), without the query */
	size_t path_len;
	const char *arg; /* prefix routes: raw rest of the path */
	size_t arg_len;
	const char *query;	/* raw query string, NULL when none */
	int64_t content_length; /* -1: none given (or chunked) */
	bool chunked;		/* Transfer-Encoding: chunked body */
	/*
	 * "Expect: 100-continue": the client sends the body only after an
	 * interim "100 Continue", which the first web_req_read() writes
	 * (continued); an answer given before that closes the connection
	 * instead of waiting for a body that will not come.
	 */
	bool expect_continue, continued;
	uint64_t consumed; /* body bytes read so far */
	bool body_done;	   /* the whole body has been read */
	bool body_failed;  /* a body read failed: never drain it */
	bool cut;	   /* the answer could not be sent whole (logged so) */
	const struct web_route *route;
	int status;	       /* status sent, 0 until then */
	const char *conn_hdr;  /* "close", "keep-alive" or NULL */
	const char *extra_hdr; /* more header lines ("Allow: GET\r\n") */
	const char *peer;   /* the client address, for the log line, or NULL */
	char why[256];	    /* a failure's reason, for the log line */
	bool ready;	    /* web_set_ready() state */
	struct mc_buf *out; /* response body after WEB_HDR_ROOM */
	struct mc_buf *scratch;	 /* free for the handler */
	const struct web_io *io; /* how to reach the connection */
	void *conn;		 /* the connection, for io */
	/* streaming state (web_resp_stream_*) */
	bool streaming, stream_started, stream_chunked;
	const char *stream_ctype;
};

typedef void web_handler_fn(struct web_req *r);

/* ---------------------------------------------------------- responses */

/* The body appended so far (r->out after WEB_HDR_ROOM). */
static inline size_t web_resp_len(const struct web_req *r)
{
	return r->out->len - WEB_HDR_ROOM;
}
/* Sends r->out's body with @status and @ctype in one write. */
void web_resp_send(struct web_req *r, int status, const char *ctype);
/*
 * Sends @n bytes at @p as the body: copied behind the headers (one write)
 * when small, else headers and body without a copy, in one gathering
 * write when the connection has one (web_io.write2), else two.
 */
void web_resp_send_bytes(struct web_req *r, int status, const char *ctype,
			 const void *p, uint64_t n);
/*
 * Sends the @n bytes waiting in pipe @pfd (its read end) as the body,
 * behind the headers, without their crossing user memory (web_io
 * write_pipe, which the connection must have): 0 once they all left the
 * pipe, else -EIO (a cut answer, whose connection is then closed). Not
 * for a HEAD, which is answered without the bytes.
 */
int web_resp_send_pipe(struct web_req *r, int status, const char *ctype,
		       int pfd, uint64_t n);
/*
 * r->status of a request whose connection was closed unanswered (nginx's
 * 444): the outcome of what it asked is unknown (web_resp_errno of
 * -ECONNABORTED). Logged and counted under this code.
 */
#define WEB_STATUS_CUT 444

/* Sends a `{"status":"success"}` REST answer. */
void web_resp_success(struct web_req *r);
/*
 * The one place error bodies come from: @msg shaped for the route's kind
 * (status.h), sent with @status. Drops whatever r->out held.
 */
void web_resp_error(struct web_req *r, int status, const char *msg);
/*
 * An error body with an extra JSON member (`"name":value`, value already
 * JSON) after "error"; REST routes only.
 */
void web_resp_error_extra(struct web_req *r, int status, const char *msg,
			  const char *extra);
/*
 * A core failure: the status from the errno table; the message from @e
 * when it has one, else @fallback. Text routes answer the error's name:
 * mc_code_name(e->code) when @e has a code, else the table's name.
 * -EAGAIN (no cluster leader) adds Retry-After: 1; -ECONNABORTED (the
 * outcome is unknown) answers nothing and closes the connection.
 */
void web_resp_errno(struct web_req *r, int rc, const struct mc_err *e,
		    const char *fallback);

/*
 * Streamed answers (200, @ctype) for bodies of unbounded size: append to
 * r->out, call web_resp_stream_flush() now and then (it writes once r->out
 * holds about 64 KiB) and web_resp_stream_end() at the end. A body that
 * never reached 64 KiB leaves as one plain write with Content-Length;
 * otherwise HTTP/1.1 gets chunked encoding, HTTP/1.0 a close-delimited
 * body. Returns -EIO once the client is gone.
 */
void web_resp_stream_begin(struct web_req *r, const char *ctype);
int web_resp_stream_flush(struct web_req *r);
void web_resp_stream_end(struct web_req *r);

/* ------------------------------------------------------------ requests */

/*
 * Reads up to @n body bytes: the count, 0 at the end, -ETIMEDOUT when
 * the body came too slowly (mooncake-http(7), LIMITS: the connection is
 * then closed whatever is answered), -EIO when the client went away or
 * broke the framing. A web_io read may return -ETIMEDOUT for the first.
 */
int64_t web_req_read(struct web_req *r, void *buf, size_t n);
/*
 * Reads the whole body into @b (replacing its content): 0, -EFBIG past
 * max_body (Content-Length checked first, nothing read), or the errors
 * of web_req_read().
 */
int web_req_body(struct web_req *r, struct mc_buf *b);
/* Answers a failed body read: 413 past --max-body, 408 too slow, else 400. */
void web_resp_body_error(struct web_req *r, int rc);

/* ------------------------------------------------------------- framing */

/* Limits of a request head (mooncake-http(7), LIMITS). */
#define WEB_FIELD_MAX  (64u << 10) /* one header field, name + value */
#define WEB_FIELDS_MAX 64	   /* header fields (civetweb keeps 64) */

/*
 * One request header field as the framing check sees it; @blank_colon:
 * blanks stood between its name and the colon (the parser dropped them).
 */
struct web_field {
	const char *name, *value;
	bool blank_colon;
};

/*
 * How the request's body is framed, checked against RFC 9112 section 6
 * and the head limits before anything else looks at the request: every
 * Content-Length field (a decimal number, or a list of equal ones) must
 * agree, Transfer-Encoding must be "chunked" alone and given once and
 * never with Content-Length, no field may be over WEB_FIELD_MAX or have
 * blanks before its colon (RFC 9112 section 5.1), and an
 * HTTP/1.1 request (@http11) has exactly one Host (section 3.2). @cut:
 * the parser stopped before the end of the head (more than
 * WEB_FIELDS_MAX fields, or a line that is no field). Returns 0 with
 * *@clen the body's length (-1: none given, or chunked) and *@chunked,
 * or the status to answer before closing the connection (400, 431),
 * with the reason in *@why. *@longest is the longest field value.
 */
int web_framing(const struct web_field *f, size_t n, bool cut, bool http11,
		int64_t *clen, bool *chunked, size_t *longest,
		const char **why);

/* ------------------------------------------------------------ dispatch */

/* Readies a request's r->out (WEB_HDR_ROOM kept free) and r->scratch. */
void web_buffers_ready(struct mc_buf *out, struct mc_buf *scratch);

/*
 * Serves @r: looks its raw path up (404, or 405 with Allow), checks the
 * bearer token for methods other than GET and HEAD when @token is set
 * (401), calls the route's handler, and answers 500 for a handler that
 * answered nothing. On return r->status is what was sent and r->route
 * the route (NULL when none has the path).
 */
void web_serve(struct web_req *r, const char *token, size_t token_len);

/*
 * Logs @r when its status is 400 or more (web_serve does it): "http:
 * STATUS METHOD PATH from PEER: reason", ERROR for 500, WARN for other
 * 5xx and 401, DEBUG for 404, INFO for the rest (mooncaked(8), LOGGING).
 */
void web_log_failure(const struct web_req *r);

#endif
