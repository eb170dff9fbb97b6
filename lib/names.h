/* names.h — what the provider accepts as a resource name, a label key and a
 * label value, and the deterministic mapping of arbitrary text (a path, a
 * user name, a time) into a valid label value.
 *
 * GCE: names match [a-z]([-a-z0-9]{0,61}[a-z0-9])?; label keys
 * [a-z][a-z0-9_-]{0,62}; values [a-z0-9_-]{0,63}; at most 64 labels. The API
 * also allows lower-case international characters in labels; clonefs refuses
 * them (EINVAL) rather than guess at Unicode case tables: a refusal is
 * honest, a wrong guess would be a silent change. */
#ifndef CLONEFS_NAMES_H
#define CLONEFS_NAMES_H

#include <stdbool.h>
#include <stddef.h>

bool cf_gce_name_valid(const char *s, size_t len);
bool cf_label_key_valid(const char *s, size_t len);
bool cf_label_value_valid(const char *s, size_t len);

/* Map text into a valid label value: lower-case, every run of characters
 * outside [a-z0-9_-] becomes one '-', and text longer than 63 keeps its
 * first 54 characters plus '-' and 8 hex digits of a hash of the whole, so
 * different inputs stay different. out must hold 64 bytes. */
void cf_label_value_map(const char *in, char out[64]);

#endif
