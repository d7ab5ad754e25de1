/*
 * keyname.c - the one-to-one key <-> file name encoding of keyname.h.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "keyname.h"

static const char hex[] = "0123456789ABCDEF";

static int must_escape(unsigned char c)
{
	return c == '%' || c == '/' || c < 0x20 || c == 0x7f;
}

static bool is_dots(const void *p, size_t n)
{
	return (n == 1 && !memcmp(p, ".", 1)) ||
	       (n == 2 && !memcmp(p, "..", 2));
}

int fs_keyname_encode(const void *key, size_t klen, char out[FS_NAME_MAX + 1])
{
	const unsigned char *k = key;
	size_t n = 0;
	int dots = is_dots(key, klen);

	if (klen == 0)
		return -EINVAL;
	for (size_t i = 0; i < klen; i++) {
		unsigned char c = k[i];

		if (c == 0)
			return -EINVAL;
		if (must_escape(c) || dots) {
			if (n + 3 > FS_NAME_MAX)
				return -ENAMETOOLONG;
			out[n++] = '%';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		} else {
			if (n + 1 > FS_NAME_MAX)
				return -ENAMETOOLONG;
			out[n++] = (char)c;
		}
	}
	out[n] = '\0';
	return (int)n;
}

static int unhex(char c)
{
	const char *p = c ? strchr(hex, c) : NULL;

	return p ? (int)(p - hex) : -1;
}

int fs_keyname_decode(const char *name, char *out, size_t cap, size_t *klen)
{
	size_t len = strlen(name), n = 0;
	char back[FS_NAME_MAX + 1];

	if (len == 0 || is_dots(name, len))
		return -EINVAL;
	if (len > FS_NAME_MAX)
		return -ENAMETOOLONG;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '%') {
			int hi = unhex(name[i + 1]);
			int lo = hi < 0 ? -1 : unhex(name[i + 2]);

			if (lo < 0)
				return -EINVAL;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		if (n >= cap)
			return -ENAMETOOLONG;
		out[n++] = (char)c;
	}
	/* One name per key: refuse escapes the encoder would not write. */
	if (fs_keyname_encode(out, n, back) < 0 || strcmp(back, name))
		return -EINVAL;
	*klen = n;
	return 0;
}
