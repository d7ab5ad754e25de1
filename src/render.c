/*
 * render.c - bodies the HTTP service and the FUSE tree both serve.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"
#include "render.h"
#include "size.h"
#include "store_int.h"

/* A string literal's bytes, without strlen at run time. */
#define ADD_LIT(b, lit) mc_buf_add_fast((b), (lit), sizeof(lit) - 1)

/*
 * A descriptor whose endpoint is already rendered: @ep_at is where its
 * JSON string (@ep_len bytes, quotes included) sits in @b, or @ep_len is
 * 0 to render it here. A replica line names its endpoint twice, and
 * escapes it once.
 */
static void render_desc(struct mc_buf *b, const struct mc_desc *d, size_t ep_at,
			size_t ep_len)
{
	ADD_LIT(b, "{\"size_\":");
	mc_buf_addu(b, d->size);
	ADD_LIT(b, ",\"buffer_address_\":");
	mc_buf_addu(b, d->addr);
	ADD_LIT(b, ",\"protocol_\":");
	mc_buf_add_json_str(b, d->protocol, strlen(d->protocol));
	ADD_LIT(b, ",\"transport_endpoint_\":");
	if (ep_len) {
		/* grown first: the copy's source stays where it is */
		mc_buf_grow(b, ep_len);
		mc_buf_add_fast(b, b->data + ep_at, ep_len);
	} else {
		mc_buf_add_json_str(b, d->endpoint, strlen(d->endpoint));
	}
	if (!strcmp(d->protocol, "rdma")) {
		ADD_LIT(b, ",\"rkey_\":");
		mc_buf_addu(b, d->rkey);
	}
	ADD_LIT(b, ",\"segment_id\":\"");
	mc_buf_add_fast(b, d->seg_id, strlen(d->seg_id));
	ADD_LIT(b, "\"}");
}

void mc_render_desc(struct mc_buf *b, const struct mc_desc *d)
{
	render_desc(b, d, 0, 0);
}

static void mc_render_replica_line(struct mc_buf *b, const struct mc_desc *d)
{
	size_t at, n;

	ADD_LIT(b, "{\"transport_endpoint_\":");
	at = b->len;
	mc_buf_add_json_str(b, d->endpoint, strlen(d->endpoint));
	n = b->len - at;
	ADD_LIT(b, ",\"buffer_descriptors\":[");
	render_desc(b, d, at, n);
	ADD_LIT(b, "]}\n");
}

int mc_render_query_key(struct mc_store *s, struct mc_buf *b, const void *key,
			size_t klen)
{
	return mc_render_query_key_ex(s, b, key, klen, 0);
}

int mc_render_query_key_ex(struct mc_store *s, struct mc_buf *b,
			   const void *key, size_t klen, unsigned flags)
{
	struct mc_desc d[MC_REPLICA_MAX];
	int n = mc_query_ex(s, key, klen, flags, d, MC_REPLICA_MAX, NULL);

	if (n < 0)
		return n;
	for (int i = 0; i < n && i < MC_REPLICA_MAX; i++)
		mc_render_replica_line(b, &d[i]);
	return 0;
}

/* a family's value; 0 without metrics (the blank summary) */
static double counter(struct mc_metrics *m, const char *name)
{
	struct mc_family *f = m ? mc_metrics_find(m, name) : NULL;

	return f ? mc_series_value(mc_family_series(f, NULL)) : 0;
}

/* "PutStart=12/12": successes (requests - failures) over requests. */
static void add_ratio(struct mc_buf *b, struct mc_metrics *m, const char *label,
		      const char *op)
{
	char req[96], fail[96];
	double r, f;

	snprintf(req, sizeof(req), "master_%s_requests_total", op);
	snprintf(fail, sizeof(fail), "master_%s_failures_total", op);
	r = counter(m, req);
	f = counter(m, fail);
	mc_buf_addf(b, "%s=%.0f/%.0f", label, r - f, r);
}

/* The summary's request figures, in upstream's order. */
static const struct {
	const char *label, *op;
} summary_ops[] = {
	{"PutStart", "put_start"},   {"PutEnd", "put_end"},
	{"PutRevoke", "put_revoke"}, {"Get", "get_replica_list"},
	{"Exist", "exist_key"},	     {"Del", "remove"},
	{"DelAll", "remove_all"},    {"Ping", "ping"},
};

/* The summary line of usage u and metrics m (NULL: every count 0). */
static void summary_line(struct mc_buf *b, struct mc_metrics *m,
			 const struct mc_usage *u)
{
	char used[32], cap[32], evb[32];

	mc_buf_addf(b, "Mem Storage: %s / %s",
		    mc_size_human(u->used, used, sizeof(used)),
		    mc_size_human(u->capacity, cap, sizeof(cap)));
	if (u->capacity)
		mc_buf_addf(b, " (%.1f%%)",
			    100.0 * (double)u->used / (double)u->capacity);
	mc_buf_addf(b, " | Keys: %llu (soft-pinned: 0) | Clients: %d",
		    (unsigned long long)u->keys, (int)u->clients);
	mc_buf_adds(b, " | Requests (Success/Total): ");
	for (size_t i = 0; i < sizeof(summary_ops) / sizeof(summary_ops[0]);
	     i++) {
		if (i)
			mc_buf_adds(b, ", ");
		add_ratio(b, m, summary_ops[i].label, summary_ops[i].op);
	}
	mc_buf_addf(
		b,
		" | Eviction: Success/Attempts=%.0f/%.0f, keys=%.0f, size=%s",
		counter(m, "master_successful_evictions_total"),
		counter(m, "master_attempted_evictions_total"),
		counter(m, "master_evicted_key_count"),
		mc_size_human((uint64_t)counter(m, "master_evicted_size_bytes"),
			      evb, sizeof(evb)));
}

/* a summary line of zeros: no leader has given this node one yet */
static void blank_summary(struct mc_buf *b)
{
	struct mc_usage zero = {0};

	summary_line(b, NULL, &zero);
}

/*
 * A cluster node's master text (the leader's master_* families, or its
 * summary line) into b, kept in *last; while no leader serves, *last, or
 * blank() before any leader answered, so no family drops out and comes
 * back and a counter does not fall to nothing (mooncake-cluster(7),
 * Views).
 */
static void leader_text(struct mc_store *s, bool summary, struct mc_buf *last,
			void (*blank)(struct mc_buf *), struct mc_buf *b)
{
	size_t len = b->len;

	if (fac_text(s, summary, b) == 0) {
		pthread_mutex_lock(&s->master_text_lock);
		last->len = 0;
		mc_buf_add(last, b->data + len, b->len - len);
		pthread_mutex_unlock(&s->master_text_lock);
		return;
	}
	if (b->data) {
		b->len = len;
		b->data[len] = '\0';
	}
	pthread_mutex_lock(&s->master_text_lock);
	if (last->len)
		mc_buf_add(b, last->data, last->len);
	else
		blank(b);
	pthread_mutex_unlock(&s->master_text_lock);
}

int mc_render_summary(struct mc_store *s, struct mc_buf *b)
{
	struct mc_usage u;

	if (mc_store_linked(s)) {
		leader_text(s, true, &s->master_summary, blank_summary, b);
		return 0;
	}
	mc_store_usage(s, &u);
	summary_line(b, mc_store_metrics(s), &u);
	return 0;
}

void mc_render_metrics(struct mc_store *s, struct mc_buf *b)
{
	mc_metrics_render(mc_store_metrics(s), b);
	/* A cluster node's own families, then the cluster's master_*
	 * (mooncake-cluster(7), Views). */
	if (mc_store_linked(s))
		leader_text(s, false, &s->master_text, store_metrics_blank, b);
}

int mc_render_query_segment(struct mc_store *s, struct mc_buf *b,
			    const char *name)
{
	uint64_t used, cap;
	int rc = mc_segment_name_usage(s, name, &used, &cap);

	if (rc < 0)
		return rc;
	mc_buf_adds(b, name);
	mc_buf_adds(b, "\nUsed(bytes): ");
	mc_buf_addu(b, used);
	mc_buf_adds(b, "\nCapacity(bytes): ");
	mc_buf_addu(b, cap);
	mc_buf_addch(b, '\n');
	return 0;
}

static int add_name(const char *name, uint64_t used, uint64_t cap, void *arg)
{
	mc_buf_adds(arg, name);
	mc_buf_addch(arg, '\n');
	return 0;
}

int mc_render_segment_names(struct mc_store *s, struct mc_buf *b)
{
	int rc = mc_segment_name_foreach(s, add_name, b);

	return rc < 0 ? rc : 0;
}
