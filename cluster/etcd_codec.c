/*
 * etcd_codec.c - the etcd client's codec (see etcd_int.h): base64, the
 * JSON gateway's answers and the lines of its watch and observe streams.
 * Nothing here opens a connection, so a table of hostile answers drives
 * every function.
 */
#include "autoconfig.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "etcd.h"
#include "etcd_int.h"

/* --- errors -------------------------------------------------------------- */

int mc_etcd_fail(struct mc_err *err, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mc_err_vset(err, MC_RPC_FAIL, fmt, ap);
	va_end(ap);
	return ret;
}

/* --- base64 -------------------------------------------------------------- */

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *mc_b64_encode(const void *p, size_t n)
{
	const unsigned char *s = p;
	char *out, *o;

	if (n > (SIZE_MAX - 1) / 4 * 3 - 3)
		return NULL;
	out = malloc((n + 2) / 3 * 4 + 1);
	if (!out)
		return NULL;
	o = out;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;
		size_t left = n - i;

		if (left > 1)
			v |= (uint32_t)s[i + 1] << 8;
		if (left > 2)
			v |= s[i + 2];
		*o++ = b64[v >> 18 & 63];
		*o++ = b64[v >> 12 & 63];
		*o++ = left > 1 ? b64[v >> 6 & 63] : '=';
		*o++ = left > 2 ? b64[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static int b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int mc_b64_decode(const char *s, size_t slen, char **out, size_t *olen)
{
	size_t pad = 0, n;
	unsigned char *d;

	if (slen % 4)
		return -EPROTO;
	if (slen && s[slen - 1] == '=')
		pad++;
	if (slen > 1 && s[slen - 2] == '=')
		pad++;
	n = slen / 4 * 3 - pad;
	d = malloc(n + 1);
	if (!d)
		return -ENOMEM;
	for (size_t i = 0, j = 0; i < slen; i += 4) {
		int v[4];
		bool last = i + 4 == slen;

		for (int k = 0; k < 4; k++) {
			if (last && k >= 4 - (int)pad) {
				v[k] = 0;
				continue;
			}
			v[k] = b64_val((unsigned char)s[i + k]);
			if (v[k] < 0) {
				free(d);
				return -EPROTO;
			}
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
			     (uint32_t)v[2] << 6 | (uint32_t)v[3];
		d[j++] = w >> 16;
		if (j < n)
			d[j++] = w >> 8 & 0xff;
		if (j < n)
			d[j++] = w & 0xff;
	}
	d[n] = '\0';
	*out = (char *)d;
	*olen = n;
	return 0;
}

/* --- JSON helpers -------------------------------------------------------- */

int mc_etcd_json_int64(struct json_object *o, const char *name, int64_t *v,
		       struct mc_err *err)
{
	struct json_object *f;
	const char *s;
	char *end;

	*v = 0;
	if (!json_object_object_get_ex(o, name, &f) || !f)
		return 0;
	switch (json_object_get_type(f)) {
	case json_type_int:
		*v = json_object_get_int64(f);
		return 0;
	case json_type_string:
		s = json_object_get_string(f);
		errno = 0;
		long long x = strtoll(s, &end, 10);
		if (!*s || *end || errno)
			break;
		*v = x;
		return 0;
	default:
		break;
	}
	return mc_etcd_fail(err, -EPROTO, "etcd sent a bad number in '%s'",
			    name);
}

int mc_etcd_json_bytes(struct json_object *o, const char *name, char **p,
		       size_t *n, struct mc_err *err)
{
	struct json_object *f;
	int rc;

	*p = NULL;
	*n = 0;
	if (!json_object_object_get_ex(o, name, &f) || !f) {
		/* an omitted key or value is the empty string */
		*p = calloc(1, 1);
		return *p ? 0 : mc_etcd_fail(err, -ENOMEM, "out of memory");
	}
	if (!json_object_is_type(f, json_type_string))
		return mc_etcd_fail(err, -EPROTO, "etcd sent a non-string '%s'",
				    name);
	rc = mc_b64_decode(json_object_get_string(f),
			   (size_t)json_object_get_string_len(f), p, n);
	if (rc == -EPROTO)
		return mc_etcd_fail(err, rc, "etcd sent bad base64 in '%s'",
				    name);
	if (rc)
		return mc_etcd_fail(err, rc, "out of memory");
	return 0;
}

void mc_etcd_kv_release(struct mc_etcd_kv *kv)
{
	if (!kv)
		return;
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof(*kv));
}

void mc_etcd_kvs_release(struct mc_etcd_kvs *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		mc_etcd_kv_release(&r->kvs[i]);
	free(r->kvs);
	memset(r, 0, sizeof(*r));
}

void mc_etcd_leader_key_release(struct mc_etcd_leader_key *lk)
{
	if (!lk)
		return;
	free(lk->name);
	free(lk->key);
	memset(lk, 0, sizeof(*lk));
}

int mc_etcd_parse_kv(struct json_object *o, struct mc_etcd_kv *kv,
		     struct mc_err *err)
{
	int rc;

	memset(kv, 0, sizeof(*kv));
	if (!json_object_is_type(o, json_type_object))
		return mc_etcd_fail(
			err, -EPROTO,
			"etcd sent a key-value that is not an object");
	if ((rc = mc_etcd_json_bytes(o, "key", &kv->key, &kv->key_len, err)) ||
	    (rc = mc_etcd_json_bytes(o, "value", &kv->value, &kv->value_len,
				     err)) ||
	    (rc = mc_etcd_json_int64(o, "create_revision", &kv->create_revision,
				     err)) ||
	    (rc = mc_etcd_json_int64(o, "mod_revision", &kv->mod_revision,
				     err)) ||
	    (rc = mc_etcd_json_int64(o, "version", &kv->version, err)) ||
	    (rc = mc_etcd_json_int64(o, "lease", &kv->lease, err))) {
		mc_etcd_kv_release(kv);
		return rc;
	}
	if (!kv->key_len) {
		mc_etcd_kv_release(kv);
		return mc_etcd_fail(err, -EPROTO,
				    "etcd sent a key-value without a key");
	}
	/* as a header's revision (mc_etcd_header_rev) */
	if (kv->create_revision == INT64_MAX || kv->mod_revision == INT64_MAX) {
		mc_etcd_kv_release(kv);
		return mc_etcd_fail(err, -EPROTO,
				    "etcd sent a revision out of range");
	}
	return 0;
}

int mc_etcd_parse_kvs(struct json_object *o, const char *field,
		      struct mc_etcd_kvs *r, struct mc_err *err)
{
	struct json_object *arr;
	size_t n;
	int rc;

	if (!json_object_object_get_ex(o, field, &arr) || !arr)
		return 0;
	if (!json_object_is_type(arr, json_type_array))
		return mc_etcd_fail(err, -EPROTO, "etcd sent a non-array '%s'",
				    field);
	n = json_object_array_length(arr);
	if (!n)
		return 0;
	r->kvs = calloc(n, sizeof(*r->kvs));
	if (!r->kvs)
		return mc_etcd_fail(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		rc = mc_etcd_parse_kv(json_object_array_get_idx(arr, i),
				      &r->kvs[i], err);
		if (rc) {
			mc_etcd_kvs_release(r);
			return rc;
		}
		r->n++;
	}
	return 0;
}

int mc_etcd_header_rev(struct json_object *o, int64_t *rev, struct mc_err *err)
{
	struct json_object *h;
	int rc;

	*rev = 0;
	if (!json_object_object_get_ex(o, "header", &h) || !h)
		return 0;
	if (!json_object_is_type(h, json_type_object))
		return mc_etcd_fail(err, -EPROTO,
				    "etcd sent a non-object 'header'");
	rc = mc_etcd_json_int64(h, "revision", rev, err);
	/* a watch resumes one past it: INT64_MAX has no next one */
	if (rc == 0 && (*rev < 0 || *rev == INT64_MAX))
		return mc_etcd_fail(err, -EPROTO,
				    "etcd sent a revision out of range");
	return rc;
}

bool mc_etcd_json_true(struct json_object *o, const char *name)
{
	struct json_object *f;

	return json_object_object_get_ex(o, name, &f) &&
	       json_object_is_type(f, json_type_boolean) &&
	       json_object_get_boolean(f);
}

/* gRPC status codes (grpc/codes) to errno. */
static int grpc_errno(int64_t code, const char *msg)
{
	switch (code) {
	case 1:
		return -ECANCELED;
	case 2:
		if (strstr(msg, "not leader"))
			return -EPERM;
		if (strstr(msg, "no leader") || strstr(msg, "session expired"))
			return -ENOENT;
		return -EIO;
	case 3:
		if (strstr(msg, "too large"))
			return -EMSGSIZE;
		return -EINVAL;
	case 4:
		return -ETIMEDOUT;
	case 5:
		return -ENOENT;
	case 6:
		return -EEXIST;
	case 7:
	case 16:
		return -EACCES;
	case 8:
		/* gRPC's own message limit, below etcd's request limit */
		if (strstr(msg, "larger than max"))
			return -EMSGSIZE;
		return -ENOSPC;
	case 11:
		return -ERANGE;
	case 12:
		return -ENOSYS;
	case 10:
	case 14:
		return -EAGAIN;
	default:
		return -EIO;
	}
}

/* The gateway's error object, unary ({"error","code","message"}) or
 * streamed ({"error":{"grpc_code","message",...}}). */
static int gateway_error(const char *path, struct json_object *o,
			 struct mc_err *err)
{
	struct json_object *e = NULL, *m;
	int64_t code = 0;
	const char *msg = "";

	if (!json_object_object_get_ex(o, "error", &e) || !e)
		return 0;
	if (json_object_is_type(e, json_type_object)) {
		mc_etcd_json_int64(e, "grpc_code", &code, NULL);
		if (json_object_object_get_ex(e, "message", &m) &&
		    json_object_is_type(m, json_type_string))
			msg = json_object_get_string(m);
	} else {
		mc_etcd_json_int64(o, "code", &code, NULL);
		if (json_object_is_type(e, json_type_string))
			msg = json_object_get_string(e);
		if (json_object_object_get_ex(o, "message", &m) &&
		    json_object_is_type(m, json_type_string))
			msg = json_object_get_string(m);
	}
	if (!code)
		code = 2;
	return mc_etcd_fail(err, grpc_errno(code, msg),
			    "etcd refused '%s': %.160s", path, msg);
}

int mc_etcd_answer(const char *path, long status, const char *body, size_t len,
		   struct json_object **out, struct mc_err *err)
{
	struct json_tokener *tok;
	struct json_object *o;
	int rc;

	*out = NULL;
	tok = json_tokener_new();
	if (!tok)
		return mc_etcd_fail(err, -ENOMEM, "out of memory");
	o = len <= INT32_MAX ? json_tokener_parse_ex(tok, body, (int)len)
			     : NULL;
	/* a whole object and nothing after it but white space */
	size_t used = o ? json_tokener_get_parse_end(tok) : 0;

	if (o && used < len && strspn(body + used, " \t\r\n") != len - used) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return mc_etcd_fail(
			err, -EPROTO,
			"'%s' answered HTTP %ld with something that is not "
			"etcd's JSON",
			path, status);
	}
	rc = gateway_error(path, o, err);
	if (!rc && status != 200)
		rc = mc_etcd_fail(err, -EPROTO, "'%s' answered HTTP %ld", path,
				  status);
	if (rc) {
		json_object_put(o);
		return rc;
	}
	*out = o;
	return 0;
}

/* --- streams ------------------------------------------------------------- */

static int64_t deliver(struct mc_etcd_stream *st, struct mc_etcd_event *ev)
{
	int64_t r = st->fn(st->arg, ev);

	if (r)
		st->action = r;
	return r;
}

int mc_etcd_stream_fail(struct mc_etcd_stream *st, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->why, sizeof(st->why), fmt, ap);
	va_end(ap);
	return rc;
}

static int watch_events(struct mc_etcd_stream *st, struct json_object *arr)
{
	struct mc_err err = {0, ""};
	size_t n = json_object_array_length(arr);

	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(arr, i);
		struct json_object *kv, *pkv, *t;
		struct mc_etcd_event ev = {0};
		int rc;

		if (!json_object_is_type(o, json_type_object) ||
		    !json_object_object_get_ex(o, "kv", &kv))
			return mc_etcd_stream_fail(
				st, -EPROTO, "etcd sent an event without kv");
		ev.type = MC_ETCD_EV_PUT;
		if (json_object_object_get_ex(o, "type", &t) && t) {
			const char *s = json_object_get_string(t);

			if (!json_object_is_type(t, json_type_string))
				s = "";
			if (!strcmp(s, "DELETE"))
				ev.type = MC_ETCD_EV_DELETE;
			else if (strcmp(s, "PUT"))
				return mc_etcd_stream_fail(
					st, -EPROTO,
					"etcd sent an event of unknown type");
		}
		rc = mc_etcd_parse_kv(kv, &ev.kv, &err);
		if (!rc && json_object_object_get_ex(o, "prev_kv", &pkv) && pkv)
			rc = mc_etcd_parse_kv(pkv, &ev.prev_kv, &err);
		if (!rc && ev.kv.mod_revision <= 0)
			rc = -EPROTO;
		if (rc) {
			mc_etcd_kv_release(&ev.kv);
			mc_etcd_kv_release(&ev.prev_kv);
			return mc_etcd_stream_fail(
				st, -EPROTO, "bad watch event: %s",
				err.msg[0] ? err.msg : "no mod revision");
		}
		ev.revision = ev.kv.mod_revision;
		/* a reconnect resumes after the last event delivered, even
		 * when the callback asks for something else: it decides */
		if (ev.revision >= st->next_rev)
			st->next_rev = ev.revision + 1;
		int64_t r = deliver(st, &ev);

		mc_etcd_kv_release(&ev.kv);
		mc_etcd_kv_release(&ev.prev_kv);
		if (r)
			return 1;
	}
	return 0;
}

int mc_etcd_stream_line(struct mc_etcd_stream *st, const char *line, size_t len)
{
	struct json_object *o = NULL, *res, *evs;
	struct mc_err err = {0, ""};
	struct mc_etcd_event ev = {0};
	int64_t rev = 0, compact = 0;
	int rc;

	if (strspn(line, " \t\r") >= len)
		return 0; /* an empty line between chunks */
	rc = mc_etcd_answer(st->observe ? "/v3/election/observe" : "/v3/watch",
			    200, line, len, &o, &err);
	if (rc)
		return mc_etcd_stream_fail(st, rc == -EPROTO ? -EPROTO : 1,
					   "%s", err.msg);
	if (!json_object_object_get_ex(o, "result", &res) ||
	    !json_object_is_type(res, json_type_object)) {
		json_object_put(o);
		return mc_etcd_stream_fail(
			st, -EPROTO,
			"etcd sent a stream line without a result");
	}
	if ((rc = mc_etcd_header_rev(res, &rev, &err))) {
		json_object_put(o);
		return mc_etcd_stream_fail(st, rc, "%s", err.msg);
	}
	if (st->observe) {
		struct json_object *kv;

		if (!json_object_object_get_ex(res, "kv", &kv) || !kv ||
		    mc_etcd_parse_kv(kv, &ev.kv, &err)) {
			json_object_put(o);
			return mc_etcd_stream_fail(
				st, -EPROTO, "bad observe answer: %s",
				err.msg[0] ? err.msg : "no kv");
		}
		ev.type = MC_ETCD_EV_LEADER;
		ev.revision = ev.kv.mod_revision;
		if (!st->created) {
			struct mc_etcd_event c = {.type = MC_ETCD_EV_CREATED,
						  .revision = rev};

			st->created = true;
			if (deliver(st, &c)) {
				mc_etcd_kv_release(&ev.kv);
				json_object_put(o);
				return 1;
			}
		}
		rc = deliver(st, &ev) ? 1 : 0;
		mc_etcd_kv_release(&ev.kv);
		json_object_put(o);
		return rc;
	}
	if ((rc = mc_etcd_json_int64(res, "compact_revision", &compact,
				     &err))) {
		json_object_put(o);
		return mc_etcd_stream_fail(st, rc, "%s", err.msg);
	}
	if (mc_etcd_json_true(res, "canceled")) {
		struct json_object *why;
		char reason[161] = "";

		if (json_object_object_get_ex(res, "cancel_reason", &why) &&
		    json_object_is_type(why, json_type_string))
			snprintf(reason, sizeof(reason), "%s",
				 json_object_get_string(why));
		json_object_put(o);
		if (compact > 0) {
			ev.type = MC_ETCD_EV_COMPACTED;
			ev.revision = compact;
			int64_t r = deliver(st, &ev);

			if (!r)
				st->action = compact;
			return mc_etcd_stream_fail(st, 1,
						   "watch revision %" PRId64
						   " is compacted (at %" PRId64
						   ")",
						   st->next_rev, compact);
		}
		return mc_etcd_stream_fail(
			st, 1, "etcd cancelled the watch: %s",
			*reason ? reason : "no reason given");
	}
	if (mc_etcd_json_true(res, "created")) {
		st->created = true;
		if (!st->next_rev)
			st->next_rev = rev + 1;
		ev.type = MC_ETCD_EV_CREATED;
		ev.revision = rev;
		rc = deliver(st, &ev) ? 1 : 0;
		json_object_put(o);
		return rc;
	}
	if (!st->created) {
		json_object_put(o);
		return mc_etcd_stream_fail(
			st, -EPROTO, "etcd sent watch events before 'created'");
	}
	if (json_object_object_get_ex(res, "events", &evs) && evs) {
		if (!json_object_is_type(evs, json_type_array)) {
			json_object_put(o);
			return mc_etcd_stream_fail(
				st, -EPROTO, "etcd sent non-array 'events'");
		}
		if (json_object_array_length(evs)) {
			rc = watch_events(st, evs);
			json_object_put(o);
			return rc;
		}
	}
	/* no events: a progress notification; all before rev was sent */
	if (rev >= st->next_rev)
		st->next_rev = rev + 1;
	ev.type = MC_ETCD_EV_PROGRESS;
	ev.revision = rev;
	rc = deliver(st, &ev) ? 1 : 0;
	json_object_put(o);
	return rc;
}
