/*
 * fuzz_ctl.c - the ctl/mount and ctl/unmount grammar (fs/spec.c,
 * fs/ctl.c), parsed and executed against a live store.
 *
 * The first byte picks the message: even, ctl/mount; odd, ctl/unmount.
 * In an unmount message "@" stands for the id of the store's live
 * segment, so the fuzzer reaches the paths that unmount something.
 *
 * What must hold: no crash or leak; a spec that parses formats to a
 * spec that parses to the same fields, and formats again to the same
 * bytes; errors are the documented errnos; a mount that succeeds lists
 * one id per line, each a live segment, and an unmount of exactly those
 * ids succeeds. Only alloc mounts run (shm= specs are parsed, never
 * opened, so the fuzzer touches no /dev/shm object).
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "log.h"
#include "mooncake.h"
#include "spec.h"
#include "tree.h"

static struct mc_store *store;
static uint64_t clock_ms = 1;

static uint64_t fake_now(void *arg)
{
	return clock_ms;
}
static char live[MC_ID_LEN + 1];

static void mount_live(void)
{
	struct mc_mount_req req = {.size = 16 << 20};
	struct mc_mount_result res = {0};
	struct mc_err err = {0};

	fuzz_must(!mc_segment_mount(store, &req, &res, &err) && res.n == 1,
		  "base mount: %s", err.msg);
	memcpy(live, res.ids[0], sizeof(live));
	free(res.ids);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct mc_store_opts o;

	mc_log_set_level(MC_LOG_ERROR);
	mc_store_opts_default(&o);
	o.manual_tick = true;
	o.now_ms = fake_now;
	o.max_segment_size = 64 << 20;
	store = mc_store_new(&o, NULL);
	fuzz_must(store, "store");
	mount_live();
	return 0;
}

static void spec_roundtrip(const char *msg, size_t len)
{
	struct fs_spec a, b;
	struct mc_buf f1 = {0}, f2 = {0};
	struct mc_err why = {0};
	int rc = fs_spec_parse(msg, len, &a, &why);

	fuzz_must(rc == 0 || rc == -EINVAL || rc == -E2BIG, "parse rc %d", rc);
	fuzz_must(rc == 0 || rc == -E2BIG || why.msg[0],
		  "an error without a message");
	if (rc)
		return;
	fs_spec_format(&a, &f1);
	fuzz_must(!fs_spec_parse(f1.data, f1.len, &b, &why),
		  "formatted spec '%.*s' does not parse: %s", (int)f1.len,
		  f1.data, why.msg);
	fuzz_must(a.size == b.size && a.shm == b.shm &&
			  !strcmp(a.shm_name, b.shm_name) &&
			  !strcmp(a.protocol, b.protocol) &&
			  !strcmp(a.location, b.location) &&
			  !strcmp(a.name, b.name) &&
			  (a.has_offset ? a.offset : 0) ==
				  (b.has_offset ? b.offset : 0),
		  "spec changed on a round trip: '%.*s'", (int)f1.len, f1.data);
	fs_spec_format(&b, &f2);
	fuzz_must(f1.len == f2.len && !memcmp(f1.data, f2.data, f1.len),
		  "format not stable");
	mc_buf_release(&f1);
	mc_buf_release(&f2);
}

static void do_mount(const char *msg, size_t len)
{
	struct fs_spec sp;
	struct mc_err why = {0};
	struct mc_buf reply = {0}, un = {0};
	int rc;

	if (fs_spec_parse(msg, len, &sp, &why) || sp.shm)
		return;
	rc = fs_ctl_mount(store, NULL, msg, len, &reply);
	/* mooncakefs(5), ctl/mount's errors (EOPNOTSUPP: rdma without a
	 * device) */
	fuzz_must(rc == 0 || rc == -EINVAL || rc == -ENOSPC || rc == -E2BIG ||
			  rc == -EOPNOTSUPP,
		  "mount rc %d", rc);
	if (rc == 0) {
		fuzz_must(reply.len && reply.data[reply.len - 1] == '\n',
			  "mount reply");
		for (size_t i = 0; i < reply.len; i += MC_ID_LEN + 1) {
			struct mc_seg_info si;
			char id[MC_ID_LEN + 1];

			fuzz_must(reply.len - i >= MC_ID_LEN + 1, "id cut");
			memcpy(id, reply.data + i, MC_ID_LEN);
			id[MC_ID_LEN] = '\0';
			fuzz_must(!mc_segment_info(store, id, &si),
				  "mounted id %s is not live", id);
		}
		/* The ids on one line, at most 100 a message (a message
		 * is at most FS_SPEC_MAX bytes: a big mount is split in
		 * more segments than one message can name). */
		for (size_t i = 0; i < reply.len && !rc;) {
			size_t n = reply.len - i;

			if (n > 100 * (MC_ID_LEN + 1))
				n = 100 * (MC_ID_LEN + 1);
			for (size_t j = i; j + 1 < i + n; j++)
				if (reply.data[j] == '\n')
					reply.data[j] = ' ';
			rc = fs_ctl_unmount(store, NULL, reply.data + i, n,
					    &un);
			i += n;
		}
		fuzz_must(rc == 0, "unmounting what was mounted: %d", rc);
	}
	mc_buf_release(&reply);
	mc_buf_release(&un);
}

static void do_unmount(const uint8_t *data, size_t size)
{
	struct mc_buf msg = {0}, reply = {0};
	struct mc_seg_info si;
	int rc;

	for (size_t i = 0; i < size; i++)
		if (data[i] == '@')
			mc_buf_adds(&msg, live);
		else
			mc_buf_addch(&msg, (char)data[i]);
	rc = fs_ctl_unmount(store, NULL, msg.data ? msg.data : "", msg.len,
			    &reply);
	fuzz_must(rc == 0 || rc == -EINVAL || rc == -ENOENT || rc == -E2BIG ||
			  rc == -EBUSY,
		  "unmount rc %d", rc);
	if (rc == 0) {
		fuzz_must(mc_segment_info(store, live, &si) ||
				  si.state == MC_SEG_DRAINING,
			  "unmounted, still live");
		/* Let a grace period end, then put a live segment back. */
		clock_ms += (MC_GRACE_MAX + 1) * 1000ull;
		mc_store_tick(store);
		fuzz_must(mc_segment_info(store, live, &si),
			  "still there after its grace period");
		mount_live();
	}
	mc_buf_release(&msg);
	mc_buf_release(&reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	if (data[0] & 1) {
		do_unmount(data + 1, size - 1);
	} else {
		spec_roundtrip((const char *)data + 1, size - 1);
		do_mount((const char *)data + 1, size - 1);
	}
	return 0;
}
