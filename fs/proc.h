/*
 * proc.h - who holds a file of the tree open, from proc(5): the FUSE
 * door's commit rule for keys/ (fs.c fs_flush) and the attributes an
 * open file shows (fs_getattr) need it, since a FUSE request names only
 * the thread that sent it, not the descriptor.
 */
#ifndef FS_PROC_H
#define FS_PROC_H

#include <stdbool.h>
#include <sys/types.h>

/*
 * The thread group (the process) of thread @pid: the Tgid: line of
 * /proc/PID/status (proc(5)). @pid itself when /proc does not say (no
 * such thread, or one outside the daemon's pid namespace: pid 0).
 */
pid_t fs_proc_tgid(pid_t pid);

/*
 * How many descriptors process @tgid has open on @path (an absolute path
 * into the tree, as /proc/PID/fd/N links read, with or without the
 * kernel's " (deleted)" after it); with @writing, only those open for
 * writing (the flags: line of /proc/PID/fdinfo/N). 0 also when
 * /proc/PID/fd cannot be read (another user's process: ptrace access
 * mode, proc(5)).
 */
unsigned fs_proc_count(pid_t tgid, const char *path, bool writing);

/*
 * Whether thread @tid is exiting because a signal killed its process
 * (Ctrl-C, kill, kill -9), as a process is whose files the kernel closes
 * for it: its flags and exit code in /proc/TID/stat (proc(5)). false
 * when /proc does not say (no such thread, pid 0: a process outside the
 * daemon's pid namespace; the exit code of another user's process).
 */
bool fs_proc_killed(pid_t tid);

#endif
