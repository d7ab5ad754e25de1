/*
 * ctl.c - the messages of ctl/mount and ctl/unmount: parse, look up,
 * execute (Plan 9's Cmdtab habit), one message per write(2).
 */
#include "autoconfig.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "size.h"
#include "spec.h"
#include "tree.h"

/* ------------------------------------------------------------- ctl/error */

static pthread_mutex_t error_lock = PTHREAD_MUTEX_INITIALIZER;
static char last_error[600];

void fs_error(const char *fmt, ...)
{
	char why[512], when[32];
	struct tm tm;
	time_t now = time(NULL);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	mc_warn("%s", why);
	/* one line, whatever the key or message held */
	for (char *c = why; *c; c++)
		if ((unsigned char)*c < 0x20)
			*c = '?';
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	pthread_mutex_lock(&error_lock);
	snprintf(last_error, sizeof(last_error), "%s %s\n", when, why);
	pthread_mutex_unlock(&error_lock);
}

int fs_ctl_error_show(struct mc_store *s, const struct fs_path *p,
		      struct mc_buf *out)
{
	pthread_mutex_lock(&error_lock);
	mc_buf_adds(out, last_error);
	pthread_mutex_unlock(&error_lock);
	return 0;
}

/* --------------------------------------------------------------- ctl/mount */

int fs_ctl_mount(struct mc_store *s, const struct fs_path *p, const char *msg,
		 size_t len, struct mc_buf *reply)
{
	struct fs_spec sp;
	struct mc_mount_req req;
	struct mc_mount_result res = {0};
	struct mc_err err = {0};
	struct mc_err why = {0};
	int r;

	r = fs_spec_parse(msg, len, &sp, &why);
	if (r < 0) {
		fs_error("ctl/mount: %s", why.msg);
		return r;
	}
	fs_spec_to_req(&sp, &req);
	r = mc_segment_mount(s, &req, &res, &err);
	if (r < 0) {
		fs_error("ctl/mount: %s", err.msg[0] ? err.msg : strerror(-r));
		/* The errnos of mooncakefs(5): no memory is ENOSPC, a range
		 * past the shm object's end is a bad number. */
		if (r == -ENOMEM)
			return -ENOSPC;
		if (r == -ERANGE)
			return -EINVAL;
		return r;
	}
	mc_buf_reset(reply);
	for (size_t i = 0; i < res.n; i++) {
		mc_buf_adds(reply, res.ids[i]);
		mc_buf_addch(reply, '\n');
	}
	mc_info("ctl/mount: mounted %zu segment(s), %llu bytes", res.n,
		(unsigned long long)res.allocated_size);
	free(res.ids);
	return 0;
}

#define MAX_IDS (FS_SPEC_MAX / 2)

int fs_ctl_unmount(struct mc_store *s, const struct fs_path *p, const char *msg,
		   size_t len, struct mc_buf *reply)
{
	char buf[FS_SPEC_MAX + 1];
	const char *ids[MAX_IDS];
	struct mc_unmount_req req = {.ids = ids};
	struct mc_err err = {0};
	uint64_t grace = 0;
	int have_grace = 0, r;
	char *tok, *save;

	if (len > FS_SPEC_MAX) {
		fs_error("ctl/unmount: message of %zu bytes is over %d", len,
			 FS_SPEC_MAX);
		return -E2BIG;
	}
	if (len && msg[len - 1] == '\n')
		len--;
	memcpy(buf, msg, len);
	buf[len] = '\0';
	if (strlen(buf) != len || strchr(buf, '\n')) {
		fs_error("ctl/unmount: newline or NUL inside the message");
		return -EINVAL;
	}
	for (tok = strtok_r(buf, " \t", &save); tok;
	     tok = strtok_r(NULL, " \t", &save)) {
		struct mc_seg_info si;

		if (!strncmp(tok, "grace=", 6)) {
			if (have_grace++ || mc_u64_parse(tok + 6, &grace) ||
			    grace > MC_GRACE_MAX) {
				fs_error("ctl/unmount: bad or repeated '%s'",
					 tok);
				return -EINVAL;
			}
			continue;
		}
		if (strchr(tok, '=')) {
			fs_error("ctl/unmount: unknown token '%s'", tok);
			return -EINVAL;
		}
		/* One message may hold alloc and shm segments alike. */
		if (mc_segment_info(s, tok, &si)) {
			fs_error("ctl/unmount: no segment '%s'", tok);
			return -ENOENT;
		}
		ids[req.n++] = tok;
	}
	if (!req.n) {
		fs_error("ctl/unmount: no segment id given");
		return -EINVAL;
	}
	/* The whole set at once: all unmounted, or none. */
	req.grace_s = (unsigned)grace;
	r = mc_segment_unmount(s, &req, NULL, NULL, &err);
	if (r < 0)
		fs_error("ctl/unmount: %s",
			 err.msg[0] ? err.msg : strerror(-r));
	else
		mc_info("ctl/unmount: unmounted %zu segment(s), grace %us",
			req.n, (unsigned)grace);
	mc_buf_reset(reply);
	return r;
}
