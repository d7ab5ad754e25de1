/*
 * te_client.c - a Mooncake Transfer Engine client against mooncaked, for
 * tests/xfer_te.sh: the steps an unmodified TE with its TCP transport
 * takes (mooncake-transfer(7), TRANSFER ENGINE CLIENTS), through
 * libcurl as TE's HTTP metadata plugin does (escaped keys, a 3 s
 * timeout, only 200 counts) and the transfer framing.
 *
 *   te_client URL [v1] [pool] [cluster=ID]
 *
 *   1. init: PUT its own location (rpc_meta) and, installing TCP and
 *      registering memory, its own segment descriptor; the same location
 *      again is accepted (a restarted client), another one refused.
 *   2. a value put over HTTP: /query_key gives N = transport_endpoint_,
 *      A = buffer_address_; openSegment(N): GET mooncake/[ID/]ram/N,
 *      validated as TE's decodeSegmentDesc, then the rpc_meta of the name
 *      it carries; READ A on a fresh connection to ip_or_host_name:
 *      tcp_data_port, v2 framing when the descriptor says
 *      tcp_proto_version >= 2 (v1 forced with "v1", as MC_TCP_PROTO=1).
 *   3. a two-phase put: WRITE the put_start buffer the same way, put_end,
 *      read it back over HTTP.
 *   4. a descriptor with a zero addr is refused by openSegment.
 *   5. teardown: DELETE both of its keys.
 *
 * Transfers use one connection each, as TE's default mode, unless "pool"
 * (MC_TCP_ENABLE_CONNECTION_POOL: persistent connections, 16 lanes).
 * Prints one line per step; exit 0 when all passed, 1 at the first
 * failure (saying which), 2 for usage.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "buf.h"
#include "client.h"

static const char *base;
static const char *cluster;
static bool v1, pool;
static struct xfer_client *xc;

static _Noreturn void fail(const char *step, const char *why)
{
	fprintf(stderr, "te_client: %s: %s\n", step, why);
	exit(1);
}

static size_t sink(void *p, size_t size, size_t n, void *arg)
{
	mc_buf_add(arg, p, size * n);
	return size * n;
}

/*
 * One HTTP request the way TE's HTTPStoragePlugin makes it: @method on
 * @path (with @key escaped into ?key= when set), @body as JSON. Returns
 * the status (0: no answer), the answer in @out.
 */
static long http(const char *method, const char *path, const char *key,
		 const char *body, struct mc_buf *out)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdr = NULL;
	struct mc_buf url = MC_BUF_INIT;
	long code = 0;

	if (!h)
		fail("http", "curl_easy_init failed");
	mc_buf_reset(out);
	mc_buf_adds(&url, base);
	mc_buf_adds(&url, path);
	if (key) {
		char *esc = curl_easy_escape(h, key, (int)strlen(key));

		mc_buf_adds(&url, "?key=");
		mc_buf_adds(&url, esc);
		curl_free(esc);
	}
	curl_easy_setopt(h, CURLOPT_URL, url.data);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 3000L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 1500L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	if (strcmp(method, "GET"))
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
		hdr = curl_slist_append(hdr, "Content-Type: application/json");
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	}
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	mc_buf_release(&url);
	return code;
}

/* The metadata getter of xfer_te_resolve: TE's GET, only 200 counts. */
static int meta_get(void *arg, const char *key, size_t klen, struct mc_buf *out,
		    struct mc_err *err)
{
	long code = http("GET", "/metadata", key, NULL, out);

	(void)arg;
	(void)klen;
	if (code == 200)
		return 0;
	return mc_err_set(err, code == 404 ? -ENOENT : -EIO, MC_RPC_FAIL,
			  "GET metadata '%s': HTTP %ld", key, code);
}

/* A metadata key of this client's cluster. */
static char *key_of(const char *kind, const char *name)
{
	struct mc_buf k = MC_BUF_INIT;

	xfer_te_key(&k, cluster, kind, name);
	return mc_buf_detach(&k, NULL);
}

/* The first descriptor of a /query_key line or a put_start answer. */
static void first_desc(const char *json, const char *list, char *ep,
		       size_t eplen, uint64_t *addr, uint64_t *size)
{
	struct json_object *o = json_tokener_parse(json), *d, *f;

	if (!o)
		fail("descriptor", "the answer is not JSON");
	if (list) {
		if (!json_object_object_get_ex(o, list, &d) ||
		    !json_object_is_type(d, json_type_array) ||
		    !json_object_array_length(d))
			fail("descriptor", "no descriptor list");
		d = json_object_array_get_idx(d, 0);
	} else {
		d = o;
	}
	if (!json_object_object_get_ex(d, "transport_endpoint_", &f))
		fail("descriptor", "no transport_endpoint_");
	snprintf(ep, eplen, "%s", json_object_get_string(f));
	if (!json_object_object_get_ex(d, "buffer_address_", &f))
		fail("descriptor", "no buffer_address_");
	*addr = (uint64_t)json_object_get_int64(f);
	if (!json_object_object_get_ex(d, "size_", &f))
		fail("descriptor", "no size_");
	*size = (uint64_t)json_object_get_int64(f);
	json_object_put(o);
}

/* openSegment: the peer's data port, as TE finds it. */
static void open_segment(const char *name, struct xfer_te_segment *seg)
{
	struct mc_err e = {0};

	if (xfer_te_resolve(name, cluster, meta_get, NULL, seg, &e))
		fail("openSegment", e.msg);
	if (v1)
		seg->version = 1; /* MC_TCP_PROTO=1 */
	printf("openSegment %s: %s port %u, tcp_proto_version %u, %zu "
	       "buffers\n",
	       name, seg->host, seg->data_port, seg->version, seg->nbuf);
}

static unsigned char *pattern(size_t n, unsigned seed)
{
	unsigned char *v = malloc(n);

	if (!v)
		fail("memory", "out of memory");
	for (size_t i = 0; i < n; i++)
		v[i] = (unsigned char)(i * 131 + seed * 7 + (i >> 8));
	return v;
}

int main(int argc, char **argv)
{
	static const char self[] = "127.0.0.1:17777";
	struct xfer_client_opts o = {.one_shot = true};
	struct xfer_te_segment seg;
	struct mc_buf ans = MC_BUF_INIT;
	struct mc_err e = {0};
	char ep[300], *k, body[512], own_desc[512];
	uint64_t addr, size;
	size_t n = 300001;
	unsigned char *v = pattern(n, 1), *w = pattern(n, 2), *got = malloc(n);
	struct xfer_target t;

	if (argc < 2)
		return 2;
	base = argv[1];
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "v1"))
			v1 = true;
		else if (!strcmp(argv[i], "pool"))
			pool = true;
		else if (!strncmp(argv[i], "cluster=", 8))
			cluster = argv[i] + 8;
		else
			return 2;
	}
	if (pool)
		o = (struct xfer_client_opts){.pool_per_peer = 16};
	xc = xfer_client_new(&o);
	curl_global_init(CURL_GLOBAL_DEFAULT);

	/* 1. init: its own location, then its own segment */
	k = key_of("rpc_meta", self);
	snprintf(body, sizeof(body),
		 "{\"ip_or_host_name\":\"127.0.0.1\",\"rpc_port\":17776}");
	if (http("PUT", "/metadata", k, body, &ans) != 200)
		fail("init", "PUT of its own rpc_meta refused");
	if (http("PUT", "/metadata", k, body, &ans) != 200 ||
	    strcmp(ans.data, "metadata unchanged"))
		fail("init", "the same location again is not 'unchanged'");
	if (http("PUT", "/metadata", k,
		 "{\"ip_or_host_name\":\"10.9.9.9\",\"rpc_port\":1}",
		 &ans) != 400)
		fail("init", "another location for the name was accepted");
	free(k);
	k = key_of("ram", self);
	snprintf(own_desc, sizeof(own_desc),
		 "{\"name\":\"%s\",\"protocol\":\"tcp\",\"tcp_data_port\":"
		 "17777,\"tcp_proto_version\":2,\"buffers\":[{\"name\":"
		 "\"cpu:0\",\"addr\":%llu,\"length\":%zu}],\"timestamp\":"
		 "\"2026-11-30 00:00:00.000000\"}",
		 self, (unsigned long long)(uintptr_t)got, n);
	if (http("PUT", "/metadata", k, own_desc, &ans) != 200)
		fail("init", "PUT of its own segment refused");
	free(k);
	printf("init: location and segment published\n");

	/* 2. READ a value at the address /query_key hands out */
	{
		CURL *h = curl_easy_init();
		struct mc_buf url = MC_BUF_INIT;
		long code = 0;

		mc_buf_adds(&url, base);
		mc_buf_adds(&url, "/api/put/te%2Fvalue");
		curl_easy_setopt(h, CURLOPT_URL, url.data);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, (char *)v);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)n);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &ans);
		if (curl_easy_perform(h) == CURLE_OK)
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		curl_easy_cleanup(h);
		mc_buf_release(&url);
		if (code != 200)
			fail("put", "PUT /api/put/te%2Fvalue failed");
	}
	if (http("GET", "/query_key?key=te%2Fvalue", NULL, NULL, &ans) != 200)
		fail("query_key", "no replica");
	first_desc(ans.data, "buffer_descriptors", ep, sizeof(ep), &addr,
		   &size);
	if (size != n)
		fail("query_key", "wrong size_");
	open_segment(ep, &seg);
	if (!xfer_te_segment_covers(&seg, addr, size))
		fail("openSegment", "the replica is in none of its buffers");
	t = xfer_te_target(&seg);
	memset(got, 0, n);
	if (xfer_client_read(xc, &t, addr, got, size, &e))
		fail("READ", e.msg);
	if (memcmp(got, v, n))
		fail("READ", "the bytes differ from the value");
	printf("READ %zu bytes at 0x%llx: the value\n", n,
	       (unsigned long long)addr);
	xfer_te_segment_release(&seg);

	/* 3. WRITE a two-phase put's buffer */
	snprintf(body, sizeof(body), "{\"key\":\"te/written\",\"size\":%zu}",
		 n);
	if (http("POST", "/api/v1/put_start", NULL, body, &ans) != 200)
		fail("put_start", ans.data ? ans.data : "no answer");
	first_desc(ans.data, "descriptors", ep, sizeof(ep), &addr, &size);
	open_segment(ep, &seg);
	t = xfer_te_target(&seg);
	if (xfer_client_write(xc, &t, addr, w, n, &e))
		fail("WRITE", e.msg);
	for (int i = 0; i < 50; i++) {
		/* a v1 WRITE is done when sent: put_end may find it in flight
		 */
		if (http("POST", "/api/v1/put_end", NULL,
			 "{\"key\":\"te/written\"}", &ans) != 409)
			break;
	}
	if (strcmp(ans.data, "{\"status\":\"success\"}"))
		fail("put_end", ans.data);
	if (http("GET", "/api/get/te%2Fwritten", NULL, NULL, &ans) != 200 ||
	    ans.len != n || memcmp(ans.data, w, n))
		fail("WRITE", "the value read back differs");
	printf("WRITE %zu bytes at 0x%llx: the value\n", n,
	       (unsigned long long)addr);
	xfer_te_segment_release(&seg);

	/* 4. a descriptor TE would refuse is refused */
	k = key_of("ram", "corrupt:1");
	if (http("PUT", "/metadata", k,
		 "{\"name\":\"corrupt:1\",\"protocol\":\"tcp\","
		 "\"tcp_data_port\":1,\"buffers\":[{\"name\":\"b\",\"addr\":1,"
		 "\"length\":1},{\"name\":\"b\",\"addr\":0,\"length\":1}]}",
		 &ans) != 200)
		fail("corrupt", "PUT refused");
	if (xfer_te_resolve("corrupt:1", cluster, meta_get, NULL, &seg, &e) !=
	    -EINVAL)
		fail("corrupt", "a zero addr did not reject the descriptor");
	http("DELETE", "/metadata", k, NULL, &ans);
	free(k);
	printf("openSegment corrupt:1: refused (%s)\n", e.msg);

	/* 5. teardown */
	k = key_of("ram", self);
	if (http("DELETE", "/metadata", k, NULL, &ans) != 200)
		fail("teardown", "DELETE of its segment refused");
	free(k);
	k = key_of("rpc_meta", self);
	if (http("DELETE", "/metadata", k, NULL, &ans) != 200)
		fail("teardown", "DELETE of its location refused");
	free(k);
	printf("teardown: both keys deleted\n");

	mc_buf_release(&ans);
	xfer_client_free(xc);
	curl_global_cleanup();
	free(v);
	free(w);
	free(got);
	return 0;
}
