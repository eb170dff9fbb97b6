/* pathset.c — the set of paths one listing returned, so the sweep after it
 * can tell what the cloud no longer has.
 *
 * Open addressing (linear probing) over an array of slots that hold a hash
 * and an offset into one arena of NUL-terminated strings: two allocations
 * that double as they fill, instead of one per path, because a listing of
 * 100,000 snapshots adds 100,000 paths. cf_hash64 (hash.h): no seed to
 * manage, the paths come from our own cloud account. */
#include "hash.h"
#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct slot {
	uint64_t hash;
	size_t off; /* into arena, plus one: 0 marks an empty slot */
};

struct cf_pathset {
	struct slot *slots;
	size_t cap; /* a power of two */
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
static struct slot *find(const struct cf_pathset *ps, const char *path, size_t len, uint64_t h)
{
	size_t mask = ps->cap - 1;
	for (size_t i = (size_t) h & mask;; i = (i + 1) & mask) {
		struct slot *s = &ps->slots[i];
		if (!s->off)
			return s;
		const char *p = ps->arena + s->off - 1;
		if (s->hash == h && !strncmp(p, path, len) && p[len] == '\0')
			return s;
	}
}

static int grow(struct cf_pathset *ps)
{
	size_t cap = ps->cap * 2;
	struct slot *slots = calloc(cap, sizeof *slots);
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < ps->cap; i++) {
		if (!ps->slots[i].off)
			continue;
		size_t j = (size_t) ps->slots[i].hash & (cap - 1);
		while (slots[j].off)
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
	uint64_t h = cf_hash64(path, len);
	struct slot *s = find(ps, path, len, h);
	if (s->off)
		return 0; /* already there */
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
	s->hash = h;
	s->off = ps->alen + 1;
	ps->alen += len + 1;
	ps->count++;
	return 0;
}

bool cf_pathset_has(const struct cf_pathset *ps, const char *path, size_t len)
{
	if (!ps || !path)
		return false;
	return find(ps, path, len, cf_hash64(path, len))->off != 0;
}
