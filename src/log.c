/*
 * log.c - one line per event on stderr (log.h).
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *const names[] = {"error", "warn", "info", "debug"};
static const char *const upper[] = {"ERROR", "WARN", "INFO", "DEBUG"};
/* sd-daemon(3) prefixes: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG */
static const char *const tags[] = {"<3>", "<4>", "<6>", "<7>"};

/* Read from every thread without a lock. */
static _Atomic int level = MC_LOG_INFO;
/* -1: not looked yet; 0: a terminal or a file; 1: the journal */
static _Atomic int journal = -1;
/*
 * Where lines go: fd 2 itself (a terminal, a file), a non-blocking open
 * file of its pipe, or fd 2 as a socket written only when poll(2) says
 * it has room. A
 * reader that does not read (a supervisor that reads only stdout, a
 * stalled logger) then costs lines, never a thread that logs.
 */
enum sink { SINK_FD, SINK_PIPE, SINK_SOCKET };
static _Atomic int sink_fd = STDERR_FILENO;
static _Atomic int sink_kind = SINK_FD;
/* Lines lost to a full stderr since the last one written. */
static _Atomic unsigned long lost_lines;

void mc_log_set_level(enum mc_log_level l)
{
	level = l;
}

enum mc_log_level mc_log_get_level(void)
{
	return (enum mc_log_level)level;
}

int mc_log_level_parse(const char *s)
{
	if (!s)
		return -1;
	for (int i = 0; i < 4; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

const char *mc_log_level_name(int l)
{
	return l >= 0 && l < 4 ? names[l] : "?";
}

/*
 * systemd sets JOURNAL_STREAM=DEV:INODE for a service whose stderr goes
 * to the journal (systemd.exec(5)); a child that inherited the variable
 * but writes elsewhere does not match the descriptor.
 */
int mc_log_detect(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	int j = 0, fd = STDERR_FILENO, kind = SINK_FD;
	bool known = fstat(STDERR_FILENO, &st) == 0;

	if (js && known && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
	    (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino)
		j = 1;
	if (known && S_ISSOCK(st.st_mode)) {
		kind = SINK_SOCKET;
	} else if (known && S_ISFIFO(st.st_mode)) {
		/*
		 * O_NONBLOCK on fd 2 itself would change the open file the
		 * daemon shares with whoever started it; opening the pipe
		 * again through /proc gives it an open file of its own.
		 * An older sink is left open: a thread may still write to
		 * it, and its number must not name another file meanwhile.
		 */
		int nfd = open("/proc/self/fd/2",
			       O_WRONLY | O_NONBLOCK | O_CLOEXEC);

		if (nfd >= 0) {
			fd = nfd;
			kind = SINK_PIPE;
		}
	}
	atomic_store(&sink_kind, SINK_FD);
	atomic_store(&sink_fd, fd);
	atomic_store(&sink_kind, kind);
	journal = j;
	return j;
}

/* One whole line to the sink, without waiting: false when it was lost. */
static bool sink_write(const char *line, size_t n)
{
	int fd = atomic_load(&sink_fd);
	ssize_t w;

	if (atomic_load(&sink_kind) == SINK_SOCKET) {
		/*
		 * A stream socket is writable with most of its buffer free
		 * (far more than a line); its open file is shared with the
		 * parent, so it stays blocking and is asked first.
		 */
		struct pollfd p = {.fd = fd, .events = POLLOUT};

		if (poll(&p, 1, 0) != 1 || !(p.revents & POLLOUT))
			return false;
	}
	w = write(fd, line, n); /* a pipe: n < PIPE_BUF, all or none */
	return w == (ssize_t)n;
}

/* Writes @line, after saying how many lines a full stderr cost. */
static void emit(int j, const char *line, size_t n)
{
	unsigned long lost = atomic_exchange(&lost_lines, 0);

	if (lost) {
		char say[128];
		int k = snprintf(say, sizeof(say),
				 "%sWARN log: %lu lines were not logged: "
				 "standard error was full\n",
				 j ? tags[MC_LOG_WARN] : "", lost);

		if (!sink_write(say, (size_t)k)) {
			atomic_fetch_add(&lost_lines, lost + 1);
			return;
		}
	}
	if (!sink_write(line, n))
		atomic_fetch_add(&lost_lines, 1);
}

static void vlog(enum mc_log_level l, const char *fmt, va_list ap)
{
	char line[1024];
	int n, m, saved = errno, j = journal;

	if ((int)l > level || (int)l < 0)
		return;
	if (j < 0)
		j = mc_log_detect();
	/*
	 * The time is left to whatever keeps the log (journald adds it); the
	 * journal gets the syslog priority in front so that it keeps the
	 * level (mooncaked(8), LOGGING).
	 */
	if (j)
		n = snprintf(line, sizeof(line), "%s%s ", tags[l], upper[l]);
	else
		n = snprintf(line, sizeof(line), "%s ", upper[l]);
	m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	/* A long message is cut rather than split into two writes. */
	if ((size_t)(n + m) > sizeof(line) - 2)
		m = (int)sizeof(line) - 2 - n;
	for (int i = n; i < n + m; i++)
		if ((unsigned char)line[i] < 0x20)
			line[i] = '?';
	n += m;
	line[n++] = '\n';
	/*
	 * One write(2) so that lines from several threads never interleave;
	 * a failed write to stderr has nowhere to be reported but the count
	 * the next line that goes gives.
	 */
	emit(j, line, (size_t)n);
	/* Callers log and then report errno: leave it as it was. */
	errno = saved;
}

const char *mc_log_journal_tag(enum mc_log_level l)
{
	int j = journal;

	if (j < 0)
		j = mc_log_detect();
	return j && (int)l >= 0 && l <= MC_LOG_DEBUG ? tags[l] : "";
}

void mc_log(enum mc_log_level l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(l, fmt, ap);
	va_end(ap);
}

static uint64_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

void mc_log_budgeted(struct mc_log_budget *b, enum mc_log_level l,
		     const char *fmt, ...)
{
	uint64_t now = now_s(), sec = atomic_load(&b->sec);
	va_list ap;

	if ((int)l > level)
		return;
	/* the first message of a new second opens its budget */
	if (sec != now && atomic_compare_exchange_strong(&b->sec, &sec, now)) {
		unsigned dropped = atomic_exchange(&b->dropped, 0);

		atomic_store(&b->used, 0);
		if (dropped)
			mc_log(l,
			       "%s: %u further messages not logged (at most "
			       "%u a second are)",
			       b->who, dropped, MC_LOG_BUDGET);
	}
	if (atomic_fetch_add(&b->used, 1) >= MC_LOG_BUDGET) {
		atomic_fetch_add(&b->dropped, 1);
		return;
	}
	va_start(ap, fmt);
	vlog(l, fmt, ap);
	va_end(ap);
}

void mc_oom(void)
{
	mc_log(MC_LOG_ERROR, "daemon: out of memory");
	abort();
}
