/*
 * config.h - the daemon's configuration: command line (mooncaked(8),
 * OPTIONS), the JSON config file with the upstream mooncake_config.json keys,
 * and -D KEY=VALUE overrides.
 *
 * Precedence: defaults < --config FILE < command-line options and -D, in
 * the order given on the command line (the file is read first wherever
 * --config appears).
 */
#ifndef MC_CONFIG_H
#define MC_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

struct mc_config {
	char *config_file;
	bool unmount_stale; /* --unmount-stale: clean the mount point, exit */
	unsigned http_port; /* 0: kernel picks */
	char *http_host;
	char *mountpoint;
	bool enable_fuse;
	char *hostname;	       /* local_hostname */
	uint64_t segment_size; /* global_segment_size, 0 = none */
	char *protocol;	       /* "tcp" | "rdma" */
	char *device;	       /* device_name */
	unsigned transfer_port;
	char *transfer_host; /* NULL: http_host */
	char *transfer_cc;   /* NULL: the default; "system": the system's */
	char *http_cc;	     /* the same, of the HTTP port */
	uint64_t max_segment_size;
	unsigned replicas;     /* replica_num, 1..MC_REPLICA_MAX */
	uint64_t lease_ttl_ms; /* default_kv_lease_ttl */
	double high_watermark; /* eviction_high_watermark_ratio, (0,1] */
	double evict_ratio;    /* eviction_ratio, [0,1] */
	uint64_t max_body;     /* max_body_size */
	char *auth_token_file;
	bool allow_other;
	bool populate;		      /* populate_segments */
	uint64_t put_timeout_ms;      /* put_start_timeout */
	int log_level;		      /* enum mc_log_level */
	uint64_t header_timeout_ms;   /* header_timeout */
	uint64_t shutdown_timeout_ms; /* shutdown_timeout */
	bool http_metadata;	      /* enable_http_metadata_server */
	char *metadata_cluster_id;    /* NULL: none */
	unsigned rpc_port;	      /* the master RPC, 0 = off */
	unsigned client_ttl_s; /* client_live_ttl_sec: silent clients go */
	/* cluster mode (mooncake-cluster(7)): on when etcd is set */
	char *etcd;	      /* etcd_endpoints, NULL: a single node */
	char *cluster;	      /* cluster_id, "mooncake" */
	char *advertise;      /* advertise_host, NULL: http_host */
	uint64_t node_ttl_ms; /* node_ttl, 1000..3600000 */
};

/*
 * Fills @c with the defaults (mooncaked(8), OPTIONS). The strings are
 * malloc'd copies owned by @c; out of memory at start-up aborts.
 */
void mc_config_init(struct mc_config *c);
/* Frees the strings; @c may be initialized again afterwards. */
void mc_config_release(struct mc_config *c);

/*
 * Parses argv. Returns 0 to run, 1 when --help or --version printed its
 * text on @out (exit 0), -EINVAL after writing a one-line message naming
 * the option or key to @errout (exit 2). Unused upstream cluster keys
 * are reported on @errout as a warning, not an error.
 */
int mc_config_parse_args(struct mc_config *c, int argc, char **argv, FILE *out,
			 FILE *errout);

/*
 * Sets one key (a config-file key, e.g. "http_port") from its text form
 * (the -D form). 0, or -EINVAL with a message in @err naming the key.
 */
int mc_config_set(struct mc_config *c, const char *key, const char *value,
		  struct mc_err *err);
/*
 * Reads a JSON config file: one object whose members are config keys or
 * the upstream mooncake_config.json keys. Sizes may be numbers or SIZE
 * strings, ports, counts and milliseconds integers, ratios numbers,
 * enable_fuse and allow_other booleans, everything else strings. The
 * upstream cluster keys (metadata_server, master_server_address,
 * local_buffer_size) are accepted and reported on stderr as unused.
 * 0 or -EINVAL with @err (a missing or unreadable file, a syntax error,
 * a member of the wrong type or value, an unknown key: each named).
 */
int mc_config_load_file(struct mc_config *c, const char *path,
			struct mc_err *err);
/* The same, reporting the unused keys on @warn (NULL: say nothing). */
int mc_config_read_file(struct mc_config *c, const char *path, FILE *warn,
			struct mc_err *err);
/*
 * The same from @len bytes of JSON text; @origin names the text in
 * messages (the file name).
 */
int mc_config_load_json(struct mc_config *c, const char *text, size_t len,
			const char *origin, FILE *warn, struct mc_err *err);

/* Whether @key is an upstream cluster key this daemon accepts and ignores. */
bool mc_config_key_unused(const char *key);

/*
 * Calls @cb for every key whose value differs between @a and @b, in the
 * order of the key table, with the key and both values as text ("8080",
 * "debug", "true", "(none)"); the texts live until @cb returns. For a
 * reload (SIGHUP): what changed, and what cannot.
 */
void mc_config_diff(const struct mc_config *a, const struct mc_config *b,
		    void (*cb)(const char *key, const char *from,
			       const char *to, void *arg),
		    void *arg);

#endif
