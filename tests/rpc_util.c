/*
 * rpc_util.c - see rpc_util.h. The walkers follow sp.h's C layouts.
 */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "rpc_util.h"

struct vec {
	void *v;
	size_t n;
};

static uint64_t next(uint64_t *s)
{
	/* splitmix64: any seed, no state beyond one word */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void rpc_test_fill(const struct rpc_type *t, void *obj, uint64_t *rng,
		   size_t maxn, struct rpc_arena *a)
{
	unsigned char *o = obj;
	uint64_t x = next(rng);
	struct rpc_str s;
	struct vec v;
	int32_t err;

	switch (t->kind) {
	case RPC_T_VOID:
		return;
	case RPC_T_BOOL:
		*(bool *)o = x & 1;
		return;
	case RPC_T_U8:
		*o = (unsigned char)x;
		return;
	case RPC_T_I32:
	case RPC_T_U32:
		memcpy(o, &(uint32_t){(uint32_t)x}, 4);
		return;
	case RPC_T_I64:
	case RPC_T_U64:
		memcpy(o, &x, 8);
		return;
	case RPC_T_UUID:
		memcpy(o, &x, 8);
		x = next(rng);
		memcpy(o + 8, &x, 8);
		return;
	case RPC_T_STR: {
		char *p;

		s.len = maxn ? x % (maxn + 1) : 0;
		p = rpc_arena_alloc(a, s.len + 1);
		for (size_t i = 0; i < s.len; i++)
			p[i] = (char)(i % 7 == 3 ? 0 : 'a' + next(rng) % 26);
		s.p = p;
		memcpy(o, &s, sizeof(s));
		return;
	}
	case RPC_T_VEC:
		v.n = maxn ? x % (maxn + 1) : 0;
		v.v = v.n ? rpc_arena_array(a, v.n, t->elem->size) : NULL;
		for (size_t i = 0; i < v.n; i++)
			rpc_test_fill(t->elem, (char *)v.v + i * t->elem->size,
				      rng, maxn, a);
		memcpy(o, &v, sizeof(v));
		return;
	case RPC_T_OPT:
		*(bool *)o = x & 1;
		if (x & 1)
			rpc_test_fill(t->elem, o + t->off, rng, maxn, a);
		return;
	case RPC_T_EXPECTED:
		/* Mostly values; errors are negative, never 0. */
		err = x % 4 ? 0 : -(int32_t)(1 + (x >> 8) % 2000);
		memcpy(o, &err, sizeof(err));
		if (!err)
			rpc_test_fill(t->elem, o + t->off, rng, maxn, a);
		return;
	case RPC_T_VARIANT:
		*o = (unsigned char)(x % t->n);
		rpc_test_fill(t->m[*o].type, o + t->off, rng, maxn, a);
		return;
	case RPC_T_STRUCT:
		for (unsigned i = 0; i < t->n; i++)
			rpc_test_fill(t->m[i].type, o + t->m[i].off, rng, maxn,
				      a);
		return;
	}
}

bool rpc_test_equal(const struct rpc_type *t, const void *xv, const void *yv)
{
	const unsigned char *x = xv, *y = yv;
	struct rpc_str sx, sy;
	struct vec vx, vy;
	int32_t ex, ey;

	switch (t->kind) {
	case RPC_T_VOID:
		return true;
	case RPC_T_BOOL:
		return *(const bool *)x == *(const bool *)y;
	case RPC_T_STR:
		memcpy(&sx, x, sizeof(sx));
		memcpy(&sy, y, sizeof(sy));
		return sx.len == sy.len &&
		       (!sx.len || !memcmp(sx.p, sy.p, sx.len));
	case RPC_T_VEC:
		memcpy(&vx, x, sizeof(vx));
		memcpy(&vy, y, sizeof(vy));
		if (vx.n != vy.n)
			return false;
		for (size_t i = 0; i < vx.n; i++)
			if (!rpc_test_equal(t->elem,
					    (char *)vx.v + i * t->elem->size,
					    (char *)vy.v + i * t->elem->size))
				return false;
		return true;
	case RPC_T_OPT:
		if (*(const bool *)x != *(const bool *)y)
			return false;
		return !*(const bool *)x ||
		       rpc_test_equal(t->elem, x + t->off, y + t->off);
	case RPC_T_EXPECTED:
		memcpy(&ex, x, sizeof(ex));
		memcpy(&ey, y, sizeof(ey));
		if (ex != ey)
			return false;
		return ex || rpc_test_equal(t->elem, x + t->off, y + t->off);
	case RPC_T_VARIANT:
		return *x == *y && *x < t->n &&
		       rpc_test_equal(t->m[*x].type, x + t->off, y + t->off);
	case RPC_T_STRUCT:
		for (unsigned i = 0; i < t->n; i++)
			if (!rpc_test_equal(t->m[i].type, x + t->m[i].off,
					    y + t->m[i].off))
				return false;
		return true;
	default: /* fixed-size leaves */
		return !memcmp(x, y, t->size);
	}
}

int rpc_test_bytes(const char *s, struct rpc_buf *out)
{
	while (*s) {
		if (*s == ' ' || *s == '|' || *s == ',' || *s == '\n') {
			s++;
		} else if (*s == '"') {
			const char *e = strchr(s + 1, '"');

			if (!e)
				return -1;
			rpc_buf_add(out, s + 1, (size_t)(e - s - 1));
			s = e + 1;
		} else if (*s == '\'') {
			char *end;
			unsigned long n;

			if (!s[1] || s[2] != '*')
				return -1;
			n = strtoul(s + 3, &end, 10);
			if (*end != '\'')
				return -1;
			for (unsigned long i = 0; i < n; i++)
				rpc_buf_add(out, s + 1, 1);
			s = end + 1;
		} else {
			int hi = mc_hexval((unsigned char)s[0]);
			int lo = hi < 0 ? -1 : mc_hexval((unsigned char)s[1]);
			unsigned char b;

			if (lo < 0)
				return -1;
			b = (unsigned char)(hi << 4 | lo);
			rpc_buf_add(out, &b, 1);
			s += 2;
		}
	}
	return 0;
}
