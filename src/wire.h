/*
 * wire.h - the byte format of cluster messages (mooncake-cluster(7),
 * INTERNAL API): what a follower sends its leader (master.c serves it,
 * link.c sends it) and what a leader sends an owner (owner.c serves it).
 *
 * Little-endian integers of fixed width; a string or a byte string is a
 * u32 length and its bytes. The reader never reads past the end: every
 * getter checks what is left and, on a short or malformed message, sets
 * r->bad and returns zeros, so a decoder reads on and checks once at the
 * end. Nodes of one cluster run one build: the format is not a public
 * interface, and a message of another magic is refused whole.
 */
#ifndef MC_WIRE_H
#define MC_WIRE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "err.h"

#define WIRE_MASTER_REQ 0x314d434du /* "MCM1" */
#define WIRE_MASTER_RSP 0x3152434du /* "MCR1" */
#define WIRE_OWNER_REQ	0x314f434du /* "MCO1" */
#define WIRE_OWNER_RSP	0x3150434du /* "MCP1" */
/* An owner's answer starts: magic, its term, code, Mooncake code. */
#define WIRE_OWNER_RSP_HEAD 20

/* The operations a master serves (mc_master_serve, link.c). */
enum wire_mop {
	MOP_PUT_START = 1,
	MOP_PUT_END,
	MOP_PUT_REVOKE,
	MOP_QUERY,
	MOP_QUERY_BATCH,
	MOP_EXIST,
	MOP_STAT,
	MOP_REMOVE,
	MOP_REMOVE_ALL,
	MOP_KEY_WALK,
	MOP_KEYS_GEN,
	MOP_SEGMENTS,
	MOP_MOUNT_REMOTE,
	MOP_UNMOUNT,
	MOP_USAGE,
	MOP_RECENT,
	MOP_VALUE_SIZES,
	MOP_CLIENT_PING,
	MOP_CLIENT_REGISTER,
	MOP_CLIENT_COUNT,
	MOP_BATCH_COUNT,
	MOP_METRICS,
	MOP_SUMMARY,
	MOP_SETTLE,	/* key, version: how a put whose answer was lost went */
	MOP_CALL_COUNT, /* a door's call (enum mc_call_op), whether it failed */
	MOP_COUNT
};

/* MOP_PUT_START flags; an end or revoke takes BATCH and SHARED too */
#define WIRE_PUT_REMOTE_OK  1u
#define WIRE_PUT_NO_REPLACE 2u
#define WIRE_PUT_BATCH	    4u
#define WIRE_PUT_SHARED	    8u
#define WIRE_PUT_NEAR	    16u

/* Largest count of anything a message lists (keys, ids, records). */
#define WIRE_COUNT_MAX (1u << 24)

static inline void wire_u8(struct mc_buf *b, uint8_t v)
{
	mc_buf_add(b, &v, 1);
}

static inline void wire_u16(struct mc_buf *b, uint16_t v)
{
	uint8_t p[2] = {(uint8_t)v, (uint8_t)(v >> 8)};

	mc_buf_add(b, p, 2);
}

static inline void wire_u32(struct mc_buf *b, uint32_t v)
{
	uint8_t p[4];

	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	mc_buf_add(b, p, 4);
}

static inline void wire_u64(struct mc_buf *b, uint64_t v)
{
	uint8_t p[8];

	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	mc_buf_add(b, p, 8);
}

static inline void wire_f64(struct mc_buf *b, double d)
{
	uint64_t v;

	memcpy(&v, &d, 8);
	wire_u64(b, v);
}

static inline void wire_bytes(struct mc_buf *b, const void *p, size_t n)
{
	wire_u32(b, (uint32_t)n);
	mc_buf_add(b, p, n);
}

static inline void wire_str(struct mc_buf *b, const char *s)
{
	wire_bytes(b, s ? s : "", s ? strlen(s) : 0);
}

struct wire_rd {
	const uint8_t *p;
	size_t left;
	bool bad;
};

static inline void wire_rd_init(struct wire_rd *r, const void *p, size_t n)
{
	r->p = p;
	r->left = n;
	r->bad = false;
}

static inline const uint8_t *wire_take(struct wire_rd *r, size_t n)
{
	const uint8_t *p = r->p;

	if (r->bad || n > r->left) {
		r->bad = true;
		return NULL;
	}
	r->p += n;
	r->left -= n;
	return p;
}

static inline uint8_t wire_get_u8(struct wire_rd *r)
{
	const uint8_t *p = wire_take(r, 1);

	return p ? p[0] : 0;
}

static inline uint16_t wire_get_u16(struct wire_rd *r)
{
	const uint8_t *p = wire_take(r, 2);

	return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

static inline uint32_t wire_get_u32(struct wire_rd *r)
{
	const uint8_t *p = wire_take(r, 4);
	uint32_t v = 0;

	for (int i = 3; p && i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static inline uint64_t wire_get_u64(struct wire_rd *r)
{
	const uint8_t *p = wire_take(r, 8);
	uint64_t v = 0;

	for (int i = 7; p && i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static inline double wire_get_f64(struct wire_rd *r)
{
	uint64_t v = wire_get_u64(r);
	double d;

	memcpy(&d, &v, 8);
	return d;
}

/* A byte string, in place (not terminated): its bytes, *@n its length. */
static inline const void *wire_get_bytes(struct wire_rd *r, size_t *n)
{
	uint32_t len = wire_get_u32(r);
	const uint8_t *p = wire_take(r, len);

	*n = p ? len : 0;
	return p ? p : (const uint8_t *)"";
}

/*
 * A string copied into @dst (@cap bytes with its NUL): a string that
 * does not fit, or holds a NUL, makes the message bad.
 */
static inline void wire_get_str(struct wire_rd *r, char *dst, size_t cap)
{
	size_t n;
	const char *p = wire_get_bytes(r, &n);

	if (n >= cap || memchr(p, '\0', n)) {
		r->bad = true;
		n = 0;
	}
	memcpy(dst, p, n);
	dst[n] = '\0';
}

/* A count of at most @max items, each at least @min_each bytes long. */
static inline uint32_t wire_get_count(struct wire_rd *r, uint32_t max,
				      size_t min_each)
{
	uint32_t n = wire_get_u32(r);

	if (n > max || (min_each && n > r->left / min_each)) {
		r->bad = true;
		return 0;
	}
	return n;
}

/*
 * The error an answer carried, its result @rc (< 0), Mooncake @code and
 * message @msg, into @err (NULL: nothing). An answer without a message
 * still says what went wrong: "the WHO answered: " and @rc's text.
 */
static inline void wire_answer_err(struct mc_err *err, int rc, int32_t code,
				   const char *msg, const char *who)
{
	if (!err)
		return;
	err->code = code;
	if (msg[0])
		snprintf(err->msg, sizeof(err->msg), "%s", msg);
	else
		snprintf(err->msg, sizeof(err->msg), "the %s answered: %s", who,
			 strerror(-rc));
}

#endif
