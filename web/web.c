/*
 * web.c - the HTTP door over civetweb: options, start and stop, the
 * request's fields from civetweb's, the connection calls behind struct
 * web_io, and the per-route metrics. Framing and dispatch are http.c.
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
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>

#include "api.h"
#include "log.h"
#include "metrics.h"
#include "mooncake.h"
#include "route.h"
#include "status.h"
#include "web.h"

#define KEEP_MAX    (8u << 20) /* per-thread buffers trimmed above */
#define REQUEST_MAX "1064960"  /* 1 MiB request line + 16 KiB */

_Static_assert(WEB_FIELDS_MAX == MG_MAX_HEADERS, "civetweb keeps 64 fields");

/* Status codes whose counters are cached per route; others look up. */
static const int codes[] = {200, 400, 401, 403, 404, 405, 408,
			    409, 413, 431, 500, 501, 503, 507};
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

struct web_token {
	struct web_token *older; /* the retired list */
	size_t len;
	char tok[];
};

/*
 * A token from @t without surrounding blanks (token files end in a
 * newline); NULL with errno EINVAL when nothing is left, ENOMEM.
 */
static struct web_token *token_new(const char *t)
{
	struct web_token *k;
	size_t n;

	while (*t == ' ' || *t == '\t' || *t == '\n' || *t == '\r')
		t++;
	n = strlen(t);
	while (n && strchr(" \t\r\n", t[n - 1]))
		n--;
	if (n == 0) {
		errno = EINVAL;
		return NULL;
	}
	k = malloc(sizeof(*k) + n + 1);
	if (!k)
		return NULL;
	k->older = NULL;
	k->len = n;
	memcpy(k->tok, t, n);
	k->tok[n] = '\0';
	return k;
}

static void tokens_free(struct web_token *k)
{
	while (k) {
		struct web_token *o = k->older;

		explicit_bzero(k->tok, k->len);
		free(k);
		k = o;
	}
}

/* Whether binding @host:@port fails because someone listens there. */
static bool port_in_use(const char *host, unsigned port)
{
	struct sockaddr_in a4 = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port)};
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6,
				  .sin6_port = htons((uint16_t)port)};
	bool v6 = inet_pton(AF_INET6, host, &a6.sin6_addr) == 1;
	int fd, r;

	if (!v6 && inet_pton(AF_INET, host, &a4.sin_addr) != 1)
		return false;
	fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	r = v6 ? bind(fd, (struct sockaddr *)&a6, sizeof(a6))
	       : bind(fd, (struct sockaddr *)&a4, sizeof(a4));
	r = r < 0 && errno == EADDRINUSE;
	close(fd);
	return r;
}

struct web {
	struct mc_store *s;
	struct mg_context *ctx;
	unsigned port;
	_Atomic bool ready;
	/*
	 * The bearer token, swapped whole by web_set_token() while requests
	 * read it; a replaced token is kept on the retired list until
	 * web_stop, so that a request still comparing against it is safe.
	 */
	struct web_token *_Atomic token;
	struct web_token *retired;
	pthread_mutex_t token_lock;
	uint64_t max_body;
	struct web_api_state *api;
	struct mc_family *requests, *duration;
	struct route_stats *stats; /* web_nroutes + 1 ("other") */
};

/* Per-thread buffers reused across requests (civetweb workers). */
static __thread struct mc_buf tl_out, tl_scratch;

/* ------------------------------------------------------------ metrics */

static const double duration_buckets[] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5};

static void stats_init(struct web *w)
{
	struct mc_metrics *m = mc_store_metrics(w->s);

	w->requests =
		mc_metrics_family(m, "mooncake_http_requests_total",
				  "HTTP requests served, by route and status",
				  MC_COUNTER, "route,code", NULL, 0);
	w->duration = mc_metrics_family(
		m, "mooncake_http_request_duration_seconds",
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

static void stats_count(struct web *w, const struct web_route *rt, int status,
			double seconds)
{
	struct route_stats *st =
		&w->stats[rt ? (size_t)(rt - web_routes) : web_nroutes];
	struct mc_series *s = NULL, *d;
	char code[16];
	const char *v[2] = {st->label, code};
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

/* ------------------------------------------------- the civetweb side */

static int civet_write(void *conn, const void *p, size_t n)
{
	return mg_write(conn, p, n);
}

static int civet_read(void *conn, void *buf, size_t n)
{
	return mg_read(conn, buf, n);
}

static void civet_no_keep_alive(void *conn)
{
	mg_disable_connection_keep_alive(conn);
}

static const char *civet_http_version(void *conn)
{
	return mg_get_request_info(conn)->http_version;
}

static const char *civet_header(void *conn, const char *name)
{
	return mg_get_header(conn, name);
}

static const struct web_io civet_io = {
	.write = civet_write,
	.read = civet_read,
	.no_keep_alive = civet_no_keep_alive,
	.http_version = civet_http_version,
	.header = civet_header,
};

static void buffers_ready(void)
{
	web_buffers_ready(&tl_out, &tl_scratch);
}

static void buffers_trim(void)
{
	if (tl_out.cap > KEEP_MAX)
		mc_buf_release(&tl_out);
	if (tl_scratch.cap > KEEP_MAX)
		mc_buf_release(&tl_scratch);
}

/*
 * A request refused before any route sees it (its head or framing is
 * bad, or civetweb could not read it): a short text body and a closed
 * connection, since what follows on the wire can no longer be trusted
 * to start a request.
 */
static int refuse(struct mg_connection *c, int status, const char *why)
{
	const struct mg_request_info *ri = mg_get_request_info(c);
	struct web *w = ri ? ri->user_data : NULL;
	struct web_req r = {0};

	buffers_ready();
	r.io = &civet_io;
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
	/* a stalled client's timeout is routine: only debug */
	mc_log(status == 408 ? MC_LOG_DEBUG : MC_LOG_INFO,
	       "http: %d from %s: %s", status,
	       ri && ri->remote_addr[0] ? ri->remote_addr : "?",
	       why && *why ? why : web_status_reason(status));
	return status;
}

/*
 * civetweb parses the head in place (NULs over the ':' and the line
 * ends) and stops without a word at the 65th field, or at a line that
 * starts with a blank (obs-fold) or ':', so a Content-Length after it
 * would go unseen. The line after the last field it kept tells: the end
 * of the head ('\r' of the empty line, or the NUL it wrote over the
 * last '\n'), or a line it did not take. A line end left one NUL (LF)
 * or two (CRLF); the last one is taken to be like the one before it,
 * which the distance from the previous field (or the request line) to
 * the last field's name shows.
 */
static bool head_cut(const struct mg_request_info *ri)
{
	int n = ri->num_headers;
	const char *prev, *end;
	size_t eol;

	if (n <= 0)
		return false; /* HTTP/1.1 needs a Host: web_framing says so */
	prev = n > 1 ? ri->http_headers[n - 2].value : ri->http_version;
	if (!prev)
		return false;
	eol = (size_t)(ri->http_headers[n - 1].name - (prev + strlen(prev)));
	if (eol < 1 || eol > 2)
		return true; /* blanks before the first field */
	end = ri->http_headers[n - 1].value;
	end += strlen(end);
	if (eol == 2 && end[1])
		return true; /* a bare LF after CRLFs */
	return end[eol] != '\r' && end[eol] != '\0';
}

/*
 * The framing checks (web_framing) over civetweb's parsed fields: 0 and
 * the body's length and coding, or the status to refuse the request
 * with and why.
 */
static int framing(const struct mg_request_info *ri, int64_t *clen,
		   bool *chunked, const char **why)
{
	struct web_field f[WEB_FIELDS_MAX];
	int n = ri->num_headers;

	for (int i = 0; i < n; i++) {
		f[i].name = ri->http_headers[i].name;
		f[i].value = ri->http_headers[i].value;
	}
	return web_framing(f, (size_t)n, head_cut(ri),
			   ri->http_version && !strcmp(ri->http_version, "1.1"),
			   clen, chunked, why);
}

static int begin_request(struct mg_connection *c)
{
	const struct mg_request_info *ri = mg_get_request_info(c);
	struct web *w = ri->user_data;
	struct web_req r = {0};
	struct timespec t0, t1;
	const struct web_token *tok;
	const char *h, *why;
	int st;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	st = framing(ri, &r.content_length, &r.chunked, &why);
	if (st)
		return refuse(c, st, why);
	buffers_ready();
	r.s = w->s;
	r.api = w->api;
	r.peer = ri->remote_addr;
	r.max_body = w->max_body;
	r.io = &civet_io;
	r.conn = c;
	r.out = &tl_out;
	r.scratch = &tl_scratch;
	r.ready = atomic_load_explicit(&w->ready, memory_order_relaxed);
	r.method = web_method_parse(ri->request_method);
	r.head = r.method == WEB_M_HEAD;
	r.path = ri->local_uri_raw ? ri->local_uri_raw : "/";
	r.path_len = strlen(r.path);
	r.query = ri->query_string;
	h = mg_get_header(c, "Expect");
	r.expect_continue = h && !strcasecmp(h, "100-continue") &&
			    ri->http_version && strcmp(ri->http_version, "1.0");
	h = mg_get_header(c, "Connection");
	if (ri->http_version && strcmp(ri->http_version, "1.0") == 0) {
		if (h && strcasestr(h, "keep-alive"))
			r.conn_hdr = "keep-alive";
	} else if (h && strcasestr(h, "close")) {
		r.conn_hdr = "close";
	}

	tok = atomic_load_explicit(&w->token, memory_order_acquire);
	web_serve(&r, tok ? tok->tok : NULL, tok ? tok->len : 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	stats_count(w, r.route, r.status,
		    (double)(t1.tv_sec - t0.tv_sec) +
			    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	buffers_trim();
	return r.status;
}

/*
 * Errors civetweb finds itself (malformed request line, a head past
 * max_request_size, a Content-Length it cannot read, timeouts). A head
 * too large is 431 rather than civetweb's 413; a Content-Length that is
 * no number is 400 like every other framing error, not 411.
 */
static int http_error(struct mg_connection *c, int status, const char *msg)
{
	if (status == 413)
		status = 431;
	else if (status == 411)
		status = 400;
	refuse(c, status, msg);
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
	struct mg_callbacks cb = {0};
	struct mg_init_data init = {0};
	char ebuf[256] = "";
	struct mg_error_data ed = {.text = ebuf,
				   .text_buffer_size = sizeof(ebuf)};
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
	pthread_mutex_init(&w->token_lock, NULL);
	if (o->auth_token) {
		struct web_token *k = token_new(o->auth_token);

		if (!k) {
			mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				   errno == EINVAL ? "the auth token is empty"
						   : "out of memory");
			pthread_mutex_destroy(&w->token_lock);
			free(w);
			return NULL;
		}
		atomic_init(&w->token, k);
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
			tokens_free(atomic_load(&w->token));
			pthread_mutex_destroy(&w->token_lock);
			free(w);
			return NULL;
		}
	}
	snprintf(ports, sizeof(ports), strchr(host, ':') ? "[%s]:%u" : "%s:%u",
		 host, o->port);
	snprintf(threads, sizeof(threads), "%u", o->threads ? o->threads : 64);
	const char *opts[] = {
		"listening_ports",
		ports,
		"num_threads",
		threads,
		"enable_keep_alive",
		"yes",
		"keep_alive_timeout_ms",
		"5000",
		"request_timeout_ms",
		"10000",
		"max_request_size",
		REQUEST_MAX,
		"decode_url",
		"no",
		"enable_auth_domain_check",
		"no",
		"tcp_nodelay",
		"1",
		"connection_queue",
		"256",
		NULL,
	};

	w->api = web_api_state_new();
	web_api_state_set_page(w->api, o->page);
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
		/*
		 * civetweb only says "Failed to setup server ports": say
		 * what a person can act on, and which option picks another.
		 */
		if (o->port && port_in_use(host, o->port))
			mc_err_set(err, -EADDRINUSE, MC_INTERNAL_ERROR,
				   "cannot listen on '%s': the port is in "
				   "use; choose another with --port",
				   ports);
		else
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
	tokens_free(atomic_load(&w->token));
	pthread_mutex_destroy(&w->token_lock);
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
	tokens_free(atomic_load(&w->token));
	tokens_free(w->retired);
	pthread_mutex_destroy(&w->token_lock);
	free(w);
}

int web_set_token(struct web *w, const char *token)
{
	struct web_token *k = NULL, *old;

	if (token) {
		k = token_new(token);
		if (!k)
			return -errno;
	}
	pthread_mutex_lock(&w->token_lock);
	old = atomic_exchange_explicit(&w->token, k, memory_order_acq_rel);
	if (old) {
		old->older = w->retired;
		w->retired = old;
	}
	pthread_mutex_unlock(&w->token_lock);
	return 0;
}
