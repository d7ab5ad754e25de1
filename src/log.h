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

#endif
