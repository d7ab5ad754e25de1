/*
 * fuzz_etcd.c - a fuzz target for the etcd client's codec
 * (cluster/etcd_codec.c): what etcd's JSON gateway sends is decoded here
 * before the client acts on it, and a broken or hostile proxy in front of
 * etcd can send anything.
 *
 * The first byte picks what the rest is: a unary answer (with a status
 * the second byte picks), the lines of a watch or observe stream (split
 * at newlines, fed to one stream state as a connection would), a base64
 * text, a node's record as another node registered it (member.c), or the
 * head of another node's HTTP answer (hclient.c, the internal API's
 * client). What must hold, whatever the bytes: no crash or sanitizer
 * report; an answer is either a JSON object or an error with a message;
 * every event a stream delivers has a type the header names, and the
 * resume revision never goes back; base64 that decodes re-encodes to a
 * text that decodes to the same bytes, and any bytes encode and decode
 * back to themselves; a node record is refused with a message or names
 * that node and an HTTP endpoint; a head is refused or has a status in
 * 100..599.
 *
 * Built as every target of tests/fuzz/ is (fuzz.h): a libFuzzer target
 * under make fuzz, a replayer of tests/fuzz/corpus/etcd in make check.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "etcd_int.h"
#include "fuzz.h"
#include "hclient.h"
#include "member.h"

static int64_t on_event(void *arg, const struct mc_etcd_event *ev)
{
	unsigned *n = arg;

	fuzz_must(ev->type <= MC_ETCD_EV_DISCONNECTED, "event type %d",
		  (int)ev->type);
	fuzz_must(ev->kv.key || !ev->kv.key_len, "a key length without a key");
	/* the callback's answers steer the stream: try each now and then */
	return (++*n % 7 == 0) ? 1 : 0;
}

static void answer(const uint8_t *data, size_t size)
{
	static const long status[] = {200, 400, 404, 500, 503, 0};
	long st = size ? status[data[0] % 6] : 200;
	struct json_object *o = NULL;
	struct mc_err err = {0, ""};
	char *body = fuzz_strndup(data + (size > 0), size - (size > 0));
	int rc = mc_etcd_answer("/v3/kv/range", st, body, strlen(body), &o,
				&err);

	if (rc == 0) {
		struct mc_etcd_kvs kvs = {0};
		int64_t rev;

		fuzz_must(json_object_is_type(o, json_type_object),
			  "an answer that is not an object");
		if (mc_etcd_parse_kvs(o, "kvs", &kvs, &err) == 0)
			mc_etcd_kvs_release(&kvs);
		mc_etcd_header_rev(o, &rev, &err);
		json_object_put(o);
	} else {
		fuzz_must(rc < 0 && err.msg[0], "an error without a message");
	}
	free(body);
}

static void stream(const uint8_t *data, size_t size, bool observe)
{
	unsigned n = 0;
	struct mc_etcd_stream st = {
		.observe = observe,
		.fn = on_event,
		.arg = &n,
	};
	char *text = fuzz_strndup(data, size);
	char *line = text;

	for (;;) {
		char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		int64_t before = st.next_rev;
		int rc = mc_etcd_stream_line(&st, line, len);

		fuzz_must(rc == 0 || rc == 1 || rc == -EPROTO, "line gave %d",
			  rc);
		fuzz_must(st.next_rev >= before,
			  "the resume revision went back");
		if (rc == -EPROTO)
			fuzz_must(st.why[0], "-EPROTO without a reason");
		if (rc || !nl)
			break;
		line = nl + 1;
	}
	free(text);
}

static void base64(const uint8_t *data, size_t size)
{
	char *out, *again, *enc = mc_b64_encode(data, size);
	size_t olen, alen;

	fuzz_must(enc, "out of memory");
	fuzz_must(mc_b64_decode(enc, strlen(enc), &out, &olen) == 0,
		  "our own base64 did not decode");
	fuzz_must(olen == size && !memcmp(out, data, size),
		  "base64 did not round-trip");
	free(out);
	free(enc);
	if (mc_b64_decode((const char *)data, size, &out, &olen))
		return;
	enc = mc_b64_encode(out, olen);
	fuzz_must(enc, "out of memory");
	fuzz_must(mc_b64_decode(enc, strlen(enc), &again, &alen) == 0 &&
			  alen == olen && !memcmp(again, out, olen),
		  "decoded base64 did not re-encode to the same bytes");
	free(again);
	free(enc);
	free(out);
}

/* A node's record as another node wrote it under nodes/n1 (member.c). */
static void node_record(const uint8_t *data, size_t size)
{
	struct mc_member_node n;
	struct mc_err err = {0, ""};
	int rc = mc_member_node_parse("n1", (const char *)data, size, &n, &err);

	if (rc) {
		fuzz_must(rc == -EINVAL && err.msg[0], "node record %d '%s'",
			  rc, err.msg);
		return;
	}
	fuzz_must(!strcmp(n.id, "n1") && n.http[0], "a node record '%s' '%s'",
		  n.id, n.http);
	fuzz_must(strlen(n.http) < sizeof(n.http) &&
			  strlen(n.transfer) < sizeof(n.transfer) &&
			  strlen(n.hostname) < sizeof(n.hostname),
		  "a field past its buffer");
}

/* The head of another node's HTTP answer (hclient.c). */
static void http_head(const uint8_t *data, size_t size)
{
	int status = 0;
	size_t clen = 7;
	bool close = false;
	int rc = hclient_parse_head((const char *)data, size, &status, &clen,
				    &close);

	fuzz_must(rc == 0 || rc == -EPROTO, "head %d", rc);
	if (rc == 0)
		fuzz_must(status >= 100 && status <= 599 && size >= 13,
			  "a head of %zu bytes with status %d", size, status);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	/* 4 and 5 were added later: 0 to 3 keep what they chose */
	if (data[0] % 8 == 4) {
		node_record(data + 1, size - 1);
		return 0;
	}
	if (data[0] % 8 == 5) {
		http_head(data + 1, size - 1);
		return 0;
	}
	switch (data[0] % 4) {
	case 0:
		answer(data + 1, size - 1);
		break;
	case 1:
		stream(data + 1, size - 1, false);
		break;
	case 2:
		stream(data + 1, size - 1, true);
		break;
	default:
		base64(data + 1, size - 1);
		break;
	}
	return 0;
}
