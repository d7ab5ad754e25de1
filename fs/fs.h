/*
 * fs.h - the FUSE door: the control tree of mooncakefs(5).
 */
#ifndef FS_FS_H
#define FS_FS_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct mc_store;
struct fs;

struct fs_opts {
	const char *mountpoint; /* created if missing */
	bool allow_other;
};

/*
 * Mounts the tree (recovering a stale mount left on @mountpoint) and runs
 * the multi-threaded FUSE loop on its own threads. NULL and a one-line
 * message in @err on failure.
 */
struct fs *fs_start(struct mc_store *s, const struct fs_opts *o,
		    struct mc_err *err);
/*
 * Checks that @mountpoint may take the tree before anything starts:
 * -EBUSY already mounted (another daemon's tree), -ENOTDIR, -ENOTEMPTY,
 * or another -errno, with a one-line message in @err; a stale mount of
 * a dead daemon is recovered, a missing directory is fine.
 */
int fs_check_mountpoint(const char *mountpoint, struct mc_err *err);
/*
 * When @mountpoint is a symbolic link, the directory it leads to (where
 * the tree is mounted: fusermount3 mounts on no link) into @out; 1 then,
 * else 0.
 */
int fs_resolve_mountpoint(const char *mountpoint, char *out, size_t len);
/* Unmounts, stops the loop and frees @f. */
void fs_stop(struct fs *f);

#endif
