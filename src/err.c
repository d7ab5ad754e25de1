/*
 * err.c - Mooncake error names and the error out-parameter.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdio.h>

#include "err.h"

static const struct {
	int code;
	const char *name;
} codes[] = {
	{MC_OK, "OK"},
	{MC_INTERNAL_ERROR, "INTERNAL_ERROR"},
	{MC_BUFFER_OVERFLOW, "BUFFER_OVERFLOW"},
	{MC_SEGMENT_NOT_FOUND, "SEGMENT_NOT_FOUND"},
	{MC_SEGMENT_ALREADY_EXISTS, "SEGMENT_ALREADY_EXISTS"},
	{MC_CLIENT_NOT_FOUND, "CLIENT_NOT_FOUND"},
	{MC_NO_AVAILABLE_HANDLE, "NO_AVAILABLE_HANDLE"},
	{MC_INVALID_VERSION, "INVALID_VERSION"},
	{MC_INVALID_KEY, "INVALID_KEY"},
	{MC_WRITE_FAIL, "WRITE_FAIL"},
	{MC_INVALID_PARAMS, "INVALID_PARAMS"},
	{MC_ILLEGAL_CLIENT, "ILLEGAL_CLIENT"},
	{MC_INVALID_WRITE, "INVALID_WRITE"},
	{MC_INVALID_READ, "INVALID_READ"},
	{MC_INVALID_REPLICA, "INVALID_REPLICA"},
	{MC_REPLICA_IS_NOT_READY, "REPLICA_IS_NOT_READY"},
	{MC_OBJECT_NOT_FOUND, "OBJECT_NOT_FOUND"},
	{MC_OBJECT_ALREADY_EXISTS, "OBJECT_ALREADY_EXISTS"},
	{MC_OBJECT_HAS_LEASE, "OBJECT_HAS_LEASE"},
	{MC_LEASE_EXPIRED, "LEASE_EXPIRED"},
	{MC_TRANSFER_FAIL, "TRANSFER_FAIL"},
	{MC_RPC_FAIL, "RPC_FAIL"},
	{MC_UNAVAILABLE_IN_CURRENT_STATUS, "UNAVAILABLE_IN_CURRENT_STATUS"},
	{MC_REMOTE_ONLY, "REMOTE_ONLY"},
	{MC_NO_LEADER, "NO_LEADER"},
	{MC_STALE_TERM, "STALE_TERM"},
};

const char *mc_code_name(int code)
{
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i].code == code)
			return codes[i].name;
	return "UNKNOWN_ERROR";
}

void mc_err_vset(struct mc_err *e, int code, const char *fmt, va_list ap)
{
	if (!e)
		return;
	e->code = code;
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	/* names in messages come from clients: keep the message one line */
	for (char *c = e->msg; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
}

int mc_err_set(struct mc_err *e, int ret, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mc_err_vset(e, code, fmt, ap);
	va_end(ap);
	return ret;
}
