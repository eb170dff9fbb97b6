/* names.h — what the provider accepts as a resource name, a label key and a
 * label value, and the deterministic mapping of arbitrary text (a path, a
 * user name, a time) into a valid label value.
 *
 * GCE: names match [a-z]([-a-z0-9]{0,61}[a-z0-9])?. Labels (Compute Engine's
 * reference): keys and values hold lowercase letters, international ones
 * included, digits, '_' and '-', at most 63 characters (code points, not
 * bytes) each, in UTF-8; a key is not empty and starts with a lowercase letter
 * or an international character; at most 64 labels. The published pattern is
 * \p{Ll}\p{Lo}[\p{Ll}\p{Lo}\p{N}_-]{0,62} for keys and [\p{Ll}\p{Lo}\p{N}_-]{0,63}
 * for values. Outside ASCII, clonefs asks glibc's Unicode tables (the built-in
 * C.UTF-8 locale) and takes a letter or digit that is not upper (or title)
 * case; without that locale it refuses every non-ASCII character (a refusal is
 * honest, a guess is not). These rules apply to what a caller writes; labels
 * read from the API are the API's (cf_label_text_sane only checks that they
 * are text). */
#ifndef CLONEFS_NAMES_H
#define CLONEFS_NAMES_H

#include <stdbool.h>
#include <stddef.h>

bool cf_gce_name_valid(const char *s, size_t len);
bool cf_label_key_valid(const char *s, size_t len);
bool cf_label_value_valid(const char *s, size_t len);

/* A label key or value as text, whoever wrote it: valid UTF-8, at most 63 code
 * points, no control character (and a key not empty). What clonefs sends back
 * unchanged of a resource's labels is checked with this, not with the rules
 * above: only what the caller changes is judged by them. */
bool cf_label_text_sane(const char *s, size_t len, bool key);

/* The most bytes a valid label key or value can take: 63 code points of at most
 * 4 bytes each. */
enum { CF_LABEL_BYTES_MAX = 63 * 4 };

/* Map text into a valid label value: lower-case, every run of characters
 * outside [a-z0-9_-] becomes one '-', and text longer than 63 keeps its
 * first 54 characters plus '-' and 8 hex digits of a hash of the whole, so
 * different inputs stay different. out must hold 64 bytes. */
void cf_label_value_map(const char *in, char out[64]);

#endif
