/*
 * alloc.h - an offset allocator for one segment's replica buffers.
 *
 * Manages the offsets [0, size) of a segment; the memory itself is never
 * touched, so metadata cannot be corrupted by what clients write into
 * the buffers (and shm segments shared with other processes are safe).
 * Good-fit over segregated free lists (TLSF-style two-level bitmap,
 * O(1)) for allocation; every block (free or used) is also in an
 * offset-ordered treap so that mc_alloc_find() answers "which block holds
 * this address" in O(log n) for the transfer port, and so that free
 * neighbours coalesce. Block metadata lives outside the segment, in slabs
 * of struct mc_blk (56 bytes each) that are reused and only released by
 * mc_alloc_free().
 *
 * Invariants (mc_alloc_check verifies them): the blocks tile [0, size)
 * exactly, no two free blocks are adjacent, every offset and size is a
 * multiple of the alignment.
 *
 * Not thread-safe: the segment's mutex protects it.
 */
#ifndef MC_ALLOC_H
#define MC_ALLOC_H

#include <stdbool.h>
#include <stdint.h>

struct mc_alloc;

/*
 * A block. off/size are read-only for the owner of an allocated block.
 * The `u` fields belong to the caller while the block is allocated (the
 * allocator reuses that space for its free lists while free). @owner is
 * the allocator for an allocated block and NULL for a free one (that is
 * how the allocator tells them apart, which keeps the struct at 56 bytes).
 */
struct mc_blk {
	uint64_t off, size;
	struct mc_blk *left, *right; /* offset treap */
	struct mc_alloc *owner;
	union {
		struct {
			struct mc_blk *prev, *next;
		} free; /* allocator-private */
		struct {
			union {
				/* published: ms, store clock */
				_Atomic uint64_t lease_until;
				/* being written: bytes delivered */
				_Atomic uint64_t written;
			};
			_Atomic uint32_t ref;	/* references */
			_Atomic uint32_t state; /* caller-defined */
		} u;
	};
};

/*
 * New allocator for @size bytes (> 0, a multiple of @align); every block's
 * offset and size are multiples of @align (a power of two >= 8).
 * @user is returned by mc_alloc_user(). NULL with errno EINVAL for a bad
 * size or alignment, ENOMEM when out of memory.
 */
struct mc_alloc *mc_alloc_new(uint64_t size, uint64_t align, void *user);
/*
 * Frees the allocator and every block (allocated or not), slab by slab;
 * NULL is a no-op.
 */
void mc_alloc_free(struct mc_alloc *a);
/*
 * The allocator is going (its segment unmounted, or the store freed):
 * from now on a block returned (mc_alloc_put, the tail mc_alloc_shrink
 * gives back) is only counted out of used and nblocks and left where it
 * is, unmerged: O(1) instead of a walk of the offset treap per block,
 * which for a segment of 10^7 blocks made its teardown take minutes.
 * Nothing is allocated any more: mc_alloc_get and mc_alloc_get_parked
 * answer NULL, mc_alloc_extend -ENOSPC, mc_alloc_reserve -ENOENT.
 * mc_alloc_find and the blocks still allocated work as before, until
 * mc_alloc_free. Cannot be undone; calling it again is a no-op.
 */
void mc_alloc_drop(struct mc_alloc *a);
void *mc_alloc_user(const struct mc_alloc *a);

/*
 * Allocates @size (> 0) bytes, rounded up to the alignment, from the
 * lowest-offset end of a free block. Returns the block with u.* zeroed
 * and owner == @a, or NULL for size 0, when no free block is large enough
 * (it always succeeds when @size <= mc_alloc_largest_free()), or when
 * metadata cannot be allocated. O(1) except when the only block that
 * fits lies in the request's own size class, which is then searched.
 */
struct mc_blk *mc_alloc_get(struct mc_alloc *a, uint64_t size);
/*
 * Returns a block to the allocator, coalescing with free neighbours;
 * @b must not be used afterwards. NULL, or a block not allocated from @a
 * (already returned, or another allocator's), is ignored. O(log n).
 */
void mc_alloc_put(struct mc_alloc *a, struct mc_blk *b);
/*
 * Grows allocated block @b in place to @size bytes (rounded up to the
 * alignment) from the free block right after it: 0 (also when it is
 * already that large), -ENOSPC (no free block there large enough; @b is
 * unchanged), -EINVAL (@b not allocated from @a, or past the end).
 * O(log n).
 */
int mc_alloc_extend(struct mc_alloc *a, struct mc_blk *b, uint64_t size);
/*
 * Gives the tail of allocated block @b back, keeping its first @size
 * bytes (rounded up to the alignment; its offset does not move): 0,
 * -EINVAL (@b not allocated from @a, @size 0 or larger than the block),
 * -ENOMEM (no metadata for the tail; @b is unchanged). O(log n).
 */
int mc_alloc_shrink(struct mc_alloc *a, struct mc_blk *b, uint64_t size);
/*
 * Allocates exactly [off, off + size) (@size rounded up to the
 * alignment; @off a multiple of it), for a caller that was told where a
 * block lies (a cluster node's owner records, a master rebuilding its
 * index): 0 and *@out the block (u.* zeroed, as mc_alloc_get); -EBUSY
 * when an allocated block overlaps the range (*@out is the first one,
 * still allocated: the caller decides whether it may go, and asks
 * again); -EINVAL (size 0, @off not aligned, past the end); -ENOMEM
 * (no metadata); -ENOENT when @a is being dropped (mc_alloc_drop).
 * Parked blocks count as free space. O(log n).
 */
int mc_alloc_reserve(struct mc_alloc *a, uint64_t off, uint64_t size,
		     struct mc_blk **out);
/* The allocated block whose range holds @off, or NULL (free space, or
 * beyond the end). O(log n). */
struct mc_blk *mc_alloc_find(struct mc_alloc *a, uint64_t off);

/*
 * Calls @fn(@ctx, off, size, b) for every block in offset order, @b the
 * block when it is allocated and NULL for free space (a free or a parked
 * block), until @fn returns false. O(n): for a caller looking for a run
 * of blocks it could give back to make a hole (evict.c).
 */
void mc_alloc_walk(const struct mc_alloc *a,
		   bool (*fn)(void *ctx, uint64_t off, uint64_t size,
			      const struct mc_blk *b),
		   void *ctx);

uint64_t mc_alloc_size(const struct mc_alloc *a);
uint64_t mc_alloc_used(const struct mc_alloc *a); /* sum of allocated sizes */
/* O(1) plus the length of the largest non-empty size class's list. */
uint64_t mc_alloc_largest_free(const struct mc_alloc *a);
uint64_t mc_alloc_nblocks(const struct mc_alloc *a); /* allocated blocks */

/*
 * Lets up to @max_bytes of freed blocks of at most 64 KiB each wait,
 * uncoalesced, for a get of their exact size (0, the default, parks
 * nothing; lowering the limit
 * returns every parked block). A parked block is free to every call:
 * it is not in mc_alloc_used or mc_alloc_nblocks, mc_alloc_find does not
 * return it, and a get that finds no free block, or one of more than
 * 64 KiB, or an extend that meets a parked block, takes the parked ones
 * back first (so they never cut the space a large value needs, and a
 * size up to mc_alloc_largest_free() still never fails).
 * mc_alloc_largest_free does not count parked blocks.
 */
void mc_alloc_set_park(struct mc_alloc *a, uint64_t max_bytes);

/*
 * A parked block of exactly @size (rounded up to the alignment), handed
 * out as mc_alloc_get hands out blocks; NULL when none of that size is
 * parked (nothing else is searched or split). O(1). A caller holding
 * several allocators asks each for a parked block before any of them
 * splits free space: an overwrite frees its old block into whichever
 * allocator that came from, and taking it back there keeps the parks
 * from filling (and then coalescing through the treap) on one side
 * while the other splits.
 */
struct mc_blk *mc_alloc_get_parked(struct mc_alloc *a, uint64_t size);
/* Parked blocks (any size). */
uint64_t mc_alloc_nparked(const struct mc_alloc *a);

/* Checks every invariant (for tests): 0 or -EFAULT. Once dropped, free
 * blocks may be adjacent (they no longer merge). */
int mc_alloc_check(const struct mc_alloc *a);

#endif
