/*
 * api_segments.c - /api/mount, /api/mount_shm, /api/unmount and
 * /api/unmount_shm (mooncake-http(7), STORE REST API: SEGMENTS), with the
 * seed's validation.
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

#define UNMOUNT_MAX 1024 /* ids per unmount request */

/* An optional string field without NUL bytes: 0, or -EINVAL with @err. */
static int opt_string(struct json_object *o, const char *field,
		      const char **out, struct mc_err *err)
{
	size_t n;
	int rc = web_json_string(o, field, out, &n, err);

	if (rc == -ENOENT) {
		*out = NULL;
		return 0;
	}
	if (rc == 0 && memchr(*out, '\0', n)) {
		mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
			   "Invalid %s, must not contain NUL", field);
		return -EINVAL;
	}
	return rc;
}

int web_api_parse_mount(struct json_object *o, bool shm,
			struct mc_mount_req *req, struct mc_err *err)
{
	long page = sysconf(_SC_PAGESIZE);
	int64_t v;
	int rc;

	/*
	 * Only what is not a mount request is refused here (a field of the
	 * wrong type, a negative number, a NUL): a value the store refuses
	 * (a size of 0, a bad shm name or offset) reaches it, and counts as
	 * a failed MountSegment, as upstream counts one (mooncake-http(7)).
	 */
	memset(req, 0, sizeof(*req));
	if (web_json_int(o, "size", 0, INT64_MAX, &v, err)) {
		mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
			   "Invalid size, must be a positive integer");
		return -EINVAL;
	}
	req->size = (uint64_t)v;
	if (shm) {
		const char *name;

		rc = opt_string(o, "name", &name, err);
		if (rc)
			return rc;
		if (!name) {
			mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				   "Missing name");
			return -EINVAL;
		}
		req->shm_name = name;
		rc = web_json_int(o, "offset", 0, INT64_MAX, &v, err);
		if (rc == -EINVAL) {
			mc_err_set(
				err, -EINVAL, MC_INVALID_PARAMS,
				"Invalid offset, must be a "
				"non-negative multiple of the page size (%ld)",
				page);
			return -EINVAL;
		}
		req->offset = rc == 0 ? (uint64_t)v : 0;
	} else {
		rc = opt_string(o, "name", &req->name, err);
		if (rc)
			return rc;
	}
	rc = opt_string(o, "protocol", &req->protocol, err);
	if (rc == 0)
		rc = opt_string(o, "location", &req->location, err);
	return rc;
}

int web_api_parse_unmount(struct json_object *o, const char **ids, size_t max,
			  size_t *n, unsigned *grace, struct mc_err *err)
{
	static const char bad_ids[] =
		"Invalid segment_ids, must be a string or a list of strings";
	struct json_object *v = NULL;
	int64_t g;
	int rc;

	*n = 0;
	if (!json_object_object_get_ex(o, "segment_ids", &v) || !v) {
		mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
			   "Missing segment_ids");
		return -EINVAL;
	}
	if (json_object_is_type(v, json_type_string)) {
		if (json_object_get_string_len(v) == 0) {
			mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				   "Missing segment_ids");
			return -EINVAL;
		}
		ids[(*n)++] = json_object_get_string(v);
	} else if (json_object_is_type(v, json_type_array)) {
		size_t len = json_object_array_length(v);

		if (len == 0) {
			mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				   "Missing segment_ids");
			return -EINVAL;
		}
		if (len > max) {
			mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				   "Too many segment_ids, at most %zu", max);
			return -E2BIG;
		}
		for (size_t i = 0; i < len; i++) {
			struct json_object *e = json_object_array_get_idx(v, i);

			if (!json_object_is_type(e, json_type_string)) {
				mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
					   "%s", bad_ids);
				return -EINVAL;
			}
			ids[(*n)++] = json_object_get_string(e);
		}
	} else {
		mc_err_set(err, -EINVAL, MC_INVALID_PARAMS, "%s", bad_ids);
		return -EINVAL;
	}
	rc = web_json_int(o, "grace_period_seconds", 0, MC_GRACE_MAX, &g, err);
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
	struct mc_mount_result res = {0};
	struct mc_err e = {0};
	int rc;

	if (!o)
		return;
	if (web_api_parse_mount(o, shm, &req, &e)) {
		web_resp_error(r, 400, e.msg);
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

/* /api/unmount takes alloc segments only, /api/unmount_shm shm ones. */
static bool kind_is(const struct mc_seg_info *si, void *kind)
{
	return si->kind == *(const enum mc_seg_kind *)kind;
}

static void unmount(struct web_req *r, enum mc_seg_kind kind)
{
	struct json_object *o = web_api_body_json(r);
	const char **ids = NULL;
	char(*failed)[MC_ID_LEN + 1] = NULL;
	size_t n, nfailed = 0;
	unsigned grace;
	struct mc_err e = {0};
	int rc;

	if (!o)
		return;
	ids = malloc(UNMOUNT_MAX * sizeof(*ids));
	if (!ids) {
		web_resp_error(r, 507, "Out of memory");
		goto out;
	}
	rc = web_api_parse_unmount(o, ids, UNMOUNT_MAX, &n, &grace, &e);
	if (rc) {
		web_resp_error(r, rc == -E2BIG ? 413 : 400, e.msg);
		goto out;
	}
	struct mc_unmount_req req = {.ids = ids,
				     .n = n,
				     .grace_s = grace,
				     .accept = kind_is,
				     .accept_arg = &kind};
	rc = mc_segment_unmount(r->s, &req, &failed, &nfailed, &e);
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
