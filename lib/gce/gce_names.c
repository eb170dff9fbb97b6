/* gce_names.c — what Compute Engine accepts as a resource name, a label key
 * and a label value (the provider's `text_valid`, and the checks gce.c and
 * gce_decode.c make before a request or on what the API sends).
 *
 * Names match [a-z]([-a-z0-9]{0,61}[a-z0-9])?. Labels (Compute Engine's
 * reference): keys and values hold lowercase letters, international ones
 * included, digits, '_' and '-', at most 63 characters (code points, not
 * bytes) each, in UTF-8; a key is not empty and starts with a lowercase letter
 * or an international character; at most 64 labels. The published pattern is
 * \p{Ll}\p{Lo}[\p{Ll}\p{Lo}\p{N}_-]{0,62} for keys and [\p{Ll}\p{Lo}\p{N}_-]{0,63}
 * for values. Outside ASCII, clonefs asks glibc's Unicode tables (the built-in
 * C.UTF-8 locale) and takes a letter or digit that is not upper (or title)
 * case; without that locale it refuses every non-ASCII character (a refusal is
 * honest, a guess is not). These rules apply to what a caller writes; labels
 * read from the API are the API's (cf_label_text_sane, names.h, only checks
 * that they are text). */
#include "gce.h"
#include "names.h"

#include <locale.h>
#include <pthread.h>
#include <stdint.h>
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

/* One character of a label: a lowercase letter first (ASCII or
 * international), then lowercase letters, digits, '_' and '-'. */
static bool label_char(uint32_t cp, bool first)
{
	if (cp >= 0x80)
		return intl_ok(cp, first);
	char c = (char) cp;
	return first ? (c >= 'a' && c <= 'z') : (lower_alnum(c) || c == '_' || c == '-');
}

/* Both over UTF-8 text of 0..63 code points (at least 1 for a key). */
bool cf_gce_label_key_valid(const char *s, size_t len)
{
	return cf_label_text_each(s, len, true, label_char);
}

bool cf_gce_label_value_valid(const char *s, size_t len)
{
	return cf_label_text_each(s, len, false, label_char);
}

bool cf_gce_text_valid(enum cf_text what, const char *s, size_t len, const char **rule)
{
	switch (what) {
	case CF_TEXT_NAME:
		if (rule)
			*rule =
			    "1-63 characters, lower-case letters, digits and '-', starting with "
			    "a letter, not ending with '-'";
		return cf_gce_name_valid(s, len);
	case CF_TEXT_LABEL_KEY:
		if (rule)
			*rule = "a lowercase letter first, then lowercase letters (international "
				"ones too), digits, _ and -, at most 63 characters";
		return cf_gce_label_key_valid(s, len); /* a NUL is no label character */
	case CF_TEXT_LABEL_VALUE:
		if (rule)
			*rule = "lowercase letters (international ones too), digits, _ and -, at "
				"most 63 characters";
		return cf_gce_label_value_valid(s, len);
	}
	return false;
}
