/*
 * err.h - Mooncake error codes and the error out-parameter.
 *
 * Core functions return 0 or -errno (FUSE-native). When the caller needs
 * the reason, a struct mc_err carries the Mooncake error code (the names
 * and numbers of upstream's ErrorCode, used in HTTP bodies) and a one-line
 * message: lowercase, no full stop, the failure first, the subject in
 * quotes ("segment '3f0c…' is draining").
 */
#ifndef MC_ERR_H
#define MC_ERR_H

#include <stdarg.h>

#include <stddef.h>

enum mc_code {
	MC_OK = 0,
	MC_INTERNAL_ERROR = -1,
	MC_BUFFER_OVERFLOW = -10,
	MC_SEGMENT_NOT_FOUND = -101,
	MC_SEGMENT_ALREADY_EXISTS = -102,
	MC_CLIENT_NOT_FOUND = -103,
	MC_NO_AVAILABLE_HANDLE = -200,
	MC_INVALID_VERSION = -300,
	MC_INVALID_KEY = -400,
	MC_WRITE_FAIL = -500,
	MC_INVALID_PARAMS = -600,
	MC_ILLEGAL_CLIENT = -601, /* a put ended or revoked by another writer */
	MC_INVALID_WRITE = -700,
	MC_INVALID_READ = -701,
	MC_INVALID_REPLICA = -702,
	MC_REPLICA_IS_NOT_READY = -703,
	MC_OBJECT_NOT_FOUND = -704,
	MC_OBJECT_ALREADY_EXISTS = -705,
	MC_OBJECT_HAS_LEASE = -706,
	MC_LEASE_EXPIRED = -707, /* a reader's lease ended before it read */
	MC_TRANSFER_FAIL = -800,
	MC_RPC_FAIL = -900,
	MC_UNAVAILABLE_IN_CURRENT_STATUS = -1010,
	/*
	 * mooncaked's own, never sent over the master RPC (upstream has no
	 * such codes): a value whose replicas are all in other processes'
	 * memory that could not be read from any (errno -EREMOTEIO, HTTP
	 * 409), and no cluster leader to act (errno -EAGAIN, HTTP 503 with
	 * Retry-After: 1), and an owner refusing an instruction of an older
	 * cluster term than one it has seen (errno -ESTALE;
	 * mooncake-cluster(7)).
	 */
	MC_REMOTE_ONLY = -10001,
	MC_NO_LEADER = -10002,
	MC_STALE_TERM = -10003,
};

struct mc_err {
	int code; /* enum mc_code */
	char msg[256];
};

/* "OBJECT_NOT_FOUND" for MC_OBJECT_NOT_FOUND; "UNKNOWN_ERROR" otherwise. */
const char *mc_code_name(int code);

/*
 * Fills @e (when not NULL) with @code and a printf-style message, and
 * returns @ret (a negative errno) so callers can `return mc_err_set(...)`.
 * The message is one line: control bytes (a client's key or name may
 * carry them) become '?'.
 */
int mc_err_set(struct mc_err *e, int ret, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The same with a va_list, for wrappers; returns nothing. */
void mc_err_vset(struct mc_err *e, int code, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

#endif
