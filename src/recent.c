/*
 * recent.c - the store's counters kept once a second for a minute, so
 * that a person can be told the request and failure rates of the last
 * minute without Prometheus (mc_store_recent), and the value-size
 * histogram as plain numbers (mc_store_value_sizes).
 */
#include "autoconfig.h"

#include <string.h>

#include "store_int.h"

static const char *const op_names[MC_NOPS] = {
	[MC_OP_PUT_START] = "PutStart",
	[MC_OP_PUT_END] = "PutEnd",
	[MC_OP_PUT_REVOKE] = "PutRevoke",
	[MC_OP_GET_REPLICA_LIST] = "GetReplicaList",
	[MC_OP_BATCH_GET_REPLICA_LIST] = "BatchGetReplicaList",
	[MC_OP_EXIST_KEY] = "ExistKey",
	[MC_OP_REMOVE] = "Remove",
	[MC_OP_REMOVE_ALL] = "RemoveAll",
	[MC_OP_MOUNT_SEGMENT] = "MountSegment",
	[MC_OP_UNMOUNT_SEGMENT] = "UnmountSegment",
	[MC_OP_PING] = "Ping",
};

const char *mc_op_name(enum mc_op op)
{
	return (unsigned)op < MC_NOPS ? op_names[op] : "?";
}

/* The series behind each sampled value, in struct recent_sample order. */
static void read_now(struct mc_store *s, uint64_t *v)
{
	const struct mc_counters *c = &s->c;
	struct mc_series *const req[MC_NOPS] = {
		c->put_start,
		c->put_end,
		c->put_revoke,
		c->get,
		c->batch[MC_BATCH_QUERY].req,
		c->exist,
		c->remove,
		c->remove_all,
		c->mount,
		c->unmount,
		c->ping,
	};
	struct mc_series *const fail[MC_NOPS] = {
		c->put_start_fail,
		c->put_end_fail,
		c->put_revoke_fail,
		c->get_fail,
		c->batch[MC_BATCH_QUERY].fail,
		c->exist_fail,
		c->remove_fail,
		c->remove_all_fail,
		c->mount_fail,
		c->unmount_fail,
		c->ping_fail,
	};

	for (unsigned i = 0; i < MC_NOPS; i++) {
		v[i] = (uint64_t)mc_series_value(req[i]);
		v[MC_NOPS + i] = (uint64_t)mc_series_value(fail[i]);
	}
	v[2 * MC_NOPS] = (uint64_t)mc_series_value(c->evict_attempts);
	v[2 * MC_NOPS + 1] = (uint64_t)mc_series_value(c->evict_keys);
	v[2 * MC_NOPS + 2] = (uint64_t)mc_series_value(c->evict_bytes);
}

void recent_init(struct mc_store *s)
{
	pthread_mutex_init(&s->recent.lock, NULL);
	s->recent.head = 0;
	s->recent.n = 0;
}

void recent_release(struct mc_store *s)
{
	pthread_mutex_destroy(&s->recent.lock);
}

void recent_tick(struct mc_store *s, uint64_t now)
{
	struct recent *r = &s->recent;
	uint64_t v[RECENT_NVALS];
	unsigned last;

	pthread_mutex_lock(&r->lock);
	last = (r->head + RECENT_SLOTS - 1) % RECENT_SLOTS;
	if (r->n && now - r->ring[last].t_ms < 1000) {
		pthread_mutex_unlock(&r->lock);
		return;
	}
	pthread_mutex_unlock(&r->lock);
	/* the counters are atomics: read them without the ring's lock */
	read_now(s, v);
	pthread_mutex_lock(&r->lock);
	r->ring[r->head].t_ms = now;
	memcpy(r->ring[r->head].v, v, sizeof(v));
	r->head = (r->head + 1) % RECENT_SLOTS;
	if (r->n < RECENT_SLOTS)
		r->n++;
	pthread_mutex_unlock(&r->lock);
}

void mc_store_recent(struct mc_store *s, struct mc_recent *out)
{
	struct recent *r = &s->recent;
	uint64_t now = store_now(s), v[RECENT_NVALS], base[RECENT_NVALS];
	uint64_t t0 = now;

	if (s->link) {
		fac_recent(s, out);
		return;
	}
	read_now(s, v);
	memcpy(base, v, sizeof(base));
	pthread_mutex_lock(&r->lock);
	/* the oldest sample of the last minute */
	for (unsigned k = r->n; k > 0; k--) {
		unsigned i = (r->head + RECENT_SLOTS - k) % RECENT_SLOTS;

		if (now - r->ring[i].t_ms <= 60000 && r->ring[i].t_ms <= now) {
			t0 = r->ring[i].t_ms;
			memcpy(base, r->ring[i].v, sizeof(base));
			break;
		}
	}
	pthread_mutex_unlock(&r->lock);
	memset(out, 0, sizeof(*out));
	out->span_s = (double)(now - t0) / 1000.0;
	/* a counter never goes back; a base read after v cannot be larger */
	for (unsigned i = 0; i < MC_NOPS; i++) {
		out->requests[i] = v[i] > base[i] ? v[i] - base[i] : 0;
		out->failures[i] = v[MC_NOPS + i] > base[MC_NOPS + i]
					   ? v[MC_NOPS + i] - base[MC_NOPS + i]
					   : 0;
	}
	for (unsigned i = 0; i < 3; i++) {
		unsigned j = 2 * MC_NOPS + i;
		uint64_t d = v[j] > base[j] ? v[j] - base[j] : 0;

		if (i == 0)
			out->evictions = d;
		else if (i == 1)
			out->evicted_keys = d;
		else
			out->evicted_bytes = d;
	}
}

void mc_store_value_sizes(struct mc_store *s, struct mc_value_sizes *out)
{
	if (s->link) {
		fac_value_sizes(s, out);
		return;
	}
	memset(out, 0, sizeof(*out));
	mc_series_buckets(s->c.value_size, out->le, out->count,
			  MC_VALUE_SIZE_CLASSES);
}
