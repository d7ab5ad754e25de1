/*
 * size.c - SIZE parsing and human-readable sizes.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "size.h"

#define MAX63 ((uint64_t)INT64_MAX)

/* Leading decimal digits of @s into @out; returns the count or -ERANGE. */
static int digits(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	int n = 0;

	for (; s[n] >= '0' && s[n] <= '9'; n++) {
		unsigned d = s[n] - '0';
		if (v > (MAX63 - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	return n;
}

int mc_u64_parse(const char *s, uint64_t *out)
{
	uint64_t v;
	int n;

	if (!s)
		return -EINVAL;
	n = digits(s, &v);
	if (n < 0) {
		/* Only a range error when the rest is digits too. */
		while (*s >= '0' && *s <= '9')
			s++;
		return *s ? -EINVAL : -ERANGE;
	}
	if (n == 0 || s[n])
		return -EINVAL;
	*out = v;
	return 0;
}

#define BLANKS " \t"

int mc_size_parse(const char *s, uint64_t *out)
{
	static const struct {
		const char *name;
		int shift;
	} units[] = {
		{"", 0},    {"b", 0},  {"k", 10},  {"kb", 10}, {"m", 20},
		{"mb", 20}, {"g", 30}, {"gb", 30}, {"t", 40},  {"tb", 40},
	};
	const char *p, *frac = NULL, *unit;
	uint64_t v = 0, f = 0, den = 1;
	size_t ulen;
	int n;

	if (!s)
		return -EINVAL;
	s += strspn(s, BLANKS);
	n = digits(s, &v);
	for (p = s; *p >= '0' && *p <= '9'; p++)
		;
	if (p == s)
		return -EINVAL;
	if (*p == '.') {
		for (frac = ++p; *p >= '0' && *p <= '9'; p++)
			if (p - frac < 18) {
				f = f * 10 + (uint64_t)(*p - '0');
				den *= 10;
			}
		if (p == frac)
			return -EINVAL;
	}
	unit = p + strspn(p, BLANKS);
	ulen = strcspn(unit, BLANKS);
	if (unit[ulen + strspn(unit + ulen, BLANKS)])
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		uint64_t bytes;

		if (strlen(units[i].name) != ulen ||
		    strncasecmp(unit, units[i].name, ulen))
			continue;
		if (n < 0 || v > MAX63 >> units[i].shift)
			return -ERANGE;
		/* a fraction of the unit, cut to a whole byte (as upstream) */
		bytes = (v << units[i].shift) +
			(uint64_t)(((unsigned __int128)f << units[i].shift) /
				   den);
		if (bytes > MAX63)
			return -ERANGE;
		*out = bytes;
		return 0;
	}
	return -EINVAL;
}

char *mc_size_human(uint64_t n, char *buf, size_t len)
{
	static const char *const units[] = {"KB", "MB", "GB", "TB"};
	unsigned __int128 c;
	int u = 0;

	if (n < 1024) {
		snprintf(buf, len, "%llu B", (unsigned long long)n);
		return buf;
	}
	while (u < 3 && n >> (10 * (u + 2)))
		u++;
	/*
	 * Hundredths rounded half up in integers: %.2f would round the
	 * exact binary 3.125 (3355443200 bytes) to even, "3.12", where the
	 * upstream summary shows "3.13".
	 */
	c = ((unsigned __int128)n * 100 +
	     ((uint64_t)1 << (10 * (u + 1) - 1))) >>
	    (10 * (u + 1));
	snprintf(buf, len, "%llu.%02u %s", (unsigned long long)(c / 100),
		 (unsigned)(c % 100), units[u]);
	return buf;
}
