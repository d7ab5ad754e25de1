/*
 * rpc_life.c - a Mooncake Store client's whole life against the real
 * daemon, over the master RPC (rpc/client.h) as upstream's clients speak
 * it (mooncake-rpc(7)), driven by tests/rpc_life.sh:
 *
 *   rpc_life free-port
 *       prints a TCP port nobody listens on now (for --rpc-port)
 *   rpc_life life RPC_PORT HTTP_PORT MOUNTPOINT
 *       ServiceReady, GetStorageConfig, MountSegment of a range of its own
 *       memory (served to the daemon by a Transfer Engine style data
 *       listener of its own, published in the daemon's /metadata as TE
 *       publishes it), Ping, puts into its own memory and, as a client
 *       without memory, into the daemon's over the transfer port, the
 *       writer rules, reads from a second client, leases, batches of 300
 *       keys, the HTTP and FUSE views of all of it, UnmountSegment, and
 *       the 10 s expiry of a client that stops pinging
 *   rpc_life remount RPC_PORT HTTP_PORT
 *       after a daemon restart: Ping answers NEED_REMOUNT, ReMountSegment
 *       restores the segment
 *   rpc_life fill RPC_PORT N
 *       N keys fill/0 .. fill/N-1 of 64 bytes in the daemon's memory, in
 *       batches (BatchPutStart, BatchPutEnd; the bytes are not written):
 *       a store of many keys in seconds (tests/daemon_stop_scale.sh)
 *
 * Prints a FAIL line per failed check and "N passed, N failed" at the
 * end; exits 1 on any failure.
 */
#include "autoconfig.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame.h" /* xfer/: TE's TCP framing */
#include "rpc.h"
#include "xfer_client.h"

#define HOST	   "127.0.0.1"
#define SEG_SIZE   (8u << 20)
#define NBATCH	   300
#define CLIENT_A   "0f0e0d0c-0b0a-4908-8706-050403020100"
#define CLIENT_B   "1f1e1d1c-1b1a-4918-9716-151413121110"
#define CLIENT_M   "2f2e2d2c-2b2a-4928-a726-252423222120"
#define SEGMENT_A  "a1a2a3a4-a5a6-4a7a-8a8a-a9aaabacadae"
#define SEG_NAME_A "client-a"

/* Mooncake's ErrorCodes, as upstream's types.h numbers them. */
enum {
	E_INVALID_KEY = -400,
	E_INVALID_PARAMS = -600,
	E_ILLEGAL_CLIENT = -601,
	E_OBJECT_NOT_FOUND = -704,
	E_OBJECT_ALREADY_EXISTS = -705,
	E_OBJECT_HAS_LEASE = -706,
	E_UNAVAILABLE_IN_CURRENT_STATUS = -1010,
};

static int passed, failed;

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (cond) {                                                    \
			passed++;                                              \
		} else {                                                       \
			failed++;                                              \
			printf("FAIL: %s:%d: ", __FILE__, __LINE__);           \
			printf(__VA_ARGS__);                                   \
			printf("\n");                                          \
		}                                                              \
	} while (0)

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("FATAL: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	exit(1);
}

/* ------------------------------------------------------------ plain HTTP */

static unsigned http_port;

/*
 * One HTTP/1.1 request on a fresh connection: the status, and the body
 * (malloc'd, NUL-terminated) in *@body. Small and blocking: a test's.
 */
static int http(const char *method, const char *target, const char *body,
		size_t blen, char **out, size_t *outlen)
{
	char head[1024];
	struct rpc_buf in = {0};
	int fd = xc_connect(HOST, http_port), status = -1;
	char *p;

	if (fd < 0)
		die("cannot reach the daemon's HTTP port %u", http_port);
	snprintf(head, sizeof(head),
		 "%s %s HTTP/1.1\r\nHost: " HOST "\r\nConnection: close\r\n"
		 "Content-Length: %zu\r\n\r\n",
		 method, target, body ? blen : 0);
	if (xc_send_all(fd, head, strlen(head)) ||
	    (body && xc_send_all(fd, body, blen)))
		die("cannot send %s %s", method, target);
	for (;;) {
		char buf[65536];
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n <= 0)
			break;
		rpc_buf_add(&in, buf, (size_t)n);
	}
	close(fd);
	rpc_buf_add(&in, "", 1);
	sscanf((char *)in.p, "HTTP/1.1 %d", &status);
	p = strstr((char *)in.p, "\r\n\r\n");
	if (out) {
		size_t off = p ? (size_t)(p + 4 - (char *)in.p) : in.len - 1;

		*outlen = in.len - 1 - off;
		*out = malloc(*outlen + 1);
		memcpy(*out, in.p + off, *outlen + 1);
	}
	rpc_buf_release(&in);
	return status;
}

/* GET @target: its status; its body in a static buffer at *@body. */
static int get(const char *target, char **body)
{
	static char *last;
	size_t n;

	free(last);
	last = NULL;
	int st = http("GET", target, NULL, 0, &last, &n);
	*body = last;
	return st;
}

/* The value of the sample @series ("name" or "name{...}") in @metrics. */
static double sample(const char *metrics, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = metrics; (p = strstr(p, series)); p += n)
		if ((p == metrics || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return -1;
}

/* ------------------------------------------- the client's data listener */

/*
 * The memory this client offers, served as a Transfer Engine serves its
 * registered memory over TCP: READ and WRITE frames inside the buffer,
 * v2 status frames, one thread per connection (the daemon keeps pooled
 * connections open).
 */
static unsigned char *mem;
static int data_fd;
static unsigned data_port;
static char te_endpoint[64];
static unsigned long served_reads;
static int refuse; /* the client has gone: drop every request */

static void *data_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	unsigned char h[XFER_HDR_LEN], st[XFER_STATUS_LEN];
	struct xfer_hdr hd;

	while (xc_recv_all(fd, h, sizeof(h)) == 0) {
		uint64_t base = (uint64_t)(uintptr_t)mem;
		bool v2, ok;

		if (__atomic_load_n(&refuse, __ATOMIC_SEQ_CST))
			break;
		xfer_hdr_decode(h, &hd);
		v2 = hd.opcode & XFER_V2;
		ok = hd.size && hd.addr >= base &&
		     hd.addr + hd.size >= hd.addr &&
		     hd.addr + hd.size <= base + SEG_SIZE;
		if (v2) {
			xfer_status_encode(ok ? XFER_OK : XFER_REJECTED, st);
			if ((hd.opcode & 0x7f) != XFER_OP_WRITE &&
			    xc_send_all(fd, st, sizeof(st)))
				break;
		}
		if (!ok)
			break;
		if ((hd.opcode & 0x7f) == XFER_OP_WRITE) {
			if (xc_recv_all(fd, mem + (hd.addr - base), hd.size) ||
			    (v2 && xc_send_all(fd, st, sizeof(st))))
				break;
		} else {
			__atomic_add_fetch(&served_reads, 1, __ATOMIC_SEQ_CST);
			if (xc_send_all(fd, mem + (hd.addr - base), hd.size))
				break;
		}
	}
	close(fd);
	return NULL;
}

static void *data_accept(void *arg)
{
	for (;;) {
		int fd = accept(data_fd, NULL, NULL);
		pthread_t th;

		if (fd < 0)
			continue;
		if (__atomic_load_n(&refuse, __ATOMIC_SEQ_CST)) {
			close(fd);
			continue;
		}
		pthread_create(&th, NULL, data_conn, (void *)(intptr_t)fd);
		pthread_detach(th);
	}
	return NULL;
}

/* A listener on an ephemeral loopback port: the fd, its port in *@port. */
static int listen_any(unsigned *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(fd, 64) || getsockname(fd, (struct sockaddr *)&a, &al))
		die("cannot listen: %s", strerror(errno));
	*port = ntohs(a.sin_port);
	return fd;
}

static void start_data_listener(void)
{
	pthread_t th;

	mem = mmap(NULL, SEG_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		die("no memory");
	data_fd = listen_any(&data_port);
	/* under P2PHANDSHAKE a TE's segment name is its ip:port */
	snprintf(te_endpoint, sizeof(te_endpoint), HOST ":%u", data_port - 1);
	pthread_create(&th, NULL, data_accept, NULL);
}

/*
 * What TE writes into the metadata server when it starts and registers
 * memory: its location and its segment descriptor. A 404 means the
 * daemon serves no /metadata: nothing can be published.
 */
static bool publish_metadata(uint64_t addr)
{
	/* TE's prefix: MC_METADATA_CLUSTER_ID, then one '/' */
	const char *id = getenv("MC_METADATA_CLUSTER_ID");
	char path[512], body[1024], pre[256];
	int st;

	snprintf(pre, sizeof(pre), "mooncake/%s%s", id ? id : "",
		 id && *id && id[strlen(id) - 1] != '/' ? "/" : "");
	snprintf(path, sizeof(path), "/metadata?key=%srpc_meta/%s", pre,
		 te_endpoint);
	snprintf(body, sizeof(body),
		 "{\"ip_or_host_name\":\"" HOST "\",\"rpc_port\":%u}",
		 data_port - 1);
	st = http("PUT", path, body, strlen(body), NULL, NULL);
	if (st == 404)
		return false;
	CHECK(st == 200, "PUT rpc_meta: %d", st);
	snprintf(path, sizeof(path), "/metadata?key=%sram/%s", pre,
		 te_endpoint);
	snprintf(body, sizeof(body),
		 "{\"name\":\"%s\",\"protocol\":\"tcp\",\"tcp_data_port\":%u,"
		 "\"tcp_proto_version\":2,\"buffers\":[{\"name\":\"%s\","
		 "\"addr\":%" PRIu64 ",\"length\":%u}],\"timestamp\":"
		 "\"2026-01-01 00:00:00.000000\"}",
		 te_endpoint, data_port, te_endpoint, addr, SEG_SIZE);
	st = http("PUT", path, body, strlen(body), NULL, NULL);
	CHECK(st == 200, "PUT ram: %d", st);
	return true;
}

/* ------------------------------------------------------------ the RPC */

static unsigned rpc_port;
static struct rpc_arena arena;

static struct rpc_client *connect_rpc(void)
{
	char err[256];
	struct rpc_client *c =
		rpc_client_connect(HOST, rpc_port, 10000, err, sizeof(err));

	if (!c)
		die("cannot reach the master RPC on port %u: %s", rpc_port,
		    err);
	return c;
}

/* One call; a framework error or a broken connection is fatal. */
static void call(struct rpc_client *c, enum rpc_call_id id, const void *req,
		 void *resp)
{
	char err[256] = "";
	int rc = rpc_client_call(c, id, req, resp, &arena, err, sizeof(err));

	if (rc)
		die("%s: %d %s", rpc_call_get(id)->name, rc, err);
}

static struct rpc_uuid uuid(const char *s)
{
	struct rpc_uuid u;

	if (rpc_uuid_parse(s, &u))
		die("bad uuid %s", s);
	return u;
}

static struct rpc_str str(const char *s)
{
	return (struct rpc_str){s, strlen(s)};
}

static struct rpc_segment segment_a(void)
{
	return (struct rpc_segment){
		.id = uuid(SEGMENT_A),
		.name = RPC_STR(SEG_NAME_A),
		.base = (uint64_t)(uintptr_t)mem,
		.size = SEG_SIZE,
		.te_endpoint = str(te_endpoint),
		.protocol = RPC_STR("tcp"),
		.host_id = RPC_STR(""),
	};
}

static int32_t mount_a(struct rpc_client *c)
{
	struct rpc_mount_req q = {segment_a(), uuid(CLIENT_A)};
	struct rpc_exp_void r;

	call(c, RPC_MOUNT_SEGMENT, &q, &r);
	return r.err;
}

static int32_t ping(struct rpc_client *c, const char *client, int32_t *status)
{
	struct rpc_ping_req q = {uuid(client)};
	struct rpc_exp_ping r;

	call(c, RPC_PING, &q, &r);
	*status = r.v.client_status;
	return r.err;
}

static struct rpc_replicate_config config(const char *prefer)
{
	return (struct rpc_replicate_config){
		.replica_num = 1,
		.preferred_segment = str(prefer ? prefer : ""),
	};
}

static struct rpc_exp_replicas put_start(struct rpc_client *c,
					 const char *client, const char *key,
					 uint64_t len, const char *prefer)
{
	struct rpc_put_start_req q = {.client_id = uuid(client),
				      .key = str(key),
				      .slice_length = len,
				      .config = config(prefer),
				      .tenant_id = RPC_STR("default")};
	struct rpc_exp_replicas r;

	call(c, RPC_PUT_START, &q, &r);
	return r;
}

static int32_t put_finish(struct rpc_client *c, enum rpc_call_id id,
			  const char *client, const char *key)
{
	struct rpc_exp_void r;

	if (id == RPC_PUT_END) {
		struct rpc_put_end_req q = {.client_id = uuid(client),
					    .meta = {.key = str(key)},
					    .replica_type = RPC_RTYPE_MEMORY,
					    .tenant_id = RPC_STR("default")};
		call(c, id, &q, &r);
	} else {
		struct rpc_put_revoke_req q = {.client_id = uuid(client),
					       .key = str(key),
					       .replica_type = RPC_RTYPE_MEMORY,
					       .tenant_id = RPC_STR("default")};
		call(c, id, &q, &r);
	}
	return r.err;
}

static struct rpc_exp_replica_list replicas(struct rpc_client *c,
					    const char *key)
{
	struct rpc_key_req q = {str(key), RPC_STR("default")};
	struct rpc_exp_replica_list r;

	call(c, RPC_GET_REPLICA_LIST, &q, &r);
	return r;
}

static int32_t exist(struct rpc_client *c, const char *key, bool *v)
{
	struct rpc_key_req q = {str(key), RPC_STR("default")};
	struct rpc_exp_bool r;

	call(c, RPC_EXIST_KEY, &q, &r);
	*v = r.v;
	return r.err;
}

static int32_t remove_key(struct rpc_client *c, const char *key, bool force)
{
	struct rpc_remove_req q = {str(key), force, RPC_STR("default")};
	struct rpc_exp_void r;

	call(c, RPC_REMOVE, &q, &r);
	return r.err;
}

/* "host:port" of a descriptor: its port (the host is ours: loopback). */
static unsigned endpoint_port(const struct rpc_str *ep)
{
	const char *colon = strrchr(ep->p, ':');

	return colon ? (unsigned)atoi(colon + 1) : 0;
}

/* READs or WRITEs @len bytes of a replica over its endpoint's port. */
static int transfer(const struct rpc_buffer_desc *d, void *buf, uint64_t len,
		    bool write)
{
	int fd = xc_connect(HOST, endpoint_port(&d->endpoint));
	int rc;

	if (fd < 0)
		return fd;
	rc = write ? xc_write(fd, d->addr, len, true, buf)
		   : xc_read(fd, d->addr, len, true, buf);
	close(fd);
	return rc;
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed * 31 + i * 7 + (i >> 9));
}

/* ------------------------------------------------------------- fill */

static void fill_keys(unsigned long n)
{
	enum { BATCH = 1000 };
	static char names[BATCH][24];
	static struct rpc_str keys[BATCH];
	static uint64_t lens[BATCH];
	static struct rpc_object_meta metas[BATCH];
	struct rpc_client *c = connect_rpc();
	unsigned long done = 0;

	for (unsigned long at = 0; at < n; at += BATCH) {
		unsigned k = n - at < BATCH ? (unsigned)(n - at) : BATCH;
		struct rpc_batch_put_start_req ps = {
			.client_id = uuid(CLIENT_M),
			.keys = {keys, k},
			.slice_lengths = {lens, k},
			.config = config("localhost"),
			.tenant_id = RPC_STR("default")};
		struct rpc_batch_put_end_req pe = {
			.client_id = uuid(CLIENT_M),
			.metas = {metas, k},
			.replica_type = RPC_RTYPE_ALL,
			.tenant_id = RPC_STR("default")};
		struct rpc_batch_replicas rs;
		struct rpc_batch_void rv;

		for (unsigned i = 0; i < k; i++) {
			snprintf(names[i], sizeof(names[i]), "fill/%lu",
				 at + i);
			keys[i] = str(names[i]);
			lens[i] = 64;
			metas[i].key = keys[i];
		}
		call(c, RPC_BATCH_PUT_START, &ps, &rs);
		for (unsigned i = 0; i < rs.n; i++)
			if (rs.v[i].err)
				die("BatchPutStart of %s: %d", names[i],
				    rs.v[i].err);
		call(c, RPC_BATCH_PUT_END, &pe, &rv);
		for (unsigned i = 0; i < rv.n; i++)
			done += rv.v[i].err == 0;
		rpc_arena_reset(&arena);
	}
	rpc_client_close(c);
	printf("filled %lu\n", done);
	if (done != n)
		die("%lu of %lu keys stored", done, n);
}

/* ------------------------------------------------------------- the life */

/* Setup: the version check and the storage config a client reads first. */
static void life_setup(struct rpc_client *c)
{
	struct rpc_exp_str v;
	struct rpc_exp_storage_config sc;
	struct rpc_exp_tasks t;
	struct rpc_fetch_tasks_req ft = {uuid(CLIENT_A), 16};

	call(c, RPC_SERVICE_READY, NULL, &v);
	CHECK(!v.err && v.v.len == 5 && !memcmp(v.v.p, "2.0.0", 5),
	      "ServiceReady: '%.*s'", (int)v.v.len, v.v.p);
	call(c, RPC_GET_STORAGE_CONFIG, NULL, &sc);
	CHECK(!sc.err && sc.v.fsdir.len == 0, "GetStorageConfig: fsdir '%s'",
	      sc.v.fsdir.p);
	call(c, RPC_GET_FSDIR, NULL, &v);
	CHECK(!v.err && v.v.len == 0, "GetFsdir");
	call(c, RPC_FETCH_TASKS, &ft, &t);
	CHECK(!t.err && t.v.n == 0, "FetchTasks: no task");
}

/* Mount, ping, and what the views show of the segment. */
static void life_mount(struct rpc_client *c)
{
	int32_t st = 0;
	char *body;
	char path[256];

	CHECK(ping(c, CLIENT_A, &st) == 0 && st == RPC_CLIENT_NEED_REMOUNT,
	      "Ping before any mount: NEED_REMOUNT (got %d)", st);
	CHECK(mount_a(c) == 0, "MountSegment");
	CHECK(mount_a(c) == 0, "MountSegment again: idempotent");
	CHECK(ping(c, CLIENT_A, &st) == 0 && st == RPC_CLIENT_OK,
	      "Ping after the mount: OK (got %d)", st);
	CHECK(ping(c, CLIENT_B, &st) == 0 && st == RPC_CLIENT_NEED_REMOUNT,
	      "Ping of a client that never mounted: NEED_REMOUNT");
	/* another client cannot mount a range under A's segment id */
	struct rpc_mount_req q = {segment_a(), uuid(CLIENT_B)};
	struct rpc_exp_void r;

	call(c, RPC_MOUNT_SEGMENT, &q, &r);
	CHECK(r.err == E_INVALID_PARAMS, "MountSegment of A's id by B: %d",
	      r.err);

	CHECK(get("/get_all_segments", &body) == 200 &&
		      strstr(body, SEG_NAME_A "\n"),
	      "/get_all_segments lists the client's segment: %s", body);
	snprintf(path, sizeof(path), "/query_segment?segment=%s", SEG_NAME_A);
	CHECK(get(path, &body) == 200 &&
		      strstr(body, "Capacity(bytes): 8388608\n"),
	      "/query_segment: %s", body);
}

/* A put into the client's own memory: it writes, the daemon never does. */
static void life_put_own(struct rpc_client *c, unsigned char *own, size_t len)
{
	struct rpc_exp_replicas r;
	const struct rpc_buffer_desc *d;

	r = put_start(c, CLIENT_A, "a/own", len, SEG_NAME_A);
	CHECK(!r.err && r.v.n == 1, "PutStart into A's memory: %d", r.err);
	if (r.err || r.v.n != 1)
		return;
	d = &r.v.v[0].loc.u.memory;
	CHECK(r.v.v[0].status == RPC_REPLICA_PROCESSING, "status PROCESSING");
	CHECK(d->addr >= (uint64_t)(uintptr_t)mem &&
		      d->addr + len <= (uint64_t)(uintptr_t)mem + SEG_SIZE,
	      "the buffer is in A's memory");
	CHECK(d->endpoint.len == strlen(te_endpoint) &&
		      !memcmp(d->endpoint.p, te_endpoint, d->endpoint.len),
	      "its endpoint is A's TE: %s", d->endpoint.p);
	CHECK(d->size == len, "size %" PRIu64, d->size);
	memcpy(mem + (d->addr - (uint64_t)(uintptr_t)mem), own, len);
	CHECK(put_finish(c, RPC_PUT_END, CLIENT_B, "a/own") == E_ILLEGAL_CLIENT,
	      "PutEnd by another client: ILLEGAL_CLIENT");
	CHECK(put_finish(c, RPC_PUT_REVOKE, CLIENT_B, "a/own") ==
		      E_ILLEGAL_CLIENT,
	      "PutRevoke by another client: ILLEGAL_CLIENT");
	CHECK(put_finish(c, RPC_PUT_END, CLIENT_A, "a/own") == 0, "PutEnd");
	CHECK(put_finish(c, RPC_PUT_END, CLIENT_A, "a/own") ==
		      E_OBJECT_NOT_FOUND,
	      "PutEnd again: no put open");
	r = put_start(c, CLIENT_B, "a/own", len, NULL);
	CHECK(r.err == E_OBJECT_ALREADY_EXISTS,
	      "PutStart of an existing key: OBJECT_ALREADY_EXISTS (%d)", r.err);
	/* a put opened and revoked leaves nothing */
	r = put_start(c, CLIENT_A, "a/revoked", 100, NULL);
	CHECK(!r.err, "PutStart a/revoked");
	r = put_start(c, CLIENT_B, "a/revoked", 100, NULL);
	CHECK(r.err == E_OBJECT_ALREADY_EXISTS,
	      "PutStart of an open key: OBJECT_ALREADY_EXISTS (%d)", r.err);
	CHECK(put_finish(c, RPC_PUT_REVOKE, CLIENT_A, "a/revoked") == 0,
	      "PutRevoke");
}

/* A client without memory: the daemon's memory, written over its port. */
static void life_put_memoryless(struct rpc_client *c, unsigned char *big,
				size_t len)
{
	struct rpc_exp_replicas r =
		put_start(c, CLIENT_M, "m/big", len, "localhost");
	const struct rpc_buffer_desc *d;
	unsigned char *back;

	CHECK(!r.err && r.v.n == 1, "PutStart by a memory-less client: %d",
	      r.err);
	if (r.err || r.v.n != 1)
		return;
	d = &r.v.v[0].loc.u.memory;
	CHECK(endpoint_port(&d->endpoint) != data_port,
	      "in the daemon's memory: %s", d->endpoint.p);
	CHECK(transfer(d, big, len, true) == XC_OK,
	      "WRITE over the transfer port");
	CHECK(put_finish(c, RPC_PUT_END, CLIENT_M, "m/big") == 0, "PutEnd");
	back = malloc(len);
	CHECK(transfer(d, back, len, false) == XC_OK && !memcmp(back, big, len),
	      "READ back over the transfer port");
	free(back);
}

/* What a second client reads: replicas, leases, existence, removal. */
static void life_read(struct rpc_client *c2, const unsigned char *big,
		      size_t len)
{
	struct rpc_exp_replica_list r = replicas(c2, "a/own");
	bool v = false;

	CHECK(!r.err && r.v.replicas.n == 1, "GetReplicaList a/own: %d", r.err);
	if (!r.err && r.v.replicas.n == 1) {
		const struct rpc_buffer_desc *d =
			&r.v.replicas.v[0].loc.u.memory;

		CHECK(r.v.replicas.v[0].status == RPC_REPLICA_COMPLETE,
		      "status COMPLETE");
		CHECK(r.v.lease_ttl_ms == 10000, "lease %" PRIu64,
		      r.v.lease_ttl_ms);
		CHECK(!memcmp(d->endpoint.p, te_endpoint, d->endpoint.len),
		      "a/own is in A's memory");
		CHECK(!r.v.checksum.has, "no checksum");
	}
	r = replicas(c2, "m/big");
	CHECK(!r.err && r.v.replicas.n == 1 &&
		      r.v.replicas.v[0].loc.u.memory.size == len,
	      "GetReplicaList m/big");
	if (!r.err && r.v.replicas.n == 1) {
		unsigned char *back = malloc(len);

		CHECK(transfer(&r.v.replicas.v[0].loc.u.memory, back, len,
			       false) == XC_OK &&
			      !memcmp(back, big, len),
		      "READ m/big at the descriptor GetReplicaList gave");
		free(back);
	}
	r = replicas(c2, "nope");
	CHECK(r.err == E_OBJECT_NOT_FOUND, "GetReplicaList nope: %d", r.err);
	CHECK(exist(c2, "a/own", &v) == 0 && v, "ExistKey a/own");
	CHECK(exist(c2, "nope", &v) == 0 && !v, "ExistKey nope");
	/* GetReplicaList leased m/big: no removal without force */
	CHECK(remove_key(c2, "m/big", false) == E_OBJECT_HAS_LEASE,
	      "Remove under a lease: OBJECT_HAS_LEASE");
	CHECK(remove_key(c2, "m/big", true) == 0, "Remove with force");
	CHECK(remove_key(c2, "m/big", true) == E_OBJECT_NOT_FOUND,
	      "Remove again: OBJECT_NOT_FOUND");
	/* a key nobody read holds no lease */
	struct rpc_exp_replicas p =
		put_start(c2, CLIENT_A, "a/plain", 10, SEG_NAME_A);

	CHECK(!p.err, "PutStart a/plain");
	CHECK(put_finish(c2, RPC_PUT_END, CLIENT_A, "a/plain") == 0,
	      "PutEnd a/plain");
	CHECK(remove_key(c2, "a/plain", false) == 0, "Remove without lease");
}

/* 300 keys at once: the length width of the wire switches at 256. */
static void life_batches(struct rpc_client *c)
{
	static char names[NBATCH + 1][16];
	static struct rpc_str keys[NBATCH + 1];
	static uint64_t lens[NBATCH];
	static struct rpc_object_meta metas[NBATCH];
	struct rpc_batch_put_start_req ps = {.client_id = uuid(CLIENT_A),
					     .keys = {keys, NBATCH},
					     .slice_lengths = {lens, NBATCH},
					     .config = config(SEG_NAME_A),
					     .tenant_id = RPC_STR("default")};
	struct rpc_batch_put_end_req pe = {.client_id = uuid(CLIENT_A),
					   .metas = {metas, NBATCH},
					   .replica_type = RPC_RTYPE_ALL,
					   .tenant_id = RPC_STR("default")};
	struct rpc_keys_req all = {{keys, NBATCH + 1}, RPC_STR("default")};
	struct rpc_batch_replicas rs;
	struct rpc_batch_void rv;
	struct rpc_batch_bool rb;
	struct rpc_batch_replica_list rl;
	unsigned ok = 0;

	for (unsigned i = 0; i <= NBATCH; i++) {
		snprintf(names[i], sizeof(names[i]), "batch/%03u", i);
		keys[i] = str(names[i]);
		if (i < NBATCH) {
			lens[i] = 64 + i;
			metas[i].key = keys[i];
		}
	}
	call(c, RPC_BATCH_PUT_START, &ps, &rs);
	CHECK(rs.n == NBATCH, "BatchPutStart answers %zu", rs.n);
	for (unsigned i = 0; i < rs.n && i < NBATCH; i++) {
		const struct rpc_buffer_desc *d;

		if (rs.v[i].err || rs.v[i].v.n != 1)
			continue;
		d = &rs.v[i].v.v[0].loc.u.memory;
		fill(mem + (d->addr - (uint64_t)(uintptr_t)mem), lens[i], i);
		ok++;
	}
	CHECK(ok == NBATCH, "BatchPutStart: %u of %u", ok, NBATCH);
	call(c, RPC_BATCH_PUT_END, &pe, &rv);
	ok = 0;
	for (unsigned i = 0; i < rv.n; i++)
		ok += rv.v[i].err == 0;
	CHECK(rv.n == NBATCH && ok == NBATCH, "BatchPutEnd: %u", ok);
	call(c, RPC_BATCH_EXIST_KEY, &all, &rb);
	ok = 0;
	for (unsigned i = 0; i < rb.n && i < NBATCH; i++)
		ok += !rb.v[i].err && rb.v[i].v;
	CHECK(rb.n == NBATCH + 1 && ok == NBATCH && !rb.v[NBATCH].v,
	      "BatchExistKey: %u true, the last false", ok);
	call(c, RPC_BATCH_GET_REPLICA_LIST, &all, &rl);
	ok = 0;
	for (unsigned i = 0; i < rl.n && i < NBATCH; i++)
		ok += !rl.v[i].err && rl.v[i].v.replicas.n == 1 &&
		      rl.v[i].v.replicas.v[0].loc.u.memory.size == lens[i];
	CHECK(rl.n == NBATCH + 1 && ok == NBATCH &&
		      rl.v[NBATCH].err == E_OBJECT_NOT_FOUND,
	      "BatchGetReplicaList: %u", ok);
	/* BatchPutRevoke of keys with no open put, then BatchRemove */
	struct rpc_batch_put_revoke_req pr = {.client_id = uuid(CLIENT_A),
					      .keys = {keys, NBATCH},
					      .replica_type = RPC_RTYPE_ALL,
					      .tenant_id = RPC_STR("default")};

	call(c, RPC_BATCH_PUT_REVOKE, &pr, &rv);
	ok = 0;
	for (unsigned i = 0; i < rv.n; i++)
		ok += rv.v[i].err == E_OBJECT_NOT_FOUND;
	CHECK(rv.n == NBATCH && ok == NBATCH, "BatchPutRevoke: none open");
	/* the first half removed, the leased rest only with force */
	struct rpc_batch_remove_req br = {
		{keys, NBATCH / 2}, false, RPC_STR("default")};

	call(c, RPC_BATCH_REMOVE, &br, &rv);
	ok = 0;
	for (unsigned i = 0; i < rv.n; i++)
		ok += rv.v[i].err == E_OBJECT_HAS_LEASE;
	CHECK(rv.n == NBATCH / 2 && ok == NBATCH / 2,
	      "BatchRemove under leases: %u OBJECT_HAS_LEASE", ok);
	br.force = true;
	call(c, RPC_BATCH_REMOVE, &br, &rv);
	ok = 0;
	for (unsigned i = 0; i < rv.n; i++)
		ok += rv.v[i].err == 0;
	CHECK(ok == NBATCH / 2, "BatchRemove with force: %u", ok);
}

/* What HTTP and the control tree show of the clients' objects. */
static void life_views(const char *mnt, const unsigned char *own, size_t ownlen,
		       bool metadata)
{
	char *body, path[512];
	size_t n;
	int st;

	st = http("GET", "/api/get/a%2Fown", NULL, 0, &body, &n);
	if (metadata) {
		CHECK(st == 200 && n == ownlen && !memcmp(body, own, n),
		      "GET of a value held only in A's memory: %d, %zu bytes",
		      st, n);
		CHECK(served_reads > 0, "read from A's data port");
	} else {
		CHECK(st == 409 && strstr(body, "REMOTE_ONLY"),
		      "GET without a way to A's memory: %d %s", st, body);
	}
	free(body);
	CHECK(get("/query_key?key=a%2Fown", &body) == 200 &&
		      strstr(body, te_endpoint),
	      "/query_key names A's endpoint: %s", body);
	CHECK(get("/metrics", &body) == 200, "/metrics");
	CHECK(sample(body, "master_active_clients") == 2,
	      "master_active_clients %g",
	      sample(body, "master_active_clients"));
	CHECK(sample(body, "master_batch_put_start_items_total") == NBATCH,
	      "batch put start items %g",
	      sample(body, "master_batch_put_start_items_total"));
	CHECK(sample(body, "master_batch_exist_key_requests_total") == 1,
	      "batch exist requests");
	CHECK(sample(body,
		     "master_batch_get_replica_list_failed_items_total") == 1,
	      "batch get failed items");
	CHECK(sample(body, "master_put_end_failures_total") == 2,
	      "PutEnd failures: %g",
	      sample(body, "master_put_end_failures_total"));
	/* the BatchPutRevoke of keys none of which was open: one batch,
	 * every item failed; the PutRevokes are the two single ones */
	static const struct {
		const char *name;
		double want;
	} counts[] = {
		{"master_batch_put_revoke_requests_total", 1},
		{"master_batch_put_revoke_items_total", NBATCH},
		{"master_batch_put_revoke_failures_total", 1},
		{"master_batch_put_revoke_partial_successes_total", 0},
		{"master_batch_put_revoke_failed_items_total", NBATCH},
		{"master_put_revoke_requests_total", 2},
		{"master_put_revoke_failures_total", 1},
		/* life_setup's one FetchTasks */
		{"master_fetch_tasks_requests_total", 1},
		{"master_fetch_tasks_failures_total", 0},
	};

	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		CHECK(sample(body, counts[i].name) == counts[i].want,
		      "%s %g, not %g", counts[i].name,
		      sample(body, counts[i].name), counts[i].want);
	CHECK(sample(body, "master_ping_requests_total") >= 3, "pings");
	CHECK(sample(body, "segment_total_capacity_bytes{segment=\"" SEG_NAME_A
			   "\"}") == SEG_SIZE,
	      "the client's segment has its capacity series");
	CHECK(get("/metrics/summary", &body) == 200 &&
		      strstr(body, "Clients: 2"),
	      "summary: %s", body);
	CHECK(get("/", &body) == 200 && strstr(body, "client:" CLIENT_A),
	      "the status page shows the client's segment");
	if (mnt && metadata) {
		snprintf(path, sizeof(path), "%s/keys/a%%2Fown", mnt);
		FILE *kf = fopen(path, "r");
		unsigned char got[4096];

		CHECK(kf && fread(got, 1, sizeof(got), kf) == ownlen &&
			      !memcmp(got, own, ownlen),
		      "tree: cat keys/a%%2Fown reads A's memory");
		if (kf)
			fclose(kf);
	}
	if (!mnt)
		return;
	snprintf(path, sizeof(path), "%s/segments/%s/%s/source", mnt,
		 SEG_NAME_A, SEGMENT_A);
	FILE *f = fopen(path, "r");
	char line[128] = "";

	CHECK(f && fgets(line, sizeof(line), f) &&
		      !strcmp(line, "client:" CLIENT_A "\n"),
	      "tree: source %s", line);
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "%s/keys/a%%2Fown", mnt);
	CHECK(access(path, F_OK) == 0, "tree: keys/a%%2Fown");
	snprintf(path, sizeof(path), "%s/replicas/a%%2Fown", mnt);
	f = fopen(path, "r");
	CHECK(f && fgets(line, sizeof(line), f) && strstr(line, te_endpoint),
	      "tree: replicas/a%%2Fown names A's endpoint");
	if (f)
		fclose(f);
}

/*
 * Never other bytes: a descriptor that does not cover the replica, or a
 * client that cannot be reached, leaves the value unreadable here.
 */
static void life_unreachable(const char *mnt)
{
	char *body, path[512];
	size_t n;
	int st;

	publish_metadata((uint64_t)(uintptr_t)mem + SEG_SIZE);
	st = http("GET", "/api/get/a%2Fown", NULL, 0, &body, &n);
	CHECK(st == 409 && strstr(body, "REMOTE_ONLY"),
	      "GET with a descriptor not covering the replica: %d", st);
	free(body);
	publish_metadata((uint64_t)(uintptr_t)mem);
	st = http("GET", "/api/get/a%2Fown", NULL, 0, &body, &n);
	CHECK(st == 200, "GET with the right descriptor again: %d", st);
	free(body);
	__atomic_store_n(&refuse, 1, __ATOMIC_SEQ_CST);
	st = http("GET", "/api/get/a%2Fown", NULL, 0, &body, &n);
	CHECK(st == 409 && strstr(body, "REMOTE_ONLY"),
	      "GET when A cannot be reached: %d %s", st, body);
	free(body);
	if (mnt) {
		snprintf(path, sizeof(path), "%s/keys/a%%2Fown", mnt);
		errno = 0;
		CHECK(!fopen(path, "r") && errno == EREMOTEIO,
		      "tree: open fails with EREMOTEIO (%s)", strerror(errno));
	}
	__atomic_store_n(&refuse, 0, __ATOMIC_SEQ_CST);
}

/* Unmount by the wrong client and the right one; idempotent. */
static void life_unmount(struct rpc_client *c)
{
	struct rpc_unmount_req q = {uuid(SEGMENT_A), uuid(CLIENT_B)};
	struct rpc_exp_void r;
	bool v = true;

	call(c, RPC_UNMOUNT_SEGMENT, &q, &r);
	CHECK(r.err == E_ILLEGAL_CLIENT, "UnmountSegment by B: %d", r.err);
	q.client_id = uuid(CLIENT_A);
	call(c, RPC_UNMOUNT_SEGMENT, &q, &r);
	CHECK(!r.err, "UnmountSegment");
	call(c, RPC_UNMOUNT_SEGMENT, &q, &r);
	CHECK(!r.err, "UnmountSegment again: idempotent");
	CHECK(exist(c, "a/own", &v) == 0 && !v, "a/own went with A's segment");
}

/* Silent for more than 10 s: segments gone, open puts revoked. */
static void life_expiry(struct rpc_client *c)
{
	int32_t st = 0;
	bool v = true;
	char *body;
	struct rpc_exp_replicas r;

	CHECK(mount_a(c) == 0, "MountSegment again");
	r = put_start(c, CLIENT_A, "a/kept", 10, SEG_NAME_A);
	CHECK(!r.err, "PutStart a/kept");
	if (!r.err)
		CHECK(put_finish(c, RPC_PUT_END, CLIENT_A, "a/kept") == 0,
		      "PutEnd a/kept");
	r = put_start(c, CLIENT_A, "a/open", 10, "localhost");
	CHECK(!r.err, "PutStart a/open");
	CHECK(ping(c, CLIENT_A, &st) == 0 && st == RPC_CLIENT_OK, "Ping");
	sleep(5);
	CHECK(get("/get_all_segments", &body) == 200 &&
		      strstr(body, SEG_NAME_A "\n"),
	      "5 s without a ping: still mounted");
	sleep(6);
	CHECK(get("/get_all_segments", &body) == 200 &&
		      !strstr(body, SEG_NAME_A "\n"),
	      "11 s without a ping: unmounted");
	CHECK(exist(c, "a/kept", &v) == 0 && !v, "its objects are gone");
	CHECK(put_finish(c, RPC_PUT_END, CLIENT_A, "a/open") ==
		      E_OBJECT_NOT_FOUND,
	      "its open put was revoked");
	CHECK(ping(c, CLIENT_A, &st) == 0 && st == RPC_CLIENT_NEED_REMOUNT,
	      "Ping after the expiry: NEED_REMOUNT");
}

/*
 * Keys mooncaked takes nowhere (empty, past 4096 bytes, with a NUL byte)
 * answer INVALID_KEY on every call that names one (mooncake-rpc(7),
 * CALLS SERVED), ExistKey too (upstream answers an empty one false).
 */
static void life_bad_keys(struct rpc_client *c)
{
	static char longkey[4097];
	const struct rpc_str bad[] = {
		{"", 0}, {longkey, sizeof(longkey)}, {"a\0b", 3}};
	const char *what[] = {"an empty key", "a 4097-byte key",
			      "a key with a NUL"};

	memset(longkey, 'k', sizeof(longkey));
	for (size_t i = 0; i < 3; i++) {
		struct rpc_key_req q = {bad[i], RPC_STR("default")};
		struct rpc_put_start_req ps = {.client_id = uuid(CLIENT_A),
					       .key = bad[i],
					       .slice_length = 10,
					       .config = config(NULL),
					       .tenant_id = RPC_STR("default")};
		struct rpc_exp_replica_list rl;
		struct rpc_exp_replicas rs;
		struct rpc_exp_bool eb;

		call(c, RPC_EXIST_KEY, &q, &eb);
		CHECK(eb.err == E_INVALID_KEY, "ExistKey of %s: %d", what[i],
		      eb.err);
		call(c, RPC_GET_REPLICA_LIST, &q, &rl);
		CHECK(rl.err == E_INVALID_KEY, "GetReplicaList of %s: %d",
		      what[i], rl.err);
		call(c, RPC_PUT_START, &ps, &rs);
		CHECK(rs.err == E_INVALID_KEY, "PutStart of %s: %d", what[i],
		      rs.err);
	}
}

static int life(const char *mnt)
{
	struct rpc_client *c = connect_rpc(), *c2 = connect_rpc();
	unsigned char *own = malloc(4096), *big = malloc(1 << 20);
	bool metadata;

	fill(own, 4096, 1);
	fill(big, 1 << 20, 2);
	start_data_listener();
	metadata = publish_metadata((uint64_t)(uintptr_t)mem);
	printf("client A: memory %p, TE endpoint %s (data port %u), "
	       "metadata %s\n",
	       (void *)mem, te_endpoint, data_port,
	       metadata ? "published" : "not served");
	life_setup(c);
	life_mount(c);
	life_put_own(c, own, 4096);
	life_put_memoryless(c, big, 1 << 20);
	life_read(c2, big, 1 << 20);
	rpc_arena_reset(&arena);
	life_batches(c);
	life_views(mnt, own, 4096, metadata);
	if (metadata)
		life_unreachable(mnt);
	life_unmount(c2);
	life_bad_keys(c);
	life_expiry(c);
	rpc_client_close(c);
	rpc_client_close(c2);
	free(own);
	free(big);
	return 0;
}

/* After a daemon restart: the client's segments must be mounted again. */
static int remount(void)
{
	struct rpc_client *c = connect_rpc();
	struct rpc_segment seg;
	struct rpc_remount_req q;
	struct rpc_exp_void r;
	int32_t st = 0;
	char *body;

	start_data_listener();
	seg = segment_a();
	q = (struct rpc_remount_req){{&seg, 1}, uuid(CLIENT_A)};
	CHECK(ping(c, CLIENT_A, &st) == 0 && st == RPC_CLIENT_NEED_REMOUNT,
	      "Ping to a restarted daemon: NEED_REMOUNT");
	call(c, RPC_REMOUNT_SEGMENT, &q, &r);
	CHECK(!r.err, "ReMountSegment");
	call(c, RPC_REMOUNT_SEGMENT, &q, &r);
	CHECK(!r.err, "ReMountSegment again: idempotent");
	CHECK(ping(c, CLIENT_A, &st) == 0 && st == RPC_CLIENT_OK,
	      "Ping after the remount: OK");
	CHECK(get("/get_all_segments", &body) == 200 &&
		      strstr(body, SEG_NAME_A "\n"),
	      "the segment is back");
	/* a fresh daemon: two ReMountSegments counted, no MountSegment
	 * (mooncake-rpc(7), COUNTING) */
	CHECK(get("/metrics", &body) == 200, "GET /metrics");
	CHECK(sample(body, "master_remount_segment_requests_total") == 2 &&
		      sample(body, "master_remount_segment_failures_total") ==
			      0,
	      "two ReMountSegments: %g requests, %g failures",
	      sample(body, "master_remount_segment_requests_total"),
	      sample(body, "master_remount_segment_failures_total"));
	double mounts = sample(body, "master_mount_segment_requests_total");
	CHECK(mounts == 1, "MountSegments: %g, the daemon's own segment only",
	      mounts);
	/* a remount naming another range under the id changes nothing, and
	 * counts as one failed ReMountSegment */
	seg.size /= 2;
	call(c, RPC_REMOUNT_SEGMENT, &q, &r);
	CHECK(r.err == E_INVALID_PARAMS, "ReMountSegment of another range");
	CHECK(get("/metrics", &body) == 200, "GET /metrics");
	CHECK(sample(body, "master_remount_segment_requests_total") == 3 &&
		      sample(body, "master_remount_segment_failures_total") ==
			      1,
	      "... counted: one ReMountSegment, one failure (%g %g)",
	      sample(body, "master_remount_segment_requests_total"),
	      sample(body, "master_remount_segment_failures_total"));
	CHECK(sample(body, "master_mount_segment_requests_total") == mounts &&
		      sample(body, "master_mount_segment_failures_total") == 0,
	      "... and no MountSegment (%g %g, were %g 0)",
	      sample(body, "master_mount_segment_requests_total"),
	      sample(body, "master_mount_segment_failures_total"), mounts);
	CHECK(get("/get_all_segments", &body) == 200 &&
		      strstr(body, SEG_NAME_A "\n"),
	      "... and the segment stays");
	/* a client without segments registers with an empty remount */
	q = (struct rpc_remount_req){{NULL, 0}, uuid(CLIENT_B)};
	call(c, RPC_REMOUNT_SEGMENT, &q, &r);
	CHECK(!r.err && ping(c, CLIENT_B, &st) == 0 && st == RPC_CLIENT_OK,
	      "an empty ReMountSegment makes a client known");
	rpc_client_close(c);
	return 0;
}

/*
 * Cluster mode: the client talks to one node (its RPC and /metadata, as
 * its TE was told) and a value in its memory is read through @other,
 * another node, which must find the client's data port as the first
 * node does (mooncake-cluster(7), Views).
 */
static int cluster(unsigned other)
{
	struct rpc_client *c = connect_rpc();
	static const char val[] = "hello-te-ok";
	struct rpc_exp_replicas r;
	const struct rpc_buffer_desc *d;
	unsigned long reads;
	unsigned mine = http_port;
	char *body;

	start_data_listener();
	CHECK(publish_metadata((uint64_t)(uintptr_t)mem),
	      "the node serves /metadata");
	CHECK(mount_a(c) == 0, "MountSegment through the first node");
	r = put_start(c, CLIENT_A, "c/own", sizeof(val) - 1, SEG_NAME_A);
	CHECK(!r.err && r.v.n == 1, "PutStart into A's memory: %d", r.err);
	if (r.err || r.v.n != 1)
		return 0;
	d = &r.v.v[0].loc.u.memory;
	memcpy(mem + (d->addr - (uint64_t)(uintptr_t)mem), val,
	       sizeof(val) - 1);
	CHECK(put_finish(c, RPC_PUT_END, CLIENT_A, "c/own") == 0, "PutEnd");
	for (int i = 0; i < 2; i++) {
		http_port = i ? other : mine;
		reads = __atomic_load_n(&served_reads, __ATOMIC_SEQ_CST);
		CHECK(get("/api/get/c/own", &body) == 200 && !strcmp(body, val),
		      "the value read through the %s node: %s",
		      i ? "other" : "first", body);
		CHECK(__atomic_load_n(&served_reads, __ATOMIC_SEQ_CST) > reads,
		      "... from A's data port (%s node)",
		      i ? "other" : "first");
	}
	http_port = mine;
	rpc_client_close(c);
	return 0;
}

/*
 * A client segment whose published data port is another node's transfer
 * port (node @other's, whose HTTP port that is): its "memory" there is
 * a value node @other stores. Reading the client's value must not serve
 * those bytes (mooncake-rpc(7), CLIENT SEGMENTS): 409 REMOTE_ONLY through
 * this node.
 */
#define CLIENT_E  "3f3e3d3c-3b3a-4938-b736-353433323130"
#define SEGMENT_E "e1e2e3e4-e5e6-4e7e-8e8e-e9eaebecedee"
static int foreign(unsigned other)
{
	static const char secret[] = "NODE-B-SECRET-abcdefghijklmnop";
	struct rpc_client *c = connect_rpc();
	unsigned mine = http_port, bport = 0;
	unsigned long long addr = 0;
	char path[512], body[1024], *ans = NULL, *p;
	struct rpc_exp_replicas r;
	int st;

	http_port = other;
	st = http("PUT", "/api/put/f/secret", secret, sizeof(secret) - 1, NULL,
		  NULL);
	CHECK(st == 200, "the secret put through the other node: %d", st);
	st = get("/query_key?key=f/secret", &ans);
	p = ans ? strstr(ans, "\"buffer_address_\":") : NULL;
	if (p)
		addr = strtoull(p + 18, NULL, 10);
	p = ans ? strstr(ans, "\"transport_endpoint_\":\"") : NULL;
	p = p ? strchr(p + 22, ':') : NULL;
	if (p)
		bport = (unsigned)strtoul(p + 1, NULL, 10);
	CHECK(st == 200 && addr && bport, "its replica: %llu at port %u", addr,
	      bport);
	http_port = mine;
	/* the client's segment over those bytes, its data port node B's */
	struct rpc_mount_req q = {{.id = uuid(SEGMENT_E),
				   .name = RPC_STR("evil"),
				   .base = addr,
				   .size = 4096,
				   .te_endpoint = RPC_STR("evil"),
				   .protocol = RPC_STR("tcp"),
				   .host_id = RPC_STR("")},
				  uuid(CLIENT_E)};
	struct rpc_exp_void mr;

	call(c, RPC_MOUNT_SEGMENT, &q, &mr);
	CHECK(mr.err == 0, "MountSegment over the other node's bytes: %d",
	      mr.err);
	snprintf(body, sizeof(body),
		 "{\"ip_or_host_name\":\"" HOST "\",\"rpc_port\":%u}",
		 bport - 1);
	st = http("PUT", "/metadata?key=mooncake/rpc_meta/evil", body,
		  strlen(body), NULL, NULL);
	CHECK(st == 200, "PUT rpc_meta: %d", st);
	snprintf(body, sizeof(body),
		 "{\"name\":\"evil\",\"protocol\":\"tcp\",\"tcp_data_port\":%u,"
		 "\"tcp_proto_version\":2,\"buffers\":[{\"name\":\"evil\","
		 "\"addr\":%llu,\"length\":4096}],\"timestamp\":"
		 "\"2026-01-01 00:00:00.000000\"}",
		 bport, addr);
	st = http("PUT", "/metadata?key=mooncake/ram/evil", body, strlen(body),
		  NULL, NULL);
	CHECK(st == 200, "PUT ram: %d", st);
	r = put_start(c, CLIENT_E, "f/stolen", sizeof(secret) - 1, "evil");
	CHECK(!r.err && r.v.n == 1, "PutStart into the segment: %d", r.err);
	CHECK(put_finish(c, RPC_PUT_END, CLIENT_E, "f/stolen") == 0,
	      "PutEnd, nothing written");
	snprintf(path, sizeof(path), "/api/get/f/stolen");
	st = get(path, &ans);
	CHECK(st == 409 && ans && strstr(ans, "REMOTE_ONLY"),
	      "GET of the client's value: not the other node's bytes (%d %s)",
	      st, ans ? ans : "");
	rpc_client_close(c);
	return 0;
}

/*
 * Cluster mode while no leader serves: every call that needs the leader
 * answers UNAVAILABLE_IN_CURRENT_STATUS (mooncake-rpc(7)), never an
 * error that blames the request (INVALID_KEY) and never a count.
 */
static int noleader(void)
{
	struct rpc_client *c = connect_rpc();
	struct rpc_remove_all_req q = {true, RPC_STR("default")};
	struct rpc_remove_all_resp ra;
	bool v = true;
	int32_t e;

	e = exist(c, "nl/key", &v);
	CHECK(e == E_UNAVAILABLE_IN_CURRENT_STATUS, "ExistKey: %d", e);
	e = replicas(c, "nl/key").err;
	CHECK(e == E_UNAVAILABLE_IN_CURRENT_STATUS, "GetReplicaList: %d", e);
	e = remove_key(c, "nl/key", true);
	CHECK(e == E_UNAVAILABLE_IN_CURRENT_STATUS, "Remove: %d", e);
	call(c, RPC_REMOVE_ALL, &q, &ra);
	CHECK(ra.removed == E_UNAVAILABLE_IN_CURRENT_STATUS, "RemoveAll: %lld",
	      (long long)ra.removed);
	rpc_client_close(c);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && !strcmp(argv[1], "free-port")) {
		unsigned port;
		int fd = listen_any(&port);

		close(fd);
		printf("%u\n", port);
		return 0;
	}
	if (argc >= 4 &&
	    (!strcmp(argv[1], "life") || !strcmp(argv[1], "remount"))) {
		rpc_port = (unsigned)atoi(argv[2]);
		http_port = (unsigned)atoi(argv[3]);
		if (!strcmp(argv[1], "life"))
			life(argc > 4 ? argv[4] : NULL);
		else
			remount();
		printf("%d passed, %d failed\n", passed, failed);
		return failed ? 1 : 0;
	}
	if (argc == 5 &&
	    (!strcmp(argv[1], "cluster") || !strcmp(argv[1], "foreign"))) {
		rpc_port = (unsigned)atoi(argv[2]);
		http_port = (unsigned)atoi(argv[3]);
		if (!strcmp(argv[1], "cluster"))
			cluster((unsigned)atoi(argv[4]));
		else
			foreign((unsigned)atoi(argv[4]));
		printf("%d passed, %d failed\n", passed, failed);
		return failed ? 1 : 0;
	}
	if (argc == 4 && !strcmp(argv[1], "fill")) {
		rpc_port = (unsigned)atoi(argv[2]);
		fill_keys(strtoul(argv[3], NULL, 10));
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "noleader")) {
		rpc_port = (unsigned)atoi(argv[2]);
		noleader();
		printf("%d passed, %d failed\n", passed, failed);
		return failed ? 1 : 0;
	}
	fprintf(stderr, "usage: rpc_life free-port | life RPC HTTP [MNT] | "
			"remount RPC HTTP | cluster RPC HTTP OTHER_HTTP | "
			"foreign RPC HTTP OTHER_HTTP | "
			"noleader RPC | fill RPC N\n");
	return 2;
}
