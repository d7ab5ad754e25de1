/*
 * log.h - one-line log messages on stderr: "mooncaked: LEVEL: message".
 */
#ifndef MC_LOG_H
#define MC_LOG_H

enum mc_log_level { MC_LOG_ERROR = 0, MC_LOG_WARN, MC_LOG_INFO, MC_LOG_DEBUG };

/* Messages above @l are dropped. Default MC_LOG_INFO. */
void mc_log_set_level(enum mc_log_level l);
/* "error" "warn" "info" "debug" -> level; -1 when unknown. */
int mc_log_level_parse(const char *s);
/*
 * Writes "mooncaked: LEVEL: message\n" to stderr in one write(2), so
 * lines from several threads never interleave; a message longer than
 * about 1000 bytes is cut. Leaves errno unchanged.
 */
void mc_log(enum mc_log_level l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define mc_error(...) mc_log(MC_LOG_ERROR, __VA_ARGS__)
#define mc_warn(...) mc_log(MC_LOG_WARN, __VA_ARGS__)
#define mc_info(...) mc_log(MC_LOG_INFO, __VA_ARGS__)
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
