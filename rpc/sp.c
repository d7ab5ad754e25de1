/*
 * sp.c - the struct_pack codec: byte buffers, the arena, type literals,
 * and one walker each for sizing, writing and reading a described value.
 *
 * Encoding takes two passes because struct_pack writes every container
 * length of a message with one width, chosen from the longest container
 * in it: the sizing pass finds that length (and the exact body size, so
 * the buffer grows once), the writing pass then cannot fail.
 *
 * Decoding trusts nothing in the body: each read checks what is left, and
 * an array is allocated only after its count has been checked against the
 * bytes that could hold it (count * smallest element), so a hostile count
 * cannot make the arena grow past a small multiple of the body. Recursion
 * follows the static type tree, never the input.
 */
#include "autoconfig.h"

#include <ctype.h>
#include <errno.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp.h"

/* ---------------------------------------------------------------- bytes */

static void oom(void)
{
	fputs("mooncaked: error: out of memory in the rpc codec\n", stderr);
	abort();
}

void rpc_buf_grow(struct rpc_buf *b, size_t extra)
{
	size_t want, cap;
	unsigned char *p;

	if (extra <= b->cap - b->len)
		return;
	if (extra > SIZE_MAX - b->len)
		oom();
	want = b->len + extra;
	cap = b->cap ? b->cap : 256;
	while (cap < want)
		cap = cap > SIZE_MAX / 2 ? want : cap * 2;
	p = realloc(b->p, cap);
	if (!p)
		oom();
	b->p = p;
	b->cap = cap;
}

void rpc_buf_add(struct rpc_buf *b, const void *p, size_t n)
{
	if (!n)
		return;
	rpc_buf_grow(b, n);
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

void rpc_buf_consume(struct rpc_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

void rpc_buf_release(struct rpc_buf *b)
{
	free(b->p);
	*b = (struct rpc_buf){0};
}

/* ---------------------------------------------------------------- arena */

#define CHUNK_MIN 4096
#define ALIGN	  alignof(max_align_t)

struct rpc_chunk {
	struct rpc_chunk *next;
	size_t size, used;
	alignas(max_align_t) unsigned char data[];
};

void *rpc_arena_alloc(struct rpc_arena *a, size_t n)
{
	struct rpc_chunk *c = a->head;
	size_t need = (n + ALIGN - 1) & ~(ALIGN - 1);
	void *p;

	if (need < n)
		oom();
	if (!c || c->size - c->used < need) {
		size_t size = need > CHUNK_MIN ? need : CHUNK_MIN;

		if (size > SIZE_MAX - sizeof(*c))
			oom();
		c = malloc(sizeof(*c) + size);
		if (!c)
			oom();
		c->size = size;
		c->used = 0;
		c->next = a->head;
		a->head = c;
	}
	p = c->data + c->used;
	c->used += need;
	memset(p, 0, n);
	return p;
}

void *rpc_arena_array(struct rpc_arena *a, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		oom();
	return rpc_arena_alloc(a, n * size);
}

char *rpc_arena_strdup(struct rpc_arena *a, const void *p, size_t n)
{
	char *s = rpc_arena_alloc(a, n + 1);

	if (n)
		memcpy(s, p, n);
	return s;
}

void rpc_arena_reset(struct rpc_arena *a)
{
	struct rpc_chunk *c = a->head;

	if (!c)
		return;
	/* Keep the newest chunk: a connection's calls are mostly alike. */
	while (c->next) {
		struct rpc_chunk *next = c->next->next;

		free(c->next);
		c->next = next;
	}
	c->used = 0;
}

void rpc_arena_release(struct rpc_arena *a)
{
	while (a->head) {
		struct rpc_chunk *c = a->head;

		a->head = c->next;
		free(c);
	}
}

/* ---------------------------------------------------------------- uuid */

static const char hex[] = "0123456789abcdef";

void rpc_uuid_format(const struct rpc_uuid *u, char out[37])
{
	char *o = out;

	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*o++ = '-';
		*o++ = hex[u->b[i] >> 4];
		*o++ = hex[u->b[i] & 15];
	}
	*o = '\0';
}

/* A hex digit's value (either case), or -1. */
static int nibble(char c)
{
	const char *d = c ? strchr(hex, tolower((unsigned char)c)) : NULL;

	return d ? (int)(d - hex) : -1;
}

int rpc_uuid_parse(const char *s, struct rpc_uuid *u)
{
	int i = 0;

	for (int pos = 0; pos < 36; pos++) {
		int hi, lo;

		if (pos == 8 || pos == 13 || pos == 18 || pos == 23) {
			if (s[pos] != '-')
				return -EINVAL;
			continue;
		}
		hi = nibble(s[pos]);
		lo = hi < 0 ? -1 : nibble(s[pos + 1]);
		if (lo < 0)
			return -EINVAL;
		u->b[i++] = (unsigned char)(hi << 4 | lo);
		pos++;
	}
	return s[36] ? -EINVAL : 0;
}

/* ---------------------------------------------------------------- types */

#define LEAF(name, k, sz)                                                      \
	const struct rpc_type name = {.kind = (k), .size = (sz)}
LEAF(rpc_t_void, RPC_T_VOID, 0);
LEAF(rpc_t_bool, RPC_T_BOOL, sizeof(bool));
LEAF(rpc_t_u8, RPC_T_U8, 1);
LEAF(rpc_t_i32, RPC_T_I32, 4);
LEAF(rpc_t_u32, RPC_T_U32, 4);
LEAF(rpc_t_i64, RPC_T_I64, 8);
LEAF(rpc_t_u64, RPC_T_U64, 8);
LEAF(rpc_t_uuid, RPC_T_UUID, sizeof(struct rpc_uuid));
LEAF(rpc_t_str, RPC_T_STR, sizeof(struct rpc_str));

/* How every vector is laid out in C, whatever its element type. */
struct vec {
	void *v;
	size_t n;
};

/* The wire size of a fixed-size leaf, 0 for everything else. */
static size_t fixed(const struct rpc_type *t)
{
	switch (t->kind) {
	case RPC_T_BOOL:
	case RPC_T_U8:
		return 1;
	case RPC_T_I32:
	case RPC_T_U32:
		return 4;
	case RPC_T_I64:
	case RPC_T_U64:
		return 8;
	case RPC_T_UUID:
		return 16;
	default:
		return 0;
	}
}

struct lit {
	char *out;
	size_t cap, len;
};

static void lit_add(struct lit *l, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++, l->len++)
		if (l->len < l->cap)
			l->out[l->len] = s[i];
}

static void literal(const struct rpc_type *t, struct lit *l)
{
	/* struct_pack's type ids: the leaves in enum rpc_kind order. */
	static const char *const leaf[] = {
		[RPC_T_VOID] = "\xfa",
		[RPC_T_BOOL] = "\x0b",
		[RPC_T_U8] = "\x06",
		[RPC_T_I32] = "\x01",
		[RPC_T_U32] = "\x02",
		[RPC_T_I64] = "\x03",
		[RPC_T_U64] = "\x04",
		[RPC_T_UUID] = "\xfd\x04\x04\x89\x89\xff",
		[RPC_T_STR] = "\x80\x0c",
	};

	switch (t->kind) {
	case RPC_T_VEC:
		lit_add(l, "\x84", 1);
		literal(t->elem, l);
		return;
	case RPC_T_OPT:
		lit_add(l, "\x85", 1);
		literal(t->elem, l);
		return;
	case RPC_T_EXPECTED:
		lit_add(l, "\x87", 1);
		literal(t->elem, l);
		lit_add(l, "\x01", 1);
		return;
	case RPC_T_VARIANT:
	case RPC_T_STRUCT:
		lit_add(l, t->kind == RPC_T_VARIANT ? "\x86" : "\xfd", 1);
		for (unsigned i = 0; i < t->n; i++)
			literal(t->m[i].type, l);
		lit_add(l, "\xff", 1);
		return;
	default:
		lit_add(l, leaf[t->kind], strlen(leaf[t->kind]));
		return;
	}
}

size_t rpc_type_literal(const struct rpc_type *t, char *out, size_t cap)
{
	struct lit l = {out, cap, 0};

	literal(t, &l);
	return l.len;
}

/* ---------------------------------------------------------------- sizing */

struct sizing {
	uint64_t max; /* longest string or container */
	size_t bytes; /* everything but the lengths */
	size_t lens;  /* how many lengths */
};

static void size_of(const struct rpc_type *t, const unsigned char *o,
		    struct sizing *s)
{
	size_t f = fixed(t);
	struct rpc_str str;
	struct vec v;
	int32_t err;

	if (f) {
		s->bytes += f;
		return;
	}
	switch (t->kind) {
	case RPC_T_STR:
		memcpy(&str, o, sizeof(str));
		s->lens++;
		s->bytes += str.len;
		if (str.len > s->max)
			s->max = str.len;
		return;
	case RPC_T_VEC:
		memcpy(&v, o, sizeof(v));
		s->lens++;
		if (v.n > s->max)
			s->max = v.n;
		f = fixed(t->elem);
		if (f) {
			s->bytes += v.n * f;
			return;
		}
		for (size_t i = 0; i < v.n; i++)
			size_of(t->elem,
				(const unsigned char *)v.v + i * t->elem->size,
				s);
		return;
	case RPC_T_OPT:
		s->bytes++;
		if (*(const bool *)o)
			size_of(t->elem, o + t->off, s);
		return;
	case RPC_T_EXPECTED:
		s->bytes++;
		memcpy(&err, o, sizeof(err));
		if (err == 0)
			size_of(t->elem, o + t->off, s);
		else
			s->bytes += 4;
		return;
	case RPC_T_VARIANT:
		s->bytes++;
		if (*o >= t->n)
			abort(); /* the caller built an impossible value */
		size_of(t->m[*o].type, o + t->off, s);
		return;
	case RPC_T_STRUCT:
		for (unsigned i = 0; i < t->n; i++)
			size_of(t->m[i].type, o + t->m[i].off, s);
		return;
	default: /* RPC_T_VOID */
		return;
	}
}

/* ---------------------------------------------------------------- writing */

struct wr {
	unsigned char *p;
	unsigned width;
};

static void put_le(struct wr *w, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		*w->p++ = (unsigned char)(v >> (8 * i));
}

static void write_val(const struct rpc_type *t, const unsigned char *o,
		      struct wr *w)
{
	struct rpc_str str;
	struct vec v;
	int32_t err;
	uint32_t u32;
	uint64_t u64;

	switch (t->kind) {
	case RPC_T_BOOL:
		*w->p++ = *(const bool *)o;
		return;
	case RPC_T_U8:
		*w->p++ = *o;
		return;
	case RPC_T_I32:
	case RPC_T_U32:
		memcpy(&u32, o, 4);
		put_le(w, u32, 4);
		return;
	case RPC_T_I64:
	case RPC_T_U64:
		memcpy(&u64, o, 8);
		put_le(w, u64, 8);
		return;
	case RPC_T_UUID:
		memcpy(w->p, o, 16);
		w->p += 16;
		return;
	case RPC_T_STR:
		memcpy(&str, o, sizeof(str));
		put_le(w, str.len, w->width);
		if (str.len)
			memcpy(w->p, str.p, str.len);
		w->p += str.len;
		return;
	case RPC_T_VEC:
		memcpy(&v, o, sizeof(v));
		put_le(w, v.n, w->width);
		for (size_t i = 0; i < v.n; i++)
			write_val(t->elem,
				  (const unsigned char *)v.v +
					  i * t->elem->size,
				  w);
		return;
	case RPC_T_OPT:
		*w->p++ = *(const bool *)o;
		if (*(const bool *)o)
			write_val(t->elem, o + t->off, w);
		return;
	case RPC_T_EXPECTED:
		memcpy(&err, o, sizeof(err));
		*w->p++ = err == 0;
		if (err == 0)
			write_val(t->elem, o + t->off, w);
		else
			put_le(w, (uint32_t)err, 4);
		return;
	case RPC_T_VARIANT:
		*w->p++ = *o;
		write_val(t->m[*o].type, o + t->off, w);
		return;
	case RPC_T_STRUCT:
		for (unsigned i = 0; i < t->n; i++)
			write_val(t->m[i].type, o + t->m[i].off, w);
		return;
	case RPC_T_VOID:
		return;
	}
}

void rpc_sp_encode(struct rpc_buf *out, const struct rpc_type *t,
		   const void *obj, uint32_t code, const char *lit,
		   unsigned flags)
{
	struct sizing s = {0};
	struct wr w;
	unsigned meta;
	size_t litlen = flags & RPC_SP_LITERAL ? strlen(lit) + 1 : 0;
	size_t total;

	size_of(t, obj, &s);
	if (s.max < 1ull << 8) {
		w.width = 1;
		meta = 0;
	} else if (s.max < 1ull << 16) {
		w.width = 2;
		meta = 1 << 3;
	} else if (s.max < 1ull << 32) {
		w.width = 4;
		meta = 2 << 3;
	} else {
		w.width = 8;
		meta = 3 << 3;
	}
	if (litlen)
		meta |= 1 << 2;
	total = 4 + (meta ? 1 : 0) + litlen + s.bytes + s.lens * w.width;
	rpc_buf_grow(out, total);
	w.p = out->p + out->len;
	put_le(&w, (code & ~1u) | (meta ? 1 : 0), 4);
	if (meta)
		*w.p++ = (unsigned char)meta;
	if (litlen) {
		memcpy(w.p, lit, litlen);
		w.p += litlen;
	}
	write_val(t, obj, &w);
	out->len += total;
}

/* ---------------------------------------------------------------- reading */

struct rd {
	const unsigned char *p, *end;
	unsigned width;
	struct rpc_arena *a;
	const char *why;
};

static int short_body(struct rd *r)
{
	r->why = "body ends inside a value";
	return -EBADMSG;
}

static uint64_t get_le(const unsigned char *p, unsigned n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | p[n];
	return v;
}

/* The fewest wire bytes a value of @t can take (lengths at width w). */
static size_t min_wire(const struct rpc_type *t, unsigned w)
{
	size_t f = fixed(t), sum, m;

	if (f)
		return f;
	switch (t->kind) {
	case RPC_T_STR:
	case RPC_T_VEC:
		return w;
	case RPC_T_OPT:
		return 1;
	case RPC_T_EXPECTED:
		m = min_wire(t->elem, w);
		return 1 + (m < 4 ? m : 4);
	case RPC_T_VARIANT:
		m = SIZE_MAX;
		for (unsigned i = 0; i < t->n; i++) {
			sum = min_wire(t->m[i].type, w);
			if (sum < m)
				m = sum;
		}
		return 1 + m;
	case RPC_T_STRUCT:
		sum = 0;
		for (unsigned i = 0; i < t->n; i++)
			sum += min_wire(t->m[i].type, w);
		return sum;
	default:
		return 0;
	}
}

static int read_flag(struct rd *r, unsigned char *out)
{
	if (r->p == r->end)
		return short_body(r);
	if (*r->p > 1) {
		r->why = "a bool or flag byte is neither 0 nor 1";
		return -EBADMSG;
	}
	*out = *r->p++;
	return 0;
}

static int read_len(struct rd *r, uint64_t *n)
{
	if ((size_t)(r->end - r->p) < r->width)
		return short_body(r);
	*n = get_le(r->p, r->width);
	r->p += r->width;
	return 0;
}

static int read_val(const struct rpc_type *t, unsigned char *o, struct rd *r)
{
	size_t f = fixed(t), left;
	unsigned char flag = 0;
	struct rpc_str str;
	struct vec v;
	uint64_t n;
	int32_t err;
	int rc;

	if (f && t->kind != RPC_T_BOOL) {
		uint64_t x;

		if ((size_t)(r->end - r->p) < f)
			return short_body(r);
		if (t->kind == RPC_T_UUID) {
			memcpy(o, r->p, 16);
		} else {
			x = get_le(r->p, (unsigned)f);
			if (f == 1)
				*o = (unsigned char)x;
			else if (f == 4)
				memcpy(o, &(uint32_t){(uint32_t)x}, 4);
			else
				memcpy(o, &x, 8);
		}
		r->p += f;
		return 0;
	}
	switch (t->kind) {
	case RPC_T_BOOL:
		rc = read_flag(r, &flag);
		*(bool *)o = flag;
		return rc;
	case RPC_T_STR:
		if ((rc = read_len(r, &n)))
			return rc;
		if (n > (size_t)(r->end - r->p))
			return short_body(r);
		str.p = rpc_arena_strdup(r->a, r->p, n);
		str.len = n;
		memcpy(o, &str, sizeof(str));
		r->p += n;
		return 0;
	case RPC_T_VEC:
		if ((rc = read_len(r, &n)))
			return rc;
		left = (size_t)(r->end - r->p);
		f = min_wire(t->elem, r->width);
		if (n > left / (f ? f : 1))
			return short_body(r);
		v.n = n;
		v.v = n ? rpc_arena_array(r->a, n, t->elem->size) : NULL;
		memcpy(o, &v, sizeof(v));
		for (size_t i = 0; i < n; i++)
			if ((rc = read_val(t->elem,
					   (unsigned char *)v.v +
						   i * t->elem->size,
					   r)))
				return rc;
		return 0;
	case RPC_T_OPT:
		if ((rc = read_flag(r, &flag)))
			return rc;
		*(bool *)o = flag;
		return flag ? read_val(t->elem, o + t->off, r) : 0;
	case RPC_T_EXPECTED:
		if ((rc = read_flag(r, &flag)))
			return rc;
		if (flag) {
			memset(o, 0, sizeof(err));
			return read_val(t->elem, o + t->off, r);
		}
		if ((size_t)(r->end - r->p) < 4)
			return short_body(r);
		err = (int32_t)(uint32_t)get_le(r->p, 4);
		r->p += 4;
		if (err == 0) {
			r->why = "an expected holds error 0";
			return -EBADMSG;
		}
		memcpy(o, &err, sizeof(err));
		return 0;
	case RPC_T_VARIANT:
		if (r->p == r->end)
			return short_body(r);
		if (*r->p >= t->n) {
			r->why = "a variant index is out of range";
			return -EBADMSG;
		}
		*o = *r->p++;
		return read_val(t->m[*o].type, o + t->off, r);
	case RPC_T_STRUCT:
		for (unsigned i = 0; i < t->n; i++)
			if ((rc = read_val(t->m[i].type, o + t->m[i].off, r)))
				return rc;
		return 0;
	default: /* RPC_T_VOID */
		return 0;
	}
}

int rpc_sp_decode(const void *body, size_t len, const struct rpc_type *t,
		  void *obj, uint32_t code, const char *lit,
		  struct rpc_arena *a, const char **why)
{
	struct rd r = {.width = 1, .a = a};
	uint32_t head;
	unsigned meta;
	int rc;

	memset(obj, 0, t->size);
	if (len < 4) {
		*why = "body shorter than its 4-byte type code";
		return -EBADMSG;
	}
	/* Only now: body may be NULL when len is 0. */
	r.p = body;
	r.end = r.p + len;
	head = (uint32_t)get_le(r.p, 4);
	r.p += 4;
	if (head >> 1 != code >> 1) {
		*why = "type code does not match the function's arguments";
		return -EBADMSG;
	}
	if (head & 1) {
		if (r.p == r.end) {
			*why = "body ends before its metainfo byte";
			return -EBADMSG;
		}
		meta = *r.p++;
		if (meta & 3) {
			/* A compatible-size field: no type of ours uses it. */
			unsigned n = 1u << (meta & 3);

			if ((size_t)(r.end - r.p) < n) {
				*why = "body ends inside its compatible size";
				return -EBADMSG;
			}
			r.p += n;
		}
		if (meta & 4) {
			size_t n = strlen(lit) + 1;

			if ((size_t)(r.end - r.p) < n || memcmp(r.p, lit, n)) {
				*why = "type literal does not match";
				return -EBADMSG;
			}
			r.p += n;
		}
		r.width = 1u << ((meta >> 3) & 3);
	}
	rc = read_val(t, obj, &r);
	if (rc) {
		*why = r.why;
		return rc;
	}
	if (r.p != r.end) {
		*why = "bytes left after the value";
		return -EBADMSG;
	}
	return 0;
}
