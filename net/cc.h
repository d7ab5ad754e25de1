/*
 * cc.h - the TCP congestion control (TCP_CONGESTION, tcp(7)) a port's
 * connections are given: the transfer port's (--transfer-congestion) and
 * the HTTP port's (--http-congestion), mooncaked(8). Both default to an
 * unpaced algorithm, whatever the system's is (why: mooncaked(8)).
 * No state; thread-safe.
 */
#ifndef MC_NET_CC_H
#define MC_NET_CC_H

#include <stddef.h>

#define MC_NET_CC_MAX	  16 /* the kernel's TCP_CA_NAME_MAX */
#define MC_NET_CC_DEFAULT "cubic"

/*
 * The algorithm for option @opt (its command-line name, "--x-congestion")
 * whose configuration key is @key, asked as @asked, into @cc:
 *   NULL       MC_NET_CC_DEFAULT; when this process may not set it
 *              (no CAP_NET_ADMIN and not in
 *              net.ipv4.tcp_allowed_congestion_control), "" with a line
 *              in @msg for the caller to log as info (else @msg is "")
 *   "", "system"  "": the connections keep the system's
 *   a name     that name, once a probe socket took it
 * Returns 0, or -EINVAL with the reason in @msg (@msglen bytes): a name
 * too long, one the kernel does not have, one not allowed to this
 * process.
 */
int mc_net_cc_choose(const char *asked, const char *opt, const char *key,
		     char cc[MC_NET_CC_MAX], char *msg, size_t msglen);

/* Gives socket @fd algorithm @cc ("" : none, a no-op): 0 or -errno. A
 * listener's connections take its algorithm when they are accepted. */
int mc_net_cc_set(int fd, const char *cc);

/* What -errno @rc of a setsockopt(TCP_CONGESTION) means, for a message:
 * -ENOENT "the kernel has no such algorithm", -EPERM "not allowed to this
 * process", else strerror's text. */
const char *mc_net_cc_why(int rc);

#endif
