/*
 * xfer_client_main.c - the scripts' client of the transfer port.
 *
 *   xfer_client HOST PORT read  ADDR SIZE [v1|v2] [COUNT]
 *   xfer_client HOST PORT write ADDR SIZE [v1|v2] [stream]
 *
 * read writes the bytes to stdout (COUNT requests on one connection, the
 * data of each in turn); write sends SIZE bytes read from stdin (if stdin
 * ends early, the client quits mid-WRITE, as a dying client would; with
 * stream, the header goes first and the bytes follow as stdin gives
 * them, so a writer can stall mid-WRITE). ADDR
 * is decimal or 0x-hex. Exit status: 0 done, 3 rejected (v2 status 1),
 * 4 the server closed the connection (a v1 rejection), 1 other errors,
 * 2 usage.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "xfer_client.h"

static int usage(void)
{
	fprintf(stderr, "usage: xfer_client HOST PORT read ADDR SIZE "
			"[v1|v2] [COUNT]\n"
			"       xfer_client HOST PORT write ADDR SIZE [v1|v2] "
			"[stream]\n");
	return 2;
}

static int exit_code(int rc)
{
	switch (rc) {
	case XC_OK:
		return 0;
	case XC_REJECTED:
		fprintf(stderr, "xfer_client: rejected\n");
		return 3;
	case -EPIPE:
		fprintf(stderr, "xfer_client: connection closed\n");
		return 4;
	default:
		fprintf(stderr, "xfer_client: %s\n", strerror(-rc));
		return 1;
	}
}

/*
 * A WRITE whose bytes follow stdin as it gives them: the header first,
 * then each read, then (v2) the status or (v1) a probe, as xc_write.
 */
static int stream_write(int fd, uint64_t addr, uint64_t size, bool v2,
			unsigned char *buf)
{
	uint64_t done = 0;
	int rc = xc_header(fd, XFER_OP_WRITE, addr, size, v2);

	while (rc == 0 && done < size) {
		ssize_t n = read(0, buf + done, size - done);

		if (n <= 0) {
			fprintf(stderr,
				"xfer_client: stdin ended after %llu of %llu "
				"bytes\n",
				(unsigned long long)done,
				(unsigned long long)size);
			return -EIO;
		}
		rc = xc_send_all(fd, buf + done, (size_t)n);
		done += (uint64_t)n;
	}
	return rc ? rc : xc_write_end(fd, addr, v2);
}

int main(int argc, char **argv)
{
	char *end;
	uint64_t addr, size;
	unsigned long count = 1;
	bool v2 = true, stream = false;
	unsigned char *buf;
	int fd, rc = 0;

	if (argc < 6 || argc > 8)
		return usage();
	errno = 0;
	addr = strtoull(argv[4], &end, 0);
	if (errno || *end)
		return usage();
	size = strtoull(argv[5], &end, 0);
	if (errno || *end || size > (1ull << 32))
		return usage();
	if (argc > 6) {
		if (!strcmp(argv[6], "v1"))
			v2 = false;
		else if (strcmp(argv[6], "v2"))
			return usage();
	}
	if (argc > 7 && !strcmp(argv[3], "write")) {
		if (strcmp(argv[7], "stream"))
			return usage();
		stream = true;
	} else if (argc > 7) {
		count = strtoul(argv[7], &end, 10);
		if (*end || !count || strcmp(argv[3], "read"))
			return usage();
	}
	buf = malloc(size ? size : 1);
	if (!buf)
		return 1;
	fd = xc_connect(argv[1], (unsigned)atoi(argv[2]));
	if (fd < 0) {
		fprintf(stderr, "xfer_client: cannot connect to %s port %s\n",
			argv[1], argv[2]);
		free(buf);
		return 1;
	}
	if (!strcmp(argv[3], "read")) {
		for (unsigned long i = 0; i < count && rc == 0; i++) {
			rc = xc_read(fd, addr, size, v2, buf);
			if (rc == 0 && fwrite(buf, 1, size, stdout) != size)
				rc = -EIO;
		}
	} else if (!strcmp(argv[3], "write") && stream) {
		rc = stream_write(fd, addr, size, v2, buf);
	} else if (!strcmp(argv[3], "write")) {
		size_t got = fread(buf, 1, size, stdin);

		if (got < size) {
			/* Die mid-WRITE: header and part of the payload. */
			xc_header(fd, XFER_OP_WRITE, addr, size, v2);
			xc_send_all(fd, buf, got);
			fprintf(stderr,
				"xfer_client: stdin ended after %zu "
				"of %llu bytes\n",
				got, (unsigned long long)size);
			close(fd);
			free(buf);
			return 1;
		}
		rc = xc_write(fd, addr, size, v2, buf);
	} else {
		return usage();
	}
	close(fd);
	free(buf);
	return exit_code(rc);
}
