/*
 * client.h - a client of Mooncake's TCP transfer framing
 * (mooncake-transfer(7)): READ and WRITE of (endpoint, address, length) against
 * mooncaked's transfer port or an unmodified Transfer Engine's (TE's) TCP data
 * port, and the lookup that turns a TE segment name into that data port through
 * the metadata TE publishes (mooncake-http(7), METADATA).
 *
 * Requests are blocking: each call moves all its bytes or fails. Bytes go
 * straight between the socket and the caller's buffer (no staging copy);
 * a WRITE's header and payload leave in one sendmsg(2). Sockets have
 * TCP_NODELAY; every connect and every wait for the peer is bounded by
 * the client's timeout.
 *
 * Connections: by default a client keeps a small pool of persistent
 * connections per peer (host, port), as TE's pooled mode does; a request
 * takes an idle one or opens a new one, and gives it back when the request
 * ended cleanly (a connection that failed in any way is closed, never
 * reused). With one_shot, every request opens a connection and closes it,
 * as TE's default mode does. A pooled connection the peer has closed
 * meanwhile is noticed before use, and a request that finds its reused
 * connection dead before any byte of the answer arrived is retried once on
 * a fresh one (READ and WRITE are idempotent).
 *
 * Threading: a struct xfer_client may be used from any number of threads
 * at once; the pool has one mutex, held only to take or give back a
 * connection, never during I/O.
 *
 * Errors (negative errno; @err, when not NULL, gets a one-line message
 * naming the peer):
 *   -EINVAL        length 0, a range that wraps, no host or port 0
 *   -EACCES        the peer answered v2 status 1: the range is not inside
 *                  a buffer it serves (rejected; nothing was moved)
 *   -ECONNRESET    the peer closed the connection in the middle of the
 *                  request; a v1 peer does that to reject a request
 *   -ETIMEDOUT     connect, or a wait for the peer, took longer than the
 *                  timeout
 *   -ECONNREFUSED, -EHOSTUNREACH, -ENETUNREACH   connect failed
 *   -EHOSTDOWN     the host name does not resolve
 *   -EPROTO        the peer sent a status frame with a wrong magic or an
 *                  unknown code
 *   -ENOMEM
 *
 * A v1 WRITE has no acknowledgement: it succeeds once its bytes are sent,
 * as TE's v1 does; whether the peer applied them is unknown (a rejected
 * one shows as a closed connection at the next use).
 */
#ifndef XFER_CLIENT_H
#define XFER_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define XFER_CLIENT_TIMEOUT_MS 30000 /* TE's own wait for a status */
#define XFER_CLIENT_POOL_MAX   16    /* TE's MC_TCP_LANES_PER_PEER limit */
#define XFER_CLIENT_PEERS_MAX  64    /* peers whose idle connections are kept */

struct xfer_client_opts {
	/* connect, and every wait for the peer; 0: XFER_CLIENT_TIMEOUT_MS */
	unsigned timeout_ms;
	/* idle connections kept per peer; 0: 4, at most XFER_CLIENT_POOL_MAX */
	unsigned pool_per_peer;
	/* a new connection per request, closed after it (TE's default mode) */
	bool one_shot;
	/*
	 * TCP congestion control of every connection (TCP_CONGESTION, at
	 * most net/cc.h's MC_NET_CC_MAX - 1 bytes); NULL or "": the
	 * system's. One the kernel refuses leaves a connection with the
	 * system's.
	 */
	const char *congestion;
};

/* Where the bytes live. */
struct xfer_target {
	const char *host; /* a name or an IPv4/IPv6 address */
	unsigned port;	  /* the data port, 1..65535 */
	/*
	 * The framing: 2 or more speaks v2 (status frames: rejections are
	 * told, writes acknowledged), anything else v1. TE uses v2 when the
	 * peer's descriptor has tcp_proto_version >= 2.
	 */
	unsigned version;
};

struct xfer_client;

/* A client with @o (NULL: the defaults). NULL with errno ENOMEM. */
struct xfer_client *xfer_client_new(const struct xfer_client_opts *o);
/* Closes every pooled connection and frees @c (NULL is a no-op). */
void xfer_client_free(struct xfer_client *c);

/* READs @len bytes at @addr of @t into @buf: 0, or the errors above. */
int xfer_client_read(struct xfer_client *c, const struct xfer_target *t,
		     uint64_t addr, void *buf, uint64_t len,
		     struct mc_err *err);
/*
 * A READ whose bytes are kept out of user memory (splice(2)) for a door
 * that passes them on: they go into pipe @pfd (read end, write end;
 * empty, and as large as @len) as they arrive. 1 when all @len bytes
 * are in the pipe; 0 when it filled first (a pipe takes one buffer per
 * piece the socket received, which may be less than a page): memory is
 * asked for only then, @room(@ctx, @len) (room for @len bytes, or NULL),
 * what the pipe held was read back, and all @len bytes are there, the
 * pipe empty. Or the errors above (-ENOMEM when @room gave none), the
 * pipe then holding any part of the bytes.
 */
int xfer_client_read_pipe(struct xfer_client *c, const struct xfer_target *t,
			  uint64_t addr, const int pfd[2],
			  void *(*room)(void *ctx, uint64_t len), void *ctx,
			  uint64_t len, struct mc_err *err);
/* WRITEs @len bytes from @buf to @addr of @t: 0, or the errors above. */
int xfer_client_write(struct xfer_client *c, const struct xfer_target *t,
		      uint64_t addr, const void *buf, uint64_t len,
		      struct mc_err *err);
/*
 * A WRITE whose bytes are kept out of user memory (splice(2)) for a
 * door that passes them on: @hlen bytes at @head, then @len - @hlen
 * bytes taken from pipe @pfd (its read end). Errors as above (-EINVAL
 * also for @hlen > @len); a failure may have taken bytes from the pipe
 * (it is then not retried on a fresh connection).
 */
int xfer_client_write_pipe(struct xfer_client *c, const struct xfer_target *t,
			   uint64_t addr, const void *head, uint64_t hlen,
			   int pfd, uint64_t len, struct mc_err *err);
/*
 * A WRITE whose bytes are handed over while it goes, for a door that
 * passes a value on as it arrives: open sends the header (of @len bytes
 * at @addr) and gives the write in *@out; each feed adds @n bytes, from
 * @buf, or spliced from pipe @pfd (its read end) when @buf is NULL;
 * close with @ok, once all @len bytes went, waits for the peer's answer
 * and keeps the connection; close without @ok drops the connection (the
 * peer sees a cut request and keeps nothing of it). Each returns 0 or
 * the errors above; close frees the write whatever it returns, and a
 * write whose feed failed is closed without @ok. The header may be
 * retried on a fresh connection; a fed byte never is.
 */
struct xfer_wstream;
int xfer_client_wstream_open(struct xfer_client *c, const struct xfer_target *t,
			     uint64_t addr, uint64_t len,
			     struct xfer_wstream **out, struct mc_err *err);
int xfer_client_wstream_feed(struct xfer_wstream *w, const void *buf,
			     uint64_t n, int pfd, struct mc_err *err);
int xfer_client_wstream_close(struct xfer_wstream *w, bool ok,
			      struct mc_err *err);
/* Idle connections the pool holds now, over all peers (for tests). */
unsigned xfer_client_idle(struct xfer_client *c);

/* ------------------------------------------- finding a TE segment's port */

/*
 * What a TE segment name leads to: its descriptor (metadata key
 * mooncake/[CLUSTER/]ram/NAME) joined with the rpc_meta of the name the
 * descriptor carries (mooncake/[CLUSTER/]rpc_meta/NAME), exactly as TE's
 * TCP transport joins them: the data go to ip_or_host_name:tcp_data_port
 * (rpc_port is not used for data).
 */
struct xfer_te_buffer {
	uint64_t addr, length;
};

struct xfer_te_segment {
	char *name;		    /* the descriptor's "name" (malloc'd) */
	char *host;		    /* rpc_meta's ip_or_host_name (malloc'd) */
	unsigned data_port;	    /* tcp_data_port */
	unsigned version;	    /* tcp_proto_version; 1 when absent */
	size_t nbuf;		    /* buffers the segment registered */
	struct xfer_te_buffer *buf; /* malloc'd, nbuf of them */
};

/*
 * Fetches the body of metadata key @key (@klen bytes) into @out (which it
 * may reset first): 0, -ENOENT when there is no such key, or another
 * -errno with @err. mc_meta_find (mooncake.h) fits through a small
 * adapter; a remote metadata server through an HTTP GET.
 */
typedef int xfer_meta_get_fn(void *arg, const char *key, size_t klen,
			     struct mc_buf *out, struct mc_err *err);
/*
 * The getter of this process's store (mc_meta_find: its metadata server,
 * then in cluster mode the other nodes'): @arg is a struct mc_store.
 */
xfer_meta_get_fn xfer_te_meta_local;

/*
 * The metadata key TE uses for segment @name ("ram") or its location
 * ("rpc_meta"), appended to @out: "mooncake/" + CLUSTER + "/" when
 * @cluster_id is neither NULL nor "" (no second '/' when it ends in one),
 * then KIND "/" NAME. For "ram", a @name holding a '/' is taken as a path
 * under the prefix, as TE's getFullMetadataKey does, and a leading '/'
 * is dropped first, as TE's openSegment does.
 */
void xfer_te_key(struct mc_buf *out, const char *cluster_id, const char *kind,
		 const char *name);

/*
 * Parses a segment descriptor as TE's decodeSegmentDesc does for
 * protocol "tcp", into @seg (host left NULL). -EINVAL with @err when the
 * body is not a JSON object, "name" is missing or empty, "protocol" is
 * not "tcp", tcp_data_port is missing, 0 or past 65535, or any buffer has
 * an empty name, a zero addr or a zero length (one bad buffer rejects the
 * whole descriptor, as in TE); a field of the wrong JSON type is -EINVAL
 * too. -ENOMEM.
 */
int xfer_te_parse_segment(const char *body, size_t len,
			  struct xfer_te_segment *seg, struct mc_err *err);
/*
 * Parses an rpc_meta body: the malloc'd ip_or_host_name in *host.
 * -EINVAL with @err when it is missing, empty or not a string, or the
 * body is not a JSON object; -ENOMEM.
 */
int xfer_te_parse_rpc_meta(const char *body, size_t len, char **host,
			   struct mc_err *err);

/*
 * Resolves TE segment @name: fetches its descriptor and the rpc_meta of
 * the descriptor's name through @get, parses and validates both (above).
 * 0 and @seg filled (release it with xfer_te_segment_release), or -ENOENT
 * (either key missing), -EINVAL (either body rejected), or @get's error;
 * always with @err.
 */
int xfer_te_resolve(const char *name, const char *cluster_id,
		    xfer_meta_get_fn *get, void *arg,
		    struct xfer_te_segment *seg, struct mc_err *err);
void xfer_te_segment_release(struct xfer_te_segment *seg);

/* Whether [addr, addr + len) lies inside one buffer of @seg; never for a
 * range that wraps past 2^64 (a descriptor's buffer may: TE takes it). */
bool xfer_te_segment_covers(const struct xfer_te_segment *seg, uint64_t addr,
			    uint64_t len);

/* The target of @seg's data port (valid while @seg is). */
static inline struct xfer_target
xfer_te_target(const struct xfer_te_segment *seg)
{
	return (struct xfer_target){seg->host, seg->data_port, seg->version};
}

#endif
