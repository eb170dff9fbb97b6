/* u64set.c — the set of u64set.h. */
#include "u64set.h"

#include <errno.h>
#include <stdlib.h>

static size_t slot_of(uint64_t v, size_t cap)
{
	return (size_t) ((v * 0x9E3779B97F4A7C15ull) >> 17) & (cap - 1);
}

int cf_u64set_add(struct cf_u64set *s, uint64_t v)
{
	if ((s->n + 1) * 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		uint64_t *slot = calloc(cap, sizeof *slot);
		if (!slot)
			return -ENOMEM;
		for (size_t i = 0; i < s->cap; i++) {
			if (!s->slot[i])
				continue;
			size_t j = slot_of(s->slot[i], cap);
			while (slot[j])
				j = (j + 1) & (cap - 1);
			slot[j] = s->slot[i];
		}
		free(s->slot);
		s->slot = slot;
		s->cap = cap;
	}
	size_t j = slot_of(v, s->cap);
	while (s->slot[j]) {
		if (s->slot[j] == v)
			return 0;
		j = (j + 1) & (s->cap - 1);
	}
	s->slot[j] = v;
	s->n++;
	return 1;
}

void cf_u64set_free(struct cf_u64set *s)
{
	free(s->slot);
	s->slot = NULL;
	s->cap = s->n = 0;
}
