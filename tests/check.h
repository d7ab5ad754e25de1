/*
 * check.h - shared helpers for the Check suites: each tests/check_X.c
 * defines `Suite *X_suite(void)` and ends with MC_CHECK_MAIN(X_suite).
 */
#ifndef MC_TESTS_CHECK_H
#define MC_TESTS_CHECK_H

#include <check.h>
#include <stdlib.h>
#include <time.h>

/* MC_TEST_QUICK=1 (set by check-valgrind) shrinks randomized loops. */
static inline int mc_test_quick(void)
{
	const char *q = getenv("MC_TEST_QUICK");
	return q && *q && *q != '0';
}

/*
 * Seconds since @t0 (CLOCK_MONOTONIC). A race loop runs its rounds or
 * for a budget of time, whichever ends first: a sanitizer build on a
 * loaded machine runs many times slower, and must stay inside its case's
 * timeout.
 */
static inline double mc_test_elapsed(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) +
	       (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

#define MC_CHECK_MAIN(suite_fn)                                                \
	int main(void)                                                         \
	{                                                                      \
		SRunner *sr = srunner_create(suite_fn());                      \
		srunner_run_all(sr, CK_NORMAL);                                \
		int failed = srunner_ntests_failed(sr);                        \
		srunner_free(sr);                                              \
		return failed ? EXIT_FAILURE : EXIT_SUCCESS;                   \
	}

#endif
