/*
 * fuzz_config.c - the configuration (daemon/config.c): the JSON config
 * file and the command line (-D KEY=VALUE and the long options).
 *
 * The first byte picks the form: even, the rest is a config file's text;
 * odd, the rest is an argument vector, one argument per line, after
 * "mooncaked". Arguments holding '/' are dropped so the fuzzer opens no
 * file of the machine through --config (a config file is tested in the
 * first form).
 *
 * What must hold: no crash or leak; the answer is 0, 1 (--help or
 * --version), or -EINVAL with a one-line message; a configuration that
 * loads keeps the documented ranges (replicas 1..MC_REPLICA_MAX, ports
 * <= 65535, watermarks in range) and every string set is a string.
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "mooncake.h"

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	devnull = fopen("/dev/null", "w");
	fuzz_must(devnull, "/dev/null");
	return 0;
}

static void sane(const struct mc_config *c)
{
	fuzz_must(c->http_port <= 65535 && c->transfer_port <= 65535,
		  "port out of range");
	fuzz_must(c->replicas >= 1 && c->replicas <= MC_REPLICA_MAX,
		  "replicas %u", c->replicas);
	fuzz_must(c->high_watermark > 0 && c->high_watermark <= 1,
		  "high watermark %g", c->high_watermark);
	fuzz_must(c->evict_ratio >= 0 && c->evict_ratio <= 1, "evict ratio %g",
		  c->evict_ratio);
	fuzz_must(c->http_host && c->protocol && c->hostname,
		  "a string went NULL");
	fuzz_must(!strcmp(c->protocol, "tcp") || !strcmp(c->protocol, "rdma"),
		  "protocol '%s'", c->protocol);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mc_config c;
	struct mc_err err = {0};
	int rc;

	if (!size)
		return 0;
	mc_config_init(&c);
	if (!(data[0] & 1)) {
		rc = mc_config_load_json(&c, (const char *)data + 1, size - 1,
					 "fuzz.json", devnull, &err);
		fuzz_must(rc == 0 || (rc == -EINVAL && err.msg[0] &&
				      !strchr(err.msg, '\n')),
			  "load rc %d '%s'", rc, err.msg);
	} else {
		char *text = fuzz_strndup(data + 1, size - 1);
		char *argv[66] = {"mooncaked"}, *save = NULL, *tok;
		int argc = 1;

		for (tok = strtok_r(text, "\n", &save); tok && argc < 65;
		     tok = strtok_r(NULL, "\n", &save))
			if (!strchr(tok, '/'))
				argv[argc++] = tok;
		argv[argc] = NULL;
		rc = mc_config_parse_args(&c, argc, argv, devnull, devnull);
		fuzz_must(rc == 0 || rc == 1 || rc == -EINVAL, "args rc %d",
			  rc);
		free(text);
	}
	if (rc == 0)
		sane(&c);
	mc_config_release(&c);
	return 0;
}
