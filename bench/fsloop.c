/*
 * fsloop.c - open + read + close of one file, as fast as one thread can,
 * for a bounded time: the per-file cost of a FUSE tree without a shell's
 * fork and exec in the figure.
 *
 *   fsloop FILE [SECONDS]    (default 2)
 *
 * Prints "fsloop: N ops in S s: R ops/s". Every read must return at least
 * one byte, else it stops with an error (a broken file is not fast).
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static char buf[65536];
	double secs = argc > 2 ? atof(argv[2]) : 2, t0, t1, end;
	unsigned long n = 0;

	if (argc < 2 || argc > 3 || !(secs > 0 && secs <= 60)) {
		fprintf(stderr, "usage: fsloop FILE [SECONDS]\n");
		return 2;
	}
	t0 = now_s();
	end = t0 + secs;
	do {
		for (unsigned i = 0; i < 64; i++, n++) {
			int fd = open(argv[1], O_RDONLY);
			ssize_t r;

			if (fd < 0) {
				fprintf(stderr,
					"fsloop: cannot open '%s': %s\n",
					argv[1], strerror(errno));
				return 1;
			}
			r = read(fd, buf, sizeof(buf));
			if (r <= 0) {
				fprintf(stderr,
					"fsloop: cannot read '%s': %s\n",
					argv[1], r ? strerror(errno) : "empty");
				return 1;
			}
			close(fd);
		}
		t1 = now_s();
	} while (t1 < end);
	printf("fsloop: %lu ops in %.3f s: %.1f ops/s\n", n, t1 - t0,
	       (double)n / (t1 - t0));
	return 0;
}
