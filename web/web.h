/*
 * web.h - the HTTP door: the seed's endpoints, the store REST API and the
 * two-phase put over civetweb (mooncake-http(7)).
 */
#ifndef WEB_H
#define WEB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct mc_store;
struct web;
struct web_page_info;

/*
 * One worker thread per open connection (civetweb): enough for 1,000
 * stalled clients and 100 more (mooncake-http(7), LIMITS).
 */
#define WEB_THREADS   1100
#define WEB_HEADER_MS 5000

struct web_opts {
	const char *host;	/* bind address, "127.0.0.1" */
	unsigned port;		/* 0: the kernel picks */
	const char *auth_token; /* NULL: no auth; else the bearer token */
	uint64_t max_body;	/* larger bodies get 413 */
	unsigned threads;	/* worker threads, 0: WEB_THREADS */
	uint64_t header_ms;	/* --header-timeout, 0: WEB_HEADER_MS */
	/*
	 * The TCP congestion control (TCP_CONGESTION) of the connections
	 * the port accepts (--http-congestion): NULL: net/cc.h's
	 * MC_NET_CC_DEFAULT, or the system's (with one info line) when this
	 * process may not set that one; "" or "system": the system's; a
	 * name: that one, as the caller chose it (mc_net_cc_choose), not
	 * probed again: the listeners take it or the start fails.
	 */
	const char *congestion;
	/* what the status page says of the daemon (copied), NULL: nothing */
	const struct web_page_info *page;
};

/*
 * Starts serving. Returns NULL and a one-line message in @err when the
 * server cannot start (port taken, bad address, a named congestion
 * control this kernel does not have or refuses this process). /health answers
 * 503 until web_set_ready(w, true).
 */
struct web *web_start(struct mc_store *s, const struct web_opts *o,
		      struct mc_err *err);
/* The port actually bound (useful with port 0). */
unsigned web_port(const struct web *w);
void web_set_ready(struct web *w, bool ready);
/*
 * Replaces the bearer token (SIGHUP reload): @token without surrounding
 * blanks, or NULL for no token. Requests that start afterwards use the
 * new one; none ever sees half of it. 0, -EINVAL for a blank token,
 * -ENOMEM.
 */
int web_set_token(struct web *w, const char *token);
/*
 * Starts a graceful stop (SIGTERM): the listening sockets close at once
 * (connections not yet accepted are reset), /health answers 503, every
 * answer from now on closes its connection, and connections waiting
 * between requests are closed within a watchdog tick. Requests being
 * read or answered go on.
 */
void web_drain(struct web *w);
/* Connections still open (a request under way, or a head awaited). */
unsigned web_busy(struct web *w);
/*
 * Stops serving and frees @w; requests still under way are cut (call
 * web_drain and wait for web_busy to reach 0 first to let them end).
 */
void web_stop(struct web *w);

#endif
