/*
 * route.c - the one table of HTTP routes.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "api.h"
#include "route.h"

#define GET MC_M_GET
#define HEAD MC_M_HEAD
#define POST MC_M_POST
#define PUT MC_M_PUT
#define DELETE MC_M_DELETE
#define TEXT MC_BODY_TEXT
#define JSON MC_BODY_JSON
#define REST MC_BODY_REST

const struct mc_route mc_routes[] = {
	/* CONTRACT section 3: the seed's endpoints */
	{ GET, "/health", false, TEXT, mc_api_health, "/health" },
	{ GET, "/metrics", false, TEXT, mc_api_metrics, "/metrics" },
	{ GET, "/metrics/summary", false, TEXT, mc_api_summary,
	  "/metrics/summary" },
	{ GET, "/query_key", false, TEXT, mc_api_query_key, "/query_key" },
	{ GET, "/batch_query_keys", false, JSON, mc_api_batch_query_keys,
	  "/batch_query_keys" },
	{ GET, "/get_all_keys", false, TEXT, mc_api_get_all_keys,
	  "/get_all_keys" },
	{ GET, "/get_all_segments", false, TEXT, mc_api_get_all_segments,
	  "/get_all_segments" },
	{ GET, "/query_segment", false, TEXT, mc_api_query_segment,
	  "/query_segment" },
	/* CONTRACT section 4: segments */
	{ POST, "/api/mount", false, REST, mc_api_mount, "/api/mount" },
	{ POST, "/api/mount_shm", false, REST, mc_api_mount_shm,
	  "/api/mount_shm" },
	{ POST, "/api/unmount", false, REST, mc_api_unmount, "/api/unmount" },
	{ POST, "/api/unmount_shm", false, REST, mc_api_unmount_shm,
	  "/api/unmount_shm" },
	/* CONTRACT section 4: data */
	{ PUT, "/api/put", false, REST, mc_api_put_json, "/api/put" },
	{ PUT, "/api/put/", true, REST, mc_api_put_raw, "/api/put/{key}" },
	{ GET | HEAD, "/api/get/", true, REST, mc_api_get, "/api/get/{key}" },
	{ GET, "/api/exist/", true, REST, mc_api_exist, "/api/exist/{key}" },
	{ DELETE, "/api/remove/", true, REST, mc_api_remove,
	  "/api/remove/{key}" },
	{ DELETE, "/api/remove_all", false, REST, mc_api_remove_all,
	  "/api/remove_all" },
	/* CONTRACT section 6: two-phase put */
	{ POST, "/api/v1/put_start", false, REST, mc_api_put_start,
	  "/api/v1/put_start" },
	{ POST, "/api/v1/put_end", false, REST, mc_api_put_end,
	  "/api/v1/put_end" },
	{ POST, "/api/v1/put_revoke", false, REST, mc_api_put_revoke,
	  "/api/v1/put_revoke" },
};
const size_t mc_nroutes = sizeof(mc_routes) / sizeof(mc_routes[0]);

static bool route_matches(const struct mc_route *rt, const char *path,
			  size_t len)
{
	size_t n = strlen(rt->pattern);

	if (rt->prefix)
		return len >= n && memcmp(path, rt->pattern, n) == 0;
	return len == n && memcmp(path, rt->pattern, n) == 0;
}

static unsigned with_head(unsigned mask)
{
	return mask & MC_M_GET ? mask | MC_M_HEAD : mask;
}

enum mc_route_result mc_route_lookup(const char *path, size_t len,
				     unsigned method,
				     const struct mc_route **out,
				     unsigned *allow)
{
	const struct mc_route *found = NULL;
	unsigned mask = 0;

	for (size_t i = 0; i < mc_nroutes; i++) {
		const struct mc_route *rt = &mc_routes[i];

		if (!route_matches(rt, path, len))
			continue;
		if (with_head(rt->methods) & method) {
			*out = rt;
			return MC_ROUTE_OK;
		}
		if (!found)
			found = rt;
		mask |= with_head(rt->methods);
	}
	*out = found;
	if (allow)
		*allow = mask;
	return found ? MC_ROUTE_BAD_METHOD : MC_ROUTE_NOT_FOUND;
}

static const struct {
	unsigned bit;
	const char *name;
} methods[] = {
	{ MC_M_GET, "GET" }, { MC_M_HEAD, "HEAD" }, { MC_M_POST, "POST" },
	{ MC_M_PUT, "PUT" }, { MC_M_DELETE, "DELETE" },
};

unsigned mc_method_parse(const char *m)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(m, methods[i].name) == 0)
			return methods[i].bit;
	return MC_M_OTHER;
}

void mc_method_allow(unsigned mask, char *buf, size_t len)
{
	size_t used = 0;

	if (len)
		buf[0] = '\0';
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (!(mask & methods[i].bit))
			continue;
		int n = snprintf(buf + used, len - used, "%s%s",
				 used ? ", " : "", methods[i].name);
		if (n < 0 || (size_t)n >= len - used)
			return;
		used += (size_t)n;
	}
}

enum mc_body_kind mc_route_default_kind(const char *path, size_t len)
{
	return len >= 5 && memcmp(path, "/api/", 5) == 0 ? MC_BODY_REST
							 : MC_BODY_TEXT;
}
