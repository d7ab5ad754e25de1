/*
 * check_transfer.c - the transfer port against a real store: the framing,
 * READ and WRITE over loopback with v1 and v2 requests, hostile headers,
 * the two-phase put, dying and stalling clients, many connections,
 * READs racing replaces and removes, and the metrics. The RDMA transport
 * over a fake device layer is tests/check_rdma.c.
 */
#include "autoconfig.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <arpa/inet.h>

#include "check.h"
#include "metrics.h"
#include "mooncake.h"
#include "frame.h"
#include "xfer.h"
#include "xfer_client.h"

static struct mc_store *S;
static struct xfer *X;
static unsigned PORT;
static _Atomic uint64_t fake_now = 1000000;

static uint64_t test_clock(void *arg)
{
	return atomic_load((_Atomic uint64_t *)arg);
}

static void start_port_n(unsigned stall_ms, unsigned replicas)
{
	struct mc_store_opts so;
	struct xfer_opts xo = {.host = "127.0.0.1",
			       .protocol = "tcp",
			       .device = "",
			       .stall_ms = stall_ms};
	struct mc_mount_req mr = {.size = 64ull << 20};
	struct mc_mount_result res = {0};
	struct mc_err err = {0};

	mc_store_opts_default(&so);
	so.replica_num = replicas;
	so.manual_tick = true;
	so.now_ms = test_clock;
	so.clock_arg = &fake_now;
	so.put_timeout_ms = 5000;
	X = xfer_new(&xo, &so, &err);
	ck_assert_msg(X, "xfer_new: %s", err.msg);
	S = mc_store_new(&so, NULL);
	ck_assert_ptr_nonnull(S);
	for (unsigned i = 0; i < replicas; i++) {
		ck_assert_int_eq(mc_segment_mount(S, &mr, &res, NULL), 0);
		free(res.ids);
	}
	ck_assert_msg(xfer_start(X, S, &err) == 0, "xfer_start: %s", err.msg);
	PORT = xfer_port(X);
	ck_assert_uint_ne(PORT, 0);
}

static void start_port(unsigned stall_ms)
{
	start_port_n(stall_ms, 1);
}

static void setup(void)
{
	start_port(0);
}

static void teardown(void)
{
	xfer_free(X);
	mc_store_free(S);
	X = NULL;
	S = NULL;
}

static int conn(void)
{
	int fd = xc_connect("127.0.0.1", PORT);

	ck_assert_int_ge(fd, 0);
	return fd;
}

static void put_fill(const char *key, size_t size, unsigned char fill)
{
	unsigned char *v = malloc(size);

	memset(v, fill, size);
	ck_assert_int_eq(mc_put(S, key, strlen(key), v, size, NULL), 0);
	free(v);
}

/* A value whose bytes all differ from their neighbours' (catches shifts). */
static unsigned char *pattern(size_t size, unsigned seed)
{
	unsigned char *v = malloc(size);

	for (size_t i = 0; i < size; i++)
		v[i] = (unsigned char)(i * 131 + seed * 7 + (i >> 8));
	return v;
}

static struct mc_desc query(const char *key)
{
	struct mc_desc d[MC_REPLICA_MAX];
	int n = mc_query(S, key, strlen(key), d, MC_REPLICA_MAX);

	ck_assert_int_ge(n, 1);
	return d[0];
}

static double metric(const char *family, const char *dir)
{
	struct mc_family *f = mc_metrics_find(mc_store_metrics(S), family);
	const char *v[1] = {dir};

	ck_assert_msg(f, "no family %s", family);
	return mc_series_value(mc_family_series(f, v));
}

/* ------------------------------------------------------------ framing */

START_TEST(test_framing)
{
	struct xfer_hdr h = {.size = 0x0102030405060708ull,
			     .addr = 0x1112131415161718ull,
			     .opcode = 0x81},
			g;
	unsigned char w[XFER_HDR_LEN], st[XFER_STATUS_LEN];
	static const unsigned char want[XFER_HDR_LEN] = {
		8,    7,    6,	  5,	4,    3, 2, 1, 0x18, 0x17, 0x16, 0x15,
		0x14, 0x13, 0x12, 0x11, 0x81, 0, 0, 0, 0,    0,	   0,	 0};

	xfer_hdr_encode(&h, w);
	ck_assert_mem_eq(w, want, sizeof(want));
	memset(w + 17, 0xff, 7); /* padding is ignored */
	xfer_hdr_decode(w, &g);
	ck_assert_uint_eq(g.size, h.size);
	ck_assert_uint_eq(g.addr, h.addr);
	ck_assert_uint_eq(g.opcode, h.opcode);

	xfer_status_encode(1, st);
	static const unsigned char rej[8] = {1,	   0,	 0,    0,
					     0x56, 0x54, 0x43, 0x4d};
	ck_assert_mem_eq(st, rej, 8);
	ck_assert_int_eq(xfer_status_decode(st), 1);
	xfer_status_encode(0, st);
	ck_assert_int_eq(xfer_status_decode(st), 0);
	st[7] = 0;
	ck_assert_int_eq(xfer_status_decode(st), -1);
}
END_TEST

/* --------------------------------------------------------------- READ */

START_TEST(test_read_v1_v2)
{
	static const size_t sizes[] = {1, 7, 4096, 65537, 3 << 20};
	unsigned char *got;
	int fd = conn();

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char key[32];
		unsigned char *v = pattern(sizes[i], (unsigned)i);

		snprintf(key, sizeof(key), "k%zu", i);
		ck_assert_int_eq(mc_put(S, key, strlen(key), v, sizes[i], NULL),
				 0);
		struct mc_desc d = query(key);
		ck_assert_uint_eq(d.size, sizes[i]);
		got = malloc(sizes[i]);
		/* Both versions, many requests on one connection. */
		for (int v2 = 0; v2 < 2; v2++) {
			memset(got, 0, sizes[i]);
			ck_assert_int_eq(xc_read(fd, d.addr, d.size, v2, got),
					 XC_OK);
			ck_assert_mem_eq(got, v, sizes[i]);
		}
		/* A range inside the replica is a replica range too. */
		if (sizes[i] > 2) {
			ck_assert_int_eq(
				xc_read(fd, d.addr + 1, d.size - 2, true, got),
				XC_OK);
			ck_assert_mem_eq(got, v + 1, sizes[i] - 2);
		}
		free(got);
		free(v);
	}
	close(fd);
	ck_assert_double_ge(metric("mooncake_transfer_requests_total", "read"),
			    14);
	ck_assert_double_eq(
		metric("mooncake_transfer_rejections_total", "read"), 0);
}
END_TEST

START_TEST(test_metrics_precreated)
{
	static const char *fam[] = {"mooncake_transfer_bytes_total",
				    "mooncake_transfer_requests_total",
				    "mooncake_transfer_rejections_total"};
	unsigned char buf[100];

	for (int i = 0; i < 3; i++) {
		ck_assert_double_eq(metric(fam[i], "read"), 0);
		ck_assert_double_eq(metric(fam[i], "write"), 0);
	}
	put_fill("m", 100, 'm');
	struct mc_desc d = query("m");
	int fd = conn();
	ck_assert_int_eq(xc_read(fd, d.addr, 100, true, buf), XC_OK);
	ck_assert_int_eq(xc_read(fd, d.addr, 100, false, buf), XC_OK);
	close(fd);
	/* The loop counts after sending; wait for it to get there. */
	for (int i = 0; i < 200 && metric(fam[0], "read") < 200; i++)
		usleep(10000);
	ck_assert_double_eq(metric(fam[0], "read"), 200);
	ck_assert_double_eq(metric(fam[1], "read"), 2);
	ck_assert_double_eq(metric(fam[0], "write"), 0);
}
END_TEST

/*
 * Hostile requests: each is answered with status 1 (v2) and then the
 * connection closes, or (v1, unknown opcodes) just closes. The store's
 * bytes stay as they were.
 */
START_TEST(test_rejected)
{
	put_fill("a", 4096, 'a');
	put_fill("b", 8192, 'b');
	struct mc_desc a = query("a"), b = query("b");
	uint64_t lo = a.addr < b.addr ? a.addr : b.addr;
	uint64_t hi =
		a.addr + 4096 > b.addr + 8192 ? a.addr + 4096 : b.addr + 8192;
	static unsigned char stack_byte;
	struct {
		const char *what;
		uint64_t addr, size;
		unsigned op;
	} t[] = {
		{"size 0", a.addr, 0, 0},
		{"address 0", 0, 1, 0},
		{"address 1", 1, 4096, 0},
		{"one before the replica", a.addr - 1, 2, 0},
		{"one past the end", a.addr + 1, 4096, 0},
		{"just past the last replica", hi, 1, 0},
		{"size past the end", a.addr, 4097, 0},
		{"overflowing range", a.addr, UINT64_MAX, 0},
		{"wrapping range", UINT64_MAX - 10, 100, 0},
		{"top of the address space", UINT64_MAX, 1, 0},
		{"memory outside the store", (uintptr_t)&stack_byte, 1, 0},
		{"spanning two replicas", lo, 4096 + 8192 + (1 << 20), 0},
		{"write to a published replica", a.addr, 4096, 1},
		{"write to a published range", b.addr + 10, 10, 1},
		{"write size 0", a.addr, 0, 1},
		{"write outside the store", (uintptr_t)&stack_byte, 1, 1},
		{"write wrapping", UINT64_MAX - 1, 4, 1},
	};
	unsigned char buf[64];
	double rej0 = metric("mooncake_transfer_rejections_total", "read") +
		      metric("mooncake_transfer_rejections_total", "write");
	unsigned nrej = 0;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		for (int v2 = 0; v2 < 2; v2++) {
			int fd = conn();

			ck_assert_int_eq(xc_header(fd, t[i].op, t[i].addr,
						   t[i].size, v2),
					 0);
			if (v2)
				ck_assert_msg(xc_status(fd) == XC_REJECTED,
					      "%s: no status 1", t[i].what);
			ck_assert_msg(xc_closed(fd), "%s (v%d): still open",
				      t[i].what, v2 + 1);
			close(fd);
			nrej++;
		}
	}
	/* Unknown opcodes close the connection without a status. */
	static const unsigned ops[] = {2, 3, 0x7f, 0x82, 0xff, 0x40};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		int fd = conn();
		unsigned char w[XFER_HDR_LEN];
		struct xfer_hdr h = {.size = 4096, .addr = a.addr};

		xfer_hdr_encode(&h, w);
		w[16] = (unsigned char)ops[i];
		ck_assert_int_eq(xc_send_all(fd, w, sizeof(w)), 0);
		ck_assert_msg(xc_closed(fd), "opcode 0x%x: still open", ops[i]);
		close(fd);
	}
	/* A good request after a rejection needs a new connection. */
	int fd = conn();
	ck_assert_int_eq(xc_read(fd, a.addr, 64, true, buf), XC_OK);
	close(fd);
	ck_assert_int_eq(mc_get_copy(S, "a", 1, 0, buf, 64), 64);
	for (int i = 0; i < 64; i++)
		ck_assert_uint_eq(buf[i], 'a');
	for (int i = 0; i < 200; i++) {
		double r =
			metric("mooncake_transfer_rejections_total", "read") +
			metric("mooncake_transfer_rejections_total", "write");
		if (r >= rej0 + nrej)
			break;
		usleep(10000);
	}
	ck_assert_double_eq(
		metric("mooncake_transfer_rejections_total", "read") +
			metric("mooncake_transfer_rejections_total", "write"),
		rej0 + nrej);
}
END_TEST

/* Partial headers arriving a byte at a time still make one request. */
START_TEST(test_header_in_pieces)
{
	put_fill("p", 300, 'p');
	struct mc_desc d = query("p");
	struct xfer_hdr h = {
		.size = 300, .addr = d.addr, .opcode = XFER_OP_READ | XFER_V2};
	unsigned char w[XFER_HDR_LEN], buf[300];
	int fd = conn();

	xfer_hdr_encode(&h, w);
	for (int i = 0; i < XFER_HDR_LEN; i++) {
		ck_assert_int_eq(xc_send_all(fd, w + i, 1), 0);
		usleep(1000);
	}
	ck_assert_int_eq(xc_status(fd), XC_OK);
	ck_assert_int_eq(xc_recv_all(fd, buf, 300), 0);
	for (int i = 0; i < 300; i++)
		ck_assert_uint_eq(buf[i], 'p');
	/* Two requests in one segment are two requests. */
	unsigned char two[2 * XFER_HDR_LEN];
	memcpy(two, w, XFER_HDR_LEN);
	memcpy(two + XFER_HDR_LEN, w, XFER_HDR_LEN);
	ck_assert_int_eq(xc_send_all(fd, two, sizeof(two)), 0);
	for (int k = 0; k < 2; k++) {
		ck_assert_int_eq(xc_status(fd), XC_OK);
		ck_assert_int_eq(xc_recv_all(fd, buf, 300), 0);
		ck_assert_uint_eq(buf[299], 'p');
	}
	close(fd);
}
END_TEST

/* ---------------------------------------------------- two-phase puts */

START_TEST(test_put_write_end)
{
	struct mc_put *p;
	size_t size = (1 << 20) + 3;
	unsigned char *v = pattern(size, 9), *got = malloc(size);

	for (int v2 = 0; v2 < 2; v2++) {
		const char *key = v2 ? "w2" : "w1";

		ck_assert_int_eq(mc_put_start(S, key, 2, size, &p, NULL), 0);
		ck_assert_uint_ge(mc_put_ndesc(p), 1);
		const struct mc_desc *d = mc_put_desc(p, 0);
		ck_assert_uint_eq(d->size, size);
		uint64_t addr = d->addr;
		mc_put_release(p);
		/* An open put is not readable yet. */
		int fd = conn();
		ck_assert_int_eq(xc_read(fd, addr, size, true, got),
				 XC_REJECTED);
		close(fd);
		ck_assert_int_eq(mc_exist(S, key, 2), 0);

		fd = conn();
		/* (v1 has no status: xc_write confirms it with a v2 probe.) */
		ck_assert_int_eq(xc_write(fd, addr, size, v2, v), XC_OK);
		close(fd);
		/* As HTTP put_end does: by key. */
		ck_assert_int_eq(mc_put_end(S, key, 2, NULL), 0);

		ck_assert_int_eq(mc_get_copy(S, key, 2, 0, got, size),
				 (int64_t)size);
		ck_assert_mem_eq(got, v, size);
		/* Now readable through the port, and no longer writable. */
		struct mc_desc q = query(key);
		fd = conn();
		ck_assert_int_eq(xc_read(fd, q.addr, size, true, got), XC_OK);
		ck_assert_mem_eq(got, v, size);
		ck_assert_int_eq(xc_header(fd, XFER_OP_WRITE, q.addr, 1, true),
				 0);
		ck_assert_int_eq(xc_status(fd), XC_REJECTED);
		close(fd);
	}
	ck_assert_double_ge(metric("mooncake_transfer_bytes_total", "write"),
			    2.0 * size);
	free(v);
	free(got);
}
END_TEST

/* A put ended without its bytes written is a whole object of its size. */
START_TEST(test_put_end_unwritten)
{
	struct mc_put *p;
	uint64_t size = 0;

	ck_assert_int_eq(mc_put_start(S, "u", 1, 5000, &p, NULL), 0);
	uint64_t addr = mc_put_desc(p, 0)->addr;
	mc_put_release(p);
	ck_assert_int_eq(mc_put_end(S, "u", 1, NULL), 0);
	ck_assert_int_eq(mc_stat(S, "u", 1, &size), 0);
	ck_assert_uint_eq(size, 5000);
	struct mc_desc d = query("u");
	ck_assert_uint_eq(d.size, 5000);
	unsigned char *a = malloc(5000), *b = malloc(5000);
	int fd = conn();
	ck_assert_int_eq(xc_read(fd, d.addr, 5000, true, a), XC_OK);
	close(fd);
	ck_assert_int_eq(mc_get_copy(S, "u", 1, 0, b, 5000), 5000);
	ck_assert_mem_eq(a, b, 5000);
	/* The buffer is published now: a late WRITE to it is refused. */
	fd = conn();
	ck_assert_int_eq(xc_header(fd, XFER_OP_WRITE, addr, 1, true), 0);
	ck_assert_int_eq(xc_status(fd), XC_REJECTED);
	close(fd);
	free(a);
	free(b);
}
END_TEST

START_TEST(test_put_revoke_and_timeout)
{
	struct mc_put *p;
	struct mc_usage u0, u;
	unsigned char buf[4096];

	memset(buf, 'r', sizeof(buf));
	put_fill("r", 4096, 'o'); /* an old value survives */
	mc_store_usage(S, &u0);
	for (int timeout = 0; timeout < 2; timeout++) {
		ck_assert_int_eq(mc_put_start(S, "r", 1, 4096, &p, NULL), 0);
		uint64_t addr = mc_put_desc(p, 0)->addr;
		mc_put_release(p);
		int fd = conn();
		ck_assert_int_eq(xc_write(fd, addr, 4096, true, buf), XC_OK);
		if (timeout) {
			atomic_fetch_add(&fake_now, 60000);
			mc_store_tick(S);
		} else {
			ck_assert_int_eq(mc_put_revoke(S, "r", 1, NULL), 0);
		}
		/* The buffer is no longer writable ... */
		ck_assert_int_eq(xc_write(fd, addr, 4096, true, buf),
				 XC_REJECTED);
		close(fd);
		/* ... the put is gone, the old value stays ... */
		ck_assert_int_eq(mc_put_end(S, "r", 1, NULL), -ENOENT);
		ck_assert_int_eq(mc_get_copy(S, "r", 1, 0, buf, 1), 1);
		ck_assert_uint_eq(buf[0], 'o');
		memset(buf, 'r', sizeof(buf));
		/* ... and its space is free again. */
		mc_store_tick(S);
		mc_store_usage(S, &u);
		ck_assert_uint_eq(u.pending_puts, 0);
		ck_assert_uint_eq(u.used, u0.used);
	}
}
END_TEST

/*
 * A client that dies in the middle of a WRITE: nothing is published, the
 * put stays open (it can still be finished or revoked), and the
 * connection's pin does not keep the space after the revoke.
 */
START_TEST(test_write_client_dies)
{
	struct mc_put *p;
	struct mc_usage u0, u;
	unsigned char buf[65536];

	memset(buf, 'd', sizeof(buf));
	mc_store_usage(S, &u0);
	ck_assert_int_eq(mc_put_start(S, "d", 1, sizeof(buf), &p, NULL), 0);
	uint64_t addr = mc_put_desc(p, 0)->addr;
	mc_put_release(p);
	int fd = conn();
	ck_assert_int_eq(xc_header(fd, XFER_OP_WRITE, addr, sizeof(buf), true),
			 0);
	ck_assert_int_eq(xc_send_all(fd, buf, 1000), 0);
	usleep(50000);
	close(fd);
	usleep(50000);
	ck_assert_int_eq(mc_exist(S, "d", 1), 0);
	ck_assert_int_eq(mc_put_revoke(S, "d", 1, NULL), 0);
	ck_assert_int_eq(mc_exist(S, "d", 1), 0);
	for (int i = 0; i < 100; i++) {
		mc_store_tick(S);
		mc_store_usage(S, &u);
		if (u.used == u0.used)
			break;
		usleep(10000);
	}
	ck_assert_uint_eq(u.used, u0.used);
	ck_assert_uint_eq(u.pending_puts, 0);
}
END_TEST

/*
 * A v1 writer (no status: it is done when its bytes are sent) that stalls
 * in the middle of a WRITE while put_end runs: put_end must not publish a
 * buffer still being written. It waits a little, then refuses (the put
 * stays open) and readers keep the old value; once the WRITE is whole,
 * put_end publishes all of it.
 */
START_TEST(test_put_end_waits_for_writer)
{
	struct mc_put *p;
	size_t size = 1 << 20;
	unsigned char *v = pattern(size, 21), *got = malloc(size);
	struct mc_err e = {0};

	put_fill("sw", size, 'o');
	for (int v2 = 0; v2 < 2; v2++) {
		ck_assert_int_eq(mc_put_start(S, "sw", 2, size, &p, NULL), 0);
		uint64_t addr = mc_put_desc(p, 0)->addr;
		mc_put_release(p);
		int fd = conn();
		ck_assert_int_eq(xc_header(fd, XFER_OP_WRITE, addr, size, v2),
				 0);
		ck_assert_int_eq(xc_send_all(fd, v, size / 2), 0);
		usleep(100000); /* the half has arrived, the rest has not */
		ck_assert_int_eq(mc_put_end(S, "sw", 2, &e), -EBUSY);
		ck_assert_msg(strstr(e.msg, "in flight"), "%s", e.msg);
		/* nothing was published: the old value, whole */
		ck_assert_int_eq(mc_get_copy(S, "sw", 2, 0, got, size),
				 (int64_t)size);
		for (size_t i = 0; i < size; i++)
			if (got[i] != 'o')
				ck_abort_msg("byte %zu of the old value", i);
		/* the writer finishes: the put ends with every new byte */
		ck_assert_int_eq(xc_send_all(fd, v + size / 2, size - size / 2),
				 0);
		if (v2)
			ck_assert_int_eq(xc_status(fd), XC_OK);
		int rc;
		for (int i = 0; i < 100; i++) {
			rc = mc_put_end(S, "sw", 2, &e);
			if (rc != -EBUSY)
				break;
		}
		ck_assert_int_eq(rc, 0);
		ck_assert_int_eq(mc_get_copy(S, "sw", 2, 0, got, size),
				 (int64_t)size);
		ck_assert_mem_eq(got, v, size);
		close(fd);
		put_fill("sw", size, 'o');
	}
	free(v);
	free(got);
}
END_TEST

/*
 * A v1 WRITE is done for its client once sent, and the client's put_end
 * (here at once, in this thread) may come before the port has even
 * accepted the connection, or read the header on a pooled one: put_end
 * must wait for those bytes, not publish a buffer without them and
 * refuse the WRITE. Each round must publish the new value whole.
 */
START_TEST(test_put_end_v1_unread)
{
	enum { ROUNDS = 20, SIZE = 16 << 10 };
	unsigned char *got = malloc(SIZE);
	int pooled = conn();

	for (int r = 0; r < 2 * ROUNDS; r++) {
		unsigned char *v = pattern(SIZE, 40 + (unsigned)r);
		bool fresh = r < ROUNDS;
		struct mc_put *p;

		ck_assert_int_eq(mc_put_start(S, "v1u", 3, SIZE, &p, NULL), 0);
		uint64_t addr = mc_put_desc(p, 0)->addr;
		mc_put_release(p);
		int fd = fresh ? conn() : pooled;
		ck_assert_int_eq(
			xc_header(fd, XFER_OP_WRITE, addr, SIZE, false), 0);
		ck_assert_int_eq(xc_send_all(fd, v, SIZE), 0);
		ck_assert_int_eq(mc_put_end(S, "v1u", 3, NULL), 0);
		ck_assert_int_eq(mc_get_copy(S, "v1u", 3, 0, got, SIZE), SIZE);
		ck_assert_msg(!memcmp(got, v, SIZE),
			      "round %d (%s connection): the value published "
			      "is not the one written",
			      r, fresh ? "a new" : "a pooled");
		if (fresh)
			close(fd);
		free(v);
	}
	/* the pooled connection still serves: no WRITE of it was refused */
	struct mc_desc d = query("v1u");
	ck_assert_int_eq(xc_read(pooled, d.addr, SIZE, true, got), XC_OK);
	close(pooled);
	free(got);
}
END_TEST

/*
 * The put timeout with a writer stalled mid-WRITE revokes the put and
 * publishes nothing; the WRITE, finished later, is told (v2 status 1).
 * A WRITE that starts while put_end waits for another one is refused.
 */
START_TEST(test_put_timeout_with_writer)
{
	struct mc_put *p;
	size_t size = 256 << 10;
	unsigned char *v = pattern(size, 22);

	ck_assert_int_eq(mc_put_start(S, "tw", 2, size, &p, NULL), 0);
	uint64_t addr = mc_put_desc(p, 0)->addr;
	mc_put_release(p);
	int fd = conn();
	ck_assert_int_eq(xc_header(fd, XFER_OP_WRITE, addr, size, true), 0);
	ck_assert_int_eq(xc_send_all(fd, v, 1000), 0);
	usleep(50000);
	atomic_fetch_add(&fake_now, 60000);
	mc_store_tick(S);
	ck_assert_int_eq(mc_exist(S, "tw", 2), 0);
	ck_assert_int_eq(mc_put_end(S, "tw", 2, NULL), -ENOENT);
	ck_assert_int_eq(xc_send_all(fd, v + 1000, size - 1000), 0);
	ck_assert_int_eq(xc_status(fd), XC_REJECTED);
	close(fd);
	ck_assert_int_eq(mc_exist(S, "tw", 2), 0);
	free(v);
}
END_TEST

/* A stalled request is closed and its pin released. */
START_TEST(test_stall)
{
	struct mc_put *p;
	unsigned char buf[100] = {0};

	teardown();
	start_port(300);
	ck_assert_int_eq(mc_put_start(S, "s", 1, 4096, &p, NULL), 0);
	uint64_t addr = mc_put_desc(p, 0)->addr;
	mc_put_release(p);
	int fd = conn();
	ck_assert_int_eq(xc_header(fd, XFER_OP_WRITE, addr, 4096, true), 0);
	ck_assert_int_eq(xc_send_all(fd, buf, 100), 0);
	ck_assert(xc_closed(fd));
	close(fd);
	/* Half a header is a stall too; an idle connection is not. */
	int idle = conn();
	fd = conn();
	ck_assert_int_eq(xc_send_all(fd, buf, 10), 0);
	ck_assert(xc_closed(fd));
	close(fd);
	put_fill("i", 100, 'i');
	struct mc_desc d = query("i");
	ck_assert_int_eq(xc_read(idle, d.addr, 100, true, buf), XC_OK);
	ck_assert_uint_eq(buf[99], 'i');
	close(idle);
	ck_assert_int_eq(mc_put_revoke(S, "s", 1, NULL), 0);
}
END_TEST

/*
 * A large WRITE whose payload trickles in (8 pieces 300 ms apart, longer
 * in all than the 1.5 s stall limit, each gap far shorter, valgrind's
 * pace included): the loop reads
 * it only once it is all in (its wake-up mark), yet the bytes coming in
 * unread count as progress, so the connection is not closed as stalled;
 * the put is whole, and a READ right after on the same connection is
 * answered at once (the mark is back to one byte for its header).
 */
START_TEST(test_write_trickle)
{
	size_t size = 1 << 20, piece = size / 8;
	unsigned char *v = pattern(size, 4), *got = malloc(size);
	struct timespec t0, t1;
	struct mc_put *p;

	teardown();
	start_port(1500);
	ck_assert_int_eq(mc_put_start(S, "t", 1, size, &p, NULL), 0);
	uint64_t addr = mc_put_desc(p, 0)->addr;
	mc_put_release(p);
	int fd = conn();
	ck_assert_int_eq(xc_header(fd, XFER_OP_WRITE, addr, size, true), 0);
	for (size_t at = 0; at < size; at += piece) {
		usleep(300000);
		ck_assert_int_eq(xc_send_all(fd, v + at, piece), 0);
	}
	ck_assert_int_eq(xc_status(fd), XC_OK);
	ck_assert_int_eq(mc_put_end(S, "t", 1, NULL), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(xc_read(fd, addr, 100, true, got), XC_OK);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_lt((t1.tv_sec - t0.tv_sec) * 1000 +
				 (t1.tv_nsec - t0.tv_nsec) / 1000000,
			 1000);
	close(fd);
	ck_assert_int_eq(mc_get_copy(S, "t", 1, 0, got, size), (int64_t)size);
	ck_assert_mem_eq(got, v, size);
	free(v);
	free(got);
}
END_TEST

/* Two replicas: put_start hands out one buffer each, written separately. */
START_TEST(test_put_two_replicas)
{
	struct mc_put *p;
	struct mc_desc d[MC_REPLICA_MAX];
	unsigned char *v = pattern(100000, 3), *got = malloc(100000);

	teardown();
	start_port_n(0, 2);
	ck_assert_int_eq(mc_put_start(S, "two", 3, 100000, &p, NULL), 0);
	ck_assert_uint_eq(mc_put_ndesc(p), 2);
	uint64_t a0 = mc_put_desc(p, 0)->addr, a1 = mc_put_desc(p, 1)->addr;
	mc_put_release(p);
	ck_assert_uint_ne(a0, a1);
	int fd = conn();
	ck_assert_int_eq(xc_write(fd, a0, 100000, true, v), XC_OK);
	ck_assert_int_eq(xc_write(fd, a1, 100000, true, v), XC_OK);
	close(fd);
	ck_assert_int_eq(mc_put_end(S, "two", 3, NULL), 0);
	ck_assert_int_eq(mc_query(S, "two", 3, d, MC_REPLICA_MAX), 2);
	fd = conn();
	for (int i = 0; i < 2; i++) {
		memset(got, 0, 100000);
		ck_assert_int_eq(xc_read(fd, d[i].addr, 100000, true, got),
				 XC_OK);
		ck_assert_mem_eq(got, v, 100000);
	}
	/* one replica's range does not run into the other's */
	uint64_t lo = d[0].addr < d[1].addr ? d[0].addr : d[1].addr;
	ck_assert_int_eq(xc_read(fd, lo, 100001, true, got), XC_REJECTED);
	close(fd);
	free(v);
	free(got);
}
END_TEST

/* A read lease keeps a replaced version readable, whole, until it ends. */
START_TEST(test_leased_old_version)
{
	unsigned char buf[5000];

	put_fill("old", 5000, 'o');
	struct mc_desc d = query("old"); /* grants the lease */
	put_fill("old", 5000, 'n');
	int fd = conn();
	ck_assert_int_eq(xc_read(fd, d.addr, 5000, true, buf), XC_OK);
	for (int i = 0; i < 5000; i++)
		ck_assert_uint_eq(buf[i], 'o');
	close(fd);
	/* once the lease is over, the old buffer goes */
	atomic_fetch_add(&fake_now, 3600 * 1000);
	mc_store_tick(S);
	struct mc_desc n = query("old");
	fd = conn();
	int rc = xc_read(fd, d.addr, 5000, true, buf);
	if (n.addr == d.addr) {
		/* the space was reused by the new version itself */
		ck_assert_int_eq(rc, XC_OK);
		ck_assert_uint_eq(buf[0], 'n');
	} else {
		ck_assert_int_eq(rc, XC_REJECTED);
	}
	close(fd);
}
END_TEST

/* ------------------------------------------------------- concurrency */

#define NKEYS 4
static const size_t key_size[NKEYS] = {4096, 100, 65536, 1 << 20};
static unsigned char *key_val[NKEYS];
static struct mc_desc key_desc[NKEYS];
static _Atomic int bad_reads;
static _Atomic unsigned reader_no;

static void *reader(void *arg)
{
	int n = (int)(intptr_t)arg;
	unsigned me = atomic_fetch_add(&reader_no, 1);
	int fd = xc_connect("127.0.0.1", PORT);
	unsigned char *buf = malloc(1 << 20);

	for (int i = 0; fd >= 0 && i < n; i++) {
		unsigned k = (me + (unsigned)i) % NKEYS;

		if (xc_read(fd, key_desc[k].addr, key_size[k], i & 1, buf) ||
		    memcmp(buf, key_val[k], key_size[k]))
			atomic_fetch_add(&bad_reads, 1);
	}
	if (fd < 0)
		atomic_fetch_add(&bad_reads, n);
	else
		close(fd);
	free(buf);
	return NULL;
}

START_TEST(test_many_connections)
{
	int nthr = mc_test_quick() ? 8 : 32, nreq = mc_test_quick() ? 10 : 100;
	pthread_t th[32];

	for (int k = 0; k < NKEYS; k++) {
		char key[8];

		snprintf(key, sizeof(key), "c%d", k);
		key_val[k] = pattern(key_size[k], (unsigned)k);
		ck_assert_int_eq(mc_put(S, key, strlen(key), key_val[k],
					key_size[k], NULL),
				 0);
		key_desc[k] = query(key);
	}
	/* Idle connections must not hold anything up. */
	int idle[64];
	for (int i = 0; i < 64; i++)
		idle[i] = conn();
	for (int i = 0; i < nthr; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, reader,
						(void *)(intptr_t)nreq),
				 0);
	for (int i = 0; i < nthr; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 64; i++)
		close(idle[i]);
	ck_assert_int_eq(bad_reads, 0);
	for (int k = 0; k < NKEYS; k++)
		free(key_val[k]);
}
END_TEST

/*
 * READs racing replaces and removes: every value has its own fill byte,
 * and each READ returns one whole value or is rejected.
 */
#define RACE_SIZE 65536
static _Atomic int race_stop;
static _Atomic uint64_t race_addr;
static _Atomic int race_mixed, race_ok, race_rejected;

static void *race_writer(void *arg)
{
	unsigned char *v = malloc(RACE_SIZE);
	int n = 0;

	while (!atomic_load(&race_stop)) {
		struct mc_ref *r;

		memset(v, 1 + n % 250, RACE_SIZE);
		if (n % 7 == 6)
			mc_remove(S, "race", 4, true, NULL);
		else
			mc_put(S, "race", 4, v, RACE_SIZE, NULL);
		if (mc_get(S, "race", 4, &r) == 0) {
			atomic_store(&race_addr, (uintptr_t)mc_ref_data(r));
			mc_ref_release(r);
		}
		n++;
		usleep(20);
	}
	free(v);
	return NULL;
}

static void *race_reader(void *arg)
{
	unsigned char *buf = malloc(RACE_SIZE);
	int n = (int)(intptr_t)arg, fd = -1;

	for (int i = 0; i < n; i++) {
		if (fd < 0)
			fd = xc_connect("127.0.0.1", PORT);
		int rc = xc_read(fd, atomic_load(&race_addr), RACE_SIZE, true,
				 buf);
		if (rc == XC_OK) {
			int mixed = 0;
			for (int j = 1; j < RACE_SIZE; j++)
				mixed |= buf[j] != buf[0];
			if (mixed || buf[0] == 0)
				atomic_fetch_add(&race_mixed, 1);
			atomic_fetch_add(&race_ok, 1);
		} else {
			if (rc != XC_REJECTED)
				atomic_fetch_add(&race_mixed, 1);
			atomic_fetch_add(&race_rejected, 1);
			close(fd);
			fd = -1;
		}
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

START_TEST(test_read_races_replace)
{
	int n = mc_test_quick() ? 200 : 2000;
	pthread_t w, r[4];

	put_fill("race", RACE_SIZE, 1);
	atomic_store(&race_addr, query("race").addr);
	ck_assert_int_eq(pthread_create(&w, NULL, race_writer, NULL), 0);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&r[i], NULL, race_reader,
						(void *)(intptr_t)n),
				 0);
	for (int i = 0; i < 4; i++)
		pthread_join(r[i], NULL);
	atomic_store(&race_stop, 1);
	pthread_join(w, NULL);
	ck_assert_int_eq(race_mixed, 0);
	ck_assert_int_eq(race_ok + race_rejected, 4 * n);
	/* The race must have been run both ways to mean anything. */
	ck_assert_int_gt(race_ok, 0);
}
END_TEST

/*
 * Out of file descriptors: the port sheds the connections it cannot take
 * (they see a close) instead of spinning on its listener, and serves again
 * once descriptors are back. The clients' sockets exist before the limit
 * drops, so only the server's accepts run out.
 */
START_TEST(test_out_of_fds)
{
	enum { NCONN = 16 };
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)PORT),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct rlimit old, low;
	int fds[NCONN], hi = 0, answered = 0, closed = 0;
	unsigned char buf[64];

	put_fill("fd", 64, 'f');
	struct mc_desc d = query("fd");
	for (int i = 0; i < NCONN; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		ck_assert_int_ge(fds[i], 0);
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
		int rc = xc_read(fds[i], d.addr, 64, true, buf);

		if (rc == XC_OK && buf[63] == 'f')
			answered++;
		else if (rc == -EPIPE)
			closed++;
	}
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	for (int i = 0; i < NCONN; i++)
		close(fds[i]);
	/* every client got an answer or a close, none hung */
	ck_assert_int_eq(answered + closed, NCONN);
	ck_assert_int_gt(answered, 0);
	ck_assert_int_gt(closed, 0);
	/* and the port serves again */
	int fd = conn();
	ck_assert_int_eq(xc_read(fd, d.addr, 64, true, buf), XC_OK);
	ck_assert_uint_eq(buf[0], 'f');
	close(fd);
}
END_TEST

/* ------------------------------------------------------- set-up errors */

START_TEST(test_bad_options)
{
	struct mc_store_opts so;
	struct mc_err err = {0};
	static const struct {
		const char *host, *protocol, *want;
		unsigned port;
	} t[] = {
		{"127.0.0.1", "udp", "unknown transfer protocol 'udp'", 0},
		{"127.0.0.1", "TCP", "unknown transfer protocol 'TCP'", 0},
		{"256.1.1.1", "tcp", "cannot resolve transfer host", 0},
		{"no such host.invalid", "tcp", "cannot resolve", 0},
		{"127.0.0.1", "tcp", "invalid transfer port '70000'", 70000},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct xfer_opts xo = {.host = t[i].host,
				       .protocol = t[i].protocol,
				       .port = t[i].port};
		struct xfer *x;

		mc_store_opts_default(&so);
		err.msg[0] = 0;
		x = xfer_new(&xo, &so, &err);
		if (x) {
			struct mc_store *s = mc_store_new(&so, NULL);
			ck_assert_int_lt(xfer_start(x, s, &err), 0);
			xfer_free(x);
			mc_store_free(s);
		}
		ck_assert_msg(strstr(err.msg, t[i].want), "%s: got '%s'",
			      t[i].want, err.msg);
	}
}
END_TEST

START_TEST(test_port_in_use)
{
	struct mc_store_opts so;
	struct xfer_opts xo = {.host = "127.0.0.1", .port = PORT};
	struct mc_err err = {0};

	mc_store_opts_default(&so);
	struct xfer *x = xfer_new(&xo, &so, &err);
	struct mc_store *s = mc_store_new(&so, NULL);
	ck_assert_int_eq(xfer_start(x, s, &err), -EADDRINUSE);
	ck_assert_ptr_nonnull(strstr(err.msg, "cannot listen on '127.0.0.1'"));
	xfer_free(x);
	mc_store_free(s);
}
END_TEST

/*
 * The data hooks the port gives the store: a value held only in a
 * node's REMOTE segment is read over that node's transfer port. Here the
 * "node" is this very port, and its segment lies over our own segment,
 * so the READ lands on the local value's bytes. A client's segment is
 * found only through the descriptor it published in /metadata: none
 * here, so it cannot be read; nor can a node that refuses connections.
 */
START_TEST(test_data_hooks)
{
	unsigned char *v = pattern(1000, 3);
	struct mc_desc d;
	char ep[64];
	struct mc_remote_req n = {.id = "b1b2b3b4-b5b6-4b7b-8b8b-b9babbbcbdbe",
				  .name = "node1",
				  .size = 1 << 20,
				  .endpoint = ep,
				  .owner = {MC_OWNER_NODE, "n1"}};
	struct mc_put_opts po = {.remote_ok = true, .prefer = "node1"};
	struct mc_put *p;
	struct mc_ref *r;

	ck_assert_int_eq(mc_put(S, "local", 5, v, 1000, NULL), 0);
	d = query("local");
	n.base = d.addr;
	snprintf(ep, sizeof(ep), "127.0.0.1:%u", PORT);
	ck_assert_int_eq(mc_segment_mount_remote(S, &n, NULL), 0);
	ck_assert_int_eq(mc_put_start_opts(S, "far", 3, 1000, &po, &p, NULL),
			 0);
	ck_assert_uint_eq(mc_put_desc(p, 0)->addr, d.addr);
	mc_put_release(p);
	ck_assert_int_eq(mc_put_end(S, "far", 3, NULL), 0);
	ck_assert_int_eq(mc_get(S, "far", 3, &r), 0);
	ck_assert_uint_eq(mc_ref_size(r), 1000);
	ck_assert_int_eq(memcmp(mc_ref_data(r), v, 1000), 0);
	mc_ref_release(r);
	ck_assert(metric("mooncake_transfer_requests_total", "read") >= 1);

	/* a client's segment without a published descriptor */
	struct mc_remote_req c = {.id = "c1c2c3c4-c5c6-4c7c-8c8c-c9cacbcccdce",
				  .name = "client1",
				  .base = 0x7f0000000000ull,
				  .size = 1 << 20,
				  .endpoint = "10.9.9.9:4321"};

	ck_assert_int_eq(
		mc_owner_client(&c.owner,
				"0f0e0d0c-0b0a-4908-8706-050403020100"),
		0);
	ck_assert_int_eq(mc_segment_mount_remote(S, &c, NULL), 0);
	po.prefer = "client1";
	ck_assert_int_eq(mc_put_start_opts(S, "cl", 2, 10, &po, &p, NULL), 0);
	mc_put_release(p);
	ck_assert_int_eq(mc_put_end(S, "cl", 2, NULL), 0);
	ck_assert_int_eq(mc_get(S, "cl", 2, &r), -EREMOTEIO);

	/* a node that refuses: the port's own, closed */
	xfer_stop(X);
	ck_assert_int_eq(mc_get(S, "far", 3, &r), -EREMOTEIO);
	free(v);
}
END_TEST

Suite *transfer_suite(void)
{
	Suite *s = suite_create("transfer");
	TCase *tc = tcase_create("framing");

	tcase_add_test(tc, test_framing);
	tcase_add_test(tc, test_bad_options);
	suite_add_tcase(s, tc);

	tc = tcase_create("port");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_read_v1_v2);
	tcase_add_test(tc, test_metrics_precreated);
	tcase_add_test(tc, test_rejected);
	tcase_add_test(tc, test_header_in_pieces);
	tcase_add_test(tc, test_put_write_end);
	tcase_add_test(tc, test_put_end_unwritten);
	tcase_add_test(tc, test_put_revoke_and_timeout);
	tcase_add_test(tc, test_write_client_dies);
	tcase_add_test(tc, test_stall);
	tcase_add_test(tc, test_write_trickle);
	tcase_add_test(tc, test_put_end_waits_for_writer);
	tcase_add_test(tc, test_put_end_v1_unread);
	tcase_add_test(tc, test_put_timeout_with_writer);
	tcase_add_test(tc, test_put_two_replicas);
	tcase_add_test(tc, test_leased_old_version);
	tcase_add_test(tc, test_many_connections);
	tcase_add_test(tc, test_read_races_replace);
	tcase_add_test(tc, test_out_of_fds);
	tcase_add_test(tc, test_port_in_use);
	tcase_add_test(tc, test_data_hooks);
	suite_add_tcase(s, tc);
	return s;
}

MC_CHECK_MAIN(transfer_suite)
