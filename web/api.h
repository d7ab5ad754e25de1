/*
 * api.h - the route handlers, and the request checks they share that
 * unit tests call without a socket.
 */
#ifndef WEB_API_H
#define WEB_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "mooncake.h"

struct json_object;

/* api_admin.c: mooncake-http(7), ADMIN ENDPOINTS */
web_handler_fn web_api_metrics, web_api_summary, web_api_query_key,
	web_api_batch_query_keys, web_api_get_all_keys,
	web_api_get_all_segments, web_api_query_segment, web_api_health;

/* api_segments.c: mooncake-http(7), STORE REST API: SEGMENTS */
web_handler_fn web_api_mount, web_api_mount_shm, web_api_unmount,
	web_api_unmount_shm;

/* page.c: mooncake-http(7), STATUS PAGE (GET / and GET /status) */
web_handler_fn web_api_status;

/* api_data.c: mooncake-http(7), STORE REST API: DATA and TWO-PHASE PUT */
web_handler_fn web_api_put_json, web_api_put_raw, web_api_get, web_api_exist,
	web_api_remove, web_api_remove_all, web_api_put_start, web_api_put_end,
	web_api_put_revoke;

/* api_cluster.c: mooncake-http(7), CLUSTER and INTERNAL API */
web_handler_fn web_api_cluster, web_api_internal_master, web_api_internal_owner,
	web_api_internal_meta;

/* api_metadata.c: mooncake-http(7), TRANSFER ENGINE METADATA */
web_handler_fn web_api_metadata;

/*
 * Reads the request body (413 past --max-body) and parses it as a JSON
 * object (400 otherwise). NULL after answering the error.
 */
struct json_object *web_api_body_json(struct web_req *r);

/*
 * Per-server state the handlers share (the /get_all_keys cache); r->api
 * points to it. NULL from _new when out of memory.
 */
struct web_api_state *web_api_state_new(void);
void web_api_state_free(struct web_api_state *st);
/*
 * What the status page says of the daemon: copied into @st (NULL: the
 * page shows the store alone). Set once, before the server starts.
 */
struct web_page_info;
void web_api_state_set_page(struct web_api_state *st,
			    const struct web_page_info *pi);
/* The copy, or NULL. */
const struct web_page_info *web_api_state_page(const struct web_api_state *st);

/* Frees the calling thread's reusable handler state (worker exit). */
void web_api_thread_exit(void);
/*
 * The same, only when that state grew past what one worker of the many
 * should keep between requests (after each request).
 */
void web_api_thread_trim(void);

/* Most keys /batch_query_keys takes, counted before duplicates collapse. */
#define WEB_BATCH_MAX 10000

/*
 * Checks a /api/mount (@shm false) or /api/mount_shm (@shm true) body and
 * fills @req (its strings point into @o). 0, or -EINVAL with a message
 * naming the field in @err.
 */
int web_api_parse_mount(struct json_object *o, bool shm,
			struct mc_mount_req *req, struct mc_err *err);

/*
 * Checks an unmount body: segment_ids (a string or a non-empty list of
 * strings) and grace_period_seconds (an integer 0..MC_GRACE_MAX, default 0).
 * Fills @ids (at most @max, pointing into @o) and *n. 0, or -EINVAL with
 * @err; -E2BIG when more than @max ids.
 */
int web_api_parse_unmount(struct json_object *o, const char **ids, size_t max,
			  size_t *n, unsigned *grace, struct mc_err *err);

/*
 * A ?force= value: absent, "true"/"1"/"yes" or "false"/"0"/"no".
 * 0 and *force, or -EINVAL.
 */
int web_api_parse_force(const char *query, bool *force);

#endif
