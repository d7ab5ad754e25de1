/*
 * check_mount.h - one segment mounted for a Check suite that drives the
 * store directly (check_store, check_scrape, check_cluster, check_http).
 */
#ifndef MC_TESTS_CHECK_MOUNT_H
#define MC_TESTS_CHECK_MOUNT_H

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mooncake.h"

/* Mounts @size bytes named @name as one segment; its id into @id. */
static inline void check_mount(struct mc_store *s, uint64_t size,
			       const char *name, char id[MC_ID_LEN + 1])
{
	struct mc_mount_req r = {.size = size, .name = name};
	struct mc_mount_result res;
	struct mc_err e;

	ck_assert_int_eq(mc_segment_mount(s, &r, &res, &e), 0);
	ck_assert_uint_eq(res.n, 1);
	if (id)
		memcpy(id, res.ids[0], MC_ID_LEN + 1);
	free(res.ids);
}

#endif
