/* report_fmt.c — escaping and numbers for the report's renderers (report_files.h).
 *
 * Everything a report shows that came from the API or a label goes through rf_html or
 * rf_json: a label value "<script>" is text on the page, and the JSON always parses. */
#include "report_files.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	size_t len = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	if (n < len)
		return 0;
	uint32_t cp = s[0] & (0x7f >> len);
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

void rf_html(FILE *f, const char *s)
{
	if (!s)
		return;
	const unsigned char *p = (const unsigned char *) s;
	size_t n = strlen(s);
	while (n) {
		unsigned char c = *p;
		size_t k;
		switch (c) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			if (c >= 0x80 && (k = utf8_len(p, n)) > 0) {
				fwrite(p, 1, k, f);
				p += k;
				n -= k;
				continue;
			}
			if (c < 0x20 || c >= 0x7f)
				fputs("\xef\xbf\xbd", f); /* U+FFFD */
			else
				fputc(c, f);
		}
		p++;
		n--;
	}
}

void rf_json(FILE *f, const char *s)
{
	if (!s) {
		fputs("null", f);
		return;
	}
	const unsigned char *p = (const unsigned char *) s;
	size_t n = strlen(s);
	fputc('"', f);
	while (n) {
		unsigned char c = *p;
		size_t k;
		if (c >= 0x80 && (k = utf8_len(p, n)) > 0) {
			fwrite(p, 1, k, f);
			p += k;
			n -= k;
			continue;
		}
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else if (c >= 0x80)
			fputs("\\ufffd", f);
		else
			fputc(c, f);
		p++;
		n--;
	}
	fputc('"', f);
}

const char *rf_count(uint64_t v, char buf[32])
{
	char digits[24];
	int n = snprintf(digits, sizeof digits, "%" PRIu64, v), j = 0;
	for (int i = 0; i < n; i++) {
		if (i && (n - i) % 3 == 0)
			buf[j++] = ',';
		buf[j++] = digits[i];
	}
	buf[j] = '\0';
	return buf;
}

const char *rf_bytes(uint64_t v, char buf[32])
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double x = (double) v;
	int u = 0;
	while (x >= 1024 && u < 6) {
		x /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, 32, "%" PRIu64 " B", v);
	else if (x < 10)
		snprintf(buf, 32, "%.1f %s", x, unit[u]);
	else
		snprintf(buf, 32, "%.0f %s", x, unit[u]);
	return buf;
}

const char *rf_span(int64_t s, char buf[32])
{
	static const struct {
		int64_t secs;
		const char *name;
	} u[] = {{365 * 86400, "year"}, {30 * 86400, "month"}, {7 * 86400, "week"}, {86400, "day"},
		 {3600, "hour"},	{60, "minute"},	       {1, "second"}};
	if (s < 0)
		s = -s;
	/* the largest unit that fits twice: 90 minutes, 10 days, 5 weeks, 4 months */
	for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
		int64_t k = s / u[i].secs;
		if (k >= 2) {
			snprintf(buf, 32, "%" PRId64 " %ss", k, u[i].name);
			return buf;
		}
	}
	if (s == 1)
		return strcpy(buf, "1 second");
	snprintf(buf, 32, "%" PRId64 " seconds", s);
	return buf;
}

const char *rf_time(int64_t t, char buf[32])
{
	struct tm tm;
	time_t tt = (time_t) t;
	if (t == 0 || !gmtime_r(&tt, &tm) || !strftime(buf, 32, "%Y-%m-%d %H:%M UTC", &tm))
		snprintf(buf, 32, "never");
	return buf;
}
