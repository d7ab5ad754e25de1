/*
 * fs.h - the FUSE door: the control tree of CONTRACT section 7.
 */
#ifndef MC_FS_H
#define MC_FS_H

#include <stdbool.h>
#include <stddef.h>

struct mc_store;
struct mc_fs;

struct mc_fs_opts {
	const char *mountpoint;   /* created if missing */
	bool allow_other;
};

/*
 * Mounts the tree (recovering a stale mount left on @mountpoint) and runs
 * the multi-threaded FUSE loop on its own threads. NULL and a one-line
 * message in @err on failure.
 */
struct mc_fs *mc_fs_start(struct mc_store *s, const struct mc_fs_opts *o,
			  char *err, size_t errlen);
/* Unmounts, stops the loop and frees @f. */
void mc_fs_stop(struct mc_fs *f);

#endif
