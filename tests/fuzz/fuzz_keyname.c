/*
 * fuzz_keyname.c - the FUSE key-name codec (fs/keyname.c) on any bytes,
 * both ways.
 *
 * What must hold: no crash; an encoded name is at most FS_NAME_MAX
 * bytes, holds no '/' and no NUL, is not "." or "..", and decodes to the
 * key; a name that decodes encodes back to itself (one name per key);
 * errors are -EINVAL or -ENAMETOOLONG.
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "keyname.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[FS_NAME_MAX + 1], key[4 * FS_NAME_MAX], back[FS_NAME_MAX + 1];
	size_t klen;
	int n = fs_keyname_encode(data, size, name);

	fuzz_must(n >= 0 || n == -EINVAL || n == -ENAMETOOLONG, "enc %d", n);
	if (n >= 0) {
		fuzz_must((size_t)n == strlen(name) && n <= FS_NAME_MAX &&
				  n > 0,
			  "encoded length %d", n);
		fuzz_must(!strchr(name, '/') && strcmp(name, ".") &&
				  strcmp(name, ".."),
			  "not a file name: '%s'", name);
		fuzz_must(!fs_keyname_decode(name, key, sizeof(key), &klen) &&
				  klen == size && !memcmp(key, data, size),
			  "'%s' does not decode to its key", name);
	}
	/* The same bytes as a name someone typed. */
	char *s = fuzz_strndup(data, size);
	int rc = fs_keyname_decode(s, key, sizeof(key), &klen);

	fuzz_must(rc == 0 || rc == -EINVAL || rc == -ENAMETOOLONG, "dec %d",
		  rc);
	if (!rc) {
		fuzz_must(klen > 0 && !memchr(key, 0, klen), "decoded a NUL");
		fuzz_must(fs_keyname_encode(key, klen, back) >= 0 &&
				  !strcmp(back, s),
			  "'%s' is not the name of its key", s);
	}
	free(s);
	return 0;
}
