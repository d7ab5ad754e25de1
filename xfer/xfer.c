/*
 * xfer.c - the transfer port's lifetime: its transports (one vtable each,
 * picked by protocol), the store's registration hooks that hand a segment
 * to the transport of its protocol, the transfer metrics, and the one
 * place the advertised endpoint is set.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cc.h"
#include "client.h"
#include "log.h"
#include "metrics.h"
#include "mooncake.h"
#include "rdma.h"
#include "xfer.h"
#include "xfer_int.h"

#define LOOPS_MIN	 1
#define LOOPS_MAX	 8
#define STALL_MS_DEFAULT 30000

static struct xfer_transport *transport_find(struct xfer *x,
					     const char *protocol)
{
	for (int i = 0; i < XFER_NTP; i++)
		if (x->tp[i].ops && !strcmp(x->tp[i].ops->name, protocol))
			return &x->tp[i];
	return NULL;
}

/*
 * The store's hooks (struct mc_store_opts): a segment goes to the
 * transport of its protocol. One that registers nothing answers 1, so the
 * store never calls back for it (a tcp segment outlives the port freely).
 */
static int hook_register(void *arg, const char *protocol, void *base,
			 uint64_t size, uint32_t *rkey)
{
	struct xfer_transport *t = transport_find(arg, protocol);

	*rkey = 0;
	if (!t)
		return -EINVAL;
	if (!t->ops->register_mem)
		return 1;
	return t->ops->register_mem(t->ctx, base, size, rkey);
}

static void hook_unregister(void *arg, const char *protocol, void *base,
			    uint64_t size)
{
	struct xfer_transport *t = transport_find(arg, protocol);

	if (t && t->ops->unregister_mem)
		t->ops->unregister_mem(t->ctx, base, size);
}

static void transports_free(struct xfer *x)
{
	for (int i = 0; i < XFER_NTP; i++)
		if (x->tp[i].ops && x->tp[i].ops->free)
			x->tp[i].ops->free(x->tp[i].ctx);
}

struct xfer *xfer_new(const struct xfer_opts *o, struct mc_store_opts *so,
		      struct mc_err *err)
{
	struct xfer *x = calloc(1, sizeof(*x));
	const char *proto = o->protocol && *o->protocol ? o->protocol : "tcp";
	const struct xfer_rdma_dev *dev = o->rdma_dev;
	struct xfer_rdma *rd;
	char msg[320];
	int rc;

	if (!x) {
		mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	if (strcmp(proto, "tcp") && strcmp(proto, "rdma")) {
		mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
			   "unknown transfer protocol '%s'", proto);
		free(x);
		errno = EINVAL;
		return NULL;
	}
	/* (mooncaked(8), --transfer-congestion: why the default is set) */
	if (mc_net_cc_choose(o->congestion, "--transfer-congestion",
			     "transfer_congestion", x->cc, msg, sizeof(msg))) {
		mc_err_set(err, -EINVAL, MC_INVALID_PARAMS, "%s", msg);
		free(x);
		errno = EINVAL;
		return NULL;
	}
	if (msg[0])
		mc_info("transfer: %s", msg);
	x->host = strdup(o->host ? o->host : "127.0.0.1");
	x->protocol = strdup(proto);
	x->hostname =
		strdup(o->hostname && *o->hostname ? o->hostname : "localhost");
	x->port = o->port;
	x->stall_ms = o->stall_ms ? o->stall_ms : STALL_MS_DEFAULT;
	x->lfd = -1;
	if (o->loops) {
		x->nloops = o->loops;
	} else {
		/*
		 * One loop per two CPUs: a loop moving bytes keeps a core busy,
		 * and the HTTP workers and local clients need the others (two
		 * loops on two CPUs served 4 KiB READs 1.5x slower than one).
		 */
		long n = sysconf(_SC_NPROCESSORS_ONLN) / 2;
		x->nloops = n < LOOPS_MIN ? LOOPS_MIN : (unsigned)n;
	}
	if (x->nloops > LOOPS_MAX)
		x->nloops = LOOPS_MAX;
	if (!x->host || !x->protocol || !x->hostname) {
		mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR, "out of memory");
		errno = ENOMEM;
		goto fail;
	}

	x->tp[XFER_TP_TCP].ops = &xfer_tcp_ops;
	x->framing = &x->tp[XFER_TP_TCP];
#ifdef ENABLE_RDMA
	if (!dev)
		dev = &xfer_rdma_verbs;
#endif
	/*
	 * With rdma the port's protocol the devices open now. A missing one
	 * does not stop the daemon (mooncake-transfer(7), RDMA): it says so,
	 * and every rdma mount is refused with the same reason. A device
	 * list that cannot be (EINVAL) is a configuration error.
	 */
	rc = xfer_rdma_new(dev, o->device, !strcmp(proto, "rdma"), &rd, err);
	if (rc == -EOPNOTSUPP) {
		struct mc_err why = *err;

		mc_warn("transfer: %s: rdma mounts are refused", err->msg);
		rc = xfer_rdma_new(dev, o->device, false, &rd, err);
		if (rc == 0)
			*err = why;
	}
	if (rc) {
		errno = -rc;
		goto fail;
	}
	x->tp[XFER_TP_RDMA] = (struct xfer_transport){&xfer_rdma_ops, rd};
	x->client = xfer_remote_client_new(x->cc);
	if (!x->client) {
		transports_free(x);
		mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR, "out of memory");
		errno = ENOMEM;
		goto fail;
	}
	if (so) {
		so->register_mem = hook_register;
		so->unregister_mem = hook_unregister;
		so->register_arg = x;
		so->data_ops = &xfer_data_ops;
		so->data_arg = x;
	}
	return x;
fail:
	free(x->host);
	free(x->protocol);
	free(x->hostname);
	free(x);
	return NULL;
}

static void metrics_register(struct xfer *x)
{
	struct mc_metrics *m = mc_store_metrics(x->s);
	static const char *const dirs[XFER_NDIR][1] = {{"read"}, {"write"}};
	struct mc_family *fb, *fr, *fj;

	fb = mc_metrics_family(m, "mooncake_transfer_bytes_total",
			       "Bytes moved through the transfer port",
			       MC_COUNTER, "direction", NULL, 0);
	fr = mc_metrics_family(m, "mooncake_transfer_requests_total",
			       "Transfer-port requests received", MC_COUNTER,
			       "direction", NULL, 0);
	fj = mc_metrics_family(m, "mooncake_transfer_rejections_total",
			       "Transfer-port requests rejected (range not "
			       "inside a live replica or an open put)",
			       MC_COUNTER, "direction", NULL, 0);
	for (int d = 0; d < XFER_NDIR; d++) {
		x->bytes[d] = mc_family_series(fb, dirs[d]);
		x->reqs[d] = mc_family_series(fr, dirs[d]);
		x->rejects[d] = mc_family_series(fj, dirs[d]);
	}
}

int xfer_start(struct xfer *x, struct mc_store *s, struct mc_err *err)
{
	struct xfer_transport *t = x->framing;
	int rc;

	x->s = s;
	metrics_register(x);
	rc = t->ops->listen(t->ctx, x->host, &x->port, &x->lfd, err);
	if (rc)
		return rc;
	/* accepted connections take the listener's (checked in xfer_new) */
	mc_net_cc_set(x->lfd, x->cc);
	rc = xfer_loops_start(x, err);
	if (rc)
		return rc;
	/* Another protocol's listener shares the port's number. */
	t = transport_find(x, x->protocol);
	if (t && t != x->framing && t->ops->listen) {
		unsigned port = x->port;
		int fd;

		rc = t->ops->listen(t->ctx, x->host, &port, &fd, err);
		/* no device: said at xfer_new, and the TCP port serves */
		if (rc == -EOPNOTSUPP)
			err->msg[0] = '\0';
		else if (rc)
			return rc;
	}
	rc = xfer_loops_run(x, err);
	if (rc)
		return rc;
	snprintf(x->endpoint, sizeof(x->endpoint), "%s:%u", x->hostname,
		 x->port);
	if (mc_store_set_endpoint(s, x->endpoint) < 0)
		return mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR,
				  "out of memory");
	/* TE clients find this node's memory under the endpoint's name. */
	if (mc_store_meta(s)) {
		struct mc_meta_node n = {.name = x->endpoint,
					 .host = x->hostname,
					 .data_port = x->port};

		rc = mc_meta_publish(mc_store_meta(s), &n, err);
		if (rc)
			return rc;
		x->published = true;
	}
	mc_info("transfer: listening on %s port %u (%s)", x->host, x->port,
		x->protocol);
	return 0;
}

#define CHECK_MS 1000 /* how long xfer_check_endpoint waits for a connect */

static bool addr_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)
				      ->sin_addr.s_addr) >>
			24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a =
			&((const struct sockaddr_in6 *)sa)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

/* Whether a peer's connect to @ai reaches a listener: 0 or -errno. */
static int try_connect(const struct addrinfo *ai)
{
	struct pollfd pf;
	int fd, rc = 0, soerr = 0;
	socklen_t sl = sizeof(soerr);

	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			rc = -errno;
		} else {
			pf = (struct pollfd){.fd = fd, .events = POLLOUT};
			if (poll(&pf, 1, CHECK_MS) <= 0)
				rc = -ETIMEDOUT;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr,
					    &sl) < 0 ||
				 soerr)
				rc = -(soerr ? soerr : errno);
		}
	}
	close(fd);
	return rc;
}

int xfer_check_endpoint(struct xfer *x, struct mc_err *err)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV},
			*res, *ai;
	char serv[8];
	bool all_loopback = true, reached = false;
	int rc, last = -ECONNREFUSED;

	snprintf(serv, sizeof(serv), "%u", x->port);
	rc = getaddrinfo(x->hostname, serv, &hints, &res);
	if (rc)
		return mc_err_set(err, -EHOSTUNREACH, MC_INVALID_PARAMS,
				  "advertised endpoint '%s' does not reach the "
				  "transfer port: cannot resolve '%s': %s "
				  "(see --hostname)",
				  x->endpoint, x->hostname, gai_strerror(rc));
	for (ai = res; ai; ai = ai->ai_next) {
		all_loopback &= addr_loopback(ai->ai_addr);
		if (!reached) {
			last = try_connect(ai);
			reached = last == 0;
		}
	}
	freeaddrinfo(res);
	if (!reached)
		return mc_err_set(err, -EHOSTUNREACH, MC_INVALID_PARAMS,
				  "advertised endpoint '%s' does not reach the "
				  "transfer port listening on '%s': %s (see "
				  "--hostname and --transfer-host)",
				  x->endpoint, x->host, strerror(-last));
	if (all_loopback && strcmp(x->host, "localhost") &&
	    strncmp(x->host, "127.", 4) && strcmp(x->host, "::1")) {
		mc_err_set(err, 0, MC_OK,
			   "advertised endpoint '%s' is a loopback address "
			   "while the transfer port listens on '%s': peers on "
			   "other hosts cannot reach it (see --hostname)",
			   x->endpoint, x->host);
		return 1;
	}
	return 0;
}

void xfer_set_store_port(struct xfer *x,
			 bool (*fn)(void *arg, const char *host, unsigned port),
			 void *arg)
{
	x->store_port = fn;
	x->store_port_arg = arg;
}

unsigned xfer_port(const struct xfer *x)
{
	return x->port;
}

const char *xfer_endpoint(const struct xfer *x)
{
	return x->endpoint;
}

void xfer_stop(struct xfer *x)
{
	if (!x)
		return;
	xfer_loops_stop(x);
	if (x->published)
		mc_meta_unpublish(mc_store_meta(x->s), x->endpoint);
	x->published = false;
	if (x->lfd >= 0)
		close(x->lfd);
	x->lfd = -1;
	for (int i = 0; i < XFER_NTP; i++)
		if (x->tp[i].ops && x->tp[i].ops->unlisten)
			x->tp[i].ops->unlisten(x->tp[i].ctx);
}

void xfer_free(struct xfer *x)
{
	if (!x)
		return;
	xfer_stop(x);
	transports_free(x);
	xfer_client_free(x->client);
	free(x->host);
	free(x->protocol);
	free(x->hostname);
	free(x);
}
