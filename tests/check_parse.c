// SPDX-License-Identifier: MIT
/* The CLI's number, size, devfn and line parsers (tools/parse.c). */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../tools/parse.h"

static const struct {
	const char *s;
	uint64_t max;
	bool suffix;
	int r;
	uint64_t v;
} u64_cases[] = {
	{ "0", UINT64_MAX, false, 0, 0 },
	{ "42", UINT64_MAX, false, 0, 42 },
	{ "0x2a", UINT64_MAX, false, 0, 42 },
	{ "0X2A", UINT64_MAX, false, 0, 42 },
	{ "007", UINT64_MAX, false, 0, 7 },	/* decimal, not octal */
	{ "18446744073709551615", UINT64_MAX, false, 0, UINT64_MAX },
	{ "0xffffffffffffffff", UINT64_MAX, false, 0, UINT64_MAX },
	{ "18446744073709551616", UINT64_MAX, false, -ERANGE, 0 },
	{ "0x10000000000000000", UINT64_MAX, false, -ERANGE, 0 },
	{ "255", 255, false, 0, 255 },
	{ "256", 255, false, -ERANGE, 0 },
	{ "", UINT64_MAX, false, -EINVAL, 0 },
	{ "0x", UINT64_MAX, false, -EINVAL, 0 },
	{ "0x0x1", UINT64_MAX, false, -EINVAL, 0 },
	{ "-1", UINT64_MAX, false, -EINVAL, 0 },
	{ "+1", UINT64_MAX, false, -EINVAL, 0 },
	{ " 1", UINT64_MAX, false, -EINVAL, 0 },
	{ "1 ", UINT64_MAX, false, -EINVAL, 0 },
	{ "12x", UINT64_MAX, false, -EINVAL, 0 },
	{ "1K", UINT64_MAX, false, -EINVAL, 0 },	/* no suffix asked */
	{ "1K", UINT64_MAX, true, 0, 1024 },
	{ "1k", UINT64_MAX, true, 0, 1024 },
	{ "128M", UINT64_MAX, true, 0, 128ull << 20 },
	{ "4G", UINT64_MAX, true, 0, 4ull << 30 },
	{ "0x10g", UINT64_MAX, true, 0, 16ull << 30 },
	{ "2T", UINT64_MAX, true, 0, 2ull << 40 },
	{ "16Q", UINT64_MAX, true, -EINVAL, 0 },
	{ "1KK", UINT64_MAX, true, -EINVAL, 0 },
	{ "K", UINT64_MAX, true, -EINVAL, 0 },
	{ "16777215T", UINT64_MAX, true, 0, 16777215ull << 40 },
	{ "16777216T", UINT64_MAX, true, -ERANGE, 0 },	/* 2^64 */
	{ "99999999999T", UINT64_MAX, true, -ERANGE, 0 },
	{ "2K", 2047, true, -ERANGE, 0 },
};

START_TEST(test_u64)
{
	uint64_t v = 0xdead;
	int r;

	r = parse_u64(u64_cases[_i].s, u64_cases[_i].max, u64_cases[_i].suffix,
		      &v);
	ck_assert_msg(r == u64_cases[_i].r, "'%s': %d, expected %d",
		      u64_cases[_i].s, r, u64_cases[_i].r);
	if (r == 0)
		ck_assert_uint_eq(v, u64_cases[_i].v);
	else
		ck_assert_uint_eq(v, 0xdead);	/* untouched on failure */
}
END_TEST

static const struct {
	const char *s;
	int r;
	uint8_t v;
} devfn_cases[] = {
	{ "0", 0, 0 },
	{ "8", 0, 8 },
	{ "255", 0, 255 },
	{ "0xff", 0, 255 },
	{ "256", -ERANGE, 0 },
	{ "1f.7", 0, 0xff },
	{ "1F.7", 0, 0xff },
	{ "0x1f.7", 0, 0xff },
	{ "1.0", 0, 8 },
	{ "00.0", 0, 0 },
	{ "20.0", -ERANGE, 0 },
	{ "1f.8", -ERANGE, 0 },
	{ "1f.", -EINVAL, 0 },
	{ ".1", -EINVAL, 0 },
	{ "0x.1", -EINVAL, 0 },
	{ "100.0", -EINVAL, 0 },
	{ "1.00", -EINVAL, 0 },
	{ "g.0", -EINVAL, 0 },
	{ "1.0.0", -EINVAL, 0 },
	{ "", -EINVAL, 0 },
	{ "-1", -EINVAL, 0 },
};

START_TEST(test_devfn)
{
	uint8_t v = 0x5a;
	int r;

	r = parse_devfn(devfn_cases[_i].s, &v);
	ck_assert_msg(r == devfn_cases[_i].r, "'%s': %d, expected %d",
		      devfn_cases[_i].s, r, devfn_cases[_i].r);
	if (r == 0)
		ck_assert_uint_eq(v, devfn_cases[_i].v);
	else
		ck_assert_uint_eq(v, 0x5a);
}
END_TEST

START_TEST(test_words)
{
	char *w[4];
	char line[128];

	strcpy(line, "  cpu-add\t1   2\r\n");
	ck_assert_int_eq(parse_words(line, w, 4), 3);
	ck_assert_str_eq(w[0], "cpu-add");
	ck_assert_str_eq(w[1], "1");
	ck_assert_str_eq(w[2], "2");

	strcpy(line, "pci-add 0 8 # the disk\n");
	ck_assert_int_eq(parse_words(line, w, 4), 3);
	ck_assert_str_eq(w[2], "8");

	/* '#' starts a comment only at the start of a word. */
	strcpy(line, "info a#b");
	ck_assert_int_eq(parse_words(line, w, 4), 2);
	ck_assert_str_eq(w[1], "a#b");

	strcpy(line, "# only a comment\n");
	ck_assert_int_eq(parse_words(line, w, 4), 0);
	strcpy(line, "   \t\r\n");
	ck_assert_int_eq(parse_words(line, w, 4), 0);
	strcpy(line, "");
	ck_assert_int_eq(parse_words(line, w, 4), 0);

	strcpy(line, "a b c d");
	ck_assert_int_eq(parse_words(line, w, 4), 4);
	ck_assert_str_eq(w[3], "d");
	strcpy(line, "a b c d e");
	ck_assert_int_eq(parse_words(line, w, 4), -E2BIG);
	/* A comment after the last word allowed is no fifth word. */
	strcpy(line, "a b c d #e");
	ck_assert_int_eq(parse_words(line, w, 4), 4);
}
END_TEST

static Suite *parse_suite(void)
{
	Suite *s = suite_create("parse");
	TCase *tc = tcase_create("parse");

	tcase_add_loop_test(tc, test_u64, 0,
			    sizeof(u64_cases) / sizeof(u64_cases[0]));
	tcase_add_loop_test(tc, test_devfn, 0,
			    sizeof(devfn_cases) / sizeof(devfn_cases[0]));
	tcase_add_test(tc, test_words);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(parse_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
