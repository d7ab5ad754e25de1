/*
 * check_config.c - the option table, -D, the JSON config file, and the
 * hostile inputs each of them must refuse with a message naming the key.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "log.h"
#include "mooncake.h"

/* The value of a key in text form, to compare what a setter stored. */
static void field_text(const struct mc_config *c, const char *key, char *buf,
		       size_t len)
{
	if (!strcmp(key, "http_port"))
		snprintf(buf, len, "%u", c->http_port);
	else if (!strcmp(key, "transfer_port"))
		snprintf(buf, len, "%u", c->transfer_port);
	else if (!strcmp(key, "rpc_port"))
		snprintf(buf, len, "%u", c->rpc_port);
	else if (!strcmp(key, "client_live_ttl_sec"))
		snprintf(buf, len, "%u", c->client_ttl_s);
	else if (!strcmp(key, "http_host"))
		snprintf(buf, len, "%s", c->http_host);
	else if (!strcmp(key, "mountpoint"))
		snprintf(buf, len, "%s", c->mountpoint);
	else if (!strcmp(key, "enable_fuse"))
		snprintf(buf, len, "%d", c->enable_fuse);
	else if (!strcmp(key, "allow_other"))
		snprintf(buf, len, "%d", c->allow_other);
	else if (!strcmp(key, "populate_segments"))
		snprintf(buf, len, "%d", c->populate);
	else if (!strcmp(key, "local_hostname"))
		snprintf(buf, len, "%s", c->hostname);
	else if (!strcmp(key, "global_segment_size"))
		snprintf(buf, len, "%llu", (unsigned long long)c->segment_size);
	else if (!strcmp(key, "max_segment_size"))
		snprintf(buf, len, "%llu",
			 (unsigned long long)c->max_segment_size);
	else if (!strcmp(key, "max_body_size"))
		snprintf(buf, len, "%llu", (unsigned long long)c->max_body);
	else if (!strcmp(key, "protocol"))
		snprintf(buf, len, "%s", c->protocol);
	else if (!strcmp(key, "device_name"))
		snprintf(buf, len, "%s", c->device);
	else if (!strcmp(key, "replica_num"))
		snprintf(buf, len, "%u", c->replicas);
	else if (!strcmp(key, "default_kv_lease_ttl"))
		snprintf(buf, len, "%llu", (unsigned long long)c->lease_ttl_ms);
	else if (!strcmp(key, "put_start_timeout"))
		snprintf(buf, len, "%llu",
			 (unsigned long long)c->put_timeout_ms);
	else if (!strcmp(key, "eviction_high_watermark_ratio"))
		snprintf(buf, len, "%g", c->high_watermark);
	else if (!strcmp(key, "eviction_ratio"))
		snprintf(buf, len, "%g", c->evict_ratio);
	else if (!strcmp(key, "auth_token_file"))
		snprintf(buf, len, "%s",
			 c->auth_token_file ? c->auth_token_file : "(null)");
	else if (!strcmp(key, "log_level"))
		snprintf(buf, len, "%d", c->log_level);
	else if (!strcmp(key, "transfer_host"))
		snprintf(buf, len, "%s",
			 c->transfer_host ? c->transfer_host : "(null)");
	else if (!strcmp(key, "enable_http_metadata_server"))
		snprintf(buf, len, "%d", c->http_metadata);
	else if (!strcmp(key, "metadata_cluster_id"))
		snprintf(buf, len, "%s",
			 c->metadata_cluster_id ? c->metadata_cluster_id
						: "(null)");
	else if (!strcmp(key, "etcd_endpoints"))
		snprintf(buf, len, "%s", c->etcd ? c->etcd : "(null)");
	else if (!strcmp(key, "cluster_id"))
		snprintf(buf, len, "%s", c->cluster ? c->cluster : "(null)");
	else if (!strcmp(key, "advertise_host"))
		snprintf(buf, len, "%s",
			 c->advertise ? c->advertise : "(null)");
	else if (!strcmp(key, "node_ttl"))
		snprintf(buf, len, "%llu", (unsigned long long)c->node_ttl_ms);
	else
		snprintf(buf, len, "?");
}

START_TEST(test_defaults)
{
	struct mc_config c;

	mc_config_init(&c);
	ck_assert_uint_eq(c.http_port, 8080);
	ck_assert_str_eq(c.http_host, "127.0.0.1");
	ck_assert_str_eq(c.mountpoint, "/mnt/mooncake");
	ck_assert(c.enable_fuse);
	ck_assert_str_eq(c.hostname, "localhost");
	ck_assert_uint_eq(c.segment_size, 3355443200ull);
	ck_assert_str_eq(c.protocol, "tcp");
	ck_assert_str_eq(c.device, "");
	ck_assert_uint_eq(c.transfer_port, 0);
	ck_assert_uint_eq(c.max_segment_size, 1ull << 40);
	ck_assert_uint_eq(c.replicas, 1);
	ck_assert_uint_eq(c.lease_ttl_ms, 10000);
	ck_assert_double_eq(c.high_watermark, 0.95);
	ck_assert_double_eq(c.evict_ratio, 0.05);
	ck_assert_uint_eq(c.max_body, 100ull << 20);
	ck_assert_ptr_null(c.auth_token_file);
	ck_assert(!c.allow_other);
	ck_assert_uint_eq(c.put_timeout_ms, 30000);
	ck_assert_int_eq(c.log_level, MC_LOG_INFO);
	ck_assert_uint_eq(c.rpc_port, 50051);
	ck_assert_uint_eq(c.client_ttl_s, 10);
	ck_assert_ptr_null(c.config_file);
	ck_assert_ptr_null(c.transfer_host);
	ck_assert(c.http_metadata);
	ck_assert_ptr_null(c.metadata_cluster_id);
	mc_config_release(&c);
}
END_TEST

/* ---------------------------------------------- mc_config_set (the -D form) */

static const struct set_case {
	const char *key, *value;
	const char *want; /* NULL: must fail; else field_text after */
} set_cases[] = {
	{"http_port", "0", "0"},
	{"http_port", "8080", "8080"},
	{"http_port", "65535", "65535"},
	{"http_port", "65536", NULL},
	{"http_port", "70000", NULL},
	{"http_port", "-1", NULL},
	{"http_port", "abc", NULL},
	{"http_port", "", NULL},
	{"http_port", " 80", NULL},
	{"http_port", "80 ", NULL},
	{"http_port", "0x50", NULL},
	{"http_port", "+80", NULL},
	{"http_port", "99999999999999999999999", NULL},
	{"transfer_port", "0", "0"},
	{"transfer_port", "40123", "40123"},
	{"transfer_port", "65536", NULL},
	{"transfer_port", "1.5", NULL},
	{"rpc_port", "0", "0"},
	{"rpc_port", "50051", "50051"},
	{"rpc_port", "65536", NULL},
	{"rpc_port", "x", NULL},
	{"client_live_ttl_sec", "1", "1"},
	{"client_live_ttl_sec", "86400", "86400"},
	{"client_live_ttl_sec", "0", NULL},
	{"client_live_ttl_sec", "86401", NULL},
	{"client_live_ttl_sec", "1.5", NULL},
	{"client_live_ttl_sec", "-3", NULL},
	{"transfer_host", "0.0.0.0", "0.0.0.0"},
	{"transfer_host", "10.1.2.3", "10.1.2.3"},
	{"transfer_host", "", NULL},
	{"transfer_host", "localhost", "localhost"},
	{"transfer_host", "fe80::1%1", "fe80::1%1"},
	{"transfer_host", "1.2.3.4.5", NULL},
	{"transfer_host", "999.1.1.1", NULL},
	{"transfer_host", "foo.invalid", NULL},
	{"transfer_host", "127.1", NULL},
	{"transfer_host", "::1%", NULL},
	{"enable_http_metadata_server", "false", "0"},
	{"enable_http_metadata_server", "true", "1"},
	{"enable_http_metadata_server", "off", NULL},
	{"metadata_cluster_id", "c1", "c1"},
	{"metadata_cluster_id", "a/b/", "a/b/"},
	{"metadata_cluster_id", "", NULL},
	{"metadata_cluster_id", "a b", NULL},
	{"metadata_cluster_id", "tab\there", NULL},
	{"metadata_cluster_id", "caf\xc3\xa9", NULL},
	{"http_host", "::", "::"},
	{"http_host", "0.0.0.0", "0.0.0.0"},
	{"http_host", "", NULL},
	{"http_host", "::1", "::1"},
	{"http_host", "localhost", "localhost"},
	{"http_host", "999.1.1.1", NULL},
	{"http_host", "foo.invalid", NULL},
	{"http_host", "10.0.0.1 ", NULL},
	{"http_host", "[::1]", NULL},
	{"mountpoint", "/tmp/x", "/tmp/x"},
	{"mountpoint", "", NULL},
	{"enable_fuse", "false", "0"},
	{"enable_fuse", "true", "1"},
	{"enable_fuse", "no", "0"},
	{"enable_fuse", "yes", "1"},
	{"enable_fuse", "0", "0"},
	{"enable_fuse", "1", "1"},
	{"enable_fuse", "TRUE", "1"},
	{"enable_fuse", "2", NULL},
	{"enable_fuse", "", NULL},
	{"enable_fuse", "on", NULL},
	{"allow_other", "yes", "1"},
	{"populate_segments", "true", "1"},
	{"populate_segments", "maybe", NULL},
	{"allow_other", "nope", NULL},
	{"local_hostname", "node-1.example", "node-1.example"},
	{"local_hostname", "", NULL},
	{"local_hostname", "a b", NULL},
	{"local_hostname", "a/b", NULL},
	{"local_hostname", "tab\there", NULL},
	{"global_segment_size", "0", "0"},
	{"global_segment_size", "1", "1"},
	{"global_segment_size", "64M", "67108864"},
	{"global_segment_size", "64mb", "67108864"},
	{"global_segment_size", "4gb", "4294967296"},
	{"global_segment_size", "3355443200", "3355443200"},
	{"global_segment_size", "12q", NULL},
	{"global_segment_size", "-1", NULL},
	{"global_segment_size", "1.5G", "1610612736"},
	{"global_segment_size", "1.5 GB", "1610612736"},
	{"global_segment_size", "16777216B", "16777216"},
	{"global_segment_size", "1.5 GiB", NULL},
	{"global_segment_size", "", NULL},
	{"global_segment_size", "M", NULL},
	{"global_segment_size", "99999999999T", NULL},
	{"global_segment_size", "9223372036854775808", NULL},
	{"max_segment_size", "16M", "16777216"},
	{"max_segment_size", "1T", "1099511627776"},
	{"max_segment_size", "1M", NULL},
	{"max_segment_size", "0", NULL},
	{"max_body_size", "1", "1"},
	{"max_body_size", "100M", "104857600"},
	{"max_body_size", "0", NULL},
	{"max_body_size", "lots", NULL},
	{"protocol", "tcp", "tcp"},
	{"protocol", "rdma", "rdma"},
	{"protocol", "udp", NULL},
	{"protocol", "TCP", "tcp"}, /* upstream lowercases it */
	{"protocol", "Rdma", "rdma"},
	{"protocol", "", NULL},
	{"device_name", "mlx5_0", "mlx5_0"},
	{"device_name", "", ""},
	{"device_name", "mlx5_0,mlx5_1", "mlx5_0,mlx5_1"},
	{"device_name", ",", NULL},
	{"device_name", " , ,", NULL},
	{"replica_num", "1", "1"},
	{"replica_num", "8", "8"},
	{"replica_num", "0", NULL},
	{"replica_num", "9", NULL},
	{"replica_num", "-1", NULL},
	{"replica_num", "two", NULL},
	{"default_kv_lease_ttl", "1", "1"},
	{"default_kv_lease_ttl", "5000", "5000"},
	{"default_kv_lease_ttl", "0", NULL},
	{"default_kv_lease_ttl", "-5", NULL},
	{"default_kv_lease_ttl", "1s", NULL},
	{"put_start_timeout", "30000", "30000"},
	{"put_start_timeout", "0", NULL},
	{"put_start_timeout", "1e3", NULL},
	{"eviction_high_watermark_ratio", "1", "1"},
	{"eviction_high_watermark_ratio", "0.5", "0.5"},
	{"eviction_high_watermark_ratio", "1e-3", "0.001"},
	{"eviction_high_watermark_ratio", "0", NULL},
	{"eviction_high_watermark_ratio", "2", NULL},
	{"eviction_high_watermark_ratio", "1.0000001", NULL},
	{"eviction_high_watermark_ratio", "-0.5", NULL},
	{"eviction_high_watermark_ratio", "nan", NULL},
	{"eviction_high_watermark_ratio", "inf", NULL},
	{"eviction_high_watermark_ratio", "0x1p-1", NULL},
	{"eviction_high_watermark_ratio", "", NULL},
	{"eviction_high_watermark_ratio", ".", NULL},
	{"eviction_high_watermark_ratio", "0.5x", NULL},
	{"eviction_ratio", "0", "0"},
	{"eviction_ratio", "1", "1"},
	{"eviction_ratio", "0.25", "0.25"},
	{"eviction_ratio", "1.5", NULL},
	{"eviction_ratio", "-0.1", NULL},
	{"eviction_ratio", "NaN", NULL},
	{"auth_token_file", "/etc/token", "/etc/token"},
	{"auth_token_file", "", NULL},
	{"log_level", "error", "0"},
	{"log_level", "warn", "1"},
	{"log_level", "info", "2"},
	{"log_level", "debug", "3"},
	{"log_level", "loud", NULL},
	{"log_level", "", NULL},
	{"log_level", "INFO ", NULL},
	/* cluster mode (mooncake-cluster(7)) */
	{"etcd_endpoints", "http://127.0.0.1:2379", "http://127.0.0.1:2379"},
	{"etcd_endpoints", "http://a:1,https://b:2", "http://a:1,https://b:2"},
	{"etcd_endpoints", "http://[::1]:2379", "http://[::1]:2379"},
	{"etcd_endpoints", "", NULL},
	{"etcd_endpoints", "127.0.0.1:2379", NULL},
	{"etcd_endpoints", "http://", NULL},
	{"etcd_endpoints", "http://a:1,", NULL},
	{"etcd_endpoints", ",http://a:1", NULL},
	{"etcd_endpoints", "http://a:1,,http://b:2", NULL},
	{"etcd_endpoints", "http://a b:1", NULL},
	{"etcd_endpoints", "http://a:1\n", NULL},
	{"etcd_endpoints", "http:///x", NULL},
	{"etcd_endpoints", "http://:2379", NULL},
	{"etcd_endpoints", "ftp://a:1", NULL},
	{"etcd_endpoints", "http://h", "http://h"},
	{"etcd_endpoints", "http://h:65535/", "http://h:65535/"},
	{"etcd_endpoints", "http://h:1/some/path", NULL},
	{"etcd_endpoints", "http://h:1//", NULL},
	{"etcd_endpoints", "http://a:1/x,http://b:2", NULL},
	{"etcd_endpoints", "http://127.0.0.1:99999", NULL},
	{"etcd_endpoints", "http://127.0.0.1:abc", NULL},
	{"etcd_endpoints", "http://h:0", NULL},
	{"etcd_endpoints", "http://h:", NULL},
	{"etcd_endpoints", "http://h:002379", NULL},
	{"etcd_endpoints", "http://[::1:2379", NULL},
	{"etcd_endpoints", "http://[]:2379", NULL},
	{"etcd_endpoints", "http://[::1]x", NULL},
	{"etcd_endpoints", "http://u@h:1", NULL},
	{"etcd_endpoints", "http://a:1,http://b:x", NULL},
	{"etcd_endpoints",
	 "http://a:1,http://a:1,http://a:1,http://a:1,http://a:1,http://a:1,"
	 "http://a:1,http://a:1,http://a:1,http://a:1,http://a:1,http://a:1,"
	 "http://a:1,http://a:1,http://a:1,http://a:1,http://a:1",
	 NULL}, /* 17 */
	{"cluster_id", "prod-1.eu_west", "prod-1.eu_west"},
	{"cluster_id", "", NULL},
	{"cluster_id", ".", NULL},
	{"cluster_id", "..", NULL},
	{"cluster_id", "a/b", NULL},
	{"cluster_id", "a b", NULL},
	{"cluster_id",
	 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	 NULL}, /* 65 */
	{"advertise_host", "10.0.0.7", "10.0.0.7"},
	{"advertise_host", "node-7.example", "node-7.example"},
	{"advertise_host", "", NULL},
	{"advertise_host", "a b", NULL},
	{"advertise_host", "a/b", NULL},
	{"node_ttl", "1000", "1000"},
	{"node_ttl", "3600000", "3600000"},
	{"node_ttl", "999", NULL},
	{"node_ttl", "3600001", NULL},
	{"node_ttl", "0", NULL},
	{"node_ttl", "-3000", NULL},
	{"node_ttl", "3s", NULL},
	{"node_ttl", "", NULL},
	/* upstream's keys: checked as upstream types them, and ignored */
	{"metadata_server", "http://localhost:8080/metadata", "?"},
	{"master_server_address", "localhost:50051", "?"},
	{"local_buffer_size", "1073741824", "?"},
	{"local_buffer_size", "1.5 GB", "?"},
	{"local_buffer_size", "lots", NULL},
	{"enable_ssd_offload", "false", "?"},
	{"enable_ssd_offload", "maybe", NULL},
	{"client_http_port", "8088", "?"},
	{"client_http_port", "99999", NULL},
	/* not keys at all */
	{"no_such_key", "1", NULL},
	{"", "1", NULL},
	{"config", "x.json", NULL},
	{"HTTP_PORT", "80", NULL},
};

START_TEST(test_set_table)
{
	const struct set_case *t = &set_cases[_i];
	struct mc_config c;
	char got[256];
	struct mc_err me = {0};
	int r;

	mc_config_init(&c);
	r = mc_config_set(&c, t->key, t->value, &me);
	if (t->want) {
		ck_assert_msg(r == 0, "%s=%s: %s", t->key, t->value, me.msg);
		field_text(&c, t->key, got, sizeof(got));
		ck_assert_str_eq(got, t->want);
	} else {
		char key[80];

		ck_assert_msg(r == -EINVAL, "%s=%s accepted", t->key, t->value);
		/* one line, naming the key */
		snprintf(key, sizeof(key), "'%s'", t->key);
		ck_assert_msg(strstr(me.msg, key), "'%s' not in '%s'", key,
			      me.msg);
		ck_assert_ptr_null(strchr(me.msg, '\n'));
	}
	mc_config_release(&c);
}
END_TEST

START_TEST(test_set_message)
{
	struct mc_config c;
	struct mc_err me = {0};

	mc_config_init(&c);
	ck_assert_int_eq(mc_config_set(&c, "http_port", "abc", &me), -EINVAL);
	ck_assert_str_eq(me.msg, "invalid value 'abc' for 'http_port': "
				 "not a port number");
	ck_assert_int_eq(mc_config_set(&c, "nokey", "1", &me), -EINVAL);
	ck_assert_str_eq(me.msg, "unknown config key 'nokey'");
	/* a failed set leaves the old value */
	ck_assert_uint_eq(c.http_port, 8080);
	/* hostile bytes are not echoed raw, and long values are cut */
	ck_assert_int_eq(mc_config_set(&c, "protocol", "a\nb\033c", &me),
			 -EINVAL);
	ck_assert_ptr_null(strchr(me.msg, '\n'));
	ck_assert_ptr_null(strchr(me.msg, '\033'));
	{
		char big[5000];

		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		ck_assert_int_eq(mc_config_set(&c, "protocol", big, &me),
				 -EINVAL);
		ck_assert(strlen(me.msg) < 200);
		ck_assert_ptr_nonnull(strstr(me.msg, "'protocol'"));
	}
	mc_config_release(&c);
}
END_TEST

/* ------------------------------------------------------------ JSON text */

static const struct json_case {
	const char *text;
	const char *err; /* NULL: must load; else a substring of me.msg */
	const char *key, *want; /* after a good load: field_text(key) */
} json_cases[] = {
	{"{}", NULL, "http_port", "8080"},
	{" \n{ }\n ", NULL, "http_port", "8080"},
	{"{\"http_port\": 9000}", NULL, "http_port", "9000"},
	{"{\"http_port\": 0}", NULL, "http_port", "0"},
	{"{\"rpc_port\": 50052}", NULL, "rpc_port", "50052"},
	{"{\"rpc_port\": \"50052\"}", "rpc_port", NULL, NULL},
	{"{\"client_live_ttl_sec\": 3}", NULL, "client_live_ttl_sec", "3"},
	{"{\"client_live_ttl_sec\": 0}", "client_live_ttl_sec", NULL, NULL},
	{"{\"local_hostname\": \"node1\"}", NULL, "local_hostname", "node1"},
	{"{\"global_segment_size\": 3355443200}", NULL, "global_segment_size",
	 "3355443200"},
	{"{\"global_segment_size\": \"64mb\"}", NULL, "global_segment_size",
	 "67108864"},
	{"{\"global_segment_size\": 0}", NULL, "global_segment_size", "0"},
	{"{\"protocol\": \"rdma\"}", NULL, "protocol", "rdma"},
	{"{\"device_name\": \"\"}", NULL, "device_name", ""},
	{"{\"enable_fuse\": false}", NULL, "enable_fuse", "0"},
	{"{\"allow_other\": true}", NULL, "allow_other", "1"},
	{"{\"enable_http_metadata_server\": false}", NULL,
	 "enable_http_metadata_server", "0"},
	{"{\"metadata_cluster_id\": \"c\"}", NULL, "metadata_cluster_id", "c"},
	{"{\"transfer_host\": \"::1\"}", NULL, "transfer_host", "::1"},
	{"{\"eviction_high_watermark_ratio\": 0.9}", NULL,
	 "eviction_high_watermark_ratio", "0.9"},
	{"{\"eviction_high_watermark_ratio\": 1}", NULL,
	 "eviction_high_watermark_ratio", "1"},
	{"{\"eviction_ratio\": 0}", NULL, "eviction_ratio", "0"},
	{"{\"replica_num\": 3}", NULL, "replica_num", "3"},
	{"{\"default_kv_lease_ttl\": 500}", NULL, "default_kv_lease_ttl",
	 "500"},
	{"{\"put_start_timeout\": 100}", NULL, "put_start_timeout", "100"},
	{"{\"max_body_size\": \"1k\"}", NULL, "max_body_size", "1024"},
	{"{\"max_segment_size\": \"32M\"}", NULL, "max_segment_size",
	 "33554432"},
	{"{\"log_level\": \"debug\"}", NULL, "log_level", "3"},
	{"{\"auth_token_file\": \"/t\"}", NULL, "auth_token_file", "/t"},
	{"{\"mountpoint\": \"/m\", \"http_host\": \"::1\"}", NULL, "http_host",
	 "::1"},
	/* upstream's keys of another type than upstream's are refused */
	{"{\"local_buffer_size\": []}",
	 "'local_buffer_size': expected an integer or a SIZE string", NULL,
	 NULL},
	{"{\"local_buffer_size\": \"1 KiB\"}", "not a size", NULL, NULL},
	{"{\"metadata_server\": 5}", "'metadata_server': expected a string",
	 NULL, NULL},
	{"{\"enable_client_http_server\": \"yes\"}", "expected true or false",
	 NULL, NULL},
	{"{\"client_http_port\": \"8088\"}", "expected an integer", NULL, NULL},
	{"{\"local_buffer_size\": \"1.5GB\", \"tenant_id\": \"t\", "
	 "\"enable_ssd_offload\": false, \"ssd_offload_path\": \"/x\", "
	 "\"client_http_port\": 8088, \"http_port\": 9}",
	 NULL, "http_port", "9"},
	/* the upstream example file, cluster keys included */
	{"{\"local_hostname\": \"localhost\",\n"
	 " \"metadata_server\": \"http://localhost:8080/metadata\",\n"
	 " \"global_segment_size\": 3355443200,\n"
	 " \"local_buffer_size\": 1073741824,\n"
	 " \"protocol\": \"tcp\",\n \"device_name\": \"\",\n"
	 " \"master_server_address\": \"localhost:50051\"}\n",
	 NULL, "global_segment_size", "3355443200"},
	/* one name per object: an outer key's name inside an inner object,
	 * or a key's name inside a string, is no second key */
	{"{\"http_port\": 1, \"metadata_server\": {\"http_port\": 2}}",
	 "'metadata_server': expected a string", NULL, NULL},
	{"{\"metadata_server\": [{\"a\": 1}, {\"a\": 2}], \"rpc_port\": 7}",
	 "'metadata_server': expected a string", NULL, NULL},
	{"{\"metadata_server\": \"\\\"rpc_port\\\": 1,\", \"rpc_port\": 2}",
	 NULL, "rpc_port", "2"},
	/* what JSON allows in strings: escapes, any UTF-8, quotes */
	{"{\"auth_token_file\": \"/n\\u00e9\\t\\\"'\"}", NULL,
	 "auth_token_file", "/n\xc3\xa9\t\"'"},
	{"{\"auth_token_file\": \"/caf\xc3\xa9 {NaN}\"}", NULL,
	 "auth_token_file", "/caf\xc3\xa9 {NaN}"},

	/* syntax */
	{"", "empty", NULL, NULL},
	{"   \n\t ", "empty", NULL, NULL},
	{"{", "malformed", NULL, NULL},
	{"{\"http_port\": 80", "malformed", NULL, NULL},
	{"{\"http_port\": 80,}", "malformed", NULL, NULL},
	{"{\"http_port\" 80}", "malformed", NULL, NULL},
	{"{http_port: 80}", "malformed", NULL, NULL},
	{"{\"http_port\": 80} {}", "malformed", NULL, NULL},
	{"{\"http_port\": 80} x", "malformed", NULL, NULL},
	{"{\"http_port\": 080}", "malformed", NULL, NULL},
	{"}", "malformed", NULL, NULL},
	{"\xff\xfe", "malformed", NULL, NULL},
	/* json-c takes these even strict; JSON (and upstream's Python
	 * json.load, for quotes and control characters) does not */
	{"{'http_port': 80}",
	 "malformed config file 'test.json': unexpected character at byte 1",
	 NULL, NULL},
	{"{\"metadata_server\": {'x\"': 1}, \"rpc_port\": 2}",
	 "unexpected character at byte 21", NULL, NULL},
	{"{\"http_port\": 1, 'http_port': 2}",
	 "unexpected character at byte 17", NULL, NULL},
	{"{\"local_hostname\": 'n'}", "unexpected character at byte 19", NULL,
	 NULL},
	{"{\"eviction_ratio\": NaN}", "unexpected character at byte 19", NULL,
	 NULL},
	{"{\"eviction_ratio\": -Infinity}", "unexpected character at byte 20",
	 NULL, NULL},
	{"{\"eviction_ratio\": nan}", "malformed", NULL, NULL},
	{"{\"http_port\": 00}", "unexpected character at byte 15", NULL, NULL},
	{"{\"eviction_ratio\": 00.05}", "unexpected character at byte 20", NULL,
	 NULL},
	{"{\"replica_num\": 1.}", "unexpected character at byte 18", NULL,
	 NULL},
	{"{\"local_hostname\": \"a\tb\"}",
	 "unexpected control character at byte 21", NULL, NULL},
	{"{\"local_hostname\": \"a\nb\"}",
	 "unexpected control character at byte 21", NULL, NULL},
	{"{\"local_hostname\": \"a\\udfff\"}",
	 "unexpected half of a \\u surrogate pair at byte 21", NULL, NULL},
	{"{\"http_port\": 80 /* c */}", "unexpected character at byte 17", NULL,
	 NULL},
	{"{\"http_port\": 80} // c", "unexpected character at byte 18", NULL,
	 NULL},
	{"{\"local_hostname\": \"\xff\"}", "malformed", NULL, NULL},
	{"{\"local_hostname\": \"\xc3\"}", "malformed", NULL, NULL},
	{"[]", "not a JSON object", NULL, NULL},
	{"[{\"http_port\": 80}]", "not a JSON object", NULL, NULL},
	{"\"http_port\"", "not a JSON object", NULL, NULL},
	{"80", "not a JSON object", NULL, NULL},
	{"null", "not a JSON object", NULL, NULL},
	{"true", "not a JSON object", NULL, NULL},

	/* a key given twice: json-c keeps the last, so the first would be
	 * dropped unsaid; named as the second is written */
	{"{\"rpc_port\": 1, \"rpc_port\": 2}",
	 "malformed config file 'test.json': key 'rpc_port' given twice", NULL,
	 NULL},
	{"{\"rpc_port\": 1, \"\\u0072pc_port\": 2}",
	 "malformed config file 'test.json': key '\\u0072pc_port' given twice",
	 NULL, NULL},
	{"{\"http_port\": 1, \"log_level\": \"warn\", \"http_port\": 1}",
	 "key 'http_port' given twice", NULL, NULL},
	/* before the unknown key is named */
	{"{\"http_prot\": 1, \"http_prot\": 2}", "key 'http_prot' given twice",
	 NULL, NULL},
	/* inside an object value (only the upstream keys take one) */
	{"{\"metadata_server\": {\"a\": 1, \"a\": 2}}", "key 'a' given twice",
	 NULL, NULL},
	{"{\"local_buffer_size\": [1, {\"b\": {\"c\": 1}, \"b\": 2}]}",
	 "key 'b' given twice", NULL, NULL},
	{"{\"metadata_server\": {\"a\\\"\": 1, \"a\\\"\": 2}}",
	 "key 'a\\\"' given twice", NULL, NULL},
	/* the name is one printable line, as every name said here: as
	 * written, or as decoded */
	{"{\"metadata_server\": {\"a\\nb\": 1, \"a\\nb\": 2}}",
	 "key 'a\\nb' given twice", NULL, NULL},
	{"{\"a\\nb\\u001b\": 1}", "unknown key 'a?b?'", NULL, NULL},

	/* unknown keys are named */
	{"{\"http_prot\": 80}", "'http_prot'", NULL, NULL},
	{"{\"\": 1}", "unknown key ''", NULL, NULL},
	{"{\"config\": \"x\"}", "'config'", NULL, NULL},

	/* wrong types */
	{"{\"http_port\": \"8080\"}", "'http_port'", NULL, NULL},
	{"{\"http_port\": 80.5}", "'http_port'", NULL, NULL},
	{"{\"http_port\": true}", "'http_port'", NULL, NULL},
	{"{\"http_port\": null}", "'http_port'", NULL, NULL},
	{"{\"http_port\": [80]}", "'http_port'", NULL, NULL},
	{"{\"http_port\": {\"port\": 80}}", "'http_port'", NULL, NULL},
	{"{\"local_hostname\": 5}", "'local_hostname'", NULL, NULL},
	{"{\"local_hostname\": {\"a\": {\"b\": 1}}}", "'local_hostname'", NULL,
	 NULL},
	{"{\"protocol\": null}", "'protocol'", NULL, NULL},
	{"{\"enable_fuse\": \"false\"}", "'enable_fuse'", NULL, NULL},
	{"{\"enable_fuse\": 0}", "'enable_fuse'", NULL, NULL},
	{"{\"allow_other\": \"yes\"}", "'allow_other'", NULL, NULL},
	{"{\"global_segment_size\": 1.5}", "'global_segment_size'", NULL, NULL},
	{"{\"global_segment_size\": true}", "'global_segment_size'", NULL,
	 NULL},
	{"{\"eviction_ratio\": \"0.1\"}", "'eviction_ratio'", NULL, NULL},
	{"{\"replica_num\": 2.0}", "'replica_num'", NULL, NULL},
	{"{\"log_level\": 3}", "'log_level'", NULL, NULL},
	{"{\"device_name\": null}", "'device_name'", NULL, NULL},
	{"{\"max_body_size\": [1]}", "'max_body_size'", NULL, NULL},

	/* bad values of the right type */
	{"{\"http_port\": 65536}", "'http_port'", NULL, NULL},
	{"{\"http_port\": -1}", "'http_port'", NULL, NULL},
	{"{\"transfer_port\": 1e9}", "'transfer_port'", NULL, NULL},
	{"{\"protocol\": \"udp\"}", "'protocol'", NULL, NULL},
	{"{\"replica_num\": 0}", "'replica_num'", NULL, NULL},
	{"{\"replica_num\": 9}", "'replica_num'", NULL, NULL},
	{"{\"default_kv_lease_ttl\": 0}", "'default_kv_lease_ttl'", NULL, NULL},
	{"{\"put_start_timeout\": -1}", "'put_start_timeout'", NULL, NULL},
	{"{\"eviction_high_watermark_ratio\": 0}",
	 "'eviction_high_watermark_ratio'", NULL, NULL},
	{"{\"eviction_high_watermark_ratio\": 1.5}",
	 "'eviction_high_watermark_ratio'", NULL, NULL},
	{"{\"eviction_ratio\": -0.01}", "'eviction_ratio'", NULL, NULL},
	{"{\"log_level\": \"loud\"}", "'log_level'", NULL, NULL},
	{"{\"local_hostname\": \"\"}", "'local_hostname'", NULL, NULL},
	{"{\"mountpoint\": \"\"}", "'mountpoint'", NULL, NULL},
	{"{\"global_segment_size\": \"12q\"}", "'global_segment_size'", NULL,
	 NULL},
	{"{\"global_segment_size\": -1}", "'global_segment_size'", NULL, NULL},
	{"{\"max_body_size\": 0}", "'max_body_size'", NULL, NULL},
	{"{\"max_segment_size\": 1024}", "'max_segment_size'", NULL, NULL},
	{"{\"protocol\": \"tcp\\u0000x\"}", "'protocol'", NULL, NULL},

	/* huge and not-a-number numbers */
	{"{\"global_segment_size\": 99999999999999999999999}",
	 "'global_segment_size'", NULL, NULL},
	{"{\"global_segment_size\": 18446744073709551615}",
	 "'global_segment_size'", NULL, NULL},
	{"{\"global_segment_size\": 9223372036854775808}",
	 "'global_segment_size'", NULL, NULL},
	{"{\"global_segment_size\": -9223372036854775809}",
	 "'global_segment_size'", NULL, NULL},
	{"{\"http_port\": 99999999999999999999}", "'http_port'", NULL, NULL},
	/* json-c's bound is not the number written: not quoted as one */
	{"{\"http_port\": 99999999999999999999}",
	 "invalid value for 'http_port': a number beyond 64 bits", NULL, NULL},
	{"{\"http_port\": -99999999999999999999}",
	 "invalid value for 'http_port': a number beyond 64 bits", NULL, NULL},
	/* a wait past 10^12 ms would wrap as nanoseconds */
	{"{\"header_timeout\": 1000000000001}",
	 "invalid value '1000000000001' for 'header_timeout': too large", NULL,
	 NULL},
	{"{\"header_timeout\": 9223372036855}", "too large", NULL, NULL},
	{"{\"default_kv_lease_ttl\": 99999999999999999999}",
	 "a number beyond 64 bits", NULL, NULL},
	{"{\"default_kv_lease_ttl\": 1000000000000}", NULL,
	 "default_kv_lease_ttl", "1000000000000"},
	{"{\"default_kv_lease_ttl\": 1e400}", "'default_kv_lease_ttl'", NULL,
	 NULL},
	{"{\"eviction_ratio\": 1e400}", "'eviction_ratio'", NULL, NULL},
	{"{\"eviction_ratio\": -1e400}", "'eviction_ratio'", NULL, NULL},
	{"{\"eviction_high_watermark_ratio\": Infinity}",
	 "unexpected character at byte 34", NULL, NULL},
	{"{\"eviction_ratio\": \"NaN\"}", "'eviction_ratio'", NULL, NULL},
};

START_TEST(test_json_table)
{
	const struct json_case *t = &json_cases[_i];
	struct mc_config c;
	char got[256];
	struct mc_err me = {0};
	int r;

	mc_config_init(&c);
	r = mc_config_load_json(&c, t->text, strlen(t->text), "test.json", NULL,
				&me);
	if (!t->err) {
		ck_assert_msg(r == 0, "'%s': %s", t->text, me.msg);
		field_text(&c, t->key, got, sizeof(got));
		ck_assert_str_eq(got, t->want);
	} else {
		ck_assert_msg(r == -EINVAL, "'%s' accepted", t->text);
		ck_assert_msg(strstr(me.msg, t->err), "'%s' not in '%s'",
			      t->err, me.msg);
		ck_assert_ptr_null(strchr(me.msg, '\n'));
	}
	mc_config_release(&c);
}
END_TEST

START_TEST(test_json_nul_and_nesting)
{
	static const char with_nul[] = "{\"http_port\": 80}\0{}";
	struct mc_config c;
	char *deep;
	struct mc_err me = {0};
	size_t n = 100000, i;

	mc_config_init(&c);
	ck_assert_int_eq(mc_config_load_json(&c, with_nul, sizeof(with_nul) - 1,
					     "f", NULL, &me),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(me.msg, "malformed"));
	/* deep nesting must fail cleanly, not blow the stack */
	deep = malloc(2 * n + 20);
	ck_assert_ptr_nonnull(deep);
	strcpy(deep, "{\"a\":");
	for (i = 0; i < n; i++)
		deep[5 + i] = '[';
	for (i = 0; i < n; i++)
		deep[5 + n + i] = ']';
	strcpy(deep + 5 + 2 * n, "}");
	ck_assert_int_eq(
		mc_config_load_json(&c, deep, strlen(deep), "f", NULL, &me),
		-EINVAL);
	free(deep);
	mc_config_release(&c);
}
END_TEST

static char *read_stream(FILE *f)
{
	static char buf[8192];
	size_t n;

	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	return buf;
}

START_TEST(test_json_unused_warns)
{
	static const char text[] =
		"{\"metadata_server\": \"http://x/metadata\","
		" \"master_server_address\": \"x:50051\","
		" \"local_buffer_size\": 1073741824, \"http_port\": 1}";
	struct mc_config c;
	char *w;
	struct mc_err me = {0};
	FILE *warn = tmpfile();

	ck_assert_ptr_nonnull(warn);
	mc_config_init(&c);
	ck_assert_int_eq(
		mc_config_load_json(&c, text, strlen(text), "f", warn, &me), 0);
	ck_assert_uint_eq(c.http_port, 1);
	w = read_stream(warn);
	ck_assert_ptr_nonnull(strstr(w, "'metadata_server' is unused"));
	/* true of a cluster node too */
	ck_assert_ptr_null(strstr(w, "single-node"));
	ck_assert_ptr_nonnull(strstr(w, "'master_server_address'"));
	ck_assert_ptr_nonnull(strstr(w, "'local_buffer_size'"));
	/* one line each */
	{
		int lines = 0;

		for (char *p = w; *p; p++)
			lines += *p == '\n';
		ck_assert_int_eq(lines, 3);
	}
	fclose(warn);
	mc_config_release(&c);
}
END_TEST

/* ------------------------------------------------------------ files */

static char tmpdir[64];

static void tmp_setup(void)
{
	strcpy(tmpdir, "/tmp/check_config.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void tmp_teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

static const char *write_file(const char *name, const void *data, size_t n)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

START_TEST(test_file_errors)
{
	struct mc_config c;
	char path[128];
	struct mc_err me = {0};
	const char *p;

	mc_config_init(&c);
	snprintf(path, sizeof(path), "%s/missing.json", tmpdir);
	ck_assert_int_eq(mc_config_read_file(&c, path, NULL, &me), -EINVAL);
	ck_assert_ptr_nonnull(strstr(me.msg, "missing.json"));
	ck_assert_ptr_nonnull(strstr(me.msg, "No such file"));

	/* a directory */
	ck_assert_int_eq(mc_config_read_file(&c, tmpdir, NULL, &me), -EINVAL);
	ck_assert_ptr_nonnull(strstr(me.msg, tmpdir));

	p = write_file("empty.json", "", 0);
	ck_assert_int_eq(mc_config_read_file(&c, p, NULL, &me), -EINVAL);
	ck_assert_ptr_nonnull(strstr(me.msg, "empty"));
	ck_assert_ptr_nonnull(strstr(me.msg, "empty.json"));

	p = write_file("bad.json", "{\"http_port\":", 13);
	ck_assert_int_eq(mc_config_read_file(&c, p, NULL, &me), -EINVAL);
	ck_assert_ptr_nonnull(strstr(me.msg, "bad.json"));

	/* larger than the limit: refused, not read forever */
	{
		size_t n = (1u << 20) + 10;
		char *big = malloc(n);

		ck_assert_ptr_nonnull(big);
		memset(big, ' ', n);
		big[0] = '{';
		big[n - 1] = '}';
		p = write_file("big.json", big, n);
		free(big);
		ck_assert_int_eq(mc_config_read_file(&c, p, NULL, &me),
				 -EINVAL);
		ck_assert_ptr_nonnull(strstr(me.msg, "larger"));
	}
	ck_assert_uint_eq(c.http_port, 8080);
	mc_config_release(&c);
}
END_TEST

START_TEST(test_file_good)
{
	static const char text[] = "{\"local_hostname\": \"n1\", "
				   "\"global_segment_size\": \"64mb\"}\n";
	struct mc_config c;
	struct mc_err me = {0};
	const char *p = write_file("good.json", text, strlen(text));

	mc_config_init(&c);
	ck_assert_int_eq(mc_config_load_file(&c, p, &me), 0);
	ck_assert_str_eq(c.hostname, "n1");
	ck_assert_uint_eq(c.segment_size, 64ull << 20);
	mc_config_release(&c);
}
END_TEST

/* ------------------------------------------------------------ argv */

#define MAXARGS 16

struct run {
	int rc;
	char out[8192];
	char err[8192];
};

/* Parses a NULL-terminated argument list; argv[0] is supplied. */
static void run_args(struct mc_config *c, struct run *res,
		     const char *const *args)
{
	char *argv[MAXARGS + 2];
	int argc = 0;
	FILE *out = tmpfile(), *err = tmpfile();

	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_nonnull(err);
	argv[argc++] = (char *)"mooncaked";
	while (*args && argc <= MAXARGS)
		argv[argc++] = (char *)*args++;
	argv[argc] = NULL;
	res->rc = mc_config_parse_args(c, argc, argv, out, err);
	fflush(out);
	fflush(err);
	strcpy(res->out, read_stream(out));
	strcpy(res->err, read_stream(err));
	fclose(out);
	fclose(err);
}

static const struct argv_case {
	const char *args[MAXARGS];
	const char *err; /* NULL: parses; else substring of stderr */
	const char *key, *want;
} argv_cases[] = {
	{{NULL}, NULL, "http_port", "8080"},
	{{"--port", "0", NULL}, NULL, "http_port", "0"},
	{{"--port=9090", NULL}, NULL, "http_port", "9090"},
	{{"--host", "::", NULL}, NULL, "http_host", "::"},
	{{"--mountpoint", "/tmp/m", NULL}, NULL, "mountpoint", "/tmp/m"},
	{{"--no-fuse", NULL}, NULL, "enable_fuse", "0"},
	{{"--hostname", "n2", NULL}, NULL, "local_hostname", "n2"},
	{{"--segment-size", "64M", NULL},
	 NULL,
	 "global_segment_size",
	 "67108864"},
	{{"--segment-size", "0", NULL}, NULL, "global_segment_size", "0"},
	{{"--protocol", "rdma", NULL}, NULL, "protocol", "rdma"},
	{{"--device", "mlx5_1", NULL}, NULL, "device_name", "mlx5_1"},
	{{"--transfer-port", "4000", NULL}, NULL, "transfer_port", "4000"},
	{{"--transfer-host", "::", NULL}, NULL, "transfer_host", "::"},
	{{"--no-http-metadata", NULL},
	 NULL,
	 "enable_http_metadata_server",
	 "0"},
	{{"--metadata-cluster-id", "prod", NULL},
	 NULL,
	 "metadata_cluster_id",
	 "prod"},
	{{"--metadata-cluster-id", "a b", NULL}, "'a b'", NULL, NULL},
	{{"--max-segment-size", "1G", NULL},
	 NULL,
	 "max_segment_size",
	 "1073741824"},
	{{"--replicas", "2", NULL}, NULL, "replica_num", "2"},
	{{"--lease-ttl", "200", NULL}, NULL, "default_kv_lease_ttl", "200"},
	{{"--eviction-high-watermark", "0.8", NULL},
	 NULL,
	 "eviction_high_watermark_ratio",
	 "0.8"},
	{{"--eviction-ratio", "0.1", NULL}, NULL, "eviction_ratio", "0.1"},
	{{"--max-body", "1M", NULL}, NULL, "max_body_size", "1048576"},
	{{"--auth-token-file", "/tok", NULL}, NULL, "auth_token_file", "/tok"},
	{{"--allow-other", NULL}, NULL, "allow_other", "1"},
	{{"--put-timeout", "50", NULL}, NULL, "put_start_timeout", "50"},
	{{"--log-level", "warn", NULL}, NULL, "log_level", "1"},
	{{"-D", "http_port=1234", NULL}, NULL, "http_port", "1234"},
	{{"-Dhttp_port=1235", NULL}, NULL, "http_port", "1235"},
	{{"-D", "enable_fuse=no", NULL}, NULL, "enable_fuse", "0"},
	{{"-D", "device_name=", NULL}, NULL, "device_name", ""},
	{{"-D", "local_hostname=a=b", NULL}, NULL, "local_hostname", "a=b"},
	/* two doors on one port and address: neither names the other */
	{{"--port", "9000", "--transfer-port", "9000", NULL},
	 "--port and --transfer-port are both 9000: each door needs a port of "
	 "its own",
	 NULL,
	 NULL},
	{{"--port", "50051", NULL},
	 "--port and --rpc-port are both 50051",
	 NULL,
	 NULL},
	{{"--transfer-port", "9001", "--rpc-port", "9001", NULL},
	 "--transfer-port and --rpc-port are both 9001",
	 NULL,
	 NULL},
	{{"--port", "9000", "--transfer-port", "9000", "--transfer-host",
	  "0.0.0.0", NULL},
	 "both 9000",
	 NULL,
	 NULL},
	/* apart: another address, or 0 (the kernel picks) for both */
	{{"--port", "9000", "--transfer-port", "9000", "--transfer-host",
	  "127.0.0.2", NULL},
	 NULL,
	 "transfer_port",
	 "9000"},
	{{"--port", "0", "--transfer-port", "0", "--rpc-port", "0", NULL},
	 NULL,
	 "http_port",
	 "0"},
	/* in order: the last one wins */
	{{"--port", "1", "-D", "http_port=2", NULL}, NULL, "http_port", "2"},
	{{"-D", "http_port=2", "--port", "1", NULL}, NULL, "http_port", "1"},
	{{"--port", "1", "--port", "3", NULL}, NULL, "http_port", "3"},

	/* errors name the option or key */
	{{"--bogus", NULL}, "unknown option '--bogus'", NULL, NULL},
	{{"-x", NULL}, "unknown option '-x'", NULL, NULL},
	{{"--port", NULL}, "'--port' needs an argument", NULL, NULL},
	{{"-D", NULL}, "'-D' needs an argument", NULL, NULL},
	{{"--no-fuse=1", NULL},
	 "option '--no-fuse' takes no value",
	 NULL,
	 NULL},
	{{"--help=1", NULL}, "option '--help' takes no value", NULL, NULL},
	{{"--po", "0", NULL}, "option '--po' is ambiguous (--", NULL, NULL},
	{{"--no-fus", NULL}, NULL, "enable_fuse", "0"},
	{{"stray", NULL}, "unexpected argument 'stray'", NULL, NULL},
	/* one file: a second --config would drop the first silently */
	{{"--config", "/a.json", "--config", "/b.json", NULL},
	 "'--config' given twice",
	 NULL,
	 NULL},
	{{"--transfer-congestion", "", NULL},
	 "'--transfer-congestion'",
	 NULL,
	 NULL},
	{{"-D", "http_congestion=", NULL}, "'http_congestion'", NULL, NULL},
	{{"--port", "70000", NULL}, "'--port'", NULL, NULL},
	{{"--port", "abc", NULL},
	 "invalid value 'abc' for '--port': not a port number",
	 NULL,
	 NULL},
	{{"--port", "", NULL}, "'--port'", NULL, NULL},
	{{"--transfer-port", "-1", NULL}, "'--transfer-port'", NULL, NULL},
	{{"--protocol", "udp", NULL}, "'--protocol'", NULL, NULL},
	{{"--replicas", "0", NULL}, "'--replicas'", NULL, NULL},
	{{"--replicas", "9", NULL}, "'--replicas'", NULL, NULL},
	{{"--segment-size", "12q", NULL}, "'--segment-size'", NULL, NULL},
	{{"--max-segment-size", "1k", NULL},
	 "'--max-segment-size'",
	 NULL,
	 NULL},
	{{"--max-body", "0", NULL}, "'--max-body'", NULL, NULL},
	{{"--lease-ttl", "0", NULL}, "'--lease-ttl'", NULL, NULL},
	{{"--put-timeout", "x", NULL}, "'--put-timeout'", NULL, NULL},
	{{"--eviction-high-watermark", "2", NULL},
	 "'--eviction-high-watermark'",
	 NULL,
	 NULL},
	{{"--eviction-ratio", "-1", NULL}, "'--eviction-ratio'", NULL, NULL},
	{{"--log-level", "loud", NULL}, "'--log-level'", NULL, NULL},
	{{"--hostname", "", NULL}, "'--hostname'", NULL, NULL},
	{{"--auth-token-file", "", NULL}, "'--auth-token-file'", NULL, NULL},
	{{"-D", "nokey", NULL}, "'nokey'", NULL, NULL},
	{{"-D", "=1", NULL}, "expected KEY=VALUE", NULL, NULL},
	{{"-D", "", NULL}, "expected KEY=VALUE", NULL, NULL},
	{{"-D", "nokey=1", NULL}, "unknown config key 'nokey'", NULL, NULL},
	{{"-D", "http_port=x", NULL}, "'http_port'", NULL, NULL},
	{{"-D", "enable_fuse=maybe", NULL}, "'enable_fuse'", NULL, NULL},
	{{"-D", "config=/x", NULL}, "'config'", NULL, NULL},
	{{"-D",
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaa=1",
	  NULL},
	 "unknown config key",
	 NULL,
	 NULL},
	{{"--config", "/nonexistent/mooncake.json", NULL},
	 "/nonexistent/mooncake.json",
	 NULL,
	 NULL},
	/* the first error stops parsing */
	{{"--port", "abc", "--replicas", "0", NULL}, "'--port'", NULL, NULL},
};

START_TEST(test_argv_table)
{
	const struct argv_case *t = &argv_cases[_i];
	struct mc_config c;
	struct run *res = malloc(sizeof(*res));
	char got[256];

	ck_assert_ptr_nonnull(res);
	mc_config_init(&c);
	run_args(&c, res, t->args);
	if (!t->err) {
		ck_assert_msg(res->rc == 0, "rc %d: %s", res->rc, res->err);
		ck_assert_str_eq(res->err, "");
		field_text(&c, t->key, got, sizeof(got));
		ck_assert_str_eq(got, t->want);
	} else {
		char *nl;

		ck_assert_int_eq(res->rc, -EINVAL);
		ck_assert_msg(strstr(res->err, t->err), "'%s' not in '%s'",
			      t->err, res->err);
		ck_assert(!strncmp(res->err, "mooncaked: ", 11));
		/* exactly one line */
		nl = strchr(res->err, '\n');
		ck_assert_ptr_nonnull(nl);
		ck_assert_str_eq(nl, "\n");
		ck_assert_str_eq(res->out, "");
	}
	mc_config_release(&c);
	free(res);
}
END_TEST

START_TEST(test_argv_help_version)
{
	static const char *const opts[] = {
		"--config",
		"-D",
		"--port",
		"--host",
		"--mountpoint",
		"--no-fuse",
		"--hostname",
		"--segment-size",
		"--protocol",
		"--device",
		"--transfer-port",
		"--transfer-host",
		"--no-http-metadata",
		"--metadata-cluster-id",
		"--max-segment-size",
		"--replicas",
		"--lease-ttl",
		"--eviction-high-watermark",
		"--eviction-ratio",
		"--max-body",
		"--auth-token-file",
		"--allow-other",
		"--put-timeout",
		"--log-level",
		"--version",
		"--help",
	};
	struct mc_config c;
	struct run *res = malloc(sizeof(*res));
	const char *help[] = {"--port", "abc", "--help", NULL};
	const char *version[] = {"--version", NULL};
	const char *bad_then_help[] = {"--bogus", "--help", NULL};

	ck_assert_ptr_nonnull(res);
	mc_config_init(&c);
	/* --help wins over bad values: they are not parsed yet */
	run_args(&c, res, help);
	ck_assert_int_eq(res->rc, 1);
	ck_assert_str_eq(res->err, "");
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		ck_assert_msg(strstr(res->out, opts[i]), "%s not in --help",
			      opts[i]);
	ck_assert_ptr_nonnull(strstr(res->out, "usage: mooncaked"));

	run_args(&c, res, version);
	ck_assert_int_eq(res->rc, 1);
	ck_assert_str_eq(res->out, "mooncaked " MC_VERSION "\n");

	run_args(&c, res, bad_then_help);
	ck_assert_int_eq(res->rc, -EINVAL);
	mc_config_release(&c);
	free(res);
}
END_TEST

START_TEST(test_argv_config_first)
{
	static const char text[] =
		"{\"http_port\": 7000, \"local_hostname\": \"filehost\", "
		"\"replica_num\": 2, \"metadata_server\": \"x\"}";
	struct mc_config c;
	struct run *res = malloc(sizeof(*res));
	const char *p = write_file("c.json", text, strlen(text));
	char path[128];
	const char *after[] = {"--port",   "1",	 "-D", "replica_num=3",
			       "--config", path, NULL};
	const char *only[] = {"--config", path, "--hostname", "cli", NULL};

	ck_assert_ptr_nonnull(res);
	strcpy(path, p);
	mc_config_init(&c);
	/* the file is read first wherever --config stands */
	run_args(&c, res, after);
	ck_assert_int_eq(res->rc, 0);
	ck_assert_uint_eq(c.http_port, 1);
	ck_assert_uint_eq(c.replicas, 3);
	ck_assert_str_eq(c.hostname, "filehost");
	ck_assert_str_eq(c.config_file, path);
	/* the unused key: one warning line on errout, not an error */
	ck_assert_ptr_nonnull(strstr(res->err, "'metadata_server'"));
	ck_assert_ptr_nonnull(strstr(res->err, "warning"));
	mc_config_release(&c);

	mc_config_init(&c);
	run_args(&c, res, only);
	ck_assert_int_eq(res->rc, 0);
	ck_assert_uint_eq(c.http_port, 7000);
	ck_assert_str_eq(c.hostname, "cli");
	mc_config_release(&c);
	free(res);
}
END_TEST

START_TEST(test_argv_config_bad)
{
	static const char *const bodies[] = {
		"",
		"{",
		"[]",
		"{\"nokey\": 1}",
		"{\"http_port\": \"x\"}",
		"{\"http_port\": 1} trailing",
	};
	static const char *const want[] = {
		"empty",   "malformed",	  "not a JSON object",
		"'nokey'", "'http_port'", "malformed",
	};

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		struct mc_config c;
		struct run *res = malloc(sizeof(*res));
		char path[128];
		const char *args[] = {"--config", path, NULL};

		ck_assert_ptr_nonnull(res);
		strcpy(path,
		       write_file("bad.json", bodies[i], strlen(bodies[i])));
		mc_config_init(&c);
		run_args(&c, res, args);
		ck_assert_int_eq(res->rc, -EINVAL);
		ck_assert_msg(strstr(res->err, want[i]), "'%s' not in '%s'",
			      want[i], res->err);
		mc_config_release(&c);
		free(res);
	}
}
END_TEST

START_TEST(test_argv_define_unused)
{
	struct mc_config c;
	struct run *res = malloc(sizeof(*res));
	const char *args[] = {"-D", "local_buffer_size=1G", NULL};

	ck_assert_ptr_nonnull(res);
	mc_config_init(&c);
	run_args(&c, res, args);
	ck_assert_int_eq(res->rc, 0);
	ck_assert_ptr_nonnull(strstr(res->err, "'local_buffer_size'"));
	ck_assert_ptr_nonnull(strstr(res->err, "unused"));
	ck_assert_int_eq(mc_config_key_unused("local_buffer_size"), 1);
	ck_assert_int_eq(mc_config_key_unused("http_port"), 0);
	ck_assert_int_eq(mc_config_key_unused("nokey"), 0);
	mc_config_release(&c);
	free(res);
}
END_TEST

/* Parsing twice in one process must start afresh (getopt state). */
START_TEST(test_argv_twice)
{
	struct mc_config c;
	struct run *res = malloc(sizeof(*res));
	const char *a[] = {"--port", "11", "--replicas", "2", NULL};
	const char *b[] = {"--replicas", "4", NULL};

	ck_assert_ptr_nonnull(res);
	mc_config_init(&c);
	run_args(&c, res, a);
	ck_assert_int_eq(res->rc, 0);
	run_args(&c, res, b);
	ck_assert_int_eq(res->rc, 0);
	ck_assert_uint_eq(c.http_port, 11);
	ck_assert_uint_eq(c.replicas, 4);
	mc_config_release(&c);
	free(res);
}
END_TEST

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("set");

	tcase_add_test(tc, test_defaults);
	tcase_add_loop_test(tc, test_set_table, 0, NELEM(set_cases));
	tcase_add_test(tc, test_set_message);
	suite_add_tcase(s, tc);

	tc = tcase_create("json");
	tcase_add_loop_test(tc, test_json_table, 0, NELEM(json_cases));
	tcase_add_test(tc, test_json_nul_and_nesting);
	tcase_add_test(tc, test_json_unused_warns);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, test_file_errors);
	tcase_add_test(tc, test_file_good);
	tcase_add_test(tc, test_argv_config_first);
	tcase_add_test(tc, test_argv_config_bad);
	suite_add_tcase(s, tc);

	tc = tcase_create("argv");
	tcase_add_loop_test(tc, test_argv_table, 0, NELEM(argv_cases));
	tcase_add_test(tc, test_argv_help_version);
	tcase_add_test(tc, test_argv_define_unused);
	tcase_add_test(tc, test_argv_twice);
	suite_add_tcase(s, tc);
	return s;
}

MC_CHECK_MAIN(config_suite)
