/*
 * proc.c - who holds a file of the tree open, from proc(5) (proc.h).
 */
#include "autoconfig.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"

pid_t fs_proc_tgid(pid_t pid)
{
	char name[64], line[256];
	pid_t tgid = pid;
	FILE *fp;

	if (pid <= 0)
		return pid;
	/* A thread that is not a group leader is not listed in /proc, but
	 * /proc/TID/status opens all the same (proc(5), /proc/tid). */
	snprintf(name, sizeof(name), "/proc/%d/status", (int)pid);
	fp = fopen(name, "re");
	if (!fp)
		return pid;
	while (fgets(line, sizeof(line), fp)) {
		if (!strncmp(line, "Tgid:", 5)) {
			tgid = (pid_t)strtol(line + 5, NULL, 10);
			break;
		}
	}
	fclose(fp);
	return tgid > 0 ? tgid : pid;
}

/* linux/sched.h: the task is exiting (field 9 of /proc/TID/stat) */
#define PF_EXITING 0x00000004u

bool fs_proc_killed(pid_t tid)
{
	char name[64], buf[2048], *p, *save = NULL;
	unsigned long flags = 0;
	long code = 0;
	ssize_t n;
	int fd;

	if (tid <= 0)
		return false;
	snprintf(name, sizeof(name), "/proc/%d/stat", (int)tid);
	fd = open(name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	/*
	 * The command may hold anything, ')' too: the fields follow the
	 * last one. Field 9 is the flags, field 52 the exit code, which
	 * every thread of a group that is going carries alike (its
	 * wait(2) status: a signal's number in the low 7 bits). A thread's
	 * own PF_SIGNALED would not do: exit(3) kills a process's other
	 * threads, and one of them may be the one that closes the files.
	 */
	p = strrchr(buf, ')');
	if (!p)
		return false;
	p = strtok_r(p + 1, " ", &save);
	for (int field = 3; p; field++, p = strtok_r(NULL, " ", &save)) {
		if (field == 9)
			flags = strtoul(p, NULL, 10);
		else if (field == 52) {
			code = strtol(p, NULL, 10);
			break;
		}
	}
	return (flags & PF_EXITING) && (code & 0x7f);
}

/* Whether fd @fd of @tgid is open for writing (its fdinfo flags:). */
static bool fd_writes(pid_t tgid, int fd)
{
	char path[64], line[128];
	bool w = false;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", (int)tgid, fd);
	fp = fopen(path, "re");
	if (!fp)
		return false; /* closed meanwhile */
	while (fgets(line, sizeof(line), fp)) {
		if (!strncmp(line, "flags:", 6)) {
			long fl = strtol(line + 6, NULL, 8);

			w = (fl & O_ACCMODE) != O_RDONLY;
			break;
		}
	}
	fclose(fp);
	return w;
}

unsigned fs_proc_count(pid_t tgid, const char *path, bool writing)
{
	static const char deleted[] = " (deleted)";
	size_t plen = strlen(path);
	char name[64], *link;
	struct dirent *de;
	unsigned count = 0;
	DIR *d;

	if (tgid <= 0)
		return 0;
	link = malloc(plen + sizeof(deleted) + 1);
	if (!link)
		return 0;
	snprintf(name, sizeof(name), "/proc/%d/fd", (int)tgid);
	d = opendir(name);
	while (d && (de = readdir(d))) {
		ssize_t n;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		/* readlink(2) of these links reads the dentry's path: the
		 * tree itself is not asked, so no request waits on this one */
		n = readlinkat(dirfd(d), de->d_name, link,
			       plen + sizeof(deleted));
		if (n < (ssize_t)plen || memcmp(link, path, plen) ||
		    ((size_t)n != plen &&
		     ((size_t)n != plen + sizeof(deleted) - 1 ||
		      memcmp(link + plen, deleted, sizeof(deleted) - 1))))
			continue;
		if (!writing || fd_writes(tgid, atoi(de->d_name)))
			count++;
	}
	if (d)
		closedir(d);
	free(link);
	return count;
}
