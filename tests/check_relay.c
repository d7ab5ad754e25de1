/*
 * check_relay.c - the IPv6-to-IPv4 relay (net/relay.h) between real
 * sockets: a test "server" listens on 127.0.0.1, the relay on [::1] at
 * the same port, and each test is a client over IPv6. Bytes both ways
 * byte for byte, half-closes passed on, a reset or close passed on,
 * back-pressure (a server that does not read stops the client), idle
 * pairs that hold no buffer, the stall limit on a client that never closes, out
 * of descriptors, unlisten, and no descriptor left behind (valgrind checks the
 * memory).
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "relay.h"

static int srv_fd = -1;
static unsigned srv_port;
static struct mc_relay *relay;

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

static void setup(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	struct mc_relay_opts o = {
		.host = "::1", .stall_ms = 300, .name = "relay-test"};

	srv_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(srv_fd, 0);
	ck_assert_int_eq(bind(srv_fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(srv_fd, 16), 0);
	ck_assert_int_eq(getsockname(srv_fd, (struct sockaddr *)&a, &len), 0);
	srv_port = ntohs(a.sin_port);
	o.port = srv_port;
	relay = mc_relay_start(&o);
	ck_assert_msg(relay, "mc_relay_start: %s", strerror(errno));
}

static void teardown(void)
{
	mc_relay_stop(relay);
	relay = NULL;
	close(srv_fd);
}

static int dial6(void)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6,
				 .sin6_port = htons((uint16_t)srv_port),
				 .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A client over IPv6 and the server's end of the relayed connection. */
static void pair_up(int *cfd, int *sfd)
{
	struct timeval tv = {.tv_sec = 5};

	*cfd = dial6();
	ck_assert_int_ge(*cfd, 0);
	*sfd = accept4(srv_fd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(*sfd, 0);
	/* a relay that stops passing bytes fails the test, not hangs it */
	setsockopt(*cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(*sfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(*cfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(*sfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

struct sender {
	int fd;
	const unsigned char *p;
	size_t n;
	int err;
};

static void *send_all(void *arg)
{
	struct sender *s = arg;
	size_t off = 0;

	while (off < s->n) {
		ssize_t k = send(s->fd, s->p + off, s->n - off, MSG_NOSIGNAL);

		if (k <= 0) {
			s->err = errno ? errno : EIO;
			return NULL;
		}
		off += (size_t)k;
	}
	return NULL;
}

/* Reads exactly @n bytes into @p: 0, or -1 when the stream ended early. */
static int recv_all(int fd, unsigned char *p, size_t n)
{
	size_t off = 0;

	while (off < n) {
		ssize_t k = recv(fd, p + off, n - off, 0);

		if (k <= 0)
			return -1;
		off += (size_t)k;
	}
	return 0;
}

static unsigned char *pattern(size_t n, unsigned seed)
{
	unsigned char *p = malloc(n);

	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)((i * 2654435761u + seed) >> 13);
	return p;
}

/* @n bytes from @from to @to, through the relay, byte for byte. */
static void through(int from, int to, size_t n, unsigned seed)
{
	unsigned char *out = pattern(n, seed), *in = malloc(n);
	struct sender s = {.fd = from, .p = out, .n = n};
	pthread_t t;

	ck_assert_ptr_nonnull(in);
	ck_assert_int_eq(pthread_create(&t, NULL, send_all, &s), 0);
	ck_assert_int_eq(recv_all(to, in, n), 0);
	pthread_join(t, NULL);
	ck_assert_int_eq(s.err, 0);
	ck_assert(memcmp(in, out, n) == 0);
	free(out);
	free(in);
}

/* Whether @fd reads an end of stream (or a reset) within @ms. */
static int ends_within(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char b[64];

	for (;;) {
		if (poll(&p, 1, ms) != 1)
			return 0;
		ssize_t k = recv(fd, b, sizeof(b), MSG_DONTWAIT);

		if (k <= 0)
			return k == 0 || errno == ECONNRESET;
	}
}

START_TEST(test_both_ways)
{
	int base = count_fds(), c, s;

	pair_up(&c, &s);
	through(c, s, mc_test_quick() ? 1 << 20 : 8 << 20, 1);
	through(s, c, mc_test_quick() ? 1 << 20 : 8 << 20, 2);
	/* small exchanges, one after another, as a keep-alive client */
	for (int i = 0; i < 50; i++) {
		through(c, s, 100, (unsigned)i);
		through(s, c, 1000, (unsigned)i);
	}
	close(c);
	ck_assert(ends_within(s, 2000));
	close(s);
	for (int i = 0; i < 100 && count_fds() > base; i++)
		usleep(10000);
	ck_assert_int_eq(count_fds(), base);
}
END_TEST

/* What the process has malloc'ed now, in every arena, mapped or not. */
static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

/*
 * Kept-alive connections between requests hold no buffer: 64 pairs that
 * each carried bytes both ways and then went idle cost far less than a
 * 64 KiB buffer per direction each (8 MiB); the pool the relay keeps
 * for busy pairs is at most 512 KiB.
 */
START_TEST(test_idle_pairs_hold_no_buffer)
{
	enum { NPAIRS = 64 };
	int c[NPAIRS], s[NPAIRS];
	long long before, held = 0;

	/* one pair first: the relay's one-time allocations are made */
	pair_up(&c[0], &s[0]);
	through(c[0], s[0], 1000, 1);
	close(c[0]);
	close(s[0]);
	usleep(100000);
	before = (long long)heap_in_use();
	for (int i = 0; i < NPAIRS; i++) {
		pair_up(&c[i], &s[i]);
		through(c[i], s[i], 100 << 10, (unsigned)i);
		through(s[i], c[i], 100 << 10, (unsigned)i + 1);
	}
	/* the relay gives a buffer back once its read would block */
	for (int t = 0; t < 40; t++) {
		held = (long long)heap_in_use() - before;
		if (held < (2 << 20))
			break;
		usleep(50000);
	}
	ck_assert_msg(held < (2 << 20),
		      "%d idle pairs hold %lld bytes of the heap", NPAIRS,
		      held);
	/* and they still work */
	for (int i = 0; i < NPAIRS; i++) {
		through(c[i], s[i], 1000, (unsigned)i);
		through(s[i], c[i], 100 << 10, (unsigned)i);
		close(c[i]);
		close(s[i]);
	}
}
END_TEST

START_TEST(test_half_close)
{
	int c, s;
	char b[16] = "";

	pair_up(&c, &s);
	ck_assert_int_eq(send(c, "ask", 3, 0), 3);
	ck_assert_int_eq(shutdown(c, SHUT_WR), 0);
	ck_assert_int_eq(recv_all(s, (unsigned char *)b, 3), 0);
	ck_assert(memcmp(b, "ask", 3) == 0);
	/* the client's end of stream reached the server... */
	ck_assert_int_eq(recv(s, b, sizeof(b), 0), 0);
	/* ... which still answers, and its answer goes through */
	ck_assert_int_eq(send(s, "answer", 6, 0), 6);
	ck_assert_int_eq(recv_all(c, (unsigned char *)b, 6), 0);
	ck_assert(memcmp(b, "answer", 6) == 0);
	/* and the other way: the server's end reaches the client */
	ck_assert_int_eq(shutdown(s, SHUT_WR), 0);
	ck_assert_int_eq(recv(c, b, sizeof(b), 0), 0);
	close(c);
	close(s);
}
END_TEST

START_TEST(test_reset_passed_on)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	int c, s;

	/* the server resets: the client sees its connection end */
	pair_up(&c, &s);
	through(c, s, 1000, 3);
	setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(s);
	ck_assert(ends_within(c, 2000));
	close(c);
	/* the client resets: so does the server */
	pair_up(&c, &s);
	setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(c);
	ck_assert(ends_within(s, 2000));
	close(s);
}
END_TEST

START_TEST(test_back_pressure)
{
	static char chunk[64 * 1024];
	size_t sent = 0;
	int c, s, fl;
	struct pollfd p;

	pair_up(&c, &s);
	fl = fcntl(c, F_GETFL);
	fcntl(c, F_SETFL, fl | O_NONBLOCK);
	/* the server reads nothing: the client must be stopped */
	for (;;) {
		ssize_t k = send(c, chunk, sizeof(chunk), MSG_NOSIGNAL);

		if (k > 0) {
			sent += (size_t)k;
			ck_assert_msg(sent < (256u << 20),
				      "the relay buffered %zu bytes", sent);
			continue;
		}
		ck_assert_int_eq(errno, EAGAIN);
		p = (struct pollfd){.fd = c, .events = POLLOUT};
		if (poll(&p, 1, 300) == 0)
			break; /* stopped: no room for 300 ms */
	}
	/* and everything held is delivered once the server reads */
	size_t got = 0;
	char buf[65536];

	fcntl(c, F_SETFL, fl);
	shutdown(c, SHUT_WR);
	for (;;) {
		ssize_t k = recv(s, buf, sizeof(buf), 0);

		ck_assert_int_ge(k, 0);
		if (k == 0)
			break;
		got += (size_t)k;
	}
	ck_assert_uint_eq(got, sent);
	close(c);
	close(s);
}
END_TEST

START_TEST(test_client_never_closes)
{
	int base = count_fds(), c, s;

	/* the server ends; the client keeps its socket: the relay lets go
	 * after stall_ms (300 ms here) */
	pair_up(&c, &s);
	close(s);
	ck_assert(ends_within(c, 2000));
	for (int i = 0; i < 200 && count_fds() > base + 1; i++)
		usleep(10000);
	ck_assert_int_eq(count_fds(), base + 1); /* c alone */
	close(c);
}
END_TEST

START_TEST(test_server_gone)
{
	int c;

	/* nothing listens on the IPv4 side: the client is closed */
	close(srv_fd);
	srv_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	c = dial6();
	ck_assert_int_ge(c, 0);
	ck_assert(ends_within(c, 2000));
	close(c);
}
END_TEST

START_TEST(test_unlisten)
{
	int c, s;

	pair_up(&c, &s);
	mc_relay_unlisten(relay);
	ck_assert_int_eq(dial6(), -1);
	/* a pair under way goes on */
	through(c, s, 100000, 4);
	through(s, c, 100000, 5);
	close(c);
	close(s);
}
END_TEST

struct reader {
	int fd;
	size_t got;
};

static void *read_to_end(void *arg)
{
	struct reader *rd = arg;
	char buf[65536];
	ssize_t k;

	while ((k = recv(rd->fd, buf, sizeof(buf), 0)) > 0)
		rd->got += (size_t)k;
	return NULL;
}

/*
 * What the server wrote before it closed reaches a client that reads it
 * late: mc_relay_flush waits for it (web_stop calls it after civetweb
 * closed its connections).
 */
START_TEST(test_flush)
{
	size_t n = 1 << 20, off = 0;
	unsigned char *out = pattern(n, 8);
	struct pollfd pf;
	struct reader rd;
	pthread_t t;
	int c, s;

	pair_up(&c, &s);
	ck_assert_uint_eq(mc_relay_flush(relay, 0), 1);
	/* the server writes until every buffer on the way is full */
	fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
	for (;;) {
		ssize_t k = send(s, out, n, MSG_NOSIGNAL);

		if (k > 0) {
			off += (size_t)k;
			ck_assert_uint_lt(off, 1024u << 20);
			continue;
		}
		ck_assert_int_eq(errno, EAGAIN);
		pf = (struct pollfd){.fd = s, .events = POLLOUT};
		if (poll(&pf, 1, 300) == 0)
			break;
	}
	close(s); /* the kernel still delivers what it holds */
	/* the client does not read: not through */
	ck_assert_uint_eq(mc_relay_flush(relay, 100), 1);
	rd = (struct reader){.fd = c};
	ck_assert_int_eq(pthread_create(&t, NULL, read_to_end, &rd), 0);
	ck_assert_uint_eq(mc_relay_flush(relay, 5000), 0);
	pthread_join(t, NULL);
	ck_assert_uint_eq(rd.got, off);
	close(c);
	free(out);
}
END_TEST

START_TEST(test_stop_with_pairs_open)
{
	int c[4], s[4];

	for (int i = 0; i < 4; i++) {
		pair_up(&c[i], &s[i]);
		through(c[i], s[i], 10, (unsigned)i);
	}
	mc_relay_stop(relay);
	relay = NULL;
	for (int i = 0; i < 4; i++) {
		ck_assert(ends_within(c[i], 2000));
		ck_assert(ends_within(s[i], 2000));
		close(c[i]);
		close(s[i]);
	}
}
END_TEST

/*
 * Out of descriptors, twice: for the accept (the shed of net/shed.c
 * drops it) and for the connection to the server (closed at once). The
 * client sees a close, not a wait; once descriptors are back the relay
 * serves again.
 */
START_TEST(test_out_of_descriptors)
{
	struct rlimit old, low;
	int next, c, s;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	next = dup(0);
	ck_assert_int_ge(next, 0);
	close(next);
	low = old;
	for (int room = 1; room <= 2; room++) {
		/* room 1: the client's socket only; 2: and the accept */
		low.rlim_cur = (rlim_t)(next + room);
		ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
		c = dial6();
		ck_assert_int_ge(c, 0);
		ck_assert_msg(ends_within(c, 2000), "room %d", room);
		close(c);
		ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	}
	pair_up(&c, &s);
	through(c, s, 1000, 6);
	through(s, c, 1000, 7);
	close(c);
	close(s);
}
END_TEST

START_TEST(test_bad_start)
{
	struct mc_relay_opts o = {
		.host = "127.0.0.1", .port = srv_port, .name = "relay-bad"};

	ck_assert_ptr_null(mc_relay_start(&o));
	ck_assert_int_eq(errno, EINVAL);
	o.host = "::1"; /* the test's relay has it */
	ck_assert_ptr_null(mc_relay_start(&o));
	ck_assert_int_eq(errno, EADDRINUSE);
}
END_TEST

static Suite *relay_suite(void)
{
	Suite *s = suite_create("relay");
	TCase *tc = tcase_create("relay");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_both_ways);
	tcase_add_test(tc, test_idle_pairs_hold_no_buffer);
	tcase_add_test(tc, test_half_close);
	tcase_add_test(tc, test_reset_passed_on);
	tcase_add_test(tc, test_back_pressure);
	tcase_add_test(tc, test_client_never_closes);
	tcase_add_test(tc, test_server_gone);
	tcase_add_test(tc, test_unlisten);
	tcase_add_test(tc, test_flush);
	tcase_add_test(tc, test_stop_with_pairs_open);
	tcase_add_test(tc, test_out_of_descriptors);
	tcase_add_test(tc, test_bad_start);
	suite_add_tcase(s, tc);
	return s;
}

MC_CHECK_MAIN(relay_suite)
