/*
 * mountpoint.h - making a directory fit to mount the control tree on, and
 * keeping it from outliving the daemon (fs/fs.c calls these).
 */
#ifndef FS_MOUNTPOINT_H
#define FS_MOUNTPOINT_H

#include <stdbool.h>

/*
 * Readies @dir: a dead daemon's mount on it (ENOTCONN) is waited for
 * while its auto_unmount watchdog still runs, else detached; then the
 * directory and its parents are made (0755). 0 or -errno.
 */
int fs_mountpoint_prepare(const char *dir);

/* Whether fusermount3 is on PATH (and so auto_unmount is possible). */
bool fs_have_fusermount(void);

/*
 * Forks a process that detaches @dir's mount once the daemon is gone
 * (it waits for the end of a pipe whose other end the daemon holds
 * until it exits). 0 or -errno.
 */
int fs_mountpoint_watchdog(const char *dir);

#endif
