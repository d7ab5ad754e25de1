/*
 * fuzz_te.c - a fuzz target for what mooncaked reads of another process's
 * Transfer Engine metadata (xfer/resolve.c): segment descriptors and
 * rpc_meta bodies that Mooncake clients publish in /metadata, which any
 * client of the port can write, and from which the daemon picks the
 * host, port and buffers it connects to when it reads a value held in a
 * client's memory.
 *
 * The first byte picks the parser; the rest is the body (for a
 * descriptor, also a segment name for the metadata key). What must hold,
 * whatever the bytes: no crash or sanitizer report; a rejected body has
 * a one-line reason; an accepted descriptor has a name, a port in
 * 1..65535, a version in 1..255 and only buffers of non-zero address and
 * length, each of which (unless it wraps) the segment covers, and no
 * range that wraps is covered; an accepted rpc_meta has a
 * non-empty host.
 *
 * Built as every target of tests/fuzz/ is (fuzz.h): a libFuzzer target
 * under make fuzz, a replayer of tests/fuzz/corpus/te in make check.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "client.h"
#include "fuzz.h"

static void descriptor(const char *body, size_t len)
{
	struct xfer_te_segment seg;
	struct mc_err err = {0};
	int rc = xfer_te_parse_segment(body, len, &seg, &err);

	if (rc) {
		fuzz_must(rc == -EINVAL || rc == -ENOMEM, "rc %d", rc);
		fuzz_must(err.msg[0] && !strchr(err.msg, '\n'),
			  "a rejection without a one-line reason");
		return;
	}
	fuzz_must(seg.name && seg.name[0], "a descriptor without a name");
	fuzz_must(seg.data_port >= 1 && seg.data_port <= 65535, "port %u",
		  seg.data_port);
	fuzz_must(seg.version <= 255, "version %u", seg.version);
	for (size_t i = 0; i < seg.nbuf; i++) {
		fuzz_must(seg.buf[i].addr && seg.buf[i].length,
			  "a buffer of address or length 0");
		/* TE takes a buffer that wraps; no range in it is read */
		if (seg.buf[i].length <= UINT64_MAX - seg.buf[i].addr)
			fuzz_must(xfer_te_segment_covers(&seg, seg.buf[i].addr,
							 seg.buf[i].length),
				  "a buffer its segment does not cover");
	}
	fuzz_must(!xfer_te_segment_covers(&seg, UINT64_MAX, 2),
		  "a range that wraps is covered");
	xfer_te_segment_release(&seg);
}

static void rpc_meta(const char *body, size_t len)
{
	struct mc_err err = {0};
	char *host = NULL;
	int rc = xfer_te_parse_rpc_meta(body, len, &host, &err);

	if (rc) {
		fuzz_must(!host, "a host left behind by a rejection");
		fuzz_must(err.msg[0] && !strchr(err.msg, '\n'),
			  "a rejection without a one-line reason");
		return;
	}
	fuzz_must(host && host[0], "an rpc_meta without a host");
	free(host);
}

/* The metadata key of a name: always under mooncake/, never empty. */
static void key(const char *name)
{
	struct mc_buf out = {0};

	xfer_te_key(&out, name[0] == 'c' ? "cluster" : NULL, "ram", name);
	fuzz_must(out.len >= 9 && !memcmp(out.data, "mooncake/", 9),
		  "key outside mooncake/");
	mc_buf_release(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body;

	if (!size)
		return 0;
	body = fuzz_strndup(data + 1, size - 1);
	switch (data[0] % 3) {
	case 0:
		descriptor(body, size - 1);
		break;
	case 1:
		rpc_meta(body, size - 1);
		break;
	default:
		key(body);
		break;
	}
	free(body);
	return 0;
}
