/*
 * check_rdma.c - the RDMA transport of the transfer port over a fake
 * device layer (struct xfer_rdma_dev): which devices a --device value
 * opens, refusals, registrations through the store, the librdmacm
 * listener's lifetime; and the real device layer, which on a machine
 * without RDMA hardware must say why it cannot work.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mooncake.h"
#include "rdma.h"
#include "xfer.h"

/* The fake device layer: what a test sets, and what it counts. */
static struct {
	int ndev;
	const char *names[4];
	unsigned fail_open; /* bit i: device i does not open */
	int fail_reg;	    /* device index whose registration fails */
	int list_err;
	int listen_err;
	int opened[4], regs[4], listening;
} F;

static int f_index(const char *name)
{
	for (int i = 0; i < F.ndev; i++)
		if (!strcmp(F.names[i], name))
			return i;
	return -1;
}

static int f_list(char (*names)[XFER_RDMA_NAME_MAX], int max,
		  struct mc_err *err)
{
	if (F.list_err) {
		mc_err_set(err, -EOPNOTSUPP, MC_UNAVAILABLE_IN_CURRENT_STATUS,
			   "cannot list RDMA devices");
		return F.list_err;
	}
	for (int i = 0; i < F.ndev && i < max; i++)
		snprintf(names[i], XFER_RDMA_NAME_MAX, "%s", F.names[i]);
	return F.ndev < max ? F.ndev : max;
}

static int f_open(const char *name, void **dev, struct mc_err *err)
{
	int i = f_index(name);

	ck_assert_int_ge(i, 0); /* only names the list gave */
	if (F.fail_open & (1u << i)) {
		return mc_err_set(err, -EIO, MC_UNAVAILABLE_IN_CURRENT_STATUS,
				  "cannot open RDMA device '%s': %s", name,
				  strerror(EIO));
	}
	F.opened[i]++;
	*dev = (void *)(intptr_t)(i + 1);
	return 0;
}

static void f_close(void *dev)
{
	F.opened[(intptr_t)dev - 1]--;
}

static int f_reg(void *dev, void *base, uint64_t size, void **mr,
		 uint32_t *rkey)
{
	int i = (int)(intptr_t)dev - 1;

	if (i == F.fail_reg)
		return -ENOMEM;
	F.regs[i]++;
	*mr = dev;
	*rkey = 0x1000u + (uint32_t)i;
	return 0;
}

static void f_dereg(void *mr)
{
	F.regs[(intptr_t)mr - 1]--;
}

static int f_listen(void *dev, const char *host, unsigned port, void **lis,
		    struct mc_err *err)
{
	if (F.listen_err) {
		mc_err_set(err, -EOPNOTSUPP, MC_UNAVAILABLE_IN_CURRENT_STATUS,
			   "rdma: cannot listen on '%s' port %u: %s", host,
			   port, strerror(-F.listen_err));
		return F.listen_err;
	}
	F.listening++;
	*lis = &F;
	return 0;
}

static void f_unlisten(void *lis)
{
	F.listening--;
}

static const struct xfer_rdma_dev fake_dev = {
	.list = f_list,
	.open = f_open,
	.close = f_close,
	.reg = f_reg,
	.dereg = f_dereg,
	.listen = f_listen,
	.unlisten = f_unlisten,
};

static void fake_reset(int ndev)
{
	static const char *names[] = {"mlx5_0", "mlx5_1", "rxe0", "siw0"};

	memset(&F, 0, sizeof(F));
	F.ndev = ndev;
	F.fail_reg = -1;
	for (int i = 0; i < 4; i++)
		F.names[i] = names[i];
}

static void fake_assert_closed(void)
{
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(F.opened[i], 0);
		ck_assert_int_eq(F.regs[i], 0);
	}
	ck_assert_int_eq(F.listening, 0);
}

static struct xfer *fake_xfer(const char *protocol, const char *device,
			      struct mc_store_opts *so, struct mc_err *err)
{
	struct xfer_opts xo = {.host = "127.0.0.1",
			       .protocol = protocol,
			       .device = device,
			       .rdma_dev = &fake_dev};

	mc_store_opts_default(so);
	err->msg[0] = 0;
	return xfer_new(&xo, so, err);
}

/* Which devices a --device value opens, and which rkey descriptors get. */
START_TEST(test_rdma_selection)
{
	static const struct {
		const char *device;
		unsigned fail_open;
		int opened[4];
		uint32_t rkey;
	} t[] = {
		{"", 0, {1, 0, 0, 0}, 0x1000},
		{"mlx5_1", 0, {0, 1, 0, 0}, 0x1001},
		{"mlx5_1,mlx5_0", 0, {1, 1, 0, 0}, 0x1001},
		{" rxe0 , siw0 ", 0, {0, 0, 1, 1}, 0x1002},
		{"mlx5_0,,mlx5_0,", 0, {1, 0, 0, 0}, 0x1000},
		/* "" falls back past devices that do not open */
		{"", 1, {0, 1, 0, 0}, 0x1001},
		{"", 7, {0, 0, 0, 1}, 0x1003},
	};
	struct mc_store_opts so;
	struct mc_err err = {0};
	int base[4];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		fake_reset(4);
		F.fail_open = t[i].fail_open;
		struct xfer *x = fake_xfer("rdma", t[i].device, &so, &err);
		ck_assert_msg(x, "'%s': %s", t[i].device, err.msg);
		ck_assert_mem_eq(F.opened, t[i].opened, sizeof(F.opened));
		ck_assert_ptr_nonnull(so.register_mem);
		ck_assert_ptr_nonnull(so.unregister_mem);
		uint32_t rkey = 0;
		ck_assert_int_eq(so.register_mem(so.register_arg, "rdma", base,
						 sizeof(base), &rkey),
				 0);
		ck_assert_uint_eq(rkey, t[i].rkey);
		for (int d = 0; d < 4; d++)
			ck_assert_int_eq(F.regs[d], F.opened[d]);
		so.unregister_mem(so.register_arg, "rdma", base, sizeof(base));
		for (int d = 0; d < 4; d++)
			ck_assert_int_eq(F.regs[d], 0);
		/* tcp segments go to the tcp transport: nothing registered. */
		ck_assert_int_eq(so.register_mem(so.register_arg, "tcp", base,
						 sizeof(base), &rkey),
				 1);
		ck_assert_uint_eq(rkey, 0);
		for (int d = 0; d < 4; d++)
			ck_assert_int_eq(F.regs[d], 0);
		/* Left registered, freeing the port deregisters. */
		ck_assert_int_eq(so.register_mem(so.register_arg, "rdma", base,
						 sizeof(base), &rkey),
				 0);
		xfer_free(x);
		fake_assert_closed();
	}
}
END_TEST

/* Refusals: each a clear one-line reason, nothing left open. */
START_TEST(test_rdma_refusals)
{
	static const struct {
		int ndev;
		const char *device;
		unsigned fail_open;
		int list_err, code;
		const char *want;
	} t[] = {
		{0, "", 0, 0, EOPNOTSUPP, "no RDMA device found"},
		{0, "mlx5_0", 0, 0, EOPNOTSUPP, "no RDMA device found"},
		{2, "mlx5_9", 0, 0, EOPNOTSUPP,
		 "RDMA device 'mlx5_9' not found"},
		{2, "mlx5_0,rxe0", 0, 0, EOPNOTSUPP,
		 "RDMA device 'rxe0' not found"},
		{2, "mlx5_1,mlx5_0", 1, 0, EIO,
		 "cannot open RDMA device 'mlx5_0'"},
		{2, "", 3, 0, EOPNOTSUPP, "cannot open RDMA device 'mlx5_0'"},
		{2, ",", 0, 0, EINVAL, "no RDMA device named in ','"},
		{2, "mlx5_0/../x", 0, 0, EOPNOTSUPP, "not found"},
		{2, "", 0, -EACCES, EACCES, "cannot list RDMA devices"},
	};
	struct mc_store_opts so;
	struct mc_err err = {0};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		fake_reset(t[i].ndev);
		F.fail_open = t[i].fail_open;
		F.list_err = t[i].list_err;
		errno = 0;
		struct xfer *x = fake_xfer("rdma", t[i].device, &so, &err);
		/* No device: the port runs and refuses rdma registrations. */
		if (t[i].code == EOPNOTSUPP) {
			uint32_t rkey;
			int mem;

			ck_assert_msg(x, "'%s' refused: %s", t[i].device,
				      err.msg);
			ck_assert_int_eq(so.register_mem(so.register_arg,
							 "rdma", &mem,
							 sizeof(mem), &rkey),
					 -EOPNOTSUPP);
			xfer_free(x);
		} else {
			ck_assert_msg(!x, "'%s' accepted", t[i].device);
			ck_assert_int_eq(errno, t[i].code);
		}
		ck_assert_msg(strstr(err.msg, t[i].want), "'%s': got '%s'",
			      t[i].device, err.msg);
		ck_assert_ptr_null(strchr(err.msg, '\n'));
		fake_assert_closed();

		/* With tcp the port starts; only rdma registration fails. */
		x = fake_xfer("tcp", t[i].device, &so, &err);
		ck_assert_ptr_nonnull(x);
		uint32_t rkey;
		int mem;
		ck_assert_int_eq(so.register_mem(so.register_arg, "rdma", &mem,
						 sizeof(mem), &rkey),
				 t[i].code == EOPNOTSUPP ? -EOPNOTSUPP
							 : -t[i].code);
		xfer_free(x);
		fake_assert_closed();
	}
}
END_TEST

/* A device's registration failing undoes the others'. */
START_TEST(test_rdma_reg_failure)
{
	struct mc_store_opts so;
	struct mc_err err = {0};
	uint32_t rkey = 0;
	int mem;

	fake_reset(2);
	F.fail_reg = 1;
	struct xfer *x = fake_xfer("rdma", "mlx5_0,mlx5_1", &so, &err);
	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(so.register_mem(so.register_arg, "rdma", &mem,
					 sizeof(mem), &rkey),
			 -ENOMEM);
	ck_assert_int_eq(F.regs[0], 0);
	/* Unregistering what was never registered is harmless. */
	so.unregister_mem(so.register_arg, "rdma", &mem, sizeof(mem));
	xfer_free(x);
	fake_assert_closed();
}
END_TEST

/* Through the store: an rdma mount carries the device's rkey. */
START_TEST(test_rdma_mount)
{
	struct mc_store_opts so;
	struct mc_mount_req mr = {.size = 16ull << 20, .protocol = "rdma"};
	struct mc_mount_result res = {0};
	struct mc_seg_info si;
	struct mc_err err = {0};

	fake_reset(2);
	struct xfer *x = fake_xfer("rdma", "mlx5_1", &so, &err);
	ck_assert_ptr_nonnull(x);
	struct mc_store *s = mc_store_new(&so, NULL);
	ck_assert_int_eq(xfer_start(x, s, &err), 0);
	ck_assert_int_eq(F.listening, 1);
	ck_assert_int_eq(mc_segment_mount(s, &mr, &res, NULL), 0);
	ck_assert_uint_eq(res.n, 1);
	ck_assert_int_eq(mc_segment_info(s, res.ids[0], &si), 0);
	ck_assert_uint_eq(si.rkey, 0x1001);
	ck_assert_str_eq(si.protocol, "rdma");
	ck_assert_int_eq(F.regs[1], 1);
	/* tcp mounts need no registration */
	mr.protocol = "tcp";
	free(res.ids);
	ck_assert_int_eq(mc_segment_mount(s, &mr, &res, NULL), 0);
	ck_assert_int_eq(F.regs[1], 1);
	free(res.ids);
	/* The daemon's order: stop the port, free the store, then the port. */
	xfer_stop(x);
	ck_assert_int_eq(F.listening, 0);
	mc_store_free(s);
	ck_assert_int_eq(F.regs[1], 0);
	xfer_free(x);
	fake_assert_closed();
}
END_TEST

/* A librdmacm listener that cannot start fails the start, cleanly. */
START_TEST(test_rdma_listen_failure)
{
	struct mc_store_opts so;
	struct mc_err err = {0};

	fake_reset(1);
	F.listen_err = -EADDRNOTAVAIL;
	struct xfer *x = fake_xfer("rdma", "", &so, &err);
	ck_assert_ptr_nonnull(x);
	struct mc_store *s = mc_store_new(&so, NULL);
	ck_assert_int_eq(xfer_start(x, s, &err), -EADDRNOTAVAIL);
	ck_assert_ptr_nonnull(
		strstr(err.msg, "rdma: cannot listen on '127.0.0.1'"));
	xfer_stop(x);
	mc_store_free(s);
	xfer_free(x);
	fake_assert_closed();
}
END_TEST

/* The real device layer on this machine: works, or says why not. */
START_TEST(test_rdma_real_layer)
{
	struct mc_store_opts so;
	struct xfer_opts xo = {
		.host = "127.0.0.1", .protocol = "rdma", .device = ""};
	struct mc_err err = {0};

	mc_store_opts_default(&so);
	struct xfer *x = xfer_new(&xo, &so, &err);
	ck_assert_msg(x, "refused: %s", err.msg);
	if (err.msg[0]) {
		/* no usable device: said why, and the port runs */
		ck_assert_msg(
			strstr(err.msg, "no RDMA device found") ||
				strstr(err.msg, "built without rdma-core") ||
				strstr(err.msg, "cannot open RDMA device"),
			"got '%s'", err.msg);
	}
	xfer_free(x);
	xo.device = "no_such_device0";
	err.msg[0] = '\0';
	x = xfer_new(&xo, &so, &err);
	ck_assert_msg(x, "refused: %s", err.msg);
	ck_assert_msg(
		strstr(err.msg, "no RDMA device found") ||
			strstr(err.msg,
			       "RDMA device 'no_such_device0' not found") ||
			strstr(err.msg, "built without rdma-core"),
		"got '%s'", err.msg);
	uint32_t rkey;
	int mem;
	ck_assert_int_eq(so.register_mem(so.register_arg, "rdma", &mem,
					 sizeof(mem), &rkey),
			 -EOPNOTSUPP);
	xfer_free(x);
}
END_TEST

Suite *rdma_suite(void)
{
	Suite *s = suite_create("rdma");
	TCase *tc = tcase_create("fake device");

	tcase_add_test(tc, test_rdma_selection);
	tcase_add_test(tc, test_rdma_refusals);
	tcase_add_test(tc, test_rdma_reg_failure);
	tcase_add_test(tc, test_rdma_mount);
	tcase_add_test(tc, test_rdma_listen_failure);
	suite_add_tcase(s, tc);

	tc = tcase_create("real device layer");
	tcase_add_test(tc, test_rdma_real_layer);
	suite_add_tcase(s, tc);
	return s;
}

MC_CHECK_MAIN(rdma_suite)
