/*
 * memfs.c - the FUSE ceiling: a plain in-memory file system mounted with
 * the options mooncaked's control tree uses (libfuse3 high-level API,
 * fuse_new + fuse_mount + fuse_loop_mt with 16 threads, direct_io, zero
 * entry/attr/negative timeouts, max_read 1 MiB), so that what separates
 * the two is mooncaked's own work and not the kernel's caching.
 *
 *   memfs [-s] MOUNTPOINT [BIG_BYTES [DIR_ENTRIES]]
 *
 * -s runs the single-threaded loop (fuse_loop) instead: on a VM, where a
 * wake-up on the other CPU is dear, it shows what the threads cost.
 *
 *   /health          "OK\n"
 *   /big             BIG_BYTES (default 64 MiB) of a pattern
 *   /dir/key-NNNNNNN DIR_ENTRIES (default 100000) files of 16 bytes
 *
 * Prints "memfs: ready MOUNTPOINT" once mounted; SIGINT/SIGTERM unmounts
 * and exits (auto_unmount covers a SIGKILL).
 */
/*
 * 3.14's API, as fs/fs.c: below 3.12, fuse_loop_mt() reads the config
 * as the old two-field struct, gets a small max_idle_threads from the
 * new one, and then creates and ends a thread for every request.
 */
#define FUSE_USE_VERSION 314

#include "autoconfig.h"

#include <errno.h>
#include <stdbool.h>
#include <fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define IO_MAX	   (1u << 20)
#define ENTRY_SIZE 16

static char *big;
static size_t big_len = 64u << 20;
static unsigned nentries = 100000;

static const char health[] = "OK\n";

/* The index of "/dir/key-NNNNNNN", or -1. */
static long entry_of(const char *path)
{
	char *end;
	long i;

	if (strncmp(path, "/dir/key-", 9) || strlen(path) != 16)
		return -1;
	i = strtol(path + 9, &end, 10);
	return *end || i < 0 || i >= (long)nentries ? -1 : i;
}

static int m_getattr(const char *path, struct stat *st,
		     struct fuse_file_info *fi)
{
	(void)fi;
	memset(st, 0, sizeof(*st));
	st->st_nlink = 1;
	if (!strcmp(path, "/") || !strcmp(path, "/dir")) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else if (!strcmp(path, "/health")) {
		st->st_mode = S_IFREG | 0444;
		st->st_size = sizeof(health) - 1;
	} else if (!strcmp(path, "/big")) {
		st->st_mode = S_IFREG | 0444;
		st->st_size = (off_t)big_len;
	} else if (entry_of(path) >= 0) {
		st->st_mode = S_IFREG | 0444;
		st->st_size = ENTRY_SIZE;
	} else {
		return -ENOENT;
	}
	return 0;
}

static int m_open(const char *path, struct fuse_file_info *fi)
{
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	if (strcmp(path, "/health") && strcmp(path, "/big") &&
	    entry_of(path) < 0)
		return -ENOENT;
	fi->direct_io = 1;
	return 0;
}

static int slice(char *buf, size_t size, off_t off, const char *src, size_t len)
{
	if ((size_t)off >= len)
		return 0;
	if (size > len - (size_t)off)
		size = len - (size_t)off;
	memcpy(buf, src + off, size);
	return (int)size;
}

static int m_read(const char *path, char *buf, size_t size, off_t off,
		  struct fuse_file_info *fi)
{
	static const char entry[ENTRY_SIZE] = "0123456789abcde\n";

	(void)fi;
	if (!strcmp(path, "/big"))
		return slice(buf, size, off, big, big_len);
	if (!strcmp(path, "/health"))
		return slice(buf, size, off, health, sizeof(health) - 1);
	if (entry_of(path) >= 0)
		return slice(buf, size, off, entry, ENTRY_SIZE);
	return -ENOENT;
}

static int m_readdir(const char *path, void *buf, fuse_fill_dir_t fill,
		     off_t off, struct fuse_file_info *fi,
		     enum fuse_readdir_flags flags)
{
	char name[32];

	(void)off;
	(void)fi;
	(void)flags;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	if (!strcmp(path, "/")) {
		fill(buf, "health", NULL, 0, 0);
		fill(buf, "big", NULL, 0, 0);
		fill(buf, "dir", NULL, 0, 0);
		return 0;
	}
	if (strcmp(path, "/dir"))
		return -ENOENT;
	for (unsigned i = 0; i < nentries; i++) {
		snprintf(name, sizeof(name), "key-%07u", i);
		if (fill(buf, name, NULL, 0, 0))
			break;
	}
	return 0;
}

static void *m_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	cfg->entry_timeout = 0;
	cfg->attr_timeout = 0;
	cfg->negative_timeout = 0;
	cfg->direct_io = 1;
	cfg->kernel_cache = 0;
	cfg->auto_cache = 0;
	conn->max_read = IO_MAX;
	conn->max_readahead = IO_MAX;
	return NULL;
}

static const struct fuse_operations ops = {
	.init = m_init,
	.getattr = m_getattr,
	.open = m_open,
	.read = m_read,
	.readdir = m_readdir,
};

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_loop_config *lc;
	struct fuse *f;
	char opts[128];
	int rc = 1;
	bool single = argc > 1 && !strcmp(argv[1], "-s");

	if (single) {
		argv++;
		argc--;
	}
	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: memfs [-s] MOUNTPOINT [BIG_BYTES "
				"[DIR_ENTRIES]]\n");
		return 2;
	}
	if (argc > 2)
		big_len = strtoull(argv[2], NULL, 0);
	if (argc > 3)
		nentries = (unsigned)strtoul(argv[3], NULL, 0);
	big = malloc(big_len ? big_len : 1);
	if (!big)
		return 1;
	for (size_t i = 0; i < big_len; i++)
		big[i] = (char)(i * 131);
	snprintf(opts, sizeof(opts),
		 "fsname=memfs,default_permissions,"
		 "auto_unmount,max_read=%u",
		 IO_MAX);
	if (fuse_opt_add_arg(&args, "memfs") || fuse_opt_add_arg(&args, "-o") ||
	    fuse_opt_add_arg(&args, opts))
		return 1;
	f = fuse_new(&args, &ops, sizeof(ops), NULL);
	if (!f)
		goto out_args;
	if (fuse_mount(f, argv[1])) {
		fprintf(stderr, "memfs: cannot mount '%s'\n", argv[1]);
		goto out_new;
	}
	if (fuse_set_signal_handlers(fuse_get_session(f)))
		goto out_mount;
	printf("memfs: ready %s\n", argv[1]);
	fflush(stdout);
	/* Either returns the signal that ended it, which is the normal end. */
	if (single) {
		fuse_loop(f);
	} else {
		lc = fuse_loop_cfg_create();
		fuse_loop_cfg_set_max_threads(lc, 16);
		fuse_loop_mt(f, lc);
		fuse_loop_cfg_destroy(lc);
	}
	rc = 0;
	fuse_remove_signal_handlers(fuse_get_session(f));
out_mount:
	fuse_unmount(f);
out_new:
	fuse_destroy(f);
out_args:
	fuse_opt_free_args(&args);
	free(big);
	return rc;
}
