/*
 * status.h - the one table from core errors to HTTP statuses, and the one
 * place error bodies are shaped.
 */
#ifndef WEB_STATUS_H
#define WEB_STATUS_H

#include "buf.h"
#include "route.h"

/*
 * HTTP status for a negative errno from the core:
 *   -ENOENT 404, -EINVAL -ERANGE -EIO 400, -EACCES 403, -EPERM 403
 *   (ILLEGAL_CLIENT: another writer's put), -ETIMEDOUT 408, -EBUSY
 *   -EEXIST 409, -EREMOTEIO 409 (REMOTE_ONLY: a value held only in
 *   other processes' memory that could not be read), -EFBIG -E2BIG 413,
 *   -EOPNOTSUPP 501 (the server cannot do it: rdma without a device),
 *   -EAGAIN 503 (NO_LEADER; web_resp_errno adds Retry-After: 1),
 *   -ENOSPC -ENOMEM 507, else 500.
 */
int web_status_from_errno(int rc);

/* The Mooncake error name (err.h) for a negative errno, as text bodies
 * and batch items show it: -ENOENT OBJECT_NOT_FOUND, -EINVAL INVALID_KEY,
 * -EBUSY OBJECT_HAS_LEASE, -ENOSPC NO_AVAILABLE_HANDLE, -EREMOTEIO
 * REMOTE_ONLY, -EAGAIN NO_LEADER, ... */
const char *web_status_code_name(int rc);

/* "OK", "Not Found", ...; "Unknown" for codes this server never sends. */
const char *web_status_reason(int status);

/*
 * Appends the error body for @kind: TEXT the message alone, JSON
 * {"success":false,"error":MSG}, REST {"error":MSG} (plus ,@extra before
 * the closing brace when @extra is not NULL: `"name":value`).
 */
void web_status_error_body(struct mc_buf *b, enum web_body_kind kind,
			   const char *msg, const char *extra);

/* Content type of @kind's bodies. */
const char *web_status_ctype(enum web_body_kind kind);

#endif
