/*
 * render.h - bodies shared by the HTTP service and the FUSE tree.
 *
 * Both doors call these, so `curl /query_key` and `cat replicas/KEY`
 * answer the same bytes.
 */
#ifndef MC_RENDER_H
#define MC_RENDER_H

#include "buf.h"
#include "mooncake.h"

/* The descriptor object alone ({"size_":...,"segment_id":"..."}). */
void mc_render_desc(struct mc_buf *b, const struct mc_desc *d);
/*
 * The whole /query_key body for @key: 0, or -ENOENT, -EINVAL, -EAGAIN
 * (nothing appended). Grants a lease and counts a GetReplicaList
 * (through mc_query).
 */
int mc_render_query_key(struct mc_store *s, struct mc_buf *b, const void *key,
			size_t klen);
/* The same with mc_query_ex's @flags (MC_F_PEEK: no lease, not counted). */
int mc_render_query_key_ex(struct mc_store *s, struct mc_buf *b,
			   const void *key, size_t klen, unsigned flags);
/*
 * The /metrics/summary line, without a trailing newline; always 0. A
 * cluster node with no leader to ask gives the leader's last line to it,
 * or a line of zeros before any.
 */
int mc_render_summary(struct mc_store *s, struct mc_buf *b);
/*
 * The /metrics exposition (a cluster node: its own families, then the
 * master's, as the leader last gave them while no leader serves).
 */
void mc_render_metrics(struct mc_store *s, struct mc_buf *b);
/*
 * "NAME\nUsed(bytes): U\nCapacity(bytes): C\n": 0, -ENOENT, or -EAGAIN
 * (no leader).
 */
int mc_render_query_segment(struct mc_store *s, struct mc_buf *b,
			    const char *name);
/* "name\n" per distinct segment name, sorted: 0, or -EAGAIN (no leader). */
int mc_render_segment_names(struct mc_store *s, struct mc_buf *b);

#endif
