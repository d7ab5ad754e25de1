/*
 * config.c - defaults, the JSON config file, -D KEY=VALUE and the long
 * options, all through one table of keys so that the three spellings of
 * a setting cannot disagree on what they accept.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "config.h"
#include "json_strict.h"
#include "log.h"
#include "mooncake.h"
#include "size.h"

#ifndef MC_VERSION
#define MC_VERSION "unknown"
#endif

#define CONFIG_FILE_MAX (1u << 20)

enum kind {
	K_PORT, /* unsigned 0..65535 */
	K_STR,	/* char *, any text (may be empty) */
	K_PATH, /* char *, not empty */
	K_ADDR, /* char *, a numeric IPv4/IPv6 address or "localhost" */
	K_NAME, /* char *, a segment/host name */
	K_BOOL,
	K_SIZE,	     /* uint64_t SIZE >= min */
	K_MS,	     /* uint64_t milliseconds > 0 */
	K_WATERMARK, /* double in (0,1] */
	K_RATIO,     /* double in [0,1] */
	K_REPLICAS,  /* unsigned 1..MC_REPLICA_MAX */
	K_SECONDS,   /* unsigned 1..86400 */
	K_PROTOCOL,  /* char *, "tcp" | "rdma" */
	K_LOGLEVEL,  /* int, enum mc_log_level */
	K_CLUSTER,   /* char *, mc_meta_cluster_id_ok */
	K_UNUSED,    /* upstream key: checked as upstream types it (arg:
		      * SIZE, STRING, BOOL or PORT), then ignored */
	K_ETCD,	     /* char *, comma-separated http(s):// URLs, 1..16 */
	K_CNAME,     /* char *, 1..64 of [A-Za-z0-9._-] */
	K_TTL,	     /* uint64_t milliseconds, 1000..3600000 */
	K_DEVICES,   /* char *, "" or a comma-separated list naming one */
	K_CC,	     /* char *, a congestion control's name, not empty */
};

struct key {
	const char *key;  /* config-file and -D name */
	const char *opt;  /* long option, NULL: config file only */
	const char *flag; /* value of an option without argument */
	const char *arg;  /* the argument's name in --help */
	enum kind kind;
	size_t off;
	uint64_t min; /* K_SIZE: smallest accepted */
	const char *help;
};

#define OFF(f) offsetof(struct mc_config, f)

static const struct key keys[] = {
	{"http_port", "port", NULL, "N", K_PORT, OFF(http_port), 0,
	 "HTTP port, 0 = the kernel picks (default 8080)"},
	{"http_host", "host", NULL, "ADDR", K_ADDR, OFF(http_host), 0,
	 "HTTP bind address (default 127.0.0.1)"},
	{"mountpoint", "mountpoint", NULL, "DIR", K_PATH, OFF(mountpoint), 0,
	 "FUSE mount point, created if missing (default /mnt/mooncake)"},
	{"enable_fuse", "no-fuse", "false", NULL, K_BOOL, OFF(enable_fuse), 0,
	 "run without the control filesystem"},
	{"local_hostname", "hostname", NULL, "NAME", K_NAME, OFF(hostname), 0,
	 "segment name and endpoint host (default localhost)"},
	{"global_segment_size", "segment-size", NULL, "SIZE", K_SIZE,
	 OFF(segment_size), 0,
	 "memory mounted at start-up, 0 = none (default 3355443200)"},
	{"protocol", "protocol", NULL, "P", K_PROTOCOL, OFF(protocol), 0,
	 "tcp or rdma (default tcp)"},
	{"device_name", "device", NULL, "NAME", K_DEVICES, OFF(device), 0,
	 "RDMA device(s) (default: none)"},
	{"transfer_port", "transfer-port", NULL, "N", K_PORT,
	 OFF(transfer_port), 0,
	 "TCP transfer port, 0 = the kernel picks "
	 "(default 0)"},
	{"transfer_host", "transfer-host", NULL, "ADDR", K_ADDR,
	 OFF(transfer_host), 0,
	 "transfer port bind address (default: the --host address)"},
	/* the default is net/cc.h's MC_NET_CC_DEFAULT */
	{"transfer_congestion", "transfer-congestion", NULL, "NAME", K_CC,
	 OFF(transfer_cc), 0,
	 "TCP congestion control of transfer connections, 'system': the "
	 "system's (default cubic)"},
	{"http_congestion", "http-congestion", NULL, "NAME", K_CC, OFF(http_cc),
	 0,
	 "TCP congestion control of HTTP connections, 'system': the "
	 "system's (default cubic)"},
	{"max_segment_size", "max-segment-size", NULL, "SIZE", K_SIZE,
	 OFF(max_segment_size), MC_ALLOC_ALIGN,
	 "larger mounts are split, at least 16M (default 1T)"},
	{"replica_num", "replicas", NULL, "N", K_REPLICAS, OFF(replicas), 0,
	 "memory replicas per object, 1..8 (default 1)"},
	{"default_kv_lease_ttl", "lease-ttl", NULL, "MS", K_MS,
	 OFF(lease_ttl_ms), 0, "read lease of /query_key (default 10000)"},
	{"eviction_high_watermark_ratio", "eviction-high-watermark", NULL, "R",
	 K_WATERMARK, OFF(high_watermark), 0,
	 "evict above this used/capacity, (0,1] (default 0.95)"},
	{"eviction_ratio", "eviction-ratio", NULL, "R", K_RATIO,
	 OFF(evict_ratio), 0,
	 "evict down to the watermark minus this, [0,1] (default 0.05)"},
	{"max_body_size", "max-body", NULL, "SIZE", K_SIZE, OFF(max_body), 1,
	 "largest request body or value (default 100M)"},
	{"auth_token_file", "auth-token-file", NULL, "FILE", K_PATH,
	 OFF(auth_token_file), 0,
	 "mutating HTTP requests need this bearer token (default: none)"},
	{"allow_other", "allow-other", "true", NULL, K_BOOL, OFF(allow_other),
	 0, "let other users see the FUSE tree"},
	{"populate_segments", "populate", "true", NULL, K_BOOL, OFF(populate),
	 0, "make segments resident at mount, not at first write"},
	{"put_start_timeout", "put-timeout", NULL, "MS", K_MS,
	 OFF(put_timeout_ms), 0,
	 "unfinished two-phase puts revoked after (default 30000)"},
	{"log_level", "log-level", NULL, "L", K_LOGLEVEL, OFF(log_level), 0,
	 "error, warn, info or debug (default info)"},
	{"header_timeout", "header-timeout", NULL, "MS", K_MS,
	 OFF(header_timeout_ms), 0,
	 "a request head not complete by then is dropped (default 5000)"},
	{"shutdown_timeout", "shutdown-timeout", NULL, "MS", K_MS,
	 OFF(shutdown_timeout_ms), 0,
	 "how long SIGTERM waits for requests under way (default 10000)"},
	{"rpc_port", "rpc-port", NULL, "N", K_PORT, OFF(rpc_port), 0,
	 "Mooncake master RPC port, 0 = off (default 50051)"},
	/* upstream mooncake_master's flag; config file and -D only */
	{"client_live_ttl_sec", NULL, NULL, NULL, K_SECONDS, OFF(client_ttl_s),
	 0, NULL},
	{"enable_http_metadata_server", "no-http-metadata", "false", NULL,
	 K_BOOL, OFF(http_metadata), 0,
	 "turn off the Transfer Engine metadata server (/metadata)"},
	{"metadata_cluster_id", "metadata-cluster-id", NULL, "ID", K_CLUSTER,
	 OFF(metadata_cluster_id), 0,
	 "publish metadata under mooncake/ID/ (default: mooncake/)"},
	{"etcd_endpoints", "etcd", NULL, "URLS", K_ETCD, OFF(etcd), 0,
	 "etcd client URLs, comma-separated: cluster mode (default: none)"},
	{"cluster_id", "cluster", NULL, "NAME", K_CNAME, OFF(cluster), 0,
	 "cluster name: etcd keys under /mooncake/NAME/ (default mooncake)"},
	{"advertise_host", "advertise", NULL, "HOST", K_NAME, OFF(advertise), 0,
	 "where other nodes reach this one (default: the --host address)"},
	{"node_ttl", "node-ttl", NULL, "MS", K_TTL, OFF(node_ttl_ms), 0,
	 "the etcd lease of this node, 1000..3600000 (default 3000)"},
	{"metadata_server", NULL, NULL, "STRING", K_UNUSED, 0, 0, NULL},
	{"master_server_address", NULL, NULL, "STRING", K_UNUSED, 0, 0, NULL},
	{"local_buffer_size", NULL, NULL, "SIZE", K_UNUSED, 0, 0, NULL},
	/* the rest of upstream's MooncakeConfig (mooncake_config.py) */
	{"tenant_id", NULL, NULL, "STRING", K_UNUSED, 0, 0, NULL},
	{"enable_ssd_offload", NULL, NULL, "BOOL", K_UNUSED, 0, 0, NULL},
	{"ssd_offload_path", NULL, NULL, "STRING", K_UNUSED, 0, 0, NULL},
	{"enable_client_http_server", NULL, NULL, "BOOL", K_UNUSED, 0, 0, NULL},
	{"client_http_port", NULL, NULL, "PORT", K_UNUSED, 0, 0, NULL},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static char *xstrdup(const char *s)
{
	char *d = strdup(s);

	if (!d)
		mc_oom();
	return d;
}

static void set_str(struct mc_config *c, size_t off, const char *v)
{
	char **p = (char **)((char *)c + off);

	free(*p);
	*p = v ? xstrdup(v) : NULL;
}

void mc_config_init(struct mc_config *c)
{
	memset(c, 0, sizeof(*c));
	c->http_port = 8080;
	c->http_host = xstrdup("127.0.0.1");
	c->mountpoint = xstrdup("/mnt/mooncake");
	c->enable_fuse = true;
	c->hostname = xstrdup("localhost");
	c->segment_size = 3355443200ull;
	c->protocol = xstrdup("tcp");
	c->device = xstrdup("");
	c->transfer_port = 0;
	c->max_segment_size = 1ull << 40;
	c->replicas = 1;
	c->lease_ttl_ms = 10000;
	c->high_watermark = 0.95;
	c->evict_ratio = 0.05;
	c->max_body = 100ull << 20;
	c->auth_token_file = NULL;
	c->allow_other = false;
	c->put_timeout_ms = 30000;
	c->log_level = MC_LOG_INFO;
	c->header_timeout_ms = 5000;
	c->shutdown_timeout_ms = 10000;
	c->rpc_port = 50051;
	c->client_ttl_s = 10;
	c->http_metadata = true;
	c->cluster = xstrdup("mooncake");
	c->node_ttl_ms = 3000;
}

void mc_config_release(struct mc_config *c)
{
	free(c->config_file);
	free(c->http_host);
	free(c->mountpoint);
	free(c->hostname);
	free(c->protocol);
	free(c->device);
	free(c->auth_token_file);
	free(c->transfer_host);
	free(c->transfer_cc);
	free(c->http_cc);
	free(c->metadata_cluster_id);
	free(c->etcd);
	free(c->cluster);
	free(c->advertise);
	memset(c, 0, sizeof(*c));
}

static const struct key *key_find(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (!strcmp(keys[i].key, name))
			return &keys[i];
	return NULL;
}

/*
 * An upstream client's key (mooncake.json: where the metadata server and
 * the master are, its own buffer): mooncaked is the store itself, a
 * single node or a cluster node alike, so it has no use for them.
 */
static void warn_unused(FILE *f, const char *key)
{
	if (f)
		fprintf(f,
			"mooncaked: warning: config key '%s' is unused (a "
			"Mooncake client's setting: mooncaked is the store)\n",
			key);
}

bool mc_config_key_unused(const char *key)
{
	const struct key *k = key_find(key);

	return k && k->kind == K_UNUSED;
}

/*
 * Values are echoed back in messages; keep them one short printable line
 * whatever the input held.
 */
static const char *quote(const char *v, char *buf, size_t len)
{
	size_t i, n = 0;

	for (i = 0; v[i] && n + 4 < len; i++)
		buf[n++] = (v[i] >= 0x20 && v[i] < 0x7f) ? v[i] : '?';
	if (v[i]) {
		n = n > 3 ? n - 3 : 0;
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

/*
 * The longest wait an MS key takes: every timeout then still fits in
 * nanoseconds of a signed 64-bit clock, as the HTTP door's watchdog keeps
 * them (a larger header_timeout wrapped to next to nothing).
 */
#define MS_MAX	    1000000000000ull
#define MS_MAX_TEXT "1000000000000"

static int invalid(struct mc_err *err, const char *label, const char *value,
		   const char *why)
{
	char q[72];

	mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
		   "invalid value '%s' for '%s': %s",
		   quote(value, q, sizeof(q)), label, why);
	return -EINVAL;
}

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = {"true", "1", "yes"};
	static const char *const no[] = {"false", "0", "no"};

	for (size_t i = 0; i < 3; i++) {
		if (!strcasecmp(v, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(v, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/*
 * strtod alone takes "nan", "inf", hex and leading blanks; a ratio is a
 * plain decimal number.
 */
static int parse_ratio(const char *v, double *out)
{
	char *end;

	if (!*v || strspn(v, "0123456789.eE+-") != strlen(v))
		return -EINVAL;
	errno = 0;
	*out = strtod(v, &end);
	if (*end || errno || !isfinite(*out))
		return -EINVAL;
	return 0;
}

/*
 * The HOST[:PORT] of an etcd URL (@n bytes, up to its path): a host, or
 * an IPv6 address in brackets, and a port 1..65535 when one is given.
 */
static int check_authority(const char *a, size_t n)
{
	size_t h, i;
	unsigned port = 0;
	const char *slash = memchr(a, '/', n);

	if (slash)
		n = (size_t)(slash - a);
	if (n && a[0] == '[') {
		const char *rb = memchr(a, ']', n);

		if (!rb || rb == a + 1)
			return -EINVAL;
		h = (size_t)(rb - a) + 1;
	} else {
		for (h = 0; h < n && a[h] != ':'; h++)
			if (a[h] == '[' || a[h] == ']' || a[h] == '@')
				return -EINVAL;
		if (!h)
			return -EINVAL;
	}
	if (h == n)
		return 0;
	if (a[h] != ':' || h + 1 == n || n - h - 1 > 5)
		return -EINVAL;
	for (i = h + 1; i < n; i++) {
		if (a[i] < '0' || a[i] > '9')
			return -EINVAL;
		port = port * 10 + (unsigned)(a[i] - '0');
	}
	return port >= 1 && port <= 65535 ? 0 : -EINVAL;
}

/*
 * etcd URLs: 1..16 comma-separated items, each http:// or https:// and
 * a HOST[:PORT] (check_authority), printable, no blanks (cluster/etcd.h
 * checks them again).
 */
static int check_etcd(const char *v)
{
	unsigned n = 0;

	if (!*v)
		return -EINVAL;
	for (const char *p = v;; n++) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		size_t skip = !strncmp(p, "http://", 7)	   ? 7
			      : !strncmp(p, "https://", 8) ? 8
							   : 0;

		if (!skip || len <= skip || n >= 16)
			return -EINVAL;
		for (size_t i = 0; i < len; i++)
			if ((unsigned char)p[i] <= 0x20 || p[i] == 0x7f)
				return -EINVAL;
		if (check_authority(p + skip, len - skip))
			return -EINVAL;
		/* no path: etcd's API is at the root (a lone '/' is one) */
		{
			const char *sl = memchr(p + skip, '/', len - skip);

			if (sl && sl != p + len - 1)
				return -EINVAL;
		}
		if (!end)
			return 0;
		p = end + 1;
	}
}

/*
 * A bind address as the doors take it (mooncaked(8), --host): a numeric
 * IPv4 or IPv6 address (an IPv6 one may name its scope, fe80::1%eth0),
 * or "localhost", which is 127.0.0.1; never a name to look up.
 */
static int check_addr(const char *v)
{
	struct in6_addr a6;
	struct in_addr a4;
	struct addrinfo hints = {.ai_flags = AI_NUMERICHOST,
				 .ai_family = AF_INET6};
	struct addrinfo *res = NULL;

	if (!strcmp(v, "localhost") || inet_pton(AF_INET, v, &a4) == 1 ||
	    inet_pton(AF_INET6, v, &a6) == 1)
		return 0;
	if (!strchr(v, '%') || getaddrinfo(v, NULL, &hints, &res))
		return -EINVAL;
	freeaddrinfo(res);
	return 0;
}

static int check_cname(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > 64 ||
	    strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		      "abcdefghijklmnopqrstuvwxyz"
		      "0123456789._-") != n ||
	    !strcmp(v, ".") || !strcmp(v, ".."))
		return -EINVAL;
	return 0;
}

static int check_name(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > 255)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] <= 0x20 || v[i] == 0x7f || v[i] == '/')
			return -EINVAL;
	return 0;
}

/* The kind an upstream key's value is checked as (K_UNUSED's arg). */
static enum kind upstream_kind(const struct key *k)
{
	if (k->kind != K_UNUSED)
		return k->kind;
	if (!strcmp(k->arg, "SIZE"))
		return K_SIZE;
	if (!strcmp(k->arg, "BOOL"))
		return K_BOOL;
	if (!strcmp(k->arg, "PORT"))
		return K_PORT;
	return K_PATH; /* a string */
}

/* Sets @k from its text form; @label names it in the message. */
static int key_set(struct mc_config *c, const struct key *k, const char *v,
		   const char *label, struct mc_err *err)
{
	void *p = (char *)c + k->off;
	uint64_t u;
	double d;
	bool b;
	int r;

	switch (k->kind) {
	case K_PORT:
		if (mc_u64_parse(v, &u) || u > 65535)
			return invalid(err, label, v, "not a port number");
		*(unsigned *)p = (unsigned)u;
		return 0;
	case K_STR:
		set_str(c, k->off, v);
		return 0;
	case K_CC: /* checked against the kernel's list at start-up */
		if (!*v)
			return invalid(err, label, v,
				       "empty ('system' is the system's)");
		set_str(c, k->off, v);
		return 0;
	case K_DEVICES: /* "" finds the devices (mooncake-transfer(7)) */
		if (*v && strspn(v, ", \t") == strlen(v))
			return invalid(err, label, v, "names no device");
		set_str(c, k->off, v);
		return 0;
	case K_PATH:
		if (!*v)
			return invalid(err, label, v, "empty");
		set_str(c, k->off, v);
		return 0;
	case K_ADDR:
		if (check_addr(v))
			return invalid(err, label, v,
				       "not an IPv4 or IPv6 address (or "
				       "localhost)");
		set_str(c, k->off, v);
		return 0;
	case K_NAME:
		if (check_name(v))
			return invalid(err, label, v,
				       "not a name (1 to 255 bytes, no blanks, "
				       "no '/')");
		set_str(c, k->off, v);
		return 0;
	case K_BOOL:
		if (parse_bool(v, &b))
			return invalid(err, label, v,
				       "not a boolean (true, false, yes, no, "
				       "1, 0)");
		*(bool *)p = b;
		return 0;
	case K_SIZE:
		r = mc_size_parse(v, &u);
		if (r == -ERANGE)
			return invalid(err, label, v, "size too large");
		if (r)
			return invalid(err, label, v,
				       "not a size (bytes, or a number with "
				       "a unit: 64M, 1.5GB, '4 GB')");
		if (u < k->min) {
			char why[64];

			snprintf(why, sizeof(why), "size below %llu",
				 (unsigned long long)k->min);
			return invalid(err, label, v, why);
		}
		*(uint64_t *)p = u;
		return 0;
	case K_MS:
		r = mc_u64_parse(v, &u);
		if (r == -ERANGE || (r == 0 && u > MS_MAX))
			return invalid(err, label, v,
				       "too large (at most " MS_MAX_TEXT
				       " milliseconds, 31 years)");
		if (r || u == 0)
			return invalid(err, label, v,
				       "not a positive number of milliseconds");
		*(uint64_t *)p = u;
		return 0;
	case K_WATERMARK:
		if (parse_ratio(v, &d) || !(d > 0 && d <= 1))
			return invalid(err, label, v, "not a ratio in (0,1]");
		*(double *)p = d;
		return 0;
	case K_RATIO:
		if (parse_ratio(v, &d) || !(d >= 0 && d <= 1))
			return invalid(err, label, v, "not a ratio in [0,1]");
		*(double *)p = d;
		return 0;
	case K_REPLICAS:
		if (mc_u64_parse(v, &u) || u < 1 || u > MC_REPLICA_MAX) {
			char why[64];

			snprintf(why, sizeof(why),
				 "not a replica count (1..%d)", MC_REPLICA_MAX);
			return invalid(err, label, v, why);
		}
		*(unsigned *)p = (unsigned)u;
		return 0;
	case K_SECONDS:
		if (mc_u64_parse(v, &u) || u < 1 || u > 86400)
			return invalid(err, label, v,
				       "not a number of seconds (1..86400)");
		*(unsigned *)p = (unsigned)u;
		return 0;
	case K_PROTOCOL:
		/* any case, as upstream's config lowercases it */
		if (strcasecmp(v, "tcp") && strcasecmp(v, "rdma"))
			return invalid(err, label, v,
				       "not a protocol (tcp or rdma)");
		set_str(c, k->off, strcasecmp(v, "tcp") ? "rdma" : "tcp");
		return 0;
	case K_LOGLEVEL:
		r = mc_log_level_parse(v);
		if (r < 0)
			return invalid(err, label, v,
				       "not a log level (error, warn, info, "
				       "debug)");
		*(int *)p = r;
		return 0;
	case K_CLUSTER:
		if (!mc_meta_cluster_id_ok(v))
			return invalid(err, label, v,
				       "not a cluster id (1 to 255 printable "
				       "bytes, no blanks)");
		set_str(c, k->off, v);
		return 0;
	case K_UNUSED:
		/* what upstream would refuse is refused (its value is
		 * then dropped: upstream_kind's checks, on a scratch copy) */
		if (upstream_kind(k) != K_PATH) {
			struct key as = *k;
			struct mc_config scratch;

			mc_config_init(&scratch);
			as.kind = upstream_kind(k);
			as.off = upstream_kind(k) == K_SIZE ? OFF(segment_size)
				 : upstream_kind(k) == K_BOOL ? OFF(populate)
							      : OFF(http_port);
			r = key_set(&scratch, &as, v, label, err);
			mc_config_release(&scratch);
			return r;
		}
		return 0;
	case K_ETCD:
		if (check_etcd(v))
			return invalid(
				err, label, v,
				"not a list of etcd URLs (http://HOST:PORT"
				", comma-separated, at most 16)");
		set_str(c, k->off, v);
		return 0;
	case K_CNAME:
		if (check_cname(v))
			return invalid(err, label, v,
				       "not a cluster name (1 to 64 of "
				       "A-Z a-z 0-9 . _ -)");
		set_str(c, k->off, v);
		return 0;
	case K_TTL:
		if (mc_u64_parse(v, &u) || u < 1000 || u > 3600000)
			return invalid(err, label, v,
				       "not a node TTL (1000..3600000 ms)");
		*(uint64_t *)p = u;
		return 0;
	}
	return -EINVAL;
}

int mc_config_set(struct mc_config *c, const char *key, const char *value,
		  struct mc_err *err)
{
	const struct key *k = key_find(key);
	char q[72];

	if (!k) {
		mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
			   "unknown config key '%s'", quote(key, q, sizeof(q)));
		return -EINVAL;
	}
	return key_set(c, k, value, key, err);
}

/* The value of @k in @c as text, for messages. */
static const char *key_text(const struct mc_config *c, const struct key *k,
			    char *buf, size_t len)
{
	const void *p = (const char *)c + k->off;

	switch (k->kind) {
	case K_PORT:
	case K_REPLICAS:
	case K_SECONDS:
		snprintf(buf, len, "%u", *(const unsigned *)p);
		break;
	case K_SIZE:
	case K_MS:
	case K_TTL:
		snprintf(buf, len, "%llu",
			 (unsigned long long)*(const uint64_t *)p);
		break;
	case K_WATERMARK:
	case K_RATIO:
		snprintf(buf, len, "%g", *(const double *)p);
		break;
	case K_BOOL:
		snprintf(buf, len, "%s", *(const bool *)p ? "true" : "false");
		break;
	case K_LOGLEVEL:
		snprintf(buf, len, "%s", mc_log_level_name(*(const int *)p));
		break;
	case K_UNUSED:
		buf[0] = '\0';
		break;
	default: {
		const char *v = *(char *const *)p;

		snprintf(buf, len, "%s", v ? v : "(none)");
		break;
	}
	}
	return buf;
}

void mc_config_diff(const struct mc_config *a, const struct mc_config *b,
		    void (*cb)(const char *key, const char *from,
			       const char *to, void *arg),
		    void *arg)
{
	for (size_t i = 0; i < NKEYS; i++) {
		char va[300], vb[300];

		if (keys[i].kind == K_UNUSED)
			continue;
		key_text(a, &keys[i], va, sizeof(va));
		key_text(b, &keys[i], vb, sizeof(vb));
		if (strcmp(va, vb))
			cb(keys[i].key, va, vb, arg);
	}
}

/* ---------------------------------------------------------- config file */

static const char *json_type_want(enum kind kind)
{
	switch (kind) {
	case K_PORT:
	case K_MS:
	case K_TTL:
	case K_REPLICAS:
	case K_SECONDS:
		return "an integer";
	case K_SIZE:
		return "an integer or a SIZE string";
	case K_WATERMARK:
	case K_RATIO:
		return "a number";
	case K_BOOL:
		return "true or false";
	default:
		return "a string";
	}
}

static bool json_type_ok(enum kind kind, enum json_type t)
{
	switch (kind) {
	case K_PORT:
	case K_MS:
	case K_TTL:
	case K_REPLICAS:
	case K_SECONDS:
		return t == json_type_int;
	case K_SIZE:
		return t == json_type_int || t == json_type_string;
	case K_WATERMARK:
	case K_RATIO:
		return t == json_type_int || t == json_type_double;
	case K_BOOL:
		return t == json_type_boolean;
	case K_UNUSED:
		return true;
	default:
		return t == json_type_string;
	}
}

/*
 * A JSON member goes through the same text parser as -D: integers and
 * doubles as the text json-c kept or printed (a negative or saturated
 * integer then fails as "not a ..." with its digits shown), strings as
 * they are. A string holding a NUL cannot be a valid value.
 */
static int json_member_set(struct mc_config *c, const struct key *k,
			   struct json_object *v, struct mc_err *err)
{
	enum json_type t = json_object_get_type(v);
	const char *text;

	if (!json_type_ok(upstream_kind(k), t)) {
		char why[64];

		snprintf(why, sizeof(why), "expected %s",
			 json_type_want(upstream_kind(k)));
		return invalid(err, k->key,
			       json_object_to_json_string_ext(
				       v, JSON_C_TO_STRING_PLAIN),
			       why);
	}
	if (t == json_type_string) {
		text = json_object_get_string(v);
		if (strlen(text) != (size_t)json_object_get_string_len(v))
			return invalid(err, k->key, text, "holds a NUL byte");
	} else if (t == json_type_boolean) {
		text = json_object_get_boolean(v) ? "true" : "false";
	} else {
		text = json_object_to_json_string_ext(v,
						      JSON_C_TO_STRING_PLAIN);
		/* json-c holds what is beyond 64 bits as the bound it hit:
		 * that number was not written, so it is not quoted */
		if (t == json_type_int &&
		    (!strcmp(text, "18446744073709551615") ||
		     !strcmp(text, "-9223372036854775808"))) {
			mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				   "invalid value for '%s': a number beyond 64 "
				   "bits",
				   k->key);
			return -EINVAL;
		}
	}
	return key_set(c, k, text, k->key, err);
}

static bool all_blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strchr(" \t\r\n", s[i]) || !s[i])
			return false;
	return true;
}

/*
 * A key given twice in one object of the file @text, which json-c parsed
 * whole: it keeps the last value, so the first would be dropped unsaid.
 * 0, or -EINVAL or -ENOMEM with @err naming the second key as written.
 */
static int json_dup(const char *text, size_t len, const char *q,
		    struct mc_err *err)
{
	size_t at, n;
	char name[72], qk[72];
	int r = mc_json_dup_key(text, len, &at, &n);

	if (r == -ENOMEM) {
		mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
			   "cannot read config file '%s': %s", q,
			   strerror(ENOMEM));
		return -ENOMEM;
	}
	if (!r)
		return 0;
	snprintf(name, sizeof(name), "%.*s",
		 (int)(n < sizeof(name) - 1 ? n : sizeof(name) - 1), text + at);
	mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
		   "malformed config file '%s': key '%s' given twice", q,
		   quote(name, qk, sizeof(qk)));
	return -EINVAL;
}

int mc_config_load_json(struct mc_config *c, const char *text, size_t len,
			const char *origin, FILE *warn, struct mc_err *err)
{
	struct json_tokener *tok;
	struct json_object *root;
	enum json_tokener_error jerr;
	size_t end;
	char q[72];
	int r = 0;

	quote(origin, q, sizeof(q));
	if (all_blank(text, len)) {
		mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
			   "malformed config file '%s': empty", q);
		return -EINVAL;
	}
	if (memchr(text, '\0', len)) {
		mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
			   "malformed config file '%s': holds a NUL byte", q);
		return -EINVAL;
	}
	if (len > CONFIG_FILE_MAX) {
		mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
			   "malformed config file '%s': larger than %u bytes",
			   q, CONFIG_FILE_MAX);
		return -EINVAL;
	}
	end = mc_json_plain(text, len);
	if (end < len) {
		mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
			   "malformed config file '%s': unexpected %s at byte "
			   "%zu",
			   q, mc_json_plain_what(text, len, end), end);
		return -EINVAL;
	}
	tok = json_tokener_new_ex(MC_JSON_DEPTH);
	if (!tok) {
		mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
			   "cannot read config file '%s': %s", q,
			   strerror(ENOMEM));
		return -ENOMEM;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
					    JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, text, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (!root && jerr == json_tokener_continue) {
		/* a bare number or literal ends only at the end of input */
		root = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
		end = len;
	}
	json_tokener_free(tok);
	if (jerr != json_tokener_success) {
		if (jerr == json_tokener_continue)
			mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				   "malformed config file '%s': unexpected end "
				   "of file",
				   q);
		else
			mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				   "malformed config file '%s': %s at byte %zu",
				   q, json_tokener_error_desc(jerr), end);
		json_object_put(root);
		return -EINVAL;
	}
	if (!all_blank(text + end, len - end)) {
		mc_err_set(
			err, -EINVAL, MC_INVALID_PARAMS,
			"malformed config file '%s': trailing data at byte %zu",
			q, end);
		json_object_put(root);
		return -EINVAL;
	}
	if (!root || !json_object_is_type(root, json_type_object)) {
		mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
			   "malformed config file '%s': not a JSON object", q);
		json_object_put(root);
		return -EINVAL;
	}
	r = json_dup(text, len, q, err);
	if (r) {
		json_object_put(root);
		return r;
	}
	json_object_object_foreach(root, name, val)
	{
		const struct key *k = key_find(name);

		if (!k) {
			char qk[72];

			mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				   "unknown key '%s' in config file '%s'",
				   quote(name, qk, sizeof(qk)), q);
			r = -EINVAL;
			break;
		}
		r = json_member_set(c, k, val, err);
		if (r)
			break;
		if (k->kind == K_UNUSED)
			warn_unused(warn, k->key);
	}
	json_object_put(root);
	return r;
}

int mc_config_read_file(struct mc_config *c, const char *path, FILE *warn,
			struct mc_err *err)
{
	FILE *f;
	char *buf, q[72];
	size_t n;
	int r, e;

	quote(path, q, sizeof(q));
	f = fopen(path, "r");
	if (!f) {
		mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
			   "cannot read config file '%s': %s", q,
			   strerror(errno));
		return -EINVAL;
	}
	buf = malloc(CONFIG_FILE_MAX + 2);
	if (!buf) {
		fclose(f);
		mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
			   "cannot read config file '%s': %s", q,
			   strerror(ENOMEM));
		return -EINVAL;
	}
	n = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
	e = ferror(f) ? errno : 0;
	fclose(f);
	if (e) {
		mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
			   "cannot read config file '%s': %s", q, strerror(e));
		free(buf);
		return -EINVAL;
	}
	buf[n] = '\0';
	r = mc_config_load_json(c, buf, n, path, warn, err);
	free(buf);
	return r;
}

int mc_config_load_file(struct mc_config *c, const char *path,
			struct mc_err *err)
{
	return mc_config_read_file(c, path, stderr, err);
}

/* ---------------------------------------------------------- command line */

enum {
	OPT_CONFIG = 256,
	OPT_HELP,
	OPT_VERSION,
	OPT_UNMOUNT_STALE,
	OPT_KEY, /* + index into keys[] */
};

static void build_longopts(struct option *lo)
{
	size_t n = 0;

	lo[n++] =
		(struct option){"config", required_argument, NULL, OPT_CONFIG};
	lo[n++] = (struct option){"help", no_argument, NULL, OPT_HELP};
	lo[n++] = (struct option){"version", no_argument, NULL, OPT_VERSION};
	lo[n++] = (struct option){"unmount-stale", no_argument, NULL,
				  OPT_UNMOUNT_STALE};
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].opt)
			lo[n++] = (struct option){
				keys[i].opt,
				keys[i].flag ? no_argument : required_argument,
				NULL, OPT_KEY + (int)i};
	lo[n] = (struct option){NULL, 0, NULL, 0};
}

static void mc_config_usage(FILE *out)
{
	fprintf(out,
		"usage: mooncaked [OPTION]...\n"
		"Run a Mooncake Store node with its HTTP, FUSE and transfer "
		"doors.\n\n"
		"  --config FILE                  JSON config file, read "
		"first (mooncake_config.json keys)\n"
		"  -D KEY=VALUE                   set one config key "
		"(repeatable)\n");
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];
		char left[64];

		if (!k->opt)
			continue;
		snprintf(left, sizeof(left), "--%s%s%s", k->opt,
			 k->arg ? " " : "", k->arg ? k->arg : "");
		fprintf(out, "  %-30s %s [%s]\n", left, k->help, k->key);
	}
	fprintf(out,
		"  --unmount-stale                detach the dead mount a "
		"killed "
		"daemon left on the mount point, and exit\n"
		"  --help                         print this and exit\n"
		"  --version                      print the version and exit\n"
		"\nExit status: 0 stopped by SIGINT or SIGTERM, 1 start-up "
		"failure, 2 bad configuration.\n"
		"See mooncaked(8).\n");
}

static void say(FILE *errout, const char *msg)
{
	if (errout)
		fprintf(errout, "mooncaked: %s\n", msg);
}

/*
 * getopt_long errors: with a leading ':' in the optstring a missing
 * argument is ':' and anything unknown or ambiguous is '?'.
 */
/*
 * Why getopt_long refused the long option @bad ("--NAME" or
 * "--NAME=VALUE"): a flag given a value, a name that abbreviates
 * several, or none; into @line.
 */
static void long_option_error(const struct option *lo, const char *bad,
			      char *line, size_t len)
{
	const char *name = bad + 2, *eq = strchr(name, '=');
	size_t n = eq ? (size_t)(eq - name) : strlen(name);
	char q[72], list[96] = "";
	int matches = 0;

	for (const struct option *o = lo; o->name; o++) {
		if (strncmp(o->name, name, n))
			continue;
		if (strlen(o->name) == n && eq && o->has_arg == no_argument) {
			snprintf(line, len, "option '--%s' takes no value",
				 o->name);
			return;
		}
		if (matches++ < 3)
			snprintf(list + strlen(list),
				 sizeof(list) - strlen(list), "%s--%s",
				 matches > 1 ? ", " : "", o->name);
	}
	if (matches > 1)
		snprintf(line, len, "option '%s' is ambiguous (%s%s)",
			 quote(bad, q, sizeof(q)), list,
			 matches > 3 ? ", ..." : "");
	else
		snprintf(line, len, "unknown option '%s'",
			 quote(bad, q, sizeof(q)));
}

static int getopt_error(int ch, char **argv, const struct option *lo,
			FILE *errout)
{
	char q[72], line[200];
	const char *bad = argv[optind - 1];

	if (ch == ':')
		snprintf(line, sizeof(line), "option '%s' needs an argument",
			 quote(bad, q, sizeof(q)));
	else if (optopt && optopt < 256)
		snprintf(line, sizeof(line), "unknown option '-%c'", optopt);
	else if (!strncmp(bad, "--", 2))
		long_option_error(lo, bad, line, sizeof(line));
	else
		snprintf(line, sizeof(line), "unknown option '%s'",
			 quote(bad, q, sizeof(q)));
	say(errout, line);
	return -EINVAL;
}

static int apply_define(struct mc_config *c, const char *arg, FILE *errout)
{
	const char *eq = strchr(arg, '=');
	char key[64], msg[256], q[72];
	struct mc_err err = {0};

	if (!eq || eq == arg) {
		snprintf(msg, sizeof(msg),
			 "invalid -D '%s': expected KEY=VALUE",
			 quote(arg, q, sizeof(q)));
		say(errout, msg);
		return -EINVAL;
	}
	if ((size_t)(eq - arg) >= sizeof(key)) {
		snprintf(msg, sizeof(msg), "unknown config key '%s'",
			 quote(arg, q, sizeof(q)));
		say(errout, msg);
		return -EINVAL;
	}
	memcpy(key, arg, eq - arg);
	key[eq - arg] = '\0';
	if (mc_config_set(c, key, eq + 1, &err)) {
		say(errout, err.msg);
		return -EINVAL;
	}
	if (mc_config_key_unused(key))
		warn_unused(errout, key);
	return 0;
}

static bool host_wild(const char *h)
{
	return !strcmp(h, "0.0.0.0") || !strcmp(h, "::") || !strcmp(h, "[::]");
}

/*
 * Two doors given one port on addresses that meet: the second could not
 * listen, and its error would blame some other process. 0, or -EINVAL
 * with a line naming both options in @msg.
 */
static int ports_clash(const struct mc_config *c, char *msg, size_t len)
{
	const char *xhost = c->transfer_host ? c->transfer_host : c->http_host;
	const struct {
		const char *opt;
		unsigned port;
		const char *host;
	} d[] = {
		{"--port", c->http_port, c->http_host},
		{"--transfer-port", c->transfer_port, xhost},
		{"--rpc-port", c->rpc_port, c->http_host},
	};
	size_t n = sizeof(d) / sizeof(d[0]);

	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++) {
			if (!d[i].port || d[i].port != d[j].port ||
			    (strcmp(d[i].host, d[j].host) &&
			     !host_wild(d[i].host) && !host_wild(d[j].host)))
				continue;
			snprintf(msg, len,
				 "%s and %s are both %u: each door needs a "
				 "port of its own",
				 d[i].opt, d[j].opt, d[i].port);
			return -EINVAL;
		}
	return 0;
}

int mc_config_parse_args(struct mc_config *c, int argc, char **argv, FILE *out,
			 FILE *errout)
{
	static const char optstring[] = ":D:";
	struct option lo[NKEYS + 5];
	char msg[256], label[64];
	struct mc_err err = {0};
	const char *config = NULL;
	int ch, r;

	build_longopts(lo);
	/*
	 * Pass one: find --config, answer --help/--version and report
	 * unknown options, so the file is read before any option it would
	 * otherwise override.
	 */
	opterr = 0;
	optind = 0;
	while ((ch = getopt_long(argc, argv, optstring, lo, NULL)) != -1) {
		switch (ch) {
		case OPT_CONFIG:
			/* one file: a second would drop the first silently */
			if (config) {
				say(errout, "'--config' given twice: the "
					    "daemon reads one file");
				return -EINVAL;
			}
			config = optarg;
			break;
		case OPT_HELP:
			mc_config_usage(out);
			return 1;
		case OPT_VERSION:
			fprintf(out, "mooncaked %s\n", MC_VERSION);
			return 1;
		case OPT_UNMOUNT_STALE:
			c->unmount_stale = true;
			break;
		case ':':
		case '?':
			return getopt_error(ch, argv, lo, errout);
		default:
			break;
		}
	}
	if (optind < argc) {
		char q[72];

		snprintf(msg, sizeof(msg), "unexpected argument '%s'",
			 quote(argv[optind], q, sizeof(q)));
		say(errout, msg);
		return -EINVAL;
	}
	if (config) {
		set_str(c, offsetof(struct mc_config, config_file), config);
		if (mc_config_read_file(c, config, errout, &err)) {
			say(errout, err.msg);
			return -EINVAL;
		}
	}
	/* Pass two: the options and -D in the order given. */
	optind = 0;
	while ((ch = getopt_long(argc, argv, optstring, lo, NULL)) != -1) {
		const struct key *k;

		if (ch == 'D') {
			r = apply_define(c, optarg, errout);
			if (r)
				return r;
			continue;
		}
		if (ch < OPT_KEY)
			continue;
		k = &keys[ch - OPT_KEY];
		snprintf(label, sizeof(label), "--%s", k->opt);
		if (key_set(c, k, k->flag ? k->flag : optarg, label, &err)) {
			say(errout, err.msg);
			return -EINVAL;
		}
	}
	if (ports_clash(c, msg, sizeof(msg))) {
		say(errout, msg);
		return -EINVAL;
	}
	return 0;
}
