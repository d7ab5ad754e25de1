/*
 * fuzz.h - what every fuzz target in tests/fuzz/ shares.
 *
 * A target defines LLVMFuzzerTestOneInput() (and, when it needs a live
 * store or server, LLVMFuzzerInitialize()). Built by `make fuzz` with
 * clang's -fsanitize=fuzzer it is a libFuzzer target; built by the
 * ordinary build it links replay.c, whose main() replays the files (or
 * the files of the directories) named as arguments, the seed corpus
 * tests/fuzz/corpus/NAME when there are none: make check runs every
 * target that way, so the corpora (seeds and every crash found since)
 * are regression inputs and the targets keep compiling with gcc.
 *
 * fuzz_must() is the targets' assertion: an input that breaks a
 * property aborts, which libFuzzer reports as a crash with its input.
 */
#ifndef MC_FUZZ_H
#define MC_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define fuzz_must(ok, ...)                                                     \
	do {                                                                   \
		if (!(ok)) {                                                   \
			fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);        \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			abort();                                               \
		}                                                              \
	} while (0)

/* A NUL-terminated copy of @size bytes at @data (malloc'd). */
char *fuzz_strndup(const uint8_t *data, size_t size);

#endif
