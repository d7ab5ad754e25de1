/*
 * fdio - write a message to a file and read the answer back on the same
 * open file, the ways a program may (tests/fs_tree.sh, ctl/mount):
 *
 *   fdio FILE MESSAGE pread|lseek|after [CHUNK]
 *
 * Opens FILE O_RDWR, writes MESSAGE in one write(2), then reads until
 * end of file in CHUNK-byte reads (default 4096): "pread" with pread(2)
 * from offset 0, "lseek" with lseek(2) to 0 and read(2), "after" with
 * read(2) from where the write left the offset. What was read goes to
 * stdout; exit 1 with the error on stderr when a call fails.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	size_t chunk = argc > 4 ? (size_t)atol(argv[4]) : 4096, total = 0;
	char *buf;
	ssize_t n;
	int fd;

	if (argc < 4 || chunk == 0) {
		fprintf(stderr, "usage: fdio FILE MESSAGE pread|lseek|after "
				"[CHUNK]\n");
		return 2;
	}
	buf = malloc(chunk);
	fd = open(argv[1], O_RDWR);
	if (!buf || fd < 0) {
		fprintf(stderr, "fdio: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (write(fd, argv[2], strlen(argv[2])) != (ssize_t)strlen(argv[2])) {
		fprintf(stderr, "fdio: write: %s\n", strerror(errno));
		return 1;
	}
	if (!strcmp(argv[3], "lseek") && lseek(fd, 0, SEEK_SET) != 0) {
		fprintf(stderr, "fdio: lseek: %s\n", strerror(errno));
		return 1;
	}
	for (;;) {
		if (!strcmp(argv[3], "pread"))
			n = pread(fd, buf, chunk, (off_t)total);
		else
			n = read(fd, buf, chunk);
		if (n < 0) {
			fprintf(stderr, "fdio: read: %s\n", strerror(errno));
			return 1;
		}
		if (n == 0)
			break;
		fwrite(buf, 1, (size_t)n, stdout);
		total += (size_t)n;
		if (total > (1u << 20)) {
			fprintf(stderr, "fdio: no end of file after 1 MiB\n");
			return 1;
		}
	}
	close(fd);
	free(buf);
	return 0;
}
