/*
 * check_buf.c - the growable buffer and its JSON string escaping.
 */
#include "autoconfig.h"

#include <json-c/json.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "check.h"

START_TEST(test_buf_empty)
{
	struct mc_buf b = MC_BUF_INIT;
	size_t len = 99;
	char *p;

	ck_assert_uint_eq(b.len, 0);
	mc_buf_reset(&b);
	mc_buf_release(&b);
	p = mc_buf_detach(&b, &len);
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(p, "");
	ck_assert_uint_eq(len, 0);
	free(p);
	mc_buf_add(&b, "", 0);
	ck_assert_ptr_nonnull(b.data);
	ck_assert_str_eq(b.data, "");
	mc_buf_release(&b);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len + b.cap, 0);
}
END_TEST

START_TEST(test_buf_add)
{
	struct mc_buf b = MC_BUF_INIT;
	char *p;
	size_t len;

	mc_buf_adds(&b, "abc");
	mc_buf_addch(&b, '-');
	mc_buf_add(&b, "x\0y", 3);
	ck_assert_uint_eq(b.len, 7);
	ck_assert_mem_eq(b.data, "abc-x\0y", 8);
	mc_buf_addf(&b, "%d/%s", 42, "z");
	ck_assert_uint_eq(b.len, 11);
	ck_assert_mem_eq(b.data, "abc-x\0y42/z", 12);
	mc_buf_reset(&b);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_str_eq(b.data, "");
	mc_buf_adds(&b, "again");
	p = mc_buf_detach(&b, &len);
	ck_assert_str_eq(p, "again");
	ck_assert_uint_eq(len, 5);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	free(p);
}
END_TEST

START_TEST(test_buf_grow_large)
{
	struct mc_buf b = MC_BUF_INIT;
	char big[5000];

	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	/* addf past the first guess exercises the second vsnprintf */
	mc_buf_addf(&b, "<%s>", big);
	ck_assert_uint_eq(b.len, sizeof(big) + 1);
	ck_assert_int_eq(b.data[0], '<');
	ck_assert_int_eq(b.data[b.len - 1], '>');
	ck_assert_int_eq(b.data[b.len], '\0');
	for (int i = 0; i < 10000; i++)
		mc_buf_addch(&b, 'a' + i % 26);
	ck_assert_uint_eq(b.len, sizeof(big) + 1 + 10000);
	ck_assert_int_eq(b.data[b.len - 1], 'a' + 9999 % 26);
	ck_assert_uint_gt(b.cap, b.len);
	size_t cap = b.cap;
	mc_buf_grow(&b, 0);
	ck_assert_uint_eq(b.cap, cap);
	mc_buf_release(&b);
}
END_TEST

START_TEST(test_buf_addu)
{
	static const struct {
		unsigned long long n;
		const char *s;
	} t[] = {
		{0, "0"},
		{7, "7"},
		{9, "9"},
		{10, "10"},
		{99, "99"},
		{100, "100"},
		{101, "101"},
		{1000, "1000"},
		{3355443200ull, "3355443200"},
		{10000000000000000000ull, "10000000000000000000"},
		{UINT64_MAX, "18446744073709551615"},
	};
	struct mc_buf b = MC_BUF_INIT;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		mc_buf_reset(&b);
		mc_buf_adds(&b, "n=");
		mc_buf_addu(&b, t[i].n);
		ck_assert_str_eq(b.data + 2, t[i].s);
	}
	mc_buf_release(&b);
}
END_TEST

static const struct {
	const char *in;
	size_t len;
	const char *want;
} jsons[] = {
	{"", 0, "\"\""},
	{"plain", 5, "\"plain\""},
	{"a\"b\\c/d", 7, "\"a\\\"b\\\\c/d\""},
	{"a\0b", 3, "\"a\\u0000b\""},
	{"\n\r\t\b\f", 5, "\"\\u000a\\u000d\\u0009\\u0008\\u000c\""},
	{"\x1f\x7f", 2, "\"\\u001f\x7f\""},
	/* well-formed UTF-8 passes through */
	{"caf\xc3\xa9", 5, "\"caf\xc3\xa9\""},
	{"\xe2\x82\xac", 3, "\"\xe2\x82\xac\""},
	{"\xf0\x9f\x98\x80", 4, "\"\xf0\x9f\x98\x80\""},
	{"\xef\xbf\xbf", 3, "\"\xef\xbf\xbf\""},
	{"\xf4\x8f\xbf\xbf", 4, "\"\xf4\x8f\xbf\xbf\""},
	/* not UTF-8: each offending byte as \u00XX (Latin-1) */
	{"\xff", 1, "\"\\u00ff\""},
	{"\x80", 1, "\"\\u0080\""},
	{"a\xc3", 2, "\"a\\u00c3\""},
	{"\xc3(", 2, "\"\\u00c3(\""},
	{"\xc0\x80", 2, "\"\\u00c0\\u0080\""},
	{"\xc1\xbf", 2, "\"\\u00c1\\u00bf\""},
	{"\xe0\x80\xaf", 3, "\"\\u00e0\\u0080\\u00af\""},
	{"\xed\xa0\x80", 3, "\"\\u00ed\\u00a0\\u0080\""},
	{"\xe2\x82", 2, "\"\\u00e2\\u0082\""},
	{"\xf0\x82\x82\xac", 4, "\"\\u00f0\\u0082\\u0082\\u00ac\""},
	{"\xf4\x90\x80\x80", 4, "\"\\u00f4\\u0090\\u0080\\u0080\""},
	{"\xf5\x80\x80\x80", 4, "\"\\u00f5\\u0080\\u0080\\u0080\""},
	{"\xe2\x82\xac\xe2\x82", 5, "\"\xe2\x82\xac\\u00e2\\u0082\""},
	{"\xf0\x9f\x98", 3, "\"\\u00f0\\u009f\\u0098\""},
};

START_TEST(test_buf_json_str)
{
	struct mc_buf b = MC_BUF_INIT;

	mc_buf_adds(&b, "x:");
	mc_buf_add_json_str(&b, jsons[_i].in, jsons[_i].len);
	ck_assert_msg(!strcmp(b.data + 2, jsons[_i].want),
		      "case %d: got %s, want %s", _i, b.data + 2,
		      jsons[_i].want);
	ck_assert_uint_eq(b.len, 2 + strlen(jsons[_i].want));
	mc_buf_release(&b);
}
END_TEST

/* Parses @s strictly, rejecting bad UTF-8; returns the string object. */
static json_object *parse_strict(const char *s, size_t len)
{
	json_tokener *tok = json_tokener_new();
	json_object *o;

	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
					    JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, s, (int)len);
	ck_assert_msg(json_tokener_get_error(tok) == json_tokener_success,
		      "not valid JSON: %s (%s)", s,
		      json_tokener_error_desc(json_tokener_get_error(tok)));
	json_tokener_free(tok);
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(json_object_get_type(o), json_type_string);
	return o;
}

START_TEST(test_buf_json_every_byte)
{
	struct mc_buf b = MC_BUF_INIT;

	/* Each byte alone, then all 256 in one string: always valid JSON. */
	for (int c = 0; c < 256; c++) {
		unsigned char ch = c;
		mc_buf_reset(&b);
		mc_buf_add_json_str(&b, &ch, 1);
		json_object *o = parse_strict(b.data, b.len);
		const unsigned char *s =
			(const unsigned char *)json_object_get_string(o);
		int n = json_object_get_string_len(o);
		if (c < 0x80) {
			ck_assert_int_eq(n, 1);
			ck_assert_int_eq(s[0], c);
		} else {
			/* decodes to U+00XX, two bytes of UTF-8 */
			ck_assert_int_eq(n, 2);
			ck_assert_int_eq(s[0], 0xc0 | c >> 6);
			ck_assert_int_eq(s[1], 0x80 | (c & 0x3f));
		}
		json_object_put(o);
	}
	unsigned char all[256];
	for (int c = 0; c < 256; c++)
		all[c] = c;
	mc_buf_reset(&b);
	mc_buf_add_json_str(&b, all, sizeof(all));
	json_object_put(parse_strict(b.data, b.len));
	mc_buf_release(&b);
}
END_TEST

START_TEST(test_buf_json_round_trip)
{
	/* Valid UTF-8 with NULs and controls comes back byte for byte. */
	static const char in[] =
		"k\0e\x01y \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
		"\"\\\n\x1f end";
	struct mc_buf b = MC_BUF_INIT;

	mc_buf_add_json_str(&b, in, sizeof(in) - 1);
	json_object *o = parse_strict(b.data, b.len);
	ck_assert_int_eq(json_object_get_string_len(o), sizeof(in) - 1);
	ck_assert_mem_eq(json_object_get_string(o), in, sizeof(in) - 1);
	json_object_put(o);
	mc_buf_release(&b);
}
END_TEST

START_TEST(test_buf_json_random)
{
	struct mc_buf b = MC_BUF_INIT;
	unsigned char in[64];
	uint32_t x = 12345;
	int rounds = mc_test_quick() ? 200 : 5000;

	/* Fixed-seed noise: the output must always parse. */
	for (int r = 0; r < rounds; r++) {
		size_t n = r % sizeof(in);
		for (size_t i = 0; i < n; i++) {
			x = x * 1103515245 + 12345;
			in[i] = x >> 16;
		}
		mc_buf_reset(&b);
		mc_buf_add_json_str(&b, in, n);
		json_object_put(parse_strict(b.data, b.len));
	}
	mc_buf_release(&b);
}
END_TEST

#define N(a) (int)(sizeof(a) / sizeof((a)[0]))

static Suite *buf_suite(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_buf_empty);
	tcase_add_test(tc, test_buf_add);
	tcase_add_test(tc, test_buf_grow_large);
	tcase_add_test(tc, test_buf_addu);
	tcase_add_loop_test(tc, test_buf_json_str, 0, N(jsons));
	tcase_add_test(tc, test_buf_json_every_byte);
	tcase_add_test(tc, test_buf_json_round_trip);
	tcase_add_test(tc, test_buf_json_random);
	suite_add_tcase(s, tc);
	return s;
}

MC_CHECK_MAIN(buf_suite)
