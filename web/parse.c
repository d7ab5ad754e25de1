/*
 * parse.c - percent-decoding, query parameters, keys, JSON bodies.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "json_strict.h"
#include "mooncake.h"
#include "parse.h"

ssize_t web_pct_decode(const char *src, size_t n, char *dst, bool plus)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= n)
				return -EINVAL;
			hi = mc_hexval((unsigned char)src[i + 1]);
			lo = mc_hexval((unsigned char)src[i + 2]);
			if (hi < 0 || lo < 0)
				return -EINVAL;
			dst[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+' && plus) {
			dst[o++] = ' ';
		} else {
			dst[o++] = (char)c;
		}
	}
	return (ssize_t)o;
}

const char *web_query_raw(const char *q, const char *name, size_t *len)
{
	size_t nl = strlen(name);

	while (q && *q) {
		const char *end = strchr(q, '&');
		size_t plen = end ? (size_t)(end - q) : strlen(q);

		if (plen >= nl && memcmp(q, name, nl) == 0 &&
		    (plen == nl || q[nl] == '=')) {
			const char *v = plen == nl ? q + nl : q + nl + 1;

			*len = plen - (size_t)(v - q);
			return v;
		}
		q = end ? end + 1 : NULL;
	}
	return NULL;
}

int web_query_get(const char *q, const char *name, struct mc_buf *b)
{
	size_t n;
	const char *v = web_query_raw(q, name, &n);
	ssize_t dn;

	mc_buf_reset(b);
	if (!v)
		return -ENOENT;
	mc_buf_grow(b, n);
	dn = web_pct_decode(v, n, b->data, true);
	if (dn < 0)
		return -EINVAL;
	b->len = (size_t)dn;
	b->data[dn] = '\0';
	return 0;
}

int web_key_check(const char *key, size_t n, struct mc_err *err)
{
	switch (mc_key_check(key, n)) {
	case MC_KEY_OK:
		return 0;
	case MC_KEY_EMPTY:
		mc_err_set(err, -EINVAL, MC_INVALID_KEY, "Missing key");
		break;
	case MC_KEY_TOO_LONG:
		mc_err_set(err, -EINVAL, MC_INVALID_KEY,
			   "Invalid key, longer than %d bytes", MC_KEY_MAX);
		break;
	case MC_KEY_HAS_NUL:
		mc_err_set(err, -EINVAL, MC_INVALID_KEY,
			   "Invalid key, must not contain NUL");
		break;
	}
	return -EINVAL;
}

int web_key_decode(const char *raw, size_t n, struct mc_buf *b,
		   struct mc_err *err)
{
	ssize_t dn;

	mc_buf_reset(b);
	mc_buf_grow(b, n);
	dn = web_pct_decode(raw, n, b->data, false);
	if (dn < 0) {
		return mc_err_set(err, -EINVAL, MC_INVALID_KEY,
				  "Invalid key, bad percent-encoding");
	}
	b->len = (size_t)dn;
	b->data[dn] = '\0';
	return web_key_check(b->data, b->len, err);
}

/*
 * A field named twice in one object of body @p, which json-c parsed
 * whole: 0, or -EINVAL (naming the field as written) or -ENOMEM with
 * @err.
 */
static int json_dup_field(const char *p, size_t n, struct mc_err *err)
{
	size_t at, len;
	int rc = mc_json_dup_key(p, n, &at, &len);

	if (rc > 0)
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "Invalid JSON body, duplicate field '%.*s'",
				  (int)(len < 64 ? len : 64), p + at);
	if (rc == -ENOMEM)
		mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR, "Out of memory");
	return rc;
}

struct json_object *web_json_parse_object(const char *p, size_t n,
					  struct mc_err *err)
{
	struct json_tokener *tok = json_tokener_new_ex(WEB_JSON_DEPTH);
	struct json_object *o = NULL;
	enum json_tokener_error e = json_tokener_success;
	size_t end = mc_json_plain(p, n);
	bool parsed = false; /* a whole value: an object, or a bare null */

	if (!tok) {
		mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR, "Out of memory");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
					    JSON_TOKENER_VALIDATE_UTF8);
	if (end == n) {
		o = json_tokener_parse_ex(tok, p, (int)n);
		e = json_tokener_get_error(tok);
		end = json_tokener_get_parse_end(tok);
		if (!o && e == json_tokener_continue && n) {
			/* a bare number or literal ends only at the end */
			o = json_tokener_parse_ex(tok, "", 1);
			e = json_tokener_get_error(tok);
			end = n;
		}
		parsed = e == json_tokener_success;
	}
	json_tokener_free(tok);

	if (parsed) {
		while (end < n && strchr(" \t\r\n", p[end]))
			end++;
		if (end == n) {
			/* a bare null is success with no object at all */
			if (json_object_is_type(o, json_type_object)) {
				if (!json_dup_field(p, n, err))
					return o;
				json_object_put(o);
				return NULL;
			}
			json_object_put(o);
			mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				   "Invalid JSON body, must be an object");
			return NULL;
		}
	}
	json_object_put(o);
	/* one line that says where, as the config file's errors do */
	if (e == json_tokener_error_depth)
		mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
			   "Invalid JSON body, nested too deep");
	else if (!n)
		mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
			   "Invalid JSON body, empty");
	else if (e == json_tokener_continue)
		mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
			   "Invalid JSON body, unexpected end at byte %zu", n);
	else if (e != json_tokener_success)
		mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
			   "Invalid JSON body, %s at byte %zu",
			   json_tokener_error_desc(e), end);
	else if (parsed)
		mc_err_set(
			err, -EINVAL, MC_INVALID_PARAMS,
			"Invalid JSON body, data after the value at byte %zu",
			end);
	else
		mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
			   "Invalid JSON body, unexpected %s at byte %zu",
			   mc_json_plain_what(p, n, end), end);
	return NULL;
}

/*
 * Whether @o has field @name: true with *@v its value (NULL for JSON
 * null, which is a wrong type, not an absent field, for every typed
 * field: the man page's "a field of the wrong JSON type gets 400").
 */
static bool field(struct json_object *o, const char *name,
		  struct json_object **v)
{
	*v = NULL;
	return json_object_object_get_ex(o, name, v);
}

int web_json_string(struct json_object *o, const char *name, const char **s,
		    size_t *len, struct mc_err *err)
{
	struct json_object *v;

	if (!field(o, name, &v))
		return -ENOENT;
	if (!v || !json_object_is_type(v, json_type_string)) {
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "Invalid %s, must be a string", name);
	}
	*s = json_object_get_string(v);
	if (len)
		*len = (size_t)json_object_get_string_len(v);
	return 0;
}

int web_json_int(struct json_object *o, const char *name, int64_t min,
		 int64_t max, int64_t *out, struct mc_err *err)
{
	struct json_object *v;
	int64_t i;

	if (!field(o, name, &v))
		return -ENOENT;
	if (!v || !json_object_is_type(v, json_type_int))
		goto bad;
	i = json_object_get_int64(v);
	/*
	 * json-c clamps integers past int64 to INT64_MAX but keeps the
	 * unsigned value: a mismatch means the text was beyond 2^63-1.
	 */
	if (i == INT64_MAX && json_object_get_uint64(v) != (uint64_t)INT64_MAX)
		goto bad;
	if (i == INT64_MIN)
		goto bad;
	if (i < min || i > max)
		goto bad;
	*out = i;
	return 0;
bad:
	return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
			  "Invalid %s, must be an integer from %lld to %lld",
			  name, (long long)min, (long long)max);
}
