/*
 * frame.h - coro_rpc framing and the transport-free request dispatcher of
 * Mooncake's master RPC (man/mooncake-rpc.7).
 *
 * A request is a 20-byte header (magic 0x15, version 0, serialize type 0
 * = struct_pack, message type, sequence number, function id, body length,
 * attachment length; little-endian), the body, then the attachment, which
 * no master call uses and which is read and dropped. A reply is a 16-byte
 * header (magic, version, error code, message type, the request's
 * sequence number, body length, attachment length 0) and the body: the
 * call's result, or, when the error code is not 0, the error message as a
 * struct_pack string.
 *
 * A malformed header (wrong magic, a version above 0, a serialize type
 * other than 0, a body over the limit) cannot be answered: the connection
 * closes, as upstream's does. A request the framework cannot serve is
 * answered and the connection stays: an unknown function id (or one whose
 * handler is NULL) gets error 11, arguments that do not decode as the
 * function's (another Mooncake version, or garbage) get error 4.
 *
 * Handlers run synchronously in the caller's thread, so replies leave in
 * request order; pipelined requests are fine.
 */
#ifndef RPC_FRAME_H
#define RPC_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"
#include "sp.h"

#define RPC_MAGIC	 0x15
#define RPC_VERSION	 0
#define RPC_REQ_HDR_LEN	 20
#define RPC_RESP_HDR_LEN 16
/* Framework error codes (coro_rpc::errc) and the messages sent with them. */
#define RPC_ERRC_INVALID_ARGS	4
#define RPC_ERRC_NOT_REGISTERED 11
#define RPC_ERRC_TOO_LARGE	14
#define RPC_MSG_INVALID_ARGS	"invalid rpc arg"
#define RPC_MSG_NOT_REGISTERED	"the rpc function not registered"
/* The largest request body accepted when the caller sets no limit. */
#define RPC_MAX_BODY_DEFAULT (64u << 20)

struct rpc_req_hdr {
	uint8_t magic, version, serialize_type, msg_type;
	uint32_t seq, function_id, length, attach_length;
};

struct rpc_resp_hdr {
	uint8_t magic, version, err_code, msg_type;
	uint32_t seq, length, attach_length;
};

void rpc_req_hdr_encode(const struct rpc_req_hdr *h,
			unsigned char out[RPC_REQ_HDR_LEN]);
void rpc_req_hdr_decode(const unsigned char in[RPC_REQ_HDR_LEN],
			struct rpc_req_hdr *h);
void rpc_resp_hdr_encode(const struct rpc_resp_hdr *h,
			 unsigned char out[RPC_RESP_HDR_LEN]);
void rpc_resp_hdr_decode(const unsigned char in[RPC_RESP_HDR_LEN],
			 struct rpc_resp_hdr *h);

/*
 * 0 when @h can be served, else -EPROTO (magic, version, serialize type)
 * or -EMSGSIZE (body over @max_body, 0 = RPC_MAX_BODY_DEFAULT), with a
 * one-line reason in @why.
 */
int rpc_req_hdr_check(const struct rpc_req_hdr *h, size_t max_body, char *why,
		      size_t whylen);

/*
 * Appends a framework error reply to request @seq: header with @code
 * (1..254) and the body struct_pack(std::string @msg), in the plain form
 * or, with RPC_SP_LITERAL in @flags, the literal form upstream sends.
 */
void rpc_error_reply(struct rpc_buf *out, uint32_t seq, unsigned code,
		     const char *msg, unsigned flags);

/*
 * A call's handler: @call is the call's table row (one function may serve
 * several calls); it reads the decoded request @req (NULL for calls
 * without arguments; the struct msg.h names for the call) and fills the
 * response @resp (that call's struct, zeroed: an expected starts as
 * "ok, zero value"). Anything the response points to must outlive the
 * call; @a is freed after the reply is encoded, so allocate there.
 * Handlers run on the server's loop threads, several at once when there
 * are several loops.
 */
typedef void (*rpc_handler_fn)(void *ctx, const struct rpc_call *call,
			       const void *req, void *resp,
			       struct rpc_arena *a);

/* What a server serves: one handler per call (NULL: not registered). */
struct rpc_service {
	rpc_handler_fn handler[RPC_NCALLS];
	void *ctx;	/* the handlers' first argument */
	unsigned flags; /* RPC_SP_LITERAL: literal replies */
	/* Told each framework error and each closing reason, one line
	 * that begins with its subsystem ("rpc: ..."); may be NULL. */
	void (*log)(void *ctx, const char *msg);
};

/*
 * Answers one request whose header @h passed rpc_req_hdr_check and whose
 * h->length body bytes are at @body: looks the function up, decodes the
 * arguments, runs the handler and appends exactly one reply frame to
 * @out. Temporary memory comes from @a (reset it afterwards).
 */
void rpc_dispatch(const struct rpc_service *svc, const struct rpc_req_hdr *h,
		  const void *body, struct rpc_arena *a, struct rpc_buf *out);

/*
 * One connection's protocol state: bytes in, replies out, no socket.
 * Zero it or use rpc_session_init; release with rpc_session_release.
 */
struct rpc_session {
	const struct rpc_service *svc;
	size_t max_body;
	int phase;
	unsigned char hdr[RPC_REQ_HDR_LEN];
	size_t hgot;
	struct rpc_req_hdr h;
	struct rpc_buf body;  /* a body that came in pieces */
	uint64_t attach_left; /* attachment bytes still to drop */
	struct rpc_arena arena;
	char why[128]; /* why the connection must close */
};

void rpc_session_init(struct rpc_session *s, const struct rpc_service *svc,
		      size_t max_body);
/*
 * Consumes the @n bytes at @p, appending one reply per completed request
 * to @out. Returns how many requests were answered (>= 0), or -EPROTO /
 * -EMSGSIZE when a header is malformed: the replies already in @out may
 * still be sent, then the connection must close (reason in s->why); the
 * session takes no more input.
 */
int rpc_session_feed(struct rpc_session *s, const void *p, size_t n,
		     struct rpc_buf *out);
/* True between requests (no partial frame held). */
bool rpc_session_idle(const struct rpc_session *s);
/* The bytes of the frame under way that arrived (0 between requests). */
uint64_t rpc_session_partial(const struct rpc_session *s);
void rpc_session_release(struct rpc_session *s);

#endif
