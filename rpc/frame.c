/*
 * frame.c - coro_rpc headers, framework error replies, the dispatcher and
 * the per-connection session that turns a byte stream into replies.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "frame.h"
#include "md5.h"

enum { PH_HDR, PH_BODY, PH_ATTACH, PH_DEAD };

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

void rpc_req_hdr_encode(const struct rpc_req_hdr *h,
			unsigned char out[RPC_REQ_HDR_LEN])
{
	out[0] = h->magic;
	out[1] = h->version;
	out[2] = h->serialize_type;
	out[3] = h->msg_type;
	put32(out + 4, h->seq);
	put32(out + 8, h->function_id);
	put32(out + 12, h->length);
	put32(out + 16, h->attach_length);
}

void rpc_req_hdr_decode(const unsigned char in[RPC_REQ_HDR_LEN],
			struct rpc_req_hdr *h)
{
	h->magic = in[0];
	h->version = in[1];
	h->serialize_type = in[2];
	h->msg_type = in[3];
	h->seq = get32(in + 4);
	h->function_id = get32(in + 8);
	h->length = get32(in + 12);
	h->attach_length = get32(in + 16);
}

void rpc_resp_hdr_encode(const struct rpc_resp_hdr *h,
			 unsigned char out[RPC_RESP_HDR_LEN])
{
	out[0] = h->magic;
	out[1] = h->version;
	out[2] = h->err_code;
	out[3] = h->msg_type;
	put32(out + 4, h->seq);
	put32(out + 8, h->length);
	put32(out + 12, h->attach_length);
}

void rpc_resp_hdr_decode(const unsigned char in[RPC_RESP_HDR_LEN],
			 struct rpc_resp_hdr *h)
{
	h->magic = in[0];
	h->version = in[1];
	h->err_code = in[2];
	h->msg_type = in[3];
	h->seq = get32(in + 4);
	h->length = get32(in + 8);
	h->attach_length = get32(in + 12);
}

int rpc_req_hdr_check(const struct rpc_req_hdr *h, size_t max_body, char *why,
		      size_t whylen)
{
	if (!max_body)
		max_body = RPC_MAX_BODY_DEFAULT;
	if (h->magic != RPC_MAGIC) {
		snprintf(why, whylen, "bad magic 0x%02x (not coro_rpc)",
			 h->magic);
		return -EPROTO;
	}
	/* Upstream refuses versions above its own, and so do we. */
	if (h->version > RPC_VERSION) {
		snprintf(why, whylen, "unsupported coro_rpc version %u",
			 h->version);
		return -EPROTO;
	}
	if (h->serialize_type != 0) {
		snprintf(why, whylen, "unknown serialize type %u",
			 h->serialize_type);
		return -EPROTO;
	}
	if (h->length > max_body) {
		snprintf(why, whylen,
			 "request body of %u bytes is over the "
			 "limit of %zu",
			 h->length, max_body);
		return -EMSGSIZE;
	}
	return 0;
}

/* Writes the reply header in front of a body appended after @at. */
static void close_reply(struct rpc_buf *out, size_t at, uint32_t seq,
			unsigned code)
{
	struct rpc_resp_hdr rh = {
		.magic = RPC_MAGIC,
		.version = RPC_VERSION,
		.err_code = (uint8_t)code,
		.seq = seq,
		.length = (uint32_t)(out->len - at - RPC_RESP_HDR_LEN),
	};

	rpc_resp_hdr_encode(&rh, out->p + at);
}

static size_t open_reply(struct rpc_buf *out)
{
	size_t at = out->len;

	rpc_buf_grow(out, RPC_RESP_HDR_LEN);
	out->len += RPC_RESP_HDR_LEN;
	return at;
}

void rpc_error_reply(struct rpc_buf *out, uint32_t seq, unsigned code,
		     const char *msg, unsigned flags)
{
	static const char lit[] = "\x80\x0c";
	struct rpc_str s = {msg, strlen(msg)};
	size_t at = open_reply(out);

	rpc_sp_encode(out, &rpc_t_str, &s, rpc_type_code(lit, 2), lit, flags);
	close_reply(out, at, seq, code);
}

static void say(const struct rpc_service *svc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(const struct rpc_service *svc, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!svc->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	svc->log(svc->ctx, msg);
}

void rpc_dispatch(const struct rpc_service *svc, const struct rpc_req_hdr *h,
		  const void *body, struct rpc_arena *a, struct rpc_buf *out)
{
	const struct rpc_call *c = rpc_call_find(h->function_id);
	const char *why = "";
	void *req = NULL, *resp;
	size_t at;

	if (!c || !svc->handler[c->call]) {
		say(svc, "rpc: function id 0x%08x is not served (%s)",
		    h->function_id, c ? c->name : "unknown");
		rpc_error_reply(out, h->seq, RPC_ERRC_NOT_REGISTERED,
				RPC_MSG_NOT_REGISTERED, svc->flags);
		return;
	}
	if (c->req) {
		req = rpc_arena_alloc(a, c->req->size);
		if (rpc_req_decode(c, body, h->length, req, a, &why)) {
			say(svc, "rpc: %s: invalid arguments: %s", c->name,
			    why);
			rpc_error_reply(out, h->seq, RPC_ERRC_INVALID_ARGS,
					RPC_MSG_INVALID_ARGS, svc->flags);
			return;
		}
	}
	resp = rpc_arena_alloc(a, c->resp->size);
	svc->handler[c->call](svc->ctx, c, req, resp, a);
	at = open_reply(out);
	rpc_resp_encode(c, resp, svc->flags, out);
	if (out->len - at - RPC_RESP_HDR_LEN > UINT32_MAX) {
		/* A length field cannot say it: upstream answers the same. */
		out->len = at;
		say(svc, "rpc: %s: reply over 4 GiB", c->name);
		rpc_error_reply(out, h->seq, RPC_ERRC_TOO_LARGE,
				"body larger than 4G", svc->flags);
		return;
	}
	close_reply(out, at, h->seq, 0);
}

/* ---------------------------------------------------------------- session */

void rpc_session_init(struct rpc_session *s, const struct rpc_service *svc,
		      size_t max_body)
{
	*s = (struct rpc_session){.svc = svc, .max_body = max_body};
}

void rpc_session_release(struct rpc_session *s)
{
	rpc_buf_release(&s->body);
	rpc_arena_release(&s->arena);
	s->phase = PH_DEAD;
}

bool rpc_session_idle(const struct rpc_session *s)
{
	return s->phase == PH_HDR && s->hgot == 0;
}

uint64_t rpc_session_partial(const struct rpc_session *s)
{
	switch (s->phase) {
	case PH_HDR:
		return s->hgot;
	case PH_BODY:
		return RPC_REQ_HDR_LEN + s->body.len;
	case PH_ATTACH:
		return RPC_REQ_HDR_LEN + (uint64_t)s->h.length +
		       s->h.attach_length - s->attach_left;
	default:
		return 0;
	}
}

static void serve(struct rpc_session *s, const void *body, struct rpc_buf *out)
{
	rpc_dispatch(s->svc, &s->h, body, &s->arena, out);
	rpc_arena_reset(&s->arena);
	s->body.len = 0;
	s->hgot = 0;
	s->phase = PH_HDR;
}

/* A header is complete in s->h: check it and set up the next phase. */
static int begin(struct rpc_session *s)
{
	int rc = rpc_req_hdr_check(&s->h, s->max_body, s->why, sizeof(s->why));

	if (rc) {
		say(s->svc, "rpc: closing a connection: %s", s->why);
		s->phase = PH_DEAD;
		return rc;
	}
	s->attach_left = s->h.attach_length;
	s->body.len = 0;
	s->phase = PH_BODY;
	return 0;
}

int rpc_session_feed(struct rpc_session *s, const void *data, size_t n,
		     struct rpc_buf *out)
{
	const unsigned char *p = data;
	int answered = 0, rc;
	size_t k;

	if (s->phase == PH_DEAD)
		return -EPROTO;
	while (n > 0 || (s->phase == PH_BODY && s->body.len == s->h.length) ||
	       (s->phase == PH_ATTACH && !s->attach_left)) {
		switch (s->phase) {
		case PH_HDR:
			if (s->hgot == 0 && n >= RPC_REQ_HDR_LEN) {
				rpc_req_hdr_decode(p, &s->h);
				p += RPC_REQ_HDR_LEN;
				n -= RPC_REQ_HDR_LEN;
				if ((rc = begin(s)))
					return rc;
				/* The common case: all of it is here. */
				if (n >= (uint64_t)s->h.length +
						 s->h.attach_length) {
					k = s->h.length;
					serve(s, p, out);
					p += k + s->attach_left;
					n -= k + s->attach_left;
					answered++;
				}
				break;
			}
			k = RPC_REQ_HDR_LEN - s->hgot;
			if (k > n)
				k = n;
			memcpy(s->hdr + s->hgot, p, k);
			s->hgot += k;
			p += k;
			n -= k;
			if (s->hgot < RPC_REQ_HDR_LEN)
				return answered;
			rpc_req_hdr_decode(s->hdr, &s->h);
			if ((rc = begin(s)))
				return rc;
			break;
		case PH_BODY:
			k = s->h.length - s->body.len;
			if (k > n)
				k = n;
			rpc_buf_add(&s->body, p, k);
			p += k;
			n -= k;
			if (s->body.len == s->h.length)
				s->phase = PH_ATTACH;
			break;
		case PH_ATTACH:
			k = s->attach_left < n ? (size_t)s->attach_left : n;
			s->attach_left -= k;
			p += k;
			n -= k;
			if (s->attach_left)
				break;
			serve(s, s->body.p, out);
			answered++;
			break;
		default:
			return -EPROTO;
		}
	}
	return answered;
}
