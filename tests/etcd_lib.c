/*
 * etcd_lib.c - start and stop a real etcd for the cluster tests.
 */
#include "autoconfig.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "etcd_lib.h"

/* The lowest port the kernel hands out by itself (port 0, connect). */
static unsigned ephemeral_low(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "re");
	unsigned lo = 32768, hi;

	if (f) {
		if (fscanf(f, "%u %u", &lo, &hi) != 2)
			lo = 32768;
		fclose(f);
	}
	return lo;
}

/*
 * A port the kernel took for port 0 is in its ephemeral range, and may be
 * handed out again (to any test's bind to port 0 or outgoing connection)
 * between this probe and etcd's bind, or while etcd is stopped for a
 * restart on the same port. Ports below that range are handed out by
 * nobody but such probes: one is picked at random there and checked free
 * with a bind (the range's port 0 only when there is no room below).
 */
unsigned etcd_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	unsigned lo = ephemeral_low(), port = 0;
	static unsigned seed;

	if (!seed)
		seed = (unsigned)getpid() ^ (unsigned)etcd_ms_now();
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 0; i < 100 && !port; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd < 0)
			return 0;
		a.sin_port = 0;
		if (lo > 11000 && i < 99)
			a.sin_port =
				htons((uint16_t)(10000 +
						 rand_r(&seed) % (lo - 10000)));
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
		    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
			port = ntohs(a.sin_port);
		close(fd);
	}
	return port;
}

void etcd_sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

uint64_t etcd_ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void etcd_proc_start_or_exit(struct etcd_proc *p, const char *who)
{
	if (etcd_proc_start(p)) {
		fprintf(stderr, "%s: cannot start etcd (install etcd-server)\n",
			who);
		exit(EXIT_FAILURE);
	}
}
/* True once etcd answers a range on its client port. */
static int answers(unsigned port)
{
	static const char body[] = "{\"key\":\"AA==\"}";
	char req[256];
	int rlen = snprintf(req, sizeof(req),
			    "POST /v3/kv/range HTTP/1.0\r\n"
			    "Content-Type: application/json\r\n"
			    "Content-Length: %zu\r\n\r\n%s",
			    sizeof(body) - 1, body);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port)};
	char buf[512];
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok = 0;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return 0;
	struct timeval tv = {1, 0};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    write(fd, req, (size_t)rlen) == rlen &&
	    (n = read(fd, buf, sizeof(buf) - 1)) > 0) {
		buf[n] = '\0';
		ok = strstr(buf, " 200 ") != NULL;
	}
	close(fd);
	return ok;
}

static int spawn(struct etcd_proc *p)
{
	const char *bin = getenv("ETCD");
	char data[300], log[300], curl[64], purl[64], cluster[96];
	pid_t parent = getpid();

	if (!bin || !*bin)
		bin = "etcd";
	snprintf(data, sizeof(data), "%s/data", p->dir);
	snprintf(log, sizeof(log), "%s/etcd.log", p->dir);
	snprintf(curl, sizeof(curl), "http://127.0.0.1:%u", p->port);
	snprintf(purl, sizeof(purl), "http://127.0.0.1:%u", p->peer_port);
	snprintf(cluster, sizeof(cluster), "t=%s", purl);
	snprintf(p->url, sizeof(p->url), "%s", curl);
	p->pid = fork();
	if (p->pid < 0) {
		p->pid = 0;
		return -errno;
	}
	if (p->pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execlp(bin, bin, "--name", "t", "--data-dir", data,
		       "--listen-client-urls", curl, "--advertise-client-urls",
		       curl, "--listen-peer-urls", purl,
		       "--initial-advertise-peer-urls", purl,
		       "--initial-cluster", cluster, "--heartbeat-interval",
		       "10", "--election-timeout", "100",
		       "--experimental-watch-progress-notify-interval", "300ms",
		       (char *)NULL);
		fprintf(stderr, "etcd_lib: cannot run %s: %s\n", bin,
			strerror(errno));
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		int st;

		if (answers(p->port))
			return 0;
		if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
			p->pid = 0;
			fprintf(stderr,
				"etcd_lib: etcd exited at start; see %s\n",
				log);
			return -ECHILD;
		}
		etcd_sleep_ms(50);
	}
	fprintf(stderr, "etcd_lib: etcd did not answer in 10 s; see %s\n", log);
	etcd_proc_kill(p);
	return -ETIMEDOUT;
}

int etcd_proc_start(struct etcd_proc *p)
{
	const char *tmp = getenv("TMPDIR");
	int rc = -EADDRINUSE;

	memset(p, 0, sizeof(*p));
	snprintf(p->dir, sizeof(p->dir), "%s/mc-etcd.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(p->dir)) {
		rc = -errno;
		fprintf(stderr, "etcd_lib: mkdtemp: %s\n", strerror(errno));
		return rc;
	}
	/* a port probed free can be taken before etcd binds it: try again */
	for (int i = 0; i < 3 && rc; i++) {
		p->port = etcd_free_port();
		p->peer_port = etcd_free_port();
		if (!p->port || !p->peer_port || p->port == p->peer_port)
			continue;
		rc = spawn(p);
	}
	return rc;
}

int etcd_proc_restart(struct etcd_proc *p)
{
	if (p->pid)
		etcd_proc_stop(p);
	return spawn(p);
}

static void reap(struct etcd_proc *p, int sig, unsigned wait_ms)
{
	if (!p->pid)
		return;
	kill(p->pid, SIGCONT);
	kill(p->pid, sig);
	for (unsigned i = 0; i < wait_ms / 10; i++) {
		if (waitpid(p->pid, NULL, WNOHANG) == p->pid) {
			p->pid = 0;
			return;
		}
		etcd_sleep_ms(10);
	}
	kill(p->pid, SIGKILL);
	waitpid(p->pid, NULL, 0);
	p->pid = 0;
}

void etcd_proc_stop(struct etcd_proc *p)
{
	reap(p, SIGTERM, 5000);
}

void etcd_proc_kill(struct etcd_proc *p)
{
	reap(p, SIGKILL, 5000);
}

/* Whether every thread of @pid is stopped (state T or t), or gone. */
static bool all_stopped(pid_t pid)
{
	char path[64], line[512];
	struct dirent *de;
	bool all = true;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return true;
	while (all && (de = readdir(d))) {
		FILE *f;
		char *rp;

		if (de->d_name[0] == '.')
			continue;
		snprintf(line, sizeof(line), "/proc/%d/task/%s/stat", (int)pid,
			 de->d_name);
		f = fopen(line, "re");
		if (!f)
			continue;
		if (fgets(line, sizeof(line), f) && (rp = strrchr(line, ')')) &&
		    rp[1] == ' ')
			all = strchr("TtZX", rp[2]) != NULL;
		fclose(f);
	}
	closedir(d);
	return all;
}

/*
 * SIGSTOP stops a process only as each of its threads next takes the
 * signal: until then etcd still answers (a loaded machine makes that
 * last). Wait until every thread is stopped (2 s at most).
 */
void etcd_proc_pause(struct etcd_proc *p)
{
	if (!p->pid)
		return;
	kill(p->pid, SIGSTOP);
	for (int i = 0; i < 200 && !all_stopped(p->pid); i++)
		etcd_sleep_ms(10);
}

void etcd_proc_resume(struct etcd_proc *p)
{
	if (p->pid)
		kill(p->pid, SIGCONT);
}

void etcd_proc_destroy(struct etcd_proc *p)
{
	char cmd[300];

	etcd_proc_stop(p);
	if (p->dir[0] && strncmp(p->dir, "/", 1) == 0 &&
	    strstr(p->dir, "/mc-etcd.")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "etcd_lib: cannot remove %s\n", p->dir);
	}
	p->dir[0] = '\0';
}
