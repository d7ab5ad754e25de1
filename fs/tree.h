/*
 * tree.h - the control tree of mooncakefs(5) as one table of nodes.
 *
 * Each node is one row {name, parent, mode, show, store}: a file's
 * content is what show() renders, a write to it is handed to store(). A
 * row whose name is NULL is a generator: it stands for every child of its
 * parent that bind() accepts (segments/NAME, segments/NAME/ID, keys/KEY,
 * replicas/KEY, metadata/KEY), and list() names them. A row with a
 * present() test exists only while it holds (metadata/ with a metadata
 * server). Nothing here knows FUSE: fs/fs.c
 * translates FUSE calls into fs_tree_* calls, so the tree links into the
 * unit tests without a mount.
 */
#ifndef FS_TREE_H
#define FS_TREE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "keyname.h"
#include "mooncake.h"

enum fs_node_id {
	FS_N_ROOT,
	FS_N_CTL,
	FS_N_CTL_MOUNT,
	FS_N_CTL_UNMOUNT,
	FS_N_CTL_ERROR,
	FS_N_SEGMENTS,
	FS_N_SEGNAME,
	FS_N_SEGNAME_USED,
	FS_N_SEGNAME_CAPACITY,
	FS_N_SEG,
	FS_N_SEG_SIZE,
	FS_N_SEG_USED,
	FS_N_SEG_PROTOCOL,
	FS_N_SEG_LOCATION,
	FS_N_SEG_STATE,
	FS_N_SEG_SOURCE,
	FS_N_SEG_ENDPOINT,
	FS_N_SEG_SPEC,
	FS_N_KEYS,
	FS_N_KEY,
	FS_N_REPLICAS,
	FS_N_REPLICA,
	FS_N_META,
	FS_N_META_KEY,
	FS_N_METRICS,
	FS_N_SUMMARY,
	FS_N_HEALTH,
	FS_N_CLUSTER,
	FS_N_CLUSTER_LEADER,
	FS_N_CLUSTER_TERM,
	FS_N_CLUSTER_NODES,
	FS_N_CNODE,
	FS_N_CNODE_HTTP,
	FS_N_CNODE_TRANSFER,
	FS_N_CNODE_ROLE,
	FS_N_CNODE_SEGMENTS,
	FS_N_COUNT
};

/* Where a path leads: the node and the names its generators bound. */
struct fs_path {
	int node;			  /* enum fs_node_id */
	char segname[256];		  /* segments/NAME, decoded */
	char segid[MC_ID_LEN + 1];	  /* segments/NAME/ID */
	char nodeid[MC_OWNER_ID_MAX + 1]; /* cluster/nodes/ID */
	char key[MC_KEY_MAX + 1]; /* keys/KEY, replicas/KEY, metadata/KEY */
	size_t klen;
	uint64_t vsize; /* the value's (metadata body's) size, when it exists */
};

struct fs_node {
	const char *name; /* NULL: a generator */
	int parent;	  /* enum fs_node_id; -1 for the root */
	mode_t mode;	  /* S_IFDIR or S_IFREG and permissions */
	/* Appends the file's content: 0 or -errno (-ENOENT when gone). */
	int (*show)(struct mc_store *s, const struct fs_path *p,
		    struct mc_buf *out);
	/*
	 * Executes one written message (ctl files): 0 and the text a read
	 * of the same open file returns afterwards in @reply, or -errno.
	 */
	int (*store)(struct mc_store *s, const struct fs_path *p,
		     const char *msg, size_t len, struct mc_buf *reply);
	/*
	 * Generators: decodes @name into @p and checks that it exists.
	 * 0, -ENOENT (p filled, but no such thing), -EINVAL (@name can name
	 * nothing here), -ENAMETOOLONG, -EAGAIN (cannot tell now: no
	 * cluster leader), -ENOMEM.
	 */
	int (*bind)(struct mc_store *s, struct fs_path *p, const char *name);
	/* NULL, or whether the node exists in @s (a feature that is off) */
	bool (*present)(struct mc_store *s);
};

extern const struct fs_node fs_nodes[FS_N_COUNT];

/*
 * Resolves an absolute @path ("/", "/keys/a%2Fb"). Returns 0; -ENOENT,
 * where p->node is the generator that would hold the last component when
 * only the thing it names is missing (a key not yet created), else -1;
 * -EAGAIN (a cluster node while no leader serves: whether the name
 * exists is unknown; p->node as for -ENOENT); -ENOTDIR; -ENAMETOOLONG.
 */
int fs_tree_resolve(struct mc_store *s, const char *path, struct fs_path *p);

/*
 * Names the children of directory @p except the keys of keys/ and
 * replicas/ (those stream through fs_keys_walk): @cb gets each name and
 * mode; a non-zero return stops the walk and is returned. -EAGAIN when
 * the names cannot be had now (segments/ while no cluster leader
 * serves), -ENOMEM.
 */
int fs_tree_list(struct mc_store *s, const struct fs_path *p,
		 int (*cb)(const char *name, mode_t mode, void *arg),
		 void *arg);

/* Appends the content of file @p (its show()). */
int fs_tree_show(struct mc_store *s, const struct fs_path *p,
		 struct mc_buf *out);

/* True for keys/KEY, whose content is the value's bytes. */
static inline bool fs_tree_is_value(const struct fs_path *p)
{
	return p->node == FS_N_KEY;
}

/* --- ctl.c: the store() of ctl/mount and ctl/unmount ------------------- */

/*
 * ctl/mount: one mount spec (spec.h). Reply: the new ids, one a line.
 * Errors: -EINVAL, -E2BIG, -ENOENT (no shm object), -ENOSPC (no memory),
 * -EOPNOTSUPP; each logged in one line.
 */
int fs_ctl_mount(struct mc_store *s, const struct fs_path *p, const char *msg,
		 size_t len, struct mc_buf *reply);
/*
 * ctl/unmount: "ID [ID ...] [grace=SECONDS]". Errors: -EINVAL (no id, a
 * bad or repeated grace, an unknown token), -E2BIG, -ENOENT (an id that
 * is not mounted: nothing is unmounted).
 */
int fs_ctl_unmount(struct mc_store *s, const struct fs_path *p, const char *msg,
		   size_t len, struct mc_buf *reply);

/*
 * A failed operation of the tree (a control message, a put, a remove):
 * logs it as one WARN line and keeps it, with the time, as what ctl/error
 * reads, so that a shell which only saw EINVAL or EBUSY can ask why.
 * One per process (a daemon mounts one tree); thread-safe.
 */
void fs_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* ctl/error's content: "TIME what: why\n", or nothing before any error. */
int fs_ctl_error_show(struct mc_store *s, const struct fs_path *p,
		      struct mc_buf *out);

/* --- keys.c: keys/ ------------------------------------------------------ */

/*
 * Readdir state of keys/ or replicas/ for one open directory. Offsets
 * handed to the kernel are ordinals (1 = ".", 2 = "..", then one per
 * listed key), so a directory of any size streams through the store's
 * mc_key_walk cursor without ever being built as one list.
 */
struct fs_keydir {
	uint64_t cursor;  /* mc_key_walk position */
	uint64_t next;	  /* ordinal of the next entry to give */
	int more;	  /* the walk has not ended */
	int have_pending; /* @pending did not fit last time */
	char pending[FS_NAME_MAX + 1];
};

void fs_keydir_init(struct fs_keydir *d);
/*
 * Gives the entries from ordinal @off on to @fill (name, mode, the
 * ordinal to resume after it) until @fill returns non-zero (full) or the
 * keys end. Keys whose name would pass FS_NAME_MAX are skipped. A call
 * whose @off is not where the last one stopped restarts the walk and
 * skips to @off. Returns 0, or -EAGAIN at once when the keys cannot be
 * walked now (a cluster node while no leader serves; never waits for
 * one), -ENOMEM.
 */
int fs_keydir_fill(struct mc_store *s, struct fs_keydir *d, uint64_t off,
		   mode_t mode,
		   int (*fill)(void *arg, const char *name, mode_t mode,
			       uint64_t next),
		   void *arg);

/*
 * One open keys/KEY file. Reads come from the version referenced at open
 * (struct mc_ref): a reader never sees a torn value. Writes go to a
 * private buffer committed as one mc_put by fs_keyfile_commit (fs.c
 * decides when: the writer's last close, mooncakefs(5)), so until then
 * readers see the previous value. Thread-safe: one mutex per open file,
 * taken under fs.c's fh_lock (never the other way round).
 */
struct fs_keyfile;

enum {
	FS_KF_READ = 1,	   /* open for reading: take a reference */
	FS_KF_WRITE = 2,   /* open for writing */
	FS_KF_TRUNC = 4,   /* start from an empty value (O_TRUNC) */
	FS_KF_CREATE = 8,  /* a new key: commit even if nothing written */
	FS_KF_APPEND = 16, /* every write goes at the end */
};

/* 0 and *out, or -ENOENT (reading a missing key), -ENOMEM. */
int fs_keyfile_open(struct mc_store *s, const char *key, size_t klen, int flags,
		    struct fs_keyfile **out);
/* Bytes copied from @off (0 at the end). */
int64_t fs_keyfile_read(struct fs_keyfile *f, void *buf, size_t size,
			uint64_t off);
/*
 * @size, or -EFBIG past the store's largest value, -ENOSPC, -ENOMEM, or
 * the error of an earlier failed write or truncate. A failure poisons
 * the file: its pending bytes go, the failure is logged in one line
 * (fs_error, so ctl/error has it) and counted as a put's PutStart and
 * PutRevoke (mooncakefs(5), keys/), and every later write, truncate and
 * commit returns the same error.
 */
int64_t fs_keyfile_write(struct fs_keyfile *f, const void *buf, size_t size,
			 uint64_t off);
/*
 * ftruncate: 0, -EFBIG, -ENOSPC, -ENOMEM, or the error of an earlier
 * failed write or truncate. A failure poisons the file as a write's.
 */
int fs_keyfile_truncate(struct fs_keyfile *f, uint64_t size);
/* Size a stat of the open file shows. */
uint64_t fs_keyfile_size(struct fs_keyfile *f);
/*
 * The size of the open file when the file itself knows it, without the
 * store: the bytes written so far (pending), else the size of the version
 * opened for reading. 0 and *@size, or -ENOENT (a writer with nothing
 * written and no version read: the stored value is what it shows).
 */
int fs_keyfile_held_size(struct fs_keyfile *f, uint64_t *size);
/* The error of a failed write (-EFBIG, -ENOSPC, ...) that poisoned the
 * file, else 0. */
int fs_keyfile_error(struct fs_keyfile *f);
/*
 * Commits pending writes as one put. Nothing written (or nothing left
 * after a truncate to 0) is nothing to commit: 0, and the key stays as it
 * was, since a value is at least one byte. Errors of mc_put (-ENOSPC,
 * -EBUSY, -ETIMEDOUT: revoked by an unmount), logged in one line
 * (fs_error). A poisoned file (a failed write or truncate) commits
 * nothing and returns that failure's error, already logged.
 */
int fs_keyfile_commit(struct fs_keyfile *f);
/*
 * The writer died of a signal before it closed @f (whom, for the log):
 * its pending bytes go as a failed write's do (logged, counted as a
 * PutRevoke), so that a value cut short is never stored. The file is not
 * poisoned: what a process that inherited it writes afterwards is a put
 * of its own. Nothing pending: nothing happens.
 */
void fs_keyfile_drop(struct fs_keyfile *f, const char *whom);
/* Frees @f without committing. */
void fs_keyfile_free(struct fs_keyfile *f);

/*
 * Size of a created key that is not committed yet (it exists only in an
 * open file): 0, or -ENOENT.
 */
int fs_keyfile_pending(const char *key, size_t klen, uint64_t *size);

/*
 * Path truncate of keys/KEY to @size > 0 (get, resize, put): 0, or
 * -EINVAL (@size 0), the open's errors, or a failed truncate's or put's,
 * logged in one line (fs_error).
 */
int fs_key_truncate(struct mc_store *s, const char *key, size_t klen,
		    uint64_t size);

#endif
