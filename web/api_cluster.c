/*
 * api_cluster.c - cluster mode's routes (mooncake-http(7), CLUSTER and
 * INTERNAL API): the view of the cluster, and the internal API the
 * nodes use among themselves, whose bytes the core reads and answers
 * (mc_internal_serve). On a single node both answer 404.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "status.h"

/* Internal requests may be larger than a value (a report, a retire). */
#define INTERNAL_BODY_MAX (256ull << 20)

void web_api_cluster(struct web_req *r)
{
	struct mc_cluster_info ci;
	int rc = mc_cluster_info(r->s, &ci);

	if (rc == -ENOENT) {
		web_resp_error(r, 404, "Not in cluster mode (no --etcd)");
		return;
	}
	if (rc < 0) {
		mc_cluster_info_release(&ci);
		web_resp_errno(r, rc, NULL, "Cluster view failed");
		return;
	}
	mc_buf_adds(r->out, "{\"cluster\":");
	mc_buf_add_json_str(r->out, ci.name, strlen(ci.name));
	mc_buf_adds(r->out, ",\"self\":");
	mc_buf_add_json_str(r->out, ci.self, strlen(ci.self));
	mc_buf_adds(r->out, ",\"term\":");
	mc_buf_addu(r->out, ci.term);
	mc_buf_adds(r->out, ",\"leader\":");
	mc_buf_add_json_str(r->out, ci.leader, strlen(ci.leader));
	mc_buf_adds(r->out, ",\"serving\":");
	mc_buf_adds(r->out, ci.serving ? "true" : "false");
	mc_buf_adds(r->out, ",\"elections\":");
	mc_buf_addu(r->out, ci.elections);
	mc_buf_adds(r->out, ",\"nodes\":[");
	for (size_t i = 0; i < ci.n; i++) {
		const struct mc_cluster_node *n = &ci.nodes[i];

		if (i)
			mc_buf_addch(r->out, ',');
		mc_buf_adds(r->out, "{\"id\":");
		mc_buf_add_json_str(r->out, n->id, strlen(n->id));
		mc_buf_adds(r->out, ",\"http\":");
		mc_buf_add_json_str(r->out, n->http, strlen(n->http));
		mc_buf_adds(r->out, ",\"transfer\":");
		mc_buf_add_json_str(r->out, n->transfer, strlen(n->transfer));
		mc_buf_adds(r->out, ",\"hostname\":");
		mc_buf_add_json_str(r->out, n->hostname, strlen(n->hostname));
		mc_buf_adds(r->out, ",\"role\":");
		mc_buf_adds(r->out, n->leader ? "\"leader\"" : "\"follower\"");
		mc_buf_adds(r->out, ",\"segments\":");
		mc_buf_addu(r->out, n->segments);
		mc_buf_addch(r->out, '}');
	}
	mc_buf_adds(r->out, "]}");
	mc_cluster_info_release(&ci);
	web_resp_send(r, 200, WEB_CT_JSON);
}

static void internal(struct web_req *r, enum mc_wire_kind which)
{
	uint64_t max = r->max_body;
	int rc;

	if (!mc_store_linked(r->s)) {
		web_resp_error(r, 404, "NOT_FOUND");
		return;
	}
	r->max_body = max > INTERNAL_BODY_MAX ? max : INTERNAL_BODY_MAX;
	rc = web_req_body(r, r->scratch);
	r->max_body = max;
	if (rc < 0) {
		web_resp_body_error(r, rc);
		return;
	}
	rc = mc_internal_serve(r->s, which, r->scratch->data, r->scratch->len,
			       r->out);
	if (rc == -EPROTO) {
		web_resp_error(r, 400, "INVALID_PARAMS");
	} else if (rc == -EAGAIN) {
		snprintf(r->why, sizeof(r->why), "%s",
			 "this node is not the serving leader");
		r->extra_hdr = "Retry-After: 1\r\n";
		web_resp_error(r, 503, "NO_LEADER");
	} else if (rc < 0) {
		web_resp_errno(r, rc, NULL, "INTERNAL_ERROR");
	} else {
		web_resp_send(r, 200, WEB_CT_BYTES);
	}
}

void web_api_internal_master(struct web_req *r)
{
	internal(r, MC_WIRE_MASTER);
}

void web_api_internal_owner(struct web_req *r)
{
	internal(r, MC_WIRE_OWNER);
}

void web_api_internal_meta(struct web_req *r)
{
	internal(r, MC_WIRE_META);
}
