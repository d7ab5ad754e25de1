/*
 * replay.c - main() for a fuzz target built without libFuzzer: replays
 * every file named (or every file of every directory named), the
 * target's seed corpus FUZZ_CORPUS_DIR when nothing is named. Fails when
 * nothing was replayed, so a corpus that went missing is noticed.
 */
#include "autoconfig.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* Targets without an initializer get this one (libFuzzer calls the
 * target's own when it has one; the replayer calls it always). */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

#ifndef FUZZ_LIBFUZZER
static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char *p = NULL;
	size_t len = 0, cap = 0, n;

	if (!f) {
		perror(path);
		return 1;
	}
	do {
		if (len + 4096 > cap) {
			cap = cap ? cap * 2 : 8192;
			p = realloc(p, cap);
			if (!p)
				abort();
		}
		n = fread(p + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	/* An exact-size copy, so an overread past the input is caught by
	 * valgrind or ASan just as libFuzzer's own copy would be. */
	unsigned char *in = malloc(len ? len : 1);

	if (!in)
		abort();
	memcpy(in, p, len);
	free(p);
	LLVMFuzzerTestOneInput(in, len);
	free(in);
	return 0;
}

static int replay(const char *path, int *count)
{
	struct dirent **ents;
	int n, rc = 0;

	n = scandir(path, &ents, NULL, alphasort);
	if (n < 0) {
		(*count)++;
		return replay_file(path);
	}
	for (int i = 0; i < n; i++) {
		char p[4096];
		struct stat st;

		snprintf(p, sizeof(p), "%s/%s", path, ents[i]->d_name);
		if (ents[i]->d_name[0] != '.' && !stat(p, &st) &&
		    S_ISREG(st.st_mode)) {
			rc |= replay_file(p);
			(*count)++;
		}
		free(ents[i]);
	}
	free(ents);
	return rc;
}

int main(int argc, char **argv)
{
	int rc = 0, count = 0;
	const char *name = strrchr(argv[0], '/');

	LLVMFuzzerInitialize(&argc, &argv);
	if (argc < 2)
		rc = replay(FUZZ_CORPUS_DIR, &count);
	for (int i = 1; i < argc; i++)
		rc |= replay(argv[i], &count);
	printf("%s: %d inputs replayed%s\n", name ? name + 1 : argv[0], count,
	       rc ? ", some unreadable" : "");
	return rc || !count;
}
#endif
