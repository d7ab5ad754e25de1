/*
 * fuzz_shm.c - shm object names (mc_shm_name_check, src/segment.c).
 *
 * What must hold: a name the check takes, joined to "/dev/shm/" as the
 * store joins it, names a direct entry of /dev/shm: one path component,
 * not "." or "..", no NUL inside, at most 255 bytes. (Symlinks in
 * /dev/shm are refused when the object is opened, O_NOFOLLOW; the
 * integration script tests/security.sh tries that on the live daemon.)
 */
#include "autoconfig.h"

#include <string.h>

#include "fuzz.h"
#include "mooncake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_strndup(data, size);
	enum mc_shm_fault f = mc_shm_name_check(s);

	if (f == MC_SHM_OK) {
		const char *n = s[0] == '/' ? s + 1 : s;

		fuzz_must(*n && !strchr(n, '/') && strcmp(n, ".") &&
				  strcmp(n, "..") && strlen(n) <= 255,
			  "'%s' reaches outside /dev/shm", s);
	} else {
		fuzz_must(f > MC_SHM_OK, "fault %d", (int)f);
	}
	free(s);
	return 0;
}
