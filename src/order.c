/*
 * order.c - which version of a key a cluster master keeps when puts and
 * removes of it overlap (mooncake-cluster(7), Owner records).
 *
 * A rebuild after a failover takes, per key, the newest committed record
 * the owners report, and a remove retires the records up to the version
 * it removed. So the index must never hold a version older than one
 * whose records live on, nor a version whose records a remove retired:
 *  - of two overlapping puts, the one started later (the larger version)
 *    holds the key, whichever ends last;
 *  - a put that ends after a remove of its key that came after the put
 *    started is over at once, as if it had ended just before the remove
 *    (the remove may have retired its records already).
 * Both are legal orders of overlapping operations. The put that is over
 * at once is acknowledged; its caller retires its records (put.c). An
 * eviction at a cluster master is a remove here (evict.c retires what it
 * evicts, so a failover does not bring it back).
 *
 * Removes are remembered per shard, the last ORDER_KEEP of each by the
 * key's 64-bit hash (a shard's keys share its top 8 bits: two keys of a
 * shard are taken for one with odds of 2^-56), and a remove_all as it
 * passes each shard. A put that started before a remove its shard no
 * longer remembers, that removed a version no older than the put's own
 * (its retire may have taken the put's records), and that ends with its
 * key absent, cannot be ordered and is refused.
 * A single node keeps no order: the last end wins there.
 */
#include "autoconfig.h"

#include "store_int.h"

void order_note_remove(struct mc_store *s, const struct mc_shard *sh,
		       uint64_t h, uint64_t version)
{
	struct order_ring *r = &s->removed[sh - s->shards];
	unsigned i;

	if (!s->o.owner_ops)
		return;
	i = r->next++ % ORDER_KEEP;
	if (r->n == ORDER_KEEP) { /* the oldest is forgotten */
		r->lost = r->seq[i];
		if (r->ver[i] > r->lost_ver)
			r->lost_ver = r->ver[i];
	} else {
		r->n++;
	}
	r->hash[i] = h;
	r->seq[i] = store_seq_now(s);
	r->ver[i] = version;
}

/*
 * Noted as a remove_all passes each shard, not once as it begins: it
 * unlinks (and retires "up to") versions of puts started after it began,
 * whose retire takes the records of the puts of their keys started
 * before them.
 */
void order_note_remove_all(struct mc_store *s, const struct mc_shard *sh)
{
	if (s->o.owner_ops)
		s->removed[sh - s->shards].all = store_seq_now(s);
}

/* Sequence numbers never wrap: a remove whose store_seq_now() is at
 * least the put's own came after the put started. */
int order_publish(struct mc_store *s, const struct mc_shard *sh, uint64_t h,
		  const struct mc_obj *now, const struct mc_obj *o,
		  const struct put_order *ord)
{
	const struct order_ring *r = &s->removed[sh - s->shards];

	/*
	 * The key's version is the one the put saw at its start, or one
	 * published since (by a put that lived beside this one), which
	 * wins when it started later: a master's versions only grow (its
	 * count never wraps, store_next_version).
	 */
	if (now)
		return now->version != ord->base && now->version > o->version
			       ? PUB_SUPERSEDED
			       : PUB_DONE;
	if (r->all >= ord->seq)
		return PUB_SUPERSEDED;
	for (unsigned i = 0; i < r->n; i++)
		if (r->hash[i] == h && r->seq[i] >= ord->seq)
			return PUB_SUPERSEDED;
	if (r->lost >= ord->seq && r->lost_ver >= o->version)
		return PUB_UNSURE;
	return PUB_DONE;
}
