/*
 * node.h - an in-process node for the fuzz targets that need live
 * doors: a store with one segment, the transfer port and the HTTP door
 * on loopback ports the kernel picks, as daemon/main.c composes them
 * (no FUSE, no signals). Started once per process; never stopped (the
 * process exits).
 */
#ifndef MC_FUZZ_NODE_H
#define MC_FUZZ_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "mooncake.h"

struct fuzz_node {
	struct mc_store *s;
	unsigned http_port, xfer_port;
	char seg_id[MC_ID_LEN + 1]; /* the base segment */
	const char *token;	    /* the HTTP bearer token */
};

/* Starts the node (aborts on failure); @web false: no HTTP door. */
struct fuzz_node *fuzz_node_start(int web);
/*
 * Puts the store back as it started: every key removed, every put
 * revoked by key is the caller's business, every segment but the base
 * one unmounted (a new base mounted if it went), every stored metadata
 * key deleted.
 */
void fuzz_node_reset(struct fuzz_node *n);
/* A loopback TCP connection to @port with a 5 s receive timeout. */
int fuzz_connect(unsigned port);
/* Writes all @len bytes (0), or -1 when the peer closed. */
int fuzz_write_all(int fd, const void *p, size_t len);
/*
 * Reads until end of stream into a malloc'd buffer (*len bytes): 0, or
 * -1 when no end came within the timeout (a hang: the caller aborts).
 */
int fuzz_read_all(int fd, unsigned char **out, size_t *len);

#endif
