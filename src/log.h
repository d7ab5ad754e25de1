/*
 * log.h - one line per event on stderr, "LEVEL subsystem: message"
 * (mooncaked(8), LOGGING).
 *
 * Every message starts with its subsystem and a colon ("segment: mounted
 * ..."); the level goes in front. When stderr is the systemd journal
 * (JOURNAL_STREAM names it) the line starts with the syslog priority
 * ("<6>INFO segment: ...") so journald keeps the level; anywhere else it
 * starts with the level. The daemon writes no time: journald adds it.
 */
#ifndef MC_LOG_H
#define MC_LOG_H

#include <stdatomic.h>
#include <stdint.h>

enum mc_log_level { MC_LOG_ERROR = 0, MC_LOG_WARN, MC_LOG_INFO, MC_LOG_DEBUG };

/* Messages above @l are dropped. Default MC_LOG_INFO. Any thread. */
void mc_log_set_level(enum mc_log_level l);
/* The current level. */
enum mc_log_level mc_log_get_level(void);
/* "error" "warn" "info" "debug" -> level; -1 when unknown. */
int mc_log_level_parse(const char *s);
/* The lowercase name of @l ("info"), "?" when out of range. */
const char *mc_log_level_name(int l);
/*
 * Looks again at whether stderr is the journal (JOURNAL_STREAM against
 * fstat(2) of fd 2). mc_log does it once by itself; call this after
 * replacing fd 2. Returns 1 for the journal, 0 otherwise.
 */
int mc_log_detect(void);
/*
 * "<N>" (the syslog priority of @l) when stderr is the journal, else "":
 * for lines written without mc_log (a failed start's "mooncaked: ..."),
 * so that journalctl -p selects them too.
 */
const char *mc_log_journal_tag(enum mc_log_level l);
/*
 * Writes one line to stderr in one write(2), so lines from several
 * threads never interleave, and never waits: a line that a full pipe or
 * socket cannot take is counted, and the next line that goes is preceded
 * by "log: N lines were not logged"; a message longer than about 1000 bytes is
 * cut, and bytes below 0x20 inside it (a newline in a key, say) are
 * written as '?' so that one event stays one line. Leaves errno
 * unchanged.
 */
void mc_log(enum mc_log_level l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * A budget for lines that clients can cause as fast as they like (a
 * malformed RPC frame, a stalled connection): at most MC_LOG_BUDGET a
 * second go through one budget. The first line of a second after one
 * that dropped some is preceded by "WHO: N further messages not logged".
 * Static storage, @who set, the rest zero. Any thread.
 */
#define MC_LOG_BUDGET 10u
struct mc_log_budget {
	const char *who; /* the subsystem, as the lines name it */
	_Atomic uint64_t sec;
	_Atomic unsigned used, dropped;
};
void mc_log_budgeted(struct mc_log_budget *b, enum mc_log_level l,
		     const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define mc_error(...) mc_log(MC_LOG_ERROR, __VA_ARGS__)
#define mc_warn(...)  mc_log(MC_LOG_WARN, __VA_ARGS__)
#define mc_info(...)  mc_log(MC_LOG_INFO, __VA_ARGS__)
#define mc_debug(...) mc_log(MC_LOG_DEBUG, __VA_ARGS__)

/*
 * The out-of-memory policy, the same in the core, the doors and the
 * daemon. An allocation whose size a client chooses (a value, a segment,
 * a put, a batch of keys, a request body) fails its operation with
 * -ENOMEM, which each door answers in its own words (HTTP 507, ENOMEM in
 * the tree). An allocation of bounded bookkeeping (render buffers, metric
 * series, the segment table, names, snapshots, start-up configuration)
 * that fails leaves no honest way on: the caller calls mc_oom(), which
 * logs one line and aborts.
 */
void mc_oom(void) __attribute__((noreturn));

#endif
