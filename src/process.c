/*
 * process.c - the process_* families, as the Prometheus client libraries
 * export them, from /proc/self (stat, statm, fd/) and RLIMIT_NOFILE: a
 * collector that reads them at most once a second (CPU time at most ten
 * times), so a scrape storm does not become a /proc storm. See
 * mc_metrics_add_process() in metrics.h.
 */
#include "autoconfig.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"

static const struct {
	const char *name, *help;
	enum mc_metric_type type;
} process_families[] = {
	{"process_cpu_seconds_total",
	 "Total user and system CPU time spent in seconds.", MC_COUNTER},
	{"process_open_fds", "Number of open file descriptors.", MC_GAUGE},
	{"process_max_fds", "Maximum number of open file descriptors.",
	 MC_GAUGE},
	{"process_virtual_memory_bytes", "Virtual memory size in bytes.",
	 MC_GAUGE},
	{"process_resident_memory_bytes", "Resident memory size in bytes.",
	 MC_GAUGE},
	{"process_start_time_seconds",
	 "Start time of the process since unix epoch in seconds.", MC_GAUGE},
};

enum { P_CPU, P_OPEN_FDS, P_MAX_FDS, P_VIRT, P_RSS, P_START, P_N };

/* The process collector's state: its series, and when /proc was read. */
struct proc_state {
	struct mc_series *s[P_N];
	struct timespec cpu_at, proc_at;
};

static void process_set(struct proc_state *ps, int which, double v)
{
	mc_series_set(ps->s[which], v);
}

static double since(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) +
	       (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* Fields of /proc/self/stat from the 3rd on (after "pid (comm)"). */
static int read_stat(unsigned long long *utime, unsigned long long *stime,
		     unsigned long long *start)
{
	char line[1024], *p;
	FILE *fp = fopen("/proc/self/stat", "r");
	int ok;

	if (!fp)
		return -1;
	p = fgets(line, sizeof(line), fp);
	fclose(fp);
	/* comm may hold spaces and parentheses: start after the last ')'. */
	if (!p || !(p = strrchr(line, ')')))
		return -1;
	ok = sscanf(p + 1,
		    " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu"
		    " %*d %*d %*d %*d %*d %*d %llu",
		    utime, stime, start);
	return ok == 3 ? 0 : -1;
}

static double boot_time(void)
{
	char line[256];
	double bt = 0;
	FILE *fp = fopen("/proc/stat", "r");

	if (!fp)
		return 0;
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "btime %lf", &bt) == 1)
			break;
	fclose(fp);
	return bt;
}

/*
 * The figures come from getrusage (CPU, which walks every thread) at most
 * every 100 ms and from /proc (memory, descriptors) at most once a
 * second: those reads cost more than the rest of a /metrics render.
 * Collections are serialized, so the state needs no lock.
 */
static void process_collect(struct mc_metrics *m, void *arg)
{
	struct proc_state *ps = arg;
	unsigned long long size, rss;
	double page = sysconf(_SC_PAGESIZE);
	struct rusage ru;
	struct rlimit rl;
	struct timespec now;
	FILE *fp;
	DIR *d;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if ((!ps->cpu_at.tv_sec || since(&ps->cpu_at, &now) >= 0.1) &&
	    getrusage(RUSAGE_SELF, &ru) == 0) {
		ps->cpu_at = now;
		process_set(ps, P_CPU,
			    (double)ru.ru_utime.tv_sec +
				    ru.ru_utime.tv_usec / 1e6 +
				    (double)ru.ru_stime.tv_sec +
				    ru.ru_stime.tv_usec / 1e6);
	}
	if (ps->proc_at.tv_sec && since(&ps->proc_at, &now) < 1)
		return;
	ps->proc_at = now;
	fp = fopen("/proc/self/statm", "r");
	if (fp) {
		if (fscanf(fp, "%llu %llu", &size, &rss) == 2) {
			process_set(ps, P_VIRT, size * page);
			process_set(ps, P_RSS, rss * page);
		}
		fclose(fp);
	}
	d = opendir("/proc/self/fd");
	if (d) {
		struct dirent *e;
		unsigned n = 0;
		while ((e = readdir(d)))
			n += e->d_name[0] != '.';
		closedir(d);
		/* Not counting the descriptor opendir itself holds. */
		process_set(ps, P_OPEN_FDS, n ? n - 1 : 0);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		process_set(ps, P_MAX_FDS,
			    rl.rlim_cur == RLIM_INFINITY ? INFINITY
							 : (double)rl.rlim_cur);
}

void mc_metrics_add_process(struct mc_metrics *m)
{
	unsigned long long ut, st, start;
	struct proc_state *ps = calloc(1, sizeof(*ps));

	if (!ps)
		mc_oom();
	for (size_t i = 0; i < P_N; i++)
		ps->s[i] = mc_family_series(
			mc_metrics_family(m, process_families[i].name,
					  process_families[i].help,
					  process_families[i].type, NULL, NULL,
					  0),
			NULL);
	/* Fixed for the life of the process: read it once. */
	if (read_stat(&ut, &st, &start) == 0)
		process_set(ps, P_START,
			    boot_time() + (double)start / sysconf(_SC_CLK_TCK));
	mc_metrics_add_collector_owned(m, process_collect, ps);
}
