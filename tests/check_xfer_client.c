/*
 * check_xfer_client.c - the transfer framing's client library (xfer/client.h)
 * against the real transfer port of a real store: READ and WRITE with v1
 * and v2 framing, pooled and one connection per request, rejections,
 * large zero-copy transfers, WRITEs handed over piece by piece, many
 * threads on one client; against small
 * misbehaving servers: a pooled connection closed by the peer, a peer that
 * never answers, a bad status frame, nobody listening; and the lookup of a
 * TE segment through its metadata, with a table of hostile descriptors.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "client.h"
#include "frame.h"
#include "mooncake.h"
#include "xfer.h"

static struct mc_store *S;
static struct xfer *X;
static struct xfer_target T;

static void setup(void)
{
	struct mc_store_opts so;
	struct xfer_opts xo = {
		.host = "127.0.0.1", .protocol = "tcp", .device = ""};
	struct mc_mount_req mr = {.size = 64ull << 20};
	struct mc_mount_result res = {0};
	struct mc_err err = {0};

	mc_store_opts_default(&so);
	so.manual_tick = true;
	X = xfer_new(&xo, &so, &err);
	ck_assert_msg(X, "xfer_new: %s", err.msg);
	S = mc_store_new(&so, NULL);
	ck_assert_ptr_nonnull(S);
	ck_assert_int_eq(mc_segment_mount(S, &mr, &res, NULL), 0);
	free(res.ids);
	ck_assert_msg(xfer_start(X, S, &err) == 0, "xfer_start: %s", err.msg);
	T = (struct xfer_target){"127.0.0.1", xfer_port(X), 2};
}

static void teardown(void)
{
	xfer_free(X);
	mc_store_free(S);
	X = NULL;
	S = NULL;
}

static unsigned char *pattern(size_t size, unsigned seed)
{
	unsigned char *v = malloc(size);

	for (size_t i = 0; i < size; i++)
		v[i] = (unsigned char)(i * 131 + seed * 7 + (i >> 8));
	return v;
}

static uint64_t put_value(const char *key, const void *v, size_t size)
{
	struct mc_desc d;

	ck_assert_int_eq(mc_put(S, key, strlen(key), v, size, NULL), 0);
	ck_assert_int_eq(mc_query(S, key, strlen(key), &d, 1), 1);
	return d.addr;
}

/* An open two-phase put's buffer address. */
static uint64_t put_open(const char *key, uint64_t size)
{
	struct mc_put *p;
	uint64_t addr;

	ck_assert_int_eq(mc_put_start(S, key, strlen(key), size, &p, NULL), 0);
	addr = mc_put_desc(p, 0)->addr;
	mc_put_release(p);
	return addr;
}

/* ------------------------------------------------- the real transfer port */

START_TEST(test_read_write_modes)
{
	static const struct {
		unsigned version;
		bool one_shot;
	} modes[] = {{2, false}, {2, true}, {1, false}, {1, true}};
	size_t size = (256 << 10) + 5;
	unsigned char *v = pattern(size, 1), *got = malloc(size);
	uint64_t addr = put_value("r", v, size);

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct xfer_client_opts o = {.one_shot = modes[i].one_shot};
		struct xfer_client *c = xfer_client_new(&o);
		struct xfer_target t = T;
		struct mc_err e = {0};
		char key[16];
		unsigned char *w = pattern(size, 10 + (unsigned)i);

		t.version = modes[i].version;
		for (int n = 0; n < 3; n++) {
			memset(got, 0, size);
			ck_assert_int_eq(
				xfer_client_read(c, &t, addr, got, size, &e),
				0);
			ck_assert_mem_eq(got, v, size);
		}
		/* one connection kept between requests, or none at all */
		ck_assert_uint_eq(xfer_client_idle(c),
				  modes[i].one_shot ? 0 : 1);
		/* a part of the value, at an offset */
		ck_assert_int_eq(
			xfer_client_read(c, &t, addr + 1000, got, 10, &e), 0);
		ck_assert_mem_eq(got, v + 1000, 10);

		snprintf(key, sizeof(key), "w%zu", i);
		uint64_t waddr = put_open(key, size);
		ck_assert_int_eq(xfer_client_write(c, &t, waddr, w, size, &e),
				 0);
		if (t.version == 1) /* no acknowledgement: wait for the bytes */
			usleep(100000);
		ck_assert_int_eq(mc_put_end(S, key, strlen(key), NULL), 0);
		memset(got, 0, size);
		ck_assert_int_eq(mc_get_copy(S, key, strlen(key), 0, got, size),
				 (int64_t)size);
		ck_assert_mem_eq(got, w, size);
		free(w);
		xfer_client_free(c);
	}
	free(v);
	free(got);
}
END_TEST

START_TEST(test_rejections)
{
	struct xfer_client *c = xfer_client_new(NULL);
	struct xfer_target t1 = T;
	unsigned char buf[64];
	size_t big = 8u << 20;
	unsigned char *w = calloc(1, big);
	struct mc_err e = {0};
	uint64_t addr = put_value("x", "0123456789", 10);

	t1.version = 1;
	/* past the value's end: v2 says so, v1 closes */
	ck_assert_int_eq(xfer_client_read(c, &T, addr, buf, 11, &e), -EACCES);
	ck_assert_msg(strstr(e.msg, "rejected"), "%s", e.msg);
	ck_assert_int_eq(xfer_client_read(c, &t1, addr, buf, 11, &e),
			 -ECONNRESET);
	ck_assert_msg(strstr(e.msg, "v1"), "%s", e.msg);
	/* a published value is not writable; a rejected WRITE of 8 MiB is
	 * told although the peer never reads its payload */
	ck_assert_int_eq(xfer_client_write(c, &T, addr, "z", 1, &e), -EACCES);
	ck_assert_int_eq(xfer_client_write(c, &T, 4096, w, big, &e), -EACCES);
	/* a failed connection is never pooled; a good one still works */
	ck_assert_uint_eq(xfer_client_idle(c), 0);
	ck_assert_int_eq(xfer_client_read(c, &T, addr, buf, 10, &e), 0);
	ck_assert_mem_eq(buf, "0123456789", 10);
	/* bad requests never leave the client */
	ck_assert_int_eq(xfer_client_read(c, &T, addr, buf, 0, &e), -EINVAL);
	ck_assert_int_eq(xfer_client_read(c, &T, UINT64_MAX, buf, 2, &e),
			 -EINVAL);
	struct xfer_target bad = {NULL, T.port, 2};
	ck_assert_int_eq(xfer_client_read(c, &bad, addr, buf, 1, &e), -EINVAL);
	bad = (struct xfer_target){"127.0.0.1", 0, 2};
	ck_assert_int_eq(xfer_client_read(c, &bad, addr, buf, 1, &e), -EINVAL);
	bad.port = 70000;
	ck_assert_int_eq(xfer_client_read(c, &bad, addr, buf, 1, &e), -EINVAL);
	free(w);
	xfer_client_free(c);
}
END_TEST

/* 16 MiB each way, straight from and into the caller's buffers. */
START_TEST(test_large)
{
	struct xfer_client *c = xfer_client_new(NULL);
	size_t size = 16u << 20;
	unsigned char *v = pattern(size, 3), *got = malloc(size);
	uint64_t waddr = put_open("big", size);
	struct mc_desc d;

	ck_assert_int_eq(xfer_client_write(c, &T, waddr, v, size, NULL), 0);
	ck_assert_int_eq(mc_put_end(S, "big", 3, NULL), 0);
	ck_assert_int_eq(mc_query(S, "big", 3, &d, 1), 1);
	ck_assert_int_eq(xfer_client_read(c, &T, d.addr, got, size, NULL), 0);
	ck_assert_mem_eq(got, v, size);
	free(v);
	free(got);
	xfer_client_free(c);
}
END_TEST

struct many {
	struct xfer_client *c;
	uint64_t addr;
	const unsigned char *v;
	size_t size;
	_Atomic int bad;
};

static void *many_main(void *arg)
{
	struct many *m = arg;
	unsigned char got[4096];

	for (int i = 0; i < (mc_test_quick() ? 20 : 300); i++) {
		memset(got, 0, sizeof(got));
		if (xfer_client_read(m->c, &T, m->addr, got, m->size, NULL) ||
		    memcmp(got, m->v, m->size))
			atomic_fetch_add(&m->bad, 1);
	}
	return NULL;
}

/*
 * @threads threads on one client with @o, each reading a 4 KiB value
 * many times: every answer right; returns the idle connections left.
 */
static unsigned run_many(const struct xfer_client_opts *o, int threads)
{
	unsigned char *v = pattern(4096, 5);
	struct many m = {xfer_client_new(o), 0, v, 4096, 0};
	pthread_t th[16];
	unsigned idle;

	m.addr = put_value("t", v, 4096);
	for (int i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, many_main, &m);
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	ck_assert_int_eq(atomic_load(&m.bad), 0);
	idle = xfer_client_idle(m.c);
	xfer_client_free(m.c);
	free(v);
	return idle;
}

/* Eight threads on one pooled client: every answer right, the pool bounded. */
START_TEST(test_threads)
{
	struct xfer_client_opts o = {.pool_per_peer = 3};
	unsigned idle = run_many(&o, 8);

	ck_assert_uint_ge(idle, 1);
	ck_assert_uint_le(idle, 3);
}
END_TEST

/*
 * TE's two ways: its default mode (a new connection per request, eight
 * at once) and its pooled mode at its widest (16 lanes to one peer).
 */
START_TEST(test_te_modes)
{
	struct xfer_client_opts one_shot = {.one_shot = true};
	struct xfer_client_opts lanes = {.pool_per_peer = 16};

	ck_assert_uint_eq(run_many(&one_shot, 8), 0);
	ck_assert_uint_le(run_many(&lanes, 16), 16);
}
END_TEST

/* ------------------------------------------------- misbehaving servers */

enum fake_mode {
	FAKE_ONE_THEN_CLOSE, /* serve one v2 READ per connection, close */
	FAKE_SILENT,	     /* read the header, never answer */
	FAKE_BAD_STATUS,     /* answer a wrong magic */
	FAKE_HALF,	     /* answer half of a READ's bytes, close */
	FAKE_HALF_SILENT,    /* answer half of a READ's bytes, then nothing */
	FAKE_TRICKLE,	     /* answer a READ in 4 pieces 50 ms apart */
	FAKE_CRAWL,	     /* answer a READ in 32 pieces 50 ms apart */
};

struct fake {
	int lfd;
	unsigned port;
	enum fake_mode mode;
	_Atomic int accepted;
	pthread_t th;
};

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	int fd;

	while ((fd = accept(f->lfd, NULL, NULL)) >= 0) {
		unsigned char hdr[XFER_HDR_LEN], st[XFER_STATUS_LEN];
		struct xfer_hdr h;
		size_t got = 0;

		atomic_fetch_add(&f->accepted, 1);
		while (got < sizeof(hdr)) {
			ssize_t r = recv(fd, hdr + got, sizeof(hdr) - got, 0);
			if (r <= 0)
				break;
			got += (size_t)r;
		}
		if (got == sizeof(hdr)) {
			xfer_hdr_decode(hdr, &h);
			if (f->mode == FAKE_SILENT) {
				/* until the client gives up */
				while (recv(fd, st, 1, 0) > 0)
					;
			} else if (f->mode == FAKE_BAD_STATUS) {
				memcpy(st, "NOTMCTV!", 8);
				send(fd, st, 8, MSG_NOSIGNAL);
			} else if (f->mode == FAKE_TRICKLE ||
				   f->mode == FAKE_CRAWL) {
				unsigned char *data = pattern(h.size, 9);
				uint64_t n = f->mode == FAKE_CRAWL ? 32 : 4;
				uint64_t piece = h.size / n;

				xfer_status_encode(XFER_OK, st);
				send(fd, st, 8, MSG_NOSIGNAL);
				for (uint64_t i = 0; i < n; i++) {
					usleep(50000);
					send(fd, data + i * piece,
					     i < n - 1 ? piece
						       : h.size - i * piece,
					     MSG_NOSIGNAL);
				}
				free(data);
				/* kept open: the client pools it */
				while (recv(fd, st, 1, 0) > 0)
					;
			} else {
				bool half = f->mode == FAKE_HALF ||
					    f->mode == FAKE_HALF_SILENT;
				char *data = calloc(1, h.size);
				memset(data, 'f', h.size);
				xfer_status_encode(XFER_OK, st);
				send(fd, st, 8, MSG_NOSIGNAL);
				send(fd, data, half ? h.size / 2 : h.size,
				     MSG_NOSIGNAL);
				free(data);
				while (f->mode == FAKE_HALF_SILENT &&
				       recv(fd, st, 1, 0) > 0)
					;
			}
		}
		close(fd);
	}
	return NULL;
}

static void fake_start(struct fake *f, enum fake_mode mode)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t al = sizeof(a);

	memset(f, 0, sizeof(*f));
	f->mode = mode;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(f->lfd, 0);
	ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(f->lfd, 16), 0);
	getsockname(f->lfd, (struct sockaddr *)&a, &al);
	f->port = ntohs(a.sin_port);
	pthread_create(&f->th, NULL, fake_main, f);
}

static void fake_stop(struct fake *f)
{
	shutdown(f->lfd, SHUT_RDWR);
	pthread_join(f->th, NULL);
	close(f->lfd);
}

/* A pooled connection the peer closed is noticed, and the request served. */
START_TEST(test_pooled_peer_closed)
{
	struct fake f;
	struct xfer_client *c = xfer_client_new(NULL);
	unsigned char buf[100];

	fake_start(&f, FAKE_ONE_THEN_CLOSE);
	struct xfer_target t = {"127.0.0.1", f.port, 2};
	for (int i = 0; i < 5; i++) {
		memset(buf, 0, sizeof(buf));
		ck_assert_int_eq(xfer_client_read(c, &t, 4096, buf, 100, NULL),
				 0);
		ck_assert_uint_eq(buf[99], 'f');
	}
	ck_assert_int_eq(atomic_load(&f.accepted), 5);
	fake_stop(&f);
	xfer_client_free(c);
}
END_TEST

/*
 * A large answer is received once it is all in (recv_bulk's mark), but
 * one that trickles in still arrives whole and at once after its last
 * piece, never waiting for bytes that will not come; one that crawls in
 * for longer than the timeout, each piece well within it, arrives whole;
 * half of one and then silence is a timeout, not a hang.
 */
START_TEST(test_large_answer_pieces)
{
	struct xfer_client_opts o = {.timeout_ms = 300};
	struct xfer_client *c = xfer_client_new(&o);
	size_t size = 1u << 20;
	unsigned char *buf = malloc(size), *want = pattern(size, 9);
	struct mc_err e = {0};
	struct timespec t0, t1;
	struct fake f;

	fake_start(&f, FAKE_TRICKLE);
	struct xfer_target t = {"127.0.0.1", f.port, 2};
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(xfer_client_read(c, &t, 4096, buf, size, &e), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_mem_eq(buf, want, size);
	/* four pieces 50 ms apart: well under one 300 ms timeout */
	ck_assert_int_lt((t1.tv_sec - t0.tv_sec) * 1000 +
				 (t1.tv_nsec - t0.tv_nsec) / 1000000,
			 1000);
	xfer_client_free(c); /* closes the pooled connection: fake ends */
	fake_stop(&f);

	/*
	 * Thirty-two pieces 50 ms apart: the answer takes 1.6 s, more than
	 * a 600 ms timeout, and never reaches the mark within one; each
	 * piece is progress, so it is received whole. (The timeout leaves
	 * room for a gap stretched by valgrind on a loaded machine.)
	 */
	struct xfer_client_opts slow = {.timeout_ms = 600};

	c = xfer_client_new(&slow);
	fake_start(&f, FAKE_CRAWL);
	t.port = f.port;
	memset(buf, 0, size);
	ck_assert_msg(xfer_client_read(c, &t, 4096, buf, size, &e) == 0,
		      "a slow answer: %s", e.msg);
	ck_assert_mem_eq(buf, want, size);
	xfer_client_free(c);
	fake_stop(&f);

	c = xfer_client_new(&o);
	fake_start(&f, FAKE_HALF_SILENT);
	t.port = f.port;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(xfer_client_read(c, &t, 4096, buf, size, &e),
			 -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 3);
	xfer_client_free(c);
	fake_stop(&f);
	free(want);
	free(buf);
}
END_TEST

START_TEST(test_timeout_and_bad_status)
{
	struct fake f;
	struct xfer_client_opts o = {.timeout_ms = 200};
	struct xfer_client *c = xfer_client_new(&o);
	unsigned char buf[8];
	struct mc_err e = {0};
	struct timespec t0, t1;

	fake_start(&f, FAKE_SILENT);
	struct xfer_target t = {"127.0.0.1", f.port, 2};
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(xfer_client_read(c, &t, 4096, buf, 8, &e), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 3);
	fake_stop(&f);

	fake_start(&f, FAKE_BAD_STATUS);
	t.port = f.port;
	ck_assert_int_eq(xfer_client_read(c, &t, 4096, buf, 8, &e), -EPROTO);
	ck_assert_msg(strstr(e.msg, "status"), "%s", e.msg);
	fake_stop(&f);
	/* nobody listens there any more */
	ck_assert_int_eq(xfer_client_read(c, &t, 4096, buf, 8, &e),
			 -ECONNREFUSED);
	ck_assert_msg(strstr(e.msg, "cannot connect"), "%s", e.msg);
	xfer_client_free(c);
}
END_TEST

/* Bytes waiting in pipe @p[0] (its read end). */
static int pipe_held(const int p[2])
{
	int n = -1;

	ck_assert_int_eq(ioctl(p[0], FIONREAD, &n), 0);
	return n;
}

/* Reads the @n bytes pipe @p holds into @buf. */
static void pipe_take_all(const int p[2], void *buf, size_t n)
{
	for (size_t at = 0; at < n;) {
		ssize_t r = read(p[0], (char *)buf + at, n - at);

		ck_assert_int_gt(r, 0);
		at += (size_t)r;
	}
	ck_assert_int_eq(pipe_held(p), 0);
}

/*
 * A READ cut by its peer halfway fails; through a pipe (splice), a
 * WRITE whose head comes from a buffer and the rest from the pipe, and
 * a READ whose bytes go into the pipe, or into the buffer when the pipe
 * fills first, or fail (cut halfway) with part of them in the pipe.
 */
static unsigned rooms; /* a READ's calls of its room */

/* A READ's room when its pipe fills: @ctx, the test's buffer. */
static void *room_of(void *ctx, uint64_t len)
{
	(void)len;
	rooms++;
	return ctx;
}

static void *no_room(void *ctx, uint64_t len)
{
	(void)ctx;
	(void)len;
	rooms++;
	return NULL;
}

START_TEST(test_pipes)
{
	struct xfer_client *c = xfer_client_new(NULL);
	size_t size = 1u << 20, wsize = 200u << 10, rsize = (256u << 10) + 5;
	unsigned char *got = malloc(size);
	unsigned char *w = pattern(wsize, 7), *v = pattern(rsize, 4);
	uint64_t waddr, raddr;
	struct mc_err e = {0};
	struct fake f;
	int p[2], small[2];
	size_t n;

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_ge(fcntl(p[1], F_SETPIPE_SZ, 1 << 20), 1 << 20);

	/* a READ its peer cuts halfway: an error, not a short success */
	fake_start(&f, FAKE_HALF);
	struct xfer_target t = {"127.0.0.1", f.port, 2};
	ck_assert_int_eq(xfer_client_read(c, &t, 4096, got, size, &e),
			 -ECONNRESET);
	/* the same into a pipe: what came is in the pipe, no more */
	ck_assert_int_eq(
		xfer_client_read_pipe(c, &t, 4096, p, room_of, got, size, &e),
		-ECONNRESET);
	n = (size_t)pipe_held(p);
	ck_assert_uint_le(n, size / 2);
	pipe_take_all(p, got, n);
	fake_stop(&f);

	/* a READ into the pipe: all of it there, the buffer untouched, the
	 * connection kept */
	raddr = put_value("pr", v, rsize);
	memset(got, 0, size);
	ck_assert_int_eq(
		xfer_client_read_pipe(c, &T, raddr, p, room_of, got, rsize, &e),
		1);
	ck_assert_uint_eq(got[0] | got[rsize - 1], 0);
	ck_assert_int_eq(pipe_held(p), (int)rsize);
	pipe_take_all(p, got, rsize);
	ck_assert_mem_eq(got, v, rsize);
	ck_assert_uint_eq(xfer_client_idle(c), 1);
	ck_assert_uint_eq(rooms, 0); /* no memory asked for */
	/* a pipe of one page fills first: what it took is read back and the
	 * rest received, all of it in the buffer, the pipe empty */
	ck_assert_int_eq(pipe(small), 0);
	ck_assert_int_ge(fcntl(small[1], F_SETPIPE_SZ, 4096), 4096);
	memset(got, 0, size);
	ck_assert_int_eq(xfer_client_read_pipe(c, &T, raddr, small, room_of,
					       got, rsize, &e),
			 0);
	ck_assert_int_eq(pipe_held(small), 0);
	ck_assert_mem_eq(got, v, rsize);
	ck_assert_uint_eq(xfer_client_idle(c), 1);
	ck_assert_uint_eq(rooms, 1);
	/* no memory when it fills: -ENOMEM, part of the value in the pipe,
	 * the connection (the rest unread) closed */
	ck_assert_int_eq(xfer_client_read_pipe(c, &T, raddr, small, no_room,
					       NULL, rsize, &e),
			 -ENOMEM);
	ck_assert_uint_eq(rooms, 2);
	n = (size_t)pipe_held(small);
	ck_assert_uint_gt(n, 0);
	ck_assert_uint_lt(n, rsize);
	pipe_take_all(small, got, n);
	ck_assert_mem_eq(got, v, n);
	ck_assert_uint_eq(xfer_client_idle(c), 0);
	/* a READ in four pieces 50 ms apart into the small pipe: the same */
	fake_start(&f, FAKE_TRICKLE);
	t.port = f.port;
	memset(got, 0, size);
	ck_assert_int_eq(xfer_client_read_pipe(c, &t, 4096, small, room_of, got,
					       rsize, &e),
			 0);
	ck_assert_int_eq(pipe_held(small), 0);
	free(v);
	v = pattern(rsize, 9);
	ck_assert_mem_eq(got, v, rsize);
	xfer_client_free(c); /* closes the pooled connection: fake ends */
	fake_stop(&f);
	c = xfer_client_new(NULL);
	close(small[0]);
	close(small[1]);

	/* a WRITE: 100 bytes from the buffer, the rest from the pipe */
	waddr = put_open("pw", wsize);
	for (n = 100; n < wsize;) {
		ssize_t r = write(p[1], w + n, wsize - n);

		ck_assert_int_gt(r, 0);
		n += (size_t)r;
	}
	ck_assert_int_eq(
		xfer_client_write_pipe(c, &T, waddr, w, 100, p[0], wsize, &e),
		0);
	ck_assert_int_eq(pipe_held(p), 0);
	ck_assert_int_eq(mc_put_end(S, "pw", 2, NULL), 0);
	memset(got, 0, wsize);
	ck_assert_int_eq(mc_get_copy(S, "pw", 2, 0, got, wsize),
			 (int64_t)wsize);
	ck_assert_mem_eq(got, w, wsize);
	ck_assert_int_eq(xfer_client_write_pipe(c, &T, waddr, w, wsize + 1,
						p[0], wsize, &e),
			 -EINVAL);

	close(p[0]);
	close(p[1]);
	free(w);
	free(v);
	free(got);
	xfer_client_free(c);
}
END_TEST

/*
 * A WRITE handed over while it goes (xfer_client_wstream_*): pieces from
 * memory and from a pipe arrive in order and the connection is kept;
 * bytes past the length are refused before they leave; a write closed
 * short, or dropped mid-way, is never pooled and leaves the peer serving;
 * a rejected one is told at its close.
 */
START_TEST(test_wstream)
{
	struct xfer_client *c = xfer_client_new(NULL);
	size_t wsize = (300u << 10) + 3;
	unsigned char *w = pattern(wsize, 11), *got = malloc(wsize);
	struct xfer_wstream *ws;
	struct mc_err e = {0};
	uint64_t waddr = put_open("ws", wsize), addr;
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_ge(fcntl(p[1], F_SETPIPE_SZ, 1 << 20), 1 << 20);
	ck_assert_int_eq(xfer_client_wstream_open(c, &T, waddr, wsize, &ws, &e),
			 0);
	ck_assert_int_eq(xfer_client_wstream_feed(ws, w, 100, -1, &e), 0);
	ck_assert_int_eq(write(p[1], w + 100, 200000), 200000);
	ck_assert_int_eq(xfer_client_wstream_feed(ws, NULL, 200000, p[0], &e),
			 0);
	ck_assert_int_eq(pipe_held(p), 0);
	/* one byte too many is refused and nothing of it leaves */
	ck_assert_int_eq(
		xfer_client_wstream_feed(ws, w, wsize - 200099, -1, &e),
		-EINVAL);
	ck_assert_int_eq(xfer_client_wstream_feed(ws, w + 200100,
						  wsize - 200100, -1, &e),
			 0);
	ck_assert_int_eq(xfer_client_wstream_close(ws, true, &e), 0);
	ck_assert_uint_eq(xfer_client_idle(c), 1);
	ck_assert_int_eq(mc_put_end(S, "ws", 2, NULL), 0);
	ck_assert_int_eq(mc_get_copy(S, "ws", 2, 0, got, wsize),
			 (int64_t)wsize);
	ck_assert_mem_eq(got, w, wsize);

	/* closed short (the pooled connection used): an error, not pooled */
	waddr = put_open("ws2", wsize);
	ck_assert_int_eq(xfer_client_wstream_open(c, &T, waddr, wsize, &ws, &e),
			 0);
	ck_assert_uint_eq(xfer_client_idle(c), 0);
	ck_assert_int_eq(xfer_client_wstream_feed(ws, w, 1000, -1, &e), 0);
	ck_assert_int_eq(xfer_client_wstream_close(ws, true, &e), -EINVAL);
	ck_assert_msg(strstr(e.msg, "short"), "%s", e.msg);
	ck_assert_uint_eq(xfer_client_idle(c), 0);
	/* dropped mid-way: not pooled, and the port serves the next one */
	ck_assert_int_eq(xfer_client_wstream_open(c, &T, waddr, wsize, &ws, &e),
			 0);
	ck_assert_int_eq(xfer_client_wstream_feed(ws, w, wsize / 2, -1, &e), 0);
	ck_assert_int_eq(xfer_client_wstream_close(ws, false, &e), 0);
	ck_assert_uint_eq(xfer_client_idle(c), 0);
	ck_assert_int_eq(xfer_client_write(c, &T, waddr, w, wsize, &e), 0);
	ck_assert_int_eq(mc_put_end(S, "ws2", 3, NULL), 0);
	memset(got, 0, wsize);
	ck_assert_int_eq(mc_get_copy(S, "ws2", 3, 0, got, wsize),
			 (int64_t)wsize);
	ck_assert_mem_eq(got, w, wsize);

	/* a published value is not writable: told at the close */
	addr = put_value("wsp", "0123456789", 10);
	ck_assert_int_eq(xfer_client_wstream_open(c, &T, addr, 10, &ws, &e), 0);
	ck_assert_int_eq(xfer_client_wstream_feed(ws, "abcdefghij", 10, -1, &e),
			 0);
	ck_assert_int_eq(xfer_client_wstream_close(ws, true, &e), -EACCES);
	ck_assert_msg(strstr(e.msg, "rejected"), "%s", e.msg);
	ck_assert_int_eq(mc_get_copy(S, "wsp", 3, 0, got, 10), 10);
	ck_assert_mem_eq(got, "0123456789", 10);
	/* bad requests never leave the client */
	ck_assert_int_eq(xfer_client_wstream_open(c, &T, waddr, 0, &ws, &e),
			 -EINVAL);
	ck_assert_int_eq(
		xfer_client_wstream_open(c, &T, UINT64_MAX, 2, &ws, &e),
		-EINVAL);
	/* nobody listening: the connect's error */
	struct xfer_target none = {"127.0.0.1", 1, 2};
	ck_assert_int_lt(xfer_client_wstream_open(c, &none, waddr, 1, &ws, &e),
			 0);

	close(p[0]);
	close(p[1]);
	free(w);
	free(got);
	xfer_client_free(c);
}
END_TEST

/* ------------------------------------------------ finding a TE segment */

START_TEST(test_te_key)
{
	static const struct {
		const char *cluster, *kind, *name, *want;
	} t[] = {
		{NULL, "ram", "host:1", "mooncake/ram/host:1"},
		{"", "ram", "/host:1", "mooncake/ram/host:1"},
		{"c1", "ram", "host:1", "mooncake/c1/ram/host:1"},
		{"c1/", "rpc_meta", "host:1", "mooncake/c1/rpc_meta/host:1"},
		{NULL, "ram", "nvmeof/x", "mooncake/nvmeof/x"},
		{"c", "ram", "a/b", "mooncake/c/a/b"},
		{NULL, "rpc_meta", "a/b", "mooncake/rpc_meta/a/b"},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct mc_buf b = MC_BUF_INIT;

		xfer_te_key(&b, t[i].cluster, t[i].kind, t[i].name);
		ck_assert_str_eq(b.data, t[i].want);
		mc_buf_release(&b);
	}
}
END_TEST

START_TEST(test_te_parse_hostile)
{
	static const struct {
		const char *body;
		const char *why; /* NULL: accepted */
	} t[] = {
		{"{\"name\":\"n\",\"protocol\":\"tcp\",\"tcp_data_port\":5,"
		 "\"buffers\":[{\"name\":\"n\",\"addr\":1,\"length\":2}]}",
		 NULL},
		/* no tcp_proto_version, no buffers, blanks after: accepted */
		{"{\"name\":\"n\",\"protocol\":\"tcp\",\"tcp_data_port\":5}\n ",
		 NULL},
		{"", "not a JSON object"},
		{"[]", "not a JSON object"},
		{"{\"name\":\"n\"} x", "not a JSON object"},
		{"{\"name\":\"n\",}", "not a JSON object"},
		{"{\"protocol\":\"tcp\",\"tcp_data_port\":5}", "no name"},
		{"{\"name\":\"\",\"protocol\":\"tcp\",\"tcp_data_port\":5}",
		 "no name"},
		{"{\"name\":7,\"protocol\":\"tcp\",\"tcp_data_port\":5}",
		 "no name"},
		{"{\"name\":\"n\",\"protocol\":\"rdma\",\"tcp_data_port\":5}",
		 "not a tcp segment"},
		{"{\"name\":\"n\",\"tcp_data_port\":5}", "not a tcp segment"},
		{"{\"name\":\"n\",\"protocol\":\"tcp\"}", "no tcp_data_port"},
		{"{\"name\":\"n\",\"protocol\":\"tcp\",\"tcp_data_port\":0}",
		 "no tcp_data_port"},
		{"{\"name\":\"n\",\"protocol\":\"tcp\",\"tcp_data_port\":"
		 "65536}",
		 "no tcp_data_port"},
		{"{\"name\":\"n\",\"protocol\":\"tcp\",\"tcp_data_port\":"
		 "\"5\"}",
		 "no tcp_data_port"},
		{"{\"name\":\"n\",\"protocol\":\"tcp\",\"tcp_data_port\":-5}",
		 "no tcp_data_port"},
		{"{\"name\":\"n\",\"protocol\":\"tcp\",\"tcp_data_port\":5,"
		 "\"tcp_proto_version\":\"2\"}",
		 "tcp_proto_version"},
		{"{\"name\":\"n\",\"protocol\":\"tcp\",\"tcp_data_port\":5,"
		 "\"buffers\":{}}",
		 "not a list"},
		/* one bad buffer among good ones rejects the descriptor */
		{"{\"name\":\"n\",\"protocol\":\"tcp\",\"tcp_data_port\":5,"
		 "\"buffers\":[{\"name\":\"n\",\"addr\":1,\"length\":2},"
		 "{\"name\":\"\",\"addr\":1,\"length\":2}]}",
		 "no name"},
		{"{\"name\":\"n\",\"protocol\":\"tcp\",\"tcp_data_port\":5,"
		 "\"buffers\":[{\"addr\":1,\"length\":2}]}",
		 "no name"},
		{"{\"name\":\"n\",\"protocol\":\"tcp\",\"tcp_data_port\":5,"
		 "\"buffers\":[{\"name\":\"n\",\"addr\":0,\"length\":2}]}",
		 "no addr"},
		{"{\"name\":\"n\",\"protocol\":\"tcp\",\"tcp_data_port\":5,"
		 "\"buffers\":[{\"name\":\"n\",\"length\":2}]}",
		 "no addr"},
		{"{\"name\":\"n\",\"protocol\":\"tcp\",\"tcp_data_port\":5,"
		 "\"buffers\":[{\"name\":\"n\",\"addr\":1,\"length\":0}]}",
		 "no length"},
		{"{\"name\":\"n\",\"protocol\":\"tcp\",\"tcp_data_port\":5,"
		 "\"buffers\":[{\"name\":\"n\",\"addr\":1.5,\"length\":3}]}",
		 "no addr"},
		{"{\"name\":\"n\",\"protocol\":\"tcp\",\"tcp_data_port\":5,"
		 "\"buffers\":[7]}",
		 "not an object"},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct xfer_te_segment seg;
		struct mc_err e = {0};
		int rc = xfer_te_parse_segment(t[i].body, strlen(t[i].body),
					       &seg, &e);

		if (!t[i].why) {
			ck_assert_msg(rc == 0, "row %zu: %s", i, e.msg);
			ck_assert_str_eq(seg.name, "n");
			ck_assert_uint_eq(seg.data_port, 5);
			ck_assert_uint_eq(seg.version, 1);
			xfer_te_segment_release(&seg);
			continue;
		}
		ck_assert_msg(rc == -EINVAL, "row %zu accepted", i);
		ck_assert_msg(strstr(e.msg, t[i].why), "row %zu: '%s'", i,
			      e.msg);
		ck_assert_ptr_null(seg.name);
		ck_assert_ptr_null(seg.buf);
	}
}
END_TEST

/* A metadata server of a few fixed keys. */
static const char *const meta_keys[][2] = {
	{"mooncake/ram/a:1",
	 "{\"name\":\"a:1\",\"protocol\":\"tcp\",\"tcp_data_port\":4000,"
	 "\"tcp_proto_version\":2,\"buffers\":[{\"name\":\"a:1\","
	 "\"addr\":4096,\"length\":8192},{\"name\":\"a:1\",\"addr\":65536,"
	 "\"length\":10}],\"timestamp\":\"2026-01-01 00:00:00.000000\"}"},
	{"mooncake/rpc_meta/a:1",
	 "{\"ip_or_host_name\":\"10.1.2.3\",\"rpc_port\":3999}"},
	/* a descriptor naming another segment's location */
	{"mooncake/c/ram/b:2", "{\"name\":\"a:1\",\"protocol\":\"tcp\","
			       "\"tcp_data_port\":4001}"},
	{"mooncake/c/rpc_meta/a:1", "{\"ip_or_host_name\":\"h\"}"},
	{"mooncake/ram/nometa:1", "{\"name\":\"nometa:1\",\"protocol\":"
				  "\"tcp\",\"tcp_data_port\":1}"},
	{"mooncake/ram/badmeta:1", "{\"name\":\"badmeta:1\",\"protocol\":"
				   "\"tcp\",\"tcp_data_port\":1}"},
	{"mooncake/rpc_meta/badmeta:1", "{\"ip_or_host_name\":\"\"}"},
};

static int meta_get(void *arg, const char *key, size_t klen, struct mc_buf *out,
		    struct mc_err *err)
{
	(*(int *)arg)++;
	for (size_t i = 0; i < sizeof(meta_keys) / sizeof(meta_keys[0]); i++)
		if (strlen(meta_keys[i][0]) == klen &&
		    !memcmp(meta_keys[i][0], key, klen)) {
			mc_buf_adds(out, meta_keys[i][1]);
			return 0;
		}
	return -ENOENT;
}

START_TEST(test_te_resolve)
{
	struct xfer_te_segment seg;
	struct mc_err e = {0};
	int calls = 0;

	ck_assert_int_eq(
		xfer_te_resolve("a:1", NULL, meta_get, &calls, &seg, &e), 0);
	ck_assert_int_eq(calls, 2);
	ck_assert_str_eq(seg.host, "10.1.2.3");
	ck_assert_uint_eq(seg.data_port, 4000);
	ck_assert_uint_eq(seg.version, 2);
	ck_assert_uint_eq(seg.nbuf, 2);
	ck_assert(xfer_te_segment_covers(&seg, 4096, 8192));
	ck_assert(xfer_te_segment_covers(&seg, 8192, 4096));
	ck_assert(!xfer_te_segment_covers(&seg, 8192, 4097));
	ck_assert(xfer_te_segment_covers(&seg, 65536 + 9, 1));
	ck_assert(!xfer_te_segment_covers(&seg, 65536 + 10, 1));
	ck_assert(!xfer_te_segment_covers(&seg, 0, 1));
	/* a buffer that wraps (TE takes it): no wrapping range inside it */
	struct xfer_te_buffer wraps = {UINT64_MAX - 1, 100};
	struct xfer_te_segment w = {.nbuf = 1, .buf = &wraps};
	ck_assert(xfer_te_segment_covers(&w, UINT64_MAX - 1, 1));
	ck_assert(!xfer_te_segment_covers(&w, UINT64_MAX, 2));
	ck_assert(!xfer_te_segment_covers(&w, UINT64_MAX - 1, 3));
	struct xfer_target t = xfer_te_target(&seg);
	ck_assert_str_eq(t.host, "10.1.2.3");
	ck_assert_uint_eq(t.port, 4000);
	ck_assert_uint_eq(t.version, 2);
	xfer_te_segment_release(&seg);

	/* the cluster prefix, and rpc_meta looked up by the descriptor's name
	 */
	ck_assert_int_eq(
		xfer_te_resolve("/b:2", "c", meta_get, &calls, &seg, &e), 0);
	ck_assert_str_eq(seg.host, "h");
	ck_assert_uint_eq(seg.data_port, 4001);
	ck_assert_uint_eq(seg.version, 1);
	ck_assert_uint_eq(seg.nbuf, 0);
	xfer_te_segment_release(&seg);

	ck_assert_int_eq(
		xfer_te_resolve("a:1", "c", meta_get, &calls, &seg, &e),
		-ENOENT);
	ck_assert_msg(strstr(e.msg, "mooncake/c/ram/a:1"), "%s", e.msg);
	ck_assert_int_eq(
		xfer_te_resolve("nometa:1", NULL, meta_get, &calls, &seg, &e),
		-ENOENT);
	ck_assert_msg(strstr(e.msg, "rpc_meta"), "%s", e.msg);
	ck_assert_ptr_null(seg.name);
	ck_assert_int_eq(
		xfer_te_resolve("badmeta:1", NULL, meta_get, &calls, &seg, &e),
		-EINVAL);
	ck_assert_ptr_null(seg.host);
}
END_TEST

/*
 * The port publishes its TE segment in the store's metadata server: the
 * lookup finds the port, and the value's bytes, through it alone.
 */
START_TEST(test_te_resolve_published)
{
	struct xfer_client *c = xfer_client_new(NULL);
	struct mc_meta *m = mc_store_meta(S);
	unsigned char *v = pattern(5000, 4), got[5000];
	uint64_t addr = put_value("pub", v, 5000);
	struct xfer_te_segment seg;
	struct xfer_target t;
	struct mc_err e = {0};

	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(xfer_te_resolve(xfer_endpoint(X), NULL,
					 xfer_te_meta_local, S, &seg, &e),
			 0);
	ck_assert_str_eq(seg.name, xfer_endpoint(X));
	ck_assert_str_eq(seg.host, "localhost");
	ck_assert_uint_eq(seg.data_port, xfer_port(X));
	ck_assert_uint_eq(seg.version, 2);
	ck_assert_uint_eq(seg.nbuf, 1);
	ck_assert(xfer_te_segment_covers(&seg, addr, 5000));
	t = xfer_te_target(&seg);
	ck_assert_int_eq(xfer_client_read(c, &t, addr, got, 5000, &e), 0);
	ck_assert_mem_eq(got, v, 5000);
	xfer_te_segment_release(&seg);
	/* gone with the port */
	xfer_stop(X);
	ck_assert_int_eq(xfer_te_resolve(xfer_endpoint(X), NULL,
					 xfer_te_meta_local, S, &seg, &e),
			 -ENOENT);
	free(v);
	xfer_client_free(c);
}
END_TEST

Suite *xfer_client_suite(void)
{
	Suite *s = suite_create("xfer_client");
	TCase *tc = tcase_create("port");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_read_write_modes);
	tcase_add_test(tc, test_rejections);
	tcase_add_test(tc, test_large);
	tcase_add_test(tc, test_pipes);
	tcase_add_test(tc, test_wstream);
	tcase_add_test(tc, test_threads);
	tcase_add_test(tc, test_te_modes);
	tcase_add_test(tc, test_te_resolve_published);
	suite_add_tcase(s, tc);
	tc = tcase_create("peers");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_pooled_peer_closed);
	tcase_add_test(tc, test_timeout_and_bad_status);
	tcase_add_test(tc, test_large_answer_pieces);
	tcase_add_test(tc, test_te_key);
	tcase_add_test(tc, test_te_parse_hostile);
	tcase_add_test(tc, test_te_resolve);
	suite_add_tcase(s, tc);
	return s;
}

MC_CHECK_MAIN(xfer_client_suite)
