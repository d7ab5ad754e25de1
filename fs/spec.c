/*
 * spec.c - parse and format the ctl/mount grammar of spec.h.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "size.h"
#include "spec.h"

enum { T_SIZE, T_SHM, T_OFFSET, T_PROTOCOL, T_LOCATION, T_NAME, T_N };

/* The tokens: where the value goes, how big it may be, may it be empty. */
static const struct {
	const char *key;
	size_t off, cap; /* string fields; cap 0: a number */
	bool empty_ok;
} tokens[T_N] = {
	[T_SIZE] = {"size", 0, 0, false},
	[T_SHM] = {"shm", offsetof(struct fs_spec, shm_name), 256, false},
	[T_OFFSET] = {"offset", 0, 0, false},
	[T_PROTOCOL] = {"protocol", offsetof(struct fs_spec, protocol), 8,
			false},
	[T_LOCATION] = {"location", offsetof(struct fs_spec, location), 256,
			true},
	[T_NAME] = {"name", offsetof(struct fs_spec, name), 256, false},
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Percent-decodes [v, v+n) into @out (room for @cap with the NUL). */
static int unescape(const char *v, size_t n, char *out, size_t cap,
		    size_t *outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)v[i];

		if (c == '%') {
			int hi = i + 2 < n ? mc_hexval(v[i + 1]) : -1;
			int lo = hi < 0 ? -1 : mc_hexval(v[i + 2]);

			if (lo < 0)
				return -1;
			c = hi << 4 | lo;
			i += 2;
			if (c == 0)
				return -1;
		}
		if (o + 1 >= cap)
			return -2;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	*outlen = o;
	return 0;
}

static int parse_token(const char *t, size_t n, struct fs_spec *sp,
		       bool seen[T_N], struct mc_err *err)
{
	const char *eq = memchr(t, '=', n);
	size_t klen = eq ? (size_t)(eq - t) : n;
	char val[FS_SPEC_MAX + 1];
	size_t vlen;
	int k, r;

	for (k = 0; k < T_N; k++)
		if (strlen(tokens[k].key) == klen &&
		    !memcmp(tokens[k].key, t, klen))
			break;
	if (k == T_N || !eq)
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "unknown token '%.*s'", (int)n, t);
	if (seen[k])
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "token '%s' given twice", tokens[k].key);
	seen[k] = true;
	r = unescape(eq + 1, n - klen - 1, val, sizeof(val), &vlen);
	if (r < 0)
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "bad escape in '%.*s'", (int)n, t);
	if (!tokens[k].cap) {
		uint64_t *dst = k == T_SIZE ? &sp->size : &sp->offset;

		/* a size of 0 is the store's to refuse (and count) */
		r = mc_size_parse(val, dst);
		if (r < 0)
			return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
					  "bad number in '%.*s'", (int)n, t);
		if (k == T_OFFSET)
			sp->has_offset = true;
		return 0;
	}
	if (!vlen && !tokens[k].empty_ok)
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "empty value in '%.*s'", (int)n, t);
	if (vlen >= tokens[k].cap)
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "value of '%s' is too long", tokens[k].key);
	memcpy((char *)sp + tokens[k].off, val, vlen + 1);
	if (k == T_SHM)
		sp->shm = true;
	return 0;
}

int fs_spec_parse(const char *msg, size_t len, struct fs_spec *sp,
		  struct mc_err *err)
{
	bool seen[T_N] = {false};
	size_t i = 0;
	int r;

	memset(sp, 0, sizeof(*sp));
	if (len > FS_SPEC_MAX) {
		return mc_err_set(err, -E2BIG, MC_INVALID_PARAMS,
				  "message of %zu bytes is over %d", len,
				  FS_SPEC_MAX);
	}
	if (len && msg[len - 1] == '\n')
		len--;
	if (memchr(msg, '\n', len) || memchr(msg, '\0', len))
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "newline or NUL inside the message");
	while (i < len) {
		size_t j;

		while (i < len && is_blank(msg[i]))
			i++;
		if (i == len)
			break;
		for (j = i; j < len && !is_blank(msg[j]); j++)
			;
		r = parse_token(msg + i, j - i, sp, seen, err);
		if (r < 0)
			return r;
		i = j;
	}
	if (!seen[T_SIZE])
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "no 'size=' token");
	if (seen[T_OFFSET] && !seen[T_SHM])
		return mc_err_set(err, -EINVAL, MC_INVALID_PARAMS,
				  "'offset=' without 'shm='");
	return 0;
}

static void add_value(struct mc_buf *b, const char *key, const char *v)
{
	static const char hex[] = "0123456789ABCDEF";

	mc_buf_addch(b, ' ');
	mc_buf_adds(b, key);
	mc_buf_addch(b, '=');
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;

		if (c <= 0x20 || c == 0x7f || c == '%' || c == '=') {
			mc_buf_addch(b, '%');
			mc_buf_addch(b, hex[c >> 4]);
			mc_buf_addch(b, hex[c & 15]);
		} else {
			mc_buf_addch(b, (char)c);
		}
	}
}

void fs_spec_format(const struct fs_spec *sp, struct mc_buf *b)
{
	mc_buf_adds(b, "size=");
	mc_buf_addu(b, sp->size);
	if (sp->shm) {
		add_value(b, "shm", sp->shm_name);
		mc_buf_adds(b, " offset=");
		mc_buf_addu(b, sp->has_offset ? sp->offset : 0);
	}
	if (sp->protocol[0])
		add_value(b, "protocol", sp->protocol);
	if (sp->location[0])
		add_value(b, "location", sp->location);
	if (sp->name[0])
		add_value(b, "name", sp->name);
	mc_buf_addch(b, '\n');
}

static void copy(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src);
}

void fs_spec_from_info(const struct mc_seg_info *si, struct fs_spec *sp)
{
	memset(sp, 0, sizeof(*sp));
	sp->size = si->size;
	if (si->kind == MC_SEG_SHM) {
		sp->shm = true;
		copy(sp->shm_name, sizeof(sp->shm_name), si->shm_name);
		sp->has_offset = true;
		sp->offset = si->shm_offset;
	}
	copy(sp->protocol, sizeof(sp->protocol), si->protocol);
	copy(sp->location, sizeof(sp->location), si->location);
	copy(sp->name, sizeof(sp->name), si->name);
}

void fs_spec_to_req(const struct fs_spec *sp, struct mc_mount_req *req)
{
	memset(req, 0, sizeof(*req));
	req->size = sp->size;
	req->shm_name = sp->shm ? sp->shm_name : NULL;
	req->offset = sp->has_offset ? sp->offset : 0;
	req->protocol = sp->protocol[0] ? sp->protocol : NULL;
	req->location = sp->location;
	req->name = sp->name[0] ? sp->name : NULL;
}
