/* names.h — label text as text, whoever's rules judge it: the UTF-8 reading
 * the providers' rules are built on, the sanity check for labels a caller
 * sends back unchanged or reads from the API, and the deterministic mapping of
 * arbitrary text (a path, a user name, a time) into a label value.
 *
 * What a provider accepts as a name, a label key and a label value is the
 * provider's own rule (provider.h's `text_valid`; GCE's are in
 * gce_names.c). */
#ifndef CLONEFS_NAMES_H
#define CLONEFS_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Label text walked a character at a time, the shape of the label rules so
 * far (the sane text below, GCE's): valid UTF-8 (shortest forms, scalar
 * values), at most 63 code points (so at most CF_LABEL_BYTES_MAX bytes), a key
 * not empty, and ok(cp, first) true for every code point (first: a key's
 * first). */
bool cf_label_text_each(const char *s, size_t len, bool key, bool (*ok)(uint32_t cp, bool first));

/* A label key or value as text, whoever wrote it: valid UTF-8, at most 63 code
 * points, no control character (and a key not empty). What clonefs sends back
 * unchanged of a resource's labels is checked with this, not with the
 * provider's rules: only what the caller changes is judged by them. */
bool cf_label_text_sane(const char *s, size_t len, bool key);

/* The most bytes a sane label key or value can take: 63 code points of at most
 * 4 bytes each. */
enum { CF_LABEL_BYTES_MAX = 63 * 4 };

/* Map text into a label value of the narrowest kind: lower-case, every run of
 * characters outside [a-z0-9_-] becomes one '-', and text longer than 63 keeps
 * its first 54 characters plus '-' and 8 hex digits of a hash of the whole, so
 * different inputs stay different. The result, [a-z0-9_-]{0,63}, is a value
 * the providers' rules accept (GCE's, the strictest so far, included). out
 * must hold 64 bytes. */
void cf_label_value_map(const char *in, char out[64]);

#endif
