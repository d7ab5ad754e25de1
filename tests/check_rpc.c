/*
 * check_rpc.c - the master RPC's wire layer (rpc/): MD5, function ids and
 * type codes against upstream's values, the frames captured from the
 * real master, round trips of every message, the length-width switch,
 * and hostile bodies and frames.
 */
#include "autoconfig.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <netinet/in.h>

#include "check.h"
#include "err.h"
#include "rpc.h"
#include "rpc_util.h"

/* ---------------------------------------------------------------- md5 */

static void hex16(const unsigned char d[16], char out[33])
{
	for (int i = 0; i < 16; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

START_TEST(test_md5_rfc1321)
{
	/* RFC 1321 appendix A.5, then lengths around the padding edges. */
	static const struct {
		const char *in;
		unsigned rep;
		const char *md5;
	} v[] = {
		{"", 1, "d41d8cd98f00b204e9800998ecf8427e"},
		{"a", 1, "0cc175b9c0f1b6a831c399e269772661"},
		{"abc", 1, "900150983cd24fb0d6963f7d28e17f72"},
		{"message digest", 1, "f96b697d7cb7938d525a2f31aaf161d0"},
		{"abcdefghijklmnopqrstuvwxyz", 1,
		 "c3fcd3d76192e4007dfb496cca67e13b"},
		{"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		 "0123456789",
		 1, "d174ab98d277d9f5a5611c2c9f419d9f"},
		{"1234567890", 8, "57edf4a22be3c955ac49da2e2107b67a"},
		{"a", 55, "ef1772b6dff9a122358552954ad0df65"},
		{"a", 56, "3b0c8ac703f828b04c6c197006d17218"},
		{"a", 63, "b06521f39153d618550606be297466d5"},
		{"a", 64, "014842d480b571495a4a0363793f7367"},
		{"a", 65, "c743a45e0d2e6a95cb859adae0248435"},
		{"a", 119, "8a7bd0732ed6a28ce75f6dabc90e1613"},
		{"a", 120, "5f61c0ccad4cac44c75ff505e1f1e537"},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct rpc_buf b = {0};
		unsigned char d[16];
		char hex[33];

		for (unsigned r = 0; r < v[i].rep; r++)
			rpc_buf_add(&b, v[i].in, strlen(v[i].in));
		rpc_md5(b.p, b.len, d);
		hex16(d, hex);
		ck_assert_msg(!strcmp(hex, v[i].md5), "md5 #%zu: %s", i, hex);
		rpc_buf_release(&b);
	}
	/* Hash32 is the digest's first four bytes, big-endian. */
	ck_assert_uint_eq(rpc_md5_hash32("abc", 3), 0x90015098);
}
END_TEST

/* ---------------------------------------------------------------- table */

/*
 * Upstream's values, from the notes' table (observed on the wire against
 * mooncake_master at 3b5a594), and RemoveAll's derived here from its
 * signature in rpc_service.h: long RemoveAll(bool, const std::string &).
 */
static const struct {
	enum rpc_call_id call;
	const char *name;
	uint32_t id, req, resp;
} upstream[] = {
	{RPC_SERVICE_READY, "ServiceReady", 0x7b81bb56, 0, 0x1cb3cc34},
	{RPC_GET_STORAGE_CONFIG, "GetStorageConfig", 0x8da9b0a6, 0, 0x9cb568ea},
	{RPC_GET_FSDIR, "GetFsdir", 0x3e585123, 0, 0x1cb3cc34},
	{RPC_PING, "Ping", 0xd6c2dae5, 0x3c6d83e0, 0x742a8f52},
	{RPC_MOUNT_SEGMENT, "MountSegment", 0x3e7ec4bb, 0x9ef70dae, 0xaf2868cc},
	{RPC_REMOUNT_SEGMENT, "ReMountSegment", 0x0b053b72, 0xc6c66b88,
	 0xaf2868cc},
	{RPC_UNMOUNT_SEGMENT, "UnmountSegment", 0x6f10b465, 0xd4c512e0,
	 0xaf2868cc},
	{RPC_FETCH_TASKS, "FetchTasks", 0xdf141844, 0x759a9b84, 0x59e14526},
	{RPC_EXIST_KEY, "ExistKey", 0x89385f09, 0x7cf91ed8, 0x90e800d2},
	{RPC_BATCH_EXIST_KEY, "BatchExistKey", 0xb89fa6b0, 0x00f78d62,
	 0x2a5f8c5c},
	{RPC_GET_REPLICA_LIST, "GetReplicaList", 0x1f7ef174, 0x7cf91ed8,
	 0x88c6276c},
	{RPC_BATCH_GET_REPLICA_LIST, "BatchGetReplicaList", 0x1b0d20ff,
	 0x00f78d62, 0x20c5453a},
	{RPC_PUT_START, "PutStart", 0x65ea9ac1, 0xe385bd0e, 0xc43927a6},
	{RPC_PUT_END, "PutEnd", 0x8e8b2099, 0xd1819222, 0xaf2868cc},
	{RPC_PUT_REVOKE, "PutRevoke", 0xa0767c44, 0x1b7a228a, 0xaf2868cc},
	{RPC_BATCH_PUT_START, "BatchPutStart", 0x56be1822, 0x5870c0a4,
	 0xad006d02},
	{RPC_BATCH_PUT_END, "BatchPutEnd", 0x80e020ab, 0xf57ea7c8, 0x39fc52ce},
	{RPC_BATCH_PUT_REVOKE, "BatchPutRevoke", 0xb82567aa, 0x94ee5d44,
	 0x39fc52ce},
	{RPC_REMOVE, "Remove", 0xf1b09774, 0x18e89fee, 0xaf2868cc},
	{RPC_BATCH_REMOVE, "BatchRemove", 0x5902407d, 0x197a9ca0, 0x39fc52ce},
	{RPC_REMOVE_ALL, "RemoveAll", 0xd978ceb0, 0x48a6c274, 0x86666834},
};

START_TEST(test_ids_and_codes)
{
	ck_assert_int_eq(sizeof(upstream) / sizeof(upstream[0]), RPC_NCALLS);
	for (size_t i = 0; i < RPC_NCALLS; i++) {
		const struct rpc_call *c = rpc_call_get(upstream[i].call);

		ck_assert_ptr_nonnull(c);
		ck_assert_str_eq(c->name, upstream[i].name);
		ck_assert_msg(c->id == upstream[i].id, "%s: id %08x", c->name,
			      c->id);
		ck_assert_msg(c->req_code == upstream[i].req,
			      "%s: request code %08x", c->name, c->req_code);
		ck_assert_msg(c->resp_code == upstream[i].resp,
			      "%s: response code %08x", c->name, c->resp_code);
		ck_assert_ptr_eq(rpc_call_find(c->id), c);
		ck_assert_int_eq(c->req == NULL, upstream[i].req == 0);
	}
	ck_assert_ptr_null(rpc_call_find(0xdeadbeef));
	ck_assert_ptr_null(rpc_call_get(RPC_NCALLS));
	/* The framework's error string: the head 77 fa cf 9d of the capture. */
	ck_assert_uint_eq(rpc_type_code("\x80\x0c", 2), 0x9dcffa76);
}
END_TEST

/* The literal written in the table is the one the description yields. */
START_TEST(test_literals_match_descriptions)
{
	for (int i = 0; i < RPC_NCALLS; i++) {
		const struct rpc_call *c = rpc_call_get(i);
		char lit[512];
		size_t n;

		if (c->req) {
			n = rpc_type_literal(c->req, lit, sizeof(lit));
			ck_assert_msg(n == strlen(c->req_literal) &&
					      !memcmp(lit, c->req_literal, n),
				      "%s: request literal differs", c->name);
		}
		n = rpc_type_literal(c->resp, lit, sizeof(lit));
		ck_assert_msg(n == strlen(c->resp_literal) &&
				      !memcmp(lit, c->resp_literal, n),
			      "%s: response literal differs", c->name);
	}
}
END_TEST

/* ---------------------------------------------------------------- captures */

static void bytes(struct rpc_buf *b, const char *spec)
{
	b->len = 0;
	ck_assert_msg(rpc_test_bytes(spec, b) == 0, "bad spec %s", spec);
}

/* Hex of a call's literal with its NUL, for specs that elide it. */
static void lit_hex(const char *lit, char *out)
{
	for (; *lit; lit++, out += 2)
		sprintf(out, "%02x", (unsigned char)*lit);
	strcpy(out, "00");
}

static const char *const client_uuid = "fa1c96fd 37ba43b9 8c96cec2 f263c69d";

/* Encodes @obj as a call's request or response and compares with @want. */
static void same_bytes(const struct rpc_call *c, bool req, const void *obj,
		       unsigned flags, const struct rpc_buf *want)
{
	struct rpc_buf b = {0};

	if (req)
		rpc_req_encode(c, obj, flags, &b);
	else
		rpc_resp_encode(c, obj, flags, &b);
	ck_assert_msg(b.len == want->len && !memcmp(b.p, want->p, b.len),
		      "%s %s: re-encoding differs (%zu vs %zu bytes)", c->name,
		      req ? "request" : "response", b.len, want->len);
	rpc_buf_release(&b);
}

static void str_is(struct rpc_str s, const char *want)
{
	ck_assert_uint_eq(s.len, strlen(want));
	ck_assert(!memcmp(s.p, want, s.len));
	ck_assert_int_eq(s.p[s.len], 0);
}

START_TEST(test_capture_service_ready)
{
	const struct rpc_call *c = rpc_call_get(RPC_SERVICE_READY);
	struct rpc_buf b = {0}, body = {0};
	struct rpc_arena a = {0};
	struct rpc_req_hdr h;
	struct rpc_resp_hdr rh;
	struct rpc_exp_str r;
	const char *why = "";
	char why2[128];

	bytes(&b, "15 00 00 00 00000000 56bb817b 00000000 00000000");
	ck_assert_uint_eq(b.len, RPC_REQ_HDR_LEN);
	rpc_req_hdr_decode(b.p, &h);
	ck_assert_int_eq(rpc_req_hdr_check(&h, 0, why2, sizeof(why2)), 0);
	ck_assert_ptr_eq(rpc_call_find(h.function_id), c);
	ck_assert_uint_eq(h.length, 0);

	bytes(&b, "15 00 00 00 00000000 11000000 00000000 | 35ccb31c 04 87 80 "
		  "0c 01 00 | 01 05 \"2.0.0\"");
	rpc_resp_hdr_decode(b.p, &rh);
	ck_assert_uint_eq(rh.err_code, 0);
	ck_assert_uint_eq(rh.length, b.len - RPC_RESP_HDR_LEN);
	ck_assert_int_eq(rpc_resp_decode(c, b.p + 16, rh.length, &r, &a, &why),
			 0);
	ck_assert_int_eq(r.err, 0);
	str_is(r.v, RPC_STORE_VERSION);
	rpc_buf_add(&body, b.p + 16, rh.length);
	same_bytes(c, false, &r, RPC_SP_LITERAL, &body);
	rpc_buf_release(&b);
	rpc_buf_release(&body);
	rpc_arena_release(&a);
}
END_TEST

START_TEST(test_capture_mount)
{
	const struct rpc_call *c = rpc_call_get(RPC_MOUNT_SEGMENT);
	struct rpc_buf b = {0}, body = {0};
	struct rpc_arena a = {0};
	struct rpc_req_hdr h;
	struct rpc_mount_req m;
	struct rpc_exp_void r;
	const char *why = "";
	char id[37], spec[1024];

	snprintf(spec, sizeof(spec),
		 "15 00 00 00 01000000 bbc47e3e 74000000 00000000 | "
		 "af0df79e 04 fd fd fd0404 8989ff 800c 04 04 800c 800c 800c ff "
		 "fd04048989ff ff 00 | 35963441 457340c8 ae5859ed 72974484 "
		 "10 \"segment_client_0\" 00000000 01000000 | 00000040 00000000"
		 " 10 \"segment_client_0\" 00 00 %s",
		 client_uuid);
	bytes(&b, spec);
	rpc_req_hdr_decode(b.p, &h);
	ck_assert_uint_eq(h.seq, 1);
	ck_assert_ptr_eq(rpc_call_find(h.function_id), c);
	ck_assert_uint_eq(h.length, b.len - RPC_REQ_HDR_LEN);
	ck_assert_int_eq(rpc_req_decode(c, b.p + 20, h.length, &m, &a, &why),
			 0);
	rpc_uuid_format(&m.segment.id, id);
	/* A boost v4 UUID: version nibble 4, variant 10 in wire order. */
	ck_assert_str_eq(id, "35963441-4573-40c8-ae58-59ed72974484");
	str_is(m.segment.name, "segment_client_0");
	ck_assert_uint_eq(m.segment.base, 0x100000000ull);
	ck_assert_uint_eq(m.segment.size, 1ull << 30);
	str_is(m.segment.te_endpoint, "segment_client_0");
	str_is(m.segment.protocol, "");
	str_is(m.segment.host_id, "");
	rpc_uuid_format(&m.client_id, id);
	ck_assert_str_eq(id, "fa1c96fd-37ba-43b9-8c96-cec2f263c69d");
	rpc_buf_add(&body, b.p + 20, h.length);
	same_bytes(c, true, &m, RPC_SP_LITERAL, &body);

	bytes(&body, "cd6828af 04 87 fa 01 00 | 01");
	ck_assert_int_eq(rpc_resp_decode(c, body.p, body.len, &r, &a, &why), 0);
	ck_assert_int_eq(r.err, 0);
	same_bytes(c, false, &r, RPC_SP_LITERAL, &body);
	rpc_buf_release(&b);
	rpc_buf_release(&body);
	rpc_arena_release(&a);
}
END_TEST

START_TEST(test_capture_ping)
{
	const struct rpc_call *c = rpc_call_get(RPC_PING);
	struct rpc_buf b = {0};
	struct rpc_arena a = {0};
	struct rpc_ping_req q;
	struct rpc_exp_ping r;
	const char *why = "";
	char spec[256], id[37];

	snprintf(spec, sizeof(spec), "e1836d3c 04 fd04048989ff 00 | %s",
		 client_uuid);
	bytes(&b, spec);
	ck_assert_int_eq(rpc_req_decode(c, b.p, b.len, &q, &a, &why), 0);
	rpc_uuid_format(&q.client_id, id);
	ck_assert_str_eq(id, "fa1c96fd-37ba-43b9-8c96-cec2f263c69d");
	same_bytes(c, true, &q, RPC_SP_LITERAL, &b);

	bytes(&b, "538f2a74 04 87 fd 03 01 ff 01 00 | 01 | 0000000000000000 | "
		  "02000000");
	ck_assert_int_eq(rpc_resp_decode(c, b.p, b.len, &r, &a, &why), 0);
	ck_assert_int_eq(r.err, 0);
	ck_assert_int_eq(r.v.view_version_id, 0);
	ck_assert_int_eq(r.v.client_status, RPC_CLIENT_NEED_REMOUNT);
	same_bytes(c, false, &r, RPC_SP_LITERAL, &b);
	rpc_buf_release(&b);
	rpc_arena_release(&a);
}
END_TEST

/* The descriptor the captures show: segment_client_0's first 4 KiB. */
#define DESC_SPEC(status)                                                      \
	"0100000000000000 00 0010000000000000 0000000001000000 03 \"tcp\" "    \
	"10 \"segment_client_0\" " status

static void desc_is(const struct rpc_replica *d, int status)
{
	ck_assert_uint_eq(d->id, 1);
	ck_assert_uint_eq(d->loc.kind, RPC_LOC_MEMORY);
	ck_assert_uint_eq(d->loc.u.memory.size, 4096);
	ck_assert_uint_eq(d->loc.u.memory.addr, 0x100000000ull);
	str_is(d->loc.u.memory.protocol, "tcp");
	str_is(d->loc.u.memory.endpoint, "segment_client_0");
	ck_assert_int_eq(d->status, status);
}

START_TEST(test_capture_put)
{
	const struct rpc_call *ps = rpc_call_get(RPC_PUT_START);
	const struct rpc_call *pe = rpc_call_get(RPC_PUT_END);
	struct rpc_buf b = {0};
	struct rpc_arena a = {0};
	struct rpc_exp_replicas r;
	struct rpc_put_end_req q;
	const char *why = "";
	char spec[2048], lit[1024];

	lit_hex(ps->resp_literal, lit);
	snprintf(spec, sizeof(spec), "a72739c4 04 %s | 01 01 | %s", lit,
		 DESC_SPEC("02000000"));
	bytes(&b, spec);
	ck_assert_int_eq(rpc_resp_decode(ps, b.p, b.len, &r, &a, &why), 0);
	ck_assert_int_eq(r.err, 0);
	ck_assert_uint_eq(r.v.n, 1);
	desc_is(&r.v.v[0], RPC_REPLICA_PROCESSING);
	same_bytes(ps, false, &r, RPC_SP_LITERAL, &b);

	/*
	 * The notes print this key with 18 characters after a length of 0x11;
	 * the 17 of a pointer-sized prefix fit the length, so use those.
	 */
	snprintf(spec, sizeof(spec),
		 "239281d1 04 fd fd04048989ff fd 800c 85 04 ff 01 800c ff 00 |"
		 " %s | 11 \"140109416494784_0\" 00 | 00000000 | "
		 "07 \"default\"",
		 client_uuid);
	bytes(&b, spec);
	ck_assert_int_eq(rpc_req_decode(pe, b.p, b.len, &q, &a, &why), 0);
	str_is(q.meta.key, "140109416494784_0");
	ck_assert(!q.meta.checksum.has);
	ck_assert_int_eq(q.replica_type, RPC_RTYPE_MEMORY);
	str_is(q.tenant_id, "default");
	same_bytes(pe, true, &q, RPC_SP_LITERAL, &b);
	rpc_buf_release(&b);
	rpc_arena_release(&a);
}
END_TEST

START_TEST(test_capture_get)
{
	const struct rpc_call *c = rpc_call_get(RPC_GET_REPLICA_LIST);
	struct rpc_buf b = {0};
	struct rpc_arena a = {0};
	struct rpc_exp_replica_list r;
	struct rpc_key_req q;
	const char *why = "";
	char spec[2048], lit[1024];

	bytes(&b, "d91ef97c 04 fd 800c 800c ff 00 | 11 \"140109416494784_1\" "
		  "07 \"default\"");
	ck_assert_int_eq(rpc_req_decode(c, b.p, b.len, &q, &a, &why), 0);
	str_is(q.key, "140109416494784_1");
	str_is(q.tenant_id, "default");
	same_bytes(c, true, &q, RPC_SP_LITERAL, &b);

	lit_hex(c->resp_literal, lit);
	snprintf(spec, sizeof(spec),
		 "6d27c688 04 %s | 01 | 01 %s | 1027000000000000 | 00", lit,
		 DESC_SPEC("03000000"));
	bytes(&b, spec);
	ck_assert_int_eq(rpc_resp_decode(c, b.p, b.len, &r, &a, &why), 0);
	ck_assert_int_eq(r.err, 0);
	ck_assert_uint_eq(r.v.replicas.n, 1);
	desc_is(&r.v.replicas.v[0], RPC_REPLICA_COMPLETE);
	ck_assert_uint_eq(r.v.lease_ttl_ms, 10000);
	ck_assert(!r.v.checksum.has);
	same_bytes(c, false, &r, RPC_SP_LITERAL, &b);

	/* "nope": OBJECT_NOT_FOUND inside a normal reply. */
	snprintf(spec, sizeof(spec), "6d27c688 04 %s | 00 40fdffff", lit);
	bytes(&b, spec);
	ck_assert_int_eq(rpc_resp_decode(c, b.p, b.len, &r, &a, &why), 0);
	ck_assert_int_eq(r.err, MC_OBJECT_NOT_FOUND);
	same_bytes(c, false, &r, RPC_SP_LITERAL, &b);

	/* A 300-byte key: metainfo 0x08, every length on 2 bytes (plain). */
	bytes(&b, "d91ef97c 08 2c01 'L*300' 0700 \"default\"");
	ck_assert_int_eq(rpc_req_decode(c, b.p, b.len, &q, &a, &why), 0);
	ck_assert_uint_eq(q.key.len, 300);
	ck_assert_int_eq(q.key.p[299], 'L');
	str_is(q.tenant_id, "default");
	same_bytes(c, true, &q, 0, &b);
	rpc_buf_release(&b);
	rpc_arena_release(&a);
}
END_TEST

START_TEST(test_capture_batch_put_start)
{
	const struct rpc_call *c = rpc_call_get(RPC_BATCH_PUT_START);
	struct rpc_buf b = {0};
	struct rpc_arena a = {0};
	struct rpc_batch_put_start_req q;
	const char *why = "";
	char spec[4096], lit[1024];
	int n;

	/* The notes elide the keys after the first and the config: fill in. */
	lit_hex(c->req_literal, lit);
	n = snprintf(spec, sizeof(spec), "a5c07058 04 %s | %s | 0a", lit,
		     client_uuid);
	for (int i = 0; i < 10; i++)
		n += snprintf(spec + n, sizeof(spec) - n, " 09 \"prefill_%d\"",
			      i);
	n += snprintf(spec + n, sizeof(spec) - n, " | 0a");
	for (int i = 0; i < 10; i++)
		n += snprintf(spec + n, sizeof(spec) - n, " 0010000000000000");
	/* ReplicateConfig{} with replica_num 1, then the tenant. */
	snprintf(spec + n, sizeof(spec) - n,
		 " | 0100000000000000 0000000000000000 0000000000000000 00 00 "
		 "00 00 00 00 00 00 00 00 | 07 \"default\"");
	bytes(&b, spec);
	ck_assert_int_eq(rpc_req_decode(c, b.p, b.len, &q, &a, &why), 0);
	ck_assert_uint_eq(q.keys.n, 10);
	str_is(q.keys.v[9], "prefill_9");
	ck_assert_uint_eq(q.slice_lengths.n, 10);
	ck_assert_uint_eq(q.slice_lengths.v[3], 4096);
	ck_assert_uint_eq(q.config.replica_num, 1);
	ck_assert(!q.config.group_ids.has);
	str_is(q.tenant_id, "default");
	same_bytes(c, true, &q, RPC_SP_LITERAL, &b);
	rpc_buf_release(&b);
	rpc_arena_release(&a);
}
END_TEST

START_TEST(test_capture_plain_requests)
{
	const struct rpc_call *ek = rpc_call_get(RPC_EXIST_KEY);
	const struct rpc_call *rm = rpc_call_get(RPC_REMOVE);
	struct rpc_buf b = {0}, body = {0}, mine = {0};
	struct rpc_arena a = {0};
	struct rpc_req_hdr h;
	struct rpc_key_req q;
	struct rpc_exp_bool r;
	struct rpc_exp_void v;
	unsigned char hdr[RPC_REQ_HDR_LEN];
	const char *why = "";

	/* An independent client's Release (no-literal) form, header too. */
	bytes(&b, "15 00 00 00 09000000 095f3889 0f000000 00000000 | d81ef97c "
		  "02 \"k1\" 07 \"default\"");
	rpc_req_hdr_decode(b.p, &h);
	ck_assert_ptr_eq(rpc_call_find(h.function_id), ek);
	ck_assert_int_eq(rpc_req_decode(ek, b.p + 20, h.length, &q, &a, &why),
			 0);
	str_is(q.key, "k1");
	rpc_req_encode(ek, &q, 0, &body);
	h = (struct rpc_req_hdr){.magic = RPC_MAGIC,
				 .seq = 9,
				 .function_id = ek->id,
				 .length = (uint32_t)body.len};
	rpc_req_hdr_encode(&h, hdr);
	rpc_buf_add(&mine, hdr, sizeof(hdr));
	rpc_buf_add(&mine, body.p, body.len);
	ck_assert_uint_eq(mine.len, b.len);
	ck_assert(!memcmp(mine.p, b.p, b.len));

	bytes(&b, "d300e890 04 87 0b 01 00 | 01 01");
	ck_assert_int_eq(rpc_resp_decode(ek, b.p, b.len, &r, &a, &why), 0);
	ck_assert_int_eq(r.err, 0);
	ck_assert(r.v);
	same_bytes(ek, false, &r, RPC_SP_LITERAL, &b);
	bytes(&b, "d300e890 04 87 0b 01 00 | 01 00");
	ck_assert_int_eq(rpc_resp_decode(ek, b.p, b.len, &r, &a, &why), 0);
	ck_assert(!r.v);

	bytes(&b, "cd6828af 04 87fa01 00 | 00 3efdffff");
	ck_assert_int_eq(rpc_resp_decode(rm, b.p, b.len, &v, &a, &why), 0);
	ck_assert_int_eq(v.err, MC_OBJECT_HAS_LEASE);
	same_bytes(rm, false, &v, RPC_SP_LITERAL, &b);
	rpc_buf_release(&b);
	rpc_buf_release(&body);
	rpc_buf_release(&mine);
	rpc_arena_release(&a);
}
END_TEST

START_TEST(test_capture_not_registered)
{
	struct rpc_service svc = {.flags = RPC_SP_LITERAL};
	struct rpc_req_hdr h = {
		.magic = RPC_MAGIC, .seq = 0x18, .function_id = 0xdeadbeef};
	struct rpc_buf want = {0}, got = {0};
	struct rpc_arena a = {0};
	struct rpc_str msg;
	const char *why = "";

	bytes(&want, "15 00 0b 00 18 00 00 00 28 00 00 00 00 00 00 00 | 77 fa "
		     "cf 9d 04 80 0c 00 1f "
		     "\"the rpc function not registered\"");
	rpc_dispatch(&svc, &h, NULL, &a, &got);
	ck_assert_uint_eq(got.len, want.len);
	ck_assert(!memcmp(got.p, want.p, want.len));
	/* The plain form carries the same message. */
	got.len = 0;
	rpc_error_reply(&got, 0x18, RPC_ERRC_NOT_REGISTERED,
			RPC_MSG_NOT_REGISTERED, 0);
	ck_assert_int_eq(rpc_sp_decode(got.p + 16, got.len - 16, &rpc_t_str,
				       &msg, 0x9dcffa76, "\x80\x0c", &a, &why),
			 0);
	str_is(msg, RPC_MSG_NOT_REGISTERED);
	rpc_buf_release(&want);
	rpc_buf_release(&got);
	rpc_arena_release(&a);
}
END_TEST

/* ------------------------------------------------------------ round trips */

static void round_trip(const struct rpc_call *c, const struct rpc_type *t,
		       bool req, uint64_t seed, size_t maxn, unsigned flags)
{
	struct rpc_arena a = {0};
	struct rpc_buf b1 = {0}, b2 = {0};
	void *x = rpc_arena_alloc(&a, t->size);
	void *y = rpc_arena_alloc(&a, t->size);
	const char *why = "";
	uint64_t rng = seed;
	int rc;

	rpc_test_fill(t, x, &rng, maxn, &a);
	if (req)
		rpc_req_encode(c, x, flags, &b1);
	else
		rpc_resp_encode(c, x, flags, &b1);
	rc = req ? rpc_req_decode(c, b1.p, b1.len, y, &a, &why)
		 : rpc_resp_decode(c, b1.p, b1.len, y, &a, &why);
	ck_assert_msg(rc == 0, "%s %s seed %llu: %s", c->name,
		      req ? "request" : "response", (unsigned long long)seed,
		      why);
	ck_assert_msg(rpc_test_equal(t, x, y), "%s %s seed %llu differs",
		      c->name, req ? "request" : "response",
		      (unsigned long long)seed);
	if (req)
		rpc_req_encode(c, y, flags, &b2);
	else
		rpc_resp_encode(c, y, flags, &b2);
	ck_assert(b1.len == b2.len && !memcmp(b1.p, b2.p, b1.len));
	/* Both forms decode to the same value. */
	b2.len = 0;
	if (req)
		rpc_req_encode(c, x, flags ^ RPC_SP_LITERAL, &b2);
	else
		rpc_resp_encode(c, x, flags ^ RPC_SP_LITERAL, &b2);
	rc = req ? rpc_req_decode(c, b2.p, b2.len, y, &a, &why)
		 : rpc_resp_decode(c, b2.p, b2.len, y, &a, &why);
	ck_assert_int_eq(rc, 0);
	ck_assert(rpc_test_equal(t, x, y));
	rpc_buf_release(&b1);
	rpc_buf_release(&b2);
	rpc_arena_release(&a);
}

START_TEST(test_round_trips)
{
	int seeds = mc_test_quick() ? 20 : 200;

	for (int i = 0; i < RPC_NCALLS; i++) {
		const struct rpc_call *c = rpc_call_get(i);

		for (int s = 0; s < seeds; s++) {
			/* Now and then long enough to switch the width. */
			size_t maxn = s % 10 == 9 ? 300 : 4;
			unsigned fl = s & 1 ? RPC_SP_LITERAL : 0;

			if (c->req)
				round_trip(c, c->req, true, s, maxn, fl);
			round_trip(c, c->resp, false, s, maxn, fl);
		}
	}
}
END_TEST

/* ---------------------------------------------------------------- widths */

START_TEST(test_width_switch)
{
	static const struct {
		size_t keylen;
		unsigned meta, width;
	} v[] = {
		{0, 0, 1},	  {255, 0, 1},	    {256, 0x08, 2},
		{65535, 0x08, 2}, {65536, 0x10, 4},
	};
	const struct rpc_call *c = rpc_call_get(RPC_EXIST_KEY);
	static char key[65536];
	struct rpc_arena a = {0};

	memset(key, 'k', sizeof(key));
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct rpc_key_req q = {{key, v[i].keylen}, RPC_STR("default")},
				   r;
		struct rpc_buf b = {0};
		const char *why = "";
		size_t hd = v[i].meta ? 5 : 4;

		rpc_req_encode(c, &q, 0, &b);
		ck_assert_uint_eq(b.len, hd + 2 * v[i].width + v[i].keylen + 7);
		ck_assert_uint_eq(b.p[0] & 1, v[i].meta != 0);
		if (v[i].meta)
			ck_assert_uint_eq(b.p[4], v[i].meta);
		/* The tenant's length uses the same width as the key's. */
		ck_assert_uint_eq(b.p[hd + v[i].width + v[i].keylen], 7);
		ck_assert_int_eq(rpc_req_decode(c, b.p, b.len, &r, &a, &why),
				 0);
		ck_assert(rpc_test_equal(c->req, &q, &r));
		/* The literal form sets the width bits beside bit 2. */
		b.len = 0;
		rpc_req_encode(c, &q, RPC_SP_LITERAL, &b);
		ck_assert_uint_eq(b.p[4], v[i].meta | 0x04);
		ck_assert_int_eq(rpc_req_decode(c, b.p, b.len, &r, &a, &why),
				 0);
		ck_assert(rpc_test_equal(c->req, &q, &r));
		rpc_buf_release(&b);
		rpc_arena_reset(&a);
	}
	rpc_arena_release(&a);
}
END_TEST

/* Widths nobody sends for our sizes still read: 8-byte lengths. */
START_TEST(test_width_eight_and_compat)
{
	const struct rpc_call *c = rpc_call_get(RPC_EXIST_KEY);
	struct rpc_buf b = {0};
	struct rpc_arena a = {0};
	struct rpc_key_req q;
	const char *why = "";

	bytes(&b, "d91ef97c 18 0200000000000000 \"k1\" 0700000000000000 "
		  "\"default\"");
	ck_assert_int_eq(rpc_req_decode(c, b.p, b.len, &q, &a, &why), 0);
	str_is(q.key, "k1");
	/* A compatible-size field (bits 0-1) is read past. */
	bytes(&b, "d91ef97c 01 1300 02 \"k1\" 07 \"default\"");
	ck_assert_int_eq(rpc_req_decode(c, b.p, b.len, &q, &a, &why), 0);
	str_is(q.tenant_id, "default");
	rpc_buf_release(&b);
	rpc_arena_release(&a);
}
END_TEST

/* --------------------------------------------------------- hostile bodies */

START_TEST(test_hostile_bodies)
{
	static const struct {
		enum rpc_call_id call;
		bool req;
		const char *spec;
	} bad[] = {
		/* wrong type hash: GetReplicaList's reply code for ExistKey */
		{RPC_EXIST_KEY, true, "6c27c688 02 \"k1\" 07 \"default\""},
		{RPC_EXIST_KEY, true, "d8"},
		{RPC_EXIST_KEY, true, "d91ef97c"},
		{RPC_EXIST_KEY, true, "d91ef97c 04 fd 800c 800c ff"},
		/* a literal that is not this type's */
		{RPC_EXIST_KEY, true,
		 "d91ef97c 04 fd 800c 0b ff 00 02 \"k1\" 07 \"default\""},
		{RPC_EXIST_KEY, true, "d81ef97c 02 \"k1\" 08 \"default\""},
		{RPC_EXIST_KEY, true, "d81ef97c 02 \"k1\" 07 \"default\" 00"},
		{RPC_EXIST_KEY, true, "d81ef97c ff \"k1\""},
		{RPC_EXIST_KEY, true, "d91ef97c 10 ffffffff \"k1\""},
		{RPC_EXIST_KEY, true, "d91ef97c 18 ffffffffffffffff \"k1\""},
		{RPC_EXIST_KEY, true, "d91ef97c 01 13"},
		{RPC_REMOVE, true, "ee9fe818 02 \"k1\" 02 07 \"default\""},
		{RPC_PING, false, "528f2a74 02 0000000000000000 02000000"},
		{RPC_EXIST_KEY, false, "d200e890 00 00000000"},
		{RPC_EXIST_KEY, false, "d200e890 01 05"},
		/* variant index 5 of 5 alternatives */
		{RPC_GET_REPLICA_LIST, false,
		 "6c27c688 01 01 0100000000000000 05"},
		{RPC_BATCH_EXIST_KEY, true, "628df700 ff 02 \"k1\""},
		/* a vector claiming more u64s than the bytes that follow */
		{RPC_BATCH_PUT_START, true,
		 "a4c07058 "
		 "00000000000000000000000000000000 01 01 \"k\" ff"
		 " 0000000000000000"},
		{RPC_PUT_END, true,
		 "229281d1 00000000000000000000000000000000"
		 " 01 \"k\" 02"},
	};
	struct rpc_arena a = {0};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const struct rpc_call *c = rpc_call_get(bad[i].call);
		const struct rpc_type *t = bad[i].req ? c->req : c->resp;
		struct rpc_buf b = {0};
		void *obj = rpc_arena_alloc(&a, t->size);
		const char *why = NULL;
		int rc;

		bytes(&b, bad[i].spec);
		rc = bad[i].req ? rpc_req_decode(c, b.p, b.len, obj, &a, &why)
				: rpc_resp_decode(c, b.p, b.len, obj, &a, &why);
		ck_assert_msg(rc == -EBADMSG, "hostile body #%zu decoded", i);
		ck_assert_ptr_nonnull(why);
		rpc_buf_release(&b);
	}
	rpc_arena_release(&a);
}
END_TEST

/* Every cut of a valid body fails cleanly, at every offset. */
START_TEST(test_truncated_bodies)
{
	struct rpc_arena a = {0};

	for (int i = 0; i < RPC_NCALLS; i++) {
		const struct rpc_call *c = rpc_call_get(i);
		const struct rpc_type *t = c->req ? c->req : c->resp;
		struct rpc_buf b = {0};
		uint64_t seed = 7 + i;
		void *x = rpc_arena_alloc(&a, t->size);
		void *y = rpc_arena_alloc(&a, t->size);

		rpc_test_fill(t, x, &seed, 3, &a);
		rpc_sp_encode(&b, t, x, c->req ? c->req_code : c->resp_code,
			      c->req ? c->req_literal : c->resp_literal,
			      i & 1 ? RPC_SP_LITERAL : 0);
		for (size_t n = 0; n < b.len; n++) {
			const char *why = NULL;
			int rc = rpc_sp_decode(
				b.p, n, t, y,
				c->req ? c->req_code : c->resp_code,
				c->req ? c->req_literal : c->resp_literal, &a,
				&why);

			ck_assert_msg(rc == -EBADMSG, "%s cut at %zu decoded",
				      c->name, n);
		}
		rpc_buf_release(&b);
		rpc_arena_reset(&a);
	}
	rpc_arena_release(&a);
}
END_TEST

/* ---------------------------------------------------------------- sessions */

struct svc_state {
	uint64_t seed;
	int calls;
};

/* Deterministic answers: real-looking for a few calls, seeded otherwise. */
static bool is_k1(struct rpc_str k)
{
	return k.len == 2 && !memcmp(k.p, "k1", 2);
}

/* @ctx NULL: no state, so loops may run it at once. */
static void h_any(void *ctx, const struct rpc_call *c, const void *req,
		  void *resp, struct rpc_arena *a)
{
	struct svc_state *st = ctx;
	uint64_t local = 1, *seed = st ? &st->seed : &local;

	if (st)
		st->calls++;
	switch (c->call) {
	case RPC_SERVICE_READY:
		((struct rpc_exp_str *)resp)->v = RPC_STR(RPC_STORE_VERSION);
		return;
	case RPC_EXIST_KEY: {
		const struct rpc_key_req *q = req;
		struct rpc_exp_bool *r = resp;

		if (is_k1(q->key))
			r->v = true;
		else
			r->err = MC_OBJECT_NOT_FOUND;
		return;
	}
	case RPC_BATCH_EXIST_KEY: {
		const struct rpc_keys_req *q = req;
		struct rpc_batch_bool *r = resp;

		r->n = q->keys.n;
		r->v = rpc_arena_array(a, r->n, sizeof(*r->v));
		for (size_t i = 0; i < r->n; i++) {
			if (is_k1(q->keys.v[i]))
				r->v[i].v = true;
			else
				r->v[i].err = MC_OBJECT_NOT_FOUND;
		}
		return;
	}
	default:
		rpc_test_fill(c->resp, resp, seed, 3, a);
		return;
	}
}

static void svc_init(struct rpc_service *svc, struct svc_state *st)
{
	*svc = (struct rpc_service){.ctx = st};
	for (int i = 0; i < RPC_NCALLS; i++)
		svc->handler[i] = h_any;
	/* One registered function left out: it must answer 11 too. */
	svc->handler[RPC_REMOVE_ALL] = NULL;
}

/* Appends a request frame for @call with a seeded request. */
static void add_request(struct rpc_buf *out, enum rpc_call_id call,
			uint32_t seq, uint64_t seed, uint32_t attach)
{
	const struct rpc_call *c = rpc_call_get(call);
	struct rpc_arena a = {0};
	struct rpc_buf body = {0};
	struct rpc_req_hdr h = {.magic = RPC_MAGIC,
				.seq = seq,
				.function_id = c->id,
				.attach_length = attach};
	unsigned char hdr[RPC_REQ_HDR_LEN];

	if (c->req) {
		void *q = rpc_arena_alloc(&a, c->req->size);

		rpc_test_fill(c->req, q, &seed, 3, &a);
		rpc_req_encode(c, q, seed & 1 ? RPC_SP_LITERAL : 0, &body);
	}
	h.length = (uint32_t)body.len;
	rpc_req_hdr_encode(&h, hdr);
	rpc_buf_add(out, hdr, sizeof(hdr));
	rpc_buf_add(out, body.p, body.len);
	for (uint32_t i = 0; i < attach; i++)
		rpc_buf_add(out, "A", 1);
	rpc_buf_release(&body);
	rpc_arena_release(&a);
}

/* Walks the reply frames in @out: their error codes in order. */
static int reply_codes(const struct rpc_buf *out, int *codes, int max,
		       uint32_t *seqs)
{
	size_t off = 0;
	int n = 0;

	while (off < out->len) {
		struct rpc_resp_hdr rh;

		ck_assert_uint_ge(out->len - off, RPC_RESP_HDR_LEN);
		rpc_resp_hdr_decode(out->p + off, &rh);
		ck_assert_uint_eq(rh.magic, RPC_MAGIC);
		ck_assert_uint_ge(out->len - off - RPC_RESP_HDR_LEN, rh.length);
		if (n < max) {
			codes[n] = rh.err_code;
			if (seqs)
				seqs[n] = rh.seq;
		}
		n++;
		off += RPC_RESP_HDR_LEN + rh.length;
	}
	return n;
}

START_TEST(test_hostile_frames)
{
	static const struct {
		const char *name;
		const char *spec;
		int rc;	   /* answered, or -errno: close */
		int code;  /* the first reply's error code, -1: none */
		bool idle; /* between frames afterwards */
	} v[] = {
		{"empty", "", 0, -1, true},
		{"short header", "15 00 00 00 00000000 56bb81", 0, -1, false},
		{"wrong magic",
		 "16 00 00 00 00000000 56bb817b 00000000 "
		 "00000000",
		 -EPROTO, -1, false},
		{"http", "\"GET / HTTP/1.1\" 0d0a \"Host: x\" 0d0a 0d0a",
		 -EPROTO, -1, false},
		{"version 1",
		 "15 01 00 00 00000000 56bb817b 00000000 "
		 "00000000",
		 -EPROTO, -1, false},
		{"serialize type 1",
		 "15 00 01 00 00000000 56bb817b 00000000 "
		 "00000000",
		 -EPROTO, -1, false},
		{"body over the limit",
		 "15 00 00 00 00000000 56bb817b "
		 "01100000 00000000",
		 -EMSGSIZE, -1, false},
		{"length past the end",
		 "15 00 00 00 00000000 095f3889 "
		 "64000000 00000000 d81ef97c 02",
		 0, -1, false},
		{"unknown function",
		 "15 00 00 00 18000000 efbeadde 00000000 "
		 "00000000",
		 1, 11, true},
		{"registered, not served",
		 "15 00 00 00 01000000 b0ce78d9 "
		 "00000000 00000000",
		 1, 11, true},
		{"wrong type hash",
		 "15 00 00 00 01000000 095f3889 0f000000 "
		 "00000000 d81ef97d 02 \"k1\" 07 "
		 "\"default\"",
		 1, 4, true},
		{"no body", "15 00 00 00 01000000 095f3889 00000000 00000000",
		 1, 4, true},
		{"short body",
		 "15 00 00 00 01000000 095f3889 0e000000 "
		 "00000000 d81ef97c 02 \"k1\" 07 \"defaul\"",
		 1, 4, true},
		{"long body",
		 "15 00 00 00 01000000 095f3889 10000000 00000000"
		 " d81ef97c 02 \"k1\" 07 \"default\" 00",
		 1, 4, true},
		{"width switch at 256 declared, 1 used",
		 "15 00 00 00 01000000 095f3889 10000000 00000000 d91ef97c 08 "
		 "02 \"k1\" 07 \"default\"",
		 1, 4, true},
		{"garbage body for no arguments",
		 "15 00 00 00 00000000 "
		 "56bb817b 03000000 00000000 "
		 "ffffff",
		 1, 0, true},
		{"message type ignored",
		 "15 00 00 07 00000000 56bb817b "
		 "00000000 00000000",
		 1, 0, true},
		{"attachment dropped",
		 "15 00 00 00 01000000 095f3889 "
		 "0f000000 03000000 d81ef97c 02 \"k1\" "
		 "07 \"default\" \"xyz\"",
		 1, 0, true},
		{"attachment not all here",
		 "15 00 00 00 01000000 56bb817b "
		 "00000000 10000000 \"xyz\"",
		 0, -1, false},
		{"good, then bad magic",
		 "15 00 00 00 00000000 56bb817b "
		 "00000000 00000000 14 00 00 00 "
		 "01000000 56bb817b 00000000 00000000",
		 -EPROTO, 0, false},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct svc_state st = {0};
		struct rpc_service svc;
		struct rpc_session s;
		struct rpc_buf in = {0}, out = {0};
		int codes[4], rc;

		svc_init(&svc, &st);
		rpc_session_init(&s, &svc, 4096);
		bytes(&in, v[i].spec);
		rc = rpc_session_feed(&s, in.p, in.len, &out);
		ck_assert_msg(rc == v[i].rc, "%s: feed gave %d", v[i].name, rc);
		if (v[i].code >= 0) {
			ck_assert_int_ge(reply_codes(&out, codes, 4, NULL), 1);
			ck_assert_msg(codes[0] == v[i].code, "%s: code %d",
				      v[i].name, codes[0]);
		} else {
			ck_assert_msg(out.len == 0, "%s: replied", v[i].name);
		}
		if (rc >= 0)
			ck_assert_msg(rpc_session_idle(&s) == v[i].idle,
				      "%s: idle", v[i].name);
		else
			ck_assert_int_lt(rpc_session_feed(&s, "x", 1, &out), 0);
		rpc_session_release(&s);
		rpc_buf_release(&in);
		rpc_buf_release(&out);
	}
}
END_TEST

/* The reply of error 4 carries upstream's message. */
START_TEST(test_invalid_args_reply)
{
	struct svc_state st = {0};
	struct rpc_service svc;
	struct rpc_session s;
	struct rpc_buf in = {0}, out = {0};
	struct rpc_arena a = {0};
	struct rpc_resp_hdr rh;
	struct rpc_str msg;
	const char *why = "";

	svc_init(&svc, &st);
	rpc_session_init(&s, &svc, 0);
	bytes(&in, "15 00 00 00 05000000 095f3889 04000000 00000000 00000000");
	ck_assert_int_eq(rpc_session_feed(&s, in.p, in.len, &out), 1);
	rpc_resp_hdr_decode(out.p, &rh);
	ck_assert_uint_eq(rh.err_code, RPC_ERRC_INVALID_ARGS);
	ck_assert_uint_eq(rh.seq, 5);
	ck_assert_int_eq(rpc_sp_decode(out.p + 16, rh.length, &rpc_t_str, &msg,
				       0x9dcffa76, "\x80\x0c", &a, &why),
			 0);
	str_is(msg, RPC_MSG_INVALID_ARGS);
	ck_assert_int_eq(st.calls, 0);
	rpc_session_release(&s);
	rpc_buf_release(&in);
	rpc_buf_release(&out);
	rpc_arena_release(&a);
}
END_TEST

/* Pipelined requests fed whole, byte by byte or in odd pieces: same replies. */
START_TEST(test_session_pipeline_pieces)
{
	struct rpc_buf in = {0}, whole = {0};
	int n = mc_test_quick() ? 40 : 200, ref = -1;
	uint32_t seqs[256];
	int codes[256];

	for (int i = 0; i < n; i++)
		add_request(&in, (enum rpc_call_id)(i % RPC_NCALLS), 1000 + i,
			    i, i % 5 == 4 ? (uint32_t)i : 0);
	for (size_t step = 0; step < 4; step++) {
		static const size_t pieces[] = {SIZE_MAX, 1, 7, 4096};
		struct svc_state st = {.seed = 42};
		struct rpc_service svc;
		struct rpc_session s;
		struct rpc_buf out = {0};
		int answered = 0;

		svc_init(&svc, &st);
		rpc_session_init(&s, &svc, 0);
		for (size_t off = 0; off < in.len;) {
			size_t k = in.len - off < pieces[step] ? in.len - off
							       : pieces[step];
			int rc = rpc_session_feed(&s, in.p + off, k, &out);

			ck_assert_int_ge(rc, 0);
			answered += rc;
			off += k;
		}
		ck_assert_int_eq(answered, n);
		ck_assert(rpc_session_idle(&s));
		ck_assert_int_eq(reply_codes(&out, codes, 256, seqs), n);
		for (int i = 0; i < n; i++) {
			ck_assert_uint_eq(seqs[i], 1000 + i);
			ck_assert_int_eq(codes[i],
					 i % RPC_NCALLS == RPC_REMOVE_ALL
						 ? RPC_ERRC_NOT_REGISTERED
						 : 0);
		}
		if (ref < 0) {
			rpc_buf_add(&whole, out.p, out.len);
			ref = 0;
		} else {
			ck_assert(out.len == whole.len &&
				  !memcmp(out.p, whole.p, out.len));
		}
		rpc_session_release(&s);
		rpc_buf_release(&out);
	}
	rpc_buf_release(&in);
	rpc_buf_release(&whole);
}
END_TEST

/* ---------------------------------------------------------------- server */

static struct rpc_server *serve_on_loopback(const struct rpc_service *svc,
					    unsigned loops, unsigned stall_ms)
{
	struct rpc_server_opts o = {.host = "127.0.0.1",
				    .loops = loops,
				    .stall_ms = stall_ms,
				    .max_body = 1 << 20};
	char err[256] = "";
	struct rpc_server *srv = rpc_server_start(&o, svc, err, sizeof(err));

	ck_assert_msg(srv != NULL, "server: %s", err);
	ck_assert_uint_gt(rpc_server_port(srv), 0);
	return srv;
}

static struct rpc_client *dial(struct rpc_server *srv)
{
	char err[256] = "";
	struct rpc_client *c = rpc_client_connect(
		"127.0.0.1", rpc_server_port(srv), 5000, err, sizeof(err));

	ck_assert_msg(c != NULL, "client: %s", err);
	return c;
}

/* True when the server closed @c (its next read sees the end). */
static bool closed_by_server(struct rpc_client *c)
{
	struct rpc_resp_hdr h;
	struct rpc_buf b = {0};
	int rc;

	while ((rc = rpc_client_recv_raw(c, &h, &b)) == 0)
		;
	rpc_buf_release(&b);
	return rc == -ECONNRESET;
}

START_TEST(test_server_calls)
{
	struct rpc_service svc;
	struct rpc_server *srv;
	struct rpc_client *c;
	struct rpc_arena a = {0};
	struct rpc_buf frame = {0}, body = {0};
	struct rpc_resp_hdr h;
	struct rpc_exp_str ready;
	struct rpc_exp_bool exist;
	struct rpc_batch_bool batch;
	struct rpc_remove_all_resp removed;
	struct rpc_key_req q = {RPC_STR("k1"), RPC_STR("default")};
	struct rpc_remove_all_req ra = {true, RPC_STR("")};
	struct rpc_keys_req bq = {.tenant_id = RPC_STR("default")};
	struct rpc_str keys[300];
	char err[256];

	svc_init(&svc, NULL);
	srv = serve_on_loopback(&svc, 1, 0);
	c = dial(srv);
	ck_assert_int_eq(rpc_client_call(c, RPC_SERVICE_READY, NULL, &ready, &a,
					 err, sizeof(err)),
			 0);
	str_is(ready.v, RPC_STORE_VERSION);
	ck_assert_int_eq(rpc_client_call(c, RPC_EXIST_KEY, &q, &exist, &a, err,
					 sizeof(err)),
			 0);
	ck_assert(exist.err == 0 && exist.v);
	q.key = RPC_STR("nope");
	ck_assert_int_eq(rpc_client_call(c, RPC_EXIST_KEY, &q, &exist, &a, err,
					 sizeof(err)),
			 0);
	ck_assert_int_eq(exist.err, MC_OBJECT_NOT_FOUND);

	/* 300 keys: every length of the message on two bytes, both ways. */
	for (int i = 0; i < 300; i++)
		keys[i] = i % 2 ? RPC_STR("k1") : RPC_STR("k2");
	bq.keys = (struct rpc_strs){keys, 300};
	ck_assert_int_eq(rpc_client_call(c, RPC_BATCH_EXIST_KEY, &bq, &batch,
					 &a, err, sizeof(err)),
			 0);
	ck_assert_uint_eq(batch.n, 300);
	for (int i = 0; i < 300; i++)
		ck_assert_int_eq(batch.v[i].err,
				 i % 2 ? 0 : MC_OBJECT_NOT_FOUND);

	/* Not served: 11 with upstream's message, and the connection stays. */
	ck_assert_int_eq(rpc_client_call(c, RPC_REMOVE_ALL, &ra, &removed, &a,
					 err, sizeof(err)),
			 RPC_ERRC_NOT_REGISTERED);
	ck_assert_str_eq(err, "RemoveAll: the rpc function not registered");
	bytes(&frame, "15 00 00 00 63000000 efbeadde 00000000 00000000");
	ck_assert_int_eq(rpc_client_send_raw(c, frame.p, frame.len), 0);
	ck_assert_int_eq(rpc_client_recv_raw(c, &h, &body), 0);
	ck_assert_uint_eq(h.err_code, RPC_ERRC_NOT_REGISTERED);
	ck_assert_uint_eq(h.seq, 99);
	/* 1c1ac65's ExistKey(key), no tenant: 4; the connection stays. */
	bytes(&frame, "15 00 00 00 64000000 095f3889 07000000 00000000 "
		      "76facf9d 02 \"k1\"");
	ck_assert_int_eq(rpc_client_send_raw(c, frame.p, frame.len), 0);
	ck_assert_int_eq(rpc_client_recv_raw(c, &h, &body), 0);
	ck_assert_uint_eq(h.err_code, RPC_ERRC_INVALID_ARGS);
	ck_assert_uint_eq(h.seq, 100);

	/* A frame that arrives a byte at a time. */
	bytes(&frame, "15 00 00 00 65000000 095f3889 0f000000 00000000 "
		      "d81ef97c 02 \"k1\" 07 \"default\"");
	for (size_t i = 0; i < frame.len; i++)
		ck_assert_int_eq(rpc_client_send_raw(c, frame.p + i, 1), 0);
	ck_assert_int_eq(rpc_client_recv(c, RPC_EXIST_KEY, 101, &exist, &a, err,
					 sizeof(err)),
			 0);
	ck_assert(exist.err == 0 && exist.v);
	ck_assert_int_eq(rpc_client_call(c, RPC_SERVICE_READY, NULL, &ready, &a,
					 err, sizeof(err)),
			 0);
	rpc_client_close(c);
	rpc_server_free(srv);
	rpc_buf_release(&frame);
	rpc_buf_release(&body);
	rpc_arena_release(&a);
}
END_TEST

/* Requests sent before any reply is read come back in order. */
START_TEST(test_server_pipeline)
{
	int n = mc_test_quick() ? 60 : 600;
	struct rpc_service svc;
	struct rpc_server *srv;
	struct rpc_client *c;
	struct rpc_arena a = {0}, qa = {0};
	uint32_t *seqs = calloc(n, sizeof(*seqs));
	char err[256];

	svc_init(&svc, NULL);
	srv = serve_on_loopback(&svc, 1, 0);
	c = dial(srv);
	for (int i = 0; i < n; i++) {
		const struct rpc_call *k = rpc_call_get(i % RPC_NCALLS);
		void *q = k->req ? rpc_arena_alloc(&qa, k->req->size) : NULL;
		uint64_t seed = i;

		if (q)
			rpc_test_fill(k->req, q, &seed, 3, &qa);
		ck_assert_int_eq(rpc_client_send(c, k->call, q,
						 i & 1 ? RPC_SP_LITERAL : 0,
						 &seqs[i]),
				 0);
		rpc_arena_reset(&qa);
	}
	for (int i = 0; i < n; i++) {
		const struct rpc_call *k = rpc_call_get(i % RPC_NCALLS);
		void *r = rpc_arena_alloc(&a, k->resp->size);
		int rc = rpc_client_recv(c, k->call, seqs[i], r, &a, err,
					 sizeof(err));

		ck_assert_msg(rc == (k->call == RPC_REMOVE_ALL
					     ? RPC_ERRC_NOT_REGISTERED
					     : 0),
			      "reply %d: %d %s", i, rc, err);
		rpc_arena_reset(&a);
	}
	free(seqs);
	rpc_client_close(c);
	rpc_server_free(srv);
	rpc_arena_release(&a);
	rpc_arena_release(&qa);
}
END_TEST

/* A malformed frame closes its connection, after the replies before it. */
START_TEST(test_server_malformed_closes_one)
{
	static const char *const bad[] = {
		"16 00 00 00 01000000 56bb817b 00000000 00000000",
		"15 01 00 00 01000000 56bb817b 00000000 00000000",
		"15 00 02 00 01000000 56bb817b 00000000 00000000",
		"15 00 00 00 01000000 095f3889 00002000 00000000",
	};
	struct rpc_service svc;
	struct rpc_server *srv;
	struct rpc_client *good;
	struct rpc_arena a = {0};
	struct rpc_exp_str ready;
	char err[256];

	svc_init(&svc, NULL);
	srv = serve_on_loopback(&svc, 2, 0);
	good = dial(srv);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rpc_client *c = dial(srv);
		struct rpc_buf frame = {0};
		uint32_t seq;

		ck_assert_int_eq(
			rpc_client_send(c, RPC_SERVICE_READY, NULL, 0, &seq),
			0);
		bytes(&frame, bad[i]);
		ck_assert_int_eq(rpc_client_send_raw(c, frame.p, frame.len), 0);
		ck_assert_int_eq(rpc_client_recv(c, RPC_SERVICE_READY, seq,
						 &ready, &a, err, sizeof(err)),
				 0);
		ck_assert_msg(closed_by_server(c), "bad frame %zu kept open",
			      i);
		ck_assert_int_eq(rpc_client_call(good, RPC_SERVICE_READY, NULL,
						 &ready, &a, err, sizeof(err)),
				 0);
		rpc_client_close(c);
		rpc_buf_release(&frame);
	}
	rpc_client_close(good);
	rpc_server_free(srv);
	rpc_arena_release(&a);
}
END_TEST

/* Half a frame for longer than stall_ms closes; an idle client stays. */
START_TEST(test_server_stall)
{
	struct rpc_service svc;
	struct rpc_server *srv;
	struct rpc_client *stuck, *idle;
	struct rpc_arena a = {0};
	struct rpc_exp_str ready;
	char err[256];

	svc_init(&svc, NULL);
	srv = serve_on_loopback(&svc, 1, 300);
	stuck = dial(srv);
	idle = dial(srv);
	ck_assert_int_eq(rpc_client_send_raw(stuck, "\x15\x00\x00\x00", 4), 0);
	usleep(1200 * 1000);
	ck_assert(closed_by_server(stuck));
	ck_assert_int_eq(rpc_client_call(idle, RPC_SERVICE_READY, NULL, &ready,
					 &a, err, sizeof(err)),
			 0);
	rpc_client_close(stuck);
	rpc_client_close(idle);
	rpc_server_free(srv);
	rpc_arena_release(&a);
}
END_TEST

/*
 * A frame that comes slower than RPC_MIN_RATE after its grace closes,
 * long before the stall limit; one that comes in pieces faster than that
 * is answered (rpc_server_opts).
 */
START_TEST(test_server_min_rate)
{
	struct rpc_server_opts o = {.host = "127.0.0.1",
				    .loops = 1,
				    .stall_ms = 30000,
				    .grace_ms = 300,
				    .max_body = 1 << 20};
	struct rpc_service svc;
	struct rpc_server *srv;
	struct rpc_client *slow, *fast;
	struct rpc_buf frame = {0}, b = {0};
	struct rpc_resp_hdr h;
	char err[256] = "";
	size_t off, piece;

	svc_init(&svc, NULL);
	srv = rpc_server_start(&o, &svc, err, sizeof(err));
	ck_assert_msg(srv != NULL, "server: %s", err);
	add_request(&frame, RPC_SERVICE_READY, 7, 0, 32 * 1024);
	slow = dial(srv);
	fast = dial(srv);
	/* 64 bytes every 100 ms (640 B/s) for 3 s, or until it is closed */
	for (off = 0; off < 30 * 64; off += 64) {
		if (rpc_client_send_raw(slow, frame.p + off, 64))
			break;
		usleep(100 * 1000);
	}
	ck_assert(closed_by_server(slow));
	/* eight pieces 100 ms apart: 40 KiB/s, above it */
	piece = (frame.len + 7) / 8;
	for (off = 0; off < frame.len; off += piece) {
		ck_assert_int_eq(rpc_client_send_raw(fast, frame.p + off,
						     frame.len - off < piece
							     ? frame.len - off
							     : piece),
				 0);
		usleep(100 * 1000);
	}
	ck_assert_int_eq(rpc_client_recv_raw(fast, &h, &b), 0);
	ck_assert_uint_eq(h.seq, 7);
	ck_assert_int_eq(h.err_code, 0);
	rpc_client_close(slow);
	rpc_client_close(fast);
	rpc_server_free(srv);
	rpc_buf_release(&frame);
	rpc_buf_release(&b);
}
END_TEST

struct hammer {
	struct rpc_server *srv;
	int calls, failures;
};

static void *hammer_main(void *arg)
{
	struct hammer *hm = arg;
	struct rpc_client *c;
	struct rpc_arena a = {0};
	struct rpc_exp_bool r;
	struct rpc_key_req q = {RPC_STR("k1"), RPC_STR("default")};
	char err[256];

	c = rpc_client_connect("127.0.0.1", rpc_server_port(hm->srv), 5000, err,
			       sizeof(err));
	if (!c) {
		hm->failures = hm->calls;
		return NULL;
	}
	for (int i = 0; i < hm->calls; i++) {
		q.key = i % 3 ? RPC_STR("k1") : RPC_STR("k3");
		if (rpc_client_call(c, RPC_EXIST_KEY, &q, &r, &a, err,
				    sizeof(err)) ||
		    r.v != (i % 3 != 0))
			hm->failures++;
		rpc_arena_reset(&a);
	}
	rpc_client_close(c);
	rpc_arena_release(&a);
	return NULL;
}

START_TEST(test_server_concurrent_clients)
{
	enum { NT = 4 };
	struct rpc_service svc;
	struct hammer hm[NT];
	pthread_t th[NT];
	struct rpc_server *srv;

	svc_init(&svc, NULL);
	srv = serve_on_loopback(&svc, 2, 0);
	for (int i = 0; i < NT; i++) {
		hm[i] = (struct hammer){srv, mc_test_quick() ? 20 : 300, 0};
		ck_assert_int_eq(
			pthread_create(&th[i], NULL, hammer_main, &hm[i]), 0);
	}
	for (int i = 0; i < NT; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(hm[i].failures, 0);
	}
	rpc_server_free(srv);
}
END_TEST

/*
 * Out of file descriptors (net/shed.h): every client gets an answer or
 * a close, none waits for ever, and the port serves again once
 * descriptors are back.
 */
START_TEST(test_server_out_of_fds)
{
	enum { NCONN = 16 };
	struct rpc_service svc;
	struct rpc_server *srv;
	struct rpc_buf req = {0};
	struct rlimit old, low;
	struct timeval tv = {.tv_sec = 5};
	int fds[NCONN], hi = 0, answered = 0, closed = 0;
	struct rpc_client *c;
	struct rpc_arena a = {0};
	struct rpc_exp_str ready;
	char err[256];

	svc_init(&svc, NULL);
	srv = serve_on_loopback(&svc, 1, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port =
					 htons((uint16_t)rpc_server_port(srv)),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	add_request(&req, RPC_SERVICE_READY, 1, 0, 0);
	for (int i = 0; i < NCONN; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		ck_assert_int_ge(fds[i], 0);
		setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		hi = fds[i] > hi ? fds[i] : hi;
	}
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)hi + 3; /* room for two accepts */
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	for (int i = 0; i < NCONN; i++)
		ck_assert_int_eq(
			connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
	for (int i = 0; i < NCONN; i++) {
		char b[64];
		ssize_t n = send(fds[i], req.p, req.len, MSG_NOSIGNAL);

		if (n == (ssize_t)req.len)
			n = recv(fds[i], b, sizeof(b), 0);
		if (n > 0)
			answered++;
		else if (n == 0 || errno == ECONNRESET || errno == EPIPE)
			closed++;
	}
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	for (int i = 0; i < NCONN; i++)
		close(fds[i]);
	ck_assert_int_eq(answered + closed, NCONN);
	ck_assert_int_gt(answered, 0);
	ck_assert_int_gt(closed, 0);
	c = dial(srv);
	ck_assert_int_eq(rpc_client_call(c, RPC_SERVICE_READY, NULL, &ready, &a,
					 err, sizeof(err)),
			 0);
	rpc_client_close(c);
	rpc_arena_release(&a);
	rpc_buf_release(&req);
	rpc_server_free(srv);
}
END_TEST

/* Stopping closes every connection, mid-frame or idle. */
START_TEST(test_server_stop_closes)
{
	struct rpc_service svc;
	struct rpc_server *srv;
	struct rpc_client *c1, *c2;

	svc_init(&svc, NULL);
	srv = serve_on_loopback(&svc, 2, 0);
	c1 = dial(srv);
	c2 = dial(srv);
	ck_assert_int_eq(rpc_client_send_raw(c1, "\x15\x00", 2), 0);
	usleep(50 * 1000);
	rpc_server_stop(srv);
	ck_assert(closed_by_server(c1));
	ck_assert(closed_by_server(c2));
	rpc_server_stop(srv);
	rpc_server_free(srv);
	rpc_client_close(c1);
	rpc_client_close(c2);
}
END_TEST

START_TEST(test_server_bad_options)
{
	struct rpc_service svc;
	struct rpc_server_opts o = {.host = "not-an-address"};
	struct rpc_server *srv, *again;
	char err[256] = "";

	svc_init(&svc, NULL);
	ck_assert_ptr_null(rpc_server_start(&o, &svc, err, sizeof(err)));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_msg(strstr(err, "not-an-address"), "%s", err);
	o = (struct rpc_server_opts){.host = "127.0.0.1", .port = 70000};
	ck_assert_ptr_null(rpc_server_start(&o, &svc, err, sizeof(err)));
	ck_assert_int_eq(errno, EINVAL);
	srv = serve_on_loopback(&svc, 1, 0);
	o.port = rpc_server_port(srv);
	again = rpc_server_start(&o, &svc, err, sizeof(err));
	ck_assert_ptr_null(again);
	ck_assert_int_eq(errno, EADDRINUSE);
	rpc_server_free(srv);
	rpc_server_free(NULL);
}
END_TEST

START_TEST(test_uuid_text)
{
	struct rpc_uuid u;
	char s[37];

	ck_assert_int_eq(
		rpc_uuid_parse("35963441-4573-40C8-ae58-59ed72974484", &u), 0);
	rpc_uuid_format(&u, s);
	ck_assert_str_eq(s, "35963441-4573-40c8-ae58-59ed72974484");
	ck_assert_int_eq(u.b[0], 0x35);
	ck_assert_int_eq(u.b[15], 0x84);
	ck_assert_int_eq(
		rpc_uuid_parse("35963441-4573-40c8-ae58-59ed7297448", &u),
		-EINVAL);
	ck_assert_int_eq(
		rpc_uuid_parse("35963441-4573-40c8-ae58-59ed729744845", &u),
		-EINVAL);
	ck_assert_int_eq(
		rpc_uuid_parse("35963441x4573-40c8-ae58-59ed72974484", &u),
		-EINVAL);
	ck_assert_int_eq(
		rpc_uuid_parse("3596344g-4573-40c8-ae58-59ed72974484", &u),
		-EINVAL);
	ck_assert_int_eq(rpc_uuid_parse("", &u), -EINVAL);
}
END_TEST

static Suite *rpc_suite(void)
{
	Suite *s = suite_create("rpc");
	TCase *tc = tcase_create("wire");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_md5_rfc1321);
	tcase_add_test(tc, test_ids_and_codes);
	tcase_add_test(tc, test_literals_match_descriptions);
	tcase_add_test(tc, test_capture_service_ready);
	tcase_add_test(tc, test_capture_mount);
	tcase_add_test(tc, test_capture_ping);
	tcase_add_test(tc, test_capture_put);
	tcase_add_test(tc, test_capture_get);
	tcase_add_test(tc, test_capture_batch_put_start);
	tcase_add_test(tc, test_capture_plain_requests);
	tcase_add_test(tc, test_capture_not_registered);
	tcase_add_test(tc, test_round_trips);
	tcase_add_test(tc, test_width_switch);
	tcase_add_test(tc, test_width_eight_and_compat);
	tcase_add_test(tc, test_hostile_bodies);
	tcase_add_test(tc, test_truncated_bodies);
	tcase_add_test(tc, test_hostile_frames);
	tcase_add_test(tc, test_invalid_args_reply);
	tcase_add_test(tc, test_session_pipeline_pieces);
	tcase_add_test(tc, test_uuid_text);
	suite_add_tcase(s, tc);

	tc = tcase_create("server");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_server_calls);
	tcase_add_test(tc, test_server_pipeline);
	tcase_add_test(tc, test_server_malformed_closes_one);
	tcase_add_test(tc, test_server_stall);
	tcase_add_test(tc, test_server_min_rate);
	tcase_add_test(tc, test_server_concurrent_clients);
	tcase_add_test(tc, test_server_out_of_fds);
	tcase_add_test(tc, test_server_stop_closes);
	tcase_add_test(tc, test_server_bad_options);
	suite_add_tcase(s, tc);
	return s;
}

MC_CHECK_MAIN(rpc_suite)
