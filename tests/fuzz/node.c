/*
 * node.c - the in-process node of node.h.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "fuzz.h"
#include "log.h"
#include "node.h"
#include "web.h"
#include "xfer.h"

static struct fuzz_node node;

static void mount_base(struct fuzz_node *n)
{
	struct mc_mount_req req = {.size = 16 << 20};
	struct mc_mount_result res = {0};
	struct mc_err err = {0};

	fuzz_must(!mc_segment_mount(n->s, &req, &res, &err) && res.n == 1,
		  "base mount: %s", err.msg);
	memcpy(n->seg_id, res.ids[0], sizeof(n->seg_id));
	free(res.ids);
}

struct fuzz_node *fuzz_node_start(int web)
{
	struct mc_store_opts so;
	struct xfer_opts xo = {.host = "127.0.0.1",
			       .protocol = "tcp",
			       .loops = 1,
			       .stall_ms = 2000};
	struct web_opts wo = {.host = "127.0.0.1",
			      .auth_token = "fuzz-token",
			      .max_body = 1 << 20,
			      .threads = 4};
	struct mc_err err = {0};
	struct xfer *x;
	struct web *w;

	signal(SIGPIPE, SIG_IGN);
	mc_log_set_level(MC_LOG_ERROR);
	mc_store_opts_default(&so);
	so.max_value = 1 << 20;
	so.max_segment_size = 64 << 20;
	so.put_timeout_ms = 2000;
	so.lease_ttl_ms = 100;
	x = xfer_new(&xo, &so, &err);
	fuzz_must(x, "xfer_new: %s", err.msg);
	node.s = mc_store_new(&so, NULL);
	fuzz_must(node.s, "store");
	mount_base(&node);
	fuzz_must(!xfer_start(x, node.s, &err), "xfer_start: %s", err.msg);
	node.xfer_port = xfer_port(x);
	if (web) {
		w = web_start(node.s, &wo, &err);
		fuzz_must(w, "web_start: %s", err.msg);
		web_set_ready(w, true);
		node.http_port = web_port(w);
		node.token = wo.auth_token;
	}
	return &node;
}

static int collect(const struct mc_seg_info *si, void *arg)
{
	struct fuzz_node *n = arg;

	if (strcmp(si->id, n->seg_id)) {
		const char *ids[1] = {si->id};
		struct mc_unmount_req req = {.ids = ids, .n = 1};

		mc_segment_unmount(n->s, &req, NULL, NULL, NULL);
	}
	return 0;
}

static int meta_drop(const char *key, size_t klen, uint64_t size, void *arg)
{
	struct mc_err err = {0};

	/* a published key refuses (-EPERM) and stays, as it should */
	mc_meta_delete(arg, key, klen, &err);
	return 0;
}

void fuzz_node_reset(struct fuzz_node *n)
{
	struct mc_seg_info si;

	mc_meta_foreach(mc_store_meta(n->s), meta_drop, mc_store_meta(n->s));
	mc_remove_all(n->s, true);
	mc_segment_foreach(n->s, collect, n);
	if (mc_segment_info(n->s, n->seg_id, &si) || si.state != MC_SEG_OK) {
		const char *ids[1] = {n->seg_id};
		struct mc_unmount_req req = {.ids = ids, .n = 1};

		mc_segment_unmount(n->s, &req, NULL, NULL, NULL);
		mount_base(n);
	}
}

int fuzz_connect(unsigned port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {.tv_sec = 5};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	fuzz_must(fd >= 0, "socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	int rc = connect(fd, (struct sockaddr *)&a, sizeof(a));

	if (rc && errno == EINTR) {
		/* libFuzzer's timer (SIGALRM) interrupted it: the connection
		 * goes on in the background; wait for its outcome. */
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		socklen_t el = sizeof(rc);

		while (poll(&p, 1, 5000) < 0 && errno == EINTR)
			;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &rc, &el))
			rc = errno;
		errno = rc;
	}
	fuzz_must(!rc, "connect %u: %s", port, strerror(errno));
	return fd;
}

int fuzz_write_all(int fd, const void *p, size_t len)
{
	const char *c = p;

	while (len) {
		ssize_t w = send(fd, c, len, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		len -= (size_t)w;
	}
	return 0;
}

int fuzz_read_all(int fd, unsigned char **out, size_t *len)
{
	size_t cap = 65536, n = 0;
	unsigned char *b = malloc(cap);

	fuzz_must(b, "oom");
	for (;;) {
		ssize_t r;

		if (n == cap) {
			cap *= 2;
			b = realloc(b, cap);
			fuzz_must(b, "oom");
		}
		r = recv(fd, b + n, cap - n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == ECONNRESET)
			break;
		if (r < 0) {
			*out = b;
			*len = n;
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*out = b;
	*len = n;
	return 0;
}
