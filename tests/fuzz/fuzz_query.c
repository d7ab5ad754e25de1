/*
 * fuzz_query.c - query strings and percent decoding (web/parse.c): the
 * raw query lookup, its decoded value, a key from a path, ?force=.
 *
 * The first byte picks the parameter name looked up (key, keys, force,
 * id, a name that is a prefix of another); the rest is the raw query
 * (or path rest) as it arrives.
 *
 * What must hold: no crash, no read or write past the bytes given; a
 * value found lies inside the query, starts right after "NAME=" or
 * "NAME" at a parameter's start; decoding never grows the bytes and
 * agrees with a long-hand decoder; a key that decodes passes the core's
 * key rule; ?force= is 0 or -EINVAL.
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>

#include "api.h"
#include "buf.h"
#include "fuzz.h"
#include "mooncake.h"
#include "parse.h"

static int hexv(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The decoder again, slowly. */
static ssize_t slow_decode(const char *s, size_t n, char *out, bool plus)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			if (n - i < 3 || hexv(s[i + 1]) < 0 ||
			    hexv(s[i + 2]) < 0)
				return -EINVAL;
			out[o++] = (char)(hexv(s[i + 1]) * 16 + hexv(s[i + 2]));
			i += 2;
		} else {
			out[o++] = plus && s[i] == '+' ? ' ' : s[i];
		}
	}
	return (ssize_t)o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {"key", "keys", "force",
					    "id",  "k",	   "key_"};
	const char *name;
	char *q, *a, *b;
	size_t len;
	ssize_t n1, n2;
	const char *v;
	struct mc_buf buf = {0};
	struct mc_err err = {0};
	bool force;
	int rc;

	if (!size)
		return 0;
	name = names[data[0] % 6];
	q = fuzz_strndup(data + 1, size - 1);
	len = strlen(q);
	a = malloc(len + 1);
	b = malloc(len + 1);

	n1 = web_pct_decode(q, len, a, data[0] & 8);
	n2 = slow_decode(q, len, b, data[0] & 8);
	fuzz_must(n1 == n2 && (n1 < 0 || !memcmp(a, b, (size_t)n1)),
		  "decode of '%s' differs", q);
	fuzz_must(n1 <= (ssize_t)len, "decoding grew");

	v = web_query_raw(q, name, &len);
	if (v) {
		size_t nl = strlen(name);

		fuzz_must(v >= q + nl && v + len <= q + strlen(q),
			  "value outside the query");
		fuzz_must(!memchr(v, '&', len), "value crosses a '&'");
		const char *ps = v - nl;

		/* "NAME=value" or a bare "NAME" (then v is its end). */
		if (v > q + nl && v[-1] == '=' &&
		    memcmp(v - nl - 1, name, nl) == 0)
			ps = v - nl - 1;
		fuzz_must(ps >= q && !memcmp(ps, name, nl) &&
				  (ps == q || ps[-1] == '&'),
			  "value does not follow its name");
	}
	rc = web_query_get(q, name, &buf);
	fuzz_must(rc == 0 || rc == -ENOENT || rc == -EINVAL, "get rc %d", rc);
	fuzz_must((rc == -ENOENT) == !v, "raw and decoded lookups differ");
	if (!rc)
		fuzz_must(buf.data[buf.len] == '\0' && buf.len <= len,
			  "decoded value");

	rc = web_key_decode(q, strlen(q), &buf, &err);
	fuzz_must(rc == 0 || (rc == -EINVAL && err.msg[0]), "key rc %d", rc);
	if (!rc)
		fuzz_must(buf.len >= 1 && buf.len <= MC_KEY_MAX &&
				  !memchr(buf.data, 0, buf.len),
			  "a bad key got through");

	rc = web_api_parse_force(q, &force);
	fuzz_must(rc == 0 || rc == -EINVAL, "force rc %d", rc);

	mc_buf_release(&buf);
	free(a);
	free(b);
	free(q);
	return 0;
}
