/* test_timefmt.c — RFC 3339 parsing and formatting: offsets, fractions,
 * calendar edges, and the garbage that must be refused. */
#include "check.h"
#include "timefmt.h"

#include <errno.h>
#include <stdlib.h>

static void parses(const char *s, int64_t want_sec, uint32_t want_ns)
{
	int64_t sec = -1;
	uint32_t ns = 1;
	int rc = cf_time_parse(s, &sec, &ns);
	CHECK_EQ_INT(rc, 0);
	if (rc == 0) {
		if (sec != want_sec || ns != want_ns)
			fprintf(stderr, "  for \"%s\"\n", s);
		CHECK_EQ_INT(sec, want_sec);
		CHECK_EQ_INT(ns, want_ns);
	}
}

static void refuses(const char *s)
{
	int64_t sec = 42;
	uint32_t ns = 42;
	int rc = cf_time_parse(s, &sec, &ns);
	if (rc != -EINVAL)
		fprintf(stderr, "  accepted \"%s\"\n", s);
	CHECK_EQ_INT(rc, -EINVAL);
	CHECK_EQ_INT(sec, 42); /* outputs untouched on failure */
}

static void formats(int64_t sec, const char *want)
{
	char buf[32];
	CHECK_EQ_INT(cf_time_format(sec, buf, sizeof buf), 0);
	CHECK_EQ_STR(buf, want);
}

static void test_parse(void)
{
	parses("1970-01-01T00:00:00Z", 0, 0);
	parses("2024-05-01T17:20:30Z", 1714584030, 0);
	/* The API's own shape: Pacific time with milliseconds. */
	parses("2024-05-01T10:20:30.123-07:00", 1714584030, 123000000);
	parses("2024-05-01T22:50:30.5+05:30", 1714584030, 500000000);
	parses("2024-05-01t17:20:30z", 1714584030, 0);
	parses("2024-05-01T17:20:30+00:00", 1714584030, 0);
	parses("2024-05-01T17:20:30-00:00", 1714584030, 0);
	/* Fractions of any length, truncated (not rounded) to nanoseconds. */
	parses("2024-05-01T17:20:30.1Z", 1714584030, 100000000);
	parses("2024-05-01T17:20:30.123456789Z", 1714584030, 123456789);
	parses("2024-05-01T17:20:30.1234567899999Z", 1714584030, 123456789);
	parses("2024-05-01T17:20:30.000000000000000000000000001Z", 1714584030, 0);
	/* Offsets move across day, month and year boundaries. */
	parses("2023-12-31T23:30:00-01:00", 1704069000, 0); /* 2024-01-01T00:30Z */
	parses("2024-01-01T00:30:00+23:59", 1704069000 - 23 * 3600 - 59 * 60, 0);
	/* Leap day, century rules, leap second. */
	parses("2024-02-29T00:00:00Z", 1709164800, 0);
	parses("2000-02-29T12:00:00Z", 951825600, 0);
	parses("2016-12-31T23:59:60Z", 1483228800, 0);
	/* Before the epoch, and the extremes of a four-digit year. */
	parses("1969-12-31T23:59:59Z", -1, 0);
	parses("1969-12-31T23:59:59.25Z", -1, 250000000);
	parses("0000-01-01T00:00:00Z", -62167219200, 0);
	parses("9999-12-31T23:59:59Z", 253402300799, 0);
}

static void test_refuse(void)
{
	refuses("");
	refuses("2024");
	refuses("2024-05-01");
	refuses("2024-05-01T17:20:30");	 /* no zone: local time is not a time */
	refuses("2024-05-01 17:20:30Z"); /* RFC 3339 allows it, the API never sends it */
	refuses("2024-05-01T17:20:30ZZ");
	refuses("2024-05-01T17:20:30Z ");
	refuses(" 2024-05-01T17:20:30Z");
	refuses("2024-05-01T17:20:30.Z");
	refuses("2024-05-01T17:20:30.-1Z");
	refuses("2024-05-01T17:20:30,5Z");
	refuses("2024-05-01T17:20:30+0700");
	refuses("2024-05-01T17:20:30+07");
	refuses("2024-05-01T17:20:30+7:00");
	refuses("2024-05-01T17:20:30+24:00");
	refuses("2024-05-01T17:20:30+07:60");
	refuses("2024-13-01T17:20:30Z");
	refuses("2024-00-01T17:20:30Z");
	refuses("2024-05-00T17:20:30Z");
	refuses("2024-04-31T17:20:30Z");
	refuses("2023-02-29T17:20:30Z");
	refuses("1900-02-29T17:20:30Z");
	refuses("2024-05-01T24:00:00Z");
	refuses("2024-05-01T23:60:00Z");
	refuses("2024-05-01T23:59:61Z");
	refuses("+2024-05-01T17:20:30Z");
	refuses("20240-05-01T17:20:30Z");
	refuses("2024-5-01T17:20:30Z");
	refuses("２０２４-05-01T17:20:30Z"); /* full-width digits */
	refuses("2024-05-01T17:20:30\0Z");
	refuses("2024-05-01X17:20:30Z");
	CHECK_EQ_INT(cf_time_parse(NULL, NULL, NULL), -EINVAL);

	/* A fraction a megabyte long is still parsed in one pass. */
	size_t n = 1 << 20;
	char *big = malloc(n + 32);
	CHECK(big != NULL);
	if (big) {
		memcpy(big, "2024-05-01T17:20:30.", 20);
		memset(big + 20, '7', n);
		memcpy(big + 20 + n, "Z", 2);
		parses(big, 1714584030, 777777777);
		big[20 + n - 1] = 'x';
		refuses(big);
		free(big);
	}
}

static void test_format(void)
{
	char buf[32];
	formats(0, "1970-01-01T00:00:00Z");
	formats(1714584030, "2024-05-01T17:20:30Z");
	formats(-1, "1969-12-31T23:59:59Z");
	formats(951825600, "2000-02-29T12:00:00Z");
	formats(-62167219200, "0000-01-01T00:00:00Z");
	formats(253402300799, "9999-12-31T23:59:59Z");
	CHECK_EQ_INT(cf_time_format(253402300800, buf, sizeof buf), -EOVERFLOW);
	CHECK_EQ_INT(cf_time_format(-62167219201, buf, sizeof buf), -EOVERFLOW);
	CHECK_EQ_INT(cf_time_format(INT64_MIN, buf, sizeof buf), -EOVERFLOW);
	CHECK_EQ_INT(cf_time_format(0, buf, 20), -ERANGE);
	CHECK_EQ_INT(cf_time_format(0, buf, 21), 0);

	/* Round trip across four centuries, one odd step at a time. */
	int bad = 0;
	for (int64_t t = -12219292800; t < 13000000000; t += 86400 * 37 + 3607) {
		int64_t back;
		uint32_t ns;
		if (cf_time_format(t, buf, sizeof buf) || cf_time_parse(buf, &back, &ns) ||
		    back != t || ns != 0)
			bad++;
	}
	CHECK_EQ_INT(bad, 0);
}

int main(void)
{
	test_parse();
	test_refuse();
	test_format();
	return check_summary();
}
