/*
 * fuzz_rpc.c - a fuzz target for the master RPC's frame and body decoders
 * (rpc/): every input is fed to a session as a client's byte stream, in
 * pieces its first byte chooses, and is decoded as each call's request
 * and response body.
 *
 * What must hold, whatever the bytes: no crash or sanitizer report; the
 * replies are well-formed frames, one per request answered; a body that
 * decodes re-encodes to bytes that decode to the same value and encode
 * again to the same bytes.
 *
 * Built as every target of tests/fuzz/ is (fuzz.h): a libFuzzer target
 * under make fuzz (make fuzz-rpc for this one alone), a replayer of
 * tests/fuzz/corpus/rpc in make check.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "rpc.h"
#include "rpc_util.h"

static void must(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_rpc: %s\n", what);
		abort();
	}
}

/* Answers every call with a value made from a fixed seed. */
static void h_fill(void *ctx, const struct rpc_call *c, const void *req,
		   void *resp, struct rpc_arena *a)
{
	uint64_t seed = c->id;

	rpc_test_fill(c->resp, resp, &seed, 2, a);
}

static void feed(const uint8_t *data, size_t size)
{
	struct rpc_service svc = {.flags = size & 1 ? RPC_SP_LITERAL : 0};
	struct rpc_session s;
	struct rpc_buf out = {0};
	size_t piece = size ? (size_t)data[0] % 17 + 1 : 1, off = 0, at = 0;
	int answered = 0, frames = 0, rc = 0;

	for (int i = 0; i < RPC_NCALLS; i++)
		if (i != RPC_REMOVE_ALL)
			svc.handler[i] = h_fill;
	rpc_session_init(&s, &svc, 1 << 16);
	while (off < size && rc >= 0) {
		size_t k = size - off < piece ? size - off : piece;

		rc = rpc_session_feed(&s, data + off, k, &out);
		if (rc >= 0)
			answered += rc;
		off += k;
	}
	while (at < out.len) {
		struct rpc_resp_hdr h;

		must(out.len - at >= RPC_RESP_HDR_LEN, "reply header cut");
		rpc_resp_hdr_decode(out.p + at, &h);
		must(h.magic == RPC_MAGIC && h.attach_length == 0,
		     "reply header wrong");
		must(out.len - at - RPC_RESP_HDR_LEN >= h.length,
		     "reply body cut");
		at += RPC_RESP_HDR_LEN + h.length;
		frames++;
	}
	must(frames == answered, "replies and requests differ in number");
	rpc_session_release(&s);
	rpc_buf_release(&out);
}

static void body_as(const struct rpc_type *t, uint32_t code, const char *lit,
		    const uint8_t *data, size_t size)
{
	struct rpc_arena a = {0};
	struct rpc_buf b1 = {0}, b2 = {0};
	void *x = rpc_arena_alloc(&a, t->size);
	void *y = rpc_arena_alloc(&a, t->size);
	unsigned form = size & 2 ? RPC_SP_LITERAL : 0;
	const char *why = "";

	if (rpc_sp_decode(data, size, t, x, code, lit, &a, &why) == 0) {
		rpc_sp_encode(&b1, t, x, code, lit, form);
		must(rpc_sp_decode(b1.p, b1.len, t, y, code, lit, &a, &why) ==
			     0,
		     "a re-encoded body does not decode");
		must(rpc_test_equal(t, x, y), "a body changed on a round trip");
		rpc_sp_encode(&b2, t, y, code, lit, form);
		must(b1.len == b2.len && !memcmp(b1.p, b2.p, b1.len),
		     "encoding is not stable");
	}
	rpc_buf_release(&b1);
	rpc_buf_release(&b2);
	rpc_arena_release(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	feed(data, size);
	for (int i = 0; i < RPC_NCALLS; i++) {
		const struct rpc_call *c = rpc_call_get(i);

		if (c->req)
			body_as(c->req, c->req_code, c->req_literal, data,
				size);
		body_as(c->resp, c->resp_code, c->resp_literal, data, size);
	}
	return 0;
}
