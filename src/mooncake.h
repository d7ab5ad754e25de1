/*
 * mooncake.h - the core of mooncaked: segments, objects, leases, eviction.
 *
 * This is the one header the doors (web/, fs/, the transfer port) call.
 * It knows nothing of HTTP, FUSE or sockets. Every operation returns 0 (or
 * a count) on success and a negative errno on failure; where a person needs
 * the reason, a `struct mc_err` out-parameter (may be NULL) carries the
 * Mooncake error code and a one-line message (git style: lowercase, no
 * full stop, the subject in quotes).
 *
 * Threading: every function here is thread-safe. Objects live in a sharded
 * hash table (one rwlock per shard); segments in a table under one rwlock;
 * each segment's allocator has its own mutex. No function holds two shard
 * locks at once, so iteration (mc_key_foreach) never stops the whole store.
 *
 * Lifetime: a published object version is immutable. Readers take a
 * reference (struct mc_ref) and may use the bytes without any lock until
 * they release it; a replace or remove only unpublishes the version. A
 * replica buffer is freed when no version references it, no reader holds
 * it and its read lease (granted by mc_query) has ended, or its segment's
 * unmount has completed, whichever comes last for the lease and first for
 * the unmount.
 */
#ifndef MC_MOONCAKE_H
#define MC_MOONCAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define MC_KEY_MAX     4096	     /* bytes, excluding NUL */
#define MC_ID_LEN      36	     /* RFC 4122 text, lowercase */
#define MC_ALLOC_ALIGN (16ull << 20) /* /api/mount rounding */
#define MC_REPLICA_MAX 8	     /* --replicas upper bound */
#define MC_GRACE_MAX   3600	     /* seconds, unmount grace */

struct mc_store;
struct mc_metrics;
struct mc_seg_info;

/* ---------------------------------------------------------------- rules */

/*
 * Each rule of what the store accepts has its home here; the doors call
 * it and only map the reason to their own wording.
 */

/* Why bytes are not a key: a key is 1 .. MC_KEY_MAX bytes, no NUL. */
enum mc_key_fault {
	MC_KEY_OK = 0,
	MC_KEY_EMPTY,
	MC_KEY_TOO_LONG,
	MC_KEY_HAS_NUL,
};
enum mc_key_fault mc_key_check(const void *key, size_t klen);

/*
 * Why a string is not a /dev/shm object name. One leading '/' is allowed
 * and not part of the name; the rest is 1 .. 255 bytes, no '/', and not
 * "." or "..".
 */
enum mc_shm_fault {
	MC_SHM_OK = 0,
	MC_SHM_EMPTY,
	MC_SHM_SLASH,
	MC_SHM_DOTS,
	MC_SHM_TOO_LONG,
};
enum mc_shm_fault mc_shm_name_check(const char *name);

/* ---------------------------------------------------------------- store */

struct mc_store_opts {
	unsigned replica_num;	   /* memory replicas per object, >= 1 */
	uint64_t lease_ttl_ms;	   /* read lease granted by mc_query */
	double high_watermark;	   /* evict above used/capacity > this */
	double evict_ratio;	   /* ... down to high_watermark - this */
	uint64_t max_value;	   /* largest value accepted (--max-body) */
	uint64_t put_timeout_ms;   /* unfinished two-phase puts revoked */
	uint64_t max_segment_size; /* larger mounts are split */
	const char *hostname;	   /* default segment name */
	const char *protocol;	   /* default protocol: "tcp" or "rdma" */
	/*
	 * Clock in milliseconds, monotonic. NULL means CLOCK_MONOTONIC. Tests
	 * pass their own to drive leases, grace periods and put timeouts.
	 */
	uint64_t (*now_ms)(void *clock_arg);
	void *clock_arg;
	/*
	 * When true no background thread is started; the caller drives
	 * timers with mc_store_tick(). The daemon leaves it false (a reaper
	 * thread ticks every 100 ms).
	 */
	bool manual_tick;
	/*
	 * Called (when set) to hand every segment's memory to the transport
	 * of its @protocol at mount (RDMA memory registration; tcp needs
	 * none) and to take it back when the segment goes. register_mem
	 * returns 0 (registered: unregister_mem is called when the segment
	 * goes), 1 (nothing to register: it is not), or -errno, which fails
	 * the mount. rkey is stored in the segment. When NULL, only tcp
	 * segments can mount.
	 */
	int (*register_mem)(void *arg, const char *protocol, void *base,
			    uint64_t size, uint32_t *rkey);
	void (*unregister_mem)(void *arg, const char *protocol, void *base,
			       uint64_t size);
	void *register_arg;
	/*
	 * Allocator arenas per segment: each a mutex and an allocator over
	 * its own slice of the segment, so threads putting at once take
	 * different locks (a thread keeps to one arena, moving on when it is
	 * busy or full). 0 picks one per CPU (at most 16), fewer when a slice
	 * would be under four times max_value or 256 MiB; 1 keeps one
	 * allocator for the whole segment, for a caller that must place
	 * buffers of any size up to the segment's (values never span two
	 * arenas).
	 */
	unsigned alloc_arenas;
	/*
	 * Touch every page of a new segment at mount (MAP_POPULATE) instead
	 * of on the first write into it: the mount takes longer and the
	 * memory is resident at once, and no put pays a page fault later.
	 */
	bool populate;
};

/* Fills @o with the defaults of mooncaked(8), OPTIONS. */
void mc_store_opts_default(struct mc_store_opts *o);

/*
 * Creates a store. @m is the metrics registry the store counts into (it
 * must outlive the store); NULL makes the store create its own, reachable
 * with mc_store_metrics(). Returns NULL with errno set on failure.
 */
struct mc_store *mc_store_new(const struct mc_store_opts *o,
			      struct mc_metrics *m);
/* Unmounts everything at once, frees every object and the store. */
void mc_store_free(struct mc_store *s);
struct mc_metrics *mc_store_metrics(struct mc_store *s);
const struct mc_store_opts *mc_store_get_opts(const struct mc_store *s);

/*
 * Sets the transport endpoint ("host:port") advertised in descriptors of
 * segments mounted from now on and of those already mounted.
 */
void mc_store_set_endpoint(struct mc_store *s, const char *endpoint);
/* Runs timers: lease-deferred frees, grace-period ends, put timeouts. */
void mc_store_tick(struct mc_store *s);

/* ------------------------------------------------------------- segments */

enum mc_seg_kind { MC_SEG_ALLOC = 0, MC_SEG_SHM = 1 };
enum mc_seg_state { MC_SEG_OK = 0, MC_SEG_DRAINING = 1 };

struct mc_mount_req {
	uint64_t size;	      /* > 0; alloc: rounded up to 16 MiB */
	const char *shm_name; /* NULL: allocate; else /dev/shm object name */
	uint64_t offset;      /* shm only: page aligned */
	const char *protocol; /* NULL or "": the store default */
	const char *location; /* NULL: "" */
	const char *name;     /* NULL or "": the store's hostname */
};

struct mc_mount_result {
	size_t n;		    /* segments created */
	char (*ids)[MC_ID_LEN + 1]; /* n ids, malloc'd; free() it */
	uint64_t allocated_size;    /* sum of the segments' sizes */
};

/*
 * Mounts memory as one or more segments (split at max_segment_size into
 * near-equal chunks, each a multiple of the alignment). Errors: -EINVAL
 * (bad size, offset, name or protocol), -ENOENT (no such shm object),
 * -ENOMEM (allocation failed), -ERANGE (offset + size past the shm
 * object's end), -EOPNOTSUPP (rdma without a device). On failure nothing
 * stays mounted.
 */
int mc_segment_mount(struct mc_store *s, const struct mc_mount_req *req,
		     struct mc_mount_result *out, struct mc_err *err);

struct mc_unmount_req {
	const char *const *ids; /* n segment ids, of any kinds */
	size_t n;		/* > 0 */
	unsigned grace_s;	/* 0 .. MC_GRACE_MAX */
	/*
	 * NULL, or a door's own condition on each segment (HTTP's unmount
	 * takes only alloc segments, unmount_shm only shm ones): a segment
	 * it refuses counts as not found. Called under the segment table's
	 * lock: it must not call into the store.
	 */
	bool (*accept)(const struct mc_seg_info *si, void *arg);
	void *accept_arg;
};

/*
 * Unmounts a set of segments at once. All ids must exist (a draining id
 * counts as found, and keeps its deadline) and be accepted, else nothing
 * happens: -ENOENT, and the ids that failed are returned in *failed
 * (malloc'd array of n_failed ids; free() it; may be NULL when the caller
 * does not care). grace_s = 0: replicas go at once. grace_s > 0: the
 * segments stop taking allocations at once, stay readable (state
 * draining) for grace_s seconds, then go. -EINVAL when n == 0 or
 * grace_s > MC_GRACE_MAX; -ENOMEM.
 */
int mc_segment_unmount(struct mc_store *s, const struct mc_unmount_req *req,
		       char (**failed)[MC_ID_LEN + 1], size_t *n_failed,
		       struct mc_err *err);

/* A snapshot of one segment, safe to use after the call. */
struct mc_seg_info {
	char id[MC_ID_LEN + 1];
	char name[256];
	char protocol[8];
	char location[256];
	char source[300]; /* "alloc" or "shm:NAME+OFFSET" */
	char endpoint[300];
	enum mc_seg_kind kind;
	enum mc_seg_state state;
	uint64_t drain_ms; /* draining: milliseconds until it goes */
	uint64_t base;	   /* virtual address of the first byte */
	uint64_t size;
	uint64_t used;
	uint64_t shm_offset; /* shm only */
	char shm_name[256];  /* shm only, without the leading '/' */
	uint32_t rkey;	     /* rdma only */
};

/* 0, or -ENOENT when no segment has @id. */
int mc_segment_info(struct mc_store *s, const char *id,
		    struct mc_seg_info *out);
/*
 * Calls @cb for every segment (mount order). A non-zero return from @cb
 * stops the walk and is returned. The callback runs without store locks.
 */
int mc_segment_foreach(struct mc_store *s,
		       int (*cb)(const struct mc_seg_info *, void *),
		       void *arg);
/*
 * Distinct segment names, sorted (strcmp), each with its summed used and
 * capacity. Same stopping rule as mc_segment_foreach.
 */
int mc_segment_name_foreach(struct mc_store *s,
			    int (*cb)(const char *name, uint64_t used,
				      uint64_t capacity, void *),
			    void *arg);
/* Sums over segments named @name: 0, or -ENOENT. */
int mc_segment_name_usage(struct mc_store *s, const char *name, uint64_t *used,
			  uint64_t *capacity);

struct mc_usage {
	uint64_t used, capacity;
	uint64_t keys; /* complete objects */
	uint64_t segments;
	uint64_t pending_puts;
};
void mc_store_usage(struct mc_store *s, struct mc_usage *u);

/*
 * A number that changes whenever a key is added or removed (not when a
 * value is replaced): a door may cache a rendering of all keys and reuse
 * it while the number stays the same.
 */
uint64_t mc_store_keys_gen(struct mc_store *s);

/*
 * The store's operations as its master_X_requests_total and
 * master_X_failures_total families count them (every door alike).
 */
enum mc_op {
	MC_OP_PUT_START,
	MC_OP_PUT_END,
	MC_OP_PUT_REVOKE,
	MC_OP_GET_REPLICA_LIST,
	MC_OP_BATCH_GET_REPLICA_LIST,
	MC_OP_EXIST_KEY,
	MC_OP_REMOVE,
	MC_OP_REMOVE_ALL,
	MC_OP_MOUNT_SEGMENT,
	MC_OP_UNMOUNT_SEGMENT,
	MC_OP_PING,
	MC_NOPS
};
/* Upstream's name of @op ("PutStart", "GetReplicaList"), "?" else. */
const char *mc_op_name(enum mc_op op);

/*
 * What the store did lately, for people (the status page): requests and
 * failures of each operation, eviction runs, keys and bytes evicted,
 * over the last @span_s seconds (at most 60; less just after start).
 * The store keeps its counters once a second (mc_store_tick), so a read
 * is O(1) whatever the store holds. Thread-safe.
 */
struct mc_recent {
	double span_s;
	uint64_t requests[MC_NOPS], failures[MC_NOPS];
	uint64_t evictions, evicted_keys, evicted_bytes;
};
void mc_store_recent(struct mc_store *s, struct mc_recent *out);

/*
 * The sizes of the values put since start (master_value_size_bytes):
 * per class, not cumulative; le[] are the upper bounds in bytes, the
 * last one INFINITY. O(1).
 */
#define MC_VALUE_SIZE_CLASSES 8
struct mc_value_sizes {
	double le[MC_VALUE_SIZE_CLASSES];
	uint64_t count[MC_VALUE_SIZE_CLASSES];
};
void mc_store_value_sizes(struct mc_store *s, struct mc_value_sizes *out);

/* -------------------------------------------------------------- objects */

/*
 * One replica buffer as handed to remote readers and writers: what
 * /query_key and put_start describe.
 */
struct mc_desc {
	uint64_t addr; /* virtual address inside this process */
	uint64_t size;
	uint32_t rkey; /* rdma only */
	char seg_id[MC_ID_LEN + 1];
	char protocol[8];
	char endpoint[300]; /* "host:port" */
};

/*
 * Stores a value (1 .. max_value bytes) under a key (1 .. MC_KEY_MAX
 * bytes, no NUL). Replaces an existing value atomically. Counts one
 * PutStart and one PutEnd (PutRevoke on failure after allocation).
 * Errors: -EINVAL bad key or empty value, -EFBIG over max_value,
 * -ENOSPC no memory even after eviction (NO_AVAILABLE_HANDLE). An open
 * two-phase put of the key does not block it (the last publish wins).
 */
int mc_put(struct mc_store *s, const void *key, size_t klen, const void *val,
	   size_t len, struct mc_err *err);

/*
 * Two-phase put, for remote writers. mc_put_start allocates the replicas
 * and registers the key as open, so a second start of it fails with
 * -EBUSY until end, revoke or timeout (put_timeout_ms). Readers keep
 * seeing the old value until the put is published. The handle stays
 * valid until its holder lets go of it with exactly one of
 * mc_put_commit, mc_put_abort or mc_put_release (the last leaves the put
 * open, to be ended by key with mc_put_end or mc_put_revoke).
 *
 * mc_put_begin is the same without registration or timeout: a local
 * writer (a streamed HTTP body, a FUSE file) fills the buffer and commits;
 * concurrent local puts of one key do not conflict, the last wins.
 */
struct mc_put;
int mc_put_start(struct mc_store *s, const void *key, size_t klen,
		 uint64_t size, struct mc_put **out, struct mc_err *err);
int mc_put_begin(struct mc_store *s, const void *key, size_t klen,
		 uint64_t size, struct mc_put **out, struct mc_err *err);
/*
 * For a local writer that does not know the value's size in advance (a
 * file copied into keys/): it begins a put of a guess, grows it, and
 * trims it to the final size before the commit. Neither counts as a
 * request of its own, and neither applies to a two-phase put (whose
 * descriptors are out) or a closed one (-EINVAL).
 *
 * mc_put_grow grows every buffer of an open local put to @size bytes in
 * place, from the free space right after it, so the bytes written stay
 * where they are and nothing is evicted: 0; -EINVAL; -EFBIG over
 * max_value; -ENOSPC when the space after a buffer is taken (the put is
 * unchanged: the writer moves its bytes elsewhere).
 *
 * mc_put_trim shrinks an open local put to its first @size bytes (1 ..
 * its size): the tail of every buffer goes back to the allocator. 0;
 * -EINVAL; -ENOMEM no room for the allocator's metadata (the put is
 * unchanged and can still be committed or aborted).
 */
int mc_put_grow(struct mc_put *p, uint64_t size);
int mc_put_trim(struct mc_put *p, uint64_t size);

/*
 * Replica buffers of an open put: n <= MC_REPLICA_MAX. Descriptors are
 * made for two-phase puts (mc_put_start) only: a local put's writer uses
 * mc_put_buffer, and mc_put_desc answers NULL for it.
 */
size_t mc_put_ndesc(const struct mc_put *p);
const struct mc_desc *mc_put_desc(const struct mc_put *p, size_t i);
void *mc_put_buffer(struct mc_put *p, size_t i);
/*
 * Publishes the put and lets go of the handle. Replica 0's bytes are
 * copied into the other replicas first when @copy_replicas. -ETIMEDOUT
 * when the put was revoked or ended meanwhile (by key or by the timeout).
 */
int mc_put_commit(struct mc_put *p, bool copy_replicas, struct mc_err *err);
/* Drops the put without publishing (counts a PutRevoke) and the handle. */
void mc_put_abort(struct mc_put *p);
/* Lets go of the handle of a registered put, leaving the put open. */
void mc_put_release(struct mc_put *p);
/*
 * End or drop a registered put by key, for remote writers (HTTP
 * /api/v1/put_end and put_revoke): -ENOENT when no put of the key is open.
 */
int mc_put_end(struct mc_store *s, const void *key, size_t klen,
	       struct mc_err *err);
int mc_put_revoke(struct mc_store *s, const void *key, size_t klen,
		  struct mc_err *err);

/*
 * A reference to one published version of an object. While held, the
 * bytes stay valid and unchanged. Counts one GetReplicaList.
 * Errors: -ENOENT, -EINVAL bad key.
 */
struct mc_ref;
int mc_get(struct mc_store *s, const void *key, size_t klen,
	   struct mc_ref **out);
const void *mc_ref_data(const struct mc_ref *r); /* one complete replica */
uint64_t mc_ref_size(const struct mc_ref *r);
void mc_ref_release(struct mc_ref *r);
/* Convenience: copies up to @cap bytes from @off; returns bytes copied. */
int64_t mc_get_copy(struct mc_store *s, const void *key, size_t klen,
		    uint64_t off, void *buf, uint64_t cap);

/* Value size without counting a get (stat): 0 or -ENOENT. */
int mc_stat(struct mc_store *s, const void *key, size_t klen, uint64_t *size);

/* 1 exists, 0 not. Counts one ExistKey. */
int mc_exist(struct mc_store *s, const void *key, size_t klen);

/*
 * Describes the replicas of a key and grants them a read lease of
 * lease_ttl_ms. Fills at most @max descriptors; returns how many replicas
 * there are (may exceed @max) or -ENOENT. Counts one GetReplicaList.
 */
int mc_query(struct mc_store *s, const void *key, size_t klen,
	     struct mc_desc *out, size_t max);
/* Batch form: counts one BatchGetReplicaList with @nkeys items (and no
 * GetReplicaList). Calls @cb once per key in order with what mc_query
 * would return for it. */
void mc_query_batch(struct mc_store *s, size_t nkeys, const char *const *keys,
		    const size_t *klens,
		    void (*cb)(size_t i, int rc, const struct mc_desc *d,
			       size_t nd, void *arg),
		    void *arg);

/*
 * Removes a key. -ENOENT; -EBUSY when a read lease holds it (the Mooncake
 * error OBJECT_HAS_LEASE) and !force.
 */
int mc_remove(struct mc_store *s, const void *key, size_t klen, bool force,
	      struct mc_err *err);
/* Removes every object (leased ones only with force); returns how many. */
int64_t mc_remove_all(struct mc_store *s, bool force);

/*
 * Calls @cb for every complete object's key, one shard at a time, with
 * that shard's lock released during the callbacks (keys are copied out
 * in small batches). Keys added or removed during the walk may or may not
 * be seen; no key is seen twice. Non-zero from @cb stops the walk. The
 * key passed to @cb is followed by a NUL (keys hold none), valid during
 * the call only.
 */
int mc_key_foreach(struct mc_store *s,
		   int (*cb)(const void *key, size_t klen, uint64_t size,
			     void *arg),
		   void *arg);

/*
 * Cursor-based walk for readdir-style callers that come back later: starts
 * at *cursor (0 = the beginning) and calls @cb per key. A non-zero return
 * from @cb means "this key was not taken, stop": *cursor is left pointing
 * at it, so the next call starts with it. Returns 1 when stopped early,
 * 0 at the end of the store. Keys added or removed between calls may be
 * missed or seen again.
 */
int mc_key_walk(struct mc_store *s, uint64_t *cursor,
		int (*cb)(const void *key, size_t klen, uint64_t size,
			  void *arg),
		void *arg);

/* -------------------------------------------------- transfer-port access */

/*
 * Pins [addr, addr+size) for a remote READ (it must lie inside one live
 * replica of a complete object) or WRITE (inside one buffer of an open
 * put). Returns 0 and a pin to release after the copy, or -EACCES.
 */
struct mc_pin;
int mc_pin_read(struct mc_store *s, uint64_t addr, uint64_t size,
		struct mc_pin **out);
int mc_pin_write(struct mc_store *s, uint64_t addr, uint64_t size,
		 struct mc_pin **out);
void mc_pin_release(struct mc_pin *p);

#endif
