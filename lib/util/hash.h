/* hash.h — the hashes clonefs uses: one fast 64-bit hash for the pathset's
 * slots and the fingerprint of a resource.json that lets a resync tell an
 * unchanged document without reading the stored one back; and FNV-1a, 32
 * bits, for the short suffixes that are persisted.
 *
 * Eight bytes per step (a multiply and a shift each), a finaliser so the low
 * bits are as good as the high ones (the pathset masks them). Not keyed and
 * not cryptographic: its inputs are our own cloud account's answers, and the
 * worst a collision can do is leave one cached resource.json a sync behind. */
#ifndef CLONEFS_HASH_H
#define CLONEFS_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t cf_hash64(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0x9e3779b97f4a7c15ull ^ ((uint64_t) len * 0xff51afd7ed558ccdull);
	uint64_t w;
	for (; len >= 8; p += 8, len -= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
		h ^= h >> 29;
	}
	w = 0;
	if (len)
		memcpy(&w, p, len);
	h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
	h ^= h >> 32;
	h *= 0x94d049bb133111ebull;
	h ^= h >> 29;
	return h;
}

/* FNV-1a, 32 bits, of a string: short, stable suffixes that are persisted
 * (cache directory names, mapped label values), so it never changes. */
static inline uint32_t cf_fnv1a32(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char) *s) * 16777619u;
	return h;
}

#endif
