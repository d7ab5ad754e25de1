/*
 * fuzz_wire.c - a fuzz target for the cluster's internal messages
 * (src/wire.h; mooncake-cluster(7), INTERNAL API): what a follower sends
 * its leader (mc_master_serve, the body of POST /internal/master), what a
 * leader sends an owner (mc_owner_serve, POST /internal/owner), an
 * owner's answer as the leader reads it (mc_owner_msg_result), an
 * owner's report as a new leader ingests it (mc_master_ingest) and a
 * leader's answer as a follower's operations read it (src/link.c). A peer
 * that runs other code, or anything that reaches the internal port, can
 * send any bytes.
 *
 * Each input is a run of messages, each one kind byte (its low three
 * bits pick the decoder: 0 and 4 master, 1 and 5 owner, 2 an owner's
 * answer, 3 an ingest, 7 an ingest that adopts, 6 a leader's answer: the
 * message's first byte picks an operation of the owner store, whose link
 * answers every request of it with the rest),
 * a little-endian u16 length and that many bytes (the last one cut at
 * the input's end), all served in order by one master store and one
 * owner store made for the input: the master learned the owner's
 * segment as a rebuild does and reaches the owner by wire, so a put the
 * fuzzer starts prepares, commits and releases real blocks. In a
 * message, 36 '#' bytes stand for the owner's segment id and the eight
 * bytes "@BASE@@@" for its base address (little-endian), which the
 * fuzzer could not guess.
 *
 * What must hold, whatever the bytes: no crash, hang, leak or sanitizer
 * report; a serve returns 0 with one answer of the right magic appended,
 * or -EPROTO with nothing appended; an owner's own answer reads back as
 * a result; an ingest answers 0 or an error with a message, and so do a
 * follower's put, revoke and remove whatever the leader answered.
 *
 * Built as every target of tests/fuzz/ is (fuzz.h): a libFuzzer target
 * under make fuzz, a replayer of tests/fuzz/corpus/wire in make check.
 */
#include "autoconfig.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "log.h"
#include "mooncake.h"
#include "wire.h"

#define SEG_MARK  "####################################"
#define BASE_MARK "@BASE@@@"

static struct mc_store *master, *own;
static struct mc_owner node = {.kind = MC_OWNER_NODE, .id = "n1"};
static uint64_t term = 1;

static uint64_t clock_ms(void *arg)
{
	(void)arg;
	return 1000;
}

/* The master's owner hooks, by wire to the one owner as a runtime does. */
static int owner_call(struct mc_buf *msg)
{
	struct mc_buf resp = {0};
	struct mc_err err = {0};
	int rc = mc_owner_serve(own, msg->data, msg->len, &resp);

	fuzz_must(rc == 0, "the owner refused the master's own message");
	rc = mc_owner_msg_result(resp.data, resp.len, &err);
	fuzz_must(rc != -EPROTO, "the owner's answer does not read back");
	mc_buf_release(&resp);
	mc_buf_release(msg);
	return rc;
}

static int h_prepare(void *arg, const struct mc_owner_blk *b)
{
	struct mc_buf msg = {0};

	(void)arg;
	mc_owner_msg_blk(&msg, MC_OWNER_PREPARE, b);
	return owner_call(&msg);
}

static int h_commit(void *arg, const struct mc_owner_blk *b)
{
	struct mc_buf msg = {0};

	(void)arg;
	mc_owner_msg_blk(&msg, MC_OWNER_COMMIT, b);
	return owner_call(&msg);
}

static void h_release(void *arg, const struct mc_owner_blk *b)
{
	struct mc_buf msg = {0};

	(void)arg;
	mc_owner_msg_release(&msg, b->term, b, 1);
	owner_call(&msg);
}

static void h_unmount(void *arg, const char *seg_id,
		      const struct mc_owner *owner, unsigned grace_s)
{
	struct mc_buf msg = {0};

	(void)arg;
	(void)owner;
	mc_owner_msg_unmount(&msg, term, seg_id, grace_s);
	owner_call(&msg);
}

static int h_retire(void *arg, const struct mc_owner *n,
		    const struct mc_retire *r, size_t count, bool exact)
{
	struct mc_buf msg = {0};

	(void)arg;
	(void)n;
	mc_owner_msg_retire(&msg, term, r, count, exact);
	return owner_call(&msg) < 0 ? -EIO : 0;
}

static const struct mc_owner_ops hooks = {
	.prepare = h_prepare,
	.commit = h_commit,
	.release = h_release,
	.unmount = h_unmount,
	.retire = h_retire,
};

/*
 * The owner store's link to its leader: every request it sends while
 * an "answer" message is served gets that message's bytes back.
 */
static const uint8_t *answer;
static size_t answer_len;

static int l_call(void *arg, const struct mc_buf *req, struct mc_buf *resp,
		  struct mc_err *err)
{
	(void)arg;
	(void)req;
	if (!answer)
		return mc_err_set(err, -EAGAIN, MC_NO_LEADER, "no leader");
	mc_buf_add(resp, answer, answer_len);
	return 0;
}

static int l_serve(void *arg, enum mc_wire_kind which, const void *req,
		   size_t len, struct mc_buf *resp)
{
	(void)arg;
	if (which == MC_WIRE_OWNER)
		return mc_owner_serve(own, req, len, resp);
	return mc_master_serve(master, term, req, len, resp);
}

static const struct mc_link_ops link_ops = {.call = l_call, .serve = l_serve};

static int count_seg(const struct mc_seg_info *si, void *arg)
{
	fuzz_must(si->id[0], "a segment without an id");
	(*(size_t *)arg)++;
	return 0;
}

static int count_key(const void *key, size_t klen, uint64_t size, void *arg)
{
	fuzz_must(klen > 0 && klen <= MC_KEY_MAX, "a key of %zu bytes", klen);
	(*(size_t *)arg)++;
	return 0;
}

static void count_item(size_t i, int rc, const struct mc_desc *d, size_t nd,
		       void *arg)
{
	fuzz_must(i < 2 && nd <= MC_REPLICA_MAX, "item %zu with %zu replicas",
		  i, nd);
	/* an errno a caller may negate, or the count of its replicas */
	fuzz_must(rc < 0 ? rc >= -4095 : (size_t)rc == nd,
		  "item %zu answered %d with %zu replicas", i, rc, nd);
	(*(size_t *)arg)++;
}

/*
 * Operation @op of the owner store, whose leader answers @p: what the
 * follower makes of a leader's answer. Whatever it says, an operation
 * fails with an error that has a message, or succeeds with what it may.
 */
static void ask(unsigned op, const uint8_t *p, size_t n, const char *seg_id,
		unsigned *mounts)
{
	static const char *const keys[2] = {"k", "key2"};
	static const size_t klens[2] = {1, 4};
	char buf[64];
	struct mc_err err = {0};
	struct mc_put *put;
	struct mc_ref *ref;
	struct mc_desc d[MC_REPLICA_MAX];
	struct mc_usage u;
	struct mc_recent rec;
	struct mc_value_sizes vs;
	struct mc_seg_info si;
	uint64_t size, cursor = 0;
	size_t count = 0;
	int64_t got;
	int rc, erc = 0;

	answer = p;
	answer_len = n;
	switch (op % 18) {
	case 0:
		erc = mc_put(own, "k", 1, "value", 5, &err);
		break;
	case 1:
		erc = mc_put_start(own, "k", 1, 5, &put, &err);
		if (erc == 0) {
			mc_put_release(put);
			erc = mc_put_end(own, "k", 1, &err);
		}
		break;
	case 2:
		erc = mc_put_revoke(own, "k", 1, &err);
		break;
	case 3:
		/* a get allocates the size its leader names */
		if (mc_get(own, "k", 1, &ref) == 0)
			mc_ref_release(ref);
		got = mc_get_copy(own, "k", 1, 1, buf, sizeof(buf));
		fuzz_must(got <= (int64_t)sizeof(buf), "a copy of %lld bytes",
			  (long long)got);
		break;
	case 4:
		mc_stat(own, "k", 1, &size);
		break;
	case 5:
		rc = mc_exist(own, "k", 1);
		fuzz_must(rc <= 1, "exist %d", rc);
		break;
	case 6:
		rc = mc_query(own, "k", 1, d, MC_REPLICA_MAX);
		fuzz_must(rc <= MC_REPLICA_MAX, "query %d", rc);
		break;
	case 7:
		mc_query_batch(own, 2, keys, klens, count_item, &count);
		fuzz_must(count == 2, "a batch of 2 answered %zu", count);
		break;
	case 8:
		erc = mc_remove(own, "k", 1, n && (p[0] & 1), &err);
		break;
	case 9:
		mc_remove_all(own, true);
		break;
	case 10:
		for (int i = 0; i < 4; i++)
			if (mc_key_walk(own, &cursor, count_key, &count) <= 0)
				break;
		break;
	case 11:
		mc_store_keys_gen(own);
		mc_store_usage(own, &u);
		break;
	case 12:
		mc_store_recent(own, &rec);
		mc_store_value_sizes(own, &vs);
		break;
	case 13:
		mc_segment_foreach(own, count_seg, &count);
		break;
	case 14:
		mc_segment_info(own, seg_id, &si);
		break;
	case 15:
		if ((*mounts)++ < 2) {
			struct mc_mount_req mr = {.size = 16 << 20};
			struct mc_mount_result res = {0};

			if (mc_segment_mount(own, &mr, &res, &err) == 0)
				free(res.ids);
		}
		break;
	case 16: {
		const char *ids[1] = {seg_id};
		struct mc_unmount_req ur = {.ids = ids, .n = 1};
		char(*failed)[MC_ID_LEN + 1] = NULL;
		size_t nf = 0;

		mc_segment_unmount(own, &ur, &failed, &nf, &err);
		free(failed);
		break;
	}
	default:
		mc_client_register(own, "7d444840-9dc0-11d1-b245-5ffdce74fad2");
		mc_client_ping(own, "7d444840-9dc0-11d1-b245-5ffdce74fad2");
		mc_client_count(own);
		break;
	}
	answer = NULL;
	fuzz_must(erc >= 0 || err.msg[0], "operation %u: %d without a message",
		  op % 18, erc);
}

static void start(char *seg_id, uint64_t *base)
{
	struct mc_store_opts o;
	struct mc_mount_req mr = {.size = 16 << 20};
	struct mc_mount_result res = {0};
	struct mc_seg_info si;
	struct mc_buf msg = {0}, resp = {0};
	struct mc_err err = {0};

	mc_store_opts_default(&o);
	o.owner_only = true;
	o.manual_tick = true;
	o.now_ms = clock_ms;
	o.put_timeout_ms = 2000;
	o.no_metadata = true;
	o.hostname = node.id;
	own = mc_store_new(&o, NULL);
	fuzz_must(own, "owner store");
	fuzz_must(!mc_segment_mount(own, &mr, &res, &err) && res.n == 1,
		  "owner mount: %s", err.msg);
	memcpy(seg_id, res.ids[0], MC_ID_LEN + 1);
	free(res.ids);
	fuzz_must(!mc_segment_info(own, seg_id, &si), "segment info");
	*base = si.base;
	mc_store_set_link(own, &link_ops, NULL, node.id);

	mc_store_opts_default(&o);
	o.manual_tick = true;
	o.now_ms = clock_ms;
	o.owner_ops = &hooks;
	o.alloc_arenas = 4;
	o.hold_ms = 1000;
	o.lease_ttl_ms = 1000;
	master = mc_store_new(&o, NULL);
	fuzz_must(master, "master store");
	mc_store_set_term(master, term);
	/* the master learns the owner's segment as a rebuild does */
	mc_owner_msg_report(&msg, term);
	fuzz_must(!mc_owner_serve(own, msg.data, msg.len, &resp), "report");
	fuzz_must(!mc_master_ingest(master, &node, resp.data, resp.len, false,
				    &err),
		  "ingest: %s", err.msg);
	mc_master_settle(master);
	mc_buf_release(&msg);
	mc_buf_release(&resp);
}

/* Puts the segment id and base address where the markers stand. */
static void unmark(uint8_t *p, size_t n, const char *seg_id, uint64_t base)
{
	size_t sl = strlen(SEG_MARK);

	for (size_t i = 0; i + sl <= n; i++)
		if (!memcmp(p + i, SEG_MARK, sl))
			memcpy(p + i, seg_id, sl);
	for (size_t i = 0; i + 8 <= n; i++)
		if (!memcmp(p + i, BASE_MARK, 8))
			for (int k = 0; k < 8; k++)
				p[i + k] = (uint8_t)(base >> (8 * k));
}

static void serve(int kind, const uint8_t *p, size_t n, const char *seg_id,
		  unsigned *mounts)
{
	struct mc_buf resp = {0};
	struct mc_err err = {0};
	uint32_t magic;
	int rc;

	switch (kind) {
	case 0:
	case 1:
	case 4:
	case 5:
		kind &= 1;
		rc = kind ? mc_owner_serve(own, p, n, &resp)
			  : mc_master_serve(master, term, p, n, &resp);
		fuzz_must(rc == 0 || rc == -EPROTO, "serve rc %d", rc);
		if (rc) {
			fuzz_must(!resp.len, "an answer to no request");
			break;
		}
		fuzz_must(resp.len >= 4, "an answer of %zu bytes", resp.len);
		memcpy(&magic, resp.data, 4);
		fuzz_must(le32toh(magic) ==
				  (kind ? WIRE_OWNER_RSP : WIRE_MASTER_RSP),
			  "an answer of the wrong magic");
		if (kind)
			fuzz_must(mc_owner_msg_result(resp.data, resp.len,
						      &err) != -EPROTO,
				  "an owner's answer that does not read back");
		break;
	case 2:
		rc = mc_owner_msg_result(p, n, &err);
		fuzz_must(rc <= 0, "result %d", rc);
		break;
	case 6:
		ask(n ? p[0] : 0, p + (n > 0), n - (n > 0), seg_id, mounts);
		break;
	default:
		rc = mc_master_ingest(master, &node, p, n, kind & 4, &err);
		fuzz_must(rc == 0 || (rc < 0 && err.msg[0]),
			  "ingest %d without a message", rc);
		if (rc == 0)
			mc_master_settle(master);
		break;
	}
	mc_buf_release(&resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char seg_id[MC_ID_LEN + 1];
	uint64_t base;
	size_t off = 0;
	unsigned mounts = 0;

	mc_log_set_level(MC_LOG_ERROR);
	start(seg_id, &base);
	while (off + 3 <= size) {
		int kind = data[off];
		size_t len = (size_t)data[off + 1] | (size_t)data[off + 2] << 8;
		uint8_t *msg;

		off += 3;
		if (len > size - off)
			len = size - off;
		msg = malloc(len ? len : 1);
		fuzz_must(msg, "out of memory");
		memcpy(msg, data + off, len);
		unmark(msg, len, seg_id, base);
		serve(kind & 7, msg, len, seg_id, &mounts);
		free(msg);
		off += len;
	}
	mc_store_free(master);
	mc_store_free(own);
	return 0;
}
