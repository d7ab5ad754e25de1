/*
 * fuzz_http.c - the JSON body, the query string or the key of every
 * route of the HTTP door, sent over a real connection to an in-process
 * door (web/) on a live store with the transfer port.
 *
 * An input is a list of requests separated by the two bytes 0xff 0xff.
 * In each, the first byte picks the route (table below; a byte past the
 * table wraps round), the second its
 * flags (bit 0: send the bearer token; bit 1: send the body chunked), the
 * rest is the route's payload: the body of a JSON route, the key (path
 * rest) of a key route, the query string of a query route, both for a
 * PUT /metadata (the query up to the first newline, the body after it). Bytes
 * that cannot stand in a request line (blanks, controls, '#') are
 * percent-encoded; '%' is not, so bad escapes reach the parsers. In a
 * payload "@" stands for the id of the live base segment, so unmount and
 * query_segment reach their success paths. Several requests build state
 * (mount, put, put_start) that the next ones (get_all_keys, metrics,
 * unmount) render and tear down. The store is reset after each input.
 *
 * What must hold: no crash, hang or sanitizer report; no 500 (an
 * internal error is a bug); a mutating route without the token answers
 * 401 (but /metadata, open by design); a REST route's error body is a
 * JSON object with an "error" string; Content-Length matches the body.
 * mount_shm runs in a private /dev/shm (a mount namespace of its own) holding
 * one object, fz-shm, so the fuzzer maps no object of the machine; without the
 * rights for that (not root) the route is left out.
 */
#include "autoconfig.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <sched.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "fuzz.h"
#include "node.h"

/* QBODY: the query string up to the first newline, the body after it */
enum kind { BODY, KEY, QUERY, NONE, QBODY };
enum { REST = 1, OPEN = 2 }; /* OPEN: mutating, yet open by design */

static const struct {
	const char *method, *path;
	enum kind kind;
	unsigned flags; /* REST error bodies; OPEN without the token */
} routes[] = {
	{"POST", "/api/mount", BODY, REST},
	{"POST", "/api/mount_shm", BODY, REST},
	{"POST", "/api/unmount", BODY, REST},
	{"POST", "/api/unmount_shm", BODY, REST},
	{"PUT", "/api/put", BODY, REST},
	{"PUT", "/api/put/", KEY, REST},
	{"GET", "/api/get/", KEY, REST},
	{"HEAD", "/api/get/", KEY, REST},
	{"GET", "/api/exist/", KEY, REST},
	{"DELETE", "/api/remove/", KEY, REST},
	{"DELETE", "/api/remove_all", QUERY, REST},
	{"POST", "/api/v1/put_start", BODY, REST},
	{"POST", "/api/v1/put_end", BODY, REST},
	{"POST", "/api/v1/put_revoke", BODY, REST},
	{"GET", "/query_key", QUERY, 0},
	{"GET", "/batch_query_keys", QUERY, 0},
	{"GET", "/query_segment", QUERY, 0},
	{"GET", "/get_all_keys", NONE, 0},
	{"GET", "/get_all_segments", NONE, 0},
	{"GET", "/metrics", NONE, 0},
	{"GET", "/metrics/summary", NONE, 0},
	{"GET", "/health", NONE, 0},
	/* added after the seeds were written: they keep their routes */
	{"GET", "/metadata", QUERY, 0},
	{"PUT", "/metadata", QBODY, OPEN},
	{"DELETE", "/metadata", QUERY, OPEN},
	{"GET", "/status", NONE, 0},
	{"GET", "/api/cluster", NONE, REST},
	{"POST", "/internal/v1/master", BODY, 0},
	{"POST", "/internal/v1/owner", BODY, 0},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

static struct fuzz_node *node;
static int shm_ok;

/* A /dev/shm of our own, so mount_shm maps only fz-shm. */
static int private_shm(void)
{
	int fd;

	if (unshare(CLONE_NEWNS) ||
	    mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) ||
	    mount("fuzz-shm", "/dev/shm", "tmpfs", 0, "size=64m"))
		return 0;
	fd = open("/dev/shm/fz-shm", O_RDWR | O_CREAT, 0600);
	if (fd < 0 || ftruncate(fd, 32 << 20))
		return 0;
	close(fd);
	return 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	shm_ok = private_shm();
	node = fuzz_node_start(1);
	return 0;
}

static void add(struct mc_buf *b, const char *s)
{
	mc_buf_adds(b, s);
}

/* The payload for a request line: @ -> the base id, unsafe bytes %XX. */
static void add_line(struct mc_buf *b, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '@')
			add(b, node->seg_id);
		else if (p[i] <= 0x20 || p[i] >= 0x7f || p[i] == '#')
			mc_buf_addf(b, "%%%02X", p[i]);
		else
			mc_buf_addch(b, (char)p[i]);
	}
}

static void add_body(struct mc_buf *b, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] == '@')
			add(b, node->seg_id);
		else
			mc_buf_addch(b, (char)p[i]);
}

static void one(const uint8_t *p, size_t n)
{
	struct mc_buf req = {0}, body = {0};
	unsigned r, flags;
	unsigned char *got;
	size_t glen;
	int fd, status, mutating;
	char *end, *hend;

	if (n < 2)
		return;
	r = p[0] % NROUTES;
	flags = p[1];
	p += 2;
	n -= 2;
	if (r == 1 && !shm_ok)
		r = 0;
	mutating = strcmp(routes[r].method, "GET") &&
		   strcmp(routes[r].method, "HEAD");
	add(&req, routes[r].method);
	add(&req, " ");
	add(&req, routes[r].path);
	if (routes[r].kind == KEY) {
		add_line(&req, p, n);
	} else if (routes[r].kind == QUERY) {
		add(&req, "?");
		add_line(&req, p, n);
	} else if (routes[r].kind == BODY) {
		add_body(&body, p, n);
	} else if (routes[r].kind == QBODY) {
		const uint8_t *nl = memchr(p, '\n', n);
		size_t q = nl ? (size_t)(nl - p) : n;

		add(&req, "?");
		add_line(&req, p, q);
		if (nl)
			add_body(&body, nl + 1, n - q - 1);
	}
	if (!strcmp(routes[r].path, "/api/put/"))
		add(&body, "fuzz value");
	add(&req, " HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n");
	if (flags & 1)
		mc_buf_addf(&req, "Authorization: Bearer %s\r\n", node->token);
	if (body.len && (flags & 2)) {
		mc_buf_addf(&req, "Transfer-Encoding: chunked\r\n\r\n%zx\r\n",
			    body.len);
		mc_buf_add(&req, body.data, body.len);
		add(&req, "\r\n0\r\n\r\n");
	} else {
		mc_buf_addf(&req, "Content-Length: %zu\r\n\r\n", body.len);
		if (body.len)
			mc_buf_add(&req, body.data, body.len);
	}
	fd = fuzz_connect(node->http_port);
	fuzz_write_all(fd, req.data, req.len);
	fuzz_must(!fuzz_read_all(fd, &got, &glen), "%s %s hung",
		  routes[r].method, routes[r].path);
	close(fd);
	got = realloc(got, glen + 1);
	got[glen] = '\0';
	fuzz_must(glen > 12 && !strncmp((char *)got, "HTTP/1.1 ", 9),
		  "no status line from %s %s", routes[r].method,
		  routes[r].path);
	status = (int)strtol((char *)got + 9, &end, 10);
	fuzz_must(status >= 200 && status < 600 && status != 500,
		  "%s %s answered %d", routes[r].method, routes[r].path,
		  status);
	if (mutating && !(flags & 1) && !(routes[r].flags & OPEN))
		fuzz_must(status == 401, "%s %s without the token: %d",
			  routes[r].method, routes[r].path, status);
	hend = strstr((char *)got, "\r\n\r\n");
	fuzz_must(hend, "no end of headers");
	*hend = '\0';
	hend += 4;
	if (!strcasestr((char *)got, "\r\nTransfer-Encoding: chunked") &&
	    strcmp(routes[r].method, "HEAD")) {
		const char *cl = strcasestr((char *)got, "\r\nContent-Length:");

		fuzz_must(cl, "no Content-Length");
		fuzz_must(strtoull(cl + 17, NULL, 10) ==
				  glen - (size_t)(hend - (char *)got),
			  "Content-Length does not match the body");
		if ((routes[r].flags & REST) && status >= 400) {
			struct json_object *o = json_tokener_parse(hend), *e;

			fuzz_must(o &&
					  json_object_object_get_ex(o, "error",
								    &e) &&
					  json_object_is_type(e,
							      json_type_string),
				  "REST error body '%s'", hend);
			json_object_put(o);
		}
	}
	free(got);
	mc_buf_release(&req);
	mc_buf_release(&body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t start = 0;

	for (size_t i = 0; i + 1 < size; i++)
		if (data[i] == 0xff && data[i + 1] == 0xff) {
			one(data + start, i - start);
			start = i + 2;
			i++;
		}
	one(data + start, size - start);
	fuzz_node_reset(node);
	return 0;
}
