/*
 * check_hclient.c - the parsers and the connect of the cluster's
 * internal client: hclient_parse_head (an answer's head: a table of
 * good and hostile heads), mc_net_split (endpoints: a table), and
 * mc_net_dial against a real listening socket, a closed port and a
 * name that does not resolve; a POST whose kept connection closes
 * without an answer is not sent twice.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "hclient.h"
#include "net.h"

struct head_case {
	const char *head;
	int ret, status;
	size_t clen;
	bool close;
};

static const struct head_case heads[] = {
	{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 0, 200, 5, false},
	{"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
	 "Content-Length: 9\r\n\r\n",
	 0, 503, 9, false},
	{"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 0, 200, 0, true},
	{"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n"
	 "\r\n",
	 0, 200, 1, false},
	{"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n", 0,
	 200, 2, true},
	{"HTTP/1.1 200 OK\nContent-Length: 3\n\n", 0, 200, 3, false},
	{"HTTP/1.1 200\r\ncontent-length:   7  \r\n\r\n", 0, 200, 7, false},
	{"HTTP/1.1 404 Not Found\r\nContent-Length: 18446744073709551605\r\n"
	 "\r\n",
	 0, 404, (size_t)-1 - 10, false},
	/* hostile or not ours */
	{"", -EPROTO, 0, 0, false},
	{"\r\n\r\n", -EPROTO, 0, 0, false},
	{"HTTP/1.1 200 OK\r\n\r\n", -EPROTO, 0, 0, false}, /* no length */
	{"HTTP/2 200 OK\r\nContent-Length: 1\r\n\r\n", -EPROTO, 0, 0, false},
	{"HTTP/1.2 200 OK\r\nContent-Length: 1\r\n\r\n", -EPROTO, 0, 0, false},
	{"http/1.1 200 OK\r\nContent-Length: 1\r\n\r\n", -EPROTO, 0, 0, false},
	{"HTTP/1.1 20 OK\r\nContent-Length: 1\r\n\r\n", -EPROTO, 0, 0, false},
	{"HTTP/1.1 2000 OK\r\nContent-Length: 1\r\n\r\n", -EPROTO, 0, 0, false},
	{"HTTP/1.1 099 X\r\nContent-Length: 1\r\n\r\n", -EPROTO, 0, 0, false},
	{"HTTP/1.1 600 X\r\nContent-Length: 1\r\n\r\n", -EPROTO, 0, 0, false},
	{"HTTP/1.1 2a0 OK\r\nContent-Length: 1\r\n\r\n", -EPROTO, 0, 0, false},
	{"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", -EPROTO, 0, 0, false},
	{"HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n", -EPROTO, 0, 0,
	 false},
	{"HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n", -EPROTO, 0, 0,
	 false},
	{"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", -EPROTO, 0, 0, false},
	{"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
	 -EPROTO, 0, 0, false},
	/* the parser stops one step short of SIZE_MAX: over any limit anyway */
	{"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n",
	 -EPROTO, 0, 0, false},
	{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
	 -EPROTO, 0, 0, false},
	{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", -EPROTO, 0, 0,
	 false},
	{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked"
	 "\r\n\r\n",
	 -EPROTO, 0, 0, false},
	{"HTTP/1.1 200 OK\r\nContent-Length: 1", -EPROTO, 0, 0, false},
};

START_TEST(test_parse_head)
{
	const struct head_case *c = &heads[_i];
	int status = -1;
	size_t clen = 12345;
	bool close = false;
	int rc = hclient_parse_head(c->head, strlen(c->head), &status, &clen,
				    &close);

	ck_assert_msg(rc == c->ret, "head %d '%s': %d, want %d", _i, c->head,
		      rc, c->ret);
	if (rc)
		return;
	ck_assert_int_eq(status, c->status);
	ck_assert_msg(clen == c->clen, "head %d: length %zu, want %zu", _i,
		      clen, c->clen);
	ck_assert_int_eq(close, c->close);
}
END_TEST

struct split_case {
	const char *ep;
	size_t hlen;
	int ret;
	const char *host;
	unsigned port;
};

static const struct split_case splits[] = {
	{"127.0.0.1:8080", 64, 0, "127.0.0.1", 8080},
	{"node-1.example:1", 64, 0, "node-1.example", 1},
	{"h:65535", 64, 0, "h", 65535},
	{"[::1]:15001", 64, 0, "::1", 15001},
	{"[fe80::1%eth0]:80", 64, 0, "fe80::1%eth0", 80},
	{"abc:80", 4, 0, "abc", 80},
	/* hostile */
	{"", 64, -EINVAL, NULL, 0},
	{":80", 64, -EINVAL, NULL, 0},
	{"host", 64, -EINVAL, NULL, 0},
	{"host:", 64, -EINVAL, NULL, 0},
	{"host:0", 64, -EINVAL, NULL, 0},
	{"host:65536", 64, -EINVAL, NULL, 0},
	{"host:999999", 64, -EINVAL, NULL, 0},
	{"host:-1", 64, -EINVAL, NULL, 0},
	{"host:+80", 64, -EINVAL, NULL, 0},
	{"host: 80", 64, -EINVAL, NULL, 0},
	{"host:80 ", 64, -EINVAL, NULL, 0},
	{"host:8o", 64, -EINVAL, NULL, 0},
	{"[]:80", 64, -EINVAL, NULL, 0},
	{"abcd:80", 4, -EINVAL, NULL, 0}, /* no room for the NUL */
	{"[::1]", 64, -EINVAL, NULL, 0},
};

START_TEST(test_split)
{
	const struct split_case *c = &splits[_i];
	char host[64];
	unsigned port = 7;
	int rc;

	memset(host, 'x', sizeof(host));
	rc = mc_net_split(c->ep, host, c->hlen, &port);
	ck_assert_msg(rc == c->ret, "'%s': %d, want %d", c->ep, rc, c->ret);
	if (rc) {
		ck_assert_uint_eq(port, 7); /* left alone */
		return;
	}
	ck_assert_str_eq(host, c->host);
	ck_assert_uint_eq(port, c->port);
}
END_TEST

START_TEST(test_split_null)
{
	char host[8];
	unsigned port;

	ck_assert_int_eq(mc_net_split(NULL, host, sizeof(host), &port),
			 -EINVAL);
}
END_TEST

/* A listening loopback socket on a port the kernel picks. */
static int listener(unsigned *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

START_TEST(test_dial)
{
	unsigned port;
	int lfd = listener(&port), fd, gai = -1, afd;
	char b = 0;
	struct timeval tv;
	socklen_t tl = sizeof(tv);

	fd = mc_net_dial("127.0.0.1", port, 1000, 250, &gai);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(gai, 0);
	afd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(afd, 0);
	ck_assert_int_eq(write(afd, "y", 1), 1);
	ck_assert_int_eq(read(fd, &b, 1), 1);
	ck_assert_int_eq(b, 'y');
	/* every wait after the connect is bounded */
	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &tl), 0);
	/* (the kernel rounds it to its clock's ticks) */
	ck_assert_int_ge(tv.tv_sec * 1000 + tv.tv_usec / 1000, 250);
	ck_assert_int_le(tv.tv_sec * 1000 + tv.tv_usec / 1000, 270);
	ck_assert_int_eq(read(fd, &b, 1), -1);
	ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
	close(afd);
	close(fd);
	/* the port closed: refused at once */
	close(lfd);
	ck_assert_int_eq(mc_net_dial("127.0.0.1", port, 1000, 250, NULL),
			 -ECONNREFUSED);
}
END_TEST

START_TEST(test_dial_unresolvable)
{
	int gai = 0;

	/* .invalid never resolves (RFC 2606) */
	ck_assert_int_eq(
		mc_net_dial("no-such-node.invalid", 80, 500, 500, &gai),
		-EHOSTDOWN);
	ck_assert_int_ne(gai, 0);
}
END_TEST

/*
 * A request written whole on a kept connection that then closes without
 * an answer may have run: the client says it was sent and does not send
 * it again on a new connection (a remove would run twice and answer
 * 404). The server here answers the first request, reads the second and
 * closes; a third, on any connection, would be counted.
 */
struct once_srv {
	int lfd, requests;
};

/* Reads one request with a 1-byte body from @fd: 0, or -1 at its end. */
static int read_request(int fd)
{
	char buf[4096];
	size_t n = 0;

	for (;;) {
		char *end;
		ssize_t r;

		buf[n] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end && n >= (size_t)(end - buf) + 4 + 1)
			return 0;
		if (n + 1 >= sizeof(buf))
			return -1;
		r = read(fd, buf + n, sizeof(buf) - 1 - n);
		if (r <= 0)
			return -1;
		n += (size_t)r;
	}
}

static void *once_main(void *arg)
{
	static const char ok[] =
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	struct once_srv *sv = arg;
	int fd = accept(sv->lfd, NULL, NULL);
	struct pollfd pf = {.fd = sv->lfd, .events = POLLIN};

	if (fd < 0)
		return NULL;
	if (read_request(fd) == 0) {
		sv->requests++;
		if (write(fd, ok, sizeof(ok) - 1) != (ssize_t)sizeof(ok) - 1)
			return NULL;
	}
	if (read_request(fd) == 0)
		sv->requests++;
	close(fd); /* the second one gets no answer */
	/* a request sent again would come on a new connection */
	while (poll(&pf, 1, 1000) == 1) {
		fd = accept(sv->lfd, NULL, NULL);
		if (fd < 0)
			break;
		while (read_request(fd) == 0) {
			sv->requests++;
			if (write(fd, ok, sizeof(ok) - 1) < 0)
				break;
		}
		close(fd);
	}
	return NULL;
}

START_TEST(test_post_not_twice)
{
	struct once_srv sv = {0};
	struct hclient *c = hclient_new(2000, 0);
	struct mc_buf out = {0};
	struct mc_err e = {0};
	char peer[64];
	unsigned port;
	int status = 0;
	bool sent = false;
	pthread_t t;

	sv.lfd = listener(&port);
	snprintf(peer, sizeof(peer), "127.0.0.1:%u", port);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(pthread_create(&t, NULL, once_main, &sv), 0);
	ck_assert_int_eq(hclient_post(c, peer, "/x", NULL, "1", 1, &status,
				      &out, &sent, &e),
			 0);
	ck_assert_int_eq(status, 200);
	ck_assert_int_lt(hclient_post(c, peer, "/x", NULL, "2", 1, &status,
				      &out, &sent, &e),
			 0);
	ck_assert(sent);
	pthread_join(t, NULL);
	ck_assert_int_eq(sv.requests, 2);
	close(sv.lfd);
	mc_buf_release(&out);
	hclient_free(c);
}
END_TEST

static Suite *hclient_suite(void)
{
	Suite *s = suite_create("hclient");
	TCase *tc = tcase_create("parse");

	tcase_add_loop_test(tc, test_parse_head, 0,
			    (int)(sizeof(heads) / sizeof(heads[0])));
	tcase_add_loop_test(tc, test_split, 0,
			    (int)(sizeof(splits) / sizeof(splits[0])));
	tcase_add_test(tc, test_split_null);
	suite_add_tcase(s, tc);
	tc = tcase_create("dial");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_dial);
	tcase_add_test(tc, test_dial_unresolvable);
	tcase_add_test(tc, test_post_not_twice);
	suite_add_tcase(s, tc);
	return s;
}

MC_CHECK_MAIN(hclient_suite)
