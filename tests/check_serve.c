/*
 * check_serve.c - the master RPC door (rpc/serve.c) over a real store,
 * without a socket: requests go through rpc_session as bytes, the frames
 * captured from upstream's clients among them (mooncake-rpc(7)), and the
 * replies are checked as bytes or decoded. A store clock of the test's
 * drives leases and expiry.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "metrics.h"
#include "mooncake.h"
#include "rpc.h"
#include "rpc_util.h"
#include "serve.h"

/* The ids the captures carry: segment_client_0 and its client. */
#define SEG_UUID    "35963441 457340c8 ae5859ed 72974484"
#define CLIENT_UUID "fa1c96fd 37ba43b9 8c96cec2 f263c69d"
#define CLIENT_ID   "fa1c96fd-37ba-43b9-8c96-cec2f263c69d"
#define SEG_ID	    "35963441-4573-40c8-ae58-59ed72974484"
#define OTHER_ID    "0f0e0d0c-0b0a-4908-8706-050403020100"

static uint64_t now = 1000;

static uint64_t test_clock(void *arg)
{
	(void)arg;
	return now;
}

static struct mc_store *S;
static struct rpc_service svc;
static struct rpc_session sess;
static struct rpc_arena A;
static uint32_t seq;

static void setup(void)
{
	struct mc_store_opts o;
	struct mc_mount_req mr = {.size = 16 << 20};
	struct mc_mount_result res;

	mc_store_opts_default(&o);
	o.now_ms = test_clock;
	o.manual_tick = true;
	S = mc_store_new(&o, NULL);
	ck_assert_ptr_nonnull(S);
	mc_store_set_endpoint(S, "mooncaked:7000");
	ck_assert_int_eq(mc_segment_mount(S, &mr, &res, NULL), 0);
	free(res.ids);
	rpc_door_service(S, &svc);
	rpc_session_init(&sess, &svc, 0);
	seq = 0;
}

static void teardown(void)
{
	rpc_session_release(&sess);
	rpc_arena_release(&A);
	mc_store_free(S);
}

static double metric(const char *name)
{
	struct mc_family *f = mc_metrics_find(mc_store_metrics(S), name);

	ck_assert_ptr_nonnull(f);
	return mc_series_value(mc_family_series(f, NULL));
}

/*
 * The master_batch_@op_* counts: requests, items, failures, partial
 * successes and failed items must be these.
 */
static void batch_counts(const char *op, double req, double items, double fail,
			 double partial, double failed_items)
{
	static const char *const what[] = {"requests", "items", "failures",
					   "partial_successes", "failed_items"};
	const double want[] = {req, items, fail, partial, failed_items};
	char name[128];

	for (size_t i = 0; i < sizeof(what) / sizeof(what[0]); i++) {
		snprintf(name, sizeof(name), "master_batch_%s_%s_total", op,
			 what[i]);
		ck_assert_msg(metric(name) == want[i], "%s %g, not %g", name,
			      metric(name), want[i]);
	}
}

/*
 * Feeds a request of function @fid whose body is @spec (rpc_test_bytes
 * notation; "" for none), numbered from the test's sequence, and returns
 * the one reply: its header in @h, its body in @body.
 */
static void feed(uint32_t fid, const char *spec, struct rpc_resp_hdr *h,
		 struct rpc_buf *body)
{
	struct rpc_buf in = {0}, out = {0}, b = {0};
	struct rpc_req_hdr rq = {
		.magic = RPC_MAGIC, .seq = seq++, .function_id = fid};
	unsigned char hb[RPC_REQ_HDR_LEN];

	ck_assert_msg(rpc_test_bytes(spec, &b) == 0, "bad spec %s", spec);
	rq.length = (uint32_t)b.len;
	rpc_req_hdr_encode(&rq, hb);
	rpc_buf_add(&in, hb, sizeof(hb));
	rpc_buf_add(&in, b.p, b.len);
	ck_assert_int_eq(rpc_session_feed(&sess, in.p, in.len, &out), 1);
	ck_assert_uint_ge(out.len, RPC_RESP_HDR_LEN);
	rpc_resp_hdr_decode(out.p, h);
	ck_assert_uint_eq(h->seq, rq.seq);
	ck_assert_uint_eq(out.len, RPC_RESP_HDR_LEN + h->length);
	body->len = 0;
	rpc_buf_add(body, out.p + RPC_RESP_HDR_LEN, h->length);
	rpc_buf_release(&in);
	rpc_buf_release(&out);
	rpc_buf_release(&b);
}

/* The reply body must be exactly @spec. */
static void body_is(const struct rpc_buf *body, const char *spec)
{
	struct rpc_buf want = {0};

	ck_assert_msg(rpc_test_bytes(spec, &want) == 0, "bad spec %s", spec);
	ck_assert_msg(body->len == want.len &&
			      !memcmp(body->p, want.p, want.len),
		      "reply differs from %s", spec);
	rpc_buf_release(&want);
}

/*
 * One call through the session, as a client would send it (plain form):
 * 0, or the framework's error code; the decoded reply in @resp (memory
 * in A).
 */
static int serve(enum rpc_call_id id, const void *req, void *resp)
{
	const struct rpc_call *c = rpc_call_get(id);
	struct rpc_buf body = {0}, in = {0}, out = {0};
	struct rpc_req_hdr h = {
		.magic = RPC_MAGIC, .seq = seq++, .function_id = c->id};
	struct rpc_resp_hdr rh;
	unsigned char hb[RPC_REQ_HDR_LEN];
	const char *why = "";
	int rc;

	rpc_req_encode(c, req, 0, &body);
	h.length = (uint32_t)body.len;
	rpc_req_hdr_encode(&h, hb);
	rpc_buf_add(&in, hb, sizeof(hb));
	rpc_buf_add(&in, body.p, body.len);
	ck_assert_int_eq(rpc_session_feed(&sess, in.p, in.len, &out), 1);
	rpc_resp_hdr_decode(out.p, &rh);
	ck_assert_uint_eq(rh.seq, h.seq);
	rc = rh.err_code;
	if (!rc)
		ck_assert_msg(rpc_resp_decode(c, out.p + RPC_RESP_HDR_LEN,
					      rh.length, resp, &A, &why) == 0,
			      "%s: reply does not decode: %s", c->name, why);
	rpc_buf_release(&body);
	rpc_buf_release(&in);
	rpc_buf_release(&out);
	return rc;
}

static struct rpc_uuid uuid(const char *s)
{
	struct rpc_uuid u;

	ck_assert_int_eq(rpc_uuid_parse(s, &u), 0);
	return u;
}

static struct rpc_str str(const char *s)
{
	return (struct rpc_str){s, strlen(s)};
}

/* The captured MountSegment: segment_client_0, 1 GiB at 0x1_0000_0000. */
#define MOUNT_ID 0x3e7ec4bb
static const char mount_capture[] =
	"af0df79e 04 fd fd fd0404 8989ff 800c 04 04 800c 800c 800c ff "
	"fd04048989ff ff 00 | " SEG_UUID " 10 \"segment_client_0\" "
	"00000000 01000000 | 00000040 00000000 10 \"segment_client_0\" 00 "
	"00 " CLIENT_UUID;

static int32_t put_start(const char *client, const char *key, uint64_t len,
			 const char *prefer, struct rpc_exp_replicas *r)
{
	struct rpc_put_start_req q = {
		.client_id = uuid(client),
		.key = str(key),
		.slice_length = len,
		.config = {.replica_num = 1,
			   .preferred_segment = str(prefer ? prefer : "")},
		.tenant_id = RPC_STR("default")};

	ck_assert_int_eq(serve(RPC_PUT_START, &q, r), 0);
	return r->err;
}

static int32_t put_end(const char *client, const char *key, int32_t type)
{
	struct rpc_put_end_req q = {.client_id = uuid(client),
				    .meta = {.key = str(key)},
				    .replica_type = type,
				    .tenant_id = RPC_STR("default")};
	struct rpc_exp_void r;

	ck_assert_int_eq(serve(RPC_PUT_END, &q, &r), 0);
	return r.err;
}

/* ---------------------------------------------------------------- tests */

/* The frames upstream's clients send, answered as upstream's master. */
START_TEST(test_captures)
{
	struct rpc_resp_hdr h;
	struct rpc_buf b = {0};
	struct rpc_exp_replicas ps;
	struct rpc_exp_replica_list gl;
	char spec[1024];

	feed(0x7b81bb56, "", &h, &b); /* ServiceReady */
	ck_assert_uint_eq(h.err_code, 0);
	body_is(&b, "34ccb31c 01 05 \"2.0.0\"");
	feed(MOUNT_ID, mount_capture, &h, &b);
	body_is(&b, "cc6828af 01");
	/* known since its mount: OK, view 0 */
	feed(0xd6c2dae5, "e1836d3c 04 fd04048989ff 00 | " CLIENT_UUID, &h, &b);
	body_is(&b, "528f2a74 01 0000000000000000 01000000");
	/* the independent client's ExistKey (plain form): false */
	feed(0x89385f09, "d81ef97c 02 \"k1\" 07 \"default\"", &h, &b);
	body_is(&b, "d200e890 01 00");
	feed(0x1f7ef174, "d81ef97c 04 \"nope\" 07 \"default\"", &h, &b);
	body_is(&b, "6c27c688 00 40fdffff");

	/* a put into the client's memory, as the capture shows it */
	ck_assert_int_eq(put_start(CLIENT_ID, "140109416494784_0", 4096,
				   "segment_client_0", &ps),
			 0);
	ck_assert_uint_eq(ps.v.n, 1);
	ck_assert_uint_eq(ps.v.v[0].loc.kind, RPC_LOC_MEMORY);
	ck_assert_uint_eq(ps.v.v[0].loc.u.memory.addr, 0x100000000ull);
	ck_assert_uint_eq(ps.v.v[0].loc.u.memory.size, 4096);
	ck_assert_str_eq(ps.v.v[0].loc.u.memory.endpoint.p, "segment_client_0");
	ck_assert_str_eq(ps.v.v[0].loc.u.memory.protocol.p, "tcp");
	ck_assert_int_eq(ps.v.v[0].status, RPC_REPLICA_PROCESSING);
	snprintf(spec, sizeof(spec),
		 "239281d1 04 fd fd04048989ff fd 800c 85 04 ff 01 800c ff 00 |"
		 " %s | 11 \"140109416494784_0\" 00 | 00000000 | "
		 "07 \"default\"",
		 CLIENT_UUID);
	feed(0x8e8b2099, spec, &h, &b); /* PutEnd */
	body_is(&b, "cc6828af 01");
	/* the captured GetReplicaList (literal form) of a complete key */
	ck_assert_int_eq(put_start(CLIENT_ID, "140109416494784_1", 4096,
				   "segment_client_0", &ps),
			 0);
	ck_assert_int_eq(put_end(CLIENT_ID, "140109416494784_1", 0), 0);
	feed(0x1f7ef174,
	     "d91ef97c 04 fd 800c 800c ff 00 | 11 \"140109416494784_1\" "
	     "07 \"default\"",
	     &h, &b);
	ck_assert_uint_eq(h.err_code, 0);
	ck_assert_int_eq(rpc_resp_decode(rpc_call_get(RPC_GET_REPLICA_LIST),
					 b.p, b.len, &gl, &A,
					 &(const char *){""}),
			 0);
	ck_assert_int_eq(gl.err, 0);
	ck_assert_uint_eq(gl.v.replicas.n, 1);
	ck_assert_int_eq(gl.v.replicas.v[0].status, RPC_REPLICA_COMPLETE);
	ck_assert_uint_eq(gl.v.replicas.v[0].loc.u.memory.addr,
			  0x100000000ull + 4096);
	ck_assert_uint_eq(gl.v.lease_ttl_ms, 10000);
	ck_assert(!gl.v.checksum.has);
	/* leased now: the captured Remove (force 0) is refused */
	feed(0xf1b09774, "ee9fe818 11 \"140109416494784_1\" 00 07 \"default\"",
	     &h, &b);
	body_is(&b, "cc6828af 00 3efdffff");
	rpc_buf_release(&b);
}
END_TEST

/* What the framework answers, and what the door refuses. */
START_TEST(test_refusals)
{
	struct rpc_resp_hdr h;
	struct rpc_buf b = {0};
	struct rpc_exp_void v;
	struct rpc_exp_replicas ps;
	struct rpc_batch_replicas bps;
	struct rpc_str keys[2] = {RPC_STR("a"), RPC_STR("b")};
	uint64_t lens[1] = {8};
	char id[37];

	/* an older ExistKey (no tenant): invalid arguments, session goes
	 * on; the log line names its subsystem once (mooncaked(8)) */
	{
		FILE *t = tmpfile();
		int saved = dup(2);
		char line[512] = "";

		ck_assert_ptr_nonnull(t);
		fflush(stderr);
		dup2(fileno(t), 2);
		feed(0x89385f09, "00000000 02 \"k1\"", &h, &b);
		fflush(stderr);
		dup2(saved, 2);
		close(saved);
		rewind(t);
		ck_assert_ptr_nonnull(fgets(line, sizeof(line), t));
		fclose(t);
		ck_assert_ptr_nonnull(
			strstr(line, "WARN rpc: ExistKey: invalid arguments"));
		ck_assert_ptr_null(strstr(line, "rpc: rpc:"));
	}
	ck_assert_uint_eq(h.err_code, RPC_ERRC_INVALID_ARGS);
	feed(0xdeadbeef, "", &h, &b);
	ck_assert_uint_eq(h.err_code, RPC_ERRC_NOT_REGISTERED);
	feed(MOUNT_ID, mount_capture, &h, &b);
	body_is(&b, "cc6828af 01");

	/* segments the door cannot take */
	struct rpc_mount_req m = {
		.segment = {.id = uuid("a1a2a3a4-a5a6-4a7a-8a8a-a9aaabacadae"),
			    .name = {"bad\0name", 8},
			    .base = 0x7f0000000000ull,
			    .size = 1 << 20,
			    .te_endpoint = RPC_STR("c:1")},
		.client_id = uuid(OTHER_ID)};

	ck_assert_int_eq(serve(RPC_MOUNT_SEGMENT, &m, &v), 0);
	ck_assert_int_eq(v.err, MC_INVALID_PARAMS);
	m.segment.name = RPC_STR("ok");
	m.segment.base = 0;
	ck_assert_int_eq(serve(RPC_MOUNT_SEGMENT, &m, &v), 0);
	ck_assert_int_eq(v.err, MC_INVALID_PARAMS);
	/* the capture's segment id, another client: not theirs to mount */
	m.segment.id = uuid(SEG_ID);
	m.segment.base = 0x7f0000000000ull;
	ck_assert_int_eq(serve(RPC_MOUNT_SEGMENT, &m, &v), 0);
	ck_assert_int_eq(v.err, MC_INVALID_PARAMS);
	/* nor to unmount; counted as the HTTP route counts an unmount
	 * that fails: one request, one failure */
	struct rpc_unmount_req u = {uuid(SEG_ID), uuid(OTHER_ID)};
	double ureq = metric("master_unmount_segment_requests_total");
	double ufail = metric("master_unmount_segment_failures_total");

	ck_assert_int_eq(serve(RPC_UNMOUNT_SEGMENT, &u, &v), 0);
	ck_assert_int_eq(v.err, MC_ILLEGAL_CLIENT);
	rpc_uuid_format(&u.segment_id, id);
	ck_assert_int_eq(mc_segment_info(S, id, &(struct mc_seg_info){0}), 0);
	ck_assert(metric("master_unmount_segment_requests_total") == ureq + 1);
	ck_assert(metric("master_unmount_segment_failures_total") == ufail + 1);
	/* a segment gone already: done (idempotent, as upstream), counted
	 * as one request and no failure */
	u.segment_id = uuid("b1b2b3b4-b5b6-4b7b-8b8b-b9babbbcbdbe");
	ck_assert_int_eq(serve(RPC_UNMOUNT_SEGMENT, &u, &v), 0);
	ck_assert_int_eq(v.err, 0);
	ck_assert(metric("master_unmount_segment_requests_total") == ureq + 2);
	ck_assert(metric("master_unmount_segment_failures_total") == ufail + 1);

	/* configs mooncaked cannot serve */
	struct rpc_put_start_req q = {.client_id = uuid(CLIENT_ID),
				      .key = RPC_STR("k"),
				      .slice_length = 8,
				      .config = {.replica_num = 0}};

	ck_assert_int_eq(serve(RPC_PUT_START, &q, &ps), 0);
	ck_assert_int_eq(ps.err, MC_INVALID_PARAMS);
	q.config.replica_num = 1;
	q.config.nof_replica_num = 1;
	ck_assert_int_eq(serve(RPC_PUT_START, &q, &ps), 0);
	ck_assert_int_eq(ps.err, MC_INVALID_PARAMS);
	q.config.nof_replica_num = 0;
	q.slice_length = 0;
	ck_assert_int_eq(serve(RPC_PUT_START, &q, &ps), 0);
	ck_assert_int_eq(ps.err, MC_INVALID_PARAMS);
	q.slice_length = 1ull << 40; /* over --max-body */
	ck_assert_int_eq(serve(RPC_PUT_START, &q, &ps), 0);
	ck_assert_int_eq(ps.err, MC_INVALID_PARAMS);
	q.key = (struct rpc_str){"a\0b", 3};
	q.slice_length = 8;
	ck_assert_int_eq(serve(RPC_PUT_START, &q, &ps), 0);
	ck_assert_int_eq(ps.err, MC_INVALID_KEY);
	/* a replica type without replicas here */
	q.key = RPC_STR("k");
	ck_assert_int_eq(serve(RPC_PUT_START, &q, &ps), 0);
	ck_assert_int_eq(ps.err, 0);
	ck_assert_int_eq(put_end(CLIENT_ID, "k", RPC_RTYPE_DISK),
			 MC_INVALID_PARAMS);
	ck_assert_int_eq(put_end(CLIENT_ID, "k", RPC_RTYPE_ALL), 0);
	/* a batch whose keys and lengths disagree: every item refused */
	struct rpc_batch_put_start_req bq = {.client_id = uuid(CLIENT_ID),
					     .keys = {keys, 2},
					     .slice_lengths = {lens, 1},
					     .config = {.replica_num = 1}};

	ck_assert_int_eq(serve(RPC_BATCH_PUT_START, &bq, &bps), 0);
	ck_assert_uint_eq(bps.n, 2);
	ck_assert_int_eq(bps.v[0].err, MC_INVALID_PARAMS);
	ck_assert_int_eq(bps.v[1].err, MC_INVALID_PARAMS);
	ck_assert(metric("master_batch_put_start_failures_total") == 1);
	ck_assert(metric("master_batch_put_start_failed_items_total") == 2);
	rpc_buf_release(&b);
}
END_TEST

/* The whole client story through the door, and how it is counted. */
START_TEST(test_story)
{
	struct rpc_resp_hdr h;
	struct rpc_buf b = {0};
	struct rpc_exp_replicas ps;
	struct rpc_exp_void v;
	struct rpc_exp_ping pr;
	struct rpc_exp_bool eb;
	struct rpc_ping_req pq = {uuid(CLIENT_ID)};
	struct rpc_key_req kq = {RPC_STR("mine"), RPC_STR("default")};
	struct rpc_remove_all_req ra = {true, RPC_STR("")};
	struct rpc_remove_all_resp rr;
	struct rpc_fetch_tasks_req fq = {uuid(CLIENT_ID), 16};
	struct rpc_exp_tasks ft;

	/* FetchTasks: no task, one request counted, never a failure */
	ck_assert(metric("master_fetch_tasks_requests_total") == 0);
	ck_assert(metric("master_fetch_tasks_failures_total") == 0);
	ck_assert_int_eq(serve(RPC_FETCH_TASKS, &fq, &ft), 0);
	ck_assert(!ft.err && ft.v.n == 0);
	fq.client_id = uuid(OTHER_ID); /* a client it does not know */
	ck_assert_int_eq(serve(RPC_FETCH_TASKS, &fq, &ft), 0);
	ck_assert(!ft.err && ft.v.n == 0);
	ck_assert(metric("master_fetch_tasks_requests_total") == 2);
	ck_assert(metric("master_fetch_tasks_failures_total") == 0);
	ck_assert_int_eq(serve(RPC_PING, &pq, &pr), 0);
	ck_assert_int_eq(pr.v.client_status, RPC_CLIENT_NEED_REMOUNT);
	feed(MOUNT_ID, mount_capture, &h, &b);
	ck_assert_int_eq(
		put_start(CLIENT_ID, "mine", 100, "segment_client_0", &ps), 0);
	ck_assert_int_eq(put_end(OTHER_ID, "mine", 0), MC_ILLEGAL_CLIENT);
	ck_assert_int_eq(put_end(CLIENT_ID, "mine", 0), 0);
	ck_assert_int_eq(put_start(OTHER_ID, "mine", 100, NULL, &ps),
			 MC_OBJECT_ALREADY_EXISTS);
	/* a memory-less client: mooncaked's own memory and endpoint */
	ck_assert_int_eq(put_start(OTHER_ID, "ours", 100, "localhost", &ps), 0);
	ck_assert_str_eq(ps.v.v[0].loc.u.memory.endpoint.p, "mooncaked:7000");
	ck_assert_int_eq(put_end(OTHER_ID, "ours", 0), 0);
	ck_assert_int_eq(serve(RPC_EXIST_KEY, &kq, &eb), 0);
	ck_assert(!eb.err && eb.v);
	/* ExistKey leased it */
	struct rpc_remove_req rq = {RPC_STR("mine"), false, RPC_STR("default")};

	ck_assert_int_eq(serve(RPC_REMOVE, &rq, &v), 0);
	ck_assert_int_eq(v.err, MC_OBJECT_HAS_LEASE);
	/* ten seconds of silence, then the expiry takes the segment */
	now += 10001;
	mc_store_tick(S);
	ck_assert_int_eq(serve(RPC_EXIST_KEY, &kq, &eb), 0);
	ck_assert(!eb.v);
	ck_assert_int_eq(serve(RPC_PING, &pq, &pr), 0);
	ck_assert_int_eq(pr.v.client_status, RPC_CLIENT_NEED_REMOUNT);
	ck_assert_int_eq(serve(RPC_REMOVE_ALL, &ra, &rr), 0);
	ck_assert_int_eq(rr.removed, 1); /* "ours" */
	/* counted as HTTP counts the same operations */
	ck_assert(metric("master_put_start_requests_total") == 3);
	ck_assert(metric("master_put_start_failures_total") == 1);
	ck_assert(metric("master_put_end_requests_total") == 3);
	ck_assert(metric("master_put_end_failures_total") == 1);
	ck_assert(metric("master_exist_key_requests_total") == 2);
	ck_assert(metric("master_remove_failures_total") == 1);
	ck_assert(metric("master_remove_all_requests_total") == 1);
	ck_assert(metric("master_ping_requests_total") == 2);
	ck_assert(metric("master_fetch_tasks_requests_total") == 2);
	ck_assert(metric("master_mount_segment_requests_total") == 2);
	ck_assert(metric("master_unmount_segment_requests_total") == 1);

	/* a segment mounted as "rdma": its buffers go out as "tcp", as
	 * upstream's master writes every buffer it allocates */
	struct rpc_mount_req mq = {
		.segment = {.id = uuid("01020304-0506-4708-890a-0b0c0d0e0f10"),
			    .name = RPC_STR("seg_rdma"),
			    .base = 0x200000000ull,
			    .size = 1ull << 30,
			    .te_endpoint = RPC_STR("seg_rdma"),
			    .protocol = RPC_STR("rdma")},
		.client_id = uuid(OTHER_ID)};

	ck_assert_int_eq(serve(RPC_MOUNT_SEGMENT, &mq, &v), 0);
	ck_assert_int_eq(v.err, 0);
	ck_assert_int_eq(put_start(OTHER_ID, "rd", 100, "seg_rdma", &ps), 0);
	ck_assert_str_eq(ps.v.v[0].loc.u.memory.endpoint.p, "seg_rdma");
	ck_assert_str_eq(ps.v.v[0].loc.u.memory.protocol.p, "tcp");
	ck_assert_int_eq(put_end(OTHER_ID, "rd", 0), 0);
	rpc_buf_release(&b);
}
END_TEST

/* Batches of 300 keys: one count per batch, items in order. */
START_TEST(test_batches)
{
	static char names[300][16];
	static struct rpc_str keys[300];
	static uint64_t lens[300];
	static struct rpc_object_meta metas[300];
	struct rpc_batch_put_start_req bs = {.client_id = uuid(OTHER_ID),
					     .keys = {keys, 300},
					     .slice_lengths = {lens, 300},
					     .config = {.replica_num = 1}};
	struct rpc_batch_put_end_req be = {.client_id = uuid(OTHER_ID),
					   .metas = {metas, 300},
					   .replica_type = RPC_RTYPE_ALL};
	struct rpc_keys_req kq = {{keys, 300}, RPC_STR("default")};
	struct rpc_batch_put_revoke_req br = {.client_id = uuid(OTHER_ID),
					      .keys = {keys, 300},
					      .replica_type = RPC_RTYPE_ALL};
	struct rpc_batch_remove_req rm = {
		{keys, 300}, true, RPC_STR("default")};
	struct rpc_batch_replicas rs;
	struct rpc_batch_void rv;
	struct rpc_batch_bool rb;
	struct rpc_batch_replica_list rl;

	for (int i = 0; i < 300; i++) {
		snprintf(names[i], sizeof(names[i]), "k%03d", i);
		keys[i] = str(names[i]);
		lens[i] = 100 + (uint64_t)i;
		metas[i].key = keys[i];
	}
	ck_assert_int_eq(serve(RPC_BATCH_PUT_START, &bs, &rs), 0);
	ck_assert_uint_eq(rs.n, 300);
	for (int i = 0; i < 300; i++) {
		ck_assert_int_eq(rs.v[i].err, 0);
		ck_assert_uint_eq(rs.v[i].v.v[0].loc.u.memory.size, lens[i]);
	}
	/* the last 50 revoked, the rest ended */
	br.keys.v = keys + 250;
	br.keys.n = 50;
	ck_assert_int_eq(serve(RPC_BATCH_PUT_REVOKE, &br, &rv), 0);
	ck_assert_uint_eq(rv.n, 50);
	ck_assert_int_eq(rv.v[49].err, 0);
	ck_assert_int_eq(serve(RPC_BATCH_PUT_END, &be, &rv), 0);
	ck_assert_uint_eq(rv.n, 300);
	ck_assert_int_eq(rv.v[0].err, 0);
	ck_assert_int_eq(rv.v[299].err, MC_OBJECT_NOT_FOUND);
	ck_assert_int_eq(serve(RPC_BATCH_EXIST_KEY, &kq, &rb), 0);
	ck_assert_uint_eq(rb.n, 300);
	ck_assert(rb.v[249].v && !rb.v[250].v);
	ck_assert_int_eq(serve(RPC_BATCH_GET_REPLICA_LIST, &kq, &rl), 0);
	ck_assert_uint_eq(rl.n, 300);
	ck_assert_int_eq(rl.v[0].err, 0);
	ck_assert_uint_eq(rl.v[7].v.replicas.v[0].loc.u.memory.size, 107);
	ck_assert_int_eq(rl.v[299].err, MC_OBJECT_NOT_FOUND);
	ck_assert_int_eq(serve(RPC_BATCH_REMOVE, &rm, &rv), 0);
	ck_assert_int_eq(rv.v[0].err, 0);
	ck_assert_int_eq(rv.v[299].err, MC_OBJECT_NOT_FOUND);
	ck_assert(metric("master_batch_put_start_requests_total") == 1);
	ck_assert(metric("master_batch_put_start_items_total") == 300);
	ck_assert(metric("master_put_start_requests_total") == 0);
	ck_assert(metric("master_batch_put_end_partial_successes_total") == 1);
	ck_assert(metric("master_batch_put_end_failed_items_total") == 50);
	/* the revokes: one batch of 50 items, no PutRevoke */
	batch_counts("put_revoke", 1, 50, 0, 0, 0);
	ck_assert(metric("master_put_revoke_requests_total") == 0);
	ck_assert(metric("master_put_revoke_failures_total") == 0);
	ck_assert(metric("master_batch_exist_key_items_total") == 300);
	ck_assert(metric("master_batch_get_replica_list_failed_items_total") ==
		  50);
	ck_assert(metric("master_remove_requests_total") == 300);
	ck_assert(metric("master_remove_failures_total") == 50);
	ck_assert(metric("master_get_replica_list_requests_total") == 0);
}
END_TEST

/*
 * BatchPutRevoke counts as a batch, as upstream's master counts it: a
 * request and its items, a failure when every item failed, a partial
 * success when some did, and no PutRevoke of its own; PutRevoke still
 * counts one.
 */
START_TEST(test_batch_revoke)
{
	struct rpc_str keys[3] = {RPC_STR("r0"), RPC_STR("r1"), RPC_STR("rx")};
	uint64_t lens[2] = {10, 10};
	struct rpc_batch_put_start_req bs = {.client_id = uuid(OTHER_ID),
					     .keys = {keys, 2},
					     .slice_lengths = {lens, 2},
					     .config = {.replica_num = 1}};
	struct rpc_batch_put_revoke_req br = {.client_id = uuid(OTHER_ID),
					      .keys = {keys, 3},
					      .replica_type = RPC_RTYPE_MEMORY};
	struct rpc_put_revoke_req pr = {.client_id = uuid(OTHER_ID),
					.key = RPC_STR("r2"),
					.replica_type = RPC_RTYPE_MEMORY};
	struct rpc_batch_replicas rs;
	struct rpc_batch_void rv;
	struct rpc_exp_void v;

	ck_assert_int_eq(serve(RPC_BATCH_PUT_START, &bs, &rs), 0);
	ck_assert(rs.n == 2 && !rs.v[0].err && !rs.v[1].err);
	/* r0 and r1 open, rx not: a partial success */
	ck_assert_int_eq(serve(RPC_BATCH_PUT_REVOKE, &br, &rv), 0);
	ck_assert_uint_eq(rv.n, 3);
	ck_assert(!rv.v[0].err && !rv.v[1].err);
	ck_assert_int_eq(rv.v[2].err, MC_OBJECT_NOT_FOUND);
	batch_counts("put_revoke", 1, 3, 0, 1, 1);
	/* none open now: a failure; a replica type without replicas here
	 * (every item INVALID_PARAMS) too */
	ck_assert_int_eq(serve(RPC_BATCH_PUT_REVOKE, &br, &rv), 0);
	ck_assert_int_eq(rv.v[0].err, MC_OBJECT_NOT_FOUND);
	ck_assert_int_eq(serve(RPC_BATCH_PUT_START, &bs, &rs), 0);
	ck_assert(!rs.v[0].err && !rs.v[1].err);
	br.keys.n = 2;
	br.replica_type = RPC_RTYPE_DISK;
	ck_assert_int_eq(serve(RPC_BATCH_PUT_REVOKE, &br, &rv), 0);
	ck_assert_int_eq(rv.v[1].err, MC_INVALID_PARAMS);
	batch_counts("put_revoke", 3, 8, 2, 1, 6);
	ck_assert(metric("master_put_revoke_requests_total") == 0);
	ck_assert(metric("master_put_revoke_failures_total") == 0);
	/* by another client: ILLEGAL_CLIENT, the puts stay open */
	br.client_id = uuid(CLIENT_ID);
	br.replica_type = RPC_RTYPE_ALL;
	ck_assert_int_eq(serve(RPC_BATCH_PUT_REVOKE, &br, &rv), 0);
	ck_assert_int_eq(rv.v[0].err, MC_ILLEGAL_CLIENT);
	batch_counts("put_revoke", 4, 10, 3, 1, 8);
	ck_assert(metric("master_put_revoke_failures_total") == 0);
	/* a single PutRevoke is one, and one failure when nothing is open */
	pr.key = RPC_STR("r0");
	ck_assert_int_eq(serve(RPC_PUT_REVOKE, &pr, &v), 0);
	ck_assert_int_eq(v.err, 0);
	pr.key = RPC_STR("r2");
	ck_assert_int_eq(serve(RPC_PUT_REVOKE, &pr, &v), 0);
	ck_assert_int_eq(v.err, MC_OBJECT_NOT_FOUND);
	ck_assert(metric("master_put_revoke_requests_total") == 2);
	ck_assert(metric("master_put_revoke_failures_total") == 1);
	batch_counts("put_revoke", 4, 10, 3, 1, 8);
}
END_TEST

/*
 * ReMountSegment counts as upstream's master counts it: one request per
 * call, one failure per call answered with an error, and its segments
 * count no MountSegment, mounted, kept or passed over.
 */
START_TEST(test_remount_counts)
{
	struct rpc_segment seg[2] = {
		{.id = uuid("01020304-0506-4708-890a-0b0c0d0e0f10"),
		 .name = RPC_STR("seg_re"),
		 .base = 0x300000000ull,
		 .size = 1ull << 30,
		 .te_endpoint = RPC_STR("seg_re")},
		{.id = uuid("11121314-1516-4718-991a-1b1c1d1e1f20"),
		 .name = RPC_STR("seg_bad"),
		 .base = 0, /* invalid: passed over */
		 .size = 1ull << 20,
		 .te_endpoint = RPC_STR("seg_bad")}};
	struct rpc_remount_req q = {{seg, 2}, uuid(OTHER_ID)};
	struct rpc_mount_req mq = {.segment = seg[0],
				   .client_id = uuid(OTHER_ID)};
	struct rpc_exp_void v;
	char id[37];
	/* the fixture's own segment is one MountSegment */
	double mounts = metric("master_mount_segment_requests_total");

	ck_assert(metric("master_remount_segment_requests_total") == 0);
	ck_assert(metric("master_remount_segment_failures_total") == 0);
	/* mounts one, passes over the other; again: kept as it is */
	ck_assert_int_eq(serve(RPC_REMOUNT_SEGMENT, &q, &v), 0);
	ck_assert_int_eq(v.err, 0);
	rpc_uuid_format(&seg[0].id, id);
	ck_assert_int_eq(mc_segment_info(S, id, &(struct mc_seg_info){0}), 0);
	ck_assert_int_eq(serve(RPC_REMOUNT_SEGMENT, &q, &v), 0);
	ck_assert_int_eq(v.err, 0);
	ck_assert(metric("master_remount_segment_requests_total") == 2);
	ck_assert(metric("master_remount_segment_failures_total") == 0);
	/* another range under the id: refused whole, a failure */
	seg[0].size /= 2;
	ck_assert_int_eq(serve(RPC_REMOUNT_SEGMENT, &q, &v), 0);
	ck_assert_int_eq(v.err, MC_INVALID_PARAMS);
	ck_assert(metric("master_remount_segment_requests_total") == 3);
	ck_assert(metric("master_remount_segment_failures_total") == 1);
	/* an empty one makes a client known */
	q = (struct rpc_remount_req){{NULL, 0}, uuid(CLIENT_ID)};
	ck_assert_int_eq(serve(RPC_REMOUNT_SEGMENT, &q, &v), 0);
	ck_assert_int_eq(v.err, 0);
	ck_assert(metric("master_remount_segment_requests_total") == 4);
	ck_assert(metric("master_remount_segment_failures_total") == 1);
	/* none of it was a MountSegment; a MountSegment still is one */
	ck_assert(metric("master_mount_segment_requests_total") == mounts);
	ck_assert(metric("master_mount_segment_failures_total") == 0);
	ck_assert_int_eq(serve(RPC_MOUNT_SEGMENT, &mq, &v), 0);
	ck_assert_int_eq(v.err, 0); /* the whole range, as mounted */
	ck_assert(metric("master_mount_segment_requests_total") == mounts + 1);
	ck_assert(metric("master_mount_segment_failures_total") == 0);
	ck_assert(metric("master_remount_segment_requests_total") == 4);
}
END_TEST

static Suite *serve_suite(void)
{
	Suite *s = suite_create("serve");
	TCase *tc = tcase_create("door");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_captures);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_story);
	tcase_add_test(tc, test_batches);
	tcase_add_test(tc, test_batch_revoke);
	tcase_add_test(tc, test_remount_counts);
	suite_add_tcase(s, tc);
	return s;
}

MC_CHECK_MAIN(serve_suite)
