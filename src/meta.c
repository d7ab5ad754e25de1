/*
 * meta.c - the Transfer Engine's metadata server (mooncake.h, metadata):
 * stored keys in a seeded hash table, and the published nodes whose keys
 * are rendered from the segment table at every read.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "buf.h"
#include "store_int.h"

/* What an entry costs beside its key and body, in MC_META_BYTES_MAX. */
#define ENTRY_COST 64

struct meta_ent {
	struct meta_ent *next; /* hash chain */
	uint64_t hash;
	size_t klen, len;
	char *body;
	char key[]; /* klen bytes, then a NUL */
};

struct meta_node {
	struct meta_node *next;
	char *name, *host;
	size_t nlen;
	unsigned port;
	int (*buffers)(void *arg,
		       int (*emit)(void *ctx, uint64_t addr, uint64_t len),
		       void *ctx);
	void *arg;
};

struct mc_meta {
	struct mc_store *s;
	pthread_rwlock_t lock; /* tab, count, bytes, nodes */
	struct meta_ent **tab;
	size_t nb, count; /* buckets (a power of two), entries */
	uint64_t bytes;
	struct meta_node *nodes;
	char *prefix; /* "mooncake/" or "mooncake/ID/" */
	size_t plen;
	pthread_mutex_t ts_lock; /* ts, ts_gen */
	uint64_t ts_gen;
	char ts[40];
	/* names other stores of the cluster publish (mc_meta_set_foreign) */
	bool (*foreign)(void *arg, const char *name, size_t n);
	void *foreign_arg;
};

enum { PUB_NONE, PUB_RAM, PUB_RPC_META };

bool mc_meta_cluster_id_ok(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n > MC_META_CLUSTER_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (id[i] <= ' ' || id[i] >= 0x7f)
			return false;
	return true;
}

struct mc_meta *meta_new(struct mc_store *s, const char *cluster_id)
{
	struct mc_meta *m = calloc(1, sizeof(*m));
	size_t n = cluster_id ? strlen(cluster_id) : 0;

	if (!m)
		return NULL;
	m->s = s;
	m->nb = 64;
	m->tab = calloc(m->nb, sizeof(*m->tab));
	/* As TE builds it from MC_METADATA_CLUSTER_ID: one '/' after it. */
	m->prefix = malloc(sizeof("mooncake//") + n);
	if (!m->tab || !m->prefix) {
		free(m->tab);
		free(m->prefix);
		free(m);
		return NULL;
	}
	snprintf(m->prefix, sizeof("mooncake//") + n, "mooncake/%s%s",
		 n ? cluster_id : "", n && cluster_id[n - 1] != '/' ? "/" : "");
	m->plen = strlen(m->prefix);
	pthread_rwlock_init(&m->lock, NULL);
	pthread_mutex_init(&m->ts_lock, NULL);
	return m;
}

static void node_free(struct meta_node *nd)
{
	free(nd->name);
	free(nd->host);
	free(nd);
}

void meta_free(struct mc_meta *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nb; i++) {
		struct meta_ent *e = m->tab[i], *next;

		for (; e; e = next) {
			next = e->next;
			free(e->body);
			free(e);
		}
	}
	while (m->nodes) {
		struct meta_node *nd = m->nodes;

		m->nodes = nd->next;
		node_free(nd);
	}
	pthread_rwlock_destroy(&m->lock);
	pthread_mutex_destroy(&m->ts_lock);
	free(m->tab);
	free(m->prefix);
	free(m);
}

struct mc_meta *mc_store_meta(struct mc_store *s)
{
	return s->meta;
}

const char *mc_meta_prefix(const struct mc_meta *m)
{
	return m->prefix;
}

/* --------------------------------------------------------- published keys */

/*
 * Which published key @key is, and of which node (*out); lock held.
 * PREFIX "ram/" NAME or PREFIX "rpc_meta/" NAME for a published NAME.
 */
static int published(struct mc_meta *m, const char *key, size_t klen,
		     struct meta_node **out)
{
	const char *rest;
	size_t n;
	int kind;

	if (klen <= m->plen || memcmp(key, m->prefix, m->plen))
		return PUB_NONE;
	rest = key + m->plen;
	n = klen - m->plen;
	if (n > 4 && !memcmp(rest, "ram/", 4)) {
		kind = PUB_RAM;
		rest += 4, n -= 4;
	} else if (n > 9 && !memcmp(rest, "rpc_meta/", 9)) {
		kind = PUB_RPC_META;
		rest += 9, n -= 9;
	} else {
		return PUB_NONE;
	}
	for (struct meta_node *nd = m->nodes; nd; nd = nd->next)
		if (nd->nlen == n && !memcmp(nd->name, rest, n))
			return *out = nd, kind;
	return PUB_NONE;
}

void mc_meta_set_foreign(struct mc_meta *m,
			 bool (*fn)(void *arg, const char *name, size_t n),
			 void *arg)
{
	m->foreign = fn;
	m->foreign_arg = arg;
}

/*
 * Whether @key is PREFIX "ram/" NAME or PREFIX "rpc_meta/" NAME for a
 * NAME another node of the cluster publishes: its own server answers
 * for it, and a copy here would be served in its place. No lock.
 */
static bool foreign(const struct mc_meta *m, const char *key, size_t klen)
{
	const char *rest = key + m->plen;
	size_t n = klen - m->plen;

	if (!m->foreign || klen <= m->plen || memcmp(key, m->prefix, m->plen))
		return false;
	if (n > 4 && !memcmp(rest, "ram/", 4))
		return m->foreign(m->foreign_arg, rest + 4, n - 4);
	if (n > 9 && !memcmp(rest, "rpc_meta/", 9))
		return m->foreign(m->foreign_arg, rest + 9, n - 9);
	return false;
}

/* Local time in TE's own format, as of the last segment table change. */
static void add_timestamp(struct mc_meta *m, struct mc_buf *out)
{
	uint64_t gen = atomic_load(&m->s->seg_gen);

	pthread_mutex_lock(&m->ts_lock);
	if (!m->ts[0] || gen != m->ts_gen) {
		struct timeval tv;
		struct tm tm;
		char day[24];

		gettimeofday(&tv, NULL);
		localtime_r(&tv.tv_sec, &tm);
		strftime(day, sizeof(day), "%Y-%m-%d %H:%M:%S", &tm);
		snprintf(m->ts, sizeof(m->ts), "%s.%06ld", day,
			 (long)tv.tv_usec);
		m->ts_gen = gen;
	}
	mc_buf_adds(out, m->ts);
	pthread_mutex_unlock(&m->ts_lock);
}

struct emit_ctx {
	struct mc_buf *out;
	const struct meta_node *nd;
	bool first;
};

static int emit_buffer(void *arg, uint64_t addr, uint64_t len)
{
	struct emit_ctx *c = arg;

	mc_buf_adds(c->out, c->first ? "{\"name\":" : ",{\"name\":");
	c->first = false;
	mc_buf_add_json_str(c->out, c->nd->name, c->nd->nlen);
	mc_buf_adds(c->out, ",\"addr\":");
	mc_buf_addu(c->out, addr);
	mc_buf_adds(c->out, ",\"length\":");
	mc_buf_addu(c->out, len);
	mc_buf_addch(c->out, '}');
	return 0;
}

/*
 * The store's own segments whose bytes live here; a segment of another
 * kind (its bytes elsewhere) is not this node's to publish.
 */
static int local_buffers(void *arg,
			 int (*emit)(void *ctx, uint64_t addr, uint64_t len),
			 void *ctx)
{
	struct mc_store *s = arg;
	int rc = 0;

	pthread_rwlock_rdlock(&s->seg_lock);
	for (size_t i = 0; i < s->nsegs && !rc; i++) {
		struct mc_seg *g = s->segs[i];

		if (g->kind == MC_SEG_ALLOC || g->kind == MC_SEG_SHM)
			rc = emit(ctx, (uint64_t)(uintptr_t)g->base, g->size);
	}
	pthread_rwlock_unlock(&s->seg_lock);
	return rc;
}

static void render(struct mc_meta *m, const struct meta_node *nd, int kind,
		   struct mc_buf *out)
{
	struct emit_ctx c = {out, nd, true};

	if (kind == PUB_RPC_META) {
		mc_buf_adds(out, "{\"ip_or_host_name\":");
		mc_buf_add_json_str(out, nd->host, strlen(nd->host));
		mc_buf_adds(out, ",\"rpc_port\":");
		mc_buf_addu(out, nd->port - 1);
		mc_buf_addch(out, '}');
		return;
	}
	mc_buf_adds(out, "{\"name\":");
	mc_buf_add_json_str(out, nd->name, nd->nlen);
	mc_buf_adds(out, ",\"protocol\":\"tcp\",\"tcp_data_port\":");
	mc_buf_addu(out, nd->port);
	mc_buf_adds(out, ",\"tcp_proto_version\":2,\"buffers\":[");
	if (nd->buffers)
		nd->buffers(nd->arg, emit_buffer, &c);
	else
		local_buffers(m->s, emit_buffer, &c);
	mc_buf_adds(out, "],\"timestamp\":\"");
	add_timestamp(m, out);
	mc_buf_adds(out, "\"}");
}

/* ------------------------------------------------------------ stored keys */

static struct meta_ent **chain_find(struct mc_meta *m, uint64_t h,
				    const char *key, size_t klen)
{
	struct meta_ent **pp = &m->tab[h & (m->nb - 1)];

	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->hash == h && (*pp)->klen == klen &&
		    !memcmp((*pp)->key, key, klen))
			return pp;
	return pp;
}

/* Doubles the table when it is fuller than one entry a bucket; wrlock. */
static void maybe_grow(struct mc_meta *m)
{
	size_t nb = m->nb * 2;
	struct meta_ent **t;

	if (m->count <= m->nb || !(t = calloc(nb, sizeof(*t))))
		return;
	for (size_t i = 0; i < m->nb; i++) {
		struct meta_ent *e = m->tab[i], *next;

		for (; e; e = next) {
			next = e->next;
			e->next = t[e->hash & (nb - 1)];
			t[e->hash & (nb - 1)] = e;
		}
	}
	free(m->tab);
	m->tab = t;
	m->nb = nb;
}

static void ent_unlink(struct mc_meta *m, struct meta_ent **pp)
{
	struct meta_ent *e = *pp;

	*pp = e->next;
	m->count--;
	m->bytes -= e->klen + e->len + ENTRY_COST;
	free(e->body);
	free(e);
}

static int key_check(const char *key, size_t klen, struct mc_err *err)
{
	switch (mc_key_check(key, klen)) {
	case MC_KEY_OK:
		return 0;
	case MC_KEY_EMPTY:
		return mc_err_set(err, -EINVAL, MC_INVALID_KEY,
				  "missing metadata key");
	case MC_KEY_TOO_LONG:
		return mc_err_set(err, -EINVAL, MC_INVALID_KEY,
				  "metadata key longer than %d bytes",
				  MC_KEY_MAX);
	default:
		return mc_err_set(err, -EINVAL, MC_INVALID_KEY,
				  "metadata key holds a NUL byte");
	}
}

/* TE never overwrites a location: a key holding "rpc_meta" (upstream). */
static bool is_rpc_meta(const char *key, size_t klen)
{
	return memmem(key, klen, "rpc_meta", 8) != NULL;
}

static int refuse_published(const char *key, size_t klen, struct mc_err *err)
{
	return mc_err_set(err, -EPERM, MC_INVALID_PARAMS,
			  "metadata key '%.*s' is published by this node",
			  KEY_ARG(key, klen));
}

/*
 * Whether a body of @len bytes under @key (stored at *@pp, or not there)
 * leaves the store within MC_META_BYTES_MAX: the bytes it would hold
 * then in *@bytes. Under the lock.
 */
static bool fits(const struct mc_meta *m, const struct meta_ent *old,
		 size_t klen, uint64_t len, uint64_t *bytes)
{
	*bytes = old ? m->bytes - old->len + len
		     : m->bytes + klen + len + ENTRY_COST;
	return *bytes <= MC_META_BYTES_MAX;
}

static int full(struct mc_err *err)
{
	return mc_err_set(err, -ENOSPC, MC_NO_AVAILABLE_HANDLE,
			  "the metadata store is full (%u bytes)",
			  MC_META_BYTES_MAX);
}

/* A key an outside PUT or DELETE may name: 0, or -EINVAL or -EPERM. */
static int key_writable(const struct mc_meta *m, const char *key, size_t klen,
			struct mc_err *err)
{
	int rc = key_check(key, klen, err);

	if (rc == 0 && foreign(m, key, klen))
		rc = mc_err_set(err, -EPERM, MC_INVALID_PARAMS,
				"metadata key '%.*s' is published by another "
				"node of the cluster",
				KEY_ARG(key, klen));
	return rc;
}

int mc_meta_writable(struct mc_meta *m, const char *key, size_t klen,
		     uint64_t len, struct mc_err *err)
{
	struct meta_node *nd;
	uint64_t bytes;
	int rc = key_writable(m, key, klen, err);

	if (rc)
		return rc;
	pthread_rwlock_rdlock(&m->lock);
	if (published(m, key, klen, &nd) != PUB_NONE)
		rc = refuse_published(key, klen, err);
	else if (!fits(m, *chain_find(m, key_hash(key, klen), key, klen), klen,
		       len, &bytes))
		rc = full(err);
	pthread_rwlock_unlock(&m->lock);
	return rc;
}

int mc_meta_get(struct mc_meta *m, const char *key, size_t klen,
		struct mc_buf *out, struct mc_err *err)
{
	struct meta_node *nd;
	struct meta_ent *e;
	int rc = key_check(key, klen, err), kind;

	if (rc)
		return rc;
	pthread_rwlock_rdlock(&m->lock);
	kind = published(m, key, klen, &nd);
	if (kind != PUB_NONE) {
		render(m, nd, kind, out);
	} else if ((e = *chain_find(m, key_hash(key, klen), key, klen))) {
		mc_buf_add(out, e->body, e->len);
	} else {
		rc = mc_err_set(err, -ENOENT, MC_OBJECT_NOT_FOUND,
				"no metadata key '%.*s'", KEY_ARG(key, klen));
	}
	pthread_rwlock_unlock(&m->lock);
	return rc;
}

int mc_meta_put(struct mc_meta *m, const char *key, size_t klen,
		const void *body, size_t len, struct mc_err *err)
{
	struct meta_node *nd;
	struct meta_ent **pp, *e = NULL;
	char *copy;
	uint64_t h, bytes;
	int rc = key_writable(m, key, klen, err);

	if (rc)
		return rc;
	if (len > MC_META_BODY_MAX)
		return mc_err_set(err, -EFBIG, MC_INVALID_PARAMS,
				  "metadata body of %zu bytes is over the "
				  "limit of %u",
				  len, MC_META_BODY_MAX);
	/* The copies are made before the lock is taken. */
	copy = malloc(len ? len : 1);
	if (!copy || !(e = malloc(sizeof(*e) + klen + 1))) {
		free(copy);
		return mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR,
				  "out of memory");
	}
	if (len)
		memcpy(copy, body, len);
	h = key_hash(key, klen);
	pthread_rwlock_wrlock(&m->lock);
	pp = chain_find(m, h, key, klen);
	if (published(m, key, klen, &nd) != PUB_NONE) {
		rc = refuse_published(key, klen, err);
	} else if (*pp && is_rpc_meta(key, klen)) {
		if ((*pp)->len == len &&
		    (len == 0 || !memcmp((*pp)->body, body, len)))
			rc = 1;
		else
			rc = mc_err_set(err, -EEXIST, MC_OBJECT_ALREADY_EXISTS,
					"metadata key '%.*s' holds another "
					"location",
					KEY_ARG(key, klen));
	} else if (!fits(m, *pp, klen, len, &bytes)) {
		rc = full(err);
	} else if (*pp) {
		m->bytes = bytes;
		free((*pp)->body);
		(*pp)->body = copy;
		(*pp)->len = len;
		copy = NULL;
	} else {
		e->hash = h;
		e->klen = klen;
		e->len = len;
		e->body = copy;
		memcpy(e->key, key, klen);
		e->key[klen] = '\0';
		e->next = NULL;
		*pp = e;
		m->count++;
		m->bytes = bytes;
		maybe_grow(m);
		e = NULL;
		copy = NULL;
	}
	pthread_rwlock_unlock(&m->lock);
	free(copy);
	free(e);
	return rc;
}

int mc_meta_delete(struct mc_meta *m, const char *key, size_t klen,
		   struct mc_err *err)
{
	struct meta_node *nd;
	struct meta_ent **pp;
	int rc = key_writable(m, key, klen, err);

	if (rc)
		return rc;
	pthread_rwlock_wrlock(&m->lock);
	pp = chain_find(m, key_hash(key, klen), key, klen);
	if (published(m, key, klen, &nd) != PUB_NONE)
		rc = refuse_published(key, klen, err);
	else if (*pp)
		ent_unlink(m, pp);
	else
		rc = mc_err_set(err, -ENOENT, MC_OBJECT_NOT_FOUND,
				"no metadata key '%.*s'", KEY_ARG(key, klen));
	pthread_rwlock_unlock(&m->lock);
	return rc;
}

/* One key of a walk: its size, then its bytes. */
struct walk_key {
	uint64_t size;
	size_t klen;
};

static void walk_add(struct mc_buf *w, const char *key, size_t klen,
		     uint64_t size)
{
	struct walk_key k = {size, klen};

	mc_buf_add(w, &k, sizeof(k));
	mc_buf_add(w, key, klen);
}

int mc_meta_foreach(struct mc_meta *m,
		    int (*cb)(const char *key, size_t klen, uint64_t size,
			      void *arg),
		    void *arg)
{
	struct mc_buf w = MC_BUF_INIT, tmp = MC_BUF_INIT, key = MC_BUF_INIT;
	static const char *const kinds[] = {"ram/", "rpc_meta/"};
	int rc = 0;

	pthread_rwlock_rdlock(&m->lock);
	for (struct meta_node *nd = m->nodes; nd; nd = nd->next) {
		for (int k = 0; k < 2; k++) {
			mc_buf_reset(&key);
			mc_buf_adds(&key, m->prefix);
			mc_buf_adds(&key, kinds[k]);
			mc_buf_add(&key, nd->name, nd->nlen);
			mc_buf_reset(&tmp);
			render(m, nd, k ? PUB_RPC_META : PUB_RAM, &tmp);
			walk_add(&w, key.data, key.len, tmp.len);
		}
	}
	for (size_t i = 0; i < m->nb; i++)
		for (struct meta_ent *e = m->tab[i]; e; e = e->next)
			walk_add(&w, e->key, e->klen, e->len);
	pthread_rwlock_unlock(&m->lock);
	for (size_t off = 0; off < w.len && !rc;) {
		struct walk_key k;

		memcpy(&k, w.data + off, sizeof(k));
		off += sizeof(k);
		/* The callback gets a NUL after the key, as keys hold none. */
		mc_buf_reset(&key);
		mc_buf_add(&key, w.data + off, k.klen);
		off += k.klen;
		rc = cb(key.data, key.len, k.size, arg);
	}
	mc_buf_release(&w);
	mc_buf_release(&tmp);
	mc_buf_release(&key);
	return rc;
}

/* -------------------------------------------------------------- publishing */

int mc_meta_publish(struct mc_meta *m, const struct mc_meta_node *n,
		    struct mc_err *err)
{
	struct meta_node *nd, **pp;
	struct mc_buf key = MC_BUF_INIT;
	static const char *const kinds[] = {"ram/", "rpc_meta/"};

	if (!n->name || !*n->name || !n->host || !*n->host)
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "a published node needs a name and a host");
	if (n->data_port == 0 || n->data_port > 65535)
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "bad data port %u of node '%s'", n->data_port,
				  n->name);
	nd = calloc(1, sizeof(*nd));
	if (!nd || !(nd->name = strdup(n->name)) ||
	    !(nd->host = strdup(n->host))) {
		if (nd)
			node_free(nd);
		return mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR,
				  "out of memory");
	}
	nd->nlen = strlen(nd->name);
	nd->port = n->data_port;
	nd->buffers = n->buffers;
	nd->arg = n->arg;
	pthread_rwlock_wrlock(&m->lock);
	for (pp = &m->nodes; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->name, nd->name))
			break;
	if (*pp) {
		struct meta_node *old = *pp;

		nd->next = old->next;
		node_free(old);
	} else {
		nd->next = NULL;
	}
	*pp = nd;
	/* A key stored under a name now published would never show again. */
	for (int k = 0; k < 2; k++) {
		struct meta_ent **ep;

		mc_buf_reset(&key);
		mc_buf_adds(&key, m->prefix);
		mc_buf_adds(&key, kinds[k]);
		mc_buf_adds(&key, nd->name);
		ep = chain_find(m, key_hash(key.data, key.len), key.data,
				key.len);
		if (*ep)
			ent_unlink(m, ep);
	}
	pthread_rwlock_unlock(&m->lock);
	mc_buf_release(&key);
	return 0;
}

int mc_meta_unpublish(struct mc_meta *m, const char *name)
{
	struct meta_node **pp, *nd = NULL;

	pthread_rwlock_wrlock(&m->lock);
	for (pp = &m->nodes; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->name, name)) {
			nd = *pp;
			*pp = nd->next;
			break;
		}
	pthread_rwlock_unlock(&m->lock);
	if (!nd)
		return -ENOENT;
	node_free(nd);
	return 0;
}
