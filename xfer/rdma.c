/*
 * rdma.c - the device-independent half of the RDMA transport: device
 * selection, memory registration bookkeeping, rkeys, and the listener's
 * lifetime. The hardware is behind struct xfer_rdma_dev (rdma.h).
 */
#include "autoconfig.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rdma.h"
#include "transport.h"

struct rdma_reg {
	void *base;
	uint64_t size;
	void *mr[XFER_RDMA_DEV_MAX];
	struct rdma_reg *next;
};

struct xfer_rdma {
	const struct xfer_rdma_dev *dev; /* NULL: no RDMA in this build */
	char *device;			 /* the --device list */
	pthread_mutex_t mu;		 /* guards everything below */
	int ndev;			 /* > 0 once opened */
	void *devs[XFER_RDMA_DEV_MAX];
	char names[XFER_RDMA_DEV_MAX][XFER_RDMA_NAME_MAX];
	struct rdma_reg *regs;
	void *lis;
};

/* Opens the devices named in rd->device; caller holds rd->mu. */
static int rdma_open(struct xfer_rdma *rd, struct mc_err *err)
{
	char present[XFER_RDMA_DEV_MAX][XFER_RDMA_NAME_MAX];
	int n, rc;

	if (rd->ndev > 0)
		return 0;
	if (!rd->dev) {
		return mc_err_set(err, -EOPNOTSUPP,
				  MC_UNAVAILABLE_IN_CURRENT_STATUS,
				  "rdma is not available: mooncaked was "
				  "built without rdma-core");
	}
	n = rd->dev->list(present, XFER_RDMA_DEV_MAX, err);
	if (n < 0)
		return n == -ENOSYS ? -EOPNOTSUPP : n;
	if (n > XFER_RDMA_DEV_MAX)
		n = XFER_RDMA_DEV_MAX;
	if (n == 0) {
		return mc_err_set(err, -EOPNOTSUPP,
				  MC_UNAVAILABLE_IN_CURRENT_STATUS,
				  "no RDMA device found");
	}

	if (!rd->device[0]) {
		/* Any device will do: take the first one that opens. */
		char first[256] = "";

		for (int i = 0; i < n; i++) {
			rc = rd->dev->open(present[i], &rd->devs[0], err);
			if (rc == 0) {
				snprintf(rd->names[0], XFER_RDMA_NAME_MAX,
					 "%.*s", XFER_RDMA_NAME_MAX - 1,
					 present[i]);
				rd->ndev = 1;
				return 0;
			}
			mc_warn("rdma: %s", err->msg);
			if (!first[0])
				snprintf(first, sizeof(first), "%s", err->msg);
		}
		return mc_err_set(err, -EOPNOTSUPP,
				  MC_UNAVAILABLE_IN_CURRENT_STATUS, "%s",
				  first);
	}

	/* Every named device must exist and open. */
	char *list = strdup(rd->device), *save = NULL, *tok;
	int opened = 0;

	if (!list) {
		return mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR,
				  "out of memory");
	}
	rc = 0;
	for (tok = strtok_r(list, ", \t", &save); tok && rc == 0;
	     tok = strtok_r(NULL, ", \t", &save)) {
		bool dup = false;
		int i;

		for (i = 0; i < opened; i++)
			dup |= !strcmp(rd->names[i], tok);
		if (dup)
			continue;
		for (i = 0; i < n && strcmp(present[i], tok); i++)
			;
		if (i == n) {
			mc_err_set(err, -EOPNOTSUPP,
				   MC_UNAVAILABLE_IN_CURRENT_STATUS,
				   "RDMA device '%s' not found", tok);
			rc = -EOPNOTSUPP;
		} else if (opened == XFER_RDMA_DEV_MAX) {
			mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				   "too many RDMA devices (at most %d)",
				   XFER_RDMA_DEV_MAX);
			rc = -EINVAL;
		} else if ((rc = rd->dev->open(tok, &rd->devs[opened], err)) ==
			   0) {
			snprintf(rd->names[opened++], XFER_RDMA_NAME_MAX, "%s",
				 tok);
		}
	}
	free(list);
	if (rc == 0 && opened == 0) {
		mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
			   "no RDMA device named in '%s'", rd->device);
		rc = -EINVAL;
	}
	if (rc) {
		while (opened > 0)
			rd->dev->close(rd->devs[--opened]);
		return rc;
	}
	rd->ndev = opened;
	return 0;
}

static int rdma_register(void *ctx, void *base, uint64_t size, uint32_t *rkey)
{
	struct xfer_rdma *rd = ctx;
	struct rdma_reg *r;
	struct mc_err err = {0};
	int rc, i;

	pthread_mutex_lock(&rd->mu);
	rc = rdma_open(rd, &err);
	if (rc) {
		mc_error("rdma: registration refused: %s", err.msg);
		goto out;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < rd->ndev; i++) {
		uint32_t k = 0;

		rc = rd->dev->reg(rd->devs[i], base, size, &r->mr[i], &k);
		if (rc) {
			mc_error("rdma: cannot register %llu bytes with '%s': "
				 "%s",
				 (unsigned long long)size, rd->names[i],
				 strerror(-rc));
			while (i > 0)
				rd->dev->dereg(r->mr[--i]);
			free(r);
			goto out;
		}
		/* Descriptors carry one rkey: the first device's. */
		if (i == 0)
			*rkey = k;
	}
	r->base = base;
	r->size = size;
	r->next = rd->regs;
	rd->regs = r;
out:
	pthread_mutex_unlock(&rd->mu);
	return rc;
}

static void rdma_unregister(void *ctx, void *base, uint64_t size)
{
	struct xfer_rdma *rd = ctx;
	struct rdma_reg **pp, *r;

	pthread_mutex_lock(&rd->mu);
	for (pp = &rd->regs; (r = *pp); pp = &r->next)
		if (r->base == base && r->size == size)
			break;
	if (r) {
		*pp = r->next;
		for (int i = 0; i < rd->ndev; i++)
			rd->dev->dereg(r->mr[i]);
		free(r);
	}
	pthread_mutex_unlock(&rd->mu);
}

/*
 * Peers connect through librdmacm on the TCP port's number (the RDMA port
 * space is separate) and post one-sided operations; no fd to poll here.
 */
static int rdma_listen(void *ctx, const char *host, unsigned *port, int *lfd,
		       struct mc_err *err)
{
	struct xfer_rdma *rd = ctx;
	int rc;

	*lfd = -1;
	pthread_mutex_lock(&rd->mu);
	rc = rdma_open(rd, err);
	if (rc == 0 && rd->dev->listen)
		rc = rd->dev->listen(rd->devs[0], host, *port, &rd->lis, err);
	pthread_mutex_unlock(&rd->mu);
	return rc;
}

static void rdma_unlisten(void *ctx)
{
	struct xfer_rdma *rd = ctx;

	pthread_mutex_lock(&rd->mu);
	if (rd->lis) {
		rd->dev->unlisten(rd->lis);
		rd->lis = NULL;
	}
	pthread_mutex_unlock(&rd->mu);
}

static void rdma_free(void *ctx)
{
	struct xfer_rdma *rd = ctx;

	if (!rd)
		return;
	rdma_unlisten(rd);
	while (rd->regs) {
		struct rdma_reg *r = rd->regs;

		rd->regs = r->next;
		for (int i = 0; i < rd->ndev; i++)
			rd->dev->dereg(r->mr[i]);
		free(r);
	}
	while (rd->ndev > 0)
		rd->dev->close(rd->devs[--rd->ndev]);
	pthread_mutex_destroy(&rd->mu);
	free(rd->device);
	free(rd);
}

int xfer_rdma_new(const struct xfer_rdma_dev *dev, const char *device,
		  bool open_now, struct xfer_rdma **out, struct mc_err *err)
{
	struct xfer_rdma *rd = calloc(1, sizeof(*rd));
	int rc = 0;

	if (rd)
		rd->device = strdup(device ? device : "");
	if (!rd || !rd->device) {
		free(rd);
		return mc_err_set(err, -ENOMEM, MC_INTERNAL_ERROR,
				  "out of memory");
	}
	rd->dev = dev;
	pthread_mutex_init(&rd->mu, NULL);
	if (open_now)
		rc = rdma_open(rd, err);
	if (rc) {
		rdma_free(rd);
		return rc;
	}
	*out = rd;
	return 0;
}

/* RDMA moves no bytes through the daemon: it registers and listens. */
const struct xfer_transport_ops xfer_rdma_ops = {
	.name = "rdma",
	.listen = rdma_listen,
	.unlisten = rdma_unlisten,
	.register_mem = rdma_register,
	.unregister_mem = rdma_unregister,
	.free = rdma_free,
};
