/*
 * resolve.c - from a Transfer Engine segment name to its data port
 * (client.h): the metadata keys TE uses, and its descriptors parsed and
 * validated the way TE's transfer_metadata.cpp does for protocol "tcp".
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "client.h"
#include "mooncake.h"

void xfer_te_key(struct mc_buf *out, const char *cluster_id, const char *kind,
		 const char *name)
{
	size_t n;

	if (!strcmp(kind, "ram") && *name == '/')
		name++;
	mc_buf_adds(out, "mooncake/");
	if (cluster_id && *cluster_id) {
		n = strlen(cluster_id);
		mc_buf_adds(out, cluster_id);
		if (cluster_id[n - 1] != '/')
			mc_buf_addch(out, '/');
	}
	/* TE's getFullMetadataKey: a name with a path is used as it is. */
	if (strcmp(kind, "ram") || !strchr(name, '/')) {
		mc_buf_adds(out, kind);
		mc_buf_addch(out, '/');
	}
	mc_buf_adds(out, name);
}

/* The body as a JSON object, or NULL with @err. */
static struct json_object *parse_object(const char *body, size_t len,
					const char *what, struct mc_err *err)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = NULL;
	size_t end;

	if (!body)
		body = "";
	if (!tok) {
		mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR, "out of memory");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	if (len <= INT32_MAX)
		o = json_tokener_parse_ex(tok, body, (int)len);
	/* Blanks may follow the object, as jsoncpp (TE's parser) allows. */
	end = o ? json_tokener_get_parse_end(tok) : 0;
	while (end < len && strchr(" \t\r\n", body[end]) && body[end])
		end++;
	if (o && (end != len || !json_object_is_type(o, json_type_object))) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	if (!o)
		mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
			   "%s is not a JSON object", what);
	return o;
}

/*
 * A non-negative JSON integer field: 1 and *v, 0 when absent (or null),
 * -1 when of another type or negative.
 */
static int get_u64(struct json_object *o, const char *field, uint64_t *v)
{
	struct json_object *f;

	if (!json_object_object_get_ex(o, field, &f) || !f)
		return 0;
	if (!json_object_is_type(f, json_type_int) ||
	    json_object_get_int64(f) < 0)
		return -1;
	*v = json_object_get_uint64(f);
	return 1;
}

/* A string field: 1 and *s, 0 when absent (or null), -1 another type. */
static int get_str(struct json_object *o, const char *field, const char **s)
{
	struct json_object *f;

	if (!json_object_object_get_ex(o, field, &f) || !f)
		return 0;
	if (!json_object_is_type(f, json_type_string))
		return -1;
	*s = json_object_get_string(f);
	return 1;
}

static int bad(struct mc_err *err, const char *name, const char *why)
{
	return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
			  "corrupted segment descriptor '%s': %s", name, why);
}

static int parse_buffers(struct json_object *arr, const char *name,
			 struct xfer_te_segment *seg, struct mc_err *err)
{
	size_t n = json_object_array_length(arr);

	seg->buf = calloc(n ? n : 1, sizeof(*seg->buf));
	if (!seg->buf)
		return mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR,
				  "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct json_object *b = json_object_array_get_idx(arr, i);
		const char *bname = NULL;
		uint64_t addr = 0, length = 0;

		if (!b || !json_object_is_type(b, json_type_object))
			return bad(err, name, "a buffer is not an object");
		/* One bad buffer rejects the whole descriptor, as in TE. */
		if (get_str(b, "name", &bname) < 0 || !bname || !*bname)
			return bad(err, name, "a buffer has no name");
		if (get_u64(b, "addr", &addr) < 0 || addr == 0)
			return bad(err, name, "a buffer has no addr");
		if (get_u64(b, "length", &length) < 0 || length == 0)
			return bad(err, name, "a buffer has no length");
		seg->buf[seg->nbuf++] = (struct xfer_te_buffer){addr, length};
	}
	return 0;
}

int xfer_te_parse_segment(const char *body, size_t len,
			  struct xfer_te_segment *seg, struct mc_err *err)
{
	struct json_object *o, *arr = NULL;
	const char *name = NULL, *proto = NULL;
	uint64_t port = 0, version = 1;
	int rc;

	memset(seg, 0, sizeof(*seg));
	o = parse_object(body, len, "the segment descriptor", err);
	if (!o)
		return -EINVAL;
	if (get_str(o, "name", &name) <= 0 || !*name) {
		rc = bad(err, "", "no name");
		goto out;
	}
	if (get_str(o, "protocol", &proto) <= 0 || strcmp(proto, "tcp")) {
		rc = mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				"segment '%s' is not a tcp segment", name);
		goto out;
	}
	if (get_u64(o, "tcp_data_port", &port) <= 0 || port == 0 ||
	    port > 65535) {
		rc = bad(err, name, "no tcp_data_port");
		goto out;
	}
	if (get_u64(o, "tcp_proto_version", &version) < 0) {
		rc = bad(err, name, "tcp_proto_version is not a number");
		goto out;
	}
	if (json_object_object_get_ex(o, "buffers", &arr) && arr &&
	    !json_object_is_type(arr, json_type_array)) {
		rc = bad(err, name, "buffers is not a list");
		goto out;
	}
	seg->name = strdup(name);
	if (!seg->name) {
		rc = mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR,
				"out of memory");
		goto out;
	}
	seg->data_port = (unsigned)port;
	seg->version = version > 255 ? 255 : (unsigned)version;
	rc = arr ? parse_buffers(arr, name, seg, err) : 0;
out:
	json_object_put(o);
	if (rc)
		xfer_te_segment_release(seg);
	return rc;
}

int xfer_te_parse_rpc_meta(const char *body, size_t len, char **host,
			   struct mc_err *err)
{
	struct json_object *o = parse_object(body, len, "the rpc_meta", err);
	const char *h = NULL;
	int rc = 0;

	*host = NULL;
	if (!o)
		return -EINVAL;
	if (get_str(o, "ip_or_host_name", &h) <= 0 || !*h)
		rc = mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				"the rpc_meta has no ip_or_host_name");
	else if (!(*host = strdup(h)))
		rc = mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR,
				"out of memory");
	json_object_put(o);
	return rc;
}

void xfer_te_segment_release(struct xfer_te_segment *seg)
{
	free(seg->name);
	free(seg->host);
	free(seg->buf);
	memset(seg, 0, sizeof(*seg));
}

int xfer_te_meta_local(void *arg, const char *key, size_t klen,
		       struct mc_buf *out, struct mc_err *err)
{
	return mc_meta_find(arg, key, klen, out, err);
}

/* Fetches @kind's key for @name into @body: 0 or the getter's error. */
static int fetch(const char *kind, const char *name, const char *cluster_id,
		 xfer_meta_get_fn *get, void *arg, struct mc_buf *body,
		 struct mc_err *err)
{
	struct mc_buf key = MC_BUF_INIT;
	int rc;

	xfer_te_key(&key, cluster_id, kind, name);
	mc_buf_reset(body);
	rc = get(arg, key.data, key.len, body, err);
	if (rc == -ENOENT)
		mc_err_set(err, rc, MC_SEGMENT_NOT_FOUND,
			   "no metadata key '%s'", key.data);
	mc_buf_release(&key);
	return rc;
}

int xfer_te_resolve(const char *name, const char *cluster_id,
		    xfer_meta_get_fn *get, void *arg,
		    struct xfer_te_segment *seg, struct mc_err *err)
{
	struct mc_buf body = MC_BUF_INIT;
	int rc;

	memset(seg, 0, sizeof(*seg));
	rc = fetch("ram", name, cluster_id, get, arg, &body, err);
	if (!rc)
		rc = xfer_te_parse_segment(body.data, body.len, seg, err);
	/* TE looks the location up by the name the descriptor carries. */
	if (!rc)
		rc = fetch("rpc_meta", seg->name, cluster_id, get, arg, &body,
			   err);
	if (!rc)
		rc = xfer_te_parse_rpc_meta(body.data, body.len, &seg->host,
					    err);
	mc_buf_release(&body);
	if (rc)
		xfer_te_segment_release(seg);
	return rc;
}

bool xfer_te_segment_covers(const struct xfer_te_segment *seg, uint64_t addr,
			    uint64_t len)
{
	if (len > UINT64_MAX - addr)
		return false; /* a range that wraps, even in a buffer that does
			       */
	for (size_t i = 0; i < seg->nbuf; i++) {
		const struct xfer_te_buffer *b = &seg->buf[i];

		if (addr >= b->addr && addr - b->addr <= b->length &&
		    len <= b->length - (addr - b->addr))
			return true;
	}
	return false;
}
