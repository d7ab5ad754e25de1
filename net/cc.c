/*
 * cc.c - picking and setting a port's TCP congestion control (cc.h).
 */
#include "autoconfig.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cc.h"

/*
 * Gives a probe socket algorithm @name: 0, or -errno (ENOENT: the kernel
 * has no such algorithm; EPERM: not allowed to this process). With @sys
 * (MC_NET_CC_MAX bytes), also the name the socket had before: the
 * system's default.
 */
static int cc_try(const char *name, char *sys)
{
	socklen_t len = MC_NET_CC_MAX;
	int fd, rc = 0;

	if (sys)
		snprintf(sys, MC_NET_CC_MAX, "?");
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0; /* no TCP at all: nothing will be set either */
	if (sys && !getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, sys, &len))
		sys[len < MC_NET_CC_MAX ? len : MC_NET_CC_MAX - 1] = '\0';
	if (setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, strlen(name)) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

const char *mc_net_cc_why(int rc)
{
	return rc == -ENOENT  ? "the kernel has no such algorithm"
	       : rc == -EPERM ? "not allowed to this process"
			      : strerror(-rc);
}

int mc_net_cc_choose(const char *asked, const char *opt, const char *key,
		     char cc[MC_NET_CC_MAX], char *msg, size_t msglen)
{
	char sys[MC_NET_CC_MAX];
	int rc;

	cc[0] = '\0';
	msg[0] = '\0';
	if (!asked) {
		/* a paced default (bbr without fq) arms kernel timers for
		 * every burst of a large value: the unpaced one, if allowed */
		rc = cc_try(MC_NET_CC_DEFAULT, sys);
		if (!rc)
			snprintf(cc, MC_NET_CC_MAX, "%s", MC_NET_CC_DEFAULT);
		else
			snprintf(msg, msglen,
				 "connections keep the system's congestion "
				 "control %s: the default %s cannot be set "
				 "(%s; sysctl "
				 "net.ipv4.tcp_allowed_congestion_control)",
				 sys, MC_NET_CC_DEFAULT, mc_net_cc_why(rc));
		return 0;
	}
	if (!*asked || !strcmp(asked, "system"))
		return 0;
	if (strlen(asked) >= MC_NET_CC_MAX) {
		snprintf(msg, msglen,
			 "invalid value '%.64s' for '%s' (%s): at most %d "
			 "characters",
			 asked, opt, key, MC_NET_CC_MAX - 1);
		return -EINVAL;
	}
	rc = cc_try(asked, NULL);
	if (rc) {
		snprintf(
			msg, msglen,
			"invalid value '%s' for '%s' (%s): %s (sysctl "
			"net.ipv4.tcp_available_congestion_control lists "
			"those this kernel has, tcp_allowed_congestion_control "
			"those any process may take)",
			asked, opt, key, mc_net_cc_why(rc));
		return -EINVAL;
	}
	snprintf(cc, MC_NET_CC_MAX, "%s", asked);
	return 0;
}

int mc_net_cc_set(int fd, const char *cc)
{
	if (!cc || !*cc)
		return 0;
	if (setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, strlen(cc)) < 0)
		return -errno;
	return 0;
}
