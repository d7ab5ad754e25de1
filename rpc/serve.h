/*
 * serve.h - the master RPC door (mooncake-rpc(7)): Mooncake's master
 * calls, answered from the core (mooncake.h), so that unmodified Mooncake
 * Store clients use mooncaked as their master. The wire layer (rpc.h)
 * knows nothing of the core; this door only translates: requests into
 * core calls, core results and errors into Mooncake's replies and
 * ErrorCodes. The core keeps the rules, the counting (master_* as for the
 * HTTP routes, batch calls as batches) and the client registry.
 *
 * What each call does, in core terms:
 *
 *   ServiceReady            RPC_STORE_VERSION
 *   GetStorageConfig        no persistence: fsdir "", quota 0
 *   GetFsdir                ""
 *   Ping                    mc_client_ping (view version 0)
 *   MountSegment            mc_segment_mount_remote, owner the client
 *   ReMountSegment          the same for each segment (ids the client
 *                           owns already with the same range are kept),
 *                           then mc_client_register; counted by
 *                           mc_call_count, its mounts not
 *   UnmountSegment          mc_segment_unmount of a segment the client
 *                           owns (another's: ILLEGAL_CLIENT; none: OK)
 *   FetchTasks              always no task; counted by mc_call_count
 *   ExistKey (Batch)        mc_exist_ex with a read lease, as upstream
 *   GetReplicaList (Batch)  mc_query_ex: COMPLETE replicas, the lease
 *   PutStart (Batch)        mc_put_start_opts: the client as writer, any
 *                           segment (client memory included), the key
 *                           must not exist (OBJECT_ALREADY_EXISTS)
 *   PutEnd, PutRevoke (Batch)  mc_put_end_by / mc_put_revoke_by
 *   Remove (Batch), RemoveAll  mc_remove / mc_remove_all
 *
 * Tenants are not kept apart: every tenant_id names the one key space.
 * Handlers run on the server's loop threads; the core is thread-safe.
 */
#ifndef RPC_SERVE_H
#define RPC_SERVE_H

#include <stddef.h>

#include "err.h"
#include "rpc.h"

struct mc_store;
struct rpc_door;

struct rpc_door_opts {
	const char *host;  /* bind address: NULL or "" = every address */
	unsigned port;	   /* 0: the kernel picks (rpc_door_port) */
	unsigned loops;	   /* event loops; 0: one per two CPUs */
	size_t max_body;   /* largest request body; 0: the wire's default */
	unsigned grace_ms; /* a frame's time before its rate is judged
			    * (rpc_server_opts); 0: the server's default */
};

/*
 * Fills @svc with the door's handlers over @s (its ctx is @s), for a
 * server or for rpc_dispatch and rpc_session in tests.
 */
void rpc_door_service(struct mc_store *s, struct rpc_service *svc);

/*
 * Serves the master RPC for @s on host:port: NULL with @err (code
 * INVALID_PARAMS or INTERNAL_ERROR, a one-line message naming the
 * address) and errno set when the port cannot be had (EADDRINUSE,
 * EACCES, EINVAL, ...). @s must outlive the door.
 */
struct rpc_door *rpc_door_start(struct mc_store *s,
				const struct rpc_door_opts *o,
				struct mc_err *err);
/* The port listened on. */
unsigned rpc_door_port(const struct rpc_door *d);
/* Stops serving (no handler runs after it returns) and frees @d; NULL ok. */
void rpc_door_stop(struct rpc_door *d);

#endif
