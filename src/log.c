/*
 * log.c - one-line messages on stderr.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static const char *const names[] = { "error", "warn", "info", "debug" };
static const char *const upper[] = { "ERROR", "WARN", "INFO", "DEBUG" };

/* Read from every thread without a lock. */
static _Atomic int level = MC_LOG_INFO;

void mc_log_set_level(enum mc_log_level l)
{
	level = l;
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

void mc_log(enum mc_log_level l, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n, m, saved = errno;

	if ((int)l > level || (int)l < 0)
		return;
	n = snprintf(line, sizeof(line), "mooncaked: %s: ", upper[l]);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	/* A long message is cut rather than split into two writes. */
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/*
	 * One write(2) so that lines from several threads never interleave;
	 * a failed write to stderr has nowhere to be reported.
	 */
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
	/* Callers log and then report errno: leave it as it was. */
	errno = saved;
}

void mc_oom(void)
{
	mc_log(MC_LOG_ERROR, "out of memory");
	abort();
}
