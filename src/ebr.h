/*
 * ebr.h - epoch-based reclamation: memory that lock-free readers may
 * still be looking at is freed only once every reader that could have
 * found it has left its read section.
 *
 * The object index's gets take no lock (index.c): a reader walks a hash
 * chain inside ebr_enter() .. ebr_exit(), and a writer that unlinks an
 * object (or replaces a bucket array) hands its memory to ebr_retire()
 * instead of free(). The memory is freed by a later ebr_retire() or
 * ebr_flush() of the same thread, after the global epoch has moved twice
 * past the retirement, which it can only do once every thread inside a
 * read section has announced the newer epoch.
 *
 * Process-wide (every store shares it): one record per thread that has
 * used it, on a list that only grows (records of threads that exited are
 * reused). A reader writes only its own record's cache line: readers on
 * different CPUs share no written line.
 *
 * Memory ordering (the why is in ebr.c):
 *   enter   stores the epoch it saw (release), then a seq_cst fence, so
 *           either a reclaimer's scan sees it, or its loads of the
 *           structure see every unlink the reclaimer's epoch covers;
 *   retire  takes a seq_cst fence before reading the epoch that tags
 *           the memory, so the unlink is visible before the tag is read;
 *   exit    stores 0 (release): everything read inside happens before
 *           the free that a scan seeing the 0 allows.
 *
 * Rules: read sections nest (a depth count) and must not block for long
 * (a stuck reader keeps every retired block alive, never frees early);
 * retire only memory that no new reader can reach any more; what is
 * retired must have come from malloc() and is released with free(), or
 * is released by the function handed to ebr_retire_fn().
 */
#ifndef MC_EBR_H
#define MC_EBR_H

/* Enters a read section (nests). Never fails: a thread's first call may
 * allocate its record and calls mc_oom() when that fails. */
void ebr_enter(void);
/* Leaves a read section. */
void ebr_exit(void);
/* Frees @p (from malloc) once no read section that could see it is open. */
void ebr_retire(void *p);
/* The same, releasing @p with @release(@p) instead of free(). */
void ebr_retire_fn(void *p, void (*release)(void *));
/*
 * Frees what this thread retired, waiting (briefly yielding) for the
 * readers still inside a read section; for a store that is being freed
 * and for tests. Must not be called inside a read section.
 */
void ebr_flush(void);
/*
 * Waits until every read section open at the call has ended (the epoch
 * moves on twice). Must not be called inside a read section.
 */
void ebr_synchronize(void);

#endif
