/* names.c — name and label rules of the provider, and label-value mapping.
 * See names.h for the rules and why international characters are refused. */
#include "names.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

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

bool cf_label_key_valid(const char *s, size_t len)
{
	if (!s || len == 0 || len > 63 || !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!label_char(s[i]))
			return false;
	return true;
}

bool cf_label_value_valid(const char *s, size_t len)
{
	if (!s || len > 63)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!label_char(s[i]))
			return false;
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
