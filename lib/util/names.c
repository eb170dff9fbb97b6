/* names.c — label text as text: UTF-8, the sanity check and the label-value
 * mapping (names.h). The providers' own rules are theirs (GCE: gce_names.c). */
#include "names.h"
#include "hash.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static bool label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* One UTF-8 sequence at s (len > 0 bytes left): its code point and length, or
 * 0 when it is not the shortest encoding of a scalar value. */
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

bool cf_label_text_each(const char *s, size_t len, bool key, bool (*ok)(uint32_t cp, bool first))
{
	if (!s || len > CF_LABEL_BYTES_MAX || (key && len == 0))
		return false;
	size_t chars = 0;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = utf8_next(s + i, len - i, &cp);
		if (!n || !ok(cp, key && i == 0))
			return false;
		i += n;
		if (++chars > 63)
			return false;
	}
	return true;
}

/* No control character, C0 or C1. */
static bool printable(uint32_t cp, bool first)
{
	(void) first;
	return cp >= 0x20 && !(cp >= 0x7f && cp < 0xa0);
}

bool cf_label_text_sane(const char *s, size_t len, bool key)
{
	return cf_label_text_each(s, len, key, printable);
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
	snprintf(out, 64, "%.54s-%08x", buf, cf_fnv1a32(in));
}
