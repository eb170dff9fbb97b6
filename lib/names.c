/* names.c — name and label rules of the provider, and label-value mapping.
 * See names.h for the rules, international characters included. */
#include "names.h"

#include <locale.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <wctype.h>

static bool lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool cf_gce_name_valid(const char *s, size_t len)
{
	if (!s || len == 0 || len > 63 || !(s[0] >= 'a' && s[0] <= 'z') || !lower_alnum(s[len - 1]))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!lower_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

static bool label_char(char c)
{
	return lower_alnum(c) || c == '_' || c == '-';
}

/* One UTF-8 sequence at s (len bytes left): its code point and length, or 0
 * when it is not the shortest encoding of a scalar value. */
static size_t utf8_next(const char *s, size_t len, uint32_t *cp)
{
	const unsigned char *u = (const unsigned char *) s;
	size_t n;
	uint32_t c, min;
	if (u[0] < 0x80) {
		*cp = u[0];
		return 1;
	} else if ((u[0] & 0xe0) == 0xc0) {
		n = 2, c = u[0] & 0x1f, min = 0x80;
	} else if ((u[0] & 0xf0) == 0xe0) {
		n = 3, c = u[0] & 0x0f, min = 0x800;
	} else if ((u[0] & 0xf8) == 0xf0) {
		n = 4, c = u[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((u[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (u[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* glibc's built-in C.UTF-8 (2.35+) classifies all of Unicode, whatever the
 * process's own locale; created once, read-only after. */
static locale_t utf8_locale;
static pthread_once_t utf8_once = PTHREAD_ONCE_INIT;
static void utf8_locale_init(void)
{
	utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t) 0);
}

/* A non-ASCII character a label may hold: a letter or digit that is not upper
 * or title case (Ll, Lo, N). `first`: a letter only. */
static bool intl_ok(uint32_t cp, bool first)
{
	pthread_once(&utf8_once, utf8_locale_init);
	if (!utf8_locale)
		return false;
	wint_t w = (wint_t) cp;
	if (iswupper_l(w, utf8_locale))
		return false;
	return first ? iswalpha_l(w, utf8_locale) : iswalnum_l(w, utf8_locale);
}

/* The label rules over UTF-8 text: 0..63 code points (at least 1 for a key,
 * whose first is a lowercase letter or an international letter). */
static bool label_valid(const char *s, size_t len, bool key)
{
	if (!s || len > CF_LABEL_BYTES_MAX || (key && len == 0))
		return false;
	size_t chars = 0;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = utf8_next(s + i, len - i, &cp);
		if (!n)
			return false;
		bool first = key && i == 0;
		if (cp < 0x80) {
			char c = (char) cp;
			if (first ? !(c >= 'a' && c <= 'z') : !label_char(c))
				return false;
		} else if (!intl_ok(cp, first)) {
			return false;
		}
		i += n;
		if (++chars > 63)
			return false;
	}
	return true;
}

bool cf_label_key_valid(const char *s, size_t len)
{
	return label_valid(s, len, true);
}

bool cf_label_value_valid(const char *s, size_t len)
{
	return label_valid(s, len, false);
}

bool cf_label_text_sane(const char *s, size_t len, bool key)
{
	if (!s || len > CF_LABEL_BYTES_MAX || (key && len == 0))
		return false;
	size_t chars = 0;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = utf8_next(s + i, len - i, &cp);
		if (!n || cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
			return false;
		i += n;
		if (++chars > 63)
			return false;
	}
	return true;
}

static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char) *s) * 16777619u;
	return h;
}

void cf_label_value_map(const char *in, char out[64])
{
	char buf[1024];
	size_t n = 0;
	bool gap = false;
	for (const char *p = in ? in : ""; *p && n < sizeof buf - 1; p++) {
		char c = *p;
		if (c >= 'A' && c <= 'Z')
			c = (char) (c - 'A' + 'a');
		if (label_char(c)) {
			if (gap && n > 0)
				buf[n++] = '-';
			gap = false;
			if (n < sizeof buf - 1)
				buf[n++] = c;
		} else {
			gap = true;
		}
	}
	buf[n] = '\0';
	if (n <= 63) {
		memcpy(out, buf, n + 1);
		return;
	}
	/* Too long: a prefix and a hash of the whole input keep it unique. */
	snprintf(out, 64, "%.54s-%08x", buf, fnv1a(in));
}
