/*
 * spec.h - the mount spec of ctl/mount and segments/NAME/ID/spec
 * (mooncakefs(5), ctl/mount):
 *
 *   size=SIZE [shm=NAME [offset=N]] [protocol=P] [location=L] [name=NAME]
 *
 * Tokens are separated by blanks (spaces or tabs), in any order, each at
 * most once; one trailing "\n" is ignored; the message is at most
 * FS_SPEC_MAX bytes. SIZE and N take the SIZE form (a decimal byte count
 * or a 1024-based suffix: 64M, 4gb). Values are percent-decoded (%XX), so
 * any byte but NUL can be written; the formatter escapes '%', blanks, '='
 * and control bytes, and what it writes parses back to an equal spec.
 * An empty location is written by leaving the token out ("location=" is
 * accepted and means the same); shm, protocol and name may not be empty.
 */
#ifndef FS_SPEC_H
#define FS_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "mooncake.h"

#define FS_SPEC_MAX 4096

struct fs_spec {
	uint64_t size;
	bool shm; /* shm=NAME given: a shm mount */
	char shm_name[256];
	bool has_offset;
	uint64_t offset;
	char protocol[8];   /* "" when not given */
	char location[256]; /* "" when not given or empty */
	char name[256];	    /* "" when not given */
};

/*
 * Parses @len bytes of @msg into @sp. Returns 0; -E2BIG when @len passes
 * FS_SPEC_MAX; -EINVAL for anything else that is not a spec (no size, a
 * bad number, an unknown or repeated token, offset= without shm=, a value
 * too long or empty, a NUL or a newline inside), with the reason in @err
 * (git style, the token in quotes).
 */
int fs_spec_parse(const char *msg, size_t len, struct fs_spec *sp,
		  struct mc_err *err);

/* Appends @sp in the grammar, ending with "\n". */
void fs_spec_format(const struct fs_spec *sp, struct mc_buf *b);

/* The spec that mounts a segment equal to @si. */
void fs_spec_from_info(const struct mc_seg_info *si, struct fs_spec *sp);

/* The mount request for @sp; points into @sp. */
void fs_spec_to_req(const struct fs_spec *sp, struct mc_mount_req *req);

#endif
