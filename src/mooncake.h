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
#define MC_MOUNT_SEGS  4096	     /* most segments one mount makes */

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

/* --------------------------------------------------------------- owners */

/*
 * Who owns a segment's memory (moves its bytes), or who writes a put.
 *
 *   MC_OWNER_SELF    this store: its alloc and shm segments; a writer
 *                    with no name (HTTP, FUSE, the transfer port)
 *   MC_OWNER_CLIENT  a Mooncake client, by its 36-character UUID (the
 *                    master RPC, mooncake-rpc(7))
 *   MC_OWNER_NODE    a cluster node, by its id (1 .. MC_OWNER_ID_MAX
 *                    characters)
 *
 * Written "client:UUID" and "node:ID" (a segment's source, log lines).
 */
#define MC_OWNER_ID_MAX 64

enum mc_owner_kind {
	MC_OWNER_SELF = 0,
	MC_OWNER_CLIENT = 1,
	MC_OWNER_NODE = 2,
};

struct mc_owner {
	enum mc_owner_kind kind;
	char id[MC_OWNER_ID_MAX + 1]; /* "" for MC_OWNER_SELF */
};

/* True when @a and @b name the same owner (NULL counts as SELF). */
bool mc_owner_eq(const struct mc_owner *a, const struct mc_owner *b);
/*
 * Fills @o with a client owner: 0, or -EINVAL when @uuid is not 36
 * characters of 8-4-4-4-12 hex (upper case is folded to lower).
 */
int mc_owner_client(struct mc_owner *o, const char *uuid);

/*
 * Reads a replica's bytes that live in another process (descriptors of
 * REMOTE segments): the transfer door provides them (xfer.h), the core
 * calls them from mc_get and mc_get_copy when no replica of the value is
 * in local memory. Called with no store lock held, from any thread, so
 * they must be thread-safe; they may block for as long as their own
 * timeout. read fills @buf with the @len bytes at @off inside the
 * replica @d (off + len <= d->size): 0, or a negative errno (any error
 * makes the core try the next replica). write is the same the other way
 * (cluster mode's puts); the core of a single node never calls it.
 */
struct mc_desc;
struct mc_data_ops {
	int (*read)(void *arg, const struct mc_desc *d, uint64_t off, void *buf,
		    uint64_t len);
	int (*write)(void *arg, const struct mc_desc *d, uint64_t off,
		     const void *buf, uint64_t len);
	/*
	 * Optional: whether bytes have reached this process's transfer port
	 * that it has not read yet (a connection waiting to be accepted, or
	 * unread input on one). Ending a two-phase put whose buffers lack
	 * bytes waits while this says so (mc_put_end_by). Any thread, no
	 * store lock held; it must not block.
	 */
	bool (*input_pending)(void *arg);
	/*
	 * Optional, for a door that passes a put's bytes on without
	 * touching them (mc_put_commit_pipe): write_pipe writes @hlen
	 * bytes at @head, then @len - @hlen bytes taken from pipe @pfd (its
	 * read end), to @d from its start; a failure may have taken bytes
	 * from the pipe.
	 */
	int (*write_pipe)(void *arg, const struct mc_desc *d, const void *head,
			  uint64_t hlen, int pfd, uint64_t len);
	/*
	 * Optional, for a door that passes a value on without touching it
	 * (mc_get_pipe): read_pipe is read with the bytes going into pipe
	 * @pfd (read end, write end; empty, and as large as @len) rather
	 * than memory. 1 when all @len bytes are in the pipe; 0 when the
	 * pipe filled first (it takes one buffer per piece its source
	 * received, which may be less than a page): memory was asked for
	 * only then, once, from @room(@ctx, @len) (room for @len bytes, or
	 * NULL), and they are all there, the pipe empty again; or a
	 * negative errno (-ENOMEM when @room gave none), the pipe then
	 * holding any part of them.
	 */
	int (*read_pipe)(void *arg, const struct mc_desc *d, uint64_t off,
			 const int pfd[2],
			 void *(*room)(void *ctx, uint64_t len), void *ctx,
			 uint64_t len);
	/*
	 * Optional, for a put whose bytes go to their replica while they
	 * arrive (mc_put_stream): write_open begins a write of @len bytes
	 * to @d from its start (@d stays valid until the close) and gives
	 * it in *@w; write_feed adds the next @n bytes, from @buf, or from
	 * pipe @pfd (its read end) when @buf is NULL; write_close ends it:
	 * with @ok, once all @len bytes went, 0 when the owner took them;
	 * without, the write is dropped mid-way. Each returns 0 or a
	 * negative errno; write_close frees the write in either case.
	 */
	int (*write_open)(void *arg, const struct mc_desc *d, uint64_t len,
			  void **w);
	int (*write_feed)(void *w, const void *buf, uint64_t n, int pfd);
	int (*write_close)(void *w, bool ok);
};

/*
 * A block of a NODE-owned REMOTE segment, as the owner hooks see it.
 * The owner knows its segment by @seg_id and the block by @addr (its own
 * address, base + offset); @key, @klen, @version and @value_size are
 * those of the put that holds the block (prepare and commit only; 0 and
 * NULL for release). @term is the store's term (mc_store_set_term) at
 * the call.
 */
struct mc_owner_blk {
	const char *seg_id;
	const struct mc_owner *owner;
	uint64_t addr, size; /* the block in the owner's memory */
	uint64_t value_size;
	const void *key;
	size_t klen;
	uint64_t version;
	uint64_t term;
	/*
	 * The master's block stamp: a prepare's is taken after its block
	 * was allocated, a release's before its block went back to the
	 * allocator, so a release whose (term, stamp) is below a record's
	 * names an older block of the same range and must not drop it
	 * (releases are asynchronous: one may arrive after the range was
	 * handed out again).
	 */
	uint64_t stamp;
};

/* A key and version the owners retire (mc_owner_ops.retire). */
struct mc_retire {
	const void *key;
	size_t klen;
	uint64_t version;
};

/*
 * The owner hooks, called by a master store for blocks in NODE-owned
 * REMOTE segments only (never for client segments: a client's Transfer
 * Engine accepts any write into its registered memory; never for local
 * segments). Called with no store lock held.
 *
 *   prepare  synchronous, when a put allocates the block, before the
 *            put's descriptors are handed out: the owner then accepts
 *            WRITEs there. Non-zero fails the put (its errno is the
 *            put's; the blocks are released).
 *   commit   synchronous, when the put is published, before it is
 *            acknowledged: the owner then accepts READs and keeps the
 *            record. Non-zero fails the publish: the put is dropped and
 *            its end answers that errno.
 *   release  when the master frees the block (any thread, any time
 *            after its last reference goes): it must not block; queue
 *            and batch as needed. It may name a block whose prepare
 *            failed or was never followed by a commit.
 */
struct mc_owner_ops {
	int (*prepare)(void *arg, const struct mc_owner_blk *b);
	int (*commit)(void *arg, const struct mc_owner_blk *b);
	void (*release)(void *arg, const struct mc_owner_blk *b);
	/*
	 * A door asked the master to unmount segment @seg_id (NODE-owned)
	 * with @grace_s, and it did (mc_master_serve only, after the
	 * unmount): the owner then unmounts its memory the same way. Not
	 * called when a node's segments go because the node went.
	 */
	void (*unmount)(void *arg, const char *seg_id,
			const struct mc_owner *owner, unsigned grace_s);
	/*
	 * Synchronous: the owners must never offer these records to a new
	 * master (mooncake-cluster(7), FAILOVER), though readers keep
	 * them until their release. After a remove (every committed record
	 * of each key up to its version: @exact false), a remove_all (the
	 * same, for each key it removed), or a publish that failed after
	 * a commit was sent (exactly that version, pending or committed:
	 * @exact true). @node NULL: every node; else that one. 0 when
	 * every node retired them (or holds none any more: a node whose
	 * lease ended rejoins empty); a failure makes the remove's, or
	 * the failed publish's, outcome unknown (-ECONNABORTED), since a
	 * rebuild may find the records. The hook may try again for a
	 * while before it fails.
	 */
	int (*retire)(void *arg, const struct mc_owner *node,
		      const struct mc_retire *r, size_t n, bool exact);
};

/* ---------------------------------------------------------------- store */

/* Versions a master has left when it asks for a new term (versions_low). */
#define MC_VERSIONS_LOW (1ull << 26)

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
	 * would be under four times max_value or 256 MiB; another count is
	 * a ceiling, fewer when a slice would be under 400 MiB (the size
	 * alone decides: every store cuts a segment alike); 1 keeps one
	 * allocator for the whole segment, for a caller that must place
	 * buffers of any size up to the segment's (values never span two
	 * arenas).
	 */
	unsigned alloc_arenas;
	/*
	 * Bytes held past which mc_put copies values of 4 KiB or more into
	 * their buffers with non-temporal stores (past it a buffer being
	 * overwritten is seldom in cache, and ordinary stores would read
	 * each of its lines first). 0 picks eight times the last-level
	 * cache; UINT64_MAX never streams.
	 */
	uint64_t stream_min;
	/*
	 * Make every page of a new alloc or shm segment resident at mount
	 * (MADV_POPULATE_WRITE, MAP_POPULATE) instead of on the first write
	 * into it: the mount takes longer and holds the memory at once, and
	 * no put pays a page fault later. Alloc segments ask for transparent
	 * huge pages either way.
	 */
	bool populate;
	/*
	 * The TE metadata server (mc_store_meta): on unless @no_metadata;
	 * its published keys under "mooncake/ID/" with @metadata_cluster_id
	 * (NULL or "": "mooncake/"), which must pass mc_meta_cluster_id_ok.
	 */
	bool no_metadata;
	const char *metadata_cluster_id;
	/*
	 * How the bytes of REMOTE replicas are read (NULL: they are not;
	 * a value held only in remote memory then reads as -EREMOTEIO).
	 */
	const struct mc_data_ops *data_ops;
	void *data_arg;
	/* The owner hooks of NODE-owned segments (NULL: none called). */
	const struct mc_owner_ops *owner_ops;
	void *owner_arg;
	/*
	 * A client that has not pinged (mc_client_ping) or mounted for this
	 * long is gone (mc_store_tick expires it). 0: 10000, as upstream's
	 * client_live_ttl_sec.
	 */
	uint64_t client_ttl_ms;
	/*
	 * Cluster mode (mooncake-cluster(7)). @owner_only: this store is a
	 * node's owner store, whose objects are owner records
	 * (mc_owner_prepare) and whose doors reach the cluster's master
	 * through a link (mc_store_set_link): its own master counters are
	 * kept in a registry of their own (mc_store_metrics returns the
	 * one given to mc_store_new, for the doors' families), and its
	 * segments have one arena each (a record may lie anywhere).
	 */
	bool owner_only;
	/*
	 * Fencing of a master store: when set, every operation that
	 * mc_master_serve runs, and every owner hook, first asks it; false
	 * answers -EAGAIN (NO_LEADER) and does nothing.
	 */
	bool (*may_act)(void *arg);
	void *may_act_arg;
	/*
	 * A master's versions are (term << 32) | a count of its puts
	 * (mooncake-cluster(7), Leader and term), and the count must not wrap:
	 * a master of a term (mc_store_set_term) calls this once, from a put's
	 * start, when MC_VERSIONS_LOW of its 2^32 versions are left, so that
	 * its node hands the lead over (a new term starts the count again);
	 * once every version is given, its puts answer -EAGAIN (NO_LEADER). It
	 * must not block. NULL: nobody is told.
	 */
	void (*versions_low)(void *arg);
	void *versions_low_arg;
	/*
	 * How long the replicas named by a query with MC_F_HOLD stay
	 * allocated (a reader in another process is copying them), without
	 * the read lease's other effects. 0: 5000.
	 */
	uint64_t hold_ms;
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
/*
 * Unmounts everything at once, frees every object and the store. No
 * owner hook is called (a cluster master that goes leaves the owners'
 * records to the next master).
 */
void mc_store_free(struct mc_store *s);
struct mc_metrics *mc_store_metrics(struct mc_store *s);
const struct mc_store_opts *mc_store_get_opts(const struct mc_store *s);

/*
 * Sets the transport endpoint ("host:port") advertised in descriptors of
 * segments mounted from now on and of those already mounted. 0, or
 * -ENOMEM: the endpoint advertised stays the one before (a new store
 * advertises its hostname).
 */
int mc_store_set_endpoint(struct mc_store *s, const char *endpoint);
/*
 * Runs timers: lease-deferred frees, grace-period ends, put timeouts,
 * client expiry.
 */
void mc_store_tick(struct mc_store *s);
/*
 * The store's term (0 on a single node; cluster mode's leader sets its
 * election's): object versions started from now on are (term << 32) |
 * a sequence number, and the owner hooks carry it.
 */
void mc_store_set_term(struct mc_store *s, uint64_t term);

/* ------------------------------------------------------------- segments */

/*
 * ALLOC and SHM segments are memory of this process. A REMOTE segment is
 * a range of another process's memory (a Mooncake client's, mounted
 * through the master RPC; a cluster node's): the store allocates replica
 * buffers in it by address and never touches its bytes (its owner moves
 * them); transfer-port pins never match it.
 */
enum mc_seg_kind { MC_SEG_ALLOC = 0, MC_SEG_SHM = 1, MC_SEG_REMOTE = 2 };
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
	/*
	 * An id that is not mounted is done already, not a failure (the
	 * master RPC's UnmountSegment is idempotent, as upstream's is): it
	 * is passed over, and a call that finds nothing to unmount is 0
	 * (counted as one unmount request and no failure), on a single
	 * store and on a cluster node alike.
	 */
	bool gone_ok;
};

/*
 * Unmounts a set of segments at once. All ids must exist (a draining id
 * counts as found, and keeps its deadline; an id given twice is unmounted
 * once) and be accepted, else nothing happens: -ENOENT, and the ids that failed
 * are returned in *failed (malloc'd array of n_failed ids; free() it; may be
 * NULL when the caller does not care). grace_s = 0: replicas go at once.
 * grace_s > 0: the segments stop taking allocations at once, stay readable
 * (state draining) for grace_s seconds, then go. -EINVAL when n == 0 or grace_s
 * > MC_GRACE_MAX; -ENOMEM.
 */
int mc_segment_unmount(struct mc_store *s, const struct mc_unmount_req *req,
		       char (**failed)[MC_ID_LEN + 1], size_t *n_failed,
		       struct mc_err *err);

/*
 * Mounts a range of another process's memory as a REMOTE segment, under
 * the id its owner chose. @endpoint is where the owner moves the bytes
 * (a client's Transfer Engine te_endpoint; a node's transfer endpoint),
 * advertised in the segment's descriptors. A client owner becomes known
 * to the client registry (mc_client_ping answers OK and its expiry clock
 * starts). Mounting again exactly what is mounted (same id, owner, base,
 * size, name, endpoint and protocol) is 0 and changes nothing, as
 * upstream's MountSegment is idempotent. Counts one MountSegment, none
 * for a segment of a ReMountSegment (@remount: its door counts the call,
 * mc_call_count).
 * Errors: -EINVAL (the segment id not a lowercase RFC 4122 id; a client
 * owner not one either, a node id empty, over MC_OWNER_ID_MAX or not of
 * [A-Za-z0-9._-]; a SELF owner; base 0 or size under 64; base + size
 * wraps; an empty endpoint; a name, endpoint or protocol too long or
 * holding control bytes, a name holding '/' or being "." or ".."),
 * -EEXIST (another segment has the id: code SEGMENT_ALREADY_EXISTS),
 * -ENOMEM.
 */
struct mc_remote_req {
	const char *id;	      /* the segment id */
	const char *name;     /* NULL or "": the store's hostname */
	uint64_t base, size;  /* the range in the owner's address space */
	const char *endpoint; /* the owner's data endpoint, 1..299 bytes */
	const char *protocol; /* NULL or "": the store default; <= 7 bytes */
	struct mc_owner owner;
	/*
	 * A NODE owner's own view of the memory (its kind MC_SEG_ALLOC or
	 * MC_SEG_SHM, location, shm object and offset): the segment's
	 * mc_seg_info shows them (kind, source, location, shm_name,
	 * shm_offset) as the owner would, so every node lists it alike and
	 * the doors' kind checks hold. Ignored for other owners.
	 */
	enum mc_seg_kind origin;
	const char *location; /* NULL: "" */
	const char *shm_name; /* origin MC_SEG_SHM: the object's name */
	uint64_t shm_offset;
	bool remount; /* one of a ReMountSegment's segments: not counted */
};
int mc_segment_mount_remote(struct mc_store *s, const struct mc_remote_req *req,
			    struct mc_err *err);

/* A snapshot of one segment, safe to use after the call. */
struct mc_seg_info {
	char id[MC_ID_LEN + 1];
	char name[256];
	char protocol[8];
	char location[256];
	/* "alloc", "shm:NAME+OFFSET", "client:UUID" or "node:ID" */
	char source[300];
	/* this store's transfer endpoint, or a REMOTE segment's own */
	char endpoint[300];
	struct mc_owner owner; /* SELF for alloc and shm */
	enum mc_seg_kind kind;
	enum mc_seg_state state;
	uint64_t drain_ms; /* draining: milliseconds until it goes */
	uint64_t base;	   /* address of the first byte (in the owner) */
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
	/* distinct owners of listed segments (this store counts as one) */
	uint64_t clients;
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
	uint64_t addr; /* address in the owner's memory (here: this process) */
	uint64_t size;
	uint32_t rkey; /* rdma only */
	char seg_id[MC_ID_LEN + 1];
	char protocol[8];
	/* "host:port": this store's transfer port, or the segment owner's */
	char endpoint[300];
	struct mc_owner owner; /* the segment's owner: SELF for local memory */
};

/* What a query tells about an object besides its replicas. */
struct mc_obj_info {
	uint64_t size;	  /* value bytes */
	uint64_t version; /* (term << 32) | sequence, set at put start */
	unsigned nrep;	  /* replicas */
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
 * max_value; -ENOSPC when the space after a buffer is taken, or a
 * buffer is not in this process's memory or belongs to a NODE-owned
 * segment (whose owner was told its size) (the put is unchanged: the
 * writer moves its bytes elsewhere).
 *
 * mc_put_trim shrinks an open local put to its first @size bytes (1 ..
 * its size): the tail of every buffer goes back to the allocator. 0;
 * -EINVAL (also for buffers that mc_put_grow would not move); -ENOMEM
 * no room for the allocator's metadata (the put is unchanged and can
 * still be committed or aborted).
 */
int mc_put_grow(struct mc_put *p, uint64_t size);
int mc_put_trim(struct mc_put *p, uint64_t size);

/*
 * Replica buffers of an open put: n <= MC_REPLICA_MAX. A two-phase put
 * (mc_put_start) makes its descriptors at the start; a local one, whose
 * writer mostly uses mc_put_buffer, on the first mc_put_desc (NULL when
 * out of memory), so a put that never asks pays nothing for them.
 */
size_t mc_put_ndesc(const struct mc_put *p);
const struct mc_desc *mc_put_desc(const struct mc_put *p, size_t i);
void *mc_put_buffer(struct mc_put *p, size_t i);
/*
 * Copies @len bytes from @src to @off in replica 0's buffer of open put
 * @p (mc_put_buffer(p, 0); the commit copies them to the others), the
 * way the store's own puts copy: a large value's bytes skip the caches
 * (put.c copy_in) once the buffer is 16 MiB or more, or the store holds
 * far more than they do. For a writer that fills a buffer piece by
 * piece (the FUSE door's writes). 0; -EINVAL when @off + @len passes the
 * buffer's size.
 */
int mc_put_write(struct mc_put *p, uint64_t off, const void *src, size_t len);
/*
 * Publishes the put and lets go of the handle. Replica 0's bytes are
 * copied into the other replicas first when @copy_replicas. -ETIMEDOUT
 * when the put was revoked or ended meanwhile (by key or by the timeout).
 * A transfer-port WRITE still streaming into a buffer of the put (a
 * write pin, mc_pin_write) is waited for, up to a second; -EBUSY
 * (INVALID_WRITE) when one is still in flight then: nothing is
 * published, a registered put stays open (to be ended by key later), a
 * local one (mc_put_begin) is dropped.
 */
int mc_put_commit(struct mc_put *p, bool copy_replicas, struct mc_err *err);
/*
 * For a door that can leave a value's bytes in a pipe rather than copy
 * them into mc_put_buffer (splice(2) from its client's socket): a
 * cluster node's local put, whose bytes go to their owners at the
 * commit, takes them so (mc_store_pipes says whether this store's puts
 * and gets do: a cluster node whose data hooks have write_pipe and
 * read_pipe; mc_get_pipe is the get). mc_put_commit_pipe is mc_put_commit
 * (without copy_replicas) of a value whose first @hlen bytes are in
 * mc_put_buffer(p, 0) and whose other bytes are in pipe @pfd (its read end), in
 * order: they go to a replica of another node without crossing this process's
 * memory, or are read into the buffer first. Errors as mc_put_commit, -EINVAL
 * for a two-phase put or a store without pipes, -EIO when the pipe holds fewer
 * bytes; the pipe may keep bytes after a failure.
 */
bool mc_store_pipes(const struct mc_store *s);
int mc_put_commit_pipe(struct mc_put *p, uint64_t hlen, int pfd,
		       struct mc_err *err);
/*
 * For a door that can pass a value on while it arrives (on a store whose
 * puts take pipes, mc_store_pipes): asks the master for the places of
 * local put @p (mc_put_begin) now, before its bytes. 1: the value has one
 * replica, on another node, and its write has begun: the door then hands
 * every byte over in order with mc_put_stream_feed, from memory or a
 * pipe (not mc_put_buffer), and ends with mc_put_commit (which waits for
 * the owner) or mc_put_abort (which revokes the put). 0: it goes as
 * before (mc_put_buffer, then a commit). <0: the put failed and is gone
 * (as mc_put_abort); errors as mc_put_commit.
 */
int mc_put_stream(struct mc_put *p, struct mc_err *err);
/*
 * The next @n bytes of a streamed put @p: from @buf, or from pipe @pfd
 * (its read end) when @buf is NULL. 0, or a negative errno (the put then
 * only ends by mc_put_abort): -EINVAL past the put's size, -EAGAIN
 * (TRANSFER_FAIL) when the owner could not be written.
 */
int mc_put_stream_feed(struct mc_put *p, const void *buf, uint64_t n, int pfd,
		       struct mc_err *err);
/*
 * Commits the first @size bytes (1 .. its size) of open local put @p at a
 * new place of exactly @size bytes in every replica, where good fit puts
 * a value among its like, rather than where @p's larger buffer went; @p's
 * buffers go back. Counted as @p's one PutEnd (no second PutStart); when
 * no new place can be had, @p is dropped and counted as a PutRevoke.
 * The handle is gone either way. 0 or mc_put_commit's errors; -EINVAL
 * for a registered put or a @size out of range; -ENOSPC.
 */
int mc_put_commit_exact(struct mc_put *p, uint64_t size, struct mc_err *err);
/*
 * Commits @len bytes (1 or more) from @val, a copy its writer made
 * elsewhere when the put could not grow in place (mc_put_grow), as open
 * local put @p's value, at a new place of exactly @len bytes; @p's
 * buffers go back. Counted as @p's one PutEnd (no second PutStart), or
 * as its PutRevoke when no place can be had, as mc_put_commit_exact.
 * The handle is gone either way. 0 or mc_put_commit's errors; -EINVAL
 * for a registered put or @len 0; -ENOSPC.
 */
int mc_put_commit_copy(struct mc_put *p, const void *val, uint64_t len,
		       struct mc_err *err);
/* Drops the put without publishing (counts a PutRevoke) and the handle. */
void mc_put_abort(struct mc_put *p);
/*
 * Counts a local put that its writer began and dropped before any of its
 * bytes had a buffer (a keys/ file whose write failed while its bytes
 * waited on the heap, or before they had a place: mooncakefs(5)): one
 * PutStart and one PutRevoke, what mc_put_begin and mc_put_abort would
 * have counted, so that such a put counts the same wherever its bytes
 * waited. Places nothing and evicts nothing. A cluster node counts
 * nothing: its leader counts the puts it is asked for, and a local put
 * whose bytes were never sent is none (mc_put_abort of one counts none).
 */
void mc_put_count_dropped(struct mc_store *s);
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
 * How a two-phase put is placed and whose it is; zeroed is mc_put_start.
 * Placement: one buffer in each of min(replicas, eligible segments)
 * distinct segments that take allocations, segments named @prefer first,
 * then one per distinct owner, then any. Only this store's own segments
 * are eligible unless @remote_ok (the master RPC's PutStart; HTTP and
 * FUSE never place a value in another process's memory).
 */
struct mc_put_opts {
	/* The writer (NULL: SELF); end and revoke by key must name it. */
	const struct mc_owner *writer;
	unsigned replicas;  /* 0: the store's replica_num; <= MC_REPLICA_MAX */
	const char *prefer; /* a segment name tried first; NULL or "": none */
	bool remote_ok;	    /* REMOTE segments are eligible */
	/*
	 * -EEXIST (OBJECT_ALREADY_EXISTS) when the key is published
	 * already, as upstream's PutStart answers (its clients take it as
	 * success); otherwise a put replaces the value when it ends. At a
	 * cluster master (with owner hooks), a put that ends after a put
	 * of the key started later, or after a remove of it, is over at
	 * once (mooncake-cluster(7)), as if it had ended just before.
	 */
	bool no_replace;
	bool batch; /* an item of a batch: counted by mc_batch_count only */
	/*
	 * An owner whose segments are tried first (a cluster node putting
	 * a value: its own memory, then the others'); NULL: none.
	 */
	const struct mc_owner *near;
	/*
	 * A put that does not claim its key: other puts of the key may be
	 * open at once (the last end wins, as for local puts, except at a
	 * cluster master: there the one started later wins); it is ended
	 * or revoked by key and version (mc_put_end_version). The cluster
	 * façade's puts are such.
	 */
	bool shared;
};

/*
 * mc_put_start with options. Errors as mc_put_start, and -EEXIST (see
 * no_replace); a second start of an open key fails with -EBUSY (code
 * OBJECT_ALREADY_EXISTS) whoever the writers are. The put gets its
 * object version now (mc_put_version). With the owner hooks installed,
 * each block in a NODE-owned segment is prepared before this returns.
 */
int mc_put_start_opts(struct mc_store *s, const void *key, size_t klen,
		      uint64_t size, const struct mc_put_opts *o,
		      struct mc_put **out, struct mc_err *err);
/* The version the put's object will have: (term << 32) | sequence. */
uint64_t mc_put_version(const struct mc_put *p);

/*
 * End or drop the open put of @key on behalf of @writer (NULL: SELF):
 * -ENOENT (OBJECT_NOT_FOUND) when no put of the key is open, -EPERM
 * (ILLEGAL_CLIENT) when another writer started it (the put stays open),
 * -EINVAL (INVALID_KEY); end: -EIO or the hook's errno when an owner's
 * commit fails (the put is dropped); -EBUSY (INVALID_WRITE) when a
 * transfer-port WRITE into the put is still in flight after a second's
 * wait, or another end of it is waiting so (the put stays open; ending
 * it again later publishes it); -ETIMEDOUT when it was revoked (or timed
 * out) during that wait. Before that, an end whose local tcp buffers
 * lack bytes waits (within the same second) while the transfer port holds
 * input it has not read (mc_data_ops.input_pending): a v1 WRITE sent
 * before the end may be there. mc_put_end and mc_put_revoke are
 * these with a NULL writer. With @batch the end or revoke is an item of
 * a batch, counted by mc_batch_count only (no PutEnd or PutRevoke).
 */
int mc_put_end_by(struct mc_store *s, const void *key, size_t klen,
		  const struct mc_owner *writer, bool batch,
		  struct mc_err *err);
int mc_put_revoke_by(struct mc_store *s, const void *key, size_t klen,
		     const struct mc_owner *writer, bool batch,
		     struct mc_err *err);

/*
 * A reference to one published version of an object. While held, the
 * bytes stay valid and unchanged. Counts one GetReplicaList.
 * Errors: -ENOENT, -EINVAL bad key. A value with a replica in local
 * memory is read there; one held only in REMOTE segments is fetched
 * through the data hooks into a private copy that the reference owns,
 * trying each replica in turn: -EREMOTEIO (REMOTE_ONLY) when no replica
 * could be read (no hooks, owner unreachable, or the segment went
 * meanwhile: never stale or foreign bytes), -ENOMEM.
 */
struct mc_ref;
int mc_get(struct mc_store *s, const void *key, size_t klen,
	   struct mc_ref **out);
const void *mc_ref_data(const struct mc_ref *r); /* one complete replica */
uint64_t mc_ref_size(const struct mc_ref *r);
void mc_ref_release(struct mc_ref *r);
/*
 * mc_get for a door that can answer from a pipe (splice(2) into its
 * client's socket): on a store whose gets take pipes (mc_store_pipes),
 * a value of MC_PIPE_MIN to @room bytes read from another node lands in
 * pipe @pfd (read end, write end; empty, with room for @room bytes)
 * without crossing this process's memory. 1 and *@size: the whole value
 * is in the pipe (no reference). 0 and *@out: as mc_get (a replica in
 * this node's memory, a value smaller or larger than that, a pipe that
 * filled first, a store without pipes). Or mc_get's errors. After any
 * outcome but 1 the pipe may hold part of a value (a read through it
 * failed and another replica was read into memory): the door checks
 * before it uses the pipe again.
 */
#define MC_PIPE_MIN (64u << 10) /* smaller values cost less copied */
int mc_get_pipe(struct mc_store *s, const void *key, size_t klen,
		const int pfd[2], uint64_t room, struct mc_ref **out,
		uint64_t *size);
/*
 * Convenience: copies up to @cap bytes from @off; returns bytes copied,
 * or mc_get's errors (a REMOTE-only value: only the range asked for is
 * fetched).
 */
int64_t mc_get_copy(struct mc_store *s, const void *key, size_t klen,
		    uint64_t off, void *buf, uint64_t cap);

/* Value size without counting a get (stat): 0 or -ENOENT. */
int mc_stat(struct mc_store *s, const void *key, size_t klen, uint64_t *size);

/* 1 exists, 0 not (a cluster node: -EAGAIN, no leader). Counts one ExistKey. */
int mc_exist(struct mc_store *s, const void *key, size_t klen);

/* Flags of mc_exist_ex and mc_query_ex. */
#define MC_F_BATCH 1u /* an item of a batch: counted by mc_batch_count */
#define MC_F_LEASE 2u /* exist: grant the read lease a query grants */
/*
 * query: instead of the read lease, hold the replicas allocated for
 * hold_ms (a get in another process copies them): a hold does not keep
 * a remove from taking the value; eviction passes over it while the hold
 * lasts (its bytes would not come back before: mooncaked(8)).
 */
#define MC_F_HOLD 4u
/*
 * query: describe the replicas only: no lease, no hold, and no
 * GetReplicaList counted (a HEAD of the query routes: mooncake-http(7)).
 */
#define MC_F_PEEK 8u

/*
 * mc_exist with @flags: MC_F_LEASE leases the object's replicas as
 * upstream's ExistKey does (its clients read next). Returns 1, 0,
 * -EINVAL for a bad key (counted as a failure), or in cluster mode
 * -EAGAIN while no leader serves.
 */
int mc_exist_ex(struct mc_store *s, const void *key, size_t klen,
		unsigned flags);

/*
 * Describes the replicas of a key and grants them a read lease of
 * lease_ttl_ms. Fills at most @max descriptors; returns how many replicas
 * there are (may exceed @max) or -ENOENT. Counts one GetReplicaList.
 */
int mc_query(struct mc_store *s, const void *key, size_t klen,
	     struct mc_desc *out, size_t max);
/*
 * mc_query with @flags (MC_F_BATCH) that also fills @info (when not
 * NULL) with the object's size, version and replica count.
 */
int mc_query_ex(struct mc_store *s, const void *key, size_t klen,
		unsigned flags, struct mc_desc *out, size_t max,
		struct mc_obj_info *info);
/* Batch form: counts one BatchGetReplicaList with @nkeys items (and no
 * GetReplicaList). Calls @cb once per key in order with what mc_query
 * would return for it. */
void mc_query_batch(struct mc_store *s, size_t nkeys, const char *const *keys,
		    const size_t *klens,
		    void (*cb)(size_t i, int rc, const struct mc_desc *d,
			       size_t nd, void *arg),
		    void *arg);

/*
 * Counts one batch call of @op with @items items of which @failed failed
 * (master_batch_*: a failure when all failed, a partial success when
 * some did), for doors that run a batch as items flagged MC_F_BATCH.
 */
enum mc_batch_op {
	MC_BATCH_EXIST,
	MC_BATCH_QUERY,
	MC_BATCH_PUT_START,
	MC_BATCH_PUT_END,
	MC_BATCH_PUT_REVOKE,
	MC_BATCH_NOPS
};
void mc_batch_count(struct mc_store *s, enum mc_batch_op op, uint64_t items,
		    uint64_t failed);

/*
 * Counts one call of @op, and one failure of it when @failed
 * (master_X_requests_total, master_X_failures_total), for a door's call
 * that runs no store operation counting it: the master RPC's FetchTasks,
 * and its ReMountSegment (whose mounts, flagged remount, count no
 * MountSegment). In cluster mode the leader counts it, as every master_*
 * family.
 */
enum mc_call_op { MC_CALL_FETCH_TASKS, MC_CALL_REMOUNT_SEGMENT, MC_CALL_NOPS };
void mc_call_count(struct mc_store *s, enum mc_call_op op, bool failed);

/*
 * Removes a key. -ENOENT; -EBUSY when a read lease holds it (the Mooncake
 * error OBJECT_HAS_LEASE) and !force. A cluster's master: -ECONNABORTED
 * when the key went from the index but some node could not retire its
 * records (a failover may bring it back: the outcome is unknown); a
 * cluster node: also -EAGAIN (no leader: nothing happened) and
 * -ECONNABORTED (the leader's answer was lost).
 */
int mc_remove(struct mc_store *s, const void *key, size_t klen, bool force,
	      struct mc_err *err);
/*
 * Removes every object (leased ones only with force); returns how many,
 * or in cluster mode -EAGAIN or -ECONNABORTED as mc_remove (an outcome
 * that is unknown: some or all of them may be gone).
 */
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
 * 0 at the end of the store. Keys added or removed between calls may or
 * may not be seen; a key present throughout is seen, and twice only when
 * the call stopped in its hash chain and its shard grew before the next
 * call. A call copies only the keys it goes through (a few hundred at a
 * time), however large the store.
 */
int mc_key_walk(struct mc_store *s, uint64_t *cursor,
		int (*cb)(const void *key, size_t klen, uint64_t size,
			  void *arg),
		void *arg);

/* ------------------------------------------------------------ metadata */

/*
 * The Transfer Engine's metadata server (mooncake-http(7), METADATA;
 * mooncake-transfer(7)): an in-memory key-value store of opaque bodies,
 * where Transfer Engine (TE) clients put their own segment descriptors and
 * locations, plus the keys this node publishes: for every node registered
 * with mc_meta_publish, its segment descriptor PREFIX "ram/" NAME and its
 * location PREFIX "rpc_meta/" NAME, rendered afresh at every read (a mount
 * or an unmount shows at once) and refused to mc_meta_put and
 * mc_meta_delete. PREFIX is "mooncake/", or "mooncake/ID/" with a
 * cluster id.
 *
 * A store has one (mc_store_meta), unless its options turn it off.
 * Thread-safe: one rwlock over the keys and the published nodes; bodies
 * are copied in and out, never handed out.
 */
#define MC_META_BODY_MAX       (1u << 20)  /* largest body */
#define MC_META_BYTES_MAX      (64u << 20) /* keys + bodies (+64 each) stored */
#define MC_META_CLUSTER_ID_MAX 255

struct mc_meta;
struct mc_buf;

/*
 * Whether @id may be a metadata cluster id: 1 .. MC_META_CLUSTER_ID_MAX
 * bytes of printable ASCII without blanks (TE reads it from an
 * environment variable and puts it in keys as it is).
 */
bool mc_meta_cluster_id_ok(const char *id);

/* The store's metadata server, or NULL when its options turned it off. */
struct mc_meta *mc_store_meta(struct mc_store *s);
/* "mooncake/" or "mooncake/ID/": where the published keys live. */
const char *mc_meta_prefix(const struct mc_meta *m);

/*
 * A node whose TE segment is published. @buffers walks the node's memory:
 * it calls @emit once per buffer (a non-zero return from @emit stops the
 * walk and is returned); NULL means the store's own segments whose bytes
 * live in this process (alloc and shm, draining ones included). It is
 * called under the metadata lock: it must not call mc_meta_*. Cluster
 * mode publishes each node with a walk over that node's segments.
 */
struct mc_meta_node {
	const char *name;   /* TE segment name: the transport endpoint */
	const char *host;   /* rpc_meta's ip_or_host_name */
	unsigned data_port; /* tcp_data_port, 1 .. 65535 */
	int (*buffers)(void *arg,
		       int (*emit)(void *ctx, uint64_t addr, uint64_t len),
		       void *ctx);
	void *arg;
};

/*
 * Publishes (or re-publishes, replacing) the node named n->name: from now
 * on PREFIX "ram/" NAME reads
 *   {"name":NAME,"protocol":"tcp","tcp_data_port":PORT,
 *    "tcp_proto_version":2,"buffers":[{"name":NAME,"addr":A,"length":L},
 *    ...],"timestamp":"YYYY-MM-DD HH:MM:SS.uuuuuu"}
 * (the timestamp: when the store's segment table last changed, local
 * time, as TE writes it) and PREFIX "rpc_meta/" NAME reads
 *   {"ip_or_host_name":HOST,"rpc_port":PORT-1}
 * (rpc_port is never used for data; TE clients up to v0.3.4 connect to
 * rpc_port + 1). Stored keys of those names are dropped. The strings are
 * copied. 0, -EINVAL (empty name or host, a NUL, a bad port), -ENOMEM.
 */
int mc_meta_publish(struct mc_meta *m, const struct mc_meta_node *n,
		    struct mc_err *err);
/* Stops publishing @name: 0, or -ENOENT. */
int mc_meta_unpublish(struct mc_meta *m, const char *name);
/*
 * Tells @m which names other nodes of the cluster publish (@fn(@arg,
 * NAME, LEN), any thread): their ram/ and rpc_meta/ keys are refused to
 * outside PUT and DELETE here as this node's own are (403), since their
 * own server answers for them (mooncake-transfer(7)). Before serving.
 */
void mc_meta_set_foreign(struct mc_meta *m,
			 bool (*fn)(void *arg, const char *name, size_t n),
			 void *arg);
/*
 * Whether @key may be written now with a body of @len bytes (0 when not
 * known yet), so that a door can answer before it reads the body
 * (mc_meta_put and mc_meta_delete check again): 0, -EPERM (published),
 * -EINVAL (not a key), -ENOSPC (the store is full), with @err.
 */
int mc_meta_writable(struct mc_meta *m, const char *key, size_t klen,
		     uint64_t len, struct mc_err *err);

/*
 * Appends the body of @key (@klen bytes) to @out: 0, -ENOENT (no such
 * key), -EINVAL (not a key: the rule of mc_key_check).
 */
int mc_meta_get(struct mc_meta *m, const char *key, size_t klen,
		struct mc_buf *out, struct mc_err *err);
/*
 * Stores @len bytes (0 .. MC_META_BODY_MAX) under @key: 0 (stored), 1
 * (unchanged: a key holding "rpc_meta" that already has this very body).
 * Errors: -EEXIST (a key holding "rpc_meta" that already has another
 * body: TE locations are not overwritten), -EPERM (a published key),
 * -EFBIG (body too large), -ENOSPC (MC_META_BYTES_MAX reached), -EINVAL
 * (not a key), -ENOMEM.
 */
int mc_meta_put(struct mc_meta *m, const char *key, size_t klen,
		const void *body, size_t len, struct mc_err *err);
/* Removes @key: 0, -ENOENT, -EPERM (published), -EINVAL (not a key). */
int mc_meta_delete(struct mc_meta *m, const char *key, size_t klen,
		   struct mc_err *err);
/*
 * Calls @cb for every key, stored and published, with its body's size,
 * in no particular order, without the lock (keys are copied out first):
 * keys added or removed meanwhile may or may not be seen. A non-zero
 * return from @cb stops the walk and is returned; -ENOMEM.
 */
int mc_meta_foreach(struct mc_meta *m,
		    int (*cb)(const char *key, size_t klen, uint64_t size,
			      void *arg),
		    void *arg);
/* -------------------------------------------------------------- clients */

/*
 * The client registry: the Mooncake clients that own REMOTE segments.
 * A client becomes known when it mounts a segment (mc_segment_mount_remote)
 * or registers (mc_client_register, upstream's ReMountSegment); each
 * mount, registration and ping restarts its expiry clock. A known client
 * silent for client_ttl_ms is gone (mc_store_tick): its segments are
 * unmounted as with no grace period (objects whose last replica was there
 * go) and its open puts are revoked; it is unknown again until it
 * remounts.
 */
enum mc_client_status {
	MC_CLIENT_OK = 1,	    /* the store knows the client's segments */
	MC_CLIENT_NEED_REMOUNT = 2, /* it does not: remount them */
};

/*
 * A client's heartbeat (upstream Ping): MC_CLIENT_OK and the clock
 * restarted for a known client, MC_CLIENT_NEED_REMOUNT for an unknown one
 * (never seen, or expired; nothing is recorded for it), -EINVAL for a
 * bad UUID. Counts one Ping.
 */
int mc_client_ping(struct mc_store *s, const char *uuid);
/* Makes a client known (with or without segments): 0, -EINVAL, -ENOMEM. */
int mc_client_register(struct mc_store *s, const char *uuid);
/* Clients known now. */
size_t mc_client_count(struct mc_store *s);

/* -------------------------------------------------- transfer-port access */

/*
 * Pins [addr, addr+size) for a remote READ (it must lie inside one live
 * replica of a complete object) or WRITE (inside one buffer of an open
 * put), in this process's own segments (never a REMOTE one). Returns 0
 * and a pin to release after the copy, or -EACCES.
 *
 * A write pin is a WRITE in flight: while one is held, the put cannot be
 * published (mc_put_commit and mc_put_end wait for it, then refuse), and
 * once the put is being published no new write pin is given.
 */
struct mc_pin;
int mc_pin_read(struct mc_store *s, uint64_t addr, uint64_t size,
		struct mc_pin **out);
int mc_pin_write(struct mc_store *s, uint64_t addr, uint64_t size,
		 struct mc_pin **out);
/*
 * A write pin's WRITE has put @n bytes into its buffer (call it before
 * mc_pin_release; nothing for a read pin or NULL): ending the put counts
 * them to know whether its buffers got all their bytes.
 */
void mc_pin_wrote(struct mc_pin *p, uint64_t n);
/*
 * Releases @p (NULL: nothing): 0, or for a write pin -ESTALE when its
 * put was revoked (or timed out) while the WRITE was in flight, so the
 * bytes written went nowhere.
 */
int mc_pin_release(struct mc_pin *p);

/* -------------------------------------------------------------- cluster */

/*
 * Cluster mode (mooncake-cluster(7)): several nodes, one store. Every
 * node has an owner store (owner_only) holding its own memory; the
 * leader also runs a master store whose segments are all REMOTE, owned
 * by their nodes (its own included): the master allocates by address
 * and never touches bytes. The core holds both sides and the messages
 * between them (mc_master_serve, mc_owner_serve); the node's runtime
 * (cluster/node.h) carries them, elects, and fences.
 *
 * Owner records. For every block a master allocates in one of its
 * segments, the owner store keeps a record: the key, the object
 * version, the value size, and whether the put was committed. A record
 * is pending from its prepare (transfer-port WRITEs may fill it) to its
 * commit (READs may read it), and goes at its release or, pending, when
 * put_timeout_ms passes. A new master rebuilds its index from what the
 * owners report. An owner store never evicts.
 *
 * Terms. Every instruction to an owner carries the master's term; the
 * owner keeps the highest it has seen and refuses older ones (-ESTALE,
 * STALE_TERM): once a new master has asked for a report, the old one
 * can change nothing.
 */

/* One owner record, as mc_owner_report tells it. */
struct mc_owner_rec {
	const char *seg_id;
	uint64_t addr, size; /* the block, in this process's memory */
	uint64_t value_size;
	const void *key;
	size_t klen;
	uint64_t version;
	uint64_t term, stamp; /* of the prepare (mc_owner_blk) */
	bool committed;
	bool retired; /* removed: never adopted again (mc_owner_retire) */
};

/*
 * The highest term this owner has seen; mc_owner_term_adopt raises it to
 * @term: 0, or -ESTALE when @term is older.
 */
uint64_t mc_owner_term(struct mc_store *s);
int mc_owner_term_adopt(struct mc_store *s, uint64_t term, struct mc_err *err);

/*
 * Prepare: a pending record for @b at exactly its address (a local alloc
 * or shm segment of @b->seg_id), WRITEs accepted there from now on.
 * Blocks in the way are records whose release has not arrived yet (the
 * master freed them): they go first. Preparing again what is prepared
 * (same address, key and version) is 0. Errors: -ESTALE (older term),
 * -ENOENT (no such segment, or the range is not inside it), -EINVAL
 * (a bad key, value size 0 or larger than the block), -EBUSY (a block
 * in the way is still read or written), -ENOMEM.
 */
int mc_owner_prepare(struct mc_store *s, const struct mc_owner_blk *b,
		     struct mc_err *err);
/*
 * Commit: the pending record of @b's address, key and version becomes
 * readable (WRITEs still in flight are waited for, a second at most).
 * Committing a committed record is 0. Errors: -ESTALE (@b's term is
 * older than the owner's, when the commit begins or when it would
 * mark the record: a report to a newer master in between said
 * pending), -ENOENT (no such pending record: released, timed out,
 * retired, or never prepared), -EBUSY (a WRITE is still in flight).
 */
int mc_owner_commit(struct mc_store *s, const struct mc_owner_blk *b,
		    struct mc_err *err);
/*
 * Release: the record at @b's address goes, unless @b's (term, stamp)
 * is not above the record's (an older release of that range: see
 * mc_owner_blk.stamp) or @b's term is older than the owner's. Readers
 * that hold its bytes keep them until they let go.
 */
void mc_owner_release(struct mc_store *s, const struct mc_owner_blk *b);
/*
 * Retire: the records of @r's key whose version is @r's (@exact: the
 * pending one too, whose commit is then refused) or the committed ones
 * up to it stay readable until released but are never reported as
 * adoptable again. 0, or -ESTALE (older @term).
 */
int mc_owner_retire(struct mc_store *s, uint64_t term,
		    const struct mc_retire *r, bool exact, struct mc_err *err);
/*
 * Calls @seg for each of this store's own segments and @rec for each
 * record (a snapshot: the callbacks run without locks). A non-zero
 * return stops the walk and is returned. -ENOMEM.
 */
int mc_owner_report(struct mc_store *s,
		    int (*seg)(const struct mc_seg_info *si, void *arg),
		    int (*rec)(const struct mc_owner_rec *r, void *arg),
		    void *arg);
/* Records held now (pending and committed). */
size_t mc_owner_count(struct mc_store *s);

/*
 * Master side of a rebuild: makes the object @key of @version from
 * blocks that its owners hold (@n replicas, each at @rep's address in a
 * mounted REMOTE segment) without calling any owner hook. Replicas whose
 * range is taken or outside its segment are left out; none left is
 * -ENOENT. -EEXIST when the key has an equal or newer version already.
 * -EINVAL (a bad key, n 0 or over MC_REPLICA_MAX), -ENOMEM.
 */
struct mc_adopt_rep {
	const char *seg_id;
	uint64_t addr, size;
	bool taken; /* out: this replica is the object's */
};
int mc_master_adopt(struct mc_store *m, const void *key, size_t klen,
		    uint64_t version, uint64_t value_size,
		    struct mc_adopt_rep *rep, unsigned n, struct mc_err *err);
/* Revokes every open put of @writer (a node that left): how many. */
size_t mc_put_revoke_writer(struct mc_store *s, const struct mc_owner *writer);

/* ------------------------------------------------------- cluster wire */

/*
 * The messages. Requests to a master (from a follower's link, or the
 * leader's own) go to mc_master_serve; requests to an owner (from the
 * leader's owner hooks) to mc_owner_serve. Both always append a whole
 * answer to @resp (its result code inside) and return 0, or -EPROTO
 * for bytes that are no request (nothing appended): a door answers 400.
 * @term of mc_master_serve is the master's, put in every answer.
 */
int mc_master_serve(struct mc_store *m, uint64_t term, const void *req,
		    size_t len, struct mc_buf *resp);
int mc_owner_serve(struct mc_store *own, const void *req, size_t len,
		   struct mc_buf *resp);

/* Owner requests, for the runtime that carries a master's owner hooks. */
enum mc_owner_op {
	MC_OWNER_PREPARE = 1,
	MC_OWNER_COMMIT,
	MC_OWNER_RELEASE,
	MC_OWNER_REPORT,
	MC_OWNER_UNMOUNT,
	MC_OWNER_RETIRE,
};
/* A prepare or commit of @b (@b->term is the message's term). */
void mc_owner_msg_blk(struct mc_buf *out, enum mc_owner_op op,
		      const struct mc_owner_blk *b);
/* A release of @n blocks, in one message of @term. */
void mc_owner_msg_release(struct mc_buf *out, uint64_t term,
			  const struct mc_owner_blk *b, size_t n);
/* A report: the owner adopts @term and answers its segments and records. */
void mc_owner_msg_report(struct mc_buf *out, uint64_t term);
/* An unmount of the owner's segment @seg_id with @grace_s. */
void mc_owner_msg_unmount(struct mc_buf *out, uint64_t term, const char *seg_id,
			  unsigned grace_s);
/* A retire of @n keys (mc_owner_ops.retire). */
void mc_owner_msg_retire(struct mc_buf *out, uint64_t term,
			 const struct mc_retire *r, size_t n, bool exact);
/*
 * The result of an owner's answer: its code (0 or -errno, with @err),
 * or -EPROTO when the bytes are no answer.
 */
int mc_owner_msg_result(const void *resp, size_t len, struct mc_err *err);

/*
 * A rebuild, on a master store of a new term: mc_master_ingest takes
 * one owner's report (the answer to mc_owner_msg_report; @node its
 * owner): it mounts the node's segments as REMOTE, and keeps its
 * records for mc_master_settle (@adopt), or releases them all at once
 * (!@adopt: a node that joins a serving master holds nothing it knows).
 * mc_master_settle then makes, per key, the highest committed version
 * among the kept records the object (every committed record of that
 * version a replica) and releases every other record. Both release
 * through the owner hooks. Ingest: 0, -EPROTO (not a report), -EINVAL,
 * -ENOMEM, with @err; a segment that cannot be mounted is logged and
 * left out, and so are its records.
 */
int mc_master_ingest(struct mc_store *m, const struct mc_owner *node,
		     const void *report, size_t len, bool adopt,
		     struct mc_err *err);
/* Returns the number of objects made. */
size_t mc_master_settle(struct mc_store *m);

/* ------------------------------------------------------- cluster link */

/* The cluster as a node sees it (GET /api/cluster, cluster/ in the tree). */
struct mc_cluster_node {
	char id[MC_OWNER_ID_MAX + 1];
	char http[256];	    /* advertised "host:port" */
	char transfer[256]; /* advertised "host:port" */
	char hostname[256];
	bool leader;
	uint64_t segments; /* segments the master lists for the node */
};

struct mc_cluster_info {
	char name[256]; /* --cluster */
	char self[MC_OWNER_ID_MAX + 1];
	uint64_t term;			  /* the leader's, 0 when none */
	char leader[MC_OWNER_ID_MAX + 1]; /* "" when none */
	bool serving;	    /* a leader answers metadata operations */
	uint64_t elections; /* leaders this node has seen elected */
	size_t n;
	struct mc_cluster_node *nodes; /* n, sorted by id; malloc'd */
};

enum mc_wire_kind { MC_WIRE_MASTER = 1, MC_WIRE_OWNER = 2, MC_WIRE_META = 3 };

/*
 * What an owner store needs from its node's runtime:
 *   call     sends one master request (link.c encodes it) to the
 *            leader and fills @resp with its answer: 0, or -EAGAIN
 *            (NO_LEADER: none known, or it cannot be reached or does
 *            not serve now) with @err. Any thread, blocking.
 *   serve    the internal API's server side (mc_internal_serve):
 *            @which request of @len bytes, answer into @resp; returns
 *            0, -EPROTO (400), -EAGAIN (503: not the leader, or not
 *            serving yet); MC_WIRE_META: the request is a metadata key,
 *            the answer this node's own body for it, or -ENOENT.
 *   cluster  fills the cluster view: 0 or -ENOMEM.
 *   meta     looks a metadata key up in the other nodes' own metadata
 *            (their MC_WIRE_META): 0 with the body in @out, -ENOENT
 *            when no node has it, with @err. Any thread, blocking.
 */
struct mc_link_ops {
	int (*call)(void *arg, const struct mc_buf *req, struct mc_buf *resp,
		    struct mc_err *err);
	int (*serve)(void *arg, enum mc_wire_kind which, const void *req,
		     size_t len, struct mc_buf *resp);
	int (*cluster)(void *arg, struct mc_cluster_info *out);
	int (*meta)(void *arg, const char *key, size_t klen, struct mc_buf *out,
		    struct mc_err *err);
};

/*
 * Installs the link on an owner store (before its doors start; never
 * changed afterwards): from then on the store's metadata operations
 * (puts, gets, queries, removes, key walks, segment lists, mounts and
 * unmounts, usage, clients, the master_* metrics and the summary) go to
 * the cluster's master, and the bytes of a value move between this
 * store's memory and the owners' (the data hooks); @node_id names this
 * node (its segments' owner). The doors keep calling the same
 * functions. A metadata operation with no master to answer fails with
 * -EAGAIN (NO_LEADER); calls that return no error (mc_store_usage,
 * mc_store_recent, mc_store_value_sizes, mc_store_keys_gen) then answer
 * zeros.
 */
void mc_store_set_link(struct mc_store *s, const struct mc_link_ops *ops,
		       void *arg, const char *node_id);
/* True when @s has a link (cluster mode). */
bool mc_store_linked(const struct mc_store *s);
/*
 * The internal API (mooncake-http(7), INTERNAL API) for the doors:
 * -ENOENT without a link (single node: the door answers 404), else the
 * link's serve.
 */
int mc_internal_serve(struct mc_store *s, enum mc_wire_kind which,
		      const void *req, size_t len, struct mc_buf *resp);
/*
 * A metadata key as the whole store knows it (GET /metadata, and the
 * transfer port finding a client's descriptor): this node's own body, or
 * in cluster mode, when it has none, another node's (the link's meta).
 * 0 with the body appended to @out, -ENOENT (no node has it; also when
 * this node serves no metadata), -EINVAL (not a key), with @err.
 */
int mc_meta_find(struct mc_store *s, const char *key, size_t klen,
		 struct mc_buf *out, struct mc_err *err);
/* The cluster view: 0, -ENOENT without a link, -ENOMEM. */
int mc_cluster_info(struct mc_store *s, struct mc_cluster_info *out);
void mc_cluster_info_release(struct mc_cluster_info *ci);

#endif
