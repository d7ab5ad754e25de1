/*
 * route.c - the one table of HTTP routes.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "api.h"
#include "route.h"

#define GET    WEB_M_GET
#define HEAD   WEB_M_HEAD
#define POST   WEB_M_POST
#define PUT    WEB_M_PUT
#define DELETE WEB_M_DELETE
#define TEXT   WEB_BODY_TEXT
#define JSON   WEB_BODY_JSON
#define REST   WEB_BODY_REST

const struct web_route web_routes[] = {
	/* mooncake-http(7), STATUS PAGE: for people (page.h) */
	{GET, "/", false, TEXT, web_api_status, "/", 0},
	{GET, "/status", false, TEXT, web_api_status, "/status", 0},
	/* mooncake-http(7), ADMIN ENDPOINTS: the seed's endpoints */
	{GET, "/health", false, TEXT, web_api_health, "/health", 0},
	{GET, "/metrics", false, TEXT, web_api_metrics, "/metrics", 0},
	{GET, "/metrics/summary", false, TEXT, web_api_summary,
	 "/metrics/summary", 0},
	{GET, "/query_key", false, TEXT, web_api_query_key, "/query_key", 0},
	{GET, "/batch_query_keys", false, JSON, web_api_batch_query_keys,
	 "/batch_query_keys", 0},
	{GET, "/get_all_keys", false, TEXT, web_api_get_all_keys,
	 "/get_all_keys", 0},
	{GET, "/get_all_segments", false, TEXT, web_api_get_all_segments,
	 "/get_all_segments", 0},
	{GET, "/query_segment", false, TEXT, web_api_query_segment,
	 "/query_segment", 0},
	/* mooncake-http(7), STORE REST API: SEGMENTS */
	{POST, "/api/mount", false, REST, web_api_mount, "/api/mount", 0},
	{POST, "/api/mount_shm", false, REST, web_api_mount_shm,
	 "/api/mount_shm", 0},
	{POST, "/api/unmount", false, REST, web_api_unmount, "/api/unmount", 0},
	{POST, "/api/unmount_shm", false, REST, web_api_unmount_shm,
	 "/api/unmount_shm", 0},
	/* mooncake-http(7), STORE REST API: DATA */
	{PUT, "/api/put", false, REST, web_api_put_json, "/api/put", 0},
	{PUT, "/api/put/", true, REST, web_api_put_raw, "/api/put/{key}", 0},
	{GET | HEAD, "/api/get/", true, REST, web_api_get, "/api/get/{key}", 0},
	{GET, "/api/exist/", true, REST, web_api_exist, "/api/exist/{key}", 0},
	{DELETE, "/api/remove/", true, REST, web_api_remove,
	 "/api/remove/{key}", 0},
	{DELETE, "/api/remove_all", false, REST, web_api_remove_all,
	 "/api/remove_all", 0},
	/* mooncake-http(7), TWO-PHASE PUT */
	{POST, "/api/v1/put_start", false, REST, web_api_put_start,
	 "/api/v1/put_start", 0},
	{POST, "/api/v1/put_end", false, REST, web_api_put_end,
	 "/api/v1/put_end", 0},
	{POST, "/api/v1/put_revoke", false, REST, web_api_put_revoke,
	 "/api/v1/put_revoke", 0},
	/* mooncake-http(7), CLUSTER and INTERNAL API (mooncake-cluster(7)) */
	{GET, "/api/cluster", false, REST, web_api_cluster, "/api/cluster",
	 WEB_ROUTE_CLUSTER},
	{POST, "/internal/v1/master", false, TEXT, web_api_internal_master,
	 "/internal/v1/master", WEB_ROUTE_CLUSTER},
	{POST, "/internal/v1/owner", false, TEXT, web_api_internal_owner,
	 "/internal/v1/owner", WEB_ROUTE_CLUSTER},
	{POST, "/internal/v1/meta", false, TEXT, web_api_internal_meta,
	 "/internal/v1/meta", WEB_ROUTE_CLUSTER},
	/* mooncake-http(7), TRANSFER ENGINE METADATA */
	{GET | PUT | DELETE, "/metadata", false, TEXT, web_api_metadata,
	 "/metadata", WEB_ROUTE_NO_AUTH | WEB_ROUTE_META},
};
const size_t web_nroutes = sizeof(web_routes) / sizeof(web_routes[0]);

static bool route_matches(const struct web_route *rt, const char *path,
			  size_t len)
{
	size_t n = strlen(rt->pattern);

	if (rt->prefix)
		return len >= n && memcmp(path, rt->pattern, n) == 0;
	return len == n && memcmp(path, rt->pattern, n) == 0;
}

static unsigned with_head(unsigned mask)
{
	return mask & WEB_M_GET ? mask | WEB_M_HEAD : mask;
}

enum web_route_result web_route_lookup(const char *path, size_t len,
				       unsigned method,
				       const struct web_route **out,
				       unsigned *allow)
{
	const struct web_route *found = NULL;
	unsigned mask = 0;

	for (size_t i = 0; i < web_nroutes; i++) {
		const struct web_route *rt = &web_routes[i];

		if (!route_matches(rt, path, len))
			continue;
		if (with_head(rt->methods) & method) {
			*out = rt;
			return WEB_ROUTE_OK;
		}
		if (!found)
			found = rt;
		mask |= with_head(rt->methods);
	}
	*out = found;
	if (allow)
		*allow = mask;
	return found ? WEB_ROUTE_BAD_METHOD : WEB_ROUTE_NOT_FOUND;
}

static const struct {
	unsigned bit;
	const char *name;
} methods[] = {
	{WEB_M_GET, "GET"}, {WEB_M_HEAD, "HEAD"},     {WEB_M_POST, "POST"},
	{WEB_M_PUT, "PUT"}, {WEB_M_DELETE, "DELETE"},
};

unsigned web_method_parse(const char *m)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(m, methods[i].name) == 0)
			return methods[i].bit;
	return WEB_M_OTHER;
}

void web_method_allow(unsigned mask, char *buf, size_t len)
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

enum web_body_kind web_route_default_kind(const char *path, size_t len)
{
	return len >= 5 && memcmp(path, "/api/", 5) == 0 ? WEB_BODY_REST
							 : WEB_BODY_TEXT;
}

bool web_route_on(const struct web_route *rt, struct mc_store *s)
{
	if ((rt->flags & WEB_ROUTE_META) && !mc_store_meta(s))
		return false;
	return !(rt->flags & WEB_ROUTE_CLUSTER) || mc_store_linked(s);
}
