/*
 * api_admin.c - the seed's endpoints (mooncake-http(7), ADMIN ENDPOINTS):
 * metrics, summary, key and segment queries, health.
 *
 * Bodies shared with the FUSE tree come from render.h, so both doors
 * answer the same bytes.
 */
#include "autoconfig.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "log.h"
#include "mooncake.h"
#include "page.h"
#include "parse.h"
#include "render.h"
#include "status.h"

void web_api_health(struct web_req *r)
{
	if (!r->ready) {
		web_resp_error(r, 503, "UNAVAILABLE");
		return;
	}
	mc_buf_add(r->out, "OK", 2);
	web_resp_send(r, 200, WEB_CT_TEXT);
}

void web_api_metrics(struct web_req *r)
{
	mc_render_metrics(r->s, r->out);
	web_resp_send(r, 200, WEB_CT_TEXT);
}

void web_api_summary(struct web_req *r)
{
	int rc = mc_render_summary(r->s, r->out);

	if (rc < 0)
		web_resp_errno(r, rc, NULL, web_status_code_name(rc));
	else
		web_resp_send(r, 200, WEB_CT_TEXT);
}

void web_api_query_key(struct web_req *r)
{
	struct mc_err e = {0};
	int rc = web_query_get(r->query, "key", r->scratch);

	if (rc < 0 || web_key_check(r->scratch->data, r->scratch->len, &e)) {
		web_resp_error(r, 400, "INVALID_PARAMS");
		return;
	}
	/* HEAD names what GET would, without GET's lease and count */
	rc = mc_render_query_key_ex(r->s, r->out, r->scratch->data,
				    r->scratch->len, r->head ? MC_F_PEEK : 0);
	if (rc == -ENOENT) {
		web_resp_error(r, 404, web_status_code_name(rc));
		return;
	}
	if (rc < 0) {
		web_resp_errno(r, rc, NULL, web_status_code_name(rc));
		return;
	}
	web_resp_send(r, 200, WEB_CT_TEXT);
}

void web_api_query_segment(struct web_req *r)
{
	int rc = web_query_get(r->query, "segment", r->scratch);

	if (rc < 0 || r->scratch->len == 0 ||
	    memchr(r->scratch->data, '\0', r->scratch->len)) {
		web_resp_error(r, 400, "INVALID_PARAMS");
		return;
	}
	rc = mc_render_query_segment(r->s, r->out, r->scratch->data);
	if (rc == -ENOENT) {
		web_resp_error(r, 404, mc_code_name(MC_SEGMENT_NOT_FOUND));
		return;
	}
	if (rc < 0) {
		web_resp_errno(r, rc, NULL, web_status_code_name(rc));
		return;
	}
	web_resp_send(r, 200, WEB_CT_TEXT);
}

void web_api_get_all_segments(struct web_req *r)
{
	int rc = mc_render_segment_names(r->s, r->out);

	if (rc < 0)
		web_resp_errno(r, rc, NULL, web_status_code_name(rc));
	else
		web_resp_send(r, 200, WEB_CT_TEXT);
}

/*
 * /get_all_keys renders are cached while the store's key generation
 * stays the same: a list of up to KEYS_CACHE_MAX bytes is kept as an
 * immutable, reference-counted snapshot that requests send from without
 * walking the store. Larger lists are streamed every time.
 */
#define KEYS_CACHE_MAX (4u << 20)

struct keys_snap {
	_Atomic unsigned ref;
	uint64_t gen;
	size_t len;
	char *data;
};

struct web_api_state {
	pthread_mutex_t lock;
	struct keys_snap *keys; /* latest snapshot, or NULL */
	bool keys_big;		/* the list at keys_big_gen is large */
	uint64_t keys_big_gen;
	/* the status page's facts, set before the server starts */
	bool has_page;
	struct web_page_info page;
	char *page_strings[4]; /* owned copies page points to */
};

static char *dup_or_null(const char *s)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		mc_oom();
	return d;
}

void web_api_state_set_page(struct web_api_state *st,
			    const struct web_page_info *pi)
{
	if (!st || !pi)
		return;
	for (int i = 0; i < 4; i++)
		free(st->page_strings[i]);
	st->page = *pi;
	st->page.version = st->page_strings[0] = dup_or_null(pi->version);
	st->page.hostname = st->page_strings[1] = dup_or_null(pi->hostname);
	st->page.transfer = st->page_strings[2] = dup_or_null(pi->transfer);
	st->page.mountpoint = st->page_strings[3] = dup_or_null(pi->mountpoint);
	st->has_page = true;
}

const struct web_page_info *web_api_state_page(const struct web_api_state *st)
{
	return st && st->has_page ? &st->page : NULL;
}

struct web_api_state *web_api_state_new(void)
{
	struct web_api_state *st = calloc(1, sizeof(*st));

	if (st)
		pthread_mutex_init(&st->lock, NULL);
	return st;
}

static void snap_put(struct keys_snap *k)
{
	if (k && atomic_fetch_sub(&k->ref, 1) == 1) {
		free(k->data);
		free(k);
	}
}

void web_api_state_free(struct web_api_state *st)
{
	if (!st)
		return;
	snap_put(st->keys);
	for (int i = 0; i < 4; i++)
		free(st->page_strings[i]);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

/* A key and its newline: one call per key of a listing of millions. */
static inline void add_line(struct mc_buf *b, const void *key, size_t klen)
{
	mc_buf_add_fast(b, key, klen);
	mc_buf_addch_fast(b, '\n');
}

static int add_key(const void *key, size_t klen, uint64_t size, void *arg)
{
	struct web_req *r = arg;

	add_line(r->out, key, klen);
	return web_resp_stream_flush(r);
}

static int gather_key(const void *key, size_t klen, uint64_t size, void *arg)
{
	struct mc_buf *b = arg;

	if (b->len + klen + 1 > KEYS_CACHE_MAX)
		return 1;
	add_line(b, key, klen);
	return 0;
}

/*
 * A snapshot of the keys at @gen (referenced), or NULL when too large,
 * or when the walk failed (*@rc: a cluster node with no leader).
 */
static struct keys_snap *keys_snapshot(struct web_req *r, uint64_t gen, int *rc)
{
	struct web_api_state *st = r->api;
	struct keys_snap *k = NULL;
	struct mc_buf b = MC_BUF_INIT;

	pthread_mutex_lock(&st->lock);
	if (st->keys && st->keys->gen == gen) {
		k = st->keys;
		atomic_fetch_add(&k->ref, 1);
	}
	bool big = st->keys_big && st->keys_big_gen == gen;
	pthread_mutex_unlock(&st->lock);
	if (k || big)
		return k;
	/* a line is at least two bytes: more keys than that cannot fit,
	 * and walking the first 4 MiB of them to find out is lost time */
	if (!mc_store_linked(r->s)) {
		struct mc_usage u;

		mc_store_usage(r->s, &u);
		if (u.keys > KEYS_CACHE_MAX / 2)
			return NULL;
	}

	/* A walk racing with changes is tagged with the older generation,
	 * so the next request sees a mismatch and walks again. */
	*rc = mc_key_foreach(r->s, gather_key, &b);
	if (*rc < 0) {
		mc_buf_release(&b);
		return NULL;
	}
	if (*rc) {
		*rc = 0;
		mc_buf_release(&b);
		pthread_mutex_lock(&st->lock);
		st->keys_big = true;
		st->keys_big_gen = gen;
		pthread_mutex_unlock(&st->lock);
		return NULL;
	}
	k = malloc(sizeof(*k));
	if (!k) {
		mc_buf_release(&b);
		return NULL;
	}
	atomic_init(&k->ref, 2); /* the cache's and ours */
	k->gen = gen;
	k->data = mc_buf_detach(&b, &k->len);
	pthread_mutex_lock(&st->lock);
	snap_put(st->keys);
	st->keys = k;
	pthread_mutex_unlock(&st->lock);
	return k;
}

void web_api_get_all_keys(struct web_req *r)
{
	struct keys_snap *k = NULL;
	int rc = 0;

	if (r->api)
		k = keys_snapshot(r, mc_store_keys_gen(r->s), &rc);
	if (rc < 0) {
		web_resp_errno(r, rc, NULL, web_status_code_name(rc));
		return;
	}
	if (k) {
		web_resp_send_bytes(r, 200, WEB_CT_TEXT, k->data, k->len);
		snap_put(k);
		return;
	}
	web_resp_stream_begin(r, WEB_CT_TEXT);
	rc = mc_key_foreach(r->s, add_key, r);
	if (rc < 0 && !r->stream_started) {
		r->streaming = false;
		web_resp_errno(r, rc, NULL, web_status_code_name(rc));
		return;
	}
	web_resp_stream_end(r);
}

/* ---------------------------------------------------- /batch_query_keys */

/*
 * Per-thread arrays reused across batches: decoded keys live in r->scratch,
 * addressed by offset until it stops growing.
 */
struct batch {
	size_t n, cap;
	size_t *off; /* into r->scratch */
	size_t *len;
	const char **keys;
	uint32_t *slot;		/* open-addressing set for duplicates */
	size_t nslot, slot_cap; /* in use for this batch, allocated */
};

static __thread struct batch tl_batch;

void web_api_thread_exit(void)
{
	free(tl_batch.off);
	free(tl_batch.len);
	free(tl_batch.keys);
	free(tl_batch.slot);
	memset(&tl_batch, 0, sizeof(tl_batch));
}

/*
 * A thousand workers may each have answered a batch of 10000 keys once:
 * arrays for more than BATCH_KEEP keys are not kept between requests.
 */
#define BATCH_KEEP 1024

void web_api_thread_trim(void)
{
	if (tl_batch.cap > BATCH_KEEP || tl_batch.slot_cap > 2 * BATCH_KEEP)
		web_api_thread_exit();
}

static void batch_reserve(struct batch *b, size_t n)
{
	size_t ns = 16;

	if (n > b->cap) {
		b->off = realloc(b->off, n * sizeof(*b->off));
		b->len = realloc(b->len, n * sizeof(*b->len));
		b->keys = realloc(b->keys, n * sizeof(*b->keys));
		if (!b->off || !b->len || !b->keys)
			mc_oom();
		b->cap = n;
	}
	/* a table sized for this batch, not the largest one seen */
	while (ns < 2 * n)
		ns *= 2;
	if (ns > b->slot_cap) {
		free(b->slot);
		b->slot = malloc(ns * sizeof(*b->slot));
		if (!b->slot)
			mc_oom();
		b->slot_cap = ns;
	}
	b->nslot = ns;
	memset(b->slot, 0xff, ns * sizeof(*b->slot));
	b->n = 0;
}

static uint64_t hash_bytes(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
	return h;
}

/* Adds a key unless it is there already: true when added. */
static bool batch_add(struct batch *b, const char *base, size_t off, size_t len)
{
	size_t mask = b->nslot - 1;
	size_t i = hash_bytes(base + off, len) & mask;

	for (;; i = (i + 1) & mask) {
		uint32_t k = b->slot[i];

		if (k == UINT32_MAX)
			break;
		if (b->len[k] == len &&
		    memcmp(base + b->off[k], base + off, len) == 0)
			return false;
	}
	b->slot[i] = (uint32_t)b->n;
	b->off[b->n] = off;
	b->len[b->n] = len;
	b->n++;
	return true;
}

/* Items a batch could not answer for want of a leader (cluster mode). */
static __thread size_t tl_no_leader;

static void batch_item(size_t i, int rc, const struct mc_desc *d, size_t nd,
		       void *arg)
{
	struct web_req *r = arg;
	struct batch *b = &tl_batch;

	tl_no_leader += rc == -EAGAIN;
	if (i)
		mc_buf_addch(r->out, ',');
	mc_buf_add_json_str(r->out, b->keys[i], b->len[i]);
	if (rc < 0) {
		mc_buf_adds(r->out, ":{\"ok\":false,\"error\":\"");
		mc_buf_adds(r->out, web_status_code_name(rc));
		mc_buf_adds(r->out, "\"}");
		return;
	}
	mc_buf_adds(r->out, ":{\"ok\":true,\"values\":[");
	for (size_t j = 0; j < nd; j++) {
		if (j)
			mc_buf_addch(r->out, ',');
		mc_buf_adds(r->out, "{\"transport_endpoint_\":");
		mc_buf_add_json_str(r->out, d[j].endpoint,
				    strlen(d[j].endpoint));
		mc_buf_adds(r->out, ",\"buffer_descriptor\":");
		mc_render_desc(r->out, &d[j]);
		mc_buf_addch(r->out, '}');
	}
	mc_buf_adds(r->out, "]}");
}

void web_api_batch_query_keys(struct web_req *r)
{
	struct batch *b = &tl_batch;
	size_t rawlen, count = 0, start = 0;
	const char *raw = web_query_raw(r->query, "keys", &rawlen);
	char *dec;

	if (!raw || rawlen == 0) {
		web_resp_error(r, 400,
			       "No keys provided. Use ?keys=key1,key2,...");
		return;
	}
	/* the keys as given: pieces that are not empty, duplicates too */
	for (size_t i = 0; i < rawlen; i++)
		count +=
			raw[i] != ',' && (i + 1 == rawlen || raw[i + 1] == ',');
	if (count > WEB_BATCH_MAX) {
		web_resp_error(r, 413,
			       "Too many keys, at most 10000 per request");
		return;
	}
	/*
	 * Split the raw value on ',' first and decode each piece, so "%2C"
	 * is a comma inside a key. Decoded keys never grow, so one scratch
	 * area of rawlen bytes holds them all.
	 */
	mc_buf_reset(r->scratch);
	mc_buf_grow(r->scratch, rawlen);
	dec = r->scratch->data;
	batch_reserve(b, count);
	for (size_t i = 0; i <= rawlen; i++) {
		struct mc_err e = {0};
		ssize_t n;

		if (i < rawlen && raw[i] != ',')
			continue;
		n = web_pct_decode(raw + start, i - start,
				   dec + r->scratch->len, true);
		if (n < 0) {
			web_resp_error(r, 400,
				       "Invalid keys, bad percent-encoding");
			return;
		}
		if (n > 0) {
			if (web_key_check(dec + r->scratch->len, (size_t)n,
					  &e)) {
				web_resp_error(r, 400, e.msg);
				return;
			}
			if (batch_add(b, dec, r->scratch->len, (size_t)n))
				r->scratch->len += (size_t)n;
		}
		start = i + 1;
	}
	r->scratch->data[r->scratch->len] = '\0';
	if (b->n == 0) {
		web_resp_error(r, 400,
			       "No keys provided. Use ?keys=key1,key2,...");
		return;
	}
	for (size_t i = 0; i < b->n; i++)
		b->keys[i] = dec + b->off[i];
	mc_buf_adds(r->out, "{\"success\":true,\"data\":{");
	tl_no_leader = 0;
	if (r->head) {
		/* GET's headers without its leases and BatchGetReplicaList */
		struct mc_desc d[MC_REPLICA_MAX];

		for (size_t i = 0; i < b->n; i++) {
			int rc = mc_query_ex(r->s, b->keys[i], b->len[i],
					     MC_F_PEEK | MC_F_BATCH, d,
					     MC_REPLICA_MAX, NULL);

			batch_item(i, rc, d, rc > 0 ? (size_t)rc : 0, r);
		}
	} else {
		mc_query_batch(r->s, b->n, b->keys, b->len, batch_item, r);
	}
	if (tl_no_leader == b->n) {
		web_resp_errno(r, -EAGAIN, NULL, "no cluster leader answers");
		return;
	}
	mc_buf_adds(r->out, "}}");
	web_resp_send(r, 200, WEB_CT_JSON);
}
