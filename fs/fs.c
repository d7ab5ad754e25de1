/*
 * fs.c - the FUSE door: the only file that includes <fuse.h>.
 *
 * Translates high-level FUSE calls into the tree (tree.h): paths resolve
 * through the node table, control files are built once at open and served
 * from that snapshot (lxcfs), key files read from a reference to one
 * version and write into a private buffer committed at close. Every file
 * is direct_io and every timeout is zero, so a change made over HTTP is
 * visible at once.
 */
#define FUSE_USE_VERSION 314

#include "autoconfig.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"
#include "keyname.h"
#include "mountpoint.h"
#include "log.h"
#include "metrics.h"
#include "proc.h"
#include "tree.h"

#define IO_MAX (1u << 20) /* max_read / max_write */

/* FUSE operations by kind, for mooncake_fuse_operations_total{op}. */
enum op {
	OP_GETATTR,
	OP_READDIR,
	OP_OPEN,
	OP_READ,
	OP_WRITE,
	OP_CREATE,
	OP_FLUSH,
	OP_RELEASE,
	OP_TRUNCATE,
	OP_UNLINK,
	OP_OTHER,
	OP_N
};
static const char *const op_names[OP_N] = {
	[OP_GETATTR] = "getattr",   [OP_READDIR] = "readdir",
	[OP_OPEN] = "open",	    [OP_READ] = "read",
	[OP_WRITE] = "write",	    [OP_CREATE] = "create",
	[OP_FLUSH] = "flush",	    [OP_RELEASE] = "release",
	[OP_TRUNCATE] = "truncate", [OP_UNLINK] = "unlink",
	[OP_OTHER] = "other",
};

struct fs {
	struct mc_store *s;
	struct fuse *fuse;
	char *mountpoint;
	char *real; /* the mount point as /proc/PID/fd links name it */
	pthread_t thread;
	int running;
	atomic_bool stopping; /* fs_stop() has begun: the loop may end */
	uid_t uid;
	gid_t gid;
	struct timespec t0;
	struct mc_series *ops[OP_N];
	/* Open files, so the ones still open at stop can be freed. */
	pthread_mutex_t fh_lock;
	struct fh *fhs;
	atomic_int nkeys; /* of them keys/ files: none, no search */
};

/* How reads after a write on a control file find its reply (fs_read). */
enum { RMODE_NONE, RMODE_ZERO, RMODE_AFTER };

/* One open file or directory. */
struct fh {
	struct fs_path p;
	pthread_mutex_t lock;
	struct fs_keyfile *kf; /* keys/KEY */
	pid_t tgid;	       /* the process that opened it */
	bool writer;	       /* keys/KEY: opened for writing */
	bool closed;	       /* its opener has closed it (under fh_lock) */
	char *abs;	       /* keys/KEY: its path under the mount point */
	struct mc_buf snap;    /* other files: the content built at open */
	uint64_t rbase;	       /* file offset where the last write ended */
	int rmode;	       /* how reads after that write see the reply */
	struct fs_keydir kd;   /* keys/ and replicas/ */
	struct fs *fs;
	struct fh *prev, *next;
};

static struct fs *ctx(enum op op)
{
	struct fs *f = fuse_get_context()->private_data;

	mc_series_add(f->ops[op], 1);
	return f;
}

static struct fh *fh_of(struct fuse_file_info *fi)
{
	return fi ? (struct fh *)(uintptr_t)fi->fh : NULL;
}

static struct fh *fh_new(struct fs *f)
{
	struct fh *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	pthread_mutex_init(&h->lock, NULL);
	h->fs = f;
	pthread_mutex_lock(&f->fh_lock);
	h->next = f->fhs;
	if (f->fhs)
		f->fhs->prev = h;
	f->fhs = h;
	pthread_mutex_unlock(&f->fh_lock);
	return h;
}

static void fh_free(struct fh *h)
{
	struct fs *f;

	if (!h)
		return;
	f = h->fs;
	pthread_mutex_lock(&f->fh_lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		f->fhs = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&f->fh_lock);
	if (h->kf)
		atomic_fetch_sub(&f->nkeys, 1);
	fs_keyfile_free(h->kf);
	free(h->abs);
	mc_buf_release(&h->snap);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static void fill_stat(struct fs *f, int node, uint64_t size, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = fs_nodes[node].mode;
	st->st_nlink = S_ISDIR(st->st_mode) ? 2 : 1;
	st->st_uid = f->uid;
	st->st_gid = f->gid;
	st->st_size = (off_t)size;
	/* A value's preferred I/O size is one whole request (max_write,
	 * mooncakefs(5)): cp and cat size their buffers from it, and a
	 * 128 KiB buffer would take eight round trips where one does. */
	st->st_blksize = node == FS_N_KEY ? IO_MAX : 4096;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
	st->st_atim = st->st_mtim = st->st_ctim = f->t0;
}

/* The path of @path (a path of the tree) as /proc/PID/fd links name it. */
static char *abs_path(struct fs *f, const char *path)
{
	size_t n = strlen(f->real), m = strlen(path);
	char *a = malloc(n + m + 1);

	if (a) {
		memcpy(a, f->real, n);
		memcpy(a + n, path, m + 1);
	}
	return a;
}

static bool same_key(const struct fh *h, const struct fs_path *p)
{
	return h->kf && h->p.klen == p->klen &&
	       !memcmp(h->p.key, p->key, p->klen);
}

/*
 * The size a key shows to the process asking when that process holds it
 * open (mooncakefs(5), keys/, stat): fstat(2) reaches the daemon as a
 * getattr of the name without the file handle (the kernel sends
 * FUSE_GETATTR_FH only for its own attribute refreshes), so the open
 * file is found from the asking process instead. Its own open file of
 * the key (the newest), else the newest of any process (a descriptor
 * inherited: `exec 3<keys/k; cat <&3`). 0 and *@size, or -ENOENT.
 */
static int held_size(struct fs *f, const char *path, const struct fs_path *p,
		     uint64_t *size)
{
	struct fh *h, *best = NULL;
	bool any = false;
	pid_t tgid;
	char *abs;
	int r = -ENOENT;

	if (!atomic_load(&f->nkeys))
		return -ENOENT;
	pthread_mutex_lock(&f->fh_lock);
	for (h = f->fhs; h && !any; h = h->next)
		any = same_key(h, p);
	pthread_mutex_unlock(&f->fh_lock);
	if (!any)
		return -ENOENT;
	tgid = fs_proc_tgid(fuse_get_context()->pid);
	abs = abs_path(f, path);
	if (!abs)
		return -ENOMEM;
	any = fs_proc_count(tgid, abs, false) > 0;
	free(abs);
	if (!any)
		return -ENOENT;
	pthread_mutex_lock(&f->fh_lock);
	for (h = f->fhs; h; h = h->next) {
		if (!same_key(h, p))
			continue;
		if (!best)
			best = h;
		if (h->tgid == tgid) {
			best = h;
			break;
		}
	}
	if (best)
		r = fs_keyfile_held_size(best->kf, size);
	pthread_mutex_unlock(&f->fh_lock);
	return r;
}

static int fs_getattr(const char *path, struct stat *st,
		      struct fuse_file_info *fi)
{
	struct fs *f = ctx(OP_GETATTR);
	struct fh *h = fh_of(fi);
	struct fs_path p;
	uint64_t size = 0;
	int r;

	if (h && h->kf) {
		fill_stat(f, FS_N_KEY, fs_keyfile_size(h->kf), st);
		return 0;
	}
	r = fs_tree_resolve(f->s, path, &p);
	if ((!r || r == -ENOENT || r == -EAGAIN) && p.node == FS_N_KEY &&
	    held_size(f, path, &p, &size) == 0) {
		fill_stat(f, FS_N_KEY, size, st);
		return 0;
	}
	/* A created key open for writing exists before its first commit,
	 * also while no cluster leader could say whether it exists. */
	if ((r == -ENOENT || r == -EAGAIN) && p.node == FS_N_KEY &&
	    fs_keyfile_pending(p.key, p.klen, &size) == 0)
		r = 0;
	else if (!r && (p.node == FS_N_KEY || p.node == FS_N_META_KEY))
		size = p.vsize;
	if (r < 0)
		return r;
	fill_stat(f, p.node, size, st);
	return 0;
}

/* Open modes against the node's owner bits: root is held to them too,
 * so writing a read-only view fails the same way for everyone. */
static int check_access(int node, int flags)
{
	mode_t m = fs_nodes[node].mode;
	int acc = flags & O_ACCMODE;

	if (S_ISDIR(m))
		return acc == O_RDONLY ? 0 : -EISDIR;
	if ((acc == O_RDONLY || acc == O_RDWR) && !(m & S_IRUSR))
		return -EACCES;
	if ((acc == O_WRONLY || acc == O_RDWR) && !(m & S_IWUSR))
		return -EACCES;
	return 0;
}

static int key_flags(int flags)
{
	int acc = flags & O_ACCMODE, kf = 0;

	if (acc != O_WRONLY)
		kf |= FS_KF_READ;
	if (acc != O_RDONLY)
		kf |= FS_KF_WRITE;
	if ((flags & O_TRUNC) && acc != O_RDONLY)
		kf |= FS_KF_TRUNC;
	if (flags & O_APPEND)
		kf |= FS_KF_APPEND;
	return kf;
}

static int open_path(struct fs *f, const char *path, struct fs_path *p,
		     struct fuse_file_info *fi, int kflags)
{
	struct fh *h;
	int r = check_access(p->node, fi->flags);

	if (r < 0)
		return r;
	if (S_ISDIR(fs_nodes[p->node].mode))
		return -EISDIR;
	h = fh_new(f);
	if (!h)
		return -ENOMEM;
	h->p = *p;
	if (p->node == FS_N_KEY) {
		h->tgid = fs_proc_tgid(fuse_get_context()->pid);
		h->writer = (fi->flags & O_ACCMODE) != O_RDONLY;
		h->abs = abs_path(f, path);
		r = h->abs ? fs_keyfile_open(f->s, p->key, p->klen,
					     key_flags(fi->flags) | kflags,
					     &h->kf)
			   : -ENOMEM;
		if (h->kf)
			atomic_fetch_add(&f->nkeys, 1);
	} else
		r = fs_tree_show(f->s, p, &h->snap);
	if (r < 0) {
		fh_free(h);
		return r;
	}
	fi->fh = (uintptr_t)h;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	/* Only a written key has anything to do at close. */
	fi->noflush =
		!(p->node == FS_N_KEY && (fi->flags & O_ACCMODE) != O_RDONLY);
	return 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
	struct fs *f = ctx(OP_OPEN);
	struct fs_path p;
	int r = fs_tree_resolve(f->s, path, &p);

	/*
	 * The kernel opens (rather than creates) a name it looked up a
	 * moment ago: a key removed over HTTP in between is made again by
	 * a write open, as if the lookup had come after the removal.
	 */
	if (r == -ENOENT && p.node == FS_N_KEY &&
	    (fi->flags & O_ACCMODE) != O_RDONLY)
		return open_path(f, path, &p, fi, FS_KF_CREATE);
	if (r < 0)
		return r;
	return open_path(f, path, &p, fi, 0);
}

/*
 * A create in keys/ under a name no key has (%41, %2f, a raw control
 * byte): EINVAL, and a line that says what the name should be, where a
 * lookup's ENOENT would leave a shell with "No such file or directory"
 * for a file it asked to make (mooncakefs(5), keys/).
 */
static int bad_key_name(const char *path)
{
	static const char dir[] = "/keys/";
	const char *name = path + sizeof(dir) - 1;
	char key[MC_KEY_MAX], shown[4 * 64 + 1];
	size_t klen, n = 0;

	if (strncmp(path, dir, sizeof(dir) - 1) || strchr(name, '/') ||
	    fs_keyname_decode(name, key, sizeof(key), &klen) != -EINVAL)
		return 0;
	for (const char *c = name; *c && n + 5 < sizeof(shown) && c - name < 64;
	     c++)
		n += (size_t)snprintf(shown + n, sizeof(shown) - n,
				      (unsigned char)*c < 0x20 || *c == 0x7f
					      ? "\\x%02x"
					      : "%c",
				      (unsigned char)*c);
	fs_error("keys: cannot create '%s': not a key's file name (only %%, "
		 "/ and control bytes are written %%XX, in capitals)",
		 shown);
	return -EINVAL;
}

static int fs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct fs *f = ctx(OP_CREATE);
	struct fs_path p;
	int r = fs_tree_resolve(f->s, path, &p);

	if (!r)
		return open_path(f, path, &p, fi, 0);
	if (r == -ENOENT && bad_key_name(path))
		return -EINVAL;
	if (r != -ENOENT || p.node < 0)
		return r;
	if (p.node != FS_N_KEY)
		return -EACCES;
	return open_path(f, path, &p, fi, FS_KF_CREATE);
}

static int fs_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	struct fh *h = fh_of(fi);
	uint64_t o = (uint64_t)off, len;
	int64_t n;

	ctx(OP_READ);
	if (h->kf) {
		n = fs_keyfile_read(h->kf, buf, size, o);
		return (int)n;
	}
	pthread_mutex_lock(&h->lock);
	/*
	 * After a write on this file (ctl/mount) the reply is readable two
	 * ways (mooncakefs(5)): from offset 0 (pread, lseek + read), and
	 * from where the write left the file offset (echo ... >&3; cat
	 * <&3). The two overlap, so the first read after the write picks
	 * one and later reads keep it; a read at 0 always starts over.
	 */
	if (h->rbase) {
		if (o == 0)
			h->rmode = RMODE_ZERO;
		else if (h->rmode == RMODE_NONE)
			h->rmode = o == h->rbase ? RMODE_AFTER : RMODE_ZERO;
		if (h->rmode == RMODE_AFTER && o >= h->rbase)
			o -= h->rbase;
	}
	len = h->snap.len;
	if (o >= len)
		size = 0;
	else if (size > len - o)
		size = len - o;
	if (size)
		memcpy(buf, h->snap.data + o, size);
	pthread_mutex_unlock(&h->lock);
	return (int)size;
}

static int fs_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs *f = ctx(OP_WRITE);
	struct fh *h = fh_of(fi);
	struct mc_buf reply = MC_BUF_INIT;
	int r;

	if (h->kf)
		return (int)fs_keyfile_write(h->kf, buf, size, (uint64_t)off);
	if (!fs_nodes[h->p.node].store)
		return -EACCES;
	r = fs_nodes[h->p.node].store(f->s, &h->p, buf, size, &reply);
	if (r < 0) {
		mc_buf_release(&reply);
		return r;
	}
	pthread_mutex_lock(&h->lock);
	mc_buf_release(&h->snap);
	h->snap = reply;
	h->rbase = (uint64_t)off + size;
	h->rmode = RMODE_NONE;
	pthread_mutex_unlock(&h->lock);
	return (int)size;
}

static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct fs *f = ctx(OP_TRUNCATE);
	struct fh *h = fh_of(fi);
	struct fs_path p;
	int r;

	if (h && h->kf)
		return fs_keyfile_truncate(h->kf, (uint64_t)size);
	if (h)
		p = h->p;
	else if ((r = fs_tree_resolve(f->s, path, &p)) < 0)
		return r;
	/* The shell's `>` truncates before it writes the message. */
	if (fs_nodes[p.node].store)
		return 0;
	if (p.node == FS_N_KEY)
		return fs_key_truncate(f->s, p.key, p.klen, (uint64_t)size);
	return S_ISDIR(fs_nodes[p.node].mode) ? -EISDIR : -EACCES;
}

/*
 * The kernel sends a flush for every close(2) of a descriptor of the open
 * file, for the close-on-exec sweep of every execve(2) and for every exit
 * of a process that inherited it, and close(2) returns what flush
 * returns. A keys/ file is committed at the flush that ends its writer's
 * use of it: the process that opened it closes the last descriptor it
 * holds of that open file for writing (its own closed descriptor is gone
 * from /proc/PID/fd by then). So close(2) of `cmd > keys/k`, cp, dd or a
 * program's own open/write/close reports the put's error, while a
 * child's exit, an exec, a dup()ed descriptor closed (bash's `echo >&3`
 * restoring its stdout) or the shell's own closes inside
 * `{ a; b; } > keys/k` publish nothing half-written. What is left
 * uncommitted goes at release, the last close of all (mooncakefs(5),
 * keys/).
 */
static int fs_flush(const char *path, struct fuse_file_info *fi)
{
	struct fs *f = ctx(OP_FLUSH);
	struct fh *h = fh_of(fi), *o;
	unsigned held, others = 0;
	bool done;
	pid_t tgid;

	if (!h->kf)
		return 0;
	tgid = fs_proc_tgid(fuse_get_context()->pid);
	if (tgid != h->tgid)
		return fs_keyfile_error(h->kf);
	/*
	 * /proc names paths, not open files: the process's descriptors of
	 * this key open for writing are those of its other open files of
	 * the key (one or more each, its threads each writing their own)
	 * and what is left of this one. Counted under the lock that marks
	 * a file closed, so two threads closing their files of the key at
	 * once do not each count the other's as still held (/proc is read
	 * without asking the tree: no request waits on this one).
	 */
	pthread_mutex_lock(&f->fh_lock);
	held = fs_proc_count(tgid, h->abs, true);
	for (o = f->fhs; o; o = o->next)
		others += o != h && o->tgid == tgid && o->writer &&
			  !o->closed && same_key(o, &h->p);
	done = held <= others;
	h->closed |= done;
	pthread_mutex_unlock(&f->fh_lock);
	if (done && fs_proc_killed(fuse_get_context()->pid)) {
		/* the kernel closes a killed writer's files: what it wrote
		 * is no whole value (mooncakefs(5), keys/) */
		char whom[32];

		snprintf(whom, sizeof(whom), "pid %d", (int)tgid);
		fs_keyfile_drop(h->kf, whom);
	}
	return done ? fs_keyfile_commit(h->kf) : fs_keyfile_error(h->kf);
}

/*
 * A value is stored in memory only, so there is nothing to make durable:
 * fsync(2) commits nothing (it would publish a value its writer has not
 * finished) and reports a failed write, mooncakefs(5).
 */
static int fs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct fh *h = fh_of(fi);

	ctx(OP_OTHER);
	return h->kf ? fs_keyfile_error(h->kf) : 0;
}

static int fs_release(const char *path, struct fuse_file_info *fi)
{
	struct fh *h = fh_of(fi);

	ctx(OP_RELEASE);
	/* The last close: whatever no flush committed (its error is
	 * logged and kept in ctl/error; no caller is left to hear it). */
	if (h->kf)
		fs_keyfile_commit(h->kf);
	fh_free(h);
	return 0;
}

static int fs_unlink(const char *path)
{
	struct fs *f = ctx(OP_UNLINK);
	struct fs_path p;
	struct mc_err err = {0};
	int r = fs_tree_resolve(f->s, path, &p);

	if (r < 0)
		return r;
	if (p.node != FS_N_KEY)
		return -EPERM;
	r = mc_remove(f->s, p.key, p.klen, false, &err);
	if (r == -EBUSY)
		fs_error("keys: rm of '%.*s' refused: %s; rm it then",
			 (int)(p.klen > 64 ? 64 : p.klen), p.key, err.msg);
	else if (r < 0 && r != -ENOENT)
		fs_error("keys: rm of '%.*s' failed: %s",
			 (int)(p.klen > 64 ? 64 : p.klen), p.key,
			 err.msg[0] ? err.msg : strerror(-r));
	return r;
}

static int fs_opendir(const char *path, struct fuse_file_info *fi)
{
	struct fs *f = ctx(OP_OPEN);
	struct fs_path p;
	struct fh *h;
	int r = fs_tree_resolve(f->s, path, &p);

	if (r < 0)
		return r;
	if (!S_ISDIR(fs_nodes[p.node].mode))
		return -ENOTDIR;
	h = fh_new(f);
	if (!h)
		return -ENOMEM;
	h->p = p;
	fs_keydir_init(&h->kd);
	fi->fh = (uintptr_t)h;
	return 0;
}

static int fs_releasedir(const char *path, struct fuse_file_info *fi)
{
	ctx(OP_RELEASE);
	fh_free(fh_of(fi));
	return 0;
}

struct dir_fill {
	void *buf;
	fuse_fill_dir_t filler;
	uint64_t off, next; /* static lists: skip below off */
};

static int fill_one(void *arg, const char *name, mode_t mode, uint64_t next)
{
	struct dir_fill *d = arg;
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_mode = mode;
	return d->filler(d->buf, name, &st, (off_t)next, 0);
}

static int fill_listed(const char *name, mode_t mode, void *arg)
{
	struct dir_fill *d = arg;

	if (++d->next <= d->off)
		return 0;
	return fill_one(d, name, mode, d->next) ? 1 : 0;
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t filler,
		      off_t off, struct fuse_file_info *fi,
		      enum fuse_readdir_flags flags)
{
	struct fs *f = ctx(OP_READDIR);
	struct fh *h = fh_of(fi);
	struct dir_fill d = {buf, filler, (uint64_t)off, 0};
	int gen = h->p.node == FS_N_KEYS ? FS_N_KEY : FS_N_REPLICA;

	int r;

	/* Never waits for a cluster leader: the kernel cannot interrupt a
	 * request the daemon has taken (mooncake-cluster(7)). */
	if (h->p.node == FS_N_KEYS || h->p.node == FS_N_REPLICAS)
		return fs_keydir_fill(f->s, &h->kd, (uint64_t)off,
				      fs_nodes[gen].mode, fill_one, &d);
	/* Small directories: listed again per call, offsets are ordinals. */
	if (fill_listed(".", S_IFDIR, &d) || fill_listed("..", S_IFDIR, &d))
		return 0;
	r = fs_tree_list(f->s, &h->p, fill_listed, &d);
	return r < 0 ? r : 0;
}

static int fs_utimens(const char *path, const struct timespec tv[2],
		      struct fuse_file_info *fi)
{
	struct fs *f = ctx(OP_OTHER);
	struct fs_path p;
	uint64_t size;
	int r;

	/*
	 * Accepted and ignored: the store keeps no time per value, and
	 * touch, cp -p, tar x and rsync -t treat a refusal as an error or
	 * a warning (mooncakefs(5), NOTES: the times are the mount's).
	 */
	if (fi)
		return 0;
	r = fs_tree_resolve(f->s, path, &p);
	if ((r == -ENOENT || r == -EAGAIN) && p.node == FS_N_KEY &&
	    fs_keyfile_pending(p.key, p.klen, &size) == 0)
		r = 0;
	return r;
}

#define FS_BLOCK 4096 /* statfs's block: df's unit */

/*
 * statfs(2) describes the store, so df(1) shows it (mooncakefs(5),
 * NOTES): its capacity and free bytes in FS_BLOCK blocks (every byte
 * free is free to everyone: no reserve), its keys as the files, and the
 * longest name. A store with no fixed number of keys has no free
 * inodes to report.
 */
static int fs_statfs(const char *path, struct statvfs *st)
{
	struct fs *f = ctx(OP_OTHER);
	struct mc_usage u;

	mc_store_usage(f->s, &u);
	memset(st, 0, sizeof(*st));
	st->f_bsize = st->f_frsize = FS_BLOCK;
	st->f_blocks = u.capacity / FS_BLOCK;
	st->f_bfree = st->f_bavail =
		u.used < u.capacity ? (u.capacity - u.used) / FS_BLOCK : 0;
	st->f_files = u.keys;
	st->f_namemax = FS_NAME_MAX;
	return 0;
}

static int fs_eperm(void)
{
	ctx(OP_OTHER);
	return -EPERM;
}

static int fs_mkdir(const char *path, mode_t mode)
{
	return fs_eperm();
}

static int fs_rmdir(const char *path)
{
	return fs_eperm();
}

static int fs_rename(const char *from, const char *to, unsigned int flags)
{
	return fs_eperm();
}

static int fs_link(const char *from, const char *to)
{
	return fs_eperm();
}

static int fs_symlink(const char *from, const char *to)
{
	return fs_eperm();
}

/* A fifo or device node is no key: refused like mkdir (no ENOSYS). */
static int fs_mknod(const char *path, mode_t mode, dev_t dev)
{
	return fs_eperm();
}

/* The node @path names (an open key file's own when @fi is one). */
static int node_of(struct fs *f, const char *path, struct fuse_file_info *fi)
{
	struct fh *h = fh_of(fi);
	struct fs_path p;
	uint64_t size;
	int r;

	if (h && h->kf)
		return FS_N_KEY;
	r = fs_tree_resolve(f->s, path, &p);
	if ((r == -ENOENT || r == -EAGAIN) && p.node == FS_N_KEY &&
	    fs_keyfile_pending(p.key, p.klen, &size) == 0)
		r = 0;
	return r < 0 ? r : p.node;
}

/*
 * Modes and owners are the tree's: only what a file already has may be
 * set, a change of nothing that cp -p, cp -a and tar x make after they
 * copy and fail over when refused (mooncakefs(5), NOTES).
 */
static int fs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct fs *f = ctx(OP_OTHER);
	int node = node_of(f, path, fi);

	if (node < 0)
		return node;
	return (mode & 07777) == (fs_nodes[node].mode & 07777) ? 0 : -EPERM;
}

static int fs_chown(const char *path, uid_t uid, gid_t gid,
		    struct fuse_file_info *fi)
{
	struct fs *f = ctx(OP_OTHER);
	int node = node_of(f, path, fi);

	if (node < 0)
		return node;
	return (uid == (uid_t)-1 || uid == f->uid) &&
			       (gid == (gid_t)-1 || gid == f->gid)
		       ? 0
		       : -EPERM;
}

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct fs *f = fuse_get_context()->private_data;

	/*
	 * Nothing is cached: not attributes (sizes follow HTTP puts), not
	 * missing names (keys made over HTTP show at once), and not existing
	 * names either. A cached name of a key removed over HTTP would make
	 * the kernel's permission check fail a write that should create the
	 * key again (ENOENT from getattr), and the high-level API has one
	 * entry timeout for every name.
	 */
	cfg->entry_timeout = 0;
	cfg->attr_timeout = 0;
	cfg->negative_timeout = 0;
	/* rm of an open key removes it; no .fuse_hidden renames. */
	cfg->hard_remove = 1;
	cfg->direct_io = 1;
	cfg->kernel_cache = 0;
	cfg->auto_cache = 0;
	conn->max_write = IO_MAX;
	conn->max_read = IO_MAX; /* must match the max_read= option */
	conn->max_readahead = IO_MAX;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	return f;
}

static const struct fuse_operations fs_ops = {
	.init = fs_init,
	.getattr = fs_getattr,
	.open = fs_open,
	.create = fs_create,
	.read = fs_read,
	.write = fs_write,
	.truncate = fs_truncate,
	.flush = fs_flush,
	.fsync = fs_fsync,
	.release = fs_release,
	.unlink = fs_unlink,
	.opendir = fs_opendir,
	.readdir = fs_readdir,
	.releasedir = fs_releasedir,
	.utimens = fs_utimens,
	.statfs = fs_statfs,
	.mkdir = fs_mkdir,
	.mknod = fs_mknod,
	.rmdir = fs_rmdir,
	.rename = fs_rename,
	.link = fs_link,
	.symlink = fs_symlink,
	.chmod = fs_chmod,
	.chown = fs_chown,
};

/* ------------------------------------------------------- mount and loop */

/* Interrupts the loop thread's sem_wait so it sees fuse_exit(). */
#define STOP_SIGNAL (SIGRTMIN + 4)

static void on_stop_signal(int sig)
{
	(void)sig;
}

static void *loop_main(void *arg)
{
	struct fs *f = arg;
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();

	fuse_loop_cfg_set_max_threads(cfg, 16);
	for (;;) {
		int r = fuse_loop_mt(f->fuse, cfg);

		/*
		 * 0: stopped, or the tree was unmounted under us. An error
		 * (no memory for a request buffer, a failed read of
		 * /dev/fuse) ends libfuse's loop too, but the mount stays and
		 * every access to it would hang: serve again.
		 */
		if (!r && !atomic_load(&f->stopping))
			mc_warn("fuse: the tree at '%s' was unmounted from "
				"outside; the other doors go on, and a restart "
				"mounts it again",
				f->mountpoint);
		if (!r || atomic_load(&f->stopping))
			break;
		mc_warn("fuse: request loop failed (%s), restarting it",
			strerror(r < 0 ? -r : r));
		fuse_session_reset(fuse_get_session(f->fuse));
		usleep(10000);
	}
	mc_debug("fuse: loop ended");
	fuse_loop_cfg_destroy(cfg);
	return NULL;
}

static int add_families(struct fs *f)
{
	struct mc_metrics *m = mc_store_metrics(f->s);
	struct mc_family *fam;

	fam = mc_metrics_family(m, "mooncake_fuse_operations_total",
				"FUSE operations served, by kind", MC_COUNTER,
				"op", NULL, 0);
	if (!fam)
		return -ENOMEM;
	for (int i = 0; i < OP_N; i++) {
		const char *v[1] = {op_names[i]};

		f->ops[i] = mc_family_series(fam, v);
		if (!f->ops[i])
			return -ENOMEM;
	}
	return 0;
}

/*
 * The socket libfuse shares with fusermount3 for auto_unmount is the one
 * AF_UNIX stream socket that fuse_mount opened (@before: those open
 * until then): a process holds a copy until the tree is dead
 * (fs_mountpoint_linger). Without it (none or several new ones) the
 * tree still has auto_unmount, only without that guard.
 */
static void linger(const char *dir, const unsigned char *before)
{
	unsigned char after[FS_FD_SCAN / 8];
	int commfd = -1, n = 0;

	fs_unix_sockets(after);
	for (int fd = 0; fd < FS_FD_SCAN; fd++)
		if ((after[fd / 8] & ~before[fd / 8]) & (1u << (fd % 8))) {
			commfd = fd;
			n++;
		}
	if (n != 1 || fs_mountpoint_linger(dir, commfd) < 0)
		mc_warn("fuse: cannot guard the auto_unmount of '%s' (%d new "
			"sockets)",
			dir, n);
}

struct fs *fs_start(struct mc_store *s, const struct fs_opts *o,
		    struct mc_err *err)
{
	struct fs *f = calloc(1, sizeof(*f));
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct sigaction sa;
	char opts[256];
	unsigned char before[FS_FD_SCAN / 8];
	int auto_unmount = fs_have_fusermount(), r;

	if (!f) {
		mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR, "out of memory");
		return NULL;
	}
	f->s = s;
	pthread_mutex_init(&f->fh_lock, NULL);
	f->uid = getuid();
	f->gid = getgid();
	clock_gettime(CLOCK_REALTIME, &f->t0);
	f->mountpoint = strdup(o->mountpoint);
	if (!f->mountpoint || add_families(f)) {
		mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR, "out of memory");
		goto fail;
	}
	r = fs_mountpoint_prepare(o->mountpoint);
	if (r < 0) {
		mc_err_set(err, -EIO, MC_INTERNAL_ERROR,
			   "cannot use mount point '%s': %s", o->mountpoint,
			   strerror(-r));
		goto fail;
	}
	/* Before the mount: afterwards realpath(3) would ask the tree. */
	f->real = realpath(o->mountpoint, NULL);
	if (!f->real)
		f->real = strdup(o->mountpoint);
	if (!f->real) {
		mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR, "out of memory");
		goto fail;
	}
	snprintf(opts, sizeof(opts),
		 "fsname=mooncake,subtype=mooncake,default_permissions,"
		 "max_read=%u%s%s",
		 IO_MAX, auto_unmount ? ",auto_unmount" : "",
		 o->allow_other ? ",allow_other" : "");
	if (fuse_opt_add_arg(&args, "mooncaked") ||
	    fuse_opt_add_arg(&args, "-o") || fuse_opt_add_arg(&args, opts)) {
		mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR, "out of memory");
		goto fail_args;
	}
	f->fuse = fuse_new(&args, &fs_ops, sizeof(fs_ops), f);
	if (!f->fuse) {
		mc_err_set(err, -EIO, MC_INTERNAL_ERROR, "cannot set up FUSE");
		goto fail_args;
	}
	if (auto_unmount)
		fs_unix_sockets(before);
	if (fuse_mount(f->fuse, o->mountpoint)) {
		mc_err_set(err, -EIO, MC_INTERNAL_ERROR, "cannot mount '%s'",
			   o->mountpoint);
		goto fail_new;
	}
	if (auto_unmount)
		linger(o->mountpoint, before);
	else if (fs_mountpoint_watchdog(o->mountpoint) < 0)
		mc_warn("fuse: no unmount watchdog for '%s'", o->mountpoint);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(STOP_SIGNAL, &sa, NULL);
	r = pthread_create(&f->thread, NULL, loop_main, f);
	if (r) {
		mc_err_set(err, -EIO, MC_INTERNAL_ERROR,
			   "cannot start the FUSE loop: %s", strerror(r));
		goto fail_mount;
	}
	f->running = 1;
	fuse_opt_free_args(&args);
	return f;

fail_mount:
	fuse_unmount(f->fuse);
fail_new:
	fuse_destroy(f->fuse);
fail_args:
	fuse_opt_free_args(&args);
fail:
	pthread_mutex_destroy(&f->fh_lock);
	free(f->real);
	free(f->mountpoint);
	free(f);
	return NULL;
}

int fs_resolve_mountpoint(const char *mountpoint, char *out, size_t len)
{
	return fs_mountpoint_resolve(mountpoint, out, len);
}

int fs_check_mountpoint(const char *mountpoint, struct mc_err *err)
{
	char why[200] = "";
	int r = fs_mountpoint_check(mountpoint, why, sizeof(why));

	if (r < 0)
		mc_err_set(err, r, MC_INVALID_PARAMS,
			   "cannot use mount point '%s': %s", mountpoint, why);
	return r;
}

void fs_stop(struct fs *f)
{
	if (!f)
		return;
	if (f->running) {
		struct timespec ts;

		atomic_store(&f->stopping, true);
		fuse_exit(f->fuse);
		/* The signal may land before the loop waits: repeat it. */
		for (;;) {
			pthread_kill(f->thread, STOP_SIGNAL);
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 20 * 1000 * 1000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			if (!pthread_timedjoin_np(f->thread, NULL, &ts))
				break;
		}
	}
	fuse_unmount(f->fuse);
	fuse_destroy(f->fuse);
	/* Files still open when the loop ended get no release: drop them
	 * (and the references they hold) before the store goes. */
	while (f->fhs)
		fh_free(f->fhs);
	pthread_mutex_destroy(&f->fh_lock);
	free(f->real);
	free(f->mountpoint);
	free(f);
}
