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

static int bind_segname(struct mc_store *s, struct mc_path *p, const char *name)
{
	uint64_t used, cap;
	size_t n;
	int r = mc_keyname_decode(name, p->segname, sizeof(p->segname) - 1, &n);

	if (r < 0)
		return r;
	p->segname[n] = '\0';
	return mc_segment_name_usage(s, p->segname, &used, &cap) ? -ENOENT : 0;
}

static int bind_seg(struct mc_store *s, struct mc_path *p, const char *name)
{
	struct mc_seg_info si;

	if (strlen(name) != MC_ID_LEN)
		return -ENOENT;
	memcpy(p->segid, name, MC_ID_LEN + 1);
	if (mc_segment_info(s, name, &si) || strcmp(si.name, p->segname))
		return -ENOENT;
	return 0;
}

static int bind_key(struct mc_store *s, struct mc_path *p, const char *name)
{
	int r = mc_keyname_decode(name, p->key, MC_KEY_MAX, &p->klen);

	if (r < 0)
		return r;
	p->key[p->klen] = '\0';
	return mc_stat(s, p->key, p->klen, &p->vsize) ? -ENOENT : 0;
}

/* ------------------------------------------------------------------ views */

static int show_health(struct mc_store *s, const struct mc_path *p,
		       struct mc_buf *out)
{
	mc_buf_adds(out, "OK\n");
	return 0;
}

static int show_metrics(struct mc_store *s, const struct mc_path *p,
			struct mc_buf *out)
{
	mc_render_metrics(s, out);
	return 0;
}

static int show_summary(struct mc_store *s, const struct mc_path *p,
			struct mc_buf *out)
{
	mc_render_summary(s, out);
	mc_buf_addch(out, '\n');
	return 0;
}

static int show_replica(struct mc_store *s, const struct mc_path *p,
			struct mc_buf *out)
{
	return mc_render_query_key(s, out, p->key, p->klen);
}

static int show_ctl(struct mc_store *s, const struct mc_path *p,
		    struct mc_buf *out)
{
	return 0;
}

static int show_name_usage(struct mc_store *s, const struct mc_path *p,
			   struct mc_buf *out)
{
	uint64_t used, cap;

	if (mc_segment_name_usage(s, p->segname, &used, &cap))
		return -ENOENT;
	mc_buf_addu(out, p->node == MC_N_SEGNAME_USED ? used : cap);
	mc_buf_addch(out, '\n');
	return 0;
}

static int show_seg(struct mc_store *s, const struct mc_path *p,
		    struct mc_buf *out)
{
	struct mc_seg_info si;
	struct mc_spec sp;

	if (mc_segment_info(s, p->segid, &si) || strcmp(si.name, p->segname))
		return -ENOENT;
	switch (p->node) {
	case MC_N_SEG_SIZE:
		mc_buf_addu(out, si.size);
		break;
	case MC_N_SEG_USED:
		mc_buf_addu(out, si.used);
		break;
	case MC_N_SEG_PROTOCOL:
		mc_buf_adds(out, si.protocol);
		break;
	case MC_N_SEG_LOCATION:
		mc_buf_adds(out, si.location);
		break;
	case MC_N_SEG_STATE:
		mc_buf_adds(out,
			    si.state == MC_SEG_DRAINING ? "draining" : "ok");
		break;
	case MC_N_SEG_SOURCE:
		mc_buf_adds(out, si.source);
		break;
	case MC_N_SEG_ENDPOINT:
		mc_buf_adds(out, si.endpoint);
		break;
	case MC_N_SEG_SPEC:
		mc_spec_from_info(&si, &sp);
		mc_spec_format(&sp, out); /* ends with its own "\n" */
		return 0;
	}
	mc_buf_addch(out, '\n');
	return 0;
}

/* ------------------------------------------------------------------ table */

const struct mc_node mc_nodes[MC_N_COUNT] = {
	[MC_N_ROOT] = {"", -1, DIR_RO},
	[MC_N_CTL] = {"ctl", MC_N_ROOT, DIR_RO},
	[MC_N_CTL_MOUNT] = {"mount", MC_N_CTL, S_IFREG | 0600, show_ctl,
			    mc_ctl_mount},
	[MC_N_CTL_UNMOUNT] = {"unmount", MC_N_CTL, S_IFREG | 0200, show_ctl,
			      mc_ctl_unmount},
	[MC_N_SEGMENTS] = {"segments", MC_N_ROOT, DIR_RO},
	[MC_N_SEGNAME] = {NULL, MC_N_SEGMENTS, DIR_RO, .bind = bind_segname},
	[MC_N_SEGNAME_USED] = {"used", MC_N_SEGNAME, FILE_RO, show_name_usage},
	[MC_N_SEGNAME_CAPACITY] = {"capacity", MC_N_SEGNAME, FILE_RO,
				   show_name_usage},
	[MC_N_SEG] = {NULL, MC_N_SEGNAME, DIR_RO, .bind = bind_seg},
	[MC_N_SEG_SIZE] = {"size", MC_N_SEG, FILE_RO, show_seg},
	[MC_N_SEG_USED] = {"used", MC_N_SEG, FILE_RO, show_seg},
	[MC_N_SEG_PROTOCOL] = {"protocol", MC_N_SEG, FILE_RO, show_seg},
	[MC_N_SEG_LOCATION] = {"location", MC_N_SEG, FILE_RO, show_seg},
	[MC_N_SEG_STATE] = {"state", MC_N_SEG, FILE_RO, show_seg},
	[MC_N_SEG_SOURCE] = {"source", MC_N_SEG, FILE_RO, show_seg},
	[MC_N_SEG_ENDPOINT] = {"endpoint", MC_N_SEG, FILE_RO, show_seg},
	[MC_N_SEG_SPEC] = {"spec", MC_N_SEG, FILE_RO, show_seg},
	[MC_N_KEYS] = {"keys", MC_N_ROOT, S_IFDIR | 0755},
	[MC_N_KEY] = {NULL, MC_N_KEYS, S_IFREG | 0644, .bind = bind_key},
	[MC_N_REPLICAS] = {"replicas", MC_N_ROOT, DIR_RO},
	[MC_N_REPLICA] = {NULL, MC_N_REPLICAS, FILE_RO, show_replica,
			  .bind = bind_key},
	[MC_N_METRICS] = {"metrics", MC_N_ROOT, FILE_RO, show_metrics},
	[MC_N_SUMMARY] = {"summary", MC_N_ROOT, FILE_RO, show_summary},
	[MC_N_HEALTH] = {"health", MC_N_ROOT, FILE_RO, show_health},
};

/* The child of @dir called @name: a named row first, then a generator. */
static int step(struct mc_store *s, struct mc_path *p, const char *name)
{
	int dir = p->node, gen = -1;

	for (int i = 0; i < MC_N_COUNT; i++) {
		if (mc_nodes[i].parent != dir)
			continue;
		if (!mc_nodes[i].name)
			gen = i;
		else if (!strcmp(mc_nodes[i].name, name))
			return p->node = i, 0;
	}
	p->node = gen;
	if (gen < 0)
		return -ENOENT;
	return mc_nodes[gen].bind(s, p, name);
}

int mc_tree_resolve(struct mc_store *s, const char *path, struct mc_path *p)
{
	char comp[MC_NAME_MAX + 1];
	const char *c = path;

	memset(p, 0, offsetof(struct mc_path, key));
	p->klen = 0;
	p->vsize = 0;
	p->node = MC_N_ROOT;
	while (*c) {
		size_t n;
		int r;

		while (*c == '/')
			c++;
		if (!*c)
			break;
		n = strcspn(c, "/");
		if (n > MC_NAME_MAX)
			return p->node = -1, -ENAMETOOLONG;
		if (!S_ISDIR(mc_nodes[p->node].mode))
			return p->node = -1, -ENOTDIR;
		memcpy(comp, c, n);
		comp[n] = '\0';
		c += n;
		r = step(s, p, comp);
		if (r < 0) {
			/* Only a missing last component names a place; a
			 * name no key encodes to names none. */
			if (r != -ENOENT || c[strspn(c, "/")])
				p->node = -1;
			return r == -EINVAL ? -ENOENT : r;
		}
	}
	return 0;
}

int mc_tree_show(struct mc_store *s, const struct mc_path *p,
		 struct mc_buf *out)
{
	if (!mc_nodes[p->node].show)
		return -EISDIR;
	return mc_nodes[p->node].show(s, p, out);
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
	char enc[MC_NAME_MAX + 1];

	if (mc_keyname_encode(name, strlen(name), enc) < 0)
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

int mc_tree_list(struct mc_store *s, const struct mc_path *p,
		 int (*cb)(const char *name, mode_t mode, void *arg), void *arg)
{
	struct list_ctx l = {cb, arg, 0, p->segname};
	int r, gen = -1;

	for (int i = 0; i < MC_N_COUNT; i++) {
		if (mc_nodes[i].parent != p->node)
			continue;
		if (!mc_nodes[i].name) {
			gen = i;
			continue;
		}
		r = cb(mc_nodes[i].name, mc_nodes[i].mode, arg);
		if (r)
			return r;
	}
	if (gen < 0)
		return 0;
	l.mode = mc_nodes[gen].mode;
	if (gen == MC_N_SEGNAME)
		return mc_segment_name_foreach(s, list_name, &l);
	if (gen == MC_N_SEG)
		return mc_segment_foreach(s, list_seg, &l);
	return 0; /* keys: mc_keydir_fill */
}
