/*
 * route.h - the HTTP route table: {methods, path or prefix, handler}.
 *
 * A reader finds every route of the HTTP door in route.c's table. An
 * unknown path is 404; a known path asked with another method is 405 with
 * an Allow header listing what the path takes. HEAD is taken wherever GET
 * is (the handler sees r->head and sends headers only).
 */
#ifndef MC_WEB_ROUTE_H
#define MC_WEB_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

/* How a route's error bodies look (CONTRACT sections 3 and 4). */
enum mc_body_kind {
	MC_BODY_TEXT,   /* the error name alone: OBJECT_NOT_FOUND */
	MC_BODY_JSON,   /* {"success":false,"error":"..."} */
	MC_BODY_REST,   /* {"error":"..."} */
};

struct mc_route {
	unsigned methods;         /* enum mc_method bits */
	const char *pattern;      /* exact path, or prefix ending in '/' */
	bool prefix;              /* the rest of the path is r->arg */
	enum mc_body_kind kind;
	mc_handler_fn *fn;
	const char *label;        /* route="..." in the metrics */
};

extern const struct mc_route mc_routes[];
extern const size_t mc_nroutes;

enum mc_route_result {
	MC_ROUTE_OK = 0,
	MC_ROUTE_NOT_FOUND = 1,
	MC_ROUTE_BAD_METHOD = 2,
};

/*
 * Looks up a raw (not decoded) path. MC_ROUTE_OK sets *out; the other
 * results set *out to a route of that path when there is one (its body
 * kind shapes the error) and *allow to the methods the path takes.
 */
enum mc_route_result mc_route_lookup(const char *path, size_t len,
				     unsigned method,
				     const struct mc_route **out,
				     unsigned *allow);

/* "GET" -> MC_M_GET ...; MC_M_OTHER for anything else. */
unsigned mc_method_parse(const char *m);

/* Writes an Allow value ("GET, HEAD, POST") for @mask into @buf. */
void mc_method_allow(unsigned mask, char *buf, size_t len);

/* Body kind for a path no route takes: REST under /api/, else text. */
enum mc_body_kind mc_route_default_kind(const char *path, size_t len);

#endif
