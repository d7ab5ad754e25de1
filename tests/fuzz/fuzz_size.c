/*
 * fuzz_size.c - SIZE values (src/size.c): mc_size_parse, mc_u64_parse
 * and mc_size_human on any bytes.
 *
 * What must hold: no crash; a parsed size fits in 63 bits and is the
 * number times the unit's power of 1024, cut to a whole byte (checked
 * against an independent long-hand reading); every error is -EINVAL or -ERANGE;
 * the human form of any number is short and ends in a unit.
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "size.h"

/*
 * The grammar again, slowly: blanks, digits, a fraction (of which the
 * first 18 digits count), blanks, one of the units, blanks.
 */
static int slow_parse(const char *s, unsigned __int128 *v)
{
	static const char *const sfx[] = {"",	"b", "k",  "kb", "m",
					  "mb", "g", "gb", "t",	 "tb"};
	static const int shift[] = {0, 0, 10, 10, 20, 20, 30, 30, 40, 40};
	const char *digits = "0123456789";
	unsigned __int128 x = 0, frac = 0, den = 1;
	size_t n, u;
	int big = 0;

	s += strspn(s, " \t");
	n = strspn(s, digits);
	if (!n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		x = x * 10 + (unsigned)(s[i] - '0');
		if (x > (unsigned __int128)1 << 64)
			big = 1, x = (unsigned __int128)1 << 64;
	}
	s += n;
	if (*s == '.') {
		n = strspn(++s, digits);
		if (!n)
			return -EINVAL;
		for (size_t i = 0; i < n && i < 18; i++) {
			frac = frac * 10 + (unsigned)(s[i] - '0');
			den *= 10;
		}
		s += n;
	}
	s += strspn(s, " \t");
	u = strcspn(s, " \t");
	if (s[u + strspn(s + u, " \t")])
		return -EINVAL;
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++)
		if (strlen(sfx[i]) == u && !strncasecmp(s, sfx[i], u)) {
			x = (x << shift[i]) + (frac << shift[i]) / den;
			*v = x;
			return big || x > (unsigned __int128)INT64_MAX ? -ERANGE
								       : 0;
		}
	return -EINVAL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_strndup(data, size);
	uint64_t v = 0, w = 0;
	unsigned __int128 x = 0;
	char buf[64];
	int rc = mc_size_parse(s, &v), want = slow_parse(s, &x);

	fuzz_must(rc == want, "mc_size_parse('%s') = %d, want %d", s, rc, want);
	if (!rc)
		fuzz_must(v == (uint64_t)x && v <= INT64_MAX,
			  "mc_size_parse('%s') = %llu", s,
			  (unsigned long long)v);
	rc = mc_u64_parse(s, &w);
	fuzz_must(rc == 0 || rc == -EINVAL || rc == -ERANGE, "u64 rc %d", rc);
	if (!rc)
		fuzz_must(s[0] && strspn(s, "0123456789") == strlen(s) &&
				  w <= INT64_MAX,
			  "mc_u64_parse('%s') took it", s);
	if (size >= 8) {
		memcpy(&w, data, 8);
		mc_size_human(w, buf, sizeof(buf));
		fuzz_must(strlen(buf) < 24 && buf[strlen(buf) - 1] == 'B',
			  "human %s", buf);
	}
	free(s);
	return 0;
}
