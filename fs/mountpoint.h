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

/*
 * Whether @dir may take the tree (mooncaked(8): a mount point that is
 * already mounted, is not a directory or is not empty is refused): a
 * dead daemon's mount on it is recovered first (as
 * fs_mountpoint_prepare), a missing @dir is fine (it will be made).
 * 0, or -EBUSY (mounted), -ENOTDIR, -ENOTEMPTY, or another -errno of
 * stat(2) or opendir(3), with the reason, lowercase, in @why.
 */
int fs_mountpoint_check(const char *dir, char *why, size_t whylen);

/*
 * When @dir is a symbolic link, the absolute path it leads to, into @out
 * (the tree is mounted there: fusermount3 mounts on no link); 1 then, 0
 * when @dir is no link (or leads nowhere: the checks say why).
 */
int fs_mountpoint_resolve(const char *dir, char *out, size_t len);

/* Whether fusermount3 is on PATH (and so auto_unmount is possible). */
bool fs_have_fusermount(void);

/*
 * Forks a process that detaches @dir's mount once the daemon is gone
 * (it waits for the end of a pipe whose other end the daemon holds
 * until it exits). 0 or -errno.
 */
int fs_mountpoint_watchdog(const char *dir);

/*
 * The AF_UNIX stream sockets open in this process, as a set of
 * descriptors below FS_FD_SCAN (a bitmap of FS_FD_SCAN bits).
 */
#define FS_FD_SCAN 4096
void fs_unix_sockets(unsigned char set[FS_FD_SCAN / 8]);

/*
 * With auto_unmount, fusermount3 unmounts a dead daemon's tree when the
 * socket it shares with the daemon (@commfd, libfuse's) closes, but only
 * if the tree then answers ENOTCONN. At the daemon's death the kernel
 * may release that socket before the FUSE device, and a fusermount3 that
 * looks in between gets another error, takes the tree for alive and
 * leaves a dead mount behind. Forks a process that holds a copy of
 * @commfd until the daemon is gone and its tree no longer answers
 * anything but ENOTCONN (5 s at most), so that fusermount3 looks only
 * then. 0 or -errno.
 */
int fs_mountpoint_linger(const char *dir, int commfd);

#endif
