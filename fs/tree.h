/*
 * tree.h - the control tree of CONTRACT section 7 as one table of nodes.
 *
 * Each node is one row {name, parent, mode, show, store}: a file's
 * content is what show() renders, a write to it is handed to store(). A
 * row whose name is NULL is a generator: it stands for every child of its
 * parent that bind() accepts (segments/NAME, segments/NAME/ID, keys/KEY,
 * replicas/KEY), and list() names them. Nothing here knows FUSE: fs/fs.c
 * translates FUSE calls into mc_tree_* calls, so the tree links into the
 * unit tests without a mount.
 */
#ifndef MC_TREE_H
#define MC_TREE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "keyname.h"
#include "mooncake.h"

enum mc_node_id {
	MC_N_ROOT,
	MC_N_CTL, MC_N_CTL_MOUNT, MC_N_CTL_UNMOUNT,
	MC_N_SEGMENTS, MC_N_SEGNAME, MC_N_SEGNAME_USED, MC_N_SEGNAME_CAPACITY,
	MC_N_SEG, MC_N_SEG_SIZE, MC_N_SEG_USED, MC_N_SEG_PROTOCOL,
	MC_N_SEG_LOCATION, MC_N_SEG_STATE, MC_N_SEG_SOURCE, MC_N_SEG_ENDPOINT,
	MC_N_SEG_SPEC,
	MC_N_KEYS, MC_N_KEY,
	MC_N_REPLICAS, MC_N_REPLICA,
	MC_N_METRICS, MC_N_SUMMARY, MC_N_HEALTH,
	MC_N_COUNT
};

/* Where a path leads: the node and the names its generators bound. */
struct mc_path {
	int node;                       /* enum mc_node_id */
	char segname[256];              /* segments/NAME, decoded */
	char segid[MC_ID_LEN + 1];      /* segments/NAME/ID */
	char key[MC_KEY_MAX + 1];       /* keys/KEY, replicas/KEY, decoded */
	size_t klen;
	uint64_t vsize;                 /* the value's size, when it exists */
};

struct mc_node {
	const char *name;       /* NULL: a generator */
	int parent;             /* enum mc_node_id; -1 for the root */
	mode_t mode;            /* S_IFDIR or S_IFREG and permissions */
	/* Appends the file's content: 0 or -errno (-ENOENT when gone). */
	int (*show)(struct mc_store *s, const struct mc_path *p,
		    struct mc_buf *out);
	/*
	 * Executes one written message (ctl files): 0 and the text a read
	 * of the same open file returns afterwards in @reply, or -errno.
	 */
	int (*store)(struct mc_store *s, const struct mc_path *p,
		     const char *msg, size_t len, struct mc_buf *reply);
	/*
	 * Generators: decodes @name into @p and checks that it exists.
	 * 0, -ENOENT (p filled, but no such thing), -EINVAL (@name can name
	 * nothing here), -ENAMETOOLONG.
	 */
	int (*bind)(struct mc_store *s, struct mc_path *p, const char *name);
};

extern const struct mc_node mc_nodes[MC_N_COUNT];

/*
 * Resolves an absolute @path ("/", "/keys/a%2Fb"). Returns 0; -ENOENT,
 * where p->node is the generator that would hold the last component when
 * only the thing it names is missing (a key not yet created), else -1;
 * -ENOTDIR; -ENAMETOOLONG.
 */
int mc_tree_resolve(struct mc_store *s, const char *path, struct mc_path *p);

/*
 * Names the children of directory @p except the keys of keys/ and
 * replicas/ (those stream through mc_keys_walk): @cb gets each name and
 * mode; a non-zero return stops the walk and is returned.
 */
int mc_tree_list(struct mc_store *s, const struct mc_path *p,
		 int (*cb)(const char *name, mode_t mode, void *arg),
		 void *arg);

/* Appends the content of file @p (its show()). */
int mc_tree_show(struct mc_store *s, const struct mc_path *p,
		 struct mc_buf *out);

/* True for keys/KEY, whose content is the value's bytes. */
static inline int mc_tree_is_value(const struct mc_path *p)
{
	return p->node == MC_N_KEY;
}

/* --- ctl.c: the store() of ctl/mount and ctl/unmount ------------------- */

/*
 * ctl/mount: one mount spec (spec.h). Reply: the new ids, one a line.
 * Errors: -EINVAL, -E2BIG, -ENOENT (no shm object), -ENOSPC (no memory),
 * -EOPNOTSUPP; each logged in one line.
 */
int mc_ctl_mount(struct mc_store *s, const struct mc_path *p,
		 const char *msg, size_t len, struct mc_buf *reply);
/*
 * ctl/unmount: "ID [ID ...] [grace=SECONDS]". Errors: -EINVAL (no id, a
 * bad or repeated grace, an unknown token), -E2BIG, -ENOENT (an id that
 * is not mounted: nothing is unmounted).
 */
int mc_ctl_unmount(struct mc_store *s, const struct mc_path *p,
		   const char *msg, size_t len, struct mc_buf *reply);

/* --- keys.c: keys/ ------------------------------------------------------ */

/*
 * Readdir state of keys/ or replicas/ for one open directory. Offsets
 * handed to the kernel are ordinals (1 = ".", 2 = "..", then one per
 * listed key), so a directory of any size streams through the store's
 * mc_key_walk cursor without ever being built as one list.
 */
struct mc_keydir {
	uint64_t cursor;                /* mc_key_walk position */
	uint64_t next;                  /* ordinal of the next entry to give */
	int more;                       /* the walk has not ended */
	int have_pending;               /* @pending did not fit last time */
	char pending[MC_NAME_MAX + 1];
};

void mc_keydir_init(struct mc_keydir *d);
/*
 * Gives the entries from ordinal @off on to @fill (name, mode, the
 * ordinal to resume after it) until @fill returns non-zero (full) or the
 * keys end. Keys whose name would pass MC_NAME_MAX are skipped. A call
 * whose @off is not where the last one stopped restarts the walk and
 * skips to @off. Returns 0.
 */
int mc_keydir_fill(struct mc_store *s, struct mc_keydir *d, uint64_t off,
		   mode_t mode,
		   int (*fill)(void *arg, const char *name, mode_t mode,
			       uint64_t next),
		   void *arg);

/*
 * One open keys/KEY file. Reads come from the version referenced at open
 * (struct mc_ref): a reader never sees a torn value. Writes go to a
 * private buffer committed as one mc_put by mc_keyfile_commit (at flush
 * and release), so until then readers see the previous value.
 * Thread-safe: one mutex per open file.
 */
struct mc_keyfile;

enum {
	MC_KF_READ = 1,         /* open for reading: take a reference */
	MC_KF_WRITE = 2,        /* open for writing */
	MC_KF_TRUNC = 4,        /* start from an empty value (O_TRUNC) */
	MC_KF_CREATE = 8,       /* a new key: commit even if nothing written */
	MC_KF_APPEND = 16,      /* every write goes at the end */
};

/* 0 and *out, or -ENOENT (reading a missing key), -ENOMEM. */
int mc_keyfile_open(struct mc_store *s, const char *key, size_t klen,
		    int flags, struct mc_keyfile **out);
/* Bytes copied from @off (0 at the end). */
int64_t mc_keyfile_read(struct mc_keyfile *f, void *buf, size_t size,
			uint64_t off);
/* @size, or -EFBIG past the store's largest value, -ENOMEM. */
int64_t mc_keyfile_write(struct mc_keyfile *f, const void *buf, size_t size,
			 uint64_t off);
/* ftruncate: 0, -EFBIG, -ENOMEM. */
int mc_keyfile_truncate(struct mc_keyfile *f, uint64_t size);
/* Size a stat of the open file shows. */
uint64_t mc_keyfile_size(struct mc_keyfile *f);
/*
 * Commits pending writes as one put. Nothing written (or nothing left
 * after a truncate to 0) is nothing to commit: 0, and the key stays as it
 * was, since a value is at least one byte. Errors of mc_put (-ENOSPC,
 * -EFBIG, -EBUSY), logged in one line, or the error of a failed write
 * since the last commit (then nothing is put).
 */
int mc_keyfile_commit(struct mc_keyfile *f);
/* Frees @f without committing. */
void mc_keyfile_free(struct mc_keyfile *f);

/*
 * Size of a created key that is not committed yet (it exists only in an
 * open file): 0, or -ENOENT.
 */
int mc_keyfile_pending(const char *key, size_t klen, uint64_t *size);

/* Path truncate of keys/KEY to @size > 0 (get, resize, put). */
int mc_key_truncate(struct mc_store *s, const char *key, size_t klen,
		    uint64_t size);

#endif
