/*
 * cluster_failover.c - how long a cluster is without a leader when its
 * leader dies: a member leads in a child process, a second member waits,
 * the child gets SIGKILL (no resign, no revoke: etcd has to end its
 * lease), and the time until the second member leads is measured.
 * Also from the moment etcd ended the lease (the second member sees the
 * dead node's key go in the same revision) to the new reign: the
 * election's own share. Coordination only (cluster/member.h over a real
 * etcd); no store.
 *
 *   bench/cluster_failover [ROUNDS [TTL_MS]]     (default 5 rounds, 3000 ms)
 *
 * Prints one line per round, then the median and the worst.
 */
#include "autoconfig.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "etcd_lib.h"
#include "log.h"
#include "member.h"

static _Atomic uint64_t left_at; /* when "old" was seen to go */

static void on_node(void *arg, const struct mc_member_node *n, bool joined)
{
	if (!joined && !strcmp(n->id, "old"))
		left_at = etcd_ms_now();
}

static struct mc_member *member(const char *url, const char *cluster,
				const char *id, unsigned ttl)
{
	struct mc_member_opts o;
	struct mc_err err = {0, ""};
	struct mc_member *m;

	mc_member_opts_default(&o);
	o.endpoints = url;
	o.cluster = cluster;
	o.id = id;
	o.http = "127.0.0.1:1";
	o.ttl_ms = ttl;
	o.cb.on_node = on_node;
	m = mc_member_start(&o, &err);
	if (!m) {
		fprintf(stderr, "cluster_failover: %s\n", err.msg);
		exit(1);
	}
	return m;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 5;
	unsigned ttl = argc > 2 ? (unsigned)atoi(argv[2]) : 3000;
	struct etcd_proc e;
	uint64_t *took, *elect;

	if (rounds < 1 || rounds > 100 || ttl < 1000) {
		fprintf(stderr, "usage: cluster_failover [ROUNDS [TTL_MS]]\n");
		return 2;
	}
	mc_log_set_level(MC_LOG_ERROR);
	if (etcd_proc_start(&e))
		return 1;
	took = calloc((size_t)rounds, sizeof(*took));
	elect = calloc((size_t)rounds, sizeof(*elect));
	for (int i = 0; i < rounds; i++) {
		char cluster[32];
		int fds[2];
		int64_t t = 0;
		pid_t pid;

		snprintf(cluster, sizeof(cluster), "failover%d", i);
		if (pipe(fds))
			return 1;
		pid = fork();
		if (pid == 0) {
			struct mc_member *m;

			prctl(PR_SET_PDEATHSIG, SIGKILL);
			m = member(e.url, cluster, "old", ttl);
			while (!mc_member_is_leader_now(m, &t))
				usleep(5000);
			if (write(fds[1], &t, sizeof(t)) != sizeof(t))
				_exit(1);
			for (;;)
				pause();
		}
		if (read(fds[0], &t, sizeof(t)) != sizeof(t))
			return 1;
		close(fds[0]);
		close(fds[1]);
		struct mc_member *b = member(e.url, cluster, "new", ttl);
		struct mc_member_node ln;

		/* the second member knows who leads before the kill */
		while (mc_member_leader(b, &ln, NULL) || strcmp(ln.id, "old"))
			usleep(5000);
		usleep(500000); /* keep-alives in their usual rhythm */
		uint64_t t0 = etcd_ms_now();

		left_at = 0;

		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		while (!mc_member_is_leader_now(b, NULL))
			usleep(1000);
		uint64_t t1 = etcd_ms_now();

		took[i] = t1 - t0;
		elect[i] = left_at ? t1 - left_at : 0;
		printf("round %d: leader killed -> new leader in %llu ms "
		       "(lease ended -> new leader in %llu ms)\n",
		       i + 1, (unsigned long long)took[i],
		       (unsigned long long)elect[i]);
		fflush(stdout);
		mc_member_stop(b);
	}
	qsort(took, (size_t)rounds, sizeof(*took), cmp_u64);
	qsort(elect, (size_t)rounds, sizeof(*elect), cmp_u64);
	printf("failover (TTL %u ms, %d rounds): median %llu ms, worst %llu "
	       "ms; "
	       "lease end -> leader: median %llu ms, worst %llu ms\n",
	       ttl, rounds, (unsigned long long)took[rounds / 2],
	       (unsigned long long)took[rounds - 1],
	       (unsigned long long)elect[rounds / 2],
	       (unsigned long long)elect[rounds - 1]);
	free(took);
	free(elect);
	etcd_proc_destroy(&e);
	return 0;
}
