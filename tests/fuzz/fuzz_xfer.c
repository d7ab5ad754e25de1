/*
 * fuzz_xfer.c - the transfer port's header stream (xfer/loop.c's
 * connection state machine and xfer/frame.c), over a real connection to
 * an in-process port.
 *
 * The node holds one complete value R (4 KiB of a known pattern) and one
 * open two-phase put W (4 KiB). The input is the byte stream a client
 * sends, read as requests (a 24-byte header, then a WRITE's data); each
 * header's address is rewritten so the fuzzer lands near the live
 * buffers: its two low bits pick a base (R, W, the segment's first byte,
 * or none: the raw address), the next 30 bits (signed) an offset from it
 * (within +-1 MiB), and the size is kept small unless one of its top two
 * bits is set.
 *
 * The harness predicts the whole answer from the contract
 * (mooncake-transfer.7): a READ is served only inside R, a WRITE only
 * inside W; a v1 request that is refused closes the connection, a v2 one
 * gets a REJECTED status and then the close; an unknown opcode closes.
 * It compares the bytes that come back with the prediction exactly, and
 * checks afterwards that R still holds its pattern and that the
 * segment's first 2 MiB (where R and W live) did not change outside W: the port
 * reads and writes nothing outside live store buffers, whatever the header
 * says.
 */
#include "autoconfig.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame.h"
#include "fuzz.h"
#include "node.h"

#define VAL   4096
#define WATCH (2u << 20) /* bytes of the segment checked after each input */

static struct fuzz_node *node;
static struct mc_desc rd, wd;
static uint64_t seg_base, seg_size;
static unsigned char pattern[VAL];

static unsigned char snap[WATCH];

static uint64_t watched(void)
{
	return seg_size < WATCH ? seg_size : WATCH;
}

/* Whether the watched bytes outside W are as in @snap. */
static int same_outside_w(void)
{
	const unsigned char *p = (const unsigned char *)(uintptr_t)seg_base;
	uint64_t n = watched(), w0 = wd.addr - seg_base, w1 = w0 + wd.size;

	if (w0 > n)
		w0 = n;
	if (w1 > n)
		w1 = n;
	return !memcmp(p, snap, w0) && !memcmp(p + w1, snap + w1, n - w1);
}

static void open_w(void)
{
	struct mc_put *p;
	struct mc_err err = {0};

	mc_put_revoke(node->s, "fz-write", 8, NULL);
	fuzz_must(!mc_put_start(node->s, "fz-write", 8, VAL, &p, &err),
		  "put_start: %s", err.msg);
	wd = *mc_put_desc(p, 0);
	mc_put_release(p);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct mc_err err = {0};
	struct mc_seg_info si;

	node = fuzz_node_start(0);
	for (size_t i = 0; i < VAL; i++)
		pattern[i] = (unsigned char)(i * 7 + 3);
	fuzz_must(!mc_put(node->s, "fz-read", 7, pattern, VAL, &err), "put %s",
		  err.msg);
	fuzz_must(mc_query(node->s, "fz-read", 7, &rd, 1) == 1, "query");
	fuzz_must(!mc_segment_info(node->s, node->seg_id, &si), "seg");
	seg_base = si.base;
	seg_size = si.size;
	return 0;
}

static void rd64(const uint8_t *p, uint64_t *v)
{
	*v = 0;
	for (int i = 7; i >= 0; i--)
		*v = *v << 8 | p[i];
}

static void wr64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static int inside(uint64_t a, uint64_t n, const struct mc_desc *d)
{
	return a >= d->addr && n <= d->size && a - d->addr <= d->size - n;
}

static void add(unsigned char **b, size_t *len, size_t *cap, const void *p,
		size_t n)
{
	if (*len + n > *cap) {
		*cap = (*len + n) * 2;
		*b = realloc(*b, *cap);
		fuzz_must(*b, "oom");
	}
	memcpy(*b + *len, p, n);
	*len += n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *out = NULL, *want = NULL, *got = NULL, st[8];
	size_t olen = 0, ocap = 0, wlen = 0, wcap = 0, glen = 0, off = 0;
	int fd, closed = 0;
	struct mc_ref *ref;

	open_w();
	memcpy(snap, (const void *)(uintptr_t)seg_base, watched());
	/* Rewrite the stream and predict the answer, request by request. */
	while (size - off >= XFER_HDR_LEN) {
		uint8_t h[XFER_HDR_LEN];
		uint64_t sz, ad, base;
		int64_t delta;
		unsigned op;
		int v2, ok;

		memcpy(h, data + off, XFER_HDR_LEN);
		off += XFER_HDR_LEN;
		rd64(h, &sz);
		rd64(h + 8, &ad);
		if ((ad & 3) != 3) {
			base = (ad & 3) == 0   ? rd.addr
			       : (ad & 3) == 1 ? wd.addr
					       : seg_base;
			delta = (int64_t)(int32_t)(uint32_t)(ad >> 2) %
				(1 << 20);
			ad = base + (uint64_t)delta;
			if (!(sz >> 62))
				sz %= 2 * VAL;
			wr64(h, sz);
			wr64(h + 8, ad);
		}
		add(&out, &olen, &ocap, h, sizeof(h));
		op = h[16] & ~XFER_V2;
		v2 = !!(h[16] & XFER_V2);
		closed = 1; /* until this request is seen through */
		if (op != XFER_OP_READ && op != XFER_OP_WRITE)
			break;
		ok = sz && ad + sz >= ad &&
		     inside(ad, sz, op == XFER_OP_READ ? &rd : &wd);
		if (!ok) {
			if (v2) {
				xfer_status_encode(XFER_REJECTED, st);
				add(&want, &wlen, &wcap, st, sizeof(st));
			}
			break;
		}
		if (op == XFER_OP_READ) {
			if (v2) {
				xfer_status_encode(XFER_OK, st);
				add(&want, &wlen, &wcap, st, sizeof(st));
			}
			add(&want, &wlen, &wcap, pattern + (ad - rd.addr), sz);
			closed = 0;
			continue;
		}
		if (size - off < sz) { /* the data ends early: a close */
			add(&out, &olen, &ocap, data + off, size - off);
			break;
		}
		add(&out, &olen, &ocap, data + off, sz);
		off += sz;
		if (v2) {
			xfer_status_encode(XFER_OK, st);
			add(&want, &wlen, &wcap, st, sizeof(st));
		}
		closed = 0;
	}
	if (!closed && off < size) /* a cut header */
		add(&out, &olen, &ocap, data + off, size - off);

	fd = fuzz_connect(node->xfer_port);
	fuzz_write_all(fd, out, olen); /* may fail once the port closed */
	shutdown(fd, SHUT_WR);
	fuzz_must(!fuzz_read_all(fd, &got, &glen), "the port hung");
	close(fd);
	fuzz_must(glen == wlen && (!wlen || !memcmp(got, want, wlen)),
		  "answer of %zu bytes, %zu predicted", glen, wlen);
	fuzz_must(!mc_get(node->s, "fz-read", 7, &ref), "R gone");
	fuzz_must(mc_ref_size(ref) == VAL &&
			  !memcmp(mc_ref_data(ref), pattern, VAL),
		  "R changed");
	mc_ref_release(ref);
	fuzz_must(same_outside_w(), "segment bytes outside W changed");
	free(out);
	free(want);
	free(got);
	return 0;
}
