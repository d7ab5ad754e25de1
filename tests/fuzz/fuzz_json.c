/*
 * fuzz_json.c - JSON request bodies (web/parse.c) and the checks of the
 * segment routes' bodies (web/api_segments.c): /api/mount,
 * /api/mount_shm, /api/unmount and /api/unmount_shm.
 *
 * What must hold: no crash or leak; the parser answers an object or
 * NULL with a message, whose byte offset, when it names one, lies in
 * the body; a mount body that passes names a shm name (shm) or none
 * (alloc), and strings that lie in the object (a size of 0 and a bad shm
 * name pass, for the store to refuse and count); an unmount body that passes
 * names 1..max ids and a grace within MC_GRACE_MAX, -E2BIG past max. The HTTP
 * target (fuzz_http) sends the same kind of bodies to every route of the live
 * door.
 */
#include "autoconfig.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "fuzz.h"
#include "mooncake.h"
#include "parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mc_err err = {0};
	struct json_object *o =
		web_json_parse_object((const char *)data, size, &err);
	struct mc_mount_req req;
	const char *ids[4];
	size_t n = 0;
	unsigned grace = 0;
	int rc;

	if (!o) {
		const char *at = NULL, *p = err.msg;
		char *end = NULL;
		unsigned long long off = 0;

		fuzz_must(err.msg[0], "refused without a message");
		/* the offset it names, at its end ("... at byte N"), lies in
		 * the body (or is its end); a field name the message quotes
		 * may hold the same words */
		while ((p = strstr(p, " at byte ")))
			at = p++;
		if (at)
			off = strtoull(at + 9, &end, 10);
		fuzz_must(!at || end == at + 9 || *end || off <= size,
			  "'%s' names a byte past %zu", err.msg, size);
		return 0;
	}
	fuzz_must(json_object_is_type(o, json_type_object), "not an object");
	for (int shm = 0; shm < 2; shm++) {
		memset(&err, 0, sizeof(err));
		rc = web_api_parse_mount(o, shm, &req, &err);
		fuzz_must(rc == 0 || (rc == -EINVAL && err.msg[0]),
			  "mount rc %d", rc);
		if (rc)
			continue;
		/* values the store refuses (a size of 0, a bad shm name)
		 * reach it, to count as failed mounts (api_segments.c) */
		if (shm)
			fuzz_must(req.shm_name != NULL,
				  "shm mount without a name");
		else
			fuzz_must(!req.shm_name, "alloc mount with a name");
	}
	memset(&err, 0, sizeof(err));
	rc = web_api_parse_unmount(o, ids, 4, &n, &grace, &err);
	fuzz_must(rc == 0 || rc == -E2BIG || (rc == -EINVAL && err.msg[0]),
		  "unmount rc %d", rc);
	if (!rc) {
		fuzz_must(n >= 1 && n <= 4 && grace <= MC_GRACE_MAX,
			  "unmount %zu ids grace %u", n, grace);
		for (size_t i = 0; i < n; i++)
			fuzz_must(ids[i] != NULL, "id %zu NULL", i);
	}
	json_object_put(o);
	return 0;
}
