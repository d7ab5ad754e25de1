/*
 * web.c - the HTTP door over civetweb: options, start and stop, the
 * request's fields from civetweb's, the connection calls behind struct
 * web_io, and the per-route metrics. Framing and dispatch are http.c.
 *
 * The only file that includes <civetweb.h>. Every request goes through
 * begin_request(): civetweb parses the request line and headers, we look
 * the raw path up in the route table and the handler answers. URL
 * decoding is off in civetweb (decode_url=no) so that "%2F" and "%00"
 * reach the handlers as written and keys are decoded exactly once.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>

#include "api.h"
#include "cc.h"
#include "guard.h"
#include "log.h"
#include "metrics.h"
#include "mooncake.h"
#include "relay.h"
#include "route.h"
#include "status.h"
#include "web.h"

#define KEEP_MAX    (256u << 10) /* per-worker buffers trimmed above */
#define REQUEST_MAX "1064960"	 /* 1 MiB request line + 16 KiB */
#define LINE_MAX_B  (1u << 20)	 /* the request line alone */
#define RECLAIM_MIN (64u << 10)	 /* head parts given back from this size */
#define LISTEN_MAX  4
#define PIPES_MAX   64	       /* idle pipes kept (web_io.pipe_take) */
#define PIPE_BYTES  (1u << 20) /* asked of each: the most a user gets */

_Static_assert(WEB_FIELDS_MAX == MG_MAX_HEADERS, "civetweb keeps 64 fields");

/* Status codes whose counters are cached per route; others look up. */
static const int codes[] = {200, 400, 401, 403, 404, 405, 408,
			    409, 413, 431, 500, 501, 503, 507};
#define NCODES (sizeof(codes) / sizeof(codes[0]))

/*
 * Series pointers cached per route, so the hot path takes no family
 * mutex: the 200 counter is made at start, the others (and the latency
 * histogram, 14 lines each) on first use, which keeps /metrics small.
 */
struct route_stats {
	const char *label;
	_Atomic(struct mc_series *) duration;
	_Atomic(struct mc_series *) code[NCODES];
};

struct web_token {
	struct web_token *older; /* the retired list */
	size_t len;
	char tok[];
};

/*
 * A token from @t without surrounding blanks (token files end in a
 * newline); NULL with errno EINVAL when nothing is left, ENOMEM.
 */
static struct web_token *token_new(const char *t)
{
	struct web_token *k;
	size_t n;

	while (*t == ' ' || *t == '\t' || *t == '\n' || *t == '\r')
		t++;
	n = strlen(t);
	while (n && strchr(" \t\r\n", t[n - 1]))
		n--;
	if (n == 0) {
		errno = EINVAL;
		return NULL;
	}
	k = malloc(sizeof(*k) + n + 1);
	if (!k)
		return NULL;
	k->older = NULL;
	k->len = n;
	memcpy(k->tok, t, n);
	k->tok[n] = '\0';
	return k;
}

static void tokens_free(struct web_token *k)
{
	while (k) {
		struct web_token *o = k->older;

		explicit_bzero(k->tok, k->len);
		free(k);
		k = o;
	}
}

/* Whether binding @host:@port fails because someone listens there. */
static bool port_in_use(const char *host, unsigned port)
{
	struct sockaddr_in a4 = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port)};
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6,
				  .sin6_port = htons((uint16_t)port)};
	bool v6 = inet_pton(AF_INET6, host, &a6.sin6_addr) == 1;
	int fd, r;

	if (!v6 && inet_pton(AF_INET, host, &a4.sin_addr) != 1)
		return false;
	fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	r = v6 ? bind(fd, (struct sockaddr *)&a6, sizeof(a6))
	       : bind(fd, (struct sockaddr *)&a4, sizeof(a4));
	r = r < 0 && errno == EADDRINUSE;
	close(fd);
	return r;
}

struct web {
	struct mc_store *s;
	struct mg_context *ctx;
	unsigned port;
	_Atomic bool ready;
	/*
	 * The bearer token, swapped whole by web_set_token() while requests
	 * read it; a replaced token is kept on the retired list until
	 * web_stop, so that a request still comparing against it is safe.
	 */
	struct web_token *_Atomic token;
	struct web_token *retired;
	pthread_mutex_t token_lock;
	uint64_t max_body;
	uint64_t header_ms; /* --header-timeout */
	struct guard *guard;
	_Atomic bool draining;
	_Atomic bool stopping;	/* web_stop began: direct sends give up */
	int lfd[LISTEN_MAX];	/* civetweb's listening sockets */
	char cc[MC_NET_CC_MAX]; /* --http-congestion, "": the system's */
	int nlfd;
	int ufd[LISTEN_MAX]; /* the same descriptors once web_drain replaced
				them */
	int nufd;
	struct mc_relay *relay; /* the IPv6 address's relay, or NULL */
	pthread_t master;	/* civetweb's accept loop, once have_master */
	_Atomic bool have_master;
	struct web_api_state *api;
	/* idle pipes lent to requests (pipe_take), a stack under pipes_mu */
	pthread_mutex_t pipes_mu;
	int pipes[PIPES_MAX][2];
	int npipes;
	struct mc_family *requests, *duration;
	struct route_stats *stats; /* web_nroutes + 1 ("other") */
};

/* Per-thread buffers reused across requests (civetweb workers). */
static __thread struct mc_buf tl_out, tl_scratch;

/*
 * A worker's guard slot (guard.h), and the body it reads: when its head
 * was complete (ns), what was read of it, whether it is chunked.
 */
static __thread struct guard_slot *tl_slot;
static __thread int64_t tl_body_since;
static __thread uint64_t tl_body_got;
static __thread bool tl_body_chunked;
static __thread bool tl_body_first; /* no byte of the body read yet */
/*
 * Whether the request civetweb read last on this worker's connection
 * was answered by us: civetweb drops some unanswered (connection_close).
 */
static __thread bool tl_answered;
/*
 * The socket of the connection this worker serves, which civetweb does
 * not hand out (conn_fd): the descriptor of the last recv(2) on this
 * thread that brought bytes (civetweb's reads, but a handler's own
 * client calls recv too), that descriptor as it was when the request's
 * handling began (civetweb's read of its head, unless the head came
 * with the previous request's bytes), and what conn_fd made of it for
 * the connection: CONN_FD_UNKNOWN until it looked, then the verified
 * socket or -1.
 */
#define CONN_FD_UNKNOWN (-2)
static __thread int tl_recv_fd = -1;
static __thread int tl_head_fd = -1;
static __thread int tl_conn_fd = CONN_FD_UNKNOWN;
static __thread int tl_conn_tried = -1; /* the tl_head_fd found wrong */
/*
 * A body read into a pipe (civet_read_pipe_begin): while @on, civetweb's
 * reads of the connection's socket into @base and on are splices into
 * @pfd; @at is the offset of the first byte that went there, @n how
 * many, @next where civetweb's next read must aim for the bytes to stay
 * in order (any other aim, or a full pipe, ends it: the read is a read).
 */
/*
 * Whether a request is being served on this worker: the reads civetweb
 * makes otherwise are of request heads, which it reads into a buffer of
 * max_request_size (REQUEST_MAX) in as large reads as it can: they are
 * kept to HEAD_READ, so that a body that follows its head is read by its
 * handler straight where it goes (a replica's memory, a pipe), not
 * copied from civetweb's buffer.
 */
#define HEAD_READ (16u << 10)
static __thread bool tl_serving;
static __thread struct {
	bool on;
	int pfd;
	char *base, *next;
	uint64_t at, n;
} tl_sp;

/* ------------------------------------------------------------ metrics */

static const double duration_buckets[] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5};

static void stats_init(struct web *w)
{
	struct mc_metrics *m = mc_store_metrics(w->s);

	w->requests =
		mc_metrics_family(m, "mooncake_http_requests_total",
				  "HTTP requests served, by route and status",
				  MC_COUNTER, "route,code", NULL, 0);
	w->duration = mc_metrics_family(
		m, "mooncake_http_request_duration_seconds",
		"HTTP request latency, by route", MC_HISTOGRAM, "route",
		duration_buckets,
		sizeof(duration_buckets) / sizeof(duration_buckets[0]));
	w->stats = calloc(web_nroutes + 1, sizeof(*w->stats));
	for (size_t i = 0; i <= web_nroutes; i++) {
		struct route_stats *st = &w->stats[i];
		const char *v[2];

		st->label = i < web_nroutes ? web_routes[i].label : "other";
		v[0] = st->label;
		v[1] = "200";
		if (i < web_nroutes && web_route_on(&web_routes[i], w->s))
			atomic_store(&st->code[0],
				     mc_family_series(w->requests, v));
	}
	mc_metrics_add_process(m);
}

static void stats_count(struct web *w, const struct web_route *rt, int status,
			double seconds)
{
	struct route_stats *st =
		&w->stats[rt ? (size_t)(rt - web_routes) : web_nroutes];
	struct mc_series *s = NULL, *d;
	char code[16];
	const char *v[2] = {st->label, code};
	size_t i;

	for (i = 0; i < NCODES && codes[i] != status; i++)
		;
	if (i < NCODES)
		s = atomic_load_explicit(&st->code[i], memory_order_acquire);
	if (!s) {
		snprintf(code, sizeof(code), "%d", status);
		/* The same labels give the same series: a race is harmless. */
		s = mc_family_series(w->requests, v);
		if (i < NCODES)
			atomic_store_explicit(&st->code[i], s,
					      memory_order_release);
	}
	mc_series_add(s, 1);
	d = atomic_load_explicit(&st->duration, memory_order_acquire);
	if (!d) {
		d = mc_family_series(w->duration, v);
		atomic_store_explicit(&st->duration, d, memory_order_release);
	}
	mc_series_observe(d, seconds);
}

/* ------------------------------------------------- the civetweb side */

static int civet_write(void *conn, const void *p, size_t n)
{
	return mg_write(conn, p, n);
}

/*
 * civetweb 1.15 takes a head to end at the first blank line of its
 * buffer, even one among the empty lines before a request line (which
 * it then skips to parse the head): after two empty lines, a body is
 * read from inside the request's own parsed head, and the end of the
 * real body is read as the next request. Such a body begins with that
 * head as civetweb left it (after what is left of the empty lines): the
 * method, NULs where spaces were, the target. Whether @got bytes at @buf,
 * the first of a body, are that. (A body that repeats its own request
 * line so only fails itself.)
 */
static bool head_as_body(void *conn, const char *buf, size_t got)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	const char *m = ri->request_method, *u = ri->request_uri;
	size_t i = 0, ml, ul;

	if (!m || !u)
		return false;
	while (i < got && (buf[i] == '\r' || buf[i] == '\n'))
		i++;
	ml = strlen(m) + 1; /* its NUL: civetweb wrote it on the space */
	if (got - i < ml || memcmp(buf + i, m, ml))
		return false;
	for (i += ml; i < got && !buf[i]; i++) /* and on any more spaces */
		;
	/* as much of the target as the body holds (a short body stops
	 * short: what follows it is the head's rest, no request) */
	ul = strlen(u) < 16 ? strlen(u) : 16;
	if (ul > got - i)
		ul = got - i;
	return !memcmp(buf + i, u, ul);
}

/* The bytes of a read of @got at @buf that landed there, not spliced. */
static size_t read_in_place(const char *buf, size_t got)
{
	const char *spliced;

	if (!tl_sp.next)
		return got;
	spliced = tl_sp.base + tl_sp.at;
	return spliced <= buf		       ? 0
	       : (size_t)(spliced - buf) < got ? (size_t)(spliced - buf)
					       : got;
}

/*
 * Whether the first bytes of a body say civetweb framed it wrong
 * (head_as_body): the read fails, so the request is answered 400 and
 * its connection closed (mooncake-http(7), LIMITS).
 */
static bool misframed(void *conn, const void *buf, int got)
{
	if (got <= 0 || !tl_body_first)
		return false;
	tl_body_first = false;
	if (!head_as_body(conn, buf, read_in_place(buf, (size_t)got)))
		return false;
	mc_info("http: a request after empty lines: civetweb read part of "
		"its head as its body; closing the connection");
	return true;
}

/*
 * A body read under the guard: a poke returns what arrived so far (or,
 * when nothing did, reads again); a kill fails the read with
 * -ETIMEDOUT. civetweb's own silence timeout (a read that returns 0
 * before the body's end) is the same verdict. A chunked body is read in
 * short reads, the watchdog cannot poke those (guard.h).
 */
static int civet_read(void *conn, void *buf, size_t n)
{
	struct guard_slot *sl = tl_slot;
	int got, g;

	if (!sl) {
		got = mg_read(conn, buf, n);
		return misframed(conn, buf, got) ? -EIO : got;
	}
	if (tl_body_chunked && n > WEB_GUARD_CHUNKED_READ)
		n = WEB_GUARD_CHUNKED_READ;
	do {
		guard_wait_body(sl, tl_body_since, tl_body_got, n,
				!tl_body_chunked);
		got = mg_read(conn, buf, n);
		g = guard_done(sl, false);
		if (g == -ETIMEDOUT)
			return -ETIMEDOUT;
	} while (g == -EINTR && got < 0);
	if (got == 0 && n && !tl_body_chunked)
		return -ETIMEDOUT;
	if (misframed(conn, buf, got))
		return -EIO;
	if (got > 0)
		tl_body_got += (uint64_t)got;
	return got;
}

/*
 * civetweb reads its sockets with recv(2) and tells no one when the
 * first bytes of a request head come, which the guard needs to know:
 * while the server drains, a kept-alive connection is cut only if its
 * next request has not begun (guard.h). This recv, to which the dynamic
 * linker binds libcivetweb's calls ahead of libc's, tells it; a thread
 * that is no HTTP worker pays one thread-local test.
 */
typedef ssize_t recv_fn(int fd, void *buf, size_t n, int flags);

static ssize_t recv_plain(int fd, void *buf, size_t n, int flags)
{
	return recvfrom(fd, buf, n, flags, NULL, NULL);
}

/* The recv this one stands in front of: libc's, or a preloaded one's
 * (tests/fault/inject.so's, which must still see civetweb's reads). */
static recv_fn *next_recv(void)
{
	static recv_fn *_Atomic next;
	recv_fn *f = atomic_load_explicit(&next, memory_order_acquire);
	void *sym;

	if (f)
		return f;
	/* (web_start looks first; a failed look, for want of memory,
	 * is not kept) */
	sym = dlsym(RTLD_NEXT, "recv");
	if (!sym)
		return recv_plain;
	memcpy(&f, &sym, sizeof(f));
	atomic_store_explicit(&next, f, memory_order_release);
	return f;
}

/*
 * A read of the connection's socket while a body goes into a pipe: the
 * bytes are spliced there (civetweb counts them as read, so its account
 * of the body stays right, and skips their place in the buffer), as
 * long as they land right after the ones before. 1 and *@got when it
 * did (or failed: *@got < 0), 0 when the read is to be a read.
 */
static int recv_spliced(int fd, void *buf, size_t n, ssize_t *got)
{
	char *b = buf;

	if (fd != tl_conn_fd || b < tl_sp.base ||
	    (tl_sp.next && b != tl_sp.next)) {
		tl_sp.on = false;
		return 0;
	}
	*got = splice(fd, NULL, tl_sp.pfd, NULL, n,
		      SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (*got < 0 && errno == EAGAIN) {
		/* civetweb polled first: the pipe is full */
		tl_sp.on = false;
		return 0;
	}
	if (*got > 0) {
		if (!tl_sp.next)
			tl_sp.at = (uint64_t)(b - tl_sp.base);
		tl_sp.next = b + *got;
		tl_sp.n += (uint64_t)*got;
	}
	return 1;
}

ssize_t recv(int fd, void *buf, size_t n, int flags)
{
	ssize_t got;

	if (tl_slot && !tl_serving && n > HEAD_READ)
		n = HEAD_READ;
	if (!(tl_sp.on && flags == 0 && recv_spliced(fd, buf, n, &got)))
		got = next_recv()(fd, buf, n, flags);
	if (got > 0 && tl_slot) {
		guard_head_begun(tl_slot);
		tl_recv_fd = fd;
	}
	return got;
}

/* Whether socket address @sa is host @host (numeric, as civetweb
 * writes it) and port @port. */
static bool addr_is(const struct sockaddr_storage *sa, socklen_t len,
		    const char *host, int port)
{
	char h[NI_MAXHOST];
	int p;

	if (sa->ss_family == AF_INET)
		p = ntohs(((const struct sockaddr_in *)sa)->sin_port);
	else if (sa->ss_family == AF_INET6)
		p = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	else
		return false;
	if (p != port)
		return false;
	if (!host)
		return true;
	return getnameinfo((const struct sockaddr *)sa, len, h, sizeof(h), NULL,
			   0, NI_NUMERICHOST) == 0 &&
	       strcmp(h, host) == 0;
}

/*
 * The socket of connection @c, or -1 when it is not known for sure (the
 * caller then goes through civetweb). The candidate is the descriptor
 * read last on this thread before the request's handler ran, and it is
 * taken only when it is a stream socket whose peer is the client
 * civetweb names (address and port) and whose own port is the server
 * port of the request: a socket a handler read as a client (a cluster
 * call, a transfer) has another peer and a port of its own. Looked at
 * once per connection (init_connection forgets it) and per candidate.
 */
static int conn_fd(struct mg_connection *c)
{
	const struct mg_request_info *ri;
	struct sockaddr_storage peer, self;
	socklen_t plen = sizeof(peer), slen = sizeof(self), tlen;
	int fd = tl_head_fd, type = 0;

	if (tl_conn_fd != CONN_FD_UNKNOWN)
		return tl_conn_fd;
	if (fd < 0 || fd == tl_conn_tried)
		return -1;
	ri = mg_get_request_info(c);
	tlen = sizeof(type);
	if (!ri || ri->is_ssl ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) ||
	    type != SOCK_STREAM ||
	    getpeername(fd, (struct sockaddr *)&peer, &plen) ||
	    getsockname(fd, (struct sockaddr *)&self, &slen) ||
	    !addr_is(&peer, plen, ri->remote_addr, ri->remote_port) ||
	    !addr_is(&self, slen, NULL, ri->server_port)) {
		tl_conn_tried = fd;
		return -1;
	}
	tl_conn_fd = fd;
	return fd;
}

/*
 * A direct send found no room: 0 once there may be some (poll(2), at
 * most a watchdog tick), -EIO when the answer has made no progress for
 * the header timeout (since *@idle_since, set here) or the server stops.
 */
static int wait_room(struct web *w, int fd, int64_t *idle_since)
{
	if (!*idle_since)
		*idle_since = guard_now();
	else if (guard_now() - *idle_since >= (int64_t)w->header_ms * 1000000)
		return -EIO;
	if (atomic_load_explicit(&w->stopping, memory_order_relaxed))
		return -EIO;
	poll(&(struct pollfd){.fd = fd, .events = POLLOUT}, 1,
	     WEB_GUARD_TICK_MS);
	return 0;
}

/*
 * Sends @m's bytes on socket @fd with @flags, waiting for room
 * (wait_room): 0, or -EIO when the answer was cut.
 */
static int send_msg(struct web *w, int fd, struct msghdr *m, int flags,
		    int64_t *idle_since)
{
	while (m->msg_iovlen) {
		ssize_t sent =
			sendmsg(fd, m, flags | MSG_NOSIGNAL | MSG_DONTWAIT);

		if (sent > 0) {
			*idle_since = 0;
			while (m->msg_iovlen &&
			       (size_t)sent >= m->msg_iov->iov_len) {
				sent -= (ssize_t)m->msg_iov->iov_len;
				m->msg_iov++;
				m->msg_iovlen--;
			}
			if (m->msg_iovlen) {
				m->msg_iov->iov_base =
					(char *)m->msg_iov->iov_base + sent;
				m->msg_iov->iov_len -= (size_t)sent;
			}
			continue;
		}
		if (sent < 0 && errno == EINTR)
			continue;
		if (sent == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) ||
		    wait_room(w, fd, idle_since))
			return -EIO;
	}
	return 0;
}

/*
 * @h then @p in one sendmsg(2) on the connection's socket when it is
 * known (conn_fd), so that a head never leaves in a packet of its own
 * ahead of a large body: the client wakes once, not twice. Like
 * civetweb's own writes, it waits for room in poll(2), gives up after
 * the header timeout without progress, and when the server stops.
 * Otherwise two mg_writes. 0, or -EIO when the answer was cut.
 */
static int civet_write2(void *conn, const void *h, size_t hl, const void *p,
			size_t n)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	struct web *w = ri ? ri->user_data : NULL;
	int fd = w ? conn_fd(conn) : -1;
	struct iovec iov[2] = {{(void *)h, hl}, {(void *)p, n}};
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
	int64_t idle_since = 0;

	if (fd < 0) {
		if (mg_write(conn, h, hl) != (int)hl ||
		    (n && mg_write(conn, p, n) != (int)n))
			return -EIO;
		return 0;
	}
	return send_msg(w, fd, &m, 0, &idle_since);
}

/*
 * @h, then @n bytes from pipe @pfd spliced behind it (splice(2): they
 * never enter this process's memory), on the connection's socket, which
 * pipe_take made sure is known (conn_fd); civetweb keeps it
 * non-blocking, so each splice takes what room there is and room is
 * waited for as in civet_write2. The head leaves corked (MSG_MORE), in
 * the first packet of the body.
 */
static int civet_write_pipe(void *conn, const void *h, size_t hl, int pfd,
			    size_t n)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	struct web *w = ri ? ri->user_data : NULL;
	int fd = w ? conn_fd(conn) : -1;
	struct iovec iov = {(void *)h, hl};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	int64_t idle_since = 0;

	if (fd < 0 || send_msg(w, fd, &m, MSG_MORE, &idle_since))
		return -EIO;
	while (n) {
		ssize_t r = splice(pfd, NULL, fd, NULL, n,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

		if (r > 0) {
			idle_since = 0;
			n -= (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0 || errno != EAGAIN || wait_room(w, fd, &idle_since))
			return -EIO;
	}
	return 0;
}

/* A pipe of the idle stack, or a new one as large as this user may have. */
static int civet_pipe_take(void *conn, int fds[2])
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	struct web *w = ri ? ri->user_data : NULL;

	if (!w || conn_fd(conn) < 0)
		return -1;
	pthread_mutex_lock(&w->pipes_mu);
	if (w->npipes) {
		w->npipes--;
		fds[0] = w->pipes[w->npipes][0];
		fds[1] = w->pipes[w->npipes][1];
		pthread_mutex_unlock(&w->pipes_mu);
		return 0;
	}
	pthread_mutex_unlock(&w->pipes_mu);
	if (pipe2(fds, O_CLOEXEC))
		return -1;
	/* past the user's share (pipe-user-pages-soft) the pipe stays
	 * small: what it will not hold goes through memory */
	fcntl(fds[1], F_SETPIPE_SZ, PIPE_BYTES);
	return 0;
}

static void civet_pipe_give(void *conn, int fds[2], bool empty)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	struct web *w = ri->user_data;

	if (empty) {
		pthread_mutex_lock(&w->pipes_mu);
		if (w->npipes < PIPES_MAX) {
			w->pipes[w->npipes][0] = fds[0];
			w->pipes[w->npipes][1] = fds[1];
			w->npipes++;
			fds[0] = fds[1] = -1;
		}
		pthread_mutex_unlock(&w->pipes_mu);
	}
	if (fds[0] >= 0) {
		close(fds[0]);
		close(fds[1]);
	}
}

static void civet_read_pipe_begin(void *conn, int wfd, void *base)
{
	if (conn_fd(conn) < 0)
		return;
	tl_sp.on = true;
	tl_sp.pfd = wfd;
	tl_sp.base = base;
	tl_sp.next = NULL;
	tl_sp.at = tl_sp.n = 0;
}

static void civet_read_pipe_end(void *conn, uint64_t *at, uint64_t *n)
{
	*at = tl_sp.at;
	*n = tl_sp.n;
	memset(&tl_sp, 0, sizeof(tl_sp));
}

static void civet_no_keep_alive(void *conn)
{
	mg_disable_connection_keep_alive(conn);
}

static bool civet_draining(void *conn)
{
	const struct web *w = mg_get_request_info(conn)->user_data;

	return atomic_load_explicit(&w->draining, memory_order_relaxed);
}

static const char *civet_http_version(void *conn)
{
	return mg_get_request_info(conn)->http_version;
}

static const char *civet_header(void *conn, const char *name)
{
	return mg_get_header(conn, name);
}

static const struct web_io civet_io = {
	.write = civet_write,
	.write2 = civet_write2,
	.pipe_take = civet_pipe_take,
	.pipe_give = civet_pipe_give,
	.read_pipe_begin = civet_read_pipe_begin,
	.read_pipe_end = civet_read_pipe_end,
	.write_pipe = civet_write_pipe,
	.read = civet_read,
	.no_keep_alive = civet_no_keep_alive,
	.draining = civet_draining,
	.http_version = civet_http_version,
	.header = civet_header,
};

static void buffers_ready(void)
{
	web_buffers_ready(&tl_out, &tl_scratch);
}

/*
 * What a worker keeps between requests is paid a thousand times over
 * (WEB_THREADS): buffers past KEEP_MAX, which only large answers and
 * bodies need, go back after the request.
 */
static void buffers_trim(void)
{
	if (tl_out.cap > KEEP_MAX)
		mc_buf_release(&tl_out);
	if (tl_scratch.cap > KEEP_MAX)
		mc_buf_release(&tl_scratch);
	web_api_thread_trim();
}

/*
 * Each worker reads heads into a buffer of its own (max_request_size),
 * which keeps the pages a long head touched; with a thousand workers a
 * few long /batch_query_keys requests each would leave most of them
 * resident. Once a request is answered, the whole pages inside its
 * request target and inside its long field values (all but Connection,
 * which civetweb reads after us) are given back. Only heads with a part
 * of RECLAIM_MIN or more pay the system call.
 */
static void reclaim(const char *p, size_t n)
{
	uintptr_t a, b, pg = (uintptr_t)sysconf(_SC_PAGESIZE);

	if (n < RECLAIM_MIN)
		return;
	a = ((uintptr_t)p + pg - 1) & ~(pg - 1);
	b = ((uintptr_t)p + n) & ~(pg - 1);
	if (b > a)
		madvise((void *)a, b - a, MADV_DONTNEED);
}

/* @longest: the longest field value (web_framing). */
static void reclaim_head(const struct mg_request_info *ri, size_t longest)
{
	const char *u = ri->request_uri, *q = ri->query_string;

	/* the target runs on into its query (civetweb cut it at '?') */
	if (u)
		reclaim(u, q ? (size_t)(q - u) + strlen(q) : strlen(u));
	if (longest < RECLAIM_MIN)
		return;
	for (int i = 0; i < ri->num_headers; i++)
		if (strcasecmp(ri->http_headers[i].name, "Connection"))
			reclaim(ri->http_headers[i].value,
				strlen(ri->http_headers[i].value));
}

/*
 * A request refused before any route sees it (its head or framing is
 * bad, or civetweb could not read it): a short text body and a closed
 * connection, since what follows on the wire can no longer be trusted
 * to start a request.
 */
static int refuse(struct mg_connection *c, int status, const char *why)
{
	const struct mg_request_info *ri = mg_get_request_info(c);
	struct web *w = ri ? ri->user_data : NULL;
	struct web_req r = {0};

	buffers_ready();
	r.io = &civet_io;
	r.conn = c;
	r.out = &tl_out;
	r.path = "/";
	r.path_len = 1;
	r.body_done = true;
	r.conn_hdr = "close";
	mg_disable_connection_keep_alive(c);
	mc_buf_adds(r.out, web_status_reason(status));
	web_resp_send(&r, status, WEB_CT_TEXT);
	tl_answered = true;
	if (w)
		stats_count(w, NULL, status, 0);
	/* a stalled client's timeout is routine: only debug */
	mc_log(status == 408 ? MC_LOG_DEBUG : MC_LOG_INFO,
	       "http: %d from %s: %s", status,
	       ri && ri->remote_addr[0] ? ri->remote_addr : "?",
	       why && *why ? why : web_status_reason(status));
	return status;
}

/*
 * civetweb parses the head in place (NULs over the ':' and the line
 * ends) and stops without a word at the 65th field, or at a line that
 * starts with a blank (obs-fold) or ':', so a Content-Length after it
 * would go unseen. The line after the last field it kept tells: the end
 * of the head ('\r' of the empty line, or the NUL it wrote over the
 * last '\n'), or a line it did not take. A line end left one NUL (LF)
 * or two (CRLF); the last one is taken to be like the one before it,
 * which the distance from the previous field (or the request line) to
 * the last field's name shows.
 */
static bool head_cut(const struct mg_request_info *ri)
{
	int n = ri->num_headers;
	const char *prev, *end;
	size_t eol;

	if (n <= 0)
		return false; /* HTTP/1.1 needs a Host: web_framing says so */
	prev = n > 1 ? ri->http_headers[n - 2].value : ri->http_version;
	if (!prev)
		return false;
	eol = (size_t)(ri->http_headers[n - 1].name - (prev + strlen(prev)));
	if (eol < 1 || eol > 2)
		return true; /* blanks before the first field */
	end = ri->http_headers[n - 1].value;
	end += strlen(end);
	if (eol == 2 && end[1])
		return true; /* a bare LF after CRLFs */
	return end[eol] != '\r' && end[eol] != '\0';
}

/*
 * civetweb reads "Name : v" as the field "Name" (it writes NULs over the
 * blanks before the colon and over the colon): a NUL right after the
 * name's own, which is not the empty value starting there, tells.
 */
static bool blank_colon(const struct mg_header *h)
{
	const char *e = h->name + strlen(h->name);

	return e[1] == '\0' && h->value != e + 1;
}

/*
 * The framing checks (web_framing) over civetweb's parsed fields: 0 and
 * the body's length and coding, or the status to refuse the request
 * with and why.
 */
static int framing(const struct mg_request_info *ri, int64_t *clen,
		   bool *chunked, size_t *longest, const char **why)
{
	struct web_field f[WEB_FIELDS_MAX];
	int n = ri->num_headers;

	for (int i = 0; i < n; i++) {
		f[i].name = ri->http_headers[i].name;
		f[i].value = ri->http_headers[i].value;
		f[i].blank_colon = blank_colon(&ri->http_headers[i]);
	}
	return web_framing(f, (size_t)n, head_cut(ri),
			   ri->http_version && !strcmp(ri->http_version, "1.1"),
			   clen, chunked, longest, why);
}

/*
 * The length of the request line civetweb read (method, target, version
 * and their two blanks), which may be up to LINE_MAX_B (mooncake-http(7),
 * LIMITS): civetweb only bounds the whole head.
 */
static size_t line_len(const struct mg_request_info *ri)
{
	const char *uri = ri->request_uri ? ri->request_uri : "";

	return strlen(ri->request_method ? ri->request_method : "") + 1 +
	       strlen(uri) +
	       (ri->query_string ? 1 + strlen(ri->query_string) : 0) + 1 + 5 +
	       strlen(ri->http_version ? ri->http_version : "");
}

/* What of a request civetweb read, for serve(). */
enum serve_kind {
	SERVE_REQUEST, /* a request it took (begin_request) */
	SERVE_REFUSED, /* a whole head it refused: the connection's last */
	SERVE_LINE,    /* refused at its method: the request line alone */
};

/*
 * Serves the request civetweb read on @c as the raw target @path (@len
 * bytes) with @query. A SERVE_LINE request has no known field: no route
 * takes its method, so the lookup answers it (404, or 405 with Allow).
 */
static int serve(struct mg_connection *c, const char *path, size_t len,
		 const char *query, enum serve_kind kind)
{
	const struct mg_request_info *ri = mg_get_request_info(c);
	struct web *w = ri->user_data;
	struct web_req r = {0};
	struct timespec t0, t1;
	const struct web_token *tok;
	const char *h, *why;
	size_t longest = 0;
	int st = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (tl_slot && guard_done(tl_slot, false) == -ETIMEDOUT)
		return refuse(c, 408,
			      "request head not complete within "
			      "--header-timeout");
	r.content_length = -1;
	if (kind != SERVE_LINE)
		st = framing(ri, &r.content_length, &r.chunked, &longest, &why);
	if (!st && kind == SERVE_REQUEST && line_len(ri) > LINE_MAX_B) {
		st = 431;
		why = "request line longer than 1 MiB";
	}
	if (st) {
		reclaim_head(ri, longest);
		return refuse(c, st, why);
	}
	tl_head_fd = tl_recv_fd; /* before any handler's own recv */
	tl_sp.on = false;
	tl_serving = true;
	tl_body_since = (int64_t)t0.tv_sec * 1000000000LL + t0.tv_nsec;
	tl_body_got = 0;
	tl_body_chunked = r.chunked;
	tl_body_first = true;
	buffers_ready();
	r.s = w->s;
	r.api = w->api;
	r.peer = ri->remote_addr;
	r.max_body = w->max_body;
	r.io = &civet_io;
	r.conn = c;
	r.out = &tl_out;
	r.scratch = &tl_scratch;
	r.ready = atomic_load_explicit(&w->ready, memory_order_relaxed);
	r.method = kind == SERVE_LINE ? WEB_M_OTHER
				      : web_method_parse(ri->request_method);
	r.head = r.method == WEB_M_HEAD;
	r.path = path;
	r.path_len = len;
	r.query = query;
	h = mg_get_header(c, "Expect");
	r.expect_continue = h && !strcasecmp(h, "100-continue") &&
			    ri->http_version && strcmp(ri->http_version, "1.0");
	h = mg_get_header(c, "Connection");
	if (ri->http_version && strcmp(ri->http_version, "1.0") == 0) {
		if (h && strcasestr(h, "keep-alive"))
			r.conn_hdr = "keep-alive";
	} else if (h && strcasestr(h, "close")) {
		r.conn_hdr = "close";
	}
	/* draining: each connection's answer is its last; civetweb ends
	 * the connection after a request it refused */
	if (kind != SERVE_REQUEST ||
	    atomic_load_explicit(&w->draining, memory_order_relaxed)) {
		r.conn_hdr = "close";
		mg_disable_connection_keep_alive(c);
	}

	tok = atomic_load_explicit(&w->token, memory_order_acquire);
	web_serve(&r, tok ? tok->tok : NULL, tok ? tok->len : 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	stats_count(w, r.route, r.status,
		    (double)(t1.tv_sec - t0.tv_sec) +
			    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	buffers_trim();
	reclaim_head(ri, longest);
	tl_serving = false;
	tl_answered = kind != SERVE_REQUEST; /* else the next is not, yet */
	/* the next head on this connection is due a header timeout from now */
	if (tl_slot && kind == SERVE_REQUEST)
		guard_wait_head(tl_slot,
				(int64_t)t1.tv_sec * 1000000000LL + t1.tv_nsec,
				false);
	return r.status;
}

static int begin_request(struct mg_connection *c)
{
	const struct mg_request_info *ri = mg_get_request_info(c);
	const char *p = ri->local_uri_raw ? ri->local_uri_raw : "/";

	return serve(c, p, strlen(p), ri->query_string, SERVE_REQUEST);
}

/* The methods civetweb 1.15 takes (http_methods in civetweb.c). */
static bool civet_method(const char *m)
{
	static const char *const known[] = {
		"GET",	    "POST",    "PUT",	    "DELETE",
		"HEAD",	    "OPTIONS", "CONNECT",   "PATCH",
		"PROPFIND", "MKCOL",   "PROPPATCH", "LOCK",
		"UNLOCK",   "COPY",    "MOVE",	    "REPORT",
	};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(m, known[i]))
			return true;
	return false;
}

/* Whether @s is a token (RFC 9110 section 5.6.2), as a method must be. */
static bool is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
		    !(*s >= '0' && *s <= '9') && !strchr("!#$%&'*+-.^_`|~", *s))
			return false;
	return true;
}

/*
 * The raw path and query of @uri: origin-form as it is; absolute-form
 * ("http://HOST[:PORT]/p") whatever its authority, which is not used to
 * route (mooncake-http(7), LIMITS: a client behind a port mapping names
 * the outside port), with an empty path read as "/" (RFC 9110 section
 * 4.2.3). NULL for any other target (no scheme of ours, an empty host,
 * a port that is no number), or one with a byte civetweb would not take
 * in a path (a control character, a blank).
 */
static const char *local_target(const char *uri, size_t *len,
				const char **query)
{
	const char *a, *end, *colon, *q;

	for (const char *p = uri; *p; p++)
		if ((unsigned char)*p < 33 || *p == 127)
			return NULL;
	if (uri[0] != '/') {
		if (!strncasecmp(uri, "http://", 7))
			a = uri + 7;
		else if (!strncasecmp(uri, "https://", 8))
			a = uri + 8;
		else
			return NULL;
		end = a + strcspn(a, "/?");
		colon = memchr(a, ':', (size_t)(end - a));
		if (colon) {
			char *e;

			strtoul(colon + 1, &e, 10);
			if (e != end || e == colon + 1)
				return NULL;
		}
		if (end == a)
			return NULL;
		uri = end;
	}
	q = strchr(uri, '?');
	*len = q ? (size_t)(q - uri) : strlen(uri);
	*query = q ? q + 1 : NULL;
	if (*len == 0) {
		*len = 1;
		return "/";
	}
	return uri;
}

/*
 * Requests civetweb refuses that a route can answer: a method it does
 * not know (TRACE, LINK; it read the request line only) gets the 404 or
 * 405 with Allow of any method no route takes; an absolute-form target
 * with an empty path ("http://HOST:PORT") is served as "/". 0 when
 * served, else the status to refuse with.
 */
static int serve_refused(struct mg_connection *c, int status, const char *msg)
{
	const struct mg_request_info *ri = mg_get_request_info(c);
	const char *v = ri->http_version, *path, *query;
	bool line;
	size_t len;

	if (status != 400 || !ri->request_method || !ri->request_uri || !v)
		return status;
	/* civetweb read "HTTP/" before the version it gives (v[-1] is
	 * inside the request line: the target and a blank precede it) */
	line = !civet_method(ri->request_method) &&
	       is_token(ri->request_method) && v[-1] == '/' &&
	       (!strcmp(v, "1.0") || !strcmp(v, "1.1"));
	if (!line && !(msg && !strcmp(msg, "Invalid URI")))
		return status;
	path = local_target(ri->request_uri, &len, &query);
	if (!path)
		return status;
	serve(c, path, len, query, line ? SERVE_LINE : SERVE_REFUSED);
	return 0;
}

/*
 * Errors civetweb finds itself (malformed request line, a head past
 * max_request_size, a Content-Length it cannot read, timeouts). A head
 * too large is 431 rather than civetweb's 413; a Content-Length that is
 * no number is 400 like every other framing error, not 411.
 */
static int http_error(struct mg_connection *c, int status, const char *msg)
{
	const struct mg_request_info *ri = mg_get_request_info(c);
	struct web *w = ri ? ri->user_data : NULL;

	if (status == 413)
		status = 431;
	else if (status == 411)
		status = 400;

	/*
	 * civetweb calls a head it gave up on "Malformed message" whether
	 * it was cut by our watchdog, by its own request_timeout_ms, or
	 * was garbage: the first two are a head not complete in time.
	 */
	if (tl_slot) {
		int64_t since = atomic_load_explicit(&tl_slot->since,
						     memory_order_relaxed);

		if (guard_done(tl_slot, false) == -ETIMEDOUT ||
		    (w && status == 400 &&
		     guard_now() - since >= (int64_t)w->header_ms * 1000000)) {
			status = 408;
			msg = "request head not complete within "
			      "--header-timeout";
		}
	}
	if (w && serve_refused(c, status, msg) == 0)
		return 0;
	refuse(c, status, msg);
	return 0;
}

static void *init_thread(const struct mg_context *ctx, int type)
{
	struct web *w = mg_get_user_data(ctx);

	/* workers (type 1) wait for clients; the master (0) accepts */
	if (type == 1 && w && w->guard)
		tl_slot = guard_claim(w->guard);
	if (type == 0 && w) {
		w->master = pthread_self();
		atomic_store(&w->have_master, true);
		guard_listen(w->guard);
	}
	return NULL;
}

static int init_connection(const struct mg_connection *c, void **data)
{
	tl_answered = false;
	tl_conn_fd = CONN_FD_UNKNOWN;
	tl_conn_tried = -1;
	if (tl_slot)
		guard_wait_head(tl_slot, guard_now(), true);
	return 0;
}

/*
 * civetweb closes the connection without a word after a request whose
 * target is not a path here (civetweb calls it a proxy request): the
 * asterisk-form of OPTIONS, or an absolute-form target naming another
 * port (none is 80). Such a request, parsed and not answered, is
 * answered now, as the connection's last: an absolute-form target like
 * an origin-form one (its authority is not used to route), "*" 400.
 */
static void connection_close(const struct mg_connection *c)
{
	const struct mg_request_info *ri = mg_get_request_info(c);

	if (!tl_answered && ri && ri->request_method && ri->request_uri &&
	    ri->http_version && !ri->local_uri) {
		const char *path, *query;
		size_t len;

		path = local_target(ri->request_uri, &len, &query);
		if (path) {
			serve((struct mg_connection *)c, path, len, query,
			      SERVE_REFUSED);
		} else {
			if (tl_slot)
				guard_done(tl_slot, false);
			refuse((struct mg_connection *)c, 400,
			       !strcmp(ri->request_uri, "*")
				       ? "an asterisk-form target"
				       : "a target that is no path here");
		}
	}
	if (tl_slot)
		guard_done(tl_slot, true);
}

static int log_message(const struct mg_connection *c, const char *msg)
{
	mc_debug("civetweb: %s", msg);
	return 1;
}

static void exit_thread(const struct mg_context *ctx, int type, void *p)
{
	if (tl_slot) {
		guard_done(tl_slot, true);
		tl_slot = NULL;
	}
	mc_buf_release(&tl_out);
	mc_buf_release(&tl_scratch);
	web_api_thread_exit();
}

/* ----------------------------------------------------------- lifetime */

static void relay_say(const char *msg)
{
	mc_warn("%s", msg);
}

/* Whether @fd listens on @port (a TCP socket in LISTEN state). */
static bool listens_on(int fd, unsigned port)
{
	struct sockaddr_storage a;
	socklen_t alen = sizeof(a);
	int on = 0;
	socklen_t olen = sizeof(on);

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &olen) || !on ||
	    getsockname(fd, (struct sockaddr *)&a, &alen))
		return false;
	if (a.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&a)->sin_port) == port;
	if (a.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&a)->sin6_port) == port;
	return false;
}

/*
 * civetweb names no socket of its own, and mg_stop() would also cut the
 * requests under way: web_drain() closes the listening sockets itself,
 * found once here by their port.
 */
static void find_listeners(struct web *w)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)) && w->nlfd < LISTEN_MAX) {
		int fd = atoi(de->d_name);

		if (de->d_name[0] >= '0' && de->d_name[0] <= '9' &&
		    fd != dirfd(d) && listens_on(fd, w->port))
			w->lfd[w->nlfd++] = fd;
	}
	closedir(d);
}

struct web *web_start(struct mc_store *s, const struct web_opts *o,
		      struct mc_err *err)
{
	struct web *w = calloc(1, sizeof(*w));
	struct mg_callbacks cb = {0};
	struct mg_init_data init = {0};
	char ebuf[256] = "";
	struct mg_error_data ed = {.text = ebuf,
				   .text_buffer_size = sizeof(ebuf)};
	char ports[300], threads[16], head_ms[24];
	unsigned nthreads = o->threads ? o->threads : WEB_THREADS;
	const char *host = o->host && *o->host ? o->host : "127.0.0.1";
	const char *civet_host;
	bool relay = false;
	struct mg_server_port sp[4];
	struct in_addr a4;
	struct in6_addr a6;
	char ccmsg[320];
	int np;

	if (!w) {
		mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR, "out of memory");
		return NULL;
	}
	/*
	 * A name handed in is the caller's choice (the daemon's, made
	 * before anything started): the listeners' setsockopt below is
	 * its only check. NULL chooses the default (mooncaked(8),
	 * --http-congestion: why it is set).
	 */
	if (!o->congestion) {
		mc_net_cc_choose(NULL, "--http-congestion", "http_congestion",
				 w->cc, ccmsg, sizeof(ccmsg));
		if (ccmsg[0])
			mc_info("http: %s", ccmsg);
	} else if (strlen(o->congestion) >= sizeof(w->cc)) {
		mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
			   "invalid congestion control '%.64s': at most %d "
			   "characters",
			   o->congestion, MC_NET_CC_MAX - 1);
		free(w);
		return NULL;
	} else if (strcmp(o->congestion, "system")) {
		snprintf(w->cc, sizeof(w->cc), "%s", o->congestion);
	}
	w->s = s;
	w->max_body = o->max_body ? o->max_body : 100ull << 20;
	w->header_ms = o->header_ms ? o->header_ms : WEB_HEADER_MS;
	pthread_mutex_init(&w->token_lock, NULL);
	pthread_mutex_init(&w->pipes_mu, NULL);
	if (o->auth_token) {
		struct web_token *k = token_new(o->auth_token);

		if (!k) {
			mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				   errno == EINVAL ? "the auth token is empty"
						   : "out of memory");
			pthread_mutex_destroy(&w->token_lock);
			free(w);
			return NULL;
		}
		atomic_init(&w->token, k);
	}
	/*
	 * civetweb takes IP literals only and reads a bad one loosely
	 * ("999.1.1.1" binds 231.1.1.1): check it here.
	 */
	if (strcmp(host, "localhost") == 0)
		host = "127.0.0.1";
	if (inet_pton(AF_INET, host, &a4) != 1) {
		bool v6 = inet_pton(AF_INET6, host, &a6) == 1;

		if (!v6) {
			mc_err_set(err, -EIO, MC_INTERNAL_ERROR,
				   "bad bind address '%s': not an IPv4 or "
				   "IPv6 address",
				   host);
			tokens_free(atomic_load(&w->token));
			pthread_mutex_destroy(&w->token_lock);
			free(w);
			return NULL;
		}
	}
	/*
	 * A civetweb without IPv6 (Debian 12's) listens on IPv4 and our
	 * relay on the IPv6 address, same port (mooncaked(8), --host).
	 */
	civet_host = host;
	if (strchr(host, ':') && !mg_check_feature(8)) {
		relay = true;
		civet_host =
			IN6_IS_ADDR_UNSPECIFIED(&a6) ? "0.0.0.0" : "127.0.0.1";
	}
	snprintf(ports, sizeof(ports),
		 strchr(civet_host, ':') ? "[%s]:%u" : "%s:%u", civet_host,
		 o->port);
	snprintf(threads, sizeof(threads), "%u", nthreads);
	snprintf(head_ms, sizeof(head_ms), "%llu",
		 (unsigned long long)w->header_ms);
	/*
	 * civetweb's own timeouts are the header timeout too: a backstop
	 * behind the guard's (for a head, civetweb measures only between
	 * bytes, so it cuts a trickle late, at up to twice the timeout).
	 */
	const char *opts[] = {
		"listening_ports",
		ports,
		"num_threads",
		threads,
		"enable_keep_alive",
		"yes",
		"keep_alive_timeout_ms",
		head_ms,
		"request_timeout_ms",
		head_ms,
		"max_request_size",
		REQUEST_MAX,
		"decode_url",
		"no",
		"enable_auth_domain_check",
		"no",
		"tcp_nodelay",
		"1",
		"connection_queue",
		"256",
		NULL,
	};

	w->guard = guard_new(nthreads, w->header_ms);
	if (!w->guard) {
		mc_err_set(err, -errno, MC_INTERNAL_ERROR,
			   "cannot start the HTTP watchdog: %s",
			   strerror(errno));
		tokens_free(atomic_load(&w->token));
		pthread_mutex_destroy(&w->token_lock);
		free(w);
		return NULL;
	}
	next_recv();
	w->api = web_api_state_new();
	web_api_state_set_page(w->api, o->page);
	stats_init(w);
	cb.begin_request = begin_request;
	cb.http_error = http_error;
	cb.log_message = log_message;
	cb.init_thread = init_thread;
	cb.exit_thread = exit_thread;
	cb.init_connection = init_connection;
	cb.connection_close = connection_close;
	init.callbacks = &cb;
	init.user_data = w;
	init.configuration_options = opts;
	mg_init_library(0);
	w->ctx = mg_start2(&init, &ed);
	if (!w->ctx) {
		/*
		 * civetweb only says "Failed to setup server ports": say
		 * what a person can act on, and which option picks another.
		 */
		if (o->port && (port_in_use(civet_host, o->port) ||
				(relay && port_in_use(host, o->port))))
			mc_err_set(err, -EADDRINUSE, MC_INTERNAL_ERROR,
				   "cannot listen on '%s': the port is in "
				   "use; choose another with --port",
				   ports);
		else
			mc_err_set(err, -EIO, MC_INTERNAL_ERROR,
				   "cannot listen on '%s': %s", ports,
				   ebuf[0] ? ebuf : "civetweb failed to start");
		goto fail;
	}
	np = mg_get_server_ports(w->ctx, 4, sp);
	if (np < 1) {
		mc_err_set(err, -EIO, MC_INTERNAL_ERROR,
			   "cannot find the port bound for '%s'", ports);
		mg_stop(w->ctx);
		goto fail;
	}
	w->port = (unsigned)sp[0].port;
	find_listeners(w);
	/*
	 * The connections take their listener's algorithm when accepted;
	 * those accepted before this line (none answered yet: /health says
	 * 503 until web_set_ready) keep the system's.
	 */
	for (int i = 0; i < w->nlfd; i++) {
		int r = mc_net_cc_set(w->lfd[i], w->cc);

		if (r) {
			mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				   "cannot set congestion control '%s' on "
				   "port %u: %s",
				   w->cc, w->port, mc_net_cc_why(r));
			mg_stop(w->ctx);
			goto fail;
		}
	}
	if (relay) {
		struct mc_relay_opts ro = {.host = host,
					   .port = w->port,
					   .stall_ms = (unsigned)w->header_ms,
					   .name = "http-relay",
					   .say = relay_say,
					   .congestion = w->cc};

		w->relay = mc_relay_start(&ro);
		if (!w->relay) {
			mc_err_set(err, -errno, MC_INTERNAL_ERROR,
				   errno == EADDRINUSE
					   ? "cannot listen on '[%s]:%u': the "
					     "port is in use; choose another "
					     "with --port"
					   : "cannot listen on '[%s]:%u': %s",
				   host, w->port, strerror(errno));
			mg_stop(w->ctx);
			goto fail;
		}
	}
	return w;
fail:
	mg_exit_library();
	guard_free(w->guard);
	web_api_state_free(w->api);
	free(w->stats);
	tokens_free(atomic_load(&w->token));
	pthread_mutex_destroy(&w->token_lock);
	free(w);
	return NULL;
}

unsigned web_port(const struct web *w)
{
	return w->port;
}

/*
 * A listening socket is closed under civetweb's accept loop by putting
 * a UDP socket in its place (dup3), which civetweb then polls in vain
 * until mg_stop closes it, and shutting the listener down through a
 * copy of its descriptor, which resets the connections queued on it at
 * once rather than when civetweb's poll returns. That poll, of the
 * old listener, would last up to two seconds (no wake-up reaches it any
 * more): the guard's signal ends it, and civetweb polls the UDP socket
 * from then on. That socket is bound to loopback, so that web_stop can
 * wake the poll with a datagram (civetweb looks at its stop flag only
 * between polls).
 */
void web_drain(struct web *w)
{
	struct sockaddr_in lo = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

	atomic_store(&w->ready, false);
	atomic_store(&w->draining, true);
	guard_drain(w->guard);
	mc_relay_unlisten(w->relay);
	for (int i = 0; i < w->nlfd; i++) {
		int fd = w->lfd[i], copy, udp;

		if (!listens_on(fd, w->port))
			continue;
		copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (copy < 0 || udp < 0 ||
		    bind(udp, (struct sockaddr *)&lo, sizeof(lo)) ||
		    dup3(udp, fd, O_CLOEXEC) < 0) {
			mc_warn("http: cannot close the listening socket: %s",
				strerror(errno));
		} else {
			shutdown(copy, SHUT_RDWR);
			w->ufd[w->nufd++] = fd;
		}
		if (udp >= 0)
			close(udp);
		if (copy >= 0)
			close(copy);
	}
	w->nlfd = 0;
	if (atomic_load(&w->have_master))
		guard_interrupt(w->master);
}

/*
 * Wakes civetweb's accept loop out of its poll: a connection to a
 * listener still open, a datagram to the socket web_drain put in its
 * place.
 */
static void wake_master(struct web *w)
{
	for (int i = 0; i < w->nlfd + w->nufd; i++) {
		bool listening = i < w->nlfd;
		int fd = listening ? w->lfd[i] : w->ufd[i - w->nlfd];
		struct sockaddr_storage a;
		socklen_t alen = sizeof(a);
		int s;

		if (getsockname(fd, (struct sockaddr *)&a, &alen))
			continue;
		s = socket(a.ss_family,
			   (listening ? SOCK_STREAM : SOCK_DGRAM) |
				   SOCK_CLOEXEC | SOCK_NONBLOCK,
			   0);
		if (s < 0)
			continue;
		if (listening)
			connect(s, (struct sockaddr *)&a, alen);
		else
			sendto(s, "", 1, 0, (struct sockaddr *)&a, alen);
		close(s);
	}
}

static void *stopper(void *ctx)
{
	mg_stop(ctx);
	return NULL;
}

unsigned web_busy(struct web *w)
{
	return guard_busy(w->guard);
}

void web_set_ready(struct web *w, bool ready)
{
	atomic_store(&w->ready, ready);
}

void web_stop(struct web *w)
{
	struct timespec tick = {0, 10 * 1000 * 1000};
	pthread_t t;

	if (!w)
		return;
	/*
	 * Quickly: civetweb's threads notice its stop flag only after a
	 * poll of up to two seconds. Cut every wait for a client, and wake
	 * the accept loop (which then wakes the idle workers) until
	 * mg_stop, in a thread of its own, has seen it end.
	 */
	atomic_store(&w->stopping, true);
	guard_stop(w->guard);
	if (pthread_create(&t, NULL, stopper, w->ctx)) {
		mg_stop(w->ctx);
	} else {
		while (pthread_tryjoin_np(t, NULL) == EBUSY) {
			wake_master(w);
			nanosleep(&tick, NULL);
		}
	}
	/*
	 * civetweb has closed its connections: what it wrote to relayed
	 * ones goes on to their clients, as the kernel delivers it on a
	 * direct one, for the header timeout at most.
	 */
	if (w->relay && mc_relay_flush(w->relay, (unsigned)w->header_ms))
		mc_warn("http: stopping with relayed answers not all "
			"delivered after --header-timeout");
	mc_relay_stop(w->relay);
	/* every worker has left its slot: civetweb joined them */
	guard_free(w->guard);
	mg_exit_library();
	web_api_state_free(w->api);
	free(w->stats);
	tokens_free(atomic_load(&w->token));
	tokens_free(w->retired);
	pthread_mutex_destroy(&w->token_lock);
	while (w->npipes--) {
		close(w->pipes[w->npipes][0]);
		close(w->pipes[w->npipes][1]);
	}
	pthread_mutex_destroy(&w->pipes_mu);
	free(w);
}

int web_set_token(struct web *w, const char *token)
{
	struct web_token *k = NULL, *old;

	if (token) {
		k = token_new(token);
		if (!k)
			return -errno;
	}
	pthread_mutex_lock(&w->token_lock);
	old = atomic_exchange_explicit(&w->token, k, memory_order_acq_rel);
	if (old) {
		old->older = w->retired;
		w->retired = old;
	}
	pthread_mutex_unlock(&w->token_lock);
	return 0;
}
