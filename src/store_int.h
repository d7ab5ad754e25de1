/*
 * store_int.h - the store's internals, shared by the files of the store
 * (listed below, above their calls). Nothing outside src/ includes this.
 *
 * Ownership and references:
 *
 *   segment  <- one reference from the segment table while listed, one
 *               from each of its arenas that has a block allocated. Its memory
 * is unmapped when the last goes, so a reader pinning a block of an unmounted
 *               segment never touches unmapped memory.
 *   block    <- u.ref counts: each object version listing it, an open put
 *               holding it, each transfer-port pin, and the lease queue
 *               while its lease runs. At 0 it returns to the allocator.
 *   object   <- ref counts: the index (1 while published) and every
 *               mc_ref handed to a reader. At 0 its blocks are unref'd.
 *
 * Lock order: meta->lock (rw, meta.c) -> seg_lock (rw) -> an arena's
 * lock (mutex; never two arenas at once). Shard locks, the lease mutex
 * and the pending mutex are never held together with each other or with
 * seg_lock, and no arena lock is taken under them: block frees take the
 * block's arena lock alone. The client registry's mutex comes before all
 * of them: a client's expiry unmounts under it.
 *
 * The object index (index.c) is read without locks. Gets walk a shard's
 * chains inside an ebr.h read section and check the shard's sequence
 * count around the walk; writers (publish, unlink, growth, eviction,
 * unmount) hold the shard's rwlock for writing through shard_lock() and
 * shard_unlock(), which make the count odd while they change links;
 * walkers that need a stable view (iteration, eviction scans) hold it
 * for reading. Every link (a bucket, an object's next) is atomic: stored
 * with release once the object it points to is complete, loaded with
 * acquire. An object or bucket array that readers may still be walking is
 * handed to ebr_retire(), never to free(). A version's fields other than
 * next, ref and atime never change once it is published.
 */
#ifndef MC_STORE_INT_H
#define MC_STORE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "alloc.h"
#include "metrics.h"
#include "mooncake.h"

#define MC_BUF_ALIGN 64u /* replica buffer alignment in a segment */
/* The end of the widest user address space (57 bits): a remote
 * segment's base + size may not pass it. */
#define MC_REMOTE_END (1ull << 57)
/* The most bytes a store's segments may add up to, well below 2^64. */
#define MC_CAPACITY_MAX (1ull << 60)

/* The size of the buffer a segment gives @size bytes. */
static inline uint64_t buf_round(uint64_t size)
{
	return (size + MC_BUF_ALIGN - 1) & ~(uint64_t)(MC_BUF_ALIGN - 1);
}

/* mc_blk.u.state: low byte the state, next byte the padding (blk size -
 * value size), then flags. */
enum {
	BLK_PENDING = 1, /* allocated by a put, writable, not readable */
	BLK_LIVE = 2,	 /* published: readable */
	BLK_DEAD = 3,	 /* revoked or being freed: neither */
	BLK_SEALED = 4,	 /* being published: writers drain, none start */
};
#define BLK_STATE_MASK 0xffu
#define BLK_PAD_SHIFT  8
#define BLK_LEASED     (1u << 16) /* on the lease queue */
/*
 * Above the flags, the transfer-port WRITEs in flight into the block
 * (write pins): counted in the state word itself, so that a write pin
 * is taken only while the block is PENDING, atomically against the
 * sealing of its put for publication (put.c put_seal).
 */
#define BLK_WRITER_SHIFT 17
#define BLK_WRITER_ONE	 (1u << BLK_WRITER_SHIFT)
#define BLK_WRITERS(st)	 ((st) >> BLK_WRITER_SHIFT)
#define BLK_WRITERS_MAX	 (UINT32_MAX >> BLK_WRITER_SHIFT)
/*
 * How long publishing a put waits for WRITEs still streaming into its
 * buffers before it refuses (-EBUSY, the put stays open). While a block
 * is PENDING or SEALED, u.written (the same word as u.lease_until) counts
 * the bytes that WRITEs delivered into it (mc_pin_wrote), which ending a
 * two-phase put compares with the value's size (put.c put_wait_bytes);
 * the seal sets it to 0 again, before the block is LIVE and leased.
 */
#define PUT_DRAIN_MS 1000

enum { SEG_OK = MC_SEG_OK, SEG_DRAINING = MC_SEG_DRAINING, SEG_GONE = 2 };

#define SEG_KEEP     16u	 /* kept-buffer slots per segment */
#define SEG_KEEP_MAX (64u << 10) /* the largest buffer kept */

struct mc_seg {
	char id[MC_ID_LEN + 1];
	char *name, *location, *shm_name;
	char protocol[8];
	enum mc_seg_kind kind;
	struct mc_owner owner; /* SELF unless REMOTE */
	char *endpoint;	       /* REMOTE: the owner's data endpoint */
	bool hooked;	       /* REMOTE, NODE-owned: the owner hooks apply */
	/* REMOTE, NODE-owned: the owner's own kind (ALLOC or SHM), shown
	 * by mc_seg_info with location, shm_name and shm_offset */
	enum mc_seg_kind origin;
	uint64_t shm_offset;
	/*
	 * REMOTE, NODE-owned: until then (store clock, ms) placement passes
	 * it over while other segments can take the put: its owner failed
	 * to prepare a buffer (seg_shun).
	 */
	_Atomic uint64_t shun_until;
	/* SHM: the object's file, so that no range of it is mounted twice */
	dev_t shm_dev;
	ino_t shm_ino;
	char *base; /* first byte (REMOTE: an address in the owner, never
		     * dereferenced) */
	uint64_t size;
	void *map; /* what to munmap */
	size_t map_len;
	uint32_t rkey;
	bool registered;
	uint64_t seq; /* mount order */
	/* narenas slices of arena_size bytes; the last one takes the rest,
	 * so it is the largest */
	unsigned narenas;
	uint64_t arena_size;
	struct mc_arena *arenas;
	_Atomic int state;
	uint64_t deadline_ms; /* draining: when the unmount completes */
	_Atomic uint64_t refs;
	struct mc_store *store;
	/*
	 * Buffers freed and kept for a put of their size (segment.c
	 * seg_keep): at most one a slot, a thread using the slot of its
	 * number. A kept buffer is still allocated from its arena (it holds
	 * nblk) but no longer in the store's used bytes; seg_keep_drain
	 * returns them.
	 */
	struct seg_keep_slot {
		_Atomic(struct mc_blk *) b;
		char pad[64 - sizeof(struct mc_blk *)]; /* a line each */
	} keep[SEG_KEEP];
};

struct mc_obj;
/* A link of a hash chain: see the index rules at the top of this file. */
typedef _Atomic(struct mc_obj *) obj_link;

/*
 * One allocator over the slice [off, off + size) of a segment: its
 * blocks' offsets count from off. mc_alloc_user(b->owner) is the arena.
 */
struct mc_arena {
	pthread_mutex_t lock; /* protects alloc and nblk */
	struct mc_alloc *alloc;
	struct mc_seg *seg;
	uint64_t off, size;
	/*
	 * Blocks handed out and not yet returned. The arena holds one
	 * reference on its segment while this is not 0 (taken at 0 -> 1,
	 * dropped at 1 -> 0), so a put writes the segment's count only
	 * when an arena empties or stops being empty, not for every block.
	 */
	uint64_t nblk;
	/*
	 * Its segment is unmounted and its blocks left are no longer in the
	 * store's used bytes (seg_uncount): one given back now is not
	 * counted out of them again. Under lock.
	 */
	bool uncounted;
	/*
	 * mc_alloc_nparked of alloc as of the last get or free under the
	 * lock: read without it, to skip an arena with nothing parked
	 * when a put looks for a parked block (segment.c seg_alloc_one).
	 * Only a hint: a stale value costs a trylock or a missed block.
	 */
	_Atomic uint64_t parked_hint;
} __attribute__((aligned(64)));

/*
 * One published version of an object. Immutable but for next, ref and
 * atime. Replicas in this process's memory come first in rep[]
 * (obj_order), so rep[0] is local unless none is: then OBJ_REMOTE_ONLY
 * is set.
 */
struct mc_obj {
	obj_link
		next; /* hash chain; also the list of versions a writer drops */
	uint64_t version; /* (term << 32) | sequence, from the put's start */
	/*
	 * rep[0]'s bytes unless OBJ_REMOTE_ONLY (then NULL), set by
	 * obj_order: a get goes from the version to the value without a
	 * miss on the block's struct in between.
	 */
	char *data;
	/*
	 * Packed, and no stored hash (chains compare length, then bytes;
	 * growth hashes again): the header is 40 bytes, so a version with
	 * one replica and a key of up to 16 bytes takes 64 bytes (vmem.h:
	 * no malloc header). Ten million keys are what this is for.
	 */
	uint64_t size : 40; /* value bytes: max_value is below 2^40 */
	uint64_t klen : 13; /* <= MC_KEY_MAX */
	uint64_t nrep : 4;  /* <= MC_REPLICA_MAX */
	uint64_t flags : 4; /* OBJ_* */
	_Atomic uint32_t ref;
	_Atomic uint32_t atime; /* logical access clock (LRU) */
	struct mc_blk *rep[];	/* nrep blocks, then the key bytes */
};
_Static_assert(MC_KEY_MAX < (1 << 13) && MC_REPLICA_MAX < (1 << 4),
	       "struct mc_obj's bit fields are too narrow");

enum { OBJ_REMOTE_ONLY = 1 };

static inline const char *obj_key(const struct mc_obj *o)
{
	return (const char *)&o->rep[o->nrep];
}

static inline struct mc_obj *obj_next(struct mc_obj *o)
{
	return atomic_load_explicit(&o->next, memory_order_acquire);
}

/* Stores a link; the object it points to must be complete (release). */
static inline void link_set(obj_link *l, struct mc_obj *o)
{
	atomic_store_explicit(l, o, memory_order_release);
}

static inline struct mc_obj *link_get(obj_link *l)
{
	return atomic_load_explicit(l, memory_order_acquire);
}

/* A shard's buckets; replaced whole when the shard grows. */
struct mc_tab {
	uint32_t mask; /* buckets - 1 */
	obj_link b[];
};

/*
 * What a lock-free lookup reads comes first, in the shard's first line:
 * the count, the buckets and their mask, so that a get's way to its
 * bucket costs one miss on the shard, not a second on the array's own
 * header. @mask is stored after @tab when the shard grows and loaded
 * before it, and arrays only grow: a reader's mask is never larger than
 * the array it then loads (a smaller one picks a wrong bucket of a newer
 * array, which the count makes it walk again).
 */
struct mc_shard {
	_Atomic uint32_t seq;	      /* odd while a writer changes links */
	_Atomic uint32_t mask;	      /* tab's mask (above) */
	_Atomic(struct mc_tab *) tab; /* retired, not freed, when replaced */
	pthread_rwlock_t lock;	      /* writers exclusive, walkers shared */
	uint32_t count;		      /* under lock */
} __attribute__((aligned(64)));

/* The buckets of a shard whose lock the caller holds (either way). */
static inline struct mc_tab *shard_tab(struct mc_shard *sh)
{
	return atomic_load_explicit(&sh->tab, memory_order_relaxed);
}

#define MC_NSHARDS 256u

/* The removes a cluster master remembers per shard (order.c). */
#define ORDER_KEEP 16u
struct order_ring {
	uint64_t hash[ORDER_KEEP]; /* the removed key's key_hash */
	uint64_t seq[ORDER_KEEP];  /* store_seq_now() at the remove */
	uint64_t ver[ORDER_KEEP];  /* the version it removed */
	uint64_t lost;		   /* the latest such seq forgotten, or 0 */
	uint64_t lost_ver;	   /* the largest such version forgotten */
	uint64_t all; /* store_seq_now() when a remove_all passed, or 0 */
	unsigned n, next;
};

/*
 * Chains of open registered puts (a power of two): a start scans its
 * key's chain, so a client with 160,000 puts open (one RPC batch) keeps
 * them about ten long (1024 made a start 30 times slower). 128 KiB.
 */
#define MC_PENDING_BUCKETS 16384
/*
 * How many shared puts' outcomes a master remembers, so that a writer
 * whose answer was lost can ask (link.c, put_settle): a few seconds of
 * puts at full speed.
 */
#define MC_OUTCOME_KEEP 65536

struct put_outcome {
	uint64_t version;
	int rc; /* 0 published, -ECANCELED did not happen, -ECONNABORTED */
};

/* A key a rebuild adopted (hash of the key) and the version it took. */
struct settle_entry {
	uint64_t hash, version;
};

/* mc_put keeps its put on its stack for keys up to this long */
#define PUT_STACK_KEY 256

/*
 * A put through the master (link.c) once its put start was answered:
 * its places, version and term.
 */
struct mc_via {
	struct mc_desc *d;
	unsigned n;
	uint64_t version, term;
	bool started; /* neither ended nor revoked yet */
};

/* What a cluster master's put knew at its start (order.c). */
struct put_order {
	uint64_t base; /* the key's version then, 0 none */
	uint64_t seq;  /* the put's own sequence number, all 64 bits */
};

struct mc_put {
	struct mc_put *next; /* chain of s->pending[put_bucket()] */
	struct mc_store *store;
	uint64_t size;
	uint64_t deadline_ms;
	_Atomic int ref; /* the holder, and the pending list */
	bool registered; /* two-phase: in the pending list while open */
	bool discarded;	 /* revoked at its timeout: counted as released */
	bool open;	 /* neither published nor dropped yet */
	bool batch;	 /* counted by mc_batch_count */
	bool ending;   /* an end by key waits for its writers (pending_lock) */
	bool shared;   /* ended by key and version (mc_put_opts.shared) */
	bool on_stack; /* lives in mc_put's frame: not freed (put.c) */
	/*
	 * A put of an owner store with a link (link.c): the bytes gather in
	 * @stage and go to the owners at the commit; @desc holds a
	 * two-phase put's descriptors as the master handed them out.
	 */
	bool linked;
	char *stage;
	uint8_t nrep;
	uint64_t version;
	struct put_order ord; /* a cluster master's (order.c) */
	struct mc_owner writer;
	struct mc_blk *blk[MC_REPLICA_MAX];
	/* nrep descriptors of a two-phase put; NULL for a local one, whose
	 * writer needs none (3 KiB zeroed and printed per put otherwise) */
	struct mc_desc *desc;
	/* a local put of a linked store started before its bytes
	 * (mc_put_stream), and its write while the bytes go (or NULL) */
	struct mc_via via;
	bool streams;	   /* its bytes go while they come */
	void *stream;	   /* the data hooks' write; NULL once it ended */
	uint64_t streamed; /* bytes handed to it */
	size_t klen;
	char key[];
};

struct mc_old_ep {
	struct mc_old_ep *next;
	char *ep;
};

struct mc_lease_node {
	struct mc_lease_node *next;
	struct mc_blk *blk;
	uint64_t due_ms;
};

/* A running read lease: the reference the queue holds on its block. */
struct mc_lease_ent {
	uint64_t due_ms;
	struct mc_blk *blk;
};

/* segment names whose series the collector keeps (struct mc_counters) */
#define SEG_SERIES_CACHED 4

/* The upstream counters, kept as series pointers for lock-free updates. */
struct mc_counters {
	struct mc_series *put_start, *put_start_fail, *put_end, *put_end_fail,
		*put_revoke, *put_revoke_fail, *get, *get_fail, *exist,
		*exist_fail, *remove, *remove_fail, *remove_all,
		*remove_all_fail, *mount, *mount_fail, *unmount, *unmount_fail,
		*ping, *ping_fail, *alloc_fail;
	/* the batch families, by enum mc_batch_op */
	struct mc_batch_series {
		struct mc_series *req, *fail, *partial, *items, *failed_items;
	} batch[MC_BATCH_NOPS];
	/* the door-counted calls, by enum mc_call_op */
	struct mc_call_series {
		struct mc_series *req, *fail;
	} call[MC_CALL_NOPS];
	/* hit_nums and total_get are set by the collector from valid_get
	 * and get (store_metrics.c), never added to */
	struct mc_series *hit_nums, *hit_bytes, *valid_get, *total_get;
	struct mc_series *evict_ok, *evict_attempts, *evict_keys, *evict_bytes;
	/* memory is the only tier: the *_mem families count the same runs */
	struct mc_series *evict_ok_mem, *evict_attempts_mem, *evict_keys_mem,
		*evict_bytes_mem;
	/* replicas fewer than asked (fewer segments than --replicas) */
	struct mc_series *partial_alloc;
	/* two-phase puts revoked at their timeout, and their buffers freed */
	struct mc_series *discard_cnt, *release_cnt, *g_discard_staging;
	struct mc_series *evict_cause_watermark, *evict_cause_alloc;
	struct mc_series *value_size;
	/* gauges set by the collector */
	struct mc_family *seg_alloc_fam, *seg_cap_fam;
	struct mc_series *g_alloc, *g_cap, *g_keys, *g_soft, *g_clients,
		*g_cache_nums, *g_pending;
	/* the collector's last rebuild (collections are serialized) */
	uint64_t seg_gen_seen;
	/*
	 * The series of the first SEG_SERIES_CACHED segment names, in the
	 * order the collector meets them, so that a scrape sets them without
	 * a lookup: valid until the next rebuild, the only place they are
	 * freed (mc_family_sweep); a slot whose name differs is looked up.
	 */
	struct {
		char name[256];
		struct mc_series *alloc, *cap;
	} seg_series[SEG_SERIES_CACHED];
	unsigned seg_series_at; /* the next slot, during a collection */
};

/* recent.c: the counters once a second for a minute (mc_store_recent) */
#define RECENT_SLOTS 61
#define RECENT_NVALS (2 * MC_NOPS + 3) /* requests, failures, evictions */
struct recent {
	pthread_mutex_t lock;
	struct {
		uint64_t t_ms;
		uint64_t v[RECENT_NVALS];
	} ring[RECENT_SLOTS];
	unsigned head, n; /* next slot to write, slots written */
};
void recent_init(struct mc_store *s);
void recent_release(struct mc_store *s);
/* Samples the counters when a second has passed since the last sample. */
void recent_tick(struct mc_store *s, uint64_t now);

/*
 * The listed segments as placement and pins read them without seg_lock:
 * an immutable array, replaced (the old one retired, ebr.h) whenever the
 * table changes. A segment found in it stays allocated while the reader
 * is inside its read section: seg_finish waits for every such section
 * (ebr_synchronize) before it lets the table's reference go.
 */
struct seg_snap {
	size_t n;
	struct mc_seg *g[];
};

/* A count that each thread adds to on its own cache line (store.c). */
#define USED_STRIPES 8
struct used_stripe {
	_Atomic int64_t v;
} __attribute__((aligned(64)));

struct mc_store {
	struct mc_store_opts o;
	uint64_t serial; /* distinct for every store of the process */
	char *hostname, *protocol, *cluster_id;
	struct mc_metrics *metrics;
	bool own_metrics;
	struct mc_counters c;

	/* segments */
	pthread_rwlock_t seg_lock;
	struct mc_seg **segs; /* listed segments, mount order */
	size_t nsegs, segs_cap;
	uint64_t seg_seq;
	_Atomic(struct seg_snap *) seg_snap; /* set under seg_lock (write) */
	char *_Atomic endpoint; /* "host:port"; replaced, never freed early */
	struct mc_old_ep *old_endpoints;
	_Atomic uint64_t capacity;
	/*
	 * Segments out of the table whose values are still being dropped
	 * (seg_unlist_locked to the end of seg_finish): their bytes are
	 * still in store_used but no longer in capacity, so the watermark
	 * means nothing meanwhile (evict.c).
	 */
	_Atomic unsigned unlisting;
	/* bytes allocated: the sum of the stripes (store_used) */
	struct used_stripe used[USED_STRIPES];
	_Atomic uint64_t
		seg_gen; /* moves when a segment is listed or unlisted */

	/* objects */
	struct mc_shard shards[MC_NSHARDS];
	/* a cluster master's removes, each under its shard's lock (order.c) */
	struct order_ring removed[MC_NSHARDS];
	_Atomic uint64_t nkeys;
	_Atomic uint64_t keys_gen; /* moves when a key comes or goes */
	_Atomic uint32_t clock;	   /* logical LRU clock */
	pthread_mutex_t evict_lock;

	/* two-phase puts */
	pthread_mutex_t pending_lock;
	/* a put being sealed waits here for the WRITEs into it (put.c) */
	pthread_mutex_t drain_lock;
	pthread_cond_t drain_cond;
	/*
	 * Open registered puts, chained by their key's hash: a start (its
	 * duplicate check) and an end look at one short chain, not at every
	 * open put (an RPC batch opens thousands). Timeouts walk them all.
	 */
	struct mc_put *pending[MC_PENDING_BUCKETS];
	_Atomic uint64_t npending;
	_Atomic uint64_t discard_staging; /* bytes of discarded, unreleased */
	/*
	 * Discarded puts whose buffers a transfer-port WRITE still holds
	 * (put.c put_release_discarded), chained by ->next: each is
	 * counted released when its last writer lets go. pending_lock.
	 */
	struct mc_put *discarded;
	_Atomic size_t ndiscarded; /* how many: peeked without the lock */

	/* bytes held past which a put's copy streams (store_streams) */
	uint64_t stream_min;

	/* object versions: (term << 32) | seq */
	_Atomic uint64_t term, ver_seq;

	/* the client registry (client.c) */
	pthread_mutex_t client_lock;
	struct mc_client *clients;

	/*
	 * Leases, a min-heap by due time (an extended lease is queued again
	 * at its new end, before leases granted after it), and the holds of
	 * MC_F_HOLD (a list: one duration, so granted in due order).
	 */
	pthread_mutex_t lease_lock;
	struct mc_lease_ent *lease_heap;
	size_t lease_n, lease_cap;
	struct mc_lease_node *hold_head, *hold_tail;

	/* cluster mode */
	struct owner_tab *owner;     /* owner_only: the records (owner.c) */
	_Atomic uint64_t owner_term; /* owner: the highest term seen */
	_Atomic uint64_t blk_stamp;  /* master: mc_owner_blk.stamp */
	/* master: how the last shared puts ended (put.c, put_outcome);
	 * allocated at the first, pending_lock */
	struct put_outcome *outcomes;
	unsigned outcome_at;
	/* master: what its rebuild adopted (master.c, mc_master_settle) */
	struct settle_entry *ledger;
	size_t nledger;
	/* committed versions it found but could not take (they may have
	 * been read before): their writers are told "unknown" */
	struct settle_entry *ledger_lost;
	size_t nlost;
	bool ledger_ready;
	uint64_t ledger_term;		/* the newest term of a record it saw */
	const struct mc_link_ops *link; /* owner: the way to the master */
	void *link_arg;
	struct mc_owner self;		 /* owner: node:ID */
	struct mc_metrics *door_metrics; /* owner_only: mc_store_metrics */
	struct rebuild *rebuild;	 /* master: records kept by ingest */
	/* owner: the master's metrics text and summary line as last
	 * rendered (render.c), shown while no leader serves; under
	 * master_text_lock */
	pthread_mutex_t master_text_lock;
	struct mc_buf master_text;
	struct mc_buf master_summary;

	/* the TE metadata server (meta.c), NULL when off */
	struct mc_meta *meta;

	/* reaper */
	pthread_t reaper;
	bool reaper_running;
	pthread_mutex_t reaper_lock;
	pthread_cond_t reaper_cond;
	bool stopping;
	bool inited; /* every lock and table is set up */
	struct recent recent;
};

/*
 * The internal calls between the store's files. The layers, bottom up:
 *
 *   alloc.c      offsets inside one segment (no bytes touched)
 *   segment.c    the segment table, placement of replica buffers,
 *                blocks, pins; calls nothing above it
 *   index.c      the object index: keys, published versions, gets,
 *                removal, iteration
 *   evict.c      eviction, and the allocation of replicas that uses it
 *   put.c lease.c   puts and read leases
 *   unmount.c    unmounting: calls down into segments and objects
 *   store.c store_metrics.c   the store's lifetime, timers, metrics
 */

/* Where a put's replicas may go (mc_put_opts). */
struct seg_place {
	unsigned want;		     /* replicas */
	const char *prefer;	     /* a segment name first, or NULL */
	const struct mc_owner *near; /* this owner's segments next, or NULL */
	const struct mc_obj *again;  /* the version replaced: its nodes next */
	bool remote_ok;		     /* REMOTE segments are eligible */
};

/* segment.c */
/*
 * Allocates one buffer in each of min(pl->want, eligible segments)
 * distinct segments: the @prefer ones first, then the @near owner's,
 * then the nodes holding @again, then one per owner, then any; each pass starts
 * at a rotating index so load spreads. All or nothing: the count, or -ENOSPC.
 */
int seg_alloc_replicas(struct mc_store *s, uint64_t size,
		       const struct seg_place *pl, struct mc_blk **out);
/*
 * The owner of @b's segment failed to prepare it: placement passes the
 * segment over for SEG_SHUN_MS while others can take a put
 * (mooncake-cluster(7), Placement).
 */
void seg_shun(struct mc_blk *b);
#define SEG_SHUN_MS 2000
/* How many placements a put start tries when owners fail to prepare. */
#define PUT_PLACE_TRIES 3
void blk_unref(struct mc_blk *b);
static inline struct mc_arena *blk_arena(const struct mc_blk *b)
{
	return mc_alloc_user(b->owner);
}
/*
 * Whether a buffer of @size could ever be placed in min(@want, segments
 * taking allocations) segments if they were empty: when not, evicting
 * would only destroy data.
 */
bool seg_can_fit(struct mc_store *s, uint64_t size, const struct seg_place *pl);
/* Whether @g takes allocations of a put placed by @pl. */
bool seg_eligible(const struct mc_seg *g, const struct seg_place *pl);
static inline struct mc_seg *blk_seg(const struct mc_blk *b)
{
	return blk_arena(b)->seg;
}
/* A block's offset in its segment. */
static inline uint64_t blk_off(const struct mc_blk *b)
{
	return blk_arena(b)->off + b->off;
}
/* Fills the owner hooks' view of @b (key and version left empty). */
void blk_owner_view(const struct mc_blk *b, struct mc_owner_blk *v);
/*
 * The one way to a block's bytes. Placement, descriptors and pins use
 * addresses only (seg->base + off as a number), so a segment whose bytes
 * live elsewhere can hold blocks as long as nothing calls this on them.
 */
static inline char *blk_ptr(const struct mc_blk *b)
{
	return blk_seg(b)->base + blk_off(b);
}
/* Whether a block's bytes are in this process (its segment is not REMOTE). */
static inline bool blk_local(const struct mc_blk *b)
{
	return blk_seg(b)->kind != MC_SEG_REMOTE;
}
static inline uint64_t blk_value_size(const struct mc_blk *b)
{
	uint32_t st = atomic_load_explicit(&b->u.state, memory_order_relaxed);
	return b->size - ((st >> BLK_PAD_SHIFT) & 0xffu);
}
void blk_set_state(struct mc_blk *b, uint32_t state, uint64_t value_size);
void blk_desc(const struct mc_blk *b, uint64_t value_size, struct mc_desc *d);
/* Pins a block holding [addr, addr+size) in state @state: 0 or -EACCES. */
int seg_pin(struct mc_store *s, uint64_t addr, uint64_t size, uint32_t state,
	    struct mc_blk **out);
/* The listed segment @id, or NULL; caller holds seg_lock. */
struct mc_seg *seg_find_locked(struct mc_store *s, const char *id);
/* Takes @g out of the table (state GONE); caller holds seg_lock (write). */
void seg_unlist_locked(struct mc_store *s, struct mc_seg *g);
/* Drops a reference; the last one frees the segment and its memory. */
void seg_unref(struct mc_seg *g);
/*
 * Nothing allocates in @g any more (it is unlisted and no placement or
 * pin still sees it, or the store is being freed): its arenas' blocks
 * are freed from now on without merging (mc_alloc_drop). Blocks still
 * held keep the segment as before. Takes each arena's lock in turn.
 */
void seg_drop_arenas(struct mc_seg *g);
/*
 * Takes what is still allocated in unmounted @g (blocks its readers
 * hold) out of the store's used bytes, for good: their capacity went
 * with the segment, and the watermark compares the two.
 */
void seg_uncount(struct mc_seg *g);
/* Bytes allocated in @g (takes each arena's lock in turn), kept buffers
 * returned first. */
uint64_t seg_used(struct mc_seg *g);
/* Returns every buffer kept in @g to its arena: how many there were. */
unsigned seg_keep_drain(struct mc_seg *g);
/* Fills @i from @g; caller holds seg_lock (takes the arena locks). */
void seg_info_locked(struct mc_store *s, struct mc_seg *g,
		     struct mc_seg_info *i);
/*
 * The store's own table, whatever its link says (the public calls go
 * through the link when there is one): mc_segment_mount,
 * mc_segment_unmount, mc_segment_foreach and mc_segment_info of this
 * store alone.
 */
int seg_mount_local(struct mc_store *s, const struct mc_mount_req *req,
		    struct mc_mount_result *out, struct mc_err *err);
int seg_unmount_local(struct mc_store *s, const struct mc_unmount_req *req,
		      char (**failed)[MC_ID_LEN + 1], size_t *n_failed,
		      struct mc_err *err);
int seg_foreach_local(struct mc_store *s,
		      int (*cb)(const struct mc_seg_info *, void *), void *arg);
int seg_info_local(struct mc_store *s, const char *id, struct mc_seg_info *out);
/*
 * The request that lists @si, a segment of node @owner as that node
 * shows it, in another store (mc_segment_mount_remote): its range and
 * endpoint, and the owner's view (kind ALLOC or SHM, location, shm
 * object). @q points into @si.
 */
void seg_remote_req(const struct mc_seg_info *si, const struct mc_owner *owner,
		    struct mc_remote_req *q);
/* The listed segment @id with a reference (seg_unref it), or NULL. */
struct mc_seg *seg_get(struct mc_store *s, const char *id);
/*
 * Allocates exactly [off, off + size) of @g (a record's or an adopted
 * replica's block): 0 and *@out (ref 1, PENDING with value size @size,
 * counted as used); -EBUSY with *@in_way the offset of an allocated
 * block in the way; -ENOENT when the range is not inside one arena of
 * @g; -EINVAL (misaligned); -ENOMEM.
 */
int seg_reserve(struct mc_store *s, struct mc_seg *g, uint64_t off,
		uint64_t size, struct mc_blk **out, uint64_t *in_way);

/* index.c */
/* A key in a message: at most its first 64 bytes, "'%.*s'" style. */
#define KEY_ARG(k, n) (int)((n) > 64 ? 64 : (n)), (const char *)(k)
void obj_hash_seed_init(void);
/*
 * A multiply-xorshift hash of @n bytes, seeded per process against
 * collision floods (the object index, the metadata keys).
 */
uint64_t key_hash(const void *key, size_t n);
/* mc_key_check with the core's message in @err: 0 or -EINVAL. */
int obj_key_check(const void *key, size_t klen, struct mc_err *err);
/* A version of @nrep replicas, ref 1, not published; NULL when out of memory.
 */
struct mc_obj *obj_new(const void *key, size_t klen, uint64_t size,
		       unsigned nrep);
/*
 * Puts the local replicas of @o first (stable), sets OBJ_REMOTE_ONLY
 * when there is none and points data at rep[0]'s bytes when there is;
 * called once its rep[] is filled, before it is published.
 */
void obj_order(struct mc_obj *o);
void obj_unref(struct mc_obj *o);
/* Unrefs a list chained through ->next. */
void objs_unref(struct mc_obj *gone);
/*
 * Key bytes a retire of many versions carries at most (remove_all,
 * eviction): a node that cannot be told is waited for once per batch
 * (mc_owner_ops.retire), and a message stays well below the internal
 * API's body limit.
 */
#define RETIRE_BATCH (8u << 20)
/* Whether a replica of @o is under a read lease at @now. */
bool obj_leased(const struct mc_obj *o, uint64_t now);
/* Milliseconds until the last read lease on @o ends, 0 when none holds. */
uint64_t obj_lease_left(const struct mc_obj *o, uint64_t now);
/* The published version of a key with a reference, or NULL. */
struct mc_obj *obj_lookup(struct mc_store *s, const void *key, size_t klen,
			  bool touch);
/* What obj_publish did (order.c, order_publish). */
enum {
	PUB_DONE = 0,	    /* published */
	PUB_SUPERSEDED = 1, /* over at once: a later put or a remove won */
	PUB_UNSURE = 2,	    /* not published: its order is unknown */
};
/*
 * Publishes @o: PUB_DONE and in *@old the version it supersedes (its
 * reference now the caller's: obj_unref it) or NULL. With @ord (a
 * cluster master's put) the order of puts and removes is kept:
 * PUB_SUPERSEDED or PUB_UNSURE, publishing nothing. -ENOENT, publishing
 * nothing, when the segment of one of @o's replicas was unmounted
 * meanwhile. Unless PUB_DONE, *@old is NULL and the caller still holds
 * @o.
 */
int obj_publish(struct mc_store *s, struct mc_obj *o,
		const struct put_order *ord, struct mc_obj **old);
/*
 * order.c: notes a remove (or an eviction) of @version of the key hashing
 * to @h (under @sh's lock), or a remove_all passing @sh (under its
 * lock); whether @o, of a put that knew @ord, is published over @now,
 * the key's version (NULL: none; under @sh's lock): PUB_*.
 */
void order_note_remove(struct mc_store *s, const struct mc_shard *sh,
		       uint64_t h, uint64_t version);
void order_note_remove_all(struct mc_store *s, const struct mc_shard *sh);
int order_publish(struct mc_store *s, const struct mc_shard *sh, uint64_t h,
		  const struct mc_obj *now, const struct mc_obj *o,
		  const struct put_order *ord);
/* Hints for a put of @key, hashing to @h (index.c): stage 0 fetches its
 * bucket, stage 1 the version that bucket points to, stage 2 (after the
 * copy) the blocks of the version the put replaces. */
void obj_prefetch(struct mc_store *s, uint64_t h, int stage, const void *key,
		  size_t klen);
/* Unlinks *pp from @sh (write-locked); returns it for the caller to unref. */
struct mc_obj *obj_unlink(struct mc_store *s, struct mc_shard *sh,
			  obj_link *pp);
/* Takes @sh's lock for writing and makes its sequence count odd. */
void shard_lock(struct mc_shard *sh);
/* Makes the count even again and drops the lock. */
void shard_unlock(struct mc_shard *sh);
/* A new bucket array of @n (a power of two) empty buckets, or NULL. */
struct mc_tab *tab_new(uint32_t n);
/* Counts one get of @o in the hit metrics. */
void obj_count_get(struct mc_store *s, const struct mc_obj *o);
void obj_count_hit(struct mc_store *s, const struct mc_obj *o);
/*
 * mc_key_walk whose callback also gets, for each key, the cursor that
 * resumes the walk at that key (a master serving a remote walk).
 */
int key_walk_cur(struct mc_store *s, uint64_t *cursor,
		 int (*cb)(const void *key, size_t klen, uint64_t size,
			   uint64_t at, void *arg),
		 void *arg);
/*
 * References that mc_get hands out for an owner store with a link:
 * a record's block (its reference passes to the mc_ref), or a private
 * copy of @size bytes (ref_copy_new gives its data, to fill; ref_of_copy
 * turns it into the reference; ref_copy_free drops one not handed out).
 */
struct mc_ref *ref_of_blk(struct mc_blk *b);
void *ref_copy_new(uint64_t size);
struct mc_ref *ref_of_copy(void *data);
void ref_copy_free(void *data);

/* evict.c */
/*
 * Allocates buffers of @size as @pl places them, evicting when the
 * segments are full: the count allocated (>= 1), or -ENOSPC.
 */
int evict_alloc_replicas(struct mc_store *s, uint64_t size,
			 const struct seg_place *pl, struct mc_blk **blk);

/* put.c */
/*
 * What a put's key and size must be (also checked by a node before a
 * put costs the master anything): 0, or -EINVAL, -EFBIG with @err.
 */
int put_check(struct mc_store *s, const void *key, size_t klen, uint64_t size,
	      struct mc_err *err);
/*
 * A transfer-port WRITE into @b is over (its pin is released after): 0
 * while the block's put may still be published, -ESTALE when it was
 * revoked meanwhile (the bytes went nowhere).
 */
int put_writer_done(struct mc_blk *b);
/* Revokes puts past their deadline (@now) or holding @g's buffers. */
void put_expire(struct mc_store *s, uint64_t now, struct mc_seg *g);
/*
 * Counts as released the discarded puts whose buffers no writer holds any
 * more, and lets them go; @all: every one, held or not (the store goes).
 */
void put_release_discarded(struct mc_store *s, bool all);
/* Revokes every open put of @writer; returns how many. */
size_t put_revoke_writer(struct mc_store *s, const struct mc_owner *writer);
/*
 * Seals @n PENDING blocks of one put for publication: from now on no
 * WRITE pins them, and those in flight are waited for (@wait_ms, at most
 * PUT_DRAIN_MS). 0 (the blocks' byte counts are 0 again, ready to be
 * read leases), or -EBUSY with @err naming @key (the blocks are PENDING
 * again).
 */
int blk_seal(struct mc_store *s, struct mc_blk *const *b, unsigned n,
	     const void *key, size_t klen, unsigned wait_ms,
	     struct mc_err *err);
/*
 * End or revoke the open shared put of @key whose version is @version
 * (mc_put_opts.shared), for @writer: as mc_put_end_by and
 * mc_put_revoke_by.
 */
int put_end_version(struct mc_store *s, const void *key, size_t klen,
		    uint64_t version, const struct mc_owner *writer, bool batch,
		    struct mc_err *err);
int put_revoke_version(struct mc_store *s, const void *key, size_t klen,
		       uint64_t version, const struct mc_owner *writer,
		       bool batch, struct mc_err *err);
/*
 * How the shared put @version of this master's term went, for a writer
 * whose answer was lost: 0 (published), -ECANCELED (it did not happen:
 * revoked, or failed and retired), -ECONNABORTED (unknown: as its end
 * answered, or forgotten), -EBUSY (still open: end it).
 */
int put_outcome(struct mc_store *s, uint64_t version);
/* Frees what put_outcome remembers (mc_store_free). */
void put_outcome_free(struct mc_store *s);

/* lease.c */
/* Ends the leases due at @now (all of @g's when @g is set). */
void lease_expire(struct mc_store *s, uint64_t now, struct mc_seg *g);
/* Grants every replica of @o the store's read lease from @now. */
void lease_obj(struct mc_store *s, const struct mc_obj *o, uint64_t now);
/* Ends the holds (MC_F_HOLD) due at @now (all of @g's when @g is set). */
void hold_expire(struct mc_store *s, uint64_t now, struct mc_seg *g);

/* client.c */
/* Expires the clients silent since before @now - client_ttl_ms. */
void client_expire(struct mc_store *s, uint64_t now);
/* Frees the registry (mc_store_free). */
void client_free_all(struct mc_store *s);
/* A known client owner was seen (a mount): known, clock restarted. */
int client_touch(struct mc_store *s, const struct mc_owner *o);

/* unmount.c */
/* Completes the unmounts whose grace period has ended. */
void unmount_tick(struct mc_store *s, uint64_t now);
/*
 * The store is being freed and nothing allocates any more: every listed
 * segment's blocks are freed from now on without merging
 * (seg_drop_arenas), so removing every object before unmount_all costs
 * O(1) a block.
 */
void unmount_all_begin(struct mc_store *s);
/* Unmounts every segment at once (mc_store_free). */
void unmount_all(struct mc_store *s);

/* store_metrics.c: registers the store's families in s->metrics. */
void store_metrics_register(struct mc_store *s);
/* Appends the master's families as a store that never counted anything
 * renders them: every one present, every value 0. */
void store_metrics_blank(struct mc_buf *out);

/*
 * meta.c: the store's metadata server, published keys under "mooncake/"
 * and @cluster_id (NULL: none). NULL when out of memory.
 */
struct mc_meta *meta_new(struct mc_store *s, const char *cluster_id);
void meta_free(struct mc_meta *m);

/* owner.c */
/* The record table of an owner_only store: 0 or -ENOMEM. */
int owner_init(struct mc_store *s);
/* Drops pending records whose time is up. */
void owner_tick(struct mc_store *s, uint64_t now);
/* Drops the records in segment @g (its unmount completes). */
void owner_drop_seg(struct mc_store *s, struct mc_seg *g);
/* Drops every record and frees the table (mc_store_free). */
void owner_free(struct mc_store *s);
/*
 * The committed record of @key and @version at @addr of segment @seg_id,
 * its block with a reference for the caller (blk_unref when done), or
 * NULL.
 */
struct mc_blk *owner_ref(struct mc_store *s, const char *seg_id, uint64_t addr,
			 const void *key, size_t klen, uint64_t version);

/* master.c: the rebuild's kept records (mc_master_ingest) */
void rebuild_free(struct mc_store *s);
/*
 * How put @version of @key went, asked by a writer whose answer was
 * lost (MOP_SETTLE): this master's own puts as put_outcome; an older
 * master's by what the rebuild adopted (0 taken, -ECANCELED not there
 * and never to be, -ECONNABORTED unknown: no rebuild, a newer version
 * of the key, or a master in between).
 */
int master_settle_ask(struct mc_store *m, const void *key, size_t klen,
		      uint64_t version);
/*
 * A master removed @o (@list: and the versions chained after it through
 * ->next): its owners retire the keys' records (mc_owner_ops.retire).
 * Nothing when the store has no such hook or no replica is a node's.
 * 0, or -ECONNABORTED when some node could not be told (a rebuild may
 * bring them back: the remove's outcome is unknown), with @err.
 */
int obj_retire(struct mc_store *s, struct mc_obj *o, bool list,
	       struct mc_err *err);

/* link.c: the owner store's side of its metadata operations */
struct mc_put_opts;
int fac_put(struct mc_store *s, const void *key, size_t klen, const void *val,
	    size_t len, struct mc_err *err);
int fac_put_begin(struct mc_store *s, const void *key, size_t klen,
		  uint64_t size, struct mc_put **out, struct mc_err *err);
int fac_put_start(struct mc_store *s, const void *key, size_t klen,
		  uint64_t size, const struct mc_put_opts *o,
		  struct mc_put **out, struct mc_err *err);
int fac_put_grow(struct mc_put *p, uint64_t size);
int fac_put_commit(struct mc_put *p, struct mc_err *err);
int fac_put_stream(struct mc_put *p, struct mc_err *err);
int fac_put_stream_feed(struct mc_put *p, const void *buf, uint64_t n, int pfd,
			struct mc_err *err);
int fac_put_commit_pipe(struct mc_put *p, uint64_t hlen, int pfd,
			struct mc_err *err);
void fac_put_free(struct mc_put *p);
int fac_put_end(struct mc_store *s, const void *key, size_t klen,
		const struct mc_owner *writer, bool batch, struct mc_err *err);
int fac_put_revoke(struct mc_store *s, const void *key, size_t klen,
		   const struct mc_owner *writer, bool batch,
		   struct mc_err *err);
int fac_get(struct mc_store *s, const void *key, size_t klen,
	    struct mc_ref **out);
int fac_get_pipe(struct mc_store *s, const void *key, size_t klen,
		 const int pfd[2], uint64_t room, struct mc_ref **out,
		 uint64_t *size);
int64_t fac_get_copy(struct mc_store *s, const void *key, size_t klen,
		     uint64_t off, void *buf, uint64_t cap);
int fac_stat(struct mc_store *s, const void *key, size_t klen, uint64_t *size);
int fac_exist(struct mc_store *s, const void *key, size_t klen, unsigned flags);
int fac_query(struct mc_store *s, const void *key, size_t klen, unsigned flags,
	      struct mc_desc *out, size_t max, struct mc_obj_info *info);
void fac_query_batch(struct mc_store *s, size_t nkeys, const char *const *keys,
		     const size_t *klens,
		     void (*cb)(size_t i, int rc, const struct mc_desc *d,
				size_t nd, void *arg),
		     void *arg);
void fac_call_count(struct mc_store *s, enum mc_call_op op, bool failed);
void fac_batch_count(struct mc_store *s, enum mc_batch_op op, uint64_t items,
		     uint64_t failed);
int fac_remove(struct mc_store *s, const void *key, size_t klen, bool force,
	       struct mc_err *err);
int64_t fac_remove_all(struct mc_store *s, bool force);
/* As walk: 0 at the end, @cb's non-zero return, or -EAGAIN. */
int fac_key_walk(struct mc_store *s, uint64_t *cursor,
		 int (*cb)(const void *key, size_t klen, uint64_t size,
			   void *arg),
		 void *arg);
uint64_t fac_keys_gen(struct mc_store *s);
void fac_usage(struct mc_store *s, struct mc_usage *u);
void fac_recent(struct mc_store *s, struct mc_recent *out);
void fac_value_sizes(struct mc_store *s, struct mc_value_sizes *out);
int fac_segment_mount(struct mc_store *s, const struct mc_mount_req *req,
		      struct mc_mount_result *out, struct mc_err *err);
int fac_segment_unmount(struct mc_store *s, const struct mc_unmount_req *req,
			char (**failed)[MC_ID_LEN + 1], size_t *n_failed,
			struct mc_err *err);
int fac_mount_remote(struct mc_store *s, const struct mc_remote_req *req,
		     struct mc_err *err);
/* Every segment the master lists: 0 and *@v (malloc'd), or -EAGAIN. */
int fac_segments(struct mc_store *s, struct mc_seg_info **v, size_t *n);
int fac_segment_foreach(struct mc_store *s,
			int (*cb)(const struct mc_seg_info *, void *),
			void *arg);
int fac_segment_info(struct mc_store *s, const char *id,
		     struct mc_seg_info *out);
int fac_client_ping(struct mc_store *s, const char *uuid);
int fac_client_register(struct mc_store *s, const char *uuid);
size_t fac_client_count(struct mc_store *s);
/* The master's metrics text or summary line, appended: 0 or -EAGAIN. */
int fac_text(struct mc_store *s, bool summary, struct mc_buf *out);

/* Encoding of what both ends of a link share (master.c, link.c). */
struct wire_rd;
void wire_desc(struct mc_buf *b, const struct mc_desc *d);
void wire_get_desc(struct wire_rd *r, struct mc_desc *d);
void wire_owner(struct mc_buf *b, const struct mc_owner *o);
void wire_get_owner(struct wire_rd *r, struct mc_owner *o);
void wire_seg_info(struct mc_buf *b, const struct mc_seg_info *si);
void wire_get_seg_info(struct wire_rd *r, struct mc_seg_info *si);

/* store.c */
/* The store's clock, in milliseconds. */
uint64_t store_now(const struct mc_store *s);
/*
 * A new object version in *@version: (term << 32) | the next sequence
 * number, whose 64 bits (they never wrap) go in *@seq when not NULL.
 * -EAGAIN when a master of a term has given all 2^32 (versions_low).
 */
int store_next_version(struct mc_store *s, uint64_t *version, uint64_t *seq);
/* The last sequence number given (every put started before has one no
 * larger, every put started after a larger one). */
uint64_t store_seq_now(struct mc_store *s);
/* "client:UUID", "node:ID" or "" for SELF, in @buf. */
const char *owner_text(const struct mc_owner *o, char *buf, size_t len);
/* Adds @delta to the bytes allocated, on this thread's stripe. */
void store_used_add(struct mc_store *s, int64_t delta);
/* The bytes allocated (the stripes summed). */
uint64_t store_used(struct mc_store *s);
/*
 * The next tick of the logical LRU clock for a publish. Each
 * thread takes ticks in batches of CLOCK_BATCH, so puts on different
 * threads do not all write the clock's line: stamps are ordered to within
 * a batch per thread, well inside eviction's 1/1024 of the age range.
 */
#define CLOCK_BATCH 64u
uint32_t store_clock_tick(struct mc_store *s);
/*
 * Whether a put's copy into its buffer should skip the cache (put.c
 * copy_in): the store holds many times the last-level cache, so the
 * buffer is almost never cached, and reading its lines before writing
 * them would cost more than the cache gives. Looked at again every 64
 * calls per thread.
 */
bool store_streams(struct mc_store *s);
/* segment.c: publishes the table's current list for lock-free readers;
 * seg_lock held for writing. */
void seg_snap_publish(struct mc_store *s);

#endif
