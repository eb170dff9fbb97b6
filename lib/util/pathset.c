/* pathset.c — the set of paths one listing returned, so the sweep after it
 * can tell what the cloud no longer has.
 *
 * Open addressing (linear probing) over an array of 32-bit offsets into one
 * arena, instead of one allocation per path, because a listing of a million
 * snapshots adds a million paths. A path is split at its last '/': the
 * directory part ("global/snapshots", "zones/Z/disks"; a listing has a few)
 * is interned once, and the arena holds a 16-bit directory number and the
 * NUL-terminated last name. A slot holds no hash, only the offset: a probe
 * compares the entry (at a load under 1/2, about 1.5 probes), and growing
 * rehashes the arena. At a million snapshots that is 8 MB of slots and 14 MB
 * of arena, where whole paths took 28 MB of arena during a first sync.
 * cf_hash64 (hash.h): no seed to manage, the paths come from our own cloud
 * account. */
#include "pathset.h"
#include "hash.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { DIRS_MAX = UINT16_MAX };

struct cf_pathset {
	uint32_t *slots; /* offset into arena plus one; 0 marks an empty slot */
	size_t cap;	 /* a power of two */
	size_t count;
	char *arena; /* per path: u16 directory number, last name, NUL */
	size_t alen, acap;
	char **dirs; /* interned directory parts */
	uint64_t *dir_hash;
	size_t ndirs, dirs_cap;
	size_t last_dir; /* the directory of the last add: most adds repeat it */
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
	for (size_t i = 0; i < ps->ndirs; i++)
		free(ps->dirs[i]);
	free(ps->dirs);
	free(ps->dir_hash);
	free(ps->slots);
	free(ps->arena);
	free(ps);
}

size_t cf_pathset_count(const struct cf_pathset *ps)
{
	return ps ? ps->count : 0;
}

/* path split after its last '/': the directory part with its slash ("" when
 * there is none, so that "/a" and "a" stay apart) and the name. */
static void split(const char *path, size_t len, size_t *dlen, const char **name, size_t *nlen)
{
	const char *slash = memrchr(path, '/', len);
	*dlen = slash ? (size_t) (slash - path) + 1 : 0;
	*name = slash ? slash + 1 : path;
	*nlen = len - (size_t) (*name - path);
}

/* The number of directory part d, or ps->ndirs when it has none. */
static size_t dir_find(const struct cf_pathset *ps, const char *d, size_t dlen, size_t hint)
{
	if (hint < ps->ndirs && !strncmp(ps->dirs[hint], d, dlen) && ps->dirs[hint][dlen] == '\0')
		return hint;
	for (size_t i = 0; i < ps->ndirs; i++)
		if (!strncmp(ps->dirs[i], d, dlen) && ps->dirs[i][dlen] == '\0')
			return i;
	return ps->ndirs;
}

static uint64_t entry_hash(const struct cf_pathset *ps, size_t dir, const char *name, size_t nlen)
{
	return cf_hash64(name, nlen) ^ ps->dir_hash[dir];
}

/* The slot holding (dir, name), or the empty slot where it would go. */
static uint32_t *find(const struct cf_pathset *ps, size_t dir, const char *name, size_t nlen)
{
	size_t mask = ps->cap - 1;
	for (size_t i = (size_t) entry_hash(ps, dir, name, nlen) & mask;; i = (i + 1) & mask) {
		uint32_t *s = &ps->slots[i];
		if (!*s)
			return s;
		const char *p = ps->arena + *s - 1;
		uint16_t d;
		memcpy(&d, p, 2);
		if (d == dir && !strncmp(p + 2, name, nlen) && p[2 + nlen] == '\0')
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
		uint16_t d;
		memcpy(&d, p, 2);
		size_t j = (size_t) entry_hash(ps, d, p + 2, strlen(p + 2)) & (cap - 1);
		while (slots[j])
			j = (j + 1) & (cap - 1);
		slots[j] = ps->slots[i];
	}
	free(ps->slots);
	ps->slots = slots;
	ps->cap = cap;
	return 0;
}

static int dir_add(struct cf_pathset *ps, const char *d, size_t dlen, size_t *out)
{
	if (ps->ndirs == DIRS_MAX)
		return -ENOMEM; /* 65,535 directories in one listing */
	if (ps->ndirs == ps->dirs_cap) {
		size_t cap = ps->dirs_cap ? ps->dirs_cap * 2 : 8;
		char **dirs = realloc(ps->dirs, cap * sizeof *dirs);
		if (!dirs)
			return -ENOMEM;
		ps->dirs = dirs;
		uint64_t *h = realloc(ps->dir_hash, cap * sizeof *h);
		if (!h)
			return -ENOMEM;
		ps->dir_hash = h;
		ps->dirs_cap = cap;
	}
	char *copy = strndup(d, dlen);
	if (!copy)
		return -ENOMEM;
	ps->dirs[ps->ndirs] = copy;
	/* Spread: the name's hash is xor-ed with it. */
	ps->dir_hash[ps->ndirs] = cf_hash64(d, dlen) * UINT64_C(0x9e3779b97f4a7c15);
	*out = ps->ndirs++;
	return 0;
}

int cf_pathset_add(struct cf_pathset *ps, const char *path)
{
	if (!ps || !path)
		return -EINVAL;
	size_t len = strlen(path), dlen, nlen;
	const char *name;
	split(path, len, &dlen, &name, &nlen);
	size_t dir = dir_find(ps, path, dlen, ps->last_dir);
	if (dir == ps->ndirs && dir_add(ps, path, dlen, &dir))
		return -ENOMEM;
	ps->last_dir = dir;
	/* Keep the load under 1/2 so probes stay short. */
	if ((ps->count + 1) * 2 > ps->cap && grow(ps))
		return -ENOMEM;
	uint32_t *s = find(ps, dir, name, nlen);
	if (*s)
		return 0; /* already there */
	size_t need = 2 + nlen + 1;
	if (ps->alen + need >= UINT32_MAX)
		return -ENOMEM; /* offsets are 32-bit: 4 GiB of names */
	if (ps->alen + need > ps->acap) {
		size_t acap = ps->acap ? ps->acap : 4096;
		while (acap < ps->alen + need)
			acap *= 2;
		char *a = realloc(ps->arena, acap);
		if (!a)
			return -ENOMEM;
		ps->arena = a;
		ps->acap = acap;
	}
	uint16_t d = (uint16_t) dir;
	memcpy(ps->arena + ps->alen, &d, 2);
	memcpy(ps->arena + ps->alen + 2, name, nlen);
	ps->arena[ps->alen + 2 + nlen] = '\0';
	*s = (uint32_t) ps->alen + 1;
	ps->alen += need;
	ps->count++;
	return 0;
}

bool cf_pathset_has(const struct cf_pathset *ps, const char *path, size_t len)
{
	if (!ps || !path || memchr(path, '\0', len))
		return false; /* no stored name holds a NUL */
	size_t dlen, nlen;
	const char *name;
	split(path, len, &dlen, &name, &nlen);
	size_t dir = dir_find(ps, path, dlen, ps->last_dir);
	return dir < ps->ndirs && *find(ps, dir, name, nlen) != 0;
}
