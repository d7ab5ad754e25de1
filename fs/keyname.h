/*
 * keyname.h - keys as file names in keys/ and replicas/ (mooncakefs(5)).
 *
 * A key may hold any byte but NUL; a file name may not hold '/' and may
 * not be "." or "..". The encoding is percent-encoding of exactly these
 * bytes: '%' (%25), '/' (%2F), bytes below 0x20 and 0x7f (%XX, upper-case
 * hex), and the dots of a key that is exactly "." or ".." (%2E). Every
 * other byte, including bytes >= 0x80, stands for itself.
 *
 * The encoding is one-to-one: a name decodes only if encoding the result
 * gives the name back, so "%41" or "%2f" name no key (each key has one
 * file name and each name at most one key). Segment names use the same
 * encoding in segments/.
 */
#ifndef FS_KEYNAME_H
#define FS_KEYNAME_H

#include <stddef.h>

#define FS_NAME_MAX 255 /* longest file name the tree shows */

/*
 * Encodes @klen bytes of @key into @out (NUL-terminated, at most
 * FS_NAME_MAX bytes plus the NUL; @out holds FS_NAME_MAX + 1 bytes).
 * Returns the name's length, -EINVAL for an empty key or one holding a
 * NUL, or -ENAMETOOLONG when the name would pass FS_NAME_MAX bytes.
 */
int fs_keyname_encode(const void *key, size_t klen, char out[FS_NAME_MAX + 1]);

/*
 * Decodes file name @name into @out (room for @cap bytes) and sets *klen.
 * Returns 0, or -EINVAL when @name is not the encoding of any key (empty,
 * a bad or needless escape, "." or ".."), -ENAMETOOLONG when @name passes
 * FS_NAME_MAX or the key does not fit in @cap.
 */
int fs_keyname_decode(const char *name, char *out, size_t cap, size_t *klen);

#endif
