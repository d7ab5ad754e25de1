/*
 * check_remote.c - REMOTE segments and what comes with them: mounting
 * another process's memory, placement, named writers, versions, the
 * data hooks (values held only in remote memory), the owner hooks of
 * node-owned segments, and the client registry with its expiry. The
 * remote memory is a buffer of this test, served by its own data hooks.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "metrics.h"
#include "mooncake.h"
#include "store_int.h" /* PUT_PLACE_TRIES, SEG_SHUN_MS */
#include "render.h"

#define MiB	 (1ull << 20)
#define C1	 "0f0e0d0c-0b0a-4908-8706-050403020100"
#define C2	 "1f1e1d1c-1b1a-4918-9716-151413121110"
#define SEG1	 "a1a2a3a4-a5a6-4a7a-8a8a-a9aaabacadae"
#define SEG2	 "b1b2b3b4-b5b6-4b7b-8b8b-b9babbbcbdbe"
#define SEG3	 "c1c2c3c4-c5c6-4c7c-8c8c-c9cacbcccdce"
#define RBASE	 0x7f0000000000ull /* where "the client" has its memory */
#define RSIZE	 (4 * MiB)
#define NODEBASE 0x500000000000ull

static uint64_t test_now = 1000;
static uint64_t put_timeout = 500; /* of the next new_store() */

static uint64_t test_clock(void *arg)
{
	(void)arg;
	return __atomic_load_n(&test_now, __ATOMIC_SEQ_CST);
}

static void advance(uint64_t ms)
{
	__atomic_add_fetch(&test_now, ms, __ATOMIC_SEQ_CST);
}

/* ------------------------------------------------ the remote memory */

/*
 * The "client's" memory: RSIZE bytes that the data hooks serve for the
 * segments based at RBASE. Each call is recorded, and failures can be
 * injected per endpoint.
 */
static unsigned char remote_mem[RSIZE];
static struct {
	unsigned reads, writes;
	char last_endpoint[300];
	uint64_t last_addr, last_off, last_len;
	char fail_endpoint[300];	  /* reads at this endpoint fail */
	struct mc_store *unmount_in_read; /* unmount SEG1 during a read */
} dh;

static int dh_read(void *arg, const struct mc_desc *d, uint64_t off, void *buf,
		   uint64_t len)
{
	(void)arg;
	dh.reads++;
	snprintf(dh.last_endpoint, sizeof(dh.last_endpoint), "%s", d->endpoint);
	dh.last_addr = d->addr;
	dh.last_off = off;
	dh.last_len = len;
	ck_assert_uint_le(off + len, d->size);
	if (!strcmp(d->endpoint, dh.fail_endpoint))
		return -ECONNREFUSED;
	if (d->addr < RBASE || d->addr + off + len > RBASE + RSIZE)
		return -EFAULT;
	memcpy(buf, remote_mem + (d->addr - RBASE) + off, len);
	if (dh.unmount_in_read) {
		const char *ids[] = {SEG1};
		struct mc_unmount_req u = {.ids = ids, .n = 1};

		ck_assert_int_eq(mc_segment_unmount(dh.unmount_in_read, &u,
						    NULL, NULL, NULL),
				 0);
		dh.unmount_in_read = NULL;
	}
	return 0;
}

static int dh_write(void *arg, const struct mc_desc *d, uint64_t off,
		    const void *buf, uint64_t len)
{
	(void)arg;
	(void)d;
	(void)off;
	(void)buf;
	(void)len;
	dh.writes++;
	return -EOPNOTSUPP;
}

static const struct mc_data_ops data_ops = {.read = dh_read, .write = dh_write};

/* ------------------------------------------------------- owner hooks */

#define NCALLS 64
static struct hook_call {
	char op; /* 'p'repare, 'c'ommit, 'r'elease */
	char seg_id[MC_ID_LEN + 1];
	uint64_t addr, size, value_size, version, term;
	char key[64];
} calls[NCALLS];
static unsigned ncalls;
static int fail_prepare, fail_commit;

static void record(char op, const struct mc_owner_blk *b)
{
	struct hook_call *c = &calls[ncalls++ % NCALLS];

	memset(c, 0, sizeof(*c));
	c->op = op;
	snprintf(c->seg_id, sizeof(c->seg_id), "%s", b->seg_id);
	c->addr = b->addr;
	c->size = b->size;
	c->value_size = b->value_size;
	c->version = b->version;
	c->term = b->term;
	if (b->key)
		snprintf(c->key, sizeof(c->key), "%.*s", (int)b->klen,
			 (const char *)b->key);
	ck_assert_int_eq(b->owner->kind, MC_OWNER_NODE);
	ck_assert_str_eq(b->owner->id, "node-7");
}

static int oh_prepare(void *arg, const struct mc_owner_blk *b)
{
	(void)arg;
	record('p', b);
	return fail_prepare;
}

static int oh_commit(void *arg, const struct mc_owner_blk *b)
{
	(void)arg;
	record('c', b);
	return fail_commit;
}

static void oh_release(void *arg, const struct mc_owner_blk *b)
{
	(void)arg;
	record('r', b);
}

static const struct mc_owner_ops owner_ops = {
	.prepare = oh_prepare, .commit = oh_commit, .release = oh_release};

static unsigned count_calls(char op)
{
	unsigned n = 0;

	for (unsigned i = 0; i < ncalls && i < NCALLS; i++)
		n += calls[i].op == op;
	return n;
}

/* ------------------------------------------------------------ helpers */

static struct mc_store *new_store(bool hooks)
{
	struct mc_store_opts o;
	struct mc_store *s;

	mc_store_opts_default(&o);
	o.now_ms = test_clock;
	o.manual_tick = true;
	o.put_timeout_ms = put_timeout;
	o.lease_ttl_ms = 1000;
	o.client_ttl_ms = 10000;
	if (hooks) {
		o.data_ops = &data_ops;
		o.owner_ops = &owner_ops;
	}
	memset(&dh, 0, sizeof(dh));
	ncalls = 0;
	fail_prepare = fail_commit = 0;
	s = mc_store_new(&o, NULL);
	ck_assert_ptr_nonnull(s);
	mc_store_set_endpoint(s, "mooncaked:7000");
	return s;
}

static void mount_local(struct mc_store *s, const char *name)
{
	struct mc_mount_req r = {.size = 16 * MiB, .name = name};
	struct mc_mount_result res;

	ck_assert_int_eq(mc_segment_mount(s, &r, &res, NULL), 0);
	free(res.ids);
}

static int mount_client(struct mc_store *s, const char *seg, const char *client,
			uint64_t base, const char *name, const char *ep)
{
	struct mc_remote_req r = {.id = seg,
				  .name = name,
				  .base = base,
				  .size = RSIZE,
				  .endpoint = ep};

	ck_assert_int_eq(mc_owner_client(&r.owner, client), 0);
	return mc_segment_mount_remote(s, &r, NULL);
}

static double metric(struct mc_store *s, const char *name)
{
	struct mc_family *f = mc_metrics_find(mc_store_metrics(s), name);

	ck_assert_ptr_nonnull(f);
	return mc_series_value(mc_family_series(f, NULL));
}

/* A put into remote-eligible placement, by @writer, ended at once. */
static int rput(struct mc_store *s, const char *key, const char *val,
		const struct mc_owner *writer, const char *prefer,
		unsigned replicas)
{
	struct mc_put_opts po = {.writer = writer,
				 .prefer = prefer,
				 .replicas = replicas,
				 .remote_ok = true};
	struct mc_put *p;
	int rc = mc_put_start_opts(s, key, strlen(key), strlen(val), &po, &p,
				   NULL);

	if (rc < 0)
		return rc;
	/* The writer moves the bytes: into "client memory" or ours. */
	for (size_t i = 0; i < mc_put_ndesc(p); i++) {
		const struct mc_desc *d = mc_put_desc(p, i);

		if (d->owner.kind == MC_OWNER_SELF)
			memcpy(mc_put_buffer(p, i), val, strlen(val));
		else
			memcpy(remote_mem + (d->addr - RBASE), val,
			       strlen(val));
	}
	mc_put_release(p);
	return mc_put_end_by(s, key, strlen(key), writer, false, NULL);
}

static char *get_str(struct mc_store *s, const char *k, int *rc)
{
	struct mc_ref *r;

	*rc = mc_get(s, k, strlen(k), &r);
	if (*rc < 0)
		return NULL;
	char *out = strndup(mc_ref_data(r), mc_ref_size(r));
	mc_ref_release(r);
	return out;
}

/* -------------------------------------------------------------- tests */

START_TEST(test_mount_remote_table)
{
	static const struct {
		const char *id, *owner_id, *name, *ep, *proto;
		enum mc_owner_kind kind;
		uint64_t base, size;
		const char *why;
	} bad[] = {
		{"nope", C1, NULL, "h:1", NULL, MC_OWNER_CLIENT, RBASE, RSIZE,
		 "id not a uuid"},
		{"A1A2A3A4-A5A6-4A7A-8A8A-A9AAABACADAE", C1, NULL, "h:1", NULL,
		 MC_OWNER_CLIENT, RBASE, RSIZE, "id in upper case"},
		{SEG1, "x", NULL, "h:1", NULL, MC_OWNER_CLIENT, RBASE, RSIZE,
		 "client not a uuid"},
		{SEG1, "", NULL, "h:1", NULL, MC_OWNER_NODE, RBASE, RSIZE,
		 "empty node id"},
		{SEG1, "a/b", NULL, "h:1", NULL, MC_OWNER_NODE, RBASE, RSIZE,
		 "node id with a slash"},
		{SEG1, "", NULL, "h:1", NULL, MC_OWNER_SELF, RBASE, RSIZE,
		 "self as a remote owner"},
		{SEG1, C1, NULL, "h:1", NULL, MC_OWNER_CLIENT, 0, RSIZE,
		 "base 0"},
		{SEG1, C1, NULL, "h:1", NULL, MC_OWNER_CLIENT, RBASE, 0,
		 "size 0"},
		{SEG1, C1, NULL, "h:1", NULL, MC_OWNER_CLIENT, RBASE, 63,
		 "size below one buffer"},
		{SEG1, C1, NULL, "h:1", NULL, MC_OWNER_CLIENT, UINT64_MAX - 10,
		 RSIZE, "range wraps"},
		{SEG1, C1, NULL, "h:1", NULL, MC_OWNER_CLIENT,
		 (1ull << 57) - RSIZE + 64, RSIZE, "range past 57 bits"},
		{SEG1, C1, NULL, "", NULL, MC_OWNER_CLIENT, RBASE, RSIZE,
		 "empty endpoint"},
		{SEG1, C1, NULL, NULL, NULL, MC_OWNER_CLIENT, RBASE, RSIZE,
		 "no endpoint"},
		{SEG1, C1, NULL, "h:1\n", NULL, MC_OWNER_CLIENT, RBASE, RSIZE,
		 "newline in endpoint"},
		{SEG1, C1, "a/b", "h:1", NULL, MC_OWNER_CLIENT, RBASE, RSIZE,
		 "slash in name"},
		{SEG1, C1, "..", "h:1", NULL, MC_OWNER_CLIENT, RBASE, RSIZE,
		 "dot-dot name"},
		{SEG1, C1, "a\tb", "h:1", NULL, MC_OWNER_CLIENT, RBASE, RSIZE,
		 "tab in name"},
		{SEG1, C1, "bad\xff", "h:1", NULL, MC_OWNER_CLIENT, RBASE,
		 RSIZE, "name not UTF-8"},
		{SEG1, C1, "bad\xed\xa0\x80", "h:1", NULL, MC_OWNER_CLIENT,
		 RBASE, RSIZE, "a surrogate in the name"},
		{SEG1, C1, NULL, "h:1", "TCP", MC_OWNER_CLIENT, RBASE, RSIZE,
		 "upper-case protocol"},
		{SEG1, C1, NULL, "h:1", "verylongproto", MC_OWNER_CLIENT, RBASE,
		 RSIZE, "protocol too long"},
	};
	struct mc_store *s = new_store(false);
	char longep[400];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mc_remote_req r = {.id = bad[i].id,
					  .name = bad[i].name,
					  .base = bad[i].base,
					  .size = bad[i].size,
					  .endpoint = bad[i].ep,
					  .protocol = bad[i].proto};
		struct mc_err e = {0};

		r.owner.kind = bad[i].kind;
		snprintf(r.owner.id, sizeof(r.owner.id), "%s", bad[i].owner_id);
		ck_assert_msg(mc_segment_mount_remote(s, &r, &e) == -EINVAL,
			      "accepted: %s", bad[i].why);
		ck_assert_int_eq(e.code, MC_INVALID_PARAMS);
		ck_assert_msg(e.msg[0], "no message: %s", bad[i].why);
	}
	memset(longep, 'e', sizeof(longep) - 1);
	longep[sizeof(longep) - 1] = '\0';
	ck_assert_int_eq(mount_client(s, SEG1, C1, RBASE, NULL, longep),
			 -EINVAL);
	ck_assert_int_eq(metric(s, "master_mount_segment_failures_total"),
			 sizeof(bad) / sizeof(bad[0]) + 1);
	ck_assert_int_eq(metric(s, "master_total_capacity_bytes"), 0);
	mc_store_free(s);

	/*
	 * A capacity that would pass 2^60 (sums wrap near 2^64, and
	 * eviction then thinks the store full) is refused; so is a client
	 * segment that names this store's own transfer endpoint (its "client
	 * memory" would be read from the store's own buffers).
	 */
	static const char *const ids[] = {SEG1, SEG2, SEG3};
	struct mc_remote_req big = {
		.base = 4096, .size = (1ull << 57) - 4096, .endpoint = "h:1"};
	struct mc_err e = {0};
	unsigned n = 0;

	s = new_store(false);
	ck_assert_int_eq(mc_owner_client(&big.owner, C1), 0);
	for (; n < 8; n++) {
		char id[40];

		snprintf(id, sizeof(id), "%.35s%x", ids[n % 3], n);
		big.id = id;
		ck_assert_int_eq(mc_segment_mount_remote(s, &big, NULL), 0);
	}
	big.id = "00000000-0000-4000-8000-0000000000ff";
	ck_assert_int_eq(mc_segment_mount_remote(s, &big, &e), -EINVAL);
	ck_assert_str_eq(e.msg, "144115188075851776 bytes more would make the "
				"store's capacity pass 2^60 bytes");
	struct mc_usage u;

	mc_store_usage(s, &u);
	ck_assert_uint_eq(u.capacity, 8 * ((1ull << 57) - 4096));
	ck_assert_uint_eq(u.segments, 8);
	mc_store_free(s);

	s = new_store(false);
	ck_assert_int_eq(mc_store_set_endpoint(s, "me:7000"), 0);
	ck_assert_int_eq(mount_client(s, SEG1, C1, RBASE, NULL, "me:7000"),
			 -EINVAL);
	ck_assert_int_eq(mount_client(s, SEG1, C1, RBASE, NULL, "me:7001"), 0);
	/* mc_owner_client folds case and refuses what is not a UUID */
	struct mc_owner o;

	ck_assert_int_eq(
		mc_owner_client(&o, "0F0E0D0C-0B0A-4908-8706-050403020100"), 0);
	ck_assert_str_eq(o.id, C1);
	ck_assert_int_eq(mc_owner_client(&o, "0f0e0d0c"), -EINVAL);
	ck_assert_int_eq(mc_owner_client(&o, NULL), -EINVAL);
	mc_store_free(s);
}
END_TEST

START_TEST(test_mount_remote_info)
{
	struct mc_store *s = new_store(false);
	struct mc_seg_info si;
	struct mc_remote_req r = {.id = SEG1,
				  .name = "client-host",
				  .base = RBASE,
				  .size = RSIZE,
				  .endpoint = "10.0.0.5:15123",
				  .protocol = "tcp"};
	struct mc_err e = {0};
	struct mc_usage u;
	mount_local(s, NULL);
	ck_assert_int_eq(mc_owner_client(&r.owner, C1), 0);
	ck_assert_int_eq(mc_segment_mount_remote(s, &r, &e), 0);
	ck_assert_int_eq(mc_segment_info(s, SEG1, &si), 0);
	ck_assert_int_eq(si.kind, MC_SEG_REMOTE);
	ck_assert_str_eq(si.source, "client:" C1);
	ck_assert_str_eq(si.endpoint, "10.0.0.5:15123");
	ck_assert_str_eq(si.name, "client-host");
	ck_assert_str_eq(si.protocol, "tcp");
	ck_assert_uint_eq(si.base, RBASE);
	ck_assert_uint_eq(si.size, RSIZE);
	ck_assert_uint_eq(si.used, 0);
	ck_assert_int_eq(si.owner.kind, MC_OWNER_CLIENT);
	/* the same mount again: nothing changes (idempotent) */
	ck_assert_int_eq(mc_segment_mount_remote(s, &r, &e), 0);
	/* the same id from another client, or another size: EEXIST */
	ck_assert_int_eq(mc_owner_client(&r.owner, C2), 0);
	ck_assert_int_eq(mc_segment_mount_remote(s, &r, &e), -EEXIST);
	ck_assert_int_eq(e.code, MC_SEGMENT_ALREADY_EXISTS);
	ck_assert_int_eq(mc_owner_client(&r.owner, C1), 0);
	r.size = RSIZE / 2;
	ck_assert_int_eq(mc_segment_mount_remote(s, &r, &e), -EEXIST);
	r.size = RSIZE;
	r.endpoint = "10.0.0.6:15123";
	ck_assert_int_eq(mc_segment_mount_remote(s, &r, &e), -EEXIST);
	/* counted like any segment; two owners now */
	mc_store_usage(s, &u);
	ck_assert_uint_eq(u.segments, 2);
	ck_assert_uint_eq(u.capacity, 16 * MiB + RSIZE);
	ck_assert_uint_eq(u.clients, 2);
	ck_assert_int_eq(metric(s, "master_mount_segment_requests_total"), 6);
	ck_assert_int_eq(metric(s, "master_mount_segment_failures_total"), 3);
	/*
	 * A node-owned one shows as its owner shows it (a cluster lists
	 * every node's memory alike: mooncake-cluster(7)): an shm segment
	 * of node-7 here, its owner and endpoint telling whose it is.
	 */
	struct mc_remote_req n = {.id = SEG2,
				  .base = NODEBASE,
				  .size = RSIZE,
				  .endpoint = "node7:40000",
				  .owner = {MC_OWNER_NODE, "node-7"},
				  .origin = MC_SEG_SHM,
				  .location = "cpu:1",
				  .shm_name = "pool",
				  .shm_offset = 4096};

	ck_assert_int_eq(mc_segment_mount_remote(s, &n, NULL), 0);
	ck_assert_int_eq(mc_segment_info(s, SEG2, &si), 0);
	ck_assert_str_eq(si.source, "shm:pool+4096");
	ck_assert_int_eq(si.kind, MC_SEG_SHM);
	ck_assert_str_eq(si.shm_name, "pool");
	ck_assert_str_eq(si.location, "cpu:1");
	ck_assert_str_eq(si.endpoint, "node7:40000");
	ck_assert_int_eq(si.owner.kind, MC_OWNER_NODE);
	ck_assert_str_eq(si.owner.id, "node-7");
	ck_assert_str_eq(si.name, "localhost"); /* the store's hostname */
	/* a bad shm name or kind of a node's memory is refused */
	n.id = SEG3;
	n.shm_name = "a/b";
	ck_assert_int_eq(mc_segment_mount_remote(s, &n, NULL), -EINVAL);
	n.shm_name = "pool";
	n.origin = MC_SEG_REMOTE;
	ck_assert_int_eq(mc_segment_mount_remote(s, &n, NULL), -EINVAL);
	mc_store_usage(s, &u);
	ck_assert_uint_eq(u.clients, 3);
	/* the summary counts owners too */
	struct mc_buf b = {0};

	mc_render_summary(s, &b);
	ck_assert_ptr_nonnull(strstr(b.data, "Clients: 3"));
	mc_buf_release(&b);
	mc_store_free(s);
}
END_TEST

START_TEST(test_pins_never_match_remote)
{
	struct mc_store *s = new_store(false);
	struct mc_put_opts po = {.remote_ok = true};
	struct mc_seg_info li;
	struct mc_put *p;
	struct mc_pin *pin;
	char id[MC_ID_LEN + 1];
	struct mc_mount_req r = {.size = 16 * MiB};
	struct mc_mount_result res;

	ck_assert_int_eq(mc_segment_mount(s, &r, &res, NULL), 0);
	memcpy(id, res.ids[0], sizeof(id));
	free(res.ids);
	ck_assert_int_eq(mc_segment_info(s, id, &li), 0);
	/*
	 * A client whose memory sits at the very addresses of our own
	 * segment (another address space): its puts must not open ours.
	 */
	ck_assert_int_eq(mount_client(s, SEG1, C1, li.base, "cl", "c:1"), 0);
	po.prefer = "cl";
	ck_assert_int_eq(mc_put_start_opts(s, "k", 1, 100, &po, &p, NULL), 0);
	ck_assert_str_eq(mc_put_desc(p, 0)->seg_id, SEG1);
	ck_assert_uint_eq(mc_put_desc(p, 0)->addr, li.base);
	ck_assert_int_eq(mc_pin_write(s, li.base, 100, &pin), -EACCES);
	ck_assert_int_eq(mc_put_end_by(s, "k", 1, NULL, false, NULL), 0);
	ck_assert_int_eq(mc_pin_read(s, li.base, 100, &pin), -EACCES);
	mc_put_release(p);
	/* our own segment's buffers still pin */
	ck_assert_int_eq(mc_put(s, "l", 1, "local", 5, NULL), 0);
	struct mc_desc d;

	ck_assert_int_eq(mc_query(s, "l", 1, &d, 1), 1);
	ck_assert_str_eq(d.seg_id, id);
	ck_assert_int_eq(mc_pin_read(s, d.addr, 5, &pin), 0);
	mc_pin_release(pin);
	mc_store_free(s);
}
END_TEST

START_TEST(test_placement)
{
	struct mc_store *s = new_store(true);
	struct mc_owner c1;
	struct mc_put *p;
	struct mc_put_opts po = {.remote_ok = true, .replicas = 2};
	struct mc_err e = {0};

	ck_assert_int_eq(mc_owner_client(&c1, C1), 0);
	ck_assert_int_eq(mount_client(s, SEG1, C1, RBASE, "cl", "c:1"), 0);
	/* HTTP and FUSE puts never go into client memory */
	ck_assert_int_eq(mc_put(s, "k", 1, "v", 1, &e), -ENOSPC);
	ck_assert_int_eq(mc_put_start(s, "k", 1, 1, &p, NULL), -ENOSPC);
	/* PutStart may */
	ck_assert_int_eq(rput(s, "k", "v", &c1, NULL, 1), 0);
	mount_local(s, NULL);
	mount_local(s, NULL);
	/* two replicas, three segments of two owners: one of each owner */
	for (int i = 0; i < 12; i++) {
		char key[16];

		snprintf(key, sizeof(key), "two%d", i);
		ck_assert_int_eq(mc_put_start_opts(s, key, strlen(key), 10, &po,
						   &p, NULL),
				 0);
		ck_assert_uint_eq(mc_put_ndesc(p), 2);
		ck_assert(!mc_owner_eq(&mc_put_desc(p, 0)->owner,
				       &mc_put_desc(p, 1)->owner));
		mc_put_abort(p);
	}
	/* four replicas asked, three segments: three distinct segments */
	po.replicas = 4;
	ck_assert_int_eq(mc_put_start_opts(s, "four", 4, 10, &po, &p, NULL), 0);
	ck_assert_uint_eq(mc_put_ndesc(p), 3);
	ck_assert_str_ne(mc_put_desc(p, 0)->seg_id, mc_put_desc(p, 1)->seg_id);
	ck_assert_str_ne(mc_put_desc(p, 1)->seg_id, mc_put_desc(p, 2)->seg_id);
	ck_assert_str_ne(mc_put_desc(p, 0)->seg_id, mc_put_desc(p, 2)->seg_id);
	mc_put_abort(p);
	/* without remote_ok, two local ones */
	po.replicas = 2;
	po.remote_ok = false;
	for (int i = 0; i < 6; i++) {
		ck_assert_int_eq(
			mc_put_start_opts(s, "loc", 3, 10, &po, &p, NULL), 0);
		ck_assert_uint_eq(mc_put_ndesc(p), 2);
		ck_assert_int_eq(mc_put_desc(p, 0)->owner.kind, MC_OWNER_SELF);
		ck_assert_int_eq(mc_put_desc(p, 1)->owner.kind, MC_OWNER_SELF);
		mc_put_abort(p);
	}
	/* a preferred name comes first, whatever the rotation */
	po = (struct mc_put_opts){.remote_ok = true, .prefer = "cl"};
	for (int i = 0; i < 6; i++) {
		ck_assert_int_eq(
			mc_put_start_opts(s, "pref", 4, 10, &po, &p, NULL), 0);
		ck_assert_str_eq(mc_put_desc(p, 0)->seg_id, SEG1);
		ck_assert_str_eq(mc_put_desc(p, 0)->endpoint, "c:1");
		ck_assert_int_eq(mc_put_desc(p, 0)->owner.kind,
				 MC_OWNER_CLIENT);
		ck_assert_str_eq(mc_put_desc(p, 0)->owner.id, C1);
		mc_put_abort(p);
	}
	po.prefer = "localhost";
	for (int i = 0; i < 6; i++) {
		ck_assert_int_eq(
			mc_put_start_opts(s, "pref", 4, 10, &po, &p, NULL), 0);
		ck_assert_str_eq(mc_put_desc(p, 0)->endpoint, "mooncaked:7000");
		mc_put_abort(p);
	}
	mc_store_free(s);
}
END_TEST

START_TEST(test_writers_and_versions)
{
	struct mc_store *s = new_store(false);
	struct mc_owner c1, c2;
	struct mc_put_opts po = {.writer = &c1, .no_replace = true};
	struct mc_put *p, *q;
	struct mc_obj_info info;
	struct mc_desc d;
	struct mc_err e = {0};
	uint64_t v1, v2;

	ck_assert_int_eq(mc_owner_client(&c1, C1), 0);
	ck_assert_int_eq(mc_owner_client(&c2, C2), 0);
	mount_local(s, NULL);
	ck_assert_int_eq(mc_put_start_opts(s, "k", 1, 5, &po, &p, &e), 0);
	v1 = mc_put_version(p);
	ck_assert_uint_eq(v1 >> 32, 0); /* term 0 on a single node */
	ck_assert_uint_ne(v1, 0);
	memcpy(mc_put_buffer(p, 0), "first", 5);
	mc_put_release(p);
	/* a second start of an open key: busy, whoever asks */
	po.writer = &c2;
	ck_assert_int_eq(mc_put_start_opts(s, "k", 1, 5, &po, &q, &e), -EBUSY);
	ck_assert_int_eq(e.code, MC_OBJECT_ALREADY_EXISTS);
	/* only its writer ends or revokes it */
	ck_assert_int_eq(mc_put_end_by(s, "k", 1, &c2, false, &e), -EPERM);
	ck_assert_int_eq(e.code, MC_ILLEGAL_CLIENT);
	ck_assert_int_eq(mc_put_revoke_by(s, "k", 1, &c2, false, &e), -EPERM);
	ck_assert_int_eq(e.code, MC_ILLEGAL_CLIENT);
	ck_assert_int_eq(mc_put_end(s, "k", 1, &e), -EPERM); /* HTTP's */
	ck_assert_int_eq(mc_exist(s, "k", 1), 0);
	ck_assert_int_eq(mc_put_end_by(s, "k", 1, &c1, false, &e), 0);
	ck_assert_int_eq(mc_put_end_by(s, "k", 1, &c1, false, &e), -ENOENT);
	ck_assert_int_eq(e.code, MC_OBJECT_NOT_FOUND);
	ck_assert_int_eq(mc_query_ex(s, "k", 1, 0, &d, 1, &info), 1);
	ck_assert_uint_eq(info.version, v1);
	ck_assert_uint_eq(info.size, 5);
	ck_assert_uint_eq(info.nrep, 1);
	/* a published key: no_replace says it exists */
	ck_assert_int_eq(mc_put_start_opts(s, "k", 1, 5, &po, &q, &e), -EEXIST);
	ck_assert_int_eq(e.code, MC_OBJECT_ALREADY_EXISTS);
	/* without no_replace a put replaces it, with a newer version */
	po.no_replace = false;
	ck_assert_int_eq(mc_put_start_opts(s, "k", 1, 6, &po, &q, &e), 0);
	v2 = mc_put_version(q);
	ck_assert_uint_gt(v2, v1);
	memcpy(mc_put_buffer(q, 0), "second", 6);
	mc_put_release(q);
	ck_assert_int_eq(mc_put_revoke_by(s, "k", 1, &c2, false, &e), 0);
	ck_assert_int_eq(mc_put_revoke_by(s, "k", 1, &c2, false, &e), -ENOENT);
	ck_assert_int_eq(mc_query_ex(s, "k", 1, 0, &d, 1, &info), 1);
	ck_assert_uint_eq(info.version, v1);
	/* the term is the version's high half */
	mc_store_set_term(s, 7);
	ck_assert_int_eq(mc_put(s, "t", 1, "x", 1, NULL), 0);
	ck_assert_int_eq(mc_query_ex(s, "t", 1, 0, &d, 1, &info), 1);
	ck_assert_uint_eq(info.version >> 32, 7);
	ck_assert_uint_gt(info.version & 0xffffffffu, v2 & 0xffffffffu);
	/* counts: ends and revokes by the wrong writer are failures */
	ck_assert_int_eq(metric(s, "master_put_end_failures_total"), 3);
	ck_assert_int_eq(metric(s, "master_put_revoke_failures_total"), 2);
	mc_store_free(s);
}
END_TEST

START_TEST(test_timeout_keeps_writer_rules)
{
	struct mc_store *s = new_store(false);
	struct mc_owner c1;
	struct mc_put_opts po = {.writer = &c1};
	struct mc_put *p;

	ck_assert_int_eq(mc_owner_client(&c1, C1), 0);
	mount_local(s, NULL);
	ck_assert_int_eq(mc_put_start_opts(s, "k", 1, 5, &po, &p, NULL), 0);
	mc_put_release(p);
	advance(600);
	mc_store_tick(s);
	ck_assert_int_eq(mc_put_end_by(s, "k", 1, &c1, false, NULL), -ENOENT);
	ck_assert_int_eq(mc_put_start_opts(s, "k", 1, 5, &po, &p, NULL), 0);
	mc_put_release(p);
	ck_assert_int_eq(mc_put_end_by(s, "k", 1, &c1, false, NULL), 0);
	mc_store_free(s);
}
END_TEST

START_TEST(test_remote_only_get)
{
	struct mc_store *s = new_store(true);
	struct mc_owner c1;
	char buf[64];
	int rc;
	char *v;

	ck_assert_int_eq(mc_owner_client(&c1, C1), 0);
	ck_assert_int_eq(mount_client(s, SEG1, C1, RBASE, "cl", "c:1"), 0);
	ck_assert_int_eq(rput(s, "k", "held by the client", &c1, NULL, 1), 0);
	v = get_str(s, "k", &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(v, "held by the client");
	free(v);
	ck_assert_uint_eq(dh.reads, 1);
	ck_assert_str_eq(dh.last_endpoint, "c:1");
	ck_assert_uint_ge(dh.last_addr, RBASE);
	ck_assert_uint_eq(dh.last_len, 18);
	/* a range: only that range is fetched */
	ck_assert_int_eq(mc_get_copy(s, "k", 1, 5, buf, 3), 3);
	ck_assert_int_eq(memcmp(buf, "by ", 3), 0);
	ck_assert_uint_eq(dh.last_off, 5);
	ck_assert_uint_eq(dh.last_len, 3);
	ck_assert_int_eq(mc_get_copy(s, "k", 1, 100, buf, 3), 0);
	/* the owner cannot be reached: REMOTE_ONLY, never other bytes */
	snprintf(dh.fail_endpoint, sizeof(dh.fail_endpoint), "c:1");
	v = get_str(s, "k", &rc);
	ck_assert_ptr_null(v);
	ck_assert_int_eq(rc, -EREMOTEIO);
	ck_assert_int_eq(mc_get_copy(s, "k", 1, 0, buf, 3), -EREMOTEIO);
	/* a second replica elsewhere is tried next */
	ck_assert_int_eq(
		mount_client(s, SEG2, C2, RBASE + RSIZE / 2, "cl2", "c:2"), 0);
	ck_assert_int_eq(rput(s, "two", "twice", &c1, NULL, 2), 0);
	dh.reads = 0;
	v = get_str(s, "two", &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(v, "twice");
	free(v);
	ck_assert_uint_ge(dh.reads, 1);
	ck_assert_str_eq(dh.last_endpoint, "c:2");
	/* a value with a local replica never asks the owner */
	dh.fail_endpoint[0] = '\0';
	mount_local(s, NULL);
	struct mc_put_opts po = {
		.writer = &c1, .remote_ok = true, .replicas = 3};
	struct mc_put *p;

	ck_assert_int_eq(mc_put_start_opts(s, "mix", 3, 3, &po, &p, NULL), 0);
	ck_assert_uint_eq(mc_put_ndesc(p), 3);
	for (size_t i = 0; i < 3; i++) {
		const struct mc_desc *d = mc_put_desc(p, i);

		if (d->owner.kind == MC_OWNER_SELF)
			memcpy(mc_put_buffer(p, i), "loc", 3);
		else
			memcpy(remote_mem + (d->addr - RBASE), "rem", 3);
	}
	mc_put_release(p);
	ck_assert_int_eq(mc_put_end_by(s, "mix", 3, &c1, false, NULL), 0);
	dh.reads = 0;
	v = get_str(s, "mix", &rc);
	ck_assert_str_eq(v, "loc");
	free(v);
	ck_assert_uint_eq(dh.reads, 0);
	ck_assert_uint_eq(dh.writes, 0);
	mc_store_free(s);
}
END_TEST

START_TEST(test_remote_only_without_hooks)
{
	struct mc_store *s = new_store(false);
	struct mc_owner c1;
	int rc;

	ck_assert_int_eq(mc_owner_client(&c1, C1), 0);
	ck_assert_int_eq(mount_client(s, SEG1, C1, RBASE, "cl", "c:1"), 0);
	ck_assert_int_eq(rput(s, "k", "v", &c1, NULL, 1), 0);
	ck_assert_ptr_null(get_str(s, "k", &rc));
	ck_assert_int_eq(rc, -EREMOTEIO);
	/* still there to stat, query and count */
	uint64_t size;

	ck_assert_int_eq(mc_stat(s, "k", 1, &size), 0);
	ck_assert_uint_eq(size, 1);
	ck_assert_int_eq(mc_exist(s, "k", 1), 1);
	mc_store_free(s);
}
END_TEST

START_TEST(test_segment_gone_during_read)
{
	struct mc_store *s = new_store(true);
	struct mc_owner c1;
	struct mc_ref *r;

	ck_assert_int_eq(mc_owner_client(&c1, C1), 0);
	ck_assert_int_eq(mount_client(s, SEG1, C1, RBASE, "cl", "c:1"), 0);
	ck_assert_int_eq(rput(s, "k", "v", &c1, NULL, 1), 0);
	/* the owner may reuse memory it unmounted: such a read is void */
	dh.unmount_in_read = s;
	ck_assert_int_eq(mc_get(s, "k", 1, &r), -EREMOTEIO);
	ck_assert_int_eq(mc_exist(s, "k", 1), 0);
	mc_store_free(s);
}
END_TEST

START_TEST(test_unmount_drops_remote_replicas)
{
	struct mc_store *s = new_store(true);
	struct mc_owner c1;
	const char *ids[] = {SEG1};
	struct mc_unmount_req u = {.ids = ids, .n = 1};
	struct mc_put_opts po = {
		.writer = &c1, .remote_ok = true, .replicas = 2};
	struct mc_put *p;
	struct mc_desc d[2];
	int rc;
	char *v;

	ck_assert_int_eq(mc_owner_client(&c1, C1), 0);
	mount_local(s, NULL);
	ck_assert_int_eq(mount_client(s, SEG1, C1, RBASE, "cl", "c:1"), 0);
	ck_assert_int_eq(rput(s, "only", "remote", &c1, "cl", 1), 0);
	ck_assert_int_eq(mc_put_start_opts(s, "both", 4, 4, &po, &p, NULL), 0);
	for (size_t i = 0; i < 2; i++) {
		const struct mc_desc *dd = mc_put_desc(p, i);

		if (dd->owner.kind == MC_OWNER_SELF)
			memcpy(mc_put_buffer(p, i), "both", 4);
	}
	mc_put_release(p);
	ck_assert_int_eq(mc_put_end_by(s, "both", 4, &c1, false, NULL), 0);
	/* an open put into the client's memory goes with the segment */
	ck_assert_int_eq(
		mc_put_start_opts(s, "open", 4, 4,
				  &(struct mc_put_opts){.writer = &c1,
							.remote_ok = true,
							.prefer = "cl"},
				  &p, NULL),
		0);
	mc_put_release(p);
	ck_assert_int_eq(mc_segment_unmount(s, &u, NULL, NULL, NULL), 0);
	ck_assert_int_eq(mc_exist(s, "only", 4), 0);
	ck_assert_int_eq(mc_query(s, "both", 4, d, 2), 1);
	ck_assert_int_eq(d[0].owner.kind, MC_OWNER_SELF);
	v = get_str(s, "both", &rc);
	ck_assert_str_eq(v, "both");
	free(v);
	ck_assert_int_eq(mc_put_end_by(s, "open", 4, &c1, false, NULL),
			 -ENOENT);
	mc_store_free(s);
}
END_TEST

START_TEST(test_clients_ping_and_expiry)
{
	struct mc_store *s;

	put_timeout = 60000; /* the client's expiry revokes its open put */
	s = new_store(true);
	put_timeout = 500;
	struct mc_owner c1;
	struct mc_put_opts po;
	struct mc_put *p;
	struct mc_usage u;

	ck_assert_int_eq(mc_owner_client(&c1, C1), 0);
	mount_local(s, NULL);
	/* unknown clients are told to remount; nothing is recorded */
	ck_assert_int_eq(mc_client_ping(s, C1), MC_CLIENT_NEED_REMOUNT);
	ck_assert_int_eq(mc_client_ping(s, "garbage"), -EINVAL);
	ck_assert_uint_eq(mc_client_count(s), 0);
	ck_assert_int_eq(metric(s, "master_ping_requests_total"), 2);
	ck_assert_int_eq(metric(s, "master_ping_failures_total"), 1);
	/* a mount makes it known */
	ck_assert_int_eq(mount_client(s, SEG1, C1, RBASE, "cl", "c:1"), 0);
	ck_assert_int_eq(mc_client_ping(s, C1), MC_CLIENT_OK);
	ck_assert_uint_eq(mc_client_count(s), 1);
	ck_assert_int_eq(rput(s, "mine", "in my memory", &c1, "cl", 1), 0);
	ck_assert_int_eq(rput(s, "ours", "in mooncaked", &c1, "localhost", 1),
			 0);
	po = (struct mc_put_opts){
		.writer = &c1, .remote_ok = true, .prefer = "localhost"};
	ck_assert_int_eq(mc_put_start_opts(s, "open", 4, 4, &po, &p, NULL), 0);
	mc_put_release(p);
	/* pings keep it alive past the ttl */
	for (int i = 0; i < 5; i++) {
		advance(4000);
		mc_store_tick(s);
		ck_assert_int_eq(mc_client_ping(s, C1), MC_CLIENT_OK);
	}
	ck_assert_uint_eq(mc_put_start_opts(s, "open", 4, 4, &po, &p, NULL),
			  -EBUSY); /* still open */
	/* exactly the ttl is still alive; past it, gone */
	advance(10000);
	mc_store_tick(s);
	ck_assert_uint_eq(mc_client_count(s), 1);
	ck_assert_int_eq(mc_exist(s, "mine", 4), 1);
	advance(1);
	mc_store_tick(s);
	ck_assert_uint_eq(mc_client_count(s), 0);
	ck_assert_int_eq(mc_exist(s, "mine", 4), 0); /* its memory went */
	ck_assert_int_eq(mc_exist(s, "ours", 4), 1); /* ours stays */
	ck_assert_int_eq(mc_put_end_by(s, "open", 4, &c1, false, NULL),
			 -ENOENT); /* revoked */
	ck_assert_int_eq(mc_segment_info(s, SEG1, &(struct mc_seg_info){0}),
			 -ENOENT);
	mc_store_usage(s, &u);
	ck_assert_uint_eq(u.clients, 1);
	ck_assert_uint_eq(u.pending_puts, 0);
	ck_assert_int_eq(mc_client_ping(s, C1), MC_CLIENT_NEED_REMOUNT);
	/* a registration (ReMountSegment) makes it known again */
	ck_assert_int_eq(mc_client_register(s, C1), 0);
	ck_assert_int_eq(mc_client_register(s, "x"), -EINVAL);
	ck_assert_int_eq(mc_client_ping(s, C1), MC_CLIENT_OK);
	/* a known client without segments expires quietly */
	advance(10001);
	mc_store_tick(s);
	ck_assert_int_eq(mc_client_ping(s, C1), MC_CLIENT_NEED_REMOUNT);
	mc_store_free(s);
}
END_TEST

/* A node's segment, whose owner hooks are the ones above. */
static const struct mc_remote_req node7 = {.id = SEG3,
					   .name = "node7",
					   .base = NODEBASE,
					   .size = RSIZE,
					   .endpoint = "node7:40000",
					   .owner = {MC_OWNER_NODE, "node-7"}};

START_TEST(test_owner_hooks)
{
	struct mc_store *s = new_store(true);
	struct mc_remote_req n = node7;
	struct mc_put_opts po = {.remote_ok = true};
	struct mc_put *p;
	struct mc_err e = {0};
	uint64_t ver, addr;

	ck_assert_int_eq(mc_segment_mount_remote(s, &n, NULL), 0);
	mc_store_set_term(s, 3);
	/* prepare at the start, with the put's key, version and the term */
	ck_assert_int_eq(mc_put_start_opts(s, "nk", 2, 100, &po, &p, NULL), 0);
	ver = mc_put_version(p);
	addr = mc_put_desc(p, 0)->addr;
	ck_assert_uint_eq(ncalls, 1);
	ck_assert_int_eq(calls[0].op, 'p');
	ck_assert_str_eq(calls[0].seg_id, SEG3);
	ck_assert_str_eq(calls[0].key, "nk");
	ck_assert_uint_eq(calls[0].version, ver);
	ck_assert_uint_eq(calls[0].term, 3);
	ck_assert_uint_eq(calls[0].addr, addr);
	ck_assert_uint_ge(addr, NODEBASE);
	ck_assert_uint_eq(calls[0].value_size, 100);
	ck_assert_uint_ge(calls[0].size, 100);
	mc_put_release(p);
	/* commit at the end, before it is acknowledged */
	ck_assert_int_eq(mc_put_end_by(s, "nk", 2, NULL, false, NULL), 0);
	ck_assert_uint_eq(ncalls, 2);
	ck_assert_int_eq(calls[1].op, 'c');
	ck_assert_uint_eq(calls[1].version, ver);
	ck_assert_int_eq(mc_exist(s, "nk", 2), 1);
	/* release when the master frees the block */
	ck_assert_int_eq(mc_remove(s, "nk", 2, false, NULL), 0);
	ck_assert_uint_eq(ncalls, 3);
	ck_assert_int_eq(calls[2].op, 'r');
	ck_assert_uint_eq(calls[2].addr, addr);
	ck_assert_ptr_null(calls[2].key[0] ? calls[2].key : NULL);
	/* a refused prepare fails the put; its block is released */
	fail_prepare = -ENOSPC;
	ck_assert_int_eq(mc_put_start_opts(s, "no", 2, 100, &po, &p, &e),
			 -ENOSPC);
	ck_assert_int_eq(e.code, MC_WRITE_FAIL);
	ck_assert_uint_eq(count_calls('p'), 2);
	ck_assert_uint_eq(count_calls('r'), 2);
	ck_assert_int_eq(mc_put_end_by(s, "no", 2, NULL, false, NULL), -ENOENT);
	/* a refused commit fails the end and drops the put */
	fail_prepare = 0;
	fail_commit = 1; /* a positive answer counts as -EIO */
	ck_assert_int_eq(mc_put_start_opts(s, "nc", 2, 100, &po, &p, NULL), 0);
	mc_put_release(p);
	ck_assert_int_eq(mc_put_end_by(s, "nc", 2, NULL, false, &e), -EIO);
	ck_assert_int_eq(e.code, MC_WRITE_FAIL);
	ck_assert_int_eq(mc_exist(s, "nc", 2), 0);
	ck_assert_uint_eq(count_calls('r'), 3);
	ck_assert_int_eq(mc_put_end_by(s, "nc", 2, NULL, false, NULL), -ENOENT);
	/* never for client segments or our own */
	unsigned before = ncalls;

	ck_assert_int_eq(mount_client(s, SEG1, C1, RBASE, "cl", "c:1"), 0);
	mount_local(s, NULL);
	ck_assert_int_eq(rput(s, "ck", "v", NULL, "cl", 1), 0);
	ck_assert_int_eq(rput(s, "lk", "v", NULL, "localhost", 1), 0);
	ck_assert_int_eq(mc_remove(s, "ck", 2, false, NULL), 0);
	ck_assert_int_eq(mc_remove(s, "lk", 2, false, NULL), 0);
	ck_assert_uint_eq(ncalls, before);
	mc_store_free(s);
}
END_TEST

/*
 * An owner that fails to prepare (it did not answer: a node cut off) is
 * passed over: the put is placed again elsewhere, and the next ones skip
 * that segment for SEG_SHUN_MS while others can take them.
 */
START_TEST(test_owner_failure_places_again)
{
	struct mc_store *s = new_store(true);
	struct mc_remote_req n = node7;
	struct mc_put_opts po = {.remote_ok = true, .prefer = "node7"};
	struct mc_put *p;
	struct mc_err e = {0};

	ck_assert_int_eq(mc_segment_mount_remote(s, &n, NULL), 0);
	/* alone, it is tried PUT_PLACE_TRIES times, then the put fails */
	fail_prepare = -EAGAIN;
	ck_assert_int_eq(mc_put_start_opts(s, "a", 1, 100, &po, &p, &e),
			 -EAGAIN);
	ck_assert_uint_eq(count_calls('p'), PUT_PLACE_TRIES);
	ck_assert_uint_eq(count_calls('r'), PUT_PLACE_TRIES);
	/* with a segment of our own beside it: placed there */
	mount_local(s, NULL);
	advance(SEG_SHUN_MS + 1);
	ck_assert_int_eq(mc_put_start_opts(s, "b", 1, 100, &po, &p, &e), 0);
	ck_assert_uint_eq(count_calls('p'), PUT_PLACE_TRIES + 1);
	ck_assert_int_eq(mc_put_desc(p, 0)->owner.kind, MC_OWNER_SELF);
	mc_put_release(p);
	ck_assert_int_eq(mc_put_end_by(s, "b", 1, NULL, false, NULL), 0);
	/* the next put does not ask the failed owner while it is shunned */
	fail_prepare = 0;
	ck_assert_int_eq(mc_put_start_opts(s, "c", 1, 100, &po, &p, &e), 0);
	ck_assert_uint_eq(count_calls('p'), PUT_PLACE_TRIES + 1);
	ck_assert_int_eq(mc_put_desc(p, 0)->owner.kind, MC_OWNER_SELF);
	mc_put_release(p);
	ck_assert_int_eq(mc_put_end_by(s, "c", 1, NULL, false, NULL), 0);
	/* and asks it again after */
	advance(SEG_SHUN_MS + 1);
	ck_assert_int_eq(mc_put_start_opts(s, "d", 1, 100, &po, &p, &e), 0);
	ck_assert_uint_eq(count_calls('p'), PUT_PLACE_TRIES + 2);
	ck_assert_int_eq(mc_put_desc(p, 0)->owner.kind, MC_OWNER_NODE);
	mc_put_release(p);
	ck_assert_int_eq(mc_put_end_by(s, "d", 1, NULL, false, NULL), 0);
	mc_store_free(s);
}
END_TEST

START_TEST(test_exist_lease_and_batches)
{
	struct mc_store *s = new_store(false);
	struct mc_err e = {0};

	mount_local(s, NULL);
	ck_assert_int_eq(mc_put(s, "a", 1, "1", 1, NULL), 0);
	ck_assert_int_eq(mc_put(s, "b", 1, "2", 1, NULL), 0);
	/* a plain exist leases nothing; ExistKey's does */
	ck_assert_int_eq(mc_exist_ex(s, "a", 1, 0), 1);
	ck_assert_int_eq(mc_remove(s, "a", 1, false, NULL), 0);
	ck_assert_int_eq(mc_exist_ex(s, "b", 1, MC_F_LEASE), 1);
	ck_assert_int_eq(mc_remove(s, "b", 1, false, &e), -EBUSY);
	ck_assert_int_eq(e.code, MC_OBJECT_HAS_LEASE);
	advance(1001);
	mc_store_tick(s);
	ck_assert_int_eq(mc_remove(s, "b", 1, false, NULL), 0);
	ck_assert_int_eq(mc_exist_ex(s, "", 0, 0), -EINVAL);
	ck_assert_int_eq(metric(s, "master_exist_key_requests_total"), 3);
	ck_assert_int_eq(metric(s, "master_exist_key_failures_total"), 1);
	/* batch items are counted by the batch only */
	ck_assert_int_eq(mc_exist_ex(s, "b", 1, MC_F_BATCH), 0);
	ck_assert_int_eq(mc_exist_ex(s, "", 0, MC_F_BATCH), -EINVAL);
	ck_assert_int_eq(metric(s, "master_exist_key_requests_total"), 3);
	mc_batch_count(s, MC_BATCH_EXIST, 2, 1);
	mc_batch_count(s, MC_BATCH_EXIST, 2, 2);
	mc_batch_count(s, MC_BATCH_EXIST, 3, 0);
	ck_assert_int_eq(metric(s, "master_batch_exist_key_requests_total"), 3);
	ck_assert_int_eq(metric(s, "master_batch_exist_key_items_total"), 7);
	ck_assert_int_eq(metric(s, "master_batch_exist_key_failures_total"), 1);
	ck_assert_int_eq(
		metric(s, "master_batch_exist_key_partial_successes_total"), 1);
	ck_assert_int_eq(metric(s, "master_batch_exist_key_failed_items_total"),
			 3);
	/* batch put start and end: no PutStart or PutEnd of their own */
	struct mc_put_opts po = {.batch = true};
	struct mc_put *p;
	double ps = metric(s, "master_put_start_requests_total");
	double pe = metric(s, "master_put_end_requests_total");

	ck_assert_int_eq(mc_put_start_opts(s, "c", 1, 1, &po, &p, NULL), 0);
	mc_put_release(p);
	ck_assert_int_eq(mc_put_end_by(s, "c", 1, NULL, true, NULL), 0);
	ck_assert_int_eq(mc_put_end_by(s, "c", 1, NULL, true, NULL), -ENOENT);
	ck_assert(metric(s, "master_put_start_requests_total") == ps);
	ck_assert(metric(s, "master_put_end_requests_total") == pe);
	ck_assert(metric(s, "master_put_end_failures_total") == 0);
	mc_batch_count(s, MC_BATCH_PUT_START, 1, 0);
	mc_batch_count(s, MC_BATCH_PUT_END, 2, 1);
	ck_assert_int_eq(metric(s, "master_batch_put_start_items_total"), 1);
	ck_assert_int_eq(metric(s, "master_batch_put_end_items_total"), 2);
	ck_assert_int_eq(
		metric(s, "master_batch_put_end_partial_successes_total"), 1);
	/* a batch's revokes, done or refused: no PutRevoke of their own */
	ck_assert_int_eq(mc_put_start_opts(s, "r", 1, 1, &po, &p, NULL), 0);
	mc_put_release(p);
	ck_assert_int_eq(mc_put_revoke_by(s, "r", 1, NULL, true, NULL), 0);
	ck_assert_int_eq(mc_put_revoke_by(s, "r", 1, NULL, true, NULL),
			 -ENOENT);
	ck_assert_int_eq(mc_put_revoke_by(s, "", 0, NULL, true, NULL), -EINVAL);
	ck_assert_int_eq(metric(s, "master_put_revoke_requests_total"), 0);
	ck_assert_int_eq(metric(s, "master_put_revoke_failures_total"), 0);
	ck_assert_int_eq(metric(s, "master_batch_put_revoke_requests_total"),
			 0);
	mc_batch_count(s, MC_BATCH_PUT_REVOKE, 3, 2);
	mc_batch_count(s, MC_BATCH_PUT_REVOKE, 1, 1);
	ck_assert_int_eq(metric(s, "master_batch_put_revoke_requests_total"),
			 2);
	ck_assert_int_eq(metric(s, "master_batch_put_revoke_items_total"), 4);
	ck_assert_int_eq(metric(s, "master_batch_put_revoke_failures_total"),
			 1);
	ck_assert_int_eq(
		metric(s, "master_batch_put_revoke_partial_successes_total"),
		1);
	ck_assert_int_eq(
		metric(s, "master_batch_put_revoke_failed_items_total"), 3);
	/* a single revoke still counts one PutRevoke */
	ck_assert_int_eq(mc_put_revoke_by(s, "r", 1, NULL, false, NULL),
			 -ENOENT);
	ck_assert_int_eq(metric(s, "master_put_revoke_requests_total"), 1);
	ck_assert_int_eq(metric(s, "master_put_revoke_failures_total"), 1);
	/* a query as a batch item counts no GetReplicaList */
	struct mc_desc d;
	double g = metric(s, "master_get_replica_list_requests_total");

	ck_assert_int_eq(mc_query_ex(s, "c", 1, MC_F_BATCH, &d, 1, NULL), 1);
	ck_assert(metric(s, "master_get_replica_list_requests_total") == g);
	mc_store_free(s);
}
END_TEST

static Suite *remote_suite(void)
{
	Suite *s = suite_create("remote");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_mount_remote_table);
	tcase_add_test(tc, test_mount_remote_info);
	tcase_add_test(tc, test_pins_never_match_remote);
	tcase_add_test(tc, test_placement);
	tcase_add_test(tc, test_writers_and_versions);
	tcase_add_test(tc, test_timeout_keeps_writer_rules);
	tcase_add_test(tc, test_remote_only_get);
	tcase_add_test(tc, test_remote_only_without_hooks);
	tcase_add_test(tc, test_segment_gone_during_read);
	tcase_add_test(tc, test_unmount_drops_remote_replicas);
	tcase_add_test(tc, test_clients_ping_and_expiry);
	tcase_add_test(tc, test_owner_hooks);
	tcase_add_test(tc, test_owner_failure_places_again);
	tcase_add_test(tc, test_exist_lease_and_batches);
	suite_add_tcase(s, tc);
	return s;
}

MC_CHECK_MAIN(remote_suite)
