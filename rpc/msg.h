/*
 * msg.h - the calls of Mooncake's master RPC that mooncaked serves: their
 * arguments and results as C structs, and one table row per call (man/
 * mooncake-rpc.7). The wire is upstream Mooncake's at store version
 * RPC_STORE_VERSION; a peer whose argument types differ gets error 4.
 *
 * Each call has a request struct (its arguments in order; NULL type for
 * the calls without arguments, whose body is never read) and a response
 * struct (its return value). Strings and arrays in a decoded struct live
 * in the arena the decoder was given; a struct to encode may point
 * anywhere. Mooncake's expected<T, ErrorCode> is { int32_t err; T v; }
 * with err 0 meaning "v is there" (rpc_exp_*); an error is a Mooncake
 * ErrorCode (src/err.h's enum mc_code: -704 OBJECT_NOT_FOUND, -706
 * OBJECT_HAS_LEASE, -601 ILLEGAL_CLIENT, ...). Enums travel as their
 * integers (ReplicaType, ClientStatus, ReplicaStatus: int32;
 * SoftPinAction, ObjectDataType: uint8).
 *
 * The function ids and type codes are computed from the names and type
 * literals written once in msg.c's table (md5.h), on the first call of
 * rpc_call_get or rpc_call_find; both are thread-safe.
 */
#ifndef RPC_MSG_H
#define RPC_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sp.h"

/* ServiceReady's answer: clients refuse any other version string. */
#define RPC_STORE_VERSION "2.0.0"
/* The class whose member names make the function ids. */
#define RPC_SERVICE_PREFIX "mooncake::WrappedMasterService::"

/* ClientStatus (Ping). */
enum {
	RPC_CLIENT_UNDEFINED = 0,
	RPC_CLIENT_OK = 1,
	RPC_CLIENT_NEED_REMOUNT = 2,
};
/* ReplicaStatus (descriptors). */
enum {
	RPC_REPLICA_UNDEFINED = 0,
	RPC_REPLICA_INITIALIZED,
	RPC_REPLICA_PROCESSING,
	RPC_REPLICA_COMPLETE,
	RPC_REPLICA_REMOVED,
	RPC_REPLICA_FAILED,
};
/* ReplicaType (PutEnd, PutRevoke and their batch forms). */
enum { RPC_RTYPE_MEMORY = 0, RPC_RTYPE_DISK = 1, RPC_RTYPE_ALL = 4 };

/* ---------------------------------------------------------------- types */

struct rpc_strs {
	struct rpc_str *v;
	size_t n;
};

struct rpc_u64s {
	uint64_t *v;
	size_t n;
};

struct rpc_opt_u64 {
	bool has;
	uint64_t v;
};

struct rpc_opt_strs {
	bool has;
	struct rpc_strs v;
};

/* Segment: a range of a client's address space that it offers. */
struct rpc_segment {
	struct rpc_uuid id;
	struct rpc_str name;
	uint64_t base, size;
	struct rpc_str te_endpoint; /* the owner's Transfer Engine */
	struct rpc_str protocol;
	struct rpc_str host_id;
};

struct rpc_segments {
	struct rpc_segment *v;
	size_t n;
};

/* ReplicateConfig (an aggregate upstream: field order is wire order). */
struct rpc_replicate_config {
	uint64_t replica_num, nof_replica_num, dfs_replica_num;
	uint8_t soft_pin_action;
	struct rpc_opt_u64 soft_pin_ttl_ms;
	bool with_hard_pin;
	struct rpc_strs preferred_segments;
	struct rpc_str preferred_segment;
	struct rpc_strs preferred_nof_segments;
	bool prefer_alloc_in_same_node;
	uint8_t data_type;
	struct rpc_str host_id;
	struct rpc_opt_strs group_ids;
};

struct rpc_object_meta {
	struct rpc_str key;
	struct rpc_opt_u64 checksum;
};

struct rpc_object_metas {
	struct rpc_object_meta *v;
	size_t n;
};

/* AllocatedBuffer::Descriptor: where a replica's bytes are. */
struct rpc_buffer_desc {
	uint64_t size, addr;
	struct rpc_str protocol; /* "tcp", "rdma" */
	struct rpc_str endpoint; /* the Transfer Engine to ask */
};

struct rpc_disk_desc {
	struct rpc_str file_path;
	uint64_t object_size;
};

struct rpc_local_disk_desc {
	struct rpc_uuid client_id;
	uint64_t object_size;
	struct rpc_str transport_endpoint;
};

struct rpc_dfs_desc {
	struct rpc_str file_path;
	uint64_t offset, object_size, aligned_size;
	int32_t shard_idx;
};

/* The variant's alternatives, in upstream's order. */
enum {
	RPC_LOC_MEMORY,
	RPC_LOC_NOF,
	RPC_LOC_DISK,
	RPC_LOC_LOCAL_DISK,
	RPC_LOC_DFS,
	RPC_LOC_N,
};

struct rpc_replica_loc {
	uint8_t kind; /* RPC_LOC_* */
	union {
		struct rpc_buffer_desc memory, nof;
		struct rpc_disk_desc disk;
		struct rpc_local_disk_desc local_disk;
		struct rpc_dfs_desc dfs;
	} u;
};

/* Replica::Descriptor. */
struct rpc_replica {
	uint64_t id;
	struct rpc_replica_loc loc;
	int32_t status; /* RPC_REPLICA_* */
};

struct rpc_replicas {
	struct rpc_replica *v;
	size_t n;
};

/* GetReplicaListResponse. */
struct rpc_replica_list {
	struct rpc_replicas replicas;
	uint64_t lease_ttl_ms;
	struct rpc_opt_u64 checksum;
};

/* PingResponse. */
struct rpc_ping_info {
	int64_t view_version_id;
	int32_t client_status; /* RPC_CLIENT_* */
};

/* GetStorageConfigResponse. */
struct rpc_storage_config {
	struct rpc_str fsdir;
	bool enable_disk_eviction;
	uint64_t quota_bytes;
};

/* TaskAssignment (FetchTasks). */
struct rpc_task {
	struct rpc_uuid id;
	int32_t type;
	struct rpc_str payload;
	int64_t created_at_ms_epoch;
	uint32_t max_retry_attempts;
};

struct rpc_tasks {
	struct rpc_task *v;
	size_t n;
};

/* expected<T, ErrorCode>: err 0 = v is there, else a Mooncake ErrorCode. */
struct rpc_exp_void {
	int32_t err;
};
struct rpc_exp_bool {
	int32_t err;
	bool v;
};
struct rpc_exp_str {
	int32_t err;
	struct rpc_str v;
};
struct rpc_exp_storage_config {
	int32_t err;
	struct rpc_storage_config v;
};
struct rpc_exp_ping {
	int32_t err;
	struct rpc_ping_info v;
};
struct rpc_exp_tasks {
	int32_t err;
	struct rpc_tasks v;
};
struct rpc_exp_replica_list {
	int32_t err;
	struct rpc_replica_list v;
};
struct rpc_exp_replicas {
	int32_t err;
	struct rpc_replicas v;
};

/* The batch calls answer one expected per key, in the keys' order. */
struct rpc_batch_void {
	struct rpc_exp_void *v;
	size_t n;
};
struct rpc_batch_bool {
	struct rpc_exp_bool *v;
	size_t n;
};
struct rpc_batch_replica_list {
	struct rpc_exp_replica_list *v;
	size_t n;
};
struct rpc_batch_replicas {
	struct rpc_exp_replicas *v;
	size_t n;
};

/* ---------------------------------------------------------------- requests */

struct rpc_ping_req {
	struct rpc_uuid client_id;
};
struct rpc_mount_req {
	struct rpc_segment segment;
	struct rpc_uuid client_id;
};
struct rpc_remount_req {
	struct rpc_segments segments;
	struct rpc_uuid client_id;
};
struct rpc_unmount_req {
	struct rpc_uuid segment_id, client_id;
};
struct rpc_fetch_tasks_req {
	struct rpc_uuid client_id;
	uint64_t batch_size;
};
/* ExistKey, GetReplicaList. */
struct rpc_key_req {
	struct rpc_str key, tenant_id;
};
/* BatchExistKey, BatchGetReplicaList. */
struct rpc_keys_req {
	struct rpc_strs keys;
	struct rpc_str tenant_id;
};
struct rpc_put_start_req {
	struct rpc_uuid client_id;
	struct rpc_str key;
	uint64_t slice_length;
	struct rpc_replicate_config config;
	struct rpc_str tenant_id;
};
struct rpc_put_end_req {
	struct rpc_uuid client_id;
	struct rpc_object_meta meta;
	int32_t replica_type; /* RPC_RTYPE_* */
	struct rpc_str tenant_id;
};
struct rpc_put_revoke_req {
	struct rpc_uuid client_id;
	struct rpc_str key;
	int32_t replica_type;
	struct rpc_str tenant_id;
};
struct rpc_batch_put_start_req {
	struct rpc_uuid client_id;
	struct rpc_strs keys;
	struct rpc_u64s slice_lengths;
	struct rpc_replicate_config config;
	struct rpc_str tenant_id;
};
struct rpc_batch_put_end_req {
	struct rpc_uuid client_id;
	struct rpc_object_metas metas;
	int32_t replica_type;
	struct rpc_str tenant_id;
};
struct rpc_batch_put_revoke_req {
	struct rpc_uuid client_id;
	struct rpc_strs keys;
	int32_t replica_type;
	struct rpc_str tenant_id;
};
struct rpc_remove_req {
	struct rpc_str key;
	bool force;
	struct rpc_str tenant_id;
};
struct rpc_batch_remove_req {
	struct rpc_strs keys;
	bool force;
	struct rpc_str tenant_id;
};
/* An empty tenant_id means every tenant. */
struct rpc_remove_all_req {
	bool force;
	struct rpc_str tenant_id;
};
/* RemoveAll answers a bare count (no expected). */
struct rpc_remove_all_resp {
	int64_t removed;
};

/* ---------------------------------------------------------------- calls */

/*
 * The calls. Each one's request and response struct (all "struct rpc_"):
 *
 *   SERVICE_READY          -                    exp_str (the version)
 *   GET_STORAGE_CONFIG     -                    exp_storage_config
 *   GET_FSDIR              -                    exp_str
 *   PING                   ping_req             exp_ping
 *   MOUNT_SEGMENT          mount_req            exp_void
 *   REMOUNT_SEGMENT        remount_req          exp_void
 *   UNMOUNT_SEGMENT        unmount_req          exp_void
 *   FETCH_TASKS            fetch_tasks_req      exp_tasks
 *   EXIST_KEY              key_req              exp_bool
 *   BATCH_EXIST_KEY        keys_req             batch_bool
 *   GET_REPLICA_LIST       key_req              exp_replica_list
 *   BATCH_GET_REPLICA_LIST keys_req             batch_replica_list
 *   PUT_START              put_start_req        exp_replicas
 *   PUT_END                put_end_req          exp_void
 *   PUT_REVOKE             put_revoke_req       exp_void
 *   BATCH_PUT_START        batch_put_start_req  batch_replicas
 *   BATCH_PUT_END          batch_put_end_req    batch_void
 *   BATCH_PUT_REVOKE       batch_put_revoke_req batch_void
 *   REMOVE                 remove_req           exp_void
 *   BATCH_REMOVE           batch_remove_req     batch_void
 *   REMOVE_ALL             remove_all_req       remove_all_resp
 */
enum rpc_call_id {
	RPC_SERVICE_READY,
	RPC_GET_STORAGE_CONFIG,
	RPC_GET_FSDIR,
	RPC_PING,
	RPC_MOUNT_SEGMENT,
	RPC_REMOUNT_SEGMENT,
	RPC_UNMOUNT_SEGMENT,
	RPC_FETCH_TASKS,
	RPC_EXIST_KEY,
	RPC_BATCH_EXIST_KEY,
	RPC_GET_REPLICA_LIST,
	RPC_BATCH_GET_REPLICA_LIST,
	RPC_PUT_START,
	RPC_PUT_END,
	RPC_PUT_REVOKE,
	RPC_BATCH_PUT_START,
	RPC_BATCH_PUT_END,
	RPC_BATCH_PUT_REVOKE,
	RPC_REMOVE,
	RPC_BATCH_REMOVE,
	RPC_REMOVE_ALL,
	RPC_NCALLS,
};

/* One row of the call table. */
struct rpc_call {
	enum rpc_call_id call;
	const char *name;	    /* "ExistKey" */
	const struct rpc_type *req; /* NULL: no arguments */
	const struct rpc_type *resp;
	const char *req_literal; /* struct_pack type literals (sp.h) */
	const char *resp_literal;
	uint32_t id;		      /* function id */
	uint32_t req_code, resp_code; /* type codes (req 0: no arguments) */
};

/* The row of @c (c < RPC_NCALLS). */
const struct rpc_call *rpc_call_get(enum rpc_call_id c);
/* The row whose function id is @id, or NULL: not a call served here. */
const struct rpc_call *rpc_call_find(uint32_t id);

/*
 * The body codecs of one call (sp.h's forms and errors). Encoding a
 * request of a call without arguments appends nothing; decoding one
 * ignores the body, as upstream does.
 */
void rpc_req_encode(const struct rpc_call *c, const void *req, unsigned flags,
		    struct rpc_buf *out);
int rpc_req_decode(const struct rpc_call *c, const void *body, size_t len,
		   void *req, struct rpc_arena *a, const char **why);
void rpc_resp_encode(const struct rpc_call *c, const void *resp, unsigned flags,
		     struct rpc_buf *out);
int rpc_resp_decode(const struct rpc_call *c, const void *body, size_t len,
		    void *resp, struct rpc_arena *a, const char **why);

#endif
