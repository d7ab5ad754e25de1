/*
 * json_strict.c - what json-c takes, even strict, that JSON does not:
 * stray bytes, and a key given twice in one object.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <json-c/json.h>

#include "json_strict.h"

static bool digit(const char *p, size_t n, size_t i)
{
	return i < n && p[i] >= '0' && p[i] <= '9';
}

/*
 * The end of the number that starts at @i (a '-' or a digit), as RFC
 * 8259 writes one: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, or the
 * offset of the first byte that breaks it (json-c takes 00, -01, 1. and
 * 00.5, even strict). A number byte right after it breaks it too.
 */
static size_t number_end(const char *p, size_t n, size_t i, bool *bad)
{
	*bad = true;
	if (p[i] == '-')
		i++;
	if (!digit(p, n, i))
		return i;
	if (p[i++] != '0')
		while (digit(p, n, i))
			i++;
	if (i < n && p[i] == '.') {
		if (!digit(p, n, ++i))
			return i;
		while (digit(p, n, i))
			i++;
	}
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		i++;
		if (i < n && (p[i] == '+' || p[i] == '-'))
			i++;
		if (!digit(p, n, i))
			return i;
		while (digit(p, n, i))
			i++;
	}
	*bad = i < n && strchr("0123456789.eE+-", p[i]) && p[i];
	return i;
}

/* The code unit of the 4 hex digits at @i, or -1. */
static long hex4(const char *p, size_t n, size_t i)
{
	long u = 0;

	if (i + 4 > n)
		return -1;
	for (size_t k = i; k < i + 4; k++) {
		char c = p[k];
		int v = c >= '0' && c <= '9'   ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10
					       : -1;

		if (v < 0)
			return -1;
		u = u * 16 + v;
	}
	return u;
}

/*
 * How many bytes the escape at @i (a backslash) spans, or 0 when it is
 * half of a surrogate pair: json-c writes U+FFFD for a half, so that
 * "\ud800" and "\udc00" would name one key.
 */
static size_t escape_len(const char *p, size_t n, size_t i)
{
	long u = i + 1 < n && p[i + 1] == 'u' ? hex4(p, n, i + 2) : -1;
	long low;

	if (u >= 0xdc00 && u <= 0xdfff)
		return 0;
	if (u < 0xd800 || u > 0xdbff)
		return 2; /* json-c judges the rest */
	low = i + 7 < n && p[i + 6] == '\\' && p[i + 7] == 'u'
		      ? hex4(p, n, i + 8)
		      : -1;
	return low >= 0xdc00 && low <= 0xdfff ? 12 : 0;
}

const char *mc_json_plain_what(const char *p, size_t n, size_t at)
{
	if (at >= n || !p[at])
		return "NUL byte";
	if ((unsigned char)p[at] < 0x20)
		return "control character";
	return p[at] == '\\' ? "half of a \\u surrogate pair" : "character";
}

size_t mc_json_plain(const char *p, size_t n)
{
	bool in_str = false, bad;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (!c)
			return i;
		if (!in_str && (c == '-' || (c >= '0' && c <= '9'))) {
			i = number_end(p, n, i, &bad);
			if (bad)
				return i;
			i--; /* the loop steps onto the byte after it */
			continue;
		}
		if (in_str) {
			if (c < 0x20)
				return i;
			if (c == '\\') {
				size_t len = escape_len(p, n, i);

				if (!len)
					return i;
				i += len - 1;
			} else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (!strchr("{}[],: \t\r\n0123456789+-.eEtrufalsn", c)) {
			return i;
		}
	}
	return n;
}

/*
 * Whether the string token [@p, @p + @n) (quotes included) names a key
 * already in @seen, which it then joins. json-c decodes it, so "a" and
 * "\u0061" are one name, and cuts it at a NUL, as it cuts key names.
 */
static int key_seen(struct json_tokener *tok, struct json_object *seen,
		    const char *p, size_t n)
{
	struct json_object *name;
	const char *k;
	int rc;

	json_tokener_reset(tok);
	name = json_tokener_parse_ex(tok, p, (int)n);
	if (!name)
		return -ENOMEM; /* a token json-c has taken whole already */
	k = json_object_get_string(name);
	rc = json_object_object_get_ex(seen, k, NULL) ? 1
	     : json_object_object_add(seen, k, NULL)  ? -ENOMEM
						      : 0;
	json_object_put(name);
	return rc;
}

int mc_json_dup_key(const char *p, size_t n, size_t *at, size_t *len)
{
	/* per open object the names seen so far; NULL for an array */
	struct json_object *seen[MC_JSON_DEPTH] = {0};
	bool want_key[MC_JSON_DEPTH] = {0};
	struct json_tokener *tok = json_tokener_new();
	size_t depth = 0; /* open objects and arrays, deeper ones uncounted */
	int rc = tok ? 0 : -ENOMEM;

	for (size_t i = 0; i < n && !rc; i++) {
		size_t top = depth - 1, j;

		switch (p[i]) {
		case '{':
		case '[':
			if (++depth > MC_JSON_DEPTH)
				break; /* json-c refused it already */
			top = depth - 1;
			seen[top] = NULL;
			if (p[i] == '{' &&
			    !(seen[top] = json_object_new_object()))
				rc = -ENOMEM;
			want_key[top] = seen[top];
			break;
		case '}':
		case ']':
			if (!depth)
				break;
			if (depth-- <= MC_JSON_DEPTH) {
				json_object_put(seen[top]);
				seen[top] = NULL;
			}
			break;
		case ',':
			if (depth && depth <= MC_JSON_DEPTH)
				want_key[top] = seen[top];
			break;
		case '"':
		case '\'':
			for (j = i + 1; j < n && p[j] != p[i]; j++)
				if (p[j] == '\\')
					j++;
			if (j >= n)
				break; /* json-c refused it already */
			if (depth && depth <= MC_JSON_DEPTH && want_key[top]) {
				want_key[top] = false;
				rc = key_seen(tok, seen[top], p + i, j + 1 - i);
				if (rc > 0) {
					*at = i + 1;
					*len = j - i - 1;
				}
			}
			i = j;
			break;
		}
	}
	for (size_t d = 0; d < depth && d < MC_JSON_DEPTH; d++)
		json_object_put(seen[d]);
	if (tok)
		json_tokener_free(tok);
	return rc;
}
