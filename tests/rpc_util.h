/*
 * rpc_util.h - helpers shared by the RPC wire tests and the fuzz target:
 * values of any described type made from a seed, schema-wise equality,
 * and hex with quoted text for writing frames down as the notes do.
 */
#ifndef RPC_TEST_UTIL_H
#define RPC_TEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rpc.h"

/*
 * Fills @obj (described by @t) with values drawn from *@rng: every
 * optional, expected and variant branch occurs; strings (NULs included)
 * and vectors have 0 to @maxn elements. Memory comes from @a.
 */
void rpc_test_fill(const struct rpc_type *t, void *obj, uint64_t *rng,
		   size_t maxn, struct rpc_arena *a);

/* True when @x and @y hold the same value of @t (unused bytes aside). */
bool rpc_test_equal(const struct rpc_type *t, const void *x, const void *y);

/*
 * Appends the bytes that @spec describes: pairs of hex digits, "quoted
 * text" as is, and 'L*300' for a byte repeated (here 300 'L's); spaces,
 * '|' and ',' separate. Returns 0, or -1 on a malformed spec.
 */
int rpc_test_bytes(const char *spec, struct rpc_buf *out);

#endif
