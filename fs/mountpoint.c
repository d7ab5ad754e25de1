/*
 * mountpoint.c - the control tree's mount point hygiene: a dead daemon's
 * mount left behind is waited for or detached, the directory is made,
 * and without fusermount3's auto_unmount a watchdog process detaches the
 * mount when the daemon dies, however it dies. No FUSE calls here.
 */
#include "autoconfig.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "mountpoint.h"

static int mkdir_p(const char *dir)
{
	char tmp[PATH_MAX];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, dir, n + 1);
	for (char *c = tmp + 1; *c; c++) {
		if (*c != '/')
			continue;
		*c = '\0';
		if (mkdir(tmp, 0755) && errno != EEXIST)
			return -errno;
		*c = '/';
	}
	if (mkdir(tmp, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

static void run_fusermount(const char *dir)
{
	pid_t pid = fork();

	if (pid == 0) {
		execlp("fusermount3", "fusermount3", "-u", "-q", "-z", "--",
		       dir, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

/* Is a fusermount3 process (a dead daemon's watchdog) still watching @dir? */
static bool watchdog_alive(const char *dir)
{
	DIR *proc = opendir("/proc");
	struct dirent *de;
	bool found = false;

	if (!proc)
		return false;
	while (!found && (de = readdir(proc))) {
		char path[300], cmd[4096], *last, *base;
		ssize_t n;
		int fd;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, cmd, sizeof(cmd) - 1);
		close(fd);
		if (n <= 1)
			continue;
		cmd[n] = '\0';
		/* argv[0] and the last argument (the mount point). */
		base = strrchr(cmd, '/');
		base = base ? base + 1 : cmd;
		for (last = cmd + n - 1; last > cmd && last[-1]; last--)
			;
		found = !strcmp(base, "fusermount3") && !strcmp(last, dir);
	}
	closedir(proc);
	return found;
}

/*
 * A dead daemon's mount answers ENOTCONN. Its auto_unmount watchdog
 * removes it at once; while one still watches the mount point, wait for
 * it (detaching the mount ourselves would let it detach our new mount
 * afterwards), else detach it so the new mount does not land on a
 * corpse.
 */
static int recover_stale(const char *dir)
{
	struct stat st;

	for (int i = 0; i < 100; i++) {
		if (!stat(dir, &st) || errno != ENOTCONN)
			return 0;
		if (i >= 2 && !watchdog_alive(dir))
			break;
		usleep(50 * 1000);
	}
	mc_warn("fuse: mount point '%s' holds a dead mount, detaching it", dir);
	if (umount2(dir, MNT_DETACH))
		run_fusermount(dir);
	return stat(dir, &st) ? -errno : 0;
}

bool fs_have_fusermount(void)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (!path)
		path = "/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");

		snprintf(buf, sizeof(buf), "%.*s/fusermount3", (int)n, path);
		if (!access(buf, X_OK))
			return true;
		path += n + (path[n] == ':');
	}
	return false;
}

/*
 * Forks a child that keeps no descriptor of the daemon but @keep (as
 * descriptor 3; -1: none), waits until the daemon is gone (the end of a
 * pipe whose other end the daemon holds until it exits, however it
 * ends), runs @then(@dir) and exits. 0 or -errno.
 */
static int fork_watcher(const char *dir, int keep, void (*then)(const char *))
{
	int p[2];
	pid_t pid;
	char c;

	if (pipe(p))
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (pid == 0) {
		/* Above all not the FUSE device, which would keep the
		 * tree's connection alive. */
		if (dup2(p[0], 0) < 0 || (keep >= 0 && dup2(keep, 3) < 0))
			_exit(1);
		for (int fd = 1; fd < FS_FD_SCAN; fd++)
			if (fd != 3 || keep < 0)
				close(fd);
		while (read(0, &c, 1) < 0 && errno == EINTR)
			;
		then(dir);
		_exit(0);
	}
	close(p[0]);
	fcntl(p[1], F_SETFD, FD_CLOEXEC);
	return 0; /* p[1] stays open until the daemon exits */
}

static void detach(const char *dir)
{
	umount2(dir, MNT_DETACH);
}

/*
 * Without fusermount3 there is no auto_unmount: a child process detaches
 * the mount once the daemon is gone.
 */
int fs_mountpoint_watchdog(const char *dir)
{
	return fork_watcher(dir, -1, detach);
}

void fs_unix_sockets(unsigned char set[FS_FD_SCAN / 8])
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	memset(set, 0, FS_FD_SCAN / 8);
	if (!d)
		return;
	while ((de = readdir(d))) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = atoi(de->d_name), type = 0;
		socklen_t tl = sizeof(type);

		if (de->d_name[0] < '0' || de->d_name[0] > '9' || fd < 0 ||
		    fd >= FS_FD_SCAN || fd == dirfd(d))
			continue;
		if (!getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) &&
		    type == SOCK_STREAM &&
		    !getsockname(fd, (struct sockaddr *)&ss, &sl) &&
		    ss.ss_family == AF_UNIX)
			set[fd / 8] |= (unsigned char)(1u << (fd % 8));
	}
	closedir(d);
}

/*
 * The daemon is gone. Its tree answers a request sent before the device
 * is released with ECONNABORTED, after with ENOTCONN; anything else (it
 * opens: no longer ours, or another error) ends the wait too. Then the
 * copy of fusermount3's socket closes with this process.
 */
static void wait_dead(const char *dir)
{
	for (int i = 0; i < 500; i++) {
		int fd = open(dir, O_RDONLY | O_DIRECTORY);

		if (fd >= 0) {
			close(fd);
			return;
		}
		if (errno != ECONNABORTED && errno != EINTR)
			return;
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	}
}

int fs_mountpoint_linger(const char *dir, int commfd)
{
	return fork_watcher(dir, commfd, wait_dead);
}

/*
 * Whether @dir (a real path) is a mount point in /proc/self/mountinfo;
 * its file system type into @type. Mount points there escape blanks,
 * tabs, newlines and backslashes as \ooo.
 */
static bool mounted_at(const char *dir, char *type, size_t tlen)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL, *fields[10];
	size_t cap = 0;
	bool found = false;

	if (!f)
		return false;
	while (!found && getline(&line, &cap, f) > 0) {
		char *save = NULL, *p = line, *d;
		int n = 0;

		while (n < 10 && (fields[n] = strtok_r(p, " \n", &save))) {
			p = NULL;
			n++;
		}
		if (n < 5)
			continue;
		/* the mount point, unescaped in place */
		for (p = d = fields[4]; *p; d++) {
			if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' &&
			    p[2] >= '0' && p[2] <= '7' && p[3] >= '0' &&
			    p[3] <= '7') {
				*d = (char)((p[1] - '0') << 6 |
					    (p[2] - '0') << 3 | (p[3] - '0'));
				p += 4;
			} else {
				*d = *p++;
			}
		}
		*d = '\0';
		if (strcmp(fields[4], dir))
			continue;
		found = true;
		/* the optional fields end with "-", then the type */
		snprintf(type, tlen, "?");
		for (int i = 6; i + 1 < n; i++)
			if (!strcmp(fields[i], "-")) {
				snprintf(type, tlen, "%s", fields[i + 1]);
				break;
			}
	}
	free(line);
	fclose(f);
	return found;
}

/*
 * @dir made absolute without touching @dir itself (its parent resolved):
 * whatever serves a mount there is never asked. 0 or -errno.
 */
static int canonical(const char *dir, char *out, size_t len)
{
	char tmp[PATH_MAX], parent[PATH_MAX];
	const char *base;
	char *slash;
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, dir, n + 1);
	while (n > 1 && tmp[n - 1] == '/')
		tmp[--n] = '\0';
	slash = strrchr(tmp, '/');
	base = slash ? slash + 1 : tmp;
	if (!strcmp(base, ".") || !strcmp(base, "..")) {
		/* a name that is no name of its own: resolve it whole */
		if (!realpath(tmp, parent))
			return -errno;
		snprintf(out, len, "%s", parent);
		return 0;
	}
	if (slash)
		*slash = '\0';
	if (!realpath(slash ? (slash == tmp ? "/" : tmp) : ".", parent)) {
		/* no parent yet: it is made with the mount point */
		if (slash || !getcwd(parent, sizeof(parent)))
			snprintf(parent, sizeof(parent), "%s", tmp);
	}
	if ((size_t)snprintf(out, len, "%s/%s",
			     strcmp(parent, "/") ? parent : "", base) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * One daemon a mount point: an abstract AF_UNIX name made from the mount
 * point's path, held for the daemon's life. The kernel frees it when the
 * process ends, however it ends; taking it touches nothing under the
 * mount point, so a daemon that serves it but does not answer (stopped,
 * hung) cannot make the check wait, and two daemons started at once
 * cannot both pass it. The watchers (fork_watcher) do not keep it.
 */
static int claim_fd = -1;
static char claim_path[PATH_MAX];

static int claim(const char *dir)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char path[PATH_MAX];
	socklen_t sl;
	int fd, r = canonical(dir, path, sizeof(path));

	if (r < 0)
		return r;
	if (claim_fd >= 0 && !strcmp(path, claim_path))
		return 0;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0; /* no claim to be had: the checks below still run */
	snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1,
		 "mooncaked/mountpoint/%016llx",
		 (unsigned long long)mc_fnv1a(path, strlen(path)));
	sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
			 strlen(sa.sun_path + 1));
	if (bind(fd, (struct sockaddr *)&sa, sl)) {
		r = errno == EADDRINUSE ? -EBUSY : 0;
		close(fd);
		return r;
	}
	if (claim_fd >= 0)
		close(claim_fd);
	claim_fd = fd;
	snprintf(claim_path, sizeof(claim_path), "%s", path);
	return 0;
}

int fs_mountpoint_check(const char *dir, char *why, size_t whylen)
{
	char real[PATH_MAX], type[64];
	struct stat st;
	struct dirent *de;
	DIR *d;
	int r = claim(dir);

	if (r == -EBUSY) {
		bool tree = realpath(dir, real) &&
			    mounted_at(real, type, sizeof(type));

		snprintf(why, whylen, "%s",
			 tree ? "already mounted by another mooncaked, which "
				"is still running (it may not be answering)"
			      : "held by another mooncaked, which is still "
				"running with no tree there (it is starting, "
				"or its tree was unmounted from outside: "
				"restart it to mount it again)");
		return r;
	}
	r = recover_stale(dir);

	if (r < 0) {
		snprintf(why, whylen, "%s", strerror(-r));
		return r == -ENOENT ? 0 : r;
	}
	if (stat(dir, &st)) {
		if (errno == ENOENT)
			return 0; /* made by fs_mountpoint_prepare */
		snprintf(why, whylen, "%s", strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(why, whylen, "not a directory");
		return -ENOTDIR;
	}
	if (realpath(dir, real) && mounted_at(real, type, sizeof(type))) {
		snprintf(why, whylen,
			 "already mounted (%s%s); is another mooncaked "
			 "serving it?",
			 type,
			 strncmp(type, "fuse", 4) ? "" : ", a live FUSE tree");
		return -EBUSY;
	}
	d = opendir(dir);
	if (!d) {
		snprintf(why, whylen, "%s", strerror(errno));
		return -errno;
	}
	while ((de = readdir(d)) &&
	       (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")))
		;
	r = de ? -ENOTEMPTY : 0;
	if (de)
		snprintf(why, whylen, "not empty (it holds '%.100s')",
			 de->d_name);
	closedir(d);
	return r;
}

int fs_mountpoint_resolve(const char *dir, char *out, size_t len)
{
	char real[PATH_MAX], target[2];

	/* readlink, not lstat: the stat of a mount point asks whatever
	 * serves it, which may not answer (fs_mountpoint_check) */
	if (readlink(dir, target, sizeof(target)) < 0 || !realpath(dir, real) ||
	    strlen(real) >= len)
		return 0;
	memcpy(out, real, strlen(real) + 1);
	return 1;
}

int fs_mountpoint_prepare(const char *dir)
{
	int r = recover_stale(dir);

	return r ? r : mkdir_p(dir);
}
