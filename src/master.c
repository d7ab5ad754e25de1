/*
 * master.c - a cluster master's side (mooncake.h, cluster): serving the
 * requests of the nodes' links (mc_master_serve), and rebuilding the
 * index from the owners' reports after an election (mc_master_ingest,
 * mc_master_settle, mc_master_adopt). The master is an ordinary store
 * whose segments are all REMOTE: every operation it serves is the
 * public call a door would make on a single node.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "render.h"
#include "store_int.h"
#include "wire.h"

/* ------------------------------------------------------ shared encodings */

void wire_owner(struct mc_buf *b, const struct mc_owner *o)
{
	wire_u8(b, (uint8_t)(o ? o->kind : MC_OWNER_SELF));
	wire_str(b, o ? o->id : "");
}

void wire_get_owner(struct wire_rd *r, struct mc_owner *o)
{
	uint8_t k = wire_get_u8(r);

	wire_get_str(r, o->id, sizeof(o->id));
	if (k > MC_OWNER_NODE)
		r->bad = true;
	o->kind = (enum mc_owner_kind)(k <= MC_OWNER_NODE ? k : 0);
	if (o->kind == MC_OWNER_SELF && o->id[0])
		r->bad = true;
}

void wire_desc(struct mc_buf *b, const struct mc_desc *d)
{
	wire_u64(b, d->addr);
	wire_u64(b, d->size);
	wire_u32(b, d->rkey);
	wire_str(b, d->seg_id);
	wire_str(b, d->protocol);
	wire_str(b, d->endpoint);
	wire_owner(b, &d->owner);
}

void wire_get_desc(struct wire_rd *r, struct mc_desc *d)
{
	d->addr = wire_get_u64(r);
	d->size = wire_get_u64(r);
	d->rkey = wire_get_u32(r);
	wire_get_str(r, d->seg_id, sizeof(d->seg_id));
	wire_get_str(r, d->protocol, sizeof(d->protocol));
	wire_get_str(r, d->endpoint, sizeof(d->endpoint));
	wire_get_owner(r, &d->owner);
}

void wire_seg_info(struct mc_buf *b, const struct mc_seg_info *si)
{
	wire_str(b, si->id);
	wire_str(b, si->name);
	wire_str(b, si->protocol);
	wire_str(b, si->location);
	wire_str(b, si->source);
	wire_str(b, si->endpoint);
	wire_owner(b, &si->owner);
	wire_u8(b, (uint8_t)si->kind);
	wire_u8(b, (uint8_t)si->state);
	wire_u64(b, si->drain_ms);
	wire_u64(b, si->base);
	wire_u64(b, si->size);
	wire_u64(b, si->used);
	wire_u64(b, si->shm_offset);
	wire_str(b, si->shm_name);
	wire_u32(b, si->rkey);
}

void wire_get_seg_info(struct wire_rd *r, struct mc_seg_info *si)
{
	uint8_t kind, state;

	memset(si, 0, sizeof(*si));
	wire_get_str(r, si->id, sizeof(si->id));
	wire_get_str(r, si->name, sizeof(si->name));
	wire_get_str(r, si->protocol, sizeof(si->protocol));
	wire_get_str(r, si->location, sizeof(si->location));
	wire_get_str(r, si->source, sizeof(si->source));
	wire_get_str(r, si->endpoint, sizeof(si->endpoint));
	wire_get_owner(r, &si->owner);
	kind = wire_get_u8(r);
	state = wire_get_u8(r);
	if (kind > MC_SEG_REMOTE || state > MC_SEG_DRAINING)
		r->bad = true;
	si->kind = (enum mc_seg_kind)(kind <= MC_SEG_REMOTE ? kind : 0);
	si->state = (enum mc_seg_state)(state <= MC_SEG_DRAINING ? state : 0);
	si->drain_ms = wire_get_u64(r);
	si->base = wire_get_u64(r);
	si->size = wire_get_u64(r);
	si->used = wire_get_u64(r);
	si->shm_offset = wire_get_u64(r);
	wire_get_str(r, si->shm_name, sizeof(si->shm_name));
	si->rkey = wire_get_u32(r);
}

/* -------------------------------------------------------------- serving */

/* One request being served: its body reader and the answer's parts. */
struct serve {
	struct mc_store *m;
	struct wire_rd r;
	struct mc_buf *body; /* the answer's body */
	struct mc_err err;
	int64_t rc;
};

/* The owners of the segments @ids (mc_master_serve's unmount). */
struct unmount_owner {
	char id[MC_ID_LEN + 1];
	struct mc_owner owner;
};

static void s_put_start(struct serve *v)
{
	struct mc_put_opts o = {0};
	struct mc_owner writer, near;
	char prefer[256];
	const void *key;
	size_t klen;
	uint64_t size;
	uint8_t flags;
	struct mc_put *p;

	key = wire_get_bytes(&v->r, &klen);
	size = wire_get_u64(&v->r);
	wire_get_owner(&v->r, &writer);
	o.replicas = wire_get_u8(&v->r);
	wire_get_str(&v->r, prefer, sizeof(prefer));
	flags = wire_get_u8(&v->r);
	wire_get_owner(&v->r, &near);
	if (v->r.bad || v->r.left)
		return;
	o.writer = &writer;
	o.prefer = prefer;
	o.remote_ok = flags & WIRE_PUT_REMOTE_OK;
	o.no_replace = flags & WIRE_PUT_NO_REPLACE;
	o.batch = flags & WIRE_PUT_BATCH;
	o.shared = flags & WIRE_PUT_SHARED;
	o.near = flags & WIRE_PUT_NEAR ? &near : NULL;
	if (o.replicas > MC_REPLICA_MAX)
		o.replicas = MC_REPLICA_MAX;
	v->rc = mc_put_start_opts(v->m, key, klen, size, &o, &p, &v->err);
	if (v->rc < 0)
		return;
	wire_u64(v->body, mc_put_version(p));
	wire_u8(v->body, (uint8_t)mc_put_ndesc(p));
	for (size_t i = 0; i < mc_put_ndesc(p); i++)
		wire_desc(v->body, mc_put_desc(p, i));
	mc_put_release(p);
}

static void s_put_finish(struct serve *v, bool end)
{
	struct mc_owner writer;
	const void *key;
	size_t klen;
	uint8_t flags;
	uint64_t version;

	key = wire_get_bytes(&v->r, &klen);
	wire_get_owner(&v->r, &writer);
	flags = wire_get_u8(&v->r);
	version = wire_get_u64(&v->r);
	if (v->r.bad || v->r.left)
		return;
	if (flags & WIRE_PUT_SHARED)
		v->rc = end ? put_end_version(v->m, key, klen, version, &writer,
					      flags & WIRE_PUT_BATCH, &v->err)
			    : put_revoke_version(
				      v->m, key, klen, version, &writer,
				      flags & WIRE_PUT_BATCH, &v->err);
	else
		v->rc = end ? mc_put_end_by(v->m, key, klen, &writer,
					    flags & WIRE_PUT_BATCH, &v->err)
			    : mc_put_revoke_by(v->m, key, klen, &writer,
					       flags & WIRE_PUT_BATCH, &v->err);
}

static void s_query(struct serve *v)
{
	struct mc_desc d[MC_REPLICA_MAX];
	struct mc_obj_info info = {0};
	const void *key;
	size_t klen;
	uint32_t flags;

	key = wire_get_bytes(&v->r, &klen);
	flags = wire_get_u32(&v->r);
	if (v->r.bad || v->r.left)
		return;
	flags &= MC_F_BATCH | MC_F_HOLD | MC_F_PEEK;
	v->rc = mc_query_ex(v->m, key, klen, flags, d, MC_REPLICA_MAX, &info);
	if (v->rc < 0)
		return;
	wire_u64(v->body, info.size);
	wire_u64(v->body, info.version);
	wire_u8(v->body,
		(uint8_t)(v->rc < MC_REPLICA_MAX ? v->rc : MC_REPLICA_MAX));
	for (int64_t i = 0; i < v->rc && i < MC_REPLICA_MAX; i++)
		wire_desc(v->body, &d[i]);
}

static void batch_item(size_t i, int rc, const struct mc_desc *d, size_t nd,
		       void *arg)
{
	struct serve *v = arg;

	wire_u32(v->body, (uint32_t)rc);
	wire_u8(v->body, (uint8_t)nd);
	for (size_t k = 0; k < nd; k++)
		wire_desc(v->body, &d[k]);
}

static void s_query_batch(struct serve *v)
{
	uint32_t n = wire_get_count(&v->r, WIRE_COUNT_MAX, 4);
	const char **keys = calloc(n ? n : 1, sizeof(*keys));
	size_t *klens = calloc(n ? n : 1, sizeof(*klens));

	if (!keys || !klens) {
		v->rc = mc_err_set(&v->err, -ENOMEM, MC_INTERNAL_ERROR,
				   "out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < n; i++)
		keys[i] = wire_get_bytes(&v->r, &klens[i]);
	if (v->r.bad || v->r.left)
		goto out;
	mc_query_batch(v->m, n, keys, klens, batch_item, v);
out:
	free(keys);
	free(klens);
}

/* MOP_KEY_WALK: keys until the answer holds @max of them or 1 MiB. */
struct walk_out {
	struct serve *v;
	uint32_t n, max;
	size_t n_at;
};

static int walk_key(const void *key, size_t klen, uint64_t size, uint64_t at,
		    void *arg)
{
	struct walk_out *w = arg;

	if (w->n >= w->max || w->v->body->len > (1u << 20))
		return 1;
	wire_bytes(w->v->body, key, klen);
	wire_u64(w->v->body, size);
	wire_u64(w->v->body, at);
	w->n++;
	return 0;
}

static void s_key_walk(struct serve *v)
{
	uint64_t cursor = wire_get_u64(&v->r);
	struct walk_out w = {.v = v, .max = wire_get_u32(&v->r)};
	int stopped;

	if (v->r.bad || v->r.left)
		return;
	if (w.max == 0)
		w.max = 1;
	w.n_at = v->body->len;
	wire_u32(v->body, 0);
	stopped = key_walk_cur(v->m, &cursor, walk_key, &w);
	for (int i = 0; i < 4; i++)
		v->body->data[w.n_at + i] = (char)(w.n >> (8 * i));
	wire_u64(v->body, cursor);
	wire_u8(v->body, !stopped);
}

static int seg_out(const struct mc_seg_info *si, void *arg)
{
	struct serve *v = arg;

	wire_seg_info(v->body, si);
	v->rc++;
	return 0;
}

static void s_segments(struct serve *v)
{
	size_t at = v->body->len;

	if (v->r.left)
		return;
	wire_u32(v->body, 0);
	v->rc = 0;
	mc_segment_foreach(v->m, seg_out, v);
	for (int i = 0; i < 4; i++)
		v->body->data[at + i] = (char)(v->rc >> (8 * i));
	v->rc = 0;
}

static void s_mount_remote(struct serve *v)
{
	char id[MC_ID_LEN + 1], name[256], endpoint[300], protocol[8];
	char location[256], shm_name[256];
	struct mc_remote_req q = {0};

	wire_get_str(&v->r, id, sizeof(id));
	wire_get_str(&v->r, name, sizeof(name));
	q.base = wire_get_u64(&v->r);
	q.size = wire_get_u64(&v->r);
	wire_get_str(&v->r, endpoint, sizeof(endpoint));
	wire_get_str(&v->r, protocol, sizeof(protocol));
	wire_get_owner(&v->r, &q.owner);
	q.origin = (enum mc_seg_kind)wire_get_u8(&v->r);
	wire_get_str(&v->r, location, sizeof(location));
	wire_get_str(&v->r, shm_name, sizeof(shm_name));
	q.shm_offset = wire_get_u64(&v->r);
	q.remount = wire_get_u8(&v->r);
	if (v->r.bad || v->r.left)
		return;
	q.id = id;
	q.name = name;
	q.endpoint = endpoint;
	q.protocol = protocol;
	q.location = location;
	q.shm_name = shm_name;
	v->rc = mc_segment_mount_remote(v->m, &q, &v->err);
}

static void s_unmount(struct serve *v)
{
	uint32_t n = wire_get_count(&v->r, 4096, 4);
	char(*ids)[MC_ID_LEN + 1] = calloc(n ? n : 1, sizeof(*ids));
	const char **idp = calloc(n ? n : 1, sizeof(*idp));
	struct unmount_owner *own = calloc(n ? n : 1, sizeof(*own));
	struct mc_unmount_req q = {0};
	char(*failed)[MC_ID_LEN + 1] = NULL;
	size_t nf = 0;

	if (!ids || !idp || !own) {
		v->rc = mc_err_set(&v->err, -ENOMEM, MC_INTERNAL_ERROR,
				   "out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		wire_get_str(&v->r, ids[i], sizeof(ids[i]));
		idp[i] = ids[i];
	}
	q.grace_s = wire_get_u32(&v->r);
	q.gone_ok = wire_get_u8(&v->r) & 1;
	if (v->r.bad || v->r.left)
		goto out;
	q.ids = idp;
	q.n = n;
	/* whom to tell once it is done: the owners, as they are now */
	for (uint32_t i = 0; i < n; i++) {
		struct mc_seg_info si;

		memcpy(own[i].id, ids[i], sizeof(own[i].id));
		if (mc_segment_info(v->m, ids[i], &si) == 0)
			own[i].owner = si.owner;
	}
	v->rc = mc_segment_unmount(v->m, &q, &failed, &nf, &v->err);
	wire_u32(v->body, (uint32_t)nf);
	for (size_t i = 0; i < nf; i++)
		wire_str(v->body, failed[i]);
	free(failed);
	if (v->rc < 0 || !v->m->o.owner_ops || !v->m->o.owner_ops->unmount)
		goto out;
	for (uint32_t i = 0; i < n; i++)
		if (own[i].owner.kind == MC_OWNER_NODE)
			v->m->o.owner_ops->unmount(v->m->o.owner_arg, own[i].id,
						   &own[i].owner, q.grace_s);
out:
	free(ids);
	free(idp);
	free(own);
}

static void s_usage(struct serve *v)
{
	struct mc_usage u;

	if (v->r.left)
		return;
	mc_store_usage(v->m, &u);
	wire_u64(v->body, u.used);
	wire_u64(v->body, u.capacity);
	wire_u64(v->body, u.keys);
	wire_u64(v->body, u.segments);
	wire_u64(v->body, u.pending_puts);
	wire_u64(v->body, u.clients);
}

static void s_recent(struct serve *v)
{
	struct mc_recent rc;

	if (v->r.left)
		return;
	mc_store_recent(v->m, &rc);
	wire_f64(v->body, rc.span_s);
	for (int i = 0; i < MC_NOPS; i++) {
		wire_u64(v->body, rc.requests[i]);
		wire_u64(v->body, rc.failures[i]);
	}
	wire_u64(v->body, rc.evictions);
	wire_u64(v->body, rc.evicted_keys);
	wire_u64(v->body, rc.evicted_bytes);
}

static void s_value_sizes(struct serve *v)
{
	struct mc_value_sizes vs;

	if (v->r.left)
		return;
	mc_store_value_sizes(v->m, &vs);
	for (int i = 0; i < MC_VALUE_SIZE_CLASSES; i++) {
		wire_f64(v->body, vs.le[i]);
		wire_u64(v->body, vs.count[i]);
	}
}

static void s_text(struct serve *v, bool summary)
{
	struct mc_buf t = {0};

	if (v->r.left)
		return;
	if (summary)
		mc_render_summary(v->m, &t);
	else
		mc_metrics_render(v->m->metrics, &t);
	wire_bytes(v->body, t.data ? t.data : "", t.len);
	mc_buf_release(&t);
}

/* Runs one request; a malformed one leaves v->r.bad set. */
static void serve_op(struct serve *v, uint16_t op)
{
	const void *key;
	size_t klen;
	char uuid[MC_ID_LEN + 1];

	switch (op) {
	case MOP_PUT_START:
		s_put_start(v);
		break;
	case MOP_PUT_END:
	case MOP_PUT_REVOKE:
		s_put_finish(v, op == MOP_PUT_END);
		break;
	case MOP_QUERY:
		s_query(v);
		break;
	case MOP_QUERY_BATCH:
		s_query_batch(v);
		break;
	case MOP_EXIST: {
		uint32_t flags;

		key = wire_get_bytes(&v->r, &klen);
		flags = wire_get_u32(&v->r);
		if (!v->r.bad && !v->r.left)
			v->rc = mc_exist_ex(v->m, key, klen,
					    flags & (MC_F_BATCH | MC_F_LEASE));
		break;
	}
	case MOP_STAT: {
		struct mc_obj *o;

		key = wire_get_bytes(&v->r, &klen);
		if (v->r.bad || v->r.left)
			break;
		/* the version too: a node settling a put it could not see
		 * end asks which one is there (link.c) */
		v->rc = obj_key_check(key, klen, &v->err);
		o = v->rc < 0 ? NULL : obj_lookup(v->m, key, klen, false);
		if (v->rc == 0 && !o)
			v->rc = mc_err_set(
				&v->err, -ENOENT, MC_OBJECT_NOT_FOUND,
				"key '%.*s' not found", KEY_ARG(key, klen));
		wire_u64(v->body, o ? o->size : 0);
		wire_u64(v->body, o ? o->version : 0);
		if (o)
			obj_unref(o);
		break;
	}
	case MOP_REMOVE: {
		bool force;

		key = wire_get_bytes(&v->r, &klen);
		force = wire_get_u8(&v->r);
		if (!v->r.bad && !v->r.left)
			v->rc = mc_remove(v->m, key, klen, force, &v->err);
		break;
	}
	case MOP_REMOVE_ALL: {
		bool force = wire_get_u8(&v->r);

		if (!v->r.bad && !v->r.left) {
			int64_t n = mc_remove_all(v->m, force);

			if (n < 0)
				v->rc = mc_err_set(
					&v->err, (int)n, MC_NO_LEADER,
					"removed, but a node could not retire "
					"the records: a failover may bring "
					"some back");
			else
				wire_u64(v->body, (uint64_t)n);
		}
		break;
	}
	case MOP_KEY_WALK:
		s_key_walk(v);
		break;
	case MOP_KEYS_GEN:
		if (!v->r.left)
			wire_u64(v->body, mc_store_keys_gen(v->m));
		break;
	case MOP_SEGMENTS:
		s_segments(v);
		break;
	case MOP_MOUNT_REMOTE:
		s_mount_remote(v);
		break;
	case MOP_UNMOUNT:
		s_unmount(v);
		break;
	case MOP_USAGE:
		s_usage(v);
		break;
	case MOP_RECENT:
		s_recent(v);
		break;
	case MOP_VALUE_SIZES:
		s_value_sizes(v);
		break;
	case MOP_CLIENT_PING:
	case MOP_CLIENT_REGISTER:
		wire_get_str(&v->r, uuid, sizeof(uuid));
		if (v->r.bad || v->r.left)
			break;
		v->rc = op == MOP_CLIENT_PING ? mc_client_ping(v->m, uuid)
					      : mc_client_register(v->m, uuid);
		break;
	case MOP_CLIENT_COUNT:
		if (!v->r.left)
			wire_u64(v->body, mc_client_count(v->m));
		break;
	case MOP_BATCH_COUNT: {
		uint8_t bop = wire_get_u8(&v->r);
		uint64_t items = wire_get_u64(&v->r);
		uint64_t failed = wire_get_u64(&v->r);

		if (bop >= MC_BATCH_NOPS)
			v->r.bad = true;
		if (!v->r.bad && !v->r.left)
			mc_batch_count(v->m, (enum mc_batch_op)bop, items,
				       failed);
		break;
	}
	case MOP_CALL_COUNT: {
		uint8_t cop = wire_get_u8(&v->r);
		uint8_t failed = wire_get_u8(&v->r);

		if (cop >= MC_CALL_NOPS || failed > 1)
			v->r.bad = true;
		if (!v->r.bad && !v->r.left)
			mc_call_count(v->m, (enum mc_call_op)cop, failed);
		break;
	}
	case MOP_METRICS:
	case MOP_SUMMARY:
		s_text(v, op == MOP_SUMMARY);
		break;
	case MOP_SETTLE: {
		uint64_t version;

		key = wire_get_bytes(&v->r, &klen);
		version = wire_get_u64(&v->r);
		if (v->r.bad || v->r.left)
			break;
		v->rc = obj_key_check(key, klen, &v->err);
		if (v->rc == 0)
			v->rc = master_settle_ask(v->m, key, klen, version);
		if (v->rc == -ECONNABORTED)
			mc_err_set(&v->err, v->rc, MC_NO_LEADER,
				   "whether the put of key '%.*s' happened is "
				   "unknown",
				   KEY_ARG(key, klen));
		else if (v->rc == -ECANCELED)
			mc_err_set(&v->err, v->rc, MC_NO_LEADER,
				   "the put of key '%.*s' did not happen",
				   KEY_ARG(key, klen));
		else if (v->rc == -EBUSY)
			mc_err_set(&v->err, v->rc, MC_INVALID_WRITE,
				   "the put of key '%.*s' is open",
				   KEY_ARG(key, klen));
		break;
	}
	default:
		v->r.bad = true;
	}
	if (v->r.left)
		v->r.bad = true;
}

int mc_master_serve(struct mc_store *m, uint64_t term, const void *req,
		    size_t len, struct mc_buf *resp)
{
	struct serve v = {.m = m};
	struct mc_buf body = {0};
	uint16_t op;
	int32_t rc;

	wire_rd_init(&v.r, req, len);
	if (wire_get_u32(&v.r) != WIRE_MASTER_REQ)
		return -EPROTO;
	op = wire_get_u16(&v.r);
	wire_get_u16(&v.r);
	if (v.r.bad || op == 0 || op >= MOP_COUNT)
		return -EPROTO;
	v.body = &body;
	if (m->o.may_act && !m->o.may_act(m->o.may_act_arg))
		v.rc = mc_err_set(&v.err, -EAGAIN, MC_NO_LEADER,
				  "this node may not act as the leader now");
	else
		serve_op(&v, op);
	if (v.r.bad) {
		mc_buf_release(&body);
		return -EPROTO;
	}
	rc = v.rc < INT32_MIN	? INT32_MIN
	     : v.rc > INT32_MAX ? INT32_MAX
				: (int32_t)v.rc;
	wire_u32(resp, WIRE_MASTER_RSP);
	wire_u64(resp, term);
	wire_u32(resp, (uint32_t)rc);
	wire_u32(resp, (uint32_t)(rc < 0 ? v.err.code : 0));
	wire_str(resp, rc < 0 ? v.err.msg : "");
	mc_buf_add(resp, body.data ? body.data : "", body.len);
	mc_buf_release(&body);
	return 0;
}

int obj_retire(struct mc_store *s, struct mc_obj *o, bool list,
	       struct mc_err *err)
{
	const struct mc_owner_ops *ops = s->o.owner_ops;
	struct mc_retire one, *v = &one;
	size_t n = 0, cap = 1;
	bool lost = false;
	int rc = 0;

	if (!ops || !ops->retire)
		return 0;
	for (; o;
	     o = list ? atomic_load_explicit(&o->next, memory_order_relaxed)
		      : NULL) {
		bool hooked = false;

		for (unsigned i = 0; i < o->nrep && !hooked; i++)
			hooked = blk_seg(o->rep[i])->hooked;
		if (!hooked)
			continue;
		if (n == cap) {
			struct mc_retire *nv = malloc(2 * cap * sizeof(*nv));

			if (!nv) {
				lost = true; /* the rest may come back */
				break;
			}
			memcpy(nv, v, n * sizeof(*v));
			if (v != &one)
				free(v);
			v = nv;
			cap *= 2;
		}
		v[n++] = (struct mc_retire){obj_key(o), o->klen, o->version};
	}
	if ((n && ops->retire(s->o.owner_arg, NULL, v, n, false) < 0) || lost) {
		/* acknowledged only once no rebuild can find them
		 * (mooncake-cluster(7), Owner records): unknown */
		mc_warn("cluster: %zu values (removed or evicted) could not be "
			"retired on every node: a failover may bring them "
			"back",
			n);
		rc = mc_err_set(err, -ECONNABORTED, MC_NO_LEADER,
				"removed, but a node could not retire the "
				"records: a failover may bring %s back",
				n > 1 || lost ? "them" : "it");
	}
	if (v != &one)
		free(v);
	return rc;
}

/* ------------------------------------------------------------- rebuild */

int mc_master_adopt(struct mc_store *m, const void *key, size_t klen,
		    uint64_t version, uint64_t value_size,
		    struct mc_adopt_rep *rep, unsigned n, struct mc_err *err)
{
	struct mc_blk *blk[MC_REPLICA_MAX];
	struct mc_obj *o, *old;
	unsigned k = 0;
	int rc = obj_key_check(key, klen, err);

	if (rc < 0)
		return rc;
	if (n == 0 || n > MC_REPLICA_MAX || !value_size ||
	    value_size > m->o.max_value)
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "bad replica count or value size");
	o = obj_lookup(m, key, klen, false);
	if (o) {
		bool newer = o->version >= version;

		obj_unref(o);
		if (newer)
			return mc_err_set(err, -EEXIST,
					  MC_OBJECT_ALREADY_EXISTS,
					  "key '%.*s' has a version as new "
					  "already",
					  KEY_ARG(key, klen));
	}
	for (unsigned i = 0; i < n; i++) {
		struct mc_seg *g = seg_get(m, rep[i].seg_id);
		uint64_t base, in_way;

		rep[i].taken = false;
		if (!g)
			continue;
		base = (uint64_t)(uintptr_t)g->base;
		if (g->kind == MC_SEG_REMOTE && rep[i].addr >= base &&
		    rep[i].size >= value_size &&
		    rep[i].size - value_size < MC_BUF_ALIGN &&
		    seg_reserve(m, g, rep[i].addr - base, rep[i].size, &blk[k],
				&in_way) == 0) {
			blk_set_state(blk[k], BLK_PENDING, value_size);
			k++;
			rep[i].taken = true;
		}
		seg_unref(g);
	}
	if (!k)
		return mc_err_set(err, -ENOENT, MC_INVALID_REPLICA,
				  "no replica of key '%.*s' could be taken",
				  KEY_ARG(key, klen));
	o = obj_new(key, klen, value_size, k);
	if (!o) {
		for (unsigned i = 0; i < k; i++) {
			blk_set_state(blk[i], BLK_DEAD, value_size);
			blk_unref(blk[i]);
		}
		for (unsigned i = 0; i < n; i++)
			rep[i].taken = false;
		return mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR,
				  "out of memory");
	}
	for (unsigned i = 0; i < k; i++)
		o->rep[i] = blk[i];
	o->version = version;
	obj_order(o);
	if (obj_publish(m, o, NULL, &old) < 0) {
		for (unsigned i = 0; i < k; i++)
			blk_set_state(blk[i], BLK_DEAD, value_size);
		obj_unref(o);
		for (unsigned i = 0; i < n; i++)
			rep[i].taken = false;
		return mc_err_set(err, -ENOENT, MC_INVALID_REPLICA,
				  "the segment of key '%.*s' went meanwhile",
				  KEY_ARG(key, klen));
	}
	if (old)
		obj_unref(old);
	return 0;
}

/* A record kept by an ingest for the settle. */
struct kept {
	struct mc_owner node;
	char seg_id[MC_ID_LEN + 1];
	uint64_t addr, size, value_size, version, term, stamp;
	bool committed, retired, taken;
	size_t klen;
	char *key;
};

/* A segment reported draining, whose drain goes on after the settle. */
struct drain {
	char id[MC_ID_LEN + 1];
	unsigned grace_s;
};

struct rebuild {
	struct kept *v;
	size_t n, cap;
	struct drain *d;
	size_t nd;
};

void rebuild_free(struct mc_store *s)
{
	struct rebuild *rb = s->rebuild;

	if (!rb)
		return;
	for (size_t i = 0; i < rb->n; i++)
		free(rb->v[i].key);
	free(rb->v);
	free(rb->d);
	free(rb);
	s->rebuild = NULL;
}

/* Tells the owner of @k that its record goes. */
static void kept_release(struct mc_store *m, const struct kept *k)
{
	struct mc_owner_blk b = {
		.seg_id = k->seg_id,
		.owner = &k->node,
		.addr = k->addr,
		.size = k->size,
		.term = atomic_load(&m->term),
		.stamp = atomic_load(&m->blk_stamp),
	};

	if (m->o.owner_ops && m->o.owner_ops->release)
		m->o.owner_ops->release(m->o.owner_arg, &b);
}

static int kept_add(struct mc_store *m, const struct kept *k)
{
	struct rebuild *rb = m->rebuild;

	if (!rb) {
		rb = calloc(1, sizeof(*rb));
		if (!rb)
			return -ENOMEM;
		m->rebuild = rb;
	}
	if (rb->n == rb->cap) {
		size_t cap = rb->cap ? rb->cap * 2 : 256;
		struct kept *nv = realloc(rb->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		rb->v = nv;
		rb->cap = cap;
	}
	rb->v[rb->n] = *k;
	rb->v[rb->n].key = malloc(k->klen + 1);
	if (!rb->v[rb->n].key)
		return -ENOMEM;
	memcpy(rb->v[rb->n].key, k->key, k->klen);
	rb->v[rb->n].key[k->klen] = '\0';
	rb->n++;
	return 0;
}

/*
 * Segment @id drains again for @grace_s seconds in this master: the
 * rest of the grace period the old leader gave it, which its owner
 * counts down too (mooncake-cluster(7), Failover).
 */
static void drain_now(struct mc_store *m, const char *id, unsigned grace_s)
{
	const char *ids[1] = {id};
	struct mc_unmount_req q = {
		.ids = ids, .n = 1, .grace_s = grace_s, .gone_ok = true};
	struct mc_err e = {0};

	if (mc_segment_unmount(m, &q, NULL, NULL, &e) < 0)
		mc_warn("cluster: segment '%s' does not drain: %s", id, e.msg);
	else
		mc_info("cluster: segment '%s' drains %u s more", id, grace_s);
}

/* Keeps draining segment @id for the settle (which adopts its values
 * first: a draining segment takes none). */
static int drain_add(struct mc_store *m, const char *id, unsigned grace_s)
{
	struct rebuild *rb = m->rebuild;
	struct drain *nd;

	if (!rb) {
		rb = calloc(1, sizeof(*rb));
		if (!rb)
			return -ENOMEM;
		m->rebuild = rb;
	}
	nd = realloc(rb->d, (rb->nd + 1) * sizeof(*nd));
	if (!nd)
		return -ENOMEM;
	rb->d = nd;
	snprintf(nd[rb->nd].id, sizeof(nd[0].id), "%s", id);
	nd[rb->nd++].grace_s = grace_s;
	return 0;
}

int mc_master_ingest(struct mc_store *m, const struct mc_owner *node,
		     const void *report, size_t len, bool adopt,
		     struct mc_err *err)
{
	struct wire_rd r;
	uint32_t nseg, nrec;
	char own[MC_OWNER_ID_MAX + 16];
	char(*skipped)[MC_ID_LEN + 1] = NULL;
	size_t nskip = 0;
	bool draining;
	int rc;

	if (!node || node->kind != MC_OWNER_NODE)
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "a report comes from a node");
	owner_text(node, own, sizeof(own));
	rc = mc_owner_msg_result(report, len, err);
	if (rc < 0)
		return rc;
	wire_rd_init(&r, report, len);
	wire_take(&r, WIRE_OWNER_RSP_HEAD);
	nseg = wire_get_count(&r, WIRE_COUNT_MAX, 40);
	skipped = calloc(nseg ? nseg : 1, sizeof(*skipped));
	if (!skipped)
		return mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR,
				  "out of memory");
	for (uint32_t i = 0; i < nseg && !r.bad; i++) {
		struct mc_seg_info si;
		struct mc_remote_req q;
		struct mc_err e = {0};

		wire_get_seg_info(&r, &si);
		if (r.bad)
			break;
		seg_remote_req(&si, node, &q);
		/* a draining one drains on here, for whole seconds left */
		draining = si.state == MC_SEG_DRAINING && si.drain_ms >= 1000;
		if (si.kind == MC_SEG_REMOTE ||
		    (si.state != MC_SEG_OK && !draining) ||
		    mc_segment_mount_remote(m, &q, &e) < 0) {
			mc_warn("cluster: segment '%s' of %s is left out: %s",
				si.id, own,
				e.msg[0] ? e.msg : "it is going away");
			memcpy(skipped[nskip++], si.id, sizeof(skipped[0]));
		} else if (draining) {
			unsigned grace = (unsigned)(si.drain_ms / 1000);

			if (!adopt || drain_add(m, si.id, grace) < 0)
				drain_now(m, si.id, grace);
		}
	}
	nrec = wire_get_count(&r, WIRE_COUNT_MAX, 4 + 57);
	for (uint32_t i = 0; i < nrec && !r.bad; i++) {
		struct kept k = {.node = *node};
		uint8_t st;
		bool skip = false;

		wire_get_str(&r, k.seg_id, sizeof(k.seg_id));
		k.addr = wire_get_u64(&r);
		k.size = wire_get_u64(&r);
		k.value_size = wire_get_u64(&r);
		k.version = wire_get_u64(&r);
		k.term = wire_get_u64(&r);
		k.stamp = wire_get_u64(&r);
		st = wire_get_u8(&r);
		k.committed = st & 1;
		k.retired = st & 2;
		k.key = (char *)wire_get_bytes(&r, &k.klen);
		if (r.bad)
			break;
		if (k.term > m->ledger_term)
			m->ledger_term = k.term;
		for (size_t j = 0; j < nskip && !skip; j++)
			skip = !strcmp(skipped[j], k.seg_id);
		if (skip)
			continue; /* its segment is not here: nothing to do */
		if (!adopt || !k.committed || k.retired || kept_add(m, &k) < 0)
			kept_release(m, &k);
	}
	free(skipped);
	if (r.bad || r.left)
		return mc_err_set(err, -EPROTO, MC_RPC_FAIL,
				  "the report of %s is not one", own);
	mc_info("cluster: %s reported %u segments and %u records", own, nseg,
		nrec);
	return 0;
}

/* By key, then the newest version first. */
static int kept_cmp(const void *a, const void *b)
{
	const struct kept *x = a, *y = b;
	size_t n = x->klen < y->klen ? x->klen : y->klen;
	int c = memcmp(x->key, y->key, n);

	if (c)
		return c;
	if (x->klen != y->klen)
		return x->klen < y->klen ? -1 : 1;
	return x->version > y->version ? -1 : x->version < y->version;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct settle_entry *x = a, *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->version < y->version ? -1 : x->version > y->version;
}

int master_settle_ask(struct mc_store *m, const void *key, size_t klen,
		      uint64_t version)
{
	uint64_t h = key_hash(key, klen), vterm = version >> 32;
	size_t lo = 0, hi = m->nledger;
	int rc = -ECANCELED;

	if (vterm == atomic_load(&m->term))
		return put_outcome(m, version);
	/*
	 * A version of an older master: what this one's rebuild found of
	 * it is final only if that master was the last to write anything
	 * (a master in between may have served it, then dropped it).
	 */
	if (!m->ledger_ready || vterm > atomic_load(&m->term) ||
	    vterm < m->ledger_term)
		return -ECONNABORTED;
	for (size_t i = 0; i < m->nlost; i++)
		if (m->ledger_lost[i].hash == h &&
		    m->ledger_lost[i].version == version)
			return -ECONNABORTED; /* committed, not taken */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->ledger[mid].hash < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < m->nledger && m->ledger[lo].hash == h; lo++) {
		if (m->ledger[lo].version == version)
			return 0;
		if (m->ledger[lo].version > version)
			rc = -ECONNABORTED; /* a newer one may have hidden it */
	}
	return rc;
}

/* Notes the version the rebuild took for a key (0: none). */
static void ledger_add(struct mc_store *m, size_t *cap, const void *key,
		       size_t klen, uint64_t version)
{
	if (m->nledger == *cap) {
		size_t nc = *cap ? *cap * 2 : 256;
		struct settle_entry *nv = realloc(m->ledger, nc * sizeof(*nv));

		if (!nv) {
			/* a ledger with holes would say "did not happen"
			 * wrongly: none at all says "unknown" */
			free(m->ledger);
			m->ledger = NULL;
			m->nledger = *cap = 0;
			m->ledger_ready = false;
			return;
		}
		m->ledger = nv;
		*cap = nc;
	}
	m->ledger[m->nledger++] =
		(struct settle_entry){key_hash(key, klen), version};
}

/* Notes a committed version the rebuild could not take. */
static void lost_add(struct mc_store *m, const void *key, size_t klen,
		     uint64_t version)
{
	struct settle_entry *nv =
		realloc(m->ledger_lost, (m->nlost + 1) * sizeof(*nv));

	if (!nv) {
		m->ledger_ready = false; /* "unknown" to every question */
		return;
	}
	m->ledger_lost = nv;
	m->ledger_lost[m->nlost++] =
		(struct settle_entry){key_hash(key, klen), version};
}

size_t mc_master_settle(struct mc_store *m)
{
	struct rebuild *rb = m->rebuild;
	size_t made = 0, released = 0, cap = 0;

	m->ledger_ready = true;
	if (!rb)
		return 0;
	if (rb->n) /* none: rb->v may be NULL, which qsort must not see */
		qsort(rb->v, rb->n, sizeof(*rb->v), kept_cmp);
	for (size_t i = 0; i < rb->n;) {
		struct kept *k = &rb->v[i];
		size_t end, g;
		bool adopted = false;

		for (end = i; end < rb->n && rb->v[end].klen == k->klen &&
			      !memcmp(rb->v[end].key, k->key, k->klen);
		     end++)
			rb->v[end].taken = false;
		/*
		 * The newest committed version is the value; when none of
		 * its records can be taken, the newest one that can, rather
		 * than none (mooncake-cluster(7), Failover). A version not
		 * taken may have been read: its writer, asking, is told
		 * "unknown" (lost_add), never "did not happen".
		 */
		for (g = i; g < end && !adopted;) {
			struct kept *gk = &rb->v[g];
			struct mc_adopt_rep rep[MC_REPLICA_MAX];
			size_t idx[MC_REPLICA_MAX];
			size_t j = g, nv = 0;
			struct mc_err e = {0};

			/* this version's records, at most MC_REPLICA_MAX */
			for (; j < end && rb->v[j].version == gk->version;
			     j++) {
				if (nv == MC_REPLICA_MAX ||
				    rb->v[j].value_size != gk->value_size)
					continue;
				rep[nv] = (struct mc_adopt_rep){
					.seg_id = rb->v[j].seg_id,
					.addr = rb->v[j].addr,
					.size = rb->v[j].size,
				};
				idx[nv++] = j;
			}
			if (mc_master_adopt(m, gk->key, gk->klen, gk->version,
					    gk->value_size, rep, (unsigned)nv,
					    &e) == 0) {
				adopted = true;
				made++;
				for (size_t x = 0; x < nv; x++)
					rb->v[idx[x]].taken = rep[x].taken;
				if (m->ledger_ready)
					ledger_add(m, &cap, gk->key, gk->klen,
						   gk->version);
			} else {
				mc_warn("cluster: version %llu of '%.*s' not "
					"rebuilt: %s",
					(unsigned long long)gk->version,
					KEY_ARG(gk->key, gk->klen), e.msg);
				lost_add(m, gk->key, gk->klen, gk->version);
			}
			g = j;
		}
		/* what was not taken goes: other versions, misfits */
		for (size_t x = i; x < end; x++) {
			if (rb->v[x].taken)
				continue;
			kept_release(m, &rb->v[x]);
			released++;
		}
		i = end;
	}
	/* no version adopted: no ledger either (NULL), nothing to sort */
	if (m->ledger_ready && m->nledger)
		qsort(m->ledger, m->nledger, sizeof(*m->ledger), entry_cmp);
	mc_info("cluster: index rebuilt: %zu values, %zu stale records "
		"released",
		made, released);
	for (size_t i = 0; i < rb->nd; i++)
		drain_now(m, rb->d[i].id, rb->d[i].grace_s);
	rebuild_free(m);
	return made;
}
