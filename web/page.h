/*
 * page.h - the status page for people, GET / and GET /status
 * (mooncake-http(7), STATUS PAGE).
 *
 * One HTML document with its CSS and SVG inline: no script, no outside
 * asset, so it works from a terminal browser, through an SSH tunnel and
 * behind a strict Content-Security-Policy. Everything that comes from
 * users or operators (segment names, locations, shm names, endpoints,
 * the hostname) is HTML-escaped. It reads the segment table, the store's
 * counters and the last minute's samples (mc_store_recent), never the
 * keys: its cost is O(segments + routes), the same with 10 or 10^7 keys.
 */
#ifndef WEB_PAGE_H
#define WEB_PAGE_H

#include <stddef.h>
#include <time.h>

#include "buf.h"

struct mc_store;

/* What the page says of the daemon beyond the store (copied by the door). */
struct web_page_info {
	const char *version;	/* "0.1.0" */
	const char *hostname;	/* --hostname */
	const char *transfer;	/* transfer endpoint "host:port", NULL: none */
	const char *mountpoint; /* the control tree, NULL: --no-fuse */
	time_t started;		/* when the daemon started (wall clock) */
};

/* Appends the whole page for @s to @b. @pi may be NULL. */
void web_page_render(struct mc_store *s, const struct web_page_info *pi,
		     struct mc_buf *b);

/*
 * Appends @n bytes at @p as HTML text or attribute value: & < > " '
 * become entities, control bytes other than tab and newline and bytes
 * that are not well-formed UTF-8 become U+FFFD, so nothing a user wrote
 * can open a tag or break out of an attribute.
 */
void web_html_escape(struct mc_buf *b, const void *p, size_t n);

#endif
