/*
 * notify_recv.c - the receiving end of sd_notify(3) for the tests: binds
 * an AF_UNIX datagram socket at PATH (as systemd's NOTIFY_SOCKET) and
 * prints each message it gets as one line, its newlines written as " ",
 * flushed at once, until SIGTERM.
 *
 *   notify_recv PATH
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	char buf[4096];
	int fd;

	if (argc != 2 || strlen(argv[1]) >= sizeof(a.sun_path)) {
		fprintf(stderr, "usage: notify_recv PATH (under %zu bytes)\n",
			sizeof(a.sun_path));
		return 2;
	}
	strcpy(a.sun_path, argv[1]);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("notify_recv");
		return 1;
	}
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

		if (n < 0)
			continue;
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == '\n')
				buf[i] = ' ';
		buf[n] = '\0';
		printf("%s\n", buf);
		fflush(stdout);
	}
}
