/*
 * net.h - the TCP helpers the doors share (the core has no sockets):
 * an endpoint "HOST:PORT" taken apart, and a connect bounded in time.
 * Used by the transfer port's client (xfer/) and the internal API's
 * client (cluster/hclient.c). No state; thread-safe.
 */
#ifndef MC_NET_H
#define MC_NET_H

#include <stddef.h>

/*
 * "HOST:PORT" (HOST may be "[v6]") into @host (@hlen bytes with its NUL)
 * and *@port: 0, or -EINVAL for no colon, an empty or too long HOST, or
 * a PORT that is not a decimal number from 1 to 65535.
 */
int mc_net_split(const char *ep, char *host, size_t hlen, unsigned *port);

/*
 * Connects to @host:@port, each address getaddrinfo gives in turn,
 * waiting @connect_ms at most for each. The socket returned is
 * blocking, close-on-exec, TCP_NODELAY, and every later send and
 * receive on it gives up after @io_ms (SO_SNDTIMEO, SO_RCVTIMEO: they
 * fail with EAGAIN). Returns the fd, or:
 *   -EHOSTDOWN  @host does not resolve (*@gai, when not NULL, holds
 *               getaddrinfo's code for gai_strerror; else it is 0)
 *   -ETIMEDOUT  no answer within @connect_ms
 *   -ECONNREFUSED, -EHOSTUNREACH, -ENETUNREACH, ... what connect said
 *   -EMFILE, -ENFILE, -ENOMEM  from socket(2)
 */
int mc_net_dial(const char *host, unsigned port, unsigned connect_ms,
		unsigned io_ms, int *gai);

#endif
