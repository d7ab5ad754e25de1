/*
 * buf.h - a growable byte buffer (git's strbuf, trimmed).
 *
 * b->data is always NUL-terminated; b->len excludes the NUL. A zeroed
 * struct (MC_BUF_INIT) is a valid empty buffer whose data is NULL until
 * the first add or mc_buf_grow(). Allocation failure aborts:
 * the callers are renderers whose output is bounded by the store's size.
 */
#ifndef MC_BUF_H
#define MC_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct mc_buf {
	char *data;
	size_t len, cap;
};
#define MC_BUF_INIT                                                            \
	{                                                                      \
		0                                                              \
	}

/* Makes room for @extra more bytes (and the NUL) without changing len. */
void mc_buf_grow(struct mc_buf *b, size_t extra);
/* The same for a size a client chose: -ENOMEM (@b unchanged), not abort. */
int mc_buf_try_grow(struct mc_buf *b, size_t extra);
void mc_buf_add(struct mc_buf *b, const void *p, size_t n);
void mc_buf_adds(struct mc_buf *b, const char *s);
void mc_buf_addch(struct mc_buf *b, char c);

/*
 * Renderers append many short pieces: these inline forms skip the call
 * and the growth check's slow path when there is room already.
 */
static inline void mc_buf_add_fast(struct mc_buf *b, const void *p, size_t n)
{
	if (b->data && n < b->cap - b->len) {
		__builtin_memcpy(b->data + b->len, p, n);
		b->len += n;
		b->data[b->len] = '\0';
	} else {
		mc_buf_add(b, p, n);
	}
}

static inline void mc_buf_addch_fast(struct mc_buf *b, char c)
{
	if (b->data && b->cap - b->len > 1) {
		b->data[b->len++] = c;
		b->data[b->len] = '\0';
	} else {
		mc_buf_addch(b, c);
	}
}
void mc_buf_addf(struct mc_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Appends @n as decimal (fast path for renderers). */
void mc_buf_addu(struct mc_buf *b, unsigned long long n);
/*
 * Writes @n as decimal at @p, which has room for its 20 digits at most,
 * without a NUL; returns the end.
 */
char *mc_put_u64(char *p, uint64_t n);
/*
 * Appends @n bytes at @p (NULs allowed) as a JSON string literal (RFC 8259)
 * with its quotes: " and \ are backslashed, control characters become
 * \u00XX, well-formed UTF-8 passes through as is, and any byte that is not
 * part of well-formed UTF-8 becomes \u00XX of its value (read as Latin-1),
 * so the output is always valid JSON.
 */
void mc_buf_add_json_str(struct mc_buf *b, const void *p, size_t n);
/*
 * Length (1 to 4) of the well-formed UTF-8 sequence that starts @n bytes
 * at @p (RFC 3629: no overlong forms, no surrogates, nothing past
 * U+10FFFF; ASCII, NUL included, is 1), or 0 when there is none.
 */
size_t mc_utf8_len(const void *p, size_t n);
/*
 * FNV-1a (64 bits) of @n bytes at @p: unseeded, so the same in every
 * process (a name two daemons must agree on, a label series' bucket).
 */
static inline uint64_t mc_fnv1a(const void *p, size_t n)
{
	const unsigned char *c = p;
	uint64_t h = 0xcbf29ce484222325ull;

	while (n--)
		h = (h ^ *c++) * 0x100000001b3ull;
	return h;
}
/* Empties @b, keeping its memory. */
void mc_buf_reset(struct mc_buf *b);
/* Frees the memory; @b is then a zeroed, empty buffer again. */
void mc_buf_release(struct mc_buf *b);
/*
 * Hands the data to the caller (who free()s it; never NULL, "" for an
 * empty buffer), stores its length in @len when not NULL, and resets @b.
 */
char *mc_buf_detach(struct mc_buf *b, size_t *len);

/* The value of a hex digit, or -1 (percent-decoding in both doors). */
static inline int mc_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
