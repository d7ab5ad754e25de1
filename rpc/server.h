/*
 * server.h - a TCP server for Mooncake's master RPC: epoll event loops,
 * one thread each, whose connections are small state machines around an
 * rpc_session (frame.h). It knows nothing of what the calls do: it
 * serves the handler table it is given (struct rpc_service).
 *
 * Every connection belongs to one loop. Requests are answered in order,
 * pipelined or not; a connection reads more only once its replies are
 * sent, so a client that does not read cannot make the server buffer
 * without bound. A malformed header closes that connection only, after
 * the replies before it are sent. A connection stuck inside a frame, or
 * with replies the peer does not take, for stall_ms is closed; so is one
 * whose frame, grace_ms after it began, has come slower than RPC_MIN_RATE
 * on average (the rule of HTTP bodies, mooncake-http(7)), as a trickled
 * frame holds what came of it. An idle connection (between requests)
 * stays open, as clients keep pools.
 */
#ifndef RPC_SERVER_H
#define RPC_SERVER_H

#include <stddef.h>

#include "frame.h"

struct rpc_server;

#define RPC_MIN_RATE 1024u /* bytes a second, see above */

struct rpc_server_opts {
	const char *host;  /* bind address: NULL or "" = every address */
	unsigned port;	   /* 0: the kernel picks (see rpc_server_port) */
	unsigned loops;	   /* loops, at most 8; 0: one per two CPUs */
	unsigned stall_ms; /* 0: 30000 */
	unsigned grace_ms; /* 0: 5000 */
	size_t max_body;   /* largest request body; 0: the default */
};

/*
 * Listens on host:port and starts the loops serving @svc, which must
 * outlive the server; its handlers run on the loop threads. Returns NULL
 * with @err and errno set: EINVAL (bad host or port), the bind or listen
 * errno (EADDRINUSE, EACCES, ...), or a thread or epoll set-up errno.
 */
struct rpc_server *rpc_server_start(const struct rpc_server_opts *o,
				    const struct rpc_service *svc, char *err,
				    size_t errlen);

/* The port listened on. */
unsigned rpc_server_port(const struct rpc_server *s);

/*
 * Stops the loops and closes the listener and every connection; no
 * handler runs after it returns. Idempotent.
 */
void rpc_server_stop(struct rpc_server *s);

/* Stops @s (rpc_server_stop) and frees it; NULL is fine. */
void rpc_server_free(struct rpc_server *s);

#endif
