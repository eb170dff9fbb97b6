/* pathset.c — the set of paths one listing returned, so the sweep after it
 * can tell what the cloud no longer has.
 *
 * Open addressing (linear probing) over an array of 32-bit offsets into one
 * arena of NUL-terminated strings: two allocations that double as they fill,
 * instead of one per path, because a listing of 100,000 snapshots adds
 * 100,000 paths. A slot holds no hash, only the offset: a probe compares the
 * string (at a load under 1/2, about 1.5 probes), and growing rehashes the
 * arena. At 100,000 paths that is 1 MB of slots and 3 MB of arena, where
 * slots of a 64-bit hash and a 64-bit offset took 4 MB more of the daemon's
 * memory during a first sync. cf_hash64 (hash.h): no seed to manage, the
 * paths come from our own cloud account. */
#include "hash.h"
#include "store.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct cf_pathset {
	uint32_t *slots; /* offset into arena plus one; 0 marks an empty slot */
	size_t cap;	 /* a power of two */
	size_t count;
	char *arena;
	size_t alen, acap;
};

struct cf_pathset *cf_pathset_new(void)
{
	struct cf_pathset *ps = calloc(1, sizeof *ps);
	if (!ps)
		return NULL;
	ps->cap = 256;
	ps->slots = calloc(ps->cap, sizeof *ps->slots);
	if (!ps->slots) {
		free(ps);
		return NULL;
	}
	return ps;
}

void cf_pathset_free(struct cf_pathset *ps)
{
	if (!ps)
		return;
	free(ps->slots);
	free(ps->arena);
	free(ps);
}

size_t cf_pathset_count(const struct cf_pathset *ps)
{
	return ps ? ps->count : 0;
}

/* The slot holding path, or the empty slot where it would go. */
static uint32_t *find(const struct cf_pathset *ps, const char *path, size_t len)
{
	size_t mask = ps->cap - 1;
	for (size_t i = (size_t) cf_hash64(path, len) & mask;; i = (i + 1) & mask) {
		uint32_t *s = &ps->slots[i];
		if (!*s)
			return s;
		const char *p = ps->arena + *s - 1;
		if (!strncmp(p, path, len) && p[len] == '\0')
			return s;
	}
}

static int grow(struct cf_pathset *ps)
{
	size_t cap = ps->cap * 2;
	uint32_t *slots = calloc(cap, sizeof *slots);
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < ps->cap; i++) {
		if (!ps->slots[i])
			continue;
		const char *p = ps->arena + ps->slots[i] - 1;
		size_t j = (size_t) cf_hash64(p, strlen(p)) & (cap - 1);
		while (slots[j])
			j = (j + 1) & (cap - 1);
		slots[j] = ps->slots[i];
	}
	free(ps->slots);
	ps->slots = slots;
	ps->cap = cap;
	return 0;
}

int cf_pathset_add(struct cf_pathset *ps, const char *path)
{
	if (!ps || !path)
		return -EINVAL;
	size_t len = strlen(path);
	/* Keep the load under 1/2 so probes stay short. */
	if ((ps->count + 1) * 2 > ps->cap && grow(ps))
		return -ENOMEM;
	uint32_t *s = find(ps, path, len);
	if (*s)
		return 0; /* already there */
	if (ps->alen + len + 1 >= UINT32_MAX)
		return -ENOMEM; /* offsets are 32-bit: 4 GiB of paths */
	if (ps->alen + len + 1 > ps->acap) {
		size_t acap = ps->acap ? ps->acap : 4096;
		while (acap < ps->alen + len + 1)
			acap *= 2;
		char *a = realloc(ps->arena, acap);
		if (!a)
			return -ENOMEM;
		ps->arena = a;
		ps->acap = acap;
	}
	memcpy(ps->arena + ps->alen, path, len + 1);
	*s = (uint32_t) ps->alen + 1;
	ps->alen += len + 1;
	ps->count++;
	return 0;
}

bool cf_pathset_has(const struct cf_pathset *ps, const char *path, size_t len)
{
	if (!ps || !path)
		return false;
	return *find(ps, path, len) != 0;
}
