/*
 * check_fs.c - the FUSE door without a mount: the mount-spec grammar, the
 * key <-> file name encoding, and the tree (lookup and rendering) over a
 * real store.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "keyname.h"
#include "metrics.h"
#include "mooncake.h"
#include "spec.h"
#include "tree.h"

/* ----------------------------------------------------------------- spec */

static const struct {
	const char *msg;
	int ret;
	uint64_t size;
	const char *shm, *protocol, *location, *name;
	uint64_t offset;
} spec_cases[] = {
#define BAD(m)                                                                 \
	{                                                                      \
		.msg = (m), .ret = -EINVAL                                     \
	}
	{"size=64M", 0, 64ull << 20, "", "", "", "", 0},
	{"size=64M\n", 0, 64ull << 20, "", "", "", "", 0},
	{"  size=1024\t", 0, 1024, "", "", "", "", 0},
	{"size=4gb protocol=tcp location=cpu:0 name=node-a", 0, 4ull << 30, "",
	 "tcp", "cpu:0", "node-a", 0},
	{"name=x size=1k", 0, 1024, "", "", "", "x", 0},
	{"size=2M shm=seg offset=4096", 0, 2 << 20, "seg", "", "", "", 4096},
	{"size=2M shm=/seg", 0, 2 << 20, "/seg", "", "", "", 0},
	{"size=1M location=", 0, 1 << 20, "", "", "", "", 0},
	{"size=1.5M", 0, 3 << 19, "", "", "", "", 0},
	{"size=1M location=a%20b%25", 0, 1 << 20, "", "", "a b%", "", 0},
	{"size=1M name=%2F", 0, 1 << 20, "", "", "", "/", 0},
	/* parses: the store refuses a size of 0 (and counts it) */
	{"size=0", 0, 0, "", "", "", "", 0},
	/* hostile */
	BAD(""),
	BAD("\n"),
	BAD("size="),
	BAD("size=-1"),
	BAD("size=1.5Q"),
	BAD("size=0x10"),
	BAD("size=99999999999999999999"),
	BAD("size=16E"),
	BAD("size=1M size=2M"),
	BAD("size=1M bogus=1"),
	BAD("size=1M bogus"),
	BAD("size"),
	BAD("=1M"),
	BAD("SIZE=1M"),
	BAD("protocol=tcp"),
	BAD("size=1M offset=4096"),
	BAD("size=1M shm="),
	BAD("size=1M shm=a offset=x"),
	BAD("size=1M shm=a offset=1 offset=2"),
	BAD("size=1M name="),
	BAD("size=1M protocol="),
	BAD("size=1M protocol=infiniband"),
	BAD("size=1M name=%"),
	BAD("size=1M name=%4"),
	BAD("size=1M name=%zz"),
	BAD("size=1M name=%00"),
	BAD("size=1M\nname=x"),
	BAD("size=1M\n\n"),
	BAD("size=1M\r"),
};

START_TEST(test_spec_table)
{
	struct fs_spec sp;
	struct mc_err why = {0};
	const char *m = spec_cases[_i].msg;
	int r;

	why.msg[0] = '\0';
	r = fs_spec_parse(m, strlen(m), &sp, &why);
	ck_assert_msg(r == spec_cases[_i].ret, "'%s': got %d want %d", m, r,
		      spec_cases[_i].ret);
	if (r) {
		ck_assert_msg(why.msg[0], "'%s': no reason given", m);
		return;
	}
	ck_assert_uint_eq(sp.size, spec_cases[_i].size);
	ck_assert_str_eq(sp.shm ? sp.shm_name : "", spec_cases[_i].shm);
	ck_assert_str_eq(sp.protocol, spec_cases[_i].protocol);
	ck_assert_str_eq(sp.location, spec_cases[_i].location);
	ck_assert_str_eq(sp.name, spec_cases[_i].name);
	ck_assert_uint_eq(sp.offset, spec_cases[_i].offset);
}
END_TEST

START_TEST(test_spec_nul_inside)
{
	struct fs_spec sp;
	static const char m[] = "size=1M\0name=x";

	ck_assert_int_eq(fs_spec_parse(m, sizeof(m) - 1, &sp, NULL), -EINVAL);
}
END_TEST

START_TEST(test_spec_too_long)
{
	static char m[FS_SPEC_MAX + 2];
	struct fs_spec sp;

	memset(m, ' ', sizeof(m));
	memcpy(m, "size=1M", 7);
	ck_assert_int_eq(fs_spec_parse(m, FS_SPEC_MAX, &sp, NULL), 0);
	/* One trailing newline does not make 4096 bytes of message 4097. */
	ck_assert_int_eq(fs_spec_parse(m, FS_SPEC_MAX + 1, &sp, NULL), -E2BIG);
}
END_TEST

/* format -> parse gives the same spec, whatever bytes the values hold. */
START_TEST(test_spec_round_trip)
{
	struct fs_spec a, b;
	struct mc_buf out = MC_BUF_INIT;
	struct mc_err why = {0};
	unsigned seed = 7;
	int rounds = mc_test_quick() ? 50 : 2000;

	for (int i = 0; i < rounds; i++) {
		memset(&a, 0, sizeof(a));
		a.size = 1 + (uint64_t)rand_r(&seed) * 4096;
		if (rand_r(&seed) & 1) {
			a.shm = true;
			a.has_offset = true;
			a.offset = (uint64_t)(rand_r(&seed) % 100) * 4096;
			for (int j = 0; j < 1 + rand_r(&seed) % 20; j++)
				a.shm_name[j] = (char)(1 + rand_r(&seed) % 255);
		}
		strcpy(a.protocol, rand_r(&seed) & 1 ? "tcp" : "rdma");
		for (int j = 0; j < rand_r(&seed) % 30; j++)
			a.location[j] = (char)(1 + rand_r(&seed) % 255);
		for (int j = 0; j < 1 + rand_r(&seed) % 255; j++)
			a.name[j] = (char)(1 + rand_r(&seed) % 255);
		mc_buf_reset(&out);
		fs_spec_format(&a, &out);
		ck_assert_msg(out.len && out.data[out.len - 1] == '\n',
			      "spec does not end with a newline");
		ck_assert_ptr_null(memchr(out.data, '\n', out.len - 1));
		ck_assert_int_eq(fs_spec_parse(out.data, out.len, &b, &why), 0);
		ck_assert(!memcmp(&a, &b, sizeof(a)));
	}
	mc_buf_release(&out);
}
END_TEST

START_TEST(test_spec_format_alloc)
{
	struct mc_seg_info si;
	struct fs_spec sp;
	struct mc_buf out = MC_BUF_INIT;

	memset(&si, 0, sizeof(si));
	si.kind = MC_SEG_ALLOC;
	si.size = 16 << 20;
	strcpy(si.protocol, "tcp");
	strcpy(si.name, "localhost");
	fs_spec_from_info(&si, &sp);
	fs_spec_format(&sp, &out);
	/* An empty location is left out. */
	ck_assert_str_eq(out.data,
			 "size=16777216 protocol=tcp name=localhost\n");
	si.kind = MC_SEG_SHM;
	strcpy(si.shm_name, "seg one");
	si.shm_offset = 8192;
	strcpy(si.location, "gpu:1");
	mc_buf_reset(&out);
	fs_spec_from_info(&si, &sp);
	fs_spec_format(&sp, &out);
	ck_assert_str_eq(out.data,
			 "size=16777216 shm=seg%20one offset=8192 "
			 "protocol=tcp location=gpu:1 name=localhost\n");
	mc_buf_release(&out);
}
END_TEST

/* -------------------------------------------------------------- keyname */

static const struct {
	const char *key;  /* NULL: see klen */
	const char *name; /* NULL: not encodable */
} name_cases[] = {
	{"plain", "plain"},
	{"a/b", "a%2Fb"},
	{"100%", "100%25"},
	{"%2F", "%252F"},
	{".", "%2E"},
	{"..", "%2E%2E"},
	{"...", "..."},
	{".a", ".a"},
	{"a.", "a."},
	{"/", "%2F"},
	{"tab\there", "tab%09here"},
	{"nl\n", "nl%0A"},
	{"\x01\x1f\x7f", "%01%1F%7F"},
	{" sp ace ", " sp ace "},
	{"\xc3\xa9t\xc3\xa9", "\xc3\xa9t\xc3\xa9"},
	{"\xff\x80", "\xff\x80"},
	{"a=b&c?d#e\\f\"g'", "a=b&c?d#e\\f\"g'"},
};

START_TEST(test_keyname_table)
{
	const char *k = name_cases[_i].key, *n = name_cases[_i].name;
	char out[FS_NAME_MAX + 1], key[MC_KEY_MAX];
	size_t klen;

	ck_assert_int_eq(fs_keyname_encode(k, strlen(k), out), (int)strlen(n));
	ck_assert_str_eq(out, n);
	ck_assert_int_eq(fs_keyname_decode(n, key, sizeof(key), &klen), 0);
	ck_assert_uint_eq(klen, strlen(k));
	ck_assert(!memcmp(key, k, klen));
}
END_TEST

/* Every byte value, alone and inside a key. */
START_TEST(test_keyname_every_byte)
{
	char out[FS_NAME_MAX + 1], key[8], back[8];
	size_t klen;

	for (int c = 1; c < 256; c++) {
		int esc = c == '%' || c == '/' || c < 0x20 || c == 0x7f;

		key[0] = 'x';
		key[1] = (char)c;
		key[2] = 'y';
		ck_assert_int_eq(fs_keyname_encode(key, 3, out), esc ? 5 : 3);
		if (esc) {
			char want[6];

			snprintf(want, sizeof(want), "x%%%02Xy", c);
			ck_assert_str_eq(out, want);
		}
		ck_assert_int_eq(
			fs_keyname_decode(out, back, sizeof(back), &klen), 0);
		ck_assert_uint_eq(klen, 3);
		ck_assert(!memcmp(back, key, 3));
	}
}
END_TEST

static const char *const bad_names[] = {
	"",    ".",   "..",  "%",   "%2",   "%2G",  "%G0",  "%41",
	"%2f", "%2e", "a%2", "%00", "%2E.", "x%zz", "%25%", "%2e%2e",
};

START_TEST(test_keyname_bad)
{
	char key[MC_KEY_MAX];
	size_t klen;

	ck_assert_int_eq(
		fs_keyname_decode(bad_names[_i], key, sizeof(key), &klen),
		-EINVAL);
}
END_TEST

START_TEST(test_keyname_limits)
{
	char key[600], out[FS_NAME_MAX + 1], back[600];
	size_t klen;

	memset(key, 'k', sizeof(key));
	ck_assert_int_eq(fs_keyname_encode(key, 255, out), 255);
	ck_assert_int_eq(fs_keyname_decode(out, back, sizeof(back), &klen), 0);
	ck_assert_uint_eq(klen, 255);
	ck_assert_int_eq(fs_keyname_encode(key, 256, out), -ENAMETOOLONG);
	/* 85 slashes are 255 bytes of name; 86 are too many. */
	memset(key, '/', sizeof(key));
	ck_assert_int_eq(fs_keyname_encode(key, 85, out), 255);
	ck_assert_int_eq(fs_keyname_encode(key, 86, out), -ENAMETOOLONG);
	key[0] = 'a';
	key[1] = '\0';
	ck_assert_int_eq(fs_keyname_encode(key, 2, out), -EINVAL);
	ck_assert_int_eq(fs_keyname_encode(key, 0, out), -EINVAL);
	memset(back, 'n', 256);
	back[256] = '\0';
	ck_assert_int_eq(fs_keyname_decode(back, key, sizeof(key), &klen),
			 -ENAMETOOLONG);
	ck_assert_int_eq(fs_keyname_decode("abc", back, 2, &klen),
			 -ENAMETOOLONG);
}
END_TEST

/* ----------------------------------------------------------------- tree */

static struct mc_store *new_store(void)
{
	struct mc_store_opts o;
	struct mc_store *s;

	mc_store_opts_default(&o);
	o.manual_tick = true;
	o.hostname = "node/a";
	s = mc_store_new(&o, NULL);
	ck_assert_ptr_nonnull(s);
	return s;
}

/* A store with 32 MiB mounted. */
static struct mc_store *mounted_store(void)
{
	struct mc_store *s = new_store();
	struct mc_mount_req req = {.size = 32 << 20};
	struct mc_mount_result res = {0};

	ck_assert_int_eq(mc_segment_mount(s, &req, &res, NULL), 0);
	free(res.ids);
	return s;
}

static const struct {
	const char *path;
	int node;
} static_paths[] = {
	{"/", FS_N_ROOT},
	{"/ctl", FS_N_CTL},
	{"/ctl/mount", FS_N_CTL_MOUNT},
	{"//ctl//unmount/", FS_N_CTL_UNMOUNT},
	{"/segments", FS_N_SEGMENTS},
	{"/keys", FS_N_KEYS},
	{"/replicas", FS_N_REPLICAS},
	{"/metadata", FS_N_META},
	{"/metrics", FS_N_METRICS},
	{"/summary", FS_N_SUMMARY},
	{"/health", FS_N_HEALTH},
};

START_TEST(test_tree_static)
{
	struct mc_store *s = new_store();
	struct fs_path p;

	ck_assert_int_eq(fs_tree_resolve(s, static_paths[_i].path, &p), 0);
	ck_assert_int_eq(p.node, static_paths[_i].node);
	mc_store_free(s);
}
END_TEST

START_TEST(test_tree_modes)
{
	ck_assert_uint_eq(fs_nodes[FS_N_CTL_MOUNT].mode, S_IFREG | 0600);
	ck_assert_uint_eq(fs_nodes[FS_N_CTL_UNMOUNT].mode, S_IFREG | 0200);
	ck_assert_uint_eq(fs_nodes[FS_N_REPLICA].mode, S_IFREG | 0444);
	ck_assert_uint_eq(fs_nodes[FS_N_KEY].mode, S_IFREG | 0644);
	ck_assert_uint_eq(fs_nodes[FS_N_METRICS].mode, S_IFREG | 0444);
	ck_assert_uint_eq(fs_nodes[FS_N_META].mode, S_IFDIR | 0555);
	ck_assert_uint_eq(fs_nodes[FS_N_META_KEY].mode, S_IFREG | 0444);
	ck_assert(S_ISDIR(fs_nodes[FS_N_SEG].mode));
	/* Every row but the root hangs under a directory. */
	for (int i = 1; i < FS_N_COUNT; i++)
		ck_assert(S_ISDIR(fs_nodes[fs_nodes[i].parent].mode));
}
END_TEST

static int show(struct mc_store *s, const char *path, char *out, size_t cap)
{
	struct fs_path p;
	struct mc_buf b = MC_BUF_INIT;
	int r = fs_tree_resolve(s, path, &p);

	if (!r)
		r = fs_tree_show(s, &p, &b);
	snprintf(out, cap, "%s", b.data ? b.data : "");
	mc_buf_release(&b);
	return r;
}

static int count_cb(const char *name, mode_t mode, void *arg)
{
	struct mc_buf *b = arg;

	mc_buf_adds(b, name);
	mc_buf_addch(b, ' ');
	return 0;
}

START_TEST(test_tree_store)
{
	struct mc_store *s = new_store();
	struct fs_path p;
	struct mc_buf b = MC_BUF_INIT;
	char out[1024], path[512], id[MC_ID_LEN + 1];

	ck_assert_int_eq(fs_tree_resolve(s, "/ctl/mount", &p), 0);
	ck_assert_int_eq(fs_ctl_mount(s, &p, "size=32M location=x\n", 20, &b),
			 0);
	ck_assert_uint_eq(b.len, MC_ID_LEN + 1);
	memcpy(id, b.data, MC_ID_LEN);
	id[MC_ID_LEN] = '\0';

	/* The hostname holds a '/', so its directory name is encoded. */
	snprintf(path, sizeof(path), "/segments/node%%2Fa/%s/size", id);
	ck_assert_int_eq(show(s, path, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "33554432\n");
	snprintf(path, sizeof(path), "/segments/node%%2Fa/%s/spec", id);
	ck_assert_int_eq(show(s, path, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "size=33554432 protocol=tcp location=x "
			      "name=node/a\n");
	snprintf(path, sizeof(path), "/segments/node%%2Fa/%s/state", id);
	ck_assert_int_eq(show(s, path, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "ok\n");
	snprintf(path, sizeof(path), "/segments/node%%2Fa/%s/location", id);
	ck_assert_int_eq(show(s, path, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "x\n");
	ck_assert_int_eq(
		show(s, "/segments/node%2Fa/capacity", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "33554432\n");
	ck_assert_int_eq(show(s, "/health", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "OK\n");

	/* The id lives under its own name only. */
	snprintf(path, sizeof(path), "/segments/other/%s", id);
	ck_assert_int_eq(fs_tree_resolve(s, path, &p), -ENOENT);
	ck_assert_int_eq(fs_tree_resolve(s, "/segments/node/a", &p), -ENOENT);

	mc_buf_reset(&b);
	ck_assert_int_eq(fs_tree_resolve(s, "/segments", &p), 0);
	fs_tree_list(s, &p, count_cb, &b);
	ck_assert_str_eq(b.data, "node%2Fa ");

	/* Keys: encoded names, missing ones name their place. */
	ck_assert_int_eq(mc_put(s, "a/b", 3, "v1", 2, NULL), 0);
	ck_assert_int_eq(fs_tree_resolve(s, "/keys/a%2Fb", &p), 0);
	ck_assert_int_eq(p.node, FS_N_KEY);
	ck_assert_uint_eq(p.klen, 3);
	ck_assert_uint_eq(p.vsize, 2);
	ck_assert_int_eq(fs_tree_resolve(s, "/keys/nope", &p), -ENOENT);
	ck_assert_int_eq(p.node, FS_N_KEY);
	ck_assert_int_eq(fs_tree_resolve(s, "/keys/a%2fb", &p), -ENOENT);
	ck_assert_int_eq(p.node, -1);
	ck_assert_int_eq(fs_tree_resolve(s, "/keys/nope/x", &p), -ENOENT);
	ck_assert_int_eq(p.node, -1);
	ck_assert_int_eq(fs_tree_resolve(s, "/health/x", &p), -ENOTDIR);
	ck_assert_int_eq(fs_tree_resolve(s, "/bogus", &p), -ENOENT);
	ck_assert_int_eq(p.node, -1);
	ck_assert_int_eq(show(s, "/replicas/a%2Fb", out, sizeof(out)), 0);
	ck_assert_ptr_nonnull(strstr(out, "\"buffer_descriptors\""));

	/* Unmount through ctl/unmount: the tree follows. */
	ck_assert_int_eq(fs_tree_resolve(s, "/ctl/unmount", &p), 0);
	ck_assert_int_eq(fs_ctl_unmount(s, &p, "grace=x", 7, &b), -EINVAL);
	ck_assert_int_eq(fs_ctl_unmount(s, &p, "", 0, &b), -EINVAL);
	ck_assert_int_eq(fs_ctl_unmount(s, &p, "nope", 4, &b), -ENOENT);
	snprintf(path, sizeof(path), "%s grace=3601", id);
	ck_assert_int_eq(fs_ctl_unmount(s, &p, path, strlen(path), &b),
			 -EINVAL);
	snprintf(path, sizeof(path), "%s bad=1", id);
	ck_assert_int_eq(fs_ctl_unmount(s, &p, path, strlen(path), &b),
			 -EINVAL);
	snprintf(path, sizeof(path), "%s\n", id);
	ck_assert_int_eq(fs_ctl_unmount(s, &p, path, strlen(path), &b), 0);
	ck_assert_int_eq(fs_tree_resolve(s, "/segments/node%2Fa", &p), -ENOENT);
	mc_buf_release(&b);
	mc_store_free(s);
}
END_TEST

/*
 * metadata/: the metadata server's keys, stored and published, under the
 * keys/ codec; cat shows the body; gone with the metadata server.
 */
START_TEST(test_tree_metadata)
{
	struct mc_store *s = mounted_store();
	struct mc_meta *m = mc_store_meta(s);
	struct mc_meta_node n = {"h:7", "h", 7, NULL, NULL};
	struct mc_store_opts o;
	struct fs_path p;
	struct mc_buf b = MC_BUF_INIT;
	char out[1024];

	ck_assert_int_eq(mc_meta_publish(m, &n, NULL), 0);
	ck_assert_int_eq(mc_meta_put(m, "a/b", 3, "{\"x\":1}", 7, NULL), 0);
	ck_assert_int_eq(mc_meta_put(m, "..", 2, "dots", 4, NULL), 0);
	ck_assert_int_eq(fs_tree_resolve(s, "/metadata/a%2Fb", &p), 0);
	ck_assert_int_eq(p.node, FS_N_META_KEY);
	ck_assert_uint_eq(p.vsize, 7);
	ck_assert_int_eq(show(s, "/metadata/a%2Fb", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "{\"x\":1}");
	ck_assert_int_eq(show(s, "/metadata/%2E%2E", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "dots");
	ck_assert_int_eq(show(s, "/metadata/mooncake%2Frpc_meta%2Fh:7", out,
			      sizeof(out)),
			 0);
	ck_assert_str_eq(out, "{\"ip_or_host_name\":\"h\",\"rpc_port\":6}");
	ck_assert_int_eq(
		show(s, "/metadata/mooncake%2Fram%2Fh:7", out, sizeof(out)), 0);
	ck_assert_ptr_nonnull(strstr(out, "\"tcp_data_port\":7,"));
	ck_assert_int_eq(fs_tree_resolve(s, "/metadata/nope", &p), -ENOENT);
	ck_assert_int_eq(fs_tree_resolve(s, "/metadata/a%2fb", &p), -ENOENT);

	ck_assert_int_eq(fs_tree_resolve(s, "/metadata", &p), 0);
	fs_tree_list(s, &p, count_cb, &b);
	ck_assert_ptr_nonnull(strstr(b.data, "a%2Fb "));
	ck_assert_ptr_nonnull(strstr(b.data, "%2E%2E "));
	ck_assert_ptr_nonnull(strstr(b.data, "mooncake%2Fram%2Fh:7 "));
	ck_assert_ptr_nonnull(strstr(b.data, "mooncake%2Frpc_meta%2Fh:7 "));
	mc_buf_reset(&b);
	ck_assert_int_eq(fs_tree_resolve(s, "/", &p), 0);
	fs_tree_list(s, &p, count_cb, &b);
	ck_assert_ptr_nonnull(strstr(b.data, "metadata "));
	mc_store_free(s);

	/* --no-http-metadata: no such directory */
	mc_store_opts_default(&o);
	o.manual_tick = true;
	o.no_metadata = true;
	s = mc_store_new(&o, NULL);
	ck_assert_int_eq(fs_tree_resolve(s, "/metadata", &p), -ENOENT);
	ck_assert_int_eq(fs_tree_resolve(s, "/metadata/x", &p), -ENOENT);
	mc_buf_reset(&b);
	ck_assert_int_eq(fs_tree_resolve(s, "/", &p), 0);
	fs_tree_list(s, &p, count_cb, &b);
	ck_assert_ptr_null(strstr(b.data, "metadata"));
	mc_buf_release(&b);
	mc_store_free(s);
}
END_TEST

/*
 * A client's segment in the tree: its source and endpoint are the
 * client's, its spec is empty (no spec mounts another process's
 * memory), and a value held only there cannot be read here (no data
 * hooks in this store): EREMOTEIO, while stat still sees it.
 */
START_TEST(test_tree_remote)
{
	struct mc_store *s = mounted_store();
	struct mc_remote_req rr = {
		.id = "a1a2a3a4-a5a6-4a7a-8a8a-a9aaabacadae",
		.name = "gpu-host",
		.base = 0x7f0000000000ull,
		.size = 1 << 20,
		.endpoint = "10.1.1.1:1234",
	};
	struct mc_put_opts po = {
		.writer = &rr.owner, .remote_ok = true, .prefer = "gpu-host"};
	struct fs_keyfile *f;
	struct fs_path p;
	struct mc_put *put;
	char out[1024];

	ck_assert_int_eq(
		mc_owner_client(&rr.owner,
				"0f0e0d0c-0b0a-4908-8706-050403020100"),
		0);
	ck_assert_int_eq(mc_segment_mount_remote(s, &rr, NULL), 0);
	ck_assert_int_eq(show(s,
			      "/segments/gpu-host/a1a2a3a4-a5a6-4a7a-8a8a-"
			      "a9aaabacadae/source",
			      out, sizeof(out)),
			 0);
	ck_assert_str_eq(out, "client:0f0e0d0c-0b0a-4908-8706-050403020100\n");
	ck_assert_int_eq(show(s,
			      "/segments/gpu-host/a1a2a3a4-a5a6-4a7a-8a8a-"
			      "a9aaabacadae/endpoint",
			      out, sizeof(out)),
			 0);
	ck_assert_str_eq(out, "10.1.1.1:1234\n");
	ck_assert_int_eq(show(s,
			      "/segments/gpu-host/a1a2a3a4-a5a6-4a7a-8a8a-"
			      "a9aaabacadae/spec",
			      out, sizeof(out)),
			 0);
	ck_assert_str_eq(out, "\n");
	ck_assert_int_eq(
		show(s, "/segments/gpu-host/capacity", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "1048576\n");
	ck_assert_int_eq(mc_put_start_opts(s, "far", 3, 7, &po, &put, NULL), 0);
	mc_put_release(put);
	ck_assert_int_eq(mc_put_end_by(s, "far", 3, &rr.owner, false, NULL), 0);
	ck_assert_int_eq(fs_tree_resolve(s, "/keys/far", &p), 0);
	ck_assert_uint_eq(p.vsize, 7);
	ck_assert_int_eq(fs_keyfile_open(s, "far", 3, FS_KF_READ, &f),
			 -EREMOTEIO);
	ck_assert_int_eq(show(s, "/replicas/far", out, sizeof(out)), 0);
	ck_assert_ptr_nonnull(strstr(out, "\"transport_endpoint_\":"
					  "\"10.1.1.1:1234\""));
	ck_assert_int_eq(show(s, "/summary", out, sizeof(out)), 0);
	ck_assert_ptr_nonnull(strstr(out, "Clients: 2"));
	/* ctl/unmount takes it like any segment */
	ck_assert_int_eq(fs_tree_resolve(s, "/ctl/unmount", &p), 0);
	ck_assert_int_eq(fs_ctl_unmount(s, &p, rr.id, strlen(rr.id),
					&(struct mc_buf)MC_BUF_INIT),
			 0);
	ck_assert_int_eq(fs_tree_resolve(s, "/keys/far", &p), -ENOENT);
	mc_store_free(s);
}
END_TEST

START_TEST(test_ctl_mount_errors)
{
	struct mc_store *s = new_store();
	struct fs_path p;
	struct mc_buf b = MC_BUF_INIT;

	ck_assert_int_eq(fs_tree_resolve(s, "/ctl/mount", &p), 0);
	ck_assert_int_eq(fs_ctl_mount(s, &p, "size=1M bad=1", 13, &b), -EINVAL);
	ck_assert_int_eq(
		fs_ctl_mount(s, &p, "size=1M shm=mc-check-none", 25, &b),
		-ENOENT);
	ck_assert_int_eq(fs_ctl_mount(s, &p, "size=8000000t", 13, &b), -ENOSPC);
	ck_assert_uint_eq(b.len, 0);
	mc_buf_release(&b);
	mc_store_free(s);
}
END_TEST

/* ctl/unmount messages; "%s" stands for a mounted id. */
static const struct {
	const char *msg;
	int ret;
} unmount_cases[] = {
	{"", -EINVAL},
	{"\n", -EINVAL},
	{"   \t ", -EINVAL},
	{"grace=1", -EINVAL},
	{"%s grace=", -EINVAL},
	{"%s grace=-1", -EINVAL},
	{"%s grace=1.5", -EINVAL},
	{"%s grace=0x10", -EINVAL},
	{"%s grace=3601", -EINVAL},
	{"%s grace=99999999999999999999", -EINVAL},
	{"%s grace=1 grace=2", -EINVAL},
	{"%s force=1", -EINVAL},
	{"%s =", -EINVAL},
	{"%s\n%s", -EINVAL},
	{"%s\n\n", -EINVAL},
	{"nope", -ENOENT},
	{"%s nope", -ENOENT},
	{"%sx", -ENOENT},
	{"%s grace=3600", 0},
	{"  %s\t", 0},
	{"grace=0 %s\n", 0},
};

START_TEST(test_ctl_unmount_table)
{
	struct mc_store *s = new_store();
	struct mc_mount_req req = {.size = 16 << 20};
	struct mc_mount_result res = {0};
	struct fs_path p;
	struct mc_buf b = MC_BUF_INIT;
	struct mc_seg_info si;
	char msg[256];
	int r;

	ck_assert_int_eq(mc_segment_mount(s, &req, &res, NULL), 0);
	ck_assert_int_eq(fs_tree_resolve(s, "/ctl/unmount", &p), 0);
	snprintf(msg, sizeof(msg), unmount_cases[_i].msg, res.ids[0],
		 res.ids[0]);
	r = fs_ctl_unmount(s, &p, msg, strlen(msg), &b);
	ck_assert_msg(r == unmount_cases[_i].ret, "'%s': got %d want %d", msg,
		      r, unmount_cases[_i].ret);
	/* A failed message unmounts nothing. */
	ck_assert_int_eq(mc_segment_info(s, res.ids[0], &si) == 0,
			 r != 0 || strstr(msg, "3600") != NULL);
	free(res.ids);
	mc_buf_release(&b);
	mc_store_free(s);
}
END_TEST

START_TEST(test_ctl_unmount_nul)
{
	struct mc_store *s = new_store();
	struct fs_path p;
	struct mc_buf b = MC_BUF_INIT;
	static const char m[] = "x\0y";
	static char big[FS_SPEC_MAX + 1];

	ck_assert_int_eq(fs_tree_resolve(s, "/ctl/unmount", &p), 0);
	ck_assert_int_eq(fs_ctl_unmount(s, &p, m, sizeof(m) - 1, &b), -EINVAL);
	memset(big, 'a', sizeof(big));
	ck_assert_int_eq(fs_ctl_unmount(s, &p, big, sizeof(big), &b), -E2BIG);
	mc_store_free(s);
}
END_TEST

struct names {
	struct mc_buf b;
	int n, cap;
};

static int collect(void *arg, const char *name, mode_t mode, uint64_t next)
{
	struct names *c = arg;

	if (c->n == c->cap)
		return 1;
	c->n++;
	mc_buf_adds(&c->b, name);
	mc_buf_addch(&c->b, '\n');
	return 0;
}

/* Small readdir buffers: every key once, whatever the chunking. */
START_TEST(test_keydir_stream)
{
	struct mc_store *s = mounted_store();
	struct fs_keydir d;
	struct names c = {MC_BUF_INIT, 0, 0};
	int nkeys = 300;
	char key[600];
	uint64_t off = 0;

	for (int i = 0; i < nkeys; i++) {
		int n = snprintf(key, sizeof(key), "k/%d", i);

		ck_assert_int_eq(mc_put(s, key, (size_t)n, "v", 1, NULL), 0);
	}
	/* A key too long to be a name is left out. */
	memset(key, 'x', sizeof(key));
	ck_assert_int_eq(mc_put(s, key, sizeof(key), "v", 1, NULL), 0);
	fs_keydir_init(&d);
	for (;;) {
		int before = c.n;

		c.cap = c.n + 7;
		fs_keydir_fill(s, &d, off, S_IFREG | 0644, collect, &c);
		off += (uint64_t)(c.n - before);
		if (c.n == before)
			break;
	}
	ck_assert_int_eq(c.n, nkeys + 2);
	for (int i = 0; i < nkeys; i++) {
		char line[32];

		snprintf(line, sizeof(line), "\nk%%2F%d\n", i);
		ck_assert_msg(strstr(c.b.data, line), "missing %s", line + 1);
	}
	ck_assert(!strncmp(c.b.data, ".\n..\n", 5));
	mc_buf_release(&c.b);
	mc_store_free(s);
}
END_TEST

START_TEST(test_keyfile)
{
	struct mc_store *s = mounted_store();
	struct fs_keyfile *r, *w;
	char buf[16];
	uint64_t size;

	ck_assert_int_eq(fs_keyfile_open(s, "k", 1, FS_KF_READ, &r), -ENOENT);
	ck_assert_int_eq(
		fs_keyfile_open(s, "k", 1, FS_KF_WRITE | FS_KF_CREATE, &w), 0);
	ck_assert_int_eq(fs_keyfile_pending("k", 1, &size), 0);
	ck_assert_int_eq(fs_keyfile_write(w, "hello", 5, 0), 5);
	ck_assert_int_eq(fs_keyfile_write(w, "!", 1, 7), 1);
	ck_assert_int_eq(mc_stat(s, "k", 1, &size), -ENOENT);
	ck_assert_int_eq(fs_keyfile_commit(w), 0);
	ck_assert_int_eq(fs_keyfile_pending("k", 1, &size), -ENOENT);
	fs_keyfile_free(w);
	ck_assert_int_eq(mc_stat(s, "k", 1, &size), 0);
	ck_assert_uint_eq(size, 8);

	/* A reader keeps its version while a writer replaces the value. */
	ck_assert_int_eq(fs_keyfile_open(s, "k", 1, FS_KF_READ, &r), 0);
	ck_assert_int_eq(
		fs_keyfile_open(s, "k", 1, FS_KF_WRITE | FS_KF_TRUNC, &w), 0);
	ck_assert_int_eq(fs_keyfile_write(w, "new", 3, 0), 3);
	ck_assert_int_eq(fs_keyfile_commit(w), 0);
	ck_assert_int_eq(fs_keyfile_commit(w), 0);
	fs_keyfile_free(w);
	ck_assert_int_eq(fs_keyfile_read(r, buf, sizeof(buf), 0), 8);
	ck_assert(!memcmp(buf, "hello\0\0!", 8));
	ck_assert_int_eq(fs_keyfile_read(r, buf, sizeof(buf), 6), 2);
	ck_assert_int_eq(fs_keyfile_read(r, buf, sizeof(buf), 8), 0);
	fs_keyfile_free(r);
	ck_assert_int_eq(mc_get_copy(s, "k", 1, 0, buf, sizeof(buf)), 3);

	/* A write without O_TRUNC edits the current value. */
	ck_assert_int_eq(fs_keyfile_open(s, "k", 1, FS_KF_WRITE, &w), 0);
	ck_assert_int_eq(fs_keyfile_write(w, "N", 1, 0), 1);
	ck_assert_int_eq(fs_keyfile_commit(w), 0);
	fs_keyfile_free(w);
	ck_assert_int_eq(mc_get_copy(s, "k", 1, 0, buf, sizeof(buf)), 3);
	ck_assert(!memcmp(buf, "New", 3));

	/* Nothing written is nothing to commit; the old value stays. */
	ck_assert_int_eq(
		fs_keyfile_open(s, "k", 1, FS_KF_WRITE | FS_KF_TRUNC, &w), 0);
	ck_assert_int_eq(fs_keyfile_commit(w), 0);
	fs_keyfile_free(w);
	ck_assert_int_eq(mc_stat(s, "k", 1, &size), 0);
	ck_assert_uint_eq(size, 3);
	ck_assert_int_eq(fs_key_truncate(s, "k", 1, 1), 0);
	ck_assert_int_eq(mc_stat(s, "k", 1, &size), 0);
	ck_assert_uint_eq(size, 1);
	ck_assert_int_eq(fs_key_truncate(s, "k", 1, 0), -EINVAL);
	mc_store_free(s);
}
END_TEST

static double family(struct mc_store *s, const char *name)
{
	struct mc_family *f = mc_metrics_find(mc_store_metrics(s), name);

	ck_assert_ptr_nonnull(f);
	return mc_series_value(mc_family_series(f, NULL));
}

/*
 * A write or truncate past the largest value poisons the file wherever
 * its bytes waited: nothing is stored, every later call fails the same,
 * ctl/error says why, and the put counts one PutStart and one PutRevoke
 * (mooncakefs(5), keys/).
 */
START_TEST(test_keyfile_poisoned)
{
	static const uint64_t big = 200 << 20; /* over max_value's 100 MiB */
	static const struct {
		int flags;
		bool truncate;
	} cases[] = {
		{FS_KF_WRITE, false},		    /* edits, on the heap */
		{FS_KF_WRITE | FS_KF_TRUNC, false}, /* no put begun yet */
		{FS_KF_WRITE, true},
		{FS_KF_WRITE | FS_KF_READ | FS_KF_TRUNC, true},
	};
	struct mc_store *s = mounted_store();
	struct mc_buf b = MC_BUF_INIT;
	struct fs_keyfile *w;
	char buf[16];

	ck_assert_int_eq(mc_put(s, "k", 1, "old", 3, NULL), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		double ps = family(s, "master_put_start_requests_total");
		double pr = family(s, "master_put_revoke_requests_total");

		ck_assert_int_eq(fs_keyfile_open(s, "k", 1, cases[i].flags, &w),
				 0);
		if (cases[i].truncate)
			ck_assert_int_eq(fs_keyfile_truncate(w, big), -EFBIG);
		else
			ck_assert_int_eq(fs_keyfile_write(w, "x", 1, big),
					 -EFBIG);
		ck_assert_int_eq(fs_keyfile_write(w, "y", 1, 0), -EFBIG);
		ck_assert_int_eq(fs_keyfile_truncate(w, 5), -EFBIG);
		ck_assert_int_eq(fs_keyfile_error(w), -EFBIG);
		ck_assert_int_eq(fs_keyfile_commit(w), -EFBIG);
		ck_assert_int_eq(fs_keyfile_commit(w), -EFBIG);
		fs_keyfile_free(w);
		ck_assert_int_eq(mc_get_copy(s, "k", 1, 0, buf, sizeof(buf)),
				 3);
		ck_assert(!memcmp(buf, "old", 3));
		ck_assert(family(s, "master_put_start_requests_total") ==
			  ps + 1);
		ck_assert(family(s, "master_put_revoke_requests_total") ==
			  pr + 1);
		mc_buf_reset(&b);
		fs_ctl_error_show(s, NULL, &b);
		ck_assert_ptr_nonnull(strstr(
			b.data, cases[i].truncate
					? "keys: put of 'k' failed: a "
					  "truncate failed: File too "
					  "large\n"
					: "keys: put of 'k' failed: a write "
					  "failed: File too large\n"));
	}
	/* truncate(2) of a name: the same, reported at once */
	ck_assert_int_eq(fs_key_truncate(s, "k", 1, big), -EFBIG);
	mc_buf_reset(&b);
	fs_ctl_error_show(s, NULL, &b);
	ck_assert_ptr_nonnull(strstr(b.data, "a truncate failed"));
	ck_assert_int_eq(mc_get_copy(s, "k", 1, 0, buf, sizeof(buf)), 3);
	mc_buf_release(&b);
	mc_store_free(s);
}
END_TEST

static Suite *fs_suite(void)
{
	Suite *s = suite_create("fs");
	TCase *t = tcase_create("spec");

	tcase_add_loop_test(t, test_spec_table, 0,
			    sizeof(spec_cases) / sizeof(spec_cases[0]));
	tcase_add_test(t, test_spec_nul_inside);
	tcase_add_test(t, test_spec_too_long);
	tcase_add_test(t, test_spec_round_trip);
	tcase_add_test(t, test_spec_format_alloc);
	suite_add_tcase(s, t);
	t = tcase_create("keyname");
	tcase_add_loop_test(t, test_keyname_table, 0,
			    sizeof(name_cases) / sizeof(name_cases[0]));
	tcase_add_test(t, test_keyname_every_byte);
	tcase_add_loop_test(t, test_keyname_bad, 0,
			    sizeof(bad_names) / sizeof(bad_names[0]));
	tcase_add_test(t, test_keyname_limits);
	suite_add_tcase(s, t);
	t = tcase_create("tree");
	tcase_set_timeout(t, 30);
	tcase_add_loop_test(t, test_tree_static, 0,
			    sizeof(static_paths) / sizeof(static_paths[0]));
	tcase_add_test(t, test_tree_modes);
	tcase_add_test(t, test_tree_store);
	tcase_add_test(t, test_tree_metadata);
	tcase_add_test(t, test_ctl_mount_errors);
	tcase_add_loop_test(t, test_ctl_unmount_table, 0,
			    sizeof(unmount_cases) / sizeof(unmount_cases[0]));
	tcase_add_test(t, test_ctl_unmount_nul);
	tcase_add_test(t, test_keydir_stream);
	tcase_add_test(t, test_keyfile);
	tcase_add_test(t, test_keyfile_poisoned);
	tcase_add_test(t, test_tree_remote);
	suite_add_tcase(s, t);
	return s;
}

MC_CHECK_MAIN(fs_suite)
