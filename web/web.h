/*
 * web.h - the HTTP door: the seed's endpoints, the store REST API and the
 * two-phase put over civetweb (CONTRACT sections 3, 4, 5 and 6).
 */
#ifndef MC_WEB_H
#define MC_WEB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mc_store;
struct mc_web;

struct mc_web_opts {
	const char *host;         /* bind address, "127.0.0.1" */
	unsigned port;            /* 0: the kernel picks */
	const char *auth_token;   /* NULL: no auth; else the bearer token */
	uint64_t max_body;        /* larger bodies get 413 */
	unsigned threads;         /* worker threads, 0: a default */
};

/*
 * Starts serving. Returns NULL and a one-line message in @err when the
 * server cannot start (port taken, bad address). /health answers 503
 * until mc_web_set_ready(w, true).
 */
struct mc_web *mc_web_start(struct mc_store *s, const struct mc_web_opts *o,
			    char *err, size_t errlen);
/* The port actually bound (useful with port 0). */
unsigned mc_web_port(const struct mc_web *w);
void mc_web_set_ready(struct mc_web *w, bool ready);
/* Stops accepting, finishes in-flight requests, frees @w. */
void mc_web_stop(struct mc_web *w);

#endif
