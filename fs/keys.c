/*
 * keys.c - keys/: streaming readdir and open value files (tree.h).
 */
#include "autoconfig.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tree.h"

/* ---------------------------------------------------------------- readdir */

void fs_keydir_init(struct fs_keydir *d)
{
	memset(d, 0, sizeof(*d));
	d->more = 1;
}

struct fill_ctx {
	struct fs_keydir *d;
	mode_t mode;
	uint64_t skip; /* ordinals to pass over before giving */
	int (*fill)(void *arg, const char *name, mode_t mode, uint64_t next);
	void *arg;
	int full;
};

/* Gives one name; on a full buffer keeps it for the next call. */
static int give(struct fill_ctx *c, const char *name)
{
	if (c->d->next < c->skip) {
		c->d->next++;
		return 0;
	}
	if (c->fill(c->arg, name, c->mode, c->d->next + 1)) {
		strcpy(c->d->pending, name);
		c->d->have_pending = 1;
		c->full = 1;
		return 1;
	}
	c->d->next++;
	return 0;
}

static int walk_key(const void *key, size_t klen, uint64_t size, void *arg)
{
	struct fill_ctx *c = arg;
	char name[FS_NAME_MAX + 1];

	if (fs_keyname_encode(key, klen, name) < 0)
		return 0; /* too long for a name: HTTP only */
	/* The walk may resume at the key that did not fit last time. */
	if (c->d->have_pending) {
		c->d->have_pending = 0;
		if (!strcmp(name, c->d->pending))
			return 0;
	}
	return give(c, name);
}

int fs_keydir_fill(struct mc_store *s, struct fs_keydir *d, uint64_t off,
		   mode_t mode,
		   int (*fill)(void *arg, const char *name, mode_t mode,
			       uint64_t next),
		   void *arg)
{
	struct fill_ctx c = {d, mode, 0, fill, arg, 0};

	if (off != d->next) {
		/* A seek elsewhere (rewinddir, telldir): walk again. */
		fs_keydir_init(d);
		c.skip = off;
	}
	if (d->next < 2 && give(&c, ".") == 1)
		return 0;
	if (d->next < 2 && give(&c, "..") == 1)
		return 0;
	if (d->have_pending) {
		char name[FS_NAME_MAX + 1];

		strcpy(name, d->pending);
		if (give(&c, name))
			return 0;
		/* Still pending so the walk can skip it if it comes again. */
		d->have_pending = 1;
	}
	while (d->more && !c.full) {
		int r = mc_key_walk(s, &d->cursor, walk_key, &c);

		/*
		 * A cluster node without a leader (-EAGAIN) fails the call
		 * at once: the kernel waits uninterruptibly for this answer,
		 * so retrying here would hang the caller until a leader
		 * serves (mooncake-cluster(7)). The cursor stays where it
		 * was: a later call goes on from there.
		 */
		if (r < 0)
			return r;
		d->more = r;
	}
	if (!c.full)
		d->have_pending = 0;
	return 0;
}

/* ------------------------------------------------------------- value files */

struct fs_keyfile {
	pthread_mutex_t lock;
	struct mc_store *s;
	struct mc_ref *ref; /* the version read, when open for reading */
	/*
	 * The pending value of a file opened for writing: in a local put's
	 * buffer in the segment (put, of pcap bytes) while the file was
	 * created or truncated and written from empty, so the bytes cross
	 * memory once on their way in; else on the heap (data, of cap
	 * bytes), started from the old value. len bytes are the value.
	 */
	struct mc_put *put;
	uint64_t pcap;
	/*
	 * The put begun for the value before its bytes moved to the heap
	 * (put_reserve): its PutStart is counted, so the value's commit goes
	 * as its one PutEnd (mc_put_commit_copy) and a value dropped as its
	 * PutRevoke, never as a second put. Its buffer is trimmed to a byte.
	 */
	struct mc_put *moved;
	char *data;
	size_t len, cap;
	int flags;
	int loaded; /* data starts from the old value (or empty) */
	int dirty;  /* data must be committed */
	/*
	 * A write or a truncate failed: the file is poisoned (poison()).
	 * Later writes fail with the same error, and every commit stores
	 * nothing and says this (mooncakefs(5), EFBIG: nothing is stored).
	 */
	int error;
	int refused;	/* mc_put_begin failed: that counted its PutStart */
	int registered; /* in the pending list (a created key) */
	struct fs_keyfile *next;
	size_t klen;
	char key[];
};

/* Created keys exist only in open files until their first commit; stat
 * must find them or the kernel's lookup after create() fails. */
static pthread_mutex_t pending_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fs_keyfile *pending;

static void pending_del(struct fs_keyfile *f)
{
	pthread_mutex_lock(&pending_lock);
	for (struct fs_keyfile **pp = &pending; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}
	f->registered = 0;
	pthread_mutex_unlock(&pending_lock);
}

int fs_keyfile_pending(const char *key, size_t klen, uint64_t *size)
{
	int r = -ENOENT;

	pthread_mutex_lock(&pending_lock);
	for (struct fs_keyfile *f = pending; f; f = f->next) {
		if (f->klen == klen && !memcmp(f->key, key, klen)) {
			*size = f->len;
			r = 0;
			break;
		}
	}
	pthread_mutex_unlock(&pending_lock);
	return r;
}

int fs_keyfile_open(struct mc_store *s, const char *key, size_t klen, int flags,
		    struct fs_keyfile **out)
{
	struct fs_keyfile *f = calloc(1, sizeof(*f) + klen + 1);
	int r;

	if (!f)
		return -ENOMEM;
	pthread_mutex_init(&f->lock, NULL);
	f->s = s;
	f->flags = flags;
	f->klen = klen;
	memcpy(f->key, key, klen);
	if (flags & FS_KF_READ) {
		r = mc_get(s, key, klen, &f->ref);
		if (r < 0 && !(flags & (FS_KF_CREATE | FS_KF_TRUNC))) {
			fs_keyfile_free(f);
			return r;
		}
	}
	if (flags & (FS_KF_TRUNC | FS_KF_CREATE))
		f->loaded = f->dirty = 1;
	if (flags & FS_KF_CREATE) {
		pthread_mutex_lock(&pending_lock);
		f->next = pending;
		pending = f;
		f->registered = 1;
		pthread_mutex_unlock(&pending_lock);
	}
	*out = f;
	return 0;
}

static int reserve(struct fs_keyfile *f, uint64_t size)
{
	const struct mc_store_opts *o = mc_store_get_opts(f->s);
	char *p;
	size_t cap;

	if (o->max_value && size > o->max_value)
		return -EFBIG;
	if (size <= f->cap)
		return 0;
	cap = f->cap ? f->cap : 65536;
	while (cap < size)
		cap *= 2;
	if (o->max_value && cap > o->max_value)
		cap = o->max_value;
	p = realloc(f->data, cap);
	if (!p)
		return -ENOSPC; /* no memory for the value (mooncakefs(5)) */
	f->data = p;
	f->cap = cap;
	return 0;
}

#define PUT_FIRST (64u << 10) /* a file's first put buffer, at least */

/*
 * Makes the segment buffer hold at least @size bytes. The first put is
 * four times the first write (good fit places it in a free region that
 * size at least); later ones grow it in place, four times at a time or
 * else just enough, and the commit trims it to the value's size, so the
 * value ends where an exact put would have gone. When the space after it
 * is taken, the bytes move to the heap and the commit puts them as one
 * value (the way every write went before). Growing never evicts.
 */
static int put_reserve(struct fs_keyfile *f, uint64_t size)
{
	const struct mc_store_opts *o = mc_store_get_opts(f->s);
	uint64_t cap = f->pcap ? f->pcap : PUT_FIRST / 4;
	int r;

	if (o->max_value && size > o->max_value)
		return -EFBIG;
	if (size <= f->pcap)
		return 0;
	while (cap < size)
		cap *= 4;
	if (o->max_value && cap > o->max_value)
		cap = o->max_value;
	if (!f->put) {
		r = mc_put_begin(f->s, f->key, f->klen, cap, &f->put, NULL);
		f->refused = r < 0;
	} else {
		r = mc_put_grow(f->put, cap);
		if (r == -ENOSPC && mc_put_grow(f->put, size) == 0)
			cap = size, r = 0;
		if (r == -ENOSPC && (r = reserve(f, size)) == 0) {
			memcpy(f->data, mc_put_buffer(f->put, 0), f->len);
			/* the space goes back; the count stays with the put */
			mc_put_trim(f->put, 1);
			f->moved = f->put;
			f->put = NULL;
			f->pcap = 0;
			return 0;
		}
	}
	if (r == 0)
		f->pcap = cap;
	return r;
}

/* A failed put in one line of the log and in ctl/error (mooncakefs(5)). */
static void report(const struct fs_keyfile *f, const char *what,
		   const char *why)
{
	fs_error("keys: put of '%.*s' failed: %s%s",
		 (int)(f->klen > 64 ? 64 : f->klen), f->key, what, why);
}

/* poison()'s dropping of the pending value, with error @r from now on. */
static void discard(struct fs_keyfile *f, int r)
{
	bool held = f->put || f->moved;

	f->error = r;
	if (f->put)
		mc_put_abort(f->put);
	if (f->moved)
		mc_put_abort(f->moved);
	if (!held && !f->refused)
		mc_put_count_dropped(f->s);
	f->put = f->moved = NULL;
	f->pcap = 0;
	free(f->data);
	f->data = NULL;
	f->len = f->cap = 0;
	f->loaded = f->dirty = 0;
}

/*
 * A write or a truncate failed with @r: half a value is no value, so the
 * file is poisoned (mooncakefs(5), keys/): its pending bytes go now, with
 * the put that held them (counted as its PutRevoke), and later writes
 * and commits fail with @r. A value whose bytes had no put yet (on the
 * heap, or a first write already too large) counts one begun and dropped
 * (unless the store refused to begin it, which counted a failed
 * PutStart), so the failed put counts the same wherever its bytes
 * waited. Logged here, once: a shell sees why in ctl/error at once, not
 * only after its close. Called with f->lock held.
 */
static void poison(struct fs_keyfile *f, int r, const char *what)
{
	discard(f, r);
	report(f, what, strerror(-r));
}

void fs_keyfile_drop(struct fs_keyfile *f, const char *whom)
{
	char why[160];

	pthread_mutex_lock(&f->lock);
	if (!f->error && f->dirty) {
		discard(f, -ECANCELED);
		/* not poisoned: what a process that inherited the file
		 * writes afterwards is a put of its own */
		f->error = 0;
		snprintf(why, sizeof(why),
			 "its writer (%s) was killed before it closed the "
			 "file; the value stays as it was",
			 whom);
		report(f, "", why);
	}
	pthread_mutex_unlock(&f->lock);
}

/* Whether the pending value lives (or may start) in a put buffer. */
static bool in_put(const struct fs_keyfile *f)
{
	return f->put || (f->loaded && !f->data && f->len == 0);
}

/* Where the pending value's bytes are. */
static char *pending_bytes(struct fs_keyfile *f)
{
	return f->put ? mc_put_buffer(f->put, 0) : f->data;
}

/* Starts the pending value from the current one (a write without O_TRUNC). */
static int load(struct fs_keyfile *f)
{
	struct mc_ref *r = f->ref;
	int err = 0;

	if (f->loaded)
		return 0;
	if (!r) {
		err = mc_get(f->s, f->key, f->klen, &r);
		/* Missing: the write starts a new value. Unknown (no
		 * cluster leader): the write fails rather than drop it. */
		if (err < 0)
			r = NULL;
		if (err == -ENOENT)
			err = 0;
		if (err < 0)
			return err;
	}
	if (r) {
		err = reserve(f, mc_ref_size(r));
		if (!err) {
			memcpy(f->data, mc_ref_data(r), mc_ref_size(r));
			f->len = mc_ref_size(r);
		}
		if (r != f->ref)
			mc_ref_release(r);
	}
	if (!err)
		f->loaded = 1;
	return err;
}

int64_t fs_keyfile_read(struct fs_keyfile *f, void *buf, size_t size,
			uint64_t off)
{
	const char *src;
	uint64_t len;

	pthread_mutex_lock(&f->lock);
	if (f->dirty) {
		src = pending_bytes(f);
		len = f->len;
	} else if (f->ref) {
		/* Straight from the referenced version: no copy of the whole
		 * value, and the bytes cannot change under us. */
		src = mc_ref_data(f->ref);
		len = mc_ref_size(f->ref);
	} else {
		src = NULL;
		len = 0;
	}
	if (off >= len)
		size = 0;
	else if (size > len - off)
		size = len - off;
	if (size)
		memcpy(buf, src + off, size);
	pthread_mutex_unlock(&f->lock);
	return (int64_t)size;
}

int64_t fs_keyfile_write(struct fs_keyfile *f, const void *buf, size_t size,
			 uint64_t off)
{
	int r;

	pthread_mutex_lock(&f->lock);
	if (f->error) {
		r = f->error;
		pthread_mutex_unlock(&f->lock);
		return r;
	}
	r = load(f);
	if (f->flags & FS_KF_APPEND)
		off = f->len;
	if (!r)
		r = in_put(f) ? put_reserve(f, off + size)
			      : reserve(f, off + size);
	if (!r) {
		char *d = pending_bytes(f);

		if (off > f->len)
			memset(d + f->len, 0, off - f->len);
		/* In a put buffer, a large value's bytes skip the caches. */
		if (f->put)
			r = mc_put_write(f->put, off, buf, size);
		else
			memcpy(d + off, buf, size);
	}
	if (!r) {
		if (off + size > f->len)
			f->len = off + size;
		f->dirty = 1;
	} else {
		poison(f, r, "a write failed: ");
	}
	pthread_mutex_unlock(&f->lock);
	return r < 0 ? r : (int64_t)size;
}

int fs_keyfile_truncate(struct fs_keyfile *f, uint64_t size)
{
	int r;

	pthread_mutex_lock(&f->lock);
	if (f->error) {
		r = f->error;
		pthread_mutex_unlock(&f->lock);
		return r;
	}
	r = size ? load(f) : 0;
	if (!r)
		r = f->put ? put_reserve(f, size) : reserve(f, size);
	if (!r) {
		if (size > f->len)
			memset(pending_bytes(f) + f->len, 0, size - f->len);
		f->len = size;
		f->loaded = f->dirty = 1;
	} else {
		/* ftruncate(2) is a write of zeros: it fails like one */
		poison(f, r, "a truncate failed: ");
	}
	pthread_mutex_unlock(&f->lock);
	return r;
}

uint64_t fs_keyfile_size(struct fs_keyfile *f)
{
	uint64_t n = 0;

	pthread_mutex_lock(&f->lock);
	if (f->dirty)
		n = f->len;
	else if (f->ref)
		n = mc_ref_size(f->ref);
	else
		mc_stat(f->s, f->key, f->klen, &n);
	pthread_mutex_unlock(&f->lock);
	return n;
}

int fs_keyfile_held_size(struct fs_keyfile *f, uint64_t *size)
{
	int r = 0;

	pthread_mutex_lock(&f->lock);
	if (f->dirty)
		*size = f->len;
	else if (f->ref)
		*size = mc_ref_size(f->ref);
	else
		r = -ENOENT;
	pthread_mutex_unlock(&f->lock);
	return r;
}

int fs_keyfile_error(struct fs_keyfile *f)
{
	int r;

	pthread_mutex_lock(&f->lock);
	r = f->error;
	pthread_mutex_unlock(&f->lock);
	return r;
}

int fs_keyfile_commit(struct fs_keyfile *f)
{
	struct mc_err err = {0};
	int r = 0, registered = 0;

	pthread_mutex_lock(&f->lock);
	/*
	 * A value is at least one byte, so nothing written yet means nothing
	 * to commit. That is also what a shell's `echo v > keys/k` needs:
	 * it closes its first descriptor (a flush) before writing to the
	 * dup2()ed one.
	 */
	if (f->error) {
		/* Poisoned: every later close fails too, the key as it was
		 * (the failure was logged and counted by poison()). */
		r = f->error;
		registered = f->registered;
	} else if (f->dirty && f->len && f->put) {
		struct mc_put *p = f->put;

		f->put = NULL;
		f->pcap = 0;
		/*
		 * A small value is put again at its exact size, where good
		 * fit puts it among its like, rather than trimmed where a
		 * 64 KiB buffer went (which would cut a large free region
		 * in two); so is one whose tail finds no metadata.
		 */
		r = f->len > PUT_FIRST ? mc_put_trim(p, f->len) : -ENOMEM;
		if (r == 0)
			r = mc_put_commit(p, true, &err);
		else
			r = mc_put_commit_exact(p, f->len, &err);
		if (r < 0)
			report(f, "", err.msg[0] ? err.msg : strerror(-r));
		/* The buffer went with the commit: a later write starts
		 * again from the stored value, which reads now see. */
		f->len = 0;
		f->loaded = 0;
		if (f->ref) {
			mc_ref_release(f->ref);
			f->ref = NULL;
		}
		if (r == 0 && (f->flags & FS_KF_READ) &&
		    mc_get(f->s, f->key, f->klen, &f->ref) < 0)
			f->ref = NULL;
		f->dirty = 0;
		registered = f->registered;
	} else if (f->dirty && f->len) {
		if (f->moved)
			r = mc_put_commit_copy(f->moved, f->data, f->len, &err);
		else
			r = mc_put(f->s, f->key, f->klen, f->data, f->len,
				   &err);
		f->moved = NULL;
		if (r < 0)
			report(f, "", err.msg[0] ? err.msg : strerror(-r));
		/* Reported once: a later close does not put it again; a
		 * later write goes on from what this one committed. */
		f->dirty = 0;
		registered = f->registered;
	}
	pthread_mutex_unlock(&f->lock);
	if (registered)
		pending_del(f);
	return r;
}

void fs_keyfile_free(struct fs_keyfile *f)
{
	if (!f)
		return;
	if (f->registered)
		pending_del(f);
	if (f->ref)
		mc_ref_release(f->ref);
	/* never committed: the value goes, counted as a PutRevoke */
	if (f->put)
		mc_put_abort(f->put);
	if (f->moved)
		mc_put_abort(f->moved);
	free(f->data);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

int fs_key_truncate(struct mc_store *s, const char *key, size_t klen,
		    uint64_t size)
{
	struct fs_keyfile *f;
	int r;

	if (!size)
		return -EINVAL;
	r = fs_keyfile_open(s, key, klen, FS_KF_READ | FS_KF_WRITE, &f);
	if (r < 0)
		return r;
	/* A failed truncate poisons the file: the commit then stores
	 * nothing, returns its error and frees what it held. */
	fs_keyfile_truncate(f, size);
	r = fs_keyfile_commit(f);
	fs_keyfile_free(f);
	return r;
}
