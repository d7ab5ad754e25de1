/*
 * http_stall - hostile slow clients for tests/web_stall.sh.
 *
 *   http_stall -p PORT [-n N] [-m line|header|body|mix] [-k PROBES]
 *              [-l LIMIT_MS] [-w SECONDS] [-r]
 *
 * Opens N connections to 127.0.0.1:PORT that each send part of a request
 * and then stall: half a request line ("line"), a request line and half a
 * header ("header"), or a whole PUT head whose body then trickles one
 * byte a second ("body"); "mix" cycles through the three. While they are
 * held, it times PROBES fresh `GET /health` requests (connect to the last
 * byte of the answer), one after another, and prints one line:
 *
 *   held N of N (line), probes 20: 200 x20, median 0.4 ms, max 1.2 ms
 *
 * Exit status 0 when every probe got 200 within LIMIT_MS (default 1000),
 * 1 otherwise, 2 on a usage or set-up error. With -w it then keeps the
 * slow connections for up to SECONDS more (still trickling) and reports
 * when the server dropped them and with what: "dropped N of N after
 * X.X-Y.Y s, first answer 408" (-r: exit 1 unless every connection was
 * dropped within SECONDS).
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

enum mode { M_LINE, M_HEADER, M_BODY, M_MIX };

struct slow {
	int fd;
	enum mode mode;
	double dropped; /* seconds since the stall began, 0: still open */
	int status;	/* first status line seen, 0: none */
};

static struct sockaddr_in addr;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int dial(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static const char *stall_bytes(enum mode m)
{
	switch (m) {
	case M_LINE:
		return "GET /health HT";
	case M_HEADER:
		return "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ab";
	default:
		return "PUT /api/put/stall HTTP/1.1\r\nHost: x\r\n"
		       "Content-Length: 100000\r\n\r\nb";
	}
}

/*
 * One GET /health on a fresh connection, waiting at most @wait_ms for
 * the whole answer: its status (0: none), and the seconds.
 */
static int probe(double *secs, int wait_ms)
{
	static const char req[] = "GET /health HTTP/1.1\r\nHost: x\r\n"
				  "Connection: close\r\n\r\n";
	char buf[512];
	size_t got = 0;
	double t0 = now();
	int fd = dial(), status = 0;

	if (fd < 0)
		return -1;
	if (send_all(fd, req, sizeof(req) - 1) == 0) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		/* until the server closes: the whole answer */
		while (poll(&p, 1, wait_ms - (int)((now() - t0) * 1000)) == 1) {
			ssize_t n =
				recv(fd, buf + got, sizeof(buf) - 1 - got, 0);

			if (n <= 0)
				break;
			got += (size_t)n;
			if (got == sizeof(buf) - 1)
				got = 0; /* keep reading; the status is gone */
		}
		buf[got] = '\0';
		if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
			status = 0;
	}
	*secs = now() - t0;
	close(fd);
	return status;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Reads what a slow connection got; marks it dropped at EOF or error. */
static void poll_slow(struct slow *s, double since)
{
	char buf[256];
	ssize_t n;

	if (s->fd < 0 || s->dropped)
		return;
	n = recv(s->fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		buf[n] = '\0';
		if (!s->status && sscanf(buf, "HTTP/1.%*d %d", &s->status) != 1)
			s->status = -1;
		return;
	}
	s->dropped = now() - since;
}

static void usage(void)
{
	fprintf(stderr, "usage: http_stall -p PORT [-n N] "
			"[-m line|header|body|mix] [-k PROBES] [-l LIMIT_MS] "
			"[-w SECONDS] [-r]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const char *const names[] = {"line", "header", "body", "mix"};
	int port = 0, n = 1000, k = 20, limit_ms = 1000, c, held = 0, ok = 0;
	double wait_s = 0, *lat, start, t;
	bool require_drop = false;
	enum mode mode = M_LINE;
	struct slow *slow;
	struct rlimit rl;

	while ((c = getopt(argc, argv, "p:n:m:k:l:w:r")) != -1) {
		switch (c) {
		case 'p':
			port = atoi(optarg);
			break;
		case 'n':
			n = atoi(optarg);
			break;
		case 'm':
			for (mode = M_LINE; mode <= M_MIX; mode++)
				if (!strcmp(optarg, names[mode]))
					break;
			if (mode > M_MIX)
				usage();
			break;
		case 'k':
			k = atoi(optarg);
			break;
		case 'l':
			limit_ms = atoi(optarg);
			break;
		case 'w':
			wait_s = atof(optarg);
			break;
		case 'r':
			require_drop = true;
			break;
		default:
			usage();
		}
	}
	if (port <= 0 || n < 0 || k <= 0)
		usage();
	/* N sockets of our own: take the hard limit */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	slow = calloc((size_t)n + 1, sizeof(*slow));
	lat = calloc((size_t)k, sizeof(*lat));
	if (!slow || !lat)
		return 2;

	for (int i = 0; i < n; i++) {
		slow[i].mode = mode == M_MIX ? (enum mode)(i % 3) : mode;
		slow[i].fd = dial();
		if (slow[i].fd < 0) {
			fprintf(stderr, "http_stall: connection %d: %s\n", i,
				strerror(errno));
			break;
		}
		const char *b = stall_bytes(slow[i].mode);
		if (send_all(slow[i].fd, b, strlen(b)) == 0)
			held++;
	}
	start = now();
	/* let the server take them all in before the first probe */
	usleep(200000);

	/* (three failures are enough: the rest would take as long) */
	for (int i = 0, failed = 0; i < k; i++) {
		int st = failed < 3 ? probe(&lat[i], 3 * limit_ms) : 0;

		if (st == 200 && lat[i] * 1000 <= limit_ms) {
			ok++;
			continue;
		}
		if (failed++ < 3)
			fprintf(stderr,
				"http_stall: probe %d: status %d in %.1f ms\n",
				i, st, lat[i] * 1000);
		else
			lat[i] = 3.0 * limit_ms / 1000;
	}
	qsort(lat, (size_t)k, sizeof(*lat), cmp_double);
	for (int i = 0; i < n; i++)
		poll_slow(&slow[i], start);
	int open = 0;
	for (int i = 0; i < n; i++)
		open += slow[i].fd >= 0 && !slow[i].dropped;
	printf("held %d of %d (%s), %d still open, probes %d: %d answered 200 "
	       "within %d ms, median %.1f ms, max %.1f ms\n",
	       held, n, names[mode], open, k, ok, limit_ms, lat[k / 2] * 1000,
	       lat[k - 1] * 1000);

	if (wait_s > 0) {
		double last_trickle = now(), lo = 0, hi = 0;
		int dropped = 0, first = 0;

		while ((t = now()) - start < wait_s && dropped < held) {
			if (t - last_trickle >= 1.0) {
				/* a body byte a second, a header byte too */
				for (int i = 0; i < n; i++)
					if (slow[i].fd >= 0 &&
					    !slow[i].dropped &&
					    slow[i].mode != M_LINE)
						send(slow[i].fd, "b", 1,
						     MSG_NOSIGNAL |
							     MSG_DONTWAIT);
				last_trickle = t;
			}
			usleep(20000);
			dropped = 0;
			for (int i = 0; i < n; i++) {
				poll_slow(&slow[i], start);
				dropped += slow[i].dropped > 0;
			}
		}
		for (int i = 0; i < n; i++) {
			if (!slow[i].dropped)
				continue;
			if (!lo || slow[i].dropped < lo)
				lo = slow[i].dropped;
			if (slow[i].dropped > hi)
				hi = slow[i].dropped;
			if (!first && slow[i].status)
				first = slow[i].status;
		}
		printf("dropped %d of %d after %.1f-%.1f s, first answer %d",
		       dropped, held, lo, hi, first);
		/* what the dropped ones were told, and when the last was */
		for (int st = -1; st < 600; st++) {
			int cnt = 0;
			double last = 0;

			for (int i = 0; i < n; i++)
				if (slow[i].dropped && slow[i].status == st) {
					cnt++;
					if (slow[i].dropped > last)
						last = slow[i].dropped;
				}
			if (cnt)
				printf("; %d: %d by %.1f s", st, cnt, last);
		}
		printf("\n");
		if (require_drop && dropped < held)
			ok = -1;
	}
	for (int i = 0; i < n; i++)
		if (slow[i].fd >= 0)
			close(slow[i].fd);
	free(slow);
	free(lat);
	return ok == k ? 0 : 1;
}
