/*
 * history.c - a history checker for a live mooncaked (tests/history.sh
 * starts the daemon and runs it).
 *
 * N client threads put, get, replace and remove values of a small set of
 * keys through the three doors: HTTP (PUT /api/put/KEY, GET
 * /api/get/KEY, DELETE /api/remove/KEY), the FUSE tree (write, read and
 * unlink keys/KEY) and the transfer port (a two-phase put: put_start,
 * a WRITE to every descriptor, put_end; a get: /query_key, then a READ
 * at the descriptor). Every value is self-describing: a header
 * "MCH1 KEY VERSION LENGTH\n" then bytes that are a function of (key,
 * version), so any value read can be checked whole against what its
 * header claims. Versions are unique across the run.
 *
 * Each operation is recorded with its invocation and completion times
 * (CLOCK_MONOTONIC, taken by the client right before the first byte
 * leaves and right after the answer is in) and its outcome. The run has
 * two phases:
 *   steady  - one segment, small values, no mounts or unmounts, no
 *             eviction (checked on the metrics): the strict rules hold;
 *   churn   - another thread mounts and unmounts small segments (HTTP
 *             and ctl/mount, unmount with and without grace) and the
 *             values are large enough to drive eviction: values may go,
 *             so only the rules about what a get may return hold.
 * Then the history is checked.
 *
 * What the checker concludes (an anomaly each):
 *  - corrupt: a get returned bytes that are not one whole value (bad
 *    header, length or body): never allowed;
 *  - other-key: a get of K returned a value put for another key;
 *  - phantom: a value whose version no put of that key ever carried, or
 *    whose put began only after the get had ended;
 *  - failed-visible: the version of a put that was answered with a
 *    definite error (an HTTP 4xx/5xx, a failed close or put_end);
 *  - stale: a get returned version v of an acknowledged put P although
 *    another put P2 of the key was acknowledged, P2 began after P ended
 *    and P2 ended before the get began (P2 definitely replaced P before
 *    the get);
 *  - resurrected: likewise with an acknowledged remove instead of P2;
 *  - reverted: a get returned version v of an acknowledged put P
 *    although an earlier get G1 (ended before this one began, begun
 *    after P ended) had returned another value: P took effect before
 *    G1, which saw a later write, so P can never be read again (a
 *    failover that brings back an overtaken version);
 *  - lost (steady phase only): a get found nothing although a put of the
 *    key was acknowledged before the get began and no remove of the key
 *    (whatever its outcome) could have taken effect after that put, and
 *    nothing was evicted or unmounted;
 *  - unreadable (steady phase only): /query_key named a buffer but the
 *    READ at it was refused although no put or remove of the key ran
 *    meanwhile (the read lease must keep it).
 * What it may not conclude: a get concurrent with puts of its key may
 * return any of their values or the last one that definitely preceded
 * it; a get concurrent with a remove may find the value or nothing;
 * a put answered with a broken connection may or may not have happened,
 * and may take effect after its client gave up (a forwarded put_end
 * still on its way, or a put its owners committed for a leader that died
 * before it answered, which the next leader's rebuild adopts), so no
 * later put or remove is known to have replaced it;
 * in the churn phase a value may vanish at any time (evicted, or its
 * segment unmounted), but never come back, never change, and never show
 * an older version once a newer one was acknowledged.
 *
 * Usage: history --url http://127.0.0.1:PORT [--xport PORT] [--mnt DIR]
 *        [--clients N] [--seconds S] [--keys K] [--steady-only] [--nodes-die]
 * A cluster: --url and --mnt once per node (client i uses node i mod N);
 * transfer-port operations go to the endpoint each descriptor names
 * (--xport is then not needed). --steady-only: no churn phase, every
 * second steady (a failover test brings its own turmoil). --nodes-die:
 * values may go with the nodes that held them, so the lost-value and
 * unreadable rules are not applied (every other rule is).
 *        history --self-test   (the checker on made-up histories)
 * Prints the operations checked per door and kind, and every anomaly
 * (the first 20), then the operations on the keys of the first three
 * around the anomalous read (their doors, intervals, versions and
 * outcomes); exits 1 when there is one (or when too few operations succeeded to
 * say anything), 0 otherwise.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "xfer_client.h"

enum kind { OP_PUT, OP_GET, OP_DEL, NKIND };
enum door { D_HTTP, D_FUSE, D_XFER, NDOOR };
enum res {
	RS_OK,	     /* put/remove acknowledged; get returned a value */
	RS_FAIL,     /* a definite refusal: nothing happened */
	RS_UNKNOWN,  /* the answer was lost: it may have happened */
	RS_NOTFOUND, /* get or remove: no such key */
	RS_CORRUPT,  /* get: bytes that are not one whole value */
	RS_OTHERKEY, /* get: a whole value of another key */
	RS_UNREAD,   /* xfer get: the descriptor's READ was refused */
};
static const char *const kind_name[] = {"put", "get", "remove"};
static const char *const door_name[] = {"http", "fuse", "xfer"};

struct op {
	int64_t t0, t1; /* microseconds */
	uint64_t ver;	/* put: its version; get: the version read */
	uint32_t key;
	uint8_t kind, door, res, phase;
	uint16_t status; /* HTTP status or errno, for the report */
};

struct client {
	pthread_t th;
	int id;
	uint64_t rng;
	int http_fd;
	const char *host; /* the node it talks HTTP to (an IPv4 address) */
	unsigned port;
	const char *mnt; /* that node's tree, or NULL */
	struct op *ops;
	size_t n, cap;
	unsigned char *buf; /* values: make and read */
	size_t bufcap;
};

static unsigned xfer_port;
#define NODES_MAX 16
/* the operations printed around the first anomalies (dump_key) */
#define DUMP_KEYS      3
#define DUMP_OPS       40
#define DUMP_BEFORE_US 3000000
#define DUMP_AFTER_US  500000
#define STR(x)	       #x
#define XSTR(x)	       STR(x)
static unsigned http_ports[NODES_MAX], nports;
static char http_hosts[NODES_MAX][64]; /* of each --url */
static const char *mnts[NODES_MAX];
static unsigned nmnts;
static bool steady_only, nodes_die;
static int nclients = 4, nseconds = 10, nkeys = 32;
static atomic_uint_fast64_t next_ver = 1;
static atomic_int phase = 0, stop_now = 0;
static struct timespec t_start;
static atomic_long mounts_done, unmounts_done;

static int64_t now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t_start.tv_sec) * 1000000ll +
	       (t.tv_nsec - t_start.tv_nsec) / 1000;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		perror("history");
		exit(2);
	}
	return p;
}

/* ---------------------------------------------------------------- values */

static void key_name(uint32_t k, char *out, size_t cap)
{
	snprintf(out, cap, "hist-%u", k);
}

/* The body bytes of (key, version): a stream seeded by both. */
static void fill(unsigned char *p, size_t n, uint32_t key, uint64_t ver)
{
	uint64_t s =
		ver * 0x9E3779B97F4A7C15ull ^ (key + 1) * 0xC2B2AE3D27D4EB4Full;

	if (!s)
		s = 1;
	for (size_t i = 0; i < n; i++) {
		if (!(i & 7))
			rnd(&s);
		p[i] = (unsigned char)(s >> (8 * (i & 7)));
	}
}

/* Makes the value of (key, version) of @len bytes (>= the header). */
static size_t make_value(struct client *c, uint32_t key, uint64_t ver,
			 size_t len)
{
	char hdr[96];
	int h = snprintf(hdr, sizeof(hdr), "MCH1 %u %llu %zu\n", key,
			 (unsigned long long)ver, len);

	if (len < (size_t)h)
		len = (size_t)h;
	if (len > c->bufcap) {
		free(c->buf);
		c->bufcap = len;
		c->buf = xmalloc(len);
	}
	/* The length field counts the whole value: rewrite if it grew. */
	h = snprintf(hdr, sizeof(hdr), "MCH1 %u %llu %zu\n", key,
		     (unsigned long long)ver, len);
	memcpy(c->buf, hdr, (size_t)h);
	fill(c->buf + h, len - (size_t)h, key, ver);
	return len;
}

/*
 * Checks @n bytes read for key @key: RS_OK with *ver, RS_OTHERKEY (a whole
 * value of another key), or RS_CORRUPT.
 */
static int check_value(const unsigned char *p, size_t n, uint32_t key,
		       uint64_t *ver)
{
	char hdr[96];
	unsigned k;
	unsigned long long v;
	size_t len, h;
	unsigned char *want;
	int same;

	if (n < 8 || memcmp(p, "MCH1 ", 5))
		return RS_CORRUPT;
	h = n < sizeof(hdr) - 1 ? n : sizeof(hdr) - 1;
	memcpy(hdr, p, h);
	hdr[h] = '\0';
	if (!strchr(hdr, '\n') ||
	    sscanf(hdr, "MCH1 %u %llu %zu\n", &k, &v, &len) != 3 || len != n)
		return RS_CORRUPT;
	h = (size_t)(strchr(hdr, '\n') - hdr) + 1;
	want = xmalloc(n - h);
	fill(want, n - h, k, v);
	same = !memcmp(p + h, want, n - h);
	free(want);
	if (!same)
		return RS_CORRUPT;
	*ver = v;
	return k == key ? RS_OK : RS_OTHERKEY;
}

/* ------------------------------------------------------------------ HTTP */

static int http_connect(const char *host, unsigned port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port)};
	struct timeval tv = {.tv_sec = 20};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
		close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * One request on the client's keep-alive connection. Returns the status
 * with the body in *body (malloc'd, *blen bytes, NUL-terminated), or -1
 * when the connection broke (the request may or may not have happened).
 */
static int http(struct client *c, const char *method, const char *path,
		const void *body, size_t len, unsigned char **out, size_t *olen)
{
	char hdr[512], *e;
	size_t cap = 65536, n = 0, need = 0, hlen = 0;
	unsigned char *b;
	int status = -1;
	bool chunked = false;

	*out = NULL;
	*olen = 0;
	if (c->http_fd < 0 && (c->http_fd = http_connect(c->host, c->port)) < 0)
		return -1;
	int h = snprintf(hdr, sizeof(hdr),
			 "%s %s HTTP/1.1\r\nHost: h\r\nContent-Length: %zu\r\n"
			 "Expect:\r\n\r\n",
			 method, path, len);
	if (xc_send_all(c->http_fd, hdr, (size_t)h) ||
	    (len && xc_send_all(c->http_fd, body, len)))
		goto broken;
	b = xmalloc(cap + 1);
	for (;;) {
		ssize_t r;

		if (n == cap) {
			cap *= 2;
			b = realloc(b, cap + 1);
			if (!b)
				exit(2);
		}
		r = recv(c->http_fd, b + n, cap - n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			free(b);
			goto broken;
		}
		n += (size_t)r;
		b[n] = '\0';
		if (!hlen && (e = strstr((char *)b, "\r\n\r\n"))) {
			const char *cl =
				strcasestr((char *)b, "\r\nContent-Length:");

			hlen = (size_t)(e - (char *)b) + 4;
			status = atoi((char *)b + 9);
			/* a long /metrics comes chunked */
			chunked = !cl && strcasestr((char *)b,
						    "\r\nTransfer-Encoding: "
						    "chunked");
			if (!cl && !chunked) {
				free(b);
				goto broken;
			}
			need = cl ? hlen + strtoull(cl + 17, NULL, 10) : 0;
			if (!strcmp(method, "HEAD"))
				need = hlen;
		}
		if (hlen && !chunked && n >= need)
			break;
		if (hlen && chunked && n - hlen >= 5 &&
		    !memcmp(b + n - 5, "0\r\n\r\n", 5) &&
		    (n - hlen == 5 || !memcmp(b + n - 7, "\r\n", 2)))
			break;
	}
	if (chunked) { /* SIZE CRLF DATA CRLF ... 0 CRLF CRLF, in place */
		size_t in = hlen, o = hlen;

		for (;;) {
			char *end;
			unsigned long k = strtoul((char *)b + in, &end, 16);

			in = (size_t)(end - (char *)b) + 2;
			if (!k || in + k > n)
				break;
			memmove(b + o, b + in, k);
			o += k;
			in += k + 2;
		}
		n = o;
	}
	memmove(b, b + hlen, n - hlen);
	*olen = n - hlen;
	b[*olen] = '\0';
	*out = b;
	return status;
broken:
	close(c->http_fd);
	c->http_fd = -1;
	return -1;
}

/* A put/remove outcome from an HTTP status. */
static int http_res(int st)
{
	if (st < 0)
		return RS_UNKNOWN;
	if (st == 200)
		return RS_OK;
	if (st == 404)
		return RS_NOTFOUND;
	return RS_FAIL;
}

/* ------------------------------------------------------------ operations */

static void record(struct client *c, const struct op *o)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 4096;
		c->ops = realloc(c->ops, c->cap * sizeof(*o));
		if (!c->ops)
			exit(2);
	}
	c->ops[c->n++] = *o;
}

static size_t value_len(struct client *c)
{
	uint64_t r = rnd(&c->rng);

	if (atomic_load(&phase) == 0)
		return 64 + r % 8192;
	/* churn: mostly mid-sized, some large, to fill 16 MiB segments */
	return r % 8 ? 4096 + r % 65536 : 256 * 1024 + r % (768 * 1024);
}

static void do_put(struct client *c, struct op *o, const char *kn)
{
	size_t len = make_value(c, o->key, o->ver, value_len(c));
	char path[256];
	unsigned char *resp;
	size_t rlen;
	int st;

	if (o->door == D_HTTP) {
		snprintf(path, sizeof(path), "/api/put/%s", kn);
		o->t0 = now_us();
		st = http(c, "PUT", path, c->buf, len, &resp, &rlen);
		o->t1 = now_us();
		o->res = (uint8_t)http_res(st);
		o->status = (uint16_t)(st < 0 ? 0 : st);
		free(resp);
	} else if (o->door == D_FUSE) {
		int fd, ok = 1;

		snprintf(path, sizeof(path), "%s/keys/%s", c->mnt, kn);
		o->t0 = now_us();
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0) {
			o->t1 = now_us();
			o->res = RS_FAIL;
			o->status = (uint16_t)errno;
			return;
		}
		for (size_t off = 0; off < len && ok;) {
			ssize_t w = write(fd, c->buf + off, len - off);

			if (w <= 0) {
				o->status = (uint16_t)errno;
				ok = 0;
			} else {
				off += (size_t)w;
			}
		}
		if (close(fd) && ok) {
			o->status = (uint16_t)errno;
			ok = 0;
		}
		o->t1 = now_us();
		/* A write that failed leaves nothing behind (committed on a
		 * clean close only), unless the daemon said it cannot tell:
		 * ECONNABORTED, a cluster's leader lost with the answer
		 * (mooncakefs(5)). */
		o->res = ok			     ? RS_OK
			 : o->status == ECONNABORTED ? RS_UNKNOWN
						     : RS_FAIL;
	} else {
		char bodyj[256];
		struct json_object *j = NULL, *ds;
		int fd = -1, okw = 1;

		snprintf(bodyj, sizeof(bodyj), "{\"key\":\"%s\",\"size\":%zu}",
			 kn, len);
		o->t0 = now_us();
		st = http(c, "POST", "/api/v1/put_start", bodyj, strlen(bodyj),
			  &resp, &rlen);
		if (st != 200) {
			o->t1 = now_us();
			o->res = (uint8_t)(st < 0 ? RS_UNKNOWN : RS_FAIL);
			o->status = (uint16_t)(st < 0 ? 0 : st);
			free(resp);
			return;
		}
		j = json_tokener_parse((char *)resp);
		free(resp);
		if (!j || !json_object_object_get_ex(j, "descriptors", &ds)) {
			fprintf(stderr,
				"history: put_start answer unreadable\n");
			exit(2);
		}
		for (size_t i = 0; okw && i < json_object_array_length(ds);
		     i++) {
			struct json_object *d = json_object_array_get_idx(ds,
									  i),
					   *a, *s, *e;

			json_object_object_get_ex(d, "buffer_address_", &a);
			json_object_object_get_ex(d, "size_", &s);
			json_object_object_get_ex(d, "transport_endpoint_", &e);
			/* each replica where its descriptor says (a node) */
			fd = xc_connect_ep(json_object_get_string(e));
			if (fd < 0 ||
			    xc_write(fd, (uint64_t)json_object_get_int64(a),
				     (uint64_t)json_object_get_int64(s), true,
				     c->buf) != XC_OK)
				okw = 0;
			if (fd >= 0)
				close(fd);
		}
		fd = okw ? 0 : -1;
		json_object_put(j);
		snprintf(bodyj, sizeof(bodyj), "{\"key\":\"%s\"}", kn);
		st = http(c, "POST",
			  okw && fd >= 0 ? "/api/v1/put_end"
					 : "/api/v1/put_revoke",
			  bodyj, strlen(bodyj), &resp, &rlen);
		o->t1 = now_us();
		free(resp);
		o->status = (uint16_t)(st < 0 ? 0 : st);
		/*
		 * A WRITE that failed (this client could not reach or write
		 * an owner) and the revoke that followed: the put failed,
		 * definitely, and no HTTP status refused it (the revoke's
		 * 200 is not the put's answer).
		 */
		if (!okw || fd < 0) {
			o->status = 0;
			o->res = RS_FAIL;
		} else {
			o->res = st == 200 ? RS_OK
				 : st < 0  ? RS_UNKNOWN
					   : RS_FAIL;
		}
	}
}

static void got_bytes(struct op *o, const unsigned char *p, size_t n)
{
	uint64_t v = 0;

	o->res = (uint8_t)check_value(p, n, o->key, &v);
	o->ver = v;
}

static void do_get(struct client *c, struct op *o, const char *kn)
{
	char path[256];
	unsigned char *resp;
	size_t rlen;
	int st;

	if (o->door == D_HTTP) {
		snprintf(path, sizeof(path), "/api/get/%s", kn);
		o->t0 = now_us();
		st = http(c, "GET", path, NULL, 0, &resp, &rlen);
		o->t1 = now_us();
		o->status = (uint16_t)(st < 0 ? 0 : st);
		if (st == 200)
			got_bytes(o, resp, rlen);
		else
			o->res = st == 404 ? RS_NOTFOUND
				 : st < 0  ? RS_UNKNOWN
					   : RS_FAIL;
		free(resp);
	} else if (o->door == D_FUSE) {
		struct stat sb;
		int fd;
		size_t n = 0, cap = 1 << 16;
		unsigned char *b = xmalloc(cap);

		snprintf(path, sizeof(path), "%s/keys/%s", c->mnt, kn);
		o->t0 = now_us();
		fd = open(path, O_RDONLY);
		if (fd < 0) {
			o->t1 = now_us();
			o->res = errno == ENOENT ? RS_NOTFOUND : RS_FAIL;
			o->status = (uint16_t)errno;
			free(b);
			return;
		}
		(void)fstat(fd, &sb);
		for (;;) {
			ssize_t r;

			if (n == cap) {
				cap *= 2;
				b = realloc(b, cap);
				if (!b)
					exit(2);
			}
			r = read(fd, b + n, cap - n);
			if (r < 0) {
				o->status = (uint16_t)errno;
				break;
			}
			if (r == 0)
				break;
			n += (size_t)r;
		}
		close(fd);
		o->t1 = now_us();
		if (o->status)
			o->res = RS_FAIL;
		else
			got_bytes(o, b, n);
		free(b);
	} else {
		struct json_object *j, *bd, *d, *a, *s, *e;
		char ep[300];
		int fd;
		uint64_t addr, size;

		snprintf(path, sizeof(path), "/query_key?key=%s", kn);
		o->t0 = now_us();
		st = http(c, "GET", path, NULL, 0, &resp, &rlen);
		if (st != 200) {
			o->t1 = now_us();
			o->status = (uint16_t)(st < 0 ? 0 : st);
			o->res = st == 404 ? RS_NOTFOUND
				 : st < 0  ? RS_UNKNOWN
					   : RS_FAIL;
			free(resp);
			return;
		}
		/* The first replica line. */
		char *nl = strchr((char *)resp, '\n');

		if (nl)
			*nl = '\0';
		j = json_tokener_parse((char *)resp);
		free(resp);
		if (!j ||
		    !json_object_object_get_ex(j, "buffer_descriptors", &bd) ||
		    !(d = json_object_array_get_idx(bd, 0)) ||
		    !json_object_object_get_ex(d, "buffer_address_", &a) ||
		    !json_object_object_get_ex(d, "size_", &s) ||
		    !json_object_object_get_ex(d, "transport_endpoint_", &e)) {
			fprintf(stderr,
				"history: query_key answer unreadable\n");
			exit(2);
		}
		addr = (uint64_t)json_object_get_int64(a);
		size = (uint64_t)json_object_get_int64(s);
		snprintf(ep, sizeof(ep), "%s", json_object_get_string(e));
		json_object_put(j);
		unsigned char *b = xmalloc(size);

		fd = xc_connect_ep(ep);
		st = fd < 0 ? -EPIPE : xc_read(fd, addr, size, true, b);
		if (fd >= 0)
			close(fd);
		o->t1 = now_us();
		if (st == XC_OK)
			got_bytes(o, b, size);
		else
			o->res = st == XC_REJECTED ? RS_UNREAD : RS_UNKNOWN;
		free(b);
	}
}

static void do_del(struct client *c, struct op *o, const char *kn)
{
	char path[256];
	unsigned char *resp;
	size_t rlen;
	int st;

	if (o->door == D_FUSE) {
		snprintf(path, sizeof(path), "%s/keys/%s", c->mnt, kn);
		o->t0 = now_us();
		st = unlink(path);
		o->t1 = now_us();
		o->status = (uint16_t)(st ? errno : 0);
		o->res = !st			 ? RS_OK
			 : errno == ENOENT	 ? RS_NOTFOUND
			 : errno == ECONNABORTED ? RS_UNKNOWN
						 : RS_FAIL;
		return;
	}
	/* HTTP (the transfer port has no remove): force now and then, so a
	 * leased value goes too. */
	snprintf(path, sizeof(path), "/api/remove/%s%s", kn,
		 rnd(&c->rng) % 4 ? "" : "?force=true");
	o->door = D_HTTP;
	o->t0 = now_us();
	st = http(c, "DELETE", path, NULL, 0, &resp, &rlen);
	o->t1 = now_us();
	o->status = (uint16_t)(st < 0 ? 0 : st);
	o->res = (uint8_t)http_res(st);
	free(resp);
}

static void *client_main(void *arg)
{
	struct client *c = arg;

	while (!atomic_load(&stop_now)) {
		struct op o = {0};
		char kn[32];
		uint64_t r = rnd(&c->rng);
		int ph = atomic_load(&phase);

		if (ph < 0) { /* between phases */
			usleep(1000);
			continue;
		}
		o.phase = (uint8_t)ph;
		o.key = (uint32_t)(rnd(&c->rng) %
				   (uint64_t)(ph ? 4 * nkeys : nkeys));
		o.door = (uint8_t)(r % NDOOR);
		if (!c->mnt && o.door == D_FUSE)
			o.door = D_HTTP;
		key_name(o.key, kn, sizeof(kn));
		switch ((r >> 8) % 10) {
		case 0:
		case 1:
		case 2:
		case 3:
			o.kind = OP_PUT;
			o.ver = atomic_fetch_add(&next_ver, 1);
			do_put(c, &o, kn);
			break;
		case 9:
			o.kind = OP_DEL;
			do_del(c, &o, kn);
			break;
		default:
			o.kind = OP_GET;
			do_get(c, &o, kn);
			break;
		}
		record(c, &o);
	}
	return NULL;
}

/* -------------------------------------------------------------- churn */

/* Mounts and unmounts small segments until stopped (churn phase). */
static void *churn_main(void *arg)
{
	struct client *c = arg;
	char ids[64][40];
	int nid = 0;

	while (!atomic_load(&stop_now)) {
		unsigned char *resp;
		size_t rlen;
		uint64_t r = rnd(&c->rng);

		usleep(50000 + r % 100000);
		if (atomic_load(&phase) != 1)
			continue;
		if (nid < 4 || (nid < 64 && r % 2)) {
			/* mount 16 MiB, over HTTP or ctl/mount */
			char *p = NULL;
			int ok = 0;

			if (c->mnt && (r >> 8) % 2) {
				char cp[4096], buf[256] = "";
				int fd;

				snprintf(cp, sizeof(cp), "%s/ctl/mount",
					 c->mnt);
				fd = open(cp, O_RDWR);
				if (fd >= 0 &&
				    write(fd, "size=16M\n", 9) == 9 &&
				    pread(fd, buf, sizeof(buf) - 1, 0) > 0 &&
				    strlen(buf) >= 36) {
					memcpy(ids[nid], buf, 36);
					ids[nid][36] = '\0';
					ok = 1;
				}
				if (fd >= 0)
					close(fd);
			} else {
				const char *b = "{\"size\":16777216}";
				int st = http(c, "POST", "/api/mount", b,
					      strlen(b), &resp, &rlen);

				if (st == 200 &&
				    (p = strstr((char *)resp,
						"\"segment_ids\":[\"")) &&
				    strlen(p) > 16 + 36) {
					memcpy(ids[nid], p + 16, 36);
					ids[nid][36] = '\0';
					ok = 1;
				}
				free(resp);
			}
			if (ok) {
				nid++;
				atomic_fetch_add(&mounts_done, 1);
			}
		} else if (nid) {
			int i = (int)((r >> 16) % (uint64_t)nid), st;
			char b[128];

			snprintf(b, sizeof(b),
				 "{\"segment_ids\":[\"%s\"],\"grace_period_"
				 "seconds\":%d}",
				 ids[i], (int)((r >> 24) % 2));
			st = http(c, "POST", "/api/unmount", b, strlen(b),
				  &resp, &rlen);
			free(resp);
			if (st == 200)
				atomic_fetch_add(&unmounts_done, 1);
			memcpy(ids[i], ids[--nid], sizeof(ids[i]));
		}
	}
	return NULL;
}

/* A counter of /metrics, or -1. */
static double metric(struct client *c, const char *name)
{
	unsigned char *resp;
	size_t rlen;
	/* A fresh connection: the last one may have idled past the
	 * keep-alive timeout. */
	if (c->http_fd >= 0)
		close(c->http_fd);
	c->http_fd = -1;
	int st = http(c, "GET", "/metrics", NULL, 0, &resp, &rlen);
	double v = -1;
	size_t nl = strlen(name);

	for (char *p = st == 200 ? (char *)resp : NULL; p && *p;) {
		if (!strncmp(p, name, nl) && p[nl] == ' ') {
			v = strtod(p + nl + 1, NULL);
			break;
		}
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	free(resp);
	return v;
}

/*
 * @name as the first node that answers tells it (a cluster: the same
 * master figure through every node; a dead node's clients try the
 * next), or -1.
 */
static double metric_any(const char *name)
{
	for (unsigned i = 0; i < nports; i++) {
		struct client t = {.id = -1,
				   .http_fd = -1,
				   .host = http_hosts[i],
				   .port = http_ports[i]};
		double v = metric(&t, name);

		if (t.http_fd >= 0)
			close(t.http_fd);
		if (v >= 0)
			return v;
	}
	return -1;
}

/*
 * metric_any, asked again for up to @ms while no node tells it: across
 * a failover the master families are left out until a leader serves,
 * and an unreadable counter must not pass for an eviction.
 */
static double metric_wait(const char *name, int ms)
{
	double v = metric_any(name);

	for (int waited = 0; v < 0 && waited < ms; waited += 100) {
		usleep(100000);
		v = metric_any(name);
	}
	return v;
}

/* -------------------------------------------------------------- checking */

struct keyhist {
	struct op **puts, **dels;	  /* acknowledged, sorted by t1 */
	int64_t *put_max_t0, *del_max_t0; /* prefix maxima of t0 */
	size_t nputs, ndels;
	struct op **all_dels; /* removes of any outcome but RS_FAIL */
	size_t nall_dels;
	/* gets that returned a value, sorted by t1, and per prefix the
	 * latest t0 (a get of version top_ver) and the latest t0 of a get
	 * of another version (INT64_MIN: none) */
	struct op **gets;
	size_t ngets;
	int64_t *top_t0, *other_t0;
	uint64_t *top_ver;
};

static int by_t1(const void *a, const void *b)
{
	const struct op *x = *(struct op *const *)a,
			*y = *(struct op *const *)b;

	return x->t1 < y->t1 ? -1 : x->t1 > y->t1;
}

/* Largest t0 among the first of @v (sorted by t1) that ended before @t. */
static int64_t max_t0_before(struct op **v, const int64_t *pm, size_t n,
			     int64_t t)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (v[mid]->t1 < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? pm[lo - 1] : INT64_MIN;
}

/* Sorts @k's gets by t1 and fills the prefix maxima of their t0. */
static void gets_index(struct keyhist *k)
{
	int64_t top = INT64_MIN, other = INT64_MIN;
	uint64_t ver = 0;

	if (k->ngets)
		qsort(k->gets, k->ngets, sizeof(*k->gets), by_t1);
	k->top_t0 = calloc(k->ngets + 1, sizeof(int64_t));
	k->other_t0 = calloc(k->ngets + 1, sizeof(int64_t));
	k->top_ver = calloc(k->ngets + 1, sizeof(uint64_t));
	for (size_t j = 0; j < k->ngets; j++) {
		const struct op *g = k->gets[j];

		if (g->t0 > top) {
			if (g->ver != ver)
				other = top; /* the old top, of another */
			top = g->t0;
			ver = g->ver;
		} else if (g->ver != ver && g->t0 > other) {
			other = g->t0;
		}
		k->top_t0[j] = top;
		k->other_t0[j] = other;
		k->top_ver[j] = ver;
	}
}

/* The latest t0 of a get of @k that ended before @t and returned a
 * version other than @ver (INT64_MIN: none). */
static int64_t other_get_t0_before(const struct keyhist *k, uint64_t ver,
				   int64_t t)
{
	size_t lo = 0, hi = k->ngets;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (k->gets[mid]->t1 < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return INT64_MIN;
	return k->top_ver[lo - 1] != ver ? k->top_t0[lo - 1]
					 : k->other_t0[lo - 1];
}

static long anomalies;
static const struct op *first_anomaly[DUMP_KEYS]; /* of distinct keys */

static void anomaly(const char *what, const struct op *g, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void anomaly(const char *what, const struct op *g, const char *fmt, ...)
{
	va_list ap;

	for (size_t i = 0; i < DUMP_KEYS; i++) {
		if (first_anomaly[i] && first_anomaly[i]->key == g->key)
			break;
		if (!first_anomaly[i]) {
			first_anomaly[i] = g;
			break;
		}
	}
	if (anomalies++ < 20) {
		printf("ANOMALY %s: %s of hist-%u via %s [%lld, %lld] us: ",
		       what, kind_name[g->kind], g->key, door_name[g->door],
		       (long long)g->t0, (long long)g->t1);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		putchar('\n');
	}
}

static const char *const res_name[] = {
	"ok", "fail", "unknown", "notfound", "corrupt", "otherkey", "unread"};

static int by_t0(const void *a, const void *b)
{
	const struct op *x = *(struct op *const *)a,
			*y = *(struct op *const *)b;

	return x->t0 < y->t0 ? -1 : x->t0 > y->t0;
}

/*
 * After the anomalies: every operation on the key of @g that overlaps
 * the DUMP_BEFORE_US before it and the DUMP_AFTER_US after it, in order
 * of start (at most DUMP_OPS), so a report says at once which puts and
 * removes a surprising read raced with and how each of them ended.
 */
static void dump_key(FILE *f, const struct op *all, size_t n,
		     const struct op *g)
{
	const int64_t from = g->t0 - DUMP_BEFORE_US, to = g->t1 + DUMP_AFTER_US;
	const struct op **v = NULL;
	size_t nv = 0, cap = 0;

	for (size_t j = 0; j < n; j++) {
		const struct op *o = &all[j];

		if (o->key != g->key || o->t1 < from || o->t0 > to)
			continue;
		if (nv == cap) {
			const struct op **w;

			cap = cap ? 2 * cap : 64;
			w = realloc(v, cap * sizeof(*v));
			if (!w) {
				free(v);
				return;
			}
			v = w;
		}
		v[nv++] = o;
	}
	if (nv)
		qsort(v, nv, sizeof(*v), by_t0);
	fprintf(f, "operations on hist-%u from %lld to %lld us (%zu%s):\n",
		g->key, (long long)from, (long long)to, nv,
		nv > DUMP_OPS ? ", the last " XSTR(DUMP_OPS) " shown" : "");
	for (size_t j = nv > DUMP_OPS ? nv - DUMP_OPS : 0; j < nv; j++)
		fprintf(f,
			"  %-6s %-4s [%lld, %lld] v%llu %s (%u) phase %u%s\n",
			kind_name[v[j]->kind], door_name[v[j]->door],
			(long long)v[j]->t0, (long long)v[j]->t1,
			(unsigned long long)v[j]->ver, res_name[v[j]->res],
			v[j]->status, v[j]->phase, v[j] == g ? "  <-" : "");
	free(v);
}

/*
 * Checks @n operations (the rules at the top of this file): the count of
 * anomalies, the first 20 printed. @maxver is above every version,
 * @maxkey above every key; @evicted: the steady phase saw evictions, so
 * its lost-value rules are not applied. With @dump, the operations
 * around the first anomalies of DUMP_KEYS keys are printed there.
 */
static long check_history(struct op *all, size_t n, size_t maxver,
			  uint32_t maxkey, bool evicted_in_steady, FILE *dump)
{
	struct op **byver;
	struct keyhist *kh;

	/* index: puts by version, per-key acknowledged puts and removes */
	anomalies = 0;
	memset(first_anomaly, 0, sizeof(first_anomaly));
	byver = calloc(maxver + 1, sizeof(*byver));
	kh = calloc(maxkey, sizeof(*kh));
	for (size_t j = 0; j < n; j++) {
		struct op *o = &all[j];
		struct keyhist *k = &kh[o->key];

		if (o->kind == OP_PUT)
			byver[o->ver] = o;
		if (o->kind == OP_PUT && o->res == RS_OK) {
			k->puts = realloc(k->puts, (k->nputs + 1) * sizeof(o));
			k->puts[k->nputs++] = o;
		}
		if (o->kind == OP_DEL && o->res == RS_OK) {
			k->dels = realloc(k->dels, (k->ndels + 1) * sizeof(o));
			k->dels[k->ndels++] = o;
		}
		if (o->kind == OP_GET && o->res == RS_OK) {
			k->gets = realloc(k->gets, (k->ngets + 1) * sizeof(o));
			k->gets[k->ngets++] = o;
		}
		if (o->kind == OP_DEL && o->res != RS_FAIL) {
			k->all_dels = realloc(k->all_dels,
					      (k->nall_dels + 1) * sizeof(o));
			k->all_dels[k->nall_dels++] = o;
		}
	}
	for (uint32_t i = 0; i < maxkey; i++) {
		struct keyhist *k = &kh[i];

		if (k->nputs)
			qsort(k->puts, k->nputs, sizeof(*k->puts), by_t1);
		if (k->ndels)
			qsort(k->dels, k->ndels, sizeof(*k->dels), by_t1);
		k->put_max_t0 = calloc(k->nputs + 1, sizeof(int64_t));
		k->del_max_t0 = calloc(k->ndels + 1, sizeof(int64_t));
		for (size_t j = 0; j < k->nputs; j++)
			k->put_max_t0[j] =
				j && k->put_max_t0[j - 1] > k->puts[j]->t0
					? k->put_max_t0[j - 1]
					: k->puts[j]->t0;
		for (size_t j = 0; j < k->ndels; j++)
			k->del_max_t0[j] =
				j && k->del_max_t0[j - 1] > k->dels[j]->t0
					? k->del_max_t0[j - 1]
					: k->dels[j]->t0;
		gets_index(k);
	}

	/* the rules */
	for (size_t j = 0; j < n; j++) {
		struct op *g = &all[j], *p;
		struct keyhist *k = &kh[g->key];
		bool strict = g->phase == 0 && !evicted_in_steady && !nodes_die;

		if (g->kind != OP_GET)
			continue;
		if (g->res == RS_CORRUPT) {
			anomaly("corrupt", g, "not one whole value");
			continue;
		}
		if (g->res == RS_OTHERKEY) {
			anomaly("other-key", g, "a value of another key");
			continue;
		}
		if (g->res == RS_OK) {
			p = g->ver < maxver ? byver[g->ver] : NULL;
			if (!p || p->key != g->key) {
				anomaly("phantom", g,
					"version %llu was never put for it",
					(unsigned long long)g->ver);
				continue;
			}
			if (p->t0 > g->t1) {
				anomaly("phantom", g,
					"version %llu put only later",
					(unsigned long long)g->ver);
				continue;
			}
			if (p->res == RS_FAIL) {
				anomaly("failed-visible", g,
					"version %llu's put was refused (%u)",
					(unsigned long long)g->ver, p->status);
				continue;
			}
			/* an unknown put may take effect at any time after
			 * it began: nothing definitely came after it */
			if (p->res != RS_OK)
				continue;
			if (max_t0_before(k->puts, k->put_max_t0, k->nputs,
					  g->t0) > p->t1)
				anomaly("stale", g,
					"version %llu after a later put was "
					"acknowledged",
					(unsigned long long)g->ver);
			else if (max_t0_before(k->dels, k->del_max_t0, k->ndels,
					       g->t0) > p->t1)
				anomaly("resurrected", g,
					"version %llu after an acknowledged "
					"remove",
					(unsigned long long)g->ver);
			else if (other_get_t0_before(k, g->ver, g->t0) > p->t1)
				anomaly("reverted", g,
					"version %llu after an earlier get, "
					"begun after its put ended, read "
					"another value",
					(unsigned long long)g->ver);
			continue;
		}
		if (!strict)
			continue;
		if (g->res == RS_NOTFOUND || g->res == RS_UNREAD) {
			/* the last put acknowledged before the get began */
			struct op *last = NULL;

			for (size_t q = 0;
			     q < k->nputs && k->puts[q]->t1 < g->t0; q++)
				last = k->puts[q];
			if (!last)
				continue;
			bool removable = false, written = false;

			for (size_t q = 0; q < k->nall_dels; q++)
				if (k->all_dels[q]->t1 > last->t0 &&
				    k->all_dels[q]->t0 < g->t1)
					removable = true;
			/* unreadable: any put of the key meanwhile */
			for (size_t q = 0; g->res == RS_UNREAD && q < k->nputs;
			     q++)
				if (k->puts[q]->t0 < g->t1 &&
				    k->puts[q]->t1 > g->t0)
					written = true;
			if (!removable && !written)
				anomaly(g->res == RS_NOTFOUND ? "lost"
							      : "unreadable",
					g,
					"version %llu was acknowledged at %lld "
					"us",
					(unsigned long long)last->ver,
					(long long)last->t1);
		}
	}

	for (size_t i = 0; dump && i < DUMP_KEYS && first_anomaly[i]; i++)
		dump_key(dump, all, n, first_anomaly[i]);
	for (uint32_t i = 0; i < maxkey; i++) {
		free(kh[i].puts);
		free(kh[i].dels);
		free(kh[i].all_dels);
		free(kh[i].put_max_t0);
		free(kh[i].del_max_t0);
		free(kh[i].gets);
		free(kh[i].top_t0);
		free(kh[i].other_t0);
		free(kh[i].top_ver);
	}
	free(kh);
	free(byver);
	return anomalies;
}

/* ------------------------------------------------------------ self-test */

#define mk(kind_, key_, ver_, t0_, t1_, res_, ph_)                             \
	{                                                                      \
		.kind = kind_, .key = key_, .ver = ver_, .t0 = t0_, .t1 = t1_, \
		.res = res_, .phase = ph_                                      \
	}

/*
 * The checker on made-up histories, each with the anomalies it must
 * find (so a checker that finds nothing fails here), and the value
 * check on made-up bytes: 0 when every case holds.
 */
static int self_test(void)
{
	static const struct {
		const char *what;
		long want;
		struct op ops[4];
	} t[] = {
		{.what = "read after put",
		 .want = 0,
		 .ops = {mk(OP_PUT, 0, 1, 0, 10, RS_OK, 0),
			 mk(OP_GET, 0, 1, 20, 30, RS_OK, 0)}},
		{.what = "stale after a later put",
		 .want = 1,
		 .ops = {mk(OP_PUT, 0, 1, 0, 10, RS_OK, 0),
			 mk(OP_PUT, 0, 2, 20, 30, RS_OK, 0),
			 mk(OP_GET, 0, 1, 40, 50, RS_OK, 1)}},
		{.what = "concurrent put: either value",
		 .want = 0,
		 .ops = {mk(OP_PUT, 0, 1, 0, 10, RS_OK, 0),
			 mk(OP_PUT, 0, 2, 5, 45, RS_OK, 0),
			 mk(OP_GET, 0, 1, 20, 30, RS_OK, 0),
			 mk(OP_GET, 0, 2, 20, 30, RS_OK, 0)}},
		{.what = "resurrected after a remove",
		 .want = 1,
		 .ops = {mk(OP_PUT, 0, 1, 0, 10, RS_OK, 0),
			 mk(OP_DEL, 0, 0, 20, 30, RS_OK, 0),
			 mk(OP_GET, 0, 1, 40, 50, RS_OK, 1)}},
		{.what = "reverted to an overtaken put",
		 .want = 1,
		 .ops = {mk(OP_PUT, 0, 1, 0, 40, RS_OK, 0),
			 mk(OP_PUT, 0, 2, 10, 20, RS_OK, 0),
			 mk(OP_GET, 0, 1, 50, 60, RS_OK, 0),
			 mk(OP_GET, 0, 2, 70, 80, RS_OK, 0)}},
		{.what = "overlapping puts read in either order",
		 .want = 0,
		 .ops = {mk(OP_PUT, 0, 1, 0, 40, RS_OK, 0),
			 mk(OP_PUT, 0, 2, 10, 20, RS_OK, 0),
			 mk(OP_GET, 0, 1, 15, 60, RS_OK, 0),
			 mk(OP_GET, 0, 2, 70, 80, RS_OK, 0)}},
		{.what = "an unknown put may land after a later read",
		 .want = 0,
		 .ops = {mk(OP_PUT, 0, 1, 0, 40, RS_OK, 0),
			 mk(OP_PUT, 0, 2, 10, 20, RS_UNKNOWN, 0),
			 mk(OP_GET, 0, 1, 50, 60, RS_OK, 0),
			 mk(OP_GET, 0, 2, 70, 80, RS_OK, 0)}},
		{.what = "an unknown put may land after a remove",
		 .want = 0,
		 .ops = {mk(OP_PUT, 0, 1, 0, 10, RS_UNKNOWN, 0),
			 mk(OP_DEL, 0, 0, 20, 30, RS_OK, 0),
			 mk(OP_GET, 0, 1, 40, 50, RS_OK, 1)}},
		{.what = "an unknown put may land after a later put",
		 .want = 0,
		 .ops = {mk(OP_PUT, 0, 1, 0, 10, RS_UNKNOWN, 0),
			 mk(OP_PUT, 0, 2, 20, 30, RS_OK, 0),
			 mk(OP_GET, 0, 1, 40, 50, RS_OK, 1)}},
		{.what = "lost in the steady phase",
		 .want = 1,
		 .ops = {mk(OP_PUT, 0, 1, 0, 10, RS_OK, 0),
			 mk(OP_GET, 0, 0, 20, 30, RS_NOTFOUND, 0)}},
		{.what = "gone in the churn phase",
		 .want = 0,
		 .ops = {mk(OP_PUT, 0, 1, 0, 10, RS_OK, 1),
			 mk(OP_GET, 0, 0, 20, 30, RS_NOTFOUND, 1)}},
		{.what = "maybe removed",
		 .want = 0,
		 .ops = {mk(OP_PUT, 0, 1, 0, 10, RS_OK, 0),
			 mk(OP_DEL, 0, 0, 5, 25, RS_UNKNOWN, 0),
			 mk(OP_GET, 0, 0, 20, 30, RS_NOTFOUND, 0)}},
		{.what = "phantom version",
		 .want = 1,
		 .ops = {mk(OP_PUT, 0, 1, 0, 10, RS_OK, 0),
			 mk(OP_GET, 0, 3, 20, 30, RS_OK, 0)}},
		{.what = "another key's version",
		 .want = 1,
		 .ops = {mk(OP_PUT, 1, 1, 0, 10, RS_OK, 0),
			 mk(OP_GET, 0, 1, 20, 30, RS_OK, 0)}},
		{.what = "a refused put visible",
		 .want = 1,
		 .ops = {mk(OP_PUT, 0, 1, 0, 10, RS_FAIL, 0),
			 mk(OP_GET, 0, 1, 20, 30, RS_OK, 0)}},
		{.what = "a put from the future",
		 .want = 1,
		 .ops = {mk(OP_PUT, 0, 1, 40, 50, RS_OK, 0),
			 mk(OP_GET, 0, 1, 20, 30, RS_OK, 0)}},
		{.what = "corrupt and other-key reads",
		 .want = 2,
		 .ops = {mk(OP_GET, 0, 0, 20, 30, RS_CORRUPT, 1),
			 mk(OP_GET, 0, 0, 20, 30, RS_OTHERKEY, 1)}},
	};
	struct client c = {.rng = 1};
	unsigned char *a, *b;
	size_t la, lb;
	uint64_t v;
	int bad = 0;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t n = 0;
		long got;

		while (n < 4 && t[i].ops[n].t1)
			n++;
		struct op ops[4];

		memcpy(ops, t[i].ops, sizeof(ops));
		printf("self-test: %s\n", t[i].what);
		got = check_history(ops, n, 8, 2, false, NULL);
		if (got != t[i].want) {
			printf("self-test FAILED: %s: %ld anomalies, want "
			       "%ld\n",
			       t[i].what, got, t[i].want);
			bad++;
		}
	}
	/* the dump: the stale read with the two puts it raced with, and
	 * not the other key's put */
	{
		struct op ops[] = {mk(OP_PUT, 0, 1, 0, 10, RS_OK, 0),
				   mk(OP_PUT, 1, 3, 5, 15, RS_OK, 0),
				   mk(OP_PUT, 0, 2, 20, 30, RS_UNKNOWN, 0),
				   mk(OP_PUT, 0, 4, 32, 35, RS_OK, 0),
				   mk(OP_GET, 0, 1, 40, 50, RS_OK, 1)};
		char *out = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&out, &len);

		if (!f || check_history(ops, 5, 8, 2, false, f) != 1 ||
		    fclose(f) != 0 ||
		    !strstr(out, "operations on hist-0 from") ||
		    !strstr(out, "  put    http [0, 10] v1 ok (0) phase 0\n") ||
		    !strstr(out, "[20, 30] v2 unknown (0)") ||
		    !strstr(out, "[32, 35] v4 ok") ||
		    !strstr(out,
			    "  get    http [40, 50] v1 ok (0) phase 1  <-") ||
		    strstr(out, " v3 "))
			bad++, printf("self-test FAILED: the dump of a key's "
				      "operations:\n%s",
				      out ? out : "");
		free(out);
	}
	/* values: whole, mixed, cut, another key's */
	la = make_value(&c, 3, 7, 5000);
	a = xmalloc(la);
	memcpy(a, c.buf, la);
	lb = make_value(&c, 3, 8, 5000);
	b = c.buf;
	if (check_value(a, la, 3, &v) != RS_OK || v != 7)
		bad++, printf("self-test FAILED: a whole value\n");
	memcpy(b + 4000, a + 4000, 1000); /* v8's head, v7's tail */
	if (check_value(b, lb, 3, &v) != RS_CORRUPT)
		bad++, printf("self-test FAILED: a mixed value\n");
	if (check_value(a, la - 1, 3, &v) != RS_CORRUPT)
		bad++, printf("self-test FAILED: a cut value\n");
	if (check_value(a, la, 4, &v) != RS_OTHERKEY)
		bad++, printf("self-test FAILED: another key's value\n");
	free(a);
	free(c.buf);
	printf("self-test: %s\n", bad ? "FAILED" : "every case holds");
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"url", 1, 0, 'u'},	  {"xport", 1, 0, 'x'},
		{"mnt", 1, 0, 'm'},	  {"clients", 1, 0, 'c'},
		{"seconds", 1, 0, 's'},	  {"keys", 1, 0, 'k'},
		{"self-test", 0, 0, 't'}, {"steady-only", 0, 0, 'S'},
		{"nodes-die", 0, 0, 'D'}, {0, 0, 0, 0},
	};
	struct client *cl, churn = {.id = -1, .rng = 0x5eed, .http_fd = -1};

	(void)xfer_port; /* the descriptors say where the bytes are */
	int ch, evicted_in_steady = 0;
	double ev0, ev1;
	long counts[NKIND][NDOOR][8] = {{{0}}};
	size_t total = 0;
	pthread_t cth;

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'u': {
			/* http://HOST:PORT[/]: HOST an IPv4 address */
			const char *h = strstr(optarg, "://"), *p;

			h = h ? h + 3 : optarg;
			p = strrchr(h, ':');
			if (nports < NODES_MAX && p &&
			    (size_t)(p - h) < sizeof(http_hosts[0])) {
				memcpy(http_hosts[nports], h, (size_t)(p - h));
				http_hosts[nports][p - h] = '\0';
				http_ports[nports++] = (unsigned)atoi(p + 1);
			} else if (nports < NODES_MAX) {
				http_ports[nports++] = 0;
			}
			break;
		}
		case 'S':
			steady_only = true;
			break;
		case 'D':
			nodes_die = true;
			break;
		case 'x':
			xfer_port = (unsigned)atoi(optarg);
			break;
		case 'm':
			if (nmnts < NODES_MAX)
				mnts[nmnts++] = optarg;
			break;
		case 'c':
			nclients = atoi(optarg);
			break;
		case 's':
			nseconds = atoi(optarg);
			break;
		case 'k':
			nkeys = atoi(optarg);
			break;
		case 't':
			return self_test();
		default:
			fprintf(stderr, "usage: history --url URL --xport PORT "
					"[--mnt DIR] [--clients N] [--seconds "
					"S] [--keys K]\n");
			return 2;
		}
	}
	if (!nports || nclients < 1 || nkeys < 1 || nseconds < 2) {
		fprintf(stderr, "history: --url is needed\n");
		return 2;
	}
	for (unsigned i = 0; i < nports; i++)
		if (!http_ports[i]) {
			fprintf(stderr, "history: a --url without a port\n");
			return 2;
		}
	signal(SIGPIPE, SIG_IGN);
	/* a node cut off mid-transfer sends no reset: do not wait for ever */
	xc_timeout_ms = 10000;
	clock_gettime(CLOCK_MONOTONIC, &t_start);
	cl = calloc((size_t)nclients, sizeof(*cl));
	churn.host = http_hosts[0];
	churn.port = http_ports[0];
	churn.mnt = nmnts ? mnts[0] : NULL;
	ev0 = metric_wait("master_evicted_key_count", 10000);
	if (ev0 < 0) {
		fprintf(stderr, "history: cannot read the eviction counter\n");
		return 2;
	}

	/* steady, then churn: half the time each */
	for (int i = 0; i < nclients; i++) {
		cl[i].id = i;
		cl[i].rng = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
		cl[i].http_fd = -1;
		cl[i].host = http_hosts[(unsigned)i % nports];
		cl[i].port = http_ports[(unsigned)i % nports];
		cl[i].mnt = nmnts ? mnts[(unsigned)i % nmnts] : NULL;
		pthread_create(&cl[i].th, NULL, client_main, &cl[i]);
	}
	if (!steady_only)
		pthread_create(&cth, NULL, churn_main, &churn);
	usleep((useconds_t)nseconds * (steady_only ? 1000000u : 500000u));
	if (!steady_only) {
		atomic_store(&phase, -1);
		usleep(200000); /* let steady ops finish: they keep their tag */
		ev1 = metric(&churn, "master_evicted_key_count");
		/* Unreadable counts as evicted: the strict rules then say
		 * nothing. */
		if (getenv("HISTORY_DEBUG"))
			fprintf(stderr, "evicted: %g then %g\n", ev0, ev1);
		evicted_in_steady = ev1 != ev0;
		atomic_store(&phase, 1);
		usleep((useconds_t)nseconds * 500000u);
	} else {
		/* a new leader counts from 0 again: any eviction shows */
		ev1 = metric_wait("master_evicted_key_count", 10000);
		evicted_in_steady = ev1 != ev0 && ev1 != 0;
	}
	atomic_store(&stop_now, 1);
	for (int i = 0; i < nclients; i++)
		pthread_join(cl[i].th, NULL);
	if (!steady_only)
		pthread_join(cth, NULL);

	/* one flat history */
	struct op *all = NULL;

	for (int i = 0; i < nclients; i++) {
		all = realloc(all, (total + cl[i].n + 1) * sizeof(*all));
		memcpy(all + total, cl[i].ops, cl[i].n * sizeof(*all));
		total += cl[i].n;
	}
	for (size_t j = 0; j < total; j++)
		counts[all[j].kind][all[j].door][all[j].res]++;
	check_history(all, total, (size_t)atomic_load(&next_ver),
		      (uint32_t)(4 * nkeys), evicted_in_steady, stdout);

	printf("history: %zu operations by %d clients in %d s (%ld mounts, %ld "
	       "unmounts in the churn phase)\n",
	       total, nclients, nseconds, atomic_load(&mounts_done),
	       atomic_load(&unmounts_done));
	for (int k = 0; k < NKIND; k++)
		for (int d = 0; d < NDOOR; d++) {
			long *n = counts[k][d], sum = 0;

			for (int r = 0; r < 8; r++)
				sum += n[r];
			if (!sum)
				continue;
			printf("  %-6s %-4s %7ld: ok %ld, refused %ld, unknown "
			       "%ld, not found %ld",
			       kind_name[k], door_name[d], sum, n[RS_OK],
			       n[RS_FAIL], n[RS_UNKNOWN], n[RS_NOTFOUND]);
			if (k == OP_GET)
				printf(", corrupt %ld, other key %ld, read "
				       "refused %ld",
				       n[RS_CORRUPT], n[RS_OTHERKEY],
				       n[RS_UNREAD]);
			putchar('\n');
		}
	if (evicted_in_steady)
		printf("history: evictions during the steady phase (the "
		       "counter read %g, then %g): its lost-value rule was not "
		       "applied\n",
		       ev0, ev1);
	if (nodes_die)
		printf("history: nodes die (--nodes-die): the lost-value rule "
		       "was not applied\n");
	/*
	 * A cluster through a failover (--steady-only): an HTTP refusal is
	 * 503 (no leader: nothing happened), or what the operation may meet
	 * anyway (404, a remove's 409 lease): never another status.
	 */
	for (size_t j = 0; steady_only && j < total; j++) {
		const struct op *g = &all[j];

		if (g->res != RS_FAIL || g->door == D_FUSE || !g->status ||
		    g->status == 503 || g->status == 404 ||
		    (g->kind == OP_DEL && g->status == 409) ||
		    (g->kind == OP_PUT && g->door == D_XFER &&
		     g->status == 409)) /* another two-phase put is open */
			continue;
		anomaly("unexpected status", g, "HTTP %u", g->status);
	}
	printf("history: %ld anomalies\n", anomalies);
	/* Nothing to say without successful gets and puts through each door. */
	int rc = anomalies ? 1 : 0;

	for (int d = 0; d < NDOOR; d++) {
		if (d == D_FUSE && !nmnts)
			continue;
		if (!counts[OP_PUT][d][RS_OK] || !counts[OP_GET][d][RS_OK]) {
			printf("history: no successful put or get through %s\n",
			       door_name[d]);
			rc = 1;
		}
	}
	for (int i = 0; i < nclients; i++) {
		free(cl[i].ops);
		free(cl[i].buf);
		if (cl[i].http_fd >= 0)
			close(cl[i].http_fd);
	}
	if (churn.http_fd >= 0)
		close(churn.http_fd);
	free(cl);
	free(all);
	return rc;
}
