/*
 * fuzz_xclient.c - the transfer framing's client side (xfer/client.c):
 * what mooncaked reads of another node's transfer port (the cluster's
 * data path) and of a Transfer Engine's data port (values in a client's
 * memory), fed arbitrary answers by an in-process fake peer.
 *
 * The peer is a thread behind a loopback listener; it reads each request
 * header (and a WRITE's payload), answers with the bytes the input gives
 * for that request, and closes the connection when told to or when its
 * answer is shorter than the request calls for. The input: one byte of
 * client options (one-shot or pooled, the pool's size), then up to
 * MAX_REQ requests, each
 *
 *   f  bits 0-1 READ, WRITE, WRITE from a pipe, READ; bit 2 v2; bit 3
 *      close after the answer; bit 4 answer a WRITE before reading its
 *      payload; bit 5 "auto": an OK status first (v2) and a body filled
 *      up to the length asked; bits 6-7 the length's class (small; up to
 *      64 KiB; 64 KiB to 1 MiB, received by recv_bulk; near 2^64, where
 *      a range may wrap)
 *   l  the length within its class
 *   n  two bytes: the answer's own bytes, which follow (as many as the
 *      input still holds)
 *
 * What must hold, whatever the answers: no crash, sanitizer report or
 * leaked descriptor; the peer reads exactly the header and payload the
 * call names (a WRITE's bytes unchanged, from the buffer and the pipe);
 * every error is one the header documents, with a one-line message;
 * a READ that succeeds got an OK status (v2) and holds exactly the body
 * the peer sent for it, never more than asked; a v2 WRITE succeeds only
 * on an OK status; -EACCES only on a REJECTED status, -EPROTO only on a
 * status of neither kind, -EINVAL exactly for an empty or wrapping range.
 *
 * The framing carries no request id: answers are matched by order. The
 * harness waits for the peer to finish each answer before the next call,
 * so bytes the peer sends unasked are on the connection before the client
 * could take it from its pool again (and it must then not be used).
 */
#include "autoconfig.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "frame.h"
#include "fuzz.h"
#include "xfer_client.h"

#define MAX_REQ	 16
#define STEP	 0x100000ull /* request i reads or writes at STEP * (i + 1) */
#define PIPE_MAX 60000	     /* a pipe's WRITE fits the pipe's buffer */
#define WAIT_MS	 2000	     /* the peer's answer, and the client's timeout */
#define OP_READ	 0
#define OP_WRITE 1
#define OP_WPIPE 2
#define F_V2	 0x04
#define F_CLOSE	 0x08
#define F_FIRST	 0x10
#define F_AUTO	 0x20

struct req {
	unsigned op; /* OP_READ, OP_WRITE, OP_WPIPE */
	unsigned flags;
	uint64_t addr, len;
	unsigned char *ans; /* the peer's answer (malloc'd) */
	size_t alen;
	unsigned served; /* answers the peer sent for it; mu */
};

struct run {
	int lfd, wake[2];
	unsigned nreq;
	struct req req[MAX_REQ];
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static unsigned char body_byte(unsigned i, uint64_t k)
{
	return (unsigned char)(k * 31 + i * 7 + 1);
}

static unsigned char payload_byte(unsigned i, uint64_t k)
{
	return (unsigned char)(k * 13 + i);
}

static bool valid_range(const struct req *q)
{
	return q->len && q->addr + q->len >= q->addr;
}

/* Bytes of the answer the request calls for. */
static size_t expected(const struct req *q)
{
	size_t n = q->flags & F_V2 ? XFER_STATUS_LEN : 0;

	return n + (q->op == OP_READ ? (size_t)q->len : 0);
}

/* ------------------------------------------------------------- the peer */

/* Reads request @i's payload and checks it is the one the client sent. */
static bool drain(int fd, unsigned i, uint64_t len)
{
	unsigned char b[16384];
	uint64_t k = 0;

	while (k < len) {
		size_t want =
			len - k < sizeof(b) ? (size_t)(len - k) : sizeof(b);
		ssize_t r = recv(fd, b, want, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		for (ssize_t j = 0; j < r; j++)
			fuzz_must(b[j] == payload_byte(i, k + (uint64_t)j),
				  "request %u: payload byte %llu changed", i,
				  (unsigned long long)(k + (uint64_t)j));
		k += (uint64_t)r;
	}
	return true;
}

/* The request whose header is @h, checked against what the call named. */
static unsigned find_req(struct run *r, const unsigned char *h)
{
	struct xfer_hdr d;

	xfer_hdr_decode(h, &d);
	for (unsigned i = 0; i < r->nreq; i++) {
		const struct req *q = &r->req[i];
		unsigned op = q->op == OP_READ ? XFER_OP_READ : XFER_OP_WRITE;

		if (q->addr != d.addr)
			continue;
		fuzz_must(valid_range(q), "request %u sent with a bad range",
			  i);
		fuzz_must(d.size == q->len, "request %u: size %llu, not %llu",
			  i, (unsigned long long)d.size,
			  (unsigned long long)q->len);
		fuzz_must(d.opcode == (op | (q->flags & F_V2 ? XFER_V2 : 0)),
			  "request %u: opcode 0x%x", i, d.opcode);
		for (unsigned k = 17; k < XFER_HDR_LEN; k++)
			fuzz_must(!h[k], "request %u: header byte %u set", i,
				  k);
		return i;
	}
	fuzz_must(0, "a header at 0x%llx, which no call named",
		  (unsigned long long)d.addr);
	return 0;
}

/* One request on @fd: false when the connection is done with. */
static bool serve(struct run *r, int fd)
{
	unsigned char h[XFER_HDR_LEN];
	struct timeval tv = {WAIT_MS / 1000, 0};
	struct req *q;
	bool write, first, done;
	unsigned i;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (xc_recv_all(fd, h, sizeof(h)))
		return false;
	i = find_req(r, h);
	q = &r->req[i];
	write = q->op != OP_READ;
	first = write && (q->flags & F_FIRST);
	done = (q->flags & F_CLOSE) || q->alen < expected(q);
	if (write && !first && !drain(fd, i, q->len))
		done = true;
	else if (xc_send_all(fd, q->ans, q->alen))
		done = true;
	else if (first && !done && !drain(fd, i, q->len))
		done = true;
	if (done)
		shutdown(fd, SHUT_RDWR);
	pthread_mutex_lock(&r->mu);
	q->served++;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return !done;
}

static void *peer_main(void *arg)
{
	struct run *r = arg;
	int conn = -1;

	for (;;) {
		struct pollfd pf[2] = {{conn >= 0 ? conn : r->lfd, POLLIN, 0},
				       {r->wake[0], POLLIN, 0}};

		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[1].revents)
			break;
		if (conn < 0) {
			conn = accept(r->lfd, NULL, NULL);
			continue;
		}
		if (!serve(r, conn)) {
			close(conn);
			conn = -1;
		}
	}
	if (conn >= 0)
		close(conn);
	return NULL;
}

/* ------------------------------------------------------------ the input */

static unsigned open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned n = 0;

	fuzz_must(d, "no /proc/self/fd");
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void append(struct req *q, const void *p, size_t n)
{
	if (!n)
		return;
	q->ans = realloc(q->ans, q->alen + n);
	fuzz_must(q->ans, "oom");
	memcpy(q->ans + q->alen, p, n);
	q->alen += n;
}

/* Reads request @i from @data; false when the input is used up. */
static bool parse_req(struct req *q, unsigned i, const uint8_t **data,
		      size_t *size)
{
	const uint8_t *p = *data;
	unsigned f, l, n;

	if (*size < 4)
		return false;
	f = p[0];
	l = p[1];
	n = p[2] | (unsigned)p[3] << 8;
	p += 4;
	*size -= 4;
	if (n > *size)
		n = (unsigned)*size;
	memset(q, 0, sizeof(*q));
	q->op = (f & 3) == 3 ? OP_READ : f & 3;
	q->flags = f & (F_V2 | F_CLOSE | F_FIRST | F_AUTO);
	q->addr = STEP * (i + 1);
	switch (f >> 6) {
	case 0:
		q->len = l;
		break;
	case 1:
		q->len = (uint64_t)(l + 1) * 257;
		break;
	case 2:
		q->len = 65536 + (uint64_t)l * 3853;
		break;
	default: /* wraps when longer than what is left below 2^64 */
		q->addr = UINT64_MAX - 15 * 512 + (uint64_t)i * 512;
		q->len = (uint64_t)l * 64;
		break;
	}
	if (q->op == OP_WPIPE && q->len > PIPE_MAX)
		q->len = PIPE_MAX;
	if (q->flags & F_AUTO && q->flags & F_V2) {
		unsigned char st[XFER_STATUS_LEN];

		xfer_status_encode(XFER_OK, st);
		append(q, st, sizeof(st));
	}
	append(q, p, n);
	if (q->flags & F_AUTO && q->alen < expected(q)) {
		size_t from = q->alen, to = expected(q);

		q->ans = realloc(q->ans, to);
		fuzz_must(q->ans, "oom");
		for (size_t k = from; k < to; k++)
			q->ans[k] = body_byte(i, k);
		q->alen = to;
	}
	*data = p + n;
	*size -= n;
	return true;
}

static int listen_any(unsigned *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	fuzz_must(fd >= 0, "socket: %s", strerror(errno));
	fuzz_must(!bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
			  !listen(fd, 16) &&
			  !getsockname(fd, (struct sockaddr *)&a, &alen),
		  "listen: %s", strerror(errno));
	*port = ntohs(a.sin_port);
	return fd;
}

/* Waits (bounded) until the peer has answered request @q at least once. */
static void await_answer(struct run *r, const struct req *q)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WAIT_MS / 1000;
	pthread_mutex_lock(&r->mu);
	while (!q->served &&
	       pthread_cond_timedwait(&r->cv, &r->mu, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&r->mu);
}

/* Whether @rc is what the answer @q got allows. */
static void check_result(struct run *r, unsigned i, int rc,
			 const unsigned char *buf, const struct mc_err *err)
{
	const struct req *q = &r->req[i];
	bool v2 = q->flags & F_V2;
	int code = q->alen >= XFER_STATUS_LEN ? xfer_status_decode(q->ans) : -2;
	unsigned served;

	pthread_mutex_lock(&r->mu);
	served = q->served;
	pthread_mutex_unlock(&r->mu);
	fuzz_must((rc == -EINVAL) == !valid_range(q),
		  "request %u: rc %d for a range %s", i, rc,
		  valid_range(q) ? "in order" : "empty or wrapping");
	if (rc) {
		fuzz_must(rc == -EINVAL || rc == -ECONNRESET ||
				  rc == -ETIMEDOUT ||
				  (v2 && (rc == -EACCES || rc == -EPROTO)),
			  "request %u: rc %d (%s)", i, rc, err->msg);
		fuzz_must(err->msg[0] && !strchr(err->msg, '\n'),
			  "request %u: rc %d without a one-line message", i,
			  rc);
	}
	if (rc == -EACCES)
		fuzz_must(served && code == XFER_REJECTED,
			  "request %u: -EACCES without a rejection", i);
	if (rc == -EPROTO)
		fuzz_must(served && code != XFER_OK && code != XFER_REJECTED,
			  "request %u: -EPROTO on a good status", i);
	if (rc || (q->op != OP_READ && !v2))
		return;
	fuzz_must(served, "request %u succeeded unanswered", i);
	if (v2)
		fuzz_must(code == XFER_OK, "request %u: success on status %d",
			  i, code);
	if (q->op == OP_READ) {
		size_t at = v2 ? XFER_STATUS_LEN : 0;

		fuzz_must(q->alen >= at + q->len &&
				  !memcmp(buf, q->ans + at, (size_t)q->len),
			  "request %u: a READ of %llu bytes that is not what "
			  "the peer sent (%zu bytes)",
			  i, (unsigned long long)q->len, q->alen);
	}
}

static int call(struct xfer_client *c, const struct xfer_target *t, unsigned i,
		const struct req *q, unsigned char *buf, struct mc_err *err)
{
	uint64_t hlen = q->len / 2;
	int pfd[2], rc;

	if (q->op == OP_READ)
		return xfer_client_read(c, t, q->addr, buf, q->len, err);
	for (uint64_t k = 0; k < q->len; k++)
		buf[k] = payload_byte(i, k);
	if (q->op == OP_WRITE)
		return xfer_client_write(c, t, q->addr, buf, q->len, err);
	fuzz_must(!pipe2(pfd, O_CLOEXEC), "pipe: %s", strerror(errno));
	if (q->len > hlen)
		fuzz_must(write(pfd[1], buf + hlen, (size_t)(q->len - hlen)) ==
				  (ssize_t)(q->len - hlen),
			  "pipe write");
	rc = xfer_client_write_pipe(c, t, q->addr, buf, hlen, pfd[0], q->len,
				    err);
	close(pfd[0]);
	close(pfd[1]);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run r;
	struct xfer_client_opts o = {.timeout_ms = WAIT_MS};
	struct xfer_target t = {.host = "127.0.0.1"};
	struct xfer_client *c;
	pthread_t peer;
	unsigned fds;

	if (!size)
		return 0;
	fds = open_fds();
	memset(&r, 0, sizeof(r));
	o.one_shot = data[0] & 1;
	o.pool_per_peer = (data[0] >> 1) & 3;
	data++;
	size--;
	while (r.nreq < MAX_REQ &&
	       parse_req(&r.req[r.nreq], r.nreq, &data, &size))
		r.nreq++;
	pthread_mutex_init(&r.mu, NULL);
	pthread_cond_init(&r.cv, NULL);
	r.lfd = listen_any(&t.port);
	fuzz_must(!pipe2(r.wake, O_CLOEXEC), "pipe: %s", strerror(errno));
	fuzz_must(!pthread_create(&peer, NULL, peer_main, &r), "thread");
	c = xfer_client_new(&o);
	fuzz_must(c, "client");
	for (unsigned i = 0; i < r.nreq; i++) {
		struct req *q = &r.req[i];
		unsigned char *buf = malloc(q->len ? (size_t)q->len : 1);
		struct mc_err err = {0};
		int rc;

		fuzz_must(buf, "oom");
		t.version = q->flags & F_V2 ? 2 : 1;
		rc = call(c, &t, i, q, buf, &err);
		if (valid_range(q))
			await_answer(&r, q);
		check_result(&r, i, rc, buf, &err);
		free(buf);
		fuzz_must(xfer_client_idle(c) <= XFER_CLIENT_POOL_MAX,
			  "%u idle connections", xfer_client_idle(c));
	}
	xfer_client_free(c);
	fuzz_must(write(r.wake[1], "", 1) == 1, "wake");
	pthread_join(peer, NULL);
	close(r.wake[0]);
	close(r.wake[1]);
	close(r.lfd);
	for (unsigned i = 0; i < r.nreq; i++)
		free(r.req[i].ans);
	pthread_cond_destroy(&r.cv);
	pthread_mutex_destroy(&r.mu);
	fuzz_must(open_fds() == fds, "%u descriptors open, %u before",
		  open_fds(), fds);
	return 0;
}
