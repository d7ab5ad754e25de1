/*
 * link.c - the cluster façade (mooncake.h, mc_store_set_link): an owner
 * store's metadata operations go to the cluster's master through its
 * link, and the bytes of a value move between this node's memory and
 * the owners' (the data hooks), never through the master.
 *
 * A put: the master allocates (its put start, shared: no claim on the
 * key), this node writes each replica (its own memory through a write
 * pin, another node's with a transfer-port WRITE), then the master ends
 * the put, committing every replica at its owner first. A get: the
 * master names the replicas and holds them (MC_F_HOLD); this node reads
 * one, its own memory first.
 *
 * What the doors see: the same calls and errors as on a single node,
 * plus -EAGAIN (NO_LEADER: no master answers now; nothing was done) and
 * -ECONNABORTED (the master was asked and the answer was lost: the
 * outcome is unknown; the HTTP door then closes the connection without
 * an answer).
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "store_int.h"
#include "wire.h"

/* How long a put whose end got no answer waits for a master to ask. */
#define SETTLE_MS    15000
#define SETTLE_STEP  200
#define KEY_WALK_MAX 512

/* One request to the master and its answer. */
struct call {
	struct mc_buf req, resp;
	struct wire_rd r; /* the answer's body, once done */
	uint64_t term;	  /* the answering master's */
};

static void call_begin(struct call *c, enum wire_mop op)
{
	memset(c, 0, sizeof(*c));
	wire_u32(&c->req, WIRE_MASTER_REQ);
	wire_u16(&c->req, (uint16_t)op);
	wire_u16(&c->req, 0);
}

static void call_end(struct call *c)
{
	mc_buf_release(&c->req);
	mc_buf_release(&c->resp);
}

/*
 * Sends @c and reads its answer's head: the master's result (>= 0, or
 * -errno with @err), or -EAGAIN (no master) / -ECONNABORTED (no answer
 * to a request that was sent) from the link.
 */
static int call_do(struct mc_store *s, struct call *c, struct mc_err *err)
{
	struct mc_err e = {0};
	int32_t rc, code;
	int lr = s->link->call(s->link_arg, &c->req, &c->resp, &e);

	if (lr < 0) {
		if (lr != -ECONNABORTED)
			lr = -EAGAIN;
		if (!e.msg[0])
			mc_err_set(&e, lr, MC_NO_LEADER,
				   lr == -EAGAIN ? "no cluster leader answers"
						 : "the leader's answer was "
						   "lost");
		if (e.code == MC_OK)
			e.code = MC_NO_LEADER;
		if (err)
			*err = e;
		return lr;
	}
	wire_rd_init(&c->r, c->resp.data, c->resp.len);
	if (wire_get_u32(&c->r) != WIRE_MASTER_RSP)
		c->r.bad = true;
	c->term = wire_get_u64(&c->r);
	rc = (int32_t)wire_get_u32(&c->r);
	code = (int32_t)wire_get_u32(&c->r);
	wire_get_str(&c->r, e.msg, sizeof(e.msg));
	if (c->r.bad || rc < -4095)
		return mc_err_set(err, -EAGAIN, MC_NO_LEADER,
				  "the leader's answer is not one");
	if (rc < 0)
		wire_answer_err(err, rc, code, e.msg, "leader");
	return rc;
}

/* The body was not what the operation answers: the leader is broken. */
static int body_bad(struct mc_err *err)
{
	return mc_err_set(err, -EAGAIN, MC_NO_LEADER,
			  "the leader's answer is not one");
}

static bool is_self(const struct mc_store *s, const struct mc_owner *o)
{
	return mc_owner_eq(o, &s->self);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* ----------------------------------------------------------------- puts */

static void put_start_req(struct call *c, const void *key, size_t klen,
			  uint64_t size, const struct mc_owner *writer,
			  unsigned replicas, const char *prefer, unsigned flags,
			  const struct mc_owner *near)
{
	call_begin(c, MOP_PUT_START);
	wire_bytes(&c->req, key, klen);
	wire_u64(&c->req, size);
	wire_owner(&c->req, writer);
	wire_u8(&c->req, (uint8_t)replicas);
	wire_str(&c->req, prefer);
	wire_u8(&c->req, (uint8_t)(flags | (near ? WIRE_PUT_NEAR : 0)));
	wire_owner(&c->req, near);
}

/*
 * A put this node refused itself (put_check: an empty or oversized value,
 * a bad key) is counted by the leader as a single store counts its own:
 * one PutStart and one failure (mooncake-rpc(7), COUNTING). The leader is
 * asked to start a put of an empty key, which it refuses and counts, and
 * which can change nothing; its answer does not matter. A batch's items
 * are counted as a batch by their door.
 */
static void put_start_refused(struct mc_store *s, bool batch)
{
	struct call c;

	if (batch)
		return;
	put_start_req(&c, "", 0, 0, &s->self, 1, "", 0, NULL);
	call_do(s, &c, NULL);
	call_end(&c);
}

/* Reads a put start's answer: version and descriptors (*@d malloc'd). */
static int put_start_body(struct call *c, uint64_t *version, struct mc_desc **d,
			  unsigned *n, struct mc_err *err)
{
	*version = wire_get_u64(&c->r);
	*n = wire_get_u8(&c->r);
	if (*n > MC_REPLICA_MAX)
		c->r.bad = true;
	*d = calloc(*n ? *n : 1, sizeof(**d));
	if (!*d)
		return mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR,
				  "out of memory");
	for (unsigned i = 0; i < *n && !c->r.bad; i++)
		wire_get_desc(&c->r, &(*d)[i]);
	if (c->r.bad || c->r.left || !*n) {
		free(*d);
		*d = NULL;
		return body_bad(err);
	}
	return 0;
}

static int put_finish_call(struct mc_store *s, enum wire_mop op,
			   const void *key, size_t klen,
			   const struct mc_owner *writer, unsigned flags,
			   uint64_t version, uint64_t *term, struct mc_err *err)
{
	struct call c;
	int rc;

	call_begin(&c, op);
	wire_bytes(&c.req, key, klen);
	wire_owner(&c.req, writer);
	wire_u8(&c.req, (uint8_t)flags);
	wire_u64(&c.req, version);
	rc = call_do(s, &c, err);
	if (term)
		*term = c.term;
	call_end(&c);
	return rc;
}

/* A replica @d that could not be written (@rc): -EAGAIN, said in @err. */
static int unwritten(const struct mc_desc *d, int rc, struct mc_err *err)
{
	return mc_err_set(err, -EAGAIN, MC_TRANSFER_FAIL,
			  "the replica in segment '%s' at %s could not be "
			  "written: %s",
			  d->seg_id, d->endpoint, strerror(-rc));
}

/* Writes @len bytes of @val into replica @d: 0 or -errno with @err. */
static int replica_write(struct mc_store *s, const struct mc_desc *d,
			 const void *val, uint64_t len, struct mc_err *err)
{
	int rc;

	if (d->size < len)
		return mc_err_set(err, -EPROTO, MC_INVALID_REPLICA,
				  "a replica smaller than the value");
	if (is_self(s, &d->owner)) {
		struct mc_pin *pin;

		rc = mc_pin_write(s, d->addr, len, &pin);
		if (rc == 0) {
			memcpy((void *)(uintptr_t)d->addr, val, len);
			mc_pin_wrote(pin, len);
			rc = mc_pin_release(pin);
		}
	} else if (s->o.data_ops && s->o.data_ops->write) {
		rc = s->o.data_ops->write(s->o.data_arg, d, 0, val, len);
	} else {
		rc = -EOPNOTSUPP;
	}
	if (rc)
		return unwritten(d, rc, err);
	return 0;
}

/*
 * The end of put @version of @key got no answer: was it published?
 * Asks the master until one answers (SETTLE_MS at most): its own put is
 * ended again while still open; a new master says what its rebuild
 * found (mc_master_settle). 0 (published), -EAGAIN (not: nothing
 * happened), -ECONNABORTED (still unknown).
 */
static int put_settle(struct mc_store *s, const void *key, size_t klen,
		      uint64_t version, struct mc_err *err)
{
	for (unsigned waited = 0; waited < SETTLE_MS; waited += SETTLE_STEP) {
		struct call c;
		uint64_t t2 = 0;
		int rc;

		call_begin(&c, MOP_SETTLE);
		wire_bytes(&c.req, key, klen);
		wire_u64(&c.req, version);
		rc = call_do(s, &c, err);
		if (c.r.bad || (c.term && c.r.left))
			rc = -EAGAIN;
		t2 = c.term;
		call_end(&c);
		if (rc == -EBUSY) /* still open at its master: end it */
			rc = put_finish_call(s, MOP_PUT_END, key, klen,
					     &s->self, WIRE_PUT_SHARED, version,
					     &t2, err);
		if (rc == 0)
			return 0;
		if (rc == -ECANCELED)
			return mc_err_set(err, -EAGAIN, MC_NO_LEADER,
					  "the put of '%.*s' did not happen",
					  KEY_ARG(key, klen));
		if (rc == -ECONNABORTED && t2)
			return rc; /* a master answered: unknown */
		/* no master, a lost answer, one busy ending it: again */
		sleep_ms(SETTLE_STEP);
	}
	return mc_err_set(err, -ECONNABORTED, MC_NO_LEADER,
			  "whether the put of '%.*s' happened is unknown",
			  KEY_ARG(key, klen));
}

/*
 * Where a put's bytes are: @val, or its first @hlen bytes there and the
 * rest in pipe @pfd (read end) when @pfd >= 0 (fac_put_commit_pipe).
 */
struct put_src {
	int pfd;
	uint64_t hlen;
};

/*
 * Writes the value of @src into the @n replicas @d: straight from the
 * pipe to the one replica of another node when the hooks can, else
 * through @val (the pipe's bytes are read into it first, after @hlen).
 */
static int replicas_write(struct mc_store *s, const struct mc_desc *d,
			  unsigned n, void *val, size_t len,
			  const struct put_src *src, struct mc_err *err)
{
	const struct mc_data_ops *ops = s->o.data_ops;
	int rc = 0;

	if (src && src->pfd >= 0) {
		if (n == 1 && !is_self(s, &d[0].owner) && d[0].size >= len &&
		    ops && ops->write_pipe) {
			rc = ops->write_pipe(s->o.data_arg, &d[0], val,
					     src->hlen, src->pfd, len);
			return rc ? unwritten(&d[0], rc, err) : 0;
		}
		for (uint64_t at = src->hlen; at < len;) {
			ssize_t r = read(src->pfd, (char *)val + at, len - at);

			if (r <= 0) {
				if (r < 0 && errno == EINTR)
					continue;
				return mc_err_set(err, -EIO, MC_INTERNAL_ERROR,
						  "the value's pipe ran dry");
			}
			at += (uint64_t)r;
		}
	}
	for (unsigned i = 0; i < n && rc == 0; i++)
		rc = replica_write(s, &d[i], val, len, err);
	return rc;
}

/*
 * The first half of a put through the master: its put start of @len
 * bytes under the key, whose places, version and term land in @v. 0, or
 * a negative errno.
 */
static int put_via_start(struct mc_store *s, const void *key, size_t klen,
			 size_t len, struct mc_via *v, struct mc_err *err)
{
	struct call c;
	int rc;

	put_start_req(&c, key, klen, len, &s->self, s->o.replica_num, "",
		      WIRE_PUT_SHARED, &s->self);
	rc = call_do(s, &c, err);
	if (rc == -ECONNABORTED)
		rc = -EAGAIN; /* a put nobody ends is revoked at its timeout */
	if (rc == 0)
		rc = put_start_body(&c, &v->version, &v->d, &v->n, err);
	v->term = c.term;
	call_end(&c);
	v->started = rc == 0;
	return rc;
}

/* Drops started put @v at the master (its bytes did not all go). */
static void put_via_revoke(struct mc_store *s, const void *key, size_t klen,
			   struct mc_via *v)
{
	put_finish_call(s, MOP_PUT_REVOKE, key, klen, &s->self, WIRE_PUT_SHARED,
			v->version, NULL, NULL);
	v->started = false;
}

/*
 * The second half of started put @v: its replicas written from @val (or
 * @src), unless a stream wrote them (@wrote 0) or failed to (@wrote < 0),
 * then the master's put end.
 */
static int put_via_finish(struct mc_store *s, const void *key, size_t klen,
			  const void *val, size_t len,
			  const struct put_src *src, int wrote,
			  struct mc_via *v, struct mc_err *err)
{
	uint64_t term2 = 0;
	int rc = wrote;

	if (wrote > 0)
		rc = replicas_write(s, v->d, v->n, (void *)val, len, src, err);
	if (rc < 0) {
		put_via_revoke(s, key, klen, v);
		return rc;
	}
	v->started = false;
	rc = put_finish_call(s, MOP_PUT_END, key, klen, &s->self,
			     WIRE_PUT_SHARED, v->version, &term2, err);
	if (rc == -ECONNABORTED && term2)
		return rc; /* the master answered: the outcome is unknown */
	if (rc == -ECONNABORTED)
		return put_settle(s, key, klen, v->version, err);
	if (rc == -ENOENT && term2 == v->term) {
		/* the same master let it go: its timeout, or an unmount */
		char why[sizeof(err->msg)];

		snprintf(why, sizeof(why), "%s", err ? err->msg : "");
		return mc_err_set(err, -ETIMEDOUT, MC_INVALID_WRITE,
				  "the put of key '%.*s' was revoked (%s)",
				  KEY_ARG(key, klen), why);
	}
	if (rc < 0 && rc != -EINVAL && rc != -EFBIG && rc != -ENOMEM) {
		/* the put went (a new leader, a timeout, an owner that failed
		 * to commit): nothing happened, try again */
		if (term2 != v->term)
			mc_err_set(err, -EAGAIN, MC_NO_LEADER,
				   "the leader changed during the put of "
				   "'%.*s'",
				   KEY_ARG(key, klen));
		rc = -EAGAIN;
	}
	return rc;
}

/* A whole put through the master, from @val or @src. */
static int put_via(struct mc_store *s, const void *key, size_t klen,
		   const void *val, size_t len, const struct put_src *src,
		   struct mc_err *err)
{
	struct mc_via v = {0};
	int rc = put_check(s, key, klen, len, err);

	if (rc < 0) {
		put_start_refused(s, false);
		return rc;
	}
	rc = put_via_start(s, key, klen, len, &v, err);
	if (rc == 0)
		rc = put_via_finish(s, key, klen, val, len, src, 1, &v, err);
	free(v.d);
	return rc;
}

int fac_put(struct mc_store *s, const void *key, size_t klen, const void *val,
	    size_t len, struct mc_err *err)
{
	return put_via(s, key, klen, val, len, NULL, err);
}

int fac_put_begin(struct mc_store *s, const void *key, size_t klen,
		  uint64_t size, struct mc_put **out, struct mc_err *err)
{
	struct mc_put *p;
	int rc = put_check(s, key, klen, size, err);

	if (rc < 0) {
		put_start_refused(s, false);
		return rc;
	}
	p = calloc(1, sizeof(*p) + klen);
	if (p)
		p->stage = malloc(size);
	if (!p || !p->stage) {
		free(p);
		return mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR,
				  "out of memory");
	}
	p->store = s;
	p->linked = true;
	p->open = true;
	p->size = size;
	p->nrep = 1;
	p->klen = klen;
	memcpy(p->key, key, klen);
	*out = p;
	return 0;
}

int fac_put_grow(struct mc_put *p, uint64_t size)
{
	char *n;

	if (p->registered || !p->open || size <= p->size)
		return -EINVAL;
	if (size > p->store->o.max_value)
		return -EFBIG;
	/* the stage may move: its writer asks mc_put_buffer again */
	n = realloc(p->stage, size);
	if (!n)
		return -ENOSPC;
	p->stage = n;
	p->size = size;
	return 0;
}

int fac_put_stream(struct mc_put *p, struct mc_err *err)
{
	struct mc_store *s = p->store;
	const struct mc_data_ops *ops = s->o.data_ops;
	struct mc_via *v = &p->via;
	int rc;

	if (p->registered || !p->open || v->started) {
		fac_put_free(p);
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "only a local put not yet started streams");
	}
	rc = put_via_start(s, p->key, p->klen, p->size, v, err);
	if (rc < 0) {
		fac_put_free(p);
		return rc;
	}
	if (v->n != 1 || is_self(s, &v->d[0].owner) || v->d[0].size < p->size ||
	    !ops || !ops->write_open)
		return 0; /* the bytes gather; the commit writes them */
	rc = ops->write_open(s->o.data_arg, &v->d[0], p->size, &p->stream);
	if (rc < 0) {
		fac_put_free(p);
		return unwritten(&v->d[0], rc, err);
	}
	p->streams = true;
	return 1;
}

int fac_put_stream_feed(struct mc_put *p, const void *buf, uint64_t n, int pfd,
			struct mc_err *err)
{
	const struct mc_data_ops *ops = p->store->o.data_ops;
	int rc;

	if (!p->stream || n > p->size - p->streamed)
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "%llu bytes past the put's %llu",
				  (unsigned long long)n,
				  (unsigned long long)p->size);
	rc = ops->write_feed(p->stream, buf, n, pfd);
	if (rc < 0) {
		ops->write_close(p->stream, false);
		p->stream = NULL;
		return unwritten(&p->via.d[0], rc, err);
	}
	p->streamed += n;
	return 0;
}

/* Ends @p's stream: 0 when every byte went and the owner took them. */
static int stream_end(struct mc_put *p, bool ok, struct mc_err *err)
{
	const struct mc_data_ops *ops = p->store->o.data_ops;
	int rc;

	if (!p->stream)
		return ok ? mc_err_set(err, -EIO, MC_TRANSFER_FAIL,
				       "the put's write failed")
			  : 0;
	ok = ok && p->streamed == p->size;
	rc = ops->write_close(p->stream, ok);
	p->stream = NULL;
	if (!ok)
		return mc_err_set(err, -EIO, MC_INVALID_WRITE,
				  "the put ended %llu bytes short",
				  (unsigned long long)(p->size - p->streamed));
	if (rc == -EACCES)
		/* the owner let the buffer go: the master revoked the put
		 * (its timeout, or an unmount) while its bytes came */
		return mc_err_set(err, -ETIMEDOUT, MC_INVALID_WRITE,
				  "the put of key '%.*s' was revoked (the "
				  "owner of segment '%s' let its buffer go)",
				  KEY_ARG(p->key, p->klen), p->via.d[0].seg_id);
	if (rc < 0)
		return unwritten(&p->via.d[0], rc, err);
	return 0;
}

/*
 * Ends local put @p from its stage (or pipe @src): through its stream
 * when it has one, with the places its put start gave when it has them.
 */
static int commit_local(struct mc_put *p, const struct put_src *src,
			struct mc_err *err)
{
	int rc;

	if (p->registered)
		rc = mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				"a two-phase put ends by its key");
	else if (p->via.started)
		rc = put_via_finish(p->store, p->key, p->klen, p->stage,
				    p->size, src,
				    p->streams ? stream_end(p, true, err) : 1,
				    &p->via, err);
	else
		rc = put_via(p->store, p->key, p->klen, p->stage, p->size, src,
			     err);
	fac_put_free(p);
	return rc;
}

int fac_put_commit(struct mc_put *p, struct mc_err *err)
{
	return commit_local(p, NULL, err);
}

int fac_put_commit_pipe(struct mc_put *p, uint64_t hlen, int pfd,
			struct mc_err *err)
{
	struct put_src src = {pfd, hlen};

	if (hlen > p->size) {
		fac_put_free(p);
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "a pipe's head past the put's size");
	}
	return commit_local(p, &src, err);
}

void fac_put_free(struct mc_put *p)
{
	if (p->stream)
		p->store->o.data_ops->write_close(p->stream, false);
	if (p->via.started)
		put_via_revoke(p->store, p->key, p->klen, &p->via);
	free(p->via.d);
	free(p->stage);
	free(p->desc);
	free(p);
}

int fac_put_start(struct mc_store *s, const void *key, size_t klen,
		  uint64_t size, const struct mc_put_opts *o,
		  struct mc_put **out, struct mc_err *err)
{
	static const struct mc_put_opts none;
	unsigned flags = 0, n = 0;
	struct mc_desc *d = NULL;
	uint64_t version = 0;
	struct mc_put *p;
	struct call c;
	int rc;

	if (!o)
		o = &none;
	rc = put_check(s, key, klen, size, err);
	if (rc < 0) {
		put_start_refused(s, o->batch);
		return rc;
	}
	flags = (o->remote_ok ? WIRE_PUT_REMOTE_OK : 0) |
		(o->no_replace ? WIRE_PUT_NO_REPLACE : 0) |
		(o->batch ? WIRE_PUT_BATCH : 0);
	put_start_req(&c, key, klen, size, o->writer,
		      o->replicas ? o->replicas : s->o.replica_num,
		      o->prefer ? o->prefer : "", flags,
		      o->near	     ? o->near
		      : o->remote_ok ? NULL
				     : &s->self);
	rc = call_do(s, &c, err);
	if (rc == -ECONNABORTED)
		rc = -EAGAIN;
	if (rc == 0)
		rc = put_start_body(&c, &version, &d, &n, err);
	call_end(&c);
	if (rc < 0)
		return rc;
	p = calloc(1, sizeof(*p) + klen);
	if (!p) {
		free(d);
		return mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR,
				  "out of memory");
	}
	p->store = s;
	p->linked = true;
	p->registered = true;
	p->size = size;
	p->nrep = (uint8_t)n;
	p->desc = d;
	p->version = version;
	p->klen = klen;
	memcpy(p->key, key, klen);
	*out = p;
	return 0;
}

int fac_put_end(struct mc_store *s, const void *key, size_t klen,
		const struct mc_owner *writer, bool batch, struct mc_err *err)
{
	int rc = obj_key_check(key, klen, err);

	if (rc < 0)
		return rc;
	return put_finish_call(s, MOP_PUT_END, key, klen, writer,
			       batch ? WIRE_PUT_BATCH : 0, 0, NULL, err);
}

int fac_put_revoke(struct mc_store *s, const void *key, size_t klen,
		   const struct mc_owner *writer, bool batch,
		   struct mc_err *err)
{
	int rc = obj_key_check(key, klen, err);

	if (rc < 0)
		return rc;
	/* -ECONNABORTED stays: the master may have revoked it, so "it did
	 * not happen" (503) could be untrue; as put_end's, unknown */
	return put_finish_call(s, MOP_PUT_REVOKE, key, klen, writer,
			       batch ? WIRE_PUT_BATCH : 0, 0, NULL, err);
}

/* ----------------------------------------------------------------- gets */

/* A query's answer: the value's size and version, and its replicas. */
struct found {
	uint64_t size, version;
	unsigned n;
	struct mc_desc d[MC_REPLICA_MAX];
};

/*
 * Whether the value's size is its replicas': a get allocates and reads
 * that many bytes (a replica's descriptor has the value's size,
 * mc_query), so a size that disagrees is no answer.
 */
static bool sizes_agree(const struct found *f)
{
	for (unsigned i = 0; i < f->n; i++)
		if (f->d[i].size != f->size)
			return false;
	return f->n || !f->size;
}

static int query_call(struct mc_store *s, const void *key, size_t klen,
		      unsigned flags, struct found *f, struct mc_err *err)
{
	struct call c;
	int rc;

	call_begin(&c, MOP_QUERY);
	wire_bytes(&c.req, key, klen);
	wire_u32(&c.req, flags);
	rc = call_do(s, &c, err);
	if (rc == -ECONNABORTED)
		rc = -EAGAIN;
	if (rc >= 0) {
		f->size = wire_get_u64(&c.r);
		f->version = wire_get_u64(&c.r);
		f->n = wire_get_u8(&c.r);
		if (f->n > MC_REPLICA_MAX)
			c.r.bad = true;
		for (unsigned i = 0; i < f->n && !c.r.bad; i++)
			wire_get_desc(&c.r, &f->d[i]);
		/* the result is the count of replicas listed: a caller
		 * reads that many descriptors */
		if (c.r.bad || c.r.left || (unsigned)rc != f->n ||
		    !sizes_agree(f))
			rc = body_bad(err);
	}
	call_end(&c);
	return rc;
}

/*
 * Reads [off, off + len) of the value @f names into @buf from a replica
 * in another process: 0, -EAGAIN (every replica is a node's, and none
 * answered: they are going) or -EREMOTEIO.
 */
static int read_remote(struct mc_store *s, const struct found *f, uint64_t off,
		       void *buf, uint64_t len)
{
	const struct mc_data_ops *ops = s->o.data_ops;
	bool client = false;

	for (unsigned i = 0; i < f->n; i++) {
		int rc;

		if (is_self(s, &f->d[i].owner))
			continue;
		client |= f->d[i].owner.kind != MC_OWNER_NODE;
		if (!ops || !ops->read)
			continue;
		rc = ops->read(s->o.data_arg, &f->d[i], off, buf, len);
		if (rc == 0)
			return 0;
		mc_debug("get: replica in segment '%s' at %s not read: %s",
			 f->d[i].seg_id, f->d[i].endpoint, strerror(-rc));
	}
	return client ? -EREMOTEIO : -EAGAIN;
}

/*
 * The memory of a get that went through a pipe, had only when the value
 * does not end there (read_pipe's @room): a copy mc_ref can hold.
 */
static void *spill_room(void *ctx, uint64_t len)
{
	void **data = ctx;

	if (!*data)
		*data = ref_copy_new(len);
	return *data;
}

/*
 * read_remote of the whole value @f names, through pipe @pfd (read end,
 * write end; mc_data_ops read_pipe): 1 (the value is in the pipe), 0 (it
 * is in *@data, which spill_room set), or read_remote's errors, -ENOMEM.
 * A read through the pipe that failed may have left part of a value in
 * it, so the replicas after it are read into memory.
 */
static int read_remote_pipe(struct mc_store *s, const struct found *f,
			    const int pfd[2], void **data)
{
	const struct mc_data_ops *ops = s->o.data_ops;
	bool client = false, piped = true;

	for (unsigned i = 0; i < f->n; i++) {
		const struct mc_desc *d = &f->d[i];
		int rc;

		if (is_self(s, &d->owner))
			continue;
		client |= d->owner.kind != MC_OWNER_NODE;
		if (!piped && !ops->read)
			continue;
		if (piped)
			rc = ops->read_pipe(s->o.data_arg, d, 0, pfd,
					    spill_room, data, f->size);
		else if (!spill_room(data, f->size))
			return -ENOMEM;
		else
			rc = ops->read(s->o.data_arg, d, 0, *data, f->size);
		if (rc == 0 && !*data)
			rc = -EIO; /* a hook that asked for no room */
		if (rc >= 0)
			return rc;
		piped = false;
		mc_debug("get: replica in segment '%s' at %s not read: %s",
			 d->seg_id, d->endpoint, strerror(-rc));
	}
	return client ? -EREMOTEIO : -EAGAIN;
}

/* The record of a replica in this node's memory, or NULL. */
static struct mc_blk *read_local(struct mc_store *s, const void *key,
				 size_t klen, const struct found *f)
{
	for (unsigned i = 0; i < f->n; i++) {
		struct mc_blk *b;

		if (!is_self(s, &f->d[i].owner))
			continue;
		b = owner_ref(s, f->d[i].seg_id, f->d[i].addr, key, klen,
			      f->version);
		if (b)
			return b;
	}
	return NULL;
}

/*
 * A get: 0 and *@out (a reference), or, with @pfd, 1 and *@size when a
 * value of MC_PIPE_MIN to @room bytes read from another node went into
 * that pipe (mc_get_pipe); or -errno.
 */
static int get_via(struct mc_store *s, const void *key, size_t klen,
		   const int *pfd, uint64_t room, struct mc_ref **out,
		   uint64_t *size)
{
	struct found f;
	struct mc_blk *b;
	void *data = NULL;
	int rc = query_call(s, key, klen, MC_F_HOLD, &f, NULL);

	*out = NULL;
	if (rc < 0)
		return rc;
	b = read_local(s, key, klen, &f);
	if (b) {
		*out = ref_of_blk(b);
		return 0;
	}
	if (pfd && f.size >= MC_PIPE_MIN && f.size <= room) {
		/* memory only when the pipe fills first (spill_room) */
		rc = read_remote_pipe(s, &f, pfd, &data);
	} else {
		data = ref_copy_new(f.size);
		if (!data)
			return -ENOMEM;
		rc = read_remote(s, &f, 0, data, f.size);
	}
	if (rc == 1) {
		*size = f.size;
		ref_copy_free(data);
		return 1;
	}
	if (rc < 0) {
		ref_copy_free(data);
		return rc;
	}
	*out = ref_of_copy(data);
	return 0;
}

int fac_get(struct mc_store *s, const void *key, size_t klen,
	    struct mc_ref **out)
{
	uint64_t size;

	return get_via(s, key, klen, NULL, 0, out, &size);
}

int fac_get_pipe(struct mc_store *s, const void *key, size_t klen,
		 const int pfd[2], uint64_t room, struct mc_ref **out,
		 uint64_t *size)
{
	return get_via(s, key, klen, pfd, room, out, size);
}

int64_t fac_get_copy(struct mc_store *s, const void *key, size_t klen,
		     uint64_t off, void *buf, uint64_t cap)
{
	struct found f;
	struct mc_blk *b;
	uint64_t n;
	int rc = query_call(s, key, klen, MC_F_HOLD, &f, NULL);

	if (rc < 0)
		return rc;
	if (off >= f.size)
		return 0;
	n = f.size - off < cap ? f.size - off : cap;
	if (!n)
		return 0;
	b = read_local(s, key, klen, &f);
	if (b) {
		memcpy(buf, blk_ptr(b) + off, n);
		blk_unref(b);
		return (int64_t)n;
	}
	rc = read_remote(s, &f, off, buf, n);
	return rc < 0 ? rc : (int64_t)n;
}

int fac_stat(struct mc_store *s, const void *key, size_t klen, uint64_t *size)
{
	struct call c;
	int rc;

	call_begin(&c, MOP_STAT);
	wire_bytes(&c.req, key, klen);
	rc = call_do(s, &c, NULL);
	if (rc == -ECONNABORTED)
		rc = -EAGAIN;
	if (rc == 0) {
		*size = wire_get_u64(&c.r);
		wire_get_u64(&c.r);
		if (c.r.bad || c.r.left)
			rc = -EAGAIN;
	}
	call_end(&c);
	return rc;
}

int fac_exist(struct mc_store *s, const void *key, size_t klen, unsigned flags)
{
	struct call c;
	int rc;

	call_begin(&c, MOP_EXIST);
	wire_bytes(&c.req, key, klen);
	wire_u32(&c.req, flags);
	rc = call_do(s, &c, NULL);
	call_end(&c);
	/* 1 or 0; anything else is no answer */
	return rc == -ECONNABORTED || rc > 1 ? -EAGAIN : rc;
}

int fac_query(struct mc_store *s, const void *key, size_t klen, unsigned flags,
	      struct mc_desc *out, size_t max, struct mc_obj_info *info)
{
	struct found f;
	int rc = query_call(s, key, klen, flags, &f, NULL);

	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < f.n && i < max; i++)
		out[i] = f.d[i];
	if (info) {
		info->size = f.size;
		info->version = f.version;
		info->nrep = (unsigned)rc;
	}
	return rc;
}

void fac_query_batch(struct mc_store *s, size_t nkeys, const char *const *keys,
		     const size_t *klens,
		     void (*cb)(size_t i, int rc, const struct mc_desc *d,
				size_t nd, void *arg),
		     void *arg)
{
	struct mc_desc d[MC_REPLICA_MAX];
	size_t i = 0;
	struct call c;
	int rc;

	call_begin(&c, MOP_QUERY_BATCH);
	wire_u32(&c.req, (uint32_t)nkeys);
	for (size_t k = 0; k < nkeys; k++)
		wire_bytes(&c.req, keys[k], klens[k]);
	rc = call_do(s, &c, NULL);
	for (; rc >= 0 && i < nkeys; i++) {
		int krc = (int32_t)wire_get_u32(&c.r);
		unsigned nd = wire_get_u8(&c.r);

		/*
		 * a key's result, when not an error, counts its replicas;
		 * an error is an errno, as call_do wants the call's (the
		 * callbacks negate it: -INT_MIN is undefined)
		 */
		if (nd > MC_REPLICA_MAX || krc < -4095 ||
		    (krc >= 0 && (unsigned)krc != nd))
			c.r.bad = true;
		for (unsigned k = 0; k < nd && !c.r.bad; k++)
			wire_get_desc(&c.r, &d[k]);
		/* key i has no answer either: it is among those left */
		if (c.r.bad)
			break;
		cb(i, krc, d, nd, arg);
	}
	/* the keys left without an answer (a cut one too): no leader */
	for (; i < nkeys; i++)
		cb(i, -EAGAIN, d, 0, arg);
	call_end(&c);
}

void fac_call_count(struct mc_store *s, enum mc_call_op op, bool failed)
{
	struct call c;

	call_begin(&c, MOP_CALL_COUNT);
	wire_u8(&c.req, (uint8_t)op);
	wire_u8(&c.req, failed);
	call_do(s, &c, NULL);
	call_end(&c);
}

void fac_batch_count(struct mc_store *s, enum mc_batch_op op, uint64_t items,
		     uint64_t failed)
{
	struct call c;

	call_begin(&c, MOP_BATCH_COUNT);
	wire_u8(&c.req, (uint8_t)op);
	wire_u64(&c.req, items);
	wire_u64(&c.req, failed);
	call_do(s, &c, NULL);
	call_end(&c);
}

int fac_remove(struct mc_store *s, const void *key, size_t klen, bool force,
	       struct mc_err *err)
{
	struct call c;
	int rc = obj_key_check(key, klen, err);

	if (rc < 0)
		return rc;
	call_begin(&c, MOP_REMOVE);
	wire_bytes(&c.req, key, klen);
	wire_u8(&c.req, force);
	rc = call_do(s, &c, err);
	call_end(&c);
	/* -ECONNABORTED stays: the master may have removed it (and told
	 * every owner), so "it did not happen" (503) could be untrue */
	return rc;
}

int64_t fac_remove_all(struct mc_store *s, bool force)
{
	struct call c;
	int64_t n;
	int rc;

	call_begin(&c, MOP_REMOVE_ALL);
	wire_u8(&c.req, force);
	rc = call_do(s, &c, NULL);
	n = rc == -ECONNABORTED ? rc /* may have happened */
	    : rc < 0		? -EAGAIN
				: (int64_t)wire_get_u64(&c.r);
	if (rc >= 0 && (c.r.bad || c.r.left))
		n = -EAGAIN;
	call_end(&c);
	return n;
}

int fac_key_walk(struct mc_store *s, uint64_t *cursor,
		 int (*cb)(const void *key, size_t klen, uint64_t size,
			   void *arg),
		 void *arg)
{
	char *key = malloc(MC_KEY_MAX + 1);
	int rc = 0;

	if (!key)
		return -ENOMEM;
	while (*cursor != UINT64_MAX && rc == 0) {
		struct call c;
		uint32_t n;
		uint64_t next;
		bool end;

		call_begin(&c, MOP_KEY_WALK);
		wire_u64(&c.req, *cursor);
		wire_u32(&c.req, KEY_WALK_MAX);
		rc = call_do(s, &c, NULL);
		if (rc < 0) {
			call_end(&c);
			rc = -EAGAIN;
			break;
		}
		n = wire_get_count(&c.r, WIRE_COUNT_MAX, 20);
		for (uint32_t i = 0; i < n && !c.r.bad && rc == 0; i++) {
			size_t klen;
			const void *k = wire_get_bytes(&c.r, &klen);
			uint64_t size = wire_get_u64(&c.r);
			uint64_t at = wire_get_u64(&c.r);

			if (c.r.bad || klen == 0 || klen > MC_KEY_MAX) {
				c.r.bad = true;
				break;
			}
			memcpy(key, k, klen);
			key[klen] = '\0'; /* as mc_key_walk promises */
			rc = cb(key, klen, size, arg);
			if (rc)
				*cursor = at;
		}
		if (rc) {
			call_end(&c);
			break;
		}
		next = wire_get_u64(&c.r);
		end = wire_get_u8(&c.r);
		if (c.r.bad || c.r.left) {
			call_end(&c);
			rc = -EAGAIN;
			break;
		}
		*cursor = end ? UINT64_MAX : next;
		call_end(&c);
	}
	free(key);
	return rc;
}

/* A u64 answer of @op, or 0 without a master. */
static uint64_t call_u64(struct mc_store *s, enum wire_mop op, uint64_t *term)
{
	struct call c;
	uint64_t v = 0;

	call_begin(&c, op);
	if (call_do(s, &c, NULL) >= 0) {
		v = wire_get_u64(&c.r);
		if (c.r.bad)
			v = 0;
	}
	if (term)
		*term = c.term;
	call_end(&c);
	return v;
}

uint64_t fac_keys_gen(struct mc_store *s)
{
	uint64_t term = 0, gen = call_u64(s, MOP_KEYS_GEN, &term);

	/* another master counts from 0 again: never the same number */
	return gen + (term << 40);
}

void fac_usage(struct mc_store *s, struct mc_usage *u)
{
	struct call c;

	memset(u, 0, sizeof(*u));
	call_begin(&c, MOP_USAGE);
	if (call_do(s, &c, NULL) >= 0) {
		u->used = wire_get_u64(&c.r);
		u->capacity = wire_get_u64(&c.r);
		u->keys = wire_get_u64(&c.r);
		u->segments = wire_get_u64(&c.r);
		u->pending_puts = wire_get_u64(&c.r);
		u->clients = wire_get_u64(&c.r);
		if (c.r.bad)
			memset(u, 0, sizeof(*u));
	}
	call_end(&c);
}

void fac_recent(struct mc_store *s, struct mc_recent *out)
{
	struct call c;

	memset(out, 0, sizeof(*out));
	call_begin(&c, MOP_RECENT);
	if (call_do(s, &c, NULL) >= 0) {
		out->span_s = wire_get_f64(&c.r);
		for (int i = 0; i < MC_NOPS; i++) {
			out->requests[i] = wire_get_u64(&c.r);
			out->failures[i] = wire_get_u64(&c.r);
		}
		out->evictions = wire_get_u64(&c.r);
		out->evicted_keys = wire_get_u64(&c.r);
		out->evicted_bytes = wire_get_u64(&c.r);
		if (c.r.bad)
			memset(out, 0, sizeof(*out));
	}
	call_end(&c);
}

void fac_value_sizes(struct mc_store *s, struct mc_value_sizes *out)
{
	struct call c;

	memset(out, 0, sizeof(*out));
	call_begin(&c, MOP_VALUE_SIZES);
	if (call_do(s, &c, NULL) >= 0) {
		for (int i = 0; i < MC_VALUE_SIZE_CLASSES; i++) {
			out->le[i] = wire_get_f64(&c.r);
			out->count[i] = wire_get_u64(&c.r);
		}
		if (c.r.bad)
			memset(out, 0, sizeof(*out));
	}
	call_end(&c);
}

int fac_text(struct mc_store *s, bool summary, struct mc_buf *out)
{
	struct call c;
	int rc;

	call_begin(&c, summary ? MOP_SUMMARY : MOP_METRICS);
	rc = call_do(s, &c, NULL);
	if (rc >= 0) {
		size_t n;
		const void *p = wire_get_bytes(&c.r, &n);

		if (c.r.bad || c.r.left)
			rc = -EAGAIN;
		else
			mc_buf_add(out, p, n);
	}
	call_end(&c);
	return rc < 0 ? -EAGAIN : 0;
}

/* ------------------------------------------------------------- segments */

int fac_segments(struct mc_store *s, struct mc_seg_info **v, size_t *n)
{
	struct call c;
	uint32_t k;
	int rc;

	*v = NULL;
	*n = 0;
	call_begin(&c, MOP_SEGMENTS);
	rc = call_do(s, &c, NULL);
	if (rc < 0) {
		call_end(&c);
		return -EAGAIN;
	}
	k = wire_get_count(&c.r, WIRE_COUNT_MAX, 64);
	*v = calloc(k ? k : 1, sizeof(**v));
	if (!*v) {
		call_end(&c);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < k && !c.r.bad; i++)
		wire_get_seg_info(&c.r, &(*v)[i]);
	if (c.r.bad || c.r.left) {
		free(*v);
		*v = NULL;
		call_end(&c);
		return -EAGAIN;
	}
	*n = k;
	call_end(&c);
	return 0;
}

int fac_segment_foreach(struct mc_store *s,
			int (*cb)(const struct mc_seg_info *, void *),
			void *arg)
{
	struct mc_seg_info *v;
	size_t n;
	int rc = fac_segments(s, &v, &n);

	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = cb(&v[i], arg);
	free(v);
	return rc;
}

int fac_segment_info(struct mc_store *s, const char *id,
		     struct mc_seg_info *out)
{
	struct mc_seg_info *v;
	size_t n;
	int rc = fac_segments(s, &v, &n);

	if (rc < 0)
		return rc;
	rc = -ENOENT;
	for (size_t i = 0; i < n && rc; i++) {
		if (!strcmp(v[i].id, id)) {
			*out = v[i];
			rc = 0;
		}
	}
	free(v);
	return rc;
}

static void mount_remote_req(struct call *c, const struct mc_remote_req *q)
{
	call_begin(c, MOP_MOUNT_REMOTE);
	wire_str(&c->req, q->id);
	wire_str(&c->req, q->name);
	wire_u64(&c->req, q->base);
	wire_u64(&c->req, q->size);
	wire_str(&c->req, q->endpoint);
	wire_str(&c->req, q->protocol);
	wire_owner(&c->req, &q->owner);
	wire_u8(&c->req, (uint8_t)q->origin);
	wire_str(&c->req, q->location);
	wire_str(&c->req, q->shm_name);
	wire_u64(&c->req, q->shm_offset);
	wire_u8(&c->req, q->remount);
}

/*
 * A mount at the master. One whose answer was lost is asked again until
 * a master answers (SETTLE_MS at most): the same mount of the same
 * segment succeeds when it is there already (mc_segment_mount_remote),
 * so the first answer is true whether or not the lost one ran. 0,
 * -errno, or -ECONNABORTED (still unknown: the segment may be mounted).
 */
int fac_mount_remote(struct mc_store *s, const struct mc_remote_req *req,
		     struct mc_err *err)
{
	unsigned waited = 0;
	bool lost = false;
	struct call c;
	int rc;

	for (;;) {
		mount_remote_req(&c, req);
		rc = call_do(s, &c, err);
		call_end(&c);
		if (rc == -ECONNABORTED)
			lost = true;
		else if (rc != -EAGAIN || !lost)
			return rc; /* answered, or nothing was sent yet */
		if (waited >= SETTLE_MS)
			return mc_err_set(err, -ECONNABORTED, MC_NO_LEADER,
					  "whether segment '%s' was mounted "
					  "is unknown",
					  req->id);
		sleep_ms(SETTLE_STEP);
		waited += SETTLE_STEP;
	}
}

/*
 * Asks the master to unmount @ids (@gone_ok: an id it does not have is
 * done already, as struct mc_unmount_req says), not caring how it goes.
 */
static void unmount_call(struct mc_store *s, const char *const *ids, size_t n,
			 unsigned grace_s, bool gone_ok,
			 char (**failed)[MC_ID_LEN + 1], size_t *n_failed,
			 int *rc, struct mc_err *err)
{
	struct call c;

	call_begin(&c, MOP_UNMOUNT);
	wire_u32(&c.req, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		wire_str(&c.req, ids[i]);
	wire_u32(&c.req, grace_s);
	wire_u8(&c.req, gone_ok ? 1 : 0);
	*rc = call_do(s, &c, err);
	if (*rc == -ECONNABORTED)
		*rc = -EAGAIN;
	if (*rc == -ENOENT && failed && n_failed) {
		uint32_t nf = wire_get_count(&c.r, 4096, 4);

		*failed = calloc(nf ? nf : 1, sizeof(**failed));
		for (uint32_t i = 0; *failed && i < nf && !c.r.bad; i++)
			wire_get_str(&c.r, (*failed)[i], MC_ID_LEN + 1);
		*n_failed = *failed && !c.r.bad ? nf : 0;
	}
	call_end(&c);
}

/*
 * Unmounts segment @id at the master at once, asking again while no
 * master answers (an unmount whose answer was lost, asked again, finds
 * it gone): 0 (it is not there any more), or -ECONNABORTED (unknown).
 */
static int unmount_settle(struct mc_store *s, const char *id)
{
	int rc = -EAGAIN;

	for (unsigned waited = 0; waited < SETTLE_MS; waited += SETTLE_STEP) {
		unmount_call(s, &id, 1, 0, false, NULL, NULL, &rc, NULL);
		if (rc != -EAGAIN)
			return rc == -ENOENT ? 0 : rc;
		sleep_ms(SETTLE_STEP);
	}
	return -ECONNABORTED;
}

int fac_segment_mount(struct mc_store *s, const struct mc_mount_req *req,
		      struct mc_mount_result *out, struct mc_err *err)
{
	size_t done = 0;
	int rc = seg_mount_local(s, req, out, err);

	if (rc < 0)
		return rc;
	/* the master allocates in them once they are registered */
	for (; done < out->n; done++) {
		struct mc_seg_info si;
		struct mc_remote_req q;

		rc = seg_info_local(s, out->ids[done], &si);
		if (rc < 0)
			break;
		seg_remote_req(&si, &s->self, &q);
		rc = fac_mount_remote(s, &q, err);
		if (rc < 0)
			break;
	}
	if (rc == 0)
		return 0;
	/*
	 * Nothing stays mounted: neither at the master (the one whose
	 * mount is unknown too) nor here. When the master cannot say, none
	 * answered for SETTLE_MS: the next one rebuilds from the nodes'
	 * reports, which no longer hold them.
	 */
	{
		const char **ids = calloc(out->n, sizeof(*ids));
		struct mc_unmount_req ur = {.ids = ids, .n = out->n};
		size_t upto = done + (rc == -ECONNABORTED && done < out->n);
		bool unknown = !ids && upto;

		for (size_t i = 0; ids && i < out->n; i++)
			ids[i] = out->ids[i];
		for (size_t i = 0; ids && i < upto && !unknown; i++)
			if (unmount_settle(s, ids[i]) < 0)
				unknown = true;
		if (unknown)
			rc = mc_err_set(err, -ECONNABORTED, MC_NO_LEADER,
					"whether the segments are unmounted at "
					"the leader is unknown");
		else if (rc == -ECONNABORTED) /* undone: nothing happened */
			rc = mc_err_set(err, -EAGAIN, MC_NO_LEADER,
					"no leader answered the mount; "
					"nothing was mounted");
		if (ids)
			seg_unmount_local(s, &ur, NULL, NULL, NULL);
		free(ids);
	}
	free(out->ids);
	out->ids = NULL;
	out->n = 0;
	out->allocated_size = 0;
	return rc;
}

/*
 * An unmount this node refused itself (bad arguments, or ids the door's
 * condition did not find): the leader counts it as the single store
 * counts its own, one request and one failure (mooncake-http(7),
 * METRICS).
 * It is asked to unmount no id at all, which it refuses and counts,
 * and which can unmount nothing; its answer does not matter.
 */
static void unmount_refused(struct mc_store *s)
{
	int rc;

	unmount_call(s, NULL, 0, 0, false, NULL, NULL, &rc, NULL);
}

int fac_segment_unmount(struct mc_store *s, const struct mc_unmount_req *req,
			char (**failed)[MC_ID_LEN + 1], size_t *n_failed,
			struct mc_err *err)
{
	int rc = 0;

	if (failed)
		*failed = NULL;
	if (n_failed)
		*n_failed = 0;
	if (req->n == 0 || req->grace_s > MC_GRACE_MAX) {
		unmount_refused(s);
		return req->n ? mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
					   "grace period must be 0..%d "
					   "seconds",
					   MC_GRACE_MAX)
			      : mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
					   "no segment ids given");
	}
	if (req->accept) {
		/* the door's condition, on the segments as the master
		 * lists them: all or nothing, as on a single node */
		struct mc_seg_info *v;
		char(*fl)[MC_ID_LEN + 1];
		size_t n, nf = 0;

		rc = fac_segments(s, &v, &n);
		if (rc < 0)
			return mc_err_set(err, rc, MC_NO_LEADER,
					  "no cluster leader answers");
		fl = calloc(req->n, sizeof(*fl));
		if (!fl) {
			free(v);
			return mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR,
					  "out of memory");
		}
		for (size_t i = 0; i < req->n; i++) {
			bool ok = false, listed = false;

			for (size_t j = 0; j < n && !ok; j++) {
				if (strcmp(v[j].id, req->ids[i]))
					continue;
				listed = true;
				ok = req->accept(&v[j], req->accept_arg);
			}
			/* not mounted: done already, and the master passes
			 * it over too (gone_ok) */
			if (!ok && !(req->gone_ok && !listed))
				snprintf(fl[nf++], MC_ID_LEN + 1, "%s",
					 req->ids[i]);
		}
		free(v);
		if (nf) {
			unmount_refused(s);
			rc = mc_err_set(err, -ENOENT, MC_SEGMENT_NOT_FOUND,
					"segment '%s' not found", fl[0]);
			if (failed && n_failed) {
				*failed = fl;
				*n_failed = nf;
			} else {
				free(fl);
			}
			return rc;
		}
		free(fl);
	}
	unmount_call(s, req->ids, req->n, req->grace_s, req->gone_ok, failed,
		     n_failed, &rc, err);
	return rc;
}

/* -------------------------------------------------------------- clients */

static int client_call(struct mc_store *s, enum wire_mop op, const char *uuid)
{
	struct call c;
	int rc;

	call_begin(&c, op);
	wire_str(&c.req, uuid);
	rc = call_do(s, &c, NULL);
	call_end(&c);
	return rc == -ECONNABORTED ? -EAGAIN : rc;
}

int fac_client_ping(struct mc_store *s, const char *uuid)
{
	return client_call(s, MOP_CLIENT_PING, uuid);
}

int fac_client_register(struct mc_store *s, const char *uuid)
{
	return client_call(s, MOP_CLIENT_REGISTER, uuid);
}

size_t fac_client_count(struct mc_store *s)
{
	return (size_t)call_u64(s, MOP_CLIENT_COUNT, NULL);
}
