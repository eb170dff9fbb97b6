/* u64set.h — a set of non-zero 64-bit values (inode numbers, bases): open
 * addressing over one array that doubles as it fills. A write transaction
 * uses it for the inodes it already reported and the containers to
 * recompute; the notify thread for the inodes a batch already invalidated. */
#ifndef CLONEFS_U64SET_H
#define CLONEFS_U64SET_H

#include <stddef.h>
#include <stdint.h>

/* Zero-initialised is empty. A slot holding 0 is free: iterate with
 *	for (size_t i = 0; i < s.cap; i++) if (s.slot[i]) use(s.slot[i]); */
struct cf_u64set {
	uint64_t *slot;
	size_t cap, n;
};

/* 1 when v (non-zero) was added, 0 when it was there, -ENOMEM. */
int cf_u64set_add(struct cf_u64set *s, uint64_t v);

/* Free the slots; the set is empty again. */
void cf_u64set_free(struct cf_u64set *s);

#endif
