/*
 * vmem.h - memory for the object index's versions (struct mc_obj).
 *
 * Versions are small (a 40-byte header, a block pointer a replica, the
 * key), many (ten million keys are what the index is for), read by every
 * get and freed by every overwrite. malloc would add an 8-byte header to
 * each and scatter them over 4 KiB pages; here they come, without any
 * header, from 2 MiB chunks that the kernel may back with huge pages
 * (MADV_HUGEPAGE), so a get's miss on its version is not also a page walk
 * of the metadata, and a version with one replica and a key of up to 16
 * bytes takes 64 bytes exactly.
 *
 * Size classes of 8 bytes up to VMEM_MAX; larger requests go to malloc.
 * Each thread keeps a short list per class (no lock, no shared line
 * written); lists move between threads in batches through a per-class
 * depot under its mutex, and a thread's lists go to the depot when it
 * exits. Memory is never returned to the system: a store that shrinks
 * keeps its versions' chunks for the next ones (as the allocator's block
 * slabs do).
 *
 * In a build with AddressSanitizer, and under valgrind, every call is
 * plain malloc and free, so that their checks (use after free, leaks)
 * still cover versions.
 *
 * Thread-safe. Process-wide: every store shares it.
 */
#ifndef MC_VMEM_H
#define MC_VMEM_H

#include <stddef.h>

#define VMEM_MAX 256u /* bytes: larger requests are malloc's */

/* @n bytes (> 0), 8-byte aligned; NULL when out of memory. */
void *vmem_get(size_t n);
/* Returns @p from vmem_get(@n), with the same @n; NULL is a no-op. */
void vmem_put(void *p, size_t n);

#endif
