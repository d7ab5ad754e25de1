/*
 * transport_rdma.c - the RDMA device layer over rdma-core (libibverbs,
 * librdmacm): device listing, protection domains, memory registration
 * with remote read/write access, and a librdmacm listener that gives each
 * connecting peer a reliable-connected queue pair so it can post
 * one-sided READ and WRITE against registered segments. Built only when
 * configure finds rdma-core (ENABLE_RDMA). The device-independent half
 * (selection, bookkeeping, error reporting) is in rdma.c.
 */
#include "autoconfig.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "log.h"
#include "rdma.h"

#define QP_DEPTH 64

/*
 * Devices come from librdmacm's own contexts (rdma_get_devices), not from
 * ibv_open_device: a queue pair that rdma_cm creates for a connecting
 * peer lives on librdmacm's context, and it can only reach memory
 * registered in a protection domain of that same context.
 */
struct vdev {
	struct ibv_context *ctx; /* librdmacm's; never closed here */
	struct ibv_pd *pd;
};

struct vpeer {
	struct rdma_cm_id *id;
	struct ibv_cq *cq;
	struct vpeer *next;
};

struct vlis {
	struct vdev *dev;
	struct rdma_event_channel *ch;
	struct rdma_cm_id *id;
	struct vpeer *peers; /* only the listener thread touches */
	int stopfd;
	pthread_t th;
};

static int v_list(char (*names)[XFER_RDMA_NAME_MAX], int max,
		  struct mc_err *err)
{
	int n = 0, k = 0;
	struct ibv_context **l = rdma_get_devices(&n);

	/* No verbs support in the kernel is the same as no device. */
	if (!l)
		return 0;
	for (int i = 0; i < n && k < max; i++)
		snprintf(names[k++], XFER_RDMA_NAME_MAX, "%s",
			 ibv_get_device_name(l[i]->device));
	rdma_free_devices(l);
	return k;
}

static int v_open(const char *name, void **out, struct mc_err *err)
{
	int n = 0, rc = -ENODEV;
	struct ibv_context **l = rdma_get_devices(&n);
	struct vdev *d;

	if (!l) {
		return mc_err_set(err, -EOPNOTSUPP,
				  MC_UNAVAILABLE_IN_CURRENT_STATUS,
				  "RDMA device '%s' not found", name);
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		rdma_free_devices(l);
		return mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR,
				  "out of memory");
	}
	for (int i = 0; i < n; i++) {
		if (strcmp(ibv_get_device_name(l[i]->device), name))
			continue;
		d->ctx = l[i];
		d->pd = ibv_alloc_pd(d->ctx);
		if (!d->pd) {
			rc = -(errno ? errno : EIO);
			mc_err_set(err, -EOPNOTSUPP,
				   MC_UNAVAILABLE_IN_CURRENT_STATUS,
				   "cannot allocate a protection "
				   "domain on RDMA device '%s': %s",
				   name, strerror(-rc));
			break;
		}
		rc = 0;
		break;
	}
	rdma_free_devices(l);
	if (rc == -ENODEV) {
		mc_err_set(err, -EOPNOTSUPP, MC_UNAVAILABLE_IN_CURRENT_STATUS,
			   "RDMA device '%s' not found", name);
		rc = -EOPNOTSUPP;
	}
	if (rc) {
		free(d);
		return rc;
	}
	*out = d;
	return 0;
}

static void v_close(void *dev)
{
	struct vdev *d = dev;

	ibv_dealloc_pd(d->pd);
	free(d);
}

static int v_reg(void *dev, void *base, uint64_t size, void **mr,
		 uint32_t *rkey)
{
	struct vdev *d = dev;
	struct ibv_mr *m =
		ibv_reg_mr(d->pd, base, size,
			   IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
				   IBV_ACCESS_REMOTE_WRITE);

	if (!m)
		return -(errno ? errno : EIO);
	*mr = m;
	*rkey = m->rkey;
	return 0;
}

static void v_dereg(void *mr)
{
	ibv_dereg_mr(mr);
}

/* A peer asks to connect: give it a queue pair on our protection domain. */
static void v_accept(struct vlis *l, struct rdma_cm_id *id)
{
	struct vpeer *p = calloc(1, sizeof(*p));
	struct ibv_qp_init_attr qa = {
		.cap = {.max_send_wr = QP_DEPTH,
			.max_recv_wr = QP_DEPTH,
			.max_send_sge = 1,
			.max_recv_sge = 1},
		.qp_type = IBV_QPT_RC,
	};
	struct rdma_conn_param cp = {
		.responder_resources = 16,
		.initiator_depth = 16,
		.rnr_retry_count = 7,
	};
	bool qp = false;

	if (!p)
		goto reject;
	if (id->verbs != l->dev->ctx) {
		mc_warn("rdma: a peer came in through another device");
		goto reject;
	}
	p->cq = ibv_create_cq(id->verbs, 2 * QP_DEPTH, NULL, NULL, 0);
	if (!p->cq)
		goto reject;
	qa.send_cq = qa.recv_cq = p->cq;
	if (rdma_create_qp(id, l->dev->pd, &qa))
		goto reject;
	qp = true;
	if (rdma_accept(id, &cp))
		goto reject;
	p->id = id;
	id->context = p;
	p->next = l->peers;
	l->peers = p;
	return;
reject:
	mc_warn("rdma: refusing a peer: %s", strerror(errno));
	if (qp)
		rdma_destroy_qp(id);
	if (p && p->cq)
		ibv_destroy_cq(p->cq);
	free(p);
	rdma_reject(id, NULL, 0);
	rdma_destroy_id(id);
}

static void v_drop(struct vlis *l, struct rdma_cm_id *id)
{
	struct vpeer **pp, *p;

	for (pp = &l->peers; (p = *pp); pp = &p->next)
		if (p->id == id)
			break;
	if (!p)
		return;
	*pp = p->next;
	rdma_destroy_qp(id);
	ibv_destroy_cq(p->cq);
	rdma_destroy_id(id);
	free(p);
}

static void *v_listen_main(void *arg)
{
	struct vlis *l = arg;
	struct pollfd p[2] = {
		{.fd = l->ch->fd, .events = POLLIN},
		{.fd = l->stopfd, .events = POLLIN},
	};

	for (;;) {
		struct rdma_cm_event *ev;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return NULL;
		if (p[1].revents)
			return NULL;
		if (!(p[0].revents & POLLIN))
			continue;
		if (rdma_get_cm_event(l->ch, &ev))
			continue;
		struct rdma_cm_id *id = ev->id;
		enum rdma_cm_event_type t = ev->event;

		rdma_ack_cm_event(ev);
		switch (t) {
		case RDMA_CM_EVENT_CONNECT_REQUEST:
			v_accept(l, id);
			break;
		case RDMA_CM_EVENT_DISCONNECTED:
			v_drop(l, id);
			break;
		default:
			break;
		}
	}
}

static void v_unlisten(void *lis)
{
	struct vlis *l = lis;
	uint64_t one = 1;

	if (l->stopfd >= 0 && write(l->stopfd, &one, sizeof(one)) == 8)
		pthread_join(l->th, NULL);
	/* The channel goes last: every id on it must be gone first. */
	while (l->peers)
		v_drop(l, l->peers->id);
	if (l->id)
		rdma_destroy_id(l->id);
	if (l->ch)
		rdma_destroy_event_channel(l->ch);
	if (l->stopfd >= 0)
		close(l->stopfd);
	free(l);
}

static int v_listen(void *dev, const char *host, unsigned port, void **out,
		    struct mc_err *err)
{
	struct vlis *l = calloc(1, sizeof(*l));
	struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
				 .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai = NULL;
	char serv[16];
	int rc;

	if (!l) {
		return mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR,
				  "out of memory");
	}
	l->dev = dev;
	l->stopfd = -1;
	snprintf(serv, sizeof(serv), "%u", port);
	if (getaddrinfo(host, serv, &hints, &ai)) {
		mc_err_set(err, -EOPNOTSUPP, MC_UNAVAILABLE_IN_CURRENT_STATUS,
			   "rdma: cannot resolve '%s'", host);
		free(l);
		return -EINVAL;
	}
	l->ch = rdma_create_event_channel();
	if (!l->ch || rdma_create_id(l->ch, &l->id, l, RDMA_PS_TCP) ||
	    rdma_bind_addr(l->id, ai->ai_addr) || rdma_listen(l->id, 64)) {
		rc = -(errno ? errno : EIO);
		mc_err_set(err, -EOPNOTSUPP, MC_UNAVAILABLE_IN_CURRENT_STATUS,
			   "rdma: cannot listen on '%s' port %u: %s", host,
			   port, strerror(-rc));
		goto fail;
	}
	freeaddrinfo(ai);
	ai = NULL;
	l->stopfd = eventfd(0, EFD_CLOEXEC);
	if (l->stopfd < 0 ||
	    (rc = -pthread_create(&l->th, NULL, v_listen_main, l))) {
		rc = l->stopfd < 0 ? -errno : rc;
		mc_err_set(err, -EOPNOTSUPP, MC_UNAVAILABLE_IN_CURRENT_STATUS,
			   "rdma: cannot start the listener: %s",
			   strerror(-rc));
		if (l->stopfd >= 0)
			close(l->stopfd);
		l->stopfd = -1;
		goto fail;
	}
	*out = l;
	return 0;
fail:
	if (ai)
		freeaddrinfo(ai);
	v_unlisten(l);
	return rc;
}

const struct xfer_rdma_dev xfer_rdma_verbs = {
	.list = v_list,
	.open = v_open,
	.close = v_close,
	.reg = v_reg,
	.dereg = v_dereg,
	.listen = v_listen,
	.unlisten = v_unlisten,
};
