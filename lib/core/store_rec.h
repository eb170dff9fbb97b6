/* store_rec.h — a resource record as the store keeps it (table res), and
 * the buffers and string views its encoding uses. Pure: no LMDB here, so the
 * codec (store_rec.c) can be fuzzed and tested alone. Private to lib/store*.c. */
#ifndef CLONEFS_STORE_REC_H
#define CLONEFS_STORE_REC_H

#include "model.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A string view into LMDB memory or a record buffer (not NUL-terminated). */
struct sv {
	const char *p;
	size_t n;
};

static inline bool sv_eq(struct sv a, struct sv b)
{
	return a.n == b.n && (a.n == 0 || !memcmp(a.p, b.p, a.n));
}

struct buf {
	unsigned char *p;
	size_t len, cap;
};

static inline int buf_reserve(struct buf *b, size_t more)
{
	if (b->len + more <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + more)
		cap *= 2;
	unsigned char *p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static inline int buf_add(struct buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n))
		return -ENOMEM;
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

/* A resource record (table res), little-endian as written by this host:
 *   u8 version, u8 kind, i64 created, u32 created_ns, u64 size, u64 stored,
 *   u64 raw_hash, u64 doc_ref, u32 doc_len (resource.json: its hash, where
 *   it is and its length), 9 strings (u16 length + bytes): scope name id
 *   status fingerprint source source_id origin name_pref (name is the entry
 *   name shown, name_pref the one preferred), where id and source_id, when
 *   they are canonical decimal numbers (as Compute Engine's are), are
 *   NUM_STR and a u64 (9 bytes instead of 21); u16 nlinks + (u16 length + bytes) each, sorted by
 * the link's last component; u16 nlabels, u32 length + "key\0value\0..." sorted by key. Sorting
 * makes the encoding canonical, so "unchanged" is one memcmp. */
struct rec {
	uint8_t kind;
	int64_t created;
	uint32_t created_ns;
	uint64_t size, stored;
	uint64_t raw_hash; /* cf_hash64 of resource.json, 0 when there is none */
	uint64_t doc_ref;  /* where it is (DOC_FILE, DOC_OFF) */
	uint32_t doc_len;
	struct sv scope, name, id, status, fingerprint, source, source_id, origin, name_pref;
	/* id and source_id stored as numbers: their values, formatted only by
	 * rec_to_resource (a label or stat lookup never needs them). */
	bool isnum[2];
	uint64_t numv[2];
	unsigned nlinks;
	const unsigned char *links; /* validated: nlinks x (u16 len, bytes) */
	unsigned nlabels;
	struct sv labels; /* "key\0value\0..." */
};

/* Where a record's doc_ref is: after version, kind, created, created_ns,
 * size, stored and raw_hash. */
enum { REC_DOC_REF = 1 + 1 + 8 + 4 + 8 + 8 + 8 };

/* The next link of a decoded record (links were validated by rec_decode). */
static inline struct sv link_next(const unsigned char **p)
{
	uint16_t n;
	memcpy(&n, *p, 2);
	struct sv s = {(const char *) *p + 2, n};
	*p += 2 + (size_t) n;
	return s;
}

/* Decode (and validate) a record; -EIO with a log line when it is damaged. */
int store_rec_decode(const void *data, size_t size, struct rec *out);

/* Encode r into b; *nlinks and *protect (r carries the label protect_key) describe what
 * was kept. The document's place (doc_ref, at REC_DOC_REF) is left 0 for the caller. */
int store_rec_encode(struct buf *b, const struct cf_resource *r, const char *protect_key,
		     unsigned *nlinks, bool *protect);

/* The record's id as a string (formatted into num when stored as a number). */
struct sv store_rec_id(const struct rec *c, char num[24]);

/* Decode a record into a heap cf_resource (raw left NULL). */
int store_rec_to_resource(const struct rec *c, struct cf_resource *out);

/* Whether a record's label blob ("key\0value\0...", n labels) holds key. */
bool store_blob_has_key(struct sv labels, unsigned n, const char *key);

#endif
