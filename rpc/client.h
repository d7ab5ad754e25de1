/*
 * client.h - a blocking client of Mooncake's master RPC, for tests, tools
 * and benchmarks: one TCP connection, requests numbered from 0 as
 * upstream's client numbers them, replies matched by sequence number.
 * Not thread-safe: one client per thread.
 *
 * Errors: the functions return 0, a framework error code > 0 (4 invalid
 * arguments, 11 not registered, ...; its message in @err), or -errno:
 * -ETIMEDOUT (nothing for timeout_ms), -ECONNRESET (the server closed the
 * connection), -EBADMSG (a reply that does not decode as the call's
 * result, or a reply header without the magic), -EPROTO (a reply to
 * another request than the one awaited), -EMSGSIZE (a reply over 1 GiB),
 * or a socket errno.
 */
#ifndef RPC_CLIENT_H
#define RPC_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"

struct rpc_client;

/*
 * Connects to host:port (a name or an address). NULL with @err and errno
 * set when that fails. @timeout_ms bounds every wait (0: 30000, as
 * upstream's MC_RPC_TIMEOUT_MS).
 */
struct rpc_client *rpc_client_connect(const char *host, unsigned port,
				      unsigned timeout_ms, char *err,
				      size_t errlen);
/* Closes the connection and frees @c; NULL is fine. */
void rpc_client_close(struct rpc_client *c);

/*
 * Sends a request for @call with the arguments in @req (the call's
 * request struct, msg.h; NULL for calls without arguments), in the plain
 * form or with RPC_SP_LITERAL the literal form; its sequence number in
 * *@seq. Requests may be pipelined: send several, then receive each.
 */
int rpc_client_send(struct rpc_client *c, enum rpc_call_id call,
		    const void *req, unsigned flags, uint32_t *seq);
/*
 * Receives the next reply, which must answer request @seq of @call, and
 * decodes it into @resp (the call's response struct), allocating from @a.
 */
int rpc_client_recv(struct rpc_client *c, enum rpc_call_id call, uint32_t seq,
		    void *resp, struct rpc_arena *a, char *err, size_t errlen);
/* rpc_client_send then rpc_client_recv, plain form. */
int rpc_client_call(struct rpc_client *c, enum rpc_call_id call,
		    const void *req, void *resp, struct rpc_arena *a, char *err,
		    size_t errlen);

/* Sends @n bytes as they are (hostile frames, other versions). */
int rpc_client_send_raw(struct rpc_client *c, const void *p, size_t n);
/*
 * Receives one reply frame as it is: its header in @h and its body (and
 * attachment) in @body, replacing what was there.
 */
int rpc_client_recv_raw(struct rpc_client *c, struct rpc_resp_hdr *h,
			struct rpc_buf *body);
/* The socket, to shut it down or to poll it in tests. */
int rpc_client_fd(const struct rpc_client *c);

#endif
