/*
 * hclient.c - the internal API's HTTP client (hclient.h): a pool of
 * keep-alive connections per peer, one POST at a time on each.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "hclient.h"
#include "net.h"

#define PEERS	 32
#define PER_PEER 16
#define HEAD_MAX 8192
/*
 * A kept connection idle longer is closed, not used: well within the
 * time a mooncaked keeps an idle one (--header-timeout, 5 s by default),
 * so a request is not sent on one the peer is closing at that moment.
 */
#define IDLE_MAX_MS 1000

struct peer {
	char name[300]; /* "host:port", "" when free */
	unsigned n;
	int idle[PER_PEER];
	uint64_t since[PER_PEER]; /* when each went idle, ms */
	unsigned long last;
};

struct hclient {
	unsigned timeout_ms, connect_ms;
	size_t max_answer;
	pthread_mutex_t mu;
	unsigned long tick;
	struct peer peers[PEERS];
};

struct hclient *hclient_new(unsigned timeout_ms, size_t max_answer)
{
	struct hclient *c = calloc(1, sizeof(*c));

	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	c->timeout_ms = timeout_ms ? timeout_ms : 5000;
	/*
	 * A peer that does not accept within a quarter of that is gone or
	 * cut off (on the networks a cluster runs on a connect takes
	 * milliseconds): a new leader's rebuild must not wait longer.
	 */
	c->connect_ms = c->timeout_ms / 4 > 200 ? c->timeout_ms / 4 : 200;
	c->max_answer = max_answer ? max_answer : (256u << 20);
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

static void peer_drop(struct peer *p)
{
	while (p->n)
		close(p->idle[--p->n]);
	p->name[0] = '\0';
}

void hclient_free(struct hclient *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < PEERS; i++)
		peer_drop(&c->peers[i]);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A pooled connection to @peer the peer has not closed, or -1. */
static int pool_take(struct hclient *c, const char *peer)
{
	for (;;) {
		int fd = -1;
		uint64_t since = 0;
		struct pollfd pf;

		pthread_mutex_lock(&c->mu);
		for (unsigned i = 0; i < PEERS && fd < 0; i++) {
			struct peer *p = &c->peers[i];

			if (p->n && !strcmp(p->name, peer)) {
				p->n--;
				fd = p->idle[p->n];
				since = p->since[p->n];
			}
		}
		pthread_mutex_unlock(&c->mu);
		if (fd < 0)
			return -1;
		pf = (struct pollfd){.fd = fd, .events = POLLIN | POLLRDHUP};
		if (mono_ms() - since < IDLE_MAX_MS && poll(&pf, 1, 0) == 0)
			return fd;
		close(fd); /* idle too long, closed by the peer, or unasked
			    * bytes */
	}
}

static void pool_give(struct hclient *c, const char *peer, int fd)
{
	struct peer *p = NULL, *lru = NULL;

	pthread_mutex_lock(&c->mu);
	for (unsigned i = 0; i < PEERS && !p; i++)
		if (!strcmp(c->peers[i].name, peer))
			p = &c->peers[i];
	for (unsigned i = 0; i < PEERS && !p; i++) {
		struct peer *q = &c->peers[i];

		if (!q->name[0])
			p = q;
		else if (!lru || q->last < lru->last)
			lru = q;
	}
	if (!p) {
		p = lru;
		peer_drop(p);
	}
	if (!p->name[0])
		snprintf(p->name, sizeof(p->name), "%s", peer);
	p->last = ++c->tick;
	if (p->n < PER_PEER) {
		p->since[p->n] = mono_ms();
		p->idle[p->n++] = fd;
		fd = -1;
	}
	pthread_mutex_unlock(&c->mu);
	if (fd >= 0)
		close(fd);
}

static int dial(struct hclient *c, const char *peer, struct mc_err *err)
{
	char host[300];
	unsigned port;
	int gai, fd;

	if (mc_net_split(peer, host, sizeof(host), &port))
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "peer '%s' is not host:port", peer);
	fd = mc_net_dial(host, port, c->connect_ms, c->timeout_ms, &gai);
	if (fd == -EHOSTDOWN && gai)
		return mc_err_set(err, -EHOSTDOWN, MC_RPC_FAIL,
				  "cannot resolve '%s': %s", host,
				  gai_strerror(gai));
	if (fd < 0)
		return mc_err_set(err, fd, MC_RPC_FAIL,
				  "cannot connect to node at '%s': %s", peer,
				  strerror(-fd));
	return fd;
}

static bool field_is(const char *line, size_t n, const char *name,
		     const char **value)
{
	size_t k = strlen(name);

	if (n <= k || strncasecmp(line, name, k) || line[k] != ':')
		return false;
	*value = line + k + 1;
	while (*value < line + n && (**value == ' ' || **value == '\t'))
		(*value)++;
	return true;
}

int hclient_parse_head(const char *head, size_t len, int *status, size_t *clen,
		       bool *close)
{
	const char *p = head, *end = head + len, *nl;
	bool have_len = false;
	int st = 0;

	*close = false;
	*clen = 0;
	nl = memchr(p, '\n', len);
	if (!nl || nl - p < 12 || memcmp(p, "HTTP/1.", 7) ||
	    (p[7] != '0' && p[7] != '1') || p[8] != ' ')
		return -EPROTO;
	for (int i = 9; i < 12; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -EPROTO;
		st = st * 10 + (p[i] - '0');
	}
	if (st < 100 || st > 599 ||
	    (nl - p > 12 && p[12] != ' ' && p[12] != '\r'))
		return -EPROTO;
	*close = p[7] == '0';
	for (p = nl + 1; p < end; p = nl + 1) {
		size_t n;
		const char *v;

		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			return -EPROTO;
		n = (size_t)(nl - p);
		if (n && p[n - 1] == '\r')
			n--;
		if (n == 0)
			break; /* the blank line */
		if (field_is(p, n, "Content-Length", &v)) {
			size_t k = 0;
			const char *q = v;

			if (have_len || q == p + n)
				return -EPROTO;
			for (; q < p + n && *q >= '0' && *q <= '9'; q++) {
				if (k > ((size_t)-1 - 9) / 10)
					return -EPROTO;
				k = k * 10 + (size_t)(*q - '0');
			}
			while (q < p + n && (*q == ' ' || *q == '\t'))
				q++;
			if (q != p + n)
				return -EPROTO;
			*clen = k;
			have_len = true;
		} else if (field_is(p, n, "Transfer-Encoding", &v)) {
			return -EPROTO;
		} else if (field_is(p, n, "Connection", &v)) {
			if ((size_t)(p + n - v) >= 5 &&
			    !strncasecmp(v, "close", 5))
				*close = true;
			else if ((size_t)(p + n - v) >= 10 &&
				 !strncasecmp(v, "keep-alive", 10))
				*close = false;
		}
	}
	if (!have_len)
		return -EPROTO;
	*status = st;
	return 0;
}

static int io_err(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
}

/* Sends the request on @fd: 0 or -errno. */
static int send_req(int fd, const char *method, const char *peer,
		    const char *path, const char *token, const void *body,
		    size_t len)
{
	char head[1024];
	int n = snprintf(head, sizeof(head),
			 "%s %s HTTP/1.1\r\nHost: %s\r\n"
			 "Content-Type: application/octet-stream\r\n"
			 "Content-Length: %zu\r\n%s%s%s\r\n",
			 method, path, peer, len,
			 token ? "Authorization: Bearer " : "",
			 token ? token : "", token ? "\r\n" : "");
	struct iovec iov[2] = {{head, (size_t)n}, {(void *)body, len}};
	size_t left;

	if (n < 0 || (size_t)n >= sizeof(head))
		return -EINVAL;
	left = (size_t)n + len;
	while (left) {
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
		ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? io_err() : -ECONNRESET;
		left -= (size_t)w;
		for (int i = 0; i < 2 && w; i++) {
			size_t k = (size_t)w < iov[i].iov_len ? (size_t)w
							      : iov[i].iov_len;

			iov[i].iov_base = (char *)iov[i].iov_base + k;
			iov[i].iov_len -= k;
			w -= (ssize_t)k;
		}
	}
	return 0;
}

/*
 * Reads the answer: 0 with the status and body, -errno; *@got tells
 * whether any byte arrived, *@reuse whether the connection may serve
 * another request.
 */
static int read_answer(struct hclient *c, int fd, int *status,
		       struct mc_buf *out, bool *got, bool *reuse)
{
	char head[HEAD_MAX];
	size_t have = 0, clen, end = 0;
	bool close_it;
	int rc;

	*got = *reuse = false;
	while (!end) {
		ssize_t r = recv(fd, head + have, sizeof(head) - have, 0);
		char *blank;

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? io_err() : -ECONNRESET;
		*got = true;
		have += (size_t)r;
		blank = memmem(head, have, "\r\n\r\n", 4);
		if (blank)
			end = (size_t)(blank - head) + 4;
		else if (have == sizeof(head))
			return -EPROTO;
	}
	rc = hclient_parse_head(head, end, status, &clen, &close_it);
	if (rc)
		return rc;
	if (clen > c->max_answer)
		return -EMSGSIZE;
	mc_buf_reset(out);
	mc_buf_grow(out, clen);
	if (have - end > clen)
		return -EPROTO; /* bytes nobody asked for */
	mc_buf_add(out, head + end, have - end);
	while (out->len < clen) {
		ssize_t r = recv(fd, out->data + out->len, clen - out->len, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? io_err() : -ECONNRESET;
		out->len += (size_t)r;
	}
	out->data[out->len] = '\0';
	*reuse = !close_it;
	return 0;
}

static int request(struct hclient *c, const char *method, const char *peer,
		   const char *path, const char *token, const void *body,
		   size_t len, int *status, struct mc_buf *out, bool *sent,
		   struct mc_err *err)
{
	*sent = false;
	for (int attempt = 0; attempt < 2; attempt++) {
		int fd = pool_take(c, peer);
		bool pooled = fd >= 0, got, reuse;
		int rc;

		if (fd < 0) {
			fd = dial(c, peer, err);
			if (fd < 0)
				return fd;
		}
		rc = send_req(fd, method, peer, path, token, body, len);
		if (rc == 0) {
			*sent = true;
			rc = read_answer(c, fd, status, out, &got, &reuse);
			if (rc == 0) {
				if (reuse)
					pool_give(c, peer, fd);
				else
					close(fd);
				return 0;
			}
		}
		close(fd);
		/*
		 * A kept connection the peer had closed while it was idle:
		 * the request could not be written whole, so it never ran.
		 * Once more, fresh. One written whole that got no answer
		 * may have run (the peer died after it, or cut the
		 * connection): sending it again could run it twice (a
		 * remove would then answer 404), so the caller is told it
		 * was sent.
		 */
		if (pooled && !*sent)
			continue;
		return mc_err_set(err, rc, MC_RPC_FAIL, "node at '%s' %s: %s",
				  peer,
				  *sent ? "did not answer" : "was not reached",
				  strerror(-rc));
	}
	return mc_err_set(err, -ECONNRESET, MC_RPC_FAIL,
			  "node at '%s' closed the connection", peer);
}

int hclient_post(struct hclient *c, const char *peer, const char *path,
		 const char *token, const void *body, size_t len, int *status,
		 struct mc_buf *out, bool *sent, struct mc_err *err)
{
	return request(c, "POST", peer, path, token, body, len, status, out,
		       sent, err);
}
