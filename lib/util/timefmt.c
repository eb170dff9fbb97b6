/* timefmt.c — RFC 3339 timestamps as the Compute Engine API writes them
 * ("2024-05-01T10:20:30.123-07:00"), parsed to UTC, and UTC seconds formatted
 * back as "2024-05-01T17:20:30Z".
 *
 * No locale, no TZ, no mktime/timegm: the calendar arithmetic is Howard
 * Hinnant's days_from_civil / civil_from_days (proleptic Gregorian), so the
 * result never depends on the environment the daemon runs in. */
#include "timefmt.h"

#include <errno.h>
#include <stdbool.h>

/* Days since 1970-01-01 of the civil date y-m-d (m 1..12, d 1..31). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned) (y - era * 400);		      /* [0, 399] */
	const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;	      /* [0, 146096] */
	return era * 146097 + (int64_t) doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	const unsigned doe = (unsigned) (z - era * 146097);
	const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	const unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t) yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
	static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Exactly n ASCII digits at *p (advanced past them); locale-free. */
static bool digits(const char **p, int n, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (unsigned) (c - '0');
	}
	*p += n;
	*out = v;
	return true;
}

static bool expect(const char **p, char c)
{
	if (**p != c)
		return false;
	(*p)++;
	return true;
}

int cf_time_parse(const char *s, int64_t *sec, uint32_t *nsec)
{
	unsigned year, mon, day, hour, min, s60, oh = 0, om = 0;
	uint32_t ns = 0;
	int sign = 0;
	const char *p = s;

	if (!s || !sec || !nsec)
		return -EINVAL;
	if (!digits(&p, 4, &year) || !expect(&p, '-') || !digits(&p, 2, &mon) || !expect(&p, '-') ||
	    !digits(&p, 2, &day))
		return -EINVAL;
	if (*p != 'T' && *p != 't')
		return -EINVAL;
	p++;
	if (!digits(&p, 2, &hour) || !expect(&p, ':') || !digits(&p, 2, &min) || !expect(&p, ':') ||
	    !digits(&p, 2, &s60))
		return -EINVAL;
	if (*p == '.') {
		int n = 0;
		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		/* Any length; digits past the ninth are checked, then dropped. */
		for (; *p >= '0' && *p <= '9'; p++, n++)
			if (n < 9)
				ns = ns * 10 + (uint32_t) (*p - '0');
		for (; n < 9; n++)
			ns *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '-' ? -1 : 1;
		p++;
		if (!digits(&p, 2, &oh) || !expect(&p, ':') || !digits(&p, 2, &om))
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;

	/* RFC 3339 §5.7: a leap second (60) is allowed; it lands on the next
	 * second, which is what every POSIX clock does with it. */
	if (mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon) || hour > 23 ||
	    min > 59 || s60 > 60 || oh > 23 || om > 59)
		return -EINVAL;

	int64_t t = days_from_civil(year, mon, day) * 86400 + hour * 3600 + min * 60 + s60;
	t -= sign * (int64_t) (oh * 3600 + om * 60);
	*sec = t;
	*nsec = ns;
	return 0;
}

int cf_time_format(int64_t sec, char *buf, size_t size)
{
	/* Years 0000..9999 are all RFC 3339 can write. */
	static const int64_t min_sec = -62167219200; /* 0000-01-01T00:00:00Z */
	static const int64_t max_sec = 253402300799; /* 9999-12-31T23:59:59Z */
	int64_t y, days, rem;
	unsigned m, d;

	if (!buf || size < 21)
		return -ERANGE;
	if (sec < min_sec || sec > max_sec)
		return -EOVERFLOW;
	days = sec / 86400;
	rem = sec % 86400;
	if (rem < 0) {
		rem += 86400;
		days--;
	}
	civil_from_days(days, &y, &m, &d);

	/* Written digit by digit: no snprintf, so no locale in the way. */
	unsigned f[6] = {
	    (unsigned) y,	  m, d, (unsigned) (rem / 3600), (unsigned) (rem / 60 % 60),
	    (unsigned) (rem % 60)};
	char *o = buf;
	*o++ = (char) ('0' + f[0] / 1000);
	*o++ = (char) ('0' + f[0] / 100 % 10);
	*o++ = (char) ('0' + f[0] / 10 % 10);
	*o++ = (char) ('0' + f[0] % 10);
	for (int i = 1; i < 6; i++) {
		*o++ = i == 1 || i == 2 ? '-' : i == 3 ? 'T' : ':';
		*o++ = (char) ('0' + f[i] / 10);
		*o++ = (char) ('0' + f[i] % 10);
	}
	*o++ = 'Z';
	*o = '\0';
	return 0;
}
