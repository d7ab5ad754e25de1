/*
 * client.c - the blocking RPC client. Timeouts are the socket's own
 * (SO_RCVTIMEO/SO_SNDTIMEO), so each wait is bounded without a poll loop.
 */
#include "autoconfig.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "client.h"
#include "md5.h"

#define TIMEOUT_MS_DEFAULT 30000
/* Larger replies are refused rather than buffered. */
#define REPLY_MAX (1ull << 30)

struct rpc_client {
	int fd;
	uint32_t seq;	     /* the next request's number */
	struct rpc_buf body; /* the last reply's body */
};

static int io_errno(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
}

struct rpc_client *rpc_client_connect(const char *host, unsigned port,
				      unsigned timeout_ms, char *err,
				      size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res, *ai;
	struct rpc_client *c;
	struct timeval tv;
	char serv[16];
	int fd = -1, one = 1, saved = ECONNREFUSED, rc;

	if (!timeout_ms)
		timeout_ms = TIMEOUT_MS_DEFAULT;
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	snprintf(serv, sizeof(serv), "%u", port);
	rc = getaddrinfo(host, serv, &hints, &res);
	if (rc) {
		snprintf(err, errlen, "cannot resolve '%s': %s", host,
			 gai_strerror(rc));
		errno = EHOSTUNREACH;
		return NULL;
	}
	for (ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen)) {
			saved = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errlen, "cannot connect to '%s' port %u: %s",
			 host, port, strerror(saved));
		errno = saved;
		return NULL;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	c->fd = fd;
	return c;
}

void rpc_client_close(struct rpc_client *c)
{
	if (!c)
		return;
	close(c->fd);
	rpc_buf_release(&c->body);
	free(c);
}

int rpc_client_fd(const struct rpc_client *c)
{
	return c->fd;
}

int rpc_client_send_raw(struct rpc_client *c, const void *p, size_t n)
{
	const unsigned char *s = p;

	while (n) {
		ssize_t r = send(c->fd, s, n, MSG_NOSIGNAL);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return io_errno();
		s += r;
		n -= (size_t)r;
	}
	return 0;
}

static int read_full(struct rpc_client *c, void *p, size_t n)
{
	unsigned char *d = p;

	while (n) {
		ssize_t r = recv(c->fd, d, n, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errno == ECONNRESET ? -ECONNRESET : io_errno();
		if (r == 0)
			return -ECONNRESET;
		d += r;
		n -= (size_t)r;
	}
	return 0;
}

int rpc_client_recv_raw(struct rpc_client *c, struct rpc_resp_hdr *h,
			struct rpc_buf *body)
{
	unsigned char hdr[RPC_RESP_HDR_LEN];
	uint64_t n;
	int rc = read_full(c, hdr, sizeof(hdr));

	if (rc)
		return rc;
	rpc_resp_hdr_decode(hdr, h);
	if (h->magic != RPC_MAGIC)
		return -EBADMSG;
	n = (uint64_t)h->length + h->attach_length;
	if (n > REPLY_MAX)
		return -EMSGSIZE;
	body->len = 0;
	rpc_buf_grow(body, n);
	rc = read_full(c, body->p, n);
	if (rc)
		return rc;
	body->len = n;
	return 0;
}

int rpc_client_send(struct rpc_client *c, enum rpc_call_id call,
		    const void *req, unsigned flags, uint32_t *seq)
{
	const struct rpc_call *k = rpc_call_get(call);
	struct rpc_req_hdr h = {.magic = RPC_MAGIC};
	struct rpc_buf b = {0};
	int rc;

	if (!k)
		return -EINVAL;
	rpc_buf_grow(&b, RPC_REQ_HDR_LEN);
	b.len = RPC_REQ_HDR_LEN;
	rpc_req_encode(k, req, flags, &b);
	h.seq = c->seq++;
	h.function_id = k->id;
	h.length = (uint32_t)(b.len - RPC_REQ_HDR_LEN);
	rpc_req_hdr_encode(&h, b.p);
	rc = rpc_client_send_raw(c, b.p, b.len);
	rpc_buf_release(&b);
	if (seq)
		*seq = h.seq;
	return rc;
}

int rpc_client_recv(struct rpc_client *c, enum rpc_call_id call, uint32_t seq,
		    void *resp, struct rpc_arena *a, char *err, size_t errlen)
{
	static const char str_lit[] = "\x80\x0c";
	const struct rpc_call *k = rpc_call_get(call);
	struct rpc_resp_hdr h;
	struct rpc_str msg;
	const char *why = "";
	int rc;

	if (!k)
		return -EINVAL;
	rc = rpc_client_recv_raw(c, &h, &c->body);
	if (rc) {
		snprintf(err, errlen, "%s: no reply: %s", k->name,
			 strerror(-rc));
		return rc;
	}
	if (h.seq != seq) {
		snprintf(err, errlen, "%s: reply to request %u, not %u",
			 k->name, h.seq, seq);
		return -EPROTO;
	}
	if (h.err_code) {
		/* A framework error: its message is a string (255: a pair). */
		if (h.err_code != 255 &&
		    rpc_sp_decode(c->body.p, h.length, &rpc_t_str, &msg,
				  rpc_type_code(str_lit, 2), str_lit, a,
				  &why) == 0)
			snprintf(err, errlen, "%s: %s", k->name, msg.p);
		else
			snprintf(err, errlen, "%s: rpc error %u", k->name,
				 h.err_code);
		return h.err_code;
	}
	if (rpc_resp_decode(k, c->body.p, h.length, resp, a, &why)) {
		snprintf(err, errlen, "%s: undecodable reply: %s", k->name,
			 why);
		return -EBADMSG;
	}
	return 0;
}

int rpc_client_call(struct rpc_client *c, enum rpc_call_id call,
		    const void *req, void *resp, struct rpc_arena *a, char *err,
		    size_t errlen)
{
	uint32_t seq;
	int rc = rpc_client_send(c, call, req, 0, &seq);

	if (rc) {
		snprintf(err, errlen, "cannot send: %s", strerror(-rc));
		return rc;
	}
	return rpc_client_recv(c, call, seq, resp, a, err, errlen);
}
