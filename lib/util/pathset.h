/* pathset.h — a set of paths (open addressing, one arena): what a listing
 * returned, so the sweep after it (cf_store_sweep) can tell what the cloud no
 * longer has. pathset.c says how it is laid out. */
#ifndef CLONEFS_PATHSET_H
#define CLONEFS_PATHSET_H

#include <stdbool.h>
#include <stddef.h>

struct cf_pathset;

struct cf_pathset *cf_pathset_new(void);
int cf_pathset_add(struct cf_pathset *ps, const char *path);
bool cf_pathset_has(const struct cf_pathset *ps, const char *path, size_t len);
size_t cf_pathset_count(const struct cf_pathset *ps);
void cf_pathset_free(struct cf_pathset *ps);

#endif
