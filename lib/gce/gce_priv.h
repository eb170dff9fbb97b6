/* gce_priv.h — what the two halves of the Compute Engine provider share:
 * gce_decode.c (the API's documents and URLs into the model) and gce.c (the
 * requests, operations and errors). Not for use outside the provider. */
#ifndef CLONEFS_GCE_PRIV_H
#define CLONEFS_GCE_PRIV_H

#include "model.h"
#include "provider.h"

#include <stdbool.h>
#include <stddef.h>

enum {
	GCE_URL_MAX = 4096,
	GCE_STATUS_MAX = 32,
	GCE_FINGERPRINT_MAX = 128,
};

/* A listing's path below projects/P/ ("global/snapshots", "aggregated/disks");
 * NULL for an unknown listing. */
const char *cf_gce_listing_url(enum cf_listing l);

/* "zones/Z" or "regions/R" with a valid GCE name, nothing more. */
bool cf_gce_scope_valid(const char *s);

/* The provider's status words as neutral states (provider.h's `state`). */
enum cf_state cf_gce_state(enum cf_kind kind, const char *status);

/* ---- untrusted text ---- */

bool cf_gce_printable(const char *s, size_t len);

/* A printable excerpt for a log line: at most 40 bytes, anything but
 * printable ASCII (and '"', '\\') shown as '?', the length when cut. */
void cf_gce_excerpt(const char *s, size_t len, char *out, size_t size);

/* Untrusted text into a fixed buffer as one printable line, cut at a UTF-8
 * character boundary. */
void cf_gce_one_line(char *dst, size_t size, const char *s, size_t len);

/* err zeroed, then status and a formatted message. */
void cf_gce_seterr(struct cf_error *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* s[0..len) as a new C string; NULL when out of memory. */
char *cf_gce_dup(const char *s, size_t len);

#endif
