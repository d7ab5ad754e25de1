/*
 * serve.c - the master RPC door: one handler per call, each a
 * translation between the wire's structs (msg.h) and core calls
 * (mooncake.h). Upstream's semantics, where this file follows them, are
 * those of mooncake-store/src/master_service.cpp at 3b5a594.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mooncake.h"
#include "serve.h"

struct rpc_door {
	struct rpc_service svc;
	struct rpc_server *srv;
};

/* ------------------------------------------------------------ helpers */

/*
 * The Mooncake ErrorCode of a failed core call: the core's own code when
 * it gave one that upstream knows, else the errno's. mooncaked's own
 * codes (REMOTE_ONLY, NO_LEADER) never go on the wire.
 */
static int32_t code_of(int rc, const struct mc_err *e)
{
	if (e && e->code < 0 && e->code > MC_REMOTE_ONLY)
		return e->code;
	switch (-rc) {
	case ENOENT:
		return MC_OBJECT_NOT_FOUND;
	case EINVAL:
	case EFBIG:
	case ERANGE:
		return MC_INVALID_PARAMS;
	case EBUSY:
		return MC_OBJECT_HAS_LEASE;
	case EEXIST:
		return MC_OBJECT_ALREADY_EXISTS;
	case EPERM:
		return MC_ILLEGAL_CLIENT;
	case ENOSPC:
		return MC_NO_AVAILABLE_HANDLE;
	case EAGAIN:
		return MC_UNAVAILABLE_IN_CURRENT_STATUS;
	default:
		return MC_INTERNAL_ERROR;
	}
}

/* A wire string as a C string: NULL when it holds a NUL byte. */
static const char *cstr(const struct rpc_str *s)
{
	if (!s->len)
		return "";
	return s->p && strlen(s->p) == s->len ? s->p : NULL;
}

static struct rpc_str arena_str(struct rpc_arena *a, const char *s)
{
	size_t n = strlen(s);

	return (struct rpc_str){rpc_arena_strdup(a, s, n), n};
}

static void client_owner(const struct rpc_uuid *u, struct mc_owner *o)
{
	char id[MC_ID_LEN + 1];

	rpc_uuid_format(u, id);
	mc_owner_client(o, id); /* 16 bytes always format to a valid id */
}

/*
 * A replica's descriptor on the wire: a memory replica at the segment's
 * endpoint. Its protocol is "tcp" whatever the segment was mounted with,
 * as upstream's master writes every buffer it allocates (clients only
 * look for "cxl", which mooncaked does not have). Ids are unique per
 * object version (upstream numbers replicas from one counter; clients
 * only log them).
 */
static void replica(struct rpc_replica *r, const struct mc_desc *d,
		    uint64_t version, unsigned i, int32_t status,
		    struct rpc_arena *a)
{
	r->id = version * MC_REPLICA_MAX + i + 1;
	r->loc.kind = RPC_LOC_MEMORY;
	r->loc.u.memory.size = d->size;
	r->loc.u.memory.addr = d->addr;
	r->loc.u.memory.protocol = arena_str(a, "tcp");
	r->loc.u.memory.endpoint = arena_str(a, d->endpoint);
	r->status = status;
}

/*
 * The framework's messages name their subsystem ("rpc: ...") already.
 * Clients cause them (a malformed frame, a stall) as often as they like.
 */
static void log_call(void *ctx, const char *msg)
{
	static struct mc_log_budget budget = {.who = "rpc"};

	(void)ctx;
	mc_log_budgeted(&budget, MC_LOG_WARN, "%s", msg);
}

/* ------------------------------------------------------ setup, liveness */

static void h_service_ready(void *ctx, const struct rpc_call *c,
			    const void *req, void *resp, struct rpc_arena *a)
{
	((struct rpc_exp_str *)resp)->v = RPC_STR(RPC_STORE_VERSION);
}

static void h_storage_config(void *ctx, const struct rpc_call *c,
			     const void *req, void *resp, struct rpc_arena *a)
{
	/* Zeroed: no persistence (fsdir ""), no disk eviction, no quota. */
}

static void h_fsdir(void *ctx, const struct rpc_call *c, const void *req,
		    void *resp, struct rpc_arena *a)
{
	((struct rpc_exp_str *)resp)->v = RPC_STR("");
}

static void h_ping(void *ctx, const struct rpc_call *c, const void *req,
		   void *resp, struct rpc_arena *a)
{
	const struct rpc_ping_req *q = req;
	struct rpc_exp_ping *r = resp;
	char id[MC_ID_LEN + 1];
	int rc;

	rpc_uuid_format(&q->client_id, id);
	rc = mc_client_ping(ctx, id);
	if (rc < 0) {
		r->err = code_of(rc, NULL);
		return;
	}
	r->v.view_version_id = 0; /* no HA leader views here */
	r->v.client_status =
		rc == MC_CLIENT_OK ? RPC_CLIENT_OK : RPC_CLIENT_NEED_REMOUNT;
}

static void h_fetch_tasks(void *ctx, const struct rpc_call *c, const void *req,
			  void *resp, struct rpc_arena *a)
{
	/* Zeroed: no task, ever (no replication or offload jobs here).
	 * Counted as upstream's master counts it; it never fails. */
	mc_call_count(ctx, MC_CALL_FETCH_TASKS, false);
}

/* ------------------------------------------------------------- segments */

/* The core's mount request for a client's segment: -EINVAL on a NUL. */
static int remote_req(const struct rpc_segment *g, const struct rpc_uuid *cl,
		      char id[MC_ID_LEN + 1], struct mc_remote_req *r)
{
	memset(r, 0, sizeof(*r));
	rpc_uuid_format(&g->id, id);
	r->id = id;
	r->name = cstr(&g->name);
	r->base = g->base;
	r->size = g->size;
	r->endpoint = cstr(&g->te_endpoint);
	r->protocol = cstr(&g->protocol);
	client_owner(cl, &r->owner);
	return r->name && r->endpoint && r->protocol ? 0 : -EINVAL;
}

/* The mount of segment @g, alone or one of a ReMountSegment (@remount). */
static int32_t mount_one(struct mc_store *s, const struct rpc_segment *g,
			 const struct rpc_uuid *cl, bool remount)
{
	char id[MC_ID_LEN + 1];
	struct mc_remote_req r;
	struct mc_err e = {0};
	int rc;

	if (remote_req(g, cl, id, &r) < 0)
		return MC_INVALID_PARAMS;
	r.remount = remount;
	rc = mc_segment_mount_remote(s, &r, &e);
	if (rc == 0)
		return 0;
	mc_warn("rpc: %s '%s' of client '%s': %s",
		remount ? "ReMountSegment" : "MountSegment", id, r.owner.id,
		e.msg);
	/* Another range under that id: the client's view is not ours. */
	return rc == -EEXIST ? MC_INVALID_PARAMS : code_of(rc, &e);
}

static void h_mount(void *ctx, const struct rpc_call *c, const void *req,
		    void *resp, struct rpc_arena *a)
{
	const struct rpc_mount_req *q = req;

	((struct rpc_exp_void *)resp)->err =
		mount_one(ctx, &q->segment, &q->client_id, false);
}

/*
 * Whether the mounted segment @si is what @g describes for its client
 * @cl: the same range, name and endpoint, owned by that client.
 */
static bool same_segment(const struct mc_seg_info *si,
			 const struct mc_remote_req *r)
{
	return si->kind == MC_SEG_REMOTE &&
	       mc_owner_eq(&si->owner, &r->owner) && si->base == r->base &&
	       si->size == r->size && !strcmp(si->endpoint, r->endpoint) &&
	       (!*r->name || !strcmp(si->name, r->name));
}

/*
 * Upstream checks every segment first (one that another client owns, or
 * that differs from what is mounted under its id, fails the whole call
 * with nothing mounted), then mounts each, passing over those that are
 * invalid (a new remount would not fix them), and marks the client known.
 */
static int32_t remount(struct mc_store *s, const struct rpc_remount_req *q)
{
	char id[MC_ID_LEN + 1];
	int rc;

	for (size_t i = 0; i < q->segments.n; i++) {
		struct mc_remote_req rr;
		struct mc_seg_info si;

		if (remote_req(&q->segments.v[i], &q->client_id, id, &rr) ==
			    0 &&
		    mc_segment_info(s, id, &si) == 0 &&
		    !same_segment(&si, &rr)) {
			mc_warn("rpc: ReMountSegment of client '%s': segment "
				"'%s' is mounted as another range",
				rr.owner.id, id);
			return MC_INVALID_PARAMS;
		}
	}
	for (size_t i = 0; i < q->segments.n; i++) {
		int32_t code =
			mount_one(s, &q->segments.v[i], &q->client_id, true);

		if (code == MC_INTERNAL_ERROR)
			return code;
	}
	rpc_uuid_format(&q->client_id, id);
	rc = mc_client_register(s, id);
	return rc < 0 ? code_of(rc, NULL) : 0;
}

/*
 * One ReMountSegment counted per call, and one failure when it answers
 * an error, wherever the master is (mooncake-rpc(7), COUNTING), as
 * upstream's master counts it; its segments' mounts count no
 * MountSegment.
 */
static void h_remount(void *ctx, const struct rpc_call *c, const void *req,
		      void *resp, struct rpc_arena *a)
{
	struct rpc_exp_void *r = resp;

	r->err = remount(ctx, req);
	mc_call_count(ctx, MC_CALL_REMOUNT_SEGMENT, r->err != 0);
}

/* UnmountSegment's condition: the caller owns the segment. */
struct owned {
	struct mc_owner cl;
	bool refused; /* the segment is mounted, by another owner */
};

static bool owned_by(const struct mc_seg_info *si, void *arg)
{
	struct owned *o = arg;
	bool ok = mc_owner_eq(&si->owner, &o->cl);

	o->refused |= !ok;
	return ok;
}

/*
 * One unmount per call, so the store counts every call as the HTTP
 * route's are counted (mooncake-rpc(7), COUNTING): one request, and a
 * failure for another client's segment (ILLEGAL_CLIENT); a segment that
 * is gone already is done, as upstream's unmount is idempotent.
 */
static void h_unmount(void *ctx, const struct rpc_call *c, const void *req,
		      void *resp, struct rpc_arena *a)
{
	const struct rpc_unmount_req *q = req;
	struct rpc_exp_void *r = resp;
	struct mc_store *s = ctx;
	char id[MC_ID_LEN + 1];
	const char *ids[1] = {id};
	struct owned own = {0};
	struct mc_unmount_req u = {.ids = ids,
				   .n = 1,
				   .accept = owned_by,
				   .accept_arg = &own,
				   .gone_ok = true};
	struct mc_err e = {0};
	int rc;

	rpc_uuid_format(&q->segment_id, id);
	client_owner(&q->client_id, &own.cl);
	rc = mc_segment_unmount(s, &u, NULL, NULL, &e);
	if (own.refused) {
		mc_warn("rpc: UnmountSegment '%s' by client '%s', which does "
			"not own it",
			id, own.cl.id);
		r->err = MC_ILLEGAL_CLIENT;
		return;
	}
	if (rc < 0 && rc != -ENOENT)
		r->err = code_of(rc, &e);
}

/* ------------------------------------------------------------- queries */

static int32_t exist_one(struct mc_store *s, const struct rpc_str *key,
			 unsigned flags, bool *v)
{
	int rc = mc_exist_ex(s, key->p, key->len, flags | MC_F_LEASE);

	if (rc < 0) /* a bad key, or (cluster) no leader serves */
		return rc == -EINVAL ? MC_INVALID_KEY : code_of(rc, NULL);
	*v = rc > 0;
	return 0;
}

static void h_exist(void *ctx, const struct rpc_call *c, const void *req,
		    void *resp, struct rpc_arena *a)
{
	const struct rpc_key_req *q = req;
	struct rpc_exp_bool *r = resp;

	r->err = exist_one(ctx, &q->key, 0, &r->v);
}

static void h_batch_exist(void *ctx, const struct rpc_call *c, const void *req,
			  void *resp, struct rpc_arena *a)
{
	const struct rpc_keys_req *q = req;
	struct rpc_batch_bool *r = resp;
	size_t failed = 0;

	r->n = q->keys.n;
	r->v = rpc_arena_array(a, r->n, sizeof(*r->v));
	for (size_t i = 0; i < r->n; i++) {
		r->v[i].err =
			exist_one(ctx, &q->keys.v[i], MC_F_BATCH, &r->v[i].v);
		failed += r->v[i].err != 0;
	}
	mc_batch_count(ctx, MC_BATCH_EXIST, r->n, failed);
}

/* GetReplicaList of one key into @r, counted alone or as a batch item. */
static void query_one(struct mc_store *s, const struct rpc_str *key,
		      unsigned flags, struct rpc_exp_replica_list *r,
		      struct rpc_arena *a)
{
	struct mc_desc d[MC_REPLICA_MAX];
	struct mc_obj_info info;
	int n = mc_query_ex(s, key->p, key->len, flags, d, MC_REPLICA_MAX,
			    &info);

	if (n < 0) {
		r->err = n == -EINVAL ? MC_INVALID_KEY : code_of(n, NULL);
		return;
	}
	if (n > MC_REPLICA_MAX)
		n = MC_REPLICA_MAX;
	r->v.replicas.n = (size_t)n;
	r->v.replicas.v =
		rpc_arena_array(a, (size_t)n, sizeof(struct rpc_replica));
	for (int i = 0; i < n; i++)
		replica(&r->v.replicas.v[i], &d[i], info.version, (unsigned)i,
			RPC_REPLICA_COMPLETE, a);
	r->v.lease_ttl_ms = mc_store_get_opts(s)->lease_ttl_ms;
	/* No checksums are kept: upstream's optional stays empty. */
}

static void h_get_replicas(void *ctx, const struct rpc_call *c, const void *req,
			   void *resp, struct rpc_arena *a)
{
	const struct rpc_key_req *q = req;

	query_one(ctx, &q->key, 0, resp, a);
}

static void h_batch_get_replicas(void *ctx, const struct rpc_call *c,
				 const void *req, void *resp,
				 struct rpc_arena *a)
{
	const struct rpc_keys_req *q = req;
	struct rpc_batch_replica_list *r = resp;
	size_t failed = 0;

	r->n = q->keys.n;
	r->v = rpc_arena_array(a, r->n, sizeof(*r->v));
	for (size_t i = 0; i < r->n; i++) {
		query_one(ctx, &q->keys.v[i], MC_F_BATCH, &r->v[i], a);
		failed += r->v[i].err != 0;
	}
	mc_batch_count(ctx, MC_BATCH_QUERY, r->n, failed);
}

/* ----------------------------------------------------------------- puts */

/*
 * What a ReplicateConfig asks that mooncaked cannot give (no NoF, no
 * DFS, at least one memory replica): INVALID_PARAMS, as upstream answers
 * a config it cannot serve. Else 0 and @po filled.
 */
static int32_t put_opts(const struct rpc_replicate_config *cfg,
			const struct mc_owner *writer, bool batch,
			struct mc_put_opts *po)
{
	if (cfg->replica_num == 0 || cfg->nof_replica_num ||
	    cfg->dfs_replica_num)
		return MC_INVALID_PARAMS;
	memset(po, 0, sizeof(*po));
	po->writer = writer;
	po->replicas = cfg->replica_num > MC_REPLICA_MAX
			       ? MC_REPLICA_MAX
			       : (unsigned)cfg->replica_num;
	/* The first preferred name only; the others are not tried. */
	po->prefer = cfg->preferred_segment.len ? cstr(&cfg->preferred_segment)
		     : cfg->preferred_segments.n
			     ? cstr(&cfg->preferred_segments.v[0])
			     : NULL;
	po->remote_ok = true;
	po->no_replace = true;
	po->batch = batch;
	return 0;
}

static void put_start_one(struct mc_store *s, const struct rpc_str *key,
			  uint64_t size, const struct mc_put_opts *po,
			  struct rpc_exp_replicas *r, struct rpc_arena *a)
{
	struct mc_err e = {0};
	struct mc_put *p;
	size_t n;
	int rc = mc_put_start_opts(s, key->p, key->len, size, po, &p, &e);

	if (rc < 0) {
		r->err = code_of(rc, &e);
		return;
	}
	/* The put stays open in the store, ended or revoked by key. */
	n = mc_put_ndesc(p);
	r->v.n = n;
	r->v.v = rpc_arena_array(a, n, sizeof(*r->v.v));
	for (size_t i = 0; i < n; i++)
		replica(&r->v.v[i], mc_put_desc(p, i), mc_put_version(p),
			(unsigned)i, RPC_REPLICA_PROCESSING, a);
	mc_put_release(p);
}

static void h_put_start(void *ctx, const struct rpc_call *c, const void *req,
			void *resp, struct rpc_arena *a)
{
	const struct rpc_put_start_req *q = req;
	struct rpc_exp_replicas *r = resp;
	struct mc_owner w;
	struct mc_put_opts po;

	client_owner(&q->client_id, &w);
	r->err = put_opts(&q->config, &w, false, &po);
	if (!r->err)
		put_start_one(ctx, &q->key, q->slice_length, &po, r, a);
}

static void h_batch_put_start(void *ctx, const struct rpc_call *c,
			      const void *req, void *resp, struct rpc_arena *a)
{
	const struct rpc_batch_put_start_req *q = req;
	struct rpc_batch_replicas *r = resp;
	struct mc_owner w;
	struct mc_put_opts po;
	int32_t bad;
	size_t failed = 0;

	client_owner(&q->client_id, &w);
	bad = put_opts(&q->config, &w, true, &po);
	if (q->slice_lengths.n != q->keys.n ||
	    (q->config.group_ids.has && q->config.group_ids.v.n != q->keys.n))
		bad = MC_INVALID_PARAMS;
	r->n = q->keys.n;
	r->v = rpc_arena_array(a, r->n, sizeof(*r->v));
	for (size_t i = 0; i < r->n; i++) {
		r->v[i].err = bad;
		if (!bad)
			put_start_one(ctx, &q->keys.v[i], q->slice_lengths.v[i],
				      &po, &r->v[i], a);
		failed += r->v[i].err != 0;
	}
	mc_batch_count(ctx, MC_BATCH_PUT_START, r->n, failed);
}

/* Only memory replicas exist here: MEMORY and ALL name them. */
static bool memory_type(int32_t t)
{
	return t == RPC_RTYPE_MEMORY || t == RPC_RTYPE_ALL;
}

static int32_t put_finish(struct mc_store *s, const struct rpc_uuid *cl,
			  const struct rpc_str *key, bool end, bool batch)
{
	struct mc_owner w;
	struct mc_err e = {0};
	int rc;

	client_owner(cl, &w);
	rc = end ? mc_put_end_by(s, key->p, key->len, &w, batch, &e)
		 : mc_put_revoke_by(s, key->p, key->len, &w, batch, &e);
	return rc < 0 ? code_of(rc, &e) : 0;
}

static void h_put_end(void *ctx, const struct rpc_call *c, const void *req,
		      void *resp, struct rpc_arena *a)
{
	const struct rpc_put_end_req *q = req;
	struct rpc_exp_void *r = resp;

	/* The checksum is not kept (GetReplicaList answers none). */
	r->err = memory_type(q->replica_type)
			 ? put_finish(ctx, &q->client_id, &q->meta.key, true,
				      false)
			 : MC_INVALID_PARAMS;
}

static void h_put_revoke(void *ctx, const struct rpc_call *c, const void *req,
			 void *resp, struct rpc_arena *a)
{
	const struct rpc_put_revoke_req *q = req;
	struct rpc_exp_void *r = resp;

	r->err = memory_type(q->replica_type)
			 ? put_finish(ctx, &q->client_id, &q->key, false, false)
			 : MC_INVALID_PARAMS;
}

/* Item @i's key (a BatchPutEnd's is in an ObjectMeta). */
static const struct rpc_str *end_key(const void *req, size_t i)
{
	return &((const struct rpc_batch_put_end_req *)req)->metas.v[i].key;
}

static const struct rpc_str *revoke_key(const void *req, size_t i)
{
	return &((const struct rpc_batch_put_revoke_req *)req)->keys.v[i];
}

/*
 * A BatchPutEnd (@end) or BatchPutRevoke of @n keys: each ended or
 * revoked as a batch item, the call counted once as a batch (upstream's
 * master_batch_put_{end,revoke}_* and no PutEnd or PutRevoke).
 */
static void batch_finish(struct mc_store *s, const struct rpc_uuid *cl,
			 int32_t type, const void *req, size_t n,
			 const struct rpc_str *(*key)(const void *, size_t),
			 bool end, struct rpc_batch_void *r,
			 struct rpc_arena *a)
{
	size_t failed = 0;

	r->n = n;
	r->v = rpc_arena_array(a, r->n, sizeof(*r->v));
	for (size_t i = 0; i < r->n; i++) {
		r->v[i].err = MC_INVALID_PARAMS;
		if (memory_type(type))
			r->v[i].err = put_finish(s, cl, key(req, i), end, true);
		failed += r->v[i].err != 0;
	}
	mc_batch_count(s, end ? MC_BATCH_PUT_END : MC_BATCH_PUT_REVOKE, r->n,
		       failed);
}

static void h_batch_put_end(void *ctx, const struct rpc_call *c,
			    const void *req, void *resp, struct rpc_arena *a)
{
	const struct rpc_batch_put_end_req *q = req;

	batch_finish(ctx, &q->client_id, q->replica_type, q, q->metas.n,
		     end_key, true, resp, a);
}

static void h_batch_put_revoke(void *ctx, const struct rpc_call *c,
			       const void *req, void *resp, struct rpc_arena *a)
{
	const struct rpc_batch_put_revoke_req *q = req;

	batch_finish(ctx, &q->client_id, q->replica_type, q, q->keys.n,
		     revoke_key, false, resp, a);
}

/* -------------------------------------------------------------- removal */

static int32_t remove_one(struct mc_store *s, const struct rpc_str *key,
			  bool force)
{
	struct mc_err e = {0};
	int rc = mc_remove(s, key->p, key->len, force, &e);

	return rc < 0 ? code_of(rc, &e) : 0;
}

static void h_remove(void *ctx, const struct rpc_call *c, const void *req,
		     void *resp, struct rpc_arena *a)
{
	const struct rpc_remove_req *q = req;

	((struct rpc_exp_void *)resp)->err = remove_one(ctx, &q->key, q->force);
}

/* As upstream: each key counts one Remove. */
static void h_batch_remove(void *ctx, const struct rpc_call *c, const void *req,
			   void *resp, struct rpc_arena *a)
{
	const struct rpc_batch_remove_req *q = req;
	struct rpc_batch_void *r = resp;

	r->n = q->keys.n;
	r->v = rpc_arena_array(a, r->n, sizeof(*r->v));
	for (size_t i = 0; i < r->n; i++)
		r->v[i].err = remove_one(ctx, &q->keys.v[i], q->force);
}

static void h_remove_all(void *ctx, const struct rpc_call *c, const void *req,
			 void *resp, struct rpc_arena *a)
{
	const struct rpc_remove_all_req *q = req;
	int64_t n = mc_remove_all(ctx, q->force);

	/* a bare count: a failure is its (negative) ErrorCode, as
	 * upstream's clients read it, not an errno */
	((struct rpc_remove_all_resp *)resp)->removed =
		n < 0 ? code_of((int)n, NULL) : n;
}

/* ------------------------------------------------------------ the table */

static const rpc_handler_fn handlers[RPC_NCALLS] = {
	[RPC_SERVICE_READY] = h_service_ready,
	[RPC_GET_STORAGE_CONFIG] = h_storage_config,
	[RPC_GET_FSDIR] = h_fsdir,
	[RPC_PING] = h_ping,
	[RPC_MOUNT_SEGMENT] = h_mount,
	[RPC_REMOUNT_SEGMENT] = h_remount,
	[RPC_UNMOUNT_SEGMENT] = h_unmount,
	[RPC_FETCH_TASKS] = h_fetch_tasks,
	[RPC_EXIST_KEY] = h_exist,
	[RPC_BATCH_EXIST_KEY] = h_batch_exist,
	[RPC_GET_REPLICA_LIST] = h_get_replicas,
	[RPC_BATCH_GET_REPLICA_LIST] = h_batch_get_replicas,
	[RPC_PUT_START] = h_put_start,
	[RPC_PUT_END] = h_put_end,
	[RPC_PUT_REVOKE] = h_put_revoke,
	[RPC_BATCH_PUT_START] = h_batch_put_start,
	[RPC_BATCH_PUT_END] = h_batch_put_end,
	[RPC_BATCH_PUT_REVOKE] = h_batch_put_revoke,
	[RPC_REMOVE] = h_remove,
	[RPC_BATCH_REMOVE] = h_batch_remove,
	[RPC_REMOVE_ALL] = h_remove_all,
};

void rpc_door_service(struct mc_store *s, struct rpc_service *svc)
{
	memset(svc, 0, sizeof(*svc));
	memcpy(svc->handler, handlers, sizeof(handlers));
	svc->ctx = s;
	svc->log = log_call;
}

/* ----------------------------------------------------------- lifetime */

struct rpc_door *rpc_door_start(struct mc_store *s,
				const struct rpc_door_opts *o,
				struct mc_err *err)
{
	struct rpc_door *d = calloc(1, sizeof(*d));
	struct rpc_server_opts so = {.host = o->host,
				     .port = o->port,
				     .loops = o->loops,
				     .max_body = o->max_body,
				     .grace_ms = o->grace_ms};
	char why[256] = "";

	if (!d) {
		mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	rpc_door_service(s, &d->svc);
	d->srv = rpc_server_start(&so, &d->svc, why, sizeof(why));
	if (!d->srv) {
		int e = errno;

		mc_err_set(err, -e,
			   e == EINVAL ? MC_INVALID_PARAMS : MC_INTERNAL_ERROR,
			   "%s%s", why,
			   e == EADDRINUSE ? "; choose another with --rpc-port"
					   : "");
		free(d);
		errno = e;
		return NULL;
	}
	mc_info("rpc: serving the master RPC (store version %s) on port %u",
		RPC_STORE_VERSION, rpc_server_port(d->srv));
	return d;
}

unsigned rpc_door_port(const struct rpc_door *d)
{
	return rpc_server_port(d->srv);
}

void rpc_door_stop(struct rpc_door *d)
{
	if (!d)
		return;
	rpc_server_free(d->srv);
	free(d);
}
