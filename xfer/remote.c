/*
 * remote.c - the store's data hooks (mooncake.h, struct mc_data_ops):
 * the bytes of replicas that live in another process, moved with TE's
 * TCP framing by this door's client (client.h).
 *
 * A client's segment (owner client:UUID) is named by its Transfer
 * Engine's segment name, the descriptor's endpoint: as TE's openSegment
 * does, its data port and host come from the descriptor and location the
 * client published in the store's metadata server (resolve.c), and the
 * range must lie inside a buffer it registered there. A node's segment
 * names its transfer port, HOST:PORT, directly (v2 framing). Anything
 * else (another protocol, no metadata server, no descriptor) cannot be
 * reached: the core then answers REMOTE_ONLY.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "log.h"
#include "mooncake.h"
#include "net.h"
#include "xfer.h"
#include "xfer_int.h"

/*
 * A remote owner that does not answer holds a reader (an HTTP GET, a
 * FUSE open) this long, not TE's 30 s.
 */
#define REMOTE_TIMEOUT_MS 5000

/* Room for a node endpoint's host (mc_net_split). */
#define HOST_MAX 300

/*
 * A WRITE's bytes besides a buffer: the first @head from it, the rest
 * from pipe @fd (mc_data_ops write_pipe); or a READ's into pipe @rp,
 * memory from @room when it fills (read_pipe).
 */
struct via_pipe {
	int fd;	       /* read end */
	uint64_t head; /* bytes from the buffer before the pipe's */
	const int *rp; /* a READ's pipe: read end, write end */
	void *(*room)(void *ctx, uint64_t len);
	void *ctx;
};

/*
 * Moves @len bytes at @off of replica @d: into @buf (read) or from it
 * (write), or, with @vp, from @buf and then pipe @vp
 * (xfer_client_write_pipe), or into pipe @vp->rp
 * (xfer_client_read_pipe: 1 when they are in it). 0, or a negative
 * errno after a debug line saying why.
 */
/*
 * Whether @host is this machine: an address of it can be bound (so every
 * loopback, interface and wildcard address, under any name).
 */
bool xfer_host_is_local(const char *host)
{
	struct addrinfo hints = {.ai_family = AF_INET,
				 .ai_socktype = SOCK_DGRAM};
	struct addrinfo *res = NULL;
	bool local = false;

	if (!host || getaddrinfo(host, NULL, &hints, &res))
		return false;
	for (struct addrinfo *a = res; a && !local; a = a->ai_next) {
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in sin;

		if (fd < 0)
			continue;
		memcpy(&sin, a->ai_addr, sizeof(sin));
		sin.sin_port = 0;
		local = !bind(fd, (struct sockaddr *)&sin, sizeof(sin));
		close(fd);
	}
	freeaddrinfo(res);
	return local;
}

/*
 * Where the bytes of replica @d at @addr (@len of them) live: *@t (its
 * host in @host or in @seg, which the caller releases). 0, or a
 * negative errno said in @e.
 */
static int remote_target(struct xfer *x, const struct mc_desc *d, uint64_t addr,
			 uint64_t len, struct xfer_target *t,
			 char host[HOST_MAX], struct xfer_te_segment *seg,
			 struct mc_err *e)
{
	int rc;

	if (strcmp(d->protocol, "tcp"))
		return mc_err_set(e, -EPROTONOSUPPORT, MC_INVALID_PARAMS,
				  "protocol '%s' is not read from here",
				  d->protocol);
	if (d->owner.kind == MC_OWNER_CLIENT) {
		struct mc_store *s = x->s;

		if (!s || (!mc_store_meta(s) && !mc_store_linked(s)))
			return mc_err_set(
				e, -ENOENT, MC_SEGMENT_NOT_FOUND,
				"no metadata server to find the client");
		/* a cluster node: the client may have published it on
		 * another node (mc_meta_find asks them) */
		rc = xfer_te_resolve(d->endpoint,
				     mc_store_get_opts(s)->metadata_cluster_id,
				     xfer_te_meta_local, s, seg, e);
		if (rc)
			return rc;
		if (!xfer_te_segment_covers(seg, addr, len))
			return mc_err_set(e, -EFAULT, MC_INVALID_READ,
					  "the range is not in memory the "
					  "client registered");
		*t = xfer_te_target(seg);
		if ((t->port == x->port && xfer_host_is_local(t->host)) ||
		    (x->store_port &&
		     x->store_port(x->store_port_arg, t->host, t->port)))
			/* a descriptor naming this port, or a node's: the
			 * bytes there are the store's own, not the client's */
			return mc_err_set(e, -EACCES, MC_INVALID_READ,
					  "the client's descriptor names a "
					  "transfer port of the store's own");
		return 0;
	}
	rc = mc_net_split(d->endpoint, host, HOST_MAX, &t->port);
	if (rc)
		return mc_err_set(e, rc, MC_INVALID_PARAMS,
				  "endpoint is not HOST:PORT");
	t->host = host;
	t->version = 2;
	return 0;
}

/* The debug line of a failed move @what of @len bytes of @d: @rc. */
static int remote_failed(const struct mc_desc *d, const char *what,
			 uint64_t len, const struct mc_err *e, int rc)
{
	mc_debug("transfer: %s of %llu bytes of segment '%s' at '%s': %s", what,
		 (unsigned long long)len, d->seg_id, d->endpoint,
		 e->msg[0] ? e->msg : strerror(-rc));
	return rc;
}

/*
 * Moves @len bytes at @off of replica @d: into @buf (read) or from it
 * (write), or, with @vp, from @buf and then pipe @vp
 * (xfer_client_write_pipe), or into pipe @vp->rp
 * (xfer_client_read_pipe: 1 when they are in it). 0, or a negative
 * errno after a debug line saying why.
 */
static int remote_io(struct xfer *x, const struct mc_desc *d, uint64_t off,
		     void *buf, uint64_t len, bool write,
		     const struct via_pipe *vp)
{
	struct xfer_te_segment seg = {0};
	struct xfer_target t;
	struct mc_err e = {0};
	uint64_t addr = d->addr + off;
	char host[HOST_MAX];
	int rc = remote_target(x, d, addr, len, &t, host, &seg, &e);

	if (rc)
		;
	else if (vp && vp->rp)
		rc = xfer_client_read_pipe(x->client, &t, addr, vp->rp,
					   vp->room, vp->ctx, len, &e);
	else if (vp)
		rc = xfer_client_write_pipe(x->client, &t, addr, buf, vp->head,
					    vp->fd, len, &e);
	else
		rc = write ? xfer_client_write(x->client, &t, addr, buf, len,
					       &e)
			   : xfer_client_read(x->client, &t, addr, buf, len,
					      &e);
	xfer_te_segment_release(&seg);
	return rc < 0 ? remote_failed(d, write ? "WRITE" : "READ", len, &e, rc)
		      : rc;
}

static int data_read(void *arg, const struct mc_desc *d, uint64_t off,
		     void *buf, uint64_t len)
{
	return remote_io(arg, d, off, buf, len, false, NULL);
}

static int data_write(void *arg, const struct mc_desc *d, uint64_t off,
		      const void *buf, uint64_t len)
{
	return remote_io(arg, d, off, (void *)buf, len, true, NULL);
}

static bool data_input_pending(void *arg)
{
	return xfer_loops_input_pending(arg);
}

static int data_write_pipe(void *arg, const struct mc_desc *d, const void *head,
			   uint64_t hlen, int pfd, uint64_t len)
{
	struct via_pipe vp = {.fd = pfd, .head = hlen};

	return remote_io(arg, d, 0, (void *)head, len, true, &vp);
}

static int data_read_pipe(void *arg, const struct mc_desc *d, uint64_t off,
			  const int pfd[2], void *(*room)(void *, uint64_t),
			  void *ctx, uint64_t len)
{
	struct via_pipe vp = {.fd = -1, .rp = pfd, .room = room, .ctx = ctx};

	return remote_io(arg, d, off, NULL, len, false, &vp);
}

/* A streamed WRITE (mc_data_ops write_open): the client's, and its replica. */
struct stream {
	struct xfer_wstream *w;
	const struct mc_desc *d;
	uint64_t len;
};

static int data_write_open(void *arg, const struct mc_desc *d, uint64_t len,
			   void **out)
{
	struct xfer *x = arg;
	struct xfer_te_segment seg = {0};
	struct xfer_target t;
	struct mc_err e = {0};
	struct stream *st = malloc(sizeof(*st));
	char host[HOST_MAX];
	int rc = st ? remote_target(x, d, d->addr, len, &t, host, &seg, &e)
		    : -ENOMEM;

	if (!rc)
		rc = xfer_client_wstream_open(x->client, &t, d->addr, len,
					      &st->w, &e);
	xfer_te_segment_release(&seg);
	if (rc) {
		free(st);
		return remote_failed(d, "WRITE", len, &e, rc);
	}
	st->d = d;
	st->len = len;
	*out = st;
	return 0;
}

static int data_write_feed(void *w, const void *buf, uint64_t n, int pfd)
{
	struct stream *st = w;
	struct mc_err e = {0};
	int rc = xfer_client_wstream_feed(st->w, buf, n, pfd, &e);

	return rc ? remote_failed(st->d, "WRITE", st->len, &e, rc) : 0;
}

static int data_write_close(void *w, bool ok)
{
	struct stream *st = w;
	struct mc_err e = {0};
	int rc = xfer_client_wstream_close(st->w, ok, &e);

	if (rc)
		remote_failed(st->d, "WRITE", st->len, &e, rc);
	free(st);
	return rc;
}

const struct mc_data_ops xfer_data_ops = {
	.write_open = data_write_open,
	.write_feed = data_write_feed,
	.write_close = data_write_close,
	.read = data_read,
	.write = data_write,
	.input_pending = data_input_pending,
	.write_pipe = data_write_pipe,
	.read_pipe = data_read_pipe,
};

struct xfer_client *xfer_remote_client_new(const char *congestion)
{
	struct xfer_client_opts o = {.timeout_ms = REMOTE_TIMEOUT_MS,
				     .congestion = congestion};

	return xfer_client_new(&o);
}
