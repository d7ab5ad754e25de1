/*
 * hclient.h - the small HTTP/1.1 client a node uses for the internal
 * API of the other nodes (mooncake-http(7), INTERNAL API): one POST of
 * an octet-stream body, its answer read whole. Connections are kept per
 * peer ("host:port") and reused (while idle less than a second), so a
 * follower's forwarded request costs one round trip and no handshake.
 * A request is sent again, on a new connection, only when it could not
 * be written whole on a kept one (the peer had closed it): never once
 * it may have run.
 *
 * Why not libcurl (which cluster/etcd.c uses): a forwarded /query_key
 * must cost little next to the request it serves; this client is a
 * writev and a read or two.
 *
 * Threading: any number of threads at once; the pool's mutex is held
 * only to take or give back a connection, never during I/O.
 *
 * Errors (negative errno, with @err naming the peer):
 *   -ECONNREFUSED, -EHOSTUNREACH, -ENETUNREACH, -EHOSTDOWN (no such
 *           host), -ETIMEDOUT before the request was sent: it did not
 *           run (*@sent false)
 *   -ETIMEDOUT, -ECONNRESET, -EPROTO after it was sent: the answer is
 *           lost or not HTTP; whether it ran is unknown (*@sent true)
 *   -EMSGSIZE an answer over the client's limit
 *   -EINVAL   a peer that is not "host:port"
 *   -ENOMEM
 */
#ifndef MC_HCLIENT_H
#define MC_HCLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"

struct hclient;

/*
 * @timeout_ms bounds every wait for the peer, and a quarter of it (at
 * least 200 ms) the connect; answers over @max_answer bytes are
 * refused. NULL with errno ENOMEM.
 */
struct hclient *hclient_new(unsigned timeout_ms, size_t max_answer);
void hclient_free(struct hclient *c);

/*
 * POSTs @len bytes to http://@peer@path, with "Authorization: Bearer
 * @token" when @token is not NULL. 0 with the status in *@status and
 * the body in @out (reset first); else the errors above. *@sent tells
 * whether the request may have reached the peer.
 */
int hclient_post(struct hclient *c, const char *peer, const char *path,
		 const char *token, const void *body, size_t len, int *status,
		 struct mc_buf *out, bool *sent, struct mc_err *err);

/*
 * The head of an answer (exported for the tests' table): @len bytes up
 * to and including the blank line. 0 with the status, the body's length
 * (Content-Length, required: the internal API always sends it) and
 * whether the peer closes the connection; -EPROTO for anything else
 * (no "HTTP/1.x NNN" status line, a status outside 100..599, a missing,
 * repeated, negative or non-decimal Content-Length, chunked framing).
 */
int hclient_parse_head(const char *head, size_t len, int *status, size_t *clen,
		       bool *close);

#endif
