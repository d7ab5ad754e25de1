/*
 * check_log.c - the log line (mooncaked(8), LOGGING): "LEVEL subsystem:
 * message" after a time stamp, or after the syslog priority when stderr
 * is the journal; the level filter; one event, one line; an error
 * message (mc_err_set) is one line too.
 */
#include "autoconfig.h"

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "err.h"
#include "log.h"

static char path[] = "/tmp/mc-check-log.XXXXXX";
static int saved_err = -1;

/* Points fd 2 at a fresh temporary file. */
static void capture(void)
{
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	saved_err = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
}

/* What was logged since capture(); fd 2 is put back. */
static char *captured(void)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	dup2(saved_err, STDERR_FILENO);
	close(saved_err);
	unlink(path);
	strcpy(path, "/tmp/mc-check-log.XXXXXX");
	return buf;
}

static void assert_match(const char *got, const char *re)
{
	regex_t r;

	ck_assert_int_eq(regcomp(&r, re, REG_EXTENDED | REG_NOSUB), 0);
	ck_assert_msg(regexec(&r, got, 0, NULL, 0) == 0,
		      "log '%s' does not match /%s/", got, re);
	regfree(&r);
}

static void setup(void)
{
	unsetenv("JOURNAL_STREAM");
	mc_log_set_level(MC_LOG_INFO);
}

START_TEST(test_terminal_line)
{
	capture();
	ck_assert_int_eq(mc_log_detect(), 0);
	ck_assert_str_eq(mc_log_journal_tag(MC_LOG_ERROR), "");
	mc_info("segment: mounted '%s'", "abc");
	/* LEVEL subsystem: message, nothing in front (mooncaked(8)) */
	ck_assert_str_eq(captured(), "INFO segment: mounted 'abc'\n");
}
END_TEST

START_TEST(test_journal_line)
{
	struct stat st;
	char js[64];

	capture();
	ck_assert_int_eq(fstat(STDERR_FILENO, &st), 0);
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	ck_assert_int_eq(mc_log_detect(), 1);
	/* the tag of lines written without mc_log (a failed start's) */
	ck_assert_str_eq(mc_log_journal_tag(MC_LOG_ERROR), "<3>");
	ck_assert_str_eq(mc_log_journal_tag(MC_LOG_WARN), "<4>");
	mc_error("a: e");
	mc_warn("b: w");
	mc_info("c: i");
	mc_log_set_level(MC_LOG_DEBUG);
	mc_debug("d: d");
	ck_assert_str_eq(captured(),
			 "<3>ERROR a: e\n<4>WARN b: w\n<6>INFO c: i\n"
			 "<7>DEBUG d: d\n");
	mc_log_detect();
}
END_TEST

/* A JOURNAL_STREAM inherited by a process whose stderr went elsewhere. */
START_TEST(test_journal_elsewhere)
{
	capture();
	setenv("JOURNAL_STREAM", "1:1", 1);
	ck_assert_int_eq(mc_log_detect(), 0);
	setenv("JOURNAL_STREAM", "garbage", 1);
	ck_assert_int_eq(mc_log_detect(), 0);
	mc_info("x: y");
	/* not the journal: no syslog priority in front */
	ck_assert_str_eq(captured(), "INFO x: y\n");
}
END_TEST

START_TEST(test_level_filter)
{
	capture();
	mc_log_set_level(MC_LOG_WARN);
	ck_assert_int_eq(mc_log_get_level(), MC_LOG_WARN);
	mc_info("x: dropped");
	mc_debug("x: dropped");
	mc_warn("x: kept");
	mc_error("x: kept too");
	const char *got = captured();
	ck_assert_ptr_null(strstr(got, "dropped"));
	assert_match(got, "WARN x: kept\n.*ERROR x: kept too\n$");
	ck_assert_str_eq(mc_log_level_name(MC_LOG_DEBUG), "debug");
	ck_assert_str_eq(mc_log_level_name(7), "?");
}
END_TEST

/* User data (a key with a newline) cannot split an event in two. */
START_TEST(test_one_line)
{
	char big[3000];

	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	capture();
	errno = EXDEV;
	mc_info("get: '%s' not found", "a\nb\r\x1b[31mc");
	ck_assert_int_eq(errno, EXDEV);
	mc_info("get: '%s'", big);
	const char *got = captured();
	const char *second = strchr(got, '\n') + 1;

	assert_match(got, "INFO get: 'a\\?b\\?\\?\\[31mc' not found\n");
	/* cut to one write of 1023 bytes, one newline, at its end */
	ck_assert_uint_eq(strlen(second), 1023);
	ck_assert_ptr_eq(strchr(second, '\n'), second + 1022);
}
END_TEST

/* An error message names what a client sent; it stays one line. */
START_TEST(test_error_one_line)
{
	struct mc_err e = {0};

	ck_assert_int_eq(mc_err_set(&e, -EINVAL, MC_INVALID_PARAMS,
				    "segment '%s' is bad", "a\nb\x7f\tc"),
			 -EINVAL);
	ck_assert_int_eq(e.code, MC_INVALID_PARAMS);
	ck_assert_str_eq(e.msg, "segment 'a?b??c' is bad");
	ck_assert_int_eq(mc_err_set(NULL, -EIO, MC_INVALID_PARAMS, "x"), -EIO);
}
END_TEST

static time_t mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* Waits for the monotonic clock's next second to begin. */
static void next_second(void)
{
	time_t s = mono_s();

	while (mono_s() == s)
		usleep(1000);
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/*
 * A budget lets MC_LOG_BUDGET lines a second through; the next second's
 * first line is preceded by how many were not logged.
 */
START_TEST(test_budget)
{
	static struct mc_log_budget b = {.who = "x"};
	const char *got;
	char want[128];

	capture();
	next_second();
	for (int i = 0; i < 25; i++)
		mc_log_budgeted(&b, MC_LOG_WARN, "x: flood %d", i);
	next_second();
	mc_log_budgeted(&b, MC_LOG_WARN, "x: later");
	mc_log_set_level(MC_LOG_ERROR);
	mc_log_budgeted(&b, MC_LOG_WARN, "x: filtered");
	got = captured();
	ck_assert_int_eq(count(got, "WARN x: flood "), (int)MC_LOG_BUDGET);
	ck_assert_ptr_nonnull(strstr(got, "WARN x: flood 9\n"));
	snprintf(want, sizeof(want),
		 "WARN x: flood 9\nWARN x: %u further messages not logged "
		 "(at most %u a second are)\nWARN x: later\n",
		 25 - MC_LOG_BUDGET, MC_LOG_BUDGET);
	ck_assert_ptr_nonnull(strstr(got, want));
	ck_assert_ptr_null(strstr(got, "filtered"));
}
END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("log");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_terminal_line);
	tcase_add_test(tc, test_journal_line);
	tcase_add_test(tc, test_journal_elsewhere);
	tcase_add_test(tc, test_level_filter);
	tcase_add_test(tc, test_one_line);
	tcase_add_test(tc, test_error_one_line);
	tcase_add_test(tc, test_budget);
	suite_add_tcase(s, tc);
	return s;
}

MC_CHECK_MAIN(log_suite)
