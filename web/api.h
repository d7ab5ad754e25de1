/*
 * api.h - the route handlers, and the request checks they share that
 * unit tests call without a socket.
 */
#ifndef MC_WEB_API_H
#define MC_WEB_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "mooncake.h"

struct json_object;

/* api_admin.c: CONTRACT section 3 */
mc_handler_fn mc_api_metrics, mc_api_summary, mc_api_query_key,
	mc_api_batch_query_keys, mc_api_get_all_keys, mc_api_get_all_segments,
	mc_api_query_segment, mc_api_health;

/* api_segments.c: CONTRACT section 4, segments */
mc_handler_fn mc_api_mount, mc_api_mount_shm, mc_api_unmount,
	mc_api_unmount_shm;

/* api_data.c: CONTRACT section 4, data, and section 6, two-phase put */
mc_handler_fn mc_api_put_json, mc_api_put_raw, mc_api_get, mc_api_exist,
	mc_api_remove, mc_api_remove_all, mc_api_put_start, mc_api_put_end,
	mc_api_put_revoke;

/*
 * Reads the request body (413 past --max-body) and parses it as a JSON
 * object (400 otherwise). NULL after answering the error.
 */
struct json_object *mc_api_body_json(struct mc_req *r);

/*
 * Per-server state the handlers share (the /get_all_keys cache); r->api
 * points to it. NULL from _new when out of memory.
 */
struct mc_api_state *mc_api_state_new(void);
void mc_api_state_free(struct mc_api_state *st);

/* Frees the calling thread's reusable handler state (worker exit). */
void mc_api_thread_exit(void);

/* Most keys /batch_query_keys takes, counted before duplicates collapse. */
#define MC_BATCH_MAX 10000

/*
 * Checks a /api/mount (@shm false) or /api/mount_shm (@shm true) body and
 * fills @req (its strings point into @o). 0, or -EINVAL with a message
 * naming the field in @msg.
 */
int mc_api_parse_mount(struct json_object *o, bool shm,
		       struct mc_mount_req *req, char *msg, size_t msglen);

/*
 * Checks an unmount body: segment_ids (a string or a non-empty list of
 * strings) and grace_period_seconds (an integer 0..3600, default 0).
 * Fills @ids (at most @max, pointing into @o) and *n. 0, or -EINVAL with
 * @msg; -E2BIG when more than @max ids.
 */
int mc_api_parse_unmount(struct json_object *o, const char **ids,
			 size_t max, size_t *n, unsigned *grace, char *msg,
			 size_t msglen);

/* Whether @rest of /api/mount_shm "name" is acceptable after dropping one
 * leading '/': non-empty, no '/', not "." or "..". */
bool mc_api_shm_name_ok(const char *name);

/*
 * A ?force= value: absent, "true"/"1"/"yes" or "false"/"0"/"no".
 * 0 and *force, or -EINVAL.
 */
int mc_api_parse_force(const char *query, bool *force);

#endif
