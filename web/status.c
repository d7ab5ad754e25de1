/*
 * status.c - errno -> HTTP status, reason phrases, error bodies.
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>

#include "status.h"

static const struct {
	int err;
	int status;
	int code; /* enum mc_code */
} errtab[] = {
	{ENOENT, 404, MC_OBJECT_NOT_FOUND},
	{EINVAL, 400, MC_INVALID_KEY},
	{ERANGE, 400, MC_INVALID_PARAMS},
	{EIO, 400, MC_INVALID_PARAMS},
	{EACCES, 403, MC_INVALID_PARAMS},
	{EPERM, 403, MC_ILLEGAL_CLIENT},
	{ETIMEDOUT, 408, MC_INVALID_WRITE},
	{EBUSY, 409, MC_OBJECT_HAS_LEASE},
	{EEXIST, 409, MC_OBJECT_ALREADY_EXISTS},
	{EREMOTEIO, 409, MC_REMOTE_ONLY},
	{EFBIG, 413, MC_INVALID_PARAMS},
	{E2BIG, 413, MC_INVALID_PARAMS},
	{EOPNOTSUPP, 501, MC_UNAVAILABLE_IN_CURRENT_STATUS},
	{EAGAIN, 503, MC_NO_LEADER},
	{ENOSPC, 507, MC_NO_AVAILABLE_HANDLE},
	{ENOMEM, 507, MC_NO_AVAILABLE_HANDLE},
};

static int errtab_find(int rc)
{
	for (size_t i = 0; i < sizeof(errtab) / sizeof(errtab[0]); i++)
		if (errtab[i].err == -rc)
			return (int)i;
	return -1;
}

int web_status_from_errno(int rc)
{
	int i = errtab_find(rc);

	return i < 0 ? 500 : errtab[i].status;
}

const char *web_status_code_name(int rc)
{
	int i = errtab_find(rc);

	return mc_code_name(i < 0 ? MC_INTERNAL_ERROR : errtab[i].code);
}

static const struct {
	int status;
	const char *reason;
} reasons[] = {
	{200, "OK"},
	{400, "Bad Request"},
	{401, "Unauthorized"},
	{403, "Forbidden"},
	{404, "Not Found"},
	{405, "Method Not Allowed"},
	{408, "Request Timeout"},
	{409, "Conflict"},
	{411, "Length Required"},
	{413, "Payload Too Large"},
	{414, "URI Too Long"},
	{415, "Unsupported Media Type"},
	{421, "Misdirected Request"},
	{431, "Request Header Fields Too Large"},
	{500, "Internal Server Error"},
	{501, "Not Implemented"},
	{503, "Service Unavailable"},
	{505, "HTTP Version Not Supported"},
	{507, "Insufficient Storage"},
};

const char *web_status_reason(int status)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].status == status)
			return reasons[i].reason;
	return "Unknown";
}

void web_status_error_body(struct mc_buf *b, enum web_body_kind kind,
			   const char *msg, const char *extra)
{
	switch (kind) {
	case WEB_BODY_TEXT:
		mc_buf_adds(b, msg);
		return;
	case WEB_BODY_JSON:
		mc_buf_adds(b, "{\"success\":false,\"error\":");
		break;
	case WEB_BODY_REST:
		mc_buf_adds(b, "{\"error\":");
		break;
	}
	mc_buf_add_json_str(b, msg, strlen(msg));
	if (extra) {
		mc_buf_addch(b, ',');
		mc_buf_adds(b, extra);
	}
	mc_buf_addch(b, '}');
}

const char *web_status_ctype(enum web_body_kind kind)
{
	return kind == WEB_BODY_TEXT ? WEB_CT_TEXT : WEB_CT_JSON;
}
