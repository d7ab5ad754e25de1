/*
 * member.c - a node's registration, view and election through etcd (see
 * member.h for the model).
 *
 * Locks: m->cb_lock serializes the callbacks and is always taken before
 * m->lock (the state), never after; the state lock is never held while
 * a callback or an etcd call runs. The hot path (a fence check per
 * metadata operation, the leader per forwarded one) never takes the state
 * lock: it reads what publish() copied out of it (atomics, and the
 * leader under m->pub_lock, taken inside m->lock, never around it), so
 * that a loaded node's keeper is never kept from its lock by the
 * operations it fences (a starved keeper loses a live node's lease).
 */
#include "autoconfig.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "etcd.h"
#include "log.h"
#include "member.h"
#include "uuid.h"

/* A candidate of the election: its key, create revision and id. */
struct cand {
	char *key;
	size_t klen;
	int64_t create_rev;
	int64_t lease;
	char id[MC_MEMBER_ID_MAX + 1]; /* "" when its value is not an id */
};

struct mc_member {
	struct mc_member_callbacks cb;
	char id[MC_MEMBER_ID_MAX + 1];
	char http[256], transfer[256], hostname[256];
	char prefix[128];   /* /mooncake/NAME/ */
	char election[160]; /* /mooncake/NAME/leader */
	char node_key[256]; /* /mooncake/NAME/nodes/ID */
	size_t plen;
	unsigned ttl_ms, ttl_s, margin_ms, interval_ms;
	int64_t told_ttl; /* a longer grant than asked, logged once */
	bool observer;
	struct mc_etcd *e;
	struct mc_etcd_cancel *camp_tok; /* wakes a campaign: new lease, stop */

	pthread_mutex_t cb_lock;
	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t cond;  /* CLOCK_MONOTONIC; broadcast on any change */
	bool stopping, keeper_stop;
	/* the keeper's */
	int64_t lease;
	uint64_t lease_gen; /* bumped when a lease is found gone */
	uint64_t fence_at;  /* ms: the lease is surely alive until then */
	bool registered, need_register;
	/* the campaigner's */
	bool leading;
	int64_t lead_term, lead_lease;
	char *lead_key;
	size_t lead_klen;
	bool lead_key_gone;
	bool handing_over; /* mc_member_hand_over() */
	/* the viewer's */
	struct mc_member_node *nodes;
	size_t n_nodes;
	struct cand *cands;
	size_t n_cands;
	bool view_ok, resync;
	/* the newest etcd revision the viewer saw (under cb_lock) */
	int64_t seen_rev;
	bool reshow; /* the keeper saw the cut-off state change */
	char shown_id[MC_MEMBER_ID_MAX + 1]; /* what on_leader last said */
	int64_t shown_term;

	/* publish()'s copies, for the hot path */
	_Atomic int64_t pub_term;   /* the reign's term, 0 when not leading */
	_Atomic uint64_t pub_fence; /* fence_at while a lease lives, else 0 */
	_Atomic bool pub_view_ok;   /* view_ok */
	pthread_mutex_t pub_lock;   /* guards the three below */
	int pub_rc;		    /* mc_member_leader()'s answer */
	struct mc_member_node pub_leader;
	int64_t pub_leader_term;

	pthread_t keeper, campaigner, viewer;
	bool have_campaigner;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Waits on m->cond until signalled or @until (monotonic ms). Called
 * with m->lock held. */
static void wait_until(struct mc_member *m, uint64_t until)
{
	struct timespec ts = {(time_t)(until / 1000),
			      (long)(until % 1000) * 1000000};

	pthread_cond_timedwait(&m->cond, &m->lock, &ts);
}

/* Sleeps up to @ms, returning early when @stop becomes true. */
static void nap(struct mc_member *m, const bool *stop, unsigned ms)
{
	uint64_t until = now_ms() + ms;

	pthread_mutex_lock(&m->lock);
	while (!*stop && now_ms() < until)
		wait_until(m, until);
	pthread_mutex_unlock(&m->lock);
}

static bool id_ok(const char *s, size_t n)
{
	if (!n || n > MC_MEMBER_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	/* "." and ".." would make odd keys and odd directories later */
	return strcmp(s, ".") && strcmp(s, "..");
}

static int bad(struct mc_err *err, const char *fmt, const char *what)
{
	if (err) {
		err->code = MC_INVALID_PARAMS;
		snprintf(err->msg, sizeof(err->msg), fmt, what);
	}
	return -EINVAL;
}

/* --- node values --------------------------------------------------------- */

static int str_field(struct json_object *o, const char *name, char *dst,
		     size_t cap, bool required, struct mc_err *err)
{
	struct json_object *f;
	size_t n;

	dst[0] = '\0';
	if (!json_object_object_get_ex(o, name, &f) || !f) {
		if (required)
			return bad(err, "node value has no '%s'", name);
		return 0;
	}
	if (!json_object_is_type(f, json_type_string))
		return bad(err, "node value's '%s' is not a string", name);
	n = (size_t)json_object_get_string_len(f);
	if (n >= cap || memchr(json_object_get_string(f), '\0', n))
		return bad(err, "node value's '%s' is too long or has a NUL",
			   name);
	memcpy(dst, json_object_get_string(f), n + 1);
	if (required && !n)
		return bad(err, "node value's '%s' is empty", name);
	return 0;
}

int mc_member_node_parse(const char *id, const char *json, size_t len,
			 struct mc_member_node *n, struct mc_err *err)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o;
	char jid[MC_MEMBER_ID_MAX + 2];
	int rc;

	memset(n, 0, sizeof(*n));
	if (!tok)
		return -ENOMEM;
	o = len <= INT32_MAX ? json_tokener_parse_ex(tok, json, (int)len)
			     : NULL;
	if (o && json_tokener_get_parse_end(tok) != len) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return bad(err, "node value is not a JSON object%s", "");
	}
	if ((rc = str_field(o, "id", jid, sizeof(jid), true, err)) ||
	    (rc = str_field(o, "http", n->http, sizeof(n->http), true, err)) ||
	    (rc = str_field(o, "transfer", n->transfer, sizeof(n->transfer),
			    false, err)) ||
	    (rc = str_field(o, "hostname", n->hostname, sizeof(n->hostname),
			    false, err))) {
		json_object_put(o);
		return rc;
	}
	json_object_put(o);
	if (strcmp(jid, id))
		return bad(err, "node value's id does not match its key '%s'",
			   id);
	snprintf(n->id, sizeof(n->id), "%s", id);
	return 0;
}

static char *node_json(struct mc_member *m)
{
	struct json_object *o = json_object_new_object();
	char *s;

	if (!o)
		return NULL;
	json_object_object_add(o, "id", json_object_new_string(m->id));
	json_object_object_add(o, "http", json_object_new_string(m->http));
	json_object_object_add(o, "transfer",
			       json_object_new_string(m->transfer));
	json_object_object_add(o, "hostname",
			       json_object_new_string(m->hostname));
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

/* --- the view: nodes, candidates, the leader ------------------------------ */

/*
 * Is this node cut off from etcd (its watch is down, or its own fence
 * passed: no lease publishes a fence of 0)? It reads what publish()
 * copied, so the hot path (mc_member_leader, no lock) and show_leader
 * (under m->lock, where the copy equals the state: every change
 * publishes under that lock) judge by one rule.
 */
static bool cut_off(struct mc_member *m)
{
	return !atomic_load(&m->pub_view_ok) ||
	       now_ms() >= atomic_load(&m->pub_fence);
}

/* Under m->lock: the leading candidate, or NULL. */
static struct cand *leader_cand(struct mc_member *m)
{
	struct cand *best = NULL;

	for (size_t i = 0; i < m->n_cands; i++)
		if (!best || m->cands[i].create_rev < best->create_rev)
			best = &m->cands[i];
	return best;
}

/*
 * Tells on_leader when the leader as seen changed. Called with cb_lock
 * held and m->lock not held, from any member thread.
 */
static void show_leader(struct mc_member *m)
{
	char id[MC_MEMBER_ID_MAX + 1] = "";
	int64_t term = 0;
	bool changed;

	pthread_mutex_lock(&m->lock);
	struct cand *c = cut_off(m) ? NULL : leader_cand(m);

	if (c && c->id[0]) {
		memcpy(id, c->id, sizeof(id));
		term = c->create_rev;
	}
	changed = strcmp(id, m->shown_id) || term != m->shown_term;
	memcpy(m->shown_id, id, sizeof(id));
	m->shown_term = term;
	pthread_mutex_unlock(&m->lock);
	if (!changed)
		return;
	if (term)
		mc_info("cluster: leader is %s (term %" PRId64 ")", id, term);
	else
		mc_info("cluster: no leader%s", "");
	if (m->cb.on_leader)
		m->cb.on_leader(m->cb.arg, term ? id : NULL, term);
}

/* Under m->lock. */
static struct mc_member_node *find_node(struct mc_member_node *v, size_t n,
					const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].id, id))
			return &v[i];
	return NULL;
}

/*
 * Under m->lock: copies what the hot path reads out of the state. The
 * term goes before the fence, so that a reader that sees the same term
 * before and after reading the fence holds a fence of that reign's lease
 * (terms only grow, and a lost lease clears the term first).
 */
static void publish(struct mc_member *m)
{
	bool lead = m->leading && m->lease && m->lead_lease == m->lease &&
		    !m->lead_key_gone && !m->handing_over;
	struct cand *c = leader_cand(m);
	struct mc_member_node *n = NULL;

	atomic_store(&m->pub_term, lead ? m->lead_term : 0);
	atomic_store(&m->pub_fence, m->lease ? m->fence_at : 0);
	atomic_store(&m->pub_view_ok, m->view_ok);
	if (c && c->id[0])
		n = find_node(m->nodes, m->n_nodes, c->id);
	pthread_mutex_lock(&m->pub_lock);
	memset(&m->pub_leader, 0, sizeof(m->pub_leader));
	m->pub_rc = -ENOENT;
	m->pub_leader_term = 0;
	if (c && c->id[0]) {
		m->pub_rc = n ? 0 : -EAGAIN;
		if (n)
			m->pub_leader = *n;
		else
			snprintf(m->pub_leader.id, sizeof(m->pub_leader.id),
				 "%s", c->id);
		m->pub_leader_term = c->create_rev;
	}
	pthread_mutex_unlock(&m->pub_lock);
}

/* Under m->lock: the state changed; tell the hot path and the waiters. */
static void changed(struct mc_member *m)
{
	publish(m);
	pthread_cond_broadcast(&m->cond);
}

static int cmp_node(const void *a, const void *b)
{
	return strcmp(((const struct mc_member_node *)a)->id,
		      ((const struct mc_member_node *)b)->id);
}

/*
 * Reads a kv under the prefix: a node (*@is_node, @n filled) or a
 * candidate (@c filled, key copied), or neither (returns false).
 */
static bool classify(struct mc_member *m, const struct mc_etcd_kv *kv,
		     bool deleted, bool *is_node, struct mc_member_node *n,
		     struct cand *c)
{
	const char *rest = kv->key + m->plen;
	size_t rlen = kv->key_len - m->plen;
	struct mc_err err = {0, ""};

	if (kv->key_len <= m->plen || memcmp(kv->key, m->prefix, m->plen))
		return false;
	if (rlen > 6 && !memcmp(rest, "nodes/", 6)) {
		char id[MC_MEMBER_ID_MAX + 1];
		size_t ilen = rlen - 6;

		if (ilen > MC_MEMBER_ID_MAX || memchr(rest + 6, '\0', ilen))
			return false;
		memcpy(id, rest + 6, ilen);
		id[ilen] = '\0';
		if (!id_ok(id, ilen))
			return false;
		*is_node = true;
		memset(n, 0, sizeof(*n));
		if (!deleted && mc_member_node_parse(id, kv->value,
						     kv->value_len, n, &err)) {
			mc_warn("cluster: ignoring node '%s': %s", id, err.msg);
			return false;
		}
		snprintf(n->id, sizeof(n->id), "%s", id);
		n->lease = kv->lease;
		n->revision = kv->create_revision;
		n->self = !strcmp(id, m->id);
		return true;
	}
	if (rlen > 7 && !memcmp(rest, "leader/", 7)) {
		*is_node = false;
		memset(c, 0, sizeof(*c));
		c->key = (char *)kv->key;
		c->klen = kv->key_len;
		c->create_rev = kv->create_revision;
		c->lease = kv->lease;
		if (!deleted && id_ok(kv->value, kv->value_len) &&
		    !memchr(kv->value, '\0', kv->value_len))
			memcpy(c->id, kv->value, kv->value_len + 1);
		else if (!deleted)
			mc_warn("cluster: a candidate's value is not a node "
				"id");
		return true;
	}
	return false;
}

static void cands_clear(struct mc_member *m)
{
	for (size_t i = 0; i < m->n_cands; i++)
		free(m->cands[i].key);
	free(m->cands);
	m->cands = NULL;
	m->n_cands = 0;
}

/* Under m->lock: adds or updates a candidate (copies its key). */
static void cand_put(struct mc_member *m, const struct cand *c)
{
	for (size_t i = 0; i < m->n_cands; i++) {
		struct cand *x = &m->cands[i];

		if (x->klen == c->klen && !memcmp(x->key, c->key, c->klen)) {
			x->create_rev = c->create_rev;
			x->lease = c->lease;
			memcpy(x->id, c->id, sizeof(x->id));
			return;
		}
	}
	struct cand *v = realloc(m->cands, (m->n_cands + 1) * sizeof(*v));
	char *k = malloc(c->klen + 1);

	/* bounded bookkeeping: log.h's out-of-memory policy */
	if (!v || !k)
		mc_oom();
	m->cands = v;
	memcpy(k, c->key, c->klen);
	k[c->klen] = '\0';
	v[m->n_cands] = *c;
	v[m->n_cands].key = k;
	m->n_cands++;
}

/*
 * Under m->lock; the caller publishes. @rev is the deletion's revision:
 * a candidate of the same key created after it (a node that resigned
 * and campaigns again keeps its key's name, its lease's) is not the one
 * it deleted, nor is a reign of a term after it.
 */
static void cand_del(struct mc_member *m, const char *key, size_t klen,
		     int64_t rev)
{
	for (size_t i = 0; i < m->n_cands; i++) {
		if (m->cands[i].klen == klen &&
		    !memcmp(m->cands[i].key, key, klen)) {
			if (m->cands[i].create_rev > rev)
				break;
			free(m->cands[i].key);
			m->cands[i] = m->cands[--m->n_cands];
			break;
		}
	}
	if (m->leading && m->lead_key && m->lead_klen == klen &&
	    m->lead_term <= rev && !memcmp(m->lead_key, key, klen)) {
		/* our candidacy went while we lead: step down now */
		m->lead_key_gone = true;
		pthread_cond_broadcast(&m->cond);
	}
}

static void tell_node(struct mc_member *m, const struct mc_member_node *n,
		      bool joined)
{
	mc_info("cluster: node %s %s (%s)", n->id, joined ? "joined" : "left",
		n->http[0] ? n->http : "-");
	if (m->cb.on_node)
		m->cb.on_node(m->cb.arg, n, joined);
}

/* One node put or delete; with cb_lock held. */
static void node_event(struct mc_member *m, const struct mc_member_node *n,
		       bool deleted)
{
	struct mc_member_node old = {0};
	bool had;

	pthread_mutex_lock(&m->lock);
	struct mc_member_node *x = find_node(m->nodes, m->n_nodes, n->id);

	had = x != NULL;
	if (x)
		old = *x;
	if (deleted && x) {
		*x = m->nodes[--m->n_nodes];
		if (n->self) {
			/* our key went while we may still hold the lease:
			 * the keeper registers again (or finds the lease
			 * gone and takes a new one) */
			m->need_register = true;
			changed(m);
		}
	} else if (!deleted && x) {
		*x = *n;
	} else if (!deleted) {
		struct mc_member_node *v =
			realloc(m->nodes, (m->n_nodes + 1) * sizeof(*v));

		if (!v)
			mc_oom();
		m->nodes = v;
		v[m->n_nodes++] = *n;
	}
	if (m->n_nodes)
		qsort(m->nodes, m->n_nodes, sizeof(*m->nodes), cmp_node);
	publish(m);
	pthread_mutex_unlock(&m->lock);
	if (deleted) {
		if (had)
			tell_node(m, &old, false);
		return;
	}
	/* a new incarnation: the old one left */
	if (had && old.revision != n->revision)
		tell_node(m, &old, false);
	tell_node(m, n, true);
}

/*
 * Replaces the whole view by @r (a full read of the prefix) and reports
 * the difference as leaves then joins. With cb_lock held.
 */
static void apply_snapshot(struct mc_member *m, const struct mc_etcd_kvs *r)
{
	struct mc_member_node *fresh = calloc(r->n + 1, sizeof(*fresh));
	struct mc_member_node *old;
	size_t nf = 0, n_old;

	if (!fresh)
		mc_oom();
	pthread_mutex_lock(&m->lock);
	cands_clear(m);
	for (size_t i = 0; i < r->n; i++) {
		struct mc_member_node n;
		struct cand c;
		bool is_node;

		if (!classify(m, &r->kvs[i], false, &is_node, &n, &c))
			continue;
		if (is_node)
			fresh[nf++] = n;
		else
			cand_put(m, &c);
	}
	if (nf)
		qsort(fresh, nf, sizeof(*fresh), cmp_node);
	old = m->nodes;
	n_old = m->n_nodes;
	m->nodes = fresh;
	m->n_nodes = nf;
	m->view_ok = true;
	/* did our own candidacy survive? */
	if (m->leading && m->lead_key) {
		bool found = false;

		for (size_t i = 0; i < m->n_cands; i++)
			found |= m->cands[i].klen == m->lead_klen &&
				 !memcmp(m->cands[i].key, m->lead_key,
					 m->lead_klen);
		if (!found)
			m->lead_key_gone = true;
	}
	changed(m);
	pthread_mutex_unlock(&m->lock);
	for (size_t i = 0; i < n_old; i++) {
		struct mc_member_node *x = find_node(fresh, nf, old[i].id);

		if (!x || x->revision != old[i].revision)
			tell_node(m, &old[i], false);
	}
	for (size_t i = 0; i < nf; i++) {
		struct mc_member_node *x = find_node(old, n_old, fresh[i].id);

		if (!x || x->revision != fresh[i].revision)
			tell_node(m, &fresh[i], true);
	}
	free(old);
}

/*
 * Under cb_lock: whether etcd's revision @rev (a snapshot's, or a watch
 * stream's at its start) is below what the viewer saw, that is etcd lost
 * its data (a restart on an empty or older data directory). A watch from
 * the revision after the last one seen would wait for revisions the new
 * store reaches only much later, blind to everything meanwhile: the
 * caller reads everything again (mooncake-cluster(7), NOT PROMISED, says
 * what else it costs).
 */
static bool went_back(struct mc_member *m, int64_t rev)
{
	if (rev >= m->seen_rev)
		return false;
	mc_error("cluster: etcd's revision went back from %lld to %lld: etcd "
		 "lost its data; reading the cluster again",
		 (long long)m->seen_rev, (long long)rev);
	m->seen_rev = 0;
	return true;
}

/* Under cb_lock: the viewer has seen revision @rev of the store. */
static void saw(struct mc_member *m, int64_t rev)
{
	if (rev > m->seen_rev)
		m->seen_rev = rev;
}

static int64_t view_event(void *arg, const struct mc_etcd_event *ev)
{
	struct mc_member *m = arg;
	struct mc_member_node n;
	struct cand c;
	bool is_node, del = ev->type == MC_ETCD_EV_DELETE;
	int64_t ret = 0;

	pthread_mutex_lock(&m->cb_lock);
	if (ev->type == MC_ETCD_EV_CREATED && went_back(m, ev->revision)) {
		pthread_mutex_lock(&m->lock);
		m->resync = true;
		m->view_ok = false;
		changed(m);
		pthread_mutex_unlock(&m->lock);
		show_leader(m);
		pthread_mutex_unlock(&m->cb_lock);
		return -1;
	}
	/* a stream's start says the store's newest revision, while the
	 * events it replays from before that come after it */
	if (ev->type == MC_ETCD_EV_PUT || ev->type == MC_ETCD_EV_DELETE)
		saw(m, ev->revision);
	switch (ev->type) {
	case MC_ETCD_EV_CREATED:
	case MC_ETCD_EV_DISCONNECTED:
		pthread_mutex_lock(&m->lock);
		m->view_ok = ev->type == MC_ETCD_EV_CREATED;
		changed(m);
		pthread_mutex_unlock(&m->lock);
		if (ev->type == MC_ETCD_EV_DISCONNECTED)
			mc_warn("cluster: lost the etcd watch: %s", ev->msg);
		break;
	case MC_ETCD_EV_COMPACTED:
		/* events were lost: read everything again */
		pthread_mutex_lock(&m->lock);
		m->resync = true;
		m->view_ok = false;
		changed(m);
		pthread_mutex_unlock(&m->lock);
		ret = -1;
		break;
	case MC_ETCD_EV_PUT:
	case MC_ETCD_EV_DELETE:
		if (!classify(m, &ev->kv, del, &is_node, &n, &c))
			break;
		if (is_node) {
			node_event(m, &n, del);
			break;
		}
		pthread_mutex_lock(&m->lock);
		if (del)
			cand_del(m, ev->kv.key, ev->kv.key_len,
				 ev->kv.mod_revision);
		else
			cand_put(m, &c);
		publish(m);
		pthread_mutex_unlock(&m->lock);
		break;
	default:
		break;
	}
	show_leader(m);
	pthread_mutex_unlock(&m->cb_lock);
	return ret;
}

/* The viewer: read the prefix, watch from the revision after, again
 * after a compaction; until stop. */
static void *viewer_main(void *arg)
{
	struct mc_member *m = arg;
	unsigned backoff = 100;
	bool failing = false;

	while (!m->stopping) {
		struct mc_etcd_kvs r;
		struct mc_err err = {0, ""};
		struct mc_etcd_watch *w;

		if (mc_etcd_range(m->e, m->prefix, m->plen, NULL, 0,
				  MC_ETCD_PREFIX, 0, 0, &r, &err)) {
			if (!failing)
				mc_warn("cluster: cannot read '%s': %s",
					m->prefix, err.msg);
			failing = true;
			pthread_mutex_lock(&m->cb_lock);
			pthread_mutex_lock(&m->lock);
			m->view_ok = false;
			changed(m);
			pthread_mutex_unlock(&m->lock);
			show_leader(m);
			pthread_mutex_unlock(&m->cb_lock);
			nap(m, &m->stopping, backoff);
			backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
			continue;
		}
		failing = false;
		backoff = 100;
		pthread_mutex_lock(&m->cb_lock);
		(void)went_back(m, r.revision);
		saw(m, r.revision);
		apply_snapshot(m, &r);
		show_leader(m);
		pthread_mutex_unlock(&m->cb_lock);
		w = mc_etcd_watch_start(m->e, m->prefix, m->plen, NULL, 0,
					MC_ETCD_PREFIX, r.revision + 1,
					view_event, m, &err);
		mc_etcd_kvs_release(&r);
		if (!w) {
			mc_error("cluster: cannot watch '%s': %s", m->prefix,
				 err.msg);
			nap(m, &m->stopping, 1000);
			continue;
		}
		pthread_mutex_lock(&m->lock);
		while (!m->stopping && !m->resync) {
			if (!m->reshow) {
				pthread_cond_wait(&m->cond, &m->lock);
				continue;
			}
			/* the keeper's news, told from here so that a slow
			 * callback never delays a keep-alive */
			m->reshow = false;
			pthread_mutex_unlock(&m->lock);
			pthread_mutex_lock(&m->cb_lock);
			show_leader(m);
			pthread_mutex_unlock(&m->cb_lock);
			pthread_mutex_lock(&m->lock);
		}
		m->resync = false;
		pthread_mutex_unlock(&m->lock);
		mc_etcd_watch_stop(w);
	}
	return NULL;
}

/* --- the keeper: lease, keep-alives, registration ------------------------- */

/*
 * The etcd client's budget for one call: a third of the TTL, so that two
 * tries fit before the fence, and 500 ms at least.
 */
static unsigned call_budget(unsigned ttl_ms)
{
	return ttl_ms / 3 > 500 ? ttl_ms / 3 : 500;
}

/*
 * How long a keep-alive started at @t0 may wait: while the lease may
 * still live at etcd (the fence @fence plus the margin: the last renewal
 * began a TTL before that), since a renewal that comes late still keeps
 * it (a slow etcd on a loaded machine is not a dead one, and a node whose
 * lease ends rejoins empty); no less than call_budget.
 */
static unsigned keepalive_budget(const struct mc_member *m, uint64_t fence,
				 uint64_t t0)
{
	unsigned least = call_budget(m->ttl_ms);
	uint64_t end = fence + m->margin_ms;

	return end > t0 + least ? (unsigned)(end - t0) : least;
}

/* Under m->lock: the lease is gone; everything built on it with it. */
static void lease_lost(struct mc_member *m)
{
	m->lease = 0;
	m->lease_gen++;
	m->fence_at = 0;
	m->registered = false;
	changed(m);
	mc_etcd_cancel_fire(m->camp_tok);
}

static void keeper_register(struct mc_member *m, int64_t lease)
{
	struct mc_err err = {0, ""};
	struct mc_etcd_kv cur;
	char *val = node_json(m);
	bool done = false;
	int rc;

	if (!val)
		mc_oom();
	/* create-only: never take over an id another live node holds */
	rc = mc_etcd_cas(m->e, m->node_key, strlen(m->node_key), val,
			 strlen(val), lease, 0, &done, NULL, &cur, &err);
	free(val);
	pthread_mutex_lock(&m->lock);
	if (m->lease != lease) {
		/* the lease changed meanwhile: the next round registers */
	} else if (rc == 0 && (done || cur.lease == lease)) {
		/* (cur.lease == lease: an earlier attempt did it) */
		m->registered = true;
		changed(m);
		mc_info("cluster: registered as %s (lease %" PRIx64 ")", m->id,
			(uint64_t)lease);
	} else if (rc == 0) {
		mc_error("cluster: node id '%s' is held by another process "
			 "(lease %" PRIx64 "); retrying",
			 m->id, (uint64_t)cur.lease);
	} else if (rc == -ENOENT) {
		lease_lost(m);
	} else {
		mc_warn("cluster: cannot register: %s", err.msg);
	}
	pthread_mutex_unlock(&m->lock);
	mc_etcd_kv_release(&cur);
}

static void *keeper_main(void *arg)
{
	struct mc_member *m = arg;
	unsigned backoff = 100;
	bool failing = false, cut = false;

	while (!m->keeper_stop) {
		struct mc_err err = {0, ""};
		int64_t lease, id = 0, ttl = 0;
		uint64_t t0;
		int rc;

		pthread_mutex_lock(&m->lock);
		lease = m->lease;
		pthread_mutex_unlock(&m->lock);
		if (!lease) {
			t0 = now_ms();
			rc = mc_etcd_lease_grant(m->e, m->ttl_s, 0, &id, &ttl,
						 &err);
			if (rc) {
				if (!failing)
					mc_warn("cluster: cannot get a lease: "
						"%s",
						err.msg);
				failing = true;
				nap(m, &m->keeper_stop, backoff);
				backoff =
					backoff * 2 > 2000 ? 2000 : backoff * 2;
				continue;
			}
			/*
			 * etcd grants at least its own minimum (2 s with its
			 * defaults): a node is gone only that long after its
			 * last renewal (mooncaked(8), --node-ttl). The fence
			 * keeps to --node-ttl, which is shorter: safe.
			 */
			if (ttl > m->ttl_s && ttl != m->told_ttl) {
				mc_warn("cluster: etcd granted a lease of "
					"%lld s for --node-ttl %u (its "
					"minimum): a node that stops renewing "
					"is gone after %lld s",
					(long long)ttl, m->ttl_ms,
					(long long)ttl);
				m->told_ttl = ttl;
			}
			pthread_mutex_lock(&m->lock);
			m->lease = lease = id;
			m->fence_at = t0 + m->ttl_ms - m->margin_ms;
			changed(m);
			pthread_mutex_unlock(&m->lock);
		}
		pthread_mutex_lock(&m->lock);
		bool reg = !m->registered || m->need_register;

		/* a failed attempt waits for the next round, not a spin */
		m->need_register = false;
		pthread_mutex_unlock(&m->lock);
		if (reg)
			keeper_register(m, lease);

		/* the next keep-alive, one interval after the last */
		pthread_mutex_lock(&m->lock);
		uint64_t next = now_ms() + m->interval_ms;

		while (!m->keeper_stop && now_ms() < next && !m->need_register)
			wait_until(m, next);
		bool stop = m->keeper_stop;
		uint64_t fence = m->fence_at;

		pthread_mutex_unlock(&m->lock);
		if (stop)
			break;
		t0 = now_ms();
		/* as long as the lease may live, not the client's budget */
		rc = mc_etcd_lease_keepalive_within(
			m->e, lease, keepalive_budget(m, fence, t0), &ttl,
			&err);
		/* a renewal that came this late eats into the fence: say so,
		 * as the reason when this node's reign or lease ends next */
		uint64_t late = t0 > next ? t0 - next : 0, took = now_ms() - t0;

		if (late + took > m->margin_ms)
			mc_warn("cluster: keep-alive of lease %" PRIx64
				" started %" PRIu64 " ms late and took %" PRIu64
				" ms (the lease is at risk past %u ms)",
				(uint64_t)lease, late, took,
				m->ttl_ms - m->margin_ms);
		pthread_mutex_lock(&m->lock);
		if (rc == 0 && m->lease == lease) {
			m->fence_at = t0 + m->ttl_ms - m->margin_ms;
			changed(m);
		} else if (rc == -ENOENT && m->lease == lease) {
			mc_warn("cluster: lease %" PRIx64 " has ended; joining "
				"again as a new incarnation of %s",
				(uint64_t)lease, m->id);
			lease_lost(m);
		}
		bool now_cut = !m->lease || now_ms() >= m->fence_at;

		if (now_cut != cut) {
			/* our own view turned stale (or fresh again) */
			cut = now_cut;
			m->reshow = true;
			changed(m);
		}
		pthread_mutex_unlock(&m->lock);
		if (rc && rc != -ENOENT && !failing)
			mc_warn("cluster: keep-alive failed: %s", err.msg);
		failing = rc != 0 && rc != -ENOENT;
		if (!failing)
			backoff = 100;
	}
	/* leave at once rather than after the TTL */
	pthread_mutex_lock(&m->lock);
	int64_t lease = m->lease;

	pthread_mutex_unlock(&m->lock);
	if (lease) {
		struct mc_err err = {0, ""};

		if (mc_etcd_lease_revoke(m->e, lease, &err) && err.msg[0])
			mc_warn("cluster: cannot revoke the lease: %s",
				err.msg);
	}
	return NULL;
}

/* --- the campaigner: election, fencing, the role -------------------------- */

static void tell_role(struct mc_member *m, bool leader, int64_t term)
{
	pthread_mutex_lock(&m->cb_lock);
	if (leader)
		mc_info("cluster: this node leads (term %" PRId64 ")", term);
	else
		mc_info("cluster: this node no longer leads (term %" PRId64 ")",
			term);
	if (m->cb.on_role)
		m->cb.on_role(m->cb.arg, leader, term);
	pthread_mutex_unlock(&m->cb_lock);
}

/* Is @lk the oldest candidate, on lease @lease? Asks etcd, not the view. */
static bool first_candidate(struct mc_member *m,
			    const struct mc_etcd_leader_key *lk, int64_t lease)
{
	char pfx[200];
	struct mc_etcd_kvs r;
	bool ok;
	int n = snprintf(pfx, sizeof(pfx), "%s/", m->election);

	if (mc_etcd_range(m->e, pfx, (size_t)n, NULL, 0,
			  MC_ETCD_PREFIX | MC_ETCD_SORT_CREATE |
				  MC_ETCD_KEYS_ONLY,
			  1, 0, &r, NULL))
		return false;
	ok = r.n == 1 && r.kvs[0].key_len == lk->key_len &&
	     !memcmp(r.kvs[0].key, lk->key, lk->key_len) &&
	     r.kvs[0].lease == lease;
	mc_etcd_kvs_release(&r);
	return ok;
}

static void *campaigner_main(void *arg)
{
	struct mc_member *m = arg;
	struct mc_etcd_leader_key stale = {0}; /* a key still to resign */
	uint64_t stale_gen = 0;
	unsigned backoff = 100;

	for (;;) {
		struct mc_etcd_leader_key lk;
		struct mc_err err = {0, ""};
		int64_t lease;
		uint64_t gen;
		int rc;

		/* wait for a live, registered lease */
		pthread_mutex_lock(&m->lock);
		while (!m->stopping &&
		       !(m->lease && m->registered && now_ms() < m->fence_at))
			wait_until(m, now_ms() + 1000);
		lease = m->lease;
		gen = m->lease_gen;
		pthread_mutex_unlock(&m->lock);
		if (m->stopping)
			break;
		/* a term is never resumed: the key of a lost reign goes
		 * before this node campaigns again (unless its lease, and
		 * so the key, went) */
		if (stale.key && stale_gen == gen) {
			if (mc_etcd_resign(m->e, &stale, &err)) {
				nap(m, &m->stopping, backoff);
				continue;
			}
		}
		mc_etcd_leader_key_release(&stale);
		mc_etcd_cancel_reset(m->camp_tok);
		pthread_mutex_lock(&m->lock);
		bool moved = gen != m->lease_gen || m->stopping;

		pthread_mutex_unlock(&m->lock);
		if (moved)
			continue;
		rc = mc_etcd_campaign(m->e, m->election, strlen(m->election),
				      lease, m->id, strlen(m->id), m->camp_tok,
				      &lk, &err);
		if (rc == -ECANCELED)
			continue; /* a new lease, or stop */
		if (rc) {
			mc_warn("cluster: campaign failed: %s", err.msg);
			nap(m, &m->stopping, backoff);
			backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
			continue;
		}
		backoff = 100;
		/* etcd's campaign can return for a key that died with its
		 * lease while it waited: check before acting */
		bool first = first_candidate(m, &lk, lease);
		bool ok;

		pthread_mutex_lock(&m->lock);
		ok = first && !m->stopping && gen == m->lease_gen &&
		     lease == m->lease && now_ms() < m->fence_at;
		if (ok) {
			m->leading = true;
			m->lead_term = lk.rev;
			m->lead_lease = lease;
			m->lead_key = malloc(lk.key_len);
			if (m->lead_key)
				memcpy(m->lead_key, lk.key, lk.key_len);
			m->lead_klen = m->lead_key ? lk.key_len : 0;
			m->lead_key_gone = false;
			publish(m);
		}
		pthread_mutex_unlock(&m->lock);
		if (!ok) {
			stale = lk;
			stale_gen = gen;
			continue;
		}
		tell_role(m, true, lk.rev);
		/* lead until the fence, a new lease, our key's deletion or
		 * stop; the keeper moves the fence on */
		pthread_mutex_lock(&m->lock);
		while (!m->stopping && gen == m->lease_gen &&
		       now_ms() < m->fence_at && !m->lead_key_gone &&
		       !m->handing_over)
			wait_until(m, m->fence_at);
		if (!m->stopping && now_ms() >= m->fence_at)
			mc_warn("cluster: no keep-alive since the fence; "
				"stepping down");
		else if (!m->stopping && m->handing_over)
			mc_info("cluster: handing the lead of term %" PRId64
				" over, as asked",
				lk.rev);
		m->handing_over = false;
		m->leading = false;
		m->lead_term = 0;
		free(m->lead_key);
		m->lead_key = NULL;
		m->lead_klen = 0;
		publish(m);
		pthread_mutex_unlock(&m->lock);
		tell_role(m, false, lk.rev);
		stale = lk;
		stale_gen = gen;
		if (m->stopping)
			break;
	}
	/* a clean stop: give the key up now (the lease's revoke would
	 * too; this is the election's own way) */
	if (stale.key)
		mc_etcd_resign(m->e, &stale, NULL);
	mc_etcd_leader_key_release(&stale);
	return NULL;
}

/* --- start, stop, queries ------------------------------------------------- */

void mc_member_hand_over(struct mc_member *m, int64_t term)
{
	pthread_mutex_lock(&m->lock);
	if (m->leading && m->lead_term == term && !m->handing_over) {
		m->handing_over = true;
		changed(m);
	}
	pthread_mutex_unlock(&m->lock);
}

void mc_member_opts_default(struct mc_member_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->ttl_ms = 3000;
}

static int copy_str(char *dst, size_t cap, const char *src, const char *what,
		    bool required, struct mc_err *err)
{
	size_t n = src ? strlen(src) : 0;

	if (required && !n)
		return bad(err, "cluster member needs %s", what);
	if (n >= cap)
		return bad(err, "cluster member's %s is too long", what);
	memcpy(dst, src ? src : "", n + 1);
	return 0;
}

/* Sets a stop flag and wakes every thread that waits on the state. */
static void raise_flag(struct mc_member *m, bool *flag)
{
	pthread_mutex_lock(&m->lock);
	*flag = true;
	changed(m);
	pthread_mutex_unlock(&m->lock);
}

/* Frees @m once no thread of it runs. */
static void member_free(struct mc_member *m)
{
	mc_etcd_free(m->e);
	mc_etcd_cancel_free(m->camp_tok);
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	pthread_mutex_destroy(&m->cb_lock);
	pthread_mutex_destroy(&m->pub_lock);
	free(m->nodes);
	free(m->lead_key);
	cands_clear(m);
	free(m);
}

struct mc_member *mc_member_start(const struct mc_member_opts *o,
				  struct mc_err *err)
{
	const char *cluster = o->cluster ? o->cluster : "mooncake";
	struct mc_etcd_opts eo;
	pthread_condattr_t ca;
	struct mc_member *m;
	int rc;

	if (!id_ok(cluster, strlen(cluster))) {
		bad(err, "cluster name '%.64s' is not 1-64 of [A-Za-z0-9._-]",
		    cluster);
		return NULL;
	}
	if (o->id && !id_ok(o->id, strlen(o->id))) {
		bad(err, "node id '%.64s' is not 1-64 of [A-Za-z0-9._-]",
		    o->id);
		return NULL;
	}
	if (o->ttl_ms && (o->ttl_ms < 1000 || o->ttl_ms > 3600000)) {
		bad(err, "node TTL must be 1000 to 3600000 ms%s", "");
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		if (err) {
			err->code = MC_RPC_FAIL;
			snprintf(err->msg, sizeof(err->msg), "out of memory");
		}
		return NULL;
	}
	if (copy_str(m->http, sizeof(m->http), o->http, "an http endpoint",
		     true, err) ||
	    copy_str(m->transfer, sizeof(m->transfer), o->transfer,
		     "transfer endpoint", false, err) ||
	    copy_str(m->hostname, sizeof(m->hostname), o->hostname, "hostname",
		     false, err)) {
		free(m);
		return NULL;
	}
	if (!m->hostname[0] && gethostname(m->hostname, sizeof(m->hostname)))
		snprintf(m->hostname, sizeof(m->hostname), "unknown");
	m->hostname[sizeof(m->hostname) - 1] = '\0';
	if (o->id)
		snprintf(m->id, sizeof(m->id), "%s", o->id);
	else
		mc_uuid_new(m->id);
	m->cb = o->cb;
	m->observer = o->observer;
	m->ttl_ms = o->ttl_ms ? o->ttl_ms : 3000;
	m->ttl_s = (m->ttl_ms + 999) / 1000;
	m->margin_ms = m->ttl_ms / 3;
	m->interval_ms = m->ttl_ms / 6;
	snprintf(m->prefix, sizeof(m->prefix), "/mooncake/%s/", cluster);
	m->plen = strlen(m->prefix);
	snprintf(m->election, sizeof(m->election), "%sleader", m->prefix);
	snprintf(m->node_key, sizeof(m->node_key), "%snodes/%s", m->prefix,
		 m->id);

	mc_etcd_opts_default(&eo);
	eo.endpoints = o->endpoints;
	eo.timeout_ms = call_budget(m->ttl_ms);
	m->e = mc_etcd_new(&eo, err);
	m->camp_tok = mc_etcd_cancel_new();
	if (!m->e || !m->camp_tok) {
		if (m->e && err) {
			err->code = MC_RPC_FAIL;
			snprintf(err->msg, sizeof(err->msg), "out of memory");
		}
		mc_etcd_free(m->e);
		mc_etcd_cancel_free(m->camp_tok);
		free(m);
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->cb_lock, NULL);
	pthread_mutex_init(&m->pub_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cond, &ca);
	pthread_condattr_destroy(&ca);

	rc = pthread_create(&m->keeper, NULL, keeper_main, m);
	if (rc)
		goto no_keeper;
	rc = pthread_create(&m->viewer, NULL, viewer_main, m);
	if (rc)
		goto no_viewer;
	if (!m->observer) {
		rc = pthread_create(&m->campaigner, NULL, campaigner_main, m);
		if (rc)
			goto no_campaigner;
		m->have_campaigner = true;
	}
	mc_info("cluster: node %s starting in '%s' (etcd %s, TTL %u ms)", m->id,
		cluster, o->endpoints, m->ttl_ms);
	return m;

no_campaigner:
	raise_flag(m, &m->stopping);
	pthread_join(m->viewer, NULL);
no_viewer:
	raise_flag(m, &m->keeper_stop);
	pthread_join(m->keeper, NULL);
no_keeper:
	if (err) {
		err->code = MC_RPC_FAIL;
		snprintf(err->msg, sizeof(err->msg),
			 "cannot start a cluster thread: %s", strerror(rc));
	}
	member_free(m);
	return NULL;
}

void mc_member_stop(struct mc_member *m)
{
	if (!m)
		return;
	raise_flag(m, &m->stopping);
	mc_etcd_cancel_fire(m->camp_tok);
	pthread_join(m->viewer, NULL);
	if (m->have_campaigner)
		pthread_join(m->campaigner, NULL);
	/* only now, with the reign given up, the lease (and the key) go */
	raise_flag(m, &m->keeper_stop);
	pthread_join(m->keeper, NULL);
	mc_info("cluster: node %s left", m->id);
	member_free(m);
}

const char *mc_member_id(struct mc_member *m)
{
	return m->id;
}

bool mc_member_is_leader_now(struct mc_member *m, int64_t *term)
{
	int64_t t;
	uint64_t fence;

	/* the term before and after the fence: the same term, the fence of
	 * its lease (see publish) */
	do {
		t = atomic_load(&m->pub_term);
		fence = atomic_load(&m->pub_fence);
	} while (t != atomic_load(&m->pub_term));
	bool r = t && now_ms() < fence;

	if (term)
		*term = r ? t : 0;
	return r;
}

int mc_member_leader(struct mc_member *m, struct mc_member_node *out,
		     int64_t *term)
{
	int rc = -ENOENT;

	if (term)
		*term = 0;
	if (out)
		memset(out, 0, sizeof(*out));
	if (cut_off(m)) /* no leader to name */
		return rc;
	pthread_mutex_lock(&m->pub_lock);
	rc = m->pub_rc;
	if (out && rc != -ENOENT)
		*out = m->pub_leader;
	if (term && rc != -ENOENT)
		*term = m->pub_leader_term;
	pthread_mutex_unlock(&m->pub_lock);
	return rc;
}

int mc_member_nodes(struct mc_member *m, struct mc_member_node **nodes,
		    size_t *n)
{
	pthread_mutex_lock(&m->lock);
	*n = m->n_nodes;
	*nodes = malloc((m->n_nodes + 1) * sizeof(**nodes));
	if (*nodes && m->n_nodes)
		memcpy(*nodes, m->nodes, m->n_nodes * sizeof(**nodes));
	pthread_mutex_unlock(&m->lock);
	if (!*nodes) {
		*n = 0;
		return -ENOMEM;
	}
	return 0;
}
