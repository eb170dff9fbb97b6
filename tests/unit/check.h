/* check.h — the smallest test harness that fails loudly: CHECK(cond) records a
 * failure with file:line and the expression; CHECK_EQ_INT / CHECK_EQ_STR show
 * both values; main returns check_summary() (0 only when nothing failed and
 * at least one check ran). Header-only so each test is one file. */
#ifndef CLONEFS_CHECK_H
#define CLONEFS_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int check_run, check_failed;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		check_run++;                                                                       \
		if (!(cond)) {                                                                     \
			check_failed++;                                                            \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
		}                                                                                  \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
	do {                                                                                       \
		long long va_ = (long long) (a), vb_ = (long long) (b);                            \
		check_run++;                                                                       \
		if (va_ != vb_) {                                                                  \
			check_failed++;                                                            \
			fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__,      \
				__LINE__, #a, va_, #b, vb_);                                       \
		}                                                                                  \
	} while (0)

#define CHECK_EQ_STR(a, b)                                                                         \
	do {                                                                                       \
		const char *sa_ = (a), *sb_ = (b);                                                 \
		check_run++;                                                                       \
		if (!sa_ || !sb_ || strcmp(sa_, sb_)) {                                            \
			check_failed++;                                                            \
			fprintf(stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__,        \
				__LINE__, #a, sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");         \
		}                                                                                  \
	} while (0)

static inline int check_summary(void)
{
	fprintf(stderr, "%d checks, %d failed\n", check_run, check_failed);
	return check_failed || !check_run ? 1 : 0;
}

#endif
