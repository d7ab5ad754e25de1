/*
 * route.h - the HTTP route table: {methods, path or prefix, handler}.
 *
 * A reader finds every route of the HTTP door in route.c's table. An
 * unknown path is 404; a known path asked with another method is 405 with
 * an Allow header listing what the path takes. HEAD is taken wherever GET
 * is (the handler sees r->head and sends headers only).
 */
#ifndef WEB_ROUTE_H
#define WEB_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

/* How a route's error bodies look (mooncake-http(7), Error bodies). */
enum web_body_kind {
	WEB_BODY_TEXT, /* the error name alone: OBJECT_NOT_FOUND */
	WEB_BODY_JSON, /* {"success":false,"error":"..."} */
	WEB_BODY_REST, /* {"error":"..."} */
};

/* What sets a route apart (web_route.flags). */
enum web_route_flag {
	/* served without the bearer token: its clients send none */
	WEB_ROUTE_NO_AUTH = 1,
	/* exists only while the store has a metadata server (else 404) */
	WEB_ROUTE_META = 2,
	/* answers only in cluster mode (its own 404 on a single node) */
	WEB_ROUTE_CLUSTER = 4,
};

struct web_route {
	unsigned methods;    /* enum web_method bits */
	const char *pattern; /* exact path, or prefix ending in '/' */
	bool prefix;	     /* the rest of the path is r->arg */
	enum web_body_kind kind;
	web_handler_fn *fn;
	const char *label; /* route="..." in the metrics */
	unsigned flags;	   /* enum web_route_flag bits */
};

extern const struct web_route web_routes[];
extern const size_t web_nroutes;

enum web_route_result {
	WEB_ROUTE_OK = 0,
	WEB_ROUTE_NOT_FOUND = 1,
	WEB_ROUTE_BAD_METHOD = 2,
};

/*
 * Looks up a raw (not decoded) path. WEB_ROUTE_OK sets *out; the other
 * results set *out to a route of that path when there is one (its body
 * kind shapes the error) and *allow to the methods the path takes.
 */
enum web_route_result web_route_lookup(const char *path, size_t len,
				       unsigned method,
				       const struct web_route **out,
				       unsigned *allow);

/* "GET" -> WEB_M_GET ...; WEB_M_OTHER for anything else. */
unsigned web_method_parse(const char *m);

/* Writes an Allow value ("GET, HEAD, POST") for @mask into @buf. */
void web_method_allow(unsigned mask, char *buf, size_t len);

/* Body kind for a path no route takes: REST under /api/, else text. */
enum web_body_kind web_route_default_kind(const char *path, size_t len);

/*
 * Whether @rt is a route of this daemon: not one of a feature that is off
 * (--no-http-metadata; cluster routes on a single node). Those are not
 * listed on the status page and get no series before a request.
 */
struct mc_store;
bool web_route_on(const struct web_route *rt, struct mc_store *s);

#endif
