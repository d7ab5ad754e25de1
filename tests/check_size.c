/*
 * check_size.c - SIZE parsing, plain integers, human-readable sizes.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "size.h"

struct parse_case {
	const char *in;
	int ret;
	uint64_t want;
};

/* Runs one row; on error the output must be left alone. */
static void check_parse(int (*parse)(const char *, uint64_t *),
			const struct parse_case *c)
{
	uint64_t v = 0xdeadbeef;
	int ret = parse(c->in, &v);

	ck_assert_msg(ret == c->ret, "'%s': got %d, want %d", c->in, ret,
		      c->ret);
	ck_assert_msg(v == (c->ret ? 0xdeadbeef : c->want),
		      "'%s': got %llu, want %llu", c->in, (unsigned long long)v,
		      (unsigned long long)c->want);
}

static const struct parse_case sizes[] = {
	{"0", 0, 0},
	{"1", 0, 1},
	{"1024", 0, 1024},
	{"007", 0, 7},
	{"000k", 0, 0},
	{"1k", 0, 1024},
	{"1K", 0, 1024},
	{"1kb", 0, 1024},
	{"1KB", 0, 1024},
	{"1kB", 0, 1024},
	{"64M", 0, 64ull << 20},
	{"64mb", 0, 64ull << 20},
	{"4gb", 0, 4ull << 30},
	{"4G", 0, 4ull << 30},
	{"2t", 0, 2ull << 40},
	{"2Tb", 0, 2ull << 40},
	{"3355443200", 0, 3355443200ull},
	{"9223372036854775807", 0, INT64_MAX},
	{"8388607t", 0, 8388607ull << 40},
	{"8796093022207k", 0, 8796093022207ull << 10},
	/* as upstream's mooncake_config.json may write them */
	{" 1", 0, 1},
	{"1 ", 0, 1},
	{"1 m", 0, 1ull << 20},
	{"1m ", 0, 1ull << 20},
	{"\t4 GB\t", 0, 4ull << 30},
	{"1\t", 0, 1},
	{"1\n", -EINVAL, 0},
	{"1m\r", -EINVAL, 0},
	{"1b", 0, 1},
	{"16777216B", 0, 16777216},
	{"1.5m", 0, 3ull << 19},
	{"1.5GB", 0, 3ull << 29},
	{"0.5k", 0, 512},
	{"1.0", 0, 1},
	{"1.9", 0, 1},
	{"0.001k", 0, 1},
	{"0.0009k", 0, 0},
	{"2.000000000000000000009t", 0, 2ull << 40},
	{"8388607.99999t", 0, (8388607ull << 40) + 1099500632659ull},
	/* hostile */
	{"", -EINVAL, 0},
	{"k", -EINVAL, 0},
	{"M", -EINVAL, 0},
	{"kb", -EINVAL, 0},
	{"-1", -EINVAL, 0},
	{"1.", -EINVAL, 0},
	{"1.k", -EINVAL, 0},
	{"1..5k", -EINVAL, 0},
	{"1.5.5k", -EINVAL, 0},
	{"1 .5k", -EINVAL, 0},
	{"1 k b", -EINVAL, 0},
	{"1 2", -EINVAL, 0},
	{"   ", -EINVAL, 0},
	{"1bb", -EINVAL, 0},
	{"1 infinite", -EINVAL, 0},
	{"infinite", -EINVAL, 0},
	{"1\v", -EINVAL, 0},
	{"+1", -EINVAL, 0},
	{".5", -EINVAL, 0},
	{"1e3", -EINVAL, 0},
	{"0x10", -EINVAL, 0},
	{"0X10", -EINVAL, 0},
	{"1kib", -EINVAL, 0},
	{"1KiB", -EINVAL, 0},
	{"1mbb", -EINVAL, 0},
	{"1p", -EINVAL, 0},
	{"1pb", -EINVAL, 0},
	{"1mk", -EINVAL, 0},
	{"m1", -EINVAL, 0},
	{"1,000", -EINVAL, 0},
	{"1_000", -EINVAL, 0},
	{"١", -EINVAL, 0},
	{"9223372036854775808", -ERANGE, 0},
	{"18446744073709551615", -ERANGE, 0},
	{"18446744073709551616", -ERANGE, 0},
	{"99999999999999999999999999999999", -ERANGE, 0},
	{"8388608t", -ERANGE, 0},
	{"8388608TB", -ERANGE, 0},
	{"8388607.9999999999999999999t", 0,
	 (8388607ull << 40) + 1099511627775ull},
	{"9223372036854775807.5", 0, INT64_MAX},
	{"9223372036854775808.5", -ERANGE, 0},
	{"9007199254740991k", 0, 9007199254740991ull << 10},
	{"9007199254740992k", -ERANGE, 0},
	{"8796093022208", 0, 8796093022208ull},
	{"9007199254740992g", -ERANGE, 0},
	{"8589934592g", -ERANGE, 0},
	{"8589934591g", 0, 8589934591ull << 30},
	{"18446744073709551616k", -ERANGE, 0},
	{"18446744073709551616x", -EINVAL, 0},
};

START_TEST(test_size_parse)
{
	check_parse(mc_size_parse, &sizes[_i]);
}
END_TEST

START_TEST(test_size_parse_null)
{
	uint64_t v;

	ck_assert_int_eq(mc_size_parse(NULL, &v), -EINVAL);
	ck_assert_int_eq(mc_u64_parse(NULL, &v), -EINVAL);
}
END_TEST

static const struct parse_case u64s[] = {
	{"0", 0, 0},
	{"42", 0, 42},
	{"0042", 0, 42},
	{"9223372036854775807", 0, INT64_MAX},
	{"9223372036854775808", -ERANGE, 0},
	{"18446744073709551616", -ERANGE, 0},
	{"", -EINVAL, 0},
	{"-1", -EINVAL, 0},
	{"+1", -EINVAL, 0},
	{" 1", -EINVAL, 0},
	{"1 ", -EINVAL, 0},
	{"1k", -EINVAL, 0},
	{"1.5", -EINVAL, 0},
	{"1e3", -EINVAL, 0},
	{"0x10", -EINVAL, 0},
	{"99999999999999999999x", -EINVAL, 0},
};

START_TEST(test_u64_parse)
{
	check_parse(mc_u64_parse, &u64s[_i]);
}
END_TEST

static const struct {
	uint64_t in;
	const char *want;
} humans[] = {
	{0, "0 B"},
	{1, "1 B"},
	{1023, "1023 B"},
	{1024, "1.00 KB"},
	{1536, "1.50 KB"},
	{1048576, "1.00 MB"},
	{16777216, "16.00 MB"},
	{3355443200ull, "3.13 GB"},
	{3355443199ull, "3.12 GB"},
	{1048575, "1024.00 KB"},
	{5ull << 29, "2.50 GB"},
	{1126, "1.10 KB"},
	{1ull << 40, "1.00 TB"},
	{1ull << 50, "1024.00 TB"},
	{UINT64_MAX, "16777216.00 TB"},
};

START_TEST(test_size_human)
{
	char buf[64];

	ck_assert_str_eq(mc_size_human(humans[_i].in, buf, sizeof(buf)),
			 humans[_i].want);
}
END_TEST

START_TEST(test_size_human_short_buffer)
{
	char buf[4];

	mc_size_human(16777216, buf, sizeof(buf));
	ck_assert_str_eq(buf, "16.");
}
END_TEST

#define N(a) (int)(sizeof(a) / sizeof((a)[0]))

static Suite *size_suite(void)
{
	Suite *s = suite_create("size");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_size_parse, 0, N(sizes));
	tcase_add_test(tc, test_size_parse_null);
	tcase_add_loop_test(tc, test_u64_parse, 0, N(u64s));
	tcase_add_loop_test(tc, test_size_human, 0, N(humans));
	tcase_add_test(tc, test_size_human_short_buffer);
	suite_add_tcase(s, tc);
	return s;
}

MC_CHECK_MAIN(size_suite)
