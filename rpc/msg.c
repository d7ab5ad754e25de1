/*
 * msg.c - the type descriptions of the master RPC's structs, their type
 * literals, and the call table.
 *
 * The literals are written here once per type, as upstream's struct_pack
 * derives them from the C++ types (rpc_service.h, rpc_types.h, replica.h,
 * types.h at 3b5a594): they are what the codes hash, and what a
 * literal-form body must carry. tests/check_rpc.c checks that each one
 * equals the literal its description yields, and that the codes computed
 * from them are the ones upstream uses.
 */
#include "autoconfig.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "md5.h"
#include "msg.h"

/* ------------------------------------------------------------ literals */

#define L_I32	 "\x01"
#define L_I64	 "\x03"
#define L_U64	 "\x04"
#define L_U8	 "\x06"
#define L_BOOL	 "\x0b"
#define L_STR	 "\x80\x0c"
#define L_VEC	 "\x84"
#define L_OPT	 "\x85"
#define L_VOID	 "\xfa"
#define L_S	 "\xfd"		/* struct or argument tuple */
#define L_E	 "\xff"		/* end of a struct or variant */
#define L_EXP(T) "\x87" T L_I32 /* expected<T, ErrorCode> */
/* std::pair<u64,u64>: trivially copyable, so alignment 8 and 8 (+129). */
#define L_UUID	  L_S L_U64 L_U64 "\x89\x89" L_E
#define L_SEGMENT L_S L_UUID L_STR L_U64 L_U64 L_STR L_STR L_STR L_E
#define L_CONFIG                                                               \
	L_S L_U64 L_U64 L_U64 L_U8 L_OPT L_U64 L_BOOL L_VEC L_STR L_STR L_VEC  \
		L_STR L_BOOL L_U8 L_STR L_OPT L_VEC L_STR L_E
#define L_META	  L_S L_STR L_OPT L_U64 L_E
#define L_BUFDESC L_S L_U64 L_U64 L_STR L_STR L_E
#define L_REPLICA                                                              \
	L_S L_U64 "\x86" L_S L_BUFDESC L_E L_S L_BUFDESC L_E L_S L_STR L_U64   \
		L_E L_S L_UUID L_U64 L_STR L_E L_S L_STR L_U64 L_U64 L_U64     \
			L_I32 L_E L_E L_I32 L_E
#define L_REPLICA_LIST L_S L_VEC L_REPLICA L_U64 L_OPT L_U64 L_E
#define L_PING	       L_S L_I64 L_I32 L_E
#define L_STORAGE      L_S L_STR L_BOOL L_U64 L_E
#define L_TASK	       L_S L_UUID L_I32 L_STR L_I64 "\x02" L_E

/* ------------------------------------------------------------ descriptions */

#define FIELD(S, f, T)                                                         \
	{                                                                      \
		&(T), offsetof(struct S, f)                                    \
	}
#define STRUCT(name, S, fields)                                                \
	static const struct rpc_type name = {.kind = RPC_T_STRUCT,             \
					     .size = sizeof(struct S),         \
					     .m = fields,                      \
					     .n = sizeof(fields) /             \
						  sizeof(fields[0])}
#define VEC(name, S, T)                                                        \
	static const struct rpc_type name = {                                  \
		.kind = RPC_T_VEC, .size = sizeof(struct S), .elem = &(T)}
#define OPT(name, S, T)                                                        \
	static const struct rpc_type name = {.kind = RPC_T_OPT,                \
					     .size = sizeof(struct S),         \
					     .off = offsetof(struct S, v),     \
					     .elem = &(T)}
#define EXP(name, S, T, off_)                                                  \
	static const struct rpc_type name = {.kind = RPC_T_EXPECTED,           \
					     .size = sizeof(struct S),         \
					     .off = (off_),                    \
					     .elem = &(T)}

VEC(t_strs, rpc_strs, rpc_t_str);
VEC(t_u64s, rpc_u64s, rpc_t_u64);
OPT(t_opt_u64, rpc_opt_u64, rpc_t_u64);
OPT(t_opt_strs, rpc_opt_strs, t_strs);

static const struct rpc_member segment_f[] = {
	FIELD(rpc_segment, id, rpc_t_uuid),
	FIELD(rpc_segment, name, rpc_t_str),
	FIELD(rpc_segment, base, rpc_t_u64),
	FIELD(rpc_segment, size, rpc_t_u64),
	FIELD(rpc_segment, te_endpoint, rpc_t_str),
	FIELD(rpc_segment, protocol, rpc_t_str),
	FIELD(rpc_segment, host_id, rpc_t_str),
};
STRUCT(t_segment, rpc_segment, segment_f);
VEC(t_segments, rpc_segments, t_segment);

static const struct rpc_member config_f[] = {
	FIELD(rpc_replicate_config, replica_num, rpc_t_u64),
	FIELD(rpc_replicate_config, nof_replica_num, rpc_t_u64),
	FIELD(rpc_replicate_config, dfs_replica_num, rpc_t_u64),
	FIELD(rpc_replicate_config, soft_pin_action, rpc_t_u8),
	FIELD(rpc_replicate_config, soft_pin_ttl_ms, t_opt_u64),
	FIELD(rpc_replicate_config, with_hard_pin, rpc_t_bool),
	FIELD(rpc_replicate_config, preferred_segments, t_strs),
	FIELD(rpc_replicate_config, preferred_segment, rpc_t_str),
	FIELD(rpc_replicate_config, preferred_nof_segments, t_strs),
	FIELD(rpc_replicate_config, prefer_alloc_in_same_node, rpc_t_bool),
	FIELD(rpc_replicate_config, data_type, rpc_t_u8),
	FIELD(rpc_replicate_config, host_id, rpc_t_str),
	FIELD(rpc_replicate_config, group_ids, t_opt_strs),
};
STRUCT(t_config, rpc_replicate_config, config_f);

static const struct rpc_member meta_f[] = {
	FIELD(rpc_object_meta, key, rpc_t_str),
	FIELD(rpc_object_meta, checksum, t_opt_u64),
};
STRUCT(t_meta, rpc_object_meta, meta_f);
VEC(t_metas, rpc_object_metas, t_meta);

static const struct rpc_member bufdesc_f[] = {
	FIELD(rpc_buffer_desc, size, rpc_t_u64),
	FIELD(rpc_buffer_desc, addr, rpc_t_u64),
	FIELD(rpc_buffer_desc, protocol, rpc_t_str),
	FIELD(rpc_buffer_desc, endpoint, rpc_t_str),
};
STRUCT(t_bufdesc, rpc_buffer_desc, bufdesc_f);
/* MemoryDescriptor and NoFDescriptor: a struct holding one bufdesc. */
static const struct rpc_member wrap_f[] = {{&t_bufdesc, 0}};
STRUCT(t_memdesc, rpc_buffer_desc, wrap_f);

static const struct rpc_member disk_f[] = {
	FIELD(rpc_disk_desc, file_path, rpc_t_str),
	FIELD(rpc_disk_desc, object_size, rpc_t_u64),
};
STRUCT(t_disk, rpc_disk_desc, disk_f);

static const struct rpc_member local_disk_f[] = {
	FIELD(rpc_local_disk_desc, client_id, rpc_t_uuid),
	FIELD(rpc_local_disk_desc, object_size, rpc_t_u64),
	FIELD(rpc_local_disk_desc, transport_endpoint, rpc_t_str),
};
STRUCT(t_local_disk, rpc_local_disk_desc, local_disk_f);

static const struct rpc_member dfs_f[] = {
	FIELD(rpc_dfs_desc, file_path, rpc_t_str),
	FIELD(rpc_dfs_desc, offset, rpc_t_u64),
	FIELD(rpc_dfs_desc, object_size, rpc_t_u64),
	FIELD(rpc_dfs_desc, aligned_size, rpc_t_u64),
	FIELD(rpc_dfs_desc, shard_idx, rpc_t_i32),
};
STRUCT(t_dfs, rpc_dfs_desc, dfs_f);

static const struct rpc_member loc_alts[RPC_LOC_N] = {
	[RPC_LOC_MEMORY] = {&t_memdesc, 0},
	[RPC_LOC_NOF] = {&t_memdesc, 0},
	[RPC_LOC_DISK] = {&t_disk, 0},
	[RPC_LOC_LOCAL_DISK] = {&t_local_disk, 0},
	[RPC_LOC_DFS] = {&t_dfs, 0},
};
static const struct rpc_type t_loc = {
	.kind = RPC_T_VARIANT,
	.size = sizeof(struct rpc_replica_loc),
	.off = offsetof(struct rpc_replica_loc, u),
	.m = loc_alts,
	.n = RPC_LOC_N,
};

static const struct rpc_member replica_f[] = {
	FIELD(rpc_replica, id, rpc_t_u64),
	FIELD(rpc_replica, loc, t_loc),
	FIELD(rpc_replica, status, rpc_t_i32),
};
STRUCT(t_replica, rpc_replica, replica_f);
VEC(t_replicas, rpc_replicas, t_replica);

static const struct rpc_member replica_list_f[] = {
	FIELD(rpc_replica_list, replicas, t_replicas),
	FIELD(rpc_replica_list, lease_ttl_ms, rpc_t_u64),
	FIELD(rpc_replica_list, checksum, t_opt_u64),
};
STRUCT(t_replica_list, rpc_replica_list, replica_list_f);

static const struct rpc_member ping_f[] = {
	FIELD(rpc_ping_info, view_version_id, rpc_t_i64),
	FIELD(rpc_ping_info, client_status, rpc_t_i32),
};
STRUCT(t_ping, rpc_ping_info, ping_f);

static const struct rpc_member storage_f[] = {
	FIELD(rpc_storage_config, fsdir, rpc_t_str),
	FIELD(rpc_storage_config, enable_disk_eviction, rpc_t_bool),
	FIELD(rpc_storage_config, quota_bytes, rpc_t_u64),
};
STRUCT(t_storage, rpc_storage_config, storage_f);

static const struct rpc_member task_f[] = {
	FIELD(rpc_task, id, rpc_t_uuid),
	FIELD(rpc_task, type, rpc_t_i32),
	FIELD(rpc_task, payload, rpc_t_str),
	FIELD(rpc_task, created_at_ms_epoch, rpc_t_i64),
	FIELD(rpc_task, max_retry_attempts, rpc_t_u32),
};
STRUCT(t_task, rpc_task, task_f);
VEC(t_tasks, rpc_tasks, t_task);

#define EXPV(name, S, T) EXP(name, S, T, offsetof(struct S, v))
EXP(t_exp_void, rpc_exp_void, rpc_t_void, sizeof(int32_t));
EXPV(t_exp_bool, rpc_exp_bool, rpc_t_bool);
EXPV(t_exp_str, rpc_exp_str, rpc_t_str);
EXPV(t_exp_storage, rpc_exp_storage_config, t_storage);
EXPV(t_exp_ping, rpc_exp_ping, t_ping);
EXPV(t_exp_tasks, rpc_exp_tasks, t_tasks);
EXPV(t_exp_replica_list, rpc_exp_replica_list, t_replica_list);
EXPV(t_exp_replicas, rpc_exp_replicas, t_replicas);
VEC(t_batch_void, rpc_batch_void, t_exp_void);
VEC(t_batch_bool, rpc_batch_bool, t_exp_bool);
VEC(t_batch_replica_list, rpc_batch_replica_list, t_exp_replica_list);
VEC(t_batch_replicas, rpc_batch_replicas, t_exp_replicas);

/* The argument tuples. */
static const struct rpc_member mount_f[] = {
	FIELD(rpc_mount_req, segment, t_segment),
	FIELD(rpc_mount_req, client_id, rpc_t_uuid),
};
STRUCT(t_mount, rpc_mount_req, mount_f);

static const struct rpc_member remount_f[] = {
	FIELD(rpc_remount_req, segments, t_segments),
	FIELD(rpc_remount_req, client_id, rpc_t_uuid),
};
STRUCT(t_remount, rpc_remount_req, remount_f);

static const struct rpc_member unmount_f[] = {
	FIELD(rpc_unmount_req, segment_id, rpc_t_uuid),
	FIELD(rpc_unmount_req, client_id, rpc_t_uuid),
};
STRUCT(t_unmount, rpc_unmount_req, unmount_f);

static const struct rpc_member fetch_f[] = {
	FIELD(rpc_fetch_tasks_req, client_id, rpc_t_uuid),
	FIELD(rpc_fetch_tasks_req, batch_size, rpc_t_u64),
};
STRUCT(t_fetch, rpc_fetch_tasks_req, fetch_f);

static const struct rpc_member key_f[] = {
	FIELD(rpc_key_req, key, rpc_t_str),
	FIELD(rpc_key_req, tenant_id, rpc_t_str),
};
STRUCT(t_key, rpc_key_req, key_f);

static const struct rpc_member keys_f[] = {
	FIELD(rpc_keys_req, keys, t_strs),
	FIELD(rpc_keys_req, tenant_id, rpc_t_str),
};
STRUCT(t_keys, rpc_keys_req, keys_f);

static const struct rpc_member put_start_f[] = {
	FIELD(rpc_put_start_req, client_id, rpc_t_uuid),
	FIELD(rpc_put_start_req, key, rpc_t_str),
	FIELD(rpc_put_start_req, slice_length, rpc_t_u64),
	FIELD(rpc_put_start_req, config, t_config),
	FIELD(rpc_put_start_req, tenant_id, rpc_t_str),
};
STRUCT(t_put_start, rpc_put_start_req, put_start_f);

static const struct rpc_member put_end_f[] = {
	FIELD(rpc_put_end_req, client_id, rpc_t_uuid),
	FIELD(rpc_put_end_req, meta, t_meta),
	FIELD(rpc_put_end_req, replica_type, rpc_t_i32),
	FIELD(rpc_put_end_req, tenant_id, rpc_t_str),
};
STRUCT(t_put_end, rpc_put_end_req, put_end_f);

static const struct rpc_member put_revoke_f[] = {
	FIELD(rpc_put_revoke_req, client_id, rpc_t_uuid),
	FIELD(rpc_put_revoke_req, key, rpc_t_str),
	FIELD(rpc_put_revoke_req, replica_type, rpc_t_i32),
	FIELD(rpc_put_revoke_req, tenant_id, rpc_t_str),
};
STRUCT(t_put_revoke, rpc_put_revoke_req, put_revoke_f);

static const struct rpc_member bput_start_f[] = {
	FIELD(rpc_batch_put_start_req, client_id, rpc_t_uuid),
	FIELD(rpc_batch_put_start_req, keys, t_strs),
	FIELD(rpc_batch_put_start_req, slice_lengths, t_u64s),
	FIELD(rpc_batch_put_start_req, config, t_config),
	FIELD(rpc_batch_put_start_req, tenant_id, rpc_t_str),
};
STRUCT(t_bput_start, rpc_batch_put_start_req, bput_start_f);

static const struct rpc_member bput_end_f[] = {
	FIELD(rpc_batch_put_end_req, client_id, rpc_t_uuid),
	FIELD(rpc_batch_put_end_req, metas, t_metas),
	FIELD(rpc_batch_put_end_req, replica_type, rpc_t_i32),
	FIELD(rpc_batch_put_end_req, tenant_id, rpc_t_str),
};
STRUCT(t_bput_end, rpc_batch_put_end_req, bput_end_f);

static const struct rpc_member bput_revoke_f[] = {
	FIELD(rpc_batch_put_revoke_req, client_id, rpc_t_uuid),
	FIELD(rpc_batch_put_revoke_req, keys, t_strs),
	FIELD(rpc_batch_put_revoke_req, replica_type, rpc_t_i32),
	FIELD(rpc_batch_put_revoke_req, tenant_id, rpc_t_str),
};
STRUCT(t_bput_revoke, rpc_batch_put_revoke_req, bput_revoke_f);

static const struct rpc_member remove_f[] = {
	FIELD(rpc_remove_req, key, rpc_t_str),
	FIELD(rpc_remove_req, force, rpc_t_bool),
	FIELD(rpc_remove_req, tenant_id, rpc_t_str),
};
STRUCT(t_remove, rpc_remove_req, remove_f);

static const struct rpc_member bremove_f[] = {
	FIELD(rpc_batch_remove_req, keys, t_strs),
	FIELD(rpc_batch_remove_req, force, rpc_t_bool),
	FIELD(rpc_batch_remove_req, tenant_id, rpc_t_str),
};
STRUCT(t_bremove, rpc_batch_remove_req, bremove_f);

static const struct rpc_member remove_all_f[] = {
	FIELD(rpc_remove_all_req, force, rpc_t_bool),
	FIELD(rpc_remove_all_req, tenant_id, rpc_t_str),
};
STRUCT(t_remove_all, rpc_remove_all_req, remove_all_f);

/* ------------------------------------------------------------ the table */

#define ROW(c, nm, rq, rs, rql, rsl) [c] = {c, nm, rq, rs, rql, rsl, 0, 0, 0}
#define L_KEY			     L_S L_STR L_STR L_E
#define L_KEYS			     L_S L_VEC L_STR L_STR L_E

/* The ids and codes are filled in once, from the names and literals. */
static struct rpc_call calls[RPC_NCALLS] = {
	ROW(RPC_SERVICE_READY, "ServiceReady", NULL, &t_exp_str, NULL,
	    L_EXP(L_STR)),
	ROW(RPC_GET_STORAGE_CONFIG, "GetStorageConfig", NULL, &t_exp_storage,
	    NULL, L_EXP(L_STORAGE)),
	ROW(RPC_GET_FSDIR, "GetFsdir", NULL, &t_exp_str, NULL, L_EXP(L_STR)),
	/* One argument: its own type, not a one-element tuple. */
	ROW(RPC_PING, "Ping", &rpc_t_uuid, &t_exp_ping, L_UUID, L_EXP(L_PING)),
	ROW(RPC_MOUNT_SEGMENT, "MountSegment", &t_mount, &t_exp_void,
	    L_S L_SEGMENT L_UUID L_E, L_EXP(L_VOID)),
	ROW(RPC_REMOUNT_SEGMENT, "ReMountSegment", &t_remount, &t_exp_void,
	    L_S L_VEC L_SEGMENT L_UUID L_E, L_EXP(L_VOID)),
	ROW(RPC_UNMOUNT_SEGMENT, "UnmountSegment", &t_unmount, &t_exp_void,
	    L_S L_UUID L_UUID L_E, L_EXP(L_VOID)),
	ROW(RPC_FETCH_TASKS, "FetchTasks", &t_fetch, &t_exp_tasks,
	    L_S L_UUID L_U64 L_E, L_EXP(L_VEC L_TASK)),
	ROW(RPC_EXIST_KEY, "ExistKey", &t_key, &t_exp_bool, L_KEY,
	    L_EXP(L_BOOL)),
	ROW(RPC_BATCH_EXIST_KEY, "BatchExistKey", &t_keys, &t_batch_bool,
	    L_KEYS, L_VEC L_EXP(L_BOOL)),
	ROW(RPC_GET_REPLICA_LIST, "GetReplicaList", &t_key, &t_exp_replica_list,
	    L_KEY, L_EXP(L_REPLICA_LIST)),
	ROW(RPC_BATCH_GET_REPLICA_LIST, "BatchGetReplicaList", &t_keys,
	    &t_batch_replica_list, L_KEYS, L_VEC L_EXP(L_REPLICA_LIST)),
	ROW(RPC_PUT_START, "PutStart", &t_put_start, &t_exp_replicas,
	    L_S L_UUID L_STR L_U64 L_CONFIG L_STR L_E, L_EXP(L_VEC L_REPLICA)),
	ROW(RPC_PUT_END, "PutEnd", &t_put_end, &t_exp_void,
	    L_S L_UUID L_META L_I32 L_STR L_E, L_EXP(L_VOID)),
	ROW(RPC_PUT_REVOKE, "PutRevoke", &t_put_revoke, &t_exp_void,
	    L_S L_UUID L_STR L_I32 L_STR L_E, L_EXP(L_VOID)),
	ROW(RPC_BATCH_PUT_START, "BatchPutStart", &t_bput_start,
	    &t_batch_replicas,
	    L_S L_UUID L_VEC L_STR L_VEC L_U64 L_CONFIG L_STR L_E,
	    L_VEC L_EXP(L_VEC L_REPLICA)),
	ROW(RPC_BATCH_PUT_END, "BatchPutEnd", &t_bput_end, &t_batch_void,
	    L_S L_UUID L_VEC L_META L_I32 L_STR L_E, L_VEC L_EXP(L_VOID)),
	ROW(RPC_BATCH_PUT_REVOKE, "BatchPutRevoke", &t_bput_revoke,
	    &t_batch_void, L_S L_UUID L_VEC L_STR L_I32 L_STR L_E,
	    L_VEC L_EXP(L_VOID)),
	ROW(RPC_REMOVE, "Remove", &t_remove, &t_exp_void,
	    L_S L_STR L_BOOL L_STR L_E, L_EXP(L_VOID)),
	ROW(RPC_BATCH_REMOVE, "BatchRemove", &t_bremove, &t_batch_void,
	    L_S L_VEC L_STR L_BOOL L_STR L_E, L_VEC L_EXP(L_VOID)),
	/* long RemoveAll(bool force, const std::string &tenant_id) */
	ROW(RPC_REMOVE_ALL, "RemoveAll", &t_remove_all, &rpc_t_i64,
	    L_S L_BOOL L_STR L_E, L_I64),
};

static pthread_once_t calls_once = PTHREAD_ONCE_INIT;

static void calls_init(void)
{
	for (int i = 0; i < RPC_NCALLS; i++) {
		struct rpc_call *c = &calls[i];
		char name[128];

		snprintf(name, sizeof(name), "%s%s", RPC_SERVICE_PREFIX,
			 c->name);
		c->id = rpc_func_id(name);
		if (c->req_literal)
			c->req_code = rpc_type_code(c->req_literal,
						    strlen(c->req_literal));
		c->resp_code =
			rpc_type_code(c->resp_literal, strlen(c->resp_literal));
	}
}

const struct rpc_call *rpc_call_get(enum rpc_call_id c)
{
	pthread_once(&calls_once, calls_init);
	return (unsigned)c < RPC_NCALLS ? &calls[c] : NULL;
}

const struct rpc_call *rpc_call_find(uint32_t id)
{
	pthread_once(&calls_once, calls_init);
	for (int i = 0; i < RPC_NCALLS; i++)
		if (calls[i].id == id)
			return &calls[i];
	return NULL;
}

void rpc_req_encode(const struct rpc_call *c, const void *req, unsigned flags,
		    struct rpc_buf *out)
{
	if (c->req)
		rpc_sp_encode(out, c->req, req, c->req_code, c->req_literal,
			      flags);
}

int rpc_req_decode(const struct rpc_call *c, const void *body, size_t len,
		   void *req, struct rpc_arena *a, const char **why)
{
	if (!c->req)
		return 0;
	return rpc_sp_decode(body, len, c->req, req, c->req_code,
			     c->req_literal, a, why);
}

void rpc_resp_encode(const struct rpc_call *c, const void *resp, unsigned flags,
		     struct rpc_buf *out)
{
	rpc_sp_encode(out, c->resp, resp, c->resp_code, c->resp_literal, flags);
}

int rpc_resp_decode(const struct rpc_call *c, const void *body, size_t len,
		    void *resp, struct rpc_arena *a, const char **why)
{
	return rpc_sp_decode(body, len, c->resp, resp, c->resp_code,
			     c->resp_literal, a, why);
}
