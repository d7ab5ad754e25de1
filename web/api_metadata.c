/*
 * api_metadata.c - the Transfer Engine's metadata server on the HTTP port
 * (mooncake-http(7), TRANSFER ENGINE METADATA): GET, PUT and DELETE of
 * /metadata?key=K over the core's store (mc_meta), with the statuses and
 * bodies of upstream's http_metadata_server, which TE clients test for.
 *
 * The route is exempt from the bearer token (TE sends none) and exists
 * only while the store has a metadata server (route.h, WEB_ROUTE_META).
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>

#include "api.h"
#include "mooncake.h"
#include "parse.h"

#define CT_META "application/json" /* upstream's, for stored bodies */

static void answer(struct web_req *r, int status, const char *msg)
{
	if (status != 200) {
		web_resp_error(r, status, msg);
		return;
	}
	mc_buf_adds(r->out, msg);
	web_resp_send(r, 200, WEB_CT_TEXT);
}

/* A core failure in the words of the route. */
static void answer_errno(struct web_req *r, int rc, const struct mc_err *e)
{
	switch (rc) {
	case -ENOENT:
		answer(r, 404, "metadata not found");
		break;
	case -EEXIST:
		answer(r, 400, "Duplicate rpc_meta key not allowed");
		break;
	case -EPERM:
		answer(r, 403, e->msg);
		break;
	case -EFBIG:
		answer(r, 413, "Request body too large");
		break;
	case -ENOSPC:
		answer(r, 507, e->msg);
		break;
	default:
		answer(r, rc == -EINVAL ? 400 : 500,
		       e->msg[0] ? e->msg : "metadata request failed");
	}
}

static void meta_put(struct web_req *r, struct mc_meta *m, const char *key,
		     size_t klen)
{
	struct mc_err e = {0};
	struct mc_buf body = MC_BUF_INIT;
	int rc;

	/*
	 * What needs no body is answered before reading it, so that an
	 * "Expect: 100-continue" client never sends it.
	 */
	if (r->content_length > (int64_t)MC_META_BODY_MAX) {
		answer_errno(r, -EFBIG, &e);
		return;
	}
	rc = mc_meta_writable(
		m, key, klen,
		r->content_length > 0 ? (uint64_t)r->content_length : 0, &e);
	if (rc < 0) {
		answer_errno(r, rc, &e);
		return;
	}
	/* Bodies up to the metadata limit, whatever --max-body says. */
	r->max_body = MC_META_BODY_MAX;
	rc = web_req_body(r, &body);
	if (rc < 0) {
		web_resp_body_error(r, rc);
	} else {
		rc = mc_meta_put(m, key, klen, body.data ? body.data : "",
				 body.len, &e);
		if (rc < 0)
			answer_errno(r, rc, &e);
		else
			answer(r, 200,
			       rc ? "metadata unchanged" : "metadata updated");
	}
	mc_buf_release(&body);
}

void web_api_metadata(struct web_req *r)
{
	struct mc_meta *m = mc_store_meta(r->s);
	struct mc_err e = {0};
	struct mc_buf *key = r->scratch;
	int rc = web_query_get(r->query, "key", key);

	if (rc == -EINVAL) {
		answer(r, 400, "Invalid key parameter, bad percent-encoding");
		return;
	}
	if (rc < 0 || key->len == 0) {
		answer(r, 400, "Missing key parameter");
		return;
	}
	switch (r->method) {
	case WEB_M_GET:
	case WEB_M_HEAD: {
		struct mc_buf body = MC_BUF_INIT;

		/* in cluster mode, another node's when this one has none */
		rc = mc_meta_find(r->s, key->data, key->len, &body, &e);
		if (rc < 0)
			answer_errno(r, rc, &e);
		else
			web_resp_send_bytes(r, 200, CT_META, body.data,
					    body.len);
		mc_buf_release(&body);
		break;
	}
	case WEB_M_PUT:
		meta_put(r, m, key->data, key->len);
		break;
	default:
		rc = mc_meta_delete(m, key->data, key->len, &e);
		if (rc < 0)
			answer_errno(r, rc, &e);
		else
			answer(r, 200, "metadata deleted");
	}
}
