/*
 * buf.c - the growable byte buffer.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"

int mc_buf_try_grow(struct mc_buf *b, size_t extra)
{
	size_t need;

	if (extra > SIZE_MAX - b->len - 1)
		return -ENOMEM;
	need = b->len + extra + 1;
	if (b->data && need <= b->cap)
		return 0;
	size_t cap = b->cap > 32 ? b->cap : 32;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	char *p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	if (!b->data)
		p[0] = '\0';
	b->data = p;
	b->cap = cap;
	return 0;
}

void mc_buf_grow(struct mc_buf *b, size_t extra)
{
	if (mc_buf_try_grow(b, extra))
		mc_oom();
}

void mc_buf_add(struct mc_buf *b, const void *p, size_t n)
{
	mc_buf_grow(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void mc_buf_adds(struct mc_buf *b, const char *s)
{
	mc_buf_add(b, s, strlen(s));
}

void mc_buf_addch(struct mc_buf *b, char c)
{
	mc_buf_grow(b, 1);
	b->data[b->len++] = c;
	b->data[b->len] = '\0';
}

static void mc_buf_vaddf(struct mc_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n;

	mc_buf_grow(b, 64);
	va_copy(cp, ap);
	n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, cp);
	va_end(cp);
	if (n < 0) {
		b->data[b->len] = '\0';
		return;
	}
	if ((size_t)n >= b->cap - b->len) {
		mc_buf_grow(b, n);
		n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	}
	b->len += n;
}

void mc_buf_addf(struct mc_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mc_buf_vaddf(b, fmt, ap);
	va_end(ap);
}

char *mc_put_u64(char *p, uint64_t n)
{
	/* two digits a step: renderers print thousands of numbers */
	static const char pairs[] = "00010203040506070809"
				    "10111213141516171819"
				    "20212223242526272829"
				    "30313233343536373839"
				    "40414243444546474849"
				    "50515253545556575859"
				    "60616263646566676869"
				    "70717273747576777879"
				    "80818283848586878889"
				    "90919293949596979899";
	int len = 1;
	char *e;

	for (uint64_t t = n; t >= 10; t /= 10)
		len++;
	e = p + len;
	while (n >= 100) {
		e -= 2;
		memcpy(e, pairs + (n % 100) * 2, 2);
		n /= 100;
	}
	if (n >= 10)
		memcpy(e - 2, pairs + n * 2, 2);
	else
		e[-1] = (char)('0' + n);
	return p + len;
}

void mc_buf_addu(struct mc_buf *b, unsigned long long n)
{
	if (!b->data || b->cap - b->len <= 20)
		mc_buf_grow(b, 20);
	b->len = (size_t)(mc_put_u64(b->data + b->len, n) - b->data);
	b->data[b->len] = '\0';
}

size_t mc_utf8_len(const void *p, size_t n)
{
	const unsigned char *s = p;
	unsigned char c;
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;

	if (n == 0)
		return 0;
	c = s[0];
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

void mc_buf_add_json_str(struct mc_buf *b, const void *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = p;
	size_t i = 0;

	mc_buf_grow(b, n + 2);
	mc_buf_addch(b, '"');
	while (i < n) {
		size_t run = i, u;

		/* Copy plain ASCII and valid UTF-8 in one go. */
		while (run < n) {
			unsigned char c = s[run];
			if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\')
				run++;
			else if (c >= 0x80 &&
				 (u = mc_utf8_len(s + run, n - run)))
				run += u;
			else
				break;
		}
		if (run > i) {
			mc_buf_add(b, s + i, run - i);
			i = run;
			continue;
		}
		unsigned char c = s[i++];
		if (c == '"' || c == '\\') {
			char esc[2] = {'\\', (char)c};
			mc_buf_add(b, esc, 2);
		} else {
			/* Control characters, and bytes that are not UTF-8 read
			 * as Latin-1. */
			char esc[6] = {'\\', 'u',	  '0',
				       '0',  hex[c >> 4], hex[c & 15]};
			mc_buf_add(b, esc, 6);
		}
	}
	mc_buf_addch(b, '"');
}

void mc_buf_reset(struct mc_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void mc_buf_release(struct mc_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

char *mc_buf_detach(struct mc_buf *b, size_t *len)
{
	char *p;

	if (!b->data) {
		p = calloc(1, 1);
		if (!p)
			mc_oom();
	} else {
		p = b->data;
	}
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}
