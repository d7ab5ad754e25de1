/*
 * tree.c - the node table of tree.h, path resolution and the views.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "render.h"
#include "spec.h"
#include "tree.h"

#define DIR_RO	(S_IFDIR | 0555)
#define FILE_RO (S_IFREG | 0444)

/* ------------------------------------------------------------ generators */

static int bind_segname(struct mc_store *s, struct fs_path *p, const char *name)
{
	uint64_t used, cap;
	size_t n;
	int r = fs_keyname_decode(name, p->segname, sizeof(p->segname) - 1, &n);

	if (r < 0)
		return r;
	p->segname[n] = '\0';
	/* -EAGAIN (no cluster leader) is not "no such name" */
	r = mc_segment_name_usage(s, p->segname, &used, &cap);
	return r < 0 ? r : 0;
}

static int bind_seg(struct mc_store *s, struct fs_path *p, const char *name)
{
	struct mc_seg_info si;
	int r;

	if (strlen(name) != MC_ID_LEN)
		return -ENOENT;
	memcpy(p->segid, name, MC_ID_LEN + 1);
	r = mc_segment_info(s, name, &si);
	if (r < 0)
		return r;
	return strcmp(si.name, p->segname) ? -ENOENT : 0;
}

static int bind_key(struct mc_store *s, struct fs_path *p, const char *name)
{
	int r = fs_keyname_decode(name, p->key, MC_KEY_MAX, &p->klen);

	if (r < 0)
		return r;
	p->key[p->klen] = '\0';
	/*
	 * Only a key known to be missing is ENOENT: a cluster node without
	 * a leader cannot tell (-EAGAIN), and a script's [ -e keys/k ] or
	 * rm must not be told the key is gone (mooncake-cluster(7)).
	 */
	r = mc_stat(s, p->key, p->klen, &p->vsize);
	return r < 0 ? r : 0;
}

static bool meta_present(struct mc_store *s)
{
	return mc_store_meta(s) != NULL;
}

/* metadata/KEY: the key's body exists; its size is the file's. */
static int bind_meta_key(struct mc_store *s, struct fs_path *p,
			 const char *name)
{
	struct mc_buf b = MC_BUF_INIT;
	int r = fs_keyname_decode(name, p->key, MC_KEY_MAX, &p->klen);

	if (r < 0)
		return r;
	p->key[p->klen] = '\0';
	r = mc_meta_get(mc_store_meta(s), p->key, p->klen, &b, NULL);
	p->vsize = b.len;
	mc_buf_release(&b);
	return r ? -ENOENT : 0;
}

/* cluster/ exists in cluster mode only (mooncakefs(5), CLUSTER). */
static bool cluster_present(struct mc_store *s)
{
	return mc_store_linked(s);
}

/* The node of cluster/nodes/ID in @ci, or NULL. */
static const struct mc_cluster_node *
cnode_find(const struct mc_cluster_info *ci, const char *id)
{
	for (size_t i = 0; i < ci->n; i++)
		if (!strcmp(ci->nodes[i].id, id))
			return &ci->nodes[i];
	return NULL;
}

static int bind_cnode(struct mc_store *s, struct fs_path *p, const char *name)
{
	struct mc_cluster_info ci;
	int r;

	if (strlen(name) > MC_OWNER_ID_MAX)
		return -ENOENT;
	snprintf(p->nodeid, sizeof(p->nodeid), "%s", name);
	r = mc_cluster_info(s, &ci);
	if (r == 0 && !cnode_find(&ci, name))
		r = -ENOENT;
	mc_cluster_info_release(&ci);
	return r < 0 ? -ENOENT : 0;
}

/* ------------------------------------------------------------------ views */

static int show_cluster(struct mc_store *s, const struct fs_path *p,
			struct mc_buf *out)
{
	struct mc_cluster_info ci;
	const struct mc_cluster_node *n = NULL;
	int r = mc_cluster_info(s, &ci);

	if (r < 0)
		goto out;
	if (p->node >= FS_N_CNODE_HTTP && !(n = cnode_find(&ci, p->nodeid))) {
		r = -ENOENT;
		goto out;
	}
	switch (p->node) {
	case FS_N_CLUSTER_LEADER:
		mc_buf_adds(out, ci.leader); /* empty while there is none */
		break;
	case FS_N_CLUSTER_TERM:
		mc_buf_addu(out, ci.term);
		break;
	case FS_N_CNODE_HTTP:
		mc_buf_adds(out, n->http);
		break;
	case FS_N_CNODE_TRANSFER:
		mc_buf_adds(out, n->transfer);
		break;
	case FS_N_CNODE_ROLE:
		mc_buf_adds(out, n->leader ? "leader" : "follower");
		break;
	case FS_N_CNODE_SEGMENTS:
		mc_buf_addu(out, n->segments);
		break;
	}
	mc_buf_addch(out, '\n');
out:
	mc_cluster_info_release(&ci);
	return r;
}

static int show_health(struct mc_store *s, const struct fs_path *p,
		       struct mc_buf *out)
{
	mc_buf_adds(out, "OK\n");
	return 0;
}

static int show_metrics(struct mc_store *s, const struct fs_path *p,
			struct mc_buf *out)
{
	mc_render_metrics(s, out);
	return 0;
}

static int show_summary(struct mc_store *s, const struct fs_path *p,
			struct mc_buf *out)
{
	int r = mc_render_summary(s, out);

	if (r == 0)
		mc_buf_addch(out, '\n');
	return r;
}

static int show_replica(struct mc_store *s, const struct fs_path *p,
			struct mc_buf *out)
{
	return mc_render_query_key(s, out, p->key, p->klen);
}

static int show_meta(struct mc_store *s, const struct fs_path *p,
		     struct mc_buf *out)
{
	return mc_meta_get(mc_store_meta(s), p->key, p->klen, out, NULL);
}

static int show_ctl(struct mc_store *s, const struct fs_path *p,
		    struct mc_buf *out)
{
	return 0;
}

static int show_name_usage(struct mc_store *s, const struct fs_path *p,
			   struct mc_buf *out)
{
	uint64_t used, cap;

	int r = mc_segment_name_usage(s, p->segname, &used, &cap);

	if (r)
		return r;
	mc_buf_addu(out, p->node == FS_N_SEGNAME_USED ? used : cap);
	mc_buf_addch(out, '\n');
	return 0;
}

static int show_seg(struct mc_store *s, const struct fs_path *p,
		    struct mc_buf *out)
{
	struct mc_seg_info si;
	struct fs_spec sp;

	int r = mc_segment_info(s, p->segid, &si);

	if (r || strcmp(si.name, p->segname))
		return r ? r : -ENOENT;
	switch (p->node) {
	case FS_N_SEG_SIZE:
		mc_buf_addu(out, si.size);
		break;
	case FS_N_SEG_USED:
		mc_buf_addu(out, si.used);
		break;
	case FS_N_SEG_PROTOCOL:
		mc_buf_adds(out, si.protocol);
		break;
	case FS_N_SEG_LOCATION:
		mc_buf_adds(out, si.location);
		break;
	case FS_N_SEG_STATE:
		mc_buf_adds(out,
			    si.state == MC_SEG_DRAINING ? "draining" : "ok");
		break;
	case FS_N_SEG_SOURCE:
		mc_buf_adds(out, si.source);
		break;
	case FS_N_SEG_ENDPOINT:
		mc_buf_adds(out, si.endpoint);
		break;
	case FS_N_SEG_SPEC:
		/*
		 * Another process's memory cannot be mounted from here:
		 * no spec would mount an equal segment (mooncakefs(5)).
		 */
		if (si.kind == MC_SEG_REMOTE)
			break;
		fs_spec_from_info(&si, &sp);
		fs_spec_format(&sp, out); /* ends with its own "\n" */
		return 0;
	}
	mc_buf_addch(out, '\n');
	return 0;
}

/* ------------------------------------------------------------------ table */

const struct fs_node fs_nodes[FS_N_COUNT] = {
	[FS_N_ROOT] = {"", -1, DIR_RO},
	[FS_N_CTL] = {"ctl", FS_N_ROOT, DIR_RO},
	[FS_N_CTL_MOUNT] = {"mount", FS_N_CTL, S_IFREG | 0600, show_ctl,
			    fs_ctl_mount},
	[FS_N_CTL_UNMOUNT] = {"unmount", FS_N_CTL, S_IFREG | 0200, show_ctl,
			      fs_ctl_unmount},
	[FS_N_CTL_ERROR] = {"error", FS_N_CTL, S_IFREG | 0400,
			    fs_ctl_error_show},
	[FS_N_SEGMENTS] = {"segments", FS_N_ROOT, DIR_RO},
	[FS_N_SEGNAME] = {NULL, FS_N_SEGMENTS, DIR_RO, .bind = bind_segname},
	[FS_N_SEGNAME_USED] = {"used", FS_N_SEGNAME, FILE_RO, show_name_usage},
	[FS_N_SEGNAME_CAPACITY] = {"capacity", FS_N_SEGNAME, FILE_RO,
				   show_name_usage},
	[FS_N_SEG] = {NULL, FS_N_SEGNAME, DIR_RO, .bind = bind_seg},
	[FS_N_SEG_SIZE] = {"size", FS_N_SEG, FILE_RO, show_seg},
	[FS_N_SEG_USED] = {"used", FS_N_SEG, FILE_RO, show_seg},
	[FS_N_SEG_PROTOCOL] = {"protocol", FS_N_SEG, FILE_RO, show_seg},
	[FS_N_SEG_LOCATION] = {"location", FS_N_SEG, FILE_RO, show_seg},
	[FS_N_SEG_STATE] = {"state", FS_N_SEG, FILE_RO, show_seg},
	[FS_N_SEG_SOURCE] = {"source", FS_N_SEG, FILE_RO, show_seg},
	[FS_N_SEG_ENDPOINT] = {"endpoint", FS_N_SEG, FILE_RO, show_seg},
	[FS_N_SEG_SPEC] = {"spec", FS_N_SEG, FILE_RO, show_seg},
	[FS_N_KEYS] = {"keys", FS_N_ROOT, S_IFDIR | 0755},
	[FS_N_KEY] = {NULL, FS_N_KEYS, S_IFREG | 0644, .bind = bind_key},
	[FS_N_REPLICAS] = {"replicas", FS_N_ROOT, DIR_RO},
	[FS_N_REPLICA] = {NULL, FS_N_REPLICAS, FILE_RO, show_replica,
			  .bind = bind_key},
	[FS_N_META] = {"metadata", FS_N_ROOT, DIR_RO, .present = meta_present},
	[FS_N_META_KEY] = {NULL, FS_N_META, FILE_RO, show_meta,
			   .bind = bind_meta_key},
	[FS_N_METRICS] = {"metrics", FS_N_ROOT, FILE_RO, show_metrics},
	[FS_N_SUMMARY] = {"summary", FS_N_ROOT, FILE_RO, show_summary},
	[FS_N_HEALTH] = {"health", FS_N_ROOT, FILE_RO, show_health},
	[FS_N_CLUSTER] = {"cluster", FS_N_ROOT, DIR_RO,
			  .present = cluster_present},
	[FS_N_CLUSTER_LEADER] = {"leader", FS_N_CLUSTER, FILE_RO, show_cluster},
	[FS_N_CLUSTER_TERM] = {"term", FS_N_CLUSTER, FILE_RO, show_cluster},
	[FS_N_CLUSTER_NODES] = {"nodes", FS_N_CLUSTER, DIR_RO},
	[FS_N_CNODE] = {NULL, FS_N_CLUSTER_NODES, DIR_RO, .bind = bind_cnode},
	[FS_N_CNODE_HTTP] = {"http", FS_N_CNODE, FILE_RO, show_cluster},
	[FS_N_CNODE_TRANSFER] = {"transfer", FS_N_CNODE, FILE_RO, show_cluster},
	[FS_N_CNODE_ROLE] = {"role", FS_N_CNODE, FILE_RO, show_cluster},
	[FS_N_CNODE_SEGMENTS] = {"segments", FS_N_CNODE, FILE_RO, show_cluster},
};

/* The child of @dir called @name: a named row first, then a generator. */
static int step(struct mc_store *s, struct fs_path *p, const char *name)
{
	int dir = p->node, gen = -1;

	for (int i = 0; i < FS_N_COUNT; i++) {
		if (fs_nodes[i].parent != dir ||
		    (fs_nodes[i].present && !fs_nodes[i].present(s)))
			continue;
		if (!fs_nodes[i].name)
			gen = i;
		else if (!strcmp(fs_nodes[i].name, name))
			return p->node = i, 0;
	}
	p->node = gen;
	if (gen < 0)
		return -ENOENT;
	return fs_nodes[gen].bind(s, p, name);
}

int fs_tree_resolve(struct mc_store *s, const char *path, struct fs_path *p)
{
	char comp[FS_NAME_MAX + 1];
	const char *c = path;

	memset(p, 0, offsetof(struct fs_path, key));
	p->klen = 0;
	p->vsize = 0;
	p->node = FS_N_ROOT;
	while (*c) {
		size_t n;
		int r;

		while (*c == '/')
			c++;
		if (!*c)
			break;
		n = strcspn(c, "/");
		if (n > FS_NAME_MAX)
			return p->node = -1, -ENAMETOOLONG;
		if (!S_ISDIR(fs_nodes[p->node].mode))
			return p->node = -1, -ENOTDIR;
		memcpy(comp, c, n);
		comp[n] = '\0';
		c += n;
		r = step(s, p, comp);
		if (r < 0) {
			/* Only a missing (or, with no leader, unknown) last
			 * component names a place; a name no key encodes to
			 * names none. */
			if ((r != -ENOENT && r != -EAGAIN) || c[strspn(c, "/")])
				p->node = -1;
			return r == -EINVAL ? -ENOENT : r;
		}
	}
	return 0;
}

int fs_tree_show(struct mc_store *s, const struct fs_path *p,
		 struct mc_buf *out)
{
	if (!fs_nodes[p->node].show)
		return -EISDIR;
	return fs_nodes[p->node].show(s, p, out);
}

struct list_ctx {
	int (*cb)(const char *name, mode_t mode, void *arg);
	void *arg;
	mode_t mode;
	const char *segname;
};

static int list_name(const char *name, uint64_t used, uint64_t cap, void *arg)
{
	struct list_ctx *l = arg;
	char enc[FS_NAME_MAX + 1];

	if (fs_keyname_encode(name, strlen(name), enc) < 0)
		return 0;
	return l->cb(enc, l->mode, l->arg);
}

static int list_meta(const char *key, size_t klen, uint64_t size, void *arg)
{
	struct list_ctx *l = arg;
	char enc[FS_NAME_MAX + 1];

	/* As in keys/: a name past FS_NAME_MAX is reachable over HTTP only. */
	if (fs_keyname_encode(key, klen, enc) < 0)
		return 0;
	return l->cb(enc, l->mode, l->arg);
}

static int list_seg(const struct mc_seg_info *si, void *arg)
{
	struct list_ctx *l = arg;

	if (strcmp(si->name, l->segname))
		return 0;
	return l->cb(si->id, l->mode, l->arg);
}

int fs_tree_list(struct mc_store *s, const struct fs_path *p,
		 int (*cb)(const char *name, mode_t mode, void *arg), void *arg)
{
	struct list_ctx l = {cb, arg, 0, p->segname};
	int r, gen = -1;

	for (int i = 0; i < FS_N_COUNT; i++) {
		if (fs_nodes[i].parent != p->node ||
		    (fs_nodes[i].present && !fs_nodes[i].present(s)))
			continue;
		if (!fs_nodes[i].name) {
			gen = i;
			continue;
		}
		r = cb(fs_nodes[i].name, fs_nodes[i].mode, arg);
		if (r)
			return r;
	}
	if (gen < 0)
		return 0;
	l.mode = fs_nodes[gen].mode;
	if (gen == FS_N_SEGNAME)
		return mc_segment_name_foreach(s, list_name, &l);
	if (gen == FS_N_SEG)
		return mc_segment_foreach(s, list_seg, &l);
	if (gen == FS_N_META_KEY)
		return mc_meta_foreach(mc_store_meta(s), list_meta, &l);
	if (gen == FS_N_CNODE) {
		struct mc_cluster_info ci;

		r = mc_cluster_info(s, &ci);
		for (size_t i = 0; r == 0 && i < ci.n; i++)
			r = cb(ci.nodes[i].id, l.mode, arg);
		mc_cluster_info_release(&ci);
		return r < 0 ? r : 0;
	}
	return 0; /* keys: fs_keydir_fill */
}
