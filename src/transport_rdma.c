/*
 * transport_rdma.c - the RDMA device layer over rdma-core (libibverbs,
 * librdmacm): device listing, protection domains, memory registration
 * with remote read/write access, and a librdmacm listener that gives each
 * connecting peer a reliable-connected queue pair so it can post
 * one-sided READ and WRITE against registered segments. Built only when
 * configure finds rdma-core (ENABLE_RDMA). The device-independent half
 * (selection, bookkeeping, error reporting) is in transfer.c.
 */
#include "autoconfig.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "log.h"
#include "transfer.h"

#define QP_DEPTH 64

struct vdev {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
};

struct vlis {
	struct vdev *dev;
	struct rdma_event_channel *ch;
	struct rdma_cm_id *id;
	int stopfd;
	pthread_t th;
};

static int v_list(char (*names)[MC_RDMA_NAME_MAX], int max, char *err,
		  size_t errlen)
{
	int n = 0, k = 0;
	struct ibv_device **l = ibv_get_device_list(&n);

	/* No verbs support in the kernel is the same as no device. */
	if (!l)
		return 0;
	for (int i = 0; i < n && k < max; i++)
		snprintf(names[k++], MC_RDMA_NAME_MAX, "%s",
			 ibv_get_device_name(l[i]));
	ibv_free_device_list(l);
	return k;
}

static int v_open(const char *name, void **out, char *err, size_t errlen)
{
	int n = 0, rc = -ENODEV;
	struct ibv_device **l = ibv_get_device_list(&n);
	struct vdev *d;

	if (!l) {
		snprintf(err, errlen, "RDMA device '%s' not found", name);
		return -EOPNOTSUPP;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		ibv_free_device_list(l);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		if (strcmp(ibv_get_device_name(l[i]), name))
			continue;
		d->ctx = ibv_open_device(l[i]);
		if (!d->ctx) {
			rc = -(errno ? errno : EIO);
			snprintf(err, errlen, "cannot open RDMA device '%s': %s",
				 name, strerror(-rc));
			break;
		}
		d->pd = ibv_alloc_pd(d->ctx);
		if (!d->pd) {
			rc = -(errno ? errno : EIO);
			snprintf(err, errlen, "cannot allocate a protection "
				 "domain on '%s': %s", name, strerror(-rc));
			ibv_close_device(d->ctx);
			break;
		}
		rc = 0;
		break;
	}
	ibv_free_device_list(l);
	if (rc == -ENODEV) {
		snprintf(err, errlen, "RDMA device '%s' not found", name);
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
	ibv_close_device(d->ctx);
	free(d);
}

static int v_reg(void *dev, void *base, uint64_t size, void **mr,
		 uint32_t *rkey)
{
	struct vdev *d = dev;
	struct ibv_mr *m = ibv_reg_mr(d->pd, base, size,
				      IBV_ACCESS_LOCAL_WRITE |
				      IBV_ACCESS_REMOTE_READ |
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
	struct ibv_cq *cq = NULL;
	struct ibv_qp_init_attr qa = {
		.cap = { .max_send_wr = QP_DEPTH, .max_recv_wr = QP_DEPTH,
			 .max_send_sge = 1, .max_recv_sge = 1 },
		.qp_type = IBV_QPT_RC,
	};
	struct rdma_conn_param cp = {
		.responder_resources = 16,
		.initiator_depth = 16,
		.rnr_retry_count = 7,
	};

	if (id->verbs != l->dev->ctx) {
		mc_warn("rdma: a peer connected through another device");
		goto reject;
	}
	cq = ibv_create_cq(id->verbs, 2 * QP_DEPTH, NULL, NULL, 0);
	if (!cq)
		goto reject;
	qa.send_cq = qa.recv_cq = cq;
	if (rdma_create_qp(id, l->dev->pd, &qa))
		goto reject;
	id->context = cq;
	if (rdma_accept(id, &cp) == 0)
		return;
	rdma_destroy_qp(id);
reject:
	mc_warn("rdma: refusing a peer: %s", strerror(errno));
	if (cq)
		ibv_destroy_cq(cq);
	id->context = NULL;
	rdma_reject(id, NULL, 0);
	rdma_destroy_id(id);
}

static void v_drop(struct rdma_cm_id *id)
{
	struct ibv_cq *cq = id->context;

	rdma_destroy_qp(id);
	if (cq)
		ibv_destroy_cq(cq);
	rdma_destroy_id(id);
}

static void *v_listen_main(void *arg)
{
	struct vlis *l = arg;
	struct pollfd p[2] = {
		{ .fd = l->ch->fd, .events = POLLIN },
		{ .fd = l->stopfd, .events = POLLIN },
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
			v_drop(id);
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
	if (l->id)
		rdma_destroy_id(l->id);
	if (l->ch)
		rdma_destroy_event_channel(l->ch);
	if (l->stopfd >= 0)
		close(l->stopfd);
	free(l);
}

static int v_listen(void *dev, const char *host, unsigned port, void **out,
		    char *err, size_t errlen)
{
	struct vlis *l = calloc(1, sizeof(*l));
	struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai = NULL;
	char serv[16];
	int rc;

	if (!l) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	l->dev = dev;
	l->stopfd = -1;
	snprintf(serv, sizeof(serv), "%u", port);
	if (getaddrinfo(host, serv, &hints, &ai)) {
		snprintf(err, errlen, "rdma: cannot resolve '%s'", host);
		free(l);
		return -EINVAL;
	}
	l->ch = rdma_create_event_channel();
	if (!l->ch || rdma_create_id(l->ch, &l->id, l, RDMA_PS_TCP) ||
	    rdma_bind_addr(l->id, ai->ai_addr) || rdma_listen(l->id, 64)) {
		rc = -(errno ? errno : EIO);
		snprintf(err, errlen, "rdma: cannot listen on '%s' port %u: %s",
			 host, port, strerror(-rc));
		goto fail;
	}
	freeaddrinfo(ai);
	ai = NULL;
	l->stopfd = eventfd(0, EFD_CLOEXEC);
	if (l->stopfd < 0 ||
	    (rc = -pthread_create(&l->th, NULL, v_listen_main, l))) {
		rc = l->stopfd < 0 ? -errno : rc;
		snprintf(err, errlen, "rdma: cannot start the listener: %s",
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

const struct mc_rdma_dev mc_rdma_verbs = {
	.list = v_list,
	.open = v_open,
	.close = v_close,
	.reg = v_reg,
	.dereg = v_dereg,
	.listen = v_listen,
	.unlisten = v_unlisten,
};
