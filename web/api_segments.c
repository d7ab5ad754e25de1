/*
 * api_segments.c - /api/mount, /api/mount_shm, /api/unmount and
 * /api/unmount_shm (CONTRACT section 4), with the seed's validation.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "api.h"
#include "parse.h"
#include "status.h"

#define UNMOUNT_MAX 1024        /* ids per unmount request */

bool web_api_shm_name_ok(const char *name)
{
	if (*name == '/')
		name++;
	return *name && !strchr(name, '/') && strcmp(name, ".") != 0 &&
	       strcmp(name, "..") != 0;
}

/* An optional string field without NUL bytes: 0, or -EINVAL with @msg. */
static int opt_string(struct json_object *o, const char *field,
		      const char **out, char *msg, size_t msglen)
{
	size_t n;
	int rc = web_json_string(o, field, out, &n, msg, msglen);

	if (rc == -ENOENT) {
		*out = NULL;
		return 0;
	}
	if (rc == 0 && memchr(*out, '\0', n)) {
		snprintf(msg, msglen, "Invalid %s, must not contain NUL", field);
		return -EINVAL;
	}
	return rc;
}

int web_api_parse_mount(struct json_object *o, bool shm,
		       struct mc_mount_req *req, char *msg, size_t msglen)
{
	long page = sysconf(_SC_PAGESIZE);
	int64_t v;
	int rc;

	memset(req, 0, sizeof(*req));
	if (web_json_int(o, "size", 1, INT64_MAX, &v, msg, msglen)) {
		snprintf(msg, msglen, "Invalid size, must be a positive integer");
		return -EINVAL;
	}
	req->size = (uint64_t)v;
	if (shm) {
		const char *name;

		rc = opt_string(o, "name", &name, msg, msglen);
		if (rc)
			return rc;
		if (!name) {
			snprintf(msg, msglen, "Missing name");
			return -EINVAL;
		}
		if (!web_api_shm_name_ok(name)) {
			snprintf(msg, msglen, "Invalid name, must be a shared "
				 "memory object name without '/', '.' or '..'");
			return -EINVAL;
		}
		req->shm_name = name + (*name == '/');
		rc = web_json_int(o, "offset", 0, INT64_MAX, &v, msg, msglen);
		if (rc == -EINVAL || (rc == 0 && v % page)) {
			snprintf(msg, msglen, "Invalid offset, must be a "
				 "non-negative multiple of the page size (%ld)",
				 page);
			return -EINVAL;
		}
		req->offset = rc == 0 ? (uint64_t)v : 0;
	} else {
		rc = opt_string(o, "name", &req->name, msg, msglen);
		if (rc)
			return rc;
	}
	rc = opt_string(o, "protocol", &req->protocol, msg, msglen);
	if (rc == 0)
		rc = opt_string(o, "location", &req->location, msg, msglen);
	return rc;
}

int web_api_parse_unmount(struct json_object *o, const char **ids,
			 size_t max, size_t *n, unsigned *grace, char *msg,
			 size_t msglen)
{
	static const char bad_ids[] =
		"Invalid segment_ids, must be a string or a list of strings";
	struct json_object *v = NULL;
	int64_t g;
	int rc;

	*n = 0;
	if (!json_object_object_get_ex(o, "segment_ids", &v) || !v) {
		snprintf(msg, msglen, "Missing segment_ids");
		return -EINVAL;
	}
	if (json_object_is_type(v, json_type_string)) {
		if (json_object_get_string_len(v) == 0) {
			snprintf(msg, msglen, "Missing segment_ids");
			return -EINVAL;
		}
		ids[(*n)++] = json_object_get_string(v);
	} else if (json_object_is_type(v, json_type_array)) {
		size_t len = json_object_array_length(v);

		if (len == 0) {
			snprintf(msg, msglen, "Missing segment_ids");
			return -EINVAL;
		}
		if (len > max) {
			snprintf(msg, msglen, "Too many segment_ids, at most %zu",
				 max);
			return -E2BIG;
		}
		for (size_t i = 0; i < len; i++) {
			struct json_object *e = json_object_array_get_idx(v, i);

			if (!json_object_is_type(e, json_type_string)) {
				snprintf(msg, msglen, "%s", bad_ids);
				return -EINVAL;
			}
			ids[(*n)++] = json_object_get_string(e);
		}
	} else {
		snprintf(msg, msglen, "%s", bad_ids);
		return -EINVAL;
	}
	rc = web_json_int(o, "grace_period_seconds", 0, 3600, &g, msg, msglen);
	if (rc == -EINVAL)
		return rc;
	*grace = rc == 0 ? (unsigned)g : 0;
	return 0;
}

static void add_ids(struct mc_buf *b, char (*ids)[MC_ID_LEN + 1], size_t n)
{
	mc_buf_addch(b, '[');
	for (size_t i = 0; i < n; i++) {
		if (i)
			mc_buf_addch(b, ',');
		mc_buf_add_json_str(b, ids[i], strlen(ids[i]));
	}
	mc_buf_addch(b, ']');
}

static void mount(struct web_req *r, bool shm)
{
	struct json_object *o = web_api_body_json(r);
	struct mc_mount_req req;
	struct mc_mount_result res = { 0 };
	struct mc_err e = { 0 };
	char msg[160];
	int rc;

	if (!o)
		return;
	if (web_api_parse_mount(o, shm, &req, msg, sizeof(msg))) {
		web_resp_error(r, 400, msg);
		goto out;
	}
	rc = mc_segment_mount(r->s, &req, &res, &e);
	if (rc < 0) {
		web_resp_errno(r, rc, &e, "Mount failed");
		goto out;
	}
	mc_buf_adds(r->out, "{\"status\":\"success\",\"segment_ids\":");
	add_ids(r->out, res.ids, res.n);
	if (!shm) {
		mc_buf_adds(r->out, ",\"allocated_size\":");
		mc_buf_addu(r->out, res.allocated_size);
	}
	mc_buf_addch(r->out, '}');
	web_resp_send(r, 200, WEB_CT_JSON);
	free(res.ids);
out:
	json_object_put(o);
}

void web_api_mount(struct web_req *r)
{
	mount(r, false);
}

void web_api_mount_shm(struct web_req *r)
{
	mount(r, true);
}

static void unmount(struct web_req *r, enum mc_seg_kind kind)
{
	struct json_object *o = web_api_body_json(r);
	const char **ids = NULL;
	char (*failed)[MC_ID_LEN + 1] = NULL;
	size_t n, nfailed = 0;
	unsigned grace;
	struct mc_err e = { 0 };
	char msg[160];
	int rc;

	if (!o)
		return;
	ids = malloc(UNMOUNT_MAX * sizeof(*ids));
	if (!ids) {
		web_resp_error(r, 507, "Out of memory");
		goto out;
	}
	rc = web_api_parse_unmount(o, ids, UNMOUNT_MAX, &n, &grace, msg,
				  sizeof(msg));
	if (rc) {
		web_resp_error(r, rc == -E2BIG ? 413 : 400, msg);
		goto out;
	}
	rc = mc_segment_unmount(r->s, ids, n, kind, grace, &failed, &nfailed,
				&e);
	if (rc == -ENOENT) {
		struct mc_buf *x = r->scratch;

		mc_buf_reset(x);
		mc_buf_adds(x, "\"failed_segment_ids\":");
		add_ids(x, failed, nfailed);
		web_resp_error_extra(r, 404,
				    "Unmount failed for one or more segments",
				    x->data);
	} else if (rc < 0) {
		web_resp_errno(r, rc, &e, "Unmount failed");
	} else {
		web_resp_success(r);
	}
	free(failed);
out:
	free(ids);
	json_object_put(o);
}

void web_api_unmount(struct web_req *r)
{
	unmount(r, MC_SEG_ALLOC);
}

void web_api_unmount_shm(struct web_req *r)
{
	unmount(r, MC_SEG_SHM);
}
