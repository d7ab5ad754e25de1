/*
 * hello.c - the civetweb ceiling: the least a civetweb server can do per
 * request, with the options mooncaked's web door uses.
 *
 *   hello one  [PORT]  "hello\n": status line, headers and body in ONE
 *                      mg_write
 *   hello two  [PORT]  the same in two writes: headers, then body
 *   hello big  [PORT [BYTES]]  a body of BYTES (default 1 MiB), the whole
 *                      response in one mg_write
 *
 * PORT 0 (the default) lets the kernel pick; the server prints
 * "hello: http http://127.0.0.1:PORT/" and serves until SIGINT/SIGTERM.
 * Loopback only.
 */
#include "autoconfig.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <civetweb.h>

enum mode { ONE, TWO, BIG_BODY };

static enum mode mode;
static char *big; /* head + body of the 1 MiB response */
static size_t big_len;
static volatile sig_atomic_t stop;

static const char head_small[] = "HTTP/1.1 200 OK\r\n"
				 "Content-Type: text/plain\r\n"
				 "Content-Length: 6\r\n"
				 "\r\n";
static const char body_small[] = "hello\n";

static int begin_request(struct mg_connection *c)
{
	char one[sizeof(head_small) + sizeof(body_small)];

	switch (mode) {
	case ONE:
		memcpy(one, head_small, sizeof(head_small) - 1);
		memcpy(one + sizeof(head_small) - 1, body_small,
		       sizeof(body_small) - 1);
		mg_write(c, one, sizeof(head_small) + sizeof(body_small) - 2);
		break;
	case TWO:
		mg_write(c, head_small, sizeof(head_small) - 1);
		mg_write(c, body_small, sizeof(body_small) - 1);
		break;
	case BIG_BODY:
		mg_write(c, big, big_len);
		break;
	}
	return 200;
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	struct mg_callbacks cb;
	struct mg_context *ctx;
	struct mg_server_port sp[2];
	char ports[64];
	sigset_t set, old;
	const char *opts[] = {
		"listening_ports",
		ports,
		"num_threads",
		"64",
		"enable_keep_alive",
		"yes",
		"keep_alive_timeout_ms",
		"5000",
		"request_timeout_ms",
		"10000",
		"tcp_nodelay",
		"1",
		"connection_queue",
		"256",
		NULL,
	};

	unsigned long body = 1ul << 20;

	if (argc < 2 || argc > 4 || (argc > 3 && strcmp(argv[1], "big"))) {
		fprintf(stderr, "usage: hello one|two|big [PORT [BYTES]]\n");
		return 2;
	}
	if (argc > 3) {
		char *end;

		body = strtoul(argv[3], &end, 10);
		if (*end || !body || body > (1ul << 30)) {
			fprintf(stderr, "hello: bad body size '%s'\n", argv[3]);
			return 2;
		}
	}
	if (!strcmp(argv[1], "one")) {
		mode = ONE;
	} else if (!strcmp(argv[1], "two")) {
		mode = TWO;
	} else if (!strcmp(argv[1], "big")) {
		mode = BIG_BODY;
	} else {
		fprintf(stderr, "hello: unknown mode '%s'\n", argv[1]);
		return 2;
	}
	if (mode == BIG_BODY) {
		int n;

		big = malloc(body + 256);
		if (!big)
			return 1;
		n = snprintf(big, 256,
			     "HTTP/1.1 200 OK\r\n"
			     "Content-Type: application/octet-stream\r\n"
			     "Content-Length: %lu\r\n\r\n",
			     body);
		for (unsigned long i = 0; i < body; i++)
			big[n + i] = (char)(i * 131);
		big_len = (size_t)n + body;
	}
	snprintf(ports, sizeof(ports), "127.0.0.1:%s",
		 argc > 2 ? argv[2] : "0");
	memset(&cb, 0, sizeof(cb));
	cb.begin_request = begin_request;
	/* Blocked here, so civetweb's threads inherit the mask and only
	 * sigsuspend below takes them. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, &old);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	mg_init_library(0);
	ctx = mg_start(&cb, NULL, opts);
	if (!ctx) {
		fprintf(stderr, "hello: cannot listen on '%s'\n", ports);
		return 1;
	}
	if (mg_get_server_ports(ctx, 2, sp) < 1) {
		fprintf(stderr, "hello: no port bound\n");
		mg_stop(ctx);
		return 1;
	}
	printf("hello: http http://127.0.0.1:%d/\n", sp[0].port);
	fflush(stdout);
	while (!stop)
		sigsuspend(&old);
	mg_stop(ctx);
	mg_exit_library();
	free(big);
	return 0;
}
