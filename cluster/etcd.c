/*
 * etcd.c - the etcd v3 client over the JSON gateway (see etcd.h).
 *
 * Unary calls use curl_easy_perform() on pooled easy handles, so
 * connections are reused between calls; campaign and the streams drive
 * their own handle through a multi handle, whose poll also waits on the
 * cancel token's eventfd, so a stop wakes them at once.
 */
#include "autoconfig.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "etcd.h"
#include "etcd_int.h"

#define MAX_ENDPOINTS  16
#define MAX_BACKOFF_MS 1000
/* A stream line (one watch answer) larger than this ends the stream. */
#define MAX_LINE (16u << 20)

struct conn {
	CURL *h;
	struct conn *next;
};

struct mc_etcd {
	char *eps[MAX_ENDPOINTS];
	unsigned n_eps;
	_Atomic unsigned cur;
	struct mc_etcd_opts o;
	pthread_mutex_t lock; /* guards idle */
	struct conn *idle;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* --- the client ---------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void mc_etcd_opts_default(struct mc_etcd_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->timeout_ms = 2000;
	o->connect_timeout_ms = 500;
	o->backoff_ms = 50;
	o->max_response = 64u << 20;
}

struct mc_etcd *mc_etcd_new(const struct mc_etcd_opts *o, struct mc_err *err)
{
	struct mc_etcd *e;
	const char *p;

	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK) {
		mc_etcd_fail(err, -EIO, "libcurl failed to start: %s",
			     curl_easy_strerror(curl_init_rc));
		return NULL;
	}
	if (!o->endpoints || !*o->endpoints) {
		mc_etcd_fail(err, -EINVAL, "no etcd endpoint given");
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		mc_etcd_fail(err, -ENOMEM, "out of memory");
		return NULL;
	}
	e->o = *o;
	e->o.endpoints = NULL;
	if (!e->o.timeout_ms)
		e->o.timeout_ms = 2000;
	if (!e->o.connect_timeout_ms)
		e->o.connect_timeout_ms = 500;
	if (e->o.connect_timeout_ms > e->o.timeout_ms)
		e->o.connect_timeout_ms = e->o.timeout_ms;
	if (!e->o.backoff_ms)
		e->o.backoff_ms = 50;
	if (!e->o.max_response)
		e->o.max_response = 64u << 20;
	pthread_mutex_init(&e->lock, NULL);
	for (p = o->endpoints; *p;) {
		size_t n = strcspn(p, ",");
		const char *host;

		while (n && p[n - 1] == '/')
			n--;
		if (strncmp(p, "http://", 7) == 0)
			host = p + 7;
		else if (strncmp(p, "https://", 8) == 0)
			host = p + 8;
		else
			host = NULL;
		if (!host || host >= p + n || *host == '/' || *host == ':' ||
		    memchr(p, ' ', n)) {
			mc_etcd_fail(
				err, -EINVAL,
				"etcd endpoint '%.*s' is not an http:// URL",
				(int)(n > 100 ? 100 : n), p);
			goto bad;
		}
		if (e->n_eps == MAX_ENDPOINTS) {
			mc_etcd_fail(err, -EINVAL,
				     "more than %d etcd endpoints",
				     MAX_ENDPOINTS);
			goto bad;
		}
		e->eps[e->n_eps] = strndup(p, n);
		if (!e->eps[e->n_eps]) {
			mc_etcd_fail(err, -ENOMEM, "out of memory");
			goto bad;
		}
		e->n_eps++;
		p += strcspn(p, ",");
		if (*p == ',')
			p++;
	}
	if (!e->n_eps) {
		mc_etcd_fail(err, -EINVAL, "no etcd endpoint given");
		goto bad;
	}
	return e;
bad:
	mc_etcd_free(e);
	return NULL;
}

void mc_etcd_free(struct mc_etcd *e)
{
	if (!e)
		return;
	while (e->idle) {
		struct conn *c = e->idle;

		e->idle = c->next;
		curl_easy_cleanup(c->h);
		free(c);
	}
	for (unsigned i = 0; i < e->n_eps; i++)
		free(e->eps[i]);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

const char *mc_etcd_endpoint(struct mc_etcd *e)
{
	return e->eps[atomic_load(&e->cur) % e->n_eps];
}

/* Moves to the endpoint after @idx, unless another thread already did. */
static void rotate(struct mc_etcd *e, unsigned idx)
{
	unsigned want = idx;

	atomic_compare_exchange_strong(&e->cur, &want, (idx + 1) % e->n_eps);
}

/* --- cancel tokens ------------------------------------------------------- */

struct mc_etcd_cancel {
	int fd; /* an eventfd: readable once fired, never read until reset */
};

struct mc_etcd_cancel *mc_etcd_cancel_new(void)
{
	struct mc_etcd_cancel *c = malloc(sizeof(*c));

	if (!c)
		return NULL;
	c->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->fd < 0) {
		free(c);
		return NULL;
	}
	return c;
}

void mc_etcd_cancel_fire(struct mc_etcd_cancel *c)
{
	uint64_t one = 1;
	ssize_t r = write(c->fd, &one, sizeof(one));

	(void)r; /* EAGAIN: the counter is full, so fired already */
}

bool mc_etcd_cancel_fired(struct mc_etcd_cancel *c)
{
	struct pollfd p = {.fd = c ? c->fd : -1, .events = POLLIN};

	return c && poll(&p, 1, 0) == 1;
}

void mc_etcd_cancel_reset(struct mc_etcd_cancel *c)
{
	uint64_t v;
	ssize_t r = read(c->fd, &v, sizeof(v));

	(void)r;
}

void mc_etcd_cancel_free(struct mc_etcd_cancel *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c);
}

/* Sleeps @ms, or less when @c fires; true when it fired. */
static bool pause_ms(struct mc_etcd_cancel *c, unsigned ms)
{
	if (!c) {
		struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

		nanosleep(&ts, NULL);
		return false;
	}
	struct pollfd p = {.fd = c->fd, .events = POLLIN};

	return poll(&p, 1, (int)ms) == 1;
}

static unsigned jitter(unsigned ms)
{
	static _Thread_local unsigned seed;

	if (!seed)
		seed = (unsigned)now_ms() ^ (unsigned)(uintptr_t)&seed;
	/* between ms/2 and ms, so clients that failed together spread out */
	return ms / 2 + (ms > 1 ? (unsigned)rand_r(&seed) % (ms / 2 + 1) : 0);
}

/* --- one HTTP exchange --------------------------------------------------- */

struct body {
	char *p;
	size_t len, cap, max;
	bool too_big;
};

static size_t body_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	size_t n = size * nmemb;

	if (n > b->max - b->len) {
		b->too_big = true;
		return 0;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p)
			return 0;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, ptr, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

static CURL *conn_get(struct mc_etcd *e, struct conn **cp)
{
	struct conn *c;

	pthread_mutex_lock(&e->lock);
	c = e->idle;
	if (c)
		e->idle = c->next;
	pthread_mutex_unlock(&e->lock);
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return NULL;
		c->h = curl_easy_init();
		if (!c->h) {
			free(c);
			return NULL;
		}
	}
	*cp = c;
	return c->h;
}

static void conn_put(struct mc_etcd *e, struct conn *c, bool keep)
{
	if (!keep) {
		curl_easy_cleanup(c->h);
		free(c);
		return;
	}
	pthread_mutex_lock(&e->lock);
	c->next = e->idle;
	e->idle = c;
	pthread_mutex_unlock(&e->lock);
}

/* Options every request shares. */
static void setup(CURL *h, const char *url, const char *req, size_t len,
		  struct curl_slist *hdrs)
{
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, req);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	/* a stream on a dead peer (cable pulled, host gone) must end */
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 2L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	/* no Expect: 100-continue round trip for large puts */
	curl_easy_setopt(h, CURLOPT_EXPECT_100_TIMEOUT_MS, 0L);
}

/* Could the request have reached etcd before @rc happened? */
static bool maybe_sent(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return false;
	default:
		return true;
	}
}

static int curl_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

enum { IDEMPOTENT = 1, NO_RETRY_AFTER_SEND = 0 };

/*
 * POSTs @req (a JSON object, not consumed) to @path and hands back the
 * answer's object. See etcd.h for the retry rules.
 */
/* A call's budget instead of timeout_ms (0: that), for this thread. */
static __thread unsigned tl_budget_ms;

static int call(struct mc_etcd *e, const char *path, struct json_object *req,
		int idempotent, struct json_object **out, struct mc_err *err)
{
	const char *body =
		json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	size_t blen = strlen(body);
	uint64_t start = now_ms(),
		 deadline = start +
			    (tl_budget_ms ? tl_budget_ms : e->o.timeout_ms);
	unsigned backoff = e->o.backoff_ms, tries = 0, proto_fails = 0;
	struct curl_slist *hdrs;
	struct mc_err last = {0, ""};
	int last_rc = -ETIMEDOUT;
	char url[512];

	hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	if (!hdrs)
		return mc_etcd_fail(err, -ENOMEM, "out of memory");
	for (;;) {
		unsigned idx = atomic_load(&e->cur) % e->n_eps;
		uint64_t now = now_ms();
		struct body b = {.max = e->o.max_response};
		struct conn *c;
		CURLcode rc;
		long status = 0;
		int ret;

		if (now >= deadline)
			break;
		CURL *h = conn_get(e, &c);
		if (!h) {
			curl_slist_free_all(hdrs);
			return mc_etcd_fail(err, -ENOMEM, "out of memory");
		}
		snprintf(url, sizeof(url), "%s%s", e->eps[idx], path);
		setup(h, url, body, blen, hdrs);
		/* with other endpoints left, a silent one may not eat the
		 * whole budget */
		uint64_t slice = e->n_eps > 1 ? (deadline - now + 1) / 2
					      : deadline - now;

		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)slice);
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
				 (long)(deadline - now < e->o.connect_timeout_ms
						? deadline - now
						: e->o.connect_timeout_ms));
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_write);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
		rc = curl_easy_perform(h);
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		conn_put(e, c, rc == CURLE_OK);
		tries++;
		if (rc == CURLE_OK) {
			ret = mc_etcd_answer(path, status, b.p ? b.p : "",
					     b.len, out, &last);
			free(b.p);
			if (ret == 0) {
				curl_slist_free_all(hdrs);
				return 0;
			}
			if (ret != -EAGAIN && ret != -EPROTO) {
				curl_slist_free_all(hdrs);
				if (err)
					*err = last;
				return ret;
			}
			/* an endpoint that is not etcd (or not ready): try the
			 * others once each, then give up */
			if (ret == -EPROTO && ++proto_fails >= e->n_eps) {
				curl_slist_free_all(hdrs);
				return mc_etcd_fail(err, ret, "%s (from '%s')",
						    last.msg, e->eps[idx]);
			}
			last_rc = ret;
		} else {
			free(b.p);
			if (b.too_big) {
				curl_slist_free_all(hdrs);
				return mc_etcd_fail(
					err, -EMSGSIZE,
					"etcd answer to '%s' is larger "
					"than %zu bytes",
					path, e->o.max_response);
			}
			last_rc = curl_errno(rc);
			mc_etcd_fail(&last, last_rc, "'%s' on '%s': %s", path,
				     e->eps[idx], curl_easy_strerror(rc));
			if (maybe_sent(rc) && !idempotent) {
				curl_slist_free_all(hdrs);
				return mc_etcd_fail(err, last_rc,
						    "%s (outcome unknown)",
						    last.msg);
			}
		}
		rotate(e, idx);
		if (tries % e->n_eps == 0) {
			now = now_ms();
			if (now >= deadline)
				break;
			unsigned ms = jitter(backoff);

			if (ms > deadline - now)
				ms = (unsigned)(deadline - now);
			pause_ms(NULL, ms);
			backoff = backoff * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS
							       : backoff * 2;
		}
	}
	curl_slist_free_all(hdrs);
	if (last_rc == -EAGAIN)
		last_rc = -ETIMEDOUT;
	return mc_etcd_fail(
		err, last_rc == -ECONNREFUSED ? -ECONNREFUSED : -ETIMEDOUT,
		"etcd request '%s' failed after %u ms: %s", path,
		(unsigned)(now_ms() - start),
		last.msg[0] ? last.msg : "no answer");
}

/* --- building requests --------------------------------------------------- */

static int add_bytes(struct json_object *o, const char *name, const void *p,
		     size_t n)
{
	char *s = mc_b64_encode(p, n);

	if (!s)
		return -ENOMEM;
	json_object_object_add(o, name, json_object_new_string(s));
	free(s);
	return 0;
}

static void add_int(struct json_object *o, const char *name, int64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "%" PRId64, v);
	json_object_object_add(o, name, json_object_new_string(s));
}

size_t mc_etcd_prefix_end(const void *prefix, size_t plen, char *end)
{
	const unsigned char *p = prefix;

	for (size_t i = plen; i > 0; i--) {
		if (p[i - 1] != 0xff) {
			memcpy(end, p, i);
			end[i - 1] = (char)(p[i - 1] + 1);
			return i;
		}
	}
	end[0] = '\0';
	return 1;
}

/* Adds key and range_end for (key, end, flags). */
static int add_range(struct json_object *o, const void *key, size_t klen,
		     const void *end, size_t elen, unsigned flags)
{
	int rc = add_bytes(o, "key", key, klen);

	if (rc)
		return rc;
	if (flags & MC_ETCD_PREFIX) {
		char *pe = malloc(klen + 1);

		if (!pe)
			return -ENOMEM;
		size_t n = mc_etcd_prefix_end(key, klen, pe);

		rc = add_bytes(o, "range_end", pe, n);
		free(pe);
		return rc;
	}
	if (end && elen)
		return add_bytes(o, "range_end", end, elen);
	return 0;
}

static int check_key(const void *key, size_t klen, struct mc_err *err)
{
	if (!key || !klen)
		return mc_etcd_fail(err, -EINVAL, "etcd key is empty");
	return 0;
}

#define REQ(o)                                                                 \
	struct json_object *o = json_object_new_object();                      \
	if (!o)                                                                \
	return mc_etcd_fail(err, -ENOMEM, "out of memory")

/* call() for a request built here: consumes @req; @ans NULL drops the
 * answer. */
static int send_req(struct mc_etcd *e, const char *path,
		    struct json_object *req, int idempotent,
		    struct json_object **ans, struct mc_err *err)
{
	struct json_object *a = NULL;
	int rc = call(e, path, req, idempotent, &a, err);

	json_object_put(req);
	if (ans)
		*ans = a;
	else
		json_object_put(a);
	return rc;
}

/* A request that names one lease: {"ID": id} (+ "keys"). */
static int lease_req(struct mc_etcd *e, const char *path, int64_t id, bool keys,
		     struct json_object **ans, struct mc_err *err)
{
	if (id <= 0)
		return mc_etcd_fail(err, -EINVAL,
				    "lease id %" PRId64 " is not positive", id);
	REQ(req);
	add_int(req, "ID", id);
	if (keys)
		json_object_object_add(req, "keys", json_object_new_boolean(1));
	return send_req(e, path, req, IDEMPOTENT, ans, err);
}

/* --- KV ------------------------------------------------------------------ */

int mc_etcd_put(struct mc_etcd *e, const void *key, size_t klen,
		const void *val, size_t vlen, int64_t lease, int64_t *rev,
		struct mc_err *err)
{
	struct json_object *ans;
	int rc;

	if ((rc = check_key(key, klen, err)))
		return rc;
	REQ(req);
	if (add_bytes(req, "key", key, klen) ||
	    add_bytes(req, "value", val ? val : "", vlen)) {
		json_object_put(req);
		return mc_etcd_fail(err, -ENOMEM, "out of memory");
	}
	if (lease)
		add_int(req, "lease", lease);
	rc = send_req(e, "/v3/kv/put", req, IDEMPOTENT, &ans, err);
	if (rc)
		return rc;
	if (rev)
		rc = mc_etcd_header_rev(ans, rev, err);
	json_object_put(ans);
	return rc;
}

int mc_etcd_range(struct mc_etcd *e, const void *key, size_t klen,
		  const void *end, size_t elen, unsigned flags, int64_t limit,
		  int64_t rev, struct mc_etcd_kvs *out, struct mc_err *err)
{
	struct json_object *ans;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!(flags & MC_ETCD_PREFIX) && (rc = check_key(key, klen, err)))
		return rc;
	if (limit < 0 || rev < 0)
		return mc_etcd_fail(err, -EINVAL,
				    "etcd range limit or revision is negative");
	REQ(req);
	if (add_range(req, key ? key : "", klen, end, elen, flags)) {
		json_object_put(req);
		return mc_etcd_fail(err, -ENOMEM, "out of memory");
	}
	if (limit)
		add_int(req, "limit", limit);
	if (rev)
		add_int(req, "revision", rev);
	if (flags & MC_ETCD_KEYS_ONLY)
		json_object_object_add(req, "keys_only",
				       json_object_new_boolean(1));
	if (flags & MC_ETCD_SORT_CREATE) {
		json_object_object_add(req, "sort_order",
				       json_object_new_string("ASCEND"));
		json_object_object_add(req, "sort_target",
				       json_object_new_string("CREATE"));
	}
	rc = send_req(e, "/v3/kv/range", req, IDEMPOTENT, &ans, err);
	if (rc)
		return rc;
	if (!(rc = mc_etcd_header_rev(ans, &out->revision, err)) &&
	    !(rc = mc_etcd_json_int64(ans, "count", &out->count, err)))
		rc = mc_etcd_parse_kvs(ans, "kvs", out, err);
	out->more = mc_etcd_json_true(ans, "more");
	json_object_put(ans);
	return rc;
}

int mc_etcd_get(struct mc_etcd *e, const void *key, size_t klen,
		struct mc_etcd_kv *out, struct mc_err *err)
{
	struct mc_etcd_kvs r;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = mc_etcd_range(e, key, klen, NULL, 0, 0, 1, 0, &r, err);
	if (rc)
		return rc;
	if (!r.n) {
		mc_etcd_kvs_release(&r);
		return mc_etcd_fail(err, -ENOENT, "etcd key not found");
	}
	*out = r.kvs[0];
	memset(&r.kvs[0], 0, sizeof(r.kvs[0]));
	mc_etcd_kvs_release(&r);
	return 0;
}

int mc_etcd_delete(struct mc_etcd *e, const void *key, size_t klen,
		   const void *end, size_t elen, unsigned flags,
		   int64_t *deleted, struct mc_etcd_kvs *prev,
		   struct mc_err *err)
{
	struct json_object *ans;
	int64_t n = 0;
	int rc;

	if (prev)
		memset(prev, 0, sizeof(*prev));
	if (!(flags & MC_ETCD_PREFIX) && (rc = check_key(key, klen, err)))
		return rc;
	REQ(req);
	if (add_range(req, key ? key : "", klen, end, elen, flags)) {
		json_object_put(req);
		return mc_etcd_fail(err, -ENOMEM, "out of memory");
	}
	if ((flags & MC_ETCD_PREV_KV) && prev)
		json_object_object_add(req, "prev_kv",
				       json_object_new_boolean(1));
	rc = send_req(e, "/v3/kv/deleterange", req, IDEMPOTENT, &ans, err);
	if (rc)
		return rc;
	rc = mc_etcd_json_int64(ans, "deleted", &n, err);
	if (!rc && (flags & MC_ETCD_PREV_KV) && prev) {
		rc = mc_etcd_header_rev(ans, &prev->revision, err);
		if (!rc)
			rc = mc_etcd_parse_kvs(ans, "prev_kvs", prev, err);
		prev->count = (int64_t)prev->n;
	}
	if (deleted)
		*deleted = n;
	json_object_put(ans);
	return rc;
}

/* A transaction on one key: if mod_revision(key) == @mod_rev then @op
 * else range(key). */
static int txn_on_mod(struct mc_etcd *e, const void *key, size_t klen,
		      int64_t mod_rev, const char *op_name,
		      struct json_object *op, bool *done, int64_t *rev,
		      struct mc_etcd_kv *cur, struct mc_err *err)
{
	struct json_object *req = json_object_new_object();
	struct json_object *cmp = json_object_new_object();
	struct json_object *cmps = json_object_new_array();
	struct json_object *succ = json_object_new_array();
	struct json_object *failure = json_object_new_array();
	struct json_object *wrap = json_object_new_object();
	struct json_object *fwrap = json_object_new_object();
	struct json_object *rng = json_object_new_object();
	struct json_object *ans = NULL;
	int rc;

	*done = false;
	if (cur)
		memset(cur, 0, sizeof(*cur));
	if (!req || !cmp || !cmps || !succ || !failure || !wrap || !fwrap ||
	    !rng || add_bytes(cmp, "key", key, klen) ||
	    add_bytes(rng, "key", key, klen)) {
		json_object_put(req);
		json_object_put(cmp);
		json_object_put(cmps);
		json_object_put(succ);
		json_object_put(failure);
		json_object_put(wrap);
		json_object_put(fwrap);
		json_object_put(rng);
		json_object_put(op);
		return mc_etcd_fail(err, -ENOMEM, "out of memory");
	}
	json_object_object_add(cmp, "result", json_object_new_string("EQUAL"));
	json_object_object_add(cmp, "target", json_object_new_string("MOD"));
	add_int(cmp, "mod_revision", mod_rev);
	json_object_array_add(cmps, cmp);
	json_object_object_add(wrap, op_name, op);
	json_object_array_add(succ, wrap);
	json_object_object_add(fwrap, "request_range", rng);
	json_object_array_add(failure, fwrap);
	json_object_object_add(req, "compare", cmps);
	json_object_object_add(req, "success", succ);
	json_object_object_add(req, "failure", failure);
	rc = send_req(e, "/v3/kv/txn", req, NO_RETRY_AFTER_SEND, &ans, err);
	if (rc)
		return rc;
	*done = mc_etcd_json_true(ans, "succeeded");
	if (*done && rev)
		rc = mc_etcd_header_rev(ans, rev, err);
	if (!*done && cur) {
		struct json_object *resps, *r0, *rr;
		struct mc_etcd_kvs kvs = {0};

		if (json_object_object_get_ex(ans, "responses", &resps) &&
		    json_object_is_type(resps, json_type_array) &&
		    json_object_array_length(resps) == 1 &&
		    (r0 = json_object_array_get_idx(resps, 0)) &&
		    json_object_object_get_ex(r0, "response_range", &rr) &&
		    json_object_is_type(rr, json_type_object)) {
			rc = mc_etcd_parse_kvs(rr, "kvs", &kvs, err);
			if (!rc && kvs.n) {
				*cur = kvs.kvs[0];
				memset(&kvs.kvs[0], 0, sizeof(kvs.kvs[0]));
			}
			mc_etcd_kvs_release(&kvs);
		} else {
			rc = mc_etcd_fail(
				err, -EPROTO,
				"etcd sent a transaction answer without its "
				"range");
		}
	}
	json_object_put(ans);
	return rc;
}

int mc_etcd_cas(struct mc_etcd *e, const void *key, size_t klen,
		const void *val, size_t vlen, int64_t lease, int64_t mod_rev,
		bool *done, int64_t *rev, struct mc_etcd_kv *cur,
		struct mc_err *err)
{
	struct json_object *put;
	int rc;

	*done = false;
	if ((rc = check_key(key, klen, err)))
		return rc;
	if (mod_rev < 0)
		return mc_etcd_fail(err, -EINVAL,
				    "etcd mod revision is negative");
	put = json_object_new_object();
	if (!put || add_bytes(put, "key", key, klen) ||
	    add_bytes(put, "value", val ? val : "", vlen)) {
		json_object_put(put);
		return mc_etcd_fail(err, -ENOMEM, "out of memory");
	}
	if (lease)
		add_int(put, "lease", lease);
	return txn_on_mod(e, key, klen, mod_rev, "request_put", put, done, rev,
			  cur, err);
}

int mc_etcd_cad(struct mc_etcd *e, const void *key, size_t klen,
		int64_t mod_rev, bool *done, struct mc_err *err)
{
	struct json_object *del;
	int rc;

	*done = false;
	if ((rc = check_key(key, klen, err)))
		return rc;
	if (mod_rev <= 0)
		return mc_etcd_fail(err, -EINVAL,
				    "etcd mod revision is not positive");
	del = json_object_new_object();
	if (!del || add_bytes(del, "key", key, klen)) {
		json_object_put(del);
		return mc_etcd_fail(err, -ENOMEM, "out of memory");
	}
	return txn_on_mod(e, key, klen, mod_rev, "request_delete_range", del,
			  done, NULL, NULL, err);
}

int mc_etcd_compact(struct mc_etcd *e, int64_t rev, struct mc_err *err)
{
	if (rev <= 0)
		return mc_etcd_fail(err, -EINVAL,
				    "compaction revision is not positive");
	REQ(req);
	add_int(req, "revision", rev);
	return send_req(e, "/v3/kv/compaction", req, IDEMPOTENT, NULL, err);
}

/* --- leases -------------------------------------------------------------- */

int mc_etcd_lease_grant(struct mc_etcd *e, int64_t ttl_s, int64_t id,
			int64_t *id_out, int64_t *ttl_out, struct mc_err *err)
{
	struct json_object *ans;
	int64_t got_id = 0, ttl = 0;
	int rc;

	if (ttl_s <= 0 || id < 0)
		return mc_etcd_fail(err, -EINVAL,
				    "lease TTL %" PRId64 " is not positive",
				    ttl_s);
	REQ(req);
	add_int(req, "TTL", ttl_s);
	if (id)
		add_int(req, "ID", id);
	rc = send_req(e, "/v3/lease/grant", req, NO_RETRY_AFTER_SEND, &ans,
		      err);
	if (rc)
		return rc;
	if (!(rc = mc_etcd_json_int64(ans, "ID", &got_id, err)) &&
	    !(rc = mc_etcd_json_int64(ans, "TTL", &ttl, err)) &&
	    (got_id <= 0 || ttl <= 0))
		rc = mc_etcd_fail(err, -EPROTO,
				  "etcd granted lease %" PRId64
				  " with TTL %" PRId64,
				  got_id, ttl);
	json_object_put(ans);
	if (rc)
		return rc;
	if (id_out)
		*id_out = got_id;
	if (ttl_out)
		*ttl_out = ttl;
	return 0;
}

int mc_etcd_lease_keepalive_within(struct mc_etcd *e, int64_t id,
				   unsigned budget_ms, int64_t *ttl_out,
				   struct mc_err *err)
{
	int rc;

	tl_budget_ms = budget_ms;
	rc = mc_etcd_lease_keepalive(e, id, ttl_out, err);
	tl_budget_ms = 0;
	return rc;
}

int mc_etcd_lease_keepalive(struct mc_etcd *e, int64_t id, int64_t *ttl_out,
			    struct mc_err *err)
{
	struct json_object *ans, *res;
	int64_t ttl = 0;
	int rc = lease_req(e, "/v3/lease/keepalive", id, false, &ans, err);

	if (rc)
		return rc;
	/* a stream endpoint: the one answer comes wrapped in "result" */
	if (!json_object_object_get_ex(ans, "result", &res) ||
	    !json_object_is_type(res, json_type_object))
		rc = mc_etcd_fail(
			err, -EPROTO,
			"etcd sent a keep-alive answer without a result");
	else
		rc = mc_etcd_json_int64(res, "TTL", &ttl, err);
	json_object_put(ans);
	if (rc)
		return rc;
	/* etcd answers an expired lease with TTL 0 */
	if (ttl <= 0)
		return mc_etcd_fail(err, -ENOENT,
				    "lease %" PRIx64 " has expired",
				    (uint64_t)id);
	if (ttl_out)
		*ttl_out = ttl;
	return 0;
}

int mc_etcd_lease_revoke(struct mc_etcd *e, int64_t id, struct mc_err *err)
{
	return lease_req(e, "/v3/lease/revoke", id, false, NULL, err);
}

int mc_etcd_lease_ttl(struct mc_etcd *e, int64_t id, int64_t *ttl,
		      int64_t *granted, struct mc_etcd_kvs *keys,
		      struct mc_err *err)
{
	struct json_object *ans, *arr;
	int64_t t = 0, g = 0;
	int rc;

	if (keys)
		memset(keys, 0, sizeof(*keys));
	rc = lease_req(e, "/v3/lease/timetolive", id, keys != NULL, &ans, err);
	if (rc)
		return rc;
	if (!(rc = mc_etcd_json_int64(ans, "TTL", &t, err)))
		rc = mc_etcd_json_int64(ans, "grantedTTL", &g, err);
	if (!rc && t < 0)
		rc = mc_etcd_fail(err, -ENOENT, "lease %" PRIx64 " has expired",
				  (uint64_t)id);
	if (!rc && keys && json_object_object_get_ex(ans, "keys", &arr) &&
	    arr) {
		size_t n;

		if (!json_object_is_type(arr, json_type_array)) {
			rc = mc_etcd_fail(err, -EPROTO,
					  "etcd sent a non-array 'keys'");
			goto out;
		}
		n = json_object_array_length(arr);
		keys->kvs = n ? calloc(n, sizeof(*keys->kvs)) : NULL;
		if (n && !keys->kvs) {
			rc = mc_etcd_fail(err, -ENOMEM, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			struct json_object *k =
				json_object_array_get_idx(arr, i);
			struct mc_etcd_kv *kv = &keys->kvs[i];

			if (!json_object_is_type(k, json_type_string) ||
			    mc_b64_decode(json_object_get_string(k),
					  (size_t)json_object_get_string_len(k),
					  &kv->key, &kv->key_len)) {
				rc = mc_etcd_fail(
					err, -EPROTO,
					"etcd sent a bad key in 'keys'");
				mc_etcd_kvs_release(keys);
				goto out;
			}
			kv->lease = id;
			keys->n++;
		}
		keys->count = (int64_t)keys->n;
	}
out:
	json_object_put(ans);
	if (rc)
		return rc;
	if (ttl)
		*ttl = t;
	if (granted)
		*granted = g;
	return 0;
}

/* --- election ------------------------------------------------------------ */

static int parse_leader_key(struct json_object *o,
			    struct mc_etcd_leader_key *lk, struct mc_err *err)
{
	int rc;

	memset(lk, 0, sizeof(*lk));
	if (!json_object_is_type(o, json_type_object))
		return mc_etcd_fail(err, -EPROTO,
				    "etcd sent a leader that is not an object");
	if ((rc = mc_etcd_json_bytes(o, "name", &lk->name, &lk->name_len,
				     err)) ||
	    (rc = mc_etcd_json_bytes(o, "key", &lk->key, &lk->key_len, err)) ||
	    (rc = mc_etcd_json_int64(o, "rev", &lk->rev, err)) ||
	    (rc = mc_etcd_json_int64(o, "lease", &lk->lease, err))) {
		mc_etcd_leader_key_release(lk);
		return rc;
	}
	if (!lk->key_len || lk->rev <= 0) {
		mc_etcd_leader_key_release(lk);
		return mc_etcd_fail(
			err, -EPROTO,
			"etcd sent a leader key without key or revision");
	}
	return 0;
}

static struct json_object *leader_key_json(const struct mc_etcd_leader_key *lk)
{
	struct json_object *o = json_object_new_object();

	if (!o || add_bytes(o, "name", lk->name, lk->name_len) ||
	    add_bytes(o, "key", lk->key, lk->key_len)) {
		json_object_put(o);
		return NULL;
	}
	add_int(o, "rev", lk->rev);
	add_int(o, "lease", lk->lease);
	return o;
}

/*
 * Runs one request on its own handle through a multi handle, so that
 * @cancel wakes it; @write receives the body as it comes. Returns the
 * curl result, CURLE_ABORTED_BY_CALLBACK when cancelled.
 */
static CURLcode run_cancellable(CURL *h, struct mc_etcd_cancel *cancel,
				bool *cancelled)
{
	CURLM *m = curl_multi_init();
	CURLcode res = CURLE_OK;
	int running = 1;

	*cancelled = false;
	if (!m)
		return CURLE_OUT_OF_MEMORY;
	if (curl_multi_add_handle(m, h) != CURLM_OK) {
		curl_multi_cleanup(m);
		return CURLE_OUT_OF_MEMORY;
	}
	while (running) {
		struct curl_waitfd wfd = {.fd = cancel ? cancel->fd : -1,
					  .events = CURL_WAIT_POLLIN};
		CURLMcode mc = curl_multi_perform(m, &running);

		if (mc != CURLM_OK) {
			res = CURLE_RECV_ERROR;
			break;
		}
		if (!running)
			break;
		mc = curl_multi_poll(m, cancel ? &wfd : NULL, cancel ? 1 : 0,
				     1000, NULL);
		if (mc != CURLM_OK) {
			res = CURLE_RECV_ERROR;
			break;
		}
		if (cancel && (wfd.revents & CURL_WAIT_POLLIN)) {
			*cancelled = true;
			res = CURLE_ABORTED_BY_CALLBACK;
			break;
		}
	}
	if (!*cancelled && !running) {
		CURLMsg *msg;
		int left;

		while ((msg = curl_multi_info_read(m, &left)))
			if (msg->msg == CURLMSG_DONE)
				res = msg->data.result;
	}
	curl_multi_remove_handle(m, h);
	curl_multi_cleanup(m);
	return res;
}

int mc_etcd_campaign(struct mc_etcd *e, const void *name, size_t nlen,
		     int64_t lease, const void *val, size_t vlen,
		     struct mc_etcd_cancel *cancel,
		     struct mc_etcd_leader_key *out, struct mc_err *err)
{
	struct json_object *ans = NULL, *ld;
	struct curl_slist *hdrs;
	struct body b = {.max = e->o.max_response};
	unsigned idx = atomic_load(&e->cur) % e->n_eps;
	bool cancelled;
	long status = 0;
	char url[512];
	CURLcode cc;
	CURL *h;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = check_key(name, nlen, err)))
		return rc;
	if (lease <= 0)
		return mc_etcd_fail(err, -EINVAL, "campaign needs a lease");
	REQ(req);
	if (add_bytes(req, "name", name, nlen) ||
	    add_bytes(req, "value", val ? val : "", vlen)) {
		json_object_put(req);
		return mc_etcd_fail(err, -ENOMEM, "out of memory");
	}
	add_int(req, "lease", lease);
	const char *body =
		json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	h = curl_easy_init();
	hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	if (!h || !hdrs) {
		curl_easy_cleanup(h);
		curl_slist_free_all(hdrs);
		json_object_put(req);
		return mc_etcd_fail(err, -ENOMEM, "out of memory");
	}
	snprintf(url, sizeof(url), "%s/v3/election/campaign", e->eps[idx]);
	setup(h, url, body, strlen(body), hdrs);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)e->o.connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	cc = run_cancellable(h, cancel, &cancelled);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	json_object_put(req);
	if (cancelled) {
		free(b.p);
		return mc_etcd_fail(err, -ECANCELED, "campaign cancelled");
	}
	if (cc != CURLE_OK) {
		free(b.p);
		rotate(e, idx);
		if (b.too_big)
			return mc_etcd_fail(err, -EMSGSIZE,
					    "etcd campaign answer too large");
		return mc_etcd_fail(err, curl_errno(cc), "campaign on '%s': %s",
				    e->eps[idx], curl_easy_strerror(cc));
	}
	rc = mc_etcd_answer("/v3/election/campaign", status, b.p ? b.p : "",
			    b.len, &ans, err);
	free(b.p);
	if (rc) {
		if (rc == -EAGAIN || rc == -EPROTO)
			rotate(e, idx);
		return rc;
	}
	if (!json_object_object_get_ex(ans, "leader", &ld))
		rc = mc_etcd_fail(
			err, -EPROTO,
			"etcd sent a campaign answer without a leader");
	else
		rc = parse_leader_key(ld, out, err);
	json_object_put(ans);
	return rc;
}

/* proclaim and resign: {"leader": @lk} (+ "value" when @val) */
static int leader_req(struct mc_etcd *e, const char *path,
		      const struct mc_etcd_leader_key *lk, const void *val,
		      size_t vlen, struct mc_err *err)
{
	struct json_object *req, *k;

	if (!lk || !lk->key_len)
		return mc_etcd_fail(err, -EINVAL, "'%s' needs a leader key",
				    path);
	req = json_object_new_object();
	k = leader_key_json(lk);
	if (!req || !k || (val && add_bytes(req, "value", val, vlen))) {
		json_object_put(req);
		json_object_put(k);
		return mc_etcd_fail(err, -ENOMEM, "out of memory");
	}
	json_object_object_add(req, "leader", k);
	return send_req(e, path, req, IDEMPOTENT, NULL, err);
}

int mc_etcd_proclaim(struct mc_etcd *e, const struct mc_etcd_leader_key *lk,
		     const void *val, size_t vlen, struct mc_err *err)
{
	return leader_req(e, "/v3/election/proclaim", lk, val ? val : "", vlen,
			  err);
}

int mc_etcd_resign(struct mc_etcd *e, const struct mc_etcd_leader_key *lk,
		   struct mc_err *err)
{
	return leader_req(e, "/v3/election/resign", lk, NULL, 0, err);
}

int mc_etcd_leader(struct mc_etcd *e, const void *name, size_t nlen,
		   struct mc_etcd_kv *out, struct mc_err *err)
{
	struct json_object *ans, *kv;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = check_key(name, nlen, err)))
		return rc;
	REQ(req);
	if (add_bytes(req, "name", name, nlen)) {
		json_object_put(req);
		return mc_etcd_fail(err, -ENOMEM, "out of memory");
	}
	rc = send_req(e, "/v3/election/leader", req, IDEMPOTENT, &ans, err);
	if (rc)
		return rc;
	if (!json_object_object_get_ex(ans, "kv", &kv) || !kv)
		rc = mc_etcd_fail(err, -ENOENT, "election has no leader");
	else
		rc = mc_etcd_parse_kv(kv, out, err);
	json_object_put(ans);
	return rc;
}

struct mc_etcd_watch {
	struct mc_etcd *e;
	char *key, *end;
	size_t klen, elen;
	struct mc_etcd_stream st;
	struct mc_etcd_cancel *stop;
	pthread_t th;
	/* the connection's partial line */
	char *line;
	size_t len, cap;
	int line_rc;
};

static size_t stream_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct mc_etcd_watch *w = arg;
	size_t n = size * nmemb;

	for (size_t i = 0; i < n; i++) {
		char c = ptr[i];

		if (c != '\n') {
			if (w->len + 2 > w->cap) {
				size_t cap = w->cap ? w->cap * 2 : 4096;
				char *p;

				if (cap > MAX_LINE) {
					w->line_rc = mc_etcd_stream_fail(
						&w->st, -EMSGSIZE,
						"etcd sent a stream line over "
						"%u bytes",
						MAX_LINE);
					return 0;
				}
				p = realloc(w->line, cap);
				if (!p) {
					w->line_rc = mc_etcd_stream_fail(
						&w->st, -ENOMEM,
						"out of memory");
					return 0;
				}
				w->line = p;
				w->cap = cap;
			}
			w->line[w->len++] = c;
			continue;
		}
		if (!w->len)
			continue;
		w->line[w->len] = '\0';
		int rc = mc_etcd_stream_line(&w->st, w->line, w->len);

		w->len = 0;
		if (rc) {
			w->line_rc = rc;
			return 0; /* ends the transfer */
		}
	}
	return n;
}

static struct json_object *stream_request(struct mc_etcd_watch *w)
{
	struct json_object *req = json_object_new_object(), *cr;

	if (!req)
		return NULL;
	if (w->st.observe) {
		if (add_bytes(req, "name", w->key, w->klen)) {
			json_object_put(req);
			return NULL;
		}
		return req;
	}
	cr = json_object_new_object();
	if (!cr || add_range(cr, w->key, w->klen, w->end, w->elen,
			     w->st.flags & MC_ETCD_PREFIX)) {
		json_object_put(cr);
		json_object_put(req);
		return NULL;
	}
	if (w->st.next_rev > 0)
		add_int(cr, "start_revision", w->st.next_rev);
	if (w->st.flags & MC_ETCD_PREV_KV)
		json_object_object_add(cr, "prev_kv",
				       json_object_new_boolean(1));
	if (w->st.flags & MC_ETCD_PROGRESS)
		json_object_object_add(cr, "progress_notify",
				       json_object_new_boolean(1));
	json_object_object_add(req, "create_request", cr);
	return req;
}

static void *stream_main(void *arg)
{
	struct mc_etcd_watch *w = arg;
	struct mc_etcd *e = w->e;
	unsigned backoff = e->o.backoff_ms;
	char url[512], why[300];

	while (!mc_etcd_cancel_fired(w->stop)) {
		unsigned idx = atomic_load(&e->cur) % e->n_eps;
		struct json_object *req = stream_request(w);
		struct curl_slist *hdrs = NULL;
		bool cancelled = false;
		long status = 0;
		CURLcode cc = CURLE_OUT_OF_MEMORY;
		CURL *h = curl_easy_init();

		w->st.created = false;
		w->st.action = 0;
		w->st.why[0] = '\0';
		w->len = 0;
		w->line_rc = 0;
		hdrs = curl_slist_append(hdrs,
					 "Content-Type: application/json");
		/* etcd's require-leader metadata: cancel the stream when the
		 * member we talk to has no leader (a stale view otherwise) */
		if (hdrs)
			hdrs = curl_slist_append(
				hdrs, "Grpc-Metadata-hasleader: true");
		if (req && h && hdrs) {
			const char *body = json_object_to_json_string_ext(
				req, JSON_C_TO_STRING_PLAIN);

			snprintf(url, sizeof(url), "%s%s", e->eps[idx],
				 w->st.observe ? "/v3/election/observe"
					       : "/v3/watch");
			setup(h, url, body, strlen(body), hdrs);
			curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
					 (long)e->o.connect_timeout_ms);
			curl_easy_setopt(h, CURLOPT_WRITEFUNCTION,
					 stream_write);
			curl_easy_setopt(h, CURLOPT_WRITEDATA, w);
			cc = run_cancellable(h, w->stop, &cancelled);
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		}
		curl_easy_cleanup(h);
		curl_slist_free_all(hdrs);
		json_object_put(req);
		if (cancelled || mc_etcd_cancel_fired(w->stop))
			break;
		if (w->st.action < 0)
			break;
		if (w->st.action > 0) {
			/* the callback asked for a restart at a revision */
			w->st.next_rev = w->st.action;
			backoff = e->o.backoff_ms;
			continue;
		}
		if (w->st.why[0])
			snprintf(why, sizeof(why), "%s", w->st.why);
		else if (cc != CURLE_OK)
			snprintf(why, sizeof(why), "stream on '%s': %s",
				 e->eps[idx], curl_easy_strerror(cc));
		else if (status != 200)
			snprintf(why, sizeof(why), "stream on '%s': HTTP %ld",
				 e->eps[idx], status);
		else
			snprintf(why, sizeof(why), "stream on '%s' ended",
				 e->eps[idx]);
		if (w->st.created)
			backoff = e->o.backoff_ms;
		struct mc_etcd_event ev = {.type = MC_ETCD_EV_DISCONNECTED,
					   .msg = why};

		if (w->st.fn(w->st.arg, &ev) < 0)
			break;
		rotate(e, idx);
		if (pause_ms(w->stop, jitter(backoff)))
			break;
		backoff = backoff * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS
						       : backoff * 2;
	}
	return NULL;
}

static struct mc_etcd_watch *
stream_start(struct mc_etcd *e, bool observe, const void *key, size_t klen,
	     const void *end, size_t elen, unsigned flags, int64_t start_rev,
	     mc_etcd_watch_fn fn, void *arg, struct mc_err *err)
{
	struct mc_etcd_watch *w;
	int rc;

	if (!fn || start_rev < 0) {
		mc_etcd_fail(err, -EINVAL,
			     "watch needs a callback and a revision >= 0");
		return NULL;
	}
	if (!(flags & MC_ETCD_PREFIX) && check_key(key, klen, err))
		return NULL;
	w = calloc(1, sizeof(*w));
	if (!w) {
		mc_etcd_fail(err, -ENOMEM, "out of memory");
		return NULL;
	}
	w->e = e;
	w->key = malloc(klen + 1);
	w->end = malloc(elen + 1);
	w->stop = mc_etcd_cancel_new();
	if (!w->key || !w->end || !w->stop) {
		mc_etcd_fail(err, -ENOMEM, "out of memory");
		goto bad;
	}
	if (klen)
		memcpy(w->key, key, klen);
	if (elen)
		memcpy(w->end, end, elen);
	w->klen = klen;
	w->elen = end ? elen : 0;
	w->st.observe = observe;
	w->st.flags = flags;
	w->st.next_rev = start_rev;
	w->st.fn = fn;
	w->st.arg = arg;
	rc = pthread_create(&w->th, NULL, stream_main, w);
	if (rc) {
		mc_etcd_fail(err, -rc, "cannot start a watch thread: %s",
			     strerror(rc));
		goto bad;
	}
	return w;
bad:
	mc_etcd_cancel_free(w->stop);
	free(w->key);
	free(w->end);
	free(w);
	return NULL;
}

struct mc_etcd_watch *mc_etcd_watch_start(struct mc_etcd *e, const void *key,
					  size_t klen, const void *end,
					  size_t elen, unsigned flags,
					  int64_t start_rev,
					  mc_etcd_watch_fn fn, void *arg,
					  struct mc_err *err)
{
	return stream_start(e, false, key, klen, end, elen, flags, start_rev,
			    fn, arg, err);
}

struct mc_etcd_watch *mc_etcd_observe_start(struct mc_etcd *e, const void *name,
					    size_t nlen, mc_etcd_watch_fn fn,
					    void *arg, struct mc_err *err)
{
	return stream_start(e, true, name, nlen, NULL, 0, 0, 0, fn, arg, err);
}

void mc_etcd_watch_stop(struct mc_etcd_watch *w)
{
	if (!w)
		return;
	mc_etcd_cancel_fire(w->stop);
	pthread_join(w->th, NULL);
	mc_etcd_cancel_free(w->stop);
	free(w->key);
	free(w->end);
	free(w->line);
	free(w);
}
