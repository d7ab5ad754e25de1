/*
 * relay.h - a TCP relay from an IPv6 address to a local IPv4 port: what
 * lets the HTTP door listen on IPv6 with a civetweb built without it
 * (mooncaked(8), --host). civetweb listens on IPv4; the relay listens
 * on the IPv6 address (IPV6_V6ONLY, so that "::" leaves IPv4 to
 * civetweb) on the same port number, and for each connection it
 * accepts opens one to 127.0.0.1:PORT and moves bytes both ways.
 *
 * Each direction has one bounded buffer: a side is read only when the
 * buffer it fills is empty, so a slow reader slows its writer
 * (back-pressure) and a connection costs a bounded amount of memory
 * (128 KiB while bytes move both ways, none while it is idle). An
 * end of stream is passed on as shutdown(SHUT_WR) once its bytes are
 * through; an error or reset on either side closes both. A pair whose
 * server has ended while its client has not, or whose upstream connect
 * is not done, is closed after stall_ms without progress (a client that
 * never closes after the server's end must not hold two descriptors for
 * ever). Accepting when out of
 * descriptors follows shed.h; a connection whose upstream socket cannot
 * be had is closed at once.
 *
 * One loop thread, "mc-NAME-0", runs every pair (net/loop.h): both sides
 * of a pair are then touched by one thread only. Nothing here logs: the
 * say hook gets each warning as one line.
 *
 * Ownership: the relay owns its listener, the loop and every pair.
 */
#ifndef MC_NET_RELAY_H
#define MC_NET_RELAY_H

#include <stdint.h>

struct mc_relay;

struct mc_relay_opts {
	const char *host;  /* an IPv6 literal (inet_pton) to listen on */
	unsigned port;	   /* the listening port, and civetweb's */
	unsigned stall_ms; /* see above; 0 means 10 s */
	const char *name;  /* the thread: "mc-NAME-0" */
	/* the clients' connections' TCP congestion control (cc.h), NULL or
	 * "": the system's */
	const char *congestion;
	void (*say)(const char *msg);
};

/*
 * Listens on [@o->host]:@o->port and starts the loop thread. Returns
 * the relay, or NULL with errno:
 *   EINVAL   @o->host is not an IPv6 literal
 *   EADDRINUSE, EADDRNOTAVAIL, EACCES  what bind(2) said
 *   ENOMEM, EMFILE, ENFILE, EAGAIN  no memory, descriptor or thread
 */
struct mc_relay *mc_relay_start(const struct mc_relay_opts *o);

/*
 * Stops accepting: the listener leaves the loop and connections still
 * queued on it are reset; pairs under way go on. Any thread; once.
 */
void mc_relay_unlisten(struct mc_relay *r);

/*
 * Waits up to @ms for every pair to have passed its server's end of
 * stream on to its client (all the server's bytes through): called once
 * the server has closed its connections, so that a relayed client gets
 * what the server wrote before it stopped, as a direct one does from the
 * kernel. Returns how many pairs are still not through (0: all). Any
 * thread but the loop's.
 */
unsigned mc_relay_flush(struct mc_relay *r, unsigned ms);

/*
 * Stops the thread, closes every pair and the listener, frees @r. NULL
 * is fine.
 */
void mc_relay_stop(struct mc_relay *r);

#endif
