/*
 * sp.h - struct_pack, the body encoding of Mooncake's master RPC, driven
 * by type descriptions (man/mooncake-rpc.7).
 *
 * A body is a u32 head (the type code, bit 0 set when a metainfo byte
 * follows), the optional metainfo byte (bits 3-4: the width of every
 * container length in the message, 1/2/4/8 bytes; bit 2: a NUL-terminated
 * type literal follows; bits 0-1: a compatible-size field follows), then
 * the value: little-endian fixed-width integers, strings and vectors as a
 * length and their elements, optionals and expecteds as a flag byte and
 * their value, variants as an index byte and the alternative, structs as
 * their fields in order with no padding.
 *
 * A C value is described by a struct rpc_type (a tree of them), which
 * both drives the codec and yields the type literal that upstream hashes
 * (rpc_type_literal), so the C layout and the wire shape cannot drift
 * apart unnoticed. C layouts by kind:
 *
 *   RPC_T_BOOL/U8/I32/U32/I64/U64   bool, uint8_t, int32_t, ... as is
 *   RPC_T_UUID      struct rpc_uuid (16 raw bytes, in wire order)
 *   RPC_T_STR       struct rpc_str
 *   RPC_T_VEC       struct { T *v; size_t n; }
 *   RPC_T_OPT       struct { bool has; T v; }       value at ->off
 *   RPC_T_EXPECTED  struct { int32_t err; T v; }    value at ->off; err is
 *                   Mooncake's ErrorCode, 0 = the value is there (nothing
 *                   follows err for an expected<void>)
 *   RPC_T_VARIANT   struct { uint8_t index; union {...} u; }  union at ->off
 *   RPC_T_STRUCT    the fields listed in ->m, at their offsets
 *   RPC_T_VOID      nothing (expected<void>'s value)
 *
 * Decoding allocates every string and array from a struct rpc_arena, so
 * a decoded value is independent of the bytes it came from and is freed
 * all at once with the arena. Allocation failure aborts (as mc_buf): the
 * sizes are bounded by the body, itself bounded by the caller.
 */
#ifndef RPC_SP_H
#define RPC_SP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- bytes */

/* A growable byte buffer; zeroed is empty. */
struct rpc_buf {
	unsigned char *p;
	size_t len, cap;
};

/* Makes room for @extra more bytes (len unchanged); aborts if out of memory. */
void rpc_buf_grow(struct rpc_buf *b, size_t extra);
void rpc_buf_add(struct rpc_buf *b, const void *p, size_t n);
/* Drops the first @n bytes (n <= len). */
void rpc_buf_consume(struct rpc_buf *b, size_t n);
/* Frees the memory; @b is empty and zeroed again. */
void rpc_buf_release(struct rpc_buf *b);

/*
 * A bump allocator: blocks are freed all at once by rpc_arena_reset
 * (which keeps one chunk for reuse) or rpc_arena_release. Zeroed is empty.
 * Not thread-safe: one arena per connection or per call.
 */
struct rpc_arena {
	struct rpc_chunk *head;
};

/* @n zeroed bytes aligned for any type; aborts when out of memory. */
void *rpc_arena_alloc(struct rpc_arena *a, size_t n);
/* An array of @n elements of @size bytes (0 on overflow aborts too). */
void *rpc_arena_array(struct rpc_arena *a, size_t n, size_t size);
/* A NUL-terminated copy of @n bytes at @p. */
char *rpc_arena_strdup(struct rpc_arena *a, const void *p, size_t n);
void rpc_arena_reset(struct rpc_arena *a);
void rpc_arena_release(struct rpc_arena *a);

/* ---------------------------------------------------------------- values */

/*
 * A string: @len bytes at @p. Decoded strings are NUL-terminated copies
 * (p[len] == 0) but may hold NUL bytes; strings to encode need no NUL.
 */
struct rpc_str {
	const char *p;
	size_t len;
};
#define RPC_STR(lit) ((struct rpc_str){(lit), sizeof(lit) - 1})

/*
 * Mooncake's UUID (a std::pair<u64,u64> copied as 16 bytes): the bytes in
 * wire order, which are the RFC 4122 bytes of the boost UUID behind it.
 */
struct rpc_uuid {
	unsigned char b[16];
};

/* Writes the 36-character 8-4-4-4-12 lowercase form and a NUL. */
void rpc_uuid_format(const struct rpc_uuid *u, char out[37]);
/* Parses that form (either case); 0, or -EINVAL. */
int rpc_uuid_parse(const char *s, struct rpc_uuid *u);

enum rpc_kind {
	RPC_T_VOID,
	RPC_T_BOOL,
	RPC_T_U8,
	RPC_T_I32,
	RPC_T_U32,
	RPC_T_I64,
	RPC_T_U64,
	RPC_T_UUID,
	RPC_T_STR,
	RPC_T_VEC,
	RPC_T_OPT,
	RPC_T_EXPECTED,
	RPC_T_VARIANT,
	RPC_T_STRUCT,
};

struct rpc_type;

/* A struct field (its type and offset) or a variant alternative (off 0). */
struct rpc_member {
	const struct rpc_type *type;
	size_t off;
};

struct rpc_type {
	enum rpc_kind kind;
	size_t size;		     /* sizeof the C object */
	size_t off;		     /* OPT/EXPECTED value, VARIANT union */
	const struct rpc_type *elem; /* VEC element, OPT/EXPECTED value */
	const struct rpc_member *m;  /* STRUCT fields, VARIANT choices */
	unsigned n;		     /* how many in @m */
};

/* The leaf types, shared by every description. */
extern const struct rpc_type rpc_t_void, rpc_t_bool, rpc_t_u8, rpc_t_i32,
	rpc_t_u32, rpc_t_i64, rpc_t_u64, rpc_t_uuid, rpc_t_str;

/*
 * Writes the struct_pack type literal of @t (no NUL) into @out, at most
 * @cap bytes; returns its full length (more than @cap: cut short). An
 * enum is its integer; an expected's error type is i32 (ErrorCode); the
 * UUID is the trivially copyable pair "fd 04 04 89 89 ff".
 */
size_t rpc_type_literal(const struct rpc_type *t, char *out, size_t cap);

/* ---------------------------------------------------------------- codec */

#define RPC_SP_LITERAL 1u /* encode the type-literal (debug build) form */

/*
 * Appends the body of @obj (described by @t) to @out: head @code, then a
 * metainfo byte when needed. Plain form: metainfo only when the longest
 * string or container is 256 or more (width 2, 4 or 8). With
 * RPC_SP_LITERAL: metainfo always, then @literal and its NUL (the form
 * upstream sends unless built with NDEBUG). The width is chosen by a
 * sizing pass over @obj first, so @obj must not change meanwhile.
 */
void rpc_sp_encode(struct rpc_buf *out, const struct rpc_type *t,
		   const void *obj, uint32_t code, const char *literal,
		   unsigned flags);

/*
 * Decodes the @len bytes at @body into @obj (zeroed first), allocating
 * from @a. Accepts both forms: the head must be @code (bit 0 aside); a
 * literal, when present, must equal @literal; a compatible-size field is
 * skipped. Returns 0, or -EBADMSG with *@why set to a static one-line
 * reason: wrong type code, a literal that differs, a value that runs past
 * the end, a bool or flag byte other than 0/1, a variant index out of
 * range, an expected that holds error 0, or bytes left after the value.
 * On failure @obj may hold part of the value (its memory is in @a).
 */
int rpc_sp_decode(const void *body, size_t len, const struct rpc_type *t,
		  void *obj, uint32_t code, const char *literal,
		  struct rpc_arena *a, const char **why);

#endif
