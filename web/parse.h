/*
 * parse.h - request pieces: percent-decoding, query parameters, keys from
 * paths, JSON bodies and their fields. No civetweb, no store.
 */
#ifndef WEB_PARSE_H
#define WEB_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "err.h"
#include "json_strict.h"

struct json_object;

/* Deepest JSON nesting a body may have: what mc_json_dup_key() follows. */
#define WEB_JSON_DEPTH MC_JSON_DEPTH

/*
 * Decodes the @n bytes at @src (%XX escapes; '+' as a blank when @plus,
 * the form convention of query strings) into @dst, which has room for
 * @n bytes. Returns the decoded length, or -EINVAL on a bad escape
 * ("%4", "%zz").
 */
ssize_t web_pct_decode(const char *src, size_t n, char *dst, bool plus);

/*
 * Finds parameter @name in the raw query string @q ("a=1&b=2"): returns
 * its raw value (not decoded; "" for "a" or "a=") and its length in
 * *len, or NULL when absent or @q is NULL. The first one wins.
 */
const char *web_query_raw(const char *q, const char *name, size_t *len);

/*
 * The decoded value of parameter @name, NUL-terminated, in @b: 0,
 * -ENOENT when absent, -EINVAL on a bad escape.
 */
int web_query_get(const char *q, const char *name, struct mc_buf *b);

/*
 * Decodes a key from the raw path rest @raw into @b ('+' stays '+').
 * 0, or -EINVAL with @err (code INVALID_KEY) saying why in the REST
 * routes' words: a bad escape, or the core's key rule (mc_key_check).
 */
int web_key_decode(const char *raw, size_t n, struct mc_buf *b,
		   struct mc_err *err);
/* The core's key rule on an already decoded key, in the same words. */
int web_key_check(const char *key, size_t n, struct mc_err *err);

/*
 * Parses a JSON request body (strict, UTF-8 checked, at most
 * WEB_JSON_DEPTH deep, nothing but blanks after it) that must be an
 * object. Returns the object (json_object_put() it), or NULL with @err
 * (code INVALID_PARAMS).
 */
struct json_object *web_json_parse_object(const char *p, size_t n,
					  struct mc_err *err);

/*
 * Field getters: 0 and the value; -ENOENT when the field is absent;
 * -EINVAL when it has the wrong type (JSON null included), with "Invalid
 * FIELD, must be ..." in @err (code INVALID_PARAMS).
 */
int web_json_string(struct json_object *o, const char *field, const char **s,
		    size_t *len, struct mc_err *err);
/*
 * A JSON integer (not a bool, not a float, not a string) in
 * [@min, @max]; overflowing 64-bit values are out of range.
 */
int web_json_int(struct json_object *o, const char *field, int64_t min,
		 int64_t max, int64_t *v, struct mc_err *err);

#endif
