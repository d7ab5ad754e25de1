/*
 * fuzz_rpcd.c - a fuzz target for the master RPC door's handlers
 * (rpc/serve.c): Mooncake's master calls translated into core calls on a
 * live store. fuzz_rpc fuzzes the frames and bodies with handlers that
 * only fill answers; here every decoded request reaches the real door.
 *
 * Each input is a run of requests, each a call byte (an index into the
 * call table), a mode byte, a little-endian u16 length and that many
 * bytes (the last one cut at the input's end). Mode bit 0 clear: the
 * bytes are the request's body as they are; set: the first eight are a
 * seed from which rpc_test_fill makes a well-formed request of that
 * call, its strings, ranges and sizes drawn at random (its encoded form
 * is sent, literal when mode bit 1 is set too). All requests of an input
 * go, in order, to one session of a store made for the input with one
 * 16 MiB segment, as a client's connection would.
 *
 * What must hold, whatever the bytes: no crash, hang, leak or sanitizer
 * report; every request gets exactly one well-formed reply, in order.
 *
 * Built as every target of tests/fuzz/ is (fuzz.h): a libFuzzer target
 * under make fuzz, a replayer of tests/fuzz/corpus/rpcd in make check.
 */
#include "autoconfig.h"

#include <string.h>

#include "fuzz.h"
#include "log.h"
#include "mooncake.h"
#include "rpc.h"
#include "rpc_util.h"
#include "serve.h"

static uint64_t clock_ms(void *arg)
{
	(void)arg;
	return 1000;
}

/* Appends one request frame of call @ci with body @b. */
static void frame(struct rpc_buf *in, unsigned ci, uint32_t seq,
		  const struct rpc_buf *b)
{
	const struct rpc_call *c = rpc_call_get(ci);
	struct rpc_req_hdr h = {.magic = RPC_MAGIC,
				.seq = seq,
				.function_id = c->id,
				.length = (uint32_t)b->len};
	unsigned char hb[RPC_REQ_HDR_LEN];

	rpc_req_hdr_encode(&h, hb);
	rpc_buf_add(in, hb, sizeof(hb));
	rpc_buf_add(in, b->p ? b->p : (const void *)"", b->len);
}

/* A request of call @ci made from the seed in @p (mode bit 0). */
static void made(struct rpc_buf *b, unsigned ci, unsigned mode,
		 const uint8_t *p, size_t n)
{
	const struct rpc_call *c = rpc_call_get(ci);
	struct rpc_arena a = {0};
	uint64_t seed = 0;
	void *x;

	if (!c->req)
		return;
	memcpy(&seed, p, n < 8 ? n : 8);
	x = rpc_arena_alloc(&a, c->req->size);
	rpc_test_fill(c->req, x, &seed, 3, &a);
	rpc_sp_encode(b, c->req, x, c->req_code, c->req_literal,
		      mode & 2 ? RPC_SP_LITERAL : 0);
	rpc_arena_release(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mc_store_opts o;
	struct mc_mount_req mr = {.size = 16 << 20};
	struct mc_mount_result res = {0};
	struct mc_store *s;
	struct rpc_service svc;
	struct rpc_session sess;
	struct rpc_buf in = {0}, out = {0};
	uint32_t seq = 0;
	size_t off = 0, at = 0;
	int rc;

	mc_log_set_level(MC_LOG_ERROR);
	mc_store_opts_default(&o);
	o.now_ms = clock_ms;
	o.manual_tick = true;
	o.no_metadata = true;
	s = mc_store_new(&o, NULL);
	fuzz_must(s, "store");
	mc_store_set_endpoint(s, "mooncaked:7000");
	fuzz_must(!mc_segment_mount(s, &mr, &res, NULL), "mount");
	free(res.ids);
	rpc_door_service(s, &svc);
	rpc_session_init(&sess, &svc, 0);

	while (off + 4 <= size) {
		unsigned ci = data[off] % RPC_NCALLS, mode = data[off + 1];
		size_t len = (size_t)data[off + 2] | (size_t)data[off + 3] << 8;
		struct rpc_buf b = {0};

		off += 4;
		if (len > size - off)
			len = size - off;
		if (mode & 1)
			made(&b, ci, mode, data + off, len);
		else
			rpc_buf_add(&b, data + off, len);
		frame(&in, ci, seq++, &b);
		rpc_buf_release(&b);
		off += len;
	}
	rc = rpc_session_feed(&sess, in.p ? in.p : (const void *)"", in.len,
			      &out);
	fuzz_must(rc == (int)seq, "%u requests, %d answered", seq, rc);
	for (uint32_t i = 0; i < seq; i++) {
		struct rpc_resp_hdr h;

		fuzz_must(out.len - at >= RPC_RESP_HDR_LEN, "reply %u cut", i);
		rpc_resp_hdr_decode(out.p + at, &h);
		fuzz_must(h.magic == RPC_MAGIC && h.seq == i &&
				  h.attach_length == 0,
			  "reply %u: magic %u seq %u", i, h.magic, h.seq);
		fuzz_must(out.len - at - RPC_RESP_HDR_LEN >= h.length,
			  "reply %u's body cut", i);
		at += RPC_RESP_HDR_LEN + h.length;
	}
	fuzz_must(at == out.len, "bytes after the last reply");
	rpc_session_release(&sess);
	rpc_buf_release(&in);
	rpc_buf_release(&out);
	mc_store_free(s);
	return 0;
}
